//! The flow commands (`dump-flows`, `add-flows`, `del-flows`,
//! `replace-flows`, `diff-flows`, `dump-ports`) run as the real binary
//! against a sandboxed ovs-vswitchd, with `ovs-ofctl` as the oracle.
mod common;

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use podflow::pipeline::{base_flows, pod_flows, Gateway, PodPort};
use podflow::proto::openflow::text::{parse, print};
use podflow::sandbox::Sandbox;

use common::cli::{run, Run};

fn podflow_in(sb: &Sandbox, args: &[&str], stdin: Option<&str>) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_podflow")).args(args).env("OVS_RUNDIR", &sb.dir), stdin)
}

fn podflow(sb: &Sandbox, args: &[&str]) -> Run {
    podflow_in(sb, args, None)
}

/// `ovs-ofctl -O OpenFlow15 ARGS` (the bridge given as its socket), with its exit code.
/// The podflow binary with `env` added and piped stdout and stderr, not
/// waited for (the fake-switch tests play the switch meanwhile).
fn spawn_podflow(args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_podflow"));
    c.args(args).envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.spawn().unwrap()
}

fn ofctl(sb: &Sandbox, args: &[&str]) -> Run {
    let o = Command::new("ovs-ofctl").env("OVS_RUNDIR", &sb.dir).arg("-O").arg("OpenFlow15").args(args).output().unwrap();
    Run { code: o.status.code().unwrap_or(-1), out: String::from_utf8_lossy(&o.stdout).into(), err: String::from_utf8_lossy(&o.stderr).into() }
}

/// Replaces the digits after `duration=` and `idle_age=` (time-dependent) with `*`.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        let next = ["duration=", "idle_age="].iter().filter_map(|k| rest.find(k).map(|i| (i, k.len()))).min();
        let Some((i, l)) = next else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..i + l]);
        out.push('*');
        rest = rest[i + l..].trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    }
}

fn sorted(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

/// The pod pipeline of `pods` pods plus the base flows, as add-flow text.
fn pipeline_text(pods: u32, round: u16) -> String {
    let gw = Gateway::v4(2, [0x0a, 0x58, 10, 0, 0, 1], Ipv4Addr::new(10, 0, 0, 1));
    let mut flows = base_flows(round, &gw);
    for i in 0..pods {
        let n = i + 10;
        let pod = PodPort::v4(100 + i, [0x0a, 0x58, 10, 0, (n >> 8) as u8, n as u8], Ipv4Addr::new(10, 0, (n >> 8) as u8, n as u8));
        flows.extend(pod_flows(round, &pod));
    }
    flows.iter().map(|f| print::flow_mod(f) + "\n").collect()
}

/// The lines of `proto/tests/data/flows.txt` that Open vSwitch accepts on
/// a bridge (tables 254 and up are refused) and, when `podflow_parsable`,
/// that podflow's parser accepts too.
fn reference_flows(podflow_parsable: bool) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/proto/tests/data/flows.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| !l.contains("table=254") && !l.contains("table=255"))
        .filter(|l| !podflow_parsable || parse::flow(l).is_ok())
        // Known parser gap: `xreg7=…,reg15=…` sets reg15 twice; ovs-ofctl
        // lets the later one win, podflow sends both fields and the switch
        // answers OFPBMC_DUP_FIELD.
        .filter(|l| !podflow_parsable || !l.contains("xreg7=0x1,reg15="))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What the reference flows need on the switch: group 1, meters 2 and 4.
fn prepare(sb: &Sandbox) {
    let m = sb.mgmt_addr("br0");
    for (cmd, arg) in [
        ("add-group", "group_id=1,type=all,bucket=output:1"),
        ("add-meter", "meter=2,kbps,band=type=drop,rate=1000"),
        ("add-meter", "meter=4,kbps,band=type=drop,rate=1000"),
    ] {
        let r = ofctl(sb, &[cmd, &m, arg]);
        assert_eq!(r.code, 0, "{cmd} {arg}: {}", r.err);
    }
}

