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
//! an error (OVS wraps them); `output:SUBFIELD` is refused; `apply_actions(…)`
//! is accepted as the plain action list (OVS refuses it); spec and NXM field
//! names from `oxm::FIELDS` (`ipv4_src`, `NXM_NX_REG0`, …) are accepted in
//! matches; `move` to or from `in_port` is refused.

use super::super::action::{
    ct_flags, nat_flags, Action, Controller, Ct, CtZone, Nat, NatAddrRange, Subfield, CONTROLLER_MAX_LEN_NO_BUFFER,
    RESUBMIT_IN_PORT,
};
use super::super::flow::{flags, FlowMod, FlowModCommand, TABLE_ALL};
use super::super::instruction::Instruction;
use super::super::oxm::{field_by_name, fields, FieldDef, Format, Match, OxmField, OxmId, OFPVID_PRESENT};
use super::super::port::PortNo;
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_while1, take_while_m_n};
use nom::character::complete::{char as nchar, digit1, hex_digit1};
use nom::combinator::{all_consuming, map_res, opt, recognize};
use nom::sequence::{pair, preceded, separated_pair, tuple};
use nom::IResult;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

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

/// Internal error: `at` is the address of the offending byte in the input.
#[derive(Debug)]
struct E {
    at: usize,
    expected: String,
    found: String,
}

type R<T> = Result<T, E>;

fn addr(s: &str) -> usize {
    s.as_ptr() as usize
}

/// Fails at `at`, reporting the text there as what was found.
fn fail<T>(at: &str, expected: impl Into<String>) -> R<T> {
    Err(E { at: addr(at), expected: expected.into(), found: shorten(at) })
}

fn fail_found<T>(at: &str, expected: impl Into<String>, found: impl Into<String>) -> R<T> {
    Err(E { at: addr(at), expected: expected.into(), found: found.into() })
}

fn shorten(s: &str) -> String {
    let t = s.trim_end();
    if t.chars().count() > 40 {
        let mut x: String = t.chars().take(40).collect();
        x.push('…');
        x
    } else {
        t.to_string()
    }
}

fn to_public(base: &str, line: Option<usize>, e: E) -> ParseError {
    let column = match e.at.checked_sub(addr(base)) {
        Some(off) if off <= base.len() => off + 1,
        _ => 1,
    };
    ParseError { line, column, expected: e.expected, found: e.found }
}

/// Sub-slice of `s` starting at byte `i` (for error positions).
fn at(s: &str, i: usize) -> &str {
    &s[i.min(s.len())..]
}

/* ------------------------------------------------------------------ */
/* Key/value lexer (the `ovs-ofctl` rules for `key=value`, `key:value`, */
/* `key(value)` separated by commas or white space).                    */
/* ------------------------------------------------------------------ */

#[derive(Debug, Clone, Copy)]
struct Kv<'a> {
    key: &'a str,
    value: &'a str,
    /// `:`, `=`, `(`, or None for a bare key.
    delim: Option<char>,
}

const SEP: &[char] = &[',', ' ', '\t', '\r', '\n'];

/// Length of a value up to one of `delims`, skipping balanced parentheses.
fn value_len(s: &str, delims: &[char]) -> usize {
    let b = s.as_bytes();
    let mut n = 0;
    while n < b.len() && !delims.contains(&(b[n] as char)) {
        if b[n] == b'(' {
            let mut level = 0;
            loop {
                if n >= b.len() {
                    return n;
                }
                match b[n] {
                    b'(' => level += 1,
                    b')' => level -= 1,
                    _ => {}
                }
                n += 1;
                if level == 0 {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

fn next_kv<'a>(s: &mut &'a str) -> R<Option<Kv<'a>>> {
    let rest = s.trim_start_matches(SEP);
    if rest.is_empty() {
        *s = rest;
        return Ok(None);
    }
    let key_len = rest.find([':', '=', '(', ',', ' ', '\t', '\r', '\n']).unwrap_or(rest.len());
    let key = &rest[..key_len];
    let delim = rest[key_len..].chars().next();
    let after = if delim.is_some() { &rest[key_len + 1..] } else { &rest[key_len..] };
    let delims: &[char] = match delim {
        Some(':') | Some('=') => SEP,
        Some('(') => &[')'],
        _ => {
            *s = after;
            return Ok(Some(Kv { key, value: &rest[key_len..key_len], delim: None }));
        }
    };
    if key.is_empty() {
        return fail(rest, "a keyword");
    }
    let mut vlen = value_len(after, delims);
    if delim == Some('(') {
        if vlen >= after.len() {
            return fail_found(at(after, after.len()), "`)`", "end of input");
        }
        if after[vlen..].starts_with(")->") {
            vlen += value_len(&after[vlen..], SEP);
            let value = &after[..vlen];
            *s = if vlen < after.len() { &after[vlen + 1..] } else { &after[vlen..] };
            return Ok(Some(Kv { key, value, delim }));
        }
    }
    let value = &after[..vlen];
    *s = if vlen < after.len() { &after[vlen + 1..] } else { &after[vlen..] };
    Ok(Some(Kv { key, value, delim }))
}

fn kvs(mut s: &str) -> R<Vec<Kv<'_>>> {
    let mut v = Vec::new();
    while let Some(kv) = next_kv(&mut s)? {
        v.push(kv);
    }
    Ok(v)
}

/* ------------------------------------------------------------------ */
/* Lexical primitives (nom).                                            */
/* ------------------------------------------------------------------ */

fn hex_u128(s: &str) -> IResult<&str, u128> {
    map_res(preceded(tag_no_case("0x"), hex_digit1), |h: &str| {
        if h.len() > 32 {
            // Allow leading zeros beyond 128 bits.
            let t = h.trim_start_matches('0');
            if t.len() > 32 {
                return Err(());
            }
            return u128::from_str_radix(if t.is_empty() { "0" } else { t }, 16).map_err(|_| ());
        }
        u128::from_str_radix(h, 16).map_err(|_| ())
    })(s)
}

fn dec_u128(s: &str) -> IResult<&str, u128> {
    map_res(digit1, |d: &str| d.parse::<u128>())(s)
}

/// Decimal as Open vSwitch reads it for field values: at most 64 bits.
fn dec_u64(s: &str) -> IResult<&str, u128> {
    map_res(digit1, |d: &str| d.parse::<u64>().map(u128::from))(s)
}

/// A field value: `0x` hex of any width, or decimal up to 64 bits.
fn field_int_all(s: &str) -> Option<u128> {
    all_consuming(alt((hex_u128, dec_u64)))(s).ok().map(|(_, v)| v)
}

/// Decimal or `0x` hexadecimal.
fn uint(s: &str) -> IResult<&str, u128> {
    alt((hex_u128, dec_u128))(s)
}

/// An entire string as an unsigned integer (decimal or 0x-hex).
fn int_all(s: &str) -> Option<u128> {
    all_consuming(uint)(s).ok().map(|(_, v)| v)
}

/// Like C `strtoull(s, 0)`: hex with 0x, octal with a leading 0, else decimal.
fn int_base0(s: &str) -> Option<u128> {
    if s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u128::from_str_radix(&s[1..], 8).ok();
    }
    int_all(s)
}

fn num<T: TryFrom<u128>>(s: &str, what: &str) -> R<T> {
    match int_base0(s) {
        Some(v) => T::try_from(v).map_err(|_| E {
            at: addr(s),
            expected: format!("{what} no larger than {}", max_of::<T>()),
            found: shorten(s),
        }),
        None => fail(s, what.to_string()),
    }
}

fn max_of<T: TryFrom<u128>>() -> u128 {
    // Smallest power of two that does not fit, minus one.
    let mut bits = 1u32;
    while bits < 128 && T::try_from(1u128 << bits).is_ok() {
        bits += 1;
    }
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn mac(s: &str) -> IResult<&str, [u8; 6]> {
    let byte = |i| map_res(take_while_m_n(1, 2, |c: char| c.is_ascii_hexdigit()), |h| u8::from_str_radix(h, 16))(i);
    let (s, (a, _, b, _, c, _, d, _, e, _, f)) = tuple((
        byte,
        nchar(':'),
        byte,
        nchar(':'),
        byte,
        nchar(':'),
        byte,
        nchar(':'),
        byte,
        nchar(':'),
        byte,
    ))(s)?;
    Ok((s, [a, b, c, d, e, f]))
}

fn ipv4(s: &str) -> IResult<&str, Ipv4Addr> {
    map_res(
        recognize(tuple((digit1, nchar('.'), digit1, nchar('.'), digit1, nchar('.'), digit1))),
        |t: &str| t.parse::<Ipv4Addr>(),
    )(s)
}

fn ipv6(s: &str) -> IResult<&str, Ipv6Addr> {
    map_res(take_while1(|c: char| c.is_ascii_hexdigit() || c == ':' || c == '.'), |t: &str| t.parse::<Ipv6Addr>())(s)
}

/// Hex bytes as `ovs-ofctl` writes them: pairs of digits, optionally
/// separated by `.` (as in `note:01.02.03`).
fn hex_bytes(s: &str) -> R<Vec<u8>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' || b[i] == b' ' {
            i += 1;
            continue;
        }
        if i + 1 < b.len() && b[i].is_ascii_hexdigit() && b[i + 1].is_ascii_hexdigit() {
            out.push(u8::from_str_radix(&s[i..i + 2], 16).unwrap_or(0));
            i += 2;
        } else {
            return fail(at(s, i), "pairs of hex digits (like 01.02.ff)");
        }
    }
    Ok(out)
}

