//! Durability tests: replies held until persisted, invisible pushes, storage failure, recovery
//! from what a previous instance wrote (leased-at-crash, delayed, DLQ), snapshots and compaction.

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::QueueOptions;
use nexo_proto::request::QueueRequest;

use super::{Harness, err, journal, messages, ok, only, payloads};
use crate::broker::Broker;
use crate::output::Output;
use crate::queue::journal::{Record, SnapState};
use crate::queue::{MessageState, MessageView, QueueConfig, QueueSettings};

/// Every queue's ready, delayed and dead messages, in order.
fn dump(h: &Harness) -> Vec<(String, [Vec<MessageView>; 3])> {
    h.q.queues(0, 1000)
        .into_iter()
        .map(|s| {
            let list = |state| h.q.peek_messages(&s.name, state, 0, 1000).unwrap();
            (
                s.name.clone(),
                [list(MessageState::Ready), list(MessageState::Delayed), list(MessageState::Dead)],
            )
        })
        .collect()
}

fn ready_payloads(h: &Harness, name: &str) -> Vec<(String, u32)> {
    h.q.peek_messages(name, MessageState::Ready, 0, 1000)
        .unwrap()
        .iter()
        .map(|m| (String::from_utf8(m.payload_head.to_vec()).unwrap(), m.attempts))
        .collect()
}

fn settings(visibility_timeout_ms: u64, max_retries: u32) -> QueueSettings {
    QueueSettings { visibility_timeout_ms, max_retries, max_depth: 0, max_bytes: 0 }
}

#[test]
fn replies_wait_for_their_record_and_keep_connection_order() {
    let mut h = Harness::new();
    h.auto_persist = false;
    assert!(h.create(1, "q").is_empty());
    ok(&h.persist_all());
    assert!(h.push(1, "q", b"x").is_empty());
    let push_id = h.last_id();
    assert!(h.send(1, QueueRequest::Exists { name: "q".into() }).is_empty(), "held behind the push");
    let exists_id = h.last_id();
    ok(&h.send(2, QueueRequest::Exists { name: "q".into() }));
    let outs = h.persist_all();
    assert_eq!(outs, [(1, push_id, Reply::Ok), (1, exists_id, Reply::Ok)]);
    // An idempotent CREATE waits for what is in flight too.
    assert!(h.create(1, "r").is_empty());
    assert!(h.create(2, "r").is_empty());
    assert_eq!(h.persist_all().len(), 2);
}

#[test]
fn pushed_messages_are_invisible_until_durable() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.auto_persist = false;
    assert!(h.push(1, "q", b"x").is_empty());
    assert_eq!(h.q.queue("q").unwrap().pending, 1);
    assert_eq!(payloads(&only(&h.consume(2, "q", 5, 0), 2)), Vec::<String>::new());
    assert!(h.consume(3, "q", 5, 1_000).is_empty());
    let outs = h.persist_all();
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert_eq!(outs[0], (1, 1 + 1, Reply::Ok));
    assert_eq!(outs[1].0, 3);
    assert_eq!(payloads(&outs[1].2), ["x"]);
}

#[test]
fn leases_and_acks_do_not_wait() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push(1, "q", b"x");
    h.auto_persist = false;
    let batch = h.take(2, "q", 1);
    ok(&h.ack(2, "q", batch[0].0));
    assert_eq!(h.log.next_seq - h.log.durable, 2, "LEASE and ACK were appended");
}

