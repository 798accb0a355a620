//! PACKET_IN and PACKET_OUT.

use super::action::Action;
use super::oxm::Match;
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;
use bytes::{BufMut, BytesMut};

/// PACKET_IN reasons.
pub mod reason {
    pub const NO_MATCH: u8 = 0;
    pub const ACTION: u8 = 1;
    pub const INVALID_TTL: u8 = 2;
    pub const ACTION_SET: u8 = 3;
    pub const GROUP: u8 = 4;
    pub const PACKET_OUT: u8 = 5;
}

/// PACKET_IN: a packet sent to the controller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketIn {
    pub buffer_id: u32,
    pub total_len: u16,
    pub reason: u8,
    pub table_id: u8,
    pub cookie: u64,
    /// Pipeline fields (in_port, metadata, registers…).
    pub r#match: Match,
    pub data: Vec<u8>,
}

impl PacketIn {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u32(self.buffer_id);
        out.put_u16(self.total_len);
        out.put_u8(self.reason);
        out.put_u8(self.table_id);
        out.put_u64(self.cookie);
        self.r#match.encode_unchecked(out)?;
        out.put_u16(0);
        out.put_slice(&self.data);
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let buffer_id = r.u32("packet_in")?;
        let total_len = r.u16("packet_in")?;
        let reason = r.u8("packet_in")?;
        let table_id = r.u8("packet_in")?;
        let cookie = r.u64("packet_in")?;
        let m = Match::decode(r)?;
        r.skip(2, "packet_in")?;
        Ok(PacketIn { buffer_id, total_len, reason, table_id, cookie, r#match: m, data: r.rest().to_vec() })
    }
}

/// PACKET_OUT: inject a packet through a list of actions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PacketOut {
    pub buffer_id: u32,
    /// Pipeline fields; `in_port` goes here in OpenFlow 1.5.
    pub r#match: Match,
    pub actions: Vec<Action>,
    pub data: Vec<u8>,
}

impl PacketOut {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u32(self.buffer_id);
        let at = out.len();
        out.put_u16(0);
        out.put_u16(0);
        self.r#match.encode_unchecked(out)?;
        let a0 = out.len();
        Action::encode_list(&self.actions, out)?;
        let alen = out.len() - a0;
        let alen16 = u16::try_from(alen).map_err(|_| EncodeError::TooLong { what: "packet_out actions", len: alen })?;
        crate::wire::patch_u16(out, at, alen16);
        out.put_slice(&self.data);
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let buffer_id = r.u32("packet_out")?;
        let alen = r.u16("packet_out")? as usize;
        r.skip(2, "packet_out")?;
        let m = Match::decode(r)?;
        let mut a = r.sub(alen, "packet_out actions")?;
        let actions = Action::decode_list(&mut a)?;
        Ok(PacketOut { buffer_id, r#match: m, actions, data: r.rest().to_vec() })
    }
}
