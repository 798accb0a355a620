//! Moving a node's physical uplink into a secondary OVS bridge, crash-safe
//! and with rollback (see `docs/uplink.md`). This module owns the journal
//! ([`journal`]), the order of the steps and their undo ([`Executor`]),
//! and the bridge's forwarding flows ([`flows`]).
//!
//! It never removes `flow-restore-wait` (the agent's gate does), never
//! attaches a NIC while that key is set, never moves the NIC into a bridge
//! whose flows are not acknowledged, and never takes a step that is not
//! journaled (fsync) first. Every step and every undo checks the kernel
//! and OVSDB before acting, so any of them can be repeated after a crash.


pub mod journal;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::host::{AddrFlags, Host, HostError, IpPrefix, Link, MacAddr, Route, Scope, RT_TABLE_LOCAL, RT_TABLE_MAIN};
use crate::openflow::{Addr, Session, SessionConfig};
use crate::ovsdb::client::{Address, Client, Options};
use crate::ovsdb::vswitch::{self, BridgeSpec, DatapathType, InterfaceSettings, PortKind, PortSpec};
use crate::probe::{Limit, ProbeOptions, Prober};
use crate::pipeline::uplink as flows;
use journal::{Journal, JournalError, Original, Phase, RecordedAddr, RecordedRoute, Recovery, Step};
use podflow_proto::openflow::bundle::flags;
use podflow_proto::openflow::Message;
use podflow_proto::ovsdb::monitor::column;

/// `external_ids` key on the bridge and on both ports podflow adds.
pub const EXTERNAL_ID: &str = "podflow-uplink";

/// `RTPROT_KERNEL`: routes the kernel derives from addresses (they move
/// with the addresses and are never recorded).
const RTPROT_KERNEL: u8 = 2;

/// How an [`Executor`] reaches Open vSwitch and where it keeps journals.
#[derive(Debug, Clone)]
pub struct Config {
    pub state_dir: PathBuf,
    /// OVSDB address (`unix:PATH` or `tcp:HOST:PORT`).
    pub ovsdb: String,
    /// Where `<bridge>.mgmt` lives.
    pub ovs_rundir: PathBuf,
    pub datapath_type: DatapathType,
    /// Deadline of each OVSDB, OpenFlow or link wait.
    pub timeout: Duration,
    /// ARP probe: requests sent (one per `probe_interval`) before giving up.
    pub probe_count: u32,
    pub probe_interval: Duration,
    /// Test-only fault: skip the `install-flows` step (the bridge then
    /// forwards nothing), so a test can prove the probe catches it.
    pub fault_skip_flows: bool,
}

impl Config {
    pub fn new(state_dir: PathBuf, ovs_rundir: PathBuf, ovsdb: Option<String>, datapath_type: DatapathType) -> Config {
        Config {
            ovsdb: ovsdb.unwrap_or_else(|| format!("unix:{}", ovs_rundir.join("db.sock").display())),
            state_dir,
            ovs_rundir,
            datapath_type,
            timeout: Duration::from_secs(10),
            probe_count: 30,
            probe_interval: Duration::from_millis(100),
            fault_skip_flows: false,
        }
    }
}

/// Why an uplink command failed, by origin. Each prints as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The caller's input is unusable.
    #[error("{0}")]
    Input(String),
    /// A pre-check refused the attach; nothing was changed.
    #[error("refusing to attach: {0}")]
    Refused(String),
    /// The kernel refused or failed a netlink request.
    #[error("cannot {context}: {source}")]
    Host { context: String, source: HostError },
    /// OVSDB refused, or could not be reached.
    #[error("cannot {context}: {source}")]
    Ovsdb { context: String, source: crate::ovsdb::Error },
    /// The OpenFlow switch refused, or could not be reached.
    #[error("cannot {context}: {detail}")]
    OpenFlow { context: String, detail: String },
    /// The journal could not be written or read.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The kernel or OVSDB is not as the journal says it should be.
    #[error("the node is not as the uplink journal expects: {0}")]
    State(String),
    /// Something did not happen in time (a port, a socket, a netdev).
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    /// The ARP prober could not run.
    #[error("cannot probe {target}: {source}")]
    Probe { target: Ipv4Addr, source: crate::probe::ProbeError },
    /// The probe through the bridge got no answer.
    #[error("no ARP answer from {target} through bridge {bridge} after {sent} requests")]
    ProbeFailed { bridge: String, target: Ipv4Addr, sent: u32 },
    /// A step failed and the node was restored as it was.
    #[error("attaching {ifname} to {bridge} failed at step `{step}` and was rolled back ({cause})")]
    RolledBack { bridge: String, ifname: String, step: &'static str, cause: Box<UplinkError> },
    /// A step failed and so did its rollback: the journal is kept.
    #[error("attaching {ifname} to {bridge} failed at step `{step}` ({cause}) and its rollback failed too ({rollback}); the journal is kept and the next `podflow uplink` command resumes the rollback")]
    RollbackFailed { bridge: String, ifname: String, step: &'static str, cause: Box<UplinkError>, rollback: Box<UplinkError> },
    /// Detach of an interface that has no journal.
    #[error("{ifname} is not attached to bridge {bridge} (no journal in {dir})")]
    NotAttached { bridge: String, ifname: String, dir: String },
}

fn host_err(context: impl Into<String>) -> impl FnOnce(HostError) -> UplinkError {
    let context = context.into();
    move |source| UplinkError::Host { context, source }
}

fn db_err(context: impl Into<String>) -> impl FnOnce(crate::ovsdb::Error) -> UplinkError {
    let context = context.into();
    move |source| UplinkError::Ovsdb { context, source }
}

/// What `attach` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum AttachOutcome {
    /// Attached now; `probed` is the address that answered through the bridge.
    Attached { probed: Option<Ipv4Addr> },
    /// The journal says it is attached already: nothing was done.
    AlreadyAttached,
}

