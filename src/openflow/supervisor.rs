//! The reconnect supervisor: keeps one session to a switch alive forever,
//! reconnecting with bounded exponential backoff and jitter, and publishes
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
//! Owns reconnect timing and switch identity; never replays flows itself.

use super::addr::Addr;
use super::backoff::Backoff;
use super::error::{BundleError, OfError};
use super::session::{Session, SessionConfig};
use podflow_proto::openflow::flow::{FlowMod, FlowStatsRequest};
use podflow_proto::openflow::message::Message;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// `None` disables the marker: every reconnect then counts as a new switch.
    pub marker: Option<Marker>,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            session: SessionConfig::default(),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(8),
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
    /// be made; the next attempt comes after `retry_in`.
    Disconnected { generation: u64, error: OfError, retry_in: Duration },
}

/// Handle to a running supervisor; dropping it stops the supervisor and
/// closes the session.
pub struct Supervisor {
    state: watch::Receiver<LinkState>,
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
        let task = tokio::spawn(run(addr, config, tx));
        Supervisor { state: rx, task }
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
        Err(BundleError::Rejected { .. }) => Err(OfError::Malformed("bundle rejected without an error".into())),
    }
}

async fn run(addr: Addr, config: SupervisorConfig, tx: watch::Sender<LinkState>) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id());
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max, seed);
    let mut generation = 0u64;
    let mut last_dpid: Option<u64> = None;
    loop {
        let attempt = async {
            let s = Session::connect(&addr, config.session.clone()).await?;
            let continuity = match config.marker {
                Some(m) => match check_marker(&s, m).await {
                    Ok(true) if last_dpid.is_some_and(|d| d != s.datapath_id()) => {
                        Continuity::NewSwitch { why: "the datapath id changed".into() }
                    }
                    Ok(true) => Continuity::SameSwitch,
                    Ok(false) => Continuity::NewSwitch { why: "the marker flow is missing (new ovs-vswitchd or flows flushed)".into() },
                    Err(e) => {
                        s.close();
                        return Err(e);
                    }
                },
                None => Continuity::NewSwitch { why: "no marker configured".into() },
            };
            Ok::<_, OfError>((s, continuity))
        };
        match attempt.await {
            Ok((session, continuity)) => {
                backoff.reset();
                generation += 1;
                last_dpid = Some(session.datapath_id());
                tracing::info!(generation, dpid = format_args!("{:016x}", session.datapath_id()), ?continuity, "connected to {addr}");
                let conn = Connection { generation, datapath_id: session.datapath_id(), continuity, session: session.clone() };
                tx.send_replace(LinkState::Connected(conn));
                let error = session.closed().await;
                drop(session);
                // A hiccup reconnects at once; failures after that back off.
                tracing::warn!(generation, "disconnected from {addr}: {error}");
                tx.send_replace(LinkState::Disconnected { generation, error, retry_in: Duration::ZERO });
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::debug!("cannot connect to {addr}: {error}; retrying in {delay:?}");
                tx.send_replace(LinkState::Disconnected { generation, error, retry_in: delay });
                wait_or_new_socket(&addr, delay).await;
            }
        }
        if tx.is_closed() {
            return;
        }
    }
}

/// The identity (device, inode) of a unix socket file, if it exists.
fn socket_identity(addr: &Addr) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    match addr {
        Addr::Unix(p) => std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino())),
        Addr::Tcp { .. } => None,
    }
}

/// Sleeps for the backoff `delay`, but wakes early when a unix socket is
/// created anew: a restarted ovs-vswitchd unlinks and recreates its
/// management socket, so connecting at once (instead of at the end of the
/// backoff) shortens the time pods wait for their flows. Costs one stat()
/// every 10 ms; no extra connection attempts.
async fn wait_or_new_socket(addr: &Addr, delay: Duration) {
    let Some(step) = matches!(addr, Addr::Unix(_)).then_some(Duration::from_millis(10)) else {
        tokio::time::sleep(delay).await;
        return;
    };
    let before = socket_identity(addr);
    let deadline = tokio::time::Instant::now() + delay;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(step.min(deadline - tokio::time::Instant::now())).await;
        let now = socket_identity(addr);
        if now.is_some() && now != before {
            return;
        }
    }
}
