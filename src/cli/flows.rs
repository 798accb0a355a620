//! The flow command group: `dump-flows`, `add-flows`, `del-flows`,
//! `mod-flows`, `replace-flows`, `diff-flows` and `dump-ports`, the `ovs-ofctl` commands
//! of the same names over podflow's own OpenFlow 1.5 session, printing what
//! `ovs-ofctl -O OpenFlow15` prints.
//!
//! Owns: finding the switch (bridge name or address), reading flow files
//! with their line numbers, turning the flow comparison
//! (`text::diff`) into `replace-flows` changes, and mapping switch errors
//! back to file lines. Never:
//! encodes messages by hand, retries a change whose outcome is unknown, or
//! changes the switch in the read-only commands (`dump-flows`,
//! `diff-flows`, `dump-ports`).

use std::io::Read;
use std::process::ExitCode;

use podflow_proto::openflow::bundle::flags as bundle_flags;
use podflow_proto::openflow::flow::{FlowDesc, FlowMod, FlowStatsRequest};
use podflow_proto::openflow::message::Message;
use podflow_proto::openflow::multipart::{MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody, PortStats};
use podflow_proto::openflow::text::diff::{self, Comparison};
use podflow_proto::openflow::text::{parse, print, with_port_map, ParseError, PortMap, PrintOptions};

use crate::openflow::{BundleError, BundleStream, MessageError, Session};

use super::dump::{print_dump, DumpFormat};
use super::switch::{apply, emit, parse_named, reply_header, session_failed, SwitchArgs};
use super::CliError;

/// `ovs-ofctl dump-flows` prints the xid of *its* request, which is 2
/// without a MATCH argument and 6 with one (it makes other requests
/// first). podflow's own xids differ; it prints the value `ovs-ofctl`
/// prints so that the two outputs compare byte for byte.
pub const OFCTL_XID: u32 = 0x2;
/// See [`OFCTL_XID`]: the xid `ovs-ofctl dump-flows BRIDGE MATCH` prints.
pub const OFCTL_XID_WITH_MATCH: u32 = 0x6;

/// Whether the tests' fault knob `PODFLOW_FAULT` names `what`: a knob
/// breaks one promise on purpose so that a test can show it catches the
/// breakage (`dump-buffered`: dump-flows prints nothing until the whole
/// dump is in; `commit-on-syntax-error`: add-flows commits what it sent
/// before a syntax error instead of discarding it).
fn fault(what: &str) -> bool {
    std::env::var("PODFLOW_FAULT").is_ok_and(|v| v.split(',').any(|f| f == what))
}

/// Exit status of `diff-flows` when the switch and the file differ.
pub const EXIT_DIFFERENT: u8 = 2;

pub const DUMP_FLOWS_HELP: &str = "\
TARGET is a bridge name (socket <ovs-rundir>/<bridge>.mgmt) or unix:PATH / tcp:HOST:PORT.
MATCH uses the ovs-ofctl syntax and may include table=N, cookie=VALUE/MASK, out_port=P and out_group=G.

The output is byte for byte that of `ovs-ofctl -O OpenFlow15 dump-flows`, with one
`OFPST_FLOW reply` header per reply message (`flags=[more]` on all but the last). The xid in
the header is the one ovs-ofctl prints (0x2, or 0x6 with a MATCH, --table or --cookie), not
podflow's own, so that the two outputs diff cleanly. Flows come in the switch's order. Ports
are printed as numbers, as ovs-ofctl does when its output is not a terminal; --names prints
the bridge's port names instead (and, like ovs-ofctl, no header). MATCH may name ports.
Each reply is printed as it arrives. If the dump fails midway, what was printed stays on
standard output, standard error says how many flows came before the failure and why, and the
exit status is 1.

Examples:
  podflow dump-flows br-int
  podflow dump-flows br-int 'table=10,ip,nw_dst=10.0.0.5' --no-stats
  podflow dump-flows unix:/var/run/openvswitch/br-int.mgmt --table 20 --cookie 0x9f00000000/0xff00000000";

