//! The Stream broker: durable, replayable topics with consumer groups, as a sans-IO state
//! machine driven through [`Broker`].
//!
//! This module owns the broker struct, its timer table and the wiring between the parts; it must
//! not parse wire bytes, read a clock, touch files or keep anything unbounded. The parts:
//! `config` (limits), [`data`] (data logs and their record format), [`journal`] (metadata record
//! format), `durable` (journal sequences, durable marks, held replies), `topic` (one topic and
//! the catalog), `group` (one group's positions), `cache` (in-memory tails), `commands` (topic
//! commands), `members` (JOIN, LEAVE, seeks, group deletion, disconnects), `fetch` (FETCH,
//! parked FETCHes), `ack` (ACK, ACK_BATCH, NACK, ack waits, dead letters), `load` (reads of
//! older data), `lookup` (SEEK_TIME, LIST_DLQ), `retention`, `recover`, `compact`, `stats`.
//!
//! # Semantics
//!
//! * **CREATE** `{retention?: {maxAgeMs?, maxBytes?}}` validates the name like a queue name
//!   (`Invalid name: <why>`, at most 200 bytes), is idempotent (an existing topic keeps its
//!   retention) and answers `OK` once its record is durable. A missing field takes the default
//!   ([`StreamConfig::default_max_age_ms`], [`StreamConfig::default_max_bytes`]); `0` means
//!   unlimited. One topic beyond [`StreamConfig::max_topics`] → `Too many topics (max N)`.
//! * **PUBLISH** → `DATA u64 seq` once the message is durable in the topic's data log (and the
//!   topic's CREATE in the journal). Sequences start at 1 and are never reused, also after
//!   DELETE and re-CREATE or a crash (see [`data`]). Missing topic → `Topic not found`; a
//!   payload above [`MAX_MESSAGE_BYTES`] → `Message too large: N bytes (max M)`.
//! * **JOIN** (group first) → `ack_floor`, `generation`, a fresh `consumer_id` (16 hex digits
//!   from the seeded generator, unique in the group). The first JOIN creates the group at the
//!   oldest retained message (`ack_floor` = first sequence − 1) and answers once its record is
//!   durable. Missing topic → `Topic not found`; beyond [`StreamConfig::max_groups_per_topic`]
//!   → `Too many groups (max N)`, beyond [`StreamConfig::max_members_per_group`] → `Too many
//!   members (max N)`. Members belong to their connection and are not journaled.
//! * **FETCH**, **ACK**, **ACK_BATCH**, **LEAVE**, **NACK**: missing topic → `Topic not found`, missing group →
//!   `Group not found`, then `FENCED` (generation is not the group's), then `NOT_MEMBER`.
//!   FETCH serves up to `limit` (clamped to `1..=`[`StreamConfig::max_fetch`]) messages:
//!   redeliveries first (lowest sequence first), then new messages in order, only below the
//!   topic's durable mark, stopping before the reply passes [`StreamConfig::max_reply_bytes`]
//!   (at least one message). Each delivered message is pending with the member for
//!   [`StreamConfig::ack_wait_ms`]. Members of a group compete; groups are independent. With
//!   nothing to deliver, or [`StreamConfig::max_pending_per_group`] messages pending, a FETCH
//!   with `wait_ms > 0` is parked (waiters served in arrival order) and answers an empty batch
//!   at its deadline; more than [`StreamConfig::max_parked_per_conn`] waiting on one connection
//!   → `Too many pending requests`. Older messages are read from the data log (the FETCH
//!   answers when the read completes).
//! * **ACK** in any order: a message pending with another member → `NOT_OWNER`, one not pending
//!   → `seq N not pending`. The group's ack floor moves over the contiguous prefix of acked and
//!   dead-lettered messages. Acks are journaled but do not wait for it.
//! * **ACK_BATCH** (extension) acknowledges a list of sequences as ACK does each one and
//!   answers `DATA u32`: how many were pending with the member and are now acknowledged.
//!   Deliberately lenient: a sequence not pending with the member (already acked, pending with
//!   another member, never delivered, named twice) is skipped and not counted, never an error.
//!   More than [`StreamConfig::max_fetch`] sequences → `Invalid ACK_BATCH: N seqs (max M)`
//!   (before any other check); then the checks and texts of ACK: `Topic not found`,
//!   `Group not found`, `FENCED`, `NOT_MEMBER`. One journal record per acknowledged sequence,
//!   and the reply does not wait for it.
//! * **Redelivery**: a message not acked within the ack wait, or NACKed, is redelivered; once
//!   it was delivered [`StreamConfig::max_deliveries`] times it is dead-lettered instead (per
//!   group, listed by LIST_DLQ, done for the floor and lag). NACK with `delay_ms` redelivers
//!   after the delay. A NACK that dead-letters answers once the record is durable.
//! * **LEAVE**, and the connection closing, release the member's pending messages for
//!   redelivery at once and end its waiting FETCHes with an empty batch (`DATA n=0`), not those
//!   of other members. DELETE, SEEK and DELETE_GROUP end the FETCHes they affect the same way,
//!   and so does shutdown ([`Broker::handle_shutdown`]). A FETCH ended early never gets an error.
//! * **SEEK** `0` → the oldest retained message, `1` → after the newest durable one, else
//!   `Invalid seek target: N`; SEEK_SEQ clamps to the retained range; SEEK_TIME finds the first
//!   message at or after a timestamp (binary search: the cache, then reads). A seek creates the
//!   group if missing, resets it (pending, redeliveries, acks above the floor and dead letters
//!   are forgotten), bumps its generation and removes its members (they are `FENCED` from then
//!   on and re-join). Answers once durable.
//! * **EXISTS** → `OK` or `Stream not found`. **DELETE** → `OK` once durable (also for a missing
//!   topic); the data log is removed after that. **DELETE_GROUP** likewise.
//! * **LIST_DLQ** pages dead letters by sequence with their data (read from the log when not in
//!   memory); **REPLAY_DLQ** hands one (or all, `seq` 0) back for redelivery with a fresh
//!   delivery count. **LIST_TOPICS** / **LIST_GROUPS** page by name (clamped to 1000); lag =
//!   newest durable sequence − ack floor.
//!
//! Replies to one connection leave in request order (a reply waiting for durability holds the
//! later replies of its connection); only FETCHes that wait, SEEK_TIME and LIST_DLQ answer when
//! they complete.
//!
//! # Durability and memory
//!
//! Messages live in one data log per topic (the runtime opens it on [`Output::OpenLog`]); topic,
//! group and position changes are records of the journal `streams` ([`journal`]), compacted
//! into snapshots when garbage dominates. **Consumers only receive messages below the durable
//! mark.** A group survives restarts with its generation, floor, acks above the floor and dead
//! letters; what was pending at the crash is delivered again (at-least-once). Each topic keeps
//! a bounded in-memory tail ([`StreamConfig::cache_max_messages`],
//! [`StreamConfig::cache_max_bytes`], [`StreamConfig::cache_total_bytes`]); older messages are
//! read with [`Output::Read`]. Every [`StreamConfig::retention_interval_ms`] each topic gets an
//! [`Output::Retain`]; groups below the new first sequence move up. A failed data log refuses
//! PUBLISH to its topic with `Storage unavailable: <why>`; a failed journal refuses every
//! command that writes metadata (and FETCH, whose acks could not be recorded).
//!
//! Given the same seed and inputs the broker produces the same outputs.