fn write(sb: &Sandbox, name: &str, text: &str) -> String {
    let p = sb.path(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A dump line's `duration=` in seconds.
fn age(line: &str) -> Option<f64> {
    line.split(", ").find_map(|f| f.trim().strip_prefix("duration="))?.strip_suffix('s')?.parse().ok()
}

fn flow_count(sb: &Sandbox) -> usize {
    sb.ofctl("dump-flows", "br0", &["--no-stats"]).unwrap().lines().count()
}

#[test]
fn dump_flows_is_byte_identical_to_ovs_ofctl() {
    let Some(sb) = common::sandbox_with_bridge("cfdump", "br0") else { return };
    prepare(&sb);
    let m = sb.mgmt_addr("br0");
    let text = reference_flows(false) + &pipeline_text(200, 7);
    let f = write(&sb, "flows.txt", &text);
    let r = ofctl(&sb, &["--bundle", "add-flows", &m, &f]);
    assert_eq!(r.code, 0, "{}", r.err);
    let n = flow_count(&sb);
    assert!(n > 1000, "{n}");

    let ours = podflow(&sb, &["dump-flows", "br0"]);
    assert_eq!(ours.code, 0, "{}", ours.err);
    let theirs = sb.ofctl("dump-flows", "br0", &[]).unwrap();
    assert_eq!(ours.out.lines().filter(|l| l.starts_with(' ')).count(), n);
    assert!(theirs.contains("flags=[more]"), "the dump should span several replies");
    assert_eq!(normalise(&ours.out), normalise(&theirs));

    let ours = podflow(&sb, &["dump-flows", "br0", "--no-stats"]);
    assert_eq!(ours.code, 0, "{}", ours.err);
    assert_eq!(ours.out, sb.ofctl("dump-flows", "br0", &["--no-stats"]).unwrap());

    // The same through an explicit address.
    let ours = podflow(&sb, &["dump-flows", &m, "--no-stats"]);
    assert_eq!(ours.out, sb.ofctl("dump-flows", "br0", &["--no-stats"]).unwrap());

    for crit in ["table=10", "ip", "table=20,ip", "cookie=0x1234/-1", "tcp,tp_dst=80", "in_port=1", "arp,arp_tpa=10.0.0.20", "out_port=1"] {
        let ours = podflow(&sb, &["dump-flows", "br0", crit]);
        assert_eq!(ours.code, 0, "{crit}: {}", ours.err);
        let theirs = sb.ofctl("dump-flows", "br0", &[crit]).unwrap();
        assert!(theirs.lines().count() > 1, "{crit} should select something");
        assert_eq!(normalise(&ours.out), normalise(&theirs), "{crit}");
        let ours = podflow(&sb, &["dump-flows", "br0", crit, "--no-stats"]);
        assert_eq!(ours.out, sb.ofctl("dump-flows", "br0", &[crit, "--no-stats"]).unwrap(), "{crit} --no-stats");
    }
    let ours = podflow(&sb, &["dump-flows", "br0", "--table", "20"]);
    assert_eq!(normalise(&ours.out), normalise(&sb.ofctl("dump-flows", "br0", &["table=20"]).unwrap()));
    let ours = podflow(&sb, &["dump-flows", "br0", "--cookie", "0x1234/0xffff"]);
    assert_eq!(normalise(&ours.out), normalise(&sb.ofctl("dump-flows", "br0", &["cookie=0x1234/0xffff"]).unwrap()));
    let ours = podflow(&sb, &["dump-flows", "br0", "--table", "30", "--cookie", "0x7029f00000000/0xffffff00000000", "--no-stats"]);
    let theirs = sb.ofctl("dump-flows", "br0", &["table=30,cookie=0x7029f00000000/0xffffff00000000", "--no-stats"]).unwrap();
    assert!(theirs.lines().count() > 100);
    assert_eq!(ours.out, theirs);

    // A bad MATCH is a usage error, before connecting.
    let r = podflow(&sb, &["dump-flows", "br0", "nw_src=1.2.3.4.5"]);
    assert_eq!(r.code, 1);
    assert!(r.err.starts_with("podflow: MATCH") && r.err.lines().count() == 1, "{}", r.err);
}

#[test]
fn add_flows_is_all_or_nothing_with_line_numbers() {
    let Some(sb) = common::sandbox_with_bridge("cfadd", "br0") else { return };
    prepare(&sb);
    let m = sb.mgmt_addr("br0");
    let text = reference_flows(true) + &pipeline_text(100, 3);
    let f = write(&sb, "flows.txt", &text);

    let r = ofctl(&sb, &["--bundle", "add-flows", &m, &f]);
    assert_eq!(r.code, 0, "{}", r.err);
    let via_ofctl = sb.ofctl("dump-flows", "br0", &["--no-stats"]).unwrap();
    assert!(via_ofctl.lines().count() > 600);
    sb.ofctl("del-flows", "br0", &[]).unwrap();
    assert_eq!(flow_count(&sb), 0);

    let r = podflow(&sb, &["add-flows", "br0", &f]);
    assert_eq!((r.code, r.out.as_str(), r.err.as_str()), (0, "", ""));
    let via_podflow = sb.ofctl("dump-flows", "br0", &["--no-stats"]).unwrap();
    assert_eq!(via_podflow, via_ofctl, "same flows, same dump order");

    // The same file compares equal, flow for flow, and replace-flows sends nothing.
    let r = podflow(&sb, &["diff-flows", "br0", &f]);
    assert_eq!((r.code, r.out.as_str()), (0, ""), "{}", r.err);
    let r = podflow(&sb, &["replace-flows", "br0", &f]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.starts_with("0 flows changed: 0 deleted, 0 added, 0 modified;"), "{}", r.out);

    // Line 7 is refused by the switch (no group 99): nothing is installed.
    sb.ofctl("del-flows", "br0", &[]).unwrap();
    let mut lines: Vec<String> = pipeline_text(5, 1).lines().map(str::to_string).collect();
    lines.insert(1, "# a comment line counts too".into());
    lines[6] = "table=0,priority=5,ip,actions=group:99".into();
    let bad = write(&sb, "bad.txt", &(lines.join("\n") + "\n"));
    let r = podflow(&sb, &["add-flows", "br0", &bad]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert!(r.err.contains("line 7 of") && r.err.contains("`table=0,priority=5,ip,actions=group:99`"), "{}", r.err);
    assert!(r.err.contains("OFPBAC_BAD_OUT_GROUP") && r.err.contains("nothing was applied"), "{}", r.err);
    assert_eq!(flow_count(&sb), 0);

    // A syntax error on line 5: reported with line and column, nothing sent.
    let mut lines: Vec<String> = pipeline_text(5, 1).lines().map(str::to_string).collect();
    lines[4] = "table=0,priority=5,ip,nw_dst=10.0.0.300,actions=drop".into();
    let bad = write(&sb, "syntax.txt", &(lines.join("\n") + "\n"));
    let r = podflow(&sb, &["add-flows", "br0", &bad]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("line 5, column") && r.err.contains("nw_dst=10.0.0.300"), "{}", r.err);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert_eq!(flow_count(&sb), 0);

    // Standard input.
    let small = pipeline_text(2, 1);
    let r = podflow_in(&sb, &["add-flows", "br0", "-"], Some(&small));
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(flow_count(&sb), small.lines().count());

    // A missing file.
    let r = podflow(&sb, &["add-flows", "br0", "/nonexistent/flows.txt"]);
    assert_eq!(r.code, 1);
    assert!(r.err.starts_with("podflow: cannot read /nonexistent/flows.txt"), "{}", r.err);
}

/// Sends one IPv4 packet from port `in_port` to `dst` through the pipeline.
fn packet_out(sb: &Sandbox, in_port: u32, src_mac: &str, src: [u8; 4], dst: [u8; 4]) {
    let mac = src_mac.replace(':', "");
    let ip: String = format!(
        "45000014000100004000{}{}{}",
        "0000", // protocol 0, checksum 0: the flows do not look further
        src.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        dst.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let pkt = format!("ffffffffffff{mac}0800{ip}");
    let r = ofctl(sb, &["packet-out", &sb.mgmt_addr("br0"), &format!("in_port={in_port} packet={pkt} actions=resubmit(,0)")]);
    assert_eq!(r.code, 0, "packet-out: {}", r.err);
}

#[test]
fn del_replace_diff_and_ports() {
    let Some(sb) = common::sandbox_with_bridge("cfrepl", "br0") else { return };
    let m = sb.mgmt_addr("br0");
    let a = pipeline_text(20, 1);
    let fa = write(&sb, "a.txt", &a);
    let r = podflow(&sb, &["add-flows", "br0", &fa]);
    assert_eq!(r.code, 0, "{}", r.err);
    let n = a.lines().count();
    assert_eq!(flow_count(&sb), n);

    // Traffic through pod 100 (10.0.0.10, mac 0a:58:0a:00:00:0a) to pod 101.
    for _ in 0..3 {
        packet_out(&sb, 100, "0a:58:0a:00:00:0a", [10, 0, 0, 10], [10, 0, 0, 11]);
    }
    let classify = "in_port=100,dl_src=0a:58:0a:00:00:0a";
    let before = sb.ofctl("dump-flows", "br0", &[classify]).unwrap();
    assert!(before.contains("n_packets=3,"), "{before}");

    // The file changes: one pod gone (6 flows), one flow's actions changed, one flow new.
    let mut b: Vec<String> = a.lines().filter(|l| !l.contains("in_port=119") && !l.contains("reg1=0x77") && !l.contains("10.0.0.29") && !l.contains("0a:58:0a:00:00:1d")).map(str::to_string).collect();
    assert_eq!(b.len(), n - 6);
    let changed = b.iter().position(|l| l.contains("in_port=101,dl_src")).unwrap();
    b[changed] = b[changed].replace("goto_table:10", "drop");
    b.push("table=40, priority=5,ip actions=drop".into());
    let fb = write(&sb, "b.txt", &(b.join("\n") + "\n"));

    // diff-flows: exit 2, the lines ovs-ofctl prints (in another order).
    let r = podflow(&sb, &["diff-flows", "br0", &fb]);
    assert_eq!(r.code, 2, "{}", r.err);
    let theirs = ofctl(&sb, &["diff-flows", &m, &fb]);
    assert_eq!(theirs.code, 2);
    assert_eq!(sorted(&r.out), sorted(&theirs.out));
    assert_eq!(r.out.lines().filter(|l| l.starts_with('-')).count(), 7, "{}", r.out);
    assert_eq!(r.out.lines().filter(|l| l.starts_with('+')).count(), 2, "{}", r.out);
    assert!(r.out.contains("\n+table=40 priority=5,ip actions=drop\n"), "{}", r.out);

    // Flows older than 3 s, so that a re-added one shows however slowly
    // the commands below run.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let r = podflow(&sb, &["replace-flows", "br0", &fb]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.out, format!("8 flows changed: 6 deleted, 1 added, 1 modified; {} unchanged\n", n - 7));
    assert_eq!(flow_count(&sb), n - 6 + 1);
    let r = podflow(&sb, &["diff-flows", "br0", &fb]);
    assert_eq!((r.code, r.out.as_str()), (0, ""));
    // Unchanged flows were not re-added: counters and age survive.
    let after = sb.ofctl("dump-flows", "br0", &[classify]).unwrap();
    assert!(after.contains("n_packets=3,"), "{after}");
    let old = sb.ofctl("dump-flows", "br0", &["table=40,ip"]).unwrap();
    let young: Vec<&str> = old.lines().filter(|l| age(l).is_some_and(|a| a < 3.0)).collect();
    assert!(young.len() == 1 && young[0].contains("priority=5,ip"), "only the new flow is young: {old}");
    for l in sb.ofctl("dump-flows", "br0", &["table=30"]).unwrap().lines().skip(1) {
        assert!(age(l).is_some_and(|a| a >= 3.0), "an unchanged flow was re-added: {l}");
    }

    // del-flows with a match, then everything.
    let r = podflow(&sb, &["del-flows", "br0", "table=40"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(sb.ofctl("dump-flows", "br0", &["table=40", "--no-stats"]).unwrap(), "");
    assert!(flow_count(&sb) > 0);
    let r = podflow(&sb, &["del-flows", "br0", "cookie=0x1000000000000/0xffff000000000000"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(flow_count(&sb), 0);
    podflow(&sb, &["add-flows", "br0", &fa]);
    let r = podflow(&sb, &["del-flows", &m]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(flow_count(&sb), 0);

    // dump-ports, against ovs-ofctl (durations normalised).
    sb.vsctl(&["add-port", "br0", "p1", "--", "set", "interface", "p1", "type=internal", "ofport_request=5"]).unwrap();
    podflow::sandbox::wait_for(
        || sb.ofctl("dump-ports", "br0", &[]).is_ok_and(|s| s.contains("port  5:")),
        std::time::Duration::from_secs(10),
        "port 5",
    )
    .unwrap();
    let ours = podflow(&sb, &["dump-ports", "br0"]);
    assert_eq!(ours.code, 0, "{}", ours.err);
    assert_eq!(normalise(&ours.out), normalise(&sb.ofctl("dump-ports", "br0", &[]).unwrap()));
    assert!(ours.out.starts_with("OFPST_PORT reply (OF1.5) (xid=0x2): 2 ports\n"), "{}", ours.out);
    for port in ["5", "LOCAL", "p1", "7"] {
        let ours = podflow(&sb, &["dump-ports", "br0", port]);
        assert_eq!(ours.code, 0, "{}", ours.err);
        assert_eq!(normalise(&ours.out), normalise(&sb.ofctl("dump-ports", "br0", &[port]).unwrap()), "{port}");
    }
    let r = podflow(&sb, &["dump-ports", "br0", "nosuchport"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.err, "podflow: br0 has no port named \"nosuchport\"\n");

    // Errors: one sentence, exit 1.
    for cmd in ["dump-flows", "dump-ports", "del-flows"] {
        let r = podflow(&sb, &[cmd, "nosuch"]);
        assert_eq!(r.code, 1, "{cmd}");
        assert_eq!(r.err.lines().count(), 1, "{}", r.err);
        assert!(r.err.starts_with("podflow: bridge nosuch has no management socket"), "{}", r.err);
    }
    let r = podflow(&sb, &["add-flows", "nosuch", &fa]);
    assert_eq!(r.code, 1);
    let r = podflow(&sb, &["dump-flows", "unix:/nonexistent/x.mgmt"]);
    assert_eq!(r.code, 1);
    assert!(r.err.starts_with("podflow: cannot connect to unix:/nonexistent/x.mgmt"), "{}", r.err);
    let r = podflow(&sb, &["dump-flows"]);
    assert_eq!(r.code, 1, "usage errors exit 1 (2 means \"different\" for diff-flows)");
    let r = podflow(&sb, &["dump-flows", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.out.contains("Examples:") && r.out.contains("0x6"), "{}", r.out);
}

/// Runs the binary against a fake switch that plays the bundle up to the
/// COMMIT and then drops the connection: the outcome is unknown, which
/// podflow reports with its own exit status (3). The same for a delete
/// whose barrier reply never comes.
#[test]
fn lost_acknowledgement_is_reported_as_unknown_outcome() {
    use podflow::proto::openflow::bundle::{BundleControl, BundleCtrlType};
    use podflow::proto::openflow::message::Message;

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sw = common::fake_switch::FakeSwitch::new();
        let dir = std::env::temp_dir().join(format!("podflow-cliflows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("flows.txt");
        std::fs::write(&file, pipeline_text(3, 1)).unwrap();
        let addr = sw.addr.to_string();
        let child = spawn_podflow(&["add-flows", &addr, file.to_str().unwrap()], &[]);
        let mut p = sw.accept().await;
        let (xid, m) = p.recv_until(|m| matches!(m, Message::BundleControl(_))).await;
        let Message::BundleControl(open) = m else { unreachable!() };
        assert_eq!(open.ctrl_type, BundleCtrlType::OPEN_REQUEST);
        p.send(xid, &Message::BundleControl(BundleControl::new(open.bundle_id, BundleCtrlType::OPEN_REPLY, open.flags))).await;
        let (xid, _) = p.recv_until(|m| matches!(m, Message::BarrierRequest)).await;
        p.send(xid, &Message::BarrierReply).await;
        let (_, m) = p.recv_until(|m| matches!(m, Message::BundleControl(_))).await;
        assert!(matches!(m, Message::BundleControl(c) if c.ctrl_type == BundleCtrlType::COMMIT_REQUEST));
        drop(p);
        let o = child.wait_with_output().await.unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(err.contains("unknown") && err.lines().count() == 1, "{err}");

        let child = spawn_podflow(&["del-flows", &addr, "table=3"], &[]);
        let mut p = sw.accept().await;
        let (_, m) = p.recv_until(|m| matches!(m, Message::FlowMod(_))).await;
        assert!(matches!(m, Message::FlowMod(f) if f.table_id == 3));
        p.recv_until(|m| matches!(m, Message::BarrierRequest)).await;
        drop(p);
        let o = child.wait_with_output().await.unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(3), "{err}");
        assert!(err.contains("may have been deleted"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// 60,003 Antrea-style lines (registers, ct_state/ct_mark, masked fields,
/// set_field, move, ct(commit,exec(...)), learn) streamed by `podflow
/// add-flows` install exactly what `ovs-ofctl --bundle add-flows` does; a
/// port name deep in the file is resolved (the names are fetched mid-
/// stream); a syntax error at line 50,000, after most of the file was
/// sent, leaves nothing applied and names line and column.
#[test]
fn large_file_streams_like_ovs_ofctl() {
    let Some(sb) = common::sandbox_with_bridge("cfbig", "br0") else { return };
    sb.vsctl(&["add-port", "br0", "p1", "--", "set", "interface", "p1", "type=internal", "ofport_request=5"]).unwrap();
    let m = sb.mgmt_addr("br0");
    let mut lines: Vec<String> = podflow::sandbox::workload::antrea_style(10_000).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 60_003);
    lines[40_000] = "table=0,priority=191,in_port=p1,actions=output:p1".into();
    let f = write(&sb, "big.txt", &(lines.join("\n") + "\n"));

    let r = ofctl(&sb, &["--bundle", "add-flows", &m, &f]);
    assert_eq!(r.code, 0, "{}", r.err);
    let via_ofctl = sorted(&sb.ofctl("dump-flows", "br0", &["--no-stats"]).unwrap());
    assert_eq!(via_ofctl.len(), 60_003);
    assert!(via_ofctl.iter().any(|l| l.contains("in_port=5") && l.contains("actions=output:5")));
    sb.ofctl("del-flows", "br0", &[]).unwrap();

    let r = podflow(&sb, &["add-flows", "br0", &f]);
    assert_eq!((r.code, r.err.as_str()), (0, ""));
    assert!(sorted(&sb.ofctl("dump-flows", "br0", &["--no-stats"]).unwrap()) == via_ofctl, "podflow installed other flows than ovs-ofctl");
    sb.ofctl("del-flows", "br0", &[]).unwrap();

    lines[49_999] = "table=0,priority=5,ip,nw_dst=198.18.0.300,actions=drop".into();
    let bad = write(&sb, "bad.txt", &(lines.join("\n") + "\n"));
    let r = podflow(&sb, &["add-flows", "br0", &bad]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert!(r.err.contains("line 50000, column ") && r.err.contains("nw_dst=198.18.0.300"), "{}", r.err);
    assert!(r.err.contains("discarded, so nothing was applied"), "{}", r.err);
    assert_eq!(flow_count(&sb), 0, "nothing of the 49,999 good lines before it is applied");

    // Fault knob: committing instead of discarding is caught by the count above.
    let r = run(Command::new(env!("CARGO_BIN_EXE_podflow")).args(["add-flows", "br0", &bad]).env("OVS_RUNDIR", &sb.dir).env("PODFLOW_FAULT", "commit-on-syntax-error"), None);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(flow_count(&sb) > 40_000, "with the knob the lines before the error are applied");
}

/// Plays the switch for `podflow add-flows` of a 5,000-line file whose
/// line 4,000 does not parse: ADDs of the lines before it arrive before
/// podflow finds the error (it streams), then a DISCARD and no COMMIT;
/// podflow exits 1 naming line and column. A podflow that parsed the
/// whole file before sending would send nothing, and this test fails.
#[test]
fn syntax_error_after_streaming_started_discards_the_bundle() {
    use podflow::proto::openflow::bundle::{BundleControl, BundleCtrlType};
    use podflow::proto::openflow::message::Message;
    use podflow::proto::openflow::multipart::{MultipartReply, MultipartReplyBody};

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let sw = common::fake_switch::FakeSwitch::new();
        let dir = std::env::temp_dir().join(format!("podflow-cfstream-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("flows.txt");
        let mut lines: Vec<String> = podflow::sandbox::workload::antrea_style(900).lines().take(5_000).map(str::to_string).collect();
        lines[3_999] = "table=0,priority=5,ip,nw_dst=198.18.0.300,actions=drop".into();
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let child = spawn_podflow(&["add-flows", &sw.addr.to_string(), file.to_str().unwrap()], &[]);
        let mut p = sw.accept().await;
        let (xid, m) = p.recv_until(|m| matches!(m, Message::BundleControl(_))).await;
        let Message::BundleControl(open) = m else { unreachable!() };
        assert_eq!(open.ctrl_type, BundleCtrlType::OPEN_REQUEST);
        p.send(xid, &Message::BundleControl(BundleControl::new(open.bundle_id, BundleCtrlType::OPEN_REPLY, open.flags))).await;
        let mut adds = 0;
        let (xid, ctrl) = loop {
            match p.recv().await {
                (_, Message::BundleAdd(_)) => adds += 1,
                (xid, Message::BundleControl(c)) => break (xid, c),
                // The bad line is retried with the bridge's port names: none here.
                (xid, Message::MultipartRequest(_)) => {
                    let ports = MultipartReply { flags: 0, body: MultipartReplyBody::PortDesc(vec![]) };
                    p.send(xid, &Message::MultipartReply(ports)).await;
                }
                (_, other) => panic!("unexpected {}", other.name()),
            }
        };
        assert_eq!(ctrl.ctrl_type, BundleCtrlType::DISCARD_REQUEST, "a syntax error discards the bundle");
        assert!(adds > 0 && adds < 3_999, "{adds} ADDs before the DISCARD: the lines before the error were streamed");
        p.send(xid, &Message::BundleControl(BundleControl::new(open.bundle_id, BundleCtrlType::DISCARD_REPLY, open.flags))).await;
        assert!(p.try_recv(std::time::Duration::from_secs(2)).await.is_none(), "nothing after the DISCARD (no COMMIT)");
        let o = child.wait_with_output().await.unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("line 4000, column ") && err.contains("discarded, so nothing was applied"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

/// A dump whose connection is cut after the first of several replies:
/// the flows of that reply stay on stdout (printed as they came), stderr
/// says what happened, the exit status is 1. A podflow that collected the
/// whole dump before printing would print nothing, and this test fails.
#[test]
fn dump_cut_midway_keeps_what_was_printed() {
    use podflow::proto::openflow::flow::FlowDesc;
    use podflow::proto::openflow::message::Message;
    use podflow::proto::openflow::multipart::{MultipartReply, MultipartReplyBody, MORE};

    let rt = tokio::runtime::Runtime::new().unwrap();
    // With the fault knob podflow collects the dump before printing: the
    // same exchange leaves stdout empty, which the checks below catch.
    for knob in ["", "dump-buffered"] {
        rt.block_on(async {
            let sw = common::fake_switch::FakeSwitch::new();
            let child = spawn_podflow(&["dump-flows", &sw.addr.to_string(), "--no-stats"], &[("PODFLOW_FAULT", knob)]);
            let mut p = sw.accept().await;
            let (xid, _) = p.recv_until(|m| matches!(m, Message::MultipartRequest(_))).await;
            let flow = |priority| FlowDesc { table_id: 3, priority, ..FlowDesc::default() };
            let part = MultipartReply { flags: MORE, body: MultipartReplyBody::FlowDesc(vec![flow(7), flow(8)]) };
            p.send(xid, &Message::MultipartReply(part)).await;
            drop(p);
            let o = child.wait_with_output().await.unwrap();
            let (out, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            assert_eq!(o.status.code(), Some(1), "{err}");
            assert!(err.contains("stopped after 2 flows in 1 replies") && err.contains("closed the connection"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
            let printed: Vec<&str> = out.lines().collect();
            if knob.is_empty() {
                assert_eq!(printed.len(), 2, "{out}");
                assert!(printed[0].contains("priority=7") && printed[1].contains("priority=8"), "{out}");
            } else {
                assert!(printed.is_empty(), "the knob should lose the printed part: {out}");
            }
        });
    }
}
