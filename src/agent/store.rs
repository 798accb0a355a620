//! Durable pod records in the state directory: one JSON file per pod,
//! written atomically (write to a temporary file, fsync, rename, fsync the
//! directory) so that a crash leaves either the old record or the new one.
//! The store knows nothing about Open vSwitch.
//!
//! A record that cannot be read or is invalid never stops the agent: it is
//! moved to `<state-dir>/quarantine/` with a `.reason` file next to it, and
//! reported; it is never deleted by the store on its own.

use crate::api::{AddPod, PodAttachment, PodKey};
use crate::state::write_atomic;
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// What the agent must remember about a pod to rebuild its flows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecord {
    pub request: AddPod,
    pub attachment: PodAttachment,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the state directory {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Write(#[from] crate::state::WriteError),
    #[error("pod record {path} is corrupt: {detail}")]
    Corrupt { path: String, detail: String },
}

/// A record moved aside: its file under `quarantine/`, the key it was
/// stored for (from its content when readable, else from its name), why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    pub key: PodKey,
    pub file: String,
    pub reason: String,
}

/// What [`PodStore::load_all`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<PodRecord>,
    /// Every record in quarantine, the ones moved by this load included.
    pub quarantined: Vec<Quarantined>,
    /// How many this load moved.
    pub newly_quarantined: usize,
}

/// The pod records under `<state-dir>/pods`.
#[derive(Debug, Clone)]
pub struct PodStore {
    dir: PathBuf,
    quarantine: PathBuf,
    /// ADDs in progress that carry a lease to give back (`intents/`).
    intents: PathBuf,
}

/// The key a record's file name stands for (`<container id>.<ifname>.json`;
/// ifnames rarely hold a dot, so the last dot splits). For display only.
fn key_from_name(name: &str) -> PodKey {
    let stem = name.strip_suffix(".json").unwrap_or(name);
    match stem.rsplit_once('.') {
        Some((c, i)) => PodKey { container_id: c.into(), ifname: i.into() },
        None => PodKey { container_id: stem.into(), ifname: String::new() },
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.display().to_string(), source }
}

impl PodStore {
    pub fn open(state_dir: &Path) -> Result<PodStore, StoreError> {
        let dir = state_dir.join("pods");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(PodStore { dir, quarantine: state_dir.join("quarantine"), intents: state_dir.join("intents") })
    }

    fn intent_path(&self, key: &PodKey) -> PathBuf {
        self.intents.join(format!("{}.json", key.file_name()))
    }

    /// Durably notes that an ADD is about to create things for `req.key`
    /// (with what releases its lease), before anything is created.
    pub fn put_intent(&self, req: &AddPod) -> Result<(), StoreError> {
        fs::create_dir_all(&self.intents).map_err(io(&self.intents))?;
        let bytes = serde_json::to_vec(req).expect("requests serialize");
        Ok(write_atomic(&self.intent_path(&req.key), &bytes)?)
    }

