//! Gathering messages for a reply: from the topic's in-memory tail at once, the rest with
//! [`Output::Read`] from its data log, answered later through `handle_read`.
//!
//! Owns [`Load`] (what a reply wants, what has arrived, what retention has deleted) and the
//! table of reads in flight by token. A read answer for a request that ended meanwhile is
//! ignored. This module must not decide what a reply contains (that is `fetch` and `lookup`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::log::{LogId, StoredRecord};
use crate::output::Output;
use crate::time::Now;

use super::Stream;
use super::cache::{Cached, TailCache};
use super::data;
use super::topic::TopicState;

/// Why a read was asked for.
#[derive(Debug, Clone)]
pub(crate) enum ReadFor {
    /// Messages `first..first + len` of FETCH `no`.
    Fetch { no: u64, first: u64, len: u64 },
    /// Messages `first..first + len` of LIST_DLQ lookup `no`.
    Dlq { no: u64, first: u64, len: u64 },
    /// The probe at `seq` of SEEK_TIME lookup `no`.
    SeekTime { no: u64, seq: u64 },
    /// The newest record of a recovered topic, for its timestamp.
    LastTs { topic: Arc<str>, log: LogId },
}

/// Messages one reply wants, by wire sequence.
#[derive(Debug)]
pub(crate) struct Load {
    /// In reply order.
    pub want: Vec<u64>,
    pub got: BTreeMap<u64, Cached>,
    /// Deleted from the log (retention) or not a data record.
    pub gone: BTreeSet<u64>,
    /// Reads in flight.
    pub reads: usize,
    /// `Storage unavailable: …` when a read failed.
    pub error: Option<String>,
    pub log: LogId,
    pub base: u64,
}

impl Load {
    pub fn new(topic: &TopicState, want: Vec<u64>) -> Self {
        Self {
            want,
            got: BTreeMap::new(),
            gone: BTreeSet::new(),
            reads: 0,
            error: None,
            log: topic.log.clone(),
            base: topic.settings.base,
        }
    }

    /// Takes what the cache holds; returns the missing messages as `(first, len)` runs.
    pub fn fill(&mut self, cache: &TailCache) -> Vec<(u64, u64)> {
        let mut missing: Vec<u64> = Vec::new();
        for &seq in &self.want {
            match cache.get(seq) {
                Some(c) => {
                    self.got.insert(seq, c.clone());
                }
                None => missing.push(seq),
            }
        }
        missing.sort_unstable();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for seq in missing {
            match runs.last_mut() {
                Some((first, len)) if *first + *len == seq => *len += 1,
                _ => runs.push((seq, 1)),
            }
        }
        runs
    }

    /// One read of run `first..first + len` came back.
    pub fn apply(&mut self, first: u64, len: u64, result: Result<Vec<StoredRecord>, String>) {
        self.reads = self.reads.saturating_sub(1);
        let records = match result {
            Ok(records) => records,
            Err(why) => {
                self.error = Some(format!("Storage unavailable: {why}"));
                return;
            }
        };
        let end = first.saturating_add(len);
        // The storage answers from the oldest record present: anything wanted below the first
        // record returned was deleted by retention.
        let present_from = records.first().map_or(end, |r| self.base.saturating_add(r.seq));
        // Records come in order, so a wanted sequence missing before the last one returned is
        // in a gap (recovery skipped damaged records, or a log continued past lost ones).
        let reached = records.last().map_or(first, |r| self.base.saturating_add(r.seq));
        for r in records {
            let seq = self.base.saturating_add(r.seq);
            if seq < first || seq >= end {
                continue;
            }
            match data::decode(&r.payload) {
                Some((timestamp_ms, payload)) => {
                    self.got.insert(seq, Cached { seq, timestamp_ms, payload });
                }
                None => {
                    self.gone.insert(seq);
                }
            }
        }
        for seq in first..present_from.min(end) {
            self.gone.insert(seq);
        }
        for seq in present_from..reached.min(end) {
            if !self.got.contains_key(&seq) {
                self.gone.insert(seq);
            }
        }
    }
}

