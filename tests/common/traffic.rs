//! Traffic between pods for tests: TCP (a bulk transfer and its length
//! back), UDP (a datagram each way), and a paced UDP probe with an echo
//! server, for loss measurements where ARP cannot be used (across nodes).
#![allow(dead_code)]

use podflow::host::netns::run_in_netns;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Sends 256 KiB over TCP from namespace `from` to a listener in `netns` at
/// `ip:port`; returns the byte count the listener reports back.
pub fn tcp(netns: &str, ip: &str, port: u16, from: &str) -> Result<u64, String> {
    let t = Duration::from_secs(5);
    let at = SocketAddr::new(ip.parse().unwrap_or_else(|e| panic!("{ip:?}: {e}")), port);
    let listener = run_in_netns(Some(netns), move || Ok(TcpListener::bind(at)?)).map_err(|e| e.to_string())?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut n = 0u64;
        let mut buf = [0u8; 16384];
        loop {
            match s.read(&mut buf)? {
                0 => break,
                k => n += k as u64,
            }
        }
        s.write_all(&n.to_be_bytes())
    });
    let mut c = run_in_netns(Some(from), move || Ok(TcpStream::connect_timeout(&at, t)?)).map_err(|e| format!("connect to {at}: {e}"))?;
    c.set_read_timeout(Some(t)).unwrap();
    c.set_write_timeout(Some(t)).unwrap();
    c.write_all(&vec![0x5a; 256 * 1024]).map_err(|e| format!("send to {at}: {e}"))?;
    c.shutdown(Shutdown::Write).unwrap();
    let mut n = [0u8; 8];
    c.read_exact(&mut n).map_err(|e| format!("answer from {at}: {e}"))?;
    server.join().unwrap().map_err(|e| format!("server at {at}: {e}"))?;
    Ok(u64::from_be_bytes(n))
}

/// A UDP datagram from (`a_ns`, `a_ip`) to (`b_ns`, `b_ip`) and one back;
/// up to three tries each way. A direction works only when the datagram
/// arrives from the sender's own address (pods talk without NAT: a
/// masquerade between them would be a bug). Returns which directions worked.
pub fn udp_both_ways(a_ns: &str, a_ip: &str, b_ns: &str, b_ip: &str, port: u16) -> (bool, bool) {
    let at = |ip: &str| SocketAddr::new(ip.parse().unwrap_or_else(|e| panic!("{ip:?}: {e}")), port);
    let (a_at, b_at) = (at(a_ip), at(b_ip));
    let ua = run_in_netns(Some(a_ns), move || Ok(UdpSocket::bind(a_at)?)).unwrap();
    let ub = run_in_netns(Some(b_ns), move || Ok(UdpSocket::bind(b_at)?)).unwrap();
    for s in [&ua, &ub] {
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    }
    let mut buf = [0u8; 64];
    let mut delivered = |from: &UdpSocket, to: &UdpSocket, dst: SocketAddr| {
        let src = from.local_addr().unwrap();
        (0..3).any(|_| from.send_to(b"podflow", dst).is_ok() && matches!(to.recv_from(&mut buf), Ok((7, s)) if s == src))
    };
    (delivered(&ua, &ub, b_at), delivered(&ub, &ua, a_at))
}

fn unix_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// One probe: when it was sent (Unix ns) and whether its echo came back.
#[derive(Debug, Clone, Copy)]
pub struct UdpProbe {
    pub seq: u32,
    pub sent_unix_ns: u64,
    pub replied: bool,
}

/// A UDP echo server in one namespace and a sender in another, probing
/// every `interval` until stopped. Stopping waits a last second for echoes.
pub struct UdpProber {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    echo: Option<std::thread::JoinHandle<()>>,
    send: Option<std::thread::JoinHandle<Vec<UdpProbe>>>,
}

impl UdpProber {
    pub fn start(from_ns: &str, from_ip: &str, to_ns: &str, to_ip: &str, port: u16, interval: Duration) -> UdpProber {
        let stop = Arc::new(AtomicBool::new(false));
        let to_at: SocketAddr = format!("{to_ip}:{port}").parse().unwrap();
        let from_at: SocketAddr = format!("{from_ip}:{port}").parse().unwrap();
        let server = run_in_netns(Some(to_ns), move || Ok(UdpSocket::bind(to_at)?)).unwrap();
        server.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let s2 = done.clone();
        let echo = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            // Runs until the sender has stopped and drained.
            while !s2.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = server.recv_from(&mut buf) {
                    let _ = server.send_to(&buf[..n], peer);
                }
            }
        });
        let client = run_in_netns(Some(from_ns), move || Ok(UdpSocket::bind(from_at)?)).unwrap();
        client.set_nonblocking(true).unwrap();
        let s3 = stop.clone();
        let send = std::thread::spawn(move || {
            let mut probes: Vec<UdpProbe> = Vec::new();
            let mut buf = [0u8; 64];
            let t0 = Instant::now();
            let mut seq = 0u32;
            let mut drain_until: Option<Instant> = None;
            loop {
                let now = Instant::now();
                if drain_until.is_none() && s3.load(Ordering::Relaxed) {
                    drain_until = Some(now + Duration::from_secs(1));
                }
                if let Some(d) = drain_until {
                    if now >= d {
                        break;
                    }
                } else if now >= t0 + interval * seq {
                    let _ = client.send_to(&seq.to_be_bytes(), to_at);
                    probes.push(UdpProbe { seq, sent_unix_ns: unix_ns(), replied: false });
                    seq += 1;
                }
                while let Ok((4, _)) = client.recv_from(&mut buf) {
                    let s = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                    if let Some(p) = probes.get_mut(s) {
                        p.replied = true;
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            probes
        });
        UdpProber { stop, done, echo: Some(echo), send: Some(send) }
    }

    /// Stops probing and returns every probe.
    pub fn finish(mut self) -> Vec<UdpProbe> {
        self.stop.store(true, Ordering::Relaxed);
        let probes = self.send.take().unwrap().join().unwrap();
        self.done.store(true, Ordering::Relaxed);
        self.echo.take().unwrap().join().unwrap();
        probes
    }
}

impl Drop for UdpProber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.done.store(true, Ordering::Relaxed);
    }
}
