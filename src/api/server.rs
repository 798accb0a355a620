//! The agent side of the local API: a unix socket (mode 0600) that reads
//! one request line per connection, hands it to a [`Handler`] and writes
//! the answer. Each connection is served on its own task, so a slow ADD
//! never blocks `podflow status`.

use super::{ApiError, Request, Response, MAX_LINE};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// Answers API requests.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request) -> impl std::future::Future<Output = Response> + Send;
}

/// Binds the socket (replacing a stale one) with mode 0600.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serves until the listener fails.
pub async fn serve<H: Handler>(listener: UnixListener, handler: Arc<H>) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let h = handler.clone();
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            let mut r = BufReader::new(r.take(MAX_LINE as u64));
            let resp = match r.read_line(&mut line).await {
                Ok(0) => return,
                Ok(_) => match serde_json::from_str::<Request>(&line) {
                    Ok(req) => h.handle(req).await,
                    Err(e) => Response::Error(ApiError { code: 6, msg: format!("cannot parse the request: {e}"), details: String::new() }),
                },
                Err(e) => Response::Error(ApiError { code: 5, msg: format!("cannot read the request: {e}"), details: String::new() }),
            };
            let mut out = serde_json::to_vec(&resp).expect("responses serialize");
            out.push(b'\n');
            let _ = w.write_all(&out).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{call, Status};
    use std::time::Duration;

    struct Echo;
    impl Handler for Echo {
        async fn handle(&self, req: Request) -> Response {
            match req {
                Request::Status => Response::Status(Status {
                    bridge: "br-int".into(),
                    openflow_connected: true,
                    ovsdb_connected: true,
                    round: 1,
                    flow_restore_wait: Some(false),
                    pods_ready: 0,
                    pods_pending: 0,
                    pods_failed: 0,
                    ready: true,
                }),
                _ => Response::Done,
            }
        }
    }

    #[tokio::test]
    async fn serves_requests_and_rejects_garbage() {
        let dir = std::env::temp_dir().join(format!("podflow-api-{}", std::process::id()));
        let path = dir.join("api.sock");
        let l = bind(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        tokio::spawn(serve(l, Arc::new(Echo)));
        let p = path.clone();
        let r = tokio::task::spawn_blocking(move || call(&p, &Request::Status, Duration::from_secs(5))).await.unwrap().unwrap();
        assert!(matches!(r, Response::Status(s) if s.ready));
        let p = path.clone();
        let garbage = tokio::task::spawn_blocking(move || {
            use std::io::{BufRead, Write};
            let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
            s.write_all(b"{nope\n").unwrap();
            let mut l = String::new();
            std::io::BufReader::new(s).read_line(&mut l).unwrap();
            l
        })
        .await
        .unwrap();
        assert!(garbage.contains("cannot parse the request"), "{garbage}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
