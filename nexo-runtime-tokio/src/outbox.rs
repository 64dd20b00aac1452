//! A connection's outbound side as the rest of the server sees it: the queue of replies and
//! pushes its writer drains, and the counters that bound it.
//!
//! This module owns the accounting of what a connection still has to write, and the close
//! signal the engine can raise. It does no I/O (the writer in `connection.rs` does).
//!
//! Why the queue itself is unbounded and memory still is not:
//! * **Replies** are bounded by the reader: it stops reading (and decoding) while the connection's
//!   unsent reply bytes exceed `--max-write-buffer` or [`MAX_IN_FLIGHT`] requests are unanswered.
//!   A reply exists only for a request the reader let in, so at most one frame's reply overshoots.
//! * **Pushes** are bounded by the Pub/Sub engine: it counts every push it emits against the bytes
//!   the writer reports as flushed, and closes a subscriber whose backlog passes its limits
//!   (slow-consumer policy). A bounded channel here would instead block the Pub/Sub task behind
//!   one slow reader, slowing every other subscriber and publisher.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use nexo_engine::CloseReason;
use nexo_proto::{HEADER_LEN, Reply};
use nexo_session::resp::{Expect, RespOutbound, Slot};
use tokio::sync::{Notify, mpsc};

/// Most requests of one connection that may be read but not yet answered and written
/// (parked long-polls included; the engine caps those lower).
pub const MAX_IN_FLIGHT: i64 = 16_384;

/// One item for a connection's writer.
#[derive(Debug)]
pub enum Out {
    /// A response frame, encoded by the writer.
    Reply {
        /// The request id answered.
        id: u32,
        /// The response.
        reply: Reply,
    },
    /// An already-encoded push frame, shared with every other receiver.
    Push(Bytes),
    /// A RESP connection's next slot in request order (see `nexo_server::resp`).
    Slot(Slot),
}

/// Counters and signals shared by a connection's reader, writer and every [`Outbox`] clone.
#[derive(Debug, Default)]
pub struct ConnState {
    /// Reply bytes queued or being written (signed so an engine bug cannot wrap it).
    reply_bytes: AtomicI64,
    /// Requests read and not yet answered on the wire.
    in_flight: AtomicI64,
    /// Woken by the writer after it wrote replies, so a throttled reader re-checks.
    drained: Notify,
    /// Set once when the engine closes the connection.
    close_reason: OnceLock<CloseReason>,
    /// Woken when `close_reason` is set.
    closed: Notify,
}

impl ConnState {
    /// The reader let one more request in.
    pub fn request_read(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// The writer put `replies` replies costing `bytes` (see [`reply_cost`]) on the wire.
    pub fn replies_written(&self, replies: i64, bytes: i64) {
        if replies > 0 {
            self.in_flight.fetch_sub(replies, Ordering::Relaxed);
            self.reply_bytes.fetch_sub(bytes, Ordering::Relaxed);
            self.drained.notify_one();
        }
    }

    /// Waits until the connection may read more: unsent reply bytes at most `max_reply_bytes` and
    /// fewer than [`MAX_IN_FLIGHT`] requests unanswered.
    pub async fn wait_for_room(&self, max_reply_bytes: i64) {
        loop {
            // Created before the check, so a wake-up between check and await is not lost.
            let drained = self.drained.notified();
            if self.reply_bytes.load(Ordering::Relaxed) <= max_reply_bytes
                && self.in_flight.load(Ordering::Relaxed) < MAX_IN_FLIGHT
            {
                return;
            }
            drained.await;
        }
    }

    /// Resolves with the reason once the engine has closed this connection.
    pub async fn closed(&self) -> CloseReason {
        loop {
            let closed = self.closed.notified();
            if let Some(reason) = self.close_reason.get() {
                return *reason;
            }
            closed.await;
        }
    }
}

/// What a reply counts against the write limit: its whole encoded frame.
pub fn reply_cost(reply: &Reply) -> i64 {
    i64::try_from(HEADER_LEN + reply.payload_len()).unwrap_or(i64::MAX)
}

/// The sending side of a connection's outbound queue; cheap to clone (one `Arc`).
///
/// Sends to a connection whose writer is gone are dropped: it is closing anyway.
#[derive(Debug, Clone)]
pub struct Outbox(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    tx: mpsc::UnboundedSender<Out>,
    state: Arc<ConnState>,
}

impl Outbox {
    /// A new queue for a connection with `state`, and its receiving end for the writer.
    pub fn new(state: Arc<ConnState>) -> (Self, mpsc::UnboundedReceiver<Out>) {
        // Unbounded on purpose: see the module docs for what bounds it.
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(Arc::new(Inner { tx, state })), rx)
    }

    /// Queues the response to request `id`.
    pub fn reply(&self, id: u32, reply: Reply) {
        self.0.state.reply_bytes.fetch_add(reply_cost(&reply), Ordering::Relaxed);
        let _ = self.0.tx.send(Out::Reply { id, reply });
    }

    /// Queues a RESP slot; a local answer counts toward the write limit like a reply.
    pub fn resp_slot(&self, slot: Slot) {
        if let Expect::Local(bytes) = &slot.expect {
            let cost = i64::try_from(RespOutbound::local_cost(bytes)).unwrap_or(i64::MAX);
            self.0.state.reply_bytes.fetch_add(cost, Ordering::Relaxed);
        }
        let _ = self.0.tx.send(Out::Slot(slot));
    }

    /// Queues a push frame.
    pub fn push(&self, frame: Bytes) {
        let _ = self.0.tx.send(Out::Push(frame));
    }

    /// Asks the connection to close: it stops reading and writes what is queued (bounded by a
    /// linger time, so a client that never reads cannot keep it open).
    pub fn close(&self, reason: CloseReason) {
        if self.0.state.close_reason.set(reason).is_ok() {
            self.0.state.closed.notify_one();
        }
    }
}
