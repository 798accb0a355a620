//! GROUP_MOD and the GROUP_DESC multipart body (OpenFlow 1.5 layouts with
//! bucket ids and bucket properties).

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
    /// Open vSwitch's extension: add, or modify if the group exists.
    pub const ADD_OR_MOD: u16 = 0x8000;
}

/// `ofp15_group_bucket_prop_type`.
pub mod bucket_prop {
    pub const WEIGHT: u16 = 0;
    pub const WATCH_PORT: u16 = 1;
    pub const WATCH_GROUP: u16 = 2;
}

/// `OFPG_MAX`, `OFPG_ALL`, `OFPG_ANY`.
pub const GROUP_MAX: u32 = 0xffff_ff00;
pub const GROUP_ALL: u32 = 0xffff_fffc;
pub const GROUP_ANY: u32 = 0xffff_ffff;
/// `OFPG15_BUCKET_MAX`, `_FIRST`, `_LAST`.
pub const BUCKET_MAX: u32 = 0xffff_ff00;
pub const BUCKET_FIRST: u32 = 0xffff_fffd;
pub const BUCKET_LAST: u32 = 0xffff_fffe;

pub mod group_type {
    pub const ALL: u8 = 0;
    pub const SELECT: u8 = 1;
    pub const INDIRECT: u8 = 2;
    pub const FF: u8 = 3;
}

/// `OFPG15_BUCKET_ALL` (all buckets; in a bucket, "no id given").
pub const BUCKET_ALL: u32 = 0xffff_ffff;

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

impl Bucket {
    fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u16(0);
        out.put_u16(0);
        out.put_u32(self.bucket_id);
        let a0 = out.len();
        Action::encode_list(&self.actions, out)?;
        let alen = out.len() - a0;
        patch_u16(out, start + 2, u16::try_from(alen).map_err(|_| EncodeError::TooLong { what: "bucket actions", len: alen })?);
        for (ty, body) in &self.properties {
            super::port::encode_prop(out, *ty, body)?;
        }
        patch_len16(out, start, start, "bucket")
    }

    fn decode_list(bs: &mut Reader<'_>) -> Result<Vec<Bucket>, DecodeError> {
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
        Ok(buckets)
    }

    /// The bucket's `u32` property `ty` (watch_port, watch_group), or the
    /// `u16` weight.
    pub fn property(&self, ty: u16) -> Option<u32> {
        let (_, b) = self.properties.iter().find(|(t, _)| *t == ty)?;
        match (ty, b.as_slice()) {
            (bucket_prop::WEIGHT, [a, b, ..]) => Some(u32::from(u16::from_be_bytes([*a, *b]))),
            (_, [a, b, c, d, ..]) => Some(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => None,
        }
    }
}

fn encode_buckets(buckets: &[Bucket], out: &mut BytesMut, at: usize) -> Result<(), EncodeError> {
    let b0 = out.len();
    for b in buckets {
        b.encode(out)?;
    }
    let blen = out.len() - b0;
    patch_u16(out, at, u16::try_from(blen).map_err(|_| EncodeError::TooLong { what: "buckets", len: blen })?);
    Ok(())
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
        encode_buckets(&self.buckets, out, at)?;
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
        let buckets = Bucket::decode_list(&mut r.sub(blen, "group_mod buckets")?)?;
        let properties = super::port::decode_props(r, "group property")?;
        Ok(GroupMod { command, group_type, group_id, command_bucket_id, buckets, properties })
    }
}

/// One group of a GROUP_DESC reply (`ofp15_group_desc_stats`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupDesc {
    pub group_type: u8,
    pub group_id: u32,
    pub buckets: Vec<Bucket>,
    pub properties: Vec<(u16, Vec<u8>)>,
}

impl GroupDesc {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u16(0);
        out.put_u8(self.group_type);
        out.put_u8(0);
        out.put_u32(self.group_id);
        let at = out.len();
        out.put_u16(0);
        out.put_bytes(0, 6);
        encode_buckets(&self.buckets, out, at)?;
        for (ty, body) in &self.properties {
            super::port::encode_prop(out, *ty, body)?;
        }
        patch_len16(out, start, start, "group desc")
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.u16("group desc")? as usize;
        if len < 16 {
            return Err(DecodeError::BadLength { what: "group desc", len, why: "shorter than 16 bytes" });
        }
        let mut g = r.sub(len - 2, "group desc")?;
        let group_type = g.u8("group desc")?;
        g.skip(1, "group desc")?;
        let group_id = g.u32("group desc")?;
        let blen = g.u16("group desc")? as usize;
        g.skip(6, "group desc")?;
        let buckets = Bucket::decode_list(&mut g.sub(blen, "group desc buckets")?)?;
        let properties = super::port::decode_props(&mut g, "group property")?;
        Ok(GroupDesc { group_type, group_id, buckets, properties })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::port::PortNo;

    #[test]
    fn group_desc_round_trip() {
        let g = GroupDesc {
            group_type: group_type::SELECT,
            group_id: 7,
            buckets: vec![Bucket {
                bucket_id: 3,
                actions: vec![Action::Output { port: PortNo(1), max_len: 0 }],
                properties: vec![(bucket_prop::WEIGHT, vec![0, 10, 0, 0]), (bucket_prop::WATCH_PORT, vec![0, 0, 0, 2])],
            }],
            properties: vec![],
        };
        let mut b = BytesMut::new();
        g.encode(&mut b).unwrap();
        assert_eq!(b.len() % 8, 0);
        let back = GroupDesc::decode(&mut Reader::new(&b)).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.buckets[0].property(bucket_prop::WEIGHT), Some(10));
        assert_eq!(back.buckets[0].property(bucket_prop::WATCH_PORT), Some(2));
        assert_eq!(back.buckets[0].property(bucket_prop::WATCH_GROUP), None);
        assert!(GroupDesc::decode(&mut Reader::new(&b[..b.len() - 1])).is_err());
    }
}
