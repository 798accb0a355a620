//! ARP and ND prober: sends ARP requests for one IPv4 target, or IPv6
//! neighbor solicitations for one IPv6 target, out of one interface
//! (optionally inside a named network namespace) at a fixed interval, and
//! records for every probe when it was sent, whether it was answered and
//! its round trip. Used to measure forwarding loss (e.g. around a switch
//! restart) by tests, the demo and `podflow arping`.
//!
//! It owns one raw `AF_PACKET` socket bound to that interface and to the
//! ARP (or IPv6) ethertype only, and a dedicated thread that paces the
//! probes (timers finer than tokio's millisecond). It must never send
//! anything but ARP requests or neighbor solicitations, never more than the
//! configured count or duration, and never change the interface or the
//! namespace it runs in.

mod arp;
mod matcher;
pub mod nd;
mod socket;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::host::{Host, HostError, MacAddr};

pub use arp::{parse_reply, request as arp_request, Reply as ArpReply};
pub use matcher::{Matched, Matcher};

/// Why a probe run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Bad options from the caller.
    #[error("invalid probe options: {0}")]
    InvalidOptions(String),
    /// The interface or namespace could not be looked up.
    #[error("cannot look up the probing interface: {0}")]
    Host(#[from] HostError),
    /// The interface has no address of the target's family to send from, and none was given.
    #[error("interface `{ifname}` has no {family} address to send probes from; give a source address")]
    NoSourceAddress { ifname: String, family: &'static str },
    /// The interface has no Ethernet MAC address.
    #[error("interface `{ifname}` has no Ethernet MAC address, so ARP cannot be used on it")]
    NoMac { ifname: String },
    /// A socket call failed.
    #[error("cannot {op} on the ARP socket: {source}")]
    Socket { op: &'static str, source: std::io::Error },
    /// The probing thread died.
    #[error("the probing thread stopped unexpectedly: {0}")]
    Thread(String),
}

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// After this many probes.
    Count(u32),
    /// After sending for this long.
    Duration(Duration),
    /// When [`ProbeHandle::stop`] is called (or after `u32::MAX` probes).
    UntilStopped,
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Time between probes (at least 1 ms).
    pub interval: Duration,
    pub limit: Limit,
    /// How long after sending a probe a reply still counts for it.
    pub reply_window: Duration,
    /// Source IPv4 address for ARP; default: the interface's address in
    /// the target's subnet, else its first IPv4 address. ND probes send
    /// from the interface's IPv6 address in the target's subnet, else its
    /// first of the target's scope (link-local or global).
    pub source_ip: Option<Ipv4Addr>,
    /// Source MAC; default: the interface's.
    pub source_mac: Option<MacAddr>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            interval: Duration::from_millis(10),
            limit: Limit::Count(10),
            reply_window: Duration::from_secs(1),
            source_ip: None,
            source_mac: None,
        }
    }
}

/// The smallest interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// The longest interval or reply window accepted.
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

/// One probe's fate.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeRecord {
    /// 0-based index of the probe.
    pub seq: u32,
    /// When the request was handed to the kernel (in-process monotonic).
    #[serde(skip)]
    pub sent_at: Instant,
    /// Same instant as nanoseconds of `CLOCK_MONOTONIC` (comparable with
    /// other processes on the machine).
    pub sent_monotonic_ns: u64,
    /// Same instant, wall clock, nanoseconds since the Unix epoch.
    pub sent_unix_ns: u64,
    /// Nanoseconds since the run started.
    pub offset_ns: u64,
    pub replied: bool,
    /// Round trip in nanoseconds, if answered.
    pub rtt_ns: Option<u64>,
    /// The reply could have belonged to a neighbouring probe too (see
    /// [`Matcher`]).
    pub ambiguous: bool,
    /// Why the request could not be sent, if it could not (then it counts
    /// as lost).
    pub send_error: Option<String>,
}

impl ProbeRecord {
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt_ns.map(Duration::from_nanos)
    }

    /// The send time as RFC 3339 UTC with microseconds.
    pub fn sent_rfc3339(&self) -> String {
        rfc3339_utc(self.sent_unix_ns)
    }
}

/// A lost probe: which and when.
#[derive(Debug, Clone, Serialize)]
pub struct LostProbe {
    pub seq: u32,
    pub sent_unix_ns: u64,
    pub sent_monotonic_ns: u64,
    pub offset_ns: u64,
}

