//! Groups in the `ovs-ofctl` text dialect: parsing `add-group`/`mod-group`/
//! `del-groups` arguments into a [`GroupMod`] and printing a GROUP_DESC
//! entry as `dump-groups` does (Open vSwitch 3.1, OpenFlow 1.5).
//!
//! Text: `group_id=N,type=all|select|indirect|ff[,selection_method=M
//! [,selection_method_param=P]],bucket=[bucket_id:B,][weight:W,]
//! [watch_port:P,][watch_group:G,]actions=…,bucket=…`. Bucket keywords come
//! before the bucket's actions; everything after the first action is the
//! action list. Bucket ids not given are numbered as Open vSwitch numbers
//! them (the lowest id free of the explicit ids that follow). The fields a
//! `hash` selection hashes (`fields=F` or `fields(F,G=MASK,…)`) travel in
//! the selection-method property as OXM entries whose values are the masks.
//! Not supported: `insert_bucket`/`remove_bucket`.

use super::super::action::Action;
use super::super::group::{
    bucket_prop, command, group_type, Bucket, GroupDesc, GroupMod, BUCKET_ALL, BUCKET_MAX, GROUP_ALL, GROUP_ANY,
    GROUP_MAX,
};
use super::super::oxm::{field_by_name, Match, OxmField, OxmId};
use super::super::port::PortNo;
use super::actions::{parse_actions, Ctx, Item, Outer};
use super::lex::*;
use super::parse::ParseError;
use super::value::port_value;
use std::fmt::Write as _;

/// Experimenter property of a group: Netronome's selection method.
const NTR_VENDOR_ID: u32 = 0x0000_154d;
const NTRT_SELECTION_METHOD: u32 = 1;
const PROP_EXPERIMENTER: u16 = 0xffff;

const TYPE_NAMES: [(&str, u8); 5] = [
    ("all", group_type::ALL),
    ("select", group_type::SELECT),
    ("indirect", group_type::INDIRECT),
    ("ff", group_type::FF),
    ("fast_failover", group_type::FF),
];

/// One bucket as written, before ids are assigned.
struct BucketText {
    bucket_id: u32,
    weight: u16,
    watch_port: PortNo,
    watch_group: u32,
    actions: Vec<Action>,
}

/// Parses a group text for `command` (ADD, MODIFY, ADD_OR_MOD or DELETE).
pub fn group_mod(s: &str, command: u16) -> Result<GroupMod, ParseError> {
    group_mod_inner(s, command).map_err(|e| to_public(s, None, e))
}

/// Parses an `add-groups` file: one group per line (`#` comments, blank
/// lines skipped), each with its 1-based line number.
pub fn group_mods_file(text: &str, command: u16) -> Result<Vec<(usize, GroupMod)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.find('#').map_or(line, |c| &line[..c]);
        if line.trim().is_empty() {
            continue;
        }
        out.push((i + 1, group_mod_inner(line, command).map_err(|e| to_public(line, Some(i + 1), e))?));
    }
    Ok(out)
}

fn group_mod_inner(s: &str, cmd: u16) -> R<GroupMod> {
    let mut gm = GroupMod {
        command: cmd,
        group_type: group_type::ALL,
        group_id: GROUP_ANY,
        command_bucket_id: BUCKET_ALL,
        buckets: Vec::new(),
        properties: Vec::new(),
    };
    let with_type = cmd != command::DELETE;
    if !with_type && s.trim().is_empty() {
        gm.group_id = GROUP_ALL;
        return Ok(gm);
    }
    let (head, buckets) = match s.find("bucket=") {
        Some(i) if with_type => (&s[..i], Some(&s[i..])),
        Some(i) => return fail(at(s, i), "no buckets (a delete names only group_id)"),
        None => (s, None),
    };
    let (had_type, method, param, fields) = group_keywords(head, with_type, &mut gm)?;
    if gm.group_id == GROUP_ANY {
        return fail_found(at(s, s.len()), "group_id=N (a group must name its id)", "end of input");
    }
    if with_type && !had_type {
        return fail_found(at(s, s.len()), "type=all|select|indirect|ff (a group must name its type)", "end of input");
    }
    if let Some((at_, _)) = fields.first().filter(|_| method != Some("hash")) {
        return fail(at_, "fields only with selection_method=hash");
    }
    if let Some(m) = method {
        let fields: Vec<OxmField> = fields.into_iter().map(|(_, f)| f).collect();
        gm.properties.push((PROP_EXPERIMENTER, selection_method_prop(m, param, &fields)));
    } else if param != 0 {
        return fail(head, "selection_method before selection_method_param");
    }
    if let Some(b) = buckets {
        gm.buckets = parse_buckets(b, gm.group_type)?;
    }
    Ok(gm)
}

