//! Bundles: BUNDLE_CONTROL and BUNDLE_ADD_MESSAGE.
//!
//! Open vSwitch facts the session relies on: a failing ADD does not fail
//! the bundle (the message is left out and an ERROR comes back), re-opening
//! a live id deletes the bundle, and an idle bundle expires after 10 s.

use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;
use bytes::{BufMut, BytesMut};

/// `ofp_bundle_ctrl_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleCtrlType(pub u16);

impl BundleCtrlType {
    pub const OPEN_REQUEST: Self = Self(0);
    pub const OPEN_REPLY: Self = Self(1);
    pub const CLOSE_REQUEST: Self = Self(2);
    pub const CLOSE_REPLY: Self = Self(3);
    pub const COMMIT_REQUEST: Self = Self(4);
    pub const COMMIT_REPLY: Self = Self(5);
    pub const DISCARD_REQUEST: Self = Self(6);
    pub const DISCARD_REPLY: Self = Self(7);

    /// The reply type that answers this request type.
    pub fn reply(self) -> Self {
        Self(self.0 | 1)
    }

    pub fn name(self) -> &'static str {
        match self.0 {
            0 => "OPEN_REQUEST",
            1 => "OPEN_REPLY",
            2 => "CLOSE_REQUEST",
            3 => "CLOSE_REPLY",
            4 => "COMMIT_REQUEST",
            5 => "COMMIT_REPLY",
            6 => "DISCARD_REQUEST",
            7 => "DISCARD_REPLY",
            _ => "UNKNOWN",
        }
    }
}

/// Bundle flags.
pub mod flags {
    pub const ATOMIC: u16 = 1 << 0;
    pub const ORDERED: u16 = 1 << 1;
    pub const TIME: u16 = 1 << 2;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BundleControl {
    pub bundle_id: u32,
    pub ctrl_type: BundleCtrlType,
    pub flags: u16,
    pub properties: Vec<(u16, Vec<u8>)>,
}

impl BundleControl {
    pub fn new(bundle_id: u32, ctrl_type: BundleCtrlType, flags: u16) -> Self {
        BundleControl { bundle_id, ctrl_type, flags, properties: vec![] }
    }

    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u32(self.bundle_id);
        out.put_u16(self.ctrl_type.0);
        out.put_u16(self.flags);
        for (ty, body) in &self.properties {
            super::port::encode_prop(out, *ty, body)?;
        }
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BundleControl {
            bundle_id: r.u32("bundle_control")?,
            ctrl_type: BundleCtrlType(r.u16("bundle_control")?),
            flags: r.u16("bundle_control")?,
            properties: super::port::decode_props(r, "bundle property")?,
        })
    }
}

/// BUNDLE_ADD_MESSAGE. The inner message is kept encoded: its xid must
/// equal the outer one, and keeping the bytes lets errors that quote it be
/// matched back exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BundleAdd {
    pub bundle_id: u32,
    pub flags: u16,
    /// A complete OpenFlow message, header included.
    pub message: Vec<u8>,
}

impl BundleAdd {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u32(self.bundle_id);
        out.put_u16(0);
        out.put_u16(self.flags);
        out.put_slice(&self.message);
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let bundle_id = r.u32("bundle_add")?;
        r.skip(2, "bundle_add")?;
        let flags = r.u16("bundle_add")?;
        let inner_len = r.peek_u16(2, "bundle_add inner message")? as usize;
        if inner_len < 8 {
            return Err(DecodeError::BadLength { what: "bundle_add inner message", len: inner_len, why: "shorter than an OpenFlow header" });
        }
        let message = r.take(inner_len, "bundle_add inner message")?.to_vec();
        // Padding and properties may follow; podflow sends none and ignores them.
        r.rest();
        Ok(BundleAdd { bundle_id, flags, message })
    }
}
