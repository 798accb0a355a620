//! Encoder oracle: every message family we encode is decoded by Open
//! vSwitch's own printer (`ovs-ofctl ofp-print HEX`) without complaint and
//! says what we meant.

use bytes::BytesMut;
use podflow_proto::openflow::action::{Action, Controller};
use podflow_proto::openflow::bundle::{flags as bflags, BundleAdd, BundleControl, BundleCtrlType};
use podflow_proto::openflow::error::ErrorMsg;
use podflow_proto::openflow::flow::{FlowDesc, FlowRemoved, FlowStatsRequest};
use podflow_proto::openflow::group::{Bucket, GroupMod};
use podflow_proto::openflow::multipart::*;
use podflow_proto::openflow::oxm::{fields, Match, OxmField};
use podflow_proto::openflow::oxs::{Duration, Stats};
use podflow_proto::openflow::packet::{PacketIn, PacketOut};
use podflow_proto::openflow::port::{Port, PortEthernet, PortMod, PortNo, PortStatus};
use podflow_proto::openflow::switch::{FeaturesReply, Hello, SwitchConfig};
use podflow_proto::openflow::{FlowMod, Instruction, Message};
use std::process::Command;

mod common;
use common::{hex, ofctl_available};

fn ofp_print(msg: &Message, xid: u32) -> String {
    let bytes = msg.encode(xid).unwrap();
    // Our own decoder must accept what we encoded, identically.
    let (x, back) = Message::decode(&bytes).unwrap();
    assert_eq!((x, &back), (xid, msg));
    let out = Command::new("ovs-ofctl").args(["-O", "OpenFlow15", "ofp-print", &hex(&bytes)]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn check(msg: Message, expect: &[&str]) {
    let out = ofp_print(&msg, 0x42);
    for bad in ["decode error", "***", "bad length", "too short", "(unknown"] {
        assert!(!out.contains(bad), "ovs-ofctl could not decode {}: {out}", msg.name());
    }
    for e in expect {
        assert!(out.contains(e), "expected {e:?} in ofp-print of {}:\n{out}", msg.name());
    }
}

fn pod_match() -> Match {
    Match::new()
        .with(OxmField::new(fields::IN_PORT, 5u32.to_be_bytes()))
        .with(OxmField::new(fields::ETH_TYPE, 0x0800u16.to_be_bytes()))
        .with(OxmField::new(fields::IPV4_SRC, [198, 18, 0, 5]))
}

fn port() -> Port {
    Port {
        port_no: PortNo(3),
        hw_addr: [0x02, 0, 0, 0, 0, 3],
        name: "pod3".into(),
        config: 0,
        state: 4,
        ethernet: Some(PortEthernet { curr: 0x800, advertised: 0, supported: 0, peer: 0, curr_speed: 10_000_000, max_speed: 0 }),
        other_props: vec![],
    }
}

#[test]
fn every_message_family_is_understood_by_ovs() {
    if !ofctl_available() {
        return;
    }
    check(Message::Hello(Hello::of15()), &["OFPT_HELLO (OF1.5) (xid=0x42)", "version bitmap: 0x06"]);
    check(
        Message::Error(ErrorMsg::new(5, 1, Message::BarrierRequest.encode(7).unwrap().to_vec())),
        &["OFPT_ERROR", "OFPFMFC_TABLE_FULL"],
    );
    check(Message::EchoRequest(vec![1, 2, 3]), &["OFPT_ECHO_REQUEST"]);
    check(Message::EchoReply(vec![]), &["OFPT_ECHO_REPLY"]);
    check(Message::FeaturesRequest, &["OFPT_FEATURES_REQUEST"]);
    check(
        Message::FeaturesReply(FeaturesReply { datapath_id: 0xabc, n_buffers: 0, n_tables: 254, auxiliary_id: 0, capabilities: 0x4f }),
        &["OFPT_FEATURES_REPLY", "dpid:0000000000000abc", "n_tables:254"],
    );
    check(Message::GetConfigRequest, &["OFPT_GET_CONFIG_REQUEST"]);
    check(Message::GetConfigReply(SwitchConfig { flags: 0, miss_send_len: 128 }), &["OFPT_GET_CONFIG_REPLY", "miss_send_len=128"]);
    check(Message::SetConfig(SwitchConfig { flags: 0, miss_send_len: 0xffff }), &["OFPT_SET_CONFIG"]);
    check(
        Message::PacketIn(PacketIn {
            buffer_id: 0xffff_ffff,
            total_len: 4,
            reason: 1,
            table_id: 3,
            cookie: 0x99,
            r#match: Match::new().with(OxmField::new(fields::IN_PORT, 7u32.to_be_bytes())),
            data: vec![1, 2, 3, 4],
        }),
        &["OFPT_PACKET_IN", "table_id=3", "cookie=0x99", "in_port=7"],
    );
    check(
        Message::FlowRemoved(FlowRemoved {
            table_id: 2,
            reason: 0,
            priority: 100,
            idle_timeout: 30,
            hard_timeout: 0,
            cookie: 0x77,
            r#match: pod_match(),
            stats: Stats { duration: Some(Duration { sec: 5, nsec: 0 }), packet_count: Some(3), byte_count: Some(180), ..Stats::default() },
        }),
        &["OFPT_FLOW_REMOVED", "priority=100", "reason=idle", "table_id=2", "cookie:0x77", "pkts3", "bytes180"],
    );
    check(Message::PortStatus(PortStatus { reason: 0, port: port() }), &["OFPT_PORT_STATUS", "ADD:", "3(pod3)", "addr:02:00:00:00:00:03"]);
    check(
        Message::PacketOut(PacketOut {
            buffer_id: 0xffff_ffff,
            r#match: Match::new().with(OxmField::new(fields::IN_PORT, 1u32.to_be_bytes())),
            actions: vec![Action::output(PortNo(2))],
            data: vec![0; 60],
        }),
        &["OFPT_PACKET_OUT", "in_port=1", "actions=output:2"],
    );
    check(
        Message::FlowMod(FlowMod {
            table_id: 10,
            priority: 50,
            cookie: 0x1234,
            r#match: pod_match(),
            instructions: vec![Instruction::ApplyActions(vec![Action::output(PortNo(3))])],
            ..FlowMod::default()
        }),
        &["OFPT_FLOW_MOD", "ADD table:10", "priority=50,ip,in_port=5,nw_src=198.18.0.5", "actions=output:3"],
    );
    check(
        Message::GroupMod(GroupMod {
            command: 0,
            group_type: 0,
            group_id: 9,
            command_bucket_id: 0xffff_ffff,
            buckets: vec![
                Bucket { bucket_id: 0, actions: vec![Action::output(PortNo(1))], properties: vec![] },
                Bucket { bucket_id: 1, actions: vec![Action::output(PortNo(2))], properties: vec![] },
            ],
            properties: vec![],
        }),
        &["OFPT_GROUP_MOD", "ADD group_id=9,type=all", "bucket=bucket_id:0,actions=output:1", "bucket=bucket_id:1,actions=output:2"],
    );
    check(
        Message::PortMod(PortMod { port_no: PortNo(3), hw_addr: [2, 0, 0, 0, 0, 3], config: 1, mask: 1, advertise: None }),
        &["OFPT_PORT_MOD", "port: 3: addr:02:00:00:00:00:03", "config: PORT_DOWN", "mask:   PORT_DOWN"],
    );
    check(
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::FlowDesc(FlowStatsRequest { table_id: 3, ..FlowStatsRequest::default() }))),
        &["OFPST_FLOW request (OF1.5)", "table=3"],
    );
    check(
        Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::Aggregate(FlowStatsRequest::default()))),
        &["OFPST_AGGREGATE request"],
    );
    check(Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::TableStats)), &["OFPST_TABLE request"]);
    check(Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::PortStats { port_no: PortNo::ANY })), &["OFPST_PORT request", "port_no=ANY"]);
    check(Message::MultipartRequest(MultipartRequest::new(MultipartRequestBody::PortDesc { port_no: PortNo::ANY })), &["OFPST_PORT_DESC request"]);
    check(
        Message::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::FlowDesc(vec![FlowDesc {
                table_id: 1,
                priority: 7,
                cookie: 0x5,
                r#match: pod_match(),
                stats: Stats { duration: Some(Duration { sec: 1, nsec: 500_000_000 }), packet_count: Some(2), byte_count: Some(120), ..Stats::default() },
                instructions: vec![Instruction::ApplyActions(vec![Action::Output { port: PortNo::NORMAL, max_len: 0 }])],
                ..FlowDesc::default()
            }]),
        }),
        &["OFPST_FLOW reply (OF1.5)", "cookie=0x5, duration=1.500s, table=1, n_packets=2, n_bytes=120", "priority=7,ip,in_port=5,nw_src=198.18.0.5 actions=NORMAL"],
    );
    check(
        Message::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::Aggregate(Stats { packet_count: Some(10), byte_count: Some(600), flow_count: Some(3), ..Stats::default() }),
        }),
        &["OFPST_AGGREGATE reply", "packet_count=10", "byte_count=600", "flow_count=3"],
    );
    check(
        Message::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::TableStats(vec![TableStats { table_id: 0, active_count: 4, lookup_count: 10, matched_count: 8 }]),
        }),
        &["OFPST_TABLE reply", "active=4, lookup=10, matched=8"],
    );
    check(
        Message::MultipartReply(MultipartReply {
            flags: 0,
            body: MultipartReplyBody::PortStats(vec![PortStats { port_no: PortNo(3), rx_packets: 11, tx_packets: 12, rx_bytes: 13, tx_bytes: 14, ..PortStats::default() }]),
        }),
        &["OFPST_PORT reply", "port  3: rx pkts=11, bytes=13", "tx pkts=12, bytes=14"],
    );
    check(Message::MultipartReply(MultipartReply { flags: 0, body: MultipartReplyBody::PortDesc(vec![port()]) }), &["OFPST_PORT_DESC reply", "3(pod3)"]);
    check(Message::BarrierRequest, &["OFPT_BARRIER_REQUEST"]);
    check(Message::BarrierReply, &["OFPT_BARRIER_REPLY"]);
    for (t, name) in [
        (BundleCtrlType::OPEN_REQUEST, "OPEN_REQUEST"),
        (BundleCtrlType::OPEN_REPLY, "OPEN_REPLY"),
        (BundleCtrlType::CLOSE_REQUEST, "CLOSE_REQUEST"),
        (BundleCtrlType::COMMIT_REQUEST, "COMMIT_REQUEST"),
        (BundleCtrlType::COMMIT_REPLY, "COMMIT_REPLY"),
        (BundleCtrlType::DISCARD_REQUEST, "DISCARD_REQUEST"),
        (BundleCtrlType::DISCARD_REPLY, "DISCARD_REPLY"),
    ] {
        check(
            Message::BundleControl(BundleControl::new(77, t, bflags::ATOMIC | bflags::ORDERED)),
            &["OFPT_BUNDLE_CONTROL", "bundle_id=0x4d", &format!("type={name}"), "flags=atomic ordered"],
        );
    }
    let inner = Message::FlowMod(FlowMod {
        r#match: pod_match(),
        instructions: vec![Instruction::ApplyActions(vec![Action::Controller(Controller::default())])],
        ..FlowMod::default()
    })
    .encode(0x42)
    .unwrap();
    check(
        Message::BundleAdd(BundleAdd { bundle_id: 77, flags: bflags::ATOMIC, message: inner.to_vec() }),
        &["OFPT_BUNDLE_ADD_MESSAGE", "bundle_id=0x4d flags=atomic", "OFPT_FLOW_MOD", "ip,in_port=5,nw_src=198.18.0.5"],
    );
    let _ = BytesMut::new();
}
