//! The plugin's commands: ADD, DEL, CHECK, VERSION, STATUS.
//!
//! ADD leaves nothing half-created: if the agent fails after IPAM handed out
//! an address, the address is released before the error is returned.

use super::ipam;
use super::lock::{dir_for_socket, KeyLock};
use super::types::{code, CniError, CniResult, Interface, IpResult, NetConf, Route, DEFAULT_AGENT_SOCKET, SUPPORTED_VERSIONS};
use crate::api::{self, AddPod, ApiError, IpConfig, IpamRelease, PodKey, Request, Response, RouteConfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long one agent request may take (ADD includes the switch's commit).
const AGENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default wait for an agent that is not ready yet, before "try again later".
const DEFAULT_AGENT_WAIT: Duration = Duration::from_secs(10);

/// The runtime's environment for one invocation.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub command: String,
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    pub args: String,
    pub path: String,
}

impl Env {
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).unwrap_or_default();
        Env {
            command: get("CNI_COMMAND"),
            container_id: get("CNI_CONTAINERID"),
            netns: get("CNI_NETNS"),
            ifname: get("CNI_IFNAME"),
            args: get("CNI_ARGS"),
            path: get("CNI_PATH"),
        }
    }

    fn for_ipam(&self) -> Vec<(String, String)> {
        vec![
            ("CNI_CONTAINERID".into(), self.container_id.clone()),
            ("CNI_NETNS".into(), self.netns.clone()),
            ("CNI_IFNAME".into(), self.ifname.clone()),
            ("CNI_ARGS".into(), self.args.clone()),
        ]
    }

    /// A `KEY=VALUE` from `CNI_ARGS` (`;`-separated).
    pub fn arg(&self, key: &str) -> Option<String> {
        self.args.split(';').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
    }
}

pub use crate::api::{valid_container_id, valid_ifname};

/// Runs one invocation; `Ok(Some(json))` is printed on stdout.
pub fn run(env: &Env, stdin: &[u8]) -> Result<Option<String>, CniError> {
    if env.command == "VERSION" {
        let v = serde_json::json!({ "cniVersion": "1.0.0", "supportedVersions": SUPPORTED_VERSIONS });
        return Ok(Some(v.to_string()));
    }
    let conf: NetConf = serde_json::from_slice(stdin)
        .map_err(|e| CniError::new(code::DECODE_FAILURE, format!("cannot parse the network configuration: {e}")))?;
    if !SUPPORTED_VERSIONS.contains(&conf.cni_version.as_str()) {
        return Err(CniError::new(
            code::INCOMPATIBLE_VERSION,
            format!("cniVersion {} is not supported (supported: {})", conf.cni_version, SUPPORTED_VERSIONS.join(", ")),
        )
        .with_version(&conf.cni_version));
    }
    let socket = PathBuf::from(conf.agent_socket.clone().unwrap_or_else(|| DEFAULT_AGENT_SOCKET.into()));
    let version = conf.cni_version.clone();
    let r = match env.command.as_str() {
        "STATUS" => status(&socket),
        "ADD" => add(env, &conf, stdin, &socket),
        "DEL" => del(env, &conf, stdin, &socket),
        "CHECK" => check(env, &conf, stdin, &socket),
        "GC" => Ok(None),
        "" => Err(CniError::new(code::INVALID_ENV, "CNI_COMMAND is not set")),
        other => Err(CniError::new(code::INVALID_ENV, format!("unknown CNI_COMMAND {other:?}"))),
    };
    r.map_err(|e| e.with_version(&version))
}

impl CniError {
    fn with_version(mut self, v: &str) -> Self {
        if SUPPORTED_VERSIONS.contains(&v) {
            self.cni_version = v.to_string();
        }
        self
    }
}

fn key(env: &Env) -> Result<PodKey, CniError> {
    if !valid_container_id(&env.container_id) {
        return Err(CniError::new(code::INVALID_ENV, format!("invalid CNI_CONTAINERID {:?}", env.container_id)));
    }
    if !valid_ifname(&env.ifname) {
        return Err(CniError::new(code::INVALID_ENV, format!("invalid CNI_IFNAME {:?}", env.ifname)));
    }
    Ok(PodKey { container_id: env.container_id.clone(), ifname: env.ifname.clone() })
}

fn from_api(e: ApiError) -> CniError {
    CniError::new(e.code, e.msg).details(e.details)
}

fn agent_unreachable(e: api::ClientError) -> CniError {
    CniError::new(code::TRY_AGAIN_LATER, format!("{e}; try again later"))
}

fn status(socket: &Path) -> Result<Option<String>, CniError> {
    match api::call(socket, &Request::Status, Duration::from_secs(5)) {
        Ok(Response::Status(s)) if s.ready => Ok(None),
        Ok(Response::Status(_)) => Err(CniError::new(code::NOT_AVAILABLE, "the podflow agent is still restoring flows")),
        Ok(Response::Error(e)) => Err(from_api(e)),
        Ok(other) => Err(CniError::new(code::IO_FAILURE, format!("unexpected agent answer {other:?}"))),
        Err(e) => Err(CniError::new(code::NOT_AVAILABLE, e.to_string())),
    }
}

