//! `podflow agent`, `podflow pods`, `podflow status`: run the agent, and ask
//! a running agent over its API socket.

use super::CliError;
use crate::agent::daemon::{self, DaemonConfig};
use crate::api::{self, PodState, Request, Response};
use crate::ovsdb::vswitch::DatapathType;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Datapath {
    System,
    Netdev,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// Bridge for pods.
    #[arg(long, env = "PODFLOW_BRIDGE", default_value = "br-int")]
    pub bridge: String,
    /// Open vSwitch run directory (bridge management sockets, db.sock).
    #[arg(long, env = "OVS_RUNDIR", default_value = "/var/run/openvswitch")]
    pub ovs_rundir: PathBuf,
    /// OVSDB address [default: unix:<ovs-rundir>/db.sock].
    #[arg(long, env = "PODFLOW_OVSDB")]
    pub ovsdb: Option<String>,
    /// Datapath type of the bridge.
    #[arg(long, env = "PODFLOW_DATAPATH_TYPE", value_enum, default_value = "system")]
    pub datapath_type: Datapath,
    /// Where pod records and the round live.
    #[arg(long, env = "PODFLOW_STATE_DIR", default_value = "/var/lib/podflow")]
    pub state_dir: PathBuf,
    /// Pod CIDR of this node, IPv4 or IPv6; repeat it (or separate with
    /// commas) for a dual-stack node, one per family. The gateway port
    /// takes the first address of each.
    #[arg(long, env = "PODFLOW_POD_CIDR", required_unless_present = "cleanup", value_delimiter = ',')]
    pub pod_cidr: Vec<String>,
    /// API socket for the CNI plugin and the CLI [default: <state-dir>/podflow.sock].
    #[arg(long, env = "PODFLOW_API_SOCKET")]
    pub api_socket: Option<PathBuf>,
    /// Seconds after which flow-restore-wait is removed even if some pods'
    /// flows failed (they are reported); 0 waits for every pod forever.
    #[arg(long, env = "PODFLOW_GATE_DEADLINE", default_value_t = 60)]
    pub gate_deadline: u64,
    /// Do not set flow-restore-wait while the switch is unreachable.
    #[arg(long, env = "PODFLOW_NO_SET_FLOW_RESTORE_WAIT")]
    pub no_set_flow_restore_wait: bool,
    /// Log format.
    #[arg(long, env = "PODFLOW_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,
    /// Secondary bridge and its uplink NIC, `BR:IF`: IF is attached to BR
    /// (see `podflow uplink attach`) once the first round's gate removed
    /// flow-restore-wait, and BR's flows are part of every later round.
    #[arg(long, env = "PODFLOW_SECONDARY_BRIDGE", value_name = "BR:IF")]
    pub secondary_bridge: Option<String>,
    /// Allow the secondary bridge's NIC to be the node's primary interface.
    #[arg(long, env = "PODFLOW_SECONDARY_ALLOW_PRIMARY")]
    pub secondary_allow_primary: bool,
    /// Turn TX checksum offload off on both ends of every pod's veth, also on
    /// the kernel datapath (always done on netdev, whose userspace datapath
    /// forwards the veth's unfinished TCP/UDP checksums as they are).
    #[arg(long, env = "PODFLOW_DISABLE_TX_CHECKSUM_OFFLOAD")]
    pub disable_tx_checksum_offload: bool,
    /// Address the secondary bridge's attach probes [default: its NIC's gateway].
    #[arg(long, env = "PODFLOW_SECONDARY_PROBE", value_name = "ADDR")]
    pub secondary_probe: Option<std::net::IpAddr>,
    /// An address whose route makes the secondary NIC primary (repeatable).
    #[arg(long, value_name = "ADDR")]
    pub keep_reachable: Vec<std::net::IpAddr>,
    /// Serve Prometheus metrics (`GET /metrics`) on this TCP address, e.g. 127.0.0.1:9476.
    #[arg(long, env = "PODFLOW_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The cluster's pod CIDRs (repeatable, either family): pods' traffic to
    /// anywhere else leaves masqueraded with the node's address. A family
    /// without one takes this node's pod CIDRs of that family.
    #[arg(long, env = "PODFLOW_CLUSTER_CIDR", value_name = "CIDR", value_delimiter = ',')]
    pub cluster_cidr: Vec<ipnet::IpNet>,
    /// Remove what the agent installed in the kernel (its nftables table
    /// `inet podflow`, nothing else) in this network namespace, and exit.
    #[arg(long)]
    pub cleanup: bool,
    /// How pods reach pods on other nodes, when there are peers
    /// (`--nodes-from`): `noencap` (kernel routes via each peer's node
    /// address) or `geneve` (a Geneve tunnel port on the pod bridge; on
    /// the userspace datapath the underlay NIC must be in an OVS bridge,
    /// see `--secondary-bridge` and docs/crossnode.md).
    #[arg(long, env = "PODFLOW_TRAFFIC_MODE", default_value = "noencap", value_name = "MODE")]
    pub traffic_mode: crate::crossnode::TrafficMode,
    /// Geneve mode: the MTU of pods' interfaces and the gateway port
    /// [default: the MTU of the link holding the node address, minus 50
    /// (IPv4 underlay) or 70 (IPv6) bytes of Geneve overhead].
    #[arg(long, env = "PODFLOW_TUNNEL_MTU", value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1280..=65000))]
    pub tunnel_mtu: Option<u32>,
    /// Peer source flags (src/cli/nodes.rs).
    #[command(flatten)]
    pub peers: super::nodes::PeerArgs,
    /// Test-only fault injection (`clear-flow-restore-wait-early`, `hang-after-plumbing`, `skip-peers-participant`).
    #[arg(long, env = "PODFLOW_FAULT", hide = true)]
    pub fault: Option<String>,
}

