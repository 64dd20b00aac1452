//! Start-up recovery: replaying `streams` journal records into the catalog, snapshots included,
//! then opening every live topic's data log.
//!
//! Owns the replay state (an open snapshot, skipped-record count, where the last complete
//! snapshot began) and the one function that applies a decoded record to a [`Meta`]. It must
//! not emit outputs while replaying; what recovery needs (an `OpenLog` per topic, a
//! `TruncateBefore` left undone) is emitted once replay ends.
//!
//! Rules: records are applied in order with the transitions the broker uses live. A record that
//! does not decode is skipped and counted. A record about a topic or group that does not exist
//! changes nothing. A `SNAPSHOT_BEGIN` starts a fresh catalog built from the snapshot records
//! that follow; a matching `SNAPSHOT_END` (its count equals the records seen) replaces the
//! catalog built so far (keeping the higher incarnation counter and sequence floor). A snapshot
//! cut short, or whose end does not match, is dropped, unless nothing was replayed before it
//! (after compaction the journal begins with it): damage that skipped some of its records then
//! leaves the rest. After replay, each group restarts from its floor: nothing is pending,
//! what is not done above the floor is delivered again, and handed-back dead letters are owed a
//! delivery. A data log is opened with a floor: past the highest sequence its groups saw, so a
//! log that lost its tail never hands those numbers out again. When a data log opens, groups
//! are clamped to its range (see `retention`). Data logs the storage holds that no live topic
//! owns are adopted or kept, never deleted for being forgotten (`handle_orphan_logs`).

use std::sync::Arc;

use bytes::Bytes;

use super::group::GroupState;
use super::journal::{self, Record, TopicSettings};
use super::topic::{Meta, Opening};
use super::{Stream, data};
use crate::log::LogId;
use crate::output::Output;
use crate::queue::validate_name;
use crate::time::Now;

#[derive(Debug)]
struct OpenSnapshot {
    begin: u64,
    meta: Meta,
    records: u64,
    bytes: u64,
}

/// Replay progress.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    open: Option<OpenSnapshot>,
    /// Records skipped (undecodable, snapshot parts outside a snapshot, a bad end).
    pub skipped: u64,
    first_seq: Option<u64>,
    /// Begin sequence of the last complete snapshot.
    complete_at: Option<u64>,
    /// Bytes replayed since the last complete snapshot began.
    bytes: u64,
}

/// The limits replay applies as the live broker does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_dead: usize,
    pub window: u64,
}

impl Stream {
    fn limits(&self) -> Limits {
        Limits { max_dead: self.config.max_dead_per_group, window: self.config.max_ack_window }
    }

    /// Applies one replayed record.
    pub(super) fn replay_record(&mut self, seq: u64, record: &Bytes) {
        self.replay.first_seq.get_or_insert(seq);
        let len = record.len() as u64;
        self.replay.bytes += len;
        let Ok(decoded) = journal::decode(record) else {
            self.replay.skipped += 1;
            return;
        };
        let limits = self.limits();
        match decoded {
            Record::SnapshotBegin { next_incarnation, seq_floor } => {
                let mut meta = Meta::new(self.config.max_tombstones);
                meta.next_incarnation = next_incarnation.max(1);
                meta.seq_floor = seq_floor;
                let open = OpenSnapshot { begin: seq, meta, records: 0, bytes: len };
                if self.replay.open.replace(open).is_some() {
                    self.replay.skipped += 1;
                }
            }
            Record::SnapshotEnd { records } => match self.replay.open.take() {
                Some(open) if open.records == records => self.adopt_snapshot(open, len),
                // Some of its records were lost to damage (an end is written after all of them).
                // With nothing replayed before it (older records compacted away), what it holds
                // is better than nothing.
                Some(open) if self.meta.is_empty() => {
                    self.replay.skipped += 1;
                    self.adopt_snapshot(open, len);
                }
                _ => self.replay.skipped += 1,
            },
            part if part.is_snapshot_part() => {
                let Some(open) = self.replay.open.as_mut() else {
                    self.replay.skipped += 1;
                    return;
                };
                open.bytes += len;
                open.records += 1;
                apply(&mut open.meta, &part, limits);
            }
            other => {
                // Ordinary records are never written inside a snapshot: one cut short by a crash
                // is abandoned, unless nothing was replayed before it (its end was lost to
                // damage): then it is all there is.
                self.close_partial_snapshot();
                apply(&mut self.meta, &other, limits);
            }
        }
    }

