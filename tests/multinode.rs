//! Pods on different nodes (issue 15). Everything runs inside namespaces
//! these tests create (192.0.2.0/24 underlay, 198.18.N.0/24 pod CIDRs).
//!
//! - `noencap_routes_*`: the route driver against a real kernel in one
//!   namespace (no Open vSwitch): exactly podflow's routes change.
//! - `noencap_three_nodes_*`: three nodes ([`common::cluster`]), each with
//!   its own Open vSwitch and agent, peers from a file: ICMP, TCP and UDP
//!   between pods on different nodes; a node removed from the file loses
//!   its routes on the others; a fourth node added later works.
//! - `geneve_three_nodes_*`: the same cluster in Geneve mode, each node's
//!   `eth0` moved into `br-phy` by the agent's secondary-bridge attach:
//!   ICMP, TCP, UDP through the tunnel, the host to a remote pod, a spoofed
//!   inner source dropped (a correct one passes), peers leaving and joining.
//! - `restart_*`: `ovs-vswitchd` on node 1 killed and restarted with the
//!   key preset; the key goes only after the pods and the peers were
//!   acknowledged, and no UDP probe to a pod on node 2 is lost after that
//!   (noencap and geneve; each with a fault knob that must make it fail).
mod common;

use common::cluster::Cluster;
use common::traffic;
use std::time::Duration;

use common::netns::{can_run, TestNetns};
use podflow::crossnode::driver::{self, RouteConfig};
use podflow::crossnode::TrafficMode;
use podflow::host::routes::RTPROT_PODFLOW;
use podflow::host::{Host, RT_TABLE_MAIN};
use podflow::peers::{Peer, PeerSnapshot};
use std::sync::Arc;

/// The restart tests measure loss at 10 ms resolution on a small machine:
/// they run one at a time (write), and not beside this file's other
/// clusters of nodes (read).
static SERIAL: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn peer(name: &str, cidr: &str, ip: &str) -> Peer {
    Peer { name: name.into(), pod_cidrs: vec![cidr.parse().unwrap()], internal_ips: vec![ip.parse().unwrap()] }
}

fn snapshot(nodes: Vec<Peer>) -> PeerSnapshot {
    PeerSnapshot { complete: true, nodes: Arc::new(nodes) }
}

