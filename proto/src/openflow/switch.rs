//! Handshake and switch configuration: HELLO, FEATURES, GET/SET_CONFIG.

use crate::error::{DecodeError, EncodeError};
use crate::wire::{pad_to, Reader};
use bytes::{BufMut, BytesMut};

/// HELLO element type carrying the version bitmap.
pub const HELLO_ELEM_VERSIONBITMAP: u16 = 1;

/// HELLO, with the set of versions the sender speaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Hello {
    /// Version bitmap words (bit N of word 0 = version N), if sent.
    pub version_bitmap: Option<Vec<u32>>,
    /// Other elements, raw `(type, body)`.
    pub other: Vec<(u16, Vec<u8>)>,
}

impl Hello {
    /// A HELLO that offers exactly OpenFlow 1.5.
    pub fn of15() -> Self {
        Hello { version_bitmap: Some(vec![1 << super::OFP_VERSION]), other: vec![] }
    }

    /// Whether the peer offers `version`. With no bitmap, the header's
    /// version is the only one offered (`header_version`).
    pub fn supports(&self, version: u8, header_version: u8) -> bool {
        match &self.version_bitmap {
            Some(words) => words
                .get(version as usize / 32)
                .is_some_and(|w| w & (1 << (version % 32)) != 0),
            None => header_version >= version,
        }
    }

    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        if let Some(words) = &self.version_bitmap {
            let start = out.len();
            out.put_u16(HELLO_ELEM_VERSIONBITMAP);
            out.put_u16((4 + 4 * words.len()) as u16);
            for w in words {
                out.put_u32(*w);
            }
            pad_to(out, start, 8);
        }
        for (ty, body) in &self.other {
            super::port::encode_prop(out, *ty, body)?;
        }
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut h = Hello::default();
        // Elements are TLVs padded to 8; a peer may also send none.
        while r.remaining() >= 4 {
            let ty = r.u16("hello element")?;
            let len = r.u16("hello element")? as usize;
            if len < 4 {
                return Err(DecodeError::BadLength { what: "hello element", len, why: "shorter than its header" });
            }
            let mut b = r.sub(len - 4, "hello element")?;
            r.skip(crate::wire::padding(len, 8).min(r.remaining()), "hello element")?;
            if ty == HELLO_ELEM_VERSIONBITMAP {
                let mut words = Vec::new();
                while b.remaining() >= 4 {
                    words.push(b.u32("version bitmap")?);
                }
                h.version_bitmap = Some(words);
            } else {
                h.other.push((ty, b.rest().to_vec()));
            }
        }
        Ok(h)
    }
}

/// FEATURES_REPLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FeaturesReply {
    pub datapath_id: u64,
    pub n_buffers: u32,
    pub n_tables: u8,
    pub auxiliary_id: u8,
    pub capabilities: u32,
}

impl FeaturesReply {
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u64(self.datapath_id);
        out.put_u32(self.n_buffers);
        out.put_u8(self.n_tables);
        out.put_u8(self.auxiliary_id);
        out.put_u16(0);
        out.put_u32(self.capabilities);
        out.put_u32(0);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let f = FeaturesReply {
            datapath_id: r.u64("features_reply")?,
            n_buffers: r.u32("features_reply")?,
            n_tables: r.u8("features_reply")?,
            auxiliary_id: r.u8("features_reply")?,
            capabilities: {
                r.skip(2, "features_reply")?;
                r.u32("features_reply")?
            },
        };
        r.skip(4, "features_reply")?;
        r.finish("features_reply")?;
        Ok(f)
    }
}

/// GET_CONFIG_REPLY / SET_CONFIG body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SwitchConfig {
    pub flags: u16,
    pub miss_send_len: u16,
}

impl SwitchConfig {
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.flags);
        out.put_u16(self.miss_send_len);
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let c = SwitchConfig { flags: r.u16("switch config")?, miss_send_len: r.u16("switch config")? };
        r.finish("switch config")?;
        Ok(c)
    }
}
