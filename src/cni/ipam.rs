//! Delegation to the IPAM plugin named in the network configuration, as
//! the CNI spec describes: same environment, same configuration on stdin,
//! the plugin found in `CNI_PATH`.

use super::types::{code, CniError, CniResult};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Finds `plugin` in the `:`-separated `cni_path`.
pub fn find(plugin: &str, cni_path: &str) -> Result<PathBuf, CniError> {
    if plugin.contains('/') || plugin.contains("..") || plugin.is_empty() {
        return Err(CniError::new(code::INVALID_CONFIG, format!("invalid IPAM plugin name {plugin:?}")));
    }
    cni_path
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join(plugin))
        .find(|p| p.is_file())
        .ok_or_else(|| CniError::new(code::INVALID_CONFIG, format!("IPAM plugin {plugin:?} not found in CNI_PATH {cni_path:?}")))
}

/// Runs the IPAM plugin for `command` (ADD, DEL, CHECK) with `config` on
/// stdin. ADD returns the plugin's result; DEL and CHECK return `None`.
pub fn exec(plugin: &str, command: &str, config: &[u8], env: &[(String, String)], cni_path: &str) -> Result<Option<CniResult>, CniError> {
    let bin = find(plugin, cni_path)?;
    let mut child = Command::new(&bin)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("CNI_COMMAND", command)
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CniError::new(code::IO_FAILURE, format!("cannot run IPAM plugin {}: {e}", bin.display())))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(config)
        .map_err(|e| CniError::new(code::IO_FAILURE, format!("cannot write to IPAM plugin: {e}")))?;
    let out = child.wait_with_output().map_err(|e| CniError::new(code::IO_FAILURE, format!("IPAM plugin failed: {e}")))?;
    if !out.status.success() {
        // The plugin's own error object, when it printed one, is the best explanation.
        if let Ok(e) = serde_json::from_slice::<CniError>(&out.stdout) {
            return Err(e);
        }
        return Err(CniError::new(code::IO_FAILURE, format!("IPAM plugin {plugin} {command} failed"))
            .details(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    if command != "ADD" {
        return Ok(None);
    }
    serde_json::from_slice(&out.stdout)
        .map(Some)
        .map_err(|e| CniError::new(code::DECODE_FAILURE, format!("IPAM plugin {plugin} returned an unreadable result: {e}")))
}
