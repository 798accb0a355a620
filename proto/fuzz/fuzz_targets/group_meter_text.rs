//! Group, meter and flow monitor text parsers: never panic; what parses
//! encodes and decodes to the same message; a group prints to text that
//! parses to the same group again.
//! The property lives in `podflow_proto::oracle::group_meter_text`, which
//! `tests/fuzz_corpus.rs` also runs over the checked-in corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| podflow_proto::oracle::group_meter_text(data));
