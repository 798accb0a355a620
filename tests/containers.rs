//! Open vSwitch and podflow in real containers: the repository's own images
//! (built by `scripts/images.sh`, cached) run by the repository's
//! `docker-compose.yml` with `deploy/docker/compose.sandbox.yml`, so both
//! services share one network namespace that Docker makes and the machine's
//! own interfaces are never touched. Pods are namespaces this test creates
//! on the host and ADDs through the real `podflow-cni` plugin with
//! `host-local`, talking to the agent's socket in the state directory.
//!
//! The stories of issue 13: the OVS container restarted (SIGTERM), killed
//! (SIGKILL) and started, and recreated on the same database volume: the key
//! goes only after every pod's flows are acknowledged (seen by an
//! independent OVSDB monitor), no ARP probe (10 ms) sent more than `demo::GRACE` (50 ms)
//! after its removal is lost, the flow table is the same; the podflow
//! container restarted with OVS alive loses no probe; `down` after the pods'
//! DELs leaves nothing behind. The same restart with the agent's fault knob
//! (key removed before the replay) must fail the checks.
//!
//! Without a Docker engine the tests skip with the reason; under `CI=true`
//! with a `docker` client present they must run.

mod common;

use common::netns::TestNetns;
use common::restart::{normalized_flows, Outcome};
use podflow::api::{self, PodState, Request, Response, Status};
use podflow::cni::runtime;
use podflow::ovsdb::client::Address;
use podflow::ovsdb::vswitch::FlowRestoreWaitLog;
use podflow::probe::{Limit, ProbeOptions, Prober};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BRIDGE: &str = "br-int";
const POD_CIDR: &str = "198.19.13.0/24";
const GATEWAY_IP: &str = "198.19.13.1";

