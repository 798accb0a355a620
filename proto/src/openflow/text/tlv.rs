//! The text of TLV mappings (`add-tlv-map`, `del-tlv-map`) and of the
//! switch's TLV table (`dump-tlv-map`), as `ovs-ofctl` reads and prints
//! them: `{class=0xffff,type=0,len=4}->tun_metadata0[,…]`.

use crate::openflow::tlv::{TlvMap, TlvTableReply};
use std::fmt::Write;

/// A mapping list that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid TLV mapping at column {column}: expected {expected} (the form is {{class=C,type=T,len=L}}->tun_metadataN[,…])")]
pub struct TlvTextError {
    /// 1-based, in characters.
    pub column: usize,
    pub expected: &'static str,
}

/// Reads mappings as `ovs-ofctl` does: numbers in C's `%i` forms (decimal,
/// `0x` hex, `0` octal, a sign) truncated to the field's width, optional
/// spaces before a number only, one optional comma before each mapping;
/// an empty text is no mapping.
pub fn tlv_maps(text: &str) -> Result<Vec<TlvMap>, TlvTextError> {
    let b = text.as_bytes();
    let mut at = 0;
    let mut maps = Vec::new();
    while at < b.len() {
        if b[at] == b',' {
            at += 1;
        }
        let col = |at: usize| text[..at].chars().count() + 1;
        let lit = |at: &mut usize, s: &'static str| {
            if b[*at..].starts_with(s.as_bytes()) {
                *at += s.len();
                Ok(())
            } else {
                Err(TlvTextError { column: col(*at), expected: s })
            }
        };
        let num = |at: &mut usize| scan_int(b, at).ok_or(TlvTextError { column: col(*at), expected: "a number" });
        lit(&mut at, "{class=")?;
        let class = num(&mut at)? as u16;
        lit(&mut at, ",type=")?;
        let ty = num(&mut at)? as u8;
        lit(&mut at, ",len=")?;
        let len = num(&mut at)? as u8;
        lit(&mut at, "}->tun_metadata")?;
        let index = num(&mut at)? as u16;
        maps.push(TlvMap { class, ty, len, index });
    }
    Ok(maps)
}

/// One C `%i` conversion at `*at`: leading spaces, a sign, a base prefix,
/// at least one digit; the value wraps as C's does before it is narrowed.
fn scan_int(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut i = *at;
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let negative = b.get(i) == Some(&b'-');
    if matches!(b.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let base = if b.get(i) == Some(&b'0') && matches!(b.get(i + 1), Some(b'x' | b'X')) {
        i += 2;
        16
    } else if b.get(i) == Some(&b'0') {
        8
    } else {
        10
    };
    let start = i;
    let mut v: u64 = 0;
    while let Some(d) = b.get(i).and_then(|c| (*c as char).to_digit(base)) {
        v = v.wrapping_mul(u64::from(base)).wrapping_add(u64::from(d));
        i += 1;
    }
    if i == start {
        return None;
    }
    *at = i;
    Some(if negative { v.wrapping_neg() } else { v })
}

/// The mapping table's lines, as `ovs-ofctl` prints them (no final newline).
fn write_table(o: &mut String, maps: &[TlvMap]) {
    o.push_str(" mapping table:\n  class  type  length  match field\n ------  ----  ------  --------------");
    for m in maps {
        // C's %#x prints 0 without the prefix.
        let hex = |v: u32| if v == 0 { "0".to_string() } else { format!("{v:#x}") };
        let _ = write!(o, "\n {:>6}  {:>4}  {:>6}  tun_metadata{}", hex(m.class.into()), hex(m.ty.into()), m.len, m.index);
    }
}

/// `ovs-ofctl dump-tlv-map` output for reply `r` with this xid.
pub fn tlv_table_reply(xid: u32, r: &TlvTableReply) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "NXT_TLV_TABLE_REPLY (OF1.5) (xid={xid:#x}):");
    let used: u32 = r.maps.iter().map(|m| u32::from(m.len)).sum();
    let _ = writeln!(o, " max option space={} max fields={}", r.max_option_space, r.max_fields);
    let _ = writeln!(o, " allocated option space={used}\n");
    write_table(&mut o, &r.maps);
    o.push('\n');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(class: u16, ty: u8, len: u8, index: u16) -> TlvMap {
        TlvMap { class, ty, len, index }
    }

    /// What ovs-ofctl 3.1's add-tlv-map accepted and refused (checked
    /// against a switch; tests/cli_ofctl.rs compares the two live).
    #[test]
    fn reads_mappings_as_ovs_ofctl() {
        let ok = [
            ("{class=0xffff,type=0,len=4}->tun_metadata0", vec![map(0xffff, 0, 4, 0)]),
            ("{class=0x1ffff,type=300,len=+4}->tun_metadata 5", vec![map(0xffff, 44, 4, 5)]),
            ("{class=010,type=0,len=4}->tun_metadata6", vec![map(8, 0, 4, 6)]),
            ("{class=-1,type=0,len=4}->tun_metadata1", vec![map(0xffff, 0, 4, 1)]),
            (",{class=1,type=2,len=8}->tun_metadata2{class=1,type=3,len=8}->tun_metadata3", vec![map(1, 2, 8, 2), map(1, 3, 8, 3)]),
            ("", vec![]),
        ];
        for (text, want) in ok {
            assert_eq!(tlv_maps(text), Ok(want), "{text}");
        }
        for (text, column) in [
            (" {class=1,type=0,len=4}->tun_metadata7", 1),
            ("{class=1, type=0,len=4}->tun_metadata7", 9),
            ("{class=1,type=2,len=4}->tun_metadata9junk", 38),
            ("{class=1,type=3,len=4}->tun_metadata10,,{class=1,type=4,len=4}->tun_metadata11", 40),
            ("{class=1,type=5,len=4}->tun_metadata12,", 40),
            ("{class=0x,type=5,len=4}->tun_metadata12", 8),
        ] {
            assert_eq!(tlv_maps(text).map_err(|e| e.column), Err(column), "{text}");
        }
    }

    #[test]
    fn prints_the_table_as_ovs_ofctl() {
        let r = TlvTableReply { max_option_space: 256, max_fields: 64, maps: vec![map(0xffff, 0, 4, 0), map(0x102, 0x80, 124, 63)] };
        assert_eq!(
            tlv_table_reply(2, &r),
            "NXT_TLV_TABLE_REPLY (OF1.5) (xid=0x2):\n max option space=256 max fields=64\n allocated option space=128\n\n mapping table:\n  class  type  length  match field\n ------  ----  ------  --------------\n 0xffff     0       4  tun_metadata0\n  0x102  0x80     124  tun_metadata63\n"
        );
    }
}
