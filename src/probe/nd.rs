//! IPv6 Neighbor Discovery (RFC 4861) over Ethernet frames: building a
//! neighbor solicitation (the ND prober's request), advertisements and
//! router advertisements (tests use them to forge what a hostile pod would
//! send), and recognising an advertisement. Pure byte handling, no
//! sockets; never panics on any input.

use std::net::Ipv6Addr;

use crate::host::MacAddr;

pub const ETH_P_IPV6: u16 = 0x86dd;
const IPPROTO_ICMPV6: u8 = 58;
const ETH_HDR: usize = 14;
const IP6_HDR: usize = 40;
/// Where the ICMPv6 message starts in a frame.
const ICMP_AT: usize = ETH_HDR + IP6_HDR;
/// ND messages must arrive with hop limit 255 (never routed).
const ND_HOP_LIMIT: u8 = 255;

pub const ROUTER_ADVERT: u8 = 134;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;
const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;

/// Advertisement flags.
pub const NA_ROUTER: u8 = 0x80;
pub const NA_SOLICITED: u8 = 0x40;
pub const NA_OVERRIDE: u8 = 0x20;

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15]])
}

/// The Ethernet address an IPv6 multicast address maps to (33:33 and its low 32 bits).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let g = group.octets();
    MacAddr([0x33, 0x33, g[12], g[13], g[14], g[15]])
}

/// The ICMPv6 checksum over the pseudo-header and `msg` (whose checksum field is zero).
fn checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(msg.len() as u32).to_be_bytes());
    add(&[0, 0, 0, IPPROTO_ICMPV6]);
    add(msg);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame carrying the ICMPv6 message `msg` (checksum filled in).
fn frame(src_mac: MacAddr, dst_mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, mut msg: Vec<u8>) -> Vec<u8> {
    let c = checksum(src, dst, &msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::with_capacity(ICMP_AT + msg.len());
    f.extend_from_slice(&dst_mac.0);
    f.extend_from_slice(&src_mac.0);
    f.extend_from_slice(&ETH_P_IPV6.to_be_bytes());
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    f.push(IPPROTO_ICMPV6);
    f.push(ND_HOP_LIMIT);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&msg);
    f
}

fn ll_option(kind: u8, mac: MacAddr) -> [u8; 8] {
    let m = mac.0;
    [kind, 1, m[0], m[1], m[2], m[3], m[4], m[5]]
}

/// A neighbor solicitation for `target` from `src_ip`/`src_mac`, to the
/// target's solicited-node group, with a source link-layer address option.
pub fn solicit(src_mac: MacAddr, src_ip: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    let mut msg = vec![NEIGHBOR_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(&target.octets());
    msg.extend_from_slice(&ll_option(OPT_SOURCE_LL, src_mac));
    frame(src_mac, multicast_mac(group), src_ip, group, msg)
}

/// A neighbor advertisement for `target` with `flags`, and a target
/// link-layer address option when `tll` is given.
pub fn advert(src_mac: MacAddr, src_ip: Ipv6Addr, dst_mac: MacAddr, dst_ip: Ipv6Addr, target: Ipv6Addr, flags: u8, tll: Option<MacAddr>) -> Vec<u8> {
    let mut msg = vec![NEIGHBOR_ADVERT, 0, 0, 0, flags, 0, 0, 0];
    msg.extend_from_slice(&target.octets());
    if let Some(m) = tll {
        msg.extend_from_slice(&ll_option(OPT_TARGET_LL, m));
    }
    frame(src_mac, dst_mac, src_ip, dst_ip, msg)
}

/// A router advertisement to all nodes (ff02::1) offering a default route
/// for `lifetime_s` seconds, with a source link-layer address option.
pub fn router_advert(src_mac: MacAddr, src_ip: Ipv6Addr, lifetime_s: u16) -> Vec<u8> {
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let mut msg = vec![ROUTER_ADVERT, 0, 0, 0, 64, 0];
    msg.extend_from_slice(&lifetime_s.to_be_bytes());
    msg.extend_from_slice(&[0; 8]); // reachable time, retransmission timer: unspecified
    msg.extend_from_slice(&ll_option(OPT_SOURCE_LL, src_mac));
    frame(src_mac, multicast_mac(all_nodes), src_ip, all_nodes, msg)
}

/// The parts of a neighbor advertisement that matter for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advert {
    /// Ethernet source.
    pub src_mac: MacAddr,
    pub src_ip: Ipv6Addr,
    pub dst_ip: Ipv6Addr,
    pub target: Ipv6Addr,
    pub flags: u8,
    /// The target link-layer address option, if present.
    pub tll: Option<MacAddr>,
}

