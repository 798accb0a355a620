//! Kernel objects (addresses, routes, policy rules, neighbours) kept exactly
//! as the kernel dumped them, so that they can be put back with every
//! attribute (multipath nexthops and weights, `onlink`, `pref`, metrics,
//! lifetimes, labels), not only the ones podflow knows by name. Each object
//! carries a few parsed facts ([`Facts`]) for callers that need to reason
//! about it, and its netlink bytes for replay.
//!
//! Replaying only rewrites the interface index (so that a route can move
//! from one link to another) and drops what the kernel refuses on input
//! (kernel-only flags, cache info of neighbours); it never decides what to
//! replay or in which order.

use std::net::IpAddr;

use rtnetlink::packet_core::{DecodeError, Emitable, Parseable, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteNextHopFlags};
use rtnetlink::packet_route::rule::{RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use serde::{Deserialize, Serialize};

use super::{Host, HostError, IpPrefix};

/// What kind of kernel object an [`Object`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectKind {
    Address,
    Route,
    Rule,
    Neighbour,
}

/// What the kernel said about an object, parsed; enough to order and to
/// choose objects, never enough to rebuild one (the bytes are for that).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Facts {
    pub v6: bool,
    /// Interface indexes the object uses: an address's or neighbour's link,
    /// a route's output interface and every multipath nexthop's.
    pub links: Vec<u32>,
    /// Address: its prefix; route: its destination; rule: its `from`;
    /// neighbour: its address (full length).
    pub prefix: Option<IpPrefix>,
    /// Rule: its `to`.
    pub to: Option<IpPrefix>,
    /// Route: every gateway (one, or one per multipath nexthop).
    pub gateways: Vec<IpAddr>,
    /// Route: preferred source (`src`).
    pub source: Option<IpAddr>,
    /// Route: `onlink` on the route or on any nexthop.
    pub onlink: bool,
    /// Route: uses a nexthop object (`RTA_NH_ID`).
    pub nh_id: Option<u32>,
    /// Route: its table; rule: the table it sends traffic to.
    pub table: u32,
    pub metric: u32,
    pub scope: u8,
    pub protocol: u8,
    /// Route type (`RTN_*`); 1 is unicast.
    pub route_type: u8,
    /// Address: `IFA_F_*`; neighbour: `NUD_*` state.
    pub flags: u32,
    /// Rule: `iif` and `oif` names.
    pub iif: Option<String>,
    pub oif: Option<String>,
}

/// One kernel object: its kind, a one-line description in the manner of
/// `ip(8)`, the parsed facts, and the bytes as dumped (hex in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Object {
    pub kind: ObjectKind,
    pub text: String,
    pub facts: Facts,
    #[serde(with = "hex")]
    pub bytes: Vec<u8>,
}

impl std::fmt::Display for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd number of hex digits"));
        }
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("x"), 16).map_err(serde::de::Error::custom)).collect()
    }
}

