//! The agent's [`SwitchOps`] over the OpenFlow supervisor: bundles for
//! installs, barrier-acknowledged deletes, a flow dump for cookies. It only
//! translates; deciding what to install is the runtime's job.

use super::backend::{BackendError, GroupOutcome, SwitchOps};
use super::metrics::Counters;
use crate::openflow::{BundleError, OfError, Session, Supervisor};
use podflow_proto::openflow::bundle::flags;
use podflow_proto::openflow::port::PortNo;
use podflow_proto::openflow::{FlowMod, Message};
use std::sync::Arc;

/// The switch as the agent sees it: whatever session the supervisor has now.
#[derive(Clone)]
pub struct OpenFlowSwitch {
    supervisor: Arc<Supervisor>,
    counters: Option<Arc<Counters>>,
}

impl OpenFlowSwitch {
    pub fn new(supervisor: Arc<Supervisor>) -> Self {
        OpenFlowSwitch { supervisor, counters: None }
    }

    /// Counts acknowledged flow mods and failed bundles into `counters`
    /// (for the metrics endpoint).
    pub fn counting(mut self, counters: Arc<Counters>) -> Self {
        self.counters = Some(counters);
        self
    }

    /// Records one bundle of `flows` flow mods: acknowledged or failed.
    fn count<E>(&self, res: &Result<(), E>, flows: usize) {
        if let Some(c) = &self.counters {
            match res {
                Ok(()) => Counters::add(&c.flows_installed, flows as u64),
                Err(_) => Counters::add(&c.bundle_failures, 1),
            }
        }
    }

    fn session(&self) -> Result<Session, BackendError> {
        self.supervisor.session().ok_or_else(|| BackendError::Unavailable("the switch", "not connected".into()))
    }
}

fn of_err(e: OfError) -> BackendError {
    match e {
        OfError::Refused { .. } => BackendError::Refused(e.to_string()),
        OfError::Disconnected(_) | OfError::Connect { .. } => BackendError::Unavailable("the switch", e.to_string()),
        OfError::Timeout { .. } => BackendError::Timeout("the switch"),
        OfError::OutcomeUnknown { .. } => BackendError::OutcomeUnknown("bundle commit"),
        _ => BackendError::Other(e.to_string()),
    }
}

fn bundle_err(e: BundleError) -> BackendError {
    match e {
        BundleError::Session(e) => of_err(e),
        other => BackendError::Refused(other.to_string()),
    }
}

impl SwitchOps for OpenFlowSwitch {
    async fn install(&self, flows: Vec<FlowMod>) -> Result<(), BackendError> {
        let msgs: Vec<Message> = flows.into_iter().map(Message::FlowMod).collect();
        let res = self.session()?.bundle(&msgs, flags::ATOMIC | flags::ORDERED).await;
        self.count(&res, msgs.len());
        res.map_err(bundle_err)
    }

    /// All groups in one atomic bundle. If the switch refuses some
    /// messages, nothing is applied: the groups that contain them are
    /// reported Failed and the others NotApplied (the runtime resends them).
    async fn install_batch(&self, groups: Vec<Vec<FlowMod>>) -> Vec<GroupOutcome> {
        let n = groups.len();
        let mut owner = Vec::new();
        let mut msgs = Vec::new();
        for (gi, g) in groups.into_iter().enumerate() {
            for f in g {
                owner.push(gi);
                msgs.push(Message::FlowMod(f));
            }
        }
        let session = match self.session() {
            Ok(s) => s,
            Err(e) => return vec![GroupOutcome::Failed(e); n],
        };
        let culprits = |errs: &[crate::openflow::MessageError]| -> Vec<(usize, String)> {
            errs.iter().filter_map(|e| owner.get(e.index).map(|g| (*g, e.error.to_string()))).collect()
        };
        let res = session.bundle(&msgs, flags::ATOMIC | flags::ORDERED).await;
        self.count(&res, msgs.len());
        let failed = match res {
            Ok(()) => return vec![GroupOutcome::Acked; n],
            Err(BundleError::Rejected { errors }) => culprits(&errors),
            Err(BundleError::CommitFailed { culprits: c, .. }) if !c.is_empty() => culprits(&c),
            Err(e) => return vec![GroupOutcome::Failed(bundle_err(e)); n],
        };
        let mut out = vec![GroupOutcome::NotApplied; n];
        for (g, why) in failed {
            out[g] = GroupOutcome::Failed(BackendError::Refused(why));
        }
        out
    }

    async fn ports(&self) -> Result<std::collections::BTreeMap<String, u32>, BackendError> {
        let ports = self.session()?.port_desc().await.map_err(of_err)?;
        Ok(ports.into_iter().filter(|p| p.port_no < PortNo::MAX).map(|p| (p.name, p.port_no.0)).collect())
    }

    async fn delete(&self, deletes: Vec<FlowMod>) -> Result<(), BackendError> {
        let s = self.session()?;
        for d in deletes {
            s.send(&Message::FlowMod(d)).map_err(of_err)?;
        }
        s.barrier().await.map_err(of_err)
    }
}
