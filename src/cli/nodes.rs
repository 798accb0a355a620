//! The agent's peer flags (`--nodes-from`, `--node-name`, `--node-ip`,
//! `--kubeconfig`) and `podflow nodes`, which asks a running agent for its
//! peer list over the API socket.

use super::agent::ClientArgs;
use super::CliError;
use crate::api::{self, NodesReport, PeerState, Request, Response};
use crate::peers::{PeersConfig, Source};
use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct PeerArgs {
    /// Where the other nodes come from: `kubernetes` (Node objects),
    /// `file:PATH` (a JSON list, re-read when it changes) or `none`
    /// [default: kubernetes inside a cluster (KUBERNETES_SERVICE_HOST set), else none].
    #[arg(long, env = "PODFLOW_NODES_FROM", value_name = "SOURCE")]
    pub nodes_from: Option<String>,
    /// This node's name in the peer list [default: the host name].
    #[arg(long, env = "PODFLOW_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// This node's address towards its peers [default: its internal IP in the list].
    #[arg(long, env = "PODFLOW_NODE_IP", value_name = "ADDR")]
    pub node_ip: Option<IpAddr>,
    /// Kubeconfig for `--nodes-from kubernetes` [default: the in-cluster service account].
    #[arg(long, env = "KUBECONFIG", value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
}

impl PeerArgs {
    /// The peer settings, or None when the agent stays single-node.
    pub fn config(&self) -> Result<Option<PeersConfig>, CliError> {
        let source = match self.nodes_from.as_deref() {
            Some("none") | Some("") => return Ok(None),
            Some(s) => s.parse::<Source>().map_err(|e| CliError::Usage(e.to_string()))?,
            None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => Source::Kubernetes,
            None => return Ok(None),
        };
        let node_name = match &self.node_name {
            Some(n) => n.clone(),
            None => crate::peers::hostname().ok_or_else(|| CliError::Usage("--node-name is needed: the host name could not be read".into()))?,
        };
        if !crate::peers::validate::valid_name(&node_name) {
            return Err(CliError::Usage(format!("--node-name {node_name:?} is not a node name (letters, digits, '-', '.', '_')")));
        }
        Ok(Some(PeersConfig { source, node_name, node_ip: self.node_ip, kubeconfig: self.kubeconfig.clone() }))
    }
}

fn state(s: &Option<PeerState>) -> String {
    match s {
        None => "-".into(),
        Some(PeerState::Pending { reason: None }) => "Pending".into(),
        Some(PeerState::Pending { reason: Some(r) }) => format!("Pending ({r})"),
        Some(PeerState::Installed { round }) => format!("Installed (round {round})"),
        Some(PeerState::Failed { error }) => format!("Failed: {error}"),
    }
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// The human form of a report.
pub fn print(r: &NodesReport) -> String {
    let mut o = String::new();
    let list = match (r.complete, r.replayed) {
        (false, _) => "incomplete (the source has not delivered a list yet)",
        (true, true) => "complete (replayed from the state directory; the source has not answered yet)",
        (true, false) => "complete",
    };
    o.push_str(&format!("source:  {} ({list}; {} updates, {} errors, {} nodes skipped)\n", r.source, r.updates, r.errors, r.skipped));
    let ip = r.node_ip.map_or("unknown".to_string(), |i| i.to_string());
    let listed = if r.local_in_list { "" } else { ", not in the list" };
    o.push_str(&format!("local:   {} ({ip}{listed})\n", r.local_node));
    if let Some(e) = &r.last_error {
        o.push_str(&format!("error:   {e}\n"));
    }
    if let Some(w) = &r.pod_cidr_mismatch {
        o.push_str(&format!("warning: {w}\n"));
    }
    o.push_str(&format!("{:<24} {:<36} {:<32} STATE\n", "NODE", "POD CIDRS", "INTERNAL IPS"));
    for n in &r.nodes {
        let st = if n.local { "local".to_string() } else { state(&n.state) };
        o.push_str(&format!("{:<24} {:<36} {:<32} {st}\n", n.peer.name, join(&n.peer.pod_cidrs), join(&n.peer.internal_ips)));
    }
    o
}

/// `podflow nodes`.
pub async fn run(a: ClientArgs) -> Result<ExitCode, CliError> {
    let sock = a.api_socket.clone();
    let r = tokio::task::spawn_blocking(move || api::call(&sock, &Request::ListNodes, Duration::from_secs(10)))
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?
        .map_err(|e| CliError::Failed(e.to_string()))?;
    match r {
        Response::Nodes(r) if a.json => println!("{}", serde_json::to_string_pretty(&r).expect("serializes")),
        Response::Nodes(r) => print!("{}", print(&r)),
        Response::Error(e) => return Err(CliError::Failed(e.msg)),
        other => return Err(CliError::Failed(format!("unexpected answer {other:?}"))),
    }
    Ok(ExitCode::SUCCESS)
}