/// Totals of a run.
#[derive(Debug, Clone, Serialize)]
pub struct LossSummary {
    pub sent: u32,
    pub answered: u32,
    pub lost: u32,
    pub loss_percent: f64,
    pub lost_probes: Vec<LostProbe>,
    /// Replies from the target that matched no probe (duplicates, late).
    pub unmatched_replies: u64,
    /// Replies that could have answered more than one probe.
    pub ambiguous_matches: u64,
    pub rtt_min_ns: Option<u64>,
    pub rtt_avg_ns: Option<u64>,
    pub rtt_max_ns: Option<u64>,
}

/// Everything a run recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub netns: Option<String>,
    pub interface: String,
    pub source_ip: IpAddr,
    pub source_mac: MacAddr,
    pub target: IpAddr,
    /// The MAC of the first reply, if any.
    pub target_mac: Option<MacAddr>,
    pub interval_ns: u64,
    pub started_unix_ns: u64,
    pub probes: Vec<ProbeRecord>,
    pub summary: LossSummary,
}

impl ProbeReport {
    /// True when at least one probe was sent and every probe was answered.
    pub fn all_answered(&self) -> bool {
        self.summary.sent > 0 && self.summary.lost == 0
    }

    /// Probes sent at or after `t` (for "loss after an event" questions).
    pub fn probes_since(&self, t: Instant) -> impl Iterator<Item = &ProbeRecord> {
        self.probes.iter().filter(move |p| p.sent_at >= t)
    }
}

/// An ARP (IPv4 target) or ND (IPv6 target) prober for one target from one interface.
#[derive(Debug, Clone)]
pub struct Prober {
    netns: Option<String>,
    ifname: String,
    target: IpAddr,
    opts: ProbeOptions,
}

/// A prober running in the background.
#[derive(Debug)]
pub struct ProbeHandle {
    stop: Arc<AtomicBool>,
    done: Option<tokio::sync::oneshot::Receiver<Result<ProbeReport, ProbeError>>>,
}

/// Dropping the handle stops the run (its thread ends on its own).
impl Drop for ProbeHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl ProbeHandle {
    /// Stops sending; probes in flight still get their reply window (the
    /// run ends early once all are answered).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// A flag that stops the run when set (e.g. from a signal handler).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Waits for the run to end (by its limit or [`ProbeHandle::stop`]).
    pub async fn join(mut self) -> Result<ProbeReport, ProbeError> {
        let done = self.done.take().ok_or_else(|| ProbeError::Thread("its report was already taken".into()))?;
        done.await.map_err(|_| ProbeError::Thread("it ended without a report".into()))?
    }

    /// Stops and waits for the report.
    pub async fn finish(self) -> Result<ProbeReport, ProbeError> {
        self.stop();
        self.join().await
    }
}

/// What the probing thread needs, resolved up front.
struct Resolved {
    socket: socket::ArpSocket,
    src_mac: MacAddr,
    src_ip: IpAddr,
}

impl Prober {
    /// A prober sending from `ifname` (inside `netns`, if given) for `target`.
    /// An IPv4 target is probed by ARP, an IPv6 target by neighbor solicitations.
    pub fn new(netns: Option<&str>, ifname: &str, target: impl Into<IpAddr>, opts: ProbeOptions) -> Prober {
        Prober { netns: netns.map(str::to_string), ifname: ifname.to_string(), target: target.into(), opts }
    }

    /// Runs to the limit and returns the report.
    pub async fn run(self) -> Result<ProbeReport, ProbeError> {
        if self.opts.limit == Limit::UntilStopped {
            return Err(ProbeError::InvalidOptions("a run without a count or duration must be started with `start` and stopped".into()));
        }
        self.start().await?.join().await
    }

    /// Opens the socket and starts probing in the background.
    pub async fn start(self) -> Result<ProbeHandle, ProbeError> {
        self.spawn(None).await
    }