/// The keywords before the buckets: (type given, selection method, its
/// parameter, the hashed fields with where each was written).
type Keywords<'a> = (bool, Option<&'a str>, u64, Vec<(&'a str, OxmField)>);

fn group_keywords<'a>(head: &'a str, with_type: bool, gm: &mut GroupMod) -> R<Keywords<'a>> {
    let (mut had_type, mut method, mut param, mut fields) = (false, None, 0u64, Vec::new());
    for kv in kvs(head)? {
        match kv.key {
            "group_id" if kv.value == "all" => gm.group_id = GROUP_ALL,
            "group_id" => {
                gm.group_id = num(kv.value, "a group id (0 to 4294967040, or all)")?;
                if gm.group_id > GROUP_MAX {
                    return fail(kv.value, "a group id (0 to 4294967040, or all)");
                }
            }
            "type" if with_type => {
                let Some((_, t)) = TYPE_NAMES.iter().find(|(n, _)| *n == kv.value) else {
                    return fail(kv.value, "a group type (all, select, indirect, ff)");
                };
                gm.group_type = *t;
                had_type = true;
            }
            "selection_method" if with_type => {
                if kv.value.len() >= 16 {
                    return fail(kv.value, "a selection method of at most 15 bytes");
                }
                // Open vSwitch knows `hash` and `dp_hash` and refuses other
                // names; a name of other characters would not print back
                // to the same text.
                if kv.value.is_empty() || !kv.value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
                    return fail(kv.value, "a selection method name (letters, digits, '_' or '-', e.g. hash or dp_hash)");
                }
                method = Some(kv.value);
            }
            "selection_method_param" if with_type => param = num(kv.value, "a 64-bit selection method parameter")?,
            "fields" if with_type => hash_fields(kv.value, &mut fields)?,
            _ => return fail_found(kv.key, "group_id, type, selection_method or bucket=…", kv.key),
        }
    }
    Ok((had_type, method, param, fields))
}

/// `F,G=MASK,…`: each field (once) with the mask its value is hashed
/// under, all ones when none is given. Open vSwitch refuses an all-zero
/// mask (but for tun_metadata) and any other than all ones or zeros for a
/// field that cannot be masked.
fn hash_fields<'a>(s: &'a str, out: &mut Vec<(&'a str, OxmField)>) -> R<()> {
    for kv in kvs(s)? {
        // `in_port` is Open vSwitch's 16-bit one here, as in subfields.
        let d = match kv.key {
            "in_port" => OxmId::new(0, 0).action_def(),
            k => field_by_name(k).or_else(|| super::value::action_only_field(k)).or_else(|| super::value::xxreg(k)),
        };
        let Some(d) = d else {
            return fail_found(kv.key, "a field name", kv.key);
        };
        if out.iter().any(|(_, f)| f.id == d.id) {
            return fail_found(kv.key, "each field once", kv.key);
        }
        let mask = if kv.value.is_empty() {
            vec![0xff; d.len]
        } else {
            let (m, extra) = super::value::field_value(d, kv.value)?;
            if extra.is_some() {
                return fail(kv.value, format!("a mask for {} (one value, no `/`)", d.name));
            }
            let (zeros, ones) = (m.iter().all(|&b| b == 0), m.iter().all(|&b| b == 0xff));
            if zeros && !d.variable_len() {
                return fail(kv.value, format!("a mask for {} that is not all zeros", d.name));
            }
            if !d.maskable && !zeros && !ones {
                return fail(kv.value, format!("all ones ({} cannot be masked)", d.name));
            }
            m
        };
        let value = if d.variable_len() { super::value::var_shortest(&mask, None, false).0 } else { mask };
        out.push((kv.key, OxmField { id: d.id, value, mask: None }));
    }
    Ok(())
}

