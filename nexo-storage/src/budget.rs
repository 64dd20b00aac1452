//! The size budget of one read: how many records and payload bytes it may return.
//!
//! Shared by every backend so they agree exactly: a read stops before the record that would
//! exceed `max_records` or `max_bytes` (payload bytes), except that the first record is always
//! returned, however large, so a reader can never be stuck behind one big record.

use crate::Record;

/// Records collected so far by a read, against its limits.
#[derive(Debug)]
pub(crate) struct Budget {
    max_records: usize,
    max_bytes: usize,
    bytes: usize,
    records: Vec<Record>,
}

impl Budget {
    /// An empty collection with these limits.
    pub(crate) fn new(max_records: usize, max_bytes: usize) -> Self {
        Budget { max_records, max_bytes, bytes: 0, records: Vec::new() }
    }

    /// Whether a record with `payload_len` payload bytes may be added.
    pub(crate) fn admits(&self, payload_len: usize) -> bool {
        if self.records.len() >= self.max_records {
            return false;
        }
        self.records.is_empty() || self.bytes.saturating_add(payload_len) <= self.max_bytes
    }

    /// Adds a record (the caller asked [`Budget::admits`] first).
    pub(crate) fn push(&mut self, record: Record) {
        self.bytes = self.bytes.saturating_add(record.payload.len());
        self.records.push(record);
    }

    /// Whether the record count is reached (the byte limit is checked per record by `admits`).
    pub(crate) fn full(&self) -> bool {
        self.records.len() >= self.max_records
    }

    /// Sequence number of the last record collected.
    pub(crate) fn last_seq(&self) -> Option<u64> {
        self.records.last().map(|r| r.seq)
    }

    /// The records collected.
    pub(crate) fn into_records(self) -> Vec<Record> {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(seq: u64, len: usize) -> Record {
        Record { seq, timestamp_ms: 0, payload: Bytes::from(vec![0; len]) }
    }

    #[test]
    fn first_record_always_fits() {
        let mut b = Budget::new(10, 5);
        assert!(b.admits(100));
        b.push(rec(1, 100));
        assert!(!b.full());
        assert!(!b.admits(1));
        let mut b = Budget::new(10, 5);
        b.push(rec(1, 5));
        assert!(b.admits(0));
        let mut b = Budget::new(2, 100);
        b.push(rec(1, 10));
        assert!(b.admits(90));
        assert!(!b.admits(91));
        b.push(rec(2, 1));
        assert!(b.full());
        assert!(!b.admits(0));
        assert_eq!(b.into_records().len(), 2);
        assert!(!Budget::new(0, 100).admits(1));
    }
}
