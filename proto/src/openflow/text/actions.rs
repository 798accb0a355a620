//! The action and instruction part of a flow: the dispatch by keyword,
//! the checks that depend on the match (prerequisites, VLAN presence),
//! and instruction ordering. Connection tracking lives in [`super::ct`].

use super::super::action::{Action, Controller, CONTROLLER_MAX_LEN_NO_BUFFER, RESUBMIT_IN_PORT};
use super::super::flow::TABLE_ALL;
use super::super::instruction::Instruction;
use super::super::oxm::{field_by_name, fields, FieldDef, Match, OxmField, OxmId, OFPVID_PRESENT};
use super::super::port::PortNo;
use super::ct::*;
use super::ext_actions::ext_action;
use super::lex::*;
use super::matching::*;
use super::value::*;
use nom::character::complete::char as nchar;
use nom::combinator::all_consuming;
use nom::sequence::{preceded, separated_pair, tuple};
use nom::IResult;

/// Instruction ranks, in the order OpenFlow 1.1+ requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Inst {
    Meter,
    Apply,
    Clear,
    Write,
    Metadata,
    Goto,
}

impl Inst {
    pub(super) fn name(self) -> &'static str {
        match self {
            Inst::Meter => "meter",
            Inst::Apply => "apply_actions",
            Inst::Clear => "clear_actions",
            Inst::Write => "write_actions",
            Inst::Metadata => "write_metadata",
            Inst::Goto => "goto_table",
        }
    }
}

pub(super) enum Item {
    Act(Action),
    Clear,
    Write(Vec<Action>),
    Metadata(u64, u64),
    Goto(u8),
}

impl Item {
    pub(super) fn inst(&self) -> Inst {
        match self {
            Item::Act(Action::Meter(_)) => Inst::Meter,
            Item::Act(_) => Inst::Apply,
            Item::Clear => Inst::Clear,
            Item::Write(_) => Inst::Write,
            Item::Metadata(..) => Inst::Metadata,
            Item::Goto(_) => Inst::Goto,
        }
    }

