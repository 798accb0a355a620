//! The `ovs-ofctl` flow text dialect: printing flows exactly as
//! `ovs-ofctl -O OpenFlow15 dump-flows` does ([`print`]), and parsing
//! `add-flow` syntax ([`parse`]), comparing flow sets as `diff-flows` does
//! ([`diff`]), split by concern: [`lex`] (positions,
//! key/value splitting, numbers), [`names`] (name tables shared by both
//! directions), [`value`] (field values and subfields), [`matching`],
//! [`actions`] and [`ct`]; [`ports`] resolves and shows port names.

mod actions;
mod ct;
pub mod diff;
mod encap;
mod ext_actions;
pub mod group;
mod hash_actions;
mod learn;
mod lex;
mod matching;
pub mod meter;
pub mod monitor;
mod names;
pub mod parse;
pub mod ports;
pub mod stats;
pub mod tlv;
pub mod print;
mod value;

pub use parse::{flow, flow_criteria, flow_delete, flow_line, flow_modify, flows_file, ParseError};
pub use ports::{with_port_map, with_port_names, PortMap};
pub use print::PrintOptions;
