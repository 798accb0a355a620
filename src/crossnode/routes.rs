//! Peer routes as pure values: the routes a peer snapshot calls for
//! ([`desired`]) and what to change so the kernel holds exactly those
//! ([`diff`]). No netlink, no clock.
//!
//! - `noencap`: one route per peer pod CIDR via the peer's node address of
//!   the same family (the peers share the underlay link, so the address is
//!   on-link);
//! - `geneve`: one route per peer pod CIDR into the pod bridge's gateway
//!   port, so that the host's own traffic to remote pods enters the tunnel.
//!
//! A CIDR that overlaps this node's own pod CIDRs, or one that an earlier
//! peer (by name) already claimed, is left out and reported: two routes
//! for one destination would make the kernel choose, silently.

use super::TrafficMode;
use crate::peers::Peer;
use ipnet::IpNet;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Where a peer route sends its packets.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHop {
    /// Via the peer's node address (noencap).
    Via(IpAddr),
    /// Straight out of a local device (geneve: the gateway port).
    Dev(String),
}

/// One route podflow owns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerRoute {
    pub dst: IpNet,
    pub next: NextHop,
}

impl std::fmt::Display for PeerRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.next {
            NextHop::Via(ip) => write!(f, "{} via {ip}", self.dst),
            NextHop::Dev(d) => write!(f, "{} dev {d}", self.dst),
        }
    }
}

/// A peer entry that yields no route, and why (logged and shown by
/// `podflow nodes`; never fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub peer: String,
    pub cidr: IpNet,
    pub reason: String,
}

/// What the routes of one snapshot are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub routes: BTreeSet<PeerRoute>,
    /// For each route's destination, the peer it serves.
    pub owners: Vec<(IpNet, String)>,
    pub skipped: Vec<Skipped>,
}

/// The routes `nodes` call for on the node named `me`.
///
/// `gateway_dev` is the pod bridge's gateway port (used by `geneve`).
/// This node's own entry gives its pod CIDRs (never routed); peers are
/// taken in name order, so a conflict always resolves the same way.
pub fn desired(nodes: &[Peer], me: &str, mode: TrafficMode, gateway_dev: &str) -> Desired {
    let own: Vec<IpNet> = nodes.iter().filter(|p| p.name == me).flat_map(|p| p.pod_cidrs.iter().copied()).collect();
    let mut peers: Vec<&Peer> = nodes.iter().filter(|p| p.name != me).collect();
    peers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Desired::default();
    let mut claimed: Vec<(IpNet, &str)> = Vec::new();
    for peer in peers {
        for cidr in &peer.pod_cidrs {
            let cidr = cidr.trunc();
            let skip = |reason: String| Skipped { peer: peer.name.clone(), cidr, reason };
            if let Some(o) = own.iter().find(|o| overlaps(o, &cidr)) {
                out.skipped.push(skip(format!("overlaps this node's pod CIDR {o}")));
                continue;
            }
            if let Some((c, by)) = claimed.iter().find(|(c, _)| overlaps(c, &cidr)) {
                out.skipped.push(skip(format!("overlaps {c} of node {by}")));
                continue;
            }
            let next = match mode {
                TrafficMode::NoEncap => match peer.internal_ips.iter().find(|ip| ip.is_ipv4() == cidr.addr().is_ipv4()) {
                    Some(ip) if cidr.contains(ip) => {
                        out.skipped.push(skip(format!("the node address {ip} lies inside it")));
                        continue;
                    }
                    Some(ip) => NextHop::Via(*ip),
                    None => {
                        out.skipped.push(skip("the node has no address of that family".into()));
                        continue;
                    }
                },
                TrafficMode::Geneve => NextHop::Dev(gateway_dev.to_string()),
            };
            claimed.push((cidr, &peer.name));
            out.owners.push((cidr, peer.name.clone()));
            out.routes.insert(PeerRoute { dst: cidr, next });
        }
    }
    out
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The changes that turn `installed` (podflow's routes in the kernel) into
/// `desired`. Deletions come first: a peer whose address changed keeps its
/// destination, and the kernel refuses a second route to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub delete: Vec<PeerRoute>,
    pub add: Vec<PeerRoute>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.delete.is_empty() && self.add.is_empty()
    }
}

