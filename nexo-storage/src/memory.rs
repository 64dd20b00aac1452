//! [`MemoryStorage`]: the [`Storage`] semantics without files, for tests and simulations.
//!
//! Segments are kept as lists of records and cut by the same rules as the file backend (sizes
//! count the same framing bytes), so truncation, retention, `bytes` and every returned sequence
//! number match [`crate::FileStorage`] exactly; a property test checks this. Nothing is ever lost
//! here: use [`crate::FaultyStorage`] around it to simulate crashes and failures.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use crate::budget::Budget;
use crate::record::{self, MAX_PAYLOAD_BYTES};
use crate::{LogConfig, LogName, Record, Recovery, Storage, StorageError};

/// One segment: consecutive records from `base`.
#[derive(Debug, Clone)]
struct MemSegment {
    base: u64,
    records: Vec<Record>,
    bytes: u64,
}

impl MemSegment {
    fn new(base: u64) -> Self {
        MemSegment { base, records: Vec::new(), bytes: 0 }
    }

    fn end(&self) -> u64 {
        self.base + self.records.len() as u64
    }

    fn first_ts(&self) -> Option<u64> {
        self.records.first().map(|r| r.timestamp_ms)
    }

    fn last_ts(&self) -> Option<u64> {
        self.records.last().map(|r| r.timestamp_ms)
    }
}

/// One log: sealed segments, then the active one (always the last, never absent).
#[derive(Debug, Clone)]
struct MemLog {
    config: LogConfig,
    segments: VecDeque<MemSegment>,
    durable_next_seq: u64,
}

impl MemLog {
    fn new(config: LogConfig) -> Self {
        MemLog { config, segments: VecDeque::from([MemSegment::new(1)]), durable_next_seq: 1 }
    }

    fn active(&self) -> &MemSegment {
        // `segments` is never empty: the active segment is never removed.
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut MemSegment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    fn next_seq(&self) -> u64 {
        self.active().end()
    }

    fn first_seq(&self) -> u64 {
        self.segments.front().map_or(1, |s| s.base)
    }

    fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    fn last_ts(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(MemSegment::last_ts)
    }

    fn summary(&self) -> Recovery {
        Recovery {
            next_seq: self.next_seq(),
            first_seq: self.first_seq(),
            records: self.segments.iter().map(|s| s.records.len() as u64).sum(),
            dropped_bytes: 0,
            dropped_reason: None,
            damaged_ranges: 0,
            quarantined_bytes: 0,
        }
    }

    fn roll(&mut self) {
        if !self.active().records.is_empty() {
            let next = self.next_seq();
            self.segments.push_back(MemSegment::new(next));
            // Sealing a segment makes it durable, as in the file backend.
            self.durable_next_seq = next;
        }
    }

    fn skip_to(&mut self, next_seq: u64) -> u64 {
        if next_seq > self.next_seq() {
            if self.active().records.is_empty() {
                self.active_mut().base = next_seq;
            } else {
                self.segments.push_back(MemSegment::new(next_seq));
            }
            self.durable_next_seq = next_seq;
        }
        self.next_seq()
    }

    fn append(&mut self, timestamp_ms: u64, payload: &[u8]) -> u64 {
        let ts = self.last_ts().map_or(timestamp_ms, |last| timestamp_ms.max(last));
        let len = record::encoded_len(payload.len()) as u64;
        let active = self.active();
        if let Some(first) = active.first_ts() {
            let too_big = active.bytes.saturating_add(len) > self.config.segment_bytes_max;
            let age_max = self.config.segment_age_max_ms;
            let too_old = age_max > 0 && ts >= first.saturating_add(age_max);
            if too_big || too_old {
                self.roll();
            }
        }
        let seq = self.next_seq();
        let active = self.active_mut();
        active.records.push(Record { seq, timestamp_ms: ts, payload: Bytes::copy_from_slice(payload) });
        active.bytes += len;
        seq
    }

    fn drop_front_while(&mut self, mut drop_front: impl FnMut(&MemSegment, u64) -> bool) -> u64 {
        let mut total = self.bytes();
        while self.segments.len() > 1 {
            let Some(front) = self.segments.front() else { break };
            if !drop_front(front, total) {
                break;
            }
            total -= front.bytes;
            self.segments.pop_front();
        }
        self.first_seq()
    }

    fn read(&self, from_seq: u64, max_records: usize, max_bytes: usize) -> Vec<Record> {
        let mut budget = Budget::new(max_records, max_bytes);
        let start = from_seq.max(self.first_seq());
        let first = self.segments.partition_point(|s| s.end() <= start);
        'segments: for seg in self.segments.iter().skip(first) {
            let skip = usize::try_from(start.saturating_sub(seg.base)).unwrap_or(usize::MAX);
            for r in seg.records.iter().skip(skip) {
                if !budget.admits(r.payload.len()) {
                    break 'segments;
                }
                budget.push(r.clone());
                if budget.full() {
                    break 'segments;
                }
            }
        }
        budget.into_records()
    }

    fn seq_at_time(&self, timestamp_ms: u64) -> u64 {
        for seg in &self.segments {
            let i = seg.records.partition_point(|r| r.timestamp_ms < timestamp_ms);
            if let Some(r) = seg.records.get(i) {
                return r.seq;
            }
        }
        self.next_seq()
    }
}

