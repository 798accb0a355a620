//! The raw `AF_PACKET` socket of the prober: opened with protocol 0 (so it
//! receives nothing yet), then bound to one interface and one ethertype (ARP,
//! or IPv6 for Neighbor Discovery), so it only ever sees those frames of that
//! interface; frames we sent ourselves are ignored.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

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
    /// it to interface `ifindex` of that namespace and to `ethertype`.
    pub fn open(ifindex: u32, ethertype: u16) -> Result<ArpSocket, OpError> {
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0))).map_err(|e| ("open a raw packet socket (needs CAP_NET_RAW)", e))?;
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ethertype.to_be();
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
        // Kernel receive timestamps (CLOCK_REALTIME): a reply's arrival
        // time does not depend on when the probing thread gets to read it.
        // SAFETY: valid option pointer and length; without it `recv` falls
        // back to the time of reading.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
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

    /// Reads one incoming frame into `buf`: `Ok(None)` when none is queued,
    /// else its length and, if the kernel gave one, its arrival time in
    /// nanoseconds since the Unix epoch. Frames this host sent are skipped.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<u64>)>> {
        loop {
            let mut from = MaybeUninit::<libc::sockaddr_ll>::zeroed();
            let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
            // Room for one SCM_TIMESTAMPNS (and a spare header).
            let mut control = [0u64; 16];
            // SAFETY: msghdr is plain data; all-zero is valid.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = from.as_mut_ptr().cast();
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            // SAFETY: every pointer in msg is valid for the lengths given.
            let n = unsafe { libc::recvmsg(self.socket.as_raw_fd(), &mut msg, 0) };
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
            let mut stamp = None;
            // SAFETY: the CMSG_* macros walk the control buffer the kernel
            // filled, within msg_controllen; the data is read unaligned.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                        let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        if ts.tv_sec > 0 {
                            stamp = Some((ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64));
                        }
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            return Ok(Some((n as usize, stamp)));
        }
    }
}
