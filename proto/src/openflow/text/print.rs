//! Printing flows exactly as `ovs-ofctl -O OpenFlow15 dump-flows` (Open
//! vSwitch 3.1) prints them, and FLOW_MOD messages as `ovs-ofctl ofp-print`
//! does.
//!
//! Open vSwitch does not print a match in OXM order: it first turns the OXM
//! fields into its internal "flow + wildcards" view (where, for example,
//! `ip_dscp` and `nw_ecn` share the `nw_tos` byte, all transport ports live
//! in `tp_src`/`tp_dst` and the 64-bit packet registers are pairs of 32-bit
//! registers) and prints that view in a fixed order. [`match_fields`] builds
//! the same view ([`FlowView`]) and prints it in the same order.
//!
//! Fields and actions that podflow does not know (and that Open vSwitch
//! would refuse) still print, in a stable raw form:
//! `OXM(0x8000,120)=0x07`, `experimenter(0x1234,data=09.09)`,
//! `unknown_action(type=11,data=00.00.00.00)`,
//! `unknown_instruction(type=7,data=01.02.03.04)`.

use crate::openflow::action::{ct_flags, nat_flags, Action, Controller, Ct, CtZone, Nat, NatAddrRange, Subfield, CT_RECIRC_NONE};
use crate::openflow::flow::{FlowDesc, FlowMod, FlowModCommand, DEFAULT_PRIORITY, NO_BUFFER};
use crate::openflow::instruction::Instruction;
use crate::openflow::oxm::{class, fields, Format, Match, OxmField, OxmId};
use crate::openflow::oxs::Stats;
use crate::openflow::port::PortNo;
use std::fmt::Write;

use super::names::{flag_name, CT_STATE_FLAGS, TCP_FLAGS, TUN_FLAGS};
use std::net::{Ipv4Addr, Ipv6Addr};

/// How [`flow_desc`] prints a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintOptions {
    /// Print cookie, duration, table, counters and ages like `dump-flows`;
    /// `false` is the `--no-stats` form.
    pub stats: bool,
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions { stats: true }
    }
}

/// The first line of a `dump-flows` reply.
pub fn flow_stats_header(xid: u32) -> String {
    format!("OFPST_FLOW reply (OF1.5) (xid={xid:#x}):")
}

// ---------------------------------------------------------------------------
// Small formatters shared by matches and actions.

/// C's `%#x`: `0x`-prefixed hex, except that zero is plain `0`.
fn cx(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn hex_bytes(b: &[u8]) -> String {
    // Like OVS's ds_put_hex: "0x" and the bytes without leading zero bytes,
    // or "0" for all zeros.
    let mut s = String::new();
    let mut printed = false;
    for &v in b {
        if v != 0 || printed {
            if printed {
                let _ = write!(s, "{v:02x}");
            } else {
                let _ = write!(s, "{v:#x}");
            }
            printed = true;
        }
    }
    if !printed {
        s.push('0');
    }
    s
}

fn dotted_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(".")
}

fn eth(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

fn eth_masked(v: &[u8], m: Option<&[u8]>) -> String {
    let mut s = eth(v);
    if let Some(m) = m {
        if !m.iter().all(|&x| x == 0xff) {
            s.push('/');
            s.push_str(&eth(m));
        }
    }
    s
}

/// Number of leading one bits if `mask` is a CIDR mask (ones then zeros).
fn cidr_bits(mask: u128, width: u32) -> Option<u32> {
    let ones = (mask << (128 - width)).leading_ones();
    let full = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
    let expect = if ones == 0 { 0 } else { (full >> (width - ones)) << (width - ones) };
    (expect == mask).then_some(ones)
}

fn ipv4_masked(v: u32, m: u32) -> String {
    let mut s = Ipv4Addr::from(v).to_string();
    if m != u32::MAX {
        match cidr_bits(m as u128, 32) {
            Some(n) => {
                let _ = write!(s, "/{n}");
            }
            None => {
                let _ = write!(s, "/{}", Ipv4Addr::from(m));
            }
        }
    }
    s
}

/// IPv6 text as glibc's `inet_ntop` writes it.
fn ipv6(a: u128) -> String {
    let addr = Ipv6Addr::from(a);
    let seg = addr.segments();
    // IPv4-compatible addresses (six zero groups, then a nonzero seventh)
    // keep a dotted quad, as in glibc; Rust already does so for
    // IPv4-mapped ones.
    if seg[..6] == [0, 0, 0, 0, 0, 0] && seg[6] != 0 {
        let o = addr.octets();
        return format!("::{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
    }
    addr.to_string()
}

fn ipv6_masked(v: u128, m: u128) -> String {
    let mut s = ipv6(v);
    if m != u128::MAX {
        match cidr_bits(m, 128) {
            Some(n) => {
                let _ = write!(s, "/{n}");
            }
            None => {
                s.push('/');
                s.push_str(&ipv6(m));
            }
        }
    }
    s
}

/// An OpenFlow 1.1+ port as Open vSwitch prints it (after converting it to
/// its 16-bit form).
pub(super) fn port(p: PortNo) -> String {
    match p.to_of10() {
        Some(p16) => port16(p16),
        None => p.0.to_string(),
    }
}

/// A 16-bit (OpenFlow 1.0 numbering) port.
pub(super) fn port16(p: u16) -> String {
    match p {
        0xfff7 => "UNSET".into(),
        0xfff8 => "IN_PORT".into(),
        0xfff9 => "TABLE".into(),
        0xfffa => "NORMAL".into(),
        0xfffb => "FLOOD".into(),
        0xfffc => "ALL".into(),
        0xfffd => "CONTROLLER".into(),
        0xfffe => "LOCAL".into(),
        0xffff => "ANY".into(),
        n => super::ports::shown(PortNo::from_of10(n)).unwrap_or_else(|| n.to_string()),
    }
}

fn ct_state_name(bit: u32) -> Option<&'static str> {
    flag_name(CT_STATE_FLAGS, bit)
}

fn tun_flag_name(bit: u32) -> Option<&'static str> {
    flag_name(TUN_FLAGS, bit)
}

fn tcp_flag_name(bit: u32) -> Option<&'static str> {
    // Open vSwitch prints the three unnamed reserved bits as `[HEX]`.
    flag_name(TCP_FLAGS, bit).or(match bit {
        0x200 => Some("[200]"),
        0x400 => Some("[400]"),
        0x800 => Some("[800]"),
        _ => None,
    })
}

/// Flags joined by `|`, unknown bits as one hex number at the end, `0`
/// for none.
fn flags_plain(names: fn(u32) -> Option<&'static str>, mut flags: u32) -> String {
    if flags == 0 {
        return "0".into();
    }
    let mut parts = Vec::new();
    let mut bad = 0;
    while flags != 0 {
        let bit = flags & flags.wrapping_neg();
        match names(bit) {
            Some(n) => parts.push(n.to_string()),
            None => bad |= bit,
        }
        flags &= !bit;
    }
    if bad != 0 {
        parts.push(format!("{bad:#x}"));
    }
    parts.join("|")
}

/// Flags with a mask: `+est-new`, or the plain form when the mask covers
/// every bit (`max`), or `0/0` for an empty mask.
fn flags_masked(names: fn(u32) -> Option<&'static str>, flags: u32, mut mask: u32, max: u32) -> String {
    if mask == max {
        return flags_plain(names, flags);
    }
    if mask == 0 {
        return "0/0".into();
    }
    let mut s = String::new();
    while mask != 0 {
        let bit = mask & mask.wrapping_neg();
        s.push(if flags & bit != 0 { '+' } else { '-' });
        s.push_str(names(bit).unwrap_or("[Unknown]"));
        mask &= !bit;
    }
    s
}

fn u16_masked_pt(v: u16, m: u16) -> String {
    if m == 0 {
        return "*".into();
    }
    let mut s = if v > 9 { format!("{v:#x}") } else { v.to_string() };
    if m != u16::MAX {
        let _ = write!(s, "/{m:#x}");
    }
    s
}

fn packet_type_masked(v: u32, m: u32) -> String {
    if v == 0 && m == u32::MAX {
        return "eth".into();
    }
    format!(
        "packet_type=({},{})",
        u16_masked_pt((v >> 16) as u16, (m >> 16) as u16),
        u16_masked_pt(v as u16, m as u16)
    )
}

fn frag_name(v: u8, m: u8) -> &'static str {
    let m = m & 3;
    let v = v & m;
    match (m, v) {
        (3, 0) => "no",
        (3, 1) => "first",
        (3, 3) => "later",
        (1, 0) => "no",
        (1, 1) => "yes",
        (2, 0) => "not_later",
        (2, 2) => "later",
        _ => "<error>",
    }
}

// ---------------------------------------------------------------------------
// The match.

/// A value and its mask (all-zero mask: not matched).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Vm<T> {
    v: T,
    m: T,
}

/// Open vSwitch's flow + wildcards view of a match: the fields that OXM
/// matches can set, in the layout `match_format` prints from.
#[derive(Debug, Clone, Default)]
pub struct FlowView {
    conj_id: Option<u32>,
    ct_state: Vm<u8>,
    ct_zone: Vm<u16>,
    ct_mark: Vm<u32>,
    ct_label: Vm<u128>,
    packet_type: Vm<u32>,
    dl_type: Vm<u16>,
    nw_proto: Vm<u8>,
    regs: [Vm<u32>; 16],
    tun_id: Vm<u64>,
    tun_src: Vm<u32>,
    tun_dst: Vm<u32>,
    metadata: Vm<u64>,
    in_port: Option<u16>,
    in_port_raw: Option<u32>,
    vlan_tci: Vm<u16>,
    dl_src: Vm<[u8; 6]>,
    dl_dst: Vm<[u8; 6]>,
    ipv6_src: Vm<u128>,
    ipv6_dst: Vm<u128>,
    ipv6_label: Vm<u32>,
    nw_src: Vm<u32>,
    nw_dst: Vm<u32>,
    arp_sha: Vm<[u8; 6]>,
    arp_tha: Vm<[u8; 6]>,
    nw_tos: Vm<u8>,
    nw_ttl: Vm<u8>,
    nw_frag: Vm<u8>,
    tp_src: Vm<u16>,
    tp_dst: Vm<u16>,
    nd_target: Vm<u128>,
    tcp_flags: Vm<u16>,
    pkt_mark: Vm<u32>,
    tun_ipv6_src: Vm<u128>,
    tun_ipv6_dst: Vm<u128>,
    tun_gbp_id: Vm<u16>,
    tun_gbp_flags: Vm<u8>,
    tun_flags: Vm<u16>,
    /// The `tun_metadata` fields as they came.
    tun_md: Vec<OxmField>,
    nd_reserved: Vm<u32>,
    nd_options_type: Vm<u16>,
    /// ERSPAN idx, ver, dir, hwid and GTP-U flags, msgtype (NXOXM_ET 11..16).
    tun_et: [Vm<u32>; 6],
    /// The NSH fields, by their experimenter field number minus one.
    nsh: [Vm<u32>; 10],
    actset_output: Option<u32>,
    ct_nw_src: Vm<u32>,
    ct_nw_dst: Vm<u32>,
    ct_ipv6_src: Vm<u128>,
    ct_ipv6_dst: Vm<u128>,
    ct_nw_proto: Option<u8>,
    ct_tp_src: Vm<u16>,
    ct_tp_dst: Vm<u16>,
    /// label, tc, ttl, bos of the outermost MPLS label, when matched.
    mpls: [Option<u32>; 4],
    unknown: Vec<OxmField>,
}

