//! The OpenFlow session against a scripted fake switch: malformed frames,
//! errors inside bundles, stalls, stray replies, lost commit replies and
//! multipart replies in parts.
mod common;

use common::fake_switch::{FakeSwitch, DPID};
use podflow::openflow::core::Timing;
use podflow::openflow::{BundleError, LinkState, OfError, RetryPolicy, Session, SessionConfig, Supervisor, SupervisorConfig};
use podflow::proto::error::DecodeError;
use podflow::proto::openflow::bundle::{BundleControl, BundleCtrlType};
use podflow::proto::openflow::error::ErrorMsg;
use podflow::proto::openflow::flow::{FlowDesc, FlowMod, FlowStatsRequest};
use podflow::proto::openflow::message::Message;
use podflow::proto::openflow::multipart::{MultipartReply, MultipartReplyBody, MORE};
use podflow::proto::openflow::switch::Hello;
use std::time::{Duration, Instant};

/// Requests time out after 5 s: long enough that a loaded machine does not
/// turn a scripted reply into a timeout (the timeout test sets its own).
fn config() -> SessionConfig {
    SessionConfig {
        timing: Timing { request_timeout: Duration::from_secs(5), echo_interval: Duration::from_secs(30), echo_misses: 2 },
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

async fn pair(cfg: SessionConfig) -> (FakeSwitch, Session, common::fake_switch::Peer) {
    let sw = FakeSwitch::new();
    let (s, p) = tokio::join!(Session::connect(&sw.addr, cfg), sw.accept());
    (sw, s.expect("handshake"), p)
}

fn flow(i: u16) -> Message {
    Message::FlowMod(FlowMod { priority: i, ..Default::default() })
}

#[tokio::test]
async fn handshake_gives_the_datapath_id() {
    let (_sw, s, _p) = pair(config()).await;
    assert_eq!(s.datapath_id(), DPID);
    assert_eq!(s.features().n_tables, 254);
}

#[tokio::test]
async fn a_switch_without_openflow15_gets_the_exact_fix() {
    let sw = FakeSwitch::new();
    let hello13 = Hello { version_bitmap: Some(vec![(1 << 1) | (1 << 4)]), other: vec![] };
    let (r, _) = tokio::join!(Session::connect(&sw.addr, config()), async {
        let mut p = sw.accept_raw().await;
        let _ = p.recv().await;
        p.send(1, &Message::Hello(hello13)).await;
        p
    });
    let e = r.unwrap_err();
    assert!(matches!(e, OfError::Version { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("ovs-vsctl set bridge br0 protocols=OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15"), "{text}");
    assert!(text.contains("it offers OpenFlow10,OpenFlow13"), "{text}");
}

async fn short_length(len: u16) {
    let (_sw, s, mut p) = pair(config()).await;
    let s2 = s.clone();
    let barrier = tokio::spawn(async move { s2.barrier().await });
    let (xid, _) = p.recv().await;
    let mut raw = vec![6u8, 21, 0, 0];
    raw[2..4].copy_from_slice(&len.to_be_bytes());
    raw.extend_from_slice(&xid.to_be_bytes());
    p.send_raw(&raw).await;
    let e = barrier.await.unwrap().unwrap_err();
    assert!(matches!(&e, OfError::Malformed(m) if matches!(m.decode, Some(DecodeError::BadLength { .. }))), "the decoder's error is kept: {e:?}");
    assert!(matches!(s.closed().await, OfError::Malformed(_)));
    assert!(matches!(s.barrier().await, Err(OfError::Malformed(_))), "later requests fail at once with the reason");
}

#[tokio::test]
async fn a_frame_of_length_0_closes_the_session_as_malformed() {
    short_length(0).await;
}

#[tokio::test]
async fn a_frame_of_length_7_closes_the_session_as_malformed() {
    short_length(7).await;
}

#[tokio::test]
async fn a_length_past_the_end_then_eof_fails_requests_with_disconnected() {
    let (_sw, s, mut p) = pair(config()).await;
    let s2 = s.clone();
    let barrier = tokio::spawn(async move { s2.barrier().await });
    let (xid, _) = p.recv().await;
    let mut raw = vec![6u8, 21, 0, 100];
    raw.extend_from_slice(&xid.to_be_bytes());
    raw.extend_from_slice(&[0; 10]);
    p.send_raw(&raw).await;
    drop(p);
    let e = barrier.await.unwrap().unwrap_err();
    assert!(matches!(&e, OfError::Disconnected(m) if m.contains("18 of 100 bytes")), "{e}");
}

#[tokio::test]
async fn garbage_after_a_valid_header_fails_that_request_only() {
    let (_sw, s, mut p) = pair(config()).await;
    let s2 = s.clone();
    let barrier = tokio::spawn(async move { s2.barrier().await });
    let (xid, _) = p.recv().await;
    // A BARRIER_REPLY must be empty; this one carries 4 bytes of garbage.
    let mut raw = vec![6u8, 21, 0, 12];
    raw.extend_from_slice(&xid.to_be_bytes());
    raw.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    p.send_raw(&raw).await;
    let e = barrier.await.unwrap().unwrap_err();
    assert!(matches!(&e, OfError::Malformed(m) if m.decode.is_some()), "the decoder's error is kept: {e:?}");
    // The stream is still in step: the session goes on.
    let s2 = s.clone();
    let barrier = tokio::spawn(async move { s2.barrier().await });
    let (xid, _) = p.recv().await;
    p.send(xid, &Message::BarrierReply).await;
    barrier.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_error_for_the_third_of_five_bundled_flows_discards_and_maps_to_index_2() {
    let (_sw, s, mut p) = pair(config()).await;
    let msgs: Vec<Message> = (0..5).map(flow).collect();
    let s2 = s.clone();
    let t = tokio::spawn(async move { s2.bundle(&msgs, 1).await });
    let (open_xid, m) = p.recv().await;
    let Message::BundleControl(open) = m else { panic!("{m:?}") };
    assert_eq!(open.ctrl_type, BundleCtrlType::OPEN_REQUEST);
    p.send(open_xid, &Message::BundleControl(BundleControl::new(open.bundle_id, BundleCtrlType::OPEN_REPLY, 1))).await;
    let mut adds = vec![];
    for i in 0..5u16 {
        let (xid, m) = p.recv().await;
        let Message::BundleAdd(a) = m else { panic!("{m:?}") };
        assert_eq!(a.bundle_id, open.bundle_id);
        let (inner_xid, inner) = Message::decode(&a.message).unwrap();
        assert_eq!(inner_xid, xid, "inner and outer xid must match");
        assert_eq!(inner, flow(i));
        adds.push((xid, a));
    }
    let (bxid, m) = p.recv().await;
    assert_eq!(m, Message::BarrierRequest);
    // Like Open vSwitch: the error carries the ADD's xid and quotes it.
    let quoted = Message::BundleAdd(adds[2].1.clone()).encode(adds[2].0).unwrap();
    let err = ErrorMsg::new(4, 9, quoted[..64.min(quoted.len())].to_vec());
    p.send(adds[2].0, &Message::Error(err.clone())).await;
    p.send(bxid, &Message::BarrierReply).await;
    let (dxid, m) = p.recv().await;
    let Message::BundleControl(d) = m else { panic!("{m:?}") };
    assert_eq!(d.ctrl_type, BundleCtrlType::DISCARD_REQUEST, "DISCARD, never COMMIT");
    assert_eq!(d.bundle_id, open.bundle_id);
    p.send(dxid, &Message::BundleControl(BundleControl::new(d.bundle_id, BundleCtrlType::DISCARD_REPLY, 1))).await;
    match t.await.unwrap() {
        Err(BundleError::Rejected { errors }) => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].index, 2);
            assert_eq!(errors[0].error, err);
        }
        other => panic!("{other:?}"),
    }
    // Bundle ids are never reused.
    let s2 = s.clone();
    let t = tokio::spawn(async move { s2.bundle(&[flow(1)], 1).await });
    let (_, m) = p.recv().await;
    let Message::BundleControl(o2) = m else { panic!() };
    assert_ne!(o2.bundle_id, open.bundle_id);
    drop(p);
    assert!(t.await.unwrap().is_err());
}

#[tokio::test]
async fn a_successful_bundle_returns_only_after_the_commit_reply() {
    let (_sw, s, mut p) = pair(config()).await;
    let s2 = s.clone();
    let t = tokio::spawn(async move { s2.bundle(&[flow(1), flow(2)], 3).await });
    let (x, m) = p.recv().await;
    let Message::BundleControl(o) = m else { panic!() };
    assert_eq!(o.flags, 3);
    p.send(x, &Message::BundleControl(BundleControl::new(o.bundle_id, BundleCtrlType::OPEN_REPLY, 3))).await;
    let (bx, _) = p.recv_until(|m| *m == Message::BarrierRequest).await;
    p.send(bx, &Message::BarrierReply).await;
    let (cx, m) = p.recv().await;
    assert!(matches!(&m, Message::BundleControl(c) if c.ctrl_type == BundleCtrlType::COMMIT_REQUEST), "{m:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!t.is_finished(), "must wait for the COMMIT reply");
    p.send(cx, &Message::BundleControl(BundleControl::new(o.bundle_id, BundleCtrlType::COMMIT_REPLY, 3))).await;
    t.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_cut_between_commit_and_its_reply_is_outcome_unknown() {
    let (_sw, s, mut p) = pair(config()).await;
    let s2 = s.clone();
    let t = tokio::spawn(async move { s2.bundle(&[flow(1)], 1).await });
    let (x, m) = p.recv().await;
    let Message::BundleControl(o) = m else { panic!() };
    p.send(x, &Message::BundleControl(BundleControl::new(o.bundle_id, BundleCtrlType::OPEN_REPLY, 1))).await;
    let (bx, _) = p.recv_until(|m| *m == Message::BarrierRequest).await;
    p.send(bx, &Message::BarrierReply).await;
    let _ = p.recv_until(|m| matches!(m, Message::BundleControl(c) if c.ctrl_type == BundleCtrlType::COMMIT_REQUEST)).await;
    drop(p);
    let e = t.await.unwrap().unwrap_err();
    assert!(e.outcome_unknown(), "{e}");
}

#[tokio::test]
async fn an_asynchronous_bundle_timeout_fails_the_transaction() {
    let (_sw, s, mut p) = pair(config()).await;
    let s2 = s.clone();
    let t = tokio::spawn(async move { s2.bundle(&[flow(1), flow(2)], 1).await });
    let (ox, m) = p.recv().await;
    let Message::BundleControl(o) = m else { panic!() };
    p.send(ox, &Message::BundleControl(BundleControl::new(o.bundle_id, BundleCtrlType::OPEN_REPLY, 1))).await;
    let (bx, _) = p.recv_until(|m| *m == Message::BarrierRequest).await;
    // OVS quotes the OPEN request when a bundle expires.
    let open_bytes = Message::BundleControl(o.clone()).encode(ox).unwrap();
    p.send(ox, &Message::Error(ErrorMsg::new(17, 14, open_bytes.to_vec()))).await;
    p.send(bx, &Message::BarrierReply).await;
    let (dx, m) = p.recv().await;
    assert!(matches!(&m, Message::BundleControl(c) if c.ctrl_type == BundleCtrlType::DISCARD_REQUEST), "{m:?}");
    p.send(dx, &Message::Error(ErrorMsg::new(17, 2, vec![]))).await;
    match t.await.unwrap() {
        Err(BundleError::Expired { error }) => assert!(error.is(17, 14)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_switch_that_stops_answering_gives_a_deadline_error_not_a_hang() {
    let mut cfg = config();
    cfg.timing.request_timeout = Duration::from_millis(500);
    let (_sw, s, mut p) = pair(cfg).await;
    let t0 = Instant::now();
    let s2 = s.clone();
    let r = tokio::spawn(async move { s2.barrier().await });
    let _ = p.recv().await; // read, never answered
    let e = tokio::time::timeout(Duration::from_secs(3), r).await.expect("hung").unwrap().unwrap_err();
    assert!(matches!(e, OfError::Timeout { what: "BARRIER_REQUEST", .. }), "{e}");
    // Not before its deadline; the 3 s bound above catches a hang.
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(450), "{took:?}");
    // A bundle against a silent switch fails too, within its deadline.
    let e = tokio::time::timeout(Duration::from_secs(3), s.bundle(&[flow(1)], 1)).await.expect("hung").unwrap_err();
    assert!(matches!(e, BundleError::Session(OfError::Timeout { .. })), "{e}");
}

#[tokio::test]
async fn echo_probes_drop_a_silent_switch() {
    let mut cfg = config();
    cfg.timing.echo_interval = Duration::from_millis(100);
    let (_sw, s, mut p) = pair(cfg).await;
    let (x, m) = p.recv().await;
    assert!(matches!(m, Message::EchoRequest(_)));
    assert_eq!(x, 0);
    let e = tokio::time::timeout(Duration::from_secs(5), s.closed()).await.expect("not dropped");
    // The probes, not anything else, dropped it (the 5 s bound above
    // catches probes that never give up).
    assert!(matches!(&e, OfError::Disconnected(m) if m.contains("echo")), "{e}");
}

#[tokio::test]
async fn switch_echo_requests_are_answered_and_probes_keep_a_live_switch() {
    let mut cfg = config();
    cfg.timing.echo_interval = Duration::from_millis(100);
    let (_sw, s, mut p) = pair(cfg).await;
    p.send(77, &Message::EchoRequest(vec![9, 9])).await;
    let (mut probes, mut answered) = (0, false);
    let t0 = Instant::now();
    while probes < 3 || !answered {
        assert!(t0.elapsed() < Duration::from_secs(10), "{probes} probes, answered: {answered}");
        let (x, m) = p.recv().await;
        match m {
            Message::EchoReply(d) => {
                assert_eq!((x, d), (77, vec![9, 9]));
                answered = true;
            }
            Message::EchoRequest(d) => {
                probes += 1;
                p.send(x, &Message::EchoReply(d)).await;
            }
            m => panic!("{m:?}"),
        }
    }
    assert!(!s.is_closed());
}

#[tokio::test]
async fn a_reply_for_an_unknown_xid_is_ignored() {
    let (_sw, s, mut p) = pair(config()).await;
    p.send(999_999, &Message::BarrierReply).await;
    let s2 = s.clone();
    let r = tokio::spawn(async move { s2.barrier().await });
    let (x, _) = p.recv().await;
    p.send(x.wrapping_add(1000), &Message::BarrierReply).await;
    p.send(x, &Message::BarrierReply).await;
    r.await.unwrap().unwrap();
    assert!(!s.is_closed());
}

#[tokio::test]
async fn a_multipart_reply_in_several_parts_is_collected() {
    let (_sw, s, mut p) = pair(config()).await;
    let s2 = s.clone();
    let r = tokio::spawn(async move { s2.dump_flows(FlowStatsRequest::default()).await });
    let (x, m) = p.recv().await;
    assert!(matches!(m, Message::MultipartRequest(_)));
    for (i, flags) in [MORE, MORE, 0].into_iter().enumerate() {
        let flows = (0..3).map(|j| FlowDesc { priority: (i * 10 + j) as u16, ..Default::default() }).collect();
        p.send(x, &Message::MultipartReply(MultipartReply { flags, body: MultipartReplyBody::FlowDesc(flows) })).await;
        if i == 0 {
            // An event in between is delivered, not mixed into the dump.
            p.send(5, &Message::Error(ErrorMsg::new(1, 1, vec![]))).await;
        }
    }
    let flows = r.await.unwrap().unwrap();
    assert_eq!(flows.iter().map(|f| f.priority).collect::<Vec<_>>(), vec![0, 1, 2, 10, 11, 12, 20, 21, 22]);
}

#[tokio::test]
async fn unsolicited_messages_reach_subscribers() {
    let (_sw, s, mut p) = pair(config()).await;
    let mut ev = s.subscribe();
    let err = ErrorMsg::new(5, 1, vec![]);
    p.send(1234, &Message::Error(err.clone())).await;
    let e = tokio::time::timeout(Duration::from_secs(2), ev.recv()).await.unwrap().unwrap();
    assert_eq!(e.xid, 1234);
    assert_eq!(e.message, Message::Error(err));
}

#[tokio::test]
async fn a_disconnect_fails_every_in_flight_request_at_once() {
    let (_sw, s, mut p) = pair(config()).await;
    let mut tasks = vec![];
    for _ in 0..10 {
        let s2 = s.clone();
        tasks.push(tokio::spawn(async move { s2.barrier().await }));
    }
    for _ in 0..10 {
        let _ = p.recv().await;
    }
    drop(p);
    // Disconnected, not Timeout: the disconnect failed them, not their
    // 5 s deadline.
    for t in tasks {
        let e = t.await.unwrap().unwrap_err();
        assert!(matches!(e, OfError::Disconnected(_)), "{e}");
    }
}

#[tokio::test]
async fn tcp_addresses_work_too() {
    use podflow::proto::openflow::message::frame_len;
    use podflow::proto::openflow::switch::FeaturesReply;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: podflow::openflow::Addr = format!("tcp:127.0.0.1:{}", l.local_addr().unwrap().port()).parse().unwrap();
    let fake = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut buf = bytes::BytesMut::new();
        async fn next(s: &mut tokio::net::TcpStream, buf: &mut bytes::BytesMut) -> (u32, Message) {
            loop {
                if let Some(n) = frame_len(buf).unwrap() {
                    return Message::decode(&buf.split_to(n)).unwrap();
                }
                assert!(s.read_buf(buf).await.unwrap() > 0);
            }
        }
        let _ = next(&mut s, &mut buf).await;
        s.write_all(&Message::Hello(Hello::of15()).encode(1).unwrap()).await.unwrap();
        let (x, _) = next(&mut s, &mut buf).await;
        let f = FeaturesReply { datapath_id: 42, ..Default::default() };
        s.write_all(&Message::FeaturesReply(f).encode(x).unwrap()).await.unwrap();
        let (x, m) = next(&mut s, &mut buf).await;
        assert_eq!(m, Message::BarrierRequest);
        s.write_all(&Message::BarrierReply.encode(x).unwrap()).await.unwrap();
        s
    });
    let s = Session::connect(&addr, config()).await.unwrap();
    assert_eq!(s.datapath_id(), 42);
    s.barrier().await.unwrap();
    drop(fake.await.unwrap());
    assert!(matches!(tokio::time::timeout(Duration::from_secs(2), s.closed()).await.unwrap(), OfError::Disconnected(_)));
}

fn supervised(retry: RetryPolicy) -> SupervisorConfig {
    SupervisorConfig { session: config(), retry, marker: None }
}

/// Waits for the supervisor to publish a disconnect of `generation`; returns `retry_in`.
async fn disconnected(sup: &Supervisor, generation: u64) -> Duration {
    let mut rx = sup.watch();
    let s = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| matches!(s, LinkState::Disconnected { generation: g, .. } if *g == generation)))
        .await
        .expect("the supervisor never saw the disconnect")
        .unwrap()
        .clone();
    match s {
        LinkState::Disconnected { retry_in, .. } => retry_in,
        _ => unreachable!(),
    }
}

/// A vswitchd restart: the management socket goes away, comes back bound
/// but not listening (refused), then listens. After a connection its owner
/// marked healthy, the supervisor polls every 10 ms while nobody listens,
/// so it is back although its backoff is an hour (the old supervisor waited
/// out a backoff grown while the switch was down, and compared the
/// socket's (dev, inode), which a new socket may reuse).
#[tokio::test]
async fn a_restarted_switch_is_back_by_polling_whatever_the_backoff() {
    let mut sw = FakeSwitch::new();
    let hour = Duration::from_secs(3600);
    let sup = Supervisor::spawn(sw.addr.clone(), supervised(RetryPolicy { backoff_min: hour, backoff_max: hour, healthy_after: None, ..RetryPolicy::default() }));
    let p = sw.accept().await;
    assert_eq!(sup.connected_after(0).await.generation, 1);
    sup.mark_healthy(1);
    let bound = sw.restart_bound_only();
    drop(p);
    disconnected(&sup, 1).await;
    // The first refused attempt replaces the disconnect's error.
    let mut rx = sup.watch();
    let refused = |s: &LinkState| matches!(s, LinkState::Disconnected { error: OfError::Connect { .. }, .. });
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(refused)).await.expect("no refused attempt within 5 s").unwrap();
    match sup.state() {
        LinkState::Disconnected { error: OfError::Connect { reason, .. }, retry_in, .. } => {
            assert!(reason.contains("Connection refused"), "{reason}");
            assert_eq!(retry_in, Duration::from_millis(10), "nobody listening: polled, not backed off");
        }
        s => panic!("{s:?}"),
    }
    sw.listen(bound);
    let _p = sw.accept().await;
    assert_eq!(sup.connected_after(1).await.generation, 2);
}

/// A switch that accepts and then drops must not be reconnected in a tight
/// loop: until a connection proves itself, each drop grows the backoff
/// (the old supervisor reset it on every handshake and spun).
#[tokio::test]
async fn a_switch_that_accepts_then_drops_is_backed_off_until_marked_healthy() {
    let sw = FakeSwitch::new();
    let retry = RetryPolicy { backoff_min: Duration::from_millis(40), backoff_max: Duration::from_secs(60), healthy_after: None, ..RetryPolicy::default() };
    let sup = Supervisor::spawn(sw.addr.clone(), supervised(retry));
    let mut delays = Vec::new();
    for generation in 1..=5 {
        let p = sw.accept().await;
        assert_eq!(sup.connected_after(generation - 1).await.generation, generation);
        drop(p);
        delays.push(disconnected(&sup, generation).await);
    }
    // Equal jitter: the n-th delay lies in [40·2ⁿ/2, 40·2ⁿ] ms.
    for (n, d) in delays.iter().enumerate() {
        let base = Duration::from_millis(40 << n);
        assert!(*d >= base / 2 && *d <= base, "delay {n} = {d:?}, all: {delays:?}");
    }
    let p = sw.accept().await;
    assert_eq!(sup.connected_after(5).await.generation, 6);
    sup.mark_healthy(6);
    drop(p);
    assert_eq!(disconnected(&sup, 6).await, Duration::ZERO, "proven: reconnect at once, backoff starts over");
    let p = sw.accept().await;
    assert_eq!(sup.connected_after(6).await.generation, 7);
    drop(p);
    assert!(disconnected(&sup, 7).await <= Duration::from_millis(40));
}

/// A switch that stops reading: the write queue is bounded (senders are
/// refused once it is full, memory does not grow), and the write that
/// does not complete within its deadline closes the session with a typed
/// timeout.
#[tokio::test]
async fn a_switch_that_stops_reading_gets_a_bounded_queue_and_a_write_timeout() {
    let max_queued = 1 << 20;
    let cfg = SessionConfig { write_timeout: Duration::from_millis(300), max_queued, ..config() };
    let (_sw, s, _p) = pair(cfg).await;
    let msg = Message::EchoRequest(vec![0x5a; 4096]);
    let mut queued = 0usize;
    let refused = loop {
        match s.send(&msg) {
            Ok(_) => queued += 4096 + 8,
            Err(e) => break e,
        }
        assert!(queued < 64 << 20, "64 MiB queued for a switch that reads nothing: the queue is not bounded");
    };
    assert!(matches!(refused, OfError::Timeout { what, .. } if what.contains("write queue")), "{refused}");
    // What was accepted: the queue plus what the kernel's socket buffers hold.
    assert!(queued <= max_queued + (8 << 20), "{queued} bytes accepted");
    let e = tokio::time::timeout(Duration::from_secs(10), s.closed()).await.expect("the stuck write never timed out");
    assert!(matches!(e, OfError::Timeout { what, .. } if what.contains("stopped reading")), "{e}");
    assert!(s.barrier().await.is_err(), "later requests fail at once");
}

/// `podflow dump-flows` against a switch that answers HELLO with a header
/// shorter than 8 bytes: the command fails at once with the decoder's
/// reason, not after its 30 s timeout with something else.
#[tokio::test]
async fn dump_flows_reports_a_malformed_switch_at_once() {
    let sw = FakeSwitch::new();
    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_podflow"))
        .args(["dump-flows", &sw.addr.to_string(), "--timeout", "30"])
        .output();
    let switch = async {
        let mut p = sw.accept_raw().await;
        p.recv().await;
        p.send_raw(&[6, 0, 0, 4, 0, 0, 0, 1]).await;
        // Stay connected (until podflow closes): only the bytes can explain the failure.
        let _ = p.try_recv(Duration::from_secs(40)).await;
        std::future::pending::<()>().await;
    };
    let out = tokio::select! {
        out = cli => out.unwrap(),
        _ = switch => unreachable!(),
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("malformed") && err.contains("shorter than its 8-byte header"), "{err}");
}

/// On paused time: a minute of polling a switch that is down (6,000
/// attempts, 10 ms apart) publishes nothing after the first failure, so
/// the agent's event loop is not woken every 10 ms.
#[tokio::test(start_paused = true)]
async fn polling_a_down_switch_wakes_no_watcher() {
    let addr: podflow::openflow::Addr = format!("unix:{}/podflow-nobody-{}/br0.mgmt", std::env::temp_dir().display(), std::process::id()).parse().unwrap();
    let sup = Supervisor::spawn(addr, supervised(RetryPolicy::default()));
    let mut rx = sup.watch();
    rx.changed().await.unwrap();
    assert!(matches!(&*rx.borrow_and_update(), LinkState::Disconnected { retry_in, .. } if *retry_in == Duration::from_millis(10)));
    let woke = tokio::time::timeout(Duration::from_secs(60), rx.changed()).await;
    assert!(woke.is_err(), "woken while polling: {:?}", *rx.borrow());
}

/// A FLOW_DESC reply (xid `x`, `flags`) whose one entry claims 4 bytes:
/// framed correctly, not decodable.
fn bad_flow_desc_reply(x: u32, flags: u16) -> Vec<u8> {
    let mut raw = vec![6u8, 19, 0, 24];
    raw.extend_from_slice(&x.to_be_bytes());
    raw.extend_from_slice(&[0, 1]);
    raw.extend_from_slice(&flags.to_be_bytes());
    raw.extend_from_slice(&[0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0]);
    raw
}

/// A first reply that does not decode, with more announced, from a switch
/// that then sends nothing: the dump fails at once. The printing threads
/// must not wait for the rest: another one is waiting for the next reply
/// when the first finds the bad one (without ending the stream there, the
/// command sat until the 10 s request timeout).
#[tokio::test]
async fn dump_flows_fails_at_once_on_a_bad_reply_from_a_switch_that_then_stalls() {
    let sw = FakeSwitch::new();
    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_podflow")).args(["dump-flows", &sw.addr.to_string()]).output();
    let switch = async {
        let mut p = sw.accept().await;
        let (x, _) = p.recv_until(|m| matches!(m, Message::MultipartRequest(_))).await;
        // Once the printing threads wait (one for the reply, one for the
        // stream): a FLOW_DESC reply with REPLY_MORE whose one entry claims
        // 4 bytes, so that the second waits for a reply that never comes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        p.send_raw(&bad_flow_desc_reply(x, MORE)).await;
        let _ = p.try_recv(Duration::from_secs(20)).await;
        std::future::pending::<()>().await;
    };
    let out = tokio::select! {
        out = tokio::time::timeout(Duration::from_secs(6), cli) => out.expect("dump-flows still running 6 s after a bad reply").unwrap(),
        _ = switch => unreachable!(),
    };
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success());
    assert!(err.contains("stopped after 0 flows in 0 replies") && err.contains("malformed"), "{err}");
    assert!(stdout.is_empty(), "{stdout}");
}

