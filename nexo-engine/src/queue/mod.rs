//! The Queue broker: durable work queues with priorities, delays, leases, long-poll consumers
//! and a dead-letter queue, as a sans-IO state machine driven through [`Broker`].
//!
//! This module owns the broker struct, its timer table and the wiring between the parts; it
//! must not parse wire bytes (that is `nexo-proto`), read a clock, touch files or keep anything
//! unbounded. The parts: `config` (limits, name rules), `state` (one queue's messages and
//! indexes), [`journal`] (record format), `durable` (sequences, held replies, failure),
//! `recover` (replay), `compact` (snapshots), `lease` (ACK, NACK, EXTEND, expiry, disconnect),
//! `dlq` (dead-letter commands), `park` (long-polls), `commands` (the rest), `stats` (snapshots
//! for the dashboard).
//!
//! # Semantics
//!
//! * **CREATE** validates the name (non-empty, at most [`QueueConfig::max_name_bytes`] bytes, no
//!   `/`, `\` or control characters, not `.`/`..` → `Invalid name: <why>`), is idempotent (an
//!   existing queue keeps its options) and answers `OK` once its record is durable. Options:
//!   `visibilityTimeoutMs` (missing or 0 → [`QueueConfig::default_visibility_timeout_ms`]),
//!   `maxRetries` (missing → [`QueueConfig::default_max_retries`]), `maxDepth` / `maxBytes`
//!   (missing or 0 → the config defaults, read when used). One queue beyond
//!   [`QueueConfig::max_queues`] → `Too many queues (max N)`.
//! * **Missing queues**: PUSH → `Queue '<name>' not found. Create it first.`; EXISTS → `Queue
//!   not found`; DELETE → `OK`; LIST does not care; every other command → `Queue '<name>' not
//!   found`.
//! * **PUSH** `{priority?: 0–255, delayMs?}` → `OK` once its record is durable. A queue whose
//!   pending + ready + delayed + leased messages reach its depth limit, or whose payload bytes
//!   would pass its byte limit, answers `Queue '<name>' is full`. **A pushed message becomes
//!   consumable only once its record is durable**: consumers only ever see durable messages.
//!   With `delayMs > 0` it is hidden until the wall-clock due time `now.wall + delayMs` (so the
//!   delay survives a restart); delayed messages become ready in order of due time, each at the
//!   tail of its priority.
//! * **CONSUME** `{batchSize?, waitMs?}`: up to `batchSize` (missing → 10, clamped to
//!   `1..=`[`QueueConfig::max_batch_size`]) ready messages, highest priority first and FIFO
//!   within a priority, also inside one batch; the batch stops before the reply payload would
//!   pass [`QueueConfig::max_reply_bytes`] and always carries at least one message. Each message
//!   delivered is leased to the connection for the queue's visibility timeout and its `attempts`
//!   grows by one. With nothing ready and `waitMs > 0` the request is parked (other requests of
//!   the connection go on) and answered as soon as messages are ready, waiting consumers in
//!   arrival order, or with an empty batch at the deadline. More than
//!   [`QueueConfig::max_parked_per_conn`] parked on one connection → `Too many pending requests`.
//! * **ACK** → `OK` and the message is gone. **NACK** `reason` → `OK` once durable: with
//!   `attempts >= maxRetries` the message moves to the DLQ with the reason verbatim (so
//!   `maxRetries` 0 and 1 both dead-letter on the first failure), otherwise it goes to the tail of
//!   its priority. A lease that runs out does the same with reason `Timeout`. Only the connection
//!   holding the lease may ack or nack (`ACK failed` / `NACK failed`, also for unknown ids).
//!   When that connection closes its leased messages are ready again at once (attempts kept) and
//!   its parked CONSUMEs are dropped.
//! * **DELETE** removes the queue with everything in it (`OK` once durable); its parked CONSUMEs
//!   answer an empty batch; its leases end.
//! * **DLQ**: PEEK_DLQ → newest failure first with the total (limit clamped like a batch, reply
//!   bytes capped the same way); MOVE_TO_QUEUE → `Flag(true)` and the message is ready again
//!   with attempts 0, same id and priority (`Flag(false)` when not in the DLQ); DELETE_DLQ →
//!   `Flag`; PURGE_DLQ → `Count`.
//! * Extensions: **EXTEND** `ms` → the lease now ends `ms` from now (only the holder: `EXTEND
//!   failed`); **NACK_DELAY** → as NACK, but a retried message becomes ready only after
//!   `delay_ms`; **PURGE** → `Count` of pending, ready and delayed messages removed (leased and
//!   dead ones stay); **LIST** `offset, limit` → queues by name with ready / in-flight / delayed
//!   / dead counts (limit clamped to 1000).
//!
//! * **SQS** (`sqs`, `redrive`): [`Queue::handle_sqs`] sends (answered with the new id once
//!   durable), receives whose deliveries belong to no connection and carry a per-delivery token,
//!   deletes and visibility changes that act only with the current token (a stale delete answers
//!   success and changes nothing), and dead-letter targets: a receive that would make a message's
//!   receive count exceed the target's `max_receive_count` moves it to the target queue instead
//!   (one `DEAD_LETTER` record). Replies leave through [`Queue::poll_sqs_output`].
//!
//! Replies to one connection leave in request order (a reply waiting for durability holds the
//! later replies of its connection); only parked CONSUMEs answer when they complete. At a
//! graceful shutdown the runtime calls [`Queue::release_parked`], which answers every parked
//! CONSUME with an empty batch.
//!
//! # Durability
//!
//! Every state change is a record of the log `queues` (format in [`journal`]), emitted as
//! [`Output::Append`] with the sequence the storage will assign. Replies to CREATE, DELETE,
//! PUSH, NACK, NACK_DELAY, MOVE_TO_QUEUE, DELETE_DLQ, PURGE_DLQ and PURGE wait until
//! [`Broker::handle_persisted`] covers their record. Leases, acks, lease-expiry requeues and
//! dead-letters are journaled in the same batches but hold nothing: losing an ack in the last
//! window before a crash redelivers that message (at-least-once). EXTEND is not journaled
//! (leases do not survive a restart).
//!
//! [`Broker::handle_storage_failed`] answers every reply waiting for a record with `Storage
//! unavailable: <why>` (as well as parked CONSUMEs), drops pushes not yet durable, and from then
//! on refuses every command that would write (CREATE of a new queue, DELETE of an existing one,
//! PUSH, CONSUME, ACK, NACK, NACK_DELAY, the DLQ changes, PURGE) with the same text. EXISTS,
//! LIST, PEEK_DLQ and EXTEND keep working.
//!
//! **Recovery** replays the journal (see `recover`): queues, ready, delayed and dead messages
//! come back; messages leased at the crash are ready again at once with their attempts;
//! undecodable records are skipped and counted ([`QueueStats::skipped_records`]).
//! **Compaction** rewrites the live state as a snapshot when garbage dominates (see `compact`),
//! so the journal stays proportional to what is live.
//!
//! Message ids are 16 bytes from the seeded generator (the runtime seeds it differently at
//! every start), re-drawn on the rare collision inside a queue. Given the same seed and inputs
//! the broker produces the same outputs.