/// The in-memory backend. Cloning it copies every log (handy to fork a simulation).
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    logs: BTreeMap<LogName, MemLog>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn log(&self, log: &LogName) -> Result<&MemLog, StorageError> {
        self.logs.get(log).ok_or_else(|| StorageError::NotOpen { log: log.clone() })
    }

    fn log_mut(&mut self, log: &LogName) -> Result<&mut MemLog, StorageError> {
        self.logs.get_mut(log).ok_or_else(|| StorageError::NotOpen { log: log.clone() })
    }
}

impl Storage for MemoryStorage {
    fn open(&mut self, log: &LogName, config: LogConfig) -> Result<Recovery, StorageError> {
        let l = self.logs.entry(log.clone()).or_insert_with(|| MemLog::new(config));
        l.config = config;
        Ok(l.summary())
    }

    fn list(&self) -> Result<Vec<LogName>, StorageError> {
        Ok(self.logs.keys().cloned().collect())
    }

    fn append(&mut self, log: &LogName, timestamp_ms: u64, payload: &[u8]) -> Result<u64, StorageError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StorageError::TooLarge {
                log: log.clone(),
                bytes: payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        Ok(self.log_mut(log)?.append(timestamp_ms, payload))
    }

    fn flush(&mut self, log: &LogName) -> Result<(), StorageError> {
        self.log(log).map(|_| ())
    }

    fn sync(&mut self, log: &LogName) -> Result<u64, StorageError> {
        let l = self.log_mut(log)?;
        l.durable_next_seq = l.next_seq();
        Ok(l.durable_next_seq)
    }

    fn read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        Ok(self.log(log)?.read(from_seq, max_records, max_bytes))
    }

    fn seq_at_time(&mut self, log: &LogName, timestamp_ms: u64) -> Result<u64, StorageError> {
        Ok(self.log(log)?.seq_at_time(timestamp_ms))
    }

    fn roll(&mut self, log: &LogName) -> Result<(), StorageError> {
        self.log_mut(log)?.roll();
        Ok(())
    }

    fn skip_to(&mut self, log: &LogName, next_seq: u64) -> Result<u64, StorageError> {
        Ok(self.log_mut(log)?.skip_to(next_seq.min(crate::segment::MAX_BASE)))
    }

    fn truncate_before(&mut self, log: &LogName, seq: u64) -> Result<u64, StorageError> {
        Ok(self.log_mut(log)?.drop_front_while(|s, _| s.end() <= seq))
    }

    fn retain(
        &mut self,
        log: &LogName,
        now_ms: u64,
        max_age_ms: u64,
        max_bytes: u64,
    ) -> Result<u64, StorageError> {
        let l = self.log_mut(log)?;
        let age_max = l.config.segment_age_max_ms;
        if age_max > 0 && l.active().first_ts().is_some_and(|f| now_ms >= f.saturating_add(age_max)) {
            l.roll();
        }
        Ok(l.drop_front_while(|s, total| {
            let too_old =
                max_age_ms > 0 && s.last_ts().is_some_and(|t| t.saturating_add(max_age_ms) < now_ms);
            let too_big = max_bytes > 0 && total > max_bytes;
            too_old || too_big
        }))
    }

    fn remove(&mut self, log: &LogName) -> Result<(), StorageError> {
        self.logs.remove(log);
        Ok(())
    }

    fn bytes(&self, log: &LogName) -> Result<u64, StorageError> {
        self.log(log).map(MemLog::bytes)
    }

    fn next_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        self.log(log).map(MemLog::next_seq)
    }

    fn first_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        self.log(log).map(MemLog::first_seq)
    }

    fn durable_next_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        self.log(log).map(|l| l.durable_next_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> LogName {
        LogName::new("m").unwrap()
    }

    #[test]
    fn append_read_sync() {
        let mut s = MemoryStorage::new();
        let log = name();
        assert!(matches!(s.append(&log, 1, b"x"), Err(StorageError::NotOpen { .. })));
        assert_eq!(s.open(&log, LogConfig::default()).unwrap().next_seq, 1);
        assert_eq!(s.append(&log, 10, b"a").unwrap(), 1);
        assert_eq!(s.append(&log, 5, b"bb").unwrap(), 2);
        assert_eq!(s.durable_next_seq(&log).unwrap(), 1);
        assert_eq!(s.sync(&log).unwrap(), 3);
        let got = s.read(&log, 0, 10, 100).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].timestamp_ms, 10, "timestamps never decrease");
        assert_eq!(s.bytes(&log).unwrap(), (record::encoded_len(1) + record::encoded_len(2)) as u64);
        assert_eq!(s.seq_at_time(&log, 10).unwrap(), 1);
        assert_eq!(s.seq_at_time(&log, 11).unwrap(), 3);
        assert_eq!(s.list().unwrap(), vec![log.clone()]);
        s.remove(&log).unwrap();
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn truncation_keeps_the_sequence() {
        let mut s = MemoryStorage::new();
        let log = name();
        s.open(&log, LogConfig { segment_bytes_max: 60, ..LogConfig::default() }).unwrap();
        for i in 0..5 {
            s.append(&log, i, b"0123456789").unwrap(); // 34 bytes: one record per segment
        }
        assert_eq!(s.truncate_before(&log, 4).unwrap(), 4);
        s.roll(&log).unwrap();
        assert_eq!(s.truncate_before(&log, 100).unwrap(), 6);
        assert_eq!(s.next_seq(&log).unwrap(), 6);
        assert_eq!(s.append(&log, 0, b"").unwrap(), 6);
    }
}
