//! OXM match fields (OpenFlow 1.5 `ofp_match`, plus the Nicira NXM classes
//! that Open vSwitch uses for registers and conntrack).
//!
//! A [`Match`] keeps fields in wire order as raw big-endian bytes. Known
//! fields are described once, in [`FIELDS`]; unknown classes and fields are
//! kept as they came and encode back byte for byte.

use crate::error::{DecodeError, EncodeError};
use crate::wire::{pad_to, Reader};
use bytes::{BufMut, BytesMut};

/// OXM class numbers.
pub mod class {
    /// Nicira NXM class 0 (original `NXM_OF_*` fields).
    pub const NXM_0: u16 = 0x0000;
    /// Nicira NXM class 1 (`NXM_NX_*`: registers, conntrack, tunnels).
    pub const NXM_1: u16 = 0x0001;
    /// OpenFlow basic fields.
    pub const OPENFLOW_BASIC: u16 = 0x8000;
    /// `OXM_OF_PKT_REG<N>`: the 64-bit packet registers.
    pub const PACKET_REGS: u16 = 0x8001;
    /// `ERICOXM_OF_*`: Ericsson's IPv6 neighbor discovery fields.
    pub const ERICSSON: u16 = 0x1000;
    /// Experimenter class: a 32-bit experimenter id follows the header.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// Identity of a match field on the wire: class, field number, and the
/// experimenter id for the experimenter class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OxmId {
    pub class: u16,
    pub field: u8,
    pub experimenter: Option<u32>,
}

impl OxmId {
    pub const fn new(class: u16, field: u8) -> Self {
        OxmId { class, field, experimenter: None }
    }

    /// The field's definition if podflow knows it.
    pub fn def(&self) -> Option<&'static FieldDef> {
        let ix = index();
        match (self.experimenter, ix.class_slot(self.class)) {
            (None, Some(c)) if self.field < 128 => ix.by_class[c][usize::from(self.field)],
            _ => ix.others.get(self).copied(),
        }
    }

    /// The definition of a field usable in actions: every match field, plus
    /// [`ACTION_ONLY_FIELDS`].
    pub fn action_def(&self) -> Option<&'static FieldDef> {
        self.def().or_else(|| ACTION_ONLY_FIELDS.iter().find(|d| d.id == *self))
    }

    /// Bytes of the OXM header (4, or 8 with an experimenter id).
    pub fn header_len(&self) -> usize {
        if self.experimenter.is_some() {
            8
        } else {
            4
        }
    }

    /// Writes an OXM header for a value of `payload_len` bytes (value, and
    /// mask if `has_mask`).
    pub fn put_header(&self, out: &mut BytesMut, has_mask: bool, payload_len: usize) -> Result<(), EncodeError> {
        let exp_len = if self.experimenter.is_some() { 4 } else { 0 };
        let len = u8::try_from(payload_len + exp_len).map_err(|_| EncodeError::TooLong { what: "OXM field", len: payload_len })?;
        out.put_u16(self.class);
        out.put_u8((self.field << 1) | has_mask as u8);
        out.put_u8(len);
        if let Some(e) = self.experimenter {
            out.put_u32(e);
        }
        Ok(())
    }

    /// Reads an OXM header (without a length) as used by `copy_field`,
    /// `reg_move` and the OXS/OXM id lists. Returns the id, has-mask bit
    /// and the payload length (value+mask, excluding the experimenter id).
    pub fn read_header(r: &mut Reader<'_>) -> Result<(OxmId, bool, usize), DecodeError> {
        let class = r.u16("OXM header")?;
        let fb = r.u8("OXM header")?;
        let len = r.u8("OXM header")? as usize;
        let (experimenter, len) = if class == class::EXPERIMENTER {
            if len < 4 {
                return Err(DecodeError::BadLength {
                    what: "experimenter OXM field",
                    len,
                    why: "shorter than its experimenter id",
                });
            }
            (Some(r.u32("experimenter OXM header")?), len - 4)
        } else {
            (None, len)
        };
        Ok((OxmId { class, field: fb >> 1, experimenter }, fb & 1 == 1, len))
    }

    /// Display name: the field's `ovs-ofctl` name when known, else
    /// `OXM(class,field)`.
    pub fn name(&self) -> String {
        match self.def() {
            Some(d) => d.name.to_string(),
            None => match self.experimenter {
                Some(e) => format!("OXM({:#06x},{},exp={:#x})", self.class, self.field, e),
                None => format!("OXM({:#06x},{})", self.class, self.field),
            },
        }
    }
}

/// Which packets a field is meaningful for. Open vSwitch refuses a match
/// (`OFPBMC_BAD_PREREQ`) whose fields lack their prerequisites; we check the
/// same rules before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prereq {
    None,
    /// Any Ethernet packet (always true for podflow's packet types).
    Ethernet,
    Ipv4,
    Ipv6,
    IpAny,
    Arp,
    Tcp,
    Udp,
    Sctp,
    Icmpv4,
    Icmpv6,
    /// ICMPv6 neighbor solicitation or advertisement.
    Nd,
    NdSolicit,
    NdAdvert,
    /// A VLAN id is matched (`vlan_vid` with the present bit).
    VlanVid,
    /// eth_type 0x8847 or 0x8848 (mpls or mplsm).
    Mpls,
    /// A ct_state match that implies a valid connection (`+trk+est`, …).
    CtValid,
    /// eth_type 0x894f (an NSH packet).
    Nsh,
}

impl Prereq {
    pub fn describe(self) -> &'static str {
        match self {
            Prereq::None | Prereq::Ethernet => "nothing",
            Prereq::Ipv4 => "eth_type=0x0800 (ip)",
            Prereq::Ipv6 => "eth_type=0x86dd (ipv6)",
            Prereq::IpAny => "eth_type=0x0800 or 0x86dd (ip or ipv6)",
            Prereq::Arp => "eth_type=0x0806 (arp)",
            Prereq::Tcp => "ip_proto=6 with ip or ipv6 (tcp)",
            Prereq::Udp => "ip_proto=17 with ip or ipv6 (udp)",
            Prereq::Sctp => "ip_proto=132 with ip or ipv6 (sctp)",
            Prereq::Icmpv4 => "ip,ip_proto=1 (icmp)",
            Prereq::Icmpv6 => "ipv6,ip_proto=58 (icmp6)",
            Prereq::Nd => "icmp6 with icmp_type=135 or 136",
            Prereq::NdSolicit => "icmp6,icmp_type=135",
            Prereq::NdAdvert => "icmp6,icmp_type=136",
            Prereq::VlanVid => "a vlan_vid with the present bit (0x1000)",
            Prereq::Mpls => "eth_type=0x8847 or 0x8848 (mpls or mplsm)",
            Prereq::Nsh => "eth_type=0x894f (nsh)",
            Prereq::CtValid => "a ct_state implying a valid connection (like ct_state=+trk+est)",
        }
    }
}

/// How a field's value is written in `ovs-ofctl` syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Decimal,
    Hex,
    Ipv4,
    Ipv6,
    Ethernet,
    /// An OpenFlow port number (`LOCAL`, `CONTROLLER`, … for reserved ones).
    Port,
    CtState,
    TcpFlags,
    /// Tunnel flags (`oam`).
    TunFlags,
    PacketType,
    Frag,
}

/// Static description of a known match field.
#[derive(Debug)]
pub struct FieldDef {
    pub id: OxmId,
    /// Canonical `ovs-ofctl` name (what `set_field:…->NAME` prints).
    pub name: &'static str,
    /// Other names accepted when parsing flow text.
    pub aliases: &'static [&'static str],
    /// Name used in subfield syntax (`NXM_NX_REG0[0..3]`).
    pub nxm_name: &'static str,
    /// Value length in bytes.
    pub len: usize,
    pub maskable: bool,
    pub prereq: Prereq,
    pub format: Format,
    /// Width in bits of the meaningful part (e.g. 12+1 for vlan_vid).
    pub bits: u32,
}

