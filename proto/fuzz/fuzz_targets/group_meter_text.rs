//! Group, meter and flow monitor text parsers: never panic; what parses
//! encodes and decodes to the same message; a group prints to text that
//! parses to the same group again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use podflow_proto::openflow::group::{command, GroupDesc};
use podflow_proto::openflow::multipart::{MultipartRequest, MultipartRequestBody};
use podflow_proto::openflow::text::{group, meter, monitor};
use podflow_proto::openflow::Message;

fn round_trip(m: Message) {
    let bytes = m.encode(1).expect("a parsed message encodes");
    let (_, back) = Message::decode(&bytes).expect("an encoded message decodes");
    assert_eq!(back, m);
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(gm) = group::group_mod(s, command::ADD) {
        round_trip(Message::GroupMod(gm.clone()));
        let d = GroupDesc { group_type: gm.group_type, group_id: gm.group_id, buckets: gm.buckets.clone(), properties: gm.properties.clone() };
        let text = group::group_desc(&d);
        let again = group::group_mod(&text, command::ADD).unwrap_or_else(|e| panic!("printed group {text:?} does not parse: {e}"));
        assert_eq!(group::group_desc(&GroupDesc { group_type: again.group_type, group_id: again.group_id, buckets: again.buckets, properties: again.properties }), text);
    }
    if let Ok(mm) = meter::meter_mod(s, meter::MeterText::Mod(0)) {
        round_trip(Message::MeterMod(mm));
    }
    if let Ok(w) = monitor::watch(s, 1) {
        round_trip(Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::FlowMonitor(vec![w]))));
    }
});