fn ip_of_route(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn encode(m: &impl Emitable) -> Vec<u8> {
    let mut b = vec![0; m.buffer_len()];
    m.emit(&mut b);
    b
}

fn name_of(names: &[(u32, String)], i: u32) -> String {
    names.iter().find(|(x, _)| *x == i).map_or_else(|| format!("if{i}"), |(_, n)| n.clone())
}

fn route_object(m: &RouteMessage, names: &[(u32, String)]) -> Option<Object> {
    let h = &m.header;
    let v6 = h.address_family == AddressFamily::Inet6;
    if !v6 && h.address_family != AddressFamily::Inet {
        return None;
    }
    let unspecified = if v6 { IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED) };
    let mut f = Facts {
        v6,
        prefix: Some(IpPrefix { addr: unspecified, len: h.destination_prefix_length }),
        table: u32::from(h.table),
        scope: u8::from(h.scope),
        protocol: u8::from(h.protocol),
        route_type: u8::from(h.kind),
        onlink: h.flags.contains(RouteFlags::Onlink),
        ..Facts::default()
    };
    let mut hops = Vec::new();
    for a in &m.attributes {
        match a {
            RouteAttribute::Destination(d) => {
                if let (Some(p), Some(ip)) = (f.prefix.as_mut(), ip_of_route(d)) {
                    p.addr = ip;
                }
            }
            RouteAttribute::Gateway(g) => f.gateways.extend(ip_of_route(g)),
            RouteAttribute::PrefSource(s) => f.source = ip_of_route(s),
            RouteAttribute::Oif(i) => f.links.push(*i),
            RouteAttribute::Priority(p) => f.metric = *p,
            RouteAttribute::Table(t) => f.table = *t,
            RouteAttribute::NhId(id) => f.nh_id = Some(*id),
            RouteAttribute::MultiPath(nh) => {
                for n in nh {
                    f.links.push(n.interface_index);
                    f.onlink |= n.flags.contains(RouteNextHopFlags::Onlink);
                    let gw = n.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => ip_of_route(g),
                        _ => None,
                    });
                    f.gateways.extend(gw);
                    hops.push(format!(
                        " nexthop{} dev {} weight {}",
                        gw.map(|g| format!(" via {g}")).unwrap_or_default(),
                        name_of(names, n.interface_index),
                        u16::from(n.hops) + 1
                    ));
                }
            }
            _ => {}
        }
    }
    let p = f.prefix?;
    let mut text = if p.len == 0 { "default".to_string() } else { p.to_string() };
    if let Some(id) = f.nh_id {
        text += &format!(" nhid {id}");
    }
    if hops.is_empty() {
        if let Some(g) = f.gateways.first() {
            text += &format!(" via {g}");
        }
        for l in &f.links {
            text += &format!(" dev {}", name_of(names, *l));
        }
    }
    text += &hops.concat();
    if let Some(s) = f.source {
        text += &format!(" src {s}");
    }
    text += &format!(" table {} metric {}", f.table, f.metric);
    if f.onlink {
        text += " onlink";
    }
    Some(Object { kind: ObjectKind::Route, text: format!("route {}{text}", if v6 { "(IPv6) " } else { "" }), facts: f, bytes: encode(m) })
}

fn address_object(m: &AddressMessage, names: &[(u32, String)]) -> Option<Object> {
    let mut local = None;
    let mut address = None;
    let mut flags = u32::from(m.header.flags.bits());
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Flags(x) => flags = x.bits(),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    let prefix = IpPrefix { addr, len: m.header.prefix_len };
    let facts = Facts { v6: addr.is_ipv6(), links: vec![m.header.index], prefix: Some(prefix), scope: u8::from(m.header.scope), flags, ..Facts::default() };
    Some(Object { kind: ObjectKind::Address, text: format!("address {prefix} dev {}", name_of(names, m.header.index)), facts, bytes: encode(m) })
}

fn rule_object(m: &RuleMessage) -> Option<Object> {
    let v6 = m.header.family == AddressFamily::Inet6;
    let mut f = Facts { v6, table: u32::from(m.header.table), ..Facts::default() };
    let mut prio = 0;
    for a in &m.attributes {
        match a {
            RuleAttribute::Source(ip) => f.prefix = Some(IpPrefix { addr: *ip, len: m.header.src_len }),
            RuleAttribute::Destination(ip) => f.to = Some(IpPrefix { addr: *ip, len: m.header.dst_len }),
            RuleAttribute::Iifname(n) => f.iif = Some(n.clone()),
            RuleAttribute::Oifname(n) => f.oif = Some(n.clone()),
            RuleAttribute::Table(t) => f.table = *t,
            RuleAttribute::Priority(p) => prio = *p,
            _ => {}
        }
    }
    let mut text = format!("rule {}{prio}:", if v6 { "(IPv6) " } else { "" });
    text += &f.prefix.map_or(" from all".into(), |p| format!(" from {p}"));
    if let Some(t) = f.to {
        text += &format!(" to {t}");
    }
    if let Some(i) = &f.iif {
        text += &format!(" iif {i}");
    }
    if let Some(o) = &f.oif {
        text += &format!(" oif {o}");
    }
    text += &format!(" lookup {}", f.table);
    Some(Object { kind: ObjectKind::Rule, text, facts: f, bytes: encode(m) })
}

