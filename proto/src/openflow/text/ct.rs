//! `ct(...)` with its `exec(...)` actions, and `nat(...)` with its
//! address and port ranges, as `ovs-ofctl` reads them.

use super::super::action::{ct_flags, nat_flags, Action, Ct, CtZone, Nat, NatAddrRange};
use super::actions::*;
use super::lex::*;
use super::value::*;
use nom::branch::alt;
use nom::character::complete::char as nchar;
use nom::combinator::{all_consuming, opt};
use nom::sequence::{pair, preceded};
use nom::IResult;
use std::net::Ipv6Addr;

pub(super) fn parse_ct(value: &str, ctx: &mut Ctx) -> R<Action> {
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
                        check_src(ctx, sf.field.action_def().expect("subfield of a known field"), kv.value)?;
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
                            Action::SetField(_) | Action::Nat(_) | Action::CopyField { .. } => ct.actions.push(a),
                            _ => {
                                return fail(
                                    kv.value,
                                    "only set_field, load or move to ct_mark/ct_label, or nat, inside exec(...)",
                                )
                            }
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

pub(super) fn parse_nat(value: &str) -> R<Nat> {
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
                    // Open vSwitch leaves zero ports and an all-zero address
                    // out of the action (`nat(src=0.0.0.0)` and
                    // `nat(src=[::]:0)` go out as `nat(src)`).
                    nat.proto_min = nat.proto_min.filter(|&p| p != 0);
                    nat.proto_max = nat.proto_max.filter(|&p| p != 0);
                    let unspecified = match nat.addr {
                        Some(NatAddrRange::V4(a, b)) => a.is_unspecified() && b.is_none_or(|b| b.is_unspecified()),
                        Some(NatAddrRange::V6(a, b)) => a.is_unspecified() && b.is_none_or(|b| b.is_unspecified()),
                        None => false,
                    };
                    // What it would then send, its own decoder refuses
                    // (OFPBAC_BAD_ARGUMENT): a last port without a first,
                    // ports without an address.
                    if nat.proto_max.is_some() && nat.proto_min.is_none() {
                        return fail(kv.value, "a port range starting above 0");
                    }
                    if unspecified && nat.proto_min.is_some() {
                        return fail(kv.value, "an address other than 0.0.0.0 or :: along with ports");
                    }
                    if unspecified {
                        nat.addr = None;
                    }
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

pub(super) fn nat_range(s: &str, nat: &mut Nat) -> R<()> {
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
