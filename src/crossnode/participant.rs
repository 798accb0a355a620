//! The cross-node part of a running agent: starts the route driver on the
//! peer source's snapshots, is the rounds' peer participant
//! ([`PeerFlows`]: a round's gate waits until the first complete peer
//! list's routes — and in Geneve mode the peers' flows, acknowledged by
//! the switch — are in place), and tells `podflow nodes` each peer's
//! state.

use super::driver::{self, RouteConfig, RouteStatus};
use super::routes::Skipped;
use super::tunnels;
use crate::agent::backend::{BackendError, SwitchOps};
use crate::agent::runtime::PeerFlows;
use crate::agent::switch::OpenFlowSwitch;
use crate::api::{NodesReport, PeerState};
use crate::host::Host;
use crate::peers::PeerSnapshot;
use crate::pipeline::tunnel::{self, PeerTunnel, TunnelPort};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use tokio::sync::watch;

/// Geneve mode: the tunnel port and the switch its flows go to.
pub struct GeneveSetup {
    pub port: TunnelPort,
    /// `--node-ip`, if given (else this node's address in the list).
    pub node_ip: Option<IpAddr>,
    pub switch: OpenFlowSwitch,
}

/// What the peers' flows are, as last acknowledged.
#[derive(Debug, Clone, Default)]
pub struct FlowStatus {
    /// Peers whose flows the switch acknowledged, by name.
    pub installed: BTreeMap<String, PeerTunnel>,
    /// Round of that acknowledgement.
    pub round: u16,
    pub skipped: Vec<Skipped>,
    /// The last sync's failure, if it failed.
    pub error: Option<String>,
    /// Acknowledged syncs so far.
    pub syncs: u64,
    /// Flows in the last acknowledged bundle.
    pub flows: usize,
}

struct Geneve {
    setup: GeneveSetup,
    /// Serializes syncs (a round's and the follower's); holds what is installed.
    state: tokio::sync::Mutex<FlowStatus>,
    /// A copy of the state for `podflow nodes` and the metrics (never waits).
    shown: std::sync::Mutex<FlowStatus>,
}

pub struct CrossNode {
    cfg: RouteConfig,
    host: Host,
    peers: watch::Receiver<PeerSnapshot>,
    status: watch::Receiver<RouteStatus>,
    /// Round of the last acknowledged install (for `podflow nodes`).
    acked_round: std::sync::atomic::AtomicU32,
    geneve: Option<Geneve>,
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
    /// `geneve` is given in Geneve mode (the tunnel port exists already).
    pub async fn start(cfg: RouteConfig, peers: watch::Receiver<PeerSnapshot>, geneve: Option<GeneveSetup>) -> Result<CrossNode, crate::host::HostError> {
        let host = Host::open(None).await?;
        let driver_host = Host::open(None).await?;
        let (tx, status) = watch::channel(RouteStatus::default());
        tracing::info!(mode = %cfg.mode, node = %cfg.node_name, "cross-node forwarding on");
        let task = tokio::spawn(driver::run(cfg.clone(), driver_host, peers.clone(), tx));
        let geneve = geneve.map(|setup| Geneve { setup, state: Default::default(), shown: Default::default() });
        Ok(CrossNode { cfg, host, peers, status, acked_round: Default::default(), geneve, task })
    }

    pub fn status(&self) -> RouteStatus {
        self.status.borrow().clone()
    }

