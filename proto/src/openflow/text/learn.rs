//! `learn(...)` in both directions, as `ovs-ofctl` reads and prints it:
//! the keywords (`table`, timeouts, `priority`, `cookie`, flags, `limit`,
//! `result_dst`) and every spec form (`FIELD[]`, `DST[]=SRC[]`,
//! `FIELD=VALUE`, `DST[A..B]=0xN`, `load:SRC->DST`, `load:0xN->DST`,
//! `output:SRC`). Prerequisites of the learned flow are the switch's to
//! check when it installs the flow.

use std::fmt::Write as _;

use super::actions::writable;
use super::lex::*;
use super::print;
use super::value::*;
use crate::openflow::action::{learn_flags, Action, Learn, LearnDst, LearnSpec, LearnSrc, Subfield};
use crate::openflow::oxm::{fields, OxmId};
use crate::openflow::port::PortNo;

/// The 16-bit `NXM_OF_IN_PORT`, which `learn` uses for `in_port`.
const NXM_OF_IN_PORT: OxmId = OxmId::new(0, 0);

/// A subfield in a learn spec: as elsewhere, except that `in_port` and
/// `NXM_OF_IN_PORT` name Open vSwitch's 16-bit in_port.
fn learn_subfield(s: &str) -> R<Subfield> {
    for name in ["NXM_OF_IN_PORT", "in_port"] {
        if let Some(rest) = s.strip_prefix(name).filter(|r| r.is_empty() || r.starts_with('[')) {
            // `in_port` subfields are 16 bits wide (`OXM_OF_IN_PORT` ones 32).
            let sf = subfield(&format!("in_port{rest}")).map_err(|_| E {
                at: addr(s),
                expected: "a subfield of in_port (16 bits)".into(),
                found: s.into(),
            })?;
            return Ok(Subfield { field: NXM_OF_IN_PORT, ..sf });
        }
    }
    subfield(s)
}

/// Width in bits of a subfield's whole field, as Open vSwitch counts it.
fn field_bits(id: OxmId) -> u32 {
    if id == NXM_OF_IN_PORT {
        16
    } else if id == fields::IN_PORT {
        32
    } else {
        id.action_def().map_or(0, subfield_width)
    }
}

/// `value` right-aligned in the 2 × ⌈n_bits/16⌉ bytes a spec carries.
fn imm_bytes(value: &[u8], n_bits: u16) -> Vec<u8> {
    let len = 2 * usize::from(n_bits).div_ceil(16);
    let mut out = vec![0; len];
    let take = value.len().min(len);
    out[len - take..].copy_from_slice(&value[value.len() - take..]);
    out
}

/// Parses the inside of `learn(...)`.
pub(super) fn parse_learn(value: &str) -> R<Action> {
    let mut l = Learn::default();
    for kv in kvs(value)? {
        let Kv { key, value: v, .. } = kv;
        match key {
            "table" => {
                l.table_id = num(v, "a table number (0 to 254)")?;
                if l.table_id == 255 {
                    return fail(v, "a table number (0 to 254; 255 is not valid for learn)");
                }
            }
            "priority" => l.priority = num(v, "a priority (0 to 65535)")?,
            "idle_timeout" => l.idle_timeout = num(v, "an idle timeout (0 to 65535)")?,
            "hard_timeout" => l.hard_timeout = num(v, "a hard timeout (0 to 65535)")?,
            "fin_idle_timeout" => l.fin_idle_timeout = num(v, "a timeout (0 to 65535)")?,
            "fin_hard_timeout" => l.fin_hard_timeout = num(v, "a timeout (0 to 65535)")?,
            "cookie" => l.cookie = num(v, "a 64-bit cookie")?,
            "send_flow_rem" => l.flags |= learn_flags::SEND_FLOW_REM,
            "delete_learned" => l.flags |= learn_flags::DELETE_LEARNED,
            "limit" => l.limit = num(v, "a limit (0 to 4294967295)")?,
            "result_dst" => {
                let sf = subfield(v)?;
                if !writable(sf.field) {
                    return fail(v, "a writable field for result_dst");
                }
                l.result_dst = Some(Subfield { n_bits: 1, ..sf });
            }
            "load" => l.specs.push(load_spec(v)?),
            "output" => {
                let sf = learn_subfield(v)?;
                l.specs.push(LearnSpec { n_bits: sf.n_bits, src: LearnSrc::Field(sf), dst: LearnDst::Output });
            }
            _ => l.specs.push(match_spec(key, v)?),
        }
    }
    Ok(Action::Learn(Box::new(l)))
}

