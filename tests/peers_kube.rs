//! `--nodes-from kubernetes` against a scripted API server: the real
//! `kube` client and watcher speak HTTP to a server in this test that plays
//! the list/watch protocol step by step (JSON bodies as the API server
//! sends them, resourceVersion, a bookmark, a dropped watch, a 410 Gone
//! that forces a relist). No API server can run on these machines; this is
//! what the source was run against.

mod common;

use podflow::peers::{self, PeerHandle, PeerSnapshot, PeersConfig, Source};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex as AsyncMutex};

/// One step of a scripted watch response.
#[derive(Clone)]
enum Step {
    /// A watch event line.
    Event(Value),
    /// Wait until the test says go.
    Gate,
    /// Cut the connection in the middle of the stream.
    Drop,
    /// End the stream cleanly (the server's watch timeout).
    End,
    /// Keep the stream open.
    Hold,
}

struct Script {
    /// (resourceVersion, items) for each LIST, in order.
    lists: Vec<(String, Vec<Value>)>,
    watches: Vec<Vec<Step>>,
}

#[derive(Default)]
struct Seen {
    lists: Vec<String>,
    watches: Vec<String>,
}

fn node(name: &str, rv: u32, cidr: Option<&str>, ip: &str) -> Value {
    let mut spec = json!({"providerID": format!("scripted://{name}")});
    if let Some(c) = cidr {
        spec = json!({"podCIDR": c, "podCIDRs": [c], "providerID": format!("scripted://{name}")});
    }
    json!({
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": rv.to_string(), "creationTimestamp": "2026-11-30T00:00:00Z", "labels": {"kubernetes.io/hostname": name}},
        "spec": spec,
        "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}], "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// A watch event object carries kind and apiVersion (list items do not).
fn event(kind: &str, mut obj: Value) -> Step {
    obj["kind"] = json!("Node");
    obj["apiVersion"] = json!("v1");
    Step::Event(json!({"type": kind, "object": obj}))
}

fn bookmark(rv: u32) -> Step {
    Step::Event(json!({"type": "BOOKMARK", "object": {"kind": "Node", "apiVersion": "v1", "metadata": {"resourceVersion": rv.to_string()}}}))
}

fn gone() -> Step {
    Step::Event(json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "too old resource version: 150 (290)", "reason": "Expired", "code": 410}}))
}

struct Server {
    script: Script,
    seen: Mutex<Seen>,
    gate: AsyncMutex<mpsc::UnboundedReceiver<()>>,
}

async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut buf = vec![];
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.ok()? == 0 {
            return None;
        }
        buf.push(b[0]);
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

