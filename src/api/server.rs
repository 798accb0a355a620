//! The agent side of the local API: a unix socket created with mode 0600
//! that reads one request line per connection, hands it to a [`Handler`]
//! and writes the answer. Each connection is served on its own task, so a
//! slow ADD never blocks `podflow status`. Bounded: a connection cap, a
//! deadline for the request line, a line limit. It never removes a socket
//! file it did not bind.

use super::{code, ApiError, Request, Response, MAX_REQUEST_LINE};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// Connections served at once; beyond, a connection is answered with an
/// error and closed (a stuck client must not exhaust the agent).
pub const MAX_CONNECTIONS: usize = 256;
/// Time a client has to send its request line.
pub const READ_DEADLINE: Duration = Duration::from_secs(10);

/// Answers API requests.
pub trait Handler: Send + Sync + 'static {
    /// `client` says whether the client has gone away meanwhile (closed its
    /// end): an ADD checks it before it commits and before it answers, and
    /// undoes the pod rather than leave one nobody will use.
    fn handle(&self, req: Request, client: ClientGone) -> impl std::future::Future<Output = Response> + Send;
}

/// Set once the client closed its end of the connection.
#[derive(Debug, Clone, Default)]
pub struct ClientGone(Arc<std::sync::atomic::AtomicBool>);

impl ClientGone {
    pub fn is_gone(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The socket file this process bound: removed on drop only if the path
/// still names it (same device and inode), so a stopping agent never takes
/// a newer agent's socket with it.
#[derive(Debug)]
pub struct BoundSocket {
    path: PathBuf,
    id: (u64, u64),
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == self.id => {
                let _ = std::fs::remove_file(&self.path);
            }
            Ok(_) => tracing::warn!(path = %self.path.display(), "the API socket path now names another socket; left in place"),
            Err(_) => {}
        }
    }
}

/// Binds the socket (replacing a stale one; the caller holds the state
/// directory's lock, so no live agent owns it). The umask makes the file
/// 0600 from its creation, not after.
pub fn bind(path: &Path) -> std::io::Result<(UnixListener, BoundSocket)> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // SAFETY: umask only swaps the process's creation mask; restored below.
    let old = unsafe { libc::umask(0o177) };
    let l = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let l = l?;
    let m = std::fs::symlink_metadata(path)?;
    Ok((l, BoundSocket { path: path.to_path_buf(), id: (m.dev(), m.ino()) }))
}

fn refuse(code: u32, msg: String) -> Response {
    Response::Error(ApiError { code, msg, details: String::new() })
}

/// Reads one request line within the deadline and the line limit:
/// the request, or the error to answer (`None`: closed without a word).
async fn read_request(r: &mut tokio::net::unix::OwnedReadHalf) -> Result<Request, Option<Response>> {
    let mut line = Vec::new();
    let mut r = BufReader::new(r.take(MAX_REQUEST_LINE as u64 + 1));
    match tokio::time::timeout(READ_DEADLINE, r.read_until(b'\n', &mut line)).await {
        Err(_) => Err(Some(refuse(code::IO_FAILURE, format!("no complete request line within {READ_DEADLINE:?}")))),
        Ok(Ok(0)) => Err(None),
        Ok(Ok(_)) if line.len() > MAX_REQUEST_LINE => Err(Some(refuse(code::IO_FAILURE, format!("the request is longer than {MAX_REQUEST_LINE} bytes")))),
        Ok(Ok(_)) => serde_json::from_slice(&line).map_err(|e| Some(refuse(code::DECODE_FAILURE, format!("cannot parse the request: {e}")))),
        Ok(Err(e)) => Err(Some(refuse(code::IO_FAILURE, format!("cannot read the request: {e}")))),
    }
}

async fn answer(mut w: tokio::net::unix::OwnedWriteHalf, resp: &Response) {
    let mut out = serde_json::to_vec(resp).expect("responses serialize");
    out.push(b'\n');
    // A client that does not read gets the same deadline as one that does not write.
    let _ = tokio::time::timeout(READ_DEADLINE, w.write_all(&out)).await;
}

