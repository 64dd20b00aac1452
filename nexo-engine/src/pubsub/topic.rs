//! Topic and pattern syntax: validation, `$share/` parsing and the reference matcher.
//!
//! Owns what a valid publish topic, pattern and shared subscription are, and the ERR texts a
//! client sees for each mistake ([`TopicError`]). It holds no state and knows nothing about
//! connections or subscriptions; [`matches()`] is the plain reading of the spec that the tree
//! (`tree.rs`) is tested and fuzzed against, and must never be used on the publish path.
//!
//! Rules (Nexo v1): levels are split on `/`; a level may be empty. In a pattern, `+` matches
//! exactly one level (an empty one too) and `#` matches the rest of the topic including zero
//! levels (`a/#` matches `a`; `#` alone matches everything). Both must be a whole level and `#`
//! must be the last one. A publish topic contains neither and does not start with `$share/`.

use std::fmt;

/// The prefix of a shared subscription: `$share/<group>/<filter>`.
pub const SHARE_PREFIX: &str = "$share/";

/// Length and depth limits for topics and patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicLimits {
    /// Longest topic or subscription string in bytes.
    pub max_bytes: usize,
    /// Most levels (`/`-separated parts).
    pub max_levels: usize,
}

impl Default for TopicLimits {
    fn default() -> Self {
        Self { max_bytes: 1024, max_levels: 32 }
    }
}

/// A client mistake in a topic, pattern or shared subscription. `Display` is the ERR text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// `Invalid topic: empty`.
    EmptyTopic,
    /// `Invalid topic: longer than N bytes`.
    TopicTooLong {
        /// The limit.
        max: usize,
    },
    /// `Invalid topic: more than N levels`.
    TopicTooDeep {
        /// The limit.
        max: usize,
    },
    /// `Wildcards are not allowed in a publish topic` (the spec's text).
    WildcardInTopic,
    /// `Invalid topic: $share/ is for subscriptions only` (the spec's text).
    ShareTopic,
    /// `Invalid pattern: empty`.
    EmptyPattern,
    /// `Invalid pattern: longer than N bytes`.
    PatternTooLong {
        /// The limit.
        max: usize,
    },
    /// `Invalid pattern: more than N levels`.
    PatternTooDeep {
        /// The limit.
        max: usize,
    },
    /// `Invalid pattern: '#' must be the last level`.
    HashNotLast,
    /// `Invalid pattern: '+' and '#' must be a whole level`.
    WildcardNotWholeLevel,
    /// `Invalid shared subscription: empty group name`.
    ShareEmptyGroup,
    /// `Invalid shared subscription: group name must not contain '+' or '#'`.
    ShareBadGroup,
    /// `Invalid shared subscription: missing filter`.
    ShareMissingFilter,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyTopic => f.write_str("Invalid topic: empty"),
            Self::TopicTooLong { max } => write!(f, "Invalid topic: longer than {max} bytes"),
            Self::TopicTooDeep { max } => write!(f, "Invalid topic: more than {max} levels"),
            Self::WildcardInTopic => f.write_str("Wildcards are not allowed in a publish topic"),
            Self::ShareTopic => f.write_str("Invalid topic: $share/ is for subscriptions only"),
            Self::EmptyPattern => f.write_str("Invalid pattern: empty"),
            Self::PatternTooLong { max } => write!(f, "Invalid pattern: longer than {max} bytes"),
            Self::PatternTooDeep { max } => write!(f, "Invalid pattern: more than {max} levels"),
            Self::HashNotLast => f.write_str("Invalid pattern: '#' must be the last level"),
            Self::WildcardNotWholeLevel => f.write_str("Invalid pattern: '+' and '#' must be a whole level"),
            Self::ShareEmptyGroup => f.write_str("Invalid shared subscription: empty group name"),
            Self::ShareBadGroup => {
                f.write_str("Invalid shared subscription: group name must not contain '+' or '#'")
            }
            Self::ShareMissingFilter => f.write_str("Invalid shared subscription: missing filter"),
        }
    }
}

impl std::error::Error for TopicError {}

