//! Daemon addresses (`unix:PATH`, `tcp:HOST:PORT`), the one place that
//! builds `<rundir>/<bridge>.mgmt`, and opening a byte stream to one.
//!
//! Owns address syntax and socket setup; never speaks a protocol and never
//! retries (that is [`super::Reconnect`]'s decision).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where `ovs-vswitchd` (OpenFlow) or `ovsdb-server` (OVSDB) listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addr {
    /// `unix:PATH`, e.g. `unix:/var/run/openvswitch/br-int.mgmt`.
    Unix(PathBuf),
    /// `tcp:HOST:PORT`; an IPv6 host is written `tcp:[::1]:6640`.
    Tcp { host: String, port: u16 },
}

/// A string that is not `unix:PATH` or `tcp:HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad address {input:?}: {why} (expected unix:PATH or tcp:HOST:PORT)")]
pub struct AddrError {
    pub input: String,
    pub why: &'static str,
}

impl Addr {
    /// The management socket of `bridge`: `unix:<ovs_rundir>/<bridge>.mgmt`,
    /// always served by ovs-vswitchd, also while `flow-restore-wait` is set.
    pub fn bridge_mgmt(ovs_rundir: &Path, bridge: &str) -> Addr {
        Addr::Unix(bridge_mgmt_path(ovs_rundir, bridge))
    }

    /// The bridge name for messages, from a `<bridge>.mgmt` socket path.
    pub fn bridge_hint(&self) -> String {
        match self {
            Addr::Unix(p) => p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".mgmt"))
                .unwrap_or("<bridge>")
                .to_string(),
            Addr::Tcp { .. } => "<bridge>".to_string(),
        }
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, Addr::Unix(_))
    }
}

/// `<ovs_rundir>/<bridge>.mgmt`, the path of [`Addr::bridge_mgmt`].
pub fn bridge_mgmt_path(ovs_rundir: &Path, bridge: &str) -> PathBuf {
    ovs_rundir.join(format!("{bridge}.mgmt"))
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix:{}", p.display()),
            Addr::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Addr::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

impl FromStr for Addr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Addr, AddrError> {
        let bad = |why| AddrError { input: s.to_string(), why };
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(bad("empty path"));
            }
            return Ok(Addr::Unix(PathBuf::from(p)));
        }
        if let Some(hp) = s.strip_prefix("tcp:") {
            let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
                rest.split_once("]:").ok_or_else(|| bad("missing ]:PORT"))?
            } else {
                hp.rsplit_once(':').ok_or_else(|| bad("missing :PORT"))?
            };
            if host.is_empty() {
                return Err(bad("empty host"));
            }
            let port = port.parse::<u16>().map_err(|_| bad("port is not a number 0-65535"))?;
            return Ok(Addr::Tcp { host: host.to_string(), port });
        }
        Err(bad("unknown scheme"))
    }
}

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Opens the stream and splits it into owned halves. The error is the
/// socket's own, so [`super::nobody_listening`] can classify it.
pub async fn open(addr: &Addr) -> io::Result<(Reader, Writer)> {
    match addr {
        Addr::Unix(p) => {
            let (r, w) = tokio::net::UnixStream::connect(p).await?.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
        Addr::Tcp { host, port } => {
            let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
            // Requests are small and latency-bound (barriers, echo).
            let _ = s.set_nodelay(true);
            let (r, w) = s.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["unix:/run/ovs/br0.mgmt", "tcp:127.0.0.1:6653", "tcp:[::1]:6653", "tcp:switch.local:6633"] {
            assert_eq!(s.parse::<Addr>().unwrap().to_string(), s);
        }
        assert_eq!("unix:/x/br-int.mgmt".parse::<Addr>().unwrap().bridge_hint(), "br-int");
        assert_eq!(Addr::bridge_mgmt(Path::new("/run/ovs"), "br-int").to_string(), "unix:/run/ovs/br-int.mgmt");
        for s in ["unix:", "tcp:1.2.3.4", "tcp::80", "tcp:h:99999", "tcp:host", "ssl:h:1", "br0", "/run/db.sock"] {
            let e = s.parse::<Addr>().unwrap_err();
            assert!(e.to_string().contains("expected unix:PATH or tcp:HOST:PORT"), "{s}: {e}");
        }
    }
}
