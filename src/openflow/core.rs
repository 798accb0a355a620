//! The session's decision logic as a pure state machine (quinn style):
//! which waiter a message belongs to (the xid table), request deadlines,
//! multipart collection, bundle-transaction error routing and the echo
//! liveness probe. Time is passed in as `now`; the tokio driver in
//! [`super::session`] feeds it messages and timeouts and carries out the
//! [`Output`]s.
//!
//! Owns: xid → waiter matching and every timing decision of a connection.
//! Never: touches a socket, a clock or a task, and never panics on what
//! the switch sends (unknown xids are reported, not trusted).

use super::conn::RawPart;
use super::error::{Malformed, MessageError, OfError};
use podflow_proto::openflow::error::ErrorMsg;
use podflow_proto::openflow::message::Message;
use podflow_proto::openflow::multipart::MultipartReply;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;
// The one clock: tokio's, so tests can pause it.
use tokio::time::Instant;

/// Timing knobs of one connection.
#[derive(Debug, Clone)]
pub struct Timing {
    /// Deadline of a request without its own.
    pub request_timeout: Duration,
    /// Idle time after which an echo probe is sent, and the time each
    /// probe gets to be answered.
    pub echo_interval: Duration,
    /// Unanswered probes in a row after which the connection is dropped.
    pub echo_misses: u32,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { request_timeout: Duration::from_secs(10), echo_interval: Duration::from_secs(5), echo_misses: 2 }
    }
}

/// What a request waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// One message with the same xid.
    Single,
    /// MULTIPART_REPLY parts until one without REPLY_MORE.
    Multipart,
    /// The same parts, each handed over undecoded as it arrives
    /// ([`Output::Part`]): the driver feeds them to [`Core::handle_part`]
    /// (see [`Core::streams`]), never decoded to `handle_message`. The
    /// request completes with an empty [`Reply::Multipart`] after the last.
    MultipartStream,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Message(Message),
    Multipart(Vec<MultipartReply>),
}

/// Identifies a bundle transaction registered with [`Core::open_txn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TxnId(pub u64);

/// What the switch said about a bundle transaction outside the replies to
/// its control requests: errors for its ADD messages (by index) and an
/// asynchronous error quoting the OPEN (e.g. `OFPBFC_TIMEOUT`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TxnReport {
    pub add_errors: Vec<MessageError>,
    pub async_error: Option<ErrorMsg>,
}

/// A request registered in the xid table.
#[derive(Debug, Clone)]
pub struct Request {
    /// Name for errors, e.g. "BARRIER_REQUEST".
    pub what: &'static str,
    pub expect: Expect,
    /// Deadline; `None` uses [`Timing::request_timeout`].
    pub timeout: Option<Duration>,
    /// A lost reply means the request may have taken effect (COMMIT).
    pub unknown_if_lost: bool,
    /// On completion, hand over what was collected for this transaction.
    pub txn: Option<TxnId>,
}

impl Request {
    pub fn new(what: &'static str) -> Self {
        Request { what, expect: Expect::Single, timeout: None, unknown_if_lost: false, txn: None }
    }
}

