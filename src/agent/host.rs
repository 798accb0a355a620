//! The agent's [`HostOps`] over netlink: a veth pair per pod, one end moved
//! into the pod's namespace with the requested name, addresses and routes,
//! the other end left in the agent's namespace (where ovs-vswitchd runs) for
//! the bridge. It does what it is asked and nothing more.

use super::backend::{BackendError, HostOps, Plumbed};
use crate::api::AddPod;
use crate::host::{ethtool, AddrFlags, Host, HostError, IpPrefix, NetnsTarget, Route};
use crate::ovsdb::vswitch::DatapathType;
use std::net::IpAddr;
use std::path::Path;

/// Netlink plumbing in the agent's own namespace and the pods'.
#[derive(Debug, Clone, Default)]
pub struct NetlinkHost {
    /// Turn TX checksum offload off on both veth ends (see
    /// [`crate::host::ethtool`]).
    disable_tx_checksum: bool,
}

impl NetlinkHost {
    /// On the userspace datapath TX checksum offload is always turned off:
    /// it forwards a veth's unfinished TCP/UDP checksums as they are.
    pub fn new(datapath: DatapathType, disable_tx_checksum_offload: bool) -> NetlinkHost {
        NetlinkHost { disable_tx_checksum: disable_tx_checksum_offload || datapath == DatapathType::Netdev }
    }
}

fn host_err(e: HostError) -> BackendError {
    BackendError::Other(e.to_string())
}

fn is_not_found(e: &HostError) -> bool {
    matches!(e, HostError::NotFound { .. })
}

/// A name `host_ifname` makes: `pf` and 11 lowercase hex digits (never
/// the gateway's `pfgw-…` nor anything else).
pub fn is_pod_link(name: &str) -> bool {
    name.len() == 13 && name.starts_with("pf") && name[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The name the pod end carries until it is renamed inside the pod.
fn peer_tmp_name(host_ifname: &str) -> String {
    format!("pq{}", host_ifname.trim_start_matches("pf"))
}

impl HostOps for NetlinkHost {
    async fn plumb(&self, req: &AddPod, host_ifname: &str) -> Result<Plumbed, BackendError> {
        let node = Host::open(None).await.map_err(host_err)?;
        // A leftover pair from an interrupted ADD is replaced.
        match node.delete_link(host_ifname).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(host_err(e)),
        }
        let peer = peer_tmp_name(host_ifname);
        let (host_link, _) = node.create_veth(host_ifname, &peer).await.map_err(host_err)?;
        if self.disable_tx_checksum {
            // Both ends, while both are still in the agent's namespace (the
            // setting moves with the link).
            for ifname in [host_ifname, peer.as_str()] {
                ethtool::set_tx_checksum(ifname, false).map_err(host_err)?;
            }
        }
        node.move_link(&peer, NetnsTarget::Path(Path::new(&req.netns))).await.map_err(host_err)?;

        let pod = Host::open_path(Path::new(&req.netns)).await.map_err(host_err)?;
        // The pod may already have an interface of that name from an
        // earlier attempt: remove it first.
        match pod.delete_link(&req.key.ifname).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(host_err(e)),
        }
        let pod_link = pod.rename_link(&peer, &req.key.ifname).await.map_err(host_err)?;
        pod.set_up(&req.key.ifname, true).await.map_err(host_err)?;
        let mut gateway: Option<IpAddr> = None;
        for ip in &req.ips {
            let prefix: IpPrefix = ip.address.parse().map_err(host_err)?;
            pod.add_address(&req.key.ifname, prefix, None, AddrFlags::default()).await.map_err(host_err)?;
            if gateway.is_none() {
                gateway = ip.gateway.as_deref().and_then(|g| g.parse().ok());
            }
        }
        for r in &req.routes {
            let dst: IpPrefix = r.dst.parse().map_err(host_err)?;
            let via = r.gw.as_deref().and_then(|g| g.parse().ok()).or(gateway);
            let mut route = Route::to(dst).dev(&req.key.ifname);
            if let Some(g) = via {
                route = route.via(g);
            }
            pod.add_route(&route).await.map_err(host_err)?;
        }
        node.set_up(host_ifname, true).await.map_err(host_err)?;
        let mac = |l: &crate::host::Link| l.mac.map(|m| m.0).ok_or_else(|| BackendError::Other(format!("interface {} has no MAC address", l.name)));
        Ok(Plumbed { host_ifname: host_ifname.to_string(), host_mac: mac(&host_link)?, pod_mac: mac(&pod_link)? })
    }

    async fn unplumb(&self, host_ifname: &str) -> Result<(), BackendError> {
        let node = Host::open(None).await.map_err(host_err)?;
        match node.delete_link(host_ifname).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(host_err(e)),
        }
    }

    async fn pod_links(&self) -> Result<Vec<String>, BackendError> {
        let node = Host::open(None).await.map_err(host_err)?;
        let links = node.links().await.map_err(host_err)?;
        Ok(links.into_iter().map(|l| l.name).filter(|n| is_pod_link(n)).collect())
    }

    fn netns_exists(&self, netns: &str) -> bool {
        Path::new(netns).exists()
    }
}