    /// The action, for lists that hold only actions (instructions are
    /// refused there before this is called).
    pub(super) fn into_action(self) -> Option<Action> {
        match self {
            Item::Act(a) => Some(a),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Outer {
    Top,
    WriteActions,
    Ct,
}

pub(super) struct Ctx<'m> {
    pub(super) m: &'m Match,
    /// The packets have an Ethernet header (packet_type unset or (0,0)).
    pub(super) ethernet: bool,
    /// The flow's table, when given (goto_table must go forward).
    pub(super) table: Option<u8>,
    /// A VLAN header is known to be present (matched, or pushed earlier).
    pub(super) has_vlan: bool,
    /// The packet's Ethertype as the actions so far leave it (the match's,
    /// until `push_mpls`/`pop_mpls`).
    pub(super) dl_type: Option<u16>,
}

impl Ctx<'_> {
    pub(super) fn eth(&self) -> Option<u16> {
        self.dl_type
    }
    pub(super) fn proto(&self) -> Option<u8> {
        self.m.exact(fields::IP_PROTO).map(|v| v as u8)
    }
    pub(super) fn is_ip(&self) -> bool {
        matches!(self.eth(), Some(0x0800) | Some(0x86dd))
    }

    /// ct_state value and mask bits from the match (OVS keeps the value
    /// already masked).
    pub(super) fn ct_state(&self) -> (u32, u32) {
        match self.m.get(fields::CT_STATE) {
            Some(f) => (f.value_u128() as u32, f.mask_u128().map_or(u32::MAX, |m| m as u32)),
            None => (0, 0),
        }
    }

    /// OVS's test that the match implies a valid conntrack entry (needed by
    /// `resubmit(,T,ct)`).
    pub(super) fn ct_valid(&self) -> bool {
        let (v, m) = self.ct_state();
        v & (0x01 | 0x02 | 0x04 | 0x08 | 0x40 | 0x80) != 0 || (v & 0x20 != 0 && m & 0x10 != 0 && v & 0x10 == 0)
    }

    /// Whether the flow's match satisfies `d`'s prerequisites (as OVS
    /// checks actions that read or write `d`).
    pub(super) fn prereq_ok(&self, d: &FieldDef) -> bool {
        if d.id == fields::VLAN_PCP || d.id == fields::VLAN_VID {
            return self.has_vlan;
        }
        let mut m = self.m.clone();
        if self.dl_type != m.exact(fields::ETH_TYPE).map(|v| v as u16) {
            m.fields.retain(|f| f.id != fields::ETH_TYPE);
            if let Some(e) = self.dl_type {
                m.fields.insert(0, OxmField::new(fields::ETH_TYPE, e.to_be_bytes()));
            }
        }
        if m.get(d.id).is_none() {
            m.fields.push(OxmField::new(d.id, vec![0; d.len]));
        }
        match m.check_prerequisites() {
            Ok(()) => true,
            Err((name, _)) => name != d.name,
        }
    }
}

pub(super) fn is_ct_field(id: OxmId) -> bool {
    id == fields::CT_MARK || id == fields::CT_LABEL
}

pub(super) fn writable(id: OxmId) -> bool {
    use fields::*;
    const READ_ONLY: &[OxmId] = &[
        ETH_TYPE, IP_PROTO, IP_FRAG, TCP_FLAGS, PACKET_TYPE, CONJ_ID, CT_STATE, CT_ZONE, MPLS_BOS, ACTSET_OUTPUT,
        CT_NW_PROTO, CT_NW_SRC, CT_NW_DST, CT_IPV6_SRC, CT_IPV6_DST, CT_TP_SRC, CT_TP_DST,
    ];
    // Also read-only: the NSH header's MD type and next protocol, and the
    // GTP-U metadata (Open vSwitch's meta-flow "Access: read-only").
    let read_only_names = ["nsh_mdtype", "nsh_np", "tun_gtpu_flags", "tun_gtpu_msgtype"];
    !READ_ONLY.contains(&id) && !id.def().is_some_and(|d| read_only_names.contains(&d.name))
}

/// Checks a field an action writes: writable, allowed in this context,
/// prerequisites met by the match.
pub(super) fn check_dst(ctx: &Ctx, d: &FieldDef, outer: Outer, at_: &str) -> R<()> {
    let d = tos_as_dscp(d);
    if !writable(d.id) {
        return fail_found(at_, "a writable field", format!("{} (read-only)", d.name));
    }
    if is_ct_field(d.id) && outer != Outer::Ct {
        return fail_found(at_, format!("{} to be set only inside ct(exec(...))", d.name), d.name);
    }
    if outer == Outer::Ct && !is_ct_field(d.id) {
        return fail_found(at_, "only ct_mark or ct_label to be set inside ct(exec(...))", d.name);
    }
    if !ctx.ethernet && [fields::ETH_SRC, fields::ETH_DST, fields::VLAN_VID, fields::VLAN_PCP].contains(&d.id) {
        return fail_found(at_, format!("packet_type=(0,0) (Ethernet) to write {}", d.name), d.name);
    }
    if !ctx.prereq_ok(d) {
        let what = if d.id == fields::VLAN_VID || d.id == fields::VLAN_PCP {
            "a VLAN header (match on one, or push_vlan first)".to_string()
        } else {
            d.prereq.describe().to_string()
        };
        return fail_found(at_, format!("{what} in the match before writing {}", d.name), d.name);
    }
    Ok(())
}

/// `nw_tos` (NXM_OF_IP_TOS, no match field of podflow's) has ip_dscp's
/// prerequisites: an IP packet.
fn tos_as_dscp(d: &FieldDef) -> &FieldDef {
    if d.id == NXM_OF_IP_TOS {
        field_by_name("ip_dscp").expect("ip_dscp")
    } else {
        d
    }
}

/// A `move` destination: as [`check_dst`], except that `vlan_vid` needs
/// no VLAN header (Open vSwitch checks only its prerequisites there).
fn check_move_dst(ctx: &Ctx, d: &FieldDef, outer: Outer, at_: &str) -> R<()> {
    if d.id == fields::VLAN_VID && ctx.ethernet && outer != Outer::Ct {
        return Ok(());
    }
    check_dst(ctx, d, outer, at_)
}

/// A field an action reads: its prerequisites met by the match
/// (`vlan_vid` only needs Ethernet).
pub(super) fn check_src(ctx: &Ctx, d: &FieldDef, at_: &str) -> R<()> {
    let d = tos_as_dscp(d);
    let ok = if d.id == fields::VLAN_VID { ctx.ethernet } else { ctx.prereq_ok(d) };
    if !ok {
        return fail_found(at_, format!("{} in the match before reading {}", d.prereq.describe(), d.name), d.name);
    }
    Ok(())
}

/// `NXM_OF_IN_PORT`: Open vSwitch writes `in_port` through this 16-bit
/// field (OpenFlow 1.0 port numbering), even in OpenFlow 1.5.
pub(super) const NXM_OF_IN_PORT: OxmId = OxmId::new(0, 0);

pub(super) fn set_field_action(d: &FieldDef, value: Vec<u8>, mask: Option<Vec<u8>>) -> Action {
    let (id, mut value, mask) = if d.id == fields::IN_PORT {
        // `value` holds a 16-bit port in its low two bytes.
        (NXM_OF_IN_PORT, value[value.len() - 2..].to_vec(), mask.map(|m| m[m.len() - 2..].to_vec()))
    } else {
        (d.id, value, mask)
    };
    if d.variable_len() {
        // Sent as Open vSwitch sends it: shortest, the value as given (the
        // switch refuses bits outside the mask).
        let (value, mask) = super::value::var_shortest(&value, mask.as_deref(), false);
        return Action::SetField(OxmField { id, value, mask });
    }
    let mask = mask.filter(|m| !m.iter().all(|&b| b == 0xff));
    if let Some(m) = &mask {
        for (v, m) in value.iter_mut().zip(m) {
            *v &= *m;
        }
    }
    Action::SetField(OxmField { id, value, mask })
}

/// Open vSwitch encodes a write to its 32-bit in_port as an OXM set-field
/// that its switch then refuses (OFPBAC_BAD_SET_ARGUMENT); `in_port`, the
/// 16-bit one, is how in_port is written.
const IN_PORT_OXM_WRITE: &str = "in_port (in_port_oxm/OXM_OF_IN_PORT cannot be written: Open vSwitch refuses it)";

/// `VALUE->DST` split (for `set_field`, `load`).
pub(super) fn split_arrow<'s>(s: &'s str, what: &str) -> R<(&'s str, &'s str)> {
    match s.find("->") {
        Some(i) => {
            let dst = &s[i + 2..];
            if dst.is_empty() {
                return fail_found(at(s, s.len()), format!("a field name after `->` in {what}"), "nothing");
            }
            Ok((&s[..i], dst))
        }
        None => fail(s, format!("VALUE->FIELD for {what}")),
    }
}

