//! A private userspace Open vSwitch (ovsdb-server + ovs-vswitchd) inside a
//! network namespace of its own, in a temporary run directory. Used by the
//! integration tests and by `podflow demo`.
//!
//! It only ever stops processes it started (by the PIDs in its own
//! pidfiles) and only deletes the namespace and directory it created, also
//! when dropped after a failure, and when a signal ends a process that
//! asked for it ([`leftovers`]).

pub mod leftovers;
pub mod workload;

pub use leftovers::{clean_up_on_signals, Leftover, Registration};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Why a sandbox could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot run a sandbox here: {0}")]
    Unavailable(String),
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out waiting for {0}")]
    Timeout(String),
}

/// A running private Open vSwitch.
#[derive(Debug)]
pub struct Sandbox {
    /// Network namespace that `ovs-vswitchd` runs in.
    pub netns: String,
    /// Run directory: sockets, pidfiles, logs, the database.
    pub dir: PathBuf,
    keep: bool,
    extra_netns: Vec<String>,
    /// What a signal that ends the process removes ([`leftovers`]).
    leftovers: Option<Registration>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Checks that this machine can run a sandbox (root, OVS binaries, `ip`).
/// Returns the reason when it cannot.
pub fn unavailable_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    for bin in ["ovsdb-server", "ovs-vswitchd", "ovsdb-tool", "ovs-vsctl", "ovs-ofctl", "ip"] {
        if which(bin).is_none() {
            return Some(format!("`{bin}` is not installed (apt-get install openvswitch-switch iproute2)"));
        }
    }
    if !Path::new(SCHEMA).exists() {
        return Some(format!("{SCHEMA} is missing"));
    }
    None
}

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).map(|d| d.join(bin)).find(|c| c.is_file())
    })
}

