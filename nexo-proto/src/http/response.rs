//! The response encoder: status line, headers, `Content-Length`, body, into the caller's buffer.

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};

use super::HttpError;

/// The reason phrase of the statuses this server answers.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Writes a complete response into `out`. `Content-Length` and, when the connection will close,
/// `Connection: close` are added here; `headers` must not hold either. Header names and values
/// must not contain CR or LF (they are the server's own constants and computed values).
pub fn encode_response(
    out: &mut BytesMut,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) {
    let mut head = String::with_capacity(128);
    // Writing into a String cannot fail.
    let _ = write!(head, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n", body.len());
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.reserve(head.len() + body.len());
    out.put_slice(head.as_bytes());
    out.put_slice(body);
}

/// Writes the interim `100 Continue` response.
pub fn encode_continue(out: &mut BytesMut) {
    out.put_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
}

/// Writes the response to a request that could not be framed (the connection then closes).
pub fn encode_error(out: &mut BytesMut, error: HttpError) {
    let body = error.to_string();
    encode_response(out, error.status(), &[("Content-Type", "text/plain")], body.as_bytes(), false);
}