/// What a SUBSCRIBE string asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscription<'a> {
    /// A plain pattern: every matching message is pushed to this connection.
    Normal(&'a str),
    /// `$share/<group>/<filter>`: each matching message goes to one member of the group.
    Shared {
        /// The group name (non-empty, no `/`, `+` or `#`).
        group: &'a str,
        /// The pattern the group subscribes to.
        filter: &'a str,
    },
}

fn level_count(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'/').count() + 1
}

/// Checks a PUBLISH topic.
///
/// # Errors
/// Empty, longer than `limits.max_bytes`, starting with `$share/`, containing `+` or `#`
/// anywhere, or deeper than `limits.max_levels` (checked in that order).
pub fn validate_topic(topic: &str, limits: TopicLimits) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::EmptyTopic);
    }
    if topic.len() > limits.max_bytes {
        return Err(TopicError::TopicTooLong { max: limits.max_bytes });
    }
    if topic.starts_with(SHARE_PREFIX) {
        return Err(TopicError::ShareTopic);
    }
    if topic.contains(['+', '#']) {
        return Err(TopicError::WildcardInTopic);
    }
    if level_count(topic) > limits.max_levels {
        return Err(TopicError::TopicTooDeep { max: limits.max_levels });
    }
    Ok(())
}

/// Checks a plain pattern (a subscription filter). `$share/` has no special meaning here; see
/// [`parse_subscription`].
///
/// # Errors
/// Empty, longer than `limits.max_bytes`, deeper than `limits.max_levels`, `#` before the last
/// level, or `+`/`#` inside a level (checked in that order, left to right).
pub fn validate_pattern(pattern: &str, limits: TopicLimits) -> Result<(), TopicError> {
    if pattern.is_empty() {
        return Err(TopicError::EmptyPattern);
    }
    if pattern.len() > limits.max_bytes {
        return Err(TopicError::PatternTooLong { max: limits.max_bytes });
    }
    if level_count(pattern) > limits.max_levels {
        return Err(TopicError::PatternTooDeep { max: limits.max_levels });
    }
    let mut levels = pattern.split('/').peekable();
    while let Some(level) = levels.next() {
        match level {
            "#" if levels.peek().is_some() => return Err(TopicError::HashNotLast),
            "#" | "+" => {}
            other if other.contains(['+', '#']) => return Err(TopicError::WildcardNotWholeLevel),
            _ => {}
        }
    }
    Ok(())
}

/// Parses a SUBSCRIBE (or UNSUBSCRIBE) string: `$share/<group>/<filter>` or a plain pattern.
///
/// # Errors
/// The whole string longer than `limits.max_bytes`; for a shared subscription an empty group,
/// a group containing `+` or `#`, a missing filter; then any [`validate_pattern`] error of the
/// filter or plain pattern.
pub fn parse_subscription(s: &str, limits: TopicLimits) -> Result<Subscription<'_>, TopicError> {
    let Some(rest) = s.strip_prefix(SHARE_PREFIX) else {
        validate_pattern(s, limits)?;
        return Ok(Subscription::Normal(s));
    };
    if s.len() > limits.max_bytes {
        return Err(TopicError::PatternTooLong { max: limits.max_bytes });
    }
    // The group ends at the first `/`, so it can never contain one.
    let (group, filter) = rest.split_once('/').unwrap_or((rest, ""));
    if group.is_empty() {
        return Err(TopicError::ShareEmptyGroup);
    }
    if group.contains(['+', '#']) {
        return Err(TopicError::ShareBadGroup);
    }
    if filter.is_empty() {
        return Err(TopicError::ShareMissingFilter);
    }
    validate_pattern(filter, limits)?;
    Ok(Subscription::Shared { group, filter })
}

