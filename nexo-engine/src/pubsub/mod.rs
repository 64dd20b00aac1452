//! The Pub/Sub broker: wildcard topics, retained messages, shared subscriptions and bounded
//! fan-out, as a sans-IO state machine driven through [`Broker`].
//!
//! This module owns request handling, the timer table and the wiring between the parts; it must
//! not parse wire bytes (that is `nexo-proto`), read a clock, touch files or keep anything
//! unbounded. The parts: [`topic`] (syntax and ERR texts), [`tree`] (pattern matching),
//! `retained` (retained messages), [`journal`] (the retained journal's record format), `durable`
//! (sequences, held outputs, undo, failure), `recover` (replay), `compact` (snapshots), `shared`
//! (`$share/` groups), `fanout` (per-connection backlog), `stats` (counters).
//!
//! # Semantics
//!
//! * **PUBLISH** answers `OK` (or an ERR text from [`TopicError`] / the retained limits), then
//!   pushes the message once to every connection with a matching plain subscription (however
//!   many of its patterns match), in `ConnId` order, then once to one member of every matching
//!   shared group, groups in creation order. The push frame is encoded once and shared.
//! * **Shared subscriptions** (`$share/<group>/<filter>`) are identified by the whole string.
//!   Members receive in join order, round-robin. Each shared subscription is delivered on its own,
//!   as in MQTT 5: a connection that is also subscribed plainly, or that is in several matching
//!   groups, gets one push for its plain subscriptions plus one per group that picked it. No
//!   retained messages are sent on shared subscriptions.
//! * **Retained**: a retained publish stores the message (one per topic) and is also delivered
//!   like any other; an empty retained payload clears the topic's message (and is delivered).
//!   `ttl` missing or `0` means [`PubSubConfig::retained_default_ttl_ms`], `persist: true` never
//!   expires. A plain SUBSCRIBE answers `OK` and then pushes every live retained message that
//!   matches, also when the connection was already subscribed (as MQTT's default). Expired
//!   messages are never delivered and are removed by the timer table. Retained messages are
//!   durable (see below).
//! * **Bounded fan-out**: a live push that would pass a connection's pending limits is not
//!   queued; the connection gets one `Close { SlowConsumer }`, loses all subscriptions at once and
//!   is refused new ones (`Connection is closing: slow consumer`) until it disconnects. A shared
//!   group then offers the message to its next member. Retained messages that do not fit on
//!   subscribe are skipped (counted as dropped) instead of closing, so a large retained set
//!   cannot make a subscriber loop on reconnects.
//! * **UNSUBSCRIBE** answers `OK` whether or not the exact string was subscribed (invalid
//!   strings included, since they cannot be subscribed).
//! * **Redis-style subscriptions** (`channels`, for RESP): SUBSCRIBE_CHANNEL matches a channel
//!   name byte for byte, SUBSCRIBE_GLOB a Redis glob; both count toward the per-connection
//!   subscription limit (globs also toward [`MAX_GLOBS_PER_CONN`]) and the same slow-consumer
//!   bounds. Every publish (v1 PUBLISH or PUBLISH_COUNT) pushes, after the tree's receivers, the
//!   plain frame once to each exact-channel subscriber and a pattern frame (meta `0x01`, naming
//!   the glob) once per matching glob to each of its subscribers, as Redis sends one `message`
//!   plus one `pmessage` per matching pattern. PUBLISH_COUNT accepts any name up to the topic
//!   length limit; it reaches tree subscribers only when it is also a valid v1 publish topic,
//!   and answers the number of pushes queued.
//!
//! # Durability of retained messages
//!
//! Every change to the retained set is a record of the log [`JOURNAL_LOG`] (`retained`; format
//! in [`journal`]), emitted as [`Output::Append`] with the sequence the storage will assign:
//! `SET` (topic, wall-clock expiry or 0 = never, payload) for a retained PUBLISH, `CLEAR` for a
//! clearing one (written even when the topic retained nothing, so every retained PUBLISH has one
//! record to wait for) and for a message the expiry timer removes. Non-retained PUBLISHes,
//! SUBSCRIBE and UNSUBSCRIBE write nothing.
//!
//! * **A retained PUBLISH is answered `OK` only once [`Broker::handle_persisted`] covers its
//!   record.** The change is applied to the retained set at once, and the message is delivered
//!   live to current subscribers at once, before it is durable: live delivery is at-most-once
//!   anyway (nothing else in Pub/Sub is durable), holding it would delay every subscriber by an
//!   fsync, and delivering it later would reorder it against the publisher's later non-retained
//!   messages. What the `OK` promises is that the retained set after a restart contains the
//!   message (or its clearing). A subscriber can therefore see, live or on SUBSCRIBE, a retained
//!   message that a crash before its fsync loses.
//! * **Per-connection order is kept**: while a connection waits for a retained PUBLISH's reply,
//!   every later output to that connection (replies, pushes, a slow-consumer close) is held
//!   behind it and released in order. So replies leave in request order, a SUBSCRIBE's `OK`
//!   still comes before the retained messages it pushes, and a publisher subscribed to its own
//!   topic gets its `OK` before its own message. Other connections are not held.
//! * **Expiry** is stored as wall-clock milliseconds (`now.wall_ms + ttl`); the live timer uses
//!   the monotonic clock. When the timer removes a message it also journals a `CLEAR` (not
//!   waited for), so the journal agrees with memory even if the wall clock steps back before a
//!   restart; recovery additionally drops every `SET` whose expiry has passed by the wall clock,
//!   which covers messages that expired while the server was down or before their `CLEAR` was
//!   durable.
//! * **Storage failure** ([`Broker::handle_storage_failed`]): every reply waiting for a record is
//!   answered `Storage unavailable: <why>` (held outputs are released in order), and the
//!   retained changes whose records never became durable are undone, newest first, so the
//!   retained set served from then on is the durable one (live deliveries already made cannot be
//!   undone). From then on every retained PUBLISH (clearing ones too) is answered with the same
//!   text and neither stored nor delivered; non-retained PUBLISHes, SUBSCRIBE (with the retained
//!   messages in memory) and UNSUBSCRIBE keep working; the expiry timer still removes messages,
//!   without records.
//! * **Recovery** ([`Broker::handle_recovered`] in sequence order, then
//!   [`Broker::handle_recovery_done`]) rebuilds the retained set (rules in `recover`): expired
//!   messages do not come back, undecodable records are skipped and counted
//!   ([`PubSubStats::skipped_records`]), and the retained limits of the current configuration
//!   still apply ([`PubSubStats::recovery_refused`]).
//! * **Compaction** (see `compact`): when the bytes written since the last snapshot exceed
//!   [`PubSubConfig::compact_ratio`] × retained bytes + [`PubSubConfig::compact_min_bytes`], the
//!   broker emits `Roll`, a snapshot (`SNAPSHOT_BEGIN`, one `SNAP_SET` per live message,
//!   `SNAPSHOT_END` with the count) and, once that is durable, `TruncateBefore` the snapshot, so
//!   the journal stays proportional to the retained set however often topics are overwritten.
//!   Recovery adopts a snapshot only when it is complete.

