//! A test node: a sandboxed Open vSwitch, the real `podflow agent` running
//! in the sandbox's namespace, and pods created through the real
//! `podflow-cni` plugin with `host-local` IPAM. Everything is removed on
//! drop, also when the test fails.
#![allow(dead_code)]

use podflow::api::{self, PodInfo, Request, Response, Status};
use podflow::cni::runtime;
use podflow::sandbox::Sandbox;
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BRIDGE: &str = "br-int";
pub const POD_CIDR: &str = "198.18.0.0/24";
pub const GATEWAY_IP: &str = "198.18.0.1";
/// The IPv6 pod CIDR of dual-stack and IPv6-only nodes (ULA), and its gateway.
pub const POD_CIDR6: &str = "fd00:198:18::/64";
pub const GATEWAY_IP6: &str = "fd00:198:18::1";

pub struct Node {
    pub sb: Sandbox,
    pub dir: PathBuf,
    pub agent: Option<Child>,
    pub fault: Option<String>,
    /// `--gate-deadline` in seconds.
    pub gate_deadline: u64,
    /// `--metrics-addr` for the agent (inside the sandbox namespace).
    pub metrics_addr: Option<String>,
    /// More `podflow agent` arguments (e.g. `--nodes-from`).
    pub extra_args: Vec<String>,
    /// The pod CIDRs and their gateways (`--pod-cidr` each, one IPAM range each).
    pub cidrs: Vec<(String, String)>,
    pub pods: Vec<Pod>,
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub netns: String,
    pub container_id: String,
    /// The pod's IPv4 address (its IPv6 one on an IPv6-only node).
    pub ip: String,
    /// Its IPv6 address, if it has one.
    pub ip6: Option<String>,
    /// Its interface's MAC.
    pub mac: String,
}

impl Pod {
    pub fn netns_path(&self) -> String {
        format!("/var/run/netns/{}", self.netns)
    }

    /// Runs a command in the pod's namespace; returns (success, stdout+stderr).
    pub fn exec(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip").args(["netns", "exec", &self.netns]).args(args).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    }

    pub fn ping(&self, ip: &str) -> bool {
        self.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", ip]).0
    }
}

impl Node {
    /// A sandbox (no bridge yet: the agent creates it) and a state dir.
    pub fn new(tag: &str) -> Option<Node> {
        if !std::path::Path::new("/usr/lib/cni/host-local").exists() {
            if super::in_ci() {
                panic!("CI must run the agent tests, but /usr/lib/cni/host-local is missing (containernetworking-plugins)");
            }
            eprintln!("SKIPPED: /usr/lib/cni/host-local is missing (apt-get install containernetworking-plugins)");
            return None;
        }
        let sb = super::sandbox(tag)?;
        let dir = sb.dir.join("node");
        std::fs::create_dir_all(&dir).unwrap();
        Some(Node { sb, dir, agent: None, fault: None, gate_deadline: 30, metrics_addr: None, extra_args: vec![], cidrs: vec![(POD_CIDR.into(), GATEWAY_IP.into())], pods: vec![] })
    }

    /// A dual-stack node (IPv4 and IPv6 pod CIDRs), or an IPv6-only one,
    /// with IPv6 forwarding on in its namespace (what the agent expects the
    /// node to have).
    pub fn with_ipv6(tag: &str, ipv4_too: bool) -> Option<Node> {
        let mut n = Node::new(tag)?;
        n.cidrs = if ipv4_too { vec![(POD_CIDR.into(), GATEWAY_IP.into()), (POD_CIDR6.into(), GATEWAY_IP6.into())] } else { vec![(POD_CIDR6.into(), GATEWAY_IP6.into())] };
        let ok = Command::new("ip").args(["netns", "exec", &n.sb.netns, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]).status().unwrap();
        assert!(ok.success(), "cannot turn IPv6 forwarding on in the node namespace");
        Some(n)
    }

    pub fn api_socket(&self) -> PathBuf {
        self.dir.join("state/podflow.sock")
    }

    /// Starts `podflow agent` inside the sandbox namespace and waits until ready.
    pub fn start_agent(&mut self) {
        self.agent = Some(self.spawn_agent("agent.log"));
        self.wait_ready(Duration::from_secs(30));
    }