impl FieldDef {
    /// Whether the field's length varies (the `tun_metadata` fields): its
    /// `len` is then the most it can hold.
    pub fn variable_len(&self) -> bool {
        self.id.class == class::NXM_1 && (40..104).contains(&self.id.field) && self.id.experimenter.is_none()
    }
}

macro_rules! f {
    ($class:expr, $field:expr, $name:expr, [$($alias:expr),*], $nxm:expr, $len:expr, $mask:expr, $pre:ident, $fmt:ident, $bits:expr) => {
        FieldDef {
            id: OxmId::new($class, $field),
            name: $name,
            aliases: &[$($alias),*],
            nxm_name: $nxm,
            len: $len,
            maskable: $mask,
            prereq: Prereq::$pre,
            format: Format::$fmt,
            bits: $bits,
        }
    };
}

/// An experimenter field of Open vSwitch's NSH class (NXOXM_NSH_*).
macro_rules! nsh {
    ($field:expr, $name:expr, [$($alias:expr),*], $nxm:expr, $len:expr, $mask:expr, $fmt:ident, $bits:expr) => {
        FieldDef {
            id: OxmId { class: class::EXPERIMENTER, field: $field, experimenter: Some(NSH_EXPERIMENTER) },
            name: $name,
            aliases: &[$($alias),*],
            nxm_name: $nxm,
            len: $len,
            maskable: $mask,
            prereq: Prereq::Nsh,
            format: Format::$fmt,
            bits: $bits,
        }
    };
}

/// Experimenter id of Open vSwitch's NSH match fields.
pub const NSH_EXPERIMENTER: u32 = 0x005a_d650;

/// An experimenter field of Open vSwitch's own class (NXOXM_ET_*, the
/// Nicira id): ERSPAN and GTP-U tunnel metadata.
macro_rules! nxet {
    ($field:expr, $name:expr, $nxm:expr, $len:expr, $fmt:ident, $bits:expr) => {
        FieldDef {
            id: OxmId { class: class::EXPERIMENTER, field: $field, experimenter: Some(0x0000_2320) },
            name: $name,
            aliases: &[],
            nxm_name: $nxm,
            len: $len,
            maskable: true,
            prereq: Prereq::None,
            format: Format::$fmt,
            bits: $bits,
        }
    };
}

use class::{NXM_0, NXM_1, OPENFLOW_BASIC as B, PACKET_REGS};

