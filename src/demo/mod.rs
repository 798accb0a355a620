//! `podflow demo`: the restart story end to end on one machine. It starts
//! a private userspace Open vSwitch ([`Sandbox`]) in a namespace of its own
//! and a temporary directory, runs the real agent (this same binary) inside
//! that namespace, creates three pods through the real `podflow-cni` plugin
//! with `host-local` IPAM, probes ARP between two pods every 10 ms,
//! restarts `ovs-vswitchd` with `flow-restore-wait` preset, and prints (and
//! plots, [`svg`]) when the switch went down and up, when the last pod's
//! flows were acknowledged and when an independent OVSDB monitor saw the
//! key removed.
//!
//! It never touches anything outside the namespaces and the directory it
//! created; everything it started is stopped by PID and removed when the
//! [`Demo`] value is dropped (success, failure, or an aborted task after
//! SIGINT/SIGTERM), unless `--keep` asked to leave it running.

pub mod svg;

use crate::api::{self, PodState, Request, Response};
use crate::cni::runtime;
use crate::ovsdb::client::Address;
use crate::ovsdb::vswitch::FlowRestoreWaitLog;
use crate::probe::{Limit, ProbeOptions, ProbeReport, Prober};
use crate::sandbox::{Sandbox, SandboxError};
use std::io::Write;
use std::os::unix::process::CommandExt as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const BRIDGE: &str = "br-int";
/// Pods live in the benchmarking range (RFC 2544), never a real network.
pub const POD_CIDR: &str = "198.18.0.0/24";
pub const GATEWAY_IP: &str = "198.18.0.1";
/// Where the agent serves metrics, inside the demo's namespace.
pub const METRICS_ADDR: &str = "127.0.0.1:9476";
/// Environment variable that makes the demo fail on purpose at a stage
/// (`after-sandbox`, `after-agent`, `after-pods`, `after-restart`): for
/// the cleanup tests.
pub const FAIL_ENV: &str = "PODFLOW_DEMO_FAIL";
/// Probes sent within this long after the key's removal are not counted as
/// "after removal": the switch must first read the change from OVSDB and
/// flush its datapath. It took 5–15 ms on an idle 2-core machine and up to
/// ~36 ms with other work beside it (the first answered probe; a probe sent
/// at +21.5 ms was lost in one CI run, at +26 ms in another loaded run).
/// The restart tests use it too; a key removed before the flows (the 300 ms
/// fault) still loses every probe past it.
pub const GRACE: Duration = Duration::from_millis(50);

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot run the demo: {0}")]
    Unavailable(String),
    #[error("the private Open vSwitch failed: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("the agent failed: {0}")]
    Agent(String),
    #[error("the CNI plugin failed: {0}")]
    Cni(String),
    #[error("the ARP prober failed: {0}")]
    Probe(String),
    #[error("the OVSDB monitor failed: {0}")]
    Monitor(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("failure injected with {FAIL_ENV}={0}")]
    Injected(String),
}

/// What the demo is asked to do.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub svg: PathBuf,
    pub keep: bool,
    /// Path of the `podflow` binary to run as the agent.
    pub podflow: PathBuf,
    /// Path of the `podflow-cni` plugin.
    pub cni: PathBuf,
    /// Directory with `host-local`.
    pub cni_path: PathBuf,
}

impl DemoOptions {
    /// The binaries next to the running executable, host-local from
    /// `/usr/lib/cni`.
    pub fn from_current_exe(svg: PathBuf, keep: bool) -> Result<DemoOptions, DemoError> {
        let exe = std::env::current_exe().map_err(|e| DemoError::Unavailable(format!("cannot find the running podflow binary: {e}")))?;
        let cni = exe.with_file_name("podflow-cni");
        Ok(DemoOptions { svg, keep, podflow: exe, cni, cni_path: PathBuf::from("/usr/lib/cni") })
    }

    /// Why the demo cannot run here, with what to install.
    pub fn unavailable_reason(&self) -> Option<String> {
        if let Some(why) = crate::sandbox::unavailable_reason() {
            return Some(format!("{why}; run it as root after `apt-get install openvswitch-switch iproute2 containernetworking-plugins` (or `sudo ./scripts/demo.sh`)"));
        }
        if !self.cni_path.join("host-local").is_file() {
            return Some(format!("{} is missing; install it with `apt-get install containernetworking-plugins`", self.cni_path.join("host-local").display()));
        }
        if !self.cni.is_file() {
            return Some(format!("{} is missing; build it next to podflow with `cargo build --release --bins`", self.cni.display()));
        }
        None
    }
}

fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

fn injected(stage: &str) -> Result<(), DemoError> {
    match std::env::var(FAIL_ENV) {
        Ok(v) if v == stage => Err(DemoError::Injected(v)),
        _ => Ok(()),
    }
}

/// The agent process; killed (TERM, then KILL) and reaped on drop.
struct AgentProc {
    child: Option<Child>,
}

impl AgentProc {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Leaves the process running (for `--keep`).
    fn leave_running(&mut self) {
        self.child = None;
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let Some(mut c) = self.child.take() else { return };
        // SAFETY: kill(2) on the PID of our own child, not yet reaped.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// A pod of the demo.
#[derive(Debug, Clone)]
pub struct DemoPod {
    pub name: String,
    pub netns: String,
    pub container_id: String,
    pub ip: String,
    pub cni_add: Duration,
}

/// Everything the demo made; dropping it removes all of it (agent first,
/// then the sandbox: daemons by pidfile, namespaces, directory).
pub struct Demo {
    agent: AgentProc,
    sb: Sandbox,
    pub pods: Vec<DemoPod>,
}

impl Demo {
    fn node_dir(&self) -> PathBuf {
        self.sb.dir.join("node")
    }

    pub fn api_socket(&self) -> PathBuf {
        self.node_dir().join("state/podflow.sock")
    }

    fn agent_log(&self) -> String {
        let log = std::fs::read_to_string(self.node_dir().join("agent.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn ask(&self, req: &Request) -> Result<Response, DemoError> {
        api::call(&self.api_socket(), req, Duration::from_secs(5)).map_err(|e| DemoError::Agent(e.to_string()))
    }

    fn status(&self) -> Option<api::Status> {
        match self.ask(&Request::Status) {
            Ok(Response::Status(s)) => Some(s),
            _ => None,
        }
    }

    fn pods_info(&self) -> Result<Vec<api::PodInfo>, DemoError> {
        match self.ask(&Request::ListPods)? {
            Response::Pods(p) => Ok(p),
            other => Err(DemoError::Agent(format!("unexpected answer to a pod list: {other:?}"))),
        }
    }

    async fn wait_agent(&mut self, what: &str, limit: Duration, mut ok: impl FnMut(&api::Status) -> bool) -> Result<(), DemoError> {
        let t0 = Instant::now();
        loop {
            if self.status().is_some_and(|s| ok(&s)) {
                return Ok(());
            }
            if let Some(st) = self.agent.exited() {
                return Err(DemoError::Agent(format!("it exited ({st}) while waiting for {what}; its log ends with:\n{}", self.agent_log())));
            }
            if t0.elapsed() > limit {
                return Err(DemoError::Agent(format!("timed out after {limit:?} waiting for {what}; its log ends with:\n{}", self.agent_log())));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn netconf(&self) -> String {
        runtime::host_local_netconf("podflow-demo", &self.api_socket(), POD_CIDR, GATEWAY_IP, &self.node_dir().join("ipam"))
    }

    fn add_pod(&mut self, opts: &DemoOptions, name: &str) -> Result<DemoPod, DemoError> {
        let netns = self.sb.add_netns(name)?;
        let container_id = format!("demo-{name}");
        let t0 = Instant::now();
        let inv = runtime::Invocation {
            command: "ADD",
            container_id: &container_id,
            netns_path: &format!("/var/run/netns/{netns}"),
            ifname: "eth0",
            args: format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME={name}"),
            cni_path: &opts.cni_path,
            extra_env: &[],
        };
        let out = runtime::invoke(&opts.cni, &inv, &self.netconf()).map_err(|e| DemoError::Cni(format!("cannot run {}: {e}", opts.cni.display())))?;
        let cni_add = t0.elapsed();
        let v = out.result;
        if !out.success {
            return Err(DemoError::Cni(format!("ADD of pod {name} failed: {v} {}", out.stderr.trim())));
        }
        let ip = v["ips"][0]["address"]
            .as_str()
            .and_then(|a| a.split('/').next())
            .ok_or_else(|| DemoError::Cni(format!("ADD of pod {name} returned no address: {v}")))?
            .to_string();
        let pod = DemoPod { name: name.to_string(), netns, container_id, ip, cni_add };
        self.pods.push(pod.clone());
        Ok(pod)
    }
}

/// The measured story of one restart, all times in Unix ns.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub down_ns: u64,
    pub up_ns: u64,
    /// (pod name, ack time) in the new round.
    pub acks: Vec<(String, u64)>,
    pub removed_ns: u64,
    pub probes: ProbeReport,
    pub from: String,
    pub to: String,
}

impl Timeline {
    pub fn last_ack_ns(&self) -> u64 {
        self.acks.iter().map(|a| a.1).max().unwrap_or(0)
    }

    fn ms(&self, t: u64) -> f64 {
        (t as f64 - self.down_ns as f64) / 1e6
    }

    /// (sent after the key's removal + grace, of which lost).
    pub fn after_removal(&self) -> (usize, usize) {
        let cut = self.removed_ns + GRACE.as_nanos() as u64;
        let after: Vec<_> = self.probes.probes.iter().filter(|p| p.sent_unix_ns > cut).collect();
        (after.len(), after.iter().filter(|p| !p.replied).count())
    }

    /// True when the key went after the last ack and no probe was lost after it.
    pub fn holds(&self) -> bool {
        self.removed_ns > self.last_ack_ns() && self.after_removal().1 == 0
    }

    /// The timeline as printed.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let line = |o: &mut String, t: u64, what: &str, detail: &str| o.push_str(&format!("{:>9.1}  {what:<16} {detail}\n", self.ms(t)));
        o.push_str("timeline (ms since ovs-vswitchd was killed):\n");
        line(&mut o, self.down_ns, "switch down", "ovs-vswitchd killed (-9); flow-restore-wait=true was preset");
        line(&mut o, self.up_ns, "switch up", "ovs-vswitchd started again; it waits for flows (flow-restore-wait)");
        let mut acks = self.acks.clone();
        acks.sort_by_key(|a| a.1);
        for (name, t) in &acks {
            line(&mut o, *t, "flows acked", &format!("pod {name}: bundle committed and acknowledged"));
        }
        line(&mut o, self.removed_ns, "key removed", &format!("seen by an independent OVSDB monitor, {:.1} ms after the last pod ack", (self.removed_ns as f64 - self.last_ack_ns() as f64) / 1e6));
        let s = &self.probes.summary;
        let (after, lost_after) = self.after_removal();
        o.push_str(&format!(
            "probes {} -> {} every 10 ms: {} sent, {} answered, {} lost (while the switch was down or still waiting)\n",
            self.from, self.to, s.sent, s.answered, s.lost
        ));
        o.push_str(&format!(
            "probes lost after the key's removal: {lost_after} of {after} (sent more than {} ms after it; expected 0)\n",
            GRACE.as_millis()
        ));
        o
    }

    /// The timeline as an SVG document.
    pub fn svg(&self) -> String {
        let ticks: Vec<svg::Tick> = self.probes.probes.iter().map(|p| svg::Tick { at_ms: self.ms(p.sent_unix_ns), answered: p.replied }).collect();
        let markers = vec![
            svg::Marker { at_ms: 0.0, label: "switch down".into(), color: "#000000" },
            svg::Marker { at_ms: self.ms(self.up_ns), label: "switch up".into(), color: "#1d4ed8" },
            svg::Marker { at_ms: self.ms(self.last_ack_ns()), label: "flows acknowledged (last pod)".into(), color: "#7c3aed" },
            svg::Marker { at_ms: self.ms(self.removed_ns), label: "flow-restore-wait removed".into(), color: "#b45309" },
        ];
        svg::render(&format!("podflow demo: ovs-vswitchd restart with flow-restore-wait, ARP {} -> {}", self.from, self.to), &ticks, &markers)
    }
}

/// Starts the sandbox and the agent; prints where they are.
async fn start(opts: &DemoOptions, out: &mut (dyn Write + Send)) -> Result<Demo, DemoError> {
    let sb = tokio::task::block_in_place(|| Sandbox::start("demo"))?;
    let _ = writeln!(out, "private Open vSwitch: netns {}, run dir {}", sb.netns, sb.dir.display());
    let mut demo = Demo { agent: AgentProc { child: None }, sb, pods: vec![] };
    injected("after-sandbox")?;
    let node = demo.node_dir();
    std::fs::create_dir_all(&node).map_err(|e| DemoError::Write { path: node.display().to_string(), source: e })?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node.join("agent.log"))
        .map_err(|e| DemoError::Write { path: node.join("agent.log").display().to_string(), source: e })?;
    let log2 = log.try_clone().map_err(|e| DemoError::Write { path: "agent.log".into(), source: e })?;
    let child = Command::new("ip")
        .args(["netns", "exec", &demo.sb.netns])
        .arg(&opts.podflow)
        .arg("agent")
        .args(["--bridge", BRIDGE, "--datapath-type", "netdev", "--pod-cidr", POD_CIDR, "--metrics-addr", METRICS_ADDR])
        .arg("--ovs-rundir")
        .arg(&demo.sb.dir)
        .arg("--state-dir")
        .arg(node.join("state"))
        .args(["--gate-deadline", "30"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: a terminal's Ctrl-C reaches only the demo,
        // which then stops the agent itself (by PID) as part of the cleanup.
        .process_group(0)
        .spawn()
        .map_err(|e| DemoError::Agent(format!("cannot start {}: {e}", opts.podflow.display())))?;
    demo.agent.child = Some(child);
    let _ = writeln!(out, "agent: pid {}, log {}", demo.agent.pid().unwrap_or(0), node.join("agent.log").display());
    demo.wait_agent("its first round", Duration::from_secs(30), |s| s.ready).await?;
    injected("after-agent")?;
    Ok(demo)
}


/// Prints the readiness table of the demo's pods.
fn print_pods(demo: &Demo, out: &mut (dyn Write + Send)) -> Result<(), DemoError> {
    let info = demo.pods_info()?;
    let _ = writeln!(out, "\n{:<6} {:<13} {:<7} {:<10} {:<26} STATE", "POD", "IP", "OFPORT", "CNI ADD", "NETNS");
    for p in &demo.pods {
        let i = info.iter().find(|i| i.key.container_id == p.container_id);
        let ofport = i.and_then(|i| i.attachment.as_ref()).map_or("-".into(), |a| a.ofport.to_string());
        let state = match i.map(|i| &i.state) {
            Some(PodState::Ready { round, acked_at, .. }) => format!("Ready (round {round}, flows acked {acked_at})"),
            Some(PodState::Pending { .. }) => "Pending".into(),
            Some(PodState::Failed { error }) => format!("Failed: {error}"),
            Some(PodState::Quarantined { reason }) => format!("Quarantined({reason})"),
            None => "unknown to the agent".into(),
        };
        let _ = writeln!(out, "{:<6} {:<13} {:<7} {:<10} {:<26} {state}", p.name, p.ip, ofport, format!("{:.0} ms", p.cni_add.as_secs_f64() * 1e3), p.netns);
    }
    let _ = writeln!(out);
    Ok(())
}

/// Restarts ovs-vswitchd under ARP probes and measures the timeline.
async fn restart(demo: &mut Demo) -> Result<Timeline, DemoError> {
    let (a, b) = (demo.pods[0].clone(), demo.pods[1].clone());
    let addr: Address = demo.sb.db_addr().parse().map_err(|e: crate::dial::AddrError| DemoError::Monitor(e.to_string()))?;
    let frw = FlowRestoreWaitLog::start(addr, tokio::time::Instant::now() + Duration::from_secs(10)).await.map_err(|e| DemoError::Monitor(e.to_string()))?;
    let target: Ipv4Addr = b.ip.parse().map_err(|_| DemoError::Cni(format!("pod {} got a bad address {}", b.name, b.ip)))?;
    let popts = ProbeOptions { interval: Duration::from_millis(10), limit: Limit::UntilStopped, ..ProbeOptions::default() };
    let handle = Prober::new(Some(&a.netns), "eth0", target, popts).start().await.map_err(|e| DemoError::Probe(e.to_string()))?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r0 = demo.status().map_or(0, |s| s.round);
    // What an OVS container entrypoint does: the key is set before vswitchd starts.
    demo.sb.vsctl(&["set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"])?;
    let down_ns = unix_ns();
    tokio::task::block_in_place(|| demo.sb.kill_vswitchd())?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    tokio::task::block_in_place(|| demo.sb.start_vswitchd())?;
    let up_ns = unix_ns();
    demo.wait_agent("its round after the restart", Duration::from_secs(30), |s| s.round > r0 && s.ready).await?;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let probes = handle.finish().await.map_err(|e| DemoError::Probe(e.to_string()))?;
    let removed_ns = frw
        .removed_after(down_ns)
        .ok_or_else(|| DemoError::Monitor("the monitor never saw flow-restore-wait removed".into()))?;
    let round = demo.status().map_or(0, |s| s.round);
    let info = demo.pods_info()?;
    let mut acks = Vec::new();
    for p in &demo.pods {
        match info.iter().find(|i| i.key.container_id == p.container_id).map(|i| &i.state) {
            Some(PodState::Ready { round: r, acked_unix_ns, .. }) if *r == round => acks.push((p.name.clone(), *acked_unix_ns)),
            other => return Err(DemoError::Agent(format!("pod {} is {other:?} after the restart, not Ready in round {round}", p.name))),
        }
    }
    Ok(Timeline { down_ns, up_ns, acks, removed_ns, probes, from: a.name, to: b.name })
}

/// What a finished demo reports.
#[derive(Debug)]
pub struct Outcome {
    pub timeline: Timeline,
}

/// Runs the whole demo, printing to `out`. Everything is removed when this
/// returns (or when its future is dropped), unless `opts.keep`.
pub async fn run(opts: DemoOptions, out: &mut (dyn Write + Send)) -> Result<Outcome, DemoError> {
    if let Some(why) = opts.unavailable_reason() {
        return Err(DemoError::Unavailable(why));
    }
    let mut demo = start(&opts, out).await?;
    for name in ["a", "b", "c"] {
        tokio::task::block_in_place(|| demo.add_pod(&opts, name))?;
    }
    print_pods(&demo, out)?;
    injected("after-pods")?;
    let _ = writeln!(out, "probing ARP {} -> {} every 10 ms; restarting ovs-vswitchd with flow-restore-wait preset ...", demo.pods[0].ip, demo.pods[1].ip);
    let _ = out.flush();
    let tl = restart(&mut demo).await?;
    injected("after-restart")?;
    let _ = writeln!(out, "\n{}", tl.text());
    std::fs::write(&opts.svg, tl.svg()).map_err(|e| DemoError::Write { path: opts.svg.display().to_string(), source: e })?;
    let _ = writeln!(out, "timeline plot written to {}", opts.svg.display());
    let verdict = if tl.holds() {
        "OK: flow-restore-wait was removed only after every pod's flows were acknowledged, and no probe was lost after its removal"
    } else {
        "NOT OK: see the timeline above"
    };
    let _ = writeln!(out, "{verdict}");
    if opts.keep {
        keep(&mut demo, &opts, out);
    } else {
        let _ = writeln!(out, "cleaning up: stopping the agent and Open vSwitch, removing namespaces and {}", demo.sb.dir.display());
    }
    drop(demo);
    Ok(Outcome { timeline: tl })
}

fn keep(demo: &mut Demo, opts: &DemoOptions, out: &mut (dyn Write + Send)) {
    demo.sb.keep();
    let pid = demo.agent.pid().unwrap_or(0);
    demo.agent.leave_running();
    let exe = opts.podflow.display();
    let dir = demo.sb.dir.display();
    let (a, b) = (&demo.pods[0], &demo.pods[1]);
    let ns_list: Vec<&str> = demo.pods.iter().map(|p| p.netns.as_str()).collect();
    let _ = writeln!(out, "\n--keep: everything is left running. Explore:");
    let _ = writeln!(out, "  ip netns exec {} ping -c 3 {}", a.netns, b.ip);
    let _ = writeln!(out, "  {exe} dump-flows {BRIDGE} --ovs-rundir {dir}");
    let _ = writeln!(out, "  {exe} pods --api-socket {}", demo.api_socket().display());
    let _ = writeln!(out, "  {exe} status --api-socket {}", demo.api_socket().display());
    let _ = writeln!(out, "  ip netns exec {} curl -s http://{METRICS_ADDR}/metrics", demo.sb.netns);
    let _ = writeln!(out, "Clean up:");
    let _ = writeln!(out, "  kill {pid}; kill $(cat {dir}/ovs-vswitchd.pid) $(cat {dir}/ovsdb-server.pid)");
    let _ = writeln!(out, "  for ns in {} {}; do ip netns delete $ns; done; rm -rf {dir}", ns_list.join(" "), demo.sb.netns);
}
