//! What the engine asks the runtime to do.

use bytes::Bytes;
use nexo_proto::Reply;

use crate::ids::ConnId;
use crate::log::LogId;

/// One instruction for the runtime, taken with [`crate::Broker::poll_output`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `reply` to `conn` as the response to request `id`.
    Reply {
        /// Destination.
        conn: ConnId,
        /// The request id being answered.
        id: u32,
        /// The response.
        reply: Reply,
    },
    /// Write an already-encoded push frame to `conn`. The same `frame` is shared by every
    /// receiver; the runtime reports its length back through `handle_flushed` once written.
    Push {
        /// Destination.
        conn: ConnId,
        /// The whole frame, header included.
        frame: Bytes,
    },
    /// Close `conn` (after writing what is already queued for it) and log `reason`.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// Append `record` to `log`. The engine predicts the sequence the storage will assign
    /// (`seq`, consecutive from the `next_seq` it was given at recovery); a runtime whose storage
    /// assigns another number must treat the log as failed.
    Append {
        /// The log.
        log: LogId,
        /// The sequence this record gets.
        seq: u64,
        /// Record bytes (the broker's own encoding).
        record: Bytes,
    },
    /// Seal the log's active segment so the next append starts a new one (before a compaction
    /// snapshot, so the old segments can later be deleted whole).
    Roll {
        /// The log.
        log: LogId,
    },
    /// Delete the log's whole segments whose records all have a sequence below `seq` (after a
    /// compaction snapshot starting at `seq` is durable).
    TruncateBefore {
        /// The log.
        log: LogId,
        /// First sequence to keep.
        seq: u64,
    },
    /// Open `log`, creating it if missing (a log the broker discovered it needs, e.g. a stream
    /// topic). Answered by [`crate::Broker::handle_log_opened`].
    OpenLog {
        /// The log.
        log: LogId,
        /// The log's next sequence must be at least this: a log found behind it (records the
        /// broker knows were handed out are missing, e.g. with a deleted segment file) continues
        /// here instead of handing those numbers out again. 1 = no floor.
        next_seq_min: u64,
    },
    /// Delete `log` and its files.
    RemoveLog {
        /// The log.
        log: LogId,
    },
    /// Read records of `log` with `seq >= from_seq` (at most `max_records`, and `max_bytes` of
    /// payload but always at least one record if any exists). Answered by
    /// [`crate::Broker::handle_read`] with the same `token`; may be served on another thread, so
    /// other outputs are not delayed by it.
    Read {
        /// The log.
        log: LogId,
        /// First sequence wanted.
        from_seq: u64,
        /// Record limit.
        max_records: usize,
        /// Payload byte limit.
        max_bytes: usize,
        /// Echoed back in `handle_read`.
        token: u64,
    },
    /// Apply retention to `log`: delete whole sealed segments older than `max_age_ms` (by their
    /// newest record) or beyond `max_bytes` (0 = no limit). Answered by
    /// [`crate::Broker::handle_log_opened`] with the new bounds.
    Retain {
        /// The log.
        log: LogId,
        /// Age limit in milliseconds (0 = none).
        max_age_ms: u64,
        /// Size limit in bytes (0 = none).
        max_bytes: u64,
    },
}

/// The network outputs of [`Output`], the only ones a broker driver hands a runtime (it carries
/// out the storage instructions itself). Each is for one connection's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetOutput {
    /// See [`Output::Reply`].
    Reply {
        /// Destination.
        conn: ConnId,
        /// The request id being answered.
        id: u32,
        /// The response.
        reply: Reply,
    },
    /// See [`Output::Push`].
    Push {
        /// Destination.
        conn: ConnId,
        /// The whole frame, shared by every receiver.
        frame: Bytes,
    },
    /// See [`Output::Close`].
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
}

impl NetOutput {
    /// The connection it is for.
    pub fn conn(&self) -> ConnId {
        match self {
            Self::Reply { conn, .. } | Self::Push { conn, .. } | Self::Close { conn, .. } => *conn,
        }
    }
}

/// Why the engine closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The subscriber's unsent pushes passed the per-connection limit.
    SlowConsumer {
        /// Unsent push bytes at the time.
        pending_bytes: usize,
        /// Unsent pushes at the time.
        pending_pushes: usize,
    },
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SlowConsumer { pending_bytes, pending_pushes } => write!(
                f,
                "slow consumer: {pending_pushes} pushes ({pending_bytes} bytes) not read by the client"
            ),
        }
    }
}
