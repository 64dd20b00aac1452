//! Durability tests: replies held until persisted, the durable mark, storage failures, recovery
//! from the journal and the data logs (groups, floors, dead letters, sequences never reused
//! after DELETE, re-CREATE and restart), compaction snapshots, leftover logs.

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::request::StreamRequest;

use super::{Harness, SimLog, err, journal, ok, only, seqs};
use crate::broker::Broker;
use crate::log::LogId;
use crate::output::Output;
use crate::stream::StreamConfig;
use crate::stream::data;
use crate::stream::journal::{Record, TopicSettings};
use crate::time::Now;

#[test]
fn publish_answers_once_durable_and_consumers_only_see_durable_messages() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    let m = h.join(1, "t", "g");
    h.auto_persist = false;
    assert!(h.publish(1, "t", b"x").is_empty());
    let publish = h.last_id();
    assert!(h.send(1, StreamRequest::Exists { topic: "t".into() }).is_empty(), "held behind the publish");
    let exists = h.last_id();
    ok(&h.send(2, StreamRequest::Exists { topic: "t".into() }));
    assert!(seqs(&only(&h.fetch(2, &m, 10, 0), 2)).is_empty(), "not durable, not delivered");
    assert!(h.fetch(2, &m, 10, 5_000).is_empty());
    let parked = h.last_id();
    assert_eq!(h.s.topic("t").unwrap().last_seq, 0);
    let outs = h.persist(&h.data_log("t"));
    assert_eq!(outs.len(), 3, "{outs:?}");
    assert_eq!(outs[0], (1, publish, Reply::Seq(1)));
    assert_eq!(outs[1], (1, exists, Reply::Ok));
    assert_eq!((outs[2].1, seqs(&outs[2].2)), (parked, vec![1]));
}

#[test]
fn replies_wait_for_the_journal_and_acks_do_not() {
    let mut h = Harness::new();
    h.auto_persist = false;
    assert!(h.create(1, "t").is_empty());
    assert!(h.publish(2, "t", b"x").is_empty());
    let outs = h.persist(&h.data_log("t"));
    assert!(outs.is_empty(), "a publish also waits for its topic's CREATE: {outs:?}");
    let outs = h.persist(&journal());
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert!(h.send(1, StreamRequest::Join { group: "g".into(), topic: "t".into() }).is_empty());
    let outs = h.persist_all();
    let Reply::Joined { consumer_id, generation, .. } = only(&outs, 1) else { panic!() };
    let m = super::M { topic: "t".into(), group: "g".into(), id: consumer_id, generation, floor: 0 };
    assert_eq!(seqs(&only(&h.fetch(1, &m, 10, 0), 1)), [1]);
    let before = h.logs[&journal()].next_seq;
    ok(&h.ack(1, &m, 1));
    assert_eq!(h.logs[&journal()].next_seq, before + 1, "the ACK was journaled");
}

#[test]
fn ack_batch_journals_each_ack_without_waiting_and_survives_a_restart() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    for p in ["a", "b", "c", "d", "e"] {
        h.pub_seq("t", p);
    }
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10).len(), 5);
    h.auto_persist = false;
    let before = h.logs[&journal()].next_seq;
    let outs = h.ack_batch(1, &m, &[4, 1, 2, 9, 4]);
    assert_eq!(only(&outs, 1), Reply::Count(3), "answered before the journal is durable");
    let journal_log = &h.logs[&journal()];
    assert_eq!(journal_log.next_seq, before + 3, "one Ack record per acknowledged sequence");
    for (seq, want) in (before..before + 3).zip([4u64, 1, 2]) {
        let (_, bytes) = &journal_log.records[&seq];
        match crate::stream::journal::decode(bytes) {
            Ok(Record::Ack { topic: "t", group: "g", seq: got }) => assert_eq!(got, want),
            other => panic!("journal record {seq}: {other:?}"),
        }
    }
    h.persist_all();
    h.auto_persist = true;
    h.restart();
    let m = h.join(1, "t", "g");
    assert_eq!(m.floor, 2, "1 and 2 acked, 4 acked above the floor");
    assert_eq!(h.take(1, &m, 10), [(3, "c".into()), (5, "e".into())], "4 is not delivered again");
}

