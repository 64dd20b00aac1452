//! Settings of the Queue broker, their defaults, and queue-name validation.
//!
//! Owns the limits that keep everything a client can grow bounded and the rules for names. It
//! must not hold state; the broker reads these values, the runtimes fill them from flags.

use std::fmt;

use nexo_proto::DEFAULT_MAX_FRAME_BYTES;

/// Settings of the Queue broker. Every field is a limit or default with a documented behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Lease length of a queue created without `visibilityTimeoutMs` (or with `0`); default
    /// 30 000 ms as v1.
    pub default_visibility_timeout_ms: u64,
    /// `maxRetries` of a queue created without it; default 5 as v1.
    pub default_max_retries: u32,
    /// Messages per CONSUME without `batchSize`; default 10 as v1.
    pub default_batch_size: u32,
    /// Largest batch of a CONSUME and largest page of PEEK_DLQ and LIST; larger values are
    /// clamped silently (default 1000).
    pub max_batch_size: u32,
    /// Largest reply payload of CONSUME and PEEK_DLQ (the runtime sets it to its frame limit;
    /// default 10 MiB). A batch stops before exceeding it and always carries at least one message.
    pub max_reply_bytes: usize,
    /// Parked long-poll CONSUMEs per connection (default 1024); one more is answered
    /// `Too many pending requests`.
    pub max_parked_per_conn: usize,
    /// Depth limit (pending, ready, delayed and leased messages; not the DLQ) of a queue created
    /// without `maxDepth` (or with `0`); default 1 000 000. A PUSH beyond it is answered
    /// `Queue '<name>' is full`.
    pub default_max_depth: u64,
    /// Payload-byte limit of a queue created without `maxBytes` (or with `0`), counted like the
    /// depth; default 1 GiB.
    pub default_max_bytes: u64,
    /// Most queues (default 10 000); a CREATE of one more is answered `Too many queues (max N)`.
    pub max_queues: usize,
    /// Longest queue name in bytes (default 200; at most 65 535, what a journal record holds).
    pub max_name_bytes: usize,
    /// Compaction starts when the journal written since the last snapshot exceeds
    /// `compact_ratio × live bytes + compact_min_bytes` (default ratio 2).
    pub compact_ratio: u64,
    /// See [`QueueConfig::compact_ratio`]; default 4 MiB.
    pub compact_min_bytes: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            default_visibility_timeout_ms: 30_000,
            default_max_retries: 5,
            default_batch_size: 10,
            max_batch_size: 1000,
            max_reply_bytes: DEFAULT_MAX_FRAME_BYTES as usize,
            max_parked_per_conn: 1024,
            default_max_depth: 1_000_000,
            default_max_bytes: 1 << 30,
            max_queues: 10_000,
            max_name_bytes: 200,
            compact_ratio: 2,
            compact_min_bytes: 4 << 20,
        }
    }
}

/// Why a queue name was refused (`Invalid name: <why>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The empty string.
    Empty,
    /// Longer than [`QueueConfig::max_name_bytes`].
    TooLong(usize),
    /// Contains `/` or `\`.
    Separator,
    /// Contains a control character.
    Control,
    /// `.` or `..`.
    Dots,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Invalid name: ")?;
        match self {
            Self::Empty => f.write_str("empty"),
            Self::TooLong(max) => write!(f, "longer than {max} bytes"),
            Self::Separator => f.write_str("contains a path separator"),
            Self::Control => f.write_str("contains a control character"),
            Self::Dots => f.write_str("'.' and '..' are reserved"),
        }
    }
}

/// Checks a queue name: non-empty, at most `max_bytes` bytes, no `/`, `\` or control characters,
/// and not `.` or `..`.
///
/// # Errors
/// The first rule the name breaks.
pub fn validate_name(name: &str, max_bytes: usize) -> Result<(), NameError> {
    if name.is_empty() {
        Err(NameError::Empty)
    } else if name.len() > max_bytes {
        Err(NameError::TooLong(max_bytes))
    } else if name.contains(['/', '\\']) {
        Err(NameError::Separator)
    } else if name.chars().any(char::is_control) {
        Err(NameError::Control)
    } else if name == "." || name == ".." {
        Err(NameError::Dots)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_name("jobs", 200), Ok(()));
        assert_eq!(validate_name("a.b-c_d:e", 200), Ok(()));
        assert_eq!(validate_name("...", 200), Ok(()));
        assert_eq!(validate_name("", 200), Err(NameError::Empty));
        assert_eq!(validate_name(&"x".repeat(201), 200), Err(NameError::TooLong(200)));
        assert_eq!(validate_name(&"x".repeat(200), 200), Ok(()));
        assert_eq!(validate_name("a/b", 200), Err(NameError::Separator));
        assert_eq!(validate_name("a\\b", 200), Err(NameError::Separator));
        assert_eq!(validate_name("a\nb", 200), Err(NameError::Control));
        assert_eq!(validate_name("a\u{7f}", 200), Err(NameError::Control));
        assert_eq!(validate_name(".", 200), Err(NameError::Dots));
        assert_eq!(validate_name("..", 200), Err(NameError::Dots));
        assert_eq!(NameError::Empty.to_string(), "Invalid name: empty");
        assert_eq!(NameError::TooLong(200).to_string(), "Invalid name: longer than 200 bytes");
    }
}