/// Every match field podflow knows, with its wire identity and text names.
pub static FIELDS: &[FieldDef] = &[
    f!(B, 0, "in_port", ["in_port_oxm"], "OXM_OF_IN_PORT", 4, false, None, Port, 32),
    f!(B, 2, "metadata", [], "OXM_OF_METADATA", 8, true, None, Hex, 64),
    f!(B, 3, "eth_dst", ["dl_dst"], "NXM_OF_ETH_DST", 6, true, Ethernet, Ethernet, 48),
    f!(B, 4, "eth_src", ["dl_src"], "NXM_OF_ETH_SRC", 6, true, Ethernet, Ethernet, 48),
    f!(B, 5, "eth_type", ["dl_type"], "NXM_OF_ETH_TYPE", 2, false, Ethernet, Hex, 16),
    f!(B, 6, "vlan_vid", [], "OXM_OF_VLAN_VID", 2, true, Ethernet, Decimal, 13),
    f!(B, 7, "vlan_pcp", [], "OXM_OF_VLAN_PCP", 1, false, VlanVid, Decimal, 3),
    f!(B, 8, "ip_dscp", [], "OXM_OF_IP_DSCP", 1, false, IpAny, Decimal, 6),
    f!(B, 9, "nw_ecn", ["ip_ecn"], "NXM_NX_IP_ECN", 1, false, IpAny, Decimal, 2),
    f!(B, 10, "nw_proto", ["ip_proto"], "NXM_OF_IP_PROTO", 1, false, IpAny, Decimal, 8),
    f!(B, 11, "ip_src", ["nw_src", "ipv4_src"], "NXM_OF_IP_SRC", 4, true, Ipv4, Ipv4, 32),
    f!(B, 12, "ip_dst", ["nw_dst", "ipv4_dst"], "NXM_OF_IP_DST", 4, true, Ipv4, Ipv4, 32),
    f!(B, 13, "tcp_src", ["tp_src"], "NXM_OF_TCP_SRC", 2, true, Tcp, Decimal, 16),
    f!(B, 14, "tcp_dst", ["tp_dst"], "NXM_OF_TCP_DST", 2, true, Tcp, Decimal, 16),
    f!(B, 15, "udp_src", [], "NXM_OF_UDP_SRC", 2, true, Udp, Decimal, 16),
    f!(B, 16, "udp_dst", [], "NXM_OF_UDP_DST", 2, true, Udp, Decimal, 16),
    f!(B, 17, "sctp_src", [], "OXM_OF_SCTP_SRC", 2, true, Sctp, Decimal, 16),
    f!(B, 18, "sctp_dst", [], "OXM_OF_SCTP_DST", 2, true, Sctp, Decimal, 16),
    f!(B, 19, "icmp_type", ["icmpv4_type"], "NXM_OF_ICMP_TYPE", 1, false, Icmpv4, Decimal, 8),
    f!(B, 20, "icmp_code", ["icmpv4_code"], "NXM_OF_ICMP_CODE", 1, false, Icmpv4, Decimal, 8),
    f!(B, 21, "arp_op", [], "NXM_OF_ARP_OP", 2, false, Arp, Decimal, 16),
    f!(B, 22, "arp_spa", [], "NXM_OF_ARP_SPA", 4, true, Arp, Ipv4, 32),
    f!(B, 23, "arp_tpa", [], "NXM_OF_ARP_TPA", 4, true, Arp, Ipv4, 32),
    f!(B, 24, "arp_sha", [], "NXM_NX_ARP_SHA", 6, true, Arp, Ethernet, 48),
    f!(B, 25, "arp_tha", [], "NXM_NX_ARP_THA", 6, true, Arp, Ethernet, 48),
    f!(B, 26, "ipv6_src", [], "NXM_NX_IPV6_SRC", 16, true, Ipv6, Ipv6, 128),
    f!(B, 27, "ipv6_dst", [], "NXM_NX_IPV6_DST", 16, true, Ipv6, Ipv6, 128),
    f!(B, 28, "ipv6_label", ["ipv6_flabel"], "NXM_NX_IPV6_LABEL", 4, true, Ipv6, Hex, 20),
    f!(B, 29, "icmpv6_type", [], "NXM_NX_ICMPV6_TYPE", 1, false, Icmpv6, Decimal, 8),
    f!(B, 30, "icmpv6_code", [], "NXM_NX_ICMPV6_CODE", 1, false, Icmpv6, Decimal, 8),
    f!(B, 31, "nd_target", ["ipv6_nd_target"], "NXM_NX_ND_TARGET", 16, true, Nd, Ipv6, 128),
    f!(B, 32, "nd_sll", ["ipv6_nd_sll"], "NXM_NX_ND_SLL", 6, true, NdSolicit, Ethernet, 48),
    f!(B, 33, "nd_tll", ["ipv6_nd_tll"], "NXM_NX_ND_TLL", 6, true, NdAdvert, Ethernet, 48),
    f!(class::ERICSSON, 1, "nd_reserved", [], "ERICOXM_OF_ICMPV6_ND_RESERVED", 4, false, Nd, Decimal, 32),
    f!(class::ERICSSON, 2, "nd_options_type", [], "ERICOXM_OF_ICMPV6_ND_OPTIONS_TYPE", 1, false, Nd, Decimal, 8),
    f!(B, 34, "mpls_label", [], "OXM_OF_MPLS_LABEL", 4, false, Mpls, Decimal, 20),
    f!(B, 35, "mpls_tc", [], "OXM_OF_MPLS_TC", 1, false, Mpls, Decimal, 3),
    f!(B, 36, "mpls_bos", [], "OXM_OF_MPLS_BOS", 1, false, Mpls, Decimal, 1),
    f!(B, 38, "tun_id", ["tunnel_id"], "NXM_NX_TUN_ID", 8, true, None, Hex, 64),
    f!(B, 42, "tcp_flags", [], "NXM_NX_TCP_FLAGS", 2, true, Tcp, TcpFlags, 12),
    f!(B, 43, "actset_output", [], "ONFOXM_ET_ACTSET_OUTPUT", 4, false, None, Port, 32),
    f!(B, 44, "packet_type", [], "OXM_OF_PACKET_TYPE", 4, false, None, PacketType, 32),
    f!(NXM_0, 4, "vlan_tci", [], "NXM_OF_VLAN_TCI", 2, true, Ethernet, Hex, 16),
    f!(NXM_1, 0, "reg0", [], "NXM_NX_REG0", 4, true, None, Hex, 32),
    f!(NXM_1, 1, "reg1", [], "NXM_NX_REG1", 4, true, None, Hex, 32),
    f!(NXM_1, 2, "reg2", [], "NXM_NX_REG2", 4, true, None, Hex, 32),
    f!(NXM_1, 3, "reg3", [], "NXM_NX_REG3", 4, true, None, Hex, 32),
    f!(NXM_1, 4, "reg4", [], "NXM_NX_REG4", 4, true, None, Hex, 32),
    f!(NXM_1, 5, "reg5", [], "NXM_NX_REG5", 4, true, None, Hex, 32),
    f!(NXM_1, 6, "reg6", [], "NXM_NX_REG6", 4, true, None, Hex, 32),
    f!(NXM_1, 7, "reg7", [], "NXM_NX_REG7", 4, true, None, Hex, 32),
    f!(NXM_1, 8, "reg8", [], "NXM_NX_REG8", 4, true, None, Hex, 32),
    f!(NXM_1, 9, "reg9", [], "NXM_NX_REG9", 4, true, None, Hex, 32),
    f!(NXM_1, 10, "reg10", [], "NXM_NX_REG10", 4, true, None, Hex, 32),
    f!(NXM_1, 11, "reg11", [], "NXM_NX_REG11", 4, true, None, Hex, 32),
    f!(NXM_1, 12, "reg12", [], "NXM_NX_REG12", 4, true, None, Hex, 32),
    f!(NXM_1, 13, "reg13", [], "NXM_NX_REG13", 4, true, None, Hex, 32),
    f!(NXM_1, 14, "reg14", [], "NXM_NX_REG14", 4, true, None, Hex, 32),
    f!(NXM_1, 15, "reg15", [], "NXM_NX_REG15", 4, true, None, Hex, 32),
    f!(NXM_1, 26, "ip_frag", ["nw_frag"], "NXM_NX_IP_FRAG", 1, true, IpAny, Frag, 2),
    f!(NXM_1, 29, "nw_ttl", [], "NXM_NX_IP_TTL", 1, false, IpAny, Decimal, 8),
    f!(NXM_1, 30, "mpls_ttl", [], "NXM_NX_MPLS_TTL", 1, false, Mpls, Decimal, 8),
    f!(NXM_1, 31, "tun_src", [], "NXM_NX_TUN_IPV4_SRC", 4, true, None, Ipv4, 32),
    f!(NXM_1, 32, "tun_dst", [], "NXM_NX_TUN_IPV4_DST", 4, true, None, Ipv4, 32),
    f!(NXM_1, 33, "pkt_mark", [], "NXM_NX_PKT_MARK", 4, true, None, Hex, 32),
    f!(NXM_1, 38, "tun_gbp_id", [], "NXM_NX_TUN_GBP_ID", 2, true, None, Decimal, 16),
    f!(NXM_1, 39, "tun_gbp_flags", [], "NXM_NX_TUN_GBP_FLAGS", 1, true, None, Hex, 8),
    f!(NXM_1, 109, "tun_ipv6_src", [], "NXM_NX_TUN_IPV6_SRC", 16, true, None, Ipv6, 128),
    f!(NXM_1, 110, "tun_ipv6_dst", [], "NXM_NX_TUN_IPV6_DST", 16, true, None, Ipv6, 128),
    f!(NXM_1, 104, "tun_flags", [], "NXM_NX_TUN_FLAGS", 2, true, None, TunFlags, 1),
    // Geneve option space: up to 124 bytes each, sent in as few bytes as
    // the value needs; a switch knows one only once it is mapped to an
    // option (`add-tlv-map`), and then sends it back at the mapped length.
    f!(NXM_1, 40, "tun_metadata0", [], "NXM_NX_TUN_METADATA0", 124, true, None, Hex, 992),
    f!(NXM_1, 41, "tun_metadata1", [], "NXM_NX_TUN_METADATA1", 124, true, None, Hex, 992),
    f!(NXM_1, 42, "tun_metadata2", [], "NXM_NX_TUN_METADATA2", 124, true, None, Hex, 992),
    f!(NXM_1, 43, "tun_metadata3", [], "NXM_NX_TUN_METADATA3", 124, true, None, Hex, 992),
    f!(NXM_1, 44, "tun_metadata4", [], "NXM_NX_TUN_METADATA4", 124, true, None, Hex, 992),
    f!(NXM_1, 45, "tun_metadata5", [], "NXM_NX_TUN_METADATA5", 124, true, None, Hex, 992),
    f!(NXM_1, 46, "tun_metadata6", [], "NXM_NX_TUN_METADATA6", 124, true, None, Hex, 992),
    f!(NXM_1, 47, "tun_metadata7", [], "NXM_NX_TUN_METADATA7", 124, true, None, Hex, 992),
    f!(NXM_1, 48, "tun_metadata8", [], "NXM_NX_TUN_METADATA8", 124, true, None, Hex, 992),
    f!(NXM_1, 49, "tun_metadata9", [], "NXM_NX_TUN_METADATA9", 124, true, None, Hex, 992),
    f!(NXM_1, 50, "tun_metadata10", [], "NXM_NX_TUN_METADATA10", 124, true, None, Hex, 992),
    f!(NXM_1, 51, "tun_metadata11", [], "NXM_NX_TUN_METADATA11", 124, true, None, Hex, 992),
    f!(NXM_1, 52, "tun_metadata12", [], "NXM_NX_TUN_METADATA12", 124, true, None, Hex, 992),
    f!(NXM_1, 53, "tun_metadata13", [], "NXM_NX_TUN_METADATA13", 124, true, None, Hex, 992),
    f!(NXM_1, 54, "tun_metadata14", [], "NXM_NX_TUN_METADATA14", 124, true, None, Hex, 992),
    f!(NXM_1, 55, "tun_metadata15", [], "NXM_NX_TUN_METADATA15", 124, true, None, Hex, 992),
    f!(NXM_1, 56, "tun_metadata16", [], "NXM_NX_TUN_METADATA16", 124, true, None, Hex, 992),
    f!(NXM_1, 57, "tun_metadata17", [], "NXM_NX_TUN_METADATA17", 124, true, None, Hex, 992),
    f!(NXM_1, 58, "tun_metadata18", [], "NXM_NX_TUN_METADATA18", 124, true, None, Hex, 992),
    f!(NXM_1, 59, "tun_metadata19", [], "NXM_NX_TUN_METADATA19", 124, true, None, Hex, 992),
    f!(NXM_1, 60, "tun_metadata20", [], "NXM_NX_TUN_METADATA20", 124, true, None, Hex, 992),
    f!(NXM_1, 61, "tun_metadata21", [], "NXM_NX_TUN_METADATA21", 124, true, None, Hex, 992),
    f!(NXM_1, 62, "tun_metadata22", [], "NXM_NX_TUN_METADATA22", 124, true, None, Hex, 992),
    f!(NXM_1, 63, "tun_metadata23", [], "NXM_NX_TUN_METADATA23", 124, true, None, Hex, 992),
    f!(NXM_1, 64, "tun_metadata24", [], "NXM_NX_TUN_METADATA24", 124, true, None, Hex, 992),
    f!(NXM_1, 65, "tun_metadata25", [], "NXM_NX_TUN_METADATA25", 124, true, None, Hex, 992),
    f!(NXM_1, 66, "tun_metadata26", [], "NXM_NX_TUN_METADATA26", 124, true, None, Hex, 992),
    f!(NXM_1, 67, "tun_metadata27", [], "NXM_NX_TUN_METADATA27", 124, true, None, Hex, 992),
    f!(NXM_1, 68, "tun_metadata28", [], "NXM_NX_TUN_METADATA28", 124, true, None, Hex, 992),
    f!(NXM_1, 69, "tun_metadata29", [], "NXM_NX_TUN_METADATA29", 124, true, None, Hex, 992),
    f!(NXM_1, 70, "tun_metadata30", [], "NXM_NX_TUN_METADATA30", 124, true, None, Hex, 992),
    f!(NXM_1, 71, "tun_metadata31", [], "NXM_NX_TUN_METADATA31", 124, true, None, Hex, 992),
    f!(NXM_1, 72, "tun_metadata32", [], "NXM_NX_TUN_METADATA32", 124, true, None, Hex, 992),
    f!(NXM_1, 73, "tun_metadata33", [], "NXM_NX_TUN_METADATA33", 124, true, None, Hex, 992),
    f!(NXM_1, 74, "tun_metadata34", [], "NXM_NX_TUN_METADATA34", 124, true, None, Hex, 992),
    f!(NXM_1, 75, "tun_metadata35", [], "NXM_NX_TUN_METADATA35", 124, true, None, Hex, 992),
    f!(NXM_1, 76, "tun_metadata36", [], "NXM_NX_TUN_METADATA36", 124, true, None, Hex, 992),
    f!(NXM_1, 77, "tun_metadata37", [], "NXM_NX_TUN_METADATA37", 124, true, None, Hex, 992),
    f!(NXM_1, 78, "tun_metadata38", [], "NXM_NX_TUN_METADATA38", 124, true, None, Hex, 992),
    f!(NXM_1, 79, "tun_metadata39", [], "NXM_NX_TUN_METADATA39", 124, true, None, Hex, 992),
    f!(NXM_1, 80, "tun_metadata40", [], "NXM_NX_TUN_METADATA40", 124, true, None, Hex, 992),
    f!(NXM_1, 81, "tun_metadata41", [], "NXM_NX_TUN_METADATA41", 124, true, None, Hex, 992),
    f!(NXM_1, 82, "tun_metadata42", [], "NXM_NX_TUN_METADATA42", 124, true, None, Hex, 992),
    f!(NXM_1, 83, "tun_metadata43", [], "NXM_NX_TUN_METADATA43", 124, true, None, Hex, 992),
    f!(NXM_1, 84, "tun_metadata44", [], "NXM_NX_TUN_METADATA44", 124, true, None, Hex, 992),
    f!(NXM_1, 85, "tun_metadata45", [], "NXM_NX_TUN_METADATA45", 124, true, None, Hex, 992),
    f!(NXM_1, 86, "tun_metadata46", [], "NXM_NX_TUN_METADATA46", 124, true, None, Hex, 992),
    f!(NXM_1, 87, "tun_metadata47", [], "NXM_NX_TUN_METADATA47", 124, true, None, Hex, 992),
    f!(NXM_1, 88, "tun_metadata48", [], "NXM_NX_TUN_METADATA48", 124, true, None, Hex, 992),
    f!(NXM_1, 89, "tun_metadata49", [], "NXM_NX_TUN_METADATA49", 124, true, None, Hex, 992),
    f!(NXM_1, 90, "tun_metadata50", [], "NXM_NX_TUN_METADATA50", 124, true, None, Hex, 992),
    f!(NXM_1, 91, "tun_metadata51", [], "NXM_NX_TUN_METADATA51", 124, true, None, Hex, 992),
    f!(NXM_1, 92, "tun_metadata52", [], "NXM_NX_TUN_METADATA52", 124, true, None, Hex, 992),
    f!(NXM_1, 93, "tun_metadata53", [], "NXM_NX_TUN_METADATA53", 124, true, None, Hex, 992),
    f!(NXM_1, 94, "tun_metadata54", [], "NXM_NX_TUN_METADATA54", 124, true, None, Hex, 992),
    f!(NXM_1, 95, "tun_metadata55", [], "NXM_NX_TUN_METADATA55", 124, true, None, Hex, 992),
    f!(NXM_1, 96, "tun_metadata56", [], "NXM_NX_TUN_METADATA56", 124, true, None, Hex, 992),
    f!(NXM_1, 97, "tun_metadata57", [], "NXM_NX_TUN_METADATA57", 124, true, None, Hex, 992),
    f!(NXM_1, 98, "tun_metadata58", [], "NXM_NX_TUN_METADATA58", 124, true, None, Hex, 992),
    f!(NXM_1, 99, "tun_metadata59", [], "NXM_NX_TUN_METADATA59", 124, true, None, Hex, 992),
    f!(NXM_1, 100, "tun_metadata60", [], "NXM_NX_TUN_METADATA60", 124, true, None, Hex, 992),
    f!(NXM_1, 101, "tun_metadata61", [], "NXM_NX_TUN_METADATA61", 124, true, None, Hex, 992),
    f!(NXM_1, 102, "tun_metadata62", [], "NXM_NX_TUN_METADATA62", 124, true, None, Hex, 992),
    f!(NXM_1, 103, "tun_metadata63", [], "NXM_NX_TUN_METADATA63", 124, true, None, Hex, 992),
    nxet!(11, "tun_erspan_idx", "NXOXM_ET_ERSPAN_IDX", 4, Hex, 20),
    nxet!(12, "tun_erspan_ver", "NXOXM_ET_ERSPAN_VER", 1, Decimal, 4),
    nxet!(13, "tun_erspan_dir", "NXOXM_ET_ERSPAN_DIR", 1, Decimal, 1),
    nxet!(14, "tun_erspan_hwid", "NXOXM_ET_ERSPAN_HWID", 1, Hex, 6),
    nxet!(15, "tun_gtpu_flags", "NXOXM_ET_GTPU_FLAGS", 1, Hex, 8),
    nxet!(16, "tun_gtpu_msgtype", "NXOXM_ET_GTPU_MSGTYPE", 1, Decimal, 8),
    f!(NXM_1, 37, "conj_id", [], "NXM_NX_CONJ_ID", 4, false, None, Decimal, 32),
    f!(NXM_1, 105, "ct_state", [], "NXM_NX_CT_STATE", 4, true, None, CtState, 32),
    f!(NXM_1, 106, "ct_zone", [], "NXM_NX_CT_ZONE", 2, false, None, Hex, 16),
    f!(NXM_1, 107, "ct_mark", [], "NXM_NX_CT_MARK", 4, true, None, Hex, 32),
    f!(NXM_1, 108, "ct_label", [], "NXM_NX_CT_LABEL", 16, true, None, Hex, 128),
    // The original direction's tuple of a tracked connection.
    f!(NXM_1, 119, "ct_nw_proto", [], "NXM_NX_CT_NW_PROTO", 1, false, CtValid, Decimal, 8),
    f!(NXM_1, 120, "ct_nw_src", [], "NXM_NX_CT_NW_SRC", 4, true, CtValid, Ipv4, 32),
    f!(NXM_1, 121, "ct_nw_dst", [], "NXM_NX_CT_NW_DST", 4, true, CtValid, Ipv4, 32),
    f!(NXM_1, 122, "ct_ipv6_src", [], "NXM_NX_CT_IPV6_SRC", 16, true, CtValid, Ipv6, 128),
    f!(NXM_1, 123, "ct_ipv6_dst", [], "NXM_NX_CT_IPV6_DST", 16, true, CtValid, Ipv6, 128),
    f!(NXM_1, 124, "ct_tp_src", [], "NXM_NX_CT_TP_SRC", 2, true, CtValid, Decimal, 16),
    f!(NXM_1, 125, "ct_tp_dst", [], "NXM_NX_CT_TP_DST", 2, true, CtValid, Decimal, 16),
    nsh!(1, "nsh_flags", [], "NXOXM_NSH_FLAGS", 1, true, Decimal, 8),
    nsh!(2, "nsh_mdtype", [], "NXOXM_NSH_MDTYPE", 1, false, Decimal, 8),
    nsh!(3, "nsh_np", [], "NXOXM_NSH_NP", 1, false, Decimal, 8),
    nsh!(4, "nsh_spi", ["nsp"], "NXOXM_NSH_SPI", 4, false, Hex, 24),
    nsh!(5, "nsh_si", ["nsi"], "NXOXM_NSH_SI", 1, false, Decimal, 8),
    nsh!(6, "nsh_c1", ["nshc1"], "NXOXM_NSH_C1", 4, true, Hex, 32),
    nsh!(7, "nsh_c2", ["nshc2"], "NXOXM_NSH_C2", 4, true, Hex, 32),
    nsh!(8, "nsh_c3", ["nshc3"], "NXOXM_NSH_C3", 4, true, Hex, 32),
    nsh!(9, "nsh_c4", ["nshc4"], "NXOXM_NSH_C4", 4, true, Hex, 32),
    nsh!(10, "nsh_ttl", [], "NXOXM_NSH_TTL", 1, false, Decimal, 8),
    f!(PACKET_REGS, 0, "xreg0", [], "OXM_OF_PKT_REG0", 8, true, None, Hex, 64),
    f!(PACKET_REGS, 1, "xreg1", [], "OXM_OF_PKT_REG1", 8, true, None, Hex, 64),
    f!(PACKET_REGS, 2, "xreg2", [], "OXM_OF_PKT_REG2", 8, true, None, Hex, 64),
    f!(PACKET_REGS, 3, "xreg3", [], "OXM_OF_PKT_REG3", 8, true, None, Hex, 64),
    f!(PACKET_REGS, 4, "xreg4", [], "OXM_OF_PKT_REG4", 8, true, None, Hex, 64),
    f!(PACKET_REGS, 5, "xreg5", [], "OXM_OF_PKT_REG5", 8, true, None, Hex, 64),
    f!(PACKET_REGS, 6, "xreg6", [], "OXM_OF_PKT_REG6", 8, true, None, Hex, 64),
    f!(PACKET_REGS, 7, "xreg7", [], "OXM_OF_PKT_REG7", 8, true, None, Hex, 64),
];

