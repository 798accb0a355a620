//! Port names in the flow text: the bridge's name ↔ number map (built from
//! its port descriptions, as `ovs-ofctl` builds it), name quoting, and the
//! scope in which the parser resolves names and the printer shows them.
//!
//! Rules (Open vSwitch 3.1): a name that two ports share resolves to
//! nothing and a number two names share prints as a number; reserved names
//! (`LOCAL`, `IN_PORT`, …) win over port names; a name may be written in
//! double quotes with JSON escapes; names that are not a letter followed by
//! letters and digits print quoted.
//!
//! The map is *scoped*, not threaded through every leaf function: the ~30
//! places that parse or print a port read it from [`with_port_map`]'s
//! scope, which restores the previous one when it ends (also on panic).
//! Outside any scope, names are refused and numbers print as numbers.
//! Never does I/O: the caller fetches the port descriptions.

use super::super::port::PortNo;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// Port names of one bridge, both ways.
#[derive(Debug, Clone, Default)]
pub struct PortMap {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Name → number; `None` when several ports share the name.
    by_name: HashMap<String, Option<PortNo>>,
    /// Number → name; `None` when several names share the number.
    by_number: HashMap<u32, Option<String>>,
}

impl PortMap {
    /// The map of `ports` (number, name), e.g. from a PORT_DESC reply.
    pub fn new<'a>(ports: impl IntoIterator<Item = (PortNo, &'a str)>) -> PortMap {
        let mut inner = Inner::default();
        for (no, name) in ports {
            inner
                .by_name
                .entry(name.to_string())
                .and_modify(|v| {
                    if *v != Some(no) {
                        *v = None;
                    }
                })
                .or_insert(Some(no));
            inner
                .by_number
                .entry(no.0)
                .and_modify(|v| {
                    if v.as_deref() != Some(name) {
                        *v = None;
                    }
                })
                .or_insert_with(|| Some(name.to_string()));
        }
        PortMap { inner: Arc::new(inner) }
    }

    /// The port named `name` (unquoted), unless the name is ambiguous.
    pub fn number(&self, name: &str) -> Option<PortNo> {
        self.inner.by_name.get(name).copied().flatten()
    }

    /// The name of port `no`, unless it is ambiguous.
    pub fn name(&self, no: PortNo) -> Option<&str> {
        self.inner.by_number.get(&no.0).and_then(|n| n.as_deref())
    }

    pub fn is_empty(&self) -> bool {
        self.inner.by_name.is_empty()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Parse,
    Print,
}

thread_local! {
    static SCOPE: RefCell<Vec<(PortMap, Use)>> = const { RefCell::new(Vec::new()) };
}

struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        SCOPE.with(|s| {
            s.borrow_mut().pop();
        });
    }
}

fn scoped<T>(map: &PortMap, how: Use, f: impl FnOnce() -> T) -> T {
    SCOPE.with(|s| s.borrow_mut().push((map.clone(), how)));
    let _restore = Restore;
    f()
}

/// Runs `f` (a parse) with `map` resolving port names: `in_port=veth1`,
/// `output:p1`, `resubmit(p2,3)`, `out_port=p1`, … as `ovs-ofctl` does.
pub fn with_port_map<T>(map: &PortMap, f: impl FnOnce() -> T) -> T {
    scoped(map, Use::Parse, f)
}

/// Runs `f` (printing) with ports shown by name where `map` has one, as
/// `ovs-ofctl --names` does.
pub fn with_port_names<T>(map: &PortMap, f: impl FnOnce() -> T) -> T {
    scoped(map, Use::Print, f)
}

fn current<T>(how: Use, f: impl FnOnce(&PortMap) -> Option<T>) -> Option<T> {
    SCOPE.with(|s| match s.borrow().last() {
        Some((m, u)) if *u == how => f(m),
        _ => None,
    })
}

/// The number of port `text` (a name, maybe quoted) in the parse scope.
pub(super) fn resolve(text: &str) -> Option<PortNo> {
    let name = match text.strip_prefix('"') {
        Some(q) => unescape(q.strip_suffix('"')?)?,
        None => text.to_string(),
    };
    current(Use::Parse, |m| m.number(&name))
}

/// Whether a parse scope is active (for error messages).
pub(super) fn resolving() -> bool {
    current(Use::Parse, |_| Some(())).is_some()
}

/// The printed name of port `no` in the print scope (quoted if needed).
pub(super) fn shown(no: PortNo) -> Option<String> {
    current(Use::Print, |m| m.name(no).map(quote))
}

/// A name as `ovs-ofctl` prints it: bare when it is a letter followed by
/// letters and digits, otherwise a JSON string.
pub fn quote(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric());
    if plain {
        return name.to_string();
    }
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The inside of a JSON string (without its quotes).
fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            if c == '"' {
                return None;
            }
            out.push(c);
            continue;
        }
        out.push(match it.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hex: String = it.by_ref().take(4).collect();
                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
            }
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_resolve_to_nothing() {
        let m = PortMap::new([(PortNo(1), "a"), (PortNo(2), "b"), (PortNo(3), "b"), (PortNo(4), "c"), (PortNo(4), "d")]);
        assert_eq!(m.number("a"), Some(PortNo(1)));
        assert_eq!(m.number("b"), None);
        assert_eq!(m.name(PortNo(2)), Some("b"));
        assert_eq!(m.name(PortNo(4)), None);
        assert_eq!(m.number("x"), None);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("veth1"), "veth1");
        assert_eq!(quote("pod-a"), "\"pod-a\"");
        assert_eq!(quote("1p"), "\"1p\"");
        assert_eq!(quote("a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(unescape("pod-a"), Some("pod-a".into()));
        assert_eq!(unescape("a\\\"b\\u0041"), Some("a\"bA".into()));
        assert_eq!(unescape("a\"b"), None);
    }

    #[test]
    fn scopes_nest_and_end() {
        let m = PortMap::new([(PortNo(7), "veth1"), (PortNo(8), "pod-a")]);
        assert_eq!(resolve("veth1"), None);
        with_port_map(&m, || {
            assert_eq!(resolve("veth1"), Some(PortNo(7)));
            assert_eq!(resolve("\"pod-a\""), Some(PortNo(8)));
            assert_eq!(shown(PortNo(7)), None, "a parse scope does not print names");
            with_port_names(&m, || assert_eq!(shown(PortNo(8)).as_deref(), Some("\"pod-a\"")));
            assert_eq!(resolve("veth1"), Some(PortNo(7)));
        });
        assert_eq!(resolve("veth1"), None);
        let r = std::panic::catch_unwind(|| with_port_map(&m, || panic!("x")));
        assert!(r.is_err());
        assert_eq!(resolve("veth1"), None, "the scope ends on panic too");
    }
}
