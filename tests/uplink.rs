//! Uplink migration against a real userspace Open vSwitch: a node namespace
//! (the sandbox's, running ovsdb-server and ovs-vswitchd) and a router
//! namespace joined by a veth pair, laid out like the nodes clouds hand
//! out (see [`Layout`]). The node side is `eth1`; the router answers on
//! 192.0.2.1. The real `podflow uplink` binary runs inside the node
//! namespace. Never touches the machine's own interfaces; everything goes
//! with the sandbox, also when a test fails.

mod common;

use common::netns::ip;
use podflow::sandbox::{wait_for, Sandbox};
use std::time::{Duration, Instant};
use std::path::PathBuf;
use std::process::{Command, Output};

const BR: &str = "br-ext";
const NIC: &str = "eth1";
const ROUTER_IP: &str = "192.0.2.1";

/// Tests here start OVS and move links: one at a time keeps the 2-core
/// machine's timings sane.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The node layouts of issue 10. Each is built with `ip` in the node
/// namespace (`n`) and the router namespace (`r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// 192.0.2.2/24, `default via`, one more route with a metric.
    Simple,
    /// A multipath default route through two routers on the link.
    Ecmp,
    /// A default route through a nexthop object.
    NexthopObject,
    /// /32 address, scope-link route to the gateway, `onlink` default,
    /// a policy table, an IPv6 global address.
    Gcp,
    /// A secondary NIC whose only default route is in its own table,
    /// reached by `from <its address>`; the node's default is elsewhere.
    Aws,
    /// IPv4 and IPv6, the IPv6 default via a link-local router.
    DualStack,
    /// Simple, with a VLAN child on the NIC.
    Vlan,
    /// IPv6 only, the default via a link-local router: probed with
    /// neighbour solicitation.
    V6Only,
}

impl Layout {
    fn build(self, n: &str, r: &str) {
        let node = |args: &[&str]| ip(&[&["-n", n], args].concat());
        let router = |args: &[&str]| ip(&[&["-n", r], args].concat());
        router(&["addr", "add", "192.0.2.1/24", "dev", "rt0"]);
        router(&["addr", "add", "2001:db8::1/64", "dev", "rt0", "nodad"]);
        match self {
            Layout::Simple | Layout::Vlan => {
                node(&["addr", "add", "192.0.2.2/24", "dev", NIC]);
                // Not the default MTU, so that the internal port's MTU is a check.
                node(&["link", "set", NIC, "mtu", "1450"]);
                node(&["route", "add", "default", "via", ROUTER_IP]);
                node(&["route", "add", "198.51.100.0/24", "via", ROUTER_IP, "metric", "50"]);
                node(&["neigh", "add", "192.0.2.99", "lladdr", "02:00:00:00:00:99", "dev", NIC, "nud", "permanent"]);
                if self == Layout::Vlan {
                    // This test kernel may lack 8021q; macvlan is the same
                    // kind of stacked child, and the refusal names either.
                    let vlan = Command::new("ip").args(["-n", n, "link", "add", "link", NIC, "name", "eth1.100", "type", "vlan", "id", "100"]).output().unwrap();
                    if !vlan.status.success() {
                        eprintln!("no VLAN support in this kernel ({}); using a macvlan child", String::from_utf8_lossy(&vlan.stderr).trim());
                        node(&["link", "add", "link", NIC, "name", "eth1.100", "type", "macvlan"]);
                    }
                }
            }
            Layout::Ecmp => {
                router(&["addr", "add", "192.0.2.3/24", "dev", "rt0"]);
                node(&["addr", "add", "192.0.2.2/24", "dev", NIC]);
                node(&["route", "add", "default", "nexthop", "via", ROUTER_IP, "dev", NIC, "nexthop", "via", "192.0.2.3", "dev", NIC, "weight", "2"]);
            }
            Layout::NexthopObject => {
                node(&["addr", "add", "192.0.2.2/24", "dev", NIC]);
                node(&["nexthop", "add", "id", "10", "via", ROUTER_IP, "dev", NIC]);
                node(&["route", "add", "default", "nhid", "10"]);
            }
            Layout::Gcp => {
                node(&["addr", "add", "192.0.2.2/32", "dev", NIC]);
                node(&["-6", "addr", "add", "2001:db8::2/64", "dev", NIC]);
                node(&["route", "add", "192.0.2.1/32", "dev", NIC, "scope", "link"]);
                node(&["route", "add", "default", "via", ROUTER_IP, "dev", NIC, "onlink"]);
                node(&["rule", "add", "from", "192.0.2.2", "lookup", "100"]);
                node(&["route", "add", "198.51.100.0/24", "via", ROUTER_IP, "dev", NIC, "table", "100"]);
            }
            Layout::Aws => {
                node(&["link", "add", "eth0", "type", "veth", "peer", "name", "rt1", "netns", r]);
                node(&["addr", "add", "203.0.113.2/24", "dev", "eth0"]);
                node(&["link", "set", "eth0", "up"]);
                router(&["addr", "add", "203.0.113.1/24", "dev", "rt1"]);
                router(&["link", "set", "rt1", "up"]);
                node(&["route", "add", "default", "via", "203.0.113.1", "dev", "eth0"]);
                node(&["addr", "add", "192.0.2.2/24", "dev", NIC]);
                node(&["route", "add", "default", "via", ROUTER_IP, "dev", NIC, "table", "101"]);
                node(&["rule", "add", "from", "192.0.2.2", "lookup", "101"]);
            }
            Layout::V6Only => {
                router(&["addr", "add", "fe80::1/64", "dev", "rt0", "nodad"]);
                node(&["-6", "addr", "add", "2001:db8::2/64", "dev", NIC]);
                node(&["-6", "route", "add", "default", "via", "fe80::1", "dev", NIC]);
            }
            Layout::DualStack => {
                router(&["addr", "add", "fe80::1/64", "dev", "rt0", "nodad"]);
                node(&["addr", "add", "192.0.2.2/24", "dev", NIC]);
                node(&["-6", "addr", "add", "2001:db8::2/64", "dev", NIC]);
                node(&["route", "add", "default", "via", ROUTER_IP]);
                node(&["-6", "route", "add", "default", "via", "fe80::1", "dev", NIC, "pref", "high", "mtu", "1400"]);
            }
        }
    }

