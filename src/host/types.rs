//! Plain values of the host layer (links, addresses, routes, prefixes), free
//! of netlink types so callers never depend on the netlink crates. Wire
//! values are newtypes over the kernel's integer with named constants, so an
//! unknown value survives and prints as a number.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkInfo, LinkMessage, Prop, State};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};

use super::HostError;

/// The main routing table.
pub const RT_TABLE_MAIN: u32 = 254;
/// The local routing table (local and broadcast addresses).
pub const RT_TABLE_LOCAL: u32 = 255;

/// An Ethernet MAC address; prints and parses as `aa:bb:cc:dd:ee:ff`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    pub const ZERO: MacAddr = MacAddr([0; 6]);
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for MacAddr {
    type Err = HostError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || HostError::InvalidInput(format!("`{s}` is not a MAC address (expected aa:bb:cc:dd:ee:ff)"));
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.is_empty() || p.len() > 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// RFC 2863 operational state of a link (`IF_OPER_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
    Other(u8),
}

impl From<&State> for OperState {
    fn from(s: &State) -> Self {
        match s {
            State::Unknown => OperState::Unknown,
            State::NotPresent => OperState::NotPresent,
            State::Down => OperState::Down,
            State::LowerLayerDown => OperState::LowerLayerDown,
            State::Testing => OperState::Testing,
            State::Dormant => OperState::Dormant,
            State::Up => OperState::Up,
            State::Other(v) => OperState::Other(*v),
            _ => OperState::Other(u8::from(*s)),
        }
    }
}

/// A network interface as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// Alternative names (`ip link property add altname`).
    pub altnames: Vec<String>,
    pub mac: Option<MacAddr>,
    pub mtu: u32,
    /// Administratively up (`IFF_UP`).
    pub admin_up: bool,
    pub oper_state: OperState,
    /// Index of the master (bridge, bond, VRF), if any.
    pub master: Option<u32>,
    /// Link kind (`veth`, `bridge`, `openvswitch`, ...), if the kernel says.
    pub kind: Option<String>,
    /// Transmit queue length.
    pub txqlen: u32,
    /// The link this one is stacked on (`IFLA_LINK`: a VLAN's or macvlan's
    /// parent, a veth's peer).
    pub parent: Option<u32>,
}

impl Link {
    pub(super) fn from_message(m: &LinkMessage) -> Link {
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            altnames: vec![],
            mac: None,
            mtu: 0,
            admin_up: m.header.flags.contains(LinkFlags::Up),
            oper_state: OperState::Unknown,
            master: None,
            kind: None,
            txqlen: 0,
            parent: None,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(b) if b.len() == 6 => {
                    let mut mac = [0u8; 6];
                    mac.copy_from_slice(b);
                    link.mac = Some(MacAddr(mac));
                }
                LinkAttribute::Mtu(v) => link.mtu = *v,
                LinkAttribute::OperState(s) => link.oper_state = OperState::from(s),
                LinkAttribute::Controller(i) => link.master = Some(*i),
                LinkAttribute::TxQueueLen(q) => link.txqlen = *q,
                LinkAttribute::Link(i) => link.parent = Some(*i),
                LinkAttribute::PropList(props) => {
                    for p in props {
                        if let Prop::AltIfName(n) = p {
                            link.altnames.push(n.clone());
                        }
                    }
                }
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            link.kind = Some(k.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// An IP address with a prefix length; prints and parses as `ADDR/LEN`
/// (a bare address means /32 or /128).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IpPrefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl IpPrefix {
    /// Checks the length against the family.
    pub fn new(addr: IpAddr, len: u8) -> Result<IpPrefix, HostError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(HostError::InvalidInput(format!("prefix length {len} is too long for {addr} (at most {max})")));
        }
        Ok(IpPrefix { addr, len })
    }

    /// `0.0.0.0/0`, the IPv4 default route's destination.
    pub const fn default_v4() -> IpPrefix {
        IpPrefix { addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED), len: 0 }
    }

    /// `::/0`, the IPv6 default route's destination.
    pub const fn default_v6() -> IpPrefix {
        IpPrefix { addr: IpAddr::V6(Ipv6Addr::UNSPECIFIED), len: 0 }
    }

    /// The address with the host bits cleared.
    pub fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = if self.len == 0 { 0 } else { u32::MAX << (32 - u32::from(self.len.min(32))) };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let mask = if self.len == 0 { 0 } else { u128::MAX << (128 - u32::from(self.len.min(128))) };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        }
    }

    /// Whether `ip` falls inside this prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && IpPrefix { addr: ip, len: self.len }.network() == self.network()
    }
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for IpPrefix {
    type Err = HostError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || HostError::InvalidInput(format!("`{s}` is not an IP prefix (expected ADDR/LEN)"));
        if s == "default" {
            return Ok(IpPrefix::default_v4());
        }
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let len = match l {
            Some(l) => l.parse().map_err(|_| bad())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        IpPrefix::new(addr, len)
    }
}

