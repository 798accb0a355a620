//! Actions and instructions.

use crate::openflow::action::{Action, Controller};
use crate::openflow::instruction::Instruction;
use crate::openflow::oxm::{Format, OxmField};
use crate::openflow::port::PortNo;

use super::super::{encap, hash_actions, learn};
use super::ct::*;
use super::values::*;

fn reason_name(s: &mut String, r: u8) {
    let name = match r {
        0 => "no_match",
        1 => "action",
        2 => "invalid_ttl",
        3 => "action_set",
        4 => "group",
        5 => "packet_out",
        n => return dec(s, n.into()),
    };
    s.push_str(name);
}

/// `CONTROLLER:N`, or `controller(...)` when more than the length is set.
fn controller(s: &mut String, c: &Controller) {
    if c.reason == 1 && c.controller_id == 0 && c.userdata.is_empty() && !c.pause && c.meter_id.is_none() {
        s.push_str("CONTROLLER:");
        dec(s, c.max_len.into());
        return;
    }
    s.push_str("controller(");
    let start = s.len();
    let sep = |s: &mut String| {
        if s.len() > start {
            s.push(',');
        }
    };
    if c.reason != 1 {
        s.push_str("reason=");
        reason_name(s, c.reason);
    }
    if c.max_len != u16::MAX {
        sep(s);
        s.push_str("max_len=");
        dec(s, c.max_len.into());
    }
    if c.controller_id != 0 {
        sep(s);
        s.push_str("id=");
        dec(s, c.controller_id.into());
    }
    if !c.userdata.is_empty() {
        sep(s);
        s.push_str("userdata=");
        dotted_hex(s, &c.userdata);
    }
    if c.pause {
        sep(s);
        s.push_str("pause");
    }
    if let Some(m) = c.meter_id {
        sep(s);
        s.push_str("meter_id=");
        dec(s, m.into());
    }
    s.push(')');
}

/// The note bytes as they travel (padded so the action is a multiple of 8
/// bytes and the note at least 6 bytes), which is what a peer prints.
fn note_padded(s: &mut String, n: &[u8]) {
    let len = n.len().max(6);
    // 10 bytes of header and subtype come before the note.
    let pad = (8 - (10 + len) % 8) % 8;
    dotted_hex(s, n);
    for i in n.len()..len + pad {
        s.push_str(if i == 0 { "00" } else { ".00" });
    }
}

/// A `set_field` of a field outside `FIELDS` (kept raw by the decoder):
/// printed by name when Open vSwitch has one for it, else as
/// `set_field:0x…->OXM(class,field)`; false if `body` is no OXM field.
fn unknown_set_field(s: &mut String, body: &[u8]) -> bool {
    let mut r = crate::wire::Reader::new(body);
    match OxmField::decode(&mut r) {
        Ok(f) => {
            set_field_other(s, &f);
            true
        }
        Err(_) => false,
    }
}

/// `set_field` of a field outside `FIELDS`: by Open vSwitch's name for it
/// when it has one, else `set_field:0x…->OXM(class,field)`.
fn set_field_other(s: &mut String, f: &OxmField) {
    let (name, format) = match extra_field(f.id) {
        Some(e) => (std::borrow::Cow::Borrowed(e.name), e.format),
        None => (std::borrow::Cow::Owned(f.id.name()), Format::Hex),
    };
    s.push_str("set_field:");
    let mut mask = f.mask.as_deref();
    if let Some(m) = mask {
        if m.iter().all(|&b| b == 0) {
            s.push_str("ANY->");
            s.push_str(&name);
            return;
        }
        if m.iter().all(|&b| b == 0xff) {
            mask = None;
        }
    }
    let v = f.value_u128();
    match format {
        Format::Port if mask.is_none() => write_port16(s, v as u16),
        Format::Port | Format::Decimal if f.value.len() <= 8 => dec(s, v as u64),
        _ => hex_bytes(s, &f.value),
    }
    if let Some(m) = mask {
        s.push('/');
        hex_bytes(s, m);
    }
    s.push_str("->");
    s.push_str(&name);
}

