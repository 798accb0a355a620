//! One OVSDB connection, kept alive by a task: `transact`, a monitor whose
//! rows are kept in a replica that callers read and wait on, answers to the
//! server's echo, our own inactivity probe, reconnect as
//! [`crate::dial::Reconnect`] decides (10 ms polling while the socket has
//! nobody listening, so a restarted ovsdb-server is back within ~10 ms; the
//! backoff only for a server that accepts and then fails before a full
//! sync, reset by a full sync) and a full resync after every reconnect.
//!
//! Bounded: at most [`QUEUE`] transactions wait for the connection, every
//! write has a deadline (twice the probe interval), and a message from the
//! server is capped at [`Options::max_frame`].
//!
//! It owns the socket and the replica. It must never apply half of a
//! notification or half of a resync (readers see whole states only), never
//! send a request whose caller already gave up, and never report a
//! transaction whose reply was lost as failed or succeeded (it is
//! "outcome unknown").

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep, timeout_at, Instant};

use podflow_proto::ovsdb::jsonrpc::Message;
use podflow_proto::ovsdb::monitor::{parse_monitor_reply, parse_notification, MonitorMethod, MonitorSpec};
use podflow_proto::ovsdb::ops::{parse_transact_result, transact_params};
use podflow_proto::ovsdb::{Framer, OpResult, Operation, Replica, Schema};

use super::{Error, Malformed, Refusal};
use crate::dial::addr::{Reader, Writer};
use crate::dial::{nobody_listening, Addr, Backoff, Ended, Reconnect, RetryPolicy};

/// Where ovsdb-server listens: the address type shared with OpenFlow.
pub type Address = Addr;

/// Transactions waiting for the connection at most; more callers wait
/// (within their deadline) for room.
pub const QUEUE: usize = 256;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub database: String,
    pub monitor: MonitorSpec,
    /// Send an echo after this long without input; drop the connection if
    /// another interval passes without input.
    pub probe_interval: Duration,
    pub connect_timeout: Duration,
    /// Reconnect timing; a full monitor sync is what proves a connection
    /// here, so `healthy_after` is not used.
    pub retry: RetryPolicy,
    /// Largest message accepted from the server.
    pub max_frame: usize,
    /// Newest monitor method to try first.
    pub monitor_method: MonitorMethod,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            database: "Open_vSwitch".into(),
            monitor: vswitch_monitor(),
            probe_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            max_frame: podflow_proto::ovsdb::framer::DEFAULT_MAX_FRAME,
            monitor_method: MonitorMethod::MonitorCondSince,
        }
    }
}

/// The Open_vSwitch tables and columns podflow keeps a replica of.
pub fn vswitch_monitor() -> MonitorSpec {
    MonitorSpec::default()
        .table("Open_vSwitch", &["bridges", "other_config", "external_ids", "next_cfg", "cur_cfg", "ovs_version", "db_version"])
        .table("Bridge", &["name", "ports", "datapath_type", "fail_mode", "protocols", "external_ids", "other_config", "controller"])
        .table("Port", &["name", "interfaces", "external_ids", "tag"])
        .table("Interface", &["name", "type", "ofport", "ofport_request", "error", "external_ids", "options", "admin_state", "link_state"])
        .table("Controller", &["target", "is_connected", "role"])
}

/// What readers see: the replica as of one whole notification or resync.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub replica: Replica,
    /// Completed initial syncs (1 after the first, +1 per reconnect).
    pub generation: u64,
    /// A monitor is established right now.
    pub connected: bool,
    /// The monitor method the server accepted last.
    pub method: Option<MonitorMethod>,
    /// The last reason a connection ended or failed, typed by origin.
    pub last_error: Option<Error>,
    pub schema: Arc<Schema>,
}

struct Transact {
    ops: Vec<Operation>,
    reply: oneshot::Sender<Result<Vec<OpResult>, Error>>,
}

