//! The group and meter commands: `dump-groups`, `add-group`, `add-groups`,
//! `mod-group`, `del-groups`, `dump-meters`, `add-meter`, `mod-meter`,
//! `del-meter`, printing what `ovs-ofctl -O OpenFlow15` prints.
//!
//! Owns: the commands' arguments and their mapping to one library call
//! each (text::group, text::meter, the session). Never: encodes messages
//! or formats group/meter text itself.

use std::io::Read;
use std::process::ExitCode;

use podflow_proto::openflow::bundle::flags as bundle_flags;
use podflow_proto::openflow::group::{command as group_cmd, GroupDesc, GroupMod, GROUP_ALL, GROUP_MAX};
use podflow_proto::openflow::message::Message;
use podflow_proto::openflow::meter::{command as meter_cmd, MeterConfig};
use podflow_proto::openflow::multipart::{MultipartReplyBody, MultipartRequest, MultipartRequestBody};
use podflow_proto::openflow::text::group::{group_desc, group_mod, group_mods_file};
use podflow_proto::openflow::text::meter::{meter_config, meter_id_text, meter_mod, MeterText};
use podflow_proto::openflow::text::with_port_names;

use crate::openflow::OfError;

use super::flows::{bundle_failed, OFCTL_XID};
use super::switch::{apply, emit, parse_named, reply_header, session_failed, SwitchArgs};
use super::CliError;

pub const GROUPS_HELP: &str = "\
GROUP uses the ovs-ofctl syntax: group_id=N,type=all|select|indirect|ff[,selection_method=M],
bucket=[bucket_id:B,][weight:W,][watch_port:P,][watch_group:G,]actions=…[,bucket=…].
Ports may be named. Exit status: 0 done, 1 refused or not sent, 3 outcome unknown.

Examples:
  podflow add-group br-int 'group_id=1,type=select,bucket=output:1,bucket=output:2'
  podflow mod-group br-int 'group_id=1,type=all,bucket=output:3'
  podflow del-groups br-int group_id=1
  podflow dump-groups br-int";

pub const METERS_HELP: &str = "\
METER uses the ovs-ofctl syntax: meter=N,kbps|pktps[,burst][,stats],bands=type=drop|dscp_remark,
rate=R[,burst_size=B][,prec_level=P]. Meters cannot be bundled: each is one METER_MOD
acknowledged by a barrier. Like ovs-ofctl, dump-meters prints a refused request (e.g. an
unknown meter) as ovs-ofctl does and exits 0. Exit status: 0 done, 1 refused or not sent, 3 outcome unknown.

Examples:
  podflow add-meter br-int 'meter=1,kbps,band=type=drop,rate=1000'
  podflow dump-meters br-int meter=1
  podflow del-meter br-int meter=1";

/// A command with an optional group or meter text.
#[derive(Debug, clap::Args)]
pub struct MaybeTextArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// The group (group_id=N) or meter (meter=N); all without it.
    #[arg(value_name = "SPEC")]
    pub spec: Option<String>,
}

/// A command with one group or meter text.
#[derive(Debug, clap::Args)]
pub struct TextArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// The group or meter in the ovs-ofctl syntax.
    #[arg(value_name = "SPEC")]
    pub spec: String,
    /// mod-group only: add the group if it does not exist (ovs-ofctl --may-create).
    #[arg(long)]
    pub may_create: bool,
}

/// `dump-groups` arguments.
#[derive(Debug, clap::Args)]
pub struct DumpGroupsArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// Only this group: a number, or all.
    #[arg(value_name = "GROUP")]
    pub group: Option<String>,
    /// Show ports by name, like ovs-ofctl --names.
    #[arg(long)]
    pub names: bool,
}

/// `add-groups` arguments.
#[derive(Debug, clap::Args)]
pub struct GroupFileArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// One group per line (`#` comments); `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: String,
}

fn usage(what: &str, text: &str, e: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("{what} {text:?}: {e}"))
}

/// `podflow dump-groups`.
pub async fn dump_groups(a: DumpGroupsArgs) -> Result<ExitCode, CliError> {
    let group_id = match a.group.as_deref() {
        None | Some("all") | Some("any") => GROUP_ALL,
        Some(g) => g.parse::<u32>().ok().filter(|g| *g <= GROUP_MAX).ok_or_else(|| {
            CliError::Usage(format!("GROUP {g:?}: expected a group number (0 to {GROUP_MAX}) or all"))
        })?,
    };
    let s = a.switch.connect().await?;
    let parts = s.multipart(MultipartRequest::new(MultipartRequestBody::GroupDesc { group_id })).await.map_err(session_failed)?;
    let names = if a.names { Some(SwitchArgs::port_map(&s).await?) } else { None };
    s.close();
    let mut o = String::new();
    for p in parts {
        let MultipartReplyBody::GroupDesc(groups) = p.body else {
            return Err(CliError::Failed("the switch answered a group request with another kind of reply".into()));
        };
        o.push_str(&reply_header("OFPST_GROUP_DESC", OFCTL_XID, p.flags));
        let print = |g: &GroupDesc| format!("\n {}", group_desc(g));
        for g in &groups {
            o.push_str(&match &names {
                Some(m) => with_port_names(m, || print(g)),
                None => print(g),
            });
        }
        o.push('\n');
    }
    emit(&o)?;
    Ok(ExitCode::SUCCESS)
}

