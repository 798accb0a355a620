//! Benchmark of the streaming flow commands on 60,000 Antrea-style flows
//! (`podflow::sandbox::workload::antrea_style`: register and conntrack
//! matches, masked fields; `set_field`, `move`, `ct(commit,exec(...))`,
//! `learn`, `goto_table`), same sandboxed bridge, same run, alternating:
//!
//! - `podflow add-flows` (whole process) vs the switch's own floor (the
//!   same messages pre-encoded: connect, HELLO, OPEN + every ADD + COMMIT
//!   written in one go, until the COMMIT reply) and vs
//!   `ovs-ofctl --bundle add-flows`;
//! - `podflow dump-flows` vs `ovs-ofctl dump-flows` and vs a raw dump
//!   floor (connect, HELLO, the same FLOW_DESC request, replies framed and
//!   discarded until the last);
//! - the parser alone on one core, in lines per second, for these lines
//!   and for podflow's own pod pipeline lines.
//!
//! Needs root, Open vSwitch and the release binary:
//! `cargo build --release --bin podflow && cargo run --release --example flows_bench [PODS=10000] [REPS=5]`
//! (REPS=0: the parser figure only; `FLOWS_BENCH_ONLY=dump`: skip the
//! add-flows comparison and time the dumps only;
//! `FLOWS_BENCH_BASELINE=PATH`: time another podflow binary's dump in the
//! same alternation, for before/after figures.) For the dumps it also
//! prints the median CPU time (user + system, from `getrusage` of the
//! waited-for children) of `podflow dump-flows` and `ovs-ofctl dump-flows`,
//! which a loaded machine does not distort as it does wall-clock time.

use podflow::pipeline::{base_flows, pod_flows, Gateway, PodPort};
use podflow::proto::openflow::bundle::{flags, BundleAdd, BundleControl, BundleCtrlType};
use podflow::proto::openflow::flow::FlowStatsRequest;
use podflow::proto::openflow::message::{frame_len, Message};
use podflow::proto::openflow::multipart::{MultipartReplyBody, MultipartRequest, MultipartRequestBody};
use podflow::proto::openflow::switch::Hello;
use podflow::proto::openflow::text::{parse, print};
use podflow::sandbox::{run, workload, Sandbox};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn median(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

fn podflow_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PODFLOW_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().and_then(|d| d.parent()).map(|d| d.join("podflow")).expect("target directory")
}

/// podflow's own pod pipeline as text (the "pod-style lines" of the parser figure).
fn pod_lines(pods: u32) -> String {
    let gw = Gateway::v4(2, [0x0a, 0x58, 198, 18, 0, 1], Ipv4Addr::new(198, 18, 0, 1));
    let mut s = String::new();
    for i in 0..pods {
        let n = i + 10;
        let o = [198, 18 + (n >> 16) as u8 % 2, (n >> 8) as u8, n as u8];
        for f in pod_flows(1, &PodPort::v4(100 + i, [0x0a, 0x58, o[0], o[1], o[2], o[3]], Ipv4Addr::from(o))) {
            s.push_str(&print::flow_mod(&f));
            s.push('\n');
        }
    }
    for f in base_flows(1, &gw) {
        s.push_str(&print::flow_mod(&f));
        s.push('\n');
    }
    s
}

/// CPU time of this thread: the parser's figure is per core even on a
/// loaded machine.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec that we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Lines per second of `parse::flow_line` over `text`, one core (best of
/// 3 passes, in this thread's CPU time).
fn parse_rate(text: &str) -> f64 {
    let n = text.lines().count();
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t0 = thread_cpu();
        let mut ok = 0usize;
        for (i, l) in text.lines().enumerate() {
            if let Some(r) = parse::flow_line(l, i + 1) {
                ok += usize::from(r.is_ok());
            }
        }
        best = best.min(thread_cpu() - t0);
        assert_eq!(ok, n, "every line parses");
    }
    n as f64 / best.as_secs_f64()
}

/// A raw OpenFlow 1.5 connection: connect and exchange HELLO only.
fn raw_connect(sock: &Path) -> (UnixStream, Vec<u8>) {
    let mut s = UnixStream::connect(sock).expect("connect");
    s.write_all(&Message::Hello(Hello::of15()).encode(1).unwrap()).unwrap();
    let mut buf = Vec::with_capacity(1 << 20);
    let _ = next_frame(&mut s, &mut buf);
    (s, buf)
}

