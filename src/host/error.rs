//! Errors of the host (netlink) layer, kept apart by origin: the caller's
//! input, a missing or existing object, missing privileges, the kernel's
//! refusal (with its errno), and local I/O.

/// Why a host operation failed. Each variant prints as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The caller passed something unusable (a bad name, a bad prefix).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The named network namespace does not exist under /var/run/netns.
    #[error("network namespace `{netns}` does not exist")]
    NetnsNotFound { netns: String },
    /// The namespace exists but could not be opened or entered.
    #[error("cannot use network namespace `{netns}`: {source}")]
    Netns { netns: String, source: std::io::Error },
    /// The object (link, address, route) is not there.
    #[error("{what} does not exist")]
    NotFound { what: String, errno: i32 },
    /// The object (link, address, route) is already there.
    #[error("{what} already exists")]
    Exists { what: String, errno: i32 },
    /// The kernel refused for lack of privileges (CAP_NET_ADMIN, CAP_SYS_ADMIN).
    #[error("not permitted to {op} (errno {errno}); podflow needs CAP_NET_ADMIN and CAP_SYS_ADMIN")]
    Permission { op: String, errno: i32 },
    /// Any other refusal by the kernel.
    #[error("the kernel refused to {op}: {message} (errno {errno})")]
    Netlink { op: String, errno: i32, message: String },
    /// The netlink conversation itself failed (socket closed, bad reply).
    #[error("netlink request to {op} failed: {message}")]
    Protocol { op: String, message: String },
    /// A local system call failed (opening a socket, starting a thread).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl HostError {
    /// The kernel's errno behind this error, when there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            HostError::NotFound { errno, .. }
            | HostError::Exists { errno, .. }
            | HostError::Permission { errno, .. }
            | HostError::Netlink { errno, .. } => Some(*errno),
            HostError::Netns { source, .. } => source.raw_os_error(),
            HostError::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }

    /// Builds the error for a kernel errno (positive), given what was being
    /// done (`op`, a verb phrase) and the object concerned (`what`).
    pub(crate) fn from_errno(errno: i32, op: &str, what: &str) -> HostError {
        match errno {
            libc::ENODEV | libc::ENOENT | libc::ESRCH | libc::EADDRNOTAVAIL | libc::ENXIO => {
                HostError::NotFound { what: what.to_string(), errno }
            }
            libc::EEXIST => HostError::Exists { what: what.to_string(), errno },
            libc::EPERM | libc::EACCES => HostError::Permission { op: op.to_string(), errno },
            _ => HostError::Netlink {
                op: op.to_string(),
                errno,
                message: std::io::Error::from_raw_os_error(errno).to_string(),
            },
        }
    }
}