/// The tests share the machine's one Docker engine and measure loss at
/// 10 ms resolution: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// `docker compose` (the plugin) when it answers, else `docker-compose`.
fn compose_command() -> Option<Vec<String>> {
    let plugin = Command::new("docker").args(["compose", "version"]).output().is_ok_and(|o| o.status.success());
    if plugin {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    let v1 = Command::new("docker-compose").arg("version").output().is_ok_and(|o| o.status.success());
    v1.then(|| vec!["docker-compose".into()])
}

/// Why these tests cannot run here, if they cannot.
fn unavailable_reason() -> Option<String> {
    if let Some(why) = common::netns::unavailable_reason() {
        return Some(why);
    }
    if let Err(e) = output(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"])) {
        return Some(format!("no Docker engine answers: {e}"));
    }
    if compose_command().is_none() {
        return Some("neither `docker compose` nor `docker-compose` is installed".into());
    }
    if !Path::new("/usr/lib/cni/host-local").exists() {
        return Some("/usr/lib/cni/host-local is missing (apt-get install containernetworking-plugins)".into());
    }
    None
}

fn can_run() -> bool {
    let Some(why) = unavailable_reason() else { return true };
    let docker_client = Command::new("docker").arg("--version").output().is_ok_and(|o| o.status.success());
    if common::in_ci() && docker_client {
        panic!("CI must run the container tests on a machine with Docker, but: {why}");
    }
    eprintln!("SKIPPED: {why}");
    false
}

/// Builds (or finds cached) the images; the build is part of the test.
fn images() {
    let t0 = Instant::now();
    let out = Command::new(Path::new(ROOT).join("scripts/images.sh")).current_dir(ROOT).output().unwrap();
    assert!(out.status.success(), "scripts/images.sh failed:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("images ready in {:.1} s: {}", t0.elapsed().as_secs_f64(), String::from_utf8_lossy(&out.stdout).trim());
}

/// One compose project with its own name and directory; `down -v` and the
/// directory's removal on drop, also when the test fails.
struct Project {
    name: String,
    dir: PathBuf,
    compose: Vec<String>,
    env: Vec<(String, String)>,
}

impl Project {
    fn new(tag: &str, extra_env: &[(&str, &str)]) -> Project {
        let name = format!("pfc{tag}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("podflow-{name}"));
        for sub in ["run", "state", "ipam"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut env: Vec<(String, String)> = vec![
            ("PODFLOW_SANDBOX_DIR".into(), dir.display().to_string()),
            ("PODFLOW_DATAPATH_TYPE".into(), "netdev".into()),
            ("PODFLOW_POD_CIDR".into(), POD_CIDR.into()),
        ];
        env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Project { name, dir, compose: compose_command().expect("checked by can_run"), env }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.compose[0]);
        c.args(&self.compose[1..])
            .args(["-p", &self.name, "-f", "docker-compose.yml", "-f", "deploy/docker/compose.sandbox.yml"])
            .args(args)
            .current_dir(ROOT)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn run(&self, args: &[&str]) -> String {
        output(&mut self.command(args)).unwrap_or_else(|e| panic!("{e}\nlogs:\n{}", self.logs()))
    }

    fn logs(&self) -> String {
        output(&mut self.command(&["logs", "--no-color", "--tail", "60"])).unwrap_or_else(|e| e)
    }

    fn container_id(&self, service: &str) -> String {
        self.run(&["ps", "-q", service]).trim().to_string()
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("state/podflow.sock")
    }

    fn db_sock(&self) -> PathBuf {
        self.dir.join("run/db.sock")
    }

    fn status(&self) -> Option<Status> {
        match api::call(&self.socket(), &Request::Status, Duration::from_secs(5)) {
            Ok(Response::Status(s)) => Some(s),
            _ => None,
        }
    }

    fn wait(&self, what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !f() {
            assert!(t0.elapsed() < limit, "timed out waiting for {what}; logs:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn round(&self) -> u16 {
        self.status().map_or(0, |s| s.round)
    }

    /// `ovs-ofctl dump-flows` through the bridge's socket in the shared run
    /// directory, normalized as the restart test does.
    fn flows(&self) -> Vec<String> {
        let mgmt = format!("unix:{}", self.dir.join(format!("run/{BRIDGE}.mgmt")).display());
        let out = output(Command::new("ovs-ofctl").args(["-O", "OpenFlow15", "dump-flows", "--no-stats", &mgmt])).unwrap();
        normalized_flows(&out)
    }

    /// The `_uuid` of the bridge's row (survives only with the database).
    fn bridge_uuid(&self) -> String {
        let db = format!("unix:{}", self.db_sock().display());
        output(Command::new("ovs-vsctl").args(["--db", &db, "get", "Bridge", BRIDGE, "_uuid"])).unwrap().trim().to_string()
    }

    fn cni(&self, command: &str, pod: &TestNetns) -> runtime::Outcome {
        let netconf = runtime::host_local_netconf(&format!("podflow-{}", self.name), &self.socket(), POD_CIDR, GATEWAY_IP, &self.dir.join("ipam"));
        let path = format!("/var/run/netns/{}", pod.name);
        let inv = runtime::Invocation {
            command,
            container_id: &format!("ctr-{}", pod.name),
            netns_path: &path,
            ifname: "eth0",
            args: format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={}", pod.name),
            cni_path: Path::new("/usr/lib/cni"),
            extra_env: &[],
        };
        runtime::invoke(Path::new(env!("CARGO_BIN_EXE_podflow-cni")), &inv, &netconf).unwrap()
    }

    /// ADDs `pod`; returns its address.
    fn add_pod(&self, pod: &TestNetns) -> String {
        let out = self.cni("ADD", pod);
        assert!(out.success, "CNI ADD {}: {} {}\nlogs:\n{}", pod.name, out.result, out.stderr, self.logs());
        out.result["ips"][0]["address"].as_str().expect("an address").split('/').next().unwrap().to_string()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.command(&["down", "-v", "--remove-orphans", "-t", "3"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A node up with two pods that reach each other.
struct Setup {
    p: Project,
    a: TestNetns,
    b: TestNetns,
    b_ip: String,
}

fn setup(tag: &str, extra_env: &[(&str, &str)]) -> Setup {
    // Creating the pods' namespaces first makes /run/netns a shared mount
    // (iproute2 does that), which the rslave mount in the podflow service
    // needs to see namespaces added later.
    let (a, b) = (TestNetns::new(&format!("{tag}a")), TestNetns::new(&format!("{tag}b")));
    let p = Project::new(tag, extra_env);
    let t0 = Instant::now();
    p.run(&["up", "-d"]);
    p.wait("the agent in its container to be ready", Duration::from_secs(60), || p.status().is_some_and(|s| s.ready));
    eprintln!("{}: up and ready in {:.1} s", p.name, t0.elapsed().as_secs_f64());
    p.add_pod(&a);
    let b_ip = p.add_pod(&b);
    let ping = Command::new("ip").args(["netns", "exec", &a.name, "ping", "-c", "2", "-i", "0.2", "-W", "1", &b_ip]).output().unwrap();
    assert!(ping.status.success(), "pods must reach each other through the containers' switch; logs:\n{}", p.logs());
    Setup { p, a, b, b_ip }
}

fn prober(s: &Setup) -> Prober {
    let opts = ProbeOptions { interval: Duration::from_millis(10), limit: Limit::UntilStopped, ..ProbeOptions::default() };
    Prober::new(Some(&s.a.name), "eth0", s.b_ip.parse::<std::net::Ipv4Addr>().unwrap(), opts)
}

/// Connects an independent monitor to the *new* ovsdb-server as soon as
/// it answers: `old` is a connection to the server being replaced, which
/// ends when that server exits (a socket file's inode says nothing here:
/// the new one is often given the same number).
async fn monitor_new_server(p: &Project, mut old: tokio::net::UnixStream) -> FlowRestoreWaitLog {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 512];
    let gone = tokio::time::timeout(Duration::from_secs(60), async {
        while old.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    assert!(gone.await.is_ok(), "the old ovsdb-server did not exit; logs:\n{}", p.logs());
    let addr: Address = format!("unix:{}", p.db_sock().display()).parse().unwrap();
    let t0 = Instant::now();
    loop {
        if std::os::unix::net::UnixStream::connect(p.db_sock()).is_ok() {
            if let Ok(log) = FlowRestoreWaitLog::start(addr.clone(), tokio::time::Instant::now() + Duration::from_secs(5)).await {
                return log;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "the new ovsdb-server never came up; logs:\n{}", p.logs());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Restarts the OVS container with `steps` (compose commands run one after
/// the other) while pod a probes pod b, and gathers what the checks need.
async fn restart_ovs(s: &Setup, steps: &[&[&str]]) -> Outcome {
    let p = &s.p;
    let before = p.flows();
    let r0 = p.round();
    let old = tokio::net::UnixStream::connect(p.db_sock()).await.unwrap();
    let handle = prober(s).start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started_ns = unix_ns();
    let t0 = Instant::now();
    let cmds: Vec<Command> = steps.iter().map(|a| p.command(a)).collect();
    let compose = tokio::task::spawn_blocking(move || cmds.into_iter().map(|mut c| output(&mut c)).collect::<Result<Vec<_>, _>>());
    let frw = monitor_new_server(p, old).await;
    compose.await.unwrap().unwrap_or_else(|e| panic!("{e}\nlogs:\n{}", p.logs()));
    let restarted = t0.elapsed();
    p.wait("the agent's new round", Duration::from_secs(60), || p.round() > r0 && p.status().is_some_and(|st| st.ready && st.flow_restore_wait == Some(false)));
    let recovered = t0.elapsed();
    tokio::time::sleep(Duration::from_millis(600)).await;
    handle.stop();
    let probes = handle.finish().await.unwrap();
    let changes = frw.changes();
    // The monitor may connect before the entrypoint presets the key; what
    // counts is its first removal after it was seen set.
    let set_at = changes.iter().find(|(_, set)| *set).map(|(t, _)| *t).unwrap_or_else(|| {
        panic!("the monitor never saw flow-restore-wait set by the new container (changes {changes:?}); logs:\n{}", p.logs())
    });
    let removed_ns = frw.removed_after(set_at).unwrap_or_else(|| panic!("the monitor never saw flow-restore-wait removed; logs:\n{}", p.logs()));
    let new_round = p.round();
    let acks_ns = pods_acked_in(p, new_round);
    eprintln!(
        "{steps:?}: compose returned after {:.2} s, agent ready after {:.2} s, key removed {:.1} ms after the last ack, {:.2} s after the restart began",
        restarted.as_secs_f64(),
        recovered.as_secs_f64(),
        (removed_ns as f64 - *acks_ns.iter().max().unwrap() as f64) / 1e6,
        (removed_ns - started_ns) as f64 / 1e9,
    );
    // For a failure's message: what the monitor saw, relative to the start.
    let rel = |t: u64| (t as f64 - started_ns as f64) / 1e6;
    let seen: Vec<String> = changes.iter().map(|(t, set)| format!("{}@{:.1}ms", if *set { "set" } else { "removed" }, rel(*t))).collect();
    let acks: Vec<String> = acks_ns.iter().map(|&t| format!("{:.1}ms", rel(t))).collect();
    eprintln!("flow-restore-wait as the monitor saw it: {}; pod acks at {}", seen.join(", "), acks.join(", "));
    let warnings = p.logs().lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect::<Vec<_>>().join("\n");
    Outcome { removed_ns, acks_ns, probes, nd_probes: None, before, after: p.flows(), warnings }
}

fn pods_acked_in(p: &Project, round: u16) -> Vec<u64> {
    let pods = match api::call(&p.socket(), &Request::ListPods, Duration::from_secs(5)) {
        Ok(Response::Pods(v)) => v,
        other => panic!("pods: {other:?}"),
    };
    assert_eq!(pods.len(), 2, "{pods:?}");
    pods.iter()
        .map(|pod| match &pod.state {
            PodState::Ready { round: r, acked_unix_ns, .. } if *r == round => *acked_unix_ns,
            other => panic!("pod {:?} is {other:?} after the restart (round {round})", pod.key),
        })
        .collect()
}

fn assert_clean(o: &Outcome, what: &str) {
    let v = o.violations();
    let s = &o.probes.summary;
    let ms = |t: u64| (t as f64 - o.removed_ns as f64) / 1e6;
    let first = o.probes.probes.iter().find(|p| p.replied && p.sent_unix_ns > o.removed_ns).map_or(f64::NAN, |p| ms(p.sent_unix_ns));
    let lost_after: Vec<String> = o.probes.probes.iter().filter(|p| !p.replied && p.sent_unix_ns > o.removed_ns).map(|p| format!("{:+.1}", ms(p.sent_unix_ns))).collect();
    eprintln!(
        "{what}: probes {} sent, {} answered, {} lost; relative to the key's removal: first answered probe sent at {first:+.1} ms, lost ones sent at {lost_after:?} ms",
        s.sent, s.answered, s.lost
    );
    assert!(v.is_empty(), "{what}:\n{}\nagent warnings:\n{}", v.join("\n"), o.warnings);
}

/// What the project made that `down` must remove, noted while it runs.
struct Made {
    containers: Vec<String>,
    volumes: Vec<String>,
    /// The node's network namespace, as `net:[INODE]`.
    node_netns: String,
}

fn made(p: &Project) -> Made {
    let containers: Vec<String> = ["node", "ovs", "podflow"].iter().map(|svc| p.container_id(svc)).collect();
    let inspect = |fmt: &str, id: &str| output(Command::new("docker").args(["inspect", "-f", fmt, id])).unwrap();
    let volumes = containers.iter().flat_map(|id| inspect("{{range .Mounts}}{{.Name}} {{end}}", id).split_whitespace().map(str::to_string).collect::<Vec<_>>()).collect();
    let pid = inspect("{{.State.Pid}}", &containers[0]);
    let node_netns = std::fs::read_link(format!("/proc/{}/ns/net", pid.trim())).unwrap().display().to_string();
    Made { containers, volumes, node_netns }
}

/// Host interfaces that podflow's agent or Docker's veths could leave.
fn host_links() -> Vec<String> {
    output(Command::new("ip").args(["-o", "link", "show"]))
        .unwrap()
        .lines()
        .filter_map(|l| l.split(": ").nth(1).map(|n| n.split('@').next().unwrap_or(n).to_string()))
        .filter(|n| n.starts_with("pf") || n.starts_with("veth"))
        .collect()
}

/// Containers, processes, volumes and networks of the project, the node's
/// namespace, the pods' namespaces, host interfaces and host-local leases:
/// none may remain.
fn assert_nothing_left(name: &str, dir: &Path, m: &Made, pods: &[String], links_before: &[String]) {
    let label = format!("label=com.docker.compose.project={name}");
    for kind in [vec!["ps", "-aq"], vec!["volume", "ls", "-q"], vec!["network", "ls", "-q"]] {
        let mut c = Command::new("docker");
        c.args(&kind).args(["--filter", &label]);
        let left = output(&mut c).unwrap();
        assert!(left.trim().is_empty(), "docker {kind:?} after down: {left}");
    }
    for v in &m.volumes {
        assert!(output(Command::new("docker").args(["volume", "inspect", v])).is_err(), "volume {v} is still there");
    }
    let procs: Vec<(String, String)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().chars().all(|c| c.is_ascii_digit()))
        .filter_map(|e| {
            let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
            let ns = std::fs::read_link(e.path().join("ns/net")).map(|l| l.display().to_string()).unwrap_or_default();
            let why = if m.containers.iter().any(|id| cg.contains(id.as_str())) {
                "in a container's cgroup"
            } else if ns == m.node_netns {
                "in the node's namespace"
            } else {
                return None;
            };
            Some((e.file_name().to_string_lossy().into_owned(), why.to_string()))
        })
        .collect();
    assert!(procs.is_empty(), "processes of the project after down: {procs:?}");
    // Docker unmounts a namespace at once but deletes its file under
    // /run/docker/netns up to a minute later: what counts is that nothing
    // holds the namespace (no process above, no mount).
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&m.node_netns), "the node's namespace {} is still mounted", m.node_netns);
    for pod in pods {
        assert!(!Path::new("/run/netns").join(pod).exists(), "pod namespace {pod} is still there");
    }
    let new_links: Vec<String> = host_links().into_iter().filter(|l| !links_before.contains(l)).collect();
    assert!(new_links.is_empty(), "host interfaces left: {new_links:?}");
    let leases: Vec<String> = walk(&dir.join("ipam"))
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n.to_string_lossy().parse::<std::net::IpAddr>().is_ok()))
        .map(|f| f.display().to_string())
        .collect();
    assert!(leases.is_empty(), "host-local leases left: {leases:?}");
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(d) else { return vec![] };
    rd.flatten().flat_map(|e| if e.path().is_dir() { walk(&e.path()) } else { vec![e.path()] }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_node_survives_ovs_and_podflow_restarts_and_down_leaves_nothing() {
    let _serial = SERIAL.lock().await;
    if !can_run() {
        return;
    }
    let t_all = Instant::now();
    images();
    let links_before = host_links();
    let s = setup("st", &[]);
    let p = &s.p;
    let uuid = p.bridge_uuid();
    let before = p.flows();
    assert!(before.len() > 4, "the agent installed no pod flows: {before:?}");

    let o = restart_ovs(&s, &[&["restart", "-t", "10", "ovs"]]).await;
    assert_clean(&o, "restart ovs (SIGTERM)");
    let o = restart_ovs(&s, &[&["kill", "-s", "KILL", "ovs"], &["start", "ovs"]]).await;
    assert_clean(&o, "kill -s KILL ovs, start ovs");
    // A new container on the same named volume: the database survives.
    let o = restart_ovs(&s, &[&["up", "-d", "--no-deps", "--force-recreate", "ovs"]]).await;
    assert_clean(&o, "ovs recreated on its volume");
    assert_eq!(p.bridge_uuid(), uuid, "the bridge's row did not survive in the ovs-db volume");

    // The agent restarted with OVS alive: nothing may be lost.
    let r0 = p.round();
    let handle = prober(&s).start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.run(&["restart", "-t", "10", "podflow"]);
    p.wait("the restarted agent's round", Duration::from_secs(60), || p.round() > r0 && p.status().is_some_and(|st| st.ready));
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle.stop();
    let report = handle.finish().await.unwrap();
    eprintln!("restart podflow: probes {} sent, {} answered, {} lost", report.summary.sent, report.summary.answered, report.summary.lost);
    assert!(report.summary.sent > 50, "{:?}", report.summary);
    assert_eq!(report.summary.lost, 0, "probes lost across `restart podflow`: {:?}\nlogs:\n{}", report.summary.lost_probes, p.logs());
    assert_eq!(p.flows(), before, "the flow table changed across `restart podflow`");
    assert_eq!(pods_acked_in(p, p.round()).len(), 2, "restart podflow keeps the pods");

    // DEL both pods, then down: nothing may remain.
    for pod in [&s.a, &s.b] {
        let out = p.cni("DEL", pod);
        assert!(out.success, "CNI DEL {}: {}", pod.name, out.stderr);
    }
    let m = made(p);
    let Setup { p, a, b, .. } = s;
    let (name, dir, pods) = (p.name.clone(), p.dir.clone(), vec![a.name.clone(), b.name.clone()]);
    let t0 = Instant::now();
    p.run(&["down", "-v", "--remove-orphans", "-t", "10"]);
    eprintln!("down in {:.1} s", t0.elapsed().as_secs_f64());
    drop((a, b));
    assert_nothing_left(&name, &dir, &m, &pods, &links_before);
    drop(p);
    eprintln!("whole story in {:.1} s", t_all.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_test_catches_a_key_removed_before_the_replay() {
    let _serial = SERIAL.lock().await;
    if !can_run() {
        return;
    }
    images();
    let s = setup("ft", &[("PODFLOW_FAULT", "clear-flow-restore-wait-early")]);
    let o = restart_ovs(&s, &[&["restart", "-t", "10", "ovs"]]).await;
    let v = o.violations();
    assert!(!v.is_empty(), "the container test did not notice flow-restore-wait removed before the pods' flows; logs:\n{}", s.p.logs());
    assert!(v[0].contains("before the last pod acknowledgement"), "{v:?}");
}
