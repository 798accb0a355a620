//! Wire forms of the actions beyond podflow's own pipeline that Open
//! vSwitch 3.1 sends and accepts: output to a register or truncated,
//! `pop_queue`, `exit`, `fin_timeout`, `clone`, the field stack, MPLS, and
//! the dispatch to `learn`.
//! Only bytes here; the text forms live in `text::actions` and `print`.

use bytes::{BufMut, BytesMut};

use super::{check_subfield, decode_ofs_nbits, put_nx_header, put_nxm_header, read_field_id, simple32, types, Action, Subfield};
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;

/// Nicira subtypes of the actions in this module.
pub mod nxast {
    pub const POP_QUEUE: u16 = 5;
    pub const OUTPUT_REG: u16 = 15;
    pub const EXIT: u16 = 17;
    pub const FIN_TIMEOUT: u16 = 19;
    pub const STACK_PUSH: u16 = 27;
    pub const STACK_POP: u16 = 28;
    pub const OUTPUT_REG2: u16 = 32;
    pub const OUTPUT_TRUNC: u16 = 39;
    pub const CLONE: u16 = 42;
    pub const SAMPLE: u16 = 29;
    pub const SAMPLE2: u16 = 38;
    pub const SAMPLE3: u16 = 41;
    pub const DEC_NSH_TTL: u16 = 48;
    pub const CHECK_PKT_LARGER: u16 = 49;
    pub const DELETE_FIELD: u16 = 50;
}

/// Encodes the actions of this module; `None` for any other action. The
/// caller pads and fills in the length.
pub(super) fn encode(a: &Action, out: &mut BytesMut) -> Option<Result<(), EncodeError>> {
    Some(match a {
        Action::OutputReg { src, max_len } if src.field.experimenter.is_none() => {
            put_nx_header(out, nxast::OUTPUT_REG);
            out.put_u16(ofs_nbits(src));
            put_nxm_header(out, src.field).map(|()| {
                out.put_u16(*max_len);
                out.put_bytes(0, 6);
            })
        }
        Action::OutputReg { src, max_len } => {
            // Experimenter fields do not fit the 32-bit header of OUTPUT_REG.
            put_nx_header(out, nxast::OUTPUT_REG2);
            out.put_u16(ofs_nbits(src));
            out.put_u16(*max_len);
            put_nxm_header(out, src.field)
        }
        Action::OutputTrunc { port, max_len } => {
            put_nx_header(out, nxast::OUTPUT_TRUNC);
            out.put_u16(*port);
            out.put_u32(*max_len);
            Ok(())
        }
        Action::PopQueue | Action::Exit | Action::DecNshTtl => {
            let sub = match a {
                Action::Exit => nxast::EXIT,
                Action::DecNshTtl => nxast::DEC_NSH_TTL,
                _ => nxast::POP_QUEUE,
            };
            put_nx_header(out, sub);
            out.put_bytes(0, 6);
            Ok(())
        }
        Action::DeleteField(field) => {
            // The field's header, then zeros to 24 bytes (the caller pads).
            put_nx_header(out, nxast::DELETE_FIELD);
            put_nxm_header(out, *field).map(|()| out.put_bytes(0, 6))
        }
        Action::FinTimeout { idle, hard } => {
            put_nx_header(out, nxast::FIN_TIMEOUT);
            out.put_u16(*idle);
            out.put_u16(*hard);
            out.put_u16(0);
            Ok(())
        }
        Action::Clone(list) => {
            put_nx_header(out, nxast::CLONE);
            out.put_bytes(0, 6);
            Action::encode_list(list, out)
        }
        Action::StackPush(sf) | Action::StackPop(sf) => {
            put_nx_header(out, if matches!(a, Action::StackPush(_)) { nxast::STACK_PUSH } else { nxast::STACK_POP });
            out.put_u16(sf.ofs);
            put_nxm_header(out, sf.field).map(|()| {
                out.put_u16(sf.n_bits);
                // The action is 24 bytes whatever the header's size.
                let used = if sf.field.experimenter.is_some() { 22 } else { 18 };
                out.put_bytes(0, 24 - used);
            })
        }
        Action::PushMpls(e) | Action::PopMpls(e) => {
            out.put_u16(if matches!(a, Action::PushMpls(_)) { types::PUSH_MPLS } else { types::POP_MPLS });
            out.put_u16(8);
            out.put_u16(*e);
            out.put_u16(0);
            Ok(())
        }
        Action::SetMplsTtl(t) => {
            simple32(out, types::SET_MPLS_TTL, u32::from(*t) << 24);
            Ok(())
        }
        Action::DecMplsTtl => {
            simple32(out, types::DEC_MPLS_TTL, 0);
            Ok(())
        }
        _ => return encode_more(a, out),
    })
}