fn selection_method_prop(method: &str, param: u64, fields: &[OxmField]) -> Vec<u8> {
    let mut b = Vec::with_capacity(36);
    b.extend_from_slice(&NTR_VENDOR_ID.to_be_bytes());
    b.extend_from_slice(&NTRT_SELECTION_METHOD.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    let mut name = [0u8; 16];
    name[..method.len()].copy_from_slice(method.as_bytes());
    b.extend_from_slice(&name);
    b.extend_from_slice(&param.to_be_bytes());
    let mut f = bytes::BytesMut::new();
    for field in fields {
        // A field podflow parsed always encodes.
        let _ = field.encode(&mut f);
    }
    b.extend_from_slice(&f);
    b
}

/// The hashed fields after a selection-method property's fixed part; none
/// when they do not decode.
fn hash_fields_of(body: &[u8]) -> Vec<OxmField> {
    let mut r = crate::wire::Reader::new(body.get(36..).unwrap_or_default());
    let mut out = Vec::new();
    while r.remaining() > 0 {
        match OxmField::decode(&mut r) {
            Ok(f) => out.push(f),
            Err(_) => return Vec::new(),
        }
    }
    out
}

/// `,fields=F` or `,fields(F,G=MASK)`, as `ovs-ofctl` prints them.
fn print_hash_fields(s: &mut String, fields: &[OxmField]) {
    let one = |s: &mut String, f: &OxmField| {
        let def = f.id.action_def();
        s.push_str(def.map_or("?", |d| d.name));
        if !f.value.iter().all(|&b| b == 0xff) || def.is_some_and(|d| d.variable_len() && f.value.len() < d.len) {
            s.push('=');
            super::print::write_field_bytes(s, f.id, &f.value, None);
        }
    };
    match fields {
        [] => {}
        [f] => {
            s.push_str(",fields=");
            one(s, f);
        }
        _ => {
            s.push_str(",fields(");
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                one(s, f);
            }
            s.push(')');
        }
    }
}

/// `(method, param)` of a selection-method property body.
fn selection_method(body: &[u8]) -> Option<(String, u64)> {
    if body.len() < 36 || body[..8] != [0, 0, 0x15, 0x4d, 0, 0, 0, 1] {
        return None;
    }
    let name: Vec<u8> = body[12..28].iter().copied().take_while(|b| *b != 0).collect();
    let param = u64::from_be_bytes(body[28..36].try_into().ok()?);
    Some((String::from_utf8_lossy(&name).into_owned(), param))
}

fn parse_buckets(s: &str, ty: u8) -> R<Vec<Bucket>> {
    let mut texts = Vec::new();
    let mut rest = s;
    while let Some(body) = rest.strip_prefix("bucket=") {
        let end = body.find("bucket=").unwrap_or(body.len());
        let one = body[..end].trim_end_matches([',', ' ', '\t']);
        texts.push(parse_bucket(one, ty)?);
        rest = &body[end..];
    }
    if ty == group_type::INDIRECT && texts.len() > 1 {
        return fail(s, "at most one bucket (an indirect group has one)");
    }
    Ok(assign_ids(texts, ty))
}

