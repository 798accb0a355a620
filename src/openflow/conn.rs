//! Framing of the byte stream into messages, and the connection
//! handshake: HELLO with a version bitmap (OpenFlow 1.5 required), then
//! FEATURES for the datapath id.
//!
//! Owns the first two exchanges of a connection; never keeps a connection
//! open after a failed handshake, and never trusts a length field beyond
//! the bytes received.

use super::error::{Malformed, OfError};
use crate::dial::addr::{Addr, Reader, Writer};
use bytes::{Bytes, BytesMut};
use podflow_proto::openflow::message::{frame_len, Header, Message, HEADER_LEN};
use podflow_proto::openflow::multipart::{types as mp_types, MultipartReply};
use podflow_proto::openflow::switch::{FeaturesReply, Hello};
use podflow_proto::openflow::OFP_VERSION;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One framed message.
#[derive(Debug)]
pub(crate) enum Frame {
    /// Decoded, with its header's version byte.
    Msg { xid: u32, version: u8, msg: Message },
    /// Framed correctly but the body did not decode.
    Undecodable { xid: u32, why: Malformed },
}

/// Takes the next complete message off `buf`. `Err` means the stream
/// cannot be framed any further (a length below 8).
pub(crate) fn next_frame(buf: &mut BytesMut) -> Result<Option<Frame>, OfError> {
    next_bytes(buf)?.map(|b| decode_frame(&b)).transpose()
}

/// Takes the bytes of the next complete message off `buf`, undecoded.
pub(crate) fn next_bytes(buf: &mut BytesMut) -> Result<Option<Bytes>, OfError> {
    Ok(next_len(buf)?.map(|len| buf.split_to(len).freeze()))
}

/// The length of the next complete message at the front of `buf`.
pub(crate) fn next_len(buf: &[u8]) -> Result<Option<usize>, OfError> {
    frame_len(buf).map_err(|e| OfError::Malformed(Malformed::decode("cannot frame the stream", e)))
}

/// Decodes one framed message; `Err` only for a header that cannot be
/// read, which framing rules out.
pub(crate) fn decode_frame(bytes: &[u8]) -> Result<Frame, OfError> {
    let h = Header::decode(bytes).map_err(|e| OfError::Malformed(Malformed::decode("message header", e)))?;
    Ok(match Message::decode(bytes) {
        Ok((xid, msg)) => Frame::Msg { xid, version: h.version, msg },
        Err(e) => Frame::Undecodable { xid: h.xid, why: undecodable(h.msg_type, bytes.len(), h.xid, e) },
    })
}

/// Why a framed message of this type, length and xid is malformed.
fn undecodable(msg_type: u8, len: usize, xid: u32, e: podflow_proto::DecodeError) -> Malformed {
    Malformed::decode(format!("message type {msg_type} ({len} bytes, xid {xid})"), e)
}

/// One MULTIPART_REPLY message of a streamed request, framed but not
/// decoded: the session only reads its flags, so that its reader keeps up
/// with the switch while the consumer decodes parts on threads of its own.
#[derive(Debug, Clone)]
pub struct RawPart {
    bytes: Bytes,
}

/// `ofp_header.type` of MULTIPART_REPLY.
const MULTIPART_REPLY: u8 = 19;
/// `ofp_header`, then the reply's type, flags and 4 bytes of padding.
const MULTIPART_HEADER_LEN: usize = 16;

impl RawPart {
    /// A part holding a copy of the framed message `b`, if it is a
    /// MULTIPART_REPLY long enough to carry its flags (a shorter one is
    /// left to the decoder, which reports it).
    pub(crate) fn copy_of(b: &[u8]) -> Option<RawPart> {
        (b.len() >= MULTIPART_HEADER_LEN && b[1] == MULTIPART_REPLY).then(|| RawPart { bytes: Bytes::copy_from_slice(b) })
    }

