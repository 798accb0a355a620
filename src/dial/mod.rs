//! Reaching a daemon's socket, shared by the OpenFlow supervisor and the
//! OVSDB client: the one address type ([`Addr`]), the one [`Backoff`], and
//! the one reconnect policy ([`Reconnect`]) that decides how long to wait
//! before the next attempt.
//!
//! The policy in one paragraph: while a unix socket has nobody listening
//! (the file is absent, or connecting is refused: the daemon is down or
//! between `bind` and `listen`), connect again every [`RetryPolicy::poll`]
//! (10 ms). That costs the peer nothing and has podflow connected within
//! ~10 ms of a restarted `ovs-vswitchd` or `ovsdb-server` accepting, however
//! long it was down. The exponential backoff is only for connections that
//! were accepted and then failed before proving themselves (a peer that
//! accepts then drops must not be hammered), and for TCP peers. It resets
//! only when a connection proved itself: its owner said so
//! (`Supervisor::mark_healthy` after a completed round; for OVSDB a complete
//! monitor sync), or it stayed up [`RetryPolicy::healthy_after`].
//!
//! Owns address syntax, socket setup and reconnect timing as pure values;
//! never sleeps, never speaks a protocol.

pub mod addr;
pub mod backoff;

pub use addr::{Addr, AddrError};
pub use backoff::Backoff;

use std::io;
use std::time::Duration;

/// Reconnect settings, the same for both sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff delay after a connection that failed before proving
    /// itself; doubles (with jitter) up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Interval between connect attempts while a unix socket has nobody
    /// listening.
    pub poll: Duration,
    /// A connection that stayed up this long counts as proven even if its
    /// owner never said so. `None`: only the owner's word counts.
    pub healthy_after: Option<Duration>,
}

impl Default for RetryPolicy {
    /// 100 ms → 8 s backoff, 10 ms polling, proven after 10 s up.
    fn default() -> Self {
        RetryPolicy {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(8),
            poll: Duration::from_millis(10),
            healthy_after: Some(Duration::from_secs(10)),
        }
    }
}

/// How the last attempt or connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Connecting found nobody listening (see [`nobody_listening`]).
    NobodyListening,
    /// Any other failure before the connection proved itself: refused or
    /// timed-out TCP connect, failed handshake or sync, accepted then
    /// dropped.
    Failed,
    /// A connection that had proved itself ended.
    Proven,
}

/// The reconnect decision: how long to wait after each [`Ended`]. Pure.
#[derive(Debug, Clone)]
pub struct Reconnect {
    policy: RetryPolicy,
    backoff: Backoff,
    unix: bool,
    /// A proven connection just ended: the first failure after it is the
    /// dying daemon's listener (see `next_delay`), not a flapping peer.
    grace: bool,
}

impl Reconnect {
    pub fn new(policy: RetryPolicy, addr: &Addr, seed: u64) -> Self {
        let backoff = Backoff::new(policy.backoff_min, policy.backoff_max, seed);
        Reconnect { policy, backoff, unix: addr.is_unix(), grace: false }
    }

    /// Whether a connection counts as proven when it ends.
    pub fn proven(&self, marked_by_owner: bool, up_for: Duration) -> bool {
        marked_by_owner || self.policy.healthy_after.is_some_and(|h| up_for >= h)
    }

    /// The delay before the next attempt.
    ///
    /// The first attempt after a proven connection ended goes at once, and
    /// may reach the exiting daemon's listener in the instant between its
    /// connections closing and its listening socket closing: accepted, then
    /// dropped. That one failure is polled again like a down peer instead
    /// of starting the backoff (under load the window is milliseconds wide,
    /// and a backoff there kept a test's client away from a restarted
    /// ovsdb-server for its whole hour-long backoff). Only one per proven
    /// connection, so a peer that accepts then drops still backs off.
    pub fn next_delay(&mut self, ended: Ended) -> Duration {
        let grace = std::mem::take(&mut self.grace);
        match ended {
            Ended::NobodyListening if self.unix => self.policy.poll,
            Ended::Failed if self.unix && grace => self.policy.poll,
            Ended::Proven => {
                self.backoff.reset();
                self.grace = true;
                Duration::ZERO
            }
            Ended::NobodyListening | Ended::Failed => self.backoff.next_delay(),
        }
    }
}

