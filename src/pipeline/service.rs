//! Services through the host's kube-proxy: the conntrack tables that sit
//! between the ARP table and L3 forwarding, for IPv4 and IPv6.
//!
//! A client pod's packet to a ClusterIP goes to the gateway; the host's
//! kube-proxy rules DNAT it to a backend, and when that backend is a pod on
//! this node the packet comes back in through the gateway. Its reply must
//! go back through the gateway too, or the host's conntrack never reverses
//! the DNAT and the client sees an answer from the backend's address. So:
//! every IP packet is tracked in podflow's own zone ([`ZONE`]); a new
//! connection that enters from the gateway is committed with
//! [`MARK_FROM_GATEWAY`]; a packet in the reply direction of such a
//! connection is sent to the gateway instead of being forwarded by L3.
//!
//! Pure values, like the rest of `pipeline`: no sockets, no state. The
//! flows go into the base bundle (so the flow-restore-wait gate counts
//! them) with their own cookie category ([`cookie::CATEGORY_SERVICE`]).
//! Nothing here ever drops a packet: invalid or untracked packets continue
//! to L3 forwarding exactly as they would without these tables.

use super::cookie;
use super::pod::{table, Gateway, REG_OUT_PORT};
use podflow_proto::openflow::action::{ct_flags, Action, Ct, CtZone};
use podflow_proto::openflow::flow::FlowModCommand;
use podflow_proto::openflow::oxm::{fields, Match, OxmField};
use podflow_proto::openflow::{FlowMod, Instruction};

/// The conntrack zone podflow owns. Apart from the host's zone 0 on the
/// kernel datapath (where OVS's conntrack is the kernel's), so the host's
/// own entries, kube-proxy's NAT among them, are never looked up or
/// changed by these flows.
pub const ZONE: u16 = 0xfd00;

/// `ct_mark` bit of connections whose first packet came from the gateway.
pub const MARK_FROM_GATEWAY: u32 = 0x1;

/// `ct_state` bits (`NXM_NX_CT_STATE`), as Open vSwitch defines them.
pub mod ct_state {
    pub const NEW: u32 = 0x01;
    pub const ESTABLISHED: u32 = 0x02;
    pub const RELATED: u32 = 0x04;
    pub const REPLY: u32 = 0x08;
    pub const INVALID: u32 = 0x10;
    pub const TRACKED: u32 = 0x20;
}

/// Priorities in the conntrack tables.
pub mod priority {
    /// Table CONNTRACK: IP packets are tracked.
    pub const TRACK: u16 = 200;
    /// Table CONNTRACK_STATE: a new connection from the gateway is committed.
    pub const COMMIT_FROM_GATEWAY: u16 = 210;
    /// Table CONNTRACK_STATE: a reply of a connection from the gateway goes back to it.
    pub const REPLY_TO_GATEWAY: u16 = 200;
    /// Everything else continues to L3 forwarding.
    pub const MISS: u16 = 0;
}

// The tables sit between ARP and L3 forwarding, in this order (a packet
// only ever goes to a later table).
const _: () = assert!(table::ARP < table::CONNTRACK && table::CONNTRACK < table::CONNTRACK_STATE && table::CONNTRACK_STATE < table::L3_FORWARD);

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;

fn flow(round: u16, object: u32, table_id: u8, priority: u16, m: Match, instructions: Vec<Instruction>) -> FlowMod {
    FlowMod {
        cookie: cookie::make(round, cookie::CATEGORY_SERVICE, object),
        table_id,
        priority,
        command: FlowModCommand::ADD,
        r#match: m,
        instructions,
        ..FlowMod::default()
    }
}

fn ct_state(value: u32, mask: u32) -> OxmField {
    OxmField::masked(fields::CT_STATE, value.to_be_bytes(), mask.to_be_bytes())
}

fn ip(eth_type: u16) -> Match {
    Match::new().with(OxmField::new(fields::ETH_TYPE, eth_type.to_be_bytes()))
}

