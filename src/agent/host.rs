//! The agent's [`HostOps`] over netlink: a veth pair per pod, one end moved
//! into the pod's namespace with the requested name, addresses and routes,
//! the other end left in the agent's namespace (where ovs-vswitchd runs) for
//! the bridge. It does what it is asked and nothing more.

use super::backend::{BackendError, HostOps, Plumbed};
use crate::api::AddPod;
use crate::host::{ethtool, AddrFlags, Host, HostError, IpPrefix, NetnsTarget, Route};
use crate::ovsdb::vswitch::DatapathType;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Netlink plumbing in the agent's own namespace and the pods'.
#[derive(Debug, Clone, Default)]
pub struct NetlinkHost {
    /// Turn TX checksum offload off on both veth ends (see
    /// [`crate::host::ethtool`]).
    disable_tx_checksum: bool,
    /// The CNI plugin's per-pod lock directory, taken around a release.
    cni_lock_dir: Option<PathBuf>,
    /// MTU of both veth ends (Geneve mode: the tunnel's overhead taken off);
    /// None leaves the kernel's default.
    mtu: Option<u32>,
}

/// How long a release waits for a plugin working on the same pod, and for
/// the IPAM plugin itself: it runs before the agent serves, so it is short.
/// A plugin still running at its limit is killed with everything it
/// started (a hung one would otherwise keep a blocking thread and a
/// process for as long as the agent lives).
const RELEASE_LOCK_WAIT: Duration = Duration::from_secs(2);
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

impl NetlinkHost {
    /// On the userspace datapath TX checksum offload is always turned off:
    /// it forwards a veth's unfinished TCP/UDP checksums as they are.
    pub fn new(datapath: DatapathType, disable_tx_checksum_offload: bool) -> NetlinkHost {
        NetlinkHost { disable_tx_checksum: disable_tx_checksum_offload || datapath == DatapathType::Netdev, cni_lock_dir: None, mtu: None }
    }

    /// Gives every pod's veth (both ends) this MTU.
    pub fn with_mtu(mut self, mtu: Option<u32>) -> NetlinkHost {
        self.mtu = mtu;
        self
    }

