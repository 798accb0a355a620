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
    #[error("{0}")]
    Malformed(String),
    /// The server answered and refused the request; nothing was committed.
    #[error("{0}")]
    Refused(String),
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

impl Error {
    /// The transaction was refused by the server (safe to retry after a
    /// change) rather than lost.
    pub fn is_refused(&self) -> bool {
        matches!(self, Error::Refused(_))
    }
}

impl From<OvsdbError> for Error {
    fn from(e: OvsdbError) -> Error {
        Error::Malformed(e.to_string())
    }
}
impl From<FrameError> for Error {
    fn from(e: FrameError) -> Error {
        Error::Malformed(format!("ovsdb-server sent invalid data: {e}"))
    }
}
impl From<crate::dial::AddrError> for Error {
    fn from(e: crate::dial::AddrError) -> Error {
        Error::Caller(e.to_string())
    }
}
impl From<TransactError> for Error {
    fn from(e: TransactError) -> Error {
        Error::Refused(e.to_string())
    }
}
impl From<RpcError> for Error {
    fn from(e: RpcError) -> Error {
        Error::Refused(format!("OVSDB refused the request: {e}"))
    }
}
