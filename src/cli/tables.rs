//! `dump-tables` and `dump-aggregate`: table and aggregate flow counters,
//! printed as `ovs-ofctl -O OpenFlow15` prints them.
//!
//! Owns: the two commands' requests and output. Never changes the switch.

use std::process::ExitCode;

use podflow_proto::openflow::multipart::{MultipartReplyBody, MultipartRequest, MultipartRequestBody};
use podflow_proto::openflow::text::stats;

use super::flows::{DumpFlowsArgs, OFCTL_XID, OFCTL_XID_WITH_MATCH};
use super::switch::{emit, parse_named, reply_header, session_failed, SwitchArgs};
use super::CliError;

/// `podflow dump-tables`.
pub async fn dump_tables(a: SwitchArgs) -> Result<ExitCode, CliError> {
    let s = a.connect().await?;
    let parts = s.multipart(MultipartRequest::new(MultipartRequestBody::TableStats)).await.map_err(session_failed)?;
    s.close();
    let mut o = String::new();
    for p in parts {
        let MultipartReplyBody::TableStats(tables) = p.body else {
            return Err(CliError::Failed("the switch answered a table stats request with another kind of reply".into()));
        };
        o.push_str(&reply_header("OFPST_TABLE", OFCTL_XID, p.flags));
        o.push_str(&stats::table_stats(&tables));
        if !o.ends_with('\n') {
            o.push('\n');
        }
    }
    emit(&o)?;
    Ok(ExitCode::SUCCESS)
}

/// `podflow dump-aggregate`: the same arguments as `dump-flows`.
pub async fn dump_aggregate(a: DumpFlowsArgs) -> Result<ExitCode, CliError> {
    let s = a.switch.connect().await?;
    let req = parse_named(&s, || a.request()).await??;
    let parts = s.multipart(MultipartRequest::new(MultipartRequestBody::Aggregate(req))).await.map_err(session_failed)?;
    s.close();
    let xid = if a.r#match.is_some() || a.table.is_some() || a.cookie.is_some() { OFCTL_XID_WITH_MATCH } else { OFCTL_XID };
    let mut o = String::new();
    for p in parts {
        let MultipartReplyBody::Aggregate(st) = p.body else {
            return Err(CliError::Failed("the switch answered an aggregate request with another kind of reply".into()));
        };
        o.push_str(&reply_header("OFPST_AGGREGATE", xid, p.flags));
        o.push_str(&stats::aggregate(&st));
        o.push('\n');
    }
    emit(&o)?;
    Ok(ExitCode::SUCCESS)
}