/// The pod CIDRs: each a network (host bits cleared), at most one per
/// family, with room for the gateway and pods.
pub fn parse_cidrs(v: &[String]) -> Result<Vec<ipnet::IpNet>, CliError> {
    let mut out: Vec<ipnet::IpNet> = Vec::new();
    for s in v {
        let bad = || CliError::Usage(format!("--pod-cidr {s:?} is not a CIDR like 198.18.0.0/24 or fd00:10::/64"));
        let net: ipnet::IpNet = s.trim().parse().map_err(|_| bad())?;
        let room = match net {
            ipnet::IpNet::V4(n) => (1..=30).contains(&n.prefix_len()),
            ipnet::IpNet::V6(n) => (1..=126).contains(&n.prefix_len()),
        };
        if !room {
            return Err(bad());
        }
        if out.iter().any(|o| o.addr().is_ipv6() == net.addr().is_ipv6()) {
            return Err(CliError::Usage(format!("--pod-cidr {s:?}: only one pod CIDR per family")));
        }
        out.push(net.trunc());
    }
    if out.is_empty() {
        return Err(CliError::Usage("--pod-cidr is required".into()));
    }
    Ok(out)
}

/// Logs to stderr; `RUST_LOG` overrides `default` (e.g. "info").
pub(super) fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => b.try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}