pub mod journal;

mod commands;
mod compact;
mod config;
mod dlq;
mod durable;
mod lease;
mod park;
mod recover;
mod redrive;
mod sqs;
mod state;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::request::QueueRequest;

use crate::broker::Broker;
use crate::ids::{ConnId, SeededRng, SeededState};
use crate::log::LogId;
use crate::output::Output;
use crate::time::Now;

pub use commands::EXISTS_NOT_FOUND_TEXT;
pub use config::{NameError, QueueConfig, validate_name};
pub use lease::Delivered;
pub use lease::{ACK_FAILED_TEXT, EXTEND_FAILED_TEXT, NACK_FAILED_TEXT, TIMEOUT_REASON};
pub use park::TOO_MANY_PENDING_TEXT;
pub use sqs::{SqsCommand, SqsOutput, SqsReply};
pub use state::QueueSettings;
pub use stats::{MessageState, MessageView, PAYLOAD_HEAD_BYTES, QueueCounters, QueueSnapshot, QueueStats};

use durable::Journal;
use lease::LeaseTable;
use park::ParkTable;
use recover::{Queues, Replay};
use stats::QueueCounters as Counters;

/// Name of the Queue broker's journal log.
pub const JOURNAL_LOG: &str = "queues";

/// Largest page of LIST and of the dashboard listings.
pub const MAX_PAGE: usize = 1000;

/// Why a timer is set. At one instant, lease expiries come first, then delayed messages, then
/// long-poll deadlines, so a waiter whose deadline coincides with a message becoming ready gets it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    /// Lease number `n` runs out.
    Lease(u64),
    /// The earliest delayed message of this queue is due.
    Due(Arc<str>),
    /// Parked CONSUME number `n` reaches its deadline.
    Park(u64),
}

