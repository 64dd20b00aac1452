//! Retained-journal compaction: when garbage dominates, write a snapshot of the retained set and
//! let the runtime drop the segments before it.
//!
//! After each persisted batch (and at the end of recovery) the broker compares the bytes written
//! since the last snapshot began with the engine-counted size of the retained set. When
//! `journal > compact_ratio × retained bytes + compact_min_bytes` it emits, in one drain, `Roll`
//! (so the snapshot starts a new segment), `SNAPSHOT_BEGIN`, one `SNAP_SET` per live retained
//! message (in topic-level order, with its wall-clock expiry), and `SNAPSHOT_END` with the count.
//! Once `SNAPSHOT_END` is durable it emits `TruncateBefore { seq: SNAPSHOT_BEGIN }`. Only one
//! snapshot is in flight at a time. The retained bytes count each message's push frame, topic
//! and 64 bytes, a little more than its `SNAP_SET` record, so the check is O(1) and errs on the
//! side of compacting later. This module must not change the retained set; it only reads it.
//!
//! The snapshot reflects the state after every record appended before it, durable or not: the
//! runtime makes a log durable as a prefix, so by the time `SNAPSHOT_END` is durable, so is
//! everything it summarises. Messages whose deadline has passed but whose timer has not fired yet
//! are left out (their `CLEAR` follows when the timer fires, and changes nothing on replay).

use super::PubSub;
use super::journal::Record;
use crate::output::Output;
use crate::time::Now;

impl PubSub {
    /// Checks the compaction condition and writes a snapshot when it holds.
    pub(super) fn maybe_compact(&mut self, now: Now) {
        let j = &self.journal;
        if j.failed.is_some() || j.snapshot.is_some() {
            return;
        }
        let live = self.retained.bytes() as u64;
        let limit =
            self.config.compact_ratio.saturating_mul(live).saturating_add(self.config.compact_min_bytes);
        if j.bytes_since_snapshot > limit {
            self.write_snapshot(now);
        }
    }

    /// Emits `Roll` and the whole snapshot.
    fn write_snapshot(&mut self, now: Now) {
        self.outputs.push_back(Output::Roll { log: self.journal.log.clone() });
        let before = self.journal.bytes_since_snapshot;
        let begin = self.journal.append(&Record::SnapshotBegin, &mut self.outputs);
        let mut count = 0u64;
        for msg in self.retained.all() {
            if !msg.is_live(now.mono_ms) {
                continue;
            }
            let record = Record::SnapSet {
                topic: &msg.topic,
                expires_wall_ms: msg.expires_wall_ms,
                payload: msg.payload(),
            };
            self.journal.append(&record, &mut self.outputs);
            count += 1;
        }
        let end = self.journal.append(&Record::SnapshotEnd { count }, &mut self.outputs);
        let j = &mut self.journal;
        j.bytes_since_snapshot -= before;
        j.snapshot = Some((begin, end));
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
