//! Model-based property test: `FileStorage` (in a temporary directory) and `MemoryStorage` run
//! the same random operations and must agree on every answer, including across reopening the
//! file backend (a process restart).
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions; a panic is a test failure")]

use nexo_storage::{FileStorage, LogConfig, LogName, MemoryStorage, Storage};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Append a payload of `len` bytes, the clock moving by `dt` (may go back).
    Append {
        dt: i16,
        len: u16,
    },
    Sync,
    Flush,
    /// Read from `first_seq - 2 + at`.
    Read {
        at: u8,
        max_records: u8,
        max_bytes: u16,
    },
    Roll,
    /// Truncate before `first_seq + at`.
    TruncateBefore {
        at: u8,
    },
    Retain {
        dt: u16,
        max_age_ms: u16,
        max_bytes: u16,
    },
    SeqAtTime {
        back: u16,
    },
    /// Skip to `next_seq + ahead` (0: nothing to do).
    SkipTo {
        ahead: u8,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (-5i16..20, 0u16..120).prop_map(|(dt, len)| Op::Append { dt: dt * 10, len }),
        2 => Just(Op::Sync),
        1 => Just(Op::Flush),
        3 => (any::<u8>(), 0u8..8, 0u16..300).prop_map(|(at, max_records, max_bytes)| Op::Read { at, max_records, max_bytes }),
        1 => Just(Op::Roll),
        1 => (0u8..12).prop_map(|at| Op::TruncateBefore { at }),
        1 => (0u16..200, prop_oneof![Just(0u16), 1u16..300], prop_oneof![Just(0u16), 1u16..600])
            .prop_map(|(dt, age, max_bytes)| Op::Retain { dt: dt * 10, max_age_ms: age * 10, max_bytes }),
        1 => (0u16..300).prop_map(|back| Op::SeqAtTime { back: back * 10 }),
        1 => (0u8..5).prop_map(|ahead| Op::SkipTo { ahead }),
        1 => Just(Op::Reopen),
    ]
}

fn config() -> impl Strategy<Value = LogConfig> {
    (24u64..400, prop_oneof![Just(0u64), (10u64..200).prop_map(|a| a * 10)], 0u64..200).prop_map(
        |(segment_bytes_max, segment_age_max_ms, index_every_bytes)| LogConfig {
            segment_bytes_max,
            segment_age_max_ms,
            index_every_bytes,
            verify_sealed: false,
        },
    )
}

fn payload(seed: u64, len: u16) -> Vec<u8> {
    (0..len).map(|i| (seed.wrapping_mul(31).wrapping_add(u64::from(i)) % 251) as u8).collect()
}

/// Checks that both backends agree on the log's state.
fn same_state(file: &FileStorage, mem: &MemoryStorage, log: &LogName) {
    assert_eq!(file.next_seq(log).unwrap(), mem.next_seq(log).unwrap(), "next_seq");
    assert_eq!(file.first_seq(log).unwrap(), mem.first_seq(log).unwrap(), "first_seq");
    assert_eq!(file.durable_next_seq(log).unwrap(), mem.durable_next_seq(log).unwrap(), "durable_next_seq");
    assert_eq!(file.bytes(log).unwrap(), mem.bytes(log).unwrap(), "bytes");
}

fn run(config: LogConfig, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let log = LogName::new("model-log").unwrap();
    let mut file = FileStorage::open_dir(dir.path()).unwrap();
    let mut mem = MemoryStorage::new();
    let recovery = file.open(&log, config).unwrap();
    assert_eq!(recovery, mem.open(&log, config).unwrap());
    let mut now: u64 = 10_000;
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Append { dt, len } => {
                now = now.saturating_add_signed(i64::from(dt));
                let p = payload(i as u64, len);
                assert_eq!(file.append(&log, now, &p).unwrap(), mem.append(&log, now, &p).unwrap());
            }
            Op::Sync => assert_eq!(file.sync(&log).unwrap(), mem.sync(&log).unwrap()),
            Op::Flush => {
                file.flush(&log).unwrap();
                mem.flush(&log).unwrap();
            }
            Op::Read { at, max_records, max_bytes } => {
                let from = mem.first_seq(&log).unwrap().saturating_sub(2) + u64::from(at % 40);
                let (r, b) = (usize::from(max_records), usize::from(max_bytes));
                assert_eq!(
                    file.read(&log, from, r, b).unwrap(),
                    mem.read(&log, from, r, b).unwrap(),
                    "read {from}"
                );
            }
            Op::Roll => {
                file.roll(&log).unwrap();
                mem.roll(&log).unwrap();
            }
            Op::TruncateBefore { at } => {
                let seq = mem.first_seq(&log).unwrap() + u64::from(at);
                assert_eq!(file.truncate_before(&log, seq).unwrap(), mem.truncate_before(&log, seq).unwrap());
            }
            Op::Retain { dt, max_age_ms, max_bytes } => {
                let t = now + u64::from(dt);
                let (a, b) = (u64::from(max_age_ms), u64::from(max_bytes));
                assert_eq!(file.retain(&log, t, a, b).unwrap(), mem.retain(&log, t, a, b).unwrap());
            }
            Op::SeqAtTime { back } => {
                let t = now.saturating_sub(u64::from(back));
                assert_eq!(
                    file.seq_at_time(&log, t).unwrap(),
                    mem.seq_at_time(&log, t).unwrap(),
                    "seq_at_time {t}"
                );
            }
            Op::SkipTo { ahead } => {
                let to = mem.next_seq(&log).unwrap() + u64::from(ahead);
                assert_eq!(file.skip_to(&log, to).unwrap(), mem.skip_to(&log, to).unwrap(), "skip_to {to}");
            }
            Op::Reopen => {
                drop(file);
                file = FileStorage::open_dir(dir.path()).unwrap();
                let recovered = file.open(&log, config).unwrap();
                mem.sync(&log).unwrap();
                let expected = mem.open(&log, config).unwrap();
                assert_eq!(recovered, expected, "recovery after reopen");
            }
        }
        same_state(&file, &mem, &log);
    }
    let all = |s: &mut dyn Storage| s.read(&log, 0, usize::MAX, usize::MAX).unwrap();
    let from_file = all(&mut file);
    assert_eq!(from_file, all(&mut mem));
    for pair in from_file.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "increasing (skip_to leaves gaps)");
        assert!(pair[0].timestamp_ms <= pair[1].timestamp_ms, "timestamps never decrease");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn file_backend_matches_memory_backend(config in config(), ops in prop::collection::vec(op(), 1..80)) {
        run(config, ops);
    }
}

#[test]
fn list_and_remove_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = FileStorage::open_dir(dir.path()).unwrap();
    let mut mem = MemoryStorage::new();
    let names: Vec<LogName> = ["b", "a", "queue-journal"].iter().map(|n| LogName::new(n).unwrap()).collect();
    for s in [&mut file as &mut dyn Storage, &mut mem] {
        for n in &names {
            s.open(n, LogConfig::default()).unwrap();
            s.append(n, 1, n.as_str().as_bytes()).unwrap();
        }
        s.remove(&names[0]).unwrap();
        s.remove(&names[0]).unwrap();
    }
    assert_eq!(file.list().unwrap(), mem.list().unwrap());
    assert_eq!(file.list().unwrap(), vec![names[1].clone(), names[2].clone()]);
    assert!(matches!(file.append(&names[0], 1, b"x"), Err(nexo_storage::StorageError::NotOpen { .. })));
    // A removed log starts again at 1 when created again.
    assert_eq!(file.open(&names[0], LogConfig::default()).unwrap().next_seq, 1);
}
