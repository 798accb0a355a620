//! Typed Open_vSwitch operations, each one OVSDB transaction: bridges,
//! ports, the `other_config:flow-restore-wait` key, and waiting for
//! ovs-vswitchd to apply a configuration (`next_cfg` → `cur_cfg`).
//!
//! It owns the shape of these transactions. It must never replace a whole
//! map column that others write (`other_config`, `external_ids` of shared
//! rows are changed key by key with `mutate`), and never decides when
//! flow-restore-wait is set or cleared.

use std::collections::BTreeMap;

use tokio::time::Instant;

use podflow_proto::ovsdb::monitor::column;
use podflow_proto::ovsdb::ops::RowData;
use podflow_proto::ovsdb::{Atom, Condition, Datum, Mutation, OpResult, Operation, Uuid};

use super::{Client, Error, Malformed, Refusal, Snapshot};

pub const FLOW_RESTORE_WAIT: &str = "flow-restore-wait";
const OVS: &str = "Open_vSwitch";

/// Datapath implementation of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatapathType {
    /// The kernel datapath.
    System,
    /// The userspace datapath.
    Netdev,
}

impl DatapathType {
    pub fn as_str(self) -> &'static str {
        match self {
            DatapathType::System => "system",
            DatapathType::Netdev => "netdev",
        }
    }
}

/// A bridge as podflow wants it.
#[derive(Debug, Clone)]
pub struct BridgeSpec {
    pub name: String,
    pub datapath_type: DatapathType,
    pub external_ids: BTreeMap<String, String>,
}

/// OpenFlow versions enabled on podflow's bridges (1.5 is what podflow
/// speaks; 1.0 keeps plain `ovs-ofctl` usable for debugging).
pub const PROTOCOLS: [&str; 4] = ["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"];

/// What kind of interface a port has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    /// An OVS internal port (a new netdev created by ovs-vswitchd).
    Internal,
    /// An existing network device (veth end, NIC).
    System,
    /// A Geneve tunnel port whose remote end each flow chooses
    /// (`options:remote_ip=flow`, set with `tun_dst`).
    GeneveFlow,
}

#[derive(Debug, Clone)]
pub struct PortSpec {
    pub name: String,
    pub kind: PortKind,
    pub ofport_request: Option<u16>,
    pub external_ids: BTreeMap<String, String>,
}

/// The result of a configuration change: wait for it with [`wait_applied`].
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub uuid: Option<Uuid>,
    /// The `next_cfg` this transaction set.
    pub next_cfg: i64,
}

