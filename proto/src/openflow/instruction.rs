//! Instructions (`ofp_instruction`): what a flow does with its actions.

use super::action::Action;
use crate::error::{DecodeError, EncodeError};
use crate::wire::{patch_len16, Reader};
use bytes::{BufMut, BytesMut};

pub mod types {
    pub const GOTO_TABLE: u16 = 1;
    pub const WRITE_METADATA: u16 = 2;
    pub const WRITE_ACTIONS: u16 = 3;
    pub const APPLY_ACTIONS: u16 = 4;
    pub const CLEAR_ACTIONS: u16 = 5;
    /// Deprecated in OpenFlow 1.5 (the METER action replaces it) but still decoded.
    pub const METER: u16 = 6;
    pub const EXPERIMENTER: u16 = 0xffff;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Instruction {
    GotoTable(u8),
    WriteMetadata { metadata: u64, mask: u64 },
    WriteActions(Vec<Action>),
    ApplyActions(Vec<Action>),
    ClearActions,
    Meter(u32),
    /// An instruction we do not decode; `body` follows type and length.
    Unknown { ty: u16, body: Vec<u8> },
}

impl Instruction {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        let ty = match self {
            Instruction::GotoTable(_) => types::GOTO_TABLE,
            Instruction::WriteMetadata { .. } => types::WRITE_METADATA,
            Instruction::WriteActions(_) => types::WRITE_ACTIONS,
            Instruction::ApplyActions(_) => types::APPLY_ACTIONS,
            Instruction::ClearActions => types::CLEAR_ACTIONS,
            Instruction::Meter(_) => types::METER,
            Instruction::Unknown { ty, .. } => *ty,
        };
        out.put_u16(ty);
        out.put_u16(0); // length, patched below
        match self {
            Instruction::GotoTable(t) => {
                out.put_u8(*t);
                out.put_bytes(0, 3);
            }
            Instruction::WriteMetadata { metadata, mask } => {
                out.put_bytes(0, 4);
                out.put_u64(*metadata);
                out.put_u64(*mask);
            }
            Instruction::WriteActions(a) | Instruction::ApplyActions(a) => {
                out.put_bytes(0, 4);
                Action::encode_list(a, out)?;
            }
            Instruction::ClearActions => out.put_bytes(0, 4),
            Instruction::Meter(m) => out.put_u32(*m),
            Instruction::Unknown { body, .. } => {
                out.put_slice(body);
                crate::wire::pad_to(out, start, 8);
            }
        }
        patch_len16(out, start + 2, start, "instruction")
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let ty = r.peek_u16(0, "instruction header")?;
        let len = r.peek_u16(2, "instruction header")? as usize;
        if len < 8 || !len.is_multiple_of(8) {
            return Err(DecodeError::BadLength { what: "instruction", len, why: "must be a multiple of 8, at least 8" });
        }
        let mut b = r.sub(len, "instruction")?;
        b.skip(4, "instruction header")?;
        let i = match ty {
            types::GOTO_TABLE => {
                let t = b.u8("goto_table")?;
                b.skip(3, "goto_table")?;
                Instruction::GotoTable(t)
            }
            types::WRITE_METADATA => {
                b.skip(4, "write_metadata")?;
                Instruction::WriteMetadata { metadata: b.u64("write_metadata")?, mask: b.u64("write_metadata")? }
            }
            types::WRITE_ACTIONS | types::APPLY_ACTIONS => {
                b.skip(4, "instruction")?;
                let a = Action::decode_list(&mut b)?;
                if ty == types::WRITE_ACTIONS {
                    Instruction::WriteActions(a)
                } else {
                    Instruction::ApplyActions(a)
                }
            }
            types::CLEAR_ACTIONS => {
                b.skip(4, "clear_actions")?;
                Instruction::ClearActions
            }
            types::METER => Instruction::Meter(b.u32("meter")?),
            _ => Instruction::Unknown { ty, body: b.rest().to_vec() },
        };
        b.finish("instruction")?;
        Ok(i)
    }

    pub fn encode_list(list: &[Instruction], out: &mut BytesMut) -> Result<(), EncodeError> {
        list.iter().try_for_each(|i| i.encode(out))
    }

    pub fn decode_list(r: &mut Reader<'_>) -> Result<Vec<Instruction>, DecodeError> {
        let mut v = Vec::with_capacity(crate::wire::count_len16_units(r.peek_rest(), 2));
        while !r.is_empty() {
            v.push(Instruction::decode(r)?);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::port::PortNo;

    #[test]
    fn round_trips() {
        let list = vec![
            Instruction::Meter(3),
            Instruction::ApplyActions(vec![Action::output(PortNo(1))]),
            Instruction::ClearActions,
            Instruction::WriteActions(vec![Action::output(PortNo(3))]),
            Instruction::WriteMetadata { metadata: 5, mask: 0xff },
            Instruction::GotoTable(10),
            Instruction::Unknown { ty: 7, body: vec![1, 2, 3, 4] },
        ];
        let mut b = BytesMut::new();
        Instruction::encode_list(&list, &mut b).unwrap();
        let d = Instruction::decode_list(&mut Reader::new(&b)).unwrap();
        assert_eq!(d, list);
    }
}
