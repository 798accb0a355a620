//! `podflow show` and `podflow flow-restore-wait` against a sandbox.
mod common;

use std::process::Command;

fn podflow(sb: &podflow::sandbox::Sandbox, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_podflow"))
        .args(args)
        .env("OVS_RUNDIR", &sb.dir)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn show_and_flow_restore_wait_commands() {
    let Some(sb) = common::sandbox_with_bridge("ovsdbcli", "br0") else { return };
    sb.vsctl(&["add-port", "br0", "p1", "--", "set", "interface", "p1", "type=internal", "ofport_request=5"]).unwrap();
    sb.vsctl(&["add-port", "br0", "nodev"]).unwrap();
    sb.vsctl(&["set", "open_vswitch", ".", "other_config:foreign=1"]).unwrap();
    // vswitchd needs a moment to assign ports; `show` reports what it sees.
    podflow::sandbox::wait_for(
        || sb.vsctl(&["get", "interface", "p1", "ofport"]).is_ok_and(|s| s.trim() == "5"),
        std::time::Duration::from_secs(10),
        "ofport",
    )
    .unwrap();
    let (ok, text, err) = podflow(&sb, &["show"]);
    assert!(ok, "{err}");
    assert!(text.contains("    Bridge br0\n"), "{text}");
    assert!(text.contains("        fail_mode: secure\n"), "{text}");
    assert!(text.contains("            Interface p1\n                type: internal\n                ofport: 5\n"), "{text}");
    assert!(text.contains("error: \"could not open network device nodev"), "{text}");
    let (ok, js, err) = podflow(&sb, &["show", "--json", "--ovsdb", &sb.db_addr()]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["bridges"][0]["name"], "br0");
    assert_eq!(v["other_config"]["foreign"], "1");

    assert_eq!(podflow(&sb, &["flow-restore-wait"]).1.trim(), "false");
    assert_eq!(podflow(&sb, &["flow-restore-wait", "set"]).1.trim(), "true");
    assert_eq!(sb.vsctl(&["get", "open_vswitch", ".", "other_config:flow-restore-wait"]).unwrap().trim(), "\"true\"");
    assert_eq!(podflow(&sb, &["flow-restore-wait", "get", "--json"]).1.trim(), r#"{"flow_restore_wait":true}"#);
    assert_eq!(podflow(&sb, &["flow-restore-wait", "clear"]).1.trim(), "false");
    assert_eq!(sb.vsctl(&["get", "open_vswitch", ".", "other_config:foreign"]).unwrap().trim(), "\"1\"");

    let (ok, _, err) = podflow(&sb, &["show", "--ovsdb", "unix:/nonexistent/db.sock", "--timeout", "1"]);
    assert!(!ok);
    assert!(err.starts_with("podflow: OVSDB is not connected") && err.contains("/nonexistent/db.sock"), "{err}");
    let (ok, _, err) = podflow(&sb, &["show", "--ovsdb", "ssl:1.2.3.4:6640"]);
    assert!(!ok && err.contains("expected unix:PATH or tcp:HOST:PORT"), "{err}");
}

/// A server that answers every connection with an HTTP error: `podflow
/// show` must report that at once, not retry until its timeout (30 s here)
/// and then report something else (issue 12, item 7). No root needed.
#[test]
fn show_reports_a_servers_protocol_error_at_once() {
    let dir = std::env::temp_dir().join(format!("podflow-ovsdbcli-junk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("db.sock");
    let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let out = Command::new(env!("CARGO_BIN_EXE_podflow"))
        .args(["show", "--timeout", "30", "--ovsdb"])
        .arg(format!("unix:{}", sock.display()))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("not JSON-RPC: unexpected byte 0x48 at stream offset 0"), "{err}");
}
