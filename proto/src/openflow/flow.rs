//! Flow table messages: FLOW_MOD, FLOW_REMOVED, and the flow entries of
//! FLOW_DESC / AGGREGATE multipart requests and replies.

use super::instruction::Instruction;
use super::oxm::Match;
use super::oxs::Stats;
use super::port::PortNo;
use crate::error::{DecodeError, EncodeError};
use crate::wire::{patch_len16, Reader};
use bytes::{BufMut, BytesMut};

/// `ofp_flow_mod_command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowModCommand(pub u8);

impl FlowModCommand {
    pub const ADD: Self = Self(0);
    pub const MODIFY: Self = Self(1);
    pub const MODIFY_STRICT: Self = Self(2);
    pub const DELETE: Self = Self(3);
    pub const DELETE_STRICT: Self = Self(4);

    pub fn name(self) -> String {
        match self.0 {
            0 => "ADD".into(),
            1 => "MOD".into(),
            2 => "MOD_STRICT".into(),
            3 => "DEL".into(),
            4 => "DEL_STRICT".into(),
            n => format!("command {n:#04x}"),
        }
    }
}

/// `ofp_flow_mod_flags`.
pub mod flags {
    pub const SEND_FLOW_REM: u16 = 1 << 0;
    pub const CHECK_OVERLAP: u16 = 1 << 1;
    pub const RESET_COUNTS: u16 = 1 << 2;
    pub const NO_PKT_COUNTS: u16 = 1 << 3;
    pub const NO_BYT_COUNTS: u16 = 1 << 4;
}

/// `OFP_NO_BUFFER`.
pub const NO_BUFFER: u32 = 0xffff_ffff;
/// `OFPG_ANY`.
pub const GROUP_ANY: u32 = 0xffff_ffff;
/// `OFPTT_ALL`: every table (delete and stats requests).
pub const TABLE_ALL: u8 = 0xff;
/// `OFP_DEFAULT_PRIORITY`.
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// FLOW_MOD.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowMod {
    pub cookie: u64,
    pub cookie_mask: u64,
    pub table_id: u8,
    pub command: FlowModCommand,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub buffer_id: u32,
    pub out_port: PortNo,
    pub out_group: u32,
    pub flags: u16,
    pub importance: u16,
    pub r#match: Match,
    pub instructions: Vec<Instruction>,
}

impl Default for FlowMod {
    fn default() -> Self {
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id: 0,
            command: FlowModCommand::ADD,
            idle_timeout: 0,
            hard_timeout: 0,
            priority: DEFAULT_PRIORITY,
            buffer_id: NO_BUFFER,
            out_port: PortNo::ANY,
            out_group: GROUP_ANY,
            flags: 0,
            importance: 0,
            r#match: Match::default(),
            instructions: Vec::new(),
        }
    }
}

impl FlowMod {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u64(self.cookie);
        out.put_u64(self.cookie_mask);
        out.put_u8(self.table_id);
        out.put_u8(self.command.0);
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u16(self.priority);
        out.put_u32(self.buffer_id);
        out.put_u32(self.out_port.0);
        out.put_u32(self.out_group);
        out.put_u16(self.flags);
        out.put_u16(self.importance);
        self.r#match.encode(out)?;
        Instruction::encode_list(&self.instructions, out)
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let f = FlowMod {
            cookie: r.u64("flow_mod")?,
            cookie_mask: r.u64("flow_mod")?,
            table_id: r.u8("flow_mod")?,
            command: FlowModCommand(r.u8("flow_mod")?),
            idle_timeout: r.u16("flow_mod")?,
            hard_timeout: r.u16("flow_mod")?,
            priority: r.u16("flow_mod")?,
            buffer_id: r.u32("flow_mod")?,
            out_port: PortNo(r.u32("flow_mod")?),
            out_group: r.u32("flow_mod")?,
            flags: r.u16("flow_mod")?,
            importance: r.u16("flow_mod")?,
            r#match: Match::decode(r)?,
            instructions: Instruction::decode_list(r)?,
        };
        Ok(f)
    }
}

/// FLOW_REMOVED reasons.
pub mod removed_reason {
    pub const IDLE_TIMEOUT: u8 = 0;
    pub const HARD_TIMEOUT: u8 = 1;
    pub const DELETE: u8 = 2;
    pub const GROUP_DELETE: u8 = 3;
    pub const METER_DELETE: u8 = 4;
    pub const EVICTION: u8 = 5;
}

/// FLOW_REMOVED.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowRemoved {
    pub table_id: u8,
    pub reason: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub cookie: u64,
    pub r#match: Match,
    pub stats: Stats,
}

