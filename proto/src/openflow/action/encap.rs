//! Wire forms of `encap(...)` and `decap(...)` (NXAST_ENCAP/DECAP) with
//! the NSH properties Open vSwitch 3.1 knows (`md_type`, `tlv`). Only
//! bytes here; the text lives in `text::ext_actions`.

use bytes::{BufMut, BytesMut};

use super::put_nx_header;
use crate::error::{DecodeError, EncodeError};
use crate::wire::Reader;

pub const NXAST_ENCAP: u16 = 46;
pub const NXAST_DECAP: u16 = 47;

/// Property class of the NSH encap properties (OFPPPC_NSH).
const PROP_CLASS_NSH: u16 = 4;
const PROP_NSH_MDTYPE: u8 = 1;
const PROP_NSH_TLV: u8 = 2;

/// `decap()`'s default: take the next protocol from the removed header.
pub const PT_USE_NEXT_PROTO: u32 = 0xfffe;

/// An encap property.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EdProp {
    NshMdType(u8),
    NshTlv { class: u16, ty: u8, data: Vec<u8> },
}

/// `encap(HEADER[(PROPS)])`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Encap {
    /// Header size in bytes, 0 for "not specified" (what ovs-ofctl sends).
    pub hdr_size: u16,
    /// The packet type of the result: (namespace << 16) | type.
    pub packet_type: u32,
    pub props: Vec<EdProp>,
}

pub(super) fn encode_encap(e: &Encap, out: &mut BytesMut) -> Result<(), EncodeError> {
    put_nx_header(out, NXAST_ENCAP);
    out.put_u16(e.hdr_size);
    out.put_u32(e.packet_type);
    for p in &e.props {
        match p {
            EdProp::NshMdType(t) => {
                out.put_u16(PROP_CLASS_NSH);
                out.put_u8(PROP_NSH_MDTYPE);
                out.put_u8(5);
                out.put_u8(*t);
                out.put_bytes(0, 3);
            }
            EdProp::NshTlv { class, ty, data } => {
                let padded = data.len().div_ceil(8) * 8;
                let len = u8::try_from(8 + padded)
                    .map_err(|_| EncodeError::TooLong { what: "encap tlv property", len: data.len() })?;
                out.put_u16(PROP_CLASS_NSH);
                out.put_u8(PROP_NSH_TLV);
                out.put_u8(len);
                out.put_u16(*class);
                out.put_u8(*ty);
                out.put_u8(data.len() as u8);
                out.put_slice(data);
                out.put_bytes(0, padded - data.len());
            }
        }
    }
    Ok(())
}

pub(super) fn decode_encap(a: &mut Reader<'_>) -> Result<Encap, DecodeError> {
    let hdr_size = a.u16("encap")?;
    let packet_type = a.u32("encap")?;
    let mut props = Vec::new();
    while a.remaining() >= 4 {
        let class = a.u16("encap property")?;
        let ty = a.u8("encap property")?;
        let len = usize::from(a.u8("encap property")?);
        if class != PROP_CLASS_NSH || len < 4 {
            return Err(DecodeError::Unsupported { what: "encap property", detail: format!("class {class} type {ty}") });
        }
        let mut p = a.sub(len.div_ceil(8) * 8 - 4, "encap property")?;
        props.push(match ty {
            PROP_NSH_MDTYPE => EdProp::NshMdType(p.u8("md_type")?),
            PROP_NSH_TLV => {
                let class = p.u16("tlv")?;
                let ty = p.u8("tlv")?;
                let n = usize::from(p.u8("tlv")?);
                EdProp::NshTlv { class, ty, data: p.take(n, "tlv value")?.to_vec() }
            }
            _ => return Err(DecodeError::Unsupported { what: "encap property", detail: format!("NSH type {ty}") }),
        });
    }
    a.rest();
    Ok(Encap { hdr_size, packet_type, props })
}

pub(super) fn encode_decap(packet_type: u32, out: &mut BytesMut) {
    put_nx_header(out, NXAST_DECAP);
    out.put_u16(0);
    out.put_u32(packet_type);
}

pub(super) fn decode_decap(a: &mut Reader<'_>) -> Result<u32, DecodeError> {
    a.skip(2, "decap")?;
    a.u32("decap")
}