/// An interrupted migration that was brought back to "not attached".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovered {
    pub bridge: String,
    pub interface: String,
    /// The step the interrupted run had recorded.
    pub from: &'static str,
}

/// One migration as `podflow uplink status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct UplinkStatus {
    pub bridge: String,
    pub interface: String,
    pub bridged_name: String,
    /// `attached`, `attaching`, or `rolling-back`.
    pub phase: String,
    pub step: Option<&'static str>,
    pub reason: Option<String>,
    /// The NIC's current name (by its interface index), if it still exists.
    pub nic_name: Option<String>,
    pub bridge_exists: bool,
    pub internal_port: bool,
    pub uplink_port: bool,
    /// Every check of an attached uplink holds.
    pub healthy: bool,
}

/// The whole status: migrations, what was recovered first, and the key.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub uplinks: Vec<UplinkStatus>,
    pub recovered: Vec<Recovered>,
    pub flow_restore_wait: bool,
}

/// Runs attach, detach, status and recovery against one node.
pub struct Executor {
    cfg: Config,
    db: Client,
    host: Host,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

/// The OpenFlow ports found or made on the way.
#[derive(Debug, Default)]
struct Ports {
    internal: Option<u32>,
    uplink: Option<u32>,
}

fn check_ifname(what: &str, name: &str) -> Result<(), UplinkError> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0', ':', '~']) || name == "." || name == ".." {
        return Err(UplinkError::Input(format!("`{name}` is not a valid {what} name (1 to 15 characters, no '/', ':', '~' or spaces)")));
    }
    Ok(())
}

impl Executor {
    /// Connects to OVSDB and opens netlink in the caller's namespace.
    pub async fn open(cfg: Config) -> Result<Executor, UplinkError> {
        let addr: Address = cfg.ovsdb.parse().map_err(|e: crate::dial::AddrError| UplinkError::Input(e.to_string()))?;
        let db = Client::connect(addr, Options::default(), Instant::now() + cfg.timeout).await.map_err(db_err(format!("connect to OVSDB at {}", cfg.ovsdb)))?;
        let host = Host::open(None).await.map_err(host_err("open a netlink connection"))?;
        Ok(Executor { cfg, db, host })
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.cfg.timeout
    }

    fn mgmt(&self, bridge: &str) -> PathBuf {
        self.cfg.ovs_rundir.join(format!("{bridge}.mgmt"))
    }

    // ------------------------------------------------------------ commands

    /// Attaches `ifname` to `bridge` (see the module docs). An interrupted
    /// earlier run of the same pair is rolled back first; an attached pair
    /// is left alone.
    pub async fn attach(&self, bridge: &str, ifname: &str, probe: Option<Ipv4Addr>, allow_primary: bool) -> Result<AttachOutcome, UplinkError> {
        check_ifname("bridge", bridge)?;
        check_ifname("interface", ifname)?;
        let _lock = self.lock().await?;
        if let Some(j) = Journal::load(&self.cfg.state_dir, bridge, ifname)? {
            match journal::recovery(&j) {
                Recovery::Consistent => return Ok(AttachOutcome::AlreadyAttached),
                Recovery::RollBack { from } => {
                    tracing::warn!(bridge, ifname, step = from.name(), "an earlier attach was interrupted; rolling it back first");
                    self.roll_back(&j, from).await?;
                }
            }
        }
        for j in Journal::load_all(&self.cfg.state_dir)? {
            if j.original.ifname == ifname {
                return Err(UplinkError::Refused(format!("{ifname} is already attached to bridge {} (detach it first)", j.bridge)));
            }
            if j.bridge == bridge {
                return Err(UplinkError::Refused(format!("bridge {bridge} already has the uplink {} (detach it first)", j.original.ifname)));
            }
        }
        let j = self.precheck(bridge, ifname, allow_primary).await?;
        let target = probe.or_else(|| default_gateway(&j.original));
        self.run_steps(j, target).await
    }

    /// Detaches `ifname` from `bridge`, restoring the NIC exactly as
    /// recorded before the attach.
    pub async fn detach(&self, bridge: &str, ifname: &str) -> Result<(), UplinkError> {
        check_ifname("bridge", bridge)?;
        check_ifname("interface", ifname)?;
        let _lock = self.lock().await?;
        let Some(mut j) = Journal::load(&self.cfg.state_dir, bridge, ifname)? else {
            return Err(UplinkError::NotAttached { bridge: bridge.into(), ifname: ifname.into(), dir: self.cfg.state_dir.join("uplink").display().to_string() });
        };
        let from = match journal::recovery(&j) {
            Recovery::Consistent => {
                j.phase = Phase::RollingBack { step: Step::Probe, reason: "detach".into() };
                j.save(&self.cfg.state_dir)?;
                Step::Probe
            }
            Recovery::RollBack { from } => from,
        };
        self.roll_back(&j, from).await
    }

    /// Rolls back every interrupted migration of the state directory.
    pub async fn recover(&self) -> Result<Vec<Recovered>, UplinkError> {
        let _lock = self.lock().await?;
        self.recover_locked().await
    }

