//! Async OpenFlow 1.5 session to `ovs-vswitchd` (tokio): connecting and
//! the handshake ([`conn`]), the ordered reader, xid table, deadlines and
//! echo ([`core`] decides, [`session`] drives), bundle transactions
//! ([`bundle`]) and the reconnect supervisor ([`supervisor`]). Addresses
//! and reconnect timing are shared with OVSDB in [`crate::dial`].
//!
//! This layer knows sockets and time but no pods: it never builds flows
//! and never decides what to replay after a reconnect (it only says that
//! one happened, and whether the switch is a new process).

pub mod bundle;
pub mod conn;
pub mod core;
pub mod error;
pub mod session;
pub mod supervisor;

pub use crate::dial::{Addr, Backoff, RetryPolicy};
pub use conn::RawPart;
pub use core::Timing;
pub use error::{BundleError, Malformed, MessageError, OfError};
pub use bundle::BundleStream;
pub use session::{MultipartStream, Session, SessionConfig, SwitchEvent};
pub use supervisor::{Continuity, LinkState, Marker, Supervisor, SupervisorConfig, Connection};
