//! The rest of the `ovs-ofctl` commands (issue 11, items 2 and 4) run as
//! the real `podflow` binary against a sandboxed ovs-vswitchd, each
//! compared with `ovs-ofctl -O OpenFlow15` on the same bridge: port names,
//! `mod-flows`, `--strict`, groups, meters, `dump-tables`,
//! `dump-aggregate`, `monitor … watch:` and the TLV map commands.
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use podflow::sandbox::Sandbox;

use common::cli::{run, Run};

fn podflow(sb: &Sandbox, args: &[&str]) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_podflow")).args(args).env("OVS_RUNDIR", &sb.dir), None)
}

fn podflow_in(sb: &Sandbox, args: &[&str], stdin: &str) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_podflow")).args(args).env("OVS_RUNDIR", &sb.dir), Some(stdin))
}

/// `ovs-ofctl -O OpenFlow15 ARGS` (bridges by name through OVS_RUNDIR).
fn ofctl(sb: &Sandbox, args: &[&str]) -> Run {
    run(Command::new("ovs-ofctl").env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15"]).args(args), None)
}

fn ofctl_in(sb: &Sandbox, args: &[&str], stdin: &str) -> Run {
    run(Command::new("ovs-ofctl").env("OVS_RUNDIR", &sb.dir).args(["-O", "OpenFlow15"]).args(args), Some(stdin))
}

fn ok(r: Run, what: &str) -> String {
    assert_eq!(r.code, 0, "{what}: {}", r.err);
    r.out
}

fn flows(sb: &Sandbox) -> String {
    let mut v: Vec<String> = ok(ofctl(sb, &["--no-stats", "dump-flows", "br0"]), "dump-flows").lines().map(String::from).collect();
    v.sort();
    v.join("\n")
}

/// Ports p1, p2 (ofports 1, 2) and pod-a (7, a name that needs quotes).
fn with_ports(tag: &str) -> Option<Sandbox> {
    let sb = common::sandbox_with_bridge(tag, "br0")?;
    for (p, n) in [("p1", 1), ("p2", 2), ("pod-a", 7)] {
        sb.vsctl(&["add-port", "br0", p, "--", "set", "interface", p, "type=internal", &format!("ofport_request={n}")]).unwrap();
    }
    Some(sb)
}

const NAMED_FLOWS: &str = "\
table=0,priority=10,in_port=p1,actions=output:p2,\"pod-a\"
table=0,priority=11,in_port=\"pod-a\",ip,actions=resubmit(p2,3),output(port=p1,max_len=100)
table=1,priority=12,actions=p1,LOCAL
";

#[test]
fn port_names_resolve_and_print_like_ovs_ofctl() {
    let Some(sb) = with_ports("ofnames") else { return };
    let file = NAMED_FLOWS;
    ok(ofctl_in(&sb, &["add-flows", "br0", "-"], file), "ovs-ofctl add-flows");
    let want = flows(&sb);
    assert!(want.contains("in_port=7") && want.contains("output:7"), "{want}");
    for (ours, theirs) in [
        (vec!["dump-flows", "br0", "--no-stats", "--names"], vec!["--no-stats", "--names", "dump-flows", "br0"]),
        (vec!["dump-flows", "br0", "--no-stats", "--names", "in_port=\"pod-a\""], vec!["--no-stats", "--names", "dump-flows", "br0", "in_port=\"pod-a\""]),
        (vec!["dump-flows", "br0", "--no-stats", "in_port=p1"], vec!["--no-stats", "dump-flows", "br0", "in_port=p1"]),
    ] {
        let o = ok(podflow(&sb, &ours), "podflow dump-flows");
        assert_eq!(o, ok(ofctl(&sb, &theirs), "ovs-ofctl dump-flows"), "{ours:?}");
    }
    assert!(ok(podflow(&sb, &["dump-flows", "br0", "--no-stats", "--names"]), "").contains("output:\"pod-a\""));

    ok(ofctl(&sb, &["del-flows", "br0"]), "del-flows");
    ok(podflow_in(&sb, &["add-flows", "br0", "-"], file), "podflow add-flows with names");
    assert_eq!(flows(&sb), want, "podflow installs what ovs-ofctl installs");

    ok(podflow(&sb, &["del-flows", "br0", "in_port=p1"]), "del-flows by name");
    assert!(!flows(&sb).contains("in_port=1 "), "{}", flows(&sb));

    // An unknown name: refused with line and column, nothing applied.
    let before = flows(&sb);
    let r = podflow_in(&sb, &["add-flows", "br0", "-"], "table=5,actions=drop\ntable=5,in_port=p9,actions=drop\n");
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("line 2, column 17") && r.err.contains("p9"), "{}", r.err);
    assert_eq!(flows(&sb), before);
    assert_eq!(ofctl_in(&sb, &["add-flows", "br0", "-"], "table=5,in_port=p9,actions=drop\n").code, 1);
}

