//! File backend recovery and durability: torn tails, corruption, lost indexes, sequence numbers
//! that must never be reused, the directory lock and fencing after a real I/O failure.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions; a panic is a test failure")]

use std::fs;
use std::path::{Path, PathBuf};

use nexo_storage::record::{self, Decoded};
use nexo_storage::{FileStorage, LogConfig, LogName, Storage, StorageError};

fn name(s: &str) -> LogName {
    LogName::new(s).unwrap()
}

fn seg(dir: &Path, log: &str, base: u64) -> PathBuf {
    dir.join(log).join(format!("{base:020}.log"))
}

fn idx(dir: &Path, log: &str, base: u64) -> PathBuf {
    dir.join(log).join(format!("{base:020}.idx"))
}

fn small(segment_bytes_max: u64) -> LogConfig {
    LogConfig { segment_bytes_max, segment_age_max_ms: 0, index_every_bytes: 64, verify_sealed: false }
}

fn all(s: &mut FileStorage, log: &LogName) -> Vec<(u64, Vec<u8>)> {
    s.read(log, 0, usize::MAX, usize::MAX).unwrap().into_iter().map(|r| (r.seq, r.payload.to_vec())).collect()
}

/// Writes `n` synced records `rec-<seq>` to `log` in a fresh data dir and returns it.
fn populate(log: &LogName, n: u64, config: LogConfig) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    s.open(log, config).unwrap();
    for i in 1..=n {
        assert_eq!(s.append(log, 1000 + i, format!("rec-{i}").as_bytes()).unwrap(), i);
    }
    assert_eq!(s.sync(log).unwrap(), n + 1);
    dir
}

#[test]
fn torn_tail_at_every_offset_keeps_the_valid_prefix() {
    let log = name("torn");
    let dir = populate(&log, 4, LogConfig::default());
    let full = fs::read(seg(dir.path(), "torn", 1)).unwrap();
    let last_start = full.len() - record::encoded_len("rec-4".len());
    for cut in last_start..full.len() {
        let case = tempfile::tempdir().unwrap();
        fs::create_dir(case.path().join("torn")).unwrap();
        fs::write(seg(case.path(), "torn", 1), &full[..cut]).unwrap();
        let mut s = FileStorage::open_dir(case.path()).unwrap();
        let rec = s.open(&log, LogConfig::default()).unwrap();
        assert_eq!((rec.first_seq, rec.next_seq, rec.records), (1, 4, 3), "cut {cut}");
        assert_eq!(rec.dropped_bytes, (cut - last_start) as u64, "cut {cut}");
        assert_eq!(rec.dropped_reason.is_some(), cut > last_start, "cut {cut}");
        if cut > last_start {
            let why = rec.dropped_reason.unwrap();
            assert!(why.contains("00000000000000000001.log") && why.contains("torn record"), "{why}");
        }
        assert_eq!(
            fs::metadata(seg(case.path(), "torn", 1)).unwrap().len(),
            last_start as u64,
            "tail cut off"
        );
        let got = all(&mut s, &log);
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3]);
        // The torn record was never durable, so its number is the next one; earlier ones stay.
        assert_eq!(s.append(&log, 0, b"new").unwrap(), 4);
        assert_eq!(s.sync(&log).unwrap(), 5);
        drop(s);
        let mut s = FileStorage::open_dir(case.path()).unwrap();
        let again = s.open(&log, LogConfig::default()).unwrap();
        assert_eq!((again.next_seq, again.dropped_bytes), (5, 0));
        assert_eq!(all(&mut s, &log).last().map(|r| r.1.clone()), Some(b"new".to_vec()));
    }
}

