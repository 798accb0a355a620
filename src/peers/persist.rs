//! The last complete peer list, kept in the state directory
//! (`<state-dir>/peers.json`) so that a restarted agent has its peers at
//! once, before its source answers (an API server may be unreachable
//! exactly when the switch restarts).

use super::{validate, Peer};
use std::path::{Path, PathBuf};

/// The file's name in the state directory.
pub const FILE: &str = "peers.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    /// The source the list came from (`file:PATH`, `kubernetes`): a list
    /// from another source is not replayed.
    source: String,
    nodes: Vec<Peer>,
}

/// Why the saved list was not replayed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read the saved peer list {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the saved peer list {path} is malformed: {why}")]
    Malformed { path: String, why: String },
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// The saved list if it came from `source`; `Ok(None)` when there is none
/// or it came from another source.
pub fn load(state_dir: &Path, source: &str) -> Result<Option<Vec<Peer>>, LoadError> {
    let p = path(state_dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LoadError::Read { path: p.display().to_string(), source: e }),
    };
    let malformed = |why: String| LoadError::Malformed { path: p.display().to_string(), why };
    let saved: Saved = serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
    if saved.source != source {
        return Ok(None);
    }
    let nodes = validate::validate(saved.nodes).map_err(|f| malformed(f.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; ")))?;
    Ok(Some(nodes))
}

/// Saves a complete list atomically (see [`crate::state::write_atomic`]).
pub fn save(state_dir: &Path, source: &str, nodes: &[Peer]) -> Result<(), crate::state::WriteError> {
    let saved = Saved { source: source.to_string(), nodes: nodes.to_vec() };
    crate::state::write_atomic(&path(state_dir), &serde_json::to_vec_pretty(&saved).expect("peers serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_replays_only_for_the_same_source() {
        let dir = std::env::temp_dir().join(format!("podflow-peers-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(load(&dir, "kubernetes").unwrap().is_none());
        let nodes = vec![Peer { name: "a".into(), pod_cidrs: vec!["198.18.1.0/24".parse().unwrap()], internal_ips: vec!["192.0.2.1".parse().unwrap()] }];
        save(&dir, "file:/x", &nodes).unwrap();
        assert_eq!(load(&dir, "file:/x").unwrap(), Some(nodes));
        assert_eq!(load(&dir, "kubernetes").unwrap(), None);
        std::fs::write(path(&dir), b"{").unwrap();
        assert!(matches!(load(&dir, "file:/x"), Err(LoadError::Malformed { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
