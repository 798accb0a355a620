//! The `ovs-ofctl` flow text dialect: printing flows exactly as
//! `ovs-ofctl -O OpenFlow15 dump-flows` does ([`print`]), and parsing
//! `add-flow` syntax ([`parse`]).

pub mod parse;
pub mod print;

pub use parse::{flow, flow_criteria, flows_file, ParseError};
pub use print::PrintOptions;
