//! The agent: pod ADD/DEL/CHECK, and the driver of rounds (replaying every
//! pod's flows after a switch restart or an agent start). What a round does
//! next is decided by the pure [`Round`] (which consults the
//! flow-restore-wait gate); this file carries its actions out.
//!
//! Ordering rules this file keeps:
//! - A pod is Ready only after the switch acknowledged its bundle, and ADD
//!   answers only after the pod record is durably stored.
//! - A round registers every stored pod with the gate before installing
//!   anything; the key is removed only when the gate opens.
//! - Requests that arrive during a round wait for it (never dropped),
//!   except DEL, which the round carries out itself (it may be what the
//!   round waits for); requests for the same pod are serialized; the last
//!   one wins.
//! - A pod refused after the gate's deadline keeps its older round's
//!   flows: the stale-round delete waits until no pod is Failed.
//! - Only flows carrying podflow's cookie magic are ever deleted.

use super::backend::{BackendError, DbOps, GroupOutcome, HostOps, SwitchOps};
use super::gate::{Opened, Participant};
use super::round::{Action, Event as Ev, Outcome, Round, RoundConfig};
use crate::pipeline::{self, cookie, Gateway, PodPort};
use super::store::{PodRecord, PodStore, Quarantined};
use crate::state::write_atomic;
use crate::api::{code, AddPod, ApiError, PodAttachment, PodInfo, PodKey, PodState, Status};
use podflow_proto::openflow::flow::{FlowModCommand, TABLE_ALL};
use podflow_proto::openflow::FlowMod;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
// The one clock: tokio's, so tests can pause it.
use tokio::time::Instant;
use tokio::sync::{Mutex, RwLock};


/// Settings of one agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub bridge: String,
    pub state_dir: PathBuf,
    pub gateway: Gateway,
    /// Gate deadline: past it, the key is removed even if some pods failed
    /// (they are reported loudly). `None` waits for every pod forever.
    pub gate_deadline: Option<Duration>,
    /// First retry delay for a pod whose flows failed during a round.
    pub retry_initial: Duration,
    /// Bound for the retry delay.
    pub retry_max: Duration,
    /// Test-only fault: remove `flow-restore-wait` as soon as a round
    /// starts, before any flow is installed (Antrea's bug). It exists so
    /// that the restart test can prove it catches that bug.
    pub fault_clear_key_early: bool,
    /// Test-only fault: an ADD stops for good after plumbing and the OVS
    /// port, before its record is stored, so that a test can kill the
    /// agent (and the plugin) exactly there.
    pub fault_hang_after_plumbing: bool,
}

/// One event of a round, with its time, for status, metrics and the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundEvent {
    Started { round: u16 },
    BaseAcked,
    PodAcked(PodKey),
    PodFailed(PodKey, String),
    PodRemoved(PodKey),
    /// The gate opened; `missing` lists pods the deadline let through.
    GateOpened { round: u16, missing: Vec<String> },
    FlowRestoreWaitCleared,
    /// Every round's flows but `kept` were deleted.
    StaleRoundsDeleted { kept: u16 },
    /// The peers' routes/flows of the first complete peer list are in place.
    PeersAcked,
}

#[derive(Debug)]
struct Pod {
    record: PodRecord,
    state: PodState,
    /// What the pipeline needs, parsed once from the record (every round
    /// uses it; parsing 10,000 records' strings cost ~40 ms per round).
    port: Option<PodPort>,
}

impl Pod {
    fn new(record: PodRecord) -> Pod {
        Pod { port: pod_port(&record), record, state: PodState::Pending { reason: None } }
    }
}

#[derive(Debug, Default)]
struct State {
    pods: BTreeMap<PodKey, Pod>,
    /// Records moved to quarantine: listed, never replayed or reconciled.
    quarantined: Vec<Quarantined>,
    /// ofport numbers handed to ADDs still in progress (not in `pods` yet):
    /// taken under this lock before any await, so two ADDs never ask OVS
    /// for the same number.
    reserved_ofports: std::collections::BTreeSet<u32>,
    /// Why the agent is not ready, when that is not a round in progress.
    not_ready_reason: Option<String>,
    /// A round holds the round lock: DELs hand their pod to it (below)
    /// instead of waiting for a round that may wait for that very pod.
    round_running: bool,
    /// The running round sent every participant once: ADDs need not wait
    /// for it (it may wait for a retry or its deadline for a long time).
    adds_open: bool,
    /// Pods to withdraw from the running round and remove, with the DEL
    /// waiting for the outcome.
    withdrawals: Vec<(PodKey, tokio::sync::oneshot::Sender<Result<(), BackendError>>)>,
    /// The last round left older rounds' flows in place because some pods
    /// failed (their older flows still forward); deleted once none fails.
    stale_delete_pending: bool,
    round: u16,
    ready: bool,
    openflow_connected: bool,
    ovsdb_connected: bool,
    flow_restore_wait: Option<bool>,
    log: Vec<(Instant, RoundEvent)>,
    restore_duration: Option<Duration>,
}

/// Secondary (uplink) bridges whose flows are part of every round, so that
/// `flow-restore-wait` goes only when they forward again (see
/// `crate::uplink`). The runtime only asks which bridges and installs;
/// what the flows are is the uplink module's business.
pub trait SecondaryFlows: Send + Sync + 'static {
    /// The bridges to register with this round's gate (read when it opens).
    fn bridges(&self) -> Vec<String>;
    /// Installs one bridge's flows; returns when the switch acknowledged them.
    fn install<'a>(&'a self, bridge: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BackendError>> + Send + 'a>>;
}

/// The cross-node part of every round (`crate::crossnode`): a gate
/// participant once the agent has a peer source.
pub trait PeerFlows: Send + Sync + 'static {
    /// Installs what the current peer list needs for `round` and returns
    /// once it is in place (acknowledged); `Ok(false)` while the source has
    /// no complete list yet.
    fn install(&self, round: u16) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, BackendError>> + Send + '_>>;
    /// Resolves when the peer list may have changed (a retry may succeed).
    fn changed(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;
}

/// The pod network agent.
pub struct Agent<S, D, H> {
    secondary: std::sync::Mutex<Option<Arc<dyn SecondaryFlows>>>,
    peers: std::sync::Mutex<Option<Arc<dyn PeerFlows>>>,
    cfg: AgentConfig,
    switch: S,
    db: D,
    host: H,
    store: PodStore,
    state: Mutex<State>,
    /// Held for writing by a round; pod requests hold it for reading, so
    /// they wait for a round in progress instead of racing it.
    round_lock: RwLock<()>,
    /// Wakes a round waiting to retry, when a DEL handed it a pod.
    round_wake: tokio::sync::Notify,
    /// The slots of the pod keys with requests in flight (see [`SlotRef`]).
    key_locks: KeySlots,
}

