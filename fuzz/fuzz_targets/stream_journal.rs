//! Fuzzes Stream recovery: arbitrary `streams` journal records (raw bytes, or well-formed records
//! with arbitrary fields, so replay gets past the decoder) and arbitrary data-log ranges are
//! replayed into a broker. Checked:
//! - replay, the end of recovery, opening the logs, and requests and timers afterwards never
//!   panic;
//! - every append the broker emits has the predicted, consecutive sequence of its log;
//! - a compaction snapshot of the recovered state, replayed into a fresh broker, rebuilds the
//!   same topics and groups (generation, ack floor, dead letters).
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nexo_engine::stream::data;
use nexo_engine::stream::journal::{Record, TopicSettings};
use nexo_engine::{Broker, ConnId, LogId, Now, Output, StoredRecord, Stream, StreamConfig};
use nexo_proto::request::StreamRequest;

const TOPICS: [&str; 3] = ["a", "b", "c"];
const GROUPS: [&str; 2] = ["g", "h"];

#[derive(Debug, Arbitrary)]
enum Rec {
    Raw(Vec<u8>),
    TopicCreate { t: u8, incarnation: u8, base: u16, max_age: u16 },
    TopicDelete { t: u8, last_seq: u16 },
    GroupCreate { t: u8, g: u8, generation: u8, floor: u16 },
    GroupSeek { t: u8, g: u8, generation: u8, floor: u16 },
    GroupDelete { t: u8, g: u8 },
    Ack { t: u8, g: u8, seq: u16 },
    Dead { t: u8, g: u8, seq: u16, deliveries: u8 },
    Replay { t: u8, g: u8, seq: u16 },
    SnapshotBegin { next_incarnation: u8, seq_floor: u16 },
    SnapTopic { t: u8, incarnation: u8, base: u16 },
    SnapTombstone { t: u8, last_seq: u16 },
    SnapGroup { t: u8, g: u8, generation: u8, floor: u16 },
    SnapAcked { t: u8, g: u8, ranges: Vec<(u16, u32)> },
    SnapDead { t: u8, g: u8, seq: u16, deliveries: u8 },
    SnapReplaying { t: u8, g: u8, seq: u16 },
    SnapshotEnd { records: u8 },
}

fn topic(t: u8) -> &'static str {
    TOPICS[usize::from(t) % TOPICS.len()]
}

fn group(g: u8) -> &'static str {
    GROUPS[usize::from(g) % GROUPS.len()]
}

fn settings(incarnation: u8, base: u16, max_age: u16) -> TopicSettings {
    TopicSettings {
        incarnation: u64::from(incarnation),
        base: u64::from(base),
        max_age_ms: u64::from(max_age),
        max_bytes: 0,
    }
}

