//! Flow files for tests and benchmarks of the flow commands: Antrea-style
//! flows (register and conntrack matches, masked fields; `set_field`,
//! `move`, `ct(commit,exec(...))`, `learn`, `goto_table`), six per pod, in
//! the `ovs-ofctl add-flow` syntax. Pod addresses come from the test range
//! 198.18.0.0/15.

use std::fmt::Write as _;

/// The flows every node has once (three lines).
const BASE: &str = "\
table=0,priority=0,actions=drop
table=60,priority=0,reg0=0x10000/0x10000,actions=output:NXM_NX_REG1[]
table=60,priority=0,actions=drop
";

/// `pods` × 6 pod flows plus 3 base flows, one per line.
pub fn antrea_style(pods: u32) -> String {
    let mut s = String::with_capacity(pods as usize * 6 * 190 + BASE.len());
    s.push_str(BASE);
    for i in 0..pods {
        pod(&mut s, i);
    }
    s
}

/// The six flows of pod `i`: classification, spoof guard, conntrack,
/// commit with a mark, forwarding and session affinity.
fn pod(s: &mut String, i: u32) {
    let n = i + 2;
    let (b, c, d) = (18 + (n >> 16) as u8 % 2, (n >> 8) as u8, n as u8);
    let ip = format!("198.{b}.{c}.{d}");
    let mac = format!("0a:58:c6:{b:02x}:{c:02x}:{d:02x}");
    let port = 100 + i;
    let ck = format!("cookie={:#x}", 0x7000_0000_0000_0000u64 | u64::from(i));
    // Write errors cannot happen on a String.
    let _ = writeln!(s, "{ck},table=0,priority=190,in_port={port},actions=set_field:0x2/0xf->reg0,goto_table:10");
    let _ = writeln!(s, "{ck},table=10,priority=200,ip,reg0=0x2/0xf,in_port={port},dl_src={mac},nw_src={ip},actions=goto_table:20");
    let _ = writeln!(s, "{ck},table=20,priority=200,ip,reg0=0x2/0xf,nw_src={ip},actions=ct(table=30,zone=65520,nat)");
    let _ = writeln!(
        s,
        "{ck},table=30,priority=200,ct_state=+new+trk,ip,nw_dst={ip},actions=ct(commit,table=40,zone=65520,exec(set_field:0x1/0x1->ct_mark,move:NXM_NX_REG0[0..3]->NXM_NX_CT_MARK[4..7]))"
    );
    let _ = writeln!(
        s,
        "{ck},table=40,priority=200,ct_state=-new+trk,ct_mark=0x1/0x1,ip,nw_dst={ip},actions=set_field:{mac}->eth_dst,set_field:0x10000/0x10000->reg0,set_field:{port}->reg1,goto_table:50"
    );
    let _ = writeln!(
        s,
        "{ck},table=50,priority=200,tcp,reg0=0x10000/0x10000,nw_dst={ip},tp_dst=80,actions=learn(table=60,idle_timeout=300,priority=200,{ck},eth_type=0x800,nw_proto=6,NXM_OF_IP_SRC[],NXM_OF_IP_DST[],NXM_OF_TCP_DST[],load:NXM_NX_REG1[]->NXM_NX_REG1[]),move:NXM_NX_REG1[]->NXM_NX_REG2[],goto_table:60"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use podflow_proto::openflow::text::parse;

    #[test]
    fn every_line_parses_and_lines_are_distinct() {
        let t = antrea_style(300);
        assert_eq!(t.lines().count(), 3 + 300 * 6);
        let flows = parse::flows_file(&t).unwrap();
        let keys: std::collections::BTreeSet<String> =
            flows.iter().map(|(_, f)| format!("{} {} {:?}", f.table_id, f.priority, f.r#match)).collect();
        assert_eq!(keys.len(), flows.len(), "no two lines are the same flow");
    }
}
