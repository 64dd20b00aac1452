//! [`FileStorage`]: the file backend. Owns the data-directory lock and the table of open logs,
//! and turns a failed write of a log into a fence on that log.
//!
//! Per-log work is in `filelog.rs` (operations) and `recovery.rs` (opening); this module only
//! dispatches and decides what a failure means, and orders the phases of `sync_many` (write every
//! log, fsync them concurrently, then apply each outcome to its own log).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::filelog::{self, FileLog, SyncWrite};
use crate::lock::DirLock;
use crate::segment::fsync_dir;
use crate::{DetachedRead, LogConfig, LogName, Record, Recovery, Storage, StorageError, recovery};

/// An open log, or the reason it was fenced.
#[derive(Debug)]
enum Slot {
    Open(Box<FileLog>),
    Fenced(String),
}

/// The file backend: `<root>/<log name>/` per log, locked with `<root>/LOCK`.
///
/// Dropping it writes buffered records to the OS (no fsync) and releases the lock.
#[derive(Debug)]
pub struct FileStorage {
    /// Declared first so it drops first: buffered records are written before the lock goes.
    logs: BTreeMap<LogName, Slot>,
    root: PathBuf,
    lock: DirLock,
}

impl FileStorage {
    /// Opens the data directory `root` (creating it if missing) and takes its lock.
    ///
    /// # Errors
    /// [`StorageError::Locked`] when another process (or another `FileStorage`) holds the lock;
    /// [`StorageError::Io`] when the directory cannot be created or the lock file opened.
    pub fn open_dir(root: &Path) -> Result<Self, StorageError> {
        fs::create_dir_all(root).map_err(StorageError::io("create directory", root))?;
        let lock = DirLock::acquire(root)?;
        Ok(FileStorage { logs: BTreeMap::new(), root: root.to_path_buf(), lock })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lock file held.
    pub fn lock_path(&self) -> &Path {
        self.lock.path()
    }

    fn log(&self, log: &LogName) -> Result<&FileLog, StorageError> {
        match self.logs.get(log) {
            None => Err(StorageError::NotOpen { log: log.clone() }),
            Some(Slot::Fenced(why)) => Err(StorageError::Failed { log: log.clone(), why: why.clone() }),
            Some(Slot::Open(l)) => Ok(l),
        }
    }

    /// Runs an operation that changes the log; an I/O failure fences it.
    fn write<T>(
        &mut self,
        log: &LogName,
        op: impl FnOnce(&mut FileLog) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let slot = self.logs.get_mut(log).ok_or_else(|| StorageError::NotOpen { log: log.clone() })?;
        let l = match slot {
            Slot::Fenced(why) => return Err(StorageError::Failed { log: log.clone(), why: why.clone() }),
            Slot::Open(l) => l,
        };
        match op(l) {
            Err(e) if e.fences() => {
                l.discard();
                let why = e.to_string();
                *slot = Slot::Fenced(why.clone());
                Err(StorageError::Failed { log: log.clone(), why })
            }
            other => other,
        }
    }

    /// Runs an operation that only reads (it may cache); a failure does not fence.
    fn read_op<T>(
        &mut self,
        log: &LogName,
        op: impl FnOnce(&mut FileLog) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        match self.logs.get_mut(log) {
            None => Err(StorageError::NotOpen { log: log.clone() }),
            Some(Slot::Fenced(why)) => Err(StorageError::Failed { log: log.clone(), why: why.clone() }),
            Some(Slot::Open(l)) => op(l),
        }
    }
}

impl Storage for FileStorage {
    fn open(&mut self, log: &LogName, config: LogConfig) -> Result<Recovery, StorageError> {
        match self.logs.get_mut(log) {
            Some(Slot::Fenced(why)) => Err(StorageError::Failed { log: log.clone(), why: why.clone() }),
            Some(Slot::Open(l)) => {
                l.config = config;
                Ok(l.summary())
            }
            None => {
                let (l, recovery) = recovery::open_log(&self.root, log, config)?;
                self.logs.insert(log.clone(), Slot::Open(Box::new(l)));
                Ok(recovery)
            }
        }
    }

