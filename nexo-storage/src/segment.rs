//! Segment files: their names, scanning a segment's bytes for the valid prefix, and walking the
//! records of a byte range (from a file or from memory).
//!
//! A segment file holds consecutive records starting with the sequence number in its name
//! (`{first seq:020}.log`); its sparse index is `{first seq:020}.idx`. This module owns no log
//! state; the functions here are used by recovery and by the file backend's reads.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::StorageError;
use crate::index::{IndexEntry, SparseIndex};
use crate::record::{self, Decoded, HEADER_BYTES, RecordRef};

/// Bytes read from a segment file at a time when walking records.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What kind of file a name in a log directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `NNNNNNNNNNNNNNNNNNNN.log`: records.
    Segment,
    /// `NNNNNNNNNNNNNNNNNNNN.idx`: the segment's sparse index.
    Index,
}

/// Path of the segment starting at `base`.
pub(crate) fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Path of the index of the segment starting at `base`.
pub(crate) fn index_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.idx"))
}

/// Largest first sequence number a segment file name may carry (2^63 - 1): sequence arithmetic
/// can never overflow, and a file named beyond it is not ours and is ignored.
pub(crate) const MAX_BASE: u64 = (1 << 63) - 1;

/// Parses a file name of a log directory: twenty digits (at most [`MAX_BASE`]), then `.log` or
/// `.idx`.
pub(crate) fn parse_file_name(name: &str) -> Option<(u64, FileKind)> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base = stem.parse::<u64>().ok().filter(|b| *b <= MAX_BASE)?;
    match ext {
        "log" => Some((base, FileKind::Segment)),
        "idx" => Some((base, FileKind::Index)),
        _ => None,
    }
}

/// Where and why a scan stopped before the end of the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stop {
    /// Byte offset of the first byte that is not part of the valid prefix.
    pub pos: u64,
    /// What was found there, ending with the byte offset (`… at byte 87`).
    pub why: String,
}

/// The valid prefix of a segment's bytes.
#[derive(Debug, Clone)]
pub(crate) struct Scan {
    /// Length of the valid prefix.
    pub valid_len: u64,
    /// Sequence number after the last valid record (the segment's base if there is none).
    pub next_seq: u64,
    /// Timestamp of the first valid record.
    pub first_ts: Option<u64>,
    /// The last valid record, as an index entry.
    pub last: Option<IndexEntry>,
    /// The sparse index of the valid prefix.
    pub index: SparseIndex,
    /// Why the scan stopped early, if it did.
    pub stop: Option<Stop>,
}

/// Scans `data`, a segment whose first record must have sequence `base`, keeping the longest
/// prefix of valid records with consecutive sequence numbers below `seq_limit`.
pub(crate) fn scan(data: &[u8], base: u64, seq_limit: u64, index_every_bytes: u64) -> Scan {
    scan_from(data, 0, base, seq_limit, index_every_bytes)
}

/// [`scan`] of the bytes from `start` on, whose first record must have sequence `base`: index
/// positions and `valid_len` count from `start` (the part becomes a file of its own), the stop
/// position and text from the start of `data`.
pub(crate) fn scan_from(
    data: &[u8],
    start: usize,
    base: u64,
    seq_limit: u64,
    index_every_bytes: u64,
) -> Scan {
    let data = data.get(start..).unwrap_or_default();
    let mut pos = 0usize;
    let mut seq = base;
    let mut index = SparseIndex::new(index_every_bytes);
    let mut first_ts = None;
    let mut last = None;
    let why = loop {
        let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) else {
            break None;
        };
        match record::decode(rest) {
            Decoded::Record { record, len } => {
                if record.seq != seq {
                    break Some(format!("sequence break (expected {seq}, found {})", record.seq));
                }
                if seq >= seq_limit {
                    break Some(format!("record {seq} overlaps the next segment"));
                }
                let entry = IndexEntry { seq, pos: pos as u64, timestamp_ms: record.timestamp_ms };
                index.note(entry);
                last = Some(entry);
                first_ts.get_or_insert(record.timestamp_ms);
                pos += len;
                seq += 1;
            }
            Decoded::Incomplete { need } => {
                break Some(format!("torn record ({} of {need} bytes present)", rest.len()));
            }
            Decoded::Corrupt(c) => break Some(c.to_string()),
        }
    };
    let at = start + pos;
    let stop = why.map(|why| Stop { pos: at as u64, why: format!("{why} at byte {at}") });
    Scan { valid_len: pos as u64, next_seq: seq, first_ts, last, index, stop }
}

/// Where the records continue after damage: the first offset at or after `from` holding a
/// CRC-valid record whose sequence number is at least `expected` and below `seq_limit`, with that
/// number. Only plausible numbers are checked: a segment of `n` bytes holds at most `n / 24`
/// records, so a real record's number is below `base + n / 24`.
pub(crate) fn resync(
    data: &[u8],
    from: usize,
    expected: u64,
    seq_limit: u64,
    base: u64,
) -> Option<(usize, u64)> {
    let plausible_max = base.saturating_add((data.len() / HEADER_BYTES) as u64);
    let last_start = data.len().checked_sub(HEADER_BYTES)?;
    for at in from..=last_start {
        let Some(seq) = data.get(at..).and_then(record::peek_seq) else {
            break;
        };
        if seq < expected || seq > plausible_max || seq >= seq_limit {
            continue;
        }
        if let Some(Decoded::Record { record, .. }) = data.get(at..).map(record::decode)
            && record.seq == seq
        {
            return Some((at, seq));
        }
    }
    None
}