#[test]
fn recovery_keeps_groups_floors_and_dead_letters_and_redelivers_what_was_pending() {
    let config = StreamConfig { ack_wait_ms: 100, max_deliveries: 1, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    ok(&h.create(1, "t"));
    for p in ["a", "b", "c", "d", "e"] {
        h.pub_seq("t", p);
    }
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 1).len(), 1);
    h.advance(100);
    assert_eq!(h.take(1, &m, 10).len(), 4);
    ok(&h.ack(1, &m, 2));
    ok(&h.ack(1, &m, 4));
    ok(&h.seek(1, "t", "g2", 1));
    h.restart();
    let m = h.join(1, "t", "g");
    assert_eq!((m.floor, m.generation), (2, 1));
    assert_eq!(h.dlq("t", "g"), [(1, 1, "a".into())]);
    assert_eq!(h.take(1, &m, 10), [(3, "c".into()), (5, "e".into())], "4 was acked: not again");
    assert_eq!(h.join(2, "t", "g2").floor, 5);
    assert_eq!(h.pub_seq("t", "f"), 6);
    let t = h.s.topic("t").unwrap();
    assert_eq!((t.first_seq, t.last_seq), (1, 6));
}

#[test]
fn sequences_survive_delete_recreate_and_restarts() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    assert_eq!(h.pub_seq("t", "a"), 1);
    assert_eq!(h.pub_seq("t", "b"), 2);
    h.restart();
    assert_eq!(h.pub_seq("t", "c"), 3);
    ok(&h.send(1, StreamRequest::Delete { topic: "t".into() }));
    h.restart();
    err(&h.send(1, StreamRequest::Exists { topic: "t".into() }), "Stream not found");
    ok(&h.create(1, "t"));
    assert_eq!(h.pub_seq("t", "d"), 4);
    h.restart();
    assert_eq!(h.pub_seq("t", "e"), 5);
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10), [(4, "d".into()), (5, "e".into())]);
    ok(&h.send(1, StreamRequest::Delete { topic: "t".into() }));
    ok(&h.create(1, "t"));
    h.restart();
    assert_eq!(h.pub_seq("t", "f"), 6);
    assert_eq!(h.logs.keys().filter(|l| l.as_str().starts_with("stream-")).count(), 1, "old logs removed");
}

#[test]
fn compaction_snapshots_rebuild_the_same_state() {
    let config = StreamConfig {
        compact_min_bytes: 200,
        ack_wait_ms: 50,
        max_deliveries: 1,
        max_tombstones: 2,
        ..StreamConfig::default()
    };
    let mut h = Harness::with(config);
    for name in ["x", "y", "z"] {
        ok(&h.create(1, name));
        h.pub_seq(name, "1");
        ok(&h.send(1, StreamRequest::Delete { topic: name.into() }));
    }
    ok(&h.create(1, "t"));
    for i in 0..40 {
        h.pub_seq("t", &format!("m{i}"));
    }
    let m = h.join(1, "t", "g");
    for (seq, _) in h.take(1, &m, 40) {
        if seq % 3 != 0 {
            ok(&h.ack(1, &m, seq));
        }
    }
    h.advance(50);
    let outs = h.send(1, StreamRequest::ReplayDlq { topic: "t".into(), group: "g".into(), seq: 3 });
    assert_eq!(only(&outs, 1), Reply::Count(1));
    for _ in 0..30 {
        ok(&h.seek(1, "t", "other", 0));
    }
    assert!(h.s.stats().snapshots > 0, "compaction ran");
    let before = (h.s.groups("t", 0, 10), h.s.topics(0, 10), h.s.stats().tombstones, h.dlq("t", "g"));
    h.restart();
    let after = (h.s.groups("t", 0, 10), h.s.topics(0, 10), h.s.stats().tombstones, h.dlq("t", "g"));
    let strip = |g: Option<Vec<crate::stream::GroupSnapshot>>| {
        g.unwrap().into_iter().map(|g| (g.name, g.generation, g.ack_floor, g.dead)).collect::<Vec<_>>()
    };
    assert_eq!(strip(before.0), strip(after.0));
    assert_eq!(
        before.1.iter().map(|t| (&t.name, t.first_seq, t.last_seq)).collect::<Vec<_>>(),
        after.1.iter().map(|t| (&t.name, t.first_seq, t.last_seq)).collect::<Vec<_>>()
    );
    assert_eq!((before.2, before.3), (after.2, after.3));
    assert_eq!(h.s.stats().skipped_records, 0);
    ok(&h.create(1, "x"));
    assert_eq!(h.pub_seq("x", "again"), 2, "the forgotten tombstone raised the floor");
    let m = h.join(1, "t", "g");
    let redelivered: Vec<u64> = h.take(1, &m, 100).iter().map(|m| m.0).collect();
    assert!(redelivered.contains(&3), "the replayed dead letter is owed a delivery");
}

