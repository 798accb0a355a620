//! OpenFlow 1.5: wire messages ([`message`]), match fields ([`oxm`]),
//! instructions and actions, and the `ovs-ofctl` flow text dialect
//! ([`text`]).
//!
//! Decoders never panic on peer input and never trust a length field
//! beyond the bytes in front of them; unknown types, fields and actions are
//! kept as raw bytes so they survive a decode/encode round trip.

pub mod action;
pub mod bundle;
pub mod error;
mod error_codes;
pub mod flow;
pub mod group;
pub mod instruction;
pub mod message;
pub mod meter;
pub mod monitor;
pub mod multipart;
pub mod oxm;
pub mod oxs;
pub mod packet;
pub mod port;
pub mod switch;
pub mod tlv;
pub mod text;

/// The OpenFlow 1.5 version byte.
pub const OFP_VERSION: u8 = 0x06;

pub use action::Action;
pub use flow::{FlowDesc, FlowMod, FlowModCommand};
pub use instruction::Instruction;
pub use message::{frame_len, Header, Message};
pub use oxm::{Match, OxmField, OxmId};
pub use port::PortNo;