#[test]
fn mod_flows_and_strict_like_ovs_ofctl() {
    let Some(sb) = with_ports("ofmod") else { return };
    let base = "table=0,priority=5,ip,actions=drop\ntable=0,priority=6,ip,actions=drop\ntable=0,ip,actions=drop\ntable=1,ip,actions=drop\n";
    let steps: &[&[&str]] = &[
        &["mod-flows", "br0", "ip,actions=output:p1"],
        &["mod-flows", "--strict", "br0", "priority=6,ip,actions=output:p2"],
        &["mod-flows", "br0", "table=1,cookie=0x5,idle_timeout=30,ip,actions=LOCAL"],
        &["mod-flows", "br0", "table=2,arp,actions=NORMAL"],
        &["del-flows", "--strict", "br0", "priority=5,ip"],
        &["del-flows", "--strict", "br0", "ip"],
        &["del-flows", "--strict", "br0", "table=1,priority=6,ip"],
    ];
    let mut after_each = Vec::new();
    for tool in ["ovs-ofctl", "podflow"] {
        ok(ofctl(&sb, &["del-flows", "br0"]), "del-flows");
        ok(ofctl_in(&sb, &["add-flows", "br0", "-"], base), "add-flows");
        let mut seen = Vec::new();
        for step in steps {
            let r = if tool == "ovs-ofctl" { ofctl(&sb, step) } else { podflow(&sb, step) };
            assert_eq!(r.code, 0, "{tool} {step:?}: {}", r.err);
            seen.push(flows(&sb));
        }
        after_each.push(seen);
    }
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(after_each[1][i], after_each[0][i], "after {step:?}");
    }
    // A syntax error: exit 1 with the column; importance is refused in a modify, as by ovs-ofctl.
    let r = podflow(&sb, &["mod-flows", "br0", "importance=3,actions=drop"]);
    assert_eq!((r.code, ofctl(&sb, &["mod-flows", "br0", "importance=3,actions=drop"]).code), (1, 1), "{}", r.err);
    assert!(r.err.contains("column 1"), "{}", r.err);
}

const GROUPS: &[&str] = &[
    "group_id=1,type=all,bucket=output:p1,bucket=output:2",
    "group_id=2,type=select,selection_method=hash,bucket=bucket_id:5,weight:10,actions=output:1,bucket=weight=20,watch_port=p2,actions=set_field:1->reg0,output:\"pod-a\"",
    "group_id=3,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,watch_group:1,output:2",
    "group_id=4,type=indirect,bucket=actions=push_vlan:0x8100,set_field:4097->vlan_vid,output:1",
    "group_id=5,type=select,bucket=output:1,bucket=bucket_id=0,output:2",
    "group_id=6,type=all",
    "group_id=7,type=select,selection_method=dp_hash,selection_method_param=7,bucket=output:1",
    // The fields a hash selection hashes, one, several, masked (printed in
    // the switch's field order, not as written), and OVS-only names.
    "group_id=8,type=select,selection_method=hash,fields=ip_src,bucket=output:1",
    "group_id=9,type=select,selection_method=hash,fields(ip_src,nw_proto),bucket=output:1,bucket=output:2",
    "group_id=10,type=select,selection_method=hash,fields(eth_dst=ff:00:00:00:00:00,ip_src=255.255.0.0,tcp_dst=0xff00,in_port,vlan_tci=0x1fff),bucket=output:1",
    "group_id=11,type=select,selection_method=hash,selection_method_param=7,fields(ipv6_dst=ffff:ffff::,udp_src,reg3=0xff,nw_tos),bucket=output:1",
];