pub const ADD_FLOWS_HELP: &str = "\
FILE holds one flow per line in the ovs-ofctl add-flow syntax (`#` starts a comment; `-` reads
standard input). Every flow is sent in one OpenFlow bundle (ATOMIC|ORDERED): either all are
installed or none. podflow exits 0 only after the switch's commit reply.

The file is streamed: podflow connects first, then parses and sends it in batches while the
switch works. So a syntax error may be found after part of the file was sent; podflow then
discards the open bundle and nothing is applied. On any failure nothing is installed and
podflow names the line, its text and the switch's error (or the line and column of a syntax
error). Exit status: 0 committed, 1 nothing applied, 3 outcome unknown (the connection was
lost after the commit was sent: read the switch).

Examples:
  podflow add-flows br-int flows.txt
  printf 'table=0,priority=10,actions=drop\\n' | podflow add-flows br-int -";

pub const DEL_FLOWS_HELP: &str = "\
Deletes every flow matching MATCH in the ovs-ofctl syntax (with table=N, cookie=VALUE/MASK,
out_port=P, out_group=G); without MATCH, every flow of every table. With --strict only the
flow whose match and priority (priority=N, default 32768) are exactly these. Ports may be
named (in_port=veth1). podflow returns after the switch's BARRIER reply, i.e. once the flows
are gone. Exit status: 0 done, 1 refused or not sent, 3 outcome unknown (connection lost
after sending).

Examples:
  podflow del-flows br-int
  podflow del-flows br-int 'table=10,cookie=0x5/-1'
  podflow del-flows br-int --strict 'table=10,priority=100,in_port=veth1'";

pub const MOD_FLOWS_HELP: &str = "\
Changes the actions (and timeouts and flags) of every flow matching FLOW's match, like
`ovs-ofctl -O OpenFlow15 mod-flows`; with --strict only of the flow whose match and priority
are exactly FLOW's. The table defaults to 0. If no flow matches, the switch adds FLOW. As in
OpenFlow 1.5, a cookie without a mask is not changed (cookie=V/M selects flows by cookie).
podflow returns after the switch's BARRIER reply. Exit status: 0 done, 1 refused or not
sent, 3 outcome unknown (connection lost after sending).

Examples:
  podflow mod-flows br-int 'table=10,ip,actions=drop'
  podflow mod-flows br-int --strict 'table=10,priority=100,in_port=veth1,actions=output:veth2'";

pub const REPLACE_FLOWS_HELP: &str = "\
Reads the switch's flows, compares them with FILE (flows are the same when table, priority and
match are; they are equal when cookie, timeouts, importance and actions print the same), and
sends only the difference in one atomic bundle: DELETE_STRICT for flows not in the file, ADD for
new or changed ones. Unchanged flows keep their counters. Prints the counts.
Like ovs-ofctl, flow flags other than send_flow_rem are not compared and not sent.
Exit status: 0 done, 1 nothing applied, 3 outcome unknown.

Example:
  podflow replace-flows br-int flows.txt";

pub const DIFF_FLOWS_HELP: &str = "\
Prints, like `ovs-ofctl diff-flows TARGET FILE`, a line `-FLOW` for each flow only on the switch
(or different there) and `+FLOW` for each flow only in the file (or different there), in
ovs-ofctl's diff format. Both sides are printed as the switch prints flows (e.g. `load:` in the
file compares equal to `set_field:` on the switch). Flows are listed by table, then priority
(highest first), then text. Exit status: 0 same, 2 different, 1 error.

Example:
  podflow diff-flows br-int flows.txt || podflow replace-flows br-int flows.txt";

pub const DUMP_PORTS_HELP: &str = "\
Prints port counters in the format of `ovs-ofctl -O OpenFlow15 dump-ports`, all ports or PORT
only. The header's xid is the one ovs-ofctl prints (0x2, or 0x4 for a port given by name).

Examples:
  podflow dump-ports br-int
  podflow dump-ports br-int LOCAL
  podflow dump-ports br-int pod-a1b2c3";

