//! What the agent benchmarks share: finding the built binaries and starting
//! the real `podflow agent` inside a sandbox's namespace. Included by each
//! example with `#[path]` (an example is a crate of its own).

use podflow::sandbox::Sandbox;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const BRIDGE: &str = "br-int";

/// A binary built next to the running example
/// (target/release/examples/NAME → target/release/<name>).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join(name)
}

/// Starts `podflow agent` on the sandbox's bridge (netdev) with its state
/// in `state` and its log in `state.log`, plus `extra` arguments. The
/// caller waits for readiness its own way.
pub fn spawn_agent(sb: &Sandbox, state: &Path, cidr: &str, extra: &[&str]) -> Child {
    let log = std::fs::File::create(state.with_extension("log")).unwrap();
    // `BENCH_AGENT_WRAP="heaptrack -o /tmp/h"` (or `perf record -g -o …
    // --`, `valgrind --tool=massif`) runs the agent under a profiler.
    let wrap = std::env::var("BENCH_AGENT_WRAP").unwrap_or_default();
    Command::new("ip")
        .args(["netns", "exec", &sb.netns])
        .args(wrap.split_whitespace())
        .arg(bin("podflow"))
        .args(["agent", "--bridge", BRIDGE, "--datapath-type", "netdev", "--pod-cidr", cidr])
        .args(extra)
        .arg("--ovs-rundir")
        .arg(&sb.dir)
        .arg("--state-dir")
        .arg(state)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}
