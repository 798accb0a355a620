//! Benchmark: Geneve mode's peer flows for PEERS nodes (the tunnel port's
//! three flows plus three per peer with one IPv4 pod CIDR, exactly what
//! `pipeline::tunnel::sync_bundle` builds), installed and acknowledged with
//! podflow's bundle API, versus `ovs-ofctl -O OpenFlow15 --bundle
//! add-flows` of the same flows as text, on one sandboxed bridge with a
//! real Geneve port, alternating, several repetitions. Also the re-sync a
//! follower does when one peer leaves (one delete by cookie plus every
//! remaining peer re-added, one bundle). Needs root and Open vSwitch.
//!
//! `cargo run --release --example peer_bench [PEERS] [REPETITIONS]`

use podflow::openflow::{Session, SessionConfig};
use podflow::pipeline::tunnel::{self, PeerTunnel, TunnelPort};
use podflow::pipeline::Gateway;
use podflow::proto::openflow::bundle::flags;
use podflow::proto::openflow::flow::FlowStatsRequest;
use podflow::proto::openflow::message::Message;
use podflow::proto::openflow::text::print;
use podflow::sandbox::{run, Sandbox};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Peer `i`: node address in 198.51.100.0/24 + 203.0.113.0/24 (test
/// ranges), pod CIDR 198.18.(i/256).(i%256)... as a /28 inside 198.18.0.0/15.
fn peer(i: u32) -> PeerTunnel {
    let n = i + 1;
    let remote = if n < 255 { Ipv4Addr::new(198, 51, 100, n as u8) } else { Ipv4Addr::new(203, 0, 113, (n % 254 + 1) as u8) };
    // Distinct addresses are not needed for the flows' validity; distinct CIDRs are.
    let base = u32::from(Ipv4Addr::new(198, 18, 16, 0)) + (n << 4);
    PeerTunnel { name: format!("node-{i}"), remote: IpAddr::V4(remote), pod_cidrs: vec![ipnet::IpNet::new(IpAddr::V4(Ipv4Addr::from(base)), 28).unwrap()] }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let peers: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let reps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    podflow::sandbox::clean_up_on_signals();
    let sb = Sandbox::start("peerbench").expect("sandbox (needs root and Open vSwitch)");
    sb.add_bridge("br-int").expect("bridge");
    sb.vsctl(&["add-port", "br-int", "pfgnv-br-int", "--", "set", "interface", "pfgnv-br-int", "type=geneve", "options:remote_ip=flow", "ofport_request=3"]).expect("geneve port");
    let port = TunnelPort {
        ofport: 3,
        gateway: Gateway::v4(2, [0x02, 0, 0, 0, 0, 1], Ipv4Addr::new(198, 18, 0, 1)),
        own_cidrs: vec!["198.18.0.0/28".parse().unwrap()],
    };
    let list: Vec<PeerTunnel> = (0..peers).map(peer).collect();
    let flows = tunnel::sync_bundle(1, &port, &[], &list);
    let msgs: Vec<Message> = flows.iter().cloned().map(Message::FlowMod).collect();
    let mut text = String::new();
    for f in &flows {
        writeln!(text, "cookie={:#x},table={},{},actions={}", f.cookie, f.table_id, print::match_fields(&f.r#match, f.priority), print::instructions(&f.instructions)).unwrap();
    }
    let file = sb.path("peer-flows.txt");
    std::fs::write(&file, &text).unwrap();
    let n = msgs.len();
    println!("{peers} peers, {n} flows; {reps} repetitions, alternating");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let session = rt.block_on(Session::connect(&sb.mgmt_addr("br-int").parse().unwrap(), SessionConfig::default())).expect("connect");
    let count = |s: &Session| rt.block_on(s.aggregate(FlowStatsRequest::default())).unwrap().flow_count.unwrap_or(0) as usize;
    let (mut ours, mut theirs, mut resync) = (vec![], vec![], vec![]);
    for rep in 0..reps {
        for which in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            sb.ofctl("del-flows", "br-int", &[]).unwrap();
            assert_eq!(count(&session), 0);
            let t0 = Instant::now();
            if which == 0 {
                rt.block_on(session.bundle(&msgs, flags::ATOMIC | flags::ORDERED)).expect("podflow bundle");
                ours.push(t0.elapsed());
            } else {
                let mut c = Command::new("ovs-ofctl");
                c.env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15", "--bundle", "add-flows"]).arg(sb.mgmt_addr("br-int")).arg(&file);
                run(&mut c).expect("ovs-ofctl --bundle add-flows");
                theirs.push(t0.elapsed());
            }
            assert_eq!(count(&session), n, "every flow is in the table");
        }
        // One peer leaves: what the follower sends (delete its object, re-add the rest).
        let rest: Vec<PeerTunnel> = list[1..].to_vec();
        let again: Vec<Message> = tunnel::sync_bundle(1, &port, &[tunnel::peer_object(&list[0].name)], &rest).into_iter().map(Message::FlowMod).collect();
        let t0 = Instant::now();
        rt.block_on(session.bundle(&again, flags::ATOMIC | flags::ORDERED)).expect("re-sync bundle");
        resync.push(t0.elapsed());
        assert_eq!(count(&session), n - 3, "the departed peer's three flows are gone");
    }
    let (o, t, r) = (median(&mut ours), median(&mut theirs), median(&mut resync));
    println!("podflow bundle, installed and acknowledged: median {:.1} ms", o.as_secs_f64() * 1e3);
    println!("ovs-ofctl --bundle add-flows (whole process):  median {:.1} ms", t.as_secs_f64() * 1e3);
    println!("ratio ovs-ofctl / podflow: {:.2}", t.as_secs_f64() / o.as_secs_f64());
    println!("one peer leaves (delete by cookie + {} peers re-added, one bundle): median {:.1} ms", peers - 1, r.as_secs_f64() * 1e3);
}