/// `NAME:N` (a keyword and a decimal number).
fn keyword_dec(s: &mut String, name: &str, v: u64) {
    s.push_str(name);
    dec(s, v);
}

/// `resubmit:PORT` or `resubmit([PORT],[TABLE][,ct])`.
fn resubmit(s: &mut String, in_port: u16, table: Option<u8>, ct: bool) {
    let table = table.unwrap_or(0xff);
    if in_port != 0xfff8 && table == 0xff {
        s.push_str("resubmit:");
        write_port16(s, in_port);
        return;
    }
    s.push_str("resubmit(");
    if in_port != 0xfff8 {
        write_port16(s, in_port);
    }
    s.push(',');
    if table != 0xff {
        dec(s, table.into());
    }
    if ct {
        s.push_str(",ct");
    }
    s.push(')');
}

/// `output:PORT` (or the reserved port's name alone).
fn output(s: &mut String, p: PortNo, max_len: u16) {
    if matches!(p.to_of10(), Some(x) if x < 0xff00) {
        s.push_str("output:");
    }
    write_port(s, p);
    if p == PortNo::CONTROLLER {
        s.push(':');
        dec(s, max_len.into());
    }
}

/// One action.
pub fn action(a: &Action) -> String {
    to_string(|s| write_action(s, a))
}

/// [`action`], appended to `s`.
pub fn write_action(s: &mut String, a: &Action) {
    match a {
        Action::Output { port: p, max_len } => output(s, *p, *max_len),
        Action::Group(g) => keyword_dec(s, "group:", (*g).into()),
        Action::SetQueue(q) => keyword_dec(s, "set_queue:", (*q).into()),
        // A field podflow only writes (the 16-bit NXM in_port, xxreg0…)
        // prints as Open vSwitch prints it, as a raw one does.
        Action::SetField(f) if f.id.def().is_none() => set_field_other(s, f),
        Action::SetField(f) => {
            s.push_str("set_field:");
            write_field_value(s, f);
            s.push_str("->");
            field_name(s, f.id);
        }
        Action::PushVlan(e) => {
            s.push_str("push_vlan:");
            cx(s, *e as u64);
        }
        Action::PopVlan => s.push_str("pop_vlan"),
        Action::SetNwTtl(t) => keyword_dec(s, "mod_nw_ttl:", (*t).into()),
        Action::DecNwTtl | Action::NxDecTtl => s.push_str("dec_ttl"),
        Action::CopyField { src, dst, .. } | Action::RegMove { src, dst } => {
            s.push_str("move:");
            write_subfield(s, src);
            s.push_str("->");
            write_subfield(s, dst);
        }
        Action::Meter(m) => keyword_dec(s, "meter:", (*m).into()),
        Action::Resubmit { in_port, table, ct } => resubmit(s, *in_port, *table, *ct),
        // One `load:`: an NXAST_REG_LOAD loads one contiguous range.
        Action::RegLoad { dst, value } => {
            s.push_str("load:");
            cx(s, *value);
            s.push_str("->");
            write_subfield(s, dst);
        }
        Action::Note(n) => {
            s.push_str("note:");
            note_padded(s, n);
        }
        Action::Ct(c) => ct(s, c),
        Action::CtClear => s.push_str("ct_clear"),
        Action::Nat(n) => nat(s, n),
        Action::Controller(c) => controller(s, c),
        Action::Conjunction { id, clause, n_clauses } => {
            keyword_dec(s, "conjunction(", (*id).into());
            keyword_dec(s, ",", u64::from(*clause) + 1);
            keyword_dec(s, "/", (*n_clauses).into());
            s.push(')');
        }
        Action::Experimenter { experimenter, data } => {
            s.push_str("experimenter(");
            hex0x(s, (*experimenter).into());
            s.push_str(",data=");
            dotted_hex(s, data);
            s.push(')');
        }
        Action::Unknown { ty: 25, body } if unknown_set_field(s, body) => {}
        Action::Unknown { ty, body } => {
            keyword_dec(s, "unknown_action(type=", (*ty).into());
            s.push_str(",data=");
            dotted_hex(s, body);
            s.push(')');
        }
        other => ext_action(s, other),
    }
}

