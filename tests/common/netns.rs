//! Throwaway network namespaces for tests that need no Open vSwitch: created
//! with `ip netns add pf-…`, deleted on drop (also when the test fails).
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use podflow::sandbox::{clean_up_on_signals, leftovers, Leftover, Registration};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A network namespace that exists for the guard's lifetime.
#[derive(Debug)]
pub struct TestNetns {
    pub name: String,
    /// Deleted by a signal that ends the test process too.
    _leftover: Registration,
}

/// Why namespace tests cannot run here, if they cannot.
pub fn unavailable_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("`ip` is not installed (apt-get install iproute2)".into());
    }
    None
}

/// True when the test should go on; prints why not otherwise. In CI a
/// machine that cannot run it fails the test instead.
pub fn can_run() -> bool {
    match unavailable_reason() {
        None => true,
        Some(why) if super::in_ci() => panic!("CI must run the integration tests, but: {why}"),
        Some(why) => {
            eprintln!("SKIPPED: {why}");
            false
        }
    }
}

impl TestNetns {
    /// Creates `pf-<tag>-<pid>-<n>` with `lo` up.
    pub fn new(tag: &str) -> TestNetns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let short: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).take(10).collect();
        let name = format!("pf-{short}-{}-{n}", std::process::id());
        clean_up_on_signals();
        let creating = leftovers::creating();
        let _leftover = leftovers::register([Leftover::Netns(name.clone())]);
        ip(&["netns", "add", &name]);
        drop(creating);
        let ns = TestNetns { name, _leftover };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS…`, panicking with its stderr on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs `ip -n NAME ARGS…` and returns whether it succeeded.
    pub fn ip_ok(&self, args: &[&str]) -> bool {
        Command::new("ip").args(["-n", &self.name]).args(args).output().is_ok_and(|o| o.status.success())
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Runs `ip ARGS…`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
