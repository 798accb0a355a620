//! Parser for the `ovs-ofctl add-flow` flow syntax (Open vSwitch 3.1,
//! OpenFlow 1.5 semantics) into [`FlowMod`].
//!
//! The result is what `ovs-ofctl -O OpenFlow15` would send for the same
//! text: OVS-only spellings (`nw_tos`, `dl_vlan`, `vlan_tci`, `load`,
//! `mod_*`, …) are translated to the OpenFlow 1.5 fields and actions Open
//! vSwitch encodes for them. Errors carry a 1-based column pointing into the
//! input and say what was expected there.
//!
//! Translations worth knowing (all checked against `ovs-ofctl` by
//! `tests/parse_oracle.rs`):
//! - `dl_vlan`, `dl_vlan_pcp`, `vlan_tci`, `vlan_vid`, `vlan_pcp` combine
//!   into one 802.1Q TCI and come out as OXM `vlan_vid` (with the present
//!   bit) and `vlan_pcp`, never as `NXM_OF_VLAN_TCI`.
//! - `nw_tos=T` matches `ip_dscp=T>>2`; `tp_src`/`tp_dst` (and any of
//!   tcp/udp/sctp ports) follow the matched IP protocol; `icmp_type`/`code`
//!   follow the IP version; `nw_src`/`nw_dst`/`nw_proto` become
//!   `arp_spa`/`arp_tpa`/`arp_op` for ARP.
//! - `load` becomes a (masked) `SetField`, `move` a `CopyField`,
//!   `mod_vlan_vid` a `push_vlan` (when the match has no VLAN) plus
//!   `set_field`, `strip_vlan` a `pop_vlan`, `dec_ttl` OFPAT_DEC_NW_TTL,
//!   `controller` without options an output to CONTROLLER; `meter` is the
//!   OpenFlow 1.5 action and must come first.
//! - Match fields are ordered so prerequisites come first (OVS's decoder
//!   requires it); values are cleared outside their masks.
//!
//! Deliberate differences from `ovs-ofctl`: a field whose prerequisites are
//! missing is an error (OVS silently drops it); out-of-range IPv4 octets are
//! an error (OVS wraps them); `apply_actions(…)` is accepted as the plain
//! action list (OVS refuses it); spec and NXM field names from
//! `oxm::FIELDS` (`ipv4_src`, `NXM_NX_REG0`, …) are accepted in matches;
//! `move` to or from `OXM_OF_IN_PORT` (32 bits in Open vSwitch, 16 here) is
//! refused, while `NXM_OF_IN_PORT` works as in Open vSwitch. Port names
//! resolve inside [`super::with_port_map`] (the bridge's ports). `enqueue`
//! becomes `set_queue`, `output` and `pop_queue`, as in Open vSwitch.
//!
//! The parser is split by concern: [`super::lex`], [`super::value`],
//! [`super::matching`], [`super::actions`] with [`super::ct`],
//! [`super::ext_actions`], [`super::learn`], [`super::hash_actions`] and
//! [`super::encap`]; this module holds the public entry points.

use super::super::flow::{FlowMod, FlowModCommand, TABLE_ALL};
use super::super::oxm::{fields, OxmField, OFPVID_PRESENT};
use super::actions::*;
use super::lex::*;
use super::matching::*;
use std::fmt;

/// A flow text that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number, for [`flows_file`].
    pub line: Option<usize>,
    /// 1-based column (in bytes) where the problem starts.
    pub column: usize,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.line {
            write!(f, "line {l}, ")?;
        }
        write!(f, "column {}: expected {}, found {:?}", self.column, self.expected, self.found)
    }
}

impl std::error::Error for ParseError {}

/* ------------------------------------------------------------------ */
/* Public API.                                                          */
/* ------------------------------------------------------------------ */

fn flow_inner(s: &str) -> R<FlowMod> {
    flow_command(s, FlowModCommand::ADD)
}

