//! Typed reads of request members from the JSON object both protocols decode into: strings,
//! integers (a JSON number or a numeric string, as the query protocol sends), string lists and
//! string maps, each with SQS's error for a missing or ill-typed member.

use serde_json::{Map, Value};

use super::error::{ErrorCode, SqsError};

/// A request's members.
pub type Object = Map<String, Value>;

fn wrong_type(name: &str) -> SqsError {
    SqsError::new(ErrorCode::InvalidParameterValue, format!("Invalid type for parameter {name}."))
}

/// An optional string member.
///
/// # Errors
/// `InvalidParameterValue` when present but not a string.
pub fn opt_str<'a>(obj: &'a Object, name: &str) -> Result<Option<&'a str>, SqsError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(name)),
    }
}

/// A required string member.
///
/// # Errors
/// `MissingParameter` when absent, `InvalidParameterValue` when not a string.
pub fn req_str<'a>(obj: &'a Object, name: &str) -> Result<&'a str, SqsError> {
    opt_str(obj, name)?.ok_or_else(|| SqsError::missing(name))
}

/// An optional integer member (number or numeric string).
///
/// # Errors
/// `InvalidParameterValue` when present but not an integer.
pub fn opt_int(obj: &Object, name: &str) -> Result<Option<i64>, SqsError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(name)),
        Some(Value::String(s)) => {
            s.trim().parse().map(Some).map_err(|_| SqsError::invalid_value(name, s, "must be an integer"))
        }
        Some(_) => Err(wrong_type(name)),
    }
}

/// An optional integer within `min..=max`, with AWS's out-of-range wording.
///
/// # Errors
/// `InvalidParameterValue` when not an integer or out of range.
pub fn opt_int_in(obj: &Object, name: &str, min: i64, max: i64) -> Result<Option<u32>, SqsError> {
    let Some(n) = opt_int(obj, name)? else { return Ok(None) };
    if n < min || n > max {
        let reason = format!("must be between {min} and {max}, if provided");
        return Err(SqsError::invalid_value(name, &n.to_string(), &reason));
    }
    u32::try_from(n).map(Some).map_err(|_| wrong_type(name))
}

/// An optional list of strings.
///
/// # Errors
/// `InvalidParameterValue` when present but not a list of strings.
pub fn str_list(obj: &Object, name: &str) -> Result<Vec<String>, SqsError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            items.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(|| wrong_type(name))).collect()
        }
        Some(_) => Err(wrong_type(name)),
    }
}

/// An optional map of strings to strings (numbers are taken as their text), in name order.
///
/// # Errors
/// `InvalidParameterValue` when present but not such a map.
pub fn str_map(obj: &Object, name: &str) -> Result<Vec<(String, String)>, SqsError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                _ => Err(wrong_type(name)),
            })
            .collect(),
        Some(_) => Err(wrong_type(name)),
    }
}

/// An optional list of objects (batch entries).
///
/// # Errors
/// `InvalidParameterValue` when present but not a list of objects.
pub fn obj_list<'a>(obj: &'a Object, name: &str) -> Result<Vec<&'a Object>, SqsError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            items.iter().map(|v| v.as_object().ok_or_else(|| wrong_type(name))).collect()
        }
        Some(_) => Err(wrong_type(name)),
    }
}
