//! A scripted fake switch: a tokio UnixListener in a private temporary
//! directory; the test plays the switch's side message by message.
#![allow(dead_code)]

use bytes::BytesMut;
use podflow::openflow::Addr;
use podflow::proto::openflow::message::{frame_len, Message};
use podflow::proto::openflow::switch::{FeaturesReply, Hello};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

static N: AtomicU32 = AtomicU32::new(0);

pub const DPID: u64 = 0x0000_0a0b_0c0d_0e0f;

pub struct FakeSwitch {
    pub addr: Addr,
    dir: PathBuf,
    /// `None` while the switch is "down".
    listener: Option<UnixListener>,
}

impl Drop for FakeSwitch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl FakeSwitch {
    pub fn new() -> FakeSwitch {
        let dir = std::env::temp_dir().join(format!("podflow-fake-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("br0.mgmt");
        let listener = UnixListener::bind(&path).unwrap();
        FakeSwitch { addr: Addr::Unix(path), dir, listener: Some(listener) }
    }

    /// Goes down as a restarting ovs-vswitchd does, and comes half back:
    /// the listening socket is closed and unlinked, and a new one is bound
    /// at the same path but not listening yet (connecting is refused, as
    /// between a daemon's bind() and listen()). [`FakeSwitch::listen`]
    /// finishes the restart.
    pub fn restart_bound_only(&mut self) -> socket2::Socket {
        let Addr::Unix(path) = &self.addr else { unreachable!("a fake switch is a unix socket") };
        self.listener = None;
        std::fs::remove_file(path).unwrap();
        let s = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        s.bind(&socket2::SockAddr::unix(path).unwrap()).unwrap();
        s
    }

    /// Starts accepting on a socket from [`FakeSwitch::restart_bound_only`].
    pub fn listen(&mut self, s: socket2::Socket) {
        s.listen(16).unwrap();
        s.set_nonblocking(true).unwrap();
        self.listener = Some(UnixListener::from_std(std::os::unix::net::UnixListener::from(std::os::fd::OwnedFd::from(s))).unwrap());
    }

    /// Accepts a connection without any handshake.
    pub async fn accept_raw(&self) -> Peer {
        let l = self.listener.as_ref().expect("the fake switch is down");
        let (s, _) = tokio::time::timeout(Duration::from_secs(5), l.accept()).await.expect("no connection").unwrap();
        Peer { s, buf: BytesMut::new() }
    }

    /// Accepts a connection and plays HELLO (OpenFlow 1.5) and FEATURES.
    pub async fn accept(&self) -> Peer {
        let mut p = self.accept_raw().await;
        p.handshake(Hello::of15()).await;
        p
    }
}

pub struct Peer {
    pub s: UnixStream,
    buf: BytesMut,
}

impl Peer {
    pub async fn handshake(&mut self, hello: Hello) {
        let (_, m) = self.recv().await;
        assert!(matches!(m, Message::Hello(_)), "{m:?}");
        self.send(1, &Message::Hello(hello)).await;
        let (xid, m) = self.recv().await;
        assert_eq!(m, Message::FeaturesRequest);
        self.send(xid, &Message::FeaturesReply(FeaturesReply { datapath_id: DPID, n_buffers: 0, n_tables: 254, auxiliary_id: 0, capabilities: 0 })).await;
    }

    /// The next message from podflow (panics after 5 s).
    pub async fn recv(&mut self) -> (u32, Message) {
        self.try_recv(Duration::from_secs(5)).await.expect("podflow sent nothing")
    }

    /// The next message, or `None` on EOF or after `limit`.
    pub async fn try_recv(&mut self, limit: Duration) -> Option<(u32, Message)> {
        let fut = async {
            loop {
                if let Some(len) = frame_len(&self.buf).expect("podflow sent an unframeable message") {
                    let b = self.buf.split_to(len);
                    return Some(Message::decode(&b).expect("podflow sent an undecodable message"));
                }
                if self.s.read_buf(&mut self.buf).await.ok()? == 0 {
                    return None;
                }
            }
        };
        tokio::time::timeout(limit, fut).await.ok().flatten()
    }

    /// Receives until a message matches `f`, skipping others (echo requests included).
    pub async fn recv_until(&mut self, mut f: impl FnMut(&Message) -> bool) -> (u32, Message) {
        loop {
            let (x, m) = self.recv().await;
            if f(&m) {
                return (x, m);
            }
        }
    }

    pub async fn send(&mut self, xid: u32, m: &Message) {
        let b = m.encode(xid).unwrap();
        self.s.write_all(&b).await.unwrap();
    }

    pub async fn send_raw(&mut self, b: &[u8]) {
        self.s.write_all(b).await.unwrap();
    }
}
