//! One OpenFlow 1.5 connection to a switch, driven by tokio: an ordered
//! reader (one task, switch order kept) that feeds [`Core`], a writer task
//! (sending never blocks the reader), and the public request API
//! (`request`, `barrier`, multipart dumps; bundles live in
//! [`super::bundle`]).
//!
//! The write queue is bounded in bytes ([`SessionConfig::max_queued`]):
//! async senders wait for room, [`Session::send`] fails at once when there
//! is none. Every write has a deadline ([`SessionConfig::write_timeout`]):
//! a switch that stops reading closes the session with
//! [`OfError::Timeout`] instead of growing memory without end.
//!
//! Owns: the socket, the xid counter, the write queue, the delivery of
//! replies and asynchronous events. Never: decides timing itself (that is
//! [`Core`]), retries or reconnects (that is [`super::supervisor`]), or
//! leaves a waiter hanging when the connection drops.

use crate::dial::addr::{self, Addr, Reader, Writer};
use super::conn::{self, Frame, RawPart};
use super::core::{Core, Output, Reply, Request, Timing, TxnId, TxnReport};
use super::error::OfError;
use bytes::{Buf, Bytes, BytesMut};
use podflow_proto::openflow::flow::{FlowDesc, FlowStatsRequest};
use podflow_proto::openflow::message::Message;
use podflow_proto::openflow::multipart::{MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody, PortStats};
use podflow_proto::openflow::oxs::Stats;
use podflow_proto::openflow::port::{Port, PortNo};
use podflow_proto::openflow::switch::FeaturesReply;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::time::Instant;

/// A message the switch sent on its own: PACKET_IN, PORT_STATUS,
/// FLOW_REMOVED, an ERROR that answers nothing pending, ...
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchEvent {
    pub xid: u32,
    pub message: Message,
}

/// Session settings.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub timing: Timing,
    /// Deadline of connect + handshake.
    pub connect_timeout: Duration,
    /// Extra deadline per bundled message for the barrier and the COMMIT
    /// of a bundle (a 60,000-message bundle gets 6 s more by default).
    pub per_bundled_message: Duration,
    /// Capacity of the event broadcast channel (slow subscribers lag).
    pub event_capacity: usize,
    /// Bytes queued for the socket at most; senders wait for room beyond.
    pub max_queued: usize,
    /// A write the switch does not take within this closes the session.
    pub write_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            timing: Timing::default(),
            connect_timeout: Duration::from_secs(10),
            per_bundled_message: Duration::from_micros(100),
            event_capacity: 1024,
            max_queued: 16 << 20,
            write_timeout: Duration::from_secs(10),
        }
    }
}

type Done = (Result<Reply, OfError>, Option<TxnReport>);

/// Bytes for the writer with the queue room they hold (returned once written).
type Queued = (Bytes, u32);

pub(crate) enum Cmd {
    /// Bytes to write, no answer expected.
    Send(Queued),
    /// Register `xid`, then write `bytes`.
    Request { xid: u32, req: Request, bytes: Queued, tx: oneshot::Sender<Done> },
    /// Register a streamed multipart request `xid`, then write `bytes`;
    /// its parts (and a final error, if any) go to `parts`.
    Stream { xid: u32, req: Request, bytes: Queued, parts: mpsc::Sender<Result<RawPart, OfError>> },
    OpenTxn { id: TxnId, open_xid: u32, first_add: u32, n_adds: u32 },
    CloseTxn(TxnId),
    Close,
}

struct Shared {
    addr: Addr,
    config: SessionConfig,
    features: FeaturesReply,
    cmd: mpsc::UnboundedSender<Cmd>,
    next_xid: AtomicU32,
    next_bundle: AtomicU32,
    events: broadcast::Sender<SwitchEvent>,
    closed: watch::Receiver<Option<OfError>>,
    /// Room in the write queue, in bytes; closed when the session ends.
    room: Arc<Semaphore>,
    /// The whole room (`max_queued` within the semaphore's limits).
    room_cap: u32,
}