/// The Queue broker. See the module docs for its semantics.
#[derive(Debug)]
pub struct Queue {
    config: QueueConfig,
    hasher: SeededState,
    rng: SeededRng,
    queues: Queues,
    leases: LeaseTable,
    parked: ParkTable,
    /// One ordered timer table: `(monotonic deadline, why)`.
    timers: BTreeSet<(u64, TimerKey)>,
    journal: Journal,
    replay: Replay,
    /// Queues that got ready messages since their waiters were last served.
    touched: BTreeSet<Arc<str>>,
    totals: Counters,
    outputs: VecDeque<Output>,
    /// SQS replies (see `sqs`).
    sqs: sqs::SqsOutbox,
}

impl Queue {
    /// A broker with `config`; `seed` drives message ids and keys the hash maps (the runtime
    /// passes a different seed at every start).
    pub fn new(config: QueueConfig, seed: u64) -> Self {
        let hasher = SeededState::new(seed);
        Self {
            config,
            hasher,
            rng: SeededRng::new(seed ^ 0x5155_4555_4553_0001),
            queues: BTreeMap::new(),
            leases: LeaseTable::new(hasher),
            parked: ParkTable::new(hasher),
            timers: BTreeSet::new(),
            journal: Journal::new(LogId::new(JOURNAL_LOG), hasher),
            replay: Replay::default(),
            touched: BTreeSet::new(),
            totals: Counters::default(),
            outputs: VecDeque::new(),
            sqs: sqs::SqsOutbox::default(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// Whether queue `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.queues.contains_key(name)
    }
}

impl Broker for Queue {
    type Request = QueueRequest;

    fn handle_request(&mut self, now: Now, conn: ConnId, id: u32, request: QueueRequest) {
        self.dispatch(now, conn, id, request);
        self.serve_touched(now);
    }

    fn handle_disconnect(&mut self, now: Now, conn: ConnId) {
        self.drop_parked_of(conn);
        self.release_leases_of(conn);
        self.serve_touched(now);
    }

    fn handle_timeout(&mut self, now: Now) {
        while let Some((deadline, _)) = self.timers.first() {
            if *deadline > now.mono_ms {
                break;
            }
            let Some((_, key)) = self.timers.pop_first() else { break };
            match key {
                TimerKey::Lease(no) => self.expire_lease(now, no),
                TimerKey::Due(name) => {
                    if let Some(q) = self.queues.get_mut(&name) {
                        q.due_timer = None;
                    }
                    self.rearm_due(now, &name);
                }
                TimerKey::Park(no) => self.answer_parked(no, Reply::QueueMessages(Vec::new())),
            }
            // Serve after each event, so a waiter whose deadline is later in this batch still
            // gets what became ready before it.
            self.serve_touched(now);
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.timers.first().map(|(deadline, _)| *deadline)
    }

    fn handle_shutdown(&mut self, _now: Now) {
        self.release_parked();
    }

    fn logs(&self) -> Vec<LogId> {
        vec![self.journal.log.clone()]
    }

    fn handle_recovered(&mut self, _now: Now, log: &LogId, seq: u64, record: Bytes) {
        if self.is_journal(log) {
            self.replay_record(seq, &record);
        }
    }

    fn handle_recovery_done(&mut self, now: Now, log: &LogId, next_seq: u64) {
        if self.is_journal(log) {
            self.finish_recovery(now, next_seq);
        }
    }

    fn handle_persisted(&mut self, now: Now, log: &LogId, durable_next_seq: u64) {
        if !self.is_journal(log) || self.journal.failed.is_some() {
            return;
        }
        self.journal.persisted(durable_next_seq, &mut self.outputs);
        self.sqs.persisted(durable_next_seq);
        for (name, id) in self.journal.take_durable_pushes() {
            let Some(q) = self.queues.get_mut(&name) else { continue };
            if !q.make_visible(&id) {
                continue;
            }
            if q.ready_len() > 0 && q.get(&id).is_some_and(|m| matches!(m.place, state::Place::Ready { .. }))
            {
                self.touched.insert(name);
            } else {
                self.rearm_due(now, &name);
            }
        }
        self.serve_touched(now);
        self.finish_snapshot();
        self.maybe_compact();
    }

    fn handle_storage_failed(&mut self, _now: Now, log: &LogId, why: &str) {
        if !self.is_journal(log) || self.journal.failed.is_some() {
            return;
        }
        let text = format!("Storage unavailable: {why}");
        self.sqs.fail(&text);
        for (name, id) in self.journal.fail(&text, &mut self.outputs) {
            if let Some(q) = self.queues.get_mut(&name)
                && q.get(&id).is_some_and(|m| matches!(m.place, state::Place::Pending { .. }))
            {
                q.remove(&id);
            }
        }
        for no in self.parked.all() {
            self.answer_parked(no, Reply::Err(text.clone()));
        }
    }
}
