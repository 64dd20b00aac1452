//! From an HTTP request to an SQS action, and from a reply or an error to an HTTP response, for
//! both wire protocols: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Action>`, JSON bodies) and the
//! query protocol (form-encoded `Action=…`, XML replies).

use bytes::BytesMut;
use nexo_proto::http::{HttpRequest, encode_response};
use serde_json::{Map, Value, json};

use super::action::{Action, decode_action};
use super::error::{ErrorCode, SqsError};
use super::form::{decode_form, to_json};
use super::names::DEFAULT_REGION;
use super::reply::Reply;
use super::xml::{error_document, reply_document};

/// The JSON protocol's content type.
pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const XML_CONTENT_TYPE: &str = "text/xml";

/// Which wire protocol a request used (its reply uses the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON 1.0.
    Json,
    /// The query protocol.
    Query,
}

/// A request's protocol, action name and members, before the action is decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The protocol (known even when the rest failed, so errors use its shape).
    pub protocol: Protocol,
    /// Action name (`SendMessage`).
    pub action: String,
    /// Members, in the JSON protocol's shape for both protocols.
    pub members: Map<String, Value>,
}

impl Envelope {
    /// Decodes the typed action.
    ///
    /// # Errors
    /// The first validation error (see [`decode_action`]).
    pub fn action(&self) -> Result<Action, SqsError> {
        decode_action(&self.action, &self.members)
    }
}

/// The protocol a request speaks: JSON when it names an `X-Amz-Target`, else query.
pub fn protocol_of(req: &HttpRequest) -> Protocol {
    if req.header("x-amz-target").is_some() { Protocol::Json } else { Protocol::Query }
}

/// Reads protocol, action and members from a request.
///
/// # Errors
/// `(protocol, error)`: `InvalidAction` for a missing or foreign target, `MalformedQueryString`
/// or `InvalidParameterValue` for bodies that do not parse.
pub fn envelope(req: &HttpRequest) -> Result<Envelope, (Protocol, SqsError)> {
    let protocol = protocol_of(req);
    match protocol {
        Protocol::Json => json_envelope(req).map_err(|e| (protocol, e)),
        Protocol::Query => query_envelope(req).map_err(|e| (protocol, e)),
    }
}

fn json_envelope(req: &HttpRequest) -> Result<Envelope, SqsError> {
    let target = req.header_str("x-amz-target").unwrap_or_default();
    let action = target.strip_prefix("AmazonSQS.").filter(|a| !a.is_empty()).ok_or_else(|| {
        SqsError::new(
            ErrorCode::InvalidAction,
            format!("The target {target} is not valid for this endpoint."),
        )
    })?;
    let members = if req.body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(map)) => map,
            _ => {
                return Err(SqsError::new(
                    ErrorCode::InvalidParameterValue,
                    "The request body is not a valid JSON object.",
                ));
            }
        }
    };
    Ok(Envelope { protocol: Protocol::Json, action: action.to_owned(), members })
}

fn query_envelope(req: &HttpRequest) -> Result<Envelope, SqsError> {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let mut pairs = decode_form(query.as_bytes())?;
    if req.method.eq_ignore_ascii_case("POST") {
        pairs.extend(decode_form(&req.body)?);
    }
    let mut members = to_json(&pairs)?;
    let action = match members.remove("Action") {
        Some(Value::String(a)) if !a.is_empty() => a,
        _ => return Err(SqsError::new(ErrorCode::InvalidAction, "No action specified.")),
    };
    // The query protocol may name the queue by the request path instead of a QueueUrl.
    if !members.contains_key("QueueUrl") && path.split('/').filter(|s| !s.is_empty()).count() == 2 {
        members.insert("QueueUrl".into(), Value::String(path.to_owned()));
    }
    Ok(Envelope { protocol: Protocol::Query, action, members })
}

/// The region of a request's SigV4 credential scope (header or presigned query), else
/// `us-east-1`.
pub fn region_of(req: &HttpRequest) -> String {
    let from_header = req.header_str("authorization").and_then(|auth| {
        let cred = auth.split("Credential=").nth(1)?;
        cred.split([',', ' ']).next().map(str::to_owned)
    });
    let from_query = || {
        let query = req.target.split_once('?')?.1;
        let pairs = decode_form(query.as_bytes()).ok()?;
        pairs.into_iter().find(|(k, _)| k == "X-Amz-Credential").map(|(_, v)| v)
    };
    from_header
        .or_else(from_query)
        .and_then(|c| c.split('/').nth(2).filter(|r| !r.is_empty()).map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned())
}

/// Writes a reply as an HTTP response in `protocol`'s shape.
pub fn encode_reply(
    out: &mut BytesMut,
    protocol: Protocol,
    action: &str,
    reply: &Reply,
    request_id: &str,
    keep_alive: bool,
) {
    let rid = [("x-amzn-RequestId", request_id)];
    match protocol {
        Protocol::Json => {
            let body = reply.to_json().to_string();
            let headers = [rid[0], ("Content-Type", JSON_CONTENT_TYPE)];
            encode_response(out, 200, &headers, body.as_bytes(), keep_alive);
        }
        Protocol::Query => {
            let body = reply_document(action, reply, request_id);
            let headers = [rid[0], ("Content-Type", XML_CONTENT_TYPE)];
            encode_response(out, 200, &headers, body.as_bytes(), keep_alive);
        }
    }
}

/// Writes an error as an HTTP response in `protocol`'s shape. JSON errors carry
/// `x-amzn-query-error: <query code>;<Sender|Receiver>`, from which awsQueryCompatible clients
/// (botocore, the JS v3 SDK) take the error code.
pub fn encode_error(
    out: &mut BytesMut,
    protocol: Protocol,
    error: &SqsError,
    request_id: &str,
    keep_alive: bool,
) {
    let status = error.code.status();
    match protocol {
        Protocol::Json => {
            let body = json!({"__type": error.code.json_type(), "message": error.message}).to_string();
            let fault = if error.code.sender_fault() { "Sender" } else { "Receiver" };
            let query_error = format!("{};{fault}", error.code.query_code());
            let headers = [
                ("x-amzn-RequestId", request_id),
                ("Content-Type", JSON_CONTENT_TYPE),
                ("x-amzn-query-error", query_error.as_str()),
            ];
            encode_response(out, status, &headers, body.as_bytes(), keep_alive);
        }
        Protocol::Query => {
            let body = error_document(error, request_id);
            let headers = [("x-amzn-RequestId", request_id), ("Content-Type", XML_CONTENT_TYPE)];
            encode_response(out, status, &headers, body.as_bytes(), keep_alive);
        }
    }
}
