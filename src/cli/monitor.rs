//! `podflow monitor TARGET watch:[…]`: the OpenFlow 1.5 flow monitor, as
//! `ovs-ofctl -O OpenFlow15 monitor TARGET watch:` runs it. The reply to
//! the request (the INITIAL flows) goes to standard output, every later
//! update (ADDED, DELETED, MODIFIED, …) to standard error, each message with
//! its `OFPST_FLOW_MONITOR reply` header, exactly as ovs-ofctl prints them.
//!
//! Owns: the monitor's lifetime (until the switch closes the connection,
//! SIGINT or SIGTERM). Never: changes the switch, or prints other
//! asynchronous messages (packet-ins, port status), which ovs-ofctl does.

use std::io::Write;
use std::process::ExitCode;

use podflow_proto::openflow::message::Message;
use podflow_proto::openflow::multipart::{MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody};
use podflow_proto::openflow::text::monitor::{update, watch};
use tokio::sync::broadcast::error::RecvError;

use super::switch::{emit, parse_named, reply_header, session_failed, SwitchArgs};
use super::CliError;

pub const MONITOR_HELP: &str = "\
WATCH is watch:[!initial][,!add][,!delete][,!modify][,!actions][,!own][,MATCH] as in ovs-ofctl;
MATCH may include table=N and out_port=P (ports may be named). podflow prints the flows that
match now (event=INITIAL, on standard output) and then every change (event=ADDED, DELETED,
MODIFIED, on standard error), in ovs-ofctl's format, until the switch closes the connection
(exit 1) or SIGINT/SIGTERM (exit 0).

Example:
  podflow monitor br-int watch:table=10 2>&1";

/// `ovs-ofctl monitor` prints the xid of its request, which is 6.
const OFCTL_MONITOR_XID: u32 = 0x6;

/// `monitor` arguments.
#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// watch:[…] — which flow changes to print.
    #[arg(value_name = "WATCH")]
    pub watch: String,
}

fn text(flags: u16, xid: u32, r: &MultipartReply) -> Option<String> {
    let MultipartReplyBody::FlowMonitor(updates) = &r.body else { return None };
    let mut o = reply_header("OFPST_FLOW_MONITOR", xid, flags);
    for u in updates {
        o.push('\n');
        o.push_str(&update(u));
    }
    o.push('\n');
    Some(o)
}

/// `podflow monitor`.
pub async fn monitor(a: MonitorArgs) -> Result<ExitCode, CliError> {
    let Some(spec) = a.watch.strip_prefix("watch:") else {
        return Err(CliError::Usage(format!("{:?}: expected watch:[…] (podflow monitors flows only)", a.watch)));
    };
    let s = a.switch.connect().await?;
    let req = parse_named(&s, || watch(spec, 1)).await?.map_err(|e| CliError::Usage(format!("{:?}: {e}", a.watch)))?;
    // Subscribe before asking, so that no update is missed.
    let mut events = s.subscribe();
    let parts = s.multipart(MultipartRequest::new(MultipartRequestBody::FlowMonitor(vec![req]))).await.map_err(session_failed)?;
    for p in &parts {
        let t = text(p.flags, OFCTL_MONITOR_XID, p)
            .ok_or_else(|| CliError::Failed("the switch answered the flow monitor request with another kind of reply".into()))?;
        emit(&t)?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Failed(format!("cannot handle SIGTERM: {e}")))?;
    loop {
        let ev = tokio::select! {
            ev = events.recv() => ev,
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            _ = term.recv() => return Ok(ExitCode::SUCCESS),
            e = s.closed() => return Err(CliError::Failed(format!("the switch closed the connection: {e}"))),
        };
        match ev {
            Ok(ev) => {
                if let Message::MultipartReply(r) = &ev.message {
                    if let Some(t) = text(r.flags, ev.xid, r) {
                        let mut err = std::io::stderr().lock();
                        let _ = err.write_all(t.as_bytes()).and_then(|_| err.flush());
                    }
                }
            }
            Err(RecvError::Lagged(n)) => eprintln!("podflow: {n} messages from the switch were lost (printing fell behind)"),
            Err(RecvError::Closed) => return Err(CliError::Failed("the connection to the switch ended".into())),
        }
    }
}
