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

use crate::filelog::{Active, FileLog, SealedSegment, remove_file};
use crate::index::{ENTRY_BYTES, IndexEntry};
use crate::record::{self, Decoded};
use crate::repair::{self, Dropped, Role};
use crate::segment::{self, FileKind, fsync_dir};
use crate::{LogConfig, LogName, Recovery, StorageError};

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
        Err(e) => return Err(StorageError::io_or_transient("create directory", &dir)(e)),
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
        let verify = config.verify_sealed;
        sealed.extend(recover_sealed(&dir, (base, limit), every, verify, &mut dropped, &mut changed)?);
    }
    let (pieces, active) = recover_active(&dir, last, every, &mut dropped)?;
    sealed.extend(pieces);
    let log = FileLog::new(dir, config, sealed, active);
    // Whatever a previous process wrote without fsync is made durable before anyone relies on it.
    log.active.file.sync_data().map_err(StorageError::io("fsync", &log.active.path))?;
    if changed {
        fsync_dir(&log.dir)?;
    }
    let mut summary = log.summary();
    summary.dropped_bytes = dropped.bytes;
    summary.dropped_reason = (!dropped.reasons.is_empty()).then(|| dropped.reasons.join("; "));
    summary.damaged_ranges = dropped.damaged;
    summary.quarantined_bytes = dropped.quarantined;
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

/// Recovers the sealed segment `base` (records below `limit`): from its index if that matches the
/// file (and `verify` does not ask for every record to be checked), else by a scan that splits it
/// around damage (see `repair.rs`) and rewrites the indexes. Empty when nothing valid remained
/// (the files are then deleted).
fn recover_sealed(
    dir: &Path,
    (base, limit): (u64, u64),
    every: u64,
    verify: bool,
    dropped: &mut Dropped,
    changed: &mut bool,
) -> Result<Vec<SealedSegment>, StorageError> {
    let path = segment::segment_path(dir, base);
    let file = File::open(&path).map_err(StorageError::io("open", &path))?;
    let bytes = file.metadata().map_err(StorageError::io("stat", &path))?.len();
    let indexed = sealed_from_index(dir, base, limit, &file, bytes);
    if let Some(seg) = &indexed
        && !verify
    {
        return Ok(vec![seg.clone()]);
    }
    let data = fs::read(&path).map_err(StorageError::io("read", &path))?;
    let split = repair::split(&data, base, limit, every);
    if let Some(seg) = indexed
        && split.is_clean()
    {
        return Ok(vec![seg]);
    }
    *changed = true;
    let pieces = repair::apply(dir, base, &data, split, Role::Sealed, dropped)?;
    Ok(pieces.iter().filter_map(repair::sealed).collect())
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

/// Recovers the last segment: scans it whole, cuts off a torn tail, and splits it around damage
/// in the middle (`repair.rs`). Returns the pieces before the last (now sealed) and the active
/// segment (the last piece).
fn recover_active(
    dir: &Path,
    base: u64,
    every: u64,
    dropped: &mut Dropped,
) -> Result<(Vec<SealedSegment>, Active), StorageError> {
    let path = segment::segment_path(dir, base);
    let data = fs::read(&path).map_err(StorageError::io("read", &path))?;
    let split = repair::split(&data, base, u64::MAX, every);
    let mut pieces = if split.is_clean() {
        split.into_pieces()
    } else {
        repair::apply(dir, base, &data, split, Role::Active, dropped)?
    };
    let Some(last) = pieces.pop() else {
        let why = "no piece left".to_owned();
        return Err(StorageError::Corrupt { path, offset: 0, why });
    };
    let path = segment::segment_path(dir, last.base);
    let file =
        OpenOptions::new().read(true).append(true).open(&path).map_err(StorageError::io("open", &path))?;
    let active = Active {
        base: last.base,
        path,
        file,
        flushed: last.scan.valid_len,
        buf: Vec::new(),
        next_seq: last.scan.next_seq,
        first_ts: last.scan.first_ts,
        last: last.scan.last,
        index: last.scan.index,
    };
    Ok((pieces.iter().filter_map(repair::sealed).collect(), active))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of log `name` under `root` and its directory, created.
    fn log_dir(root: &Path, name: &str) -> (LogName, std::path::PathBuf) {
        let dir = root.join(name);
        fs::create_dir(&dir).unwrap();
        (LogName::new(name).unwrap(), dir)
    }

    #[test]
    fn new_log_and_junk_files() {
        let root = tempfile::tempdir().unwrap();
        let (name, dir) = log_dir(root.path(), "fresh");
        fs::write(dir.join("notes.txt"), b"ignored").unwrap();
        fs::write(dir.join("00000000000000000001.log.tmp"), b"ignored").unwrap();
        let (log, rec) = open_log(root.path(), &name, LogConfig::default()).unwrap();
        assert_eq!(rec, Recovery { next_seq: 1, first_seq: 1, ..Recovery::default() });
        assert!(segment::segment_path(&log.dir, 1).exists());
        assert!(dir.join("notes.txt").exists(), "files that are not ours are left alone");
        let (segments, indexes) = list_files(&dir).unwrap();
        assert_eq!((segments.len(), indexes.len()), (1, 0));
    }

    #[test]
    fn damage_at_the_start_of_the_last_segment_keeps_the_records_after_it() {
        let root = tempfile::tempdir().unwrap();
        let (name, dir) = log_dir(root.path(), "w");
        let mut data = Vec::new();
        for seq in [3, 4, 5] {
            record::encode(&mut data, seq, 0, b"x").unwrap();
        }
        data[5] ^= 1; // the CRC of record 3
        fs::write(segment::segment_path(&dir, 3), &data).unwrap();
        let (log, rec) = open_log(root.path(), &name, LogConfig::default()).unwrap();
        // Records 4 and 5 are intact and may have been acknowledged: they are kept.
        let one = record::encoded_len(1) as u64;
        assert_eq!(
            (rec.records, rec.first_seq, rec.next_seq, rec.dropped_bytes, rec.quarantined_bytes),
            (2, 4, 6, one, one)
        );
        assert_eq!(rec.damaged_ranges, 1);
        assert!(rec.dropped_reason.unwrap().contains("CRC mismatch"));
        assert_eq!(log.active.base, 4);
        assert!(!segment::segment_path(&dir, 3).exists());
        drop(log);
        let (_, again) = open_log(root.path(), &name, LogConfig::default()).unwrap();
        assert_eq!((again.records, again.next_seq, again.dropped_bytes), (2, 6, 0));
    }

    #[test]
    fn a_flipped_byte_in_the_middle_loses_one_record() {
        let root = tempfile::tempdir().unwrap();
        let (name, dir) = log_dir(root.path(), "mid");
        let mut data = Vec::new();
        for seq in 1..=1000u64 {
            record::encode(&mut data, seq, seq, format!("message {seq:04}").as_bytes()).unwrap();
        }
        let middle = data.len() / 2;
        data[middle] ^= 0x20;
        fs::write(segment::segment_path(&dir, 1), &data).unwrap();
        let (mut log, rec) = open_log(root.path(), &name, LogConfig::default()).unwrap();
        assert_eq!((rec.records, rec.next_seq, rec.damaged_ranges), (999, 1001, 1));
        let mut seen = Vec::new();
        let mut from = 1;
        loop {
            let batch = log.read(from, 100, usize::MAX).unwrap();
            let Some(last) = batch.last() else { break };
            from = last.seq + 1;
            seen.extend(batch.iter().map(|r| r.seq));
        }
        assert_eq!(seen.len(), 999, "every intact record is readable across the gap");
    }
}
