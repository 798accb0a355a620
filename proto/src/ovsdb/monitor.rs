//! Monitors (RFC 7047 section 4.1.5 and the `monitor_cond` /
//! `monitor_cond_since` extensions of ovsdb-server): request parameters,
//! `update`/`update2`/`update3` notifications, and [`Replica`], the pure
//! in-memory copy of the monitored tables that these updates maintain.
//!
//! It owns how a row diff is applied; it never decides when to resync
//! (the session does) and never blocks or waits.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

use super::datum::{Atom, Datum, Uuid};
use super::ops::{parse_row, Condition};
use super::OvsdbError;

/// One row: column → value. Columns at their default may be absent.
pub type Row = BTreeMap<String, Datum>;

/// All rows of one table by UUID.
pub type Table = HashMap<Uuid, Row>;

/// How a column's value is diffed in `update2` (`modify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Exactly one atom: the diff is the new value.
    Scalar,
    /// A set (including optional 0..1 columns): the diff is the symmetric
    /// difference.
    Set,
    /// A map: the diff lists keys to add, remove or change.
    Map,
}

/// The part of a database schema the replica needs: column kinds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    pub name: String,
    pub tables: BTreeMap<String, BTreeMap<String, ColumnKind>>,
}

impl Schema {
    /// Reads the reply of `get_schema`.
    pub fn from_json(v: &Value) -> Result<Schema, OvsdbError> {
        let name = v.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let tables = v
            .get("tables")
            .and_then(Value::as_object)
            .ok_or_else(|| OvsdbError::malformed("schema", "no \"tables\" object"))?;
        let mut out = BTreeMap::new();
        for (t, tv) in tables {
            let cols = tv
                .get("columns")
                .and_then(Value::as_object)
                .ok_or_else(|| OvsdbError::malformed("schema", format!("table {t} has no \"columns\"")))?;
            let mut kinds = BTreeMap::new();
            for (c, cv) in cols {
                kinds.insert(c.clone(), column_kind(cv.get("type").unwrap_or(&Value::Null)));
            }
            out.insert(t.clone(), kinds);
        }
        Ok(Schema { name, tables: out })
    }

    pub fn kind(&self, table: &str, column: &str) -> ColumnKind {
        self.tables.get(table).and_then(|t| t.get(column)).copied().unwrap_or(ColumnKind::Scalar)
    }
}

fn column_kind(ty: &Value) -> ColumnKind {
    let Value::Object(o) = ty else { return ColumnKind::Scalar };
    if o.contains_key("value") {
        return ColumnKind::Map;
    }
    let min = o.get("min").and_then(Value::as_u64).unwrap_or(1);
    let max = match o.get("max") {
        None => 1,
        Some(Value::String(s)) if s == "unlimited" => u64::MAX,
        Some(m) => m.as_u64().unwrap_or(1),
    };
    if min == 1 && max == 1 {
        ColumnKind::Scalar
    } else {
        ColumnKind::Set
    }
}

/// Which monitor request a server accepted (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorMethod {
    MonitorCondSince,
    MonitorCond,
    Monitor,
}

impl MonitorMethod {
    pub fn name(self) -> &'static str {
        match self {
            MonitorMethod::MonitorCondSince => "monitor_cond_since",
            MonitorMethod::MonitorCond => "monitor_cond",
            MonitorMethod::Monitor => "monitor",
        }
    }

    /// The next older method to try if the server does not know this one.
    pub fn fallback(self) -> Option<MonitorMethod> {
        match self {
            MonitorMethod::MonitorCondSince => Some(MonitorMethod::MonitorCond),
            MonitorMethod::MonitorCond => Some(MonitorMethod::Monitor),
            MonitorMethod::Monitor => None,
        }
    }
}

/// Tables (and columns; empty means all) to monitor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorSpec {
    pub tables: Vec<(String, Vec<String>)>,
    /// `monitor_cond`/`monitor_cond_since` only: rows of a table to monitor
    /// (all rows when absent). A plain `monitor` cannot filter rows.
    pub conditions: BTreeMap<String, Vec<Condition>>,
}

impl MonitorSpec {
    pub fn table(mut self, name: &str, columns: &[&str]) -> MonitorSpec {
        self.tables.push((name.to_string(), columns.iter().map(|c| c.to_string()).collect()));
        self
    }

