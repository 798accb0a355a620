//! Open vSwitch's own test suite as the corpus for podflow's flow text.
//!
//! At test time the flow lines are extracted from the `tests/*.at` files of
//! Debian's `openvswitch-source` tarball (the same 3.1 release as the
//! installed `ovs-ofctl`; nothing of it is committed). Every line goes
//! through `ovs-ofctl -O OpenFlow15` and through the `podflow` binary on
//! one sandboxed bridge that has the ports, groups and meters the lines
//! name:
//! * **install**: a line `ovs-ofctl add-flows` accepts must be installed by
//!   `podflow add-flows` as the same flow (the same sorted
//!   `ovs-ofctl --no-stats dump-flows` text);
//! * **refuse**: a line `ovs-ofctl` refuses, `podflow add-flows` refuses;
//! * **dump**: after `ovs-ofctl` installed a line, `podflow dump-flows
//!   --no-stats` prints what `ovs-ofctl --no-stats dump-flows` prints.
//!
//! Each agreement is a ratchet ([`FLOOR`]): the test fails when it falls
//! below what has been reached, so raise the floor when work raises the
//! agreement. [`EXCEPTIONS`] lists the lines left out, each with its reason.
//! `PODFLOW_CORPUS_REPORT=FILE` writes every disagreement to FILE.
mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use podflow::sandbox::Sandbox;

const TARBALL: &str = "/usr/src/openvswitch/openvswitch.tar.gz";

/// The `.at` files of Open vSwitch's test suite that the corpus comes from.
const SOURCES: &[&str] = &[
    "ovs-ofctl.at",
    "ofproto-dpif.at",
    "system-traffic.at",
    "ofp-actions.at",
    "nsh.at",
    "mpls-xlate.at",
    "tunnel.at",
    "tunnel-push-pop.at",
    "tunnel-push-pop-ipv6.at",
];

/// Agreement required, in per mille: (install, refuse, dump). Every line
/// of the corpus but the [`EXCEPTIONS`] agrees (2026-11-30).
const FLOOR: (u32, u32, u32) = (1000, 1000, 1000);

/// Lines left out of the comparison, with the reason.
const EXCEPTIONS: &[(&str, &str)] = &[(
    "nw_src=1.2.3.4,actions=5",
    "podflow refuses a field whose prerequisites are missing; ovs-ofctl installs the flow without the field",
)];

/// One extracted line and where it came from.
struct Line {
    origin: String,
    text: String,
}

/// Undoes m4 quoting: `[[`/`]]` and the quadrigraphs.
fn unquote(s: &str) -> String {
    s.replace("[[", "[").replace("]]", "]").replace("@<:@", "[").replace("@:>@", "]").replace("@&t@", "")
}

/// The argument after `add-flow BRIDGE ` on a shell line, unquoted, if any.
fn add_flow_arg(line: &str) -> Option<String> {
    let i = line.find("add-flow ")?;
    let rest = line[i + "add-flow ".len()..].trim_start();
    let rest = rest.trim_start_matches(|c: char| !c.is_whitespace()).trim_start();
    let (arg, _) = match rest.chars().next()? {
        q @ ('\'' | '"') => rest[1..].split_once(q)?,
        _ => rest.split_once(|c: char| c.is_whitespace() || c == ']' || c == ')').unwrap_or((rest, "")),
    };
    Some(arg.to_string())
}

/// True for a line that is a shell template or m4 rather than flow text.
fn is_template(s: &str) -> bool {
    s.is_empty() || s.contains('$') || s.contains('`') || s.contains("m4_") || s.starts_with('-')
}

/// The flow lines of one `.at` file: `add-flow` arguments, the lines of
/// `AT_DATA` files named like flow files, and ofp-actions.at's
/// `# actions=…` lines.
fn extract_file(name: &str, text: &str, out: &mut Vec<Line>) {
    let mut data: Option<bool> = None; // inside AT_DATA: whether its lines are flows
    for (n, raw) in text.lines().enumerate() {
        let origin = format!("{name}:{}", n + 1);
        let mut push = |t: String| {
            let t = unquote(t.trim());
            if !is_template(&t) {
                out.push(Line { origin: origin.clone(), text: t });
            }
        };
        if let Some(flows) = data {
            if raw.starts_with(']') {
                data = None;
            } else if let Some(a) = raw.strip_prefix("# actions=") {
                push(format!("actions={a}"));
            } else if flows && !raw.starts_with('#') && !raw.starts_with("dnl") && !raw.ends_with(" dnl") {
                push(raw.to_string());
            }
            continue;
        }
        if let Some(rest) = raw.strip_prefix("AT_DATA([") {
            let file = rest.split(']').next().unwrap_or("");
            let flows = (file.contains("flow") || file.starts_with("br-")) && !file.contains("bundle");
            let body = rest.split_once("], [").map_or("", |(_, b)| b);
            if body.ends_with("])") {
                continue; // one-line data: never flows in these files
            }
            data = Some(flows || file == "test-data");
            if flows && !body.starts_with("dnl") && !body.is_empty() {
                push(body.to_string());
            }
            continue;
        }
        if raw.trim_start().starts_with("dnl") {
            continue;
        }
        if let Some(a) = add_flow_arg(raw) {
            push(a);
        }
    }
}

