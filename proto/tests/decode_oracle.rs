//! Decoder oracle: the bytes `ovs-ofctl -O OpenFlow15 add-flows` (plain and
//! `--bundle`) sends to a switch are decoded by podflow, re-encode to the
//! very same bytes, and print as the same flow text Open vSwitch prints.

mod common;
use common::*;
use podflow_proto::openflow::message::types;
use podflow_proto::openflow::Message;

fn flow_mods_sent(bundle: bool) -> Vec<Vec<u8>> {
    let file = data("flows.txt");
    let mut args = vec!["-O", "OpenFlow15"];
    if bundle {
        args.push("--bundle");
    }
    args.push("add-flows");
    let msgs = capture(&args, &[file.to_str().unwrap()]);
    // `PODFLOW_WRITE_CORPUS=DIR` saves what ovs-ofctl sent as fuzz seeds.
    if let Ok(dir) = std::env::var("PODFLOW_WRITE_CORPUS") {
        for raw in &msgs {
            std::fs::write(format!("{dir}/ofctl-{}-{}", if bundle { "bundle" } else { "plain" }, hex(&raw[..8.min(raw.len())]) + &format!("-{}", raw.len())), raw).unwrap();
        }
    }
    let mut out = Vec::new();
    for raw in msgs {
        let (xid, msg) = Message::decode(&raw).unwrap_or_else(|e| panic!("cannot decode {}: {e}", hex(&raw)));
        // Byte-for-byte: what we decoded encodes back to what OVS sent.
        let again = msg.encode(xid).unwrap_or_else(|e| panic!("cannot re-encode {}: {e}", ofp_print(&raw)));
        assert_eq!(hex(&again), hex(&raw), "re-encoding differs for {}", ofp_print(&raw));
        match msg {
            Message::FlowMod(_) => out.push(raw),
            Message::BundleAdd(b) => {
                let (_, inner) = Message::decode(&b.message).unwrap();
                assert!(matches!(inner, Message::FlowMod(_)));
                assert_eq!(hex(&inner.encode(u32::from_be_bytes([b.message[4], b.message[5], b.message[6], b.message[7]])).unwrap()), hex(&b.message));
                out.push(b.message.clone());
            }
            _ => {}
        }
    }
    out
}

/// OVS's own print of what it sent equals podflow's print of its decoding.
fn same_text(raw: &[u8]) {
    let (xid, msg) = Message::decode(raw).unwrap();
    let Message::FlowMod(fm) = msg else { panic!("not a flow_mod") };
    let ours = podflow_proto::openflow::text::print::flow_mod_ofp_print(&fm, xid);
    let theirs = ofp_print(raw);
    assert_eq!(ours.trim_end(), theirs.trim_end(), "podflow and ovs-ofctl print the decoded FLOW_MOD differently");
}

#[test]
fn ovs_ofctl_flow_mods_decode_and_reencode_identically() {
    if !ofctl_available() {
        return;
    }
    let n_lines = std::fs::read_to_string(data("flows.txt")).unwrap().lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).count();
    for bundle in [false, true] {
        let mods = flow_mods_sent(bundle);
        assert_eq!(mods.len(), n_lines, "bundle={bundle}");
        assert!(mods.iter().all(|m| m[1] == types::FLOW_MOD));
        mods.iter().for_each(|m| same_text(m));
    }
}
