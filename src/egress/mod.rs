//! Egress masquerade: pods' traffic to addresses outside the cluster's pod
//! CIDRs leaves the node with the node's address, by rules in the kernel's
//! nftables, in one table the agent owns ([`rules::TABLE`], family `inet`).
//!
//! - [`rules`]: what the table holds, as the JSON `nft -j` reads (pure);
//! - [`nft`]: runs one such script with `nft -j -f -`, one transaction.
//!
//! The table is re-created at every agent start in one transaction (no
//! moment without it, nothing left of a previous version) and removed by
//! `podflow agent --cleanup`. Nothing here ever names another table:
//! foreign tables, chains and rules (kube-proxy's, the node's firewall)
//! are never read, changed or flushed.

pub mod nft;
pub mod rules;

pub use nft::{apply, NftError};
pub use rules::{EgressRules, RulesError, TABLE};

/// Re-creates the agent's table from `rules` (one transaction).
pub async fn install(rules: &EgressRules) -> Result<(), NftError> {
    apply(&rules.install_script()).await
}

/// Removes the agent's table if it exists (one transaction); nothing else.
pub async fn cleanup() -> Result<(), NftError> {
    apply(&rules::remove_script()).await
}
