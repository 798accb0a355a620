//! Geneve mode (`--traffic-mode geneve`): the pod bridge's flows towards
//! each peer's pods and the classification of what arrives from the
//! tunnel. Pure values: no sockets, no clocks, no state.
//!
//! - Out: a packet to a peer's pod CIDR (table 30, above the default route,
//!   below local pods) gets `tun_dst` = the peer's node address and leaves
//!   through the tunnel port (`options:remote_ip=flow`).
//! - In: the tunnel port leads to table 5 only. There a packet passes only
//!   when its outer source (`tun_src`) is a known peer's node address, its
//!   inner source lies inside *that* peer's pod CIDR and its inner
//!   destination inside this node's; anything else is dropped (the spoof
//!   guard). It then takes the pod pipeline's path from conntrack on (table
//!   25 → 26 → 30 → 40), so it is delivered to local pods by destination,
//!   with this node's gateway MAC as source, as routed traffic is.
//! - The host: ARP from the gateway port for an address in a peer's IPv4
//!   pod CIDR is answered with [`PEER_MAC`] (table 20), so the node's
//!   routes `PEER_CIDR dev <gateway>` need no neighbour per remote pod.
//!
//! Cookie category [`cookie::CATEGORY_PEER`]; object [`peer_object`] of
//! the peer's name, 0 for the tunnel port's own flows ([`tunnel_flows`]).
//! The flows are described in `docs/pipeline.md`; keep the two in step.

use super::cookie;
use super::pod::{eth_type, flow, goto, in_port, priority, table, Gateway, ETH_ARP, ETH_IPV4, ETH_IPV6, REG_OUT_PORT};
use ipnet::IpNet;
use podflow_proto::openflow::action::{Action, Subfield};
use podflow_proto::openflow::flow::{FlowModCommand, TABLE_ALL};
use podflow_proto::openflow::oxm::{fields, Match, OxmField};
use podflow_proto::openflow::{FlowMod, Instruction, PortNo};
use std::net::IpAddr;

/// The tunnel port's OpenFlow number (`ofport_request`; the gateway has 2,
/// pods start at 10).
pub const TUNNEL_OFPORT: u16 = 3;

/// Geneve over IPv4 adds 50 bytes to a pod's frame: outer IPv4 (20), UDP
/// (8), Geneve header without options (8) and the inner Ethernet header
/// (14). Over IPv6 the outer header is 40 bytes: 70.
pub const GENEVE_OVERHEAD_V4: u32 = 50;
pub const GENEVE_OVERHEAD_V6: u32 = 70;

/// The MAC the pipeline answers the node's ARP for remote pods with
/// (locally administered; never on a wire: the tunnel carries the inner
/// frame and the receiving side rewrites both MACs).
pub const PEER_MAC: [u8; 6] = [0x02, 0x70, 0x66, 0x70, 0x65, 0x72];

/// Register holding the ARP target while the responder swaps addresses.
const REG_ARP_SWAP: u8 = 2;

/// This node's side of the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelPort {
    pub ofport: u32,
    pub gateway: Gateway,
    /// This node's pod CIDRs (inner destinations accepted from the tunnel).
    pub own_cidrs: Vec<IpNet>,
}

/// One peer as the tunnel flows need it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PeerTunnel {
    pub name: String,
    /// The peer's node address: `tun_dst` towards it, `tun_src` from it.
    pub remote: IpAddr,
    /// Its pod CIDRs (host bits cleared), at most one per family.
    pub pod_cidrs: Vec<IpNet>,
}

/// The cookie object of a peer's flows: a 32-bit FNV-1a hash of its name,
/// never 0 (the tunnel port's own flows). Two names may collide; that is
/// harmless because a sync deletes and re-adds in one ordered bundle.
pub fn peer_object(name: &str) -> u32 {
    let h = name.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    h.max(1)
}

fn cidr_field(net: &IpNet, src: bool) -> OxmField {
    let (id, value, mask): (_, Vec<u8>, Vec<u8>) = match net {
        IpNet::V4(n) => (if src { fields::IPV4_SRC } else { fields::IPV4_DST }, n.network().octets().into(), n.netmask().octets().into()),
        IpNet::V6(n) => (if src { fields::IPV6_SRC } else { fields::IPV6_DST }, n.network().octets().into(), n.netmask().octets().into()),
    };
    if net.prefix_len() == net.max_prefix_len() {
        OxmField::new(id, value)
    } else {
        OxmField::masked(id, value, mask)
    }
}

fn family(net: &IpNet) -> u16 {
    if net.addr().is_ipv4() {
        ETH_IPV4
    } else {
        ETH_IPV6
    }
}