/// Marks `gone` when the client closes its end (a client sends one line,
/// then only waits for the answer).
async fn watch_hangup(mut r: tokio::net::unix::OwnedReadHalf, gone: ClientGone) {
    let mut buf = [0u8; 512];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    gone.0.store(true, std::sync::atomic::Ordering::SeqCst);
}

async fn serve_one<H: Handler>(stream: UnixStream, h: Arc<H>) {
    let (mut r, w) = stream.into_split();
    let resp = match read_request(&mut r).await {
        Ok(req) => {
            let gone = ClientGone::default();
            let watcher = tokio::spawn(watch_hangup(r, gone.clone()));
            let resp = h.handle(req, gone).await;
            watcher.abort();
            resp
        }
        Err(Some(resp)) => resp,
        Err(None) => return,
    };
    answer(w, &resp).await;
}

/// Serves until the listener fails.
pub async fn serve<H: Handler>(listener: UnixListener, handler: Arc<H>) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, _) = listener.accept().await?;
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("API connection refused: {MAX_CONNECTIONS} connections are being served");
            let mut line = serde_json::to_vec(&refuse(code::TRY_AGAIN_LATER, format!("the agent serves {MAX_CONNECTIONS} connections already; try again later"))).expect("serializes");
            line.push(b'\n');
            // Best effort and never waiting: the accept loop must go on.
            let _ = stream.try_write(&line);
            continue;
        };
        let h = handler.clone();
        tokio::spawn(async move {
            serve_one(stream, h).await;
            drop(permit);
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
        async fn handle(&self, req: Request, _: ClientGone) -> Response {
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
                    pods_quarantined: 0,
                    not_ready_reason: None,
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
        let (l, bound) = bind(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
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
        // A line over the limit is refused without being parsed.
        let p = path.clone();
        let long = tokio::task::spawn_blocking(move || {
            use std::io::{BufRead, Write};
            let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
            let _ = s.write_all(&vec![b'x'; MAX_REQUEST_LINE + 10]);
            let mut l = String::new();
            std::io::BufReader::new(s).read_line(&mut l).unwrap();
            l
        })
        .await
        .unwrap();
        assert!(long.contains("longer than"), "{long}");
        // Another socket now at the path (a newer agent's): dropping ours leaves it.
        std::fs::remove_file(&path).unwrap();
        let _other = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(bound);
        assert!(path.exists(), "a stopping agent removed a socket it did not bind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    struct Never;
    impl Handler for Never {
        async fn handle(&self, _: Request, _: ClientGone) -> Response {
            Response::Done
        }
    }

    #[tokio::test]
    async fn past_the_connection_cap_a_client_is_told_at_once() {
        let dir = std::env::temp_dir().join(format!("podflow-api-cap-{}", std::process::id()));
        let path = dir.join("api.sock");
        let (l, _bound) = bind(&path).unwrap();
        tokio::spawn(serve(l, Arc::new(Never)));
        let mut silent = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            silent.push(UnixStream::connect(&path).await.unwrap());
        }
        // Every slot is taken once the server accepted them all.
        let line = loop {
            let c = UnixStream::connect(&path).await.unwrap();
            let mut line = String::new();
            let read = tokio::time::timeout(Duration::from_millis(200), BufReader::new(c).read_line(&mut line)).await;
            if read.is_ok() {
                break line;
            }
        };
        assert!(line.contains("connections already"), "{line}");
        drop(silent);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_client_is_answered_at_the_read_deadline_and_its_bound_socket_goes() {
        let dir = std::env::temp_dir().join(format!("podflow-api-b-{}", std::process::id()));
        let path = dir.join("api.sock");
        let (l, bound) = bind(&path).unwrap();
        tokio::spawn(serve(l, Arc::new(Never)));
        let c = UnixStream::connect(&path).await.unwrap();
        let (r, _w) = c.into_split();
        let mut line = String::new();
        BufReader::new(r).read_line(&mut line).await.unwrap();
        assert!(line.contains("no complete request line within"), "{line}");
        drop(bound);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
