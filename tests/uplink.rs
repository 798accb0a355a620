//! Uplink migration against a real userspace Open vSwitch: a node namespace
//! (the sandbox's, running ovsdb-server and ovs-vswitchd) and a router
//! namespace joined by a veth pair. The node side `eth1` carries
//! 192.0.2.2/24 and the default route via the router's 192.0.2.1. The real
//! `podflow uplink` binary runs inside the node namespace. Never touches
//! the machine's own interfaces; everything goes with the sandbox, also
//! when a test fails.

mod common;

use common::netns::ip;
use podflow::sandbox::{wait_for, Sandbox};
use std::time::Duration;
use std::path::PathBuf;
use std::process::{Command, Output};

const BR: &str = "br-ext";
const NIC: &str = "eth1";
const NODE_IP: &str = "192.0.2.2/24";
const ROUTER_IP: &str = "192.0.2.1";

/// Tests here start OVS and move links: one at a time keeps the 2-core
/// machine's timings sane.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Net {
    sb: Sandbox,
    router: String,
    state: PathBuf,
}

impl Net {
    fn new(tag: &str) -> Option<Net> {
        let mut sb = common::sandbox(tag)?;
        // A first bridge creates the userspace datapath's own device, so
        // that snapshots taken before and after attach compare equal.
        sb.add_bridge("br-int").unwrap();
        let router = sb.add_netns("rt").unwrap();
        let node = sb.netns.clone();
        ip(&["-n", &node, "link", "add", NIC, "type", "veth", "peer", "name", "rt0", "netns", &router]);
        ip(&["-n", &node, "addr", "add", NODE_IP, "dev", NIC]);
        // Not the default MTU, so that the internal port's MTU is a check.
        ip(&["-n", &node, "link", "set", NIC, "mtu", "1450"]);
        ip(&["-n", &node, "link", "set", NIC, "up"]);
        ip(&["-n", &node, "route", "add", "default", "via", ROUTER_IP]);
        ip(&["-n", &node, "route", "add", "198.51.100.0/24", "via", ROUTER_IP, "metric", "50"]);
        ip(&["-n", &router, "addr", "add", "192.0.2.1/24", "dev", "rt0"]);
        ip(&["-n", &router, "link", "set", "rt0", "up"]);
        let state = sb.dir.join("state");
        let net = Net { sb, router, state };
        // IPv6 duplicate address detection on the new veth ends with a
        // change `ip -j addr` shows ("tentative"): wait for it, so that
        // snapshots compare what podflow did, not what DAD did.
        wait_for(|| !ip(&["-n", &net.sb.netns, "-j", "addr"]).contains("tentative"), Duration::from_secs(10), "IPv6 DAD").unwrap();
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

    /// `ip -j addr` and `ip -j route` (all tables) of the node.
    fn snapshot(&self) -> (String, String) {
        let n = &self.sb.netns;
        (ip(&["-n", n, "-j", "addr"]), ip(&["-n", n, "-j", "route", "show", "table", "all"]))
    }

    /// ARP (podflow arping: every probe answered) and ICMP (ping) from the
    /// node to the router, in one of up to three attempts (a loaded CI
    /// machine may lose the first probe to an upcall).
    fn reachable(&self) -> bool {
        (0..3).any(|_| {
            let _ = Command::new("ip").args(["-n", &self.sb.netns, "neigh", "flush", "all"]).output();
            let arp = self.podflow(&["arping", "--netns", &self.sb.netns, "-I", NIC, "-c", "3", "--interval", "100ms", ROUTER_IP], &[]);
            let ping = Command::new("ip").args(["netns", "exec", &self.sb.netns, "ping", "-c", "2", "-i", "0.2", "-W", "1", ROUTER_IP]).output().unwrap();
            arp.status.success() && ping.status.success()
        })
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
        assert!(self.uplink_packets() > before, "the answers must have crossed the bridge's flows");
        let link = ip(&["-n", &self.sb.netns, "-j", "link", "show", &format!("{NIC}~")]);
        assert!(link.contains(&format!("\"{NIC}~\"")), "{link}");
    }

    fn assert_restored(&self, before: &(String, String)) {
        let after = self.snapshot();
        assert_eq!(after.0, before.0, "ip -j addr differs after restore");
        assert_eq!(after.1, before.1, "ip -j route differs after restore");
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
    let after = net.snapshot();
    assert_eq!(after.0, before.0, "ip -j addr differs after the rollback");
    assert_eq!(after.1, before.1, "ip -j route differs after the rollback");
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
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect();
    assert_eq!(names.len(), 8, "{names:?}");
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
    ip(&["-n", &net.sb.netns, "addr", "add", NODE_IP, "dev", &format!("{NIC}~")]);
    net.sb.vsctl(&["del-port", BR, &format!("{NIC}~")]).unwrap();
    let o = net.podflow(&["uplink", "status", "--json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["recovered"][0]["from"], "attach-uplink", "{st}");
    net.assert_restored(&before);
}
