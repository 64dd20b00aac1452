//! What every session of one server shares: the limits, the RESP context, and the two global
//! byte counts (input buffered, output queued) that bound memory across all connections.
//!
//! It owns only counters and settings; each [`crate::Session`] adds and removes its own share,
//! so the totals are exact whatever runtime moves the bytes. It reads no clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::mqtt::MqttContext;
use crate::resp::RespContext;

/// Per-connection and global limits a session enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted request payload (v1) or bulk string (RESP).
    pub max_frame_bytes: u32,
    /// Unsent bytes of one connection above which it stops reading.
    pub write_limit: usize,
    /// A frame left incomplete longer than this closes the connection; 0 turns it off.
    pub read_timeout_ms: u64,
    /// A connection that sends nothing for this long (with nothing in flight and no
    /// subscription) is closed; 0 turns it off.
    pub idle_timeout_ms: u64,
    /// Input buffered across all connections above which the largest partial frames stop being
    /// read (and are then closed by the read timeout).
    pub input_max_bytes: usize,
    /// Output queued across all connections above which the largest consumers are closed as
    /// slow consumers when another push arrives for them.
    pub output_max_bytes: usize,
    /// Open connections before new ones are refused (see [`crate::Admission`]).
    pub max_connections: usize,
}

impl Limits {
    /// Limits for a frame limit and write limit, with the default timeouts and global bounds:
    /// room for 16 connections with a maximum frame each way.
    pub fn new(max_frame_bytes: u32, write_limit: usize) -> Self {
        let frame = max_frame_bytes as usize + crate::READ_SLACK_BYTES;
        Self {
            max_frame_bytes,
            write_limit,
            read_timeout_ms: 30_000,
            idle_timeout_ms: 0,
            input_max_bytes: frame.saturating_mul(16).max(256 << 20),
            output_max_bytes: frame.saturating_mul(16).max(256 << 20),
            max_connections: usize::MAX,
        }
    }
}

/// Shared by every session of a server.
#[derive(Debug)]
pub struct SessionContext {
    limits: Limits,
    resp: Arc<RespContext>,
    mqtt: Arc<MqttContext>,
    auth: Arc<crate::auth::Auth>,
    input_bytes: AtomicUsize,
    output_bytes: AtomicUsize,
    slow_consumer_closes: AtomicU64,
    /// Refusals in progress (see [`crate::Admission`]).
    refusing: Arc<AtomicUsize>,
}

impl SessionContext {
    /// A context with `limits`; RESP sessions share `resp`.
    pub fn new(limits: Limits, resp: Arc<RespContext>) -> Self {
        Self {
            limits,
            resp,
            mqtt: Arc::default(),
            auth: Arc::default(),
            input_bytes: AtomicUsize::new(0),
            output_bytes: AtomicUsize::new(0),
            slow_consumer_closes: AtomicU64::new(0),
            refusing: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// This context with MQTT sessions sharing `mqtt` (limits and stored sessions) instead of
    /// a default one.
    #[must_use]
    pub fn with_mqtt(mut self, mqtt: Arc<MqttContext>) -> Self {
        self.mqtt = mqtt;
        self
    }

    /// Sessions use the server's users (without this: an open `default` user only).
    pub fn with_auth(mut self, auth: Arc<crate::auth::Auth>) -> Self {
        self.auth = auth;
        self
    }

    /// The users.
    pub fn auth(&self) -> &Arc<crate::auth::Auth> {
        &self.auth
    }

    /// The MQTT context.
    pub fn mqtt(&self) -> &Arc<MqttContext> {
        &self.mqtt
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The RESP context.
    pub fn resp(&self) -> &Arc<RespContext> {
        &self.resp
    }

    /// Input bytes buffered across all sessions (as of their last `handle_bytes`).
    pub fn input_bytes(&self) -> usize {
        self.input_bytes.load(Ordering::Relaxed)
    }

    /// Output bytes queued across all sessions.
    pub fn output_bytes(&self) -> usize {
        self.output_bytes.load(Ordering::Relaxed)
    }

    /// Sessions closed as slow consumers because output across connections passed its bound
    /// (added to Pub/Sub's own slow-consumer count in the metrics).
    pub fn slow_consumer_closes(&self) -> u64 {
        self.slow_consumer_closes.load(Ordering::Relaxed)
    }

    pub(crate) fn count_slow_consumer(&self) {
        self.slow_consumer_closes.fetch_add(1, Ordering::Relaxed);
    }

    /// A slot for a connection just accepted: open, refusing, or `None` (close it at once). Hold
    /// it as long as the connection lives.
    pub fn admit(&self) -> Option<crate::Admission> {
        let open = self.resp.clients_gauge();
        let count = || self.resp.count_client();
        crate::Admission::decide(&open, count, &self.refusing, self.limits.max_connections)
    }

    /// Open connections (refusals not included).
    pub fn open_connections(&self) -> u64 {
        self.resp.clients_gauge().load(Ordering::Relaxed)
    }

    /// Open connections and refusals in progress: 0 once every connection is gone.
    pub fn connections_in_use(&self) -> usize {
        self.open_connections() as usize + self.refusing.load(Ordering::Relaxed)
    }

    /// Input buffered across sessions is past its bound.
    pub(crate) fn input_over(&self) -> bool {
        self.input_bytes() > self.limits.input_max_bytes
    }

    /// Output queued across sessions is past its bound.
    pub(crate) fn output_over(&self) -> bool {
        self.output_bytes() > self.limits.output_max_bytes
    }

    /// Moves one session's share of a total from `old` to `new` bytes.
    pub(crate) fn track(&self, input: bool, old: usize, new: usize) {
        let total = if input { &self.input_bytes } else { &self.output_bytes };
        if new > old {
            total.fetch_add(new - old, Ordering::Relaxed);
        } else if old > new {
            total.fetch_sub(old - new, Ordering::Relaxed);
        }
    }
}
