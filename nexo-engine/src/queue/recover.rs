//! Start-up recovery: replaying journal records into queues, snapshots included.
//!
//! Owns the replay state (an open snapshot, skipped-record count, where the last complete
//! snapshot began) and the one function that applies a decoded record to a set of queues. It
//! must not emit outputs while replaying; what recovery needs to write (REQUEUE of messages
//! leased at the crash, a `TruncateBefore` left undone) is done by the broker once replay ends.
//!
//! Rules: records are applied in order with the same transitions the broker uses live. A record
//! that does not decode is skipped and counted. A record about a queue or message that does not
//! exist (or not in the expected state) changes nothing. Messages leased when the previous
//! process stopped are held by no connection; when replay ends they are ready again at the tail
//! of their priority, in lease order, with their attempts. A `SNAPSHOT_BEGIN` starts a fresh set
//! of queues built from the snapshot records that follow; a matching `SNAPSHOT_END` (its counts
//! equal the records seen) replaces the state built so far. A snapshot cut short (a torn tail, or
//! ordinary records written after a crash in the middle of one), or one whose end does not match,
//! is dropped and the state before it is kept, unless there is none (after compaction the journal
//! begins with the snapshot): then damage skipped some of its records, and the rest is adopted.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::journal::{self, Record, SnapState};
use super::redrive::{apply_redrive, move_to_target};
use super::state::{Place, QueueState, Slot};
use super::{Queue, TimerKey};
use crate::ids::SeededState;
use crate::log::LogId;
use crate::output::Output;
use crate::time::Now;

/// Queues by name.
pub(crate) type Queues = BTreeMap<Arc<str>, QueueState>;

#[derive(Debug)]
struct OpenSnapshot {
    begin: u64,
    queues: Queues,
    n_queues: u32,
    n_messages: u64,
    bytes: u64,
}

/// Replay progress.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    open: Option<OpenSnapshot>,
    /// Records skipped (undecodable, or snapshot records outside a snapshot, or a bad end).
    pub skipped: u64,
    /// First sequence replayed.
    first_seq: Option<u64>,
    /// Begin sequence of the last complete snapshot.
    complete_at: Option<u64>,
    /// Bytes replayed since the last complete snapshot began.
    bytes: u64,
}

impl Queue {
    /// Applies one replayed record.
    pub(super) fn replay_record(&mut self, seq: u64, record: &Bytes) {
        self.replay.first_seq.get_or_insert(seq);
        self.replay.bytes += record.len() as u64;
        let Ok(decoded) = journal::decode(record) else {
            self.replay.skipped += 1;
            return;
        };
        let hasher = self.hasher;
        match decoded {
            Record::SnapshotBegin => {
                let bytes = record.len() as u64;
                let open =
                    OpenSnapshot { begin: seq, queues: Queues::new(), n_queues: 0, n_messages: 0, bytes };
                if self.replay.open.replace(open).is_some() {
                    self.replay.skipped += 1;
                }
            }
            Record::SnapRedrive { name, target, max_receive_count } => match self.replay.open.as_mut() {
                Some(open) => {
                    open.bytes += record.len() as u64;
                    apply_redrive(&mut open.queues, name, target, max_receive_count);
                }
                None => self.replay.skipped += 1,
            },
            Record::SnapQueue { .. } | Record::SnapMessage { .. } => {
                let Some(open) = self.replay.open.as_mut() else {
                    self.replay.skipped += 1;
                    return;
                };
                open.bytes += record.len() as u64;
                if matches!(decoded, Record::SnapQueue { .. }) {
                    open.n_queues += 1;
                } else {
                    open.n_messages += 1;
                }
                apply(&mut open.queues, &decoded, record, hasher, &mut || self.leases.next_no());
            }
            Record::SnapshotEnd { queues, messages } => match self.replay.open.take() {
                Some(open) if open.n_queues == queues && open.n_messages == messages => {
                    self.adopt_snapshot(open, record.len() as u64);
                }
                // Some of its records were lost to damage (an end is written after all of them).
                // With no state replayed before it (the older records were compacted away),
                // what it holds is better than nothing.
                Some(open) if self.queues.is_empty() => {
                    self.replay.skipped += 1;
                    self.adopt_snapshot(open, record.len() as u64);
                }
                _ => self.replay.skipped += 1,
            },
            other => {
                // Ordinary records are never written inside a snapshot: one cut short by a crash
                // is abandoned, unless nothing was replayed before it (its end was lost to
                // damage): then it is all there is.
                if let Some(open) = self.replay.open.take()
                    && self.queues.is_empty()
                {
                    self.replay.skipped += 1;
                    self.adopt_snapshot(open, 0);
                }
                apply(&mut self.queues, &other, record, hasher, &mut || self.leases.next_no());
            }
        }
    }

