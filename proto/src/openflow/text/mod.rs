//! The `ovs-ofctl` flow text dialect: printing flows exactly as
//! `ovs-ofctl -O OpenFlow15 dump-flows` does, and parsing `add-flow` syntax.

pub mod parse;

pub use parse::{flow, flow_criteria, flows_file, ParseError};
