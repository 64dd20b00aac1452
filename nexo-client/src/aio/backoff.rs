//! Reconnect delays: exponential growth from an initial delay up to a cap, with "equal jitter"
//! (each delay is drawn between half and all of its exponential value) so that many clients cut
//! off by one server restart do not all come back in the same instant. Pure arithmetic; the
//! random numbers come from a small generator seeded by the caller.

use std::time::Duration;

/// How the async client waits between reconnect attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first attempt (before jitter).
    pub initial: Duration,
    /// The largest delay (before jitter).
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { initial: Duration::from_millis(50), max: Duration::from_secs(5) }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (0 for the first): `initial × 2^attempt`, capped at
    /// `max`, then drawn uniformly from its upper half with `random`.
    pub(crate) fn delay(&self, attempt: u32, random: u64) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        let full = self.initial.saturating_mul(factor).min(self.max);
        let full_us = u64::try_from(full.as_micros()).unwrap_or(u64::MAX);
        let half_us = full_us / 2;
        let spread = full_us - half_us + 1;
        Duration::from_micros(half_us + random % spread)
    }
}

/// A xorshift64* generator: enough for jitter, no dependency, seeded once per client.
#[derive(Debug, Clone)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator from `seed` (0 is replaced, xorshift must not start at 0).
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed } }
    }

    /// A seed that differs between clients and runs: the standard library's per-process
    /// random hash keys, without a random-number crate.
    pub(crate) fn seed() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish()
    }

    /// The next number.
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_double_and_stop_at_the_cap() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        // random 0 gives the lower bound (half), u64::MAX % spread something within.
        assert_eq!(b.delay(0, 0), Duration::from_millis(50));
        assert_eq!(b.delay(1, 0), Duration::from_millis(100));
        assert_eq!(b.delay(2, 0), Duration::from_millis(200));
        assert_eq!(b.delay(10, 0), Duration::from_millis(500), "capped at max, halved");
        assert_eq!(b.delay(u32::MAX, 0), Duration::from_millis(500), "no overflow");
    }

    #[test]
    fn jitter_stays_within_half_and_full() {
        let b = Backoff::default();
        let mut jitter = Jitter::new(42);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let d = b.delay(3, jitter.next());
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(400), "{d:?}");
            seen.insert(d);
        }
        assert!(seen.len() > 100, "jitter spreads the delays: {} distinct", seen.len());
        assert_ne!(Jitter::new(0).next(), 0);
    }
}
