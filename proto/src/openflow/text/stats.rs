//! Statistics replies as `ovs-ofctl -O OpenFlow15` prints them: table
//! stats (`dump-tables`, with Open vSwitch's "ditto" runs) and aggregate
//! flow stats (`dump-aggregate`).

use super::super::multipart::TableStats;
use super::super::oxs::Stats;
use std::fmt::Write as _;

/// The body of one `OFPST_TABLE` reply message (after its header line):
/// a table is printed in full unless its counters equal the previous
/// table's, and runs of such tables become `tables A...B: ditto`.
pub fn table_stats(tables: &[TableStats]) -> String {
    let mut s = String::new();
    let mut ditto: Option<(u8, u8)> = None;
    let finish = |s: &mut String, ditto: &mut Option<(u8, u8)>| match ditto.take() {
        Some((a, b)) if a == b => {
            let _ = write!(s, "\n  table {a}: ditto\n");
        }
        Some((a, b)) => {
            let _ = write!(s, "\n  tables {a}...{b}: ditto\n");
        }
        None => {}
    };
    let same = |a: &TableStats, b: &TableStats| {
        (a.active_count, a.lookup_count, a.matched_count) == (b.active_count, b.lookup_count, b.matched_count)
    };
    for (i, t) in tables.iter().enumerate() {
        if i > 0 && same(t, &tables[i - 1]) {
            ditto = Some((ditto.map_or(t.table_id, |d| d.0), t.table_id));
            continue;
        }
        finish(&mut s, &mut ditto);
        let _ = write!(
            s,
            "\n  table {}:\n    active={}, lookup={}, matched={}\n",
            t.table_id, t.active_count, t.lookup_count, t.matched_count
        );
    }
    finish(&mut s, &mut ditto);
    s
}

/// ` packet_count=P byte_count=B flow_count=F` (absent counters as 0).
pub fn aggregate(st: &Stats) -> String {
    format!(
        " packet_count={} byte_count={} flow_count={}",
        st.packet_count.unwrap_or(0),
        st.byte_count.unwrap_or(0),
        st.flow_count.unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(table_id: u8, active_count: u32) -> TableStats {
        TableStats { table_id, active_count, lookup_count: 0, matched_count: 0 }
    }

    #[test]
    fn ditto_runs_like_ovs() {
        let v: Vec<TableStats> = (0..=253).map(|i| t(i, if i == 0 { 2 } else { 0 })).collect();
        assert_eq!(
            table_stats(&v),
            "\n  table 0:\n    active=2, lookup=0, matched=0\n\n  table 1:\n    active=0, lookup=0, matched=0\n\n  tables 2...253: ditto\n"
        );
        let v = vec![t(0, 1), t(1, 1), t(2, 3), t(3, 3), t(4, 3), t(5, 0)];
        assert_eq!(
            table_stats(&v),
            "\n  table 0:\n    active=1, lookup=0, matched=0\n\n  table 1: ditto\n\n  table 2:\n    active=3, lookup=0, matched=0\n\n  tables 3...4: ditto\n\n  table 5:\n    active=0, lookup=0, matched=0\n"
        );
    }
}
