//! A topic's in-memory tail: the most recent messages, so recent fetches need no disk read.
//!
//! Owns a contiguous run of messages ending at the newest one published (durable or not; the
//! broker decides what is visible). It is bounded by the caller, which trims it after every
//! insertion; it must not know about groups or durability. Payloads are slices of the data
//! record that was appended, so caching costs no copy.

use std::collections::VecDeque;

use bytes::Bytes;

/// One message in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cached {
    /// Wire sequence.
    pub seq: u64,
    /// Publish time.
    pub timestamp_ms: u64,
    /// Body.
    pub payload: Bytes,
}

/// The newest messages of one topic, contiguous by sequence.
#[derive(Debug, Default)]
pub(crate) struct TailCache {
    entries: VecDeque<Cached>,
    bytes: usize,
}

impl TailCache {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn front(&self) -> Option<&Cached> {
        self.entries.front()
    }

    /// Appends the newest message; a gap (or a sequence going back) drops what was cached.
    /// Returns the bytes dropped that way.
    pub fn push(&mut self, message: Cached) -> usize {
        let mut freed = 0;
        if self.entries.back().is_some_and(|last| last.seq + 1 != message.seq) {
            freed = self.clear();
        }
        self.bytes += message.payload.len();
        self.entries.push_back(message);
        freed
    }

    /// The message with sequence `seq`, if cached.
    pub fn get(&self, seq: u64) -> Option<&Cached> {
        let first = self.entries.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.entries.get(index)
    }

    /// Drops the oldest message; returns its payload bytes.
    pub fn pop_front(&mut self) -> Option<usize> {
        let c = self.entries.pop_front()?;
        self.bytes -= c.payload.len();
        Some(c.payload.len())
    }

    /// Drops the oldest messages until at most `max_messages` and `max_bytes` remain; returns
    /// the bytes freed.
    pub fn trim(&mut self, max_messages: usize, max_bytes: usize) -> usize {
        let mut freed = 0;
        while self.entries.len() > max_messages || (self.bytes > max_bytes && !self.entries.is_empty()) {
            freed += self.pop_front().unwrap_or(0);
        }
        freed
    }

    /// Drops messages below `seq` (retention); returns the bytes freed.
    pub fn drop_below(&mut self, seq: u64) -> usize {
        let mut freed = 0;
        while self.entries.front().is_some_and(|c| c.seq < seq) {
            freed += self.pop_front().unwrap_or(0);
        }
        freed
    }

    /// Drops messages at and above `seq` (appends that failed); returns the bytes freed.
    pub fn drop_from(&mut self, seq: u64) -> usize {
        let mut freed = 0;
        while self.entries.back().is_some_and(|c| c.seq >= seq) {
            if let Some(c) = self.entries.pop_back() {
                self.bytes -= c.payload.len();
                freed += c.payload.len();
            }
        }
        freed
    }

    /// Drops everything; returns the bytes freed.
    pub fn clear(&mut self) -> usize {
        let freed = self.bytes;
        self.entries.clear();
        self.bytes = 0;
        freed
    }

    /// The first cached message with `seq < end` whose timestamp is at least `timestamp_ms`
    /// (timestamps never decrease along a topic).
    pub fn first_at_or_after(&self, timestamp_ms: u64, end: u64) -> Option<u64> {
        let visible = self.entries.partition_point(|c| c.seq < end);
        let at = self.entries.partition_point(|c| c.seq < end && c.timestamp_ms < timestamp_ms);
        (at < visible).then(|| self.entries.get(at).map(|c| c.seq)).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(seq: u64, ts: u64, len: usize) -> Cached {
        Cached { seq, timestamp_ms: ts, payload: Bytes::from(vec![0u8; len]) }
    }

    #[test]
    fn keeps_a_contiguous_bounded_tail() {
        let mut c = TailCache::default();
        for seq in 1..=5 {
            c.push(msg(seq, seq * 10, 2));
        }
        assert_eq!((c.len(), c.bytes()), (5, 10));
        assert_eq!(c.get(3).map(|m| m.timestamp_ms), Some(30));
        assert_eq!(c.get(0), None);
        assert_eq!(c.get(6), None);
        assert_eq!(c.trim(3, 100), 4);
        assert_eq!(c.front().map(|m| m.seq), Some(3));
        assert_eq!(c.trim(10, 3), 4);
        assert_eq!(c.len(), 1);
        assert_eq!(c.push(msg(9, 90, 1)), 2, "a gap drops the old run");
        assert_eq!(c.front().map(|m| m.seq), Some(9));
        c.push(msg(10, 100, 1));
        assert_eq!(c.drop_from(10), 1);
        assert_eq!(c.drop_below(10), 1);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn finds_by_time_among_visible_messages() {
        let mut c = TailCache::default();
        for (seq, ts) in [(1, 10), (2, 10), (3, 20), (4, 30)] {
            c.push(msg(seq, ts, 1));
        }
        assert_eq!(c.first_at_or_after(0, 5), Some(1));
        assert_eq!(c.first_at_or_after(10, 5), Some(1));
        assert_eq!(c.first_at_or_after(11, 5), Some(3));
        assert_eq!(c.first_at_or_after(30, 5), Some(4));
        assert_eq!(c.first_at_or_after(30, 4), None, "seq 4 is not visible");
        assert_eq!(c.first_at_or_after(31, 5), None);
    }
}
