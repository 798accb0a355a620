//! The decoder never panics, and whatever it accepts re-encodes to bytes
//! that decode to the same message (decode → encode → decode is stable).
//! Inputs are random bytes and mutations of valid messages of every family.

use podflow_proto::openflow::action::{Action, Ct, CtZone, Nat, NatAddrRange, Subfield};
use podflow_proto::openflow::bundle::{BundleAdd, BundleControl, BundleCtrlType};
use podflow_proto::openflow::flow::{FlowDesc, FlowStatsRequest};
use podflow_proto::openflow::multipart::{MultipartReply, MultipartReplyBody, MultipartRequest, MultipartRequestBody};
use podflow_proto::openflow::oxm::{fields, Match, OxmField};
use podflow_proto::openflow::{frame_len, FlowMod, Instruction, Message, PortNo};
use proptest::prelude::*;

fn seeds() -> Vec<Vec<u8>> {
    let m = Match::new()
        .with(OxmField::new(fields::ETH_TYPE, [0x08, 0x00]))
        .with(OxmField::new(fields::IP_PROTO, [6]))
        .with(OxmField::masked(fields::IPV4_DST, [198, 18, 0, 0], [255, 255, 0, 0]))
        .with(OxmField::new(fields::TCP_DST, [0, 80]))
        .with(OxmField::masked(fields::reg(3), [0, 0, 0, 1], [0, 0, 0, 1]));
    let fm = FlowMod {
        table_id: 3,
        priority: 100,
        r#match: m.clone(),
        instructions: vec![
            Instruction::ApplyActions(vec![
                Action::Ct(Ct {
                    flags: 1,
                    zone: CtZone::Imm(4),
                    table: Some(5),
                    alg: 0,
                    actions: vec![Action::Nat(Nat { flags: 1, addr: Some(NatAddrRange::V4([1, 2, 3, 4].into(), None)), proto_min: None, proto_max: None })],
                }),
                Action::CopyField {
                    n_bits: 8,
                    src: Subfield { field: fields::reg(0), ofs: 0, n_bits: 8 },
                    dst: Subfield { field: fields::reg(1), ofs: 8, n_bits: 8 },
                },
                Action::Note(vec![1, 2, 3, 4, 5, 6]),
                Action::output(PortNo(4)),
            ]),
            Instruction::GotoTable(9),
        ],
        ..FlowMod::default()
    };
    let inner = Message::FlowMod(fm.clone()).encode(9).unwrap().to_vec();
    // A dump reply whose first and last flows share their instructions
    // (the dump printer prints the last from memory).
    let desc = |priority: u16, instructions: Vec<Instruction>| FlowDesc {
        table_id: 3,
        priority,
        r#match: m.clone(),
        instructions,
        ..FlowDesc::default()
    };
    let dump = vec![desc(100, fm.instructions.clone()), desc(90, vec![Instruction::GotoTable(4)]), desc(80, fm.instructions.clone())];
    vec![
        Message::FlowMod(fm).encode(1).unwrap().to_vec(),
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::FlowDesc(FlowStatsRequest { r#match: m, ..Default::default() })))
            .encode(2)
            .unwrap()
            .to_vec(),
        Message::BundleControl(BundleControl::new(1, BundleCtrlType::OPEN_REQUEST, 3)).encode(3).unwrap().to_vec(),
        Message::BundleAdd(BundleAdd { bundle_id: 1, flags: 3, message: inner }).encode(9).unwrap().to_vec(),
    ]
    .into_iter()
    .chain([Message::MultipartReply(MultipartReply { flags: 0, body: MultipartReplyBody::FlowDesc(dump) }).encode(4).unwrap().to_vec()])
    .chain(group_meter_monitor_seeds())
    .collect()
}

/// GROUP_MOD, GROUP_DESC, METER_MOD, METER_DESC and the flow monitor, as
/// podflow's text parsers produce them.
fn group_meter_monitor_seeds() -> Vec<Vec<u8>> {
    use podflow_proto::openflow::group::{command, GroupDesc};
    use podflow_proto::openflow::text::{group, meter, monitor};
    let gm = group::group_mod(
        "group_id=2,type=select,selection_method=hash,bucket=bucket_id:5,weight:10,actions=output:1,bucket=weight=20,watch_port=2,actions=set_field:1->reg0,output:3",
        command::ADD,
    )
    .unwrap();
    let gd = GroupDesc { group_type: gm.group_type, group_id: gm.group_id, buckets: gm.buckets.clone(), properties: gm.properties.clone() };
    let mm = meter::meter_mod("meter=3,kbps,burst,bands=type=dscp_remark,rate=100,burst_size=5,prec_level=1,type=drop,rate=200,burst_size=9", meter::MeterText::Mod(0)).unwrap();
    let watch = monitor::watch("!initial,table=3,ip,nw_dst=198.18.0.0/16", 1).unwrap();
    let reply = |body| Message::MultipartReply(MultipartReply { flags: 0, body });
    let update = podflow_proto::openflow::monitor::FlowUpdate::Full {
        event: 1,
        flow: podflow_proto::openflow::monitor::UpdatedFlow { table_id: 3, priority: 7, r#match: watch.r#match.clone(), ..Default::default() },
    };
    vec![
        Message::GroupMod(gm).encode(4).unwrap().to_vec(),
        reply(MultipartReplyBody::GroupDesc(vec![gd.clone(), gd])).encode(5).unwrap().to_vec(),
        Message::MeterMod(mm.clone()).encode(6).unwrap().to_vec(),
        reply(MultipartReplyBody::MeterDesc(vec![mm.meter])).encode(7).unwrap().to_vec(),
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::FlowMonitor(vec![watch]))).encode(8).unwrap().to_vec(),
        reply(MultipartReplyBody::FlowMonitor(vec![update, podflow_proto::openflow::monitor::FlowUpdate::Abbrev { xid: 3 }])).encode(0).unwrap().to_vec(),
    ]
}

/// The fuzz target's property (`podflow_proto::oracle`): framing never
/// reads past the end; whatever decodes re-encodes to the same message (a
/// peer may send a match without its prerequisites: decoded, but never sent
/// by us).
fn check_stable(bytes: &[u8]) {
    podflow_proto::oracle::openflow_message(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if bytes.len() >= 4 {
            bytes[0] = 6;
            let len = bytes.len() as u16;
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
        }
        check_stable(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(which in 0usize..seeds().len(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let mut b = seeds()[which].clone();
        for (pos, val) in flips {
            let i = pos % b.len();
            if i >= 4 { b[i] = val; }
        }
        check_stable(&b);
        let n = 8 + cut % (b.len() - 7);
        let mut t = b[..n].to_vec();
        t[2..4].copy_from_slice(&(n as u16).to_be_bytes());
        check_stable(&t);
    }
}

/// The group, meter and flow monitor seeds round-trip as they are.
/// `PODFLOW_FUZZ_SEEDS=DIR` also writes them there (how the
/// `openflow_message` fuzz corpus got its `seed-gmm-*` files).
#[test]
fn group_meter_monitor_seeds_round_trip() {
    let seeds = group_meter_monitor_seeds();
    assert_eq!(seeds.len(), 6);
    for (i, b) in seeds.iter().enumerate() {
        let (xid, m) = Message::decode(b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.encode(xid).unwrap().to_vec(), *b, "{m:?}");
        if let Some(dir) = std::env::var_os("PODFLOW_FUZZ_SEEDS") {
            std::fs::write(std::path::Path::new(&dir).join(format!("seed-gmm-{i}")), b).unwrap();
        }
    }
}

#[test]
fn short_and_overlong_lengths_are_typed_errors() {
    for len in [0u16, 7] {
        let b = [6, 0, (len >> 8) as u8, len as u8, 0, 0, 0, 1];
        assert!(frame_len(&b).is_err());
        assert!(Message::decode(&b).is_err());
    }
    // Length past the end: framing waits for more bytes, decoding refuses.
    let b = [6, 20, 0, 64, 0, 0, 0, 1];
    assert_eq!(frame_len(&b).unwrap(), None);
    assert!(Message::decode(&b).is_err());
    // Trailing garbage inside a fixed-size message.
    let b = [6, 20, 0, 12, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef];
    assert!(Message::decode(&b).is_err());
}
