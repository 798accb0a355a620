//! Fuzzes the OVSDB stream path: framer (split at fuzzer-chosen points),
//! JSON-RPC parsing, datum and monitor-update parsing. Properties: nothing
//! panics; framing does not depend on how reads are split; every datum that
//! parses re-encodes to JSON that parses to the same datum.
//! The property lives in `podflow_proto::oracle::ovsdb_framer`, which
//! `tests/fuzz_corpus.rs` also runs over the checked-in corpus.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| podflow_proto::oracle::ovsdb_framer(data));
