//! The request head: request line and header fields parsed by `httparse`, and what they say
//! about the body's framing and the connection's persistence.

use bytes::Bytes;

use super::{HttpError, HttpLimits};

/// One header field; the name is lower-cased (field names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Lower-cased field name.
    pub name: String,
    /// Raw field value (may hold obs-text bytes; never CR or LF).
    pub value: Bytes,
}

/// A complete request: head and de-framed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Method, as sent (`POST`, `GET`, …).
    pub method: String,
    /// Request target, as sent (`/`, `/000000000000/q?Action=…`).
    pub target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
    /// Header fields in the order sent.
    pub headers: Vec<Header>,
    /// Body with any chunked framing removed.
    pub body: Bytes,
    /// Whether the connection stays open after the reply.
    pub keep_alive: bool,
}

impl HttpRequest {
    /// The first value of header `name` (give it lower-cased).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        header_in(&self.headers, name)
    }

    /// The first value of header `name` if it is valid UTF-8, trimmed.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok()).map(str::trim)
    }
}

/// How the body of a request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFraming {
    /// Exactly this many bytes follow the head.
    Length(usize),
    /// Chunked transfer coding.
    Chunked,
}

/// A parsed head whose body is still to come.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) request: HttpRequest,
    pub(super) framing: BodyFraming,
    pub(super) expects_continue: bool,
}

fn header_in<'a>(headers: &'a [Header], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|h| h.name == name).map(|h| &h.value[..])
}

/// Parses a head at the start of `buf`: `Ok(None)` until it is complete, else the head and the
/// bytes it took.
///
/// # Errors
/// [`HttpError`] for malformed, oversized or unsupported heads.
pub(super) fn parse_head(buf: &[u8], limits: &HttpLimits) -> Result<Option<(usize, Head)>, HttpError> {
    let mut fields = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut req = httparse::Request::new(&mut fields);
    let window = &buf[..buf.len().min(limits.max_head_bytes)];
    let consumed = match req.parse(window) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_head_bytes => {
            return Err(HttpError::HeadersTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadersTooLarge),
        Err(httparse::Error::Version) => return Err(HttpError::VersionNotSupported),
        Err(_) => return Err(HttpError::BadRequest("malformed request head")),
    };
    let version_minor = match req.version {
        Some(0) => 0,
        Some(1) => 1,
        _ => return Err(HttpError::VersionNotSupported),
    };
    let method = req.method.unwrap_or_default().to_owned();
    let target = req.path.unwrap_or_default().to_owned();
    let headers: Vec<Header> = req
        .headers
        .iter()
        .map(|h| Header { name: h.name.to_ascii_lowercase(), value: Bytes::copy_from_slice(h.value) })
        .collect();
    let framing = body_framing(&headers, limits)?;
    let keep_alive = keep_alive(&headers, version_minor);
    let expects_continue = version_minor == 1
        && header_in(&headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
    let request = HttpRequest { method, target, version_minor, headers, body: Bytes::new(), keep_alive };
    Ok(Some((consumed, Head { request, framing, expects_continue })))
}

/// Reads `Transfer-Encoding` and `Content-Length`; refuses the ambiguous combinations that
/// request smuggling relies on.
fn body_framing(headers: &[Header], limits: &HttpLimits) -> Result<BodyFraming, HttpError> {
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for h in headers {
        match h.name.as_str() {
            "transfer-encoding" => {
                if chunked || !trimmed(&h.value).eq_ignore_ascii_case(b"chunked") {
                    return Err(HttpError::UnsupportedTransferCoding);
                }
                chunked = true;
            }
            "content-length" => {
                let n = parse_length(&h.value)?;
                if length.is_some_and(|m| m != n) {
                    return Err(HttpError::BadRequest("conflicting Content-Length"));
                }
                length = Some(n);
            }
            _ => {}
        }
    }
    match (chunked, length) {
        (true, Some(_)) => Err(HttpError::BadRequest("both Content-Length and Transfer-Encoding")),
        (true, None) => Ok(BodyFraming::Chunked),
        (false, Some(n)) if n > limits.max_body_bytes => Err(HttpError::PayloadTooLarge),
        (false, n) => Ok(BodyFraming::Length(n.unwrap_or(0))),
    }
}

fn parse_length(value: &[u8]) -> Result<usize, HttpError> {
    let digits = trimmed(value);
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::BadRequest("invalid Content-Length"));
    }
    Ok(digits.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0')))
}

fn keep_alive(headers: &[Header], version_minor: u8) -> bool {
    let mut close = version_minor == 0;
    for h in headers.iter().filter(|h| h.name == "connection") {
        for token in h.value.split(|b| *b == b',').map(trimmed) {
            if token.eq_ignore_ascii_case(b"close") {
                return false;
            }
            if token.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    !close
}

/// `value` without leading and trailing spaces and tabs.
pub(super) fn trimmed(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e + 1);
    &value[start..end]
}