/// Group texts both tools refuse (exit 1).
const BAD_GROUPS: &[&str] = &[
    "group_id=9,type=select,selection_method=dp_hash,fields=ip_src,bucket=output:1",
    "group_id=9,type=select,fields=ip_src,bucket=output:1",
    "group_id=9,type=select,selection_method=hash,fields(ip_src,ip_src),bucket=output:1",
    "group_id=9,type=select,selection_method=hash,fields(ip_src=0.0.0.0),bucket=output:1",
    "group_id=9,type=select,selection_method=hash,fields(nw_proto=0xf),bucket=output:1",
    "group_id=9,type=select,selection_method=hash,fields(bogus),bucket=output:1",
    "group_id=9,type=all,selection_method=hash,fields(ip_src),bucket=output:1",
];

#[test]
fn groups_like_ovs_ofctl() {
    let Some(sb) = with_ports("ofgroups") else { return };
    // Each group: installed by ovs-ofctl and by podflow, the same group.
    for g in GROUPS {
        ok(ofctl(&sb, &["add-group", "br0", g]), &format!("ovs-ofctl add-group {g}"));
        let want = ok(ofctl(&sb, &["dump-groups", "br0"]), "dump-groups");
        ok(ofctl(&sb, &["del-groups", "br0"]), "del-groups");
        ok(podflow(&sb, &["add-group", "br0", g]), &format!("podflow add-group {g}"));
        assert_eq!(ok(ofctl(&sb, &["dump-groups", "br0"]), "dump-groups"), want, "{g}");
        assert_eq!(ok(podflow(&sb, &["dump-groups", "br0"]), "podflow dump-groups"), want, "{g}");
        ok(podflow(&sb, &["del-groups", "br0"]), "podflow del-groups");
        assert_eq!(ok(ofctl(&sb, &["dump-groups", "br0"]), ""), "OFPST_GROUP_DESC reply (OF1.5) (xid=0x2):\n");
    }
    // All at once from a file, then the dumps (all, one, by name).
    let file = GROUPS.join("\n") + "\n";
    ok(podflow_in(&sb, &["add-groups", "br0", "-"], &file), "podflow add-groups");
    for (ours, theirs) in [
        (vec!["dump-groups", "br0"], vec!["dump-groups", "br0"]),
        (vec!["dump-groups", "br0", "2"], vec!["dump-groups", "br0", "2"]),
        (vec!["dump-groups", "br0", "--names"], vec!["--names", "dump-groups", "br0"]),
        (vec!["dump-groups", "br0", "99"], vec!["dump-groups", "br0", "99"]),
    ] {
        assert_eq!(ok(podflow(&sb, &ours), "podflow"), ok(ofctl(&sb, &theirs), "ovs-ofctl"), "{ours:?}");
    }
    // mod-group, then the errors ovs-ofctl also fails on (exit 1).
    let m = "group_id=1,type=select,bucket=output:p2";
    ok(podflow(&sb, &["mod-group", "br0", m]), "mod-group");
    assert!(ok(ofctl(&sb, &["dump-groups", "br0", "1"]), "").contains("group_id=1,type=select,bucket=bucket_id:0,actions=output:2"));
    for args in [vec!["add-group", "br0", GROUPS[0]], vec!["mod-group", "br0", "group_id=50,type=all"], vec!["add-group", "br0", "group_id=8,type=ff,bucket=output:1"]] {
        let (a, b) = (podflow(&sb, &args), ofctl(&sb, &args));
        assert_eq!((a.code, b.code), (1, 1), "{args:?}: {}", a.err);
    }
    for g in BAD_GROUPS {
        let args = ["add-group", "br0", g];
        let (a, b) = (podflow(&sb, &args), ofctl(&sb, &args));
        assert_eq!((a.code, b.code), (1, 1), "{g}: {}", a.err);
    }
    ok(podflow(&sb, &["mod-group", "br0", "--may-create", "group_id=50,type=all"]), "mod-group --may-create");
    ok(podflow(&sb, &["del-groups", "br0", "group_id=2"]), "del-groups one");
    let left = ok(ofctl(&sb, &["dump-groups", "br0"]), "");
    assert!(!left.contains("group_id=2,") && left.contains("group_id=50,"), "{left}");
}