    /// Takes the plugin's per-pod lock (`crate::cni::lock`, under `dir`)
    /// around every lease release.
    pub fn with_cni_lock_dir(mut self, dir: PathBuf) -> NetlinkHost {
        self.cni_lock_dir = Some(dir);
        self
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
        // The host end belongs to the bridge. On the userspace datapath the
        // node's own stack still sees its frames: it would answer a pod's
        // ARP for the gateway address with this veth's MAC, and the pod's
        // packets would then be routed by the host instead of the pipeline
        // (duplicates; in Geneve mode a connection committed as if it came
        // from the gateway, whose replies are then sent back to the host).
        node.set_noarp(host_ifname, true).await.map_err(host_err)?;
        if self.disable_tx_checksum {
            // Both ends, while both are still in the agent's namespace (the
            // setting moves with the link).
            for ifname in [host_ifname, peer.as_str()] {
                ethtool::set_tx_checksum(ifname, false).map_err(host_err)?;
            }
        }
        if let Some(mtu) = self.mtu {
            for ifname in [host_ifname, peer.as_str()] {
                node.set_mtu(ifname, mtu).await.map_err(host_err)?;
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
        // One gateway per family, from the lease.
        let mut gateways: Vec<IpAddr> = Vec::new();
        for ip in &req.ips {
            let prefix: IpPrefix = ip.address.parse().map_err(host_err)?;
            // IPv6 without duplicate address detection, so the address is
            // usable when ADD answers (a tentative address cannot send).
            let flags = if prefix.addr.is_ipv6() { AddrFlags::NODAD } else { AddrFlags::default() };
            pod.add_address(&req.key.ifname, prefix, None, flags).await.map_err(host_err)?;
            if let Some(g) = ip.gateway.as_deref().and_then(|g| g.parse::<IpAddr>().ok()) {
                if !gateways.iter().any(|x| x.is_ipv6() == g.is_ipv6()) {
                    gateways.push(g);
                }
            }
        }
        for r in &req.routes {
            let dst: IpPrefix = r.dst.parse().map_err(host_err)?;
            let via = r.gw.as_deref().and_then(|g| g.parse().ok()).or_else(|| gateways.iter().copied().find(|g| g.is_ipv6() == dst.addr.is_ipv6()));
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

    async fn release_lease(&self, req: &AddPod) -> Result<(), BackendError> {
        let Some(r) = req.ipam.clone() else { return Ok(()) };
        let (key, netns, dir) = (req.key.clone(), req.netns.clone(), self.cni_lock_dir.clone());
        let job = tokio::task::spawn_blocking(move || {
            // A plugin of this pod handing out an address right now (a
            // retried ADD) must not have it released under its feet:
            // host-local releases by container id and interface.
            let _lock = match &dir {
                Some(d) => match crate::cni::lock::KeyLock::try_take(d, &key, RELEASE_LOCK_WAIT) {
                    Ok(Some(l)) => Some(l),
                    Ok(None) => return Err(BackendError::Other(format!("a CNI plugin is working on pod {}; its lease is left to it", key.file_name()))),
                    Err(e) => return Err(BackendError::Other(e.msg)),
                },
                None => None,
            };
            let env = vec![
                ("CNI_CONTAINERID".to_string(), key.container_id.clone()),
                ("CNI_NETNS".to_string(), netns),
                ("CNI_IFNAME".to_string(), key.ifname.clone()),
                ("CNI_ARGS".to_string(), r.args.clone()),
            ];
            crate::cni::ipam::exec_within(&r.plugin, "DEL", r.config.as_bytes(), &env, &r.cni_path, Some(RELEASE_TIMEOUT))
                .map(drop)
                .map_err(|e| BackendError::Other(format!("IPAM plugin {} DEL failed: {}{}", r.plugin, e.msg, if e.details.is_empty() { String::new() } else { format!(" ({})", e.details) })))
        });
        // A backstop only: the task itself ends at its limit.
        match tokio::time::timeout(RELEASE_LOCK_WAIT + RELEASE_TIMEOUT + Duration::from_secs(5), job).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(BackendError::Other(format!("the IPAM release task failed: {e}"))),
            Err(_) => Err(BackendError::Timeout("the IPAM plugin (DEL)")),
        }
    }
}

/// Makes the gateway port ready for IPv6, in the agent's own namespace:
/// IPv6 enabled on it (`net.ipv6.conf.<gw>.disable_ipv6=0`), the only
/// sysctl the agent writes. Routing pods' IPv6 beyond the node needs
/// `net.ipv6.conf.all.forwarding=1`, which is the node's to set (with
/// `accept_ra=2` on an uplink that learns its default route by router
/// advertisements, since forwarding turns RA acceptance off): the agent
/// only warns when it is off.
pub fn prepare_gateway_ipv6(gw_ifname: &str) -> Result<(), HostError> {
    if gw_ifname.contains('/') || gw_ifname.contains("..") {
        return Err(HostError::InvalidInput(format!("`{gw_ifname}` is not an interface name")));
    }
    let path = format!("/proc/sys/net/ipv6/conf/{gw_ifname}/disable_ipv6");
    match std::fs::read_to_string(&path) {
        Ok(v) if v.trim() == "0" => {}
        Ok(_) => std::fs::write(&path, "0").map_err(HostError::Io)?,
        Err(e) => return Err(HostError::InvalidInput(format!("IPv6 is not available on {gw_ifname} ({path}: {e})"))),
    }
    if std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/forwarding").is_ok_and(|v| v.trim() != "1") {
        tracing::warn!("net.ipv6.conf.all.forwarding is 0: pods' IPv6 traffic reaches the node but is not routed beyond it");
    }
    Ok(())
}
