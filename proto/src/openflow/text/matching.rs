//! The match part of a flow (`table=`, `priority=`, cookies, timeouts,
//! protocols and fields) as `ovs-ofctl` reads it, into an OXM [`Match`]
//! ordered so prerequisites come first. Never parses actions.

use super::super::flow::{flags, FlowMod};
use super::super::oxm::{field_by_name, fields, Match, OxmField, OxmId};
use super::lex::*;
use super::value::*;

/// Match under construction, with OVS's 802.1Q TCI kept apart so that
/// `dl_vlan`, `dl_vlan_pcp`, `vlan_tci`, `vlan_vid` and `vlan_pcp` combine
/// as they do in Open vSwitch.
#[derive(Default)]
pub(super) struct MatchBuilder<'a> {
    pub(super) m: Match,
    /// (value, mask) of the OVS TCI: VID in bits 0-11, CFI/present 0x1000, PCP in 13-15.
    pub(super) tci: Option<(u16, u16)>,
    /// Text of the last setting of each field, for error positions.
    pub(super) origin: Vec<(OxmId, &'a str)>,
    pub(super) tci_origin: Option<&'a str>,
}

impl<'a> MatchBuilder<'a> {
    pub(super) fn put(&mut self, id: OxmId, value: Vec<u8>, mask: Option<Vec<u8>>, origin: &'a str) {
        // reg<2k> and reg<2k+1> are the high and low halves of xreg<k>: one
        // storage, as in Open vSwitch (which sends them as xregs in OpenFlow
        // 1.5). Fold them together so the later setting wins on the bits it
        // covers, instead of sending two fields the switch calls duplicates.
        if id.class == super::super::oxm::class::NXM_1 && id.field < 16 && id.experimenter.is_none() && value.len() == 4
        {
            let shift = if id.field.is_multiple_of(2) { 32 } else { 0 };
            let v = u32::from_be_bytes([value[0], value[1], value[2], value[3]]) as u64;
            let m = mask.as_ref().map_or(u32::MAX as u64, |m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as u64);
            return self.put_xreg(id.field / 2, v << shift, m << shift, (u32::MAX as u64) << shift, origin);
        }
        if id.class == super::super::oxm::class::PACKET_REGS
            && id.field < 8
            && id.experimenter.is_none()
            && value.len() == 8
        {
            let v = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
            let m = mask.as_ref().map_or(u64::MAX, |m| u64::from_be_bytes(m[..8].try_into().expect("8 bytes")));
            return self.put_xreg(id.field, v, m, u64::MAX, origin);
        }
        self.put_raw(id, value, mask, origin)
    }

    /// Replaces the `region` of xreg `k` (all of it for `xregK=`, one half
    /// for `regN=`) with `value`/`mask`, keeping the rest.
    pub(super) fn put_xreg(&mut self, k: u8, value: u64, mask: u64, region: u64, origin: &'a str) {
        let id = fields::xreg(k);
        let (ov, om) = match self.m.get(id) {
            Some(f) => (f.value_u128() as u64, f.mask_u128().map_or(u64::MAX, |m| m as u64)),
            None => (0, 0),
        };
        let v = (ov & !region) | (value & mask);
        let m = (om & !region) | mask;
        self.put_raw(id, v.to_be_bytes().to_vec(), Some(m.to_be_bytes().to_vec()), origin)
    }

    pub(super) fn put_raw(&mut self, id: OxmId, value: Vec<u8>, mask: Option<Vec<u8>>, origin: &'a str) {
        let mut value = value;
        let mut mask = mask;
        if let Some(m) = &mask {
            for (v, m) in value.iter_mut().zip(m) {
                *v &= *m;
            }
            if m.iter().all(|&b| b == 0xff) {
                mask = None;
            } else if m.iter().all(|&b| b == 0) {
                self.m.fields.retain(|f| f.id != id);
                self.origin.retain(|(i, _)| *i != id);
                return;
            }
        }
        if id.def().is_some_and(|d| d.variable_len()) {
            (value, mask) = super::value::var_shortest(&value, mask.as_deref(), true);
        }
        self.m.set(OxmField { id, value, mask });
        self.origin.retain(|(i, _)| *i != id);
        self.origin.push((id, origin));
    }

    /// Sets the TCI bits in `mask` to `value`, keeping the bits (value and
    /// mask) in `keep` and dropping the rest, as the matching OVS setter does.
    pub(super) fn set_tci(&mut self, value: u16, mask: u16, keep: u16, origin: &'a str) {
        let (v, m) = self.tci.unwrap_or((0, 0));
        self.tci = Some(((v & keep & !mask) | (value & mask), (m & keep) | mask));
        self.tci_origin = Some(origin);
    }

