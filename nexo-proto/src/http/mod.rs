//! HTTP/1.1 for the SQS front: a sans-IO request decoder and a response encoder.
//!
//! This module owns HTTP framing only: the request line and headers (parsed by `httparse`),
//! `Content-Length` and chunked request bodies, keep-alive, and the bounds that keep one
//! connection's buffers small ([`HttpLimits`]). It knows nothing of SQS: what a request means is
//! `nexo-session`'s business. It never reads a socket or a clock.
//!
//! Use: feed a connection's read buffer to [`RequestDecoder::decode`] after every read; it takes
//! the bytes it used and returns each complete [`HttpRequest`]. An [`HttpError`] means the
//! stream cannot be framed any further: answer [`encode_error`] and close. Replies are written
//! into the caller's buffer with [`encode_response`].

mod chunked;
mod decoder;
mod error;
mod head;
mod response;

pub use decoder::RequestDecoder;
pub use error::HttpError;
pub use head::{Header, HttpRequest};
pub use response::{encode_continue, encode_error, encode_response, reason_phrase};

/// Bounds of one connection's HTTP decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Most bytes of a request line plus headers (and of a chunked body's trailer section).
    pub max_head_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Largest request body, after removing chunked framing.
    pub max_body_bytes: usize,
}

/// Default head limit: 16 KiB, enough for any SDK's signed request.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
/// Default header count limit.
pub const DEFAULT_MAX_HEADERS: usize = 64;
/// Default body limit: SQS's largest batch (1 MiB of messages) with room for JSON or form
/// encoding overhead (escapes, base64 binary attributes).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

#[cfg(test)]
mod tests;