impl Rec {
    fn encode(&self) -> Bytes {
        let (s, g64) = (u64::from, |v: u8| u64::from(v));
        match *self {
            Self::Raw(ref bytes) => Bytes::copy_from_slice(bytes),
            Self::TopicCreate { t, incarnation, base, max_age } => {
                Record::TopicCreate { topic: topic(t), settings: settings(incarnation, base, max_age) }
                    .encode()
            }
            Self::TopicDelete { t, last_seq } => {
                Record::TopicDelete { topic: topic(t), last_seq: s(last_seq) }.encode()
            }
            Self::GroupCreate { t, g, generation, floor } => Record::GroupCreate {
                topic: topic(t),
                group: group(g),
                generation: g64(generation),
                ack_floor: s(floor),
            }
            .encode(),
            Self::GroupSeek { t, g, generation, floor } => Record::GroupSeek {
                topic: topic(t),
                group: group(g),
                generation: g64(generation),
                ack_floor: s(floor),
            }
            .encode(),
            Self::GroupDelete { t, g } => Record::GroupDelete { topic: topic(t), group: group(g) }.encode(),
            Self::Ack { t, g, seq } => Record::Ack { topic: topic(t), group: group(g), seq: s(seq) }.encode(),
            Self::Dead { t, g, seq, deliveries } => Record::Dead {
                topic: topic(t),
                group: group(g),
                seq: s(seq),
                deliveries: u32::from(deliveries),
            }
            .encode(),
            Self::Replay { t, g, seq } => {
                Record::Replay { topic: topic(t), group: group(g), seq: s(seq) }.encode()
            }
            Self::SnapshotBegin { next_incarnation, seq_floor } => {
                Record::SnapshotBegin { next_incarnation: g64(next_incarnation), seq_floor: s(seq_floor) }
                    .encode()
            }
            Self::SnapTopic { t, incarnation, base } => {
                Record::SnapTopic { topic: topic(t), settings: settings(incarnation, base, 0) }.encode()
            }
            Self::SnapTombstone { t, last_seq } => {
                Record::SnapTombstone { topic: topic(t), last_seq: s(last_seq) }.encode()
            }
            Self::SnapGroup { t, g, generation, floor } => Record::SnapGroup {
                topic: topic(t),
                group: group(g),
                generation: g64(generation),
                ack_floor: s(floor),
            }
            .encode(),
            Self::SnapAcked { t, g, ref ranges } => Record::SnapAcked {
                topic: topic(t),
                group: group(g),
                ranges: ranges.iter().map(|&(first, count)| (s(first), u64::from(count))).collect(),
            }
            .encode(),
            Self::SnapDead { t, g, seq, deliveries } => Record::SnapDead {
                topic: topic(t),
                group: group(g),
                seq: s(seq),
                deliveries: u32::from(deliveries),
            }
            .encode(),
            Self::SnapReplaying { t, g, seq } => {
                Record::SnapReplaying { topic: topic(t), group: group(g), seq: s(seq) }.encode()
            }
            Self::SnapshotEnd { records } => Record::SnapshotEnd { records: g64(records) }.encode(),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    records: Vec<Rec>,
    /// Data-log ranges handed out when a log is opened: `(first, next)` offsets.
    ranges: Vec<(u8, u8)>,
}

/// Storage in memory: each log's next sequence and its records (for reads).
#[derive(Default)]
struct Sim {
    next: BTreeMap<LogId, u64>,
    first: BTreeMap<LogId, u64>,
    records: BTreeMap<LogId, BTreeMap<u64, Bytes>>,
    ranges: Vec<(u8, u8)>,
}

impl Sim {
    /// Carries out every output; checks predicted sequences.
    fn drain(&mut self, s: &mut Stream, now: Now) {
        while let Some(output) = s.poll_output() {
            match output {
                Output::Append { log, seq, record } => {
                    let next = self.next.entry(log.clone()).or_insert(seq);
                    assert_eq!(seq, *next, "predicted sequence of {log}");
                    *next += 1;
                    self.records.entry(log).or_default().insert(seq, record);
                }
                Output::OpenLog { log, .. } => {
                    let (first, len) = self.ranges.pop().unwrap_or((1, 0));
                    let first = u64::from(first).max(1);
                    let next = *self.next.entry(log.clone()).or_insert(first + u64::from(len));
                    self.first.insert(log.clone(), first.min(next));
                    let records = self.records.entry(log.clone()).or_default();
                    for seq in first..next {
                        records.entry(seq).or_insert_with(|| data::encode(seq * 10, b"m"));
                    }
                    s.handle_log_opened(now, &log, first.min(next), next);
                }
                Output::Read { log, from_seq, max_records, token, .. } => {
                    let got = self.records.get(&log).map(|r| {
                        r.range(from_seq..)
                            .take(max_records)
                            .map(|(&seq, p)| StoredRecord { seq, timestamp_ms: 0, payload: p.clone() })
                            .collect()
                    });
                    s.handle_read(now, token, got.ok_or_else(|| "not open".to_owned()));
                }
                Output::Retain { log, .. } => {
                    let first = self.first.get(&log).copied().unwrap_or(1);
                    let next = self.next.get(&log).copied().unwrap_or(1);
                    s.handle_log_opened(now, &log, first, next);
                }
                Output::RemoveLog { log } => {
                    self.next.remove(&log);
                    self.records.remove(&log);
                }
                _ => {}
            }
        }
    }
}

type Dump = Vec<(String, u64, Vec<(String, u64, u64, u64)>)>;

fn dump(s: &Stream) -> Dump {
    s.topics(0, 1000)
        .into_iter()
        .map(|t| {
            let groups = s
                .groups(&t.name, 0, 1000)
                .unwrap_or_default()
                .into_iter()
                .map(|g| (g.name, g.generation, g.ack_floor, g.dead))
                .collect();
            (t.name, t.max_age_ms, groups)
        })
        .collect()
}

fn recover(records: &[Bytes], ranges: Vec<(u8, u8)>, config: StreamConfig) -> (Stream, Sim) {
    let journal = LogId::new("streams");
    let now = Now::at(0);
    let mut s = Stream::new(config, 1);
    for (i, record) in records.iter().enumerate() {
        s.handle_recovered(now, &journal, i as u64 + 1, record.clone());
        assert!(s.poll_output().is_none(), "no output during replay");
    }
    let mut sim = Sim { ranges, ..Sim::default() };
    sim.next.insert(journal.clone(), records.len() as u64 + 1);
    s.handle_recovery_done(now, &journal, records.len() as u64 + 1);
    sim.drain(&mut s, now);
    (s, sim)
}

fuzz_target!(|input: Input| {
    let journal = LogId::new("streams");
    let config = StreamConfig {
        compact_min_bytes: 0,
        compact_ratio: 0,
        max_ack_window: 4096,
        ..StreamConfig::default()
    };
    let records: Vec<Bytes> = input.records.iter().map(Rec::encode).collect();
    let (mut s, mut sim) = recover(&records, input.ranges.clone(), config);
    let now = Now::at(0);

    // Force a snapshot (threshold 0) and replay it into a fresh broker.
    let before = dump(&s);
    let start = sim.next[&journal];
    s.handle_persisted(now, &journal, start);
    sim.drain(&mut s, now);
    let snapshot: Vec<Bytes> = sim
        .records
        .get(&journal)
        .map(|r| r.range(start..).map(|(_, b)| b.clone()).collect())
        .unwrap_or_default();
    if !snapshot.is_empty() {
        let (fresh, _) = recover(&snapshot, input.ranges, config);
        assert_eq!(dump(&fresh), before, "a snapshot rebuilds the same state");
    }

    // Use the recovered broker a little: join, fetch, publish, seek, list, let timers run.
    let mut id = 0;
    let mut send = |s: &mut Stream, sim: &mut Sim, conn: u64, request: StreamRequest| {
        id += 1;
        s.handle_request(now, ConnId(conn), id, request);
        sim.drain(s, now);
    };
    for t in TOPICS {
        for g in GROUPS {
            send(&mut s, &mut sim, 1, StreamRequest::Join { group: g.into(), topic: t.into() });
            let fetch = StreamRequest::Fetch {
                topic: t.into(),
                group: g.into(),
                consumer_id: String::new(),
                generation: 1,
                limit: 10,
                wait_ms: 50,
            };
            send(&mut s, &mut sim, 1, fetch);
            let list = StreamRequest::ListDlq { topic: t.into(), group: g.into(), offset: 0, limit: 10 };
            send(&mut s, &mut sim, 2, list);
            send(&mut s, &mut sim, 2, StreamRequest::ReplayDlq { topic: t.into(), group: g.into(), seq: 0 });
            let seek = StreamRequest::SeekTime { topic: t.into(), group: g.into(), timestamp_ms: 25 };
            send(&mut s, &mut sim, 2, seek);
        }
        send(
            &mut s,
            &mut sim,
            2,
            StreamRequest::Publish { topic: t.into(), payload: Bytes::from_static(b"p") },
        );
    }
    let mut t = now;
    for _ in 0..4 {
        if let Some(at) = s.poll_timeout() {
            t = Now { mono_ms: at.max(t.mono_ms), wall_ms: t.wall_ms + at.saturating_sub(t.mono_ms) };
            s.handle_timeout(t);
            sim.drain(&mut s, t);
        }
    }
    s.handle_disconnect(t, ConnId(1));
    sim.drain(&mut s, t);
    let _ = s.stats();
});
