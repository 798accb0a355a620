//! Agent benchmarks (issue 5), against a private userspace Open vSwitch.
//! A measurement, not a test: run as root,
//!
//! ```sh
//! cargo build --release --bins && cargo run --release --example agent_bench [PODS] [REPS] [ROWS]
//! ```
//!
//! 1. Restore: with PODS stored pods (default 10,000, six flows each, each
//!    with a real `Interface` row: a `type=dummy` port), the time from a
//!    restarted `ovs-vswitchd` accepting connections to `flow-restore-wait`
//!    removed (seen by an independent OVSDB monitor), against `ovs-ofctl -O
//!    OpenFlow15 --bundle add-flows` of the identical flows (dumped from the
//!    switch), and against podflow's session alone feeding the same flows
//!    pre-encoded in one bundle; the three alternate, REPS times (default 5).
//!    `agent_bench PODS REPS ROWS` gives only the first ROWS pods a port.
//! 2. The agent's resident memory with PODS pods.
//! 3. CNI ADD latency (p50/p99) over 50 pods through the real plugin with
//!    host-local IPAM.
//!
//! `BENCH_PEERS=N` (e.g. 1000): the agent of 1 and 2 runs in Geneve mode
//! with N peers from a file (IPv6 underlay addresses 2001:db8::1:i, pod
//! CIDRs 198.19.x.y/28), so every restore also re-installs N peers' tunnel
//! flows (3 each) and re-syncs N routes, all inside the gate.

use podflow::pipeline::{self, tunnel, Gateway, PodPort};
use podflow::agent::store::{PodRecord, PodStore};
use podflow::api::{self, AddPod, IpConfig, PodAttachment, PodKey, Request, Response};
use podflow::openflow::{Addr, Session, SessionConfig};
use podflow::ovsdb::client::{Address, Client, Options};
use podflow::ovsdb::vswitch::flow_restore_wait_cached;
use podflow::sandbox::Sandbox;
use podflow_proto::openflow::bundle::flags;
use podflow_proto::openflow::Message;
use podflow_proto::ovsdb::monitor::column;
use podflow_proto::ovsdb::ops::RowData;
use podflow_proto::ovsdb::{Atom, Condition, Datum, Mutation, Operation};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common/mod.rs"]
mod common;
use common::{bin, spawn_agent, BRIDGE};

