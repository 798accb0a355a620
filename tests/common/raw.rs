//! Sending one hand-made Ethernet frame out of an interface inside a
//! namespace (tests forge what a hostile pod would send: a neighbor
//! advertisement for another pod's address, a router advertisement).
#![allow(dead_code)]

use podflow::host::netns::run_in_netns;
use podflow::host::HostError;

/// Sends `frame` once out of `ifname` in namespace `netns` through a raw
/// `AF_PACKET` socket opened there (and closed after).
pub fn send_frame(netns: &str, ifname: &str, frame: Vec<u8>) -> Result<(), HostError> {
    let ifname = std::ffi::CString::new(ifname).unwrap();
    run_in_netns(Some(netns), move || {
        // SAFETY: plain libc calls on a socket this closure owns and closes;
        // every pointer is valid for the length given.
        unsafe {
            let index = libc::if_nametoindex(ifname.as_ptr());
            if index == 0 {
                return Err(HostError::Io(std::io::Error::last_os_error()));
            }
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            if fd < 0 {
                return Err(HostError::Io(std::io::Error::last_os_error()));
            }
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_ifindex = index as i32;
            sll.sll_halen = 6;
            sll.sll_addr[..6].copy_from_slice(&frame[..6]);
            let n = libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            );
            let err = std::io::Error::last_os_error();
            libc::close(fd);
            if n < 0 {
                return Err(HostError::Io(err));
            }
        }
        Ok(())
    })
}