pub mod data;
pub mod journal;

mod ack;
mod cache;
mod commands;
mod compact;
mod config;
mod durable;
mod fetch;
mod group;
mod load;
mod lookup;
mod members;
mod recover;
mod retention;
mod stats;
#[cfg(test)]
mod tests;
mod topic;
mod view;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::request::StreamRequest;

use crate::broker::Broker;
use crate::ids::{ConnId, SeededRng};
use crate::log::{LogId, StoredRecord};
use crate::output::Output;
use crate::time::Now;

pub use ack::{NOT_OWNER_TEXT, not_pending_text, too_many_acks_text};
pub use commands::{EXISTS_NOT_FOUND_TEXT, MAX_MESSAGE_BYTES, TOPIC_NOT_FOUND_TEXT};
pub use config::{MAX_STREAM_NAME_BYTES, StreamConfig};
pub use fetch::TOO_MANY_PENDING_TEXT;
pub use group::GroupCounters;
pub use members::{FENCED_TEXT, GROUP_NOT_FOUND_TEXT, NOT_MEMBER_TEXT};
pub use stats::{GroupSnapshot, StreamCounters, StreamStats, TopicSnapshot};
pub use topic::TopicCounters;
pub use view::{STREAM_HEAD_BYTES, StreamMessagePage, StreamMessageView};

