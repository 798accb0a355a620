//! The OpenFlow 1.4+ flow monitor (`OFPMP_FLOW_MONITOR`): the request a
//! controller sends to watch flow table changes, and the updates the
//! switch answers with, first in the request's reply (INITIAL) and then
//! unsolicited (ADDED, REMOVED, MODIFIED, ABBREV, PAUSED, RESUMED, xid 0).
//! This is what `ovs-ofctl -O OpenFlow15 monitor BRIDGE watch:` sends.

use super::instruction::Instruction;
use super::oxm::Match;
use super::port::PortNo;
use crate::error::{DecodeError, EncodeError};
use crate::wire::{patch_len16, Reader};
use bytes::{BufMut, BytesMut};

/// `ofp_flow_monitor_flags`.
pub mod flags {
    pub const INITIAL: u16 = 1 << 0;
    pub const ADD: u16 = 1 << 1;
    pub const REMOVED: u16 = 1 << 2;
    pub const MODIFY: u16 = 1 << 3;
    pub const INSTRUCTIONS: u16 = 1 << 4;
    pub const NO_ABBREV: u16 = 1 << 5;
    pub const ONLY_OWN: u16 = 1 << 6;
}

/// `ofp_flow_update_event`.
pub mod event {
    pub const INITIAL: u16 = 0;
    pub const ADDED: u16 = 1;
    pub const REMOVED: u16 = 2;
    pub const MODIFIED: u16 = 3;
    pub const ABBREV: u16 = 4;
    pub const PAUSED: u16 = 5;
    pub const RESUMED: u16 = 6;
}

/// `OFPFMC_ADD`: start a monitor.
pub const COMMAND_ADD: u8 = 0;

/// One `ofp_flow_monitor_request`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowMonitorRequest {
    pub monitor_id: u32,
    pub out_port: PortNo,
    pub out_group: u32,
    pub flags: u16,
    pub table_id: u8,
    pub command: u8,
    pub r#match: Match,
}

impl FlowMonitorRequest {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u32(self.monitor_id);
        out.put_u32(self.out_port.0);
        out.put_u32(self.out_group);
        out.put_u16(self.flags);
        out.put_u8(self.table_id);
        out.put_u8(self.command);
        self.r#match.encode_unchecked(out)
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FlowMonitorRequest {
            monitor_id: r.u32("flow monitor request")?,
            out_port: PortNo(r.u32("flow monitor request")?),
            out_group: r.u32("flow monitor request")?,
            flags: r.u16("flow monitor request")?,
            table_id: r.u8("flow monitor request")?,
            command: r.u8("flow monitor request")?,
            r#match: Match::decode(r)?,
        })
    }
}

/// A flow as a full update carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UpdatedFlow {
    pub table_id: u8,
    /// For REMOVED: `ofp_flow_removed_reason`.
    pub reason: u8,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub cookie: u64,
    pub r#match: Match,
    pub instructions: Vec<Instruction>,
}

/// One `ofp_flow_update_*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FlowUpdate {
    /// INITIAL, ADDED, REMOVED or MODIFIED (the `event`), with the flow.
    Full { event: u16, flow: UpdatedFlow },
    /// The change came from this connection, with its xid.
    Abbrev { xid: u32 },
    Paused,
    Resumed,
    /// An event this decoder does not know, with its body.
    Other { event: u16, body: Vec<u8> },
}

impl FlowUpdate {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u16(0);
        match self {
            FlowUpdate::Full { event, flow } => {
                out.put_u16(*event);
                out.put_u8(flow.table_id);
                out.put_u8(flow.reason);
                out.put_u16(flow.idle_timeout);
                out.put_u16(flow.hard_timeout);
                out.put_u16(flow.priority);
                out.put_bytes(0, 4);
                out.put_u64(flow.cookie);
                flow.r#match.encode_unchecked(out)?;
                Instruction::encode_list(&flow.instructions, out)?;
            }
            FlowUpdate::Abbrev { xid } => {
                out.put_u16(event::ABBREV);
                out.put_u32(*xid);
            }
            FlowUpdate::Paused | FlowUpdate::Resumed => {
                out.put_u16(if matches!(self, FlowUpdate::Paused) { event::PAUSED } else { event::RESUMED });
                out.put_bytes(0, 4);
            }
            FlowUpdate::Other { event, body } => {
                out.put_u16(*event);
                out.put_slice(body);
            }
        }
        patch_len16(out, start, start, "flow update")
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.u16("flow update")? as usize;
        if len < 4 {
            return Err(DecodeError::BadLength { what: "flow update", len, why: "shorter than its 4-byte header" });
        }
        let mut b = r.sub(len - 2, "flow update")?;
        let ev = b.u16("flow update")?;
        let u = match ev {
            event::INITIAL..=event::MODIFIED => {
                let mut flow = UpdatedFlow {
                    table_id: b.u8("flow update")?,
                    reason: b.u8("flow update")?,
                    idle_timeout: b.u16("flow update")?,
                    hard_timeout: b.u16("flow update")?,
                    priority: b.u16("flow update")?,
                    ..UpdatedFlow::default()
                };
                b.skip(4, "flow update")?;
                flow.cookie = b.u64("flow update")?;
                flow.r#match = Match::decode(&mut b)?;
                flow.instructions = Instruction::decode_list(&mut b)?;
                FlowUpdate::Full { event: ev, flow }
            }
            event::ABBREV => FlowUpdate::Abbrev { xid: b.u32("flow update")? },
            event::PAUSED | event::RESUMED => {
                b.skip(4, "flow update")?;
                if ev == event::PAUSED {
                    FlowUpdate::Paused
                } else {
                    FlowUpdate::Resumed
                }
            }
            _ => FlowUpdate::Other { event: ev, body: b.rest().to_vec() },
        };
        b.finish("flow update")?;
        Ok(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::action::Action;
    use crate::openflow::oxm::{fields, OxmField};

    #[test]
    fn updates_round_trip() {
        let flow = UpdatedFlow {
            table_id: 3,
            reason: 2,
            priority: 7,
            cookie: 0x55,
            r#match: Match { fields: vec![OxmField::new(fields::ETH_TYPE, 0x0800u16.to_be_bytes())] },
            instructions: vec![Instruction::ApplyActions(vec![Action::Output { port: PortNo(2), max_len: 0 }])],
            ..UpdatedFlow::default()
        };
        for u in [
            FlowUpdate::Full { event: event::ADDED, flow },
            FlowUpdate::Abbrev { xid: 9 },
            FlowUpdate::Paused,
            FlowUpdate::Resumed,
            FlowUpdate::Other { event: 77, body: vec![1, 2, 3, 4] },
        ] {
            let mut b = BytesMut::new();
            u.encode(&mut b).unwrap();
            let mut r = Reader::new(&b);
            assert_eq!(FlowUpdate::decode(&mut r).unwrap(), u);
            assert!(r.is_empty());
            assert!(FlowUpdate::decode(&mut Reader::new(&b[..b.len() - 1])).is_err());
        }
    }
}