    fn list(&self) -> Result<Vec<LogName>, StorageError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(StorageError::io("list", &self.root))? {
            let entry = entry.map_err(StorageError::io("list", &self.root))?;
            let is_dir = entry.file_type().map_err(StorageError::io("list", &self.root))?.is_dir();
            if let (true, Some(name)) = (is_dir, entry.file_name().to_str())
                && let Ok(name) = LogName::new(name)
            {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn append(&mut self, log: &LogName, timestamp_ms: u64, payload: &[u8]) -> Result<u64, StorageError> {
        self.write(log, |l| l.append(log, timestamp_ms, payload))
    }

    fn flush(&mut self, log: &LogName) -> Result<(), StorageError> {
        self.write(log, FileLog::flush)
    }

    fn sync(&mut self, log: &LogName) -> Result<u64, StorageError> {
        self.write(log, FileLog::sync)
    }

    /// [`Storage::sync`] of every log in `logs`, with the fsyncs running concurrently: first each
    /// log's buffered records are written to its file (serially; a failed write fences that log
    /// only), then the files are fsynced at once on up to `MAX_FSYNC_THREADS` threads (none
    /// for a single log), then each outcome is applied as `sync` applies it: success advances
    /// the log's `durable_next_seq`, failure fences that log only. A log named twice is fsynced
    /// once; its later entries answer what a second `sync` would.
    fn sync_many(&mut self, logs: &[LogName]) -> Vec<Result<u64, StorageError>> {
        // Write phase. `None`: decided below (after the fsync, or a repeated name).
        let mut results: Vec<Option<Result<u64, StorageError>>> = Vec::with_capacity(logs.len());
        let mut to_fsync: Vec<(&LogName, usize, u64)> = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, log) in logs.iter().enumerate() {
            if !seen.insert(log) {
                results.push(None);
                continue;
            }
            results.push(match self.write(log, FileLog::sync_write) {
                Ok(SyncWrite::Durable(durable_next_seq)) => Some(Ok(durable_next_seq)),
                Ok(SyncWrite::NeedsFsync { target }) => {
                    to_fsync.push((log, i, target));
                    None
                }
                Err(e) => Some(Err(e)),
            });
        }
        // Fsync phase, concurrent. Every log here passed its write phase just now, so it is open.
        let storage = &*self;
        let outcomes =
            filelog::fsync_all(&to_fsync, |&(log, _, _)| storage.log(log).and_then(FileLog::sync_fsync));
        // Finish phase: through `write`, so a failed fsync fences exactly as in `sync`.
        for ((log, i, target), outcome) in to_fsync.into_iter().zip(outcomes) {
            let result = self.write(log, |l| outcome.map(|()| l.sync_finish(target)));
            if let Some(slot) = results.get_mut(i) {
                *slot = Some(result);
            }
        }
        // Repeated names (and anything left undecided): a plain `sync`, after the first one.
        logs.iter().zip(results).map(|(log, result)| result.unwrap_or_else(|| self.sync(log))).collect()
    }

    fn read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        self.read_op(log, |l| l.read(from_seq, max_records, max_bytes))
    }

    fn detach_read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Option<DetachedRead>, StorageError> {
        self.read_op(log, |l| l.detach_read(from_seq, max_records, max_bytes).map(Some))
    }

    fn seq_at_time(&mut self, log: &LogName, timestamp_ms: u64) -> Result<u64, StorageError> {
        self.read_op(log, |l| l.seq_at_time(timestamp_ms))
    }

    fn roll(&mut self, log: &LogName) -> Result<(), StorageError> {
        self.write(log, FileLog::roll)
    }

    fn skip_to(&mut self, log: &LogName, next_seq: u64) -> Result<u64, StorageError> {
        self.write(log, |l| l.skip_to(next_seq))
    }

    fn truncate_before(&mut self, log: &LogName, seq: u64) -> Result<u64, StorageError> {
        self.write(log, |l| l.truncate_before(seq))
    }

    fn retain(
        &mut self,
        log: &LogName,
        now_ms: u64,
        max_age_ms: u64,
        max_bytes: u64,
    ) -> Result<u64, StorageError> {
        self.write(log, |l| l.retain(now_ms, max_age_ms, max_bytes))
    }

    fn remove(&mut self, log: &LogName) -> Result<(), StorageError> {
        if let Some(Slot::Fenced(why)) = self.logs.get(log) {
            return Err(StorageError::Failed { log: log.clone(), why: why.clone() });
        }
        if let Some(Slot::Open(mut l)) = self.logs.remove(log) {
            l.discard();
        }
        let dir = self.root.join(log.as_str());
        match fs::remove_dir_all(&dir) {
            Ok(()) => fsync_dir(&self.root),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io("delete", &dir)(e)),
        }
    }

    fn bytes(&self, log: &LogName) -> Result<u64, StorageError> {
        self.log(log).map(FileLog::bytes)
    }