#[test]
fn storage_failure_answers_waiters_and_refuses_writes() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push(1, "q", b"old");
    let (id, _) = h.take(2, "q", 1)[0].clone();
    h.auto_persist = false;
    h.push(1, "q", b"new");
    h.consume(3, "q", 1, 10_000);
    let outs = h.fail("fsync: I/O error");
    let text = "Storage unavailable: fsync: I/O error";
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert!(outs.iter().all(|o| o.2 == Reply::Err(text.to_owned())));
    assert_eq!(h.q.queue("q").unwrap().pending, 0, "the push that failed is gone");
    err(&h.push(1, "q", b"x"), text);
    err(&h.create(1, "new"), text);
    err(&h.consume(2, "q", 1, 0), text);
    err(&h.ack(2, "q", id), text);
    err(&h.nack(2, "q", id, "r"), text);
    err(&h.send(1, QueueRequest::Purge { name: "q".into() }), text);
    err(&h.send(1, QueueRequest::Delete { name: "q".into() }), text);
    ok(&h.send(1, QueueRequest::Exists { name: "q".into() }));
    ok(&h.create(1, "q"));
    ok(&h.send(2, QueueRequest::Extend { id, name: "q".into(), ms: 10 }));
    assert!(matches!(
        only(&h.send(1, QueueRequest::List { offset: 0, limit: 10 }), 1),
        Reply::QueueList { .. }
    ));
    assert_eq!(h.q.stats().storage_error.as_deref(), Some(text));
    assert!(h.log.next_seq == h.log.durable + 1 || h.log.next_seq == h.log.durable, "nothing new appended");
    h.disconnect(2);
    h.advance(100_000);
}

#[test]
fn recovery_rebuilds_queues_and_releases_leases_at_the_tail() {
    let mut h = Harness::new();
    let options =
        QueueOptions { visibility_timeout_ms: Some(1_000), max_retries: Some(2), ..Default::default() };
    h.create_with(1, "jobs", options);
    h.create(1, "empty");
    for (p, prio) in [("a", 0), ("b", 0), ("c", 0), ("d", 0), ("hi", 9)] {
        h.push_with(1, "jobs", p.as_bytes(), prio, 0);
    }
    h.push_with(1, "jobs", b"later", 0, 60_000);
    let first = h.take(2, "jobs", 2); // hi, a
    h.nack(2, "jobs", first[0].0, "once"); // hi back at the tail of priority 9, attempts 1
    let hi = h.take(2, "jobs", 1); // hi again, attempts 2 (leased at the crash)
    assert_eq!(hi[0].1, b"hi");
    let b = h.take(3, "jobs", 1);
    ok(&h.nack(3, "jobs", b[0].0, "x")); // b: attempts 1, tail
    let c = h.take(3, "jobs", 1);
    ok(&h.ack(3, "jobs", c[0].0)); // c gone
    let d = h.take(3, "jobs", 1);
    assert_eq!(d[0].1, b"d");
    ok(&h.nack(3, "jobs", d[0].0, "r1")); // ready: b, d (attempts 1 each)
    let b = h.take(3, "jobs", 1);
    let d = h.take(3, "jobs", 1);
    assert_eq!((&b[0].1[..], &d[0].1[..]), (&b"b"[..], &b"d"[..]));
    ok(&h.nack(3, "jobs", b[0].0, "fatal: b")); // dead with attempts 2
    ok(&h.nack(3, "jobs", d[0].0, "fatal: d"));
    // Leased now: a (attempts 1, lease 1), hi (attempts 2).
    assert_eq!(h.q.queue("jobs").unwrap().in_flight, 2);
    let dead_before = h.dlq("jobs");
    assert_eq!(dead_before.len(), 2);

    h.restart();
    let s = h.q.queue("jobs").unwrap();
    assert_eq!((s.visibility_timeout_ms, s.max_retries, s.in_flight, s.delayed), (1_000, 2, 0, 1));
    assert!(h.q.exists("empty"));
    // Leased at the crash: ready again in lease order, attempts kept.
    assert_eq!(ready_payloads(&h, "jobs"), [("hi".to_owned(), 2), ("a".to_owned(), 1)]);
    assert_eq!(h.dlq("jobs"), dead_before);
    // The delayed message keeps its wall-clock due time.
    h.advance(59_999);
    assert_eq!(h.q.queue("jobs").unwrap().delayed, 1);
    h.advance(1);
    assert_eq!(ready_payloads(&h, "jobs").last().unwrap().0, "later");
    // A restart after that changes nothing visible.
    let before = dump(&h);
    h.restart();
    assert_eq!(dump(&h), before);
}

