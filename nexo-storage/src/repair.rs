//! Repairing a damaged segment at recovery without losing the intact records around the damage.
//!
//! A scan stops at the first bad byte. If CRC-valid records with plausible sequence numbers
//! follow, the bytes between are damage: the segment is **split** there. Its valid prefix stays in
//! the file; each later run of consecutive records moves to a segment file of its own, named by
//! its first sequence number (so every segment still holds consecutive numbers, and the log has
//! a gap where the damage was); the damaged bytes are copied to a quarantine file beside the
//! segment (`<segment>-at-<offset>.quarantine`). A torn tail of the active segment (nothing valid
//! after it, nothing damaged before it: what a crash mid-write leaves) is cut as before; any other
//! invalid tail is quarantined too.
//!
//! Crash safety: pieces are written highest first, each to a temporary name, fsynced and renamed,
//! and the original is cut only once every piece and the directory are durable. A crash in
//! between leaves the original whole; the next recovery splits it again, and the part already
//! moved lies past the next segment's first number, so it counts as the original's tail.
//! This module only works on one segment's bytes; `recovery.rs` decides which segment to repair.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StorageError;
use crate::filelog::{SealedSegment, remove_file, write_index};
use crate::index;
use crate::segment::{self, Scan, fsync_dir};

/// What recovery dropped, skipped and quarantined, for [`crate::Recovery`].
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    pub bytes: u64,
    pub damaged: u64,
    pub quarantined: u64,
    pub reasons: Vec<String>,
}

impl Dropped {
    pub(crate) fn add(&mut self, bytes: u64, why: String) {
        self.bytes += bytes;
        self.reasons.push(why);
    }
}

/// A run of consecutive valid records: bytes `start .. start + scan.valid_len`, first number `base`.
#[derive(Debug)]
pub(crate) struct Piece {
    pub start: usize,
    pub base: u64,
    pub scan: Scan,
}

/// Damaged bytes `start .. end` between two pieces.
#[derive(Debug)]
struct Damage {
    start: usize,
    end: usize,
    why: String,
}

/// A segment's bytes cut into pieces of valid records, the damage between them, and an invalid
/// tail (offset and what was found) after the last piece.
#[derive(Debug)]
pub(crate) struct Split {
    pieces: Vec<Piece>,
    damage: Vec<Damage>,
    tail: Option<(usize, String)>,
}

impl Split {
    /// Whether the bytes are one run of valid records with nothing after it.
    pub(crate) fn is_clean(&self) -> bool {
        self.damage.is_empty() && self.tail.is_none()
    }

    /// The pieces (one, when the split is clean).
    pub(crate) fn into_pieces(self) -> Vec<Piece> {
        self.pieces
    }
}

/// Splits `data`, a segment starting at `base` whose records must stay below `seq_limit`.
pub(crate) fn split(data: &[u8], base: u64, seq_limit: u64, every: u64) -> Split {
    let (mut start, mut first) = (0usize, base);
    let mut out = Split { pieces: Vec::new(), damage: Vec::new(), tail: None };
    loop {
        let scan = segment::scan_from(data, start, first, seq_limit, every);
        let stop = scan.stop.clone();
        let next = scan.next_seq;
        out.pieces.push(Piece { start, base: first, scan });
        let Some(stop) = stop else { break };
        let at = usize::try_from(stop.pos).unwrap_or(usize::MAX);
        match segment::resync(data, at, next, seq_limit, base) {
            Some((end, seq)) => {
                out.damage.push(Damage { start: at, end, why: stop.why });
                (start, first) = (end, seq);
            }
            None => {
                out.tail = Some((at, stop.why));
                break;
            }
        }
    }
    out
}

/// Whether the segment being repaired is the log's last (active) one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The last segment: a torn tail is cut without quarantine; its last piece stays writable.
    Active,
    /// A sealed segment: every invalid byte was once durable, so all of it is quarantined.
    Sealed,
}

