//! Matching ARP replies to the requests that caused them. An ARP reply
//! carries nothing that names its request, so a reply is matched by time
//! alone: pure logic here, with time passed in as offsets since the start,
//! so it is tested without sockets or clocks.
//!
//! Rules:
//! - a reply can only answer a probe sent before it arrived and at most
//!   `window` earlier;
//! - replies come back in the order the requests went out (one link, one
//!   peer), so once a reply is given to probe k, later replies only go to
//!   probes after k;
//! - when several probes qualify (they were sent closer together than the
//!   round trip, or some were lost), the reply goes to the one whose round
//!   trip would be closest to the smoothed RTT of unambiguous matches, or to
//!   the oldest if there is no estimate yet. Such matches are counted as
//!   ambiguous, so a report can say how much to trust the per-probe indices.

use std::time::Duration;

/// What a reply was matched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    pub seq: u32,
    pub rtt: Duration,
    /// Other probes could have been answered by this reply too.
    pub ambiguous: bool,
}

#[derive(Debug)]
pub struct Matcher {
    window: Duration,
    /// (seq, sent offset, rtt if answered), in sending order.
    sent: Vec<(u32, Duration, Option<Duration>)>,
    /// Index into `sent` of the first probe a new reply may answer.
    floor: usize,
    srtt: Option<Duration>,
    pub ambiguous: u64,
    pub unmatched: u64,
}

impl Matcher {
    pub fn new(window: Duration) -> Matcher {
        Matcher { window, sent: Vec::new(), floor: 0, srtt: None, ambiguous: 0, unmatched: 0 }
    }

    /// A probe went out at `at` (offsets must not decrease).
    pub fn on_sent(&mut self, seq: u32, at: Duration) {
        self.sent.push((seq, at, None));
    }

    /// A reply from the target arrived at `at`.
    pub fn on_reply(&mut self, at: Duration) -> Option<Matched> {
        // Candidates: floor..=hi, sent at or before `at`, within the window.
        let hi = self.sent.partition_point(|&(_, t, _)| t <= at);
        let lo = (self.floor..hi).find(|&i| at - self.sent[i].1 <= self.window);
        let Some(lo) = lo else {
            self.unmatched += 1;
            return None;
        };
        let last = hi - 1;
        let chosen = if lo == last {
            lo
        } else {
            self.ambiguous += 1;
            match self.srtt {
                Some(srtt) => (lo..=last)
                    .min_by_key(|&i| (at - self.sent[i].1).abs_diff(srtt))
                    .unwrap_or(lo),
                None => lo,
            }
        };
        let rtt = at - self.sent[chosen].1;
        self.sent[chosen].2 = Some(rtt);
        self.floor = chosen + 1;
        if lo == last {
            self.srtt = Some(match self.srtt {
                None => rtt,
                Some(s) => (s * 7 + rtt) / 8,
            });
        }
        Some(Matched { seq: self.sent[chosen].0, rtt, ambiguous: lo != last })
    }

    /// Whether every probe sent so far has been answered.
    pub fn all_answered(&self) -> bool {
        self.sent.iter().all(|s| s.2.is_some())
    }

    /// The round trip of probe `seq`, if answered.
    pub fn rtt(&self, seq: u32) -> Option<Duration> {
        self.sent.iter().find(|s| s.0 == seq).and_then(|s| s.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_micros(v * 1000)
    }
    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn fast_replies_match_their_probe() {
        let mut m = Matcher::new(ms(100));
        for k in 0..10u32 {
            let t = ms(10 * u64::from(k));
            m.on_sent(k, t);
            let r = m.on_reply(t + us(80)).unwrap();
            assert_eq!((r.seq, r.rtt, r.ambiguous), (k, us(80), false));
        }
        assert!(m.all_answered());
        assert_eq!((m.ambiguous, m.unmatched), (0, 0));
    }

    #[test]
    fn duplicate_or_early_replies_are_unmatched() {
        let mut m = Matcher::new(ms(100));
        assert!(m.on_reply(ms(1)).is_none(), "before any probe");
        m.on_sent(0, ms(5));
        assert!(m.on_reply(ms(4)).is_none(), "before the probe went out");
        assert_eq!(m.on_reply(ms(6)).unwrap().seq, 0);
        assert!(m.on_reply(ms(7)).is_none(), "duplicate");
        assert_eq!(m.unmatched, 3);
    }

    #[test]
    fn replies_outside_the_window_are_unmatched() {
        let mut m = Matcher::new(ms(50));
        m.on_sent(0, ms(0));
        assert!(m.on_reply(ms(51)).is_none());
        assert_eq!(m.rtt(0), None);
    }

    #[test]
    fn after_an_outage_the_first_reply_goes_to_the_newest_probe() {
        // 10 ms interval, 0.1 ms RTT; probes 3..=7 are lost.
        let mut m = Matcher::new(ms(1000));
        for k in 0..10u32 {
            let t = ms(10 * u64::from(k));
            m.on_sent(k, t);
            if !(3..=7).contains(&k) {
                let r = m.on_reply(t + us(100)).unwrap();
                assert_eq!(r.seq, k, "probe {k}");
                assert_eq!(r.rtt, us(100));
            }
        }
        let lost: Vec<u32> = (0..10).filter(|&k| m.rtt(k).is_none()).collect();
        assert_eq!(lost, vec![3, 4, 5, 6, 7]);
        assert_eq!(m.ambiguous, 1, "only the first reply after the outage had a choice");
    }

    #[test]
    fn replies_slower_than_the_interval_keep_their_order() {
        // 1 ms interval, 2.5 ms RTT: every reply has several candidates.
        let mut m = Matcher::new(ms(1000));
        let mut replies = vec![];
        for k in 0..20u32 {
            replies.push((ms(u64::from(k)) + us(2500), k));
        }
        let mut next = 0;
        for k in 0..20u32 {
            let t = ms(u64::from(k));
            while next < replies.len() && replies[next].0 <= t {
                assert_eq!(m.on_reply(replies[next].0).unwrap().seq, replies[next].1);
                next += 1;
            }
            m.on_sent(k, t);
        }
        for (t, k) in &replies[next..] {
            let r = m.on_reply(*t).unwrap();
            assert_eq!((r.seq, r.rtt), (*k, us(2500)));
        }
        assert!(m.all_answered());
    }
}
