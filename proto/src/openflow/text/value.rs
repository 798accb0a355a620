//! Values of fields as written after `field=` (integers with masks,
//! ports, addresses, flags, packet types, fragment kinds) and subfields
//! (`NAME[A..B]`). Knows nothing of which fields a match or action allows.

use super::super::action::Subfield;
use super::super::oxm::{fields, FieldDef, Format, OxmId, ACTION_ONLY_FIELDS};
use super::super::port::PortNo;
use super::lex::*;
use super::names::*;
use nom::bytes::complete::tag;
use nom::character::complete::char as nchar;
use nom::combinator::{all_consuming, opt};
use nom::sequence::{pair, preceded, tuple};
use nom::IResult;
use std::net::Ipv6Addr;

pub(super) fn is_l4_port_field(id: OxmId) -> bool {
    use fields::*;
    [TCP_SRC, TCP_DST, UDP_SRC, UDP_DST, SCTP_SRC, SCTP_DST].contains(&id)
}

/// Parses an integer field value, optionally `/mask`.
pub(super) fn int_value(d: &FieldDef, s: &str) -> R<(u128, Option<u128>)> {
    let (v, m) = match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    };
    let bits = (d.len * 8) as u32;
    let what = format!(
        "an integer for {} (decimal up to 64 bits, or 0x-hex up to {} bits)",
        d.name,
        if d.id == fields::VLAN_VID { 13 } else { d.bits.min(bits) }
    );
    let value = match field_int_all(v) {
        Some(x) if fits(x, bits) => x,
        _ => return fail(v, what),
    };
    let valid_bits = if d.id == fields::VLAN_VID { 13 } else { d.bits };
    if !fits(value, valid_bits) {
        return fail_found(v, format!("a value of at most {} bits for {}", valid_bits, d.name), v);
    }
    // Values Open vSwitch refuses although they fit the field's bytes.
    if d.name == "nsh_mdtype" && !(1..=2).contains(&value) {
        return fail_found(v, "an NSH MD type (1 or 2)", v);
    }
    if d.name == "nsh_ttl" && value > 63 {
        return fail_found(v, "an NSH TTL (0 to 63)", v);
    }
    let mask = match m {
        None => None,
        Some(m) => {
            let mut mk = match field_int_all(m) {
                Some(x) if fits(x, bits) => x,
                _ => return fail(m, format!("an integer mask for {}", d.name)),
            };
            if !fits(mk, valid_bits) {
                // Open vSwitch refuses unknown TCP flags, and clips other
                // masks to the bits the field has (vlan_vid=…/0xffff).
                if matches!(d.format, Format::TcpFlags | Format::TunFlags) {
                    return fail_found(m, format!("a mask of at most {valid_bits} bits for {}", d.name), m);
                }
                mk &= ones(valid_bits);
            }
            if !d.maskable {
                // Open vSwitch takes an all-ones mask as an exact match.
                if mk != ones(valid_bits) {
                    return fail(at(s, v.len()), format!("no mask ({} cannot be masked)", d.name));
                }
                None
            } else {
                Some(mk)
            }
        }
    };
    Ok((value, mask))
}

pub(super) fn port_value(s: &str) -> R<PortNo> {
    if let Some(p) = PortNo::from_reserved_name(s) {
        return Ok(p);
    }
    match all_consuming(dec_u128)(s).ok().map(|(_, v)| v) {
        Some(v) if v < 0xff00 => Ok(PortNo(v as u32)),
        Some(v) if v <= 0xffff => Ok(PortNo::from_of10(v as u16)),
        Some(v) if (0xffff_ff00..=0xffff_ffff).contains(&v) => Ok(PortNo(v as u32)),
        Some(_) => fail(s, "a port number (below 65280) or a reserved port name (LOCAL, CONTROLLER, IN_PORT, …)"),
        None => match super::ports::resolve(s) {
            Some(p) => Ok(p),
            None if super::ports::resolving() => {
                fail(s, "a port number, a reserved port name (LOCAL, CONTROLLER, IN_PORT, …) or the name of one of the bridge's ports")
            }
            None => fail(s, "a port number (below 65280) or a reserved port name (LOCAL, CONTROLLER, IN_PORT, …)"),
        },
    }
}

