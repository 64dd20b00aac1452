//! How the dashboard shows stored bytes: by the SDK's one-byte type tag.
//!
//! `0x00` raw → hex, `0x01` UTF-8 text → text, `0x02` JSON → pretty-printed JSON; anything else
//! is untagged: text when it is UTF-8, else hex. Previews are heads of values, so a cut-off JSON
//! value or a character split at the end is expected and shown as text, never an error. Owns
//! nothing else; the page only displays what this returns (never as HTML).

use serde_json::{Value, json};

/// The JSON description of a value whose first bytes are `head` and whose full size is
/// `size`: `{tag, kind, text, size, truncated}`, where `tag` is `raw`/`text`/`json` or `null`
/// (untagged) and `kind` is how `text` is written (`hex`, `text` or `json`).
pub fn describe(head: &[u8], size: u64) -> Value {
    let truncated = (head.len() as u64) < size;
    let (tag, kind, text) = match head.split_first() {
        Some((0x00, rest)) => ("raw", "hex", hex(rest)),
        Some((0x01, rest)) => ("text", "text", utf8_prefix(rest, truncated)),
        Some((0x02, rest)) => match serde_json::from_slice::<Value>(rest) {
            Ok(parsed) => (
                "json",
                "json",
                serde_json::to_string_pretty(&parsed).unwrap_or_else(|_| utf8_prefix(rest, true)),
            ),
            Err(_) => ("json", "text", utf8_prefix(rest, truncated)),
        },
        _ => match untagged_text(head, truncated) {
            Some(text) => ("", "text", text),
            None => ("", "hex", hex(head)),
        },
    };
    let tag = if tag.is_empty() { Value::Null } else { Value::from(tag) };
    json!({ "tag": tag, "kind": kind, "text": text, "size": size, "truncated": truncated })
}

/// Text when `bytes` is UTF-8 (allowing a character cut at the end of a truncated preview).
fn untagged_text(bytes: &[u8], truncated: bool) -> Option<String> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Some(text.to_owned()),
        Err(e) if truncated && e.error_len().is_none() => {
            bytes.get(..e.valid_up_to()).and_then(|b| std::str::from_utf8(b).ok()).map(str::to_owned)
        }
        Err(_) => None,
    }
}

/// Tagged text: invalid sequences become U+FFFD, except a character cut by the preview's end,
/// which is dropped.
fn utf8_prefix(bytes: &[u8], truncated: bool) -> String {
    untagged_text(bytes, truncated).unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned())
}

/// Lower-case hex, a space between bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A 16-byte id written as a UUID (`8-4-4-4-12` hex digits).
pub fn uuid(id: &[u8; 16]) -> String {
    let digits: String = hex(id).split(' ').collect();
    let part = |from: usize, to: usize| digits.get(from..to).unwrap_or_default().to_owned();
    format!("{}-{}-{}-{}-{}", part(0, 8), part(8, 12), part(12, 16), part(16, 20), part(20, 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(head: &[u8], size: u64) -> (Value, String, String, bool) {
        let v = describe(head, size);
        (
            v["tag"].clone(),
            v["kind"].as_str().unwrap().to_owned(),
            v["text"].as_str().unwrap().to_owned(),
            v["truncated"].as_bool().unwrap(),
        )
    }

    #[test]
    fn tags_pick_the_rendering() {
        assert_eq!(shown(b"\x00\xde\xad", 3), (json!("raw"), "hex".into(), "de ad".into(), false));
        assert_eq!(shown(b"\x01hello", 6), (json!("text"), "text".into(), "hello".into(), false));
        let (tag, kind, text, _) = shown(b"\x02{\"a\":[1,2]}", 12);
        assert_eq!((tag, kind.as_str()), (json!("json"), "json"));
        assert_eq!(text, "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
    }

    #[test]
    fn untagged_and_cut_values() {
        assert_eq!(shown(b"plain", 5), (Value::Null, "text".into(), "plain".into(), false));
        assert_eq!(shown(b"\xff\xfe", 2), (Value::Null, "hex".into(), "ff fe".into(), false));
        // A JSON preview cut short is shown as text; a split character at the end is dropped.
        assert_eq!(shown(b"\x02{\"a\":", 100), (json!("json"), "text".into(), "{\"a\":".into(), true));
        assert_eq!(
            shown("hé".as_bytes().get(..2).unwrap(), 3),
            (Value::Null, "text".into(), "h".into(), true)
        );
        assert_eq!(shown(b"", 0), (Value::Null, "text".into(), String::new(), false));
    }

    #[test]
    fn uuids() {
        let id: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(uuid(&id), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
