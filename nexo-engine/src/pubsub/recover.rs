//! Start-up recovery: replaying retained-journal records into the retained store, snapshots
//! included.
//!
//! Owns the replay state (an open snapshot, counts of skipped and refused records, where the last
//! complete snapshot began) and the one function that applies a decoded `SET` to a store. It must
//! not emit outputs while replaying; what recovery needs to do afterwards (expiry timers, a
//! `TruncateBefore` left undone, a compaction) is done by the broker once replay ends.
//!
//! Rules: records are applied in order. A record that does not decode is skipped and counted
//! ([`super::PubSubStats::skipped_records`]). `SET` stores its message, replacing the topic's
//! previous one, unless it has expired by the wall clock of the recovery instant (`expiry <=
//! now.wall_ms`): then the topic retains nothing, exactly as if its expiry timer had fired.
//! `SET` is also checked like a live PUBLISH against the current configuration: a topic the
//! topic limits refuse, a new topic beyond [`super::PubSubConfig::max_retained_messages`], or a
//! message that would pass [`super::PubSubConfig::max_retained_bytes`] is not restored (the topic
//! keeps what it had) and is counted ([`super::PubSubStats::recovery_refused`]); with unchanged
//! limits nothing is refused, since every `SET` was accepted under them. `CLEAR` removes the
//! topic's message.
//!
//! A `SNAPSHOT_BEGIN` starts a fresh store built from the `SNAP_SET` records that follow (with
//! the same rules); a `SNAPSHOT_END` whose count equals the `SNAP_SET` records seen replaces the
//! store built so far. A snapshot cut short (a torn tail, or ordinary records written after a
//! crash in the middle of one) is dropped and the state before it is kept; snapshot records
//! outside a snapshot, and an end that does not match, are skipped and counted.

use bytes::Bytes;
use nexo_proto::Push;

use super::journal::{self, Record};
use super::retained::{Retained, RetainedStore};
use super::topic::validate_topic;
use super::{PubSub, PubSubConfig, TimerKey};
use crate::log::LogId;
use crate::output::Output;
use crate::time::Now;

#[derive(Debug)]
struct OpenSnapshot {
    begin: u64,
    store: RetainedStore,
    count: u64,
    bytes: u64,
}

/// Replay progress.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    open: Option<OpenSnapshot>,
    /// Records skipped (undecodable, snapshot records outside a snapshot, or a bad end).
    pub skipped: u64,
    /// `SET` records the current limits refused.
    pub refused: u64,
    /// First sequence replayed.
    first_seq: Option<u64>,
    /// Begin sequence of the last complete snapshot.
    complete_at: Option<u64>,
    /// Bytes replayed since the last complete snapshot began (or since the log began).
    bytes: u64,
}

impl PubSub {
    /// Applies one replayed record.
    pub(super) fn replay_record(&mut self, now: Now, seq: u64, record: &Bytes) {
        let replay = &mut self.replay;
        replay.first_seq.get_or_insert(seq);
        replay.bytes += record.len() as u64;
        let Ok(decoded) = journal::decode(record) else {
            replay.skipped += 1;
            return;
        };
        match decoded {
            Record::SnapshotBegin => {
                let bytes = record.len() as u64;
                let open = OpenSnapshot { begin: seq, store: RetainedStore::default(), count: 0, bytes };
                if replay.open.replace(open).is_some() {
                    replay.skipped += 1;
                }
            }
            Record::SnapSet { topic, expires_wall_ms, payload } => {
                let Some(open) = replay.open.as_mut() else {
                    replay.skipped += 1;
                    return;
                };
                open.bytes += record.len() as u64;
                open.count += 1;
                if !apply_set(&mut open.store, &self.config, now, topic, expires_wall_ms, payload) {
                    replay.refused += 1;
                }
            }
            Record::SnapshotEnd { count } => match replay.open.take() {
                // A mismatched count means records of the snapshot were lost to damage (an end
                // is written after all of them); with nothing replayed before it (older records
                // compacted away) what it holds is better than nothing.
                Some(open) if open.count == count || self.retained.len() == 0 => {
                    if open.count != count {
                        replay.skipped += 1;
                    }
                    self.retained = open.store;
                    replay.complete_at = Some(open.begin);
                    replay.bytes = open.bytes + record.len() as u64;
                }
                _ => replay.skipped += 1,
            },
            Record::Set { topic, expires_wall_ms, payload } => {
                // Ordinary records are never written inside a snapshot: one cut short by a crash
                // is abandoned.
                replay.open = None;
                if !apply_set(&mut self.retained, &self.config, now, topic, expires_wall_ms, payload) {
                    replay.refused += 1;
                }
            }
            Record::Clear { topic } => {
                replay.open = None;
                self.retained.remove(topic);
            }
        }
    }

    /// Replay is over: sequences continue from `next_seq`, recovered messages get their expiry
    /// timers, a truncation left undone is asked for again, and the journal is compacted if
    /// garbage dominates.
    pub(super) fn finish_recovery(&mut self, now: Now, next_seq: u64) {
        self.replay.open = None;
        self.journal.next_seq = next_seq;
        self.journal.durable_next = next_seq;
        self.journal.bytes_since_snapshot = self.replay.bytes;
        self.timers.clear();
        for msg in self.retained.all() {
            match msg.expires_at_ms {
                Some(at) if at <= now.mono_ms => {
                    // Its SET carries the expiry: a later recovery drops it too, no record needed.
                    self.retained.remove(&msg.topic);
                }
                Some(at) => {
                    self.timers.insert((at, TimerKey::RetainedExpiry(msg.topic.clone())));
                }
                None => {}
            }
        }
        if let (Some(first), Some(begin)) = (self.replay.first_seq, self.replay.complete_at)
            && first < begin
        {
            self.outputs.push_back(Output::TruncateBefore { log: self.journal.log.clone(), seq: begin });
        }
        self.maybe_compact(now);
    }

    /// Whether `log` is this broker's journal.
    pub(super) fn is_journal(&self, log: &LogId) -> bool {
        *log == self.journal.log
    }
}

/// Applies a replayed `SET` (or `SNAP_SET`) to `store`; `false` when the current limits refuse it
/// (the store is then unchanged).
fn apply_set(
    store: &mut RetainedStore,
    config: &PubSubConfig,
    now: Now,
    topic: &str,
    expires_wall_ms: u64,
    payload: &[u8],
) -> bool {
    if validate_topic(topic, config.topic_limits()).is_err() {
        return false;
    }
    if expires_wall_ms != 0 && expires_wall_ms <= now.wall_ms {
        // It replaced whatever the topic retained, then expired.
        store.remove(topic);
        return true;
    }
    let frame = Push::encode_frame(topic, payload);
    if store.check_room(topic, frame.len(), config.max_retained_messages, config.max_retained_bytes).is_err()
    {
        return false;
    }
    let expires_at_ms =
        (expires_wall_ms != 0).then(|| now.mono_ms.saturating_add(expires_wall_ms - now.wall_ms));
    store.insert(Retained {
        topic: topic.into(),
        frame,
        expires_at_ms,
        expires_wall_ms,
        payload_len: payload.len(),
    });
    true
}