/// A flag by name, or unnamed bits as `[HEX]` (how the printer and
/// `ovs-ofctl` write bits without a name).
pub(super) fn flag_bit(table: &[(&str, u32)], name: &str) -> Option<u32> {
    if let Some(hex) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return u32::from_str_radix(hex, 16).ok().filter(|b| *b != 0);
    }
    table.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// `+flag-flag…` syntax: returns (value, mask).
pub(super) fn flag_value(s: &str, table: &[(&str, u32)], what: &str) -> R<(u32, u32)> {
    let mut v = 0u32;
    let mut m = 0u32;
    let mut i = 0;
    let b = s.as_bytes();
    if s.is_empty() {
        return fail_found(s, format!("{what} flags like +flag-flag"), "nothing");
    }
    while i < b.len() {
        let sign = b[i];
        if sign != b'+' && sign != b'-' {
            return fail(at(s, i), format!("`+` or `-` before a {what} flag"));
        }
        let name_start = i + 1;
        let mut j = name_start;
        while j < b.len() && b[j] != b'+' && b[j] != b'-' {
            j += 1;
        }
        let name = &s[name_start..j];
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        let bit = match flag_bit(table, name) {
            Some(bit) => bit,
            None => {
                return fail_found(
                    at(s, name_start),
                    format!("a {what} flag ({}, or [HEX] for unnamed bits)", names.join(", ")),
                    name,
                )
            }
        };
        if m & bit != 0 {
            return fail_found(at(s, name_start), format!("each {what} flag at most once"), name);
        }
        m |= bit;
        if sign == b'+' {
            v |= bit;
        }
        i = j;
    }
    Ok((v, m))
}

/// Value (and mask) bytes of a field as written after `field=`.
pub(super) fn field_value(d: &FieldDef, s: &str) -> R<(Vec<u8>, Option<Vec<u8>>)> {
    let len = d.len;
    if d.variable_len() {
        return var_value(d, s);
    }
    match d.format {
        Format::Decimal | Format::Hex => {
            let (v, m) = int_value(d, s)?;
            Ok((be(v, len), m.map(|m| be(m, len))))
        }
        Format::Port => {
            let p = port_value(s)?;
            Ok((be(p.0 as u128, len), None))
        }
        Format::Ipv4 => ipv4_value(d, s),
        Format::Ipv6 => ipv6_value(s),
        Format::Ethernet => eth_value(s),
        Format::CtState | Format::TcpFlags | Format::TunFlags => flags_field_value(d, s),
        Format::PacketType => packet_type_value(s),
        Format::Frag => {
            let (v, m) = match s {
                "no" => (0u8, 1u8),
                "yes" => (1, 1),
                "first" => (1, 3),
                "later" => (3, 3),
                "not_later" => (0, 2),
                // Only the names, as Open vSwitch: numbers can say
                // "later but not a fragment", which means nothing.
                _ => return fail(s, "no, yes, first, later or not_later"),
            };
            Ok((vec![v], Some(vec![m])))
        }
    }
}

fn ipv4_value(d: &FieldDef, s: &str) -> R<(Vec<u8>, Option<Vec<u8>>)> {
    let (rest, a) = match ipv4(s) {
        Ok(x) => x,
        Err(_) => return fail(s, "an IPv4 address"),
    };
    let mask = if rest.is_empty() {
        None
    } else if let Some(m) = rest.strip_prefix('/') {
        if let Ok(("", ma)) = ipv4(m) {
            Some(ma.octets().to_vec())
        } else {
            match m.parse::<u32>() {
                Ok(n) if n <= 32 => Some(be(ones(n) << (32 - n), 4)),
                _ => return fail(m, "a prefix length (0 to 32) or an IPv4 netmask"),
            }
        }
    } else {
        return fail(rest, "`/` or the end of the IPv4 address");
    };
    if mask.is_some() && !d.maskable {
        return fail(rest, format!("no mask ({} cannot be masked)", d.name));
    }
    Ok((a.octets().to_vec(), mask))
}