/// Fields that Open vSwitch reads and writes through actions (`move`,
/// `set_field`) and sends back in OpenFlow 1.5 dumps, but that podflow does
/// not match on. Known here so those actions decode and encode faithfully.
pub static ACTION_ONLY_FIELDS: &[FieldDef] = &[
    f!(NXM_0, 0, "in_port", [], "NXM_OF_IN_PORT", 2, false, None, Port, 16),
    f!(NXM_0, 5, "nw_tos", [], "NXM_OF_IP_TOS", 1, false, IpAny, Decimal, 8),
    f!(NXM_1, 35, "dp_hash", [], "NXM_NX_DP_HASH", 4, true, None, Hex, 32),
    f!(NXM_1, 36, "recirc_id", [], "NXM_NX_RECIRC_ID", 4, false, None, Decimal, 32),
    f!(NXM_1, 111, "xxreg0", [], "NXM_NX_XXREG0", 16, true, None, Hex, 128),
    f!(NXM_1, 112, "xxreg1", [], "NXM_NX_XXREG1", 16, true, None, Hex, 128),
    f!(NXM_1, 113, "xxreg2", [], "NXM_NX_XXREG2", 16, true, None, Hex, 128),
    f!(NXM_1, 114, "xxreg3", [], "NXM_NX_XXREG3", 16, true, None, Hex, 128),
    f!(NXM_1, 115, "xxreg4", [], "NXM_NX_XXREG4", 16, true, None, Hex, 128),
    f!(NXM_1, 116, "xxreg5", [], "NXM_NX_XXREG5", 16, true, None, Hex, 128),
    f!(NXM_1, 117, "xxreg6", [], "NXM_NX_XXREG6", 16, true, None, Hex, 128),
    f!(NXM_1, 118, "xxreg7", [], "NXM_NX_XXREG7", 16, true, None, Hex, 128),
];