    /// The ADD of `key` ended (committed, or undone and answered).
    pub fn remove_intent(&self, key: &PodKey) -> Result<(), StoreError> {
        let p = self.intent_path(key);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// The intents an earlier run left: ADDs it never finished. One that
    /// cannot be read or is invalid is skipped with a log line (it names
    /// nothing the agent could safely act on) and left in place.
    pub fn intents(&self) -> Result<Vec<AddPod>, StoreError> {
        let entries = match fs::read_dir(&self.intents) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io(&self.intents)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let p = entry.map_err(io(&self.intents))?.path();
            let Some(name) = p.file_name().and_then(|n| n.to_str()).filter(|n| n.ends_with(".json") && !n.starts_with('.')) else { continue };
            let req = fs::read(&p).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice::<AddPod>(&b).map_err(|e| e.to_string()));
            match req {
                Ok(r) if r.validate().is_ok() && format!("{}.json", r.key.file_name()) == name => out.push(r),
                Ok(_) => tracing::error!(file = %p.display(), "ADD intent is invalid or under another key's name; left alone"),
                Err(e) => tracing::error!(file = %p.display(), error = %e, "unreadable ADD intent; left alone"),
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn path(&self, key: &PodKey) -> PathBuf {
        self.dir.join(format!("{}.json", key.file_name()))
    }

    pub fn put(&self, rec: &PodRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(rec).expect("records serialize");
        Ok(write_atomic(&self.path(&rec.request.key), &bytes)?)
    }

    pub fn remove(&self, key: &PodKey) -> Result<(), StoreError> {
        let p = self.path(key);
        match fs::remove_file(&p) {
            Ok(()) => File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io(&self.dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&p)(e)),
        }
    }

    pub fn get(&self, key: &PodKey) -> Result<Option<PodRecord>, StoreError> {
        let p = self.path(key);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| StoreError::Corrupt { path: p.display().to_string(), detail: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// Every stored record that reads, parses, is stored under its own
    /// key's name and passes `accept`; the others are quarantined.
    /// Leftover temporary files from a crash are removed.
    pub fn load_all(&self, accept: impl Fn(&PodRecord) -> Result<(), String>) -> Result<Loaded, StoreError> {
        let mut out = Loaded::default();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let p = entry.map_err(io(&self.dir))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(&p);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            match Self::check(&p, &name, &accept) {
                Ok(rec) => out.records.push(rec),
                Err(reason) => {
                    self.quarantine(&p, &name, &reason)?;
                    out.newly_quarantined += 1;
                    tracing::error!(file = %p.display(), %reason, "pod record quarantined; the agent goes on without this pod");
                }
            }
        }
        out.records.sort_by(|a: &PodRecord, b: &PodRecord| a.request.key.cmp(&b.request.key));
        out.quarantined = self.quarantined()?;
        Ok(out)
    }

    /// Reads and checks one record; on failure, why.
    fn check(p: &Path, name: &str, accept: &impl Fn(&PodRecord) -> Result<(), String>) -> Result<PodRecord, String> {
        let b = fs::read(p).map_err(|e| format!("unreadable: {e}"))?;
        let rec: PodRecord = serde_json::from_slice(&b).map_err(|e| format!("not a pod record: {e}"))?;
        rec.request.validate().map_err(|e| e.to_string())?;
        let key = &rec.request.key;
        if format!("{}.json", key.file_name()) != name {
            return Err(format!("stored under the wrong name (its key is {})", key.file_name()));
        }
        accept(&rec)?;
        Ok(rec)
    }

    fn quarantine(&self, p: &Path, name: &str, reason: &str) -> Result<(), StoreError> {
        fs::create_dir_all(&self.quarantine).map_err(io(&self.quarantine))?;
        let dest = self.quarantine.join(name);
        write_atomic(&self.quarantine.join(format!("{name}.reason")), reason.as_bytes())?;
        fs::rename(p, &dest).map_err(io(&dest))?;
        for d in [&self.dir, &self.quarantine] {
            File::open(d).and_then(|f| f.sync_all()).map_err(io(d))?;
        }
        Ok(())
    }

    /// The records in quarantine (none when the directory does not exist).
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        let entries = match fs::read_dir(&self.quarantine) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io(&self.quarantine)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let p = entry.map_err(io(&self.quarantine))?.path();
            let Some(name) = p.file_name().and_then(|n| n.to_str()).filter(|n| n.ends_with(".json")) else { continue };
            let claimed = fs::read(&p).ok().and_then(|b| serde_json::from_slice::<PodRecord>(&b).ok()).map(|r| r.request.key);
            let reason = fs::read_to_string(self.quarantine.join(format!("{name}.reason"))).unwrap_or_else(|_| "quarantined".into());
            out.push(Quarantined { key: claimed.unwrap_or_else(|| key_from_name(name)), file: name.to_string(), reason });
        }
        out.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(out)
    }