fn ipv6_value(s: &str) -> R<(Vec<u8>, Option<Vec<u8>>)> {
    let (a, m) = match s.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (s, None),
    };
    let addr = match a.parse::<Ipv6Addr>() {
        Ok(x) => x,
        Err(_) => return fail(a, "an IPv6 address"),
    };
    let mask = match m {
        None => None,
        Some(m) => {
            if let Ok(ma) = m.parse::<Ipv6Addr>() {
                Some(ma.octets().to_vec())
            } else {
                match m.parse::<u32>() {
                    Ok(n) if n <= 128 => Some(be(if n == 0 { 0 } else { u128::MAX << (128 - n) }, 16)),
                    _ => return fail(m, "a prefix length (0 to 128) or an IPv6 mask"),
                }
            }
        }
    };
    Ok((addr.octets().to_vec(), mask))
}

fn eth_value(s: &str) -> R<(Vec<u8>, Option<Vec<u8>>)> {
    let (rest, a) = match mac(s) {
        Ok(x) => x,
        Err(_) => return fail(s, "an Ethernet address (xx:xx:xx:xx:xx:xx)"),
    };
    let mask = if rest.is_empty() {
        None
    } else if let Some(m) = rest.strip_prefix('/') {
        match mac(m) {
            Ok(("", ma)) => Some(ma.to_vec()),
            _ => return fail(m, "an Ethernet mask (xx:xx:xx:xx:xx:xx)"),
        }
    } else {
        return fail(rest, "`/` or the end of the Ethernet address");
    };
    Ok((a.to_vec(), mask))
}

/// A variable-length (`tun_metadata`) value, `/mask` optional, each as
/// `d.len` big-endian bytes: 0x-hex of up to that many bytes, or decimal.
pub(super) fn var_value(d: &FieldDef, s: &str) -> R<(Vec<u8>, Option<Vec<u8>>)> {
    let bytes = |t: &str| -> R<Vec<u8>> {
        let mut out = vec![0u8; d.len];
        if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            let digits = h.as_bytes();
            if digits.is_empty() || digits.len() > d.len * 2 || !digits.iter().all(u8::is_ascii_hexdigit) {
                return fail(t, format!("a hexadecimal value of at most {} bytes for {}", d.len, d.name));
            }
            for (i, c) in digits.iter().rev().enumerate() {
                let nibble = (*c as char).to_digit(16).unwrap_or(0) as u8;
                out[d.len - 1 - i / 2] |= nibble << (4 * (i % 2));
            }
        } else {
            // Decimal as Open vSwitch reads it: at most 64 bits.
            let Some(v) = t.parse::<u64>().ok().filter(|_| t.bytes().all(|b| b.is_ascii_digit())) else {
                return fail(t, format!("an integer for {} (decimal up to 64 bits, or 0x-hex of up to {} bytes)", d.name, d.len));
            };
            out[d.len - 8..].copy_from_slice(&v.to_be_bytes());
        }
        Ok(out)
    };
    match s.split_once('/') {
        Some((v, m)) => Ok((bytes(v)?, Some(bytes(m)?))),
        None => Ok((bytes(s)?, None)),
    }
}

/// The bytes Open vSwitch sends for a variable-length value: as few as
/// value and mask need (its `mf_field_len`), at least one; a mask of all
/// ones over the whole field is no mask. In a match (`exact_if_full`) a
/// mask of all ones over the bytes sent is none either: the switch reads
/// it as exact.
/// Bytes of a big-endian value after its leading zero bytes.
pub(crate) fn significant_len(b: &[u8]) -> usize {
    b.len() - b.iter().take_while(|&&x| x == 0).count()
}