/// Reads the next whole message off `s` (bytes of it); `buf` keeps the rest.
fn next_frame(s: &mut UnixStream, buf: &mut Vec<u8>) -> Vec<u8> {
    loop {
        if let Some(len) = frame_len(buf).expect("framing") {
            return buf.drain(..len).collect();
        }
        let old = buf.len();
        buf.resize(old + (256 << 10), 0);
        let n = s.read(&mut buf[old..]).expect("read");
        buf.truncate(old + n);
        assert!(n > 0, "the switch closed the connection");
    }
}

/// The floor: OPEN, every ADD, COMMIT pre-encoded in `bytes`, written in
/// one go; returns once the COMMIT reply (xid `commit_xid`) arrives.
fn floor_add(sock: &Path, bytes: &[u8], commit_xid: u32) {
    let (mut s, mut buf) = raw_connect(sock);
    s.write_all(bytes).unwrap();
    loop {
        let f = next_frame(&mut s, &mut buf);
        let (xid, m) = Message::decode(&f).expect("decode");
        match m {
            Message::BundleControl(c) if xid == commit_xid => {
                assert_eq!(c.ctrl_type, BundleCtrlType::COMMIT_REPLY);
                return;
            }
            Message::Error(e) => panic!("the switch refused the floor's bundle: {e}"),
            _ => {}
        }
    }
}

/// One FLOW_DESC request on a raw connection; hands each reply, whole
/// (header included), to `each` until the last; returns how many.
fn dump_replies(sock: &Path, mut each: impl FnMut(Vec<u8>)) -> usize {
    let (mut s, mut buf) = raw_connect(sock);
    let req = Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::FlowDesc(FlowStatsRequest::default())));
    s.write_all(&req.encode(7).unwrap()).unwrap();
    let mut parts = 0;
    loop {
        let f = next_frame(&mut s, &mut buf);
        // MULTIPART_REPLY (type 19) for xid 7; flags at bytes 10..12.
        if f[1] == 19 && f[4..8] == 7u32.to_be_bytes() {
            parts += 1;
            let last = u16::from_be_bytes([f[10], f[11]]) & 1 == 0;
            each(f);
            if last {
                return parts;
            }
        }
    }
}

/// The floor dump: one FLOW_DESC request, replies framed and discarded.
fn floor_dump(sock: &Path) -> usize {
    dump_replies(sock, drop)
}

/// CPU time on one thread, best of 10, to turn `parts` into `dump-flows`
/// text: (the dump's printer from bytes, decoding each reply and then
/// printing its flows). Checks that both print the same text.
fn printer_cpu(parts: &[Vec<u8>]) -> (Duration, Duration) {
    let opts = print::PrintOptions::default();
    let from_bytes = |p: &mut print::FlowDescPrinter, part: &[u8], out: &mut String| {
        p.write_flows(out, &part[16..]).expect("reply prints");
    };
    let decoded = |part: &[u8], out: &mut String| {
        let Ok((_, Message::MultipartReply(r))) = Message::decode(part) else { panic!("reply decodes") };
        let MultipartReplyBody::FlowDesc(flows) = r.body else { panic!("a FLOW_DESC reply") };
        for f in &flows {
            print::write_flow_desc(out, f, &opts);
            out.push('\n');
        }
    };
    let (mut a, mut b) = (String::new(), String::new());
    let mut p = print::FlowDescPrinter::new(opts);
    for part in parts {
        a.clear();
        b.clear();
        from_bytes(&mut p, part, &mut a);
        decoded(part, &mut b);
        assert!(a == b, "the two printers differ");
    }
    let mut out = String::with_capacity(1 << 20);
    let mut best = (Duration::MAX, Duration::MAX);
    for _ in 0..10 {
        let t0 = thread_cpu();
        let mut p = print::FlowDescPrinter::new(opts);
        for part in parts {
            out.clear();
            from_bytes(&mut p, part, &mut out);
            std::hint::black_box(&out);
        }
        best.0 = best.0.min(thread_cpu() - t0);
        let t0 = thread_cpu();
        for part in parts {
            out.clear();
            decoded(part, &mut out);
            std::hint::black_box(&out);
        }
        best.1 = best.1.min(thread_cpu() - t0);
    }
    best
}

