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

    /// `ovs-ofctl dump-flows --no-stats`, sorted, cookies with the round bits cleared.
    pub fn flow_table(&self) -> Vec<String> {
        super::restart::normalized_flows(&self.sb.ofctl("dump-flows", BRIDGE, &["--no-stats"]).unwrap())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_agent();
    }
}
