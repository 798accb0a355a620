//! The cross-node part of a running agent: starts the route driver on the
//! peer source's snapshots, is the rounds' peer participant
//! ([`PeerFlows`]: a round's gate waits until the first complete peer
//! list's routes are in place), and tells `podflow nodes` each peer's
//! state.

use super::driver::{self, RouteConfig, RouteStatus};
use crate::agent::backend::BackendError;
use crate::agent::runtime::PeerFlows;
use crate::api::{NodesReport, PeerState};
use crate::host::Host;
use crate::peers::PeerSnapshot;
use std::future::Future;
use std::pin::Pin;
use tokio::sync::watch;

pub struct CrossNode {
    cfg: RouteConfig,
    host: Host,
    peers: watch::Receiver<PeerSnapshot>,
    status: watch::Receiver<RouteStatus>,
    /// Round of the last acknowledged install (for `podflow nodes`).
    acked_round: std::sync::atomic::AtomicU32,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CrossNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CrossNode {
    /// Opens netlink in the agent's own namespace and starts the route
    /// driver. Must be called from a tokio runtime.
    pub async fn start(cfg: RouteConfig, peers: watch::Receiver<PeerSnapshot>) -> Result<CrossNode, crate::host::HostError> {
        let host = Host::open(None).await?;
        let driver_host = Host::open(None).await?;
        let (tx, status) = watch::channel(RouteStatus::default());
        tracing::info!(mode = %cfg.mode, node = %cfg.node_name, "cross-node forwarding on");
        let task = tokio::spawn(driver::run(cfg.clone(), driver_host, peers.clone(), tx));
        Ok(CrossNode { cfg, host, peers, status, acked_round: Default::default(), task })
    }

    pub fn status(&self) -> RouteStatus {
        self.status.borrow().clone()
    }

    /// Fills in each peer's state in a `podflow nodes` report.
    pub fn fill(&self, report: &mut NodesReport) {
        let st = self.status();
        let round = self.acked_round.load(std::sync::atomic::Ordering::Relaxed) as u16;
        for n in report.nodes.iter_mut().filter(|n| !n.local) {
            let routes = st.installed.iter().filter(|(_, owner)| *owner == n.peer.name).count();
            let skipped: Vec<String> = st.skipped.iter().filter(|s| s.peer == n.peer.name).map(|s| format!("{}: {}", s.cidr, s.reason)).collect();
            n.state = Some(if !skipped.is_empty() {
                PeerState::Failed { error: skipped.join("; ") }
            } else if routes > 0 && routes == n.peer.pod_cidrs.len() && round > 0 {
                PeerState::Installed { round }
            } else if let Some(e) = &st.error {
                PeerState::Pending { reason: Some(e.clone()) }
            } else {
                PeerState::Pending { reason: Some(format!("{routes} of {} routes installed", n.peer.pod_cidrs.len())) }
            });
        }
    }

    /// Prometheus text for the cross-node part.
    /// Peer route metrics: (name, help, is a counter, value); counters
    /// without the `_total` the exposition format adds.
    pub fn metrics(&self) -> Vec<(&'static str, &'static str, bool, u64)> {
        let st = self.status();
        vec![
            ("podflow_peer_routes", "Peer routes podflow has in the kernel.", false, st.installed.len() as u64),
            ("podflow_peer_routes_skipped", "Peer pod CIDRs left without a route (conflict, no address of the family).", false, st.skipped.len() as u64),
            ("podflow_peer_route_syncs", "Complete syncs of the peer routes.", true, st.syncs),
            ("podflow_peer_route_sync_failing", "1 while the last sync of the peer routes failed.", false, u64::from(st.error.is_some())),
        ]
    }
}

impl PeerFlows for CrossNode {
    fn install(&self, round: u16) -> Pin<Box<dyn Future<Output = Result<bool, BackendError>> + Send + '_>> {
        Box::pin(async move {
            let snap = self.peers.borrow().clone();
            if !snap.complete {
                return Ok(false);
            }
            driver::sync(&self.cfg, &self.host, &snap).await.map_err(|(_, e)| BackendError::Other(e))?;
            self.acked_round.store(u32::from(round), std::sync::atomic::Ordering::Relaxed);
            Ok(true)
        })
    }

    fn changed(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let mut rx = self.peers.clone();
        rx.borrow_and_update();
        Box::pin(async move {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}
