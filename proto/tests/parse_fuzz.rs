//! Property tests: the flow text parser never panics, whatever it is fed,
//! and error columns always point inside (or just past) the input.

use podflow_proto::openflow::text::parse;
use proptest::prelude::*;

/// Pieces of flow syntax, so random inputs reach deep into the parser.
const TOKENS: &[&str] = &[
    "actions=", "action", "=", ":", ",", " ", "(", ")", "[", "]", "/", "->", "..", "+", "-", ".", "0x", "ip", "ipv6",
    "tcp", "udp6", "arp", "icmp6", "table", "priority", "cookie", "nw_src", "dl_vlan", "vlan_tci", "ct_state",
    "tcp_flags", "packet_type", "reg0", "NXM_NX_REG0", "xreg3", "ct_label", "in_port", "tp_dst", "icmp_type",
    "nd_target", "load", "move", "set_field", "output", "resubmit", "ct", "nat", "exec", "commit", "zone",
    "src", "dst", "controller", "conjunction", "goto_table", "write_actions", "write_metadata", "clear_actions",
    "meter", "note", "mod_vlan_vid", "mod_tp_src", "drop", "LOCAL", "CONTROLLER", "trk", "est", "syn", "1", "0",
    "255", "65535", "4294967296", "1.2.3.4", "::1", "[::1]", "00:11:22:33:44:55", "ff", "18446744073709551616",
    "0xffffffffffffffffffffffffffffffffff", "é", "\t", "\n", "#",
];

fn flowish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|v| v.concat())
}

fn check(s: &str) {
    for r in [parse::flow(s).err(), parse::flow_criteria(s).err()].into_iter().flatten() {
        assert!(r.column >= 1 && r.column <= s.len() + 1, "column {} outside {:?}", r.column, s);
        assert!(s.is_char_boundary(r.column - 1), "column {} splits a character of {:?}", r.column, s);
        assert!(!r.expected.is_empty());
        let _ = r.to_string();
    }
    if let Err(e) = parse::flows_file(s) {
        assert!(e.line.is_some());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_text(s in "\\PC{0,80}") {
        check(&s);
    }

    #[test]
    fn never_panics_on_flow_like_text(s in flowish()) {
        check(&s);
    }

    #[test]
    fn never_panics_on_mutated_valid_flows(
        base in prop::sample::select(&[
            "table=1,priority=10,tcp,nw_src=10.0.0.0/8,tp_dst=80 actions=load:5->NXM_NX_REG0[4..7],output:3",
            "ip actions=ct(commit,zone=NXM_NX_REG0[0..15],exec(set_field:1->ct_mark),nat(src=1.2.3.4-1.2.3.9:1-2))",
            "actions=meter:1,output:2,clear_actions,write_actions(output:3),write_metadata:0x1/0xff,goto_table:4",
            "ct_state=+trk+est-new,tcp,tcp_flags=+syn-ack actions=controller(reason=no_match,userdata=01.02,pause)",
        ][..]),
        cut in 0usize..200,
        insert in prop::sample::select(TOKENS),
    ) {
        let mut s = base.to_string();
        let mut at = cut % (s.len() + 1);
        while !s.is_char_boundary(at) { at -= 1; }
        s.insert_str(at, insert);
        check(&s);
        check(&base[..cut.min(base.len())]);
    }
}