/// A connected, handshaken OpenFlow 1.5 session. Cheap to clone; the
/// connection closes when [`Session::close`] is called or every clone is
/// dropped.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("addr", &self.inner.addr.to_string())
            .field("datapath_id", &format_args!("{:016x}", self.inner.features.datapath_id))
            .finish()
    }
}

impl Session {
    /// Connects to `addr`, runs HELLO (OpenFlow 1.5 required) and FEATURES,
    /// and starts the reader and writer tasks.
    pub async fn connect(addr: &Addr, config: SessionConfig) -> Result<Session, OfError> {
        let (mut r, mut w) = match tokio::time::timeout(config.connect_timeout, addr::open(addr)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(OfError::Connect { addr: addr.to_string(), kind: e.kind(), reason: e.to_string() }),
            Err(_) => {
                let reason = format!("no connection within {:?}", config.connect_timeout);
                return Err(OfError::Connect { addr: addr.to_string(), kind: std::io::ErrorKind::TimedOut, reason });
            }
        };
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let features = conn::handshake(addr, &mut r, &mut w, &mut buf, config.connect_timeout).await?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let (closed_tx, closed_rx) = watch::channel(None);
        let core = Core::new(config.timing.clone(), Instant::now());
        let room_cap = config.max_queued.clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)) as u32;
        let room = Arc::new(Semaphore::new(room_cap as usize));
        let io = Io { r, w, buf, write_timeout: config.write_timeout, room: room.clone() };
        tokio::spawn(drive(core, io, cmd_rx, events.clone(), closed_tx));
        Ok(Session {
            inner: Arc::new(Shared {
                addr: addr.clone(),
                config,
                features,
                cmd: cmd_tx,
                next_xid: AtomicU32::new(16),
                next_bundle: AtomicU32::new(1),
                events,
                closed: closed_rx,
                room,
                room_cap,
            }),
        })
    }

    pub fn addr(&self) -> &Addr {
        &self.inner.addr
    }

    pub fn config(&self) -> &SessionConfig {
        &self.inner.config
    }

    /// The switch's FEATURES_REPLY from the handshake.
    pub fn features(&self) -> &FeaturesReply {
        &self.inner.features
    }

    pub fn datapath_id(&self) -> u64 {
        self.inner.features.datapath_id
    }

    /// Receives every asynchronous message from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SwitchEvent> {
        self.inner.events.subscribe()
    }

    /// Why the session closed, once it has.
    pub fn close_reason(&self) -> Option<OfError> {
        self.inner.closed.borrow().clone()
    }

    pub fn is_closed(&self) -> bool {
        self.inner.closed.borrow().is_some()
    }

    /// Resolves when the connection is closed, with the reason.
    pub async fn closed(&self) -> OfError {
        let mut rx = self.inner.closed.clone();
        let r = match rx.wait_for(|c| c.is_some()).await {
            Ok(v) => v.clone().expect("checked"),
            Err(_) => OfError::Disconnected("the session task ended".into()),
        };
        r
    }

    /// Closes the connection; requests in flight fail with `Disconnected`.
    pub fn close(&self) {
        let _ = self.inner.cmd.send(Cmd::Close);
    }

    /// A fresh xid (never 0, which the echo probe uses).
    pub fn next_xid(&self) -> u32 {
        loop {
            let x = self.inner.next_xid.fetch_add(1, Ordering::Relaxed);
            if x != 0 {
                return x;
            }
        }
    }

    /// `n` consecutive xids that do not wrap through 0.
    pub(crate) fn xid_block(&self, n: u32) -> u32 {
        let mut cur = self.inner.next_xid.load(Ordering::Relaxed);
        loop {
            let start = if cur == 0 || cur.checked_add(n).is_none() { 1 } else { cur };
            let end = start.wrapping_add(n);
            match self.inner.next_xid.compare_exchange_weak(cur, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return start,
                Err(now) => cur = now,
            }
        }
    }

    pub(crate) fn next_bundle_id(&self) -> u32 {
        self.inner.next_bundle.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn cmd(&self, c: Cmd) -> Result<(), OfError> {
        self.inner.cmd.send(c).map_err(|_| self.gone())
    }

    fn gone(&self) -> OfError {
        self.close_reason().unwrap_or_else(|| OfError::Disconnected("the session is closed".into()))
    }

    /// The queue room `len` bytes hold (a message larger than the whole
    /// queue takes all of it).
    fn room_for(&self, len: usize) -> u32 {
        len.clamp(1, self.inner.room_cap as usize) as u32
    }

    /// Waits for room for `b` in the write queue.
    async fn reserve(&self, b: Bytes) -> Result<Queued, OfError> {
        let n = self.room_for(b.len());
        self.inner.room.acquire_many(n).await.map_err(|_| self.gone())?.forget();
        Ok((b, n))
    }

    /// Queues `msg` without waiting for anything. An error the switch sends
    /// back arrives as a [`SwitchEvent`]. Returns the xid used. Fails with
    /// [`OfError::Timeout`] when the write queue is full (the switch is not
    /// reading); async callers that can wait use a bundle or a request.
    pub fn send(&self, msg: &Message) -> Result<u32, OfError> {
        let xid = self.next_xid();
        let b = msg.encode(xid).map_err(|e| OfError::Caller(format!("cannot encode {}: {e}", msg.name())))?;
        let n = self.room_for(b.len());
        match self.inner.room.try_acquire_many(n) {
            Ok(p) => p.forget(),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(self.gone()),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                return Err(OfError::Timeout { what: "room in the write queue (the switch is not reading)", after: Duration::ZERO })
            }
        }
        self.cmd(Cmd::Send((b.freeze(), n)))?;
        Ok(xid)
    }

    /// Queues pre-encoded bytes (whole messages), waiting for room.
    pub(crate) async fn send_bytes(&self, b: Bytes) -> Result<(), OfError> {
        let q = self.reserve(b).await?;
        self.cmd(Cmd::Send(q))
    }

    pub(crate) async fn call(&self, xid: u32, bytes: Bytes, req: Request) -> Done {
        let bytes = match self.reserve(bytes).await {
            Ok(q) => q,
            // Not sent: the outcome is known.
            Err(e) => return (Err(e), None),
        };
        let (tx, rx) = oneshot::channel();
        if let Err(e) = self.cmd(Cmd::Request { xid, req: req.clone(), bytes, tx }) {
            return (Err(lost(&req, e)), None);
        }
        match rx.await {
            Ok(d) => d,
            Err(_) => (Err(lost(&req, self.gone())), None),
        }
    }

    /// Sends `msg` and waits for the message the switch answers it with
    /// (an ERROR becomes [`OfError::Refused`]). Only for messages that have
    /// a reply: a FLOW_MOD has none (use [`Session::send`] and
    /// [`Session::barrier`], or a bundle); a MULTIPART_REQUEST goes through
    /// [`Session::multipart`].
    pub async fn request(&self, msg: Message) -> Result<Message, OfError> {
        if matches!(msg, Message::MultipartRequest(_)) {
            return Err(OfError::Caller("a MULTIPART_REQUEST may be answered in several parts; use Session::multipart".into()));
        }
        match self.request_with(&msg, Request::new(msg.name())).await.0? {
            Reply::Message(m) => Ok(m),
            Reply::Multipart(_) => Err(OfError::protocol("a multipart reply answered a single request")),
        }
    }

    pub(crate) async fn request_with(&self, msg: &Message, req: Request) -> Done {
        let xid = self.next_xid();
        match msg.encode(xid) {
            Ok(b) => self.call(xid, b.freeze(), req).await,
            Err(e) => (Err(OfError::Caller(format!("cannot encode {}: {e}", msg.name()))), None),
        }
    }

    /// Waits until the switch has processed everything sent before.
    pub async fn barrier(&self) -> Result<(), OfError> {
        match self.request(Message::BarrierRequest).await? {
            Message::BarrierReply => Ok(()),
            m => Err(OfError::protocol(format!("{} answered BARRIER_REQUEST", m.name()))),
        }
    }

    /// Sends a multipart request and collects every reply part.
    pub async fn multipart(&self, req: MultipartRequest) -> Result<Vec<MultipartReply>, OfError> {
        let r = Request { expect: super::core::Expect::Multipart, ..Request::new("MULTIPART_REQUEST") };
        match self.request_with(&Message::MultipartRequest(req), r).await.0? {
            Reply::Multipart(parts) => Ok(parts),
            Reply::Message(m) => Err(OfError::protocol(format!("{} answered a multipart request", m.name()))),
        }
    }

    /// Sends a multipart request and returns its reply parts one by one as
    /// the switch sends them (nothing is collected): a dump can be printed
    /// while the switch is still producing it.
    pub async fn multipart_stream(&self, req: MultipartRequest) -> Result<MultipartStream, OfError> {
        let xid = self.next_xid();
        let msg = Message::MultipartRequest(req);
        let b = msg.encode(xid).map_err(|e| OfError::Caller(format!("cannot encode {}: {e}", msg.name())))?;
        let bytes = self.reserve(b.freeze()).await?;
        let (tx, rx) = mpsc::channel(STREAM_DEPTH);
        let req = Request { expect: super::core::Expect::MultipartStream, ..Request::new("MULTIPART_REQUEST") };
        self.cmd(Cmd::Stream { xid, req, bytes, parts: tx })?;
        Ok(MultipartStream { rx, closed: self.inner.closed.clone(), done: false })
    }

    /// Every flow matching `req`, across all reply parts.
    pub async fn dump_flows(&self, req: FlowStatsRequest) -> Result<Vec<FlowDesc>, OfError> {
        let mut out = Vec::new();
        for p in self.multipart(MultipartRequest::new(MultipartRequestBody::FlowDesc(req))).await? {
            match p.body {
                MultipartReplyBody::FlowDesc(v) => out.extend(v),
                _ => return Err(OfError::protocol("a FLOW_DESC request got another kind of reply")),
            }
        }
        Ok(out)
    }

    /// Aggregate counters of the flows matching `req`.
    pub async fn aggregate(&self, req: FlowStatsRequest) -> Result<Stats, OfError> {
        let parts = self.multipart(MultipartRequest::new(MultipartRequestBody::Aggregate(req))).await?;
        match parts.into_iter().next().map(|p| p.body) {
            Some(MultipartReplyBody::Aggregate(s)) => Ok(s),
            _ => Err(OfError::protocol("an AGGREGATE_STATS request got another kind of reply")),
        }
    }

    /// Counters of every port.
    pub async fn dump_ports(&self) -> Result<Vec<PortStats>, OfError> {
        let mut out = Vec::new();
        for p in self.multipart(MultipartRequest::new(MultipartRequestBody::PortStats { port_no: PortNo::ANY })).await? {
            match p.body {
                MultipartReplyBody::PortStats(v) => out.extend(v),
                _ => return Err(OfError::protocol("a PORT_STATS request got another kind of reply")),
            }
        }
        Ok(out)
    }

    /// Description of every port.
    pub async fn port_desc(&self) -> Result<Vec<Port>, OfError> {
        let mut out = Vec::new();
        for p in self.multipart(MultipartRequest::new(MultipartRequestBody::PortDesc { port_no: PortNo::ANY })).await? {
            match p.body {
                MultipartReplyBody::PortDesc(v) => out.extend(v),
                _ => return Err(OfError::protocol("a PORT_DESC request got another kind of reply")),
            }
        }
        Ok(out)
    }
}

