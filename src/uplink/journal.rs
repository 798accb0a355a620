//! The uplink migration's journal and its steps.
//!
//! Every step is written to the journal (fsync) *before* it is taken, so
//! that after a crash the next run knows how far the migration got and what
//! the node looked like before it started. The journal is the only place
//! where the original configuration survives a crash; nothing here touches
//! the kernel or Open vSwitch.

use crate::state::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::host::Object;

/// The attach steps, in order. Their names are the failpoint names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Create the bridge (`fail_mode=secure`).
    CreateBridge,
    /// Rename the NIC to its bridged name (`eth1` → `eth1~`).
    RenameNic,
    /// Stop the renamed NIC from acting on IPv6 router advertisements
    /// (`accept_ra=0`): while bridged, the internal port does that.
    QuietNic,
    /// Create an internal port with the NIC's original name, MAC and MTU.
    CreateInternalPort,
    /// Move the NIC's addresses to the internal port.
    MoveAddresses,
    /// Re-add the NIC's routes on the internal port.
    MoveRoutes,
    /// Add the renamed NIC to the bridge as its uplink port.
    AttachUplink,
    /// Install the bridge's forwarding flows (acknowledged by the switch).
    InstallFlows,
    /// Probe the gateway (or `--probe ADDR`) through the bridge.
    Probe,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::CreateBridge,
        Step::RenameNic,
        Step::QuietNic,
        Step::CreateInternalPort,
        Step::MoveAddresses,
        Step::MoveRoutes,
        Step::AttachUplink,
        Step::InstallFlows,
        Step::Probe,
    ];

    /// The failpoint name (`PODFLOW_FAILPOINT=<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Step::CreateBridge => "create-bridge",
            Step::RenameNic => "rename-nic",
            Step::QuietNic => "quiet-nic",
            Step::CreateInternalPort => "create-internal-port",
            Step::MoveAddresses => "move-addresses",
            Step::MoveRoutes => "move-routes",
            Step::AttachUplink => "attach-uplink",
            Step::InstallFlows => "install-flows",
            Step::Probe => "probe",
        }
    }

    pub fn from_name(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|st| st.name() == s)
    }
}

/// The bridged name of a NIC: `eth1` → `eth1~`, shortened to fit 15 bytes.
pub fn bridged_name(ifname: &str) -> String {
    let mut base: String = ifname.chars().take(14).collect();
    base.push('~');
    base
}

/// The NIC as it was before the migration: what rollback and detach restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Original {
    pub ifname: String,
    /// The NIC's interface index: it survives renames, so it finds the NIC
    /// whatever name it carries after a crash.
    pub index: u32,
    pub mac: String,
    pub mtu: u32,
    pub txqlen: u32,
    pub up: bool,
    /// IPv6 settings (`net.ipv6.conf.<if>.*`) that change behaviour.
    pub sysctls: BTreeMap<String, String>,
    /// Addresses, permanent neighbours and routes, in restore order, as the
    /// kernel listed them.
    pub objects: Vec<Object>,
    /// Policy rules naming the NIC or its addresses.
    pub rules: Vec<Object>,
}

/// Where a migration stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    /// Attaching; `step` was recorded as started (it may or may not be done).
    Attaching { step: Step },
    /// Fully attached and probed.
    Attached,
    /// Undoing an attach (failed step, failed probe, or detach), from `step` down.
    RollingBack { step: Step, reason: String },
    /// A rollback ended with the NIC, its name and addresses back, but
    /// these objects could not be restored. Terminal: never retried.
    RestoredWithErrors { failed: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub bridge: String,
    pub bridged_name: String,
    pub original: Original,
    pub phase: Phase,
    /// The bridge did not exist before this attach: rollback deletes it.
    #[serde(default)]
    pub bridge_created: bool,
}

/// Where the journal of `bridge`/`ifname` lives in the state directory.
pub fn path(state_dir: &Path, bridge: &str, ifname: &str) -> PathBuf {
    state_dir.join("uplink").join(format!("{bridge}.{ifname}.json"))
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(transparent)]
    Store(#[from] crate::state::WriteError),
    #[error("cannot read the uplink journal {path}: {detail}")]
    Read { path: String, detail: String },
}

impl Journal {
    /// Durably records the journal (before the step it names is taken).
    pub fn save(&self, state_dir: &Path) -> Result<(), JournalError> {
        let p = path(state_dir, &self.bridge, &self.original.ifname);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| JournalError::Read { path: d.display().to_string(), detail: e.to_string() })?;
        }
        write_atomic(&p, &serde_json::to_vec_pretty(self).expect("journals serialize"))?;
        Ok(())
    }

    pub fn load(state_dir: &Path, bridge: &str, ifname: &str) -> Result<Option<Journal>, JournalError> {
        let p = path(state_dir, bridge, ifname);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| JournalError::Read { path: p.display().to_string(), detail: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(JournalError::Read { path: p.display().to_string(), detail: e.to_string() }),
        }
    }

    /// Every journal in the state directory (for `uplink status` and agent start).
    pub fn load_all(state_dir: &Path) -> Result<Vec<Journal>, JournalError> {
        let dir = state_dir.join("uplink");
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(JournalError::Read { path: dir.display().to_string(), detail: e.to_string() }),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                let b = std::fs::read(&p).map_err(|e| JournalError::Read { path: p.display().to_string(), detail: e.to_string() })?;
                out.push(serde_json::from_slice(&b).map_err(|e| JournalError::Read { path: p.display().to_string(), detail: e.to_string() })?);
            }
        }
        Ok(out)
    }

    /// Removes the journal once the node is fully restored.
    pub fn remove(state_dir: &Path, bridge: &str, ifname: &str) -> Result<(), JournalError> {
        let p = path(state_dir, bridge, ifname);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(JournalError::Read { path: p.display().to_string(), detail: e.to_string() }),
        }
    }
}

/// The failpoint requested through the environment, if any: a step name
/// or an `undo-…` stage name.
pub fn failpoint() -> Option<String> {
    std::env::var("PODFLOW_FAILPOINT").ok().filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_ordered() {
        for (i, s) in Step::ALL.iter().enumerate() {
            assert_eq!(Step::from_name(s.name()), Some(*s));
            if i > 0 {
                assert!(Step::ALL[i - 1] < *s);
            }
        }
        assert_eq!(bridged_name("eth1"), "eth1~");
        assert_eq!(bridged_name("enp0s31f6abcdef"), "enp0s31f6abcde~");
        assert!(bridged_name("enp0s31f6abcdef").len() <= 15);
    }

    #[test]
    fn journal_save_load_and_recovery() {
        let d = std::env::temp_dir().join(format!("podflow-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let j = Journal {
            bridge: "br-ext".into(),
            bridged_name: "eth1~".into(),
            original: Original { ifname: "eth1".into(), index: 7, mac: "02:00:00:00:00:01".into(), mtu: 1500, txqlen: 1000, up: true, sysctls: BTreeMap::new(), objects: vec![], rules: vec![] },
            phase: Phase::Attaching { step: Step::MoveAddresses },
            bridge_created: true,
        };
        j.save(&d).unwrap();
        let back = Journal::load(&d, "br-ext", "eth1").unwrap().unwrap();
        assert_eq!(back, j);
        assert_eq!(Journal::load_all(&d).unwrap().len(), 1);
        Journal::remove(&d, "br-ext", "eth1").unwrap();
        assert!(Journal::load(&d, "br-ext", "eth1").unwrap().is_none());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
