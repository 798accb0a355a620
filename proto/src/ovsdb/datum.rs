//! OVSDB values (RFC 7047 section 5.1): atoms (integer, real, boolean,
//! string, `["uuid",..]`, `["named-uuid",..]`), sets (including the bare
//! one-element form) and maps, with lossless JSON conversion.
//!
//! Values are untyped here (no schema); it never decides what a column means.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;

use super::OvsdbError;

/// A row UUID in its canonical 36-character text form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uuid(String);

impl Uuid {
    /// Accepts `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex, any case).
    pub fn parse(s: &str) -> Option<Uuid> {
        let b = s.as_bytes();
        let ok = b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            });
        ok.then(|| Uuid(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One scalar OVSDB value.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    /// A row inserted earlier in the same transaction (`uuid-name`).
    NamedUuid(String),
}

impl Atom {
    pub fn string(s: impl Into<String>) -> Atom {
        Atom::String(s.into())
    }

    pub fn to_json(&self) -> Value {
        match self {
            Atom::Integer(i) => json!(i),
            Atom::Real(r) => json!(r),
            Atom::Boolean(b) => json!(b),
            Atom::String(s) => json!(s),
            Atom::Uuid(u) => json!(["uuid", u.as_str()]),
            Atom::NamedUuid(n) => json!(["named-uuid", n]),
        }
    }

    pub fn from_json(v: &Value) -> Result<Atom, OvsdbError> {
        match v {
            Value::Bool(b) => Ok(Atom::Boolean(*b)),
            Value::String(s) => Ok(Atom::String(s.clone())),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Atom::Integer(i))
                } else {
                    n.as_f64().map(Atom::Real).ok_or_else(|| OvsdbError::malformed("atom", format!("number {n} out of range")))
                }
            }
            Value::Array(a) if a.len() == 2 => match (a[0].as_str(), a[1].as_str()) {
                (Some("uuid"), Some(s)) => Uuid::parse(s)
                    .map(Atom::Uuid)
                    .ok_or_else(|| OvsdbError::malformed("atom", format!("{s:?} is not a UUID"))),
                (Some("named-uuid"), Some(s)) => Ok(Atom::NamedUuid(s.to_string())),
                _ => Err(OvsdbError::malformed("atom", format!("{v} is not an atom"))),
            },
            other => Err(OvsdbError::malformed("atom", format!("{other} is not an atom"))),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_uuid(&self) -> Option<&Uuid> {
        match self {
            Atom::Uuid(u) => Some(u),
            _ => None,
        }
    }
}

// Reals decoded from JSON are never NaN, so equality is reflexive.
impl Eq for Atom {}

impl std::hash::Hash for Atom {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Atom::Integer(i) => i.hash(h),
            Atom::Real(r) => r.to_bits().hash(h),
            Atom::Boolean(b) => b.hash(h),
            Atom::String(s) | Atom::NamedUuid(s) => s.hash(h),
            Atom::Uuid(u) => u.hash(h),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Integer(i) => write!(f, "{i}"),
            Atom::Real(r) => write!(f, "{r}"),
            Atom::Boolean(b) => write!(f, "{b}"),
            Atom::String(s) => write!(f, "{s:?}"),
            Atom::Uuid(u) => write!(f, "{u}"),
            Atom::NamedUuid(n) => write!(f, "{n}"),
        }
    }
}

impl From<&str> for Atom {
    fn from(s: &str) -> Atom {
        Atom::String(s.to_string())
    }
}
impl From<String> for Atom {
    fn from(s: String) -> Atom {
        Atom::String(s)
    }
}
impl From<i64> for Atom {
    fn from(i: i64) -> Atom {
        Atom::Integer(i)
    }
}
impl From<bool> for Atom {
    fn from(b: bool) -> Atom {
        Atom::Boolean(b)
    }
}
impl From<Uuid> for Atom {
    fn from(u: Uuid) -> Atom {
        Atom::Uuid(u)
    }
}

/// A column value: a set of atoms (a scalar is a one-element set) or a map.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    Set(Vec<Atom>),
    Map(Vec<(Atom, Atom)>),
}

impl Default for Datum {
    fn default() -> Datum {
        Datum::Set(vec![])
    }
}

impl Datum {
    /// A one-element set (how a scalar column's value is written).
    pub fn atom(a: impl Into<Atom>) -> Datum {
        Datum::Set(vec![a.into()])
    }

    pub fn set(atoms: impl IntoIterator<Item = Atom>) -> Datum {
        Datum::Set(atoms.into_iter().collect())
    }