/// Nicira NXM headers of fields that podflow keeps under their OpenFlow
/// 1.2+ OXM identity: (NXM class, NXM field, OXM basic field). Open
/// vSwitch writes these NXM headers in the actions it sends back (`move`,
/// `learn`, `output:REG`, …), preferring the older header.
static NXM_HEADERS: &[(u16, u8, u8)] = &[
    (class::NXM_0, 1, 3),   // NXM_OF_ETH_DST
    (class::NXM_0, 2, 4),   // NXM_OF_ETH_SRC
    (class::NXM_0, 3, 5),   // NXM_OF_ETH_TYPE
    (class::NXM_0, 6, 10),  // NXM_OF_IP_PROTO
    (class::NXM_0, 7, 11),  // NXM_OF_IP_SRC
    (class::NXM_0, 8, 12),  // NXM_OF_IP_DST
    (class::NXM_0, 9, 13),  // NXM_OF_TCP_SRC
    (class::NXM_0, 10, 14), // NXM_OF_TCP_DST
    (class::NXM_0, 11, 15), // NXM_OF_UDP_SRC
    (class::NXM_0, 12, 16), // NXM_OF_UDP_DST
    (class::NXM_0, 13, 19), // NXM_OF_ICMP_TYPE
    (class::NXM_0, 14, 20), // NXM_OF_ICMP_CODE
    (class::NXM_0, 15, 21), // NXM_OF_ARP_OP
    (class::NXM_0, 16, 22), // NXM_OF_ARP_SPA
    (class::NXM_0, 17, 23), // NXM_OF_ARP_TPA
    (class::NXM_1, 16, 38), // NXM_NX_TUN_ID
    (class::NXM_1, 17, 24), // NXM_NX_ARP_SHA
    (class::NXM_1, 18, 25), // NXM_NX_ARP_THA
    (class::NXM_1, 19, 26), // NXM_NX_IPV6_SRC
    (class::NXM_1, 20, 27), // NXM_NX_IPV6_DST
    (class::NXM_1, 21, 29), // NXM_NX_ICMPV6_TYPE
    (class::NXM_1, 22, 30), // NXM_NX_ICMPV6_CODE
    (class::NXM_1, 23, 31), // NXM_NX_ND_TARGET
    (class::NXM_1, 24, 32), // NXM_NX_ND_SLL
    (class::NXM_1, 25, 33), // NXM_NX_ND_TLL
    (class::NXM_1, 27, 28), // NXM_NX_IPV6_LABEL
    (class::NXM_1, 28, 9),  // NXM_NX_IP_ECN
    (class::NXM_1, 34, 42), // NXM_NX_TCP_FLAGS
];

impl OxmId {
    /// The id podflow knows this NXM header's field by, when it keeps the
    /// field under its OXM identity (see [`NXM_HEADERS`]).
    pub fn canonical(self) -> Option<OxmId> {
        let slot = match (self.class, self.experimenter) {
            (class::NXM_0, None) => 0,
            (class::NXM_1, None) => 1,
            _ => return None,
        };
        let oxm = index().nxm.get(slot)?.get(usize::from(self.field)).copied().flatten()?;
        Some(OxmId::new(class::OPENFLOW_BASIC, oxm))
    }
}

/// Looks a field up by any of its text names (canonical, alias or NXM name).
pub fn field_by_name(name: &str) -> Option<&'static FieldDef> {
    index().by_name.get(name).copied()
}

