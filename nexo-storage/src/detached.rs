//! Reads that run away from the log's owner: a [`DetachedRead`] holds open file handles and the
//! positions a read needs, so another thread (the runtimes' cold-read thread) can carry it out
//! while the owner goes on appending, rolling and deleting segments.
//!
//! The owner builds the read ([`crate::Storage::detach_read`]): it opens the sealed segments the
//! read may touch, duplicates the active segment's handle and copies the part of the write buffer
//! the read may reach. Open handles keep a file readable after retention unlinks it, so a read
//! started before a deletion still finds its records. Reads use positional I/O (`pread`), never
//! the shared file offset. A sealed segment's sparse index is loaded (or rebuilt by a scan) by
//! whoever runs the read, through an [`IndexCache`] that reader keeps.
//!
//! This module owns no log state and never writes.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

use crate::budget::Budget;
use crate::filelog::{SealedSegment, load_index};
use crate::index::{self, IndexEntry};
use crate::record::RecordRef;
use crate::segment::{self, Flow};
use crate::{Record, StorageError};

/// Sparse indexes kept by one [`IndexCache`].
const CACHED_INDEXES: usize = 32;

/// One file a read walks.
#[derive(Debug)]
enum Part {
    /// A sealed segment (its index is looked up when the read runs).
    Sealed { seg: SealedSegment, dir: PathBuf, path: PathBuf, file: File, index_every_bytes: u64 },
    /// The active segment from index entry `at`: `flushed` bytes in the file, then `tail` (the
    /// write buffer from `flushed`, or from `at.pos` when that is further).
    Active { path: PathBuf, file: File, at: IndexEntry, flushed: u64, tail: Bytes },
}

/// A read of one log, ready to run on any thread. See the module docs.
#[derive(Debug)]
pub struct DetachedRead {
    start: u64,
    max_records: usize,
    max_bytes: usize,
    parts: Vec<Part>,
}

/// A file's identity: device, inode and change time (seconds, nanoseconds), so neither a
/// re-created path nor a reused inode is confused with the file that was indexed.
type FileKey = (u64, u64, i64, i64);

/// Sparse indexes of sealed segments recently read, keyed by the file's identity.
#[derive(Debug, Default)]
pub struct IndexCache {
    entries: VecDeque<(FileKey, Arc<[IndexEntry]>)>,
}

impl IndexCache {
    /// The index of the sealed segment open as `file`, loaded by `load` on a miss.
    pub(crate) fn get_or_load(
        &mut self,
        file: &File,
        load: impl FnOnce() -> Result<Vec<IndexEntry>, StorageError>,
    ) -> Result<Arc<[IndexEntry]>, StorageError> {
        let key = file.metadata().ok().map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()));
        if let Some(key) = key
            && let Some(i) = self.entries.iter().position(|(k, _)| *k == key)
        {
            let hit = self.entries.remove(i).map(|(_, index)| index);
            if let Some(index) = hit {
                self.entries.push_front((key, index.clone()));
                return Ok(index);
            }
        }
        let index: Arc<[IndexEntry]> = load()?.into();
        if let Some(key) = key {
            self.entries.push_front((key, index.clone()));
            self.entries.truncate(CACHED_INDEXES);
        }
        Ok(index)
    }
}

impl DetachedRead {
    /// A read of records from `start` (already at or above the log's first record).
    pub(crate) fn new(start: u64, max_records: usize, max_bytes: usize) -> Self {
        Self { start, max_records, max_bytes, parts: Vec::new() }
    }

    /// Adds a sealed segment, opening its file now.
    pub(crate) fn add_sealed(
        &mut self,
        seg: SealedSegment,
        dir: PathBuf,
        index_every_bytes: u64,
    ) -> Result<(), StorageError> {
        let path = segment::segment_path(&dir, seg.base);
        let file = File::open(&path).map_err(StorageError::io("open", &path))?;
        self.parts.push(Part::Sealed { seg, dir, path, file, index_every_bytes });
        Ok(())
    }

    /// Adds the active segment (a duplicate of its handle, and the buffered bytes the read may
    /// reach).
    pub(crate) fn add_active(
        &mut self,
        path: PathBuf,
        file: &File,
        at: IndexEntry,
        flushed: u64,
        buffered: &[u8],
    ) -> Result<(), StorageError> {
        let file = file.try_clone().map_err(StorageError::io("duplicate handle of", &path))?;
        let skip = usize::try_from(at.pos.saturating_sub(flushed)).unwrap_or(usize::MAX);
        let tail = Bytes::copy_from_slice(buffered.get(skip..).unwrap_or_default());
        self.parts.push(Part::Active { path, file, at, flushed, tail });
        Ok(())
    }

