//! Parsing the Open vSwitch actions beyond podflow's own pipeline:
//! `output` to a subfield or truncated, `pop_queue`, `exit`,
//! `fin_timeout`, `clone`, the field stack (`push`/`pop`) and MPLS
//! (`push_mpls`, `pop_mpls`, `set_mpls_*`, `dec_mpls_ttl`). Checks follow
//! `ovs-ofctl`'s; the switch checks again when it installs the flow.

use super::actions::{check_dst, check_src, need, output_port, parse_actions, port16, set_field_action, Ctx, Item, Outer};
use super::encap::{parse_decap, parse_encap};
use super::hash_actions::{parse_bundle, parse_multipath};
use super::learn::parse_learn;
use super::lex::*;
use super::value::*;
use crate::openflow::action::{Action, Sample, CONTROLLER_MAX_LEN_NO_BUFFER};
use crate::openflow::oxm::field_by_name;
use crate::openflow::port::PortNo;

const MPLS: u16 = 0x8847;
const MPLS_MCAST: u16 = 0x8848;

/// The actions of this module; `None` when `lkey` is none of them.
pub(super) fn ext_action(kv: Kv<'_>, lkey: &str, ctx: &mut Ctx, outer: Outer) -> R<Option<Item>> {
    let Kv { key, value, delim } = kv;
    let act = match lkey {
        // As ovs-ofctl: `output(...)` is the truncating form only when it
        // names both keys; otherwise the parentheses hold a port.
        "output" if delim == Some('(') && value.contains("port") && value.contains("max_len") => output_trunc(value)?,
        "output" => {
            need(&kv, "a port (output:PORT)")?;
            output(value, ctx)?
        }
        "pop_queue" | "exit" | "dec_nsh_ttl" if !value.is_empty() => {
            return fail(value, format!("nothing after {key}"))
        }
        "pop_queue" => Action::PopQueue,
        "exit" => Action::Exit,
        "dec_nsh_ttl" => Action::DecNshTtl,
        "fin_timeout" => fin_timeout(value)?,
        "delete_field" => {
            need(&kv, "a field (delete_field:tun_metadata0)")?;
            match field_by_name(value) {
                Some(d) if d.variable_len() => Action::DeleteField(d.id),
                Some(_) => return fail(value, "a tun_metadata field (only those can be deleted)"),
                None => return fail_found(value, "a field name", value),
            }
        }
        "learn" => parse_learn(value)?,
        "sample" => sample(value)?,
        "bundle" | "bundle_load" => parse_bundle(lkey == "bundle_load", value, ctx, outer)?,
        "multipath" => parse_multipath(value, ctx, outer)?,
        "encap" => parse_encap(value, ctx)?,
        "decap" => parse_decap(value, ctx)?,
        "check_pkt_larger" => {
            // The lexer keeps `LEN)->DST` together as the value.
            let Some((len, dst)) = value.split_once(")->") else {
                return fail(value, "check_pkt_larger(LEN)->DST");
            };
            let sf = subfield(dst)?;
            if sf.n_bits != 1 {
                return fail(dst, "a 1-bit destination (like NXM_NX_REG0[0])");
            }
            check_dst(ctx, sf.field.action_def().expect("subfield of a known field"), outer, dst)?;
            Action::CheckPktLarger { pkt_len: num(len, "a packet length (0 to 65535)")?, dst: sf }
        }
        "clone" => {
            // What clone's actions change does not outlive the clone.
            let saved = (ctx.has_vlan, ctx.dl_type);
            let inner = parse_actions(value, ctx, outer, false)?;
            (ctx.has_vlan, ctx.dl_type) = saved;
            Action::Clone(inner.into_iter().filter_map(Item::into_action).collect())
        }
        "push" | "pop" => {
            need(&kv, "a subfield (push:NXM_NX_REG0[])")?;
            let sf = subfield(value)?;
            let d = sf.field.action_def().expect("subfield of a known field");
            if lkey == "push" {
                check_src(ctx, d, value)?;
                Action::StackPush(sf)
            } else {
                check_dst(ctx, d, outer, value)?;
                Action::StackPop(sf)
            }
        }
        _ => return mpls_action(kv, lkey, ctx, outer),
    };
    Ok(Some(Item::Act(act)))
}

/// `output:PORT` or `output:SUBFIELD` (the port number is in the field).
fn output(value: &str, ctx: &Ctx) -> R<Action> {
    if let Ok(port) = output_port(value) {
        let max_len = if port == PortNo::CONTROLLER { CONTROLLER_MAX_LEN_NO_BUFFER } else { 0 };
        return Ok(Action::Output { port, max_len });
    }
    let name = value.split('[').next().unwrap_or(value);
    if !value.contains('[') && field_by_name(name).is_none() {
        // Neither a port nor a field: report it as a port.
        output_port(value)?;
    }
    let sf = ofs_nbits_subfield(value)?;
    check_src(ctx, sf.field.action_def().expect("subfield of a known field"), value)?;
    Ok(Action::OutputReg { src: sf, max_len: u16::MAX })
}