pub(super) fn l4_field(ctx: &Ctx, src: bool, at_: &str, what: &str) -> R<&'static FieldDef> {
    let name = match (ctx.is_ip(), ctx.proto(), src) {
        (true, Some(6), true) => "tcp_src",
        (true, Some(6), false) => "tcp_dst",
        (true, Some(17), true) => "udp_src",
        (true, Some(17), false) => "udp_dst",
        (true, Some(132), true) => "sctp_src",
        (true, Some(132), false) => "sctp_dst",
        _ => return fail_found(at_, format!("tcp, udp or sctp in the match for {what}"), what),
    };
    Ok(field_by_name(name).expect("known L4 field"))
}

/// Fails unless the action `kv` has a value; `what` says which.
pub(super) fn need(kv: &Kv, what: &str) -> R<()> {
    if kv.value.is_empty() {
        fail_found(at(kv.key, kv.key.len()), format!("{what} after {}", kv.key), "nothing")
    } else {
        Ok(())
    }
}

/// Parses an action list (or, at the top level, a list of instructions)
/// into items in the order written, checked for the order OpenFlow
/// requires.
pub(super) fn parse_actions(s: &str, ctx: &mut Ctx, outer: Outer, allow_inst: bool) -> R<Vec<Item>> {
    let mut items: Vec<(Item, &str)> = Vec::new();
    let mut drop_at: Option<&str> = None;
    for kv in kvs(s)? {
        let Kv { key, value, delim } = kv;
        let lkey = key.to_ascii_lowercase();
        if lkey == "drop" {
            drop_at = Some(key);
            continue;
        }
        if lkey == "apply_actions" {
            // `ovs-ofctl` refuses this spelling ("apply_actions is the
            // default instruction"); podflow accepts it as the same thing
            // as listing the actions directly.
            if outer != Outer::Top || !allow_inst || delim != Some('(') {
                return fail_found(key, "an action (apply_actions(...) is only an instruction at the top level)", key);
            }
            for it in parse_actions(value, ctx, Outer::Top, false)? {
                items.push((it, key));
            }
            continue;
        }
        let item = keyword_action(kv, &lkey, ctx, outer, allow_inst, &mut items)?;
        items.push((item, key));
    }
    if let Some(d) = drop_at {
        if !items.is_empty() {
            return fail_found(d, "\"drop\" alone (it must not be accompanied by any other action or instruction)", "drop");
        }
    }
    check_items(&items, allow_inst)?;
    Ok(items.into_iter().map(|(i, _)| i).collect())
}

/// The action or instruction `kv` names, by family.
fn keyword_action<'a>(
    kv: Kv<'a>,
    lkey: &str,
    ctx: &mut Ctx,
    outer: Outer,
    allow_inst: bool,
    items: &mut Vec<(Item, &'a str)>,
) -> R<Item> {
    if let Some(i) = ext_action(kv, lkey, ctx, outer)? {
        return Ok(i);
    }
    if lkey == "enqueue" {
        return enqueue(kv, items);
    }
    if let Some(i) = output_action(kv, lkey, ctx, outer, allow_inst)? {
        return Ok(i);
    }
    if let Some(i) = header_action(kv, lkey, ctx, outer)? {
        return Ok(i);
    }
    if let Some(i) = field_action(kv, lkey, ctx, outer)? {
        return Ok(i);
    }
    if let Some(i) = mod_action(kv, lkey, ctx, outer, items)? {
        return Ok(i);
    }
    if let Some(i) = instruction(kv, lkey, ctx, outer, allow_inst)? {
        return Ok(i);
    }
    bare_output(kv)
}

