//! Settings of the async client: timeouts, reconnect backoff, buffer sizes and the frame limit.
//! Built from [`ClientOptions::default`] with `with_*` methods, so that settings added later
//! (authentication and TLS, once the server offers them) do not break existing callers.

use std::time::Duration;

use nexo_proto::DEFAULT_MAX_FRAME_BYTES;

use super::backoff::Backoff;

/// Connect timeout unless [`ClientOptions::with_connect_timeout`] says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Requests waiting for the connection task before callers wait for room.
pub const DEFAULT_QUEUE_DEPTH: usize = 1024;

/// Pushes buffered per subscription before the connection stops reading.
pub const DEFAULT_PUSH_BUFFER: usize = 1024;

/// How an [`crate::AsyncClient`] connects, waits and reconnects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Limit on opening a connection (the first one and each reconnect attempt).
    pub connect_timeout: Duration,
    /// Limit on each request, from the call to its reply, including time spent queued or
    /// waiting for a reconnect; a long-poll adds its own wait. `None` waits forever.
    pub request_timeout: Option<Duration>,
    /// Delays between reconnect attempts.
    pub backoff: Backoff,
    /// Requests queued for the connection task before callers wait for room.
    pub queue_depth: usize,
    /// Pushes buffered per subscription stream before the connection stops reading.
    pub push_buffer: usize,
    /// The server's frame limit: larger reply frames break the connection (it reconnects).
    pub max_frame_bytes: u32,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Some(crate::DEFAULT_TIMEOUT),
            backoff: Backoff::default(),
            queue_depth: DEFAULT_QUEUE_DEPTH,
            push_buffer: DEFAULT_PUSH_BUFFER,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

impl ClientOptions {
    /// Sets the connect timeout.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the per-request timeout (`None`: wait forever).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the reconnect backoff: `initial` delay doubling up to `max`, each with jitter.
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = Backoff { initial, max: max.max(initial) };
        self
    }

    /// Sets how many requests may queue for the connection task (at least 1).
    #[must_use]
    pub fn with_queue_depth(mut self, depth: usize) -> Self {
        self.queue_depth = depth.max(1);
        self
    }

    /// Sets how many pushes each subscription buffers (at least 1).
    #[must_use]
    pub fn with_push_buffer(mut self, pushes: usize) -> Self {
        self.push_buffer = pushes.max(1);
        self
    }

    /// Sets the server's frame limit this client expects.
    #[must_use]
    pub fn with_max_frame_bytes(mut self, max: u32) -> Self {
        self.max_frame_bytes = max;
        self
    }
}
