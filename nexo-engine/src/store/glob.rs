//! Glob patterns for SCAN: `*`, `?`, `[abc]`, `[a-z]`, `[^a]` / `[!a]` and `\` escapes.
//!
//! This module owns pattern compilation and matching and nothing else. Matching is iterative (the
//! classic two-pointer star algorithm: on a mismatch, resume after the last `*` one unit further),
//! so it runs in O(pattern × key) time and never backtracks exponentially or recurses.
//!
//! Units: a key that is valid UTF-8 is matched character by character (so `?` matches `é`); any
//! other key is matched byte by byte (as Redis does), each byte standing for the code point of the
//! same value.
//!
//! Syntax details (Redis-compatible where Redis defines them):
//! * `\x` matches `x` literally, also inside a class; a trailing `\` matches a backslash.
//! * A class ends at the first unescaped `]`; `[]` matches nothing and `[^]` any one unit; an
//!   unterminated class runs to the end of the pattern.
//! * `a-z` in a class is a range (reversed bounds are swapped); a `-` first, last or after a
//!   range is literal.

/// One compiled pattern element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// One unit equal to this code point.
    Literal(u32),
    /// `?`: any one unit.
    Any,
    /// `*`: any run of units, empty included.
    Star,
    /// `[...]`: one unit inside (or, when `negated`, outside) the inclusive ranges.
    Class { negated: bool, ranges: Vec<(u32, u32)> },
}

impl Token {
    fn matches(&self, unit: u32) -> bool {
        match self {
            Self::Literal(c) => *c == unit,
            Self::Any => true,
            Self::Star => false,
            Self::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= unit && unit <= hi) != *negated
            }
        }
    }
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
    /// `*` alone: every key matches, skip the work.
    match_all: bool,
}

impl Glob {
    /// Compiles `pattern` (every string is a valid pattern).
    pub(crate) fn new(pattern: &str) -> Self {
        let chars: Vec<u32> = pattern.chars().map(u32::from).collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            let token = match c {
                0x2A /* * */ => {
                    if tokens.last() == Some(&Token::Star) {
                        continue;
                    }
                    Token::Star
                }
                0x3F /* ? */ => Token::Any,
                0x5C /* \ */ => match chars.get(i) {
                    Some(&next) => {
                        i += 1;
                        Token::Literal(next)
                    }
                    None => Token::Literal(c),
                },
                0x5B /* [ */ => {
                    let (token, next) = parse_class(&chars, i);
                    i = next;
                    token
                }
                _ => Token::Literal(c),
            };
            tokens.push(token);
        }
        let match_all = tokens == [Token::Star];
        Self { tokens, match_all }
    }

    /// Whether `key` matches the whole pattern.
    pub(crate) fn matches(&self, key: &[u8]) -> bool {
        if self.match_all {
            return true;
        }
        match std::str::from_utf8(key) {
            // Multi-byte characters are one unit each; ASCII and non-UTF-8 keys match as bytes.
            Ok(text) if !text.is_ascii() => self.match_units(&text.chars().collect::<Vec<_>>()),
            _ => self.match_units(key),
        }
    }

    fn match_units<U: Copy + Into<u32>>(&self, key: &[U]) -> bool {
        let tokens = &self.tokens;
        let (mut t, mut k) = (0, 0);
        // Position of the last `*` seen and the key position it is currently assumed to end at.
        let mut star: Option<(usize, usize)> = None;
        while k < key.len() {
            match tokens.get(t) {
                Some(Token::Star) => {
                    star = Some((t, k));
                    t += 1;
                }
                Some(token) if token.matches(key[k].into()) => {
                    t += 1;
                    k += 1;
                }
                _ => match star {
                    // Let the last `*` swallow one more unit and retry from just after it.
                    Some((star_t, star_k)) => {
                        star = Some((star_t, star_k + 1));
                        t = star_t + 1;
                        k = star_k + 1;
                    }
                    None => return false,
                },
            }
        }
        tokens[t..].iter().all(|token| *token == Token::Star)
    }
}

/// Parses a class starting just after its `[`; returns the token and the index after its `]`.
fn parse_class(chars: &[u32], mut i: usize) -> (Token, usize) {
    const CLOSE: u32 = 0x5D; // ]
    const DASH: u32 = 0x2D; // -
    const BACKSLASH: u32 = 0x5C;
    let negated = matches!(chars.get(i), Some(0x5E /* ^ */ | 0x21 /* ! */));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    while let Some(&c) = chars.get(i) {
        i += 1;
        let lo = match c {
            CLOSE => break,
            BACKSLASH if i < chars.len() => {
                i += 1;
                chars[i - 1]
            }
            _ => c,
        };
        // `lo-hi` when a `-` is followed by something other than the closing `]`.
        let hi = match (chars.get(i), chars.get(i + 1)) {
            (Some(&DASH), Some(&hi)) if hi != CLOSE => {
                i += 2;
                if hi == BACKSLASH && i < chars.len() {
                    i += 1;
                    chars[i - 1]
                } else {
                    hi
                }
            }
            _ => lo,
        };
        ranges.push((lo.min(hi), lo.max(hi)));
    }
    (Token::Class { negated, ranges }, i)
}

#[cfg(test)]
mod tests {
    use super::Glob;

    fn m(pattern: &str, key: &str) -> bool {
        Glob::new(pattern).matches(key.as_bytes())
    }

    #[test]
    fn literals_and_wildcards() {
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("user:*", "user:42"));
        assert!(m("user:*", "user:"));
        assert!(!m("user:*", "users"));
        assert!(m("*:name", "user:1:name"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abcbc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("**a**", "xxa"));
        assert!(m("?*", "x"));
        assert!(!m("?*", ""));
    }

    #[test]
    fn classes() {
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("k[0-9]", "k7"));
        assert!(!m("k[0-9]", "kx"));
        assert!(m("k[9-0]", "k5"), "reversed bounds are swapped");
        assert!(m("[^a]", "b"));
        assert!(!m("[^a]", "a"));
        assert!(m("[!a-c]x", "dx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(!m("[]", "a"), "empty class matches nothing");
        assert!(m("[^]", "a"), "negated empty class matches any unit");
        assert!(m("[a-]", "-"));
        assert!(m("[-a]", "-"));
        assert!(m("[a\\]]", "]"));
        assert!(m("[\\-]", "-"));
        assert!(m("[abc", "b"), "unterminated class runs to the end");
        assert!(!m("[abc", "[abc"));
    }

    #[test]
    fn escapes() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "aXb"));
        assert!(m("\\?", "?"));
        assert!(!m("\\?", "x"));
        assert!(m("\\[x]", "[x]"));
        assert!(m("end\\", "end\\"), "trailing backslash is literal");
    }

    #[test]
    fn unicode_and_binary_keys() {
        assert!(m("caf?", "café"));
        assert!(m("[é]", "é"));
        assert!(Glob::new("a?").matches(&[b'a', 0xFF]));
        assert!(!Glob::new("a?").matches(&[b'a', 0xFF, 0xFE]));
        assert!(Glob::new("a*").matches(&[b'a', 0xFF, 0xFE]));
    }

    #[test]
    fn pathological_patterns_stay_fast() {
        let key = "a".repeat(10_000);
        let pattern = format!("{}b", "a*".repeat(100));
        assert!(!m(&pattern, &key));
        let pattern = "*a".repeat(50);
        assert!(m(&pattern, &key));
    }
}