/// One pod's requests: serialized by `lock`, and a DEL can tell the ADD
/// holding it that it arrived, so that the ADD gives up at once instead of
/// finishing a pod that is deleted right after (the DEL wins).
#[derive(Debug, Default)]
struct KeySlot {
    lock: Mutex<()>,
    /// DELs of the pod that arrived so far.
    dels: std::sync::atomic::AtomicU64,
    del_arrived: tokio::sync::Notify,
}

impl KeySlot {
    /// Called by a DEL before it waits for the lock.
    fn announce_del(&self) {
        self.dels.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.del_arrived.notify_waiters();
    }
}

/// Pod keys' slots, each shared by the requests of that pod in flight.
/// Every clone and drop of a slot's `Arc` happens under this map's lock,
/// so its count says exactly who holds it: the last holder removes the
/// entry, and the map does not grow with every pod the node ever ran.
#[derive(Debug, Default)]
struct KeySlots(std::sync::Mutex<HashMap<PodKey, Arc<KeySlot>>>);

impl KeySlots {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<PodKey, Arc<KeySlot>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &PodKey) -> SlotRef<'_> {
        let slot = self.map().entry(key.clone()).or_default().clone();
        SlotRef { slots: self, key: key.clone(), slot: Some(slot) }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

/// A request's hold on its pod's [`KeySlot`].
struct SlotRef<'a> {
    slots: &'a KeySlots,
    key: PodKey,
    slot: Option<Arc<KeySlot>>,
}

impl std::ops::Deref for SlotRef<'_> {
    type Target = KeySlot;
    fn deref(&self) -> &KeySlot {
        self.slot.as_deref().expect("set until dropped")
    }
}

impl Drop for SlotRef<'_> {
    fn drop(&mut self) {
        let mut map = self.slots.map();
        if let Some(slot) = self.slot.take() {
            // This holder and the map's own: nobody else.
            if Arc::strong_count(&slot) == 2 {
                map.remove(&self.key);
            }
            drop(slot);
        }
    }
}

/// What an ADD watches: a DEL of its pod that arrived after it took the lock.
struct DelWatch<'a> {
    slot: &'a KeySlot,
    seen: u64,
}

impl DelWatch<'_> {
    fn arrived(&self) -> bool {
        self.slot.dels.load(std::sync::atomic::Ordering::SeqCst) != self.seen
    }

    /// Resolves once a DEL arrived.
    async fn wait(&self) {
        loop {
            let n = self.slot.del_arrived.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.arrived() {
                return;
            }
            n.await;
        }
    }
}

/// The Ready state as of now.
fn ready_now(round: u16) -> PodState {
    let ns = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    PodState::Ready { round, acked_at: crate::probe::rfc3339_utc(ns), acked_unix_ns: ns }
}

fn api_err(code: u32, msg: impl Into<String>) -> ApiError {
    ApiError { code, msg: msg.into(), details: String::new() }
}

fn backend_err(e: &BackendError) -> ApiError {
    let c = match e {
        BackendError::Unavailable(..) | BackendError::Timeout(_) | BackendError::OutcomeUnknown(_) => code::TRY_AGAIN_LATER,
        _ => code::IO_FAILURE,
    };
    api_err(c, e.to_string())
}

fn deleted_meanwhile(key: &PodKey) -> ApiError {
    api_err(code::TRY_AGAIN_LATER, format!("a DEL of pod {} arrived while its ADD ran; the DEL wins and the pod was undone", key.file_name()))
}

fn client_went_away(key: &PodKey) -> ApiError {
    api_err(code::TRY_AGAIN_LATER, format!("the client of ADD {} went away before it completed; the pod was undone", key.file_name()))
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s.split(':').filter_map(|p| u8::from_str_radix(p, 16).ok()).collect();
    v.try_into().ok()
}

pub fn format_mac(m: &[u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The host-side interface name of a pod: stable, short, unique per key.
pub fn host_ifname(key: &PodKey) -> String {
    format!("pf{:011x}", key.stable_hash() & 0xfff_ffff_ffff)
}

/// What a record must give the pipeline; a stored record without it is quarantined.
fn usable(rec: &PodRecord) -> Result<(), String> {
    pod_addrs(&rec.request.ips)?;
    pod_port(rec).map(drop).ok_or_else(|| "the record has no usable MAC".to_string())
}

/// A pod's addresses, typed: one per family (IPv4 and/or IPv6), at least
/// one. Records written before IPv6 existed hold one IPv4 address and load
/// as they are.
pub fn pod_addrs(ips: &[crate::api::IpConfig]) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), String> {
    let (mut v4, mut v6) = (None, None);
    for c in ips {
        let a = c.address.split('/').next().unwrap_or_default();
        match a.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) if v4.is_none() => v4 = Some(ip),
            Ok(IpAddr::V6(ip)) if v6.is_none() => v6 = Some(ip),
            Ok(_) => return Err(format!("the pod has more than one address of the family of {a} (podflow takes one per family)")),
            Err(_) => return Err(format!("the pod's address {:?} is not an IP address", c.address)),
        }
    }
    if v4.is_none() && v6.is_none() {
        return Err("the pod has no IPv4 or IPv6 address".into());
    }
    Ok((v4, v6))
}

fn pod_port(rec: &PodRecord) -> Option<PodPort> {
    let (ipv4, ipv6) = pod_addrs(&rec.request.ips).ok()?;
    Some(PodPort { ofport: rec.attachment.ofport, mac: parse_mac(&rec.attachment.mac)?, ipv4, ipv6 })
}

/// Round events kept for status, metrics and the demo.
const MAX_EVENTS: usize = 4096;

/// Pods whose flows go in one bundle during a replay (6 flows each, more
/// with IPv6). The flow mods, the messages and their encoding of a batch
/// are alive at once: with 10,000 pods in one bundle that was ~45 MB of
/// heap at the peak of every round (heaptrack), which the allocator then
/// kept (RSS 77.5 MiB); 1,000 pods per bundle bound it at a tenth. The
/// switch does the same work either way.
const REPLAY_BATCH_PODS: usize = 1_000;

/// First ofport podflow hands to pods (lower numbers are left to the gateway and uplinks).
const FIRST_POD_OFPORT: u32 = 10;

