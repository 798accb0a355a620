//! Every checked-in fuzz corpus file (the seeds, and the findings kept as
//! seeds once fixed) through the same property its fuzz target checks
//! (`podflow_proto::oracle`): a regression test that needs no cargo-fuzz.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(p) = std::panic::catch_unwind(|| check(&data)) {
            let why = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default();
            panic!("{}: {why}", path.display());
        }
        n += 1;
    }
    assert!(n > 0, "{} holds no corpus file", dir.display());
    eprintln!("{target}: {n} corpus files pass");
}

#[test]
fn openflow_message_corpus() {
    replay("openflow_message", podflow_proto::oracle::openflow_message);
}

#[test]
fn flow_text_corpus() {
    replay("flow_text", podflow_proto::oracle::flow_text);
}

#[test]
fn ovsdb_framer_corpus() {
    replay("ovsdb_framer", podflow_proto::oracle::ovsdb_framer);
}

#[test]
fn group_meter_text_corpus() {
    replay("group_meter_text", podflow_proto::oracle::group_meter_text);
}
