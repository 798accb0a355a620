//! The forwarding flows of a secondary (uplink) bridge: the NIC and the
//! internal port that took its name are patched to each other, everything
//! else is dropped (the bridge is `fail_mode=secure`).
//!
//! Pure values: no sockets. The cookies use their own category
//! ([`cookie::CATEGORY_UPLINK`], round 0) and they are replaced as one set
//! (delete by category, then add, in one ordered atomic bundle). They must
//! never be put on the pod bridge: the pod pipeline's round clean-up
//! matches by round and would take round 0 with it.

use super::cookie;
use podflow_proto::openflow::action::Action;
use podflow_proto::openflow::flow::{FlowModCommand, TABLE_ALL};
use podflow_proto::openflow::oxm::{fields, Match, OxmField};
use podflow_proto::openflow::{FlowMod, Instruction, PortNo};

/// Priority of the two patch flows.
pub const PRIORITY_PATCH: u16 = 100;
/// Priority of the table-miss drop.
pub const PRIORITY_MISS: u16 = 0;

/// Cookie of every uplink flow of a bridge whose uplink is OpenFlow port `uplink`.
pub fn uplink_cookie(uplink: u32) -> u64 {
    cookie::make(0, cookie::CATEGORY_UPLINK, uplink)
}

/// Mask selecting every uplink flow (any round, any object).
pub const UPLINK_MASK: u64 = 0xff << cookie::CATEGORY_SHIFT | cookie::MAGIC_MASK;

/// Deletes every uplink flow of the bridge (and nothing foreign).
pub fn delete_all() -> FlowMod {
    FlowMod {
        command: FlowModCommand::DELETE,
        table_id: TABLE_ALL,
        cookie: uplink_cookie(0) & UPLINK_MASK,
        cookie_mask: UPLINK_MASK,
        ..FlowMod::default()
    }
}

fn patch(cookie: u64, from: u32, to: u32) -> FlowMod {
    FlowMod {
        cookie,
        table_id: 0,
        priority: PRIORITY_PATCH,
        command: FlowModCommand::ADD,
        r#match: Match::new().with(OxmField::new(fields::IN_PORT, from.to_be_bytes())),
        instructions: vec![Instruction::ApplyActions(vec![Action::output(PortNo(to))])],
        ..FlowMod::default()
    }
}

/// The whole set, to be sent as one ordered atomic bundle: delete the
/// previous set, then uplink → internal port, internal port → uplink, and
/// an explicit table-miss drop.
pub fn uplink_flows(uplink: u32, internal: u32) -> Vec<FlowMod> {
    let c = uplink_cookie(uplink);
    vec![
        delete_all(),
        patch(c, uplink, internal),
        patch(c, internal, uplink),
        FlowMod { cookie: c, table_id: 0, priority: PRIORITY_MISS, command: FlowModCommand::ADD, ..FlowMod::default() },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_tagged_and_distinct_from_the_pod_pipeline() {
        let f = uplink_flows(1, 2);
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].command, FlowModCommand::DELETE);
        for x in &f[1..] {
            assert!(cookie::is_ours(x.cookie));
            assert_eq!(x.cookie & f[0].cookie_mask, f[0].cookie);
            assert!(x.r#match.check_prerequisites().is_ok());
        }
        // The pod category never matches the uplink mask.
        let pod = cookie::make(0, cookie::CATEGORY_POD, 1);
        assert_ne!(pod & UPLINK_MASK, f[0].cookie);
    }
}