pub fn diff(desired: &BTreeSet<PeerRoute>, installed: &[PeerRoute]) -> Plan {
    let have: BTreeSet<&PeerRoute> = installed.iter().collect();
    let mut seen = BTreeSet::new();
    Plan {
        // A duplicate of a desired route (two identical kernel entries
        // cannot exist, but a listing may repeat) is deleted only once.
        delete: installed.iter().filter(|r| !desired.contains(*r) && seen.insert(*r)).cloned().collect(),
        add: desired.iter().filter(|r| !have.contains(r)).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str, cidrs: &[&str], ips: &[&str]) -> Peer {
        Peer { name: name.into(), pod_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(), internal_ips: ips.iter().map(|i| i.parse().unwrap()).collect() }
    }

    fn route(dst: &str, via: &str) -> PeerRoute {
        PeerRoute { dst: dst.parse().unwrap(), next: NextHop::Via(via.parse().unwrap()) }
    }

    fn three() -> Vec<Peer> {
        vec![
            peer("n1", &["198.18.1.0/24"], &["192.0.2.1"]),
            peer("n2", &["198.18.2.0/24", "fd00:2::/64"], &["192.0.2.2", "2001:db8::2"]),
            peer("n3", &["198.18.3.0/24"], &["192.0.2.3"]),
        ]
    }

    #[test]
    fn noencap_routes_every_peer_cidr_via_its_address_of_the_same_family() {
        let d = desired(&three(), "n1", TrafficMode::NoEncap, "pfgw-br-int");
        let want: BTreeSet<_> = [route("198.18.2.0/24", "192.0.2.2"), route("fd00:2::/64", "2001:db8::2"), route("198.18.3.0/24", "192.0.2.3")].into();
        assert_eq!(d.routes, want);
        assert!(d.skipped.is_empty());
    }

    #[test]
    fn geneve_routes_into_the_gateway() {
        let d = desired(&three(), "n2", TrafficMode::Geneve, "pfgw-br-int");
        assert_eq!(d.routes.len(), 2);
        assert!(d.routes.iter().all(|r| r.next == NextHop::Dev("pfgw-br-int".into())));
    }

    #[test]
    fn conflicts_and_missing_addresses_are_skipped_and_reported() {
        let mut nodes = three();
        nodes.push(peer("n0", &["198.18.3.128/25"], &["192.0.2.9"])); // claims part of n3's CIDR first (name order)
        nodes.push(peer("n4", &["198.18.1.0/25"], &["192.0.2.4"])); // inside n1's own CIDR
        nodes.push(peer("n5", &["fd00:5::/64"], &["192.0.2.5"])); // no IPv6 address
        nodes.push(peer("n6", &["192.0.2.0/24"], &["192.0.2.6"])); // its own address inside
        let d = desired(&nodes, "n1", TrafficMode::NoEncap, "gw");
        let skipped: Vec<&str> = d.skipped.iter().map(|s| s.peer.as_str()).collect();
        assert_eq!(skipped, ["n3", "n4", "n5", "n6"]);
        assert!(d.routes.contains(&route("198.18.3.128/25", "192.0.2.9")));
        assert!(!d.routes.iter().any(|r| r.dst.to_string() == "198.18.3.0/24"));
    }

    #[test]
    fn host_bits_are_cleared() {
        let d = desired(&[peer("a", &["198.18.7.9/24"], &["192.0.2.7"])], "me", TrafficMode::NoEncap, "gw");
        assert_eq!(d.routes.iter().next().unwrap().dst.to_string(), "198.18.7.0/24");
    }

    #[test]
    fn diff_deletes_stale_and_changed_routes_first_and_adds_the_missing() {
        let want: BTreeSet<_> = [route("198.18.2.0/24", "192.0.2.2"), route("198.18.3.0/24", "192.0.2.33")].into();
        let have = vec![route("198.18.2.0/24", "192.0.2.2"), route("198.18.3.0/24", "192.0.2.3"), route("198.18.9.0/24", "192.0.2.9")];
        let p = diff(&want, &have);
        assert_eq!(p.delete, vec![route("198.18.3.0/24", "192.0.2.3"), route("198.18.9.0/24", "192.0.2.9")]);
        assert_eq!(p.add, vec![route("198.18.3.0/24", "192.0.2.33")]);
        assert!(diff(&want, &want.iter().cloned().collect::<Vec<_>>()).is_empty());
    }

    #[test]
    fn an_empty_snapshot_deletes_everything_podflow_owns() {
        let have = vec![route("198.18.2.0/24", "192.0.2.2")];
        assert_eq!(diff(&BTreeSet::new(), &have).delete, have);
    }
}