#[test]
fn corrupt_crc_in_the_middle_skips_only_the_damaged_record() {
    let log = name("crc");
    let dir = populate(&log, 10, LogConfig::default());
    let path = seg(dir.path(), "crc", 1);
    let mut data = fs::read(&path).unwrap();
    let rec_len = record::encoded_len("rec-1".len());
    let fifth = 4 * rec_len;
    data[fifth + record::HEADER_BYTES + 1] ^= 0x40; // a payload byte of record 5
    fs::write(&path, &data).unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let rec = s.open(&log, LogConfig::default()).unwrap();
    // Records 6..=10 were intact (and maybe acknowledged): they are kept, in a segment of their own.
    assert_eq!((rec.first_seq, rec.records, rec.next_seq), (1, 9, 11));
    assert_eq!(
        (rec.dropped_bytes, rec.quarantined_bytes, rec.damaged_ranges),
        (rec_len as u64, rec_len as u64, 1)
    );
    let why = rec.dropped_reason.unwrap();
    assert!(why.contains("CRC mismatch") && why.contains(&format!("at byte {fifth}")), "{why}");
    assert!(why.contains("quarantine"), "{why}");
    let quarantine = dir.path().join("crc").join(format!("{:020}-at-{fifth}.quarantine", 1));
    assert_eq!(fs::read(&quarantine).unwrap(), &data[fifth..fifth + rec_len], "damaged bytes kept aside");
    assert_eq!(
        fs::read(seg(dir.path(), "crc", 6)).unwrap(),
        &data[fifth + rec_len..],
        "segment files unchanged"
    );
    assert_eq!(all(&mut s, &log).iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3, 4, 6, 7, 8, 9, 10]);
    assert_eq!(s.append(&log, 0, b"eleven").unwrap(), 11);
    s.sync(&log).unwrap();
    assert_eq!(s.read(&log, 5, 10, 1000).unwrap().first().map(|r| r.seq), Some(6), "gap is skipped");
    drop(s);
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let again = s.open(&log, LogConfig::default()).unwrap();
    assert_eq!((again.next_seq, again.records, again.dropped_bytes), (12, 10, 0));
    assert!(quarantine.exists(), "the quarantine file stays until an operator removes it");
}

#[test]
fn garbage_or_zeroes_at_the_tail_are_dropped() {
    let log = name("zeros");
    let dir = populate(&log, 3, LogConfig::default());
    let path = seg(dir.path(), "zeros", 1);
    let mut data = fs::read(&path).unwrap();
    let valid = data.len();
    data.extend_from_slice(&[0; 4096]); // a file system may show zeroes after a crash
    fs::write(&path, &data).unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let rec = s.open(&log, LogConfig::default()).unwrap();
    assert_eq!((rec.next_seq, rec.records, rec.dropped_bytes), (4, 3, 4096));
    assert!(rec.dropped_reason.unwrap().contains(&format!("record length 0 out of range at byte {valid}")));
}

#[test]
fn sequence_never_reused_after_truncating_everything() {
    let log = name("trunc");
    let dir = populate(&log, 5, small(1 << 20));
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    s.open(&log, small(1 << 20)).unwrap();
    s.roll(&log).unwrap();
    assert_eq!(s.truncate_before(&log, 1000).unwrap(), 6);
    assert_eq!((s.first_seq(&log).unwrap(), s.next_seq(&log).unwrap()), (6, 6));
    assert!(!seg(dir.path(), "trunc", 1).exists() && !idx(dir.path(), "trunc", 1).exists());
    assert!(seg(dir.path(), "trunc", 6).exists(), "the empty active segment keeps the next seq");
    drop(s);
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let rec = s.open(&log, small(1 << 20)).unwrap();
    assert_eq!((rec.first_seq, rec.next_seq, rec.records), (6, 6, 0));
    assert_eq!(s.append(&log, 1, b"x").unwrap(), 6);
    // Same through retention by size.
    s.roll(&log).unwrap();
    assert_eq!(s.retain(&log, 0, 0, 1).unwrap(), 7);
    drop(s);
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    assert_eq!(s.open(&log, small(1 << 20)).unwrap().next_seq, 7);
    assert_eq!(s.append(&log, 1, b"y").unwrap(), 7);
}

#[test]
fn retention_by_age_expires_a_quiet_log() {
    let log = name("aged");
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let config = LogConfig { segment_age_max_ms: 1000, ..LogConfig::default() };
    s.open(&log, config).unwrap();
    for t in [100, 200, 300] {
        s.append(&log, t, b"old").unwrap();
    }
    // Nothing is sealed yet, but `retain` seals the segment once it is older than its age limit.
    assert_eq!(s.retain(&log, 900, 500, 0).unwrap(), 1);
    assert_eq!(s.retain(&log, 1100, 500, 0).unwrap(), 4);
    assert_eq!(s.read(&log, 0, 10, 1000).unwrap(), vec![]);
    assert_eq!(s.append(&log, 1200, b"new").unwrap(), 4);
    // An append more than the age limit after the segment's first record starts a new segment.
    s.append(&log, 2300, b"later").unwrap();
    assert!(seg(dir.path(), "aged", 5).exists());
}