fn string_map(m: &BTreeMap<String, String>) -> Datum {
    Datum::map(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn row(cols: impl IntoIterator<Item = (&'static str, Datum)>) -> RowData {
    cols.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Fails the transaction unless `table` has a row with `name` (`exists`)
/// or has none (`!exists`): the decision is made by the server at commit.
fn name_check(table: &str, name: &str, exists: bool) -> Operation {
    Operation::wait(table, vec![Condition::eq("name", name)], &["name"], !exists, vec![], Some(0))
}

/// Fails the transaction if there is no Open_vSwitch row (otherwise a
/// bridge inserted under it would be garbage-collected).
fn ovs_row_check() -> Operation {
    Operation::wait(OVS, vec![], &["next_cfg"], false, vec![], Some(0))
}

/// `next_cfg += 1` and read it back; must be the last two operations.
fn bump_cfg() -> [Operation; 2] {
    [
        Operation::mutate(OVS, vec![], vec![Mutation::arith("next_cfg", "+=", 1)]),
        Operation::select(OVS, vec![]).with_columns(&["next_cfg"]),
    ]
}

fn next_cfg_of(results: &[OpResult]) -> Result<i64, Error> {
    results
        .last()
        .and_then(|r| r.rows.first())
        .and_then(|r| column(r, "next_cfg").as_i64())
        .ok_or(Error::Malformed(Malformed::NoNextCfg))
}

/// Creates the bridge, or brings an existing one to `spec` (datapath type,
/// `fail_mode=secure`, protocols incl. OpenFlow15, external_ids by key).
///
/// If the bridge appears or disappears between our read of the replica and
/// the commit (another writer), the server refuses the transaction and it is
/// retried once against the updated replica.
pub async fn ensure_bridge(c: &Client, spec: &BridgeSpec, deadline: Instant) -> Result<Applied, Error> {
    // Already as wanted: write nothing. A no-op write would still bump
    // next_cfg and make ovs-vswitchd run a reconfiguration pass, which on
    // the userspace datapath was seen to drop a packet of a running pod.
    if let Some(applied) = c.read(|s| bridge_as_wanted(s, spec)) {
        return Ok(applied);
    }
    let before = bridge_uuid(c, &spec.name);
    match ensure_bridge_once(c, spec, before.clone(), deadline).await {
        Err(Error::Refused(_)) if bridge_uuid(c, &spec.name).is_some() != before.is_some() => {
            ensure_bridge_once(c, spec, bridge_uuid(c, &spec.name), deadline).await
        }
        r => r,
    }
}

/// `Some` when the bridge exists exactly as `spec` wants it.
fn bridge_as_wanted(s: &Snapshot, spec: &BridgeSpec) -> Option<Applied> {
    let (uuid, row) = s.replica.find("Bridge", "name", &spec.name)?;
    let protocols: std::collections::BTreeSet<&str> = column(row, "protocols").atoms().iter().filter_map(Atom::as_str).collect();
    let ok = column(row, "datapath_type").as_str() == Some(spec.datapath_type.as_str())
        && column(row, "fail_mode").as_str() == Some("secure")
        && protocols == PROTOCOLS.iter().copied().collect()
        && spec.external_ids.iter().all(|(k, v)| column(row, "external_ids").get(k).and_then(Atom::as_str) == Some(v.as_str()));
    let next_cfg = s.replica.rows(OVS).next().and_then(|(_, r)| column(r, "next_cfg").as_i64())?;
    ok.then(|| Applied { uuid: Some(uuid.clone()), next_cfg })
}

fn bridge_uuid(c: &Client, name: &str) -> Option<Uuid> {
    c.read(|s| s.replica.find("Bridge", "name", name).map(|(u, _)| u.clone()))
}

async fn ensure_bridge_once(c: &Client, spec: &BridgeSpec, exists: Option<Uuid>, deadline: Instant) -> Result<Applied, Error> {
    let protocols = Datum::set(PROTOCOLS.iter().map(|p| Atom::string(*p)));
    let mut ops = vec![ovs_row_check(), name_check("Bridge", &spec.name, exists.is_some())];
    if exists.is_some() {
        let cond = vec![Condition::eq("name", spec.name.as_str())];
        ops.push(Operation::update(
            "Bridge",
            cond.clone(),
            row([
                ("datapath_type", Datum::atom(spec.datapath_type.as_str())),
                ("fail_mode", Datum::atom("secure")),
                ("protocols", protocols),
            ]),
        ));
        if !spec.external_ids.is_empty() {
            let keys = Datum::set(spec.external_ids.keys().map(|k| Atom::string(k.as_str())));
            ops.push(Operation::mutate(
                "Bridge",
                cond,
                vec![Mutation::delete("external_ids", keys), Mutation::insert("external_ids", string_map(&spec.external_ids))],
            ));
        }
    } else {
        ops.push(
            Operation::insert("Interface", row([("name", Datum::atom(spec.name.as_str())), ("type", Datum::atom("internal"))]))
                .with_uuid_name("iface"),
        );
        ops.push(
            Operation::insert(
                "Port",
                row([("name", Datum::atom(spec.name.as_str())), ("interfaces", Datum::atom(Atom::NamedUuid("iface".into())))]),
            )
            .with_uuid_name("port"),
        );
        ops.push(
            Operation::insert(
                "Bridge",
                row([
                    ("name", Datum::atom(spec.name.as_str())),
                    ("ports", Datum::atom(Atom::NamedUuid("port".into()))),
                    ("datapath_type", Datum::atom(spec.datapath_type.as_str())),
                    ("fail_mode", Datum::atom("secure")),
                    ("protocols", protocols),
                    ("external_ids", string_map(&spec.external_ids)),
                ]),
            )
            .with_uuid_name("bridge"),
        );
        ops.push(Operation::mutate(OVS, vec![], vec![Mutation::insert("bridges", Datum::atom(Atom::NamedUuid("bridge".into())))]));
    }
    ops.extend(bump_cfg());
    let res = c.transact(ops, deadline).await?;
    let uuid = match exists {
        Some(u) => Some(u),
        None => res.get(4).and_then(|r| r.uuid.clone()),
    };
    Ok(Applied { uuid, next_cfg: next_cfg_of(&res)? })
}

/// Adds a port with one interface to `bridge` and waits until
/// ovs-vswitchd gave it an OpenFlow port number (returned), or reports the
/// Interface `error` column as [`Error::Refused`]. A port of that name that
/// already exists is left as it is (not moved, not reconfigured) and waited for.
pub async fn add_port(c: &Client, bridge: &str, spec: &PortSpec, deadline: Instant) -> Result<i64, Error> {
    add_port_with(c, bridge, spec, &InterfaceSettings::default(), deadline).await
}

/// Interface columns set when a port is created (unset: OVS defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceSettings {
    /// Interface `mac` (`aa:bb:cc:dd:ee:ff`); only internal ports honour it.
    pub mac: Option<String>,
    /// Interface `mtu_request`.
    pub mtu_request: Option<u32>,
}

/// [`add_port`], setting `settings` on the new interface. A port that
/// already exists is left as it is.
pub async fn add_port_with(c: &Client, bridge: &str, spec: &PortSpec, settings: &InterfaceSettings, deadline: Instant) -> Result<i64, Error> {
    let present = c.read(|s| s.replica.find("Port", "name", &spec.name).is_some());
    if !present {
        let mut iface = row([("name", Datum::atom(spec.name.as_str())), ("external_ids", string_map(&spec.external_ids))]);
        if let Some(mac) = &settings.mac {
            iface.insert("mac".into(), Datum::atom(mac.as_str()));
        }
        if let Some(mtu) = settings.mtu_request {
            iface.insert("mtu_request".into(), Datum::atom(i64::from(mtu)));
        }
        match spec.kind {
            PortKind::Internal => {
                iface.insert("type".into(), Datum::atom("internal"));
            }
            PortKind::GeneveFlow => {
                iface.insert("type".into(), Datum::atom("geneve"));
                iface.insert("options".into(), Datum::map([("remote_ip", "flow")]));
            }
            PortKind::System => {}
        }
        if let Some(p) = spec.ofport_request {
            iface.insert("ofport_request".into(), Datum::atom(i64::from(p)));
        }
        let mut ops = vec![
            name_check("Bridge", bridge, true),
            name_check("Port", &spec.name, false),
            Operation::insert("Interface", iface).with_uuid_name("iface"),
            Operation::insert(
                "Port",
                row([
                    ("name", Datum::atom(spec.name.as_str())),
                    ("interfaces", Datum::atom(Atom::NamedUuid("iface".into()))),
                    ("external_ids", string_map(&spec.external_ids)),
                ]),
            )
            .with_uuid_name("port"),
            Operation::mutate(
                "Bridge",
                vec![Condition::eq("name", bridge)],
                vec![Mutation::insert("ports", Datum::atom(Atom::NamedUuid("port".into())))],
            ),
        ];
        ops.extend(bump_cfg());
        match c.transact(ops, deadline).await {
            Ok(_) => {}
            // Someone else added the port meanwhile: wait for it like ours.
            Err(Error::Refused(_)) if c.read(|s| s.replica.find("Port", "name", &spec.name).is_some()) => {}
            Err(e) => return Err(e),
        }
    }
    wait_ofport(c, &spec.name, deadline).await
}

/// Sets an existing interface's `mtu_request` (the MTU ovs-vswitchd
/// gives an internal port and keeps it at) and waits until applied.
pub async fn set_mtu_request(c: &Client, name: &str, mtu: u32, deadline: Instant) -> Result<(), Error> {
    let mut ops = vec![Operation::update("Interface", vec![Condition::eq("name", name)], row([("mtu_request", Datum::atom(i64::from(mtu)))]))];
    ops.extend(bump_cfg());
    let results = c.transact(ops, deadline).await?;
    wait_applied(c, next_cfg_of(&results)?, deadline).await
}

/// The `Interface.statistics` counters (`rx_packets`, `tx_packets`, …) of
/// interface `name`, read from the server (ovs-vswitchd refreshes them
/// every few seconds). Asked once per call, not monitored: a monitor would
/// stream every pod interface's counters every few seconds.
pub async fn interface_statistics(c: &Client, name: &str, deadline: Instant) -> Result<BTreeMap<String, i64>, Error> {
    let ops = vec![Operation::select("Interface", vec![Condition::eq("name", name)]).with_columns(&["statistics"])];
    let results = c.transact(ops, deadline).await?;
    Ok(results
        .first()
        .and_then(|r| r.rows.first())
        .map(|row| column(row, "statistics").pairs().iter().filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_i64()?))).collect())
        .unwrap_or_default())
}

