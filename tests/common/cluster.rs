//! Several test nodes joined by an underlay: each node is a [`Node`] (its
//! own namespace, private Open vSwitch and `podflow agent`), with a veth
//! `eth0` (192.0.2.(10+i)/24) into a Linux bridge in a fourth namespace,
//! pod CIDR 198.18.i.0/24, and peers from one JSON file (`--nodes-from
//! file:`) that the test rewrites atomically. Everything is removed on
//! drop, also when the test fails.
//!
//! Mode `geneve`: the underlay bridge holds 192.0.2.1 (the uplink probe's
//! target), and each agent runs with `--secondary-bridge br-phy:eth0`, so
//! the real agent moves the node's `eth0` into `br-phy` (the userspace
//! tunnelling layout: the node address on an internal port of the bridge
//! that holds the NIC) once its first round is done; [`Cluster::wait_uplink`]
//! waits for that.
#![allow(dead_code)]

use super::netns::TestNetns;
use super::node::Node;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Cluster {
    /// Dropped first: the agents stop before their namespaces go.
    pub nodes: Vec<(usize, Node)>,
    pub underlay: TestNetns,
    pub dir: PathBuf,
    /// Removed by a signal that ends the test process too.
    _leftover: podflow::sandbox::Registration,
    pub mode: &'static str,
    /// Nodes added from now on are dual-stack: pod CIDR fd00:i::/64 too
    /// (in the peer list as well), IPv6 forwarding on.
    pub ipv6: bool,
    tag: String,
}

pub fn node_name(i: usize) -> String {
    format!("n{i}")
}
pub fn node_ip(i: usize) -> String {
    format!("192.0.2.{}", 10 + i)
}
pub fn pod_cidr(i: usize) -> String {
    format!("198.18.{i}.0/24")
}
/// Node `i`'s IPv6 pod CIDR (dual-stack clusters).
pub fn pod_cidr6(i: usize) -> String {
    format!("fd00:{i}::/64")
}
/// The underlay's own address (geneve mode: what the uplink attach probes).
pub const UNDERLAY_ROUTER: &str = "192.0.2.1";
/// Geneve mode: the bridge each node's `eth0` is moved into.
pub const UPLINK_BRIDGE: &str = "br-phy";

impl Cluster {
    /// An underlay and an empty peer list; `None` (printed why) where the
    /// test cannot run.
    pub fn new(tag: &str, mode: &'static str) -> Option<Cluster> {
        let why = podflow::sandbox::unavailable_reason().or_else(|| {
            (!std::path::Path::new("/usr/lib/cni/host-local").exists()).then(|| "/usr/lib/cni/host-local is missing (apt-get install containernetworking-plugins)".to_string())
        });
        if let Some(why) = why {
            if super::in_ci() {
                panic!("CI must run the multi-node tests, but: {why}");
            }
            eprintln!("SKIPPED: {why}");
            return None;
        }
        let underlay = TestNetns::new(&format!("{tag}ul"));
        underlay.ip(&["link", "add", "br0", "type", "bridge"]);
        underlay.ip(&["link", "set", "br0", "up"]);
        if mode == "geneve" {
            underlay.ip(&["addr", "add", &format!("{UNDERLAY_ROUTER}/24"), "dev", "br0"]);
        }
        let dir = std::env::temp_dir().join(format!("podflow-{}", underlay.name));
        let creating = podflow::sandbox::leftovers::creating();
        let _leftover = podflow::sandbox::leftovers::register([podflow::sandbox::Leftover::Dir(dir.clone())]);
        std::fs::create_dir_all(&dir).unwrap();
        drop(creating);
        let c = Cluster { nodes: vec![], underlay, dir, mode, ipv6: false, tag: tag.to_string(), _leftover };
        c.write_peers(&[]);
        Some(c)
    }

    pub fn peers_file(&self) -> PathBuf {
        self.dir.join("nodes.json")
    }

