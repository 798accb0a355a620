//! Host networking over rtnetlink: veth pairs, moving links between network
//! namespaces, renaming, MAC/MTU/up/down, IPv4/IPv6 addresses and routes,
//! link lookup, and kernel objects (addresses, routes, rules, neighbours)
//! kept exactly as dumped and replayed onto another link ([`wire`]). Used
//! by the CNI plugin and the uplink migration.
//!
//! A [`Host`] is one netlink connection opened *inside* a network namespace
//! (by name, or the caller's own), so every operation on it acts there; the
//! rest of the process never changes namespace (see [`netns`]).
//!
//! This module must never decide anything (which address, which route): it
//! does exactly what it is asked, and reports the kernel's answer as a typed
//! [`HostError`]. It never shells out to `ip`.

mod error;
pub mod ethtool;
pub mod netns;
pub mod routes;
mod types;
pub mod wire;

use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, IntoRawFd};

use futures::StreamExt;
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST,
};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, Prop};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

pub use error::HostError;
pub use wire::{Facts, Object, ObjectKind};
pub use types::{AddrFlags, Address, IpPrefix, Link, MacAddr, OperState, Route, Scope, RT_TABLE_LOCAL, RT_TABLE_MAIN};

/// Where to move a link: a namespace by name, an open namespace file, or
/// the namespace of a process.
#[derive(Debug, Clone, Copy)]
pub enum NetnsTarget<'a> {
    Name(&'a str),
    /// A namespace file: `/var/run/netns/NAME`, `/proc/PID/ns/net`.
    Path(&'a std::path::Path),
    Fd(BorrowedFd<'a>),
    Pid(u32),
}

/// A netlink connection bound to one network namespace.
pub struct Host {
    handle: rtnetlink::Handle,
    netns: Option<String>,
    conn: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("netns", &self.netns).finish_non_exhaustive()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

type Req = NetlinkMessage<RouteNetlinkMessage>;

impl Host {
    /// Opens a netlink connection inside the named network namespace, or in
    /// the caller's own namespace when `netns` is `None`. Must be called
    /// from a tokio runtime.
    pub async fn open(netns: Option<&str>) -> Result<Host, HostError> {
        let socket = match netns {
            Some(name) => netns::run_in_netns_fd_async(netns::open_netns(name)?, name, open_route_socket).await?,
            None => open_route_socket()?,
        };
        Ok(Host::from_socket(socket, netns.map(str::to_string)))
    }

    /// Opens a netlink connection inside the namespace at `path` (e.g. the
    /// `CNI_NETNS` path, or `/proc/PID/ns/net`).
    pub async fn open_path(path: &std::path::Path) -> Result<Host, HostError> {
        let label = path.display().to_string();
        let socket = netns::run_in_netns_fd_async(netns::open_netns_path(path)?, &label, open_route_socket).await?;
        Ok(Host::from_socket(socket, Some(label)))
    }

    fn from_socket(socket: rtnetlink::sys::Socket, netns: Option<String>) -> Host {
        // SAFETY: the fd comes from a socket we own and hand over whole.
        let socket = unsafe { rtnetlink::sys::TokioSocket::from_raw_fd(socket.into_raw_fd()) };
        let (mut conn, handle, _) = rtnetlink::from_socket(socket);
        // Hand us the ACK and the end-of-dump marker, so that a request
        // whose connection died is never mistaken for a success and a
        // truncated dump never for a complete one.
        conn.set_forward_ack(true);
        conn.set_forward_done(true);
        let conn = tokio::spawn(conn);
        Host { handle, netns, conn }
    }

    /// The namespace this connection acts in (`None`: the caller's own).
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    fn ns_suffix(&self) -> String {
        match &self.netns {
            Some(ns) => format!(" in network namespace `{ns}`"),
            None => String::new(),
        }
    }

    /// Sends a request and waits for its acknowledgement.
    async fn ack(&self, msg: RouteNetlinkMessage, flags: u16, op: &str, what: &str) -> Result<(), HostError> {
        let mut req = Req::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        let mut handle = self.handle.clone();
        let mut replies = handle.request(req).map_err(|e| self.protocol_err(op, e))?;
        while let Some(reply) = replies.next().await {
            if let NetlinkPayload::Error(err) = reply.payload {
                return match err.code {
                    Some(code) => Err(self.nack(-code.get(), &err.header, op, what)),
                    None => Ok(()),
                };
            }
        }
        // The connection ended without an answer: the outcome is unknown,
        // which must never pass for success.
        Err(HostError::Protocol {
            op: format!("{op}{}", self.ns_suffix()),
            message: "the netlink connection closed before the kernel acknowledged the request".into(),
        })
    }

    /// Sends a dump request and collects the inner messages.
    async fn dump(&self, msg: RouteNetlinkMessage, op: &str, what: &str) -> Result<Vec<RouteNetlinkMessage>, HostError> {
        let mut req = Req::from(msg);
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut handle = self.handle.clone();
        let replies = handle.request(req).map_err(|e| self.protocol_err(op, e))?;
        let mut out = Vec::new();
        let mut replies = std::pin::pin!(replies);
        while let Some(reply) = replies.next().await {
            match reply.payload {
                NetlinkPayload::InnerMessage(m) => out.push(m),
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(err) => {
                    if let Some(code) = err.code {
                        return Err(self.nack(-code.get(), &err.header, op, what));
                    }
                }
                NetlinkPayload::Overrun(_) => {
                    return Err(HostError::Protocol {
                        op: format!("{op}{}", self.ns_suffix()),
                        message: "the kernel reported lost messages (overrun); the listing is incomplete".into(),
                    })
                }
                _ => {}
            }
        }
        Err(HostError::Protocol {
            op: format!("{op}{}", self.ns_suffix()),
            message: "the netlink connection closed before the end of the listing".into(),
        })
    }

    /// The error for a kernel NACK, with the extended-ACK text if any.
    fn nack(&self, errno: i32, rest: &[u8], op: &str, what: &str) -> HostError {
        let op = format!("{op}{}", self.ns_suffix());
        let mut e = HostError::from_errno(errno, &op, what);
        if let (HostError::Netlink { message, .. }, Some(text)) = (&mut e, extack_message(rest)) {
            *message = format!("{text} ({message})");
        }
        e
    }

    fn protocol_err(&self, op: &str, e: rtnetlink::Error) -> HostError {
        HostError::Protocol { op: format!("{op}{}", self.ns_suffix()), message: e.to_string() }
    }

    // ---------------------------------------------------------------- links

    /// Looks a link up by name. Note that the kernel also matches
    /// alternative names; [`Link::name`] is always the real one.
    pub async fn link(&self, name: &str) -> Result<Link, HostError> {
        check_ifname(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.get_link(msg, &format!("link `{name}`{}", self.ns_suffix())).await
    }

    /// Looks a link up by index.
    pub async fn link_by_index(&self, index: u32) -> Result<Link, HostError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.get_link(msg, &format!("link with index {index}{}", self.ns_suffix())).await
    }

    async fn get_link(&self, msg: LinkMessage, what: &str) -> Result<Link, HostError> {
        let mut req = Req::from(RouteNetlinkMessage::GetLink(msg));
        req.header.flags = NLM_F_REQUEST;
        let mut handle = self.handle.clone();
        let op = "look up a link";
        let mut replies = handle.request(req).map_err(|e| self.protocol_err(op, e))?;
        while let Some(reply) = replies.next().await {
            match reply.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => return Ok(Link::from_message(&m)),
                NetlinkPayload::Error(err) => {
                    if let Some(code) = err.code {
                        return Err(self.nack(-code.get(), &err.header, op, what));
                    }
                }
                _ => {}
            }
        }
        Err(HostError::Protocol {
            op: format!("{op}{}", self.ns_suffix()),
            message: format!("the netlink connection closed before the kernel answered about {what}"),
        })
    }

    /// Every link in the namespace.
    pub async fn links(&self) -> Result<Vec<Link>, HostError> {
        let msgs = self.dump(RouteNetlinkMessage::GetLink(LinkMessage::default()), "list links", "links").await?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
                _ => None,
            })
            .collect())
    }

    /// Creates a veth pair `name` <-> `peer` (both down) and returns both ends.
    pub async fn create_veth(&self, name: &str, peer: &str) -> Result<(Link, Link), HostError> {
        check_ifname(name)?;
        check_ifname(peer)?;
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes.push(LinkAttribute::IfName(peer.to_string()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.ack(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("create veth pair `{name}`/`{peer}`"),
            &format!("a link named `{name}` or `{peer}`{}", self.ns_suffix()),
        )
        .await?;
        Ok((self.link(name).await?, self.link(peer).await?))
    }

    /// Deletes a link (for a veth, both ends go).
    pub async fn delete_link(&self, name: &str) -> Result<(), HostError> {
        let link = self.link(name).await?;
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        self.ack(RouteNetlinkMessage::DelLink(msg), 0, &format!("delete link `{name}`"), &format!("link `{name}`{}", self.ns_suffix()))
            .await
    }

    async fn set_link(&self, name: &str, op: &str, build: impl FnOnce(&mut LinkMessage)) -> Result<Link, HostError> {
        let link = self.link(name).await?;
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        build(&mut msg);
        self.ack(RouteNetlinkMessage::SetLink(msg), 0, op, &format!("link `{name}`{}", self.ns_suffix())).await?;
        Ok(link)
    }

    /// Moves a link into another network namespace. The link keeps its
    /// name there; it disappears from this one.
    pub async fn move_link(&self, name: &str, to: NetnsTarget<'_>) -> Result<(), HostError> {
        let op = format!("move link `{name}` to another network namespace");
        match to {
            NetnsTarget::Name(ns) => {
                let fd = netns::open_netns(ns)?;
                self.set_link(name, &op, |m| m.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()))).await?;
                drop(fd);
            }
            NetnsTarget::Path(path) => {
                let fd = netns::open_netns_path(path)?;
                self.set_link(name, &op, |m| m.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()))).await?;
                drop(fd);
            }
            NetnsTarget::Fd(fd) => {
                self.set_link(name, &op, |m| m.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()))).await?;
            }
            NetnsTarget::Pid(pid) => {
                self.set_link(name, &op, |m| m.attributes.push(LinkAttribute::NetNsPid(pid))).await?;
            }
        }
        Ok(())
    }

    /// Renames a link. If the kernel (or udev) kept the old name as an
    /// alternative name, that altname is removed so the old name is free.
    /// Returns the renamed link.
    pub async fn rename_link(&self, old: &str, new: &str) -> Result<Link, HostError> {
        check_ifname(new)?;
        let before = self.link(old).await?;
        if before.name != old {
            // `old` is only an altname of another link: renaming that link
            // would surprise the caller.
            return Err(HostError::NotFound { what: format!("a link whose name is `{old}` (it is an altname of `{}`)", before.name), errno: libc::ENODEV });
        }
        let mut msg = LinkMessage::default();
        msg.header.index = before.index;
        msg.attributes.push(LinkAttribute::IfName(new.to_string()));
        self.ack(RouteNetlinkMessage::SetLink(msg), 0, &format!("rename link `{old}` to `{new}`"), &format!("a link named `{new}`{}", self.ns_suffix()))
            .await?;
        let after = self.link_by_index(before.index).await?;
        if after.altnames.iter().any(|a| a == old) {
            self.delete_altname(new, old).await?;
            return self.link_by_index(before.index).await;
        }
        Ok(after)
    }

    /// Adds an alternative name to a link.
    pub async fn add_altname(&self, name: &str, altname: &str) -> Result<(), HostError> {
        let link = self.link(name).await?;
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.attributes.push(LinkAttribute::PropList(vec![Prop::AltIfName(altname.to_string())]));
        self.ack(
            RouteNetlinkMessage::NewLinkProp(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add altname `{altname}` to link `{name}`"),
            &format!("a link or altname named `{altname}`{}", self.ns_suffix()),
        )
        .await
    }

    /// Removes an alternative name from a link.
    pub async fn delete_altname(&self, name: &str, altname: &str) -> Result<(), HostError> {
        let link = self.link(name).await?;
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.attributes.push(LinkAttribute::PropList(vec![Prop::AltIfName(altname.to_string())]));
        self.ack(
            RouteNetlinkMessage::DelLinkProp(msg),
            0,
            &format!("remove altname `{altname}` from link `{}`", link.name),
            &format!("altname `{altname}` of link `{}`{}", link.name, self.ns_suffix()),
        )
        .await
    }

    /// Sets a link's MAC address.
    pub async fn set_mac(&self, name: &str, mac: MacAddr) -> Result<(), HostError> {
        self.set_link(name, &format!("set the MAC address of `{name}` to {mac}"), |m| {
            m.attributes.push(LinkAttribute::Address(mac.0.to_vec()))
        })
        .await
        .map(drop)
    }

    /// Sets a link's MTU.
    pub async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), HostError> {
        self.set_link(name, &format!("set the MTU of `{name}` to {mtu}"), |m| m.attributes.push(LinkAttribute::Mtu(mtu)))
            .await
            .map(drop)
    }

    /// Sets a link's transmit queue length.
    pub async fn set_txqlen(&self, name: &str, txqlen: u32) -> Result<(), HostError> {
        self.set_link(name, &format!("set the txqueuelen of `{name}` to {txqlen}"), |m| m.attributes.push(LinkAttribute::TxQueueLen(txqlen)))
            .await
            .map(drop)
    }

    /// Sets a link administratively up or down.
    pub async fn set_up(&self, name: &str, up: bool) -> Result<(), HostError> {
        let op = format!("set link `{name}` {}", if up { "up" } else { "down" });
        self.set_link(name, &op, |m| {
            m.header.change_mask = LinkFlags::Up;
            m.header.flags = if up { LinkFlags::Up } else { LinkFlags::empty() };
        })
        .await
        .map(drop)
    }

    /// Sets or clears a link's `NOARP` flag: with it, the kernel answers no
    /// ARP request arriving on that link.
    pub async fn set_noarp(&self, name: &str, noarp: bool) -> Result<(), HostError> {
        let op = format!("set link `{name}` arp {}", if noarp { "off" } else { "on" });
        self.set_link(name, &op, |m| {
            m.header.change_mask = LinkFlags::Noarp;
            m.header.flags = if noarp { LinkFlags::Noarp } else { LinkFlags::empty() };
        })
        .await
        .map(drop)
    }

    // ------------------------------------------------------------ addresses

    /// Adds an address to a link. `scope` defaults to the kernel's choice
    /// (universe, or host for loopback addresses).
    pub async fn add_address(&self, ifname: &str, prefix: IpPrefix, scope: Option<Scope>, flags: AddrFlags) -> Result<(), HostError> {
        let link = self.link(ifname).await?;
        let mut msg = address_message(link.index, prefix);
        if let Some(s) = scope {
            msg.header.scope = s.0.into();
        } else if prefix.addr.is_loopback() {
            msg.header.scope = Scope::HOST.0.into();
        }
        msg.header.flags = AddressHeaderFlags::from_bits_retain(flags.0 as u8);
        if flags.0 != 0 {
            msg.attributes.push(AddressAttribute::Flags(AddressFlags::from_bits_retain(flags.0)));
        }
        self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add address {prefix} to `{ifname}`"),
            &format!("address {prefix} on `{ifname}`{}", self.ns_suffix()),
        )
        .await
    }

    /// Deletes an address from a link.
    pub async fn delete_address(&self, ifname: &str, prefix: IpPrefix) -> Result<(), HostError> {
        let link = self.link(ifname).await?;
        let msg = address_message(link.index, prefix);
        self.ack(
            RouteNetlinkMessage::DelAddress(msg),
            0,
            &format!("delete address {prefix} from `{ifname}`"),
            &format!("address {prefix} on `{ifname}`{}", self.ns_suffix()),
        )
        .await
    }

    /// Lists addresses, of one link or of all (`None`).
    pub async fn addresses(&self, ifname: Option<&str>) -> Result<Vec<Address>, HostError> {
        let index = match ifname {
            Some(n) => Some(self.link(n).await?.index),
            None => None,
        };
        let names = self.link_names().await?;
        let msgs = self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()), "list addresses", "addresses").await?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => Address::from_message(a, &names),
                _ => None,
            })
            .filter(|a| index.is_none_or(|i| a.index == i))
            .collect())
    }

    async fn link_names(&self) -> Result<Vec<(u32, String)>, HostError> {
        Ok(self.links().await?.into_iter().map(|l| (l.index, l.name)).collect())
    }

    // --------------------------------------------------------------- routes

    /// Adds a route. Fails with [`HostError::Exists`] if an identical one is
    /// there.
    pub async fn add_route(&self, route: &Route) -> Result<(), HostError> {
        let msg = self.route_message(route, false).await?;
        self.ack(RouteNetlinkMessage::NewRoute(msg), NLM_F_CREATE | NLM_F_EXCL, &format!("add route {route}"), &format!("route {route}{}", self.ns_suffix()))
            .await
    }

    /// Deletes a route: the fields that are set must match.
    pub async fn delete_route(&self, route: &Route) -> Result<(), HostError> {
        let msg = self.route_message(route, true).await?;
        self.ack(RouteNetlinkMessage::DelRoute(msg), 0, &format!("delete route {route}"), &format!("route {route}{}", self.ns_suffix())).await
    }

    /// Lists the routes of one family (`v6`) in one table (`None`: main).
    pub async fn routes(&self, v6: bool, table: Option<u32>) -> Result<Vec<Route>, HostError> {
        let table = table.unwrap_or(RT_TABLE_MAIN);
        Ok(self.all_routes(v6).await?.into_iter().filter(|r| r.table == Some(table)).collect())
    }

    /// Lists the routes of one family (`v6`) in every table.
    pub async fn all_routes(&self, v6: bool) -> Result<Vec<Route>, HostError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = if v6 { AddressFamily::Inet6 } else { AddressFamily::Inet };
        let names = self.link_names().await?;
        let msgs = self.dump(RouteNetlinkMessage::GetRoute(msg), "list routes", "routes").await?;
        Ok(msgs
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Route::from_message(r, &names),
                _ => None,
            })
            .filter(|r| r.dst.addr.is_ipv6() == v6)
            .collect())
    }

    async fn route_message(&self, route: &Route, delete: bool) -> Result<RouteMessage, HostError> {
        if let Some(gw) = route.gateway {
            if gw.is_ipv6() != route.dst.addr.is_ipv6() {
                return Err(HostError::InvalidInput(format!("route {route} mixes IPv4 and IPv6")));
            }
        }
        let mut msg = RouteMessage::default();
        let h = &mut msg.header;
        h.address_family = if route.dst.addr.is_ipv6() { AddressFamily::Inet6 } else { AddressFamily::Inet };
        h.destination_prefix_length = route.dst.len;
        let table = route.table.unwrap_or(RT_TABLE_MAIN);
        h.table = if table < 256 { table as u8 } else { 0 };
        if delete {
            h.scope = route.scope.map_or(RouteScope::NoWhere, |s| s.0.into());
            // A protocol, when given, must match too (unset: any), so a
            // delete of podflow's route can never take a foreign one.
            h.protocol = route.protocol.map_or(RouteProtocol::Unspec, RouteProtocol::from);
            h.kind = RouteType::Unspec;
        } else {
            h.protocol = route.protocol.map_or(RouteProtocol::Boot, RouteProtocol::from);
            h.kind = RouteType::Unicast;
            let default_scope = if route.gateway.is_none() && route.oif.is_some() { Scope::LINK } else { Scope::UNIVERSE };
            h.scope = route.scope.unwrap_or(default_scope).0.into();
        }
        msg.attributes.push(RouteAttribute::Table(table));
        if route.dst.len > 0 {
            msg.attributes.push(RouteAttribute::Destination(RouteAddress::from(route.dst.network())));
        }
        if let Some(gw) = route.gateway {
            msg.attributes.push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        }
        if let Some(src) = route.source {
            msg.attributes.push(RouteAttribute::PrefSource(RouteAddress::from(src)));
        }
        if let Some(m) = route.metric {
            msg.attributes.push(RouteAttribute::Priority(m));
        }
        if let Some(dev) = &route.oif {
            let link = self.link(dev).await?;
            msg.attributes.push(RouteAttribute::Oif(link.index));
        }
        Ok(msg)
    }
}

