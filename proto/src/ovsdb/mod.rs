//! OVSDB (RFC 7047): JSON-RPC framing, data model, operations, monitors.
//!
//! Owns the OVSDB wire format and the pure logic of a monitored replica.
//! It must never do I/O, keep time, or know what podflow does with a row.
//!
//! - [`framer`]: bytes → complete JSON texts (streaming, size-capped).
//! - [`jsonrpc`]: requests, responses, notifications, error objects.
//! - [`datum`]: atoms, sets, maps, UUIDs.
//! - [`ops`]: typed builders for every `transact` operation and its results.
//! - [`monitor`]: `monitor`/`monitor_cond`/`monitor_cond_since` requests,
//!   `update`/`update2`/`update3` notifications, and the replica they update.

pub mod datum;
pub mod framer;
pub mod jsonrpc;
pub mod monitor;
pub mod ops;

pub use datum::{Atom, Datum, Uuid};
pub use framer::{FrameError, Framer};
pub use jsonrpc::{Message, RpcError};
pub use monitor::{Replica, Row, Schema, Table, TableUpdates};
pub use ops::{Condition, Mutation, OpResult, Operation};

/// Input from an OVSDB peer that does not have the shape RFC 7047 requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OvsdbError {
    #[error("malformed {what} from OVSDB peer: {detail}")]
    Malformed { what: &'static str, detail: String },
}

impl OvsdbError {
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> Self {
        OvsdbError::Malformed { what, detail: detail.into() }
    }
}
