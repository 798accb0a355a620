//! Async OVSDB client (tokio) and the typed Open_vSwitch operations built on
//! it.
//!
//! Owns sockets, deadlines, reconnects and the live replica of the monitored
//! tables. It must never hold knowledge of pods or flows, and never decides
//! *when* flow-restore-wait is cleared (the agent's gate does).
//!
//! - [`client`]: one connection task: `transact`, monitor + replica, echo,
//!   inactivity probe, reconnect ([`crate::dial`]) and full resync.
//! - [`vswitch`]: bridges, ports, flow-restore-wait, `next_cfg`/`cur_cfg`.

pub mod client;
pub mod vswitch;

pub use crate::dial::{Addr, RetryPolicy};
pub use client::{Address, Client, Options, Snapshot};
pub use podflow_proto::ovsdb as proto;

use podflow_proto::ovsdb::{ops::TransactError, FrameError, OvsdbError, RpcError};

/// Why an OVSDB call failed, by origin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The peer sent something that is not valid OVSDB JSON-RPC.
    #[error(transparent)]
    Malformed(#[from] Malformed),
    /// The server answered and refused the request; nothing was committed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The request was not sent: there is no connection.
    #[error("OVSDB is not connected: {0}")]
    Disconnected(String),
    /// The request was sent but the connection dropped before the reply:
    /// the transaction may or may not have committed.
    #[error("OVSDB connection lost before the reply ({0}); the transaction may or may not have committed")]
    OutcomeUnknown(String),
    /// No answer in time. For a transaction the outcome is unknown.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The caller asked for something impossible.
    #[error("{0}")]
    Caller(String),
}

/// What was wrong with what the peer sent; the decoder's error is kept.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Malformed {
    /// Not JSON, or a frame past the size limit.
    #[error("ovsdb-server sent invalid data: {0}")]
    Frame(#[from] FrameError),
    /// JSON, but not the shape RFC 7047 requires.
    #[error(transparent)]
    Message(#[from] OvsdbError),
    #[error("OVSDB sent a response to unknown request id {0}")]
    UnknownId(String),
    #[error("OVSDB answered the monitor before get_schema")]
    MonitorBeforeSchema,
    #[error("OVSDB did not return Open_vSwitch next_cfg")]
    NoNextCfg,
}

/// Why the server (or ovs-vswitchd, through it) refused; its error is kept.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    /// A transaction's operations were not committed.
    #[error(transparent)]
    Transaction(#[from] TransactError),
    /// A JSON-RPC error answer.
    #[error("OVSDB refused the request: {0}")]
    Rpc(#[from] RpcError),
    /// A JSON-RPC error answer to one of the client's own methods.
    #[error("OVSDB refused {method}: {source}")]
    Method { method: String, source: RpcError },
    #[error("OVSDB canceled our monitor")]
    MonitorCanceled,
    /// ovs-vswitchd wrote an error to the interface's `error` column.
    #[error("ovs-vswitchd could not add interface {name}: {error}")]
    Interface { name: String, error: String },
    #[error("the Open_vSwitch table has no row (run `ovs-vsctl init`)")]
    NoRootRow,
    #[error("flow-restore-wait was still set after removing it")]
    KeyStillSet,
}

impl Error {
    /// The transaction was refused by the server (safe to retry after a
    /// change) rather than lost.
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Refused(_))
    }
}

impl From<OvsdbError> for Error {
    fn from(e: OvsdbError) -> Error {
        Error::Malformed(Malformed::Message(e))
    }
}
impl From<FrameError> for Error {
    fn from(e: FrameError) -> Error {
        Error::Malformed(Malformed::Frame(e))
    }
}
impl From<crate::dial::AddrError> for Error {
    fn from(e: crate::dial::AddrError) -> Error {
        Error::Caller(e.to_string())
    }
}
impl From<TransactError> for Error {
    fn from(e: TransactError) -> Error {
        Error::Refused(Refusal::Transaction(e))
    }
}
impl From<RpcError> for Error {
    fn from(e: RpcError) -> Error {
        Error::Refused(Refusal::Rpc(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_keep_their_cause_and_their_sentence() {
        let e = Error::from(FrameError::Garbage { byte: b'x', offset: 7 });
        assert!(matches!(&e, Error::Malformed(Malformed::Frame(FrameError::Garbage { offset: 7, .. }))), "{e:?}");
        assert_eq!(e.to_string(), "ovsdb-server sent invalid data: OVSDB stream is not JSON-RPC: unexpected byte 0x78 at stream offset 7");
        assert!(std::error::Error::source(&e).is_some(), "the frame error is the cause");
        let rpc = RpcError { error: "unknown database".into(), details: Some("Foo".into()) };
        let e = Error::from(Refusal::Method { method: "get_schema for Foo".into(), source: rpc.clone() });
        assert!(matches!(&e, Error::Refused(Refusal::Method { source, .. }) if *source == rpc));
        assert_eq!(e.to_string(), "OVSDB refused get_schema for Foo: unknown database: Foo");
        assert!(e.is_refused());
    }
}
