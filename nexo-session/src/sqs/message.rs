//! Message contents as SQS sees them: message attributes (decoded and validated), the MD5
//! digests SQS returns for a body and for attributes, and SQS's rule on body characters.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use md5::{Digest, Md5};
use serde_json::Value;

use super::error::{ErrorCode, SqsError};
use super::fields::{Object, opt_str};

/// Most message attributes on one message (SQS's limit).
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// Longest attribute name.
const MAX_ATTRIBUTE_NAME_CHARS: usize = 256;

/// An attribute's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// `String…` and `Number…` data types.
    Text(String),
    /// `Binary…` data types (decoded from base64).
    Binary(Vec<u8>),
}

/// One message attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttribute {
    /// Attribute name.
    pub name: String,
    /// Data type, with any custom suffix (`Number.float`).
    pub data_type: String,
    /// The value.
    pub value: AttributeValue,
}

impl MessageAttribute {
    /// Bytes this attribute counts toward the message size (name, type and value).
    pub fn size(&self) -> usize {
        let value = match &self.value {
            AttributeValue::Text(s) => s.len(),
            AttributeValue::Binary(b) => b.len(),
        };
        self.name.len() + self.data_type.len() + value
    }
}

fn invalid(message: String) -> SqsError {
    SqsError::new(ErrorCode::InvalidParameterValue, message)
}

/// Decodes a `MessageAttributes` (or `MessageSystemAttributes`) map, sorted by name.
///
/// # Errors
/// `InvalidParameterValue` for bad names, data types, values or too many attributes.
pub fn decode_attributes(obj: &Object, member: &str) -> Result<Vec<MessageAttribute>, SqsError> {
    let Some(map) = obj.get(member).and_then(Value::as_object) else {
        return match obj.get(member) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(_) => Err(invalid(format!("Invalid type for parameter {member}."))),
        };
    };
    if map.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
            map.len()
        )));
    }
    let mut out = Vec::with_capacity(map.len());
    for (name, v) in map {
        check_attribute_name(name)?;
        let fields = v.as_object().ok_or_else(|| invalid(format!("Message attribute '{name}' must contain a non-empty value of type 'String', 'Number' or 'Binary'.")))?;
        out.push(decode_value(name, fields)?);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn decode_value(name: &str, fields: &Object) -> Result<MessageAttribute, SqsError> {
    let data_type = opt_str(fields, "DataType")?.filter(|t| !t.is_empty()).ok_or_else(|| {
        invalid(format!("The message attribute '{name}' must contain non-empty message attribute type."))
    })?;
    let base = data_type.split('.').next().unwrap_or_default();
    let value = match base {
        "String" | "Number" => opt_str(fields, "StringValue")?
            .filter(|s| !s.is_empty())
            .map(|s| AttributeValue::Text(s.to_owned())),
        "Binary" => match opt_str(fields, "BinaryValue")? {
            Some(b64) => Some(AttributeValue::Binary(BASE64.decode(b64).map_err(|_| {
                invalid(format!("The message attribute '{name}' has an invalid binary value."))
            })?)),
            None => None,
        }
        .filter(|v| !matches!(v, AttributeValue::Binary(b) if b.is_empty())),
        _ => {
            return Err(invalid(format!(
                "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
            )));
        }
    };
    let value = value.ok_or_else(|| {
        invalid(format!("The message attribute '{name}' must contain a non-empty message attribute value for message attribute type '{base}'."))
    })?;
    if let AttributeValue::Text(s) = &value
        && !is_sqs_text(s)
    {
        return Err(invalid(format!(
            "The message attribute '{name}' contains characters outside the allowed set."
        )));
    }
    Ok(MessageAttribute { name: name.to_owned(), data_type: data_type.to_owned(), value })
}

fn check_attribute_name(name: &str) -> Result<(), SqsError> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_ATTRIBUTE_NAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok { Ok(()) } else { Err(invalid(format!("Message attribute name '{name}' is invalid."))) }
}

/// Whether `text` holds only the characters SQS allows in a body: XML 1.0's
/// `#x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF`.
pub fn is_sqs_text(text: &str) -> bool {
    text.chars().all(
        |c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..),
    )
}

/// Lower-case hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// SQS's MD5 of a set of message attributes: for each attribute in name order, the name, the
/// data type and the value, each as a 4-byte big-endian length and the bytes, with a transport
/// byte (1 text, 2 binary) before the value. `None` for no attributes (SQS omits the field).
pub fn attributes_md5(attributes: &[MessageAttribute]) -> Option<String> {
    if attributes.is_empty() {
        return None;
    }
    let mut sorted: Vec<&MessageAttribute> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut md5 = Md5::new();
    for a in sorted {
        let (transport, value) = match &a.value {
            AttributeValue::Text(s) => (1u8, s.as_bytes()),
            AttributeValue::Binary(b) => (2u8, b.as_slice()),
        };
        for field in [a.name.as_bytes(), a.data_type.as_bytes()] {
            md5.update(len_be(field));
            md5.update(field);
        }
        md5.update([transport]);
        md5.update(len_be(value));
        md5.update(value);
    }
    Some(hex(&md5.finalize()))
}

fn len_be(bytes: &[u8]) -> [u8; 4] {
    u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Base64 of `bytes` (binary attribute values in replies).
pub fn base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}
