//! The OVSDB client against a scripted fake ovsdb-server on a unix socket:
//! garbage, oversized frames, monitor fallbacks, echo, inactivity probe.
//! Needs no root and no Open vSwitch.

use std::path::PathBuf;
use std::time::Duration;

use podflow::ovsdb::proto::monitor::{column, MonitorMethod};
use podflow::ovsdb::proto::Framer;
use podflow::ovsdb::{Address, Client, Options, RetryPolicy};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::time::{timeout, Instant};

const U1: &str = "11111111-1111-1111-1111-111111111111";
const U2: &str = "22222222-2222-2222-2222-222222222222";

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn listener(tag: &str) -> (Dir, UnixListener, Address) {
    let d = std::env::temp_dir().join(format!("podflow-fake-ovsdb-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let sock = d.join("db.sock");
    let l = UnixListener::bind(&sock).unwrap();
    (Dir(d), l, Address::Unix(sock))
}

fn opts() -> Options {
    Options { retry: RetryPolicy { backoff_min: Duration::from_millis(50), backoff_max: Duration::from_millis(200), ..RetryPolicy::default() }, ..Options::default() }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

struct Peer {
    s: Box<dyn Io>,
    f: Framer,
}

impl Peer {
    async fn accept(l: &UnixListener) -> Peer {
        let (s, _) = timeout(Duration::from_secs(5), l.accept()).await.expect("client did not connect").unwrap();
        Peer { s: Box::new(s), f: Framer::default() }
    }

    async fn accept_tcp(l: &tokio::net::TcpListener) -> Peer {
        let (s, _) = timeout(Duration::from_secs(5), l.accept()).await.expect("client did not connect").unwrap();
        Peer { s: Box::new(s), f: Framer::default() }
    }

    /// Next message from the client, or None when it closed.
    async fn recv(&mut self) -> Option<Value> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.f.next_frame().unwrap() {
                return Some(serde_json::from_slice(&m).unwrap());
            }
            let n = timeout(Duration::from_secs(5), self.s.read(&mut buf)).await.expect("client silent").ok()?;
            if n == 0 {
                return None;
            }
            self.f.push(&buf[..n]);
        }
    }

    async fn send_raw(&mut self, b: &[u8]) {
        let _ = self.s.write_all(b).await;
    }

    async fn send(&mut self, v: Value) {
        self.send_raw(v.to_string().as_bytes()).await;
    }

    async fn expect(&mut self, method: &str) -> Value {
        let m = self.recv().await.expect("client closed");
        assert_eq!(m["method"], json!(method), "{m}");
        m
    }

    /// Answers get_schema and the monitor; `refuse` monitor methods get
    /// "unknown method". Returns the method that was accepted.
    async fn handshake(&mut self, refuse: &[&str], rows: Value) -> String {
        let m = self.expect("get_schema").await;
        self.send(json!({"id": m["id"], "result": schema(), "error": null})).await;
        loop {
            let m = self.recv().await.expect("client closed");
            let method = m["method"].as_str().unwrap().to_string();
            if refuse.contains(&method.as_str()) {
                self.send(json!({"id": m["id"], "result": null, "error": "unknown method"})).await;
                continue;
            }
            let result = match method.as_str() {
                "monitor_cond_since" => json!([false, U2, rows]),
                "monitor_cond" => rows,
                "monitor" => json!({"Bridge": {U1: {"new": {"name": "br0"}}}}),
                other => panic!("unexpected {other}"),
            };
            self.send(json!({"id": m["id"], "result": result, "error": null})).await;
            return method;
        }
    }
}

fn schema() -> Value {
    json!({"name": "Open_vSwitch", "tables": {"Bridge": {"columns": {
        "name": {"type": "string"},
        "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}}}}})
}

fn initial() -> Value {
    json!({"Bridge": {U1: {"initial": {"name": "br0"}}}})
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

#[tokio::test]
async fn garbage_from_peer_is_a_clear_error_then_reconnect_and_resync() {
    let (_d, l, addr) = listener("garbage");
    let c = Client::start(addr, opts());
    let mut p = Peer::accept(&l).await;
    assert_eq!(p.handshake(&[], initial()).await, "monitor_cond_since");
    assert_eq!(c.wait_synced(deadline()).await.unwrap(), 1);
    p.send_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    // The client drops the connection, says why, reconnects and resyncs.
    let mut p2 = Peer::accept(&l).await;
    let err = c.read(|s| s.last_error.clone()).unwrap().to_string();
    assert!(err.contains("not JSON-RPC") && err.contains("0x48"), "{err}");
    // The second server has other rows: the replica is replaced as a whole.
    p2.handshake(&[], json!({"Bridge": {U2: {"initial": {"name": "br1"}}}})).await;
    c.wait_until(deadline(), |s| (s.generation == 2).then_some(())).await.unwrap();
    c.read(|s| {
        assert!(s.replica.find("Bridge", "name", "br0").is_none());
        assert!(s.replica.find("Bridge", "name", "br1").is_some());
    });
    drop(p);
}

#[tokio::test]
async fn valid_json_that_is_not_jsonrpc_and_unknown_ids_end_the_session() {
    let (_d, l, addr) = listener("notrpc");
    let c = Client::start(addr, opts());
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_synced(deadline()).await.unwrap();
    p.send(json!({"id": 999, "result": [], "error": null})).await;
    let mut p2 = Peer::accept(&l).await;
    assert!(c.read(|s| s.last_error.clone()).unwrap().to_string().contains("unknown request id"));
    p2.handshake(&[], initial()).await;
    c.wait_until(deadline(), |s| (s.generation == 2).then_some(())).await.unwrap();
    p2.send(json!({"id": null, "method": "update2", "params": ["podflow", {"Bridge": {"bad-uuid": {"delete": null}}}]})).await;
    let _p3 = Peer::accept(&l).await;
    let err = c.read(|s| s.last_error.clone()).unwrap().to_string();
    assert!(err.contains("malformed table update"), "{err}");
}

#[tokio::test]
async fn frame_over_the_size_cap_is_refused() {
    let (_d, l, addr) = listener("cap");
    let c = Client::start(addr, Options { max_frame: 4096, ..opts() });
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_synced(deadline()).await.unwrap();
    let big = "x".repeat(10_000);
    p.send(json!({"id": null, "method": "update2", "params": ["podflow", {"Bridge": {U1: {"modify": {"name": big}}}}]})).await;
    let _p2 = Peer::accept(&l).await;
    let err = c.read(|s| s.last_error.clone()).unwrap().to_string();
    assert!(err.contains("exceeds the size cap of 4096 bytes"), "{err}");
    // The oversized update was not applied.
    assert!(c.read(|s| s.replica.find("Bridge", "name", "br0").is_some()));
}

#[tokio::test]
async fn one_shot_connect_reports_the_servers_protocol_error_at_once() {
    let (_d, l, addr) = listener("oneshot");
    let c = tokio::spawn(Client::connect(addr, opts(), Instant::now() + Duration::from_secs(30)));
    let mut p = Peer::accept(&l).await;
    p.expect("get_schema").await;
    p.send_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    // Gone for good: retrying could only end in a timeout.
    drop(l);
    let e = c.await.unwrap().err().expect("a server speaking HTTP is not an OVSDB server");
    assert!(matches!(e, podflow::ovsdb::Error::Malformed(_)), "the peer's error, not a timeout: {e}");
    assert!(e.to_string().contains("not JSON-RPC: unexpected byte 0x48 at stream offset 0"), "{e}");
}

/// An ovsdb-server restart: the socket goes away, comes back bound but not
/// listening for a while (connections refused), then listens. The client
/// polls every 10 ms while nobody listens, so it is back although its
/// backoff is an hour (the old client slept its 1 s → 8 s backoff here).
#[tokio::test]
async fn a_restarted_server_is_back_by_polling_whatever_the_backoff() {
    let (_d, l, addr) = listener("restart");
    let Address::Unix(path) = addr.clone() else { unreachable!() };
    let hour = Duration::from_secs(3600);
    let retry = RetryPolicy { backoff_min: hour, backoff_max: hour, ..RetryPolicy::default() };
    let c = Client::start(addr, Options { retry, ..opts() });
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_synced(deadline()).await.unwrap();
    // Listener first: a connection into the old backlog would fail before
    // its sync and, rightly, back off for the hour.
    drop(l);
    std::fs::remove_file(&path).unwrap();
    drop(p);
    c.wait_until(deadline(), |s| (!s.connected).then_some(())).await.unwrap();
    let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    s.bind(&socket2::SockAddr::unix(&path).unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(c.read(|s| s.last_error.clone()).unwrap().to_string().contains("Connection refused"), "polled while bound, not listening");
    s.listen(16).unwrap();
    s.set_nonblocking(true).unwrap();
    let l = UnixListener::from_std(std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(s))).unwrap();
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_until(deadline(), |s| (s.generation == 2).then_some(())).await.unwrap();
}

#[tokio::test]
async fn monitor_falls_back_to_monitor_cond_then_monitor() {
    let (_d, l, addr) = listener("fallback");
    let c = Client::start(addr, opts());
    let mut p = Peer::accept(&l).await;
    assert_eq!(p.handshake(&["monitor_cond_since"], initial()).await, "monitor_cond");
    c.wait_synced(deadline()).await.unwrap();
    assert_eq!(c.read(|s| s.method), Some(MonitorMethod::MonitorCond));
    // update2 with a map diff and a string full of escapes, split in two writes.
    let v = "q\"uote \\ {}[] ü€";
    let msg = json!({"id": null, "method": "update2", "params": ["podflow",
        {"Bridge": {U1: {"modify": {"external_ids": ["map", [["k", v]]]}}}}]})
    .to_string();
    let (a, b) = msg.as_bytes().split_at(msg.len() / 2);
    p.send_raw(a).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    p.send_raw(b).await;
    let got = c
        .wait_until(deadline(), |s| {
            let (_, r) = s.replica.find("Bridge", "name", "br0")?;
            column(r, "external_ids").string_map().get("k").cloned()
        })
        .await
        .unwrap();
    assert_eq!(got, v);
    drop(p);
    let mut p2 = Peer::accept(&l).await;
    assert_eq!(p2.handshake(&["monitor_cond", "monitor_cond_since"], initial()).await, "monitor");
    c.wait_until(deadline(), |s| (s.generation == 2).then_some(())).await.unwrap();
    assert_eq!(c.read(|s| s.method), Some(MonitorMethod::Monitor));
    p2.send(json!({"id": null, "method": "update", "params": ["podflow", {"Bridge": {U1: {"old": {"name": "br0"}}}}]})).await;
    c.wait_until(deadline(), |s| s.replica.find("Bridge", "name", "br0").is_none().then_some(())).await.unwrap();
}

#[tokio::test]
async fn server_echo_is_answered_and_silence_trips_our_probe() {
    let (_d, l, addr) = listener("echo");
    let c = Client::start(addr, Options { probe_interval: Duration::from_millis(300), ..opts() });
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_synced(deadline()).await.unwrap();
    p.send(json!({"id": "echo", "method": "echo", "params": ["ping"]})).await;
    let r = p.recv().await.unwrap();
    assert_eq!(r, json!({"id": "echo", "result": ["ping"], "error": null}));
    // Now stay silent: the client probes with an echo, then gives up.
    let t0 = Instant::now();
    let probe = p.expect("echo").await;
    assert!(probe["id"].is_u64());
    assert!(p.recv().await.is_none(), "client should close after an unanswered probe");
    let waited = t0.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "{waited:?}");
    assert!(c.read(|s| s.last_error.clone()).unwrap().to_string().contains("inactivity probe"));
    assert!(!c.read(|s| s.connected));
    let mut p2 = Peer::accept(&l).await;
    p2.handshake(&[], initial()).await;
    c.wait_until(deadline(), |s| (s.generation == 2).then_some(())).await.unwrap();
}

#[tokio::test]
async fn transact_reply_after_own_updates_and_lost_reply_is_outcome_unknown() {
    let (_d, l, addr) = listener("txn");
    let c = Client::start(addr, opts());
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_synced(deadline()).await.unwrap();
    let c2 = c.clone();
    let t = tokio::spawn(async move {
        let r = c2.transact(vec![podflow::ovsdb::proto::Operation::comment("x")], deadline()).await;
        (r, c2.read(|s| s.replica.find("Bridge", "name", "br9").is_some()))
    });
    let m = p.expect("transact").await;
    assert_eq!(m["params"], json!(["Open_vSwitch", {"op": "comment", "comment": "x"}]));
    // Update first, then the reply (as ovsdb-server does).
    p.send(json!({"id": null, "method": "update3", "params": ["podflow", U1, {"Bridge": {U2: {"insert": {"name": "br9"}}}}]})).await;
    p.send(json!({"id": m["id"], "result": [{}], "error": null})).await;
    let (r, seen) = t.await.unwrap();
    r.unwrap();
    assert!(seen, "the transaction's own update was not in the replica when it returned");
    assert_eq!(c.read(|s| s.replica.last_txn_id.clone()).as_deref(), Some(U1));
    // A reply that never comes: connection dropped.
    let c3 = c.clone();
    let t = tokio::spawn(async move { c3.transact(vec![podflow::ovsdb::proto::Operation::comment("y")], deadline()).await });
    p.expect("transact").await;
    drop(p);
    let e = t.await.unwrap().unwrap_err();
    assert!(matches!(e, podflow::ovsdb::Error::OutcomeUnknown(_)), "{e}");
    // On reconnect, monitor_cond_since asks for changes since the last txn.
    let mut p2 = Peer::accept(&l).await;
    let m = p2.expect("get_schema").await;
    p2.send(json!({"id": m["id"], "result": schema(), "error": null})).await;
    let m = p2.expect("monitor_cond_since").await;
    assert_eq!(m["params"][3], json!(U1));
}

#[tokio::test]
async fn tcp_address_works() {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: Address = format!("tcp:{}", l.local_addr().unwrap()).parse().unwrap();
    let c = Client::start(addr, opts());
    let mut p = Peer::accept_tcp(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_synced(deadline()).await.unwrap();
    assert!(c.read(|s| s.replica.find("Bridge", "name", "br0").is_some()));
}

#[tokio::test]
async fn clearing_flow_restore_wait_survives_a_lost_removal() {
    use podflow::ovsdb::vswitch;
    let (_d, l, addr) = listener("frwlost");
    let c = Client::start(addr, opts());
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_synced(deadline()).await.unwrap();
    let c2 = c.clone();
    let clear = tokio::spawn(async move { vswitch::clear_flow_restore_wait(&c2, Instant::now() + Duration::from_secs(10)).await });
    // The removal arrives, then the connection is cut before any reply.
    let m = p.expect("transact").await;
    assert_eq!(m["params"][1]["op"], json!("mutate"));
    assert_eq!(m["params"][1]["mutations"], json!([["other_config", "delete", "flow-restore-wait"]]));
    drop(p);
    // Next connection: the read-back shows the key is still there (the
    // removal was lost), so the client removes it again and reads back.
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    let ovs_row = |frw: bool| {
        let oc = if frw { json!(["map", [["flow-restore-wait", "true"], ["other", "x"]]]) } else { json!(["map", [["other", "x"]]]) };
        json!([{"rows": [{"other_config": oc}]}])
    };
    let m = p.expect("transact").await;
    assert_eq!(m["params"][1]["op"], json!("select"));
    p.send(json!({"id": m["id"], "result": ovs_row(true), "error": null})).await;
    let m = p.expect("transact").await;
    assert_eq!(m["params"][1]["op"], json!("mutate"));
    p.send(json!({"id": m["id"], "result": [{"count": 1}], "error": null})).await;
    let m = p.expect("transact").await;
    assert_eq!(m["params"][1]["op"], json!("select"));
    p.send(json!({"id": m["id"], "result": ovs_row(false), "error": null})).await;
    clear.await.unwrap().unwrap();
}

/// A server that stops reading: the write of a large transaction gets a
/// deadline (twice the probe interval), the session ends with a typed
/// timeout, and the transaction's outcome is reported unknown.
#[tokio::test]
async fn a_server_that_stops_reading_ends_the_session_with_a_write_timeout() {
    let (_d, l, addr) = listener("noread");
    let c = Client::start(addr, Options { probe_interval: Duration::from_millis(300), ..opts() });
    let mut p = Peer::accept(&l).await;
    p.handshake(&[], initial()).await;
    c.wait_synced(deadline()).await.unwrap();
    // 16 MiB in one comment: far more than the socket buffers hold.
    let big = podflow::ovsdb::proto::Operation::comment(&"x".repeat(16 << 20));
    let e = c.transact(vec![big], Instant::now() + Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(e, podflow::ovsdb::Error::OutcomeUnknown(_)), "{e}");
    assert!(e.to_string().contains("stopped reading"), "{e}");
    assert!(matches!(c.read(|s| s.last_error.clone()), Some(podflow::ovsdb::Error::Timeout(_))));
    drop(p);
}

/// While ovsdb-server is down, at most `QUEUE` transactions wait for it;
/// the next caller is refused when its deadline passes, nothing grows.
#[tokio::test]
async fn transactions_waiting_for_a_down_server_are_bounded() {
    let (_d, l, addr) = listener("queue");
    drop(l);
    let c = Client::start(addr, opts());
    let far = Instant::now() + Duration::from_secs(60);
    let waiting: Vec<_> = (0..podflow::ovsdb::client::QUEUE)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { c.transact(vec![podflow::ovsdb::proto::Operation::comment(&i.to_string())], far).await })
        })
        .collect();
    // Let every one of them take its place in the queue.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let e = c.transact(vec![podflow::ovsdb::proto::Operation::comment("one too many")], Instant::now() + Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(&e, podflow::ovsdb::Error::Timeout(m) if m.contains("already waiting")), "{e}");
    for w in waiting {
        w.abort();
    }
}

/// On paused time: a minute of polling an ovsdb-server that is down
/// publishes one snapshot (the first failure), not one per attempt.
#[tokio::test(start_paused = true)]
async fn polling_a_down_server_wakes_no_reader() {
    let addr: Address = format!("unix:{}/podflow-nobody-{}/db.sock", std::env::temp_dir().display(), std::process::id()).parse().unwrap();
    let c = Client::start(addr, opts());
    let mut rx = c.subscribe();
    rx.changed().await.unwrap();
    assert!(rx.borrow_and_update().last_error.as_ref().is_some_and(|e| e.to_string().contains("No such file")));
    let woke = timeout(Duration::from_secs(60), rx.changed()).await;
    assert!(woke.is_err(), "woken while polling: {:?}", rx.borrow().last_error);
}
