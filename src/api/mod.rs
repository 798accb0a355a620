//! The agent's local API: the messages the CNI plugin and the CLI exchange
//! with the agent over its unix socket, and a small blocking client.
//!
//! Wire format: one JSON request line, one JSON response line, per
//! connection. The client never waits without a deadline.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Largest response line a client accepts (a pod list of 10,000 pods fits).
pub const MAX_LINE: usize = 16 << 20;

/// Largest request line the agent reads: a request is one pod, far below
/// this; anything longer is junk and must not cost the agent memory.
pub const MAX_REQUEST_LINE: usize = 1 << 20;

pub mod server;

/// CNI error codes (spec section "Error"): the agent answers with them and
/// the plugin passes them on, so both take them from here.
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const UNSUPPORTED_FIELD: u32 = 2;
    pub const UNKNOWN_CONTAINER: u32 = 3;
    pub const INVALID_ENV: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODE_FAILURE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN_LATER: u32 = 11;
    pub const NOT_AVAILABLE: u32 = 50;
}

/// One address given to a pod interface, as CNI results carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpConfig {
    /// Address with prefix length, e.g. `198.18.0.5/24`.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteConfig {
    pub dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<String>,
}

/// Identity of a pod attachment: CNI's (container id, interface name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PodKey {
    pub container_id: String,
    pub ifname: String,
}

/// Container ids: an alphanumeric first character, then alphanumerics,
/// `_`, `.` and `-` (CNI spec); never a path.
pub fn valid_container_id(id: &str) -> bool {
    let mut c = id.chars();
    matches!(c.next(), Some(f) if f.is_ascii_alphanumeric())
        && id.chars().all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
        && !id.contains("..")
        && id.len() <= 256
}

/// Interface names: what Linux accepts, no path characters.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty() && name.len() <= 15 && name != "." && name != ".." && name.chars().all(|c| c.is_ascii_graphic() && c != '/' && c != ':')
}

/// Why a request was refused before the agent acted on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {value:?} ({why})")]
pub struct Invalid {
    pub field: &'static str,
    pub value: String,
    pub why: &'static str,
}

fn invalid(field: &'static str, value: &str, why: &'static str) -> Invalid {
    Invalid { field, value: value.chars().take(300).collect(), why }
}

impl PodKey {
    /// Checks both parts with the plugin's rules: the agent builds paths
    /// and interface names from them, so whatever reached the socket is
    /// checked again here.
    pub fn validate(&self) -> Result<(), Invalid> {
        if !valid_container_id(&self.container_id) {
            return Err(invalid("container_id", &self.container_id, "alphanumerics, '_', '.', '-', at most 256, no '..'"));
        }
        if !valid_ifname(&self.ifname) {
            return Err(invalid("ifname", &self.ifname, "1 to 15 printable characters, no '/' or ':'"));
        }
        Ok(())
    }

    /// A file-system safe key (`<container id>.<ifname>`) once
    /// [`PodKey::validate`] passed.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.container_id, self.ifname)
    }

    /// A hash of the key that is stable across runs and versions (FNV-1a;
    /// std's hasher is randomized): host interface names and plugin lock
    /// stripes are derived from it.
    pub fn stable_hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.container_id.bytes().chain([0]).chain(self.ifname.bytes()) {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        h
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPod {
    pub key: PodKey,
    /// Path of the pod's network namespace.
    pub netns: String,
    pub ips: Vec<IpConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_name: Option<String>,
    /// How to give the pod's address back if the agent crashes before the
    /// pod is committed (the plugin may be gone too by then): the agent
    /// keeps it in an intent file only while the ADD runs, never in the
    /// pod record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamRelease>,
}

/// What the plugin knew when it asked IPAM for the pod's address: enough
/// to run the same IPAM plugin with DEL, as the plugin itself would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamRelease {
    /// The IPAM plugin's name (`ipam.type`), looked up in `cni_path`.
    pub plugin: String,
    /// The network configuration the plugin got on stdin, unchanged.
    pub config: String,
    /// `CNI_PATH`: `:`-separated directories.
    pub cni_path: String,
    /// `CNI_ARGS`.
    #[serde(default)]
    pub args: String,
}

