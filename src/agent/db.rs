//! The agent's [`DbOps`] over the OVSDB client: flow-restore-wait by key
//! mutation, pod ports with fixed ofport requests. Every call has a
//! deadline; it only translates, the runtime decides.

use super::backend::{BackendError, DbOps};
use crate::ovsdb::client::Client;
use crate::ovsdb::vswitch::{self, PortKind, PortSpec};
use crate::api::PodKey;
use crate::ovsdb::Error;
use podflow_proto::ovsdb::monitor::column;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// The configuration database as the agent sees it.
#[derive(Clone)]
pub struct OvsdbConfig {
    pub client: Client,
    pub bridge: String,
    /// Deadline of each operation (a port's ofport included).
    pub timeout: Duration,
}

fn db_err(e: Error) -> BackendError {
    match e {
        Error::Disconnected(m) => BackendError::Unavailable("OVSDB", m),
        Error::OutcomeUnknown(_) => BackendError::OutcomeUnknown("OVSDB transaction"),
        Error::Timeout(_) => BackendError::Timeout("OVSDB"),
        Error::Refused(r) => BackendError::Refused(r.to_string()),
        other => BackendError::Other(other.to_string()),
    }
}

impl OvsdbConfig {
    fn deadline(&self) -> Instant {
        Instant::now() + self.timeout
    }
}

impl DbOps for OvsdbConfig {
    async fn flow_restore_wait(&self) -> Result<bool, BackendError> {
        vswitch::flow_restore_wait(&self.client, self.deadline()).await.map_err(db_err)
    }

    async fn set_flow_restore_wait(&self) -> Result<(), BackendError> {
        vswitch::set_flow_restore_wait(&self.client, self.deadline()).await.map_err(db_err)
    }

    async fn clear_flow_restore_wait(&self) -> Result<(), BackendError> {
        vswitch::clear_flow_restore_wait(&self.client, self.deadline()).await.map_err(db_err)
    }

    async fn add_port(&self, name: &str, ofport_request: u32, external_ids: BTreeMap<String, String>) -> Result<u32, BackendError> {
        let req = u16::try_from(ofport_request).map_err(|_| BackendError::Other(format!("ofport {ofport_request} is out of range")))?;
        let spec = PortSpec { name: name.to_string(), kind: PortKind::System, ofport_request: Some(req), external_ids };
        let p = vswitch::add_port(&self.client, &self.bridge, &spec, self.deadline()).await.map_err(db_err)?;
        u32::try_from(p).map_err(|_| BackendError::Other(format!("ovs-vswitchd assigned an invalid ofport {p} to {name}")))
    }

    /// Only this bridge's ports: another agent's bridge on the node is not ours.
    fn pod_ports(&self) -> Vec<(String, PodKey)> {
        self.client.read(|s| {
            let Some((_, bridge)) = s.replica.find("Bridge", "name", &self.bridge) else { return vec![] };
            column(bridge, "ports")
                .uuids()
                .filter_map(|u| s.replica.row("Port", u))
                .filter_map(|row| {
                    let ids = column(row, "external_ids").string_map();
                    let key = PodKey { container_id: ids.get("podflow-container-id")?.clone(), ifname: ids.get("podflow-ifname")?.clone() };
                    Some((column(row, "name").as_str()?.to_string(), key))
                })
                .collect()
        })
    }

    async fn del_port(&self, name: &str) -> Result<(), BackendError> {
        let present = self.client.read(|s| s.replica.find("Port", "name", name).is_some());
        if !present {
            return Ok(());
        }
        vswitch::delete_ports(&self.client, &self.bridge, &[name], self.deadline()).await.map(|_| ()).map_err(db_err)
    }
}
