//! One agent per state directory: an exclusive `flock` on
//! `<state-dir>/agent.lock`, held for the life of the process (the kernel
//! releases it however the process ends). It is the agent's own lock, not
//! the uplink command's. This module never removes or rewrites anything
//! but that file's pid line.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the agent lock {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("another podflow agent{holder} runs on the state directory {dir} (it holds {path}); waited {waited:?} for it to exit")]
    Busy { dir: String, path: String, holder: String, waited: Duration },
}

/// The lock file of `state_dir`.
pub fn lock_path(state_dir: &Path) -> PathBuf {
    state_dir.join("agent.lock")
}

fn try_flock(f: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a descriptor we own; the kernel drops it with the file.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

impl InstanceLock {
    /// Takes the lock, waiting up to `wait` for an agent that is exiting
    /// (a replaced DaemonSet pod, a supervisor restart).
    pub async fn acquire(state_dir: &Path, wait: Duration) -> Result<InstanceLock, LockError> {
        let path = lock_path(state_dir);
        let io = |source| LockError::Io { path: path.display().to_string(), source };
        let mut f = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path).map_err(io)?;
        let t0 = tokio::time::Instant::now();
        while !try_flock(&f).map_err(io)? {
            if t0.elapsed() >= wait {
                let mut pid = String::new();
                let _ = f.read_to_string(&mut pid);
                let holder = pid.trim().parse::<u32>().map(|p| format!(" (pid {p})")).unwrap_or_default();
                return Err(LockError::Busy { dir: state_dir.display().to_string(), path: path.display().to_string(), holder, waited: wait });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // For the message a waiting agent prints; the lock itself is the flock.
        f.set_len(0).and_then(|_| f.rewind()).and_then(|_| writeln!(f, "{}", std::process::id())).map_err(io)?;
        Ok(InstanceLock { _file: f })
    }
}

/// A spawned task that ends when this handle is dropped: tasks the
/// agent starts die with it, never outlive a stop.
#[derive(Debug)]
pub struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_then_gives_up_with_the_first_ones_pid() {
        let d = std::env::temp_dir().join(format!("podflow-lock-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let first = InstanceLock::acquire(&d, Duration::ZERO).await.unwrap();
        let e = InstanceLock::acquire(&d, Duration::from_millis(120)).await.unwrap_err();
        assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
        // Released: the next one gets it while waiting.
        let d2 = d.clone();
        let waiter = tokio::spawn(async move { InstanceLock::acquire(&d2, Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(first);
        waiter.await.unwrap().unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
