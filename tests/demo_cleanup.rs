//! `podflow demo` (the real binary) removes everything it made: after a
//! successful run, after a failure injected with `PODFLOW_DEMO_FAIL`, and
//! after SIGINT in the middle of the restart. "Everything" is checked from
//! outside: no namespace with its prefix, no process mentioning its run
//! directory (ovsdb-server, ovs-vswitchd, the agent with its metrics port
//! inside the namespace), no run directory.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One demo at a time: each measures 10 ms probes on a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

fn can_run() -> bool {
    if !std::path::Path::new("/usr/lib/cni/host-local").exists() {
        assert!(!common::in_ci(), "CI must run the demo tests, but /usr/lib/cni/host-local is missing");
        eprintln!("SKIPPED: /usr/lib/cni/host-local is missing (apt-get install containernetworking-plugins)");
        return false;
    }
    match podflow::sandbox::unavailable_reason() {
        None => true,
        Some(why) => {
            assert!(!common::in_ci(), "CI must run the demo tests, but: {why}");
            eprintln!("SKIPPED: {why}");
            false
        }
    }
}

fn demo_cmd(svg: &PathBuf) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_podflow"));
    c.arg("demo").arg("--svg").arg(svg).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// (netns, run dir) from the demo's first line.
fn parse_where(out: &str) -> (String, PathBuf) {
    let l = out.lines().find_map(|l| l.strip_prefix("private Open vSwitch: netns ")).unwrap_or_else(|| panic!("no sandbox line in:\n{out}"));
    let (ns, dir) = l.split_once(", run dir ").expect("netns, run dir");
    (ns.to_string(), PathBuf::from(dir))
}

fn assert_clean(netns: &str, dir: &std::path::Path) {
    let list = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let left: Vec<&str> = list.lines().filter(|l| l.starts_with(netns)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(!dir.exists(), "run directory left behind: {}", dir.display());
    let needle = dir.display().to_string();
    let mut procs = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(&needle) && !podflow::sandbox::exited(pid as i32) {
            procs.push(format!("{pid}: {cmd}"));
        }
    }
    assert!(procs.is_empty(), "processes left behind: {procs:#?}");
}

fn svg_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("podflow-demo-test-{tag}-{}.svg", std::process::id()))
}

#[test]
fn a_successful_demo_leaves_nothing_behind() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !can_run() {
        return;
    }
    let svg = svg_path("ok");
    let out = demo_cmd(&svg).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for want in ["switch down", "switch up", "flows acked", "key removed", "probes lost after the key's removal: 0 of", "OK: "] {
        assert!(stdout.contains(want), "{want:?} missing from:\n{stdout}");
    }
    let (ns, dir) = parse_where(&stdout);
    assert_clean(&ns, &dir);
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(plot.starts_with("<svg") && plot.contains("flow-restore-wait removed"), "{plot}");
    let _ = std::fs::remove_file(&svg);
}

#[test]
fn an_injected_failure_leaves_nothing_behind() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !can_run() {
        return;
    }
    for stage in ["after-agent", "after-pods"] {
        let svg = svg_path(stage);
        let out = demo_cmd(&svg).env("PODFLOW_DEMO_FAIL", stage).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(stderr.contains("failure injected") && stderr.lines().count() == 1, "one sentence expected: {stderr}");
        let (ns, dir) = parse_where(&stdout);
        assert_clean(&ns, &dir);
        assert!(!svg.exists());
    }
}

#[test]
fn sigint_during_the_restart_leaves_nothing_behind() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !can_run() {
        return;
    }
    let svg = svg_path("int");
    let mut child = demo_cmd(&svg).spawn().unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    let t0 = Instant::now();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the demo ended early:\n{seen}");
        seen.push_str(&line);
        if line.starts_with("probing ARP") {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no probing line:\n{seen}");
    }
    let (ns, dir) = parse_where(&seen);
    assert!(dir.exists(), "the demo is running");
    // Mid-restart: ovs-vswitchd is being killed and started again.
    std::thread::sleep(Duration::from_millis(400));
    // SAFETY: kill(2) on the PID of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert_eq!(status.code(), Some(130), "{seen}{rest}\n{err}");
    assert!(err.contains("SIGINT"), "{err}");
    assert_clean(&ns, &dir);
}
