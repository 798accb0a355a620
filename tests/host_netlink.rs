//! `podflow::host` against the real kernel, only inside namespaces these
//! tests create (198.18.0.0/15 and 2001:db8::/32 addresses only).
mod common;

use common::netns::{can_run, TestNetns};
use podflow::host::{AddrFlags, Host, HostError, IpPrefix, MacAddr, NetnsTarget, OperState, Route, Scope};

fn own_netns() -> std::path::PathBuf {
    std::fs::read_link("/proc/self/ns/net").unwrap()
}

#[tokio::test]
async fn veth_lifecycle_across_namespaces() {
    if !can_run() {
        return;
    }
    let before = own_netns();
    let a = TestNetns::new("hostA");
    let b = TestNetns::new("hostB");
    let ha = Host::open(Some(&a.name)).await.unwrap();
    let hb = Host::open(Some(&b.name)).await.unwrap();
    assert_eq!(ha.netns(), Some(a.name.as_str()));

    let (va, vb) = ha.create_veth("pfa0", "pfb0").await.unwrap();
    assert_eq!(va.name, "pfa0");
    assert_eq!(vb.name, "pfb0");
    assert_eq!(va.kind.as_deref(), Some("veth"));
    assert!(!va.admin_up);
    // Visible with `ip` inside the namespace, nowhere else.
    assert!(a.ip(&["link", "show", "pfa0"]).contains("pfa0"));
    assert!(!common::netns::ip(&["link", "show"]).contains("pfa0@"));

    // Creating it again: Exists.
    match ha.create_veth("pfa0", "pfb0").await {
        Err(HostError::Exists { errno, .. }) => assert_eq!(errno, libc::EEXIST),
        other => panic!("expected Exists, got {other:?}"),
    }

    // MAC, MTU, up.
    let mac: MacAddr = "02:00:c6:12:00:01".parse().unwrap();
    ha.set_mac("pfa0", mac).await.unwrap();
    ha.set_mtu("pfa0", 1400).await.unwrap();
    ha.set_up("pfa0", true).await.unwrap();
    let l = ha.link("pfa0").await.unwrap();
    assert_eq!(l.mac, Some(mac));
    assert_eq!(l.mtu, 1400);
    assert!(l.admin_up);
    assert_eq!(l.oper_state, OperState::LowerLayerDown, "peer is still down");
    assert!(a.ip(&["link", "show", "pfa0"]).contains("02:00:c6:12:00:01"));

    // Master: enslave to a bridge made with `ip`.
    assert_eq!(l.master, None);
    a.ip(&["link", "add", "pfbr", "type", "bridge"]);
    a.ip(&["link", "set", "pfa0", "master", "pfbr"]);
    let br = ha.link("pfbr").await.unwrap();
    assert_eq!(br.kind.as_deref(), Some("bridge"));
    assert_eq!(ha.link("pfa0").await.unwrap().master, Some(br.index));
    a.ip(&["link", "set", "pfa0", "nomaster"]);

    // Move the peer to namespace B by name, then rename it there.
    ha.move_link("pfb0", NetnsTarget::Name(&b.name)).await.unwrap();
    assert!(matches!(ha.link("pfb0").await, Err(HostError::NotFound { .. })));
    let moved = hb.link("pfb0").await.unwrap();
    let renamed = hb.rename_link("pfb0", "eth0").await.unwrap();
    assert_eq!(renamed.index, moved.index);
    assert_eq!(renamed.name, "eth0");
    assert!(!renamed.altnames.iter().any(|n| n == "pfb0"), "old name left as altname: {:?}", renamed.altnames);
    assert!(matches!(hb.link("pfb0").await, Err(HostError::NotFound { .. })));
    hb.set_up("eth0", true).await.unwrap();
    // Both ends up: carrier.
    let mut up = false;
    for _ in 0..50 {
        if ha.link("pfa0").await.unwrap().oper_state == OperState::Up {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(up, "pfa0 never became oper up");

    // Altnames: add, visible, looked up by altname, removed.
    hb.add_altname("eth0", "pf-uplink-alt").await.unwrap();
    let l = hb.link("pf-uplink-alt").await.unwrap();
    assert_eq!(l.name, "eth0");
    assert_eq!(l.altnames, vec!["pf-uplink-alt".to_string()]);
    // Renaming by an altname is refused, not silently applied to eth0.
    assert!(matches!(hb.rename_link("pf-uplink-alt", "x0").await, Err(HostError::NotFound { .. })));
    hb.delete_altname("eth0", "pf-uplink-alt").await.unwrap();
    assert!(hb.link("eth0").await.unwrap().altnames.is_empty());

    // Move back by fd, then down and delete.
    let fd = podflow::host::netns::open_netns(&a.name).unwrap();
    {
        use std::os::fd::AsFd;
        hb.move_link("eth0", NetnsTarget::Fd(fd.as_fd())).await.unwrap();
    }
    assert!(ha.link("eth0").await.is_ok());
    ha.set_up("pfa0", false).await.unwrap();
    assert!(!ha.link("pfa0").await.unwrap().admin_up);
    // By path, the way a CNI plugin is given its namespace.
    let path = std::path::PathBuf::from(format!("/var/run/netns/{}", b.name));
    let hb_path = Host::open_path(&path).await.unwrap();
    ha.move_link("eth0", NetnsTarget::Path(&path)).await.unwrap();
    assert_eq!(hb_path.link("eth0").await.unwrap().index, hb.link("eth0").await.unwrap().index);
    hb_path.move_link("eth0", NetnsTarget::Name(&a.name)).await.unwrap();
    ha.delete_link("pfa0").await.unwrap();
    assert!(matches!(ha.link("pfa0").await, Err(HostError::NotFound { .. })));
    assert!(matches!(ha.link("eth0").await, Err(HostError::NotFound { .. })), "veth peer goes with it");
    assert!(ha.links().await.unwrap().iter().any(|l| l.name == "lo"));

    // Errors are typed and read as one sentence.
    let e = ha.set_mtu("nope0", 1500).await.unwrap_err();
    assert!(matches!(e, HostError::NotFound { .. }), "{e:?}");
    assert!(e.to_string().contains("nope0"), "{e}");
    assert!(matches!(Host::open(Some("pf-does-not-exist-xyz")).await, Err(HostError::NetnsNotFound { .. })));
    assert!(matches!(Host::open(Some("../etc")).await, Err(HostError::InvalidInput(_))));
    let e = Host::open_path(std::path::Path::new("/proc/self/ns/uts")).await.unwrap_err();
    assert!(matches!(e, HostError::InvalidInput(_)), "{e:?}");
    assert!(e.to_string().contains("not a network namespace"), "{e}");
    assert!(matches!(ha.create_veth("a-name-that-is-too-long", "b").await, Err(HostError::InvalidInput(_))));

    // The test process never left its namespace.
    assert_eq!(own_netns(), before);
}

#[tokio::test]
async fn addresses_v4_and_v6() {
    if !can_run() {
        return;
    }
    let a = TestNetns::new("hostAddr");
    let h = Host::open(Some(&a.name)).await.unwrap();
    h.create_veth("pfx0", "pfx1").await.unwrap();
    h.set_up("pfx0", true).await.unwrap();

    let v4: IpPrefix = "198.18.7.1/24".parse().unwrap();
    let v4b: IpPrefix = "198.18.7.2/24".parse().unwrap();
    let v4link: IpPrefix = "198.18.8.1/24".parse().unwrap();
    let v6: IpPrefix = "2001:db8:7::1/64".parse().unwrap();
    h.add_address("pfx0", v4, None, AddrFlags::EMPTY).await.unwrap();
    h.add_address("pfx0", v4b, None, AddrFlags::EMPTY).await.unwrap();
    h.add_address("pfx0", v4link, Some(Scope::LINK), AddrFlags::EMPTY).await.unwrap();
    // A secondary whose scope differs from its primary's: the kernel's
    // reason comes through.
    let e = h.add_address("pfx0", "198.18.7.3/24".parse().unwrap(), Some(Scope::HOST), AddrFlags::EMPTY).await.unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL));
    assert!(e.to_string().contains("scope"), "{e}");
    h.add_address("pfx0", v6, None, AddrFlags::NODAD).await.unwrap();

    let addrs = h.addresses(Some("pfx0")).await.unwrap();
    let get = |p: IpPrefix| addrs.iter().find(|a| a.prefix == p).unwrap_or_else(|| panic!("{p} missing from {addrs:?}"));
    assert_eq!(get(v4).scope, Scope::UNIVERSE);
    assert_eq!(get(v4).ifname, "pfx0");
    assert_eq!(get(v4link).scope, Scope::LINK);
    assert!(get(v4b).flags.contains(AddrFlags::SECONDARY), "second address in the subnet is secondary");
    assert!(get(v6).flags.contains(AddrFlags::NODAD));
    assert!(!get(v6).flags.contains(AddrFlags::TENTATIVE));
    let shown = a.ip(&["addr", "show", "dev", "pfx0"]);
    assert!(shown.contains("198.18.7.1/24") && shown.contains("2001:db8:7::1/64"), "{shown}");
    // All-links listing includes loopback's.
    assert!(h.addresses(None).await.unwrap().iter().any(|a| a.ifname == "lo" && a.prefix.addr.is_loopback()));

    match h.add_address("pfx0", v4, None, AddrFlags::EMPTY).await {
        Err(HostError::Exists { .. }) => {}
        other => panic!("expected Exists, got {other:?}"),
    }
    h.delete_address("pfx0", v6).await.unwrap();
    h.delete_address("pfx0", v4b).await.unwrap();
    h.delete_address("pfx0", v4link).await.unwrap();
    match h.delete_address("pfx0", v6).await {
        Err(HostError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    let left: Vec<_> = h.addresses(Some("pfx0")).await.unwrap().into_iter().filter(|a| !a.prefix.addr.is_ipv6() || !a.prefix.addr.to_string().starts_with("fe80")).collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].prefix, v4);
}