/// The conntrack flows for both families; they belong in the base bundle.
pub fn service_flows(round: u16, gw: &Gateway) -> Vec<FlowMod> {
    let g = gw.ofport;
    let mut v = vec![
        flow(round, 0, table::CONNTRACK, priority::MISS, Match::new(), vec![Instruction::GotoTable(table::L3_FORWARD)]),
        flow(round, 0, table::CONNTRACK_STATE, priority::MISS, Match::new(), vec![Instruction::GotoTable(table::L3_FORWARD)]),
    ];
    for eth in [ETH_IPV4, ETH_IPV6] {
        // Track every IP packet in podflow's zone, then look at its state.
        v.push(flow(
            round,
            0,
            table::CONNTRACK,
            priority::TRACK,
            ip(eth),
            vec![Instruction::ApplyActions(vec![Action::Ct(Ct {
                flags: 0,
                zone: CtZone::Imm(ZONE),
                table: Some(table::CONNTRACK_STATE),
                alg: 0,
                actions: vec![],
            })])],
        ));
        // A new connection from the gateway: remember where it came from.
        v.push(flow(
            round,
            g,
            table::CONNTRACK_STATE,
            priority::COMMIT_FROM_GATEWAY,
            ip(eth)
                .with(OxmField::new(fields::IN_PORT, g.to_be_bytes()))
                .with(ct_state(ct_state::NEW | ct_state::TRACKED, ct_state::NEW | ct_state::TRACKED)),
            vec![
                Instruction::ApplyActions(vec![Action::Ct(Ct {
                    flags: ct_flags::COMMIT,
                    zone: CtZone::Imm(ZONE),
                    table: None,
                    alg: 0,
                    actions: vec![Action::SetField(OxmField::new(fields::CT_MARK, MARK_FROM_GATEWAY.to_be_bytes()))],
                })]),
                Instruction::GotoTable(table::L3_FORWARD),
            ],
        ));
        // Its replies go back through the gateway, whoever the destination
        // is, so the host's conntrack reverses its NAT.
        v.push(flow(
            round,
            g,
            table::CONNTRACK_STATE,
            priority::REPLY_TO_GATEWAY,
            ip(eth)
                .with(ct_state(ct_state::REPLY | ct_state::TRACKED, ct_state::REPLY | ct_state::TRACKED | ct_state::INVALID))
                .with(OxmField::masked(fields::CT_MARK, MARK_FROM_GATEWAY.to_be_bytes(), MARK_FROM_GATEWAY.to_be_bytes())),
            vec![
                Instruction::ApplyActions(vec![
                    Action::SetField(OxmField::new(fields::ETH_DST, gw.mac)),
                    Action::SetField(OxmField::new(fields::reg(REG_OUT_PORT), g.to_be_bytes())),
                ]),
                Instruction::GotoTable(table::L2_OUTPUT),
            ],
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn gw() -> Gateway {
        Gateway::v4(2, [2, 0, 0, 0, 0, 0xfe], Ipv4Addr::new(198, 18, 0, 1))
    }

    #[test]
    fn both_families_tracked_committed_and_returned_with_their_own_cookie() {
        let f = service_flows(9, &gw());
        assert_eq!(f.len(), 2 + 2 * 3);
        for x in &f {
            assert!(x.r#match.check_prerequisites().is_ok(), "{x:?}");
            assert!(cookie::is_ours(x.cookie));
            assert_eq!(cookie::round_of(x.cookie), 9);
            assert_eq!((x.cookie >> cookie::CATEGORY_SHIFT) as u8, cookie::CATEGORY_SERVICE);
            assert!([table::CONNTRACK, table::CONNTRACK_STATE].contains(&x.table_id));
        }
        for eth in [ETH_IPV4, ETH_IPV6] {
            let of_family: Vec<&FlowMod> = f.iter().filter(|x| x.r#match.get(fields::ETH_TYPE).is_some_and(|t| t.value == eth.to_be_bytes())).collect();
            assert_eq!(of_family.len(), 3, "{eth:#x}");
            let reply = of_family.iter().find(|x| x.table_id == table::CONNTRACK_STATE && x.priority == priority::REPLY_TO_GATEWAY).expect("a reply flow");
            assert_eq!(reply.instructions.last(), Some(&Instruction::GotoTable(table::L2_OUTPUT)));
        }
    }
}
