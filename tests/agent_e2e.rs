//! The agent end to end: pods created through the real CNI plugin with
//! host-local IPAM reach each other and the gateway; forged source IPs and
//! MACs are dropped; DEL removes the port, the flows and the lease; ADD is
//! idempotent and bad input gets CNI errors with nothing half-created.

mod common;
use common::node::{Node, BRIDGE, GATEWAY_IP};

#[test]
fn pods_reach_each_other_spoofing_is_dropped_and_del_cleans_up() {
    let Some(mut node) = Node::new("e2e") else { return };
    node.start_agent();
    let a = node.add_pod("a");
    let b = node.add_pod("b");
    assert_ne!(a.ip, b.ip);

    if !a.ping(&b.ip) {
        panic!(
            "pod a cannot reach pod b\nflows:\n{}\nshow:\n{}\npod a:\n{}\n{}",
            node.sb.ofctl("dump-flows", BRIDGE, &[]).unwrap(),
            node.sb.vsctl(&["show"]).unwrap(),
            a.exec(&["ip", "addr"]).1,
            a.exec(&["ip", "route"]).1
        );
    }
    assert!(b.ping(&a.ip), "pod b cannot reach pod a");
    assert!(a.ping(GATEWAY_IP), "pod a cannot reach the gateway");
    let (ok, out) = a.exec(&["arping", "-c", "2", "-w", "2", "-I", "eth0", &b.ip]);
    assert!(ok, "arping a → b failed: {out}");

    let pods = node.pods_info();
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| matches!(p.state, podflow::api::PodState::Ready { .. })), "{pods:?}");
    assert_eq!(pods[0].k8s_namespace.as_deref(), Some("default"));

    // ADD again: same answer, nothing new.
    let (ok, v) = node.cni("ADD", &a.container_id, &a.netns_path(), &[]);
    assert!(ok, "{v}");
    assert_eq!(v["ips"][0]["address"].as_str().unwrap().split('/').next().unwrap(), a.ip);
    assert_eq!(node.pods_info().len(), 2);

    // A forged source IP is dropped.
    a.exec(&["ip", "addr", "add", "198.18.0.250/24", "dev", "eth0"]);
    let (ok, _) = a.exec(&["ping", "-c", "2", "-i", "0.2", "-W", "1", "-I", "198.18.0.250", &b.ip]);
    assert!(!ok, "a packet with a forged source IP got through");
    a.exec(&["ip", "addr", "del", "198.18.0.250/24", "dev", "eth0"]);
    assert!(a.ping(&b.ip));
    // A forged source MAC is dropped.
    let (_, mac) = a.exec(&["cat", "/sys/class/net/eth0/address"]);
    a.exec(&["ip", "link", "set", "eth0", "address", "02:66:66:66:66:66"]);
    a.exec(&["ip", "neigh", "flush", "all"]);
    assert!(!a.ping(&b.ip), "a packet with a forged source MAC got through");
    a.exec(&["ip", "link", "set", "eth0", "address", mac.trim()]);

    // DEL: port, flows and lease are gone; DEL again succeeds.
    let ports_before = node.sb.vsctl(&["list-ports", BRIDGE]).unwrap();
    assert_eq!(ports_before.lines().count(), 3, "{ports_before}");
    let (ok, v) = node.cni("DEL", &a.container_id, &a.netns_path(), &[]);
    assert!(ok, "{v}");
    let ports = node.sb.vsctl(&["list-ports", BRIDGE]).unwrap();
    assert_eq!(ports.lines().count(), 2, "{ports}");
    let lease = node.dir.join("ipam/podflow-test").join(&a.ip);
    assert!(!lease.exists(), "the IP lease of a deleted pod remains");
    let flows = node.flow_table().join("\n");
    assert!(!flows.contains(&a.ip), "flows of a deleted pod remain:\n{flows}");
    assert!(flows.contains(&b.ip));
    let (ok, v) = node.cni("DEL", &a.container_id, &a.netns_path(), &[]);
    assert!(ok, "a second DEL must succeed: {v}");
    assert_eq!(node.pods_info().len(), 1);
}

