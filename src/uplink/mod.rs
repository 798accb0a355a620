//! Moving a node's physical uplink into a secondary OVS bridge, crash-safe
//! and with rollback (see `docs/uplink.md`). This module owns the journal
//! ([`journal`]), the decisions ([`plan`]: what moves, in which order,
//! whether the NIC is primary, recovery), the driver that runs them
//! through [`run::UplinkOps`], and the real operations ([`Executor`]:
//! netlink, OVSDB, OpenFlow, the ARP probe).
//!
//! It never removes `flow-restore-wait` (the agent's gate does), never
//! attaches a NIC while that key is set, never moves the NIC into a bridge
//! whose flows are not acknowledged, and never takes a step that is not
//! journaled (fsync) first. Every step and every undo checks the kernel
//! and OVSDB before acting, so any of them can be repeated after a crash.

pub mod journal;
pub mod plan;
pub mod run;
#[cfg(test)]
mod fake;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::host::{AddrFlags, Host, HostError, Link, MacAddr, Object, ObjectKind};
use crate::openflow::{Addr, Session, SessionConfig};
use crate::ovsdb::client::{Address, Client, Options};
use crate::ovsdb::vswitch::{self, BridgeSpec, DatapathType, InterfaceSettings, PortKind, PortSpec};
use crate::probe::{Limit, ProbeOptions, Prober};
use crate::pipeline::uplink as flows;
use journal::{Journal, JournalError, Original, Phase, Step};
use plan::{Listing, Recovery, Undo};
use run::{Dev, UplinkOps};
use podflow_proto::openflow::bundle::flags;
use podflow_proto::openflow::Message;
use podflow_proto::ovsdb::monitor::column;

/// `external_ids` key on the bridge and on both ports podflow adds.
pub const EXTERNAL_ID: &str = "podflow-uplink";