/// A flow with actions for ADD, MODIFY or MODIFY_STRICT.
fn flow_command(s: &str, command: FlowModCommand) -> R<FlowMod> {
    let mode = if command == FlowModCommand::ADD { Mode::Add } else { Mode::Modify };
    let mut fm = FlowMod { command, ..FlowMod::default() };
    let Some(ai) = s.find("action") else {
        return fail_found(at(s, s.len()), "actions=… (a flow must specify its actions)", "end of input");
    };
    let match_text = &s[..ai];
    let after = &s[ai..];
    let Some(eq) = after.find('=') else {
        return fail(after, "`=` after actions");
    };
    let actions_text = &after[eq + 1..];
    let (m, table) = parse_match(match_text, &mut fm, mode)?;
    if mode == Mode::Modify {
        fm.cookie &= fm.cookie_mask;
    }
    // For action checks, a packet_type of (1,TYPE) implies eth_type TYPE.
    let pt = m.exact(fields::PACKET_TYPE).map(|v| v as u32);
    let mut checked = m.clone();
    if let Some(p) = pt.filter(|p| p >> 16 == 1) {
        checked.fields.insert(0, OxmField::new(fields::ETH_TYPE, (p as u16).to_be_bytes()));
    }
    let mut ctx = Ctx {
        m: &checked,
        ethernet: matches!(pt, None | Some(0)),
        table,
        has_vlan: m.get(fields::VLAN_VID).is_some_and(|f| {
            let v = f.value_u128() as u16;
            let mk = f.mask_u128().map_or(0xffff, |x| x as u16);
            v & mk & OFPVID_PRESENT != 0
        }),
        dl_type: checked.exact(fields::ETH_TYPE).map(|v| v as u16),
    };
    let items = parse_actions(actions_text, &mut ctx, Outer::Top, true)?;
    fm.instructions = build_instructions(items);
    fm.r#match = m;
    Ok(fm)
}

/// Parses one `ovs-ofctl add-flow` line into an OFPFC_ADD [`FlowMod`].
pub fn flow(s: &str) -> Result<FlowMod, ParseError> {
    flow_inner(s).map_err(|e| to_public(s, None, e))
}

/// Parses a `dump-flows`/`del-flows` flow criteria argument: a match plus
/// `table=`, `cookie=V/MASK`, `out_port=` and `out_group=`. The result has
/// command DELETE, `table_id` 255 (all tables) unless given, and no
/// instructions; callers building a flow stats request copy what they need.
pub fn flow_criteria(s: &str) -> Result<FlowMod, ParseError> {
    flow_delete(s, false)
}

/// Parses a `del-flows` argument: [`flow_criteria`] as DELETE, or with
/// `strict` as DELETE_STRICT (which also takes `priority=`).
pub fn flow_delete(s: &str, strict: bool) -> Result<FlowMod, ParseError> {
    let inner = || -> R<FlowMod> {
        let (command, mode) = if strict {
            (FlowModCommand::DELETE_STRICT, Mode::CriteriaStrict)
        } else {
            (FlowModCommand::DELETE, Mode::Criteria)
        };
        let mut fm = FlowMod { command, table_id: TABLE_ALL, ..FlowMod::default() };
        fm.r#match = parse_match(s, &mut fm, mode)?.0;
        fm.cookie &= fm.cookie_mask;
        Ok(fm)
    };
    inner().map_err(|e| to_public(s, None, e))
}

/// Parses a `mod-flows` argument: a flow with actions, sent as MODIFY (or
/// MODIFY_STRICT with `strict`). As in `ovs-ofctl`, the table defaults to
/// 0, `importance` is refused, and a cookie without a mask is not sent
/// (OpenFlow 1.5 has no way to change it in a modify).
pub fn flow_modify(s: &str, strict: bool) -> Result<FlowMod, ParseError> {
    let command = if strict { FlowModCommand::MODIFY_STRICT } else { FlowModCommand::MODIFY };
    flow_command(s, command).map_err(|e| to_public(s, None, e))
}

/// Parses an `add-flows` file: one flow per line. As in `ovs-ofctl`, a `#`
/// starts a comment that runs to the end of its line, and lines that are
/// blank after removing comments are skipped. Returns each flow with its
/// 1-based line number; errors carry the line number too.
pub fn flows_file(text: &str) -> Result<Vec<(usize, FlowMod)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(r) = flow_line(line, i + 1) {
            out.push((i + 1, r?));
        }
    }
    Ok(out)
}