async fn group_change(a: TextArgs, command: u16, what: &str) -> Result<ExitCode, CliError> {
    let s = a.switch.connect().await?;
    let gm = parse_named(&s, || group_mod(&a.spec, command)).await?.map_err(|e| usage("GROUP", &a.spec, e))?;
    apply(&s, &Message::GroupMod(gm), what).await?;
    s.close();
    Ok(ExitCode::SUCCESS)
}

/// `podflow add-group`.
pub async fn add_group(a: TextArgs) -> Result<ExitCode, CliError> {
    group_change(a, group_cmd::ADD, "group addition").await
}

/// `podflow mod-group` (`--may-create`: add or modify).
pub async fn mod_group(a: TextArgs) -> Result<ExitCode, CliError> {
    let cmd = if a.may_create { group_cmd::ADD_OR_MOD } else { group_cmd::MODIFY };
    group_change(a, cmd, "group modification").await
}

/// `podflow del-groups`: the group named, or every group.
pub async fn del_groups(a: MaybeTextArgs) -> Result<ExitCode, CliError> {
    let spec = a.spec.unwrap_or_default();
    group_change(TextArgs { switch: a.switch, spec, may_create: false }, group_cmd::DELETE, "group deletion").await
}

/// `podflow add-groups`: every group of FILE in one atomic bundle.
pub async fn add_groups(a: GroupFileArgs) -> Result<ExitCode, CliError> {
    let mut text = String::new();
    let res = if a.file == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(&a.file).and_then(|mut f| f.read_to_string(&mut text)).map(|_| ())
    };
    let shown = if a.file == "-" { "standard input" } else { a.file.as_str() };
    res.map_err(|e| CliError::Failed(format!("cannot read {shown}: {e}")))?;
    let s = a.switch.connect().await?;
    let groups: Vec<(usize, GroupMod)> = parse_named(&s, || group_mods_file(&text, group_cmd::ADD))
        .await?
        .map_err(|e| CliError::Usage(format!("{shown}: {e}; nothing was sent to the switch")))?;
    let msgs: Vec<Message> = groups.iter().map(|(_, g)| Message::GroupMod(g.clone())).collect();
    if !msgs.is_empty() {
        s.bundle(&msgs, bundle_flags::ATOMIC | bundle_flags::ORDERED).await.map_err(|e| {
            bundle_failed(e, |i| match groups.get(i) {
                Some((line, _)) => format!("line {line} of {shown} (`{}`)", text.lines().nth(line - 1).unwrap_or("").trim()),
                None => format!("message {i}"),
            })
        })?;
    }
    s.close();
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// Meters

/// `podflow dump-meters`. A refused request (e.g. an unknown meter) is
/// printed on stderr with exit status 0, as ovs-ofctl does.
pub async fn dump_meters(a: MaybeTextArgs) -> Result<ExitCode, CliError> {
    let spec = a.spec.unwrap_or_default();
    let mm = meter_mod(&spec, MeterText::Select).map_err(|e| usage("METER", &spec, e))?;
    let s = a.switch.connect().await?;
    let req = MultipartRequest::new(MultipartRequestBody::MeterDesc { meter_id: mm.meter.meter_id });
    let parts = match s.multipart(req).await {
        Ok(p) => p,
        Err(OfError::Refused { error: e, .. }) => {
            // ovs-ofctl prints the error and its request on stdout, exit 0.
            emit(&format!(
                "OFPT_ERROR (OF1.5) (xid={OFCTL_XID:#x}): {}\nOFPST_METER_CONFIG request (OF1.5) (xid={OFCTL_XID:#x}): {}\n",
                e.kind.name(),
                meter_id_text(mm.meter.meter_id, '=')
            ))?;
            eprintln!("podflow: the switch refused the meter request: {e}");
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(session_failed(e)),
    };
    s.close();
    let mut o = String::new();
    for p in parts {
        let MultipartReplyBody::MeterDesc(meters) = p.body else {
            return Err(CliError::Failed("the switch answered a meter request with another kind of reply".into()));
        };
        o.push_str(&reply_header("OFPST_METER_CONFIG", OFCTL_XID, p.flags));
        o.push('\n');
        let texts: Vec<String> = meters.iter().map(|m: &MeterConfig| meter_config(m)).collect();
        o.push_str(&texts.join("\n"));
    }
    emit(&o)?;
    Ok(ExitCode::SUCCESS)
}

async fn meter_change(sw: SwitchArgs, spec: &str, what: MeterText, name: &str) -> Result<ExitCode, CliError> {
    let mm = meter_mod(spec, what).map_err(|e| usage("METER", spec, e))?;
    let s = sw.connect().await?;
    apply(&s, &Message::MeterMod(mm), name).await?;
    s.close();
    Ok(ExitCode::SUCCESS)
}

/// `podflow add-meter`.
pub async fn add_meter(a: TextArgs) -> Result<ExitCode, CliError> {
    meter_change(a.switch, &a.spec, MeterText::Mod(meter_cmd::ADD), "meter addition").await
}

/// `podflow mod-meter`.
pub async fn mod_meter(a: TextArgs) -> Result<ExitCode, CliError> {
    meter_change(a.switch, &a.spec, MeterText::Mod(meter_cmd::MODIFY), "meter modification").await
}

/// `podflow del-meter`: the meter named, or every meter.
pub async fn del_meter(a: MaybeTextArgs) -> Result<ExitCode, CliError> {
    meter_change(a.switch, a.spec.as_deref().unwrap_or(""), MeterText::Select, "meter deletion").await
}
