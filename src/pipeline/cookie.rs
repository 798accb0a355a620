//! Cookie layout, 64 bits: `round (16) | category (8) | magic (8) | object id (32)`.
//!
//! The magic byte marks a flow as podflow's: flows whose cookie lacks it are
//! foreign and never touched. The round lets the agent delete a previous
//! round's leftovers with one cookie-masked delete.
//!
//! Shared by the pod pipeline and the uplink bridge's flows: one layout, so
//! no two writers can produce the same cookie.

pub const MAGIC: u64 = 0x9f;
pub const ROUND_SHIFT: u32 = 48;
pub const CATEGORY_SHIFT: u32 = 40;
pub const MAGIC_SHIFT: u32 = 32;

/// Base pipeline flows (table-miss drops, gateway flows).
pub const CATEGORY_BASE: u8 = 1;
/// A pod's flows; the object id is the pod's OpenFlow port.
pub const CATEGORY_POD: u8 = 2;
/// A secondary (uplink) bridge's forwarding flows, always round 0; the
/// object id is the uplink's OpenFlow port. They live on another
/// bridge than the pod pipeline's, and are replaced as one set.
pub const CATEGORY_UPLINK: u8 = 3;
/// The conntrack flows that send replies of connections from the gateway
/// back to it (Services through the host's kube-proxy); part of the base
/// bundle, object id the gateway's port (0 for table-miss flows).
pub const CATEGORY_SERVICE: u8 = 4;
/// Geneve mode's flows for the peers (`tunnel.rs`); the object id is a
/// hash of the peer's name (`tunnel::peer_object`), 0 for the tunnel
/// port's own flows. A peer that leaves is deleted by its object id.
pub const CATEGORY_PEER: u8 = 5;

pub fn make(round: u16, category: u8, object: u32) -> u64 {
    (round as u64) << ROUND_SHIFT | (category as u64) << CATEGORY_SHIFT | MAGIC << MAGIC_SHIFT | object as u64
}

/// Mask selecting all of podflow's flows.
pub const MAGIC_MASK: u64 = 0xff << MAGIC_SHIFT;
/// Mask selecting one object's flows of one category, any round.
pub const OBJECT_MASK: u64 = 0xff << CATEGORY_SHIFT | MAGIC_MASK | 0xffff_ffff;

pub fn round_of(cookie: u64) -> u16 {
    (cookie >> ROUND_SHIFT) as u16
}

pub fn is_ours(cookie: u64) -> bool {
    (cookie >> MAGIC_SHIFT) & 0xff == MAGIC
}
