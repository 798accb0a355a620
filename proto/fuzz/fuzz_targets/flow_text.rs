//! Flow text parser: never panics; what parses encodes, decodes to the same
//! flow, and prints to text that parses to the same flow again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use podflow_proto::openflow::text::{parse, print};
use podflow_proto::openflow::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Ok(fm) = parse::flow(s) else { return };
    let bytes = Message::FlowMod(fm.clone()).encode(1).expect("a parsed flow encodes");
    let (_, back) = Message::decode(&bytes).expect("an encoded flow decodes");
    assert_eq!(back, Message::FlowMod(fm.clone()));
    let text = print::flow_mod(&fm);
    let again = parse::flow(&text).unwrap_or_else(|e| panic!("printed flow {text:?} does not parse: {e}"));
    assert_eq!(print::flow_mod(&again), text, "print/parse is not stable");
});