    /// The peers' flows as last acknowledged (Geneve mode only).
    pub fn flow_status(&self) -> Option<FlowStatus> {
        self.geneve.as_ref().map(|g| g.shown.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Geneve mode: puts the flows `snap` calls for in the switch, tagged
    /// with `round`, in one ordered atomic bundle (peers that left or
    /// changed deleted by their cookie object first); returns once the
    /// switch acknowledged it.
    ///
    /// `round` None (the follower, between rounds): the round of the last
    /// acknowledged sync, and nothing when there was none yet (the next
    /// round installs). Taken under the same lock as the rounds' syncs, so
    /// the follower never tags flows with a round older than the last
    /// round's, which that round's stale delete would remove.
    async fn sync_flows(&self, g: &Geneve, snap: &PeerSnapshot, round: Option<u16>) -> Result<(), String> {
        let mut st = g.state.lock().await;
        let round = match round {
            Some(r) => r,
            None if st.syncs == 0 => return Ok(()),
            None => st.round,
        };
        let res = async {
            let local = g.setup.node_ip.or_else(|| snap.get(&self.cfg.node_name).and_then(|p| p.internal_ips.first().copied())).ok_or_else(|| {
                format!("this node ({}) has no address in the peer list and no --node-ip: the tunnel has no source address", self.cfg.node_name)
            })?;
            let want = tunnels::desired(&snap.nodes, &self.cfg.node_name, local);
            for s in &want.skipped {
                tracing::warn!(peer = %s.peer, cidr = %s.cidr, "no tunnel flows for this peer pod CIDR: {}", s.reason);
            }
            let gone: Vec<u32> = st
                .installed
                .iter()
                .filter(|(name, had)| want.peers.iter().find(|p| &p.name == *name) != Some(*had))
                .map(|(name, _)| tunnel::peer_object(name))
                .collect();
            let bundle = tunnel::sync_bundle(round, &g.setup.port, &gone, &want.peers);
            let n = bundle.len() - gone.len();
            g.setup.switch.install(bundle).await.map_err(|e| e.to_string())?;
            Ok::<_, String>((want, n))
        }
        .await;
        let res = match res {
            Ok((want, n)) => {
                st.installed = want.peers.into_iter().map(|p| (p.name.clone(), p)).collect();
                st.round = round;
                st.skipped = want.skipped;
                st.error = None;
                st.syncs += 1;
                st.flows = n;
                Ok(())
            }
            Err(e) => {
                st.error = Some(e.clone());
                Err(e)
            }
        };
        *g.shown.lock().unwrap_or_else(|e| e.into_inner()) = st.clone();
        res
    }

    /// Geneve mode: keeps the peers' flows in step with the peer list
    /// between rounds (a peer added, changed or removed); a failed sync is
    /// retried with backoff. Runs until the peer source ends; does nothing
    /// in noencap mode (the route driver follows the list there).
    pub async fn follow(self: std::sync::Arc<Self>) {
        let Some(g) = &self.geneve else { return };
        let mut rx = self.peers.clone();
        let mut backoff = crate::dial::Backoff::new(std::time::Duration::from_millis(200), std::time::Duration::from_secs(10), crate::dial::Backoff::seed_from_clock());
        let mut retry: Option<std::time::Duration> = None;
        loop {
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(retry.unwrap_or_default()), if retry.is_some() => {}
            }
            let snap = rx.borrow_and_update().clone();
            retry = None;
            if !snap.complete {
                continue;
            }
            match self.sync_flows(g, &snap, None).await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, "the peers' tunnel flows are not in step with the peer list; retrying in {delay:?}");
                    retry = Some(delay);
                }
            }
        }
    }

    /// Fills in each peer's state in a `podflow nodes` report.
    pub fn fill(&self, report: &mut NodesReport) {
        let st = self.status();
        let round = self.acked_round.load(std::sync::atomic::Ordering::Relaxed) as u16;
        let flows = self.flow_status();
        for n in report.nodes.iter_mut().filter(|n| !n.local) {
            let routes = st.installed.iter().filter(|(_, owner)| *owner == n.peer.name).count();
            let mut skipped: Vec<String> = st.skipped.iter().filter(|s| s.peer == n.peer.name).map(|s| format!("{}: {}", s.cidr, s.reason)).collect();
            if let Some(f) = &flows {
                skipped.extend(f.skipped.iter().filter(|s| s.peer == n.peer.name && !st.skipped.contains(s)).map(|s| format!("{}: {}", s.cidr, s.reason)));
            }
            n.state = Some(if !skipped.is_empty() {
                PeerState::Failed { error: skipped.join("; ") }
            } else if let Some(f) = flows.as_ref().filter(|f| !f.installed.contains_key(&n.peer.name)) {
                // Geneve: the peer counts only once the switch acknowledged its flows.
                PeerState::Pending { reason: Some(f.error.clone().unwrap_or_else(|| "tunnel flows not acknowledged yet".into())) }
            } else if let Some(f) = &flows {
                PeerState::Installed { round: f.round }
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
        let mut v = vec![
            ("podflow_peer_routes", "Peer routes podflow has in the kernel.", false, st.installed.len() as u64),
            ("podflow_peer_routes_skipped", "Peer pod CIDRs left without a route (conflict, no address of the family).", false, st.skipped.len() as u64),
            ("podflow_peer_route_syncs", "Complete syncs of the peer routes.", true, st.syncs),
            ("podflow_peer_route_sync_failing", "1 while the last sync of the peer routes failed.", false, u64::from(st.error.is_some())),
        ];
        if let Some(f) = self.flow_status() {
            v.extend([
                ("podflow_peers_tunnelled", "Peers whose Geneve flows the switch acknowledged.", false, f.installed.len() as u64),
                ("podflow_peer_flows", "Flows of the last acknowledged peer bundle (tunnel port and peers).", false, f.flows as u64),
                ("podflow_peer_flow_syncs", "Acknowledged syncs of the peers' Geneve flows.", true, f.syncs),
                ("podflow_peer_flow_sync_failing", "1 while the last sync of the peers' Geneve flows failed.", false, u64::from(f.error.is_some())),
            ]);
        }
        v
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
            if let Some(g) = &self.geneve {
                self.sync_flows(g, &snap, Some(round)).await.map_err(BackendError::Other)?;
            }
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