#[test]
fn a_delayed_message_due_during_the_downtime_is_ready_at_recovery() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push_with(1, "q", b"x", 0, 1_000);
    h.now = h.now.plus(5_000);
    h.restart();
    assert_eq!(payloads(&only(&h.consume(2, "q", 1, 0), 2)), ["x"]);
}

#[test]
fn records_not_durable_at_a_crash_are_lost_and_never_answered() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.auto_persist = false;
    assert!(h.push(1, "q", b"x").is_empty());
    assert!(h.create(1, "r").is_empty());
    let outs = h.restart();
    assert!(outs.is_empty());
    assert!(h.q.exists("q") && !h.q.exists("r"));
    assert_eq!(h.q.queue("q").unwrap().ready, 0);
}

#[test]
fn lease_expiry_dead_letter_is_journaled() {
    let mut h = Harness::new();
    h.create_with(
        1,
        "q",
        QueueOptions { visibility_timeout_ms: Some(10), max_retries: Some(1), ..Default::default() },
    );
    h.push(1, "q", b"x");
    h.take(2, "q", 1);
    h.advance(10);
    h.restart();
    assert_eq!(h.dlq("q"), [(b"x".to_vec(), 1, "Timeout".to_owned())]);
}

#[test]
fn message_ids_stay_unique_across_restarts() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push(1, "q", b"1");
    let a = h.take(2, "q", 1)[0].0;
    h.restart();
    h.push(1, "q", b"2");
    let mut ids: Vec<_> = h.take(2, "q", 10).into_iter().map(|(id, _)| id).collect();
    ids.push(a);
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2);
}

fn load(records: Vec<Bytes>) -> Harness {
    let mut h = Harness::new();
    h.log.records = records.into_iter().enumerate().map(|(i, r)| (i as u64, r)).collect();
    h.log.next_seq = h.log.records.len() as u64;
    h.log.durable = h.log.next_seq;
    h.restart();
    h
}

fn push_record(name: &str, id: u8, payload: &'static [u8]) -> Bytes {
    Record::Push { name, id: [id; 16], priority: 0, due_wall_ms: 0, payload }.encode()
}

#[test]
fn undecodable_and_dangling_records_are_skipped() {
    let h = load(vec![
        Bytes::from_static(b"\x01\x01garbage"),
        Record::Create { name: "q", settings: settings(1_000, 1) }.encode(),
        Bytes::new(),
        push_record("q", 1, b"a"),
        push_record("missing", 2, b"b"),
        Record::Ack { name: "q", id: [9; 16] }.encode(),
        Bytes::from_static(&[2, 0x01]),
        push_record("q", 3, b"c"),
        Record::SnapQueue { name: "stray", settings: settings(1, 1) }.encode(),
    ]);
    assert_eq!(h.q.stats().skipped_records, 4);
    assert_eq!(ready_payloads(&h, "q").len(), 2);
    assert!(!h.q.exists("stray") && !h.q.exists("missing"));
}