/// Waits until the interface `name` has an ofport, or reports its error.
pub async fn wait_ofport(c: &Client, name: &str, deadline: Instant) -> Result<i64, Error> {
    let r = c
        .wait_until(deadline, |s| {
            let (_, row) = s.replica.find("Interface", "name", name)?;
            let err = column(row, "error").as_str().filter(|e| !e.is_empty());
            let ofport = column(row, "ofport").as_i64();
            match (ofport, err) {
                (_, Some(e)) => Some(Err(e.to_string())),
                (Some(p), None) if p > 0 => Some(Ok(p)),
                (Some(-1), None) => Some(Err("ofport is -1".to_string())),
                _ => None,
            }
        })
        .await;
    match r {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(Refusal::Interface { name: name.to_string(), error: e }.into()),
        Err(Error::Timeout(_)) => Err(Error::Timeout(format!("ovs-vswitchd did not assign an ofport to {name} in time"))),
        Err(e) => Err(e),
    }
}

/// Removes the named ports from `bridge` in one transaction (all or none).
/// Names not present in the replica are ignored; each removed port is
/// checked by the server to still exist at commit time.
pub async fn delete_ports(c: &Client, bridge: &str, names: &[&str], deadline: Instant) -> Result<Applied, Error> {
    let uuids: Vec<(String, Uuid)> = c.read(|s| {
        names
            .iter()
            .filter_map(|n| s.replica.find("Port", "name", n).map(|(u, _)| (n.to_string(), u.clone())))
            .collect()
    });
    let mut ops = vec![name_check("Bridge", bridge, true)];
    for (n, _) in &uuids {
        ops.push(name_check("Port", n, true));
    }
    ops.push(Operation::mutate(
        "Bridge",
        vec![Condition::eq("name", bridge)],
        vec![Mutation::delete("ports", Datum::set(uuids.iter().map(|(_, u)| Atom::Uuid(u.clone()))))],
    ));
    ops.extend(bump_cfg());
    let res = c.transact(ops, deadline).await?;
    Ok(Applied { uuid: None, next_cfg: next_cfg_of(&res)? })
}