/// The rest of [`encode`]: learn, the hashing actions, encap/decap,
/// check_pkt_larger and sample.
fn encode_more(a: &Action, out: &mut BytesMut) -> Option<Result<(), EncodeError>> {
    Some(match a {
        Action::Learn(l) => super::learn::encode(l, out),
        Action::Bundle(b) => super::hash::encode_bundle(b, out),
        Action::Multipath(m) => super::hash::encode_multipath(m, out),
        Action::Encap(e) => super::encap::encode_encap(e, out),
        Action::Decap(pt) => {
            super::encap::encode_decap(*pt, out);
            Ok(())
        }
        Action::CheckPktLarger { pkt_len, dst } => {
            put_nx_header(out, nxast::CHECK_PKT_LARGER);
            out.put_u16(*pkt_len);
            out.put_u16(dst.ofs);
            put_nxm_header(out, dst.field).map(|()| {
                let used = if dst.field.experimenter.is_some() { 22 } else { 18 };
                out.put_bytes(0, 24 - used);
            })
        }
        Action::Sample(sm) => {
            let sub = match (sm.direction, sm.sampling_port) {
                (0, None) => nxast::SAMPLE,
                (0, Some(_)) => nxast::SAMPLE2,
                _ => nxast::SAMPLE3,
            };
            put_nx_header(out, sub);
            out.put_u16(sm.probability);
            out.put_u32(sm.collector_set_id);
            out.put_u32(sm.obs_domain_id);
            out.put_u32(sm.obs_point_id);
            if sub != nxast::SAMPLE {
                out.put_u16(sm.sampling_port.unwrap_or(0xffff));
                out.put_u8(sm.direction);
                out.put_bytes(0, 5);
            }
            Ok(())
        }
        _ => return None,
    })
}

fn ofs_nbits(sf: &Subfield) -> u16 {
    (sf.ofs << 6) | (sf.n_bits.wrapping_sub(1) & 0x3f)
}

/// Decodes the standard (non-experimenter) actions of this module.
pub(super) fn decode_std(ty: u16, a: &mut Reader<'_>) -> Result<Option<Action>, DecodeError> {
    Ok(Some(match ty {
        types::PUSH_MPLS | types::POP_MPLS => {
            let e = a.u16("mpls action")?;
            a.skip(2, "mpls action")?;
            if ty == types::PUSH_MPLS {
                Action::PushMpls(e)
            } else {
                Action::PopMpls(e)
            }
        }
        types::SET_MPLS_TTL => {
            let t = a.u8("set_mpls_ttl")?;
            a.skip(3, "set_mpls_ttl")?;
            Action::SetMplsTtl(t)
        }
        types::DEC_MPLS_TTL => {
            a.skip(4, "dec_mpls_ttl")?;
            Action::DecMplsTtl
        }
        _ => return Ok(None),
    }))
}