/// The actions of `action::ext`, as `ovs-ofctl` prints them.
fn ext_action(s: &mut String, a: &Action) {
    match a {
        Action::OutputReg { src, .. } => {
            s.push_str("output:");
            write_subfield(s, src);
        }
        Action::OutputTrunc { port, max_len } => {
            s.push_str("output(port=");
            write_port16(s, *port);
            keyword_dec(s, ",max_len=", (*max_len).into());
            s.push(')');
        }
        Action::PopQueue => s.push_str("pop_queue"),
        Action::Exit => s.push_str("exit"),
        Action::DecNshTtl => s.push_str("dec_nsh_ttl"),
        Action::DeleteField(id) => {
            s.push_str("delete_field:");
            match id.def() {
                Some(d) => s.push_str(d.name),
                None => s.push_str(&id.name()),
            }
        }
        Action::FinTimeout { idle, hard } => {
            s.push_str("fin_timeout(");
            if *idle != 0 {
                keyword_dec(s, "idle_timeout=", (*idle).into());
            }
            if *hard != 0 {
                if *idle != 0 {
                    s.push(',');
                }
                keyword_dec(s, "hard_timeout=", (*hard).into());
            }
            s.push(')');
        }
        Action::Clone(list) => {
            s.push_str("clone(");
            actions_or_empty(s, list);
            s.push(')');
        }
        Action::StackPush(sf) => {
            s.push_str("push:");
            write_subfield(s, sf);
        }
        Action::StackPop(sf) => {
            s.push_str("pop:");
            write_subfield(s, sf);
        }
        Action::PushMpls(e) => {
            s.push_str("push_mpls:0x");
            hex_pad(s, (*e).into(), 4);
        }
        Action::PopMpls(e) => {
            s.push_str("pop_mpls:0x");
            hex_pad(s, (*e).into(), 4);
        }
        Action::SetMplsTtl(t) => {
            keyword_dec(s, "set_mpls_ttl(", (*t).into());
            s.push(')');
        }
        Action::DecMplsTtl => s.push_str("dec_mpls_ttl"),
        Action::Learn(l) => learn::format_learn(s, l),
        Action::Bundle(b) => hash_actions::format_bundle(s, b),
        Action::Multipath(m) => hash_actions::format_multipath(s, m),
        Action::Encap(e) => encap::format_encap(s, e),
        Action::Decap(pt) => encap::format_decap(s, *pt),
        Action::CheckPktLarger { pkt_len, dst } => {
            keyword_dec(s, "check_pkt_larger(", (*pkt_len).into());
            s.push_str(")->");
            write_subfield(s, dst);
        }
        Action::Sample(sm) => {
            keyword_dec(s, "sample(probability=", sm.probability.into());
            keyword_dec(s, ",collector_set_id=", sm.collector_set_id.into());
            keyword_dec(s, ",obs_domain_id=", sm.obs_domain_id.into());
            keyword_dec(s, ",obs_point_id=", sm.obs_point_id.into());
            if let Some(p) = sm.sampling_port {
                s.push_str(",sampling_port=");
                write_port16(s, p);
            }
            s.push_str(match sm.direction {
                1 => ",ingress)",
                2 => ",egress)",
                _ => ")",
            });
        }
        other => {
            use std::fmt::Write;
            let _ = write!(s, "{other:?}");
        }
    }
}

/// Nested actions: empty prints as nothing (`clone()`), not `drop`.
fn actions_or_empty(s: &mut String, a: &[Action]) {
    for (i, x) in a.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        write_action(s, x);
    }
}

/// An action list, comma-separated (`drop` when empty).
pub fn actions(a: &[Action]) -> String {
    to_string(|s| write_actions(s, a))
}