/// `dump-flows` arguments.
#[derive(Debug, clap::Args)]
pub struct DumpFlowsArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// Only flows matching this (ovs-ofctl syntax, with table=, cookie=V/M, out_port=, out_group=).
    #[arg(value_name = "MATCH")]
    pub r#match: Option<String>,
    /// Only flows of this table.
    #[arg(long, value_name = "N")]
    pub table: Option<u8>,
    /// Only flows whose cookie matches VALUE under MASK (VALUE alone: exact).
    #[arg(long, value_name = "VALUE/MASK")]
    pub cookie: Option<String>,
    /// Leave out cookie, duration, table, counters and ages (and the header), like ovs-ofctl --no-stats.
    #[arg(long)]
    pub no_stats: bool,
    /// Show ports by name (the bridge's port names), like ovs-ofctl --names; no header then.
    #[arg(long)]
    pub names: bool,
}

/// `del-flows` arguments.
#[derive(Debug, clap::Args)]
pub struct DelFlowsArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// Delete only flows matching this (ovs-ofctl syntax, with table=, cookie=V/M, out_port=, out_group=).
    #[arg(value_name = "MATCH")]
    pub r#match: Option<String>,
    /// Only the flow with exactly this match and priority (DELETE_STRICT).
    #[arg(long)]
    pub strict: bool,
}

/// `mod-flows` arguments.
#[derive(Debug, clap::Args)]
pub struct ModFlowsArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// The flows to change and their new actions (ovs-ofctl syntax, `…,actions=…`).
    #[arg(value_name = "FLOW")]
    pub flow: String,
    /// Only the flow with exactly this match and priority (MODIFY_STRICT).
    #[arg(long)]
    pub strict: bool,
}

/// Arguments of the commands that read a flow file.
#[derive(Debug, clap::Args)]
pub struct FileArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// Flow file, one flow per line in the ovs-ofctl add-flow syntax; `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: String,
}

// ---------------------------------------------------------------------------
// dump-flows

impl DumpFlowsArgs {
    pub(super) fn request(&self) -> Result<FlowStatsRequest, ParseErrorIn> {
        let mut req = FlowStatsRequest::default();
        if let Some(m) = &self.r#match {
            let c = parse::flow_criteria(m).map_err(|e| ParseErrorIn("MATCH", m.clone(), e))?;
            req = criteria_request(c);
        }
        if let Some(t) = self.table {
            req.table_id = t;
        }
        if let Some(c) = &self.cookie {
            let spec = if c.contains('/') { c.clone() } else { format!("{c}/-1") };
            let f = parse::flow_criteria(&format!("cookie={spec}")).map_err(|e| ParseErrorIn("--cookie", c.clone(), e))?;
            req.cookie = f.cookie;
            req.cookie_mask = f.cookie_mask;
        }
        Ok(req)
    }
}

