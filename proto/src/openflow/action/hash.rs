//! Wire forms of the hashing actions: `bundle`/`bundle_load` (choose a
//! member port) and `multipath` (choose a link number into a subfield).
//! Only bytes here; the text lives in `text::ext_actions`.

use bytes::{BufMut, BytesMut};

use super::{check_subfield, decode_ofs_nbits, put_nx_header, put_nxm_header, read_field_id, Subfield};
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;

pub const NXAST_MULTIPATH: u16 = 10;
pub const NXAST_BUNDLE: u16 = 12;
pub const NXAST_BUNDLE_LOAD: u16 = 13;

/// The NXM header of the 16-bit in_port, the only member type.
const MEMBER_TYPE_IN_PORT: u32 = 0x0000_0002;

/// `bundle(...)` (no `dst`) or `bundle_load(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bundle {
    /// NX_BD_ALG_*: 0 active_backup, 1 hrw.
    pub algorithm: u16,
    /// NX_HASH_FIELDS_*.
    pub fields: u16,
    pub basis: u16,
    pub dst: Option<Subfield>,
    /// OpenFlow 1.0 port numbers.
    pub members: Vec<u16>,
}

/// `multipath(...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Multipath {
    pub fields: u16,
    pub basis: u16,
    /// NX_MP_ALG_*: 0 modulo_n, 1 hash_threshold, 2 hrw, 3 iter_hash.
    pub algorithm: u16,
    pub max_link: u16,
    pub arg: u32,
    pub dst: Subfield,
}

fn ofs_nbits(sf: &Subfield) -> u16 {
    (sf.ofs << 6) | (sf.n_bits.wrapping_sub(1) & 0x3f)
}

pub(super) fn encode_bundle(b: &Bundle, out: &mut BytesMut) -> Result<(), EncodeError> {
    put_nx_header(out, if b.dst.is_some() { NXAST_BUNDLE_LOAD } else { NXAST_BUNDLE });
    out.put_u16(b.algorithm);
    out.put_u16(b.fields);
    out.put_u16(b.basis);
    out.put_u32(MEMBER_TYPE_IN_PORT);
    let n = u16::try_from(b.members.len()).map_err(|_| EncodeError::TooLong { what: "bundle members", len: b.members.len() })?;
    out.put_u16(n);
    match &b.dst {
        Some(d) => {
            out.put_u16(ofs_nbits(d));
            put_nxm_header(out, d.field)?;
        }
        None => {
            out.put_u16(0);
            out.put_u32(0);
        }
    }
    out.put_u32(0);
    b.members.iter().for_each(|m| out.put_u16(*m));
    Ok(())
}

pub(super) fn decode_bundle(subtype: u16, a: &mut Reader<'_>) -> Result<Bundle, DecodeError> {
    let algorithm = a.u16("bundle")?;
    let fields = a.u16("bundle")?;
    let basis = a.u16("bundle")?;
    if a.u32("bundle")? != MEMBER_TYPE_IN_PORT {
        return Err(DecodeError::invalid("bundle", "member type other than in_port"));
    }
    let n = a.u16("bundle")?;
    let (ofs, n_bits) = decode_ofs_nbits(a.u16("bundle")?);
    let dst = if subtype == NXAST_BUNDLE_LOAD {
        let sf = Subfield { field: read_field_id(a)?, ofs, n_bits };
        check_subfield(&sf, "bundle_load destination")?;
        Some(sf)
    } else {
        a.skip(4, "bundle")?;
        None
    };
    a.skip(4, "bundle")?;
    let members = (0..n).map(|_| a.u16("bundle member")).collect::<Result<Vec<_>, _>>()?;
    a.rest();
    Ok(Bundle { algorithm, fields, basis, dst, members })
}

pub(super) fn encode_multipath(m: &Multipath, out: &mut BytesMut) -> Result<(), EncodeError> {
    put_nx_header(out, NXAST_MULTIPATH);
    out.put_u16(m.fields);
    out.put_u16(m.basis);
    out.put_u16(0);
    out.put_u16(m.algorithm);
    out.put_u16(m.max_link);
    out.put_u32(m.arg);
    out.put_u16(0);
    out.put_u16(ofs_nbits(&m.dst));
    put_nxm_header(out, m.dst.field)
}

pub(super) fn decode_multipath(a: &mut Reader<'_>) -> Result<Multipath, DecodeError> {
    let fields = a.u16("multipath")?;
    let basis = a.u16("multipath")?;
    a.skip(2, "multipath")?;
    let algorithm = a.u16("multipath")?;
    let max_link = a.u16("multipath")?;
    let arg = a.u32("multipath")?;
    a.skip(2, "multipath")?;
    let (ofs, n_bits) = decode_ofs_nbits(a.u16("multipath")?);
    let dst = Subfield { field: read_field_id(a)?, ofs, n_bits };
    check_subfield(&dst, "multipath destination")?;
    Ok(Multipath { fields, basis, algorithm, max_link, arg, dst })
}
