//! Fuzzes file-backend recovery (`FileStorage` + `Storage::open`) with arbitrary segment bytes.
//!
//! Input layout: byte 0 holds flags (bits 0-1 pick the segment's first sequence number, bit 2
//! prepends valid records, bit 3 makes the segment a sealed one followed by an empty segment,
//! bit 4 writes a prefix of the input as its index file), byte 1 picks how many valid records are
//! prepended and the index spacing, the rest is raw segment bytes. Checked:
//! - recovery never panics and never fails on arbitrary content;
//! - what is read back is valid: increasing sequence numbers from `first_seq` (consecutive within
//!   a segment; damage skipped in the middle leaves a gap), each record CRC-valid (re-checked by
//!   decoding the segment files left on disk);
//! - prepended valid records are all kept, and the next sequence number is above all of them;
//! - a second recovery drops nothing and agrees with the first; an append gets `next_seq`.
#![no_main]

use std::fs;
use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use nexo_storage::record::{self, Decoded};
use nexo_storage::{FileStorage, LogConfig, LogName, Record, Storage};

const BASES: [u64; 4] = [1, 2, 1000, 1 << 40];
const SEALED_GAP: u64 = 100_000;

fn data_dir() -> PathBuf {
    std::env::temp_dir().join(format!("nexo-fuzz-storage-recovery-{}", std::process::id()))
}

fn seg_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

/// Decodes every segment file of `dir` and checks that each holds CRC-valid records with
/// consecutive sequence numbers starting at its name, and nothing else.
fn check_files(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(base) = name.strip_suffix(".log").and_then(|s| s.parse::<u64>().ok()) else { continue };
        let data = fs::read(dir.join(&name)).unwrap();
        let (mut at, mut seq) = (0, base);
        while at < data.len() {
            match record::decode(&data[at..]) {
                Decoded::Record { record, len } => {
                    assert_eq!(record.seq, seq, "{name} at {at}");
                    at += len;
                    seq += 1;
                }
                other => panic!("{name} at {at}: {other:?} left after recovery"),
            }
        }
    }
}

fn read_all(s: &mut FileStorage, log: &LogName) -> Vec<Record> {
    s.read(log, 0, usize::MAX, usize::MAX).expect("read after recovery")
}

fuzz_target!(|data: &[u8]| {
    let (flags, knobs, body) = match data {
        [f, k, rest @ ..] => (*f, *k, rest),
        _ => return,
    };
    let base = BASES[usize::from(flags & 3)];
    let prefix_records = if flags & 4 != 0 { u64::from(knobs % 6) } else { 0 };
    let sealed = flags & 8 != 0;
    let config = LogConfig { index_every_bytes: u64::from(knobs >> 3) * 8, ..LogConfig::default() };

    let root = data_dir();
    let _ = fs::remove_dir_all(&root);
    let log = LogName::new("fuzz").unwrap();
    let dir = root.join("fuzz");
    fs::create_dir_all(&dir).unwrap();
    let mut segment = Vec::new();
    for i in 0..prefix_records {
        let payload = body.get(..(i as usize * 7) % 40).unwrap_or(body);
        record::encode(&mut segment, base + i, i * 10, payload).unwrap();
    }
    segment.extend_from_slice(body);
    fs::write(seg_path(&dir, base), &segment).unwrap();
    if sealed {
        fs::write(seg_path(&dir, base + SEALED_GAP), b"").unwrap();
    }
    if flags & 16 != 0 {
        let idx = body.get(..body.len().min(84)).unwrap_or(body);
        fs::write(dir.join(format!("{base:020}.idx")), idx).unwrap();
    }

    let mut s = FileStorage::open_dir(&root).unwrap();
    let rec = s.open(&log, config).expect("recovery of arbitrary bytes must succeed");
    assert!(rec.dropped_bytes <= segment.len() as u64);
    assert_eq!(rec.dropped_reason.is_some(), rec.dropped_bytes > 0);
    let records = read_all(&mut s, &log);
    assert_eq!(records.len() as u64, rec.records);
    if let Some(first) = records.first() {
        assert_eq!(first.seq, rec.first_seq);
    }
    for pair in records.windows(2) {
        // Consecutive within a segment; damage skipped in the middle leaves a gap between two.
        assert!(pair[0].seq < pair[1].seq, "increasing");
    }
    let kept = records.iter().filter(|r| r.seq < base + prefix_records).count() as u64;
    assert_eq!(kept, prefix_records, "valid prepended records are kept");
    assert!(rec.next_seq >= base + prefix_records);
    assert!(records.last().is_none_or(|r| r.seq < rec.next_seq));
    if sealed {
        assert!(rec.next_seq >= base + SEALED_GAP, "the empty last segment keeps its number");
    }
    check_files(&dir);
    drop(s);

    let mut s = FileStorage::open_dir(&root).unwrap();
    let again = s.open(&log, config).unwrap();
    assert_eq!(again.dropped_bytes, 0, "{:?}", again.dropped_reason);
    assert_eq!((again.next_seq, again.first_seq, again.records), (rec.next_seq, rec.first_seq, rec.records));
    assert_eq!(read_all(&mut s, &log), records);
    assert_eq!(s.append(&log, 0, b"after").unwrap(), rec.next_seq);
    assert_eq!(s.sync(&log).unwrap(), rec.next_seq + 1);
    drop(s);
    let _ = fs::remove_dir_all(&root);
});
