//! Egress masquerade and Services through the host's kube-proxy, end to
//! end: the real agent and CNI plugin, a sandboxed userspace Open vSwitch,
//! the node's kernel (nftables, conntrack, routing) in the sandbox's
//! namespace, and an "outside" namespace behind the node.
//!
//! Topology (all addresses from test ranges):
//!
//! ```text
//!  pod a, pod b ── br-int ── pfgw-br-int 198.18.0.1/24   [node namespace]   up0 192.0.2.1/24 ── eth0 192.0.2.2/24   [outside]
//!                                                                                                  lo 203.0.113.10/32
//! ```
//!
//! The outside namespace has no route to the pod CIDR: only a connection
//! that leaves the node with the node's address can be answered.

mod common;

use common::node::{Node, BRIDGE};
use podflow::host::netns::run_in_netns;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NODE_UPLINK_IP: &str = "192.0.2.1";
const OUTSIDE_LINK_IP: &str = "192.0.2.2";
const OUTSIDE_IP: &str = "203.0.113.10";
const CLUSTER_IP: &str = "198.51.100.10";
const CLUSTER_IP_HOST_BACKEND: &str = "198.51.100.11";

/// Runs `ip netns exec NETNS ARGS…`, panicking with its stderr on failure.
fn exec(netns: &str, args: &[&str]) -> String {
    let out = Command::new("ip").args(["netns", "exec", netns]).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} in {netns}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Applies an nft script (text) in `netns`.
fn nft_script(netns: &str, script: &str) {
    let mut c = Command::new("ip").args(["netns", "exec", netns, "nft", "-f", "-"]).stdin(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "nft -f - in {netns}: {}\n{script}", String::from_utf8_lossy(&out.stderr));
}

/// The namespace's whole ruleset as nft's JSON objects (metainfo left out).
fn ruleset(netns: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&exec(netns, &["nft", "-j", "list", "ruleset"])).unwrap();
    v["nftables"].as_array().unwrap().iter().filter(|o| o.get("metainfo").is_none()).cloned().collect()
}

/// Whether an object of `nft -j list ruleset` belongs to table `family name`.
fn in_table(o: &Value, family: &str, name: &str) -> bool {
    let (_, inner) = o.as_object().unwrap().iter().next().unwrap();
    let t = if o.get("table").is_some() { inner.get("name") } else { inner.get("table") };
    inner.get("family").and_then(Value::as_str) == Some(family) && t.and_then(Value::as_str) == Some(name)
}

fn without_table(rs: &[Value], family: &str, name: &str) -> Vec<Value> {
    rs.iter().filter(|o| !in_table(o, family, name)).cloned().collect()
}

/// The objects of one table, handles removed (they change when it is re-created).
fn table_content(rs: &[Value], family: &str, name: &str) -> Vec<Value> {
    rs.iter()
        .filter(|o| in_table(o, family, name))
        .map(|o| {
            let mut o = o.clone();
            if let Some(inner) = o.as_object_mut().unwrap().values_mut().next().and_then(Value::as_object_mut) {
                inner.remove("handle");
            }
            o
        })
        .collect()
}

