//! Observing the brokers: the owned snapshot types the dashboard reads and the read-only queries
//! it may ask a broker.
//!
//! This module owns the cross-broker view: [`BrokerSnapshot`] (what a runtime publishes about one
//! broker, at most every few hundred milliseconds), [`Overview`] (the whole server), the
//! [`Query`]/[`Answer`] pair of paged listings, and the [`Observe`] trait every broker implements
//! so a runtime can build both without knowing the broker. Each broker's own snapshot types live
//! with the broker (`StoreStats`, `KeyPage`, `PubSubStats`, `QueueSnapshot`, …) and are reused
//! here. Everything is owned data: nothing borrows from a broker, so a snapshot can cross threads
//! and outlive the call. Nothing here changes a broker, reads a clock or does I/O.
//!
//! The enums are `#[non_exhaustive]`: a broker or listing added later is a new variant the
//! dashboard tolerates before it knows how to show it.

use crate::pubsub::{PubSub, PubSubStats, RetainedView, SubscriptionList, TopicStats};
use crate::queue::{MessageState, MessageView, Queue, QueueSnapshot, QueueStats};
use crate::store::{KeyPage, Store, StoreStats};
use crate::stream::{GroupSnapshot, Stream, StreamMessagePage, StreamStats, TopicSnapshot};
use crate::time::Now;

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BrokerKind {
    /// Keys and values.
    Store,
    /// Topics and subscriptions.
    PubSub,
    /// Work queues.
    Queue,
    /// Append-only topics with consumer groups.
    Stream,
}

impl BrokerKind {
    /// Lower-case name used in URLs, metric labels and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::PubSub => "pubsub",
            Self::Queue => "queue",
            Self::Stream => "stream",
        }
    }
}

/// One broker's counters and gauges (its own stats type).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerStats {
    /// The Store's.
    Store(StoreStats),
    /// Pub/Sub's.
    PubSub(PubSubStats),
    /// The Queue's.
    Queue(QueueStats),
    /// The Stream's.
    Stream(StreamStats),
}

/// What a runtime last published about one broker (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSnapshot {
    /// Which broker.
    pub kind: BrokerKind,
    /// Requests handed to the broker since start (for ops per second).
    pub requests: u64,
    /// Logs whose storage failed (the server is unhealthy while any is listed).
    pub failed_logs: Vec<String>,
    /// What opening the broker's logs found and repaired (since start).
    pub storage: StorageHealth,
    /// Monotonic milliseconds when it was taken.
    pub taken_mono_ms: u64,
    /// The broker's counters and gauges.
    pub stats: BrokerStats,
}

/// Counters of what storage recovery found in one broker's logs, since start (each event was
/// also logged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageHealth {
    /// Damaged stretches skipped in the middle of segments (the intact records after each were
    /// kept; the damaged bytes were copied to a quarantine file).
    pub damaged_ranges: u64,
    /// Bytes copied to quarantine files.
    pub quarantined_bytes: u64,
    /// Bytes cut or skipped at recovery, torn tails of a crash included.
    pub dropped_bytes: u64,
    /// Sequence numbers skipped because a log ended below what its broker had handed out (a
    /// segment file went missing).
    pub skipped_seqs: u64,
    /// Writes, syncs and opens refused for a passing reason (disk full, no file descriptor left):
    /// not a failure, retried.
    pub transient_errors: u64,
}

/// The whole server now (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// `mio` or `tokio`.
    pub runtime: String,
    /// The server's version.
    pub version: String,
    /// Milliseconds since start.
    pub uptime_ms: u64,
    /// Wall-clock milliseconds since the Unix epoch, now.
    pub wall_ms: u64,
    /// Client connections open now.
    pub connections: u64,
    /// The connection limit.
    pub max_connections: u64,
    /// Resident memory of the process, where the OS tells.
    pub memory_rss_bytes: Option<u64>,
    /// The fsync mode (`always`, `interval:<ms>`, `never`).
    pub fsync: String,
    /// The last snapshot of each broker, in [`BrokerKind`] order.
    pub brokers: Vec<BrokerSnapshot>,
    /// Failed logins (wrong password, unknown or disabled user) since start, on every front.
    pub failed_logins: u64,
}

