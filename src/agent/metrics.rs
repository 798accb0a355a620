//! The agent's HTTP endpoint (`podflow agent --metrics-addr`): Prometheus
//! metrics (`/metrics`, rendered by `prometheus-client`), liveness
//! (`/livez`: the agent's own event loop answers, never the switch) and
//! readiness (`/readyz`: a round removed the key, and the switch and OVSDB
//! are connected), served by `hyper` with a header read timeout, a whole
//! connection deadline and a connection cap. It only reads the agent's
//! state; it never changes it.

use crate::api::Status;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

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
    /// OpenFlow connection attempts, failed ones included (set at each
    /// scrape from the supervisor).
    pub openflow_connect_attempts: AtomicU64,
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
    pub openflow_connect_attempts: u64,
    pub frw_removed_unix_ns: u64,
    /// Metrics of other modules (peer source, peer routes), rendered in the
    /// same registry: (name, help, is a counter, value). A counter's name
    /// is given without the `_total` the exposition format adds.
    pub extra: Vec<Sample>,
}

/// One metric of another module: (name, help, is a counter, value).
pub type Sample = (&'static str, &'static str, bool, u64);

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
            openflow_connect_attempts: g(&c.openflow_connect_attempts),
            frw_removed_unix_ns: g(&c.frw_removed_unix_ns),
            extra: Vec::new(),
        }
    }
}

/// Renders the metrics in the OpenMetrics text format (which Prometheus
/// scrapes) through a registry built for this scrape.
pub fn render(s: &Snapshot) -> String {
    let st = &s.status;
    let mut reg = Registry::default();
    let pods = Family::<Vec<(&'static str, &'static str)>, Gauge>::default();
    reg.register("podflow_pods", "Pods known to the agent, by state", pods.clone());
    for (state, n) in [("ready", st.pods_ready), ("pending", st.pods_pending), ("failed", st.pods_failed), ("quarantined", st.pods_quarantined)] {
        pods.get_or_create(&vec![("state", state)]).set(n as i64);
    }
    let counter = |reg: &mut Registry, name: &str, help: &str, v: u64| {
        let c = Counter::<u64>::default();
        c.inc_by(v);
        reg.register(name, help, c);
    };
    counter(&mut reg, "podflow_flows_installed", "Flow mods acknowledged by the switch in committed bundles", s.flows_installed);
    counter(&mut reg, "podflow_bundle_failures", "Bundles that were refused, lost or timed out", s.bundle_failures);
    counter(&mut reg, "podflow_openflow_reconnects", "OpenFlow connections to the bridge after the first one", s.openflow_reconnects);
    counter(&mut reg, "podflow_ovsdb_reconnects", "OVSDB resynchronisations after the first one", s.ovsdb_reconnects);
    counter(
        &mut reg,
        "podflow_openflow_connect_attempts",
        "OpenFlow connection attempts, failed ones included (about 100 a second while the management socket has nobody listening)",
        s.openflow_connect_attempts,
    );
    let gauge = |reg: &mut Registry, name: &str, help: &str, v: i64| {
        let g = Gauge::<i64>::default();
        g.set(v);
        reg.register(name, help, g);
    };
    gauge(&mut reg, "podflow_round", "The agent's current round", i64::from(st.round));
    gauge(&mut reg, "podflow_ready", "1 when the agent accepts CNI requests (a round completed)", i64::from(st.ready));
    gauge(&mut reg, "podflow_openflow_connected", "1 while the OpenFlow session is up", i64::from(st.openflow_connected));
    gauge(
        &mut reg,
        "podflow_flow_restore_wait",
        "1 while other_config:flow-restore-wait is set as last seen by the agent, 0 when not, -1 unknown",
        st.flow_restore_wait.map_or(-1, i64::from),
    );
    let fgauge = |reg: &mut Registry, name: &str, help: &str, v: f64| {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(v);
        reg.register(name, help, g);
    };
    fgauge(
        &mut reg,
        "podflow_last_restore_duration_seconds",
        "Duration of the last round, from its start to the removal of flow-restore-wait (0: none yet)",
        s.restore_duration.map_or(0.0, |d| d.as_secs_f64()),
    );
    fgauge(
        &mut reg,
        "podflow_flow_restore_wait_removed_timestamp_seconds",
        "Unix time when the agent last removed flow-restore-wait (0: never)",
        s.frw_removed_unix_ns as f64 / 1e9,
    );
    for &(name, help, is_counter, v) in &s.extra {
        if is_counter {
            counter(&mut reg, name, help, v);
        } else {
            gauge(&mut reg, name, help, v as i64);
        }
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &reg);
    out
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

/// What the endpoint asks the agent at each request.
pub trait Source: Send + Sync + 'static {
    /// Everything `/metrics` shows.
    fn snapshot(&self) -> impl std::future::Future<Output = Snapshot> + Send;
    /// The agent's status, for `/livez` (that it answers at all) and `/readyz`.
    fn status(&self) -> impl std::future::Future<Output = Status> + Send;
}

/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 32;
/// Time a client gets to send its request head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a whole connection may take.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// Time the agent gets to answer `/livez`.
pub const LIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `/metrics`, `/livez` and `/readyz` until the task is aborted.
pub async fn serve<S: Source>(listener: TcpListener, source: Arc<S>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!("metrics endpoint: too many connections; closing one");
            continue;
        };
        let source = source.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let source = source.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&*source, req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, conn).await;
            drop(slot);
        });
    }
}

fn text(code: StatusCode, ctype: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    if let Ok(v) = ctype.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

/// Why the agent is not ready, or `None` when it is.
pub fn not_ready(st: &Status) -> Option<String> {
    if !st.ovsdb_connected {
        Some("OVSDB is not connected".into())
    } else if !st.openflow_connected {
        Some("the switch is not connected".into())
    } else if !st.ready {
        Some(st.not_ready_reason.clone().unwrap_or_else(|| "no round has removed flow-restore-wait yet".into()))
    } else {
        None
    }
}

async fn answer<S: Source, B>(source: &S, req: Request<B>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "only GET\n".into());
    }
    match req.uri().path() {
        "/metrics" => text(StatusCode::OK, CONTENT_TYPE, render(&source.snapshot().await)),
        "/livez" => match tokio::time::timeout(LIVE_TIMEOUT, source.status()).await {
            Ok(_) => text(StatusCode::OK, PLAIN, "live\n".into()),
            Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, format!("the agent did not answer within {LIVE_TIMEOUT:?}\n")),
        },
        "/readyz" => match tokio::time::timeout(LIVE_TIMEOUT, source.status()).await {
            Ok(st) => match not_ready(&st) {
                None => text(StatusCode::OK, PLAIN, "ready\n".into()),
                Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, format!("not ready: {why}\n")),
            },
            Err(_) => text(StatusCode::SERVICE_UNAVAILABLE, PLAIN, format!("the agent did not answer within {LIVE_TIMEOUT:?}\n")),
        },
        _ => text(StatusCode::NOT_FOUND, PLAIN, "not found; try /metrics, /livez or /readyz\n".into()),
    }
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
        assert!(text.contains("podflow_last_restore_duration_seconds 0.012\n"), "{text}");
        assert!(text.contains("podflow_flow_restore_wait 0\n"));
        assert!(text.contains("# TYPE podflow_flows_installed counter\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