    /// Replaces the catalog built so far with a snapshot's (keeping the higher incarnation
    /// counter and sequence floor).
    fn adopt_snapshot(&mut self, mut open: OpenSnapshot, end_bytes: u64) {
        open.meta.next_incarnation = open.meta.next_incarnation.max(self.meta.next_incarnation);
        open.meta.seq_floor = open.meta.seq_floor.max(self.meta.seq_floor);
        self.meta = open.meta;
        self.replay.complete_at = Some(open.begin);
        self.replay.bytes = open.bytes + end_bytes;
    }

    /// Drops an open snapshot, or adopts it when nothing was replayed before it.
    fn close_partial_snapshot(&mut self) {
        if let Some(open) = self.replay.open.take()
            && self.meta.is_empty()
        {
            self.replay.skipped += 1;
            self.adopt_snapshot(open, 0);
        }
    }

    /// Replay is over: groups restart from their floors, every live topic's log is opened, and
    /// a truncation left undone is asked for again.
    pub(super) fn finish_recovery(&mut self, now: Now, next_seq: u64) {
        self.close_partial_snapshot();
        self.durable.next_seq = next_seq;
        self.durable.durable_next = next_seq;
        self.durable.bytes_since_snapshot = self.replay.bytes;
        self.logs.clear();
        for (name, t) in &mut self.meta.topics {
            self.logs.insert(t.log.clone(), name.clone());
            t.groups.values_mut().for_each(GroupState::restart);
            // Sequences the groups saw handed out are never handed out again, even if the data
            // log lost them (a deleted segment file): its next sequence is at least past them.
            let known = t.groups.values().map(GroupState::highest_known).max().unwrap_or(0);
            let next_seq_min = known.saturating_sub(t.settings.base).saturating_add(1);
            self.outputs.push_back(Output::OpenLog { log: t.log.clone(), next_seq_min });
        }
        if let (Some(first), Some(begin)) = (self.replay.first_seq, self.replay.complete_at)
            && first < begin
        {
            self.outputs.push_back(Output::TruncateBefore { log: self.durable.log.clone(), seq: begin });
        }
        self.arm_retention(now);
    }
}

impl Stream {
    /// Data logs in storage that no live topic owns. Data the journal merely forgot is never
    /// deleted: a log whose topic the journal does not know at all (its CREATE record was lost or
    /// damaged) is adopted as a topic again (base 0, unlimited retention, a new CREATE record
    /// journaled); a log whose topic was deleted, or is live under an older incarnation, is kept
    /// unused. Only a log whose topic was deleted and created again (a higher incarnation is
    /// live) is removed: its DELETE was durable before a crash. Every incarnation found raises
    /// the next one, so a new topic never reuses a kept log's name. Returns one line per kept or
    /// adopted log, for the operator.
    pub(super) fn handle_orphan_logs(&mut self, stored: &[LogId]) -> Vec<String> {
        let mut notes = Vec::new();
        for log in stored {
            let Some((incarnation, topic)) = data::parse_log_id(log) else { continue };
            if self.logs.contains_key(log) {
                continue;
            }
            self.meta.next_incarnation = self.meta.next_incarnation.max(incarnation.saturating_add(1));
            let live = self.meta.topics.get(topic).map(|t| t.settings.incarnation);
            if live.is_some_and(|live| live > incarnation) {
                self.outputs.push_back(Output::RemoveLog { log: log.clone() });
                continue;
            }
            self.totals.orphaned_logs += 1;
            let kept = match live {
                Some(live) => Some(format!("topic '{topic}' is live with the older incarnation {live}")),
                None if self.meta.tombstones.contains_key(topic) => Some(format!(
                    "topic '{topic}' was deleted (its DELETE may have been durable just before a crash)"
                )),
                None if validate_name(topic, self.config.name_limit()).is_err() => {
                    Some(format!("'{topic}' is not a valid topic name"))
                }
                None => None,
            };
            match kept {
                Some(why) => notes.push(format!(
                    "stream data log '{log}' belongs to no topic in the journal and is kept unused: {why}; \
                     check it and remove its directory by hand"
                )),
                None => {
                    self.adopt_orphan(topic, incarnation);
                    notes.push(format!(
                        "stream data log '{log}' belongs to no topic in the journal (its CREATE record was lost \
                         or damaged): recovered as topic '{topic}' with unlimited retention and its sequence numbers \
                         (base 0); its groups are gone"
                    ));
                }
            }
        }
        notes
    }