#[test]
fn a_complete_snapshot_supersedes_what_came_before() {
    let snap_msg = |id: u8, state, reason: &'static str| Record::SnapMessage {
        name: "q",
        id: [id; 16],
        priority: 4,
        attempts: 3,
        state,
        due_wall_ms: 0,
        reason,
        payload: b"s",
    };
    let mut h = load(vec![
        Record::Create { name: "old", settings: settings(1, 1) }.encode(),
        push_record("old", 1, b"x"),
        Record::SnapshotBegin.encode(),
        Record::SnapQueue { name: "q", settings: settings(5_000, 4) }.encode(),
        snap_msg(2, SnapState::Ready, "").encode(),
        snap_msg(3, SnapState::Leased, "").encode(),
        snap_msg(4, SnapState::Dead, "why").encode(),
        Record::SnapshotEnd { queues: 1, messages: 3 }.encode(),
        push_record("q", 5, b"after"),
    ]);
    assert!(!h.q.exists("old"));
    let ready = h.q.peek_messages("q", MessageState::Ready, 0, 10).unwrap();
    let ids: Vec<u8> = ready.iter().map(|m| m.id[0]).collect();
    assert_eq!(ids, [2, 3, 5], "the leased one is ready again behind the priority-4 message");
    assert_eq!(h.dlq("q"), [(b"s".to_vec(), 3, "why".to_owned())]);
    assert_eq!(h.log.truncations, [2], "the truncation left undone is asked for again");
    assert_eq!(h.q.queue("q").unwrap().visibility_timeout_ms, 5_000);
}

#[test]
fn an_incomplete_or_inconsistent_snapshot_is_ignored() {
    let base = || {
        vec![
            Record::Create { name: "q", settings: settings(1_000, 1) }.encode(),
            push_record("q", 1, b"a"),
            Record::SnapshotBegin.encode(),
            Record::SnapQueue { name: "other", settings: settings(1, 1) }.encode(),
        ]
    };
    // Cut short, then ordinary records written by the next process.
    let mut records = base();
    records.push(push_record("q", 2, b"b"));
    let h = load(records);
    assert!(!h.q.exists("other"));
    assert_eq!(ready_payloads(&h, "q").len(), 2);
    // Cut short at the very end.
    let h = load(base());
    assert!(!h.q.exists("other") && ready_payloads(&h, "q").len() == 1);
    // An end whose counts do not match.
    let mut records = base();
    records.push(Record::SnapshotEnd { queues: 1, messages: 5 }.encode());
    let h = load(records);
    assert!(!h.q.exists("other") && ready_payloads(&h, "q").len() == 1);
    assert_eq!(h.q.stats().skipped_records, 1);
}

#[test]
fn a_damaged_snapshot_is_kept_when_nothing_precedes_it() {
    // After compaction the journal begins with its snapshot; damage that skipped one of its
    // records (or its end) must not throw the rest away.
    let snapshot = || {
        vec![
            Record::SnapshotBegin.encode(),
            Record::SnapQueue { name: "q", settings: settings(1_000, 1) }.encode(),
            Record::SnapMessage {
                name: "q",
                id: [1; 16],
                priority: 0,
                attempts: 0,
                state: SnapState::Ready,
                due_wall_ms: 0,
                reason: "",
                payload: b"a",
            }
            .encode(),
        ]
    };
    let mut records = snapshot();
    records.push(Record::SnapshotEnd { queues: 1, messages: 2 }.encode());
    records.push(push_record("q", 3, b"c"));
    let h = load(records);
    assert_eq!(ready_payloads(&h, "q").len(), 2, "the snapshot's queue and the later push");
    assert_eq!(h.q.stats().skipped_records, 1);
    // Its end lost too: the next ordinary record closes it.
    let mut records = snapshot();
    records.push(push_record("q", 3, b"c"));
    let h = load(records);
    assert!(h.q.exists("q") && ready_payloads(&h, "q").len() == 2);
    // Cut short at the very end of the log.
    let h = load(snapshot());
    assert!(h.q.exists("q"));
}