/// True when connecting failed because nothing listens on a local socket:
/// the file is absent, the connection was refused (daemon gone, or bound
/// but not yet listening), or the backlog is full.
pub fn nobody_listening(kind: io::ErrorKind) -> bool {
    matches!(kind, io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused | io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix() -> Addr {
        "unix:/run/ovs/br-int.mgmt".parse().unwrap()
    }

    #[test]
    fn a_down_unix_peer_is_polled_without_growing_the_backoff() {
        let mut r = Reconnect::new(RetryPolicy::default(), &unix(), 1);
        for _ in 0..1000 {
            assert_eq!(r.next_delay(Ended::NobodyListening), Duration::from_millis(10));
        }
        // The backoff did not grow meanwhile: the first failure after the
        // long outage waits at most backoff_min.
        assert!(r.next_delay(Ended::Failed) <= Duration::from_millis(100));
    }

    #[test]
    fn a_peer_that_accepts_then_drops_backs_off_until_a_connection_proves_itself() {
        let mut r = Reconnect::new(RetryPolicy::default(), &unix(), 7);
        let d: Vec<Duration> = (0..8).map(|_| r.next_delay(Ended::Failed)).collect();
        assert!(d[7] >= Duration::from_secs(4), "{d:?}");
        // Polling a down peer in between does not reset it either.
        assert_eq!(r.next_delay(Ended::NobodyListening), Duration::from_millis(10));
        assert!(r.next_delay(Ended::Failed) >= Duration::from_secs(4));
        assert_eq!(r.next_delay(Ended::Proven), Duration::ZERO, "a proven connection reconnects at once");
        assert_eq!(r.next_delay(Ended::Failed), Duration::from_millis(10), "the dying daemon's listener: polled again");
        assert!(r.next_delay(Ended::Failed) <= Duration::from_millis(100), "then the backoff starts over");
    }

    #[test]
    fn only_the_first_failure_after_a_proven_connection_is_polled() {
        let mut r = Reconnect::new(RetryPolicy::default(), &unix(), 5);
        assert_eq!(r.next_delay(Ended::Proven), Duration::ZERO);
        // Down for a while: polled; the grace is spent on the first attempt.
        assert_eq!(r.next_delay(Ended::NobodyListening), Duration::from_millis(10));
        assert!(r.next_delay(Ended::Failed) >= Duration::from_millis(50), "a failure later in the outage backs off");
        let mut tcp = Reconnect::new(RetryPolicy::default(), &"tcp:192.0.2.1:6640".parse().unwrap(), 5);
        assert_eq!(tcp.next_delay(Ended::Proven), Duration::ZERO);
        assert!(tcp.next_delay(Ended::Failed) >= Duration::from_millis(50), "TCP peers always back off");
    }

    #[test]
    fn tcp_peers_always_back_off() {
        let mut r = Reconnect::new(RetryPolicy::default(), &"tcp:192.0.2.1:6640".parse().unwrap(), 3);
        let a = r.next_delay(Ended::NobodyListening);
        let _ = r.next_delay(Ended::NobodyListening);
        let c = r.next_delay(Ended::NobodyListening);
        assert!(a >= Duration::from_millis(50) && c >= Duration::from_millis(200), "{a:?} {c:?}");
    }

    #[test]
    fn proven_by_the_owner_or_by_time() {
        let r = Reconnect::new(RetryPolicy::default(), &unix(), 1);
        assert!(r.proven(true, Duration::ZERO));
        assert!(!r.proven(false, Duration::from_secs(9)));
        assert!(r.proven(false, Duration::from_secs(10)));
        let owner_only = Reconnect::new(RetryPolicy { healthy_after: None, ..RetryPolicy::default() }, &unix(), 1);
        assert!(!owner_only.proven(false, Duration::from_secs(3600)));
    }

    #[test]
    fn refusals_are_classified() {
        assert!(nobody_listening(io::ErrorKind::NotFound));
        assert!(nobody_listening(io::ErrorKind::ConnectionRefused));
        assert!(!nobody_listening(io::ErrorKind::PermissionDenied));
        assert!(!nobody_listening(io::ErrorKind::TimedOut));
    }
}
