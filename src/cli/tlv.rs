//! The TLV map commands: `add-tlv-map`, `del-tlv-map`, `dump-tlv-map`,
//! which map tunnel option TLVs (Geneve class, type, length) to the
//! `tun_metadata0`–`63` fields flows match and set, as `ovs-ofctl` does.
//!
//! Owns: the commands' arguments and their mapping to one library call
//! each (text::tlv, openflow::tlv, the session). Never: encodes messages or
//! formats their text itself.

use std::process::ExitCode;

use podflow_proto::openflow::text::tlv::{tlv_maps, tlv_table_reply};
use podflow_proto::openflow::tlv::{command, TlvTableMod, TlvTableReply};

use super::flows::OFCTL_XID;
use super::switch::{apply, emit, session_failed, SwitchArgs};
use super::CliError;

pub const TLV_HELP: &str = "\
MAP uses the ovs-ofctl syntax: {class=C,type=T,len=L}->tun_metadataN[,…], L a multiple of 4
up to 124, N up to 63. A flow can match or set tun_metadataN once N is mapped. Exit status:
0 done, 1 refused or not sent, 3 outcome unknown.

Examples:
  podflow add-tlv-map br-int '{class=0xffff,type=0,len=4}->tun_metadata0'
  podflow dump-tlv-map br-int
  podflow del-tlv-map br-int '{class=0xffff,type=0,len=4}->tun_metadata0'
  podflow del-tlv-map br-int        (every mapping)";

/// `add-tlv-map` arguments.
#[derive(Debug, clap::Args)]
pub struct TlvMapArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// The mappings.
    #[arg(value_name = "MAP")]
    pub map: String,
}

/// `del-tlv-map` arguments.
#[derive(Debug, clap::Args)]
pub struct MaybeTlvMapArgs {
    #[command(flatten)]
    pub switch: SwitchArgs,
    /// The mappings to delete; every mapping without it.
    #[arg(value_name = "MAP")]
    pub map: Option<String>,
}

async fn tlv_change(sw: SwitchArgs, command: u16, map: &str, what: &str) -> Result<ExitCode, CliError> {
    let maps = tlv_maps(map).map_err(|e| CliError::Usage(format!("MAP {map:?}: {e}")))?;
    let s = sw.connect().await?;
    apply(&s, &TlvTableMod { command, maps }.to_message(), what).await?;
    s.close();
    Ok(ExitCode::SUCCESS)
}

/// `podflow add-tlv-map`.
pub async fn add_tlv_map(a: TlvMapArgs) -> Result<ExitCode, CliError> {
    tlv_change(a.switch, command::ADD, &a.map, "TLV mapping addition").await
}

/// `podflow del-tlv-map`: the mappings named, or every mapping.
pub async fn del_tlv_map(a: MaybeTlvMapArgs) -> Result<ExitCode, CliError> {
    match a.map {
        Some(map) => tlv_change(a.switch, command::DELETE, &map, "TLV mapping deletion").await,
        None => tlv_change(a.switch, command::CLEAR, "", "TLV table clearing").await,
    }
}

/// `podflow dump-tlv-map`.
pub async fn dump_tlv_map(a: SwitchArgs) -> Result<ExitCode, CliError> {
    let s = a.connect().await?;
    let reply = s.request(TlvTableReply::request()).await.map_err(session_failed)?;
    s.close();
    let table = match TlvTableReply::from_message(&reply) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return Err(CliError::Failed(format!("the switch's TLV table reply is malformed: {e}"))),
        None => return Err(CliError::Failed(format!("the switch answered a TLV table request with {}", reply.name()))),
    };
    emit(&tlv_table_reply(OFCTL_XID, &table))?;
    Ok(ExitCode::SUCCESS)
}
