//! `--nodes-from file:PATH`: the real file source on real files and real
//! inotify (write+rename, in-place writes, malformed files, removals, a
//! deleted file, a directory that appears later, the saved list replayed),
//! and the real agent with the flag, asked through `podflow nodes`.

mod common;

use podflow::peers::{self, PeerHandle, PeerSnapshot, PeersConfig, Source};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A temporary directory removed on drop (also when the test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("podflow-peers-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn node(i: u8) -> String {
    format!(r#"{{"name": "node-{i}", "podCIDRs": ["198.18.{i}.0/24", "fd00:{i}::/64"], "internalIPs": ["192.0.2.{i}"]}}"#)
}

fn list(ids: &[u8]) -> String {
    format!("[{}]", ids.iter().map(|i| node(*i)).collect::<Vec<_>>().join(",\n"))
}

/// Replaces `path` the way editors and `mv` do: a new file renamed over it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn names(s: &PeerSnapshot) -> Vec<String> {
    s.nodes.iter().map(|p| p.name.clone()).collect()
}

fn start(path: &Path, state: &Path) -> PeerHandle {
    let cfg = PeersConfig { source: Source::File(path.to_path_buf()), node_name: "node-1".into(), node_ip: None, kubeconfig: None };
    peers::spawn(cfg, Some(state))
}

/// Waits (bounded) until the source's snapshot satisfies `f`.
async fn wait_snapshot(h: &PeerHandle, what: &str, f: impl Fn(&PeerSnapshot) -> bool) -> PeerSnapshot {
    let mut rx = h.subscribe();
    let seen = match tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|s| f(s))).await {
        Ok(Ok(s)) => s.clone(),
        _ => panic!("{what}: not seen within 10 s; snapshot {:?}, last error {:?}", h.current(), h.stats().last_error()),
    };
    seen
}

/// Waits (bounded) until the source has counted `n` errors.
async fn wait_errors(h: &PeerHandle, n: u64) {
    for _ in 0..1000 {
        if h.stats().errors.load(Ordering::Relaxed) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} errors, saw {}", h.stats().errors.load(Ordering::Relaxed));
}

#[tokio::test]
async fn renamed_files_update_the_list_and_removals_remove_nodes() {
    let d = TempDir::new("rename");
    let (path, state) = (d.0.join("nodes.json"), d.0.join("state"));
    std::fs::create_dir_all(&state).unwrap();
    replace(&path, &list(&[1, 2]));
    let h = start(&path, &state);
    let s = wait_snapshot(&h, "first list", |s| s.complete).await;
    assert_eq!(names(&s), ["node-1", "node-2"]);
    assert_eq!(h.report().node_ip, Some("192.0.2.1".parse().unwrap()));

    replace(&path, &list(&[3, 1, 2]));
    wait_snapshot(&h, "node-3 added by rename", |s| names(s) == ["node-1", "node-2", "node-3"]).await;
    replace(&path, &list(&[1, 3]));
    wait_snapshot(&h, "node-2 removed", |s| names(s) == ["node-1", "node-3"]).await;
    // In place (truncate and write, like `cat > file`): seen at close.
    std::fs::write(&path, list(&[1])).unwrap();
    wait_snapshot(&h, "in-place write", |s| names(s) == ["node-1"]).await;
    // Another file of the directory changing is not an update.
    let updates = h.stats().updates.load(Ordering::Relaxed);
    std::fs::write(d.0.join("unrelated"), "x").unwrap();
    replace(&path, &list(&[1, 4]));
    wait_snapshot(&h, "node-4", |s| names(s) == ["node-1", "node-4"]).await;
    assert_eq!(h.stats().updates.load(Ordering::Relaxed), updates + 1);
    assert_eq!(h.stats().errors.load(Ordering::Relaxed), 0, "{:?}", h.stats().last_error());
}

#[tokio::test]
async fn a_malformed_or_deleted_file_keeps_the_last_good_list() {
    let d = TempDir::new("malformed");
    let (path, state) = (d.0.join("nodes.json"), d.0.join("state"));
    std::fs::create_dir_all(&state).unwrap();
    replace(&path, &list(&[1, 2]));
    let h = start(&path, &state);
    let good = wait_snapshot(&h, "first list", |s| s.complete).await;

    replace(&path, "[{\"name\": \"node-1\"");
    wait_errors(&h, 1).await;
    assert_eq!(h.current(), good, "a malformed file must not change the list");
    assert!(h.stats().last_error().unwrap().contains("not a JSON list"), "{:?}", h.stats().last_error());

    // Valid JSON, invalid list: two nodes with overlapping pod CIDRs.
    replace(&path, &format!("[{}, {}]", node(1), node(1).replace("node-1", "node-9").replace("192.0.2.1\"", "192.0.2.9\"")));
    wait_errors(&h, 2).await;
    assert_eq!(h.current(), good);
    assert!(h.stats().last_error().unwrap().contains("overlaps"), "{:?}", h.stats().last_error());

    std::fs::remove_file(&path).unwrap();
    wait_errors(&h, 3).await;
    assert_eq!(h.current(), good, "a deleted file must not empty the list");
    let r = podflow::cli::nodes::print(&h.report());
    assert!(r.contains("cannot read the peer file") && r.contains("3 errors"), "{r}");

    replace(&path, &list(&[2]));
    wait_snapshot(&h, "a good file again", |s| names(s) == ["node-2"]).await;
    assert_eq!(h.stats().last_error(), None);
}

