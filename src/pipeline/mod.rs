//! Flow builders: every flow podflow installs is built here, as pure values
//! (no sockets, no clocks, no state).
//!
//! - [`cookie`]: the one cookie layout, shared by every writer;
//! - [`pod`]: the pod bridge's tables, priorities, base and per-pod flows;
//! - [`service`]: the conntrack tables in front of L3 forwarding that send
//!   replies of connections from the gateway back through it (Services);
//! - [`tunnel`]: Geneve mode: the flows towards each peer's pods and the
//!   classification of what arrives from the tunnel;
//! - [`uplink`]: a secondary (uplink) bridge's forwarding flows.
//!
//! Both the agent and the uplink migration import from here; nothing here
//! imports from them.

pub mod cookie;
pub mod pod;
pub mod service;
pub mod tunnel;
pub mod uplink;

pub use pod::*;