/// The IPv6 settings recorded and restored (`net.ipv6.conf.<if>.<name>`).
const SYSCTLS: [&str; 3] = ["accept_ra", "disable_ipv6", "forwarding"];

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
    /// Test-only fault: the kernel "refuses" to put back on the NIC every
    /// recorded object whose description contains this text, so a test can
    /// prove the `restored-with-errors` end on a real node.
    pub fault_refuse_restore: Option<String>,
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
            fault_refuse_restore: None,
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
    #[error("no {answer} from {target} through bridge {bridge} after {sent} requests")]
    ProbeFailed { bridge: String, target: IpAddr, answer: &'static str, sent: u32 },
    /// A sysctl could not be read or written.
    #[error("cannot {context}: {source}")]
    Sysctl { context: String, source: std::io::Error },
    /// A step failed and the node was restored as it was.
    #[error("attaching {ifname} to {bridge} failed at step `{step}` and was rolled back ({cause})")]
    RolledBack { bridge: String, ifname: String, step: &'static str, cause: Box<UplinkError> },
    /// A step failed and so did its rollback: the journal is kept.
    #[error("attaching {ifname} to {bridge} failed at step `{step}` ({cause}) and its rollback failed too ({rollback}); the journal is kept and the next `podflow uplink` command resumes the rollback")]
    RollbackFailed { bridge: String, ifname: String, step: &'static str, cause: Box<UplinkError>, rollback: Box<UplinkError> },
    /// A rollback put the NIC, its name and addresses back, but not these
    /// objects; the journal keeps them until `detach` acknowledges it.
    #[error("{ifname} was restored except for: {}; fix these by hand, then run `podflow uplink detach` to clear the record", failed.join("; "))]
    RestoredWithErrors { ifname: String, failed: Vec<String> },
    /// A failpoint stopped the run (tests of the plan only; the real
    /// failpoints abort the process).
    #[error("crashed at failpoint {0}")]
    Crashed(String),
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
    Attached { probed: IpAddr },
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
    /// `attached`, `attaching`, `rolling-back` or `restored-with-errors`.
    pub phase: String,
    pub step: Option<&'static str>,
    pub reason: Option<String>,
    /// What a rollback could not restore (`restored-with-errors`).
    pub failed: Vec<String>,
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

/// What `attach` is asked besides the bridge and the NIC.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// The address to probe through the bridge (wins over the gateways).
    pub probe: Option<IpAddr>,
    /// Move the NIC even if it is the node's primary interface.
    pub allow_primary: bool,
    /// Addresses whose route makes the NIC primary (`--keep-reachable`).
    pub keep_reachable: Vec<IpAddr>,
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
        crate::dial::addr::bridge_mgmt_path(&self.cfg.ovs_rundir, bridge)
    }

    // ------------------------------------------------------------ commands

    /// Attaches `ifname` to `bridge` (see the module docs). An interrupted
    /// earlier run of the same pair is rolled back first; an attached pair
    /// is left alone.
    pub async fn attach(&self, bridge: &str, ifname: &str, opts: &AttachOptions) -> Result<AttachOutcome, UplinkError> {
        check_ifname("bridge", bridge)?;
        check_ifname("interface", ifname)?;
        let _lock = self.lock().await?;
        if let Some(j) = Journal::load(&self.cfg.state_dir, bridge, ifname)? {
            match plan::recovery(&j) {
                Recovery::Consistent => return Ok(AttachOutcome::AlreadyAttached),
                Recovery::RollBack { from } => {
                    tracing::warn!(bridge, ifname, step = from.name(), "an earlier attach was interrupted; rolling it back first");
                    run::roll_back(self, &j, from).await?;
                }
                Recovery::Terminal { failed } => {
                    return Err(UplinkError::Refused(format!(
                        "the last rollback of {ifname} could not restore: {}; fix these by hand, then run `podflow uplink detach` to clear the record",
                        failed.join("; ")
                    )))
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
        let (j, target) = self.precheck(bridge, ifname, opts).await?;
        run::attach(self, j, target).await?;
        Ok(AttachOutcome::Attached { probed: target })
    }

    /// Detaches `ifname` from `bridge`, restoring the NIC exactly as
    /// recorded before the attach. On a `restored-with-errors` record it
    /// only clears the record (the operator fixed what it names).
    pub async fn detach(&self, bridge: &str, ifname: &str) -> Result<(), UplinkError> {
        check_ifname("bridge", bridge)?;
        check_ifname("interface", ifname)?;
        let _lock = self.lock().await?;
        let Some(mut j) = Journal::load(&self.cfg.state_dir, bridge, ifname)? else {
            return Err(UplinkError::NotAttached { bridge: bridge.into(), ifname: ifname.into(), dir: self.cfg.state_dir.join("uplink").display().to_string() });
        };
        let from = match plan::recovery(&j) {
            Recovery::Consistent => {
                j.phase = Phase::RollingBack { step: Step::Probe, reason: "detach".into() };
                j.save(&self.cfg.state_dir)?;
                Step::Probe
            }
            Recovery::RollBack { from } => from,
            Recovery::Terminal { failed } => {
                tracing::warn!(bridge, ifname, ?failed, "clearing the record of a rollback that could not restore everything");
                return Ok(Journal::remove(&self.cfg.state_dir, bridge, ifname)?);
            }
        };
        run::roll_back(self, &j, from).await
    }

    /// Rolls back every interrupted migration of the state directory.
    pub async fn recover(&self) -> Result<Vec<Recovered>, UplinkError> {
        let _lock = self.lock().await?;
        self.recover_locked().await
    }

    async fn recover_locked(&self) -> Result<Vec<Recovered>, UplinkError> {
        let mut out = Vec::new();
        for j in Journal::load_all(&self.cfg.state_dir)? {
            if let Recovery::RollBack { from } = plan::recovery(&j) {
                tracing::warn!(bridge = %j.bridge, ifname = %j.original.ifname, step = from.name(), "rolling back an interrupted uplink migration");
                match run::roll_back(self, &j, from).await {
                    Ok(()) => {}
                    // Terminal and recorded: status reports it.
                    Err(e @ UplinkError::RestoredWithErrors { .. }) => tracing::error!(error = %e, "uplink rollback ended with errors"),
                    Err(e) => return Err(e),
                }
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
            let (phase, step, reason, failed) = match &j.phase {
                Phase::Attached => ("attached", None, None, vec![]),
                Phase::Attaching { step } => ("attaching", Some(step.name()), None, vec![]),
                Phase::RollingBack { step, reason } => ("rolling-back", Some(step.name()), Some(reason.clone()), vec![]),
                Phase::RestoredWithErrors { failed } => ("restored-with-errors", None, None, failed.clone()),
            };
            let healthy = phase == "attached" && bridge_exists && internal_port && uplink_port && nic.as_ref().is_some_and(|l| l.name == j.bridged_name);
            uplinks.push(UplinkStatus {
                bridge: j.bridge.clone(),
                interface: j.original.ifname.clone(),
                bridged_name: j.bridged_name.clone(),
                phase: phase.into(),
                step,
                reason,
                failed,
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
                self.install_flows(&j).await?;
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

    /// Everything the plan looks at, as the kernel lists it now.
    async fn listing(&self) -> Result<Listing, UplinkError> {
        let objects = |k: ObjectKind| async move { self.host.objects(k).await.map_err(host_err(format!("list {k:?} objects"))) };
        Ok(Listing {
            links: self.host.links().await.map_err(host_err("list links"))?,
            addresses: objects(ObjectKind::Address).await?,
            routes: objects(ObjectKind::Route).await?,
            rules: objects(ObjectKind::Rule).await?,
            neighbours: objects(ObjectKind::Neighbour).await?,
        })
    }

    /// The address of a `tcp:` OVSDB endpoint, which must stay reachable.
    fn ovsdb_ip(&self) -> Option<IpAddr> {
        match self.cfg.ovsdb.parse() {
            Ok(crate::dial::Addr::Tcp { host, .. }) => host.parse().ok(),
            _ => None,
        }
    }

    /// The NIC's link, checked enough for the plan to look at it.
    async fn nic_for_attach(&self, bridge: &str, ifname: &str) -> Result<(Link, MacAddr), UplinkError> {
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
        Ok((link, mac))
    }

    /// Checks that the attach may start, records the NIC as it is, and
    /// picks the probe target. Nothing is changed here.
    async fn precheck(&self, bridge: &str, ifname: &str, opts: &AttachOptions) -> Result<(Journal, IpAddr), UplinkError> {
        let (link, mac) = self.nic_for_attach(bridge, ifname).await?;
        let l = self.listing().await?;
        if let Some(why) = plan::unmovable(&link, &l) {
            return Err(UplinkError::Refused(why));
        }
        let sel = plan::select(&link, &l);
        let keep: Vec<IpAddr> = opts.keep_reachable.iter().copied().chain(self.ovsdb_ip()).collect();
        let primary = plan::primary(&link, &l, &keep);
        for w in &primary.warnings {
            tracing::warn!("{w}");
        }
        if !opts.allow_primary && !primary.reasons.is_empty() {
            return Err(UplinkError::Refused(format!(
                "{ifname} is the node's primary interface ({}); a failed migration would cut the node off, so pass --allow-primary to do it anyway",
                primary.reasons.join("; ")
            )));
        }
        let target = plan::probe_target(opts.probe, &sel.objects).ok_or_else(|| {
            UplinkError::Refused(format!("nothing to probe through the bridge: {ifname} has no gateway; pass --probe ADDR (an address that answers ARP or IPv6 neighbour solicitations on {ifname}'s network)"))
        })?;
        let mut sysctls = BTreeMap::new();
        for k in SYSCTLS {
            if let Some(v) = read_sysctl(ifname, k)? {
                sysctls.insert(k.to_string(), v);
            }
        }
        let original = Original {
            ifname: ifname.into(),
            index: link.index,
            mac: mac.to_string(),
            mtu: link.mtu,
            txqlen: link.txqlen,
            up: link.admin_up,
            sysctls,
            objects: sel.objects,
            rules: sel.rules,
        };
        let bridge_created = self.db.read(|s| s.replica.find("Bridge", "name", bridge).is_none());
        let j = Journal { bridge: bridge.into(), bridged_name: journal::bridged_name(ifname), original, phase: Phase::Attaching { step: Step::CreateBridge }, bridge_created };
        Ok((j, target))
    }

    // --------------------------------------------------------------- steps

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

    async fn create_internal_port(&self, j: &Journal) -> Result<(), UplinkError> {
        let name = &j.original.ifname;
        let spec = PortSpec {
            name: name.clone(),
            kind: PortKind::Internal,
            ofport_request: None,
            external_ids: BTreeMap::from([(EXTERNAL_ID.to_string(), "internal".to_string())]),
        };
        let settings = InterfaceSettings { mac: Some(j.original.mac.clone()), mtu_request: Some(j.original.mtu) };
        vswitch::add_port_with(&self.db, &j.bridge, &spec, &settings, self.deadline()).await.map_err(db_err(format!("add the internal port {name} to {}", j.bridge)))?;
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
        if link.txqlen != j.original.txqlen {
            self.host.set_txqlen(name, j.original.txqlen).await.map_err(host_err(format!("set the txqueuelen of {name}")))?;
        }
        // The internal port behaves as the NIC did (router advertisements,
        // forwarding), before it gets any address.
        for (k, v) in &j.original.sysctls {
            write_sysctl(name, k, v)?;
        }
        self.host.set_up(name, true).await.map_err(host_err(format!("bring {name} up")))
    }

    async fn attach_uplink(&self, j: &Journal) -> Result<(), UplinkError> {
        let spec = PortSpec {
            name: j.bridged_name.clone(),
            kind: PortKind::System,
            ofport_request: None,
            external_ids: BTreeMap::from([(EXTERNAL_ID.to_string(), "uplink".to_string())]),
        };
        vswitch::add_port(&self.db, &j.bridge, &spec, self.deadline()).await.map_err(db_err(format!("add {} to bridge {}", j.bridged_name, j.bridge))).map(drop)
    }

    fn ofport(&self, name: &str) -> Option<u32> {
        self.db.read(|s| s.replica.find("Interface", "name", name).and_then(|(_, r)| column(r, "ofport").as_i64()).filter(|p| *p > 0).map(|p| p as u32))
    }

    async fn install_flows(&self, j: &Journal) -> Result<(), UplinkError> {
        let (Some(internal), Some(uplink)) = (self.ofport(&j.original.ifname), self.ofport(&j.bridged_name)) else {
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

    /// IPv6: neighbour solicitations from the internal port, sent by the
    /// kernel (`NTF_USE`), until the gateway's entry there is reachable.
    async fn nd_probe(&self, j: &Journal, target: IpAddr) -> Result<(), UplinkError> {
        let index = self.dev_index(j, Dev::Internal).await.map_err(host_err("find the internal port to probe from"))?;
        let count = self.cfg.probe_count.max(1);
        for sent in 1..=count {
            self.host.solicit(index, target).await.map_err(host_err(format!("solicit {target}")))?;
            tokio::time::sleep(self.cfg.probe_interval).await;
            let neigh = self.host.objects(ObjectKind::Neighbour).await.map_err(host_err("list neighbours"))?;
            let reachable = neigh.iter().any(|n| {
                n.facts.links == [index] && n.facts.prefix.is_some_and(|p| p.addr == target) && n.facts.flags & crate::host::wire::NUD_REACHABLE != 0
            });
            if reachable {
                tracing::info!(%target, sent, "neighbour advertisement through the bridge");
                return Ok(());
            }
        }
        Err(UplinkError::ProbeFailed { bridge: j.bridge.clone(), target, answer: "neighbour advertisement", sent: count })
    }

    async fn arp_probe(&self, j: &Journal, target: Ipv4Addr) -> Result<(), UplinkError> {
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
                return Ok(());
            }
        }
        let _ = handle.join().await;
        Err(UplinkError::ProbeFailed { bridge: j.bridge.clone(), target: target.into(), answer: "ARP answer", sent })
    }

    // ------------------------------------------------------------ rollback

    /// Best effort: a bridge podflow deletes takes its flows with it, and
    /// ports that are gone no longer match; only a pre-existing bridge keeps
    /// stale flows if this fails.
    async fn remove_flows(&self, j: &Journal) -> Result<(), UplinkError> {
        if !self.mgmt(&j.bridge).exists() {
            return Ok(());
        }
        let s = self.session(&j.bridge).await?;
        let r = s.bundle(&[Message::FlowMod(flows::delete_all())], flags::ATOMIC | flags::ORDERED).await;
        s.close();
        r.map_err(|e| UplinkError::OpenFlow { context: format!("delete the uplink flows of {}", j.bridge), detail: e.to_string() })
    }

    /// Both ports, in one OVSDB transaction; then waits until the internal
    /// port's netdev is gone (with its addresses and routes) so its name is free.
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

    /// The NIC's name, then its IPv6 settings.
    async fn restore_name(&self, j: &Journal) -> Result<(), UplinkError> {
        let nic = self.nic(j).await?;
        if nic.name != j.original.ifname {
            if self.internal_link(j).await?.is_some() {
                return Err(UplinkError::State(format!("cannot give {} its name back: another interface carries it", nic.name)));
            }
            self.host.rename_link(&nic.name, &j.original.ifname).await.map_err(host_err(format!("rename {} back to {}", nic.name, j.original.ifname)))?;
        }
        for (k, v) in &j.original.sysctls {
            write_sysctl(&j.original.ifname, k, v)?;
        }
        Ok(())
    }

    async fn restore_link(&self, j: &Journal) -> Result<(), UplinkError> {
        let nic = self.nic(j).await?;
        let n = &nic.name;
        let o = &j.original;
        if nic.mtu != o.mtu {
            self.host.set_mtu(n, o.mtu).await.map_err(host_err(format!("set the MTU of {n} back to {}", o.mtu)))?;
        }
        if nic.txqlen != o.txqlen {
            self.host.set_txqlen(n, o.txqlen).await.map_err(host_err(format!("set the txqueuelen of {n} back to {}", o.txqlen)))?;
        }
        if nic.admin_up != o.up {
            self.host.set_up(n, o.up).await.map_err(host_err(format!("set {n} back {}", if o.up { "up" } else { "down" })))?;
        }
        Ok(())
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

    /// The interface index of `dev` now.
    async fn dev_index(&self, j: &Journal, dev: Dev) -> Result<u32, HostError> {
        match dev {
            Dev::Nic => Ok(j.original.index),
            Dev::Internal => match self.internal_link(j).await {
                Ok(Some(l)) => Ok(l.index),
                _ => Err(HostError::NotFound { what: format!("the internal port {}", j.original.ifname), errno: libc::ENODEV }),
            },
        }
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

impl UplinkOps for Executor {
    async fn save(&self, j: &Journal) -> Result<(), UplinkError> {
        Ok(j.save(&self.cfg.state_dir)?)
    }

    async fn forget(&self, j: &Journal) -> Result<(), UplinkError> {
        Ok(Journal::remove(&self.cfg.state_dir, &j.bridge, &j.original.ifname)?)
    }

    async fn step(&self, j: &Journal, step: Step) -> Result<(), UplinkError> {
        tracing::info!(bridge = %j.bridge, ifname = %j.original.ifname, step = step.name(), "uplink step");
        match step {
            Step::CreateBridge => self.create_bridge(j).await,
            Step::RenameNic => self.rename_nic(j).await,
            Step::QuietNic if j.original.sysctls.contains_key("accept_ra") => write_sysctl(&j.bridged_name, "accept_ra", "0"),
            Step::CreateInternalPort => self.create_internal_port(j).await,
            Step::AttachUplink => self.attach_uplink(j).await,
            Step::InstallFlows if self.cfg.fault_skip_flows => {
                tracing::warn!("fault injection: not installing the bridge's flows");
                Ok(())
            }
            Step::InstallFlows => {
                let names = [j.original.ifname.as_str(), j.bridged_name.as_str()];
                self.wait(|| async { names.iter().all(|n| self.ofport(n).is_some()) }, "OpenFlow port numbers for both ports").await?;
                self.install_flows(j).await
            }
            Step::QuietNic | Step::MoveAddresses | Step::MoveRoutes | Step::Probe => Ok(()),
        }
    }

    async fn probe(&self, j: &Journal, target: IpAddr) -> Result<(), UplinkError> {
        match target {
            IpAddr::V4(t) => self.arp_probe(j, t).await,
            IpAddr::V6(_) => self.nd_probe(j, target).await,
        }
    }

    async fn undo(&self, j: &Journal, u: Undo) -> Result<(), UplinkError> {
        tracing::info!(bridge = %j.bridge, ifname = %j.original.ifname, stage = u.name(), "uplink rollback stage");
        match u {
            Undo::RemoveFlows => self.remove_flows(j).await,
            Undo::DeletePorts => self.delete_ports(j).await,
            Undo::RestoreName => self.restore_name(j).await,
            Undo::RestoreLink => self.restore_link(j).await,
            Undo::DeleteBridge => self.delete_bridge(j).await,
            Undo::RestoreObjects => Ok(()),
        }
    }

    async fn add(&self, j: &Journal, dev: Dev, o: &Object) -> Result<(), HostError> {
        if dev == Dev::Nic && self.cfg.fault_refuse_restore.as_ref().is_some_and(|t| o.text.contains(t.as_str())) {
            return Err(HostError::Netlink { op: format!("add {o}"), errno: libc::EINVAL, message: "refused by fault injection".into() });
        }
        let to = self.dev_index(j, dev).await?;
        match self.host.add_object(o, j.original.index, to).await {
            Ok(()) | Err(HostError::Exists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, j: &Journal, dev: Dev, o: &Object) -> Result<(), HostError> {
        let to = match self.dev_index(j, dev).await {
            Ok(i) => i,
            Err(HostError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        match self.host.delete_object(o, j.original.index, to).await {
            Ok(()) | Err(HostError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn settle(&self, j: &Journal, dev: Dev) -> Result<(), UplinkError> {
        if !j.original.objects.iter().any(|o| o.kind == ObjectKind::Address && o.facts.v6) {
            return Ok(());
        }
        let index = self.dev_index(j, dev).await.map_err(host_err("find the link whose addresses must settle"))?;
        let tentative = || async {
            let all = self.host.addresses(None).await.unwrap_or_default();
            !all.iter().any(|a| a.index == index && a.prefix.addr.is_ipv6() && a.flags.contains(AddrFlags::TENTATIVE) && !a.flags.contains(AddrFlags::DADFAILED))
        };
        self.wait(tentative, "IPv6 duplicate address detection to end").await
    }

    fn failpoint(&self, name: &str) -> Result<(), UplinkError> {
        if journal::failpoint().as_deref() == Some(name) {
            eprintln!("podflow: PODFLOW_FAILPOINT={name}: aborting after the step");
            // A deliberate crash: no core file in the caller's directory.
            let none = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: setrlimit with a valid struct only lowers our own limit.
            unsafe { libc::setrlimit(libc::RLIMIT_CORE, &none) };
            std::process::abort();
        }
        Ok(())
    }
}

fn sysctl_path(ifname: &str, key: &str) -> PathBuf {
    PathBuf::from("/proc/sys/net/ipv6/conf").join(ifname).join(key)
}

/// `None` when the kernel has no such setting (IPv6 disabled at boot).
fn read_sysctl(ifname: &str, key: &str) -> Result<Option<String>, UplinkError> {
    match std::fs::read_to_string(sysctl_path(ifname, key)) {
        Ok(v) => Ok(Some(v.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(UplinkError::Sysctl { context: format!("read net.ipv6.conf.{ifname}.{key}"), source }),
    }
}

fn write_sysctl(ifname: &str, key: &str, value: &str) -> Result<(), UplinkError> {
    if read_sysctl(ifname, key)?.as_deref() == Some(value) {
        return Ok(());
    }
    std::fs::write(sysctl_path(ifname, key), value).map_err(|source| UplinkError::Sysctl { context: format!("set net.ipv6.conf.{ifname}.{key} to {value}"), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_ifname("interface", "eth1").is_ok());
        for bad in ["", "eth1~", "a/b", "0123456789abcdef"] {
            assert!(check_ifname("interface", bad).is_err(), "{bad}");
        }
    }
}