    /// xid of a framed message (8 bytes at least).
    pub(crate) fn xid_of(bytes: &[u8]) -> u32 {
        u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]])
    }

    /// The reply's flags (`OFPMPF_REPLY_MORE` = 1).
    pub fn flags(&self) -> u16 {
        u16::from_be_bytes([self.bytes[10], self.bytes[11]])
    }

    /// More parts follow this one.
    pub fn more(&self) -> bool {
        self.flags() & 1 != 0
    }

    /// The whole message, header included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Decodes the part; a body that does not decode is malformed input.
    pub fn decode(&self) -> Result<MultipartReply, OfError> {
        match decode_frame(&self.bytes)? {
            Frame::Msg { msg: Message::MultipartReply(r), .. } => Ok(r),
            Frame::Msg { msg, .. } => Err(OfError::protocol(format!("a multipart reply part decoded as {}", msg.name()))),
            Frame::Undecodable { why, .. } => Err(OfError::Malformed(why)),
        }
    }

    /// The flow entries of an OpenFlow 1.5 FLOW_DESC reply (its body after
    /// the multipart header), for a printer that decodes them itself;
    /// `None` for any other part, which [`RawPart::decode`] describes.
    pub fn flow_descs(&self) -> Option<&[u8]> {
        let b = &self.bytes;
        (b[0] == OFP_VERSION && u16::from_be_bytes([b[8], b[9]]) == mp_types::FLOW_DESC).then(|| &b[MULTIPART_HEADER_LEN..])
    }

    /// The error for this part's body failing to decode with `e`, as
    /// [`RawPart::decode`] reports it.
    pub fn malformed(&self, e: podflow_proto::DecodeError) -> OfError {
        let b = &self.bytes;
        OfError::Malformed(undecodable(b[1], b.len(), Self::xid_of(b), e))
    }
}

/// The error for an end of stream with `buf` left over.
pub(crate) fn eof_error(buf: &BytesMut) -> OfError {
    if buf.is_empty() {
        OfError::Disconnected("the switch closed the connection".into())
    } else if buf.len() < HEADER_LEN {
        OfError::Disconnected(format!("the switch closed the connection after {} bytes of a message header", buf.len()))
    } else {
        let want = u16::from_be_bytes([buf[2], buf[3]]);
        OfError::Disconnected(format!("the switch closed the connection in the middle of a message ({} of {want} bytes)", buf.len()))
    }
}

fn versions(h: &Hello, header_version: u8) -> String {
    let names: Vec<String> = (1..=31u8)
        .filter(|v| h.supports(*v, header_version) && (h.version_bitmap.is_some() || *v == header_version))
        .map(|v| format!("OpenFlow1{}", v - 1))
        .collect();
    if names.is_empty() {
        "no version".into()
    } else {
        names.join(",")
    }
}

async fn read_frame(r: &mut Reader, buf: &mut BytesMut) -> Result<Frame, OfError> {
    loop {
        if let Some(f) = next_frame(buf)? {
            return Ok(f);
        }
        buf.reserve(4096);
        match r.read_buf(buf).await {
            Ok(0) => return Err(eof_error(buf)),
            Ok(_) => {}
            Err(e) => return Err(OfError::Disconnected(format!("read failed: {e}"))),
        }
    }
}

async fn write_msg(w: &mut Writer, xid: u32, msg: &Message) -> Result<(), OfError> {
    let b = msg.encode(xid).map_err(|e| OfError::Caller(e.to_string()))?;
    w.write_all(&b).await.map_err(|e| OfError::Disconnected(format!("write failed: {e}")))
}