/// `output(port=P,max_len=N)`: output at most N bytes of the packet.
fn output_trunc(value: &str) -> R<Action> {
    let (mut port, mut max_len) = (None, None);
    for kv in kvs(value)? {
        match kv.key {
            "port" => {
                let p = port16(kv.value)?;
                if p >= 0xff00 && p != 0xfffe && p != 0xfff8 {
                    return fail(kv.value, "a truncate port (a port number, LOCAL or IN_PORT)");
                }
                port = Some(p);
            }
            "max_len" => {
                let n: u32 = num(kv.value, "a length in bytes")?;
                if n < 14 {
                    return fail(kv.value, "a max_len of at least 14 (an Ethernet header)");
                }
                max_len = Some(n);
            }
            _ => return fail_found(kv.key, "port= or max_len= in output(...)", kv.key),
        }
    }
    match (port, max_len) {
        (Some(port), Some(max_len)) => Ok(Action::OutputTrunc { port, max_len }),
        _ => fail(value, "both port= and max_len= in output(...)"),
    }
}

/// `sample(probability=N,collector_set_id=…,obs_domain_id=…,obs_point_id=…,
/// sampling_port=P,ingress|egress)`.
fn sample(value: &str) -> R<Action> {
    let mut sm = Sample {
        probability: 0,
        collector_set_id: 0,
        obs_domain_id: 0,
        obs_point_id: 0,
        sampling_port: None,
        direction: 0,
    };
    for kv in kvs(value)? {
        let v = kv.value;
        match kv.key {
            "probability" => {
                sm.probability = num(v, "a probability (1 to 65535)")?;
                if sm.probability == 0 {
                    return fail(v, "a non-zero probability");
                }
            }
            "collector_set_id" => sm.collector_set_id = num(v, "a 32-bit id")?,
            "obs_domain_id" => sm.obs_domain_id = num(v, "a 32-bit id")?,
            "obs_point_id" => sm.obs_point_id = num(v, "a 32-bit id")?,
            "sampling_port" => sm.sampling_port = Some(port16(v)?),
            "ingress" => sm.direction = 1,
            "egress" => sm.direction = 2,
            _ => return fail_found(kv.key, "a sample keyword (probability, collector_set_id, …)", kv.key),
        }
    }
    if sm.probability == 0 {
        return fail(value, "a non-zero probability= in sample(...)");
    }
    Ok(Action::Sample(sm))
}

/// `fin_timeout(idle_timeout=N,hard_timeout=M)`.
fn fin_timeout(value: &str) -> R<Action> {
    let (mut idle, mut hard) = (0, 0);
    for kv in kvs(value)? {
        match kv.key {
            "idle_timeout" => idle = num(kv.value, "an idle timeout (0 to 65535)")?,
            "hard_timeout" => hard = num(kv.value, "a hard timeout (0 to 65535)")?,
            _ => return fail_found(kv.key, "idle_timeout= or hard_timeout= in fin_timeout(...)", kv.key),
        }
    }
    Ok(Action::FinTimeout { idle, hard })
}

/// The MPLS actions. `push_mpls` and `pop_mpls` change the packet's
/// Ethertype for the actions after them, as Open vSwitch tracks it.
fn mpls_action(kv: Kv<'_>, lkey: &str, ctx: &mut Ctx, outer: Outer) -> R<Option<Item>> {
    let Kv { key, value, .. } = kv;
    let is_mpls = |ctx: &Ctx| matches!(ctx.eth(), Some(MPLS | MPLS_MCAST));
    let act = match lkey {
        "push_mpls" => {
            need(&kv, "an Ethertype (push_mpls:0x8847)")?;
            let e: u16 = num(value, "an Ethertype")?;
            if e != MPLS && e != MPLS_MCAST {
                return fail(value, "an MPLS Ethertype (0x8847 or 0x8848)");
            }
            ctx.dl_type = Some(e);
            Action::PushMpls(e)
        }
        "pop_mpls" => {
            need(&kv, "an Ethertype (pop_mpls:0x0800)")?;
            let e: u16 = num(value, "an Ethertype")?;
            if !is_mpls(ctx) {
                return fail_found(key, "an MPLS packet (match mpls or push_mpls first) for pop_mpls", key);
            }
            ctx.dl_type = Some(e);
            Action::PopMpls(e)
        }
        "set_mpls_ttl" | "dec_mpls_ttl" | "set_mpls_label" | "set_mpls_tc" if !is_mpls(ctx) => {
            return fail_found(key, format!("an MPLS packet (match mpls or push_mpls first) for {key}"), key);
        }
        "set_mpls_ttl" => {
            need(&kv, "a TTL")?;
            Action::SetMplsTtl(num(value, "an MPLS TTL (0 to 255)")?)
        }
        "dec_mpls_ttl" => Action::DecMplsTtl,
        "set_mpls_label" | "set_mpls_tc" => {
            need(&kv, "a value")?;
            let d = field_by_name(if lkey == "set_mpls_label" { "mpls_label" } else { "mpls_tc" }).expect("MPLS field");
            let v = match int_all(value) {
                Some(v) if fits(v, d.bits) => v,
                _ => return fail(value, format!("a value of at most {} bits", d.bits)),
            };
            check_dst(ctx, d, outer, key)?;
            set_field_action(d, be(v, d.len), None)
        }
        _ => return Ok(None),
    };
    Ok(Some(Item::Act(act)))
}