#[test]
fn meters_like_ovs_ofctl() {
    let Some(sb) = common::sandbox_with_bridge("ofmeters", "br0") else { return };
    let meters = [
        "meter=1,kbps,band=type=drop,rate=1000",
        "meter=2,pktps,burst,stats,bands=type=drop,rate=10,burst_size=20",
        "meter=3 kbps stats bands=type=drop rate=200",
    ];
    for m in meters {
        ok(ofctl(&sb, &["add-meter", "br0", m]), m);
    }
    let want = ok(ofctl(&sb, &["dump-meters", "br0"]), "dump-meters");
    assert!(want.contains("\n\nmeter=2"), "{want}");
    ok(ofctl(&sb, &["del-meters", "br0"]), "del-meters");
    for m in meters {
        ok(podflow(&sb, &["add-meter", "br0", m]), m);
    }
    assert_eq!(ok(podflow(&sb, &["dump-meters", "br0"]), "podflow dump-meters"), want);
    assert_eq!(ok(ofctl(&sb, &["dump-meters", "br0"]), ""), want);
    assert_eq!(ok(podflow(&sb, &["dump-meters", "br0", "meter=2"]), ""), ok(ofctl(&sb, &["dump-meters", "br0", "meter=2"]), ""));
    ok(podflow(&sb, &["mod-meter", "br0", "meter=1,pktps,band=type=drop,rate=5"]), "mod-meter");
    assert!(ok(ofctl(&sb, &["dump-meters", "br0", "meter=1"]), "").contains("meter=1 pktps bands=\ntype=drop rate=5\n"));
    ok(podflow(&sb, &["del-meter", "br0", "meter=3"]), "del-meter");
    // An unknown meter: ovs-ofctl prints the error on stderr and exits 0; so does podflow.
    let (a, b) = (podflow(&sb, &["dump-meters", "br0", "meter=3"]), ofctl(&sb, &["dump-meters", "br0", "meter=3"]));
    assert_eq!((a.code, a.out.as_str()), (b.code, b.out.as_str()));
    assert!(a.out.contains("OFPMMFC_UNKNOWN_METER"), "{}", a.out);
    // Refusals: an existing meter (switch), a band without rate (parser).
    for m in ["meter=1,kbps,band=type=drop,rate=1", "meter=9,kbps,band=type=drop"] {
        let (a, b) = (podflow(&sb, &["add-meter", "br0", m]), ofctl(&sb, &["add-meter", "br0", m]));
        assert_eq!((a.code, b.code), (1, 1), "{m}: {}", a.err);
    }
    ok(podflow(&sb, &["del-meter", "br0"]), "del-meter all");
    assert_eq!(ok(ofctl(&sb, &["dump-meters", "br0"]), ""), "OFPST_METER_CONFIG reply (OF1.5) (xid=0x2):\n");
}

