//! `encap(...)` and `decap(...)` in both directions, as `ovs-ofctl` reads
//! and prints them, and what they do to the packet type that later
//! actions are checked against.

use std::fmt::Write as _;

use super::actions::Ctx;
use super::lex::*;
use crate::openflow::action::{Action, EdProp, Encap, PT_USE_NEXT_PROTO};

/// Encap headers: (name, packet type).
const HEADERS: &[(&str, u32)] =
    &[("ethernet", 0), ("nsh", 0x1_894f), ("mpls", 0x1_8847), ("mpls_mc", 0x1_8848)];

/// After an action leaves the packet with `packet_type`, later actions
/// see its Ethertype (namespace 1) or an Ethernet frame (type (0,0)).
fn set_packet_type(ctx: &mut Ctx, packet_type: u32) {
    ctx.ethernet = packet_type == 0;
    ctx.dl_type = (packet_type >> 16 == 1).then_some(packet_type as u16);
}

/// `encap(ethernet)`, `encap(nsh(md_type=1,tlv(CLASS,TYPE,0xHEX)))`, …
pub(super) fn parse_encap(value: &str, ctx: &mut Ctx) -> R<Action> {
    let Some(kv) = kvs(value)?.into_iter().next() else {
        return fail_found(value, "an encap header (ethernet, nsh, mpls, mpls_mc)", "nothing");
    };
    let Some(&(_, packet_type)) = HEADERS.iter().find(|(n, _)| *n == kv.key) else {
        return fail_found(kv.key, "an encap header (ethernet, nsh, mpls, mpls_mc)", kv.key);
    };
    let mut props = Vec::new();
    for p in kvs(kv.value)? {
        if kv.key != "nsh" {
            return fail_found(p.key, format!("no properties for encap({})", kv.key), p.key);
        }
        props.push(match p.key {
            "md_type" => match int_all(p.value) {
                Some(t @ 1..=2) => EdProp::NshMdType(t as u8),
                _ => return fail(p.value, "md_type 1 or 2"),
            },
            "tlv" => nsh_tlv(p.value)?,
            _ => return fail_found(p.key, "md_type= or tlv(...) in encap(nsh(...))", p.key),
        });
    }
    set_packet_type(ctx, packet_type);
    Ok(Action::Encap(Box::new(Encap { hdr_size: 0, packet_type, props })))
}

/// `tlv(0xCLASS,TYPE,0xVALUE)`, read as Open vSwitch reads it: the class in
/// hex, the type in decimal, then up to 251 hex digits taken in pairs (an
/// odd last digit and anything after the digits are ignored).
fn nsh_tlv(v: &str) -> R<EdProp> {
    let mut parts = v.splitn(3, ',');
    let (Some(c), Some(t), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return fail(v, "tlv(0xCLASS,TYPE,0xVALUE)");
    };
    let class = c.trim().strip_prefix("0x").and_then(|h| u16::from_str_radix(h, 16).ok());
    let Some(class) = class else { return fail(c, "a TLV class 0xHEX (0x0 to 0xffff)") };
    let ty = t.trim();
    if !ty.bytes().all(|b| b.is_ascii_digit()) {
        return fail(t, "a TLV type in decimal (0 to 255)");
    }
    let ty = num(ty, "a TLV type in decimal (0 to 255)")?;
    let digits = d.trim_start().strip_prefix("0x").map(|h| &h[..h.bytes().take_while(u8::is_ascii_hexdigit).count().min(251)]);
    let Some(digits) = digits.filter(|h| !h.is_empty()) else { return fail(d, "a TLV value 0xHEX") };
    let data = hex_bytes(&digits[..digits.len() & !1])?;
    Ok(EdProp::NshTlv { class, ty, data })
}

/// `decap()` or `decap(packet_type(ns=N,type=T))`.
pub(super) fn parse_decap(value: &str, ctx: &mut Ctx) -> R<Action> {
    let mut packet_type = PT_USE_NEXT_PROTO;
    if let Some(kv) = kvs(value)?.into_iter().next() {
        if kv.key != "packet_type" {
            return fail_found(kv.key, "packet_type(ns=N,type=T) in decap(...)", kv.key);
        }
        let f = kvs(kv.value)?;
        let (Some(ns), Some(ty)) = (f.first().filter(|k| k.key == "ns"), f.get(1).filter(|k| k.key == "type")) else {
            return fail(kv.value, "ns=N,type=T");
        };
        let ns: u32 = num(ns.value, "a namespace (0 or 1)")?;
        if ns > 1 {
            return fail(kv.value, "namespace 0 (OpenFlow) or 1 (Ethertype)");
        }
        packet_type = (ns << 16) | u32::from(num::<u16>(ty.value, "a type (0 to 65535)")?);
    }
    set_packet_type(ctx, packet_type);
    Ok(Action::Decap(packet_type))
}

pub(super) fn format_encap(s: &mut String, e: &Encap) {
    let name = HEADERS.iter().find(|(_, t)| *t == e.packet_type).map_or("UNKNOWN", |(n, _)| *n);
    s.push_str("encap(");
    s.push_str(name);
    if !e.props.is_empty() {
        s.push('(');
        for (i, p) in e.props.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            match p {
                EdProp::NshMdType(t) => {
                    let _ = write!(s, "md_type={t}");
                }
                EdProp::NshTlv { class, ty, data } => {
                    let _ = write!(s, "tlv(0x{class:04x},{ty},");
                    match data.iter().position(|&b| b != 0) {
                        None => s.push('0'),
                        Some(i) => {
                            let _ = write!(s, "0x{:x}", data[i]);
                            data[i + 1..].iter().for_each(|b| {
                                let _ = write!(s, "{b:02x}");
                            });
                        }
                    }
                    s.push(')');
                }
            }
        }
        s.push(')');
    }
    s.push(')');
}

pub(super) fn format_decap(s: &mut String, packet_type: u32) {
    if packet_type == PT_USE_NEXT_PROTO {
        s.push_str("decap()");
        return;
    }
    let _ = write!(s, "decap(packet_type(ns={},type=", packet_type >> 16);
    let ty = packet_type & 0xffff;
    if ty == 0 {
        s.push('0');
    } else {
        let _ = write!(s, "{ty:#x}");
    }
    s.push_str("))");
}

#[cfg(test)]
mod tests {
    use crate::openflow::text::parse;

    #[test]
    fn nsh_tlv_values_are_0x_and_hex_as_in_open_vswitch() {
        // What `ovs-ofctl parse-flow` 3.1 prints for each value.
        for (value, printed) in [("0x0", "0"), ("0x1", "0"), ("0x0000", "0"), ("0x01", "0x1"), ("0x123", "0x12"), ("0x12zz", "0x12"), ("0x12.34", "0x12")] {
            let fm = parse::flow(&format!("actions=encap(nsh(md_type=2,tlv(0x1000,10,{value})))")).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(crate::openflow::text::print::flow_mod(&fm), format!("actions=encap(nsh(md_type=2,tlv(0x1000,10,{printed})))"), "{value}");
        }
        // ovs-ofctl: "Invalid NSH TLV header" for each.
        for bad in ["tlv(0x1000,10,0x)", "tlv(0x1000,10,0)", "tlv(0x1000,10,01)", "tlv(0x1000,10,0xzz)", "tlv(4096,10,0x01)", "tlv(0x1000,0x10,0x01)"] {
            assert!(parse::flow(&format!("actions=encap(nsh(md_type=2,{bad}))")).is_err(), "{bad}");
        }
    }
}
