//! `FaultyStorage`: crashes lose exactly the unsynced records, torn writes are reported, and
//! injected failures fence a log the way a real failed write or fsync does. Each scenario runs
//! over both the memory and the file backend.
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions; a panic is a test failure")]

use nexo_storage::{
    FaultyStorage, FileStorage, LogConfig, LogName, MemoryStorage, Storage, StorageError, record,
};

fn name(s: &str) -> LogName {
    LogName::new(s).unwrap()
}

fn seqs<S: Storage>(s: &mut S, log: &LogName) -> Vec<u64> {
    s.read(log, 0, usize::MAX, usize::MAX).unwrap().iter().map(|r| r.seq).collect()
}

/// Runs `scenario` over a memory backend and over a file backend in a temporary directory.
fn on_both(scenario: impl Fn(&mut dyn FnMut() -> Box<dyn Storage>)) {
    scenario(&mut || Box::new(MemoryStorage::new()));
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    scenario(&mut || {
        n += 1;
        let sub = dir.path().join(n.to_string());
        Box::new(FileStorage::open_dir(&sub).unwrap())
    });
}

#[test]
fn crash_loses_exactly_the_unsynced_records() {
    on_both(|make| {
        let log = name("jobs");
        let mut s = FaultyStorage::new(make());
        s.open(&log, LogConfig::default()).unwrap();
        for i in 1..=3 {
            assert_eq!(s.append(&log, i, b"synced").unwrap(), i);
        }
        assert_eq!(s.sync(&log).unwrap(), 4);
        for i in 4..=6 {
            assert_eq!(s.append(&log, i, b"lost").unwrap(), i);
        }
        s.flush(&log).unwrap();
        assert_eq!(s.unsynced(&log), 3);
        assert_eq!(seqs(&mut s, &log), [1, 2, 3, 4, 5, 6], "reads see unsynced appends");
        assert_eq!(s.durable_next_seq(&log).unwrap(), 4);
        assert_eq!(s.seq_at_time(&log, 5).unwrap(), 5);
        s.crash();
        assert!(matches!(s.append(&log, 7, b"x"), Err(StorageError::NotOpen { .. })));
        let rec = s.open(&log, LogConfig::default()).unwrap();
        assert_eq!((rec.next_seq, rec.records, rec.dropped_bytes), (4, 3, 0));
        assert_eq!(seqs(&mut s, &log), [1, 2, 3]);
        // Unsynced numbers were never durable, so they are handed out again.
        assert_eq!(s.append(&log, 0, b"again").unwrap(), 4);
        let again = s.read(&log, 4, 1, 100).unwrap();
        assert_eq!(again[0].timestamp_ms, 3, "timestamps stay non-decreasing");
    });
}

#[test]
fn crash_tearing_keeps_a_prefix_and_reports_the_torn_record() {
    on_both(|make| {
        let log = name("torn");
        let mut s = FaultyStorage::new(make());
        s.open(&log, LogConfig::default()).unwrap();
        s.append(&log, 1, b"durable").unwrap();
        s.sync(&log).unwrap();
        s.append(&log, 2, b"reached the disk").unwrap();
        s.append(&log, 3, b"torn").unwrap();
        s.crash_tearing(10).unwrap();
        let rec = s.open(&log, LogConfig::default()).unwrap();
        assert_eq!((rec.next_seq, rec.records, rec.dropped_bytes), (3, 2, 10));
        assert!(rec.dropped_reason.unwrap().contains("torn record"));
        assert_eq!(seqs(&mut s, &log), [1, 2]);
        // Keeping the whole last record means nothing was torn.
        s.append(&log, 4, b"whole").unwrap();
        s.crash_tearing(record::encoded_len(5)).unwrap();
        let rec = s.open(&log, LogConfig::default()).unwrap();
        assert_eq!((rec.next_seq, rec.dropped_bytes), (4, 0));
    });
}

#[test]
fn fail_after_n_operations_fences_the_log() {
    on_both(|make| {
        let (a, b) = (name("a"), name("b"));
        let mut s = FaultyStorage::new(make());
        s.open(&a, LogConfig::default()).unwrap();
        s.open(&b, LogConfig::default()).unwrap();
        s.append(&a, 1, b"1").unwrap();
        s.sync(&a).unwrap();
        s.fail_after(2);
        s.append(&a, 2, b"2").unwrap();
        s.append(&b, 2, b"b").unwrap();
        let err = s.sync(&a).unwrap_err();
        assert!(err.is_failed(), "{err}");
        assert!(err.to_string().contains("injected failure of sync"), "{err}");
        for e in [
            s.append(&a, 3, b"3").map(|_| ()).unwrap_err(),
            s.sync(&a).map(|_| ()).unwrap_err(),
            s.read(&a, 0, 9, 99).map(|_| ()).unwrap_err(),
            s.next_seq(&a).map(|_| ()).unwrap_err(),
            s.open(&a, LogConfig::default()).map(|_| ()).unwrap_err(),
        ] {
            assert_eq!(e.to_string(), err.to_string(), "fenced for every call");
        }
        // The plan holds for every log until healed.
        assert!(s.sync(&b).unwrap_err().is_failed());
        s.heal();
        assert!(s.append(&b, 9, b"b").unwrap_err().is_failed(), "b was fenced by its failed sync");
        s.crash();
        assert_eq!(s.open(&a, LogConfig::default()).unwrap().next_seq, 2);
        assert_eq!(s.open(&b, LogConfig::default()).unwrap().next_seq, 1);
        assert_eq!(s.append(&a, 5, b"after restart").unwrap(), 2);
        assert_eq!(s.sync(&a).unwrap(), 3);
    });
}