impl Overview {
    /// `true` while no broker's storage has failed.
    pub fn healthy(&self) -> bool {
        self.brokers.iter().all(|b| b.failed_logs.is_empty())
    }

    /// The snapshot of broker `kind`, if the server runs it.
    pub fn broker(&self, kind: BrokerKind) -> Option<&BrokerSnapshot> {
        self.brokers.iter().find(|b| b.kind == kind)
    }
}

/// A page of a listing: skip `offset` items, return at most `limit` (each broker clamps `limit`
/// to its own maximum page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Page {
    /// Items to skip.
    pub offset: usize,
    /// Most items to return.
    pub limit: usize,
}

/// A read-only question for one broker, answered between batches on the broker's own thread.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Query {
    /// The broker's stats now ([`Answer::Stats`]); any broker answers it.
    Stats,
    /// Store: a page of keys matching a glob pattern, walking from `cursor` as SCAN does
    /// ([`Answer::Keys`]).
    StoreKeys {
        /// `0` starts a walk; then the previous page's `next_cursor`.
        cursor: u64,
        /// Glob pattern (`*` for every key).
        pattern: String,
        /// Most keys to return.
        limit: usize,
    },
    /// Pub/Sub: tracked topics with their counters ([`Answer::Topics`]).
    Topics(Page),
    /// Pub/Sub: subscriptions by pattern ([`Answer::Subscriptions`]).
    Subscriptions(Page),
    /// Pub/Sub: live retained messages ([`Answer::Retained`]).
    Retained(Page),
    /// Queue: queues by name ([`Answer::Queues`]).
    Queues(Page),
    /// Queue: messages of one queue in one state ([`Answer::QueueMessages`]).
    QueueMessages {
        /// The queue.
        queue: String,
        /// Which messages.
        state: MessageState,
        /// Which page.
        page: Page,
    },
    /// Stream: topics by name ([`Answer::StreamTopics`]).
    StreamTopics(Page),
    /// Stream: the consumer groups of one topic ([`Answer::StreamGroups`]).
    StreamGroups {
        /// The topic.
        topic: String,
        /// Which page.
        page: Page,
    },
    /// Stream: a topic's recent messages held in memory, newest first
    /// ([`Answer::StreamMessages`]).
    StreamMessages {
        /// The topic.
        topic: String,
        /// Only sequences below this (`0` = from the newest).
        before: u64,
        /// Most messages to return.
        limit: usize,
    },
}

/// A page of items with the total the page was cut from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    /// Items in the whole listing.
    pub total: u64,
    /// This page.
    pub items: Vec<T>,
}

/// The answer to a [`Query`] (owned data).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// To [`Query::Stats`].
    Stats(BrokerStats),
    /// To [`Query::StoreKeys`].
    Keys(KeyPage),
    /// To [`Query::Topics`].
    Topics(Listing<TopicStats>),
    /// To [`Query::Subscriptions`].
    Subscriptions(SubscriptionList),
    /// To [`Query::Retained`].
    Retained(Listing<RetainedView>),
    /// To [`Query::Queues`].
    Queues(Listing<QueueSnapshot>),
    /// To [`Query::QueueMessages`]; `None` when the queue does not exist.
    QueueMessages(Option<Listing<MessageView>>),
    /// To [`Query::StreamTopics`].
    StreamTopics(Listing<TopicSnapshot>),
    /// To [`Query::StreamGroups`]; `None` when the topic does not exist.
    StreamGroups(Option<Listing<GroupSnapshot>>),
    /// To [`Query::StreamMessages`]; `None` when the topic does not exist.
    StreamMessages(Option<StreamMessagePage>),
    /// The query was sent to a broker that does not answer it.
    Unsupported,
}

