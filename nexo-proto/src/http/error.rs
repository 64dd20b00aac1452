//! Why an HTTP request stream cannot be framed, and the status each reason answers.

use std::fmt;

/// A request that cannot be framed; the connection answers [`HttpError::status`] and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// The request line, a header or the chunked framing is malformed (400).
    BadRequest(&'static str),
    /// The body (declared or received) exceeds the body limit (413).
    PayloadTooLarge,
    /// The request line and headers exceed the head limit or the header count limit (431).
    HeadersTooLarge,
    /// A transfer coding other than `chunked` (501).
    UnsupportedTransferCoding,
    /// An HTTP version other than 1.0 or 1.1 (505).
    VersionNotSupported,
}

impl HttpError {
    /// The response status this error answers.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::PayloadTooLarge => 413,
            Self::HeadersTooLarge => 431,
            Self::UnsupportedTransferCoding => 501,
            Self::VersionNotSupported => 505,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRequest(why) => write!(f, "bad request: {why}"),
            Self::PayloadTooLarge => f.write_str("request body too large"),
            Self::HeadersTooLarge => f.write_str("request header fields too large"),
            Self::UnsupportedTransferCoding => f.write_str("unsupported transfer coding"),
            Self::VersionNotSupported => f.write_str("HTTP version not supported"),
        }
    }
}

impl std::error::Error for HttpError {}