pub mod journal;
pub mod topic;
pub mod tree;

mod channels;
mod compact;
mod config;
mod durable;
mod fanout;
mod recover;
mod retained;
mod shared;
mod stats;
#[cfg(test)]
mod tests;
mod view;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::options::PublishOptions;
use nexo_proto::request::PubSubRequest;
use nexo_proto::{Push, Reply};

use crate::broker::Broker;
use crate::ids::{ConnId, SeededState};
use crate::log::LogId;
use crate::output::{CloseReason, Output};
use crate::time::Now;

pub use channels::MAX_GLOBS_PER_CONN;
pub use config::PubSubConfig;
pub use stats::{PubSubStats, TopicStats};
pub use topic::{Subscription, TopicError, TopicLimits};
pub use tree::TopicTree;
pub use view::{RETAINED_HEAD_BYTES, RetainedView, SubscriptionKind, SubscriptionList, SubscriptionView};

use channels::Channels;
use durable::Journal;
use fanout::{ConnState, SubKind};
use journal::Record;
use recover::Replay;
use retained::{Retained, RetainedStore};
use shared::{GroupId, SharedGroups};
use stats::TopicTable;

/// Name of the log holding the retained journal.
pub const JOURNAL_LOG: &str = "retained";

/// Most topics one [`PubSub::topics`] call returns.
pub const MAX_TOPICS_PAGE: usize = 1000;

