//! Printing flows exactly as `ovs-ofctl -O OpenFlow15 dump-flows` (Open
//! vSwitch 3.1) prints them, and FLOW_MOD messages as `ovs-ofctl ofp-print`
//! does.
//!
//! Open vSwitch does not print a match in OXM order: it first turns the OXM
//! fields into its internal "flow + wildcards" view (where, for example,
//! `ip_dscp` and `nw_ecn` share the `nw_tos` byte, all transport ports live
//! in `tp_src`/`tp_dst` and the 64-bit packet registers are pairs of 32-bit
//! registers) and prints that view in a fixed order. [`match_fields`] builds
//! the same view ([`FlowView`]) and prints it in the same order.
//!
//! Fields and actions that podflow does not know (and that Open vSwitch
//! would refuse) still print, in a stable raw form:
//! `OXM(0x8000,120)=0x07`, `experimenter(0x1234,data=09.09)`,
//! `unknown_action(type=11,data=00.00.00.00)`,
//! `unknown_instruction(type=7,data=01.02.03.04)`.
//!
//! Split by concern: [`values`] (numbers, addresses, masks, flags, field
//! values, subfields), [`matching`] (the match, in Open vSwitch's order),
//! [`actions`] (actions and instructions), [`ct`] (`ct` and `nat`),
//! [`flow`] (whole flows and FLOW_MOD messages).
//!
//! Each printer appends to a caller's `String` (`write_*`) and builds no
//! text of its own on the side: a dump prints every line of a reply into
//! one reused buffer. The `-> String` functions are thin wrappers for
//! callers that want one value.

mod actions;
mod ct;
mod flow;
mod matching;
mod values;

pub use actions::{action, actions, instructions, write_action, write_actions, write_instructions};
pub use flow::{duration, flow_desc, FlowDescPrinter, RECENT_LISTS, flow_mod, flow_mod_ofp_print, write_duration, write_flow_desc, write_flow_mod};
pub use matching::{match_fields, write_match, FlowView};
pub(super) use values::{write_field_bytes, write_port, write_port16, write_subfield};

use crate::openflow::port::PortNo;

/// A port as [`write_port`] prints it.
pub(super) fn port(p: PortNo) -> String {
    values::to_string(|s| write_port(s, p))
}

/// How [`flow_desc`] prints a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintOptions {
    /// Print cookie, duration, table, counters and ages like `dump-flows`;
    /// `false` is the `--no-stats` form.
    pub stats: bool,
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions { stats: true }
    }
}

/// The first line of a `dump-flows` reply.
pub fn flow_stats_header(xid: u32) -> String {
    values::to_string(|s| write_reply_header(s, "OFPST_FLOW", xid, 0))
}

/// The header `ovs-ofctl` prints for one multipart reply message of kind
/// `what` (`OFPST_FLOW`): xid, then its flags (`[more]`).
pub fn write_reply_header(s: &mut String, what: &str, xid: u32, flags: u16) {
    s.push_str(what);
    s.push_str(" reply (OF1.5) (xid=");
    values::hex0x(s, xid.into());
    s.push_str("):");
    if flags != 0 {
        s.push_str(" flags=");
        if flags & crate::openflow::multipart::MORE != 0 {
            s.push_str("[more]");
        }
        let rest = flags & !crate::openflow::multipart::MORE;
        if rest != 0 {
            s.push_str("[***unknown flags 0x");
            values::hex_pad(s, rest.into(), 4);
            s.push_str("***]");
        }
    }
}

#[cfg(test)]
mod testutil {
    //! Builders shared by the submodules' tests.
    use crate::openflow::action::{Action, Subfield};
    use crate::openflow::flow::DEFAULT_PRIORITY;
    use crate::openflow::oxm::{fields, Match, OxmField, OxmId};

    pub(super) fn f(id: OxmId, v: &[u8]) -> OxmField {
        OxmField::new(id, v.to_vec())
    }
    pub(super) fn fm(id: OxmId, v: &[u8], m: &[u8]) -> OxmField {
        OxmField::masked(id, v.to_vec(), m.to_vec())
    }
    pub(super) fn mt(fields: Vec<OxmField>) -> String {
        super::match_fields(&Match { fields }, DEFAULT_PRIORITY)
    }
    pub(super) fn ip() -> OxmField {
        f(fields::ETH_TYPE, &[0x08, 0x00])
    }
    pub(super) fn ip6() -> OxmField {
        f(fields::ETH_TYPE, &[0x86, 0xdd])
    }
    pub(super) fn proto(p: u8) -> OxmField {
        f(fields::IP_PROTO, &[p])
    }
    pub(super) fn sf(field: OxmId, ofs: u16, n_bits: u16) -> Subfield {
        Subfield { field, ofs, n_bits }
    }

    pub(super) fn a(x: Action) -> String {
        super::action(&x)
    }
}