/// `load:SRC[]->DST[]` or `load:VALUE->DST[]`.
fn load_spec(v: &str) -> R<LearnSpec> {
    let Some((src, dst)) = v.split_once("->") else {
        return fail(v, "SRC->DST after load");
    };
    let dst_sf = learn_subfield(dst)?;
    if let Some(x) = int_all(src) {
        if !fits(x, u32::from(dst_sf.n_bits)) {
            return fail(src, format!("a value that fits into {} bits", dst_sf.n_bits));
        }
        let n = dst_sf.n_bits;
        return Ok(LearnSpec { n_bits: n, src: LearnSrc::Imm(imm_bytes(&x.to_be_bytes(), n)), dst: LearnDst::Load(dst_sf) });
    }
    let src_sf = learn_subfield(src)?;
    if src_sf.n_bits != dst_sf.n_bits {
        return fail(dst, format!("a destination as wide as the source ({} bits)", src_sf.n_bits));
    }
    Ok(LearnSpec { n_bits: src_sf.n_bits, src: LearnSrc::Field(src_sf), dst: LearnDst::Load(dst_sf) })
}

/// `DST[]`, `DST[]=SRC[]`, `FIELD=VALUE` or `DST[A..B]=VALUE`.
fn match_spec(key: &str, v: &str) -> R<LearnSpec> {
    let dst = learn_subfield(key)?;
    let n = dst.n_bits;
    if v.is_empty() {
        return Ok(LearnSpec { n_bits: n, src: LearnSrc::Field(dst), dst: LearnDst::Match(dst) });
    }
    if let Ok(src) = learn_subfield(v) {
        if src.n_bits != n {
            return fail(v, format!("a source as wide as {key} ({n} bits)"));
        }
        return Ok(LearnSpec { n_bits: n, src: LearnSrc::Field(src), dst: LearnDst::Match(dst) });
    }
    let full = dst.ofs == 0 && u32::from(n) == field_bits(dst.field);
    let bytes = match dst.field.def() {
        // The 16-bit in_port takes a port, as the 32-bit one does.
        None if full && dst.field == NXM_OF_IN_PORT => match port_value(v)?.to_of10() {
            Some(p) => p.to_be_bytes().to_vec(),
            None => return fail(v, "a port that fits OpenFlow 1.0 numbering"),
        },
        Some(d) if full => {
            let (val, mask) = field_value(d, v)?;
            if mask.is_some() {
                return fail(v, format!("an unmasked value for {key}"));
            }
            val
        }
        _ => match int_all(v) {
            Some(x) if fits(x, u32::from(n)) => x.to_be_bytes().to_vec(),
            _ => return fail(v, format!("a subfield or an integer that fits into {n} bits")),
        },
    };
    Ok(LearnSpec { n_bits: n, src: LearnSrc::Imm(imm_bytes(&bytes, n)), dst: LearnDst::Match(dst) })
}

/// `ds_put_hex`: `0x` and the bytes without leading zeros, or `0`.
fn put_hex(s: &mut String, b: &[u8]) {
    match b.iter().position(|&x| x != 0) {
        None => s.push('0'),
        Some(i) => {
            let _ = write!(s, "0x{:x}", b[i]);
            for x in &b[i + 1..] {
                let _ = write!(s, "{x:02x}");
            }
        }
    }
}

