//! Nexo's append-only log store: numbered records in segment files, with recovery after a crash.
//!
//! The runtimes use this crate; the engine never does. The engine emits "append these records to
//! log L" and "sync" as outputs; a runtime worker thread calls a [`Storage`], performs group
//! commit (many appends, one [`Storage::sync`] per log, or one [`Storage::sync_many`] for all of
//! them) and reports the durable sequence number back as an input. Everything here is synchronous
//! std I/O with no clock (time comes in as arguments: `timestamp_ms`, `now_ms`) and no threads of
//! its own, except that [`FileStorage`]'s `sync_many` runs the fsyncs of several logs on a few
//! scoped threads that end before it returns.
//!
//! Three backends share the [`Storage`] trait:
//! - [`FileStorage`]: one directory per log under a locked data directory; the format, fsync
//!   order and recovery are documented byte by byte in `docs/STORAGE.md`;
//! - [`MemoryStorage`]: the same semantics in memory, for tests and simulations;
//! - [`FaultyStorage`]: wraps another backend to fail after N operations, fail an fsync, or crash
//!   (losing unsynced records, optionally tearing the last one).
//!
//! Rules every backend keeps:
//! - sequence numbers start at 1, are consecutive within a segment and are never handed out twice
//!   for one log, not after a crash, a torn tail, or truncation of every record;
//! - an append is buffered and durable only once a `sync` returns a `durable_next_seq` above it;
//! - a failed write or fsync fences the log ([`StorageError::Failed`]) for the rest of the
//!   process: nothing is retried behind the caller's back;
//! - timestamps within a log never decrease: an append older than the newest record present is
//!   stored with that record's timestamp (the wall clock can step back).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod budget;
mod detached;
mod error;
mod faulty;
mod file;
mod filelog;
pub mod index;
mod lock;
mod memory;
mod name;
pub mod record;
mod recovery;
mod repair;
mod segment;

use bytes::Bytes;

pub use detached::{DetachedRead, IndexCache};
pub use error::StorageError;
pub use faulty::FaultyStorage;
pub use file::FileStorage;
pub use lock::LOCK_FILE;
pub use memory::MemoryStorage;
pub use name::{LogName, MAX_LOG_NAME_BYTES, MAX_NAME_BYTES, NameError, validate_name};

/// How a log's segments are cut and indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// A segment is sealed before the record that would take it past this size (a larger single
    /// record gets a segment of its own). Default 64 MiB.
    pub segment_bytes_max: u64,
    /// A segment is sealed before a record whose timestamp is this much newer than the segment's
    /// first record, and by [`Storage::retain`] once `now_ms` is that far past it, so small logs
    /// expire too. 0: never by age. Default 1 hour.
    pub segment_age_max_ms: u64,
    /// Distance in bytes between sparse index entries. 0: every record. Default 4 KiB.
    pub index_every_bytes: u64,
    /// At recovery, check every record of the sealed segments (a full scan, split around damage
    /// as the last segment is) instead of only their index's first and last entries. For logs
    /// that are read whole at start-up anyway (the brokers' journals). Default false.
    pub verify_sealed: bool,
}

impl LogConfig {
    /// Default segment size limit: 64 MiB.
    pub const DEFAULT_SEGMENT_BYTES_MAX: u64 = 64 * 1024 * 1024;
    /// Default segment age limit: one hour.
    pub const DEFAULT_SEGMENT_AGE_MAX_MS: u64 = 60 * 60 * 1000;
    /// Default index spacing: 4 KiB.
    pub const DEFAULT_INDEX_EVERY_BYTES: u64 = 4 * 1024;
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes_max: Self::DEFAULT_SEGMENT_BYTES_MAX,
            segment_age_max_ms: Self::DEFAULT_SEGMENT_AGE_MAX_MS,
            index_every_bytes: Self::DEFAULT_INDEX_EVERY_BYTES,
            verify_sealed: false,
        }
    }
}

/// One record read back from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its sequence number.
    pub seq: u64,
    /// Its timestamp (wall-clock milliseconds; never below the previous record's).
    pub timestamp_ms: u64,
    /// Its payload.
    pub payload: Bytes,
}

/// What [`Storage::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Sequence number the next append gets.
    pub next_seq: u64,
    /// Sequence number of the oldest record (equal to `next_seq` when the log is empty).
    pub first_seq: u64,
    /// Number of records in the log.
    pub records: u64,
    /// Bytes cut off because they were torn or corrupt.
    pub dropped_bytes: u64,
    /// Why they were cut off or skipped (file, byte offset, what was found), if anything was.
    pub dropped_reason: Option<String>,
    /// Damaged stretches found in the middle of a segment: each was skipped (the intact records
    /// after it are kept) and its bytes copied to a quarantine file beside the segment.
    pub damaged_ranges: u64,
    /// Bytes copied to quarantine files (`<segment>-at-<offset>.quarantine` in the log directory).
    pub quarantined_bytes: u64,
}

