//! Counters of the Pub/Sub broker and the owned snapshot types the dashboard reads.
//!
//! Owns the overall counters and a bounded table of per-topic counters (least recently
//! published topic forgotten first). It must not look at subscriptions or retained messages
//! itself: the broker passes in what a snapshot needs.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Overall counters and gauges of the Pub/Sub broker (an owned snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PubSubStats {
    /// Messages accepted by PUBLISH.
    pub published: u64,
    /// Pushes handed to the runtime (live and retained).
    pub delivered: u64,
    /// Pushes not queued because the receiver was full (slow-consumer closes and retained
    /// messages skipped on subscribe).
    pub dropped: u64,
    /// Connections closed as slow consumers.
    pub slow_consumer_closes: u64,
    /// Subscriptions now (plain ones plus shared-group memberships).
    pub subscriptions: u64,
    /// Shared groups now.
    pub shared_groups: u64,
    /// Retained messages now.
    pub retained: u64,
    /// Engine-counted bytes of retained messages now.
    pub retained_bytes: u64,
    /// Connections with at least one subscription now.
    pub connections: u64,
    /// Push bytes handed to the runtime and not yet reported written, over all connections.
    pub pending_push_bytes: u64,
    /// Topics in the per-topic table now.
    pub tracked_topics: u64,
    /// Retained-journal records skipped at recovery (undecodable, or snapshot records out of
    /// place).
    pub skipped_records: u64,
    /// Retained messages of the journal that the current limits refused at recovery.
    pub recovery_refused: u64,
    /// Bytes written to the retained journal since its last snapshot began (or since start).
    pub journal_bytes: u64,
    /// Compaction snapshots written since start.
    pub snapshots: u64,
    /// The retained journal failed: retained publishes are refused (see
    /// [`super::PubSub::storage_error`] for why).
    pub storage_failed: bool,
}

/// Counters of one topic (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicStats {
    /// The concrete topic.
    pub topic: String,
    /// Messages published to it since it entered the table.
    pub published: u64,
    /// Pushes of its messages handed to the runtime (live and retained).
    pub delivered: u64,
    /// Whether it has a retained message now.
    pub retained: bool,
    /// Receivers (connections plus shared groups) its last message matched.
    pub subscribers_last: u64,
}

#[derive(Debug, Clone, Copy)]
struct TopicCounters {
    published: u64,
    delivered: u64,
    subscribers_last: u64,
    /// Position in the recency order.
    tick: u64,
}

/// Per-topic counters, at most `max` topics; the least recently published is evicted first.
#[derive(Debug)]
pub(crate) struct TopicTable {
    max: usize,
    entries: BTreeMap<Arc<str>, TopicCounters>,
    by_recency: BTreeMap<u64, Arc<str>>,
    tick: u64,
}

impl TopicTable {
    /// An empty table keeping at most `max` topics (`0` keeps none).
    pub fn new(max: usize) -> Self {
        Self { max, entries: BTreeMap::new(), by_recency: BTreeMap::new(), tick: 0 }
    }

    /// A message was published to `topic`, matched `receivers` and was pushed `delivered` times.
    pub fn record_publish(&mut self, topic: &str, receivers: u64, delivered: u64) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(counters) = self.entries.get_mut(topic) {
            if let Some(name) = self.by_recency.remove(&counters.tick) {
                self.by_recency.insert(tick, name);
            }
            counters.published += 1;
            counters.delivered += delivered;
            counters.subscribers_last = receivers;
            counters.tick = tick;
            return;
        }
        if self.max == 0 {
            return;
        }
        let oldest = if self.entries.len() >= self.max { self.by_recency.pop_first() } else { None };
        if let Some((_, oldest)) = oldest {
            self.entries.remove(&oldest);
        }
        let name: Arc<str> = Arc::from(topic);
        let counters = TopicCounters { published: 1, delivered, subscribers_last: receivers, tick };
        self.entries.insert(name.clone(), counters);
        self.by_recency.insert(tick, name);
    }

    /// A retained message of `topic` was pushed to a new subscriber.
    pub fn record_delivered(&mut self, topic: &str) {
        if let Some(counters) = self.entries.get_mut(topic) {
            counters.delivered += 1;
        }
    }

    /// Number of topics in the table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Up to `limit` topics by name from position `offset`; `retained` tells whether a topic
    /// has a retained message.
    pub fn list(&self, offset: usize, limit: usize, retained: impl Fn(&str) -> bool) -> Vec<TopicStats> {
        self.entries
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(topic, c)| TopicStats {
                topic: topic.to_string(),
                published: c.published,
                delivered: c.delivered,
                retained: retained(topic),
                subscribers_last: c.subscribers_last,
            })
            .collect()
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn least_recently_published_is_evicted() {
        let mut table = TopicTable::new(2);
        table.record_publish("a", 1, 1);
        table.record_publish("b", 2, 2);
        table.record_publish("a", 3, 3);
        table.record_publish("c", 0, 0);
        let names: Vec<String> = table.list(0, 10, |_| false).into_iter().map(|t| t.topic).collect();
        assert_eq!(names, ["a", "c"]);
        let a = &table.list(0, 1, |t| t == "a")[0];
        assert_eq!((a.published, a.delivered, a.subscribers_last, a.retained), (2, 4, 3, true));
        table.record_delivered("c");
        table.record_delivered("zzz");
        assert_eq!(table.list(1, 10, |_| false)[0].delivered, 1);
        assert_eq!(table.len(), 2);
        let mut none = TopicTable::new(0);
        none.record_publish("a", 0, 0);
        assert_eq!(none.len(), 0);
    }
}