impl serde::Serialize for IpPrefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for IpPrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Address or route scope (`RT_SCOPE_*`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Scope(pub u8);

impl Scope {
    pub const UNIVERSE: Scope = Scope(0);
    pub const SITE: Scope = Scope(200);
    pub const LINK: Scope = Scope(253);
    pub const HOST: Scope = Scope(254);
    pub const NOWHERE: Scope = Scope(255);
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Scope::UNIVERSE => f.write_str("global"),
            Scope::SITE => f.write_str("site"),
            Scope::LINK => f.write_str("link"),
            Scope::HOST => f.write_str("host"),
            Scope::NOWHERE => f.write_str("nowhere"),
            Scope(v) => write!(f, "{v}"),
        }
    }
}

/// Address flags (`IFA_F_*`), as a bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct AddrFlags(pub u32);

impl AddrFlags {
    pub const SECONDARY: AddrFlags = AddrFlags(0x01);
    pub const NODAD: AddrFlags = AddrFlags(0x02);
    pub const OPTIMISTIC: AddrFlags = AddrFlags(0x04);
    pub const DADFAILED: AddrFlags = AddrFlags(0x08);
    pub const HOMEADDRESS: AddrFlags = AddrFlags(0x10);
    pub const DEPRECATED: AddrFlags = AddrFlags(0x20);
    pub const TENTATIVE: AddrFlags = AddrFlags(0x40);
    pub const PERMANENT: AddrFlags = AddrFlags(0x80);
    pub const MANAGETEMPADDR: AddrFlags = AddrFlags(0x100);
    pub const NOPREFIXROUTE: AddrFlags = AddrFlags(0x200);
    pub const EMPTY: AddrFlags = AddrFlags(0);

    pub fn contains(self, other: AddrFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for AddrFlags {
    type Output = AddrFlags;
    fn bitor(self, rhs: AddrFlags) -> AddrFlags {
        AddrFlags(self.0 | rhs.0)
    }
}

/// An address assigned to a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub index: u32,
    /// Name of the link (empty if it vanished while listing).
    pub ifname: String,
    pub prefix: IpPrefix,
    pub scope: Scope,
    pub flags: AddrFlags,
    pub label: Option<String>,
}

impl Address {
    pub(super) fn from_message(m: &AddressMessage, names: &[(u32, String)]) -> Option<Address> {
        let mut local = None;
        let mut address = None;
        let mut flags = AddrFlags(u32::from(m.header.flags.bits()));
        let mut label = None;
        for a in &m.attributes {
            match a {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Flags(f) => flags = AddrFlags(f.bits()),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                _ => {}
            }
        }
        // For IPv4 IFA_LOCAL is the address itself (IFA_ADDRESS is the peer
        // on point-to-point links); IPv6 only sends IFA_ADDRESS.
        let addr = local.or(address)?;
        Some(Address {
            index: m.header.index,
            ifname: lookup_name(names, m.header.index),
            prefix: IpPrefix { addr, len: m.header.prefix_len },
            scope: Scope(u8::from(m.header.scope)),
            flags,
            label,
        })
    }
}

fn lookup_name(names: &[(u32, String)], index: u32) -> String {
    names.iter().find(|(i, _)| *i == index).map(|(_, n)| n.clone()).unwrap_or_default()
}

/// A route, both to add/delete (unset fields: kernel defaults, or "any"
/// when deleting) and as listed (every field the kernel reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination; `0.0.0.0/0` or `::/0` for a default route.
    pub dst: IpPrefix,
    pub gateway: Option<IpAddr>,
    /// Output interface, by name.
    pub oif: Option<String>,
    /// Output interface index (filled when listing).
    pub oif_index: Option<u32>,
    /// Preferred source address (`src` in `ip route`).
    pub source: Option<IpAddr>,
    /// Metric (`RTA_PRIORITY`).
    pub metric: Option<u32>,
    /// Table; `None` means main when adding.
    pub table: Option<u32>,
    pub scope: Option<Scope>,
    /// Routing protocol (`RTPROT_*`); `None` means boot when adding.
    pub protocol: Option<u8>,
    /// Route type (`RTN_*`, 1 = unicast), when listing.
    pub kind: Option<u8>,
}