/// Decodes the Nicira actions of this module (after the subtype).
pub(super) fn decode_nx(subtype: u16, a: &mut Reader<'_>) -> Result<Option<Action>, DecodeError> {
    Ok(Some(match subtype {
        nxast::OUTPUT_REG | nxast::OUTPUT_REG2 => {
            let (ofs, n_bits) = decode_ofs_nbits(a.u16("output_reg")?);
            let (field, max_len) = if subtype == nxast::OUTPUT_REG {
                let f = read_field_id(a)?;
                (f, a.u16("output_reg")?)
            } else {
                let m = a.u16("output_reg")?;
                (read_field_id(a)?, m)
            };
            a.rest();
            let src = Subfield { field, ofs, n_bits };
            check_subfield(&src, "output_reg source")?;
            Action::OutputReg { src, max_len }
        }
        nxast::OUTPUT_TRUNC => {
            let port = a.u16("output_trunc")?;
            Action::OutputTrunc { port, max_len: a.u32("output_trunc")? }
        }
        nxast::POP_QUEUE | nxast::EXIT | nxast::DEC_NSH_TTL => {
            a.skip(6, "nicira action")?;
            match subtype {
                nxast::EXIT => Action::Exit,
                nxast::DEC_NSH_TTL => Action::DecNshTtl,
                _ => Action::PopQueue,
            }
        }
        nxast::DELETE_FIELD => {
            let field = read_field_id(a)?;
            a.rest();
            Action::DeleteField(field)
        }
        nxast::FIN_TIMEOUT => {
            let idle = a.u16("fin_timeout")?;
            let hard = a.u16("fin_timeout")?;
            a.skip(2, "fin_timeout")?;
            Action::FinTimeout { idle, hard }
        }
        nxast::CLONE => {
            a.skip(6, "clone")?;
            Action::Clone(Action::decode_list(a)?)
        }
        nxast::STACK_PUSH | nxast::STACK_POP => {
            let ofs = a.u16("stack action")?;
            let field = read_field_id(a)?;
            let n_bits = a.u16("stack action")?;
            a.rest();
            let sf = Subfield { field, ofs, n_bits };
            check_subfield(&sf, "stack field")?;
            if subtype == nxast::STACK_PUSH {
                Action::StackPush(sf)
            } else {
                Action::StackPop(sf)
            }
        }
        nxast::CHECK_PKT_LARGER => {
            let pkt_len = a.u16("check_pkt_larger")?;
            let ofs = a.u16("check_pkt_larger")?;
            let dst = Subfield { field: read_field_id(a)?, ofs, n_bits: 1 };
            a.rest();
            check_subfield(&dst, "check_pkt_larger destination")?;
            Action::CheckPktLarger { pkt_len, dst }
        }
        nxast::SAMPLE | nxast::SAMPLE2 | nxast::SAMPLE3 => {
            let mut sm = super::Sample {
                probability: a.u16("sample")?,
                collector_set_id: a.u32("sample")?,
                obs_domain_id: a.u32("sample")?,
                obs_point_id: a.u32("sample")?,
                sampling_port: None,
                direction: 0,
            };
            if subtype != nxast::SAMPLE {
                sm.sampling_port = Some(a.u16("sample")?).filter(|&p| p != 0xffff);
                let d = a.u8("sample")?;
                sm.direction = if subtype == nxast::SAMPLE3 { d } else { 0 };
                a.skip(5, "sample")?;
            }
            Action::Sample(sm)
        }
        super::hash::NXAST_BUNDLE | super::hash::NXAST_BUNDLE_LOAD => {
            Action::Bundle(Box::new(super::hash::decode_bundle(subtype, a)?))
        }
        super::encap::NXAST_ENCAP => Action::Encap(Box::new(super::encap::decode_encap(a)?)),
        super::encap::NXAST_DECAP => Action::Decap(super::encap::decode_decap(a)?),
        super::hash::NXAST_MULTIPATH => Action::Multipath(super::hash::decode_multipath(a)?),
        super::learn::NXAST_LEARN | super::learn::NXAST_LEARN2 => Action::Learn(Box::new(super::learn::decode(subtype, a)?)),
        _ => return Ok(None),
    }))
}