/* ------------------------------------------------------------------ */
/* Field values.                                                        */
/* ------------------------------------------------------------------ */

fn be(v: u128, len: usize) -> Vec<u8> {
    v.to_be_bytes()[16 - len..].to_vec()
}

fn fits(v: u128, bits: u32) -> bool {
    bits >= 128 || v >> bits == 0
}

fn ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

fn is_l4_port_field(id: OxmId) -> bool {
    use fields::*;
    [TCP_SRC, TCP_DST, UDP_SRC, UDP_DST, SCTP_SRC, SCTP_DST].contains(&id)
}

/// Parses an integer field value, optionally `/mask`.
fn int_value(d: &FieldDef, s: &str) -> R<(u128, Option<u128>)> {
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
                if d.format == Format::TcpFlags {
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

fn port_value(s: &str) -> R<PortNo> {
    if let Some(p) = PortNo::from_reserved_name(s) {
        return Ok(p);
    }
    match all_consuming(dec_u128)(s).ok().map(|(_, v)| v) {
        Some(v) if v < 0xff00 => Ok(PortNo(v as u32)),
        Some(v) if v <= 0xffff => Ok(PortNo::from_of10(v as u16)),
        Some(v) if (0xffff_ff00..=0xffff_ffff).contains(&v) => Ok(PortNo(v as u32)),
        _ => fail(s, "a port number (below 65280) or a reserved port name (LOCAL, CONTROLLER, IN_PORT, …)"),
    }
}

const CT_STATE_FLAGS: &[(&str, u32)] = &[
    ("new", 0x01),
    ("est", 0x02),
    ("rel", 0x04),
    ("rpl", 0x08),
    ("inv", 0x10),
    ("trk", 0x20),
    ("snat", 0x40),
    ("dnat", 0x80),
];

const TCP_FLAGS: &[(&str, u32)] = &[
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

/// A flag by name, or unnamed bits as `[HEX]` (how the printer and
/// `ovs-ofctl` write bits without a name).
fn flag_bit(table: &[(&str, u32)], name: &str) -> Option<u32> {
    if let Some(hex) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return u32::from_str_radix(hex, 16).ok().filter(|b| *b != 0);
    }
    table.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// `+flag-flag…` syntax: returns (value, mask).
fn flag_value(s: &str, table: &[(&str, u32)], what: &str) -> R<(u32, u32)> {
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
            None => return fail_found(at(s, name_start), format!("a {what} flag ({}, or [HEX] for unnamed bits)", names.join(", ")), name),
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
fn field_value(d: &FieldDef, s: &str) -> R<(Vec<u8>, Option<Vec<u8>>)> {
    let len = d.len;
    match d.format {
        Format::Decimal | Format::Hex => {
            let (v, m) = int_value(d, s)?;
            Ok((be(v, len), m.map(|m| be(m, len))))
        }
        Format::Port => {
            let p = port_value(s)?;
            Ok((be(p.0 as u128, len), None))
        }
        Format::Ipv4 => {
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
        Format::Ipv6 => {
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
        Format::Ethernet => {
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
        Format::CtState | Format::TcpFlags => {
            let (table, what): (&[(&str, u32)], &str) =
                if d.format == Format::CtState { (CT_STATE_FLAGS, "ct_state") } else { (TCP_FLAGS, "tcp_flags") };
            let full = if d.format == Format::CtState { 0xffff_ffffu32 } else { 0x0fff };
            if s.starts_with('+') || s.starts_with('-') {
                let (v, m) = flag_value(s, table, what)?;
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
                            return fail_found(at(s, off), format!("a {what} flag ({}, or [HEX] for unnamed bits)", names.join(", ")), name);
                        }
                    }
                }
                let mask = if d.format == Format::CtState { Some(be(0xff, len)) } else { None };
                Ok((be(v as u128, len), mask))
            } else {
                let (v, m) = int_value(d, s)?;
                Ok((be(v, len), m.map(|m| be(m, len))))
            }
        }
        Format::PacketType => {
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

/* ------------------------------------------------------------------ */
/* Match.                                                               */
/* ------------------------------------------------------------------ */

/// Match under construction, with OVS's 802.1Q TCI kept apart so that
/// `dl_vlan`, `dl_vlan_pcp`, `vlan_tci`, `vlan_vid` and `vlan_pcp` combine
/// as they do in Open vSwitch.
#[derive(Default)]
struct MatchBuilder<'a> {
    m: Match,
    /// (value, mask) of the OVS TCI: VID in bits 0-11, CFI/present 0x1000, PCP in 13-15.
    tci: Option<(u16, u16)>,
    /// Text of the last setting of each field, for error positions.
    origin: Vec<(OxmId, &'a str)>,
    tci_origin: Option<&'a str>,
}

impl<'a> MatchBuilder<'a> {
    fn put(&mut self, id: OxmId, value: Vec<u8>, mask: Option<Vec<u8>>, origin: &'a str) {
        // reg<2k> and reg<2k+1> are the high and low halves of xreg<k>: one
        // storage, as in Open vSwitch (which sends them as xregs in OpenFlow
        // 1.5). Fold them together so the later setting wins on the bits it
        // covers, instead of sending two fields the switch calls duplicates.
        if id.class == super::super::oxm::class::NXM_1 && id.field < 16 && id.experimenter.is_none() && value.len() == 4 {
            let shift = if id.field.is_multiple_of(2) { 32 } else { 0 };
            let v = u32::from_be_bytes([value[0], value[1], value[2], value[3]]) as u64;
            let m = mask.as_ref().map_or(u32::MAX as u64, |m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as u64);
            return self.put_xreg(id.field / 2, v << shift, m << shift, (u32::MAX as u64) << shift, origin);
        }
        if id.class == super::super::oxm::class::PACKET_REGS && id.field < 8 && id.experimenter.is_none() && value.len() == 8 {
            let v = u64::from_be_bytes(value[..8].try_into().expect("8 bytes"));
            let m = mask.as_ref().map_or(u64::MAX, |m| u64::from_be_bytes(m[..8].try_into().expect("8 bytes")));
            return self.put_xreg(id.field, v, m, u64::MAX, origin);
        }
        self.put_raw(id, value, mask, origin)
    }

    /// Replaces the `region` of xreg `k` (all of it for `xregK=`, one half
    /// for `regN=`) with `value`/`mask`, keeping the rest.
    fn put_xreg(&mut self, k: u8, value: u64, mask: u64, region: u64, origin: &'a str) {
        let id = fields::xreg(k);
        let (ov, om) = match self.m.get(id) {
            Some(f) => (f.value_u128() as u64, f.mask_u128().map_or(u64::MAX, |m| m as u64)),
            None => (0, 0),
        };
        let v = (ov & !region) | (value & mask);
        let m = (om & !region) | mask;
        self.put_raw(id, v.to_be_bytes().to_vec(), Some(m.to_be_bytes().to_vec()), origin)
    }

    fn put_raw(&mut self, id: OxmId, value: Vec<u8>, mask: Option<Vec<u8>>, origin: &'a str) {
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
        self.m.set(OxmField { id, value, mask });
        self.origin.retain(|(i, _)| *i != id);
        self.origin.push((id, origin));
    }

    /// Sets the TCI bits in `mask` to `value`, keeping the bits (value and
    /// mask) in `keep` and dropping the rest, as the matching OVS setter does.
    fn set_tci(&mut self, value: u16, mask: u16, keep: u16, origin: &'a str) {
        let (v, m) = self.tci.unwrap_or((0, 0));
        self.tci = Some(((v & keep & !mask) | (value & mask), (m & keep) | mask));
        self.tci_origin = Some(origin);
    }

    fn exact(&self, id: OxmId) -> Option<u128> {
        self.m.exact(id)
    }

    fn remap(&mut self, from: OxmId, to: OxmId) {
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
    fn finish(mut self) -> R<Match> {
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
const PROTOCOLS: &[(&str, u16, Option<u8>)] = &[
    ("ip", 0x0800, None),
    ("ipv4", 0x0800, None),
    ("ipv6", 0x86dd, None),
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

/// Parses `NAME[]`, `NAME[N]` or `NAME[A..B]`.
fn subfield(s: &str) -> R<Subfield> {
    let Some(lb) = s.find('[') else {
        // A bare field name means the whole field.
        let Some(d) = field_by_name(s) else {
            return fail(s, "a subfield such as NXM_NX_REG0[], reg0[0..15] or reg0");
        };
        return Ok(Subfield { field: d.id, ofs: 0, n_bits: subfield_width(d) as u16 });
    };
    let name = &s[..lb];
    let Some(d) = field_by_name(name) else {
        if name == "NXM_OF_IN_PORT" {
            return fail_found(s, "a subfield of another field (the 16-bit NXM_OF_IN_PORT is not supported)", name);
        }
        return fail_found(s, "a field name", name);
    };
    let inner = &s[lb + 1..];
    let width = subfield_width(d);
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

fn subfield_width(d: &FieldDef) -> u32 {
    if d.id == fields::IN_PORT {
        16
    } else if d.id == fields::VLAN_VID {
        12
    } else if matches!(d.format, Format::Decimal | Format::Hex) && d.id != fields::IN_PORT {
        d.bits
    } else {
        (d.len * 8) as u32
    }
}

/// `NXM_OF_IP_TOS`, which Open vSwitch uses for `set_field:…->nw_tos`.
const NXM_OF_IP_TOS: OxmId = OxmId::new(0, 5);

/// Order in which Open vSwitch's decoder needs fields: a field's
/// prerequisites must come before it.
fn rank(id: OxmId) -> u8 {
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
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Add,
    Criteria,
}

/// Parses the match part; returns the match and the table if one was given.
fn parse_match(text: &str, fm: &mut FlowMod, mode: Mode) -> R<(Match, Option<u8>)> {
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
                if mode == Mode::Add =>
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
        // OVS-only spellings that are not OpenFlow 1.5 fields.
        match key {
            "nw_tos" => {
                // Open vSwitch ignores the ECN bits of a TOS match.
                let tos = match int_all(value) {
                    Some(v) if v <= 255 => v as u8 & 0xfc,
                    _ => return fail(value, "an IP TOS value (0 to 255)"),
                };
                mb.put(fields::IP_DSCP, vec![tos >> 2], None, key);
                continue;
            }
            "dl_vlan" => {
                match int_all(value) {
                    Some(0xffff) => mb.set_tci(0, 0xffff, 0, key),
                    Some(v) if v <= 0xfff => mb.set_tci(v as u16 | 0x1000, 0x1fff, 0xffff, key),
                    _ => return fail(value, "a VLAN id (0 to 4095, or 0xffff for no VLAN)"),
                }
                continue;
            }
            "dl_vlan_pcp" | "vlan_pcp" => {
                match int_all(value) {
                    Some(v) if v <= 7 => mb.set_tci(((v as u16) << 13) | 0x1000, 0xf000, 0xffff, key),
                    _ => return fail(value, "a VLAN priority (0 to 7)"),
                }
                continue;
            }
            "vlan_tci" => {
                let d = field_by_name("vlan_tci").expect("vlan_tci is a known field");
                let (v, m) = int_value(d, value)?;
                mb.set_tci(v as u16, m.map_or(0xffff, |m| m as u16), 0, key);
                continue;
            }
            "vlan_vid" => {
                let d = field_by_name("vlan_vid").expect("vlan_vid is a known field");
                let (v, m) = int_value(d, value)?;
                // Only the VID and the present bit (OVS's CFI) count.
                let m = m.map_or(0x1fff, |m| m as u16 & 0x1fff);
                mb.set_tci(v as u16 & 0x1fff, m, 0xe000, key);
                continue;
            }
            _ => {}
        }
        if let Some(d) = field_by_name(key) {
            if !has_value || value.is_empty() {
                return fail_found(at(key, key.len()), format!("a value for {key} (like {key}=VALUE)"), "nothing");
            }
            // `tp_src` etc. land on tcp_src; finish() moves them to udp/sctp.
            let (v, m) = field_value(d, value)?;
            mb.put(d.id, v, m, key);
            continue;
        }
        if key.contains('[') {
            let sf = subfield(key)?;
            let d = sf.field.def().expect("subfield of a known field");
            let v = match int_all(value) {
                Some(v) if fits(v, sf.n_bits as u32) => v,
                _ => return fail(value, format!("an integer of at most {} bits", sf.n_bits)),
            };
            let bits = (d.len * 8) as u32;
            let mask = ones(sf.n_bits as u32) << sf.ofs;
            let (ov, om) = mb
                .m
                .get(sf.field)
                .map(|f| (f.value_u128(), f.mask_u128().unwrap_or(ones(bits))))
                .unwrap_or((0, 0));
            let nv = (ov & !mask) | (v << sf.ofs);
            let nm = om | mask;
            mb.put(sf.field, be(nv, d.len), Some(be(nm, d.len)), key);
            continue;
        }
        if !has_value || value.is_empty() {
            return fail_found(key, "a match field, protocol or flow keyword", key);
        }
        match key {
            "table" => {
                fm.table_id = num::<u8>(value, "a table number (0 to 254, or 255 for all)")?;
                table = Some(fm.table_id);
            }
            "out_port" if mode == Mode::Criteria => fm.out_port = port_value(value)?,
            "out_group" if mode == Mode::Criteria => {
                fm.out_group = if value.eq_ignore_ascii_case("any") || value.eq_ignore_ascii_case("all") {
                    0xffff_ffff
                } else {
                    num::<u32>(value, "a group number")?
                }
            }
            "priority" if mode == Mode::Add => fm.priority = num(value, "a priority (0 to 65535)")?,
            "idle_timeout" if mode == Mode::Add => fm.idle_timeout = num(value, "an idle timeout (0 to 65535)")?,
            "hard_timeout" if mode == Mode::Add => fm.hard_timeout = num(value, "a hard timeout (0 to 65535)")?,
            "importance" if mode == Mode::Add => fm.importance = num(value, "an importance (0 to 65535)")?,
            "cookie" => match value.split_once('/') {
                Some((v, m)) => {
                    if mode == Mode::Add {
                        return fail(at(value, v.len()), "a cookie without a mask (flow additions cannot use a cookie mask)");
                    }
                    fm.cookie = num(v, "a 64-bit cookie")?;
                    fm.cookie_mask = if m == "-1" { u64::MAX } else { num(m, "a 64-bit cookie mask")? };
                }
                None => {
                    if mode == Mode::Criteria {
                        return fail(value, format!("a cookie mask (to match on a cookie, write cookie={value}/-1)"));
                    }
                    fm.cookie = num(value, "a 64-bit cookie")?;
                }
            },
            "duration" | "n_packets" | "n_bytes" | "idle_age" | "hard_age" => {}
            _ => return fail_found(key, "a match field, protocol or flow keyword", key),
        }
    }
    Ok((mb.finish()?, table))
}

/* ------------------------------------------------------------------ */
/* Actions.                                                             */
/* ------------------------------------------------------------------ */

/// Instruction ranks, in the order OpenFlow 1.1+ requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Inst {
    Meter,
    Apply,
    Clear,
    Write,
    Metadata,
    Goto,
}

impl Inst {
    fn name(self) -> &'static str {
        match self {
            Inst::Meter => "meter",
            Inst::Apply => "apply_actions",
            Inst::Clear => "clear_actions",
            Inst::Write => "write_actions",
            Inst::Metadata => "write_metadata",
            Inst::Goto => "goto_table",
        }
    }
}

enum Item {
    Act(Action),
    Clear,
    Write(Vec<Action>),
    Metadata(u64, u64),
    Goto(u8),
}

impl Item {
    fn inst(&self) -> Inst {
        match self {
            Item::Act(Action::Meter(_)) => Inst::Meter,
            Item::Act(_) => Inst::Apply,
            Item::Clear => Inst::Clear,
            Item::Write(_) => Inst::Write,
            Item::Metadata(..) => Inst::Metadata,
            Item::Goto(_) => Inst::Goto,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outer {
    Top,
    WriteActions,
    Ct,
}

struct Ctx<'m> {
    m: &'m Match,
    /// The packets have an Ethernet header (packet_type unset or (0,0)).
    ethernet: bool,
    /// The flow's table, when given (goto_table must go forward).
    table: Option<u8>,
    /// A VLAN header is known to be present (matched, or pushed earlier).
    has_vlan: bool,
}

impl Ctx<'_> {
    fn eth(&self) -> Option<u16> {
        self.m.exact(fields::ETH_TYPE).map(|v| v as u16)
    }
    fn proto(&self) -> Option<u8> {
        self.m.exact(fields::IP_PROTO).map(|v| v as u8)
    }
    fn is_ip(&self) -> bool {
        matches!(self.eth(), Some(0x0800) | Some(0x86dd))
    }

    /// ct_state value and mask bits from the match (OVS keeps the value
    /// already masked).
    fn ct_state(&self) -> (u32, u32) {
        match self.m.get(fields::CT_STATE) {
            Some(f) => (f.value_u128() as u32, f.mask_u128().map_or(u32::MAX, |m| m as u32)),
            None => (0, 0),
        }
    }

    /// OVS's test that the match implies a valid conntrack entry (needed by
    /// `resubmit(,T,ct)`).
    fn ct_valid(&self) -> bool {
        let (v, m) = self.ct_state();
        v & (0x01 | 0x02 | 0x04 | 0x08 | 0x40 | 0x80) != 0 || (v & 0x20 != 0 && m & 0x10 != 0 && v & 0x10 == 0)
    }

    /// Whether the flow's match satisfies `d`'s prerequisites (as OVS
    /// checks actions that read or write `d`).
    fn prereq_ok(&self, d: &FieldDef) -> bool {
        if d.id == fields::VLAN_PCP || d.id == fields::VLAN_VID {
            return self.has_vlan;
        }
        let mut m = self.m.clone();
        if m.get(d.id).is_none() {
            m.fields.push(OxmField::new(d.id, vec![0; d.len]));
        }
        match m.check_prerequisites() {
            Ok(()) => true,
            Err((name, _)) => name != d.name,
        }
    }
}

fn is_ct_field(id: OxmId) -> bool {
    id == fields::CT_MARK || id == fields::CT_LABEL
}

fn writable(id: OxmId) -> bool {
    use fields::*;
    ![ETH_TYPE, IP_PROTO, IP_FRAG, TCP_FLAGS, PACKET_TYPE, CONJ_ID, CT_STATE, CT_ZONE].contains(&id)
}

/// Checks a field an action writes: writable, allowed in this context,
/// prerequisites met by the match.
fn check_dst(ctx: &Ctx, d: &FieldDef, outer: Outer, at_: &str) -> R<()> {
    if !writable(d.id) {
        return fail_found(at_, "a writable field", format!("{} (read-only)", d.name));
    }
    if is_ct_field(d.id) && outer != Outer::Ct {
        return fail_found(at_, format!("{} to be set only inside ct(exec(...))", d.name), d.name);
    }
    if outer == Outer::Ct && !is_ct_field(d.id) {
        return fail_found(at_, "only ct_mark or ct_label to be set inside ct(exec(...))", d.name);
    }
    if !ctx.ethernet && [fields::ETH_SRC, fields::ETH_DST, fields::VLAN_VID, fields::VLAN_PCP].contains(&d.id) {
        return fail_found(at_, format!("packet_type=(0,0) (Ethernet) to write {}", d.name), d.name);
    }
    if !ctx.prereq_ok(d) {
        let what = if d.id == fields::VLAN_VID || d.id == fields::VLAN_PCP {
            "a VLAN header (match on one, or push_vlan first)".to_string()
        } else {
            d.prereq.describe().to_string()
        };
        return fail_found(at_, format!("{what} in the match before writing {}", d.name), d.name);
    }
    Ok(())
}

fn check_src(ctx: &Ctx, d: &FieldDef, at_: &str) -> R<()> {
    if !ctx.prereq_ok(d) {
        return fail_found(at_, format!("{} in the match before reading {}", d.prereq.describe(), d.name), d.name);
    }
    Ok(())
}

/// `NXM_OF_IN_PORT`: Open vSwitch writes `in_port` through this 16-bit
/// field (OpenFlow 1.0 port numbering), even in OpenFlow 1.5.
const NXM_OF_IN_PORT: OxmId = OxmId::new(0, 0);

fn set_field_action(d: &FieldDef, value: Vec<u8>, mask: Option<Vec<u8>>) -> Action {
    let (id, mut value, mask) = if d.id == fields::IN_PORT {
        // `value` holds a 16-bit port in its low two bytes.
        (NXM_OF_IN_PORT, value[value.len() - 2..].to_vec(), mask.map(|m| m[m.len() - 2..].to_vec()))
    } else {
        (d.id, value, mask)
    };
    let mask = mask.filter(|m| !m.iter().all(|&b| b == 0xff));
    if let Some(m) = &mask {
        for (v, m) in value.iter_mut().zip(m) {
            *v &= *m;
        }
    }
    Action::SetField(OxmField { id, value, mask })
}

/// `VALUE->DST` split (for `set_field`, `load`).
fn split_arrow<'s>(s: &'s str, what: &str) -> R<(&'s str, &'s str)> {
    match s.find("->") {
        Some(i) => {
            let dst = &s[i + 2..];
            if dst.is_empty() {
                return fail_found(at(s, s.len()), format!("a field name after `->` in {what}"), "nothing");
            }
            Ok((&s[..i], dst))
        }
        None => fail(s, format!("VALUE->FIELD for {what}")),
    }
}

fn l4_field(ctx: &Ctx, src: bool, at_: &str, what: &str) -> R<&'static FieldDef> {
    let name = match (ctx.is_ip(), ctx.proto(), src) {
        (true, Some(6), true) => "tcp_src",
        (true, Some(6), false) => "tcp_dst",
        (true, Some(17), true) => "udp_src",
        (true, Some(17), false) => "udp_dst",
        (true, Some(132), true) => "sctp_src",
        (true, Some(132), false) => "sctp_dst",
        _ => return fail_found(at_, format!("tcp, udp or sctp in the match for {what}"), what),
    };
    Ok(field_by_name(name).expect("known L4 field"))
}

fn parse_actions(s: &str, ctx: &mut Ctx, outer: Outer, allow_inst: bool) -> R<Vec<Item>> {
    let mut items: Vec<(Item, &str)> = Vec::new();
    let mut drop_at: Option<&str> = None;
    for kv in kvs(s)? {
        let Kv { key, value, delim } = kv;
        let lkey = key.to_ascii_lowercase();
        let need = |what: &str| -> R<()> {
            if value.is_empty() {
                fail_found(at(key, key.len()), format!("{what} after {key}"), "nothing")
            } else {
                Ok(())
            }
        };
        let item = match lkey.as_str() {
            "drop" => {
                drop_at = Some(key);
                continue;
            }
            "apply_actions" => {
                // `ovs-ofctl` refuses this spelling ("apply_actions is the
                // default instruction"); podflow accepts it as the same thing
                // as listing the actions directly.
                if outer != Outer::Top || !allow_inst || delim != Some('(') {
                    return fail_found(key, "an action (apply_actions(...) is only an instruction at the top level)", key);
                }
                for it in parse_actions(value, ctx, Outer::Top, false)? {
                    items.push((it, key));
                }
                continue;
            }
            "output" => {
                need("a port (output:PORT)")?;
                if value.contains('[') {
                    return fail(value, "a port number or name (output to a register subfield is not supported)");
                }
                let port = output_port(value)?;
                let max_len = if port == PortNo::CONTROLLER { CONTROLLER_MAX_LEN_NO_BUFFER } else { 0 };
                Item::Act(Action::Output { port, max_len })
            }
            "controller" => Item::Act(parse_controller(value)?),
            "enqueue" => return fail_found(key, "an action supported in OpenFlow 1.5 (enqueue is not)", key),
            "group" => {
                need("a group number (group:N)")?;
                Item::Act(Action::Group(num(value, "a group number")?))
            }
            "set_queue" => {
                need("a queue number (set_queue:N)")?;
                Item::Act(Action::SetQueue(num(value, "a queue number")?))
            }
            "meter" => {
                need("a meter number (meter:N)")?;
                if outer != Outer::Top || !allow_inst {
                    return fail_found(key, "an action allowed here (meter is not allowed inside nested actions)", key);
                }
                let m: u32 = num(value, "a meter number")?;
                if m == 0 || m > 0xffff_0000 {
                    return fail(value, "a meter number from 1 to 4294901760 (0xffff0000)");
                }
                Item::Act(Action::Meter(m))
            }
            "push_vlan" => {
                need("an Ethertype (push_vlan:0x8100)")?;
                let e: u16 = num(value, "an Ethertype (0x8100 or 0x88a8)")?;
                if e != 0x8100 && e != 0x88a8 {
                    return fail(value, "an 802.1Q Ethertype (0x8100 or 0x88a8)");
                }
                ctx.has_vlan = true;
                Item::Act(Action::PushVlan(e))
            }
            "pop_vlan" | "strip_vlan" => {
                if !ctx.has_vlan {
                    return fail_found(key, format!("a VLAN header (match on one, or push_vlan first) for {key}"), key);
                }
                ctx.has_vlan = false;
                Item::Act(Action::PopVlan)
            }
            "dec_ttl" => {
                if !value.is_empty() {
                    return fail(value, "dec_ttl without controller ids (dec_ttl(ids) is not supported)");
                }
                if !ctx.is_ip() {
                    return fail_found(key, "ip or ipv6 in the match for dec_ttl", key);
                }
                Item::Act(Action::DecNwTtl)
            }
            "mod_nw_ttl" | "set_nw_ttl" => {
                need("a TTL")?;
                if !ctx.is_ip() {
                    return fail_found(key, format!("ip or ipv6 in the match for {key}"), key);
                }
                Item::Act(Action::SetNwTtl(num(value, "a TTL (0 to 255)")?))
            }
            "set_field" => {
                need("VALUE->FIELD")?;
                let (v, f) = split_arrow(value, "set_field")?;
                if f == "nw_tos" {
                    // OVS writes the unshifted TOS through NXM_OF_IP_TOS.
                    let d = field_by_name("ip_dscp").expect("ip_dscp");
                    let t = match int_all(v) {
                        Some(t) if t <= 255 && t & 3 == 0 => t as u8,
                        _ => return fail(v, "an IP TOS value (0 to 255, low two bits zero)"),
                    };
                    check_dst(ctx, d, outer, f)?;
                    items.push((Item::Act(Action::SetField(OxmField::new(NXM_OF_IP_TOS, [t]))), key));
                    continue;
                }
                let (d, val, mask) = {
                    let Some(d) = field_by_name(f) else {
                        return fail_found(f, "a field name", f);
                    };
                    let (mut val, mask) = field_value(d, v)?;
                    if mask.as_ref().is_some_and(|m| m.iter().all(|&b| b == 0)) {
                        // Open vSwitch sends this and then cannot decode its own message.
                        return fail_found(v, "a set_field mask with at least one bit set", v);
                    }
                    if d.id == fields::IN_PORT {
                        let p = PortNo(u32::from_be_bytes([val[0], val[1], val[2], val[3]]));
                        match p.to_of10() {
                            Some(p16) => val = (p16 as u32).to_be_bytes().to_vec(),
                            None => return fail(v, "a port that fits OpenFlow 1.0 numbering"),
                        }
                    }
                    if d.id == fields::ARP_OP && val[0] != 0 {
                        return fail(v, "an ARP opcode (0 to 255)");
                    }
                    if mask.is_some() && !d.maskable {
                        return fail(v, format!("an unmasked value ({} cannot be masked)", d.name));
                    }
                    (d, val, mask)
                };
                let d = if is_l4_port_field(d.id) {
                    l4_field(ctx, matches!(d.name, "tcp_src" | "udp_src" | "sctp_src"), f, d.name)?
                } else {
                    d
                };
                check_dst(ctx, d, outer, f)?;
                Item::Act(set_field_action(d, val, mask))
            }
            "load" => {
                need("VALUE->DST[BITS]")?;
                let (v, dst) = split_arrow(value, "load")?;
                let sf = subfield(dst)?;
                let d = sf.field.def().expect("known field");
                let val = match int_all(v) {
                    Some(x) => x,
                    None => return fail(v, "an integer value (decimal or 0x-hex)"),
                };
                if !fits(val, sf.n_bits as u32) {
                    return fail(v, format!("a value that fits into {} bits", sf.n_bits));
                }
                check_dst(ctx, d, outer, dst)?;
                let mask = ones(sf.n_bits as u32) << sf.ofs;
                Item::Act(set_field_action(d, be(val << sf.ofs, d.len), Some(be(mask, d.len))))
            }
            "move" => {
                need("SRC[BITS]->DST[BITS]")?;
                let (src_s, dst_s) = split_arrow(value, "move")?;
                let src = subfield(src_s)?;
                let dst = subfield(dst_s)?;
                if src.n_bits != dst.n_bits {
                    return fail_found(
                        dst_s,
                        format!("a destination as wide as the source ({} bits)", src.n_bits),
                        format!("{} ({} bits)", dst_s, dst.n_bits),
                    );
                }
                if src.field == fields::IN_PORT || dst.field == fields::IN_PORT {
                    let at_ = if src.field == fields::IN_PORT { src_s } else { dst_s };
                    return fail(at_, "a field other than in_port (move to or from in_port is not supported)");
                }
                check_src(ctx, src.field.def().expect("known"), src_s)?;
                check_dst(ctx, dst.field.def().expect("known"), outer, dst_s)?;
                Item::Act(Action::CopyField { n_bits: src.n_bits, src, dst })
            }
            "mod_dl_src" | "mod_dl_dst" | "mod_nw_src" | "mod_nw_dst" | "mod_nw_ecn" | "set_tunnel" => {
                need("a value")?;
                let name = match lkey.as_str() {
                    "mod_dl_src" => "eth_src",
                    "mod_dl_dst" => "eth_dst",
                    "mod_nw_src" => "ip_src",
                    "mod_nw_dst" => "ip_dst",
                    "mod_nw_ecn" => "nw_ecn",
                    _ => "tun_id",
                };
                let d = field_by_name(name).expect("known field");
                if value.contains('/') {
                    return fail(value, format!("an unmasked value for {key}"));
                }
                let (val, _) = field_value(d, value)?;
                check_dst(ctx, d, outer, key)?;
                Item::Act(set_field_action(d, val, None))
            }
            "mod_tp_src" | "mod_tp_dst" => {
                need("a port number")?;
                let d = l4_field(ctx, lkey == "mod_tp_src", key, key)?;
                let p: u16 = num(value, "a port number (0 to 65535)")?;
                check_dst(ctx, d, outer, key)?;
                Item::Act(set_field_action(d, p.to_be_bytes().to_vec(), None))
            }
            "mod_nw_tos" => {
                need("a TOS value")?;
                let d = field_by_name("ip_dscp").expect("ip_dscp");
                let t = match int_all(value) {
                    Some(t) if t <= 255 && t & 3 == 0 => t as u8,
                    _ => return fail(value, "an IP TOS value (0 to 255, low two bits zero)"),
                };
                check_dst(ctx, d, outer, key)?;
                Item::Act(set_field_action(d, vec![t >> 2], None))
            }
            "mod_vlan_vid" | "mod_vlan_pcp" | "set_vlan_vid" | "set_vlan_pcp" => {
                need("a value")?;
                let vid = lkey.ends_with("vid");
                let v: u16 = if vid {
                    match int_all(value) {
                        Some(v) if v <= 0xfff => v as u16,
                        _ => return fail(value, "a VLAN id (0 to 4095)"),
                    }
                } else {
                    match int_all(value) {
                        Some(v) if v <= 7 => v as u16,
                        _ => return fail(value, "a VLAN priority (0 to 7)"),
                    }
                };
                if !ctx.has_vlan {
                    if lkey.starts_with("set_") {
                        return fail_found(key, format!("a VLAN header in the match for {key}"), key);
                    }
                    items.push((Item::Act(Action::PushVlan(0x8100)), key));
                    ctx.has_vlan = true;
                }
                if vid {
                    Item::Act(Action::SetField(OxmField::new(fields::VLAN_VID, (v | OFPVID_PRESENT).to_be_bytes())))
                } else {
                    Item::Act(Action::SetField(OxmField::new(fields::VLAN_PCP, [v as u8])))
                }
            }
            "resubmit" => {
                let a = parse_resubmit(value, delim)?;
                if matches!(a, Action::Resubmit { ct: true, .. }) && !ctx.ct_valid() {
                    return fail_found(
                        key,
                        "a ct_state match implying a valid connection (like ct_state=+trk+est) for resubmit(...,ct)",
                        key,
                    );
                }
                Item::Act(a)
            }
            "note" => Item::Act(Action::Note(crate::openflow::action::note_on_wire(hex_bytes(value)?))),
            "ct" => {
                if outer != Outer::Top {
                    return fail_found(key, "an action allowed here (ct cannot be nested)", key);
                }
                if !ctx.is_ip() {
                    return fail_found(key, "ip or ipv6 in the match for ct", key);
                }
                Item::Act(parse_ct(value, ctx)?)
            }
            "ct_clear" => Item::Act(Action::CtClear),
            "nat" => {
                if outer != Outer::Ct {
                    return fail_found(key, "nat only inside ct(...)", key);
                }
                Item::Act(Action::Nat(parse_nat(value)?))
            }
            "conjunction" => Item::Act(parse_conjunction(value)?),
            "goto_table" => {
                need("a table number (goto_table:N)")?;
                let t: u8 = num(value, "a table number (0 to 254)")?;
                if let Some(cur) = ctx.table.filter(|&c| c != TABLE_ALL) {
                    if t <= cur {
                        return fail_found(value, format!("a table after the flow's table {cur} (goto_table must go forward)"), value);
                    }
                }
                Item::Goto(t)
            }
            "write_metadata" => {
                need("VALUE[/MASK]")?;
                let (v, m) = match value.split_once('/') {
                    Some((v, m)) => (v, Some(m)),
                    None => (value, None),
                };
                let mv = match int_all(v) {
                    Some(x) if x <= u64::MAX as u128 => x as u64,
                    _ => return fail(v, "a 64-bit metadata value"),
                };
                let mm = match m {
                    None => u64::MAX,
                    Some(m) => match int_all(m) {
                        Some(x) if x <= u64::MAX as u128 => x as u64,
                        _ => return fail(m, "a 64-bit metadata mask"),
                    },
                };
                Item::Metadata(mv, mm)
            }
            "clear_actions" => Item::Clear,
            "write_actions" => {
                if outer != Outer::Top || !allow_inst {
                    return fail_found(key, "an action (write_actions instruction not allowed here)", key);
                }
                let inner = parse_actions(value, ctx, Outer::WriteActions, false)?;
                let mut acts = Vec::new();
                for it in inner {
                    if let Item::Act(a) = it {
                        acts.push(a);
                    }
                }
                Item::Write(acts)
            }
            _ => {
                // A bare port number or reserved port name outputs there.
                match output_port(key) {
                    Ok(port) if delim.is_none() => {
                        let max_len = if port == PortNo::CONTROLLER { CONTROLLER_MAX_LEN_NO_BUFFER } else { 0 };
                        Item::Act(Action::Output { port, max_len })
                    }
                    _ => return fail_found(key, "an action or an output port", key),
                }
            }
        };
        items.push((item, key));
    }
    if let Some(d) = drop_at {
        if !items.is_empty() {
            return fail_found(d, "\"drop\" alone (it must not be accompanied by any other action or instruction)", "drop");
        }
    }
    // Conjunction actions may only come with notes.
    if items.iter().any(|(i, _)| matches!(i, Item::Act(Action::Conjunction { .. }))) {
        if let Some((_, k)) = items
            .iter()
            .find(|(i, _)| !matches!(i, Item::Act(Action::Conjunction { .. }) | Item::Act(Action::Note(_))))
        {
            return fail_found(k, "only \"conjunction\" and \"note\" actions alongside \"conjunction\"", *k);
        }
        return Ok(items.into_iter().map(|(i, _)| i).collect());
    }
    // Instruction order (OpenFlow 1.1+): meter, apply, clear, write, metadata, goto.
    let mut prev: Option<Inst> = None;
    for (it, k) in &items {
        let next = it.inst();
        if !allow_inst && !matches!(next, Inst::Apply) {
            return fail_found(k, format!("an action ({} instruction not allowed here)", next.name()), *k);
        }
        if let Some(p) = prev {
            let bad = if p == Inst::Apply { next < p } else { next <= p };
            if bad {
                let msg = if next == p {
                    format!("no duplicate {} instruction", p.name())
                } else {
                    format!("{} before {} (invalid instruction ordering)", next.name(), p.name())
                };
                return fail_found(k, msg, *k);
            }
        }
        prev = Some(next);
    }
    Ok(items.into_iter().map(|(i, _)| i).collect())
}

/// A port that output may send to: a physical port below 0xff00 or one of
/// the reserved ports other than ANY/UNSET.
fn output_port(s: &str) -> R<PortNo> {
    let p = port_value(s)?;
    if p.0 < 0xff00 || (p != PortNo::ANY && p != PortNo::UNSET && p.0 >= PortNo::IN_PORT.0) {
        Ok(p)
    } else {
        fail(s, "an output port (below 65280, or IN_PORT, TABLE, NORMAL, FLOOD, ALL, CONTROLLER, LOCAL)")
    }
}

fn parse_controller(value: &str) -> R<Action> {
    let mut c = Controller::default();
    let mut userdata = false;
    if value.is_empty() {
    } else if value.bytes().all(|b| b.is_ascii_digit()) {
        c.max_len = num(value, "a max_len (0 to 65535)")?;
    } else {
        for kv in kvs(value)? {
            match kv.key {
                "reason" => {
                    c.reason = match kv.value {
                        "no_match" => 0,
                        "action" => 1,
                        "invalid_ttl" => 2,
                        "action_set" => 3,
                        "group" => 4,
                        "packet_out" => 5,
                        _ => {
                            return fail(
                                kv.value,
                                "a packet-in reason (no_match, action, invalid_ttl, action_set, group, packet_out)",
                            )
                        }
                    }
                }
                "max_len" => c.max_len = num(kv.value, "a max_len (0 to 65535)")?,
                "id" => c.controller_id = num(kv.value, "a controller id (0 to 65535)")?,
                "userdata" => {
                    c.userdata = hex_bytes(kv.value)?;
                    userdata = true;
                }
                "pause" => c.pause = true,
                "meter_id" => c.meter_id = Some(num(kv.value, "a meter id")?),
                _ => {
                    return fail_found(kv.key, "a controller option (reason, max_len, id, userdata, pause, meter_id)", kv.key)
                }
            }
        }
    }
    if c.reason == 1 && c.controller_id == 0 && !userdata && !c.pause && c.meter_id.is_none() {
        return Ok(Action::Output { port: PortNo::CONTROLLER, max_len: c.max_len });
    }
    c.legacy = !(userdata || c.pause || c.meter_id.is_some());
    Ok(Action::Controller(c))
}

fn port16(s: &str) -> R<u16> {
    let p = port_value(s)?;
    match p.to_of10() {
        Some(v) => Ok(v),
        None => fail(s, "a port that fits OpenFlow 1.0 numbering"),
    }
}

fn parse_resubmit(value: &str, delim: Option<char>) -> R<Action> {
    if value.is_empty() {
        return fail_found(value, "resubmit:PORT or resubmit([PORT],[TABLE][,ct])", "nothing");
    }
    let parts: Vec<&str> = if delim == Some('(') || value.contains(',') {
        value.split(',').collect()
    } else {
        vec![value]
    };
    if parts.len() > 3 {
        return fail(parts[3], "at most three resubmit arguments (port, table, ct)");
    }
    let in_port = match parts[0] {
        "" => RESUBMIT_IN_PORT,
        p => port16(p)?,
    };
    let table = match parts.get(1).copied() {
        None | Some("") => None,
        Some(t) => {
            let t: u8 = num(t, "a table number")?;
            if t == 255 {
                None
            } else {
                Some(t)
            }
        }
    };
    let ct = match parts.get(2).copied() {
        None | Some("") => false,
        Some("ct") => true,
        Some(o) => return fail(o, "`ct` as the third resubmit argument"),
    };
    if in_port == RESUBMIT_IN_PORT && table.is_none() {
        return fail(value, "a port or a table for resubmit (at least one)");
    }
    Ok(Action::Resubmit { in_port, table, ct })
}

fn parse_conjunction(value: &str) -> R<Action> {
    let sp = |i| nom::character::complete::space0(i);
    let r: IResult<&str, (u128, (u128, u128))> = all_consuming(tuple((
        preceded(sp, uint),
        preceded(
            tuple((sp, nchar(','), sp)),
            separated_pair(dec_u128, tuple((sp, nchar('/'), sp)), nom::sequence::terminated(dec_u128, sp)),
        ),
    )))(value);
    let (id, (k, n)) = match r {
        Ok((_, x)) => x,
        Err(_) => return fail(value, "conjunction(ID,K/N)"),
    };
    if id > u32::MAX as u128 {
        return fail(value, "a 32-bit conjunction id");
    }
    if n < 2 {
        return fail(value, "at least 2 clauses in a conjunction");
    }
    if n > 64 {
        return fail(value, "at most 64 clauses in a conjunction");
    }
    if k < 1 || k > n {
        return fail(value, "a clause index between 1 and the number of clauses");
    }
    Ok(Action::Conjunction { id: id as u32, clause: (k - 1) as u8, n_clauses: n as u8 })
}

fn parse_ct(value: &str, ctx: &mut Ctx) -> R<Action> {
    let mut ct = Ct { flags: 0, zone: CtZone::Imm(0), table: None, alg: 0, actions: Vec::new() };
    for kv in kvs(value)? {
        match kv.key {
            "commit" => ct.flags |= ct_flags::COMMIT,
            "force" => ct.flags |= ct_flags::FORCE,
            "table" => {
                let t: u8 = num(kv.value, "a table number (0 to 254)")?;
                if t == 255 {
                    return fail(kv.value, "a table number other than 255");
                }
                ct.table = Some(t);
            }
            "zone" => {
                ct.zone = match int_base0(kv.value) {
                    Some(z) if z <= 0xffff => CtZone::Imm(z as u16),
                    Some(_) => return fail(kv.value, "a zone (0 to 65535) or a subfield"),
                    None => {
                        let sf = subfield(kv.value)?;
                        if sf.n_bits != 16 {
                            return fail(kv.value, "a 16-bit subfield for the zone (like NXM_NX_REG0[0..15])");
                        }
                        check_src(ctx, sf.field.def().expect("known"), kv.value)?;
                        CtZone::Field(sf)
                    }
                }
            }
            "alg" => {
                ct.alg = match kv.value {
                    "ftp" => 21,
                    "tftp" => 69,
                    v => match int_all(v) {
                        Some(x) if x <= 0xffff => x as u16,
                        _ => return fail(v, "ftp, tftp or a port number"),
                    },
                }
            }
            "nat" => ct.actions.push(Action::Nat(parse_nat(kv.value)?)),
            "exec" => {
                for it in parse_actions(kv.value, ctx, Outer::Ct, false)? {
                    if let Item::Act(a) = it {
                        match a {
                            // Open vSwitch also takes nat inside exec and prints a
                            // second nat of a ct that way.
                            Action::SetField(_) | Action::Nat(_) => ct.actions.push(a),
                            _ => return fail(kv.value, "only set_field or load of ct_mark/ct_label, or nat, inside exec(...)"),
                        }
                    }
                }
            }
            k => return fail_found(kv.key, "a ct option (commit, force, table, zone, alg, nat, exec)", k),
        }
    }
    if ct.flags & ct_flags::FORCE != 0 && ct.flags & ct_flags::COMMIT == 0 {
        return fail(value, "\"commit\" with \"force\"");
    }
    if ct.flags & ct_flags::COMMIT != 0 && ctx.ct_state().0 & 0x10 != 0 {
        return fail(value, "no commit for a flow matching ct_state=+inv");
    }
    let proto = ctx.proto();
    if (ct.alg == 21 && proto != Some(6)) || (ct.alg == 69 && proto != Some(17)) {
        let need = if ct.alg == 21 { "tcp" } else { "udp" };
        return fail(value, format!("{need} in the match for alg={}", if ct.alg == 21 { "ftp" } else { "tftp" }));
    }
    for a in &ct.actions {
        if let Action::Nat(Nat { addr: Some(r), .. }) = a {
            let ok = match r {
                NatAddrRange::V4(..) => ctx.eth() == Some(0x0800),
                NatAddrRange::V6(..) => ctx.eth() == Some(0x86dd),
            };
            if !ok {
                return fail(value, "a nat address of the IP version the flow matches");
            }
        }
    }
    Ok(Action::Ct(ct))
}

fn parse_nat(value: &str) -> R<Nat> {
    let mut nat = Nat::default();
    for kv in kvs(value)? {
        match kv.key {
            "src" | "dst" => {
                if nat.flags & (nat_flags::SRC | nat_flags::DST) != 0 {
                    return fail(kv.key, "only one of src or dst in nat");
                }
                nat.flags |= if kv.key == "src" { nat_flags::SRC } else { nat_flags::DST };
                if !kv.value.is_empty() {
                    nat_range(kv.value, &mut nat)?;
                }
            }
            "persistent" => nat.flags |= nat_flags::PERSISTENT,
            "hash" => nat.flags |= nat_flags::PROTO_HASH,
            "random" => nat.flags |= nat_flags::PROTO_RANDOM,
            k => return fail_found(kv.key, "a nat option (src, dst, persistent, hash, random)", k),
        }
    }
    if nat.flags & nat_flags::PROTO_HASH != 0 && nat.flags & nat_flags::PROTO_RANDOM != 0 {
        return fail(value, "only one of hash or random");
    }
    if nat.flags & (nat_flags::SRC | nat_flags::DST) == 0
        && (nat.flags & (nat_flags::PERSISTENT | nat_flags::PROTO_HASH | nat_flags::PROTO_RANDOM) != 0)
    {
        return fail(value, "src or dst along with persistent, hash or random");
    }
    Ok(nat)
}

fn nat_range(s: &str, nat: &mut Nat) -> R<()> {
    let v6 = |i| alt((nom::sequence::delimited(nchar('['), ipv6, nchar(']')), ipv6))(i);
    let rest;
    if let Ok((r, (a, b))) = pair(ipv4, opt(preceded(nchar('-'), ipv4)))(s) {
        if let Some(b) = b {
            if u32::from(b) < u32::from(a) {
                return fail(s, "an address range with min <= max");
            }
        }
        nat.addr = Some(NatAddrRange::V4(a, b));
        rest = r;
    } else if s.starts_with('[') {
        match pair(v6, opt(preceded(nchar('-'), v6)))(s) {
            Ok((r, (a, b))) => {
                nat.addr = Some(NatAddrRange::V6(a, b));
                rest = r;
            }
            Err(_) => return fail(s, "an address range ADDR[-ADDR][:PORT[-PORT]]"),
        }
    } else {
        // A bare IPv6 range: split on '-' first since ':' is ambiguous.
        let (a, b) = match s.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let a6 = a.parse::<Ipv6Addr>().map_err(|_| E {
            at: addr(s),
            expected: "an address range ADDR[-ADDR][:PORT[-PORT]]".into(),
            found: shorten(s),
        })?;
        let b6 = match b {
            Some(b) => Some(b.parse::<Ipv6Addr>().map_err(|_| E {
                at: addr(b),
                expected: "an IPv6 address (use [ADDR]:PORT to give ports with IPv6)".into(),
                found: shorten(b),
            })?),
            None => None,
        };
        nat.addr = Some(NatAddrRange::V6(a6, b6));
        return Ok(());
    }
    if let Some(NatAddrRange::V6(a, Some(b))) = nat.addr {
        if b < a {
            return fail(s, "an address range with min <= max");
        }
    }
    if rest.is_empty() {
        return Ok(());
    }
    let ports: IResult<&str, (u128, Option<u128>)> =
        all_consuming(preceded(nchar(':'), pair(dec_u128, opt(preceded(nchar('-'), dec_u128)))))(rest);
    match ports {
        Ok((_, (a, b))) if a <= 0xffff && matches!(b, None | Some(0..=0xffff)) && b.unwrap_or(a) >= a => {
            nat.proto_min = Some(a as u16);
            nat.proto_max = b.map(|b| b as u16);
            Ok(())
        }
        _ => fail(rest, ":PORT or :PORT-PORT (min <= max) after the nat address range"),
    }
}

fn build_instructions(items: Vec<Item>) -> Vec<Instruction> {
    let mut apply = Vec::new();
    let mut clear = false;
    let mut write = None;
    let mut meta = None;
    let mut goto = None;
    for it in items {
        match it {
            Item::Act(a) => apply.push(a),
            Item::Clear => clear = true,
            Item::Write(w) => write = Some(w),
            Item::Metadata(v, m) => meta = Some((v, m)),
            Item::Goto(t) => goto = Some(t),
        }
    }
    let mut out = Vec::new();
    if !apply.is_empty() {
        out.push(Instruction::ApplyActions(apply));
    }
    if clear {
        out.push(Instruction::ClearActions);
    }
    if let Some(w) = write {
        out.push(Instruction::WriteActions(w));
    }
    if let Some((metadata, mask)) = meta {
        out.push(Instruction::WriteMetadata { metadata, mask });
    }
    if let Some(t) = goto {
        out.push(Instruction::GotoTable(t));
    }
    out
}

/* ------------------------------------------------------------------ */
/* Public API.                                                          */
/* ------------------------------------------------------------------ */

fn flow_inner(s: &str) -> R<FlowMod> {
    let mut fm = FlowMod::default();
    let Some(ai) = s.find("action") else {
        return fail_found(at(s, s.len()), "actions=… (a flow must specify its actions)", "end of input");
    };
    let match_text = &s[..ai];
    let after = &s[ai..];
    let Some(eq) = after.find('=') else {
        return fail(after, "`=` after actions");
    };
    let actions_text = &after[eq + 1..];
    let (m, table) = parse_match(match_text, &mut fm, Mode::Add)?;
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
    let inner = || -> R<FlowMod> {
        let mut fm = FlowMod { command: FlowModCommand::DELETE, table_id: TABLE_ALL, ..FlowMod::default() };
        fm.r#match = parse_match(s, &mut fm, Mode::Criteria)?.0;
        Ok(fm)
    };
    inner().map_err(|e| to_public(s, None, e))
}

/// Parses an `add-flows` file: one flow per line. As in `ovs-ofctl`, a `#`
/// starts a comment that runs to the end of its line, and lines that are
/// blank after removing comments are skipped. Returns each flow with its
/// 1-based line number; errors carry the line number too.
pub fn flows_file(text: &str) -> Result<Vec<(usize, FlowMod)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = match line.find('#') {
            Some(c) => &line[..c],
            None => line,
        };
        if line.trim().is_empty() {
            continue;
        }
        match flow_inner(line) {
            Ok(f) => out.push((i + 1, f)),
            Err(e) => return Err(to_public(line, Some(i + 1), e)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::action::types;
    use crate::openflow::flow::DEFAULT_PRIORITY;

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
        assert_eq!((fm.table_id, fm.priority, fm.cookie, fm.idle_timeout, fm.hard_timeout, fm.importance), (3, 100, 0x10, 5, 6, 7));
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
        let fm = flow("ct_label=0x1000000000000000000000000000000f/0xffffffffffffffffffffffffffffffff actions=drop").unwrap();
        assert_eq!(field(&fm, fields::CT_LABEL), ((1u128 << 124) | 0xf, None));
        let fm = flow("ct_mark=5/0xff,ct_zone=3,conj_id=9,tun_id=0x10,reg3=7,xreg2=0x1/0x1,metadata=1 actions=drop").unwrap();
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
            vec![Action::SetField(OxmField::new(fields::VLAN_PCP, [3])), Action::PopVlan, Action::PushVlan(0x8100), Action::PopVlan]
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
        assert_eq!(
            acts("actions=conjunction(7,2/3)"),
            vec![Action::Conjunction { id: 7, clause: 1, n_clauses: 3 }]
        );
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
        let fm = flow("actions=meter:1,output:2,clear_actions,write_actions(output:3),write_metadata:0x1/0xff,goto_table:4").unwrap();
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