/// [`actions`], appended to `s`.
pub fn write_actions(s: &mut String, a: &[Action]) {
    if a.is_empty() {
        s.push_str("drop");
    } else {
        actions_or_empty(s, a);
    }
}

fn instruction_rank(i: &Instruction) -> u8 {
    match i {
        Instruction::Meter(_) => 0,
        Instruction::ApplyActions(_) => 1,
        Instruction::ClearActions => 2,
        Instruction::WriteActions(_) => 3,
        Instruction::WriteMetadata { .. } => 4,
        Instruction::GotoTable(_) => 5,
        Instruction::Unknown { .. } => 6,
    }
}

/// What follows `actions=`: the instructions in Open vSwitch's execution
/// order (meter, apply, clear, write, write_metadata, goto), `drop` when
/// there is nothing to print.
pub fn instructions(list: &[Instruction]) -> String {
    to_string(|s| write_instructions(s, list))
}

/// [`instructions`], appended to `s`.
pub fn write_instructions(s: &mut String, list: &[Instruction]) {
    let start = s.len();
    // Ranks in execution order; a stable pass per rank keeps the order
    // of equal ones, as the sort it replaces did, without allocating.
    let mut ranks = [0u8; 7];
    for i in list {
        ranks[usize::from(instruction_rank(i))] += 1;
    }
    for rank in 0..7u8 {
        if ranks[usize::from(rank)] == 0 {
            continue;
        }
        for i in list.iter().filter(|i| instruction_rank(i) == rank) {
            instruction(s, start, i);
        }
    }
    if s.len() == start {
        s.push_str("drop");
    }
}

/// One instruction, after a comma unless it is the first thing printed
/// since `start` (an empty apply_actions prints nothing at all).
fn instruction(s: &mut String, start: usize, i: &Instruction) {
    let sep = |s: &mut String| {
        if s.len() > start {
            s.push(',');
        }
    };
    match i {
        Instruction::Meter(m) => {
            sep(s);
            keyword_dec(s, "meter:", (*m).into());
        }
        Instruction::ApplyActions(a) => {
            for x in a {
                sep(s);
                write_action(s, x);
            }
        }
        Instruction::ClearActions => {
            sep(s);
            s.push_str("clear_actions");
        }
        Instruction::WriteActions(a) => {
            sep(s);
            s.push_str("write_actions(");
            write_actions(s, a);
            s.push(')');
        }
        Instruction::WriteMetadata { metadata, mask } => {
            sep(s);
            s.push_str("write_metadata:");
            cx(s, *metadata);
            if *mask != u64::MAX {
                s.push('/');
                cx(s, *mask);
            }
        }
        Instruction::GotoTable(t) => {
            sep(s);
            keyword_dec(s, "goto_table:", (*t).into());
        }
        Instruction::Unknown { ty, body } => {
            sep(s);
            keyword_dec(s, "unknown_instruction(type=", (*ty).into());
            s.push_str(",data=");
            dotted_hex(s, body);
            s.push(')');
        }
    }
}

#[cfg(test)]
mod tests {
    //! Expected strings are what `ovs-ofctl` 3.1 prints (the oracle tests in
    //! `tests/text_print_oracle.rs` check the same code against it).
    use super::super::testutil::*;
    use super::*;
    use crate::openflow::action::{Action, Controller, RESUBMIT_IN_PORT};

    use crate::openflow::instruction::Instruction;
    use crate::openflow::oxm::{class, fields, OxmField, OxmId};

    use crate::openflow::port::PortNo;

