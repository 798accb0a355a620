//! `podflow agent`: wires the OVSDB client, the OpenFlow supervisor, the
//! netlink host and the API server around the [`Agent`], and turns
//! connection events into rounds. It makes no decisions of its own beyond
//! "a new switch connection means a new round".

use super::db::OvsdbConfig;
use super::host::NetlinkHost;
use super::metrics::{self, Counters};
use crate::pipeline::Gateway;
use super::runtime::{Agent, AgentConfig, RoundEvent};
use super::instance::{AbortOnDrop, InstanceLock, LockError};
use super::switch::OpenFlowSwitch;
use crate::api::server::{self, ClientGone, Handler};
use crate::crossnode::participant::CrossNode;
use crate::api::{ApiError, Request, Response};
use crate::host::{AddrFlags, Host, IpPrefix};
use crate::openflow::{Addr, LinkState, Supervisor, SupervisorConfig};
use crate::ovsdb::client::{Address, Client, Options};
use crate::ovsdb::vswitch::{self, BridgeSpec, DatapathType, PortKind, PortSpec};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Everything `podflow agent` is told on its command line.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub bridge: String,
    pub ovs_rundir: PathBuf,
    pub ovsdb: String,
    pub datapath_type: DatapathType,
    pub state_dir: PathBuf,
    /// Pod CIDRs, at most one per family; the gateway takes the first
    /// address of each.
    pub pod_cidrs: Vec<ipnet::IpNet>,
    pub api_socket: PathBuf,
    pub gate_deadline: Option<Duration>,
    /// Set `flow-restore-wait` while the switch is unreachable.
    pub set_key_on_disconnect: bool,
    /// Test-only fault: remove the key before replaying (the bug the
    /// restart test must catch).
    pub fault_clear_key_early: bool,
    /// Test-only fault: ADDs stop after plumbing, before the record.
    pub fault_hang_after_plumbing: bool,
    /// Secondary bridge and its uplink NIC (`--secondary-bridge BR:IF`).
    pub secondary: Option<(String, String)>,
    pub secondary_allow_primary: bool,
    /// `--disable-tx-checksum-offload`; on netdev it is done regardless.
    pub disable_tx_checksum_offload: bool,
    /// `--secondary-probe ADDR` and `--keep-reachable ADDR` for its attach.
    pub secondary_probe: Option<std::net::IpAddr>,
    pub keep_reachable: Vec<std::net::IpAddr>,
    /// Serve Prometheus metrics on this TCP address.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `--cluster-cidr`: destinations the egress masquerade leaves alone.
    pub cluster_cidrs: Vec<ipnet::IpNet>,
    /// `--traffic-mode`: how pods reach peers' pods (used only with peers).
    pub traffic_mode: crate::crossnode::TrafficMode,
    /// Peer source (`--nodes-from`, `--node-name`, `--node-ip`); None: single node.
    pub peers: Option<crate::peers::PeersConfig>,
    /// `--tunnel-mtu`: pods' and the gateway's MTU in Geneve mode (default:
    /// the node address's link MTU minus the Geneve overhead).
    pub tunnel_mtu: Option<u32>,
    /// Test-only fault: the rounds do not wait for the peers; their flows
    /// and routes go in after the key's removal (the bug the cross-node
    /// restart test must catch).
    pub fault_skip_peers: bool,
}

/// The secondary bridge as a gate participant: its flows are re-installed
/// in every round while its uplink is attached.
struct SecondaryBridge {
    exec: Arc<crate::uplink::Executor>,
    bridge: String,
    state_dir: PathBuf,
}

impl super::runtime::SecondaryFlows for SecondaryBridge {
    fn bridges(&self) -> Vec<String> {
        match crate::uplink::journal::Journal::load_all(&self.state_dir) {
            Ok(js) => js
                .into_iter()
                .filter(|j| j.bridge == self.bridge && j.phase == crate::uplink::journal::Phase::Attached)
                .map(|j| j.bridge)
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the uplink journals; the secondary bridge is not part of this round");
                vec![]
            }
        }
    }

    fn install<'a>(&'a self, bridge: &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), super::backend::BackendError>> + Send + 'a>> {
        Box::pin(async move { self.exec.reinstall_flows(bridge).await.map(drop).map_err(|e| super::backend::BackendError::Other(e.to_string())) })
    }
}