/// Reply parts of a streamed multipart request that may wait for its
/// consumer. When they are all waiting, the session stops reading the
/// socket until the consumer takes one, so that a slow consumer (a dump
/// printed to a slow terminal or pipe) holds the switch back instead of
/// growing memory: a FLOW_DESC part is ~64 KiB, so ~1 MiB waits at most.
/// Sixteen, not fewer, so that a consumer decoding on several threads
/// rarely finds the queue empty (4 made a 60,000-flow dump ~5 % slower).
pub const STREAM_DEPTH: usize = 16;

/// The parts of one multipart reply, as they arrive ([`Session::multipart_stream`]),
/// undecoded: [`RawPart::decode`] them where the work should run.
/// At most [`STREAM_DEPTH`] parts wait for the caller; beyond that the
/// session stops reading from the switch (the whole session: other
/// replies and events wait too) until the caller takes the next part. That
/// pause counts toward no timeout.
#[derive(Debug)]
pub struct MultipartStream {
    rx: mpsc::Receiver<Result<RawPart, OfError>>,
    closed: watch::Receiver<Option<OfError>>,
    done: bool,
}

impl MultipartStream {
    /// The next part; `None` after the last one (the one without
    /// REPLY_MORE). An error (switch refusal, timeout, lost connection)
    /// ends the stream; the parts before it were valid.
    pub async fn next(&mut self) -> Option<Result<RawPart, OfError>> {
        if self.done {
            return None;
        }
        let got = self.rx.recv().await;
        self.take(got)
    }

