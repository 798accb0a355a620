//! The reconnect supervisor: keeps one session to a switch alive forever,
//! reconnecting as [`crate::dial::Reconnect`] decides (10 ms polling while
//! the management socket has nobody listening; bounded exponential backoff
//! with jitter for a switch that accepts and then fails), and publishes
//! every change as a [`LinkState`] on a tokio watch channel, numbered by
//! generation, saying whether the switch is a new `ovs-vswitchd` process
//! (flow tables empty: everything must be replayed) or the same one after
//! a hiccup.
//!
//! A new process is recognised by a marker flow: after each connection the
//! supervisor looks for a flow with [`Marker::cookie`] in [`Marker::table`];
//! when it is missing (or the datapath id changed) the switch is new, and
//! the marker is installed again. Agents deleting flows by cookie mask
//! must leave the marker's cookie alone.
//!
//! The backoff resets only when a connection proved itself: its owner
//! calls [`Supervisor::mark_healthy`] with the generation once a round
//! completed on it (or it stayed up [`RetryPolicy::healthy_after`]). A
//! switch that accepts and then drops is therefore retried ever more slowly
//! instead of in a tight loop.
//!
//! Owns reconnect timing and switch identity; never replays flows itself.

use super::error::{BundleError, OfError};
use super::session::{Session, SessionConfig};
use crate::dial::{nobody_listening, Addr, Backoff, Ended, Reconnect, RetryPolicy};
use podflow_proto::openflow::flow::{FlowMod, FlowStatsRequest};
use podflow_proto::openflow::message::Message;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The marker flow that tells a new switch process from a hiccup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub table: u8,
    pub cookie: u64,
}

impl Default for Marker {
    /// Table 253 (never a goto target in podflow's pipeline), priority 0,
    /// no match, no actions, cookie "pdflowmk".
    fn default() -> Self {
        Marker { table: 253, cookie: u64::from_be_bytes(*b"pdflowmk") }
    }
}

/// Supervisor settings.
#[derive(Debug, Clone)]
pub struct SupervisorConfig {
    pub session: SessionConfig,
    pub retry: RetryPolicy,
    /// `None` disables the marker: every reconnect then counts as a new switch.
    pub marker: Option<Marker>,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            session: SessionConfig::default(),
            retry: RetryPolicy::default(),
            marker: Some(Marker::default()),
        }
    }
}

/// Whether the switch behind a new connection is the one seen before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuity {
    /// Same process as the previous generation (marker flow still there):
    /// flows survived; a replay is a reconciliation, not a restore.
    SameSwitch,
    /// A new `ovs-vswitchd` (or its flows were flushed): replay everything.
    NewSwitch { why: String },
}

/// One live connection, as published.
#[derive(Debug, Clone)]
pub struct Connection {
    /// 1 for the first connection, +1 for each reconnect.
    pub generation: u64,
    pub datapath_id: u64,
    pub continuity: Continuity,
    pub session: Session,
}

impl Connection {
    pub fn is_new_switch(&self) -> bool {
        matches!(self.continuity, Continuity::NewSwitch { .. })
    }
}

/// What the supervisor currently knows.
#[derive(Debug, Clone)]
pub enum LinkState {
    /// Before the first successful connection.
    Connecting,
    Connected(Connection),
    /// The connection of `generation` (0: none yet) is gone or could not
    /// be made; the next attempt comes after `retry_in` (the poll interval
    /// while nobody listens, zero after a proven connection, else the
    /// backoff).
    Disconnected { generation: u64, error: OfError, retry_in: Duration },
}

/// Handle to a running supervisor; dropping it stops the supervisor and
/// closes the session.
pub struct Supervisor {
    state: watch::Receiver<LinkState>,
    /// The highest generation its owner called healthy.
    healthy: Arc<AtomicU64>,
    /// Connection attempts so far (each connect, successful or not).
    attempts: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.task.abort();
        if let LinkState::Connected(c) = &*self.state.borrow() {
            c.session.close();
        }
    }
}

impl Supervisor {
    /// Starts connecting to `addr` in the background.
    pub fn spawn(addr: Addr, config: SupervisorConfig) -> Supervisor {
        let (tx, rx) = watch::channel(LinkState::Connecting);
        let healthy = Arc::new(AtomicU64::new(0));
        let attempts = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(run(addr, config, tx, healthy.clone(), attempts.clone()));
        Supervisor { state: rx, healthy, attempts, task }
    }