/// Largest network configuration kept for a release.
const MAX_NETCONF: usize = 64 << 10;

impl IpamRelease {
    /// The plugin's own rules for what it would execute: a plain name,
    /// absolute search directories without `..`, a JSON object for stdin.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.plugin.is_empty() || self.plugin.len() > 255 || self.plugin.contains('/') || self.plugin.contains("..") || self.plugin.chars().any(|c| c.is_control()) {
            return Err(invalid("ipam.plugin", &self.plugin, "a plugin name without '/' or '..'"));
        }
        let bad_dir = |d: &str| {
            let p = std::path::Path::new(d);
            !p.is_absolute() || p.components().any(|c| matches!(c, std::path::Component::ParentDir)) || d.chars().any(|c| c.is_control())
        };
        if self.cni_path.len() > 4096 || self.cni_path.split(':').filter(|d| !d.is_empty()).any(bad_dir) || self.cni_path.split(':').all(str::is_empty) {
            return Err(invalid("ipam.cni_path", &self.cni_path, "absolute directories without '..', ':'-separated"));
        }
        if self.args.len() > 4096 || self.args.chars().any(|c| c.is_control()) {
            return Err(invalid("ipam.args", &self.args, "at most 4096 characters, no control characters"));
        }
        let object = serde_json::from_str::<serde_json::Value>(&self.config).is_ok_and(|v| v.is_object());
        if self.config.len() > MAX_NETCONF || !object {
            return Err(invalid("ipam.config", &self.config, "a JSON object of at most 64 KiB"));
        }
        Ok(())
    }
}