    /// Restricts the rows of `table` (conditional monitors only).
    pub fn filter(mut self, table: &str, conditions: Vec<Condition>) -> MonitorSpec {
        self.conditions.insert(table.to_string(), conditions);
        self
    }

    /// Params of `method` for database `db` under monitor id `monid`.
    /// `last_txn_id` is only used by `monitor_cond_since`.
    pub fn params(&self, method: MonitorMethod, db: &str, monid: &Value, last_txn_id: Option<&str>) -> Value {
        let mut reqs = Map::new();
        for (t, cols) in &self.tables {
            let mut r = Map::new();
            if !cols.is_empty() {
                r.insert("columns".into(), json!(cols));
            }
            if let (Some(c), true) = (self.conditions.get(t), method != MonitorMethod::Monitor) {
                r.insert("where".into(), Value::Array(c.iter().map(Condition::to_json).collect()));
            }
            let r = Value::Object(r);
            reqs.insert(t.clone(), if method == MonitorMethod::Monitor { r } else { json!([r]) });
        }
        match method {
            MonitorMethod::MonitorCondSince => json!([
                db, monid, reqs,
                last_txn_id.unwrap_or("00000000-0000-0000-0000-000000000000")
            ]),
            _ => json!([db, monid, reqs]),
        }
    }
}

/// What happened to one row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowUpdate {
    /// `update` (v1): the full new row, or `None` when deleted.
    Replace(Option<Row>),
    /// `update2`: a row present at monitor start, or newly inserted.
    Insert(Row),
    /// `update2`: the row was deleted.
    Delete,
    /// `update2`: a diff of the changed columns.
    Modify(Row),
}

/// Updates to several tables, applied together (one notification).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableUpdates {
    pub tables: Vec<(String, Vec<(Uuid, RowUpdate)>)>,
}

impl TableUpdates {
    /// Number of row updates.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|(_, r)| r.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses `<table-updates>` (v1, `monitor` reply and `update`).
    pub fn parse_v1(v: &Value) -> Result<TableUpdates, OvsdbError> {
        Self::parse(v, |ru| {
            let o = ru.as_object().ok_or_else(|| OvsdbError::malformed("row update", "not an object"))?;
            Ok(RowUpdate::Replace(match o.get("new") {
                Some(n) => Some(parse_row(n)?),
                None => None,
            }))
        })
    }

    /// Parses `<table-updates2>` (`monitor_cond` reply, `update2`, `update3`).
    pub fn parse_v2(v: &Value) -> Result<TableUpdates, OvsdbError> {
        Self::parse(v, |ru| {
            let o = ru.as_object().ok_or_else(|| OvsdbError::malformed("row update2", "not an object"))?;
            if let Some(r) = o.get("initial").or_else(|| o.get("insert")) {
                Ok(RowUpdate::Insert(parse_row(r)?))
            } else if let Some(r) = o.get("modify") {
                Ok(RowUpdate::Modify(parse_row(r)?))
            } else if o.contains_key("delete") {
                Ok(RowUpdate::Delete)
            } else {
                Err(OvsdbError::malformed("row update2", "none of initial/insert/modify/delete"))
            }
        })
    }

    fn parse(v: &Value, row: impl Fn(&Value) -> Result<RowUpdate, OvsdbError>) -> Result<TableUpdates, OvsdbError> {
        if v.is_null() {
            return Ok(TableUpdates::default());
        }
        let o = v.as_object().ok_or_else(|| OvsdbError::malformed("table updates", "not an object"))?;
        let mut tables = Vec::with_capacity(o.len());
        for (t, rows) in o {
            let rows = rows.as_object().ok_or_else(|| OvsdbError::malformed("table update", format!("{t} is not an object")))?;
            let mut list = Vec::with_capacity(rows.len());
            for (u, ru) in rows {
                let uuid = Uuid::parse(u).ok_or_else(|| OvsdbError::malformed("table update", format!("{u:?} is not a UUID")))?;
                list.push((uuid, row(ru)?));
            }
            tables.push((t.clone(), list));
        }
        Ok(TableUpdates { tables })
    }
}

/// A monitor notification, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub monid: Value,
    /// `update3` only: the transaction the updates lead to.
    pub last_txn_id: Option<String>,
    pub updates: TableUpdates,
}