#[tokio::test]
async fn the_saved_list_is_replayed_until_the_source_delivers() {
    let d = TempDir::new("replay");
    let (path, state) = (d.0.join("nodes.json"), d.0.join("state"));
    std::fs::create_dir_all(&state).unwrap();
    replace(&path, &list(&[1, 2, 3]));
    {
        let h = start(&path, &state);
        wait_snapshot(&h, "first list", |s| names(s).len() == 3).await;
    }
    assert!(state.join(peers::persist::FILE).exists());
    // The source is broken at the next start: the saved list is out at
    // once, complete, and stays.
    replace(&path, "not json");
    let h = start(&path, &state);
    let s = h.current();
    assert!(s.complete && names(&s) == ["node-1", "node-2", "node-3"], "{s:?}");
    wait_errors(&h, 1).await;
    assert!(h.report().replayed && h.current() == s);
    // The source answers: its list replaces the replayed one.
    replace(&path, &list(&[1]));
    wait_snapshot(&h, "the source's list", |s| names(s) == ["node-1"]).await;
    assert!(!h.report().replayed);
    drop(h);
    // A list saved from another source is not replayed.
    let other = PeersConfig { source: Source::File(d.0.join("other.json")), node_name: "node-1".into(), node_ip: None, kubeconfig: None };
    let h = peers::spawn(other, Some(&state));
    assert!(!h.current().complete);
}

#[tokio::test]
async fn a_directory_that_appears_later_is_watched() {
    let d = TempDir::new("latedir");
    let dir = d.0.join("later");
    let path = dir.join("nodes.json");
    let h = start(&path, &d.0);
    // Two errors: the watch and the read; retried, each reported once.
    wait_errors(&h, 2).await;
    assert!(!h.current().complete);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(h.stats().errors.load(Ordering::Relaxed), 2, "a failure that persists is reported once");
    std::fs::create_dir_all(&dir).unwrap();
    replace(&path, &list(&[5]));
    wait_snapshot(&h, "the file in the new directory", |s| names(s) == ["node-5"]).await;
}

/// The real agent with `--nodes-from file:` and `podflow nodes`; a restart
/// with the file gone replays the saved list.
#[test]
fn the_agent_serves_its_peers() {
    let Some(mut n) = common::node::Node::new("peersf") else { return };
    let path = n.dir.join("nodes.json");
    replace(&path, &list(&[1, 2]));
    n.extra_args = vec!["--nodes-from".into(), format!("file:{}", path.display()), "--node-name".into(), "node-2".into()];
    // The node's underlay address, so its noencap routes to the peers
    // (via their 192.0.2.x addresses) can be installed and the round's
    // peers participant is acknowledged.
    for args in [&["link", "add", "ul0", "type", "veth", "peer", "name", "ul1"][..], &["addr", "add", "192.0.2.2/24", "dev", "ul0"], &["link", "set", "ul0", "up"], &["link", "set", "ul1", "up"]] {
        let ok = std::process::Command::new("ip").args(["netns", "exec", &n.sb.netns, "ip"]).args(args).status().unwrap();
        assert!(ok.success(), "ip {args:?} in the node namespace");
    }
    n.start_agent();
    let wait_nodes = |n: &common::node::Node, want: &[&str]| {
        for _ in 0..500 {
            let (ok, out) = n.podflow(&["nodes", "--json"]);
            if ok {
                let r: podflow::api::NodesReport = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
                if r.nodes.iter().map(|x| x.peer.name.as_str()).collect::<Vec<_>>() == want {
                    return r;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("podflow nodes never listed {want:?}: {:?}\nlog:\n{}", n.podflow(&["nodes"]), n.agent_log());
    };
    let r = wait_nodes(&n, &["node-1", "node-2"]);
    assert!(r.complete && !r.replayed && r.local_in_list, "{r:?}");
    assert_eq!(r.node_ip, Some("192.0.2.2".parse().unwrap()));
    assert!(r.nodes[1].local && !r.nodes[0].local);
    replace(&path, &list(&[2, 3]));
    wait_nodes(&n, &["node-2", "node-3"]);
    let (ok, text) = n.podflow(&["nodes"]);
    assert!(ok && text.contains("node-3") && text.contains("198.18.3.0/24,fd00:3::/64") && text.contains("local"), "{text}");

    n.stop_agent();
    std::fs::remove_file(&path).unwrap();
    n.start_agent();
    let r = wait_nodes(&n, &["node-2", "node-3"]);
    assert!(r.complete && r.replayed && r.errors >= 1, "{r:?}");
}
