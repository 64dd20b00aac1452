//! Settings of the Pub/Sub broker and their defaults.
//!
//! Owns the limits that keep everything a client can grow bounded. It must not hold state; the
//! broker reads these values, the runtimes fill them from flags.

use super::topic::TopicLimits;

/// Settings of the Pub/Sub broker. Every field is a limit with a documented behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubSubConfig {
    /// TTL of a retained message published without `ttl` (or with `0`) and without `persist`;
    /// `None` = such messages never expire. Default 3 600 000 ms (one hour, as v1).
    pub retained_default_ttl_ms: Option<u64>,
    /// Retained messages kept overall (default 100 000). A retained publish that would add a new
    /// topic beyond it is answered `Too many retained messages (max N)` and not delivered;
    /// overwriting or clearing an existing retained message is always allowed.
    pub max_retained_messages: usize,
    /// Engine-counted bytes of retained messages (push frame + topic + 64 bytes per entry;
    /// default 256 MiB). A retained publish that would exceed it is answered
    /// `Retained messages over the memory limit (max N bytes)` and not delivered.
    pub max_retained_bytes: usize,
    /// Unsent push bytes per connection (default 8 MiB). A live push that would exceed it closes
    /// the connection as a slow consumer; a connection with nothing pending always accepts one
    /// push, however large.
    pub max_pending_push_bytes: usize,
    /// Unsent pushes per connection (default 65 536); beyond it, as for the bytes.
    pub max_pending_pushes: usize,
    /// Longest topic or subscription string in bytes, `$share/<group>/` included (default 1024).
    pub max_topic_bytes: usize,
    /// Most levels in a topic or filter (default 32).
    pub max_topic_levels: usize,
    /// Subscriptions per connection, shared ones included (default 10 000); one more is answered
    /// `Too many subscriptions (max N)`.
    pub max_subscriptions_per_conn: usize,
    /// Topics whose counters are kept for the dashboard (default 10 000); when full, the topic
    /// published least recently is forgotten to make room.
    pub max_tracked_topics: usize,
    /// Compaction of the retained journal starts when the bytes written since the last snapshot
    /// exceed `compact_ratio × retained bytes + compact_min_bytes` (retained bytes as counted
    /// for [`PubSubConfig::max_retained_bytes`]); default ratio 2.
    pub compact_ratio: u64,
    /// See [`PubSubConfig::compact_ratio`]; default 4 MiB.
    pub compact_min_bytes: u64,
}

impl PubSubConfig {
    /// The length and depth limits for topics and patterns.
    pub fn topic_limits(&self) -> TopicLimits {
        TopicLimits { max_bytes: self.max_topic_bytes, max_levels: self.max_topic_levels }
    }
}

impl Default for PubSubConfig {
    fn default() -> Self {
        Self {
            retained_default_ttl_ms: Some(3_600_000),
            max_retained_messages: 100_000,
            max_retained_bytes: 256 << 20,
            max_pending_push_bytes: 8 << 20,
            max_pending_pushes: 65_536,
            max_topic_bytes: 1024,
            max_topic_levels: 32,
            max_subscriptions_per_conn: 10_000,
            max_tracked_topics: 10_000,
            compact_ratio: 2,
            compact_min_bytes: 4 << 20,
        }
    }
}
