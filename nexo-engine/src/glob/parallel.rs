//! A second matcher for short keys (Pub/Sub channels): the pattern as a set of states advanced
//! one key unit at a time with bit operations, so its cost does not depend on the pattern's
//! shape: `units × ⌈tokens / 64⌉` word operations plus `tokens × distinct units` to build the
//! per-unit masks. [`Glob::matches_short`] picks it over the two-pointer matcher when that one's
//! worst case (`units × longest run between two stars`) is higher.
//!
//! Owns nothing but this algorithm; it gives the same answers as [`Glob::matches`].

use super::{Glob, Token, Units};

/// Bit `j` set: the first `j` tokens match what was read so far.
type States = Vec<u64>;

impl Glob {
    /// Whether `key` matches, at a cost bounded whatever the pattern: the cheaper of the
    /// two-pointer matcher and the bit-parallel one for this key. `distinct_units` is how many
    /// different units the key holds (an upper bound is fine).
    pub fn matches_short(&self, key: &[u8], distinct_units: usize) -> bool {
        let units = key.len();
        let two_pointer = units.saturating_mul(self.middle_run.max(1));
        let words = (self.tokens.len() + 1).div_ceil(64);
        let parallel =
            units.saturating_mul(words).saturating_add(self.tokens.len().saturating_mul(distinct_units));
        if two_pointer <= parallel { self.matches(key) } else { self.matches_parallel(key) }
    }

    /// The bit-parallel match.
    pub(super) fn matches_parallel(&self, key: &[u8]) -> bool {
        if self.match_all {
            return true;
        }
        let words = (self.tokens.len() + 1).div_ceil(64);
        let stars = self.mask_of(words, |t| *t == Token::Star);
        let mut states = vec![0u64; words];
        states[0] = 1;
        close_over_stars(&mut states, &stars);
        let mut next = vec![0u64; words];
        let mut masks: Vec<(u32, States)> = Vec::new();
        let mut offset = 0;
        let units = Units::of(key);
        while let Some((unit, len)) = units.at(offset) {
            offset += len;
            let index = match masks.iter().position(|(u, _)| *u == unit) {
                Some(index) => index,
                None => {
                    masks.push((unit, self.mask_of(words, |t| t.matches(unit))));
                    masks.len() - 1
                }
            };
            if !step(&states, &masks[index].1, &stars, &mut next) {
                return false;
            }
            std::mem::swap(&mut states, &mut next);
        }
        let end = self.tokens.len();
        states[end / 64] & (1 << (end % 64)) != 0
    }

    /// The tokens for which `pick` holds, as a bit set.
    fn mask_of(&self, words: usize, pick: impl Fn(&Token) -> bool) -> States {
        let mut mask = vec![0u64; words];
        for (j, token) in self.tokens.iter().enumerate() {
            if pick(token) {
                mask[j / 64] |= 1 << (j % 64);
            }
        }
        mask
    }
}

/// Reads one unit: a state before a token matching it moves past the token, a state at a `*`
/// stays, and a state at a `*` also stands after it. Writes `next`; `false` when it is empty.
fn step(states: &[u64], mask: &[u64], stars: &[u64], next: &mut [u64]) -> bool {
    let (mut moved_carry, mut star_carry, mut any) = (0, 0, 0);
    for (((out, state), m), star) in next.iter_mut().zip(states).zip(mask).zip(stars) {
        let advancing = state & m;
        let mut word = (advancing << 1) | moved_carry | (state & star);
        moved_carry = advancing >> 63;
        // Stars are never adjacent, so a bit set here is never a star: one pass closes the set.
        let at_star = word & star;
        word |= (at_star << 1) | star_carry;
        star_carry = at_star >> 63;
        *out = word;
        any |= word;
    }
    any != 0
}

/// Moves every state one token on (bit `j` to `j + 1`).
fn shift_up(states: &mut [u64]) {
    let mut carry = 0;
    for word in states.iter_mut() {
        let next_carry = *word >> 63;
        *word = (*word << 1) | carry;
        carry = next_carry;
    }
}

/// A state at a `*` also stands after it (a star may match nothing). Stars are never adjacent,
/// so one pass is enough.
fn close_over_stars(states: &mut [u64], stars: &[u64]) {
    let mut at_stars: States = states.iter().zip(stars).map(|(s, m)| s & m).collect();
    shift_up(&mut at_stars);
    for (state, extra) in states.iter_mut().zip(at_stars) {
        *state |= extra;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::Glob;

    proptest! {
        #[test]
        fn random_patterns_agree(pattern in r"[ab*?\[\]^!\\-]{0,14}", key in r"[ab\-\]é]{0,14}") {
            let glob = Glob::compile(&pattern).unwrap();
            prop_assert_eq!(glob.matches_parallel(key.as_bytes()), glob.matches(key.as_bytes()));
        }

        /// Patterns longer than one 64-bit word of states.
        #[test]
        fn long_patterns_agree(pattern in r"[ab*?]{60,140}", key in r"[ab]{0,200}") {
            let glob = Glob::compile(&pattern).unwrap();
            prop_assert_eq!(glob.matches_parallel(key.as_bytes()), glob.matches(key.as_bytes()));
        }
    }

    #[test]
    fn agrees_with_the_two_pointer_matcher() {
        let patterns = [
            "",
            "*",
            "a",
            "a*",
            "*a",
            "*a*",
            "a?c",
            "a*b*c",
            "**x",
            "[a-c]*[^x]",
            "h[ae]llo",
            "*é?",
            "\\*x",
            "*aab*",
            "*ab*ab*",
            "[]",
            "[^]*",
        ];
        let keys =
            ["", "a", "abc", "aXXbYYc", "xx", "hello", "hallo", "é", "xéü", "*x", "aaab", "abab", "zz"];
        for pattern in patterns {
            let glob = Glob::compile(pattern).unwrap();
            for key in keys {
                assert_eq!(
                    glob.matches_parallel(key.as_bytes()),
                    glob.matches(key.as_bytes()),
                    "{pattern:?} on {key:?}"
                );
            }
        }
        let long = Glob::compile(&format!("*{}[b]*", "a".repeat(100))).unwrap();
        let key = "a".repeat(300);
        assert!(!long.matches_parallel(key.as_bytes()));
        assert!(long.matches_parallel(format!("{key}b").as_bytes()));
        assert!(!long.matches_short(key.as_bytes(), 1));
    }
}
