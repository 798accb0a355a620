//! The thin driver of peer routes: on every complete peer snapshot (and
//! once at start), list the routes podflow owns, diff them against what the
//! snapshot calls for ([`super::routes`]) and apply the plan through
//! [`Host`]. A failed step is retried with backoff (or at the next
//! snapshot, whichever comes first); an incomplete snapshot changes
//! nothing, so a restarting agent never deletes routes of peers its source
//! has not listed yet.

use super::routes::{self, NextHop, PeerRoute, Skipped};
use super::TrafficMode;
use crate::dial::Backoff;
use crate::host::routes::RTPROT_PODFLOW;
use crate::host::{Host, HostError, IpPrefix, Route};
use crate::peers::PeerSnapshot;
use ipnet::IpNet;
use std::time::Duration;
use tokio::sync::watch;

/// What the route driver needs to know.
#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// This node's name in the peer list.
    pub node_name: String,
    pub mode: TrafficMode,
    /// The pod bridge's gateway port (geneve routes point into it).
    pub gateway_dev: String,
    /// Routing table of podflow's routes (main by default).
    pub table: u32,
}

/// The routes' state, for `podflow nodes` and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteStatus {
    /// Routes known to be in the kernel after the last sync, with the peer
    /// each serves.
    pub installed: Vec<(PeerRoute, String)>,
    pub skipped: Vec<Skipped>,
    /// The last sync's failure, if it failed.
    pub error: Option<String>,
    /// Number of complete syncs so far.
    pub syncs: u64,
}

/// Runs until `peers`' sender is dropped; `status` tells how far it got.
pub async fn run(cfg: RouteConfig, host: Host, mut peers: watch::Receiver<PeerSnapshot>, status: watch::Sender<RouteStatus>) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10), Backoff::seed_from_clock());
    loop {
        let snap = peers.borrow_and_update().clone();
        let mut retry = None;
        if snap.complete {
            match sync(&cfg, &host, &snap).await {
                Ok(st) => {
                    backoff.reset();
                    status.send_modify(|s| *s = RouteStatus { syncs: s.syncs + 1, ..st });
                }
                Err((st, e)) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, "peer routes are not all in place; retrying in {delay:?}");
                    status.send_modify(|s| *s = RouteStatus { syncs: s.syncs, error: Some(e), ..st });
                    retry = Some(delay);
                }
            }
        }
        tokio::select! {
            r = peers.changed() => if r.is_err() { return },
            _ = tokio::time::sleep(retry.unwrap_or_default()), if retry.is_some() => {}
        }
    }
}

/// One sync: every step is tried; the first error is returned with the
/// state reached.
pub async fn sync(cfg: &RouteConfig, host: &Host, snap: &PeerSnapshot) -> Result<RouteStatus, (RouteStatus, String)> {
    let want = routes::desired(&snap.nodes, &cfg.node_name, cfg.mode, &cfg.gateway_dev);
    for s in &want.skipped {
        tracing::warn!(peer = %s.peer, cidr = %s.cidr, "no route for this peer pod CIDR: {}", s.reason);
    }
    let listed = host.routes_of(RTPROT_PODFLOW, cfg.table).await.map_err(|e| (RouteStatus { skipped: want.skipped.clone(), ..Default::default() }, e.to_string()))?;
    let installed: Vec<(PeerRoute, Route)> = listed.into_iter().filter_map(|r| Some((peer_route(&r)?, r))).collect();
    let plan = routes::diff(&want.routes, &installed.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>());
    let mut have: Vec<PeerRoute> = installed.iter().map(|(p, _)| p.clone()).collect();
    let mut first_err: Option<String> = None;
    for del in &plan.delete {
        for (_, kernel) in installed.iter().filter(|(p, _)| p == del) {
            match host.delete_route(&kernel.clone().protocol(RTPROT_PODFLOW)).await {
                Ok(()) | Err(HostError::NotFound { .. }) => {
                    tracing::info!(route = %del, "peer route removed");
                    have.retain(|h| h != del);
                }
                Err(e) => {
                    first_err.get_or_insert(e.to_string());
                }
            }
        }
    }
    for add in &plan.add {
        match host.add_route(&kernel_route(cfg, add)).await {
            Ok(()) | Err(HostError::Exists { .. }) => {
                tracing::info!(route = %add, "peer route installed");
                have.push(add.clone());
            }
            Err(e) => {
                first_err.get_or_insert(e.to_string());
            }
        }
    }
    let owner = |dst: &IpNet| want.owners.iter().find(|(c, _)| c == dst).map_or_else(String::new, |(_, n)| n.clone());
    let mut installed: Vec<(PeerRoute, String)> = have.into_iter().map(|r| { let o = owner(&r.dst); (r, o) }).collect();
    installed.sort();
    let st = RouteStatus { installed, skipped: want.skipped, error: None, syncs: 0 };
    match first_err {
        None => Ok(st),
        Some(e) => Err((st, e)),
    }
}

/// A kernel route of ours as the pure value, if it is one we could have made.
fn peer_route(r: &Route) -> Option<PeerRoute> {
    let dst = IpNet::new(r.dst.network(), r.dst.len).ok()?;
    let next = match (&r.gateway, &r.oif) {
        (Some(g), _) => NextHop::Via(*g),
        (None, Some(d)) => NextHop::Dev(d.clone()),
        (None, None) => NextHop::Dev(String::new()),
    };
    Some(PeerRoute { dst, next })
}

fn kernel_route(cfg: &RouteConfig, r: &PeerRoute) -> Route {
    let base = Route::to(IpPrefix { addr: r.dst.network(), len: r.dst.prefix_len() }).table(cfg.table).protocol(RTPROT_PODFLOW);
    match &r.next {
        NextHop::Via(ip) => base.via(*ip),
        NextHop::Dev(d) => base.dev(d),
    }
}
