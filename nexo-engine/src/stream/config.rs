//! Settings of the Stream broker and their defaults.
//!
//! Owns the limits that keep everything a client can grow bounded. It must not hold state; the
//! broker reads these values, the runtimes fill them from flags. Topic and group names follow the
//! Queue's rules ([`crate::queue::validate_name`]).

use nexo_proto::DEFAULT_MAX_FRAME_BYTES;

/// Longest topic or group name in bytes, whatever the configuration says: a data log is named
/// `stream-<incarnation>-<topic>` and log names are at most 240 bytes.
pub const MAX_STREAM_NAME_BYTES: usize = 200;

/// Settings of the Stream broker. Every field is a limit or default with a documented behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Retention by age of a topic created without `retention.maxAgeMs`; default 7 days.
    /// (`maxAgeMs: 0` means unlimited.)
    pub default_max_age_ms: u64,
    /// Retention by size of a topic created without `retention.maxBytes`; default 1 GiB.
    /// (`maxBytes: 0` means unlimited.)
    pub default_max_bytes: u64,
    /// How long a delivered message may stay unacknowledged before it is redelivered
    /// (default 30 000 ms as v1).
    pub ack_wait_ms: u64,
    /// Deliveries of one message before a failure (ack wait running out, NACK) dead-letters it
    /// instead of redelivering it (default 5 as v1; 0 behaves as 1).
    pub max_deliveries: u32,
    /// Largest FETCH `limit` and LIST page; larger values are clamped silently (default 1000).
    /// A `limit` of 0 counts as 1.
    pub max_fetch: u32,
    /// Largest reply payload of FETCH and LIST_DLQ (the runtime sets it to its frame limit;
    /// default 10 MiB). A batch stops before exceeding it and always carries at least one message.
    pub max_reply_bytes: usize,
    /// FETCH, SEEK_TIME and LIST_DLQ requests waiting (parked or reading) per connection
    /// (default 1024); one more is answered `Too many pending requests`.
    pub max_parked_per_conn: usize,
    /// Messages of one group delivered and not yet acknowledged (default 10 000). A FETCH at
    /// the limit long-polls (or answers an empty batch without `wait_ms`) until acks make room.
    pub max_pending_per_group: usize,
    /// New messages are delivered only up to `ack_floor + max_ack_window` (default 1 000 000),
    /// which bounds the acknowledgements a group keeps above its floor; redeliveries go on.
    pub max_ack_window: u64,
    /// Dead letters kept per group (default 10 000); beyond it the lowest sequence is dropped
    /// from the list (it stays done for the ack floor).
    pub max_dead_per_group: usize,
    /// Most topics (default 10 000); a CREATE of one more is answered `Too many topics (max N)`.
    pub max_topics: usize,
    /// Most groups per topic (default 1000): `Too many groups (max N)`.
    pub max_groups_per_topic: usize,
    /// Most members per group (default 1024): `Too many members (max N)`.
    pub max_members_per_group: usize,
    /// Longest topic or group name in bytes (default 200, also the ceiling).
    pub max_name_bytes: usize,
    /// Deleted topics whose last sequence is remembered by name (default 100 000). Beyond it the
    /// one with the lowest last sequence is forgotten and every topic created later starts above
    /// it, so no sequence is ever reused.
    pub max_tombstones: usize,
    /// Messages kept in memory per topic to serve recent fetches (default 10 000).
    pub cache_max_messages: usize,
    /// Payload bytes kept in memory per topic (default 4 MiB).
    pub cache_max_bytes: usize,
    /// Payload bytes kept in memory over all topics (default 256 MiB). Older messages are read
    /// from the log.
    pub cache_total_bytes: usize,
    /// How often every topic's retention is applied (default 10 000 ms).
    pub retention_interval_ms: u64,
    /// Compaction of the `streams` journal starts when the bytes written since the last snapshot
    /// exceed `compact_ratio × live bytes + compact_min_bytes` (default ratio 2).
    pub compact_ratio: u64,
    /// See [`StreamConfig::compact_ratio`]; default 4 MiB.
    pub compact_min_bytes: u64,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            default_max_age_ms: 7 * 24 * 3600 * 1000,
            default_max_bytes: 1 << 30,
            ack_wait_ms: 30_000,
            max_deliveries: 5,
            max_fetch: 1000,
            max_reply_bytes: DEFAULT_MAX_FRAME_BYTES as usize,
            max_parked_per_conn: 1024,
            max_pending_per_group: 10_000,
            max_ack_window: 1_000_000,
            max_dead_per_group: 10_000,
            max_topics: 10_000,
            max_groups_per_topic: 1000,
            max_members_per_group: 1024,
            max_name_bytes: MAX_STREAM_NAME_BYTES,
            max_tombstones: 100_000,
            cache_max_messages: 10_000,
            cache_max_bytes: 4 << 20,
            cache_total_bytes: 256 << 20,
            retention_interval_ms: 10_000,
            compact_ratio: 2,
            compact_min_bytes: 4 << 20,
        }
    }
}

impl StreamConfig {
    /// The name limit in effect (the configured one, at most [`MAX_STREAM_NAME_BYTES`]).
    pub fn name_limit(&self) -> usize {
        self.max_name_bytes.min(MAX_STREAM_NAME_BYTES)
    }

    /// The delivery limit in effect (0 counts as 1).
    pub fn delivery_limit(&self) -> u32 {
        self.max_deliveries.max(1)
    }

    /// A FETCH or page `limit` clamped to `1..=max_fetch`.
    pub fn clamp_limit(&self, limit: u32) -> u32 {
        limit.clamp(1, self.max_fetch.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_clamped() {
        let c = StreamConfig { max_name_bytes: 1000, max_deliveries: 0, ..StreamConfig::default() };
        assert_eq!(c.name_limit(), MAX_STREAM_NAME_BYTES);
        assert_eq!(c.delivery_limit(), 1);
        assert_eq!(c.clamp_limit(0), 1);
        assert_eq!(c.clamp_limit(5000), 1000);
    }
}
