//! ARP over Ethernet frames: building a request and recognising a reply.
//! Pure byte handling, no sockets; never panics on any input.

use std::net::Ipv4Addr;

use crate::host::MacAddr;

pub const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;
const ARPHRD_ETHER: u16 = 1;
const ARPOP_REQUEST: u16 = 1;
const ARPOP_REPLY: u16 = 2;
/// Ethernet header (14) + ARP for IPv4 over Ethernet (28).
pub const ARP_FRAME_LEN: usize = 42;
/// Minimum Ethernet frame without FCS; requests are padded to it.
const MIN_FRAME_LEN: usize = 60;

/// A broadcast "who has `target`? tell `src_ip`" request from `src_mac`.
pub fn request(src_mac: MacAddr, src_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(MIN_FRAME_LEN);
    f.extend_from_slice(&MacAddr::BROADCAST.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&ARPHRD_ETHER.to_be_bytes());
    f.extend_from_slice(&ETH_P_IP.to_be_bytes());
    f.push(6);
    f.push(4);
    f.extend_from_slice(&ARPOP_REQUEST.to_be_bytes());
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&src_ip.octets());
    f.extend_from_slice(&MacAddr::ZERO.0);
    f.extend_from_slice(&target.octets());
    f.resize(MIN_FRAME_LEN, 0);
    f
}

/// The parts of an ARP reply that matter for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    pub sender_mac: MacAddr,
    pub sender_ip: Ipv4Addr,
    pub target_mac: MacAddr,
    pub target_ip: Ipv4Addr,
}

/// Parses an Ethernet frame as an IPv4-over-Ethernet ARP *reply*; anything
/// else (requests, other protocols, short or odd frames) gives `None`.
pub fn parse_reply(frame: &[u8]) -> Option<Reply> {
    let be16 = |at: usize| -> Option<u16> { Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?])) };
    let mac = |at: usize| -> Option<MacAddr> { Some(MacAddr(frame.get(at..at + 6)?.try_into().ok()?)) };
    let ip = |at: usize| -> Option<Ipv4Addr> { Some(Ipv4Addr::from(<[u8; 4]>::try_from(frame.get(at..at + 4)?).ok()?)) };
    if frame.len() < ARP_FRAME_LEN
        || be16(12)? != ETH_P_ARP
        || be16(14)? != ARPHRD_ETHER
        || be16(16)? != ETH_P_IP
        || frame[18] != 6
        || frame[19] != 4
        || be16(20)? != ARPOP_REPLY
    {
        return None;
    }
    Some(Reply { sender_mac: mac(22)?, sender_ip: ip(28)?, target_mac: mac(32)?, target_ip: ip(38)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const PEER: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn reply_frame() -> Vec<u8> {
        // A request with the roles swapped and the opcode set to reply.
        let mut f = request(PEER, Ipv4Addr::new(198, 18, 0, 2), Ipv4Addr::new(198, 18, 0, 1));
        f[0..6].copy_from_slice(&MAC.0);
        f[20..22].copy_from_slice(&ARPOP_REPLY.to_be_bytes());
        f[32..38].copy_from_slice(&MAC.0);
        f
    }

    #[test]
    fn request_layout() {
        let f = request(MAC, Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(f.len(), 60);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &MAC.0);
        assert_eq!(&f[12..22], &[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        assert_eq!(&f[22..28], &MAC.0);
        assert_eq!(&f[28..32], &[198, 18, 0, 1]);
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(&f[38..42], &[198, 18, 0, 2]);
        assert!(parse_reply(&f).is_none(), "a request is not a reply");
    }

    #[test]
    fn reply_parses() {
        let r = parse_reply(&reply_frame()).unwrap();
        assert_eq!(r.sender_ip, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(r.sender_mac, PEER);
        assert_eq!(r.target_ip, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(r.target_mac, MAC);
        assert!(parse_reply(&reply_frame()[..42]).is_some(), "unpadded is fine");
    }

    #[test]
    fn junk_never_panics_and_is_rejected() {
        let good = reply_frame();
        for len in 0..good.len() {
            let _ = parse_reply(&good[..len]);
        }
        assert!(parse_reply(&good[..41]).is_none());
        for (at, v) in [(12, 0x08u8), (15, 6), (17, 0xdd), (18, 8), (19, 16), (21, 3)] {
            let mut f = good.clone();
            f[at] ^= v;
            assert!(parse_reply(&f).is_none(), "byte {at} changed");
        }
    }
}