/// ERR text for a SUBSCRIBE from a connection already closed as a slow consumer.
pub const CLOSING_TEXT: &str = "Connection is closing: slow consumer";

/// A receiver filed in the subscription tree. Conns sort before groups, so a sorted match list
/// serves plain subscribers first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SubKey {
    Conn(ConnId),
    Group(GroupId),
}

/// Why a timer is set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    /// The retained message of this topic expires.
    RetainedExpiry(Arc<str>),
}

/// The result of offering one push to one connection.
enum Offer {
    Queued,
    Full(CloseReason),
    Gone,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    published: u64,
    delivered: u64,
    dropped: u64,
    slow_consumer_closes: u64,
}

/// The Pub/Sub broker. See the module docs for its semantics.
#[derive(Debug)]
pub struct PubSub {
    config: PubSubConfig,
    tree: TopicTree<SubKey>,
    /// Redis-style exact-channel and glob subscriptions.
    channels: Channels,
    shared: SharedGroups,
    retained: RetainedStore,
    conns: HashMap<ConnId, ConnState, SeededState>,
    /// One ordered timer table: `(monotonic deadline, why)`.
    timers: BTreeSet<(u64, TimerKey)>,
    topics: TopicTable,
    counters: Counters,
    outputs: VecDeque<Output>,
    /// Reused match buffer of the publish path.
    scratch: Vec<SubKey>,
    /// The retained journal's write state.
    journal: Journal,
    /// Start-up replay progress.
    replay: Replay,
}