/// [`FIELDS`] by id and by every name, built once: the flow parser looks
/// fields up several times per line (a linear scan was its hottest spot).
/// Where two fields share a name or id, the first in [`FIELDS`] wins, as a
/// scan from the front would have it.
struct FieldIndex {
    /// Fields of the four classes without experimenter id, by class slot
    /// ([`FieldIndex::class_slot`]) and field number (7 bits).
    by_class: [[Option<&'static FieldDef>; 128]; 4],
    others: std::collections::HashMap<OxmId, &'static FieldDef>,
    /// [`NXM_HEADERS`] by NXM class (0, 1) and field: the OXM basic field.
    /// Actions name fields by NXM header, so a dump looks these up for
    /// every `move` and `learn` spec.
    nxm: [[Option<u8>; 128]; 2],
    by_name: std::collections::HashMap<&'static str, &'static FieldDef, std::hash::BuildHasherDefault<Fnv>>,
}

impl FieldIndex {
    fn class_slot(&self, class: u16) -> Option<usize> {
        match class {
            class::NXM_0 => Some(0),
            class::NXM_1 => Some(1),
            class::OPENFLOW_BASIC => Some(2),
            class::PACKET_REGS => Some(3),
            _ => None,
        }
    }
}

/// FNV-1a: names are short and trusted (a fixed table), so the default
/// DoS-resistant hasher only costs time here.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
        self.0 = h;
    }
}

fn index() -> &'static FieldIndex {
    static INDEX: std::sync::OnceLock<FieldIndex> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut ix = FieldIndex { by_class: [[None; 128]; 4], others: Default::default(), nxm: [[None; 128]; 2], by_name: Default::default() };
        for &(c, f, oxm) in NXM_HEADERS {
            if let Some(e) = ix.nxm[usize::from(c == class::NXM_1)].get_mut(usize::from(f)) {
                e.get_or_insert(oxm);
            }
        }
        for d in FIELDS {
            match (d.id.experimenter, ix.class_slot(d.id.class)) {
                (None, Some(c)) if d.id.field < 128 => {
                    let slot = &mut ix.by_class[c][usize::from(d.id.field)];
                    if slot.is_none() {
                        *slot = Some(d);
                    }
                }
                _ => {
                    ix.others.entry(d.id).or_insert(d);
                }
            }
            for n in std::iter::once(&d.name).chain(d.aliases.iter()).chain(std::iter::once(&d.nxm_name)) {
                ix.by_name.entry(*n).or_insert(d);
            }
        }
        ix
    })
}

/// Well-known field ids, for code that builds matches.
pub mod fields {
    use super::{class, OxmId};
    pub const IN_PORT: OxmId = OxmId::new(class::OPENFLOW_BASIC, 0);
    pub const METADATA: OxmId = OxmId::new(class::OPENFLOW_BASIC, 2);
    pub const ETH_DST: OxmId = OxmId::new(class::OPENFLOW_BASIC, 3);
    pub const ETH_SRC: OxmId = OxmId::new(class::OPENFLOW_BASIC, 4);
    pub const ETH_TYPE: OxmId = OxmId::new(class::OPENFLOW_BASIC, 5);
    pub const VLAN_VID: OxmId = OxmId::new(class::OPENFLOW_BASIC, 6);
    pub const VLAN_PCP: OxmId = OxmId::new(class::OPENFLOW_BASIC, 7);
    pub const IP_DSCP: OxmId = OxmId::new(class::OPENFLOW_BASIC, 8);
    pub const IP_ECN: OxmId = OxmId::new(class::OPENFLOW_BASIC, 9);
    pub const IP_PROTO: OxmId = OxmId::new(class::OPENFLOW_BASIC, 10);
    pub const IPV4_SRC: OxmId = OxmId::new(class::OPENFLOW_BASIC, 11);
    pub const IPV4_DST: OxmId = OxmId::new(class::OPENFLOW_BASIC, 12);
    pub const TCP_SRC: OxmId = OxmId::new(class::OPENFLOW_BASIC, 13);
    pub const TCP_DST: OxmId = OxmId::new(class::OPENFLOW_BASIC, 14);
    pub const UDP_SRC: OxmId = OxmId::new(class::OPENFLOW_BASIC, 15);
    pub const UDP_DST: OxmId = OxmId::new(class::OPENFLOW_BASIC, 16);
    pub const SCTP_SRC: OxmId = OxmId::new(class::OPENFLOW_BASIC, 17);
    pub const SCTP_DST: OxmId = OxmId::new(class::OPENFLOW_BASIC, 18);
    pub const ICMPV4_TYPE: OxmId = OxmId::new(class::OPENFLOW_BASIC, 19);
    pub const ICMPV4_CODE: OxmId = OxmId::new(class::OPENFLOW_BASIC, 20);
    pub const ARP_OP: OxmId = OxmId::new(class::OPENFLOW_BASIC, 21);
    pub const ARP_SPA: OxmId = OxmId::new(class::OPENFLOW_BASIC, 22);
    pub const ARP_TPA: OxmId = OxmId::new(class::OPENFLOW_BASIC, 23);
    pub const ARP_SHA: OxmId = OxmId::new(class::OPENFLOW_BASIC, 24);
    pub const ARP_THA: OxmId = OxmId::new(class::OPENFLOW_BASIC, 25);
    pub const IPV6_SRC: OxmId = OxmId::new(class::OPENFLOW_BASIC, 26);
    pub const IPV6_DST: OxmId = OxmId::new(class::OPENFLOW_BASIC, 27);
    pub const IPV6_FLABEL: OxmId = OxmId::new(class::OPENFLOW_BASIC, 28);
    pub const ICMPV6_TYPE: OxmId = OxmId::new(class::OPENFLOW_BASIC, 29);
    pub const ICMPV6_CODE: OxmId = OxmId::new(class::OPENFLOW_BASIC, 30);
    pub const ND_TARGET: OxmId = OxmId::new(class::OPENFLOW_BASIC, 31);
    pub const ND_SLL: OxmId = OxmId::new(class::OPENFLOW_BASIC, 32);
    pub const ND_TLL: OxmId = OxmId::new(class::OPENFLOW_BASIC, 33);
    pub const TUNNEL_ID: OxmId = OxmId::new(class::OPENFLOW_BASIC, 38);
    pub const TCP_FLAGS: OxmId = OxmId::new(class::OPENFLOW_BASIC, 42);
    pub const TUN_FLAGS: OxmId = OxmId::new(class::NXM_1, 104);
    pub const ND_RESERVED: OxmId = OxmId::new(class::ERICSSON, 1);
    pub const ND_OPTIONS_TYPE: OxmId = OxmId::new(class::ERICSSON, 2);
    pub const PACKET_TYPE: OxmId = OxmId::new(class::OPENFLOW_BASIC, 44);
    pub const VLAN_TCI: OxmId = OxmId::new(class::NXM_0, 4);
    pub const IP_FRAG: OxmId = OxmId::new(class::NXM_1, 26);
    pub const NW_TTL: OxmId = OxmId::new(class::NXM_1, 29);
    pub const TUN_GBP_ID: OxmId = OxmId::new(class::NXM_1, 38);
    pub const TUN_GBP_FLAGS: OxmId = OxmId::new(class::NXM_1, 39);
    pub const TUN_IPV6_SRC: OxmId = OxmId::new(class::NXM_1, 109);
    pub const TUN_IPV6_DST: OxmId = OxmId::new(class::NXM_1, 110);
    pub const CT_NW_PROTO: OxmId = OxmId::new(class::NXM_1, 119);
    pub const CT_NW_SRC: OxmId = OxmId::new(class::NXM_1, 120);
    pub const CT_NW_DST: OxmId = OxmId::new(class::NXM_1, 121);
    pub const CT_IPV6_SRC: OxmId = OxmId::new(class::NXM_1, 122);
    pub const CT_IPV6_DST: OxmId = OxmId::new(class::NXM_1, 123);
    pub const CT_TP_SRC: OxmId = OxmId::new(class::NXM_1, 124);
    pub const CT_TP_DST: OxmId = OxmId::new(class::NXM_1, 125);
    pub const ACTSET_OUTPUT: OxmId = OxmId::new(class::OPENFLOW_BASIC, 43);
    pub const MPLS_TTL: OxmId = OxmId::new(class::NXM_1, 30);
    pub const PKT_MARK: OxmId = OxmId::new(class::NXM_1, 33);
    pub const MPLS_LABEL: OxmId = OxmId::new(class::OPENFLOW_BASIC, 34);
    pub const MPLS_TC: OxmId = OxmId::new(class::OPENFLOW_BASIC, 35);
    pub const MPLS_BOS: OxmId = OxmId::new(class::OPENFLOW_BASIC, 36);
    pub const TUN_SRC: OxmId = OxmId::new(class::NXM_1, 31);
    pub const TUN_DST: OxmId = OxmId::new(class::NXM_1, 32);
    pub const CONJ_ID: OxmId = OxmId::new(class::NXM_1, 37);
    pub const CT_STATE: OxmId = OxmId::new(class::NXM_1, 105);
    pub const CT_ZONE: OxmId = OxmId::new(class::NXM_1, 106);
    pub const CT_MARK: OxmId = OxmId::new(class::NXM_1, 107);
    pub const CT_LABEL: OxmId = OxmId::new(class::NXM_1, 108);

