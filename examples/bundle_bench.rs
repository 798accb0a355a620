//! Benchmark: 60,000 flows (10,000 pods × 6 realistic flows) installed
//! with podflow's bundle API versus `ovs-ofctl -O OpenFlow15 --bundle
//! add-flows` of the same flows written as text, on the same sandboxed
//! bridge, alternating, several repetitions. Needs root and Open vSwitch.
//!
//! `cargo run --release --example bundle_bench [PODS] [REPETITIONS]`

use podflow::openflow::{Session, SessionConfig};
use podflow::proto::openflow::action::Action;
use podflow::proto::openflow::bundle::flags;
use podflow::proto::openflow::flow::{FlowMod, FlowStatsRequest};
use podflow::proto::openflow::instruction::Instruction;
use podflow::proto::openflow::message::Message;
use podflow::proto::openflow::oxm::{fields, Match, OxmField};
use podflow::proto::openflow::port::PortNo;
use podflow::sandbox::{run, Sandbox};
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

const GW_MAC: [u8; 6] = [0x0a, 0x58, 0x0a, 0x00, 0x00, 0x01];

fn mac_s(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

fn ip_s(a: [u8; 4]) -> String {
    format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
}

fn f(id: podflow::proto::openflow::oxm::OxmId, v: impl Into<Vec<u8>>) -> OxmField {
    OxmField::new(id, v)
}

/// The six flows of pod `i`, as FlowMod values and as ovs-ofctl text.
fn pod(i: u32, msgs: &mut Vec<Message>, text: &mut String) {
    let port = 1000 + i;
    let n = i + 2;
    let ip = [10, (n >> 16) as u8, (n >> 8) as u8, n as u8];
    let mac = [0x0a, 0x58, ip[0], ip[1], ip[2], ip[3]];
    let cookie = 0x0001_0000_0000_0000u64 | u64::from(i);
    let arp = 0x0806u16.to_be_bytes();
    let ipv4 = 0x0800u16.to_be_bytes();
    let fm = |table_id: u8, priority: u16, m: Match, instructions: Vec<Instruction>| {
        Message::FlowMod(FlowMod { cookie, table_id, priority, r#match: m, instructions, ..Default::default() })
    };
    let (ips, macs) = (ip_s(ip), mac_s(mac));
    let c = format!("cookie={cookie:#x}");
    // 1. ARP from the pod, with its own MAC and IP: classify.
    msgs.push(fm(0, 200, Match::new().with(f(fields::IN_PORT, port.to_be_bytes())).with(f(fields::ETH_SRC, mac)).with(f(fields::ETH_TYPE, arp)).with(f(fields::ARP_SPA, ip)), vec![Instruction::GotoTable(10)]));
    writeln!(text, "{c},table=0,priority=200,in_port={port},dl_src={macs},arp,arp_spa={ips},actions=goto_table:10").unwrap();
    // 2. IPv4 from the pod, anti-spoofing on MAC and IP.
    msgs.push(fm(0, 200, Match::new().with(f(fields::IN_PORT, port.to_be_bytes())).with(f(fields::ETH_SRC, mac)).with(f(fields::ETH_TYPE, ipv4)).with(f(fields::IPV4_SRC, ip)), vec![Instruction::GotoTable(10)]));
    writeln!(text, "{c},table=0,priority=200,in_port={port},dl_src={macs},ip,nw_src={ips},actions=goto_table:10").unwrap();
    // 3. Anything else from the pod: drop.
    msgs.push(fm(0, 190, Match::new().with(f(fields::IN_PORT, port.to_be_bytes())), vec![]));
    writeln!(text, "{c},table=0,priority=190,in_port={port},actions=drop").unwrap();
    // 4. ARP for the pod's IP.
    msgs.push(fm(10, 200, Match::new().with(f(fields::ETH_TYPE, arp)).with(f(fields::ARP_TPA, ip)), vec![Instruction::ApplyActions(vec![Action::output(PortNo(port))])]));
    writeln!(text, "{c},table=10,priority=200,arp,arp_tpa={ips},actions=output:{port}").unwrap();
    // 5. Routed IPv4 to the pod: rewrite MACs, decrement TTL, output.
    msgs.push(fm(
        10,
        200,
        Match::new().with(f(fields::ETH_TYPE, ipv4)).with(f(fields::IPV4_DST, ip)),
        vec![Instruction::ApplyActions(vec![
            Action::SetField(f(fields::ETH_SRC, GW_MAC)),
            Action::SetField(f(fields::ETH_DST, mac)),
            Action::DecNwTtl,
            Action::output(PortNo(port)),
        ])],
    ));
    writeln!(text, "{c},table=10,priority=200,ip,nw_dst={ips},actions=set_field:{}->eth_src,set_field:{macs}->eth_dst,dec_ttl,output:{port}", mac_s(GW_MAC)).unwrap();
    // 6. L2 delivery by destination MAC.
    msgs.push(fm(20, 100, Match::new().with(f(fields::ETH_DST, mac)), vec![Instruction::ApplyActions(vec![Action::output(PortNo(port))])]));
    writeln!(text, "{c},table=20,priority=100,dl_dst={macs},actions=output:{port}").unwrap();
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let reps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    podflow::sandbox::clean_up_on_signals();
    let mut sb = Sandbox::start("bench").expect("sandbox (needs root and Open vSwitch)");
    sb.add_bridge("br0").expect("bridge");
    let mut msgs = Vec::new();
    let mut text = String::new();
    for i in 0..pods {
        pod(i, &mut msgs, &mut text);
    }
    let n = msgs.len();
    let file = sb.path("flows.txt");
    std::fs::write(&file, &text).unwrap();
    println!("{pods} pods, {n} flows; {reps} repetitions, alternating");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let session = rt.block_on(Session::connect(&sb.mgmt_addr("br0").parse().unwrap(), SessionConfig::default())).expect("connect");
    let count = |s: &Session| rt.block_on(s.aggregate(FlowStatsRequest::default())).unwrap().flow_count.unwrap_or(0) as usize;
    let clear = |sb: &Sandbox| {
        sb.ofctl("del-flows", "br0", &[]).unwrap();
    };

    let (mut ours, mut theirs, mut dumps) = (vec![], vec![], vec![]);
    for rep in 0..reps {
        for which in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            clear(&sb);
            assert_eq!(count(&session), 0);
            let t0 = Instant::now();
            if which == 0 {
                rt.block_on(session.bundle(&msgs, flags::ATOMIC | flags::ORDERED)).expect("podflow bundle");
                ours.push(t0.elapsed());
            } else {
                let mut c = Command::new("ovs-ofctl");
                c.env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15", "--bundle", "add-flows"]).arg(sb.mgmt_addr("br0")).arg(&file);
                run(&mut c).expect("ovs-ofctl --bundle add-flows");
                theirs.push(t0.elapsed());
            }
            assert_eq!(count(&session), n, "all flows installed");
            if which == 0 {
                let t0 = Instant::now();
                let d = rt.block_on(session.dump_flows(FlowStatsRequest::default())).unwrap();
                dumps.push(t0.elapsed());
                assert_eq!(d.len(), n);
            }
        }
        println!(
            "rep {rep}: podflow {:.3} s, ovs-ofctl {:.3} s",
            ours.last().unwrap().as_secs_f64(),
            theirs.last().unwrap().as_secs_f64()
        );
    }
    // Both installed the same flows: compare the switch's own view.
    clear(&sb);
    rt.block_on(session.bundle(&msgs, flags::ATOMIC | flags::ORDERED)).unwrap();
    let a = sb.ofctl("dump-flows", "br0", &["--no-stats", "--sort"]).unwrap();
    clear(&sb);
    let mut c = Command::new("ovs-ofctl");
    c.env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15", "--bundle", "add-flows"]).arg(sb.mgmt_addr("br0")).arg(&file);
    run(&mut c).unwrap();
    let b = sb.ofctl("dump-flows", "br0", &["--no-stats", "--sort"]).unwrap();
    let same = a == b;

    let (mo, mt, md) = (median(&mut ours), median(&mut theirs), median(&mut dumps));
    println!("median podflow bundle():            {:.3} s", mo.as_secs_f64());
    println!("median ovs-ofctl --bundle add-flows: {:.3} s", mt.as_secs_f64());
    println!("ratio podflow / ovs-ofctl:           {:.2}", mo.as_secs_f64() / mt.as_secs_f64());
    println!("median podflow dump_flows ({n}):  {:.3} s", md.as_secs_f64());
    println!("flow tables identical after either install: {same}");
    session.close();
    sb.stop();
}
