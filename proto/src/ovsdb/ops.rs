//! `transact` operations (RFC 7047 section 5.2) as typed builders, and the
//! interpretation of a `transact` result.
//!
//! It owns the JSON shape of operations; it never decides which operations
//! make up a transaction (callers do) and never sends anything.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

use super::datum::{Atom, Datum, Uuid};
use super::jsonrpc::RpcError;
use super::OvsdbError;

/// A row to write: column name → value.
pub type RowData = BTreeMap<String, Datum>;

/// `[column, function, value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub function: &'static str,
    pub value: Datum,
}

impl Condition {
    pub fn eq(column: &str, value: impl Into<Datum>) -> Condition {
        Condition { column: column.into(), function: "==", value: value.into() }
    }
    pub fn ne(column: &str, value: impl Into<Datum>) -> Condition {
        Condition { column: column.into(), function: "!=", value: value.into() }
    }
    pub fn includes(column: &str, value: impl Into<Datum>) -> Condition {
        Condition { column: column.into(), function: "includes", value: value.into() }
    }
    pub fn excludes(column: &str, value: impl Into<Datum>) -> Condition {
        Condition { column: column.into(), function: "excludes", value: value.into() }
    }
    /// Matches the row with this UUID.
    pub fn uuid(u: &Uuid) -> Condition {
        Condition::eq("_uuid", Datum::atom(u.clone()))
    }
    pub fn to_json(&self) -> Value {
        json!([self.column, self.function, self.value.to_json()])
    }
}

impl From<Atom> for Datum {
    fn from(a: Atom) -> Datum {
        Datum::Set(vec![a])
    }
}
impl From<&str> for Datum {
    fn from(s: &str) -> Datum {
        Datum::atom(s)
    }
}
impl From<i64> for Datum {
    fn from(i: i64) -> Datum {
        Datum::atom(i)
    }
}

/// `[column, mutator, value]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub column: String,
    pub mutator: &'static str,
    pub value: Datum,
}

impl Mutation {
    /// Adds elements to a set, or key/value pairs to a map (keys already
    /// present keep their old value).
    pub fn insert(column: &str, value: Datum) -> Mutation {
        Mutation { column: column.into(), mutator: "insert", value }
    }
    /// Removes elements from a set; for a map, `value` may be a set of keys
    /// or a map of exact pairs.
    pub fn delete(column: &str, value: Datum) -> Mutation {
        Mutation { column: column.into(), mutator: "delete", value }
    }
    /// Arithmetic mutators: `+=`, `-=`, `*=`, `/=`, `%=`.
    pub fn arith(column: &str, mutator: &'static str, by: i64) -> Mutation {
        Mutation { column: column.into(), mutator, value: Datum::atom(by) }
    }
    pub fn to_json(&self) -> Value {
        json!([self.column, self.mutator, self.value.to_json()])
    }
}

/// One operation of a `transact` request.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Insert { table: String, row: RowData, uuid_name: Option<String> },
    Select { table: String, conditions: Vec<Condition>, columns: Option<Vec<String>> },
    Update { table: String, conditions: Vec<Condition>, row: RowData },
    Mutate { table: String, conditions: Vec<Condition>, mutations: Vec<Mutation> },
    Delete { table: String, conditions: Vec<Condition> },
    Wait {
        table: String,
        conditions: Vec<Condition>,
        columns: Vec<String>,
        /// `true` for `"=="`, `false` for `"!="`.
        until_equal: bool,
        rows: Vec<RowData>,
        timeout_ms: Option<u64>,
    },
    Commit { durable: bool },
    Abort,
    Comment(String),
    Assert { lock: String },
}

fn row_json(row: &RowData) -> Value {
    Value::Object(row.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<Map<_, _>>())
}

fn conds_json(c: &[Condition]) -> Value {
    Value::Array(c.iter().map(Condition::to_json).collect())
}

