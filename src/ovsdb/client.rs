//! One OVSDB connection, kept alive by a task: `transact`, a monitor whose
//! rows are kept in a replica that callers read and wait on, answers to the
//! server's echo, our own inactivity probe, reconnect with backoff (1 s
//! doubling to 8 s) and a full resync after every reconnect.
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
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, timeout_at};

use podflow_proto::ovsdb::jsonrpc::Message;
use podflow_proto::ovsdb::monitor::{parse_monitor_reply, parse_notification, MonitorMethod, MonitorSpec};
use podflow_proto::ovsdb::ops::{parse_transact_result, transact_params};
use podflow_proto::ovsdb::{Framer, OpResult, Operation, Replica, Schema};

use super::Error;

/// Where ovsdb-server listens: `unix:PATH` or `tcp:HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(std::path::PathBuf),
    Tcp(String),
}

impl std::str::FromStr for Address {
    type Err = Error;
    fn from_str(s: &str) -> Result<Address, Error> {
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(Error::Caller("OVSDB address `unix:` needs a socket path".into()));
            }
            Ok(Address::Unix(p.into()))
        } else if let Some(hp) = s.strip_prefix("tcp:") {
            match hp.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(Address::Tcp(hp.to_string())),
                _ => Err(Error::Caller(format!("OVSDB address `{s}` is not tcp:HOST:PORT"))),
            }
        } else {
            Err(Error::Caller(format!("OVSDB address `{s}` must start with unix: or tcp:")))
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
            Address::Tcp(hp) => write!(f, "tcp:{hp}"),
        }
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub database: String,
    pub monitor: MonitorSpec,
    /// Send an echo after this long without input; drop the connection if
    /// another interval passes without input.
    pub probe_interval: Duration,
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
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
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(8),
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
    /// The last reason a connection ended or failed.
    pub last_error: Option<String>,
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
    cmd: mpsc::UnboundedSender<Transact>,
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
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(Snapshot::default());
        let database = opts.database.clone();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(run(addr, opts, cmd_rx, state_tx, in_flight.clone()));
        Client { inner: Arc::new(Inner { cmd: cmd_tx, in_flight, state: state_rx, task, database }) }
    }

    /// Starts and waits until the first replica is in place.
    pub async fn connect(addr: Address, opts: Options, deadline: Instant) -> Result<Client, Error> {
        let c = Client::start(addr.clone(), opts);
        c.wait_synced(deadline).await.map_err(|e| match e {
            Error::Timeout(_) => Error::Disconnected(format!(
                "no monitor established with {addr} in time{}",
                c.read(|s| s.last_error.clone()).map(|e| format!(" (last error: {e})")).unwrap_or_default()
            )),
            e => e,
        })?;
        Ok(c)
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
        self.inner
            .cmd
            .send(Transact { ops, reply: tx })
            .map_err(|_| Error::Disconnected("the OVSDB client task has stopped".into()))?;
        match timeout_at(deadline, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::OutcomeUnknown("the OVSDB client task stopped".into())),
            Err(_) => Err(Error::Timeout(
                "no reply to the OVSDB transaction before its deadline; it may or may not have committed".into(),
            )),
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn dial(addr: &Address, limit: Duration) -> Result<Box<dyn Stream>, String> {
    let r = tokio::time::timeout(limit, async {
        match addr {
            Address::Unix(p) => tokio::net::UnixStream::connect(p).await.map(|s| Box::new(s) as Box<dyn Stream>),
            Address::Tcp(hp) => tokio::net::TcpStream::connect(hp.as_str()).await.map(|s| {
                let _ = s.set_nodelay(true);
                Box::new(s) as Box<dyn Stream>
            }),
        }
    })
    .await;
    match r {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Err(_) => Err(format!("connecting to {addr} timed out")),
    }
}

/// Reconnect delays: `min`, doubling up to `max`; back to `min` after a
/// connection that reached a full sync. Pure (no clock).
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max: max.max(min), next: min }
    }

    /// The delay before the next attempt; doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// A connection worked: start again from `min`.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