impl Route {
    /// A route to `dst` with nothing else set.
    pub fn to(dst: IpPrefix) -> Route {
        Route { dst, gateway: None, oif: None, oif_index: None, source: None, metric: None, table: None, scope: None, protocol: None, kind: None }
    }

    /// The IPv4 default route via `gateway`.
    pub fn default_via(gateway: IpAddr) -> Route {
        let dst = if gateway.is_ipv4() { IpPrefix::default_v4() } else { IpPrefix::default_v6() };
        Route::to(dst).via(gateway)
    }

    pub fn via(mut self, gateway: IpAddr) -> Route {
        self.gateway = Some(gateway);
        self
    }
    pub fn dev(mut self, ifname: &str) -> Route {
        self.oif = Some(ifname.to_string());
        self
    }
    pub fn src(mut self, source: IpAddr) -> Route {
        self.source = Some(source);
        self
    }
    pub fn metric(mut self, metric: u32) -> Route {
        self.metric = Some(metric);
        self
    }
    pub fn table(mut self, table: u32) -> Route {
        self.table = Some(table);
        self
    }
    pub fn scope(mut self, scope: Scope) -> Route {
        self.scope = Some(scope);
        self
    }

    /// Whether this is a default route.
    pub fn is_default(&self) -> bool {
        self.dst.len == 0
    }

    pub(super) fn from_message(m: &RouteMessage, names: &[(u32, String)]) -> Option<Route> {
        let h = &m.header;
        let v6 = u8::from(h.address_family) == libc::AF_INET6 as u8;
        if !v6 && u8::from(h.address_family) != libc::AF_INET as u8 {
            return None;
        }
        let unspecified = if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
        let mut r = Route::to(IpPrefix { addr: unspecified, len: h.destination_prefix_length });
        r.table = Some(u32::from(h.table));
        r.scope = Some(Scope(u8::from(h.scope)));
        r.protocol = Some(u8::from(h.protocol));
        r.kind = Some(u8::from(h.kind));
        let ip = |a: &RouteAddress| match a {
            RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
            RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
            _ => None,
        };
        for a in &m.attributes {
            match a {
                RouteAttribute::Destination(d) => {
                    if let Some(d) = ip(d) {
                        r.dst.addr = d;
                    }
                }
                RouteAttribute::Gateway(g) => r.gateway = ip(g),
                RouteAttribute::PrefSource(s) => r.source = ip(s),
                RouteAttribute::Oif(i) => {
                    r.oif_index = Some(*i);
                    let n = lookup_name(names, *i);
                    r.oif = (!n.is_empty()).then_some(n);
                }
                RouteAttribute::Priority(p) => r.metric = Some(*p),
                RouteAttribute::Table(t) => r.table = Some(*t),
                _ => {}
            }
        }
        Some(r)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_default() {
            f.write_str("default")?;
            if self.dst.addr.is_ipv6() {
                f.write_str(" (IPv6)")?;
            }
        } else {
            write!(f, "{}", self.dst)?;
        }
        if let Some(g) = self.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &self.oif {
            write!(f, " dev {d}")?;
        }
        if let Some(s) = self.source {
            write!(f, " src {s}")?;
        }
        if let Some(m) = self.metric {
            write!(f, " metric {m}")?;
        }
        if let Some(t) = self.table {
            write!(f, " table {t}")?;
        }
        if let Some(s) = self.scope {
            write!(f, " scope {s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_and_prints() {
        let m: MacAddr = "02:00:5e:0A:0b:ff".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:5e:0a:0b:ff");
        for bad in ["", "02:00:5e:0a:0b", "02:00:5e:0a:0b:ff:00", "0200:5e:0a:0b:ff", "zz:00:00:00:00:00"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_parse_and_mask() {
        let p: IpPrefix = "198.18.3.7/24".parse().unwrap();
        assert_eq!(p.network().to_string(), "198.18.3.0");
        assert!(p.contains("198.18.3.200".parse().unwrap()));
        assert!(!p.contains("198.18.4.1".parse().unwrap()));
        assert_eq!("2001:db8::1".parse::<IpPrefix>().unwrap().len, 128);
        assert_eq!("default".parse::<IpPrefix>().unwrap(), IpPrefix::default_v4());
        assert_eq!("::/0".parse::<IpPrefix>().unwrap().network().to_string(), "::");
        assert!("198.18.0.0/33".parse::<IpPrefix>().is_err());
        assert!("198.18.0.0/x".parse::<IpPrefix>().is_err());
    }

    #[test]
    fn route_prints_like_ip_route() {
        let r = Route::default_via("192.0.2.1".parse().unwrap()).dev("eth0").metric(100);
        assert_eq!(r.to_string(), "default via 192.0.2.1 dev eth0 metric 100");
    }
}
