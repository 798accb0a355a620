//! A bounded reader and a small writer for big-endian binary structures.
//!
//! OpenFlow nests length-prefixed structures (OXM fields, actions,
//! instructions, properties). [`Reader::sub`] carves out a child reader that
//! can never read past its parent, and [`Reader::finish`] rejects bytes left
//! over, so every decoder states exactly what it consumed.

use crate::error::DecodeError;
use bytes::{BufMut, BytesMut};

/// A cursor over a byte slice that fails instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The unread part, without consuming it.
    pub fn peek_rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::MissingData { what, needed: n - self.remaining() });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// A child reader over the next `n` bytes.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
        Ok(Reader::new(self.take(n, what)?))
    }

    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.take(n, what).map(|_| ())
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let b = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// Peek a big-endian u16 at `offset` from the cursor without consuming.
    pub fn peek_u16(&self, offset: usize, what: &'static str) -> Result<u16, DecodeError> {
        let rest = self.peek_rest();
        if rest.len() < offset + 2 {
            return Err(DecodeError::MissingData { what, needed: offset + 2 - rest.len() });
        }
        Ok(u16::from_be_bytes([rest[offset], rest[offset + 1]]))
    }

    /// Fails if anything is left unread.
    pub fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingData { what, count }),
        }
    }

    /// Consumes padding up to the next multiple of `align` from the start of
    /// this reader; padding bytes are ignored (peers do not always zero them).
    pub fn align(&mut self, align: usize, what: &'static str) -> Result<(), DecodeError> {
        let pad = padding(self.pos, align);
        self.skip(pad.min(self.remaining()), what)
    }
}

/// Bytes needed to pad `len` up to a multiple of `align`.
/// How many length-prefixed units `b` holds, for sizing a `Vec` before
/// decoding them (a dump decodes millions: growing each `Vec` by doubling
/// was a tenth of its decoding time). `unit_len` reads one unit's whole
/// length from its start; counting stops at a length it cannot read or
/// that is zero, and the decoder then reports what is wrong. Only a hint:
/// capped so that hostile lengths cannot make it allocate much.
pub fn count_units(b: &[u8], unit_len: impl Fn(&[u8]) -> Option<usize>) -> usize {
    let (mut n, mut at) = (0, 0);
    while at < b.len() && n < 4096 {
        match unit_len(&b[at..]) {
            Some(len) if len > 0 => {
                at += len;
                n += 1;
            }
            _ => break,
        }
    }
    n
}

/// [`count_units`] for units whose big-endian 16-bit length (of the whole
/// unit) is at byte offset `at` (actions, instructions: 2; flow stats: 0).
pub fn count_len16_units(b: &[u8], at: usize) -> usize {
    count_units(b, |u| u.get(at..at + 2).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))))
}

pub fn padding(len: usize, align: usize) -> usize {
    (align - len % align) % align
}

/// Writes a placeholder u16 length and returns its offset, for [`patch_len16`].
pub fn put_len16_placeholder(out: &mut BytesMut) -> usize {
    let at = out.len();
    out.put_u16(0);
    at
}

/// Stores `value` as a big-endian u16 at `at`.
pub fn patch_u16(out: &mut BytesMut, at: usize, value: u16) {
    out[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// Stores the length of everything from `start` to the end, at `at`.
pub fn patch_len16(
    out: &mut BytesMut,
    at: usize,
    start: usize,
    what: &'static str,
) -> Result<(), crate::EncodeError> {
    let len = out.len() - start;
    let v = u16::try_from(len).map_err(|_| crate::EncodeError::TooLong { what, len })?;
    patch_u16(out, at, v);
    Ok(())
}

/// Appends zero bytes so that the data written since `start` is a multiple of `align`.
pub fn pad_to(out: &mut BytesMut, start: usize, align: usize) {
    let n = padding(out.len() - start, align);
    out.put_bytes(0, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_reader_cannot_read_past_parent() {
        let data = [0u8, 1, 2, 3, 4];
        let mut r = Reader::new(&data);
        let mut s = r.sub(2, "child").unwrap();
        assert_eq!(s.u16("x").unwrap(), 1);
        assert!(matches!(s.u8("y"), Err(DecodeError::MissingData { needed: 1, .. })));
        assert_eq!(r.remaining(), 3);
        assert!(matches!(r.finish("p"), Err(DecodeError::TrailingData { count: 3, .. })));
    }
}
