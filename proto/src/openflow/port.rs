//! Port numbers and port descriptions (`ofp_port`, PORT_STATUS, PORT_MOD).

use crate::error::{DecodeError, EncodeError};
use crate::wire::{patch_len16, Reader};
use bytes::{BufMut, BytesMut};
use std::fmt;

/// An OpenFlow 1.1+ port number. Reserved values keep their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortNo(pub u32);

impl PortNo {
    pub const MAX: PortNo = PortNo(0xffff_ff00);
    pub const UNSET: PortNo = PortNo(0xffff_fff7);
    pub const IN_PORT: PortNo = PortNo(0xffff_fff8);
    pub const TABLE: PortNo = PortNo(0xffff_fff9);
    pub const NORMAL: PortNo = PortNo(0xffff_fffa);
    pub const FLOOD: PortNo = PortNo(0xffff_fffb);
    pub const ALL: PortNo = PortNo(0xffff_fffc);
    pub const CONTROLLER: PortNo = PortNo(0xffff_fffd);
    pub const LOCAL: PortNo = PortNo(0xffff_fffe);
    pub const ANY: PortNo = PortNo(0xffff_ffff);

    /// Name of a reserved port as `ovs-ofctl` spells it.
    pub fn reserved_name(self) -> Option<&'static str> {
        Some(match self {
            PortNo::UNSET => "UNSET",
            PortNo::IN_PORT => "IN_PORT",
            PortNo::TABLE => "TABLE",
            PortNo::NORMAL => "NORMAL",
            PortNo::FLOOD => "FLOOD",
            PortNo::ALL => "ALL",
            PortNo::CONTROLLER => "CONTROLLER",
            PortNo::LOCAL => "LOCAL",
            PortNo::ANY => "ANY",
            _ => return None,
        })
    }

    pub fn from_reserved_name(s: &str) -> Option<PortNo> {
        Some(match s.to_ascii_uppercase().as_str() {
            "UNSET" => PortNo::UNSET,
            "IN_PORT" => PortNo::IN_PORT,
            "TABLE" => PortNo::TABLE,
            "NORMAL" => PortNo::NORMAL,
            "FLOOD" => PortNo::FLOOD,
            "ALL" => PortNo::ALL,
            "CONTROLLER" => PortNo::CONTROLLER,
            "LOCAL" => PortNo::LOCAL,
            "ANY" | "NONE" => PortNo::ANY,
            _ => return None,
        })
    }

    /// Converts an OpenFlow 1.0 16-bit port (as used by Nicira actions such
    /// as `resubmit`): 0xff00 and up map to the reserved 32-bit range.
    pub fn from_of10(p: u16) -> PortNo {
        if p >= 0xff00 {
            PortNo(p as u32 + 0xffff_0000)
        } else {
            PortNo(p as u32)
        }
    }

    /// The OpenFlow 1.0 form, if the port has one.
    pub fn to_of10(self) -> Option<u16> {
        if self.0 < 0xff00 {
            Some(self.0 as u16)
        } else if self.0 >= 0xffff_ff00 {
            Some((self.0 - 0xffff_0000) as u16)
        } else {
            None
        }
    }
}

impl fmt::Display for PortNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reserved_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// `ofp_port` (OpenFlow 1.4+ layout with properties).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Port {
    pub port_no: PortNo,
    pub hw_addr: [u8; 6],
    pub name: String,
    pub config: u32,
    pub state: u32,
    /// The Ethernet property, when present.
    pub ethernet: Option<PortEthernet>,
    /// Other properties, as raw `(type, body)` pairs.
    pub other_props: Vec<(u16, Vec<u8>)>,
}

/// `ofp_port_desc_prop_ethernet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PortEthernet {
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    pub curr_speed: u32,
    pub max_speed: u32,
}

/// Port config bits.
pub mod config {
    pub const PORT_DOWN: u32 = 1 << 0;
    pub const NO_RECV: u32 = 1 << 2;
    pub const NO_FWD: u32 = 1 << 5;
    pub const NO_PACKET_IN: u32 = 1 << 6;
}

/// Port state bits.
pub mod state {
    pub const LINK_DOWN: u32 = 1 << 0;
    pub const BLOCKED: u32 = 1 << 1;
    pub const LIVE: u32 = 1 << 2;
}

fn name_from_bytes(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Reads `(type, body)` property TLVs, each padded to 8 bytes.
pub(crate) fn decode_props(r: &mut Reader<'_>, what: &'static str) -> Result<Vec<(u16, Vec<u8>)>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let ty = r.u16(what)?;
        let len = r.u16(what)? as usize;
        if len < 4 {
            return Err(DecodeError::BadLength { what, len, why: "property shorter than its header" });
        }
        let body = r.take(len - 4, what)?.to_vec();
        r.skip(crate::wire::padding(len, 8).min(r.remaining()), what)?;
        out.push((ty, body));
    }
    Ok(out)
}

