//! The OpenFlow header, the [`Message`] enum and stream framing.

use super::bundle::{BundleAdd, BundleControl};
use super::error::ErrorMsg;
use super::flow::{FlowMod, FlowRemoved};
use super::group::GroupMod;
use super::meter::MeterMod;
use super::multipart::{MultipartReply, MultipartRequest};
use super::packet::{PacketIn, PacketOut};
use super::port::{PortMod, PortStatus};
use super::switch::{FeaturesReply, Hello, SwitchConfig};
use super::OFP_VERSION;
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;
use bytes::{BufMut, BytesMut};

/// Length of `ofp_header`.
pub const HEADER_LEN: usize = 8;

/// `ofp_type` numbers (OpenFlow 1.5).
pub mod types {
    pub const HELLO: u8 = 0;
    pub const ERROR: u8 = 1;
    pub const ECHO_REQUEST: u8 = 2;
    pub const ECHO_REPLY: u8 = 3;
    pub const EXPERIMENTER: u8 = 4;
    pub const FEATURES_REQUEST: u8 = 5;
    pub const FEATURES_REPLY: u8 = 6;
    pub const GET_CONFIG_REQUEST: u8 = 7;
    pub const GET_CONFIG_REPLY: u8 = 8;
    pub const SET_CONFIG: u8 = 9;
    pub const PACKET_IN: u8 = 10;
    pub const FLOW_REMOVED: u8 = 11;
    pub const PORT_STATUS: u8 = 12;
    pub const PACKET_OUT: u8 = 13;
    pub const FLOW_MOD: u8 = 14;
    pub const GROUP_MOD: u8 = 15;
    pub const PORT_MOD: u8 = 16;
    pub const TABLE_MOD: u8 = 17;
    pub const MULTIPART_REQUEST: u8 = 18;
    pub const MULTIPART_REPLY: u8 = 19;
    pub const BARRIER_REQUEST: u8 = 20;
    pub const BARRIER_REPLY: u8 = 21;
    pub const METER_MOD: u8 = 29;
    pub const BUNDLE_CONTROL: u8 = 33;
    pub const BUNDLE_ADD_MESSAGE: u8 = 34;
}

/// `ofp_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub version: u8,
    pub msg_type: u8,
    pub length: u16,
    pub xid: u32,
}

impl Header {
    pub fn decode(buf: &[u8]) -> Result<Header, DecodeError> {
        let mut r = Reader::new(buf);
        let h = Header {
            version: r.u8("OpenFlow header")?,
            msg_type: r.u8("OpenFlow header")?,
            length: r.u16("OpenFlow header")?,
            xid: r.u32("OpenFlow header")?,
        };
        if (h.length as usize) < HEADER_LEN {
            return Err(DecodeError::BadLength { what: "OpenFlow message", len: h.length as usize, why: "shorter than its 8-byte header" });
        }
        Ok(h)
    }
}

/// If `buf` starts with a complete message, its length; `Ok(None)` if more
/// bytes are needed. Fails on a length below the header size (a peer that
/// sends that cannot be framed any further).
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let h = Header::decode(buf)?;
    let len = h.length as usize;
    Ok((buf.len() >= len).then_some(len))
}

/// An OpenFlow 1.5 message, without its xid.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Message {
    Hello(Hello),
    Error(ErrorMsg),
    EchoRequest(Vec<u8>),
    EchoReply(Vec<u8>),
    Experimenter { experimenter: u32, exp_type: u32, data: Vec<u8> },
    FeaturesRequest,
    FeaturesReply(FeaturesReply),
    GetConfigRequest,
    GetConfigReply(SwitchConfig),
    SetConfig(SwitchConfig),
    PacketIn(PacketIn),
    FlowRemoved(FlowRemoved),
    PortStatus(PortStatus),
    PacketOut(PacketOut),
    FlowMod(FlowMod),
    GroupMod(GroupMod),
    PortMod(PortMod),
    MeterMod(MeterMod),
    MultipartRequest(MultipartRequest),
    MultipartReply(MultipartReply),
    BarrierRequest,
    BarrierReply,
    BundleControl(BundleControl),
    BundleAdd(BundleAdd),
    /// A message type podflow does not decode; the body is kept.
    Unknown { msg_type: u8, body: Vec<u8> },
}

