//! Comparing a switch's flows with a file's, as `ovs-ofctl diff-flows`
//! and `replace-flows` do: flows are identified by table, priority and
//! match (as printed, so field order does not matter) and are equal when
//! their `diff-flows` lines are. Pure: the caller fetches the switch's
//! flows and sends whatever changes it decides on.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use super::print;
use crate::openflow::flow::{flags, FlowDesc, FlowMod, FlowModCommand, TABLE_ALL};
use crate::openflow::instruction::Instruction;
use crate::openflow::message::Message;

/// What identifies a flow in a table: table, priority (highest first) and
/// the printed match.
type Key = (u8, Reverse<u16>, String);

/// One side's version of a flow.
#[derive(Debug)]
pub struct Version {
    /// The `ovs-ofctl diff-flows` line (without `-`/`+` and newline); two
    /// versions are equal when these are.
    pub text: String,
    /// Index into the file's flows, for file versions.
    pub file_index: Option<usize>,
    /// The switch's flow, for switch versions.
    pub desc: Option<FlowDesc>,
}

/// A flow as it is on the switch and in the file (either may be missing).
#[derive(Debug, Default)]
pub struct Entry {
    pub switch: Option<Version>,
    pub file: Option<Version>,
}

impl Entry {
    /// True when both sides hold the flow and it is the same.
    pub fn unchanged(&self) -> bool {
        matches!((&self.switch, &self.file), (Some(a), Some(b)) if a.text == b.text)
    }
}

/// `fte_version_format` of `ovs-ofctl`: `[table=N ]MATCH[ cookie=…]
/// [ idle_timeout=…][ hard_timeout=…][ importance=…] actions=…`.
fn diff_text(table: u8, match_text: &str, f: (u64, u16, u16, u16), instr: &[Instruction]) -> String {
    let (cookie, idle, hard, importance) = f;
    let mut s = String::with_capacity(match_text.len() + 100);
    if table != 0 {
        s.push_str(&format!("table={table} "));
    }
    s.push_str(match_text);
    if cookie != 0 {
        s.push_str(&format!(" cookie={cookie:#x}"));
    }
    if idle != 0 {
        s.push_str(&format!(" idle_timeout={idle}"));
    }
    if hard != 0 {
        s.push_str(&format!(" hard_timeout={hard}"));
    }
    if importance != 0 {
        s.push_str(&format!(" importance={importance}"));
    }
    s.push_str(" actions=");
    s.push_str(&print::instructions(instr));
    s
}

/// The flow as the switch will hold it: encoded and decoded again, so
/// that what the wire pads or normalises (e.g. `note` padding) compares
/// equal to the switch's copy.
pub fn canonical(fm: &FlowMod) -> Result<FlowMod, String> {
    let b = Message::FlowMod(fm.clone()).encode(0).map_err(|e| e.to_string())?;
    match Message::decode(&b) {
        Ok((_, Message::FlowMod(f))) => Ok(f),
        Ok((_, m)) => Err(format!("decodes as {}", m.name())),
        Err(e) => Err(e.to_string()),
    }
}

/// The switch's flows and the file's, side by side, in `diff-flows` order.
#[derive(Debug)]
pub struct Comparison {
    pub entries: BTreeMap<Key, Entry>,
}

