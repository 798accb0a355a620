//! Benchmark of the command line: `podflow add-flows` versus
//! `ovs-ofctl -O OpenFlow15 --bundle add-flows` on the same file of
//! 60,000 flows (10,000 pods × 6 flows of podflow's own pipeline, printed
//! with `text::print::flow_mod`), same sandboxed bridge, same run,
//! alternating, the table cleared between runs. Both are whole processes:
//! start, read and parse the file, connect, bundle, commit reply.
//! Needs root and Open vSwitch, and the release binary:
//!
//! `cargo build --release --bin podflow && cargo run --release --example add_flows_bench [PODS] [REPETITIONS]`

use podflow::pipeline::{base_flows, pod_flows, Gateway, PodPort};
use podflow::proto::openflow::text::print;
use podflow::sandbox::{run, Sandbox};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn flows_text(pods: u32) -> String {
    let gw = Gateway::v4(2, [0x0a, 0x58, 10, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 1));
    let mut flows = base_flows(1, &gw);
    for i in 0..pods {
        let n = i + 10;
        let ip = Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8);
        let o = ip.octets();
        flows.extend(pod_flows(1, &PodPort::v4(100 + i, [0x0a, 0x58, o[0], o[1], o[2], o[3]], ip)));
    }
    let mut s = String::with_capacity(flows.len() * 160);
    for f in &flows {
        s.push_str(&print::flow_mod(f));
        s.push('\n');
    }
    s
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn podflow_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PODFLOW_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/examples/add_flows_bench -> target/<profile>/podflow
    exe.parent().and_then(|d| d.parent()).map(|d| d.join("podflow")).expect("target directory")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let reps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let bin = podflow_bin();
    if !bin.exists() {
        eprintln!("add_flows_bench: {} does not exist; run `cargo build --release --bin podflow` first", bin.display());
        std::process::exit(1);
    }
    podflow::sandbox::clean_up_on_signals();
    let mut sb = match Sandbox::start("clibench") {
        Ok(sb) => sb,
        Err(e) => {
            eprintln!("add_flows_bench: {e}");
            std::process::exit(1);
        }
    };
    sb.add_bridge("br0").expect("bridge");
    let text = flows_text(pods);
    let n = text.lines().count();
    let file = sb.path("flows.txt");
    std::fs::write(&file, &text).unwrap();
    // FLOWS_OUT=PATH keeps a copy of the generated file.
    if let Some(p) = std::env::var_os("FLOWS_OUT") {
        std::fs::write(p, &text).unwrap();
    }
    println!("{pods} pods, {n} flows ({} bytes of text); {reps} repetitions, alternating; podflow = {}", text.len(), bin.display());

    let count = |sb: &Sandbox| {
        let out = run(Command::new("ovs-ofctl").env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15", "dump-aggregate"]).arg(sb.mgmt_addr("br0"))).unwrap();
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.split("flow_count=").nth(1).and_then(|r| r.trim().parse::<usize>().ok()).unwrap_or(usize::MAX)
    };
    let (mut ours, mut theirs) = (vec![], vec![]);
    for rep in 0..reps {
        for which in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            sb.ofctl("del-flows", "br0", &[]).unwrap();
            assert_eq!(count(&sb), 0);
            let t0 = Instant::now();
            let took;
            if which == 0 {
                let mut c = Command::new(&bin);
                c.env("OVS_RUNDIR", &sb.dir).args(["add-flows", "br0"]).arg(&file);
                run(&mut c).expect("podflow add-flows");
                took = t0.elapsed();
                ours.push(took);
            } else {
                let mut c = Command::new("ovs-ofctl");
                c.env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15", "--bundle", "add-flows"]).arg(sb.mgmt_addr("br0")).arg(&file);
                run(&mut c).expect("ovs-ofctl --bundle add-flows");
                took = t0.elapsed();
                theirs.push(took);
            }
            assert_eq!(count(&sb), n, "every flow installed");
            let who = if which == 0 { "podflow add-flows" } else { "ovs-ofctl --bundle add-flows" };
            println!("  rep {rep}: {who:<30} {:>8.3} s", took.as_secs_f64());
        }
    }
    let (mo, mt) = (median(&mut ours), median(&mut theirs));
    println!("median podflow add-flows:            {:.3} s", mo.as_secs_f64());
    println!("median ovs-ofctl --bundle add-flows: {:.3} s", mt.as_secs_f64());
    println!("ratio podflow / ovs-ofctl:           {:.2}", mo.as_secs_f64() / mt.as_secs_f64());

    // The table now holds every flow: dump it both ways, compare, time.
    let dump = |podflow: bool, extra: &[&str]| {
        let mut c = if podflow { Command::new(&bin) } else { Command::new("ovs-ofctl") };
        c.env("OVS_RUNDIR", &sb.dir);
        if podflow {
            c.args(["dump-flows", "br0"]);
        } else {
            c.args(["-O", "OpenFlow15", "dump-flows"]).arg(sb.mgmt_addr("br0"));
        }
        c.args(extra);
        let t0 = Instant::now();
        let out = run(&mut c).expect("dump-flows");
        (t0.elapsed(), String::from_utf8(out.stdout).expect("utf-8"))
    };
    let (a, b) = (dump(true, &["--no-stats"]).1, dump(false, &["--no-stats"]).1);
    assert!(a == b, "dump-flows --no-stats differs from ovs-ofctl's");
    let (a, b) = (dump(true, &[]).1, dump(false, &[]).1);
    let headers = |s: &str| s.lines().filter(|l| l.starts_with("OFPST_FLOW")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(headers(&a), headers(&b), "reply headers");
    assert_eq!(a.lines().count(), b.lines().count());
    println!("dump-flows of {n} flows: byte-identical with --no-stats; {} reply headers identical with stats", headers(&a).len());
    let (mut dp, mut dt) = (vec![], vec![]);
    for _ in 0..reps {
        dp.push(dump(true, &[]).0);
        dt.push(dump(false, &[]).0);
    }
    let (mp, mt) = (median(&mut dp), median(&mut dt));
    println!("median podflow dump-flows: {:.3} s; ovs-ofctl dump-flows: {:.3} s; ratio {:.2}", mp.as_secs_f64(), mt.as_secs_f64(), mp.as_secs_f64() / mt.as_secs_f64());

    // diff-flows and replace-flows of the same file: nothing differs, nothing is sent.
    for cmd in ["diff-flows", "replace-flows"] {
        let t0 = Instant::now();
        let out = Command::new(&bin).env("OVS_RUNDIR", &sb.dir).args([cmd, "br0"]).arg(&file).output().unwrap();
        let ours = t0.elapsed();
        assert!(out.status.success(), "podflow {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        let t0 = Instant::now();
        let o2 = Command::new("ovs-ofctl").env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15", cmd]).arg(sb.mgmt_addr("br0")).arg(&file).output().unwrap();
        let theirs = t0.elapsed();
        println!(
            "{cmd} of the same {n} flows: podflow {:.3} s ({}), ovs-ofctl {:.3} s (exit {:?}, {} lines)",
            ours.as_secs_f64(),
            String::from_utf8_lossy(&out.stdout).trim(),
            theirs.as_secs_f64(),
            o2.status.code(),
            o2.stdout.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count()
        );
    }
    sb.stop();
}