    /// Like [`Prober::start`], and also delivers each probe's record as
    /// soon as its fate is known (answered, or past its reply window, or a
    /// later probe was answered), in sequence order. The channel closes when
    /// the run ends.
    pub async fn start_with_events(self) -> Result<(ProbeHandle, tokio::sync::mpsc::UnboundedReceiver<ProbeRecord>), ProbeError> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Ok((self.spawn(Some(tx)).await?, rx))
    }

    async fn spawn(self, events: Option<tokio::sync::mpsc::UnboundedSender<ProbeRecord>>) -> Result<ProbeHandle, ProbeError> {
        self.check()?;
        let resolved = self.resolve().await?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name(format!("arping-{}", self.ifname))
            .spawn(move || {
                let report = self.probe_loop(resolved, &flag, events);
                let _ = tx.send(report);
            })
            .map_err(|e| ProbeError::Thread(e.to_string()))?;
        Ok(ProbeHandle { stop, done: Some(rx) })
    }

    fn check(&self) -> Result<(), ProbeError> {
        let o = &self.opts;
        if o.interval < MIN_INTERVAL {
            return Err(ProbeError::InvalidOptions(format!("the interval must be at least 1 ms, not {:?}", o.interval)));
        }
        if o.limit == Limit::Count(0) || o.limit == Limit::Duration(Duration::ZERO) {
            return Err(ProbeError::InvalidOptions("the count or duration must be more than zero".into()));
        }
        if o.interval > MAX_WAIT {
            return Err(ProbeError::InvalidOptions(format!("the interval must be at most an hour, not {:?}", o.interval)));
        }
        if o.reply_window.is_zero() || o.reply_window > MAX_WAIT {
            return Err(ProbeError::InvalidOptions(format!("the reply window must be more than zero and at most an hour, not {:?}", o.reply_window)));
        }
        let broadcast = matches!(self.target, IpAddr::V4(t) if t.is_broadcast());
        if self.target.is_unspecified() || broadcast || self.target.is_multicast() {
            return Err(ProbeError::InvalidOptions(format!("{} is not a unicast target", self.target)));
        }
        Ok(())
    }

    async fn resolve(&self) -> Result<Resolved, ProbeError> {
        let host = Host::open(self.netns.as_deref()).await?;
        let link = host.link(&self.ifname).await?;
        let src_mac = match self.opts.source_mac {
            Some(m) => m,
            None => link.mac.filter(|m| *m != MacAddr::ZERO).ok_or_else(|| ProbeError::NoMac { ifname: self.ifname.clone() })?,
        };
        let src_ip = match (self.target, self.opts.source_ip) {
            (IpAddr::V4(_), Some(ip)) => IpAddr::V4(ip),
            _ => {
                let addrs = host.addresses(Some(&link.name)).await?;
                let link_local = |a: &IpAddr| matches!(a, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80);
                let same: Vec<_> = addrs
                    .iter()
                    .map(|a| (a.prefix, a.prefix.addr))
                    .filter(|(_, a)| a.is_ipv4() == self.target.is_ipv4() && link_local(a) == link_local(&self.target))
                    .collect();
                let family = if self.target.is_ipv4() { "IPv4" } else { "IPv6" };
                same.iter()
                    .find(|(p, _)| p.contains(self.target))
                    .or(same.first())
                    .map(|(_, a)| *a)
                    .ok_or_else(|| ProbeError::NoSourceAddress { ifname: self.ifname.clone(), family })?
            }
        };
        let index = link.index;
        let ethertype = if self.target.is_ipv4() { arp::ETH_P_ARP } else { nd::ETH_P_IPV6 };
        // The socket is created inside the namespace (then bound to the
        // interface there); it keeps working from the probing thread.
        let socket = crate::host::netns::run_in_netns_async(self.netns.as_deref(), move || Ok(socket::ArpSocket::open(index, ethertype)))
            .await?
            .map_err(|(op, source)| ProbeError::Socket { op, source })?;
        Ok(Resolved { socket, src_mac, src_ip })
    }

    /// The probing thread: paces requests, reads replies, fills the report.
    fn probe_loop(self, r: Resolved, stop: &AtomicBool, events: Option<tokio::sync::mpsc::UnboundedSender<ProbeRecord>>) -> Result<ProbeReport, ProbeError> {
        let o = &self.opts;
        let frame = match (r.src_ip, self.target) {
            (IpAddr::V4(src), IpAddr::V4(t)) => arp::request(r.src_mac, src, t),
            (IpAddr::V6(src), IpAddr::V6(t)) => nd::solicit(r.src_mac, src, t),
            _ => return Err(ProbeError::InvalidOptions("the source and the target are of different families".into())),
        };
        // The answer to our request: the target's MAC, if `f` is one.
        let (src_ip, target) = (r.src_ip, self.target);
        let answer = move |f: &[u8]| -> Option<MacAddr> {
            match (src_ip, target) {
                (IpAddr::V4(src), IpAddr::V4(t)) => arp::parse_reply(f).filter(|a| a.sender_ip == t && a.target_ip == src).map(|a| a.sender_mac),
                (IpAddr::V6(src), IpAddr::V6(t)) => nd::parse_advert(f).filter(|a| a.target == t && a.dst_ip == src).map(|a| a.tll.unwrap_or(a.src_mac)),
                _ => None,
            }
        };
        let start = Instant::now();
        let start_mono = monotonic_ns();
        let start_wall = unix_ns(SystemTime::now());
        let mut matcher = Matcher::new(o.reply_window);
        let mut probes: Vec<ProbeRecord> = Vec::new();
        let mut target_mac = None;
        let mut next_send = start;
        let mut sending = true;
        let mut last_sent: Option<Instant> = None;
        let mut buf = [0u8; 2048];
        let mut max_replied: Option<u32> = None;
        let mut next_emit = 0usize;
        // Reads every queued frame and matches the target's replies. The
        // arrival time is the kernel's stamp (wall clock, mapped onto this
        // run's monotonic offsets), never later than the time of reading.
        let mut drain = |matcher: &mut Matcher, probes: &mut Vec<ProbeRecord>, max_replied: &mut Option<u32>| -> Result<(), ProbeError> {
            loop {
                let (n, stamp) = match r.socket.recv(&mut buf) {
                    Ok(Some(v)) => v,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(ProbeError::Socket { op: "receive", source: e }),
                };
                let read_at = Instant::now().duration_since(start);
                let at = match stamp {
                    Some(ns) if ns >= start_wall => read_at.min(Duration::from_nanos(ns - start_wall)),
                    _ => read_at,
                };
                let Some(sender_mac) = answer(&buf[..n]) else { continue };
                if let Some(m) = matcher.on_reply(at) {
                    target_mac.get_or_insert(sender_mac);
                    if let Some(p) = probes.get_mut(m.seq as usize) {
                        p.replied = true;
                        p.rtt_ns = Some(m.rtt.as_nanos() as u64);
                        p.ambiguous = m.ambiguous;
                    }
                    *max_replied = (*max_replied).max(Some(m.seq));
                }
            }
        };
        loop {
            // Replies already queued are read before the next probe goes
            // out, so a late-scheduled thread cannot hand them to it.
            drain(&mut matcher, &mut probes, &mut max_replied)?;
            let now = Instant::now();
            if let Some(tx) = &events {
                while let Some(p) = probes.get(next_emit) {
                    let settled = p.replied
                        || p.send_error.is_some()
                        || now.duration_since(p.sent_at) > o.reply_window
                        || max_replied.is_some_and(|m| m > p.seq);
                    if !settled {
                        break;
                    }
                    let _ = tx.send(p.clone());
                    next_emit += 1;
                }
            }
            if sending && stop.load(Ordering::SeqCst) {
                sending = false;
            }
            if sending {
                let more = match o.limit {
                    Limit::Count(n) => (probes.len() as u64) < u64::from(n),
                    Limit::Duration(d) => now.duration_since(start) < d,
                    Limit::UntilStopped => probes.len() < u32::MAX as usize,
                };
                if !more {
                    sending = false;
                }
            }
            if sending && now >= next_send {
                let seq = probes.len() as u32;
                let sent_at = Instant::now();
                let offset = sent_at.duration_since(start);
                let res = r.socket.send(&frame);
                let send_error = match res {
                    Ok(_) => {
                        matcher.on_sent(seq, offset);
                        last_sent = Some(sent_at);
                        None
                    }
                    Err(e) => Some(e.to_string()),
                };
                probes.push(ProbeRecord {
                    seq,
                    sent_at,
                    sent_monotonic_ns: start_mono + offset.as_nanos() as u64,
                    sent_unix_ns: start_wall + offset.as_nanos() as u64,
                    offset_ns: offset.as_nanos() as u64,
                    replied: false,
                    rtt_ns: None,
                    ambiguous: false,
                    send_error,
                });
                // Keep to the schedule start + k * interval, but never send
                // two probes closer than half an interval (no catch-up
                // bursts after the thread was late), and after a stall of
                // more than an interval carry on from now.
                next_send += o.interval;
                next_send = next_send.max(sent_at + o.interval / 2);
                let now = Instant::now();
                if next_send + o.interval < now {
                    next_send = now + o.interval;
                }
                continue;
            }
            // Done when nothing more will be sent and every probe is
            // answered or out of its window.
            if !sending {
                let waited_out = last_sent.is_none_or(|t| now.duration_since(t) > o.reply_window);
                if waited_out || matcher.all_answered() {
                    break;
                }
            }
            let mut wake = now + Duration::from_millis(10);
            if sending {
                wake = wake.min(next_send);
            } else if let Some(t) = last_sent {
                wake = wake.min(t + o.reply_window + Duration::from_micros(100));
            }
            let readable = r
                .socket
                .wait_readable(wake.saturating_duration_since(Instant::now()))
                .map_err(|e| ProbeError::Socket { op: "wait for replies", source: e })?;
            if readable {
                drain(&mut matcher, &mut probes, &mut max_replied)?;
            }
        }
        if let Some(tx) = &events {
            for p in probes.get(next_emit..).unwrap_or_default() {
                let _ = tx.send(p.clone());
            }
        }
        let summary = summarize(&probes, &matcher);
        Ok(ProbeReport {
            netns: self.netns,
            interface: self.ifname,
            source_ip: r.src_ip,
            source_mac: r.src_mac,
            target: self.target,
            target_mac,
            interval_ns: o.interval.as_nanos() as u64,
            started_unix_ns: start_wall,
            probes,
            summary,
        })
    }
}

