//! [`FaultyStorage`]: wraps any backend to inject the failures a disk can produce, for engine,
//! runtime and storage tests.
//!
//! The wrapper plays the part of the volatile cache between a process and its disk: appends stay
//! in the wrapper until a `sync` (or a `roll`) forwards them to the inner backend and syncs it
//! there, so the inner backend only ever holds durable records. That makes a crash exact and
//! backend-independent: [`FaultyStorage::crash`] forgets what was not synced;
//! [`FaultyStorage::crash_tearing`] lets unsynced records reach the disk except the last, which is
//! torn (the next `open` reports its bytes as dropped, as file recovery would). Injected failures
//! ([`FaultyStorage::fail_after`], [`FaultyStorage::fail_next_sync`]) fence the log exactly as a
//! real failed write or fsync does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use crate::budget::Budget;
use crate::record::{self, MAX_PAYLOAD_BYTES};
use crate::{LogConfig, LogName, Record, Recovery, Storage, StorageError};

/// Wrapper state of one log opened through the wrapper.
#[derive(Debug, Default)]
struct FaultyLog {
    /// Appended, not yet synced: lost by a crash.
    pending: Vec<Record>,
    pending_bytes: u64,
    /// Timestamp of the newest record present (pending or inner).
    last_ts: Option<u64>,
    /// Why the log is fenced, if it is.
    fenced: Option<String>,
}

/// A backend wrapper that fails on demand and simulates crashes; see the module docs.
#[derive(Debug)]
pub struct FaultyStorage<S: Storage> {
    inner: S,
    logs: BTreeMap<LogName, FaultyLog>,
    /// Write operations performed so far (append, flush, sync, roll, truncate, retain, remove).
    ops: u64,
    /// From this operation count on, every write operation fails.
    fail_from: Option<u64>,
    fail_next_sync: bool,
    /// Torn bytes to report at the next `open` of each log, after `crash_tearing`.
    torn: BTreeMap<LogName, u64>,
    /// While set, the disk is full: see [`FaultyStorage::disk_full`].
    full: Arc<AtomicBool>,
}