#[test]
fn compaction_writes_a_snapshot_that_recovery_reproduces() {
    let config = QueueConfig { compact_min_bytes: 2_000, ..QueueConfig::default() };
    let mut h = Harness::with(config);
    h.create_with(1, "q", QueueOptions { max_retries: Some(1), ..Default::default() });
    h.create(1, "idle");
    for (i, prio) in [(0, 0), (1, 3), (2, 0), (3, 3)] {
        h.push_with(1, "q", format!("keep{i}").as_bytes(), prio, 0);
    }
    h.push_with(1, "q", b"delayed", 1, 500_000);
    h.push(1, "q", b"dead");
    let all = h.take(2, "q", 10);
    let dead = all.iter().find(|(_, p)| p == b"dead").unwrap().0;
    h.nack(2, "q", dead, "bad");
    for (id, p) in &all {
        if p != b"dead" {
            ok(&h.nack(2, "q", *id, "max 1: dead at once"));
        }
    }
    // Everything is dead now; move two back so ready has an order to keep.
    let dlq = h.q.peek_messages("q", MessageState::Dead, 0, 10).unwrap();
    for m in dlq.iter().take(2) {
        h.send(1, QueueRequest::MoveToQueue { name: "q".into(), id: m.id });
    }
    h.push(1, "q", b"leased");
    let leased = h.take(3, "q", 1);
    assert_eq!(h.q.stats().snapshots, 0);
    h.create(1, "busy");
    for i in 0..200 {
        h.push(1, "busy", format!("{i:032}").as_bytes());
        let m = h.take(4, "busy", 1);
        ok(&h.ack(4, "busy", m[0].0));
    }
    let stats = h.q.stats();
    assert!(stats.snapshots >= 2, "{stats:?}");
    assert!(h.log.rolls as u64 == stats.snapshots && !h.log.truncations.is_empty());
    assert!(h.log.bytes() < 6_000, "{} bytes kept", h.log.bytes());
    let mut before = dump(&h);
    h.restart();
    // The message leased at the crash is ready again, at the tail of its priority.
    let released = h.q.peek_messages("q", MessageState::Ready, 0, 10).unwrap().pop().unwrap();
    assert_eq!((released.id, released.attempts), (leased[0].0, 1));
    let mut after = dump(&h);
    after.iter_mut().find(|(n, _)| n == "q").unwrap().1[0].pop();
    before.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(after, before);
}

#[test]
fn snapshot_replay_emits_nothing_until_recovery_is_done() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push(1, "q", b"x");
    h.take(2, "q", 1);
    let records: Vec<_> = h.log.records.values().cloned().collect();
    let mut q = crate::queue::Queue::new(QueueConfig::default(), 99);
    for (seq, r) in records.iter().enumerate() {
        q.handle_recovered(h.now, &journal(), seq as u64, r.clone());
        assert!(q.poll_output().is_none());
    }
    q.handle_recovery_done(h.now, &journal(), records.len() as u64);
    let out = q.poll_output();
    assert!(matches!(out, Some(Output::Append { seq, .. }) if seq == records.len() as u64), "{out:?}");
}

#[test]
fn a_million_push_ack_cycles_keep_the_journal_bounded() {
    let cycles: u64 =
        std::env::var("NEXO_QUEUE_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let mut h = Harness::new();
    h.create(1, "q");
    // A resident backlog that stays live the whole time.
    for i in 0..100 {
        h.push(1, "q", format!("resident {i}").as_bytes());
    }
    h.create(1, "work");
    let mut payload = [0u8; 40];
    for i in 0..cycles {
        payload[..8].copy_from_slice(&i.to_le_bytes());
        h.push(1, "work", &payload);
        let outs = h.consume(2, "work", 1, 0);
        let id = messages(&outs[0].2)[0].0;
        h.ack(2, "work", id);
    }
    let stats = h.q.stats();
    // Compaction starts past 4 MiB + 2 × live (checked every 1 MiB): without it this would be
    // about 150 MB.
    let limit = 6 << 20;
    assert!(h.max_log_bytes < limit, "peak {} bytes, {stats:?}", h.max_log_bytes);
    if cycles >= 100_000 {
        assert!(stats.snapshots > 10, "{stats:?}");
    }
    h.restart();
    assert_eq!(h.q.queue("q").unwrap().ready, 100);
    assert_eq!(h.q.queue("work").unwrap().ready, 0);
}