#[test]
fn a_failed_data_log_refuses_publishes_and_answers_those_in_flight() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    ok(&h.create(1, "u"));
    h.pub_seq("t", "kept");
    let m = h.join(1, "t", "g");
    h.auto_persist = false;
    assert!(h.publish(1, "t", b"lost").is_empty());
    let log = h.data_log("t");
    let outs = h.fail(&log, "fsync: EIO");
    let text = "Storage unavailable: fsync: EIO";
    assert_eq!(outs, [(1, h.last_id(), Reply::Err(text.into()))]);
    h.auto_persist = true;
    err(&h.publish(1, "t", b"x"), text);
    assert_eq!(h.pub_seq("u", "fine"), 1, "other topics go on");
    assert_eq!(h.take(1, &m, 10), [(1, "kept".into())]);
    assert_eq!(h.s.topic("t").unwrap().storage_error.as_deref(), Some(text));
}

#[test]
fn a_failed_journal_refuses_metadata_writes() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    h.pub_seq("t", "a");
    let m = h.join(1, "t", "g");
    assert!(h.fetch(2, &m, 10, 0).len() == 1);
    assert!(h.fetch(2, &m, 10, 60_000).is_empty());
    h.auto_persist = false;
    assert!(h.create(1, "u").is_empty());
    let text = "Storage unavailable: disk gone";
    let outs = h.fail(&journal(), "disk gone");
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert!(outs.iter().all(|o| o.2 == Reply::Err(text.into())));
    h.auto_persist = true;
    err(&h.create(1, "v"), text);
    err(&h.send(1, StreamRequest::Delete { topic: "t".into() }), text);
    err(&h.ack(1, &m, 1), text);
    err(&h.ack_batch(1, &m, &[1]), text);
    err(&h.fetch(1, &m, 1, 0), text);
    err(&h.seek(1, "t", "g", 0), text);
    err(&h.send(1, StreamRequest::Join { group: "new".into(), topic: "t".into() }), text);
    assert_eq!(h.pub_seq("t", "b"), 2, "the data log still works");
    ok(&h.send(1, StreamRequest::Exists { topic: "t".into() }));
    h.join(3, "t", "g");
    assert_eq!(h.s.stats().storage_error.as_deref(), Some(text));
}

#[test]
fn a_leftover_log_of_a_lost_create_is_removed_before_use() {
    let mut h = Harness::new();
    // A previous process opened incarnation 1 and wrote to it, but its CREATE never became
    // durable.
    let leftover = data::log_id(1, "t");
    let mut l = SimLog { records: Default::default(), next_seq: 3, durable: 3 };
    l.records.insert(1, (0, data::encode(0, b"ghost")));
    l.records.insert(2, (0, data::encode(0, b"ghost")));
    h.logs.insert(leftover.clone(), l);
    ok(&h.create(1, "t"));
    assert_eq!(h.removed, std::slice::from_ref(&leftover));
    assert_eq!(h.pub_seq("t", "real"), 1);
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10), [(1, "real".into())]);
}

#[test]
fn recovery_keeps_or_adopts_data_logs_no_live_topic_owns() {
    let mut h = Harness::new();
    ok(&h.create(1, "kept"));
    ok(&h.create(1, "gone"));
    h.pub_seq("gone", "x");
    let gone = h.data_log("gone");
    let kept = h.data_log("kept");
    ok(&h.send(1, StreamRequest::Delete { topic: "gone".into() }));
    h.persist_all();
    // The crash came after the DELETE was durable but before its log was removed.
    h.logs.insert(gone.clone(), SimLog::new());
    // A topic whose CREATE record the journal lost: its log holds two messages.
    let lost = LogId::new("stream-9-lost");
    let mut l = SimLog { records: Default::default(), next_seq: 3, durable: 3 };
    l.records.insert(1, (0, data::encode(10, b"one")));
    l.records.insert(2, (0, data::encode(20, b"two")));
    h.logs.insert(lost.clone(), l);
    h.removed.clear();
    h.restart();
    h.answer_opens();
    h.persist_all();
    assert!(h.removed.is_empty(), "nothing is deleted for being unknown: {:?}", h.removed);
    assert!(h.logs.contains_key(&gone), "the deleted topic's log is kept, unused");
    assert_eq!(h.notes.len(), 2, "{:?}", h.notes);
    assert!(h.notes[0].contains("kept unused") && h.notes[0].contains("was deleted"), "{:?}", h.notes);
    assert!(h.notes[1].contains("recovered as topic 'lost'"), "{:?}", h.notes);
    assert_eq!(h.s.stats().counters.orphaned_logs, 2);
    assert!(h.logs.contains_key(&kept));
    assert_eq!(h.pub_seq("kept", "still here"), 1);
    assert_eq!(h.pub_seq("lost", "three"), 3, "the adopted topic keeps its numbering");
    ok(&h.seek(1, "lost", "g", 0));
    let m = h.join(1, "lost", "g");
    assert_eq!(h.take(1, &m, 10), [(1, "one".into()), (2, "two".into()), (3, "three".into())]);
    // The adoption was journaled: after another restart the topic is simply there.
    h.restart();
    h.answer_opens();
    assert!(h.notes.iter().all(|n| !n.contains("'lost'")), "{:?}", h.notes);
    ok(&h.create(1, "new"));
    assert!(
        h.data_log("new").as_str().starts_with("stream-10-"),
        "a new topic never reuses a kept log's name"
    );
}