fn ones(len: usize) -> u128 {
    if len >= 16 {
        u128::MAX
    } else {
        (1u128 << (len * 8)) - 1
    }
}

impl FlowView {
    /// Builds the view from OXM fields, applying them in order as Open
    /// vSwitch does when it decodes a match.
    pub fn from_match(m: &Match) -> FlowView {
        let mut w = FlowView::default();
        for f in &m.fields {
            w.apply(f);
        }
        w
    }

    /// The fields of Open vSwitch's extension set (packet mark, tunnel
    /// metadata, NSH, the conntrack tuple, MPLS); false for any other.
    fn apply_extension(&mut self, id: OxmId, v: u128, m: u128) -> bool {
        use fields::*;
        match id {
            PKT_MARK => self.pkt_mark = Vm { v: v as u32, m: m as u32 },
            TUN_IPV6_SRC => self.tun_ipv6_src = Vm { v, m },
            TUN_IPV6_DST => self.tun_ipv6_dst = Vm { v, m },
            TUN_GBP_ID => self.tun_gbp_id = Vm { v: v as u16, m: m as u16 },
            TUN_GBP_FLAGS => self.tun_gbp_flags = Vm { v: v as u8, m: m as u8 },
            // Open vSwitch keeps only the flags OpenFlow carries (oam).
            TUN_FLAGS => self.tun_flags = Vm { v: v as u16 & 1, m: m as u16 & 1 },
            ND_RESERVED => self.nd_reserved = Vm { v: v as u32, m: m as u32 },
            ND_OPTIONS_TYPE => self.nd_options_type = Vm { v: v as u16, m: 0xffff },
            _ if id.experimenter == Some(crate::openflow::action::NX_VENDOR_ID) && (11..=16).contains(&id.field) => {
                self.tun_et[usize::from(id.field) - 11] = Vm { v: v as u32, m: m as u32 };
            }
            _ if id.experimenter == Some(crate::openflow::oxm::NSH_EXPERIMENTER) && (1..=10).contains(&id.field) => {
                self.nsh[usize::from(id.field) - 1] = Vm { v: v as u32, m: m as u32 };
            }
            ACTSET_OUTPUT => self.actset_output = Some(v as u32),
            CT_NW_SRC => self.ct_nw_src = Vm { v: v as u32, m: m as u32 },
            CT_NW_DST => self.ct_nw_dst = Vm { v: v as u32, m: m as u32 },
            CT_IPV6_SRC => self.ct_ipv6_src = Vm { v, m },
            CT_IPV6_DST => self.ct_ipv6_dst = Vm { v, m },
            CT_NW_PROTO => self.ct_nw_proto = Some(v as u8),
            CT_TP_SRC => self.ct_tp_src = Vm { v: v as u16, m: m as u16 },
            CT_TP_DST => self.ct_tp_dst = Vm { v: v as u16, m: m as u16 },
            MPLS_LABEL => self.mpls[0] = Some(v as u32),
            MPLS_TC => self.mpls[1] = Some(v as u32),
            MPLS_TTL => self.mpls[2] = Some(v as u32),
            MPLS_BOS => self.mpls[3] = Some(v as u32),
            _ => return false,
        }
        true
    }

    fn apply(&mut self, f: &OxmField) {
        let Some(def) = f.id.def() else {
            self.unknown.push(f.clone());
            return;
        };
        if def.variable_len() {
            self.tun_md.retain(|t| t.id != f.id);
            self.tun_md.push(f.clone());
            return;
        }
        let len = f.value.len();
        let full = ones(len);
        let v = f.value_u128() & full;
        let m = f.mask_u128().map_or(full, |m| m & full);
        let v = v & m;
        let mac = |b: u128| -> [u8; 6] {
            let x = b.to_be_bytes();
            let mut o = [0u8; 6];
            o.copy_from_slice(&x[10..16]);
            o
        };
        use fields::*;
        let id = f.id;
        if id.class == class::NXM_1 && id.field < 16 {
            self.regs[id.field as usize] = Vm { v: v as u32, m: m as u32 };
            return;
        }
        if id.class == class::PACKET_REGS && id.field < 8 {
            let i = id.field as usize * 2;
            self.regs[i] = Vm { v: (v >> 32) as u32, m: (m >> 32) as u32 };
            self.regs[i + 1] = Vm { v: v as u32, m: m as u32 };
            return;
        }
        match id {
            IN_PORT => {
                let p = PortNo(v as u32);
                self.in_port_raw = Some(p.0);
                self.in_port = p.to_of10();
            }
            METADATA => self.metadata = Vm { v: v as u64, m: m as u64 },
            ETH_DST => self.dl_dst = Vm { v: mac(v), m: mac(m) },
            ETH_SRC => self.dl_src = Vm { v: mac(v), m: mac(m) },
            ETH_TYPE => self.dl_type = Vm { v: v as u16, m: m as u16 },
            VLAN_VID => {
                let mask = (m as u16) & 0x1fff;
                self.vlan_tci.v = (self.vlan_tci.v & !0x1fff) | (v as u16 & mask);
                self.vlan_tci.m = mask | (self.vlan_tci.m & 0xe000);
            }
            VLAN_PCP => {
                self.vlan_tci.v = (self.vlan_tci.v & !0xe000) | (((v as u16) << 13) & 0xe000) | 0x1000;
                self.vlan_tci.m |= 0xf000;
            }
            VLAN_TCI => self.vlan_tci = Vm { v: v as u16, m: m as u16 },
            IP_DSCP => {
                self.nw_tos.v = (self.nw_tos.v & 0x03) | (((v as u8) << 2) & 0xfc);
                self.nw_tos.m |= 0xfc;
            }
            IP_ECN => {
                self.nw_tos.v = (self.nw_tos.v & 0xfc) | (v as u8 & 0x03);
                self.nw_tos.m |= 0x03;
            }
            IP_PROTO => self.nw_proto = Vm { v: v as u8, m: 0xff },
            ARP_OP => self.nw_proto = Vm { v: v as u8, m: 0xff },
            IPV4_SRC | ARP_SPA => self.nw_src = Vm { v: v as u32, m: m as u32 },
            IPV4_DST | ARP_TPA => self.nw_dst = Vm { v: v as u32, m: m as u32 },
            TCP_SRC | UDP_SRC | SCTP_SRC => self.tp_src = Vm { v: v as u16, m: m as u16 },
            TCP_DST | UDP_DST | SCTP_DST => self.tp_dst = Vm { v: v as u16, m: m as u16 },
            ICMPV4_TYPE | ICMPV6_TYPE => self.tp_src = Vm { v: v as u8 as u16, m: 0xffff },
            ICMPV4_CODE | ICMPV6_CODE => self.tp_dst = Vm { v: v as u8 as u16, m: 0xffff },
            ARP_SHA | ND_SLL => self.arp_sha = Vm { v: mac(v), m: mac(m) },
            ARP_THA | ND_TLL => self.arp_tha = Vm { v: mac(v), m: mac(m) },
            IPV6_SRC => self.ipv6_src = Vm { v, m },
            IPV6_DST => self.ipv6_dst = Vm { v, m },
            IPV6_FLABEL => {
                // A mask that covers all 20 label bits counts as exact (and
                // then the value is kept as given).
                self.ipv6_label = if m as u32 & 0x000f_ffff == 0x000f_ffff {
                    Vm { v: f.value_u128() as u32, m: u32::MAX }
                } else {
                    Vm { v: v as u32, m: m as u32 }
                };
            }
            ND_TARGET => self.nd_target = Vm { v, m },
            TUNNEL_ID => self.tun_id = Vm { v: v as u64, m: m as u64 },
            TCP_FLAGS => self.tcp_flags = Vm { v: v as u16, m: m as u16 },
            PACKET_TYPE => self.packet_type = Vm { v: v as u32, m: m as u32 },
            IP_FRAG => self.nw_frag = Vm { v: v as u8, m: m as u8 },
            NW_TTL => self.nw_ttl = Vm { v: v as u8, m: 0xff },
            TUN_SRC => self.tun_src = Vm { v: v as u32, m: m as u32 },
            TUN_DST => self.tun_dst = Vm { v: v as u32, m: m as u32 },
            CONJ_ID => self.conj_id = Some(v as u32),
            CT_STATE => self.ct_state = Vm { v: v as u8, m: m as u8 },
            CT_ZONE => self.ct_zone = Vm { v: v as u16, m: m as u16 },
            CT_MARK => self.ct_mark = Vm { v: v as u32, m: m as u32 },
            CT_LABEL => self.ct_label = Vm { v, m },
            _ => {
                let _ = def;
                if !self.apply_extension(id, v, m) {
                    self.unknown.push(f.clone());
                }
            }
        }
    }

    /// Prints the view as `match_format` does, `priority=N,` first unless
    /// it is the default priority.
    pub fn format(&self, priority: u16) -> String {
        let mut s = String::new();
        if priority != DEFAULT_PRIORITY {
            let _ = write!(s, "priority={priority},");
        }
        u32_masked(&mut s, "pkt_mark", self.pkt_mark);
        self.format_ct(&mut s);
        let mut dl_type = self.dl_type.v;
        if self.packet_type.m != 0 && !(self.packet_type.v == 0 && self.packet_type.m == u32::MAX) {
            let _ = write!(s, "{},", packet_type_masked(self.packet_type.v, self.packet_type.m));
            if self.packet_type.v >> 16 == 1 {
                dl_type = self.packet_type.v as u16;
            }
        }
        let (skip_type, skip_proto) = self.format_protocol(&mut s, dl_type);
        self.format_l2(&mut s);
        eth_field(&mut s, "dl_src", self.dl_src);
        eth_field(&mut s, "dl_dst", self.dl_dst);
        if !skip_type && self.dl_type.m != 0 {
            let _ = write!(s, "dl_type=0x{dl_type:04x},");
        }
        self.format_l3(&mut s, dl_type, skip_proto);
        self.format_l4(&mut s, dl_type);
        self.format_unknown(&mut s);
        if s.ends_with(',') {
            s.pop();
        }
        s
    }