/// `add-tlv-map`, `del-tlv-map`, `dump-tlv-map`: each step done by one
/// tool and checked by both dumps; refusals (switch and text) by both.
#[test]
fn tlv_maps_like_ovs_ofctl() {
    let Some(sb) = common::sandbox_with_bridge("oftlv", "br0") else { return };
    let dumps = |what: &str| {
        let (a, b) = (ok(podflow(&sb, &["dump-tlv-map", "br0"]), what), ok(ofctl(&sb, &["dump-tlv-map", "br0"]), what));
        assert_eq!(a, b, "{what}");
        a
    };
    assert!(dumps("empty").contains("allocated option space=0\n"));
    let maps = "{class=0xffff,type=0,len=4}->tun_metadata0,{class=0x0102,type=0x80,len=124}->tun_metadata63,{class=010,type=300,len=+8}->tun_metadata 5";
    ok(podflow(&sb, &["add-tlv-map", "br0", maps]), "podflow add-tlv-map");
    let all = dumps("three mappings");
    assert!(all.contains("allocated option space=136\n") && all.contains("\n    0x8  0x2c       8  tun_metadata5\n"), "{all}");
    // A flow can now use the fields, through either tool.
    ok(podflow_in(&sb, &["add-flows", "br0", "-"], "tun_metadata5=0x1/0xff,actions=drop\ntun_metadata63=0x1,actions=drop\n"), "flows on mapped fields");
    // A mapping in use stays (NXTTMFC_INVALID_TLV_DEL), for both tools.
    let in_use = ["del-tlv-map", "br0", "{class=0x0102,type=0x80,len=124}->tun_metadata63"];
    let (a, b) = (podflow(&sb, &in_use), ofctl(&sb, &in_use));
    assert_eq!((a.code, b.code), (1, 1), "{} / {}", a.err, b.err);
    assert!(a.err.contains("NXTTMFC_INVALID_TLV_DEL"), "{}", a.err);
    ok(ofctl(&sb, &["del-flows", "br0"]), "del-flows");
    for (args, what) in [
        (vec!["add-tlv-map", "br0", "{class=0xffff,type=0,len=4}->tun_metadata0"], "already mapped"),
        (vec!["add-tlv-map", "br0", "{class=0xffff,type=1,len=3}->tun_metadata1"], "bad length"),
        (vec!["add-tlv-map", "br0", "{class=0xffff,type=1,len=4}->tun_metadata64"], "bad index"),
        (vec!["add-tlv-map", "br0", "{class=1, type=0,len=4}->tun_metadata7"], "text"),
        (vec!["add-tlv-map", "br0", "{class=1,type=5,len=4}->tun_metadata12,"], "trailing comma"),
    ] {
        let (a, b) = (podflow(&sb, &args), ofctl(&sb, &args));
        assert_eq!((a.code, b.code), (1, 1), "{what}: {} / {}", a.err, b.err);
    }
    assert_eq!(dumps("after the refusals"), all);
    ok(ofctl(&sb, &["del-tlv-map", "br0"]), "ovs-ofctl del-tlv-map");
    ok(podflow(&sb, &["add-tlv-map", "br0", maps]), "podflow add-tlv-map again");
    ok(podflow(&sb, &["del-tlv-map", "br0", "{class=0x0102,type=0x80,len=124}->tun_metadata63"]), "podflow del-tlv-map one");
    let left = dumps("one deleted");
    assert!(!left.contains("tun_metadata63") && left.contains("tun_metadata0\n"), "{left}");
    ok(podflow(&sb, &["del-tlv-map", "br0"]), "podflow del-tlv-map all");
    assert!(dumps("cleared").contains("allocated option space=0\n"));
}

#[test]
fn tables_and_aggregate_like_ovs_ofctl() {
    let Some(sb) = with_ports("oftables") else { return };
    let file = "table=0,priority=1,actions=NORMAL\ntable=0,in_port=1,actions=drop\ntable=3,ip,actions=drop\ntable=7,arp,actions=drop\n";
    ok(ofctl_in(&sb, &["add-flows", "br0", "-"], file), "add-flows");
    let a = ok(podflow(&sb, &["dump-tables", "br0"]), "podflow dump-tables");
    assert_eq!(a, ok(ofctl(&sb, &["dump-tables", "br0"]), "ovs-ofctl dump-tables"));
    assert!(a.contains("  table 3:\n    active=1") && a.contains("ditto"), "{a}");
    for args in [vec!["dump-aggregate", "br0"], vec!["dump-aggregate", "br0", "table=0"], vec!["dump-aggregate", "br0", "in_port=p1"]] {
        assert_eq!(ok(podflow(&sb, &args), "podflow"), ok(ofctl(&sb, &args), "ovs-ofctl"), "{args:?}");
    }
}

