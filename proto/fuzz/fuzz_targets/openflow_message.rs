//! OpenFlow decoder: never panics; whatever decodes re-encodes to bytes
//! that decode to the same message.
//! The property lives in `podflow_proto::oracle::openflow_message`, which
//! `tests/fuzz_corpus.rs` also runs over the checked-in corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| podflow_proto::oracle::openflow_message(data));
