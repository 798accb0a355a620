//! The other nodes of the cluster ("peers"): who they are, where their pods
//! live, how to reach them.
//!
//! This module owns the peer *sources* (a JSON file, the Kubernetes `Node`
//! objects) and the persisted last complete list. It never programs the
//! switch or the kernel: the agent turns a [`PeerSnapshot`] into flows and
//! routes.
//!
//! - [`validate`]: the checks every list goes through (pure).
//! - [`persist`]: `<state-dir>/peers.json`, replayed at start.
//! - [`file`]: `--nodes-from file:PATH`, re-read when its directory changes.
//! - [`kubernetes`]: `--nodes-from kubernetes`, a watcher on `Node` objects.
//! - [`spawn`] starts the configured source and hands out a
//!   `watch::Receiver<PeerSnapshot>`.

use ipnet::IpNet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

pub mod file;
pub mod kubernetes;
pub mod persist;
pub mod validate;

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

impl PeerSnapshot {
    /// The node called `name`, if listed.
    pub fn get(&self, name: &str) -> Option<&Peer> {
        self.nodes.iter().find(|p| p.name == name)
    }

    /// Every node but `local` (the peers proper).
    pub fn others<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Peer> + 'a {
        self.nodes.iter().filter(move |p| p.name != local)
    }
}

/// Where the peers come from (`--nodes-from`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `file:PATH`: a JSON list, re-read when it changes.
    File(PathBuf),
    /// `kubernetes`: a watch on the cluster's `Node` objects.
    Kubernetes,
}

/// `--nodes-from` was neither `kubernetes` nor `file:PATH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--nodes-from {0:?} is neither `kubernetes` nor `file:PATH`")]
pub struct BadSource(pub String);

impl std::str::FromStr for Source {
    type Err = BadSource;
    fn from_str(s: &str) -> Result<Source, BadSource> {
        match s.split_once(':') {
            _ if s == "kubernetes" => Ok(Source::Kubernetes),
            Some(("file", p)) if !p.is_empty() => Ok(Source::File(PathBuf::from(p))),
            _ => Err(BadSource(s.to_string())),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(p) => write!(f, "file:{}", p.display()),
            Source::Kubernetes => f.write_str("kubernetes"),
        }
    }
}

/// The agent's peer settings (`--nodes-from`, `--node-name`, `--node-ip`,
/// `--kubeconfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeersConfig {
    pub source: Source,
    /// This node's entry in the list.
    pub node_name: String,
    /// The address towards peers; default: this node's first internal IP.
    pub node_ip: Option<IpAddr>,
    /// Kubeconfig for `kubernetes` (default: in-cluster).
    pub kubeconfig: Option<PathBuf>,
}

impl PeersConfig {
    /// The address this node uses towards its peers: `--node-ip`, else the
    /// first internal IP of its entry in `snap`.
    pub fn node_ip(&self, snap: &PeerSnapshot) -> Option<IpAddr> {
        self.node_ip.or_else(|| snap.get(&self.node_name).and_then(|p| p.internal_ips.first().copied()))
    }
}

/// The host's name as Kubernetes names the node by default (lower case).
pub fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or truncates.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let s = std::str::from_utf8(&buf[..end]).ok()?.trim().to_ascii_lowercase();
    (!s.is_empty()).then_some(s)
}

/// Counters of a running source, for `podflow nodes` and the metrics.
#[derive(Debug, Default)]
pub struct Stats {
    /// Complete lists published (each one differed from the previous).
    pub updates: AtomicU64,
    /// Lists refused (malformed file, unreadable file, failed watch, ...).
    pub errors: AtomicU64,
    /// Nodes the Kubernetes source leaves out now (invalid or incomplete).
    pub skipped: AtomicU64,
    /// The snapshot out now is the one replayed from the state directory.
    pub replayed: AtomicBool,
    /// The last error, cleared by the next good list.
    pub last_error: Mutex<Option<String>>,
}