    pub(super) fn exact(&self, id: OxmId) -> Option<u128> {
        self.m.exact(id)
    }

    pub(super) fn remap(&mut self, from: OxmId, to: OxmId) {
        if from == to {
            return;
        }
        // Both spellings given (`nw_proto=…,arp,arp_op=…`): they are one
        // field in Open vSwitch, so the later setting wins.
        if self.m.get(from).is_some() && self.m.get(to).is_some() {
            let pos = |id: OxmId| self.origin.iter().position(|(i, _)| *i == id);
            let drop = if pos(from) > pos(to) { to } else { from };
            self.m.fields.retain(|f| f.id != drop);
            self.origin.retain(|(i, _)| *i != drop);
            if drop == from {
                return;
            }
        }
        if let Some(f) = self.m.fields.iter_mut().find(|f| f.id == from) {
            f.id = to;
        }
        for (i, _) in self.origin.iter_mut() {
            if *i == from {
                *i = to;
            }
        }
    }

    /// Final translation of shared OVS fields, then prerequisite checks.
    pub(super) fn finish(mut self) -> R<Match> {
        use fields::*;
        if let Some((v, m)) = self.tci {
            let vid = v & 0x1fff;
            let vmask = m & 0x1fff;
            if vmask == 0x1fff {
                self.m.set(OxmField::new(VLAN_VID, vid.to_be_bytes()));
            } else if vmask != 0 {
                self.m.set(OxmField::masked(VLAN_VID, vid.to_be_bytes(), vmask.to_be_bytes()));
            }
            if vid != 0 && m & 0xe000 != 0 {
                self.m.set(OxmField::new(VLAN_PCP, [(v >> 13) as u8]));
            }
            let o = self.tci_origin.unwrap_or("");
            self.origin.push((VLAN_VID, o));
            self.origin.push((VLAN_PCP, o));
        }
        // A non-Ethernet packet_type has no Ethernet header to match; with
        // (1,TYPE) the Ethertype is implied (and not sent as eth_type).
        let pt = self.exact(PACKET_TYPE).map(|v| v as u32);
        let implied_eth = match pt {
            Some(p) if p >> 16 == 1 => Some(p as u16),
            _ => None,
        };
        if pt.is_some_and(|p| p != 0) {
            for id in [ETH_SRC, ETH_DST, VLAN_VID, VLAN_PCP, ETH_TYPE] {
                if id == ETH_TYPE && implied_eth.is_some() && self.exact(ETH_TYPE).map(|v| v as u16) == implied_eth {
                    self.m.fields.retain(|f| f.id != ETH_TYPE);
                    continue;
                }
                if self.m.get(id).is_some() {
                    let o = self.origin.iter().rev().find(|(i, _)| *i == id).map(|(_, o)| *o).unwrap_or("");
                    return fail_found(o, format!("packet_type=(0,0) (Ethernet) to match on {}", id.name()), id.name());
                }
            }
        }
        if let Some(e) = implied_eth {
            self.m.fields.insert(0, OxmField::new(ETH_TYPE, e.to_be_bytes()));
        }
        let eth = self.exact(ETH_TYPE).map(|v| v as u16);
        let proto = self.exact(IP_PROTO).map(|v| v as u8);
        let is_ip = matches!(eth, Some(0x0800) | Some(0x86dd));
        // Open vSwitch stores tcp/udp/sctp ports in one place and encodes
        // them by the IP protocol matched.
        if is_ip {
            let (src, dst) = match proto {
                Some(17) => (UDP_SRC, UDP_DST),
                Some(132) => (SCTP_SRC, SCTP_DST),
                _ => (TCP_SRC, TCP_DST),
            };
            if matches!(proto, Some(6) | Some(17) | Some(132)) {
                for id in [TCP_SRC, UDP_SRC, SCTP_SRC] {
                    self.remap(id, src);
                }
                for id in [TCP_DST, UDP_DST, SCTP_DST] {
                    self.remap(id, dst);
                }
            }
            // ICMP type/code likewise follow the IP version.
            if eth == Some(0x86dd) && proto == Some(58) {
                self.remap(ICMPV4_TYPE, ICMPV6_TYPE);
                self.remap(ICMPV4_CODE, ICMPV6_CODE);
            } else if eth == Some(0x0800) && proto == Some(1) {
                self.remap(ICMPV6_TYPE, ICMPV4_TYPE);
                self.remap(ICMPV6_CODE, ICMPV4_CODE);
            }
        }
        // nw_src/nw_dst/nw_proto mean arp_spa/arp_tpa/arp_op for ARP.
        if matches!(eth, Some(0x0806) | Some(0x8035)) {
            // OVS keeps the ARP opcode in 8 bits.
            if let Some(f) = self.m.fields.iter_mut().find(|f| f.id == ARP_OP) {
                f.value[0] = 0;
            }
            self.remap(IPV4_SRC, ARP_SPA);
            self.remap(IPV4_DST, ARP_TPA);
            if let Some(f) = self.m.fields.iter_mut().find(|f| f.id == IP_PROTO) {
                f.value = vec![0, f.value[0]];
            }
            self.remap(IP_PROTO, ARP_OP);
        }
        self.m.fields.sort_by_key(|f| rank(f.id));
        if let Err((name, p)) = self.m.check_prerequisites() {
            let id = field_by_name(name).map(|d| d.id);
            let o = self.origin.iter().rev().find(|(i, _)| Some(*i) == id).map(|(_, o)| *o).unwrap_or("");
            let typed = o.split(['=', ':']).next().filter(|t| !t.is_empty()).unwrap_or(name);
            let what = if typed == name { name.to_string() } else { format!("{typed} ({name})") };
            return fail_found(o, format!("{} before matching on {what}", p.describe()), typed.to_string());
        }
        if implied_eth.is_some() {
            self.m.fields.retain(|f| f.id != ETH_TYPE);
        }
        Ok(self.m)
    }
}

