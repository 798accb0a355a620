//! Streaming JSON-RPC framer: splits a byte stream into complete top-level
//! JSON values (objects or arrays), scanning every byte exactly once and
//! keeping string, escape and depth state across reads.
//!
//! It owns only bracket/string bookkeeping; it never interprets a message
//! (that is `jsonrpc`) and never reads from a socket (the caller pushes bytes).

use thiserror::Error;

/// Default size cap for one message: 64 MiB (a full Open_vSwitch dump for
/// 10,000 ports is well below 32 MiB).
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// Why the byte stream cannot be framed. The stream is unusable afterwards:
/// the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// One message grew past the configured cap.
    #[error("OVSDB message exceeds the size cap of {max} bytes")]
    TooLarge { max: usize },
    /// A byte that cannot start or continue a JSON-RPC message.
    #[error("OVSDB stream is not JSON-RPC: unexpected byte {byte:#04x} at stream offset {offset}")]
    Garbage { byte: u8, offset: u64 },
}

/// Incremental framer. Push bytes with [`Framer::push`], then call
/// [`Framer::next_frame`] until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the message being scanned (index into `buf`).
    start: usize,
    /// Next byte to scan (index into `buf`).
    pos: usize,
    depth: usize,
    in_string: bool,
    escape: bool,
    max: usize,
    /// Stream offset of `buf[0]` (for error messages).
    base: u64,
    failed: Option<FrameError>,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new(DEFAULT_MAX_FRAME)
    }
}

impl Framer {
    /// A framer that refuses messages longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            start: 0,
            pos: 0,
            depth: 0,
            in_string: false,
            escape: false,
            max: max_frame.max(2),
            base: 0,
            failed: None,
        }
    }

    /// Appends bytes read from the peer.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Returns the next complete message, `Ok(None)` when more bytes are
    /// needed, or the error that made the stream unusable (sticky).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            if self.depth == 0 {
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => {
                        self.pos += 1;
                        self.start = self.pos;
                        continue;
                    }
                    b'{' | b'[' => {
                        self.start = self.pos;
                        self.depth = 1;
                    }
                    _ => return Err(self.fail(FrameError::Garbage { byte: b, offset: self.base + self.pos as u64 })),
                }
            } else if self.pos - self.start >= self.max {
                return Err(self.fail(FrameError::TooLarge { max: self.max }));
            } else if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth -= 1;
                        if self.depth == 0 {
                            let end = self.pos + 1;
                            let frame = self.buf[self.start..end].to_vec();
                            self.pos = end;
                            self.start = end;
                            return Ok(Some(frame));
                        }
                    }
                    _ => {}
                }
            }
            self.pos += 1;
        }
        // Everything scanned: drop what was already returned or skipped.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.base += self.start as u64;
            self.pos -= self.start;
            self.start = 0;
        }
        Ok(None)
    }

    fn fail(&mut self, e: FrameError) -> FrameError {
        self.failed = Some(e.clone());
        self.buf = Vec::new();
        self.start = 0;
        self.pos = 0;
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(f: &mut Framer, input: &[u8]) -> Vec<String> {
        f.push(input);
        let mut out = vec![];
        while let Some(m) = f.next_frame().unwrap() {
            out.push(String::from_utf8(m).unwrap());
        }
        out
    }

    #[test]
    fn two_messages_in_one_read() {
        let mut f = Framer::default();
        assert_eq!(frames(&mut f, br#"{"a":1} [2,{"b":[]}]"#), vec![r#"{"a":1}"#, r#"[2,{"b":[]}]"#]);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn split_anywhere_with_escapes_braces_and_non_ascii() {
        let msg = r#"{"s":"q\"}{[\\","t":"ü€😀 ]}","u":["\\\"","{"]}"#.as_bytes();
        for cut in 0..msg.len() {
            let mut f = Framer::default();
            let mut got = frames(&mut f, &msg[..cut]);
            got.extend(frames(&mut f, &msg[cut..]));
            assert_eq!(got, vec![std::str::from_utf8(msg).unwrap()], "cut at {cut}");
            serde_json::from_str::<serde_json::Value>(&got[0]).unwrap();
        }
    }

    #[test]
    fn size_cap_is_a_clear_sticky_error() {
        let mut f = Framer::new(16);
        f.push(br#"{"a":"0123456789abcdef"}"#);
        let e = f.next_frame().unwrap_err();
        assert_eq!(e, FrameError::TooLarge { max: 16 });
        assert!(e.to_string().contains("size cap of 16 bytes"));
        assert_eq!(f.next_frame().unwrap_err(), e);
    }

    #[test]
    fn exactly_at_cap_is_accepted() {
        let mut f = Framer::new(7);
        assert_eq!(frames(&mut f, br#"{"a":1}"#), vec![r#"{"a":1}"#]);
    }

    #[test]
    fn garbage_is_reported_with_offset() {
        let mut f = Framer::default();
        f.push(b"{}\nHTTP/1.1 200");
        assert_eq!(f.next_frame().unwrap(), Some(b"{}".to_vec()));
        let e = f.next_frame().unwrap_err();
        assert_eq!(e, FrameError::Garbage { byte: b'H', offset: 3 });
        let mut f = Framer::default();
        f.push(b"]");
        assert!(matches!(f.next_frame(), Err(FrameError::Garbage { byte: b']', .. })));
    }
}
