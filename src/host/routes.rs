//! Routes by owner: the kernel routes that carry one routing protocol id
//! (`RTPROT_*`, the `proto` of `ip route`), so an agent can list, add and
//! delete exactly its own and never a foreign one.
//!
//! Like the rest of [`crate::host`], it decides nothing: which routes should
//! exist is the caller's business.

use super::{Host, HostError, Route};

/// The protocol id of podflow's peer routes (`ip route show proto 159`).
/// Not assigned in `/etc/iproute2/rt_protos`.
pub const RTPROT_PODFLOW: u8 = 159;

impl Route {
    /// Sets the routing protocol id (the owner mark).
    pub fn protocol(mut self, protocol: u8) -> Route {
        self.protocol = Some(protocol);
        self
    }
}

impl Host {
    /// Every route of both families in `table` whose protocol is `protocol`.
    pub async fn routes_of(&self, protocol: u8, table: u32) -> Result<Vec<Route>, HostError> {
        let mut out = Vec::new();
        for v6 in [false, true] {
            out.extend(self.routes(v6, Some(table)).await?.into_iter().filter(|r| r.protocol == Some(protocol) && r.kind == Some(1)));
        }
        Ok(out)
    }
}
