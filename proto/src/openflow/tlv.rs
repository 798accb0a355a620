//! Nicira TLV table messages: the switch's map from tunnel option TLVs
//! (Geneve class, type, length) to the `tun_metadata0`–`63` match fields.
//! A flow can match or set `tun_metadataN` only once N is mapped.
//!
//! `NXT_TLV_TABLE_MOD` (add, delete, clear mappings; answered by an error
//! or nothing) and `NXT_TLV_TABLE_REQUEST` / `NXT_TLV_TABLE_REPLY`, carried
//! as Nicira experimenter messages.

use super::action::NX_VENDOR_ID;
use super::message::Message;
use crate::error::DecodeError;
use crate::wire::Reader;
use bytes::BufMut;

/// Nicira experimenter message subtypes.
pub mod subtype {
    pub const TABLE_MOD: u32 = 24;
    pub const TABLE_REQUEST: u32 = 25;
    pub const TABLE_REPLY: u32 = 26;
}

/// `NXT_TLV_TABLE_MOD` commands.
pub mod command {
    pub const ADD: u16 = 0;
    pub const DELETE: u16 = 1;
    pub const CLEAR: u16 = 2;
}

/// One mapping: option TLV (class, type, length in bytes) → `tun_metadata<index>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlvMap {
    pub class: u16,
    pub ty: u8,
    pub len: u8,
    pub index: u16,
}

/// `NXT_TLV_TABLE_MOD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvTableMod {
    pub command: u16,
    pub maps: Vec<TlvMap>,
}

/// `NXT_TLV_TABLE_REPLY`: the switch's limits and its mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlvTableReply {
    /// Bytes of option data all mappings may use together.
    pub max_option_space: u32,
    pub max_fields: u16,
    pub maps: Vec<TlvMap>,
}

fn put_maps(out: &mut Vec<u8>, maps: &[TlvMap]) {
    for m in maps {
        out.put_u16(m.class);
        out.put_u8(m.ty);
        out.put_u8(m.len);
        out.put_u16(m.index);
        out.put_bytes(0, 2);
    }
}

fn maps(r: &mut Reader<'_>) -> Result<Vec<TlvMap>, DecodeError> {
    if !r.remaining().is_multiple_of(8) {
        return Err(DecodeError::BadLength { what: "TLV mapping", len: r.remaining(), why: "not a multiple of 8 bytes" });
    }
    let mut v = Vec::with_capacity(r.remaining() / 8);
    while !r.is_empty() {
        let (class, ty, len, index) = (r.u16("TLV mapping")?, r.u8("TLV mapping")?, r.u8("TLV mapping")?, r.u16("TLV mapping")?);
        r.skip(2, "TLV mapping")?;
        v.push(TlvMap { class, ty, len, index });
    }
    Ok(v)
}

/// The Nicira experimenter body of `m` if its subtype is `want`.
fn nicira(m: &Message, want: u32) -> Option<&[u8]> {
    match m {
        Message::Experimenter { experimenter: NX_VENDOR_ID, exp_type, data } if *exp_type == want => Some(data),
        _ => None,
    }
}

impl TlvTableMod {
    pub fn to_message(&self) -> Message {
        let mut data = Vec::with_capacity(8 + 8 * self.maps.len());
        data.put_u16(self.command);
        data.put_bytes(0, 6);
        put_maps(&mut data, &self.maps);
        Message::Experimenter { experimenter: NX_VENDOR_ID, exp_type: subtype::TABLE_MOD, data }
    }

    /// `None` if `m` is not an `NXT_TLV_TABLE_MOD`.
    pub fn from_message(m: &Message) -> Option<Result<Self, DecodeError>> {
        let data = nicira(m, subtype::TABLE_MOD)?;
        let mut r = Reader::new(data);
        Some((|| {
            let command = r.u16("TLV table mod")?;
            r.skip(6, "TLV table mod")?;
            Ok(TlvTableMod { command, maps: maps(&mut r)? })
        })())
    }
}

impl TlvTableReply {
    /// The request this answers.
    pub fn request() -> Message {
        Message::Experimenter { experimenter: NX_VENDOR_ID, exp_type: subtype::TABLE_REQUEST, data: Vec::new() }
    }

    pub fn to_message(&self) -> Message {
        let mut data = Vec::with_capacity(16 + 8 * self.maps.len());
        data.put_u32(self.max_option_space);
        data.put_u16(self.max_fields);
        data.put_bytes(0, 10);
        put_maps(&mut data, &self.maps);
        Message::Experimenter { experimenter: NX_VENDOR_ID, exp_type: subtype::TABLE_REPLY, data }
    }

    /// `None` if `m` is not an `NXT_TLV_TABLE_REPLY`.
    pub fn from_message(m: &Message) -> Option<Result<Self, DecodeError>> {
        let data = nicira(m, subtype::TABLE_REPLY)?;
        let mut r = Reader::new(data);
        Some((|| {
            let max_option_space = r.u32("TLV table reply")?;
            let max_fields = r.u16("TLV table reply")?;
            r.skip(10, "TLV table reply")?;
            Ok(TlvTableReply { max_option_space, max_fields, maps: maps(&mut r)? })
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mod_and_reply_round_trip_through_the_wire() {
        let maps = vec![TlvMap { class: 0xffff, ty: 0, len: 4, index: 0 }, TlvMap { class: 0x102, ty: 0x80, len: 124, index: 63 }];
        // Bytes ovs-ofctl sent for add-tlv-map "{class=0xffff,type=1,len=3}->tun_metadata1".
        let one = TlvTableMod { command: command::ADD, maps: vec![TlvMap { class: 0xffff, ty: 1, len: 3, index: 1 }] };
        assert_eq!(&one.to_message().encode(2).unwrap()[..], &hex(concat!("06040020000000020000232000000018", "0000000000000000", "ffff010300010000"))[..]);
        let bytes = TlvTableMod { command: command::ADD, maps: maps.clone() }.to_message().encode(2).unwrap();
        let (_, back) = Message::decode(&bytes).unwrap();
        assert_eq!(TlvTableMod::from_message(&back).unwrap().unwrap(), TlvTableMod { command: command::ADD, maps: maps.clone() });
        let r = TlvTableReply { max_option_space: 256, max_fields: 64, maps };
        let (_, back) = Message::decode(&r.to_message().encode(3).unwrap()).unwrap();
        assert_eq!(TlvTableReply::from_message(&back).unwrap().unwrap(), r);
        assert!(TlvTableReply::from_message(&TlvTableReply::request()).is_none());
        let short = Message::Experimenter { experimenter: NX_VENDOR_ID, exp_type: subtype::TABLE_REPLY, data: vec![0; 20] };
        assert!(TlvTableReply::from_message(&short).unwrap().is_err());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