/// Extracts the corpus from the tarball into memory (deduplicated, in
/// first-seen order). The files are unpacked into `dir`.
fn extract(dir: &Path) -> Vec<Line> {
    let mut cmd = Command::new("tar");
    cmd.arg("-xzf").arg(TARBALL).arg("-C").arg(dir).arg("--strip-components=2");
    for f in SOURCES {
        cmd.arg(format!("openvswitch/tests/{f}"));
    }
    let st = cmd.status().expect("tar runs");
    assert!(st.success(), "tar could not unpack {SOURCES:?} from {TARBALL}");
    let mut lines = vec![];
    for f in SOURCES {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        extract_file(f, &text, &mut lines);
    }
    let mut seen = BTreeSet::new();
    lines.retain(|l| seen.insert(l.text.clone()));
    lines
}

struct Run {
    ok: bool,
    out: String,
    err: String,
}

fn run(cmd: &mut Command, stdin: &str) -> Run {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // A tool that refuses early may close its stdin; that is an answer too.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let o = child.wait_with_output().unwrap();
    Run { ok: o.status.success(), out: String::from_utf8_lossy(&o.stdout).into(), err: String::from_utf8_lossy(&o.stderr).into() }
}

struct Tools<'a> {
    sb: &'a Sandbox,
    bridge: &'a str,
}

impl Tools<'_> {
    fn ofctl(&self, args: &[&str], stdin: &str) -> Run {
        let mut c = Command::new("ovs-ofctl");
        c.env("OVS_RUNDIR", &self.sb.dir).args(["-O", "OpenFlow15"]).args(args);
        run(&mut c, stdin)
    }

    fn podflow(&self, args: &[&str], stdin: &str) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_podflow"));
        c.env("OVS_RUNDIR", &self.sb.dir).args(args);
        run(&mut c, stdin)
    }

    /// The bridge's flows as sorted `ovs-ofctl --no-stats dump-flows` lines.
    fn flows(&self) -> String {
        let r = self.ofctl(&["--no-stats", "dump-flows", self.bridge], "");
        assert!(r.ok, "dump-flows: {}", r.err);
        sorted(&r.out)
    }

    fn clear(&self) {
        let r = self.ofctl(&["del-flows", self.bridge], "");
        assert!(r.ok, "del-flows: {}", r.err);
    }
}

fn sorted(s: &str) -> String {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort_unstable();
    v.join("\n")
}

/// What happened to one line.
#[derive(Default)]
struct Tally {
    accepted: u32,
    refused: u32,
    install_agree: u32,
    refuse_agree: u32,
    dump_agree: u32,
    report: String,
}

impl Tally {
    fn line(&mut self, t: &Tools, line: &Line) {
        let file = format!("{}\n", line.text);
        let br = t.bridge;
        let ovs = t.ofctl(&["add-flows", br, "-"], &file);
        if !ovs.ok {
            self.refused += 1;
            let pf = t.podflow(&["add-flows", br, "-"], &file);
            if pf.ok {
                let _ = writeln!(self.report, "ACCEPTS {} | {}\n  ovs: {}", line.origin, line.text, ovs.err.trim());
                t.clear();
            } else {
                self.refuse_agree += 1;
            }
            return;
        }
        self.accepted += 1;
        let want = t.flows();
        let dump = t.podflow(&["dump-flows", "--no-stats", br], "");
        if dump.ok && sorted(&dump.out) == want {
            self.dump_agree += 1;
        } else {
            let _ = writeln!(self.report, "DUMP {} | {}\n  ovs:     {}\n  podflow: {}{}", line.origin, line.text, want, sorted(&dump.out), dump.err.trim());
        }
        t.clear();
        let pf = t.podflow(&["add-flows", br, "-"], &file);
        let got = if pf.ok { t.flows() } else { String::new() };
        if pf.ok && got == want {
            self.install_agree += 1;
        } else if pf.ok {
            let _ = writeln!(self.report, "INSTALL {} | {}\n  ovs:     {}\n  podflow: {}", line.origin, line.text, want, got);
        } else {
            let _ = writeln!(self.report, "REFUSES {} | {}\n  podflow: {}", line.origin, line.text, pf.err.trim());
        }
        if pf.ok {
            t.clear();
        }
    }
}

