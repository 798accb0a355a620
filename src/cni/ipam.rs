//! Delegation to the IPAM plugin named in the network configuration, as
//! the CNI spec describes: same environment, same configuration on stdin,
//! the plugin found in `CNI_PATH`.

use super::types::{code, CniError, CniResult};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

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
/// Waits as long as the plugin takes: the CNI plugin's caller (the
/// runtime) bounds the whole invocation.
pub fn exec(plugin: &str, command: &str, config: &[u8], env: &[(String, String)], cni_path: &str) -> Result<Option<CniResult>, CniError> {
    exec_within(plugin, command, config, env, cni_path, None)
}

/// [`exec`] for a caller nobody bounds (the agent releasing a lease at
/// start): the plugin runs in its own process group, and when `limit`
/// passes the whole group is killed and reaped, so neither the plugin nor
/// a child it started (which would keep its output pipes open) outlives
/// the call, and the calling thread ends.
pub fn exec_within(plugin: &str, command: &str, config: &[u8], env: &[(String, String)], cni_path: &str, limit: Option<Duration>) -> Result<Option<CniResult>, CniError> {
    let bin = find(plugin, cni_path)?;
    let mut cmd = Command::new(&bin);
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("CNI_COMMAND", command)
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if limit.is_some() {
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| CniError::new(code::IO_FAILURE, format!("cannot run IPAM plugin {}: {e}", bin.display())))?;
    let written = child.stdin.take().expect("stdin is piped").write_all(config);
    let out = match limit {
        None => {
            written.map_err(|e| CniError::new(code::IO_FAILURE, format!("cannot write to IPAM plugin: {e}")))?;
            child.wait_with_output().map_err(|e| CniError::new(code::IO_FAILURE, format!("IPAM plugin failed: {e}")))?
        }
        Some(limit) => wait_within(child, written, plugin, command, limit)?,
    };
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

/// Waits for `child` (the leader of its own process group) until `limit`;
/// past it, kills the group and reaps the child. Its output is read by two
/// threads, which end once every holder of the pipes is gone. The child is
/// reaped only after the group was dealt with: until then its id (and so
/// the group's) cannot be given to another process.
fn wait_within(mut child: Child, written: std::io::Result<()>, plugin: &str, command: &str, limit: Duration) -> Result<Output, CniError> {
    let (tx, rx) = std::sync::mpsc::channel::<(bool, Vec<u8>)>();
    for (is_out, r) in [(true, child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>)), (false, child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>))] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            let _ = tx.send((is_out, buf));
        });
    }
    drop(tx);
    let deadline = Instant::now() + limit;
    let exited = loop {
        if exited_unreaped(&child) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut got = 0;
    if exited {
        // A child the plugin left behind may hold the pipes until the deadline.
        while got < 2 {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((true, b)) => (stdout, got) = (b, got + 1),
                Ok((false, b)) => (stderr, got) = (b, got + 1),
                Err(_) => break,
            }
        }
    }
    if got < 2 {
        kill_group(&child);
    }
    let status = child.wait();
    while got < 2 {
        match rx.recv() {
            Ok((true, b)) => (stdout, got) = (b, got + 1),
            Ok((false, b)) => (stderr, got) = (b, got + 1),
            Err(_) => break,
        }
    }
    if !exited {
        return Err(CniError::new(code::IO_FAILURE, format!("IPAM plugin {plugin} {command} did not finish within {limit:?}; it was killed")));
    }
    let status = status.map_err(|e| CniError::new(code::IO_FAILURE, format!("cannot wait for IPAM plugin {plugin}: {e}")))?;
    written.map_err(|e| CniError::new(code::IO_FAILURE, format!("cannot write to IPAM plugin: {e}")))?;
    Ok(Output { status, stdout, stderr })
}

/// Whether `child` has exited, leaving it a zombie (not reaped).
fn exited_unreaped(child: &Child) -> bool {
    // SAFETY: waitid on our own child with WNOWAIT only reads its state;
    // `info` is a plain C struct the call fills in.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(libc::P_PID, child.id(), &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT);
        r == 0 && info.si_pid() != 0
    }
}

/// SIGKILL to the process group that `child` leads (its own id).
fn kill_group(child: &Child) {
    let Ok(pgid) = i32::try_from(child.id()) else { return };
    // SAFETY: a signal to the process group of a child we spawned as its
    // leader (`process_group(0)`) and have not reaped, so the id is still ours.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn plugin(dir: &std::path::Path, name: &str, body: &str) {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_plugin_past_its_limit_is_killed_with_its_children_and_one_in_time_answers() {
        let dir = std::env::temp_dir().join(format!("podflow-ipam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pids = dir.join("pids");
        plugin(&dir, "hang", &format!("echo $$ >> {p}\nsleep 600 &\necho $! >> {p}\nwait", p = pids.display()));
        plugin(&dir, "quick", r#"cat >/dev/null; echo '{"cniVersion":"1.0.0","ips":[{"address":"198.18.0.5/24"}]}'"#);
        let path = dir.display().to_string();
        // Long enough for a loaded machine to start both before the limit.
        let e = exec_within("hang", "DEL", b"{}", &[], &path, Some(Duration::from_secs(2))).unwrap_err();
        assert!(e.msg.contains("did not finish within"), "{e:?}");
        let pids: Vec<i32> = std::fs::read_to_string(&pids).unwrap().lines().map(|l| l.trim().parse().unwrap()).collect();
        assert_eq!(pids.len(), 2);
        // SIGKILL is delivered when kill() returns, but a loaded machine may
        // take a moment to tear the process down; without the kill it would
        // live for 600 s.
        let gone = || pids.iter().all(|&p| crate::sandbox::exited(p));
        let _ = crate::sandbox::wait_for(gone, Duration::from_secs(5), "the killed plugin");
        assert!(gone(), "{pids:?} outlived the limit");
        let r = exec_within("quick", "ADD", b"{}", &[], &path, Some(Duration::from_secs(10))).unwrap().unwrap();
        assert_eq!(r.ips[0].address, "198.18.0.5/24");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
