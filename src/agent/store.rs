//! Durable pod records in the state directory: one JSON file per pod,
//! written atomically (write to a temporary file, fsync, rename, fsync the
//! directory) so that a crash leaves either the old record or the new one.
//! The store knows nothing about Open vSwitch.

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

/// The pod records under `<state-dir>/pods`.
#[derive(Debug, Clone)]
pub struct PodStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.display().to_string(), source }
}

impl PodStore {
    pub fn open(state_dir: &Path) -> Result<PodStore, StoreError> {
        let dir = state_dir.join("pods");
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(PodStore { dir })
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

    /// Every stored record. Leftover temporary files from a crash are removed.
    pub fn load_all(&self) -> Result<Vec<PodRecord>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let p = entry.map_err(io(&self.dir))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = fs::remove_file(&p);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let b = fs::read(&p).map_err(io(&p))?;
            out.push(serde_json::from_slice(&b).map_err(|e| StoreError::Corrupt { path: p.display().to_string(), detail: e.to_string() })?);
        }
        out.sort_by(|a: &PodRecord, b: &PodRecord| a.request.key.cmp(&b.request.key));
        Ok(out)
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
        let all = s.load_all().unwrap();
        assert_eq!(all.iter().map(|r| r.request.key.container_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert!(!d.join("pods/.c.eth0.json.tmp").exists());
        s.remove(&rec("a").request.key).unwrap();
        s.remove(&rec("a").request.key).unwrap();
        assert_eq!(s.get(&rec("a").request.key).unwrap(), None);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