    /// Writes the peer list with nodes `ids` (atomically: write, rename).
    pub fn write_peers(&self, ids: &[usize]) {
        let list: Vec<serde_json::Value> = ids
            .iter()
            .map(|&i| {
                let cidrs = if self.ipv6 { vec![pod_cidr(i), pod_cidr6(i)] } else { vec![pod_cidr(i)] };
                serde_json::json!({"name": node_name(i), "podCIDRs": cidrs, "internalIPs": [node_ip(i)]})
            })
            .collect();
        let tmp = self.dir.join("nodes.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&list).unwrap()).unwrap();
        std::fs::rename(&tmp, self.peers_file()).unwrap();
    }

    /// Creates node `i` (not started): its underlay link, forwarding on,
    /// its pod CIDR and the agent's peer arguments.
    pub fn add_node(&mut self, i: usize) -> &mut Node {
        let mut node = Node::new(&format!("{}{i}", self.tag)).expect("a node");
        node.cidrs = vec![(pod_cidr(i), format!("198.18.{i}.1"))];
        let ns = node.sb.netns.clone();
        let ul = format!("n{i}");
        self.underlay.ip(&["link", "add", &ul, "type", "veth", "peer", "name", "eth0", "netns", &ns]);
        self.underlay.ip(&["link", "set", &ul, "master", "br0", "up"]);
        let nip = |args: &[&str]| super::netns::ip(&[&["-n", ns.as_str()], args].concat());
        nip(&["addr", "add", &format!("{}/24", node_ip(i)), "dev", "eth0"]);
        nip(&["link", "set", "eth0", "up"]);
        node.sb.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]).unwrap();
        if self.ipv6 {
            node.cidrs.push((pod_cidr6(i), format!("fd00:{i}::1")));
            node.sb.exec(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]).unwrap();
        }
        node.extra_args = vec![
            "--nodes-from".into(),
            format!("file:{}", self.peers_file().display()),
            "--node-name".into(),
            node_name(i),
            "--traffic-mode".into(),
            self.mode.into(),
        ];
        if self.mode == "geneve" {
            node.extra_args.extend(["--secondary-bridge".into(), format!("{UPLINK_BRIDGE}:eth0"), "--secondary-probe".into(), UNDERLAY_ROUTER.into()]);
        }
        self.nodes.push((i, node));
        &mut self.nodes.last_mut().unwrap().1
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes.iter().find(|(n, _)| *n == i).expect("no such node").1
    }

    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes.iter_mut().find(|(n, _)| *n == i).expect("no such node").1
    }

    /// podflow's routes (`proto 159`) in node `i`'s kernel, sorted.
    pub fn routes(&self, i: usize) -> Vec<String> {
        let ns = &self.node(i).sb.netns;
        let mut v: Vec<String> = super::netns::ip(&["-n", ns, "route", "show", "proto", "159"]).lines().map(|l| l.trim().to_string()).collect();
        v.sort();
        v
    }

    /// Waits (bounded) until `cond` holds on node `i`'s routes; panics with
    /// what was there and the agent's log otherwise.
    pub fn wait_routes(&self, i: usize, what: &str, cond: impl Fn(&[String]) -> bool) {
        let t0 = Instant::now();
        loop {
            let r = self.routes(i);
            if cond(&r) {
                return;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                panic!("node {i}: {what}; routes now: {r:?}\nagent log:\n{}", self.node(i).agent_log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Cluster {
    /// Geneve mode: waits (bounded) until node `i`'s agent moved `eth0`
    /// into [`UPLINK_BRIDGE`] (the NIC renamed `eth0~` is a port of it and
    /// the bridge has its flows).
    pub fn wait_uplink(&self, i: usize) {
        let n = self.node(i);
        let t0 = Instant::now();
        loop {
            let ports = n.sb.vsctl(&["list-ports", UPLINK_BRIDGE]).unwrap_or_default();
            let flows = n.sb.ofctl("dump-flows", UPLINK_BRIDGE, &["--no-stats"]).unwrap_or_default();
            if ports.lines().any(|l| l == "eth0~") && flows.lines().filter(|l| l.contains("in_port")).count() >= 2 {
                return;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                panic!("node {i}: eth0 not attached to {UPLINK_BRIDGE}; ports {ports:?}, flows {flows}\nagent log:\n{}", n.agent_log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Node `i`'s pod bridge flows (`dump-flows --no-stats`), one per line.
    pub fn flows(&self, i: usize) -> Vec<String> {
        self.node(i).sb.ofctl("dump-flows", super::node::BRIDGE, &["--no-stats"]).unwrap().lines().map(|l| l.trim().to_string()).collect()
    }

    /// Waits (bounded) until `cond` holds on node `i`'s pod bridge flows.
    pub fn wait_flows(&self, i: usize, what: &str, cond: impl Fn(&[String]) -> bool) {
        let t0 = Instant::now();
        loop {
            let f = self.flows(i);
            if cond(&f) {
                return;
            }
            if t0.elapsed() > Duration::from_secs(20) {
                panic!("node {i}: {what}; flows now:\n{}\nagent log:\n{}", f.join("\n"), self.node(i).agent_log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.nodes.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