    fn next_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        self.log(log).map(FileLog::next_seq)
    }

    fn first_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        self.log(log).map(FileLog::first_seq)
    }

    fn durable_next_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        self.log(log).map(|l| l.durable_next_seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_twice_and_list_only_log_directories() {
        let root = tempfile::tempdir().unwrap();
        let mut s = FileStorage::open_dir(root.path()).unwrap();
        let log = LogName::new("q").unwrap();
        s.open(&log, LogConfig::default()).unwrap();
        s.append(&log, 1, b"a").unwrap();
        let again = s.open(&log, LogConfig::default()).unwrap();
        assert_eq!((again.next_seq, again.records), (2, 1), "opening an open log reports its state");
        fs::create_dir(root.path().join(".hidden")).unwrap();
        fs::write(root.path().join("stray-file"), b"").unwrap();
        assert_eq!(s.list().unwrap(), vec![log]);
        assert_eq!(s.root(), root.path());
    }

    fn names(n: usize) -> Vec<LogName> {
        (0..n).map(|i| LogName::new(&format!("log-{i:02}")).unwrap()).collect()
    }

    /// Opens `logs` and appends `i + 1` records to the i-th (none to the last, so one log has
    /// nothing to fsync).
    fn populate(s: &mut impl Storage, logs: &[LogName]) {
        for (i, log) in logs.iter().enumerate() {
            s.open(log, LogConfig::default()).unwrap();
            let count = if i + 1 == logs.len() { 0 } else { i as u64 + 1 };
            for n in 0..count {
                s.append(log, n, format!("{log}/{n}").as_bytes()).unwrap();
            }
        }
    }

    /// Replaces the active segment's file handle of `log`, to make its write or fsync fail.
    fn swap_file(s: &mut FileStorage, log: &LogName, file: fs::File) {
        match s.logs.get_mut(log) {
            Some(Slot::Open(l)) => l.active.file = file,
            _ => panic!("{log} is not open"),
        }
    }

    #[test]
    fn sync_many_makes_every_log_durable_with_results_in_order() {
        let root = tempfile::tempdir().unwrap();
        // More logs than fsync threads, so several chunks run on spawned threads.
        let logs = names(filelog::MAX_FSYNC_THREADS * 2 + 3);
        let mut s = FileStorage::open_dir(root.path()).unwrap();
        populate(&mut s, &logs);
        let expected: Vec<u64> = logs.iter().map(|log| s.next_seq(log).unwrap()).collect();
        assert!(expected.iter().take(logs.len() - 1).all(|&next| next > 1));

        let got: Vec<u64> = s.sync_many(&logs).into_iter().map(Result::unwrap).collect();
        assert_eq!(got, expected, "one result per log, in order");
        for (log, next) in logs.iter().zip(&expected) {
            assert_eq!(s.durable_next_seq(log).unwrap(), *next);
        }
        // Reversed, with nothing new: every log answers its durable mark, still in order.
        let reversed: Vec<LogName> = logs.iter().rev().cloned().collect();
        let again: Vec<u64> = s.sync_many(&reversed).into_iter().map(Result::unwrap).collect();
        assert_eq!(again, expected.iter().rev().copied().collect::<Vec<_>>());
        assert!(s.sync_many(&[]).is_empty());

        drop(s);
        let mut s = FileStorage::open_dir(root.path()).unwrap();
        for (i, (log, next)) in logs.iter().zip(&expected).enumerate() {
            let recovery = s.open(log, LogConfig::default()).unwrap();
            assert_eq!((recovery.next_seq, recovery.dropped_bytes), (*next, 0), "{log}");
            let records = s.read(log, 1, usize::MAX, usize::MAX).unwrap();
            assert_eq!(records.len() as u64, next - 1);
            for (n, r) in records.iter().enumerate() {
                assert_eq!(r.payload.as_ref(), format!("{log}/{n}").as_bytes(), "log {i}");
            }
        }
    }

    #[test]
    fn sync_many_answers_like_one_sync_per_log() {
        // Repeated names, a log not open and a clean log: the file backend's `sync_many` gives
        // the same answers as the default (one `sync` after another) of the memory backend.
        let root = tempfile::tempdir().unwrap();
        let mut file = FileStorage::open_dir(root.path()).unwrap();
        let mut memory = crate::MemoryStorage::new();
        let logs = names(4);
        populate(&mut file, &logs);
        populate(&mut memory, &logs);
        let missing = LogName::new("missing").unwrap();
        let calls = [&logs[1], &logs[0], &logs[1], &missing, &logs[3], &logs[2], &logs[0]];
        let calls: Vec<LogName> = calls.into_iter().cloned().collect();
        let text = |results: Vec<Result<u64, StorageError>>| -> Vec<String> {
            results.into_iter().map(|r| format!("{r:?}")).collect()
        };
        let from_file = text(file.sync_many(&calls));
        assert_eq!(from_file, text(memory.sync_many(&calls)));
        assert_eq!(from_file[0], "Ok(3)");
        assert!(from_file[3].starts_with("Err(NotOpen"), "{}", from_file[3]);
    }

    /// `/dev/null` accepts writes but refuses fsync (`EINVAL`); opened read-only it refuses
    /// writes too. That makes one log's fsync (or write) fail among many.
    #[cfg(target_os = "linux")]
    #[test]
    fn sync_many_fences_only_the_logs_that_fail() {
        let root = tempfile::tempdir().unwrap();
        let logs = names(12);
        let (bad_fsync, bad_write) = (&logs[7], &logs[2]);
        let mut s = FileStorage::open_dir(root.path()).unwrap();
        populate(&mut s, &logs);
        let expected: Vec<u64> = logs.iter().map(|log| s.next_seq(log).unwrap()).collect();
        let dev_null_rw = fs::OpenOptions::new().write(true).open("/dev/null").unwrap();
        swap_file(&mut s, bad_fsync, dev_null_rw);
        swap_file(&mut s, bad_write, fs::File::open("/dev/null").unwrap());

        let results = s.sync_many(&logs);
        assert_eq!(results.len(), logs.len());
        for ((log, result), next) in logs.iter().zip(&results).zip(&expected) {
            match result {
                Err(e) if log == bad_fsync || log == bad_write => {
                    assert!(e.is_failed(), "{log}: {e}");
                    let op = if log == bad_fsync { "fsync" } else { "write" };
                    let text = e.to_string();
                    assert!(text.contains(&format!("log '{log}' refuses writes")), "{text}");
                    assert!(text.contains(&format!("({op} ")), "{text}");
                }
                Ok(durable) if log != bad_fsync && log != bad_write => {
                    assert_eq!(durable, next, "{log}");
                }
                other => panic!("{log}: unexpected {other:?}"),
            }
        }
        // The failed logs stay fenced with their reason; the others carry on.
        for log in [bad_fsync, bad_write] {
            let fenced = s.append(log, 9, b"more").unwrap_err();
            assert!(fenced.is_failed(), "{fenced}");
            let again = s.sync_many(std::slice::from_ref(log));
            assert_eq!(format!("{:?}", again[0].as_ref().unwrap_err()), format!("{fenced:?}"));
        }
        let healthy = &logs[8];
        let seq = s.append(healthy, 9, b"more").unwrap();
        let both = s.sync_many(&[bad_fsync.clone(), healthy.clone()]);
        assert!(both[0].as_ref().is_err_and(StorageError::is_failed));
        assert_eq!(both[1].as_ref().ok(), Some(&(seq + 1)));
    }

    #[test]
    fn a_full_disk_refuses_writes_for_a_while_without_fencing() {
        let root = tempfile::tempdir().unwrap();
        let mut s = FileStorage::open_dir(root.path()).unwrap();
        let log = LogName::new("full").unwrap();
        s.open(&log, LogConfig::default()).unwrap();
        s.append(&log, 1, b"before").unwrap();
        assert_eq!(s.sync(&log).unwrap(), 2);
        let real = match s.logs.get(&log) {
            Some(Slot::Open(l)) => l.active.file.try_clone().unwrap(),
            _ => panic!("open"),
        };
        // Every write to /dev/full fails with ENOSPC, as on a full disk.
        swap_file(&mut s, &log, fs::OpenOptions::new().append(true).open("/dev/full").unwrap());
        assert_eq!(s.append(&log, 2, b"during").unwrap(), 2, "appends are buffered");
        let refused = s.sync(&log).unwrap_err();
        assert!(refused.is_transient() && !refused.is_failed(), "{refused}");
        let many = s.sync_many(std::slice::from_ref(&log));
        assert!(many[0].as_ref().is_err_and(StorageError::is_transient));
        assert_eq!(s.durable_next_seq(&log).unwrap(), 2);
        assert_eq!(s.append(&log, 3, b"still").unwrap(), 3, "not fenced");
        // Space is back.
        swap_file(&mut s, &log, real);
        assert_eq!(s.sync(&log).unwrap(), 4);
        let texts: Vec<_> = s.read(&log, 1, 10, usize::MAX).unwrap().into_iter().map(|r| r.payload).collect();
        assert_eq!(texts, [&b"before"[..], b"during", b"still"]);
        drop(s);
        let mut s = FileStorage::open_dir(root.path()).unwrap();
        let again = s.open(&log, LogConfig::default()).unwrap();
        assert_eq!((again.records, again.dropped_bytes), (3, 0));
    }
}
