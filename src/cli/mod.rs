//! The `podflow` command line. Each command group lives in its own file and
//! exposes `run(args) -> Result<ExitCode, CliError>`; this file only wires
//! them into clap.

pub mod agent;
pub mod dump;
pub mod flows;
pub mod groups;
pub mod monitor;
pub mod switch;
pub mod tables;
pub mod tlv;
pub mod ovsdb;
pub mod arping;
pub mod uplink;
pub mod demo;
pub mod nodes;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Errors that end a command: printed to stderr as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
    /// A change may or may not have been applied (its acknowledgement was
    /// lost): exit status [`EXIT_OUTCOME_UNKNOWN`].
    #[error("{0}")]
    OutcomeUnknown(String),
}

/// Exit status when a change to the switch may or may not have been applied.
pub const EXIT_OUTCOME_UNKNOWN: u8 = 3;

impl CliError {
    /// The process exit status for this error: 1, or
    /// [`EXIT_OUTCOME_UNKNOWN`].
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::OutcomeUnknown(_) => EXIT_OUTCOME_UNKNOWN,
            _ => 1,
        }
    }
}

/// The Open vSwitch run directory, shared by every command that finds a
/// socket there (`db.sock`, `<bridge>.mgmt`).
#[derive(Debug, Clone, clap::Args)]
pub struct RunDir {
    /// Open vSwitch run directory.
    #[arg(long, env = "OVS_RUNDIR", default_value = "/var/run/openvswitch", value_name = "DIR")]
    pub ovs_rundir: PathBuf,
}