/// A command-line argument that does not parse: (which, text, why).
pub(super) struct ParseErrorIn(&'static str, String, ParseError);

impl From<ParseErrorIn> for CliError {
    fn from(ParseErrorIn(what, text, e): ParseErrorIn) -> CliError {
        CliError::Usage(format!("{what} {text:?}: {e}"))
    }
}

fn criteria_request(c: FlowMod) -> FlowStatsRequest {
    FlowStatsRequest {
        table_id: c.table_id,
        out_port: c.out_port,
        out_group: c.out_group,
        cookie: c.cookie,
        cookie_mask: c.cookie_mask,
        r#match: c.r#match,
    }
}

/// Every flow matching `req`, one `Vec` per reply message with its flags.
async fn flow_parts(s: &Session, req: FlowStatsRequest) -> Result<Vec<(u16, Vec<FlowDesc>)>, CliError> {
    let parts = s.multipart(MultipartRequest::new(MultipartRequestBody::FlowDesc(req))).await.map_err(session_failed)?;
    parts
        .into_iter()
        .map(|MultipartReply { flags, body }| match body {
            MultipartReplyBody::FlowDesc(v) => Ok((flags, v)),
            _ => Err(CliError::Failed("the switch answered a flow dump with another kind of reply".into())),
        })
        .collect()
}

/// `podflow dump-flows`: prints each reply as it arrives. A dump that
/// fails midway leaves what was printed and fails with what happened.
pub async fn dump_flows(a: DumpFlowsArgs) -> Result<ExitCode, CliError> {
    let s = a.switch.connect().await?;
    let req = parse_named(&s, || a.request()).await??;
    let names = if a.names { Some(SwitchArgs::port_map(&s).await?) } else { None };
    let xid = if a.r#match.is_some() || a.table.is_some() || a.cookie.is_some() { OFCTL_XID_WITH_MATCH } else { OFCTL_XID };
    let opts = PrintOptions { stats: !a.no_stats };
    let parts = s.multipart_stream(MultipartRequest::new(MultipartRequestBody::FlowDesc(req))).await.map_err(session_failed)?;
    // The session's reader keeps reading replies on the runtime while
    // threads outside it decode, print and write the ones already in.
    let session = s.clone();
    let printer = tokio::task::spawn_blocking(move || {
        // ovs-ofctl prints reply headers only for a plain dump.
        let headers = opts.stats && names.is_none();
        let abandon = || session.close();
        let format = DumpFormat { opts, xid, headers, names: names.as_ref(), buffered: fault("dump-buffered"), abandon: &abandon };
        print_dump(parts, &format)
    });
    let done = printer.await.map_err(|e| CliError::Failed(format!("the printing thread failed: {e}")))?;
    s.close();
    done.map(|()| ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// Flow files.

/// A parsed flow file: its text (for quoting lines back) and its flows
/// with their 1-based line numbers.
struct FlowFile {
    name: String,
    text: String,
    flows: Vec<(usize, FlowMod)>,
}

/// Reads flow file `name` (`-`: standard input): its name as shown in
/// messages and its text.
fn read_text(name: &str) -> Result<(String, String), CliError> {
    let mut text = String::new();
    let res = if name == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(name).and_then(|mut f| f.read_to_string(&mut text)).map(|_| ())
    };
    let shown = if name == "-" { "standard input".to_string() } else { name.to_string() };
    res.map_err(|e| CliError::Failed(format!("cannot read {shown}: {e}")))?;
    Ok((shown, text))
}

/// Line `line` (1-based) of `text`, trimmed.
fn line_text(text: &str, line: usize) -> &str {
    text.lines().nth(line.saturating_sub(1)).map(str::trim).unwrap_or("")
}

/// "line 7 of FILE (`…`)".
fn describe_line(name: &str, text: &str, line: usize) -> String {
    format!("line {line} of {name} (`{}`)", line_text(text, line))
}

/// A syntax error in flow file `shown`, quoting its line; `after` ends
/// the sentence (what happened to the switch).
fn syntax_error(shown: &str, text: &str, e: &ParseError, after: &str) -> CliError {
    let line = e.line.and_then(|l| text.lines().nth(l.checked_sub(1)?)).map(str::trim_end).unwrap_or("");
    CliError::Usage(format!("{shown}: {e}, in `{line}`{after}"))
}

impl FlowFile {
    /// Reads `name` (`-`: standard input) and parses it, with the
    /// bridge's port names when it names ports. `after` ends a syntax
    /// error's sentence (e.g. "; nothing was sent to the switch").
    async fn read(s: &Session, name: &str, after: &str) -> Result<FlowFile, CliError> {
        let (shown, text) = read_text(name)?;
        let flows = parse_named(s, || parse::flows_file(&text)).await?.map_err(|e| syntax_error(&shown, &text, &e, after))?;
        Ok(FlowFile { name: shown, text, flows })
    }

    fn line_text(&self, line: usize) -> &str {
        line_text(&self.text, line)
    }

    /// "line 7 (`…`)" for the flow at `index`.
    fn describe(&self, index: usize) -> String {
        match self.flows.get(index) {
            Some((line, _)) => describe_line(&self.name, &self.text, *line),
            None => format!("message {index}"),
        }
    }
}

/// Turns a failed bundle into one sentence, naming each refused message
/// with `describe(index)`.
pub(super) fn bundle_failed(e: BundleError, describe: impl Fn(usize) -> String) -> CliError {
    let list = |errors: &[MessageError]| {
        let mut v: Vec<String> = errors.iter().take(10).map(|m| format!("{}: {}", describe(m.index), m.error)).collect();
        if errors.len() > 10 {
            v.push(format!("and {} more", errors.len() - 10));
        }
        v.join("; ")
    };
    match e {
        BundleError::Rejected { errors } if errors.len() == 1 => {
            CliError::Failed(format!("the switch refused {}, so nothing was applied", list(&errors)))
        }
        BundleError::Rejected { errors } => CliError::Failed(format!(
            "the switch refused {} flows, so nothing was applied: {}",
            errors.len(),
            list(&errors)
        )),
        BundleError::CommitFailed { error, culprits } if culprits.is_empty() => {
            CliError::Failed(format!("the switch refused to commit the bundle ({error}), so nothing was applied"))
        }
        BundleError::CommitFailed { error, culprits } => CliError::Failed(format!(
            "the switch refused to commit the bundle ({error}) because of {}, so nothing was applied",
            list(&culprits)
        )),
        e @ BundleError::Expired { .. } => CliError::Failed(e.to_string()),
        e if e.outcome_unknown() => CliError::OutcomeUnknown(format!(
            "{e} (the bundle may or may not have been applied)"
        )),
        BundleError::Session(e) => CliError::Failed(format!("{e}; the bundle was not committed, so nothing was applied")),
    }
}

// ---------------------------------------------------------------------------
// add-flows

/// Flows parsed at a time between sends. A batch is parsed inside one
/// port-name scope, which is thread-local and so must not span an await.
const BATCH: usize = 1024;

/// Parses the flows of `lines` into `batch` until it holds [`BATCH`] flows
/// or the lines end; stops at the first line that does not parse and
/// returns it (number, text, error).
fn parse_batch<'t>(lines: &mut impl Iterator<Item = (usize, &'t str)>, batch: &mut Vec<(usize, FlowMod)>) -> Option<(usize, &'t str, ParseError)> {
    while batch.len() < BATCH {
        let (i, line) = lines.next()?;
        match parse::flow_line(line, i + 1) {
            None => {}
            Some(Ok(fm)) => batch.push((i + 1, fm)),
            Some(Err(e)) => return Some((i + 1, line, e)),
        }
    }
    None
}

