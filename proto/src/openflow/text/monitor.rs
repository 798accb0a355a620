//! The flow monitor in the `ovs-ofctl` text dialect: the `watch:` argument
//! of `ovs-ofctl monitor` (parsed into a [`FlowMonitorRequest`]) and the
//! updates as `ovs-ofctl -O OpenFlow15 monitor` prints them.
//!
//! `watch:[!initial][,!add][,!delete][,!modify][,!actions][,!own][,MATCH]`
//! where MATCH may carry `table=N` and `out_port=P`. Like Open vSwitch,
//! the default flags are initial, add, delete, modify, actions and own.

use super::super::instruction::Instruction;
use super::super::monitor::{event, flags, FlowMonitorRequest, FlowUpdate, UpdatedFlow, COMMAND_ADD};
use super::parse::{flow_criteria, ParseError};
use std::fmt::Write as _;

/// Parses the text after `watch:` into the monitor request `monitor_id`.
pub fn watch(spec: &str, monitor_id: u32) -> Result<FlowMonitorRequest, ParseError> {
    let mut f = flags::INITIAL | flags::ADD | flags::REMOVED | flags::MODIFY | flags::INSTRUCTIONS | flags::ONLY_OWN;
    // The `!` words are cut out and replaced by blanks, so that columns
    // of errors in the match still point into `spec`.
    let mut rest = String::with_capacity(spec.len());
    for (i, word) in spec.split(',').enumerate() {
        if i > 0 {
            rest.push(',');
        }
        let bit = match word.trim() {
            "!initial" => flags::INITIAL,
            "!add" => flags::ADD,
            "!delete" => flags::REMOVED,
            "!modify" => flags::MODIFY,
            "!actions" => flags::INSTRUCTIONS,
            "!abbrev" => flags::NO_ABBREV,
            "!own" => flags::ONLY_OWN,
            _ => {
                rest.push_str(word);
                continue;
            }
        };
        f &= !bit;
        rest.push_str(&" ".repeat(word.len()));
    }
    let c = flow_criteria(&rest)?;
    Ok(FlowMonitorRequest {
        monitor_id,
        out_port: c.out_port,
        out_group: c.out_group,
        flags: f,
        table_id: c.table_id,
        command: COMMAND_ADD,
        r#match: c.r#match,
    })
}

fn reason(r: u8) -> String {
    match r {
        0 => "idle".into(),
        1 => "hard".into(),
        2 => "delete".into(),
        3 => "group_delete".into(),
        4 => "eviction".into(),
        5 => "meter_delete".into(),
        n => n.to_string(),
    }
}

/// One update as `ovs-ofctl` prints it, with its leading space
/// (` event=ADDED table=3 cookie=0 ip,nw_dst=10.0.0.1 actions=output:2`).
pub fn update(u: &FlowUpdate) -> String {
    let (ev, flow) = match u {
        FlowUpdate::Full { event, flow } => (*event, flow),
        FlowUpdate::Abbrev { xid } => return format!(" event=ABBREV xid={xid:#x}"),
        FlowUpdate::Paused => return " event=PAUSED".into(),
        FlowUpdate::Resumed => return " event=RESUMED".into(),
        FlowUpdate::Other { event, .. } => return format!(" event={event}"),
    };
    let mut s = String::from(" event=");
    match ev {
        event::INITIAL => s.push_str("INITIAL"),
        event::ADDED => s.push_str("ADDED"),
        event::REMOVED => {
            let _ = write!(s, "DELETED reason={}", reason(flow.reason));
        }
        _ => s.push_str("MODIFIED"),
    }
    full_flow(&mut s, flow);
    s
}

fn full_flow(s: &mut String, f: &UpdatedFlow) {
    let _ = write!(s, " table={}", f.table_id);
    if f.idle_timeout != 0 {
        let _ = write!(s, " idle_timeout={}", f.idle_timeout);
    }
    if f.hard_timeout != 0 {
        let _ = write!(s, " hard_timeout={}", f.hard_timeout);
    }
    if f.cookie == 0 {
        s.push_str(" cookie=0 ");
    } else {
        let _ = write!(s, " cookie={:#x} ", f.cookie);
    }
    // Open vSwitch prints the match as if the priority were the default.
    s.push_str(&super::print::match_fields(&f.r#match, 0x8000));
    let no_actions = f.instructions.iter().all(|i| matches!(i, Instruction::ApplyActions(a) if a.is_empty()));
    if !no_actions {
        if !s.ends_with(' ') {
            s.push(' ');
        }
        s.push_str("actions=");
        s.push_str(&super::print::instructions(&f.instructions));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openflow::action::Action;
    use crate::openflow::group::GROUP_ANY;
    use crate::openflow::oxm::{fields, Match, OxmField};
    use crate::openflow::port::PortNo;

    #[test]
    fn watch_defaults_and_options() {
        let r = watch("", 1).unwrap();
        assert_eq!((r.flags, r.table_id, r.out_port, r.out_group), (0x5f, 255, PortNo::ANY, GROUP_ANY));
        let r = watch("!initial,!own,table=3,ip", 2).unwrap();
        assert_eq!((r.flags, r.table_id, r.monitor_id), (0x1e, 3, 2));
        assert_eq!(r.r#match.fields.len(), 1);
        let e = watch("!initial,bogus=1", 1).unwrap_err();
        assert_eq!(e.column, 10);
    }

    #[test]
    fn updates_print_like_ovs_ofctl() {
        let m = Match {
            fields: vec![OxmField::new(fields::ETH_TYPE, 0x0800u16.to_be_bytes()), OxmField::new(fields::IPV4_DST, [10, 0, 0, 1])],
        };
        let flow = UpdatedFlow {
            table_id: 3,
            priority: 7,
            r#match: m.clone(),
            instructions: vec![Instruction::ApplyActions(vec![Action::Output { port: PortNo(2), max_len: 0 }])],
            ..UpdatedFlow::default()
        };
        assert_eq!(update(&FlowUpdate::Full { event: event::ADDED, flow: flow.clone() }), " event=ADDED table=3 cookie=0 ip,nw_dst=10.0.0.1 actions=output:2");
        let del = UpdatedFlow { reason: 2, instructions: vec![], ..flow };
        assert_eq!(update(&FlowUpdate::Full { event: event::REMOVED, flow: del }), " event=DELETED reason=delete table=3 cookie=0 ip,nw_dst=10.0.0.1");
        let all = UpdatedFlow { instructions: vec![Instruction::ApplyActions(vec![Action::Output { port: PortNo::NORMAL, max_len: 0 }])], ..UpdatedFlow::default() };
        assert_eq!(update(&FlowUpdate::Full { event: event::INITIAL, flow: all }), " event=INITIAL table=0 cookie=0 actions=NORMAL");
        assert_eq!(update(&FlowUpdate::Abbrev { xid: 0x12 }), " event=ABBREV xid=0x12");
    }
}