#[test]
fn lost_or_damaged_indexes_are_rebuilt() {
    let log = name("idx");
    let config = small(300);
    let dir = populate(&log, 60, config);
    let segments: Vec<u64> = {
        let mut v: Vec<u64> = fs::read_dir(dir.path().join("idx"))
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.strip_suffix(".log")?.parse().ok())
            .collect();
        v.sort();
        v
    };
    assert!(segments.len() >= 5, "{segments:?}");
    fs::remove_file(idx(dir.path(), "idx", segments[1])).unwrap();
    let mut bad = fs::read(idx(dir.path(), "idx", segments[2])).unwrap();
    let n = bad.len();
    bad[n - 3] ^= 0xFF;
    fs::write(idx(dir.path(), "idx", segments[2]), &bad).unwrap();
    fs::write(idx(dir.path(), "idx", 999_999), b"orphan").unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let rec = s.open(&log, config).unwrap();
    assert_eq!((rec.first_seq, rec.next_seq, rec.records, rec.dropped_bytes), (1, 61, 60, 0));
    assert!(idx(dir.path(), "idx", segments[1]).exists(), "rebuilt");
    assert!(!idx(dir.path(), "idx", 999_999).exists(), "orphan removed");
    for from in 1..=60 {
        let got = s.read(&log, from, 3, usize::MAX).unwrap();
        let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
        let want: Vec<u64> = (from..=60).take(3).collect();
        assert_eq!(seqs, want, "from {from}");
        assert_eq!(got[0].payload.as_ref(), format!("rec-{from}").as_bytes());
        assert_eq!(s.seq_at_time(&log, 1000 + from).unwrap(), from);
    }
    assert_eq!(s.seq_at_time(&log, 0).unwrap(), 1);
    assert_eq!(s.seq_at_time(&log, 5000).unwrap(), 61);
}

#[test]
fn a_damaged_sealed_segment_is_cut_and_reported() {
    let log = name("sealed");
    let config = small(200);
    let dir = populate(&log, 20, config);
    let first = seg(dir.path(), "sealed", 1);
    let data = fs::read(&first).unwrap();
    let rec_len = record::encoded_len("rec-1".len());
    let records_in_first = data.len() / rec_len;
    assert!(records_in_first >= 2);
    fs::write(&first, &data[..data.len() - 3]).unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let rec = s.open(&log, config).unwrap();
    assert_eq!(rec.dropped_bytes, (rec_len - 3) as u64);
    assert!(rec.dropped_reason.unwrap().contains("torn record"));
    assert_eq!((rec.first_seq, rec.next_seq, rec.records), (1, 21, 19));
    let seqs: Vec<u64> = all(&mut s, &log).iter().map(|r| r.0).collect();
    let missing = records_in_first as u64;
    assert!(!seqs.contains(&missing) && seqs.len() == 19 && seqs.last() == Some(&20), "{seqs:?}");
}

#[test]
fn verify_sealed_finds_damage_the_index_check_cannot_see() {
    let log = name("verify");
    let config = small(200);
    let dir = populate(&log, 20, config);
    let first = seg(dir.path(), "verify", 1);
    let mut data = fs::read(&first).unwrap();
    let rec_len = record::encoded_len("rec-1".len());
    data[rec_len + record::HEADER_BYTES + 1] ^= 0x10; // a payload byte of record 2, mid-segment
    fs::write(&first, &data).unwrap();
    // The index's first and last entries still match: only a read of record 2 sees the damage.
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    assert_eq!(s.open(&log, config).unwrap().dropped_bytes, 0);
    assert!(matches!(s.read(&log, 1, 100, usize::MAX), Err(StorageError::Corrupt { .. })));
    drop(s);
    // A journal read whole at start-up asks for every sealed record to be checked.
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let rec = s.open(&log, LogConfig { verify_sealed: true, ..config }).unwrap();
    assert_eq!((rec.damaged_ranges, rec.quarantined_bytes, rec.records), (1, rec_len as u64, 19));
    let seqs: Vec<u64> = all(&mut s, &log).iter().map(|r| r.0).collect();
    assert_eq!(seqs, [1].into_iter().chain(3..=20).collect::<Vec<u64>>());
}