/// Protocol shorthands: (name, eth_type, ip_proto).
pub(super) const PROTOCOLS: &[(&str, u16, Option<u8>)] = &[
    ("ip", 0x0800, None),
    ("ipv4", 0x0800, None),
    ("ip4", 0x0800, None),
    ("ipv6", 0x86dd, None),
    ("ip6", 0x86dd, None),
    ("arp", 0x0806, None),
    ("rarp", 0x8035, None),
    ("icmp", 0x0800, Some(1)),
    ("icmp6", 0x86dd, Some(58)),
    ("tcp", 0x0800, Some(6)),
    ("tcp6", 0x86dd, Some(6)),
    ("udp", 0x0800, Some(17)),
    ("udp6", 0x86dd, Some(17)),
    ("sctp", 0x0800, Some(132)),
    ("sctp6", 0x86dd, Some(132)),
    ("igmp", 0x0800, Some(2)),
    ("mpls", 0x8847, None),
    ("mplsm", 0x8848, None),
];

/// `NXM_OF_IP_TOS`, which Open vSwitch uses for `set_field:…->nw_tos`.
pub(super) const NXM_OF_IP_TOS: OxmId = OxmId::new(0, 5);

/// Order in which Open vSwitch's decoder needs fields: a field's
/// prerequisites must come before it.
pub(super) fn rank(id: OxmId) -> u8 {
    use fields::*;
    if id == PACKET_TYPE || id == IN_PORT || id == ETH_TYPE {
        0
    } else if id == IP_PROTO || id == VLAN_VID {
        1
    } else if id == ICMPV6_TYPE || id == VLAN_PCP {
        2
    } else {
        3
    }
}

/// Which FlowMod keywords a context allows.
/// Which flow keywords a text may carry, by command (Open vSwitch's rules):
/// additions and modifications set timeouts, priority and flags (only
/// additions set importance); deletes and dump criteria select by
/// `out_port`/`out_group`, strict deletes by priority too.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Add,
    Modify,
    Criteria,
    CriteriaStrict,
}

impl Mode {
    fn sets_flow(self) -> bool {
        matches!(self, Mode::Add | Mode::Modify)
    }

    fn selects(self) -> bool {
        matches!(self, Mode::Criteria | Mode::CriteriaStrict)
    }

    fn has_priority(self) -> bool {
        self != Mode::Criteria
    }
}

