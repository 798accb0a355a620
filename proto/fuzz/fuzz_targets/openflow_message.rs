//! OpenFlow decoder: never panics; whatever decodes re-encodes to bytes
//! that decode to the same message.
#![no_main]
use libfuzzer_sys::fuzz_target;
use podflow_proto::openflow::{frame_len, Message};
use podflow_proto::EncodeError;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n >= 8 && n <= data.len());
    }
    if let Ok((xid, msg)) = Message::decode(data) {
        match msg.encode(xid) {
            Ok(again) => {
                let (x2, m2) = Message::decode(&again).expect("re-encoded message must decode");
                assert_eq!(x2, xid);
                assert_eq!(m2, msg);
            }
            Err(EncodeError::MissingPrerequisite { .. }) => {}
            Err(e) => panic!("decoded message failed to encode: {e}"),
        }
    }
});
