//! Small formatters shared by matches and actions: numbers, addresses,
//! masks, flag sets, field values (`mf_format`) and subfields.
//!
//! Every formatter appends to the caller's `String` and allocates nothing
//! of its own: a 60,000-flow dump calls these millions of times, and
//! intermediate `String`s (and `format!`'s machinery for plain integers)
//! were half of the dump's CPU time. Never returns text it built on the
//! side, except for port names shown from a port map (`--names`).

use crate::openflow::action::Subfield;
use crate::openflow::oxm::{fields, Format, OxmField, OxmId};
use crate::openflow::port::PortNo;
use std::fmt::Write;
use std::net::Ipv6Addr;

use super::super::names::{flag_name, CT_STATE_FLAGS, TCP_FLAGS, TUN_FLAGS};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends ASCII bytes (digits, hex) that this module produced itself.
fn push_ascii(s: &mut String, b: &[u8]) {
    // ASCII only, so each byte is its char; cheaper than validating the
    // slice as UTF-8 (3 % of a dump's CPU).
    s.extend(b.iter().map(|&c| char::from(c)));
}

/// "00" to "99".
const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// `v` in decimal (`{v}`).
pub(super) fn dec(s: &mut String, mut v: u64) {
    // Counters are often 0 and tables one digit; two digits per division
    // otherwise (a dump prints about eight numbers a flow).
    if v < 10 {
        s.push(char::from(b'0' + v as u8));
        return;
    }
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    push_ascii(s, &buf[i..]);
}

/// `v` in decimal, at least `width` digits with leading zeros (`{v:0width$}`).
pub(super) fn dec_pad(s: &mut String, v: u64, width: usize) {
    let mut n = 1;
    let mut x = v;
    while x >= 10 {
        x /= 10;
        n += 1;
    }
    for _ in n..width {
        s.push('0');
    }
    dec(s, v);
}

/// `v` in lowercase hex without prefix, at least `width` digits (`{v:0width$x}`).
pub(super) fn hex_pad(s: &mut String, v: u64, width: usize) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut x = v;
    loop {
        i -= 1;
        buf[i] = HEX[(x & 0xf) as usize];
        x >>= 4;
        if x == 0 {
            break;
        }
    }
    for _ in (buf.len() - i)..width {
        s.push('0');
    }
    push_ascii(s, &buf[i..]);
}

/// Rust's `{v:#x}`: `0x` then hex, `0x0` for zero.
pub(super) fn hex0x(s: &mut String, v: u64) {
    s.push_str("0x");
    hex_pad(s, v, 1);
}

/// C's `%#x`: `0x`-prefixed hex, except that zero is plain `0`.
pub(super) fn cx(s: &mut String, v: u64) {
    if v == 0 {
        s.push('0');
    } else {
        hex0x(s, v);
    }
}

/// One byte as two hex digits (`{b:02x}`).
fn hex2(s: &mut String, b: u8) {
    s.push(HEX[usize::from(b >> 4)] as char);
    s.push(HEX[usize::from(b & 0xf)] as char);
}

/// Like OVS's `ds_put_hex`: "0x" and the bytes without leading zero
/// bytes, or "0" for all zeros.
pub(super) fn hex_bytes(s: &mut String, b: &[u8]) {
    match b.iter().position(|&v| v != 0) {
        None => s.push('0'),
        Some(first) => {
            hex0x(s, u64::from(b[first]));
            for &v in &b[first + 1..] {
                hex2(s, v);
            }
        }
    }
}

/// Bytes as hex pairs joined by `sep` (`01.02` or `aa:bb`).
fn hex_joined(s: &mut String, b: &[u8], sep: char) {
    for (i, &x) in b.iter().enumerate() {
        if i > 0 {
            s.push(sep);
        }
        hex2(s, x);
    }
}

/// Bytes as `01.02.03`, as Open vSwitch prints opaque data.
pub(super) fn dotted_hex(s: &mut String, b: &[u8]) {
    hex_joined(s, b, '.');
}

pub(super) fn eth(s: &mut String, b: &[u8]) {
    hex_joined(s, b, ':');
}