/// `podflow add-flows`: connects, then parses, encodes and sends the file
/// in batches into one bundle, so the switch works while the rest is
/// parsed. The bundle is opened after the first flow parses; a syntax
/// error after that discards it. The port names are fetched (one
/// PORT_DESC) only when a line does not parse without them.
pub async fn add_flows(a: FileArgs) -> Result<ExitCode, CliError> {
    let s = a.switch.connect().await?;
    let (shown, text) = read_text(&a.file)?;
    let mut lines = text.lines().enumerate();
    let mut names: Option<PortMap> = None;
    let mut bundle: Option<BundleStream<'_>> = None;
    // The file line of each bundled message, for the switch's errors.
    let mut at_line: Vec<u32> = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let failed = match &names {
            Some(m) => with_port_map(m, || parse_batch(&mut lines, &mut batch)),
            None => parse_batch(&mut lines, &mut batch),
        };
        let done = failed.is_none() && batch.len() < BATCH;
        if let Some((no, line, e)) = failed {
            let e = match names {
                Some(_) => Some(e),
                None => {
                    let m = SwitchArgs::port_map(&s).await?;
                    let r = with_port_map(&m, || parse::flow_line(line, no));
                    names = Some(m);
                    match r {
                        Some(Ok(fm)) => {
                            batch.push((no, fm));
                            None
                        }
                        Some(Err(e)) => Some(e),
                        None => None,
                    }
                }
            };
            if let Some(e) = e {
                return Err(match bundle {
                    None => syntax_error(&shown, &text, &e, "; nothing was sent to the switch"),
                    Some(b) if fault("commit-on-syntax-error") => {
                        let _ = b.commit().await;
                        syntax_error(&shown, &text, &e, "")
                    }
                    Some(b) => {
                        // Best effort: if the DISCARD is lost, closing the
                        // connection discards the bundle too.
                        let _ = b.discard().await;
                        syntax_error(&shown, &text, &e, "; the bundle already sent was discarded, so nothing was applied")
                    }
                });
            }
        }
        if !batch.is_empty() && bundle.is_none() {
            let b = s.open_bundle(bundle_flags::ATOMIC | bundle_flags::ORDERED).await;
            bundle = Some(b.map_err(|e| bundle_failed(e, |i| format!("message {i}")))?);
        }
        if let Some(b) = bundle.as_mut() {
            for (no, fm) in batch.drain(..) {
                at_line.push(no as u32);
                if let Err(e) = b.add(&Message::FlowMod(fm)).await {
                    return Err(bundle_failed(e, |i| at_line.get(i).map_or(format!("message {i}"), |l| describe_line(&shown, &text, *l as usize))));
                }
            }
        }
        if done {
            break;
        }
    }
    if let Some(b) = bundle {
        let r = b.commit().await;
        r.map_err(|e| bundle_failed(e, |i| at_line.get(i).map_or(format!("message {i}"), |l| describe_line(&shown, &text, *l as usize))))?;
    }
    s.close();
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// del-flows and mod-flows

