//! The OVSDB command group: `podflow show` and `podflow flow-restore-wait`.
//!
//! Thin: parses arguments, calls `crate::ovsdb`, prints. It must never
//! build OVSDB operations itself.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::ovsdb::proto::monitor::column;
use crate::ovsdb::proto::{Datum, Replica, Row};
use crate::ovsdb::{vswitch, Address, Client, Options};

use super::CliError;

/// Where to find ovsdb-server, and how to print.
#[derive(Debug, clap::Args)]
pub struct OvsdbArgs {
    /// OVSDB address: unix:PATH or tcp:HOST:PORT [default: unix:<ovs-rundir>/db.sock]
    #[arg(long, value_name = "ADDR")]
    pub ovsdb: Option<String>,
    #[command(flatten)]
    pub rundir: super::RunDir,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for ovsdb-server.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

impl OvsdbArgs {
    fn address(&self) -> Result<Address, CliError> {
        let a = self.ovsdb.clone().unwrap_or_else(|| format!("unix:{}", self.rundir.ovs_rundir.join("db.sock").display()));
        a.parse().map_err(|e: crate::dial::AddrError| CliError::Usage(e.to_string()))
    }

    fn deadline(&self) -> Instant {
        Instant::now() + Duration::from_secs(self.timeout)
    }

    async fn client(&self) -> Result<Client, CliError> {
        Client::connect(self.address()?, Options::default(), self.deadline()).await.map_err(failed)
    }
}

fn failed(e: crate::ovsdb::Error) -> CliError {
    CliError::Failed(e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FrwAction {
    Get,
    Set,
    Clear,
}

/// `podflow show`.
pub async fn show(args: OvsdbArgs) -> Result<ExitCode, CliError> {
    let c = args.client().await?;
    let v = c.read(|s| show_json(&s.replica));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v).expect("a Value serializes"));
    } else {
        print!("{}", show_text(&v));
    }
    Ok(ExitCode::SUCCESS)
}

/// `podflow flow-restore-wait [get|set|clear]`.
pub async fn flow_restore_wait(args: OvsdbArgs, action: FrwAction) -> Result<ExitCode, CliError> {
    let c = args.client().await?;
    let d = args.deadline();
    match action {
        FrwAction::Get => {}
        FrwAction::Set => vswitch::set_flow_restore_wait(&c, d).await.map_err(failed)?,
        FrwAction::Clear => vswitch::clear_flow_restore_wait(&c, d).await.map_err(failed)?,
    }
    let now = vswitch::flow_restore_wait(&c, d).await.map_err(failed)?;
    if args.json {
        println!("{}", json!({ "flow_restore_wait": now }));
    } else {
        println!("{now}");
    }
    Ok(ExitCode::SUCCESS)
}

fn string_map(d: &Datum) -> Value {
    json!(d.string_map())
}

fn strings(d: &Datum) -> Vec<String> {
    let mut v: Vec<String> = d.atoms().iter().filter_map(|a| a.as_str().map(str::to_string)).collect();
    v.sort();
    v
}

fn opt_str(r: &Row, c: &str) -> Value {
    column(r, c).as_str().map_or(Value::Null, |s| json!(s))
}

fn by_refs<'a>(db: &'a Replica, table: &str, refs: &Datum) -> Vec<&'a Row> {
    let mut rows: Vec<&Row> = refs.uuids().filter_map(|u| db.row(table, u)).collect();
    rows.sort_by(|a, b| column(a, "name").as_str().cmp(&column(b, "name").as_str()));
    rows
}