fn tun_field(addr: IpAddr, dst: bool) -> OxmField {
    match addr {
        IpAddr::V4(a) => OxmField::new(if dst { fields::TUN_DST } else { fields::TUN_SRC }, a.octets()),
        IpAddr::V6(a) => OxmField::new(if dst { fields::TUN_IPV6_DST } else { fields::TUN_IPV6_SRC }, a.octets()),
    }
}

fn copy(field_src: podflow_proto::openflow::oxm::OxmId, field_dst: podflow_proto::openflow::oxm::OxmId, n_bits: u16) -> Action {
    Action::CopyField { n_bits, src: Subfield { field: field_src, ofs: 0, n_bits }, dst: Subfield { field: field_dst, ofs: 0, n_bits } }
}

/// The tunnel port's own flows (object 0): it leads to [`table::TUNNEL_IN`]
/// only, whose table-miss drops; output to it once chosen in `reg1`.
pub fn tunnel_flows(round: u16, t: &TunnelPort) -> Vec<FlowMod> {
    let c = cookie::CATEGORY_PEER;
    vec![
        flow(round, c, 0, table::CLASSIFY, priority::GATEWAY, Match::new().with(in_port(t.ofport)), goto(table::TUNNEL_IN)),
        flow(round, c, 0, table::TUNNEL_IN, priority::MISS, Match::new(), vec![]),
        flow(
            round,
            c,
            0,
            table::L2_OUTPUT,
            priority::GATEWAY,
            Match::new().with(OxmField::new(fields::reg(REG_OUT_PORT), t.ofport.to_be_bytes())),
            vec![Instruction::ApplyActions(vec![Action::output(PortNo(t.ofport))])],
        ),
    ]
}

/// One peer's flows: per pod CIDR, the way out (table 30) and the way in
/// (table 5, one flow per own pod CIDR of the same family); for an IPv4
/// CIDR also the ARP answer to the node (table 20).
pub fn peer_flows(round: u16, t: &TunnelPort, p: &PeerTunnel) -> Vec<FlowMod> {
    let c = cookie::CATEGORY_PEER;
    let o = peer_object(&p.name);
    let mut v = Vec::new();
    for cidr in &p.pod_cidrs {
        // Out: to the peer's node through the tunnel.
        v.push(flow(
            round,
            c,
            o,
            table::L3_FORWARD,
            priority::PEER,
            Match::new().with(eth_type(family(cidr))).with(cidr_field(cidr, false)),
            vec![
                Instruction::ApplyActions(vec![
                    Action::SetField(tun_field(p.remote, true)),
                    Action::SetField(OxmField::new(fields::reg(REG_OUT_PORT), t.ofport.to_be_bytes())),
                ]),
                Instruction::GotoTable(table::L2_OUTPUT),
            ],
        ));
        // In: only from the peer's node address, only from its pods, only to ours.
        for own in t.own_cidrs.iter().filter(|own| own.addr().is_ipv4() == cidr.addr().is_ipv4()) {
            v.push(flow(
                round,
                c,
                o,
                table::TUNNEL_IN,
                priority::POD,
                Match::new().with(tun_field(p.remote, false)).with(eth_type(family(cidr))).with(cidr_field(cidr, true)).with(cidr_field(own, false)),
                vec![Instruction::ApplyActions(vec![Action::SetField(OxmField::new(fields::ETH_SRC, t.gateway.mac))]), Instruction::GotoTable(table::CONNTRACK)],
            ));
        }
        if let IpNet::V4(n) = cidr {
            // The node's ARP for a remote pod (its route points into the
            // gateway): answered here with PEER_MAC, back out of the gateway.
            let tpa = OxmField::masked(fields::ARP_TPA, n.network().octets(), n.netmask().octets());
            v.push(flow(
                round,
                c,
                o,
                table::ARP,
                priority::PEER,
                Match::new().with(eth_type(ETH_ARP)).with(in_port(t.gateway.ofport)).with(OxmField::new(fields::ARP_OP, 1u16.to_be_bytes())).with(tpa),
                vec![Instruction::ApplyActions(vec![
                    copy(fields::ETH_SRC, fields::ETH_DST, 48),
                    Action::SetField(OxmField::new(fields::ETH_SRC, PEER_MAC)),
                    Action::SetField(OxmField::new(fields::ARP_OP, 2u16.to_be_bytes())),
                    copy(fields::ARP_SHA, fields::ARP_THA, 48),
                    Action::SetField(OxmField::new(fields::ARP_SHA, PEER_MAC)),
                    copy(fields::ARP_TPA, fields::reg(REG_ARP_SWAP), 32),
                    copy(fields::ARP_SPA, fields::ARP_TPA, 32),
                    copy(fields::reg(REG_ARP_SWAP), fields::ARP_SPA, 32),
                    Action::output(PortNo::IN_PORT),
                ])],
            ));
        }
    }
    v
}

