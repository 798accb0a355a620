//! The pod forwarding pipeline: tables, priorities, and the pure functions
//! that build the base flows and each pod's flows.
//!
//! Everything here is a value computation: no sockets, no clocks, no state.
//! The tables are described in `docs/pipeline.md`; keep the two in step.

use podflow_proto::openflow::action::Action;
use podflow_proto::openflow::flow::FlowModCommand;
use podflow_proto::openflow::oxm::{fields, Match, OxmField};
use podflow_proto::openflow::{FlowMod, Instruction, PortNo};
use std::net::{Ipv4Addr, Ipv6Addr};

use super::cookie;

/// Pipeline tables, in the order a packet walks them.
pub mod table {
    /// Classification by in_port; a pod port only with its own MAC.
    pub const CLASSIFY: u8 = 0;
    /// Geneve mode: what arrives from the tunnel, only from a known peer's
    /// node address with an inner source inside that peer's pod CIDR
    /// (flows in `tunnel.rs`).
    pub const TUNNEL_IN: u8 = 5;
    /// IP and ARP spoof guard: a pod sends only from its own IP (IPv4,
    /// IPv6, its link-local address, or `::` for duplicate address detection).
    pub const SPOOF_GUARD: u8 = 10;
    /// Neighbor Discovery guard (IPv6 from pods only): solicitations and
    /// advertisements must carry the pod's own MAC, advertisements only for
    /// the pod's own addresses; router advertisements and redirects dropped.
    pub const ND_GUARD: u8 = 12;
    /// ARP and ND: requests/replies and neighbor solicitations are
    /// delivered to the owner of the target address.
    pub const ARP: u8 = 20;
    /// Conntrack in podflow's zone, for IPv4 and IPv6 (flows in `service.rs`).
    pub const CONNTRACK: u8 = 25;
    /// After conntrack: commit connections from the gateway, send their
    /// replies back to it (flows in `service.rs`).
    pub const CONNTRACK_STATE: u8 = 26;
    /// L3: local pods by destination IP (v4 or v6), everything else to the gateway.
    pub const L3_FORWARD: u8 = 30;
    /// L2: output to the port chosen earlier (in `reg1`).
    pub const L2_OUTPUT: u8 = 40;
}

/// Priorities inside each table.
pub mod priority {
    pub const POD: u16 = 200;
    pub const GATEWAY: u16 = 190;
    /// Geneve mode: a peer's pod CIDR in L3 forwarding (below a local pod,
    /// above the default route), and ARP for it from the gateway.
    pub const PEER: u16 = 100;
    /// ND messages from pods that no pod flow allowed (table `ND_GUARD`): drop.
    pub const ND_DENY: u16 = 100;
    pub const DEFAULT_ROUTE: u16 = 10;
    /// Table-miss: drop.
    pub const MISS: u16 = 0;
}

/// Register that carries the output port between tables.
pub const REG_OUT_PORT: u8 = 1;

pub(super) const ETH_IPV4: u16 = 0x0800;
pub(super) const ETH_ARP: u16 = 0x0806;
pub(super) const ETH_IPV6: u16 = 0x86dd;
const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 types of Neighbor Discovery (RFC 4861).
pub mod icmp6 {
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
}

/// What the pipeline needs to know about a pod: at least one address
/// (one per family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPort {
    pub ofport: u32,
    pub mac: [u8; 6],
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

impl PodPort {
    /// An IPv4-only pod.
    pub fn v4(ofport: u32, mac: [u8; 6], ip: Ipv4Addr) -> PodPort {
        PodPort { ofport, mac, ipv4: Some(ip), ipv6: None }
    }
}

/// The node's gateway port (an internal port holding the first address of
/// each pod CIDR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    pub ofport: u32,
    pub mac: [u8; 6],
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
}

impl Gateway {
    /// A gateway of an IPv4-only node.
    pub fn v4(ofport: u32, mac: [u8; 6], ip: Ipv4Addr) -> Gateway {
        Gateway { ofport, mac, ipv4: Some(ip), ipv6: None }
    }
}

