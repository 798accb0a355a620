//! Micro-benchmark: encode and decode of a typical pod FLOW_MOD.
//!
//! Run: `cargo run --release -p podflow-proto --example codec_bench`
//! Prints messages per second for encode, decode and both; a measurement,
//! not a test.

use podflow_proto::openflow::action::Action;
use podflow_proto::openflow::oxm::{fields, Match, OxmField};
use podflow_proto::openflow::{FlowMod, Instruction, Message};
use std::hint::black_box;
use std::time::Instant;

/// The L3 forwarding flow of a pod: match its IP, rewrite MACs, output.
fn pod_flow(i: u32) -> Message {
    let ip = [198, 18, (i >> 8) as u8, i as u8];
    Message::FlowMod(FlowMod {
        table_id: 70,
        priority: 200,
        cookie: 0x0001_0200_0000_0000 | i as u64,
        r#match: Match::new()
            .with(OxmField::new(fields::ETH_TYPE, 0x0800u16.to_be_bytes()))
            .with(OxmField::masked(fields::reg(0), 0x0000_0200u32.to_be_bytes(), 0x0000_0200u32.to_be_bytes()))
            .with(OxmField::new(fields::IPV4_DST, ip)),
        instructions: vec![Instruction::ApplyActions(vec![
            Action::SetField(OxmField::new(fields::ETH_SRC, [0x02, 0, 0, 0, 0, 1])),
            Action::SetField(OxmField::new(fields::ETH_DST, [0x02, 0, ip[1], ip[2], ip[3], 9])),
            Action::DecNwTtl,
            Action::SetField(OxmField::new(fields::reg(1), (i + 10).to_be_bytes())),
        ]), Instruction::GotoTable(80)],
        ..FlowMod::default()
    })
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let msgs: Vec<Message> = (0..1000).map(pod_flow).collect();
    let encoded: Vec<Vec<u8>> = msgs.iter().enumerate().map(|(i, m)| m.encode(i as u32).unwrap().to_vec()).collect();
    println!("pod FLOW_MOD: {} bytes on the wire", encoded[0].len());

    let t = Instant::now();
    let mut buf = bytes::BytesMut::with_capacity(256);
    for i in 0..n {
        buf.clear();
        black_box(&msgs[(i % 1000) as usize]).encode_into(i, &mut buf).unwrap();
        black_box(&buf);
    }
    let enc = n as f64 / t.elapsed().as_secs_f64();

    let t = Instant::now();
    for i in 0..n {
        black_box(Message::decode(black_box(&encoded[(i % 1000) as usize])).unwrap());
    }
    let dec = n as f64 / t.elapsed().as_secs_f64();
    println!("encode: {:.2} M msg/s", enc / 1e6);
    println!("decode: {:.2} M msg/s", dec / 1e6);
}
