//! The agent's metrics endpoint (`podflow agent --metrics-addr`), scraped
//! over HTTP inside the sandbox namespace: values move when pods are added,
//! when `ovs-vswitchd` restarts (OpenFlow reconnect, new restore duration,
//! new flow-restore-wait removal time) and when `ovsdb-server` restarts.

mod common;

use common::node::Node;
use std::time::{Duration, Instant};

fn wait_for(mut f: impl FnMut() -> bool, limit: Duration, what: &str) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_follow_pods_and_switch_restarts() {
    let Some(mut node) = Node::new("metrics") else { return };
    node.metrics_addr = Some("127.0.0.1:9476".into());
    node.start_agent();

    let resp = node.http_get("/metrics");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.to_ascii_lowercase().contains("content-type: application/openmetrics-text; version=1.0.0"), "{resp}");
    assert!(resp.ends_with("# EOF\n"), "{resp}");
    assert!(node.http_get("/nope").starts_with("HTTP/1.1 404"));
    assert!(node.http_get("/livez").starts_with("HTTP/1.1 200"));
    assert!(node.http_get("/readyz").starts_with("HTTP/1.1 200"));

    assert_eq!(node.metric("podflow_pods{state=\"ready\"}"), 0.0);
    assert_eq!(node.metric("podflow_ready"), 1.0);
    let flows0 = node.metric("podflow_flows_installed_total");
    assert!(flows0 > 0.0, "the base pipeline's flows count");
    assert_eq!(node.metric("podflow_bundle_failures_total"), 0.0);
    assert_eq!(node.metric("podflow_openflow_reconnects_total"), 0.0);
    let removed0 = node.metric("podflow_flow_restore_wait_removed_timestamp_seconds");
    assert!(removed0 > 1.0e9, "the first round removed the key: {removed0}");

    node.add_pod("a");
    node.add_pod("b");
    assert_eq!(node.metric("podflow_pods{state=\"ready\"}"), 2.0);
    let flows1 = node.metric("podflow_flows_installed_total");
    assert!(flows1 > flows0, "pod flows count: {flows0} -> {flows1}");

    // ovs-vswitchd restart with the key preset, as an OVS container does.
    let round0 = node.metric("podflow_round");
    node.sb.vsctl(&["set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
    node.sb.kill_vswitchd().unwrap();
    // Without the switch: not ready, but live (a liveness probe must not kill the agent now).
    wait_for(|| node.http_get("/readyz").starts_with("HTTP/1.1 503"), Duration::from_secs(30), "/readyz to fail without the switch");
    assert!(node.http_get("/readyz").contains("not ready: "), "the reason is given");
    assert!(node.http_get("/livez").starts_with("HTTP/1.1 200"));
    node.sb.start_vswitchd().unwrap();
    wait_for(|| node.metric("podflow_round") > round0 && node.metric("podflow_ready") == 1.0, Duration::from_secs(30), "the round after the restart");
    assert!(node.metric("podflow_openflow_reconnects_total") >= 1.0);
    assert!(node.metric("podflow_flows_installed_total") > flows1, "the replay installed flows");
    assert!(node.metric("podflow_flow_restore_wait_removed_timestamp_seconds") > removed0);
    assert!(node.metric("podflow_last_restore_duration_seconds") > 0.0);
    assert_eq!(node.metric("podflow_flow_restore_wait"), 0.0);
    assert_eq!(node.metric("podflow_pods{state=\"ready\"}"), 2.0);

    // ovsdb-server restart: the client resyncs.
    let db0 = node.metric("podflow_ovsdb_reconnects_total");
    node.sb.kill_ovsdb().unwrap();
    node.sb.start_ovsdb().unwrap();
    wait_for(|| node.metric("podflow_ovsdb_reconnects_total") > db0, Duration::from_secs(30), "an OVSDB reconnect in the metrics");
    wait_for(|| node.http_get("/readyz").starts_with("HTTP/1.1 200"), Duration::from_secs(30), "/readyz after the OVSDB restart");
}

/// The endpoint is bounded: a client that sends nothing is cut at the
/// header timeout, and while the connection cap is reached others are
/// closed at once instead of queuing; once they go, it answers again.
#[test]
fn the_http_endpoint_bounds_slow_and_many_clients() {
    let Some(mut node) = Node::new("metrics-bounds") else { return };
    node.metrics_addr = Some("127.0.0.1:9477".into());
    node.start_agent();
    let addr = node.metrics_addr.clone().unwrap();
    let cap = podflow::agent::metrics::MAX_CONNECTIONS;
    let (held, extra) = podflow::host::netns::run_in_netns(Some(&node.sb.netns), move || {
        use std::io::Read;
        let idle: Vec<std::net::TcpStream> = (0..cap).map(|_| std::net::TcpStream::connect(&addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(300));
        // One more: closed at once (EOF), not left waiting.
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = Vec::new();
        let extra = s.read_to_end(&mut buf).map(|_| buf.len());
        Ok((idle, extra))
    })
    .unwrap();
    assert!(matches!(extra, Ok(0)), "a client past the cap must be closed at once: {extra:?}");
    // The idle ones are cut by the header timeout.
    let cut = podflow::host::netns::run_in_netns(Some(&node.sb.netns), move || {
        use std::io::Read;
        let mut n = 0;
        for mut s in held {
            s.set_read_timeout(Some(podflow::agent::metrics::CONNECTION_DEADLINE + Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            if s.read_to_end(&mut buf).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    })
    .unwrap();
    assert_eq!(cut, cap, "every idle client is cut (header timeout, else the connection deadline)");
    assert!(node.http_get("/livez").starts_with("HTTP/1.1 200"));
}