/// The reference matcher, written straight from the spec: does `pattern` match `topic`?
///
/// Meant for valid inputs (tests, fuzzing, models); on others it still answers without
/// panicking. The broker uses the tree, never this.
pub fn matches(pattern: &str, topic: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let topic: Vec<&str> = topic.split('/').collect();
    let mut i = 0;
    loop {
        if pattern.get(i) == Some(&"#") {
            return true;
        }
        match (pattern.get(i), topic.get(i)) {
            (None, None) => return true,
            (Some(&p), Some(&t)) if p == "+" || p == t => i += 1,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    const L: TopicLimits = TopicLimits { max_bytes: 1024, max_levels: 32 };

    fn topic_err(t: &str) -> String {
        validate_topic(t, L).map_or_else(|e| e.to_string(), |()| "ok".into())
    }

    fn sub_err(s: &str) -> String {
        parse_subscription(s, L).map_or_else(|e| e.to_string(), |_| "ok".into())
    }

    #[test]
    fn reference_matcher_edge_cases() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a"));
        assert!(!matches("a", "a/b"));
        assert!(matches("a/+", "a/"));
        assert!(matches("+", ""));
        assert!(!matches("+", "a/b"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(!matches("a/#", "b"));
        assert!(matches("#", "x/y/z"));
        assert!(matches("#", "/"));
        assert!(matches("+/#", "a"));
        assert!(!matches("a/+/#", "a"));
        assert!(matches("a/+/#", "a/b"));
        assert!(matches("/+", "/x"));
        assert!(!matches("a/b", "a/c"));
    }

    #[test]
    fn topic_errors() {
        assert_eq!(topic_err("a/b"), "ok");
        assert_eq!(topic_err("a//b/"), "ok");
        assert_eq!(topic_err(""), "Invalid topic: empty");
        assert_eq!(topic_err("a/+"), "Wildcards are not allowed in a publish topic");
        assert_eq!(topic_err("a#b"), "Wildcards are not allowed in a publish topic");
        assert_eq!(topic_err("$share/g/a"), "Invalid topic: $share/ is for subscriptions only");
        assert_eq!(topic_err("$shared/a"), "ok");
        assert_eq!(topic_err(&"a".repeat(1025)), "Invalid topic: longer than 1024 bytes");
        assert_eq!(topic_err(&"a/".repeat(32)), "Invalid topic: more than 32 levels");
        assert_eq!(topic_err(&["a"; 32].join("/")), "ok");
    }

    #[test]
    fn pattern_errors() {
        for ok in ["#", "+", "a/#", "+/+/#", "/", "a//+", "$share", "$SYS/#"] {
            assert_eq!(sub_err(ok), "ok", "{ok}");
        }
        assert_eq!(sub_err(""), "Invalid pattern: empty");
        assert_eq!(sub_err("a/#/b"), "Invalid pattern: '#' must be the last level");
        assert_eq!(sub_err("#/"), "Invalid pattern: '#' must be the last level");
        assert_eq!(sub_err("a/b#"), "Invalid pattern: '+' and '#' must be a whole level");
        assert_eq!(sub_err("a+/b"), "Invalid pattern: '+' and '#' must be a whole level");
        assert_eq!(sub_err(&"+/".repeat(32)), "Invalid pattern: more than 32 levels");
        assert_eq!(sub_err(&"a".repeat(1025)), "Invalid pattern: longer than 1024 bytes");
    }

    #[test]
    fn shared_subscriptions() {
        assert_eq!(
            parse_subscription("$share/g/a/+", L),
            Ok(Subscription::Shared { group: "g", filter: "a/+" })
        );
        assert_eq!(parse_subscription("$share/g/#", L), Ok(Subscription::Shared { group: "g", filter: "#" }));
        assert_eq!(sub_err("$share//a"), "Invalid shared subscription: empty group name");
        assert_eq!(sub_err("$share/"), "Invalid shared subscription: empty group name");
        assert_eq!(
            sub_err("$share/g+/a"),
            "Invalid shared subscription: group name must not contain '+' or '#'"
        );
        assert_eq!(
            sub_err("$share/#"),
            "Invalid shared subscription: group name must not contain '+' or '#'"
        );
        assert_eq!(sub_err("$share/g"), "Invalid shared subscription: missing filter");
        assert_eq!(sub_err("$share/g/"), "Invalid shared subscription: missing filter");
        assert_eq!(sub_err("$share/g/a/#/b"), "Invalid pattern: '#' must be the last level");
        let long = format!("$share/g/{}", "a".repeat(1020));
        assert_eq!(sub_err(&long), "Invalid pattern: longer than 1024 bytes");
    }
}