/// A bare port number or reserved port name outputs there.
fn bare_output(kv: Kv) -> R<Item> {
    match output_port(kv.key) {
        Ok(port) if kv.delim.is_none() => {
            let max_len = if port == PortNo::CONTROLLER { CONTROLLER_MAX_LEN_NO_BUFFER } else { 0 };
            Ok(Item::Act(Action::Output { port, max_len }))
        }
        _ => fail_found(kv.key, "an action or an output port", kv.key),
    }
}

/// Conjunctions come only with notes; instructions come in the order
/// OpenFlow 1.1+ requires (meter, apply, clear, write, metadata, goto).
fn check_items(items: &[(Item, &str)], allow_inst: bool) -> R<()> {
    if items.iter().any(|(i, _)| matches!(i, Item::Act(Action::Conjunction { .. }))) {
        if let Some((_, k)) =
            items.iter().find(|(i, _)| !matches!(i, Item::Act(Action::Conjunction { .. }) | Item::Act(Action::Note(_))))
        {
            return fail_found(k, "only \"conjunction\" and \"note\" actions alongside \"conjunction\"", *k);
        }
        return Ok(());
    }
    let mut prev: Option<Inst> = None;
    for (it, k) in items {
        let next = it.inst();
        if !allow_inst && !matches!(next, Inst::Apply) {
            return fail_found(k, format!("an action ({} instruction not allowed here)", next.name()), *k);
        }
        if let Some(p) = prev {
            let bad = if p == Inst::Apply { next < p } else { next <= p };
            if bad {
                let msg = if next == p {
                    format!("no duplicate {} instruction", p.name())
                } else {
                    format!("{} before {} (invalid instruction ordering)", next.name(), p.name())
                };
                return fail_found(k, msg, *k);
            }
        }
        prev = Some(next);
    }
    Ok(())
}

/// `enqueue:PORT:QUEUE` or `enqueue(PORT,QUEUE)`: OpenFlow 1.5 has no
/// enqueue action, so, as Open vSwitch does, `set_queue:QUEUE`, `output:PORT`
/// and `pop_queue` (the last returned, the others pushed onto `items`).
fn enqueue<'a>(kv: Kv<'a>, items: &mut Vec<(Item, &'a str)>) -> R<Item> {
    need(&kv, "PORT:QUEUE or (PORT,QUEUE)")?;
    let sep = if kv.delim == Some('(') { ',' } else { ':' };
    let Some((port, queue)) = kv.value.split_once(sep) else {
        return fail(kv.value, "PORT:QUEUE or (PORT,QUEUE) for enqueue");
    };
    let port = output_port(port.trim())?;
    let queue: u32 = num(queue.trim(), "a queue number")?;
    let max_len = if port == PortNo::CONTROLLER { CONTROLLER_MAX_LEN_NO_BUFFER } else { 0 };
    items.push((Item::Act(Action::SetQueue(queue)), kv.key));
    items.push((Item::Act(Action::Output { port, max_len }), kv.key));
    Ok(Item::Act(Action::PopQueue))
}

/// Actions that send the packet somewhere or to another table: output, controller, group, queue, meter, resubmit.
fn output_action<'a>(kv: Kv<'a>, lkey: &str, ctx: &mut Ctx, outer: Outer, allow_inst: bool) -> R<Option<Item>> {
    let Kv { key, value, delim } = kv;
    let item = match lkey {
            "controller" => Item::Act(parse_controller(value)?),
            "group" => {
                need(&kv, "a group number (group:N)")?;
                Item::Act(Action::Group(num(value, "a group number")?))
            }
            "set_queue" => {
                need(&kv, "a queue number (set_queue:N)")?;
                Item::Act(Action::SetQueue(num(value, "a queue number")?))
            }
            "meter" => {
                need(&kv, "a meter number (meter:N)")?;
                if outer != Outer::Top || !allow_inst {
                    return fail_found(key, "an action allowed here (meter is not allowed inside nested actions)", key);
                }
                let m: u32 = num(value, "a meter number")?;
                if m == 0 || m > 0xffff_0000 {
                    return fail(value, "a meter number from 1 to 4294901760 (0xffff0000)");
                }
                Item::Act(Action::Meter(m))
            }
            "resubmit" => {
                let a = parse_resubmit(value, delim)?;
                if matches!(a, Action::Resubmit { ct: true, .. }) && !ctx.ct_valid() {
                    return fail_found(
                        key,
                        "a ct_state match implying a valid connection (like ct_state=+trk+est) for resubmit(...,ct)",
                        key,
                    );
                }
                Item::Act(a)
            }
        _ => return Ok(None),
    };
    Ok(Some(item))
}

