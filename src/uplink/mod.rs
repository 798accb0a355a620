//! Moving a node's physical uplink into a secondary OVS bridge, crash-safe
//! and with rollback (see `docs/uplink.md`). This module owns the journal
//! and the order of steps; it never removes `flow-restore-wait` (the
//! agent's gate does) and never attaches a NIC to a bridge whose flows are
//! not acknowledged.

pub mod journal;