fn summarize(probes: &[ProbeRecord], m: &Matcher) -> LossSummary {
    let sent = probes.len() as u32;
    let answered = probes.iter().filter(|p| p.replied).count() as u32;
    let rtts: Vec<u64> = probes.iter().filter_map(|p| p.rtt_ns).collect();
    LossSummary {
        sent,
        answered,
        lost: sent - answered,
        loss_percent: if sent == 0 { 0.0 } else { f64::from(sent - answered) * 100.0 / f64::from(sent) },
        lost_probes: probes
            .iter()
            .filter(|p| !p.replied)
            .map(|p| LostProbe { seq: p.seq, sent_unix_ns: p.sent_unix_ns, sent_monotonic_ns: p.sent_monotonic_ns, offset_ns: p.offset_ns })
            .collect(),
        unmatched_replies: m.unmatched,
        ambiguous_matches: m.ambiguous,
        rtt_min_ns: rtts.iter().min().copied(),
        rtt_avg_ns: (!rtts.is_empty()).then(|| rtts.iter().sum::<u64>() / rtts.len() as u64),
        rtt_max_ns: rtts.iter().max().copied(),
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Formats nanoseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn rfc3339_utc(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let micros = (unix_ns % 1_000_000_000) / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn options_are_checked_before_anything_is_opened() {
        let t = Ipv4Addr::new(198, 18, 0, 2);
        let check = |o: ProbeOptions, t: Ipv4Addr| Prober::new(None, "x", t, o).check();
        assert!(Prober::new(None, "x", "fd00::2".parse::<Ipv6Addr>().unwrap(), ProbeOptions::default()).check().is_ok());
        assert!(Prober::new(None, "x", "ff02::1".parse::<Ipv6Addr>().unwrap(), ProbeOptions::default()).check().is_err());
        assert!(check(ProbeOptions::default(), t).is_ok());
        let bad = [
            ProbeOptions { interval: Duration::from_micros(999), ..Default::default() },
            ProbeOptions { interval: Duration::from_secs(u64::MAX / 4), ..Default::default() },
            ProbeOptions { reply_window: Duration::ZERO, ..Default::default() },
            ProbeOptions { reply_window: Duration::from_secs(7200), ..Default::default() },
            ProbeOptions { limit: Limit::Count(0), ..Default::default() },
            ProbeOptions { limit: Limit::Duration(Duration::ZERO), ..Default::default() },
        ];
        for o in bad {
            assert!(matches!(check(o.clone(), t), Err(ProbeError::InvalidOptions(_))), "{o:?}");
        }
        for t in [Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, Ipv4Addr::new(224, 0, 0, 1)] {
            assert!(check(ProbeOptions::default(), t).is_err(), "{t}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339_utc(951_782_400_123_456_789), "2000-02-29T00:00:00.123456Z");
        assert_eq!(rfc3339_utc(1_795_000_000_000_000_000), "2026-11-18T11:06:40.000000Z");
    }
}