impl PubSub {
    /// A broker with `config`; `seed` keys its hash maps (see [`SeededState`]).
    pub fn new(config: PubSubConfig, seed: u64) -> Self {
        let hasher = SeededState::new(seed);
        Self {
            config,
            tree: TopicTree::new(),
            channels: Channels::default(),
            shared: SharedGroups::default(),
            retained: RetainedStore::default(),
            conns: HashMap::with_hasher(hasher),
            timers: BTreeSet::new(),
            topics: TopicTable::new(config.max_tracked_topics),
            counters: Counters::default(),
            outputs: VecDeque::new(),
            scratch: Vec::new(),
            journal: Journal::new(LogId::new(JOURNAL_LOG), hasher),
            replay: Replay::default(),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &PubSubConfig {
        &self.config
    }

    /// A snapshot of the overall counters.
    pub fn stats(&self) -> PubSubStats {
        let c = self.counters;
        let as_u64 = |n: usize| n as u64;
        PubSubStats {
            published: c.published,
            delivered: c.delivered,
            dropped: c.dropped,
            slow_consumer_closes: c.slow_consumer_closes,
            subscriptions: as_u64(self.conns.values().map(ConnState::total_subscriptions).sum()),
            shared_groups: as_u64(self.shared.len()),
            retained: as_u64(self.retained.len()),
            retained_bytes: as_u64(self.retained.bytes()),
            connections: as_u64(self.conns.values().filter(|s| s.total_subscriptions() > 0).count()),
            pending_push_bytes: as_u64(self.conns.values().map(|s| s.pending.bytes()).sum()),
            tracked_topics: as_u64(self.topics.len()),
            skipped_records: self.replay.skipped,
            recovery_refused: self.replay.refused,
            journal_bytes: self.journal.bytes_since_snapshot,
            snapshots: self.journal.snapshots,
            storage_failed: self.journal.failed.is_some(),
        }
    }

    /// `Storage unavailable: <why>` once the retained journal failed.
    pub fn storage_error(&self) -> Option<&str> {
        self.journal.failed.as_deref()
    }

    /// Up to `limit` (at most [`MAX_TOPICS_PAGE`]) tracked topics ordered by name, from position
    /// `offset`. Only the [`PubSubConfig::max_tracked_topics`] most recently published topics
    /// are tracked.
    pub fn topics(&self, offset: usize, limit: usize) -> Vec<TopicStats> {
        self.topics.list(offset, limit.min(MAX_TOPICS_PAGE), |t| self.retained.get(t).is_some())
    }

    /// Answers now, or behind the connection's held outputs.
    fn reply(&mut self, conn: ConnId, id: u32, reply: Reply) {
        self.journal.emit(conn, Output::Reply { conn, id, reply }, &mut self.outputs);
    }

    /// Removes every retained message whose deadline has passed, journaling a `CLEAR` for each.
    fn expire(&mut self, now: Now) {
        while let Some((deadline, _)) = self.timers.first() {
            if *deadline > now.mono_ms {
                break;
            }
            let Some((deadline, key)) = self.timers.pop_first() else { break };
            match key {
                TimerKey::RetainedExpiry(topic) => {
                    if self.retained.get(&topic).is_some_and(|m| m.expires_at_ms == Some(deadline)) {
                        self.retained.remove(&topic);
                        self.journal.append(&Record::Clear { topic: &topic }, &mut self.outputs);
                    }
                }
            }
        }
    }

    fn cancel_expiry(&mut self, old: &Retained) {
        if let Some(at) = old.expires_at_ms {
            self.timers.remove(&(at, TimerKey::RetainedExpiry(old.topic.clone())));
        }
    }

    /// Stores `msg` with its expiry timer; returns the message it replaced.
    fn set_retained(&mut self, msg: Retained) -> Option<Retained> {
        let timer = msg.expires_at_ms.map(|at| (at, TimerKey::RetainedExpiry(msg.topic.clone())));
        let old = self.retained.insert(msg);
        // Cancel first: the new deadline may equal the old one.
        if let Some(old) = &old {
            self.cancel_expiry(old);
        }
        if let Some(timer) = timer {
            self.timers.insert(timer);
        }
        old
    }

    /// Removes `topic`'s message and its expiry timer; returns it.
    fn clear_retained(&mut self, topic: &str) -> Option<Retained> {
        let old = self.retained.remove(topic)?;
        self.cancel_expiry(&old);
        Some(old)
    }

    fn publish(
        &mut self,
        now: Now,
        conn: ConnId,
        id: u32,
        topic: &str,
        options: PublishOptions,
        payload: &Bytes,
    ) {
        if let Err(err) = topic::validate_topic(topic, self.config.topic_limits()) {
            return self.reply(conn, id, Reply::error(err));
        }
        if options.retain
            && let Some(text) = &self.journal.failed
        {
            let reply = Reply::Err(text.clone());
            return self.reply(conn, id, reply);
        }
        if options.retain && topic.len() > journal::MAX_RECORD_TOPIC_BYTES {
            // Only reachable with `max_topic_bytes` configured above what a record can hold.
            let err = TopicError::TopicTooLong { max: journal::MAX_RECORD_TOPIC_BYTES };
            return self.reply(conn, id, Reply::error(err));
        }
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        self.tree.collect_matches(topic, &mut keys);
        keys.sort_unstable();
        keys.dedup();
        // Encoding copies the payload out of the connection's read buffer, so the frame is owned
        // memory that can be retained.
        let frame = (options.retain || !keys.is_empty() || self.channels.may_receive(topic))
            .then(|| Push::encode_frame(topic, payload));
        let retained = match &frame {
            Some(frame) if options.retain => self.retain(now, topic, options, frame, payload).map(Some),
            _ => Ok(None),
        };
        match retained {
            Err(err) => {
                self.scratch = keys;
                return self.reply(conn, id, Reply::error(err));
            }
            Ok(Some(seq)) => self.journal.reply_after(seq, conn, id, Reply::Ok, &mut self.outputs),
            Ok(None) => self.reply(conn, id, Reply::Ok),
        }
        let mut delivered = 0;
        if let Some(frame) = &frame {
            delivered = self.fan_out(topic, payload, frame, &keys);
        }
        self.counters.published += 1;
        self.topics.record_publish(topic, keys.len() as u64, delivered);
        self.scratch = keys;
    }

    /// Pushes one message to the tree's matches `keys`, then to exact-channel subscribers, then
    /// once per matching glob to that glob's subscribers (a pattern push naming it); returns the
    /// pushes queued.
    fn fan_out(&mut self, topic: &str, payload: &[u8], frame: &Bytes, keys: &[SubKey]) -> u64 {
        let mut delivered = 0;
        for &key in keys {
            let pushed = match key {
                SubKey::Conn(receiver) => self.push_live(receiver, frame),
                SubKey::Group(group) => self.push_shared(group, frame),
            };
            delivered += u64::from(pushed);
        }
        if !self.channels.may_receive(topic) {
            return delivered;
        }
        let mut exact = Vec::new();
        self.channels.exact_receivers(topic, &mut exact);
        for conn in exact {
            delivered += u64::from(self.push_live(conn, frame));
        }
        let globs: Vec<(Bytes, Vec<ConnId>)> = self
            .channels
            .glob_receivers(topic)
            .into_iter()
            .map(|(pattern, conns)| (Push::encode_pattern_frame(pattern, topic, payload), conns))
            .collect();
        for (pattern_frame, conns) in globs {
            for conn in conns {
                delivered += u64::from(self.push_live(conn, &pattern_frame));
            }
        }
        delivered
    }

    /// PUBLISH_COUNT: any channel name; the reply is the number of pushes queued (sent after
    /// them, as Redis answers a PUBLISH after filling its subscribers' buffers).
    fn publish_count(&mut self, conn: ConnId, id: u32, topic: &str, payload: &Bytes) {
        let max = self.config.max_topic_bytes;
        if topic.len() > max {
            return self.reply(conn, id, Reply::error(TopicError::TopicTooLong { max }));
        }
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        // Tree subscribers get it only when it is also a valid v1 publish topic.
        if topic::validate_topic(topic, self.config.topic_limits()).is_ok() {
            self.tree.collect_matches(topic, &mut keys);
            keys.sort_unstable();
            keys.dedup();
        }
        let mut delivered = 0;
        if !keys.is_empty() || self.channels.may_receive(topic) {
            let frame = Push::encode_frame(topic, payload);
            delivered = self.fan_out(topic, payload, &frame, &keys);
        }
        self.counters.published += 1;
        self.topics.record_publish(topic, keys.len() as u64, delivered);
        self.scratch = keys;
        self.reply(conn, id, Reply::Int(i64::try_from(delivered).unwrap_or(i64::MAX)));
    }

    /// SUBSCRIBE_CHANNEL / SUBSCRIBE_GLOB: an exact channel or a glob pattern for `conn`.
    fn subscribe_channel(&mut self, conn: ConnId, id: u32, name: &str, glob: bool) {
        let max_bytes = self.config.max_topic_bytes;
        if name.len() > max_bytes {
            let err = if glob {
                TopicError::PatternTooLong { max: max_bytes }
            } else {
                TopicError::TopicTooLong { max: max_bytes }
            };
            return self.reply(conn, id, Reply::error(err));
        }
        let max = self.config.max_subscriptions_per_conn;
        let state = self.conns.entry(conn).or_default();
        if state.closed {
            return self.reply(conn, id, Reply::Err(CLOSING_TEXT.to_owned()));
        }
        let held = if glob { state.globs.contains(name) } else { state.channels.contains(name) };
        if !held {
            let refusal = if state.total_subscriptions() >= max {
                Some(format!("Too many subscriptions (max {max})"))
            } else if glob && state.globs.len() >= MAX_GLOBS_PER_CONN {
                Some(format!("Too many pattern subscriptions (max {MAX_GLOBS_PER_CONN})"))
            } else {
                None
            };
            if let Some(text) = refusal {
                self.release_if_idle(conn);
                return self.reply(conn, id, Reply::Err(text));
            }
            if glob {
                if let Err(too_long) = self.channels.add_glob(name, conn) {
                    self.release_if_idle(conn);
                    return self.reply(conn, id, Reply::error(too_long));
                }
                state.globs.insert(Box::from(name));
            } else {
                state.channels.insert(Box::from(name));
                self.channels.add_exact(name, conn);
            }
        }
        self.reply(conn, id, Reply::Ok);
    }

    /// UNSUBSCRIBE_CHANNEL / UNSUBSCRIBE_GLOB; always OK.
    fn unsubscribe_channel(&mut self, conn: ConnId, id: u32, name: &str, glob: bool) {
        if let Some(state) = self.conns.get_mut(&conn) {
            let held = if glob { state.globs.remove(name) } else { state.channels.remove(name) };
            if held {
                if glob {
                    self.channels.remove_glob(name, conn);
                } else {
                    self.channels.remove_exact(name, conn);
                }
                self.release_if_idle(conn);
            }
        }
        self.reply(conn, id, Reply::Ok);
    }

    /// Stores (or, for an empty payload, clears) the retained message of `topic` and journals
    /// the change; returns the record's sequence.
    fn retain(
        &mut self,
        now: Now,
        topic: &str,
        options: PublishOptions,
        frame: &Bytes,
        payload: &[u8],
    ) -> Result<u64, retained::RetainedError> {
        if payload.is_empty() {
            let old = self.clear_retained(topic);
            let seq = self.journal.append(&Record::Clear { topic }, &mut self.outputs);
            self.journal.remember(seq, Arc::from(topic), old);
            return Ok(seq);
        }
        let c = &self.config;
        self.retained.check_room(topic, frame.len(), c.max_retained_messages, c.max_retained_bytes)?;
        let ttl_ms = match (options.persist, options.ttl) {
            (true, _) => None,
            (false, Some(seconds)) if seconds > 0 => Some(seconds.saturating_mul(1000)),
            (false, _) => c.retained_default_ttl_ms,
        };
        let expires_at_ms = ttl_ms.map(|ttl| now.mono_ms.saturating_add(ttl));
        // 0 means "never" in the journal: a real deadline is at least 1.
        let expires_wall_ms = ttl_ms.map_or(0, |ttl| now.wall_ms.saturating_add(ttl).max(1));
        let seq = self.journal.append(&Record::Set { topic, expires_wall_ms, payload }, &mut self.outputs);
        let topic: Arc<str> = Arc::from(topic);
        let msg = Retained {
            topic: topic.clone(),
            frame: frame.clone(),
            expires_at_ms,
            expires_wall_ms,
            payload_len: payload.len(),
        };
        let old = self.set_retained(msg);
        self.journal.remember(seq, topic, old);
        Ok(seq)
    }

    /// Offers `frame` to `conn` within its pending limits; queues the push when it fits.
    fn offer(&mut self, conn: ConnId, frame: &Bytes) -> Offer {
        let (max_bytes, max_count) = (self.config.max_pending_push_bytes, self.config.max_pending_pushes);
        let Some(state) = self.conns.get_mut(&conn).filter(|s| !s.closed) else {
            return Offer::Gone;
        };
        if state.pending.is_full(frame.len(), max_bytes, max_count) {
            let (pending_bytes, pending_pushes) = (state.pending.bytes(), state.pending.count());
            return Offer::Full(CloseReason::SlowConsumer { pending_bytes, pending_pushes });
        }
        state.pending.add(frame.len());
        self.journal.emit(conn, Output::Push { conn, frame: frame.clone() }, &mut self.outputs);
        self.counters.delivered += 1;
        Offer::Queued
    }

    /// A live push to a plain subscriber; a full subscriber is closed. `true` if queued.
    fn push_live(&mut self, conn: ConnId, frame: &Bytes) -> bool {
        match self.offer(conn, frame) {
            Offer::Queued => true,
            Offer::Full(reason) => {
                self.close_slow(conn, reason);
                false
            }
            Offer::Gone => false,
        }
    }

    /// A live push to one member of a shared group: a full member is closed and the next one is
    /// offered the message. `true` if queued.
    fn push_shared(&mut self, group: GroupId, frame: &Bytes) -> bool {
        for _ in 0..self.shared.member_count(group) {
            let Some(member) = self.shared.pick(group) else { return false };
            match self.offer(member, frame) {
                Offer::Queued => return true,
                Offer::Full(reason) => self.close_slow(member, reason),
                Offer::Gone => {}
            }
        }
        false
    }

    /// Closes `conn` as a slow consumer: one `Close`, all subscriptions dropped at once.
    fn close_slow(&mut self, conn: ConnId, reason: CloseReason) {
        self.counters.dropped += 1;
        self.counters.slow_consumer_closes += 1;
        self.drop_all_subscriptions(conn);
        if let Some(state) = self.conns.get_mut(&conn) {
            state.closed = true;
        }
        self.journal.emit(conn, Output::Close { conn, reason }, &mut self.outputs);
    }

    fn drop_all_subscriptions(&mut self, conn: ConnId) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        let (channels, globs) = (std::mem::take(&mut state.channels), std::mem::take(&mut state.globs));
        for (pattern, kind) in std::mem::take(&mut state.subs) {
            self.drop_subscription(conn, &pattern, kind);
        }
        for channel in channels {
            self.channels.remove_exact(&channel, conn);
        }
        for pattern in globs {
            self.channels.remove_glob(&pattern, conn);
        }
    }

    /// Removes one subscription of `conn` from the tree or its group (the caller already took
    /// it out of the connection's own list).
    fn drop_subscription(&mut self, conn: ConnId, pattern: &str, kind: SubKind) {
        match kind {
            SubKind::Normal => {
                self.tree.remove(pattern, SubKey::Conn(conn));
            }
            SubKind::Shared(group) => {
                if let Some(filter) = self.shared.leave(group, conn) {
                    self.tree.remove(&filter, SubKey::Group(group));
                }
            }
        }
    }

    /// Forgets `conn` when it holds nothing anymore.
    fn release_if_idle(&mut self, conn: ConnId) {
        if self.conns.get(&conn).is_some_and(ConnState::is_idle) {
            self.conns.remove(&conn);
        }
    }

    fn subscribe(&mut self, now: Now, conn: ConnId, id: u32, pattern: &str) {
        let sub = match topic::parse_subscription(pattern, self.config.topic_limits()) {
            Ok(sub) => sub,
            Err(err) => return self.reply(conn, id, Reply::error(err)),
        };
        let max = self.config.max_subscriptions_per_conn;
        let state = self.conns.entry(conn).or_default();
        if state.closed {
            return self.reply(conn, id, Reply::Err(CLOSING_TEXT.to_owned()));
        }
        if !state.subs.contains_key(pattern) {
            if state.total_subscriptions() >= max {
                self.release_if_idle(conn);
                return self.reply(conn, id, Reply::Err(format!("Too many subscriptions (max {max})")));
            }
            let kind = match sub {
                Subscription::Normal(filter) => {
                    self.tree.insert(filter, SubKey::Conn(conn));
                    SubKind::Normal
                }
                Subscription::Shared { filter, .. } => {
                    let (group, created) = self.shared.join(pattern, filter, conn);
                    if created {
                        self.tree.insert(filter, SubKey::Group(group));
                    }
                    SubKind::Shared(group)
                }
            };
            state.subs.insert(Box::from(pattern), kind);
        }
        self.reply(conn, id, Reply::Ok);
        if let Subscription::Normal(filter) = sub {
            self.deliver_retained(now, conn, filter);
        }
    }

    /// Pushes the live retained messages matching `filter` to `conn`, skipping those that do
    /// not fit its pending limits.
    fn deliver_retained(&mut self, now: Now, conn: ConnId, filter: &str) {
        for msg in self.retained.matching(filter, now.mono_ms) {
            match self.offer(conn, &msg.frame) {
                Offer::Queued => self.topics.record_delivered(&msg.topic),
                Offer::Full(_) => self.counters.dropped += 1,
                Offer::Gone => return,
            }
        }
    }

    fn unsubscribe(&mut self, conn: ConnId, id: u32, pattern: &str) {
        let kind = self.conns.get_mut(&conn).and_then(|s| s.subs.remove(pattern));
        if let Some(kind) = kind {
            self.drop_subscription(conn, pattern, kind);
            self.release_if_idle(conn);
        }
        self.reply(conn, id, Reply::Ok);
    }
}

impl Broker for PubSub {
    type Request = PubSubRequest;