/// The replica as a JSON document shaped like `ovs-vsctl show`.
pub fn show_json(db: &Replica) -> Value {
    let Some((uuid, ovs)) = db.rows("Open_vSwitch").next() else {
        return json!({ "uuid": null, "bridges": [] });
    };
    let mut bridges: Vec<&Row> = by_refs(db, "Bridge", column(ovs, "bridges"));
    bridges.sort_by(|a, b| column(a, "name").as_str().cmp(&column(b, "name").as_str()));
    let bridges: Vec<Value> = bridges
        .into_iter()
        .map(|b| {
            let controllers: Vec<Value> = by_refs(db, "Controller", column(b, "controller"))
                .into_iter()
                .map(|c| json!({"target": opt_str(c, "target"), "is_connected": column(c, "is_connected").as_bool()}))
                .collect();
            let ports: Vec<Value> = by_refs(db, "Port", column(b, "ports"))
                .into_iter()
                .map(|p| {
                    let ifaces: Vec<Value> = by_refs(db, "Interface", column(p, "interfaces"))
                        .into_iter()
                        .map(|i| {
                            json!({
                                "name": opt_str(i, "name"),
                                "type": column(i, "type").as_str().unwrap_or(""),
                                "ofport": column(i, "ofport").as_i64(),
                                "ofport_request": column(i, "ofport_request").as_i64(),
                                "error": opt_str(i, "error"),
                                "external_ids": string_map(column(i, "external_ids")),
                            })
                        })
                        .collect();
                    json!({
                        "name": opt_str(p, "name"),
                        "tag": column(p, "tag").as_i64(),
                        "external_ids": string_map(column(p, "external_ids")),
                        "interfaces": ifaces,
                    })
                })
                .collect();
            json!({
                "name": opt_str(b, "name"),
                "datapath_type": column(b, "datapath_type").as_str().unwrap_or(""),
                "fail_mode": opt_str(b, "fail_mode"),
                "protocols": strings(column(b, "protocols")),
                "external_ids": string_map(column(b, "external_ids")),
                "controllers": controllers,
                "ports": ports,
            })
        })
        .collect();
    json!({
        "uuid": uuid.as_str(),
        "bridges": bridges,
        "other_config": string_map(column(ovs, "other_config")),
        "next_cfg": column(ovs, "next_cfg").as_i64(),
        "cur_cfg": column(ovs, "cur_cfg").as_i64(),
        "ovs_version": opt_str(ovs, "ovs_version"),
    })
}

fn q(v: &Value) -> String {
    match v.as_str() {
        Some(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) => s.to_string(),
        Some(s) => Value::String(s.to_string()).to_string(),
        None => v.to_string(),
    }
}

/// Text like `ovs-vsctl show`, plus ofport and error of every interface.
pub fn show_text(v: &Value) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "{}", v["uuid"].as_str().unwrap_or("(no Open_vSwitch row)"));
    for b in v["bridges"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "    Bridge {}", q(&b["name"]));
        for c in b["controllers"].as_array().into_iter().flatten() {
            let _ = writeln!(o, "        Controller {}", q(&c["target"]));
            if c["is_connected"] == json!(true) {
                let _ = writeln!(o, "            is_connected: true");
            }
        }
        if !b["fail_mode"].is_null() {
            let _ = writeln!(o, "        fail_mode: {}", q(&b["fail_mode"]));
        }
        if b["datapath_type"] != json!("") {
            let _ = writeln!(o, "        datapath_type: {}", q(&b["datapath_type"]));
        }
        for p in b["ports"].as_array().into_iter().flatten() {
            let _ = writeln!(o, "        Port {}", q(&p["name"]));
            if !p["tag"].is_null() {
                let _ = writeln!(o, "            tag: {}", p["tag"]);
            }
            for i in p["interfaces"].as_array().into_iter().flatten() {
                let _ = writeln!(o, "            Interface {}", q(&i["name"]));
                if i["type"] != json!("") {
                    let _ = writeln!(o, "                type: {}", q(&i["type"]));
                }
                let ofport = i["ofport"].as_i64().map_or("(none)".to_string(), |p| p.to_string());
                let _ = writeln!(o, "                ofport: {ofport}");
                if !i["error"].is_null() {
                    let _ = writeln!(o, "                error: {}", Value::String(i["error"].as_str().unwrap_or("").into()));
                }
            }
        }
    }
    if let Some(frw) = v["other_config"].get("flow-restore-wait") {
        let _ = writeln!(o, "    flow-restore-wait: {}", q(frw));
    }
    if !v["ovs_version"].is_null() {
        let _ = writeln!(o, "    ovs_version: {}", Value::String(v["ovs_version"].as_str().unwrap_or("").into()));
    }
    o
}