#[derive(Debug, Parser)]
#[command(name = "podflow", version, about = "Open vSwitch agent for Kubernetes nodes: OpenFlow 1.5 and OVSDB client, pod flows, flow-restore-wait gate")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process and moved into its command: the size of the
// largest variant (the agent's options) costs nothing worth a Box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the podflow version.
    Version,
    /// Run the pod network agent (serves the CNI plugin and the CLI).
    #[command(after_help = "Example:\n  podflow agent --bridge br-int --pod-cidr 198.18.0.0/24 --datapath-type netdev")]
    Agent(agent::AgentArgs),
    /// List the agent's pods and their readiness.
    #[command(after_help = "Example:\n  podflow pods --api-socket /var/lib/podflow/podflow.sock --json")]
    Pods(agent::ClientArgs),
    /// List the other nodes the agent knows (its peer source) and their state.
    #[command(after_help = "Example:\n  podflow nodes --api-socket /var/lib/podflow/podflow.sock --json")]
    Nodes(agent::ClientArgs),
    /// Show the agent's connections, round and flow-restore-wait.
    #[command(after_help = "Example:\n  podflow status --json")]
    Status(agent::ClientArgs),
    /// Show bridges, ports and interfaces (with ofport and error), like `ovs-vsctl show`.
    #[command(after_help = "Example:\n  podflow show --ovs-rundir /var/run/openvswitch --json")]
    Show {
        #[command(flatten)]
        ovsdb: ovsdb::OvsdbArgs,
    },
    /// Read, set or clear Open_vSwitch other_config:flow-restore-wait.
    #[command(after_help = "Example:\n  podflow flow-restore-wait clear --ovsdb unix:/var/run/openvswitch/db.sock")]
    FlowRestoreWait {
        #[arg(value_enum, default_value = "get")]
        action: ovsdb::FrwAction,
        #[command(flatten)]
        ovsdb: ovsdb::OvsdbArgs,
    },
    /// Send ARP probes from an interface and report loss and round trips.
    #[command(after_help = "Example:\n  podflow arping --netns pod1 --interface eth0 198.18.0.3 --interval 10ms --count 300 --format csv")]
    Arping(arping::ArpingArgs),
    /// Print the switch's flows, byte for byte like `ovs-ofctl -O OpenFlow15 dump-flows`.
    #[command(after_help = flows::DUMP_FLOWS_HELP)]
    DumpFlows(flows::DumpFlowsArgs),
    /// Add every flow of a file in one atomic bundle: all or nothing.
    #[command(after_help = flows::ADD_FLOWS_HELP)]
    AddFlows(flows::FileArgs),
    /// Delete the flows matching MATCH (all flows without it); waits for the switch's acknowledgement.
    #[command(after_help = flows::DEL_FLOWS_HELP)]
    DelFlows(flows::DelFlowsArgs),
    /// Change the actions of matching flows (like ovs-ofctl mod-flows).
    #[command(after_help = flows::MOD_FLOWS_HELP)]
    ModFlows(flows::ModFlowsArgs),
    /// Make the switch's flows equal to a file, sending only the difference in one atomic bundle.
    #[command(after_help = flows::REPLACE_FLOWS_HELP)]
    ReplaceFlows(flows::FileArgs),
    /// Compare the switch's flows with a file, like `ovs-ofctl diff-flows`: exit 0 when equal, 2 when not.
    #[command(after_help = flows::DIFF_FLOWS_HELP)]
    DiffFlows(flows::FileArgs),
    /// Run the restart demo: a private Open vSwitch, the agent, three pods, ARP probes, an ovs-vswitchd restart, its timeline.
    #[command(after_help = demo::DEMO_HELP)]
    Demo(demo::DemoArgs),
    /// Print the switch's groups like `ovs-ofctl -O OpenFlow15 dump-groups`.
    #[command(after_help = groups::GROUPS_HELP)]
    DumpGroups(groups::DumpGroupsArgs),
    /// Add one group; waits for the switch's acknowledgement.
    #[command(after_help = groups::GROUPS_HELP)]
    AddGroup(groups::TextArgs),
    /// Add every group of a file (one per line) in one atomic bundle.
    #[command(after_help = groups::GROUPS_HELP)]
    AddGroups(groups::GroupFileArgs),
    /// Replace a group's type and buckets.
    #[command(after_help = groups::GROUPS_HELP)]
    ModGroup(groups::TextArgs),
    /// Delete one group (group_id=N), or every group.
    #[command(after_help = groups::GROUPS_HELP)]
    DelGroups(groups::MaybeTextArgs),
    /// Print the switch's meters like `ovs-ofctl -O OpenFlow15 dump-meters`.
    #[command(after_help = groups::METERS_HELP)]
    DumpMeters(groups::MaybeTextArgs),
    /// Add one meter; waits for the switch's acknowledgement.
    #[command(after_help = groups::METERS_HELP)]
    AddMeter(groups::TextArgs),
    /// Replace a meter's flags and bands.
    #[command(after_help = groups::METERS_HELP)]
    ModMeter(groups::TextArgs),
    /// Delete one meter (meter=N), or every meter.
    #[command(after_help = groups::METERS_HELP)]
    DelMeter(groups::MaybeTextArgs),
    /// Map tunnel option TLVs to tun_metadata fields; waits for the switch's acknowledgement.
    #[command(after_help = tlv::TLV_HELP)]
    AddTlvMap(tlv::TlvMapArgs),
    /// Delete TLV mappings, or every mapping.
    #[command(after_help = tlv::TLV_HELP)]
    DelTlvMap(tlv::MaybeTlvMapArgs),
    /// Print the switch's TLV mappings like `ovs-ofctl -O OpenFlow15 dump-tlv-map`.
    #[command(after_help = tlv::TLV_HELP)]
    DumpTlvMap(switch::SwitchArgs),
    /// Print table counters like `ovs-ofctl -O OpenFlow15 dump-tables`.
    DumpTables(switch::SwitchArgs),
    /// Print the aggregate counters of matching flows like `ovs-ofctl -O OpenFlow15 dump-aggregate`.
    #[command(after_help = flows::DUMP_FLOWS_HELP)]
    DumpAggregate(flows::DumpFlowsArgs),
    /// Print flow table changes live, like `ovs-ofctl -O OpenFlow15 monitor TARGET watch:`.
    #[command(after_help = monitor::MONITOR_HELP)]
    Monitor(monitor::MonitorArgs),
    /// Print port counters like `ovs-ofctl -O OpenFlow15 dump-ports`.
    #[command(after_help = flows::DUMP_PORTS_HELP)]
    DumpPorts(flows::DumpPortsArgs),
    /// Move a NIC into a secondary bridge and back, crash-safe, with probe and rollback.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  podflow uplink attach --bridge br-ext --interface eth1 --probe 192.0.2.1\n  podflow uplink status --json\n  podflow uplink detach --bridge br-ext --interface eth1")]
    Uplink(uplink::UplinkCommand),
}

