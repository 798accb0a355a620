//! `bundle`, `bundle_load` and `multipath` in both directions, as
//! `ovs-ofctl` reads (its positional, `strtok`-style arguments) and
//! prints them.

use std::fmt::Write as _;

use super::actions::{check_dst, port16, Ctx, Outer};
use super::lex::*;
use super::names::{code_of, name_of, BUNDLE_ALGORITHMS, HASH_FIELDS, MULTIPATH_ALGORITHMS};
use super::print;
use super::value::ofs_nbits_subfield;
use crate::openflow::action::{Action, Bundle, Multipath, Subfield};

/// `strtok`: tokens of a string separated by any of a set of characters
/// (which may change from one token to the next), as slices of it.
struct Tokens<'a>(&'a str);

impl<'a> Tokens<'a> {
    fn next(&mut self, delims: &str) -> Option<&'a str> {
        let s = self.0.trim_start_matches(|c| delims.contains(c));
        if s.is_empty() {
            self.0 = s;
            return None;
        }
        let end = s.find(|c| delims.contains(c)).unwrap_or(s.len());
        self.0 = s.get(end + 1..).unwrap_or("");
        Some(&s[..end])
    }

    /// The next token, or a failure pointing at the end of `all`.
    fn need(&mut self, delims: &str, all: &'a str, what: &str) -> R<&'a str> {
        match self.next(delims) {
            Some(t) => Ok(t),
            None => fail_found(at(all, all.len()), format!("{what} (not enough arguments)"), "nothing"),
        }
    }
}

fn table_code(table: &[(&str, u16)], t: &str, what: &str) -> R<u16> {
    match code_of(table, t) {
        Some(c) => Ok(c),
        None => {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            fail_found(t, format!("{what} ({})", names.join(", ")), t)
        }
    }
}

/// The destination subfield of `bundle_load` and `multipath`.
fn dst_subfield(t: &str, ctx: &Ctx, outer: Outer) -> R<Subfield> {
    let sf = ofs_nbits_subfield(t)?;
    if sf.field.experimenter.is_some() {
        return fail(t, "a field with an NXM header (experimenter fields are not supported here)");
    }
    check_dst(ctx, sf.field.action_def().expect("subfield of a known field"), outer, t)?;
    Ok(sf)
}

/// `bundle(FIELDS,BASIS,ALG,ofport,members:P,…)` and
/// `bundle_load(FIELDS,BASIS,ALG,ofport,DST,members:P,…)`.
pub(super) fn parse_bundle(load: bool, v: &str, ctx: &Ctx, outer: Outer) -> R<Action> {
    let mut t = Tokens(v);
    let fields = table_code(HASH_FIELDS, t.need(", ", v, "hash fields")?, "hash fields")?;
    let basis = num(t.need(", ", v, "a hash basis")?, "a hash basis (0 to 65535)")?;
    let algorithm = table_code(BUNDLE_ALGORITHMS, t.need(", ", v, "an algorithm")?, "a bundle algorithm")?;
    let member_type = t.need(", ", v, "a member type")?;
    if !member_type.eq_ignore_ascii_case("ofport") {
        return fail_found(member_type, "the member type ofport", member_type);
    }
    let dst = if load { Some(dst_subfield(t.need(", ", v, "a destination")?, ctx, outer)?) } else { None };
    let delim = t.need(": ", v, "members:")?;
    if !delim.eq_ignore_ascii_case("members") && !delim.eq_ignore_ascii_case("slaves") {
        return fail_found(delim, "`members:` before the member ports", delim);
    }
    let mut members = Vec::new();
    while let Some(p) = t.next(", []") {
        members.push(port16(p)?);
    }
    Ok(Action::Bundle(Box::new(Bundle { algorithm, fields, basis, dst, members })))
}

/// `multipath(FIELDS,BASIS,ALG,N_LINKS,ARG,DST)`.
pub(super) fn parse_multipath(v: &str, ctx: &Ctx, outer: Outer) -> R<Action> {
    let mut t = Tokens(v);
    let fields = table_code(HASH_FIELDS, t.need(", ", v, "hash fields")?, "hash fields")?;
    let basis = num(t.need(", ", v, "a hash basis")?, "a hash basis (0 to 65535)")?;
    let algorithm = table_code(MULTIPATH_ALGORITHMS, t.need(", ", v, "an algorithm")?, "a multipath algorithm")?;
    let n_text = t.need(", ", v, "a number of links")?;
    let n_links: u32 = num(n_text, "a number of links (1 to 65536)")?;
    if !(1..=65536).contains(&n_links) {
        return fail(n_text, "a number of links from 1 to 65536");
    }
    let arg = num(t.need(", ", v, "an argument")?, "a 32-bit argument")?;
    let dst_text = t.need(", ", v, "a destination")?;
    let dst = dst_subfield(dst_text, ctx, outer)?;
    if dst.n_bits < 16 && n_links > 1 << dst.n_bits {
        return fail(dst_text, format!("a destination with room for {n_links} links"));
    }
    Ok(Action::Multipath(Multipath { fields, basis, algorithm, max_link: (n_links - 1) as u16, arg, dst }))
}

pub(super) fn format_bundle(s: &mut String, b: &Bundle) {
    let name = if b.dst.is_some() { "bundle_load" } else { "bundle" };
    let _ = write!(
        s,
        "{name}({},{},{},ofport,",
        name_of(HASH_FIELDS, b.fields),
        b.basis,
        name_of(BUNDLE_ALGORITHMS, b.algorithm)
    );
    if let Some(d) = &b.dst {
        print::write_subfield(s, d);
        s.push(',');
    }
    s.push_str("members:");
    for (i, p) in b.members.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        print::write_port16(s, *p);
    }
    s.push(')');
}

pub(super) fn format_multipath(s: &mut String, m: &Multipath) {
    let _ = write!(
        s,
        "multipath({},{},{},{},{},",
        name_of(HASH_FIELDS, m.fields),
        m.basis,
        name_of(MULTIPATH_ALGORITHMS, m.algorithm),
        u32::from(m.max_link) + 1,
        m.arg,
    );
    print::write_subfield(s, &m.dst);
    s.push(')');
}