/// `ip route show proto 159` lines, sorted.
fn ours(ns: &TestNetns) -> Vec<String> {
    let mut v: Vec<String> = ns.ip(&["route", "show", "proto", &RTPROT_PODFLOW.to_string()]).lines().map(|l| l.trim().to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn noencap_routes_follow_the_peer_list_and_never_touch_foreign_routes() {
    if !can_run() {
        return;
    }
    let ns = TestNetns::new("xnroutes");
    ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
    ns.ip(&["link", "set", "eth0p", "up"]);
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    // A foreign route to a peer's CIDR range neighbour, and one with the same
    // destination as a stale podflow route but another protocol and metric.
    ns.ip(&["route", "add", "198.18.50.0/24", "via", "192.0.2.50"]);
    ns.ip(&["route", "add", "198.18.9.0/24", "via", "192.0.2.99", "metric", "7"]);
    // A stale route of ours, left by an earlier agent.
    ns.ip(&["route", "add", "198.18.9.0/24", "via", "192.0.2.9", "proto", "159"]);
    let foreign_before = ns.ip(&["route", "show", "proto", "boot"]);

    let host = Host::open(Some(&ns.name)).await.unwrap();
    let cfg = RouteConfig { node_name: "n1".into(), mode: TrafficMode::NoEncap, gateway_dev: "pfgw-br-int".into(), table: RT_TABLE_MAIN };
    let three = vec![peer("n1", "198.18.1.0/24", "192.0.2.1"), peer("n2", "198.18.2.0/24", "192.0.2.2"), peer("n3", "198.18.3.0/24", "192.0.2.3")];
    let st = driver::sync(&cfg, &host, &snapshot(three.clone())).await.unwrap();
    assert_eq!(st.installed.len(), 2, "{st:?}");
    assert_eq!(ours(&ns), ["198.18.2.0/24 via 192.0.2.2 dev eth0", "198.18.3.0/24 via 192.0.2.3 dev eth0"]);

    // Again: nothing changes.
    driver::sync(&cfg, &host, &snapshot(three.clone())).await.unwrap();
    assert_eq!(ours(&ns).len(), 2);

    // n3 leaves, n4 joins, n2 moves to another address.
    let next = vec![peer("n1", "198.18.1.0/24", "192.0.2.1"), peer("n2", "198.18.2.0/24", "192.0.2.22"), peer("n4", "198.18.4.0/24", "192.0.2.4")];
    let st = driver::sync(&cfg, &host, &snapshot(next)).await.unwrap();
    assert_eq!(ours(&ns), ["198.18.2.0/24 via 192.0.2.22 dev eth0", "198.18.4.0/24 via 192.0.2.4 dev eth0"]);
    assert_eq!(st.installed.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>(), ["n2", "n4"]);

    // An empty list removes all of ours.
    driver::sync(&cfg, &host, &snapshot(vec![])).await.unwrap();
    assert!(ours(&ns).is_empty());
    assert_eq!(ns.ip(&["route", "show", "proto", "boot"]), foreign_before, "foreign routes changed");

    // A peer whose address is not on any link: reported, the rest installed.
    let bad = vec![peer("n2", "198.18.2.0/24", "192.0.2.2"), peer("n7", "198.18.7.0/24", "203.0.113.7")];
    let (st, err) = driver::sync(&cfg, &host, &snapshot(bad)).await.unwrap_err();
    assert!(err.contains("203.0.113.7") || err.contains("unreachable") || err.contains("errno"), "{err}");
    assert_eq!(st.installed.len(), 1);
    assert_eq!(ours(&ns), ["198.18.2.0/24 via 192.0.2.2 dev eth0"]);
}

#[tokio::test]
async fn noencap_routes_wait_for_a_complete_list() {
    if !can_run() {
        return;
    }
    let ns = TestNetns::new("xnwait");
    ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
    ns.ip(&["link", "set", "eth0p", "up"]);
    ns.ip(&["addr", "add", "192.0.2.1/24", "dev", "eth0"]);
    ns.ip(&["link", "set", "eth0", "up"]);
    ns.ip(&["route", "add", "198.18.2.0/24", "via", "192.0.2.2", "proto", "159"]);
    let host = Host::open(Some(&ns.name)).await.unwrap();
    let cfg = RouteConfig { node_name: "n1".into(), mode: TrafficMode::NoEncap, gateway_dev: "gw".into(), table: RT_TABLE_MAIN };
    let (tx, rx) = tokio::sync::watch::channel(PeerSnapshot::default());
    let (stx, mut srx) = tokio::sync::watch::channel(driver::RouteStatus::default());
    let task = tokio::spawn(driver::run(cfg, host, rx, stx));
    // Incomplete (nothing read yet): the earlier agent's route stays.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(ours(&ns), ["198.18.2.0/24 via 192.0.2.2 dev eth0"]);
    assert_eq!(srx.borrow().syncs, 0);
    tx.send(snapshot(vec![peer("n3", "198.18.3.0/24", "192.0.2.3")])).unwrap();
    srx.wait_for(|s| s.syncs >= 1).await.unwrap();
    assert_eq!(ours(&ns), ["198.18.3.0/24 via 192.0.2.3 dev eth0"]);
    task.abort();
}

/// Pings `ip` from `pod` until it answers (bounded): the first packets may
/// wait for the routes and ARP on the way.
fn reaches(pod: &common::node::Pod, ip: &str) -> bool {
    (0..5).any(|_| pod.exec(&["ping", "-c", "1", "-W", "1", ip]).0)
}

#[test]
fn noencap_three_nodes_pods_talk_across_nodes_and_follow_the_peer_list() {
    let _shared = SERIAL.blocking_read();
    let Some(mut c) = Cluster::new("xn3", "noencap") else { return };
    c.write_peers(&[1, 2, 3]);
    for i in 1..=3 {
        c.add_node(i).start_agent();
    }
    let a = c.node_mut(1).add_pod("a");
    let b = c.node_mut(2).add_pod("b");
    let p3 = c.node_mut(3).add_pod("c");
    for i in 1..=3 {
        c.wait_routes(i, "two peer routes", |r| r.len() == 2);
    }
    assert_eq!(c.routes(1), ["198.18.2.0/24 via 192.0.2.12 dev eth0", "198.18.3.0/24 via 192.0.2.13 dev eth0"]);

    // ICMP, TCP and UDP between pods on different nodes.
    assert!(reaches(&a, &b.ip), "ICMP n1 -> n2");
    assert!(reaches(&a, &p3.ip), "ICMP n1 -> n3");
    assert!(reaches(&p3, &b.ip), "ICMP n3 -> n2");
    assert_eq!(traffic::tcp(&b.netns, &b.ip, 7070, &a.netns), Ok(256 * 1024), "TCP n1 -> n2");
    assert_eq!(traffic::tcp(&a.netns, &a.ip, 7070, &p3.netns), Ok(256 * 1024), "TCP n3 -> n1");
    assert_eq!(traffic::udp_both_ways(&a.netns, &a.ip, &b.netns, &b.ip, 7071), (true, true), "UDP n1 <-> n2");

    // Node 3 leaves the list: its routes go on the others, and only those.
    c.write_peers(&[1, 2]);
    for i in 1..=2 {
        c.wait_routes(i, "node 3's route removed", |r| r.len() == 1 && !r.iter().any(|l| l.starts_with("198.18.3.")));
    }
    assert!(!a.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", &p3.ip]).0, "node 1 still reaches node 3's pod");
    assert!(reaches(&a, &b.ip), "n1 -> n2 after node 3 left");

    // A fourth node joins later.
    c.write_peers(&[1, 2, 4]);
    c.add_node(4).start_agent();
    let d = c.node_mut(4).add_pod("d");
    for i in [1, 2, 4] {
        c.wait_routes(i, "routes to both other nodes", |r| r.len() == 2);
    }
    assert!(c.routes(1).contains(&"198.18.4.0/24 via 192.0.2.14 dev eth0".to_string()));
    assert!(reaches(&a, &d.ip), "ICMP n1 -> n4");
    assert!(reaches(&d, &b.ip), "ICMP n4 -> n2");
    assert_eq!(traffic::tcp(&d.netns, &d.ip, 7072, &b.netns), Ok(256 * 1024), "TCP n2 -> n4");

    // `podflow nodes` shows the peers and their routes.
    let (ok, out) = c.node(1).podflow(&["nodes"]);
    assert!(ok, "{out}");
    assert!(out.contains("n4") && out.contains("n2"), "{out}");
}

/// What a failed Geneve check needs to be understood: each node's pod
/// bridge and uplink bridge flows with counters, tunnel routes and neighbours.
fn geneve_state(c: &Cluster) -> String {
    let mut o = String::new();
    for (i, n) in &c.nodes {
        let appctl = |args: &[&str]| {
            let out = std::process::Command::new("ovs-appctl").arg("-t").arg(n.sb.path("ovs-vswitchd.ctl")).args(args).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        o.push_str(&format!(
            "--- node {i}\nbr-int:\n{}br-phy:\n{}routes:\n{}neighbours:\n{}",
            n.sb.ofctl("dump-flows", common::node::BRIDGE, &[]).unwrap_or_default(),
            n.sb.ofctl("dump-flows", common::cluster::UPLINK_BRIDGE, &[]).unwrap_or_default(),
            appctl(&["ovs/route/show"]),
            appctl(&["tnl/neigh/show"]),
        ));
    }
    o
}

/// The lines of `flows` that mention `needle`.
fn with<'a>(flows: &'a [String], needle: &str) -> Vec<&'a String> {
    flows.iter().filter(|l| l.contains(needle)).collect()
}

/// `n_packets` of node `i`'s tunnel table-miss drop (table 5, priority 0).
fn tunnel_drops(c: &Cluster, i: usize) -> u64 {
    let dump = c.node(i).sb.ofctl("dump-flows", common::node::BRIDGE, &["table=5"]).unwrap();
    dump.lines()
        .find(|l| l.contains("priority=0"))
        .and_then(|l| l.split(|ch: char| ch == ',' || ch.is_whitespace()).find_map(|w| w.strip_prefix("n_packets=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no tunnel table-miss flow on node {i}:\n{dump}"))
}

/// Sends a few UDP datagrams from `from` to `to_ip:port` and returns the
/// source addresses that a socket in `to` on that port saw.
fn udp_sources(from: &common::node::Pod, to: &common::node::Pod, port: u16) -> Vec<std::net::IpAddr> {
    use podflow::host::netns::run_in_netns;
    use std::net::{SocketAddr, UdpSocket};
    let at: SocketAddr = format!("0.0.0.0:{port}").parse().unwrap();
    let rx = run_in_netns(Some(&to.netns), move || Ok(UdpSocket::bind(at)?)).unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let tx = run_in_netns(Some(&from.netns), || Ok(UdpSocket::bind("0.0.0.0:0")?)).unwrap();
    let dst: SocketAddr = format!("{}:{port}", to.ip).parse().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 64];
    for _ in 0..5 {
        tx.send_to(b"podflow", dst).unwrap();
        while let Ok((_, src)) = rx.recv_from(&mut buf) {
            seen.push(src.ip());
        }
    }
    seen
}

#[test]
fn geneve_three_nodes_pods_talk_through_the_tunnel_and_follow_the_peer_list() {
    let _shared = SERIAL.blocking_read();
    let Some(mut c) = Cluster::new("gn3", "geneve") else { return };
    c.write_peers(&[1, 2, 3]);
    for i in 1..=3 {
        let n = c.add_node(i);
        n.metrics_addr = Some("127.0.0.1:9476".into());
        n.start_agent();
    }
    for i in 1..=3 {
        c.wait_uplink(i);
    }
    let a = c.node_mut(1).add_pod("a");
    let b = c.node_mut(2).add_pod("b");
    let p3 = c.node_mut(3).add_pod("c");
    // Routes into the gateway (the host's way to remote pods), flows to both peers.
    for i in 1..=3 {
        c.wait_routes(i, "two peer routes into the gateway", |r| r.len() == 2 && r.iter().all(|l| l.contains("dev pfgw-br-int")));
        c.wait_flows(i, "tunnel flows for both peers", |f| f.iter().filter(|l| l.contains("table=5") && l.contains("tun_src=")).count() == 2);
    }
    let f1 = c.flows(1);
    assert_eq!(with(&f1, "tun_src=192.0.2.12").len(), 1, "{f1:#?}");
    assert!(with(&f1, "set_field:192.0.2.13->tun_dst").len() == 1, "{f1:#?}");
    if std::env::var_os("PODFLOW_SHOW_FLOWS").is_some() {
        eprintln!("node 1's flows for peer n2 and the tunnel port:\n{}", f1.iter().filter(|l| l.contains("059f")).cloned().collect::<Vec<_>>().join("\n"));
        eprintln!("all of node 1's flows:\n{}", f1.join("\n"));
    }
    // A foreign flow on node 1 (no podflow cookie) must survive every peer change.
    c.node(1).sb.ofctl("add-flow", common::node::BRIDGE, &["cookie=0x1234,table=30,priority=5,ip,nw_dst=203.0.113.9,actions=drop"]).unwrap();
    // Pods' MTU accounts for the tunnel.
    assert!(a.exec(&["ip", "link", "show", "eth0"]).1.contains("mtu 1450"), "{}", a.exec(&["ip", "link"]).1);

    // ICMP, TCP and UDP between pods on different nodes.
    assert!(reaches(&a, &b.ip), "ICMP n1 -> n2\n{}", geneve_state(&c));
    assert!(reaches(&a, &p3.ip), "ICMP n1 -> n3");
    assert!(reaches(&p3, &b.ip), "ICMP n3 -> n2");
    assert_eq!(traffic::tcp(&b.netns, &b.ip, 7070, &a.netns), Ok(256 * 1024), "TCP n1 -> n2");
    assert_eq!(traffic::tcp(&a.netns, &a.ip, 7070, &p3.netns), Ok(256 * 1024), "TCP n3 -> n1");
    assert_eq!(traffic::udp_both_ways(&a.netns, &a.ip, &b.netns, &b.ip, 7071), (true, true), "UDP n1 <-> n2 (from the sender's own address)");
    // The host to a remote pod (route into the gateway, ARP answered by the pipeline).
    let n1 = &c.node(1).sb;
    assert!((0..5).any(|_| n1.exec(&["ping", "-c", "1", "-W", "1", &b.ip]).is_ok()), "node 1's host -> pod on node 2");

    // The spoof guard: node 2 rewrites the source of b's datagrams with foreign
    // flows before they enter the tunnel. A source in node 3's pod CIDR (from
    // node 2's tunnel address) is dropped by node 1; one in node 2's passes.
    for (port, src) in [(7301, "198.18.3.77"), (7302, "198.18.2.77")] {
        let flow = format!("cookie=0x1234,table=30,priority=300,udp,nw_dst={},tp_dst={port},actions=set_field:{src}->nw_src,set_field:192.0.2.11->tun_dst,set_field:3->reg1,goto_table:40", a.ip);
        c.node(2).sb.ofctl("add-flow", common::node::BRIDGE, &[&flow]).unwrap();
    }
    let drops0 = tunnel_drops(&c, 1);
    let spoofed = udp_sources(&b, &a, 7301);
    // The datapath hands its flows' counters to the rules when its
    // revalidators run (every ~500 ms, later under load): poll.
    let counted = podflow::sandbox::wait_for(|| tunnel_drops(&c, 1) >= drops0 + 5, Duration::from_secs(10), "drops counted");
    let drops1 = tunnel_drops(&c, 1);
    let honest = udp_sources(&b, &a, 7302);
    assert!(spoofed.is_empty(), "node 1 delivered a spoofed inner source from node 2's tunnel: {spoofed:?}");
    assert!(counted.is_ok(), "node 1's tunnel table-miss did not count the spoofed datagrams ({drops0} -> {drops1})");
    assert!(honest.contains(&"198.18.2.77".parse().unwrap()), "a source inside node 2's pod CIDR must pass: {honest:?}");

    // Node 3 leaves the list: its routes and flows go on the others, and only those.
    c.write_peers(&[1, 2]);
    for i in 1..=2 {
        c.wait_routes(i, "node 3's route removed", |r| r.len() == 1 && !r.iter().any(|l| l.starts_with("198.18.3.")));
        c.wait_flows(i, "node 3's flows removed", |f| !f.iter().any(|l| l.contains("192.0.2.13") || l.contains("198.18.3.0")));
    }
    assert_eq!(with(&c.flows(1), "cookie=0x1234").len(), 1, "the foreign flow must survive");
    assert!(!a.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", &p3.ip]).0, "node 1 still reaches node 3's pod");
    assert!(reaches(&a, &b.ip), "n1 -> n2 after node 3 left");

    // A fourth node joins later.
    c.write_peers(&[1, 2, 4]);
    c.add_node(4).start_agent();
    c.wait_uplink(4);
    let d = c.node_mut(4).add_pod("d");
    for i in [1, 2, 4] {
        c.wait_flows(i, "tunnel flows for both other nodes", |f| f.iter().filter(|l| l.contains("table=5") && l.contains("tun_src=")).count() == 2);
    }
    assert!(reaches(&a, &d.ip), "ICMP n1 -> n4");
    assert!(reaches(&d, &b.ip), "ICMP n4 -> n2");
    assert_eq!(traffic::tcp(&d.netns, &d.ip, 7072, &b.netns), Ok(256 * 1024), "TCP n2 -> n4");
    assert_eq!(with(&c.flows(1), "cookie=0x1234").len(), 1, "the foreign flow must survive");

    // `podflow nodes` shows the peers' flows acknowledged.
    let (ok, out) = c.node(1).podflow(&["nodes"]);
    assert!(ok, "{out}");
    let line = |n: &str| out.lines().find(|l| l.starts_with(n)).unwrap_or_default().to_string();
    assert!(line("n2 ").contains("Installed (round"), "{out}");
    assert!(line("n4 ").contains("Installed (round"), "{out}");
    // The peer metrics and the tunnel port's packet counters are exported
    // (ovs-vswitchd refreshes Interface statistics every 5 s).
    let n1 = c.node(1);
    assert_eq!(n1.metric("podflow_peers_tunnelled"), 2.0);
    assert!(n1.metric("podflow_peer_flows") >= 3.0 + 2.0 * 3.0);
    let t0 = std::time::Instant::now();
    while n1.metric("podflow_tunnel_tx_packets_total") == 0.0 || n1.metric("podflow_tunnel_rx_packets_total") == 0.0 {
        assert!(t0.elapsed() < Duration::from_secs(15), "the tunnel port's counters stay at 0:\n{}", n1.http_get("/metrics"));
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// IPv6 pod CIDRs ride the same (IPv4) tunnel: ICMPv6, TCP and UDP between
/// dual-stack pods on two nodes.
#[test]
fn geneve_ipv6_pods_talk_through_the_ipv4_tunnel() {
    let _shared = SERIAL.blocking_read();
    let Some(mut c) = Cluster::new("gn6", "geneve") else { return };
    c.ipv6 = true;
    c.write_peers(&[1, 2]);
    for i in 1..=2 {
        c.add_node(i).start_agent();
    }
    for i in 1..=2 {
        c.wait_uplink(i);
        c.wait_flows(i, "IPv4 and IPv6 tunnel flows for the peer", |f| f.iter().filter(|l| l.contains("table=5") && l.contains("tun_src=")).count() == 2);
    }
    let a = c.node_mut(1).add_pod("a");
    let b = c.node_mut(2).add_pod("b");
    let (a6, b6) = (a.ip6.clone().expect("an IPv6 address"), b.ip6.clone().expect("an IPv6 address"));
    assert!((0..5).any(|_| a.exec(&["ping", "-6", "-c", "1", "-W", "1", &b6]).0), "ICMPv6 n1 -> n2\n{}", geneve_state(&c));
    assert_eq!(traffic::tcp(&b.netns, &b6, 7080, &a.netns), Ok(256 * 1024), "TCP over IPv6 n1 -> n2");
    assert_eq!(traffic::udp_both_ways(&a.netns, &a6, &b.netns, &b6, 7081), (true, true), "UDP over IPv6 n1 <-> n2");
    assert!(reaches(&a, &b.ip), "IPv4 n1 -> n2 on the same tunnel");
}


fn unix_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// When the agent's round `round` acknowledged the peers (its log line
/// `peers acknowledged round=R unix_ns=T`).
fn peers_acked_ns(log: &str, round: u16) -> Option<u64> {
    log.lines().filter(|l| l.contains("peers acknowledged")).map(strip_ansi).find_map(|l| {
        let field = |k: &str| l.split_whitespace().find_map(|w| w.strip_prefix(k)).and_then(|v| v.parse::<u64>().ok());
        (field("round=")? == u64::from(round)).then(|| field("unix_ns="))?
    })
}

/// The log line without terminal colour sequences (`ESC [ … m`).
fn strip_ansi(l: &str) -> String {
    let mut out = String::new();
    let mut esc = false;
    for ch in l.chars() {
        match (esc, ch) {
            (false, '\x1b') => esc = true,
            (true, 'm') => esc = false,
            (true, _) => {}
            (false, c) => out.push(c),
        }
    }
    out
}

struct RestartOutcome {
    removed_ns: u64,
    last_pod_ack_ns: u64,
    peers_ack_ns: Option<u64>,
    probes: Vec<traffic::UdpProbe>,
}

impl RestartOutcome {
    fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.removed_ns <= self.last_pod_ack_ns {
            v.push(format!("flow-restore-wait was removed {} µs before the last pod acknowledgement", (self.last_pod_ack_ns - self.removed_ns) / 1000));
        }
        match self.peers_ack_ns {
            None => v.push("the new round never acknowledged the peers".into()),
            Some(p) if self.removed_ns <= p => v.push(format!("flow-restore-wait was removed {} µs before the peers were acknowledged", (p - self.removed_ns) / 1000)),
            Some(_) => {}
        }
        let grace = podflow::demo::GRACE;
        let lost: Vec<u32> = self.probes.iter().filter(|p| p.sent_unix_ns > self.removed_ns + grace.as_nanos() as u64 && !p.replied).map(|p| p.seq).collect();
        if !lost.is_empty() {
            v.push(format!("{} UDP probes node 1 -> node 2 sent more than {} ms after the key's removal were lost: {lost:?}", lost.len(), grace.as_millis()));
        }
        v
    }
}

/// How node 1's Open vSwitch goes down and comes back.
#[derive(Clone, Copy, PartialEq)]
enum Restart {
    /// `ovs-vswitchd` killed and started again, the key preset.
    Vswitchd,
    /// The whole OVS container: ovsdb-server and vswitchd killed, then
    /// started as its entrypoint does (ovsdb-server, key preset, vswitchd).
    WholeOvs,
}

async fn restart_node1(mode: &'static str, fault: Option<&str>, how: Restart) -> Option<RestartOutcome> {
    let mut c = Cluster::new(if mode == "geneve" { "gnrst" } else { "xnrst" }, mode)?;
    c.write_peers(&[1, 2]);
    for i in 1..=2 {
        let n = c.add_node(i);
        if i == 1 {
            n.fault = fault.map(str::to_string);
        }
        n.start_agent();
    }
    if mode == "geneve" {
        c.wait_uplink(1);
        c.wait_uplink(2);
    }
    let a = c.node_mut(1).add_pod("a");
    let b = c.node_mut(2).add_pod("b");
    c.wait_routes(1, "a route to node 2", |r| r.len() == 1);
    c.wait_routes(2, "a route to node 1", |r| r.len() == 1);
    assert!(reaches(&a, &b.ip), "pods must reach each other before the restart");

    let n1 = c.node(1);
    let addr: podflow::ovsdb::client::Address = n1.sb.db_addr().parse().unwrap();
    let monitor = || podflow::ovsdb::vswitch::FlowRestoreWaitLog::start(addr.clone(), tokio::time::Instant::now() + Duration::from_secs(10));
    let mut frw = monitor().await.unwrap();
    let prober = traffic::UdpProber::start(&a.netns, &a.ip, &b.netns, &b.ip, 7090, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let round = || n1.status().map(|s| s.round).unwrap_or(0);
    let r0 = round();
    n1.sb.vsctl(&["set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
    let preset_ns = unix_ns();
    n1.sb.kill_vswitchd().unwrap();
    if how == Restart::WholeOvs {
        n1.sb.kill_ovsdb().unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    if how == Restart::WholeOvs {
        n1.sb.start_ovsdb().unwrap();
        n1.sb.vsctl(&["set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
        // The monitor's old server is gone: watch the new one from here
        // (the key is set in it, vswitchd not started yet).
        frw = monitor().await.unwrap();
    }
    n1.sb.start_vswitchd().unwrap();
    let t0 = std::time::Instant::now();
    while !(round() > r0 && n1.status().is_some_and(|s| s.ready)) {
        assert!(t0.elapsed() < Duration::from_secs(30), "no new round; log:\n{}", n1.agent_log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let probes = prober.finish();
    let new_round = round();
    let removed_ns = frw.removed_after(preset_ns).unwrap_or_else(|| panic!("the monitor never saw the key removed; log:\n{}", n1.agent_log()));
    let last_pod_ack_ns = n1
        .pods_info()
        .iter()
        .map(|p| match &p.state {
            podflow::api::PodState::Ready { round, acked_unix_ns, .. } if *round == new_round => *acked_unix_ns,
            other => panic!("pod {:?} is {other:?} after the restart", p.key),
        })
        .max()
        .unwrap_or(0);
    let peers_ack_ns = peers_acked_ns(&n1.agent_log(), new_round);
    Some(RestartOutcome { removed_ns, last_pod_ack_ns, peers_ack_ns, probes })
}

/// Restarts node 1's OVS as `how` says and asserts the gate held: the key
/// went after every acknowledgement and no cross-node probe was lost after.
async fn expect_clean_restart(mode: &'static str, how: Restart, label: &str) {
    let _serial = SERIAL.write().await;
    let Some(o) = restart_node1(mode, None, how).await else { return };
    let v = o.violations();
    let lost = o.probes.iter().filter(|p| !p.replied).count();
    eprintln!("{label}: UDP probes n1 -> n2: {} sent, {lost} lost (while OVS was down or before the key's removal)", o.probes.len());
    eprintln!("{label}: key removed {} µs after the last pod ack, {} µs after the peers' ack", (o.removed_ns - o.last_pod_ack_ns.min(o.removed_ns)) / 1000, o.peers_ack_ns.map_or(0, |p| (o.removed_ns.saturating_sub(p)) / 1000));
    assert!(v.is_empty(), "{label}: {}", v.join("\n"));
}

/// The same restart with node 1's agent running `fault`: the checks of
/// [`expect_clean_restart`] must notice.
async fn expect_fault_caught(mode: &'static str, how: Restart, fault: &str) {
    let _serial = SERIAL.write().await;
    let Some(o) = restart_node1(mode, Some(fault), how).await else { return };
    let v = o.violations();
    eprintln!("{mode}, with {fault}: {}", v.join("\n"));
    assert!(!v.is_empty(), "the {mode} restart test did not notice the fault {fault}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_key_removed_after_pods_and_peers_acked_and_no_cross_node_probe_lost() {
    expect_clean_restart("noencap", Restart::Vswitchd, "noencap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_check_catches_a_key_removed_before_the_replay() {
    expect_fault_caught("noencap", Restart::Vswitchd, "clear-flow-restore-wait-early").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_geneve_key_removed_after_peer_flows_acked_and_no_cross_node_probe_lost() {
    expect_clean_restart("geneve", Restart::Vswitchd, "geneve").await;
}

/// The gate needs the peers participant: with the rounds not waiting for
/// the peers (their flows go in 300 ms after the key's removal), the
/// Geneve restart check must fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_geneve_check_catches_a_gate_without_the_peers_participant() {
    expect_fault_caught("geneve", Restart::Vswitchd, "skip-peers-participant").await;
}

/// The same story when node 1's whole OVS container restarts (the OVSDB
/// state is re-read too): the key goes only after the pods' and the peers'
/// flows are acknowledged by the new switch, and no cross-node probe is
/// lost after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_geneve_whole_ovs_key_removed_after_peer_flows_acked() {
    expect_clean_restart("geneve", Restart::WholeOvs, "geneve, whole OVS").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_geneve_whole_ovs_check_catches_a_gate_without_the_peers_participant() {
    expect_fault_caught("geneve", Restart::WholeOvs, "skip-peers-participant").await;
}