#[test]
fn a_failed_fsync_is_never_retried() {
    on_both(|make| {
        let log = name("fsyncgate");
        let mut s = FaultyStorage::new(make());
        s.open(&log, LogConfig::default()).unwrap();
        s.append(&log, 1, b"x").unwrap();
        s.fail_next_sync();
        let ops = s.operations();
        assert!(s.sync(&log).unwrap_err().is_failed());
        assert_eq!(s.operations(), ops + 1);
        // A second sync must not pretend the data is now durable.
        assert!(s.sync(&log).unwrap_err().is_failed());
        assert_eq!(s.operations(), ops + 1, "a fenced log does not even try");
        s.crash();
        let rec = s.open(&log, LogConfig::default()).unwrap();
        assert_eq!((rec.next_seq, rec.records), (1, 0));
    });
}

#[test]
fn truncation_and_retention_through_the_wrapper() {
    on_both(|make| {
        let log = name("ret");
        let mut s = FaultyStorage::new(make());
        let config = LogConfig {
            segment_bytes_max: 100,
            segment_age_max_ms: 0,
            index_every_bytes: 0,
            verify_sealed: false,
        };
        s.open(&log, config).unwrap();
        for i in 1..=6 {
            s.append(&log, i, &[0u8; 30]).unwrap(); // 54 bytes: one record per segment
            s.sync(&log).unwrap();
        }
        s.append(&log, 7, b"pending").unwrap();
        assert_eq!(s.truncate_before(&log, 4).unwrap(), 4);
        assert_eq!(s.retain(&log, 10, 0, 1).unwrap(), 6);
        assert_eq!(seqs(&mut s, &log), [6, 7]);
        assert_eq!(s.bytes(&log).unwrap(), 54 + record::encoded_len(7) as u64);
        s.roll(&log).unwrap();
        assert_eq!(s.unsynced(&log), 0, "roll makes pending records durable");
        assert_eq!(s.truncate_before(&log, 100).unwrap(), 8);
        s.crash();
        assert_eq!(s.open(&log, config).unwrap().next_seq, 8);
        s.remove(&log).unwrap();
        assert!(s.list().unwrap().is_empty());
    });
}

#[derive(Debug, Clone)]
enum CrashOp {
    Append(u8),
    Sync,
    Crash,
    Tear(u8),
}

fn crash_op() -> impl proptest::strategy::Strategy<Value = CrashOp> {
    use proptest::prelude::*;
    prop_oneof![
        6 => any::<u8>().prop_map(CrashOp::Append),
        2 => Just(CrashOp::Sync),
        1 => Just(CrashOp::Crash),
        1 => any::<u8>().prop_map(CrashOp::Tear),
    ]
}

/// Against a model of (durable, unsynced) payloads: a crash keeps exactly the durable ones.
fn crash_model(inner: Box<dyn Storage>, ops: &[CrashOp]) {
    let log = name("model");
    let mut s = FaultyStorage::new(inner);
    s.open(&log, LogConfig { segment_bytes_max: 200, ..LogConfig::default() }).unwrap();
    let (mut durable, mut unsynced): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    for (i, op) in ops.iter().enumerate() {
        match op {
            CrashOp::Append(len) => {
                let p = vec![i as u8; usize::from(*len % 64)];
                assert_eq!(
                    s.append(&log, i as u64, &p).unwrap(),
                    (durable.len() + unsynced.len() + 1) as u64
                );
                unsynced.push(p);
            }
            CrashOp::Sync => {
                durable.append(&mut unsynced);
                assert_eq!(s.sync(&log).unwrap(), durable.len() as u64 + 1);
            }
            CrashOp::Crash => {
                s.crash();
                unsynced.clear();
                assert_eq!(s.open(&log, LogConfig::default()).unwrap().next_seq, durable.len() as u64 + 1);
            }
            CrashOp::Tear(keep) => {
                let keep = usize::from(*keep);
                let last = unsynced.pop();
                let torn = last.as_ref().is_some_and(|l| keep < record::encoded_len(l.len()));
                durable.append(&mut unsynced);
                durable.extend(last.filter(|_| !torn));
                s.crash_tearing(keep).unwrap();
                let rec = s.open(&log, LogConfig::default()).unwrap();
                assert_eq!(rec.next_seq, durable.len() as u64 + 1);
                assert_eq!(rec.dropped_bytes, if torn { keep as u64 } else { 0 });
            }
        }
        let got: Vec<Vec<u8>> = s
            .read(&log, 0, usize::MAX, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|r| r.payload.to_vec())
            .collect();
        let want: Vec<Vec<u8>> = durable.iter().chain(&unsynced).cloned().collect();
        assert_eq!(got, want);
        assert_eq!(s.durable_next_seq(&log).unwrap(), durable.len() as u64 + 1);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    #[test]
    fn crashes_keep_exactly_the_durable_records(ops in proptest::collection::vec(crash_op(), 1..60)) {
        crash_model(Box::new(MemoryStorage::new()), &ops);
        let dir = tempfile::tempdir().unwrap();
        crash_model(Box::new(FileStorage::open_dir(dir.path()).unwrap()), &ops);
    }
}