    /// What `attach` needs besides `--allow-primary`.
    fn attach_args(self) -> &'static [&'static str] {
        match self {
            Layout::Aws => &["--probe", ROUTER_IP],
            _ => &[],
        }
    }

    fn has_v6(self) -> bool {
        matches!(self, Layout::Gcp | Layout::DualStack | Layout::V6Only)
    }
}

struct Net {
    sb: Sandbox,
    router: String,
    state: PathBuf,
    layout: Layout,
}

impl Net {
    fn new(tag: &str) -> Option<Net> {
        Net::with(tag, Layout::Simple)
    }

    fn with(tag: &str, layout: Layout) -> Option<Net> {
        let mut sb = common::sandbox(tag)?;
        // A first bridge creates the userspace datapath's own device, so
        // that snapshots taken before and after attach compare equal.
        sb.add_bridge("br-int").unwrap();
        let router = sb.add_netns("rt").unwrap();
        let node = sb.netns.clone();
        ip(&["-n", &node, "link", "add", NIC, "type", "veth", "peer", "name", "rt0", "netns", &router]);
        ip(&["-n", &node, "link", "set", NIC, "up"]);
        ip(&["-n", &router, "link", "set", "rt0", "up"]);
        layout.build(&node, &router);
        let state = sb.dir.join("state");
        let net = Net { sb, router, state, layout };
        // IPv6 duplicate address detection on the new veth ends with a
        // change `ip -j addr` shows ("tentative"): wait for it, so that
        // snapshots compare what podflow did, not what DAD did.
        wait_for(|| !ip(&["-n", &net.sb.netns, "-j", "addr"]).contains("tentative"), Duration::from_secs(10), "IPv6 DAD").unwrap();
        wait_for(|| !ip(&["-n", &net.router, "-j", "addr"]).contains("tentative"), Duration::from_secs(10), "IPv6 DAD").unwrap();
        assert!(net.reachable(), "the router must answer before any attach");
        Some(net)
    }

