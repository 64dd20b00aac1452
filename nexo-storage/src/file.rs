//! [`FileStorage`]: the file backend. Owns the data-directory lock and the table of open logs,
//! and turns a failed write of a log into a fence on that log.
//!
//! Per-log work is in `filelog.rs` (operations) and `recovery.rs` (opening); this module only
//! dispatches and decides what a failure means.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::filelog::FileLog;
use crate::lock::DirLock;
use crate::segment::fsync_dir;
use crate::{LogConfig, LogName, Record, Recovery, Storage, StorageError, recovery};

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

    fn read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        self.read_op(log, |l| l.read(from_seq, max_records, max_bytes))
    }

    fn seq_at_time(&mut self, log: &LogName, timestamp_ms: u64) -> Result<u64, StorageError> {
        self.read_op(log, |l| l.seq_at_time(timestamp_ms))
    }

    fn roll(&mut self, log: &LogName) -> Result<(), StorageError> {
        self.write(log, FileLog::roll)
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
}