/// User + system CPU time of the children waited for so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes one rusage struct that we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn timed(f: impl FnOnce()) -> Duration {
    let t0 = Instant::now();
    f();
    t0.elapsed()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods: u32 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let reps: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    let bin = podflow_bin();
    if !bin.exists() {
        eprintln!("flows_bench: {} does not exist; run `cargo build --release --bin podflow` first", bin.display());
        std::process::exit(1);
    }

    let text = workload::antrea_style(pods);
    let n = text.lines().count();
    let pod_text = pod_lines(pods);
    println!("parser, one core: Antrea-style lines {:.0} lines/s; pod pipeline lines {:.0} lines/s", parse_rate(&text), parse_rate(&pod_text));
    if reps == 0 {
        return; // REPS=0: the parser figure only (for profiling).
    }

    podflow::sandbox::clean_up_on_signals();
    let mut sb = Sandbox::start("flowbench").unwrap_or_else(|e| {
        eprintln!("flows_bench: {e}");
        std::process::exit(1)
    });
    sb.add_bridge("br0").expect("bridge");
    let file = sb.path("flows.txt");
    std::fs::write(&file, &text).unwrap();
    if let Some(p) = std::env::var_os("FLOWS_OUT") {
        std::fs::write(p, &text).unwrap();
    }
    let sock = sb.mgmt("br0");

    // The floor's bytes: OPEN (xid 2), ADDs (xids 3..), COMMIT.
    let fl = flags::ATOMIC | flags::ORDERED;
    let mut floor = Message::BundleControl(BundleControl::new(1, BundleCtrlType::OPEN_REQUEST, fl)).encode(2).unwrap();
    let flows = parse::flows_file(&text).expect("parse");
    for (i, (_, fm)) in flows.iter().enumerate() {
        let xid = 3 + i as u32;
        let inner = Message::FlowMod(fm.clone()).encode(xid).unwrap();
        Message::BundleAdd(BundleAdd { bundle_id: 1, flags: fl, message: inner.to_vec() }).encode_into(xid, &mut floor).unwrap();
    }
    let commit_xid = 3 + flows.len() as u32;
    Message::BundleControl(BundleControl::new(1, BundleCtrlType::COMMIT_REQUEST, fl)).encode_into(commit_xid, &mut floor).unwrap();
    println!("{pods} pods, {n} flows ({} bytes of text, {} bytes on the wire); {reps} repetitions, alternating", text.len(), floor.len());

    let ofctl = |args: &[&str]| {
        let mut c = Command::new("ovs-ofctl");
        c.env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15"]).args(args);
        c
    };
    let mgmt = sb.mgmt_addr("br0");
    let count = || {
        let out = run(&mut ofctl(&["dump-aggregate", &mgmt])).unwrap();
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.split("flow_count=").nth(1).and_then(|r| r.trim().parse::<usize>().ok()).unwrap_or(usize::MAX)
    };
    let sorted_dump = || {
        let out = run(&mut ofctl(&["dump-flows", &mgmt, "--no-stats"])).unwrap();
        let mut v: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
        v.sort();
        v
    };

    // Same flows either way.
    run(Command::new(&bin).env("OVS_RUNDIR", &sb.dir).args(["add-flows", "br0"]).arg(&file)).expect("podflow add-flows");
    let ours = sorted_dump();
    run(&mut ofctl(&["del-flows", &mgmt])).unwrap();
    run(ofctl(&["--bundle", "add-flows", &mgmt]).arg(&file)).expect("ovs-ofctl add-flows");
    assert!(ours == sorted_dump(), "podflow and ovs-ofctl installed different flows");
    println!("installed flows identical (sorted --no-stats dumps): {} flows", ours.len());

    // FLOWS_BENCH_KEEP=1: leave the sandbox running with the flows (for profiling; stop it by its pidfiles).
    if std::env::var_os("FLOWS_BENCH_KEEP").is_some() {
        println!("kept: OVS_RUNDIR={} bridge br0", sb.dir.display());
        sb.keep();
        return;
    }
    let only_dump = std::env::var("FLOWS_BENCH_ONLY").is_ok_and(|v| v == "dump");
    let names = ["podflow add-flows", "floor (pre-encoded, one write)", "ovs-ofctl --bundle add-flows"];
    let mut times: [Vec<Duration>; 3] = Default::default();
    for rep in 0..if only_dump { 0 } else { reps } {
        let mut order = [0usize, 1, 2];
        order.rotate_left(rep % 3);
        for which in order {
            run(&mut ofctl(&["del-flows", &mgmt])).unwrap();
            assert_eq!(count(), 0);
            let t = match which {
                0 => timed(|| {
                    run(Command::new(&bin).env("OVS_RUNDIR", &sb.dir).args(["add-flows", "br0"]).arg(&file)).expect("podflow add-flows");
                }),
                1 => timed(|| floor_add(&sock, &floor, commit_xid)),
                _ => timed(|| {
                    run(ofctl(&["--bundle", "add-flows", &mgmt]).arg(&file)).expect("ovs-ofctl");
                }),
            };
            assert_eq!(count(), n, "{}: every flow installed", names[which]);
            println!("  rep {rep}: {:<32} {:>7.3} s", names[which], t.as_secs_f64());
            times[which].push(t);
        }
    }
    if !only_dump {
        let m: Vec<f64> = times.iter_mut().map(|v| median(v)).collect();
        println!("median add: podflow {:.3} s, floor {:.3} s, ovs-ofctl {:.3} s", m[0], m[1], m[2]);
        println!("ratio podflow / floor: {:.2} (target <= 1.2); podflow / ovs-ofctl: {:.2}; floor / ovs-ofctl: {:.2}", m[0] / m[1], m[0] / m[2], m[1] / m[2]);
    }

    // Dumps of the full table; FLOWS_BENCH_BASELINE=PATH adds another
    // podflow binary (an earlier build) to the same alternation.
    let baseline = std::env::var_os("FLOWS_BENCH_BASELINE").map(PathBuf::from);
    let mut replies = Vec::new();
    dump_replies(&sock, |f| replies.push(f));
    let (from_bytes, decoded) = printer_cpu(&replies);
    println!(
        "dump printing, one core ({} replies, best of 10): from bytes {:.1} ms; decoding each reply, then printing {:.1} ms",
        replies.len(),
        from_bytes.as_secs_f64() * 1e3,
        decoded.as_secs_f64() * 1e3
    );
    let dnames = ["podflow dump-flows", "floor dump (framed, discarded)", "ovs-ofctl dump-flows", "baseline podflow dump-flows"];
    let k = if baseline.is_some() { 4 } else { 3 };
    let mut dt: [Vec<Duration>; 4] = Default::default();
    let mut cpu: [Vec<Duration>; 4] = Default::default();
    let mut parts = 0;
    let podflow_dump = |bin: &Path| {
        let o = run(Command::new(bin).env("OVS_RUNDIR", &sb.dir).args(["dump-flows", "br0"])).expect("podflow dump-flows");
        assert!(o.stdout.len() > n * 100);
    };
    for rep in 0..reps {
        let mut order: Vec<usize> = (0..k).collect();
        order.rotate_left(rep % k);
        for which in order {
            let cpu0 = children_cpu();
            let t = match which {
                0 => timed(|| podflow_dump(&bin)),
                1 => timed(|| parts = floor_dump(&sock)),
                2 => timed(|| {
                    let o = run(&mut ofctl(&["dump-flows", &mgmt])).expect("ovs-ofctl dump-flows");
                    assert!(o.stdout.len() > n * 100);
                }),
                _ => timed(|| podflow_dump(baseline.as_deref().expect("set"))),
            };
            let c = children_cpu() - cpu0;
            println!("  rep {rep}: {:<32} {:>7.3} s (CPU {:.3} s)", dnames[which], t.as_secs_f64(), c.as_secs_f64());
            dt[which].push(t);
            cpu[which].push(c);
        }
    }
    let d: Vec<f64> = dt[..k].iter_mut().map(|v| median(v)).collect();
    println!("median dump of {n} flows ({parts} replies): podflow {:.3} s, floor {:.3} s, ovs-ofctl {:.3} s", d[0], d[1], d[2]);
    println!("ratio podflow / ovs-ofctl: {:.2} (target <= 1.0); podflow / floor: {:.2} (target <= 1.2)", d[0] / d[2], d[0] / d[1]);
    println!("median CPU (user+sys) of a dump: podflow {:.3} s, ovs-ofctl {:.3} s", median(&mut cpu[0]), median(&mut cpu[2]));
    if let Some(b) = &baseline {
        println!(
            "baseline {}: median {:.3} s ({:.2} x floor), CPU {:.3} s",
            b.display(),
            d[3],
            d[3] / d[1],
            median(&mut cpu[3])
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at the end: {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    sb.stop();
}