impl Command {
    /// The `ovs-ofctl`-like commands: they talk to one switch, print, and
    /// exit, and start no other program (`main` turns huge pages off for
    /// them, a setting every child process would inherit).
    pub fn is_switch_client(&self) -> bool {
        use Command::*;
        matches!(
            self,
            DumpFlows(_)
                | AddFlows(_)
                | DelFlows(_)
                | ModFlows(_)
                | ReplaceFlows(_)
                | DiffFlows(_)
                | DumpPorts(_)
                | DumpGroups(_)
                | AddGroup(_)
                | AddGroups(_)
                | ModGroup(_)
                | DelGroups(_)
                | DumpMeters(_)
                | AddMeter(_)
                | ModMeter(_)
                | DelMeter(_)
                | AddTlvMap(_)
                | DelTlvMap(_)
                | DumpTlvMap(_)
                | DumpTables(_)
                | Monitor(_)
                | DumpAggregate(_)
        )
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Agent(a) => agent::run_agent(a).await,
        Command::Pods(a) => agent::pods(a).await,
        Command::Status(a) => agent::status(a).await,
        Command::Nodes(a) => nodes::run(a).await,
        Command::Version => {
            println!("podflow {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { ovsdb } => ovsdb::show(ovsdb).await,
        Command::FlowRestoreWait { action, ovsdb } => ovsdb::flow_restore_wait(ovsdb, action).await,
        Command::Arping(args) => arping::run(args).await,
        Command::DumpFlows(a) => flows::dump_flows(a).await,
        Command::AddFlows(a) => flows::add_flows(a).await,
        Command::DelFlows(a) => flows::del_flows(a).await,
        Command::ModFlows(a) => flows::mod_flows(a).await,
        Command::ReplaceFlows(a) => flows::replace_flows(a).await,
        Command::DiffFlows(a) => flows::diff_flows(a).await,
        Command::DumpPorts(a) => flows::dump_ports(a).await,
        Command::DumpGroups(a) => groups::dump_groups(a).await,
        Command::AddGroup(a) => groups::add_group(a).await,
        Command::AddGroups(a) => groups::add_groups(a).await,
        Command::ModGroup(a) => groups::mod_group(a).await,
        Command::DelGroups(a) => groups::del_groups(a).await,
        Command::DumpMeters(a) => groups::dump_meters(a).await,
        Command::AddMeter(a) => groups::add_meter(a).await,
        Command::ModMeter(a) => groups::mod_meter(a).await,
        Command::DelMeter(a) => groups::del_meter(a).await,
        Command::AddTlvMap(a) => tlv::add_tlv_map(a).await,
        Command::DelTlvMap(a) => tlv::del_tlv_map(a).await,
        Command::DumpTlvMap(a) => tlv::dump_tlv_map(a).await,
        Command::DumpTables(a) => tables::dump_tables(a).await,
        Command::Monitor(a) => monitor::monitor(a).await,
        Command::DumpAggregate(a) => tables::dump_aggregate(a).await,
        Command::Uplink(c) => uplink::run(c).await,
        Command::Demo(a) => demo::run(a).await,
    }
}
