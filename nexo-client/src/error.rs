//! The client's error type: I/O failures, ERR replies, protocol violations, a closed connection
//! and timeouts, kept apart so callers can match on what happened.

use std::fmt;
use std::io;

/// Everything a [`crate::Client`] call can fail with.
#[derive(Debug)]
pub enum ClientError {
    /// An operating-system I/O error other than a timeout or a closed connection.
    Io(io::Error),
    /// The server answered `ERR` with this text (typed helpers only; the low-level calls return
    /// [`crate::Reply::Err`] instead).
    Server(String),
    /// The server sent something the protocol does not allow here: an unknown frame type, a
    /// payload that does not fit the expected layout, a reply of the wrong kind, or an oversized
    /// frame.
    Protocol(String),
    /// The server closed the connection (or reset it).
    Closed,
    /// Nothing arrived within the configured timeout.
    Timeout,
    /// The connection dropped while this request was in flight (async client): it may or may
    /// not have run. The client reconnects by itself; retry when the request is safe to repeat.
    ConnectionLost,
}

/// Result of every client call.
pub type Result<T> = std::result::Result<T, ClientError>;

impl ClientError {
    /// Whether the failure came from the connection rather than from the request: a timeout, a
    /// closed or lost connection. Such a request may be retried (if it is safe to run twice);
    /// a server error or protocol error would fail the same way again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Timeout | Self::Closed | Self::ConnectionLost)
    }

    /// Classifies an I/O error: timeouts become [`ClientError::Timeout`], a peer that went away
    /// [`ClientError::Closed`], anything else stays [`ClientError::Io`].
    pub fn from_io(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Self::Timeout,
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected => Self::Closed,
            _ => Self::Io(err),
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(err: io::Error) -> Self {
        Self::from_io(err)
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(err) => write!(f, "I/O error: {err}"),
            Self::Server(text) => write!(f, "server error: {text}"),
            Self::Protocol(what) => write!(f, "protocol error: {what}"),
            Self::Closed => f.write_str("connection closed by the server"),
            Self::Timeout => f.write_str("timed out waiting for the server"),
            Self::ConnectionLost => {
                f.write_str("connection lost while the request was in flight (it may or may not have run)")
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let kind = |k| ClientError::from(io::Error::from(k));
        assert!(matches!(kind(io::ErrorKind::WouldBlock), ClientError::Timeout));
        assert!(matches!(kind(io::ErrorKind::TimedOut), ClientError::Timeout));
        assert!(matches!(kind(io::ErrorKind::ConnectionReset), ClientError::Closed));
        assert!(matches!(kind(io::ErrorKind::BrokenPipe), ClientError::Closed));
        assert!(matches!(kind(io::ErrorKind::ConnectionRefused), ClientError::Io(_)));
    }

    #[test]
    fn connection_failures_are_retryable_server_errors_are_not() {
        assert!(ClientError::ConnectionLost.is_retryable());
        assert!(ClientError::Timeout.is_retryable());
        assert!(!ClientError::Server("FENCED".into()).is_retryable());
        assert!(!ClientError::Protocol("bad".into()).is_retryable());
    }

    #[test]
    fn display_includes_the_server_text() {
        let err = ClientError::Server("Queue 'q' not found".to_owned());
        assert_eq!(err.to_string(), "server error: Queue 'q' not found");
        assert!(std::error::Error::source(&err).is_none());
        let io = ClientError::Io(io::Error::other("boom"));
        assert!(std::error::Error::source(&io).is_some());
    }
}
