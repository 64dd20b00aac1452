//! The query protocol's parameters: `application/x-www-form-urlencoded` decoding, and the
//! reshaping of its flattened names (`Attribute.1.Name`, `SendMessageBatchRequestEntry.2.Id`)
//! into the same JSON object the JSON protocol sends, so one decoder reads both.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{ErrorCode, SqsError};

/// Most parameters one query request may carry.
pub const MAX_FORM_PAIRS: usize = 4096;
/// Most dotted segments in one parameter name.
const MAX_NAME_SEGMENTS: usize = 6;

/// How a flattened query name maps onto the JSON member.
#[derive(Clone, Copy)]
enum Shape {
    /// `Name.N` (or `Name.N.Field…`) → `json: [..]`.
    List(&'static str),
    /// `Name.N.<key>` + `Name.N.<value>…` → `json: {key: value}`.
    Map(&'static str, &'static str, &'static str),
}

fn shape_of(name: &str) -> Option<Shape> {
    Some(match name {
        "Attribute" => Shape::Map("Attributes", "Name", "Value"),
        "MessageAttribute" => Shape::Map("MessageAttributes", "Name", "Value"),
        "MessageSystemAttribute" => Shape::Map("MessageSystemAttributes", "Name", "Value"),
        "Tag" => Shape::Map("Tags", "Key", "Value"),
        "AttributeName" => Shape::List("AttributeNames"),
        "MessageSystemAttributeName" => Shape::List("MessageSystemAttributeNames"),
        "MessageAttributeName" => Shape::List("MessageAttributeNames"),
        "TagKey" => Shape::List("TagKeys"),
        "StringListValue" => Shape::List("StringListValues"),
        "BinaryListValue" => Shape::List("BinaryListValues"),
        "SendMessageBatchRequestEntry"
        | "DeleteMessageBatchRequestEntry"
        | "ChangeMessageVisibilityBatchRequestEntry" => Shape::List("Entries"),
        _ => return None,
    })
}

/// Decodes a form body (or a query string) into name/value pairs.
///
/// # Errors
/// `MalformedQueryString` for bad percent escapes, non-UTF-8 text or too many pairs.
pub fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, SqsError> {
    let mut pairs = Vec::new();
    for part in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_FORM_PAIRS {
            return Err(malformed("too many parameters"));
        }
        let (name, value) = match part.iter().position(|b| *b == b'=') {
            Some(eq) => (&part[..eq], &part[eq + 1..]),
            None => (part, &[][..]),
        };
        pairs.push((percent_decode(name)?, percent_decode(value)?));
    }
    Ok(pairs)
}

fn malformed(why: &str) -> SqsError {
    SqsError::new(ErrorCode::MalformedQueryString, format!("Malformed query string: {why}."))
}

fn percent_decode(text: &[u8]) -> Result<String, SqsError> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = text.get(i + 1..i + 3).ok_or_else(|| malformed("truncated escape"))?;
                let hi = hex_digit(hex[0]).ok_or_else(|| malformed("bad escape"))?;
                let lo = hex_digit(hex[1]).ok_or_else(|| malformed("bad escape"))?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| malformed("text is not UTF-8"))
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Reshapes decoded pairs into the JSON protocol's object. `Action` and `Version` (and any
/// authentication parameters) come along as plain members; callers ignore them.
///
/// # Errors
/// `MalformedQueryString` for names too deep or list indexes that are not positive numbers.
pub fn to_json(pairs: &[(String, String)]) -> Result<Map<String, Value>, SqsError> {
    let mut split = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        let segments: Vec<&str> = name.split('.').collect();
        if segments.len() > MAX_NAME_SEGMENTS || segments.iter().any(|s| s.is_empty()) {
            return Err(malformed("parameter name"));
        }
        split.push((segments, value.as_str()));
    }
    structure(&split)
}

type Pairs<'a> = [(Vec<&'a str>, &'a str)];
/// Pairs grouped by list index.
type Indexed<'a> = BTreeMap<u32, Vec<(Vec<&'a str>, &'a str)>>;

/// Builds an object from pairs whose names are relative to it.
fn structure(pairs: &Pairs<'_>) -> Result<Map<String, Value>, SqsError> {
    let mut groups: BTreeMap<&str, Vec<(Vec<&str>, &str)>> = BTreeMap::new();
    for (segments, value) in pairs {
        if let Some((first, rest)) = segments.split_first() {
            groups.entry(first).or_default().push((rest.to_vec(), value));
        }
    }
    let mut object = Map::new();
    for (name, members) in groups {
        match (shape_of(name), members.iter().all(|(rest, _)| rest.is_empty())) {
            (_, true) => {
                let value = members.last().map_or("", |(_, v)| v);
                object.insert(name.to_owned(), Value::String(value.to_owned()));
            }
            (Some(Shape::List(json)), false) => {
                let items: Result<Vec<Value>, SqsError> =
                    indexed(&members)?.into_values().map(|e| element(&e)).collect();
                object.insert(json.to_owned(), Value::Array(items?));
            }
            (Some(Shape::Map(json, key, value)), false) => {
                object.insert(json.to_owned(), Value::Object(map(&members, key, value)?));
            }
            (None, false) => {
                object.insert(name.to_owned(), Value::Object(structure(&members)?));
            }
        }
    }
    Ok(object)
}

/// Groups `N.rest…` pairs by their positive index N, in index order.
fn indexed<'a>(pairs: &Pairs<'a>) -> Result<Indexed<'a>, SqsError> {
    let mut items: Indexed<'a> = BTreeMap::new();
    for (segments, value) in pairs {
        let Some((index, rest)) = segments.split_first() else { continue };
        let n: u32 = index.parse().ok().filter(|n| *n > 0).ok_or_else(|| malformed("list index"))?;
        items.entry(n).or_default().push((rest.to_vec(), value));
    }
    Ok(items)
}

/// One list element: a scalar (`Name.N=v`) or a structure (`Name.N.Field=v`).
fn element(pairs: &Pairs<'_>) -> Result<Value, SqsError> {
    match pairs {
        [(rest, value)] if rest.is_empty() => Ok(Value::String((*value).to_owned())),
        _ => Ok(Value::Object(structure(pairs)?)),
    }
}

fn map(pairs: &Pairs<'_>, key: &str, value: &str) -> Result<Map<String, Value>, SqsError> {
    let mut out = Map::new();
    for (_, entry) in indexed(pairs)? {
        let mut name = None;
        let mut inner = Vec::new();
        for (rest, v) in entry {
            match rest.split_first() {
                Some((first, [])) if *first == key => name = Some(v),
                Some((first, tail)) if *first == value => inner.push((tail.to_vec(), v)),
                _ => {}
            }
        }
        let Some(name) = name else { continue };
        let value = match inner.as_slice() {
            [] => Value::Null,
            _ => element(&inner)?,
        };
        out.insert(name.to_owned(), value);
    }
    Ok(out)
}
