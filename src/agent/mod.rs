//! The pod network agent: what podflow decides (pods, rounds, the
//! flow-restore-wait gate). It never touches a socket directly: it drives
//! the OpenFlow session, the OVSDB client and the host through the traits
//! in [`backend`].

pub mod backend;
pub mod daemon;
pub mod db;
pub mod gate;
pub mod host;
pub mod instance;
pub mod metrics;
pub mod round;
pub mod runtime;
pub mod store;
pub mod switch;
