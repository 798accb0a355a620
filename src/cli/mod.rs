//! The `podflow` command line. Each command group lives in its own file and
//! exposes `run(args) -> Result<ExitCode, CliError>`; this file only wires
//! them into clap.

pub mod agent;
pub mod ovsdb;
pub mod arping;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Errors that end a command: printed to stderr as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, Parser)]
#[command(name = "podflow", version, about = "Open vSwitch agent for Kubernetes nodes: OpenFlow 1.5 and OVSDB client, pod flows, flow-restore-wait gate")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the podflow version.
    Version,
    /// Run the pod network agent (serves the CNI plugin and the CLI).
    #[command(after_help = "Example:\n  podflow agent --bridge br-int --pod-cidr 198.18.0.0/24 --datapath-type netdev")]
    Agent(agent::AgentArgs),
    /// List the agent's pods and their readiness.
    Pods(agent::ClientArgs),
    /// Show the agent's connections, round and flow-restore-wait.
    Status(agent::ClientArgs),
    /// Show bridges, ports and interfaces (with ofport and error), like `ovs-vsctl show`.
    Show {
        #[command(flatten)]
        ovsdb: ovsdb::OvsdbArgs,
    },
    /// Read, set or clear Open_vSwitch other_config:flow-restore-wait.
    FlowRestoreWait {
        #[arg(value_enum, default_value = "get")]
        action: ovsdb::FrwAction,
        #[command(flatten)]
        ovsdb: ovsdb::OvsdbArgs,
    },
    /// Send ARP probes from an interface and report loss and round trips.
    Arping(arping::ArpingArgs),
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Agent(a) => agent::run_agent(a).await,
        Command::Pods(a) => agent::pods(a).await,
        Command::Status(a) => agent::status(a).await,
        Command::Version => {
            println!("podflow {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { ovsdb } => ovsdb::show(ovsdb).await,
        Command::FlowRestoreWait { action, ovsdb } => ovsdb::flow_restore_wait(ovsdb, action).await,
        Command::Arping(args) => arping::run(args).await,
    }
}
