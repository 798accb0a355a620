//! Name tables of the flow text, each written once and used both to parse
//! and to print: the `ct_state` and `tcp_flags` flag names.

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

/// The name of one flag bit in `table`.
pub(super) fn flag_name(table: &[(&'static str, u32)], bit: u32) -> Option<&'static str> {
    table.iter().find(|(_, b)| *b == bit).map(|(n, _)| *n)
}
