//! What a command can fail with and the exit status of each: the one place exit codes are
//! decided (documented in docs/OPERATIONS.md and on `nexo-cli --help`).

use std::fmt;

use nexo_client::ClientError;

/// Exit status of a refused request (the server's `ERR` text is printed).
pub const EXIT_SERVER: i32 = 1;
/// Exit status of bad arguments.
pub const EXIT_USAGE: i32 = 2;
/// Exit status when the server cannot be reached, times out or breaks the protocol.
pub const EXIT_CONNECTION: i32 = 3;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// The server answered `ERR` with this text.
    Server(String),
    /// The arguments cannot be used (after clap accepted them).
    Usage(String),
    /// No usable connection: unreachable, closed, timed out, or a protocol violation.
    Connection(String),
}

/// Result of every command.
pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    /// The process exit status for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Server(_) => EXIT_SERVER,
            Self::Usage(_) => EXIT_USAGE,
            Self::Connection(_) => EXIT_CONNECTION,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The server's text, word for word, so scripts can match it.
            Self::Server(text) => f.write_str(text),
            Self::Usage(text) => write!(f, "nexo-cli: {text}"),
            Self::Connection(text) => write!(f, "nexo-cli: {text}"),
        }
    }
}

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        match err {
            ClientError::Server(text) => Self::Server(text),
            other => Self::Connection(other.to_string()),
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        Self::Connection(format!("cannot write output: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_keep_their_text_and_exit_one() {
        let err = CliError::from(ClientError::Server("Queue 'q' not found".into()));
        assert_eq!(err.to_string(), "Queue 'q' not found");
        assert_eq!(err.exit_code(), EXIT_SERVER);
    }

    #[test]
    fn connection_failures_exit_three() {
        let err = CliError::from(ClientError::Timeout);
        assert_eq!(err.exit_code(), EXIT_CONNECTION);
        assert!(err.to_string().starts_with("nexo-cli: "));
        assert_eq!(CliError::Usage("x".into()).exit_code(), EXIT_USAGE);
    }
}