/// Runs a command, failing with its stderr.
pub fn run(cmd: &mut Command) -> Result<Output, SandboxError> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        return Err(SandboxError::Command {
            cmd: format!("{cmd:?}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

impl Sandbox {
    /// Starts ovsdb-server and ovs-vswitchd in a new namespace named after
    /// `tag` (unique per process and call).
    pub fn start(tag: &str) -> Result<Sandbox, SandboxError> {
        if let Some(why) = unavailable_reason() {
            return Err(SandboxError::Unavailable(why));
        }
        let _creating = leftovers::creating();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let short: String = tag.chars().filter(|c| c.is_ascii_alphanumeric()).take(12).collect();
        let netns = format!("pf-{short}-{}-{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("podflow-{netns}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let leftovers = leftovers::register([
            Leftover::Pidfile(dir.join("ovs-vswitchd.pid")),
            Leftover::Pidfile(dir.join("ovsdb-server.pid")),
            Leftover::Netns(netns.clone()),
            Leftover::Dir(dir.clone()),
        ]);
        let sb = Sandbox { netns: netns.clone(), dir, keep: false, extra_netns: vec![], leftovers: Some(leftovers) };
        run(Command::new("ip").args(["netns", "add", &netns]))?;
        run(Command::new("ip").args(["-n", &netns, "link", "set", "lo", "up"]))?;
        run(Command::new("ovsdb-tool").arg("create").arg(sb.dir.join("conf.db")).arg(SCHEMA))?;
        sb.spawn_ovsdb()?;
        run(sb.vsctl_cmd().args(["--no-wait", "init"]))?;
        sb.spawn_vswitchd(&[])?;
        Ok(sb)
    }

    fn ovs_env(&self, cmd: &mut Command) {
        cmd.env("OVS_RUNDIR", &self.dir).env("OVS_LOGDIR", &self.dir).env("OVS_DBDIR", &self.dir);
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `unix:<dir>/db.sock`.
    pub fn db_addr(&self) -> String {
        format!("unix:{}", self.path("db.sock").display())
    }

    /// The bridge management socket path.
    pub fn mgmt(&self, bridge: &str) -> PathBuf {
        crate::dial::addr::bridge_mgmt_path(&self.dir, bridge)
    }

    /// `unix:<dir>/<bridge>.mgmt`.
    pub fn mgmt_addr(&self, bridge: &str) -> String {
        crate::dial::Addr::bridge_mgmt(&self.dir, bridge).to_string()
    }

    /// Starts ovsdb-server (again, after [`Sandbox::kill_ovsdb`]).
    pub fn start_ovsdb(&self) -> Result<(), SandboxError> {
        let _creating = leftovers::creating();
        self.spawn_ovsdb()
    }

    fn spawn_ovsdb(&self) -> Result<(), SandboxError> {
        let d = &self.dir;
        let mut c = Command::new("ovsdb-server");
        self.ovs_env(&mut c);
        c.arg(d.join("conf.db"))
            .arg(format!("--remote=punix:{}", d.join("db.sock").display()))
            .arg(format!("--pidfile={}", d.join("ovsdb-server.pid").display()))
            .arg(format!("--unixctl={}", d.join("ovsdb-server.ctl").display()))
            .arg(format!("--log-file={}", d.join("ovsdb-server.log").display()))
            .arg("--detach");
        run(&mut c)?;
        wait_for(|| d.join("db.sock").exists(), Duration::from_secs(10), "ovsdb-server socket")
    }

    /// Starts ovs-vswitchd inside the namespace.
    pub fn start_vswitchd(&self) -> Result<(), SandboxError> {
        self.start_vswitchd_with(&[])
    }

    /// Starts ovs-vswitchd with `extra` options (e.g. `--enable-dummy`,
    /// which makes `type=dummy` interfaces: real `Interface` rows with
    /// OpenFlow ports and no kernel device).
    pub fn start_vswitchd_with(&self, extra: &[&str]) -> Result<(), SandboxError> {
        let _creating = leftovers::creating();
        self.spawn_vswitchd(extra)
    }

    fn spawn_vswitchd(&self, extra: &[&str]) -> Result<(), SandboxError> {
        let d = &self.dir;
        let mut c = Command::new("ip");
        self.ovs_env(&mut c);
        c.args(["netns", "exec", &self.netns, "ovs-vswitchd"])
            .arg(format!("unix:{}", d.join("db.sock").display()))
            .arg(format!("--pidfile={}", d.join("ovs-vswitchd.pid").display()))
            .arg(format!("--unixctl={}", d.join("ovs-vswitchd.ctl").display()))
            .arg(format!("--log-file={}", d.join("ovs-vswitchd.log").display()))
            .args(extra)
            .arg("--detach");
        run(&mut c)?;
        Ok(())
    }

    fn pid_of(&self, daemon: &str) -> Option<i32> {
        daemon_pid(&self.path(&format!("{daemon}.pid")))
    }

    /// PID of the running ovs-vswitchd, if any.
    pub fn vswitchd_pid(&self) -> Option<i32> {
        self.pid_of("ovs-vswitchd")
    }

    /// Sends `signal` to a daemon we started (by its pidfile).
    pub fn signal(&self, daemon: &str, signal: &str) -> Result<(), SandboxError> {
        let pid = self
            .pid_of(daemon)
            .ok_or_else(|| SandboxError::Command { cmd: format!("signal {daemon}"), stderr: "not running (no pidfile, or its PID is no longer that daemon)".into() })?;
        run(Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()))?;
        Ok(())
    }

    /// `kill -9` ovs-vswitchd and wait until it is gone.
    pub fn kill_vswitchd(&self) -> Result<(), SandboxError> {
        self.kill_daemon("ovs-vswitchd")
    }

    /// `kill -9` ovsdb-server and wait until it is gone.
    pub fn kill_ovsdb(&self) -> Result<(), SandboxError> {
        self.kill_daemon("ovsdb-server")?;
        let _ = std::fs::remove_file(self.path("db.sock"));
        Ok(())
    }

    fn kill_daemon(&self, daemon: &str) -> Result<(), SandboxError> {
        if let Some(pid) = self.pid_of(daemon) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            wait_for(|| exited(pid), Duration::from_secs(10), daemon)?;
            let _ = std::fs::remove_file(self.path(&format!("{daemon}.pid")));
        }
        Ok(())
    }

    fn vsctl_cmd(&self) -> Command {
        let mut c = Command::new("ovs-vsctl");
        self.ovs_env(&mut c);
        c.arg(format!("--db={}", self.db_addr())).arg("--timeout=10");
        c
    }

    /// Runs `ovs-vsctl` against this sandbox; returns stdout.
    pub fn vsctl(&self, args: &[&str]) -> Result<String, SandboxError> {
        let out = run(self.vsctl_cmd().args(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `ovs-ofctl -O OpenFlow15 CMD <mgmt socket of bridge> ARGS`.
    pub fn ofctl(&self, cmd: &str, bridge: &str, args: &[&str]) -> Result<String, SandboxError> {
        let mut c = Command::new("ovs-ofctl");
        self.ovs_env(&mut c);
        c.args(["-O", "OpenFlow15", cmd]).arg(self.mgmt_addr(bridge)).args(args);
        let out = run(&mut c)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Adds a userspace (`netdev`) bridge with `fail_mode=secure` and waits
    /// for its management socket.
    pub fn add_bridge(&self, name: &str) -> Result<(), SandboxError> {
        self.vsctl(&["add-br", name, "--", "set", "bridge", name, "datapath_type=netdev", "fail_mode=secure"])?;
        let m = self.mgmt(name);
        wait_for(|| m.exists(), Duration::from_secs(10), "bridge management socket")
    }

    /// Runs a command inside the sandbox's namespace.
    pub fn exec(&self, args: &[&str]) -> Result<String, SandboxError> {
        let out = run(Command::new("ip").args(["netns", "exec", &self.netns]).args(args))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Creates another namespace that is removed with the sandbox.
    pub fn add_netns(&mut self, suffix: &str) -> Result<String, SandboxError> {
        let name = format!("{}-{suffix}", self.netns);
        let _creating = leftovers::creating();
        if let Some(l) = &self.leftovers {
            l.add(Leftover::Netns(name.clone()));
        }
        run(Command::new("ip").args(["netns", "add", &name]))?;
        self.extra_netns.push(name.clone());
        run(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]))?;
        Ok(name)
    }

    /// Leaves everything running when dropped (for `--keep`).
    pub fn keep(&mut self) {
        self.keep = true;
        self.leftovers = None;
    }

    /// Stops the daemons and removes the namespaces and the directory.
    pub fn stop(&mut self) {
        if self.keep {
            return;
        }
        let _ = self.kill_daemon("ovs-vswitchd");
        let _ = self.kill_daemon("ovsdb-server");
        for ns in self.extra_netns.drain(..).chain(std::iter::once(self.netns.clone())) {
            let _ = Command::new("ip").args(["netns", "delete", &ns]).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        self.keep = true;
        self.leftovers = None;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The PID in `pidfile`, if that process is still the daemon that wrote
/// it: Open vSwitch daemons name their pidfile on their command line, so a
/// stale file (left by a killed daemon) whose PID was reused by another
/// process is not believed, and that process is never signalled.
fn daemon_pid(pidfile: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let want = format!("--pidfile={}", pidfile.display());
    cmdline.split(|&b| b == 0).any(|arg| arg == want.as_bytes()).then_some(pid)
}

/// Whether process `pid` will never run again: gone from `/proc`, or a
/// zombie waiting for its parent to reap it.
pub fn exited(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// Polls `cond` every 10 ms until it holds or `limit` passes.
pub fn wait_for(mut cond: impl FnMut() -> bool, limit: Duration, what: &str) -> Result<(), SandboxError> {
    let t0 = Instant::now();
    while !cond() {
        if t0.elapsed() > limit {
            return Err(SandboxError::Timeout(what.to_string()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pidfile_is_believed_only_while_its_daemon_names_it() {
        let dir = std::env::temp_dir().join(format!("podflow-pidfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("d.pid");
        // A process that names the pidfile on its command line, as OVS
        // daemons do (the loop keeps `sh` from exec'ing its command).
        let mut named = Command::new("sh");
        named.args(["-c", "while :; do sleep 1; done", "sh"]).arg(format!("--pidfile={}", pidfile.display()));
        let mut child = named.spawn().unwrap();
        std::fs::write(&pidfile, format!("{}\n", child.id())).unwrap();
        // spawn() returns as the child execs, a moment before the kernel
        // sets up its new command line (empty until then; a CI run saw it).
        // A real daemon writes its pidfile long after that.
        let _ = wait_for(|| daemon_pid(&pidfile).is_some(), Duration::from_secs(5), "the child's command line");
        assert_eq!(daemon_pid(&pidfile), Some(child.id() as i32));
        // A stale file whose PID is now another process (this one).
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(daemon_pid(&pidfile), None);
        std::fs::write(&pidfile, "garbage").unwrap();
        assert_eq!(daemon_pid(&pidfile), None);
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