use durable::Durable;
use fetch::Fetch;
use load::ReadFor;
use lookup::Lookup;
use recover::Replay;
use topic::Meta;

/// Name of the Stream broker's metadata journal.
pub const JOURNAL_LOG: &str = "streams";

/// Largest page of LIST_TOPICS, LIST_GROUPS and the dashboard listings.
pub const MAX_PAGE: usize = 1000;

/// Why a timer is set. At one instant, ack waits and delays come first, then retention, then
/// FETCH deadlines, so a waiter whose deadline coincides with a redelivery gets it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    /// The earliest ack deadline or NACK delay of group `(topic, group)`.
    Group(Arc<str>, Arc<str>),
    /// Apply every topic's retention.
    Retention,
    /// Parked FETCH number `n` reaches its deadline.
    Fetch(u64),
}

/// Waiting requests by number (arrival order), with each connection's numbers.
#[derive(Debug)]
struct Table<T> {
    entries: BTreeMap<u64, T>,
    per_conn: BTreeMap<ConnId, BTreeSet<u64>>,
    next: u64,
}

impl<T> Table<T> {
    fn new() -> Self {
        Self { entries: BTreeMap::new(), per_conn: BTreeMap::new(), next: 0 }
    }

    fn count(&self, conn: ConnId) -> usize {
        self.per_conn.get(&conn).map_or(0, BTreeSet::len)
    }

    fn insert(&mut self, conn: ConnId, entry: T) -> u64 {
        self.next += 1;
        self.per_conn.entry(conn).or_default().insert(self.next);
        self.entries.insert(self.next, entry);
        self.next
    }

    fn remove(&mut self, conn: ConnId, no: u64) -> Option<T> {
        let entry = self.entries.remove(&no)?;
        if let Some(set) = self.per_conn.get_mut(&conn) {
            set.remove(&no);
            if set.is_empty() {
                self.per_conn.remove(&conn);
            }
        }
        Some(entry)
    }

    fn of_conn(&self, conn: ConnId) -> Vec<u64> {
        self.per_conn.get(&conn).map(|set| set.iter().copied().collect()).unwrap_or_default()
    }
}

/// A member by `(topic, group, consumer id)`.
type MemberKey = (Arc<str>, Arc<str>, Arc<str>);

/// The Stream broker. See the module docs for its semantics.
#[derive(Debug)]
pub struct Stream {
    config: StreamConfig,
    rng: SeededRng,
    meta: Meta,
    /// Data log → its topic.
    logs: BTreeMap<LogId, Arc<str>>,
    /// Topics whose CREATE record is not durable yet, by its journal sequence.
    uncommitted: BTreeMap<u64, Arc<str>>,
    durable: Durable,
    replay: Replay,
    fetches: Table<Fetch>,
    lookups: Table<Lookup>,
    reads: BTreeMap<u64, ReadFor>,
    next_token: u64,
    members_by_conn: BTreeMap<ConnId, BTreeSet<MemberKey>>,
    /// One ordered timer table: `(monotonic deadline, why)`.
    timers: BTreeSet<(u64, TimerKey)>,
    retention_armed: bool,
    /// Groups that may have something for their waiters.
    touched: BTreeSet<(Arc<str>, Arc<str>)>,
    /// Payload bytes cached over all topics.
    cache_bytes: usize,
    totals: StreamCounters,
    outputs: VecDeque<Output>,
}