/// Actions on headers that are not field writes, and the small ones: VLAN push/pop, TTLs, note, conjunction, ct, nat.
fn header_action<'a>(kv: Kv<'a>, lkey: &str, ctx: &mut Ctx, outer: Outer) -> R<Option<Item>> {
    let Kv { key, value, .. } = kv;
    let item = match lkey {
            "push_vlan" => {
                need(&kv, "an Ethertype (push_vlan:0x8100)")?;
                let e: u16 = num(value, "an Ethertype (0x8100 or 0x88a8)")?;
                if e != 0x8100 && e != 0x88a8 {
                    return fail(value, "an 802.1Q Ethertype (0x8100 or 0x88a8)");
                }
                ctx.has_vlan = true;
                Item::Act(Action::PushVlan(e))
            }
            "pop_vlan" | "strip_vlan" => {
                // Open vSwitch checks an action set only for its own
                // consistency, not against the match.
                if !ctx.has_vlan && outer != Outer::WriteActions {
                    return fail_found(key, format!("a VLAN header (match on one, or push_vlan first) for {key}"), key);
                }
                ctx.has_vlan = false;
                Item::Act(Action::PopVlan)
            }
            "dec_ttl" => {
                if !value.is_empty() {
                    return fail(value, "dec_ttl without controller ids (dec_ttl(ids) is not supported)");
                }
                if !ctx.is_ip() {
                    return fail_found(key, "ip or ipv6 in the match for dec_ttl", key);
                }
                Item::Act(Action::DecNwTtl)
            }
            "mod_nw_ttl" | "set_nw_ttl" => {
                need(&kv, "a TTL")?;
                if !ctx.is_ip() {
                    return fail_found(key, format!("ip or ipv6 in the match for {key}"), key);
                }
                Item::Act(Action::SetNwTtl(num(value, "a TTL (0 to 255)")?))
            }
            "note" => Item::Act(Action::Note(crate::openflow::action::note_on_wire(hex_bytes(value)?))),
            "ct" => {
                if outer != Outer::Top {
                    return fail_found(key, "an action allowed here (ct cannot be nested)", key);
                }
                if !ctx.is_ip() {
                    return fail_found(key, "ip or ipv6 in the match for ct", key);
                }
                Item::Act(parse_ct(value, ctx)?)
            }
            "ct_clear" => Item::Act(Action::CtClear),
            "nat" => {
                if outer != Outer::Ct {
                    return fail_found(key, "nat only inside ct(...)", key);
                }
                Item::Act(Action::Nat(parse_nat(value)?))
            }
            "conjunction" => Item::Act(parse_conjunction(value)?),
        _ => return Ok(None),
    };
    Ok(Some(item))
}