/// Parses an `update`, `update2` or `update3` notification's params.
/// Returns `Ok(None)` for any other method.
pub fn parse_notification(method: &str, params: &Value) -> Result<Option<Notification>, OvsdbError> {
    let p = params.as_array().map(Vec::as_slice).unwrap_or(&[]);
    let n = match (method, p) {
        ("update", [monid, u]) => Notification { monid: monid.clone(), last_txn_id: None, updates: TableUpdates::parse_v1(u)? },
        ("update2", [monid, u]) => Notification { monid: monid.clone(), last_txn_id: None, updates: TableUpdates::parse_v2(u)? },
        ("update3", [monid, id, u]) => Notification {
            monid: monid.clone(),
            last_txn_id: id.as_str().map(str::to_string),
            updates: TableUpdates::parse_v2(u)?,
        },
        ("update" | "update2" | "update3", _) => {
            return Err(OvsdbError::malformed("monitor notification", format!("{method} has {} params", p.len())))
        }
        _ => return Ok(None),
    };
    Ok(Some(n))
}

/// The reply to a monitor request, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorReply {
    /// `monitor_cond_since` only: the server still had our last transaction,
    /// so `updates` is a diff on top of the previous replica.
    pub found: bool,
    pub last_txn_id: Option<String>,
    pub updates: TableUpdates,
}

pub fn parse_monitor_reply(method: MonitorMethod, result: &Value) -> Result<MonitorReply, OvsdbError> {
    match method {
        MonitorMethod::Monitor => Ok(MonitorReply { found: false, last_txn_id: None, updates: TableUpdates::parse_v1(result)? }),
        MonitorMethod::MonitorCond => Ok(MonitorReply { found: false, last_txn_id: None, updates: TableUpdates::parse_v2(result)? }),
        MonitorMethod::MonitorCondSince => match result.as_array().map(Vec::as_slice) {
            Some([found, id, u]) => Ok(MonitorReply {
                found: found.as_bool().ok_or_else(|| OvsdbError::malformed("monitor_cond_since reply", "found is not a boolean"))?,
                last_txn_id: id.as_str().map(str::to_string),
                updates: TableUpdates::parse_v2(u)?,
            }),
            _ => Err(OvsdbError::malformed("monitor_cond_since reply", "not [found, last-txn-id, updates]")),
        },
    }
}

/// The monitored tables as last reported by the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replica {
    pub tables: BTreeMap<String, Table>,
    /// The last transaction id seen (`monitor_cond_since`/`update3`).
    pub last_txn_id: Option<String>,
}

static EMPTY: Datum = Datum::Set(Vec::new());

/// A column of a row, or the empty set when absent.
pub fn column<'a>(row: &'a Row, name: &str) -> &'a Datum {
    row.get(name).unwrap_or(&EMPTY)
}

impl Replica {
    /// An empty replica with these tables present.
    pub fn with_tables<'a>(names: impl IntoIterator<Item = &'a str>) -> Replica {
        Replica { tables: names.into_iter().map(|n| (n.to_string(), Table::new())).collect(), last_txn_id: None }
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    /// Rows of `table` (none if the table is not monitored).
    pub fn rows<'a>(&'a self, table: &str) -> impl Iterator<Item = (&'a Uuid, &'a Row)> + 'a {
        self.tables.get(table).into_iter().flat_map(|t| t.iter())
    }

    pub fn row(&self, table: &str, uuid: &Uuid) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    /// The first row of `table` whose string column `col` equals `value`.
    pub fn find(&self, table: &str, col: &str, value: &str) -> Option<(&Uuid, &Row)> {
        self.rows(table).find(|(_, r)| column(r, col).as_str() == Some(value))
    }

    /// Applies one notification's updates. Rows referenced by a diff that
    /// are not in the replica are inserted from the diff (best effort: the
    /// server is authoritative, and a resync replaces everything).
    pub fn apply(&mut self, schema: &Schema, updates: TableUpdates) {
        for (tname, rows) in updates.tables {
            let table = self.tables.entry(tname.clone()).or_default();
            for (uuid, ru) in rows {
                match ru {
                    RowUpdate::Replace(Some(row)) | RowUpdate::Insert(row) => {
                        table.insert(uuid, row);
                    }
                    RowUpdate::Replace(None) | RowUpdate::Delete => {
                        table.remove(&uuid);
                    }
                    RowUpdate::Modify(diff) => {
                        let row = table.entry(uuid).or_default();
                        for (col, d) in diff {
                            let kind = schema.kind(&tname, &col);
                            apply_diff(row, col, kind, d);
                        }
                    }
                }
            }
        }
    }
}