impl<S: SwitchOps, D: DbOps, H: HostOps> Agent<S, D, H> {
    /// Creates the agent and loads the stored pods (as Pending).
    pub fn new(cfg: AgentConfig, switch: S, db: D, host: H) -> Result<Self, ApiError> {
        let store = PodStore::open(&cfg.state_dir).map_err(|e| api_err(code::IO_FAILURE, e.to_string()))?;
        let mut st = State::default();
        let loaded = store.load_all(usable).map_err(|e| api_err(code::IO_FAILURE, e.to_string()))?;
        for rec in loaded.records {
            st.pods.insert(rec.request.key.clone(), Pod::new(rec));
        }
        st.quarantined = loaded.quarantined;
        st.round = std::fs::read_to_string(cfg.state_dir.join("round")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        Ok(Agent {
            secondary: std::sync::Mutex::new(None),
            peers: std::sync::Mutex::new(None),
            cfg,
            switch,
            db,
            host,
            store,
            state: Mutex::new(st),
            round_lock: RwLock::new(()),
            round_wake: tokio::sync::Notify::new(),
            key_locks: KeySlots::default(),
        })
    }

    /// Makes secondary bridges participants of every later round.
    pub fn set_secondary(&self, s: Arc<dyn SecondaryFlows>) {
        *self.secondary.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }

    /// Makes the peers a participant of every later round.
    pub fn set_peers(&self, p: Arc<dyn PeerFlows>) {
        *self.peers.lock().unwrap_or_else(|e| e.into_inner()) = Some(p);
    }

    async fn log(&self, e: RoundEvent) {
        match &e {
            RoundEvent::PodAcked(_) => tracing::debug!(event = ?e, "round event"),
            _ => tracing::info!(event = ?e, "round event"),
        }
        let mut st = self.state.lock().await;
        // Bounded: a long-lived agent with many pods must not grow.
        if st.log.len() >= MAX_EVENTS {
            st.log.drain(..MAX_EVENTS / 2);
        }
        st.log.push((Instant::now(), e));
    }

    /// Events recorded so far (for status, metrics, the demo and tests).
    pub async fn events(&self) -> Vec<(Instant, RoundEvent)> {
        self.state.lock().await.log.clone()
    }

    pub async fn set_connected(&self, openflow: Option<bool>, ovsdb: Option<bool>) {
        let mut st = self.state.lock().await;
        if let Some(o) = openflow {
            st.openflow_connected = o;
        }
        if let Some(o) = ovsdb {
            st.ovsdb_connected = o;
        }
    }

    /// The switch that acknowledged our pods is gone: nothing is Ready
    /// until the next round's switch acknowledges it again.
    pub async fn switch_gone(&self) {
        let mut st = self.state.lock().await;
        st.openflow_connected = false;
        st.ready = false;
        st.adds_open = false;
        st.not_ready_reason = Some("switch lost".into());
        for p in st.pods.values_mut() {
            if matches!(p.state, PodState::Ready { .. }) {
                p.state = PodState::Pending { reason: Some("switch lost".into()) };
            }
        }
    }

    /// Sets `flow-restore-wait` and remembers it for status: while the
    /// switch is gone, a restarting `ovs-vswitchd` must wait for us.
    pub async fn set_flow_restore_wait(&self) -> Result<(), BackendError> {
        self.db.set_flow_restore_wait().await?;
        self.state.lock().await.flow_restore_wait = Some(true);
        Ok(())
    }

    fn key_lock(&self, key: &PodKey) -> SlotRef<'_> {
        self.key_locks.get(key)
    }

    /// Runs one round: replays the base pipeline and every stored pod,
    /// removes `flow-restore-wait` when the gate opens, then deletes every
    /// older round's flows. See [`Agent::run_round_until`].
    pub async fn run_round(&self) -> Result<u16, BackendError> {
        self.run_round_until(std::future::pending()).await
    }

    /// Drives one [`Round`] (the decisions are its own; this carries out
    /// its actions) until it completes or `lost` resolves: the switch it
    /// talks to is gone, and the round ends at once, unfinished.
    ///
    /// Pod requests wait while the round replays; once every participant
    /// was sent once (the round only waits for retries or its deadline,
    /// perhaps forever), they go ahead on their own. A DEL during the
    /// replay is handed to the round, which withdraws the pod from its
    /// gate and removes it, so a round without a deadline never blocks the
    /// DEL that would unblock it.
    pub async fn run_round_until(&self, lost: impl std::future::Future<Output = ()>) -> Result<u16, BackendError> {
        let mut exclusive = Some(self.round_lock.write().await);
        {
            let mut st = self.state.lock().await;
            st.round_running = true;
            st.adds_open = false;
        }
        let r = self.drive_round(&mut exclusive, lost).await;
        drop(exclusive);
        let left = {
            let mut st = self.state.lock().await;
            st.round_running = false;
            std::mem::take(&mut st.withdrawals)
        };
        for (key, tx) in left {
            let slot = self.key_lock(&key);
            let _k = slot.lock.lock().await;
            let _ = tx.send(self.remove_pod(&key).await);
        }
        r
    }

    /// Removes the pods DELs handed to the running round, and tells the
    /// round which of its pods are gone (handed over, or deleted by a DEL
    /// that ran on its own once the replay was done).
    async fn sync_removed(&self, m: &mut Round) {
        let w = std::mem::take(&mut self.state.lock().await.withdrawals);
        for (key, tx) in w {
            let r = self.remove_pod(&key).await;
            if r.is_ok() {
                m.handle(Ev::PodRemoved(key.clone()), Instant::now());
                self.log(RoundEvent::PodRemoved(key)).await;
            }
            let _ = tx.send(r);
        }
        let gone: Vec<PodKey> = {
            let st = self.state.lock().await;
            m.waiting_pods().filter(|k| !st.pods.contains_key(k)).cloned().collect()
        };
        for k in gone {
            m.handle(Ev::PodRemoved(k), Instant::now());
        }
    }