/// A handle to the connection task; dropping the last handle stops it.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cmd: mpsc::Sender<Transact>,
    in_flight: Arc<AtomicUsize>,
    state: watch::Receiver<Snapshot>,
    task: tokio::task::JoinHandle<()>,
    database: String,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Starts the connection task (it connects in the background; use
    /// [`Client::wait_synced`] to wait for the first full replica).
    pub fn start(addr: Address, opts: Options) -> Client {
        let (cmd_tx, cmd_rx) = mpsc::channel(QUEUE);
        let (state_tx, state_rx) = watch::channel(Snapshot::default());
        let database = opts.database.clone();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(addr, opts, cmd_rx, state_tx, in_flight.clone()));
        Client { inner: Arc::new(Inner { cmd: cmd_tx, in_flight, state: state_rx, task, database }) }
    }

    /// Starts and waits until the first replica is in place: for one-shot
    /// use (commands, tests). While nobody listens it keeps trying until
    /// `deadline`; a protocol error from the server (malformed input, a
    /// refused `get_schema` or monitor) fails at once, with that cause.
    pub async fn connect(addr: Address, opts: Options, deadline: Instant) -> Result<Client, Error> {
        let c = Client::start(addr.clone(), opts);
        let r = c
            .wait_until(deadline, |s| match &s.last_error {
                _ if s.connected && s.generation > 0 => Some(Ok(())),
                Some(e @ (Error::Malformed(_) | Error::Refused(_))) => Some(Err(e.clone())),
                _ => None,
            })
            .await;
        match r {
            Ok(Ok(())) => Ok(c),
            Ok(Err(e)) => Err(e),
            Err(Error::Timeout(_)) => Err(Error::Disconnected(format!(
                "no monitor established with {addr} in time{}",
                c.read(|s| s.last_error.clone()).map(|e| format!(" (last error: {e})")).unwrap_or_default()
            ))),
            Err(e) => Err(e),
        }
    }

    pub fn database(&self) -> &str {
        &self.inner.database
    }

    /// Transactions sent to the server and still awaiting their reply.
    pub fn in_flight(&self) -> usize {
        self.inner.in_flight.load(Ordering::SeqCst)
    }

    /// Runs `f` on the current snapshot. Do not block inside `f`.
    pub fn read<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        f(&self.inner.state.borrow())
    }

    /// A receiver that observes every new snapshot.
    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.inner.state.clone()
    }

    /// Waits until `pred` holds on a snapshot, and returns what it mapped.
    /// `pred` returns `Some(value)` when satisfied.
    pub async fn wait_until<R>(&self, deadline: Instant, mut pred: impl FnMut(&Snapshot) -> Option<R>) -> Result<R, Error> {
        let mut rx = self.inner.state.clone();
        let mut out = None;
        let r = timeout_at(deadline, rx.wait_for(|s| {
            out = pred(s);
            out.is_some()
        }))
        .await;
        match r {
            Ok(Ok(_)) => Ok(out.expect("wait_for returned after the predicate held")),
            Ok(Err(_)) => Err(Error::Disconnected("the OVSDB client task has stopped".into())),
            Err(_) => Err(Error::Timeout("the OVSDB state did not reach the expected condition in time".into())),
        }
    }

    /// Waits until a monitor is established and its replica is in place.
    pub async fn wait_synced(&self, deadline: Instant) -> Result<u64, Error> {
        self.wait_until(deadline, |s| (s.connected && s.generation > 0).then_some(s.generation)).await
    }

    /// Runs one transaction. By the time this returns `Ok`, the replica
    /// already holds the transaction's own monitor updates.
    pub async fn transact(&self, ops: Vec<Operation>, deadline: Instant) -> Result<Vec<OpResult>, Error> {
        if ops.is_empty() {
            return Err(Error::Caller("a transaction needs at least one operation".into()));
        }
        let (tx, rx) = oneshot::channel();
        match timeout_at(deadline, self.inner.cmd.send(Transact { ops, reply: tx })).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Error::Disconnected("the OVSDB client task has stopped".into())),
            Err(_) => return Err(Error::Timeout(format!("{QUEUE} transactions were already waiting for OVSDB; this one was not sent"))),
        }
        match timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::OutcomeUnknown("the OVSDB client task stopped".into())),
            Err(_) => Err(Error::Timeout(
                "no reply to the OVSDB transaction before its deadline; it may or may not have committed".into(),
            )),
        }
    }
}

/// Opens the socket within `limit`. The error says whether anybody listens.
async fn dial(addr: &Address, limit: Duration) -> Result<(Reader, Writer), (Ended, Error)> {
    match tokio::time::timeout(limit, crate::dial::addr::open(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            let ended = if nobody_listening(e.kind()) { Ended::NobodyListening } else { Ended::Failed };
            Err((ended, Error::Disconnected(format!("cannot connect to {addr}: {e}"))))
        }
        Err(_) => Err((Ended::Failed, Error::Timeout(format!("connecting to {addr} took longer than {limit:?}")))),
    }
}

