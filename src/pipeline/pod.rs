//! The pod forwarding pipeline: tables, priorities, and the pure functions
//! that build the base flows and each pod's flows.
//!
//! Everything here is a value computation: no sockets, no clocks, no state.
//! The tables are described in `docs/pipeline.md`; keep the two in step.

use podflow_proto::openflow::action::Action;
use podflow_proto::openflow::flow::FlowModCommand;
use podflow_proto::openflow::oxm::{fields, Match, OxmField};
use podflow_proto::openflow::{FlowMod, Instruction, PortNo};
use std::net::Ipv4Addr;

use super::cookie;

/// Pipeline tables, in the order a packet walks them.
pub mod table {
    /// Classification by in_port; a pod port only with its own MAC.
    pub const CLASSIFY: u8 = 0;
    /// IP and ARP spoof guard: a pod sends only from its own IP.
    pub const SPOOF_GUARD: u8 = 10;
    /// ARP: requests and replies are delivered to the owner of the target address.
    pub const ARP: u8 = 20;
    /// Conntrack in podflow's zone, for IPv4 and IPv6 (flows in `service.rs`).
    pub const CONNTRACK: u8 = 25;
    /// After conntrack: commit connections from the gateway, send their
    /// replies back to it (flows in `service.rs`).
    pub const CONNTRACK_STATE: u8 = 26;
    /// L3: local pods by destination IP, everything else to the gateway.
    pub const L3_FORWARD: u8 = 30;
    /// L2: output to the port chosen earlier (in `reg1`).
    pub const L2_OUTPUT: u8 = 40;
}

/// Priorities inside each table.
pub mod priority {
    pub const POD: u16 = 200;
    pub const GATEWAY: u16 = 190;
    pub const DEFAULT_ROUTE: u16 = 10;
    /// Table-miss: drop.
    pub const MISS: u16 = 0;
}

/// Register that carries the output port between tables.
pub const REG_OUT_PORT: u8 = 1;

/// What the pipeline needs to know about a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPort {
    pub ofport: u32,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
}

/// The node's gateway port (an internal port holding the first address of the pod CIDR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub ofport: u32,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
}

fn flow(round: u16, category: u8, object: u32, table_id: u8, priority: u16, m: Match, instructions: Vec<Instruction>) -> FlowMod {
    FlowMod {
        cookie: cookie::make(round, category, object),
        table_id,
        priority,
        command: FlowModCommand::ADD,
        r#match: m,
        instructions,
        ..FlowMod::default()
    }
}

fn goto(t: u8) -> Vec<Instruction> {
    vec![Instruction::GotoTable(t)]
}

fn in_port(p: u32) -> OxmField {
    OxmField::new(fields::IN_PORT, p.to_be_bytes())
}

fn eth_type(t: u16) -> OxmField {
    OxmField::new(fields::ETH_TYPE, t.to_be_bytes())
}

fn set_out_port_and_goto(port: u32, next: u8) -> Vec<Instruction> {
    vec![
        Instruction::ApplyActions(vec![Action::SetField(OxmField::new(fields::reg(REG_OUT_PORT), port.to_be_bytes()))]),
        Instruction::GotoTable(next),
    ]
}