impl Operation {
    pub fn insert(table: &str, row: RowData) -> Operation {
        Operation::Insert { table: table.into(), row, uuid_name: None }
    }
    /// Names the inserted row so later operations can refer to it with
    /// `Atom::NamedUuid`.
    pub fn with_uuid_name(mut self, name: &str) -> Operation {
        if let Operation::Insert { uuid_name, .. } = &mut self {
            *uuid_name = Some(name.into());
        }
        self
    }
    pub fn select(table: &str, conditions: Vec<Condition>) -> Operation {
        Operation::Select { table: table.into(), conditions, columns: None }
    }
    /// Restricts a `select` to these columns.
    pub fn with_columns(mut self, cols: &[&str]) -> Operation {
        if let Operation::Select { columns, .. } = &mut self {
            *columns = Some(cols.iter().map(|c| c.to_string()).collect());
        }
        self
    }
    pub fn update(table: &str, conditions: Vec<Condition>, row: RowData) -> Operation {
        Operation::Update { table: table.into(), conditions, row }
    }
    pub fn mutate(table: &str, conditions: Vec<Condition>, mutations: Vec<Mutation>) -> Operation {
        Operation::Mutate { table: table.into(), conditions, mutations }
    }
    pub fn delete(table: &str, conditions: Vec<Condition>) -> Operation {
        Operation::Delete { table: table.into(), conditions }
    }
    /// Fails the transaction unless the rows matching `conditions`,
    /// projected on `columns`, equal (`until_equal`) or differ from `rows`.
    /// `timeout_ms: Some(0)` fails at once instead of blocking.
    pub fn wait(
        table: &str,
        conditions: Vec<Condition>,
        columns: &[&str],
        until_equal: bool,
        rows: Vec<RowData>,
        timeout_ms: Option<u64>,
    ) -> Operation {
        Operation::Wait {
            table: table.into(),
            conditions,
            columns: columns.iter().map(|c| c.to_string()).collect(),
            until_equal,
            rows,
            timeout_ms,
        }
    }
    pub fn commit(durable: bool) -> Operation {
        Operation::Commit { durable }
    }
    pub fn abort() -> Operation {
        Operation::Abort
    }
    pub fn comment(text: &str) -> Operation {
        Operation::Comment(text.into())
    }
    pub fn assert_lock(lock: &str) -> Operation {
        Operation::Assert { lock: lock.into() }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Operation::Insert { table, row, uuid_name } => {
                let mut v = json!({"op": "insert", "table": table, "row": row_json(row)});
                if let Some(n) = uuid_name {
                    v["uuid-name"] = json!(n);
                }
                v
            }
            Operation::Select { table, conditions, columns } => {
                let mut v = json!({"op": "select", "table": table, "where": conds_json(conditions)});
                if let Some(c) = columns {
                    v["columns"] = json!(c);
                }
                v
            }
            Operation::Update { table, conditions, row } => {
                json!({"op": "update", "table": table, "where": conds_json(conditions), "row": row_json(row)})
            }
            Operation::Mutate { table, conditions, mutations } => json!({
                "op": "mutate", "table": table, "where": conds_json(conditions),
                "mutations": mutations.iter().map(Mutation::to_json).collect::<Vec<_>>()
            }),
            Operation::Delete { table, conditions } => json!({"op": "delete", "table": table, "where": conds_json(conditions)}),
            Operation::Wait { table, conditions, columns, until_equal, rows, timeout_ms } => {
                let mut v = json!({
                    "op": "wait", "table": table, "where": conds_json(conditions), "columns": columns,
                    "until": if *until_equal { "==" } else { "!=" },
                    "rows": rows.iter().map(row_json).collect::<Vec<_>>()
                });
                if let Some(t) = timeout_ms {
                    v["timeout"] = json!(t);
                }
                v
            }
            Operation::Commit { durable } => json!({"op": "commit", "durable": durable}),
            Operation::Abort => json!({"op": "abort"}),
            Operation::Comment(c) => json!({"op": "comment", "comment": c}),
            Operation::Assert { lock } => json!({"op": "assert", "lock": lock}),
        }
    }
}

/// `transact` params: `[db, op, op, ...]`.
pub fn transact_params(db: &str, ops: &[Operation]) -> Value {
    let mut v = vec![json!(db)];
    v.extend(ops.iter().map(Operation::to_json));
    Value::Array(v)
}

/// The result of one successful operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpResult {
    /// `insert`: the new row's UUID.
    pub uuid: Option<Uuid>,
    /// `update`, `mutate`, `delete`: rows matched.
    pub count: Option<u64>,
    /// `select`: the rows.
    pub rows: Vec<BTreeMap<String, Datum>>,
}

/// Why a transaction was not committed (the server answered).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TransactError {
    /// Operation `index` failed; nothing was committed.
    #[error("OVSDB refused operation {index} ({op}): {error}")]
    OpFailed { index: usize, op: String, error: RpcError },
    /// All operations succeeded but the commit failed (e.g. a constraint).
    #[error("OVSDB refused to commit the transaction: {0}")]
    CommitFailed(RpcError),
}

