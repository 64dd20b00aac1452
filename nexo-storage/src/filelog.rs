//! One open log of the file backend: its sealed segments, the active segment being written, the
//! write buffer, and every operation on them (append, flush, sync, roll, truncation, reads).
//! A sync is three phases (write the buffer, fsync, record the durable mark) so that
//! [`fsync_all`] can run the fsync phase of many logs concurrently for `Storage::sync_many`.
//!
//! Durability order: record bytes are written and fsynced before a segment is sealed; a sealed
//! segment's index is written and fsynced before the next segment file is created; the log
//! directory is fsynced after every file creation or deletion. Errors are returned as they are;
//! fencing the log after a failed write is the caller's job (`file.rs`). Recovery (building a
//! `FileLog` from disk) lives in `recovery.rs`.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::detached::{DetachedRead, IndexCache, walk_tail};
use crate::index::{self, IndexEntry, SparseIndex};
use crate::record::{self, RecordRef};
use crate::segment::{self, Flow, fsync_dir};
use crate::{LogConfig, LogName, Record, Recovery, StorageError};

/// Buffered record bytes that trigger a write to the file without waiting for a sync.
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// A sealed segment: complete, fsynced, indexed, never written again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SealedSegment {
    /// Sequence number of its first record (its file name).
    pub base: u64,
    /// Sequence number after its last record.
    pub end: u64,
    /// File size.
    pub bytes: u64,
    /// Timestamp of its first record.
    pub first_ts: u64,
    /// Timestamp of its last record.
    pub last_ts: u64,
}

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct Active {
    /// Sequence number of its first record (its file name).
    pub base: u64,
    /// Its path.
    pub path: PathBuf,
    /// Opened for reading and appending.
    pub file: File,
    /// Bytes already written to the file.
    pub flushed: u64,
    /// Encoded records not yet written; they start at byte `flushed`.
    pub buf: Vec<u8>,
    /// Sequence number the next append gets.
    pub next_seq: u64,
    /// Timestamp of its first record.
    pub first_ts: Option<u64>,
    /// Its last record.
    pub last: Option<IndexEntry>,
    /// Its sparse index so far.
    pub index: SparseIndex,
}

impl Active {
    /// Creates the empty segment file for `base` (the caller fsyncs the directory).
    pub(crate) fn create(dir: &Path, base: u64, index_every_bytes: u64) -> Result<Active, StorageError> {
        let path = segment::segment_path(dir, base);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(StorageError::io_or_transient("create", &path))?;
        Ok(Active {
            base,
            path,
            file,
            flushed: 0,
            buf: Vec::new(),
            next_seq: base,
            first_ts: None,
            last: None,
            index: SparseIndex::new(index_every_bytes),
        })
    }

    /// Size of the segment, buffered bytes included.
    pub(crate) fn len(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    fn is_empty(&self) -> bool {
        self.next_seq == self.base
    }
}

/// One open log.
#[derive(Debug)]
pub(crate) struct FileLog {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) sealed: VecDeque<SealedSegment>,
    pub(crate) active: Active,
    pub(crate) durable_next_seq: u64,
    /// Sparse indexes of sealed segments read in place.
    indexes: IndexCache,
}

impl FileLog {
    /// Assembles a log from recovered parts.
    pub(crate) fn new(
        dir: PathBuf,
        config: LogConfig,
        sealed: VecDeque<SealedSegment>,
        active: Active,
    ) -> Self {
        let durable_next_seq = active.next_seq;
        FileLog { dir, config, sealed, active, durable_next_seq, indexes: IndexCache::default() }
    }

    /// Sequence number of the oldest record (the next one if the log is empty).
    pub(crate) fn first_seq(&self) -> u64 {
        self.sealed.front().map_or(self.active.base, |s| s.base)
    }