/// Parses an Ethernet frame as an IPv6 neighbor advertisement (no
/// extension headers, as ND sends them); anything else gives `None`.
pub fn parse_advert(f: &[u8]) -> Option<Advert> {
    let ip6 = |at: usize| -> Option<Ipv6Addr> { Some(Ipv6Addr::from(<[u8; 16]>::try_from(f.get(at..at + 16)?).ok()?)) };
    if f.len() < ICMP_AT + 24 || u16::from_be_bytes([f[12], f[13]]) != ETH_P_IPV6 || f[14] >> 4 != 6 || f[ETH_HDR + 6] != IPPROTO_ICMPV6 {
        return None;
    }
    let payload = usize::from(u16::from_be_bytes([f[ETH_HDR + 4], f[ETH_HDR + 5]]));
    let end = ICMP_AT.checked_add(payload)?;
    if f[ICMP_AT] != NEIGHBOR_ADVERT || f[ICMP_AT + 1] != 0 || payload < 24 || end > f.len() {
        return None;
    }
    // Options: (type, length in units of 8 bytes); a zero length is invalid.
    let mut tll = None;
    let mut at = ICMP_AT + 24;
    while at + 2 <= end {
        let len = usize::from(f[at + 1]) * 8;
        if len == 0 || at + len > end {
            return None;
        }
        if f[at] == OPT_TARGET_LL && len >= 8 {
            tll = Some(MacAddr(f[at + 2..at + 8].try_into().ok()?));
        }
        at += len;
    }
    Some(Advert {
        src_mac: MacAddr(f[6..12].try_into().ok()?),
        src_ip: ip6(ETH_HDR + 8)?,
        dst_ip: ip6(ETH_HDR + 24)?,
        target: ip6(ICMP_AT + 8)?,
        flags: f[ICMP_AT + 4],
        tll,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn valid_checksum(f: &[u8]) -> bool {
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&f[22..38]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap());
        // Summing a message with its checksum in place gives 0 (complemented).
        checksum(src, dst, &f[ICMP_AT..]) == 0
    }

    #[test]
    fn solicitation_layout() {
        let f = solicit(A, ip("fd00::1"), ip("fd00::12:3456"));
        assert_eq!(f.len(), 14 + 40 + 32);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
        assert_eq!(&f[38..54], &ip("ff02::1:ff12:3456").octets());
        assert_eq!(f[21], 255, "hop limit");
        assert_eq!(f[ICMP_AT], 135);
        assert_eq!(&f[ICMP_AT + 24..], &[1, 1, 2, 0, 0, 0, 0, 1]);
        assert!(valid_checksum(&f));
        assert!(parse_advert(&f).is_none(), "a solicitation is not an advertisement");
    }

    #[test]
    fn known_checksum() {
        // Computed by hand for a minimal advertisement: the checksum field
        // must make the ones' complement sum of everything 0xffff.
        let f = advert(B, ip("fe80::2"), A, ip("fe80::1"), ip("fe80::2"), NA_SOLICITED, None);
        assert!(valid_checksum(&f));
        let mut g = f.clone();
        g[ICMP_AT + 20] ^= 1;
        assert!(!valid_checksum(&g));
    }

    #[test]
    fn advert_round_trips() {
        let f = advert(B, ip("fd00::2"), A, ip("fd00::1"), ip("fd00::2"), NA_SOLICITED | NA_OVERRIDE, Some(B));
        assert!(valid_checksum(&f));
        let a = parse_advert(&f).unwrap();
        assert_eq!(a, Advert { src_mac: B, src_ip: ip("fd00::2"), dst_ip: ip("fd00::1"), target: ip("fd00::2"), flags: 0x60, tll: Some(B) });
        let a = parse_advert(&advert(B, ip("fd00::2"), A, ip("fd00::1"), ip("fd00::2"), 0, None)).unwrap();
        assert_eq!(a.tll, None);
        let ra = router_advert(A, ip("fe80::1"), 1800);
        assert!(valid_checksum(&ra));
        assert!(parse_advert(&ra).is_none());
    }

    #[test]
    fn junk_never_panics_and_is_rejected() {
        let good = advert(B, ip("fd00::2"), A, ip("fd00::1"), ip("fd00::2"), NA_SOLICITED, Some(B));
        for len in 0..good.len() {
            let _ = parse_advert(&good[..len]);
        }
        assert!(parse_advert(&good[..good.len() - 1]).is_none());
        for at in [12, 14, 20, ICMP_AT, ICMP_AT + 1, ICMP_AT + 25] {
            let mut f = good.clone();
            f[at] ^= 0xff;
            assert!(parse_advert(&f).is_none(), "byte {at} changed");
        }
    }
}