    #[test]
    fn actions_output_and_simple() {
        assert_eq!(actions(&[]), "drop");
        assert_eq!(a(Action::output(PortNo(3))), "output:3");
        assert_eq!(a(Action::output(PortNo(0xfeff))), "output:65279");
        assert_eq!(a(Action::output(PortNo::MAX)), "65280");
        for (p, s) in [
            (PortNo::IN_PORT, "IN_PORT"),
            (PortNo::TABLE, "TABLE"),
            (PortNo::NORMAL, "NORMAL"),
            (PortNo::FLOOD, "FLOOD"),
            (PortNo::ALL, "ALL"),
            (PortNo::LOCAL, "LOCAL"),
            (PortNo::ANY, "ANY"),
            (PortNo::UNSET, "UNSET"),
        ] {
            assert_eq!(a(Action::output(p)), s);
        }
        assert_eq!(a(Action::Output { port: PortNo::CONTROLLER, max_len: 65535 }), "CONTROLLER:65535");
        assert_eq!(a(Action::Output { port: PortNo(2), max_len: 65535 }), "output:2");
        assert_eq!(a(Action::Group(1)), "group:1");
        assert_eq!(a(Action::SetQueue(3)), "set_queue:3");
        assert_eq!(a(Action::Meter(2)), "meter:2");
        assert_eq!(a(Action::PushVlan(0x8100)), "push_vlan:0x8100");
        assert_eq!(a(Action::PushVlan(0)), "push_vlan:0");
        assert_eq!(a(Action::PopVlan), "pop_vlan");
        assert_eq!(a(Action::SetNwTtl(5)), "mod_nw_ttl:5");
        assert_eq!(a(Action::DecNwTtl), "dec_ttl");
        assert_eq!(a(Action::NxDecTtl), "dec_ttl");
        assert_eq!(a(Action::CtClear), "ct_clear");
        assert_eq!(a(Action::Conjunction { id: 7, clause: 0, n_clauses: 2 }), "conjunction(7,1/2)");
        assert_eq!(actions(&[Action::output(PortNo(1)), Action::output(PortNo::LOCAL)]), "output:1,LOCAL");
    }