    /// How many times it tried to connect so far: what shows a reconnect
    /// loop that spins (the generation counts only the successes).
    pub fn connect_attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
    }

    /// Says that the connection of `generation` proved itself (a round
    /// completed on it): when it ends, the supervisor reconnects at once
    /// and starts its backoff over. Without this call a connection counts
    /// as proven only after [`RetryPolicy::healthy_after`] up.
    pub fn mark_healthy(&self, generation: u64) {
        self.healthy.fetch_max(generation, Ordering::Relaxed);
    }

    /// A receiver of every state change.
    pub fn watch(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    pub fn state(&self) -> LinkState {
        self.state.borrow().clone()
    }

    /// The current session, if connected.
    pub fn session(&self) -> Option<Session> {
        match &*self.state.borrow() {
            LinkState::Connected(c) if !c.session.is_closed() => Some(c.session.clone()),
            _ => None,
        }
    }

    /// Waits for a connection of a generation above `after`.
    pub async fn connected_after(&self, after: u64) -> Connection {
        let mut rx = self.state.clone();
        let got = rx
            .wait_for(|s| matches!(s, LinkState::Connected(c) if c.generation > after))
            .await
            .expect("the supervisor task lives as long as its handle");
        match &*got {
            LinkState::Connected(c) => c.clone(),
            _ => unreachable!("checked by wait_for"),
        }
    }

    /// Stops reconnecting and closes the session.
    pub fn shutdown(self) {}
}

async fn check_marker(s: &Session, marker: Marker) -> Result<bool, OfError> {
    let req = FlowStatsRequest { table_id: marker.table, cookie: marker.cookie, cookie_mask: u64::MAX, ..Default::default() };
    if !s.dump_flows(req).await?.is_empty() {
        return Ok(true);
    }
    // As a one-message bundle, so a refusal comes back as an error here
    // instead of an event nobody reads.
    let fm = FlowMod { table_id: marker.table, cookie: marker.cookie, priority: 0, ..Default::default() };
    match s.bundle(&[Message::FlowMod(fm)], 0).await {
        Ok(()) => Ok(false),
        Err(BundleError::Session(e)) => Err(e),
        Err(BundleError::Rejected { errors }) if !errors.is_empty() => {
            Err(OfError::Refused { request: "the marker FLOW_MOD", error: errors[0].error.clone() })
        }
        Err(BundleError::CommitFailed { error, .. } | BundleError::Expired { error }) => {
            Err(OfError::Refused { request: "the marker FLOW_MOD", error })
        }
        Err(BundleError::Rejected { .. }) => Err(OfError::protocol("bundle rejected without an error")),
    }
}

/// One connection attempt: connect, handshake, marker check.
async fn attempt(addr: &Addr, config: &SupervisorConfig, last_dpid: Option<u64>) -> Result<(Session, Continuity), OfError> {
    let s = Session::connect(addr, config.session.clone()).await?;
    let continuity = match config.marker {
        Some(m) => match check_marker(&s, m).await {
            Ok(true) if last_dpid.is_some_and(|d| d != s.datapath_id()) => Continuity::NewSwitch { why: "the datapath id changed".into() },
            Ok(true) => Continuity::SameSwitch,
            Ok(false) => Continuity::NewSwitch { why: "the marker flow is missing (new ovs-vswitchd or flows flushed)".into() },
            Err(e) => {
                s.close();
                return Err(e);
            }
        },
        None => Continuity::NewSwitch { why: "no marker configured".into() },
    };
    Ok((s, continuity))
}

async fn run(addr: Addr, config: SupervisorConfig, tx: watch::Sender<LinkState>, healthy: Arc<AtomicU64>, attempts: Arc<AtomicU64>) {
    let mut policy = Reconnect::new(config.retry.clone(), &addr, Backoff::seed_from_clock());
    let mut generation = 0u64;
    let mut last_dpid: Option<u64> = None;
    loop {
        attempts.fetch_add(1, Ordering::Relaxed);
        let (ended, error) = match attempt(&addr, &config, last_dpid).await {
            Ok((session, continuity)) => {
                generation += 1;
                last_dpid = Some(session.datapath_id());
                tracing::info!(generation, dpid = format_args!("{:016x}", session.datapath_id()), ?continuity, "connected to {addr}");
                let conn = Connection { generation, datapath_id: session.datapath_id(), continuity, session: session.clone() };
                tx.send_replace(LinkState::Connected(conn));
                let up = Instant::now();
                let error = session.closed().await;
                drop(session);
                let proven = policy.proven(healthy.load(Ordering::Relaxed) >= generation, up.elapsed());
                tracing::warn!(generation, proven, "disconnected from {addr}: {error}");
                (if proven { Ended::Proven } else { Ended::Failed }, error)
            }
            Err(error) => {
                let ended = match &error {
                    OfError::Connect { kind, .. } if nobody_listening(*kind) => Ended::NobodyListening,
                    _ => Ended::Failed,
                };
                (ended, error)
            }
        };
        let delay = policy.next_delay(ended);
        if ended != Ended::NobodyListening {
            tracing::debug!("connection to {addr} ended ({error}); next attempt in {delay:?}");
        }
        // Polling a down switch republishes nothing: watchers wake only
        // when something changed.
        tx.send_if_modified(|s| {
            let same = matches!(s, LinkState::Disconnected { generation: g, error: e, retry_in: r } if *g == generation && *e == error && *r == delay);
            if !same {
                *s = LinkState::Disconnected { generation, error, retry_in: delay };
            }
            !same
        });
        tokio::time::sleep(delay).await;
        if tx.is_closed() {
            return;
        }
    }
}
