//! Shared harness for integration tests.
#![allow(dead_code)]

pub mod cli;
pub mod cluster;
pub mod fake_switch;
pub mod netns;
pub mod raw;
pub mod node;
pub mod restart;
pub mod traffic;

use podflow::sandbox::{unavailable_reason, Sandbox};

/// True when running in CI, where every integration test must really run.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Starts a sandbox, or returns `None` after printing why the test is
/// skipped. In CI a sandbox that cannot start fails the test instead.
pub fn sandbox(tag: &str) -> Option<Sandbox> {
    if let Some(why) = unavailable_reason() {
        if in_ci() {
            panic!("CI must run the integration tests, but: {why}");
        }
        eprintln!("SKIPPED: {why}");
        return None;
    }
    // An interrupted test run (Ctrl-C, a CI timeout) must not leave
    // Open vSwitch running: its daemons are detached and outlive us.
    podflow::sandbox::clean_up_on_signals();
    Some(Sandbox::start(tag).unwrap_or_else(|e| panic!("sandbox failed to start: {e}")))
}

/// Like [`sandbox`], with one `netdev` bridge already added.
pub fn sandbox_with_bridge(tag: &str, bridge: &str) -> Option<Sandbox> {
    let sb = sandbox(tag)?;
    sb.add_bridge(bridge).unwrap_or_else(|e| panic!("add bridge: {e}"));
    Some(sb)
}
