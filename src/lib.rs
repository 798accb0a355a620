//! podflow: an Open vSwitch agent for Kubernetes nodes.
//!
//! Layers, top to bottom (arrows only point down):
//! - [`cli`]: the `podflow` command line; thin, parses arguments and prints.
//! - [`openflow`] and [`ovsdb`]: async sessions to `ovs-vswitchd` and
//!   `ovsdb-server` (sockets, time, reconnects; no pods), both reaching
//!   their daemon through [`dial`] (one address type, one reconnect policy).
//! - [`peers`]: the other nodes (sources: file, Kubernetes).
//! - [`host`]: netlink (links, veths, namespaces, addresses, routes) and
//!   [`probe`]: the ARP prober; both can act inside a named netns.
//! - `podflow_proto`: sans-IO wire formats.
//!
//! [`sandbox`] runs a private Open vSwitch for tests and [`demo`].

pub mod agent;
pub mod api;
pub mod cli;
pub mod cni;
pub mod crossnode;
pub mod demo;
pub mod dial;
pub mod egress;
pub mod host;
pub mod openflow;
pub mod peers;
pub mod ovsdb;
pub mod pipeline;
pub mod probe;
pub mod sandbox;
pub mod state;
pub mod uplink;

pub use podflow_proto as proto;
