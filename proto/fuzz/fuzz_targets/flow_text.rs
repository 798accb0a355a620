//! Flow text parser: never panics; what parses encodes, decodes to the same
//! flow, and prints to text that parses to the same flow again.
//! The property lives in `podflow_proto::oracle::flow_text`, which
//! `tests/fuzz_corpus.rs` also runs over the checked-in corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| podflow_proto::oracle::flow_text(data));