/// vswitchd's options here: `type=dummy` interfaces (see below).
const DUMMY: &[&str] = &["--enable-dummy"];

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn start_agent(sb: &Sandbox, state: &Path, cidr: &str, extra: &[&str]) -> Child {
    let c = spawn_agent(sb, state, cidr, &[&["--gate-deadline", "0"], extra].concat());
    let sock = state.join("podflow.sock");
    let t0 = Instant::now();
    loop {
        if let Ok(Response::Status(s)) = api::call(&sock, &Request::Status, Duration::from_secs(5)) {
            if s.ready {
                break;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "agent not ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    c
}

/// SIGTERM, so that a profiler the agent runs under writes its data.
fn stop(mut agent: Child) {
    // SAFETY: a signal to the child this process spawned.
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    while agent.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = agent.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap()))
        .unwrap()
}

fn wait_mgmt_accepts(sb: &Sandbox) -> Instant {
    let p = sb.mgmt(BRIDGE);
    loop {
        if std::os::unix::net::UnixStream::connect(&p).is_ok() {
            return Instant::now();
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn pod_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + 10 + i)
}

fn main() {
    let pods: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let reps: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    // Pods with a real Interface row (the first ROWS): ovs-vswitchd 3.1's
    // userspace datapath needs minutes per reconfiguration with 10,000
    // ports (66 s to add one more port, 140 s to start), so a 10,000-pod
    // run is measured with ROWS=0 and the rows at a smaller scale.
    let rows: u32 = std::env::args().nth(3).and_then(|a| a.parse().ok()).unwrap_or(pods).min(pods);
    let rt = tokio::runtime::Runtime::new().unwrap();

    // ---- 1 and 2: restore and memory with stored pods -------------------
    // Every pod has a real Interface row: rounds ask the switch for every
    // port's number, so the benchmark must have them. `type=dummy` ports
    // (vswitchd `--enable-dummy`) are OpenFlow ports backed by no kernel
    // device: 10,000 internal ports would be 10,000 tap devices to create
    // and reopen at every restart, which measures the kernel, not podflow.
    podflow::sandbox::clean_up_on_signals();
    let mut sb = Sandbox::start("abench").expect("root and Open vSwitch are needed");
    sb.kill_vswitchd().unwrap();
    sb.start_vswitchd_with(DUMMY).unwrap();
    let podns = sb.add_netns("pods").unwrap();
    let state = sb.dir.join("state");
    let store = PodStore::open(&state).unwrap();
    let t = Instant::now();
    for i in 0..pods {
        let ip = pod_ip(i);
        let key = PodKey { container_id: format!("ctr{i}"), ifname: "eth0".into() };
        store
            .put(&PodRecord {
                request: AddPod {
                    key: key.clone(),
                    netns: format!("/var/run/netns/{podns}"),
                    ips: vec![IpConfig { address: format!("{ip}/16"), gateway: Some("198.18.0.1".into()) }],
                    routes: vec![],
                    k8s_namespace: None,
                    k8s_name: None,
                    ipam: None,
                },
                attachment: PodAttachment {
                    host_ifname: format!("pfb{i}"),
                    host_mac: "02:00:00:00:00:01".into(),
                    ifname: "eth0".into(),
                    mac: format!("02:00:{:02x}:{:02x}:{:02x}:{:02x}", (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8, i as u8),
                    netns: format!("/var/run/netns/{podns}"),
                    ofport: 10 + i,
                },
            })
            .unwrap();
    }
    // One OVSDB transaction per 2,000 ports (ovs-vsctl needs seconds of its
    // own CPU per thousand ports on a bridge this size).
    let db = rt.block_on(async {
        let addr: Address = sb.db_addr().parse().unwrap();
        Client::connect(addr, Options::default(), tokio::time::Instant::now() + Duration::from_secs(10)).await.unwrap()
    });
    sb.vsctl(&["add-br", BRIDGE, "--", "set", "Bridge", BRIDGE, "datapath_type=netdev"]).unwrap();
    for chunk in (0..rows).collect::<Vec<_>>().chunks(2000) {
        let mut ops = Vec::new();
        let mut ports = Vec::new();
        for &i in chunk {
            let name = format!("pfb{i}");
            let ctr = format!("ctr{i}");
            let ids = Datum::map([("podflow-container-id", ctr.as_str()), ("podflow-ifname", "eth0")]);
            let iface: RowData = [
                ("name".to_string(), Datum::atom(name.as_str())),
                ("type".to_string(), Datum::atom("dummy")),
                ("ofport_request".to_string(), Datum::atom(i64::from(10 + i))),
                ("external_ids".to_string(), ids.clone()),
            ]
            .into();
            ops.push(Operation::insert("Interface", iface).with_uuid_name(&format!("i{i}")));
            let port: RowData = [
                ("name".to_string(), Datum::atom(name.as_str())),
                ("interfaces".to_string(), Datum::atom(Atom::NamedUuid(format!("i{i}")))),
                ("external_ids".to_string(), ids),
            ]
            .into();
            ops.push(Operation::insert("Port", port).with_uuid_name(&format!("p{i}")));
            ports.push(Atom::NamedUuid(format!("p{i}")));
        }
        ops.push(Operation::mutate("Bridge", vec![Condition::eq("name", BRIDGE)], vec![Mutation::insert("ports", Datum::set(ports))]));
        rt.block_on(db.transact(ops, tokio::time::Instant::now() + Duration::from_secs(60))).unwrap();
    }
    if rows > 0 {
        let last = format!("pfb{}", rows - 1);
        rt.block_on(db.wait_until(tokio::time::Instant::now() + Duration::from_secs(600), |s| {
            s.replica.find("Interface", "name", &last).and_then(|(_, r)| column(r, "ofport").as_i64()).filter(|&p| p == i64::from(9 + rows)).map(drop)
        }))
        .expect("OVS did not number the dummy ports as requested");
    }
    println!("wrote {pods} pod records and {rows} dummy ports in {:.1} s", t.elapsed().as_secs_f64());
    // Geneve peers (BENCH_PEERS): this node and N others in one file.
    let n_peers: u32 = std::env::var("BENCH_PEERS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let peer_list: Vec<tunnel::PeerTunnel> = (0..n_peers)
        .map(|i| tunnel::PeerTunnel {
            name: format!("peer-{i}"),
            remote: format!("2001:db8::1:{:x}", i + 1).parse().unwrap(),
            pod_cidrs: vec![ipnet::IpNet::new(Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 19, 0, 0)) + (i << 4)).into(), 28).unwrap()],
        })
        .collect();
    let peers_file = sb.dir.join("nodes.json");
    let mut peer_args: Vec<String> = Vec::new();
    if n_peers > 0 {
        let mut list = vec![serde_json::json!({"name": "bench", "podCIDRs": ["198.18.0.0/16"], "internalIPs": ["2001:db8::1"]})];
        list.extend(peer_list.iter().map(|p| serde_json::json!({"name": p.name, "podCIDRs": [p.pod_cidrs[0].to_string()], "internalIPs": [p.remote.to_string()]})));
        std::fs::write(&peers_file, serde_json::to_vec(&list).unwrap()).unwrap();
        peer_args = vec!["--nodes-from".into(), format!("file:{}", peers_file.display()), "--node-name".into(), "bench".into(), "--traffic-mode".into(), "geneve".into()];
        println!("Geneve mode with {n_peers} peers ({} peer flows)", 3 + 3 * n_peers);
    }
    let peer_args: Vec<&str> = peer_args.iter().map(String::as_str).collect();
    let t = Instant::now();
    let agent = start_agent(&sb, &state, "198.18.0.0/16", &peer_args);
    println!("agent start to ready (first round, {} flows): {:.3} s", pods * 6, t.elapsed().as_secs_f64());
    std::thread::sleep(Duration::from_millis(500));
    let rss = rss_kib(agent.id());
    println!("agent resident memory with {pods} pods: {:.1} MiB after start", rss as f64 / 1024.0);

    // The identical flows, pre-encoded for the session alone.
    let gw = Gateway::v4(2, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(198, 18, 0, 1));
    let mut msgs: Vec<Message> = pipeline::base_flows(1, &gw).into_iter().map(Message::FlowMod).collect();
    for i in 0..pods {
        let mac = [2, 0, (i >> 24) as u8, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        msgs.extend(pipeline::pod_flows(1, &PodPort::v4(10 + i, mac, pod_ip(i))).into_iter().map(Message::FlowMod));
    }
    if n_peers > 0 {
        let port = tunnel::TunnelPort { ofport: 3, gateway: gw.clone(), own_cidrs: vec!["198.18.0.0/16".parse().unwrap()] };
        msgs.extend(tunnel::sync_bundle(1, &port, &[], &peer_list).into_iter().map(Message::FlowMod));
    }
    let file = sb.dir.join("flows.txt");
    let mut n_flows = 0;
    let (mut restore, mut ofctl, mut session) = (Vec::new(), Vec::new(), Vec::new());
    // Alternating, so that a slow moment of the shared machine hits all three.
    for rep in 0..reps {
        sb.vsctl(&["set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true"]).unwrap();
        rt.block_on(db.wait_until(tokio::time::Instant::now() + Duration::from_secs(10), |s| flow_restore_wait_cached(s).then_some(()))).unwrap();
        sb.kill_vswitchd().unwrap();
        sb.start_vswitchd_with(DUMMY).unwrap();
        let t0 = wait_mgmt_accepts(&sb);
        rt.block_on(db.wait_until(tokio::time::Instant::now() + Duration::from_secs(300), |s| (!flow_restore_wait_cached(s)).then_some(()))).unwrap();
        restore.push(t0.elapsed().as_secs_f64());
        // Let the round finish (stale delete) before the others use the switch.
        std::thread::sleep(Duration::from_millis(500));
        if rep == 0 {
            let dump = sb.ofctl("dump-flows", BRIDGE, &["--no-stats"]).unwrap();
            n_flows = dump.lines().count();
            std::fs::write(&file, &dump).unwrap();
        }
        sb.ofctl("del-flows", BRIDGE, &[]).unwrap();
        let s = rt.block_on(async {
            let addr: Addr = sb.mgmt_addr(BRIDGE).parse().unwrap();
            let s = Session::connect(&addr, SessionConfig::default()).await.unwrap();
            let t = Instant::now();
            s.bundle(&msgs, flags::ATOMIC | flags::ORDERED).await.unwrap();
            t.elapsed().as_secs_f64()
        });
        session.push(s);
        sb.ofctl("del-flows", BRIDGE, &[]).unwrap();
        let t = Instant::now();
        let st = Command::new("ovs-ofctl")
            .args(["-O", "OpenFlow15", "--bundle", "add-flows"])
            .arg(sb.mgmt_addr(BRIDGE))
            .arg(&file)
            .status()
            .unwrap();
        assert!(st.success());
        ofctl.push(t.elapsed().as_secs_f64());
        println!("  run {}: restore {:.3} s, session {:.3} s, ovs-ofctl {:.3} s", rep + 1, restore[rep], session[rep], ofctl[rep]);
    }
    let rss_after = rss_kib(agent.id());
    if std::env::var("BENCH_LOG").is_ok() {
        let log = std::fs::read_to_string(state.with_extension("log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        println!("{}", lines[lines.len().saturating_sub(1030)..].join("\n"));
    }
    stop(agent);
    let (r, o, s) = (median(&mut restore), median(&mut ofctl), median(&mut session));
    println!();
    println!("agent resident memory with {pods} pods after {reps} restores: {:.1} MiB", rss_after as f64 / 1024.0);
    println!("restore with {pods} pods, {rows} of them with a dummy Interface ({n_flows} flows incl. base and marker), median of {reps}, alternating:");
    println!("  podflow agent: vswitchd accepting → flow-restore-wait removed   {r:.3} s   ratio agent/session = {:.2}", r / s);
    println!("  ovs-ofctl -O OpenFlow15 --bundle add-flows (same flows)          {o:.3} s   ratio podflow/ovs-ofctl = {:.2}", r / o);
    println!("  podflow session alone, pre-encoded, one bundle                  {s:.3} s   ratio session/ovs-ofctl = {:.2}", s / o);
    drop(sb);

    // ---- 3: CNI ADD latency ---------------------------------------------
    if std::env::var("BENCH_ONLY_RESTORE").is_ok() {
        return;
    }
    if !Path::new("/usr/lib/cni/host-local").exists() {
        println!("CNI ADD latency: skipped, /usr/lib/cni/host-local is missing");
        return;
    }
    podflow::sandbox::clean_up_on_signals();
    let mut sb = Sandbox::start("cbench").unwrap();
    let state = sb.dir.join("state");
    let mut agent = start_agent(&sb, &state, "198.18.0.0/24", &[]);
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "bench", "type": "podflow-cni",
        "agentSocket": state.join("podflow.sock"),
        "ipam": { "type": "host-local", "ranges": [[{ "subnet": "198.18.0.0/24", "gateway": "198.18.0.1" }]], "dataDir": sb.dir.join("ipam") }
    })
    .to_string();
    let mut lat = Vec::new();
    for i in 0..50 {
        let ns = sb.add_netns(&format!("p{i}")).unwrap();
        let t = Instant::now();
        let mut c = Command::new(bin("podflow-cni"))
            .env("CNI_COMMAND", "ADD")
            .env("CNI_CONTAINERID", format!("ctr{i}"))
            .env("CNI_NETNS", format!("/var/run/netns/{ns}"))
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", "/usr/lib/cni")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(conf.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!();
    println!("CNI ADD latency over 50 pods (plugin process start to result, host-local IPAM): p50 {:.1} ms, p99 (the slowest of 50) {:.1} ms", lat[24], lat[49]);
    let _ = agent.kill();
    let _ = agent.wait();
}
