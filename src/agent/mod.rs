//! The pod network agent: what podflow decides (pods, rounds, the
//! flow-restore-wait gate). It never touches a socket directly: it drives
//! the OpenFlow session and the OVSDB client.

pub mod gate;
pub mod pipeline;
pub mod store;
