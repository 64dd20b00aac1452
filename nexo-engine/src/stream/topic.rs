//! Topics and what the journal keeps about them: one topic's data log, sequence mapping, durable
//! mark, tail cache and groups, and the catalog of live topics and deleted topics' last
//! sequences ([`Meta`], which is exactly what the `streams` journal rebuilds).
//!
//! A topic's messages are visible to consumers only below its **visible end**: the durable mark
//! of its data log, once its CREATE record is durable too. This module must not emit outputs;
//! the broker does, and recovery builds a [`Meta`] with the same functions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

use super::cache::TailCache;
use super::data;
use super::group::GroupState;
use super::journal::TopicSettings;
use crate::ids::ConnId;
use crate::log::LogId;

/// Why a topic's log is not open yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opening {
    /// Created by this process: the log must be empty (`retried` once it was removed because it
    /// held leftovers of a create lost in a crash).
    Fresh { retried: bool },
    /// Replayed from the journal: the log holds the topic's messages.
    Recovered,
}

/// A PUBLISH that arrived before the topic's log was open.
#[derive(Debug, Clone)]
pub(crate) struct Unopened {
    pub conn: ConnId,
    pub id: u32,
    pub timestamp_ms: u64,
    pub payload: Bytes,
}

/// Event counters of one topic (since start; not journaled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounters {
    /// Messages accepted by PUBLISH.
    pub published: u64,
    /// Their payload bytes.
    pub published_bytes: u64,
}

/// One topic.
#[derive(Debug)]
pub(crate) struct TopicState {
    pub name: Arc<str>,
    pub settings: TopicSettings,
    pub log: LogId,
    /// `Some` until `handle_log_opened` answers the `OpenLog`.
    pub opening: Option<Opening>,
    /// Journal sequence of the CREATE record until it is durable.
    pub create_seq: Option<u64>,
    /// Oldest data-log sequence retained.
    pub first_log: u64,
    /// Data-log sequence of the next append.
    pub next_log: u64,
    /// Data-log sequences below this are durable.
    pub durable_log: u64,
    /// Timestamp of the newest message (timestamps never decrease).
    pub last_ts: u64,
    pub cache: TailCache,
    pub groups: BTreeMap<Arc<str>, GroupState>,
    pub unopened: VecDeque<Unopened>,
    /// `Storage unavailable: …` once the data log failed.
    pub failed: Option<String>,
    pub counters: TopicCounters,
}

impl TopicState {
    /// A topic whose log is about to be opened.
    pub fn new(name: Arc<str>, settings: TopicSettings, opening: Opening, create_seq: Option<u64>) -> Self {
        let log = data::log_id(settings.incarnation, &name);
        Self {
            name,
            settings,
            log,
            opening: Some(opening),
            create_seq,
            first_log: 1,
            next_log: 1,
            durable_log: 1,
            last_ts: 0,
            cache: TailCache::default(),
            groups: BTreeMap::new(),
            unopened: VecDeque::new(),
            failed: None,
            counters: TopicCounters::default(),
        }
    }

    /// Wire sequence of data-log sequence `log_seq`.
    pub fn wire(&self, log_seq: u64) -> u64 {
        self.settings.base.saturating_add(log_seq)
    }

    /// Oldest retained wire sequence (the next one when empty).
    pub fn first_wire(&self) -> u64 {
        self.wire(self.first_log)
    }

    /// Wire sequence the next PUBLISH gets.
    pub fn next_wire(&self) -> u64 {
        self.wire(self.next_log)
    }

    /// Messages below this wire sequence may be delivered.
    pub fn visible_end(&self) -> u64 {
        if self.opening.is_some() || self.create_seq.is_some() {
            self.first_wire()
        } else {
            self.wire(self.durable_log.max(self.first_log))
        }
    }

    /// Newest deliverable wire sequence (0 when none was ever published).
    pub fn last_visible(&self) -> u64 {
        self.visible_end().saturating_sub(1)
    }
}