    /// [`MultipartStream::next`] for a thread outside the runtime (a
    /// printing thread): blocks until the next part. Panics if called
    /// from within an async context, as blocking there would stall it.
    pub fn blocking_next(&mut self) -> Option<Result<RawPart, OfError>> {
        if self.done {
            return None;
        }
        let got = self.rx.blocking_recv();
        self.take(got)
    }

    fn take(&mut self, got: Option<Result<RawPart, OfError>>) -> Option<Result<RawPart, OfError>> {
        let r = match got {
            Some(Ok(p)) => {
                self.done = !p.more();
                Ok(p)
            }
            Some(Err(e)) => Err(e),
            None => Err(self.closed.borrow().clone().unwrap_or_else(|| OfError::Disconnected("the session ended during a multipart reply".into()))),
        };
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

fn lost(req: &Request, e: OfError) -> OfError {
    if req.unknown_if_lost {
        OfError::OutcomeUnknown { what: req.what, why: e.to_string() }
    } else {
        e
    }
}

/// The socket and what the writer needs, handed to the driver task.
struct Io {
    r: Reader,
    w: Writer,
    /// Bytes already read during the handshake.
    buf: BytesMut,
    write_timeout: Duration,
    room: Arc<Semaphore>,
}

/// The writer task: writes queued bytes in order, coalescing small
/// messages into larger writes, each write under `deadline`; gives the
/// queue room back once written.
async fn write_loop(mut w: Writer, mut rx: mpsc::UnboundedReceiver<Queued>, deadline: Duration, room: Arc<Semaphore>, failed: oneshot::Sender<OfError>) {
    const COALESCE: usize = 64 * 1024;
    while let Some((first, mut held)) = rx.recv().await {
        let mut chunk = first;
        if chunk.len() < COALESCE {
            let mut more = BytesMut::from(&chunk[..]);
            while more.len() < COALESCE {
                match rx.try_recv() {
                    Ok((b, n)) => {
                        more.extend_from_slice(&b);
                        held += n;
                    }
                    Err(_) => break,
                }
            }
            chunk = more.freeze();
        }
        let err = match tokio::time::timeout(deadline, w.write_all(&chunk)).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(OfError::Disconnected(format!("write failed: {e}"))),
            Err(_) => Some(OfError::Timeout { what: "a write to the switch (it stopped reading)", after: deadline }),
        };
        if let Some(e) = err {
            let _ = failed.send(e);
            return;
        }
        room.add_permits(held as usize);
    }
    let _ = w.shutdown().await;
}

/// The reader/driver task: the only place messages from the switch are
/// read, in order.
async fn drive(
    mut core: Core<oneshot::Sender<Done>>,
    io: Io,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    events: broadcast::Sender<SwitchEvent>,
    closed_tx: watch::Sender<Option<OfError>>,
) {
    let Io { mut r, w, mut buf, write_timeout, room } = io;
    let (wtx, wrx) = mpsc::unbounded_channel::<Queued>();
    let (failed_tx, mut failed_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(w, wrx, write_timeout, room.clone(), failed_tx));
    let mut reason = None;
    // Streamed multipart requests by xid (their waiter in `core` is unused).
    let mut streams: HashMap<u32, StreamOut> = HashMap::new();
    // Since when the reader has not read because a stream's consumer is full.
    let mut stalled_since: Option<Instant> = None;
    process_frames(&mut core, &mut buf);
    loop {
        // A stall just ended: its time was ours (Core::pause), then the
        // clock runs as usual.
        if let Some(t) = stalled_since {
            if streams.values().all(|st| st.backlog.is_empty()) {
                stalled_since = None;
                core.pause(t.elapsed());
                core.handle_timeout(Instant::now());
            }
        }
        while let Some(o) = core.poll() {
            match o {
                // Echo replies and probes hold no room: they are small and
                // must never wait behind the budget.
                Output::Transmit { xid, msg } => match msg.encode(xid) {
                    Ok(b) => {
                        let _ = wtx.send((b.freeze(), 0));
                    }
                    Err(e) => tracing::warn!("cannot encode {}: {e}", msg.name()),
                },
                Output::Complete { xid, waiter, result, txn } => match streams.get_mut(&xid) {
                    Some(st) => {
                        let alive = match result {
                            Err(e) => st.push(Err(e)),
                            Ok(_) => true,
                        };
                        st.finished = true;
                        if !alive || st.backlog.is_empty() {
                            streams.remove(&xid);
                        }
                    }
                    None => {
                        let _ = waiter.send((result, txn));
                    }
                },
                Output::Part { xid, part } => {
                    if let Some(st) = streams.get_mut(&xid) {
                        if !st.push(Ok(part)) {
                            streams.remove(&xid);
                        }
                    }
                }
                Output::Event { xid, msg } => {
                    let _ = events.send(SwitchEvent { xid, message: msg });
                }
                Output::Stray { xid, name } => tracing::debug!(xid, name, "reply for no pending request; ignored"),
                Output::Close(e) => reason = Some(e),
            }
        }
        if core.is_closed() {
            break;
        }
        // A stream whose consumer is full stops the reader (and the clock,
        // see Core::pause) until the consumer takes a part.
        let stalled = streams.iter().find(|(_, st)| !st.backlog.is_empty()).map(|(xid, st)| (*xid, st.tx.clone()));
        if stalled.is_some() && stalled_since.is_none() {
            stalled_since = Some(Instant::now());
        }
        let deadline = core.poll_timeout();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        buf.reserve(64 * 1024);
        tokio::select! {
            res = r.read_buf(&mut buf), if stalled.is_none() => match res {
                Ok(0) => core.close(conn::eof_error(&buf)),
                Ok(_) => process_frames(&mut core, &mut buf),
                Err(e) => core.close(OfError::Disconnected(format!("read failed: {e}"))),
            },
            room = async {
                match &stalled {
                    Some((_, tx)) => tx.reserve().await,
                    None => std::future::pending().await,
                }
            }, if stalled.is_some() => {
                let xid = stalled.as_ref().map_or(0, |(x, _)| *x);
                let alive = match (room, streams.get_mut(&xid)) {
                    (Ok(permit), Some(st)) => {
                        if let Some(item) = st.backlog.pop_front() {
                            permit.send(item);
                        }
                        st.flush()
                    }
                    _ => false,
                };
                if !alive || streams.get(&xid).is_some_and(StreamOut::done) {
                    streams.remove(&xid);
                }
            }
            cmd = cmd_rx.recv() => match cmd {
                Some(Cmd::Send(q)) => {
                    let _ = wtx.send(q);
                }
                Some(Cmd::Request { xid, req, bytes, tx }) => {
                    core.register(xid, req, tx, Instant::now());
                    let _ = wtx.send(bytes);
                }
                Some(Cmd::Stream { xid, req, bytes, parts }) => {
                    streams.insert(xid, StreamOut { tx: parts, backlog: VecDeque::new(), finished: false });
                    core.register(xid, req, oneshot::channel().0, Instant::now());
                    let _ = wtx.send(bytes);
                }
                Some(Cmd::OpenTxn { id, open_xid, first_add, n_adds }) => core.open_txn(id, open_xid, first_add, n_adds),
                Some(Cmd::CloseTxn(id)) => {
                    core.close_txn(id);
                }
                Some(Cmd::Close) => core.close(OfError::Disconnected("closed by podflow".into())),
                None => core.close(OfError::Disconnected("every handle to the session was dropped".into())),
            },
            _ = sleep, if stalled.is_none() => core.handle_timeout(Instant::now()),
            e = &mut failed_rx => core.close(e.unwrap_or_else(|_| OfError::Disconnected("the writer stopped".into()))),
        }
    }
    let reason = reason.unwrap_or_else(|| OfError::Disconnected("closed".into()));
    tracing::debug!("openflow session closed: {reason}");
    let _ = closed_tx.send(Some(reason));
    // Senders waiting for room fail now, with the reason above.
    room.close();
    // Let queued bytes drain briefly, then make sure the socket is gone.
    drop(wtx);
    cmd_rx.close();
    while let Ok(c) = cmd_rx.try_recv() {
        if let Cmd::Request { req, tx, .. } = c {
            let _ = tx.send((Err(lost(&req, closed_tx.borrow().clone().expect("set"))), None));
        }
    }
    let abort = writer.abort_handle();
    if tokio::time::timeout(Duration::from_millis(500), writer).await.is_err() {
        abort.abort();
    }
    // Parts read before the end still reach their consumers (a dump cut
    // midway prints what came), then the error; a consumer that takes
    // nothing for `write_timeout` loses them.
    let drain = async {
        for st in streams.into_values() {
            for item in st.backlog {
                if st.tx.send(item).await.is_err() {
                    break;
                }
            }
        }
    };
    let _ = tokio::time::timeout(write_timeout, drain).await;
}

/// A streamed multipart request's way to its consumer: a bounded channel,
/// and the parts that found it full (at most what one read brought in).
struct StreamOut {
    tx: mpsc::Sender<Result<RawPart, OfError>>,
    backlog: VecDeque<Result<RawPart, OfError>>,
    /// The request is over: its last part or its error is queued.
    finished: bool,
}

impl StreamOut {
    /// Queues `item` behind the waiting ones; false if the consumer is gone.
    fn push(&mut self, item: Result<RawPart, OfError>) -> bool {
        self.backlog.push_back(item);
        self.flush()
    }

