//! The Pub/Sub broker: wildcard topics, retained messages, shared subscriptions and bounded
//! fan-out, as a sans-IO state machine driven through [`Broker`].
//!
//! This module owns request handling, the timer table and the wiring between the parts; it must
//! not parse wire bytes (that is `nexo-proto`), read a clock or keep anything unbounded. The
//! parts: [`topic`] (syntax and ERR texts), [`tree`] (pattern matching), `retained` (retained
//! messages), `shared` (`$share/` groups), `fanout` (per-connection backlog), `stats` (counters).
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
//!   messages are never delivered and are removed by the timer table.
//! * **Bounded fan-out**: a live push that would pass a connection's pending limits is not
//!   queued; the connection gets one `Close { SlowConsumer }`, loses all subscriptions at once and
//!   is refused new ones (`Connection is closing: slow consumer`) until it disconnects. A shared
//!   group then offers the message to its next member. Retained messages that do not fit on
//!   subscribe are skipped (counted as dropped) instead of closing, so a large retained set
//!   cannot make a subscriber loop on reconnects.
//! * **UNSUBSCRIBE** answers `OK` whether or not the exact string was subscribed (invalid
//!   strings included, since they cannot be subscribed).

pub mod topic;
pub mod tree;

mod config;
mod fanout;
mod retained;
mod shared;
mod stats;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::options::PublishOptions;
use nexo_proto::request::PubSubRequest;
use nexo_proto::{Push, Reply};

use crate::broker::Broker;
use crate::ids::{ConnId, SeededState};
use crate::output::{CloseReason, Output};
use crate::time::Now;

pub use config::PubSubConfig;
pub use stats::{PubSubStats, TopicStats};
pub use topic::{Subscription, TopicError, TopicLimits};
pub use tree::TopicTree;

use fanout::{ConnState, SubKind};
use retained::{Retained, RetainedStore};
use shared::{GroupId, SharedGroups};
use stats::TopicTable;

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
}

impl PubSub {
    /// A broker with `config`; `seed` keys its hash maps (see [`SeededState`]).
    pub fn new(config: PubSubConfig, seed: u64) -> Self {
        Self {
            config,
            tree: TopicTree::new(),
            shared: SharedGroups::default(),
            retained: RetainedStore::default(),
            conns: HashMap::with_hasher(SeededState::new(seed)),
            timers: BTreeSet::new(),
            topics: TopicTable::new(config.max_tracked_topics),
            counters: Counters::default(),
            outputs: VecDeque::new(),
            scratch: Vec::new(),
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
            subscriptions: as_u64(self.conns.values().map(|s| s.subs.len()).sum()),
            shared_groups: as_u64(self.shared.len()),
            retained: as_u64(self.retained.len()),
            retained_bytes: as_u64(self.retained.bytes()),
            connections: as_u64(self.conns.values().filter(|s| !s.subs.is_empty()).count()),
            pending_push_bytes: as_u64(self.conns.values().map(|s| s.pending.bytes()).sum()),
            tracked_topics: as_u64(self.topics.len()),
        }
    }

    /// Up to `limit` (at most [`MAX_TOPICS_PAGE`]) tracked topics ordered by name, from position
    /// `offset`. Only the [`PubSubConfig::max_tracked_topics`] most recently published topics
    /// are tracked.
    pub fn topics(&self, offset: usize, limit: usize) -> Vec<TopicStats> {
        self.topics.list(offset, limit.min(MAX_TOPICS_PAGE), |t| self.retained.get(t).is_some())
    }

    fn reply(&mut self, conn: ConnId, id: u32, reply: Reply) {
        self.outputs.push_back(Output::Reply { conn, id, reply });
    }

    /// Removes every retained message whose deadline has passed.
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
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        self.tree.collect_matches(topic, &mut keys);
        keys.sort_unstable();
        keys.dedup();
        // Encoding copies the payload out of the connection's read buffer, so the frame is owned
        // memory that can be retained.
        let frame = (options.retain || !keys.is_empty()).then(|| Push::encode_frame(topic, payload));
        let retained = match &frame {
            Some(frame) if options.retain => self.retain(now, topic, options, frame, payload.is_empty()),
            _ => Ok(()),
        };
        if let Err(err) = retained {
            self.scratch = keys;
            return self.reply(conn, id, Reply::error(err));
        }
        self.reply(conn, id, Reply::Ok);
        let mut delivered = 0;
        if let Some(frame) = &frame {
            for &key in &keys {
                let pushed = match key {
                    SubKey::Conn(receiver) => self.push_live(receiver, frame),
                    SubKey::Group(group) => self.push_shared(group, frame),
                };
                delivered += u64::from(pushed);
            }
        }
        self.counters.published += 1;
        self.topics.record_publish(topic, keys.len() as u64, delivered);
        self.scratch = keys;
    }

    /// Stores (or clears) the retained message of `topic`.
    fn retain(
        &mut self,
        now: Now,
        topic: &str,
        options: PublishOptions,
        frame: &Bytes,
        clear: bool,
    ) -> Result<(), retained::RetainedError> {
        if clear {
            if let Some(old) = self.retained.remove(topic) {
                self.cancel_expiry(&old);
            }
            return Ok(());
        }
        let c = &self.config;
        self.retained.check_room(topic, frame.len(), c.max_retained_messages, c.max_retained_bytes)?;
        let ttl_ms = match (options.persist, options.ttl) {
            (true, _) => None,
            (false, Some(seconds)) if seconds > 0 => Some(seconds.saturating_mul(1000)),
            (false, _) => c.retained_default_ttl_ms,
        };
        let expires_at_ms = ttl_ms.map(|ttl| now.mono_ms.saturating_add(ttl));
        let topic: Arc<str> = Arc::from(topic);
        let msg = Retained { topic: topic.clone(), frame: frame.clone(), expires_at_ms };
        if let Some(old) = self.retained.insert(msg) {
            self.cancel_expiry(&old);
        }
        if let Some(at) = expires_at_ms {
            self.timers.insert((at, TimerKey::RetainedExpiry(topic)));
        }
        Ok(())
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
        self.outputs.push_back(Output::Push { conn, frame: frame.clone() });
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
        self.outputs.push_back(Output::Close { conn, reason });
    }

    fn drop_all_subscriptions(&mut self, conn: ConnId) {
        let Some(state) = self.conns.get_mut(&conn) else { return };
        for (pattern, kind) in std::mem::take(&mut state.subs) {
            self.drop_subscription(conn, &pattern, kind);
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
            if state.subs.len() >= max {
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
}