#[test]
fn recovery_removes_the_log_of_a_topic_deleted_and_created_again() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    let old = h.data_log("t");
    ok(&h.send(1, StreamRequest::Delete { topic: "t".into() }));
    ok(&h.create(1, "t"));
    h.persist_all();
    h.logs.insert(old.clone(), SimLog::new());
    h.removed.clear();
    h.restart();
    h.answer_opens();
    assert_eq!(h.removed, [old]);
    assert!(h.notes.is_empty(), "{:?}", h.notes);
}

#[test]
fn a_data_log_that_lost_its_records_continues_past_what_groups_saw() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    for i in 0..5 {
        h.pub_seq("t", &format!("m{i}"));
    }
    ok(&h.seek(1, "t", "g", 0));
    let m = h.join(1, "t", "g");
    for (seq, _) in h.take(1, &m, 10) {
        ok(&h.ack(1, &m, seq));
    }
    h.persist_all();
    let log = h.data_log("t");
    h.logs.insert(log, SimLog::new()); // its segment file was deleted
    h.restart();
    h.answer_opens();
    assert_eq!(h.pub_seq("t", "after"), 6, "sequences 1..=5 are never handed out again");
}

#[test]
fn recovery_skips_garbage_and_clamps_groups_to_the_log() {
    let mut h = Harness::new();
    let settings = TopicSettings { incarnation: 4, base: 10, max_age_ms: 0, max_bytes: 0 };
    let records = [
        Bytes::from_static(b"\x01\x7fgarbage"),
        Record::TopicCreate { topic: "t", settings }.encode(),
        Record::GroupCreate { topic: "t", group: "g", generation: 3, ack_floor: 500 }.encode(),
        Record::GroupCreate { topic: "t", group: "low", generation: 1, ack_floor: 0 }.encode(),
        Record::SnapTopic { topic: "stray", settings }.encode(),
    ];
    let log = LogId::new("stream-4-t");
    let mut l = SimLog { records: Default::default(), next_seq: 1, durable: 1 };
    for seq in 1..=5 {
        l.records.insert(seq, (0, data::encode(seq, b"m")));
    }
    l.records.remove(&1);
    l.records.remove(&2);
    (l.next_seq, l.durable) = (6, 6);
    h.logs.insert(log, l);
    let j = h.logs.get_mut(&journal()).unwrap();
    for (i, r) in records.iter().enumerate() {
        j.records.insert(i as u64 + 1, (0, r.clone()));
    }
    (j.next_seq, j.durable) = (6, 6);
    h.restart();
    assert_eq!(h.s.stats().skipped_records, 2);
    let t = h.s.topic("t").unwrap();
    // Group g shows sequences up to 500 were handed out: the log continues past them.
    assert_eq!((t.first_seq, t.last_seq), (13, 500));
    let g = h.join(1, "t", "g");
    assert_eq!((g.floor, g.generation), (500, 3), "a floor past the log's end stays");
    let low = h.join(1, "t", "low");
    assert_eq!(low.floor, 12, "a floor below the first record moves up");
    assert_eq!(h.take(1, &low, 10).iter().map(|m| m.0).collect::<Vec<_>>(), [13, 14, 15]);
    assert_eq!(h.pub_seq("t", "next"), 501);
    assert!(h.s.topic("stray").is_none());
}

