//! Prometheus metrics of a running agent (`podflow agent --metrics-addr`):
//! a few counters the daemon and the switch adapter bump, a text-format
//! renderer, and a tiny HTTP/1.1 responder on tokio that serves
//! `GET /metrics`. It only reads the agent's state; it never changes it.

use crate::api::Status;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counters of facts only the daemon and the switch adapter see.
#[derive(Debug, Default)]
pub struct Counters {
    /// Flow mods acknowledged by the switch in committed bundles.
    pub flows_installed: AtomicU64,
    /// Bundles that failed (refused, lost, timed out).
    pub bundle_failures: AtomicU64,
    /// OpenFlow connections after the first one.
    pub openflow_reconnects: AtomicU64,
    /// OVSDB resyncs after the first one.
    pub ovsdb_reconnects: AtomicU64,
    /// Unix time (ns) when the agent last removed flow-restore-wait; 0: never.
    pub frw_removed_unix_ns: AtomicU64,
}

impl Counters {
    /// Adds `n` to counter `c`.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Raises a "reconnects" counter to `generation - 1` (generation 1 is
    /// the first connection); never lowers it.
    pub fn set_reconnects(c: &AtomicU64, generation: u64) {
        c.fetch_max(generation.saturating_sub(1), Ordering::Relaxed);
    }
}

/// Everything one scrape shows.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: Status,
    pub restore_duration: Option<Duration>,
    pub flows_installed: u64,
    pub bundle_failures: u64,
    pub openflow_reconnects: u64,
    pub ovsdb_reconnects: u64,
    pub frw_removed_unix_ns: u64,
}

impl Snapshot {
    pub fn new(status: Status, restore_duration: Option<Duration>, c: &Counters) -> Snapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            status,
            restore_duration,
            flows_installed: g(&c.flows_installed),
            bundle_failures: g(&c.bundle_failures),
            openflow_reconnects: g(&c.openflow_reconnects),
            ovsdb_reconnects: g(&c.ovsdb_reconnects),
            frw_removed_unix_ns: g(&c.frw_removed_unix_ns),
        }
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, v) in samples {
        let _ = writeln!(out, "{name}{labels} {v}");
    }
}

/// Renders the Prometheus text exposition format (version 0.0.4).
pub fn render(s: &Snapshot) -> String {
    let mut o = String::new();
    let st = &s.status;
    metric(
        &mut o,
        "podflow_pods",
        "gauge",
        "Pods known to the agent, by state.",
        &[
            ("{state=\"ready\"}", st.pods_ready.to_string()),
            ("{state=\"pending\"}", st.pods_pending.to_string()),
            ("{state=\"failed\"}", st.pods_failed.to_string()),
            ("{state=\"quarantined\"}", st.pods_quarantined.to_string()),
        ],
    );
    metric(&mut o, "podflow_flows_installed_total", "counter", "Flow mods acknowledged by the switch in committed bundles.", &[("", s.flows_installed.to_string())]);
    metric(&mut o, "podflow_bundle_failures_total", "counter", "Bundles that were refused, lost or timed out.", &[("", s.bundle_failures.to_string())]);
    metric(&mut o, "podflow_openflow_reconnects_total", "counter", "OpenFlow connections to the bridge after the first one.", &[("", s.openflow_reconnects.to_string())]);
    metric(&mut o, "podflow_ovsdb_reconnects_total", "counter", "OVSDB resynchronisations after the first one.", &[("", s.ovsdb_reconnects.to_string())]);
    metric(&mut o, "podflow_round", "gauge", "The agent's current round.", &[("", st.round.to_string())]);
    metric(&mut o, "podflow_ready", "gauge", "1 when the agent accepts CNI requests (a round completed).", &[("", u8::from(st.ready).to_string())]);
    metric(&mut o, "podflow_openflow_connected", "gauge", "1 while the OpenFlow session is up.", &[("", u8::from(st.openflow_connected).to_string())]);
    metric(
        &mut o,
        "podflow_flow_restore_wait",
        "gauge",
        "1 while other_config:flow-restore-wait is set as last seen by the agent, 0 when not, -1 unknown.",
        &[("", st.flow_restore_wait.map_or("-1".into(), |b| u8::from(b).to_string()))],
    );
    metric(
        &mut o,
        "podflow_last_restore_duration_seconds",
        "gauge",
        "Duration of the last round, from its start to the removal of flow-restore-wait (0: none yet).",
        &[("", format!("{:.6}", s.restore_duration.map_or(0.0, |d| d.as_secs_f64())))],
    );
    metric(
        &mut o,
        "podflow_flow_restore_wait_removed_timestamp_seconds",
        "gauge",
        "Unix time when the agent last removed flow-restore-wait (0: never).",
        &[("", format!("{:.6}", s.frw_removed_unix_ns as f64 / 1e9))],
    );
    o
}

/// Why the metrics endpoint could not be served.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr}: {source}")]
pub struct MetricsError {
    pub addr: String,
    pub source: std::io::Error,
}

/// Binds the metrics address (so a bad address fails at start-up).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, MetricsError> {
    TcpListener::bind(addr).await.map_err(|e| MetricsError { addr: addr.to_string(), source: e })
}

/// Serves `GET /metrics` (anything else: 404) until the task is aborted.
/// `scrape` produces the current text.
pub async fn serve<F, Fut>(listener: TcpListener, scrape: F)
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = String> + Send,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let scrape = scrape.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, scrape)).await;
        });
    }
}

async fn answer<F, Fut>(mut s: TcpStream, scrape: F) -> std::io::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).await?;
        if n == 0 || buf.len() > 16 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf[..buf.iter().position(|b| *b == b'\r').unwrap_or(0)]).into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", scrape().await),
        ("GET", _) => ("404 Not Found", "text/plain", "not found; try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_string()),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).await?;
    s.write_all(body.as_bytes()).await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric() {
        let status = Status {
            bridge: "br-int".into(),
            openflow_connected: true,
            ovsdb_connected: true,
            round: 3,
            flow_restore_wait: Some(false),
            pods_ready: 2,
            pods_pending: 1,
            pods_failed: 0,
            pods_quarantined: 1,
            not_ready_reason: None,
            ready: true,
        };
        let c = Counters::default();
        Counters::add(&c.flows_installed, 17);
        Counters::set_reconnects(&c.openflow_reconnects, 3);
        Counters::set_reconnects(&c.openflow_reconnects, 1);
        let text = render(&Snapshot::new(status, Some(Duration::from_millis(12)), &c));
        assert!(text.contains("podflow_pods{state=\"ready\"} 2\n"), "{text}");
        assert!(text.contains("podflow_pods{state=\"quarantined\"} 1\n"), "{text}");
        assert!(text.contains("podflow_flows_installed_total 17\n"));
        assert!(text.contains("podflow_openflow_reconnects_total 2\n"));
        assert!(text.contains("podflow_last_restore_duration_seconds 0.012000\n"));
        assert!(text.contains("podflow_flow_restore_wait 0\n"));
    }
}
