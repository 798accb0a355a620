//! Name tables of the flow text, each written once and used both to parse
//! and to print: the `ct_state`, `tcp_flags` and `tun_flags` flag names, and the
//! OpenFlow header names Open vSwitch also accepts for fields.

use crate::openflow::oxm::{field_by_name, FieldDef};

pub(super) const CT_STATE_FLAGS: &[(&str, u32)] = &[
    ("new", 0x01),
    ("est", 0x02),
    ("rel", 0x04),
    ("rpl", 0x08),
    ("inv", 0x10),
    ("trk", 0x20),
    ("snat", 0x40),
    ("dnat", 0x80),
];

pub(super) const TCP_FLAGS: &[(&str, u32)] = &[
    ("fin", 0x001),
    ("syn", 0x002),
    ("rst", 0x004),
    ("psh", 0x008),
    ("ack", 0x010),
    ("urg", 0x020),
    ("ece", 0x040),
    ("cwr", 0x080),
    ("ns", 0x100),
];

/// The tunnel flags OpenFlow carries (Open vSwitch's public ones).
pub(super) const TUN_FLAGS: &[(&str, u32)] = &[("oam", 0x1)];

/// The name of one flag bit in `table`.
pub(super) fn flag_name(table: &[(&'static str, u32)], bit: u32) -> Option<&'static str> {
    table.iter().find(|(_, b)| *b == bit).map(|(n, _)| *n)
}

/// The OpenFlow 1.2+ header names that Open vSwitch accepts for a field in
/// subfield syntax (`OXM_OF_TCP_DST[]`) besides its NXM name, which is the
/// one printed; paired with the field's canonical name.
pub(super) const OXM_NAMES: &[(&str, &str)] = &[
    ("OXM_OF_TUNNEL_ID", "tun_id"),
    ("OXM_OF_ACTSET_OUTPUT", "actset_output"),
    ("OXM_OF_ETH_SRC", "eth_src"),
    ("OXM_OF_ETH_DST", "eth_dst"),
    ("OXM_OF_ETH_TYPE", "eth_type"),
    ("OXM_OF_IPV4_SRC", "ip_src"),
    ("OXM_OF_IPV4_DST", "ip_dst"),
    ("OXM_OF_IPV6_SRC", "ipv6_src"),
    ("OXM_OF_IPV6_DST", "ipv6_dst"),
    ("OXM_OF_IPV6_FLABEL", "ipv6_label"),
    ("OXM_OF_IP_PROTO", "nw_proto"),
    ("OXM_OF_IP_ECN", "nw_ecn"),
    ("OXM_OF_ARP_OP", "arp_op"),
    ("OXM_OF_ARP_SPA", "arp_spa"),
    ("OXM_OF_ARP_TPA", "arp_tpa"),
    ("OXM_OF_ARP_SHA", "arp_sha"),
    ("OXM_OF_ARP_THA", "arp_tha"),
    ("OXM_OF_TCP_SRC", "tcp_src"),
    ("OXM_OF_TCP_DST", "tcp_dst"),
    ("OXM_OF_TCP_FLAGS", "tcp_flags"),
    ("OXM_OF_UDP_SRC", "udp_src"),
    ("OXM_OF_UDP_DST", "udp_dst"),
    ("OXM_OF_ICMPV4_TYPE", "icmp_type"),
    ("OXM_OF_ICMPV4_CODE", "icmp_code"),
    ("OXM_OF_ICMPV6_TYPE", "icmpv6_type"),
    ("OXM_OF_ICMPV6_CODE", "icmpv6_code"),
    ("OXM_OF_IPV6_ND_TARGET", "nd_target"),
    ("OXM_OF_IPV6_ND_SLL", "nd_sll"),
    ("OXM_OF_IPV6_ND_TLL", "nd_tll"),
];

/// A field by any name Open vSwitch accepts in subfield syntax: its
/// names, its NXM header name, or its OpenFlow header name, each also
/// with the `_W` (wildcarded header) suffix.
pub(super) fn subfield_field(name: &str) -> Option<&'static FieldDef> {
    let lookup = |n: &str| {
        field_by_name(n).or_else(|| OXM_NAMES.iter().find(|(o, _)| *o == n).and_then(|(_, f)| field_by_name(f)))
    };
    lookup(name).or_else(|| name.strip_suffix("_W").filter(|n| n.contains("XM_")).and_then(lookup))
}

/// The hash field sets of `bundle` and `multipath` (NX_HASH_FIELDS_*).
pub(super) const HASH_FIELDS: &[(&str, u16)] = &[
    ("eth_src", 0),
    ("symmetric_l4", 1),
    ("symmetric_l3l4", 2),
    ("symmetric_l3l4+udp", 3),
    ("nw_src", 4),
    ("nw_dst", 5),
    ("symmetric_l3", 6),
];

/// `bundle` algorithms (NX_BD_ALG_*).
pub(super) const BUNDLE_ALGORITHMS: &[(&str, u16)] = &[("active_backup", 0), ("hrw", 1)];

/// `multipath` algorithms (NX_MP_ALG_*).
pub(super) const MULTIPATH_ALGORITHMS: &[(&str, u16)] =
    &[("modulo_n", 0), ("hash_threshold", 1), ("hrw", 2), ("iter_hash", 3)];

/// The value of `name` in `table`, ignoring case as Open vSwitch does.
pub(super) fn code_of(table: &[(&str, u16)], name: &str) -> Option<u16> {
    table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, c)| *c)
}

/// The name of `code` in `table`, or `<unknown>` as Open vSwitch prints it.
pub(super) fn name_of(table: &[(&'static str, u16)], code: u16) -> &'static str {
    table.iter().find(|(_, c)| *c == code).map_or("<unknown>", |(n, _)| *n)
}
