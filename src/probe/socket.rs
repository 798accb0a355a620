//! The raw `AF_PACKET` socket of the prober: opened with protocol 0 (so it
//! receives nothing yet), then bound to one interface and the ARP ethertype,
//! so it only ever sees ARP frames of that interface; frames we sent
//! ourselves are ignored.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::arp::ETH_P_ARP;

/// `PACKET_IGNORE_OUTGOING` (Linux 4.20+): do not loop our own frames back.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// `sll_pkttype` of frames this host sent.
const PACKET_OUTGOING: u8 = 4;

#[derive(Debug)]
pub struct ArpSocket {
    socket: Socket,
}

type OpError = (&'static str, io::Error);

impl ArpSocket {
    /// Opens the socket in the calling thread's network namespace and binds
    /// it to interface `ifindex` of that namespace.
    pub fn open(ifindex: u32) -> Result<ArpSocket, OpError> {
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0))).map_err(|e| ("open a raw packet socket (needs CAP_NET_RAW)", e))?;
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ARP.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: the pointer and length describe `sll`, alive for the call.
        let rc = unsafe {
            libc::bind(
                socket.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(("bind to the interface", io::Error::last_os_error()));
        }
        let one: libc::c_int = 1;
        // SAFETY: valid option pointer and length. Older kernels refuse the
        // option; `recv` filters outgoing frames anyway.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_IGNORE_OUTGOING,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        socket.set_nonblocking(true).map_err(|e| ("make the socket non-blocking", e))?;
        Ok(ArpSocket { socket })
    }

    /// Sends one frame out of the bound interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        loop {
            match self.socket.send(frame) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }

    /// Waits up to `timeout` (nanosecond precision) for a frame to read.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ts = libc::timespec { tv_sec: timeout.as_secs() as libc::time_t, tv_nsec: timeout.subsec_nanos() as libc::c_long };
        // SAFETY: one valid pollfd, a valid timespec, no signal mask.
        let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted { Ok(false) } else { Err(e) };
        }
        Ok(rc > 0)
    }

    /// Reads one incoming frame into `buf`: `Ok(None)` when none is queued.
    /// Frames this host sent are skipped.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            let mut from = MaybeUninit::<libc::sockaddr_ll>::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: buf and from are valid for the lengths given.
            let n = unsafe {
                libc::recvfrom(
                    self.socket.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    from.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(None),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            // SAFETY: zero-initialised and possibly filled in by the kernel.
            let from = unsafe { from.assume_init() };
            if from.sll_pkttype == PACKET_OUTGOING {
                continue;
            }
            return Ok(Some(n as usize));
        }
    }
}