impl AddPod {
    /// Every field, as the agent will use it: the key for paths and names,
    /// the namespace path for setns, addresses and routes for netlink.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.key.validate()?;
        let ns = std::path::Path::new(&self.netns);
        if !ns.is_absolute() || ns.components().any(|c| matches!(c, std::path::Component::ParentDir)) || self.netns.len() > 4096 {
            return Err(invalid("netns", &self.netns, "an absolute path without '..'"));
        }
        if self.ips.is_empty() || self.ips.len() > 16 {
            return Err(invalid("ips", &self.ips.len().to_string(), "1 to 16 addresses"));
        }
        for ip in &self.ips {
            ip.address.parse::<crate::host::IpPrefix>().map_err(|_| invalid("ips.address", &ip.address, "an address with its prefix length"))?;
            if let Some(g) = &ip.gateway {
                g.parse::<std::net::IpAddr>().map_err(|_| invalid("ips.gateway", g, "an IP address"))?;
            }
        }
        if self.routes.len() > 256 {
            return Err(invalid("routes", &self.routes.len().to_string(), "at most 256 routes"));
        }
        for r in &self.routes {
            r.dst.parse::<crate::host::IpPrefix>().map_err(|_| invalid("routes.dst", &r.dst, "a prefix like 0.0.0.0/0"))?;
            if let Some(g) = &r.gw {
                g.parse::<std::net::IpAddr>().map_err(|_| invalid("routes.gw", g, "an IP address"))?;
            }
        }
        for (field, v) in [("k8s_namespace", &self.k8s_namespace), ("k8s_name", &self.k8s_name)] {
            if let Some(v) = v {
                if v.len() > 253 || v.chars().any(|c| c.is_control()) {
                    return Err(invalid(field, v, "at most 253 characters, no control characters"));
                }
            }
        }
        if let Some(r) = &self.ipam {
            r.validate()?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    AddPod(AddPod),
    DelPod { key: PodKey, #[serde(default)] netns: Option<String> },
    CheckPod { key: PodKey },
    /// One pod, if the agent has it (`Response::Pods` with 0 or 1 entry).
    GetPod { key: PodKey },
    ListPods,
    Status,
    /// The peer list and each peer's state (`podflow nodes`).
    ListNodes,
}

/// What the agent made for a pod (the interface part of a CNI result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodAttachment {
    pub host_ifname: String,
    pub host_mac: String,
    pub ifname: String,
    pub mac: String,
    pub netns: String,
    pub ofport: u32,
}

/// A pod's readiness, as `podflow pods` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PodState {
    /// Not acknowledged by the switch that is there now; `reason` says why
    /// when it is not simply "being installed" (e.g. "switch lost").
    Pending {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Flows acknowledged by the switch in `round`, at `acked_at` (RFC 3339,
    /// UTC, microseconds; also as nanoseconds since the epoch).
    Ready { round: u16, acked_at: String, acked_unix_ns: u64 },
    /// The switch refused the pod's flows (its error), or plumbing failed.
    Failed { error: String },
    /// The pod's record in the state directory was unreadable or invalid;
    /// it was moved to `<state-dir>/quarantine/` and the agent does nothing
    /// with this pod until a DEL removes it.
    Quarantined { reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodInfo {
    pub key: PodKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_name: Option<String>,
    pub ips: Vec<IpConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    pub netns: String,
    pub attachment: Option<PodAttachment>,
    #[serde(flatten)]
    pub state: PodState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub bridge: String,
    pub openflow_connected: bool,
    pub ovsdb_connected: bool,
    pub round: u16,
    /// Whether `other_config:flow-restore-wait` is set, as last seen in OVSDB.
    pub flow_restore_wait: Option<bool>,
    pub pods_ready: usize,
    pub pods_pending: usize,
    pub pods_failed: usize,
    /// Records moved to the quarantine directory.
    #[serde(default)]
    pub pods_quarantined: usize,
    /// Why the agent is not ready, when it is not (e.g. "switch lost").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ready_reason: Option<String>,
    /// Whether the agent accepts CNI requests (initial round done).
    pub ready: bool,
}

/// An error the agent reports, with the CNI error code it maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub code: u32,
    pub msg: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Pod(PodAttachment),
    Done,
    Pods(Vec<PodInfo>),
    Status(Status),
    Nodes(NodesReport),
    Error(ApiError),
}

// --- peers (`podflow nodes`); owned by the peers work -----------------------

/// One node of the peer list and what the agent made of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    #[serde(flatten)]
    pub peer: crate::peers::Peer,
    /// This node's own entry (`--node-name`).
    pub local: bool,
    /// Routes/flows towards the peer, when the cross-node pipeline runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<PeerState>,
}

/// Whether a peer's routes or flows are in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PeerState {
    /// Not installed yet, or not acknowledged by the switch there now.
    Pending {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Installed and acknowledged in `round`.
    Installed { round: u16 },
    Failed { error: String },
}

/// What `podflow nodes` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodesReport {
    /// `--nodes-from` (`file:PATH`, `kubernetes`).
    pub source: String,
    /// The source delivered a whole list (or one was replayed).
    pub complete: bool,
    /// The list shown is the one saved by the previous run; the source has
    /// not answered yet.
    pub replayed: bool,
    /// `--node-name`, and whether the list has it.
    pub local_node: String,
    pub local_in_list: bool,
    /// The address towards peers (`--node-ip`, else this node's internal IP).
    pub node_ip: Option<std::net::IpAddr>,
    pub updates: u64,
    pub errors: u64,
    /// Kubernetes nodes left out now (invalid or incomplete).
    pub skipped: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// This node's pod CIDRs in the list differ from `--pod-cidr` (why it
    /// matters, in one sentence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr_mismatch: Option<String>,
    pub nodes: Vec<NodeInfo>,
}

// ---------------------------------------------------------------------------

/// Why talking to the agent failed (not an error the agent reported).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the podflow agent at {path}: {source}")]
    Connect { path: String, source: std::io::Error },
    #[error("the podflow agent did not answer within {0:?}")]
    Timeout(Duration),
    #[error("lost the connection to the podflow agent: {0}")]
    Io(std::io::Error),
    #[error("the podflow agent sent a malformed answer: {0}")]
    Malformed(String),
}