impl<S: Storage> FaultyStorage<S> {
    /// Wraps `inner`, which should hold only durable data (a fresh or recovered backend).
    pub fn new(inner: S) -> Self {
        FaultyStorage {
            inner,
            logs: BTreeMap::new(),
            ops: 0,
            fail_from: None,
            fail_next_sync: false,
            torn: BTreeMap::new(),
            full: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A switch for a full disk, usable after the wrapper was boxed or moved to another thread:
    /// while it is on, `flush`, `sync`, `sync_many`, `roll` and `skip_to` answer
    /// [`StorageError::Transient`] (ENOSPC) and change nothing; appends stay pending, the log is
    /// not fenced, and the first call after it is turned off writes them.
    pub fn disk_full(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.full)
    }

    /// The wrapped backend (it holds exactly the synced records).
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the backend; unsynced records are lost, as in a crash.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Write operations performed so far (append, flush, sync, roll, truncate_before, retain,
    /// remove), failed ones included.
    pub fn operations(&self) -> u64 {
        self.ops
    }

    /// The next `ops` write operations succeed; every one after them fails and fences its log.
    pub fn fail_after(&mut self, ops: u64) {
        self.fail_from = Some(self.ops.saturating_add(ops));
    }

    /// The next `sync` (of any log) fails and fences its log.
    pub fn fail_next_sync(&mut self) {
        self.fail_next_sync = true;
    }

    /// Cancels planned failures (fenced logs stay fenced until a crash).
    pub fn heal(&mut self) {
        self.fail_from = None;
        self.fail_next_sync = false;
    }

    /// Number of appended records of `log` not yet synced.
    pub fn unsynced(&self, log: &LogName) -> usize {
        self.logs.get(log).map_or(0, |l| l.pending.len())
    }

    /// Simulates a power loss: every unsynced record is lost, fences are lifted and every log
    /// must be opened again (calls answer [`StorageError::NotOpen`] until then). Planned
    /// failures stay planned.
    pub fn crash(&mut self) {
        self.logs.clear();
    }

    /// Simulates a crash while writing: the unsynced records of each log reach the disk except
    /// the last, of which only the first `keep_bytes` bytes do (all of it if `keep_bytes` is at
    /// least its encoded size). The next `open` reports the torn bytes as dropped, like file
    /// recovery. Fenced logs lose all their unsynced records.
    ///
    /// # Errors
    /// Errors of the inner backend while writing the surviving records.
    pub fn crash_tearing(&mut self, keep_bytes: usize) -> Result<(), StorageError> {
        let logs = std::mem::take(&mut self.logs);
        for (name, mut l) in logs {
            if l.fenced.is_some() {
                continue;
            }
            let Some(last) = l.pending.pop() else { continue };
            if keep_bytes >= record::encoded_len(last.payload.len()) {
                l.pending.push(last);
            } else if keep_bytes > 0 {
                self.torn.insert(name.clone(), keep_bytes as u64);
            }
            self.forward(&name, &mut l)?;
        }
        Ok(())
    }

    /// Counts a write operation and fails it if a failure is planned.
    fn inject(&mut self, log: &LogName, op: &'static str) -> Result<(), StorageError> {
        let n = self.ops;
        self.ops += 1;
        if self.full.load(Ordering::Relaxed) && matches!(op, "flush" | "sync" | "roll" | "skip_to") {
            let source = std::io::Error::from_raw_os_error(28);
            return Err(StorageError::Transient { op, path: log.as_str().into(), source });
        }
        let sync_fails = op == "sync" && std::mem::take(&mut self.fail_next_sync);
        if sync_fails || self.fail_from.is_some_and(|from| n >= from) {
            let why = format!("injected failure of {op} (operation {n})");
            if let Some(l) = self.logs.get_mut(log) {
                l.fenced = Some(why.clone());
                l.pending.clear();
                l.pending_bytes = 0;
            }
            return Err(StorageError::Failed { log: log.clone(), why });
        }
        Ok(())
    }

    fn state(&self, log: &LogName) -> Result<&FaultyLog, StorageError> {
        match self.logs.get(log) {
            None => Err(StorageError::NotOpen { log: log.clone() }),
            Some(FaultyLog { fenced: Some(why), .. }) => {
                Err(StorageError::Failed { log: log.clone(), why: why.clone() })
            }
            Some(l) => Ok(l),
        }
    }

    /// Checks the log is usable, then counts the write operation `op`.
    fn begin_write(&mut self, log: &LogName, op: &'static str) -> Result<(), StorageError> {
        self.state(log)?;
        self.inject(log, op)
    }

    /// Moves the pending records of `log` into the inner backend and syncs it there.
    fn forward(&mut self, log: &LogName, l: &mut FaultyLog) -> Result<u64, StorageError> {
        for r in l.pending.drain(..) {
            let seq = self.inner.append(log, r.timestamp_ms, &r.payload)?;
            if seq != r.seq {
                let why = format!("inner backend gave seq {seq} for pending record {}", r.seq);
                return Err(StorageError::Failed { log: log.clone(), why });
            }
        }
        l.pending_bytes = 0;
        self.inner.sync(log)
    }

    /// Runs `f` with the log's state taken out of the table (so `self` stays usable), putting it
    /// back afterwards; a failure of the inner backend fences the log.
    fn with_log<T>(
        &mut self,
        log: &LogName,
        f: impl FnOnce(&mut Self, &mut FaultyLog) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut l = self.logs.remove(log).ok_or_else(|| StorageError::NotOpen { log: log.clone() })?;
        let result = f(self, &mut l);
        if let Err(e) = &result
            && (e.is_failed() || e.fences())
        {
            l.fenced = Some(e.to_string());
            l.pending.clear();
            l.pending_bytes = 0;
        }
        self.logs.insert(log.clone(), l);
        result
    }

    /// Timestamp of the newest durable record of `log`.
    fn inner_last_ts(&mut self, log: &LogName) -> Result<Option<u64>, StorageError> {
        let next = self.inner.next_seq(log)?;
        if next <= self.inner.first_seq(log)? {
            return Ok(None);
        }
        Ok(self.inner.read(log, next - 1, 1, 0)?.last().map(|r| r.timestamp_ms))
    }
}

impl<S: Storage> Storage for FaultyStorage<S> {
    fn open(&mut self, log: &LogName, config: LogConfig) -> Result<Recovery, StorageError> {
        if let Some(l) = self.logs.get(log) {
            self.state(log)?;
            let pending = l.pending.len() as u64;
            let mut summary = self.inner.open(log, config)?;
            summary.next_seq += pending;
            summary.records += pending;
            return Ok(summary);
        }
        let mut recovery = self.inner.open(log, config)?;
        let last_ts = self.inner_last_ts(log)?;
        if let Some(torn) = self.torn.remove(log) {
            recovery.dropped_bytes += torn;
            recovery.dropped_reason =
                Some(format!("torn record ({torn} bytes present) after a simulated crash"));
        }
        self.logs.insert(log.clone(), FaultyLog { last_ts, ..FaultyLog::default() });
        Ok(recovery)
    }

    fn list(&self) -> Result<Vec<LogName>, StorageError> {
        self.inner.list()
    }

    fn append(&mut self, log: &LogName, timestamp_ms: u64, payload: &[u8]) -> Result<u64, StorageError> {
        self.state(log)?;
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StorageError::TooLarge {
                log: log.clone(),
                bytes: payload.len(),
                max: MAX_PAYLOAD_BYTES,
            });
        }
        self.inject(log, "append")?;
        let seq = self.next_seq(log)?;
        let l = self.logs.get_mut(log).ok_or_else(|| StorageError::NotOpen { log: log.clone() })?;
        let ts = l.last_ts.map_or(timestamp_ms, |last| timestamp_ms.max(last));
        l.last_ts = Some(ts);
        l.pending_bytes += record::encoded_len(payload.len()) as u64;
        l.pending.push(Record { seq, timestamp_ms: ts, payload: Bytes::copy_from_slice(payload) });
        Ok(seq)
    }