/// `podflow del-flows`: a DELETE (or DELETE_STRICT), then a barrier; an
/// error the switch sends for the delete arrives before the barrier reply.
pub async fn del_flows(a: DelFlowsArgs) -> Result<ExitCode, CliError> {
    let s = a.switch.connect().await?;
    let m = a.r#match.clone().unwrap_or_default();
    let fm = parse_named(&s, || parse::flow_delete(&m, a.strict)).await?.map_err(|e| ParseErrorIn("MATCH", m.clone(), e))?;
    apply(&s, &Message::FlowMod(fm), "delete").await.map_err(|e| match e {
        CliError::OutcomeUnknown(_) => CliError::OutcomeUnknown(
            "the delete was sent but not acknowledged; some or all matching flows may have been deleted".into(),
        ),
        e => e,
    })?;
    s.close();
    Ok(ExitCode::SUCCESS)
}

/// `podflow mod-flows`: a MODIFY (or MODIFY_STRICT) and a barrier.
pub async fn mod_flows(a: ModFlowsArgs) -> Result<ExitCode, CliError> {
    let s = a.switch.connect().await?;
    let fm = parse_named(&s, || parse::flow_modify(&a.flow, a.strict)).await?.map_err(|e| ParseErrorIn("FLOW", a.flow.clone(), e))?;
    apply(&s, &Message::FlowMod(fm), "flow modification").await?;
    s.close();
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// replace-flows and diff-flows

/// The switch's flows compared with the file's; a file line that cannot
/// be encoded is a usage error naming it.
fn compare(switch: Vec<FlowDesc>, file: &FlowFile) -> Result<Comparison, CliError> {
    let flows: Vec<FlowMod> = file.flows.iter().map(|(_, f)| f.clone()).collect();
    Comparison::new(switch, &flows).map_err(|(i, e)| {
        let line = file.flows[i].0;
        CliError::Usage(format!("{}: line {line} (`{}`) cannot be encoded: {e}", file.name, file.line_text(line)))
    })
}

/// `podflow diff-flows`.
pub async fn diff_flows(a: FileArgs) -> Result<ExitCode, CliError> {
    let s = a.switch.connect().await?;
    let file = FlowFile::read(&s, &a.file, "").await?;
    let flows: Vec<FlowDesc> = flow_parts(&s, FlowStatsRequest::default()).await?.into_iter().flat_map(|p| p.1).collect();
    s.close();
    let o = compare(flows, &file)?.diff_lines();
    emit(&o)?;
    Ok(if o.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_DIFFERENT) })
}