/// Field writes: set_field, load, move.
fn field_action<'a>(kv: Kv<'a>, lkey: &str, ctx: &mut Ctx, outer: Outer) -> R<Option<Item>> {
    let Kv { value, .. } = kv;
    let item = match lkey {
            "set_field" => {
                need(&kv, "VALUE->FIELD")?;
                let (v, f) = split_arrow(value, "set_field")?;
                if f == "nw_tos" {
                    // OVS writes the unshifted TOS through NXM_OF_IP_TOS.
                    let d = field_by_name("ip_dscp").expect("ip_dscp");
                    let t = match int_all(v) {
                        Some(t) if t <= 255 && t & 3 == 0 => t as u8,
                        _ => return fail(v, "an IP TOS value (0 to 255, low two bits zero)"),
                    };
                    check_dst(ctx, d, outer, f)?;
                    return Ok(Some(Item::Act(Action::SetField(OxmField::new(NXM_OF_IP_TOS, [t])))));
                }
                if f == "in_port_oxm" {
                    return fail_found(f, IN_PORT_OXM_WRITE, f);
                }
                let (d, val, mask) = {
                    let Some(d) = field_by_name(f).or_else(|| xxreg(f)) else {
                        return fail_found(f, "a field name", f);
                    };
                    let (mut val, mask) = field_value(d, v)?;
                    if mask.as_ref().is_some_and(|m| m.iter().all(|&b| b == 0)) {
                        // Open vSwitch sends this and then cannot decode its own message.
                        return fail_found(v, "a set_field mask with at least one bit set", v);
                    }
                    if d.id == fields::IN_PORT {
                        let p = PortNo(u32::from_be_bytes([val[0], val[1], val[2], val[3]]));
                        match p.to_of10() {
                            Some(p16) => val = (p16 as u32).to_be_bytes().to_vec(),
                            None => return fail(v, "a port that fits OpenFlow 1.0 numbering"),
                        }
                    }
                    if d.id == fields::ARP_OP && val[0] != 0 {
                        return fail(v, "an ARP opcode (0 to 255)");
                    }
                    if mask.is_some() && !d.maskable {
                        return fail(v, format!("an unmasked value ({} cannot be masked)", d.name));
                    }
                    (d, val, mask)
                };
                let d = if is_l4_port_field(d.id) {
                    l4_field(ctx, matches!(d.name, "tcp_src" | "udp_src" | "sctp_src"), f, d.name)?
                } else {
                    d
                };
                check_dst(ctx, d, outer, f)?;
                Item::Act(set_field_action(d, val, mask))
            }
            "load" => {
                need(&kv, "VALUE->DST[BITS]")?;
                let (v, dst) = split_arrow(value, "load")?;
                let sf = subfield(dst)?;
                if sf.field == fields::IN_PORT {
                    return fail_found(dst, IN_PORT_OXM_WRITE, dst);
                }
                // The TOS byte's low two bits are ECN: Open vSwitch refuses
                // a load that sets them through nw_tos.
                if sf.field == NXM_OF_IP_TOS && int_all(v).is_some_and(|x| x.checked_shl(u32::from(sf.ofs)).is_none_or(|y| y & 3 != 0)) {
                    return fail(v, "an IP TOS value with the low two bits zero (they are ECN)");
                }
                let d = sf.field.action_def().expect("subfield of a known field");
                let val = match int_all(v) {
                    Some(x) => x,
                    None => return fail(v, "an integer value (decimal or 0x-hex)"),
                };
                if !fits(val, sf.n_bits as u32) {
                    return fail(v, format!("a value that fits into {} bits", sf.n_bits));
                }
                check_dst(ctx, d, outer, dst)?;
                if d.variable_len() {
                    let (v, m) = (be_shifted(val, sf.ofs as u32, d.len), be_bit_range(sf.ofs as u32, sf.n_bits as u32, d.len));
                    Item::Act(set_field_action(d, v, Some(m)))
                } else {
                    let mask = ones(sf.n_bits as u32) << sf.ofs;
                    Item::Act(set_field_action(d, be(val << sf.ofs, d.len), Some(be(mask, d.len))))
                }
            }
            "move" => {
                need(&kv, "SRC[BITS]->DST[BITS]")?;
                let (src_s, dst_s) = split_arrow(value, "move")?;
                let src = subfield(src_s)?;
                let dst = subfield(dst_s)?;
                if src.n_bits != dst.n_bits {
                    return fail_found(
                        dst_s,
                        format!("a destination as wide as the source ({} bits)", src.n_bits),
                        format!("{} ({} bits)", dst_s, dst.n_bits),
                    );
                }
                check_src(ctx, src.field.action_def().expect("subfield of a known field"), src_s)?;
                check_move_dst(ctx, dst.field.action_def().expect("subfield of a known field"), outer, dst_s)?;
                Item::Act(Action::CopyField { n_bits: src.n_bits, src, dst })
            }
        _ => return Ok(None),
    };
    Ok(Some(item))
}

/// The OpenFlow 1.0 style field writes (`mod_*`, `set_vlan_*`, `set_tunnel`).
fn mod_action<'a>(kv: Kv<'a>, lkey: &str, ctx: &mut Ctx, outer: Outer, items: &mut Vec<(Item, &'a str)>) -> R<Option<Item>> {
    let Kv { key, value, .. } = kv;
    let item = match lkey {
            "mod_dl_src" | "mod_dl_dst" | "mod_nw_src" | "mod_nw_dst" | "mod_nw_ecn" | "set_tunnel" | "set_tunnel64" => {
                need(&kv, "a value")?;
                let name = match lkey {
                    "mod_dl_src" => "eth_src",
                    "mod_dl_dst" => "eth_dst",
                    "mod_nw_src" => "ip_src",
                    "mod_nw_dst" => "ip_dst",
                    "mod_nw_ecn" => "nw_ecn",
                    _ => "tun_id",
                };
                let d = field_by_name(name).expect("known field");
                if value.contains('/') {
                    return fail(value, format!("an unmasked value for {key}"));
                }
                let (val, _) = field_value(d, value)?;
                check_dst(ctx, d, outer, key)?;
                Item::Act(set_field_action(d, val, None))
            }
            "mod_tp_src" | "mod_tp_dst" => {
                need(&kv, "a port number")?;
                let d = l4_field(ctx, lkey == "mod_tp_src", key, key)?;
                let p: u16 = num(value, "a port number (0 to 65535)")?;
                check_dst(ctx, d, outer, key)?;
                Item::Act(set_field_action(d, p.to_be_bytes().to_vec(), None))
            }
            "mod_nw_tos" => {
                need(&kv, "a TOS value")?;
                let d = field_by_name("ip_dscp").expect("ip_dscp");
                let t = match int_all(value) {
                    Some(t) if t <= 255 && t & 3 == 0 => t as u8,
                    _ => return fail(value, "an IP TOS value (0 to 255, low two bits zero)"),
                };
                check_dst(ctx, d, outer, key)?;
                Item::Act(set_field_action(d, vec![t >> 2], None))
            }
            "mod_vlan_vid" | "mod_vlan_pcp" | "set_vlan_vid" | "set_vlan_pcp" => {
                need(&kv, "a value")?;
                let vid = lkey.ends_with("vid");
                let v: u16 = if vid {
                    match int_all(value) {
                        Some(v) if v <= 0xfff => v as u16,
                        _ => return fail(value, "a VLAN id (0 to 4095)"),
                    }
                } else {
                    match int_all(value) {
                        Some(v) if v <= 7 => v as u16,
                        _ => return fail(value, "a VLAN priority (0 to 7)"),
                    }
                };
                if !ctx.ethernet {
                    // As set_field: Open vSwitch's switch refuses it
                    // (OFPBAC_MATCH_INCONSISTENT) on a non-Ethernet packet.
                    return fail_found(key, format!("packet_type=(0,0) (Ethernet) for {key}"), key);
                }
                if !ctx.has_vlan {
                    if lkey.starts_with("set_") {
                        return fail_found(key, format!("a VLAN header in the match for {key}"), key);
                    }
                    items.push((Item::Act(Action::PushVlan(0x8100)), key));
                    ctx.has_vlan = true;
                }
                if vid {
                    Item::Act(Action::SetField(OxmField::new(fields::VLAN_VID, (v | OFPVID_PRESENT).to_be_bytes())))
                } else {
                    Item::Act(Action::SetField(OxmField::new(fields::VLAN_PCP, [v as u8])))
                }
            }
        _ => return Ok(None),
    };
    Ok(Some(item))
}