/// Parses the match part; returns the match and the table if one was given.
pub(super) fn parse_match(text: &str, fm: &mut FlowMod, mode: Mode) -> R<(Match, Option<u8>)> {
    let mut mb = MatchBuilder::default();
    let mut table = None;
    for kv in kvs(text)? {
        let Kv { key, value, delim } = kv;
        let has_value = delim.is_some();
        if let Some((_, eth, proto)) = PROTOCOLS.iter().find(|(n, _, _)| *n == key) {
            if has_value {
                return fail(value, format!("nothing after the protocol keyword {key}"));
            }
            mb.put(fields::ETH_TYPE, eth.to_be_bytes().to_vec(), None, key);
            if let Some(p) = proto {
                mb.put(fields::IP_PROTO, vec![*p], None, key);
            }
            continue;
        }
        match key {
            "eth" => {
                mb.put(fields::PACKET_TYPE, vec![0, 0, 0, 0], None, key);
                continue;
            }
            "send_flow_rem" | "check_overlap" | "reset_counts" | "no_packet_counts" | "no_byte_counts"
                if mode.sets_flow() =>
            {
                fm.flags |= match key {
                    "send_flow_rem" => flags::SEND_FLOW_REM,
                    "check_overlap" => flags::CHECK_OVERLAP,
                    "reset_counts" => flags::RESET_COUNTS,
                    "no_packet_counts" => flags::NO_PKT_COUNTS,
                    _ => flags::NO_BYT_COUNTS,
                };
                continue;
            }
            "no_readonly_table" | "allow_hidden_fields" => continue,
            _ => {}
        }
        if ovs_spelling(&mut mb, key, value)? {
            continue;
        }
        if let Some(d) = field_by_name(key) {
            if !has_value || value.is_empty() {
                return fail_found(at(key, key.len()), format!("a value for {key} (like {key}=VALUE)"), "nothing");
            }
            if d.variable_len() && mb.m.get(d.id).is_some() {
                return fail_found(key, format!("{key} at most once in a match"), key);
            }
            // `tp_src` etc. land on tcp_src; finish() moves them to udp/sctp.
            let (v, m) = field_value(d, value)?;
            mb.put(d.id, v, m, key);
            continue;
        }
        if key.contains('[') {
            subfield_match(&mut mb, key, value)?;
            continue;
        }
        if !has_value || value.is_empty() {
            return fail_found(key, "a match field, protocol or flow keyword", key);
        }
        flow_keyword(fm, key, value, mode, &mut table)?;
    }
    Ok((mb.finish()?, table))
}