impl Stream {
    /// A broker with `config`; `seed` drives consumer ids (the runtime passes a different seed
    /// at every start).
    pub fn new(config: StreamConfig, seed: u64) -> Self {
        Self {
            config,
            rng: SeededRng::new(seed ^ 0x5354_5245_414D_0001),
            meta: Meta::new(config.max_tombstones),
            logs: BTreeMap::new(),
            uncommitted: BTreeMap::new(),
            durable: Durable::new(LogId::new(JOURNAL_LOG)),
            replay: Replay::default(),
            fetches: Table::new(),
            lookups: Table::new(),
            reads: BTreeMap::new(),
            next_token: 0,
            members_by_conn: BTreeMap::new(),
            timers: BTreeSet::new(),
            retention_armed: false,
            touched: BTreeSet::new(),
            cache_bytes: 0,
            totals: StreamCounters::default(),
            outputs: VecDeque::new(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// Whether topic `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.meta.topics.contains_key(name)
    }

    /// Answers every waiting FETCH with an empty batch (graceful shutdown). Drain outputs
    /// afterwards.
    pub fn release_parked(&mut self) {
        let all: Vec<u64> = self.fetches.entries.keys().copied().collect();
        for no in all {
            self.end_fetch(no);
        }
    }
}

impl Broker for Stream {
    type Request = StreamRequest;

    fn handle_request(&mut self, now: Now, conn: ConnId, id: u32, request: StreamRequest) {
        self.arm_retention(now);
        self.dispatch(now, conn, id, request);
        self.serve_touched(now);
    }

    fn handle_disconnect(&mut self, now: Now, conn: ConnId) {
        self.disconnect(conn);
        self.serve_touched(now);
    }

    fn handle_timeout(&mut self, now: Now) {
        while let Some((deadline, _)) = self.timers.first() {
            if *deadline > now.mono_ms {
                break;
            }
            let Some((at, key)) = self.timers.pop_first() else { break };
            match key {
                TimerKey::Group(topic, group) => self.group_timer(now, at, &topic, &group),
                TimerKey::Retention => self.retention_tick(now),
                TimerKey::Fetch(no) => self.fetch_deadline(no),
            }
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
        vec![self.durable.log.clone()]
    }

    fn handle_recovered(&mut self, _now: Now, log: &LogId, seq: u64, record: Bytes) {
        if *log == self.durable.log {
            self.replay_record(seq, &record);
        }
    }

    fn handle_recovery_done(&mut self, now: Now, log: &LogId, next_seq: u64) {
        if *log == self.durable.log {
            self.finish_recovery(now, next_seq);
        }
    }

    fn handle_stored_logs(&mut self, _now: Now, logs: &[LogId]) -> Vec<String> {
        self.handle_orphan_logs(logs)
    }

    fn handle_persisted(&mut self, now: Now, log: &LogId, durable_next_seq: u64) {
        if *log == self.durable.log {
            self.journal_persisted(durable_next_seq);
        } else {
            self.data_persisted(log, durable_next_seq);
        }
        self.serve_touched(now);
    }

    fn handle_log_opened(&mut self, now: Now, log: &LogId, first_seq: u64, next_seq: u64) {
        self.log_opened(log, first_seq, next_seq);
        self.serve_touched(now);
    }

    fn handle_read(&mut self, now: Now, token: u64, result: Result<Vec<StoredRecord>, String>) {
        self.read_done(now, token, result);
        self.serve_touched(now);
    }

    fn handle_storage_failed(&mut self, now: Now, log: &LogId, why: &str) {
        let text = format!("Storage unavailable: {why}");
        if *log == self.durable.log {
            self.journal_failed(&text);
        } else {
            self.data_failed(log, &text);
        }
        self.serve_touched(now);
    }
}
