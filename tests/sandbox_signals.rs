//! A test process ended by a signal removes what its sandboxes left: the
//! detached Open vSwitch daemons, the namespaces, the run directory and
//! its children. The test runs itself again as the child to be signalled.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use podflow::sandbox::wait_for;

const CHILD_ENV: &str = "PODFLOW_TEST_SIGNAL_CHILD";
const TEST_NAME: &str = "a_signal_removes_what_the_sandbox_left";

/// What the child reports it made.
struct Made {
    dir: PathBuf,
    netns: Vec<String>,
    daemons: Vec<i32>,
    sleeper: i32,
}

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

fn alive(pid: i32) -> bool {
    !podflow::sandbox::exited(pid)
}

/// A process's command line, its arguments joined by spaces.
fn cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline")).map(|b| String::from_utf8_lossy(&b).replace('\0', " ")).unwrap_or_default()
}

impl Drop for Made {
    /// Removes by hand whatever is still there: the run without the
    /// handler, or a check that failed. Kills only processes whose command
    /// line is the one the child started.
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        let ours = self.daemons.iter().filter(|&&p| cmdline(p).contains(&dir));
        for &p in ours.chain(std::iter::once(&self.sleeper).filter(|&&p| cmdline(p).trim() == "sleep 600")) {
            // SAFETY: a daemon or the sleeper the child started (checked above).
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        for n in &self.netns {
            let _ = Command::new("ip").args(["netns", "delete", n]).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Ends the child if the test fails before it does: SIGTERM first, so
/// that its own cleanup runs.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        // SAFETY: a signal to the child we spawned (not yet waited for).
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = wait_for(|| self.0.try_wait().is_ok_and(|s| s.is_some()), Duration::from_secs(10), "the child");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs this test as a child (with `clean_up_on_signals` unless
/// `cleanup` is false), waits for its report, and sends it SIGTERM;
/// returns what it had made and its exit status.
fn signalled_child(cleanup: bool) -> (Made, std::process::ExitStatus) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, if cleanup { "clean" } else { "raw" })
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = Reap(cmd.spawn().unwrap());
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    // The report may follow the harness's "test NAME ... " on its line.
    let report = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "the child ended before reporting");
        if let Some((_, r)) = line.split_once("made ") {
            break r.trim();
        }
    };
    let f: Vec<&str> = report.split(' ').collect();
    let made = Made {
        dir: PathBuf::from(f[0]),
        netns: f[1].split(',').map(String::from).collect(),
        daemons: f[2].split(',').map(|p| p.parse().unwrap()).collect(),
        sleeper: f[3].parse().unwrap(),
    };
    assert!(made.dir.is_dir() && made.netns.iter().all(|n| netns_exists(n)));
    assert!(made.daemons.iter().chain([&made.sleeper]).all(|&p| alive(p)));
    // SAFETY: a signal to the child we spawned (not yet waited for).
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let mut status = None;
    wait_for(|| { status = child.0.try_wait().unwrap(); status.is_some() }, Duration::from_secs(30), "the child to end").unwrap();
    (made, status.unwrap())
}

fn gone(m: &Made) -> bool {
    !m.dir.exists() && !m.netns.iter().any(|n| netns_exists(n)) && !m.daemons.iter().chain([&m.sleeper]).any(|&p| alive(p))
}

#[test]
fn a_signal_removes_what_the_sandbox_left() {
    use std::os::unix::process::ExitStatusExt;
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child(mode == "clean");
    }
    if let Some(why) = podflow::sandbox::unavailable_reason() {
        assert!(!common::in_ci(), "CI must run the integration tests, but: {why}");
        eprintln!("SKIPPED: {why}");
        return;
    }
    let (made, status) = signalled_child(true);
    assert_eq!(status.signal(), Some(libc::SIGTERM), "the child still ends by the signal: {status:?}");
    wait_for(|| gone(&made), Duration::from_secs(10), "the leftovers to go").unwrap_or_else(|_| {
        panic!("left behind after SIGTERM: dir {} {}, netns {:?}", made.dir.display(), made.dir.exists(), made.netns)
    });

    drop(made);

    // Without the handler the same child leaves everything behind: the
    // check above can fail. `Made`'s drop cleans that up by hand.
    let (made, _) = signalled_child(false);
    std::thread::sleep(Duration::from_millis(200));
    let left = made.dir.exists() && made.netns.iter().all(|n| netns_exists(n)) && made.daemons.iter().all(|&p| alive(p));
    drop(made);
    assert!(left, "without clean_up_on_signals the daemons, namespaces and directory stay (else this test proves nothing)");
}

/// The child: a sandbox with an extra namespace and a child process of
/// its own, reported on stdout; then it waits to be signalled.
fn child(clean: bool) -> ! {
    if clean {
        podflow::sandbox::clean_up_on_signals();
    }
    let mut sb = podflow::sandbox::Sandbox::start("sigtest").expect("sandbox");
    let extra = sb.add_netns("x").expect("extra namespace");
    let pid = |d: &str| std::fs::read_to_string(sb.path(&format!("{d}.pid"))).unwrap().trim().to_string();
    // Never waited for: the signal (or the test, by hand) kills it.
    #[allow(clippy::zombie_processes)]
    let sleeper = Command::new("sleep").arg("600").spawn().expect("sleep");
    println!("made {} {},{} {},{} {}", sb.dir.display(), sb.netns, extra, pid("ovsdb-server"), pid("ovs-vswitchd"), sleeper.id());
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}