/// Carries out `split` of the segment `base` in `dir` (see the module docs for the order) and
/// returns the pieces kept, in order. The active segment always keeps at least one piece (its
/// last, possibly empty); a sealed one keeps only non-empty pieces.
///
/// # Errors
/// [`StorageError::Io`] when a file cannot be written, renamed, cut or fsynced.
pub(crate) fn apply(
    dir: &Path,
    base: u64,
    data: &[u8],
    split: Split,
    role: Role,
    dropped: &mut Dropped,
) -> Result<Vec<Piece>, StorageError> {
    let label = format!("{base:020}.log");
    let torn_tail = role == Role::Active && split.damage.is_empty();
    let mut ranges: Vec<(usize, usize)> = split.damage.iter().map(|d| (d.start, d.end)).collect();
    if let Some((at, _)) = &split.tail
        && !torn_tail
    {
        ranges.push((*at, data.len()));
    }
    let quarantine = quarantine(dir, base, data, &ranges)?;
    let mut pieces = split.pieces;
    let last = pieces.len() - 1;
    for (i, piece) in pieces.iter().enumerate().skip(1).rev() {
        let bytes = piece_bytes(data, piece);
        write_piece(dir, piece.base, bytes)?;
        if role == Role::Sealed || i != last {
            write_index(dir, piece.base, &index::encode_all(piece.scan.index.entries(), piece.scan.last))?;
        }
    }
    if pieces.len() > 1 {
        fsync_dir(dir)?;
    }
    let keep_first = piece_bytes(data, &pieces[0]).len() as u64;
    let path = segment::segment_path(dir, base);
    if keep_first == 0 && (role == Role::Sealed || pieces.len() > 1) {
        remove_file(&path)?;
        remove_file(&segment::index_path(dir, base))?;
        pieces.remove(0);
    } else {
        cut(&path, keep_first)?;
        if role == Role::Sealed || pieces.len() > 1 {
            let first = &pieces[0].scan;
            write_index(dir, base, &index::encode_all(first.index.entries(), first.last))?;
        }
    }
    fsync_dir(dir)?;
    report(&label, &split.damage, split.tail, data.len(), quarantine.as_deref(), torn_tail, dropped);
    Ok(pieces)
}

/// Adds what was skipped, cut and quarantined to `dropped`.
fn report(
    label: &str,
    damage: &[Damage],
    tail: Option<(usize, String)>,
    len: usize,
    quarantine: Option<&Path>,
    torn_tail: bool,
    dropped: &mut Dropped,
) {
    let qname = quarantine.and_then(Path::file_name).map(|n| n.to_string_lossy().into_owned());
    let copied = qname.map_or_else(String::new, |q| format!(", copied to {q}"));
    for d in damage {
        let n = (d.end - d.start) as u64;
        dropped.damaged += 1;
        dropped.quarantined += n;
        dropped.add(
            n,
            format!(
                "{label}: {}; skipped {n} damaged bytes, intact records resume at byte {}{copied}",
                d.why, d.end
            ),
        );
    }
    if let Some((at, why)) = tail {
        let n = (len - at) as u64;
        if torn_tail {
            dropped.add(n, format!("{label}: {why}"));
        } else {
            dropped.damaged += 1;
            dropped.quarantined += n;
            dropped.add(n, format!("{label}: {why}; cut {n} bytes with no valid record after them{copied}"));
        }
    }
}

/// A piece's bytes.
fn piece_bytes<'d>(data: &'d [u8], piece: &Piece) -> &'d [u8] {
    let len = usize::try_from(piece.scan.valid_len).unwrap_or(usize::MAX);
    data.get(piece.start..piece.start.saturating_add(len)).unwrap_or_default()
}

/// Copies the damaged `ranges` of segment `base` to one quarantine file (fsynced), named after
/// the first range's offset. `None` when there is nothing to copy.
fn quarantine(
    dir: &Path,
    base: u64,
    data: &[u8],
    ranges: &[(usize, usize)],
) -> Result<Option<PathBuf>, StorageError> {
    let Some(&(first, _)) = ranges.iter().find(|(s, e)| e > s) else { return Ok(None) };
    let path = dir.join(format!("{base:020}-at-{first}.quarantine"));
    let mut file = File::create(&path).map_err(StorageError::io("create", &path))?;
    for &(start, end) in ranges {
        let bytes = data.get(start..end).unwrap_or_default();
        file.write_all(bytes).map_err(StorageError::io("write", &path))?;
    }
    file.sync_data().map_err(StorageError::io("fsync", &path))?;
    Ok(Some(path))
}

/// Writes a piece as the segment file `base`: a temporary file, fsynced, then renamed.
fn write_piece(dir: &Path, base: u64, bytes: &[u8]) -> Result<(), StorageError> {
    let path = segment::segment_path(dir, base);
    let tmp = path.with_extension("log.tmp");
    let mut file = File::create(&tmp).map_err(StorageError::io("create", &tmp))?;
    file.write_all(bytes).map_err(StorageError::io("write", &tmp))?;
    file.sync_data().map_err(StorageError::io("fsync", &tmp))?;
    fs::rename(&tmp, &path).map_err(StorageError::io("rename", &tmp))
}