/// Deletes the bridge `name` (with its ports) in one transaction; a
/// bridge that is not there is not an error (`None`).
pub async fn delete_bridge(c: &Client, name: &str, deadline: Instant) -> Result<Option<Applied>, Error> {
    let Some(uuid) = bridge_uuid(c, name) else { return Ok(None) };
    let mut ops = vec![
        name_check("Bridge", name, true),
        Operation::mutate(OVS, vec![], vec![Mutation::delete("bridges", Datum::set([Atom::Uuid(uuid)]))]),
    ];
    ops.extend(bump_cfg());
    let res = c.transact(ops, deadline).await?;
    Ok(Some(Applied { uuid: None, next_cfg: next_cfg_of(&res)? }))
}

/// Reads `other_config:flow-restore-wait` from the server (not the replica).
pub async fn flow_restore_wait(c: &Client, deadline: Instant) -> Result<bool, Error> {
    let res = c.transact(vec![Operation::select(OVS, vec![]).with_columns(&["other_config"])], deadline).await?;
    let row = res
        .first()
        .and_then(|r| r.rows.first())
        .ok_or(Error::Refused(Refusal::NoRootRow))?;
    Ok(column(row, "other_config").get(FLOW_RESTORE_WAIT).and_then(Atom::as_str) == Some("true"))
}

/// `other_config:flow-restore-wait` as the replica last saw it (may lag the
/// server; use [`flow_restore_wait`] to decide anything).
pub fn flow_restore_wait_cached(s: &Snapshot) -> bool {
    s.replica
        .rows(OVS)
        .next()
        .and_then(|(_, r)| column(r, "other_config").get(FLOW_RESTORE_WAIT).and_then(Atom::as_str).map(|v| v == "true"))
        .unwrap_or(false)
}

