//! Geneve peers as pure values: which peers get tunnel flows, with which
//! remote address and pod CIDRs ([`desired`]). No switch, no clock.
//!
//! The same conflict rules as the routes ([`super::routes::desired`]): a
//! CIDR that overlaps this node's own or one an earlier peer (by name)
//! claimed is left out and reported. The remote address is the peer's
//! node address of the family of this node's own (the tunnel's outer
//! header has one family); a peer without one is reported.

use super::routes::{self, Skipped};
use super::TrafficMode;
use crate::peers::Peer;
use crate::pipeline::tunnel::PeerTunnel;
use std::net::IpAddr;

/// The tunnels of one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tunnels {
    /// In name order.
    pub peers: Vec<PeerTunnel>,
    pub skipped: Vec<Skipped>,
}

/// The peers `nodes` call for on the node named `me`, whose address
/// towards them is `local`.
pub fn desired(nodes: &[Peer], me: &str, local: IpAddr) -> Tunnels {
    let d = routes::desired(nodes, me, TrafficMode::Geneve, "");
    let mut out = Tunnels { peers: Vec::new(), skipped: d.skipped };
    let mut peers: Vec<&Peer> = nodes.iter().filter(|p| p.name != me).collect();
    peers.sort_by(|a, b| a.name.cmp(&b.name));
    for p in peers {
        let cidrs: Vec<_> = d.owners.iter().filter(|(_, o)| *o == p.name).map(|(c, _)| *c).collect();
        if cidrs.is_empty() {
            continue;
        }
        match p.internal_ips.iter().find(|ip| ip.is_ipv4() == local.is_ipv4()) {
            Some(remote) => out.peers.push(PeerTunnel { name: p.name.clone(), remote: *remote, pod_cidrs: cidrs }),
            None => out.skipped.extend(cidrs.into_iter().map(|cidr| Skipped {
                peer: p.name.clone(),
                cidr,
                reason: format!("the node has no address of the family of this node's {local}"),
            })),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str, cidrs: &[&str], ips: &[&str]) -> Peer {
        Peer { name: name.into(), pod_cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(), internal_ips: ips.iter().map(|i| i.parse().unwrap()).collect() }
    }

    #[test]
    fn peers_get_their_address_of_our_family_and_conflicts_are_skipped() {
        let nodes = vec![
            peer("n1", &["198.18.1.0/24"], &["192.0.2.11"]),
            peer("n2", &["198.18.2.0/24", "fd00:2::/64"], &["2001:db8::12", "192.0.2.12"]),
            peer("n3", &["198.18.1.128/25"], &["192.0.2.13"]),
            peer("n4", &["198.18.4.0/24"], &["2001:db8::14"]),
        ];
        let t = desired(&nodes, "n1", "192.0.2.11".parse().unwrap());
        assert_eq!(t.peers, vec![PeerTunnel { name: "n2".into(), remote: "192.0.2.12".parse().unwrap(), pod_cidrs: vec!["198.18.2.0/24".parse().unwrap(), "fd00:2::/64".parse().unwrap()] }]);
        let skipped: Vec<&str> = t.skipped.iter().map(|s| s.peer.as_str()).collect();
        assert_eq!(skipped, ["n3", "n4"]);
    }
}
