//! What sandboxes and tests leave on the machine (detached daemons,
//! namespaces, directories), removed when the process is ended by SIGINT,
//! SIGTERM or SIGHUP, after this process's children (agents, plugins) are
//! killed.
//!
//! Why: `Drop` does not run when a signal ends a process, and Open vSwitch
//! runs detached, so an interrupted `cargo test` or benchmark left
//! `ovsdb-server`/`ovs-vswitchd` running in namespaces nothing would
//! delete.
//!
//! Opt-in ([`clean_up_on_signals`]): it takes over those three signals for
//! the whole process, which the agent and the demo handle themselves.
//! Registering is always allowed and costs a lock; without the handler it
//! does nothing more.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, Once, PoisonError, RwLock, RwLockReadGuard};

/// Something to remove if a signal ends the process.
#[derive(Debug, Clone)]
pub enum Leftover {
    /// A daemon we started, by its pidfile (read at cleanup time).
    Pidfile(PathBuf),
    Netns(String),
    Dir(PathBuf),
}

/// Leftovers registered together; dropping it unregisters them (their
/// owner removed them, or keeps them on purpose).
#[derive(Debug)]
pub struct Registration(u64);

static NEXT: AtomicU64 = AtomicU64::new(0);
static LIVE: Mutex<Vec<(u64, Leftover)>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<(u64, Leftover)>> {
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `items`, to be removed if a signal ends the process.
pub fn register(items: impl IntoIterator<Item = Leftover>) -> Registration {
    let r = Registration(NEXT.fetch_add(1, Ordering::Relaxed));
    live().extend(items.into_iter().map(|i| (r.0, i)));
    r
}

impl Registration {
    /// Adds one more item to this registration.
    pub fn add(&self, item: Leftover) {
        live().push((self.0, item));
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        live().retain(|(id, _)| *id != self.0);
    }
}

/// Held (shared) while something that leaves things behind is being
/// created and registered; the cleanup takes it exclusively and never
/// gives it back, so nothing is started after it looked and nothing is
/// half-registered when it does.
static CREATING: RwLock<()> = RwLock::new(());

/// Hold the returned guard while starting daemons or creating namespaces
/// and registering them. Do not nest: take it once per operation.
pub fn creating() -> RwLockReadGuard<'static, ()> {
    CREATING.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write end of the pipe the signal handler writes the signal number to.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let b = sig as u8;
    // SAFETY: write(2) on a non-blocking pipe is async-signal-safe; errno
    // is put back for the code the signal interrupted.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(SIGNAL_PIPE.load(Ordering::Relaxed), (&b as *const u8).cast(), 1);
        *libc::__errno_location() = errno;
    }
}

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// From now on, SIGINT, SIGTERM or SIGHUP removes everything registered,
/// then ends the process by that signal (so its exit status still says
/// which); the same signal again during the cleanup (a second Ctrl-C)
/// ends it at once. A signal the process ignores (`nohup`) stays ignored.
/// Idempotent. The handler only writes to a pipe; a thread does the work,
/// as a signal handler may not allocate or run commands.
pub fn clean_up_on_signals() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            eprintln!("leftovers: no pipe, so a signal will not clean up: {}", std::io::Error::last_os_error());
            return;
        }
        // The thread blocks on the read end; only the handler's end must
        // never block.
        // SAFETY: fcntl on a descriptor we just made.
        unsafe { libc::fcntl(fds[0], libc::F_SETFL, 0) };
        SIGNAL_PIPE.store(fds[1], Ordering::Relaxed);
        let read_end = fds[0];
        let spawned = std::thread::Builder::new().name("leftovers".into()).spawn(move || on_signal_thread(read_end));
        if let Err(e) = spawned {
            eprintln!("leftovers: no thread, so a signal will not clean up: {e}");
            return;
        }
        for sig in SIGNALS {
            // SAFETY: sigaction reads and writes structs that live across
            // the calls; the handler only calls write(2).
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN {
                    continue;
                }
                let mut act: libc::sigaction = std::mem::zeroed();
                act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                act.sa_flags = libc::SA_RESTART | libc::SA_RESETHAND;
                libc::sigemptyset(&mut act.sa_mask);
                libc::sigaction(sig, &act, std::ptr::null_mut());
            }
        }
    });
}

fn on_signal_thread(read_end: libc::c_int) {
    // SAFETY: changes this thread's signal mask only, so that the signal
    // sent again below is delivered here even if the thread that made
    // this one blocked it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in SIGNALS {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
    let Some(sig) = wait_for_signal(read_end) else { return };
    std::mem::forget(CREATING.write().unwrap_or_else(PoisonError::into_inner));
    if std::panic::catch_unwind(clean_all).is_err() {
        eprintln!("leftovers: the cleanup panicked; some namespaces or daemons may remain");
    }
    // SAFETY: the default action again, then the signal to this thread:
    // the process ends as the signal would have ended it. Should it still
    // be running, exit with the shell's code for that signal.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
        libc::_exit(128 + sig);
    }
}

fn wait_for_signal(fd: libc::c_int) -> Option<libc::c_int> {
    loop {
        let mut b = 0u8;
        // SAFETY: reads one byte into a byte we own.
        let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        if n == 1 {
            return Some(b.into());
        }
        let e = std::io::Error::last_os_error();
        if n < 0 && e.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        // The write end never closes; this is unexpected. Give up on
        // cleaning up rather than clean up for a signal nobody sent.
        eprintln!("leftovers: cannot wait for signals ({e}); a signal will not clean up");
        return None;
    }
}

/// Children and daemons first (they hold namespaces and directories),
/// then namespaces, then directories. Holds the registry's lock throughout
/// so that nothing is unregistered halfway.
fn clean_all() {
    let items = live();
    let daemons = items.iter().filter_map(|(_, l)| match l {
        Leftover::Pidfile(p) => super::daemon_pid(p),
        _ => None,
    });
    for pid in children().into_iter().chain(daemons) {
        // SAFETY: SIGKILL to a child of ours or a daemon we started.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for (_, l) in items.iter() {
        if let Leftover::Netns(ns) = l {
            let _ = Command::new("ip").args(["netns", "delete", ns]).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
    for (_, l) in items.iter() {
        if let Leftover::Dir(d) = l {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// This process's children (an agent a test runs would otherwise keep
/// retrying a switch that is gone).
fn children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command name in parentheses: state, then the parent's PID.
        let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
        (ppid == me).then_some(pid)
    })
    .collect()
}
