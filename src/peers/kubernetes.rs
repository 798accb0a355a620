//! `--nodes-from kubernetes`: the cluster's `Node` objects through a
//! `kube` runtime watcher (LIST, then WATCH from its resourceVersion with
//! bookmarks; a relist on `410 Gone`; reconnects with the watcher's
//! default backoff). In-cluster service account, or `--kubeconfig`.
//!
//! [`NodeTable`] is the pure part: watcher events in, complete lists out.
//! It never publishes before the first whole LIST (`InitDone`), and a
//! relist replaces the table, so a node deleted while the watch was down
//! disappears too. Nodes that are not usable peers yet (no pod CIDR, no
//! InternalIP) or that conflict with another node are left out and
//! counted, never fatal to the list.

use super::validate::{self, Finding};
use super::{Peer, Publisher};
use futures::StreamExt;
use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A `Node` as a peer: `spec.podCIDRs` (else `spec.podCIDR`), the first
/// `status.addresses` InternalIP of each family.
pub fn to_peer(n: &Node) -> Result<Peer, Finding> {
    let name = n.metadata.name.clone().unwrap_or_default();
    let bad = |why: String| Finding { name: name.clone(), why };
    let spec = n.spec.as_ref();
    let mut cidrs: Vec<String> = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if cidrs.is_empty() {
        cidrs.extend(spec.and_then(|s| s.pod_cidr.clone()));
    }
    let pod_cidrs = cidrs.iter().map(|c| c.parse::<IpNet>().map_err(|_| bad(format!("spec.podCIDRs holds {c:?}, not a CIDR")))).collect::<Result<Vec<_>, _>>()?;
    let mut internal_ips: Vec<IpAddr> = vec![];
    for a in n.status.as_ref().and_then(|s| s.addresses.as_ref()).into_iter().flatten() {
        if a.type_ != "InternalIP" {
            continue;
        }
        let ip: IpAddr = a.address.parse().map_err(|_| bad(format!("InternalIP {:?} is not an address", a.address)))?;
        if !internal_ips.iter().any(|x| x.is_ipv4() == ip.is_ipv4()) {
            internal_ips.push(ip);
        }
    }
    Ok(Peer { name, pod_cidrs, internal_ips })
}

/// The list a table yields: the usable nodes, and what was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub nodes: Vec<Peer>,
    pub skipped: Vec<Finding>,
}

/// Validates `entries` as a whole, leaving out each node a finding names
/// (a conflict names the later node, so the earlier one stays).
fn build(entries: &BTreeMap<String, Result<Peer, Finding>>) -> Built {
    let mut skipped: Vec<Finding> = entries.values().filter_map(|e| e.as_ref().err().cloned()).collect();
    let mut nodes: Vec<Peer> = entries.values().filter_map(|e| e.as_ref().ok().cloned()).collect();
    loop {
        match validate::validate(nodes.clone()) {
            Ok(v) => return Built { nodes: v, skipped },
            Err(f) => {
                nodes.retain(|p| !f.iter().any(|x| x.name == p.name));
                skipped.extend(f);
            }
        }
    }
}

/// The watcher's events folded into a node table (pure).
#[derive(Debug, Default)]
pub struct NodeTable {
    live: BTreeMap<String, Result<Peer, Finding>>,
    /// A LIST in progress (`Init` .. `InitDone`).
    listing: Option<BTreeMap<String, Result<Peer, Finding>>>,
    complete: bool,
}

impl NodeTable {
    /// Takes one event; returns the new list when there is one to publish.
    pub fn on_event(&mut self, e: Event<Node>) -> Option<Built> {
        let key = |n: &Node| n.metadata.name.clone().unwrap_or_default();
        match e {
            Event::Init => {
                self.listing = Some(BTreeMap::new());
                None
            }
            Event::InitApply(n) => {
                self.listing.get_or_insert_with(BTreeMap::new).insert(key(&n), to_peer(&n));
                None
            }
            Event::InitDone => {
                self.live = self.listing.take().unwrap_or_default();
                self.complete = true;
                Some(build(&self.live))
            }
            Event::Apply(n) => {
                self.live.insert(key(&n), to_peer(&n));
                self.complete.then(|| build(&self.live))
            }
            Event::Delete(n) => {
                self.live.remove(&key(&n));
                self.complete.then(|| build(&self.live))
            }
        }
    }
}

/// Why the Kubernetes client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the kubeconfig {path}: {source}")]
    Kubeconfig { path: String, source: kube::config::KubeconfigError },
    #[error("no in-cluster configuration (service account, KUBERNETES_SERVICE_HOST): {0}")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("cannot make a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

async fn client(kubeconfig: &Option<PathBuf>) -> Result<kube::Client, ClientError> {
    let config = match kubeconfig {
        Some(p) => {
            let err = |source| ClientError::Kubeconfig { path: p.display().to_string(), source };
            let kc = kube::config::Kubeconfig::read_from(p).map_err(err)?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await.map_err(err)?
        }
        None => kube::Config::incluster().map_err(ClientError::InCluster)?,
    };
    kube::Client::try_from(config).map_err(ClientError::Client)
}