    /// `podflow agent` as [`Node::start_agent`] runs it, logging to `log`
    /// under the node's directory; not waited for.
    pub fn spawn_agent(&self, log: &str) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join(log)).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.sb.netns, env!("CARGO_BIN_EXE_podflow"), "agent"])
            .args(["--bridge", BRIDGE, "--datapath-type", "netdev"])
            .args(self.cidrs.iter().flat_map(|(c, _)| ["--pod-cidr", c.as_str()]))
            .arg("--ovs-rundir")
            .arg(&self.sb.dir)
            .arg("--state-dir")
            .arg(self.dir.join("state"))
            .args(["--gate-deadline", &self.gate_deadline.to_string()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(f) = &self.fault {
            cmd.env("PODFLOW_FAULT", f);
        }
        if let Some(m) = &self.metrics_addr {
            cmd.args(["--metrics-addr", m]);
        }
        cmd.args(&self.extra_args);
        cmd.spawn().unwrap()
    }

    /// SIGTERM to the agent; returns how long it took to exit and its status.
    pub fn stop_agent(&mut self) -> (Duration, std::process::ExitStatus) {
        let mut c = self.agent.take().expect("an agent runs");
        let t0 = Instant::now();
        // SAFETY: a signal to the child we spawned (`ip netns exec` execs the agent).
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let limit = Duration::from_secs(30);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return (t0.elapsed(), st);
            }
            if t0.elapsed() > limit {
                let _ = c.kill();
                let _ = c.wait();
                panic!("the agent did not exit within {limit:?} of SIGTERM; log:\n{}", self.agent_log());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs the `podflow` CLI against the agent's socket; (success, stdout+stderr).
    pub fn podflow(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_podflow")).args(args).arg("--api-socket").arg(self.api_socket()).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
    }

    /// `kill -9` of the agent (it leaves flows and state behind).
    pub fn kill_agent(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `GET <path>` from the agent's metrics address, inside the sandbox
    /// namespace; returns the whole HTTP response.
    pub fn http_get(&self, path: &str) -> String {
        use std::io::Read;
        let addr = self.metrics_addr.clone().expect("metrics_addr is set");
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
        podflow::host::netns::run_in_netns(Some(&self.sb.netns), move || {
            let mut s = std::net::TcpStream::connect(&addr).map_err(podflow::host::HostError::Io)?;
            s.set_read_timeout(Some(Duration::from_secs(5))).map_err(podflow::host::HostError::Io)?;
            s.write_all(req.as_bytes()).map_err(podflow::host::HostError::Io)?;
            let mut out = String::new();
            s.read_to_string(&mut out).map_err(podflow::host::HostError::Io)?;
            Ok(out)
        })
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// One sample of the agent's metrics (`name` with its labels).
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.http_get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
    }

    pub fn agent_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    pub fn status(&self) -> Option<Status> {
        match api::call(&self.api_socket(), &Request::Status, Duration::from_secs(5)) {
            Ok(Response::Status(s)) => Some(s),
            _ => None,
        }
    }

    pub fn pods_info(&self) -> Vec<PodInfo> {
        match api::call(&self.api_socket(), &Request::ListPods, Duration::from_secs(5)) {
            Ok(Response::Pods(p)) => p,
            other => panic!("pods: {other:?}"),
        }
    }

    pub fn wait_ready(&self, limit: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.status().is_some_and(|s| s.ready) {
                return;
            }
            if let Some(c) = self.agent.as_ref() {
                let _ = c;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("agent not ready within {limit:?}; log:\n{}", self.agent_log());
    }

    fn netconf(&self) -> String {
        let ranges: Vec<(&str, &str)> = self.cidrs.iter().map(|(c, g)| (c.as_str(), g.as_str())).collect();
        runtime::host_local_netconf_ranges("podflow-test", &self.api_socket(), &ranges, &self.dir.join("ipam"))
    }

    /// Runs the real CNI plugin; returns (exit success, stdout JSON).
    pub fn cni(&self, command: &str, container_id: &str, netns_path: &str, extra_env: &[(&str, &str)]) -> (bool, Value) {
        let out = runtime::invoke(std::path::Path::new(env!("CARGO_BIN_EXE_podflow-cni")), &self.invocation(command, container_id, netns_path, extra_env), &self.netconf()).unwrap();
        (out.success, out.result)
    }

    /// Starts the real CNI plugin as [`Node::cni`] runs it, without waiting.
    pub fn cni_spawn(&self, command: &str, container_id: &str, netns_path: &str) -> Child {
        runtime::spawn(std::path::Path::new(env!("CARGO_BIN_EXE_podflow-cni")), &self.invocation(command, container_id, netns_path, &[]), &self.netconf()).unwrap()
    }

    /// Runs the real CNI plugin as a runtime would, but never waits longer
    /// than `limit`: a plugin still running then is killed (by its PID)
    /// and the test fails, naming the call. Returns (exit success, stdout
    /// JSON); a failure must be a clean CNI error (a JSON object with
    /// `code` and `msg`).
    pub fn cni_bounded(&self, command: &str, container_id: &str, netns_path: &str, limit: Duration) -> (bool, Value) {
        use std::io::Read;
        let mut child = self.cni_spawn(command, container_id, netns_path);
        let t0 = Instant::now();
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if t0.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("CNI {command} of {container_id} did not end within {limit:?}; agent log:\n{}", self.agent_log());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        if !status.success() {
            assert!(v["code"].as_u64().is_some() && v["msg"].as_str().is_some_and(|m| !m.is_empty()), "CNI {command} of {container_id} failed without a clean CNI error: {out:?}");
        }
        (status.success(), v)
    }

    /// The host-local leases of the node's pods (files named by address).
    pub fn leases(&self) -> Vec<String> {
        let names = std::fs::read_dir(self.dir.join("ipam/podflow-test")).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_else(|_| vec![]);
        names.into_iter().filter(|n: &String| n.parse::<std::net::IpAddr>().is_ok()).collect()
    }

    fn invocation<'a>(&self, command: &'a str, container_id: &'a str, netns_path: &'a str, extra_env: &'a [(&'a str, &'a str)]) -> runtime::Invocation<'a> {
        runtime::Invocation {
            command,
            container_id,
            netns_path,
            ifname: "eth0",
            args: format!("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={container_id}"),
            cni_path: std::path::Path::new("/usr/lib/cni"),
            extra_env,
        }
    }

    /// Creates a pod namespace and ADDs it through the CNI plugin.
    pub fn add_pod(&mut self, name: &str) -> Pod {
        let netns = self.sb.add_netns(name).unwrap();
        let container_id = format!("ctr-{name}");
        let path = format!("/var/run/netns/{netns}");
        let (ok, v) = self.cni("ADD", &container_id, &path, &[]);
        assert!(ok, "CNI ADD failed: {v}\nagent log:\n{}", self.agent_log());
        let ips: Vec<String> = v["ips"].as_array().expect("addresses").iter().map(|i| i["address"].as_str().unwrap().split('/').next().unwrap().to_string()).collect();
        let ip6 = ips.iter().find(|i| i.contains(':')).cloned();
        let ip = ips.iter().find(|i| !i.contains(':')).or(ip6.as_ref()).expect("an address").clone();
        let mac = v["interfaces"].as_array().and_then(|a| a.iter().find(|i| i["sandbox"].as_str().is_some_and(|s| !s.is_empty()))).and_then(|i| i["mac"].as_str()).unwrap_or_default().to_string();
        let pod = Pod { netns, container_id, ip, ip6, mac };
        self.pods.push(pod.clone());
        pod
    }

    /// The container id of each host-local lease of the node's pods.
    pub fn lease_owners(&self) -> std::collections::BTreeMap<String, String> {
        let dir = self.dir.join("ipam/podflow-test");
        self.leases().into_iter().map(|ip| (ip.clone(), std::fs::read_to_string(dir.join(&ip)).unwrap_or_default().lines().next().unwrap_or("").trim().to_string())).collect()
    }

    /// Asserts that the node holds exactly the pods `expected` (container
    /// ids), each once, in every place a pod leaves something: the agent's
    /// records and its list (every pod Ready), OVS ports carrying
    /// `podflow-container-id`, `pf*` veths, host-local leases; that every
    /// pod's flows use the number OVS gave its interface and no other pod
    /// port has flows; that only the current round's flows are left; and
    /// that flow-restore-wait is gone. Waits (bounded) for the round's
    /// last steps (the key's removal, the stale delete) to finish.
    pub fn assert_holds_exactly(&self, expected: &std::collections::BTreeSet<String>) {
        use std::collections::{BTreeMap, BTreeSet};
        let key = |id: &str| podflow::api::PodKey { container_id: id.to_string(), ifname: "eth0".into() };
        let t0 = Instant::now();
        let settled = loop {
            let frw = self.sb.vsctl(&["get", "Open_vSwitch", ".", "other_config:flow-restore-wait"]).is_ok_and(|v| v.contains("true"));
            let status = self.status();
            let round = status.as_ref().map(|s| s.round).unwrap_or(0);
            let flows = self.sb.ofctl("dump-flows", BRIDGE, &["--no-stats"]).unwrap_or_default();
            let stale = flows.lines().filter_map(cookie_of).filter(|c| podflow::pipeline::cookie::is_ours(*c)).any(|c| (c >> 48) as u16 != round);
            if !frw && !stale && status.is_some_and(|s| s.ready && s.pods_pending == 0 && s.pods_failed == 0) {
                break flows;
            }
            assert!(t0.elapsed() < Duration::from_secs(30), "the node did not settle (key set: {frw}, older rounds' flows left: {stale}); agent log:\n{}", self.agent_log());
            std::thread::sleep(Duration::from_millis(50));
        };
        // Records.
        let records: BTreeSet<String> = std::fs::read_dir(self.dir.join("state/pods"))
            .map(|d| d.flatten().filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".eth0.json").map(str::to_string)).collect())
            .unwrap_or_default();
        assert_eq!(&records, expected, "pod records");
        // The agent's list: each pod once, Ready, on the number OVS gave it.
        let pods = self.pods_info();
        let listed: BTreeSet<String> = pods.iter().map(|p| p.key.container_id.clone()).collect();
        assert_eq!(pods.len(), listed.len(), "a pod listed twice: {pods:?}");
        assert_eq!(&listed, expected, "the agent's pods");
        let mut ofports = BTreeMap::new();
        for p in &pods {
            assert!(matches!(p.state, podflow::api::PodState::Ready { .. }), "{:?} is {:?}", p.key, p.state);
            let att = p.attachment.clone().expect("a listed pod has its attachment");
            let ovs: u32 = self.sb.vsctl(&["get", "Interface", &att.host_ifname, "ofport"]).unwrap().trim().parse().unwrap();
            assert_eq!(att.ofport, ovs, "pod {:?}: the agent says ofport {}, OVS {}", p.key, att.ofport, ovs);
            assert!(ofports.insert(ovs, p.key.container_id.clone()).is_none(), "two pods on ofport {ovs}");
        }
        // OVS ports that carry a pod's key.
        let json: Value = serde_json::from_str(&self.sb.vsctl(&["--format=json", "--columns=name,external_ids", "list", "Port"]).unwrap()).unwrap();
        let mut ports = BTreeMap::new();
        for row in json["data"].as_array().unwrap() {
            let name = row[0].as_str().unwrap().to_string();
            let ids: BTreeMap<String, String> = row[1][1].as_array().unwrap().iter().map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].as_str().unwrap().to_string())).collect();
            if let Some(id) = ids.get("podflow-container-id") {
                assert!(ports.insert(id.clone(), name.clone()).is_none(), "two OVS ports for pod {id}");
                assert_eq!(name, podflow::agent::runtime::host_ifname(&key(id)), "pod {id}'s port has another name");
            }
        }
        assert_eq!(&ports.keys().cloned().collect::<BTreeSet<_>>(), expected, "OVS ports carrying podflow-container-id");
        // Host veths.
        let links = self.sb.exec(&["ip", "-o", "link", "show"]).unwrap();
        let veths: BTreeSet<String> = links
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .filter(|n| podflow::agent::host::is_pod_link(n))
            .collect();
        let want: BTreeSet<String> = expected.iter().map(|id| podflow::agent::runtime::host_ifname(&key(id))).collect();
        assert_eq!(veths, want, "pf* host veths");
        // Leases: one per pod, no other.
        let owners: Vec<String> = self.lease_owners().into_values().collect();
        assert_eq!(owners.len(), expected.len(), "host-local leases: {owners:?}");
        assert_eq!(&owners.into_iter().collect::<BTreeSet<_>>(), expected, "host-local lease owners");
        // Flows: the pod ports that have flows are exactly the pods' ofports.
        let objects: BTreeSet<u32> = settled
            .lines()
            .filter_map(cookie_of)
            .filter(|c| podflow::pipeline::cookie::is_ours(*c) && ((c >> 40) & 0xff) as u8 == podflow::pipeline::cookie::CATEGORY_POD)
            .map(|c| c as u32)
            .collect();
        assert_eq!(objects, ofports.keys().copied().collect::<BTreeSet<_>>(), "ports with pod flows vs. the pods' OVS ports");
        for (ofport, id) in &ofports {
            assert!(settled.contains(&format!("in_port={ofport},")), "no flow matches pod {id}'s port {ofport}:\n{settled}");
        }
    }

    /// `ovs-ofctl dump-flows --no-stats`, sorted, cookies with the round bits cleared.
    pub fn flow_table(&self) -> Vec<String> {
        super::restart::normalized_flows(&self.sb.ofctl("dump-flows", BRIDGE, &["--no-stats"]).unwrap())
    }
}

/// The cookie of one `dump-flows` line.
fn cookie_of(line: &str) -> Option<u64> {
    let hex = line.trim().strip_prefix("cookie=0x")?.split(',').next()?;
    u64::from_str_radix(hex, 16).ok()
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_agent();
    }
}