#[test]
fn bad_cni_input_gets_cni_errors_and_creates_nothing() {
    let Some(mut node) = Node::new("e2ebad") else { return };
    node.start_agent();
    let (ok, v) = node.cni("ADD", "../etc", "/var/run/netns/none", &[]);
    assert!(!ok);
    assert_eq!(v["code"], 4, "{v}");
    let (ok, v) = node.cni("ADD", "ctr-x", "/var/run/netns/does-not-exist", &[]);
    assert!(!ok);
    assert_eq!(v["code"], 4, "{v}");
    let (ok, v) = node.cni("FROB", "ctr-x", "/var/run/netns/none", &[]);
    assert!(!ok);
    assert_eq!(v["code"], 4, "{v}");
    assert!(node.pods_info().is_empty());
    let ports = node.sb.vsctl(&["list-ports", BRIDGE]).unwrap();
    assert_eq!(ports.lines().count(), 1, "only the gateway port: {ports}");
    let leases: Vec<_> = std::fs::read_dir(node.dir.join("ipam/podflow-test")).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(leases.iter().all(|n| !n.to_string_lossy().starts_with("198.")), "a lease was left behind: {leases:?}");
}

/// TCP and UDP, not only ARP and ICMP: a veth leaves TCP/UDP checksums to
/// the hardware (TX checksum offload), the userspace datapath forwards them
/// unfinished and the receiver drops them, so without the agent turning
/// offload off on netdev no TCP connection between pods is established.
#[test]
fn tcp_and_udp_cross_the_userspace_datapath() {
    use podflow::host::netns::run_in_netns;
    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
    use std::time::Duration;

    let Some(mut node) = Node::new("tcp") else { return };
    node.start_agent();
    let a = node.add_pod("a");
    let b = node.add_pod("b");
    let t = Duration::from_secs(5);

    // TCP from pod a to a listener in `netns` at `ip`: 256 KiB out (many
    // full-size segments), its length back.
    let tcp = |netns: &str, ip: &str, from: &str| -> Result<u64, String> {
        let at: SocketAddr = format!("{ip}:7070").parse().unwrap();
        let listener = run_in_netns(Some(netns), move || Ok(TcpListener::bind(at)?)).map_err(|e| e.to_string())?;
        let server = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut s, _) = listener.accept()?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut n = 0u64;
            let mut buf = [0u8; 16384];
            loop {
                match s.read(&mut buf)? {
                    0 => break,
                    k => n += k as u64,
                }
            }
            s.write_all(&n.to_be_bytes())
        });
        let mut c = run_in_netns(Some(from), move || Ok(TcpStream::connect_timeout(&at, t)?)).map_err(|e| format!("connect to {at}: {e}"))?;
        c.set_read_timeout(Some(t)).unwrap();
        c.set_write_timeout(Some(t)).unwrap();
        c.write_all(&vec![0x5a; 256 * 1024]).map_err(|e| format!("send to {at}: {e}"))?;
        c.shutdown(Shutdown::Write).unwrap();
        let mut n = [0u8; 8];
        c.read_exact(&mut n).map_err(|e| format!("answer from {at}: {e}"))?;
        server.join().unwrap().map_err(|e| format!("server at {at}: {e}"))?;
        Ok(u64::from_be_bytes(n))
    };
    assert_eq!(tcp(&b.netns, &b.ip, &a.netns), Ok(256 * 1024), "TCP from pod a to pod b");
    assert_eq!(tcp(&node.sb.netns, GATEWAY_IP, &a.netns), Ok(256 * 1024), "TCP from pod a to the gateway (the node)");

    // UDP both ways between the pods.
    let (a_at, b_at): (SocketAddr, SocketAddr) = (format!("{}:7071", a.ip).parse().unwrap(), format!("{}:7071", b.ip).parse().unwrap());
    let ua = run_in_netns(Some(&a.netns), move || Ok(UdpSocket::bind(a_at)?)).unwrap();
    let ub = run_in_netns(Some(&b.netns), move || Ok(UdpSocket::bind(b_at)?)).unwrap();
    for s in [&ua, &ub] {
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    }
    let mut buf = [0u8; 64];
    // The first datagram may wait for ARP: up to three tries each way.
    let mut delivered = |from: &UdpSocket, to: &UdpSocket, dst: SocketAddr| {
        (0..3).any(|_| from.send_to(b"podflow", dst).is_ok() && matches!(to.recv_from(&mut buf), Ok((7, _))))
    };
    assert!(delivered(&ua, &ub, b_at), "UDP from pod a to pod b was not delivered");
    assert!(delivered(&ub, &ua, a_at), "UDP from pod b to pod a was not delivered");
}