/// Opens the uplink executor, rolls back interrupted migrations and
/// registers the secondary bridge with the agent's rounds.
async fn setup_secondary(cfg: &DaemonConfig, agent: &LiveAgent) -> Option<Arc<crate::uplink::Executor>> {
    let (bridge, _) = cfg.secondary.as_ref()?;
    let ucfg = crate::uplink::Config::new(cfg.state_dir.clone(), cfg.ovs_rundir.clone(), Some(cfg.ovsdb.clone()), cfg.datapath_type);
    let exec = Arc::new(retry("open the uplink executor", || crate::uplink::Executor::open(ucfg.clone())).await);
    match exec.recover().await {
        Ok(r) if r.is_empty() => {}
        Ok(r) => tracing::warn!(recovered = ?r, "rolled back interrupted uplink migrations"),
        Err(e) => tracing::error!(error = %e, "could not roll back an interrupted uplink migration"),
    }
    agent.set_secondary(Arc::new(SecondaryBridge { exec: exec.clone(), bridge: bridge.clone(), state_dir: cfg.state_dir.clone() }));
    Some(exec)
}

/// Attaches the secondary bridge's uplink after a round opened the gate
/// (never before: with flow-restore-wait set the bridge forwards nothing).
async fn attach_secondary(cfg: &DaemonConfig, exec: &crate::uplink::Executor) -> Result<(), TaskError> {
    let Some((bridge, nic)) = &cfg.secondary else { return Ok(()) };
    let opts = crate::uplink::AttachOptions { probe: cfg.secondary_probe, allow_primary: cfg.secondary_allow_primary, keep_reachable: cfg.keep_reachable.clone() };
    match exec.attach(bridge, nic, &opts).await {
        Ok(o) => {
            tracing::info!(%bridge, %nic, outcome = ?o, "secondary bridge uplink attached");
            Ok(())
        }
        Err(e) => {
            let msg = format!("secondary bridge {bridge} uplink {nic} not attached: {e}");
            Err(if attach_refused_for_good(&e) { TaskError::Permanent(msg) } else { TaskError::Transient(msg) })
        }
    }
}

/// Whether trying the attach again cannot help: the input or a pre-check
/// refused it, or a failed rollback left a journal for a human.
fn attach_refused_for_good(e: &crate::uplink::UplinkError) -> bool {
    use crate::uplink::UplinkError as U;
    match e {
        U::Input(_) | U::Refused(_) | U::NotAttached { .. } | U::RollbackFailed { .. } | U::RestoredWithErrors { .. } | U::State(_) | U::Crashed(_) => true,
        U::RolledBack { cause, .. } => attach_refused_for_good(cause),
        _ => false,
    }
}

/// Why a background task's attempt failed: worth another try, or not.
#[derive(Debug, thiserror::Error)]
enum TaskError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

/// The OpenFlow port number of the gateway port.
pub const GATEWAY_OFPORT: u16 = 2;

/// The gateway's internal port name: `pfgw-<bridge>`, cut to 15 bytes.
pub fn gateway_port_name(bridge: &str) -> String {
    format!("pfgw-{bridge}").chars().take(15).collect()
}

/// Geneve mode's tunnel port name: `pfgnv-<bridge>`, cut to 15 bytes.
pub fn tunnel_port_name(bridge: &str) -> String {
    format!("pfgnv-{bridge}").chars().take(15).collect()
}

/// Whether the agent runs in Geneve mode (a peer source and `--traffic-mode geneve`).
fn geneve(cfg: &DaemonConfig) -> bool {
    cfg.peers.is_some() && cfg.traffic_mode == crate::crossnode::TrafficMode::Geneve
}

/// Geneve mode's MTU for pods and the gateway: `--tunnel-mtu`, else the
/// MTU of the link holding the node's address minus the Geneve overhead
/// (50 bytes over IPv4, 70 over IPv6), else 1500 minus it.
async fn tunnel_mtu(cfg: &DaemonConfig, node_ip: Option<IpAddr>) -> u32 {
    use crate::pipeline::tunnel::{GENEVE_OVERHEAD_V4, GENEVE_OVERHEAD_V6};
    if let Some(m) = cfg.tunnel_mtu {
        return m;
    }
    let overhead = if node_ip.is_some_and(|i| i.is_ipv6()) { GENEVE_OVERHEAD_V6 } else { GENEVE_OVERHEAD_V4 };
    let link_mtu = async {
        let ip = node_ip?;
        let host = Host::open(None).await.ok()?;
        let addr = host.addresses(None).await.ok()?.into_iter().find(|a| a.prefix.addr == ip)?;
        Some(host.link(&addr.ifname).await.ok()?.mtu)
    }
    .await;
    let mtu = link_mtu.unwrap_or(1500).saturating_sub(overhead);
    tracing::info!(mtu, node_ip = ?node_ip, link_mtu = ?link_mtu, "Geneve mode: pods and the gateway get this MTU (the node address's link MTU minus {overhead} bytes of Geneve overhead)");
    mtu
}

