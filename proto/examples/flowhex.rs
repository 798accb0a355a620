//! Prints the OpenFlow 1.5 FLOW_MOD hex for a flow line (debugging aid for
//! comparing with `ovs-ofctl -O OpenFlow15 ofp-print`).
fn main() {
    for line in std::env::args().skip(1) {
        match podflow_proto::openflow::text::parse::flow(&line) {
            Ok(fm) => {
                let b = podflow_proto::openflow::Message::FlowMod(fm).encode(1).expect("encode");
                println!("{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>());
            }
            Err(e) => println!("error: {e}"),
        }
    }
}