/// A TCP server in a namespace that answers every connection with
/// `<tag> <the client address it saw>` and stops when dropped.
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(netns: &str, at: &str, tag: &'static str) -> Server {
        let at: SocketAddr = at.parse().unwrap();
        let listener = run_in_netns(Some(netns), move || Ok(TcpListener::bind(at)?)).unwrap_or_else(|e| panic!("listen on {at} in {netns}: {e}"));
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, peer)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
                        let _ = c.write_all(format!("{tag} {}\n", peer.ip()).as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { stop, thread: Some(thread) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects from `netns` to `at` and returns the server's answer line.
fn fetch(netns: &str, at: &str) -> Result<String, String> {
    let at: SocketAddr = at.parse().unwrap();
    let t = Duration::from_secs(3);
    let mut c = run_in_netns(Some(netns), move || Ok(TcpStream::connect_timeout(&at, t)?)).map_err(|e| format!("connect to {at}: {e}"))?;
    c.set_read_timeout(Some(t)).unwrap();
    let mut s = String::new();
    c.read_to_string(&mut s).map_err(|e| format!("answer from {at}: {e}"))?;
    Ok(s.trim().to_string())
}

/// The node's uplink to the outside namespace, and forwarding on (as on
/// every Kubernetes node).
fn wire_outside(node: &mut Node) -> String {
    let out = node.sb.add_netns("out").unwrap();
    let n = node.sb.netns.clone();
    exec(&n, &["ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", &out]);
    exec(&n, &["ip", "addr", "add", &format!("{NODE_UPLINK_IP}/24"), "dev", "up0"]);
    exec(&n, &["ip", "link", "set", "up0", "up"]);
    exec(&n, &["ip", "route", "add", &format!("{OUTSIDE_IP}/32"), "via", OUTSIDE_LINK_IP]);
    exec(&n, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    exec(&out, &["ip", "addr", "add", &format!("{OUTSIDE_LINK_IP}/24"), "dev", "eth0"]);
    exec(&out, &["ip", "addr", "add", &format!("{OUTSIDE_IP}/32"), "dev", "lo"]);
    exec(&out, &["ip", "link", "set", "eth0", "up"]);
    // Offloads off on the veth, as the agent does for pods (the pods' TCP
    // crosses the userspace datapath to and from the gateway).
    let _ = Command::new("ip").args(["netns", "exec", &out, "ethtool", "-K", "eth0", "tx", "off"]).output();
    let _ = Command::new("ip").args(["netns", "exec", &n, "ethtool", "-K", "up0", "tx", "off"]).output();
    out
}

/// A foreign table and rule, as a node's firewall or kube-proxy would have.
const FOREIGN: &str = "table inet pftest-foreign {
    chain postrouting {
        type nat hook postrouting priority srcnat + 10; policy accept;
        ip daddr 203.0.113.99 tcp dport 9 accept comment \"foreign rule\"
    }
}
";

#[test]
fn egress_is_masqueraded_and_cleanup_removes_only_the_agents_table() {
    let Some(mut node) = Node::new("egress") else { return };
    let n = node.sb.netns.clone();
    nft_script(&n, FOREIGN);
    let before_agent = ruleset(&n);
    node.start_agent();

    // The agent's table is there, and nothing else changed.
    let with_agent = ruleset(&n);
    assert!(!table_content(&with_agent, "inet", "podflow").is_empty(), "no table inet podflow after the agent started: {with_agent:?}");
    assert_eq!(without_table(&with_agent, "inet", "podflow"), before_agent, "the agent changed a foreign table");
    let ours = table_content(&with_agent, "inet", "podflow");

    let out = wire_outside(&mut node);
    let a = node.add_pod("a");
    let _server = Server::start(&out, &format!("{OUTSIDE_IP}:8080"), "outside");
    // The outside sees the node's address, and its answer reaches the pod.
    assert_eq!(fetch(&a.netns, &format!("{OUTSIDE_IP}:8080")), Ok(format!("outside {NODE_UPLINK_IP}")), "pod a to the outside\nagent log:\n{}", node.agent_log());

    // A restarted agent re-creates its table exactly (a stray rule added
    // to it is gone) and leaves the foreign one alone.
    exec(&n, &["nft", "add", "rule", "inet", "podflow", "postrouting", "ip", "daddr", "203.0.113.98", "accept"]);
    node.stop_agent();
    node.start_agent();
    let restarted = ruleset(&n);
    assert_eq!(table_content(&restarted, "inet", "podflow"), ours, "the restarted agent's table differs");
    assert_eq!(without_table(&restarted, "inet", "podflow"), before_agent);
    assert_eq!(fetch(&a.netns, &format!("{OUTSIDE_IP}:8080")), Ok(format!("outside {NODE_UPLINK_IP}")), "pod a to the outside after the restart");

    // --cleanup removes exactly the agent's table; twice is fine.
    node.stop_agent();
    for _ in 0..2 {
        exec(&n, &[env!("CARGO_BIN_EXE_podflow"), "agent", "--cleanup"]);
        assert_eq!(ruleset(&n), before_agent, "--cleanup left something or took something foreign");
    }
    // Without the masquerade the outside cannot answer the pod: the check
    // above depends on the agent's rule.
    let r = fetch(&a.netns, &format!("{OUTSIDE_IP}:8080"));
    assert!(r.is_err(), "pod a reached the outside without the masquerade: {r:?}");
}

/// A kube-proxy-style DNAT (what `KUBE-SERVICES` does), in a foreign table.
fn kube_proxy_rules(netns: &str, pod_backend: &str) {
    nft_script(
        netns,
        &format!(
            "table ip pftest-kube-proxy {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr {CLUSTER_IP} tcp dport 80 dnat to {pod_backend}:8080
        ip daddr {CLUSTER_IP_HOST_BACKEND} tcp dport 80 dnat to {NODE_UPLINK_IP}:8081
    }}
}}
"
        ),
    );
}