/// Runs the Kubernetes source until aborted.
pub async fn run(kubeconfig: Option<PathBuf>, publisher: Publisher) {
    let mut delay = Duration::from_millis(500);
    let client = loop {
        match client(&kubeconfig).await {
            Ok(c) => break c,
            Err(e) => {
                publisher.report(format!("{e}; retrying in {delay:?}"));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    let api: kube::Api<Node> = kube::Api::all(client);
    let mut events = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
    let mut table = NodeTable::default();
    let mut last_skipped: Vec<Finding> = vec![];
    while let Some(e) = events.next().await {
        match e {
            Ok(e) => {
                let Some(built) = table.on_event(e) else { continue };
                if built.skipped != last_skipped {
                    for f in &built.skipped {
                        tracing::warn!(node = %f.name, why = %f.why, "node left out of the peer list");
                    }
                    last_skipped = built.skipped.clone();
                }
                publisher.stats().skipped.store(built.skipped.len() as u64, Ordering::Relaxed);
                publisher.publish(built.nodes);
            }
            Err(e) => publisher.report(format!("the watch on Node objects failed: {e}; retrying with backoff")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cidrs: &[&str], ips: &[(&str, &str)]) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "resourceVersion": "1"},
            "spec": {"podCIDRs": cidrs},
            "status": {"addresses": ips.iter().map(|(t, a)| serde_json::json!({"type": t, "address": a})).collect::<Vec<_>>()}
        }))
        .unwrap()
    }

    #[test]
    fn a_node_becomes_a_peer() {
        let n = node("a", &["198.18.1.0/24", "fd00:1::/64"], &[("Hostname", "a"), ("InternalIP", "192.0.2.1"), ("InternalIP", "192.0.2.99"), ("ExternalIP", "203.0.113.1"), ("InternalIP", "fd00::1")]);
        let p = to_peer(&n).unwrap();
        assert_eq!(p.internal_ips, ["192.0.2.1".parse::<IpAddr>().unwrap(), "fd00::1".parse().unwrap()]);
        assert_eq!(p.pod_cidrs.len(), 2);
        let old: Node = serde_json::from_value(serde_json::json!({"metadata": {"name": "b"}, "spec": {"podCIDR": "198.18.2.0/24"}})).unwrap();
        assert_eq!(to_peer(&old).unwrap().pod_cidrs, ["198.18.2.0/24".parse::<IpNet>().unwrap()]);
        assert!(to_peer(&node("c", &["nope"], &[])).unwrap_err().why.contains("not a CIDR"));
    }

    #[test]
    fn lists_only_after_the_first_whole_list_and_relists_replace() {
        let mut t = NodeTable::default();
        let a = node("a", &["198.18.1.0/24"], &[("InternalIP", "192.0.2.1")]);
        let b = node("b", &["198.18.2.0/24"], &[("InternalIP", "192.0.2.2")]);
        let c = node("c", &["198.18.3.0/24"], &[("InternalIP", "192.0.2.3")]);
        assert_eq!(t.on_event(Event::Init), None);
        assert_eq!(t.on_event(Event::InitApply(a.clone())), None);
        assert_eq!(t.on_event(Event::InitApply(b.clone())), None);
        let names = |b: Option<Built>| b.unwrap().nodes.into_iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(names(t.on_event(Event::InitDone)), ["a", "b"]);
        assert_eq!(names(t.on_event(Event::Apply(c.clone()))), ["a", "b", "c"]);
        assert_eq!(names(t.on_event(Event::Delete(b))), ["a", "c"]);
        // A relist (after 410 Gone) without c: c is gone, the old list stays out until it is done.
        assert_eq!(t.on_event(Event::Init), None);
        assert_eq!(t.on_event(Event::InitApply(a)), None);
        assert_eq!(names(t.on_event(Event::InitDone)), ["a"]);
    }

    #[test]
    fn unusable_and_conflicting_nodes_are_left_out() {
        let mut t = NodeTable::default();
        t.on_event(Event::Init);
        t.on_event(Event::InitApply(node("a", &["198.18.1.0/24"], &[("InternalIP", "192.0.2.1")])));
        t.on_event(Event::InitApply(node("b", &["198.18.1.0/25"], &[("InternalIP", "192.0.2.2")])));
        t.on_event(Event::InitApply(node("new", &[], &[("InternalIP", "192.0.2.3")])));
        let b = t.on_event(Event::InitDone).unwrap();
        assert_eq!(b.nodes.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a"]);
        let why: Vec<String> = b.skipped.iter().map(|f| f.to_string()).collect();
        assert!(why.iter().any(|w| w.contains("\"b\"") && w.contains("overlaps")), "{why:?}");
        assert!(why.iter().any(|w| w.contains("\"new\"") && w.contains("no pod CIDR")), "{why:?}");
    }
}