    /// Replaces the state built so far with a snapshot's.
    fn adopt_snapshot(&mut self, open: OpenSnapshot, end_bytes: u64) {
        self.queues = open.queues;
        self.replay.complete_at = Some(open.begin);
        self.replay.bytes = open.bytes + end_bytes;
    }

    /// Replay is over: messages leased at the crash are ready again (journaled), delayed ones
    /// get their timers, and a truncation left undone is asked for again.
    pub(super) fn finish_recovery(&mut self, now: Now, next_seq: u64) {
        // A snapshot cut short is dropped, unless it is all there is (see `replay_record`).
        if let Some(open) = self.replay.open.take()
            && self.queues.is_empty()
        {
            self.replay.skipped += 1;
            self.adopt_snapshot(open, 0);
        }
        self.journal.next_seq = next_seq;
        self.journal.durable_next = next_seq;
        self.journal.bytes_since_snapshot = self.replay.bytes;
        let names: Vec<Arc<str>> = self.queues.keys().cloned().collect();
        for name in &names {
            let leased: Vec<_> = self.queues.get(name).map(|q| q.leased().collect()).unwrap_or_default();
            for (no, id) in leased {
                if self.leases.get(no).is_none() {
                    self.requeue_now(name, id);
                }
            }
            self.rearm_due(now, name);
        }
        if let (Some(first), Some(begin)) = (self.replay.first_seq, self.replay.complete_at)
            && first < begin
        {
            self.outputs.push_back(Output::TruncateBefore { log: self.journal.log.clone(), seq: begin });
        }
        self.serve_touched(now);
    }

    /// Re-arms the delayed-due timer of queue `name` for its earliest due message, promoting
    /// at once whatever is already due by the wall clock. Each promotion is journaled as a
    /// REQUEUE, so replay rebuilds the ready order exactly.
    pub(super) fn rearm_due(&mut self, now: Now, name: &str) {
        let Some(q) = self.queues.get_mut(name) else { return };
        if let Some(at) = q.due_timer.take() {
            self.timers.remove(&(at, TimerKey::Due(q.name.clone())));
        }
        let promoted = q.promote_due(now.wall_ms);
        if !promoted.is_empty() {
            self.touched.insert(q.name.clone());
        }
        for id in promoted {
            self.journal.append(&Record::Requeue { name, id, due_wall_ms: 0 }, &mut self.outputs);
        }
        if let Some(due) = q.next_due() {
            let at = now.mono_ms.saturating_add(due.saturating_sub(now.wall_ms));
            q.due_timer = Some(at);
            self.timers.insert((at, TimerKey::Due(q.name.clone())));
        }
    }

    /// Whether `log` is this broker's journal.
    pub(super) fn is_journal(&self, log: &LogId) -> bool {
        *log == self.journal.log
    }
}

