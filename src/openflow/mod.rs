//! Async OpenFlow 1.5 session to `ovs-vswitchd` (tokio).