impl Message {
    pub fn msg_type(&self) -> u8 {
        use types::*;
        match self {
            Message::Hello(_) => HELLO,
            Message::Error(_) => ERROR,
            Message::EchoRequest(_) => ECHO_REQUEST,
            Message::EchoReply(_) => ECHO_REPLY,
            Message::Experimenter { .. } => EXPERIMENTER,
            Message::FeaturesRequest => FEATURES_REQUEST,
            Message::FeaturesReply(_) => FEATURES_REPLY,
            Message::GetConfigRequest => GET_CONFIG_REQUEST,
            Message::GetConfigReply(_) => GET_CONFIG_REPLY,
            Message::SetConfig(_) => SET_CONFIG,
            Message::PacketIn(_) => PACKET_IN,
            Message::FlowRemoved(_) => FLOW_REMOVED,
            Message::PortStatus(_) => PORT_STATUS,
            Message::PacketOut(_) => PACKET_OUT,
            Message::FlowMod(_) => FLOW_MOD,
            Message::GroupMod(_) => GROUP_MOD,
            Message::PortMod(_) => PORT_MOD,
            Message::MeterMod(_) => METER_MOD,
            Message::MultipartRequest(_) => MULTIPART_REQUEST,
            Message::MultipartReply(_) => MULTIPART_REPLY,
            Message::BarrierRequest => BARRIER_REQUEST,
            Message::BarrierReply => BARRIER_REPLY,
            Message::BundleControl(_) => BUNDLE_CONTROL,
            Message::BundleAdd(_) => BUNDLE_ADD_MESSAGE,
            Message::Unknown { msg_type, .. } => *msg_type,
        }
    }

    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello(_) => "HELLO",
            Message::Error(_) => "ERROR",
            Message::EchoRequest(_) => "ECHO_REQUEST",
            Message::EchoReply(_) => "ECHO_REPLY",
            Message::Experimenter { .. } => "EXPERIMENTER",
            Message::FeaturesRequest => "FEATURES_REQUEST",
            Message::FeaturesReply(_) => "FEATURES_REPLY",
            Message::GetConfigRequest => "GET_CONFIG_REQUEST",
            Message::GetConfigReply(_) => "GET_CONFIG_REPLY",
            Message::SetConfig(_) => "SET_CONFIG",
            Message::PacketIn(_) => "PACKET_IN",
            Message::FlowRemoved(_) => "FLOW_REMOVED",
            Message::PortStatus(_) => "PORT_STATUS",
            Message::PacketOut(_) => "PACKET_OUT",
            Message::FlowMod(_) => "FLOW_MOD",
            Message::GroupMod(_) => "GROUP_MOD",
            Message::PortMod(_) => "PORT_MOD",
            Message::MeterMod(_) => "METER_MOD",
            Message::MultipartRequest(_) => "MULTIPART_REQUEST",
            Message::MultipartReply(_) => "MULTIPART_REPLY",
            Message::BarrierRequest => "BARRIER_REQUEST",
            Message::BarrierReply => "BARRIER_REPLY",
            Message::BundleControl(_) => "BUNDLE_CONTROL",
            Message::BundleAdd(_) => "BUNDLE_ADD_MESSAGE",
            Message::Unknown { .. } => "UNKNOWN",
        }
    }

    /// Appends the whole message (header included) to `out`.
    pub fn encode_into(&self, xid: u32, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u8(OFP_VERSION);
        out.put_u8(self.msg_type());
        out.put_u16(0);
        out.put_u32(xid);
        let res = self.encode_body(out);
        if let Err(e) = res {
            out.truncate(start);
            return Err(e);
        }
        let len = out.len() - start;
        match u16::try_from(len) {
            Ok(l) => {
                crate::wire::patch_u16(out, start + 2, l);
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(EncodeError::TooLong { what: "OpenFlow message", len })
            }
        }
    }

    /// Encodes the whole message into a new buffer.
    pub fn encode(&self, xid: u32) -> Result<BytesMut, EncodeError> {
        let mut b = BytesMut::with_capacity(128);
        self.encode_into(xid, &mut b)?;
        Ok(b)
    }

    fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Message::Hello(h) => h.encode(out),
            Message::Error(e) => e.encode(out),
            Message::EchoRequest(d) | Message::EchoReply(d) => {
                out.put_slice(d);
                Ok(())
            }
            Message::Experimenter { experimenter, exp_type, data } => {
                out.put_u32(*experimenter);
                out.put_u32(*exp_type);
                out.put_slice(data);
                Ok(())
            }
            Message::FeaturesRequest | Message::GetConfigRequest | Message::BarrierRequest | Message::BarrierReply => Ok(()),
            Message::FeaturesReply(f) => {
                f.encode(out);
                Ok(())
            }
            Message::GetConfigReply(c) | Message::SetConfig(c) => {
                c.encode(out);
                Ok(())
            }
            Message::PacketIn(p) => p.encode(out),
            Message::FlowRemoved(f) => f.encode(out),
            Message::PortStatus(p) => p.encode(out),
            Message::PacketOut(p) => p.encode(out),
            Message::FlowMod(f) => f.encode(out),
            Message::GroupMod(g) => g.encode(out),
            Message::PortMod(p) => p.encode(out),
            Message::MeterMod(m) => m.encode(out),
            Message::MultipartRequest(m) => m.encode(out),
            Message::MultipartReply(m) => m.encode(out),
            Message::BundleControl(b) => b.encode(out),
            Message::BundleAdd(b) => b.encode(out),
            Message::Unknown { body, .. } => {
                out.put_slice(body);
                Ok(())
            }
        }
    }

    /// Decodes exactly one message; `buf` must hold exactly the bytes its
    /// header's length announces. Returns the xid and the message.
    pub fn decode(buf: &[u8]) -> Result<(u32, Message), DecodeError> {
        let h = Header::decode(buf)?;
        let len = h.length as usize;
        if buf.len() < len {
            return Err(DecodeError::MissingData { what: "OpenFlow message", needed: len - buf.len() });
        }
        if buf.len() > len {
            return Err(DecodeError::TrailingData { what: "OpenFlow message", count: buf.len() - len });
        }
        // HELLO must be readable in any version, to negotiate.
        if h.version != OFP_VERSION && h.msg_type != types::HELLO && h.msg_type != types::ERROR {
            return Err(DecodeError::BadVersion(h.version));
        }
        let mut r = Reader::new(&buf[HEADER_LEN..len]);
        let msg = Self::decode_body(h.msg_type, &mut r)?;
        Ok((h.xid, msg))
    }

    fn decode_body(ty: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
        use types::*;
        let empty = |r: &mut Reader<'_>, m: Message, what: &'static str| -> Result<Message, DecodeError> {
            r.finish(what)?;
            Ok(m)
        };
        let m = match ty {
            HELLO => Message::Hello(Hello::decode(r)?),
            ERROR => Message::Error(ErrorMsg::decode(r)?),
            ECHO_REQUEST => Message::EchoRequest(r.rest().to_vec()),
            ECHO_REPLY => Message::EchoReply(r.rest().to_vec()),
            EXPERIMENTER => Message::Experimenter {
                experimenter: r.u32("experimenter")?,
                exp_type: r.u32("experimenter")?,
                data: r.rest().to_vec(),
            },
            FEATURES_REQUEST => return empty(r, Message::FeaturesRequest, "features_request"),
            FEATURES_REPLY => Message::FeaturesReply(FeaturesReply::decode(r)?),
            GET_CONFIG_REQUEST => return empty(r, Message::GetConfigRequest, "get_config_request"),
            GET_CONFIG_REPLY => Message::GetConfigReply(SwitchConfig::decode(r)?),
            SET_CONFIG => Message::SetConfig(SwitchConfig::decode(r)?),
            PACKET_IN => Message::PacketIn(PacketIn::decode(r)?),
            FLOW_REMOVED => Message::FlowRemoved(FlowRemoved::decode(r)?),
            PORT_STATUS => Message::PortStatus(PortStatus::decode(r)?),
            PACKET_OUT => Message::PacketOut(PacketOut::decode(r)?),
            FLOW_MOD => Message::FlowMod(FlowMod::decode(r)?),
            GROUP_MOD => Message::GroupMod(GroupMod::decode(r)?),
            PORT_MOD => Message::PortMod(PortMod::decode(r)?),
            METER_MOD => Message::MeterMod(MeterMod::decode(r)?),
            MULTIPART_REQUEST => Message::MultipartRequest(MultipartRequest::decode(r)?),
            MULTIPART_REPLY => Message::MultipartReply(MultipartReply::decode(r)?),
            BARRIER_REQUEST => return empty(r, Message::BarrierRequest, "barrier_request"),
            BARRIER_REPLY => return empty(r, Message::BarrierReply, "barrier_reply"),
            BUNDLE_CONTROL => Message::BundleControl(BundleControl::decode(r)?),
            BUNDLE_ADD_MESSAGE => Message::BundleAdd(BundleAdd::decode(r)?),
            _ => Message::Unknown { msg_type: ty, body: r.rest().to_vec() },
        };
        r.finish(m.name())?;
        Ok(m)
    }
}