/// What every broker offers an observer: its kind, its stats and answers to read-only queries.
/// Implementations must not change the broker (a query is not an access).
pub trait Observe {
    /// Which broker this is.
    fn kind(&self) -> BrokerKind;

    /// Counters and gauges now.
    fn stats(&self) -> BrokerStats;

    /// Answers `query` at `now`; [`Answer::Unsupported`] for another broker's query.
    fn inspect(&self, now: Now, query: &Query) -> Answer;
}

impl Observe for Store {
    fn kind(&self) -> BrokerKind {
        BrokerKind::Store
    }

    fn stats(&self) -> BrokerStats {
        BrokerStats::Store(Store::stats(self))
    }

    fn inspect(&self, now: Now, query: &Query) -> Answer {
        match query {
            Query::Stats => Answer::Stats(Observe::stats(self)),
            Query::StoreKeys { cursor, pattern, limit } => {
                Answer::Keys(self.key_page(now, *cursor, pattern, *limit))
            }
            _ => Answer::Unsupported,
        }
    }
}

impl Observe for PubSub {
    fn kind(&self) -> BrokerKind {
        BrokerKind::PubSub
    }

    fn stats(&self) -> BrokerStats {
        BrokerStats::PubSub(PubSub::stats(self))
    }

    fn inspect(&self, now: Now, query: &Query) -> Answer {
        match query {
            Query::Stats => Answer::Stats(Observe::stats(self)),
            Query::Topics(page) => Answer::Topics(Listing {
                total: PubSub::stats(self).tracked_topics,
                items: self.topics(page.offset, page.limit),
            }),
            Query::Subscriptions(page) => Answer::Subscriptions(self.subscriptions(page.offset, page.limit)),
            Query::Retained(page) => Answer::Retained(Listing {
                total: PubSub::stats(self).retained,
                items: self.retained_messages(now, page.offset, page.limit),
            }),
            _ => Answer::Unsupported,
        }
    }
}

impl Observe for Queue {
    fn kind(&self) -> BrokerKind {
        BrokerKind::Queue
    }

    fn stats(&self) -> BrokerStats {
        BrokerStats::Queue(Queue::stats(self))
    }

    fn inspect(&self, _now: Now, query: &Query) -> Answer {
        match query {
            Query::Stats => Answer::Stats(Observe::stats(self)),
            Query::Queues(page) => Answer::Queues(Listing {
                total: Queue::stats(self).queues,
                items: self.queues(page.offset, page.limit),
            }),
            Query::QueueMessages { queue, state, page } => {
                let total = self.queue(queue).map(|q| match state {
                    MessageState::Ready => q.ready,
                    MessageState::Delayed => q.delayed,
                    MessageState::InFlight => q.in_flight,
                    MessageState::Dead => q.dead,
                });
                let items = self.peek_messages(queue, *state, page.offset, page.limit);
                Answer::QueueMessages(total.zip(items).map(|(total, items)| Listing { total, items }))
            }
            _ => Answer::Unsupported,
        }
    }
}

impl Observe for Stream {
    fn kind(&self) -> BrokerKind {
        BrokerKind::Stream
    }

    fn stats(&self) -> BrokerStats {
        BrokerStats::Stream(Stream::stats(self))
    }

