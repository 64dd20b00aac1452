//! Redis glob patterns, shared by the Store (KEYS, SCAN, the dashboard's key listing) and
//! Pub/Sub (PSUBSCRIBE): `*`, `?`, `[abc]`, `[a-z]`, `[^a]` / `[!a]` and `\` escapes.
//!
//! This module owns pattern compilation (with its length cap, [`MAX_PATTERN_BYTES`]) and
//! matching, and nothing else: no broker state, no outputs. Matching is the classic two-pointer
//! star algorithm (on a mismatch, resume after the last `*` one unit further): it never recurses
//! or backtracks past the last star, and costs at most `key units × longest star-free run of the
//! pattern` steps. Two cheap checks come first: the run after the last `*` is compared once with
//! the key's end (never retried at every offset), and a key shorter than the pattern's fixed
//! units fails at once; [`Glob::may_match`] adds a pre-filter on the ASCII literals a key must
//! hold, for a caller matching many patterns against one key (a publish). Because that product can still reach billions for a long pattern over a long
//! key, [`Glob::match_within`] counts its steps against a caller's budget and, when the budget
//! runs out, returns its whole state ([`MatchState`], four integers) so the caller can resume
//! later: a broker spreads a costly KEYS over many turns without redoing work.
//!
//! Units: a key that is valid UTF-8 with a non-ASCII character is matched character by
//! character (so `?` matches `é`); any other key is matched byte by byte (as Redis does), each
//! byte standing for the code point of the same value. Positions in [`MatchState`] are byte
//! offsets, so resuming needs no decoded copy of the key.
//!
//! Syntax details (Redis-compatible where Redis defines them):
//! * `\x` matches `x` literally, also inside a class; a trailing `\` matches a backslash.
//! * A class ends at the first unescaped `]`; `[]` matches nothing and `[^]` any one unit; an
//!   unterminated class runs to the end of the pattern.
//! * `a-z` in a class is a range (reversed bounds are swapped); a `-` first, last or after a
//!   range is literal.

/// Longest accepted pattern in bytes (32 KiB): KEYS, SCAN, PSUBSCRIBE and the dashboard refuse
/// longer ones with [`PatternTooLong`]. It bounds a compiled pattern's memory (about 32 bytes a
/// unit) and, with the step budget, how long one key can take to match.
pub const MAX_PATTERN_BYTES: usize = 32 * 1024;

/// A pattern longer than [`MAX_PATTERN_BYTES`]; `Display` is the stable error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternTooLong {
    /// The length of the refused pattern in bytes.
    pub bytes: usize,
}

impl std::fmt::Display for PatternTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ERR pattern too long ({} bytes; the limit is {MAX_PATTERN_BYTES})", self.bytes)
    }
}

impl std::error::Error for PatternTooLong {}

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

/// Where a paused match stands: the pattern position, the key's byte offset, and the last `*`
/// with the key offset it is assumed to end at. [`MatchState::default`] is the start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchState {
    token: usize,
    offset: usize,
    star: Option<(usize, usize)>,
}

/// The outcome of [`Glob::match_within`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The whole key matches.
    Match,
    /// It does not.
    NoMatch,
    /// The budget ran out first; call again with this state (and the same key) to go on.
    Paused(MatchState),
}

/// Which ASCII bytes a text holds: one publish's topic is summarised once, and every pattern
/// needing a literal it lacks is passed over without matching.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AsciiSet([u64; 2]);

impl AsciiSet {
    /// The ASCII bytes of `bytes` (others are ignored).
    pub fn of(bytes: &[u8]) -> Self {
        let mut set = Self::default();
        for &b in bytes {
            set.insert(u32::from(b));
        }
        set
    }

    fn insert(&mut self, unit: u32) {
        if unit < 128 {
            self.0[(unit / 64) as usize] |= 1 << (unit % 64);
        }
    }

    /// How many bytes the set holds.
    pub fn len(self) -> usize {
        (self.0[0].count_ones() + self.0[1].count_ones()) as usize
    }

    /// Whether the set holds no byte.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Whether every byte of `other` is in `self`.
    fn holds(self, other: Self) -> bool {
        other.0[0] & !self.0[0] == 0 && other.0[1] & !self.0[1] == 0
    }
}

