//! Test support for the OVS oracle tests: a minimal fake switch that lets
//! `ovs-ofctl` connect and records every message it sends.
#![allow(dead_code)]

use podflow_proto::openflow::bundle::BundleControl;
use podflow_proto::openflow::message::types;
use podflow_proto::openflow::multipart::{MultipartReply, MultipartReplyBody, MultipartRequestBody};
use podflow_proto::openflow::switch::{FeaturesReply, Hello, SwitchConfig};
use podflow_proto::openflow::{frame_len, Message};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Whether `ovs-ofctl` can be used; in CI its absence fails the test.
pub fn ofctl_available() -> bool {
    let ok = Command::new("ovs-ofctl").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI must run the OVS oracle tests, but ovs-ofctl is not installed");
        }
        eprintln!("SKIPPED: ovs-ofctl is not installed (apt-get install openvswitch-common)");
    }
    ok
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

static N: AtomicU32 = AtomicU32::new(0);

/// Runs `ovs-ofctl ARGS unix:SOCK [TAIL]` against a fake switch and returns
/// every raw message ovs-ofctl sent (HELLO included), in order.
pub fn capture(args: &[&str], tail: &[&str]) -> Vec<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("podflow-fake-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    std::fs::create_dir_all(&dir).unwrap();
    let sock: PathBuf = dir.join("sw.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    // ovs-ofctl may open more than one connection (one to learn table
    // names, one for the work), so keep accepting until it has exited.
    let server = {
        let (done, seen) = (done.clone(), seen.clone());
        std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !done.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let seen = seen.clone();
                        conns.push(std::thread::spawn(move || serve(s, seen)));
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
            conns.into_iter().for_each(|c| c.join().unwrap());
        })
    };
    let target = format!("unix:{}", sock.display());
    let out = Command::new("ovs-ofctl").args(args).arg(&target).args(tail).output().unwrap();
    done.store(true, Ordering::SeqCst);
    server.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "ovs-ofctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    seen
}

/// Plays the switch side of one connection, recording what it receives.
fn serve(mut s: UnixStream, seen: Arc<Mutex<Vec<Vec<u8>>>>) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let send = |s: &mut UnixStream, m: Message, xid: u32| {
        s.write_all(&m.encode(xid).unwrap()).unwrap();
    };
    send(&mut s, Message::Hello(Hello::of15()), 1);
    loop {
        while let Ok(Some(n)) = frame_len(&buf) {
            let raw: Vec<u8> = buf.drain(..n).collect();
            let xid = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
            match raw[1] {
                types::FEATURES_REQUEST => send(
                    &mut s,
                    Message::FeaturesReply(FeaturesReply { datapath_id: 1, n_tables: 254, ..Default::default() }),
                    xid,
                ),
                types::GET_CONFIG_REQUEST => send(&mut s, Message::GetConfigReply(SwitchConfig { flags: 0, miss_send_len: 128 }), xid),
                types::BARRIER_REQUEST => send(&mut s, Message::BarrierReply, xid),
                types::ECHO_REQUEST => send(&mut s, Message::EchoReply(raw[8..].to_vec()), xid),
                types::BUNDLE_CONTROL => {
                    if let Ok((_, Message::BundleControl(b))) = Message::decode(&raw) {
                        let reply = BundleControl::new(b.bundle_id, b.ctrl_type.reply(), b.flags);
                        send(&mut s, Message::BundleControl(reply), xid);
                    }
                }
                types::MULTIPART_REQUEST => {
                    // Answer any multipart request with an empty reply of its type.
                    if u16::from_be_bytes([raw[8], raw[9]]) == 12 {
                        // Table features (ovs-ofctl asks for table names): one
                        // bare 64-byte entry for table 0.
                        let mut body = vec![0u8; 64];
                        body[1] = 64;
                        body[8..14].copy_from_slice(b"table0");
                        send(&mut s, Message::MultipartReply(MultipartReply { flags: 0, body: MultipartReplyBody::Other { ty: 12, body } }), xid);
                    } else if let Ok((_, Message::MultipartRequest(r))) = Message::decode(&raw) {
                        let body = match r.body {
                            MultipartRequestBody::PortDesc { .. } => MultipartReplyBody::PortDesc(vec![]),
                            MultipartRequestBody::Other { ty, .. } => MultipartReplyBody::Other { ty, body: vec![] },
                            _ => MultipartReplyBody::Other { ty: u16::from_be_bytes([raw[8], raw[9]]), body: vec![] },
                        };
                        send(&mut s, Message::MultipartReply(MultipartReply { flags: 0, body }), xid);
                    }
                }
                _ => {}
            }
            if std::env::var("FAKE_DEBUG").is_ok() { eprintln!("fake switch got type {} len {}", raw[1], raw.len()); }
            seen.lock().unwrap().push(raw);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// `ovs-ofctl -O OpenFlow15 ofp-print HEX` output.
pub fn ofp_print(bytes: &[u8]) -> String {
    let out = Command::new("ovs-ofctl").args(["-O", "OpenFlow15", "ofp-print", &hex(bytes)]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Path of a file in `proto/tests/data`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}
