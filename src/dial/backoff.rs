//! Reconnect delays: bounded exponential backoff with jitter, as a pure
//! value (no clock, no sleeping; the random source is a seeded xorshift so
//! tests are deterministic).
//!
//! Owns the delay sequence; never sleeps or connects. When to reset it
//! (only after a connection proved itself) is [`super::Reconnect`]'s call.

use std::time::Duration;

/// Backoff from `min` doubling to `max`; each delay is drawn uniformly from
/// `[base/2, base]` ("equal jitter"), so reconnecting agents spread out and
/// a delay never exceeds `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    base: Duration,
    rng: u64,
}

impl Backoff {
    /// 100 ms → 8 s.
    pub fn standard(seed: u64) -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(8), seed)
    }

    pub fn new(min: Duration, max: Duration, seed: u64) -> Self {
        let max = max.max(min);
        Backoff { min, max, base: min, rng: seed | 1 }
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// A seed that differs between processes and starts, so agents on many
    /// nodes do not reconnect in step.
    pub fn seed_from_clock() -> u64 {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        t ^ u64::from(std::process::id()).rotate_left(32)
    }

    /// After a connection that proved itself: start again from `min`.
    pub fn reset(&mut self) {
        self.base = self.min;
    }

    fn next_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base;
        self.base = (self.base * 2).min(self.max);
        let half = base / 2;
        let span = (base - half).as_nanos() as u64;
        let jitter = if span == 0 { 0 } else { self.next_u64() % (span + 1) };
        half + Duration::from_nanos(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_bound_and_never_exceeds_it() {
        let mut b = Backoff::standard(7);
        let d: Vec<Duration> = (0..20).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100), "{:?}", d[0]);
        assert!(d[1] >= Duration::from_millis(100) && d[1] <= Duration::from_millis(200));
        for x in &d {
            assert!(*x <= Duration::from_secs(8), "{x:?}");
            assert!(*x >= Duration::from_millis(50));
        }
        for x in &d[8..] {
            assert!(*x >= Duration::from_secs(4), "late delays stay near the bound: {x:?}");
        }
    }

    #[test]
    fn jitter_spreads_delays_and_reset_starts_over() {
        let firsts: std::collections::HashSet<Duration> = (1..50u64)
            .map(|s| {
                let mut b = Backoff::standard(s * 7919);
                (0..6).map(|_| b.next_delay()).last().unwrap()
            })
            .collect();
        assert!(firsts.len() > 40, "jitter should differ between seeds: {}", firsts.len());
        let mut b = Backoff::standard(3);
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