/// A key seen as units: bytes, or the characters of a non-ASCII UTF-8 text.
#[derive(Clone, Copy)]
enum Units<'a> {
    Bytes(&'a [u8]),
    Text(&'a str),
}

impl<'a> Units<'a> {
    fn of(key: &'a [u8]) -> Self {
        match std::str::from_utf8(key) {
            Ok(text) if !text.is_ascii() => Self::Text(text),
            _ => Self::Bytes(key),
        }
    }

    /// The unit at byte `offset` and its length in bytes; `None` at (or past) the end.
    fn at(self, offset: usize) -> Option<(u32, usize)> {
        match self {
            Self::Bytes(bytes) => bytes.get(offset).map(|&b| (u32::from(b), 1)),
            Self::Text(text) => {
                text.get(offset..).and_then(|rest| rest.chars().next()).map(|c| (u32::from(c), c.len_utf8()))
            }
        }
    }
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    tokens: Vec<Token>,
    /// `*` alone: every key matches, skip the work.
    match_all: bool,
    /// Units any matching key has at least (every token but `*` takes exactly one).
    min_units: usize,
    /// Where the run after the last `*` starts (`tokens.len()` when there is none): it matches
    /// the key's last units exactly, so it is checked once rather than at every offset.
    tail: usize,
    /// ASCII literals outside classes: a matching key holds every one of them.
    required: AsciiSet,
    /// The longest run of tokens between two stars: the two-pointer matcher may retry it at
    /// every key offset.
    middle_run: usize,
}

impl Glob {
    /// Compiles `pattern`.
    ///
    /// # Errors
    /// [`PatternTooLong`] past [`MAX_PATTERN_BYTES`]; every shorter string is a valid pattern.
    pub fn compile(pattern: &str) -> Result<Self, PatternTooLong> {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(PatternTooLong { bytes: pattern.len() });
        }
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
        let min_units = tokens.iter().filter(|t| **t != Token::Star).count();
        let tail = match tokens.iter().rposition(|t| *t == Token::Star) {
            Some(star) => star + 1,
            None => tokens.len(),
        };
        let mut required = AsciiSet::default();
        for token in &tokens {
            if let Token::Literal(c) = token {
                required.insert(*c);
            }
        }
        let middle_run = middle_run(&tokens);
        Ok(Self { tokens, match_all, min_units, tail, required, middle_run })
    }

    /// The literal text every matching key starts with (the pattern up to its first wildcard or
    /// class), for indexing patterns by prefix.
    pub fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|t| match t {
                Token::Literal(c) => char::from_u32(*c),
                _ => None,
            })
            .collect()
    }

    /// A cheap pre-filter: `false` when a key of `key_len` bytes holding the ASCII bytes
    /// `key_set` cannot match (too short, or lacking a literal of the pattern).
    pub fn may_match(&self, key_set: AsciiSet, key_len: usize) -> bool {
        self.match_all || (key_len >= self.min_units && key_set.holds(self.required))
    }

    /// Whether `key` matches the whole pattern, however long that takes: for keys and patterns
    /// whose sizes the caller bounds (Pub/Sub topics), or tests. Brokers matching client keys use
    /// [`Glob::match_within`].
    pub fn matches(&self, key: &[u8]) -> bool {
        let mut unlimited = u64::MAX;
        self.match_within(key, MatchState::default(), &mut unlimited) == Verdict::Match
    }

    /// Matches `key` from `state`, spending one unit of `budget` per step (a step advances the
    /// key or the pattern by one unit, or moves back to the last star). Returns
    /// [`Verdict::Paused`] when `budget` reaches 0 first; the key must be the same on resuming.
    pub fn match_within(&self, key: &[u8], state: MatchState, budget: &mut u64) -> Verdict {
        if self.match_all {
            return Verdict::Match;
        }
        // Every unit is at least one byte, so a key shorter in bytes is shorter in units.
        if key.len() < self.min_units {
            return Verdict::NoMatch;
        }
        let Some(units) = self.head_of(Units::of(key)) else { return Verdict::NoMatch };
        let tokens = &self.tokens[..self.tail];
        let MatchState { token: mut t, offset: mut k, mut star } = state;
        while let Some((unit, len)) = units.at(k) {
            if *budget == 0 {
                return Verdict::Paused(MatchState { token: t, offset: k, star });
            }
            *budget -= 1;
            match tokens.get(t) {
                Some(Token::Star) => {
                    star = Some((t, k));
                    t += 1;
                }
                Some(token) if token.matches(unit) => {
                    t += 1;
                    k += len;
                }
                _ => match star {
                    // Let the last `*` swallow one more unit and retry from just after it.
                    Some((star_t, star_k)) => {
                        let swallowed = star_k + units.at(star_k).map_or(1, |(_, l)| l);
                        star = Some((star_t, swallowed));
                        t = star_t + 1;
                        k = swallowed;
                    }
                    None => return Verdict::NoMatch,
                },
            }
        }
        // Consecutive stars are folded at compile time, so at most one star can remain.
        if tokens.get(t..).is_some_and(|rest| rest.iter().all(|token| *token == Token::Star)) {
            Verdict::Match
        } else {
            Verdict::NoMatch
        }
    }
}

impl Glob {
    /// Checks the run after the last `*` against the key's end; returns the rest of the key (what
    /// the pattern before that run must match), or `None` when the end does not match.
    fn head_of<'a>(&self, units: Units<'a>) -> Option<Units<'a>> {
        let run = &self.tokens[self.tail..];
        if run.is_empty() {
            return Some(units);
        }
        let cut = match units {
            Units::Bytes(bytes) => bytes.len().checked_sub(run.len())?,
            Units::Text(text) => text.char_indices().rev().nth(run.len() - 1)?.0,
        };
        let mut offset = cut;
        for token in run {
            let (unit, len) = units.at(offset)?;
            if !token.matches(unit) {
                return None;
            }
            offset += len;
        }
        Some(match units {
            Units::Bytes(bytes) => Units::Bytes(&bytes[..cut]),
            Units::Text(text) => Units::Text(&text[..cut]),
        })
    }
}

/// The longest run of tokens with a star on both sides.
fn middle_run(tokens: &[Token]) -> usize {
    let (mut longest, mut run, mut seen_star) = (0, 0, false);
    for token in tokens {
        if *token == Token::Star {
            if seen_star {
                longest = longest.max(run);
            }
            (run, seen_star) = (0, true);
        } else {
            run += 1;
        }
    }
    longest
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

mod parallel;
#[cfg(test)]
mod tests;
