//! The agent under duplicate and concurrent CNI requests, and with a
//! stalled switch.

mod common;
use common::node::{Node, BRIDGE};
use std::time::{Duration, Instant};

#[test]
fn concurrent_add_and_del_of_one_container_end_consistent() {
    let Some(mut node) = Node::new("concurrent") else { return };
    node.start_agent();
    let netns = node.sb.add_netns("c").unwrap();
    let path = format!("/var/run/netns/{netns}");
    let node = std::sync::Arc::new(node);
    // Four ADDs at once: all succeed with the same address.
    let adds: Vec<_> = (0..4)
        .map(|_| {
            let (n, p) = (node.clone(), path.clone());
            std::thread::spawn(move || n.cni("ADD", "ctr-c", &p, &[]))
        })
        .collect();
    let results: Vec<_> = adds.into_iter().map(|h| h.join().unwrap()).collect();
    for (ok, v) in &results {
        assert!(ok, "a concurrent ADD failed: {v}");
    }
    let ips: std::collections::HashSet<_> = results.iter().map(|(_, v)| v["ips"][0]["address"].to_string()).collect();
    assert_eq!(ips.len(), 1, "concurrent ADDs got different addresses: {ips:?}");
    assert_eq!(node.pods_info().len(), 1);
    // ADD and DEL racing: whatever the order, the end state is consistent.
    let (n1, p1) = (node.clone(), path.clone());
    let (n2, p2) = (node.clone(), path.clone());
    let del = std::thread::spawn(move || n1.cni("DEL", "ctr-c", &p1, &[]));
    let add = std::thread::spawn(move || n2.cni("ADD", "ctr-c", &p2, &[]));
    let (d, a) = (del.join().unwrap(), add.join().unwrap());
    assert!(d.0, "{}", d.1);
    assert!(a.0, "{}", a.1);
    let pods = node.pods_info().len();
    let ports = node.sb.vsctl(&["list-ports", BRIDGE]).unwrap().lines().count() - 1;
    assert_eq!(pods, ports, "pods and OVS ports disagree");
    // A final DEL leaves nothing.
    let (ok, v) = node.cni("DEL", "ctr-c", &path, &[]);
    assert!(ok, "{v}");
    assert!(node.pods_info().is_empty());
    assert_eq!(node.sb.vsctl(&["list-ports", BRIDGE]).unwrap().lines().count(), 1);
}

#[test]
fn add_while_the_switch_is_stalled_fails_cleanly_and_succeeds_after() {
    let Some(mut node) = Node::new("stall") else { return };
    node.start_agent();
    let netns = node.sb.add_netns("s").unwrap();
    let path = format!("/var/run/netns/{netns}");
    node.sb.signal("ovs-vswitchd", "STOP").unwrap();
    let t0 = Instant::now();
    let (ok, v) = node.cni("ADD", "ctr-s", &path, &[]);
    let took = t0.elapsed();
    node.sb.signal("ovs-vswitchd", "CONT").unwrap();
    assert!(!ok, "ADD succeeded against a stalled switch: {v}");
    assert!(took < Duration::from_secs(35), "ADD took {took:?}");
    assert!(v["msg"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    eprintln!("ADD against a stalled switch failed after {took:?}: {}", v["msg"]);
    // Nothing half-created: no pod, no port, no lease.
    assert!(node.pods_info().is_empty());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(node.sb.vsctl(&["list-ports", BRIDGE]).unwrap().lines().count(), 1);
    let leases: Vec<_> = std::fs::read_dir(node.dir.join("ipam/podflow-test")).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(leases.iter().all(|n| !n.to_string_lossy().starts_with("198.")), "{leases:?}");
    // The runtime retries once the switch is back: Ready.
    node.wait_ready(Duration::from_secs(30));
    let (ok, v) = node.cni("ADD", "ctr-s", &path, &[]);
    assert!(ok, "ADD after the switch resumed failed: {v}\n{}", node.agent_log());
    assert!(matches!(node.pods_info()[0].state, podflow::api::PodState::Ready { .. }));
}

#[test]
fn a_pod_refused_by_the_switch_holds_the_key_until_the_deadline() {
    let Some(mut node) = Node::new("refused") else { return };
    // Long enough that a loaded machine still sees the refusal, checks the
    // key and runs the probe before it (the round may start up to ~1 s
    // before `t0`).
    node.gate_deadline = 12;
    node.start_agent();
    node.add_pod("a");
    node.add_pod("b");
    // Table 40 (L2 output) may hold 3 flows from now on: after a restart the
    // base pipeline's two and one pod's fit, the other pod's are refused.
    node.sb
        .vsctl(&["--", "--id=@ft", "create", "Flow_Table", "flow_limit=3", "overflow_policy=refuse", "--", "set", "Bridge", BRIDGE, "flow_tables:40=@ft"])
        .unwrap();
    node.sb.vsctl(&["set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
    node.sb.kill_vswitchd().unwrap();
    node.sb.start_vswitchd().unwrap();
    let frw = |n: &Node| n.sb.vsctl(&["get", "Open_vSwitch", ".", "other_config:flow-restore-wait"]).is_ok_and(|v| v.contains("true"));
    // Before the deadline: one pod Failed with the switch's error, the key kept.
    let t0 = Instant::now();
    let failed = loop {
        let pods = node.pods_info();
        if let Some(p) = pods.iter().find(|p| matches!(p.state, podflow::api::PodState::Failed { .. })) {
            break p.clone();
        }
        assert!(t0.elapsed() < Duration::from_secs(8), "no pod failed: {pods:?}\n{}", node.agent_log());
        std::thread::sleep(Duration::from_millis(50));
    };
    let podflow::api::PodState::Failed { error } = &failed.state else { unreachable!() };
    assert!(error.contains("OFPFMFC_TABLE_FULL"), "{error}");
    assert!(frw(&node), "flow-restore-wait removed while a pod's flows were refused");
    assert!(node.status().is_some_and(|s| s.pods_failed == 1 && !s.ready));
    let probe = |n: &Node| {
        std::process::Command::new(env!("CARGO_BIN_EXE_podflow"))
            .args(["status", "--require-ready", "--api-socket"])
            .arg(n.api_socket())
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!probe(&node), "the readiness probe passed while the gate was closed");
    // After the deadline the gate opens, loudly.
    let t1 = Instant::now();
    while frw(&node) {
        assert!(t1.elapsed() < Duration::from_secs(25), "the gate did not open at its deadline");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(t0.elapsed() >= Duration::from_secs(9), "the key went before the deadline");
    let log = node.agent_log();
    assert!(log.contains("gate deadline passed with pods not ready"), "{log}");
    assert_eq!(node.status().unwrap().pods_failed, 1);
    // Once the switch accepts the flows again, the agent's retries make the pod Ready.
    node.sb.vsctl(&["clear", "Bridge", BRIDGE, "flow_tables"]).unwrap();
    let t2 = Instant::now();
    while node.status().is_some_and(|s| s.pods_failed > 0) {
        assert!(t2.elapsed() < Duration::from_secs(20), "the refused pod was never retried\n{}", node.agent_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(node.status().unwrap().pods_ready, 2);
    assert!(probe(&node), "the readiness probe failed on a ready agent");
}