#[test]
fn reads_cross_segments_buffer_and_index_exactly() {
    let log = name("reads");
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    let config = LogConfig {
        segment_bytes_max: 10_000,
        segment_age_max_ms: 0,
        index_every_bytes: 500,
        verify_sealed: false,
    };
    s.open(&log, config).unwrap();
    let mut expected = Vec::new();
    for i in 1..=400u64 {
        let p = vec![(i % 256) as u8; (i as usize * 37) % 300];
        assert_eq!(s.append(&log, i * 10, &p).unwrap(), i);
        expected.push(p);
        if i % 97 == 0 {
            s.sync(&log).unwrap();
        }
    }
    // Some records are synced, some flushed by the buffer, some still buffered.
    for from in (1..=400u64).step_by(7) {
        let got = s.read(&log, from, 5, 700).unwrap();
        assert!(!got.is_empty());
        let mut bytes = 0;
        for (k, r) in got.iter().enumerate() {
            assert_eq!(r.seq, from + k as u64);
            assert_eq!(r.timestamp_ms, r.seq * 10);
            assert_eq!(r.payload.as_ref(), expected[(r.seq - 1) as usize].as_slice());
            bytes += r.payload.len();
        }
        assert!(got.len() == 1 || bytes <= 700);
        assert_eq!(s.seq_at_time(&log, from * 10 - 5).unwrap(), from);
    }
    // A record bigger than max_bytes still comes back alone.
    let big = s.read(&log, 8, 5, 1).unwrap();
    assert_eq!(big.len(), 1);
    assert_eq!(s.read(&log, 401, 5, 1000).unwrap(), vec![]);
    assert_eq!(s.read(&log, 1, 0, 1000).unwrap(), vec![]);
}

#[test]
fn large_records_and_limits() {
    let log = name("large");
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    s.open(&log, LogConfig { segment_bytes_max: 1 << 20, ..LogConfig::default() }).unwrap();
    let big = vec![9u8; 3 << 20];
    assert_eq!(s.append(&log, 1, &big).unwrap(), 1);
    assert_eq!(s.append(&log, 2, b"").unwrap(), 2);
    let too_big = vec![0u8; record::MAX_PAYLOAD_BYTES + 1];
    let err = s.append(&log, 3, &too_big).unwrap_err();
    assert!(matches!(err, StorageError::TooLarge { .. }), "{err}");
    assert_eq!(s.sync(&log).unwrap(), 3, "a refused record does not fence the log");
    drop(s);
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    assert_eq!(s.open(&log, LogConfig::default()).unwrap().records, 2);
    let got = s.read(&log, 1, 10, 10).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload.len(), 3 << 20);
}

#[test]
fn second_open_dir_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileStorage::open_dir(dir.path()).unwrap();
    let err = FileStorage::open_dir(dir.path()).unwrap_err();
    assert!(matches!(err, StorageError::Locked { .. }));
    let text = format!("Storage unavailable: {err}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(text.contains("locked by another nexo process"), "{text}");
    assert_eq!(first.lock_path(), dir.path().join("LOCK"));
    drop(first);
    FileStorage::open_dir(dir.path()).unwrap();
}

#[test]
fn a_failed_write_fences_the_log_for_good() {
    let log = name("fenced");
    let other = name("healthy");
    let dir = tempfile::tempdir().unwrap();
    let mut s = FileStorage::open_dir(dir.path()).unwrap();
    s.open(&log, LogConfig::default()).unwrap();
    s.open(&other, LogConfig::default()).unwrap();
    s.append(&log, 1, b"a").unwrap();
    // Pull the directory from under the log: sealing it must create a file there, and fails.
    fs::remove_dir_all(dir.path().join("fenced")).unwrap();
    let err = s.roll(&log).unwrap_err();
    assert!(err.is_failed(), "{err}");
    let text = format!("Storage unavailable: {err}");
    assert!(
        text.starts_with("Storage unavailable: log 'fenced' refuses writes after an I/O failure"),
        "{text}"
    );
    for e in [
        s.append(&log, 2, b"b").unwrap_err(),
        s.sync(&log).map(|_| ()).unwrap_err(),
        s.read(&log, 0, 1, 1).map(|_| ()).unwrap_err(),
        s.open(&log, LogConfig::default()).map(|_| ()).unwrap_err(),
        s.next_seq(&log).map(|_| ()).unwrap_err(),
    ] {
        assert_eq!(e.to_string(), err.to_string());
    }
    s.append(&other, 1, b"fine").unwrap();
    assert_eq!(s.sync(&other).unwrap(), 2, "other logs are unaffected");
}

#[test]
fn records_on_disk_decode_with_the_documented_layout() {
    let log = name("layout");
    let dir = populate(&log, 3, LogConfig::default());
    let data = fs::read(seg(dir.path(), "layout", 1)).unwrap();
    let mut at = 0;
    for seq in 1..=3u64 {
        let Decoded::Record { record, len } = record::decode(&data[at..]) else { panic!("record {seq}") };
        assert_eq!((record.seq, record.timestamp_ms), (seq, 1000 + seq));
        assert_eq!(&data[at..at + 4], &((16 + record.payload.len()) as u32).to_le_bytes());
        at += len;
    }
    assert_eq!(at, data.len());
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"LOCK".to_owned()) || names.contains(&"layout".to_owned()));
}