/// Instructions other than apply_actions: goto_table, write_metadata, clear_actions, write_actions.
fn instruction<'a>(kv: Kv<'a>, lkey: &str, ctx: &mut Ctx, outer: Outer, allow_inst: bool) -> R<Option<Item>> {
    let Kv { key, value, .. } = kv;
    let item = match lkey {
            "goto_table" => {
                need(&kv, "a table number (goto_table:N)")?;
                let t: u8 = num(value, "a table number (0 to 254)")?;
                if let Some(cur) = ctx.table.filter(|&c| c != TABLE_ALL) {
                    if t <= cur {
                        return fail_found(
                            value,
                            format!("a table after the flow's table {cur} (goto_table must go forward)"),
                            value,
                        );
                    }
                }
                Item::Goto(t)
            }
            "write_metadata" => {
                need(&kv, "VALUE[/MASK]")?;
                let (v, m) = match value.split_once('/') {
                    Some((v, m)) => (v, Some(m)),
                    None => (value, None),
                };
                let mv = match int_all(v) {
                    Some(x) if x <= u64::MAX as u128 => x as u64,
                    _ => return fail(v, "a 64-bit metadata value"),
                };
                let mm = match m {
                    None => u64::MAX,
                    Some(m) => match int_all(m) {
                        Some(x) if x <= u64::MAX as u128 => x as u64,
                        _ => return fail(m, "a 64-bit metadata mask"),
                    },
                };
                Item::Metadata(mv, mm)
            }
            "clear_actions" => Item::Clear,
            "write_actions" => {
                if outer != Outer::Top || !allow_inst {
                    return fail_found(key, "an action (write_actions instruction not allowed here)", key);
                }
                let inner = parse_actions(value, ctx, Outer::WriteActions, false)?;
                let mut acts = Vec::new();
                for it in inner {
                    if let Item::Act(a) = it {
                        acts.push(a);
                    }
                }
                Item::Write(acts)
            }
        _ => return Ok(None),
    };
    Ok(Some(item))
}

/// A port that output may send to: a physical port below 0xff00 or one of
/// the reserved ports other than ANY/UNSET.
pub(super) fn output_port(s: &str) -> R<PortNo> {
    let p = port_value(s)?;
    if p.0 < 0xff00 || (p != PortNo::ANY && p != PortNo::UNSET && p.0 >= PortNo::IN_PORT.0) {
        Ok(p)
    } else {
        fail(s, "an output port (below 65280, or IN_PORT, TABLE, NORMAL, FLOOD, ALL, CONTROLLER, LOCAL)")
    }
}

