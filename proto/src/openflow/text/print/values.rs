//! Small formatters shared by matches and actions: numbers, addresses,
//! masks, flag sets, field values (`mf_format`) and subfields.

use crate::openflow::action::Subfield;
use crate::openflow::oxm::{fields, Format, OxmField, OxmId};
use crate::openflow::port::PortNo;
use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::super::names::{flag_name, CT_STATE_FLAGS, TCP_FLAGS};

// ---------------------------------------------------------------------------
// Small formatters shared by matches and actions.

/// C's `%#x`: `0x`-prefixed hex, except that zero is plain `0`.
pub(super) fn cx(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

pub(super) fn hex_bytes(b: &[u8]) -> String {
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

pub(super) fn dotted_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(".")
}

pub(super) fn eth(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
}

pub(super) fn eth_masked(v: &[u8], m: Option<&[u8]>) -> String {
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
pub(super) fn cidr_bits(mask: u128, width: u32) -> Option<u32> {
    let ones = (mask << (128 - width)).leading_ones();
    let full = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
    let expect = if ones == 0 { 0 } else { (full >> (width - ones)) << (width - ones) };
    (expect == mask).then_some(ones)
}

pub(super) fn ipv4_masked(v: u32, m: u32) -> String {
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
pub(super) fn ipv6(a: u128) -> String {
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

pub(super) fn ipv6_masked(v: u128, m: u128) -> String {
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
pub(in crate::openflow::text) fn port(p: PortNo) -> String {
    match p.to_of10() {
        Some(p16) => port16(p16),
        None => p.0.to_string(),
    }
}

/// A 16-bit (OpenFlow 1.0 numbering) port.
pub(in crate::openflow::text) fn port16(p: u16) -> String {
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
        n => super::super::ports::shown(PortNo::from_of10(n)).unwrap_or_else(|| n.to_string()),
    }
}

pub(super) fn ct_state_name(bit: u32) -> Option<&'static str> {
    flag_name(CT_STATE_FLAGS, bit)
}

pub(super) fn tcp_flag_name(bit: u32) -> Option<&'static str> {
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
pub(super) fn flags_plain(names: fn(u32) -> Option<&'static str>, mut flags: u32) -> String {
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
pub(super) fn flags_masked(names: fn(u32) -> Option<&'static str>, flags: u32, mut mask: u32, max: u32) -> String {
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

pub(super) fn u16_masked_pt(v: u16, m: u16) -> String {
    if m == 0 {
        return "*".into();
    }
    let mut s = if v > 9 { format!("{v:#x}") } else { v.to_string() };
    if m != u16::MAX {
        let _ = write!(s, "/{m:#x}");
    }
    s
}

pub(super) fn packet_type_masked(v: u32, m: u32) -> String {
    if v == 0 && m == u32::MAX {
        return "eth".into();
    }
    format!("packet_type=({},{})", u16_masked_pt((v >> 16) as u16, (m >> 16) as u16), u16_masked_pt(v as u16, m as u16))
}

pub(super) fn frag_name(v: u8, m: u8) -> &'static str {
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

/// A field value as `set_field` prints it (Open vSwitch's `mf_format`).
pub(in crate::openflow::text) fn field_value(f: &OxmField) -> String {
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
            packet_type_masked(v as u32, m)
        }
    }
}

/// A field outside [`oxm::FIELDS`](crate::openflow::oxm::FIELDS) that Open
/// vSwitch itself puts in the actions it sends back (for example
/// `move:NXM_OF_IN_PORT[]->…` comes back with the 16-bit NXM in_port).
pub(super) fn extra_field(id: OxmId) -> Option<&'static crate::openflow::oxm::FieldDef> {
    if id.def().is_some() {
        return None;
    }
    id.action_def()
}

/// Name of a field in subfield syntax (`NXM_NX_REG0`).
pub(super) fn subfield_field_name(id: OxmId) -> String {
    match (id.def(), extra_field(id)) {
        (Some(d), _) => d.nxm_name.to_string(),
        (None, Some(e)) => e.nxm_name.to_string(),
        (None, None) => id.name(),
    }
}

/// Width of a field as Open vSwitch counts it for subfields (`vlan_vid`
/// is 12 bits there: the present bit is not part of it).
pub(super) fn subfield_width(id: OxmId) -> Option<u32> {
    if id == fields::VLAN_VID {
        return Some(12);
    }
    id.action_def().map(|d| d.bits)
}

pub(in crate::openflow::text) fn subfield(sf: &Subfield) -> String {
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
#[cfg(test)]
mod tests {
    //! Expected strings are what `ovs-ofctl` 3.1 prints (the oracle tests in
    //! `tests/text_print_oracle.rs` check the same code against it).

    use super::*;

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
