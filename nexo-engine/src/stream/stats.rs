//! Counters of the Stream broker and the owned snapshot types the dashboard reads.
//!
//! Owns the broker-wide counters and the snapshot types, and the read-only views that build
//! them ([`Stream::stats`], [`Stream::topics`], [`Stream::topic`], [`Stream::groups`]). Every
//! listing is bounded; nothing here changes state.

use super::group::{GroupCounters, GroupState};
use super::topic::{TopicCounters, TopicState};
use super::{MAX_PAGE, Stream};

/// Event counters over all topics (since start, deleted topics included; not journaled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    /// Messages accepted by PUBLISH.
    pub published: u64,
    /// Their payload bytes.
    pub published_bytes: u64,
    /// Messages delivered by FETCH (redeliveries included).
    pub delivered: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// NACKs that succeeded.
    pub nacked: u64,
    /// Ack waits that ran out.
    pub expired: u64,
    /// Messages dead-lettered.
    pub dead_lettered: u64,
    /// Data logs found at start-up that no topic in the journal owned (kept, or adopted as a
    /// topic); each was logged as an ERROR.
    pub orphaned_logs: u64,
}

/// The whole broker now (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    /// Topics now.
    pub topics: u64,
    /// Groups over all topics.
    pub groups: u64,
    /// Members over all groups.
    pub members: u64,
    /// Event counters since start.
    pub counters: StreamCounters,
    /// FETCHes waiting (parked or reading).
    pub waiting_fetches: u64,
    /// Messages delivered and not acknowledged, over all groups.
    pub pending: u64,
    /// Messages held in memory over all topics.
    pub cached_messages: u64,
    /// Their payload bytes.
    pub cached_bytes: u64,
    /// Replies held until their record is durable (or behind one on the same connection).
    pub held_replies: u64,
    /// Journal bytes written since the last snapshot (or since the start of the log).
    pub journal_bytes: u64,
    /// Compaction snapshots written since start.
    pub snapshots: u64,
    /// Journal records skipped at recovery because they could not be decoded or were out of place.
    pub skipped_records: u64,
    /// Deleted topics whose last sequence is remembered.
    pub tombstones: u64,
    /// `Storage unavailable: …` once the journal has failed.
    pub storage_error: Option<String>,
}

/// One topic now (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSnapshot {
    /// Topic name.
    pub name: String,
    /// Oldest retained sequence (the next one when empty).
    pub first_seq: u64,
    /// Newest durable sequence (0 when nothing was ever published).
    pub last_seq: u64,
    /// Sequence of the next PUBLISH.
    pub next_seq: u64,
    /// Retention by age in milliseconds (0 = unlimited).
    pub max_age_ms: u64,
    /// Retention by size in bytes (0 = unlimited).
    pub max_bytes: u64,
    /// Consumer groups.
    pub groups: u64,
    /// Messages held in memory.
    pub cached_messages: u64,
    /// Their payload bytes.
    pub cached_bytes: u64,
    /// Event counters since start.
    pub counters: TopicCounters,
    /// `Storage unavailable: …` once its data log has failed.
    pub storage_error: Option<String>,
}

/// One consumer group now (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// Group name.
    pub name: String,
    /// Generation.
    pub generation: u64,
    /// Everything up to here is acknowledged or dead-lettered.
    pub ack_floor: u64,
    /// Newest durable sequence minus the ack floor.
    pub lag: u64,
    /// Delivered and not acknowledged.
    pub pending: u64,
    /// Waiting for redelivery (released, expired or NACKed, delayed included).
    pub redeliveries: u64,
    /// Dead letters kept.
    pub dead: u64,
    /// Members now.
    pub members: u64,
    /// Parked FETCHes.
    pub waiting_fetches: u64,
    /// Event counters since start.
    pub counters: GroupCounters,
}

impl Stream {
    /// The broker overall now.
    pub fn stats(&self) -> StreamStats {
        let groups = || self.meta.topics.values().flat_map(|t| t.groups.values());
        StreamStats {
            topics: self.meta.topics.len() as u64,
            groups: groups().count() as u64,
            members: groups().map(|g| g.members.len() as u64).sum(),
            counters: self.totals,
            waiting_fetches: self.fetches.entries.len() as u64,
            pending: groups().map(|g| g.outstanding() as u64).sum(),
            cached_messages: self.meta.topics.values().map(|t| t.cache.len() as u64).sum(),
            cached_bytes: self.cache_bytes as u64,
            held_replies: self.durable.held_len() as u64,
            journal_bytes: self.durable.bytes_since_snapshot,
            snapshots: self.durable.snapshots,
            skipped_records: self.replay.skipped,
            tombstones: self.meta.tombstones.len() as u64,
            storage_error: self.durable.failed.clone(),
        }
    }

    /// Up to `limit` (at most 1000) topics by name, from position `offset`.
    pub fn topics(&self, offset: usize, limit: usize) -> Vec<TopicSnapshot> {
        self.meta.topics.values().skip(offset).take(limit.min(MAX_PAGE)).map(topic_snapshot).collect()
    }

    /// One topic now, or `None` when it does not exist.
    pub fn topic(&self, name: &str) -> Option<TopicSnapshot> {
        self.meta.topics.get(name).map(topic_snapshot)
    }

    /// Up to `limit` (at most 1000) groups of `topic` by name, from position `offset`; `None`
    /// when the topic does not exist.
    pub fn groups(&self, topic: &str, offset: usize, limit: usize) -> Option<Vec<GroupSnapshot>> {
        let t = self.meta.topics.get(topic)?;
        let last = t.last_visible();
        Some(
            t.groups
                .values()
                .skip(offset)
                .take(limit.min(MAX_PAGE))
                .map(|g| group_snapshot(g, last))
                .collect(),
        )
    }
}

fn topic_snapshot(t: &TopicState) -> TopicSnapshot {
    TopicSnapshot {
        name: t.name.to_string(),
        first_seq: t.first_wire(),
        last_seq: t.last_visible(),
        next_seq: t.next_wire(),
        max_age_ms: t.settings.max_age_ms,
        max_bytes: t.settings.max_bytes,
        groups: t.groups.len() as u64,
        cached_messages: t.cache.len() as u64,
        cached_bytes: t.cache.bytes() as u64,
        counters: t.counters,
        storage_error: t.failed.clone(),
    }
}

fn group_snapshot(g: &GroupState, last: u64) -> GroupSnapshot {
    GroupSnapshot {
        name: g.name.to_string(),
        generation: g.generation,
        ack_floor: g.floor,
        lag: last.saturating_sub(g.floor),
        pending: g.outstanding() as u64,
        redeliveries: (g.retry.len() + g.delayed.len()) as u64,
        dead: g.dlq.len() as u64,
        members: g.members.len() as u64,
        waiting_fetches: g.waiters.len() as u64,
        counters: g.counters,
    }
}
