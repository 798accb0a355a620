//! GROUP_MOD (OpenFlow 1.5 layout with bucket ids).

use super::action::Action;
use crate::error::{DecodeError, EncodeError};
use crate::wire::{patch_len16, patch_u16, Reader};
use bytes::{BufMut, BytesMut};

pub mod command {
    pub const ADD: u16 = 0;
    pub const MODIFY: u16 = 1;
    pub const DELETE: u16 = 2;
    pub const INSERT_BUCKET: u16 = 3;
    pub const REMOVE_BUCKET: u16 = 5;
}

pub mod group_type {
    pub const ALL: u8 = 0;
    pub const SELECT: u8 = 1;
    pub const INDIRECT: u8 = 2;
    pub const FF: u8 = 3;
}

/// `OFPG_BUCKET_ALL`.
pub const BUCKET_ALL: u32 = 0xffff_fffd;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bucket {
    pub bucket_id: u32,
    pub actions: Vec<Action>,
    /// Bucket properties (weight, watch_port, …) as raw `(type, body)`.
    pub properties: Vec<(u16, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupMod {
    pub command: u16,
    pub group_type: u8,
    pub group_id: u32,
    pub command_bucket_id: u32,
    pub buckets: Vec<Bucket>,
    pub properties: Vec<(u16, Vec<u8>)>,
}

impl GroupMod {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        out.put_u16(self.command);
        out.put_u8(self.group_type);
        out.put_u8(0);
        out.put_u32(self.group_id);
        let at = out.len();
        out.put_u16(0);
        out.put_u16(0);
        out.put_u32(self.command_bucket_id);
        let b0 = out.len();
        for b in &self.buckets {
            let start = out.len();
            out.put_u16(0);
            out.put_u16(0);
            out.put_u32(b.bucket_id);
            let a0 = out.len();
            Action::encode_list(&b.actions, out)?;
            let alen = out.len() - a0;
            patch_u16(out, start + 2, u16::try_from(alen).map_err(|_| EncodeError::TooLong { what: "bucket actions", len: alen })?);
            for (ty, body) in &b.properties {
                super::port::encode_prop(out, *ty, body)?;
            }
            patch_len16(out, start, start, "bucket")?;
        }
        let blen = out.len() - b0;
        patch_u16(out, at, u16::try_from(blen).map_err(|_| EncodeError::TooLong { what: "buckets", len: blen })?);
        for (ty, body) in &self.properties {
            super::port::encode_prop(out, *ty, body)?;
        }
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let command = r.u16("group_mod")?;
        let group_type = r.u8("group_mod")?;
        r.skip(1, "group_mod")?;
        let group_id = r.u32("group_mod")?;
        let blen = r.u16("group_mod")? as usize;
        r.skip(2, "group_mod")?;
        let command_bucket_id = r.u32("group_mod")?;
        let mut bs = r.sub(blen, "group_mod buckets")?;
        let mut buckets = Vec::new();
        while !bs.is_empty() {
            let len = bs.u16("bucket")? as usize;
            let alen = bs.u16("bucket")? as usize;
            if len < 8 || alen > len - 8 {
                return Err(DecodeError::BadLength { what: "bucket", len, why: "shorter than its header and actions" });
            }
            let bucket_id = bs.u32("bucket")?;
            let mut rest = bs.sub(len - 8, "bucket")?;
            let mut a = rest.sub(alen, "bucket actions")?;
            let actions = Action::decode_list(&mut a)?;
            let properties = super::port::decode_props(&mut rest, "bucket property")?;
            buckets.push(Bucket { bucket_id, actions, properties });
        }
        let properties = super::port::decode_props(r, "group property")?;
        Ok(GroupMod { command, group_type, group_id, command_bucket_id, buckets, properties })
    }
}