    /// Moves waiting parts into the channel while it has room; false if the
    /// consumer is gone.
    fn flush(&mut self) -> bool {
        while let Some(item) = self.backlog.pop_front() {
            match self.tx.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(item)) => {
                    self.backlog.push_front(item);
                    return true;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.backlog.clear();
                    return false;
                }
            }
        }
        true
    }

    /// Finished and everything handed over.
    fn done(&self) -> bool {
        self.finished && self.backlog.is_empty()
    }
}

fn process_frames(core: &mut Core<oneshot::Sender<Done>>, buf: &mut BytesMut) {
    loop {
        let now = Instant::now();
        let len = match conn::next_len(buf) {
            Ok(Some(len)) => len,
            Ok(None) => return,
            Err(e) => {
                core.close(e);
                return;
            }
        };
        // A streamed request's parts go over undecoded: the consumer
        // decodes them on its own threads while this reader keeps up. Each
        // is copied out rather than split off, so that `buf` stays the
        // only owner of its memory and is reused for the next reads (split
        // parts kept every read's buffer alive until decoded, and fresh
        // pages for all of a 10 MB dump cost the reader 14 ms zeroing them).
        let frame = &buf[..len];
        let xid = RawPart::xid_of(frame);
        if let Some(part) = core.streams(xid).then(|| RawPart::copy_of(frame)).flatten() {
            buf.advance(len);
            core.handle_part(xid, part, now);
            continue;
        }
        let bytes = buf.split_to(len);
        match conn::decode_frame(&bytes) {
            Ok(Frame::Msg { xid, msg, .. }) => core.handle_message(xid, msg, now),
            Ok(Frame::Undecodable { xid, why }) => {
                tracing::warn!("undecodable message from the switch: {why}");
                core.handle_undecodable(xid, why, now)
            }
            Err(e) => {
                core.close(e);
                return;
            }
        }
        if core.is_closed() {
            return;
        }
    }
}
