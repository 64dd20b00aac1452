//! Journal compaction: when garbage dominates, write a snapshot of what is live and let the
//! runtime drop the segments before it.
//!
//! After each persisted batch the broker compares the bytes written since the last snapshot
//! with the bytes a snapshot of the live state would take. When
//! `journal > compact_ratio × live + compact_min_bytes` it emits, in one drain, `Roll` (so the
//! snapshot starts a new segment), `SNAPSHOT_BEGIN`, one `SNAP_QUEUE` per queue followed by one
//! `SNAP_MESSAGE` per message, and `SNAPSHOT_END` with the counts. Once `SNAPSHOT_END` is durable
//! it emits `TruncateBefore { seq: SNAPSHOT_BEGIN }`. Only one snapshot is in flight at a time.
//! This module must not change any queue; it only reads them.
//!
//! Message order inside a queue's records: ready (in serving order), then pending pushes (they
//! are ready or delayed by the time the snapshot is durable, which implies their PUSH records
//! are), then delayed, then leased (lease order), then dead (oldest failure first), so replaying
//! the snapshot rebuilds the same orders.

use super::Queue;
use super::journal::{Record, SnapState};
use super::state::{Message, Place, QueueState};
use crate::output::Output;

impl Queue {
    /// Checks the compaction condition (cheaply, at most every quarter of the minimum) and
    /// writes a snapshot when it holds.
    pub(super) fn maybe_compact(&mut self) {
        let j = &self.journal;
        let min = self.config.compact_min_bytes;
        if j.failed.is_some()
            || j.snapshot.is_some()
            || j.bytes_since_snapshot <= min
            || j.bytes_since_snapshot < j.next_check_at
        {
            return;
        }
        let live: u64 = self.queues.values().map(QueueState::live_bytes).sum();
        if j.bytes_since_snapshot <= self.config.compact_ratio.saturating_mul(live).saturating_add(min) {
            self.journal.next_check_at = self.journal.bytes_since_snapshot + (min / 4).max(1);
            return;
        }
        self.write_snapshot();
    }

    /// Emits `Roll` and the whole snapshot.
    fn write_snapshot(&mut self) {
        self.outputs.push_back(Output::Roll { log: self.journal.log.clone() });
        let before = self.journal.bytes_since_snapshot;
        let begin = self.journal.append(&Record::SnapshotBegin, &mut self.outputs);
        let (mut n_queues, mut n_messages) = (0u32, 0u64);
        for q in self.queues.values() {
            let record = Record::SnapQueue { name: &q.name, settings: q.settings };
            self.journal.append(&record, &mut self.outputs);
            n_queues += 1;
            if let Some(r) = &q.redrive {
                let (target, max_receive_count) = (&*r.target, r.max_receive_count);
                let record = Record::SnapRedrive { name: &q.name, target, max_receive_count };
                self.journal.append(&record, &mut self.outputs);
            }
            let ids = q
                .ready_ids()
                .chain(q.pending_ids())
                .chain(q.delayed_ids().map(|(_, id)| id))
                .chain(q.leased().map(|(_, id)| id))
                .chain(q.dead_ids());
            for id in ids {
                let Some(m) = q.get(&id) else { continue };
                let (state, due_wall_ms, reason) = snap_state(m);
                let record = Record::SnapMessage {
                    name: &q.name,
                    id,
                    priority: m.priority,
                    attempts: m.attempts,
                    state,
                    due_wall_ms,
                    reason,
                    payload: &m.payload,
                };
                self.journal.append(&record, &mut self.outputs);
                n_messages += 1;
            }
        }
        let end = self
            .journal
            .append(&Record::SnapshotEnd { queues: n_queues, messages: n_messages }, &mut self.outputs);
        let j = &mut self.journal;
        j.bytes_since_snapshot -= before;
        j.snapshot = Some((begin, end));
        j.next_check_at = 0;
        j.snapshots += 1;
    }

    /// Once the snapshot in flight is durable, asks the runtime to drop what it supersedes.
    pub(super) fn finish_snapshot(&mut self) {
        if let Some((begin, end)) = self.journal.snapshot
            && end < self.journal.durable_next
        {
            self.journal.snapshot = None;
            self.outputs.push_back(Output::TruncateBefore { log: self.journal.log.clone(), seq: begin });
        }
    }
}

fn snap_state(m: &Message) -> (SnapState, u64, &str) {
    match &m.place {
        Place::Ready { .. } => (SnapState::Ready, 0, ""),
        Place::Pending { due_wall_ms: 0, .. } => (SnapState::Ready, 0, ""),
        Place::Pending { due_wall_ms, .. } | Place::Delayed { due_wall_ms, .. } => {
            (SnapState::Delayed, *due_wall_ms, "")
        }
        Place::Leased { .. } => (SnapState::Leased, 0, ""),
        Place::Dead { reason, .. } => (SnapState::Dead, 0, reason),
    }
}