#[test]
fn services_with_a_same_node_backend_need_the_gateway_conntrack_flows() {
    let Some(mut node) = Node::new("svc") else { return };
    node.start_agent();
    let n = node.sb.netns.clone();
    let _out = wire_outside(&mut node);
    let client = node.add_pod("client");
    let backend = node.add_pod("backend");
    kube_proxy_rules(&n, &backend.ip);
    let _pod_server = Server::start(&backend.netns, &format!("{}:8080", backend.ip), "backend-pod");
    let _host_server = Server::start(&n, &format!("{NODE_UPLINK_IP}:8081"), "backend-host");
    let log = || node.agent_log();

    // Through the ClusterIP to the pod on this node: the backend sees the
    // client's own address (no SNAT), the client sees the Service answer.
    // Twice: a second connection must not be sent around the node.
    for i in 0..2 {
        assert_eq!(fetch(&client.netns, &format!("{CLUSTER_IP}:80")), Ok(format!("backend-pod {}", client.ip)), "connection {i} to the ClusterIP\nagent log:\n{}", log());
    }
    // To a backend on the node's host network.
    for i in 0..2 {
        assert_eq!(fetch(&client.netns, &format!("{CLUSTER_IP_HOST_BACKEND}:80")), Ok(format!("backend-host {}", client.ip)), "connection {i} to the host-network backend");
    }
    // Straight to the backend pod, as before.
    assert_eq!(fetch(&client.netns, &format!("{}:8080", backend.ip)), Ok(format!("backend-pod {}", client.ip)));

    // The same with the conntrack tables bypassed (a foreign flow sends
    // everything from the ARP table's successor straight to L3): the
    // backend's reply goes straight to the client, which never sees the
    // Service's address, so the connection fails. Direct pod-to-pod TCP and
    // the host-network backend keep working.
    let bypass = "table=25,priority=1000,actions=goto_table:30";
    node.sb.ofctl("add-flow", BRIDGE, &[bypass]).unwrap();
    let r = fetch(&client.netns, &format!("{CLUSTER_IP}:80"));
    assert!(r.is_err(), "the ClusterIP answered without the conntrack flows: {r:?}");
    assert_eq!(fetch(&client.netns, &format!("{}:8080", backend.ip)), Ok(format!("backend-pod {}", client.ip)));
    assert_eq!(fetch(&client.netns, &format!("{CLUSTER_IP_HOST_BACKEND}:80")), Ok(format!("backend-host {}", client.ip)));
    node.sb.ofctl("del-flows", BRIDGE, &["--strict", "table=25,priority=1000"]).unwrap();
    assert_eq!(fetch(&client.netns, &format!("{CLUSTER_IP}:80")), Ok(format!("backend-pod {}", client.ip)), "the ClusterIP once the bypass is gone");

    // The gate counted the new flows: they are in the table the agent
    // reports ready with, with their own cookie category (4).
    let flows = node.sb.ofctl("dump-flows", BRIDGE, &["--no-stats"]).unwrap();
    let ct: Vec<&str> = flows.lines().filter(|l| l.contains(" table=25,") || l.contains(" table=26,")).collect();
    assert_eq!(ct.len(), 8, "{flows}");
    assert!(ct.iter().all(|l| l.contains("cookie=0x") && l.contains("049f")), "{ct:?}");
}