#[tokio::test]
async fn routes_default_metric_table_source_scope() {
    if !can_run() {
        return;
    }
    let a = TestNetns::new("hostRoute");
    let h = Host::open(Some(&a.name)).await.unwrap();
    h.create_veth("pfr0", "pfr1").await.unwrap();
    h.set_up("pfr0", true).await.unwrap();
    h.set_up("pfr1", true).await.unwrap();
    h.add_address("pfr0", "198.18.9.1/24".parse().unwrap(), None, AddrFlags::EMPTY).await.unwrap();
    h.add_address("pfr0", "2001:db8:9::1/64".parse().unwrap(), None, AddrFlags::NODAD).await.unwrap();

    let gw = "198.18.9.254".parse().unwrap();
    let default = Route::default_via(gw).dev("pfr0").metric(100);
    h.add_route(&default).await.unwrap();
    let net = Route::to("203.0.113.0/24".parse().unwrap()).dev("pfr0").src("198.18.9.1".parse().unwrap()).scope(Scope::LINK);
    h.add_route(&net).await.unwrap();
    let other_table = Route::to("198.51.100.0/24".parse().unwrap()).via(gw).table(100).metric(7);
    h.add_route(&other_table).await.unwrap();
    let v6 = Route::default_via("2001:db8:9::fe".parse().unwrap()).dev("pfr0").metric(300);
    h.add_route(&v6).await.unwrap();

    let main = h.routes(false, None).await.unwrap();
    let d = main.iter().find(|r| r.is_default()).unwrap_or_else(|| panic!("no default in {main:?}"));
    assert_eq!(d.gateway, Some(gw));
    assert_eq!(d.oif.as_deref(), Some("pfr0"));
    assert_eq!(d.metric, Some(100));
    let n = main.iter().find(|r| r.dst == "203.0.113.0/24".parse().unwrap()).expect("203.0.113.0/24");
    assert_eq!(n.source, Some("198.18.9.1".parse().unwrap()));
    assert_eq!(n.scope, Some(Scope::LINK));
    assert!(main.iter().any(|r| r.dst == "198.18.9.0/24".parse().unwrap() && r.protocol == Some(2)), "kernel's connected route");
    assert!(!main.iter().any(|r| r.dst.addr.to_string() == "198.51.100.0"), "table 100 route leaked into main");
    let t100 = h.routes(false, Some(100)).await.unwrap();
    assert_eq!(t100.len(), 1, "{t100:?}");
    assert_eq!(t100[0].metric, Some(7));
    assert_eq!(t100[0].gateway, Some(gw));
    let v6s = h.routes(true, None).await.unwrap();
    assert!(v6s.iter().any(|r| r.is_default() && r.metric == Some(300)), "{v6s:?}");
    let shown = a.ip(&["route", "show"]);
    assert!(shown.contains("default via 198.18.9.254 dev pfr0 metric 100"), "{shown}");

    assert!(matches!(h.add_route(&default).await, Err(HostError::Exists { .. })));
    h.delete_route(&Route::default_via(gw).metric(100)).await.unwrap();
    assert!(matches!(h.delete_route(&Route::default_via(gw).metric(100)).await, Err(HostError::NotFound { .. })));
    h.delete_route(&other_table).await.unwrap();
    h.delete_route(&Route::to(IpPrefix::default_v6()).metric(300)).await.unwrap();
    assert!(!h.routes(false, None).await.unwrap().iter().any(|r| r.is_default()));
    assert!(h.routes(false, Some(100)).await.unwrap().is_empty());
    assert!(matches!(
        h.add_route(&Route::to("203.0.113.0/25".parse().unwrap()).via("2001:db8::1".parse().unwrap())).await,
        Err(HostError::InvalidInput(_))
    ));
}