    /// Sequence number the next append gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.active.next_seq
    }

    /// Bytes of all segments, buffered bytes included.
    pub(crate) fn bytes(&self) -> u64 {
        self.sealed.iter().map(|s| s.bytes).sum::<u64>() + self.active.len()
    }

    /// The current state, as [`Recovery`] reports it (nothing dropped).
    pub(crate) fn summary(&self) -> Recovery {
        let records = self.sealed.iter().map(|s| s.end - s.base).sum::<u64>()
            + (self.active.next_seq - self.active.base);
        Recovery {
            next_seq: self.next_seq(),
            first_seq: self.first_seq(),
            records,
            dropped_bytes: 0,
            dropped_reason: None,
            damaged_ranges: 0,
            quarantined_bytes: 0,
        }
    }

    /// Timestamp of the newest record still present.
    fn last_ts(&self) -> Option<u64> {
        self.active.last.map(|l| l.timestamp_ms).or_else(|| self.sealed.back().map(|s| s.last_ts))
    }

    /// Drops buffered bytes without writing them (the log is being fenced).
    pub(crate) fn discard(&mut self) {
        self.active.buf.clear();
    }

    /// Buffers one record and returns its sequence number; see [`crate::Storage::append`].
    pub(crate) fn append(
        &mut self,
        log: &LogName,
        timestamp_ms: u64,
        payload: &[u8],
    ) -> Result<u64, StorageError> {
        if payload.len() > record::MAX_PAYLOAD_BYTES {
            let max = record::MAX_PAYLOAD_BYTES;
            return Err(StorageError::TooLarge { log: log.clone(), bytes: payload.len(), max });
        }
        let ts = self.last_ts().map_or(timestamp_ms, |last| timestamp_ms.max(last));
        let len = record::encoded_len(payload.len()) as u64;
        if !self.active.is_empty() && roll_due(&self.config, &self.active, len, ts) {
            // Disk full or out of descriptors: the record goes to the active segment, past its
            // size; the roll is tried again on the next append.
            passing(self.roll())?;
        }
        let seq = self.active.next_seq;
        let pos = self.active.len();
        record::encode(&mut self.active.buf, seq, ts, payload).map_err(|e| StorageError::TooLarge {
            log: log.clone(),
            bytes: e.bytes,
            max: record::MAX_PAYLOAD_BYTES,
        })?;
        let entry = IndexEntry { seq, pos, timestamp_ms: ts };
        self.active.index.note(entry);
        self.active.last = Some(entry);
        self.active.first_ts.get_or_insert(ts);
        self.active.next_seq += 1;
        if self.active.buf.len() >= WRITE_BUFFER_BYTES {
            // The record is buffered either way; a refused write is retried by the next flush.
            passing(self.flush())?;
        }
        Ok(seq)
    }

    /// Writes buffered records to the file (no fsync). A write refused for a passing reason
    /// (disk full) leaves the file as it was (a partly written buffer is cut back) and the
    /// buffer whole, and answers [`StorageError::Transient`]: the next flush writes it again.
    pub(crate) fn flush(&mut self) -> Result<(), StorageError> {
        let a = &mut self.active;
        if a.buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = a.file.write_all(&a.buf) {
            let err = StorageError::io_or_transient("write", &a.path)(e);
            if err.is_transient() {
                let len = a.file.metadata().map_err(StorageError::io("stat", &a.path))?.len();
                if len > a.flushed {
                    a.file.set_len(a.flushed).map_err(StorageError::io("truncate", &a.path))?;
                }
            }
            return Err(err);
        }
        a.flushed += a.buf.len() as u64;
        a.buf.clear();
        Ok(())
    }

    /// Writes and fsyncs everything appended; returns the durable next sequence number.
    ///
    /// The three phases ([`FileLog::sync_write`], [`FileLog::sync_fsync`],
    /// [`FileLog::sync_finish`]) are separate so `FileStorage::sync_many` can run the fsyncs of
    /// many logs at once (see [`fsync_all`]) and still apply each outcome exactly as here.
    pub(crate) fn sync(&mut self) -> Result<u64, StorageError> {
        match self.sync_write()? {
            SyncWrite::Durable(durable_next_seq) => Ok(durable_next_seq),
            SyncWrite::NeedsFsync { target } => {
                self.sync_fsync()?;
                Ok(self.sync_finish(target))
            }
        }
    }

    /// Write phase of a sync: hands the buffered records to the file (no fsync). Answers
    /// [`SyncWrite::Durable`] when everything appended is durable already (nothing to fsync).
    pub(crate) fn sync_write(&mut self) -> Result<SyncWrite, StorageError> {
        if self.durable_next_seq == self.active.next_seq {
            return Ok(SyncWrite::Durable(self.durable_next_seq));
        }
        self.flush()?;
        Ok(SyncWrite::NeedsFsync { target: self.active.next_seq })
    }

    /// Fsync phase of a sync: `fdatasync` of the active segment. Takes `&self` so the fsyncs of
    /// several logs can run on several threads at once. A failure must fence the log (the caller
    /// does it); the fsync is never retried.
    pub(crate) fn sync_fsync(&self) -> Result<(), StorageError> {
        self.active.file.sync_data().map_err(StorageError::io("fsync", &self.active.path))
    }

    /// Last phase of a sync, after a successful fsync: every record below `target` (the value
    /// [`FileLog::sync_write`] returned) is durable. Returns the new durable next sequence number.
    pub(crate) fn sync_finish(&mut self, target: u64) -> u64 {
        self.durable_next_seq = self.durable_next_seq.max(target);
        self.durable_next_seq
    }

    /// Seals the active segment (if it has records) and starts a new one at the next sequence.
    pub(crate) fn roll(&mut self) -> Result<(), StorageError> {
        let next = self.active.next_seq;
        self.roll_to(next)
    }

    /// Seals the active segment and starts a new one at `new_base` (at least the next sequence;
    /// recovery skips past damaged records with a larger one). An empty active segment is not
    /// sealed: its file is replaced (or kept when `new_base` is its own base).
    pub(crate) fn roll_to(&mut self, new_base: u64) -> Result<(), StorageError> {
        if self.active.is_empty() {
            if new_base == self.active.base {
                return Ok(());
            }
            let fresh = Active::create(&self.dir, new_base, self.config.index_every_bytes)?;
            fsync_dir(&self.dir)?;
            let old = std::mem::replace(&mut self.active, fresh);
            remove_file(&old.path)?;
            remove_file(&segment::index_path(&self.dir, old.base))?;
            return fsync_dir(&self.dir);
        }
        self.sync()?;
        let a = &self.active;
        let sealed = SealedSegment {
            base: a.base,
            end: a.next_seq,
            bytes: a.len(),
            first_ts: a.first_ts.unwrap_or(0),
            last_ts: a.last.map_or(0, |l| l.timestamp_ms),
        };
        write_index(&self.dir, a.base, &index::encode_all(a.index.entries(), a.last))?;
        let fresh = Active::create(&self.dir, new_base, self.config.index_every_bytes)?;
        fsync_dir(&self.dir)?;
        self.active = fresh;
        self.sealed.push_back(sealed);
        Ok(())
    }

    /// Continues the log at `next_seq` if it is behind; see [`crate::Storage::skip_to`].
    pub(crate) fn skip_to(&mut self, next_seq: u64) -> Result<u64, StorageError> {
        if next_seq > self.active.next_seq {
            self.roll_to(next_seq.min(segment::MAX_BASE))?;
            // Everything appended was synced by the roll; the skipped numbers hold no records.
            self.durable_next_seq = self.active.next_seq;
        }
        Ok(self.active.next_seq)
    }

    /// Deletes the oldest sealed segments while `drop_front` says so; returns the new first seq.
    fn drop_sealed_while(
        &mut self,
        mut drop_front: impl FnMut(&SealedSegment, u64) -> bool,
    ) -> Result<u64, StorageError> {
        let mut total = self.bytes();
        let mut removed = false;
        while let Some(front) = self.sealed.front() {
            if !drop_front(front, total) {
                break;
            }
            remove_file(&segment::segment_path(&self.dir, front.base))?;
            remove_file(&segment::index_path(&self.dir, front.base))?;
            total -= front.bytes;
            self.sealed.pop_front();
            removed = true;
        }
        if removed {
            fsync_dir(&self.dir)?;
        }
        Ok(self.first_seq())
    }

    /// Deletes sealed segments whose records are all below `seq`.
    pub(crate) fn truncate_before(&mut self, seq: u64) -> Result<u64, StorageError> {
        self.drop_sealed_while(|s, _| s.end <= seq)
    }

    /// Retention; see [`crate::Storage::retain`].
    pub(crate) fn retain(
        &mut self,
        now_ms: u64,
        max_age_ms: u64,
        max_bytes: u64,
    ) -> Result<u64, StorageError> {
        let age_max = self.config.segment_age_max_ms;
        if age_max > 0 && self.active.first_ts.is_some_and(|f| now_ms >= f.saturating_add(age_max)) {
            passing(self.roll())?;
        }
        self.drop_sealed_while(|s, total| {
            let too_old = max_age_ms > 0 && s.last_ts.saturating_add(max_age_ms) < now_ms;
            let too_big = max_bytes > 0 && total > max_bytes;
            too_old || too_big
        })
    }

    /// Reads records from `from_seq` in place; see [`crate::Storage::read`].
    pub(crate) fn read(
        &mut self,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, StorageError> {
        self.detach_read(from_seq, max_records, max_bytes)?.run(&mut self.indexes)
    }

    /// The same read, prepared to run elsewhere; see [`crate::Storage::detach_read`]. Opens only
    /// the segments that can hold the records asked for: sealed ones from the one holding
    /// `from_seq` until they hold `max_records`, then the active one.
    pub(crate) fn detach_read(
        &self,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<DetachedRead, StorageError> {
        let start = from_seq.max(self.first_seq());
        let mut read = DetachedRead::new(start, max_records, max_bytes);
        if max_records == 0 || start >= self.active.next_seq {
            return Ok(read);
        }
        let wanted = u64::try_from(max_records).unwrap_or(u64::MAX);
        let mut held = 0u64;
        let first = self.sealed.partition_point(|s| s.end <= start);
        for seg in self.sealed.iter().skip(first) {
            held = held.saturating_add(seg.end.saturating_sub(start.max(seg.base)));
            read.add_sealed(seg.clone(), self.dir.clone(), self.config.index_every_bytes)?;
            if held >= wanted {
                return Ok(read);
            }
        }
        let a = &self.active;
        let at = index::floor_by_seq(a.index.entries(), start.max(a.base)).unwrap_or(IndexEntry {
            seq: a.base,
            pos: 0,
            timestamp_ms: 0,
        });
        read.add_active(a.path.clone(), &a.file, at, a.flushed, &a.buf)?;
        Ok(read)
    }

    /// First sequence number with a timestamp at or after `timestamp_ms`; see
    /// [`crate::Storage::seq_at_time`].
    pub(crate) fn seq_at_time(&mut self, timestamp_ms: u64) -> Result<u64, StorageError> {
        let mut found = None;
        let mut visit = |r: RecordRef<'_>, _pos: u64| {
            if r.timestamp_ms >= timestamp_ms {
                found = Some(r.seq);
                Flow::Stop
            } else {
                Flow::Continue
            }
        };
        let i = self.sealed.partition_point(|s| s.last_ts < timestamp_ms);
        if let Some(seg) = self.sealed.get(i).cloned() {
            if seg.first_ts >= timestamp_ms {
                return Ok(seg.base);
            }
            let path = segment::segment_path(&self.dir, seg.base);
            let file = File::open(&path).map_err(StorageError::io("open", &path))?;
            let every = self.config.index_every_bytes;
            let index =
                self.indexes.get_or_load(&file, || load_index(&self.dir, &seg, &file, &path, every))?;
            let at = index::floor_by_time(&index, timestamp_ms).unwrap_or(IndexEntry {
                seq: seg.base,
                pos: 0,
                timestamp_ms: 0,
            });
            segment::walk_file(&file, &path, at.pos, seg.bytes, at.seq, &mut visit)?;
        } else {
            let a = &self.active;
            let at = index::floor_by_time(a.index.entries(), timestamp_ms).unwrap_or(IndexEntry {
                seq: a.base,
                pos: 0,
                timestamp_ms: 0,
            });
            let skip = usize::try_from(at.pos.saturating_sub(a.flushed)).unwrap_or(usize::MAX);
            let buffered = a.buf.get(skip..).unwrap_or_default();
            walk_tail(&a.file, &a.path, at, a.flushed, buffered, &mut visit)?;
        }
        Ok(found.unwrap_or(self.active.next_seq))
    }
}