fn neighbour_object(m: &NeighbourMessage, names: &[(u32, String)]) -> Option<Object> {
    let ip = m.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    })?;
    let len = if ip.is_ipv4() { 32 } else { 128 };
    let facts = Facts {
        v6: ip.is_ipv6(),
        links: vec![m.header.ifindex],
        prefix: Some(IpPrefix { addr: ip, len }),
        flags: u32::from(u16::from(m.header.state)),
        ..Facts::default()
    };
    Some(Object { kind: ObjectKind::Neighbour, text: format!("neighbour {ip} dev {}", name_of(names, m.header.ifindex)), facts, bytes: encode(m) })
}

/// `NUD_PERMANENT`.
pub const NUD_PERMANENT: u32 = 0x80;
/// `NUD_REACHABLE`: the neighbour answered a solicitation recently.
pub const NUD_REACHABLE: u32 = 0x02;

/// Rewrites every use of link `from` to link `to`.
fn relink_route(m: &mut RouteMessage, from: u32, to: u32) {
    for a in &mut m.attributes {
        match a {
            RouteAttribute::Oif(i) if *i == from => *i = to,
            RouteAttribute::MultiPath(hops) => {
                for n in hops.iter_mut().filter(|n| n.interface_index == from) {
                    n.interface_index = to;
                }
            }
            _ => {}
        }
    }
    // The kernel reports state in these bits; it refuses some of them on input.
    for n in m.attributes.iter_mut().filter_map(|a| match a {
        RouteAttribute::MultiPath(h) => Some(h),
        _ => None,
    }) {
        for h in n.iter_mut() {
            h.flags &= RouteNextHopFlags::Onlink | RouteNextHopFlags::Pervasive;
        }
    }
    m.header.flags &= RouteFlags::Onlink;
    // The kernel reports an IPv6 route's remaining lifetime (in USER_HZ
    // ticks) in its cache info, which it does not take back; it takes the
    // lifetime as RTA_EXPIRES, in seconds.
    let expires = m.attributes.iter().find_map(|a| match a {
        RouteAttribute::CacheInfo(c) if c.expires > 0 => Some((c.expires / 100).max(1)),
        _ => None,
    });
    m.attributes.retain(|a| !matches!(a, RouteAttribute::CacheInfo(_) | RouteAttribute::Expires(_)));
    if let (Some(e), AddressFamily::Inet6) = (expires, m.header.address_family) {
        m.attributes.push(RouteAttribute::Expires(e));
    }
}

/// Flags userspace may set on a new address (the rest are the kernel's).
pub const SETTABLE_ADDR_FLAGS: u32 = 0x02 | 0x10 | 0x100 | 0x200;

fn relink_address(m: &mut AddressMessage, from: u32, to: u32, add: bool) {
    if m.header.index == from {
        m.header.index = to;
    }
    if !add {
        // The kernel renames labels with their link; a recorded label no
        // longer matches once the NIC is renamed, and the delete would
        // quietly find nothing.
        m.attributes.retain(|a| !matches!(a, AddressAttribute::Label(_)));
    }
    let mut flags = u32::from(m.header.flags.bits());
    for a in &m.attributes {
        if let AddressAttribute::Flags(x) = a {
            flags = x.bits();
        }
    }
    flags &= SETTABLE_ADDR_FLAGS;
    m.header.flags = AddressHeaderFlags::from_bits_retain(flags as u8);
    m.attributes.retain(|a| !matches!(a, AddressAttribute::Flags(_)));
    m.attributes.push(AddressAttribute::Flags(AddressFlags::from_bits_retain(flags)));
}