pub(super) fn parse_controller(value: &str) -> R<Action> {
    let mut c = Controller::default();
    let mut userdata = false;
    if value.is_empty() {
    } else if value.bytes().all(|b| b.is_ascii_digit()) {
        c.max_len = num(value, "a max_len (0 to 65535)")?;
    } else {
        for kv in kvs(value)? {
            match kv.key {
                "reason" => {
                    c.reason = match kv.value {
                        "no_match" => 0,
                        "action" => 1,
                        "invalid_ttl" => 2,
                        "action_set" => 3,
                        "group" => 4,
                        "packet_out" => 5,
                        _ => {
                            return fail(
                                kv.value,
                                "a packet-in reason (no_match, action, invalid_ttl, action_set, group, packet_out)",
                            )
                        }
                    }
                }
                "max_len" => c.max_len = num(kv.value, "a max_len (0 to 65535)")?,
                "id" => c.controller_id = num(kv.value, "a controller id (0 to 65535)")?,
                "userdata" => {
                    c.userdata = hex_bytes(kv.value)?;
                    userdata = true;
                }
                "pause" => c.pause = true,
                "meter_id" => c.meter_id = Some(num(kv.value, "a meter id")?),
                _ => {
                    return fail_found(
                        kv.key,
                        "a controller option (reason, max_len, id, userdata, pause, meter_id)",
                        kv.key,
                    )
                }
            }
        }
    }
    if c.reason == 1 && c.controller_id == 0 && !userdata && !c.pause && c.meter_id.is_none() {
        return Ok(Action::Output { port: PortNo::CONTROLLER, max_len: c.max_len });
    }
    c.legacy = !(userdata || c.pause || c.meter_id.is_some());
    Ok(Action::Controller(c))
}

pub(super) fn port16(s: &str) -> R<u16> {
    let p = port_value(s)?;
    match p.to_of10() {
        Some(v) => Ok(v),
        None => fail(s, "a port that fits OpenFlow 1.0 numbering"),
    }
}

pub(super) fn parse_resubmit(value: &str, delim: Option<char>) -> R<Action> {
    if value.is_empty() {
        return fail_found(value, "resubmit:PORT or resubmit([PORT],[TABLE][,ct])", "nothing");
    }
    let parts: Vec<&str> =
        if delim == Some('(') || value.contains(',') { value.split(',').collect() } else { vec![value] };
    if parts.len() > 3 {
        return fail(parts[3], "at most three resubmit arguments (port, table, ct)");
    }
    let in_port = match parts[0] {
        "" => RESUBMIT_IN_PORT,
        p => port16(p)?,
    };
    let table = match parts.get(1).copied() {
        None | Some("") => None,
        Some(t) => {
            let t: u8 = num(t, "a table number")?;
            if t == 255 {
                None
            } else {
                Some(t)
            }
        }
    };
    let ct = match parts.get(2).copied() {
        None | Some("") => false,
        Some("ct") => true,
        Some(o) => return fail(o, "`ct` as the third resubmit argument"),
    };
    if in_port == RESUBMIT_IN_PORT && table.is_none() {
        return fail(value, "a port or a table for resubmit (at least one)");
    }
    Ok(Action::Resubmit { in_port, table, ct })
}

pub(super) fn parse_conjunction(value: &str) -> R<Action> {
    let sp = |i| nom::character::complete::space0(i);
    let r: IResult<&str, (u128, (u128, u128))> = all_consuming(tuple((
        preceded(sp, uint),
        preceded(
            tuple((sp, nchar(','), sp)),
            separated_pair(dec_u128, tuple((sp, nchar('/'), sp)), nom::sequence::terminated(dec_u128, sp)),
        ),
    )))(value);
    let (id, (k, n)) = match r {
        Ok((_, x)) => x,
        Err(_) => return fail(value, "conjunction(ID,K/N)"),
    };
    if id > u32::MAX as u128 {
        return fail(value, "a 32-bit conjunction id");
    }
    if n < 2 {
        return fail(value, "at least 2 clauses in a conjunction");
    }
    if n > 64 {
        return fail(value, "at most 64 clauses in a conjunction");
    }
    if k < 1 || k > n {
        return fail(value, "a clause index between 1 and the number of clauses");
    }
    Ok(Action::Conjunction { id: id as u32, clause: (k - 1) as u8, n_clauses: n as u8 })
}

pub(super) fn build_instructions(items: Vec<Item>) -> Vec<Instruction> {
    let mut apply = Vec::new();
    let mut clear = false;
    let mut write = None;
    let mut meta = None;
    let mut goto = None;
    for it in items {
        match it {
            Item::Act(a) => apply.push(a),
            Item::Clear => clear = true,
            Item::Write(w) => write = Some(w),
            Item::Metadata(v, m) => meta = Some((v, m)),
            Item::Goto(t) => goto = Some(t),
        }
    }
    let mut out = Vec::new();
    if !apply.is_empty() {
        out.push(Instruction::ApplyActions(apply));
    }
    if clear {
        out.push(Instruction::ClearActions);
    }
    if let Some(w) = write {
        out.push(Instruction::WriteActions(w));
    }
    if let Some((metadata, mask)) = meta {
        out.push(Instruction::WriteMetadata { metadata, mask });
    }
    if let Some(t) = goto {
        out.push(Instruction::GotoTable(t));
    }
    out
}