/// Runs HELLO and FEATURES on a fresh stream. Leftover bytes stay in `buf`
/// for the session's reader.
pub(crate) async fn handshake(
    addr: &Addr,
    r: &mut Reader,
    w: &mut Writer,
    buf: &mut BytesMut,
    timeout: Duration,
) -> Result<FeaturesReply, OfError> {
    let fut = async {
        write_msg(w, 1, &Message::Hello(Hello::of15())).await?;
        // The switch's HELLO comes first; anything else before it is a
        // protocol error.
        match read_frame(r, buf).await? {
            Frame::Msg { msg: Message::Hello(h), version, .. } => {
                if !h.supports(OFP_VERSION, version) {
                    return Err(OfError::Version { addr: addr.to_string(), bridge: addr.bridge_hint(), offered: versions(&h, version) });
                }
            }
            Frame::Msg { msg: Message::Error(error), .. } => return Err(OfError::Refused { request: "HELLO", error }),
            Frame::Msg { msg, .. } => return Err(OfError::protocol(format!("expected HELLO, got {}", msg.name()))),
            Frame::Undecodable { mut why, .. } => {
                why.context = format!("bad HELLO: {}", why.context);
                return Err(OfError::Malformed(why));
            }
        }
        write_msg(w, 2, &Message::FeaturesRequest).await?;
        loop {
            match read_frame(r, buf).await? {
                Frame::Msg { xid: 2, msg: Message::FeaturesReply(f), .. } => return Ok(f),
                Frame::Msg { xid, msg: Message::EchoRequest(d), .. } => write_msg(w, xid, &Message::EchoReply(d)).await?,
                Frame::Msg { msg: Message::Error(error), .. } => return Err(OfError::Refused { request: "FEATURES_REQUEST", error }),
                Frame::Msg { xid: 2, msg, .. } => return Err(OfError::protocol(format!("expected FEATURES_REPLY, got {}", msg.name()))),
                Frame::Msg { xid, msg, .. } => tracing::debug!(xid, msg = msg.name(), "ignored during handshake"),
                Frame::Undecodable { why, .. } => return Err(OfError::Malformed(why)),
            }
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(OfError::Timeout { what: "the handshake (HELLO, FEATURES_REQUEST)", after: timeout }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_rejects_short_lengths_and_keeps_partial_frames() {
        let mut b = BytesMut::from(&[6u8, 0, 0, 7, 0, 0, 0, 1][..]);
        assert!(matches!(next_frame(&mut b), Err(OfError::Malformed(_))));
        let mut b = BytesMut::from(&[6u8, 2, 0, 12, 0, 0, 0, 1, 9][..]);
        assert!(next_frame(&mut b).unwrap().is_none());
        assert!(eof_error(&b).to_string().contains("9 of 12 bytes"));
        b.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(next_frame(&mut b).unwrap(), Some(Frame::Msg { xid: 1, msg: Message::EchoRequest(_), .. })));
        // FEATURES_REPLY with a body too short: framed, not decodable.
        let mut b = BytesMut::from(&[6u8, 6, 0, 12, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef][..]);
        assert!(matches!(next_frame(&mut b).unwrap(), Some(Frame::Undecodable { xid: 3, .. })));
    }

    /// Only a MULTIPART_REPLY long enough for its flags is a raw part; one
    /// whose body does not decode fails as malformed input when decoded,
    /// naming the message.
    #[test]
    fn raw_parts_are_multipart_replies_and_decode_on_demand() {
        use podflow_proto::openflow::multipart::MultipartReplyBody;
        let reply = MultipartReply { flags: 1, body: MultipartReplyBody::FlowDesc(vec![Default::default()]) };
        let bytes = Message::MultipartReply(reply.clone()).encode(7).unwrap();
        let part = RawPart::copy_of(&bytes).unwrap();
        assert_eq!((RawPart::xid_of(part.as_bytes()), part.flags(), part.more()), (7, 1, true));
        assert_eq!(part.decode().unwrap(), reply);
        let echo = Message::EchoRequest(vec![0; 12]).encode(3).unwrap();
        assert!(RawPart::copy_of(&echo).is_none());
        assert!(RawPart::copy_of(&[6, 19, 0, 12, 0, 0, 0, 3, 0, 1, 0, 0]).is_none());
        // A FLOW_DESC reply whose one entry claims 4 bytes.
        let bad = RawPart::copy_of(&[6, 19, 0, 24, 0, 0, 0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0]).unwrap();
        let e = bad.decode().unwrap_err();
        assert!(matches!(e, OfError::Malformed(_)) && e.to_string().contains("xid 5"), "{e}");
    }

    #[test]
    fn version_list() {
        let h = Hello { version_bitmap: Some(vec![(1 << 1) | (1 << 4)]), other: vec![] };
        assert_eq!(versions(&h, 4), "OpenFlow10,OpenFlow13");
    }
}