/// The catalog the journal rebuilds: live topics, deleted topics' last sequences, and the
/// counters that keep logs and sequences unique.
#[derive(Debug)]
pub(crate) struct Meta {
    pub topics: BTreeMap<Arc<str>, TopicState>,
    /// Deleted topic → highest sequence it handed out.
    pub tombstones: BTreeMap<Arc<str>, u64>,
    by_seq: BTreeSet<(u64, Arc<str>)>,
    /// Incarnation of the next topic created.
    pub next_incarnation: u64,
    /// Every topic created from now on starts above this (raised when a tombstone is forgotten).
    pub seq_floor: u64,
    max_tombstones: usize,
}

impl Meta {
    /// Whether nothing is known: no topic, no tombstone.
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty() && self.tombstones.is_empty()
    }

    pub fn new(max_tombstones: usize) -> Self {
        Self {
            topics: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            by_seq: BTreeSet::new(),
            next_incarnation: 1,
            seq_floor: 0,
            max_tombstones,
        }
    }

    /// The base of a topic created now under `name`: above its former self and above every
    /// forgotten topic. Clears its tombstone.
    pub fn take_base(&mut self, name: &str) -> u64 {
        let old = self.tombstones.remove(name);
        if let Some(last) = old {
            self.by_seq.remove(&(last, Arc::from(name)));
        }
        old.unwrap_or(0).max(self.seq_floor)
    }

    /// Registers a topic created from a record (live or replayed); an existing one is kept.
    pub fn insert_topic(
        &mut self,
        name: &str,
        settings: TopicSettings,
        opening: Opening,
        create_seq: Option<u64>,
    ) {
        self.next_incarnation = self.next_incarnation.max(settings.incarnation.saturating_add(1));
        if self.topics.contains_key(name) {
            return;
        }
        if let Some(last) = self.tombstones.remove(name) {
            self.by_seq.remove(&(last, Arc::from(name)));
        }
        let name: Arc<str> = Arc::from(name);
        self.topics.insert(name.clone(), TopicState::new(name, settings, opening, create_seq));
    }

    /// Remembers that `name` handed out sequences up to `last_seq`, forgetting the tombstone
    /// with the lowest last sequence beyond the limit (raising `seq_floor` to it).
    pub fn bury(&mut self, name: &str, last_seq: u64) {
        let name: Arc<str> = Arc::from(name);
        let last = match self.tombstones.get(&name) {
            Some(&old) => {
                self.by_seq.remove(&(old, name.clone()));
                old.max(last_seq)
            }
            None => last_seq,
        };
        self.tombstones.insert(name.clone(), last);
        self.by_seq.insert((last, name));
        while self.tombstones.len() > self.max_tombstones {
            let Some((last, name)) = self.by_seq.pop_first() else { break };
            self.tombstones.remove(&name);
            self.seq_floor = self.seq_floor.max(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(incarnation: u64, base: u64) -> TopicSettings {
        TopicSettings { incarnation, base, max_age_ms: 0, max_bytes: 0 }
    }

    #[test]
    fn sequences_map_through_the_base() {
        let mut t = TopicState::new(Arc::from("t"), settings(1, 40), Opening::Recovered, None);
        assert_eq!((t.first_wire(), t.visible_end()), (41, 41));
        t.opening = None;
        t.next_log = 5;
        t.durable_log = 4;
        assert_eq!((t.next_wire(), t.visible_end(), t.last_visible()), (45, 44, 43));
        t.create_seq = Some(9);
        assert_eq!(t.visible_end(), 41, "nothing is visible before CREATE is durable");
        assert_eq!(t.log.as_str(), "stream-1-t");
    }

    #[test]
    fn tombstones_are_bounded_without_reusing_sequences() {
        let mut m = Meta::new(2);
        m.bury("a", 10);
        m.bury("b", 5);
        m.bury("c", 7);
        assert_eq!(m.seq_floor, 5, "b was forgotten");
        assert_eq!(m.take_base("b"), 5);
        assert_eq!(m.take_base("a"), 10);
        assert_eq!(m.take_base("z"), 5);
        m.insert_topic("c", settings(4, 7), Opening::Recovered, None);
        assert!(m.tombstones.is_empty());
        assert_eq!(m.next_incarnation, 5);
    }
}