/// The agent's rules for both families, applied by the kernel as the agent
/// applies them (`nft -j -f -`, one transaction), without Open vSwitch: a
/// "pod" namespace behind a veth whose node end plays the gateway. IPv6
/// pods are the `dualstack` work; this proves the IPv6 masquerade rule
/// itself, and the IPv4 one beside it.
#[test]
fn the_rules_masquerade_both_families_in_the_kernel() {
    use common::netns::{can_run, TestNetns};
    use podflow::egress::EgressRules;
    if !can_run() {
        return;
    }
    if Command::new("nft").arg("--version").output().is_err() {
        assert!(!common::in_ci(), "CI must run this test, but `nft` is missing (apt-get install nftables)");
        eprintln!("SKIPPED: `nft` is missing (apt-get install nftables)");
        return;
    }
    let (pod, node, out) = (TestNetns::new("egpod"), TestNetns::new("egnode"), TestNetns::new("egout"));
    node.ip(&["link", "add", "pfgw-test", "type", "veth", "peer", "name", "eth0", "netns", &pod.name]);
    node.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", &out.name]);
    for (ns, dev, addrs) in [
        (&node, "pfgw-test", ["198.18.5.1/24", "fd00:18:5::1/64"]),
        (&pod, "eth0", ["198.18.5.2/24", "fd00:18:5::2/64"]),
        (&node, "up0", ["192.0.2.1/24", "2001:db8:1::1/64"]),
        (&out, "eth0", ["192.0.2.2/24", "2001:db8:1::2/64"]),
    ] {
        for a in addrs {
            ns.ip(&["addr", "add", a, "dev", dev, "nodad"]);
        }
        ns.ip(&["link", "set", dev, "up"]);
    }
    pod.ip(&["route", "add", "default", "via", "198.18.5.1"]);
    pod.ip(&["-6", "route", "add", "default", "via", "fd00:18:5::1"]);
    exec(&node.name, &["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"]);

    let pods: Vec<ipnet::IpNet> = vec!["198.18.5.0/24".parse().unwrap(), "fd00:18:5::/64".parse().unwrap()];
    let rules = EgressRules::new(&pods, &[], "pfgw-test").unwrap();
    let apply = |script: Value| {
        let mut c = Command::new("ip").args(["netns", "exec", &node.name, "nft", "-j", "-f", "-"]).stdin(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        c.stdin.take().unwrap().write_all(script.to_string().as_bytes()).unwrap();
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "nft: {}", String::from_utf8_lossy(&o.stderr));
    };
    let _s4 = Server::start(&out.name, "192.0.2.2:8080", "outside");
    let _s6 = Server::start(&out.name, "[2001:db8:1::2]:8080", "outside");
    // Without the rules the outside has no way back to the pods.
    assert!(fetch(&pod.name, "192.0.2.2:8080").is_err());
    assert!(fetch(&pod.name, "[2001:db8:1::2]:8080").is_err());
    apply(rules.install_script());
    assert_eq!(fetch(&pod.name, "192.0.2.2:8080"), Ok("outside 192.0.2.1".to_string()));
    assert_eq!(fetch(&pod.name, "[2001:db8:1::2]:8080"), Ok("outside 2001:db8:1::1".to_string()));
    // Traffic to the node itself and from the node to the pod stays as it is.
    let _p = Server::start(&pod.name, "[fd00:18:5::2]:8081", "pod");
    assert_eq!(fetch(&node.name, "[fd00:18:5::2]:8081"), Ok("pod fd00:18:5::1".to_string()));
    apply(podflow::egress::rules::remove_script());
    assert!(ruleset(&node.name).is_empty());
}

/// The same on a dual-stack node, over IPv6: egress to the outside leaves
/// with the node's IPv6 address, and a ClusterIP (IPv6, DNAT in the node's
/// nftables) whose backend is a pod on the same node answers; with the
/// conntrack tables bypassed it does not.
#[test]
fn ipv6_egress_and_services_on_a_dual_stack_node() {
    let Some(mut node) = Node::with_ipv6("egress6", true) else { return };
    node.start_agent();
    let n = node.sb.netns.clone();
    let out = wire_outside(&mut node);
    exec(&n, &["ip", "addr", "add", "2001:db8:1::1/64", "dev", "up0", "nodad"]);
    exec(&out, &["ip", "addr", "add", "2001:db8:1::2/64", "dev", "eth0", "nodad"]);
    exec(&out, &["ip", "addr", "add", "2001:db8:2::10/128", "dev", "lo"]);
    exec(&n, &["ip", "-6", "route", "add", "2001:db8:2::10/128", "via", "2001:db8:1::2"]);
    let client = node.add_pod("client");
    let backend = node.add_pod("backend");
    let (c6, b6) = (client.ip6.clone().expect("an IPv6 address"), backend.ip6.clone().expect("an IPv6 address"));
    let _outside = Server::start(&out, "[2001:db8:2::10]:8080", "outside");
    assert_eq!(fetch(&client.netns, "[2001:db8:2::10]:8080"), Ok("outside 2001:db8:1::1".to_string()), "IPv6 egress\nagent log:\n{}", node.agent_log());

    nft_script(
        &n,
        &format!(
            "table ip6 pftest-kube-proxy6 {{
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        ip6 daddr 2001:db8:100::10 tcp dport 80 dnat to [{b6}]:8080
    }}
}}
"
        ),
    );
    let _pod_server = Server::start(&backend.netns, &format!("[{b6}]:8080"), "backend-pod");
    for i in 0..2 {
        assert_eq!(fetch(&client.netns, "[2001:db8:100::10]:80"), Ok(format!("backend-pod {c6}")), "IPv6 connection {i} to the ClusterIP\nagent log:\n{}", node.agent_log());
    }
    node.sb.ofctl("add-flow", BRIDGE, &["table=25,priority=1000,actions=goto_table:30"]).unwrap();
    let r = fetch(&client.netns, "[2001:db8:100::10]:80");
    assert!(r.is_err(), "the IPv6 ClusterIP answered without the conntrack flows: {r:?}");
    assert_eq!(fetch(&client.netns, &format!("[{b6}]:8080")), Ok(format!("backend-pod {c6}")), "IPv6 pod to pod");
}