    async fn recover_locked(&self) -> Result<Vec<Recovered>, UplinkError> {
        let mut out = Vec::new();
        for j in Journal::load_all(&self.cfg.state_dir)? {
            if let Recovery::RollBack { from } = journal::recovery(&j) {
                tracing::warn!(bridge = %j.bridge, ifname = %j.original.ifname, step = from.name(), "rolling back an interrupted uplink migration");
                self.roll_back(&j, from).await?;
                out.push(Recovered { bridge: j.bridge.clone(), interface: j.original.ifname.clone(), from: from.name() });
            }
        }
        Ok(out)
    }

    /// Recovers, then reports every migration with what the kernel and
    /// OVSDB show.
    pub async fn status(&self) -> Result<StatusReport, UplinkError> {
        let _lock = self.lock().await?;
        let recovered = self.recover_locked().await?;
        let mut uplinks = Vec::new();
        for j in Journal::load_all(&self.cfg.state_dir)? {
            let nic = self.host.link_by_index(j.original.index).await.ok().filter(|l| l.mac.map(|m| m.to_string()) == Some(j.original.mac.clone()));
            let bridge_exists = self.db.read(|s| s.replica.find("Bridge", "name", &j.bridge).is_some());
            let internal_port = self.port_on_bridge(&j.bridge, &j.original.ifname);
            let uplink_port = self.port_on_bridge(&j.bridge, &j.bridged_name);
            let (phase, step, reason) = match &j.phase {
                Phase::Attached => ("attached", None, None),
                Phase::Attaching { step } => ("attaching", Some(step.name()), None),
                Phase::RollingBack { step, reason } => ("rolling-back", Some(step.name()), Some(reason.clone())),
            };
            let healthy = phase == "attached"
                && bridge_exists
                && internal_port
                && uplink_port
                && nic.as_ref().is_some_and(|l| l.name == j.bridged_name);
            uplinks.push(UplinkStatus {
                bridge: j.bridge.clone(),
                interface: j.original.ifname.clone(),
                bridged_name: j.bridged_name.clone(),
                phase: phase.into(),
                step,
                reason,
                nic_name: nic.map(|l| l.name),
                bridge_exists,
                internal_port,
                uplink_port,
                healthy,
            });
        }
        let flow_restore_wait = vswitch::flow_restore_wait(&self.db, self.deadline()).await.map_err(db_err("read flow-restore-wait"))?;
        Ok(StatusReport { uplinks, recovered, flow_restore_wait })
    }

