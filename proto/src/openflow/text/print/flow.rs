//! Whole flows: `dump-flows` lines, add-flow text, `ofp-print` of FLOW_MOD.

use crate::openflow::flow::{FlowDesc, FlowDescBytes, FlowMod, FlowModCommand, NO_BUFFER};
use crate::openflow::instruction::Instruction;
use crate::openflow::oxm::Match;
use crate::openflow::oxs::Stats;
use crate::openflow::port::PortNo;
use crate::wire::Reader;
use crate::DecodeError;

use super::actions::*;
use super::matching::*;
use super::values::*;
use super::PrintOptions;

/// `ofp_print_duration` (flow and port durations): whole seconds, then 3 decimals when the
/// fraction is whole milliseconds, else as many as needed (up to 9).
pub fn duration(sec: u32, nsec: u32) -> String {
    to_string(|s| write_duration(s, sec, nsec))
}

/// [`duration`], appended to `s`.
pub fn write_duration(s: &mut String, sec: u32, nsec: u32) {
    dec(s, sec.into());
    if nsec > 0 {
        s.push('.');
        let msec = nsec / 1_000_000;
        if msec * 1_000_000 == nsec {
            dec_pad(s, msec.into(), 3);
        } else {
            // Nine digits without the trailing zeros.
            let mut frac = nsec;
            let mut width = 9;
            while frac.is_multiple_of(10) {
                frac /= 10;
                width -= 1;
            }
            dec_pad(s, frac.into(), width);
        }
    }
    s.push('s');
}

