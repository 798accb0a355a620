//! The lexical layer of the flow text: positions and errors inside the
//! input, the `key=value`/`key:value`/`key(value)` splitter `ovs-ofctl`
//! uses, and the numbers and addresses values are made of. Knows nothing
//! about fields or actions.

use super::parse::ParseError;
use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while1, take_while_m_n};
use nom::character::complete::{char as nchar, digit1, hex_digit1};
use nom::combinator::{all_consuming, map_res, recognize};
use nom::sequence::{preceded, tuple};
use nom::IResult;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Internal error: `at` is the address of the offending byte in the input.
#[derive(Debug)]
pub(super) struct E {
    pub(super) at: usize,
    pub(super) expected: String,
    pub(super) found: String,
}

pub(super) type R<T> = Result<T, E>;

pub(super) fn addr(s: &str) -> usize {
    s.as_ptr() as usize
}

/// Fails at `at`, reporting the text there as what was found.
pub(super) fn fail<T>(at: &str, expected: impl Into<String>) -> R<T> {
    Err(E { at: addr(at), expected: expected.into(), found: shorten(at) })
}

pub(super) fn fail_found<T>(at: &str, expected: impl Into<String>, found: impl Into<String>) -> R<T> {
    Err(E { at: addr(at), expected: expected.into(), found: found.into() })
}

pub(super) fn shorten(s: &str) -> String {
    let t = s.trim_end();
    if t.chars().count() > 40 {
        let mut x: String = t.chars().take(40).collect();
        x.push('…');
        x
    } else {
        t.to_string()
    }
}

pub(super) fn to_public(base: &str, line: Option<usize>, e: E) -> ParseError {
    let column = match e.at.checked_sub(addr(base)) {
        Some(off) if off <= base.len() => off + 1,
        _ => 1,
    };
    ParseError { line, column, expected: e.expected, found: e.found }
}

/// Sub-slice of `s` starting at byte `i` (for error positions).
pub(super) fn at(s: &str, i: usize) -> &str {
    &s[i.min(s.len())..]
}

/* ------------------------------------------------------------------ */
/* Key/value lexer (the `ovs-ofctl` rules for `key=value`, `key:value`, */
/* `key(value)` separated by commas or white space).                    */
/* ------------------------------------------------------------------ */

#[derive(Debug, Clone, Copy)]
pub(super) struct Kv<'a> {
    pub(super) key: &'a str,
    pub(super) value: &'a str,
    /// `:`, `=`, `(`, or None for a bare key.
    pub(super) delim: Option<char>,
}

pub(super) const SEP: &[char] = &[',', ' ', '\t', '\r', '\n'];

/// The ASCII characters of `chars` as a bit set (bit N: byte N), so the
/// lexer's hot loops test a byte with a shift instead of a slice search.
fn ascii_set(chars: &[char]) -> u128 {
    chars.iter().filter(|c| c.is_ascii()).fold(0, |m, c| m | 1u128 << (*c as u32))
}

fn in_set(set: u128, b: u8) -> bool {
    b < 128 && (set >> b) & 1 == 1
}

/// Length of a value up to one of `delims`, skipping balanced parentheses.
pub(super) fn value_len(s: &str, delims: &[char]) -> usize {
    let b = s.as_bytes();
    let set = ascii_set(delims);
    let mut n = 0;
    while n < b.len() && !in_set(set, b[n]) {
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

pub(super) fn next_kv<'a>(s: &mut &'a str) -> R<Option<Kv<'a>>> {
    let rest = s.trim_start_matches([',', ' ', '\t', '\r', '\n']);
    if rest.is_empty() {
        *s = rest;
        return Ok(None);
    }
    let key_len = rest.bytes().position(|b| matches!(b, b':' | b'=' | b'(' | b',' | b' ' | b'\t' | b'\r' | b'\n')).unwrap_or(rest.len());
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

pub(super) fn kvs(mut s: &str) -> R<Vec<Kv<'_>>> {
    let mut v = Vec::new();
    while let Some(kv) = next_kv(&mut s)? {
        v.push(kv);
    }
    Ok(v)
}

/* ------------------------------------------------------------------ */
/* Lexical primitives (nom).                                            */
/* ------------------------------------------------------------------ */

