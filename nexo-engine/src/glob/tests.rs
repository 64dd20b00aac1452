//! Unit tests of the glob matcher: syntax, units, the length cap and budgeted resumption.

use super::{Glob, MAX_PATTERN_BYTES, MatchState, PatternTooLong, Verdict};

fn glob(pattern: &str) -> Glob {
    Glob::compile(pattern).unwrap()
}

fn m(pattern: &str, key: &str) -> bool {
    glob(pattern).matches(key.as_bytes())
}

/// Matches with `budget` steps per call, resuming until done; returns the verdict and the calls.
fn in_slices(glob: &Glob, key: &[u8], budget: u64) -> (bool, u64) {
    let mut state = MatchState::default();
    let mut calls = 0;
    loop {
        calls += 1;
        let mut left = budget;
        match glob.match_within(key, state, &mut left) {
            Verdict::Match => return (true, calls),
            Verdict::NoMatch => return (false, calls),
            Verdict::Paused(next) => {
                assert_eq!(left, 0, "pauses only when the budget is spent");
                state = next;
            }
        }
    }
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
    assert!(m("*é*ü", "xéyyü"));
    assert!(!m("*é*ü", "xéyyu"));
    assert!(glob("a?").matches(&[b'a', 0xFF]));
    assert!(!glob("a?").matches(&[b'a', 0xFF, 0xFE]));
    assert!(glob("a*").matches(&[b'a', 0xFF, 0xFE]));
}

#[test]
fn length_cap() {
    let at_cap = "a".repeat(MAX_PATTERN_BYTES);
    assert!(Glob::compile(&at_cap).is_ok());
    let over = "a".repeat(MAX_PATTERN_BYTES + 1);
    let err = Glob::compile(&over).unwrap_err();
    assert_eq!(err, PatternTooLong { bytes: MAX_PATTERN_BYTES + 1 });
    assert_eq!(
        err.to_string(),
        format!("ERR pattern too long (32769 bytes; the limit is {MAX_PATTERN_BYTES})")
    );
}

#[test]
fn literal_prefix_stops_at_the_first_wildcard() {
    assert_eq!(glob("news.*").literal_prefix(), "news.");
    assert_eq!(glob("a\\*b?c").literal_prefix(), "a*b");
    assert_eq!(glob("*x").literal_prefix(), "");
    assert_eq!(glob("[ab]x").literal_prefix(), "");
    assert_eq!(glob("café").literal_prefix(), "café");
}

#[test]
fn a_paused_match_resumes_to_the_same_verdict() {
    let cases: [(&str, &str); 6] = [
        ("a*b*c", "aXXbYYc"),
        ("a*b*c", "aXXbYY"),
        ("*é*ü", "xéyyü"),
        ("*[0-9]?x", "aaaa1bx"),
        ("*aab", "aaaaaaaaaaab"),
        ("*aab", "aaaaaaaaaaaa"),
    ];
    for (pattern, key) in cases {
        let whole = m(pattern, key);
        for budget in [1, 2, 3, 7] {
            assert_eq!(
                in_slices(&glob(pattern), key.as_bytes(), budget).0,
                whole,
                "{pattern} / {key} / {budget}"
            );
        }
    }
}

#[test]
fn pathological_patterns_are_bounded_by_the_budget() {
    // A long star-free run retried at every offset: the classic worst case of this algorithm.
    let key = "a".repeat(4096);
    let pattern = format!("*{}b*", "a".repeat(1000));
    let g = glob(&pattern);
    let (matched, calls) = in_slices(&g, key.as_bytes(), 10_000);
    assert!(!matched);
    // About 3,100 offsets × 1,000 steps: hundreds of slices, none longer than its budget.
    assert!(calls > 100, "the work was spread over {calls} calls");
    // The shape: many one-unit runs cost one pass over the key.
    let star_a = "*a".repeat(2000);
    let mut budget = 100_000;
    assert_eq!(
        glob(&star_a).match_within(key.as_bytes(), MatchState::default(), &mut budget),
        Verdict::Match
    );
    assert!(100_000 - budget < 20_000, "linear: {} steps", 100_000 - budget);
}

#[test]
fn short_keys_fail_without_work() {
    let g = glob(&format!("*{}", "?".repeat(100)));
    let mut budget = 0;
    assert_eq!(g.match_within(&[b'a'; 99], MatchState::default(), &mut budget), Verdict::NoMatch);
}

#[test]
fn the_run_after_the_last_star_is_checked_once_at_the_end() {
    let key = "a".repeat(4096);
    let g = glob(&format!("*{}b", "a".repeat(1000)));
    let mut budget = 10;
    assert_eq!(g.match_within(key.as_bytes(), MatchState::default(), &mut budget), Verdict::NoMatch);
    assert!(m("*é?", "xxéü") && !m("*é?", "xxéüü") && m("a*[0-9]x", "abc7x") && !m("a*[0-9]x", "a7"));
}

#[test]
fn the_ascii_prefilter_needs_every_literal() {
    let topic = b"news.sport";
    let set = super::AsciiSet::of(topic);
    assert!(glob("news.*").may_match(set, topic.len()));
    assert!(glob("*[xyz]*").may_match(set, topic.len()), "classes are not required literals");
    assert!(!glob("*x*").may_match(set, topic.len()));
    assert!(!glob("??????????????").may_match(set, topic.len()), "too short");
    assert!(glob("*").may_match(super::AsciiSet::default(), 0));
}
