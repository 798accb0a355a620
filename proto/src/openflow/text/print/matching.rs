//! The match, printed from Open vSwitch's flow + wildcards view.

use crate::openflow::flow::DEFAULT_PRIORITY;
use crate::openflow::oxm::{class, fields, Match, OxmField, OxmFieldRef, OxmId};
use crate::DecodeError;
use crate::openflow::port::PortNo;
use std::fmt::Write;

use super::values::*;

// ---------------------------------------------------------------------------
// The match.

/// A value and its mask (all-zero mask: not matched).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Vm<T> {
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

pub(super) fn ones(len: usize) -> u128 {
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
            w.apply(f.as_ref());
        }
        w
    }

    /// Adds a match's fields as they came ([`Match::take`]'s bytes) to
    /// this view (a fresh one), without copying them; fails as
    /// [`Match::from_fields`] does. The caller keeps the view: it is most
    /// of a kilobyte, and a dump would otherwise copy it out for every flow.
    ///
    /// [`Match::take`]: crate::openflow::oxm::Match::take
    /// [`Match::from_fields`]: crate::openflow::oxm::Match::from_fields
    pub fn add_fields(&mut self, body: &[u8]) -> Result<(), DecodeError> {
        Match::for_each_field(body, |f| self.apply(f))
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

    fn apply(&mut self, f: OxmFieldRef<'_>) {
        let Some(def) = f.id.def() else {
            self.unknown.push(f.to_owned());
            return;
        };
        if def.variable_len() {
            self.tun_md.retain(|t| t.id != f.id);
            self.tun_md.push(f.to_owned());
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
                    self.unknown.push(f.to_owned());
                }
            }
        }
    }

    /// Prints the view as `match_format` does, `priority=N,` first unless
    /// it is the default priority.
    pub fn format(&self, priority: u16) -> String {
        to_string(|s| self.write(s, priority))
    }

    /// [`FlowView::format`], appended to `s`.
    pub fn write(&self, s: &mut String, priority: u16) {
        let start = s.len();
        if priority != DEFAULT_PRIORITY {
            s.push_str("priority=");
            dec(s, priority.into());
            s.push(',');
        }
        u32_masked(s, "pkt_mark", self.pkt_mark);
        self.format_ct(s);
        let mut dl_type = self.dl_type.v;
        if self.packet_type.m != 0 && !(self.packet_type.v == 0 && self.packet_type.m == u32::MAX) {
            packet_type_masked(s, self.packet_type.v, self.packet_type.m);
            s.push(',');
            if self.packet_type.v >> 16 == 1 {
                dl_type = self.packet_type.v as u16;
            }
        }
        let (skip_type, skip_proto) = self.format_protocol(s, dl_type);
        self.format_l2(s);
        eth_field(s, "dl_src", self.dl_src);
        eth_field(s, "dl_dst", self.dl_dst);
        if !skip_type && self.dl_type.m != 0 {
            s.push_str("dl_type=0x");
            hex_pad(s, dl_type.into(), 4);
            s.push(',');
        }
        self.format_l3(s, dl_type, skip_proto);
        self.format_l4(s, dl_type);
        self.format_unknown(s);
        if s.len() > start && s.ends_with(',') {
            s.pop();
        }
    }

    /// `conj_id` and the connection tracking fields.
    fn format_ct(&self, s: &mut String) {
        if let Some(c) = self.conj_id {
            s.push_str("conj_id=");
            dec(s, c.into());
            s.push(',');
        }
        if let Some(p) = self.actset_output {
            s.push_str("actset_output=");
            write_port(s, PortNo(p));
            s.push(',');
        }
        if self.ct_state.m != 0 {
            s.push_str("ct_state=");
            if self.ct_state.m == 0xff {
                flags_plain(s, ct_state_name, self.ct_state.v as u32);
            } else {
                flags_masked(s, ct_state_name, self.ct_state.v as u32, self.ct_state.m as u32, 0xff);
            }
            s.push(',');
        }
        if self.ct_zone.m != 0 {
            s.push_str("ct_zone=");
            if self.ct_zone.m == 0xffff {
                dec(s, self.ct_zone.v.into());
            } else {
                hex0x(s, self.ct_zone.v.into());
                s.push('/');
                hex0x(s, self.ct_zone.m.into());
            }
            s.push(',');
        }
        u32_masked(s, "ct_mark", self.ct_mark);
        if self.ct_label.m != 0 {
            s.push_str("ct_label=");
            hex_bytes(s, &self.ct_label.v.to_be_bytes());
            if self.ct_label.m != u128::MAX {
                s.push('/');
                hex_bytes(s, &self.ct_label.m.to_be_bytes());
            }
            s.push(',');
        }
        ip_field(s, "ct_nw_src", self.ct_nw_src);
        ip6_field(s, "ct_ipv6_src", self.ct_ipv6_src);
        ip_field(s, "ct_nw_dst", self.ct_nw_dst);
        ip6_field(s, "ct_ipv6_dst", self.ct_ipv6_dst);
        if let Some(p) = self.ct_nw_proto {
            s.push_str("ct_nw_proto=");
            dec(s, p.into());
            s.push(',');
            be16_field(s, "ct_tp_src", self.ct_tp_src);
            be16_field(s, "ct_tp_dst", self.ct_tp_dst);
        }
    }

    /// The protocol keyword (`ip`, `tcp6`, `arp`, …) for `dl_type` and
    /// `nw_proto`; says whether it stood for the type and the protocol.
    fn format_protocol(&self, s: &mut String, dl_type: u16) -> (bool, bool) {
        if self.dl_type.m == 0 {
            return (false, false);
        }
        let proto = (self.nw_proto.m != 0).then_some(self.nw_proto.v);
        let (name, skip_proto) = match (dl_type, proto) {
            (0x0800, Some(1)) => ("icmp", true),
            (0x0800, Some(6)) => ("tcp", true),
            (0x0800, Some(17)) => ("udp", true),
            (0x0800, Some(132)) => ("sctp", true),
            (0x0800, _) => ("ip", false),
            (0x86dd, Some(58)) => ("icmp6", true),
            (0x86dd, Some(6)) => ("tcp6", true),
            (0x86dd, Some(17)) => ("udp6", true),
            (0x86dd, Some(132)) => ("sctp6", true),
            (0x86dd, _) => ("ipv6", false),
            (0x0806, _) => ("arp", false),
            (0x8035, _) => ("rarp", false),
            (0x8847, _) => ("mpls", false),
            (0x8848, _) => ("mplsm", false),
            _ => return (false, false),
        };
        s.push_str(name);
        s.push(',');
        (true, skip_proto)
    }

    /// Registers, tunnel, metadata, in_port and the 802.1Q header.
    fn format_l2(&self, s: &mut String) {
        const REGS: [&str; 16] = [
            "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10", "reg11", "reg12", "reg13", "reg14",
            "reg15",
        ];
        for (name, r) in REGS.iter().zip(&self.regs) {
            u32_masked(s, name, *r);
        }
        u64_masked(s, "tun_id", self.tun_id);
        ip_field(s, "tun_src", self.tun_src);
        ip_field(s, "tun_dst", self.tun_dst);
        self.format_tunnel_extra(s);
        u64_masked(s, "metadata", self.metadata);
        if let Some(raw) = self.in_port_raw {
            s.push_str("in_port=");
            match self.in_port {
                Some(p) => write_port16(s, p),
                None => dec(s, raw.into()),
            }
            s.push(',');
        }
        self.format_vlan(s);
    }

    /// The 802.1Q header: `dl_vlan`/`dl_vlan_pcp` when they say it all,
    /// else `vlan_tci`.
    fn format_vlan(&self, s: &mut String) {
        let tci = self.vlan_tci;
        if tci.m == 0 {
            return;
        }
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
                let _ = write!(s, "dl_vlan={},", tci.v & 0x0fff);
            }
            if pcp_mask != 0 {
                let _ = write!(s, "dl_vlan_pcp={},", tci.v >> 13);
            }
        } else if tci.m == 0xffff {
            let _ = write!(s, "vlan_tci={:#06x},", tci.v);
        } else {
            let _ = write!(s, "vlan_tci=0x{:04x}/0x{:04x},", tci.v, tci.m);
        }
    }

    /// Addresses and the IP header fields (ARP's in ARP's names).
    fn format_l3(&self, s: &mut String, dl_type: u16, skip_proto: bool) {
        let proto_set = self.nw_proto.m != 0;
        let proto = self.nw_proto.v;
        let is_arp = dl_type == 0x0806 || dl_type == 0x8035;
        if dl_type == 0x86dd {
            ip6_field(s, "ipv6_src", self.ipv6_src);
            ip6_field(s, "ipv6_dst", self.ipv6_dst);
            if self.ipv6_label.m != 0 {
                if self.ipv6_label.m == u32::MAX {
                    let _ = write!(s, "ipv6_label=0x{:05x},", self.ipv6_label.v);
                } else {
                    let _ = write!(s, "ipv6_label=0x{:05x}/0x{:05x},", self.ipv6_label.v, self.ipv6_label.m);
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
            s.push_str(if is_arp { "arp_op=" } else { "nw_proto=" });
            dec(s, proto.into());
            s.push(',');
        }
        if is_arp {
            eth_field(s, "arp_sha", self.arp_sha);
            eth_field(s, "arp_tha", self.arp_tha);
        }
        let small = |s: &mut String, name: &str, v: u64| {
            s.push_str(name);
            dec(s, v);
            s.push(',');
        };
        if self.nw_tos.m & 0xfc != 0 {
            small(s, "nw_tos=", (self.nw_tos.v & 0xfc).into());
        }
        if self.nw_tos.m & 0x03 != 0 {
            small(s, "nw_ecn=", (self.nw_tos.v & 0x03).into());
        }
        if self.nw_ttl.m != 0 {
            small(s, "nw_ttl=", self.nw_ttl.v.into());
        }
        for (name, v) in ["mpls_label=", "mpls_tc=", "mpls_ttl=", "mpls_bos="].iter().zip(self.mpls) {
            if let Some(v) = v {
                small(s, name, v.into());
            }
        }
        let fm = self.nw_frag.m & 3;
        if fm != 0 {
            s.push_str("nw_frag=");
            s.push_str(frag_name(self.nw_frag.v, fm));
            s.push(',');
        }
    }

    /// The tunnel metadata after `tun_dst`, as `format_flow_tunnel` prints it.
    fn format_tunnel_extra(&self, s: &mut String) {
        ip6_field(s, "tun_ipv6_src", self.tun_ipv6_src);
        ip6_field(s, "tun_ipv6_dst", self.tun_ipv6_dst);
        be16_field(s, "tun_gbp_id", self.tun_gbp_id);
        let c_hex = |s: &mut String, name: &str, v: u32| {
            s.push_str(name);
            cx(s, v.into());
            s.push(',');
        };
        let decimal = |s: &mut String, name: &str, v: u32| {
            s.push_str(name);
            dec(s, v.into());
            s.push(',');
        };
        if self.tun_gbp_flags.m != 0 {
            c_hex(s, "tun_gbp_flags=", self.tun_gbp_flags.v.into());
        }
        let [idx, ver, dir, hwid, gflags, gtype] = self.tun_et;
        // Open vSwitch keeps no match on a zero value of these (its
        // tunnel metadata reads 0 as absent).
        let set = |x: Vm<u32>| x.m != 0 && x.v != 0;
        if set(ver) {
            decimal(s, "tun_erspan_ver=", ver.v);
        }
        if set(idx) && ver.v == 1 {
            c_hex(s, "tun_erspan_idx=", idx.v);
        }
        if set(dir) && ver.v == 2 {
            decimal(s, "tun_erspan_dir=", dir.v);
        }
        if set(hwid) && ver.v == 2 {
            c_hex(s, "tun_erspan_hwid=", hwid.v);
        }
        if set(gflags) {
            c_hex(s, "gtpu_flags=", gflags.v);
        }
        if set(gtype) {
            decimal(s, "gtpu_msgtype=", gtype.v);
        }
        // Open vSwitch masks with all its tunnel flags (4 bits), of which
        // OpenFlow carries one: a match prints as `+oam` or `-oam`.
        if self.tun_flags.m & 0xf != 0 {
            s.push_str("tun_flags=");
            flags_masked(s, tun_flag_name, u32::from(self.tun_flags.v & 0xf), u32::from(self.tun_flags.m & 0xf), 0xf);
            s.push(',');
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
            s.push_str("tun_metadata");
            dec(s, u64::from(f.id.field - 40));
            let sig = crate::openflow::text::value::significant_len;
            match f.mask.as_deref() {
                Some(m) if m.iter().all(|&b| b == 0) => {}
                Some(m) if !m[m.len() - sig(&f.value).max(sig(m))..].iter().all(|&b| b == 0xff) => {
                    let v: Vec<u8> = f.value.iter().zip(m).map(|(v, m)| v & m).collect();
                    s.push('=');
                    hex_bytes(s, &v);
                    s.push('/');
                    hex_bytes(s, m);
                }
                _ => {
                    s.push('=');
                    hex_bytes(s, &f.value);
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
            s.push_str("tcp_flags=");
            flags_masked(s, tcp_flag_name, self.tcp_flags.v as u32, self.tcp_flags.m as u32 & 0x0fff, 0x0fff);
            s.push(',');
        }
    }

    /// Fields the view has no place for, raw.
    fn format_unknown(&self, s: &mut String) {
        for f in &self.unknown {
            field_name(s, f.id);
            s.push('=');
            hex_bytes(s, &f.value);
            if let Some(m) = &f.mask {
                s.push('/');
                hex_bytes(s, m);
            }
            s.push(',');
        }
    }
}

/// A 32-bit field in decimal, or `0xV/0xM` when masked (Open vSwitch's
/// `format_be32_masked`).
fn u32_dec_field(s: &mut String, name: &str, x: Vm<u32>) {
    dec_or_masked(s, name, x.v.into(), x.m.into(), u32::MAX.into());
}

/// `name=V[/M],` with C's `%#x` numbers, when matched.
fn u32_masked(s: &mut String, name: &str, x: Vm<u32>) {
    u64_masked(s, name, Vm { v: x.v.into(), m: if x.m == u32::MAX { u64::MAX } else { x.m.into() } });
}

fn u64_masked(s: &mut String, name: &str, x: Vm<u64>) {
    if x.m != 0 {
        s.push_str(name);
        s.push('=');
        cx(s, x.v);
        if x.m != u64::MAX {
            s.push('/');
            cx(s, x.m);
        }
        s.push(',');
    }
}

fn be16_field(s: &mut String, name: &str, x: Vm<u16>) {
    dec_or_masked(s, name, x.v.into(), x.m.into(), u16::MAX.into());
}

/// `name=V,` in decimal when exact (`m == full`), `name=0xV/0xM,` when
/// masked, nothing when not matched.
fn dec_or_masked(s: &mut String, name: &str, v: u64, m: u64, full: u64) {
    if m != 0 {
        s.push_str(name);
        s.push('=');
        if m == full {
            dec(s, v);
        } else {
            hex0x(s, v);
            s.push('/');
            hex0x(s, m);
        }
        s.push(',');
    }
}

fn ip_field(s: &mut String, name: &str, x: Vm<u32>) {
    if x.m != 0 {
        s.push_str(name);
        s.push('=');
        ipv4_masked(s, x.v, x.m);
        s.push(',');
    }
}

fn ip6_field(s: &mut String, name: &str, x: Vm<u128>) {
    if x.m != 0 {
        s.push_str(name);
        s.push('=');
        ipv6_masked(s, x.v, x.m);
        s.push(',');
    }
}

fn eth_field(s: &mut String, name: &str, x: Vm<[u8; 6]>) {
    if x.m != [0; 6] {
        s.push_str(name);
        s.push('=');
        eth_masked(s, &x.v, Some(&x.m));
        s.push(',');
    }
}

/// The match as `ovs-ofctl` prints it: `priority=50,ip,nw_src=…`
/// (priority omitted when it is the default, 0x8000).
pub fn match_fields(m: &Match, priority: u16) -> String {
    to_string(|s| write_match(s, m, priority))
}

/// [`match_fields`], appended to `s`.
pub fn write_match(s: &mut String, m: &Match, priority: u16) {
    FlowView::from_match(m).write(s, priority);
}
#[cfg(test)]
mod tests {
    //! Expected strings are what `ovs-ofctl` 3.1 prints (the oracle tests in
    //! `tests/text_print_oracle.rs` check the same code against it).
    use super::super::testutil::*;
    use super::*;

    use crate::openflow::oxm::{fields, Match, OxmField, OxmId, FIELDS};

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
            mt(vec![
                fm(fields::ETH_DST, &[1, 0, 0, 0, 0, 0], &[1, 0, 0, 0, 0, 0]),
                f(fields::ETH_SRC, &[0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff])
            ]),
            "dl_src=aa:bb:cc:dd:ee:ff,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00"
        );
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x88, 0xcc])]), "dl_type=0x88cc");
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x08, 0x06])]), "arp");
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x80, 0x35])]), "rarp");
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x88, 0x47])]), "mpls");
        assert_eq!(mt(vec![f(fields::ETH_TYPE, &[0x88, 0x48])]), "mplsm");
        assert_eq!(mt(vec![f(fields::TUNNEL_ID, &[0, 0, 0, 0, 0, 0, 0, 7])]), "tun_id=0x7");
        assert_eq!(
            mt(vec![f(fields::TUN_SRC, &[1, 2, 3, 4]), fm(fields::TUN_DST, &[1, 2, 3, 0], &[255, 255, 255, 0])]),
            "tun_src=1.2.3.4,tun_dst=1.2.3.0/24"
        );
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
        for (p, v4, v6) in [
            (1, "icmp", "ipv6,nw_proto=1"),
            (6, "tcp", "tcp6"),
            (17, "udp", "udp6"),
            (132, "sctp", "sctp6"),
            (58, "ip,nw_proto=58", "icmp6"),
        ] {
            assert_eq!(mt(vec![ip(), proto(p)]), v4);
            assert_eq!(mt(vec![ip6(), proto(p)]), v6);
        }
        assert_eq!(
            mt(vec![ip(), f(fields::IPV4_SRC, &[198, 18, 0, 1]), fm(fields::IPV4_DST, &[10, 0, 0, 0], &[255, 0, 255, 0])]),
            "ip,nw_src=198.18.0.1,nw_dst=10.0.0.0/255.0.255.0"
        );
        assert_eq!(mt(vec![ip(), fm(fields::IPV4_SRC, &[0, 0, 0, 0], &[128, 0, 0, 0])]), "ip,nw_src=0.0.0.0/1");
        assert_eq!(mt(vec![ip(), f(fields::NW_TTL, &[64])]), "ip,nw_ttl=64");
        for (v, m, s) in [(0, 3, "no"), (1, 3, "first"), (3, 3, "later"), (0, 1, "no"), (1, 1, "yes"), (0, 2, "not_later"), (2, 2, "later")]
        {
            assert_eq!(mt(vec![ip(), fm(fields::IP_FRAG, &[v], &[m])]), format!("ip,nw_frag={s}"));
        }
        assert_eq!(mt(vec![ip(), f(fields::IP_FRAG, &[1])]), "ip,nw_frag=first");
        assert_eq!(
            mt(vec![ip(), proto(6), f(fields::TCP_SRC, &[0, 80]), fm(fields::TCP_DST, &[0x04, 0], &[0xfc, 0])]),
            "tcp,tp_src=80,tp_dst=0x400/0xfc00"
        );
        assert_eq!(mt(vec![ip6(), proto(17), f(fields::UDP_DST, &[0, 53])]), "udp6,tp_dst=53");
        assert_eq!(
            mt(vec![ip(), proto(132), f(fields::SCTP_SRC, &[0, 1]), f(fields::SCTP_DST, &[0xff, 0xff])]),
            "sctp,tp_src=1,tp_dst=65535"
        );
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
        assert_eq!(
            mt(vec![ip6(), fm(fields::IPV6_SRC, &a6("2001:db8::"), &a6("ffff:ffff::ffff"))]),
            "ipv6,ipv6_src=2001:db8::/ffff:ffff::ffff"
        );
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
        let nd =
            vec![ip6(), proto(58), f(fields::ICMPV6_TYPE, &[136]), f(fields::ICMPV6_CODE, &[0]), f(fields::ND_TLL, &[0, 0, 0, 0, 0, 9])];
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
        assert_eq!(mt(vec![fm(fields::xreg(0), &[0, 0, 0, 1, 0, 0, 0, 0], &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])]), "reg0=0x1");
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
}