/// Cuts a file to `len` bytes and fsyncs it.
pub(crate) fn cut(path: &Path, len: u64) -> Result<(), StorageError> {
    let file = OpenOptions::new().write(true).open(path).map_err(StorageError::io("open", path))?;
    file.set_len(len).map_err(StorageError::io("truncate", path))?;
    file.sync_data().map_err(StorageError::io("fsync", path))
}

/// The sealed segment a kept piece describes (`None` for an empty piece).
pub(crate) fn sealed(piece: &Piece) -> Option<SealedSegment> {
    let last = piece.scan.last?;
    Some(SealedSegment {
        base: piece.base,
        end: piece.scan.next_seq,
        bytes: piece.scan.valid_len,
        first_ts: piece.scan.first_ts.unwrap_or(last.timestamp_ms),
        last_ts: last.timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record;

    fn records(seqs: std::ops::RangeInclusive<u64>) -> (Vec<u8>, Vec<usize>) {
        let (mut data, mut starts) = (Vec::new(), Vec::new());
        for seq in seqs {
            starts.push(data.len());
            record::encode(&mut data, seq, seq * 10, format!("payload {seq}").as_bytes()).unwrap();
        }
        (data, starts)
    }

    #[test]
    fn split_keeps_the_records_after_each_damage() {
        let (mut data, starts) = records(1..=10);
        data[starts[3] + 30] ^= 0x40; // payload of 4
        data[starts[6] + 1] ^= 0x01; // length of 7
        let s = split(&data, 1, u64::MAX, 0);
        let runs: Vec<(u64, u64)> = s.pieces.iter().map(|p| (p.base, p.scan.next_seq)).collect();
        assert_eq!(runs, [(1, 4), (5, 7), (8, 11)]);
        assert_eq!(s.damage.len(), 2);
        assert_eq!((s.damage[0].start, s.damage[0].end), (starts[3], starts[4]));
        assert!(s.damage[1].why.contains(&format!("at byte {}", starts[6])), "{}", s.damage[1].why);
        assert!(s.tail.is_none());
    }

    #[test]
    fn apply_moves_pieces_to_their_own_files_and_quarantines_the_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (mut data, starts) = records(1..=6);
        data[starts[2] + 5] ^= 0x08; // CRC of 3
        data.extend_from_slice(&[9, 9, 9]); // torn tail
        fs::write(segment::segment_path(dir.path(), 1), &data).unwrap();
        let s = split(&data, 1, u64::MAX, 0);
        let mut dropped = Dropped::default();
        let kept = apply(dir.path(), 1, &data, s, Role::Active, &mut dropped).unwrap();
        let runs: Vec<(u64, u64)> = kept.iter().map(|p| (p.base, p.scan.next_seq)).collect();
        assert_eq!(runs, [(1, 3), (4, 7)]);
        assert_eq!(fs::read(segment::segment_path(dir.path(), 1)).unwrap(), &data[..starts[2]]);
        assert_eq!(fs::read(segment::segment_path(dir.path(), 4)).unwrap(), &data[starts[3]..data.len() - 3]);
        assert!(segment::index_path(dir.path(), 1).exists(), "the prefix is sealed now");
        assert!(!segment::index_path(dir.path(), 4).exists(), "the last piece stays active");
        let q = dir.path().join(format!("{:020}-at-{}.quarantine", 1, starts[2]));
        let mut copied = data[starts[2]..starts[3]].to_vec();
        copied.extend_from_slice(&[9, 9, 9]);
        assert_eq!(fs::read(q).unwrap(), copied, "after damage in the middle, the tail is kept too");
        assert_eq!((dropped.damaged, dropped.quarantined), (2, copied.len() as u64));
        assert_eq!(dropped.bytes, copied.len() as u64);
        assert!(dropped.reasons[0].contains("CRC mismatch"), "{:?}", dropped.reasons);
        assert!(dropped.reasons[0].contains("intact records resume"), "{:?}", dropped.reasons);
    }

    #[test]
    fn a_sealed_segment_damaged_at_byte_zero_is_replaced_by_its_later_piece() {
        let dir = tempfile::tempdir().unwrap();
        let (mut data, starts) = records(1..=3);
        data[9] ^= 1; // sequence field of 1: CRC mismatch
        fs::write(segment::segment_path(dir.path(), 1), &data).unwrap();
        let s = split(&data, 1, 4, 0);
        let mut dropped = Dropped::default();
        let kept = apply(dir.path(), 1, &data, s, Role::Sealed, &mut dropped).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(sealed(&kept[0]).map(|s| (s.base, s.end)), Some((2, 4)));
        assert!(!segment::segment_path(dir.path(), 1).exists());
        assert!(segment::index_path(dir.path(), 2).exists());
        assert_eq!(dropped.quarantined, starts[1] as u64);
    }
}
