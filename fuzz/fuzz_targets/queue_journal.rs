//! Fuzzes Queue recovery: arbitrary records (raw bytes, or well-formed records with arbitrary
//! fields, so replay gets past the decoder) are replayed into a broker. Checked:
//! - replay, the end of recovery, and a few requests (v1 and SQS) and timers afterwards never
//!   panic; dead-letter targets and moves are among the records;
//! - every append the broker emits has the predicted, consecutive sequence;
//! - a compaction snapshot of the recovered state, replayed into a fresh broker, rebuilds the
//!   same queues and messages (ready order, delayed, dead with reasons and attempts).
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nexo_engine::queue::journal::{Record, SnapState};
use nexo_engine::queue::{MessageState, QueueSettings, SqsCommand, SqsReply};
use nexo_engine::{Broker, ConnId, LogId, Now, Output, Queue, QueueConfig};
use nexo_proto::options::ConsumeOptions;
use nexo_proto::request::QueueRequest;

const NAMES: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Arbitrary)]
enum State {
    Ready,
    Delayed,
    Leased,
    Dead,
}

#[derive(Debug, Arbitrary)]
enum Rec {
    Raw(Vec<u8>),
    Create { q: u8, visibility: u16, retries: u8 },
    Delete { q: u8 },
    Push { q: u8, id: u8, priority: u8, due: u8, payload: Vec<u8> },
    Lease { q: u8, id: u8 },
    Ack { q: u8, id: u8 },
    Requeue { q: u8, id: u8, due: u8 },
    Dead { q: u8, id: u8, attempts: u8, reason: String },
    Move { q: u8, id: u8 },
    DlqDelete { q: u8, id: u8 },
    DlqPurge { q: u8 },
    Purge { q: u8 },
    Redrive { q: u8, target: u8, max: u8 },
    DeadLetter { q: u8, id: u8, target: u8, new_id: u8 },
    SnapshotBegin,
    SnapRedrive { q: u8, target: u8, max: u8 },
    SnapQueue { q: u8, retries: u8 },
    SnapMessage { q: u8, id: u8, priority: u8, attempts: u8, state: State, due: u8, reason: String },
    SnapshotEnd { queues: u8, messages: u8 },
}

fn name(q: u8) -> &'static str {
    NAMES[usize::from(q) % NAMES.len()]
}

/// A dead-letter target: one of the names, or none (empty).
fn target(t: u8) -> &'static str {
    if t % 4 == 3 { "" } else { name(t) }
}

fn due(d: u8) -> u64 {
    // Around the recovery instant: some due already, some later, 0 = not delayed.
    if d == 0 { 0 } else { 1_700_000_000_000 + u64::from(d) * 100 - 10_000 }
}

impl Rec {
    fn encode(&self) -> Bytes {
        let settings = |visibility: u16, retries: u8| QueueSettings {
            visibility_timeout_ms: u64::from(visibility) + 1,
            max_retries: u32::from(retries % 8),
            max_depth: 0,
            max_bytes: 0,
        };
        let id = |n: u8| [n; 16];
        match self {
            Self::Raw(bytes) => Bytes::copy_from_slice(bytes),
            Self::Create { q, visibility, retries } => {
                Record::Create { name: name(*q), settings: settings(*visibility, *retries) }.encode()
            }
            Self::Delete { q } => Record::Delete { name: name(*q) }.encode(),
            Self::Push { q, id: n, priority, due: d, payload } => Record::Push {
                name: name(*q),
                id: id(*n),
                priority: *priority,
                due_wall_ms: due(*d),
                payload,
            }
            .encode(),
            Self::Lease { q, id: n } => Record::Lease { name: name(*q), id: id(*n) }.encode(),
            Self::Ack { q, id: n } => Record::Ack { name: name(*q), id: id(*n) }.encode(),
            Self::Requeue { q, id: n, due: d } => {
                Record::Requeue { name: name(*q), id: id(*n), due_wall_ms: due(*d) }.encode()
            }
            Self::Dead { q, id: n, attempts, reason } => {
                Record::Dead { name: name(*q), id: id(*n), attempts: u32::from(*attempts), reason }.encode()
            }
            Self::Move { q, id: n } => Record::Move { name: name(*q), id: id(*n) }.encode(),
            Self::DlqDelete { q, id: n } => Record::DlqDelete { name: name(*q), id: id(*n) }.encode(),
            Self::DlqPurge { q } => Record::DlqPurge { name: name(*q) }.encode(),
            Self::Purge { q } => Record::Purge { name: name(*q) }.encode(),
            Self::Redrive { q, target: t, max } => {
                Record::Redrive { name: name(*q), target: target(*t), max_receive_count: u32::from(*max) }
                    .encode()
            }
            Self::SnapRedrive { q, target: t, max } => {
                Record::SnapRedrive { name: name(*q), target: target(*t), max_receive_count: u32::from(*max) }
                    .encode()
            }
            Self::DeadLetter { q, id: n, target: t, new_id } => {
                Record::DeadLetter { name: name(*q), id: id(*n), target: name(*t), new_id: id(*new_id) }
                    .encode()
            }
            Self::SnapshotBegin => Record::SnapshotBegin.encode(),
            Self::SnapQueue { q, retries } => {
                Record::SnapQueue { name: name(*q), settings: settings(500, *retries) }.encode()
            }
            Self::SnapMessage { q, id: n, priority, attempts, state, due: d, reason } => {
                let state = match state {
                    State::Ready => SnapState::Ready,
                    State::Delayed => SnapState::Delayed,
                    State::Leased => SnapState::Leased,
                    State::Dead => SnapState::Dead,
                };
                Record::SnapMessage {
                    name: name(*q),
                    id: id(*n),
                    priority: *priority,
                    attempts: u32::from(*attempts),
                    state,
                    due_wall_ms: due(*d),
                    reason,
                    payload: b"p",
                }
                .encode()
            }
            Self::SnapshotEnd { queues, messages } => {
                Record::SnapshotEnd { queues: u32::from(*queues), messages: u64::from(*messages) }.encode()
            }
        }
    }
}

