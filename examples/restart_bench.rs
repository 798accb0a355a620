//! Restart benchmark (issue 12, "back in milliseconds"): how long pods wait
//! for podflow once Open vSwitch is back. A measurement, not a test: run
//! as root,
//!
//! ```sh
//! cargo build --release --bins && cargo run --release --example restart_bench [PODS] [REPS]
//! ```
//!
//! The real `podflow agent` runs against a private userspace Open vSwitch
//! with PODS pods (default 20) added through the real CNI plugin
//! (host-local IPAM). Then, REPS times each (default 10):
//!
//! 1. vswitchd restart: `flow-restore-wait` preset, `ovs-vswitchd` killed
//!    (-9), down ~1 s, started again;
//! 2. whole OVS restart, as an OVS container's entrypoint does it:
//!    ovsdb-server and ovs-vswitchd killed (-9), down ~1 s, ovsdb-server
//!    started, the key preset, ovs-vswitchd started.
//!
//! Measured: bridge ready (the new vswitchd's `<bridge>.mgmt` accepts a
//! connection, polled every 0.5 ms) → key removed (seen by an independent
//! OVSDB monitor, `FlowRestoreWaitLog`, connected before vswitchd starts).

use podflow::api::{self, Request, Response};
use podflow::cni::runtime;
use podflow::ovsdb::vswitch::FlowRestoreWaitLog;
use podflow::sandbox::Sandbox;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "common/mod.rs"]
mod common;
use common::{bin, spawn_agent, BRIDGE};

const CIDR: &str = "198.18.0.0/24";

fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn ready(sock: &Path) -> bool {
    matches!(api::call(sock, &Request::Status, Duration::from_secs(5)), Ok(Response::Status(s)) if s.ready)
}

fn wait(mut cond: impl FnMut() -> bool, limit: Duration, what: &str) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Kills the agent when dropped, also when the benchmark panics.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(sb: &Sandbox, state: &Path) -> Agent {
    let agent = Agent(spawn_agent(sb, state, CIDR, &[]));
    let sock = state.join("podflow.sock");
    wait(|| ready(&sock), Duration::from_secs(60), "the agent to be ready");
    agent
}

/// ADDs `n` pods through the real plugin, as the tests' node harness does.
fn add_pods(sb: &mut Sandbox, state: &Path, n: usize) {
    let netconf = runtime::host_local_netconf("bench", &state.join("podflow.sock"), CIDR, "198.18.0.1", &sb.dir.join("ipam"));
    for i in 0..n {
        let netns = format!("/var/run/netns/{}", sb.add_netns(&format!("p{i}")).unwrap());
        let inv = runtime::Invocation {
            command: "ADD",
            container_id: &format!("ctr{i}"),
            netns_path: &netns,
            ifname: "eth0",
            args: String::new(),
            cni_path: Path::new("/usr/lib/cni"),
            extra_env: &[],
        };
        let out = runtime::invoke(&bin("podflow-cni"), &inv, &netconf).unwrap();
        assert!(out.success, "CNI ADD: {}", out.result);
    }
}

/// Unix ns when the bridge's management socket first accepts a connection.
fn mgmt_accepts(sb: &Sandbox) -> u64 {
    let p = sb.mgmt(BRIDGE);
    let t0 = Instant::now();
    loop {
        if std::os::unix::net::UnixStream::connect(&p).is_ok() {
            return unix_ns();
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "the bridge never came back");
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn monitor(rt: &tokio::runtime::Runtime, sb: &Sandbox) -> FlowRestoreWaitLog {
    rt.block_on(FlowRestoreWaitLog::start(sb.db_addr().parse().unwrap(), tokio::time::Instant::now() + Duration::from_secs(10))).unwrap()
}

/// Waits for the monitor to see the key removed after `after`; ms from `ready_ns`.
fn removed_ms(log: &FlowRestoreWaitLog, after: u64, ready_ns: u64) -> f64 {
    let t0 = Instant::now();
    loop {
        if let Some(t) = log.removed_after(after) {
            return (t as f64 - ready_ns as f64) / 1e6;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "flow-restore-wait was never removed");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn preset(sb: &Sandbox) {
    // --no-wait: vswitchd may be down (the entrypoint presets it before).
    sb.vsctl(&["--no-wait", "set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
}

fn vswitchd_restart(sb: &Sandbox, log: &FlowRestoreWaitLog) -> f64 {
    preset(sb);
    let after = unix_ns();
    sb.kill_vswitchd().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    sb.start_vswitchd().unwrap();
    let ready_ns = mgmt_accepts(sb);
    removed_ms(log, after, ready_ns)
}

fn ovs_restart(rt: &tokio::runtime::Runtime, sb: &Sandbox) -> f64 {
    sb.kill_vswitchd().unwrap();
    sb.kill_ovsdb().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    sb.start_ovsdb().unwrap();
    preset(sb);
    // The independent monitor connects to the new ovsdb-server before
    // vswitchd starts, so its own reconnect is not part of the figure.
    let log = monitor(rt, sb);
    let after = unix_ns();
    sb.start_vswitchd().unwrap();
    let ready_ns = mgmt_accepts(sb);
    removed_ms(&log, after, ready_ns)
}

/// `reps` restarts, each after the agent's previous round completed.
fn series(name: &str, reps: usize, sock: &Path, mut restart: impl FnMut() -> f64) -> Vec<f64> {
    (0..reps)
        .map(|i| {
            let ms = restart();
            println!("  {name} {i}: {ms:.1} ms");
            wait(|| ready(sock), Duration::from_secs(60), "the agent's round");
            std::thread::sleep(Duration::from_millis(300));
            ms
        })
        .collect()
}

fn summary(name: &str, v: &[f64]) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let all: Vec<String> = v.iter().map(|x| format!("{x:.0}")).collect();
    println!("{name}: median {:.0} ms, worst {:.0} ms, best {:.0} ms over {} restarts; each (ms): {}", s[s.len() / 2], s[s.len() - 1], s[0], s.len(), all.join(", "));
}

fn main() {
    let pods: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let reps: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let rt = tokio::runtime::Runtime::new().unwrap();
    podflow::sandbox::clean_up_on_signals();
    let mut sb = Sandbox::start("rbench").expect("root and Open vSwitch are needed");
    let state = sb.dir.join("state");
    let agent = start_agent(&sb, &state);
    add_pods(&mut sb, &state, pods);
    let sock = state.join("podflow.sock");
    println!("{pods} pods, {reps} restarts of each kind; bridge ready (mgmt socket accepts) → flow-restore-wait removed");

    let log = monitor(&rt, &sb);
    let vsw = series("vswitchd restart", reps, &sock, || vswitchd_restart(&sb, &log));
    drop(log);
    let all = series("whole OVS restart", reps, &sock, || ovs_restart(&rt, &sb));
    summary("vswitchd restart", &vsw);
    summary("whole OVS restart (ovsdb-server + vswitchd)", &all);
    drop(agent);
    if std::env::var("BENCH_KEEP_LOG").is_ok() {
        println!("{}", std::fs::read_to_string(state.with_extension("log")).unwrap_or_default());
    }
}
