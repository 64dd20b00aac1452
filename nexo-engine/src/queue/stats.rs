//! Counters of the Queue broker and the owned snapshot types the dashboard reads.
//!
//! Owns the counter struct each queue (and the broker overall) keeps, the snapshot types, and
//! the read-only views that build them ([`Queue::stats`], [`Queue::queues`], [`Queue::queue`],
//! [`Queue::peek_messages`]). Every listing is bounded; nothing here changes state.

use bytes::Bytes;

use super::journal::MsgId;
use super::state::{Message, Place, QueueState};
use super::{MAX_PAGE, Queue};

/// Most bytes of a payload a [`MessageView`] carries.
pub const PAYLOAD_HEAD_BYTES: usize = 64;

/// Event counters of one queue, or of the whole broker (since start; not journaled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounters {
    /// Messages accepted by PUSH.
    pub pushed: u64,
    /// Deliveries (a message delivered three times counts three).
    pub delivered: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// NACK and NACK_DELAY requests that succeeded.
    pub nacked: u64,
    /// Messages moved to the dead-letter queue (by NACK or lease expiry).
    pub dead_lettered: u64,
    /// Leases that ran out.
    pub expired: u64,
}

impl QueueCounters {
    /// Applies the same bump to a queue's counters and the broker's.
    pub(crate) fn bump(queue: &mut Self, totals: &mut Self, field: fn(&mut Self) -> &mut u64) {
        *field(queue) += 1;
        *field(totals) += 1;
    }
}

/// One queue now (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// Queue name.
    pub name: String,
    /// Event counters since start (or since the queue was created, if later).
    pub counters: QueueCounters,
    /// Pushed messages whose record is not yet durable (invisible to consumers).
    pub pending: u64,
    /// Messages ready to consume.
    pub ready: u64,
    /// Messages leased and not yet acked.
    pub in_flight: u64,
    /// Messages waiting for their delay.
    pub delayed: u64,
    /// Messages in the dead-letter queue.
    pub dead: u64,
    /// Payload bytes of pending, ready, delayed and leased messages.
    pub bytes: u64,
    /// Payload bytes of dead messages.
    pub dead_bytes: u64,
    /// Parked CONSUMEs waiting on it.
    pub waiting_consumers: u64,
    /// Lease length in milliseconds.
    pub visibility_timeout_ms: u64,
    /// Failures before dead-lettering.
    pub max_retries: u32,
    /// Depth limit in effect.
    pub max_depth: u64,
    /// Byte limit in effect.
    pub max_bytes: u64,
}

/// The whole broker now (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStats {
    /// Queues now.
    pub queues: u64,
    /// Event counters since start, over all queues (deleted ones included).
    pub counters: QueueCounters,
    /// Pending messages over all queues.
    pub pending: u64,
    /// Ready messages over all queues.
    pub ready: u64,
    /// Leased messages over all queues.
    pub in_flight: u64,
    /// Delayed messages over all queues.
    pub delayed: u64,
    /// Dead messages over all queues.
    pub dead: u64,
    /// Payload bytes over all queues (dead messages included).
    pub bytes: u64,
    /// Parked CONSUMEs now.
    pub waiting_consumers: u64,
    /// Replies held until their record is durable (or behind one on the same connection).
    pub held_replies: u64,
    /// Journal bytes written since the last snapshot (or since the start of the log).
    pub journal_bytes: u64,
    /// Compaction snapshots written since start.
    pub snapshots: u64,
    /// Journal records skipped at recovery because they could not be decoded or were out of place.
    pub skipped_records: u64,
    /// `Storage unavailable: …` once the journal has failed.
    pub storage_error: Option<String>,
}

/// Which messages [`Queue::peek_messages`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Ready, in the order CONSUME serves them.
    Ready,
    /// Delayed, by due time.
    Delayed,
    /// Leased, oldest lease first.
    InFlight,
    /// Dead-lettered, newest failure first (as PEEK_DLQ).
    Dead,
}

/// One message as the dashboard sees it (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    /// Message id.
    pub id: MsgId,
    /// Priority (higher first).
    pub priority: u8,
    /// Deliveries so far.
    pub attempts: u32,
    /// Payload size in bytes.
    pub payload_len: u64,
    /// The first [`PAYLOAD_HEAD_BYTES`] bytes of the payload.
    pub payload_head: Bytes,
    /// Wall-clock due time of a delayed message.
    pub due_wall_ms: Option<u64>,
    /// Monotonic deadline of a lease.
    pub lease_deadline_mono_ms: Option<u64>,
    /// DLQ reason of a dead message.
    pub reason: Option<String>,
}