    pub fn empty_set() -> Datum {
        Datum::Set(vec![])
    }

    pub fn map<K: Into<Atom>, V: Into<Atom>>(pairs: impl IntoIterator<Item = (K, V)>) -> Datum {
        Datum::Map(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }

    /// JSON form; a one-element set is written as the bare atom.
    pub fn to_json(&self) -> Value {
        match self {
            Datum::Set(a) if a.len() == 1 => a[0].to_json(),
            Datum::Set(a) => json!(["set", a.iter().map(Atom::to_json).collect::<Vec<_>>()]),
            Datum::Map(m) => json!(["map", m.iter().map(|(k, v)| json!([k.to_json(), v.to_json()])).collect::<Vec<_>>()]),
        }
    }

    pub fn from_json(v: &Value) -> Result<Datum, OvsdbError> {
        if let Value::Array(a) = v {
            if a.len() == 2 {
                match a[0].as_str() {
                    Some("set") => {
                        let items = a[1].as_array().ok_or_else(|| OvsdbError::malformed("set", "elements are not an array"))?;
                        return items.iter().map(Atom::from_json).collect::<Result<_, _>>().map(Datum::Set);
                    }
                    Some("map") => {
                        let items = a[1].as_array().ok_or_else(|| OvsdbError::malformed("map", "pairs are not an array"))?;
                        let mut pairs = Vec::with_capacity(items.len());
                        for p in items {
                            match p.as_array().map(Vec::as_slice) {
                                Some([k, v]) => pairs.push((Atom::from_json(k)?, Atom::from_json(v)?)),
                                _ => return Err(OvsdbError::malformed("map", format!("{p} is not a [key, value] pair"))),
                            }
                        }
                        return Ok(Datum::Map(pairs));
                    }
                    _ => {}
                }
            }
        }
        Atom::from_json(v).map(|a| Datum::Set(vec![a]))
    }

    /// The atoms of a set (empty for a map).
    pub fn atoms(&self) -> &[Atom] {
        match self {
            Datum::Set(a) => a,
            Datum::Map(_) => &[],
        }
    }

    /// The single atom of a one-element set.
    pub fn as_atom(&self) -> Option<&Atom> {
        match self.atoms() {
            [a] => Some(a),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_i64)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.as_atom() {
            Some(Atom::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    pub fn uuids(&self) -> impl Iterator<Item = &Uuid> {
        self.atoms().iter().filter_map(Atom::as_uuid)
    }

    pub fn pairs(&self) -> &[(Atom, Atom)] {
        match self {
            Datum::Map(m) => m,
            Datum::Set(_) => &[],
        }
    }

    /// A string→string map as a `BTreeMap` (other pairs are skipped).
    pub fn string_map(&self) -> BTreeMap<String, String> {
        self.pairs()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
            .collect()
    }

    /// Value of `key` in a map with string keys.
    pub fn get(&self, key: &str) -> Option<&Atom> {
        self.pairs().iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Datum::Set(a) => a.is_empty(),
            Datum::Map(m) => m.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_sets_maps_round_trip() {
        let u = "550e8400-e29b-41d4-a716-446655440000";
        let cases = [
            json!(5),
            json!(-1.5),
            json!(true),
            json!("q\"uo\\te {é}"),
            json!(["uuid", u]),
            json!(["named-uuid", "row1"]),
            json!(["set", []]),
            json!(["set", [1, 2]]),
            json!(["map", [["a", "b"], ["c", ["uuid", u]]]]),
        ];
        for c in cases {
            assert_eq!(Datum::from_json(&c).unwrap().to_json(), c);
        }
        // A one-element set may be written either way; both read the same.
        assert_eq!(Datum::from_json(&json!(["set", ["x"]])).unwrap(), Datum::from_json(&json!("x")).unwrap());
        assert_eq!(Datum::from_json(&json!(["set", ["x"]])).unwrap().to_json(), json!("x"));
    }

    #[test]
    fn bad_values_are_errors() {
        for bad in [json!(null), json!({}), json!(["uuid", "nope"]), json!(["map", [["a"]]]), json!(["set", 3]), json!([1, 2, 3])] {
            assert!(Datum::from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn map_helpers() {
        let d = Datum::map([("flow-restore-wait", "true"), ("k", "v")]);
        assert_eq!(d.get("k"), Some(&Atom::string("v")));
        assert_eq!(d.string_map().len(), 2);
    }
}
