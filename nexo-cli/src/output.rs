//! How results are written: an aligned table (or a line of text) by default, exactly one JSON
//! document with `--json`, and one JSON line per message for the following commands. Also how
//! payload bytes are shown. Nothing here talks to the server.

use std::io::Write;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::CliResult;

/// Where results go and in which form.
pub struct Out<'a> {
    writer: &'a mut dyn Write,
    json: bool,
}

impl std::fmt::Debug for Out<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Out").field("json", &self.json).finish_non_exhaustive()
    }
}

/// Rows under headers, printed with aligned columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Self { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row (one cell per header).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Adds a row of a name followed by numbers (the shape of every listing).
    pub fn named_row(&mut self, name: &str, numbers: &[u64]) {
        self.rows.push(std::iter::once(name.to_owned()).chain(numbers.iter().map(u64::to_string)).collect());
    }

    /// The table as text: headers, then rows, columns separated by two spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut text = String::new();
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                let pad = widths.get(i).copied().unwrap_or(0).saturating_sub(cell.chars().count());
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', pad));
            }
            text.trim_end().to_owned()
        };
        let mut out = line(&mut self.headers.iter().copied());
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(&mut row.iter().map(String::as_str)));
        }
        out
    }
}

impl<'a> Out<'a> {
    /// Results to `writer`, as JSON when `json`.
    pub fn new(writer: &'a mut dyn Write, json: bool) -> Self {
        Self { writer, json }
    }

    /// Whether `--json` was given.
    pub fn is_json(&self) -> bool {
        self.json
    }

    /// The one result of a command: `doc` with `--json`, else the table.
    ///
    /// # Errors
    /// When stdout cannot be written.
    pub fn table(&mut self, doc: &Value, table: &Table) -> CliResult {
        if self.json { self.json_line(doc) } else { self.text(&table.render()) }
    }

    /// The one result of a command: `doc` with `--json`, else `text`.
    ///
    /// # Errors
    /// When stdout cannot be written.
    pub fn result(&mut self, doc: &Value, text: &str) -> CliResult {
        if self.json { self.json_line(doc) } else { self.text(text) }
    }

    /// One line of JSON (a document, or one entry of a JSON-lines stream), flushed.
    ///
    /// # Errors
    /// When stdout cannot be written.
    pub fn json_line(&mut self, doc: &Value) -> CliResult {
        writeln!(self.writer, "{doc}")?;
        Ok(self.writer.flush()?)
    }

    /// A line of text, flushed (so `tail` and `subscribe` show each message at once).
    ///
    /// # Errors
    /// When stdout cannot be written.
    pub fn text(&mut self, text: &str) -> CliResult {
        writeln!(self.writer, "{text}")?;
        Ok(self.writer.flush()?)
    }
}

/// Payload bytes as JSON: a string when they are UTF-8 (after an SDK's `0x01` text or `0x02`
/// JSON type tag, which is dropped), else `{"base64": "…"}`.
pub fn payload_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(untagged(bytes)) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
    }
}

/// Payload bytes for a table: the text when UTF-8 (control characters escaped), else
/// `base64:…`.
pub fn payload_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(untagged(bytes)) {
        Ok(text) => text.escape_debug().to_string(),
        Err(_) => format!("base64:{}", base64::engine::general_purpose::STANDARD.encode(bytes)),
    }
}

fn untagged(bytes: &[u8]) -> &[u8] {
    match bytes.split_first() {
        Some((0x01 | 0x02, rest)) => rest,
        _ => bytes,
    }
}

/// A message id as 32 lowercase hex digits.
pub fn hex_id(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses 32 hex digits (dashes allowed) into a message id.
///
/// # Errors
/// A usage error naming the text.
pub fn parse_id(text: &str) -> CliResult<[u8; 16]> {
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    let bad = || crate::error::CliError::Usage(format!("'{text}' is not a message id (32 hex digits)"));
    if digits.len() != 32 {
        return Err(bad());
    }
    let mut id = [0u8; 16];
    for (slot, pair) in id.iter_mut().zip(digits.chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *slot = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new(&["NAME", "READY"]);
        t.row(vec!["jobs".into(), "12".into()]);
        t.row(vec!["a-longer-name".into(), "0".into()]);
        assert_eq!(t.render(), "NAME           READY\njobs           12\na-longer-name  0");
        assert_eq!(Table::new(&["KEY"]).render(), "KEY");
        let mut named = Table::new(&["NAME", "A", "B"]);
        named.named_row("q", &[1, 22]);
        assert_eq!(named.render(), "NAME  A  B\nq     1  22");
    }

    #[test]
    fn payloads_show_text_or_base64() {
        assert_eq!(payload_json(b"hello"), json!("hello"));
        assert_eq!(payload_json(b"\x01tagged"), json!("tagged"));
        assert_eq!(payload_json(&[0xff, 0x00]), json!({"base64": "/wA="}));
        assert_eq!(payload_text(b"a\nb"), "a\\nb");
        assert_eq!(payload_text(&[0xff]), "base64:/w==");
    }

    #[test]
    fn ids_round_trip_and_refuse_bad_text() {
        let id = [0xab; 16];
        assert_eq!(parse_id(&hex_id(&id)).unwrap(), id);
        assert_eq!(parse_id("abababab-abab-abab-abab-abababababab").unwrap(), id);
        assert!(parse_id("xyz").is_err());
        assert!(parse_id(&"g".repeat(32)).is_err());
    }

    #[test]
    fn out_writes_json_or_text() {
        let mut buf = Vec::new();
        Out::new(&mut buf, true).result(&json!({"ok": true}), "OK").unwrap();
        assert_eq!(buf, b"{\"ok\":true}\n");
        let mut buf = Vec::new();
        Out::new(&mut buf, false).result(&json!({"ok": true}), "OK").unwrap();
        assert_eq!(buf, b"OK\n");
    }
}