pub(super) fn eth_masked(s: &mut String, v: &[u8], m: Option<&[u8]>) {
    eth(s, v);
    if let Some(m) = m {
        if !m.iter().all(|&x| x == 0xff) {
            s.push('/');
            eth(s, m);
        }
    }
}

/// Number of leading one bits if `mask` is a CIDR mask (ones then zeros).
pub(super) fn cidr_bits(mask: u128, width: u32) -> Option<u32> {
    let ones = (mask << (128 - width)).leading_ones();
    let full = if width == 128 { u128::MAX } else { (1u128 << width) - 1 };
    let expect = if ones == 0 { 0 } else { (full >> (width - ones)) << (width - ones) };
    (expect == mask).then_some(ones)
}

/// A dotted quad.
pub(super) fn ipv4(s: &mut String, v: u32) {
    for (i, o) in v.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        dec(s, u64::from(o));
    }
}

pub(super) fn ipv4_masked(s: &mut String, v: u32, m: u32) {
    ipv4(s, v);
    if m != u32::MAX {
        s.push('/');
        match cidr_bits(m as u128, 32) {
            Some(n) => dec(s, n.into()),
            None => ipv4(s, m),
        }
    }
}

/// IPv6 text as glibc's `inet_ntop` writes it.
pub(super) fn ipv6(s: &mut String, a: u128) {
    let addr = Ipv6Addr::from(a);
    let seg = addr.segments();
    // IPv4-compatible addresses (six zero groups, then a nonzero seventh)
    // keep a dotted quad, as in glibc; Rust already does so for
    // IPv4-mapped ones.
    if seg[..6] == [0, 0, 0, 0, 0, 0] && seg[6] != 0 {
        s.push_str("::");
        ipv4(s, a as u32);
        return;
    }
    // Display for Ipv6Addr writes straight into `s` (no padding asked).
    let _ = write!(s, "{addr}");
}

pub(super) fn ipv6_masked(s: &mut String, v: u128, m: u128) {
    ipv6(s, v);
    if m != u128::MAX {
        s.push('/');
        match cidr_bits(m, 128) {
            Some(n) => dec(s, n.into()),
            None => ipv6(s, m),
        }
    }
}

/// An OpenFlow 1.1+ port as Open vSwitch prints it (after converting it to
/// its 16-bit form).
pub(in crate::openflow::text) fn write_port(s: &mut String, p: PortNo) {
    match p.to_of10() {
        Some(p16) => write_port16(s, p16),
        None => dec(s, p.0.into()),
    }
}

/// A 16-bit (OpenFlow 1.0 numbering) port.
pub(in crate::openflow::text) fn write_port16(s: &mut String, p: u16) {
    let name = match p {
        0xfff7 => "UNSET",
        0xfff8 => "IN_PORT",
        0xfff9 => "TABLE",
        0xfffa => "NORMAL",
        0xfffb => "FLOOD",
        0xfffc => "ALL",
        0xfffd => "CONTROLLER",
        0xfffe => "LOCAL",
        0xffff => "ANY",
        n => {
            match super::super::ports::shown(PortNo::from_of10(n)) {
                Some(name) => s.push_str(&name),
                None => dec(s, n.into()),
            }
            return;
        }
    };
    s.push_str(name);
}

pub(super) fn ct_state_name(bit: u32) -> Option<&'static str> {
    flag_name(CT_STATE_FLAGS, bit)
}

pub(super) fn tun_flag_name(bit: u32) -> Option<&'static str> {
    flag_name(TUN_FLAGS, bit)
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
pub(super) fn flags_plain(s: &mut String, names: fn(u32) -> Option<&'static str>, mut flags: u32) {
    if flags == 0 {
        s.push('0');
        return;
    }
    let mut first = true;
    let mut bad = 0;
    while flags != 0 {
        let bit = flags & flags.wrapping_neg();
        match names(bit) {
            Some(n) => {
                if !first {
                    s.push('|');
                }
                s.push_str(n);
                first = false;
            }
            None => bad |= bit,
        }
        flags &= !bit;
    }
    if bad != 0 {
        if !first {
            s.push('|');
        }
        hex0x(s, bad.into());
    }
}