/// A process this test started, killed (by its PID) when dropped.
struct Monitor {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Monitor {
    fn start(sb: &Sandbox, tool: &str, tag: &str, args: &[&str]) -> Monitor {
        let (out, err) = (sb.path(&format!("{tag}.out")), sb.path(&format!("{tag}.err")));
        let mut c = if tool == "podflow" { Command::new(env!("CARGO_BIN_EXE_podflow")) } else { Command::new("ovs-ofctl") };
        if tool != "podflow" {
            c.args(["-O", "OpenFlow15"]);
        }
        let child = c
            .args(args)
            .env("OVS_RUNDIR", &sb.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Monitor { child, out, err }
    }

    fn texts(&self) -> (String, String) {
        (std::fs::read_to_string(&self.out).unwrap_or_default(), std::fs::read_to_string(&self.err).unwrap_or_default())
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until `cond` holds for both monitors.
fn wait_both(ms: &[&Monitor], what: &str, cond: impl Fn(&(String, String)) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ms.iter().all(|m| cond(&m.texts())) {
        assert!(Instant::now() < deadline, "{what}: {:?}", ms.iter().map(|m| m.texts()).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn monitor_prints_what_ovs_ofctl_prints() {
    let Some(sb) = with_ports("ofmon") else { return };
    ok(ofctl_in(&sb, &["add-flows", "br0", "-"], "table=0,in_port=1,actions=output:2\ntable=3,ip,actions=drop\n"), "add-flows");
    let theirs = Monitor::start(&sb, "ovs-ofctl", "theirs", &["monitor", "br0", "watch:"]);
    let ours = Monitor::start(&sb, "podflow", "ours", &["monitor", "br0", "watch:"]);
    wait_both(&[&theirs, &ours], "initial flows", |(o, _)| o.matches("event=INITIAL").count() == 2);
    ok(ofctl(&sb, &["add-flow", "br0", "table=4,priority=7,cookie=0x9,idle_timeout=50,ip,nw_dst=198.18.0.1,actions=output:p2"]), "add");
    wait_both(&[&theirs, &ours], "ADDED", |(_, e)| e.contains("event=ADDED"));
    ok(ofctl(&sb, &["mod-flows", "br0", "table=4,ip,actions=drop"]), "mod");
    wait_both(&[&theirs, &ours], "MODIFIED", |(_, e)| e.contains("event=MODIFIED"));
    ok(ofctl(&sb, &["del-flows", "br0", "table=4"]), "del");
    wait_both(&[&theirs, &ours], "DELETED", |(_, e)| e.contains("event=DELETED"));
    let (a, b) = (ours.texts(), theirs.texts());
    assert_eq!(a.0, b.0, "initial reply (stdout)");
    assert_eq!(a.1, b.1, "updates (stderr)");
    assert!(a.1.contains("event=ADDED table=4 idle_timeout=50 cookie=0x9 ip,nw_dst=198.18.0.1 actions=output:2"), "{}", a.1);

    // A filtered monitor: only table 3, no initial flows.
    let filtered = Monitor::start(&sb, "podflow", "filtered", &["monitor", "br0", "watch:!initial,table=3"]);
    wait_both(&[&filtered], "empty initial reply", |(o, _)| o.contains("OFPST_FLOW_MONITOR reply"));
    ok(ofctl(&sb, &["add-flow", "br0", "table=2,actions=drop"]), "add to table 2");
    ok(ofctl(&sb, &["add-flow", "br0", "table=3,arp,actions=drop"]), "add to table 3");
    wait_both(&[&filtered], "table 3 only", |(_, e)| e.contains("event=ADDED table=3"));
    let (o, e) = filtered.texts();
    assert!(!o.contains("event=") && !e.contains("table=2"), "{o}{e}");
    // A bad watch spec: usage error, exit 1.
    assert_eq!(podflow(&sb, &["monitor", "br0", "watch:bogus=1"]).code, 1);
}
