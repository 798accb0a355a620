//! Errors of the wire layer, split by origin: input that is malformed
//! ([`DecodeError`]) and values a caller asked us to encode that cannot be
//! expressed on the wire ([`EncodeError`]).

use thiserror::Error;

/// Input bytes (from a peer) that could not be decoded.
///
/// Every variant names the structure being decoded, so the message reads as
/// one sentence: "flow_mod match truncated: 4 more bytes needed".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended before a structure was complete.
    #[error("{what} truncated: {needed} more bytes needed")]
    MissingData { what: &'static str, needed: usize },
    /// Bytes were left over inside a structure whose length was known.
    #[error("{what} has {count} unexpected trailing bytes")]
    TrailingData { what: &'static str, count: usize },
    /// A length field is impossible (below the minimum, or past its parent).
    #[error("{what} has invalid length {len}: {why}")]
    BadLength { what: &'static str, len: usize, why: &'static str },
    /// A value is not allowed where it appears.
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    /// Well-formed input that uses something this codec does not implement.
    #[error("unsupported {what}: {detail}")]
    Unsupported { what: &'static str, detail: String },
    /// The OpenFlow header carries another protocol version.
    #[error("OpenFlow version {0:#04x} is not OpenFlow 1.5 (0x06)")]
    BadVersion(u8),
    /// A match field was given without the field it depends on.
    #[error("match field {field} requires {prerequisite}")]
    MissingPrerequisite { field: &'static str, prerequisite: &'static str },
}

impl DecodeError {
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Invalid { what, detail: detail.into() }
    }
}

/// A value handed to an encoder that has no valid wire form (a caller error).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("{what} is too long for its length field ({len} bytes)")]
    TooLong { what: &'static str, len: usize },
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    #[error("match field {field} requires {prerequisite}")]
    MissingPrerequisite { field: &'static str, prerequisite: &'static str },
}