/// An append-only store of named logs. Methods taking a log name answer
/// [`StorageError::NotOpen`] until [`Storage::open`] was called for it, and
/// [`StorageError::Failed`] once the log is fenced.
pub trait Storage: Send {
    /// Opens a log, creating it if missing, else recovering it. Opening an open log changes its
    /// config and returns its current state (nothing dropped).
    ///
    /// # Errors
    /// [`StorageError::Io`] if the log cannot be created, read or repaired;
    /// [`StorageError::Failed`] if it is fenced.
    fn open(&mut self, log: &LogName, config: LogConfig) -> Result<Recovery, StorageError>;

    /// The logs present (on disk, or in memory), in name order, open or not.
    ///
    /// # Errors
    /// [`StorageError::Io`] if the data directory cannot be listed.
    fn list(&self) -> Result<Vec<LogName>, StorageError>;

    /// Buffers one record and returns its sequence number. Not durable until [`Storage::sync`];
    /// cheap (no system call) unless the write buffer is full or the segment rolls.
    ///
    /// # Errors
    /// [`StorageError::TooLarge`] for a payload above [`record::MAX_PAYLOAD_BYTES`] (nothing
    /// written, log not fenced); [`StorageError::Failed`] if a write failed (now or before).
    fn append(&mut self, log: &LogName, timestamp_ms: u64, payload: &[u8]) -> Result<u64, StorageError>;

    /// Hands buffered records to the operating system without fsync: they survive the process
    /// dying but not the machine. For `--fsync interval` and `never`.
    ///
    /// # Errors
    /// [`StorageError::Failed`] if the write failed (the log is fenced).
    fn flush(&mut self, log: &LogName) -> Result<(), StorageError>;

    /// Writes and fsyncs everything appended; returns `durable_next_seq`: every record below it
    /// is durable. A failure fences the log for good; the fsync is never retried.
    ///
    /// # Errors
    /// [`StorageError::Failed`] if the write or fsync failed (now or before).
    fn sync(&mut self, log: &LogName) -> Result<u64, StorageError>;

    /// [`Storage::sync`] of each log in `logs`: one result per log, in the order of `logs`, each
    /// meaning what `sync` of that log alone would answer (a failure fences only its own log).
    /// For group commit over many logs: a backend may overlap the fsyncs ([`FileStorage`] does);
    /// this default syncs the logs one after another.
    fn sync_many(&mut self, logs: &[LogName]) -> Vec<Result<u64, StorageError>> {
        logs.iter().map(|log| self.sync(log)).collect()
    }

    /// Records with `seq >= from_seq` (from the oldest present if `from_seq` is older), at most
    /// `max_records` of them and at most `max_bytes` of payload, except that the first record
    /// is returned whatever its size. Sees unsynced appends too.
    ///
    /// # Errors
    /// [`StorageError::Io`] or [`StorageError::Corrupt`] if a segment cannot be read.
    fn read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError>;

    /// The read [`Storage::read`] would do, prepared to run on another thread with
    /// [`DetachedRead::run`] while this storage goes on (appends, rolls, retention): the files it
    /// needs are opened now. `None` when the backend only reads in place (memory, fault
    /// injection); the caller then calls [`Storage::read`].
    ///
    /// # Errors
    /// [`StorageError::NotOpen`], [`StorageError::Failed`], or [`StorageError::Io`] if a
    /// segment cannot be opened.
    fn detach_read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Option<DetachedRead>, StorageError> {
        let _ = (log, from_seq, max_records, max_bytes);
        Ok(None)
    }

    /// The first sequence number whose timestamp is at or after `timestamp_ms` (the next
    /// sequence number if there is none), found through the sparse index.
    ///
    /// # Errors
    /// [`StorageError::Io`] or [`StorageError::Corrupt`] if a segment cannot be read.
    fn seq_at_time(&mut self, log: &LogName, timestamp_ms: u64) -> Result<u64, StorageError>;

    /// Seals the active segment (after writing and fsyncing it) so the next append goes to a new
    /// one. Does nothing when the active segment is empty.
    ///
    /// # Errors
    /// [`StorageError::Failed`] if a write, fsync or file creation failed.
    fn roll(&mut self, log: &LogName) -> Result<(), StorageError>;

    /// Makes the log's next sequence number at least `next_seq`: when it is lower, the active
    /// segment is sealed (after a sync) and an empty one named `next_seq` starts, leaving a gap.
    /// For a log that lost records the owner knows were handed out (a deleted segment file), and
    /// for a new log that must continue its owner's numbering. Returns the new next sequence.
    ///
    /// # Errors
    /// [`StorageError::Failed`] if a write, fsync or file creation failed.
    fn skip_to(&mut self, log: &LogName, next_seq: u64) -> Result<u64, StorageError>;

