//! Recovery: turning a log directory into an open [`FileLog`], dropping what a crash left
//! half-written and reporting it.
//!
//! Sealed segments (all but the last) were fsynced before the next segment was created, so they
//! are checked cheaply through their index (first and last entry, and the last record); one whose
//! index does not match is rescanned. The last segment is always scanned whole: its valid prefix
//! is kept, the rest is cut off (fsynced), and if CRC-valid records were seen after the damage,
//! the log continues after the highest of their sequence numbers, so no number that might have
//! been durable is ever handed out again. This module is only called by `file.rs`.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

use crate::filelog::{Active, FileLog, SealedSegment, remove_file, write_index};
use crate::index::{self, ENTRY_BYTES, IndexEntry};
use crate::record::{self, Decoded};
use crate::segment::{self, FileKind, fsync_dir};
use crate::{LogConfig, LogName, Recovery, StorageError};

/// What recovery dropped, for [`Recovery`].
#[derive(Debug, Default)]
struct Dropped {
    bytes: u64,
    reasons: Vec<String>,
}

impl Dropped {
    fn add(&mut self, bytes: u64, why: String) {
        self.bytes += bytes;
        self.reasons.push(why);
    }
}

/// Opens (creating if missing) the log `name` under `root` and recovers it.
///
/// # Errors
/// [`StorageError::Io`] when the directory or a segment cannot be read or repaired.
pub(crate) fn open_log(
    root: &Path,
    name: &LogName,
    config: LogConfig,
) -> Result<(FileLog, Recovery), StorageError> {
    let dir = root.join(name.as_str());
    match fs::create_dir(&dir) {
        Ok(()) => fsync_dir(root)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(StorageError::io("create directory", &dir)(e)),
    }
    let (segments, indexes) = list_files(&dir)?;
    let mut changed = false;
    for orphan in indexes.difference(&segments) {
        remove_file(&segment::index_path(&dir, *orphan))?;
        changed = true;
    }
    let every = config.index_every_bytes;
    let segments: Vec<u64> = segments.into_iter().collect();
    let Some((&last, older)) = segments.split_last() else {
        let active = Active::create(&dir, 1, every)?;
        fsync_dir(&dir)?;
        let log = FileLog::new(dir, config, VecDeque::new(), active);
        let summary = log.summary();
        return Ok((log, summary));
    };
    let mut dropped = Dropped::default();
    let mut sealed = VecDeque::new();
    for (i, &base) in older.iter().enumerate() {
        let limit = segments.get(i + 1).copied().unwrap_or(last);
        if let Some(seg) = recover_sealed(&dir, base, limit, every, &mut dropped, &mut changed)? {
            sealed.push_back(seg);
        }
    }
    let (active, skip_to) = recover_active(&dir, last, every, &mut dropped)?;
    let mut log = FileLog::new(dir, config, sealed, active);
    // Whatever a previous process wrote without fsync is made durable before anyone relies on it.
    log.active.file.sync_data().map_err(StorageError::io("fsync", &log.active.path))?;
    if let Some(next) = skip_to {
        log.roll_to(next)?;
    }
    if changed {
        fsync_dir(&log.dir)?;
    }
    let mut summary = log.summary();
    summary.dropped_bytes = dropped.bytes;
    summary.dropped_reason = (!dropped.reasons.is_empty()).then(|| dropped.reasons.join("; "));
    Ok((log, summary))
}