/// Whether a walk goes on after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Give me the next record.
    Continue,
    /// Stop here.
    Stop,
}

/// A record met by a walk, with its byte offset in the segment file.
pub(crate) type Visit<'v> = dyn FnMut(RecordRef<'_>, u64) -> Flow + 'v;

/// Walks the whole records of `data`, which sits at byte `start_pos` of the segment `path` and
/// starts with record `start_seq`. Returns the flow, the bytes consumed and the next sequence;
/// an incomplete record at the end is left unconsumed for the caller.
///
/// # Errors
/// [`StorageError::Corrupt`] on a bad record or a sequence break.
pub(crate) fn walk_slice(
    data: &[u8],
    path: &Path,
    start_pos: u64,
    start_seq: u64,
    visit: &mut Visit<'_>,
) -> Result<(Flow, usize, u64), StorageError> {
    let mut off = 0usize;
    let mut seq = start_seq;
    while let Some(rest) = data.get(off..).filter(|r| !r.is_empty()) {
        let pos = start_pos + off as u64;
        match record::decode(rest) {
            Decoded::Record { record, len } => {
                if record.seq != seq {
                    let why = format!("sequence break (expected {seq}, found {})", record.seq);
                    return Err(StorageError::Corrupt { path: path.to_path_buf(), offset: pos, why });
                }
                off += len;
                seq += 1;
                if visit(record, pos) == Flow::Stop {
                    return Ok((Flow::Stop, off, seq));
                }
            }
            Decoded::Incomplete { .. } => break,
            Decoded::Corrupt(c) => {
                return Err(StorageError::Corrupt {
                    path: path.to_path_buf(),
                    offset: pos,
                    why: c.to_string(),
                });
            }
        }
    }
    Ok((Flow::Continue, off, seq))
}

/// Walks the records of `file` (at `path`) from byte `pos` (record `seq`) to byte `end`, reading
/// in chunks, until `visit` says stop.
///
/// # Errors
/// [`StorageError::Io`] if a read fails, [`StorageError::Corrupt`] if the bytes are not valid
/// consecutive records up to `end`.
pub(crate) fn walk_file(
    file: &File,
    path: &Path,
    mut pos: u64,
    end: u64,
    mut seq: u64,
    visit: &mut Visit<'_>,
) -> Result<(Flow, u64), StorageError> {
    let mut buf = Vec::new();
    while pos < end {
        let want = usize::try_from(end - pos).unwrap_or(usize::MAX).min(READ_CHUNK_BYTES);
        read_at(file, path, pos, want, &mut buf)?;
        let (flow, used, next) = walk_slice(&buf, path, pos, seq, visit)?;
        if flow == Flow::Stop {
            return Ok((Flow::Stop, next));
        }
        if used == 0 {
            // One record larger than a chunk: read exactly that record.
            let need = match record::decode(&buf) {
                Decoded::Incomplete { need } => need,
                _ => HEADER_BYTES,
            };
            if pos + need as u64 > end {
                let why = format!("record of {need} bytes runs past the end of the segment ({end} bytes)");
                return Err(StorageError::Corrupt { path: path.to_path_buf(), offset: pos, why });
            }
            read_at(file, path, pos, need, &mut buf)?;
            let (flow, used, next) = walk_slice(&buf, path, pos, seq, visit)?;
            if flow == Flow::Stop {
                return Ok((Flow::Stop, next));
            }
            if used == 0 {
                let why = "unreadable record".to_owned();
                return Err(StorageError::Corrupt { path: path.to_path_buf(), offset: pos, why });
            }
            pos += used as u64;
            seq = next;
            continue;
        }
        pos += used as u64;
        seq = next;
    }
    Ok((Flow::Continue, seq))
}

/// Reads exactly `len` bytes at `pos` of `file` into `buf` (replacing its contents).
pub(crate) fn read_at(
    file: &File,
    path: &Path,
    pos: u64,
    len: usize,
    buf: &mut Vec<u8>,
) -> Result<(), StorageError> {
    buf.clear();
    buf.resize(len, 0);
    // Positional: the shared file offset is never moved, so handles duplicated for another
    // thread (see `detached`) cannot disturb each other.
    file.read_exact_at(buf, pos).map_err(StorageError::io("read", path))
}