/// A streamed dump whose consumer takes nothing holds the switch back
/// (bounded memory, the session stops reading), and that pause counts
/// toward no timeout: once the consumer reads, every part arrives in order,
/// although the pause outlasted the request timeout (500 ms).
#[tokio::test]
async fn a_streamed_dump_nobody_reads_holds_the_switch_back_without_timing_out() {
    use podflow::proto::openflow::multipart::{MultipartRequest, MultipartRequestBody};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const PARTS: usize = 64;
    const PER_PART: usize = 1000;
    // A short deadline that the pause below outlasts (with the 5 s of
    // `config()` the test would pass without the pause being discounted).
    let mut cfg = config();
    cfg.timing.request_timeout = Duration::from_millis(500);
    let (_sw, s, mut p) = pair(cfg).await;
    let mut stream = s.multipart_stream(MultipartRequest::new(MultipartRequestBody::FlowDesc(FlowStatsRequest::default()))).await.unwrap();
    let (x, _) = p.recv_until(|m| matches!(m, Message::MultipartRequest(_))).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let part_len = Message::MultipartReply(MultipartReply {
        flags: MORE,
        body: MultipartReplyBody::FlowDesc(vec![FlowDesc::default(); PER_PART]),
    })
    .encode(x)
    .unwrap()
    .len();
    let switch = {
        let sent = sent.clone();
        tokio::spawn(async move {
            for i in 0..PARTS {
                let flows = (0..PER_PART).map(|j| FlowDesc { priority: (i * PER_PART + j) as u16, ..Default::default() }).collect();
                let flags = if i + 1 < PARTS { MORE } else { 0 };
                p.send(x, &Message::MultipartReply(MultipartReply { flags, body: MultipartReplyBody::FlowDesc(flows) })).await;
                sent.fetch_add(1, Ordering::SeqCst);
            }
            p
        })
    };
    // Wait until the switch can write no more (no progress for 500 ms).
    let mut last = usize::MAX;
    while sent.load(Ordering::SeqCst) != last {
        last = sent.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The queue (16 parts), one read's worth and the kernel's socket
    // buffers: far from the 64 parts (~3.6 MB) an unbounded queue takes in.
    assert!(last < PARTS / 2, "the session took {last} parts of {part_len} bytes that nobody read: the stream is not bounded");
    // Longer than the request timeout, still without reading.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut priorities = Vec::new();
    while let Some(part) = stream.next().await {
        let part = part.expect("no timeout while the consumer was full").decode().expect("a valid part");
        let MultipartReplyBody::FlowDesc(flows) = part.body else { panic!("not a flow dump") };
        priorities.extend(flows.iter().map(|f| f.priority as usize));
    }
    assert_eq!(priorities, (0..PARTS * PER_PART).map(|i| i % 65536).collect::<Vec<_>>());
    let _peer = switch.await.unwrap();
}

/// The session hands streamed parts over undecoded and the dump's
/// printing threads decode them: a reply that does not decode still ends
/// the dump as malformed input, after the replies before it were printed
/// in order, and with the counts of what was printed.
#[tokio::test]
async fn dump_flows_prints_the_good_replies_then_names_the_one_that_does_not_decode() {
    let sw = FakeSwitch::new();
    let cli = tokio::process::Command::new(env!("CARGO_BIN_EXE_podflow")).args(["dump-flows", &sw.addr.to_string()]).output();
    let switch = async {
        let mut p = sw.accept().await;
        let (x, _) = p.recv_until(|m| matches!(m, Message::MultipartRequest(_))).await;
        for i in 0..3u16 {
            let flows = (0..100).map(|j| FlowDesc { priority: i * 100 + j, ..Default::default() }).collect();
            p.send(x, &Message::MultipartReply(MultipartReply { flags: MORE, body: MultipartReplyBody::FlowDesc(flows) })).await;
        }
        p.send_raw(&bad_flow_desc_reply(x, 0)).await;
        let _ = p.try_recv(Duration::from_secs(20)).await;
        std::future::pending::<()>().await;
    };
    let out = tokio::select! {
        out = cli => out.unwrap(),
        _ = switch => unreachable!(),
    };
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success());
    assert!(err.contains("stopped after 300 flows in 3 replies") && err.contains("malformed"), "{err}");
    let priorities: Vec<u16> =
        stdout.lines().filter_map(|l| l.split("priority=").nth(1)).map(|p| p.split([',', ' ']).next().unwrap().parse().unwrap()).collect();
    assert_eq!(priorities, (0..300).collect::<Vec<_>>(), "{stdout}");
}