impl Drop for FileLog {
    /// Hands buffered records to the OS, as `BufWriter` does: a process that exits without a
    /// final sync keeps them unless the machine crashes. A fenced log is discarded first.
    fn drop(&mut self) {
        // Nothing can be reported from a drop; the data was never acknowledged as durable.
        let _ = self.flush();
    }
}

/// Outcome of the write phase of a sync ([`FileLog::sync_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncWrite {
    /// Nothing to fsync: every appended record is durable; carries `durable_next_seq`.
    Durable(u64),
    /// The records were written to the file; once it is fsynced, every record below `target` is
    /// durable ([`FileLog::sync_finish`]).
    NeedsFsync {
        /// The durable next sequence number after the fsync.
        target: u64,
    },
}

/// Most threads [`fsync_all`] runs fsyncs on (the calling thread included).
pub(crate) const MAX_FSYNC_THREADS: usize = 8;

/// Runs the fsync phase of several logs at once: `fsync(item)` for every item (in practice,
/// find the item's log and call [`FileLog::sync_fsync`]); returns the outcomes in item order,
/// exactly one per item.
///
/// The items are cut into at most [`MAX_FSYNC_THREADS`] consecutive chunks: the first runs on the
/// calling thread, each other one on a scoped thread, so a single item costs no thread at all.
/// The fsyncs of different files then overlap in the kernel and on the disk instead of queueing
/// one behind the other. A chunk whose thread cannot be started runs on the calling thread.
pub(crate) fn fsync_all<T: Sync>(
    items: &[T],
    fsync: impl Fn(&T) -> Result<(), StorageError> + Sync,
) -> Vec<Result<(), StorageError>> {
    let threads = items.len().clamp(1, MAX_FSYNC_THREADS);
    let per_thread = items.len().div_ceil(threads).max(1);
    let fsync = &fsync;
    let run = move |chunk: &[T]| chunk.iter().map(fsync).collect::<Vec<_>>();
    let mut chunks = items.chunks(per_thread);
    let Some(first) = chunks.next() else { return Vec::new() };
    std::thread::scope(|scope| {
        let spawned: Vec<_> = chunks
            .map(|chunk| {
                let thread = std::thread::Builder::new().name("nexo-fsync".into());
                (chunk, thread.spawn_scoped(scope, move || run(chunk)))
            })
            .collect();
        let mut outcomes = run(first);
        for (chunk, started) in spawned {
            match started {
                Ok(handle) => match handle.join() {
                    Ok(chunk_outcomes) => outcomes.extend(chunk_outcomes),
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                // No thread to be had (resource limits): fsync this chunk here instead.
                Err(_) => outcomes.extend(run(chunk)),
            }
        }
        outcomes
    })
}

/// Whether the record about to be appended must go to a new segment (size or age).
fn roll_due(config: &LogConfig, active: &Active, record_len: u64, ts: u64) -> bool {
    let too_big = active.len().saturating_add(record_len) > config.segment_bytes_max;
    let age_max = config.segment_age_max_ms;
    let too_old = age_max > 0 && active.first_ts.is_some_and(|f| ts >= f.saturating_add(age_max));
    too_big || too_old
}

/// Loads the sparse index of a sealed segment, or rebuilds it by scanning the file when it is
/// missing or does not match the segment.
pub(crate) fn load_index(
    dir: &Path,
    seg: &SealedSegment,
    file: &File,
    path: &Path,
    every: u64,
) -> Result<Vec<IndexEntry>, StorageError> {
    let idx_path = segment::index_path(dir, seg.base);
    if let Ok(bytes) = fs::read(&idx_path)
        && let Some(entries) = index::decode_all(&bytes)
        && entries.first().is_some_and(|e| e.seq == seg.base && e.pos == 0)
        && entries.last().is_some_and(|e| e.seq + 1 == seg.end && e.pos < seg.bytes)
    {
        return Ok(entries);
    }
    let mut data = Vec::new();
    let len = usize::try_from(seg.bytes).unwrap_or(usize::MAX);
    segment::read_at(file, path, 0, len, &mut data)?;
    let scan = segment::scan(&data, seg.base, seg.end, every);
    if let Some(stop) = scan.stop {
        return Err(StorageError::Corrupt { path: path.to_path_buf(), offset: stop.pos, why: stop.why });
    }
    Ok(scan.index.entries().to_vec())
}

/// `Ok` for a [`StorageError::Transient`] failure of something that can wait for a later call
/// (a roll, a flush of buffered records); other results as they are.
fn passing(result: Result<(), StorageError>) -> Result<(), StorageError> {
    match result {
        Err(e) if e.is_transient() => Ok(()),
        other => other,
    }
}

/// Writes a sealed segment's index file and fsyncs it (the caller fsyncs the directory).
pub(crate) fn write_index(dir: &Path, base: u64, bytes: &[u8]) -> Result<(), StorageError> {
    let path = segment::index_path(dir, base);
    let mut file = File::create(&path).map_err(StorageError::io_or_transient("create", &path))?;
    // A partly written index is harmless: it is rewritten by the next try, and recovery ignores
    // the index of the last segment and checks every other.
    file.write_all(bytes).map_err(StorageError::io_or_transient("write", &path))?;
    file.sync_data().map_err(StorageError::io("fsync", &path))
}

/// Removes a file; a file that is already gone is fine.
pub(crate) fn remove_file(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StorageError::io("delete", path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recovery::open_log;

    fn open(dir: &Path, config: LogConfig) -> FileLog {
        open_log(dir, &LogName::new("l").unwrap(), config).unwrap().0
    }

    #[test]
    fn roll_due_by_size_and_age() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes_max: 100,
            segment_age_max_ms: 50,
            index_every_bytes: 0,
            verify_sealed: false,
        };
        let mut l = open(dir.path(), config);
        let log = LogName::new("l").unwrap();
        l.append(&log, 1000, &[0; 40]).unwrap(); // 64 bytes
        assert!(!roll_due(&config, &l.active, 36, 1000));
        assert!(roll_due(&config, &l.active, 37, 1000));
        assert!(!roll_due(&config, &l.active, 1, 1049));
        assert!(roll_due(&config, &l.active, 1, 1050));
        let no_age = LogConfig { segment_age_max_ms: 0, ..config };
        assert!(!roll_due(&no_age, &l.active, 1, u64::MAX));
    }

    #[test]
    fn reads_span_the_file_and_the_write_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let log = LogName::new("l").unwrap();
        let mut l = open(dir.path(), LogConfig { index_every_bytes: 50, ..LogConfig::default() });
        for i in 1..=10u64 {
            l.append(&log, i, format!("p{i}").as_bytes()).unwrap();
            if i == 6 {
                l.flush().unwrap();
                assert_eq!(l.active.buf.len(), 0);
            }
        }
        assert!(l.active.flushed > 0 && !l.active.buf.is_empty());
        assert!(
            l.active.index.entries().iter().any(|e| e.pos > l.active.flushed),
            "an entry inside the buffer"
        );
        for from in 1..=10 {
            let got = l.read(from, 100, usize::MAX).unwrap();
            let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
            assert_eq!(seqs, (from..=10).collect::<Vec<_>>());
            assert_eq!(got[0].payload.as_ref(), format!("p{from}").as_bytes());
            assert_eq!(l.seq_at_time(from).unwrap(), from);
        }
        assert_eq!(l.durable_next_seq, 1);
        assert_eq!(l.sync().unwrap(), 11);
        assert_eq!(l.sync().unwrap(), 11, "nothing new: no fsync");
    }

    #[test]
    fn rolling_an_empty_segment_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = open(dir.path(), LogConfig::default());
        l.roll().unwrap();
        assert!(l.sealed.is_empty());
        assert_eq!(l.active.base, 1);
        l.roll_to(7).unwrap();
        assert_eq!((l.active.base, l.next_seq(), l.first_seq()), (7, 7, 7));
        assert!(!segment::segment_path(&l.dir, 1).exists());
        assert!(segment::segment_path(&l.dir, 7).exists());
    }
}