/// Something the driver must do.
#[derive(Debug)]
pub enum Output<W> {
    /// Send this message (echo replies and probes).
    Transmit { xid: u32, msg: Message },
    /// A request is finished.
    Complete { xid: u32, waiter: W, result: Result<Reply, OfError>, txn: Option<TxnReport> },
    /// One part of a [`Expect::MultipartStream`] request, in arrival
    /// order, always before that request's [`Output::Complete`].
    Part { xid: u32, part: RawPart },
    /// A message nobody asked for (PACKET_IN, PORT_STATUS, FLOW_REMOVED,
    /// an unsolicited ERROR, ...).
    Event { xid: u32, msg: Message },
    /// A reply whose xid matches nothing; logged and dropped.
    Stray { xid: u32, name: &'static str },
    /// The connection must be closed with this error.
    Close(OfError),
}

struct Pending<W> {
    req: Request,
    waiter: W,
    deadline: Instant,
    parts: Vec<MultipartReply>,
}

struct Txn {
    open_xid: u32,
    first_add: u32,
    n_adds: u32,
    report: TxnReport,
}

/// xid used for our echo probes; request xids never take it.
pub const PROBE_XID: u32 = 0;

/// The pure connection state machine; `W` is whatever the driver uses to
/// wake a waiter (a oneshot sender; a plain value in tests).
pub struct Core<W> {
    timing: Timing,
    pending: HashMap<u32, Pending<W>>,
    deadlines: BTreeSet<(Instant, u32)>,
    txns: HashMap<TxnId, Txn>,
    last_rx: Instant,
    probe_sent: Option<Instant>,
    misses: u32,
    closed: bool,
    out: VecDeque<Output<W>>,
}

impl<W> Core<W> {
    pub fn new(timing: Timing, now: Instant) -> Self {
        Core {
            timing,
            pending: HashMap::new(),
            deadlines: BTreeSet::new(),
            txns: HashMap::new(),
            last_rx: now,
            probe_sent: None,
            misses: 0,
            closed: false,
            out: VecDeque::new(),
        }
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Number of requests waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Registers a request about to be sent with `xid`. A duplicate xid or
    /// a closed connection completes the new request with an error at once.
    pub fn register(&mut self, xid: u32, req: Request, waiter: W, now: Instant) {
        if self.closed {
            self.out.push_back(Output::Complete { xid, waiter, result: Err(OfError::Disconnected("the connection is closed".into())), txn: None });
            return;
        }
        if xid == PROBE_XID || self.pending.contains_key(&xid) {
            let e = OfError::Caller(format!("xid {xid} is already in use"));
            self.out.push_back(Output::Complete { xid, waiter, result: Err(e), txn: None });
            return;
        }
        let deadline = now + req.timeout.unwrap_or(self.timing.request_timeout);
        self.deadlines.insert((deadline, xid));
        self.pending.insert(xid, Pending { req, waiter, deadline, parts: Vec::new() });
    }

    /// Registers a bundle transaction: errors quoting `open_xid` after the
    /// OPEN was answered, and errors for the `n_adds` ADD messages sent with
    /// xids `first_add..`, are collected for it.
    pub fn open_txn(&mut self, id: TxnId, open_xid: u32, first_add: u32, n_adds: u32) {
        self.txns.insert(id, Txn { open_xid, first_add, n_adds, report: TxnReport::default() });
    }

    /// Forgets a transaction; returns what was collected and not yet handed over.
    pub fn close_txn(&mut self, id: TxnId) -> TxnReport {
        self.txns.remove(&id).map(|t| t.report).unwrap_or_default()
    }

    fn take_report(&mut self, id: Option<TxnId>) -> Option<TxnReport> {
        let id = id?;
        Some(self.txns.get_mut(&id).map(|t| std::mem::take(&mut t.report)).unwrap_or_default())
    }

    fn finish(&mut self, xid: u32, result: Result<Reply, OfError>) {
        if let Some(p) = self.pending.remove(&xid) {
            self.deadlines.remove(&(p.deadline, xid));
            let txn = self.take_report(p.req.txn);
            self.out.push_back(Output::Complete { xid, waiter: p.waiter, result, txn });
        }
    }

    /// Anything from the switch proves it alive: the echo clock starts
    /// over. False once the connection is closed (then nothing counts).
    fn heard(&mut self, now: Instant) -> bool {
        if self.closed {
            return false;
        }
        self.last_rx = now;
        self.probe_sent = None;
        self.misses = 0;
        true
    }

    /// A message from the switch, in the order it arrived.
    pub fn handle_message(&mut self, xid: u32, msg: Message, now: Instant) {
        if !self.heard(now) {
            return;
        }
        match msg {
            Message::EchoRequest(data) => {
                self.out.push_back(Output::Transmit { xid, msg: Message::EchoReply(data) });
                return;
            }
            Message::EchoReply(_) if xid == PROBE_XID => return,
            Message::Hello(_) => return,
            _ => {}
        }
        if let Some(p) = self.pending.get_mut(&xid) {
            match msg {
                Message::Error(error) => {
                    let request = p.req.what;
                    self.finish(xid, Err(OfError::Refused { request, error }));
                }
                Message::MultipartReply(part) if p.req.expect == Expect::Multipart => {
                    let more = part.more();
                    p.parts.push(part);
                    self.progress(xid, more, now);
                }
                Message::MultipartReply(_) => {
                    let what = p.req.what;
                    self.finish(xid, Err(OfError::protocol(format!("a MULTIPART_REPLY answered {what}"))));
                }
                other => {
                    if p.req.expect != Expect::Single {
                        let e = OfError::protocol(format!("{} answered a multipart request", other.name()));
                        self.finish(xid, Err(e));
                    } else {
                        self.finish(xid, Ok(Reply::Message(other)));
                    }
                }
            }
            return;
        }
        match msg {
            Message::Error(error) => {
                for t in self.txns.values_mut() {
                    let index = xid.wrapping_sub(t.first_add);
                    if index < t.n_adds {
                        t.report.add_errors.push(MessageError { index: index as usize, error });
                        return;
                    }
                    if xid == t.open_xid {
                        t.report.async_error.get_or_insert(error);
                        return;
                    }
                }
                self.out.push_back(Output::Event { xid, msg: Message::Error(error) });
            }
            // An unsolicited MULTIPART_REPLY carries flow monitor updates.
            m @ (Message::PacketIn(_)
            | Message::PortStatus(_)
            | Message::FlowRemoved(_)
            | Message::MultipartReply(_)
            | Message::Experimenter { .. }
            | Message::Unknown { .. }) => {
                self.out.push_back(Output::Event { xid, msg: m });
            }
            other => self.out.push_back(Output::Stray { xid, name: other.name() }),
        }
    }

    /// Whether a MULTIPART_REPLY with `xid` answers a streamed request, so
    /// the driver hands it to [`Core::handle_part`] without decoding it.
    pub fn streams(&self, xid: u32) -> bool {
        !self.closed && self.pending.get(&xid).is_some_and(|p| p.req.expect == Expect::MultipartStream)
    }

    /// An undecoded part of a streamed request (see [`Core::streams`]).
    pub fn handle_part(&mut self, xid: u32, part: RawPart, now: Instant) {
        if !self.heard(now) {
            return;
        }
        if self.streams(xid) {
            let more = part.more();
            self.out.push_back(Output::Part { xid, part });
            self.progress(xid, more, now);
        } else {
            self.out.push_back(Output::Stray { xid, name: "MULTIPART_REPLY" });
        }
    }

    /// A multipart request got a part: with more to come, the next part
    /// gets a fresh deadline; after the last, the request completes.
    fn progress(&mut self, xid: u32, more: bool, now: Instant) {
        let Some(p) = self.pending.get_mut(&xid) else { return };
        if more {
            let old = p.deadline;
            p.deadline = now + p.req.timeout.unwrap_or(self.timing.request_timeout);
            let new = p.deadline;
            self.deadlines.remove(&(old, xid));
            self.deadlines.insert((new, xid));
        } else {
            let parts = std::mem::take(&mut p.parts);
            self.finish(xid, Ok(Reply::Multipart(parts)));
        }
    }

    /// A message whose header was fine but whose body did not decode: the
    /// request it answers fails; the stream itself is still in step.
    pub fn handle_undecodable(&mut self, xid: u32, why: Malformed, now: Instant) {
        if !self.heard(now) {
            return;
        }
        if self.pending.contains_key(&xid) {
            self.finish(xid, Err(OfError::Malformed(why)));
        } else {
            self.out.push_back(Output::Stray { xid, name: "undecodable message" });
        }
    }

    /// The next instant at which [`Core::handle_timeout`] must run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let echo = match self.probe_sent {
            None => self.last_rx + self.timing.echo_interval,
            Some(t) => t + self.timing.echo_interval,
        };
        Some(self.deadlines.first().map_or(echo, |(d, _)| (*d).min(echo)))
    }