pub(crate) fn encode_prop(out: &mut BytesMut, ty: u16, body: &[u8]) -> Result<(), EncodeError> {
    let start = out.len();
    out.put_u16(ty);
    let at = crate::wire::put_len16_placeholder(out);
    out.put_slice(body);
    patch_len16(out, at, start, "property")?;
    crate::wire::pad_to(out, start, 8);
    Ok(())
}

impl Port {
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = PortNo(r.u32("port")?);
        let len = r.u16("port")? as usize;
        if len < 40 {
            return Err(DecodeError::BadLength { what: "port", len, why: "shorter than 40 bytes" });
        }
        let mut b = r.sub(len - 6, "port")?;
        b.skip(2, "port")?;
        let hw_addr = b.array::<6>("port")?;
        b.skip(2, "port")?;
        let name = name_from_bytes(b.take(16, "port name")?);
        let config = b.u32("port")?;
        let state = b.u32("port")?;
        let mut ethernet = None;
        let mut other_props = Vec::new();
        for (ty, body) in decode_props(&mut b, "port property")? {
            if ty == 0 && body.len() >= 28 {
                let mut e = Reader::new(&body);
                e.skip(4, "ethernet property")?;
                ethernet = Some(PortEthernet {
                    curr: e.u32("ethernet property")?,
                    advertised: e.u32("ethernet property")?,
                    supported: e.u32("ethernet property")?,
                    peer: e.u32("ethernet property")?,
                    curr_speed: e.u32("ethernet property")?,
                    max_speed: e.u32("ethernet property")?,
                });
            } else {
                other_props.push((ty, body));
            }
        }
        Ok(Port { port_no, hw_addr, name, config, state, ethernet, other_props })
    }

    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u32(self.port_no.0);
        let at = crate::wire::put_len16_placeholder(out);
        out.put_bytes(0, 2);
        out.put_slice(&self.hw_addr);
        out.put_bytes(0, 2);
        let mut name = [0u8; 16];
        let n = self.name.as_bytes();
        if n.len() > 15 {
            return Err(EncodeError::TooLong { what: "port name", len: n.len() });
        }
        name[..n.len()].copy_from_slice(n);
        out.put_slice(&name);
        out.put_u32(self.config);
        out.put_u32(self.state);
        if let Some(e) = &self.ethernet {
            let mut body = BytesMut::new();
            body.put_bytes(0, 4);
            for v in [e.curr, e.advertised, e.supported, e.peer, e.curr_speed, e.max_speed] {
                body.put_u32(v);
            }
            encode_prop(out, 0, &body)?;
        }
        for (ty, body) in &self.other_props {
            encode_prop(out, *ty, body)?;
        }
        patch_len16(out, at, start, "port")
    }
}

/// PORT_STATUS reasons.
pub mod reason {
    pub const ADD: u8 = 0;
    pub const DELETE: u8 = 1;
    pub const MODIFY: u8 = 2;
}

/// PORT_STATUS: a port was added, removed or changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortStatus {
    pub reason: u8,
    pub port: Port,
}

impl PortStatus {
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let reason = r.u8("port_status")?;
        r.skip(7, "port_status")?;
        let port = Port::decode(r)?;
        r.finish("port_status")?;
        Ok(PortStatus { reason, port })
    }

    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.reason);
        out.put_bytes(0, 7);
        self.port.encode(out)
    }
}

/// PORT_MOD (OpenFlow 1.4+ layout).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortMod {
    pub port_no: PortNo,
    pub hw_addr: [u8; 6],
    pub config: u32,
    pub mask: u32,
    /// Ethernet property `advertise` bits, when present.
    pub advertise: Option<u32>,
}

impl PortMod {
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = PortNo(r.u32("port_mod")?);
        r.skip(4, "port_mod")?;
        let hw_addr = r.array::<6>("port_mod")?;
        r.skip(2, "port_mod")?;
        let config = r.u32("port_mod")?;
        let mask = r.u32("port_mod")?;
        let mut advertise = None;
        for (ty, body) in decode_props(r, "port_mod property")? {
            if ty == 0 && body.len() >= 4 {
                advertise = Some(u32::from_be_bytes([body[0], body[1], body[2], body[3]]));
            }
        }
        Ok(PortMod { port_no, hw_addr, config, mask, advertise })
    }

    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u32(self.port_no.0);
        out.put_bytes(0, 4);
        out.put_slice(&self.hw_addr);
        out.put_bytes(0, 2);
        out.put_u32(self.config);
        out.put_u32(self.mask);
        if let Some(a) = self.advertise {
            encode_prop(out, 0, &a.to_be_bytes())?;
        }
        Ok(())
    }
}