/// Waits until the agent says it is ready, up to the configured bound.
fn wait_ready(socket: &Path, conf: &NetConf) -> Result<(), CniError> {
    let limit = conf.agent_wait_seconds.map(Duration::from_secs).unwrap_or(DEFAULT_AGENT_WAIT);
    let t0 = Instant::now();
    loop {
        let why = match api::call(socket, &Request::Status, Duration::from_secs(5)) {
            Ok(Response::Status(s)) if s.ready => return Ok(()),
            Ok(Response::Status(_)) => "the podflow agent is still restoring flows".to_string(),
            Ok(Response::Error(e)) => return Err(from_api(e)),
            Ok(other) => format!("unexpected agent answer {other:?}"),
            Err(e) => e.to_string(),
        };
        if t0.elapsed() >= limit {
            return Err(CniError::new(code::TRY_AGAIN_LATER, format!("{why} (waited {}s); try again later", limit.as_secs())));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ipam_type(conf: &NetConf) -> Result<String, CniError> {
    conf.ipam
        .as_ref()
        .and_then(|i| i.get("type"))
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or_else(|| CniError::new(code::INVALID_CONFIG, "the network configuration has no ipam.type: podflow needs an IPAM plugin for pod addresses"))
}

fn add(env: &Env, conf: &NetConf, stdin: &[u8], socket: &Path) -> Result<Option<String>, CniError> {
    let key = key(env)?;
    if env.netns.is_empty() {
        return Err(CniError::new(code::INVALID_ENV, "CNI_NETNS is not set"));
    }
    if !Path::new(&env.netns).exists() {
        return Err(CniError::new(code::INVALID_ENV, format!("network namespace {} does not exist", env.netns)));
    }
    let _lock = KeyLock::take(&dir_for_socket(socket), &key)?;
    let ipam_plugin = ipam_type(conf)?;
    wait_ready(socket, conf)?;
    // ADD is idempotent: a pod the agent already has, Ready in the same
    // namespace, gets the same result without asking IPAM again.
    if let Ok(Response::Pods(mut p)) = api::call(socket, &Request::GetPod { key: key.clone() }, AGENT_TIMEOUT) {
        if let Some(info) = p.pop() {
            if info.netns == env.netns && matches!(info.state, api::PodState::Ready { .. }) {
                if let Some(att) = info.attachment {
                    let lease = CniResult {
                        cni_version: conf.cni_version.clone(),
                        interfaces: vec![],
                        ips: info.ips.iter().map(|i| IpResult { address: i.address.clone(), gateway: i.gateway.clone(), interface: Some(1) }).collect(),
                        routes: info.routes.iter().map(|r| Route { dst: r.dst.clone(), gw: r.gw.clone() }).collect(),
                        dns: None,
                    };
                    return Ok(Some(result_json(conf, env, att, &lease)));
                }
            }
        }
    }
    let lease = ipam::exec(&ipam_plugin, "ADD", stdin, &env.for_ipam(), &env.path)?
        .ok_or_else(|| CniError::new(code::IO_FAILURE, "IPAM plugin returned no result"))?;
    let release = || {
        let _ = ipam::exec(&ipam_plugin, "DEL", stdin, &env.for_ipam(), &env.path);
    };
    if lease.ips.is_empty() {
        release();
        return Err(CniError::new(code::IO_FAILURE, format!("IPAM plugin {ipam_plugin} gave no address")));
    }
    let req = Request::AddPod(AddPod {
        key,
        netns: env.netns.clone(),
        ips: lease.ips.iter().map(|ip| IpConfig { address: ip.address.clone(), gateway: ip.gateway.clone() }).collect(),
        routes: lease.routes.iter().map(|r| RouteConfig { dst: r.dst.clone(), gw: r.gw.clone() }).collect(),
        k8s_namespace: env.arg("K8S_POD_NAMESPACE"),
        k8s_name: env.arg("K8S_POD_NAME"),
        // So that an agent that crashes mid-ADD can give the address back
        // at its next start even if this process is gone by then.
        ipam: std::str::from_utf8(stdin).ok().map(|config| IpamRelease {
            plugin: ipam_plugin.clone(),
            config: config.to_string(),
            cni_path: env.path.clone(),
            args: env.args.clone(),
        })
        // One the agent would refuse is left out rather than failing the ADD.
        .filter(|r| r.validate().is_ok()),
    });
    let att = match api::call(socket, &req, AGENT_TIMEOUT) {
        Ok(Response::Pod(a)) => a,
        Ok(Response::Error(e)) => {
            release();
            return Err(from_api(e));
        }
        Ok(other) => {
            release();
            return Err(CniError::new(code::IO_FAILURE, format!("unexpected agent answer {other:?}")));
        }
        Err(e) => {
            // The agent may still finish; the runtime's retry of ADD is
            // idempotent and reuses the same lease (host-local keys by id).
            release();
            return Err(agent_unreachable(e));
        }
    };
    Ok(Some(result_json(conf, env, att, &lease)))
}

/// The CNI result of an attached pod, with the addresses and routes of its lease.
fn result_json(conf: &NetConf, env: &Env, att: api::PodAttachment, lease: &CniResult) -> String {
    let result = CniResult {
        cni_version: conf.cni_version.clone(),
        interfaces: vec![
            Interface { name: att.host_ifname, mac: att.host_mac, sandbox: String::new() },
            Interface { name: att.ifname, mac: att.mac, sandbox: env.netns.clone() },
        ],
        ips: lease.ips.iter().map(|ip| IpResult { address: ip.address.clone(), gateway: ip.gateway.clone(), interface: Some(1) }).collect(),
        routes: lease.routes.clone(),
        dns: lease.dns.clone(),
    };
    serde_json::to_string(&result).expect("a CNI result serializes")
}

fn del(env: &Env, conf: &NetConf, stdin: &[u8], socket: &Path) -> Result<Option<String>, CniError> {
    let key = key(env)?;
    let _lock = KeyLock::take(&dir_for_socket(socket), &key)?;
    let netns = (!env.netns.is_empty()).then(|| env.netns.clone());
    match api::call(socket, &Request::DelPod { key, netns }, AGENT_TIMEOUT) {
        Ok(Response::Done) => {}
        Ok(Response::Error(e)) => return Err(from_api(e)),
        Ok(other) => return Err(CniError::new(code::IO_FAILURE, format!("unexpected agent answer {other:?}"))),
        Err(e) => return Err(agent_unreachable(e)),
    }
    if let Ok(p) = ipam_type(conf) {
        ipam::exec(&p, "DEL", stdin, &env.for_ipam(), &env.path)?;
    }
    Ok(None)
}

fn check(env: &Env, conf: &NetConf, stdin: &[u8], socket: &Path) -> Result<Option<String>, CniError> {
    let key = key(env)?;
    let _lock = KeyLock::take(&dir_for_socket(socket), &key)?;
    match api::call(socket, &Request::CheckPod { key }, AGENT_TIMEOUT) {
        Ok(Response::Done) => {}
        Ok(Response::Error(e)) => return Err(from_api(e)),
        Ok(other) => return Err(CniError::new(code::IO_FAILURE, format!("unexpected agent answer {other:?}"))),
        Err(e) => return Err(agent_unreachable(e)),
    }
    if let Ok(p) = ipam_type(conf) {
        ipam::exec(&p, "CHECK", stdin, &env.for_ipam(), &env.path)?;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(valid_container_id("abc123"));
        assert!(valid_container_id("a.b-c_d"));
        for bad in ["", "../etc", "a/b", ".abc", "a..b"] {
            assert!(!valid_container_id(bad), "{bad}");
        }
        assert!(valid_ifname("eth0"));
        for bad in ["", "a/b", "..", "averyveryverylongname", "a:b", "a b"] {
            assert!(!valid_ifname(bad), "{bad}");
        }
    }

    #[test]
    fn version_and_bad_input() {
        let env = Env { command: "VERSION".into(), ..Env::default() };
        assert!(run(&env, b"").unwrap().unwrap().contains("1.0.0"));
        let env = Env { command: "ADD".into(), ..Env::default() };
        assert_eq!(run(&env, b"{not json").unwrap_err().code, code::DECODE_FAILURE);
        let conf = br#"{"cniVersion":"9.9.9","name":"n","type":"podflow"}"#;
        assert_eq!(run(&env, conf).unwrap_err().code, code::INCOMPATIBLE_VERSION);
        // Every case below is refused before the plugin touches the file system.
        let conf = br#"{"cniVersion":"1.0.0","name":"n","type":"podflow","agentSocket":"/nonexistent/x.sock"}"#;
        let env = Env { command: "ADD".into(), container_id: "../x".into(), ifname: "eth0".into(), netns: "/proc/self/ns/net".into(), ..Env::default() };
        assert_eq!(run(&env, conf).unwrap_err().code, code::INVALID_ENV);
        let env = Env { command: "ADD".into(), container_id: "abc".into(), ifname: "eth0".into(), netns: "/nonexistent/ns".into(), ..Env::default() };
        assert_eq!(run(&env, conf).unwrap_err().code, code::INVALID_ENV);
    }

    #[test]
    fn cni_args() {
        let env = Env { args: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0".into(), ..Env::default() };
        assert_eq!(env.arg("K8S_POD_NAME").as_deref(), Some("web-0"));
        assert_eq!(env.arg("K8S_POD_NAMESPACE").as_deref(), Some("default"));
        assert_eq!(env.arg("NOPE"), None);
    }
}