pub(crate) fn var_shortest(v: &[u8], m: Option<&[u8]>, exact_if_full: bool) -> (Vec<u8>, Option<Vec<u8>>) {
    let sig = significant_len;
    let m = m.filter(|m| !m.iter().all(|&x| x == 0xff));
    let len = sig(v).max(m.map_or(0, sig)).max(1).min(v.len());
    let mask = m.map(|m| m[m.len() - len..].to_vec()).filter(|m| !(exact_if_full && m.iter().all(|&x| x == 0xff)));
    (v[v.len() - len..].to_vec(), mask)
}

fn flags_field_value(d: &FieldDef, s: &str) -> R<(Vec<u8>, Option<Vec<u8>>)> {
    let len = d.len;
    let (table, what, full): (&[(&str, u32)], &str, u32) = match d.format {
        Format::CtState => (CT_STATE_FLAGS, "ct_state", 0xffff_ffff),
        Format::TunFlags => (TUN_FLAGS, "tun_flags", 0x1),
        _ => (TCP_FLAGS, "tcp_flags", 0x0fff),
    };
    if s.starts_with('+') || s.starts_with('-') {
        let (v, m) = flag_value(s, table, what)?;
        if m & !full != 0 {
            return fail(s, format!("{what} flags the field has"));
        }
        let mask = if m == full { None } else { Some(be(m as u128, len)) };
        Ok((be(v as u128, len), mask))
    } else if s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '[') {
        // `flag|flag`: exactly these flags set, every other one clear
        // (what the printer writes for an exact match). Open vSwitch
        // keeps ct_state in 8 bits, so its exact mask is 0xff.
        let mut v = 0u32;
        for (k, name) in s.split('|').enumerate() {
            let off = s.split('|').take(k).map(|p| p.len() + 1).sum::<usize>();
            match flag_bit(table, name) {
                Some(bit) => v |= bit,
                None => {
                    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                    return fail_found(
                        at(s, off),
                        format!("a {what} flag ({}, or [HEX] for unnamed bits)", names.join(", ")),
                        name,
                    );
                }
            }
        }
        if v & !full != 0 {
            return fail(s, format!("{what} flags the field has"));
        }
        let mask = if d.format == Format::CtState { Some(be(0xff, len)) } else { None };
        Ok((be(v as u128, len), mask))
    } else {
        let (v, m) = int_value(d, s)?;
        Ok((be(v, len), m.map(|m| be(m, len))))
    }
}

fn packet_type_value(s: &str) -> R<(Vec<u8>, Option<Vec<u8>>)> {
    let p: IResult<&str, (u128, u128)> = all_consuming(tuple((
        nchar('('),
        nom::character::complete::space0,
        uint,
        nom::character::complete::space0,
        nchar(','),
        nom::character::complete::space0,
        uint,
        nom::character::complete::space0,
        nchar(')'),
    )))(s)
    .map(|(r, t)| (r, (t.2, t.6)));
    match p {
        Ok((_, (ns, ty))) if ns <= 0xffff && ty <= 0xffff => Ok((be((ns << 16) | ty, 4), None)),
        _ => fail(s, "a packet type (NAMESPACE,TYPE), such as (0,0x800)"),
    }
}

/// `xxreg0`..`xxreg3` (or their NXM names): Open vSwitch's 128-bit
/// registers, four 32-bit registers each. They are no match field of
/// podflow's (a match on one is four `reg` matches, as Open vSwitch stores
/// it), but subfields and `set_field` name them.
pub(super) fn xxreg(name: &str) -> Option<&'static FieldDef> {
    let n = name.strip_prefix("xxreg").or_else(|| name.strip_prefix("NXM_NX_XXREG"))?;
    let n: u8 = match n {
        "0" | "1" | "2" | "3" => n.parse().ok()?,
        _ => return None,
    };
    OxmId::new(crate::openflow::oxm::class::NXM_1, 111 + n).action_def()
}