    /// Deletes whole sealed segments whose records are all below `seq`; returns the new
    /// `first_seq`. The active segment is never deleted, so the sequence continues.
    ///
    /// # Errors
    /// [`StorageError::Failed`] if a deletion or directory fsync failed.
    fn truncate_before(&mut self, log: &LogName, seq: u64) -> Result<u64, StorageError>;

    /// Retention: seals the active segment if it is older than `segment_age_max_ms` at `now_ms`,
    /// then deletes the oldest sealed segments while their newest record is more than
    /// `max_age_ms` old or the log is above `max_bytes` (0 = no limit). Returns the new
    /// `first_seq`.
    ///
    /// # Errors
    /// [`StorageError::Failed`] if a write, fsync or deletion failed.
    fn retain(
        &mut self,
        log: &LogName,
        now_ms: u64,
        max_age_ms: u64,
        max_bytes: u64,
    ) -> Result<u64, StorageError>;

    /// Deletes the log and its directory. Its sequence numbers are forgotten: a log created again
    /// under the same name starts at 1 (a broker that must not reuse them keeps the last one).
    /// Removing a log that does not exist is not an error.
    ///
    /// # Errors
    /// [`StorageError::Io`] if deletion failed; [`StorageError::Failed`] if the log is fenced.
    fn remove(&mut self, log: &LogName) -> Result<(), StorageError>;

    /// Size of the log's records in bytes, framing and unsynced appends included (index files
    /// are not counted).
    ///
    /// # Errors
    /// [`StorageError::NotOpen`] or [`StorageError::Failed`].
    fn bytes(&self, log: &LogName) -> Result<u64, StorageError>;

    /// Sequence number the next append gets.
    ///
    /// # Errors
    /// [`StorageError::NotOpen`] or [`StorageError::Failed`].
    fn next_seq(&self, log: &LogName) -> Result<u64, StorageError>;

    /// Sequence number of the oldest record (`next_seq` when empty).
    ///
    /// # Errors
    /// [`StorageError::NotOpen`] or [`StorageError::Failed`].
    fn first_seq(&self, log: &LogName) -> Result<u64, StorageError>;

    /// Every record below this sequence number is durable.
    ///
    /// # Errors
    /// [`StorageError::NotOpen`] or [`StorageError::Failed`].
    fn durable_next_seq(&self, log: &LogName) -> Result<u64, StorageError>;
}

impl<S: Storage + ?Sized> Storage for Box<S> {
    fn open(&mut self, log: &LogName, config: LogConfig) -> Result<Recovery, StorageError> {
        (**self).open(log, config)
    }
    fn list(&self) -> Result<Vec<LogName>, StorageError> {
        (**self).list()
    }
    fn append(&mut self, log: &LogName, timestamp_ms: u64, payload: &[u8]) -> Result<u64, StorageError> {
        (**self).append(log, timestamp_ms, payload)
    }
    fn flush(&mut self, log: &LogName) -> Result<(), StorageError> {
        (**self).flush(log)
    }
    fn sync(&mut self, log: &LogName) -> Result<u64, StorageError> {
        (**self).sync(log)
    }
    fn sync_many(&mut self, logs: &[LogName]) -> Vec<Result<u64, StorageError>> {
        (**self).sync_many(logs)
    }
    fn read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        (**self).read(log, from_seq, max_records, max_bytes)
    }
    fn detach_read(
        &mut self,
        log: &LogName,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Option<DetachedRead>, StorageError> {
        (**self).detach_read(log, from_seq, max_records, max_bytes)
    }
    fn seq_at_time(&mut self, log: &LogName, timestamp_ms: u64) -> Result<u64, StorageError> {
        (**self).seq_at_time(log, timestamp_ms)
    }
    fn roll(&mut self, log: &LogName) -> Result<(), StorageError> {
        (**self).roll(log)
    }
    fn skip_to(&mut self, log: &LogName, next_seq: u64) -> Result<u64, StorageError> {
        (**self).skip_to(log, next_seq)
    }
    fn truncate_before(&mut self, log: &LogName, seq: u64) -> Result<u64, StorageError> {
        (**self).truncate_before(log, seq)
    }
    fn retain(
        &mut self,
        log: &LogName,
        now_ms: u64,
        max_age_ms: u64,
        max_bytes: u64,
    ) -> Result<u64, StorageError> {
        (**self).retain(log, now_ms, max_age_ms, max_bytes)
    }
    fn remove(&mut self, log: &LogName) -> Result<(), StorageError> {
        (**self).remove(log)
    }
    fn bytes(&self, log: &LogName) -> Result<u64, StorageError> {
        (**self).bytes(log)
    }
    fn next_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        (**self).next_seq(log)
    }
    fn first_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        (**self).first_seq(log)
    }
    fn durable_next_seq(&self, log: &LogName) -> Result<u64, StorageError> {
        (**self).durable_next_seq(log)
    }
}