fn flag_words(s: &mut String, flags: u16) {
    use crate::openflow::flow::flags::*;
    for (bit, name) in [
        (SEND_FLOW_REM, "send_flow_rem "),
        (CHECK_OVERLAP, "check_overlap "),
        (RESET_COUNTS, "reset_counts "),
        (NO_PKT_COUNTS, "no_packet_counts "),
        (NO_BYT_COUNTS, "no_byte_counts "),
    ] {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
}

fn stat_count(s: &mut String, c: Option<u64>) {
    match c {
        Some(u64::MAX) | None => s.push('?'),
        Some(n) => dec(s, n),
    }
}

/// `name=N, ` (the dump's comma-and-space separated header fields).
fn field_dec(s: &mut String, name: &str, v: u64) {
    s.push_str(name);
    dec(s, v);
    s.push_str(", ");
}

/// The flow's fields before the match: cookie, duration, table, counters,
/// timeouts, flags, importance, idle age.
#[allow(clippy::too_many_arguments)]
fn flow_header(
    s: &mut String,
    cookie: u64,
    table_id: u8,
    stats: Option<&Stats>,
    idle_timeout: u16,
    hard_timeout: u16,
    flags: u16,
    importance: u16,
) {
    if stats.is_some() || cookie != 0 {
        s.push_str("cookie=");
        hex0x(s, cookie);
        s.push_str(", ");
    }
    if let Some(st) = stats {
        let (sec, nsec) = st.duration.map_or((u32::MAX, u32::MAX), |d| (d.sec, d.nsec));
        s.push_str("duration=");
        write_duration(s, sec, nsec);
        s.push_str(", ");
    }
    if stats.is_some() || table_id != 0 {
        field_dec(s, "table=", table_id.into());
    }
    if let Some(st) = stats {
        s.push_str("n_packets=");
        stat_count(s, st.packet_count);
        s.push_str(", n_bytes=");
        stat_count(s, st.byte_count);
        s.push_str(", ");
    }
    if idle_timeout != 0 {
        field_dec(s, "idle_timeout=", idle_timeout.into());
    }
    if hard_timeout != 0 {
        field_dec(s, "hard_timeout=", hard_timeout.into());
    }
    flag_words(s, flags);
    if importance != 0 {
        field_dec(s, "importance=", importance.into());
    }
    if let Some(st) = stats {
        // OVS keeps the idle age in an int: u32::MAX (absent) and anything
        // that turns negative are not printed. OpenFlow 1.5 never carries
        // a hard age.
        if let Some(it) = st.idle_time {
            if (it.sec as i32) >= 0 {
                field_dec(s, "idle_age=", it.sec.into());
            }
        }
    }
}

/// The match (and a space after it unless empty), then `actions=…`.
fn flow_body(s: &mut String, m: &Match, priority: u16, instr: &[Instruction]) {
    view_and_actions_word(s, &FlowView::from_match(m), priority);
    write_instructions(s, instr);
}

/// The match, from its view (and a space after it unless empty), then
/// `actions=`.
fn view_and_actions_word(s: &mut String, view: &FlowView, priority: u16) {
    let before = s.len();
    view.write(s, priority);
    if s.len() > before {
        s.push(' ');
    }
    s.push_str("actions=");
}

/// One `dump-flows` line for a FLOW_DESC entry, with its leading space and
/// without a newline.
pub fn flow_desc(f: &FlowDesc, opts: &PrintOptions) -> String {
    to_string(|s| write_flow_desc(s, f, opts))
}

/// [`flow_desc`], appended to `s` (a dump prints every line of a reply
/// into one buffer).
pub fn write_flow_desc(s: &mut String, f: &FlowDesc, opts: &PrintOptions) {
    s.push(' ');
    let stats = opts.stats.then_some(&f.stats);
    flow_header(s, f.cookie, f.table_id, stats, f.idle_timeout, f.hard_timeout, f.flags, f.importance);
    flow_body(s, &f.r#match, f.priority, &f.instructions);
}

/// Prints the flows of FLOW_DESC replies from their bytes, one
/// `dump-flows` line each, exactly as [`write_flow_desc`] prints them
/// decoded. One printer serves one dump (port names, if shown, must not
/// change during its life).
///
/// Why: decoding and printing instructions is about half of a dump's CPU
/// time, and consecutive flows of a table usually carry the same
/// instructions byte for byte (a controller installs one action list for
/// many matches). Their text depends on their bytes only, so the printer
/// keeps the text of the last few lists it printed and decodes a list
/// only when its bytes are not among them. A short list compared byte for
/// byte rather than a map: no hashing of bytes a peer chose, and at most
/// [`RECENT_LISTS`] comparisons per flow.
#[derive(Debug)]
pub struct FlowDescPrinter {
    opts: PrintOptions,
    /// Instruction bytes and their text, most recently used first.
    recent: std::collections::VecDeque<(Box<[u8]>, Box<str>)>,
}

/// Instruction lists a [`FlowDescPrinter`] remembers.
pub const RECENT_LISTS: usize = 8;

impl FlowDescPrinter {
    pub fn new(opts: PrintOptions) -> Self {
        FlowDescPrinter { opts, recent: std::collections::VecDeque::with_capacity(RECENT_LISTS) }
    }

    /// Appends one line (with its leading space and a newline) per flow of
    /// `body`, the flow entries of a FLOW_DESC reply (after its multipart
    /// header); returns how many. A malformed entry ends it with the error,
    /// the lines before it left in `s`.
    pub fn write_flows(&mut self, s: &mut String, body: &[u8]) -> Result<usize, DecodeError> {
        let mut r = Reader::new(body);
        let mut n = 0;
        while !r.is_empty() {
            let f = FlowDescBytes::decode(&mut r)?;
            let mut view = FlowView::default();
            view.add_fields(f.match_fields)?;
            s.push(' ');
            let stats = self.opts.stats.then_some(&f.stats);
            flow_header(s, f.cookie, f.table_id, stats, f.idle_timeout, f.hard_timeout, f.flags, f.importance);
            view_and_actions_word(s, &view, f.priority);
            self.write_instruction_bytes(s, f.instructions)?;
            s.push('\n');
            n += 1;
        }
        Ok(n)
    }

    fn write_instruction_bytes(&mut self, s: &mut String, bytes: &[u8]) -> Result<(), DecodeError> {
        if let Some(i) = self.recent.iter().position(|(b, _)| **b == *bytes) {
            s.push_str(&self.recent[i].1);
            if i > 0 {
                let hit = self.recent.remove(i).expect("found above");
                self.recent.push_front(hit);
            }
            return Ok(());
        }
        let list = Instruction::decode_list(&mut Reader::new(bytes))?;
        let start = s.len();
        write_instructions(s, &list);
        if self.recent.len() == RECENT_LISTS {
            self.recent.pop_back();
        }
        self.recent.push_front((bytes.into(), s[start..].into()));
        Ok(())
    }
}

/// The `add-flow` text of the flow a FLOW_MOD describes: the `--no-stats`
/// dump form of the same flow, without the leading space (for example
/// `table=10, priority=50,ip actions=drop`).
pub fn flow_mod(fm: &FlowMod) -> String {
    to_string(|s| write_flow_mod(s, fm))
}

/// [`flow_mod`], appended to `s`.
pub fn write_flow_mod(s: &mut String, fm: &FlowMod) {
    flow_header(s, fm.cookie, fm.table_id, None, fm.idle_timeout, fm.hard_timeout, fm.flags, fm.importance);
    flow_body(s, &fm.r#match, fm.priority, &fm.instructions);
}

/// The `ovs-ofctl ofp-print` text of a FLOW_MOD message with this xid
/// (one line, no newline).
pub fn flow_mod_ofp_print(fm: &FlowMod, xid: u32) -> String {
    use std::fmt::Write;
    let mut s = format!("OFPT_FLOW_MOD (OF1.5) (xid={xid:#x}): ");
    let cmd = fm.command;
    match cmd {
        FlowModCommand::ADD => s.push_str("ADD"),
        FlowModCommand::MODIFY => s.push_str("MOD"),
        FlowModCommand::MODIFY_STRICT => s.push_str("MOD_STRICT"),
        FlowModCommand::DELETE => s.push_str("DEL"),
        FlowModCommand::DELETE_STRICT => s.push_str("DEL_STRICT"),
        FlowModCommand(n) => {
            let _ = write!(s, "cmd:{n}");
        }
    }
    if fm.table_id != 0 {
        let _ = write!(s, " table:{}", fm.table_id);
    }
    s.push(' ');
    write_match(&mut s, &fm.r#match, fm.priority);
    if !s.ends_with(' ') {
        s.push(' ');
    }
    // An add sets the cookie; the others select flows by cookie/mask.
    let (cookie, cookie_mask, new_cookie) =
        if cmd == FlowModCommand::ADD { (0, 0, fm.cookie) } else { (fm.cookie, fm.cookie_mask, u64::MAX) };
    if new_cookie != 0 && new_cookie != u64::MAX {
        let _ = write!(s, "cookie:{new_cookie:#x} ");
    }
    if cookie_mask != 0 {
        let _ = write!(s, "cookie:{cookie:#x}/{cookie_mask:#x} ");
    }
    if fm.idle_timeout != 0 {
        let _ = write!(s, "idle:{} ", fm.idle_timeout);
    }
    if fm.hard_timeout != 0 {
        let _ = write!(s, "hard:{} ", fm.hard_timeout);
    }
    if fm.importance != 0 {
        let _ = write!(s, "importance:{} ", fm.importance);
    }
    if fm.buffer_id != NO_BUFFER {
        let _ = write!(s, "buf:{:#x} ", fm.buffer_id);
    }
    if fm.out_port != PortNo::ANY {
        s.push_str("out_port:");
        write_port(&mut s, fm.out_port);
        s.push(' ');
    }
    flag_words(&mut s, fm.flags);
    s.push_str("actions=");
    write_instructions(&mut s, &fm.instructions);
    s
}

#[cfg(test)]
mod tests {
    //! Expected strings are what `ovs-ofctl` 3.1 prints (the oracle tests in
    //! `tests/text_print_oracle.rs` check the same code against it).
    use super::super::flow_stats_header;
    use super::super::testutil::*;
    use super::*;
    use crate::openflow::action::Action;
    use crate::openflow::flow::{FlowDesc, FlowMod, FlowModCommand, DEFAULT_PRIORITY};
    use crate::openflow::instruction::Instruction;
    use crate::openflow::oxm::{fields, Match};
    use crate::openflow::oxs::{Duration, Stats};
    use crate::openflow::port::PortNo;

    #[test]
    fn header_and_duration() {
        assert_eq!(flow_stats_header(2), "OFPST_FLOW reply (OF1.5) (xid=0x2):");
        assert_eq!(flow_stats_header(0), "OFPST_FLOW reply (OF1.5) (xid=0x0):");
        assert_eq!(duration(0, 0), "0s");
        assert_eq!(duration(1, 5_000_000), "1.005s");
        assert_eq!(duration(12, 0), "12s");
        assert_eq!(duration(2, 123_456_789), "2.123456789s");
        assert_eq!(duration(3, 100), "3.0000001s");
        assert_eq!(duration(0, 120_000_000), "0.120s");
        // Absent: OVS prints its "unknown" value.
        assert_eq!(duration(u32::MAX, u32::MAX), "4294967295.4294967295s");
    }

    fn desc() -> FlowDesc {
        FlowDesc {
            table_id: 0,
            priority: 200,
            r#match: Match { fields: vec![f(fields::IN_PORT, &[0, 0, 0, 1]), f(fields::ETH_SRC, &[0, 0x11, 0x22, 0x33, 0x44, 0x55])] },
            stats: Stats {
                duration: Some(Duration { sec: 0, nsec: 5_000_000 }),
                idle_time: Some(Duration { sec: 0, nsec: 0 }),
                packet_count: Some(0),
                byte_count: Some(0),
                ..Stats::default()
            },
            instructions: vec![
                Instruction::ApplyActions(vec![Action::SetField(fm(fields::reg(0), &[0, 0, 0, 1], &[0, 0, 0, 0xf]))]),
                Instruction::GotoTable(10),
            ],
            ..FlowDesc::default()
        }
    }

    #[test]
    fn dump_line_with_stats() {
        assert_eq!(
            flow_desc(&desc(), &PrintOptions { stats: true }),
            " cookie=0x0, duration=0.005s, table=0, n_packets=0, n_bytes=0, idle_age=0, priority=200,in_port=1,dl_src=00:11:22:33:44:55 actions=set_field:0x1/0xf->reg0,goto_table:10"
        );
        let mut d = desc();
        d.cookie = 0xabc;
        d.table_id = 10;
        d.idle_timeout = 30;
        d.hard_timeout = 60;
        d.flags = crate::openflow::flow::flags::SEND_FLOW_REM;
        d.importance = 3;
        d.stats = Stats {
            duration: Some(Duration { sec: 7, nsec: 0 }),
            idle_time: Some(Duration { sec: 4, nsec: 999 }),
            packet_count: Some(12),
            byte_count: Some(3456),
            ..Stats::default()
        };
        assert_eq!(
            flow_desc(&d, &PrintOptions::default()),
            " cookie=0xabc, duration=7s, table=10, n_packets=12, n_bytes=3456, idle_timeout=30, hard_timeout=60, send_flow_rem importance=3, idle_age=4, priority=200,in_port=1,dl_src=00:11:22:33:44:55 actions=set_field:0x1/0xf->reg0,goto_table:10"
        );
        assert_eq!(
            flow_desc(&d, &PrintOptions { stats: false }),
            " cookie=0xabc, table=10, idle_timeout=30, hard_timeout=60, send_flow_rem importance=3, priority=200,in_port=1,dl_src=00:11:22:33:44:55 actions=set_field:0x1/0xf->reg0,goto_table:10"
        );
    }

    #[test]
    fn dump_line_absent_and_odd_stats() {
        let d = FlowDesc { priority: DEFAULT_PRIORITY, flags: 0x1f, ..FlowDesc::default() };
        assert_eq!(
            flow_desc(&d, &PrintOptions::default()),
            " cookie=0x0, duration=4294967295.4294967295s, table=0, n_packets=?, n_bytes=?, send_flow_rem check_overlap reset_counts no_packet_counts no_byte_counts actions=drop"
        );
        let d = FlowDesc {
            priority: 0,
            stats: Stats { idle_time: Some(Duration { sec: 0x8000_0000, nsec: 0 }), ..Stats::default() },
            ..FlowDesc::default()
        };
        // An idle age that does not fit OVS's int is not printed.
        assert!(!flow_desc(&d, &PrintOptions::default()).contains("idle_age"));
        assert_eq!(flow_desc(&d, &PrintOptions { stats: false }), " priority=0 actions=drop");
    }

    #[test]
    fn add_flow_form() {
        let m = FlowMod { table_id: 10, priority: 50, r#match: Match { fields: vec![ip()] }, ..FlowMod::default() };
        assert_eq!(flow_mod(&m), "table=10, priority=50,ip actions=drop");
        assert_eq!(flow_mod(&FlowMod::default()), "actions=drop");
        let m = FlowMod { cookie: 5, idle_timeout: 9, ..FlowMod::default() };
        assert_eq!(flow_mod(&m), "cookie=0x5, idle_timeout=9, actions=drop");
    }

    #[test]
    fn ofp_print_flow_mod() {
        let base = FlowMod {
            table_id: 10,
            priority: 50,
            r#match: Match { fields: vec![ip(), fm(fields::IPV4_SRC, &[198, 18, 0, 0], &[255, 255, 255, 0])] },
            instructions: vec![Instruction::ApplyActions(vec![Action::output(PortNo(3))])],
            ..FlowMod::default()
        };
        assert_eq!(
            flow_mod_ofp_print(&base, 2),
            "OFPT_FLOW_MOD (OF1.5) (xid=0x2): ADD table:10 priority=50,ip,nw_src=198.18.0.0/24 actions=output:3"
        );
        let m = FlowMod {
            command: FlowModCommand::MODIFY,
            cookie: 5,
            cookie_mask: 0xff,
            idle_timeout: 1,
            hard_timeout: 2,
            importance: 3,
            buffer_id: 0x42,
            out_port: PortNo::LOCAL,
            flags: 1,
            ..base.clone()
        };
        assert_eq!(
            flow_mod_ofp_print(&m, 0x10),
            "OFPT_FLOW_MOD (OF1.5) (xid=0x10): MOD table:10 priority=50,ip,nw_src=198.18.0.0/24 cookie:0x5/0xff idle:1 hard:2 importance:3 buf:0x42 out_port:LOCAL send_flow_rem actions=output:3"
        );
        let m = FlowMod {
            command: FlowModCommand::DELETE_STRICT,
            cookie: 5,
            table_id: 0,
            r#match: Match::new(),
            priority: DEFAULT_PRIORITY,
            ..base.clone()
        };
        assert_eq!(flow_mod_ofp_print(&m, 1), "OFPT_FLOW_MOD (OF1.5) (xid=0x1): DEL_STRICT actions=output:3");
        let m = FlowMod { cookie: 0xabc, ..base.clone() };
        assert!(flow_mod_ofp_print(&m, 1).contains(" cookie:0xabc actions="));
        let m = FlowMod { command: FlowModCommand(9), ..base };
        assert!(flow_mod_ofp_print(&m, 1).contains("): cmd:9 table:10 "));
    }
}
