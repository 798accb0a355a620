//! `podflow uplink attach|detach|status|failpoints`: move a NIC into a
//! secondary bridge and back. Thin: every step, check and rollback is in
//! [`crate::uplink`]; this file only parses, prints and picks exit codes.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::agent::Datapath;
use super::{CliError, RunDir};
use crate::ovsdb::vswitch::DatapathType;
use crate::uplink::journal::Step;
use crate::uplink::plan::Undo;
use crate::uplink::{AttachOptions, AttachOutcome, Config, Executor, UplinkError};

/// Where Open vSwitch and the journals are.
#[derive(Debug, Clone, Args)]
pub struct UplinkCommon {
    #[command(flatten)]
    pub rundir: RunDir,
    /// OVSDB address [default: unix:<ovs-rundir>/db.sock].
    #[arg(long, env = "PODFLOW_OVSDB")]
    pub ovsdb: Option<String>,
    /// Where the uplink journals live (`<state-dir>/uplink/`).
    #[arg(long, env = "PODFLOW_STATE_DIR", default_value = "/var/lib/podflow")]
    pub state_dir: PathBuf,
    /// Datapath type of a bridge that attach creates.
    #[arg(long, env = "PODFLOW_DATAPATH_TYPE", value_enum, default_value = "system")]
    pub datapath_type: Datapath,
    /// Test-only fault injection (`skip-uplink-flows`, `refuse-restore:TEXT`).
    #[arg(long, env = "PODFLOW_FAULT", hide = true)]
    pub fault: Option<String>,
}

impl UplinkCommon {
    fn config(&self) -> Result<Config, CliError> {
        let dp = match self.datapath_type {
            Datapath::System => DatapathType::System,
            Datapath::Netdev => DatapathType::Netdev,
        };
        let mut c = Config::new(self.state_dir.clone(), self.rundir.ovs_rundir.clone(), self.ovsdb.clone(), dp);
        match self.fault.as_deref() {
            None | Some("") => {}
            Some("skip-uplink-flows") => c.fault_skip_flows = true,
            Some(f) if f.starts_with("refuse-restore:") => c.fault_refuse_restore = f.strip_prefix("refuse-restore:").map(str::to_string),
            Some(other) => return Err(CliError::Usage(format!("unknown fault {other:?}"))),
        }
        Ok(c)
    }
}

#[derive(Debug, Subcommand)]
pub enum UplinkCommand {
    /// Move IF into bridge BR: IF keeps its name, MAC, MTU, addresses,
    /// routes and neighbours (on an internal port); the NIC becomes the
    /// bridge's uplink as `IF~`. Probes through the bridge and rolls back
    /// on any failure; refuses when there is nothing to probe.
    Attach {
        /// The secondary bridge (created if missing).
        #[arg(long, value_name = "BR")]
        bridge: String,
        /// The NIC to move.
        #[arg(long, value_name = "IF")]
        interface: String,
        /// Address to ARP-probe through the bridge [default: the gateway of
        /// IF's default route, else of another of its routes].
        #[arg(long, value_name = "ADDR")]
        probe: Option<IpAddr>,
        /// Allow moving the interface that carries the node's default
        /// route, or the route to OVSDB or to a --keep-reachable address.
        #[arg(long)]
        allow_primary: bool,
        /// An address that must stay reachable (the API server, a
        /// bastion): if IF carries the route to it, IF is primary. Repeatable.
        #[arg(long, value_name = "ADDR")]
        keep_reachable: Vec<IpAddr>,
        #[command(flatten)]
        common: UplinkCommon,
    },
    /// Give IF back exactly as it was before attach.
    Detach {
        /// The secondary bridge.
        #[arg(long, value_name = "BR")]
        bridge: String,
        /// The NIC to give back.
        #[arg(long, value_name = "IF")]
        interface: String,
        #[command(flatten)]
        common: UplinkCommon,
    },
    /// Roll back interrupted migrations, then show every migration.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: UplinkCommon,
    },
    /// List the failpoint names (`PODFLOW_FAILPOINT=<name>` aborts right
    /// after that attach step or rollback stage).
    Failpoints,
}

fn failed(e: UplinkError) -> CliError {
    match e {
        UplinkError::Input(_) => CliError::Usage(e.to_string()),
        e => CliError::Failed(e.to_string()),
    }
}

pub async fn run(cmd: UplinkCommand) -> Result<ExitCode, CliError> {
    // Warnings (rollback progress, no probe target) go to stderr.
    super::agent::init_logging(super::agent::LogFormat::Human, "warn");
    match cmd {
        UplinkCommand::Failpoints => {
            for s in Step::ALL {
                println!("{}", s.name());
            }
            for u in Undo::ALL {
                println!("{}", u.name());
            }
        }
        UplinkCommand::Attach { bridge, interface, probe, allow_primary, keep_reachable, common } => {
            let ex = Executor::open(common.config()?).await.map_err(failed)?;
            let opts = AttachOptions { probe, allow_primary, keep_reachable };
            match ex.attach(&bridge, &interface, &opts).await.map_err(failed)? {
                AttachOutcome::Attached { probed } => println!("{interface} attached to {bridge}; {probed} answered through the bridge"),
                AttachOutcome::AlreadyAttached => println!("{interface} is already attached to {bridge}; nothing done"),
            }
        }
        UplinkCommand::Detach { bridge, interface, common } => {
            let ex = Executor::open(common.config()?).await.map_err(failed)?;
            ex.detach(&bridge, &interface).await.map_err(failed)?;
            println!("{interface} detached from {bridge} and restored");
        }
        UplinkCommand::Status { json, common } => {
            let ex = Executor::open(common.config()?).await.map_err(failed)?;
            let r = ex.status().await.map_err(failed)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r).map_err(|e| CliError::Failed(format!("cannot encode the status as JSON: {e}")))?);
            } else {
                for rec in &r.recovered {
                    println!("recovered: {} on {} was interrupted at `{}` and rolled back", rec.interface, rec.bridge, rec.from);
                }
                println!("flow-restore-wait: {}", if r.flow_restore_wait { "set" } else { "not set" });
                if r.uplinks.is_empty() {
                    println!("no uplink attached");
                }
                for u in &r.uplinks {
                    if !u.failed.is_empty() {
                        println!("{} on {}: restored except for: {}", u.interface, u.bridge, u.failed.join("; "));
                        continue;
                    }
                    let state = if u.healthy { "healthy".to_string() } else { "NOT healthy".to_string() };
                    println!(
                        "{} on {}: {} ({state}); NIC now named {}, internal port {}, uplink port {}",
                        u.interface,
                        u.bridge,
                        u.phase,
                        u.nic_name.as_deref().unwrap_or("(missing)"),
                        if u.internal_port { "present" } else { "missing" },
                        if u.uplink_port { "present" } else { "missing" },
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
