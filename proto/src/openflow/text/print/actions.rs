//! Actions and instructions.

use crate::openflow::action::{Action, Controller, Subfield};
use crate::openflow::instruction::Instruction;
use crate::openflow::oxm::{Format, OxmField};
use crate::openflow::port::PortNo;
use std::fmt::Write;

use super::ct::*;
use super::values::*;

pub(super) fn reason_name(r: u8) -> String {
    match r {
        0 => "no_match".into(),
        1 => "action".into(),
        2 => "invalid_ttl".into(),
        3 => "action_set".into(),
        4 => "group".into(),
        5 => "packet_out".into(),
        n => n.to_string(),
    }
}

pub(super) fn controller(c: &Controller) -> String {
    if c.reason == 1 && c.controller_id == 0 && c.userdata.is_empty() && !c.pause && c.meter_id.is_none() {
        return format!("CONTROLLER:{}", c.max_len);
    }
    let mut parts = Vec::new();
    if c.reason != 1 {
        parts.push(format!("reason={}", reason_name(c.reason)));
    }
    if c.max_len != u16::MAX {
        parts.push(format!("max_len={}", c.max_len));
    }
    if c.controller_id != 0 {
        parts.push(format!("id={}", c.controller_id));
    }
    if !c.userdata.is_empty() {
        parts.push(format!("userdata={}", dotted_hex(&c.userdata)));
    }
    if c.pause {
        parts.push("pause".into());
    }
    if let Some(m) = c.meter_id {
        parts.push(format!("meter_id={m}"));
    }
    format!("controller({})", parts.join(","))
}

/// `load:` segments of an NXAST_REG_LOAD (one, since it loads one
/// contiguous range).
pub(super) fn reg_load(dst: &Subfield, value: u64) -> String {
    format!("load:{}->{}", cx(value), subfield(dst))
}

/// The note bytes as they travel (padded so the action is a multiple of 8
/// bytes and the note at least 6 bytes), which is what a peer prints.
pub(super) fn note_padded(n: &[u8]) -> Vec<u8> {
    let mut v = n.to_vec();
    if v.len() < 6 {
        v.resize(6, 0);
    }
    // 10 bytes of header and subtype come before the note.
    let pad = (8 - (10 + v.len()) % 8) % 8;
    v.resize(v.len() + pad, 0);
    v
}

/// A `set_field` of a field outside `FIELDS` (kept raw by the decoder):
/// printed by name when Open vSwitch has one for it, else as
/// `set_field:0x…->OXM(class,field)`.
pub(super) fn unknown_set_field(body: &[u8]) -> Option<String> {
    let mut r = crate::wire::Reader::new(body);
    let f = OxmField::decode(&mut r).ok()?;
    Some(set_field_other(&f))
}

/// `set_field` of a field outside `FIELDS`: by Open vSwitch's name for it
/// when it has one, else `set_field:0x…->OXM(class,field)`.
pub(super) fn set_field_other(f: &OxmField) -> String {
    let (name, format) = match extra_field(f.id) {
        Some(e) => (e.name.to_string(), e.format),
        None => (f.id.name(), Format::Hex),
    };
    let mut mask = f.mask.as_deref();
    if let Some(m) = mask {
        if m.iter().all(|&b| b == 0) {
            return format!("set_field:ANY->{name}");
        }
        if m.iter().all(|&b| b == 0xff) {
            mask = None;
        }
    }
    let v = f.value_u128();
    let mut s = match format {
        Format::Port if mask.is_none() => format!("set_field:{}", port16(v as u16)),
        Format::Port | Format::Decimal if f.value.len() <= 8 => format!("set_field:{v}"),
        _ => format!("set_field:{}", hex_bytes(&f.value)),
    };
    if let Some(m) = mask {
        s.push('/');
        s.push_str(&hex_bytes(m));
    }
    let _ = write!(s, "->{name}");
    s
}

/// One action.
pub fn action(a: &Action) -> String {
    match a {
        Action::Output { port: p, max_len } => {
            let mut s = String::new();
            let p16 = p.to_of10();
            if matches!(p16, Some(x) if x < 0xff00) {
                s.push_str("output:");
            }
            s.push_str(&port(*p));
            if *p == PortNo::CONTROLLER {
                let _ = write!(s, ":{max_len}");
            }
            s
        }
        Action::Group(g) => format!("group:{g}"),
        Action::SetQueue(q) => format!("set_queue:{q}"),
        // A field podflow only writes (the 16-bit NXM in_port, xxreg0…)
        // prints as Open vSwitch prints it, as a raw one does.
        Action::SetField(f) if f.id.def().is_none() => set_field_other(f),
        Action::SetField(f) => format!("set_field:{}->{}", field_value(f), f.id.name()),
        Action::PushVlan(e) => format!("push_vlan:{}", cx(*e as u64)),
        Action::PopVlan => "pop_vlan".into(),
        Action::SetNwTtl(t) => format!("mod_nw_ttl:{t}"),
        Action::DecNwTtl | Action::NxDecTtl => "dec_ttl".into(),
        Action::CopyField { src, dst, .. } | Action::RegMove { src, dst } => {
            format!("move:{}->{}", subfield(src), subfield(dst))
        }
        Action::Meter(m) => format!("meter:{m}"),
        Action::Resubmit { in_port, table, ct } => {
            let table = table.unwrap_or(0xff);
            if *in_port != 0xfff8 && table == 0xff {
                format!("resubmit:{}", port16(*in_port))
            } else {
                let mut s = String::from("resubmit(");
                if *in_port != 0xfff8 {
                    s.push_str(&port16(*in_port));
                }
                s.push(',');
                if table != 0xff {
                    let _ = write!(s, "{table}");
                }
                if *ct {
                    s.push_str(",ct");
                }
                s.push(')');
                s
            }
        }
        Action::RegLoad { dst, value } => reg_load(dst, *value),
        Action::Note(n) => format!("note:{}", dotted_hex(&note_padded(n))),
        Action::Ct(c) => ct(c),
        Action::CtClear => "ct_clear".into(),
        Action::Nat(n) => nat(n),
        Action::Controller(c) => controller(c),
        Action::Conjunction { id, clause, n_clauses } => format!("conjunction({id},{}/{n_clauses})", *clause as u16 + 1),
        Action::Experimenter { experimenter, data } => {
            format!("experimenter({experimenter:#x},data={})", dotted_hex(data))
        }
        Action::Unknown { ty: 25, body } => match unknown_set_field(body) {
            Some(s) => s,
            None => format!("unknown_action(type=25,data={})", dotted_hex(body)),
        },
        Action::Unknown { ty, body } => {
            format!("unknown_action(type={ty},data={})", dotted_hex(body))
        }
        other => ext_action(other),
    }
}