    fn inspect(&self, _now: Now, query: &Query) -> Answer {
        match query {
            Query::Stats => Answer::Stats(Observe::stats(self)),
            Query::StreamTopics(page) => Answer::StreamTopics(Listing {
                total: Stream::stats(self).topics,
                items: self.topics(page.offset, page.limit),
            }),
            Query::StreamGroups { topic, page } => {
                let total = self.topic(topic).map(|t| t.groups);
                let items = self.groups(topic, page.offset, page.limit);
                Answer::StreamGroups(total.zip(items).map(|(total, items)| Listing { total, items }))
            }
            Query::StreamMessages { topic, before, limit } => {
                Answer::StreamMessages(self.recent_messages(topic, *before, *limit))
            }
            _ => Answer::Unsupported,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use nexo_proto::options::SetOptions;
    use nexo_proto::request::StoreRequest;

    use super::*;
    use crate::broker::Broker;
    use crate::ids::ConnId;
    use crate::pubsub::PubSubConfig;
    use crate::queue::QueueConfig;
    use crate::store::StoreConfig;
    use crate::stream::StreamConfig;

    #[test]
    fn each_broker_answers_its_own_queries_only() {
        let now = Now::at(0);
        let mut store = Store::new(StoreConfig::default(), 1);
        let set = StoreRequest::Set {
            key: Bytes::from_static(b"k"),
            options: SetOptions::default(),
            value: Bytes::from_static(b"v"),
        };
        store.handle_request(now, ConnId(1), 1, set);
        let keys = Query::StoreKeys { cursor: 0, pattern: "*".into(), limit: 10 };
        match store.inspect(now, &keys) {
            Answer::Keys(page) => assert_eq!(page.keys.len(), 1),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(store.inspect(now, &Query::Topics(Page::default())), Answer::Unsupported);
        assert!(matches!(Observe::stats(&store), BrokerStats::Store(s) if s.keys == 1));

        let pubsub = PubSub::new(PubSubConfig::default(), 1);
        assert!(
            matches!(pubsub.inspect(now, &Query::Topics(Page::default())), Answer::Topics(l) if l.total == 0)
        );
        assert_eq!(pubsub.inspect(now, &keys), Answer::Unsupported);

        let queue = Queue::new(QueueConfig::default(), 1);
        let missing =
            Query::QueueMessages { queue: "nope".into(), state: MessageState::Ready, page: Page::default() };
        assert_eq!(queue.inspect(now, &missing), Answer::QueueMessages(None));
        assert!(matches!(queue.inspect(now, &Query::Stats), Answer::Stats(BrokerStats::Queue(_))));
        assert_eq!(queue.kind().name(), "queue");

        let stream = Stream::new(StreamConfig::default(), 1);
        assert!(matches!(Observe::stats(&stream), BrokerStats::Stream(s) if s.topics == 0));
        let groups = Query::StreamGroups { topic: "nope".into(), page: Page::default() };
        assert_eq!(stream.inspect(now, &groups), Answer::StreamGroups(None));
        let messages = Query::StreamMessages { topic: "nope".into(), before: 0, limit: 10 };
        assert_eq!(stream.inspect(now, &messages), Answer::StreamMessages(None));
        assert!(
            matches!(stream.inspect(now, &Query::StreamTopics(Page::default())), Answer::StreamTopics(l) if l.total == 0)
        );
        assert_eq!(stream.inspect(now, &keys), Answer::Unsupported);
    }

    #[test]
    fn overview_health_follows_failed_logs() {
        let snapshot = |failed: Vec<String>| BrokerSnapshot {
            kind: BrokerKind::Queue,
            requests: 0,
            failed_logs: failed,
            storage: StorageHealth::default(),
            taken_mono_ms: 0,
            stats: BrokerStats::Store(StoreStats::default()),
        };
        let mut overview = Overview {
            runtime: "test".into(),
            version: "0".into(),
            uptime_ms: 0,
            wall_ms: 0,
            connections: 0,
            max_connections: 1,
            memory_rss_bytes: None,
            fsync: "always".into(),
            brokers: vec![snapshot(Vec::new())],
            failed_logins: 0,
        };
        assert!(overview.healthy());
        overview.brokers.push(snapshot(vec!["queues".into()]));
        assert!(!overview.healthy());
        assert!(overview.broker(BrokerKind::Queue).is_some());
        assert!(overview.broker(BrokerKind::Stream).is_none());
    }
}
