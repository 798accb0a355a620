//! Running code inside a named network namespace without moving the rest of
//! the process: the work runs on a fresh, short-lived OS thread that calls
//! `setns(2)` on `/var/run/netns/NAME` and then exits. Sockets opened there
//! stay bound to that namespace and can be used from any thread.
//!
//! Never calls `setns` on a thread it did not create, and never creates or
//! deletes namespaces (tests do that with `ip netns`).

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::HostError;

/// Where `ip netns add NAME` mounts a namespace.
pub const NETNS_RUN_DIR: &str = "/var/run/netns";

/// The path of a named namespace, after checking that the name cannot
/// escape [`NETNS_RUN_DIR`].
pub fn netns_path(name: &str) -> Result<PathBuf, HostError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(HostError::InvalidInput(format!("`{name}` is not a valid network namespace name")));
    }
    Ok(PathBuf::from(NETNS_RUN_DIR).join(name))
}

/// Opens a named namespace, for `setns` or for moving a link into it.
pub fn open_netns(name: &str) -> Result<OwnedFd, HostError> {
    let path = netns_path(name)?;
    match File::open(&path) {
        Ok(f) => Ok(f.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(HostError::NetnsNotFound { netns: name.to_string() })
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(HostError::Permission {
            op: format!("open network namespace `{name}`"),
            errno: e.raw_os_error().unwrap_or(libc::EACCES),
        }),
        Err(e) => Err(HostError::Netns { netns: name.to_string(), source: e }),
    }
}

/// Opens a namespace by path (`/var/run/netns/NAME`, `/proc/PID/ns/net`,
/// the `CNI_NETNS` a CNI plugin is given).
pub fn open_netns_path(path: &Path) -> Result<OwnedFd, HostError> {
    let label = path.display().to_string();
    match File::open(path) {
        Ok(f) => Ok(f.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(HostError::NetnsNotFound { netns: label }),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(HostError::Permission {
            op: format!("open network namespace `{label}`"),
            errno: e.raw_os_error().unwrap_or(libc::EACCES),
        }),
        Err(e) => Err(HostError::Netns { netns: label, source: e }),
    }
}

/// Runs `f` on a dedicated thread inside the network namespace `netns`
/// (or in the caller's namespace when `None`) and returns its result. The
/// calling thread's namespace is never changed.
pub fn run_in_netns<T, F>(netns: Option<&str>, f: F) -> Result<T, HostError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, HostError> + Send + 'static,
{
    let Some(name) = netns else { return f() };
    run_in_netns_fd(open_netns(name)?, name, f)
}

/// Runs `f` on a dedicated thread inside the namespace open as `fd`
/// (`label` names it in errors).
pub fn run_in_netns_fd<T, F>(fd: OwnedFd, label: &str, f: F) -> Result<T, HostError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, HostError> + Send + 'static,
{
    let name = label.to_string();
    let thread = std::thread::Builder::new()
        .name("podflow-netns".into())
        .spawn(move || {
            // SAFETY: fd is an open file; setns only changes this thread,
            // which exits when `f` returns.
            let rc = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                return Err(match e.raw_os_error() {
                    Some(libc::EPERM) => HostError::Permission { op: format!("enter network namespace `{name}`"), errno: libc::EPERM },
                    Some(libc::EINVAL) => HostError::InvalidInput(format!("`{name}` is not a network namespace")),
                    _ => HostError::Netns { netns: name, source: e },
                });
            }
            drop(fd);
            f()
        })
        .map_err(HostError::Io)?;
    thread
        .join()
        .unwrap_or_else(|_| Err(HostError::InvalidInput("a thread working inside a network namespace panicked".into())))
}

/// [`run_in_netns`] from async code, without blocking a runtime worker.
pub async fn run_in_netns_async<T, F>(netns: Option<&str>, f: F) -> Result<T, HostError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, HostError> + Send + 'static,
{
    let netns = netns.map(str::to_string);
    tokio::task::spawn_blocking(move || run_in_netns(netns.as_deref(), f))
        .await
        .map_err(|e| HostError::InvalidInput(format!("a namespace task failed: {e}")))?
}

/// [`run_in_netns_fd`] from async code, without blocking a runtime worker.
pub async fn run_in_netns_fd_async<T, F>(fd: OwnedFd, label: &str, f: F) -> Result<T, HostError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, HostError> + Send + 'static,
{
    let label = label.to_string();
    tokio::task::spawn_blocking(move || run_in_netns_fd(fd, &label, f))
        .await
        .map_err(|e| HostError::InvalidInput(format!("a namespace task failed: {e}")))?
}
