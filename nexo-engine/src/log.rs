//! Durable logs as the engine sees them: names and the storage instructions a broker may emit.
//!
//! The engine never writes a file. A broker that needs durability emits [`crate::Output::Append`]
//! (and `Roll` / `TruncateBefore` for compaction); the runtime performs them on its storage,
//! groups many appends under one fsync, and reports completion with
//! [`crate::Broker::handle_persisted`]. At start-up the runtime replays each log the broker names
//! in [`crate::Broker::logs`] through [`crate::Broker::handle_recovered`].

use std::sync::Arc;

/// The name of one durable log (validated by the storage layer before it becomes a path).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogId(Arc<str>);

impl LogId {
    /// A log named `name`.
    pub fn new(name: &str) -> Self {
        Self(Arc::from(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for LogId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One record read back from a log (answer to [`crate::Output::Read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Its sequence.
    pub seq: u64,
    /// Its timestamp: the wall-clock milliseconds passed with the append, raised to the previous
    /// record's timestamp if the clock stepped back.
    pub timestamp_ms: u64,
    /// Its bytes.
    pub payload: bytes::Bytes,
}