#[test]
fn a_damaged_snapshot_is_kept_when_nothing_precedes_it() {
    // After compaction `streams` begins with its snapshot; one of its records was lost to damage.
    let settings = TopicSettings { incarnation: 1, base: 0, max_age_ms: 0, max_bytes: 0 };
    let records = [
        Record::SnapshotBegin { next_incarnation: 3, seq_floor: 0 }.encode(),
        Record::SnapTopic { topic: "t", settings }.encode(),
        Record::SnapGroup { topic: "t", group: "g", generation: 1, ack_floor: 2 }.encode(),
        Record::SnapshotEnd { records: 3 }.encode(),
    ];
    let mut h = Harness::new();
    let j = h.logs.get_mut(&journal()).unwrap();
    for (i, r) in records.iter().enumerate() {
        j.records.insert(i as u64 + 1, (0, r.clone()));
    }
    (j.next_seq, j.durable) = (5, 5);
    let mut l = SimLog { records: Default::default(), next_seq: 4, durable: 4 };
    for seq in 1..=3 {
        l.records.insert(seq, (0, data::encode(seq, b"m")));
    }
    h.logs.insert(LogId::new("stream-1-t"), l);
    h.restart();
    h.answer_opens();
    assert_eq!(h.s.stats().skipped_records, 1, "the mismatched end is counted");
    let g = h.join(1, "t", "g");
    assert_eq!(g.floor, 2, "the group survived");
    assert_eq!(h.take(1, &g, 10).iter().map(|m| m.0).collect::<Vec<_>>(), [3]);
    ok(&h.create(1, "u"));
    assert!(h.data_log("u").as_str().starts_with("stream-3-"), "the snapshot's counters are kept");
}

#[test]
fn a_recovered_ack_past_the_end_moves_the_log_past_it() {
    // Found by the stream_journal fuzz target: an empty log whose first sequence is above the
    // group's floor, and an ack for a sequence the log does not hold (any more).
    let mut h = Harness::new();
    let settings = TopicSettings { incarnation: 4, base: 100, max_age_ms: 0, max_bytes: 0 };
    let records = [
        Record::TopicCreate { topic: "t", settings }.encode(),
        Record::GroupSeek { topic: "t", group: "g", generation: 1, ack_floor: 0 }.encode(),
        Record::Ack { topic: "t", group: "g", seq: 101 }.encode(),
    ];
    let j = h.logs.get_mut(&journal()).unwrap();
    for (i, r) in records.iter().enumerate() {
        j.records.insert(i as u64 + 1, (0, r.clone()));
    }
    (j.next_seq, j.durable) = (4, 4);
    h.restart();
    h.answer_opens();
    let g = h.join(1, "t", "g");
    // The ack shows 101 was handed out: the log continues after it instead of reusing it.
    assert_eq!(g.floor, 101, "the floor stays at the last sequence handed out");
    assert_eq!(h.pub_seq("t", "first"), 102);
    assert_eq!(h.take(1, &g, 10).iter().map(|m| m.0).collect::<Vec<_>>(), [102]);
}

#[test]
fn outputs_name_logs_the_storage_accepts() {
    let mut h = Harness::new();
    ok(&h.create(1, &"n".repeat(200)));
    let mut s = crate::stream::Stream::new(StreamConfig::default(), 9);
    s.handle_recovery_done(Now::at(0), &journal(), 1);
    s.handle_request(
        Now::at(0),
        crate::ids::ConnId(1),
        1,
        StreamRequest::Create { topic: "q".into(), options: Default::default() },
    );
    let logs: Vec<LogId> = std::iter::from_fn(|| s.poll_output())
        .filter_map(|o| match o {
            Output::OpenLog { log, .. } => Some(log),
            _ => None,
        })
        .collect();
    assert_eq!(logs, [LogId::new("stream-1-q")]);
    assert!(h.logs.keys().all(|l| l.as_str().len() <= 240));
}

#[test]
fn publishes_before_the_log_is_open_wait_for_it() {
    let mut h = Harness::new();
    h.defer_opens = true;
    ok(&h.create(1, "t"));
    assert!(h.publish(2, "t", b"a").is_empty());
    assert!(h.publish(2, "t", b"b").is_empty());
    let m = h.join(3, "t", "g");
    assert!(h.fetch(3, &m, 10, 5_000).is_empty());
    let outs = h.answer_opens();
    assert_eq!(outs.len(), 3, "{outs:?}");
    assert_eq!(outs[0].2, Reply::Seq(1));
    assert_eq!(outs[1].2, Reply::Seq(2));
    assert_eq!(seqs(&outs[2].2), [1, 2]);
    // A topic deleted before its log opened answers what waited.
    ok(&h.create(1, "u"));
    assert!(h.publish(2, "u", b"x").is_empty());
    let outs = h.send(1, StreamRequest::Delete { topic: "u".into() });
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert_eq!(outs[0].2, Reply::Err("Topic not found".into()));
    assert!(h.answer_opens().is_empty(), "a late open of a deleted topic is ignored");
}