/// The link-local address Linux gives an interface with this MAC
/// (`fe80::/64` with the modified EUI-64 interface id, RFC 4291 appendix A;
/// `addr_gen_mode` 0, the default).
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]])
}

pub(super) fn flow(round: u16, category: u8, object: u32, table_id: u8, priority: u16, m: Match, instructions: Vec<Instruction>) -> FlowMod {
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

pub(super) fn goto(t: u8) -> Vec<Instruction> {
    vec![Instruction::GotoTable(t)]
}

pub(super) fn in_port(p: u32) -> OxmField {
    OxmField::new(fields::IN_PORT, p.to_be_bytes())
}

pub(super) fn eth_type(t: u16) -> OxmField {
    OxmField::new(fields::ETH_TYPE, t.to_be_bytes())
}

/// `icmp6,icmp_type=T` (with its prerequisites).
fn icmp6(t: u8) -> Match {
    Match::new()
        .with(eth_type(ETH_IPV6))
        .with(OxmField::new(fields::IP_PROTO, [IPPROTO_ICMPV6]))
        .with(OxmField::new(fields::ICMPV6_TYPE, [t]))
}

pub(super) fn set_out_port_and_goto(port: u32, next: u8) -> Vec<Instruction> {
    vec![
        Instruction::ApplyActions(vec![Action::SetField(OxmField::new(fields::reg(REG_OUT_PORT), port.to_be_bytes()))]),
        Instruction::GotoTable(next),
    ]
}

/// Rewrite the destination MAC, choose the output port, go to L2 output.
fn route_to(mac: [u8; 6], port: u32) -> Vec<Instruction> {
    vec![
        Instruction::ApplyActions(vec![
            Action::SetField(OxmField::new(fields::ETH_DST, mac)),
            Action::SetField(OxmField::new(fields::reg(REG_OUT_PORT), port.to_be_bytes())),
        ]),
        Instruction::GotoTable(table::L2_OUTPUT),
    ]
}

/// The base pipeline: one table-miss drop per table, the gateway's flows
/// and the conntrack tables of [`super::service`]. The IPv6 part (the ND guard table, ND for the gateway, the IPv6
/// default route) is there only when the gateway has an IPv6 address; the
/// IPv4 part only when it has an IPv4 address.
pub fn base_flows(round: u16, gw: &Gateway) -> Vec<FlowMod> {
    let c = cookie::CATEGORY_BASE;
    let mut tables = vec![table::CLASSIFY, table::SPOOF_GUARD, table::ARP, table::L3_FORWARD, table::L2_OUTPUT];
    if gw.ipv6.is_some() {
        tables.insert(2, table::ND_GUARD);
    }
    let mut v: Vec<FlowMod> = tables.into_iter().map(|t| flow(round, c, 0, t, priority::MISS, Match::new(), vec![])).collect();
    let gw_obj = gw.ofport;
    v.push(flow(round, c, gw_obj, table::CLASSIFY, priority::GATEWAY, Match::new().with(in_port(gw.ofport)), goto(table::SPOOF_GUARD)));
    v.push(flow(round, c, gw_obj, table::SPOOF_GUARD, priority::GATEWAY, Match::new().with(in_port(gw.ofport)), goto(table::ARP)));
    if let Some(ip) = gw.ipv4 {
        // ARP for the gateway address goes to the gateway port.
        v.push(flow(
            round,
            c,
            gw_obj,
            table::ARP,
            priority::GATEWAY,
            Match::new().with(eth_type(ETH_ARP)).with(OxmField::new(fields::ARP_TPA, ip.octets())),
            set_out_port_and_goto(gw.ofport, table::L2_OUTPUT),
        ));
    }
    if let Some(ip) = gw.ipv6 {
        // Neighbor solicitations for the gateway's address go to the
        // gateway port (its kernel answers them).
        v.push(flow(
            round,
            c,
            gw_obj,
            table::ARP,
            priority::GATEWAY,
            icmp6(icmp6::NEIGHBOR_SOLICIT).with(OxmField::new(fields::ND_TARGET, ip.octets())),
            set_out_port_and_goto(gw.ofport, table::L2_OUTPUT),
        ));
        // ND guard: ND messages from pods that no pod flow allowed, router
        // advertisements and redirects are dropped; other IPv6 goes on.
        for t in [icmp6::ROUTER_ADVERT, icmp6::NEIGHBOR_SOLICIT, icmp6::NEIGHBOR_ADVERT, icmp6::REDIRECT] {
            v.push(flow(round, c, 0, table::ND_GUARD, priority::ND_DENY, icmp6(t), vec![]));
        }
        v.push(flow(round, c, 0, table::ND_GUARD, priority::DEFAULT_ROUTE, Match::new().with(eth_type(ETH_IPV6)), goto(table::ARP)));
    }
    // Anything that is not ARP/ND for a known target continues to
    // conntrack, then L3.
    v.push(flow(round, c, 0, table::ARP, priority::DEFAULT_ROUTE, Match::new(), goto(table::CONNTRACK)));
    // IP not for a local pod: to the gateway (the node's stack routes it).
    if gw.ipv4.is_some() {
        v.push(flow(round, c, gw_obj, table::L3_FORWARD, priority::DEFAULT_ROUTE, Match::new().with(eth_type(ETH_IPV4)), route_to(gw.mac, gw.ofport)));
    }
    if gw.ipv6.is_some() {
        v.push(flow(round, c, gw_obj, table::L3_FORWARD, priority::DEFAULT_ROUTE, Match::new().with(eth_type(ETH_IPV6)), route_to(gw.mac, gw.ofport)));
    }
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

/// The flows of one pod: 6 for an IPv4-only pod (as before IPv6 existed),
/// 14 more for its IPv6 address.
pub fn pod_flows(round: u16, pod: &PodPort) -> Vec<FlowMod> {
    let c = cookie::CATEGORY_POD;
    let o = pod.ofport;
    let mac = OxmField::new(fields::ETH_SRC, pod.mac);
    let f = |t: u8, m: Match, i: Vec<Instruction>| flow(round, c, o, t, priority::POD, m, i);
    // Classification: the pod's port, with the pod's own source MAC only.
    let mut v = vec![f(table::CLASSIFY, Match::new().with(in_port(o)).with(mac.clone()), goto(table::SPOOF_GUARD))];
    if let Some(ip) = pod.ipv4 {
        // Spoof guard, IP: the pod's own source address only.
        v.push(f(table::SPOOF_GUARD, Match::new().with(in_port(o)).with(eth_type(ETH_IPV4)).with(OxmField::new(fields::IPV4_SRC, ip.octets())), goto(table::ARP)));
        // Spoof guard, ARP: sender address and sender MAC must be the pod's.
        v.push(f(
            table::SPOOF_GUARD,
            Match::new()
                .with(in_port(o))
                .with(eth_type(ETH_ARP))
                .with(OxmField::new(fields::ARP_SPA, ip.octets()))
                .with(OxmField::new(fields::ARP_SHA, pod.mac)),
            goto(table::ARP),
        ));
        // ARP for the pod's address is delivered to the pod.
        v.push(f(table::ARP, Match::new().with(eth_type(ETH_ARP)).with(OxmField::new(fields::ARP_TPA, ip.octets())), set_out_port_and_goto(o, table::L2_OUTPUT)));
        // L3: IP to the pod's address, with its MAC as destination.
        v.push(f(table::L3_FORWARD, Match::new().with(eth_type(ETH_IPV4)).with(OxmField::new(fields::IPV4_DST, ip.octets())), route_to(pod.mac, o)));
    }
    if let Some(ip) = pod.ipv6 {
        let own = [ip, link_local(pod.mac)];
        let nd_target = |a: Ipv6Addr| OxmField::new(fields::ND_TARGET, a.octets());
        for a in own {
            // Spoof guard, IPv6: its address and its link-local address.
            v.push(f(table::SPOOF_GUARD, Match::new().with(in_port(o)).with(eth_type(ETH_IPV6)).with(OxmField::new(fields::IPV6_SRC, a.octets())), goto(table::ND_GUARD)));
        }
        for a in own {
            // Duplicate address detection: a solicitation from `::`, only for its own addresses.
            v.push(f(
                table::SPOOF_GUARD,
                icmp6(icmp6::NEIGHBOR_SOLICIT).with(in_port(o)).with(OxmField::new(fields::IPV6_SRC, Ipv6Addr::UNSPECIFIED.octets())).with(nd_target(a)),
                goto(table::ND_GUARD),
            ));
        }
        // ND guard: a solicitation carries the pod's MAC as source
        // link-layer address, or none (DAD, or a sender that leaves it out).
        for sll in [pod.mac, [0; 6]] {
            v.push(f(table::ND_GUARD, icmp6(icmp6::NEIGHBOR_SOLICIT).with(in_port(o)).with(OxmField::new(fields::ND_SLL, sll)), goto(table::ARP)));
        }
        // An advertisement only for its own addresses, with its MAC as
        // target link-layer address or none (Linux leaves it out when
        // answering a unicast solicitation).
        for a in own {
            for tll in [pod.mac, [0; 6]] {
                v.push(f(
                    table::ND_GUARD,
                    icmp6(icmp6::NEIGHBOR_ADVERT).with(in_port(o)).with(nd_target(a)).with(OxmField::new(fields::ND_TLL, tll)),
                    goto(table::ARP),
                ));
            }
        }
        for a in own {
            // Solicitations are multicast: delivered by their target.
            v.push(f(table::ARP, icmp6(icmp6::NEIGHBOR_SOLICIT).with(nd_target(a)), set_out_port_and_goto(o, table::L2_OUTPUT)));
        }
        for a in own {
            // L3: IPv6 (advertisements included) to its addresses.
            v.push(f(table::L3_FORWARD, Match::new().with(eth_type(ETH_IPV6)).with(OxmField::new(fields::IPV6_DST, a.octets())), route_to(pod.mac, o)));
        }
    }
    // L2: output.
    v.push(f(table::L2_OUTPUT, Match::new().with(OxmField::new(fields::reg(REG_OUT_PORT), o.to_be_bytes())), vec![Instruction::ApplyActions(vec![Action::output(PortNo(o))])]));
    v
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
        PodPort::v4(7, [2, 0, 0, 0, 0, 7], Ipv4Addr::new(198, 18, 0, 7))
    }

    fn dual() -> PodPort {
        PodPort { ipv6: Some("fd00:10::7".parse().unwrap()), ..pod() }
    }

    #[test]
    fn link_local_is_modified_eui64() {
        assert_eq!(link_local([0x22, 0x50, 0x71, 0x4b, 0x38, 0x95]), "fe80::2050:71ff:fe4b:3895".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn ipv6_flows_are_valid_tagged_and_ipv4_keeps_its_six() {
        let v4 = pod_flows(3, &pod());
        let d = pod_flows(3, &dual());
        assert_eq!(d.len(), 6 + 14);
        // The IPv4 flows are the same, in the same order.
        let v4_in_dual: Vec<_> = d.iter().filter(|f| !f.r#match.fields.iter().any(|x| x.id == fields::ETH_TYPE && x.value == ETH_IPV6.to_be_bytes())).cloned().collect();
        assert_eq!(v4_in_dual, v4);
        let v6only = pod_flows(3, &PodPort { ipv4: None, ..dual() });
        assert_eq!(v6only.len(), 2 + 14);
        for f in d.iter().chain(&v6only) {
            assert!(f.r#match.check_prerequisites().is_ok(), "{f:?}");
            assert_eq!(f.cookie, cookie::make(3, cookie::CATEGORY_POD, 7));
        }
        let gw = Gateway::v4(2, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(198, 18, 0, 1));
        let not_service = |f: &&FlowMod| (f.cookie >> cookie::CATEGORY_SHIFT) as u8 != cookie::CATEGORY_SERVICE;
        assert_eq!(base_flows(1, &gw).iter().filter(not_service).count(), 11, "an IPv4-only node's base pipeline is unchanged (the conntrack tables apart)");
        let gw6 = Gateway { ipv6: Some("fd00:10::1".parse().unwrap()), ..gw };
        for f in base_flows(1, &gw6) {
            assert!(f.r#match.check_prerequisites().is_ok(), "{f:?}");
        }
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