    async fn drive_round(&self, exclusive: &mut Option<tokio::sync::RwLockWriteGuard<'_, ()>>, lost: impl std::future::Future<Output = ()>) -> Result<u16, BackendError> {
        tokio::pin!(lost);
        let t0 = Instant::now();
        let (round, keys) = {
            let mut st = self.state.lock().await;
            st.ready = false;
            st.not_ready_reason = None;
            st.round = st.round.wrapping_add(1).max(1);
            for p in st.pods.values_mut() {
                p.state = PodState::Pending { reason: None };
            }
            (st.round, st.pods.iter().map(|(k, p)| (k.clone(), p.record.request.netns.clone())).collect::<Vec<_>>())
        };
        write_atomic(&self.cfg.state_dir.join("round"), round.to_string().as_bytes()).map_err(|e| BackendError::Other(e.to_string()))?;
        self.log(RoundEvent::Started { round }).await;
        // Pods whose namespace is gone are removed, not replayed.
        let mut live = Vec::with_capacity(keys.len());
        for (key, ns) in keys {
            if self.host.netns_exists(&ns) {
                live.push(key);
                continue;
            }
            match self.remove_pod(&key).await {
                Ok(()) => self.log(RoundEvent::PodRemoved(key)).await,
                Err(e) => tracing::warn!(pod = %key.file_name(), error = %e, "the pod's namespace is gone but its cleanup failed; the next round tries again"),
            }
        }
        // Every participant is registered before anything is installed.
        let secondary = self.secondary.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let bridges: Vec<String> = secondary.as_ref().map(|s| s.bridges()).unwrap_or_default();
        let rcfg = RoundConfig {
            deadline: self.cfg.gate_deadline,
            retry_initial: self.cfg.retry_initial,
            retry_max: self.cfg.retry_max,
            clear_key_early: self.cfg.fault_clear_key_early,
        };
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut m = Round::new(
            round,
            live.into_iter().map(Participant::Pod).chain(bridges.into_iter().map(Participant::Bridge)).chain(peers.iter().map(|_| Participant::Peers)),
            t0,
            rcfg,
        );
        let mut gate_logged = false;
        loop {
            if exclusive.is_some() && m.replayed() {
                // Only retries or the deadline are left: pod requests go ahead.
                *exclusive = None;
                self.state.lock().await.adds_open = true;
            }
            self.sync_removed(&mut m).await;
            let Some(action) = m.poll_action() else {
                let at = m.poll_timeout();
                tokio::select! {
                    _ = async { match at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => m.handle_timeout(Instant::now()),
                    _ = self.round_wake.notified() => {}
                    _ = &mut lost => m.handle(Ev::SwitchLost, Instant::now()),
                }
                continue;
            };
            let events = match action {
                Action::Done(outcome) => return self.round_done(round, t0, outcome).await,
                Action::ClearKey(opened) if !gate_logged => {
                    gate_logged = true;
                    let missing: Vec<String> = match &opened {
                        Opened::AllAcked { .. } => vec![],
                        Opened::Deadline { missing } => missing.iter().map(|(p, why)| format!("{p}: {why}")).collect(),
                    };
                    if !missing.is_empty() {
                        tracing::error!(?missing, "gate deadline passed with pods not ready; removing flow-restore-wait anyway");
                    }
                    self.log(RoundEvent::GateOpened { round, missing }).await;
                    tokio::select! {
                        biased;
                        _ = &mut lost => vec![Ev::SwitchLost],
                        ev = self.carry_out(Action::ClearKey(opened), round, secondary.as_deref(), peers.as_deref()) => ev?,
                    }
                }
                action => tokio::select! {
                    biased;
                    _ = &mut lost => vec![Ev::SwitchLost],
                    ev = self.carry_out(action, round, secondary.as_deref(), peers.as_deref()) => ev?,
                },
            };
            m.handle_all(events, Instant::now());
        }
    }

    /// Carries out one action of the round; says what came of it.
    async fn carry_out(&self, action: Action, round: u16, secondary: Option<&dyn SecondaryFlows>, peers: Option<&dyn PeerFlows>) -> Result<Vec<Ev>, BackendError> {
        Ok(match action {
            Action::ClearKeyEarly => {
                tracing::warn!("fault injection: removing flow-restore-wait before the replay");
                self.db.clear_flow_restore_wait().await?;
                // The bug this imitates left ~300 ms between the removal and
                // the pods' flows. Without that gap the replay follows within
                // ~8 ms, and a monitor on a loaded machine could see the
                // removal after the acknowledgements (a CI run did): the
                // fault would go unnoticed by luck, not by a weak check.
                tokio::time::sleep(Duration::from_millis(300)).await;
                vec![]
            }
            Action::InstallBase | Action::Install(Participant::Base) => {
                // The port numbers are asked while the base pipeline goes in: the
                // pods' flows need them, the base does not, and the round is not delayed.
                let (ports, base) = tokio::join!(self.refresh_ofports(), self.switch.install(pipeline::base_flows(round, &self.cfg.gateway)));
                match ports.and(base) {
                    Ok(()) => {
                        self.log(RoundEvent::BaseAcked).await;
                        vec![Ev::Acked(Participant::Base)]
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the base pipeline failed during replay");
                        vec![Ev::Refused(Participant::Base, e.to_string())]
                    }
                }
            }
            Action::InstallPods(keys) => self.install_pods(round, keys).await,
            Action::Install(Participant::Pod(k)) => self.install_pods(round, vec![k]).await,
            Action::Install(p @ Participant::Bridge(_)) => {
                let Participant::Bridge(b) = &p else { unreachable!() };
                let r = match secondary {
                    Some(sec) => sec.install(b).await,
                    None => Err(BackendError::Other(format!("no secondary bridge {b} is configured"))),
                };
                match r {
                    Ok(()) => vec![Ev::Acked(p)],
                    Err(e) => {
                        tracing::error!(bridge = %b, error = %e, "secondary bridge flows failed during replay");
                        vec![Ev::Refused(p, e.to_string())]
                    }
                }
            }
            Action::Install(Participant::Peers) => {
                // Until the source has a complete list the participant is
                // refused, so the round retries it (with its backoff).
                let r = match peers {
                    Some(p) => p.install(round).await,
                    None => Err(BackendError::Other("no peer source is configured".into())),
                };
                match r {
                    Ok(true) => {
                        let unix_ns = SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
                        tracing::info!(round, unix_ns, "peers acknowledged");
                        self.log(RoundEvent::PeersAcked).await;
                        vec![Ev::Acked(Participant::Peers)]
                    }
                    Ok(false) => vec![Ev::Refused(Participant::Peers, "the peer source has no complete list yet".into())],
                    Err(e) => {
                        tracing::error!(error = %e, "the peers' routes/flows failed during replay");
                        vec![Ev::Refused(Participant::Peers, e.to_string())]
                    }
                }
            }
            Action::ClearKey(_) => match self.db.clear_flow_restore_wait().await {
                Ok(()) => {
                    self.log(RoundEvent::FlowRestoreWaitCleared).await;
                    let mut st = self.state.lock().await;
                    st.flow_restore_wait = Some(false);
                    st.ready = true;
                    vec![Ev::KeyCleared]
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove flow-restore-wait; retrying");
                    vec![Ev::StepFailed(e.to_string())]
                }
            },
            Action::DeleteStale(current) => match self.delete_stale_rounds(current).await {
                Ok(()) => vec![Ev::StaleDeleted],
                Err(e) => {
                    tracing::warn!(error = %e, "could not delete older rounds' flows; the next round does");
                    vec![Ev::StepFailed(e.to_string())]
                }
            },
            Action::Done(_) => vec![],
        })
    }

    /// Installs the pods the round asks for, in as few bundles as
    /// possible; pods gone or made Ready meanwhile (by their own ADD) are
    /// reported as such.
    async fn install_pods(&self, round: u16, keys: Vec<PodKey>) -> Vec<Ev> {
        let mut events = Vec::new();
        let mut batch: Vec<(PodKey, PodPort)> = Vec::new();
        let mut unusable = Vec::new();
        {
            let st = self.state.lock().await;
            for key in keys {
                match st.pods.get(&key) {
                    None => events.push(Ev::PodRemoved(key)),
                    Some(p) if matches!(p.state, PodState::Ready { round: r, .. } if r == round) => events.push(Ev::Acked(Participant::Pod(key))),
                    Some(p) => match p.port.clone() {
                        Some(port) => batch.push((key, port)),
                        None => unusable.push(key),
                    },
                }
            }
        }
        for key in unusable {
            let why = "the stored record has no usable IPv4 address or MAC".to_string();
            self.pod_failed(&key, why.clone()).await;
            events.push(Ev::Refused(Participant::Pod(key), why));
        }
        let (n, t0) = (batch.len(), Instant::now());
        for chunk in batch.chunks(REPLAY_BATCH_PODS) {
            for (key, r) in self.replay_batch(round, chunk.to_vec()).await {
                events.push(match r {
                    Ok(()) => Ev::Acked(Participant::Pod(key)),
                    Err(why) => Ev::Refused(Participant::Pod(key), why),
                });
            }
        }
        if n > 0 {
            tracing::info!(pods = n, took_ms = t0.elapsed().as_millis() as u64, "pods' flows sent and answered");
        }
        events
    }

    /// The round is over: ready, or the switch went away first.
    async fn round_done(&self, round: u16, t0: Instant, outcome: Outcome) -> Result<u16, BackendError> {
        match outcome {
            Outcome::SwitchLost => Err(BackendError::Unavailable("the switch", format!("it went away during round {round}"))),
            Outcome::Complete { stale_kept } => {
                let mut st = self.state.lock().await;
                st.restore_duration = Some(t0.elapsed());
                if stale_kept {
                    // A refused pod's older flows may still be in the switch (an
                    // agent restart keeps them): they forward until its retry succeeds.
                    tracing::warn!("older rounds' flows are kept until every pod is installed again");
                    st.stale_delete_pending = true;
                }
                Ok(round)
            }
        }
    }

    /// Deletes podflow's flows of every round but `current` (an agent
    /// killed mid-round may have left more than one old round), with
    /// cookie-masked deletes that never match a foreign flow.
    async fn delete_stale_rounds(&self, current: u16) -> Result<(), BackendError> {
        self.switch.delete(pipeline::delete_other_rounds(current)).await?;
        self.log(RoundEvent::StaleRoundsDeleted { kept: current }).await;
        Ok(())
    }

    /// OVS is the truth for port numbers: a pod whose interface OVS
    /// numbered differently (its request was taken, or the port was added
    /// again) gets flows for the number it really has, and its record says
    /// so. The switch is asked, not the OVSDB replica: a restarted
    /// vswitchd writes `Interface.ofport` some time after it accepts
    /// connections, so the replica may still hold the old switch's numbers.
    async fn refresh_ofports(&self) -> Result<(), BackendError> {
        let actual = self.switch.ports().await?;
        let mut changed = Vec::new();
        {
            let mut st = self.state.lock().await;
            for (key, p) in st.pods.iter_mut() {
                let Some(&n) = actual.get(&p.record.attachment.host_ifname) else { continue };
                if n != p.record.attachment.ofport {
                    tracing::warn!(pod = %key.file_name(), stored = p.record.attachment.ofport, ovs = n, "OVS numbered the pod's port differently; using its number");
                    p.record.attachment.ofport = n;
                    if let Some(port) = p.port.as_mut() {
                        port.ofport = n;
                    }
                    changed.push(p.record.clone());
                }
            }
        }
        for rec in changed {
            if let Err(e) = self.store.put(&rec) {
                tracing::error!(pod = %rec.request.key.file_name(), error = %e, "could not store the pod's new ofport");
            }
        }
        Ok(())
    }

    /// Retries the pods whose flows failed (after a gate opened at its
    /// deadline, or an ADD racing a switch error). Returns how many are
    /// still Failed. Pod requests wait while it runs, as during a round.
    pub async fn retry_failed(&self) -> usize {
        let _w = self.round_lock.write().await;
        let (round, todo): (u16, Vec<(PodKey, PodPort)>) = {
            let st = self.state.lock().await;
            let todo = st
                .pods
                .iter()
                .filter(|(_, p)| matches!(p.state, PodState::Failed { .. }))
                .filter_map(|(k, p)| p.port.clone().map(|port| (k.clone(), port)))
                .collect();
            (st.round, todo)
        };
        if todo.is_empty() {
            return 0;
        }
        self.replay_batch(round, todo).await;
        let (failed, stale) = {
            let st = self.state.lock().await;
            (st.pods.values().filter(|p| matches!(p.state, PodState::Failed { .. })).count(), st.stale_delete_pending)
        };
        if failed == 0 && stale {
            match self.delete_stale_rounds(round).await {
                Ok(()) => self.state.lock().await.stale_delete_pending = false,
                Err(e) => tracing::warn!(error = %e, "could not delete older rounds' flows; the next retry or round does"),
            }
        }
        failed
    }

    /// Installs a batch of pods' flows in as few bundles as possible: one,
    /// unless the switch refuses some pods' flows, which are then marked
    /// Failed while the rest are sent again. Says what became of each pod.
    async fn replay_batch(&self, round: u16, mut todo: Vec<(PodKey, PodPort)>) -> Vec<(PodKey, Result<(), String>)> {
        let mut out = Vec::with_capacity(todo.len());
        while !todo.is_empty() {
            let groups = todo.iter().map(|(_, p)| pipeline::pod_flows(round, p)).collect();
            let outcomes = self.switch.install_batch(groups).await;
            // One commit reply acknowledged the whole batch, at one moment.
            let ready = ready_now(round);
            let mut acked = Vec::new();
            let mut again = Vec::new();
            for ((key, port), outcome) in todo.into_iter().zip(outcomes) {
                match outcome {
                    GroupOutcome::Acked => {
                        acked.push(key.clone());
                        out.push((key, Ok(())));
                    }
                    GroupOutcome::Failed(e) => {
                        let why = e.to_string();
                        self.pod_failed(&key, why.clone()).await;
                        out.push((key, Err(why)));
                    }
                    GroupOutcome::NotApplied => again.push((key, port)),
                }
            }
            self.set_acked(&acked, ready).await;
            todo = again;
        }
        out
    }

    async fn pod_failed(&self, key: &PodKey, why: String) {
        tracing::error!(pod = %key.file_name(), error = %why, "pod flows failed during replay");
        self.set_state(key, PodState::Failed { error: why.clone() }).await;
        self.log(RoundEvent::PodFailed(key.clone(), why)).await;
    }

    /// Marks `keys` Ready (one state lock for a whole batch: 10,000 pods
    /// are acknowledged by one commit reply) and records their events.
    async fn set_acked(&self, keys: &[PodKey], ready: PodState) {
        tracing::debug!(pods = keys.len(), "pods acknowledged");
        let now = Instant::now();
        let mut st = self.state.lock().await;
        for k in keys {
            if let Some(p) = st.pods.get_mut(k) {
                p.state = ready.clone();
            }
        }
        // Bounded like `log`: only the newest events are kept.
        let keep = keys.len().min(MAX_EVENTS / 2);
        if st.log.len() + keep > MAX_EVENTS {
            let excess = (st.log.len() + keep - MAX_EVENTS / 2).min(st.log.len());
            st.log.drain(..excess);
        }
        st.log.extend(keys[keys.len() - keep..].iter().map(|k| (now, RoundEvent::PodAcked(k.clone()))));
    }

    async fn set_state(&self, key: &PodKey, s: PodState) {
        if let Some(p) = self.state.lock().await.pods.get_mut(key) {
            p.state = s;
        }
    }

    /// Removes everything of a pod: its flows (best effort: the next
    /// round's stale delete covers them), then its OVS port and host veth
    /// by name (derived from the key, so this works without a record, e.g.
    /// after a crash between plumbing and storing), and only once both are
    /// gone, its record. A failure keeps the record for a retried DEL.
    async fn remove_pod(&self, key: &PodKey) -> Result<(), BackendError> {
        let rec = self.state.lock().await.pods.get(key).map(|p| p.record.clone());
        let host_if = rec.as_ref().map_or_else(|| host_ifname(key), |r| r.attachment.host_ifname.clone());
        if let Some(rec) = &rec {
            let del = FlowMod {
                command: FlowModCommand::DELETE,
                table_id: TABLE_ALL,
                cookie: cookie::make(0, cookie::CATEGORY_POD, rec.attachment.ofport),
                cookie_mask: cookie::OBJECT_MASK,
                ..FlowMod::default()
            };
            if let Err(e) = self.switch.delete(vec![del]).await {
                tracing::warn!(pod = %key.file_name(), error = %e, "could not delete pod flows; the next round removes them");
            }
        }
        self.db.del_port(&host_if).await?;
        self.host.unplumb(&host_if).await?;
        self.store.remove(key).map_err(|e| BackendError::Other(e.to_string()))?;
        self.state.lock().await.pods.remove(key);
        Ok(())
    }

    /// At start, before the first round: removes the OVS ports and host
    /// veths of pods the agent has no record of (a crash between plumbing
    /// and the record, a DEL that never came). Pods in quarantine are never
    /// touched: their record may yet be repaired by hand.
    ///
    /// ADDs that an earlier run began but never committed (an intent file
    /// without a record) also get their lease back, through the IPAM
    /// plugin their CNI plugin used: that plugin may have died with the
    /// agent, and nobody else would release it.
    pub async fn reconcile(&self) -> Result<Vec<String>, BackendError> {
        let (pods, quarantined, keep): (std::collections::HashSet<PodKey>, std::collections::HashSet<PodKey>, std::collections::HashSet<String>) = {
            let st = self.state.lock().await;
            let pods = st.pods.keys().cloned().collect();
            let quarantined = st.quarantined.iter().map(|q| q.key.clone()).collect();
            let keep = st.pods.values().map(|p| p.record.attachment.host_ifname.clone()).chain(st.quarantined.iter().map(|q| host_ifname(&q.key))).collect();
            (pods, quarantined, keep)
        };
        let known: std::collections::HashSet<PodKey> = pods.union(&quarantined).cloned().collect();
        let mut removed = Vec::new();
        let intents = self.store.intents().unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read the ADD intents; leases of ADDs cut short are not released");
            vec![]
        });
        for intent in intents {
            let key = intent.key.clone();
            if quarantined.contains(&key) {
                continue;
            }
            if !pods.contains(&key) {
                let host_if = host_ifname(&key);
                let undone = async {
                    self.db.del_port(&host_if).await?;
                    self.host.unplumb(&host_if).await?;
                    self.host.release_lease(&intent).await
                };
                if let Err(e) = undone.await {
                    tracing::error!(pod = %key.file_name(), error = %e, "could not undo an ADD the last run cut short; the next start or a DEL tries again");
                    continue;
                }
                tracing::warn!(pod = %key.file_name(), port = %host_if, "undid an ADD the last run cut short: port, veth and IPAM lease released");
                removed.push(host_if);
            }
            // Committed before the crash, or undone now: the intent is spent.
            if let Err(e) = self.store.remove_intent(&key) {
                tracing::warn!(pod = %key.file_name(), error = %e, "could not remove a spent ADD intent");
            }
        }
        for (port, key) in self.db.pod_ports() {
            if !known.contains(&key) && !keep.contains(&port) {
                self.db.del_port(&port).await?;
                removed.push(port);
            }
        }
        for link in self.host.pod_links().await? {
            if !keep.contains(&link) {
                self.host.unplumb(&link).await?;
                if !removed.contains(&link) {
                    removed.push(link);
                }
            }
        }
        if !removed.is_empty() {
            tracing::warn!(?removed, "removed ports and veths of pods the agent has no record of");
        }
        Ok(removed)
    }

    /// Drops the quarantined record of `key` once its pod was cleaned up or
    /// replaced by a new ADD.
    async fn forget_quarantined(&self, key: &PodKey) {
        let mut st = self.state.lock().await;
        for q in st.quarantined.iter().filter(|q| &q.key == key) {
            if let Err(e) = self.store.forget_quarantined(&q.file) {
                tracing::warn!(file = %q.file, error = %e, "could not remove a quarantined record");
            }
        }
        st.quarantined.retain(|q| &q.key != key);
    }

    /// The lowest number neither a pod nor an ADD in progress holds; the
    /// caller reserves it under the same lock.
    fn next_ofport(st: &State) -> u32 {
        let used: std::collections::BTreeSet<u32> = st.pods.values().map(|p| p.record.attachment.ofport).collect();
        (FIRST_POD_OFPORT..).find(|p| !used.contains(p) && !st.reserved_ofports.contains(p)).expect("ports are plentiful")
    }

    /// CNI ADD: plumb the pod, store it, install its flows in one bundle,
    /// answer when the switch acknowledged them.
    pub async fn add_pod(&self, req: AddPod) -> Result<PodAttachment, ApiError> {
        self.add_pod_for(req, || false).await
    }

    /// [`Agent::add_pod`] for a client that may go away (the plugin gives
    /// up after its timeout and releases the pod's lease): when
    /// `client_gone` says so before the record is stored or before the
    /// answer, the pod is undone under its key's lock, so a retried ADD
    /// never finds it half there, and no pod lives on with a released address.
    pub async fn add_pod_for(&self, mut req: AddPod, client_gone: impl Fn() -> bool + Send + Sync) -> Result<PodAttachment, ApiError> {
        req.validate().map_err(|e| api_err(code::INVALID_ENV, e.to_string()))?;
        // The lease's release lives only in the intent file, for as long as
        // the ADD runs: records (and memory) stay as they were.
        let release = req.ipam.take();
        if !self.host.netns_exists(&req.netns) {
            return Err(api_err(code::INVALID_ENV, format!("network namespace {} does not exist", req.netns)));
        }
        let ip = pod_addrs(&req.ips).map_err(|e| api_err(code::INVALID_CONFIG, e))?;
        let _r = self.round_lock.read().await;
        if !{
            let st = self.state.lock().await;
            st.ready || st.adds_open
        } {
            return Err(api_err(code::TRY_AGAIN_LATER, "the agent is not connected to the switch yet; try again later"));
        }
        let slot = self.key_lock(&req.key);
        let _k = slot.lock.lock().await;
        let del = DelWatch { seen: slot.dels.load(std::sync::atomic::Ordering::SeqCst), slot: &slot };

        let existing = self.state.lock().await.pods.get(&req.key).map(|p| (p.record.clone(), p.state.clone()));
        if let Some((rec, state)) = existing {
            if rec.request == req {
                if let PodState::Ready { .. } = state {
                    return Ok(rec.attachment);
                }
                // Same intent, not ready: install again below with the same port.
            } else {
                // A different intent for the same key: the latest one wins.
                self.remove_pod(&req.key).await.map_err(|e| backend_err(&e))?;
            }
        }
        // Written before anything is created, removed once the ADD ended
        // either way (a crash in between leaves it for `reconcile`).
        let intent = release.map(|r| AddPod { ipam: Some(r), ..req.clone() });
        if let Some(i) = &intent {
            self.store.put_intent(i).map_err(|e| api_err(code::IO_FAILURE, e.to_string()))?;
        }
        // Reserved before the first await that follows, released whatever happens.
        let ofport_req = {
            let mut st = self.state.lock().await;
            let n = st.pods.get(&req.key).map(|p| p.record.attachment.ofport).unwrap_or_else(|| Self::next_ofport(&st));
            st.reserved_ofports.insert(n);
            n
        };
        let res = self.plumb_and_install(&req, ip, ofport_req, &client_gone, &del).await;
        self.state.lock().await.reserved_ofports.remove(&ofport_req);
        if intent.is_some() {
            if let Err(e) = self.store.remove_intent(&req.key) {
                tracing::warn!(pod = %req.key.file_name(), error = %e, "could not remove the ADD's intent; the next start finds the pod committed and drops it");
            }
        }
        if res.is_ok() {
            self.forget_quarantined(&req.key).await;
        }
        res
    }

    /// The part of ADD that creates things; on failure it leaves nothing.
    ///
    /// A DEL of the pod that arrives meanwhile wins: the ADD stops at its
    /// next step, or while it waits for OVS (its port number, the switch's
    /// acknowledgement), undoes the pod and fails; the DEL, queued on the
    /// key's lock, then finds nothing left to remove.
    async fn plumb_and_install(&self, req: &AddPod, ip: (Option<Ipv4Addr>, Option<Ipv6Addr>), ofport_req: u32, client_gone: &(impl Fn() -> bool + Send + Sync), del: &DelWatch<'_>) -> Result<PodAttachment, ApiError> {
        let host_if = host_ifname(&req.key);
        let deleted = || async {
            tracing::warn!(pod = %req.key.file_name(), "a DEL of the pod arrived while its ADD ran; the DEL wins: undoing the pod");
            if let Err(e) = self.remove_pod(&req.key).await {
                tracing::error!(pod = %req.key.file_name(), error = %e, "could not undo the pod; the DEL that follows retries");
            }
            Err::<PodAttachment, ApiError>(deleted_meanwhile(&req.key))
        };
        let undo = |why: &str, e: &BackendError| tracing::error!(pod = %req.key.file_name(), error = %e, "{why}; undoing the pod");
        let plumbed = match self.host.plumb(req, &host_if).await {
            Ok(p) => p,
            Err(e) => {
                undo("plumbing failed", &e);
                let _ = self.host.unplumb(&host_if).await;
                return Err(backend_err(&e));
            }
        };
        let mut ids = BTreeMap::new();
        ids.insert("podflow-container-id".to_string(), req.key.container_id.clone());
        ids.insert("podflow-ifname".to_string(), req.key.ifname.clone());
        if let Some(ns) = &req.k8s_namespace {
            ids.insert("k8s-pod-namespace".to_string(), ns.clone());
        }
        if let Some(n) = &req.k8s_name {
            ids.insert("k8s-pod-name".to_string(), n.clone());
        }
        if del.arrived() {
            return deleted().await;
        }
        // OVS may give another number than requested: the one it gave is used and stored.
        let added = tokio::select! {
            r = self.db.add_port(&host_if, ofport_req, ids) => r,
            () = del.wait() => {
                // The port's insert may still be in flight: one round trip
                // to OVSDB (answered after the insert's update) before the
                // undo looks for the port by name.
                let _ = self.db.flow_restore_wait().await;
                return deleted().await;
            }
        };
        let ofport = match added {
            Ok(p) => p,
            Err(e) => {
                undo("adding the port failed", &e);
                let _ = self.db.del_port(&host_if).await;
                let _ = self.host.unplumb(&host_if).await;
                return Err(backend_err(&e));
            }
        };
        if self.cfg.fault_hang_after_plumbing {
            tracing::warn!(pod = %req.key.file_name(), "fault injection: the ADD stops after plumbing, before its record");
            std::future::pending::<()>().await;
        }
        let rec = PodRecord {
            request: req.clone(),
            attachment: PodAttachment {
                host_ifname: host_if.clone(),
                host_mac: format_mac(&plumbed.host_mac),
                ifname: req.key.ifname.clone(),
                mac: format_mac(&plumbed.pod_mac),
                netns: req.netns.clone(),
                ofport,
            },
        };
        if del.arrived() {
            return deleted().await;
        }
        let gone = client_gone();
        let stored = if gone { Ok(()) } else { self.store.put(&rec) };
        if gone || stored.is_err() {
            if gone {
                tracing::warn!(pod = %req.key.file_name(), "the client went away before the pod was committed; undoing the pod");
            }
            let _ = self.db.del_port(&host_if).await;
            let _ = self.host.unplumb(&host_if).await;
            return Err(match stored {
                Err(e) => api_err(code::IO_FAILURE, e.to_string()),
                Ok(()) => client_went_away(&req.key),
            });
        }
        let round = {
            let mut st = self.state.lock().await;
            st.pods.insert(req.key.clone(), Pod::new(rec.clone()));
            st.round
        };
        let port = PodPort { ofport, mac: plumbed.pod_mac, ipv4: ip.0, ipv6: ip.1 };
        let installed = tokio::select! {
            r = self.switch.install(pipeline::pod_flows(round, &port)) => r,
            () = del.wait() => return deleted().await,
        };
        match installed {
            Ok(()) if del.arrived() => deleted().await,
            Ok(()) if client_gone() => {
                tracing::warn!(pod = %req.key.file_name(), "the client went away before the answer; undoing the pod");
                self.remove_pod(&req.key).await.map_err(|e| backend_err(&e))?;
                Err(client_went_away(&req.key))
            }
            Ok(()) => {
                self.set_state(&req.key, ready_now(round)).await;
                Ok(rec.attachment)
            }
            Err(e) => {
                // Nothing half-created: the runtime retries ADD from scratch.
                undo("pod flows failed", &e);
                if let Err(e2) = self.remove_pod(&req.key).await {
                    tracing::error!(pod = %req.key.file_name(), error = %e2, "could not undo the pod; a DEL or the next ADD retries");
                }
                Err(backend_err(&e))
            }
        }
    }

    /// CNI DEL: idempotent; deleting an absent pod succeeds (its port and
    /// veth are still removed by name). Fails, keeping the record, when
    /// the cleanup did not complete, so the runtime retries.
    pub async fn del_pod(&self, key: &PodKey) -> Result<(), ApiError> {
        key.validate().map_err(|e| api_err(code::INVALID_ENV, e.to_string()))?;
        // Lock order as in ADD (round, then key), and no key lock while
        // waiting: an ADD of this key holding the round lock for reading
        // must be able to finish, or a round queued behind it never starts.
        // An ADD of this pod running now gives up (the DEL wins) and
        // releases the key's lock sooner.
        let slot = self.key_lock(key);
        slot.announce_del();
        let removed = loop {
            if let Ok(_r) = self.round_lock.try_read() {
                let _k = slot.lock.lock().await;
                break self.remove_pod(key).await;
            }
            let handed = {
                let mut st = self.state.lock().await;
                st.round_running.then(|| {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    st.withdrawals.push((key.clone(), tx));
                    rx
                })
            };
            match handed {
                Some(rx) => {
                    self.round_wake.notify_one();
                    break rx.await.unwrap_or_else(|_| Err(BackendError::Unavailable("the round", "it stopped before removing the pod".into())));
                }
                // A retry of failed pods (short) or a round starting or ending.
                None => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        removed.map_err(|e| backend_err(&e))?;
        // An intent a failed start-up undo left: the plugin's DEL releases the lease.
        if let Err(e) = self.store.remove_intent(key) {
            tracing::warn!(pod = %key.file_name(), error = %e, "could not remove a leftover ADD intent");
        }
        if self.state.lock().await.round_running {
            // The round may be waiting for exactly this pod.
            self.round_wake.notify_one();
        }
        self.forget_quarantined(key).await;
        Ok(())
    }

    /// CNI CHECK: the pod exists, is Ready and its namespace is there.
    pub async fn check_pod(&self, key: &PodKey) -> Result<(), ApiError> {
        key.validate().map_err(|e| api_err(code::INVALID_ENV, e.to_string()))?;
        let st = self.state.lock().await;
        if let Some(q) = st.quarantined.iter().find(|q| &q.key == key) {
            return Err(api_err(code::IO_FAILURE, format!("the pod's record was quarantined: {}", q.reason)));
        }
        let p = st.pods.get(key).ok_or_else(|| api_err(code::UNKNOWN_CONTAINER, format!("no pod {}", key.file_name())))?;
        if !self.host.netns_exists(&p.record.request.netns) {
            return Err(api_err(code::UNKNOWN_CONTAINER, format!("the namespace of pod {} is gone", key.file_name())));
        }
        match &p.state {
            PodState::Ready { .. } => Ok(()),
            PodState::Pending { reason } => Err(api_err(
                code::TRY_AGAIN_LATER,
                format!("the pod's flows are not acknowledged by the switch yet{}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()),
            )),
            PodState::Failed { error } => Err(api_err(code::IO_FAILURE, error.clone())),
            PodState::Quarantined { reason } => Err(api_err(code::IO_FAILURE, reason.clone())),
        }
    }

    pub async fn pods(&self) -> Vec<PodInfo> {
        self.pods_where(|_| true).await
    }

    /// One pod's info, if the agent has it.
    pub async fn pod(&self, key: &PodKey) -> Option<PodInfo> {
        self.pods_where(|k| k == key).await.pop()
    }

    async fn pods_where(&self, f: impl Fn(&PodKey) -> bool) -> Vec<PodInfo> {
        let st = self.state.lock().await;
        let quarantined = st.quarantined.iter().filter(|q| f(&q.key)).map(|q| PodInfo {
            key: q.key.clone(),
            k8s_namespace: None,
            k8s_name: None,
            ips: vec![],
            routes: vec![],
            netns: String::new(),
            attachment: None,
            state: PodState::Quarantined { reason: q.reason.clone() },
        });
        st.pods
            .iter()
            .filter(|(k, _)| f(k))
            .map(|(_, p)| p)
            .map(|p| PodInfo {
                key: p.record.request.key.clone(),
                k8s_namespace: p.record.request.k8s_namespace.clone(),
                k8s_name: p.record.request.k8s_name.clone(),
                ips: p.record.request.ips.clone(),
                routes: p.record.request.routes.clone(),
                netns: p.record.request.netns.clone(),
                attachment: Some(p.record.attachment.clone()),
                state: p.state.clone(),
            })
            .chain(quarantined)
            .collect()
    }

    pub async fn status(&self) -> Status {
        let st = self.state.lock().await;
        let count = |f: fn(&PodState) -> bool| st.pods.values().filter(|p| f(&p.state)).count();
        Status {
            bridge: self.cfg.bridge.clone(),
            openflow_connected: st.openflow_connected,
            ovsdb_connected: st.ovsdb_connected,
            round: st.round,
            flow_restore_wait: st.flow_restore_wait,
            pods_ready: count(|s| matches!(s, PodState::Ready { .. })),
            pods_pending: count(|s| matches!(s, PodState::Pending { .. })),
            pods_failed: count(|s| matches!(s, PodState::Failed { .. })),
            pods_quarantined: st.quarantined.len(),
            not_ready_reason: if st.ready { None } else { Some(st.not_ready_reason.clone().unwrap_or_else(|| "no round has removed flow-restore-wait yet".into())) },
            ready: st.ready,
        }
    }

    /// How long the last round took from start to the key's removal.
    pub async fn last_restore_duration(&self) -> Option<Duration> {
        self.state.lock().await.restore_duration
    }
}

#[cfg(test)]
mod tests;
