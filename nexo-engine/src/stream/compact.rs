//! Journal compaction: when garbage dominates, write a snapshot of the catalog and let the
//! runtime drop the segments before it.
//!
//! After each persisted batch the broker compares the journal bytes written since the last
//! snapshot with the bytes a snapshot would take. When
//! `journal > compact_ratio × live + compact_min_bytes` it emits, in one drain, `Roll`,
//! `SNAPSHOT_BEGIN`, per topic a `SNAP_TOPIC` followed by its groups (`SNAP_GROUP`, then
//! `SNAP_ACKED` chunks of at most 4096 ranges, one `SNAP_DEAD` per dead letter, one
//! `SNAP_REPLAYING` per handed-back dead letter at or below the floor), then one
//! `SNAP_TOMBSTONE` per remembered deleted topic, and `SNAPSHOT_END` with the count. Once the
//! end is durable it emits `TruncateBefore { seq: SNAPSHOT_BEGIN }`. Only one snapshot is in
//! flight at a time. This module must not change any state; it only reads it.

use super::Stream;
use super::journal::{MAX_RANGES_PER_RECORD, Record};
use crate::output::Output;

impl Stream {
    /// Checks the compaction condition (cheaply, at most every quarter of the minimum) and
    /// writes a snapshot when it holds.
    pub(super) fn maybe_compact(&mut self) {
        let d = &self.durable;
        let min = self.config.compact_min_bytes;
        if d.failed.is_some()
            || d.snapshot.is_some()
            || d.bytes_since_snapshot <= min
            || d.bytes_since_snapshot < d.next_check_at
        {
            return;
        }
        let live = self.live_bytes();
        if d.bytes_since_snapshot <= self.config.compact_ratio.saturating_mul(live).saturating_add(min) {
            self.durable.next_check_at = self.durable.bytes_since_snapshot + (min / 4).max(1);
            return;
        }
        self.write_snapshot();
    }

    /// About the bytes a snapshot would take.
    fn live_bytes(&self) -> u64 {
        let name = |n: &str| 2 + n.len() as u64;
        let mut live = 2 + 16 + 2 + 8;
        for t in self.meta.topics.values() {
            live += 2 + name(&t.name) + 32;
            for g in t.groups.values() {
                let head = 2 + name(&t.name) + name(&g.name);
                live += head + 16;
                live += (head + 4) * g.done.len().div_ceil(MAX_RANGES_PER_RECORD) as u64
                    + 16 * g.done.len() as u64;
                live += (head + 12) * g.dlq.len() as u64 + (head + 8) * g.replaying.len() as u64;
            }
        }
        live + self.meta.tombstones.keys().map(|n| 2 + name(n) + 8).sum::<u64>()
    }

    /// Emits `Roll` and the whole snapshot.
    fn write_snapshot(&mut self) {
        self.outputs.push_back(Output::Roll { log: self.durable.log.clone() });
        let before = self.durable.bytes_since_snapshot;
        let (next_incarnation, seq_floor) = (self.meta.next_incarnation, self.meta.seq_floor);
        let begin =
            self.durable.append(&Record::SnapshotBegin { next_incarnation, seq_floor }, &mut self.outputs);
        let mut records = 0u64;
        for t in self.meta.topics.values() {
            let topic = &*t.name;
            self.durable.append(&Record::SnapTopic { topic, settings: t.settings }, &mut self.outputs);
            records += 1;
            for g in t.groups.values() {
                let group = &*g.name;
                let (generation, ack_floor) = (g.generation, g.floor);
                self.durable
                    .append(&Record::SnapGroup { topic, group, generation, ack_floor }, &mut self.outputs);
                records += 1;
                for chunk in g.done_ranges().chunks(MAX_RANGES_PER_RECORD) {
                    let record = Record::SnapAcked { topic, group, ranges: chunk.to_vec() };
                    self.durable.append(&record, &mut self.outputs);
                    records += 1;
                }
                for (&seq, &deliveries) in &g.dlq {
                    self.durable
                        .append(&Record::SnapDead { topic, group, seq, deliveries }, &mut self.outputs);
                    records += 1;
                }
                for &seq in &g.replaying {
                    self.durable.append(&Record::SnapReplaying { topic, group, seq }, &mut self.outputs);
                    records += 1;
                }
            }
        }
        for (topic, &last_seq) in &self.meta.tombstones {
            self.durable.append(&Record::SnapTombstone { topic, last_seq }, &mut self.outputs);
            records += 1;
        }
        let end = self.durable.append(&Record::SnapshotEnd { records }, &mut self.outputs);
        let d = &mut self.durable;
        d.bytes_since_snapshot -= before;
        d.snapshot = Some((begin, end));
        d.next_check_at = 0;
        d.snapshots += 1;
    }

    /// Once the snapshot in flight is durable, asks the runtime to drop what it supersedes.
    pub(super) fn finish_snapshot(&mut self) {
        if let Some((begin, end)) = self.durable.snapshot
            && end < self.durable.durable_next
        {
            self.durable.snapshot = None;
            self.outputs.push_back(Output::TruncateBefore { log: self.durable.log.clone(), seq: begin });
        }
    }
}
