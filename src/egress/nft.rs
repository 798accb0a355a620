//! Runs an nftables JSON script with `nft -j -f -` (Debian's `nftables`
//! package): the whole script is one kernel transaction, applied entirely
//! or not at all. The only I/O of the egress module; it decides nothing.

use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// The program run; `nft` from `PATH`.
pub const NFT: &str = "nft";

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("cannot run `nft` (is the nftables package installed?): {0}")]
    Spawn(std::io::Error),
    #[error("`nft -j -f -` failed while podflow talked to it: {0}")]
    Io(std::io::Error),
    #[error("nft refused podflow's egress rules ({status}): {stderr}")]
    Refused { status: std::process::ExitStatus, stderr: String },
}

/// Applies `script` (a `{"nftables": [...]}` document) in the caller's
/// network namespace as one transaction.
pub async fn apply(script: &serde_json::Value) -> Result<(), NftError> {
    let mut child = tokio::process::Command::new(NFT)
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(NftError::Spawn)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let text = serde_json::to_vec(script).expect("a JSON value serializes");
    stdin.write_all(&text).await.map_err(NftError::Io)?;
    drop(stdin);
    let out = child.wait_with_output().await.map_err(NftError::Io)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(NftError::Refused { status: out.status, stderr });
    }
    Ok(())
}
