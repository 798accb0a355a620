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
    assert!(resp.contains("Content-Type: text/plain; version=0.0.4"), "{resp}");
    assert!(node.http_get("/nope").starts_with("HTTP/1.1 404"));

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
}