/// Sets `other_config:flow-restore-wait=true` with a map mutation (other
/// keys untouched).
pub async fn set_flow_restore_wait(c: &Client, deadline: Instant) -> Result<(), Error> {
    let key = Datum::set([Atom::string(FLOW_RESTORE_WAIT)]);
    let ops = vec![
        ovs_row_check(),
        Operation::mutate(
            OVS,
            vec![],
            vec![Mutation::delete("other_config", key), Mutation::insert("other_config", Datum::map([(FLOW_RESTORE_WAIT, "true")]))],
        ),
    ];
    c.transact(ops, deadline).await.map(|_| ())
}

/// Removes `other_config:flow-restore-wait` by mutation and reads it back
/// from the server, retrying (also across reconnects) until it is gone or
/// the deadline passes.
pub async fn clear_flow_restore_wait(c: &Client, deadline: Instant) -> Result<(), Error> {
    let mut last = None;
    for _ in 0..5 {
        let ops = vec![Operation::mutate(OVS, vec![], vec![Mutation::delete("other_config", Datum::set([Atom::string(FLOW_RESTORE_WAIT)]))])];
        match c.transact(ops, deadline).await {
            Ok(_) | Err(Error::OutcomeUnknown(_)) => {}
            Err(e) => return Err(e),
        }
        match flow_restore_wait(c, deadline).await {
            Ok(false) => return Ok(()),
            Ok(true) => last = Some(Refusal::KeyStillSet.into()),
            Err(e @ (Error::OutcomeUnknown(_) | Error::Disconnected(_))) => last = Some(e),
            Err(e) => return Err(e),
        }
        if Instant::now() >= deadline {
            break;
        }
        let _ = c.wait_synced(deadline).await;
    }
    Err(last.unwrap_or_else(|| Error::Timeout("could not confirm flow-restore-wait removal".into())))
}

/// Waits until ovs-vswitchd has applied configuration `next_cfg`
/// (`Open_vSwitch.cur_cfg >= next_cfg`).
pub async fn wait_applied(c: &Client, next_cfg: i64, deadline: Instant) -> Result<(), Error> {
    c.wait_until(deadline, |s| (cur_cfg(s)? >= next_cfg).then_some(()))
        .await
        .map_err(|e| match e {
            Error::Timeout(_) => Error::Timeout(format!("ovs-vswitchd did not apply configuration {next_cfg} in time")),
            e => e,
        })
}

/// `Open_vSwitch.cur_cfg` in a snapshot.
pub fn cur_cfg(s: &Snapshot) -> Option<i64> {
    s.replica.rows(OVS).next().and_then(|(_, r)| column(r, "cur_cfg").as_i64())
}

/// An independent observer of `flow-restore-wait`: its own OVSDB monitor
/// connection that records, with the wall-clock time it saw it, every
/// change of the key. The demo and the restart tests use it to tell when
/// the key really went, without trusting the agent's word. It only reads.
pub struct FlowRestoreWaitLog {
    _client: Client,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(u64, bool)>>>,
}

fn unix_ns_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

impl FlowRestoreWaitLog {
    /// Connects (until `deadline`) and starts recording.
    pub async fn start(addr: super::Address, deadline: Instant) -> Result<FlowRestoreWaitLog, Error> {
        let c = Client::connect(addr, super::Options::default(), deadline).await?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(vec![(unix_ns_now(), c.read(flow_restore_wait_cached))]));
        let mut rx = c.subscribe();
        let s = seen.clone();
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let v = flow_restore_wait_cached(&rx.borrow_and_update());
                let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
                if s.last().map(|l| l.1) != Some(v) {
                    s.push((unix_ns_now(), v));
                }
            }
        });
        Ok(FlowRestoreWaitLog { _client: c, seen })
    }

    /// Every (Unix ns, key set) seen so far, the first one at the start.
    pub fn changes(&self) -> Vec<(u64, bool)> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// When the key was first seen removed after `after_unix_ns`.
    pub fn removed_after(&self, after_unix_ns: u64) -> Option<u64> {
        self.changes().into_iter().find(|(t, v)| *t > after_unix_ns && !*v).map(|(t, _)| t)
    }
}