/// A NETLINK_ROUTE socket in the calling thread's namespace.
fn open_route_socket() -> Result<rtnetlink::sys::Socket, HostError> {
    let s = rtnetlink::sys::Socket::new(rtnetlink::sys::protocols::NETLINK_ROUTE)?;
    // Ask for the kernel's reason text (extended ACK) without the echo of
    // our request, so errors can say why.
    let _ = s.set_ext_ack(true);
    let _ = s.set_cap_ack(true);
    Ok(s)
}

fn address_message(index: u32, prefix: IpPrefix) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.index = index;
    msg.header.prefix_len = prefix.len;
    match prefix.addr {
        IpAddr::V4(_) => {
            msg.header.family = AddressFamily::Inet;
            msg.attributes.push(AddressAttribute::Local(prefix.addr));
            msg.attributes.push(AddressAttribute::Address(prefix.addr));
        }
        IpAddr::V6(_) => {
            msg.header.family = AddressFamily::Inet6;
            msg.attributes.push(AddressAttribute::Address(prefix.addr));
        }
    }
    msg
}

/// The `NLMSGERR_ATTR_MSG` text of an error message, given the bytes after
/// the errno: the original request's header (16 bytes, since we ask for
/// capped ACKs), then attributes.
fn extack_message(rest: &[u8]) -> Option<String> {
    const NLMSGERR_ATTR_MSG: u16 = 1;
    let mut attrs = rest.get(16..)?;
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]) & 0x3fff;
        if len < 4 || len > attrs.len() {
            return None;
        }
        if kind == NLMSGERR_ATTR_MSG {
            let text = &attrs[4..len];
            let text = text.split(|b| *b == 0).next().unwrap_or_default();
            let text = String::from_utf8_lossy(text).trim().trim_end_matches('.').to_string();
            return (!text.is_empty()).then_some(text);
        }
        attrs = attrs.get((len + 3) & !3..).unwrap_or_default();
    }
    None
}

fn check_ifname(name: &str) -> Result<(), HostError> {
    // IFNAMSIZ is 16 including the terminating NUL.
    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', '\0', ':']) || name == "." || name == ".." {
        return Err(HostError::InvalidInput(format!("`{name}` is not a valid interface name (1 to 15 characters, no '/', ':' or spaces)")));
    }
    Ok(())
}
