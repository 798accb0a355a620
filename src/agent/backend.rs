//! What the agent needs from the outside world, as three small traits: the
//! switch (OpenFlow), the configuration database (OVSDB) and the host
//! (netlink, namespaces). The agent is written against these so that its
//! decisions can be tested with fakes, and the real implementations are
//! thin adapters over the sessions.

use crate::api::{AddPod, PodKey};
use podflow_proto::openflow::FlowMod;
use std::collections::BTreeMap;
use std::future::Future;

/// A failure reported by a backend, classified for the agent and for CNI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The switch refused something (its error, in words).
    #[error("the switch refused the flows: {0}")]
    Refused(String),
    /// The peer is not reachable now; retrying later may work.
    #[error("{0} is not reachable: {1}")]
    Unavailable(&'static str, String),
    /// The request's outcome is unknown (connection lost after sending).
    #[error("{0}: outcome unknown, the connection was lost after sending")]
    OutcomeUnknown(&'static str),
    /// A deadline passed.
    #[error("{0} did not answer in time")]
    Timeout(&'static str),
    /// Anything else, with a sentence saying what.
    #[error("{0}")]
    Other(String),
}

/// What became of one group of flows in [`SwitchOps::install_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupOutcome {
    /// Committed: the switch acknowledged the group.
    Acked,
    /// The switch refused this group (or the batch failed as a whole).
    Failed(BackendError),
    /// Not applied because another group was refused; install it again.
    NotApplied,
}

/// The OpenFlow side.
pub trait SwitchOps: Send + Sync + 'static {
    /// Installs `flows` in one atomic bundle; returns when the commit reply arrived.
    fn install(&self, flows: Vec<FlowMod>) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Installs several groups (one per pod) with as few round trips as the
    /// switch allows, and says what became of each group. The default
    /// installs them one by one.
    fn install_batch(&self, groups: Vec<Vec<FlowMod>>) -> impl Future<Output = Vec<GroupOutcome>> + Send {
        async move {
            let mut out = Vec::with_capacity(groups.len());
            for g in groups {
                out.push(match self.install(g).await {
                    Ok(()) => GroupOutcome::Acked,
                    Err(e) => GroupOutcome::Failed(e),
                });
            }
            out
        }
    }
    /// The number of every port of the switch that is there now, by name
    /// (what OVS also writes to `Interface.ofport`, without the delay).
    fn ports(&self) -> impl Future<Output = Result<BTreeMap<String, u32>, BackendError>> + Send;
    /// Sends flow deletions (each a DELETE flow_mod) and waits for a barrier reply.
    fn delete(&self, deletes: Vec<FlowMod>) -> impl Future<Output = Result<(), BackendError>> + Send;
}

/// The OVSDB side.
pub trait DbOps: Send + Sync + 'static {
    /// Whether `other_config:flow-restore-wait` is set.
    fn flow_restore_wait(&self) -> impl Future<Output = Result<bool, BackendError>> + Send;
    /// Sets `other_config:flow-restore-wait=true` (by key mutation).
    fn set_flow_restore_wait(&self) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Removes the key (by key mutation); implementations read it back.
    fn clear_flow_restore_wait(&self) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Adds a system port for a pod's host-side interface with a fixed
    /// `ofport_request` and external_ids; returns the ofport once assigned.
    fn add_port(&self, name: &str, ofport_request: u32, external_ids: BTreeMap<String, String>) -> impl Future<Output = Result<u32, BackendError>> + Send;
    /// Deletes a port if it exists.
    fn del_port(&self, name: &str) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Every port carrying podflow's `podflow-container-id`/`podflow-ifname`
    /// external ids, as (port name, the pod key they name).
    fn pod_ports(&self) -> Vec<(String, PodKey)>;
}

/// What plumbing a pod produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plumbed {
    pub host_ifname: String,
    pub host_mac: [u8; 6],
    pub pod_mac: [u8; 6],
}

/// The host side: veth pairs and namespaces.
pub trait HostOps: Send + Sync + 'static {
    /// Creates the veth pair, moves one end into the pod's namespace with
    /// the requested name, addresses and routes. Idempotent for the same request.
    fn plumb(&self, req: &AddPod, host_ifname: &str) -> impl Future<Output = Result<Plumbed, BackendError>> + Send;
    /// Removes the host end (and with it the pair); absent is fine.
    fn unplumb(&self, host_ifname: &str) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// The host ends of pod veths in the agent's namespace (names made by
    /// `host_ifname`: `pf` and 11 hex digits).
    fn pod_links(&self) -> impl Future<Output = Result<Vec<String>, BackendError>> + Send;
    /// Whether the pod's network namespace still exists.
    fn netns_exists(&self, netns: &str) -> bool;
    /// Gives the address of an ADD that never completed back through the
    /// IPAM plugin the CNI plugin used (`req.ipam`, DEL), as the plugin
    /// would; nothing to do without it.
    fn release_lease(&self, req: &AddPod) -> impl Future<Output = Result<(), BackendError>> + Send;
}