    /// Makes `topic` a live topic again on its data log of `incarnation`, journaling its CREATE.
    fn adopt_orphan(&mut self, topic: &str, incarnation: u64) {
        let settings = TopicSettings { incarnation, base: 0, max_age_ms: 0, max_bytes: 0 };
        let seq = self.durable.append(&Record::TopicCreate { topic, settings }, &mut self.outputs);
        self.meta.insert_topic(topic, settings, Opening::Recovered, Some(seq));
        let Some((key, t)) = self.meta.topics.get_key_value(topic) else { return };
        self.logs.insert(t.log.clone(), key.clone());
        self.uncommitted.insert(seq, key.clone());
        self.outputs.push_back(Output::OpenLog { log: t.log.clone(), next_seq_min: 1 });
    }
}

/// Applies one record to `meta` (live transitions, no outputs).
pub(crate) fn apply(meta: &mut Meta, record: &Record<'_>, limits: Limits) {
    match *record {
        Record::TopicCreate { topic, settings } | Record::SnapTopic { topic, settings } => {
            meta.insert_topic(topic, settings, Opening::Recovered, None);
        }
        Record::TopicDelete { topic, last_seq } | Record::SnapTombstone { topic, last_seq } => {
            let base = meta.topics.remove(topic).map_or(0, |t| t.settings.base);
            meta.bury(topic, last_seq.max(base));
        }
        Record::GroupCreate { topic, group, generation, ack_floor } => {
            if let Some(t) = meta.topics.get_mut(topic)
                && !t.groups.contains_key(group)
            {
                let name: Arc<str> = Arc::from(group);
                t.groups.insert(name.clone(), GroupState::new(name, generation, ack_floor, None));
            }
        }
        Record::GroupSeek { topic, group, generation, ack_floor }
        | Record::SnapGroup { topic, group, generation, ack_floor } => {
            if let Some(t) = meta.topics.get_mut(topic) {
                let name: Arc<str> = Arc::from(group);
                t.groups.insert(name.clone(), GroupState::new(name, generation, ack_floor, None));
            }
        }
        Record::GroupDelete { topic, group } => {
            if let Some(t) = meta.topics.get_mut(topic) {
                t.groups.remove(group);
            }
        }
        Record::SnapshotBegin { .. } | Record::SnapshotEnd { .. } => {}
        _ => apply_to_group(meta, record, limits),
    }
}

/// The records that change one existing group's positions.
fn apply_to_group(meta: &mut Meta, record: &Record<'_>, limits: Limits) {
    let (topic, group) = match *record {
        Record::Ack { topic, group, .. }
        | Record::Dead { topic, group, .. }
        | Record::Replay { topic, group, .. }
        | Record::SnapAcked { topic, group, .. }
        | Record::SnapDead { topic, group, .. }
        | Record::SnapReplaying { topic, group, .. } => (topic, group),
        _ => return,
    };
    let Some(g) = meta.topics.get_mut(topic).and_then(|t| t.groups.get_mut(group)) else { return };
    match record {
        Record::Ack { seq, .. } => g.mark_done(*seq),
        Record::Dead { seq, deliveries, .. } | Record::SnapDead { seq, deliveries, .. } => {
            g.add_dead(*seq, *deliveries, limits.max_dead);
        }
        Record::Replay { seq, .. } => {
            g.replay(*seq);
        }
        Record::SnapReplaying { seq, .. } if *seq <= g.floor => {
            g.replaying.insert(*seq);
        }
        Record::SnapAcked { ranges, .. } => {
            // Bounded by the ack window, whatever the record says.
            let limit = g.floor.saturating_add(limits.window);
            for &(first, count) in ranges {
                let end = first.saturating_add(count).min(limit.saturating_add(1));
                for seq in first.max(g.floor.saturating_add(1))..end {
                    g.mark_done(seq);
                }
            }
        }
        _ => {}
    }
}