impl Stats {
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The one place a source hands its lists to: publishes complete lists
/// (only when they differ), saves them, counts and logs errors.
pub struct Publisher {
    tx: watch::Sender<PeerSnapshot>,
    stats: Arc<Stats>,
    state_dir: Option<PathBuf>,
    source: String,
}

impl Publisher {
    /// A new complete list (already validated and sorted).
    pub fn publish(&self, nodes: Vec<Peer>) {
        *self.stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let changed = self.tx.send_if_modified(|s| {
            if s.complete && *s.nodes == nodes {
                return false;
            }
            *s = PeerSnapshot { complete: true, nodes: Arc::new(nodes.clone()) };
            true
        });
        self.stats.replayed.store(false, Ordering::Relaxed);
        if !changed {
            return;
        }
        self.stats.updates.fetch_add(1, Ordering::Relaxed);
        tracing::info!(source = %self.source, nodes = nodes.len(), "peer list updated");
        if let Some(dir) = &self.state_dir {
            if let Err(e) = persist::save(dir, &self.source, &nodes) {
                tracing::error!(error = %e, "cannot save the peer list; a restart will wait for the source");
            }
        }
    }

    /// A list was refused: the snapshot out now stays.
    pub fn report(&self, error: String) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        let kept = self.tx.borrow().clone();
        let keeping = if kept.complete { format!("keeping the last good list of {} nodes", kept.nodes.len()) } else { "no list yet".to_string() };
        tracing::error!(source = %self.source, error = %error, "peer source: {keeping}");
        *self.stats.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

/// A running source; dropping it stops the source.
pub struct PeerHandle {
    pub config: PeersConfig,
    rx: watch::Receiver<PeerSnapshot>,
    stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
    /// `--pod-cidr`, compared with this node's entry in the list.
    local_pod_cidrs: Vec<IpNet>,
    checker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for PeerHandle {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(t) = &self.checker {
            t.abort();
        }
    }
}

impl PeerHandle {
    /// The snapshots, starting with the current one.
    pub fn subscribe(&self) -> watch::Receiver<PeerSnapshot> {
        self.rx.clone()
    }