fn parse_bucket(s: &str, ty: u8) -> R<BucketText> {
    let mut b = BucketText {
        bucket_id: BUCKET_ALL,
        weight: u16::from(ty == group_type::SELECT),
        watch_port: PortNo::ANY,
        watch_group: GROUP_ANY,
        actions: Vec::new(),
    };
    let mut actions_at = None;
    for kv in kvs(s)? {
        match kv.key {
            "weight" => b.weight = num(kv.value, "a weight (0 to 65535)")?,
            "watch_port" => {
                b.watch_port = port_value(kv.value)?;
                let p = b.watch_port;
                if p.0 >= 0xff00 && p != PortNo::ANY && p != PortNo::CONTROLLER {
                    return fail(kv.value, "a watch_port (a port number or name, CONTROLLER or ANY)");
                }
            }
            "watch_group" => {
                b.watch_group = num(kv.value, "a group id")?;
                if b.watch_group > GROUP_MAX {
                    return fail(kv.value, "a watch_group id (0 to 4294967040)");
                }
            }
            "bucket_id" => {
                b.bucket_id = num(kv.value, "a bucket id (0 to 4294967040)")?;
                if b.bucket_id > BUCKET_MAX {
                    return fail(kv.value, "a bucket id (0 to 4294967040)");
                }
            }
            "action" | "actions" => {
                actions_at = Some(kv.value);
                break;
            }
            _ => {
                actions_at = Some(kv.key);
                break;
            }
        }
    }
    let Some(text) = actions_at else {
        return fail_found(at(s, s.len()), "actions=… (a bucket must specify actions)", "end of bucket");
    };
    let text = &s[addr(text) - addr(s)..];
    b.actions = bucket_actions(text)?;
    if ty == group_type::FF && b.watch_port == PortNo::ANY && b.watch_group == GROUP_ANY {
        return fail(s, "watch_port or watch_group (a fast failover bucket needs one)");
    }
    if ty != group_type::SELECT && b.weight != 0 {
        return fail(s, "no weight (only select groups have bucket weights)");
    }
    Ok(b)
}

fn bucket_actions(text: &str) -> R<Vec<Action>> {
    let m = Match::default();
    let mut ctx = Ctx { m: &m, ethernet: true, table: None, has_vlan: false, dl_type: None };
    let mut out = Vec::new();
    for item in parse_actions(text, &mut ctx, Outer::Top, false)? {
        match item {
            Item::Act(a) => out.push(a),
            _ => return fail(text, "actions only (no instructions in a bucket)"),
        }
    }
    Ok(out)
}

/// Bucket ids as Open vSwitch assigns them: a bucket without one takes the
/// lowest id not used by the explicit ids of the buckets after the first
/// such bucket, nor handed out before.
fn assign_ids(texts: Vec<BucketText>, ty: u8) -> Vec<Bucket> {
    let first_auto = texts.iter().position(|b| b.bucket_id == BUCKET_ALL);
    let mut used: std::collections::BTreeSet<u32> = match first_auto {
        Some(i) => texts[i + 1..].iter().map(|b| b.bucket_id).filter(|id| *id <= BUCKET_MAX).collect(),
        None => Default::default(),
    };
    let mut next = 0u32;
    texts
        .into_iter()
        .map(|b| {
            let bucket_id = if b.bucket_id == BUCKET_ALL {
                while used.contains(&next) {
                    next += 1;
                }
                used.insert(next);
                next
            } else {
                b.bucket_id
            };
            let mut properties = Vec::new();
            if ty == group_type::SELECT || b.weight != 0 {
                let w = b.weight.to_be_bytes();
                properties.push((bucket_prop::WEIGHT, vec![w[0], w[1], 0, 0]));
            }
            if b.watch_port != PortNo::ANY {
                properties.push((bucket_prop::WATCH_PORT, b.watch_port.0.to_be_bytes().to_vec()));
            }
            if b.watch_group != GROUP_ANY {
                properties.push((bucket_prop::WATCH_GROUP, b.watch_group.to_be_bytes().to_vec()));
            }
            Bucket { bucket_id, actions: b.actions, properties }
        })
        .collect()
}

/// A group as `ovs-ofctl dump-groups` prints it (without the leading space).
pub fn group_desc(g: &GroupDesc) -> String {
    let mut s = format!("group_id={}", g.group_id);
    let ty = ["all", "select", "indirect", "ff"].get(usize::from(g.group_type)).copied().unwrap_or("unknown");
    let _ = write!(s, ",type={ty}");
    for (_, body) in g.properties.iter().filter(|(t, _)| *t == PROP_EXPERIMENTER) {
        if let Some((method, param)) = selection_method(body).filter(|(m, _)| !m.is_empty()) {
            let _ = write!(s, ",selection_method={method}");
            if param != 0 {
                let _ = write!(s, ",selection_method_param={param}");
            }
            print_hash_fields(&mut s, &hash_fields_of(body));
        }
    }
    for b in &g.buckets {
        s.push_str(",bucket=");
        bucket(&mut s, b, g.group_type);
    }
    s
}