/// The actions of `action::ext`, as `ovs-ofctl` prints them.
pub(super) fn ext_action(a: &Action) -> String {
    match a {
        Action::OutputReg { src, .. } => format!("output:{}", subfield(src)),
        Action::OutputTrunc { port, max_len } => {
            format!("output(port={},max_len={max_len})", port16(*port))
        }
        Action::PopQueue => "pop_queue".into(),
        Action::Exit => "exit".into(),
        Action::DecNshTtl => "dec_nsh_ttl".into(),
        Action::FinTimeout { idle, hard } => {
            let mut parts = vec![];
            if *idle != 0 {
                parts.push(format!("idle_timeout={idle}"));
            }
            if *hard != 0 {
                parts.push(format!("hard_timeout={hard}"));
            }
            format!("fin_timeout({})", parts.join(","))
        }
        Action::Clone(list) => format!("clone({})", actions_or_empty(list)),
        Action::StackPush(sf) => format!("push:{}", subfield(sf)),
        Action::StackPop(sf) => format!("pop:{}", subfield(sf)),
        Action::PushMpls(e) => format!("push_mpls:0x{e:04x}"),
        Action::PopMpls(e) => format!("pop_mpls:0x{e:04x}"),
        Action::SetMplsTtl(t) => format!("set_mpls_ttl({t})"),
        Action::DecMplsTtl => "dec_mpls_ttl".into(),
        Action::Learn(l) => super::super::learn::format_learn(l),
        Action::Bundle(b) => super::super::hash_actions::format_bundle(b),
        Action::Multipath(m) => super::super::hash_actions::format_multipath(m),
        Action::Encap(e) => super::super::encap::format_encap(e),
        Action::Decap(pt) => super::super::encap::format_decap(*pt),
        Action::CheckPktLarger { pkt_len, dst } => {
            format!("check_pkt_larger({pkt_len})->{}", subfield(dst))
        }
        Action::Sample(sm) => {
            let mut s = format!(
                "sample(probability={},collector_set_id={},obs_domain_id={},obs_point_id={}",
                sm.probability, sm.collector_set_id, sm.obs_domain_id, sm.obs_point_id
            );
            if let Some(p) = sm.sampling_port {
                let _ = write!(s, ",sampling_port={}", port16(p));
            }
            s.push_str(match sm.direction {
                1 => ",ingress)",
                2 => ",egress)",
                _ => ")",
            });
            s
        }
        other => format!("{other:?}"),
    }
}

/// Nested actions: empty prints as nothing (`clone()`), not `drop`.
pub(super) fn actions_or_empty(a: &[Action]) -> String {
    a.iter().map(action).collect::<Vec<_>>().join(",")
}

/// An action list, comma-separated (`drop` when empty).
pub fn actions(a: &[Action]) -> String {
    if a.is_empty() {
        return "drop".into();
    }
    a.iter().map(action).collect::<Vec<_>>().join(",")
}

pub(super) fn instruction_rank(i: &Instruction) -> u8 {
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
    let mut sorted: Vec<&Instruction> = list.iter().collect();
    sorted.sort_by_key(|i| instruction_rank(i));
    let mut parts: Vec<String> = Vec::new();
    for i in sorted {
        match i {
            Instruction::Meter(m) => parts.push(format!("meter:{m}")),
            Instruction::ApplyActions(a) => parts.extend(a.iter().map(action)),
            Instruction::ClearActions => parts.push("clear_actions".into()),
            Instruction::WriteActions(a) => {
                parts.push(format!("write_actions({})", actions(a)));
            }
            Instruction::WriteMetadata { metadata, mask } => {
                if *mask == u64::MAX {
                    parts.push(format!("write_metadata:{}", cx(*metadata)));
                } else {
                    parts.push(format!("write_metadata:{}/{}", cx(*metadata), cx(*mask)));
                }
            }
            Instruction::GotoTable(t) => parts.push(format!("goto_table:{t}")),
            Instruction::Unknown { ty, body } => parts.push(format!("unknown_instruction(type={ty},data={})", dotted_hex(body))),
        }
    }
    if parts.is_empty() {
        "drop".into()
    } else {
        parts.join(",")
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