/// Flags with a mask: `+est-new`, or the plain form when the mask covers
/// every bit (`max`), or `0/0` for an empty mask.
pub(super) fn flags_masked(s: &mut String, names: fn(u32) -> Option<&'static str>, flags: u32, mut mask: u32, max: u32) {
    if mask == max {
        return flags_plain(s, names, flags);
    }
    if mask == 0 {
        s.push_str("0/0");
        return;
    }
    while mask != 0 {
        let bit = mask & mask.wrapping_neg();
        s.push(if flags & bit != 0 { '+' } else { '-' });
        s.push_str(names(bit).unwrap_or("[Unknown]"));
        mask &= !bit;
    }
}

fn u16_masked_pt(s: &mut String, v: u16, m: u16) {
    if m == 0 {
        s.push('*');
        return;
    }
    if v > 9 {
        hex0x(s, v.into());
    } else {
        dec(s, v.into());
    }
    if m != u16::MAX {
        s.push('/');
        hex0x(s, m.into());
    }
}

pub(super) fn packet_type_masked(s: &mut String, v: u32, m: u32) {
    if v == 0 && m == u32::MAX {
        s.push_str("eth");
        return;
    }
    s.push_str("packet_type=(");
    u16_masked_pt(s, (v >> 16) as u16, (m >> 16) as u16);
    s.push(',');
    u16_masked_pt(s, v as u16, m as u16);
    s.push(')');
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
pub(super) fn write_field_value(s: &mut String, f: &OxmField) {
    write_field_bytes(s, f.id, &f.value, f.mask.as_deref());
}

/// [`write_field_value`] of field `id` with this value and mask (big-endian
/// bytes), for callers that hold the bytes but no [`OxmField`].
pub(in crate::openflow::text) fn write_field_bytes(s: &mut String, id: OxmId, value: &[u8], mask: Option<&[u8]>) {
    let Some(def) = id.def() else {
        hex_bytes(s, value);
        if let Some(m) = mask {
            s.push('/');
            hex_bytes(s, m);
        }
        return;
    };
    let mut mask = mask;
    if let Some(m) = mask {
        if m.iter().all(|&b| b == 0) {
            s.push_str("ANY");
            return;
        }
        // A variable-length field's mask is all ones only over all its
        // bytes (Open vSwitch's mf_format): a short one always prints.
        if m.iter().all(|&b| b == 0xff) && !def.variable_len() {
            mask = None;
        }
    }
    let v = crate::openflow::oxm::be_to_u128(value);
    let mv = mask.map(crate::openflow::oxm::be_to_u128);
    let integer_mask = |s: &mut String| {
        if let Some(m) = mask {
            s.push('/');
            hex_bytes(s, m);
        }
    };
    match def.format {
        Format::Port if mask.is_none() => write_port(s, PortNo(v as u32)),
        Format::Decimal | Format::Port => {
            if value.len() <= 8 {
                dec(s, v as u64);
            } else {
                hex_bytes(s, value);
            }
            integer_mask(s);
        }
        Format::Hex => {
            hex_bytes(s, value);
            integer_mask(s);
        }
        Format::CtState => flags_masked(s, ct_state_name, v as u32, mv.map_or(u32::MAX, |m| m as u32), 0xffff),
        Format::TcpFlags => flags_masked(s, tcp_flag_name, v as u32, mv.map_or(0xffff, |m| m as u32) & 0x0fff, 0x0fff),
        Format::TunFlags => flags_masked(s, tun_flag_name, v as u32, mv.map_or(0xffff, |m| m as u32) & 1, 1),
        Format::Ethernet => eth_masked(s, value, mask),
        Format::Ipv4 => ipv4_masked(s, v as u32, mv.map_or(u32::MAX, |m| m as u32)),
        Format::Ipv6 => ipv6_masked(s, v, mv.unwrap_or(u128::MAX)),
        Format::Frag => s.push_str(frag_name(v as u8, mv.map_or(0xff, |m| m as u8))),
        // mf_format uses the same helper as the match, minus "eth".
        Format::PacketType => packet_type_masked(s, v as u32, mv.map_or(u32::MAX, |m| m as u32)),
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

/// A field's name (`reg0`, `OXM(0x8000,120)` for an unknown one).
pub(super) fn field_name(s: &mut String, id: OxmId) {
    match id.def() {
        Some(d) => s.push_str(d.name),
        None => s.push_str(&id.name()),
    }
}

/// Name of a field in subfield syntax (`NXM_NX_REG0`).
fn subfield_field_name(s: &mut String, id: OxmId) {
    match (id.def(), extra_field(id)) {
        (Some(d), _) => s.push_str(d.nxm_name),
        (None, Some(e)) => s.push_str(e.nxm_name),
        (None, None) => s.push_str(&id.name()),
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

/// A subfield: `NXM_NX_REG0[]`, `NXM_NX_REG0[3]`, `NXM_NX_REG0[0..3]`.
pub(in crate::openflow::text) fn write_subfield(s: &mut String, sf: &Subfield) {
    subfield_field_name(s, sf.field);
    let bits = subfield_width(sf.field);
    if bits.is_some() && sf.ofs == 0 && Some(sf.n_bits as u32) == bits {
        s.push_str("[]");
    } else {
        s.push('[');
        dec(s, sf.ofs.into());
        if sf.n_bits != 1 {
            s.push_str("..");
            dec(s, (u32::from(sf.ofs) + u32::from(sf.n_bits)).wrapping_sub(1).into());
        }
        s.push(']');
    }
}

/// Runs a writer into a new `String` (the `-> String` forms).
pub(super) fn to_string(f: impl FnOnce(&mut String)) -> String {
    let mut s = String::new();
    f(&mut s);
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
        assert_eq!(to_string(|s| hex_bytes(s, &[0, 0, 1, 0])), "0x100");
        assert_eq!(to_string(|s| hex_bytes(s, &[0, 0])), "0");
        assert_eq!(to_string(|s| cx(s, 0)), "0");
        assert_eq!(to_string(|s| cx(s, 255)), "0xff");
        assert_eq!(to_string(|s| ipv6(s, 0)), "::");
        assert_eq!(to_string(|s| ipv6(s, 1)), "::1");
        assert_eq!(to_string(|s| ipv6(s, 0x0102_0304)), "::1.2.3.4");
        assert_eq!(to_string(|s| packet_type_masked(s, 0, u32::MAX)), "eth");
        assert_eq!(to_string(|s| packet_type_masked(s, 0x0001_0800, 0xffff_0000)), "packet_type=(1,*)");
        assert_eq!(to_string(|s| packet_type_masked(s, 0x0001_0800, 0xffff_ff00)), "packet_type=(1,0x800/0xff00)");
    }

    /// The hand-written number formatters agree with `format!` on edge
    /// values (they replace it on the hot path).
    #[test]
    fn numbers_like_format() {
        for v in [0u64, 1, 9, 10, 15, 16, 99, 100, 101, 255, 256, 999, 1000, 12345, 65535, 1 << 32, u64::MAX - 1, u64::MAX] {
            assert_eq!(to_string(|s| dec(s, v)), format!("{v}"));
            assert_eq!(to_string(|s| hex0x(s, v)), format!("{v:#x}"));
            assert_eq!(to_string(|s| hex_pad(s, v, 4)), format!("{v:04x}"));
            assert_eq!(to_string(|s| dec_pad(s, v, 3)), format!("{v:03}"));
            assert_eq!(to_string(|s| dec_pad(s, v, 9)), format!("{v:09}"));
        }
        for v in [0u32, 1, 0x0102_0304, 0xc612_0a05, u32::MAX] {
            assert_eq!(to_string(|s| ipv4(s, v)), std::net::Ipv4Addr::from(v).to_string());
        }
        assert_eq!(to_string(|s| dotted_hex(s, &[1, 0xab])), "01.ab");
        assert_eq!(to_string(|s| eth(s, &[0x0a, 0x58, 0, 0, 0, 0xff])), "0a:58:00:00:00:ff");
    }
}