async fn connection(srv: Arc<Server>, mut s: TcpStream) {
    while let Some(head) = read_head(&mut s).await {
        let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
        if !target.starts_with("/api/v1/nodes") {
            let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;
            let _ = s.write_all(format!("HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).await;
            continue;
        }
        if target.contains("watch=true") || target.contains("watch=1") {
            let k = {
                let mut seen = srv.seen.lock().unwrap();
                seen.watches.push(target.clone());
                seen.watches.len() - 1
            };
            let steps = srv.script.watches.get(k).cloned().unwrap_or(vec![Step::Hold]);
            if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await.is_err() {
                return;
            }
            for step in steps {
                match step {
                    Step::Event(v) => {
                        let line = format!("{v}\n");
                        if s.write_all(format!("{:x}\r\n{line}\r\n", line.len()).as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    Step::Gate => {
                        srv.gate.lock().await.recv().await;
                    }
                    Step::Drop => return,
                    Step::End => {
                        let _ = s.write_all(b"0\r\n\r\n").await;
                        break;
                    }
                    Step::Hold => std::future::pending::<()>().await,
                }
            }
            continue;
        }
        let k = {
            let mut seen = srv.seen.lock().unwrap();
            seen.lists.push(target.clone());
            seen.lists.len() - 1
        };
        let (rv, items) = srv.script.lists.get(k).cloned().unwrap_or_else(|| srv.script.lists.last().cloned().unwrap());
        let body = json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}).to_string();
        if s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Serves `script` on 127.0.0.1; returns the port, the server and the
/// gate sender.
async fn serve(script: Script) -> (u16, Arc<Server>, mpsc::UnboundedSender<()>, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let srv = Arc::new(Server { script, seen: Mutex::default(), gate: AsyncMutex::new(rx) });
    let s2 = srv.clone();
    let task = tokio::spawn(async move {
        let mut conns = vec![];
        while let Ok((c, _)) = l.accept().await {
            conns.push(tokio::spawn(connection(s2.clone(), c)));
        }
    });
    (port, srv, tx, task)
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn kubeconfig(dir: &std::path::Path, port: u16) -> PathBuf {
    let p = dir.join("kubeconfig");
    std::fs::write(
        &p,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: scripted\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: scripted\n  context:\n    cluster: scripted\n    user: nobody\ncurrent-context: scripted\nusers:\n- name: nobody\n  user: {{}}\n"
        ),
    )
    .unwrap();
    p
}

fn names(s: &PeerSnapshot) -> Vec<String> {
    s.nodes.iter().map(|p| p.name.clone()).collect()
}

async fn wait_names(h: &PeerHandle, want: &[&str]) {
    let mut rx = h.subscribe();
    let ok = tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|s| s.complete && names(s) == want)).await.is_ok_and(|r| r.is_ok());
    assert!(ok, "never saw {want:?}; now {:?}, last error {:?}", names(&h.current()), h.stats().last_error());
}

fn query(target: &str, key: &str) -> Option<String> {
    target.split(['?', '&']).find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
}

#[tokio::test]
async fn lists_watches_resumes_and_relists_on_410() {
    let script = Script {
        lists: vec![
            ("100".into(), vec![node("a", 10, Some("198.18.1.0/24"), "192.0.2.1"), node("b", 11, Some("198.18.2.0/24"), "192.0.2.2"), node("x", 12, None, "192.0.2.24")]),
            // The relist after 410: b was deleted and d added while the
            // watch was away, x was deleted.
            ("300".into(), vec![node("a", 10, Some("198.18.1.0/24"), "192.0.2.1"), node("c", 101, Some("198.18.3.0/24"), "192.0.2.3"), node("d", 250, Some("198.18.4.0/24"), "192.0.2.4")]),
        ],
        watches: vec![
            vec![event("ADDED", node("c", 101, Some("198.18.3.0/24"), "192.0.2.3")), Step::Gate, bookmark(150), Step::Drop],
            vec![event("MODIFIED", node("x", 151, Some("198.18.24.0/24"), "192.0.2.24")), Step::Gate, event("DELETED", node("b", 152, Some("198.18.2.0/24"), "192.0.2.2")), Step::Gate, gone(), Step::End],
            vec![Step::Hold],
        ],
    };
    let (port, srv, go, task) = serve(script).await;
    let dir = TempDir(std::env::temp_dir().join(format!("podflow-peers-kube-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let cfg = PeersConfig { source: Source::Kubernetes, node_name: "a".into(), node_ip: None, kubeconfig: Some(kubeconfig(&dir.0, port)) };
    let h = peers::spawn(cfg, Some(&dir.0));

    // The LIST: x has no pod CIDR yet and is left out (counted).
    // Then the watch from the LIST's resourceVersion adds c.
    wait_names(&h, &["a", "b", "c"]).await;
    assert_eq!(h.report().skipped, 1);
    go.send(()).unwrap();
    // Bookmark 150, dropped watch, re-watch from 150: x got its CIDR.
    wait_names(&h, &["a", "b", "c", "x"]).await;
    assert_eq!(h.report().skipped, 0);
    go.send(()).unwrap();
    wait_names(&h, &["a", "c", "x"]).await;
    go.send(()).unwrap();
    // 410 Gone: a new LIST replaces everything (x and b gone, d new).
    wait_names(&h, &["a", "c", "d"]).await;
    let r = h.report();
    assert!(r.complete && !r.replayed && r.errors >= 1 && r.node_ip == Some("192.0.2.1".parse().unwrap()), "{r:?}");

    // The watch after the relist starts once the relist is published.
    for _ in 0..1000 {
        if srv.seen.lock().unwrap().watches.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seen = std::mem::take(&mut *srv.seen.lock().unwrap());
    assert_eq!(seen.lists.len(), 2, "one LIST, one relist after 410: {:?}", seen.lists);
    let rv: Vec<Option<String>> = seen.watches.iter().map(|w| query(w, "resourceVersion")).collect();
    assert_eq!(rv, [Some("100".into()), Some("150".into()), Some("300".into())], "watches resume from the list, the bookmark, the relist: {:?}", seen.watches);
    assert!(seen.watches.iter().all(|w| query(w, "allowWatchBookmarks").as_deref() == Some("true")), "{:?}", seen.watches);
    // The saved list is the last one.
    let saved = peers::persist::load(&dir.0, "kubernetes").unwrap().unwrap();
    assert_eq!(saved.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a", "c", "d"]);
    drop(h);
    task.abort();
}

#[tokio::test]
async fn an_unreachable_api_server_keeps_the_replayed_list_and_reconnects() {
    // Nothing listens on the port at first; it stays bound meanwhile, so
    // that no other socket (nor the client's own, connecting to itself)
    // takes it.
    let bound = tokio::net::TcpSocket::new_v4().unwrap();
    bound.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = bound.local_addr().unwrap().port();
    let dir = TempDir(std::env::temp_dir().join(format!("podflow-peers-kube-down-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let saved = vec![podflow::peers::Peer { name: "a".into(), pod_cidrs: vec!["198.18.1.0/24".parse().unwrap()], internal_ips: vec!["192.0.2.1".parse().unwrap()] }];
    peers::persist::save(&dir.0, "kubernetes", &saved).unwrap();
    let cfg = PeersConfig { source: Source::Kubernetes, node_name: "a".into(), node_ip: None, kubeconfig: Some(kubeconfig(&dir.0, port)) };
    let h = peers::spawn(cfg, Some(&dir.0));
    assert!(h.current().complete && h.report().replayed, "the saved list is out at once");
    for _ in 0..2000 {
        if h.report().errors >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(h.report().errors >= 2, "connection failures are reported: {:?}", h.report());
    assert_eq!(names(&h.current()), ["a"], "and the replayed list is kept");
    // The server comes up on that port: the watcher reconnects (backoff).
    let l = bound.listen(64).unwrap();
    let srv = Arc::new(Server {
        script: Script { lists: vec![("7".into(), vec![node("a", 1, Some("198.18.1.0/24"), "192.0.2.1"), node("b", 2, Some("198.18.2.0/24"), "192.0.2.2")])], watches: vec![] },
        seen: Mutex::default(),
        gate: AsyncMutex::new(mpsc::unbounded_channel().1),
    });
    let s2 = srv.clone();
    let task = tokio::spawn(async move {
        while let Ok((c, _)) = l.accept().await {
            tokio::spawn(connection(s2.clone(), c));
        }
    });
    wait_names(&h, &["a", "b"]).await;
    assert!(!h.report().replayed);
    task.abort();
}

/// The real agent binary with `--nodes-from kubernetes`: the scripted API
/// server listens on 127.0.0.1 *inside* the node's namespace (the socket is
/// made there, then served from this test's runtime), the agent reads it
/// through `--kubeconfig`. Routes follow the watch, this node's entry is
/// checked against `--pod-cidr`, and a restart with the API server gone
/// replays the saved list.
#[test]
fn the_agent_follows_kubernetes_nodes() {
    let Some(mut n) = common::node::Node::new("peersk") else { return };
    for args in [&["link", "add", "ul0", "type", "veth", "peer", "name", "ul1"][..], &["addr", "add", "192.0.2.2/24", "dev", "ul0"], &["link", "set", "ul0", "up"], &["link", "set", "ul1", "up"]] {
        let ok = std::process::Command::new("ip").args(["netns", "exec", &n.sb.netns, "ip"]).args(args).status().unwrap();
        assert!(ok.success(), "ip {args:?} in the node namespace");
    }
    let me = |cidr: &str, rv: u32| node("n2", rv, Some(cidr), "192.0.2.2");
    let script = Script {
        lists: vec![("100".into(), vec![node("n1", 10, Some("198.18.1.0/24"), "192.0.2.1"), me(common::node::POD_CIDR, 11), node("n3", 12, Some("198.18.3.0/24"), "192.0.2.3")])],
        watches: vec![vec![Step::Gate, event("DELETED", node("n3", 120, Some("198.18.3.0/24"), "192.0.2.3")), Step::Gate, event("MODIFIED", me("198.18.7.0/24", 130)), Step::Hold]],
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let std_listener = podflow::host::netns::run_in_netns(Some(&n.sb.netns), || {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let srv = Arc::new(Server { script, seen: Mutex::default(), gate: AsyncMutex::new(rx) });
    let s2 = srv.clone();
    let server = rt.spawn(async move {
        let l = TcpListener::from_std(std_listener).unwrap();
        while let Ok((c, _)) = l.accept().await {
            tokio::spawn(connection(s2.clone(), c));
        }
    });
    let kc = kubeconfig(&n.dir, port);
    n.extra_args = vec!["--nodes-from".into(), "kubernetes".into(), "--kubeconfig".into(), kc.display().to_string(), "--node-name".into(), "n2".into()];
    n.start_agent();

    let report = |n: &common::node::Node| -> Option<podflow::api::NodesReport> {
        let (ok, out) = n.podflow(&["nodes", "--json"]);
        ok.then(|| serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}")))
    };
    let wait = |n: &common::node::Node, what: &str, f: &dyn Fn(&podflow::api::NodesReport) -> bool| -> podflow::api::NodesReport {
        for _ in 0..1000 {
            if let Some(r) = report(n).filter(|r| f(r)) {
                return r;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("never: {what}; now {:?}\nlog:\n{}", report(n), n.agent_log());
    };
    let routes = |n: &common::node::Node| n.sb.exec(&["ip", "route", "show", "proto", "159"]).unwrap();
    let names = |r: &podflow::api::NodesReport| r.nodes.iter().map(|x| x.peer.name.clone()).collect::<Vec<_>>();
    let installed = |r: &podflow::api::NodesReport, name: &str| r.nodes.iter().any(|x| x.peer.name == name && matches!(x.state, Some(podflow::api::PeerState::Installed { .. })));

    let r = wait(&n, "the LIST's three nodes, routes to both peers", &|r| names(r) == ["n1", "n2", "n3"] && installed(r, "n1") && installed(r, "n3"));
    assert!(r.complete && !r.replayed && r.local_in_list && r.pod_cidr_mismatch.is_none(), "{r:?}");
    assert_eq!(r.node_ip, Some("192.0.2.2".parse().unwrap()), "the node address comes from the Node's InternalIP");
    let rt_text = routes(&n);
    assert!(rt_text.contains("198.18.1.0/24 via 192.0.2.1") && rt_text.contains("198.18.3.0/24 via 192.0.2.3"), "{rt_text}");

    // The watch deletes n3: its route goes.
    tx.send(()).unwrap();
    wait(&n, "n3 removed", &|r| names(r) == ["n1", "n2"]);
    for _ in 0..500 {
        if !routes(&n).contains("198.18.3.0/24") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let rt_text = routes(&n);
    assert!(!rt_text.contains("198.18.3.0/24") && rt_text.contains("198.18.1.0/24 via 192.0.2.1"), "{rt_text}");

    // This node's own entry moves to another pod CIDR: said, not applied.
    tx.send(()).unwrap();
    let r = wait(&n, "the pod CIDR mismatch reported", &|r| r.pod_cidr_mismatch.is_some());
    let m = r.pod_cidr_mismatch.unwrap();
    assert!(m.contains("198.18.7.0/24") && m.contains(common::node::POD_CIDR), "{m}");
    let (ok, text) = n.podflow(&["nodes"]);
    assert!(ok && text.contains("warning: this node's entry"), "{text}");
    assert!(n.agent_log().contains("lists pod CIDRs 198.18.7.0/24"), "the agent logs it:\n{}", n.agent_log());

    // A restart with the API server gone: the saved list is replayed, the
    // agent gets ready without the API server, the route stays.
    n.stop_agent();
    server.abort();
    drop(rt);
    n.start_agent();
    let r = wait(&n, "the replayed list", &|r| names(r) == ["n1", "n2"] && r.complete && installed(r, "n1"));
    assert!(r.replayed && r.pod_cidr_mismatch.is_some(), "{r:?}");
    assert!(routes(&n).contains("198.18.1.0/24 via 192.0.2.1"));
    let seen = srv.seen.lock().unwrap();
    assert_eq!(seen.lists.len(), 1, "one LIST: {:?}", seen.lists);
    assert_eq!(seen.watches.iter().map(|w| query(w, "resourceVersion")).collect::<Vec<_>>(), [Some("100".to_string())]);
}