impl Queue {
    /// The broker overall now.
    pub fn stats(&self) -> QueueStats {
        let mut s = QueueStats {
            queues: self.queues.len() as u64,
            counters: self.totals,
            pending: 0,
            ready: 0,
            in_flight: 0,
            delayed: 0,
            dead: 0,
            bytes: 0,
            waiting_consumers: self.parked.len() as u64,
            held_replies: self.journal.held_len() as u64,
            journal_bytes: self.journal.bytes_since_snapshot,
            snapshots: self.journal.snapshots,
            skipped_records: self.replay.skipped,
            storage_error: self.journal.failed.clone(),
        };
        for q in self.queues.values() {
            s.pending += q.pending_len() as u64;
            s.ready += q.ready_len() as u64;
            s.in_flight += q.leased_len() as u64;
            s.delayed += q.delayed_len() as u64;
            s.dead += q.dead_len() as u64;
            s.bytes += q.bytes() + q.dead_bytes();
        }
        s
    }

    /// Up to `limit` (at most 1000) queues by name, from position `offset`.
    pub fn queues(&self, offset: usize, limit: usize) -> Vec<QueueSnapshot> {
        self.queues.values().skip(offset).take(limit.min(MAX_PAGE)).map(|q| self.snapshot_of(q)).collect()
    }

    /// One queue now, or `None` when it does not exist.
    pub fn queue(&self, name: &str) -> Option<QueueSnapshot> {
        self.queues.get(name).map(|q| self.snapshot_of(q))
    }

    /// Up to `limit` (at most 1000) messages of queue `name` in `state`, from position `offset`;
    /// `None` when the queue does not exist.
    pub fn peek_messages(
        &self,
        name: &str,
        state: MessageState,
        offset: usize,
        limit: usize,
    ) -> Option<Vec<MessageView>> {
        let q = self.queues.get(name)?;
        let ids: Box<dyn Iterator<Item = MsgId> + '_> = match state {
            MessageState::Ready => Box::new(q.ready_ids()),
            MessageState::Delayed => Box::new(q.delayed_ids().map(|(_, id)| id)),
            MessageState::InFlight => Box::new(q.leased().map(|(_, id)| id)),
            MessageState::Dead => Box::new(q.dead_ids().rev()),
        };
        let views = ids
            .skip(offset)
            .take(limit.min(MAX_PAGE))
            .filter_map(|id| q.get(&id).map(|m| self.view(id, m)))
            .collect();
        Some(views)
    }

    fn view(&self, id: MsgId, m: &Message) -> MessageView {
        let head = m.payload.slice(..m.payload.len().min(PAYLOAD_HEAD_BYTES));
        let (due_wall_ms, lease_deadline_mono_ms, reason) = match &m.place {
            Place::Delayed { due_wall_ms, .. } => (Some(*due_wall_ms), None, None),
            Place::Pending { due_wall_ms, .. } => ((*due_wall_ms > 0).then_some(*due_wall_ms), None, None),
            Place::Leased { lease_no } => (None, self.leases.get(*lease_no).map(|l| l.deadline), None),
            Place::Dead { reason, .. } => (None, None, Some(reason.to_string())),
            Place::Ready { .. } => (None, None, None),
        };
        MessageView {
            id,
            priority: m.priority,
            attempts: m.attempts,
            payload_len: m.payload.len() as u64,
            payload_head: Bytes::copy_from_slice(&head),
            due_wall_ms,
            lease_deadline_mono_ms,
            reason,
        }
    }

    fn snapshot_of(&self, q: &QueueState) -> QueueSnapshot {
        QueueSnapshot {
            name: q.name.to_string(),
            counters: q.counters,
            pending: q.pending_len() as u64,
            ready: q.ready_len() as u64,
            in_flight: q.leased_len() as u64,
            delayed: q.delayed_len() as u64,
            dead: q.dead_len() as u64,
            bytes: q.bytes(),
            dead_bytes: q.dead_bytes(),
            waiting_consumers: q.waiters.len() as u64,
            visibility_timeout_ms: q.settings.visibility_timeout_ms,
            max_retries: q.settings.max_retries,
            max_depth: self.max_depth(q),
            max_bytes: self.max_bytes(q),
        }
    }
}