/// A field actions read and write but no match of podflow's names
/// (`nw_tos`, `dp_hash`, …), by its name or NXM name. xxreg4-7 are no
/// fields of Open vSwitch's: only [`xxreg`] names xxregs.
pub(super) fn action_only_field(name: &str) -> Option<&'static FieldDef> {
    ACTION_ONLY_FIELDS.iter().find(|d| (d.name == name || d.nxm_name == name) && !d.name.starts_with("xxreg"))
}

/// A subfield an action carries as `ofs_nbits` (output to a field,
/// `multipath`, `bundle_load`): at most 64 bits, the count being 6 bits
/// wide. (Open vSwitch accepts wider ones and sends a different range.)
pub(super) fn ofs_nbits_subfield(s: &str) -> R<Subfield> {
    let sf = subfield(s)?;
    if sf.n_bits > 64 {
        return fail_found(s, "a subfield of at most 64 bits here", format!("{s} ({} bits)", sf.n_bits));
    }
    Ok(sf)
}

/// Parses `NAME[]`, `NAME[N]` or `NAME[A..B]`.
pub(super) fn subfield(s: &str) -> R<Subfield> {
    let Some(lb) = s.find('[') else {
        // A bare field name means the whole field.
        let Some(d) = subfield_field(s) else {
            return fail(s, "a subfield such as NXM_NX_REG0[], reg0[0..15] or reg0");
        };
        // `in_port_oxm`/`OXM_OF_IN_PORT` name the 32-bit in_port.
        let width = if d.id == fields::IN_PORT && s != "in_port" { 32 } else { subfield_width(d) };
        return Ok(Subfield { field: d.id, ofs: 0, n_bits: width as u16 });
    };
    let name = &s[..lb];
    // The 16-bit NXM_OF_IN_PORT is no match field of OpenFlow 1.5, but
    // actions read and write it: it is Open vSwitch's `in_port` in
    // subfields, and `in_port_oxm`/`OXM_OF_IN_PORT` its 32-bit one.
    let nxm_in_port = || matches!(name, "NXM_OF_IN_PORT" | "in_port").then(|| OxmId::new(0, 0).action_def()).flatten();
    let Some(d) = nxm_in_port().or_else(|| subfield_field(name)).or_else(|| action_only_field(name)).or_else(|| xxreg(name))
    else {
        return fail_found(s, "a field name", name);
    };
    let inner = &s[lb + 1..];
    let width = if d.id == fields::IN_PORT { 32 } else { subfield_width(d) };
    type Range = Option<(u128, Option<u128>)>;
    let range: IResult<&str, (Range, char)> =
        pair(opt(pair(dec_u128, opt(preceded(tag(".."), dec_u128)))), nchar(']'))(inner);
    let (rest, (r, _)) = match range {
        Ok(x) => x,
        Err(_) => return fail(inner, "`]`, `N]` or `A..B]` after `["),
    };
    if !rest.is_empty() {
        return fail(rest, "the end of the subfield after `]`");
    }
    let (ofs, n_bits) = match r {
        None => (0u128, width as u128),
        Some((a, None)) => (a, 1),
        Some((a, Some(b))) => {
            if b < a {
                return fail(inner, "a bit range A..B with A <= B");
            }
            (a, b - a + 1)
        }
    };
    if ofs + n_bits > width as u128 {
        return fail(inner, format!("bits within {} ({} bits wide)", d.name, width));
    }
    Ok(Subfield { field: d.id, ofs: ofs as u16, n_bits: n_bits as u16 })
}

pub(super) fn subfield_width(d: &FieldDef) -> u32 {
    if d.id == fields::IN_PORT {
        16
    } else if d.id == fields::VLAN_VID {
        12
    } else if matches!(d.format, Format::Decimal | Format::Hex | Format::TunFlags) && d.id != fields::IN_PORT {
        d.bits
    } else {
        (d.len * 8) as u32
    }
}
