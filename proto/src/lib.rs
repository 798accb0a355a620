//! Sans-IO wire formats for podflow: OpenFlow 1.5 (binary and `ovs-ofctl`
//! flow text) and OVSDB (RFC 7047 JSON-RPC).
//!
//! This crate only turns bytes into typed values and back. It must never do
//! I/O: no sockets, no files, no clocks, no global state. Everything that
//! needs time or a connection lives in the `podflow` crate.

pub mod error;
pub mod openflow;
pub mod oracle;
pub mod ovsdb;
pub mod wire;

pub use error::{DecodeError, EncodeError};
