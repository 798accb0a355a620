//! The pod pipeline against a real ovs-vswitchd: the base and pod flows are
//! accepted in bundles through the agent's switch adapter, a stale round is
//! deleted by cookie mask, and a foreign flow survives.

mod common;

use podflow::agent::backend::SwitchOps;
use podflow::pipeline::{self, cookie, Gateway, PodPort};
use podflow::agent::switch::OpenFlowSwitch;
use podflow::openflow::{Addr, Supervisor, SupervisorConfig};
use podflow::proto::openflow::flow::FlowStatsRequest;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// The cookies of every flow in the switch.
async fn switch_cookies(sup: &Supervisor) -> Vec<u64> {
    let flows = sup.session().expect("connected").dump_flows(FlowStatsRequest::default()).await.unwrap();
    flows.into_iter().map(|f| f.cookie).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_installs_and_rounds_delete_only_our_flows() {
    let Some(sb) = common::sandbox_with_bridge("pipeline", "br0") else { return };
    sb.ofctl("add-flow", "br0", &["table=5,cookie=0x1234,priority=1,actions=drop"]).unwrap();
    let addr: Addr = sb.mgmt_addr("br0").parse().unwrap();
    let sup = Arc::new(Supervisor::spawn(addr, SupervisorConfig::default()));
    tokio::time::timeout(Duration::from_secs(10), sup.connected_after(0)).await.expect("connected");
    let sw = OpenFlowSwitch::new(sup.clone());
    let gw = Gateway::v4(2, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(198, 18, 0, 1));
    sw.install(pipeline::base_flows(1, &gw)).await.unwrap();
    for i in 0..3u32 {
        let pod = PodPort::v4(10 + i, [2, 0, 0, 0, 1, i as u8], Ipv4Addr::new(198, 18, 0, 10 + i as u8));
        sw.install(pipeline::pod_flows(1, &pod)).await.unwrap();
    }
    let cookies = switch_cookies(&sup).await;
    let ours = cookies.iter().filter(|c| cookie::is_ours(**c)).count();
    assert_eq!(ours, pipeline::base_flows(1, &gw).len() + 3 * 6, "{cookies:x?}");
    // Round 2 replaces round 1.
    sw.install(pipeline::base_flows(2, &gw)).await.unwrap();
    sw.delete(pipeline::delete_other_rounds(2)).await.unwrap();
    let cookies = switch_cookies(&sup).await;
    assert!(cookies.contains(&0x1234), "a foreign flow was deleted");
    assert!(cookies.iter().filter(|c| cookie::is_ours(**c)).all(|c| cookie::round_of(*c) == 2));
    let dump = sb.ofctl("dump-flows", "br0", &[]).unwrap();
    assert!(dump.contains("cookie=0x1234"), "{dump}");
}