fn relink_neighbour(m: &mut NeighbourMessage, from: u32, to: u32) {
    if m.header.ifindex == from {
        m.header.ifindex = to;
    }
    m.attributes.retain(|a| matches!(a, NeighbourAttribute::Destination(_) | NeighbourAttribute::LinkLayerAddress(_)));
}

/// Whether two objects of the same kind are the same kernel object once
/// link `from` is read as `to` (what the kernel compares when it says
/// "exists"), judged on their facts.
pub fn same_object(a: &Object, b: &Object, from: u32, to: u32) -> bool {
    let links = |o: &Object| o.facts.links.iter().map(|l| if *l == from { to } else { *l }).collect::<Vec<_>>();
    a.kind == b.kind
        && a.facts.prefix == b.facts.prefix
        && a.facts.table == b.facts.table
        && a.facts.metric == b.facts.metric
        && a.facts.to == b.facts.to
        && a.facts.iif == b.facts.iif
        && a.facts.oif == b.facts.oif
        && links(a) == links(b)
        && (a.kind != ObjectKind::Rule || a.text == b.text)
}

impl Host {
    /// Every object of `kind`, both families, as the kernel dumps them.
    pub async fn objects(&self, kind: ObjectKind) -> Result<Vec<Object>, HostError> {
        let names = self.link_names().await?;
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let req = match kind {
                ObjectKind::Route => {
                    let mut m = RouteMessage::default();
                    m.header.address_family = family;
                    RouteNetlinkMessage::GetRoute(m)
                }
                ObjectKind::Address => {
                    let mut m = AddressMessage::default();
                    m.header.family = family;
                    RouteNetlinkMessage::GetAddress(m)
                }
                ObjectKind::Rule => {
                    let mut m = RuleMessage::default();
                    m.header.family = family;
                    RouteNetlinkMessage::GetRule(m)
                }
                ObjectKind::Neighbour => {
                    let mut m = NeighbourMessage::default();
                    m.header.family = family;
                    RouteNetlinkMessage::GetNeighbour(m)
                }
            };
            for m in self.dump(req, "list kernel objects", "kernel objects").await? {
                let o = match &m {
                    RouteNetlinkMessage::NewRoute(r) if r.header.address_family == family => route_object(r, &names),
                    RouteNetlinkMessage::NewAddress(a) if a.header.family == family => address_object(a, &names),
                    RouteNetlinkMessage::NewRule(r) if r.header.family == family => rule_object(r),
                    RouteNetlinkMessage::NewNeighbour(n) if n.header.family == family => neighbour_object(n, &names),
                    _ => None,
                };
                out.extend(o);
            }
        }
        Ok(out)
    }

    /// Asks the kernel to resolve `ip` on link `index` now (`NTF_USE`):
    /// it sends an ARP request or an IPv6 neighbour solicitation, and the
    /// entry turns reachable when the answer comes (see [`Host::objects`]).
    pub async fn solicit(&self, index: u32, ip: IpAddr) -> Result<(), HostError> {
        let mut m = NeighbourMessage::default();
        m.header.family = if ip.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
        m.header.ifindex = index;
        m.header.flags = NeighbourFlags::Use;
        m.attributes.push(NeighbourAttribute::Destination(match ip {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
        let what = format!("neighbour {ip} on link {index}");
        self.ack(RouteNetlinkMessage::NewNeighbour(m), NLM_F_CREATE | NLM_F_REPLACE, &format!("solicit {ip}"), &what).await
    }

    /// Adds `obj` back, on link `to` wherever it used link `from`.
    pub async fn add_object(&self, obj: &Object, from: u32, to: u32) -> Result<(), HostError> {
        let msg = decode(obj, from, to, true)?;
        self.ack(msg, NLM_F_CREATE | NLM_F_EXCL, &format!("add {obj}"), &obj.text).await
    }

    /// Deletes `obj` (as it is on link `to` when it was recorded on `from`).
    pub async fn delete_object(&self, obj: &Object, from: u32, to: u32) -> Result<(), HostError> {
        let msg = decode(obj, from, to, false)?;
        self.ack(msg, 0, &format!("delete {obj}"), &obj.text).await
    }
}

fn decode(obj: &Object, from: u32, to: u32, add: bool) -> Result<RouteNetlinkMessage, HostError> {
    let bad = |e: DecodeError| HostError::InvalidInput(format!("the recorded {obj} cannot be decoded: {e}"));
    Ok(match obj.kind {
        ObjectKind::Route => {
            let mut m = RouteMessage::parse(&obj.bytes).map_err(bad)?;
            relink_route(&mut m, from, to);
            if add { RouteNetlinkMessage::NewRoute(m) } else { RouteNetlinkMessage::DelRoute(m) }
        }
        ObjectKind::Address => {
            let mut m = AddressMessage::parse(&obj.bytes).map_err(bad)?;
            relink_address(&mut m, from, to, add);
            if add { RouteNetlinkMessage::NewAddress(m) } else { RouteNetlinkMessage::DelAddress(m) }
        }
        ObjectKind::Rule => {
            let m = RuleMessage::parse(&obj.bytes).map_err(bad)?;
            if add { RouteNetlinkMessage::NewRule(m) } else { RouteNetlinkMessage::DelRule(m) }
        }
        ObjectKind::Neighbour => {
            let mut m = NeighbourMessage::parse(&obj.bytes).map_err(bad)?;
            relink_neighbour(&mut m, from, to);
            if m.header.state != NeighbourState::Permanent && add {
                m.header.state = NeighbourState::Permanent;
            }
            if add { RouteNetlinkMessage::NewNeighbour(m) } else { RouteNetlinkMessage::DelNeighbour(m) }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_in_json() {
        let o = Object { kind: ObjectKind::Rule, text: "rule".into(), facts: Facts::default(), bytes: vec![0, 1, 0xab, 0xff] };
        let s = serde_json::to_string(&o).unwrap();
        assert!(s.contains("\"0001abff\""), "{s}");
        assert_eq!(serde_json::from_str::<Object>(&s).unwrap(), o);
        assert!(serde_json::from_str::<Object>(&s.replace("0001abff", "0001abf")).is_err());
    }

    #[test]
    fn a_multipath_route_is_relinked_and_described() {
        use rtnetlink::packet_route::route::RouteNextHop;
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = 254;
        m.header.kind = rtnetlink::packet_route::route::RouteType::Unicast;
        let hop = |gw: [u8; 4], w: u8| {
            let mut n = RouteNextHop::default();
            n.interface_index = 3;
            n.hops = w;
            n.flags = RouteNextHopFlags::Onlink | RouteNextHopFlags::Linkdown;
            n.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gw.into())));
            n
        };
        m.attributes.push(RouteAttribute::MultiPath(vec![hop([192, 0, 2, 1], 0), hop([192, 0, 2, 2], 2)]));
        let names = vec![(3, "eth1".to_string())];
        let o = route_object(&m, &names).unwrap();
        assert_eq!(o.text, "route default nexthop via 192.0.2.1 dev eth1 weight 1 nexthop via 192.0.2.2 dev eth1 weight 3 table 254 metric 0 onlink");
        assert_eq!(o.facts.links, vec![3, 3]);
        assert_eq!(o.facts.gateways.len(), 2);
        let RouteNetlinkMessage::NewRoute(back) = decode(&o, 3, 9, true).unwrap() else { panic!() };
        let RouteAttribute::MultiPath(h) = &back.attributes[0] else { panic!() };
        assert!(h.iter().all(|n| n.interface_index == 9 && n.flags == RouteNextHopFlags::Onlink));
        assert_eq!(h[1].hops, 2, "weights survive");
    }
}
