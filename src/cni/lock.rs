//! The per-pod lock the plugin holds for a whole ADD/DEL/CHECK (IPAM
//! included), shared with the agent: the agent takes it before it gives a
//! lease back on its own, so it never releases an address a plugin of the
//! same pod is handing out at that moment.
//!
//! Lock stripes: a fixed set of files under `<agent socket's dir>/cni-locks`,
//! so nothing accumulates.

use super::types::{code, CniError};
use crate::api::PodKey;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOCK_STRIPES: u64 = 64;

/// The lock directory next to the agent's socket.
pub fn dir_for_socket(socket: &Path) -> PathBuf {
    socket.parent().unwrap_or(Path::new("/var/lib/podflow")).join("cni-locks")
}

/// An exclusive `flock` on the stripe of one pod key, held until dropped.
#[derive(Debug)]
pub struct KeyLock {
    _file: std::fs::File,
}

fn open(dir: &Path, key: &PodKey) -> Result<(std::fs::File, PathBuf), CniError> {
    std::fs::create_dir_all(dir).map_err(|e| CniError::new(code::IO_FAILURE, format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{:02}.lock", key.stable_hash() % LOCK_STRIPES));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CniError::new(code::IO_FAILURE, format!("cannot open {}: {e}", path.display())))?;
    Ok((f, path))
}

impl KeyLock {
    /// Waits as long as it takes (the plugin: the holder is another plugin
    /// process of the same pod, bounded by its own timeouts).
    pub fn take(dir: &Path, key: &PodKey) -> Result<KeyLock, CniError> {
        let (f, path) = open(dir, key)?;
        // SAFETY: flock on a file descriptor we own; released when the file closes.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(CniError::new(code::IO_FAILURE, format!("cannot lock {}: {}", path.display(), std::io::Error::last_os_error())));
        }
        Ok(KeyLock { _file: f })
    }

    /// Tries for up to `wait`; `Ok(None)` if a plugin still holds it.
    pub fn try_take(dir: &Path, key: &PodKey, wait: Duration) -> Result<Option<KeyLock>, CniError> {
        let (f, path) = open(dir, key)?;
        let t0 = Instant::now();
        loop {
            // SAFETY: as above, non-blocking.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Some(KeyLock { _file: f }));
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(CniError::new(code::IO_FAILURE, format!("cannot lock {}: {e}", path.display())));
            }
            if t0.elapsed() >= wait {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
