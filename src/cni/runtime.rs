//! The container runtime's side of CNI, for the demo and the tests: run a
//! plugin binary with the CNI environment and a network configuration on
//! stdin, and build podflow's configuration with `host-local` IPAM. It
//! never interprets the result beyond parsing it as JSON.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// One plugin invocation, as a runtime would make it.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// `ADD`, `DEL`, `CHECK`, …
    pub command: &'a str,
    pub container_id: &'a str,
    /// Path of the pod's network namespace (`CNI_NETNS`).
    pub netns_path: &'a str,
    pub ifname: &'a str,
    /// `CNI_ARGS`.
    pub args: String,
    /// Directory with the IPAM plugins (`CNI_PATH`).
    pub cni_path: &'a Path,
    /// Extra environment (tests' fault knobs).
    pub extra_env: &'a [(&'a str, &'a str)],
}

/// What the plugin answered: exit success, stdout as JSON (`Null` if it
/// was not JSON), and stderr.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub success: bool,
    pub result: Value,
    pub stderr: String,
}

/// Runs `plugin` with a clean environment (only `PATH` kept) and
/// `netconf` on stdin.
pub fn invoke(plugin: &Path, inv: &Invocation<'_>, netconf: &str) -> std::io::Result<Outcome> {
    let out = spawn(plugin, inv, netconf)?.wait_with_output()?;
    Ok(Outcome {
        success: out.status.success(),
        result: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Starts `plugin` as [`invoke`] does and returns it running (stdout and
/// stderr piped), for a caller that may kill it mid-way.
pub fn spawn(plugin: &Path, inv: &Invocation<'_>, netconf: &str) -> std::io::Result<std::process::Child> {
    let mut c = Command::new(plugin);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CNI_COMMAND", inv.command)
        .env("CNI_CONTAINERID", inv.container_id)
        .env("CNI_NETNS", inv.netns_path)
        .env("CNI_IFNAME", inv.ifname)
        .env("CNI_PATH", inv.cni_path)
        .env("CNI_ARGS", &inv.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in inv.extra_env {
        c.env(k, v);
    }
    let mut child = c.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(netconf.as_bytes())?;
    }
    Ok(child)
}

/// podflow's network configuration with `host-local` IPAM for `subnet`
/// (default route via `gateway`), its address records in `ipam_dir`.
pub fn host_local_netconf(name: &str, agent_socket: &Path, subnet: &str, gateway: &str, ipam_dir: &Path) -> String {
    host_local_netconf_ranges(name, agent_socket, &[(subnet, gateway)], ipam_dir)
}

/// Like [`host_local_netconf`] with one range per `(subnet, gateway)` (a
/// dual-stack pod gets an address from each) and a default route for each
/// family present.
pub fn host_local_netconf_ranges(name: &str, agent_socket: &Path, ranges: &[(&str, &str)], ipam_dir: &Path) -> String {
    let v6 = |s: &str| s.contains(':');
    let mut routes = Vec::new();
    if ranges.iter().any(|(s, _)| !v6(s)) {
        routes.push(serde_json::json!({ "dst": "0.0.0.0/0" }));
    }
    if ranges.iter().any(|(s, _)| v6(s)) {
        routes.push(serde_json::json!({ "dst": "::/0" }));
    }
    let ranges: Vec<_> = ranges.iter().map(|(s, g)| serde_json::json!([{ "subnet": s, "gateway": g }])).collect();
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": name,
        "type": "podflow-cni",
        "agentSocket": agent_socket,
        "ipam": {
            "type": "host-local",
            "ranges": ranges,
            "routes": routes,
            "dataDir": ipam_dir,
        }
    })
    .to_string()
}
