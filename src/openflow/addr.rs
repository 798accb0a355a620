//! Switch addresses (`unix:PATH`, `tcp:HOST:PORT`) and opening a byte
//! stream to one.
//!
//! Owns address syntax and socket setup; never speaks OpenFlow.

use super::error::OfError;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where an OpenFlow switch listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Addr {
    /// `unix:PATH`, e.g. `unix:/var/run/openvswitch/br-int.mgmt`.
    Unix(PathBuf),
    /// `tcp:HOST:PORT`.
    Tcp { host: String, port: u16 },
}

impl Addr {
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
    type Err = OfError;

    fn from_str(s: &str) -> Result<Addr, OfError> {
        let bad = |why: &str| OfError::Caller(format!("bad switch address {s:?}: {why} (expected unix:PATH or tcp:HOST:PORT)"));
        if let Some(p) = s.strip_prefix("unix:") {
            if p.is_empty() {
                return Err(bad("empty path"));
            }
            return Ok(Addr::Unix(PathBuf::from(p)));
        }
        if let Some(hp) = s.strip_prefix("tcp:") {
            let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
                let (h, p) = rest.split_once("]:").ok_or_else(|| bad("missing ]:PORT"))?;
                (h, p)
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

pub(crate) type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub(crate) type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Opens the stream and splits it into owned halves.
pub(crate) async fn open(addr: &Addr) -> Result<(Reader, Writer), OfError> {
    let err = |e: std::io::Error| OfError::Connect { addr: addr.to_string(), reason: e.to_string() };
    match addr {
        Addr::Unix(p) => {
            let s = tokio::net::UnixStream::connect(p).await.map_err(err)?;
            let (r, w) = s.into_split();
            Ok((Box::new(r), Box::new(w)))
        }
        Addr::Tcp { host, port } => {
            let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await.map_err(err)?;
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
        for s in ["unix:", "tcp:1.2.3.4", "tcp::80", "tcp:h:99999", "ssl:h:1", "br0"] {
            assert!(matches!(s.parse::<Addr>(), Err(OfError::Caller(_))), "{s}");
        }
    }
}
