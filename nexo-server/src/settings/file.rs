//! The config file: TOML text to a flat list of `key = value(s)` entries with their line.
//!
//! This module knows TOML and nothing about which keys exist; [`super::load`] checks each key
//! against the flag definitions. Values become the text a flag would carry (`7654`, `1.5`,
//! `true`, `"always"` → `always`), so one value parser serves flags, environment and file.
//! The one table key is `[[users]]`, handed to [`super::users`].

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::users::{self, UserSpec};

/// What a config file holds: the settings and the `[[users]]` tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// Top-level settings, in file order.
    pub entries: Vec<Entry>,
    /// The `[[users]]` tables, in file order.
    pub users: Vec<UserSpec>,
}

/// One top-level `key = value` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written.
    pub key: String,
    /// The value as flag text; an array gives one text per element.
    pub values: Vec<String>,
    /// The 1-based line of the key.
    pub line: usize,
}

/// What is wrong with a config file, located as precisely as known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The key, when the problem belongs to one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "config file {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key '{key}'")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FileError {}

/// A problem found while parsing text, before the file's path is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseProblem {
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// The key, when the problem belongs to one.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ParseProblem {
    /// Attaches the file's path.
    pub fn in_file(self, path: &Path) -> FileError {
        FileError { path: path.to_path_buf(), line: self.line, key: self.key, message: self.message }
    }
}

/// Reads and parses the config file at `path`.
///
/// # Errors
/// The file cannot be read, is not TOML, or holds a value no flag could carry.
pub fn read(path: &Path) -> Result<Contents, FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        path: path.to_path_buf(),
        line: None,
        key: None,
        message: format!("cannot read it: {e}"),
    })?;
    parse(&text).map_err(|p| p.in_file(path))
}

/// Parses config-file text into entries, in file order.
///
/// # Errors
/// Not TOML, a value that is a table, a date or a nested array, or a bad `[[users]]` table.
pub fn parse(text: &str) -> Result<Contents, ParseProblem> {
    let table = DeTable::parse(text).map_err(|e| ParseProblem {
        line: e.span().map(|span| line_of(text, span.start)),
        key: None,
        message: format!("not valid TOML: {}", e.message().trim()),
    })?;
    let mut contents = Contents::default();
    for (key, value) in table.get_ref() {
        let line = line_of(text, key.span().start);
        let key = key.get_ref().to_string();
        let problem = |message: String| ParseProblem { line: Some(line), key: Some(key.clone()), message };
        if key == "users" {
            contents.users = users::from_toml(value.get_ref()).map_err(problem)?;
            continue;
        }
        let values = match value.get_ref() {
            DeValue::Array(items) => {
                items.iter().map(|item| scalar_text(item.get_ref())).collect::<Result<Vec<_>, _>>()
            }
            other => scalar_text(other).map(|text| vec![text]),
        }
        .map_err(problem)?;
        contents.entries.push(Entry { key, values, line });
    }
    contents.entries.sort_by_key(|e| e.line);
    Ok(contents)
}

/// The flag text of a single TOML value.
fn scalar_text(value: &DeValue<'_>) -> Result<String, String> {
    match value {
        DeValue::String(text) => Ok(text.to_string()),
        DeValue::Integer(int) => {
            let digits = int.as_str().replace('_', "");
            i128::from_str_radix(&digits, int.radix())
                .map(|n| n.to_string())
                .map_err(|_| format!("'{}' is not an integer", int.as_str()))
        }
        DeValue::Float(float) => Ok(float.as_str().replace('_', "")),
        DeValue::Boolean(flag) => Ok(flag.to_string()),
        DeValue::Datetime(_) => Err("a date is not a setting value".into()),
        DeValue::Array(_) => Err("a nested array is not a setting value".into()),
        DeValue::Table(_) => Err("a table is not a setting value; settings are top-level keys".into()),
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, values: &[&str], line: usize) -> Entry {
        Entry { key: key.into(), values: values.iter().map(|v| (*v).to_owned()).collect(), line }
    }

    #[test]
    fn scalars_become_flag_text() {
        let text = "# comment\nport = 7654\nfsync = \"always\"\n\nno-ui = true\nsize = 1.5\nhex = 0x10\n\
                    hosts = [\"a\", \"b\"]\n";
        assert_eq!(
            parse(text).map(|c| c.entries),
            Ok(vec![
                entry("port", &["7654"], 2),
                entry("fsync", &["always"], 3),
                entry("no-ui", &["true"], 5),
                entry("size", &["1.5"], 6),
                entry("hex", &["16"], 7),
                entry("hosts", &["a", "b"], 8),
            ])
        );
    }

    #[test]
    fn problems_name_line_and_key() {
        let bad = parse("port = 1\n[store]\nmax = 1\n").unwrap_err();
        assert_eq!((bad.line, bad.key.as_deref()), (Some(2), Some("store")));
        let bad = parse("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(bad.line, Some(2));
        assert!(bad.message.contains("TOML"), "{}", bad.message);
        let bad = parse("when = 1979-05-27\n").unwrap_err();
        assert_eq!(bad.key.as_deref(), Some("when"));
        let located = ParseProblem { line: Some(3), key: Some("port".into()), message: "bad".into() }
            .in_file(Path::new("/etc/nexo.toml"));
        assert_eq!(located.to_string(), "config file /etc/nexo.toml, line 3, key 'port': bad");
    }
}
