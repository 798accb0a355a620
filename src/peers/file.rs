//! `--nodes-from file:PATH`: reads a JSON list of nodes and reads it again
//! whenever something in its directory changes.
//!
//! The directory is watched, not the file: editors and `mv` replace a file
//! by renaming another over it, and a ConfigMap volume swaps a `..data`
//! symlink; a watch on the file itself would stay on the old inode. Any
//! event in the directory triggers a read; [`Reread`] acts only when the
//! bytes (or the error) differ from the last read, so a busy directory
//! costs a read, never a spurious update or error report.
//!
//! inotify is used through libc and tokio's `AsyncFd` (about 60 lines)
//! rather than a crate: one directory, "something changed" is all we need,
//! and libc is already a dependency.

use super::{validate, Peer, Publisher};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

/// What a read of the file gave, reduced to what decides an update.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Bytes(Vec<u8>),
    Error(String),
}

/// The decision core of the file source (pure): given what a read gave,
/// say whether there is a new list or a new error to report.
#[derive(Debug, Default)]
pub struct Reread {
    last: Option<Seen>,
}

/// What to do after a read.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Same as the last read: nothing.
    Unchanged,
    /// A good list: publish it.
    List(Vec<Peer>),
    /// The file is unreadable or malformed: report, keep the last good list.
    Refused(String),
}

impl Reread {
    pub fn on_read(&mut self, path: &Path, read: std::io::Result<Vec<u8>>) -> Outcome {
        let seen = match read {
            Ok(b) => Seen::Bytes(b),
            Err(e) => Seen::Error(format!("cannot read the peer file {}: {e}", path.display())),
        };
        if self.last.as_ref() == Some(&seen) {
            return Outcome::Unchanged;
        }
        self.last = Some(seen.clone());
        match seen {
            Seen::Error(e) => Outcome::Refused(e),
            Seen::Bytes(b) => match validate::parse_file(&b) {
                Ok(nodes) => Outcome::List(nodes),
                Err(e) => Outcome::Refused(format!("peer file {} refused: {e}", path.display())),
            },
        }
    }
}

/// An inotify instance watching one directory.
struct DirWatch {
    fd: AsyncFd<OwnedFd>,
}

const MASK: u32 = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_MOVED_FROM | libc::IN_CREATE | libc::IN_DELETE | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_ONLYDIR;

impl DirWatch {
    fn new(dir: &Path) -> std::io::Result<DirWatch> {
        // SAFETY: plain syscall; the fd is owned below.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let c = CString::new(dir.as_os_str().as_bytes()).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))?;
        // SAFETY: valid fd and NUL-terminated path.
        if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), MASK) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd stays open, and the same descriptor, for the AsyncFd's lifetime.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
        Ok(DirWatch { fd })
    }

    /// Waits for events; true when the watch ended (the directory was
    /// removed or moved, or the queue overflowed) and must be set up again.
    async fn next(&self) -> std::io::Result<bool> {
        let mut buf = [0u8; 8192];
        loop {
            let mut guard = self.fd.readable().await?;
            // SAFETY: reads into a buffer valid for its length.
            let r = guard.try_io(|fd| match unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } {
                n if n < 0 => Err(std::io::Error::last_os_error()),
                n => Ok(n as usize),
            });
            let Ok(n) = r else { continue };
            let n = n?;
            let mut gone = false;
            let mut at = 0;
            // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }
            while at + 16 <= n {
                let mask = u32::from_ne_bytes(buf[at + 4..at + 8].try_into().expect("4 bytes"));
                let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().expect("4 bytes")) as usize;
                gone |= mask & (libc::IN_IGNORED | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_Q_OVERFLOW) != 0;
                at += 16 + len;
            }
            return Ok(gone);
        }
    }
}

/// How long to let a burst of events settle before reading (a writer that
/// truncates and writes in place closes the file at the end).
const SETTLE: Duration = Duration::from_millis(20);

/// Runs the file source until aborted.
pub async fn run(path: PathBuf, publisher: Publisher) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut core = Reread::default();
    let mut retry = Duration::from_millis(100);
    let mut watch_error: Option<String> = None;
    loop {
        // Watch first, then read: a change between the two is not missed.
        let watch = match DirWatch::new(&dir) {
            Ok(w) => {
                watch_error = None;
                retry = Duration::from_millis(100);
                Some(w)
            }
            Err(e) => {
                let msg = format!("cannot watch the directory {} of the peer file: {e}", dir.display());
                if watch_error.as_deref() != Some(&msg) {
                    publisher.report(msg.clone());
                    watch_error = Some(msg);
                }
                None
            }
        };
        loop {
            match core.on_read(&path, tokio::fs::read(&path).await) {
                Outcome::Unchanged => {}
                Outcome::List(nodes) => publisher.publish(nodes),
                Outcome::Refused(e) => publisher.report(e),
            }
            let Some(w) = &watch else {
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(5));
                break;
            };
            match w.next().await {
                Ok(gone) => {
                    tokio::time::sleep(SETTLE).await;
                    if gone {
                        // Read once more, then set the watch up again.
                        match core.on_read(&path, tokio::fs::read(&path).await) {
                            Outcome::Unchanged => {}
                            Outcome::List(nodes) => publisher.publish(nodes),
                            Outcome::Refused(e) => publisher.report(e),
                        }
                        break;
                    }
                }
                Err(e) => {
                    publisher.report(format!("the watch on {} failed: {e}", dir.display()));
                    tokio::time::sleep(retry).await;
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acts_only_on_changes() {
        let p = Path::new("/x/nodes.json");
        let mut c = Reread::default();
        let good = br#"[{"name": "a", "podCIDRs": ["198.18.1.0/24"], "internalIPs": ["192.0.2.1"]}]"#.to_vec();
        assert!(matches!(c.on_read(p, Ok(good.clone())), Outcome::List(v) if v.len() == 1));
        assert_eq!(c.on_read(p, Ok(good.clone())), Outcome::Unchanged);
        assert!(matches!(c.on_read(p, Ok(b"[".to_vec())), Outcome::Refused(e) if e.contains("peer file /x/nodes.json refused: not a JSON list")));
        assert_eq!(c.on_read(p, Ok(b"[".to_vec())), Outcome::Unchanged);
        let gone = || Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(matches!(c.on_read(p, gone()), Outcome::Refused(e) if e.starts_with("cannot read the peer file /x/nodes.json")));
        assert_eq!(c.on_read(p, gone()), Outcome::Unchanged);
        assert!(matches!(c.on_read(p, Ok(good)), Outcome::List(_)));
    }
}