/// Sends one request and waits up to `timeout` for the answer.
pub fn call(socket: &Path, req: &Request, timeout: Duration) -> Result<Response, ClientError> {
    let mut s = UnixStream::connect(socket).map_err(|e| ClientError::Connect { path: socket.display().to_string(), source: e })?;
    s.set_read_timeout(Some(timeout)).map_err(ClientError::Io)?;
    s.set_write_timeout(Some(timeout)).map_err(ClientError::Io)?;
    let mut line = serde_json::to_vec(req).map_err(|e| ClientError::Malformed(e.to_string()))?;
    line.push(b'\n');
    s.write_all(&line).map_err(ClientError::Io)?;
    let mut r = BufReader::new(s).take(MAX_LINE as u64);
    let mut answer = String::new();
    match r.read_line(&mut answer) {
        Ok(0) => Err(ClientError::Malformed("connection closed without an answer".into())),
        Ok(_) => serde_json::from_str(&answer).map_err(|e| ClientError::Malformed(e.to_string())),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Err(ClientError::Timeout(timeout)),
        Err(e) => Err(ClientError::Io(e)),
    }
}

use std::io::Read as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipam_release_is_checked_like_the_plugin_would() {
        let ok = IpamRelease { plugin: "host-local".into(), config: r#"{"name":"n"}"#.into(), cni_path: "/opt/cni/bin:/usr/lib/cni".into(), args: "K8S_POD_NAME=a".into() };
        assert_eq!(ok.validate(), Ok(()));
        let bad = |f: fn(&mut IpamRelease)| {
            let mut r = ok.clone();
            f(&mut r);
            r.validate().unwrap_err().field
        };
        assert_eq!(bad(|r| r.plugin = "../../bin/sh".into()), "ipam.plugin");
        assert_eq!(bad(|r| r.plugin = String::new()), "ipam.plugin");
        assert_eq!(bad(|r| r.cni_path = "relative/dir".into()), "ipam.cni_path");
        assert_eq!(bad(|r| r.cni_path = "/usr/lib/../../tmp".into()), "ipam.cni_path");
        assert_eq!(bad(|r| r.cni_path = String::new()), "ipam.cni_path");
        assert_eq!(bad(|r| r.args = "A=1\nB=2".into()), "ipam.args");
        assert_eq!(bad(|r| r.config = "[1]".into()), "ipam.config");
        assert_eq!(bad(|r| r.config = format!(r#"{{"x":"{}"}}"#, "a".repeat(70_000))), "ipam.config");
        // An ADD carrying a bad one is refused as a whole.
        let mut add = AddPod {
            key: PodKey { container_id: "abc".into(), ifname: "eth0".into() },
            netns: "/var/run/netns/x".into(),
            ips: vec![IpConfig { address: "198.18.0.5/24".into(), gateway: None }],
            routes: vec![],
            k8s_namespace: None,
            k8s_name: None,
            ipam: Some(ok.clone()),
        };
        assert_eq!(add.validate(), Ok(()));
        add.ipam.as_mut().unwrap().plugin = "a/b".into();
        assert_eq!(add.validate().unwrap_err().field, "ipam.plugin");
    }

    #[test]
    fn requests_round_trip_as_json() {
        let r = Request::AddPod(AddPod {
            key: PodKey { container_id: "abc".into(), ifname: "eth0".into() },
            netns: "/var/run/netns/x".into(),
            ips: vec![IpConfig { address: "198.18.0.5/24".into(), gateway: Some("198.18.0.1".into()) }],
            routes: vec![],
            k8s_namespace: Some("default".into()),
            k8s_name: None,
            ipam: None,
        });
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"op\":\"add_pod\""), "{s}");
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        let p = PodState::Ready { round: 2, acked_at: "t".into(), acked_unix_ns: 5 };
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"state":"ready","round":2,"acked_at":"t","acked_unix_ns":5}"#);
    }
}
