//! The sandbox itself: starts a private OVS, serves a bridge, cleans up.
mod common;

#[test]
fn sandbox_starts_serves_a_bridge_and_cleans_up() {
    let Some(sb) = common::sandbox_with_bridge("sbself", "br0") else { return };
    let out = sb.ofctl("dump-flows", "br0", &[]).unwrap();
    assert!(out.starts_with("OFPST_FLOW reply (OF1.5)"), "{out}");
    let (ns, dir) = (sb.netns.clone(), sb.dir.clone());
    let pid = sb.vswitchd_pid().expect("vswitchd pid");
    drop(sb);
    assert!(!dir.exists(), "run directory left behind");
    let list = std::process::Command::new("ip").args(["netns", "list"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains(&ns), "namespace left behind");
    assert!(!std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists()
        || std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z"), "vswitchd still running");
}