/// Interprets a `transact` result for `ops`: either one result per
/// operation, or the first error. Malformed results are a peer error.
pub fn parse_transact_result(ops: &[Operation], result: &Value) -> Result<Result<Vec<OpResult>, TransactError>, OvsdbError> {
    let items = result.as_array().ok_or_else(|| OvsdbError::malformed("transact result", "not an array"))?;
    for (i, item) in items.iter().enumerate() {
        if let Some(e) = item.get("error").filter(|e| !e.is_null()) {
            let err = RpcError::from_json(&json!({"error": e, "details": item.get("details")}));
            return Ok(Err(match ops.get(i) {
                Some(op) => TransactError::OpFailed { index: i, op: op_name(op).into(), error: err },
                None => TransactError::CommitFailed(err),
            }));
        }
    }
    if items.len() < ops.len() {
        return Err(OvsdbError::malformed("transact result", format!("{} results for {} operations", items.len(), ops.len())));
    }
    let mut out = Vec::with_capacity(ops.len());
    for item in &items[..ops.len()] {
        let mut r = OpResult::default();
        if let Some(u) = item.get("uuid") {
            match Atom::from_json(u)? {
                Atom::Uuid(u) => r.uuid = Some(u),
                other => return Err(OvsdbError::malformed("transact result", format!("uuid {other} is not a UUID"))),
            }
        }
        r.count = item.get("count").and_then(Value::as_u64);
        if let Some(rows) = item.get("rows") {
            let rows = rows.as_array().ok_or_else(|| OvsdbError::malformed("select result", "rows is not an array"))?;
            for row in rows {
                r.rows.push(parse_row(row)?);
            }
        }
        out.push(r);
    }
    Ok(Ok(out))
}

/// A JSON object of column → datum.
pub fn parse_row(v: &Value) -> Result<BTreeMap<String, Datum>, OvsdbError> {
    let o = v.as_object().ok_or_else(|| OvsdbError::malformed("row", format!("{v} is not an object")))?;
    o.iter().map(|(k, v)| Ok((k.clone(), Datum::from_json(v)?))).collect()
}

fn op_name(op: &Operation) -> &'static str {
    match op {
        Operation::Insert { .. } => "insert",
        Operation::Select { .. } => "select",
        Operation::Update { .. } => "update",
        Operation::Mutate { .. } => "mutate",
        Operation::Delete { .. } => "delete",
        Operation::Wait { .. } => "wait",
        Operation::Commit { .. } => "commit",
        Operation::Abort => "abort",
        Operation::Comment(_) => "comment",
        Operation::Assert { .. } => "assert",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_rfc_shape() {
        let row: RowData = [("name".to_string(), Datum::atom("br0"))].into();
        let ops = vec![
            Operation::insert("Bridge", row.clone()).with_uuid_name("b"),
            Operation::select("Bridge", vec![Condition::eq("name", "br0")]).with_columns(&["name"]),
            Operation::update("Bridge", vec![], row.clone()),
            Operation::mutate("Open_vSwitch", vec![], vec![Mutation::arith("next_cfg", "+=", 1),
                Mutation::delete("other_config", Datum::set([Atom::string("k")]))]),
            Operation::delete("Port", vec![Condition::includes("tag", 5)]),
            Operation::wait("Bridge", vec![Condition::eq("name", "br0")], &["name"], true, vec![], Some(0)),
            Operation::commit(false),
            Operation::abort(),
            Operation::comment("podflow"),
            Operation::assert_lock("l"),
        ];
        let v = transact_params("Open_vSwitch", &ops);
        assert_eq!(v[0], json!("Open_vSwitch"));
        assert_eq!(v[1], json!({"op":"insert","table":"Bridge","row":{"name":"br0"},"uuid-name":"b"}));
        assert_eq!(v[2], json!({"op":"select","table":"Bridge","where":[["name","==","br0"]],"columns":["name"]}));
        assert_eq!(v[4]["mutations"], json!([["next_cfg","+=",1],["other_config","delete","k"]]));
        assert_eq!(v[6], json!({"op":"wait","table":"Bridge","where":[["name","==","br0"]],"columns":["name"],"until":"==","rows":[],"timeout":0}));
        assert_eq!(v[7], json!({"op":"commit","durable":false}));
        assert_eq!(v[10], json!({"op":"assert","lock":"l"}));
    }

    #[test]
    fn results_and_errors() {
        let ops = vec![Operation::insert("Bridge", RowData::new()), Operation::select("Bridge", vec![])];
        let ok = json!([{"uuid":["uuid","550e8400-e29b-41d4-a716-446655440000"]},{"rows":[{"name":"br0"}]}]);
        let r = parse_transact_result(&ops, &ok).unwrap().unwrap();
        assert!(r[0].uuid.is_some());
        assert_eq!(r[1].rows[0]["name"].as_str(), Some("br0"));
        let failed = json!([{"error":"constraint violation","details":"dup"}, null]);
        let e = parse_transact_result(&ops, &failed).unwrap().unwrap_err();
        assert!(e.to_string().contains("operation 0 (insert): constraint violation: dup"), "{e}");
        let commit = json!([{}, {"rows":[]}, {"error":"referential integrity violation"}]);
        assert!(matches!(parse_transact_result(&ops, &commit).unwrap(), Err(TransactError::CommitFailed(_))));
        assert!(parse_transact_result(&ops, &json!({})).is_err());
        assert!(parse_transact_result(&ops, &json!([{}])).is_err());
    }
}