/// `podflow replace-flows`.
pub async fn replace_flows(a: FileArgs) -> Result<ExitCode, CliError> {
    let s = a.switch.connect().await?;
    let file = FlowFile::read(&s, &a.file, "; nothing was sent to the switch").await?;
    let flows: Vec<FlowDesc> = flow_parts(&s, FlowStatsRequest::default()).await?.into_iter().flat_map(|p| p.1).collect();
    let cmp = compare(flows, &file)?;

    // Deletes first, then adds; each message remembers what it stands for.
    let ch = cmp.changes();
    let (added, modified, unchanged) = (ch.added, ch.modified, ch.unchanged);
    let deletes: Vec<(Message, String)> =
        ch.deletes.into_iter().map(|(fm, text)| (Message::FlowMod(fm), format!("the delete of the switch's flow `{text}`"))).collect();
    let adds = ch.adds.iter().map(|&i| (Message::FlowMod(diff::replacement(&file.flows[i].1)), file.describe(i)));
    let deleted = deletes.len();
    let (msgs, what): (Vec<Message>, Vec<String>) = deletes.into_iter().chain(adds).unzip();
    if !msgs.is_empty() {
        s.bundle(&msgs, bundle_flags::ATOMIC | bundle_flags::ORDERED).await.map_err(|e| {
            bundle_failed(e, |i| what.get(i).cloned().unwrap_or_else(|| format!("message {i}")))
        })?;
    }
    s.close();
    emit(&format!(
        "{} flows changed: {deleted} deleted, {added} added, {modified} modified; {unchanged} unchanged\n",
        deleted + added + modified
    ))?;
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// dump-ports

fn stat(v: u64) -> String {
    if v == u64::MAX {
        "?".into()
    } else {
        v.to_string()
    }
}

/// `ofputil_format_port_stats` for the counters OpenFlow 1.5 carries
/// (the Intel RFC 2819 and custom properties of DPDK ports are not shown).
fn port_stats_text(p: &PortStats) -> String {
    let mut s = String::from("  port ");
    // OVS pads port numbers below 10 to two columns.
    if p.port_no.0 < 10 {
        s.push(' ');
    }
    s.push_str(&p.port_no.to_string());
    let [frame, over, crc, coll] = p.ethernet.unwrap_or([u64::MAX; 4]);
    s.push_str(&format!(
        ": rx pkts={}, bytes={}, drop={}, errs={}, frame={}, over={}, crc={}\n",
        stat(p.rx_packets),
        stat(p.rx_bytes),
        stat(p.rx_dropped),
        stat(p.rx_errors),
        stat(frame),
        stat(over),
        stat(crc)
    ));
    s.push_str(&format!(
        "           tx pkts={}, bytes={}, drop={}, errs={}, coll={}\n",
        stat(p.tx_packets),
        stat(p.tx_bytes),
        stat(p.tx_dropped),
        stat(p.tx_errors),
        stat(coll)
    ));
    if p.duration_sec != u32::MAX {
        s.push_str(&format!("           duration={}\n", print::duration(p.duration_sec, p.duration_nsec)));
    }
    s
}

/// `dump-ports` arguments.
#[derive(Debug, clap::Args)]
pub struct DumpPortsArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// Only this port: a number, LOCAL, or a port name.
    #[arg(value_name = "PORT")]
    pub port: Option<String>,
}

/// `ovs-ofctl dump-ports BRIDGE NAME` asks for the port descriptions first,
/// so its port stats request has xid 4 (see [`OFCTL_XID`]).
const OFCTL_XID_PORT_BY_NAME: u32 = 0x4;

