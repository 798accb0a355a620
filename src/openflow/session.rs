//! One OpenFlow 1.5 connection to a switch, driven by tokio: an ordered
//! reader (one task, switch order kept) that feeds [`Core`], a writer task
//! behind an unbounded channel (sending never blocks the reader), and the
//! public request API (`request`, `barrier`, multipart dumps; bundles live
//! in [`super::bundle`]).
//!
//! Owns: the socket, the xid counter, the delivery of replies and
//! asynchronous events. Never: decides timing itself (that is [`Core`]),
//! retries or reconnects (that is [`super::supervisor`]), or leaves a
//! waiter hanging when the connection drops.

use super::addr::{self, Addr, Reader, Writer};
use super::conn::{self, Frame};
use super::core::{Core, Output, Reply, Request, Timing, TxnId, TxnReport};
use super::error::OfError;
use bytes::{Bytes, BytesMut};
use podflow_proto::openflow::flow::{FlowDesc, FlowStatsRequest};
use podflow_proto::openflow::message::Message;
use podflow_proto::openflow::multipart::{MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody, PortStats};
use podflow_proto::openflow::oxs::Stats;
use podflow_proto::openflow::port::{Port, PortNo};
use podflow_proto::openflow::switch::FeaturesReply;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

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
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            timing: Timing::default(),
            connect_timeout: Duration::from_secs(10),
            per_bundled_message: Duration::from_micros(100),
            event_capacity: 1024,
        }
    }
}

type Done = (Result<Reply, OfError>, Option<TxnReport>);

pub(crate) enum Cmd {
    /// Bytes to write, no answer expected.
    Send(Bytes),
    /// Register `xid`, then write `bytes`.
    Request { xid: u32, req: Request, bytes: Bytes, tx: oneshot::Sender<Done> },
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
            Ok(x) => x?,
            Err(_) => return Err(OfError::Connect { addr: addr.to_string(), reason: format!("no connection within {:?}", config.connect_timeout) }),
        };
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let features = conn::handshake(addr, &mut r, &mut w, &mut buf, config.connect_timeout).await?;
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let (closed_tx, closed_rx) = watch::channel(None);
        let core = Core::new(config.timing.clone(), std::time::Instant::now());
        tokio::spawn(drive(core, r, w, buf, cmd_rx, events.clone(), closed_tx));
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

    /// Queues `msg` without waiting for anything. An error the switch sends
    /// back arrives as a [`SwitchEvent`]. Returns the xid used.
    pub fn send(&self, msg: &Message) -> Result<u32, OfError> {
        let xid = self.next_xid();
        let b = msg.encode(xid).map_err(|e| OfError::Caller(format!("cannot encode {}: {e}", msg.name())))?;
        self.cmd(Cmd::Send(b.freeze()))?;
        Ok(xid)
    }

    /// Queues pre-encoded bytes (whole messages).
    pub(crate) fn send_bytes(&self, b: Bytes) -> Result<(), OfError> {
        self.cmd(Cmd::Send(b))
    }

    pub(crate) async fn call(&self, xid: u32, bytes: Bytes, req: Request) -> Done {
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
            Reply::Multipart(_) => Err(OfError::Malformed("a multipart reply answered a single request".into())),
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
            m => Err(OfError::Malformed(format!("{} answered BARRIER_REQUEST", m.name()))),
        }
    }

    /// Sends a multipart request and collects every reply part.
    pub async fn multipart(&self, req: MultipartRequest) -> Result<Vec<MultipartReply>, OfError> {
        let r = Request { expect: super::core::Expect::Multipart, ..Request::new("MULTIPART_REQUEST") };
        match self.request_with(&Message::MultipartRequest(req), r).await.0? {
            Reply::Multipart(parts) => Ok(parts),
            Reply::Message(m) => Err(OfError::Malformed(format!("{} answered a multipart request", m.name()))),
        }
    }

    /// Every flow matching `req`, across all reply parts.
    pub async fn dump_flows(&self, req: FlowStatsRequest) -> Result<Vec<FlowDesc>, OfError> {
        let mut out = Vec::new();
        for p in self.multipart(MultipartRequest::new(MultipartRequestBody::FlowDesc(req))).await? {
            match p.body {
                MultipartReplyBody::FlowDesc(v) => out.extend(v),
                _ => return Err(OfError::Malformed("a FLOW_DESC request got another kind of reply".into())),
            }
        }
        Ok(out)
    }

    /// Aggregate counters of the flows matching `req`.
    pub async fn aggregate(&self, req: FlowStatsRequest) -> Result<Stats, OfError> {
        let parts = self.multipart(MultipartRequest::new(MultipartRequestBody::Aggregate(req))).await?;
        match parts.into_iter().next().map(|p| p.body) {
            Some(MultipartReplyBody::Aggregate(s)) => Ok(s),
            _ => Err(OfError::Malformed("an AGGREGATE_STATS request got another kind of reply".into())),
        }
    }

    /// Counters of every port.
    pub async fn dump_ports(&self) -> Result<Vec<PortStats>, OfError> {
        let mut out = Vec::new();
        for p in self.multipart(MultipartRequest::new(MultipartRequestBody::PortStats { port_no: PortNo::ANY })).await? {
            match p.body {
                MultipartReplyBody::PortStats(v) => out.extend(v),
                _ => return Err(OfError::Malformed("a PORT_STATS request got another kind of reply".into())),
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
                _ => return Err(OfError::Malformed("a PORT_DESC request got another kind of reply".into())),
            }
        }
        Ok(out)
    }
}