fn bucket(s: &mut String, b: &Bucket, ty: u8) {
    let _ = write!(s, "bucket_id:{},", b.bucket_id);
    let weight = b.property(bucket_prop::WEIGHT).unwrap_or(0);
    if weight != u32::from(ty == group_type::SELECT) {
        let _ = write!(s, "weight:{weight},");
    }
    if let Some(p) = b.property(bucket_prop::WATCH_PORT).filter(|p| *p != PortNo::ANY.0) {
        let _ = write!(s, "watch_port:{},", super::print::port(PortNo(p)));
    }
    if let Some(g) = b.property(bucket_prop::WATCH_GROUP).filter(|g| *g != GROUP_ANY) {
        let _ = write!(s, "watch_group:{g},");
    }
    let _ = write!(s, "actions={}", super::print::actions(&b.actions));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(gm: &GroupMod) -> String {
        group_desc(&GroupDesc {
            group_type: gm.group_type,
            group_id: gm.group_id,
            buckets: gm.buckets.clone(),
            properties: gm.properties.clone(),
        })
    }

    #[test]
    fn parse_and_print_like_ovs_ofctl() {
        let cases = [
            ("group_id=1,type=all,bucket=output:1,bucket=output:2", "group_id=1,type=all,bucket=bucket_id:0,actions=output:1,bucket=bucket_id:1,actions=output:2"),
            (
                "group_id=2,type=select,selection_method=hash,bucket=bucket_id:5,weight:10,actions=output:1,bucket=weight=20,watch_port=2,actions=set_field:1->reg0,output:3",
                "group_id=2,type=select,selection_method=hash,bucket=bucket_id:5,weight:10,actions=output:1,bucket=bucket_id:0,weight:20,watch_port:2,actions=set_field:0x1->reg0,output:3",
            ),
            (
                "group_id=3,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,watch_group:1,output:2",
                "group_id=3,type=ff,bucket=bucket_id:0,watch_port:1,actions=output:1,bucket=bucket_id:1,watch_port:2,watch_group:1,actions=output:2",
            ),
            ("group_id=4,type=indirect,bucket=output:3", "group_id=4,type=indirect,bucket=bucket_id:0,actions=output:3"),
            ("group_id=5,type=select,bucket=output:1,bucket=bucket_id=0,output:2", "group_id=5,type=select,bucket=bucket_id:1,actions=output:1,bucket=bucket_id:0,actions=output:2"),
            ("group_id=6,type=all", "group_id=6,type=all"),
        ];
        for (text, want) in cases {
            let gm = group_mod(text, command::ADD).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(desc(&gm), want, "{text}");
        }
    }

    #[test]
    fn refusals_name_the_column() {
        for (text, col) in [
            ("type=all,bucket=output:1", 25),
            ("group_id=1,bucket=output:1", 27),
            ("group_id=1,type=all,bucket=weight:2,output:1", 28),
            ("group_id=1,type=ff,bucket=output:1", 27),
            ("group_id=1,type=indirect,bucket=output:1,bucket=output:2", 26),
            ("group_id=1,type=bogus", 17),
            ("group_id=1,type=all,bucket=watch_port:1", 40),
            ("group_id=1,type=all,bucket=output:p9", 35),
        ] {
            let e = group_mod(text, command::ADD).expect_err(text);
            assert_eq!(e.column, col, "{text}: {e}");
        }
        assert_eq!(group_mod("", command::DELETE).unwrap().group_id, GROUP_ALL);
        assert_eq!(group_mod("group_id=7", command::DELETE).unwrap().group_id, 7);
        assert!(group_mod("group_id=7,bucket=output:1", command::DELETE).is_err());
    }
}
