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
fn port(p: PortNo) -> String {
    match p.to_of10() {
        Some(p16) => port16(p16),
        None => p.0.to_string(),
    }
}

/// A 16-bit (OpenFlow 1.0 numbering) port.
fn port16(p: u16) -> String {
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
        n => n.to_string(),
    }
}

fn ct_state_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x01 => "new",
        0x02 => "est",
        0x04 => "rel",
        0x08 => "rpl",
        0x10 => "inv",
        0x20 => "trk",
        0x40 => "snat",
        0x80 => "dnat",
        _ => return None,
    })
}

fn tcp_flag_name(bit: u32) -> Option<&'static str> {
    Some(match bit {
        0x001 => "fin",
        0x002 => "syn",
        0x004 => "rst",
        0x008 => "psh",
        0x010 => "ack",
        0x020 => "urg",
        0x040 => "ece",
        0x080 => "cwr",
        0x100 => "ns",
        0x200 => "[200]",
        0x400 => "[400]",
        0x800 => "[800]",
        _ => return None,
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

    fn apply(&mut self, f: &OxmField) {
        let Some(def) = f.id.def() else {
            self.unknown.push(f.clone());
            return;
        };
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
                self.unknown.push(f.clone());
            }
        }
    }

    /// Prints the view as `match_format` does, `priority=N,` first unless
    /// it is the default priority.
    pub fn format(&self, priority: u16) -> String {
        let mut s = String::new();
        macro_rules! put {
            ($($t:tt)*) => {{ let _ = write!(s, $($t)*); }};
        }
        if priority != DEFAULT_PRIORITY {
            put!("priority={priority},");
        }
        if let Some(c) = self.conj_id {
            put!("conj_id={c},");
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
        u32_masked(&mut s, "ct_mark", self.ct_mark);
        if self.ct_label.m != 0 {
            put!("ct_label={}", hex_bytes(&self.ct_label.v.to_be_bytes()));
            if self.ct_label.m != u128::MAX {
                put!("/{}", hex_bytes(&self.ct_label.m.to_be_bytes()));
            }
            s.push(',');
        }
        let mut dl_type = self.dl_type.v;
        if self.packet_type.m != 0 && !(self.packet_type.v == 0 && self.packet_type.m == u32::MAX) {
            put!("{},", packet_type_masked(self.packet_type.v, self.packet_type.m));
            if self.packet_type.v >> 16 == 1 {
                dl_type = self.packet_type.v as u16;
            }
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
        for (i, r) in self.regs.iter().enumerate() {
            u32_masked(&mut s, &format!("reg{i}"), *r);
        }
        u64_masked(&mut s, "tun_id", self.tun_id);
        ip_field(&mut s, "tun_src", self.tun_src);
        ip_field(&mut s, "tun_dst", self.tun_dst);
        u64_masked(&mut s, "metadata", self.metadata);
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
        eth_field(&mut s, "dl_src", self.dl_src);
        eth_field(&mut s, "dl_dst", self.dl_dst);
        if !skip_type && self.dl_type.m != 0 {
            put!("dl_type=0x{dl_type:04x},");
        }
        let is_arp = dl_type == 0x0806 || dl_type == 0x8035;
        if dl_type == 0x86dd {
            ip6_field(&mut s, "ipv6_src", self.ipv6_src);
            ip6_field(&mut s, "ipv6_dst", self.ipv6_dst);
            if self.ipv6_label.m != 0 {
                if self.ipv6_label.m == u32::MAX {
                    put!("ipv6_label=0x{:05x},", self.ipv6_label.v);
                } else {
                    put!("ipv6_label=0x{:05x}/0x{:05x},", self.ipv6_label.v, self.ipv6_label.m);
                }
            }
        } else if is_arp {
            ip_field(&mut s, "arp_spa", self.nw_src);
            ip_field(&mut s, "arp_tpa", self.nw_dst);
        } else {
            ip_field(&mut s, "nw_src", self.nw_src);
            ip_field(&mut s, "nw_dst", self.nw_dst);
        }
        if !skip_proto && proto_set {
            if is_arp {
                put!("arp_op={proto},");
            } else {
                put!("nw_proto={proto},");
            }
        }
        if is_arp {
            eth_field(&mut s, "arp_sha", self.arp_sha);
            eth_field(&mut s, "arp_tha", self.arp_tha);
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
        let fm = self.nw_frag.m & 3;
        if fm != 0 {
            put!("nw_frag={},", frag_name(self.nw_frag.v, fm));
        }
        if dl_type == 0x0800 && proto == 1 {
            be16_field(&mut s, "icmp_type", self.tp_src);
            be16_field(&mut s, "icmp_code", self.tp_dst);
        } else if dl_type == 0x86dd && proto == 58 {
            be16_field(&mut s, "icmp_type", self.tp_src);
            be16_field(&mut s, "icmp_code", self.tp_dst);
            ip6_field(&mut s, "nd_target", self.nd_target);
            eth_field(&mut s, "nd_sll", self.arp_sha);
            eth_field(&mut s, "nd_tll", self.arp_tha);
        } else {
            be16_field(&mut s, "tp_src", self.tp_src);
            be16_field(&mut s, "tp_dst", self.tp_dst);
        }
        if (dl_type == 0x0800 || dl_type == 0x86dd) && proto == 6 && self.tcp_flags.m != 0 {
            put!(
                "tcp_flags={},",
                flags_masked(tcp_flag_name, self.tcp_flags.v as u32, self.tcp_flags.m as u32 & 0x0fff, 0x0fff)
            );
        }
        for f in &self.unknown {
            put!("{}={}", f.id.name(), hex_bytes(&f.value));
            if let Some(m) = &f.mask {
                put!("/{}", hex_bytes(m));
            }
            s.push(',');
        }
        if s.ends_with(',') {
            s.pop();
        }
        s
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
fn field_value(f: &OxmField) -> String {
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
        if m.iter().all(|&b| b == 0xff) {
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
        Format::Ethernet => eth_masked(&f.value, mask),
        Format::Ipv4 => ipv4_masked(v as u32, mv.map_or(u32::MAX, |m| m as u32)),
        Format::Ipv6 => ipv6_masked(v, mv.unwrap_or(u128::MAX)),
        Format::Frag => frag_name(v as u8, mv.map_or(0xff, |m| m as u8)).to_string(),
        Format::PacketType => {
            // mf_format uses the same helper as the match, minus "eth".
            let m = mv.map_or(u32::MAX, |m| m as u32);
            let s = packet_type_masked(v as u32, m);
            s
        }
    }
}

/// Fields outside [`oxm::FIELDS`](crate::openflow::oxm::FIELDS) that Open
/// vSwitch itself puts in the actions it sends back (for example
/// `move:NXM_OF_IN_PORT[]->…` comes back with the 16-bit NXM in_port):
/// (class, field, NXM name, set_field name, width in bits).
static EXTRA_FIELDS: &[(u16, u8, &str, &str, u32, Format)] = &[
    (class::NXM_0, 0, "NXM_OF_IN_PORT", "in_port", 16, Format::Port),
    (class::NXM_0, 5, "NXM_OF_IP_TOS", "nw_tos", 8, Format::Decimal),
    (class::NXM_1, 33, "NXM_NX_PKT_MARK", "pkt_mark", 32, Format::Hex),
    (class::NXM_1, 35, "NXM_NX_DP_HASH", "dp_hash", 32, Format::Hex),
    (class::NXM_1, 36, "NXM_NX_RECIRC_ID", "recirc_id", 32, Format::Decimal),
    (class::NXM_1, 111, "NXM_NX_XXREG0", "xxreg0", 128, Format::Hex),
    (class::NXM_1, 112, "NXM_NX_XXREG1", "xxreg1", 128, Format::Hex),
    (class::NXM_1, 113, "NXM_NX_XXREG2", "xxreg2", 128, Format::Hex),
    (class::NXM_1, 114, "NXM_NX_XXREG3", "xxreg3", 128, Format::Hex),
    (class::NXM_1, 115, "NXM_NX_XXREG4", "xxreg4", 128, Format::Hex),
    (class::NXM_1, 116, "NXM_NX_XXREG5", "xxreg5", 128, Format::Hex),
    (class::NXM_1, 117, "NXM_NX_XXREG6", "xxreg6", 128, Format::Hex),
    (class::NXM_1, 118, "NXM_NX_XXREG7", "xxreg7", 128, Format::Hex),
    (class::NXM_1, 119, "NXM_NX_CT_NW_PROTO", "ct_nw_proto", 8, Format::Decimal),
];

type ExtraField = (u16, u8, &'static str, &'static str, u32, Format);

fn extra_field(id: OxmId) -> Option<&'static ExtraField> {
    if id.experimenter.is_some() {
        return None;
    }
    EXTRA_FIELDS.iter().find(|e| e.0 == id.class && e.1 == id.field)
}

/// Name of a field in subfield syntax (`NXM_NX_REG0`).
fn subfield_field_name(id: OxmId) -> String {
    match (id.def(), extra_field(id)) {
        (Some(d), _) => d.nxm_name.to_string(),
        (None, Some(e)) => e.2.to_string(),
        (None, None) => id.name(),
    }
}

/// Width of a field as Open vSwitch counts it for subfields (`vlan_vid`
/// is 12 bits there: the present bit is not part of it).
fn subfield_width(id: OxmId) -> Option<u32> {
    if id == fields::VLAN_VID {
        return Some(12);
    }
    id.def().map(|d| d.bits).or_else(|| extra_field(id).map(|e| e.4))
}

fn subfield(sf: &Subfield) -> String {
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
    while (10 + v.len()) % 8 != 0 {
        v.push(0);
    }
    v
}

/// A `set_field` of a field outside `FIELDS` (kept raw by the decoder):
/// printed by name when Open vSwitch has one for it, else as
/// `set_field:0x…->OXM(class,field)`.
fn unknown_set_field(body: &[u8]) -> Option<String> {
    let mut r = crate::wire::Reader::new(body);
    let f = OxmField::decode(&mut r).ok()?;
    let (name, format) = match extra_field(f.id) {
        Some(e) => (e.3.to_string(), e.5),
        None => (f.id.name(), Format::Hex),
    };
    let mut mask = f.mask.as_deref();
    if let Some(m) = mask {
        if m.iter().all(|&b| b == 0) {
            return Some(format!("set_field:ANY->{name}"));
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
    Some(s)
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
    }
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

/// `ofp_print_duration`: whole seconds, then 3 decimals when the
/// fraction is whole milliseconds, else as many as needed (up to 9).
fn duration(sec: u32, nsec: u32) -> String {
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
