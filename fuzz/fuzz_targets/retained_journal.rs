//! Fuzzes recovery of Pub/Sub's retained journal: arbitrary records (raw bytes, or well-formed
//! records with arbitrary fields, so replay gets past the decoder) are replayed into a broker
//! with small retained limits. Checked:
//! - replay, the end of recovery, and a few requests, timers and a storage failure afterwards
//!   never panic, and replay emits nothing;
//! - every append the broker emits has the predicted, consecutive sequence;
//! - the recovered set respects the retained limits and holds no expired message;
//! - the compaction snapshot of the recovered state, replayed into a fresh broker, rebuilds the
//!   same state (the fresh broker's own snapshot is byte for byte the same).
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nexo_engine::pubsub::JOURNAL_LOG;
use nexo_engine::pubsub::journal::{Record, decode};
use nexo_engine::{Broker, ConnId, LogId, Now, Output, PubSub, PubSubConfig};
use nexo_proto::options::PublishOptions;
use nexo_proto::request::PubSubRequest;

const TOPICS: [&str; 6] = ["a", "a/b", "b", "a//c", "x/y/z", "deep/1/2/3/4/5"];

#[derive(Debug, Arbitrary)]
enum Rec {
    Raw(Vec<u8>),
    Set { t: u8, expiry: u8, payload: Vec<u8> },
    Clear { t: u8 },
    SnapshotBegin,
    SnapSet { t: u8, expiry: u8, payload: Vec<u8> },
    SnapshotEnd { count: u8 },
}

fn topic(t: u8) -> &'static str {
    TOPICS[usize::from(t) % TOPICS.len()]
}

/// Around the recovery instant: 0 = never, some expired already, some later.
fn expiry(e: u8) -> u64 {
    if e == 0 { 0 } else { 1_700_000_000_000 + u64::from(e) * 100 - 10_000 }
}

impl Rec {
    fn encode(&self) -> Bytes {
        match self {
            Self::Raw(bytes) => Bytes::copy_from_slice(bytes),
            Self::Set { t, expiry: e, payload } => {
                Record::Set { topic: topic(*t), expires_wall_ms: expiry(*e), payload }.encode()
            }
            Self::Clear { t } => Record::Clear { topic: topic(*t) }.encode(),
            Self::SnapshotBegin => Record::SnapshotBegin.encode(),
            Self::SnapSet { t, expiry: e, payload } => {
                Record::SnapSet { topic: topic(*t), expires_wall_ms: expiry(*e), payload }.encode()
            }
            Self::SnapshotEnd { count } => Record::SnapshotEnd { count: u64::from(*count) }.encode(),
        }
    }
}

/// Drains outputs, checking append sequences; returns the appended records.
fn drain(ps: &mut PubSub, next_seq: &mut u64) -> Vec<Bytes> {
    let mut records = Vec::new();
    while let Some(output) = ps.poll_output() {
        if let Output::Append { seq, record, .. } = output {
            assert_eq!(seq, *next_seq, "predicted sequence");
            *next_seq += 1;
            records.push(record);
        }
    }
    records
}

/// Replays `records` into a new broker; returns it with the records its recovery appended.
fn recover(config: PubSubConfig, seed: u64, now: Now, records: &[Bytes]) -> (PubSub, Vec<Bytes>, u64) {
    let log = LogId::new(JOURNAL_LOG);
    let mut ps = PubSub::new(config, seed);
    for (seq, record) in records.iter().enumerate() {
        ps.handle_recovered(now, &log, seq as u64, record.clone());
        assert!(ps.poll_output().is_none(), "no output during replay");
    }
    let mut next_seq = records.len() as u64;
    ps.handle_recovery_done(now, &log, next_seq);
    let appended = drain(&mut ps, &mut next_seq);
    (ps, appended, next_seq)
}

fuzz_target!(|recs: Vec<Rec>| {
    let log = LogId::new(JOURNAL_LOG);
    let now = Now::at(0);
    // Small limits so recovery has to refuse, and a zero threshold so it compacts at once.
    let config = PubSubConfig {
        max_retained_messages: 4,
        max_retained_bytes: 600,
        max_topic_levels: 5,
        compact_min_bytes: 0,
        compact_ratio: 0,
        ..PubSubConfig::default()
    };
    let encoded: Vec<Bytes> = recs.iter().map(Rec::encode).collect();
    let (mut ps, snapshot, mut next_seq) = recover(config, 1, now, &encoded);
    let stats = ps.stats();
    assert!(stats.retained <= 4 && stats.retained_bytes <= 600, "{stats:?}");

    // Any replayed byte makes recovery compact at once (threshold 0): the snapshot holds the
    // live messages, which are all the recovered ones (none expired).
    if snapshot.is_empty() {
        assert_eq!(stats.retained, 0, "nothing replayed, nothing recovered");
    }
    if let Some(end) = snapshot.last() {
        let Ok(Record::SnapshotEnd { count }) = decode(end) else { panic!("snapshot ends with END") };
        assert_eq!(count, stats.retained, "no expired message is recovered");
        // The snapshot rebuilds the same state: a fresh broker writes the same snapshot again.
        let (fresh, again, _) = recover(config, 2, now, &snapshot);
        assert_eq!(again, snapshot, "a snapshot rebuilds the same state");
        assert_eq!(fresh.stats().retained_bytes, stats.retained_bytes);
    }

    // Use the recovered broker a little: subscribe, publish, let messages expire, fail storage.
    ps.handle_persisted(now, &log, next_seq);
    drain(&mut ps, &mut next_seq);
    ps.handle_request(now, ConnId(1), 1, PubSubRequest::Subscribe { pattern: "#".into() });
    let retain = PublishOptions { retain: true, ttl: Some(1), persist: false };
    for (i, t) in TOPICS.iter().enumerate() {
        let payload = Bytes::from(vec![i as u8; i]);
        let request = PubSubRequest::Publish { topic: (*t).into(), options: retain, payload };
        ps.handle_request(now, ConnId(2), 2 + i as u32, request);
    }
    drain(&mut ps, &mut next_seq);
    let mut t = now;
    for _ in 0..3 {
        if let Some(at) = ps.poll_timeout() {
            t = Now { mono_ms: at.max(t.mono_ms), wall_ms: t.wall_ms + at.saturating_sub(t.mono_ms) };
            ps.handle_timeout(t);
            drain(&mut ps, &mut next_seq);
        }
    }
    ps.handle_storage_failed(t, &log, "fuzz");
    drain(&mut ps, &mut next_seq);
    ps.handle_request(
        t,
        ConnId(2),
        99,
        PubSubRequest::Publish { topic: "a".into(), options: retain, payload: Bytes::from_static(b"x") },
    );
    drain(&mut ps, &mut next_seq);
    ps.handle_disconnect(t, ConnId(1));
    let _ = ps.stats();
});
