//! Wire form of Nicira `learn` (NXAST_LEARN, and NXAST_LEARN2 when a
//! `limit` or `result_dst` is set): the fixed part, then flow_mod specs
//! until the end of the action. Only bytes here; the text lives in
//! `text::learn`.

use bytes::{BufMut, BytesMut};

use super::{check_subfield, put_nx_header, put_nxm_header, read_field_id, Subfield};
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;

pub const NXAST_LEARN: u16 = 16;
pub const NXAST_LEARN2: u16 = 45;

/// `learn` flags (NX_LEARN_F_*).
pub mod learn_flags {
    pub const SEND_FLOW_REM: u16 = 1;
    pub const DELETE_LEARNED: u16 = 2;
    pub const WRITE_RESULT: u16 = 4;
}

const SRC_IMMEDIATE: u16 = 1 << 13;
const DST_SHIFT: u16 = 11;
const N_BITS_MASK: u16 = 0x3ff;

/// Where a learned flow's bits come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LearnSrc {
    Field(Subfield),
    /// The value as it travels: right-aligned in 2 × ⌈n_bits/16⌉ bytes.
    Imm(Vec<u8>),
}

/// What a learned flow does with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LearnDst {
    /// A match field of the learned flow.
    Match(Subfield),
    /// A `load` action of the learned flow.
    Load(Subfield),
    /// An `output` action of the learned flow (to the port in the source).
    Output,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LearnSpec {
    pub n_bits: u16,
    pub src: LearnSrc,
    pub dst: LearnDst,
}

/// `learn(...)`: adds or modifies a flow built from the packet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Learn {
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub cookie: u64,
    pub flags: u16,
    pub table_id: u8,
    pub fin_idle_timeout: u16,
    pub fin_hard_timeout: u16,
    pub limit: u32,
    /// The 1-bit subfield `result_dst` writes (flag WRITE_RESULT).
    pub result_dst: Option<Subfield>,
    pub specs: Vec<LearnSpec>,
}

impl Default for Learn {
    fn default() -> Self {
        Learn {
            idle_timeout: 0,
            hard_timeout: 0,
            priority: 0x8000,
            cookie: 0,
            flags: 0,
            table_id: 1,
            fin_idle_timeout: 0,
            fin_hard_timeout: 0,
            limit: 0,
            result_dst: None,
            specs: Vec::new(),
        }
    }
}

/// Encodes the body (after the Nicira header is chosen here); the caller
/// pads and fills in the length.
pub(super) fn encode(l: &Learn, out: &mut BytesMut) -> Result<(), EncodeError> {
    let v2 = l.limit != 0 || l.result_dst.is_some();
    put_nx_header(out, if v2 { NXAST_LEARN2 } else { NXAST_LEARN });
    out.put_u16(l.idle_timeout);
    out.put_u16(l.hard_timeout);
    out.put_u16(l.priority);
    out.put_u64(l.cookie);
    let flags = if l.result_dst.is_some() { l.flags | learn_flags::WRITE_RESULT } else { l.flags };
    out.put_u16(flags);
    out.put_u8(l.table_id);
    out.put_u8(0);
    out.put_u16(l.fin_idle_timeout);
    out.put_u16(l.fin_hard_timeout);
    if v2 {
        out.put_u32(l.limit);
        out.put_u16(l.result_dst.map_or(0, |r| r.ofs));
        out.put_u16(0);
        if let Some(r) = l.result_dst {
            put_nxm_header(out, r.field)?;
        }
    }
    for s in &l.specs {
        let (src_bit, dst_type) = match (&s.src, s.dst) {
            (LearnSrc::Field(_), d) => (0, d),
            (LearnSrc::Imm(_), d) => (SRC_IMMEDIATE, d),
        };
        let dst_code = match dst_type {
            LearnDst::Match(_) => 0,
            LearnDst::Load(_) => 1,
            LearnDst::Output => 2,
        };
        out.put_u16((s.n_bits & N_BITS_MASK) | src_bit | (dst_code << DST_SHIFT));
        match &s.src {
            LearnSrc::Field(sf) => {
                put_nxm_header(out, sf.field)?;
                out.put_u16(sf.ofs);
            }
            LearnSrc::Imm(b) => out.put_slice(b),
        }
        if let LearnDst::Match(sf) | LearnDst::Load(sf) = s.dst {
            put_nxm_header(out, sf.field)?;
            out.put_u16(sf.ofs);
        }
    }
    Ok(())
}

/// Decodes the body after the subtype.
pub(super) fn decode(subtype: u16, a: &mut Reader<'_>) -> Result<Learn, DecodeError> {
    let mut l = Learn {
        idle_timeout: a.u16("learn")?,
        hard_timeout: a.u16("learn")?,
        priority: a.u16("learn")?,
        cookie: a.u64("learn")?,
        flags: a.u16("learn")?,
        table_id: a.u8("learn")?,
        ..Learn::default()
    };
    if a.u8("learn")? != 0 || l.table_id == 0xff {
        return Err(DecodeError::invalid("learn", "table 255 or non-zero padding"));
    }
    l.fin_idle_timeout = a.u16("learn")?;
    l.fin_hard_timeout = a.u16("learn")?;
    if subtype == NXAST_LEARN2 {
        l.limit = a.u32("learn")?;
        let ofs = a.u16("learn")?;
        a.skip(2, "learn")?;
        if l.flags & learn_flags::WRITE_RESULT != 0 {
            l.result_dst = Some(Subfield { field: read_field_id(a)?, ofs, n_bits: 1 });
        }
    }
    l.flags &= !learn_flags::WRITE_RESULT;
    while a.remaining() >= 2 {
        let h = a.u16("learn spec")?;
        if h == 0 {
            break;
        }
        l.specs.push(decode_spec(h, a)?);
    }
    a.rest();
    Ok(l)
}

fn decode_spec(h: u16, a: &mut Reader<'_>) -> Result<LearnSpec, DecodeError> {
    let n_bits = h & N_BITS_MASK;
    let field = |a: &mut Reader<'_>| -> Result<Subfield, DecodeError> {
        let field = read_field_id(a)?;
        let sf = Subfield { field, ofs: a.u16("learn spec")?, n_bits };
        check_subfield(&sf, "learn spec")?;
        Ok(sf)
    };
    let src = if h & SRC_IMMEDIATE != 0 {
        LearnSrc::Imm(a.take(2 * usize::from(n_bits).div_ceil(16), "learn spec")?.to_vec())
    } else {
        LearnSrc::Field(field(a)?)
    };
    let dst = match (h >> DST_SHIFT) & 3 {
        0 => LearnDst::Match(field(a)?),
        1 => LearnDst::Load(field(a)?),
        2 => LearnDst::Output,
        _ => return Err(DecodeError::invalid("learn spec", "unknown destination type 3")),
    };
    if n_bits == 0 || matches!((&src, dst), (LearnSrc::Imm(_), LearnDst::Output)) {
        return Err(DecodeError::invalid("learn spec", "no bits, or an output of an immediate value"));
    }
    Ok(LearnSpec { n_bits, src, dst })
}