pub async fn run_agent(a: AgentArgs) -> Result<ExitCode, CliError> {
    init_logging(a.log_format, "info");
    if a.cleanup {
        crate::egress::cleanup().await.map_err(|e| CliError::Failed(e.to_string()))?;
        println!("removed the nftables table {} {} (if it was there)", crate::egress::rules::FAMILY, crate::egress::TABLE);
        return Ok(ExitCode::SUCCESS);
    }
    let (fault_clear_key_early, fault_hang_after_plumbing, fault_skip_peers) = match a.fault.as_deref() {
        None | Some("") => (false, false, false),
        Some("clear-flow-restore-wait-early") => (true, false, false),
        Some("hang-after-plumbing") => (false, true, false),
        Some("skip-peers-participant") => (false, false, true),
        Some(other) => return Err(CliError::Usage(format!("unknown fault {other:?}"))),
    };
    let secondary = match a.secondary_bridge.as_deref() {
        None | Some("") => None,
        Some(s) => match s.split_once(':') {
            Some((br, nic)) if !br.is_empty() && !nic.is_empty() => Some((br.to_string(), nic.to_string())),
            _ => return Err(CliError::Usage(format!("--secondary-bridge {s:?} is not BR:IF (e.g. br-ext:eth1)"))),
        },
    };
    let peers = a.peers.config()?;
    let cfg = DaemonConfig {
        peers,
        secondary,
        secondary_allow_primary: a.secondary_allow_primary,
        disable_tx_checksum_offload: a.disable_tx_checksum_offload,
        secondary_probe: a.secondary_probe,
        keep_reachable: a.keep_reachable.clone(),
        ovsdb: a.ovsdb.clone().unwrap_or_else(|| format!("unix:{}", a.ovs_rundir.join("db.sock").display())),
        api_socket: a.api_socket.clone().unwrap_or_else(|| a.state_dir.join("podflow.sock")),
        bridge: a.bridge,
        ovs_rundir: a.ovs_rundir,
        datapath_type: match a.datapath_type {
            Datapath::System => DatapathType::System,
            Datapath::Netdev => DatapathType::Netdev,
        },
        state_dir: a.state_dir,
        pod_cidrs: parse_cidrs(&a.pod_cidr)?,
        cluster_cidrs: a.cluster_cidr.iter().map(|c| c.trunc()).collect(),
        gate_deadline: (a.gate_deadline > 0).then(|| Duration::from_secs(a.gate_deadline)),
        set_key_on_disconnect: !a.no_set_flow_restore_wait,
        fault_clear_key_early,
        fault_hang_after_plumbing,
        fault_skip_peers,
        tunnel_mtu: a.tunnel_mtu,
        metrics_addr: a.metrics_addr,
        traffic_mode: a.traffic_mode,
    };
    std::fs::create_dir_all(&cfg.state_dir).map_err(|e| CliError::Failed(format!("cannot create the state directory {}: {e}", cfg.state_dir.display())))?;
    daemon::run(cfg).await.map_err(|e| CliError::Failed(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The agent's API socket.
    #[arg(long, env = "PODFLOW_API_SOCKET", default_value = "/var/lib/podflow/podflow.sock")]
    pub api_socket: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// `status` only: exit 1 unless the agent is ready (connected, and its
    /// last round removed flow-restore-wait). For readiness probes.
    #[arg(long, conflicts_with = "require_live")]
    pub require_ready: bool,
    /// `status` only: exit 1 unless the agent itself answers (its API and
    /// state), whatever the switch and OVSDB do: a liveness probe that
    /// failed while OVS restarts would have the agent killed exactly when
    /// it is needed. For liveness probes.
    #[arg(long)]
    pub require_live: bool,
}

async fn ask(sock: PathBuf, req: Request) -> Result<Response, CliError> {
    tokio::task::spawn_blocking(move || api::call(&sock, &req, Duration::from_secs(10)))
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?
        .map_err(|e| CliError::Failed(e.to_string()))
}

pub async fn pods(a: ClientArgs) -> Result<ExitCode, CliError> {
    match ask(a.api_socket, Request::ListPods).await? {
        Response::Pods(p) if a.json => println!("{}", serde_json::to_string_pretty(&p).expect("serializes")),
        Response::Pods(p) => {
            println!("{:<24} {:<8} {:<20} {:<18} {:<7} STATE", "CONTAINER", "IFNAME", "POD", "IP", "OFPORT");
            for i in p {
                let pod = match (&i.k8s_namespace, &i.k8s_name) {
                    (Some(ns), Some(n)) => format!("{ns}/{n}"),
                    _ => "-".into(),
                };
                let ip = i.ips.first().map(|c| c.address.clone()).unwrap_or_default();
                let ofport = i.attachment.as_ref().map(|a| a.ofport.to_string()).unwrap_or_else(|| "-".into());
                let state = match &i.state {
                    PodState::Pending { reason: None } => "Pending".to_string(),
                    PodState::Pending { reason: Some(r) } => format!("Pending ({r})"),
                    PodState::Ready { round, acked_at, .. } => format!("Ready (round {round}, acked {acked_at})"),
                    PodState::Failed { error } => format!("Failed: {error}"),
                    PodState::Quarantined { reason } => format!("Quarantined({reason})"),
                };
                let id: String = i.key.container_id.chars().take(24).collect();
                println!("{id:<24} {:<8} {pod:<20} {ip:<18} {ofport:<7} {state}", i.key.ifname);
            }
        }
        Response::Error(e) => return Err(CliError::Failed(e.msg)),
        other => return Err(CliError::Failed(format!("unexpected answer {other:?}"))),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn status(a: ClientArgs) -> Result<ExitCode, CliError> {
    let s = match ask(a.api_socket, Request::Status).await {
        Err(CliError::Failed(e)) if a.require_live => return Err(CliError::Failed(format!("the agent is not live: {e}"))),
        r => r?,
    };
    let s = match s {
        Response::Status(s) => s,
        Response::Error(e) => return Err(CliError::Failed(e.msg)),
        other => return Err(CliError::Failed(format!("unexpected answer {other:?}"))),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s).expect("serializes"));
    } else {
        let frw = match s.flow_restore_wait {
            Some(true) => "set",
            Some(false) => "not set",
            None => "unknown",
        };
        println!("bridge:            {}", s.bridge);
        println!("ready:             {}", s.ready);
        println!("openflow:          {}", if s.openflow_connected { "connected" } else { "disconnected" });
        println!("ovsdb:             {}", if s.ovsdb_connected { "connected" } else { "disconnected" });
        println!("round:             {}", s.round);
        println!("flow-restore-wait: {frw}");
        println!("pods:              {} ready, {} pending, {} failed, {} quarantined", s.pods_ready, s.pods_pending, s.pods_failed, s.pods_quarantined);
        if let Some(why) = &s.not_ready_reason {
            println!("not ready:         {why}");
        }
    }
    if a.require_ready && !s.ready {
        let why = s.not_ready_reason.unwrap_or_else(|| "its last round has not removed flow-restore-wait yet".into());
        return Err(CliError::Failed(format!("the agent is not ready: {why}")));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(v: &[&str]) -> Result<Vec<String>, CliError> {
        parse_cidrs(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).map(|v| v.iter().map(|c| c.to_string()).collect())
    }

    #[test]
    fn pod_cidrs_one_per_family() {
        assert_eq!(cidrs(&["198.18.0.7/24"]).unwrap(), ["198.18.0.0/24"]);
        assert_eq!(cidrs(&["198.18.0.0/24", "fd00:10::5/64"]).unwrap(), ["198.18.0.0/24", "fd00:10::/64"]);
        assert_eq!(cidrs(&["fd00:10::/64"]).unwrap(), ["fd00:10::/64"]);
        for bad in [&["198.18.0.0/24", "198.19.0.0/24"][..], &["fd00::/64", "fd01::/64"], &["198.18.0.0/31"], &["fd00::/127"], &["nope"], &[]] {
            assert!(matches!(cidrs(bad), Err(CliError::Usage(_))), "{bad:?}");
        }
    }
}