async fn run(
    addr: Address,
    opts: Options,
    mut cmds: mpsc::UnboundedReceiver<Transact>,
    state: watch::Sender<Snapshot>,
    in_flight: Arc<AtomicUsize>,
) {
    let mut backoff = Backoff::new(opts.backoff_min, opts.backoff_max);
    let mut method = opts.monitor_method;
    loop {
        let end = match dial(&addr, opts.connect_timeout).await {
            Ok(stream) => {
                let mut s = Session::new(&opts, method, &state, &in_flight);
                let end = s.run(stream, &mut cmds).await;
                method = s.method;
                if s.synced {
                    backoff.reset();
                }
                end
            }
            Err(e) => e,
        };
        if cmds.is_closed() && state.is_closed() {
            return;
        }
        let delay = backoff.next_delay();
        tracing::warn!(ovsdb = %addr, retry_in = ?delay, "OVSDB connection ended: {end}");
        state.send_modify(|s| {
            s.connected = false;
            s.last_error = Some(end);
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

    async fn run(&mut self, stream: Box<dyn Stream>, cmds: &mut mpsc::UnboundedReceiver<Transact>) -> String {
        let (mut rd, mut wr) = tokio::io::split(stream);
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
                    Ok(Err(e)) => break format!("write to OVSDB failed: {e}"),
                    Err(_) => break format!("OVSDB did not accept our data for {:?}", self.opts.probe_interval * 2),
                }
            }
            let probe_at = last_input + self.opts.probe_interval;
            tokio::select! {
                r = rd.read(&mut buf) => match r {
                    Ok(0) => break "OVSDB closed the connection".to_string(),
                    Ok(n) => {
                        last_input = Instant::now();
                        probe_sent = false;
                        framer.push(&buf[..n]);
                        if let Err(e) = self.drain(&mut framer) {
                            break e;
                        }
                    }
                    Err(e) => break format!("read from OVSDB failed: {e}"),
                },
                c = cmds.recv(), if self.synced => match c {
                    Some(t) => {
                        if t.reply.is_closed() {
                            continue;
                        }
                        let params = transact_params(&self.opts.database, &t.ops);
                        self.send("transact", params, Pending::Transact(t));
                    }
                    None => break "client dropped".to_string(),
                },
                _ = tokio::time::sleep_until(probe_at) => {
                    if probe_sent {
                        break format!("no input from OVSDB for {:?} (inactivity probe)", self.opts.probe_interval * 2);
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
                let _ = t.reply.send(Err(Error::OutcomeUnknown(end.clone())));
            }
        }
        end
    }

    /// Handles every complete message; an `Err` ends the session.
    fn drain(&mut self, framer: &mut Framer) -> Result<(), String> {
        while let Some(frame) = framer.next_frame().map_err(|e| e.to_string())? {
            let msg = Message::parse(&frame).map_err(|e| e.to_string())?;
            self.handle(msg)?;
        }
        Ok(())
    }

    fn handle(&mut self, msg: Message) -> Result<(), String> {
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
                    return Err("OVSDB canceled our monitor".to_string());
                }
                let Some(n) = parse_notification(&method, &params).map_err(|e| e.to_string())? else {
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
                    return Err(format!("OVSDB sent a response to unknown request id {id}"));
                };
                match p {
                    Pending::Echo => {}
                    Pending::Schema => {
                        let v = result.map_err(|e| format!("OVSDB refused get_schema for {}: {e}", self.opts.database))?;
                        self.schema = Some(Arc::new(Schema::from_json(&v).map_err(|e| e.to_string())?));
                    }
                    Pending::Monitor(m) => match result {
                        Err(e) if e.error.contains("unknown method") || e.to_string().contains("unknown method") => {
                            let Some(next) = m.fallback() else {
                                return Err(format!("OVSDB refused every monitor method: {e}"));
                            };
                            tracing::info!("OVSDB does not support {}, falling back to {}", m.name(), next.name());
                            self.method = next;
                            self.send_monitor();
                        }
                        Err(e) => return Err(format!("OVSDB refused {}: {e}", m.name())),
                        Ok(v) => {
                            let rep = parse_monitor_reply(m, &v).map_err(|e| e.to_string())?;
                            let schema = self.schema.clone().ok_or("OVSDB answered the monitor before get_schema")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(8));
        let got: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        assert_eq!(got, vec![s(1), s(2), s(4), s(8), s(8), s(8)]);
        b.reset();
        assert_eq!(b.next_delay(), s(1));
    }

    #[test]
    fn addresses() {
        assert_eq!("unix:/run/db.sock".parse::<Address>().unwrap(), Address::Unix("/run/db.sock".into()));
        assert_eq!("tcp:127.0.0.1:6640".parse::<Address>().unwrap(), Address::Tcp("127.0.0.1:6640".into()));
        for bad in ["unix:", "tcp:host", "tcp::1", "ssl:1.2.3.4:6640", "/run/db.sock"] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
    }
}