fn lost(req: &Request, e: OfError) -> OfError {
    if req.unknown_if_lost {
        OfError::OutcomeUnknown { what: req.what, why: e.to_string() }
    } else {
        e
    }
}

/// The writer task: writes queued bytes in order, coalescing small
/// messages into larger writes.
async fn write_loop(mut w: Writer, mut rx: mpsc::UnboundedReceiver<Bytes>, failed: oneshot::Sender<String>) {
    const COALESCE: usize = 64 * 1024;
    while let Some(first) = rx.recv().await {
        let res = if first.len() >= COALESCE {
            w.write_all(&first).await
        } else {
            let mut chunk = BytesMut::from(&first[..]);
            while chunk.len() < COALESCE {
                match rx.try_recv() {
                    Ok(b) => chunk.extend_from_slice(&b),
                    Err(_) => break,
                }
            }
            w.write_all(&chunk).await
        };
        if let Err(e) = res {
            let _ = failed.send(format!("write failed: {e}"));
            return;
        }
    }
    let _ = w.shutdown().await;
}

/// The reader/driver task: the only place messages from the switch are
/// read, in order.
async fn drive(
    mut core: Core<oneshot::Sender<Done>>,
    mut r: Reader,
    w: Writer,
    mut buf: BytesMut,
    mut cmd_rx: mpsc::UnboundedReceiver<Cmd>,
    events: broadcast::Sender<SwitchEvent>,
    closed_tx: watch::Sender<Option<OfError>>,
) {
    let (wtx, wrx) = mpsc::unbounded_channel::<Bytes>();
    let (failed_tx, mut failed_rx) = oneshot::channel();
    let writer = tokio::spawn(write_loop(w, wrx, failed_tx));
    let mut reason = None;
    // Bytes already read during the handshake.
    process_frames(&mut core, &mut buf);
    loop {
        while let Some(o) = core.poll() {
            match o {
                Output::Transmit { xid, msg } => match msg.encode(xid) {
                    Ok(b) => {
                        let _ = wtx.send(b.freeze());
                    }
                    Err(e) => tracing::warn!("cannot encode {}: {e}", msg.name()),
                },
                Output::Complete { waiter, result, txn } => {
                    let _ = waiter.send((result, txn));
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
        let deadline = core.poll_timeout().map(tokio::time::Instant::from_std);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        buf.reserve(64 * 1024);
        tokio::select! {
            res = r.read_buf(&mut buf) => match res {
                Ok(0) => core.close(conn::eof_error(&buf)),
                Ok(_) => process_frames(&mut core, &mut buf),
                Err(e) => core.close(OfError::Disconnected(format!("read failed: {e}"))),
            },
            cmd = cmd_rx.recv() => match cmd {
                Some(Cmd::Send(b)) => {
                    let _ = wtx.send(b);
                }
                Some(Cmd::Request { xid, req, bytes, tx }) => {
                    core.register(xid, req, tx, std::time::Instant::now());
                    let _ = wtx.send(bytes);
                }
                Some(Cmd::OpenTxn { id, open_xid, first_add, n_adds }) => core.open_txn(id, open_xid, first_add, n_adds),
                Some(Cmd::CloseTxn(id)) => {
                    core.close_txn(id);
                }
                Some(Cmd::Close) => core.close(OfError::Disconnected("closed by podflow".into())),
                None => core.close(OfError::Disconnected("every handle to the session was dropped".into())),
            },
            _ = sleep => core.handle_timeout(std::time::Instant::now()),
            e = &mut failed_rx => core.close(OfError::Disconnected(e.unwrap_or_else(|_| "the writer stopped".into()))),
        }
    }
    let reason = reason.unwrap_or_else(|| OfError::Disconnected("closed".into()));
    tracing::debug!("openflow session closed: {reason}");
    let _ = closed_tx.send(Some(reason));
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
}

fn process_frames(core: &mut Core<oneshot::Sender<Done>>, buf: &mut BytesMut) {
    loop {
        let now = std::time::Instant::now();
        match conn::next_frame(buf) {
            Ok(Some(Frame::Msg { xid, msg, .. })) => core.handle_message(xid, msg, now),
            Ok(Some(Frame::Undecodable { xid, why })) => {
                tracing::warn!("undecodable message from the switch: {why}");
                core.handle_undecodable(xid, why, now)
            }
            Ok(None) => return,
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