/// Deletes one object's peer flows (any round) and nothing else.
pub fn delete_object(object: u32) -> FlowMod {
    FlowMod {
        command: FlowModCommand::DELETE,
        table_id: TABLE_ALL,
        cookie: cookie::make(0, cookie::CATEGORY_PEER, object),
        cookie_mask: cookie::OBJECT_MASK,
        ..FlowMod::default()
    }
}

/// The whole sync of the peers, one ordered atomic bundle: delete the
/// objects of peers that left or changed (`gone`), then add the tunnel
/// port's flows and every peer's. Adding what is there already only
/// refreshes its cookie (the round).
pub fn sync_bundle(round: u16, t: &TunnelPort, gone: &[u32], peers: &[PeerTunnel]) -> Vec<FlowMod> {
    let mut v: Vec<FlowMod> = gone.iter().map(|&o| delete_object(o)).collect();
    v.extend(tunnel_flows(round, t));
    for p in peers {
        v.extend(peer_flows(round, t, p));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn port() -> TunnelPort {
        TunnelPort {
            ofport: 3,
            gateway: Gateway::v4(2, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(198, 18, 1, 1)),
            own_cidrs: vec!["198.18.1.0/24".parse().unwrap(), "fd00:1::/64".parse().unwrap()],
        }
    }

    fn peer() -> PeerTunnel {
        PeerTunnel { name: "n2".into(), remote: "192.0.2.12".parse().unwrap(), pod_cidrs: vec!["198.18.2.0/24".parse().unwrap(), "fd00:2::/64".parse().unwrap()] }
    }

    #[test]
    fn every_flow_is_valid_and_tagged_with_the_peer() {
        let f = peer_flows(7, &port(), &peer());
        // IPv4: out, in, ARP; IPv6: out, in.
        assert_eq!(f.len(), 5);
        for x in &f {
            assert!(x.r#match.check_prerequisites().is_ok(), "{x:?}");
            assert_eq!(x.cookie, cookie::make(7, cookie::CATEGORY_PEER, peer_object("n2")));
        }
        for x in tunnel_flows(7, &port()) {
            assert!(x.r#match.check_prerequisites().is_ok(), "{x:?}");
            assert_eq!(x.cookie, cookie::make(7, cookie::CATEGORY_PEER, 0));
        }
    }

    #[test]
    fn the_way_in_names_the_peers_address_its_cidr_and_ours() {
        let f = peer_flows(1, &port(), &peer());
        let ins: Vec<&FlowMod> = f.iter().filter(|x| x.table_id == table::TUNNEL_IN).collect();
        assert_eq!(ins.len(), 2);
        let m = &ins[0].r#match;
        assert_eq!(m.get(fields::TUN_SRC).unwrap().value, vec![192, 0, 2, 12]);
        assert_eq!(m.get(fields::IPV4_SRC).unwrap().value, vec![198, 18, 2, 0]);
        assert_eq!(m.get(fields::IPV4_SRC).unwrap().mask.as_deref(), Some(&[255, 255, 255, 0][..]));
        assert_eq!(m.get(fields::IPV4_DST).unwrap().value, vec![198, 18, 1, 0]);
        // A peer with only an IPv4 CIDR gets no IPv6 way in.
        let v4 = PeerTunnel { pod_cidrs: vec!["198.18.2.0/24".parse().unwrap()], ..peer() };
        assert_eq!(peer_flows(1, &port(), &v4).len(), 3);
    }

    #[test]
    fn objects_differ_by_name_and_deletes_spare_other_peers_and_foreign_flows() {
        assert_ne!(peer_object("n2"), peer_object("n3"));
        assert_ne!(peer_object(""), 0);
        let d = delete_object(peer_object("n2"));
        let hits = |c: u64| c & d.cookie_mask == d.cookie;
        assert!(hits(cookie::make(9, cookie::CATEGORY_PEER, peer_object("n2"))));
        assert!(!hits(cookie::make(9, cookie::CATEGORY_PEER, peer_object("n3"))));
        assert!(!hits(cookie::make(9, cookie::CATEGORY_POD, peer_object("n2"))));
        assert!(!hits(peer_object("n2") as u64), "a foreign cookie without the magic");
        let b = sync_bundle(2, &port(), &[5], &[peer()]);
        assert_eq!(b[0].command, FlowModCommand::DELETE);
        assert_eq!(b.len(), 1 + 3 + 5);
    }
}