    /// `conj_id` and the connection tracking fields.
    fn format_ct(&self, s: &mut String) {
        macro_rules! put {
            ($($t:tt)*) => {{ let _ = write!(s, $($t)*); }};
        }
        if let Some(c) = self.conj_id {
            put!("conj_id={c},");
        }
        if let Some(p) = self.actset_output {
            put!("actset_output={},", port(PortNo(p)));
        }
        if self.ct_state.m != 0 {
            if self.ct_state.m == 0xff {
                put!("ct_state={},", flags_plain(ct_state_name, self.ct_state.v as u32));
            } else {
                put!("ct_state={},", flags_masked(ct_state_name, self.ct_state.v as u32, self.ct_state.m as u32, 0xff));
            }
        }
        if self.ct_zone.m != 0 {
            if self.ct_zone.m == 0xffff {
                put!("ct_zone={},", self.ct_zone.v);
            } else {
                put!("ct_zone={:#x}/{:#x},", self.ct_zone.v, self.ct_zone.m);
            }
        }
        u32_masked(s, "ct_mark", self.ct_mark);
        if self.ct_label.m != 0 {
            put!("ct_label={}", hex_bytes(&self.ct_label.v.to_be_bytes()));
            if self.ct_label.m != u128::MAX {
                put!("/{}", hex_bytes(&self.ct_label.m.to_be_bytes()));
            }
            s.push(',');
        }
        ip_field(s, "ct_nw_src", self.ct_nw_src);
        ip6_field(s, "ct_ipv6_src", self.ct_ipv6_src);
        ip_field(s, "ct_nw_dst", self.ct_nw_dst);
        ip6_field(s, "ct_ipv6_dst", self.ct_ipv6_dst);
        if let Some(p) = self.ct_nw_proto {
            put!("ct_nw_proto={p},");
            be16_field(s, "ct_tp_src", self.ct_tp_src);
            be16_field(s, "ct_tp_dst", self.ct_tp_dst);
        }
    }

    /// The protocol keyword (`ip`, `tcp6`, `arp`, …) for `dl_type` and
    /// `nw_proto`; says whether it stood for the type and the protocol.
    fn format_protocol(&self, s: &mut String, dl_type: u16) -> (bool, bool) {
        macro_rules! put {
            ($($t:tt)*) => {{ let _ = write!(s, $($t)*); }};
        }
        let mut skip_type = false;
        let mut skip_proto = false;
        let proto_set = self.nw_proto.m != 0;
        let proto = self.nw_proto.v;
        if self.dl_type.m != 0 {
            skip_type = true;
            let name = match dl_type {
                0x0800 => Some(if proto_set {
                    skip_proto = true;
                    match proto {
                        1 => "icmp",
                        6 => "tcp",
                        17 => "udp",
                        132 => "sctp",
                        _ => {
                            skip_proto = false;
                            "ip"
                        }
                    }
                } else {
                    "ip"
                }),
                0x86dd => Some(if proto_set {
                    skip_proto = true;
                    match proto {
                        58 => "icmp6",
                        6 => "tcp6",
                        17 => "udp6",
                        132 => "sctp6",
                        _ => {
                            skip_proto = false;
                            "ipv6"
                        }
                    }
                } else {
                    "ipv6"
                }),
                0x0806 => Some("arp"),
                0x8035 => Some("rarp"),
                0x8847 => Some("mpls"),
                0x8848 => Some("mplsm"),
                _ => None,
            };
            match name {
                Some(n) => put!("{n},"),
                None => skip_type = false,
            }
        }
        (skip_type, skip_proto)
    }

    /// Registers, tunnel, metadata, in_port and the 802.1Q header.
    fn format_l2(&self, s: &mut String) {
        macro_rules! put {
            ($($t:tt)*) => {{ let _ = write!(s, $($t)*); }};
        }
        for (i, r) in self.regs.iter().enumerate() {
            u32_masked(s, &format!("reg{i}"), *r);
        }
        u64_masked(s, "tun_id", self.tun_id);
        ip_field(s, "tun_src", self.tun_src);
        ip_field(s, "tun_dst", self.tun_dst);
        self.format_tunnel_extra(s);
        u64_masked(s, "metadata", self.metadata);
        if let Some(raw) = self.in_port_raw {
            match self.in_port {
                Some(p) => put!("in_port={},", port16(p)),
                None => put!("in_port={raw},"),
            }
        }
        let tci = self.vlan_tci;
        if tci.m != 0 {
            let vid_mask = tci.m & 0x0fff;
            let pcp_mask = tci.m & 0xe000;
            let cfi = tci.m & 0x1000;
            if cfi != 0
                && tci.v & 0x1000 != 0
                && (vid_mask == 0 || vid_mask == 0x0fff)
                && (pcp_mask == 0 || pcp_mask == 0xe000)
                && (vid_mask != 0 || pcp_mask != 0)
            {
                if vid_mask != 0 {
                    put!("dl_vlan={},", tci.v & 0x0fff);
                }
                if pcp_mask != 0 {
                    put!("dl_vlan_pcp={},", tci.v >> 13);
                }
            } else if tci.m == 0xffff {
                put!("vlan_tci={:#06x},", tci.v);
            } else {
                put!("vlan_tci=0x{:04x}/0x{:04x},", tci.v, tci.m);
            }
        }
    }

    /// Addresses and the IP header fields (ARP's in ARP's names).
    fn format_l3(&self, s: &mut String, dl_type: u16, skip_proto: bool) {
        let proto_set = self.nw_proto.m != 0;
        let proto = self.nw_proto.v;
        macro_rules! put {
            ($($t:tt)*) => {{ let _ = write!(s, $($t)*); }};
        }
        let is_arp = dl_type == 0x0806 || dl_type == 0x8035;
        if dl_type == 0x86dd {
            ip6_field(s, "ipv6_src", self.ipv6_src);
            ip6_field(s, "ipv6_dst", self.ipv6_dst);
            if self.ipv6_label.m != 0 {
                if self.ipv6_label.m == u32::MAX {
                    put!("ipv6_label=0x{:05x},", self.ipv6_label.v);
                } else {
                    put!("ipv6_label=0x{:05x}/0x{:05x},", self.ipv6_label.v, self.ipv6_label.m);
                }
            }
        } else if is_arp {
            ip_field(s, "arp_spa", self.nw_src);
            ip_field(s, "arp_tpa", self.nw_dst);
        } else if dl_type == 0x894f {
            self.format_nsh(s);
        } else {
            ip_field(s, "nw_src", self.nw_src);
            ip_field(s, "nw_dst", self.nw_dst);
        }
        if !skip_proto && proto_set {
            if is_arp {
                put!("arp_op={proto},");
            } else {
                put!("nw_proto={proto},");
            }
        }
        if is_arp {
            eth_field(s, "arp_sha", self.arp_sha);
            eth_field(s, "arp_tha", self.arp_tha);
        }
        if self.nw_tos.m & 0xfc != 0 {
            put!("nw_tos={},", self.nw_tos.v & 0xfc);
        }
        if self.nw_tos.m & 0x03 != 0 {
            put!("nw_ecn={},", self.nw_tos.v & 0x03);
        }
        if self.nw_ttl.m != 0 {
            put!("nw_ttl={},", self.nw_ttl.v);
        }
        for (name, v) in ["mpls_label", "mpls_tc", "mpls_ttl", "mpls_bos"].iter().zip(self.mpls) {
            if let Some(v) = v {
                put!("{name}={v},");
            }
        }
        let fm = self.nw_frag.m & 3;
        if fm != 0 {
            put!("nw_frag={},", frag_name(self.nw_frag.v, fm));
        }
    }

    /// The tunnel metadata after `tun_dst`, as `format_flow_tunnel` prints it.
    fn format_tunnel_extra(&self, s: &mut String) {
        ip6_field(s, "tun_ipv6_src", self.tun_ipv6_src);
        ip6_field(s, "tun_ipv6_dst", self.tun_ipv6_dst);
        be16_field(s, "tun_gbp_id", self.tun_gbp_id);
        if self.tun_gbp_flags.m != 0 {
            let _ = write!(s, "tun_gbp_flags={},", c_hex(self.tun_gbp_flags.v.into()));
        }
        let [idx, ver, dir, hwid, gflags, gtype] = self.tun_et;
        // Open vSwitch keeps no match on a zero value of these (its
        // tunnel metadata reads 0 as absent).
        let set = |x: Vm<u32>| x.m != 0 && x.v != 0;
        if set(ver) {
            let _ = write!(s, "tun_erspan_ver={},", ver.v);
        }
        if set(idx) && ver.v == 1 {
            let _ = write!(s, "tun_erspan_idx={},", c_hex(idx.v.into()));
        }
        if set(dir) && ver.v == 2 {
            let _ = write!(s, "tun_erspan_dir={},", dir.v);
        }
        if set(hwid) && ver.v == 2 {
            let _ = write!(s, "tun_erspan_hwid={},", c_hex(hwid.v.into()));
        }
        if set(gflags) {
            let _ = write!(s, "gtpu_flags={},", c_hex(gflags.v.into()));
        }
        if set(gtype) {
            let _ = write!(s, "gtpu_msgtype={},", gtype.v);
        }
        // Open vSwitch masks with all its tunnel flags (4 bits), of which
        // OpenFlow carries one: a match prints as `+oam` or `-oam`.
        if self.tun_flags.m & 0xf != 0 {
            let f = flags_masked(tun_flag_name, u32::from(self.tun_flags.v & 0xf), u32::from(self.tun_flags.m & 0xf), 0xf);
            let _ = write!(s, "tun_flags={f},");
        }
        self.format_tun_metadata(s);
    }