/// Parses line `number` of an `add-flows` file (see [`flows_file`]):
/// `None` for a line that is blank once its `#` comment is removed. For
/// callers that parse a file a line at a time (streaming).
pub fn flow_line(line: &str, number: usize) -> Option<Result<FlowMod, ParseError>> {
    let line = match line.find('#') {
        Some(c) => &line[..c],
        None => line,
    };
    if line.trim().is_empty() {
        return None;
    }
    Some(flow_inner(line).map_err(|e| to_public(line, Some(number), e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::action::{
        ct_flags, nat_flags, types, Action, CtZone, Nat, NatAddrRange, Subfield, RESUBMIT_IN_PORT,
    };
    use crate::openflow::flow::DEFAULT_PRIORITY;
    use crate::openflow::instruction::Instruction;
    use crate::openflow::oxm::OxmId;
    use crate::openflow::port::PortNo;
    use std::net::Ipv4Addr;

    fn apply(fm: &FlowMod) -> &[Action] {
        match fm.instructions.first() {
            Some(Instruction::ApplyActions(a)) => a,
            other => panic!("expected apply_actions, got {other:?}"),
        }
    }

    fn acts(s: &str) -> Vec<Action> {
        let fm = flow(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        apply(&fm).to_vec()
    }

    fn field(fm: &FlowMod, id: OxmId) -> (u128, Option<u128>) {
        let f = fm.r#match.get(id).unwrap_or_else(|| panic!("no {} in {:?}", id.name(), fm.r#match));
        (f.value_u128(), f.mask_u128())
    }

    fn err(s: &str) -> ParseError {
        match flow(s) {
            Ok(f) => panic!("{s}: expected an error, parsed {f:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn flow_keywords() {
        let fm = flow("table=3,priority=100,cookie=0x10,idle_timeout=5,hard_timeout=6,importance=7,send_flow_rem,check_overlap,reset_counts,no_packet_counts,no_byte_counts actions=drop").unwrap();
        assert_eq!(
            (fm.table_id, fm.priority, fm.cookie, fm.idle_timeout, fm.hard_timeout, fm.importance),
            (3, 100, 0x10, 5, 6, 7)
        );
        assert_eq!(fm.flags, 0x1f);
        assert_eq!(fm.command, FlowModCommand::ADD);
        assert!(fm.instructions.is_empty());
        let fm = flow("actions=drop").unwrap();
        assert_eq!(fm.priority, DEFAULT_PRIORITY);
        assert!(fm.r#match.is_empty());
    }

    #[test]
    fn protocols_and_aliases() {
        let fm = flow("tcp6,tp_src=80 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::ETH_TYPE).0, 0x86dd);
        assert_eq!(field(&fm, fields::IP_PROTO).0, 6);
        assert_eq!(field(&fm, fields::TCP_SRC).0, 80);
        let fm = flow("tp_dst=53,udp actions=drop").unwrap();
        assert_eq!(field(&fm, fields::UDP_DST).0, 53);
        assert!(fm.r#match.get(fields::TCP_DST).is_none());
        let fm = flow("sctp,tp_dst=0x50/0xfff0 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::SCTP_DST), (0x50, Some(0xfff0)));
        let fm = flow("icmp6,icmp_type=135,icmp_code=0 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::ICMPV6_TYPE).0, 135);
        assert_eq!(field(&fm, fields::ICMPV6_CODE).0, 0);
        let fm = flow("dl_type=0x0806,nw_src=1.2.3.4,nw_proto=2 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::ARP_SPA).0, 0x01020304);
        assert_eq!(field(&fm, fields::ARP_OP).0, 2);
        let fm = flow("ip,nw_tos=0x22,nw_ecn=1 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::IP_DSCP).0, 8);
        assert_eq!(field(&fm, fields::IP_ECN).0, 1);
        // Prerequisites come first on the wire whatever the text order.
        let fm = flow("tp_dst=443,tcp actions=drop").unwrap();
        assert_eq!(fm.r#match.fields.last().unwrap().id, fields::TCP_DST);
    }

    #[test]
    fn addresses() {
        let fm = flow("ip,nw_src=10.1.2.3/16,nw_dst=1.2.3.4/255.0.255.0 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::IPV4_SRC), (0x0a010000, Some(0xffff0000)));
        assert_eq!(field(&fm, fields::IPV4_DST), (0x01000300, Some(0xff00ff00)));
        let fm = flow("ip,nw_src=10.1.2.3/32,nw_dst=1.2.3.4/0 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::IPV4_SRC), (0x0a010203, None));
        assert!(fm.r#match.get(fields::IPV4_DST).is_none());
        let fm = flow("ipv6,ipv6_src=2001:db8::1/32 actions=drop").unwrap();
        let (v, m) = field(&fm, fields::IPV6_SRC);
        assert_eq!(v, 0x2001_0db8u128 << 96);
        assert_eq!(m, Some(0xffff_ffffu128 << 96));
        let fm = flow("dl_src=00:11:22:33:44:55,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::ETH_SRC).0, 0x001122334455);
        assert_eq!(field(&fm, fields::ETH_DST), (0x010000000000, Some(0x010000000000)));
        let fm = flow("in_port=LOCAL actions=drop").unwrap();
        assert_eq!(field(&fm, fields::IN_PORT).0, 0xffff_fffe);
        let fm = flow("in_port=7 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::IN_PORT).0, 7);
    }

    #[test]
    fn vlan_forms() {
        let fm = flow("dl_vlan=5 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::VLAN_VID), (0x1005, None));
        let fm = flow("dl_vlan_pcp=3 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::VLAN_VID), (0x1000, Some(0x1000)));
        assert_eq!(field(&fm, fields::VLAN_PCP), (3, None));
        let fm = flow("vlan_tci=0x1000/0x1000 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::VLAN_VID), (0x1000, Some(0x1000)));
        assert!(fm.r#match.get(fields::VLAN_PCP).is_none());
        let fm = flow("vlan_tci=0 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::VLAN_VID), (0, None));
        // A PCP without the present bit has no valid OpenFlow 1.5 form.
        assert!(flow("vlan_tci=0x6005 actions=drop").is_err());
        let fm = flow("vlan_tci=0x7005 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::VLAN_VID), (0x1005, None));
        assert_eq!(field(&fm, fields::VLAN_PCP), (3, None));
        assert!(fm.r#match.get(fields::VLAN_TCI).is_none());
    }

    #[test]
    fn special_formats() {
        let fm = flow("ct_state=+trk+est-new actions=drop").unwrap();
        assert_eq!(field(&fm, fields::CT_STATE), (0x22, Some(0x23)));
        let fm = flow("ct_state=0x21/0x21 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::CT_STATE), (0x21, Some(0x21)));
        let fm = flow("tcp,tcp_flags=+syn-ack actions=drop").unwrap();
        assert_eq!(field(&fm, fields::TCP_FLAGS), (0x002, Some(0x012)));
        let fm = flow("packet_type=(0,0x800) actions=drop").unwrap();
        assert_eq!(field(&fm, fields::PACKET_TYPE), (0x800, None));
        let fm = flow("ct_label=0x1000000000000000000000000000000f/0xffffffffffffffffffffffffffffffff actions=drop")
            .unwrap();
        assert_eq!(field(&fm, fields::CT_LABEL), ((1u128 << 124) | 0xf, None));
        let fm = flow("ct_mark=5/0xff,ct_zone=3,conj_id=9,tun_id=0x10,reg3=7,xreg2=0x1/0x1,metadata=1 actions=drop")
            .unwrap();
        assert_eq!(field(&fm, fields::CT_MARK), (5, Some(0xff)));
        assert_eq!(field(&fm, fields::CT_ZONE).0, 3);
        assert_eq!(field(&fm, fields::CONJ_ID).0, 9);
        assert_eq!(field(&fm, fields::TUNNEL_ID).0, 0x10);
        // reg3 is the low half of xreg1.
        assert_eq!(field(&fm, fields::xreg(1)), (7, Some(0xffff_ffff)));
        assert_eq!(field(&fm, fields::xreg(2)), (1, Some(1)));
        let fm = flow("reg0[4..7]=5,NXM_NX_REG1=3 actions=drop").unwrap();
        assert_eq!(field(&fm, fields::xreg(0)), (0x50 << 32 | 3, Some(0xf0 << 32 | 0xffff_ffff)));
        // The later setting wins on the bits both cover, as in Open vSwitch.
        let fm = flow("xreg7=0x1,reg15=0xffffffff actions=drop").unwrap();
        assert_eq!(field(&fm, fields::xreg(7)), (0xffff_ffff, None));
        // Setting an xreg replaces all of it, as Open vSwitch does.
        let fm = flow("reg14=2,xreg7=0x5/0xff actions=drop").unwrap();
        assert_eq!(field(&fm, fields::xreg(7)), (5, Some(0xff)));
        let fm = flow("ip,ip_frag=later actions=drop").unwrap();
        assert_eq!(field(&fm, fields::IP_FRAG), (3, Some(3)));
    }

    #[test]
    fn output_family() {
        assert_eq!(
            acts("actions=1,output:2,LOCAL,IN_PORT,NORMAL,FLOOD,ALL"),
            vec![
                Action::output(PortNo(1)),
                Action::output(PortNo(2)),
                Action::output(PortNo::LOCAL),
                Action::output(PortNo::IN_PORT),
                Action::output(PortNo::NORMAL),
                Action::output(PortNo::FLOOD),
                Action::output(PortNo::ALL),
            ]
        );
        assert_eq!(acts("actions=CONTROLLER"), vec![Action::Output { port: PortNo::CONTROLLER, max_len: 0xffff }]);
        assert_eq!(acts("actions=CONTROLLER:128"), vec![Action::Output { port: PortNo::CONTROLLER, max_len: 128 }]);
        match &acts("actions=controller(reason=no_match,id=3,max_len=64)")[0] {
            Action::Controller(c) => {
                assert_eq!((c.reason, c.controller_id, c.max_len, c.legacy), (0, 3, 64, true));
            }
            a => panic!("{a:?}"),
        }
        match &acts("actions=controller(userdata=01.02,pause,meter_id=4)")[0] {
            Action::Controller(c) => {
                assert_eq!((c.userdata.clone(), c.pause, c.meter_id, c.legacy), (vec![1, 2], true, Some(4), false));
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(acts("actions=group:5,set_queue:3"), vec![Action::Group(5), Action::SetQueue(3)]);
        assert_eq!(acts("actions=meter:2,output:1"), vec![Action::Meter(2), Action::output(PortNo(1))]);
    }

    #[test]
    fn vlan_and_ttl_actions() {
        assert_eq!(
            acts("actions=mod_vlan_vid:5"),
            vec![Action::PushVlan(0x8100), Action::SetField(OxmField::new(fields::VLAN_VID, 0x1005u16.to_be_bytes()))]
        );
        assert_eq!(
            acts("dl_vlan=1 actions=mod_vlan_pcp:3,strip_vlan,push_vlan:0x8100,pop_vlan"),
            vec![
                Action::SetField(OxmField::new(fields::VLAN_PCP, [3])),
                Action::PopVlan,
                Action::PushVlan(0x8100),
                Action::PopVlan
            ]
        );
        assert_eq!(
            acts("ip actions=dec_ttl,mod_nw_ttl:7,set_nw_ttl:8"),
            vec![Action::DecNwTtl, Action::SetNwTtl(7), Action::SetNwTtl(8)]
        );
    }

    #[test]
    fn set_field_load_move() {
        assert_eq!(
            acts("actions=set_field:0x5/0xff->reg3"),
            vec![Action::SetField(OxmField::masked(fields::reg(3), [0, 0, 0, 5], [0, 0, 0, 0xff]))]
        );
        assert_eq!(
            acts("actions=load:5->NXM_NX_REG0[4..7]"),
            vec![Action::SetField(OxmField::masked(fields::reg(0), [0, 0, 0, 0x50], [0, 0, 0, 0xf0]))]
        );
        assert_eq!(
            acts("actions=load:0xdeadbeef->reg0[]"),
            vec![Action::SetField(OxmField::new(fields::reg(0), [0xde, 0xad, 0xbe, 0xef]))]
        );
        assert_eq!(
            acts("actions=move:reg0[0..15]->NXM_NX_REG1[16..31]"),
            vec![Action::CopyField {
                n_bits: 16,
                src: Subfield { field: fields::reg(0), ofs: 0, n_bits: 16 },
                dst: Subfield { field: fields::reg(1), ofs: 16, n_bits: 16 },
            }]
        );
        assert_eq!(
            acts("tcp actions=mod_tp_dst:80,mod_dl_src:00:00:00:00:00:01"),
            vec![
                Action::SetField(OxmField::new(fields::TCP_DST, 80u16.to_be_bytes())),
                Action::SetField(OxmField::new(fields::ETH_SRC, [0, 0, 0, 0, 0, 1])),
            ]
        );
        assert_eq!(
            acts("ip actions=mod_nw_tos:32,mod_nw_src:1.2.3.4"),
            vec![
                Action::SetField(OxmField::new(fields::IP_DSCP, [8])),
                Action::SetField(OxmField::new(fields::IPV4_SRC, [1, 2, 3, 4])),
            ]
        );
    }

    #[test]
    fn nicira_actions() {
        assert_eq!(acts("actions=resubmit:3"), vec![Action::Resubmit { in_port: 3, table: None, ct: false }]);
        assert_eq!(
            acts("actions=resubmit(,5)"),
            vec![Action::Resubmit { in_port: RESUBMIT_IN_PORT, table: Some(5), ct: false }]
        );
        assert_eq!(acts("actions=resubmit(2,5)"), vec![Action::Resubmit { in_port: 2, table: Some(5), ct: false }]);
        assert_eq!(
            acts("ct_state=+trk+est actions=resubmit(,7,ct)"),
            vec![Action::Resubmit { in_port: RESUBMIT_IN_PORT, table: Some(7), ct: true }]
        );
        assert_eq!(acts("actions=note:01.02.03"), vec![Action::Note(vec![1, 2, 3, 0, 0, 0])]);
        assert_eq!(acts("actions=conjunction(7,2/3)"), vec![Action::Conjunction { id: 7, clause: 1, n_clauses: 3 }]);
        // alg=ftp needs tcp.
        assert!(flow("ip actions=ct(commit,alg=ftp)").is_err());
        let fm = flow("tcp actions=ct(commit,force,zone=NXM_NX_REG0[0..15],table=3,alg=ftp,exec(set_field:1->ct_mark),nat(src=1.2.3.4-1.2.3.5:100-200,persistent,random))").unwrap();
        match &apply(&fm)[0] {
            Action::Ct(ct) => {
                assert_eq!(ct.flags, ct_flags::COMMIT | ct_flags::FORCE);
                assert_eq!(ct.zone, CtZone::Field(Subfield { field: fields::reg(0), ofs: 0, n_bits: 16 }));
                assert_eq!((ct.table, ct.alg), (Some(3), 21));
                assert_eq!(ct.actions[0], Action::SetField(OxmField::new(fields::CT_MARK, [0, 0, 0, 1])));
                assert_eq!(
                    ct.actions[1],
                    Action::Nat(Nat {
                        flags: nat_flags::SRC | nat_flags::PERSISTENT | nat_flags::PROTO_RANDOM,
                        addr: Some(NatAddrRange::V4(Ipv4Addr::new(1, 2, 3, 4), Some(Ipv4Addr::new(1, 2, 3, 5)))),
                        proto_min: Some(100),
                        proto_max: Some(200),
                    })
                );
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(acts("ip actions=ct_clear"), vec![Action::CtClear]);
        match &acts("ipv6 actions=ct(nat(dst=[2001:db8::1]:443))")[0] {
            Action::Ct(ct) => assert_eq!(
                ct.actions[0],
                Action::Nat(Nat {
                    flags: nat_flags::DST,
                    addr: Some(NatAddrRange::V6("2001:db8::1".parse().unwrap(), None)),
                    proto_min: Some(443),
                    proto_max: None,
                })
            ),
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn instructions() {
        let fm =
            flow("actions=meter:1,output:2,clear_actions,write_actions(output:3),write_metadata:0x1/0xff,goto_table:4")
                .unwrap();
        assert_eq!(
            fm.instructions,
            vec![
                Instruction::ApplyActions(vec![Action::Meter(1), Action::output(PortNo(2))]),
                Instruction::ClearActions,
                Instruction::WriteActions(vec![Action::output(PortNo(3))]),
                Instruction::WriteMetadata { metadata: 1, mask: 0xff },
                Instruction::GotoTable(4),
            ]
        );
        let fm = flow("actions=write_metadata:0x5").unwrap();
        assert_eq!(fm.instructions, vec![Instruction::WriteMetadata { metadata: 5, mask: u64::MAX }]);
    }

    #[test]
    fn encodes_set_field_for_load() {
        // The encoder sees an OpenFlow 1.5 SET_FIELD, as OVS sends for load.
        let a = &acts("actions=load:1->reg2[3]")[0];
        let mut b = bytes::BytesMut::new();
        a.encode(&mut b).unwrap();
        assert_eq!(u16::from_be_bytes([b[0], b[1]]), types::SET_FIELD);
    }

    #[test]
    fn error_columns() {
        let e = err("ip,nw_src=300.1.2.3 actions=drop");
        assert_eq!((e.column, e.expected.as_str(), e.found.as_str()), (11, "an IPv4 address", "300.1.2.3"));
        assert_eq!(e.to_string(), "column 11: expected an IPv4 address, found \"300.1.2.3\"");
        let e = err("ip,nw_dst=1.2.3.4/33 actions=drop");
        assert_eq!(e.column, 19);
        let e = err("foo=1 actions=drop");
        assert_eq!(e.column, 1);
        assert!(e.expected.contains("match field"), "{e}");
        let e = err("priority=70000 actions=drop");
        assert_eq!(e.column, 10);
        let e = err("ip actions=output:1,frob");
        assert_eq!((e.column, e.found.as_str()), (21, "frob"));
        let e = err("ip,nw_proto=6");
        assert!(e.expected.contains("actions"), "{e}");
        let e = err("tcp_dst=80 actions=drop");
        assert_eq!(e.column, 1);
        assert!(e.expected.contains("ip_proto=6"), "{e}");
        let e = err("actions=goto_table:2,output:1");
        assert_eq!(e.column, 22);
        assert!(e.expected.contains("apply_actions before goto_table"), "{e}");
        let e = err("actions=1,drop");
        assert_eq!(e.column, 11);
        let e = err("actions=load:16->reg0[0..3]");
        assert_eq!(e.column, 14);
        let e = err("actions=move:reg0[0..3]->reg1[0..4]");
        assert_eq!(e.column, 26);
        let e = err("ct_state=+trk+bogus actions=drop");
        assert_eq!((e.column, e.found.as_str()), (15, "bogus"));
        let e = err("dl_src=00:11:22:33:44 actions=drop");
        assert_eq!(e.column, 8);
        let e = err("actions=set_field:1.2.3.4->ip_src");
        assert_eq!(e.column, 28);
        let e = err("actions=resubmit(,1,xx)");
        assert_eq!(e.column, 21);
        assert_eq!(acts("actions=apply_actions(output:1,output:2)"), acts("actions=output:1,output:2"));
        let e = err("actions=goto_table:3,apply_actions(output:1)");
        assert_eq!(e.column, 22);
        let e = err("actions=write_actions(apply_actions(output:1))");
        assert_eq!(e.column, 23);
        let e = err("actions=ct(commit)");
        assert!(e.expected.contains("ip or ipv6"), "{e}");
    }

    #[test]
    fn criteria() {
        let fm = flow_criteria("table=2,cookie=0x10/-1,out_port=5,ip,nw_dst=10.0.0.1").unwrap();
        assert_eq!((fm.table_id, fm.cookie, fm.cookie_mask, fm.out_port), (2, 0x10, u64::MAX, PortNo(5)));
        assert_eq!(fm.command, FlowModCommand::DELETE);
        assert_eq!(field(&fm, fields::IPV4_DST).0, 0x0a000001);
        let fm = flow_criteria("").unwrap();
        assert_eq!(fm.table_id, TABLE_ALL);
        assert!(flow_criteria("cookie=5").is_err());
        assert!(flow_criteria("priority=5").is_err());
        assert!(flow("cookie=5/1 actions=drop").is_err());
        assert!(flow("out_port=1 actions=drop").is_err());
    }

    #[test]
    fn criteria_match_equals_flow_match() {
        for m in [
            "ip,nw_src=10.0.0.0/8",
            "tcp6,tp_dst=443,ipv6_dst=fe80::/10",
            "dl_vlan=5,dl_vlan_pcp=3,in_port=LOCAL",
            "arp,nw_src=1.2.3.4,nw_proto=1",
            "ct_state=+trk+est,reg0=5/0xff,reg1[0..3]=2",
            "packet_type=(1,0x800),nw_ttl=4",
        ] {
            let c = flow_criteria(m).unwrap_or_else(|e| panic!("{m}: {e}"));
            let f = flow(&format!("{m} actions=drop")).unwrap();
            assert_eq!(c.r#match, f.r#match, "{m}");
        }
        let e = flow_criteria("table=1,ip,nw_src=1.2.3").unwrap_err();
        assert_eq!(e.column, 19);
        let fm = flow_criteria("out_group=7,cookie=0x1/0xff").unwrap();
        assert_eq!((fm.out_group, fm.cookie, fm.cookie_mask), (7, 1, 0xff));
    }

    #[test]
    fn file() {
        let text = "# comment\n\ntable=0,ip actions=drop\n  # indented comment\npriority=5 actions=NORMAL # trailing\n";
        let v = flows_file(text).unwrap();
        assert_eq!(v.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![3, 5]);
        let e = flows_file("ip actions=drop\n\nip,nw_src=1.2.3.999 actions=drop\n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(3), 11));
        assert!(e.to_string().starts_with("line 3, column 11: expected an IPv4 address"), "{e}");
    }
}
