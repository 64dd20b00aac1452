//! Identifiers and seeded randomness.
//!
//! [`ConnId`] names a connection for its whole life and is never reused. [`SeededRng`] is the only
//! source of randomness in the engine (sampling, ids); [`SeededState`] keys the engine's hash maps
//! from the same seed, so iteration order is deterministic for a seed while attackers who do not
//! know the seed cannot aim collisions.

use std::hash::{BuildHasher, DefaultHasher, Hasher};

/// A connection id: a counter the runtime never reuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// A small, fast, seeded generator (SplitMix64). Not cryptographic; deterministic given its seed.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator that will produce the same sequence for the same seed.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound` must be non-zero; returns 0 otherwise).
    pub fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        // Multiply-shift: unbiased enough for sampling, no division.
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// 16 random bytes (message ids).
    pub fn next_id(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        id
    }
}

/// A `BuildHasher` keyed by the engine's seed: SipHash over the seed, then the key.
#[derive(Debug, Clone, Copy)]
pub struct SeededState {
    seed: u64,
}

impl SeededState {
    /// Hash maps built with this state iterate in the same order for the same seed and inserts.
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }
}

impl BuildHasher for SeededState {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        let mut hasher = DefaultHasher::new();
        hasher.write_u64(self.seed);
        hasher
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (SeededRng::new(7), SeededRng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SeededRng::new(1).next_u64(), SeededRng::new(2).next_u64());
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SeededRng::new(3);
        for bound in 1..200 {
            assert!(rng.below(bound) < bound);
        }
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn seeded_state_differs_by_seed() {
        let a = SeededState::new(1).hash_one("key");
        let b = SeededState::new(2).hash_one("key");
        assert_ne!(a, b);
        assert_eq!(a, SeededState::new(1).hash_one("key"));
    }
}
