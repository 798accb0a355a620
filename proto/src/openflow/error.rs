//! The OpenFlow ERROR message: the switch refusing something we sent.
//!
//! The type/code pair is kept as numbers (so unknown ones survive) and named
//! through the OpenFlow 1.5 and Nicira tables when known.

use super::action::NX_VENDOR_ID;
use super::error_codes::{NICIRA, STANDARD};
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;
use bytes::{BufMut, BytesMut};
use std::fmt;

/// `ofp_error_type`.
pub mod types {
    pub const HELLO_FAILED: u16 = 0;
    pub const BAD_REQUEST: u16 = 1;
    pub const BAD_ACTION: u16 = 2;
    pub const BAD_INSTRUCTION: u16 = 3;
    pub const BAD_MATCH: u16 = 4;
    pub const FLOW_MOD_FAILED: u16 = 5;
    pub const GROUP_MOD_FAILED: u16 = 6;
    pub const PORT_MOD_FAILED: u16 = 7;
    pub const TABLE_MOD_FAILED: u16 = 8;
    pub const QUEUE_OP_FAILED: u16 = 9;
    pub const SWITCH_CONFIG_FAILED: u16 = 10;
    pub const ROLE_REQUEST_FAILED: u16 = 11;
    pub const METER_MOD_FAILED: u16 = 12;
    pub const TABLE_FEATURES_FAILED: u16 = 13;
    pub const BAD_PROPERTY: u16 = 14;
    pub const ASYNC_CONFIG_FAILED: u16 = 15;
    pub const FLOW_MONITOR_FAILED: u16 = 16;
    pub const BUNDLE_FAILED: u16 = 17;
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// Codes of `OFPET_BUNDLE_FAILED` that the session reacts to.
pub mod bundle_codes {
    pub const BAD_ID: u16 = 2;
    pub const MSG_FAILED: u16 = 13;
    pub const TIMEOUT: u16 = 14;
}

/// `OFPFMFC_TABLE_FULL`.
pub const FLOW_MOD_TABLE_FULL: u16 = 1;

/// The error kind: a standard (type, code), or an experimenter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Standard { ty: u16, code: u16 },
    Experimenter { exp_code: u16, experimenter: u32 },
}

/// OFPT_ERROR.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    pub kind: ErrorKind,
    /// The start of the offending request, or text for HELLO_FAILED.
    pub data: Vec<u8>,
}

impl ErrorKind {
    /// The symbolic name (`OFPFMFC_TABLE_FULL`), or numbers when unknown.
    pub fn name(&self) -> String {
        match *self {
            ErrorKind::Standard { ty, code } => STANDARD
                .iter()
                .find(|(t, c, _)| *t == ty && *c == code)
                .map(|(_, _, n)| n.to_string())
                .unwrap_or_else(|| format!("OFPET({ty},{code})")),
            ErrorKind::Experimenter { exp_code, experimenter } => {
                if experimenter == NX_VENDOR_ID {
                    if let Some((_, n)) = NICIRA.iter().find(|(c, _)| *c == exp_code) {
                        return n.to_string();
                    }
                }
                format!("OFPET_EXPERIMENTER(vendor={experimenter:#x},code={exp_code})")
            }
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl ErrorMsg {
    pub fn new(ty: u16, code: u16, data: impl Into<Vec<u8>>) -> Self {
        ErrorMsg { kind: ErrorKind::Standard { ty, code }, data: data.into() }
    }

    /// True for (type, code).
    pub fn is(&self, ty: u16, code: u16) -> bool {
        self.kind == ErrorKind::Standard { ty, code }
    }

    /// The xid of the request this error answers, read from the copy of its
    /// header in `data` (Open vSwitch always includes it).
    pub fn offending_xid(&self) -> Option<u32> {
        (self.data.len() >= 8).then(|| u32::from_be_bytes([self.data[4], self.data[5], self.data[6], self.data[7]]))
    }

    /// The offending request's message type, if its header was included.
    pub fn offending_type(&self) -> Option<u8> {
        (self.data.len() >= 8).then(|| self.data[1])
    }

    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        match self.kind {
            ErrorKind::Standard { ty, code } => {
                out.put_u16(ty);
                out.put_u16(code);
            }
            ErrorKind::Experimenter { exp_code, experimenter } => {
                out.put_u16(types::EXPERIMENTER);
                out.put_u16(exp_code);
                out.put_u32(experimenter);
            }
        }
        out.put_slice(&self.data);
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = r.u16("error")?;
        let code = r.u16("error")?;
        let kind = if ty == types::EXPERIMENTER {
            ErrorKind::Experimenter { exp_code: code, experimenter: r.u32("experimenter error")? }
        } else {
            ErrorKind::Standard { ty, code }
        };
        Ok(ErrorMsg { kind, data: r.rest().to_vec() })
    }
}

impl fmt::Display for ErrorMsg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let ErrorKind::Standard { ty: types::HELLO_FAILED, .. } = self.kind {
            if !self.data.is_empty() {
                write!(f, " ({})", String::from_utf8_lossy(&self.data))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(ErrorKind::Standard { ty: 5, code: 1 }.name(), "OFPFMFC_TABLE_FULL");
        assert_eq!(ErrorKind::Standard { ty: 4, code: 9 }.name(), "OFPBMC_BAD_PREREQ");
        assert_eq!(ErrorKind::Standard { ty: 17, code: 14 }.name(), "OFPBFC_TIMEOUT");
        assert_eq!(ErrorKind::Standard { ty: 99, code: 1 }.name(), "OFPET(99,1)");
    }
}