/// Drains outputs, checking append sequences; returns the appended records.
fn drain(q: &mut Queue, next_seq: &mut u64) -> Vec<Bytes> {
    let mut records = Vec::new();
    while let Some(output) = q.poll_output() {
        if let Output::Append { seq, record, .. } = output {
            assert_eq!(seq, *next_seq, "predicted sequence");
            *next_seq += 1;
            records.push(record);
        }
    }
    records
}

type Dump = Vec<(String, u64, u32, [Vec<([u8; 16], u8, u32, Option<u64>, Option<String>)>; 3])>;

fn dump(q: &Queue) -> Dump {
    q.queues(0, 1000)
        .into_iter()
        .map(|s| {
            let list = |state| {
                q.peek_messages(&s.name, state, 0, 1000)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| (m.id, m.priority, m.attempts, m.due_wall_ms, m.reason))
                    .collect()
            };
            let lists = [list(MessageState::Ready), list(MessageState::Delayed), list(MessageState::Dead)];
            (s.name, s.visibility_timeout_ms, s.max_retries, lists)
        })
        .collect()
}

fuzz_target!(|recs: Vec<Rec>| {
    let log = LogId::new("queues");
    let now = Now::at(0);
    let config = QueueConfig { compact_min_bytes: 0, compact_ratio: 0, ..QueueConfig::default() };
    let mut q = Queue::new(config, 1);
    for (seq, rec) in recs.iter().enumerate() {
        q.handle_recovered(now, &log, seq as u64, rec.encode());
        assert!(q.poll_output().is_none(), "no output during replay");
    }
    let mut next_seq = recs.len() as u64;
    q.handle_recovery_done(now, &log, next_seq);
    drain(&mut q, &mut next_seq);

    // Force a snapshot (threshold 0) and replay it into a fresh broker.
    let before = dump(&q);
    q.handle_persisted(now, &log, next_seq);
    let snapshot = drain(&mut q, &mut next_seq);
    let mut fresh = Queue::new(QueueConfig::default(), 2);
    for (seq, record) in snapshot.iter().enumerate() {
        fresh.handle_recovered(now, &log, seq as u64, record.clone());
    }
    let mut fresh_seq = snapshot.len() as u64;
    fresh.handle_recovery_done(now, &log, fresh_seq);
    drain(&mut fresh, &mut fresh_seq);
    if !snapshot.is_empty() {
        assert_eq!(dump(&fresh), before, "a snapshot rebuilds the same state");
    }

    // Use the recovered broker a little: consume, let leases and delays run out, disconnect.
    for (i, name) in NAMES.iter().enumerate() {
        let options = ConsumeOptions { batch_size: Some(100), wait_ms: Some(50) };
        q.handle_request(now, ConnId(1), i as u32, QueueRequest::Consume { name: (*name).into(), options });
        let list = QueueRequest::List { offset: 0, limit: 10 };
        q.handle_request(now, ConnId(2), 10 + i as u32, list);
        let peek = QueueRequest::PeekDlq { name: (*name).into(), limit: 10, offset: 0 };
        q.handle_request(now, ConnId(2), 20 + i as u32, peek);
    }
    drain(&mut q, &mut next_seq);
    // And through the SQS input: receives (moving messages over their receive count), deletes.
    for (i, name) in NAMES.iter().enumerate() {
        let receive = SqsCommand::Receive { name: (*name).into(), max: 10, visibility_ms: Some(20) };
        q.handle_sqs(now, ConnId(3), 30 + i as u32, receive);
        drain(&mut q, &mut next_seq);
        while let Some(out) = q.poll_sqs_output() {
            if let SqsReply::Received(deliveries) = out.reply {
                for d in deliveries.iter().step_by(2) {
                    let delete = SqsCommand::Delete { name: (*name).into(), id: d.id, token: d.token };
                    q.handle_sqs(now, ConnId(3), 40, delete);
                }
            }
        }
        drain(&mut q, &mut next_seq);
        while q.poll_sqs_output().is_some() {}
    }
    let mut t = now;
    for _ in 0..4 {
        if let Some(at) = q.poll_timeout() {
            t = Now { mono_ms: at.max(t.mono_ms), wall_ms: t.wall_ms + at.saturating_sub(t.mono_ms) };
            q.handle_timeout(t);
            drain(&mut q, &mut next_seq);
        }
    }
    q.handle_disconnect(t, ConnId(1));
    drain(&mut q, &mut next_seq);
    let _ = q.stats();
});