async fn run(
    addr: Address,
    opts: Options,
    mut cmds: mpsc::Receiver<Transact>,
    state: watch::Sender<Snapshot>,
    in_flight: Arc<AtomicUsize>,
) {
    let mut policy = Reconnect::new(opts.retry.clone(), &addr, Backoff::seed_from_clock());
    let mut method = opts.monitor_method;
    loop {
        let (ended, end) = match dial(&addr, opts.connect_timeout).await {
            Ok(stream) => {
                let mut s = Session::new(&opts, method, &state, &in_flight);
                let end = s.run(stream, &mut cmds).await;
                method = s.method;
                // A complete monitor sync is what proves an OVSDB connection.
                (if s.synced { Ended::Proven } else { Ended::Failed }, end)
            }
            Err(e) => e,
        };
        if cmds.is_closed() && state.is_closed() {
            return;
        }
        let delay = policy.next_delay(ended);
        if ended != Ended::NobodyListening {
            tracing::warn!(ovsdb = %addr, retry_in = ?delay, "OVSDB connection ended: {end}");
        }
        // Polling a down server republishes nothing.
        state.send_if_modified(|s| {
            let changed = s.connected || s.last_error.as_ref().map(ToString::to_string) != Some(end.to_string());
            s.connected = false;
            s.last_error = Some(end);
            changed
        });
        // Queued transactions stay queued for the next connection; those
        // whose caller gave up meanwhile are skipped when dequeued.
        sleep(delay).await;
    }
}

enum Pending {
    Schema,
    Monitor(MonitorMethod),
    Echo,
    Transact(Transact),
}

const MONID: &str = "podflow";

struct Session<'a> {
    opts: &'a Options,
    in_flight: &'a AtomicUsize,
    state: &'a watch::Sender<Snapshot>,
    method: MonitorMethod,
    synced: bool,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    schema: Option<Arc<Schema>>,
    out: Vec<u8>,
}