impl Comparison {
    /// Pairs `switch`'s flows with `file`'s. A file flow that cannot be
    /// encoded fails with its index and why.
    pub fn new(switch: Vec<FlowDesc>, file: &[FlowMod]) -> Result<Comparison, (usize, String)> {
        let mut entries: BTreeMap<Key, Entry> = BTreeMap::new();
        for d in switch {
            let mt = print::match_fields(&d.r#match, d.priority);
            let text =
                diff_text(d.table_id, &mt, (d.cookie, d.idle_timeout, d.hard_timeout, d.importance), &d.instructions);
            let key = (d.table_id, Reverse(d.priority), mt);
            entries.entry(key).or_default().switch = Some(Version { text, file_index: None, desc: Some(d) });
        }
        for (i, fm) in file.iter().enumerate() {
            let c = canonical(fm).map_err(|e| (i, e))?;
            // As in ovs-ofctl, a flow without a table (or table=all) is in table 0.
            let table = if c.table_id == TABLE_ALL { 0 } else { c.table_id };
            let mt = print::match_fields(&c.r#match, c.priority);
            let text = diff_text(table, &mt, (c.cookie, c.idle_timeout, c.hard_timeout, c.importance), &c.instructions);
            let key = (table, Reverse(c.priority), mt);
            // A later line for the same flow replaces an earlier one.
            entries.entry(key).or_default().file = Some(Version { text, file_index: Some(i), desc: None });
        }
        Ok(Comparison { entries })
    }

    /// The `ovs-ofctl diff-flows` output: `-` lines for the switch's
    /// version, `+` for the file's, for every flow that differs.
    pub fn diff_lines(&self) -> String {
        let mut o = String::new();
        for e in self.entries.values().filter(|e| !e.unchanged()) {
            for (sign, v) in [('-', &e.switch), ('+', &e.file)] {
                if let Some(v) = v {
                    o.push(sign);
                    o.push_str(&v.text);
                    o.push('\n');
                }
            }
        }
        o
    }
}

/// What `replace-flows` sends so that the switch holds the file's flows:
/// deletes first, then adds, in comparison order.
#[derive(Debug, Default)]
pub struct Changes {
    /// DELETE_STRICT of each flow only on the switch, with its diff text.
    pub deletes: Vec<(FlowMod, String)>,
    /// Indexes into the file's flows of those to add (new or changed);
    /// send [`replacement`]s of them.
    pub adds: Vec<usize>,
    pub added: usize,
    pub modified: usize,
    pub unchanged: usize,
}

impl Comparison {
    /// The changes that turn the switch's flows into the file's.
    pub fn changes(&self) -> Changes {
        let mut c = Changes::default();
        for e in self.entries.values() {
            match (&e.switch, &e.file) {
                (Some(sw), None) => {
                    if let Some(d) = &sw.desc {
                        let fm = FlowMod {
                            command: FlowModCommand::DELETE_STRICT,
                            table_id: d.table_id,
                            priority: d.priority,
                            r#match: d.r#match.clone(),
                            ..FlowMod::default()
                        };
                        c.deletes.push((fm, sw.text.clone()));
                    }
                }
                (sw, Some(f)) => {
                    match sw {
                        None => c.added += 1,
                        Some(sw) if sw.text != f.text => c.modified += 1,
                        Some(_) => {
                            c.unchanged += 1;
                            continue;
                        }
                    }
                    c.adds.extend(f.file_index);
                }
                (None, None) => {}
            }
        }
        c
    }
}

/// The FLOW_MOD `replace-flows` sends for file flow `fm`: as `ovs-ofctl`
/// does, only `send_flow_rem` of its flags is kept (`check_overlap` would
/// refuse to replace a changed flow in place).
pub fn replacement(fm: &FlowMod) -> FlowMod {
    let mut f = fm.clone();
    f.flags &= flags::SEND_FLOW_REM;
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::text::parse;

    #[test]
    fn diff_text_like_fte_version_format() {
        let f = parse::flow("table=31,actions=output:65279").unwrap();
        let mt = |f: &FlowMod| print::match_fields(&f.r#match, f.priority);
        assert_eq!(diff_text(f.table_id, &mt(&f), (0, 0, 0, 0), &f.instructions), "table=31  actions=output:65279");
        let f = parse::flow("cookie=0x5,priority=5,idle_timeout=50,importance=3,actions=drop").unwrap();
        assert_eq!(
            diff_text(f.table_id, &mt(&f), (f.cookie, f.idle_timeout, f.hard_timeout, f.importance), &f.instructions),
            "priority=5 cookie=0x5 idle_timeout=50 importance=3 actions=drop"
        );
    }

    #[test]
    fn changes_delete_then_add_new_and_changed() {
        let file: Vec<FlowMod> = ["table=1,priority=5,ip,actions=drop", "table=1,priority=6,ip,check_overlap,actions=drop", "table=2,actions=drop"]
            .iter()
            .map(|l| parse::flow(l).unwrap())
            .collect();
        let desc = |l: &str| {
            let f = parse::flow(l).unwrap();
            FlowDesc { table_id: f.table_id, priority: f.priority, r#match: f.r#match, instructions: f.instructions, ..FlowDesc::default() }
        };
        let switch = vec![desc("table=1,priority=5,ip,actions=drop"), desc("table=1,priority=6,ip,actions=output:1"), desc("table=3,actions=drop")];
        let c = Comparison::new(switch, &file).unwrap().changes();
        assert_eq!((c.added, c.modified, c.unchanged), (1, 1, 1));
        assert_eq!(c.deletes.len(), 1);
        assert_eq!((c.deletes[0].0.command, c.deletes[0].0.table_id), (FlowModCommand::DELETE_STRICT, 3));
        assert_eq!(c.adds, vec![1, 2]);
        assert_eq!(replacement(&file[1]).flags, 0, "check_overlap is not sent");
    }
}