    /// `reg<n>` (0..=15).
    pub const fn reg(n: u8) -> OxmId {
        OxmId::new(class::NXM_1, n)
    }

    /// `xreg<n>` (0..=7).
    pub const fn xreg(n: u8) -> OxmId {
        OxmId::new(class::PACKET_REGS, n)
    }
}

/// `vlan_vid` bit saying a VLAN header is present.
pub const OFPVID_PRESENT: u16 = 0x1000;

/// One match field: its id, value and optional mask, as big-endian bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OxmField {
    pub id: OxmId,
    pub value: Vec<u8>,
    pub mask: Option<Vec<u8>>,
}

impl OxmField {
    pub fn new(id: OxmId, value: impl Into<Vec<u8>>) -> Self {
        OxmField { id, value: value.into(), mask: None }
    }

    pub fn masked(id: OxmId, value: impl Into<Vec<u8>>, mask: impl Into<Vec<u8>>) -> Self {
        OxmField { id, value: value.into(), mask: Some(mask.into()) }
    }

    /// Value as an unsigned integer (fields up to 16 bytes).
    pub fn value_u128(&self) -> u128 {
        be_to_u128(&self.value)
    }

    pub fn mask_u128(&self) -> Option<u128> {
        self.mask.as_deref().map(be_to_u128)
    }

    /// Encoded length including the header.
    pub fn wire_len(&self) -> usize {
        self.id.header_len() + self.value.len() + self.mask.as_ref().map_or(0, |m| m.len())
    }

    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        if let Some(m) = &self.mask {
            if m.len() != self.value.len() {
                return Err(EncodeError::Invalid {
                    what: "OXM field",
                    detail: format!("{}: mask length {} differs from value length {}", self.id.name(), m.len(), self.value.len()),
                });
            }
        }
        if let Some(d) = self.id.def() {
            // Open vSwitch sends a zero tun_metadata value in 0 bytes.
            if d.len != self.value.len() && !(d.variable_len() && self.value.len() <= d.len) {
                return Err(EncodeError::Invalid {
                    what: "OXM field",
                    detail: format!("{} takes {} bytes, got {}", d.name, d.len, self.value.len()),
                });
            }
        }
        let payload = self.value.len() + self.mask.as_ref().map_or(0, |m| m.len());
        self.id.put_header(out, self.mask.is_some(), payload)?;
        out.put_slice(&self.value);
        if let Some(m) = &self.mask {
            out.put_slice(m);
        }
        Ok(())
    }

    /// Decodes one TLV (header included) from `r`.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::decode_masked_if(r, false)
    }

    /// Decodes one TLV; `any_mask` accepts a mask on any field, as a
    /// `set_field` action may carry one (Open vSwitch sends `load` to a
    /// field it cannot match masked, such as `mpls_label`, that way).
    pub fn decode_masked_if(r: &mut Reader<'_>, any_mask: bool) -> Result<Self, DecodeError> {
        OxmFieldRef::decode_masked_if(r, any_mask).map(|f| f.to_owned())
    }

    /// The field with its value and mask borrowed.
    pub fn as_ref(&self) -> OxmFieldRef<'_> {
        OxmFieldRef { id: self.id, value: &self.value, mask: self.mask.as_deref() }
    }
}

/// An [`OxmField`] whose value and mask are borrowed from the message it
/// came in: a dump printer reads a match's fields without copying them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OxmFieldRef<'a> {
    pub id: OxmId,
    pub value: &'a [u8],
    pub mask: Option<&'a [u8]>,
}

impl<'a> OxmFieldRef<'a> {
    /// [`OxmField::decode_masked_if`], borrowing the value and mask.
    pub fn decode_masked_if(r: &mut Reader<'a>, any_mask: bool) -> Result<Self, DecodeError> {
        let (id, has_mask, len) = OxmId::read_header(r)?;
        let mut body = r.sub(len, "OXM field value")?;
        if has_mask && len % 2 != 0 {
            return Err(DecodeError::BadLength { what: "masked OXM field", len, why: "value and mask differ in length" });
        }
        let vlen = if has_mask { len / 2 } else { len };
        if let Some(d) = id.def() {
            if d.len != vlen && !(d.variable_len() && vlen <= d.len) {
                return Err(DecodeError::BadLength { what: "OXM field", len, why: "does not match the field's size" });
            }
            if has_mask && !d.maskable && !any_mask {
                return Err(DecodeError::invalid("OXM field", format!("{} cannot be masked", d.name)));
            }
        }
        let value = body.take(vlen, "OXM value")?;
        let mask = if has_mask { Some(body.take(vlen, "OXM mask")?) } else { None };
        Ok(OxmFieldRef { id, value, mask })
    }

    pub fn to_owned(&self) -> OxmField {
        OxmField { id: self.id, value: self.value.to_vec(), mask: self.mask.map(<[u8]>::to_vec) }
    }

    /// [`OxmField::value_u128`].
    pub fn value_u128(&self) -> u128 {
        be_to_u128(self.value)
    }

    /// [`OxmField::mask_u128`].
    pub fn mask_u128(&self) -> Option<u128> {
        self.mask.map(be_to_u128)
    }
}

pub(crate) fn be_to_u128(b: &[u8]) -> u128 {
    b.iter().rev().take(16).rev().fold(0u128, |acc, &x| (acc << 8) | x as u128)
}

/// An OpenFlow 1.5 match (`ofp_match` with `OFPMT_OXM`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Match {
    pub fields: Vec<OxmField>,
}

/// `ofp_match.type` for OXM matches.
pub const OFPMT_OXM: u16 = 1;