    /// Runs `podflow ARGS… --ovs-rundir … --state-dir … --datapath-type netdev`
    /// inside the node namespace, with `env`.
    fn podflow(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.sb.netns, env!("CARGO_BIN_EXE_podflow")]).args(args);
        if args.first() == Some(&"uplink") && args.get(1) != Some(&"failpoints") {
            c.arg("--ovs-rundir").arg(&self.sb.dir).arg("--state-dir").arg(&self.state).args(["--datapath-type", "netdev"]);
        }
        c.env("RUST_LOG", "info");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn attach(&self, extra: &[&str], env: &[(&str, &str)]) -> Output {
        let mut a = vec!["uplink", "attach", "--bridge", BR, "--interface", NIC];
        a.extend_from_slice(extra);
        self.podflow(&a, env)
    }

    fn detach(&self) -> Output {
        self.podflow(&["uplink", "detach", "--bridge", BR, "--interface", NIC], &[])
    }

    /// Everything podflow may touch, as `ip -j` prints it: addresses,
    /// routes of every table and both families, rules, nexthop objects,
    /// and the NIC's link (MTU, MAC, state, txqueuelen).
    fn snapshot(&self) -> Vec<(&'static str, String)> {
        let n = self.sb.netns.as_str();
        vec![
            ("ip -j addr", ip(&["-n", n, "-j", "addr"])),
            ("ip -j -4 route show table all", ip(&["-n", n, "-j", "-4", "route", "show", "table", "all"])),
            ("ip -j -6 route show table all", ip(&["-n", n, "-j", "-6", "route", "show", "table", "all"])),
            ("ip -j rule", ip(&["-n", n, "-j", "rule"])),
            ("ip -j -6 rule", ip(&["-n", n, "-j", "-6", "rule"])),
            ("ip -j nexthop", ip(&["-n", n, "-j", "nexthop"])),
            ("ip -j link show eth1", ip(&["-n", n, "-j", "link", "show", NIC])),
            ("ip -j neigh show nud permanent", ip(&["-n", n, "-j", "neigh", "show", "nud", "permanent"])),
            ("accept_ra", self.sb.exec(&["cat", "/proc/sys/net/ipv6/conf/eth1/accept_ra"]).unwrap_or_default()),
        ]
    }

    fn assert_same(&self, before: &[(&'static str, String)], what: &str) {
        for (b, a) in before.iter().zip(self.snapshot()) {
            assert_eq!(a.1, b.1, "{what}: `{}` differs", b.0);
        }
    }

    /// ARP (podflow arping: every probe answered) and ICMP (ping) from the
    /// node to the router, in one of up to three attempts (a loaded CI
    /// machine may lose the first probe to an upcall).
    fn reachable(&self) -> bool {
        (0..3).any(|_| {
            let _ = Command::new("ip").args(["-n", &self.sb.netns, "neigh", "flush", "all"]).output();
            let v4 = self.layout != Layout::V6Only;
            let arp = !v4 || self.podflow(&["arping", "--netns", &self.sb.netns, "-I", NIC, "-c", "3", "--interval", "100ms", ROUTER_IP], &[]).status.success();
            let ping = !v4 || Command::new("ip").args(["netns", "exec", &self.sb.netns, "ping", "-c", "2", "-i", "0.2", "-W", "1", ROUTER_IP]).output().unwrap().status.success();
            let ping6 = !self.layout.has_v6()
                || Command::new("ip").args(["netns", "exec", &self.sb.netns, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1", "2001:db8::1"]).output().unwrap().status.success();
            arp && ping && ping6
        })
    }

    /// The router stops answering ARP (and so IPv4): the probe fails. Not
    /// `link down`, which would flush the router's IPv6 addresses.
    fn router_deaf(&self, deaf: bool) {
        ip(&["-n", &self.router, "link", "set", "rt0", "arp", if deaf { "off" } else { "on" }]);
        let _ = Command::new("ip").args(["-n", &self.router, "neigh", "flush", "all"]).output();
    }

    fn ports(&self) -> Vec<String> {
        match self.sb.vsctl(&["list-ports", BR]) {
            Ok(s) => s.lines().map(str::to_string).collect(),
            Err(_) => vec![],
        }
    }

    fn bridge_exists(&self) -> bool {
        self.sb.vsctl(&["br-exists", BR]).is_ok()
    }

    fn journals(&self) -> usize {
        std::fs::read_dir(self.state.join("uplink"))
            .map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "json")).count())
            .unwrap_or(0)
    }

    /// The journal's phase, if there is a journal.
    fn phase(&self) -> Option<String> {
        let b = std::fs::read(self.state.join("uplink").join(format!("{BR}.{NIC}.json"))).ok()?;
        let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
        v["phase"]["phase"].as_str().map(str::to_string)
    }

    fn flow_restore_wait(&self) -> bool {
        self.sb.vsctl(&["get", "Open_vSwitch", ".", "other_config"]).unwrap().contains("flow-restore-wait")
    }

    /// Packets counted by the patch flow from the uplink port.
    fn uplink_packets(&self) -> u64 {
        let flows = self.sb.ofctl("dump-flows", BR, &[]).unwrap();
        flows
            .lines()
            .filter(|l| l.contains("priority=100"))
            .filter_map(|l| l.split("n_packets=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum()
    }

    fn assert_attached(&self) {
        let mut ports = self.ports();
        ports.sort();
        assert_eq!(ports, vec![NIC.to_string(), format!("{NIC}~")], "both ports on {BR}");
        let before = self.uplink_packets();
        assert!(self.reachable(), "the router must answer through the bridge");
        // ovs-vswitchd's revalidators push datapath counters to the flows
        // in the background: wait for them rather than reading once.
        let crossed = wait_for(|| self.uplink_packets() > before, Duration::from_secs(5), "the patch flows' counters");
        assert!(crossed.is_ok(), "the answers must have crossed the bridge's flows");
        let link = ip(&["-n", &self.sb.netns, "-j", "link", "show", &format!("{NIC}~")]);
        assert!(link.contains(&format!("\"{NIC}~\"")), "{link}");
        // The bridged NIC keeps only its link-local address, and no route.
        let addrs = ip(&["-n", &self.sb.netns, "-j", "addr", "show", &format!("{NIC}~")]);
        assert!(!addrs.contains("\"scope\":\"global\""), "{addrs}");
        let routes = ip(&["-n", &self.sb.netns, "-j", "-4", "route", "show", "table", "all", "dev", &format!("{NIC}~")]);
        assert_eq!(routes.trim(), "[]", "no IPv4 route left on the bridged NIC");
        let neigh = ip(&["-n", &self.sb.netns, "-j", "neigh", "show", "dev", &format!("{NIC}~"), "nud", "permanent"]);
        assert_eq!(neigh.trim(), "[]", "no permanent neighbour left on the bridged NIC");
        if matches!(self.layout, Layout::Simple) {
            let moved = ip(&["-n", &self.sb.netns, "neigh", "show", "dev", NIC, "nud", "permanent"]);
            assert!(moved.contains("192.0.2.99 lladdr 02:00:00:00:00:99"), "the permanent neighbour moves to the internal port: {moved}");
        }
        let ra = self.sb.exec(&["cat", &format!("/proc/sys/net/ipv6/conf/{NIC}~/accept_ra")]).unwrap();
        assert_eq!(ra.trim(), "0", "the bridged NIC must not accept router advertisements");
    }

    fn assert_restored(&self, before: &[(&'static str, String)]) {
        self.assert_same(before, "after restore");
        assert!(!self.bridge_exists(), "{BR} must be gone");
        assert_eq!(self.journals(), 0, "no journal left");
        assert!(self.reachable(), "the router must answer through the NIC again");
    }
}

fn text(o: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn attach_twice_then_detach_restores_exactly() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplattach") else { return };
    let before = net.snapshot();

    // The node's primary interface is refused without --allow-primary.
    let o = net.attach(&[], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("primary interface"), "{}", text(&o));
    assert_eq!(net.snapshot(), before);
    assert!(!net.bridge_exists());

    let o = net.attach(&["--allow-primary"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("answered through the bridge"), "{}", text(&o));
    // ovs-vswitchd applied the Interface `mac` and `mtu_request` columns
    // itself: podflow's netlink fallback did not have to.
    assert!(!String::from_utf8_lossy(&o.stderr).contains("did not apply"), "{}", text(&o));
    net.assert_attached();
    // The internal port has the NIC's MAC and MTU.
    let mac_of = |n: &str| {
        let v: serde_json::Value = serde_json::from_str(&ip(&["-n", &net.sb.netns, "-j", "link", "show", n])).unwrap();
        (v[0]["address"].as_str().unwrap().to_string(), v[0]["mtu"].as_u64().unwrap())
    };
    assert_eq!(mac_of(NIC), mac_of(&format!("{NIC}~")));

    // A second attach is a no-op.
    let snap = net.snapshot();
    let o = net.attach(&["--allow-primary"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("already attached"), "{}", text(&o));
    assert_eq!(net.snapshot(), snap);

    // The same NIC cannot go into a second bridge.
    let o = net.podflow(&["uplink", "attach", "--bridge", "br-other", "--interface", NIC, "--allow-primary"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already attached to bridge br-ext"), "{}", text(&o));
    assert_eq!(net.snapshot(), snap);

    let o = net.podflow(&["uplink", "status", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["uplinks"][0]["healthy"], true, "{st}");

    let o = net.detach();
    assert!(o.status.success(), "{}", text(&o));
    net.assert_restored(&before);
    let o = net.detach();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not attached"), "{}", text(&o));
}

#[test]
fn failed_probe_rolls_back_exactly() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplprobe") else { return };
    ip(&["-n", &net.router, "link", "set", "rt0", "down"]);
    let before = net.snapshot();
    let o = net.attach(&["--allow-primary"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("rolled back") && err.contains("no ARP answer"), "{}", text(&o));
    net.assert_same(&before, "after the rollback");
    assert!(!net.bridge_exists());
    assert_eq!(net.journals(), 0);
    ip(&["-n", &net.router, "link", "set", "rt0", "up"]);
    assert!(net.reachable());
}

/// The probe must test the bridge, not the NIC: a bridge without its
/// flows (test-only fault) fails the probe and is rolled back.
#[test]
fn bridge_without_flows_fails_the_probe() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplnoflow") else { return };
    let before = net.snapshot();
    let o = net.attach(&["--allow-primary"], &[("PODFLOW_FAULT", "skip-uplink-flows")]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no ARP answer"), "{}", text(&o));
    net.assert_restored(&before);
}

#[test]
fn failpoint_after_every_step_then_recovery() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplfail") else { return };
    let before = net.snapshot();
    let o = net.podflow(&["uplink", "failpoints"], &[]);
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).filter(|n| !n.starts_with("undo-")).collect();
    assert_eq!(names.len(), 9, "{names:?}");
    for (i, step) in names.iter().enumerate() {
        let o = net.attach(&["--allow-primary"], &[("PODFLOW_FAILPOINT", step)]);
        assert!(!o.status.success(), "failpoint {step} must abort: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains("aborting after the step"), "{step}: {}", text(&o));
        assert_eq!(net.journals(), 1, "{step}: the journal must survive the crash");
        if i % 2 == 0 {
            // Recovery by `status`: fully restored.
            let o = net.podflow(&["uplink", "status", "--json"], &[]);
            assert!(o.status.success(), "{step}: {}", text(&o));
            let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(st["recovered"][0]["from"], step.as_str(), "{step}: {st}");
            net.assert_restored(&before);
        } else {
            // Recovery by the next `attach`: rolled back, then fully attached.
            let o = net.attach(&["--allow-primary"], &[]);
            assert!(o.status.success(), "{step}: {}", text(&o));
            net.assert_attached();
            let o = net.detach();
            assert!(o.status.success(), "{step}: {}", text(&o));
            net.assert_restored(&before);
        }
    }
}

#[test]
fn attach_refused_while_flow_restore_wait_is_set() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplfrw") else { return };
    let before = net.snapshot();
    net.sb.vsctl(&["--no-wait", "set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
    let o = net.attach(&["--allow-primary"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("flow-restore-wait is set"), "{}", text(&o));
    assert_eq!(net.snapshot(), before);
    assert!(!net.bridge_exists());
    net.sb.vsctl(&["remove", "Open_vSwitch", ".", "other_config", "flow-restore-wait"]).unwrap();
    let o = net.attach(&["--allow-primary"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    net.assert_attached();
}

/// Kills the agent it holds when dropped (also when the test fails).
struct AgentGuard(std::process::Child);

impl Drop for AgentGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `podflow agent` (pod bridge br-int) in the node namespace with
/// `extra` arguments, appending its output to `log`.
fn spawn_agent(net: &Net, extra: &[&str], log: &std::path::Path) -> AgentGuard {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let child = Command::new("ip")
        .args(["netns", "exec", &net.sb.netns, env!("CARGO_BIN_EXE_podflow"), "agent"])
        .args(["--bridge", "br-int", "--datapath-type", "netdev", "--pod-cidr", "198.18.0.0/24", "--gate-deadline", "30"])
        .arg("--ovs-rundir")
        .arg(&net.sb.dir)
        .arg("--state-dir")
        .arg(&net.state)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    AgentGuard(child)
}

/// Kills ovs-vswitchd, presets flow-restore-wait, starts it again: it comes
/// back waiting, and without any OpenFlow flow.
fn restart_vswitchd_with_key(net: &Net) {
    net.sb.kill_vswitchd().unwrap();
    net.sb.vsctl(&["--no-wait", "set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
    net.sb.start_vswitchd().unwrap();
}

#[test]
fn agent_attaches_after_its_gate_and_restores_forwarding_after_a_switch_restart() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplagent") else { return };
    let log_path = net.sb.dir.join("agent.log");
    let agent_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let agent = spawn_agent(&net, &["--secondary-bridge", &format!("{BR}:{NIC}"), "--secondary-allow-primary"], &log_path);
    if wait_for(|| net.phase().as_deref() == Some("attached"), Duration::from_secs(30), "the uplink's attach").is_err() {
        panic!("the agent did not attach the uplink; log:\n{}", agent_log());
    }
    net.assert_attached();

    // ovs-vswitchd dies; it comes back with flow-restore-wait preset and
    // without any OpenFlow flow. The uplink forwards again only once the
    // agent's round re-installed br-ext's flows and removed the key.
    restart_vswitchd_with_key(&net);
    wait_for(|| !net.flow_restore_wait(), Duration::from_secs(30), "the agent to remove flow-restore-wait").unwrap();
    let flows = net.sb.ofctl("dump-flows", BR, &[]).unwrap();
    assert_eq!(flows.lines().filter(|l| l.contains("priority=100")).count(), 2, "br-ext's flows re-installed before the key went:\n{flows}");
    assert!(net.reachable(), "the router must answer through the bridge after the restart; log:\n{}", agent_log());
    assert!(agent_log().contains("round complete"), "{}", agent_log());

    // Control: the same restart under an agent that does not know the
    // secondary bridge leaves it without flows, and the node without its
    // router, although the key is gone. So the participant is what made
    // the difference above.
    drop(agent);
    restart_vswitchd_with_key(&net);
    let plain = spawn_agent(&net, &[], &log_path);
    wait_for(|| !net.flow_restore_wait(), Duration::from_secs(30), "the plain agent to remove flow-restore-wait").unwrap();
    assert!(!net.reachable(), "without the secondary participant br-ext must forward nothing after the restart");
    drop(plain);

    let o = net.detach();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(net.journals(), 0);
    assert!(net.reachable());
}

/// The agent's secondary attach runs as a cancellable, retried task: while
/// the router does not answer, each attempt's probe fails and is rolled
/// back and tried again later, and meanwhile the agent answers (liveness)
/// with its round complete (flow-restore-wait gone); SIGTERM ends it at
/// once, mid-retries. The next agent, started with the router still deaf,
/// keeps retrying; once the router answers, a retry attaches.
#[test]
fn the_agents_secondary_attach_is_retried_until_it_succeeds_and_sigterm_ends_it() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplretry") else { return };
    let log_path = net.sb.dir.join("agent.log");
    let agent_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let failed = || agent_log().matches("attach the secondary bridge's uplink failed; retrying").count();
    let args = ["--secondary-bridge", &format!("{BR}:{NIC}"), "--secondary-allow-primary"];
    net.router_deaf(true);
    let agent = spawn_agent(&net, &args, &log_path);
    if wait_for(|| failed() >= 2, Duration::from_secs(60), "two failed attaches").is_err() {
        panic!("the attach was not retried; log:\n{}", agent_log());
    }
    let sock = net.state.join("podflow.sock");
    let o = net.podflow(&["status", "--require-live", "--api-socket", &sock.display().to_string()], &[]);
    assert!(o.status.success(), "the agent does not answer while its attach is retried: {}", text(&o));
    assert!(!net.flow_restore_wait(), "the round did not complete while the attach was retried");
    assert_ne!(net.phase().as_deref(), Some("attached"));
    // SIGTERM in the middle of the retries ends the agent at once.
    let mut agent = agent;
    let t0 = Instant::now();
    // SAFETY: a signal to the agent this test started (`ip netns exec` execs it).
    unsafe { libc::kill(agent.0.id() as i32, libc::SIGTERM) };
    let st = loop {
        if let Some(st) = agent.0.try_wait().unwrap() {
            break st;
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let _ = agent.0.kill();
            let _ = agent.0.wait();
            panic!("the agent did not exit within 10 s of SIGTERM while retrying its attach; log:\n{}", agent_log());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = t0.elapsed();
    eprintln!("agent exited {took:?} after SIGTERM while retrying its attach ({st})");
    assert!(st.success(), "{st}");
    assert!(took < Duration::from_secs(6), "the agent took {took:?} to exit");
    // The next agent retries too (after rolling back an attempt SIGTERM
    // may have cut short), and attaches once the router answers.
    let before = failed();
    let agent = spawn_agent(&net, &args, &log_path);
    if wait_for(|| failed() > before, Duration::from_secs(60), "a failed attach of the new agent").is_err() {
        panic!("the new agent did not retry its attach; log:\n{}", agent_log());
    }
    net.router_deaf(false);
    if wait_for(|| net.phase().as_deref() == Some("attached"), Duration::from_secs(60), "the retried attach").is_err() {
        panic!("the retried attach did not succeed; log:\n{}", agent_log());
    }
    net.assert_attached();
    drop(agent);
    let o = net.detach();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(net.journals(), 0);
    assert!(net.reachable());
}

/// Agent start is a recovery point too: an attach killed at `move-routes`
/// is rolled back when the agent starts, and the agent then attaches from
/// the beginning once its gate opened.
#[test]
fn agent_start_recovers_an_interrupted_attach() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplagrec") else { return };
    let o = net.attach(&["--allow-primary"], &[("PODFLOW_FAILPOINT", "move-routes")]);
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(net.phase().as_deref(), Some("attaching"));
    let log_path = net.sb.dir.join("agent.log");
    let _agent = spawn_agent(&net, &["--secondary-bridge", &format!("{BR}:{NIC}"), "--secondary-allow-primary"], &log_path);
    if wait_for(|| net.phase().as_deref() == Some("attached"), Duration::from_secs(30), "the uplink's attach").is_err() {
        panic!("the agent did not recover and attach; log:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("rolling back an interrupted uplink migration"), "{log}");
    net.assert_attached();
}

/// A rollback that stopped half-way (here: the address already back on the
/// NIC, the journal saying "rolling back") is finished from what the kernel
/// and OVSDB show, not from what the journal assumes.
#[test]
fn a_half_done_rollback_is_finished() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::new("uplhalf") else { return };
    let before = net.snapshot();
    let o = net.attach(&["--allow-primary"], &[("PODFLOW_FAILPOINT", "attach-uplink")]);
    assert!(!o.status.success(), "{}", text(&o));
    let path = net.state.join("uplink").join(format!("{BR}.{NIC}.json"));
    let mut j: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    j["phase"] = serde_json::json!({ "phase": "rolling-back", "step": "attach-uplink", "reason": "test" });
    std::fs::write(&path, serde_json::to_vec(&j).unwrap()).unwrap();
    // Part of the undo, done by "the crashed run": the address is on both
    // links and the uplink port is already gone.
    ip(&["-n", &net.sb.netns, "addr", "add", "192.0.2.2/24", "dev", &format!("{NIC}~")]);
    net.sb.vsctl(&["del-port", BR, &format!("{NIC}~")]).unwrap();
    let o = net.podflow(&["uplink", "status", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["recovered"][0]["from"], "attach-uplink", "{st}");
    net.assert_restored(&before);
}

// ------------------------------------------------------------- layouts

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `--allow-primary` plus what the layout needs.
fn allow(layout: Layout) -> Vec<&'static str> {
    let mut a = vec!["--allow-primary"];
    a.extend_from_slice(layout.attach_args());
    a
}

/// Attach keeps the router reachable through the bridge; detach gives
/// everything back exactly; a failed probe rolls back exactly.
fn round_trip(net: &Net) {
    let before = net.snapshot();
    let o = net.attach(&allow(net.layout), &[]);
    assert!(o.status.success(), "{}", text(&o));
    net.assert_attached();
    let o = net.detach();
    assert!(o.status.success(), "{}", text(&o));
    net.assert_restored(&before);

    net.router_deaf(true);
    let before = net.snapshot();
    let o = net.attach(&allow(net.layout), &[]);
    assert!(!o.status.success() && stderr(&o).contains("rolled back"), "{}", text(&o));
    net.assert_same(&before, "after the failed probe's rollback");
    assert!(!net.bridge_exists());
    assert_eq!(net.journals(), 0);
    net.router_deaf(false);
    assert!(net.reachable());
}

#[test]
fn ecmp_default_is_primary_and_moves_back_exactly() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("uplecmp", Layout::Ecmp) else { return };
    let before = net.snapshot();
    let o = net.attach(&[], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    let e = stderr(&o);
    assert!(e.contains("primary interface") && e.contains("nexthop via 192.0.2.1") && e.contains("nexthop via 192.0.2.3"), "{e}");
    net.assert_same(&before, "after the refusal");
    assert!(!net.bridge_exists());
    round_trip(&net);
    // The multipath route with its weights is on the internal port while attached.
    let o = net.attach(&allow(net.layout), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let r = ip(&["-n", &net.sb.netns, "route", "show", "default"]);
    assert!(r.contains("nexthop via 192.0.2.3 dev eth1 weight 2"), "{r}");
}

#[test]
fn a_nexthop_object_route_is_refused_even_with_allow_primary() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("uplnhobj", Layout::NexthopObject) else { return };
    let before = net.snapshot();
    for args in [&[][..], &["--allow-primary"][..]] {
        let o = net.attach(args, &[]);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(stderr(&o).contains("nexthop object"), "{}", text(&o));
        net.assert_same(&before, "after the refusal");
        assert!(!net.bridge_exists());
        assert_eq!(net.journals(), 0);
    }
}

#[test]
fn gcp_layout_round_trips_exactly() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("uplgcp", Layout::Gcp) else { return };
    round_trip(&net);
}

#[test]
fn aws_secondary_nic_is_not_primary() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("uplaws", Layout::Aws) else { return };
    let before = net.snapshot();
    let o = net.attach(&["--probe", ROUTER_IP], &[]);
    assert!(o.status.success(), "{}", text(&o));
    net.assert_attached();
    let t = ip(&["-n", &net.sb.netns, "route", "show", "table", "101"]);
    assert!(t.contains("default via 192.0.2.1 dev eth1"), "{t}");
    let o = net.detach();
    assert!(o.status.success(), "{}", text(&o));
    net.assert_restored(&before);
    // The same NIC is primary once the node must reach 198.51.100.7 through it.
    ip(&["-n", &net.sb.netns, "route", "add", "198.51.100.0/24", "via", ROUTER_IP, "dev", NIC]);
    let o = net.attach(&["--probe", ROUTER_IP, "--keep-reachable", "198.51.100.7"], &[]);
    assert!(!o.status.success() && stderr(&o).contains("198.51.100.7, which must stay reachable"), "{}", text(&o));
}

#[test]
fn dual_stack_with_a_link_local_v6_router_round_trips_exactly() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("upldual", Layout::DualStack) else { return };
    round_trip(&net);
}

#[test]
fn a_nic_with_a_vlan_child_is_refused() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("uplvlan", Layout::Vlan) else { return };
    let before = net.snapshot();
    let o = net.attach(&["--allow-primary"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(stderr(&o).contains("vlan link eth1.100") || stderr(&o).contains("macvlan link eth1.100"), "{}", text(&o));
    net.assert_same(&before, "after the refusal");
    assert!(!net.bridge_exists());
}

/// A NIC that is a port of a Linux bridge is refused, naming the bridge.
#[test]
fn a_bridge_port_is_refused() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("uplbrport", Layout::Simple) else { return };
    let n = net.sb.netns.as_str();
    ip(&["-n", n, "link", "add", "lbr0", "type", "bridge"]);
    ip(&["-n", n, "link", "set", NIC, "master", "lbr0"]);
    let before = net.snapshot();
    let o = net.attach(&["--allow-primary"], &[]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(stderr(&o).contains("eth1 is a port of the bridge lbr0"), "{}", text(&o));
    net.assert_same(&before, "after the refusal");
    assert!(!net.bridge_exists());
}

/// A crash after every attach step and after every rollback stage: the
/// next `status` finishes the rollback, and the node is exactly as before.
fn failpoint_matrix(layout: Layout, tag: &str) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with(tag, layout) else { return };
    let before = net.snapshot();
    let o = net.podflow(&["uplink", "failpoints"], &[]);
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(names.len(), 15, "{names:?}");
    for fp in &names {
        let t = Instant::now();
        let undo = fp.starts_with("undo-");
        if undo {
            // The probe fails, so the rollback runs and crashes at `fp`.
            net.router_deaf(true);
        }
        let o = net.attach(&allow(layout), &[("PODFLOW_FAILPOINT", fp)]);
        assert!(!o.status.success() && stderr(&o).contains("aborting after the step"), "{fp}: {}", text(&o));
        assert_eq!(net.journals(), 1, "{fp}: the journal must survive the crash");
        assert_eq!(net.phase().as_deref(), Some(if undo { "rolling-back" } else { "attaching" }), "{fp}");
        net.router_deaf(false);
        let o = net.podflow(&["uplink", "status", "--json"], &[]);
        assert!(o.status.success(), "{fp}: {}", text(&o));
        net.assert_restored(&before);
        eprintln!("{layout:?}: failpoint {fp} and recovery took {:?}", t.elapsed());
    }
}

#[test]
fn failpoints_gcp() {
    failpoint_matrix(Layout::Gcp, "uplfpgcp");
}

#[test]
#[ignore = "full matrix: about 40 s per layout"]
fn failpoints_every_other_layout() {
    for (l, tag) in [(Layout::Simple, "uplfps"), (Layout::Ecmp, "uplfpe"), (Layout::Aws, "uplfpa"), (Layout::DualStack, "uplfpd")] {
        failpoint_matrix(l, tag);
    }
}

/// A small deterministic generator, so a failing kill can be replayed
/// with `PODFLOW_KILL_SEED`.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }
}

/// Starts an attach, kills it with SIGKILL `after` its start, waits.
fn attach_killed_after(net: &Net, after: Duration) {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &net.sb.netns, env!("CARGO_BIN_EXE_podflow"), "uplink", "attach", "--bridge", BR, "--interface", NIC]);
    c.args(allow(net.layout)).arg("--ovs-rundir").arg(&net.sb.dir).arg("--state-dir").arg(&net.state).args(["--datapath-type", "netdev"]);
    let mut child = c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    std::thread::sleep(after);
    // `ip netns exec` execs podflow: the child's PID is podflow's.
    let _ = child.kill();
    let _ = child.wait();
}

/// How long an attach takes to its end, and to the start of its rollback
/// when the router is down.
fn timings(net: &Net) -> (Duration, Duration, Duration) {
    let t = Instant::now();
    assert!(net.attach(&allow(net.layout), &[]).status.success());
    let attach = t.elapsed();
    assert!(net.detach().status.success());
    net.router_deaf(true);
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &net.sb.netns, env!("CARGO_BIN_EXE_podflow"), "uplink", "attach", "--bridge", BR, "--interface", NIC]);
    c.args(allow(net.layout)).arg("--ovs-rundir").arg(&net.sb.dir).arg("--state-dir").arg(&net.state).args(["--datapath-type", "netdev"]);
    let t = Instant::now();
    let mut child = c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut rb = None;
    while child.try_wait().unwrap().is_none() {
        if rb.is_none() && net.phase().as_deref() == Some("rolling-back") {
            rb = Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    net.router_deaf(false);
    let end = t.elapsed();
    (attach, rb.expect("the failed attach must roll back"), end)
}

fn kill_matrix(layout: Layout, tag: &str) {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with(tag, layout) else { return };
    let seed = std::env::var("PODFLOW_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0010);
    let mut rng = Lcg(seed);
    let before = net.snapshot();
    let (attach, rb_start, rb_end) = timings(&net);
    net.assert_restored(&before);
    eprintln!("{layout:?}: kill seed {seed}; attach {attach:?}; rollback from {rb_start:?} to {rb_end:?}");
    for round in 0..20 {
        let in_rollback = round >= 10;
        let at = if in_rollback {
            net.router_deaf(true);
            rb_start + Duration::from_millis(rng.below((rb_end - rb_start).as_millis() as u64))
        } else {
            Duration::from_millis(rng.below(attach.as_millis() as u64))
        };
        eprintln!("{layout:?}: seed {seed} round {round}: kill -9 after {at:?}");
        attach_killed_after(&net, at);
        net.router_deaf(false);
        let o = net.podflow(&["uplink", "status", "--json"], &[]);
        assert!(o.status.success(), "round {round}: {}", text(&o));
        if net.phase().as_deref() == Some("attached") {
            assert!(!in_rollback, "round {round}: attached with the router down");
            net.assert_attached();
            assert!(net.detach().status.success());
        }
        net.assert_restored(&before);
    }
}

#[test]
fn kill_9_during_attach_and_rollback_gcp() {
    kill_matrix(Layout::Gcp, "uplkillg");
}

#[test]
#[ignore = "full matrix: about 60 s per layout"]
fn kill_9_during_attach_and_rollback_every_other_layout() {
    for (l, tag) in [(Layout::Simple, "uplks"), (Layout::Ecmp, "uplke"), (Layout::Aws, "uplka"), (Layout::DualStack, "uplkd")] {
        kill_matrix(l, tag);
    }
}

/// A v6-only NIC: no ARP to probe with, so attach probes its link-local
/// router with neighbour solicitations through the bridge; a target that
/// never answers fails the probe and rolls back exactly.
#[test]
fn v6_only_nic_is_probed_with_neighbour_solicitation() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("uplv6", Layout::V6Only) else { return };
    let before = net.snapshot();
    let o = net.attach(&["--allow-primary"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("fe80::1 answered through the bridge"), "{}", text(&o));
    net.assert_attached();
    assert!(net.detach().status.success());
    net.assert_restored(&before);
    let o = net.attach(&["--allow-primary", "--probe", "2001:db8::99"], &[]);
    assert!(!o.status.success() && stderr(&o).contains("no neighbour advertisement from 2001:db8::99"), "{}", text(&o));
    net.assert_same(&before, "after the failed probe's rollback");
    assert_eq!(net.journals(), 0);
    // The solicitation tests the bridge's path: without its flows it fails.
    let o = net.attach(&["--allow-primary"], &[("PODFLOW_FAULT", "skip-uplink-flows")]);
    assert!(!o.status.success() && stderr(&o).contains("no neighbour advertisement from fe80::1"), "{}", text(&o));
    net.assert_restored(&before);
}

/// A route the kernel will not take back (fault injection): detach still
/// gives the NIC its name and addresses and every other route, ends in
/// `restored-with-errors` naming the route, is not retried by `status`,
/// makes `attach` refuse, and the next `detach` clears the record.
#[test]
fn an_unrestorable_route_ends_restored_with_errors() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(net) = Net::with("uplrwe", Layout::Gcp) else { return };
    let before = net.snapshot();
    assert!(net.attach(&allow(net.layout), &[]).status.success());
    let o = net.podflow(&["uplink", "detach", "--bridge", BR, "--interface", NIC], &[("PODFLOW_FAULT", "refuse-restore:table 100")]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(stderr(&o).contains("route 198.51.100.0/24 via 192.0.2.1 dev eth1 table 100"), "{}", text(&o));
    assert_eq!(net.phase().as_deref(), Some("restored-with-errors"));
    let n = net.sb.netns.as_str();
    let link = ip(&["-n", n, "-j", "link", "show", NIC]);
    assert!(link.contains("\"ifname\":\"eth1\""), "{link}");
    assert!(ip(&["-n", n, "addr", "show", NIC]).contains("192.0.2.2/32"));
    assert!(ip(&["-n", n, "route", "show", "default"]).contains("via 192.0.2.1 dev eth1 onlink"));
    assert!(ip(&["-n", n, "route", "show", "table", "100"]).trim().is_empty());
    assert!(!net.bridge_exists());
    let o = net.podflow(&["uplink", "status", "--json"], &[]);
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["uplinks"][0]["phase"], "restored-with-errors", "{st}");
    assert_eq!(st["recovered"].as_array().map(Vec::len), Some(0), "a terminal record is not retried: {st}");
    let o = net.attach(&allow(net.layout), &[]);
    assert!(!o.status.success() && stderr(&o).contains("could not restore"), "{}", text(&o));
    assert!(net.detach().status.success());
    assert_eq!(net.journals(), 0);
    ip(&["-n", n, "route", "add", "198.51.100.0/24", "via", ROUTER_IP, "dev", NIC, "table", "100"]);
    net.assert_restored(&before);
}