impl Stream {
    /// Emits one read per run (a record limit of the run's length, the reply byte limit) and
    /// remembers what each is for; returns how many.
    pub(super) fn emit_reads(
        &mut self,
        load: &Load,
        runs: &[(u64, u64)],
        owner: impl Fn(u64, u64) -> ReadFor,
    ) -> usize {
        for &(first, len) in runs {
            self.next_token += 1;
            self.reads.insert(self.next_token, owner(first, len));
            self.outputs.push_back(Output::Read {
                log: load.log.clone(),
                from_seq: first.saturating_sub(load.base),
                max_records: usize::try_from(len).unwrap_or(usize::MAX),
                max_bytes: self.config.max_reply_bytes,
                token: self.next_token,
            });
        }
        runs.len()
    }

    /// Asks for one record of `log` at data-log sequence `log_seq`.
    pub(super) fn emit_probe(&mut self, log: &LogId, log_seq: u64, why: ReadFor) {
        self.next_token += 1;
        self.reads.insert(self.next_token, why);
        self.outputs.push_back(Output::Read {
            log: log.clone(),
            from_seq: log_seq,
            max_records: 1,
            max_bytes: 1,
            token: self.next_token,
        });
    }

    /// A read came back: hands it to whoever asked.
    pub(super) fn read_done(&mut self, now: Now, token: u64, result: Result<Vec<StoredRecord>, String>) {
        let Some(why) = self.reads.remove(&token) else { return };
        match why {
            ReadFor::Fetch { no, first, len } => {
                let Some(load) = self.fetches.entries.get_mut(&no).and_then(|f| f.load.as_mut()) else {
                    return;
                };
                load.apply(first, len, result);
                if load.reads == 0 {
                    self.finish_loaded_fetch(now, no);
                }
            }
            ReadFor::Dlq { no, first, len } => self.dlq_read(no, first, len, result),
            ReadFor::SeekTime { no, seq } => self.seek_probe(no, seq, result),
            ReadFor::LastTs { topic, log } => {
                let Some(t) = self.meta.topics.get_mut(&topic).filter(|t| t.log == log) else { return };
                let newest =
                    result.ok().and_then(|records| records.last().and_then(|r| data::decode(&r.payload)));
                if let Some((timestamp_ms, _)) = newest {
                    t.last_ts = t.last_ts.max(timestamp_ms);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::stream::journal::TopicSettings;
    use crate::stream::topic::Opening;

    fn record(seq: u64, ts: u64) -> StoredRecord {
        StoredRecord { seq, timestamp_ms: 0, payload: data::encode(ts, b"x") }
    }

    #[test]
    fn fills_from_the_cache_then_runs_of_reads() {
        let settings = TopicSettings { incarnation: 1, base: 100, max_age_ms: 0, max_bytes: 0 };
        let t = TopicState::new(Arc::from("t"), settings, Opening::Recovered, None);
        let mut cache = TailCache::default();
        for seq in 110..115 {
            cache.push(Cached { seq, timestamp_ms: seq, payload: Bytes::new() });
        }
        let mut load = Load::new(&t, vec![112, 103, 101, 102, 105, 111]);
        assert_eq!(load.fill(&cache), [(101, 3), (105, 1)]);
        assert_eq!(load.got.len(), 2);
        load.reads = 2;
        // Retention deleted 101; 102 and 103 are there.
        load.apply(101, 3, Ok(vec![record(2, 7), record(3, 8), record(4, 9)]));
        assert!(load.gone.contains(&101));
        assert_eq!(load.got[&103].timestamp_ms, 8);
        assert!(!load.got.contains_key(&104));
        load.apply(105, 1, Err("disk".into()));
        assert_eq!(load.reads, 0);
        assert_eq!(load.error.as_deref(), Some("Storage unavailable: disk"));
    }
}