impl FlowRemoved {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.table_id);
        out.put_u8(self.reason);
        out.put_u16(self.priority);
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u64(self.cookie);
        self.r#match.encode_unchecked(out)?;
        self.stats.encode(out)
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let f = FlowRemoved {
            table_id: r.u8("flow_removed")?,
            reason: r.u8("flow_removed")?,
            priority: r.u16("flow_removed")?,
            idle_timeout: r.u16("flow_removed")?,
            hard_timeout: r.u16("flow_removed")?,
            cookie: r.u64("flow_removed")?,
            r#match: Match::decode(r)?,
            stats: Stats::decode(r)?,
        };
        r.finish("flow_removed")?;
        Ok(f)
    }
}

/// Body of FLOW_DESC and AGGREGATE_STATS requests: which flows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowStatsRequest {
    pub table_id: u8,
    pub out_port: PortNo,
    pub out_group: u32,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub r#match: Match,
}

impl Default for FlowStatsRequest {
    fn default() -> Self {
        FlowStatsRequest {
            table_id: TABLE_ALL,
            out_port: PortNo::ANY,
            out_group: GROUP_ANY,
            cookie: 0,
            cookie_mask: 0,
            r#match: Match::default(),
        }
    }
}

impl FlowStatsRequest {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u8(self.table_id);
        out.put_bytes(0, 3);
        out.put_u32(self.out_port.0);
        out.put_u32(self.out_group);
        out.put_bytes(0, 4);
        out.put_u64(self.cookie);
        out.put_u64(self.cookie_mask);
        self.r#match.encode(out)
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = r.u8("flow stats request")?;
        r.skip(3, "flow stats request")?;
        let out_port = PortNo(r.u32("flow stats request")?);
        let out_group = r.u32("flow stats request")?;
        r.skip(4, "flow stats request")?;
        let cookie = r.u64("flow stats request")?;
        let cookie_mask = r.u64("flow stats request")?;
        let m = Match::decode(r)?;
        r.finish("flow stats request")?;
        Ok(FlowStatsRequest { table_id, out_port, out_group, cookie, cookie_mask, r#match: m })
    }
}

/// A FLOW_DESC entry whose match fields and instructions are still bytes
/// (framed, not decoded): [`FlowDesc::decode`] decodes them, and a dump
/// printer reads the match without copying it and prints an instruction
/// list it has seen before without decoding it again.
#[derive(Debug, Clone)]
pub struct FlowDescBytes<'a> {
    pub table_id: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: u16,
    pub importance: u16,
    pub cookie: u64,
    /// For [`Match::for_each_field`] or [`Match::from_fields`].
    pub match_fields: &'a [u8],
    pub stats: Stats,
    /// For [`Instruction::decode_list`].
    pub instructions: &'a [u8],
}

impl<'a> FlowDescBytes<'a> {
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let len = r.peek_u16(0, "flow desc")? as usize;
        if len < 24 {
            return Err(DecodeError::BadLength { what: "flow desc", len, why: "shorter than 24 bytes" });
        }
        let mut b = r.sub(len, "flow desc")?;
        b.skip(4, "flow desc")?;
        let table_id = b.u8("flow desc")?;
        b.skip(1, "flow desc")?;
        Ok(FlowDescBytes {
            table_id,
            priority: b.u16("flow desc")?,
            idle_timeout: b.u16("flow desc")?,
            hard_timeout: b.u16("flow desc")?,
            flags: b.u16("flow desc")?,
            importance: b.u16("flow desc")?,
            cookie: b.u64("flow desc")?,
            match_fields: Match::take(&mut b)?,
            stats: Stats::decode(&mut b)?,
            instructions: b.rest(),
        })
    }
}

/// One flow entry of a FLOW_DESC reply (`ofp_flow_desc`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FlowDesc {
    pub table_id: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: u16,
    pub importance: u16,
    pub cookie: u64,
    pub r#match: Match,
    pub stats: Stats,
    pub instructions: Vec<Instruction>,
}

impl FlowDesc {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u16(0);
        out.put_bytes(0, 2);
        out.put_u8(self.table_id);
        out.put_u8(0);
        out.put_u16(self.priority);
        out.put_u16(self.idle_timeout);
        out.put_u16(self.hard_timeout);
        out.put_u16(self.flags);
        out.put_u16(self.importance);
        out.put_u64(self.cookie);
        self.r#match.encode_unchecked(out)?;
        self.stats.encode(out)?;
        Instruction::encode_list(&self.instructions, out)?;
        patch_len16(out, start, start, "flow desc")
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let b = FlowDescBytes::decode(r)?;
        Ok(FlowDesc {
            table_id: b.table_id,
            priority: b.priority,
            idle_timeout: b.idle_timeout,
            hard_timeout: b.hard_timeout,
            flags: b.flags,
            importance: b.importance,
            cookie: b.cookie,
            r#match: Match::from_fields(b.match_fields)?,
            stats: b.stats,
            instructions: Instruction::decode_list(&mut Reader::new(b.instructions))?,
        })
    }
}