/// Prints `learn(...)` as `ovs-ofctl` does.
pub(super) fn format_learn(s: &mut String, l: &Learn) {
    let _ = write!(s, "learn(table={}", l.table_id);
    for (name, v) in [("idle_timeout", l.idle_timeout), ("hard_timeout", l.hard_timeout)] {
        if v != 0 {
            let _ = write!(s, ",{name}={v}");
        }
    }
    for (name, v) in [("fin_idle_timeout", l.fin_idle_timeout), ("fin_hard_timeout", l.fin_hard_timeout)] {
        if v != 0 {
            let _ = write!(s, ",{name}={v}");
        }
    }
    if l.priority != 0x8000 {
        let _ = write!(s, ",priority={}", l.priority);
    }
    if l.flags & learn_flags::SEND_FLOW_REM != 0 {
        s.push_str(",send_flow_rem");
    }
    if l.flags & learn_flags::DELETE_LEARNED != 0 {
        s.push_str(",delete_learned");
    }
    if l.cookie != 0 {
        let _ = write!(s, ",cookie={:#x}", l.cookie);
    }
    if l.limit != 0 {
        let _ = write!(s, ",limit={}", l.limit);
    }
    if let Some(r) = &l.result_dst {
        s.push_str(",result_dst=");
        print::write_subfield(s, r);
    }
    for spec in &l.specs {
        s.push(',');
        format_spec(s, spec);
    }
    s.push(')');
}

fn format_spec(s: &mut String, spec: &LearnSpec) {
    let n_bytes = usize::from(spec.n_bits).div_ceil(8);
    fn low(b: &[u8], n: usize) -> &[u8] {
        &b[b.len().saturating_sub(n)..]
    }
    let imm = |b| low(b, n_bytes);
    match (&spec.src, spec.dst) {
        (LearnSrc::Imm(b), LearnDst::Match(dst)) => {
            let full = dst.ofs == 0 && u32::from(dst.n_bits) == field_bits(dst.field);
            // Open vSwitch's two in_ports: `in_port` (16 bits) and
            // `in_port_oxm` (32), each a port number.
            let port = |b: &[u8]| b.iter().fold(0u32, |a, &x| a << 8 | u32::from(x));
            if full && dst.field == NXM_OF_IN_PORT {
                s.push_str("in_port=");
                print::write_port16(s, port(imm(b)) as u16);
                return;
            }
            if full && dst.field == fields::IN_PORT {
                s.push_str("in_port_oxm=");
                print::write_port(s, PortNo(port(imm(b))));
                return;
            }
            match dst.field.def() {
                // The value right-aligned in the field's width, as `mf_format` takes it.
                Some(d) if full && d.len <= 16 => {
                    let mut v = [0u8; 16];
                    let bytes = imm(b);
                    let take = bytes.len().min(d.len);
                    v[d.len - take..d.len].copy_from_slice(&bytes[bytes.len() - take..]);
                    s.push_str(d.name);
                    s.push('=');
                    print::write_field_bytes(s, dst.field, &v[..d.len], None);
                }
                Some(d) if full => {
                    let mut v = vec![0; d.len];
                    let bytes = imm(b);
                    let take = bytes.len().min(d.len);
                    v[d.len - take..].copy_from_slice(&bytes[bytes.len() - take..]);
                    s.push_str(d.name);
                    s.push('=');
                    print::write_field_bytes(s, dst.field, &v, None);
                }
                _ => {
                    print::write_subfield(s, &dst);
                    s.push('=');
                    put_hex(s, imm(b));
                }
            }
        }
        (LearnSrc::Field(src), LearnDst::Match(dst)) => {
            print::write_subfield(s, &dst);
            if src.field != dst.field || src.ofs != dst.ofs {
                s.push('=');
                print::write_subfield(s, src);
            }
        }
        (LearnSrc::Imm(b), LearnDst::Load(dst)) => {
            s.push_str("load:");
            put_hex(s, imm(b));
            s.push_str("->");
            print::write_subfield(s, &dst);
        }
        (LearnSrc::Field(src), LearnDst::Load(dst)) => {
            s.push_str("load:");
            print::write_subfield(s, src);
            s.push_str("->");
            print::write_subfield(s, &dst);
        }
        (LearnSrc::Field(src), LearnDst::Output) => {
            s.push_str("output:");
            print::write_subfield(s, src);
        }
        (LearnSrc::Imm(_), LearnDst::Output) => s.push_str("output:<immediate>"),
    }
}