    #[test]
    fn actions_set_field() {
        assert_eq!(a(Action::SetField(fm(fields::reg(0), &[0, 0, 0, 1], &[0, 0, 0, 0xf]))), "set_field:0x1/0xf->reg0");
        assert_eq!(a(Action::SetField(f(fields::reg(0), &[0, 0, 0, 0]))), "set_field:0->reg0");
        assert_eq!(a(Action::SetField(f(fields::ETH_SRC, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]))), "set_field:aa:bb:cc:dd:ee:ff->eth_src");
        assert_eq!(
            a(Action::SetField(fm(fields::ETH_DST, &[0xff, 0, 0, 0, 0, 0], &[0xff, 0, 0, 0, 0, 0]))),
            "set_field:ff:00:00:00:00:00/ff:00:00:00:00:00->eth_dst"
        );
        assert_eq!(a(Action::SetField(f(fields::VLAN_VID, &[0x10, 0x05]))), "set_field:4101->vlan_vid");
        assert_eq!(a(Action::SetField(f(fields::IP_DSCP, &[5]))), "set_field:5->ip_dscp");
        assert_eq!(a(Action::SetField(fm(fields::TCP_SRC, &[0, 0x50], &[0, 0xff]))), "set_field:80/0xff->tcp_src");
        assert_eq!(a(Action::SetField(fm(fields::IPV4_SRC, &[1, 2, 3, 0], &[255, 255, 255, 0]))), "set_field:1.2.3.0/24->ip_src");
        assert_eq!(a(Action::SetField(fm(fields::IPV4_DST, &[0, 2, 0, 4], &[0, 255, 0, 255]))), "set_field:0.2.0.4/0.255.0.255->ip_dst");
        assert_eq!(a(Action::SetField(f(fields::IPV6_FLABEL, &[0, 1, 0x23, 0x45]))), "set_field:0x12345->ipv6_label");
        assert_eq!(a(Action::SetField(f(fields::METADATA, &[0; 8]))), "set_field:0->metadata");
        assert_eq!(a(Action::SetField(f(fields::IN_PORT, &[0xff, 0xff, 0xff, 0xfe]))), "set_field:LOCAL->in_port");
        assert_eq!(a(Action::SetField(fm(fields::reg(1), &[0; 4], &[0; 4]))), "set_field:ANY->reg1");
        // OVS formats an exact ct_state value against a 16-bit "full" mask,
        // so all 32 mask bits are listed.
        assert_eq!(
            a(Action::SetField(f(fields::CT_STATE, &[0, 0, 0, 0x22]))),
            format!("set_field:-new+est-rel-rpl-inv+trk-snat-dnat{}->ct_state", "-[Unknown]".repeat(24))
        );
        assert_eq!(a(Action::SetField(fm(fields::CT_STATE, &[0, 0, 0, 0x22], &[0, 0, 0, 0x22]))), "set_field:+est+trk->ct_state");
        assert_eq!(a(Action::SetField(f(fields::TCP_FLAGS, &[0, 0x12]))), "set_field:syn|ack->tcp_flags");
        assert_eq!(a(Action::SetField(f(fields::IP_FRAG, &[1]))), "set_field:first->ip_frag");
        assert_eq!(a(Action::SetField(f(fields::PACKET_TYPE, &[0, 1, 8, 0]))), "set_field:packet_type=(1,0x800)->packet_type");
        assert_eq!(a(Action::SetField(f(fields::CT_LABEL, &[0; 16]))), "set_field:0->ct_label");
        assert_eq!(a(Action::SetField(f(fields::xreg(1), &[0, 0, 0, 1, 0, 0, 0, 0]))), "set_field:0x100000000->xreg1");
    }

    #[test]
    fn actions_move_load() {
        let r0 = sf(fields::reg(0), 0, 4);
        let r1 = sf(fields::reg(1), 4, 4);
        assert_eq!(a(Action::RegMove { src: r0, dst: r1 }), "move:NXM_NX_REG0[0..3]->NXM_NX_REG1[4..7]");
        assert_eq!(
            a(Action::CopyField { n_bits: 48, src: sf(fields::ETH_SRC, 0, 48), dst: sf(fields::ETH_DST, 0, 48) }),
            "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]"
        );
        assert_eq!(
            a(Action::CopyField { n_bits: 1, src: sf(fields::reg(0), 5, 1), dst: sf(fields::reg(1), 31, 1) }),
            "move:NXM_NX_REG0[5]->NXM_NX_REG1[31]"
        );
        assert_eq!(
            a(Action::CopyField { n_bits: 12, src: sf(fields::VLAN_VID, 0, 12), dst: sf(fields::reg(0), 0, 12) }),
            "move:OXM_OF_VLAN_VID[]->NXM_NX_REG0[0..11]"
        );
        assert_eq!(
            a(Action::CopyField { n_bits: 16, src: sf(OxmId::new(class::NXM_0, 0), 0, 16), dst: sf(fields::reg(0), 0, 16) }),
            "move:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15]"
        );
        assert_eq!(
            a(Action::CopyField { n_bits: 8, src: sf(OxmId::new(0x8000, 120), 0, 8), dst: sf(fields::reg(0), 0, 8) }),
            "move:OXM(0x8000,120)[0..7]->NXM_NX_REG0[0..7]"
        );
        assert_eq!(a(Action::RegLoad { dst: r0, value: 5 }), "load:0x5->NXM_NX_REG0[0..3]");
        assert_eq!(a(Action::RegLoad { dst: sf(fields::reg(2), 0, 32), value: 0 }), "load:0->NXM_NX_REG2[]");
    }

    #[test]
    fn actions_resubmit() {
        assert_eq!(a(Action::Resubmit { in_port: RESUBMIT_IN_PORT, table: Some(20), ct: false }), "resubmit(,20)");
        assert_eq!(a(Action::Resubmit { in_port: 4, table: None, ct: false }), "resubmit:4");
        assert_eq!(a(Action::Resubmit { in_port: 0xfffe, table: None, ct: false }), "resubmit:LOCAL");
        assert_eq!(a(Action::Resubmit { in_port: 3, table: Some(4), ct: false }), "resubmit(3,4)");
        assert_eq!(a(Action::Resubmit { in_port: RESUBMIT_IN_PORT, table: Some(4), ct: true }), "resubmit(,4,ct)");
        assert_eq!(a(Action::Resubmit { in_port: RESUBMIT_IN_PORT, table: None, ct: false }), "resubmit(,)");
    }

    #[test]
    fn actions_note_controller_conjunction() {
        assert_eq!(a(Action::Note(vec![1, 2, 3, 0, 0, 0])), "note:01.02.03.00.00.00");
        assert_eq!(a(Action::Note(vec![1, 2, 3])), "note:01.02.03.00.00.00");
        assert_eq!(a(Action::Note(vec![])), "note:00.00.00.00.00.00");
        assert_eq!(a(Action::Note(vec![9; 7])), "note:09.09.09.09.09.09.09.00.00.00.00.00.00.00");
        assert_eq!(a(Action::Controller(Controller::default())), "CONTROLLER:65535");
        assert_eq!(
            a(Action::Controller(Controller { max_len: 128, reason: 0, userdata: vec![1, 2], ..Controller::default() })),
            "controller(reason=no_match,max_len=128,userdata=01.02)"
        );
        assert_eq!(
            a(Action::Controller(Controller { pause: true, meter_id: Some(3), controller_id: 4, ..Controller::default() })),
            "controller(id=4,pause,meter_id=3)"
        );
        for (r, s) in [(2, "invalid_ttl"), (3, "action_set"), (4, "group"), (5, "packet_out"), (9, "9")] {
            assert_eq!(a(Action::Controller(Controller { reason: r, ..Controller::default() })), format!("controller(reason={s})"));
        }
        assert_eq!(a(Action::Controller(Controller { legacy: true, max_len: 0, ..Controller::default() })), "CONTROLLER:0");
    }

    #[test]
    fn raw_actions_and_instructions() {
        assert_eq!(a(Action::Experimenter { experimenter: 0x1234, data: vec![9, 9] }), "experimenter(0x1234,data=09.09)");
        assert_eq!(a(Action::Unknown { ty: 11, body: vec![0; 4] }), "unknown_action(type=11,data=00.00.00.00)");
        // A set_field of a field outside FIELDS, as the decoder keeps it.
        let mut b = bytes::BytesMut::new();
        OxmField::masked(
            OxmId::new(class::NXM_1, 111),
            {
                let mut v = vec![0u8; 16];
                v[15] = 8;
                v
            },
            {
                let mut v = vec![0u8; 16];
                v[15] = 8;
                v
            },
        )
        .encode(&mut b)
        .unwrap();
        b.extend_from_slice(&[0; 4]);
        assert_eq!(a(Action::Unknown { ty: 25, body: b.to_vec() }), "set_field:0x8/0x8->xxreg0");
        let mut b = bytes::BytesMut::new();
        OxmField::new(OxmId::new(class::NXM_0, 0), vec![0xff, 0xfe]).encode(&mut b).unwrap();
        b.extend_from_slice(&[0; 2]);
        assert_eq!(a(Action::Unknown { ty: 25, body: b.to_vec() }), "set_field:LOCAL->in_port");

        assert_eq!(instructions(&[]), "drop");
        assert_eq!(instructions(&[Instruction::ApplyActions(vec![])]), "drop");
        assert_eq!(
            instructions(&[
                Instruction::GotoTable(10),
                Instruction::WriteMetadata { metadata: 5, mask: 0xff },
                Instruction::WriteActions(vec![Action::output(PortNo(3))]),
                Instruction::ClearActions,
                Instruction::ApplyActions(vec![Action::output(PortNo(1))]),
                Instruction::Meter(4),
            ]),
            "meter:4,output:1,clear_actions,write_actions(output:3),write_metadata:0x5/0xff,goto_table:10"
        );
        assert_eq!(instructions(&[Instruction::WriteActions(vec![])]), "write_actions(drop)");
        assert_eq!(instructions(&[Instruction::WriteMetadata { metadata: 0, mask: u64::MAX }]), "write_metadata:0");
        assert_eq!(instructions(&[Instruction::Unknown { ty: 7, body: vec![1, 2, 3, 4] }]), "unknown_instruction(type=7,data=01.02.03.04)");
    }
}