/// The first sequence numbers of the segment and index files in `dir`.
fn list_files(dir: &Path) -> Result<(BTreeSet<u64>, BTreeSet<u64>), StorageError> {
    let mut segments = BTreeSet::new();
    let mut indexes = BTreeSet::new();
    for entry in fs::read_dir(dir).map_err(StorageError::io("list", dir))? {
        let entry = entry.map_err(StorageError::io("list", dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        match segment::parse_file_name(&name) {
            Some((base, FileKind::Segment)) => segments.insert(base),
            Some((base, FileKind::Index)) => indexes.insert(base),
            None => false,
        };
    }
    Ok((segments, indexes))
}

/// Recovers a sealed segment: from its index if that matches the file, else by a scan (which
/// cuts off anything invalid and rewrites the index). `None` when nothing valid remained (the
/// files are then deleted).
fn recover_sealed(
    dir: &Path,
    base: u64,
    limit: u64,
    every: u64,
    dropped: &mut Dropped,
    changed: &mut bool,
) -> Result<Option<SealedSegment>, StorageError> {
    let path = segment::segment_path(dir, base);
    let file = File::open(&path).map_err(StorageError::io("open", &path))?;
    let bytes = file.metadata().map_err(StorageError::io("stat", &path))?.len();
    if let Some(seg) = sealed_from_index(dir, base, limit, &file, bytes) {
        return Ok(Some(seg));
    }
    let data = fs::read(&path).map_err(StorageError::io("read", &path))?;
    let scan = segment::scan(&data, base, limit, every);
    if let Some(stop) = &scan.stop {
        cut(&path, scan.valid_len)?;
        dropped.add(data.len() as u64 - scan.valid_len, format!("{}: {}", file_label(&path), stop.why));
    }
    *changed = true;
    let Some(last) = scan.last else {
        remove_file(&path)?;
        remove_file(&segment::index_path(dir, base))?;
        return Ok(None);
    };
    write_index(dir, base, &index::encode_all(scan.index.entries(), Some(last)))?;
    Ok(Some(SealedSegment {
        base,
        end: scan.next_seq,
        bytes: scan.valid_len,
        first_ts: scan.first_ts.unwrap_or(last.timestamp_ms),
        last_ts: last.timestamp_ms,
    }))
}

/// A sealed segment described by its index, if the index's first and last entries are valid and
/// agree with the file: the first record starts at byte 0 with `base`, and the last record is
/// CRC-valid, has the last entry's sequence (below `limit`) and ends exactly at the end of file.
fn sealed_from_index(dir: &Path, base: u64, limit: u64, file: &File, bytes: u64) -> Option<SealedSegment> {
    let idx_path = segment::index_path(dir, base);
    let idx = File::open(&idx_path).ok()?;
    let idx_len = idx.metadata().ok()?.len();
    if idx_len < ENTRY_BYTES as u64 || !idx_len.is_multiple_of(ENTRY_BYTES as u64) {
        return None;
    }
    let mut buf = Vec::new();
    segment::read_at(&idx, &idx_path, 0, ENTRY_BYTES, &mut buf).ok()?;
    let first = IndexEntry::decode(&buf)?;
    segment::read_at(&idx, &idx_path, idx_len - ENTRY_BYTES as u64, ENTRY_BYTES, &mut buf).ok()?;
    let last = IndexEntry::decode(&buf)?;
    let plausible = first.seq == base
        && first.pos == 0
        && last.seq >= first.seq
        && last.seq < limit
        && last.pos < bytes
        && last.timestamp_ms >= first.timestamp_ms;
    if !plausible {
        return None;
    }
    let tail = usize::try_from(bytes.checked_sub(last.pos)?).ok()?;
    if tail > record::encoded_len(record::MAX_PAYLOAD_BYTES) {
        return None;
    }
    let path = segment::segment_path(dir, base);
    segment::read_at(file, &path, last.pos, tail, &mut buf).ok()?;
    match record::decode(&buf) {
        Decoded::Record { record, len } if len == tail && record.seq == last.seq => {}
        _ => return None,
    }
    segment::read_at(file, &path, 0, record::HEADER_BYTES, &mut buf).ok()?;
    if record::peek_seq(&buf) != Some(base) {
        return None;
    }
    Some(SealedSegment {
        base,
        end: last.seq + 1,
        bytes,
        first_ts: first.timestamp_ms,
        last_ts: last.timestamp_ms,
    })
}

/// Recovers the last segment: scans it whole, cuts off an invalid tail, and returns the active
/// segment plus the sequence number to continue at if records were seen past the damage.
fn recover_active(
    dir: &Path,
    base: u64,
    every: u64,
    dropped: &mut Dropped,
) -> Result<(Active, Option<u64>), StorageError> {
    let path = segment::segment_path(dir, base);
    let data = fs::read(&path).map_err(StorageError::io("read", &path))?;
    let scan = segment::scan(&data, base, u64::MAX, every);
    let mut skip_to = None;
    if let Some(stop) = &scan.stop {
        cut(&path, scan.valid_len)?;
        let mut why = format!("{}: {}", file_label(&path), stop.why);
        skip_to = stop.max_seq_beyond.map(|m| m.saturating_add(1)).filter(|s| *s > scan.next_seq);
        if let Some(next) = skip_to {
            why.push_str(&format!(
                " (valid records up to {} follow it; sequence numbers continue at {next})",
                next - 1
            ));
        }
        dropped.add(data.len() as u64 - scan.valid_len, why);
    }
    let file =
        OpenOptions::new().read(true).append(true).open(&path).map_err(StorageError::io("open", &path))?;
    let active = Active {
        base,
        path,
        file,
        flushed: scan.valid_len,
        buf: Vec::new(),
        next_seq: scan.next_seq,
        first_ts: scan.first_ts,
        last: scan.last,
        index: scan.index,
    };
    Ok((active, skip_to))
}

/// Cuts a file to `len` bytes and fsyncs it.
fn cut(path: &Path, len: u64) -> Result<(), StorageError> {
    let file = OpenOptions::new().write(true).open(path).map_err(StorageError::io("open", path))?;
    file.set_len(len).map_err(StorageError::io("truncate", path))?;
    file.sync_data().map_err(StorageError::io("fsync", path))
}

/// The file name of `path`, for reports.
fn file_label(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_log_and_junk_files() {
        let root = tempfile::tempdir().unwrap();
        let name = LogName::new("fresh").unwrap();
        let dir = root.path().join("fresh");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("notes.txt"), b"ignored").unwrap();
        fs::write(dir.join("00000000000000000001.log.tmp"), b"ignored").unwrap();
        let (log, rec) = open_log(root.path(), &name, LogConfig::default()).unwrap();
        assert_eq!(
            rec,
            Recovery { next_seq: 1, first_seq: 1, records: 0, dropped_bytes: 0, dropped_reason: None }
        );
        assert!(segment::segment_path(&log.dir, 1).exists());
        assert!(dir.join("notes.txt").exists(), "files that are not ours are left alone");
        let (segments, indexes) = list_files(&dir).unwrap();
        assert_eq!((segments.len(), indexes.len()), (1, 0));
    }

    #[test]
    fn damage_at_the_start_of_the_last_segment_drops_it_all() {
        let root = tempfile::tempdir().unwrap();
        let name = LogName::new("w").unwrap();
        let dir = root.path().join("w");
        fs::create_dir(&dir).unwrap();
        let mut data = Vec::new();
        for seq in [3, 4, 5] {
            record::encode(&mut data, seq, 0, b"x").unwrap();
        }
        data[5] ^= 1; // the CRC of record 3
        fs::write(segment::segment_path(&dir, 3), &data).unwrap();
        let (log, rec) = open_log(root.path(), &name, LogConfig::default()).unwrap();
        // Records 4 and 5 are valid and may have been acknowledged: 3..=5 are never reused.
        assert_eq!(
            (rec.records, rec.first_seq, rec.next_seq, rec.dropped_bytes),
            (0, 6, 6, data.len() as u64)
        );
        assert!(rec.dropped_reason.unwrap().contains("CRC mismatch"));
        assert_eq!(log.active.base, 6);
        assert!(!segment::segment_path(&dir, 3).exists());
        drop(log);
        let (_, again) = open_log(root.path(), &name, LogConfig::default()).unwrap();
        assert_eq!((again.next_seq, again.dropped_bytes), (6, 0));
    }
}