    /// Moves every request deadline and the echo clock `by` later. The
    /// driver calls it after it stopped reading for `by` because the
    /// consumer of a streamed reply had no room: that silence was ours,
    /// not the switch's, and must neither time requests out nor count as
    /// missed echo probes.
    pub fn pause(&mut self, by: Duration) {
        self.last_rx += by;
        if let Some(t) = &mut self.probe_sent {
            *t += by;
        }
        for (d, xid) in std::mem::take(&mut self.deadlines) {
            if let Some(p) = self.pending.get_mut(&xid) {
                p.deadline = d + by;
            }
            self.deadlines.insert((d + by, xid));
        }
    }

    /// Expires requests past their deadline and runs the echo probe.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        while let Some(&(d, xid)) = self.deadlines.first() {
            if d > now {
                break;
            }
            let p = &self.pending[&xid];
            let after = p.req.timeout.unwrap_or(self.timing.request_timeout);
            let what = p.req.what;
            let e = if p.req.unknown_if_lost {
                OfError::OutcomeUnknown { what, why: format!("no reply within {after:?}") }
            } else {
                OfError::Timeout { what, after }
            };
            self.finish(xid, Err(e));
        }
        match self.probe_sent {
            None if now >= self.last_rx + self.timing.echo_interval => {
                self.probe_sent = Some(now);
                self.out.push_back(Output::Transmit { xid: PROBE_XID, msg: Message::EchoRequest(b"podflow".to_vec()) });
            }
            Some(t) if now >= t + self.timing.echo_interval => {
                self.misses += 1;
                if self.misses >= self.timing.echo_misses {
                    let silent = now.saturating_duration_since(self.last_rx);
                    self.close(OfError::Disconnected(format!(
                        "the switch answered none of {} echo probes (silent for {silent:?})",
                        self.misses
                    )));
                } else {
                    self.probe_sent = Some(now);
                    self.out.push_back(Output::Transmit { xid: PROBE_XID, msg: Message::EchoRequest(b"podflow".to_vec()) });
                }
            }
            _ => {}
        }
    }

    /// Closes the connection: every waiting request fails at once (with
    /// `OutcomeUnknown` for those whose effect may have happened), and a
    /// [`Output::Close`] is queued when the close was decided here.
    pub fn close(&mut self, reason: OfError) {
        if self.closed {
            return;
        }
        self.closed = true;
        let why = reason.to_string();
        let mut xids: Vec<u32> = self.pending.keys().copied().collect();
        xids.sort_unstable();
        for xid in xids {
            let p = self.pending.get(&xid).expect("present");
            let e = if p.req.unknown_if_lost {
                OfError::OutcomeUnknown { what: p.req.what, why: why.clone() }
            } else {
                reason.clone()
            };
            self.finish(xid, Err(e));
        }
        self.deadlines.clear();
        self.out.push_back(Output::Close(reason));
    }

    /// The next thing to do, if any.
    pub fn poll(&mut self) -> Option<Output<W>> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podflow_proto::openflow::error::ErrorMsg;
    use podflow_proto::openflow::multipart::{MultipartReplyBody, MORE};

    fn t0() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn timing() -> Timing {
        Timing { request_timeout: ms(1000), echo_interval: ms(5000), echo_misses: 2 }
    }

    fn drain(c: &mut Core<u32>) -> Vec<Output<u32>> {
        std::iter::from_fn(|| c.poll()).collect()
    }

    fn completions(c: &mut Core<u32>) -> Vec<(u32, Result<Reply, OfError>)> {
        drain(c)
            .into_iter()
            .filter_map(|o| match o {
                Output::Complete { waiter, result, .. } => Some((waiter, result)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn replies_match_requests_by_xid_in_any_order() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(10, Request::new("A"), 1, now);
        c.register(11, Request::new("B"), 2, now);
        c.handle_message(11, Message::BarrierReply, now);
        c.handle_message(10, Message::EchoReply(vec![]), now);
        let done = completions(&mut c);
        assert_eq!(done.len(), 2);
        assert_eq!(done[0], (2, Ok(Reply::Message(Message::BarrierReply))));
        assert_eq!(done[1], (1, Ok(Reply::Message(Message::EchoReply(vec![])))));
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn error_reply_is_refused_and_unknown_xid_is_stray() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(5, Request::new("FLOW_MOD"), 1, now);
        let err = ErrorMsg::new(5, 1, vec![]);
        c.handle_message(5, Message::Error(err.clone()), now);
        c.handle_message(77, Message::BarrierReply, now);
        let out = drain(&mut c);
        assert!(matches!(&out[0], Output::Complete { waiter: 1, result: Err(OfError::Refused { request: "FLOW_MOD", error }), .. } if *error == err));
        assert!(matches!(out[1], Output::Stray { xid: 77, name: "BARRIER_REPLY" }));
        // An error for nobody is an event.
        c.handle_message(78, Message::Error(err.clone()), now);
        assert!(matches!(drain(&mut c)[0], Output::Event { xid: 78, .. }));
    }

    #[test]
    fn duplicate_xid_is_a_caller_error() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(5, Request::new("A"), 1, now);
        c.register(5, Request::new("B"), 2, now);
        c.register(PROBE_XID, Request::new("C"), 3, now);
        let done = completions(&mut c);
        assert!(matches!(done[0], (2, Err(OfError::Caller(_)))));
        assert!(matches!(done[1], (3, Err(OfError::Caller(_)))));
        assert_eq!(c.in_flight(), 1);
    }

    #[test]
    fn deadlines_expire_in_order_and_late_replies_are_stray() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(1, Request::new("A"), 1, now);
        c.register(2, Request { timeout: Some(ms(300)), ..Request::new("B") }, 2, now);
        c.register(3, Request { timeout: Some(ms(300)), unknown_if_lost: true, ..Request::new("COMMIT") }, 3, now);
        assert_eq!(c.poll_timeout(), Some(now + ms(300)));
        c.handle_timeout(now + ms(299));
        assert!(completions(&mut c).is_empty());
        c.handle_timeout(now + ms(300));
        let done = completions(&mut c);
        assert_eq!(done[0], (2, Err(OfError::Timeout { what: "B", after: ms(300) })));
        assert!(matches!(done[1], (3, Err(OfError::OutcomeUnknown { what: "COMMIT", .. }))));
        assert_eq!(c.poll_timeout(), Some(now + ms(1000)));
        c.handle_timeout(now + ms(1000));
        assert_eq!(completions(&mut c)[0], (1, Err(OfError::Timeout { what: "A", after: ms(1000) })));
        c.handle_message(2, Message::BarrierReply, now + ms(1001));
        assert!(matches!(drain(&mut c)[0], Output::Stray { xid: 2, .. }));
    }

    #[test]
    fn multipart_collects_until_more_clears_and_refreshes_deadline() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(9, Request { expect: Expect::Multipart, ..Request::new("FLOW_DESC") }, 1, now);
        let part = |flags| MultipartReply { flags, body: MultipartReplyBody::FlowDesc(vec![Default::default()]) };
        c.handle_message(9, Message::MultipartReply(part(MORE)), now + ms(900));
        c.handle_timeout(now + ms(1500));
        assert!(completions(&mut c).is_empty(), "a part must refresh the deadline");
        c.handle_message(9, Message::MultipartReply(part(MORE)), now + ms(1600));
        c.handle_message(9, Message::MultipartReply(part(0)), now + ms(1700));
        let done = completions(&mut c);
        match &done[0] {
            (1, Ok(Reply::Multipart(parts))) => assert_eq!(parts.len(), 3),
            other => panic!("{other:?}"),
        }
    }

    /// A streamed request's parts arrive undecoded through `handle_part`:
    /// each goes out as it came (bytes untouched), refreshes the deadline,
    /// and the one without REPLY_MORE completes the request. A part for
    /// a request that is not streamed is no stream part.
    #[test]
    fn undecoded_stream_parts_go_out_as_they_came() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(9, Request { expect: Expect::MultipartStream, ..Request::new("FLOW_DESC") }, 1, now);
        c.register(10, Request { expect: Expect::Multipart, timeout: Some(ms(60_000)), ..Request::new("FLOW_DESC") }, 2, now);
        assert!(c.streams(9) && !c.streams(10) && !c.streams(11));
        let first = raw_part(9, MORE);
        c.handle_part(9, first.clone(), now + ms(900));
        let out = drain(&mut c);
        assert!(matches!(&out[..], [Output::Part { xid: 9, part }] if part.as_bytes() == first.as_bytes()), "{out:?}");
        // 900 ms in, the part moved the 1 s deadline to 1.9 s.
        c.handle_timeout(now + ms(1800));
        assert!(drain(&mut c).is_empty());
        c.handle_part(9, raw_part(9, 0), now + ms(1850));
        let out = drain(&mut c);
        assert!(matches!(out[0], Output::Part { xid: 9, ref part } if !part.more()));
        assert!(matches!(&out[1], Output::Complete { xid: 9, waiter: 1, result: Ok(Reply::Multipart(v)), .. } if v.is_empty()));
        assert!(!c.streams(9));
        c.handle_part(11, raw_part(11, 0), now + ms(1900));
        assert!(matches!(&drain(&mut c)[..], [Output::Stray { xid: 11, .. }]));
    }

    /// A FLOW_DESC reply part with one flow, as the driver hands it over.
    fn raw_part(xid: u32, flags: u16) -> RawPart {
        let m = Message::MultipartReply(MultipartReply { flags, body: MultipartReplyBody::FlowDesc(vec![Default::default()]) });
        RawPart::copy_of(&m.encode(xid).unwrap()).unwrap()
    }

    #[test]
    fn streamed_multipart_hands_over_each_part_before_completing() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(9, Request { expect: Expect::MultipartStream, ..Request::new("FLOW_DESC") }, 1, now);
        c.handle_part(9, raw_part(9, MORE), now);
        let out = drain(&mut c);
        assert!(matches!(&out[..], [Output::Part { xid: 9, part }] if part.more()), "{out:?}");
        c.handle_timeout(now + ms(999));
        c.handle_part(9, raw_part(9, 0), now + ms(1500));
        let out = drain(&mut c);
        assert!(matches!(out[0], Output::Part { xid: 9, .. }));
        assert!(matches!(&out[1], Output::Complete { xid: 9, waiter: 1, result: Ok(Reply::Multipart(v)), .. } if v.is_empty()));
        // An error after a part ends the request; the part was already out.
        c.register(10, Request { expect: Expect::MultipartStream, ..Request::new("FLOW_DESC") }, 2, now);
        c.handle_part(10, raw_part(10, MORE), now);
        c.close(OfError::Disconnected("EOF".into()));
        let out = drain(&mut c);
        assert!(matches!(out[0], Output::Part { xid: 10, .. }));
        assert!(matches!(out[1], Output::Complete { xid: 10, result: Err(OfError::Disconnected(_)), .. }));
    }

    #[test]
    fn pause_moves_deadlines_and_the_echo_clock() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(9, Request { expect: Expect::MultipartStream, ..Request::new("FLOW_DESC") }, 1, now);
        // 4 s of not reading (a full consumer): the 1 s request deadline and
        // the 5 s echo interval start over from where they were.
        c.pause(ms(4000));
        assert_eq!(c.poll_timeout(), Some(now + ms(5000)));
        c.handle_timeout(now + ms(4999));
        assert!(drain(&mut c).is_empty(), "nothing expires during the pause");
        c.handle_timeout(now + ms(5000));
        let out = drain(&mut c);
        assert!(matches!(&out[..], [Output::Complete { xid: 9, result: Err(OfError::Timeout { .. }), .. }]), "{out:?}");
        // The echo probe comes 5 s after the last byte (at 0) plus both
        // pauses (4 s + 1 s).
        c.pause(ms(1000));
        c.handle_timeout(now + ms(9999));
        assert!(drain(&mut c).is_empty());
        c.handle_timeout(now + ms(10000));
        assert!(matches!(&drain(&mut c)[..], [Output::Transmit { xid: PROBE_XID, .. }]));
    }

    #[test]
    fn close_fails_everything_at_once() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        c.register(1, Request::new("A"), 1, now);
        c.register(2, Request { unknown_if_lost: true, ..Request::new("COMMIT") }, 2, now);
        c.close(OfError::Disconnected("EOF".into()));
        let out = drain(&mut c);
        assert!(matches!(out[0], Output::Complete { waiter: 1, result: Err(OfError::Disconnected(_)), .. }));
        assert!(matches!(out[1], Output::Complete { waiter: 2, result: Err(OfError::OutcomeUnknown { .. }), .. }));
        assert!(matches!(out[2], Output::Close(_)));
        c.register(3, Request::new("late"), 3, now);
        assert!(matches!(completions(&mut c)[0], (3, Err(OfError::Disconnected(_)))));
        assert_eq!(c.poll_timeout(), None);
    }

    #[test]
    fn echo_requests_are_answered() {
        let now = t0();
        let mut c = Core::<u32>::new(timing(), now);
        c.handle_message(42, Message::EchoRequest(vec![1, 2]), now);
        assert!(matches!(&drain(&mut c)[0], Output::Transmit { xid: 42, msg: Message::EchoReply(d) } if d == &[1, 2]));
    }

    #[test]
    fn echo_probe_drops_after_two_misses() {
        let now = t0();
        let mut c = Core::<u32>::new(timing(), now);
        assert_eq!(c.poll_timeout(), Some(now + ms(5000)));
        c.handle_timeout(now + ms(4999));
        assert!(drain(&mut c).is_empty());
        c.handle_timeout(now + ms(5000));
        assert!(matches!(drain(&mut c)[0], Output::Transmit { xid: PROBE_XID, msg: Message::EchoRequest(_) }));
        assert_eq!(c.poll_timeout(), Some(now + ms(10000)));
        c.handle_timeout(now + ms(10000));
        assert!(matches!(drain(&mut c)[0], Output::Transmit { xid: PROBE_XID, .. }), "first miss: probe again");
        assert!(!c.is_closed());
        c.handle_timeout(now + ms(15000));
        assert!(matches!(drain(&mut c).last(), Some(Output::Close(OfError::Disconnected(_)))));
        assert!(c.is_closed());
    }

    #[test]
    fn echo_answer_resets_misses() {
        let now = t0();
        let mut c = Core::<u32>::new(timing(), now);
        c.handle_timeout(now + ms(5000));
        c.handle_timeout(now + ms(10000));
        c.handle_message(PROBE_XID, Message::EchoReply(b"podflow".to_vec()), now + ms(10500));
        assert!(drain(&mut c).iter().all(|o| matches!(o, Output::Transmit { .. })));
        c.handle_timeout(now + ms(15000));
        assert!(!c.is_closed());
        assert_eq!(c.poll_timeout(), Some(now + ms(15500)));
    }

    #[test]
    fn bundle_errors_route_to_the_index_and_async_errors_to_the_txn() {
        let now = t0();
        let mut c = Core::new(timing(), now);
        // OPEN with xid 100 already answered; ADDs use 101..=105; barrier 106.
        let txn = TxnId(1);
        c.open_txn(txn, 100, 101, 5);
        c.register(106, Request { txn: Some(txn), ..Request::new("BARRIER_REQUEST") }, 1, now);
        let bad = ErrorMsg::new(4, 9, vec![]);
        c.handle_message(103, Message::Error(bad.clone()), now);
        c.handle_message(106, Message::BarrierReply, now);
        match drain(&mut c).remove(0) {
            Output::Complete { waiter: 1, result: Ok(_), txn: Some(r), .. } => {
                assert_eq!(r.add_errors, vec![MessageError { index: 2, error: bad }]);
            }
            other => panic!("{other:?}"),
        }
        let timeout = ErrorMsg::new(17, 14, vec![]);
        c.handle_message(100, Message::Error(timeout.clone()), now);
        assert!(drain(&mut c).is_empty(), "routed to the transaction, not published");
        assert_eq!(c.close_txn(txn).async_error, Some(timeout.clone()));
        // After the transaction is closed, the same xid is an ordinary event.
        c.handle_message(100, Message::Error(timeout), now);
        assert!(matches!(drain(&mut c)[0], Output::Event { xid: 100, .. }));
    }

    #[test]
    fn txn_ranges_wrap_around() {
        let now = t0();
        let mut c = Core::<u32>::new(timing(), now);
        let txn = TxnId(1);
        c.open_txn(txn, u32::MAX - 2, u32::MAX - 1, 4);
        c.handle_message(1, Message::Error(ErrorMsg::new(1, 1, vec![])), now);
        assert_eq!(c.close_txn(txn).add_errors[0].index, 3, "MAX-1, MAX, 0, 1");
    }
}