    /// `tun_metadataN=V[/M]` in field order; the bare name for an
    /// all-zero mask (present, any value), as `tun_metadata_match_format`.
    /// Without the switch's option map, Open vSwitch reads a field in as
    /// few bytes as value and mask need, so a mask of all ones over those
    /// bytes prints as none.
    fn format_tun_metadata(&self, s: &mut String) {
        let mut md: Vec<&OxmField> = self.tun_md.iter().collect();
        md.sort_by_key(|f| f.id.field);
        for f in md {
            let _ = write!(s, "tun_metadata{}", f.id.field - 40);
            let sig = |b: &[u8]| b.len() - b.iter().take_while(|&&x| x == 0).count();
            match f.mask.as_deref() {
                Some(m) if m.iter().all(|&b| b == 0) => {}
                Some(m) if !m[m.len() - sig(&f.value).max(sig(m))..].iter().all(|&b| b == 0xff) => {
                    let v: Vec<u8> = f.value.iter().zip(m).map(|(v, m)| v & m).collect();
                    let _ = write!(s, "={}/{}", hex_bytes(&v), hex_bytes(m));
                }
                _ => {
                    let _ = write!(s, "={}", hex_bytes(&f.value));
                }
            }
            s.push(',');
        }
    }

    /// The NSH header fields (the context words only for MD type 1), as
    /// `format_nsh_masked` prints them.
    fn format_nsh(&self, s: &mut String) {
        let u8_field = |s: &mut String, name: &str, x: Vm<u32>| match x.m {
            0 => {}
            0xff => {
                let _ = write!(s, "{name}={},", x.v);
            }
            m => {
                let _ = write!(s, "{name}=0x{:02x}/0x{m:02x},", x.v);
            }
        };
        let hex32 = |s: &mut String, name: &str, x: Vm<u32>| match x.m {
            0 => {}
            u32::MAX => {
                let _ = write!(s, "{name}={:#x},", x.v);
            }
            m => {
                let _ = write!(s, "{name}={:#x}/{m:#x},", x.v);
            }
        };
        let n = &self.nsh;
        for (name, i) in [("nsh_flags", 0), ("nsh_ttl", 9), ("nsh_mdtype", 1), ("nsh_np", 2)] {
            u8_field(s, name, n[i]);
        }
        let spi = Vm { v: n[3].v, m: if n[3].m == 0x00ff_ffff { u32::MAX } else { n[3].m } };
        hex32(s, "nsh_spi", spi);
        u8_field(s, "nsh_si", n[4]);
        if n[1].m == 0xff && n[1].v == 1 {
            for (i, name) in ["nsh_c1", "nsh_c2", "nsh_c3", "nsh_c4"].iter().enumerate() {
                hex32(s, name, n[5 + i]);
            }
        }
    }

    /// Transport ports, ICMP type and code, ND fields, TCP flags.
    fn format_l4(&self, s: &mut String, dl_type: u16) {
        let proto = self.nw_proto.v;
        macro_rules! put {
            ($($t:tt)*) => {{ let _ = write!(s, $($t)*); }};
        }
        if dl_type == 0x0800 && proto == 1 {
            be16_field(s, "icmp_type", self.tp_src);
            be16_field(s, "icmp_code", self.tp_dst);
        } else if dl_type == 0x86dd && proto == 58 {
            be16_field(s, "icmp_type", self.tp_src);
            be16_field(s, "icmp_code", self.tp_dst);
            ip6_field(s, "nd_target", self.nd_target);
            eth_field(s, "nd_sll", self.arp_sha);
            eth_field(s, "nd_tll", self.arp_tha);
            u32_dec_field(s, "nd_reserved", self.nd_reserved);
            be16_field(s, "nd_options_type", self.nd_options_type);
        } else {
            be16_field(s, "tp_src", self.tp_src);
            be16_field(s, "tp_dst", self.tp_dst);
        }
        if (dl_type == 0x0800 || dl_type == 0x86dd) && proto == 6 && self.tcp_flags.m != 0 {
            put!(
                "tcp_flags={},",
                flags_masked(tcp_flag_name, self.tcp_flags.v as u32, self.tcp_flags.m as u32 & 0x0fff, 0x0fff)
            );
        }
    }

    /// Fields the view has no place for, raw.
    fn format_unknown(&self, s: &mut String) {
        macro_rules! put {
            ($($t:tt)*) => {{ let _ = write!(s, $($t)*); }};
        }
        for f in &self.unknown {
            put!("{}={}", f.id.name(), hex_bytes(&f.value));
            if let Some(m) = &f.mask {
                put!("/{}", hex_bytes(m));
            }
            s.push(',');
        }
    }
}

/// A 32-bit field in decimal, or `0xV/0xM` when masked (Open vSwitch's
/// `format_be32_masked`).
fn u32_dec_field(s: &mut String, name: &str, x: Vm<u32>) {
    match x.m {
        0 => {}
        u32::MAX => {
            let _ = write!(s, "{name}={},", x.v);
        }
        m => {
            let _ = write!(s, "{name}={:#x}/{m:#x},", x.v);
        }
    }
}

fn u32_masked(s: &mut String, name: &str, x: Vm<u32>) {
    if x.m != 0 {
        let _ = write!(s, "{name}={}", cx(x.v as u64));
        if x.m != u32::MAX {
            let _ = write!(s, "/{}", cx(x.m as u64));
        }
        s.push(',');
    }
}

fn u64_masked(s: &mut String, name: &str, x: Vm<u64>) {
    if x.m != 0 {
        let _ = write!(s, "{name}={}", cx(x.v));
        if x.m != u64::MAX {
            let _ = write!(s, "/{}", cx(x.m));
        }
        s.push(',');
    }
}

/// C's `%#x`: `0x`-prefixed hex, but a bare `0` for zero.
fn c_hex(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn be16_field(s: &mut String, name: &str, x: Vm<u16>) {
    if x.m != 0 {
        if x.m == u16::MAX {
            let _ = write!(s, "{name}={},", x.v);
        } else {
            let _ = write!(s, "{name}={:#x}/{:#x},", x.v, x.m);
        }
    }
}

fn ip_field(s: &mut String, name: &str, x: Vm<u32>) {
    if x.m != 0 {
        let _ = write!(s, "{name}={},", ipv4_masked(x.v, x.m));
    }
}

fn ip6_field(s: &mut String, name: &str, x: Vm<u128>) {
    if x.m != 0 {
        let _ = write!(s, "{name}={},", ipv6_masked(x.v, x.m));
    }
}

fn eth_field(s: &mut String, name: &str, x: Vm<[u8; 6]>) {
    if x.m != [0; 6] {
        let _ = write!(s, "{name}={},", eth_masked(&x.v, Some(&x.m)));
    }
}

/// The match as `ovs-ofctl` prints it: `priority=50,ip,nw_src=…`
/// (priority omitted when it is the default, 0x8000).
pub fn match_fields(m: &Match, priority: u16) -> String {
    FlowView::from_match(m).format(priority)
}

// ---------------------------------------------------------------------------
// Actions.

/// A field value as `set_field` prints it (Open vSwitch's `mf_format`).
pub(super) fn field_value(f: &OxmField) -> String {
    let Some(def) = f.id.def() else {
        let mut s = hex_bytes(&f.value);
        if let Some(m) = &f.mask {
            s.push('/');
            s.push_str(&hex_bytes(m));
        }
        return s;
    };
    let mut mask = f.mask.as_deref();
    if let Some(m) = mask {
        if m.iter().all(|&b| b == 0) {
            return "ANY".into();
        }
        // A variable-length field's mask is all ones only over all its
        // bytes (Open vSwitch's mf_format): a short one always prints.
        if m.iter().all(|&b| b == 0xff) && !def.variable_len() {
            mask = None;
        }
    }
    let v = f.value_u128();
    let mv = mask.map(crate::openflow::oxm::be_to_u128);
    let integer = |s: &mut String| {
        if let Some(m) = mask {
            s.push('/');
            s.push_str(&hex_bytes(m));
        }
    };
    match def.format {
        Format::Port if mask.is_none() => port(PortNo(v as u32)),
        Format::Decimal | Format::Port => {
            let mut s = if f.value.len() <= 8 { v.to_string() } else { hex_bytes(&f.value) };
            integer(&mut s);
            s
        }
        Format::Hex => {
            let mut s = hex_bytes(&f.value);
            integer(&mut s);
            s
        }
        Format::CtState => flags_masked(ct_state_name, v as u32, mv.map_or(u32::MAX, |m| m as u32), 0xffff),
        Format::TcpFlags => flags_masked(tcp_flag_name, v as u32, mv.map_or(0xffff, |m| m as u32) & 0x0fff, 0x0fff),
        Format::TunFlags => flags_masked(tun_flag_name, v as u32, mv.map_or(0xffff, |m| m as u32) & 1, 1),
        Format::Ethernet => eth_masked(&f.value, mask),
        Format::Ipv4 => ipv4_masked(v as u32, mv.map_or(u32::MAX, |m| m as u32)),
        Format::Ipv6 => ipv6_masked(v, mv.unwrap_or(u128::MAX)),
        Format::Frag => frag_name(v as u8, mv.map_or(0xff, |m| m as u8)).to_string(),
        Format::PacketType => {
            // mf_format uses the same helper as the match, minus "eth".
            let m = mv.map_or(u32::MAX, |m| m as u32);
            packet_type_masked(v as u32, m)
        }
    }
}

/// A field outside [`oxm::FIELDS`](crate::openflow::oxm::FIELDS) that Open
/// vSwitch itself puts in the actions it sends back (for example
/// `move:NXM_OF_IN_PORT[]->…` comes back with the 16-bit NXM in_port).
fn extra_field(id: OxmId) -> Option<&'static crate::openflow::oxm::FieldDef> {
    if id.def().is_some() {
        return None;
    }
    id.action_def()
}

/// Name of a field in subfield syntax (`NXM_NX_REG0`).
fn subfield_field_name(id: OxmId) -> String {
    match (id.def(), extra_field(id)) {
        (Some(d), _) => d.nxm_name.to_string(),
        (None, Some(e)) => e.nxm_name.to_string(),
        (None, None) => id.name(),
    }
}

/// Width of a field as Open vSwitch counts it for subfields (`vlan_vid`
/// is 12 bits there: the present bit is not part of it).
fn subfield_width(id: OxmId) -> Option<u32> {
    if id == fields::VLAN_VID {
        return Some(12);
    }
    id.action_def().map(|d| d.bits)
}

pub(super) fn subfield(sf: &Subfield) -> String {
    let mut s = subfield_field_name(sf.field);
    let bits = subfield_width(sf.field);
    if bits.is_some() && sf.ofs == 0 && Some(sf.n_bits as u32) == bits {
        s.push_str("[]");
    } else if sf.n_bits == 1 {
        let _ = write!(s, "[{}]", sf.ofs);
    } else {
        let _ = write!(s, "[{}..{}]", sf.ofs, sf.ofs as u32 + sf.n_bits as u32 - 1);
    }
    s
}

