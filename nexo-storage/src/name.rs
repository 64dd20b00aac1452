//! Log names: the only strings that ever become paths in the data directory.
//!
//! A name is checked once, when a [`LogName`] is built; the rest of the crate joins `LogName`s to
//! the data directory without looking at them again. [`validate_name`] applies the same rules to
//! client-chosen queue and topic names, for the brokers. This module does no I/O.

use std::fmt;

/// Longest queue or topic name a client may choose, in bytes (see [`validate_name`]).
pub const MAX_NAME_BYTES: usize = 200;

/// Longest log name, in bytes: a client name of [`MAX_NAME_BYTES`] plus a runtime prefix such as
/// `queue-` fits, and it stays well under the 255-byte file-name limit of common file systems.
pub const MAX_LOG_NAME_BYTES: usize = 240;

/// Names the data directory uses for itself, so no log may take them.
const RESERVED: &[&str] = &["LOCK"];

/// Why a name was refused. `Display` gives the client-facing text, `Invalid name: <why>`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than allowed.
    TooLong {
        /// Length of the refused name, in bytes.
        bytes: usize,
        /// The limit that applied.
        max: usize,
    },
    /// The name contains a path separator (`/` or `\`).
    Separator(char),
    /// The name contains NUL or another control character.
    Control(char),
    /// The name is `.` or `..`.
    Dots,
    /// The name starts with `.` (hidden and temporary files live there).
    LeadingDot,
    /// The name is used by the data directory itself (`LOCK`).
    Reserved(&'static str),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Invalid name: ")?;
        match self {
            NameError::Empty => f.write_str("empty"),
            NameError::TooLong { bytes, max } => write!(f, "{bytes} bytes long, at most {max} allowed"),
            NameError::Separator(c) => write!(f, "contains '{c}'"),
            NameError::Control(c) => write!(f, "contains control character U+{:04X}", u32::from(*c)),
            NameError::Dots => f.write_str("'.' and '..' are not names"),
            NameError::LeadingDot => f.write_str("starts with '.'"),
            NameError::Reserved(name) => write!(f, "'{name}' is reserved"),
        }
    }
}

impl std::error::Error for NameError {}

/// Checks a client-chosen queue or topic name (at most [`MAX_NAME_BYTES`] bytes).
///
/// The rules are those of [`LogName::new`]: not empty, no `/`, `\`, NUL or other control
/// character, not `.` or `..`, not starting with `.`. Any other Unicode is allowed.
///
/// # Errors
/// The first rule the name breaks, as a [`NameError`].
pub fn validate_name(name: &str) -> Result<(), NameError> {
    check(name, MAX_NAME_BYTES)
}

fn check(name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > max {
        return Err(NameError::TooLong { bytes: name.len(), max });
    }
    if name == "." || name == ".." {
        return Err(NameError::Dots);
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot);
    }
    for c in name.chars() {
        if c == '/' || c == '\\' {
            return Err(NameError::Separator(c));
        }
        if c.is_control() {
            return Err(NameError::Control(c));
        }
    }
    Ok(())
}

/// A validated log name; also the name of the log's directory under the data directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogName(String);

impl LogName {
    /// Validates `name` (the rules of [`validate_name`], at most [`MAX_LOG_NAME_BYTES`] bytes,
    /// and not a reserved name such as `LOCK`).
    ///
    /// # Errors
    /// The first rule the name breaks, as a [`NameError`].
    pub fn new(name: &str) -> Result<Self, NameError> {
        check(name, MAX_LOG_NAME_BYTES)?;
        if let Some(reserved) = RESERVED.iter().find(|r| **r == name) {
            return Err(NameError::Reserved(reserved));
        }
        Ok(LogName(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for LogName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for LogName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogName::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(name: &str) -> String {
        match LogName::new(name) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        for name in ["jobs", "queue-journal", "a.b_c-d:e", "Ünïcødé", "x..y", "q."] {
            assert_eq!(why(name), "ok", "{name}");
        }
        assert_eq!(LogName::new("jobs").map(|n| n.as_str().to_owned()), Ok("jobs".to_owned()));
    }

    #[test]
    fn refuses_with_stable_texts() {
        assert_eq!(why(""), "Invalid name: empty");
        assert_eq!(why("a/b"), "Invalid name: contains '/'");
        assert_eq!(why("a\\b"), "Invalid name: contains '\\'");
        assert_eq!(why("a\0b"), "Invalid name: contains control character U+0000");
        assert_eq!(why("a\nb"), "Invalid name: contains control character U+000A");
        assert_eq!(why("a\u{7f}"), "Invalid name: contains control character U+007F");
        assert_eq!(why("."), "Invalid name: '.' and '..' are not names");
        assert_eq!(why(".."), "Invalid name: '.' and '..' are not names");
        assert_eq!(why(".hidden"), "Invalid name: starts with '.'");
        assert_eq!(why("LOCK"), "Invalid name: 'LOCK' is reserved");
        assert_eq!(why("../etc"), "Invalid name: starts with '.'");
    }

    #[test]
    fn length_limits() {
        let client = "a".repeat(MAX_NAME_BYTES);
        assert_eq!(validate_name(&client), Ok(()));
        assert_eq!(
            validate_name(&format!("{client}a")),
            Err(NameError::TooLong { bytes: MAX_NAME_BYTES + 1, max: MAX_NAME_BYTES })
        );
        assert!(LogName::new(&format!("queue-{client}")).is_ok());
        let long = "b".repeat(MAX_LOG_NAME_BYTES + 1);
        assert_eq!(why(&long), format!("Invalid name: 241 bytes long, at most {MAX_LOG_NAME_BYTES} allowed"));
    }

    #[test]
    fn validate_name_allows_lock_for_clients() {
        // Client names are prefixed before they become log names, so `LOCK` is harmless there.
        assert_eq!(validate_name("LOCK"), Ok(()));
    }
}
