//! Reaching the switch for the `ovs-ofctl`-style commands, shared by the
//! flow, group, meter, table and monitor commands: the TARGET argument
//! (bridge name or address), the session, the bridge's port names, one
//! acknowledged change, and printing (stdout, multipart headers).
//!
//! Owns: connecting with the command's timeout, turning session failures
//! into [`CliError`]s (exit 3 only when a change may have been applied).
//! Never: parses or prints OpenFlow bodies (the text module does).

use std::io::Write;
use std::time::Duration;

use podflow_proto::openflow::message::Message;
use podflow_proto::openflow::text::PortMap;

use crate::openflow::{Addr, OfError, Session, SessionConfig};

use super::{CliError, RunDir};

/// Which switch to talk to.
#[derive(Debug, clap::Args)]
pub struct SwitchArgs {
    /// Bridge name (socket <ovs-rundir>/<bridge>.mgmt), or unix:PATH or tcp:HOST:PORT.
    #[arg(value_name = "TARGET")]
    pub target: String,
    #[command(flatten)]
    pub rundir: RunDir,
    /// Seconds to wait for the connection and for each answer of the switch.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub timeout: u64,
}

impl SwitchArgs {
    /// Bridge name when TARGET is one.
    pub fn bridge(&self) -> Option<&str> {
        (!self.target.starts_with("unix:") && !self.target.starts_with("tcp:")).then_some(self.target.as_str())
    }

    pub fn addr(&self) -> Result<Addr, CliError> {
        match self.bridge() {
            None => self.target.parse().map_err(|e: crate::dial::AddrError| CliError::Usage(e.to_string())),
            Some(b) if b.is_empty() || b.contains('/') || b.contains(':') => Err(CliError::Usage(format!(
                "{b:?} is neither a bridge name nor an address (unix:PATH or tcp:HOST:PORT)"
            ))),
            Some(b) => Ok(Addr::bridge_mgmt(&self.rundir.ovs_rundir, b)),
        }
    }

    pub async fn connect(&self) -> Result<Session, CliError> {
        let addr = self.addr()?;
        let t = Duration::from_secs(self.timeout.max(1));
        let mut config = SessionConfig { connect_timeout: t, ..SessionConfig::default() };
        config.timing.request_timeout = t;
        match Session::connect(&addr, config).await {
            Ok(s) => Ok(s),
            Err(e) => match (&addr, self.bridge()) {
                (Addr::Unix(p), Some(b)) if !p.exists() => Err(CliError::Failed(format!(
                    "bridge {b} has no management socket {} (is ovs-vswitchd running with this bridge? \
                     --ovs-rundir or OVS_RUNDIR names another run directory)",
                    p.display()
                ))),
                _ => Err(CliError::Failed(e.to_string())),
            },
        }
    }
    /// The bridge's port names (a PORT_DESC request), as `ovs-ofctl`
    /// fetches them to resolve and show names.
    pub async fn port_map(s: &Session) -> Result<PortMap, CliError> {
        let ports = s.port_desc().await.map_err(session_failed)?;
        Ok(PortMap::new(ports.iter().map(|p| (p.port_no, p.name.as_str()))))
    }
}

/// Runs `parse` as is and, only if that fails, again with the bridge's
/// port names (one PORT_DESC round trip, needed only when the text names
/// ports). The second result is final.
pub async fn parse_named<T, E>(s: &Session, parse: impl Fn() -> Result<T, E>) -> Result<Result<T, E>, CliError> {
    match parse() {
        Ok(v) => Ok(Ok(v)),
        Err(_) => {
            let map = SwitchArgs::port_map(s).await?;
            Ok(podflow_proto::openflow::text::with_port_map(&map, parse))
        }
    }
}

/// Sends one change (`what` names it in errors) and waits for the
/// barrier after it: Ok once the switch has applied it; the switch's error
/// for it fails the command; a lost connection after sending is
/// [`CliError::OutcomeUnknown`].
pub async fn apply(s: &Session, msg: &Message, what: &str) -> Result<(), CliError> {
    let mut events = s.subscribe();
    let xid = s.send(msg).map_err(session_failed)?;
    if let Err(e) = s.barrier().await {
        return Err(match e {
            e @ (OfError::Disconnected(_) | OfError::Timeout { .. }) => CliError::OutcomeUnknown(format!(
                "the {what} was sent but not acknowledged ({e}); it may or may not have been applied"
            )),
            e => session_failed(e),
        });
    }
    while let Ok(ev) = events.try_recv() {
        if let (true, Message::Error(err)) = (ev.xid == xid, &ev.message) {
            return Err(CliError::Failed(format!("the switch refused the {what}: {err}")));
        }
    }
    Ok(())
}

/// Writes `s` to standard output. A closed pipe (`| head`) ends the
/// command quietly.
pub fn emit(s: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Failed(format!("cannot write to standard output: {e}"))),
    }
}

/// The header `ovs-ofctl` prints for one multipart reply message.
pub fn reply_header(what: &str, xid: u32, flags: u16) -> String {
    let mut s = String::new();
    podflow_proto::openflow::text::print::write_reply_header(&mut s, what, xid, flags);
    s
}

pub fn session_failed(e: OfError) -> CliError {
    CliError::Failed(e.to_string())
}