    /// Re-installs the forwarding flows of every attached uplink whose
    /// bridge is `bridge` (after a switch restart). Returns how many.
    pub async fn reinstall_flows(&self, bridge: &str) -> Result<usize, UplinkError> {
        let _lock = self.lock().await?;
        let mut n = 0;
        for j in Journal::load_all(&self.cfg.state_dir)? {
            if j.bridge == bridge && j.phase == Phase::Attached {
                let mut ports = Ports::default();
                self.install_flows(&j, &mut ports).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Holds `<state-dir>/uplink/lock` (flock) so that a CLI command and
    /// the agent never work on the journals at the same time. Released
    /// when the returned file is dropped (or the process dies).
    async fn lock(&self) -> Result<std::fs::File, UplinkError> {
        use std::os::fd::AsRawFd;
        let dir = self.cfg.state_dir.join("uplink");
        let path = dir.join("lock");
        let io = |e: std::io::Error| UplinkError::Journal(JournalError::Read { path: path.display().to_string(), detail: e.to_string() });
        std::fs::create_dir_all(&dir).map_err(io)?;
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
        let limit = self.cfg.timeout * 6;
        let end = Instant::now() + limit;
        loop {
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(f);
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) || Instant::now() >= end {
                return Err(UplinkError::Timeout { what: format!("the lock {} held by another podflow process ({e})", path.display()), after: limit });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // ---------------------------------------------------------- pre-checks

    fn port_on_bridge(&self, bridge: &str, port: &str) -> bool {
        self.db.read(|s| {
            let Some((puuid, _)) = s.replica.find("Port", "name", port) else { return false };
            s.replica
                .find("Bridge", "name", bridge)
                .is_some_and(|(_, b)| column(b, "ports").atoms().iter().any(|a| matches!(a, podflow_proto::ovsdb::Atom::Uuid(u) if u == puuid)))
        })
    }

    /// Checks that the attach may start and records the NIC as it is.
    async fn precheck(&self, bridge: &str, ifname: &str, allow_primary: bool) -> Result<Journal, UplinkError> {
        let link = match self.host.link(ifname).await {
            Ok(l) => l,
            Err(HostError::NotFound { .. }) => return Err(UplinkError::Refused(format!("there is no interface named {ifname}"))),
            Err(e) => return Err(host_err(format!("look up {ifname}"))(e)),
        };
        if link.name != ifname {
            return Err(UplinkError::Refused(format!("{ifname} is only an alternative name of {}; name the interface itself", link.name)));
        }
        let bridged = journal::bridged_name(ifname);
        if self.host.link(&bridged).await.is_ok() {
            return Err(UplinkError::Refused(format!("an interface named {bridged} already exists, and {ifname} must take that name in the bridge")));
        }
        if self.db.read(|s| s.replica.find("Interface", "name", ifname).is_some()) {
            return Err(UplinkError::Refused(format!("{ifname} is already an Open vSwitch interface")));
        }
        if link.master.is_some() {
            return Err(UplinkError::Refused(format!("{ifname} is enslaved to another device (a bridge, bond or VRF)")));
        }
        if !link.admin_up {
            return Err(UplinkError::Refused(format!("{ifname} is down; bring it up first")));
        }
        let mac = link.mac.ok_or_else(|| UplinkError::Refused(format!("{ifname} has no Ethernet MAC address")))?;
        if let Some((_, row)) = self.db.read(|s| s.replica.find("Bridge", "name", bridge).map(|(u, r)| (u.clone(), r.clone()))) {
            let dp = column(&row, "datapath_type").as_str().unwrap_or("");
            let want = self.cfg.datapath_type.as_str();
            if !(dp == want || (dp.is_empty() && want == "system")) {
                return Err(UplinkError::Refused(format!("bridge {bridge} exists with datapath type `{dp}`, not `{want}`")));
            }
        }
        if vswitch::flow_restore_wait(&self.db, self.deadline()).await.map_err(db_err("read flow-restore-wait"))? {
            return Err(UplinkError::Refused(
                "flow-restore-wait is set: ovs-vswitchd forwards nothing until the agent's gate removes it, and the node would lose this interface's network (Antrea #6448)".into(),
            ));
        }
        let original = self.record(&link, mac).await?;
        if !allow_primary {
            if let Some(why) = self.primary_reason(&link, &original).await? {
                return Err(UplinkError::Refused(format!(
                    "{ifname} is the node's primary interface ({why}); a failed migration would cut the node off, so pass --allow-primary to do it anyway"
                )));
            }
        }
        let bridge_created = self.db.read(|s| s.replica.find("Bridge", "name", bridge).is_none());
        Ok(Journal { bridge: bridge.into(), bridged_name: bridged, original, phase: Phase::Attaching { step: Step::CreateBridge }, bridge_created })
    }

    /// The NIC's MAC, MTU, addresses and the routes through it.
    async fn record(&self, link: &Link, mac: MacAddr) -> Result<Original, UplinkError> {
        let addrs = self.host.addresses(Some(&link.name)).await.map_err(host_err(format!("list the addresses of {}", link.name)))?;
        let addrs = addrs
            .into_iter()
            .filter(|a| !is_v6_link_local(a.prefix.addr))
            .map(|a| RecordedAddr { cidr: format!("{}/{}", a.prefix.addr, a.prefix.len), scope: a.scope.0, flags: a.flags.0 })
            .collect();
        let mut routes = Vec::new();
        for v6 in [false, true] {
            for r in self.host.all_routes(v6).await.map_err(host_err("list routes"))? {
                let table = r.table.unwrap_or(RT_TABLE_MAIN);
                if r.oif_index != Some(link.index) || table == RT_TABLE_LOCAL || r.protocol == Some(RTPROT_KERNEL) || r.kind.is_some_and(|k| k != 1) {
                    continue;
                }
                if r.dst.addr.is_ipv6() && (is_v6_link_local(r.dst.addr) || r.dst.addr.is_multicast()) {
                    continue;
                }
                routes.push(RecordedRoute {
                    dst: format!("{}/{}", r.dst.network(), r.dst.len),
                    gateway: r.gateway.map(|g| g.to_string()),
                    source: r.source.map(|s| s.to_string()),
                    metric: r.metric,
                    table,
                    scope: r.scope.map_or(0, |s| s.0),
                    protocol: r.protocol.unwrap_or(3),
                });
            }
        }
        Ok(Original { ifname: link.name.clone(), index: link.index, mac: mac.to_string(), mtu: link.mtu, addrs, routes })
    }

    /// Why `link` is the primary interface, if it is: it carries a default
    /// route, or the route to a TCP OVSDB endpoint.
    async fn primary_reason(&self, link: &Link, original: &Original) -> Result<Option<String>, UplinkError> {
        if let Some(r) = original.routes.iter().find(|r| r.dst == "0.0.0.0/0" || r.dst == "::/0") {
            return Ok(Some(format!("it carries the default route{}", r.gateway.as_ref().map(|g| format!(" via {g}")).unwrap_or_default())));
        }
        if let Some(hp) = self.cfg.ovsdb.strip_prefix("tcp:") {
            let host = hp.rsplit_once(':').map_or(hp, |(h, _)| h).trim_matches(['[', ']']);
            if let Ok(ip) = host.parse::<IpAddr>() {
                let routes = self.host.routes(ip.is_ipv6(), None).await.map_err(host_err("list routes"))?;
                let best = routes.iter().filter(|r| r.dst.contains(ip)).max_by_key(|r| (r.dst.len, std::cmp::Reverse(r.metric.unwrap_or(0))));
                if best.is_some_and(|r| r.oif_index == Some(link.index)) {
                    return Ok(Some(format!("the OVSDB endpoint {ip} is reached through it")));
                }
            }
        }
        Ok(None)
    }

    // --------------------------------------------------------------- steps

    async fn run_steps(&self, mut j: Journal, target: Option<Ipv4Addr>) -> Result<AttachOutcome, UplinkError> {
        let mut ports = Ports::default();
        let mut probed = None;
        for step in Step::ALL {
            j.phase = Phase::Attaching { step };
            let r = match j.save(&self.cfg.state_dir) {
                Ok(()) => self.take(&j, step, target, &mut ports).await,
                Err(e) => Err(e.into()),
            };
            match r {
                Ok(p) => probed = probed.or(p),
                Err(cause) => {
                    tracing::error!(step = step.name(), error = %cause, "uplink step failed; rolling back");
                    j.phase = Phase::RollingBack { step, reason: cause.to_string() };
                    let _ = j.save(&self.cfg.state_dir);
                    let (bridge, ifname) = (j.bridge.clone(), j.original.ifname.clone());
                    return Err(match self.roll_back(&j, step).await {
                        Ok(()) => UplinkError::RolledBack { bridge, ifname, step: step.name(), cause: Box::new(cause) },
                        Err(rb) => UplinkError::RollbackFailed { bridge, ifname, step: step.name(), cause: Box::new(cause), rollback: Box::new(rb) },
                    });
                }
            }
            if journal::failpoint() == Some(step) {
                eprintln!("podflow: PODFLOW_FAILPOINT={}: aborting after the step", step.name());
                // A deliberate crash: no core file in the caller's directory.
                let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
                // SAFETY: setrlimit with a valid struct only lowers our own limit.
                unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
                std::process::abort();
            }
        }
        j.phase = Phase::Attached;
        j.save(&self.cfg.state_dir)?;
        Ok(AttachOutcome::Attached { probed })
    }

    /// Takes one step (idempotent). Returns the probed address for `Probe`.
    async fn take(&self, j: &Journal, step: Step, target: Option<Ipv4Addr>, ports: &mut Ports) -> Result<Option<Ipv4Addr>, UplinkError> {
        tracing::info!(bridge = %j.bridge, ifname = %j.original.ifname, step = step.name(), "uplink step");
        match step {
            Step::CreateBridge => self.create_bridge(j).await?,
            Step::RenameNic => self.rename_nic(j).await?,
            Step::CreateInternalPort => self.create_internal_port(j, ports).await?,
            Step::MoveAddresses => self.move_addresses(j).await?,
            Step::MoveRoutes => self.move_routes(j).await?,
            Step::AttachUplink => {
                let spec = PortSpec {
                    name: j.bridged_name.clone(),
                    kind: PortKind::System,
                    ofport_request: None,
                    external_ids: BTreeMap::from([(EXTERNAL_ID.to_string(), "uplink".to_string())]),
                };
                let p = vswitch::add_port(&self.db, &j.bridge, &spec, self.deadline()).await.map_err(db_err(format!("add {} to bridge {}", j.bridged_name, j.bridge)))?;
                ports.uplink = Some(p as u32);
            }
            Step::InstallFlows if self.cfg.fault_skip_flows => tracing::warn!("fault injection: not installing the bridge's flows"),
            Step::InstallFlows => self.install_flows(j, ports).await?,
            Step::Probe => return self.probe(j, target).await,
        }
        Ok(None)
    }

    async fn create_bridge(&self, j: &Journal) -> Result<(), UplinkError> {
        let spec = BridgeSpec {
            name: j.bridge.clone(),
            datapath_type: self.cfg.datapath_type,
            external_ids: BTreeMap::from([(EXTERNAL_ID.to_string(), j.original.ifname.clone())]),
        };
        let applied = vswitch::ensure_bridge(&self.db, &spec, self.deadline()).await.map_err(db_err(format!("create bridge {}", j.bridge)))?;
        vswitch::wait_applied(&self.db, applied.next_cfg, self.deadline()).await.map_err(db_err(format!("create bridge {}", j.bridge)))?;
        let mgmt = self.mgmt(&j.bridge);
        self.wait(|| async { mgmt.exists() }, &format!("the management socket {}", mgmt.display())).await
    }

    async fn nic(&self, j: &Journal) -> Result<Link, UplinkError> {
        let l = self.host.link_by_index(j.original.index).await.map_err(host_err(format!("find the NIC {} (interface index {})", j.original.ifname, j.original.index)))?;
        if l.mac.map(|m| m.to_string()).as_deref() != Some(j.original.mac.as_str()) {
            return Err(UplinkError::State(format!(
                "interface index {} is now {} with another MAC address; the NIC {} is gone",
                j.original.index, l.name, j.original.ifname
            )));
        }
        Ok(l)
    }

    async fn rename_nic(&self, j: &Journal) -> Result<(), UplinkError> {
        let nic = self.nic(j).await?;
        if nic.name == j.bridged_name {
            return Ok(());
        }
        self.host
            .rename_link(&nic.name, &j.bridged_name)
            .await
            .map_err(host_err(format!("rename {} to {}", nic.name, j.bridged_name)))
            .map(drop)
    }

    /// The internal port named like the NIC, if it exists (never the NIC itself).
    async fn internal_link(&self, j: &Journal) -> Result<Option<Link>, UplinkError> {
        match self.host.link(&j.original.ifname).await {
            Ok(l) if l.index != j.original.index && l.name == j.original.ifname => Ok(Some(l)),
            Ok(_) => Ok(None),
            Err(HostError::NotFound { .. }) => Ok(None),
            Err(e) => Err(host_err(format!("look up {}", j.original.ifname))(e)),
        }
    }

    async fn create_internal_port(&self, j: &Journal, ports: &mut Ports) -> Result<(), UplinkError> {
        let name = &j.original.ifname;
        let spec = PortSpec {
            name: name.clone(),
            kind: PortKind::Internal,
            ofport_request: None,
            external_ids: BTreeMap::from([(EXTERNAL_ID.to_string(), "internal".to_string())]),
        };
        let settings = InterfaceSettings { mac: Some(j.original.mac.clone()), mtu_request: Some(j.original.mtu) };
        let p = vswitch::add_port_with(&self.db, &j.bridge, &spec, &settings, self.deadline()).await.map_err(db_err(format!("add the internal port {name} to {}", j.bridge)))?;
        ports.internal = Some(p as u32);
        self.wait(|| async { matches!(self.internal_link(j).await, Ok(Some(_))) }, &format!("the internal port {name} to appear")).await?;
        let link = self.internal_link(j).await?.ok_or_else(|| UplinkError::State(format!("the internal port {name} vanished")))?;
        let mac: MacAddr = j.original.mac.parse().map_err(host_err("read the recorded MAC address"))?;
        if link.mac != Some(mac) {
            tracing::warn!(port = %name, have = ?link.mac, want = %mac, "ovs-vswitchd did not apply the Interface mac column; setting the MAC with netlink");
            self.host.set_mac(name, mac).await.map_err(host_err(format!("set the MAC address of {name}")))?;
        }
        if link.mtu != j.original.mtu {
            tracing::warn!(port = %name, have = link.mtu, want = j.original.mtu, "ovs-vswitchd did not apply mtu_request; setting the MTU with netlink");
            self.host.set_mtu(name, j.original.mtu).await.map_err(host_err(format!("set the MTU of {name}")))?;
        }
        self.host.set_up(name, true).await.map_err(host_err(format!("bring {name} up")))
    }

    async fn move_addresses(&self, j: &Journal) -> Result<(), UplinkError> {
        let name = &j.original.ifname;
        let internal = self.internal_link(j).await?.ok_or_else(|| UplinkError::State(format!("the internal port {name} is missing")))?;
        let nic = self.nic(j).await?;
        self.add_addrs(j, &internal.name).await?;
        self.delete_addrs(j, &nic.name).await
    }

    async fn move_routes(&self, j: &Journal) -> Result<(), UplinkError> {
        let name = &j.original.ifname;
        let internal = self.internal_link(j).await?.ok_or_else(|| UplinkError::State(format!("the internal port {name} is missing")))?;
        let nic = self.nic(j).await?;
        self.delete_routes(j, &nic).await?;
        self.add_routes(j, &internal).await
    }

    async fn install_flows(&self, j: &Journal, ports: &mut Ports) -> Result<(), UplinkError> {
        let ofport = |name: &str| -> Option<u32> {
            self.db.read(|s| s.replica.find("Interface", "name", name).and_then(|(_, r)| column(r, "ofport").as_i64()).filter(|p| *p > 0).map(|p| p as u32))
        };
        let internal = ports.internal.or_else(|| ofport(&j.original.ifname));
        let uplink = ports.uplink.or_else(|| ofport(&j.bridged_name));
        let (Some(internal), Some(uplink)) = (internal, uplink) else {
            return Err(UplinkError::State(format!("bridge {} lacks the port {} or {}", j.bridge, j.original.ifname, j.bridged_name)));
        };
        let msgs: Vec<Message> = flows::uplink_flows(uplink, internal).into_iter().map(Message::FlowMod).collect();
        let session = self.session(&j.bridge).await?;
        let r = session.bundle(&msgs, flags::ATOMIC | flags::ORDERED).await;
        session.close();
        r.map_err(|e| UplinkError::OpenFlow { context: format!("install the forwarding flows of {}", j.bridge), detail: e.to_string() })
    }

    async fn session(&self, bridge: &str) -> Result<Session, UplinkError> {
        let addr: Addr = format!("unix:{}", self.mgmt(bridge).display()).parse().map_err(|e: crate::dial::AddrError| UplinkError::Input(e.to_string()))?;
        let config = SessionConfig { connect_timeout: self.cfg.timeout, ..SessionConfig::default() };
        Session::connect(&addr, config)
            .await
            .map_err(|e| UplinkError::OpenFlow { context: format!("connect to bridge {bridge}"), detail: e.to_string() })
    }

    async fn probe(&self, j: &Journal, target: Option<Ipv4Addr>) -> Result<Option<Ipv4Addr>, UplinkError> {
        let Some(target) = target else {
            tracing::warn!(ifname = %j.original.ifname, "no default IPv4 gateway and no --probe address: attached without a probe");
            return Ok(None);
        };
        let opts = ProbeOptions {
            interval: self.cfg.probe_interval,
            limit: Limit::Count(self.cfg.probe_count.max(1)),
            reply_window: Duration::from_secs(1),
            source_ip: None,
            source_mac: None,
        };
        let probe_err = |source| UplinkError::Probe { target, source };
        let (handle, mut events) = Prober::new(None, &j.original.ifname, target, opts).start_with_events().await.map_err(probe_err)?;
        let mut sent = 0;
        while let Some(p) = events.recv().await {
            sent += 1;
            if p.replied {
                handle.stop();
                let _ = handle.join().await;
                tracing::info!(%target, seq = p.seq, "probe answered through the bridge");
                return Ok(Some(target));
            }
        }
        let _ = handle.join().await;
        Err(UplinkError::ProbeFailed { bridge: j.bridge.clone(), target, sent })
    }

    // ------------------------------------------------------------ rollback

    /// Undoes every step from `from` down, idempotently, then removes the
    /// journal. The journal says "rolling back" while this runs.
    async fn roll_back(&self, j: &Journal, from: Step) -> Result<(), UplinkError> {
        if !matches!(j.phase, Phase::RollingBack { .. }) {
            let mut jj = j.clone();
            jj.phase = Phase::RollingBack { step: from, reason: "an interrupted run was found".into() };
            jj.save(&self.cfg.state_dir)?;
        }
        if from >= Step::InstallFlows {
            self.remove_flows(j).await;
        }
        if from >= Step::MoveAddresses {
            self.restore_ip(j).await?;
        }
        if from >= Step::CreateInternalPort {
            self.delete_ports(j).await?;
        }
        if from >= Step::RenameNic {
            self.restore_name(j).await?;
        }
        if j.bridge_created {
            self.delete_bridge(j).await?;
        }
        Journal::remove(&self.cfg.state_dir, &j.bridge, &j.original.ifname)?;
        tracing::info!(bridge = %j.bridge, ifname = %j.original.ifname, "uplink rolled back; the NIC is as it was");
        Ok(())
    }

    /// Best effort: a bridge podflow deletes takes its flows with it, and
    /// ports that are gone no longer match; only a pre-existing bridge keeps
    /// stale flows if this fails, and it is logged.
    async fn remove_flows(&self, j: &Journal) {
        if !self.mgmt(&j.bridge).exists() {
            return;
        }
        let r = match self.session(&j.bridge).await {
            Ok(s) => {
                let r = s.bundle(&[Message::FlowMod(flows::delete_all())], flags::ATOMIC | flags::ORDERED).await;
                s.close();
                r.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = r {
            tracing::warn!(bridge = %j.bridge, error = %e, "could not delete the uplink flows");
        }
    }

    /// Routes and addresses back on the NIC, off the internal port.
    async fn restore_ip(&self, j: &Journal) -> Result<(), UplinkError> {
        let nic = self.nic(j).await?;
        let internal = self.internal_link(j).await?;
        if let Some(i) = &internal {
            self.delete_routes(j, i).await?;
        }
        self.add_addrs(j, &nic.name).await?;
        self.add_routes(j, &nic).await?;
        if let Some(i) = &internal {
            self.delete_addrs(j, &i.name).await?;
        }
        Ok(())
    }

    /// Both ports, in one OVSDB transaction; then waits until the internal
    /// port's netdev is gone so its name is free.
    async fn delete_ports(&self, j: &Journal) -> Result<(), UplinkError> {
        let names = [j.original.ifname.as_str(), j.bridged_name.as_str()];
        let bridge_exists = self.db.read(|s| s.replica.find("Bridge", "name", &j.bridge).is_some());
        let present: Vec<&str> = names.iter().copied().filter(|n| self.port_on_bridge(&j.bridge, n)).collect();
        if bridge_exists && !present.is_empty() {
            let ctx = format!("delete ports {} from bridge {}", present.join(" and "), j.bridge);
            let applied = vswitch::delete_ports(&self.db, &j.bridge, &present, self.deadline()).await.map_err(db_err(ctx.clone()))?;
            vswitch::wait_applied(&self.db, applied.next_cfg, self.deadline()).await.map_err(db_err(ctx))?;
        }
        self.wait(|| async { matches!(self.internal_link(j).await, Ok(None)) }, &format!("the internal port {} to disappear", j.original.ifname)).await
    }

    async fn restore_name(&self, j: &Journal) -> Result<(), UplinkError> {
        let nic = self.nic(j).await?;
        if nic.name == j.original.ifname {
            return Ok(());
        }
        if self.internal_link(j).await?.is_some() {
            return Err(UplinkError::State(format!("cannot give {} its name back: another interface carries it", nic.name)));
        }
        self.host
            .rename_link(&nic.name, &j.original.ifname)
            .await
            .map_err(host_err(format!("rename {} back to {}", nic.name, j.original.ifname)))
            .map(drop)
    }

    async fn delete_bridge(&self, j: &Journal) -> Result<(), UplinkError> {
        let ctx = format!("delete bridge {}", j.bridge);
        if let Some(applied) = vswitch::delete_bridge(&self.db, &j.bridge, self.deadline()).await.map_err(db_err(ctx.clone()))? {
            vswitch::wait_applied(&self.db, applied.next_cfg, self.deadline()).await.map_err(db_err(ctx))?;
        }
        let br = j.bridge.clone();
        self.wait(|| async { matches!(self.host.link(&br).await, Err(HostError::NotFound { .. })) }, &format!("the bridge's interface {br} to disappear")).await
    }

    // ------------------------------------------------------------- helpers

    async fn add_addrs(&self, j: &Journal, dev: &str) -> Result<(), UplinkError> {
        let have = self.host.addresses(Some(dev)).await.map_err(host_err(format!("list the addresses of {dev}")))?;
        for a in &j.original.addrs {
            let prefix: IpPrefix = a.cidr.parse().map_err(host_err("read a recorded address"))?;
            if have.iter().any(|h| h.prefix == prefix) {
                continue;
            }
            match self.host.add_address(dev, prefix, Some(Scope(a.scope)), settable_flags(a.flags)).await {
                Ok(()) | Err(HostError::Exists { .. }) => {}
                Err(e) => return Err(host_err(format!("add {prefix} to {dev}"))(e)),
            }
        }
        Ok(())
    }

    /// Deletes the recorded addresses from `dev`, secondaries first (so
    /// deleting a primary never takes a secondary with it).
    async fn delete_addrs(&self, j: &Journal, dev: &str) -> Result<(), UplinkError> {
        let have = self.host.addresses(Some(dev)).await.map_err(host_err(format!("list the addresses of {dev}")))?;
        let mut todo: Vec<_> = have
            .iter()
            .filter(|h| j.original.addrs.iter().any(|a| a.cidr.parse::<IpPrefix>().is_ok_and(|p| p == h.prefix)))
            .collect();
        todo.sort_by_key(|h| !h.flags.contains(AddrFlags::SECONDARY));
        for h in todo {
            match self.host.delete_address(dev, h.prefix).await {
                Ok(()) | Err(HostError::NotFound { .. }) => {}
                Err(e) => return Err(host_err(format!("delete {} from {dev}", h.prefix))(e)),
            }
        }
        Ok(())
    }

    async fn listed_routes(&self) -> Result<Vec<Route>, UplinkError> {
        let mut v = self.host.all_routes(false).await.map_err(host_err("list routes"))?;
        v.extend(self.host.all_routes(true).await.map_err(host_err("list routes"))?);
        Ok(v)
    }

    async fn delete_routes(&self, j: &Journal, dev: &Link) -> Result<(), UplinkError> {
        let listed = self.listed_routes().await?;
        for rec in &j.original.routes {
            let Some(r) = to_route(rec, &dev.name) else { continue };
            if listed.iter().any(|l| same_route(l, &r, dev.index)) {
                match self.host.delete_route(&r).await {
                    Ok(()) | Err(HostError::NotFound { .. }) => {}
                    Err(e) => return Err(host_err(format!("delete route {r}"))(e)),
                }
            }
        }
        Ok(())
    }

    async fn add_routes(&self, j: &Journal, dev: &Link) -> Result<(), UplinkError> {
        let listed = self.listed_routes().await?;
        for rec in &j.original.routes {
            let Some(r) = to_route(rec, &dev.name) else {
                return Err(UplinkError::Input(format!("the journal holds a route it cannot read: {rec:?}")));
            };
            if listed.iter().any(|l| same_route(l, &r, dev.index)) {
                continue;
            }
            match self.host.add_route(&r).await {
                Ok(()) | Err(HostError::Exists { .. }) => {}
                Err(e) => return Err(host_err(format!("add route {r}"))(e)),
            }
        }
        Ok(())
    }

    /// Polls `cond` every 20 ms until it holds or the timeout passes.
    async fn wait<F, Fut>(&self, cond: F, what: &str) -> Result<(), UplinkError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let end = self.deadline();
        while !cond().await {
            if Instant::now() >= end {
                return Err(UplinkError::Timeout { what: what.to_string(), after: self.cfg.timeout });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

fn is_v6_link_local(a: IpAddr) -> bool {
    matches!(a, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// Flags userspace may set on a new address (the rest are the kernel's).
fn settable_flags(flags: u32) -> AddrFlags {
    let keep = AddrFlags::NODAD.0 | AddrFlags::HOMEADDRESS.0 | AddrFlags::MANAGETEMPADDR.0 | AddrFlags::NOPREFIXROUTE.0;
    AddrFlags(flags & keep)
}

/// The IPv4 default route's gateway in the main table, if any.
pub fn default_gateway(o: &Original) -> Option<Ipv4Addr> {
    o.routes
        .iter()
        .filter(|r| r.dst == "0.0.0.0/0" && r.table == RT_TABLE_MAIN)
        .min_by_key(|r| r.metric.unwrap_or(0))
        .and_then(|r| r.gateway.as_ref()?.parse().ok())
}

fn to_route(rec: &RecordedRoute, dev: &str) -> Option<Route> {
    let dst: IpPrefix = rec.dst.parse().ok()?;
    let mut r = Route::to(dst).dev(dev).table(rec.table).scope(Scope(rec.scope));
    r.protocol = Some(rec.protocol);
    if let Some(g) = &rec.gateway {
        r = r.via(g.parse().ok()?);
    }
    if let Some(s) = &rec.source {
        r = r.src(s.parse().ok()?);
    }
    if let Some(m) = rec.metric {
        r = r.metric(m);
    }
    Some(r)
}

/// Whether listed route `l` is `want` on the interface with index `oif`.
fn same_route(l: &Route, want: &Route, oif: u32) -> bool {
    l.oif_index == Some(oif)
        && l.dst.len == want.dst.len
        && l.dst.network() == want.dst.network()
        && l.table.unwrap_or(RT_TABLE_MAIN) == want.table.unwrap_or(RT_TABLE_MAIN)
        && l.metric.unwrap_or(0) == want.metric.unwrap_or(0)
        && l.gateway == want.gateway
}

#[cfg(test)]
mod tests {
    use super::*;

    fn original(routes: Vec<RecordedRoute>) -> Original {
        Original { ifname: "eth1".into(), index: 3, mac: "02:00:00:00:00:01".into(), mtu: 1500, addrs: vec![], routes }
    }

    fn route(dst: &str, gw: Option<&str>, metric: Option<u32>) -> RecordedRoute {
        RecordedRoute { dst: dst.into(), gateway: gw.map(Into::into), source: None, metric, table: RT_TABLE_MAIN, scope: 0, protocol: 3 }
    }

    #[test]
    fn default_gateway_prefers_the_lowest_metric() {
        let o = original(vec![route("0.0.0.0/0", Some("192.0.2.9"), Some(200)), route("0.0.0.0/0", Some("192.0.2.1"), None), route("198.51.100.0/24", Some("192.0.2.5"), None)]);
        assert_eq!(default_gateway(&o), Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(default_gateway(&original(vec![])), None);
    }

    #[test]
    fn recorded_routes_convert_and_compare() {
        let r = to_route(&route("0.0.0.0/0", Some("192.0.2.1"), Some(100)), "eth1").unwrap();
        assert_eq!(r.to_string(), "default via 192.0.2.1 dev eth1 metric 100 table 254 scope global");
        let mut listed = r.clone();
        listed.oif_index = Some(3);
        assert!(same_route(&listed, &r, 3));
        assert!(!same_route(&listed, &r, 4));
        assert!(to_route(&route("nonsense", None, None), "eth1").is_none());
    }

    #[test]
    fn only_settable_flags_are_replayed() {
        assert_eq!(settable_flags(AddrFlags::PERMANENT.0 | AddrFlags::SECONDARY.0 | AddrFlags::NOPREFIXROUTE.0), AddrFlags::NOPREFIXROUTE);
    }

    #[test]
    fn names_are_checked() {
        assert!(check_ifname("interface", "eth1").is_ok());
        for bad in ["", "eth1~", "a/b", "0123456789abcdef"] {
            assert!(check_ifname("interface", bad).is_err(), "{bad}");
        }
    }
}