pub(super) fn hex_u128(s: &str) -> IResult<&str, u128> {
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

pub(super) fn dec_u128(s: &str) -> IResult<&str, u128> {
    map_res(digit1, |d: &str| d.parse::<u128>())(s)
}

/// Decimal as Open vSwitch reads it for field values: at most 64 bits.
pub(super) fn dec_u64(s: &str) -> IResult<&str, u128> {
    map_res(digit1, |d: &str| d.parse::<u64>().map(u128::from))(s)
}

/// A field value: `0x` hex of any width, or decimal up to 64 bits.
pub(super) fn field_int_all(s: &str) -> Option<u128> {
    all_consuming(alt((hex_u128, dec_u64)))(s).ok().map(|(_, v)| v)
}

/// Decimal or `0x` hexadecimal.
pub(super) fn uint(s: &str) -> IResult<&str, u128> {
    alt((hex_u128, dec_u128))(s)
}

/// An entire string as an unsigned integer (decimal or 0x-hex).
pub(super) fn int_all(s: &str) -> Option<u128> {
    all_consuming(uint)(s).ok().map(|(_, v)| v)
}

/// Like C `strtoull(s, 0)`: hex with 0x, octal with a leading 0, else decimal.
pub(super) fn int_base0(s: &str) -> Option<u128> {
    if s.len() > 1 && s.starts_with('0') && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return u128::from_str_radix(&s[1..], 8).ok();
    }
    int_all(s)
}

pub(super) fn num<T: TryFrom<u128>>(s: &str, what: &str) -> R<T> {
    match int_base0(s) {
        Some(v) => T::try_from(v).map_err(|_| E {
            at: addr(s),
            expected: format!("{what} no larger than {}", max_of::<T>()),
            found: shorten(s),
        }),
        None => fail(s, what.to_string()),
    }
}

pub(super) fn max_of<T: TryFrom<u128>>() -> u128 {
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

pub(super) fn mac(s: &str) -> IResult<&str, [u8; 6]> {
    let byte = |i| map_res(take_while_m_n(1, 2, |c: char| c.is_ascii_hexdigit()), |h| u8::from_str_radix(h, 16))(i);
    let (s, (a, _, b, _, c, _, d, _, e, _, f)) =
        tuple((byte, nchar(':'), byte, nchar(':'), byte, nchar(':'), byte, nchar(':'), byte, nchar(':'), byte))(s)?;
    Ok((s, [a, b, c, d, e, f]))
}

pub(super) fn ipv4(s: &str) -> IResult<&str, Ipv4Addr> {
    map_res(recognize(tuple((digit1, nchar('.'), digit1, nchar('.'), digit1, nchar('.'), digit1))), |t: &str| {
        t.parse::<Ipv4Addr>()
    })(s)
}

pub(super) fn ipv6(s: &str) -> IResult<&str, Ipv6Addr> {
    map_res(take_while1(|c: char| c.is_ascii_hexdigit() || c == ':' || c == '.'), |t: &str| t.parse::<Ipv6Addr>())(s)
}

/// Hex bytes as `ovs-ofctl` writes them: pairs of digits, optionally
/// separated by `.` (as in `note:01.02.03`).
pub(super) fn hex_bytes(s: &str) -> R<Vec<u8>> {
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

/// `v` as `len` big-endian bytes (zero-extended past 16).
pub(super) fn be(v: u128, len: usize) -> Vec<u8> {
    if len <= 16 {
        v.to_be_bytes()[16 - len..].to_vec()
    } else {
        let mut out = vec![0; len - 16];
        out.extend_from_slice(&v.to_be_bytes());
        out
    }
}

/// `v << ofs` as `len` big-endian bytes, bits past the end dropped (for
/// fields wider than 128 bits).
pub(super) fn be_shifted(v: u128, ofs: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for i in 0..128u32 {
        let pos = (ofs + i) as usize;
        if v >> i & 1 == 1 && pos < len * 8 {
            out[len - 1 - pos / 8] |= 1 << (pos % 8);
        }
    }
    out
}

/// Bits `ofs..ofs+n_bits` set, as `len` big-endian bytes.
pub(super) fn be_bit_range(ofs: u32, n_bits: u32, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for pos in ofs as usize..(ofs + n_bits) as usize {
        if pos < len * 8 {
            out[len - 1 - pos / 8] |= 1 << (pos % 8);
        }
    }
    out
}

pub(super) fn fits(v: u128, bits: u32) -> bool {
    bits >= 128 || v >> bits == 0
}

pub(super) fn ones(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}