    pub fn current(&self) -> PeerSnapshot {
        self.rx.borrow().clone()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Compares this node's entry in every list with the agent's own pod
    /// CIDRs (`--pod-cidr`), logs when they start or stop disagreeing and
    /// reports it in `podflow nodes` and the metrics. Must be called from a
    /// tokio runtime.
    pub fn expecting_local_pod_cidrs(mut self, cidrs: Vec<IpNet>) -> PeerHandle {
        let mut rx = self.rx.clone();
        let (name, want) = (self.config.node_name.clone(), cidrs.clone());
        self.checker = Some(tokio::spawn(async move {
            let mut said: Option<String> = None;
            loop {
                let now = validate::local_cidr_mismatch(&want, rx.borrow_and_update().get(&name));
                if now != said {
                    match &now {
                        Some(m) => tracing::warn!("{m}"),
                        None if said.is_some() => tracing::info!(node = %name, "this node's pod CIDRs in the peer list agree with --pod-cidr again"),
                        None => {}
                    }
                    said = now;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }));
        self.local_pod_cidrs = cidrs;
        self
    }

    fn pod_cidr_mismatch(&self, snap: &PeerSnapshot) -> Option<String> {
        validate::local_cidr_mismatch(&self.local_pod_cidrs, snap.get(&self.config.node_name))
    }

    /// What `podflow nodes` shows, without the per-peer state the
    /// cross-node pipeline adds.
    pub fn report(&self) -> crate::api::NodesReport {
        let snap = self.current();
        let s = &self.stats;
        crate::api::NodesReport {
            source: self.config.source.to_string(),
            complete: snap.complete,
            replayed: s.replayed.load(Ordering::Relaxed),
            local_node: self.config.node_name.clone(),
            local_in_list: snap.get(&self.config.node_name).is_some(),
            node_ip: self.config.node_ip(&snap),
            updates: s.updates.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            skipped: s.skipped.load(Ordering::Relaxed),
            last_error: s.last_error(),
            pod_cidr_mismatch: self.pod_cidr_mismatch(&snap),
            nodes: snap.nodes.iter().map(|p| crate::api::NodeInfo { peer: p.clone(), local: p.name == self.config.node_name, state: None }).collect(),
        }
    }

    /// Prometheus text for the source (appended to the agent's metrics).
    /// The source's metrics: (name, help, is a counter, value); counters
    /// without the `_total` the exposition format adds.
    pub fn metrics(&self) -> Vec<(&'static str, &'static str, bool, u64)> {
        let snap = self.current();
        let s = &self.stats;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("podflow_peers", "Nodes in the current peer list, this node included.", false, snap.nodes.len() as u64),
            ("podflow_peers_complete", "1 once the peer source delivered a complete list (or one was replayed).", false, u64::from(snap.complete)),
            ("podflow_peer_source_updates", "Complete peer lists published.", true, g(&s.updates)),
            ("podflow_peer_source_errors", "Peer lists refused or unreadable (the last good list was kept).", true, g(&s.errors)),
            ("podflow_peer_source_skipped_nodes", "Kubernetes nodes left out of the peer list now (invalid or incomplete).", false, g(&s.skipped)),
            ("podflow_peer_pod_cidr_mismatch", "1 while this node's pod CIDRs in the peer list differ from --pod-cidr.", false, u64::from(self.pod_cidr_mismatch(&snap).is_some())),
        ]
    }
}

/// Starts the configured source. The first snapshot is the list saved in
/// `state_dir` from the same source (complete, marked replayed), else an
/// incomplete empty one. Complete lists are saved to `state_dir`.
pub fn spawn(config: PeersConfig, state_dir: Option<&Path>) -> PeerHandle {
    let source = config.source.to_string();
    let stats = Arc::new(Stats::default());
    let mut initial = PeerSnapshot::default();
    if let Some(dir) = state_dir {
        match persist::load(dir, &source) {
            Ok(Some(nodes)) => {
                tracing::info!(%source, nodes = nodes.len(), "replaying the saved peer list until the source answers");
                initial = PeerSnapshot { complete: true, nodes: Arc::new(nodes) };
                stats.replayed.store(true, Ordering::Relaxed);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "not replaying the saved peer list"),
        }
    }
    let (tx, rx) = watch::channel(initial);
    let publisher = Publisher { tx, stats: stats.clone(), state_dir: state_dir.map(Path::to_path_buf), source };
    let task = match &config.source {
        Source::File(path) => tokio::spawn(file::run(path.clone(), publisher)),
        Source::Kubernetes => tokio::spawn(kubernetes::run(config.kubeconfig.clone(), publisher)),
    };
    PeerHandle { config, rx, stats, task, local_pod_cidrs: vec![], checker: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_print() {
        assert_eq!("kubernetes".parse::<Source>().unwrap(), Source::Kubernetes);
        assert_eq!("file:/etc/podflow/nodes.json".parse::<Source>().unwrap(), Source::File("/etc/podflow/nodes.json".into()));
        assert_eq!(Source::File("/a/b".into()).to_string(), "file:/a/b");
        for bad in ["", "file:", "k8s", "http://x"] {
            assert!(bad.parse::<Source>().is_err(), "{bad}");
        }
    }

    #[test]
    fn node_ip_defaults_to_the_local_entry() {
        let snap = PeerSnapshot {
            complete: true,
            nodes: Arc::new(vec![Peer { name: "n1".into(), pod_cidrs: vec![], internal_ips: vec!["192.0.2.7".parse().unwrap()] }]),
        };
        let mut c = PeersConfig { source: Source::Kubernetes, node_name: "n1".into(), node_ip: None, kubeconfig: None };
        assert_eq!(c.node_ip(&snap), Some("192.0.2.7".parse().unwrap()));
        c.node_ip = Some("192.0.2.9".parse().unwrap());
        assert_eq!(c.node_ip(&snap), Some("192.0.2.9".parse().unwrap()));
        c.node_ip = None;
        c.node_name = "n2".into();
        assert_eq!(c.node_ip(&snap), None);
        assert_eq!(snap.others("n1").count(), 0);
    }
}