type LiveAgent = Agent<OpenFlowSwitch, OvsdbConfig, NetlinkHost>;

struct ApiHandler(Arc<LiveAgent>, Option<Arc<crate::peers::PeerHandle>>, Option<Arc<CrossNode>>);

impl Handler for ApiHandler {
    async fn handle(&self, req: Request, client: ClientGone) -> Response {
        let a = &self.0;
        let done = |r: Result<(), ApiError>| r.map_or_else(Response::Error, |_| Response::Done);
        match req {
            Request::AddPod(add) => a.add_pod_for(add, || client.is_gone()).await.map_or_else(Response::Error, Response::Pod),
            Request::DelPod { key, .. } => done(a.del_pod(&key).await),
            Request::CheckPod { key } => done(a.check_pod(&key).await),
            Request::GetPod { key } => Response::Pods(a.pod(&key).await.into_iter().collect()),
            Request::ListPods => Response::Pods(a.pods().await),
            Request::Status => Response::Status(a.status().await),
            Request::ListNodes => match &self.1 {
                Some(p) => {
                    let mut report = p.report();
                    if let Some(x) = &self.2 {
                        x.fill(&mut report);
                    }
                    Response::Nodes(report)
                }
                None => Response::Error(ApiError { code: crate::api::code::NOT_AVAILABLE, msg: "this agent has no peer source (--nodes-from)".into(), details: String::new() }),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Busy(#[from] LockError),
    #[error("{0}")]
    Config(String),
    #[error("cannot serve the API socket {path}: {source}")]
    Api { path: String, source: std::io::Error },
    #[error("{0}")]
    Setup(String),
}

async fn retry<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let mut delay = Duration::from_millis(200);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => {
                tracing::warn!(error = %e, "{what} failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Creates the bridge and the gateway port (idempotent); returns the gateway.
async fn setup_bridge(cfg: &DaemonConfig, db: &Client, mtu: Option<u32>) -> Result<Gateway, DaemonError> {
    let spec = BridgeSpec { name: cfg.bridge.clone(), datapath_type: cfg.datapath_type, external_ids: BTreeMap::from([("podflow".to_string(), "true".to_string())]) };
    retry("ensure the bridge", || vswitch::ensure_bridge(db, &spec, Instant::now() + Duration::from_secs(10))).await;
    let gw_name = gateway_port_name(&cfg.bridge);
    let port = PortSpec {
        name: gw_name.clone(),
        kind: PortKind::Internal,
        ofport_request: Some(GATEWAY_OFPORT),
        external_ids: BTreeMap::from([("podflow-role".to_string(), "gateway".to_string())]),
    };
    let ofport = retry("add the gateway port", || vswitch::add_port(db, &cfg.bridge, &port, Instant::now() + Duration::from_secs(10))).await;
    if let Some(mtu) = mtu {
        retry("set the gateway port's MTU", || vswitch::set_mtu_request(db, &gw_name, mtu, Instant::now() + Duration::from_secs(10))).await;
    }
    let host = Host::open(None).await.map_err(|e| DaemonError::Setup(e.to_string()))?;
    let link = host.link(&gw_name).await.map_err(|e| DaemonError::Setup(e.to_string()))?;
    let mac = link.mac.map(|m| m.0).ok_or_else(|| DaemonError::Setup(format!("gateway port {gw_name} has no MAC")))?;
    let mut gw = Gateway { ofport: ofport as u32, mac, ipv4: None, ipv6: None };
    if cfg.pod_cidrs.iter().any(|c| matches!(c, ipnet::IpNet::V6(_))) {
        super::host::prepare_gateway_ipv6(&gw_name).map_err(|e| DaemonError::Setup(e.to_string()))?;
    }
    let have = host.addresses(Some(&gw_name)).await.map_err(|e| DaemonError::Setup(e.to_string()))?;
    for cidr in &cfg.pod_cidrs {
        let first = first_host(cidr);
        let prefix = IpPrefix::new(first, cidr.prefix_len()).map_err(|e| DaemonError::Setup(e.to_string()))?;
        if !have.iter().any(|a| a.prefix == prefix) {
            // IPv6 without duplicate address detection: a tentative
            // address would not answer the pods' solicitations for a second.
            let flags = if first.is_ipv6() { AddrFlags::NODAD } else { AddrFlags::default() };
            host.add_address(&gw_name, prefix, None, flags).await.map_err(|e| DaemonError::Setup(e.to_string()))?;
        }
        match first {
            IpAddr::V4(ip) => gw.ipv4 = Some(ip),
            IpAddr::V6(ip) => gw.ipv6 = Some(ip),
        }
    }
    host.set_up(&gw_name, true).await.map_err(|e| DaemonError::Setup(e.to_string()))?;
    Ok(gw)
}

/// The first address of a pod CIDR (the gateway's).
pub fn first_host(cidr: &ipnet::IpNet) -> IpAddr {
    match cidr.network() {
        IpAddr::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n) + 1)),
        IpAddr::V6(n) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(n) + 1)),
    }
}

/// Re-creates the egress masquerade table (one nft transaction).
/// Without `--cluster-cidr`, the cluster is every pod CIDR the agent
/// knows: its own and, with a peer source, every node's in `peers`.
async fn setup_egress(cfg: &DaemonConfig, peers: Option<&crate::peers::PeerSnapshot>) -> Result<(), DaemonError> {
    let pods: Vec<ipnet::IpNet> = cfg.pod_cidrs.iter().map(|c| c.trunc()).collect();
    let mut cluster = cfg.cluster_cidrs.clone();
    if cluster.is_empty() {
        if let Some(snap) = peers {
            cluster = pods.iter().copied().chain(snap.nodes.iter().flat_map(|n| n.pod_cidrs.iter().map(|c| c.trunc()))).collect();
            cluster.sort();
            cluster.dedup();
        }
    }
    let rules = crate::egress::EgressRules::new(&pods, &cluster, &gateway_port_name(&cfg.bridge)).map_err(|e| DaemonError::Config(e.to_string()))?;
    crate::egress::install(&rules).await.map_err(|e| DaemonError::Setup(e.to_string()))?;
    tracing::info!(table = crate::egress::TABLE, pods = ?rules.pod_cidrs(), cluster = ?rules.cluster_cidrs(), "egress masquerade rules installed");
    Ok(())
}

/// Keeps the egress rules' cluster CIDRs in step with the peer list
/// (when `--cluster-cidr` does not fix them): a peer's pods are not
/// "outside", their traffic must keep its pod source address.
fn spawn_egress_follower(cfg: &DaemonConfig, peers: &crate::peers::PeerHandle) -> Option<AbortOnDrop<()>> {
    if !cfg.cluster_cidrs.is_empty() {
        return None;
    }
    let cfg = cfg.clone();
    let mut rx = peers.subscribe();
    Some(AbortOnDrop(tokio::spawn(async move {
        let mut installed: Option<std::sync::Arc<Vec<crate::peers::Peer>>> = None;
        loop {
            let snap = rx.borrow_and_update().clone();
            if snap.complete && installed.as_ref() != Some(&snap.nodes) {
                match setup_egress(&cfg, Some(&snap)).await {
                    Ok(()) => installed = Some(snap.nodes.clone()),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot update the egress rules for the peer list; retrying in 1 s");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    })))
}

/// Unix time (ns) of the round's `FlowRestoreWaitCleared` event (the
/// agent's events carry monotonic instants).
async fn frw_removed_unix_ns(agent: &LiveAgent) -> u64 {
    let events = agent.events().await;
    let now_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let now = Instant::now();
    events
        .iter()
        .rev()
        .find(|(_, e)| matches!(e, RoundEvent::FlowRestoreWaitCleared))
        .map_or(now_unix, |(t, _)| now_unix.saturating_sub(now.saturating_duration_since(*t).as_nanos() as u64))
}

/// What the metrics endpoint reads: the agent, its counters, and the
/// OVSDB client's resync generation (read at each scrape).
struct MetricsSource {
    agent: Arc<LiveAgent>,
    counters: Arc<Counters>,
    sup: Arc<Supervisor>,
    db: Client,
    peers: Option<Arc<crate::peers::PeerHandle>>,
    cross: Option<Arc<CrossNode>>,
    /// Geneve mode: the tunnel port, whose packet counters are exported.
    tunnel_port: Option<String>,
}

impl metrics::Source for MetricsSource {
    async fn snapshot(&self) -> metrics::Snapshot {
        Counters::set_reconnects(&self.counters.ovsdb_reconnects, self.db.read(|s| s.generation));
        self.counters.openflow_connect_attempts.store(self.sup.connect_attempts(), std::sync::atomic::Ordering::Relaxed);
        let mut snap = metrics::Snapshot::new(self.agent.status().await, self.agent.last_restore_duration().await, &self.counters);
        snap.extra.extend(self.peers.iter().flat_map(|p| p.metrics()));
        snap.extra.extend(self.cross.iter().flat_map(|x| x.metrics()));
        if let Some(port) = &self.tunnel_port {
            match vswitch::interface_statistics(&self.db, port, Instant::now() + Duration::from_secs(2)).await {
                Ok(st) => {
                    let get = |k: &str| st.get(k).copied().unwrap_or(0).max(0) as u64;
                    snap.extra.extend([
                        ("podflow_tunnel_rx_packets", "Packets received by the Geneve tunnel port (Interface statistics, refreshed by ovs-vswitchd every few seconds).", true, get("rx_packets")),
                        ("podflow_tunnel_tx_packets", "Packets sent through the Geneve tunnel port (Interface statistics).", true, get("tx_packets")),
                    ]);
                }
                Err(e) => tracing::debug!(error = %e, "cannot read the tunnel port's statistics"),
            }
        }
        snap
    }

    async fn status(&self) -> crate::api::Status {
        self.agent.status().await
    }
}

/// Binds the metrics address and serves `/metrics`, `/livez` and `/readyz`.
async fn spawn_metrics(addr: std::net::SocketAddr, source: MetricsSource) -> Result<tokio::task::JoinHandle<()>, DaemonError> {
    let listener = metrics::bind(addr).await.map_err(|e| DaemonError::Setup(e.to_string()))?;
    tracing::info!(%addr, "serving metrics, liveness and readiness");
    Ok(tokio::spawn(metrics::serve(listener, Arc::new(source))))
}

/// Resolves once the supervisor is no longer connected with generation `gen`.
async fn wait_for_other_generation(sup: &Supervisor, gen: u64) {
    let mut rx = sup.watch();
    loop {
        if !matches!(&*rx.borrow_and_update(), LinkState::Connected(c) if c.generation == gen) {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// How long a starting agent waits for the previous one on the same state
/// directory to exit (a stopping agent takes well under a second).
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Resolves at the first SIGTERM or SIGINT.
fn stop_signal() -> Result<impl std::future::Future<Output = ()>, DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| DaemonError::Setup(e.to_string()))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Runs the agent until SIGINT/SIGTERM, which ends it at once whatever the
/// switch and OVSDB are doing: everything runs inside one select against
/// the signal, and what it spawned is aborted when dropped. Flows and the
/// key are left as they are on exit: a restarted agent takes over without
/// loss. Only the socket this process bound is removed, before the state
/// directory's lock is released.
pub async fn run(cfg: DaemonConfig) -> Result<(), DaemonError> {
    let stop = stop_signal()?;
    tokio::pin!(stop);
    let _lock = tokio::select! {
        l = InstanceLock::acquire(&cfg.state_dir, LOCK_WAIT) => l?,
        _ = &mut stop => return Ok(()),
    };
    let r = tokio::select! {
        r = serve(&cfg) => r,
        _ = &mut stop => Ok(()),
    };
    tracing::info!("agent stopping; flows and flow-restore-wait are left as they are");
    r
}

/// Everything a running agent holds; dropping it stops the tasks and
/// removes the socket.
struct Running {
    agent: Arc<LiveAgent>,
    sup: Arc<Supervisor>,
    counters: Arc<Counters>,
    secondary: Option<Arc<crate::uplink::Executor>>,
    /// The peer source (its snapshots: `subscribe()`), when configured.
    #[allow(dead_code)]
    peers: Option<Arc<crate::peers::PeerHandle>>,
    /// Cross-node forwarding (peer routes, Geneve flows), when there are peers.
    cross: Option<Arc<CrossNode>>,
    /// Keeps the Geneve flows in step with the peer list between rounds.
    _follower: Option<AbortOnDrop<()>>,
    /// Re-installs the egress rules when the peer list changes.
    _egress: Option<AbortOnDrop<()>>,
    _api: AbortOnDrop<std::io::Result<()>>,
    _socket: server::BoundSocket,
    _metrics: Option<AbortOnDrop<()>>,
    /// Keeps the agent's `ovsdb_connected` (status, /readyz) true to the client.
    _ovsdb_state: AbortOnDrop<()>,
}

async fn start(cfg: &DaemonConfig) -> Result<Running, DaemonError> {
    // The peer source starts first: its (replayed) snapshot exists before any round.
    let peers = cfg.peers.clone().map(|p| Arc::new(crate::peers::spawn(p, Some(&cfg.state_dir)).expecting_local_pod_cidrs(cfg.pod_cidrs.clone())));
    let addr: Address = cfg.ovsdb.parse().map_err(|e: crate::dial::AddrError| DaemonError::Config(e.to_string()))?;
    let db = Client::start(addr, Options::default());
    retry("connect to OVSDB", || db.wait_synced(Instant::now() + Duration::from_secs(10))).await;
    let node_ip = peers.as_ref().and_then(|p| p.config.node_ip(&p.current()));
    let mtu = if geneve(cfg) { Some(tunnel_mtu(cfg, node_ip).await) } else { None };
    let gateway = setup_bridge(cfg, &db, mtu).await?;
    let tunnel_ofport = if geneve(cfg) {
        let port = PortSpec {
            name: tunnel_port_name(&cfg.bridge),
            kind: PortKind::GeneveFlow,
            ofport_request: Some(crate::pipeline::tunnel::TUNNEL_OFPORT),
            external_ids: BTreeMap::from([("podflow-role".to_string(), "tunnel".to_string())]),
        };
        Some(retry("add the Geneve tunnel port", || vswitch::add_port(&db, &cfg.bridge, &port, Instant::now() + Duration::from_secs(10))).await as u32)
    } else {
        None
    };
    tracing::info!(bridge = %cfg.bridge, gateway_ipv4 = ?gateway.ipv4, gateway_ipv6 = ?gateway.ipv6, "bridge ready");
    let snap = peers.as_ref().map(|p| p.current()).filter(|s| s.complete);
    setup_egress(cfg, snap.as_ref()).await?;
    let egress_follower = peers.as_ref().and_then(|p| spawn_egress_follower(cfg, p));

    let mgmt = Addr::bridge_mgmt(&cfg.ovs_rundir, &cfg.bridge);
    let sup = Arc::new(Supervisor::spawn(mgmt, SupervisorConfig::default()));
    let tunnel_gateway = gateway.clone();
    let agent_cfg = AgentConfig {
        bridge: cfg.bridge.clone(),
        state_dir: cfg.state_dir.clone(),
        gateway,
        gate_deadline: cfg.gate_deadline,
        retry_initial: Duration::from_millis(100),
        retry_max: Duration::from_secs(5),
        fault_clear_key_early: cfg.fault_clear_key_early,
        fault_hang_after_plumbing: cfg.fault_hang_after_plumbing,
    };
    let dbops = OvsdbConfig { client: db.clone(), bridge: cfg.bridge.clone(), timeout: Duration::from_secs(10) };
    let counters = Arc::new(Counters::default());
    let switch = OpenFlowSwitch::new(sup.clone()).counting(counters.clone());
    let netlink = NetlinkHost::new(cfg.datapath_type, cfg.disable_tx_checksum_offload).with_mtu(mtu).with_cni_lock_dir(crate::cni::lock::dir_for_socket(&cfg.api_socket));
    let agent = Arc::new(Agent::new(agent_cfg, switch, dbops, netlink).map_err(|e| DaemonError::Setup(e.msg))?);
    agent.set_connected(None, Some(true)).await;
    let ovsdb_state = spawn_ovsdb_follower(&db, &agent);
    if let Err(e) = agent.reconcile().await {
        tracing::error!(error = %e, "could not remove the ports and veths of pods without a record; a DEL of each still does");
    }
    let secondary = setup_secondary(cfg, &agent).await;
    // Before the first round: the peers are one of its gate's participants.
    let cross = match &peers {
        Some(p) => Some(start_crossnode(cfg, p, &agent, tunnel_ofport.map(|o| (o, tunnel_gateway.clone())), &sup).await?),
        None => None,
    };
    let follower = cross.clone().map(|x| AbortOnDrop(tokio::spawn(x.follow())));

    let (listener, socket) = server::bind(&cfg.api_socket).map_err(|e| DaemonError::Api { path: cfg.api_socket.display().to_string(), source: e })?;
    let api = AbortOnDrop(tokio::spawn(server::serve(listener, Arc::new(ApiHandler(agent.clone(), peers.clone(), cross.clone())))));
    let metrics = match cfg.metrics_addr {
        Some(addr) => {
            let source = MetricsSource {
                agent: agent.clone(),
                counters: counters.clone(),
                sup: sup.clone(),
                db: db.clone(),
                peers: peers.clone(),
                cross: cross.clone(),
                tunnel_port: tunnel_ofport.map(|_| tunnel_port_name(&cfg.bridge)),
            };
            Some(AbortOnDrop(spawn_metrics(addr, source).await?))
        }
        None => None,
    };
    Ok(Running { agent, sup, counters, secondary, peers, cross, _follower: follower, _egress: egress_follower, _api: api, _socket: socket, _metrics: metrics, _ovsdb_state: ovsdb_state })
}

/// Follows the OVSDB client's connection into the agent's status: it was
/// set once at start, so `status` and `/readyz` said "connected" while
/// ovsdb-server was down.
fn spawn_ovsdb_follower(db: &Client, agent: &Arc<LiveAgent>) -> AbortOnDrop<()> {
    let (mut rx, agent) = (db.subscribe(), agent.clone());
    AbortOnDrop(tokio::spawn(async move {
        let mut last = None;
        loop {
            let now = rx.borrow_and_update().connected;
            if last != Some(now) {
                last = Some(now);
                agent.set_connected(None, Some(now)).await;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }))
}

/// Starts cross-node forwarding on the peer source's snapshots and makes
/// the peers a participant of every round's gate.
async fn start_crossnode(cfg: &DaemonConfig, peers: &crate::peers::PeerHandle, agent: &Arc<LiveAgent>, tunnel: Option<(u32, Gateway)>, sup: &Arc<Supervisor>) -> Result<Arc<CrossNode>, DaemonError> {
    let geneve = tunnel.map(|(ofport, gateway)| crate::crossnode::participant::GeneveSetup {
        port: crate::pipeline::tunnel::TunnelPort { ofport, gateway, own_cidrs: cfg.pod_cidrs.iter().map(|c| c.trunc()).collect() },
        node_ip: peers.config.node_ip,
        switch: OpenFlowSwitch::new(sup.clone()),
    });
    let rcfg = crate::crossnode::driver::RouteConfig {
        node_name: peers.config.node_name.clone(),
        mode: cfg.traffic_mode,
        gateway_dev: gateway_port_name(&cfg.bridge),
        table: crate::host::RT_TABLE_MAIN,
    };
    let x = Arc::new(CrossNode::start(rcfg, peers.subscribe(), geneve).await.map_err(|e| DaemonError::Setup(e.to_string()))?);
    if cfg.fault_skip_peers {
        tracing::warn!("fault injection: the rounds do not wait for the peers; they are installed after flow-restore-wait is removed");
    } else {
        agent.set_peers(x.clone());
    }
    Ok(x)
}

/// Retries `f` with backoff until it succeeds or fails for good (for the
/// tasks below; they are aborted when no longer wanted).
fn spawn_retrying<F, Fut>(what: &'static str, mut f: F) -> AbortOnDrop<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), TaskError>> + Send,
{
    AbortOnDrop(tokio::spawn(async move {
        let mut delay = Duration::from_millis(200);
        loop {
            match f().await {
                Ok(()) => return,
                Err(TaskError::Permanent(e)) => {
                    tracing::error!(error = %e, "{what} refused for good; not retrying (the next round or a restart tries again)");
                    return;
                }
                Err(TaskError::Transient(e)) => {
                    tracing::warn!(error = %e, "{what} failed; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }))
}

/// Turns connection events into rounds until the supervisor ends.
async fn serve(cfg: &DaemonConfig) -> Result<(), DaemonError> {
    let run = start(cfg).await?;
    let (agent, sup, counters) = (&run.agent, &run.sup, &run.counters);
    let mut rx = sup.watch();
    let mut last_gen = 0u64;
    let mut was_connected = false;
    let mut retry_every = Duration::from_secs(1);
    let mut _bg = Background::default();
    loop {
        let state = rx.borrow_and_update().clone();
        match state {
            LinkState::Connected(c) if c.generation != last_gen => {
                _bg = Background::default();
                if was_connected {
                    // The loss was not seen (a quick restart): nothing stays Ready from the old switch.
                    agent.switch_gone().await;
                }
                last_gen = c.generation;
                Counters::set_reconnects(&counters.openflow_reconnects, c.generation);
                was_connected = true;
                agent.set_connected(Some(true), None).await;
                tracing::info!(generation = c.generation, new_switch = c.is_new_switch(), "switch connected; starting a round");
                if !run_rounds(agent, sup, counters, last_gen).await {
                    continue;
                }
                if let (true, Some(x)) = (cfg.fault_skip_peers, &run.cross) {
                    // The bug the fault stands for: peers installed after the key went.
                    // As with `ClearKeyEarly`, a 300 ms gap: right after the removal, a
                    // test's monitor on a loaded machine could see the removal after the
                    // peers' acknowledgement and miss the fault by luck.
                    use super::runtime::PeerFlows;
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    let round = agent.status().await.round;
                    match x.install(round).await {
                        Ok(true) => {
                            let unix_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
                            tracing::info!(round, unix_ns, "peers acknowledged");
                        }
                        other => tracing::warn!(?other, "fault injection: the late peer install did not complete"),
                    }
                }
                if let Some(exec) = run.secondary.clone() {
                    let cfg = cfg.clone();
                    _bg._attach = Some(spawn_retrying("attach the secondary bridge's uplink", move || {
                        let (cfg, exec) = (cfg.clone(), exec.clone());
                        async move { attach_secondary(&cfg, &exec).await }
                    }));
                }
            }
            LinkState::Disconnected { .. } | LinkState::Connecting if was_connected => {
                was_connected = false;
                _bg = Background::default();
                agent.switch_gone().await;
                tracing::warn!("switch lost; pods are Pending until the next switch acknowledges their flows");
                if cfg.set_key_on_disconnect {
                    let a = agent.clone();
                    _bg._set_key = Some(spawn_retrying("set flow-restore-wait after the switch was lost", move || {
                        let a = a.clone();
                        async move { a.set_flow_restore_wait().await.map_err(|e| TaskError::Transient(e.to_string())) }
                    }));
                }
            }
            _ => {}
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return Ok(()) },
            _ = tokio::time::sleep(retry_every), if agent.status().await.pods_failed > 0 => {
                let left = agent.retry_failed().await;
                if left > 0 {
                    tracing::warn!(failed = left, "pods whose flows the switch refused; retrying in {retry_every:?}");
                    retry_every = (retry_every * 2).min(Duration::from_secs(60));
                } else {
                    tracing::info!("every pod's flows are installed again");
                    retry_every = Duration::from_secs(1);
                }
            }
        }
    }
}

/// Background work of the current connection, dropped (aborted) when the
/// switch comes or goes, so none of it ever blocks the event loop.
#[derive(Default)]
struct Background {
    _set_key: Option<AbortOnDrop<()>>,
    _attach: Option<AbortOnDrop<()>>,
}

/// Runs rounds on connection `generation` until one completes (true) or
/// the switch is lost or replaced (false).
async fn run_rounds(agent: &Arc<LiveAgent>, sup: &Supervisor, counters: &Counters, generation: u64) -> bool {
    loop {
        // A round can be long (a switch that refuses flows, no deadline):
        // start over when the switch is lost or replaced in the middle.
        let result = agent.run_round_until(wait_for_other_generation(sup, generation)).await;
        match result {
            Ok(round) => {
                // Proven: if it drops now, reconnect at once with a fresh backoff.
                sup.mark_healthy(generation);
                counters.frw_removed_unix_ns.store(frw_removed_unix_ns(agent).await, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(round, "round complete; flow-restore-wait removed");
                return true;
            }
            Err(e) => {
                tracing::error!(error = %e, "round failed");
                // A lost switch ends this attempt; the next connection starts a new round.
                if !matches!(sup.state(), LinkState::Connected(ref c2) if c2.generation == generation) {
                    return false;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