/// The base pipeline: one table-miss drop per table, the gateway's flows
/// and the conntrack tables of [`super::service`].
pub fn base_flows(round: u16, gw: &Gateway) -> Vec<FlowMod> {
    let c = cookie::CATEGORY_BASE;
    let mut v: Vec<FlowMod> = [table::CLASSIFY, table::SPOOF_GUARD, table::ARP, table::L3_FORWARD, table::L2_OUTPUT]
        .into_iter()
        .map(|t| flow(round, c, 0, t, priority::MISS, Match::new(), vec![]))
        .collect();
    let gw_obj = gw.ofport;
    v.push(flow(round, c, gw_obj, table::CLASSIFY, priority::GATEWAY, Match::new().with(in_port(gw.ofport)), goto(table::SPOOF_GUARD)));
    v.push(flow(round, c, gw_obj, table::SPOOF_GUARD, priority::GATEWAY, Match::new().with(in_port(gw.ofport)), goto(table::ARP)));
    // ARP for the gateway address goes to the gateway port.
    v.push(flow(
        round,
        c,
        gw_obj,
        table::ARP,
        priority::GATEWAY,
        Match::new().with(eth_type(0x0806)).with(OxmField::new(fields::ARP_TPA, gw.ip.octets())),
        set_out_port_and_goto(gw.ofport, table::L2_OUTPUT),
    ));
    // Non-ARP traffic continues to conntrack, then L3.
    v.push(flow(round, c, 0, table::ARP, priority::DEFAULT_ROUTE, Match::new(), goto(table::CONNTRACK)));
    // IP not for a local pod: to the gateway (the node's stack routes it).
    v.push(flow(
        round,
        c,
        gw_obj,
        table::L3_FORWARD,
        priority::DEFAULT_ROUTE,
        Match::new().with(eth_type(0x0800)),
        vec![
            Instruction::ApplyActions(vec![
                Action::SetField(OxmField::new(fields::ETH_DST, gw.mac)),
                Action::SetField(OxmField::new(fields::reg(REG_OUT_PORT), gw.ofport.to_be_bytes())),
            ]),
            Instruction::GotoTable(table::L2_OUTPUT),
        ],
    ));
    v.push(flow(
        round,
        c,
        gw_obj,
        table::L2_OUTPUT,
        priority::GATEWAY,
        Match::new().with(OxmField::new(fields::reg(REG_OUT_PORT), gw.ofport.to_be_bytes())),
        vec![Instruction::ApplyActions(vec![Action::output(PortNo(gw.ofport))])],
    ));
    v.extend(super::service::service_flows(round, gw));
    v
}

/// The six flows of one pod.
pub fn pod_flows(round: u16, pod: &PodPort) -> Vec<FlowMod> {
    let c = cookie::CATEGORY_POD;
    let o = pod.ofport;
    let mac = OxmField::new(fields::ETH_SRC, pod.mac);
    vec![
        // Classification: the pod's port, with the pod's own source MAC only.
        flow(round, c, o, table::CLASSIFY, priority::POD, Match::new().with(in_port(o)).with(mac.clone()), goto(table::SPOOF_GUARD)),
        // Spoof guard, IP: the pod's own source address only.
        flow(
            round,
            c,
            o,
            table::SPOOF_GUARD,
            priority::POD,
            Match::new().with(in_port(o)).with(eth_type(0x0800)).with(OxmField::new(fields::IPV4_SRC, pod.ip.octets())),
            goto(table::ARP),
        ),
        // Spoof guard, ARP: sender address and sender MAC must be the pod's.
        flow(
            round,
            c,
            o,
            table::SPOOF_GUARD,
            priority::POD,
            Match::new()
                .with(in_port(o))
                .with(eth_type(0x0806))
                .with(OxmField::new(fields::ARP_SPA, pod.ip.octets()))
                .with(OxmField::new(fields::ARP_SHA, pod.mac)),
            goto(table::ARP),
        ),
        // ARP for the pod's address is delivered to the pod.
        flow(
            round,
            c,
            o,
            table::ARP,
            priority::POD,
            Match::new().with(eth_type(0x0806)).with(OxmField::new(fields::ARP_TPA, pod.ip.octets())),
            set_out_port_and_goto(o, table::L2_OUTPUT),
        ),
        // L3: IP to the pod's address, with its MAC as destination.
        flow(
            round,
            c,
            o,
            table::L3_FORWARD,
            priority::POD,
            Match::new().with(eth_type(0x0800)).with(OxmField::new(fields::IPV4_DST, pod.ip.octets())),
            vec![
                Instruction::ApplyActions(vec![
                    Action::SetField(OxmField::new(fields::ETH_DST, pod.mac)),
                    Action::SetField(OxmField::new(fields::reg(REG_OUT_PORT), o.to_be_bytes())),
                ]),
                Instruction::GotoTable(table::L2_OUTPUT),
            ],
        ),
        // L2: output.
        flow(
            round,
            c,
            o,
            table::L2_OUTPUT,
            priority::POD,
            Match::new().with(OxmField::new(fields::reg(REG_OUT_PORT), o.to_be_bytes())),
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(o))])],
        ),
    ]
}

