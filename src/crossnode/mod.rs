//! Cross-node forwarding: what this node needs so that its pods reach the
//! pods of its peers (issue 15).
//!
//! - [`routes`]: the kernel routes a peer snapshot calls for, and the diff
//!   against the routes podflow owns (pure: snapshot in, plan out);
//! - [`driver`]: the thin tokio task that applies that plan through
//!   [`crate::host`] whenever the snapshot changes;
//! - [`tunnels`]: Geneve mode's peers (remote address, pod CIDRs; pure);
//! - [`participant`]: the rounds' peer participant: routes, and in Geneve
//!   mode the peers' flows ([`crate::pipeline::tunnel`]) in one bundle.
//!
//! It owns the routes carrying podflow's protocol id
//! ([`crate::host::routes::RTPROT_PODFLOW`]) and nothing else: a route
//! without that id is foreign and never deleted. It never reads a peer
//! source itself (that is [`crate::peers`]) and never programs the switch.

pub mod driver;
pub mod participant;
pub mod routes;
pub mod tunnels;

use std::fmt;
use std::str::FromStr;

/// How packets to a peer's pods leave this node (`--traffic-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrafficMode {
    /// The node's kernel routes each peer pod CIDR via the peer's node
    /// address; the underlay must carry pod addresses. The default (the
    /// tests and deployments written before Geneve rely on it).
    #[default]
    NoEncap,
    /// Pod packets go through a Geneve tunnel port on the pod bridge to the
    /// peer's node address (`crate::pipeline::tunnel`).
    Geneve,
}

impl fmt::Display for TrafficMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrafficMode::NoEncap => "noencap",
            TrafficMode::Geneve => "geneve",
        })
    }
}

impl FromStr for TrafficMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "noencap" => Ok(TrafficMode::NoEncap),
            "geneve" => Ok(TrafficMode::Geneve),
            _ => Err(format!("`{s}` is not a traffic mode (noencap or geneve)")),
        }
    }
}