    fn handle_request(&mut self, now: Now, conn: ConnId, id: u32, request: PubSubRequest) {
        self.expire(now);
        match request {
            PubSubRequest::Publish { topic, options, payload } => {
                self.publish(now, conn, id, &topic, options, &payload)
            }
            PubSubRequest::Subscribe { pattern } => self.subscribe(now, conn, id, &pattern),
            PubSubRequest::Unsubscribe { pattern } => self.unsubscribe(conn, id, &pattern),
            PubSubRequest::PublishCount { topic, payload } => self.publish_count(conn, id, &topic, &payload),
            PubSubRequest::SubscribeChannel { channel } => self.subscribe_channel(conn, id, &channel, false),
            PubSubRequest::UnsubscribeChannel { channel } => {
                self.unsubscribe_channel(conn, id, &channel, false)
            }
            PubSubRequest::SubscribeGlob { pattern } => self.subscribe_channel(conn, id, &pattern, true),
            PubSubRequest::UnsubscribeGlob { pattern } => self.unsubscribe_channel(conn, id, &pattern, true),
        }
    }

    fn handle_disconnect(&mut self, now: Now, conn: ConnId) {
        self.expire(now);
        self.drop_all_subscriptions(conn);
        self.conns.remove(&conn);
    }

    fn handle_flushed(&mut self, now: Now, conn: ConnId, bytes: usize) {
        self.expire(now);
        if let Some(state) = self.conns.get_mut(&conn) {
            state.pending.flushed(bytes);
        }
        self.release_if_idle(conn);
    }

    fn handle_timeout(&mut self, now: Now) {
        self.expire(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.timers.first().map(|(deadline, _)| *deadline)
    }

    fn logs(&self) -> Vec<LogId> {
        vec![self.journal.log.clone()]
    }

    fn handle_recovered(&mut self, now: Now, log: &LogId, seq: u64, record: Bytes) {
        if self.is_journal(log) {
            self.replay_record(now, seq, &record);
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
        self.finish_snapshot();
        self.maybe_compact(now);
    }

    fn handle_storage_failed(&mut self, _now: Now, log: &LogId, why: &str) {
        if !self.is_journal(log) || self.journal.failed.is_some() {
            return;
        }
        let text = format!("Storage unavailable: {why}");
        for undo in self.journal.fail(&text, &mut self.outputs) {
            match undo.previous {
                Some(previous) => {
                    self.set_retained(previous);
                }
                None => {
                    self.clear_retained(&undo.topic);
                }
            }
        }
    }
}