/// Deletes that together remove podflow's flows of every round except
/// `current`, and nothing else: for each bit of the round number, one
/// cookie-masked delete matches the rounds that agree with `current` on the
/// higher bits and differ on that bit. Sixteen deletes, no dump of the table
/// needed, foreign flows (without the magic) never matched.
pub fn delete_other_rounds(current: u16) -> Vec<FlowMod> {
    (0..16u32)
        .map(|bit| {
            let high_mask: u16 = !((1u16 << bit) - 1); // bits bit..15
            let round = (current ^ (1 << bit)) & high_mask;
            FlowMod {
                command: FlowModCommand::DELETE,
                table_id: podflow_proto::openflow::flow::TABLE_ALL,
                cookie: (round as u64) << cookie::ROUND_SHIFT | cookie::MAGIC << cookie::MAGIC_SHIFT,
                cookie_mask: (high_mask as u64) << cookie::ROUND_SHIFT | cookie::MAGIC_MASK,
                ..FlowMod::default()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> PodPort {
        PodPort { ofport: 7, mac: [2, 0, 0, 0, 0, 7], ip: Ipv4Addr::new(198, 18, 0, 7) }
    }

    #[test]
    fn six_flows_per_pod_all_valid_and_tagged() {
        let flows = pod_flows(3, &pod());
        assert_eq!(flows.len(), 6);
        for f in &flows {
            assert!(f.r#match.check_prerequisites().is_ok(), "{f:?}");
            assert!(cookie::is_ours(f.cookie));
            assert_eq!(cookie::round_of(f.cookie), 3);
            assert_eq!(f.cookie & 0xffff_ffff, 7);
        }
    }

    #[test]
    fn other_rounds_deletes_spare_the_current_round_and_foreign_flows() {
        let matches = |c: u64, d: &FlowMod| c & d.cookie_mask == d.cookie;
        for current in [0u16, 1, 2, 0x7fff, 0x8000, 0xfffe, 0xffff, 0x1234] {
            let dels = delete_other_rounds(current);
            for round in [0u16, 1, 2, 3, 0x1233, 0x1234, 0x1235, 0x7fff, 0x8000, 0xfffe, 0xffff] {
                let c = cookie::make(round, cookie::CATEGORY_POD, 77);
                let hits = dels.iter().filter(|d| matches(c, d)).count();
                assert_eq!(hits, (round != current) as usize, "round {round:#x} vs current {current:#x}");
            }
            for foreign in [0u64, 0x1234, 0x7064666c6f776d6b, !(0xff << 32)] {
                assert!(dels.iter().all(|d| !matches(foreign, d)), "{foreign:#x}");
            }
        }
    }

    #[test]
    fn cookie_masks_select_what_they_say() {
        let c = cookie::make(5, cookie::CATEGORY_POD, 42);
        assert_eq!(cookie::round_of(c), 5);
        assert!(!cookie::is_ours(0x1234));
        let hit = |c: u64, dels: &[FlowMod]| dels.iter().any(|d| c & d.cookie_mask == d.cookie);
        // Keeping round 6 removes round 5 and leaves round 6 and foreign cookies.
        let d = delete_other_rounds(6);
        assert!(hit(c, &d));
        assert!(!hit(cookie::make(6, cookie::CATEGORY_POD, 42), &d));
        assert!(!hit(0x0005_0200_0000_002a, &d), "a foreign cookie without the magic must not match");
    }
}