fn reason_name(r: u8) -> String {
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

fn controller(c: &Controller) -> String {
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

fn nat(n: &Nat) -> String {
    let mut s = String::from("nat");
    if n.flags & (nat_flags::SRC | nat_flags::DST) != 0 {
        s.push('(');
        s.push_str(if n.flags & nat_flags::SRC != 0 { "src" } else { "dst" });
        let pmin = n.proto_min.unwrap_or(0);
        let pmax = n.proto_max.unwrap_or(0);
        if let Some(addr) = n.addr {
            s.push('=');
            match addr {
                NatAddrRange::V4(min, max) => {
                    let _ = write!(s, "{min}");
                    if let Some(max) = max {
                        if max != Ipv4Addr::UNSPECIFIED && max != min {
                            let _ = write!(s, "-{max}");
                        }
                    }
                }
                NatAddrRange::V6(min, max) => {
                    let br = |a: Ipv6Addr| if pmin != 0 { format!("[{}]", ipv6(a.into())) } else { ipv6(a.into()) };
                    s.push_str(&br(min));
                    if let Some(max) = max {
                        if max != Ipv6Addr::UNSPECIFIED && max != min {
                            s.push('-');
                            s.push_str(&br(max));
                        }
                    }
                }
            }
            if pmin != 0 {
                let _ = write!(s, ":{pmin}");
                if pmax != 0 && pmax != pmin {
                    let _ = write!(s, "-{pmax}");
                }
            }
        }
        s.push(',');
        if n.flags & nat_flags::PERSISTENT != 0 {
            s.push_str("persistent,");
        }
        if n.flags & nat_flags::PROTO_HASH != 0 {
            s.push_str("hash,");
        }
        if n.flags & nat_flags::PROTO_RANDOM != 0 {
            s.push_str("random,");
        }
        if s.ends_with(',') {
            s.pop();
        }
        s.push(')');
    }
    s
}

fn ct(c: &Ct) -> String {
    let mut s = String::from("ct(");
    if c.flags & ct_flags::COMMIT != 0 {
        s.push_str("commit,");
    }
    if c.flags & ct_flags::FORCE != 0 {
        s.push_str("force,");
    }
    if let Some(t) = c.table {
        if t != CT_RECIRC_NONE {
            let _ = write!(s, "table={t},");
        }
    }
    match c.zone {
        CtZone::Field(sf) => {
            let _ = write!(s, "zone={},", subfield(&sf));
        }
        CtZone::Imm(0) => {}
        CtZone::Imm(z) => {
            let _ = write!(s, "zone={z},");
        }
    }
    let mut rest: &[Action] = &c.actions;
    if let Some(Action::Nat(n)) = rest.first() {
        s.push_str(&nat(n));
        s.push(',');
        rest = &rest[1..];
    }
    if !rest.is_empty() {
        let _ = write!(s, "exec({}),", actions(rest));
    }
    match c.alg {
        0 => {}
        21 => s.push_str("alg=ftp,"),
        69 => s.push_str("alg=tftp,"),
        n => {
            let _ = write!(s, "alg={n},");
        }
    }
    if s.ends_with(',') {
        s.pop();
    }
    s.push(')');
    s
}

/// `load:` segments of an NXAST_REG_LOAD (one, since it loads one
/// contiguous range).
fn reg_load(dst: &Subfield, value: u64) -> String {
    format!("load:{}->{}", cx(value), subfield(dst))
}

/// The note bytes as they travel (padded so the action is a multiple of 8
/// bytes and the note at least 6 bytes), which is what a peer prints.
fn note_padded(n: &[u8]) -> Vec<u8> {
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
fn unknown_set_field(body: &[u8]) -> Option<String> {
    let mut r = crate::wire::Reader::new(body);
    let f = OxmField::decode(&mut r).ok()?;
    Some(set_field_other(&f))
}

/// `set_field` of a field outside `FIELDS`: by Open vSwitch's name for it
/// when it has one, else `set_field:0x…->OXM(class,field)`.
fn set_field_other(f: &OxmField) -> String {
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
        Action::Unknown { ty, body } => format!("unknown_action(type={ty},data={})", dotted_hex(body)),
        other => ext_action(other),
    }
}

/// The actions of `action::ext`, as `ovs-ofctl` prints them.
fn ext_action(a: &Action) -> String {
    match a {
        Action::OutputReg { src, .. } => format!("output:{}", subfield(src)),
        Action::OutputTrunc { port, max_len } => format!("output(port={},max_len={max_len})", port16(*port)),
        Action::PopQueue => "pop_queue".into(),
        Action::Exit => "exit".into(),
        Action::DecNshTtl => "dec_nsh_ttl".into(),
        Action::DeleteField(id) => format!("delete_field:{}", id.def().map_or_else(|| id.name(), |d| d.name.to_string())),
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
        Action::Learn(l) => super::learn::format_learn(l),
        Action::Bundle(b) => super::hash_actions::format_bundle(b),
        Action::Multipath(m) => super::hash_actions::format_multipath(m),
        Action::Encap(e) => super::encap::format_encap(e),
        Action::Decap(pt) => super::encap::format_decap(*pt),
        Action::CheckPktLarger { pkt_len, dst } => format!("check_pkt_larger({pkt_len})->{}", subfield(dst)),
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
fn actions_or_empty(a: &[Action]) -> String {
    a.iter().map(action).collect::<Vec<_>>().join(",")
}

/// An action list, comma-separated (`drop` when empty).
pub fn actions(a: &[Action]) -> String {
    if a.is_empty() {
        return "drop".into();
    }
    a.iter().map(action).collect::<Vec<_>>().join(",")
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
            Instruction::Unknown { ty, body } => {
                parts.push(format!("unknown_instruction(type={ty},data={})", dotted_hex(body)))
            }
        }
    }
    if parts.is_empty() {
        "drop".into()
    } else {
        parts.join(",")
    }
}

// ---------------------------------------------------------------------------
// Whole flows.

/// `ofp_print_duration` (flow and port durations): whole seconds, then 3 decimals when the
/// fraction is whole milliseconds, else as many as needed (up to 9).
pub fn duration(sec: u32, nsec: u32) -> String {
    let mut s = sec.to_string();
    if nsec > 0 {
        let msec = nsec / 1_000_000;
        if msec * 1_000_000 == nsec {
            let _ = write!(s, ".{msec:03}");
        } else {
            let frac = format!("{nsec:09}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
    }
    s.push('s');
    s
}

fn flag_words(flags: u16) -> String {
    use crate::openflow::flow::flags::*;
    let mut s = String::new();
    for (bit, name) in [
        (SEND_FLOW_REM, "send_flow_rem "),
        (CHECK_OVERLAP, "check_overlap "),
        (RESET_COUNTS, "reset_counts "),
        (NO_PKT_COUNTS, "no_packet_counts "),
        (NO_BYT_COUNTS, "no_byte_counts "),
    ] {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
    s
}

fn stat_count(c: Option<u64>) -> String {
    match c {
        Some(u64::MAX) | None => "?".into(),
        Some(n) => n.to_string(),
    }
}

/// The body shared by the dump and add-flow forms.
#[allow(clippy::too_many_arguments)]
fn flow_common(
    out: &mut String,
    cookie: u64,
    table_id: u8,
    stats: Option<&Stats>,
    idle_timeout: u16,
    hard_timeout: u16,
    flags: u16,
    importance: u16,
    m: &Match,
    priority: u16,
    instr: &[Instruction],
) {
    if stats.is_some() || cookie != 0 {
        let _ = write!(out, "cookie={cookie:#x}, ");
    }
    if let Some(st) = stats {
        let (sec, nsec) = st.duration.map_or((u32::MAX, u32::MAX), |d| (d.sec, d.nsec));
        let _ = write!(out, "duration={}, ", duration(sec, nsec));
    }
    if stats.is_some() || table_id != 0 {
        let _ = write!(out, "table={table_id}, ");
    }
    if let Some(st) = stats {
        let _ = write!(out, "n_packets={}, n_bytes={}, ", stat_count(st.packet_count), stat_count(st.byte_count));
    }
    if idle_timeout != 0 {
        let _ = write!(out, "idle_timeout={idle_timeout}, ");
    }
    if hard_timeout != 0 {
        let _ = write!(out, "hard_timeout={hard_timeout}, ");
    }
    out.push_str(&flag_words(flags));
    if importance != 0 {
        let _ = write!(out, "importance={importance}, ");
    }
    if let Some(st) = stats {
        // OVS keeps the idle age in an int: u32::MAX (absent) and anything
        // that turns negative are not printed. OpenFlow 1.5 never carries
        // a hard age.
        if let Some(it) = st.idle_time {
            if (it.sec as i32) >= 0 {
                let _ = write!(out, "idle_age={}, ", it.sec as i32);
            }
        }
    }
    let mf = match_fields(m, priority);
    out.push_str(&mf);
    if !mf.is_empty() {
        out.push(' ');
    }
    out.push_str("actions=");
    out.push_str(&instructions(instr));
}

/// One `dump-flows` line for a FLOW_DESC entry, with its leading space and
/// without a newline.
pub fn flow_desc(f: &FlowDesc, opts: &PrintOptions) -> String {
    let mut s = String::from(" ");
    flow_common(
        &mut s,
        f.cookie,
        f.table_id,
        opts.stats.then_some(&f.stats),
        f.idle_timeout,
        f.hard_timeout,
        f.flags,
        f.importance,
        &f.r#match,
        f.priority,
        &f.instructions,
    );
    s
}

/// The `add-flow` text of the flow a FLOW_MOD describes: the `--no-stats`
/// dump form of the same flow, without the leading space (for example
/// `table=10, priority=50,ip actions=drop`).
pub fn flow_mod(fm: &FlowMod) -> String {
    let mut s = String::new();
    flow_common(
        &mut s,
        fm.cookie,
        fm.table_id,
        None,
        fm.idle_timeout,
        fm.hard_timeout,
        fm.flags,
        fm.importance,
        &fm.r#match,
        fm.priority,
        &fm.instructions,
    );
    s
}

/// The `ovs-ofctl ofp-print` text of a FLOW_MOD message with this xid
/// (one line, no newline).
pub fn flow_mod_ofp_print(fm: &FlowMod, xid: u32) -> String {
    let mut s = format!("OFPT_FLOW_MOD (OF1.5) (xid={xid:#x}): ");
    let cmd = fm.command;
    s.push_str(&match cmd {
        FlowModCommand::ADD => "ADD".to_string(),
        FlowModCommand::MODIFY => "MOD".to_string(),
        FlowModCommand::MODIFY_STRICT => "MOD_STRICT".to_string(),
        FlowModCommand::DELETE => "DEL".to_string(),
        FlowModCommand::DELETE_STRICT => "DEL_STRICT".to_string(),
        FlowModCommand(n) => format!("cmd:{n}"),
    });
    if fm.table_id != 0 {
        let _ = write!(s, " table:{}", fm.table_id);
    }
    s.push(' ');
    s.push_str(&match_fields(&fm.r#match, fm.priority));
    if !s.ends_with(' ') {
        s.push(' ');
    }
    // An add sets the cookie; the others select flows by cookie/mask.
    let (cookie, cookie_mask, new_cookie) =
        if cmd == FlowModCommand::ADD { (0, 0, fm.cookie) } else { (fm.cookie, fm.cookie_mask, u64::MAX) };
    if new_cookie != 0 && new_cookie != u64::MAX {
        let _ = write!(s, "cookie:{new_cookie:#x} ");
    }
    if cookie_mask != 0 {
        let _ = write!(s, "cookie:{cookie:#x}/{cookie_mask:#x} ");
    }
    if fm.idle_timeout != 0 {
        let _ = write!(s, "idle:{} ", fm.idle_timeout);
    }
    if fm.hard_timeout != 0 {
        let _ = write!(s, "hard:{} ", fm.hard_timeout);
    }
    if fm.importance != 0 {
        let _ = write!(s, "importance:{} ", fm.importance);
    }
    if fm.buffer_id != NO_BUFFER {
        let _ = write!(s, "buf:{:#x} ", fm.buffer_id);
    }
    if fm.out_port != PortNo::ANY {
        let _ = write!(s, "out_port:{} ", port(fm.out_port));
    }
    s.push_str(&flag_words(fm.flags));
    s.push_str("actions=");
    s.push_str(&instructions(&fm.instructions));
    s
}

#[cfg(test)]
mod tests {
    //! Expected strings are what `ovs-ofctl` 3.1 prints (the oracle tests in
    //! `tests/text_print_oracle.rs` check the same code against it).
    use super::*;
    use crate::openflow::action::{ct_flags, nat_flags, RESUBMIT_IN_PORT};
    use crate::openflow::oxm::FIELDS;
    use crate::openflow::oxs::Duration;

    fn f(id: OxmId, v: &[u8]) -> OxmField {
        OxmField::new(id, v.to_vec())
    }
    fn fm(id: OxmId, v: &[u8], m: &[u8]) -> OxmField {
        OxmField::masked(id, v.to_vec(), m.to_vec())
    }
    fn mt(fields: Vec<OxmField>) -> String {
        match_fields(&Match { fields }, DEFAULT_PRIORITY)
    }
    fn ip() -> OxmField {
        f(fields::ETH_TYPE, &[0x08, 0x00])
    }
    fn ip6() -> OxmField {
        f(fields::ETH_TYPE, &[0x86, 0xdd])
    }
    fn proto(p: u8) -> OxmField {
        f(fields::IP_PROTO, &[p])
    }
    fn sf(field: OxmId, ofs: u16, n_bits: u16) -> Subfield {
        Subfield { field, ofs, n_bits }
    }

    #[test]
    fn header_and_duration() {
        assert_eq!(flow_stats_header(2), "OFPST_FLOW reply (OF1.5) (xid=0x2):");
        assert_eq!(flow_stats_header(0), "OFPST_FLOW reply (OF1.5) (xid=0x0):");
        assert_eq!(duration(0, 0), "0s");
        assert_eq!(duration(1, 5_000_000), "1.005s");
        assert_eq!(duration(12, 0), "12s");
        assert_eq!(duration(2, 123_456_789), "2.123456789s");
        assert_eq!(duration(3, 100), "3.0000001s");
        assert_eq!(duration(0, 120_000_000), "0.120s");
        // Absent: OVS prints its "unknown" value.
        assert_eq!(duration(u32::MAX, u32::MAX), "4294967295.4294967295s");
    }

    fn desc() -> FlowDesc {
        FlowDesc {
            table_id: 0,
            priority: 200,
            r#match: Match {
                fields: vec![f(fields::IN_PORT, &[0, 0, 0, 1]), f(fields::ETH_SRC, &[0, 0x11, 0x22, 0x33, 0x44, 0x55])],
            },
            stats: Stats {
                duration: Some(Duration { sec: 0, nsec: 5_000_000 }),
                idle_time: Some(Duration { sec: 0, nsec: 0 }),
                packet_count: Some(0),
                byte_count: Some(0),
                ..Stats::default()
            },
            instructions: vec![
                Instruction::ApplyActions(vec![Action::SetField(fm(fields::reg(0), &[0, 0, 0, 1], &[0, 0, 0, 0xf]))]),
                Instruction::GotoTable(10),
            ],
            ..FlowDesc::default()
        }
    }

    #[test]
    fn dump_line_with_stats() {
        assert_eq!(
            flow_desc(&desc(), &PrintOptions { stats: true }),
            " cookie=0x0, duration=0.005s, table=0, n_packets=0, n_bytes=0, idle_age=0, priority=200,in_port=1,dl_src=00:11:22:33:44:55 actions=set_field:0x1/0xf->reg0,goto_table:10"
        );
        let mut d = desc();
        d.cookie = 0xabc;
        d.table_id = 10;
        d.idle_timeout = 30;
        d.hard_timeout = 60;
        d.flags = crate::openflow::flow::flags::SEND_FLOW_REM;
        d.importance = 3;
        d.stats = Stats {
            duration: Some(Duration { sec: 7, nsec: 0 }),
            idle_time: Some(Duration { sec: 4, nsec: 999 }),
            packet_count: Some(12),
            byte_count: Some(3456),
            ..Stats::default()
        };
        assert_eq!(
            flow_desc(&d, &PrintOptions::default()),
            " cookie=0xabc, duration=7s, table=10, n_packets=12, n_bytes=3456, idle_timeout=30, hard_timeout=60, send_flow_rem importance=3, idle_age=4, priority=200,in_port=1,dl_src=00:11:22:33:44:55 actions=set_field:0x1/0xf->reg0,goto_table:10"
        );
        assert_eq!(
            flow_desc(&d, &PrintOptions { stats: false }),
            " cookie=0xabc, table=10, idle_timeout=30, hard_timeout=60, send_flow_rem importance=3, priority=200,in_port=1,dl_src=00:11:22:33:44:55 actions=set_field:0x1/0xf->reg0,goto_table:10"
        );
    }

    #[test]
    fn dump_line_absent_and_odd_stats() {
        let d = FlowDesc { priority: DEFAULT_PRIORITY, flags: 0x1f, ..FlowDesc::default() };
        assert_eq!(
            flow_desc(&d, &PrintOptions::default()),
            " cookie=0x0, duration=4294967295.4294967295s, table=0, n_packets=?, n_bytes=?, send_flow_rem check_overlap reset_counts no_packet_counts no_byte_counts actions=drop"
        );
        let d = FlowDesc {
            priority: 0,
            stats: Stats { idle_time: Some(Duration { sec: 0x8000_0000, nsec: 0 }), ..Stats::default() },
            ..FlowDesc::default()
        };
        // An idle age that does not fit OVS's int is not printed.
        assert!(!flow_desc(&d, &PrintOptions::default()).contains("idle_age"));
        assert_eq!(flow_desc(&d, &PrintOptions { stats: false }), " priority=0 actions=drop");
    }

    #[test]
    fn add_flow_form() {
        let m = FlowMod {
            table_id: 10,
            priority: 50,
            r#match: Match { fields: vec![ip()] },
            ..FlowMod::default()
        };
        assert_eq!(flow_mod(&m), "table=10, priority=50,ip actions=drop");
        assert_eq!(flow_mod(&FlowMod::default()), "actions=drop");
        let m = FlowMod { cookie: 5, idle_timeout: 9, ..FlowMod::default() };
        assert_eq!(flow_mod(&m), "cookie=0x5, idle_timeout=9, actions=drop");
    }

    #[test]
    fn ofp_print_flow_mod() {
        let base = FlowMod {
            table_id: 10,
            priority: 50,
            r#match: Match { fields: vec![ip(), fm(fields::IPV4_SRC, &[198, 18, 0, 0], &[255, 255, 255, 0])] },
            instructions: vec![Instruction::ApplyActions(vec![Action::output(PortNo(3))])],
            ..FlowMod::default()
        };
        assert_eq!(
            flow_mod_ofp_print(&base, 2),
            "OFPT_FLOW_MOD (OF1.5) (xid=0x2): ADD table:10 priority=50,ip,nw_src=198.18.0.0/24 actions=output:3"
        );
        let m = FlowMod {
            command: FlowModCommand::MODIFY,
            cookie: 5,
            cookie_mask: 0xff,
            idle_timeout: 1,
            hard_timeout: 2,
            importance: 3,
            buffer_id: 0x42,
            out_port: PortNo::LOCAL,
            flags: 1,
            ..base.clone()
        };
        assert_eq!(
            flow_mod_ofp_print(&m, 0x10),
            "OFPT_FLOW_MOD (OF1.5) (xid=0x10): MOD table:10 priority=50,ip,nw_src=198.18.0.0/24 cookie:0x5/0xff idle:1 hard:2 importance:3 buf:0x42 out_port:LOCAL send_flow_rem actions=output:3"
        );
        let m = FlowMod { command: FlowModCommand::DELETE_STRICT, cookie: 5, table_id: 0, r#match: Match::new(), priority: DEFAULT_PRIORITY, ..base.clone() };
        assert_eq!(flow_mod_ofp_print(&m, 1), "OFPT_FLOW_MOD (OF1.5) (xid=0x1): DEL_STRICT actions=output:3");
        let m = FlowMod { cookie: 0xabc, ..base.clone() };
        assert!(flow_mod_ofp_print(&m, 1).contains(" cookie:0xabc actions="));
        let m = FlowMod { command: FlowModCommand(9), ..base };
        assert!(flow_mod_ofp_print(&m, 1).contains("): cmd:9 table:10 "));
    }

    #[test]
    fn match_basic_fields() {
        assert_eq!(mt(vec![]), "");
        assert_eq!(match_fields(&Match::new(), 7), "priority=7");
        assert_eq!(mt(vec![f(fields::IN_PORT, &[0xff, 0xff, 0xff, 0xfe])]), "in_port=LOCAL");
        assert_eq!(mt(vec![f(fields::IN_PORT, &[0xff, 0xff, 0xff, 0xfd])]), "in_port=CONTROLLER");
        assert_eq!(mt(vec![f(fields::IN_PORT, &[0, 0, 0xfe, 0xff])]), "in_port=65279");
        assert_eq!(mt(vec![fm(fields::METADATA, &[0, 0, 0, 0, 0, 0, 0, 5], &[0, 0, 0, 0, 0, 0, 0, 0xff])]), "metadata=0x5/0xff");
        assert_eq!(mt(vec![f(fields::METADATA, &[0; 8])]), "metadata=0");
        assert_eq!(
            mt(vec![fm(fields::ETH_DST, &[1, 0, 0, 0, 0, 0], &[1, 0, 0, 0, 0, 0]), f(fields::ETH_SRC, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])]),
            "dl_src=aa:bb:cc:dd:ee:ff,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"
        );
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x88, 0xcc])]), "dl_type=0x88cc");
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x08, 0x06])]), "arp");
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x80, 0x35])]), "rarp");
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x88, 0x47])]), "mpls");
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x88, 0x48])]), "mplsm");
        assert_eq!(mt(vec![f(fields::TUNNEL_ID, &[0, 0, 0, 0, 0, 0, 0, 7])]), "tun_id=0x7");
        assert_eq!(mt(vec![f(fields::TUN_SRC, &[1, 2, 3, 4]), fm(fields::TUN_DST, &[1, 2, 3, 0], &[255, 255, 255, 0])]), "tun_src=1.2.3.4,tun_dst=1.2.3.0/24");
        assert_eq!(mt(vec![f(fields::CONJ_ID, &[0, 0, 0, 7])]), "conj_id=7");
        assert_eq!(mt(vec![f(fields::PACKET_TYPE, &[0, 0, 0, 0])]), "");
        assert_eq!(mt(vec![f(fields::PACKET_TYPE, &[0, 1, 0x08, 0x00])]), "packet_type=(1,0x800)");
        assert_eq!(mt(vec![f(fields::PACKET_TYPE, &[0, 0, 0, 5])]), "packet_type=(0,5)");
    }

    #[test]
    fn match_order_is_ovs_order_not_oxm_order() {
        let m = vec![
            f(fields::TCP_DST, &[0, 80]),
            proto(6),
            f(fields::IPV4_SRC, &[10, 0, 0, 1]),
            ip(),
            f(fields::IN_PORT, &[0, 0, 0, 3]),
            f(fields::reg(1), &[0, 0, 0, 2]),
            f(fields::CT_STATE, &[0, 0, 0, 0x20]),
            f(fields::CONJ_ID, &[0, 0, 0, 5]),
        ];
        assert_eq!(mt(m), "conj_id=5,ct_state=trk,tcp,reg1=0x2,in_port=3,nw_src=10.0.0.1,tp_dst=80");
    }

    #[test]
    fn match_vlan() {
        assert_eq!(mt(vec![f(fields::VLAN_VID, &[0x10, 5])]), "dl_vlan=5");
        assert_eq!(mt(vec![f(fields::VLAN_VID, &[0x10, 5]), f(fields::VLAN_PCP, &[3])]), "dl_vlan=5,dl_vlan_pcp=3");
        assert_eq!(mt(vec![f(fields::VLAN_VID, &[0, 0])]), "vlan_tci=0x0000/0x1fff");
        assert_eq!(mt(vec![fm(fields::VLAN_VID, &[0x10, 0], &[0x10, 0])]), "vlan_tci=0x1000/0x1000");
        assert_eq!(mt(vec![fm(fields::VLAN_VID, &[0x10, 0x05], &[0x1f, 0xf0])]), "vlan_tci=0x1000/0x1ff0");
        assert_eq!(mt(vec![f(fields::VLAN_TCI, &[0xf1, 0x23])]), "dl_vlan=291,dl_vlan_pcp=7");
        assert_eq!(mt(vec![f(fields::VLAN_TCI, &[0, 0])]), "vlan_tci=0x0000");
        assert_eq!(mt(vec![fm(fields::VLAN_TCI, &[0x30, 0], &[0x30, 0])]), "vlan_tci=0x3000/0x3000");
        assert_eq!(mt(vec![fm(fields::VLAN_TCI, &[0x10, 5], &[0x1f, 0xff])]), "dl_vlan=5");
        assert_eq!(mt(vec![fm(fields::VLAN_TCI, &[0x70, 0], &[0xf0, 0])]), "dl_vlan_pcp=3");
    }

    #[test]
    fn match_ip_family() {
        assert_eq!(mt(vec![ip(), f(fields::IP_DSCP, &[2])]), "ip,nw_tos=8");
        assert_eq!(mt(vec![ip(), f(fields::IP_ECN, &[1])]), "ip,nw_ecn=1");
        assert_eq!(mt(vec![ip6(), f(fields::IP_DSCP, &[63]), f(fields::IP_ECN, &[3])]), "ipv6,nw_tos=252,nw_ecn=3");
        assert_eq!(mt(vec![ip(), proto(47)]), "ip,nw_proto=47");
        assert_eq!(mt(vec![ip6(), proto(47)]), "ipv6,nw_proto=47");
        for (p, v4, v6) in [(1, "icmp", "ipv6,nw_proto=1"), (6, "tcp", "tcp6"), (17, "udp", "udp6"), (132, "sctp", "sctp6"), (58, "ip,nw_proto=58", "icmp6")] {
            assert_eq!(mt(vec![ip(), proto(p)]), v4);
            assert_eq!(mt(vec![ip6(), proto(p)]), v6);
        }
        assert_eq!(
            mt(vec![ip(), f(fields::IPV4_SRC, &[198, 18, 0, 1]), fm(fields::IPV4_DST, &[10, 0, 0, 0], &[255, 0, 255, 0])]),
            "ip,nw_src=198.18.0.1,nw_dst=10.0.0.0/255.0.255.0"
        );
        assert_eq!(mt(vec![ip(), fm(fields::IPV4_SRC, &[0, 0, 0, 0], &[128, 0, 0, 0])]), "ip,nw_src=0.0.0.0/1");
        assert_eq!(mt(vec![ip(), f(fields::NW_TTL, &[64])]), "ip,nw_ttl=64");
        for (v, m, s) in [(0, 3, "no"), (1, 3, "first"), (3, 3, "later"), (0, 1, "no"), (1, 1, "yes"), (0, 2, "not_later"), (2, 2, "later")] {
            assert_eq!(mt(vec![ip(), fm(fields::IP_FRAG, &[v], &[m])]), format!("ip,nw_frag={s}"));
        }
        assert_eq!(mt(vec![ip(), f(fields::IP_FRAG, &[1])]), "ip,nw_frag=first");
        assert_eq!(
            mt(vec![ip(), proto(6), f(fields::TCP_SRC, &[0, 80]), fm(fields::TCP_DST, &[0x04, 0], &[0xfc, 0])]),
            "tcp,tp_src=80,tp_dst=0x400/0xfc00"
        );
        assert_eq!(mt(vec![ip6(), proto(17), f(fields::UDP_DST, &[0, 53])]), "udp6,tp_dst=53");
        assert_eq!(mt(vec![ip(), proto(132), f(fields::SCTP_SRC, &[0, 1]), f(fields::SCTP_DST, &[0xff, 0xff])]), "sctp,tp_src=1,tp_dst=65535");
        assert_eq!(mt(vec![ip(), proto(1), f(fields::ICMPV4_TYPE, &[3]), f(fields::ICMPV4_CODE, &[1])]), "icmp,icmp_type=3,icmp_code=1");
    }

    #[test]
    fn match_tcp_flags() {
        let tcp = || vec![ip(), proto(6)];
        let with = |v: u16, m: Option<u16>| {
            let mut x = tcp();
            x.push(match m {
                Some(m) => fm(fields::TCP_FLAGS, &v.to_be_bytes(), &m.to_be_bytes()),
                None => f(fields::TCP_FLAGS, &v.to_be_bytes()),
            });
            mt(x)
        };
        assert_eq!(with(0x002, Some(0x012)), "tcp,tcp_flags=+syn-ack");
        assert_eq!(with(0x012, None), "tcp,tcp_flags=syn|ack");
        assert_eq!(with(0x002, Some(0x0fff)), "tcp,tcp_flags=syn");
        assert_eq!(with(0, None), "tcp,tcp_flags=0");
        assert_eq!(with(0xe00, None), "tcp,tcp_flags=[200]|[400]|[800]");
        assert_eq!(with(0x100, Some(0x1c0)), "tcp,tcp_flags=-ece-cwr+ns");
        // Not printed without tcp.
        assert_eq!(mt(vec![ip(), proto(17), f(fields::TCP_FLAGS, &[0, 2])]), "udp");
    }

    #[test]
    fn match_arp_and_ipv6() {
        let arp = f(fields::ETH_TYPE, &[0x08, 0x06]);
        assert_eq!(
            mt(vec![
                arp.clone(),
                f(fields::ARP_OP, &[0, 2]),
                f(fields::ARP_SPA, &[1, 2, 3, 4]),
                fm(fields::ARP_TPA, &[10, 0, 0, 0], &[255, 0, 0, 0]),
                f(fields::ARP_SHA, &[0, 0x11, 0x22, 0x33, 0x44, 0x55]),
                fm(fields::ARP_THA, &[0, 0, 0, 0, 0, 1], &[0xff, 0xff, 0xff, 0, 0, 0]),
            ]),
            "arp,arp_spa=1.2.3.4,arp_tpa=10.0.0.0/8,arp_op=2,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00/ff:ff:ff:00:00:00"
        );
        let a6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
        assert_eq!(
            mt(vec![ip6(), fm(fields::IPV6_SRC, &a6("2001:db8::"), &a6("ffff:ffff::")), f(fields::IPV6_DST, &a6("fe80::1:2:3:4"))]),
            "ipv6,ipv6_src=2001:db8::/32,ipv6_dst=fe80::1:2:3:4"
        );
        assert_eq!(mt(vec![ip6(), f(fields::IPV6_DST, &a6("::1.2.3.4"))]), "ipv6,ipv6_dst=::1.2.3.4");
        assert_eq!(mt(vec![ip6(), f(fields::IPV6_DST, &a6("::ffff:1.2.3.4"))]), "ipv6,ipv6_dst=::ffff:1.2.3.4");
        assert_eq!(mt(vec![ip6(), f(fields::IPV6_DST, &a6("::5"))]), "ipv6,ipv6_dst=::5");
        assert_eq!(mt(vec![ip6(), fm(fields::IPV6_SRC, &a6("2001:db8::"), &a6("ffff:ffff::ffff"))]), "ipv6,ipv6_src=2001:db8::/ffff:ffff::ffff");
        assert_eq!(mt(vec![ip6(), f(fields::IPV6_FLABEL, &[0, 1, 0x23, 0x45])]), "ipv6,ipv6_label=0x12345");
        assert_eq!(mt(vec![ip6(), fm(fields::IPV6_FLABEL, &[0, 1, 0x23, 0x45], &[0, 0xf, 0xff, 0xff])]), "ipv6,ipv6_label=0x12345");
        assert_eq!(mt(vec![ip6(), fm(fields::IPV6_FLABEL, &[0, 0, 0, 1], &[0, 0, 0, 0xf])]), "ipv6,ipv6_label=0x00001/0x0000f");
        let nd = vec![
            ip6(),
            proto(58),
            f(fields::ICMPV6_TYPE, &[135]),
            f(fields::ND_TARGET, &a6("fe80::1")),
            f(fields::ND_SLL, &[0, 0x11, 0x22, 0x33, 0x44, 0x55]),
        ];
        assert_eq!(mt(nd), "icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=00:11:22:33:44:55");
        let nd = vec![ip6(), proto(58), f(fields::ICMPV6_TYPE, &[136]), f(fields::ICMPV6_CODE, &[0]), f(fields::ND_TLL, &[0, 0, 0, 0, 0, 9])];
        assert_eq!(mt(nd), "icmp6,icmp_type=136,icmp_code=0,nd_tll=00:00:00:00:00:09");
    }

    #[test]
    fn match_conntrack() {
        assert_eq!(mt(vec![fm(fields::CT_STATE, &[0, 0, 0, 0x22], &[0, 0, 0, 0x22])]), "ct_state=+est+trk");
        assert_eq!(mt(vec![fm(fields::CT_STATE, &[0, 0, 0, 0x22], &[0, 0, 0, 0x37])]), "ct_state=-new+est-rel-inv+trk");
        assert_eq!(mt(vec![f(fields::CT_STATE, &[0, 0, 0, 0x21])]), "ct_state=new|trk");
        assert_eq!(mt(vec![f(fields::CT_STATE, &[0, 0, 0, 0])]), "ct_state=0");
        assert_eq!(mt(vec![fm(fields::CT_STATE, &[0, 0, 0, 0], &[0, 0, 0, 0xff])]), "ct_state=0");
        assert_eq!(mt(vec![f(fields::CT_ZONE, &[0, 5])]), "ct_zone=5");
        assert_eq!(mt(vec![fm(fields::CT_MARK, &[0, 0, 0, 1], &[0, 0, 0, 0xff])]), "ct_mark=0x1/0xff");
        assert_eq!(mt(vec![f(fields::CT_MARK, &[0, 0, 0, 0])]), "ct_mark=0");
        let mut l = [0u8; 16];
        l[15] = 5;
        let mut m = [0u8; 16];
        m[15] = 0xff;
        assert_eq!(mt(vec![fm(fields::CT_LABEL, &l, &m)]), "ct_label=0x5/0xff");
        assert_eq!(mt(vec![f(fields::CT_LABEL, &[0xff; 16])]), "ct_label=0xffffffffffffffffffffffffffffffff");
        assert_eq!(mt(vec![f(fields::CT_LABEL, &[0; 16])]), "ct_label=0");
    }

    #[test]
    fn match_registers() {
        assert_eq!(mt(vec![f(fields::reg(0), &[0, 0, 0, 1])]), "reg0=0x1");
        assert_eq!(mt(vec![fm(fields::reg(15), &[0, 0, 0, 0], &[0xff, 0xff, 0, 0])]), "reg15=0/0xffff0000");
        assert_eq!(mt(vec![f(fields::xreg(3), &[0, 0, 0, 0, 0, 0, 0, 9])]), "reg6=0,reg7=0x9");
        assert_eq!(
            mt(vec![fm(fields::xreg(0), &[0, 0, 0, 1, 0, 0, 0, 0], &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])]),
            "reg0=0x1"
        );
        assert_eq!(mt(vec![fm(fields::xreg(7), &[0, 0, 0, 0, 0, 0, 0, 5], &[0, 0, 0, 0, 0, 0, 0, 0xf])]), "reg15=0x5/0xf");
    }

    #[test]
    fn every_known_field_prints_something() {
        for d in FIELDS {
            let v = vec![1u8; d.len];
            let s = mt(vec![ip6(), proto(58), f(fields::ICMPV6_TYPE, &[135]), OxmField::new(d.id, v)]);
            assert!(!s.is_empty(), "{}", d.name);
        }
    }

    #[test]
    fn unknown_fields_print_raw() {
        let unk = OxmField::new(OxmId::new(0x8000, 120), vec![7]);
        assert_eq!(mt(vec![ip(), unk]), "ip,OXM(0x8000,120)=0x7");
        let exp = OxmField::masked(OxmId { class: 0xffff, field: 9, experimenter: Some(0x4f4e4600) }, vec![0, 1], vec![0, 3]);
        assert_eq!(mt(vec![exp]), "OXM(0xffff,9,exp=0x4f4e4600)=0x1/0x3");
    }

    fn a(x: Action) -> String {
        action(&x)
    }

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
    fn actions_ct_and_nat() {
        let ct = |flags, zone, table, alg, actions| Action::Ct(Ct { flags, zone, table, alg, actions });
        assert_eq!(a(ct(0, CtZone::Imm(0), None, 0, vec![])), "ct()");
        assert_eq!(
            a(ct(
                ct_flags::COMMIT,
                CtZone::Imm(5),
                Some(20),
                0,
                vec![Action::SetField(f(fields::CT_MARK, &[0, 0, 0, 1]))]
            )),
            "ct(commit,table=20,zone=5,exec(set_field:0x1->ct_mark))"
        );
        assert_eq!(
            a(ct(ct_flags::COMMIT | ct_flags::FORCE, CtZone::Field(sf(fields::reg(3), 0, 16)), None, 21, vec![])),
            "ct(commit,force,zone=NXM_NX_REG3[0..15],alg=ftp)"
        );
        assert_eq!(a(ct(0, CtZone::Imm(0), Some(0), 69, vec![])), "ct(table=0,alg=tftp)");
        assert_eq!(a(ct(0, CtZone::Imm(0), None, 3000, vec![])), "ct(alg=3000)");
        let nat = Nat {
            flags: nat_flags::SRC | nat_flags::PROTO_RANDOM,
            addr: Some(NatAddrRange::V4([203, 0, 113, 1].into(), Some([203, 0, 113, 5].into()))),
            proto_min: Some(1000),
            proto_max: Some(2000),
        };
        assert_eq!(
            a(ct(ct_flags::COMMIT, CtZone::Imm(0), None, 0, vec![Action::Nat(nat.clone())])),
            "ct(commit,nat(src=203.0.113.1-203.0.113.5:1000-2000,random))"
        );
        assert_eq!(
            a(ct(ct_flags::COMMIT, CtZone::Imm(0), None, 0, vec![Action::Nat(nat), Action::SetField(f(fields::CT_MARK, &[0, 0, 0, 2]))])),
            "ct(commit,nat(src=203.0.113.1-203.0.113.5:1000-2000,random),exec(set_field:0x2->ct_mark))"
        );
        assert_eq!(a(Action::Nat(Nat::default())), "nat");
        assert_eq!(a(Action::Nat(Nat { flags: nat_flags::DST, ..Nat::default() })), "nat(dst)");
        assert_eq!(
            a(Action::Nat(Nat {
                flags: nat_flags::DST | nat_flags::PERSISTENT | nat_flags::PROTO_HASH,
                addr: Some(NatAddrRange::V4([1, 2, 3, 4].into(), Some([1, 2, 3, 4].into()))),
                proto_min: Some(80),
                proto_max: Some(80),
            })),
            "nat(dst=1.2.3.4:80,persistent,hash)"
        );
        assert_eq!(
            a(Action::Nat(Nat {
                flags: nat_flags::DST,
                addr: Some(NatAddrRange::V6("fe80::1".parse().unwrap(), Some("fe80::5".parse().unwrap()))),
                proto_min: Some(80),
                proto_max: Some(90),
            })),
            "nat(dst=[fe80::1]-[fe80::5]:80-90)"
        );
        assert_eq!(
            a(Action::Nat(Nat {
                flags: nat_flags::SRC,
                addr: Some(NatAddrRange::V6("fe80::1".parse().unwrap(), None)),
                ..Nat::default()
            })),
            "nat(src=fe80::1)"
        );
    }

    #[test]
    fn raw_actions_and_instructions() {
        assert_eq!(a(Action::Experimenter { experimenter: 0x1234, data: vec![9, 9] }), "experimenter(0x1234,data=09.09)");
        assert_eq!(a(Action::Unknown { ty: 11, body: vec![0; 4] }), "unknown_action(type=11,data=00.00.00.00)");
        // A set_field of a field outside FIELDS, as the decoder keeps it.
        let mut b = bytes::BytesMut::new();
        OxmField::masked(OxmId::new(class::NXM_1, 111), {
            let mut v = vec![0u8; 16];
            v[15] = 8;
            v
        }, {
            let mut v = vec![0u8; 16];
            v[15] = 8;
            v
        })
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

    #[test]
    fn helpers() {
        assert_eq!(cidr_bits(0xffff_ff00, 32), Some(24));
        assert_eq!(cidr_bits(0, 32), Some(0));
        assert_eq!(cidr_bits(0xff00_ff00, 32), None);
        assert_eq!(cidr_bits(u128::MAX, 128), Some(128));
        assert_eq!(hex_bytes(&[0, 0, 1, 0]), "0x100");
        assert_eq!(hex_bytes(&[0, 0]), "0");
        assert_eq!(cx(0), "0");
        assert_eq!(cx(255), "0xff");
        assert_eq!(ipv6(0), "::");
        assert_eq!(ipv6(1), "::1");
        assert_eq!(packet_type_masked(0, u32::MAX), "eth");
        assert_eq!(packet_type_masked(0x0001_0800, 0xffff_0000), "packet_type=(1,*)");
        assert_eq!(packet_type_masked(0x0001_0800, 0xffff_ff00), "packet_type=(1,0x800/0xff00)");
    }
}