/// Fsyncs a directory, so names created or removed in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(StorageError::io("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(base: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, p) in payloads.iter().enumerate() {
            record::encode(&mut out, base + i as u64, 100 + i as u64, p).unwrap();
        }
        out
    }

    #[test]
    fn names() {
        assert_eq!(segment_path(Path::new("d"), 1), Path::new("d/00000000000000000001.log"));
        assert_eq!(index_path(Path::new("d"), 42), Path::new("d/00000000000000000042.idx"));
        assert_eq!(parse_file_name("00000000000000000042.log"), Some((42, FileKind::Segment)));
        assert_eq!(parse_file_name("00000000000000000042.idx"), Some((42, FileKind::Index)));
        assert_eq!(parse_file_name("09223372036854775807.log"), Some((MAX_BASE, FileKind::Segment)));
        for bad in [
            "09223372036854775808.log",
            "18446744073709551615.log",
            "99999999999999999999.log",
            "0042.log",
            "0000000000000000004x.log",
            "x.tmp",
            "LOCK",
        ] {
            assert_eq!(parse_file_name(bad), None, "{bad}");
        }
        assert_eq!(parse_file_name("00000000000000000042.log.tmp"), None);
    }

    #[test]
    fn scan_clean_segment() {
        let data = segment(5, &[b"a", b"bb", b"ccc"]);
        let s = scan(&data, 5, u64::MAX, 0);
        assert_eq!(s.valid_len, data.len() as u64);
        assert_eq!(s.next_seq, 8);
        assert_eq!(s.first_ts, Some(100));
        assert_eq!(s.last.map(|l| l.seq), Some(7));
        assert_eq!(s.index.entries().len(), 3);
        assert_eq!(s.stop, None);
    }

    #[test]
    fn scan_stops_at_breaks() {
        let data = segment(5, &[b"a", b"bb"]);
        let wrong_base = scan(&data, 4, u64::MAX, 0);
        assert_eq!(wrong_base.valid_len, 0);
        let stop = wrong_base.stop.unwrap();
        assert!(stop.why.starts_with("sequence break (expected 4, found 5)"), "{}", stop.why);
        assert_eq!(resync(&data, 0, 4, u64::MAX, 4), Some((0, 5)));
        let limited = scan(&data, 5, 6, 0);
        assert_eq!(limited.next_seq, 6);
        assert!(limited.stop.unwrap().why.contains("overlaps"));
        let torn = scan(&data[..data.len() - 1], 5, u64::MAX, 0);
        assert_eq!(torn.next_seq, 6);
        let stop = torn.stop.unwrap();
        assert_eq!(resync(&data[..data.len() - 1], stop.pos as usize, 6, u64::MAX, 5), None);
        assert!(stop.why.starts_with("torn record"), "{}", stop.why);
    }

    #[test]
    fn scan_finds_records_after_damage() {
        let mut data = segment(1, &[b"one", b"two", b"three", b"four"]);
        let second = record::encoded_len(3);
        data[second + 26] ^= 0xFF; // payload of record 2
        let s = scan(&data, 1, u64::MAX, 0);
        assert_eq!(s.next_seq, 2);
        let stop = s.stop.unwrap();
        assert!(stop.why.starts_with("CRC mismatch"), "{}", stop.why);
        let third = second + record::encoded_len(3);
        assert_eq!(resync(&data, stop.pos as usize, 2, u64::MAX, 1), Some((third, 3)));
        assert_eq!(resync(&data, stop.pos as usize, 2, 3, 1), None, "below the limit only");
    }

    #[test]
    fn walk_slice_and_file() {
        let data = segment(1, &[b"a", b"bb", b"ccc", b"dddd"]);
        let mut seen = Vec::new();
        let mut visit = |r: RecordRef<'_>, pos: u64| {
            seen.push((r.seq, pos));
            if r.seq == 3 { Flow::Stop } else { Flow::Continue }
        };
        let (flow, used, next) = walk_slice(&data, Path::new("x"), 0, 1, &mut visit).unwrap();
        assert_eq!((flow, next), (Flow::Stop, 4));
        assert_eq!(used, record::encoded_len(1) + record::encoded_len(2) + record::encoded_len(3));
        assert_eq!(seen, [(1, 0), (2, 25), (3, 51)]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let mut big = Vec::new();
        let payload = vec![7u8; READ_CHUNK_BYTES + 10];
        record::encode(&mut big, 1, 0, b"small").unwrap();
        record::encode(&mut big, 2, 0, &payload).unwrap();
        record::encode(&mut big, 3, 0, b"after").unwrap();
        std::fs::write(&path, &big).unwrap();
        let file = File::open(&path).unwrap();
        let mut lens = Vec::new();
        let mut visit = |r: RecordRef<'_>, _| {
            lens.push(r.payload.len());
            Flow::Continue
        };
        let (flow, next) = walk_file(&file, &path, 0, big.len() as u64, 1, &mut visit).unwrap();
        assert_eq!((flow, next), (Flow::Continue, 4));
        assert_eq!(lens, [5, READ_CHUNK_BYTES + 10, 5]);
        let mut visit = |_: RecordRef<'_>, _| Flow::Continue;
        let err = walk_file(&file, &path, 0, big.len() as u64, 2, &mut visit).unwrap_err();
        assert!(err.to_string().contains("sequence break"), "{err}");
        let err = walk_file(&file, &path, 0, big.len() as u64 - 1, 1, &mut visit).unwrap_err();
        assert!(err.to_string().contains("runs past the end"), "{err}");
    }
}