impl Match {
    pub fn new() -> Self {
        Match::default()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The field with this id, if present.
    pub fn get(&self, id: OxmId) -> Option<&OxmField> {
        self.fields.iter().find(|f| f.id == id)
    }

    /// Adds or replaces a field.
    pub fn set(&mut self, field: OxmField) -> &mut Self {
        if let Some(existing) = self.fields.iter_mut().find(|f| f.id == field.id) {
            *existing = field;
        } else {
            self.fields.push(field);
        }
        self
    }

    pub fn with(mut self, field: OxmField) -> Self {
        self.set(field);
        self
    }

    /// Exact value of a field as an integer, if present and unmasked (or
    /// masked with all ones).
    pub fn exact(&self, id: OxmId) -> Option<u128> {
        let f = self.get(id)?;
        match &f.mask {
            None => Some(f.value_u128()),
            Some(m) if m.iter().all(|&b| b == 0xff) => Some(f.value_u128()),
            Some(_) => None,
        }
    }

    /// Checks that every field's prerequisites are present (the rules Open
    /// vSwitch applies, so a bad match is a caller error here instead of an
    /// `OFPBMC_BAD_PREREQ` from the switch).
    pub fn check_prerequisites(&self) -> Result<(), (&'static str, Prereq)> {
        for f in &self.fields {
            if let Some(d) = f.id.def() {
                if !self.satisfies(d.prereq) {
                    return Err((d.name, d.prereq));
                }
            }
        }
        Ok(())
    }

    fn satisfies(&self, p: Prereq) -> bool {
        use fields::*;
        // packet_type (1,TYPE) (OFPHTN_ETHERTYPE) implies eth_type TYPE.
        let eth = self.exact(ETH_TYPE).map(|v| v as u16).or_else(|| {
            self.exact(PACKET_TYPE).map(|p| p as u32).filter(|p| p >> 16 == 1).map(|p| p as u16)
        });
        let proto = self.exact(IP_PROTO).map(|v| v as u8);
        let ip_any = matches!(eth, Some(0x0800) | Some(0x86dd));
        match p {
            Prereq::None | Prereq::Ethernet => true,
            Prereq::Ipv4 => eth == Some(0x0800),
            Prereq::Ipv6 => eth == Some(0x86dd),
            Prereq::IpAny => ip_any,
            Prereq::Arp => matches!(eth, Some(0x0806) | Some(0x8035)),
            Prereq::Mpls => matches!(eth, Some(0x8847) | Some(0x8848)),
            Prereq::Nsh => eth == Some(0x894f),
            Prereq::CtValid => {
                let (v, m) = self.get(CT_STATE).map_or((0, 0), |f| {
                    (f.value_u128() as u32, f.mask_u128().map_or(u32::MAX, |m| m as u32))
                });
                // Open vSwitch's is_ct_valid(): a state bit that needs a
                // connection, or +trk with -inv.
                v & 0xcf != 0 || (v & 0x20 != 0 && m & 0x10 != 0 && v & 0x10 == 0)
            }
            Prereq::Tcp => ip_any && proto == Some(6),
            Prereq::Udp => ip_any && proto == Some(17),
            Prereq::Sctp => ip_any && proto == Some(132),
            Prereq::Icmpv4 => eth == Some(0x0800) && proto == Some(1),
            Prereq::Icmpv6 => eth == Some(0x86dd) && proto == Some(58),
            Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => {
                let t = self.exact(ICMPV6_TYPE).map(|v| v as u8);
                eth == Some(0x86dd)
                    && proto == Some(58)
                    && match p {
                        Prereq::NdSolicit => t == Some(135),
                        Prereq::NdAdvert => t == Some(136),
                        _ => matches!(t, Some(135) | Some(136)),
                    }
            }
            Prereq::VlanVid => match self.get(VLAN_VID) {
                Some(f) => {
                    let v = f.value_u128() as u16;
                    let m = f.mask_u128().map_or(0xffff, |m| m as u16);
                    v & m & OFPVID_PRESENT != 0
                }
                None => match self.get(VLAN_TCI) {
                    Some(f) => f.value_u128() as u16 & 0x1000 != 0,
                    None => false,
                },
            },
        }
    }

    /// Length of the `ofp_match` without trailing padding.
    pub fn unpadded_len(&self) -> usize {
        4 + self.fields.iter().map(OxmField::wire_len).sum::<usize>()
    }

    /// Encodes `ofp_match`, padded to 8 bytes.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        if let Err((field, p)) = self.check_prerequisites() {
            return Err(EncodeError::MissingPrerequisite { field, prerequisite: p.describe() });
        }
        self.encode_unchecked(out)
    }

    /// Encodes without checking prerequisites (used to re-encode what a
    /// peer sent, which must round-trip even when it is not valid).
    pub fn encode_unchecked(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let len = self.unpadded_len();
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong { what: "match", len })?;
        out.put_u16(OFPMT_OXM);
        out.put_u16(len16);
        for f in &self.fields {
            f.encode(out)?;
        }
        pad_to(out, start, 8);
        Ok(())
    }

    /// Decodes `ofp_match` including its padding.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_fields(Self::take(r)?)
    }

    /// The match whose fields are `body` ([`Match::take`]'s bytes).
    pub fn from_fields(body: &[u8]) -> Result<Self, DecodeError> {
        // An OXM field is its 4-byte header and the length in its 4th byte.
        let mut fields = Vec::with_capacity(crate::wire::count_units(body, |u| u.get(3).map(|&l| 4 + usize::from(l))));
        Self::for_each_field(body, |f| fields.push(f.to_owned()))?;
        Ok(Match { fields })
    }

    /// Takes `ofp_match` (header, fields, padding) off `r` and returns its
    /// fields' bytes, not decoded: [`Match::for_each_field`] decodes them.
    pub fn take<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
        let ty = r.u16("match")?;
        let len = r.u16("match")? as usize;
        if ty != OFPMT_OXM {
            return Err(DecodeError::Unsupported { what: "match type", detail: format!("{ty} (only OXM, 1, exists in OpenFlow 1.5)") });
        }
        if len < 4 {
            return Err(DecodeError::BadLength { what: "match", len, why: "shorter than its 4-byte header" });
        }
        let body = r.take(len - 4, "match")?;
        let pad = crate::wire::padding(len, 8);
        r.skip(pad.min(r.remaining()), "match padding")?;
        Ok(body)
    }

    /// Decodes the fields of a match ([`Match::take`]'s bytes) in order,
    /// handing each to `each`, borrowed; fails on a malformed or repeated
    /// field (after handing over the ones before it).
    pub fn for_each_field<'a>(body: &'a [u8], mut each: impl FnMut(OxmFieldRef<'a>)) -> Result<(), DecodeError> {
        // The ids seen so far: inline for the usual few, on the heap only
        // for a long match.
        let mut seen = [OxmId::new(0, 0); 16];
        let mut more = Vec::new();
        let mut r = Reader::new(body);
        let mut n = 0;
        while !r.is_empty() {
            let f = OxmFieldRef::decode_masked_if(&mut r, false)?;
            if seen[..n.min(seen.len())].contains(&f.id) || more.contains(&f.id) {
                return Err(DecodeError::invalid("match", format!("field {} appears twice", f.id.name())));
            }
            match seen.get_mut(n) {
                Some(slot) => *slot = f.id,
                None => more.push(f.id),
            }
            n += 1;
            each(f);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_unknown_field() {
        let m = Match::new()
            .with(OxmField::new(fields::ETH_TYPE, 0x0800u16.to_be_bytes()))
            .with(OxmField::masked(fields::IPV4_SRC, [198, 18, 0, 0], [255, 255, 255, 0]))
            .with(OxmField::new(OxmId { class: 0xffff, field: 9, experimenter: Some(0x4f4e4600) }, vec![1, 2, 3]))
            .with(OxmField::new(OxmId::new(0x8000, 120), vec![7]));
        let mut b = BytesMut::new();
        m.encode(&mut b).unwrap();
        assert_eq!(b.len() % 8, 0);
        let mut r = Reader::new(&b);
        let d = Match::decode(&mut r).unwrap();
        assert!(r.is_empty());
        assert_eq!(d, m);
    }

    #[test]
    fn prerequisites() {
        let m = Match::new().with(OxmField::new(fields::IPV4_SRC, [1, 2, 3, 4]));
        let mut b = BytesMut::new();
        assert!(matches!(m.encode(&mut b), Err(EncodeError::MissingPrerequisite { field: "ip_src", .. })));
        let m = Match::new()
            .with(OxmField::new(fields::ETH_TYPE, [0x86, 0xdd]))
            .with(OxmField::new(fields::IP_PROTO, [58]))
            .with(OxmField::new(fields::ICMPV6_TYPE, [135]))
            .with(OxmField::new(fields::ND_SLL, [0; 6]));
        assert!(m.check_prerequisites().is_ok());
        let m2 = m.clone().with(OxmField::new(fields::ND_TLL, [0; 6]));
        assert!(m2.check_prerequisites().is_err());
    }

    #[test]
    fn rejects_nested_length_past_parent() {
        // match len 12 says one 4+4 field, but field claims 8 bytes of value.
        let bytes = [0, 1, 0, 12, 0x80, 0, 0x04, 8, 1, 2, 3, 4, 0, 0, 0, 0];
        assert!(Match::decode(&mut Reader::new(&bytes)).is_err());
    }

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in FIELDS {
            assert!(seen.insert(d.name), "{}", d.name);
            for a in d.aliases {
                assert!(seen.insert(a), "{a}");
            }
        }
    }
}
