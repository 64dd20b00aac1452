//! The sparse segment index: fixed-width entries mapping a sequence number and a timestamp to a
//! byte position in a segment file.
//!
//! ```text
//! offset  size  field
//!      0     8  seq        u64 LE, a record's sequence number
//!      8     8  pos        u64 LE, byte offset of that record in the segment file
//!     16     8  timestamp  u64 LE, that record's timestamp
//!     24     4  crc32c     u32 LE, CRC-32C of bytes 0 .. 24
//! ```
//!
//! A segment gets an entry for its first record, then one whenever at least `index_every_bytes`
//! were written since the previous entry, and its `.idx` file ends with an entry for its last
//! record. The index is advisory: every seek it gives is checked against the record found there,
//! and a missing or invalid index is rebuilt by scanning the segment. This module does no I/O.

use crate::record::{le_u32, le_u64};

/// Size of one index entry on disk.
pub const ENTRY_BYTES: usize = 28;

/// One index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// A record's sequence number.
    pub seq: u64,
    /// Its byte offset in the segment file.
    pub pos: u64,
    /// Its timestamp.
    pub timestamp_ms: u64,
}

impl IndexEntry {
    /// Appends the entry's on-disk form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.pos.to_le_bytes());
        out.extend_from_slice(&self.timestamp_ms.to_le_bytes());
        let crc = crc32c::crc32c(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }

    /// Decodes one entry from exactly [`ENTRY_BYTES`] bytes; `None` if the size or CRC is wrong.
    pub fn decode(b: &[u8]) -> Option<IndexEntry> {
        if b.len() != ENTRY_BYTES || crc32c::crc32c(&b[..24]) != le_u32(&b[24..]) {
            return None;
        }
        Some(IndexEntry { seq: le_u64(&b[..8]), pos: le_u64(&b[8..16]), timestamp_ms: le_u64(&b[16..24]) })
    }
}

/// Decodes a whole index file; `None` unless every entry is valid and entries are ordered
/// (sequence and position strictly increasing, timestamps not decreasing).
pub fn decode_all(bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    if !bytes.len().is_multiple_of(ENTRY_BYTES) {
        return None;
    }
    let mut entries: Vec<IndexEntry> = Vec::with_capacity(bytes.len() / ENTRY_BYTES);
    for chunk in bytes.chunks_exact(ENTRY_BYTES) {
        let entry = IndexEntry::decode(chunk)?;
        if let Some(prev) = entries.last()
            && (entry.seq <= prev.seq || entry.pos <= prev.pos || entry.timestamp_ms < prev.timestamp_ms)
        {
            return None;
        }
        entries.push(entry);
    }
    Some(entries)
}

/// Encodes `entries` followed by `last` (unless it is already the final entry): an `.idx` file.
pub fn encode_all(entries: &[IndexEntry], last: Option<IndexEntry>) -> Vec<u8> {
    let mut out = Vec::with_capacity((entries.len() + 1) * ENTRY_BYTES);
    for entry in entries {
        entry.encode(&mut out);
    }
    if let Some(last) = last
        && entries.last().is_none_or(|e| e.seq < last.seq)
    {
        last.encode(&mut out);
    }
    out
}

/// The entry to start from when looking for `seq`: the last one at or before it.
pub fn floor_by_seq(entries: &[IndexEntry], seq: u64) -> Option<IndexEntry> {
    let i = entries.partition_point(|e| e.seq <= seq);
    i.checked_sub(1).and_then(|i| entries.get(i)).copied()
}

/// The entry to start from when looking for the first record at or after `timestamp_ms`: the
/// last one older than it (timestamps within a log never decrease).
pub fn floor_by_time(entries: &[IndexEntry], timestamp_ms: u64) -> Option<IndexEntry> {
    let i = entries.partition_point(|e| e.timestamp_ms < timestamp_ms);
    i.checked_sub(1).and_then(|i| entries.get(i)).copied()
}

/// The in-memory index of the segment being written.
#[derive(Debug, Clone)]
pub struct SparseIndex {
    entries: Vec<IndexEntry>,
    every_bytes: u64,
}

impl SparseIndex {
    /// An empty index taking an entry every `every_bytes` bytes (0: every record).
    pub fn new(every_bytes: u64) -> Self {
        SparseIndex { entries: Vec::new(), every_bytes }
    }

    /// Rebuilds an index from entries already chosen (after a scan).
    pub fn from_entries(entries: Vec<IndexEntry>, every_bytes: u64) -> Self {
        SparseIndex { entries, every_bytes }
    }

    /// Records `entry` if it is the first or far enough from the previous entry.
    pub fn note(&mut self, entry: IndexEntry) {
        let due = match self.entries.last() {
            None => true,
            Some(prev) => entry.pos.saturating_sub(prev.pos) >= self.every_bytes,
        };
        if due {
            self.entries.push(entry);
        }
    }

    /// The entries so far.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(seq: u64, pos: u64, ts: u64) -> IndexEntry {
        IndexEntry { seq, pos, timestamp_ms: ts }
    }

    #[test]
    fn round_trip_and_checks() {
        let entries = vec![e(5, 0, 10), e(9, 4100, 10), e(20, 8300, 12)];
        let bytes = encode_all(&entries, Some(e(25, 9000, 15)));
        assert_eq!(bytes.len(), 4 * ENTRY_BYTES);
        let back = decode_all(&bytes).unwrap();
        assert_eq!(&back[..3], &entries[..]);
        assert_eq!(back[3], e(25, 9000, 15));
        // A last entry equal to the final one is not repeated.
        assert_eq!(encode_all(&entries, Some(e(20, 8300, 12))).len(), 3 * ENTRY_BYTES);
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        assert_eq!(decode_all(&bad), None);
        assert_eq!(decode_all(&bytes[..bytes.len() - 1]), None);
        let unordered = encode_all(&[e(9, 10, 1), e(5, 20, 1)], None);
        assert_eq!(decode_all(&unordered), None);
        assert_eq!(decode_all(&[]), Some(vec![]));
    }

    #[test]
    fn floors() {
        let entries = [e(1, 0, 100), e(10, 4096, 200), e(20, 8192, 300)];
        assert_eq!(floor_by_seq(&entries, 0), None);
        assert_eq!(floor_by_seq(&entries, 1), Some(entries[0]));
        assert_eq!(floor_by_seq(&entries, 15), Some(entries[1]));
        assert_eq!(floor_by_seq(&entries, 99), Some(entries[2]));
        assert_eq!(floor_by_time(&entries, 100), None);
        assert_eq!(floor_by_time(&entries, 101), Some(entries[0]));
        assert_eq!(floor_by_time(&entries, 300), Some(entries[1]));
    }

    #[test]
    fn sparse_spacing() {
        let mut index = SparseIndex::new(100);
        for (seq, pos) in [(1, 0), (2, 40), (3, 99), (4, 100), (5, 150), (6, 200)] {
            index.note(e(seq, pos, 0));
        }
        let seqs: Vec<u64> = index.entries().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 4, 6]);
        let mut every = SparseIndex::new(0);
        every.note(e(1, 0, 0));
        every.note(e(2, 24, 0));
        assert_eq!(every.entries().len(), 2);
    }
}
