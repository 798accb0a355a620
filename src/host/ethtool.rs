//! The one ethtool setting podflow needs: TX checksum offload of a link in
//! the calling thread's network namespace (the `SIOCETHTOOL` ioctl with the
//! legacy one-feature command, which the kernel maps onto its feature
//! flags; `ethtool -K IF tx off` does the same).
//!
//! Why: a veth computes TCP/UDP checksums lazily (offloaded). The kernel
//! datapath fills them in on the way out; OVS's userspace datapath forwards
//! the packet as it is, and the receiver drops it. ARP and ICMP are
//! unaffected, which is why only TCP/UDP break.

use super::error::HostError;
use super::check_ifname;

/// `ETHTOOL_STXCSUM` from `<linux/ethtool.h>`.
const ETHTOOL_STXCSUM: u32 = 0x17;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut EthtoolValue,
    _pad: [u8; 16],
}

/// Turns TX checksum offload of `ifname` on or off.
pub fn set_tx_checksum(ifname: &str, on: bool) -> Result<(), HostError> {
    check_ifname(ifname)?;
    let mut value = EthtoolValue { cmd: ETHTOOL_STXCSUM, data: u32::from(on) };
    let mut req = IfReq { name: [0; libc::IFNAMSIZ], data: &mut value, _pad: [0; 16] };
    for (d, s) in req.name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    // SAFETY: a plain datagram socket, closed below; the ioctl reads `req`
    // and the `EthtoolValue` it points to, both alive for the call.
    let rc = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(HostError::Io(std::io::Error::last_os_error()));
        }
        let rc = libc::ioctl(fd, libc::SIOCETHTOOL, &mut req as *mut IfReq);
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if rc < 0 { Err(err) } else { Ok(()) }
    };
    rc.map_err(|e| {
        let op = format!("turn TX checksum offload {} on `{ifname}`", if on { "on" } else { "off" });
        HostError::from_errno(e.raw_os_error().unwrap_or(libc::EIO), &op, &format!("link `{ifname}`"))
    })
}