fn apply_diff(row: &mut Row, col: String, kind: ColumnKind, diff: Datum) {
    match (kind, diff) {
        (ColumnKind::Scalar, d) => {
            row.insert(col, d);
        }
        (ColumnKind::Set, Datum::Set(changes)) => {
            let cur = row.entry(col).or_insert_with(Datum::empty_set);
            if let Datum::Set(atoms) = cur {
                if changes.len() <= 4 {
                    for a in changes {
                        match atoms.iter().position(|x| *x == a) {
                            Some(i) => {
                                atoms.swap_remove(i);
                            }
                            None => atoms.push(a),
                        }
                    }
                } else {
                    // Large diffs (thousands of ports on a bridge): linear, not quadratic.
                    let mut set: HashSet<Atom> = atoms.drain(..).collect();
                    for a in changes {
                        if !set.remove(&a) {
                            set.insert(a);
                        }
                    }
                    atoms.extend(set);
                }
            }
        }
        (ColumnKind::Map, Datum::Map(changes)) => {
            let cur = row.entry(col).or_insert_with(|| Datum::Map(vec![]));
            if let Datum::Set(s) = cur {
                // An empty map may have been written as an empty set.
                if s.is_empty() {
                    *cur = Datum::Map(vec![]);
                }
            }
            if let Datum::Map(pairs) = cur {
                let mut index: HashMap<Atom, usize> = pairs.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect();
                let mut removed = false;
                for (k, v) in changes {
                    match index.get(&k) {
                        Some(&i) if pairs[i].1 == v => {
                            // Dropped below, so that indexes stay valid meanwhile.
                            index.remove(&k);
                            removed = true;
                        }
                        Some(&i) => pairs[i].1 = v,
                        None => {
                            index.insert(k.clone(), pairs.len());
                            pairs.push((k, v));
                        }
                    }
                }
                if removed {
                    pairs.retain(|(k, _)| index.contains_key(k));
                }
            }
        }
        // A diff whose shape does not match the schema: take it as the value.
        (_, d) => {
            row.insert(col, d);
        }
    }
}