impl<'a> Session<'a> {
    fn new(opts: &'a Options, method: MonitorMethod, state: &'a watch::Sender<Snapshot>, in_flight: &'a AtomicUsize) -> Session<'a> {
        Session { opts, in_flight, state, method, synced: false, next_id: 1, pending: HashMap::new(), schema: None, out: Vec::new() }
    }

    fn send(&mut self, method: &str, params: Value, p: Pending) {
        let id = self.next_id;
        self.next_id += 1;
        self.out.extend_from_slice(&Message::request(id, method, params).to_bytes());
        if matches!(p, Pending::Transact(_)) {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
        }
        self.pending.insert(id, p);
    }

    fn send_monitor(&mut self) {
        let last = self.state.borrow().replica.last_txn_id.clone();
        let params = self.opts.monitor.params(self.method, &self.opts.database, &json!(MONID), last.as_deref());
        self.send(self.method.name(), params, Pending::Monitor(self.method));
    }

    async fn run(&mut self, stream: (Reader, Writer), cmds: &mut mpsc::Receiver<Transact>) -> Error {
        let (mut rd, mut wr) = stream;
        let mut framer = Framer::new(self.opts.max_frame);
        let mut buf = vec![0u8; 64 * 1024];
        self.send("get_schema", json!([self.opts.database]), Pending::Schema);
        self.send_monitor();
        let mut last_input = Instant::now();
        let mut probe_sent = false;
        let end = loop {
            if !self.out.is_empty() {
                let out = std::mem::take(&mut self.out);
                // A stalled server must not hang us: writes share the probe's limit.
                match tokio::time::timeout(self.opts.probe_interval * 2, wr.write_all(&out)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break Error::Disconnected(format!("write to OVSDB failed: {e}")),
                    Err(_) => break Error::Timeout(format!("OVSDB did not accept our data for {:?} (it stopped reading)", self.opts.probe_interval * 2)),
                }
            }
            let probe_at = last_input + self.opts.probe_interval;
            tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) => break Error::Disconnected("OVSDB closed the connection".into()),
                    Ok(n) => {
                        last_input = Instant::now();
                        probe_sent = false;
                        framer.push(&buf[..n]);
                        if let Err(e) = self.drain(&mut framer) {
                            break e;
                        }
                    }
                    Err(e) => break Error::Disconnected(format!("read from OVSDB failed: {e}")),
                },
                c = cmds.recv(), if self.synced => match c {
                    Some(t) => {
                        if t.reply.is_closed() {
                            continue;
                        }
                        let params = transact_params(&self.opts.database, &t.ops);
                        self.send("transact", params, Pending::Transact(t));
                    }
                    None => break Error::Caller("every handle to the OVSDB client was dropped".into()),
                },
                _ = tokio::time::sleep_until(probe_at) => {
                    if probe_sent {
                        break Error::Timeout(format!("no input from OVSDB for {:?} (inactivity probe)", self.opts.probe_interval * 2));
                    }
                    probe_sent = true;
                    last_input = Instant::now();
                    self.send("echo", json!([]), Pending::Echo);
                }
            }
        };
        for (_, p) in self.pending.drain() {
            if let Pending::Transact(t) = p {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = t.reply.send(Err(Error::OutcomeUnknown(end.to_string())));
            }
        }
        end
    }

    /// Handles every complete message; an `Err` ends the session.
    fn drain(&mut self, framer: &mut Framer) -> Result<(), Error> {
        while let Some(frame) = framer.next_frame()? {
            let msg = Message::parse(&frame)?;
            self.handle(msg)?;
        }
        Ok(())
    }

    fn handle(&mut self, msg: Message) -> Result<(), Error> {
        match msg {
            Message::Request { id, method, params } => {
                let reply = if method == "echo" {
                    Message::reply(id, params)
                } else {
                    Message::Response {
                        id,
                        result: Err(podflow_proto::ovsdb::RpcError { error: "unknown method".into(), details: Some(method) }),
                    }
                };
                self.out.extend_from_slice(&reply.to_bytes());
            }
            Message::Notification { method, params } => {
                if method == "monitor_canceled" {
                    return Err(Refusal::MonitorCanceled.into());
                }
                let Some(n) = parse_notification(&method, &params)? else {
                    return Ok(());
                };
                if n.monid != json!(MONID) || !self.synced {
                    return Ok(());
                }
                let schema = self.schema.clone().unwrap_or_default();
                self.state.send_modify(|s| {
                    s.replica.apply(&schema, n.updates);
                    if n.last_txn_id.is_some() {
                        s.replica.last_txn_id = n.last_txn_id;
                    }
                });
            }
            Message::Response { id, result } => {
                let Some(p) = id.as_u64().and_then(|i| self.pending.remove(&i)) else {
                    return Err(Malformed::UnknownId(id.to_string()).into());
                };
                match p {
                    Pending::Echo => {}
                    Pending::Schema => {
                        let v = result.map_err(|e| Refusal::Method { method: format!("get_schema for {}", self.opts.database), source: e })?;
                        self.schema = Some(Arc::new(Schema::from_json(&v)?));
                    }
                    Pending::Monitor(m) => match result {
                        Err(e) if e.error.contains("unknown method") || e.to_string().contains("unknown method") => {
                            let Some(next) = m.fallback() else {
                                return Err(Refusal::Method { method: "every monitor method".into(), source: e }.into());
                            };
                            tracing::info!("OVSDB does not support {}, falling back to {}", m.name(), next.name());
                            self.method = next;
                            self.send_monitor();
                        }
                        Err(e) => return Err(Refusal::Method { method: m.name().to_string(), source: e }.into()),
                        Ok(v) => {
                            let rep = parse_monitor_reply(m, &v)?;
                            let schema = self.schema.clone().ok_or(Malformed::MonitorBeforeSchema)?;
                            // Build the whole new replica, then swap it in.
                            let mut replica = if rep.found {
                                self.state.borrow().replica.clone()
                            } else {
                                Replica::with_tables(self.opts.monitor.tables.iter().map(|(t, _)| t.as_str()))
                            };
                            replica.apply(&schema, rep.updates);
                            replica.last_txn_id = rep.last_txn_id;
                            self.synced = true;
                            self.state.send_modify(|s| {
                                s.replica = replica;
                                s.generation += 1;
                                s.connected = true;
                                s.method = Some(m);
                                s.schema = schema;
                            });
                        }
                    },
                    Pending::Transact(t) => {
                        self.in_flight.fetch_sub(1, Ordering::SeqCst);
                        let r = match result {
                            Err(e) => Err(Error::from(e)),
                            Ok(v) => match parse_transact_result(&t.ops, &v) {
                                Ok(Ok(r)) => Ok(r),
                                Ok(Err(te)) => Err(Error::from(te)),
                                Err(me) => Err(Error::OutcomeUnknown(format!("malformed transact reply: {me}"))),
                            },
                        };
                        let _ = t.reply.send(r);
                    }
                }
            }
        }
        Ok(())
    }
}
