//! OXS flow statistics (OpenFlow 1.5 `ofp_stats`): duration, idle time,
//! flow/packet/byte counts as TLVs, used in flow desc, aggregate and
//! flow-removed messages.

use crate::error::{DecodeError, EncodeError};
use crate::wire::{pad_to, patch_len16, Reader};
use bytes::{BufMut, BytesMut};

/// `OFPXSC_OPENFLOW_BASIC`.
pub const OXS_CLASS_BASIC: u16 = 0x8002;

pub mod field {
    pub const DURATION: u8 = 0;
    pub const IDLE_TIME: u8 = 1;
    pub const FLOW_COUNT: u8 = 3;
    pub const PACKET_COUNT: u8 = 4;
    pub const BYTE_COUNT: u8 = 5;
}

/// A duration as OpenFlow carries it: seconds and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Duration {
    pub sec: u32,
    pub nsec: u32,
}

/// Decoded statistics; absent fields are `None`. Unknown OXS fields are kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Stats {
    pub duration: Option<Duration>,
    pub idle_time: Option<Duration>,
    pub flow_count: Option<u32>,
    pub packet_count: Option<u64>,
    pub byte_count: Option<u64>,
    /// Unknown fields: (class, field, value).
    pub other: Vec<(u16, u8, Vec<u8>)>,
}

fn put_hdr(out: &mut BytesMut, f: u8, len: u8) {
    out.put_u16(OXS_CLASS_BASIC);
    out.put_u8(f << 1);
    out.put_u8(len);
}

fn dur(d: Duration) -> u64 {
    ((d.sec as u64) << 32) | d.nsec as u64
}

impl Stats {
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let start = out.len();
        out.put_u16(0);
        out.put_u16(0);
        if let Some(d) = self.duration {
            put_hdr(out, field::DURATION, 8);
            out.put_u64(dur(d));
        }
        if let Some(d) = self.idle_time {
            put_hdr(out, field::IDLE_TIME, 8);
            out.put_u64(dur(d));
        }
        if let Some(c) = self.flow_count {
            put_hdr(out, field::FLOW_COUNT, 4);
            out.put_u32(c);
        }
        if let Some(c) = self.packet_count {
            put_hdr(out, field::PACKET_COUNT, 8);
            out.put_u64(c);
        }
        if let Some(c) = self.byte_count {
            put_hdr(out, field::BYTE_COUNT, 8);
            out.put_u64(c);
        }
        for (class, f, v) in &self.other {
            out.put_u16(*class);
            out.put_u8(f << 1);
            out.put_u8(u8::try_from(v.len()).map_err(|_| EncodeError::TooLong { what: "OXS field", len: v.len() })?);
            out.put_slice(v);
        }
        patch_len16(out, start + 2, start, "stats")?;
        pad_to(out, start, 8);
        Ok(())
    }

    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.skip(2, "stats")?;
        let len = r.u16("stats")? as usize;
        if len < 4 {
            return Err(DecodeError::BadLength { what: "stats", len, why: "shorter than its 4-byte header" });
        }
        let mut b = r.sub(len - 4, "stats")?;
        let mut s = Stats::default();
        while !b.is_empty() {
            let class = b.u16("OXS field")?;
            let f = b.u8("OXS field")? >> 1;
            let l = b.u8("OXS field")? as usize;
            let mut v = b.sub(l, "OXS value")?;
            let known = class == OXS_CLASS_BASIC;
            let bad = || DecodeError::BadLength { what: "OXS field", len: l, why: "wrong size for its type" };
            match (known, f) {
                (true, field::DURATION | field::IDLE_TIME) => {
                    if l != 8 {
                        return Err(bad());
                    }
                    let d = Duration { sec: v.u32("duration")?, nsec: v.u32("duration")? };
                    if f == field::DURATION {
                        s.duration = Some(d)
                    } else {
                        s.idle_time = Some(d)
                    }
                }
                (true, field::FLOW_COUNT) => {
                    if l != 4 {
                        return Err(bad());
                    }
                    s.flow_count = Some(v.u32("flow_count")?)
                }
                (true, field::PACKET_COUNT | field::BYTE_COUNT) => {
                    if l != 8 {
                        return Err(bad());
                    }
                    let c = v.u64("count")?;
                    if f == field::PACKET_COUNT {
                        s.packet_count = Some(c)
                    } else {
                        s.byte_count = Some(c)
                    }
                }
                _ => s.other.push((class, f, v.rest().to_vec())),
            }
        }
        r.skip(crate::wire::padding(len, 8).min(r.remaining()), "stats padding")?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let s = Stats {
            duration: Some(Duration { sec: 3, nsec: 5 }),
            idle_time: Some(Duration { sec: 1, nsec: 0 }),
            flow_count: Some(9),
            packet_count: Some(10),
            byte_count: Some(1000),
            other: vec![(0x8002, 9, vec![1, 2])],
        };
        let mut b = BytesMut::new();
        s.encode(&mut b).unwrap();
        assert_eq!(b.len() % 8, 0);
        let mut r = Reader::new(&b);
        assert_eq!(Stats::decode(&mut r).unwrap(), s);
        assert!(r.is_empty());
    }
}