/// OVS-only spellings that are not OpenFlow 1.5 fields (`nw_tos`, the
/// 802.1Q forms); false when `key` is none of them.
fn ovs_spelling<'a>(mb: &mut MatchBuilder<'a>, key: &'a str, value: &'a str) -> R<bool> {
    if let Some(d) = xxreg(key) {
        // A 128-bit register is four 32-bit ones, the first the most
        // significant; Open vSwitch matches (and prints) those.
        let (v, m) = field_value(d, value)?;
        let first = (d.id.field - 111) * 4;
        for k in 0..4usize {
            let mk = m.as_ref().map(|m| m[4 * k..4 * k + 4].to_vec());
            if mk.as_ref().is_some_and(|m| m.iter().all(|&b| b == 0)) {
                continue;
            }
            let mk = mk.filter(|m| !m.iter().all(|&b| b == 0xff));
            mb.put(fields::reg(first + k as u8), v[4 * k..4 * k + 4].to_vec(), mk, key);
        }
        return Ok(true);
    }
    match key {
        "nw_tos" => {
            // Open vSwitch ignores the ECN bits of a TOS match.
            let tos = match int_all(value) {
                Some(v) if v <= 255 => v as u8 & 0xfc,
                _ => return fail(value, "an IP TOS value (0 to 255)"),
            };
            mb.put(fields::IP_DSCP, vec![tos >> 2], None, key);
            Ok(true)
        }
        "dl_vlan" => {
            match int_all(value) {
                Some(0xffff) => mb.set_tci(0, 0xffff, 0, key),
                Some(v) if v <= 0xfff => mb.set_tci(v as u16 | 0x1000, 0x1fff, 0xffff, key),
                _ => return fail(value, "a VLAN id (0 to 4095, or 0xffff for no VLAN)"),
            }
            Ok(true)
        }
        "dl_vlan_pcp" | "vlan_pcp" => {
            match int_all(value) {
                Some(v) if v <= 7 => mb.set_tci(((v as u16) << 13) | 0x1000, 0xf000, 0xffff, key),
                _ => return fail(value, "a VLAN priority (0 to 7)"),
            }
            Ok(true)
        }
        "vlan_tci" => {
            let d = field_by_name("vlan_tci").expect("vlan_tci is a known field");
            let (v, m) = int_value(d, value)?;
            mb.set_tci(v as u16, m.map_or(0xffff, |m| m as u16), 0, key);
            Ok(true)
        }
        "vlan_vid" => {
            let d = field_by_name("vlan_vid").expect("vlan_vid is a known field");
            let (v, m) = int_value(d, value)?;
            // Only the VID and the present bit (OVS's CFI) count.
            let m = m.map_or(0x1fff, |m| m as u16 & 0x1fff);
            mb.set_tci(v as u16 & 0x1fff, m, 0xe000, key);
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// `FIELD[A..B]=VALUE`: bits of a field, merged with what the match has.
fn subfield_match<'a>(mb: &mut MatchBuilder<'a>, key: &'a str, value: &'a str) -> R<()> {
    let sf = subfield(key)?;
    let Some(d) = sf.field.def() else {
        return fail_found(key, "a subfield of a match field", key);
    };
    let v = match int_all(value) {
        Some(v) if fits(v, sf.n_bits as u32) => v,
        _ => return fail(value, format!("an integer of at most {} bits", sf.n_bits)),
    };
    if d.variable_len() {
        // Open vSwitch sets a tun_metadata field once per match.
        if mb.m.get(sf.field).is_some() {
            return fail_found(key, format!("{} at most once in a match", d.name), key);
        }
        // Wider than 128 bits: the bits as bytes.
        let (nv, nm) = (be_shifted(v, sf.ofs as u32, d.len), be_bit_range(sf.ofs as u32, sf.n_bits as u32, d.len));
        mb.put(sf.field, nv, Some(nm), key);
        return Ok(());
    }
    let bits = (d.len * 8) as u32;
    let mask = ones(sf.n_bits as u32) << sf.ofs;
    let (ov, om) =
        mb.m.get(sf.field).map(|f| (f.value_u128(), f.mask_u128().unwrap_or(ones(bits)))).unwrap_or((0, 0));
    let nv = (ov & !mask) | (v << sf.ofs);
    let nm = om | mask;
    mb.put(sf.field, be(nv, d.len), Some(be(nm, d.len)), key);
    Ok(())
}

/// The flow keywords of the match part (`table`, `priority`, timeouts,
/// cookies, and the criteria-only `out_port`/`out_group`).
fn flow_keyword(fm: &mut FlowMod, key: &str, value: &str, mode: Mode, table: &mut Option<u8>) -> R<()> {
    match key {
        "table" => {
            fm.table_id = num::<u8>(value, "a table number (0 to 254, or 255 for all)")?;
            *table = Some(fm.table_id);
        }
        "out_port" if mode.selects() => fm.out_port = port_value(value)?,
        "out_group" if mode.selects() => {
            fm.out_group = if value.eq_ignore_ascii_case("any") || value.eq_ignore_ascii_case("all") {
                0xffff_ffff
            } else {
                num::<u32>(value, "a group number")?
            }
        }
        "priority" if mode.has_priority() => fm.priority = num(value, "a priority (0 to 65535)")?,
        "idle_timeout" if mode.sets_flow() => fm.idle_timeout = num(value, "an idle timeout (0 to 65535)")?,
        "hard_timeout" if mode.sets_flow() => fm.hard_timeout = num(value, "a hard timeout (0 to 65535)")?,
        "importance" if mode == Mode::Add => fm.importance = num(value, "an importance (0 to 65535)")?,
        "cookie" => match value.split_once('/') {
            Some((v, m)) => {
                if mode == Mode::Add {
                    return fail(
                        at(value, v.len()),
                        "a cookie without a mask (flow additions cannot use a cookie mask)",
                    );
                }
                fm.cookie = num(v, "a 64-bit cookie")?;
                fm.cookie_mask = if m == "-1" { u64::MAX } else { num(m, "a 64-bit cookie mask")? };
            }
            None => {
                if mode.selects() {
                    return fail(value, format!("a cookie mask (to match on a cookie, write cookie={value}/-1)"));
                }
                let cookie = num(value, "a 64-bit cookie")?;
                // OpenFlow 1.5 cannot change a cookie in a modify: Open
                // vSwitch sends cookie & mask there, so a bare cookie is lost.
                if mode == Mode::Add {
                    fm.cookie = cookie;
                }
            }
        },
        "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
        _ => return fail_found(key, "a match field, protocol or flow keyword", key),
    }
    Ok(())
}

/* ------------------------------------------------------------------ */
/* Actions.                                                             */
/* ------------------------------------------------------------------ */