/// `podflow dump-ports`.
pub async fn dump_ports(a: DumpPortsArgs) -> Result<ExitCode, CliError> {
    use podflow_proto::openflow::PortNo;
    let s = a.switch.connect().await?;
    let (port_no, xid) = match a.port.as_deref() {
        None => (PortNo::ANY, OFCTL_XID),
        Some(p) => match p.parse::<u32>().ok().map(PortNo).or_else(|| PortNo::from_reserved_name(p)) {
            Some(n) => (n, OFCTL_XID),
            None => {
                let ports = s.port_desc().await.map_err(session_failed)?;
                match ports.iter().find(|d| d.name == p) {
                    Some(d) => (d.port_no, OFCTL_XID_PORT_BY_NAME),
                    None => return Err(CliError::Failed(format!("{} has no port named {p:?}", a.switch.target))),
                }
            }
        },
    };
    let req = MultipartRequest::new(MultipartRequestBody::PortStats { port_no });
    let parts = s.multipart(req).await.map_err(session_failed)?;
    s.close();
    let mut o = String::new();
    for p in parts {
        let MultipartReplyBody::PortStats(ports) = p.body else {
            return Err(CliError::Failed("the switch answered a port stats request with another kind of reply".into()));
        };
        o.push_str(&format!("{} {} ports\n", reply_header("OFPST_PORT", xid, p.flags), ports.len()));
        for port in &ports {
            o.push_str(&port_stats_text(port));
        }
    }
    emit(&o)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::RunDir;
    use crate::openflow::{Addr, OfError};
    use podflow_proto::openflow::multipart::MORE;

    #[test]
    fn headers_like_ovs_ofctl() {
        assert_eq!(reply_header("OFPST_FLOW", 2, MORE), "OFPST_FLOW reply (OF1.5) (xid=0x2): flags=[more]");
        assert_eq!(reply_header("OFPST_FLOW", 6, 0), "OFPST_FLOW reply (OF1.5) (xid=0x6):");
        assert_eq!(reply_header("OFPST_PORT", 2, 0x10), "OFPST_PORT reply (OF1.5) (xid=0x2): flags=[***unknown flags 0x0010***]");
    }

    #[test]
    fn bundle_errors_name_file_lines() {
        use podflow_proto::openflow::error::{ErrorKind, ErrorMsg};
        let text = "# comment\ntable=0,actions=drop\n\ntable=1,actions=group:9\n";
        let file = FlowFile { name: "f.txt".into(), text: text.into(), flows: parse::flows_file(text).unwrap() };
        let err = ErrorMsg { kind: ErrorKind::Standard { ty: 2, code: 9 }, data: vec![] };
        let e = bundle_failed(BundleError::Rejected { errors: vec![MessageError { index: 1, error: err.clone() }] }, |i| file.describe(i));
        let s = e.to_string();
        assert!(s.starts_with("the switch refused line 4 of f.txt (`table=1,actions=group:9`): OFPBAC_"), "{s}");
        assert!(s.ends_with(", so nothing was applied"), "{s}");
        let e = bundle_failed(OfError::OutcomeUnknown { what: "BUNDLE_CONTROL(COMMIT)", why: "disconnected".into() }.into(), |i| file.describe(i));
        assert!(matches!(e, CliError::OutcomeUnknown(_)) && e.exit_code() == crate::cli::EXIT_OUTCOME_UNKNOWN);
        let e = bundle_failed(BundleError::Session(OfError::Disconnected("eof".into())), |i| file.describe(i));
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn targets() {
        let a = |t: &str| SwitchArgs { target: t.into(), rundir: RunDir { ovs_rundir: "/run/ovs".into() }, timeout: 1 }.addr();
        assert_eq!(a("br-int").unwrap(), Addr::Unix("/run/ovs/br-int.mgmt".into()));
        assert_eq!(a("tcp:127.0.0.1:6653").unwrap().to_string(), "tcp:127.0.0.1:6653");
        assert!(matches!(a("../x"), Err(CliError::Usage(_))));
        assert!(matches!(a("ssl:1.2.3.4:6653"), Err(CliError::Usage(_))));
    }

    #[test]
    fn port_stats_format() {
        let p = PortStats {
            port_no: podflow_proto::openflow::PortNo(3),
            duration_sec: 4,
            duration_nsec: 961_000_000,
            ethernet: Some([0, 0, 0, 0]),
            rx_packets: 1,
            ..PortStats::default()
        };
        assert_eq!(
            port_stats_text(&p),
            "  port  3: rx pkts=1, bytes=0, drop=0, errs=0, frame=0, over=0, crc=0\n           tx pkts=0, bytes=0, drop=0, errs=0, coll=0\n           duration=4.961s\n"
        );
    }
}
