//! The other nodes of the cluster ("peers"): who they are, where their pods
//! live, how to reach them.
//!
//! This module owns the peer *sources* (a JSON file, the Kubernetes `Node`
//! objects) and the persisted last complete list. It never programs the
//! switch or the kernel: the agent turns a [`PeerSnapshot`] into flows and
//! routes.

use ipnet::IpNet;
use std::net::IpAddr;
use std::sync::Arc;

/// One node of the cluster as a peer source describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Peer {
    /// The node's name (`metadata.name`).
    pub name: String,
    /// The node's pod CIDRs, at most one per family (`spec.podCIDRs`).
    #[serde(rename = "podCIDRs")]
    pub pod_cidrs: Vec<IpNet>,
    /// The node's addresses towards its peers (`status.addresses` InternalIP).
    #[serde(rename = "internalIPs")]
    pub internal_ips: Vec<IpAddr>,
}

/// What a source knows at one moment. `complete` is false until the source
/// has read one whole list (the file once, or the first Kubernetes LIST);
/// the flow-restore-wait gate waits for a complete snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerSnapshot {
    pub complete: bool,
    /// Every node the source lists, this node included, sorted by name.
    pub nodes: Arc<Vec<Peer>>,
}