    fn flush(&mut self, log: &LogName) -> Result<(), StorageError> {
        self.begin_write(log, "flush")
    }

    fn sync(&mut self, log: &LogName) -> Result<u64, StorageError> {
        self.begin_write(log, "sync")?;
        self.with_log(log, |s, l| s.forward(log, l))
    }

    /// One [`Storage::sync`] per log, in order, so every injected failure (counted operations,
    /// `fail_next_sync`) hits the same log and fences it exactly as separate syncs would.
    fn sync_many(&mut self, logs: &[LogName]) -> Vec<Result<u64, StorageError>> {
        logs.iter().map(|log| self.sync(log)).collect()
    }

    fn read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        self.state(log)?;
        let inner_next = self.inner.next_seq(log)?;
        let mut budget = Budget::new(max_records, max_bytes);
        if from_seq < inner_next {
            for r in self.inner.read(log, from_seq, max_records, max_bytes)? {
                budget.push(r);
            }
            if budget.full() || budget.last_seq().is_some_and(|s| s + 1 < inner_next) {
                return Ok(budget.into_records());
            }
        }
        let l = self.state(log)?;
        for r in l.pending.iter().filter(|r| r.seq >= from_seq) {
            if !budget.admits(r.payload.len()) {
                break;
            }
            budget.push(r.clone());
            if budget.full() {
                break;
            }
        }
        Ok(budget.into_records())
    }

    fn seq_at_time(&mut self, log: &LogName, timestamp_ms: u64) -> Result<u64, StorageError> {
        self.state(log)?;
        let found = self.inner.seq_at_time(log, timestamp_ms)?;
        if found < self.inner.next_seq(log)? {
            return Ok(found);
        }
        let l = self.state(log)?;
        match l.pending.iter().find(|r| r.timestamp_ms >= timestamp_ms) {
            Some(r) => Ok(r.seq),
            None => self.next_seq(log),
        }
    }

    fn roll(&mut self, log: &LogName) -> Result<(), StorageError> {
        self.begin_write(log, "roll")?;
        self.with_log(log, |s, l| {
            s.forward(log, l)?;
            s.inner.roll(log)
        })
    }

    fn skip_to(&mut self, log: &LogName, next_seq: u64) -> Result<u64, StorageError> {
        self.begin_write(log, "skip_to")?;
        self.with_log(log, |s, l| {
            s.forward(log, l)?;
            s.inner.skip_to(log, next_seq)
        })
    }

    fn truncate_before(&mut self, log: &LogName, seq: u64) -> Result<u64, StorageError> {
        self.begin_write(log, "truncate_before")?;
        self.with_log(log, |s, l| {
            let first = s.inner.truncate_before(log, seq)?;
            if l.pending.is_empty() {
                l.last_ts = s.inner_last_ts(log)?;
            }
            Ok(first)
        })
    }

    fn retain(
        &mut self,
        log: &LogName,
        now_ms: u64,
        max_age_ms: u64,
        max_bytes: u64,
    ) -> Result<u64, StorageError> {
        self.begin_write(log, "retain")?;
        self.with_log(log, |s, l| {
            let first = s.inner.retain(log, now_ms, max_age_ms, max_bytes)?;
            if l.pending.is_empty() {
                l.last_ts = s.inner_last_ts(log)?;
            }
            Ok(first)
        })
    }

    fn remove(&mut self, log: &LogName) -> Result<(), StorageError> {
        if let Some(FaultyLog { fenced: Some(why), .. }) = self.logs.get(log) {
            return Err(StorageError::Failed { log: log.clone(), why: why.clone() });
        }
        self.inject(log, "remove")?;
        self.logs.remove(log);
        self.torn.remove(log);
        self.inner.remove(log)
    }

    fn bytes(&self, log: &LogName) -> Result<u64, StorageError> {
        let l = self.state(log)?;
        Ok(self.inner.bytes(log)? + l.pending_bytes)
    }

    fn next_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        let l = self.state(log)?;
        Ok(self.inner.next_seq(log)? + l.pending.len() as u64)
    }

    fn first_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        self.state(log)?;
        self.inner.first_seq(log)
    }

    fn durable_next_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        self.state(log)?;
        self.inner.durable_next_seq(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStorage;

    #[test]
    fn counts_write_operations_only() {
        let log = LogName::new("c").unwrap();
        let mut s = FaultyStorage::new(MemoryStorage::new());
        s.open(&log, LogConfig::default()).unwrap();
        s.append(&log, 1, b"x").unwrap();
        s.read(&log, 0, 1, 1).unwrap();
        s.seq_at_time(&log, 0).unwrap();
        s.bytes(&log).unwrap();
        s.sync(&log).unwrap();
        assert_eq!(s.operations(), 2);
        assert_eq!(s.inner().next_seq(&log).unwrap(), 2);
        s.append(&log, 1, b"y").unwrap();
        let inner = s.into_inner();
        assert_eq!(inner.next_seq(&log).unwrap(), 2, "unsynced records are not in the inner backend");
    }

    #[test]
    fn sync_many_injects_failures_per_log() {
        let root = tempfile::tempdir().unwrap();
        let logs: Vec<LogName> = ["a", "b", "c"].into_iter().map(|n| LogName::new(n).unwrap()).collect();
        let mut s = FaultyStorage::new(crate::FileStorage::open_dir(root.path()).unwrap());
        for log in &logs {
            s.open(log, LogConfig::default()).unwrap();
            s.append(log, 1, log.as_str().as_bytes()).unwrap();
        }
        // The next sync fails: that is the first log's, and it fences that log only.
        s.fail_next_sync();
        let results = s.sync_many(&logs);
        assert!(results[0].as_ref().is_err_and(StorageError::is_failed), "{:?}", results[0]);
        assert_eq!(results[1..].iter().map(|r| *r.as_ref().unwrap()).collect::<Vec<_>>(), [2, 2]);
        assert_eq!(s.inner().next_seq(&logs[0]).unwrap(), 1, "the failed log's record never reached disk");
        assert!(s.append(&logs[0], 2, b"x").unwrap_err().is_failed());
        // Operation counting goes log by log too: the first sync passes, the second fails.
        s.append(&logs[1], 2, b"b2").unwrap();
        s.append(&logs[2], 2, b"c2").unwrap();
        s.fail_after(1);
        let results = s.sync_many(&logs[1..]);
        assert_eq!(*results[0].as_ref().unwrap(), 3);
        assert!(results[1].as_ref().is_err_and(StorageError::is_failed), "{:?}", results[1]);
        assert_eq!(s.inner().durable_next_seq(&logs[1]).unwrap(), 3);
        assert_eq!(s.inner().durable_next_seq(&logs[2]).unwrap(), 2);
    }
}
