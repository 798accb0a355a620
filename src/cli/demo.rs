//! `podflow demo`: runs the restart demo ([`crate::demo`]) and makes sure
//! that SIGINT/SIGTERM still clean up everything it made: the demo runs as
//! a task that owns its resources; a signal aborts it, which drops them.

use super::CliError;
use crate::demo::{self, DemoError, DemoOptions};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the timeline plot (SVG).
    #[arg(long, value_name = "FILE", default_value = "podflow-demo.svg")]
    pub svg: PathBuf,
    /// Leave the Open vSwitch, the agent and the pods running, and print
    /// the commands to explore them and to clean up.
    #[arg(long)]
    pub keep: bool,
}

pub const DEMO_HELP: &str = "Needs root, Open vSwitch (ovsdb-server, ovs-vswitchd), iproute2 and\n\
/usr/lib/cni/host-local (containernetworking-plugins); `sudo ./scripts/demo.sh`\n\
installs them on Debian and runs this. Nothing outside the demo's own\n\
namespaces (pf-demo-*) and temporary directory is touched.\n\n\
Example:\n  sudo podflow demo --svg /tmp/timeline.svg";

pub async fn run(a: DemoArgs) -> Result<ExitCode, CliError> {
    let opts = DemoOptions::from_current_exe(a.svg, a.keep).map_err(|e| CliError::Failed(e.to_string()))?;
    if let Some(why) = opts.unavailable_reason() {
        return Err(CliError::Failed(format!("cannot run the demo: {why}")));
    }
    let mut task = tokio::spawn(async move {
        let mut out = std::io::stdout();
        demo::run(opts, &mut out).await
    });
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Failed(format!("cannot watch SIGTERM: {e}")))?;
    let signal = tokio::select! {
        r = &mut task => return match r {
            Ok(Ok(o)) if o.timeline.holds() => Ok(ExitCode::SUCCESS),
            Ok(Ok(_)) => Err(CliError::Failed("the restart did not keep podflow's promise (see the timeline)".into())),
            Ok(Err(e @ DemoError::Unavailable(_))) => Err(CliError::Failed(e.to_string())),
            Ok(Err(e)) => Err(CliError::Failed(format!("{e}; everything the demo made was removed"))),
            Err(e) => Err(CliError::Failed(format!("the demo task failed: {e}"))),
        },
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    eprintln!("podflow demo: {signal}: stopping and removing everything the demo made");
    task.abort();
    let _ = task.await;
    Ok(ExitCode::from(if signal == "SIGINT" { 130 } else { 143 }))
}