/// Convenience for callers matching atoms in a set column.
pub fn set_contains(d: &Datum, a: &Atom) -> bool {
    d.atoms().contains(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "11111111-1111-1111-1111-111111111111";
    const U2: &str = "22222222-2222-2222-2222-222222222222";

    fn schema() -> Schema {
        Schema::from_json(&json!({"name":"db","tables":{"T":{"columns":{
            "name":{"type":"string"},
            "ofport":{"type":{"key":"integer","min":0,"max":1}},
            "ports":{"type":{"key":{"type":"uuid"},"min":0,"max":"unlimited"}},
            "other_config":{"type":{"key":"string","value":"string","min":0,"max":"unlimited"}}
        }}}}))
        .unwrap()
    }

    #[test]
    fn schema_kinds() {
        let s = schema();
        assert_eq!(s.kind("T", "name"), ColumnKind::Scalar);
        assert_eq!(s.kind("T", "ofport"), ColumnKind::Set);
        assert_eq!(s.kind("T", "ports"), ColumnKind::Set);
        assert_eq!(s.kind("T", "other_config"), ColumnKind::Map);
    }

    #[test]
    fn update2_initial_modify_delete() {
        let s = schema();
        let mut r = Replica::default();
        let init = json!({"T":{U1:{"initial":{"name":"a","ofport":["set",[]],"ports":["set",[["uuid",U2]]],
            "other_config":["map",[["k","v"],["x","1"]]]}}}});
        r.apply(&s, TableUpdates::parse_v2(&init).unwrap());
        let u1 = Uuid::parse(U1).unwrap();
        let m = json!({"T":{U1:{"modify":{"name":"b","ofport":5,"ports":["uuid",U2],
            "other_config":["map",[["k","v"],["x","2"],["new","n"]]]}}}});
        r.apply(&s, TableUpdates::parse_v2(&m).unwrap());
        let row = r.row("T", &u1).unwrap();
        assert_eq!(column(row, "name").as_str(), Some("b"));
        assert_eq!(column(row, "ofport").as_i64(), Some(5));
        assert!(column(row, "ports").is_empty());
        let oc = column(row, "other_config").string_map();
        assert_eq!(oc.get("k"), None);
        assert_eq!(oc.get("x").map(String::as_str), Some("2"));
        assert_eq!(oc.get("new").map(String::as_str), Some("n"));
        // Optional column changing value: diff holds old and new.
        r.apply(&s, TableUpdates::parse_v2(&json!({"T":{U1:{"modify":{"ofport":["set",[5,7]]}}}})).unwrap());
        assert_eq!(column(r.row("T", &u1).unwrap(), "ofport").as_i64(), Some(7));
        r.apply(&s, TableUpdates::parse_v2(&json!({"T":{U1:{"delete":null}}})).unwrap());
        assert!(r.row("T", &u1).is_none());
    }

    #[test]
    fn large_set_and_map_diffs() {
        let s = schema();
        let mut r = Replica::default();
        let uuids: Vec<String> = (0..100).map(|i| format!("00000000-0000-0000-0000-{i:012}")).collect();
        let all: Vec<Value> = uuids.iter().map(|u| json!(["uuid", u])).collect();
        r.apply(&s, TableUpdates::parse_v2(&json!({"T":{U1:{"initial":{"ports":["set", all[..60]]}}}})).unwrap());
        // Remove 0..30, add 60..100.
        let diff: Vec<Value> = all[..30].iter().chain(all[60..].iter()).cloned().collect();
        r.apply(&s, TableUpdates::parse_v2(&json!({"T":{U1:{"modify":{"ports":["set", diff]}}}})).unwrap());
        let row = r.row("T", &Uuid::parse(U1).unwrap()).unwrap();
        let mut got: Vec<String> = column(row, "ports").uuids().map(|u| u.to_string()).collect();
        got.sort();
        assert_eq!(got, uuids[30..].to_vec());
        let pairs: Vec<Value> = (0..10).map(|i| json!([format!("k{i}"), "v"])).collect();
        r.apply(&s, TableUpdates::parse_v2(&json!({"T":{U1:{"modify":{"other_config":["map", pairs]}}}})).unwrap());
        let d = json!(["map", [["k1","v"],["k2","w"],["k3","v"],["new","n"]]]);
        r.apply(&s, TableUpdates::parse_v2(&json!({"T":{U1:{"modify":{"other_config": d}}}})).unwrap());
        let m = column(r.row("T", &Uuid::parse(U1).unwrap()).unwrap(), "other_config").string_map();
        assert_eq!(m.len(), 9);
        assert!(!m.contains_key("k1") && !m.contains_key("k3"));
        assert_eq!(m["k2"], "w");
        assert_eq!(m["new"], "n");
    }

    #[test]
    fn update1_and_notifications() {
        let s = schema();
        let mut r = Replica::default();
        let n = parse_notification("update", &json!([null, {"T":{U1:{"new":{"name":"a"}}}}])).unwrap().unwrap();
        r.apply(&s, n.updates);
        assert!(r.find("T", "name", "a").is_some());
        let n = parse_notification("update", &json!([null, {"T":{U1:{"old":{"name":"a"}}}}])).unwrap().unwrap();
        r.apply(&s, n.updates);
        assert!(r.find("T", "name", "a").is_none());
        let n = parse_notification("update3", &json!(["m", U2, {"T":{}}])).unwrap().unwrap();
        assert_eq!(n.last_txn_id.as_deref(), Some(U2));
        assert!(parse_notification("update2", &json!([1])).is_err());
        assert!(parse_notification("echo", &json!([])).unwrap().is_none());
        assert!(TableUpdates::parse_v2(&json!({"T":{"nope":{"initial":{}}}})).is_err());
    }

    #[test]
    fn monitor_params_shapes() {
        let spec = MonitorSpec::default()
            .table("Bridge", &["name"])
            .table("Port", &[])
            .filter("Port", vec![Condition::eq("name", "p1")]);
        let p = spec.params(MonitorMethod::MonitorCondSince, "Open_vSwitch", &json!("m"), None);
        assert_eq!(p[2]["Bridge"], json!([{"columns":["name"]}]));
        assert_eq!(p[2]["Port"], json!([{"where":[["name","==","p1"]]}]));
        assert_eq!(p[3], json!("00000000-0000-0000-0000-000000000000"));
        let p = spec.params(MonitorMethod::Monitor, "Open_vSwitch", &json!("m"), None);
        assert_eq!(p[2]["Port"], json!({}));
        let rep = parse_monitor_reply(MonitorMethod::MonitorCondSince, &json!([false, U1, {"Bridge":{}}])).unwrap();
        assert!(!rep.found);
    }
}