    /// Drops a quarantined record once its pod was cleaned up (DEL).
    pub fn forget_quarantined(&self, file: &str) -> Result<(), StoreError> {
        for f in [file.to_string(), format!("{file}.reason")] {
            let p = self.quarantine.join(&f);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p)(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::IpConfig;

    fn rec(id: &str) -> PodRecord {
        PodRecord {
            request: AddPod {
                key: PodKey { container_id: id.into(), ifname: "eth0".into() },
                netns: "/var/run/netns/x".into(),
                ips: vec![IpConfig { address: "198.18.0.5/24".into(), gateway: None }],
                routes: vec![],
                k8s_namespace: None,
                k8s_name: None,
                ipam: None,
            },
            attachment: PodAttachment {
                host_ifname: "pf0001".into(),
                host_mac: "02:00:00:00:00:01".into(),
                ifname: "eth0".into(),
                mac: "02:00:00:00:00:02".into(),
                netns: "/var/run/netns/x".into(),
                ofport: 5,
            },
        }
    }

    #[test]
    fn put_get_remove_load() {
        let d = std::env::temp_dir().join(format!("podflow-store-{}", std::process::id()));
        let s = PodStore::open(&d).unwrap();
        s.put(&rec("b")).unwrap();
        s.put(&rec("a")).unwrap();
        std::fs::write(d.join("pods/.c.eth0.json.tmp"), b"{half").unwrap();
        assert_eq!(s.get(&rec("a").request.key).unwrap(), Some(rec("a")));
        let all = s.load_all(|_| Ok(())).unwrap().records;
        assert_eq!(all.iter().map(|r| r.request.key.container_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(!d.join("pods/.c.eth0.json.tmp").exists());
        s.remove(&rec("a").request.key).unwrap();
        s.remove(&rec("a").request.key).unwrap();
        assert_eq!(s.get(&rec("a").request.key).unwrap(), None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn intents_put_list_remove() {
        let d = std::env::temp_dir().join(format!("podflow-store-i-{}", std::process::id()));
        let s = PodStore::open(&d).unwrap();
        assert!(s.intents().unwrap().is_empty());
        s.put_intent(&rec("a").request).unwrap();
        std::fs::write(d.join("intents/b.eth0.json"), b"{cut").unwrap();
        std::fs::write(d.join("intents/c.eth0.json"), serde_json::to_vec(&rec("other").request).unwrap()).unwrap();
        assert_eq!(s.intents().unwrap(), vec![rec("a").request]);
        s.remove_intent(&rec("a").request.key).unwrap();
        s.remove_intent(&rec("a").request.key).unwrap();
        assert!(s.intents().unwrap().is_empty());
        assert!(d.join("intents/b.eth0.json").exists(), "a bad intent is left for a human");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_records_are_quarantined_not_fatal() {
        let d = std::env::temp_dir().join(format!("podflow-store-q-{}", std::process::id()));
        let s = PodStore::open(&d).unwrap();
        s.put(&rec("good")).unwrap();
        let full = serde_json::to_vec(&rec("cut")).unwrap();
        std::fs::write(d.join("pods/cut.eth0.json"), &full[..full.len() / 2]).unwrap();
        std::fs::write(d.join("pods/foreign.eth0.json"), br#"{"some":"other tool"}"#).unwrap();
        std::fs::write(d.join("pods/moved.eth0.json"), serde_json::to_vec(&rec("elsewhere")).unwrap()).unwrap();
        let mut evil = rec("evil");
        evil.request.key.container_id = "../evil".into();
        std::fs::write(d.join("pods/evil.eth0.json"), serde_json::to_vec(&evil).unwrap()).unwrap();
        std::fs::write(d.join("pods/refused.eth0.json"), serde_json::to_vec(&rec("refused")).unwrap()).unwrap();
        let l = s.load_all(|r| if r.request.key.container_id == "refused" { Err("no usable address".into()) } else { Ok(()) }).unwrap();
        assert_eq!(l.records, vec![rec("good")]);
        assert_eq!(l.newly_quarantined, 5);
        let q: Vec<_> = l.quarantined.iter().map(|q| (q.key.container_id.as_str(), q.reason.split(':').next().unwrap())).collect();
        assert_eq!(
            q,
            [
                ("cut", "not a pod record"),
                ("../evil", "invalid container_id"),
                ("foreign", "not a pod record"),
                ("elsewhere", "stored under the wrong name (its key is elsewhere.eth0)"),
                ("refused", "no usable address")
            ]
        );
        assert!(!d.join("pods/cut.eth0.json").exists() && d.join("quarantine/cut.eth0.json").exists());
        // A second load finds them in quarantine without moving anything.
        let l2 = s.load_all(|_| Ok(())).unwrap();
        assert_eq!((l2.records.len(), l2.newly_quarantined, l2.quarantined.len()), (1, 0, 5));
        s.forget_quarantined("cut.eth0.json").unwrap();
        assert_eq!(s.quarantined().unwrap().len(), 4);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