    /// Carries the read out: records with `seq >= start`, within the record and byte limits
    /// (see [`crate::Storage::read`]).
    ///
    /// # Errors
    /// [`StorageError::Io`] or [`StorageError::Corrupt`] if a segment cannot be read.
    pub fn run(self, cache: &mut IndexCache) -> Result<Vec<Record>, StorageError> {
        let mut budget = Budget::new(self.max_records, self.max_bytes);
        let start = self.start;
        let mut visit = |r: RecordRef<'_>, _pos: u64| {
            if r.seq < start {
                return Flow::Continue;
            }
            if !budget.admits(r.payload.len()) {
                return Flow::Stop;
            }
            budget.push(Record {
                seq: r.seq,
                timestamp_ms: r.timestamp_ms,
                payload: Bytes::copy_from_slice(r.payload),
            });
            if budget.full() { Flow::Stop } else { Flow::Continue }
        };
        for part in self.parts {
            let flow = match part {
                Part::Sealed { seg, dir, path, file, index_every_bytes } => {
                    let index = cache
                        .get_or_load(&file, || load_index(&dir, &seg, &file, &path, index_every_bytes))?;
                    let at = index::floor_by_seq(&index, start.max(seg.base)).unwrap_or(IndexEntry {
                        seq: seg.base,
                        pos: 0,
                        timestamp_ms: 0,
                    });
                    segment::walk_file(&file, &path, at.pos, seg.bytes, at.seq, &mut visit)?.0
                }
                Part::Active { path, file, at, flushed, tail } => {
                    walk_tail(&file, &path, at, flushed, &tail, &mut visit)?
                }
            };
            if flow == Flow::Stop {
                break;
            }
        }
        Ok(budget.into_records())
    }
}

/// Walks an active segment from index entry `at`: the file up to `flushed`, then `buffered` (the
/// bytes from `max(at.pos, flushed)` on).
pub(crate) fn walk_tail(
    file: &File,
    path: &std::path::Path,
    at: IndexEntry,
    flushed: u64,
    buffered: &[u8],
    visit: &mut segment::Visit<'_>,
) -> Result<Flow, StorageError> {
    let (mut pos, mut seq) = (at.pos, at.seq);
    if pos < flushed {
        let (flow, next) = segment::walk_file(file, path, pos, flushed, seq, visit)?;
        if flow == Flow::Stop {
            return Ok(Flow::Stop);
        }
        (pos, seq) = (flushed, next);
    }
    // Index entries sit on record boundaries, so `pos` starts a record of the buffer.
    Ok(segment::walk_slice(buffered, path, pos, seq, visit)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileStorage, LogConfig, LogName, Storage};

    /// A log of 60 records in segments of about ten records, the last ones still buffered.
    fn log_with_segments(root: &std::path::Path) -> (FileStorage, LogName) {
        let mut s = FileStorage::open_dir(root).unwrap();
        let log = LogName::new("t").unwrap();
        let config = LogConfig {
            segment_bytes_max: 400,
            segment_age_max_ms: 0,
            index_every_bytes: 64,
            verify_sealed: false,
        };
        s.open(&log, config).unwrap();
        for i in 0..60u64 {
            s.append(&log, i, format!("record-{i:04}").as_bytes()).unwrap();
            if i == 50 {
                s.sync(&log).unwrap();
            }
        }
        (s, log)
    }

    fn seqs(records: &[Record]) -> Vec<u64> {
        records.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn a_detached_read_returns_what_an_in_place_read_returns() {
        let root = tempfile::tempdir().unwrap();
        let (mut s, log) = log_with_segments(root.path());
        let mut cache = IndexCache::default();
        for (from, max_records, max_bytes) in [
            (1, 5, 1 << 20),
            (7, 30, 1 << 20),
            (13, 100, 1 << 20),
            (55, 10, 1 << 20),
            (20, 50, 40),
            (61, 5, 99),
        ] {
            let expected = s.read(&log, from, max_records, max_bytes).unwrap();
            let detached = s.detach_read(&log, from, max_records, max_bytes).unwrap().unwrap();
            let got = detached.run(&mut cache).unwrap();
            assert_eq!(got, expected, "from {from}, {max_records} records, {max_bytes} bytes");
        }
        let all = s.detach_read(&log, 1, 1000, 1 << 20).unwrap().unwrap().run(&mut cache).unwrap();
        assert_eq!(seqs(&all), (1..=60).collect::<Vec<_>>(), "sealed, active file and buffer");
        assert_eq!(all[59].payload, Bytes::from_static(b"record-0059"));
    }

    #[test]
    fn a_detached_read_survives_retention_and_later_appends() {
        let root = tempfile::tempdir().unwrap();
        let (mut s, log) = log_with_segments(root.path());
        let early = s.detach_read(&log, 1, 12, 1 << 20).unwrap().unwrap();
        let late = s.detach_read(&log, 58, 10, 1 << 20).unwrap().unwrap();
        let first = s.truncate_before(&log, 40).unwrap();
        assert!(first > 12, "the segments the early read needs are deleted");
        for i in 60..70u64 {
            s.append(&log, i, b"after").unwrap();
        }
        s.sync(&log).unwrap();
        let mut cache = IndexCache::default();
        assert_eq!(seqs(&early.run(&mut cache).unwrap()), (1..=12).collect::<Vec<_>>());
        assert_eq!(seqs(&late.run(&mut cache).unwrap()), [58, 59, 60], "what was buffered when it was made");
    }
}
