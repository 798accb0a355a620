//! Fuzzes the OVSDB stream path: framer (split at fuzzer-chosen points),
//! JSON-RPC parsing, datum and monitor-update parsing. Properties: nothing
//! panics; framing does not depend on how reads are split; every datum that
//! parses re-encodes to JSON that parses to the same datum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use podflow_proto::ovsdb::monitor::{parse_notification, TableUpdates};
use podflow_proto::ovsdb::{Datum, Framer, Message};

fn frames(data: &[u8], step: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let mut f = Framer::new(4096);
    let mut out = vec![];
    for chunk in data.chunks(step.max(1)) {
        f.push(chunk);
        loop {
            match f.next_frame() {
                Ok(Some(m)) => out.push(m),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else { return };
    let whole = frames(rest, rest.len().max(1));
    let split = frames(rest, step as usize % 17 + 1);
    assert_eq!(whole, split);
    for frame in &whole.0 {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(frame) else { continue };
        if let Ok(d) = Datum::from_json(&v) {
            assert_eq!(Datum::from_json(&d.to_json()).as_ref(), Ok(&d));
        }
        let _ = TableUpdates::parse_v1(&v);
        let _ = TableUpdates::parse_v2(&v);
        if let Ok(Message::Notification { method, params }) = Message::from_json(v) {
            let _ = parse_notification(&method, &params);
        }
    }
});