fn permille(n: u32, of: u32) -> u32 {
    if of == 0 {
        1000
    } else {
        (u64::from(n) * 1000 / u64::from(of)) as u32
    }
}

/// Ports p1..p10 (ofports 1..10), and the groups and meters the lines name.
fn furnish(sb: &Sandbox, t: &Tools, lines: &[Line]) {
    for i in 1..=10 {
        let p = format!("p{i}");
        sb.vsctl(&["add-port", t.bridge, &p, "--", "set", "interface", &p, "type=internal", &format!("ofport_request={i}")])
            .unwrap_or_else(|e| panic!("add port {p}: {e}"));
    }
    let ids = |key: &str| -> BTreeSet<u32> {
        lines
            .iter()
            .flat_map(|l| l.text.match_indices(key).map(|(i, _)| &l.text[i + key.len()..]))
            .filter_map(|r| r.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .collect()
    };
    for g in ids("group:") {
        let r = t.ofctl(&["add-group", t.bridge, &format!("group_id={g},type=all")], "");
        assert!(r.ok, "add-group {g}: {}", r.err);
    }
    for m in ids("meter:") {
        let r = t.ofctl(&["add-meter", t.bridge, &format!("meter={m},pktps,band=type=drop,rate=1")], "");
        if !r.ok {
            eprintln!("meter {m} not created: {}", r.err.trim());
        }
    }
}

#[test]
fn ovs_test_suite_flows_agree_with_ovs_ofctl() {
    if !Path::new(TARBALL).exists() {
        assert!(!common::in_ci(), "CI must run the corpus test, but {TARBALL} is missing (apt-get install openvswitch-source)");
        eprintln!("SKIPPED: {TARBALL} is missing (apt-get install openvswitch-source)");
        return;
    }
    let Some(sb) = common::sandbox_with_bridge("corpus", "br0") else { return };
    let dir = sb.path("ovs-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let mut lines = extract(&dir);
    lines.retain(|l| !EXCEPTIONS.iter().any(|(t, _)| *t == l.text));
    let t = Tools { sb: &sb, bridge: "br0" };
    furnish(&sb, &t, &lines);
    let mut tally = Tally::default();
    for l in &lines {
        tally.line(&t, l);
    }
    let install = permille(tally.install_agree, tally.accepted);
    let refuse = permille(tally.refuse_agree, tally.refused);
    let dump = permille(tally.dump_agree, tally.accepted);
    eprintln!(
        "corpus: {} lines ({} accepted by ovs-ofctl, {} refused, {} left out as exceptions)\n\
         install agreement {}/{} ({:.1} %), refuse agreement {}/{} ({:.1} %), dump agreement {}/{} ({:.1} %)",
        lines.len(),
        tally.accepted,
        tally.refused,
        EXCEPTIONS.len(),
        tally.install_agree,
        tally.accepted,
        f64::from(install) / 10.0,
        tally.refuse_agree,
        tally.refused,
        f64::from(refuse) / 10.0,
        tally.dump_agree,
        tally.accepted,
        f64::from(dump) / 10.0,
    );
    if let Some(path) = std::env::var_os("PODFLOW_CORPUS_REPORT") {
        std::fs::write(path, &tally.report).unwrap();
    }
    assert!(tally.accepted > 500, "the extraction found too few lines OVS accepts: {}", tally.accepted);
    assert!(
        install >= FLOOR.0 && refuse >= FLOOR.1 && dump >= FLOOR.2,
        "agreement fell below the floor {FLOOR:?} (per mille): install {install}, refuse {refuse}, dump {dump}"
    );
}

// ---------------------------------------------------------------------------
// Every field `ovs-fields(7)` names.

const FIELDS_MAN: &str = "/usr/share/man/man7/ovs-fields.7.gz";

/// Lines of the fields corpus left out, with the reason.
const FIELD_EXCEPTIONS: &[(&str, &str)] = &[
    ("ct_state=+trk,ct_tp_src=1,actions=drop", CT_TUPLE_WITHOUT_STATE),
    ("ct_state=+trk,ct_tp_src=1/1,actions=drop", CT_TUPLE_WITHOUT_STATE),
    ("ct_state=+trk,ct_tp_dst=1,actions=drop", CT_TUPLE_WITHOUT_STATE),
    ("ct_state=+trk,ct_tp_dst=1/1,actions=drop", CT_TUPLE_WITHOUT_STATE),
];

/// Why the `ct_tp_*` lines are left out.
const CT_TUPLE_WITHOUT_STATE: &str = "the man page's CT prerequisite is met by +trk, but a ct_tp_* match also needs a \
    ct_state implying a valid connection (+est, +new, … or -inv): ovs-ofctl installs the flow without the field, podflow \
    refuses it (as nw_src without ip in the corpus test)";

/// One field's entry in `ovs-fields(7)`: its names and the table rows
/// that say how to write it.
#[derive(Default, Debug)]
struct ManField {
    names: Vec<String>,
    width: String,
    format: String,
    masking: String,
    prereq: String,
    access: String,
}

/// The field entries of the man page's roff source (`Name:;\fBx\fR (aka
/// \fBy\fR)`, `Width:;…` rows of one table).
fn man_fields(roff: &str) -> Vec<ManField> {
    let mut out: Vec<ManField> = vec![];
    for line in roff.lines() {
        let Some((key, value)) = line.split_once(":;") else {
            continue;
        };
        let value = value.replace("\\fB", "").replace("\\fR", "").replace("\\-", "-");
        match key {
            "Name" => {
                let names = value.replace("(aka", " ").replace([')', ','], " ").replace(" and ", " ");
                out.push(ManField {
                    names: names.split_whitespace().map(str::to_string).collect(),
                    ..Default::default()
                });
            }
            _ => {
                let Some(f) = out.last_mut() else { continue };
                match key {
                    "Width" => f.width = value,
                    "Format" => f.format = value,
                    "Masking" => f.masking = value,
                    "Prerequisites" => f.prereq = value,
                    "Access" => f.access = value,
                    _ => {}
                }
            }
        }
    }
    out
}

/// Flow text that satisfies a man page prerequisite.
fn prereq_text(p: &str) -> &'static str {
    match p {
        "IPv4" | "IPv4/IPv6" => "ip,",
        "IPv6" => "ipv6,",
        "TCP" => "tcp,",
        "UDP" => "udp,",
        "SCTP" => "sctp,",
        "ICMPv4" => "icmp,",
        "ICMPv6" => "icmp6,",
        "ND" | "ND solicit" => "icmp6,icmp_type=135,",
        "ND advert" => "icmp6,icmp_type=136,",
        "ARP" => "arp,",
        "MPLS" => "mpls,",
        "VLAN VID" => "vlan_tci=0x1000/0x1000,",
        "CT" => "ct_state=+trk,",
        "NSH" => "dl_type=0x894f,",
        _ => "",
    }
}

/// A value (and a masked one, where the field can be masked) in the
/// field's format.
fn sample_values(f: &ManField) -> (&'static str, Option<&'static str>) {
    let masked = f.masking != "not maskable";
    match f.format.as_str() {
        "IPv4" => ("192.0.2.1", masked.then_some("192.0.2.0/24")),
        "IPv6" => ("2001:db8::1", masked.then_some("2001:db8::/32")),
        "Ethernet" => ("02:00:00:00:00:01", masked.then_some("02:00:00:00:00:00/ff:ff:00:00:00:00")),
        "tunnel flags" => ("+oam", masked.then_some("-oam")),
        "ct state" => ("+trk", masked.then_some("-new+trk")),
        "TCP flags" => ("+syn", masked.then_some("+syn-ack")),
        "frag" => ("first", masked.then_some("not_later")),
        "packet type" => ("(1,0x800)", None),
        _ => ("1", masked.then_some("1/1")),
    }
}

/// Flow lines for every name of every field of `ovs-fields(7)`: a match,
/// a masked match, `set_field`, `load` and `move` where the field allows
/// them, each with its prerequisites.
fn field_lines(fields: &[ManField]) -> Vec<Line> {
    let mut out = vec![];
    for f in fields {
        let pre = prereq_text(&f.prereq);
        let (v, masked) = sample_values(f);
        for name in &f.names {
            let origin = format!("ovs-fields(7) {name}");
            let mut push = |t: String| out.push(Line { origin: origin.clone(), text: t });
            push(format!("{pre}{name}={v},actions=drop"));
            if let Some(m) = masked {
                push(format!("{pre}{name}={m},actions=drop"));
            }
            push(format!("{pre}actions=move:{name}[0..0]->reg0[0..0]"));
            if f.access == "read/write" {
                let sv = v.trim_start_matches('+');
                push(format!("{pre}actions=set_field:{sv}->{name}"));
                push(format!("{pre}actions=load:1->{name}[0..0]"));
                push(format!("{pre}actions=move:reg0[0..0]->{name}[0..0]"));
            }
        }
    }
    for t in VARIABLE_LENGTH_LINES {
        out.push(Line { origin: "tun_metadata shapes".into(), text: (*t).into() });
    }
    let mut seen = BTreeSet::new();
    out.retain(|l| seen.insert(l.text.clone()));
    out
}

/// The shapes of a variable-length field the generated lines miss: values
/// shorter and longer than the switch's mapping (tun_metadata0, 4 bytes),
/// masks covering part of a value, bit ranges past 128, an unmapped field.
const VARIABLE_LENGTH_LINES: &[&str] = &[
    "tun_metadata0=0x12/0xff,actions=drop",
    "tun_metadata0=0x1234/0xff,actions=drop",
    "tun_metadata0=0x12/0x0ff0,actions=drop",
    "tun_metadata0=0,actions=drop",
    "tun_metadata0=0x100000000,actions=drop",
    "tun_metadata0=0xffffffff,actions=drop",
    "tun_metadata0[0..7]=5,actions=drop",
    "tun_metadata0[8..15]=5,tun_metadata0[0..3]=1,actions=drop",
    "tun_metadata1=1,actions=drop",
    "actions=set_field:0x12/0xff->tun_metadata0",
    "actions=set_field:0x1234/0xff->tun_metadata0",
    "actions=set_field:0xabcdef01->tun_metadata0",
    "actions=load:0x1->tun_metadata0[32..39]",
    "actions=load:0x1->tun_metadata0[0..31]",
    "actions=load:0->tun_metadata0[]",
    "actions=load:1->tun_metadata0[500]",
    "actions=move:tun_metadata0[0..31]->reg0[]",
    "actions=move:reg1[0..15]->tun_metadata0[16..31]",
    "actions=push:tun_metadata0[0..31]",
    "actions=delete_field:tun_metadata0",
    "actions=delete_field:tun_metadata1",
    "actions=delete_field:reg0",
    "tun_flags=+oam,tun_metadata0=0x5,actions=set_field:0->tun_flags,delete_field:tun_metadata0",
];

#[test]
fn every_field_ovs_fields_7_names_agrees_with_ovs_ofctl() {
    if !Path::new(FIELDS_MAN).exists() {
        assert!(!common::in_ci(), "CI must run the fields corpus, but {FIELDS_MAN} is missing (openvswitch-common)");
        eprintln!("SKIPPED: {FIELDS_MAN} is missing (apt-get install openvswitch-common)");
        return;
    }
    let Some(sb) = common::sandbox_with_bridge("fields", "br0") else {
        return;
    };
    let roff = Command::new("zcat").arg(FIELDS_MAN).output().expect("zcat runs");
    let fields = man_fields(&String::from_utf8_lossy(&roff.stdout));
    assert!(fields.len() > 80, "the man page gave too few fields: {}", fields.len());
    let mut lines = field_lines(&fields);
    lines.retain(|l| !FIELD_EXCEPTIONS.iter().any(|(t, _)| *t == l.text));
    let t = Tools { sb: &sb, bridge: "br0" };
    furnish(&sb, &t, &lines);
    // tun_metadata fields exist on a switch only once mapped to a TLV.
    let r = t.ofctl(&["add-tlv-map", "br0", "{class=0xffff,type=0,len=4}->tun_metadata0"], "");
    assert!(r.ok, "add-tlv-map: {}", r.err);
    let mut tally = Tally::default();
    for l in &lines {
        tally.line(&t, l);
    }
    eprintln!(
        "fields corpus: {} fields, {} lines ({} accepted by ovs-ofctl, {} refused); agreement: install {}, refuse {}, dump {}",
        fields.len(),
        lines.len(),
        tally.accepted,
        tally.refused,
        tally.install_agree,
        tally.refuse_agree,
        tally.dump_agree
    );
    if let Some(path) = std::env::var_os("PODFLOW_FIELDS_REPORT") {
        std::fs::write(path, &tally.report).unwrap();
    }
    assert!(tally.accepted > 200, "too few field lines accepted by ovs-ofctl: {}", tally.accepted);
    assert!(tally.report.is_empty(), "podflow and ovs-ofctl disagree on ovs-fields(7) lines:\n{}", tally.report);
}