/// Applies one record to `queues` (live transitions, no outputs). `lease_no` numbers leases
/// replayed from the journal, which no connection holds.
pub(crate) fn apply(
    queues: &mut Queues,
    record: &Record<'_>,
    source: &Bytes,
    hasher: SeededState,
    lease_no: &mut dyn FnMut() -> u64,
) {
    // Payloads stay slices of the replayed record: no copy.
    let slice = |payload: &[u8]| source.slice_ref(payload);
    match *record {
        Record::Create { name, settings } | Record::SnapQueue { name, settings } => {
            if !queues.contains_key(name) {
                let name: Arc<str> = Arc::from(name);
                queues.insert(name.clone(), QueueState::new(name, settings, hasher));
            }
        }
        Record::Delete { name } => {
            queues.remove(name);
        }
        Record::Push { name, id, priority, due_wall_ms, payload } => {
            if let Some(q) = queues.get_mut(name) {
                q.insert(id, priority, slice(payload), 0, Slot::after(due_wall_ms));
            }
        }
        Record::SnapMessage { name, id, priority, attempts, state, due_wall_ms, reason, payload } => {
            let slot = match state {
                SnapState::Ready => Slot::Ready,
                SnapState::Delayed => Slot::Delayed { due_wall_ms },
                SnapState::Leased => Slot::Leased { lease_no: lease_no() },
                SnapState::Dead => Slot::Dead { reason: reason.into() },
            };
            if let Some(q) = queues.get_mut(name) {
                q.insert(id, priority, slice(payload), attempts, slot);
            }
        }
        Record::DlqPurge { name } => {
            if let Some(q) = queues.get_mut(name) {
                q.purge_dead();
            }
        }
        Record::Purge { name } => {
            if let Some(q) = queues.get_mut(name) {
                q.purge();
            }
        }
        Record::Redrive { name, target, max_receive_count } => {
            apply_redrive(queues, name, target, max_receive_count);
        }
        Record::DeadLetter { name, id, target, new_id } => {
            move_to_target(queues, name, &id, target, new_id);
        }
        Record::SnapshotBegin | Record::SnapshotEnd { .. } | Record::SnapRedrive { .. } => {}
        _ => apply_to_message(queues, record, lease_no),
    }
}

/// The records that move one existing message.
fn apply_to_message(queues: &mut Queues, record: &Record<'_>, lease_no: &mut dyn FnMut() -> u64) {
    match *record {
        Record::Lease { name, id } => {
            if let Some((q, attempts)) = live(queues, name, &id) {
                q.set_attempts(&id, attempts.saturating_add(1));
                q.set_slot(&id, Slot::Leased { lease_no: lease_no() });
            }
        }
        Record::Ack { name, id } => {
            if let Some((q, _)) = live(queues, name, &id) {
                q.remove(&id);
            }
        }
        Record::Requeue { name, id, due_wall_ms } => {
            if let Some((q, _)) = live(queues, name, &id) {
                q.set_slot(&id, Slot::after(due_wall_ms));
            }
        }
        Record::Dead { name, id, attempts, reason } => {
            if let Some((q, _)) = live(queues, name, &id) {
                q.set_attempts(&id, attempts);
                q.set_slot(&id, Slot::Dead { reason: reason.into() });
            }
        }
        Record::Move { name, id } => {
            if let Some(q) = dead(queues, name, &id) {
                q.set_attempts(&id, 0);
                q.set_slot(&id, Slot::Ready);
            }
        }
        Record::DlqDelete { name, id } => {
            if let Some(q) = dead(queues, name, &id) {
                q.remove(&id);
            }
        }
        _ => {}
    }
}

/// The queue holding message `id` outside the DLQ, and the message's attempts.
fn live<'q>(queues: &'q mut Queues, name: &str, id: &[u8; 16]) -> Option<(&'q mut QueueState, u32)> {
    let q = queues.get_mut(name)?;
    let m = q.get(id)?;
    if matches!(m.place, Place::Dead { .. }) {
        return None;
    }
    let attempts = m.attempts;
    Some((q, attempts))
}

/// The queue holding message `id` in its DLQ.
fn dead<'q>(queues: &'q mut Queues, name: &str, id: &[u8; 16]) -> Option<&'q mut QueueState> {
    let q = queues.get_mut(name)?;
    matches!(q.get(id)?.place, Place::Dead { .. }).then_some(q)
}
