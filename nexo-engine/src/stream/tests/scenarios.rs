//! Scenario tests of every Stream command and the semantics clients rely on: groups, competing
//! members, long-polls, acks, fencing, releases, seeks, redelivery, dead letters, limits.

use nexo_proto::Reply;
use nexo_proto::request::StreamRequest;

use super::{Harness, M, err, messages, ok, only, seqs};
use crate::broker::Broker;
use crate::stream::StreamConfig;

fn topic_with(h: &mut Harness, topic: &str, payloads: &[&str]) {
    ok(&h.create(1, topic));
    for p in payloads {
        h.pub_seq(topic, p);
    }
}

#[test]
fn create_exists_delete_and_names() {
    let mut h = Harness::new();
    ok(&h.create(1, "orders"));
    ok(&h.create(1, "orders"));
    ok(&h.send(1, StreamRequest::Exists { topic: "orders".into() }));
    err(&h.send(1, StreamRequest::Exists { topic: "nope".into() }), "Stream not found");
    err(&h.create(1, ""), "Invalid name: empty");
    err(&h.create(1, "a/b"), "Invalid name: contains a path separator");
    err(&h.create(1, &"x".repeat(201)), "Invalid name: longer than 200 bytes");
    ok(&h.create(1, ".hidden"));
    ok(&h.send(1, StreamRequest::Delete { topic: "orders".into() }));
    ok(&h.send(1, StreamRequest::Delete { topic: "orders".into() }));
    err(&h.send(1, StreamRequest::Exists { topic: "orders".into() }), "Stream not found");
    err(&h.publish(1, "orders", b"x"), "Topic not found");
    assert_eq!(h.removed.len(), 1, "the data log is removed once the DELETE is durable");
    assert!(h.removed[0].as_str().ends_with("-orders"));
}

#[test]
fn sequences_start_at_one_and_are_never_reused() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    assert_eq!([h.pub_seq("t", "a"), h.pub_seq("t", "b"), h.pub_seq("t", "c")], [1, 2, 3]);
    ok(&h.send(1, StreamRequest::Delete { topic: "t".into() }));
    ok(&h.create(1, "t"));
    assert_eq!(h.pub_seq("t", "d"), 4);
    let m = h.join(1, "t", "g");
    assert_eq!(m.floor, 3, "a new group starts at the oldest retained message");
    assert_eq!(h.take(1, &m, 10), [(4, "d".into())]);
    ok(&h.create(1, "other"));
    assert_eq!(h.pub_seq("other", "x"), 1, "topics count on their own");
}

#[test]
fn join_creates_the_group_at_the_oldest_message() {
    let mut h = Harness::new();
    let outs = h.send(1, StreamRequest::Join { group: "g".into(), topic: "t".into() });
    err(&outs, "Topic not found");
    topic_with(&mut h, "t", &["a", "b"]);
    let a = h.join(1, "t", "g");
    let b = h.join(2, "t", "g");
    assert_eq!((a.floor, a.generation), (0, 1));
    assert_eq!(b.generation, 1);
    assert_ne!(a.id, b.id);
    assert_eq!(a.id.len(), 16);
    let outs = h.send(1, StreamRequest::Join { group: "bad/name".into(), topic: "t".into() });
    err(&outs, "Invalid name: contains a path separator");
}

#[test]
fn two_groups_each_get_everything() {
    let mut h = Harness::new();
    topic_with(&mut h, "t", &["a", "b", "c"]);
    let g1 = h.join(1, "t", "g1");
    let g2 = h.join(2, "t", "g2");
    let all: Vec<(u64, String)> = vec![(1, "a".into()), (2, "b".into()), (3, "c".into())];
    assert_eq!(h.take(1, &g1, 10), all);
    assert_eq!(h.take(2, &g2, 10), all);
}

#[test]
fn members_of_a_group_compete_and_never_overlap() {
    let mut h = Harness::new();
    topic_with(&mut h, "t", &["1", "2", "3", "4", "5", "6"]);
    let a = h.join(1, "t", "g");
    let b = h.join(2, "t", "g");
    let mut got: Vec<u64> = Vec::new();
    got.extend(h.take(1, &a, 2).iter().map(|m| m.0));
    got.extend(h.take(2, &b, 2).iter().map(|m| m.0));
    got.extend(h.take(1, &a, 10).iter().map(|m| m.0));
    assert!(h.take(2, &b, 10).is_empty());
    assert_eq!(got, [1, 2, 3, 4, 5, 6]);
}

#[test]
fn fetch_long_polls_until_a_publish_or_its_deadline() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    let m = h.join(1, "t", "g");
    assert!(h.fetch(1, &m, 10, 5_000).is_empty(), "parked");
    let fetch_id = h.last_id();
    let outs = h.publish(2, "t", b"x");
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert!(outs.contains(&(2, h.last_id(), Reply::Seq(1))));
    let answer = outs.iter().find(|o| o.0 == 1).unwrap();
    assert_eq!((answer.1, seqs(&answer.2)), (fetch_id, vec![1]));
    assert!(h.fetch(1, &m, 10, 100).is_empty());
    assert!(h.advance(99).is_empty());
    let outs = h.advance(1);
    assert_eq!(messages(&only(&outs, 1)), []);
}

#[test]
fn acks_in_any_order_move_the_floor_over_the_prefix() {
    let mut h = Harness::new();
    topic_with(&mut h, "t", &["1", "2", "3", "4", "5"]);
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10).len(), 5);
    ok(&h.ack(1, &m, 3));
    ok(&h.ack(1, &m, 2));
    assert_eq!(h.group_info("t", "g"), (0, 3));
    ok(&h.ack(1, &m, 1));
    assert_eq!(h.group_info("t", "g"), (3, 2));
    ok(&h.ack(1, &m, 5));
    assert_eq!(h.group_info("t", "g").0, 3);
    ok(&h.ack(1, &m, 4));
    assert_eq!(h.group_info("t", "g"), (5, 0));
    err(&h.ack(1, &m, 3), "seq 3 not pending");
    err(&h.ack(1, &m, 77), "seq 77 not pending");
}

#[test]
fn ack_batch_acks_what_is_pending_with_the_member_and_skips_the_rest() {
    let mut h = Harness::new();
    topic_with(&mut h, "t", &["1", "2", "3", "4", "5", "6"]);
    let a = h.join(1, "t", "g");
    let b = h.join(2, "t", "g");
    assert_eq!(h.take(1, &a, 3).len(), 3);
    assert_eq!(h.take(2, &b, 2).len(), 2);
    // 1 and 3 are a's; 4 is b's, 6 was never delivered, 77 does not exist, 1 comes twice.
    assert_eq!(only(&h.ack_batch(1, &a, &[3, 4, 6, 1, 77, 1]), 1), Reply::Count(2));
    assert_eq!(h.group_info("t", "g"), (1, 3), "floor over 1; 2, 4, 5 still pending");
    err(&h.ack(1, &a, 3), "seq 3 not pending");
    err(&h.ack(1, &a, 4), "NOT_OWNER");
    assert_eq!(only(&h.ack_batch(1, &a, &[3, 2]), 1), Reply::Count(1), "3 was acked already");
    assert_eq!(h.group_info("t", "g"), (3, 2));
    assert_eq!(only(&h.ack_batch(2, &b, &[5, 4]), 2), Reply::Count(2));
    assert_eq!(h.group_info("t", "g"), (5, 0));
    assert_eq!(only(&h.ack_batch(2, &b, &[]), 2), Reply::Count(0), "an empty batch");
    assert_eq!(h.take(1, &a, 10), [(6, "6".into())]);
    assert_eq!(only(&h.ack_batch(1, &a, &[6]), 1), Reply::Count(1));
    assert_eq!(h.group_info("t", "g"), (6, 0));
    assert_eq!(h.s.stats().counters.acked, 6, "each acknowledged sequence counts once");
}

#[test]
fn ack_batch_fences_like_ack_and_bounds_its_size() {
    let config = StreamConfig { max_fetch: 3, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    topic_with(&mut h, "t", &["a", "b", "c", "d"]);
    let a = h.join(1, "t", "g");
    assert_eq!(h.take(1, &a, 3).len(), 3);
    let stale = M { generation: 7, ..a.clone() };
    let stranger = M { id: "nobody".into(), ..a.clone() };
    let stale_stranger = M { generation: 7, ..stranger.clone() };
    for (m, text) in [
        (&stale, "FENCED"),
        (&stale_stranger, "FENCED"),
        (&stranger, "NOT_MEMBER"),
        (&M { group: "none".into(), ..a.clone() }, "Group not found"),
        (&M { topic: "none".into(), ..a.clone() }, "Topic not found"),
    ] {
        err(&h.ack(1, m, 1), text);
        err(&h.ack_batch(1, m, &[1]), text);
    }
    // More than a FETCH may deliver is refused before anything else, even for a stale member.
    err(&h.ack_batch(1, &a, &[1, 2, 3, 4]), "Invalid ACK_BATCH: 4 seqs (max 3)");
    err(&h.ack_batch(1, &stale, &[1, 2, 3, 4]), "Invalid ACK_BATCH: 4 seqs (max 3)");
    assert_eq!(h.group_info("t", "g"), (0, 3), "refused batches ack nothing");
    assert_eq!(only(&h.ack_batch(1, &a, &[1, 2, 3]), 1), Reply::Count(3), "exactly the maximum");
    assert_eq!(h.group_info("t", "g"), (3, 0));
}

#[test]
fn ack_batch_makes_room_for_a_waiting_fetch() {
    let config = StreamConfig { max_pending_per_group: 2, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    topic_with(&mut h, "t", &["a", "b", "c", "d"]);
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10).len(), 2);
    assert!(h.fetch(1, &m, 10, 10_000).is_empty());
    let parked = h.last_id();
    let outs = h.ack_batch(1, &m, &[2, 1]);
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert!(outs.contains(&(1, h.last_id(), Reply::Count(2))));
    let answer = outs.iter().find(|o| o.1 == parked).unwrap();
    assert_eq!(seqs(&answer.2), [3, 4]);
    assert!(h.ack_batch(1, &m, &[9]).contains(&(1, h.last_id(), Reply::Count(0))));
}

#[test]
fn fencing_is_checked_in_order() {
    let mut h = Harness::new();
    topic_with(&mut h, "t", &["a"]);
    let a = h.join(1, "t", "g");
    let b = h.join(2, "t", "g");
    assert_eq!(h.take(1, &a, 1), [(1, "a".into())]);
    err(&h.ack(2, &b, 1), "NOT_OWNER");
    err(&h.nack(2, &b, 1, 0), "NOT_OWNER");
    let stale = M { generation: 7, ..a.clone() };
    let stranger = M { id: "nobody".into(), ..a.clone() };
    let stale_stranger = M { generation: 7, ..stranger.clone() };
    err(&h.ack(1, &stale, 1), "FENCED");
    err(&h.fetch(1, &stale_stranger, 1, 0), "FENCED");
    err(&h.leave(1, &stale), "FENCED");
    err(&h.ack(1, &stranger, 1), "NOT_MEMBER");
    err(&h.fetch(1, &stranger, 1, 0), "NOT_MEMBER");
    err(&h.leave(1, &stranger), "NOT_MEMBER");
    err(&h.fetch(1, &M { group: "none".into(), ..a.clone() }, 1, 0), "Group not found");
    err(&h.fetch(1, &M { topic: "none".into(), ..a.clone() }, 1, 0), "Topic not found");
    ok(&h.ack(1, &a, 1));
}

#[test]
fn a_disconnect_releases_pending_messages_at_once() {
    let mut h = Harness::new();
    topic_with(&mut h, "t", &["a", "b"]);
    let a = h.join(1, "t", "g");
    let b = h.join(2, "t", "g");
    assert_eq!(h.take(1, &a, 10).len(), 2);
    assert!(h.fetch(2, &b, 10, 60_000).is_empty());
    let outs = h.disconnect(1);
    assert_eq!(seqs(&only(&outs, 2)), [1, 2], "redelivered to the other member without waiting");
    let redelivered = h.s.groups("t", 0, 10).unwrap()[0].counters.redelivered;
    assert_eq!(redelivered, 2);
    err(&h.fetch(1, &a, 1, 0), "NOT_MEMBER");
}

#[test]
fn leave_ends_only_that_members_fetch_with_an_empty_batch() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    let a = h.join(1, "t", "g");
    let b = h.join(2, "t", "g");
    assert!(h.fetch(1, &a, 10, 60_000).is_empty());
    let a_fetch = h.last_id();
    assert!(h.fetch(2, &b, 10, 60_000).is_empty());
    let outs = h.leave(3, &a);
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert_eq!(outs[0], (1, a_fetch, Reply::StreamMessages(Vec::new())));
    assert_eq!(outs[1], (3, h.last_id(), Reply::Ok));
    let outs = h.publish(4, "t", b"x");
    assert!(outs.iter().any(|o| o.0 == 2 && seqs(&o.2) == [1]), "{outs:?}");
}

#[test]
fn seeks_reset_the_group_and_fence_its_members() {
    let mut h = Harness::new();
    topic_with(&mut h, "t", &["a", "b", "c"]);
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10).len(), 3);
    assert!(h.fetch(1, &m, 10, 60_000).is_empty());
    let parked = h.last_id();
    let outs = h.seek(2, "t", "g", 0);
    assert_eq!(outs, [(1, parked, Reply::StreamMessages(Vec::new())), (2, h.last_id(), Reply::Ok)]);
    err(&h.fetch(1, &m, 10, 0), "FENCED");
    let m2 = h.join(1, "t", "g");
    assert_eq!((m2.generation, m2.floor), (2, 0));
    assert_eq!(seqs(&only(&h.fetch(1, &m2, 10, 0), 1)), [1, 2, 3]);
    ok(&h.seek(2, "t", "g", 1));
    let m3 = h.join(1, "t", "g");
    assert_eq!((m3.generation, m3.floor), (3, 3));
    assert!(h.take(1, &m3, 10).is_empty());
    h.pub_seq("t", "d");
    assert_eq!(h.take(1, &m3, 10), [(4, "d".into())]);
    err(&h.seek(2, "t", "g", 2), "Invalid seek target: 2");
    err(&h.seek(2, "none", "g", 0), "Topic not found");
    ok(&h.seek(2, "t", "fresh", 1));
    assert_eq!(h.join(1, "t", "fresh").floor, 4, "SEEK creates the group");
}

#[test]
fn seek_to_a_sequence_and_to_a_time() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    let start = h.now.wall_ms;
    for p in ["a", "b", "c", "d"] {
        h.pub_seq("t", p);
        h.advance(100);
    }
    let seek_seq = |h: &mut Harness, seq| {
        h.send(1, StreamRequest::SeekSeq { topic: "t".into(), group: "g".into(), seq })
    };
    assert_eq!(only(&seek_seq(&mut h, 3), 1), Reply::Seq(3));
    assert_eq!(h.join(1, "t", "g").floor, 2);
    assert_eq!(only(&seek_seq(&mut h, 0), 1), Reply::Seq(1));
    assert_eq!(only(&seek_seq(&mut h, 99), 1), Reply::Seq(5));
    let seek_time = |h: &mut Harness, timestamp_ms| {
        h.send(1, StreamRequest::SeekTime { topic: "t".into(), group: "g".into(), timestamp_ms })
    };
    assert_eq!(only(&seek_time(&mut h, start + 150), 1), Reply::Seq(3));
    assert_eq!(only(&seek_time(&mut h, start + 100), 1), Reply::Seq(2));
    assert_eq!(only(&seek_time(&mut h, 0), 1), Reply::Seq(1));
    assert_eq!(only(&seek_time(&mut h, start + 10_000), 1), Reply::Seq(5));
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10), []);
}

#[test]
fn seek_to_a_time_searches_the_log_with_reads() {
    let config = StreamConfig { cache_max_messages: 2, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    ok(&h.create(1, "t"));
    let start = h.now.wall_ms;
    for i in 0..50 {
        h.pub_seq("t", &format!("m{i}"));
        h.advance(10);
    }
    for (at, expected) in
        [(0, 1), (start + 5, 2), (start + 10, 2), (start + 255, 27), (start + 480, 49), (start + 490, 50)]
    {
        let reads = h.reads;
        let outs =
            h.send(1, StreamRequest::SeekTime { topic: "t".into(), group: "g".into(), timestamp_ms: at });
        assert_eq!(only(&outs, 1), Reply::Seq(expected), "at {}", at.saturating_sub(start));
        if expected < 49 {
            assert!(h.reads > reads, "older than the cache: read from the log");
        }
    }
}

#[test]
fn redelivery_after_the_ack_wait_then_dead_letters_and_replay() {
    let config = StreamConfig { ack_wait_ms: 1_000, max_deliveries: 2, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    topic_with(&mut h, "t", &["x", "y"]);
    let m = h.join(1, "t", "g");
    assert_eq!(seqs(&only(&h.fetch(1, &m, 1, 0), 1)), [1]);
    assert!(h.advance(999).is_empty());
    assert!(h.advance(1).is_empty());
    assert_eq!(h.take(1, &m, 1), [(1, "x".into())], "redelivered first");
    h.advance(1_000);
    assert_eq!(h.dlq("t", "g"), [(1, 2, "x".into())]);
    assert_eq!(h.group_info("t", "g"), (1, 0), "a dead letter counts as done");
    assert_eq!(h.take(1, &m, 10), [(2, "y".into())]);
    ok(&h.ack(1, &m, 2));
    let outs = h.send(1, StreamRequest::ReplayDlq { topic: "t".into(), group: "g".into(), seq: 0 });
    assert_eq!(only(&outs, 1), Reply::Count(1));
    assert!(h.dlq("t", "g").is_empty());
    assert_eq!(h.take(1, &m, 10), [(1, "x".into())]);
    ok(&h.ack(1, &m, 1));
    assert_eq!(h.group_info("t", "g"), (2, 0));
    let outs = h.send(1, StreamRequest::ReplayDlq { topic: "t".into(), group: "g".into(), seq: 9 });
    assert_eq!(only(&outs, 1), Reply::Count(0));
    let outs = h.send(1, StreamRequest::ReplayDlq { topic: "t".into(), group: "nope".into(), seq: 0 });
    err(&outs, "Group not found");
}

#[test]
fn nack_redelivers_now_or_after_a_delay_and_dead_letters_at_the_limit() {
    let config = StreamConfig { max_deliveries: 3, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    topic_with(&mut h, "t", &["a", "b"]);
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10).len(), 2);
    ok(&h.nack(1, &m, 2, 0));
    assert_eq!(h.take(1, &m, 10), [(2, "b".into())]);
    ok(&h.nack(1, &m, 2, 500));
    assert!(h.take(1, &m, 10).is_empty());
    assert!(h.fetch(1, &m, 10, 10_000).is_empty());
    let outs = h.advance(500);
    assert_eq!(seqs(&only(&outs, 1)), [2], "the third delivery");
    assert!(h.dlq("t", "g").is_empty());
    h.auto_persist = false;
    assert!(h.nack(1, &m, 2, 0).is_empty(), "a NACK that dead-letters waits for its record");
    ok(&h.persist_all());
    h.auto_persist = true;
    err(&h.nack(1, &m, 2, 0), "seq 2 not pending");
    assert_eq!(h.dlq("t", "g"), [(2, 3, "b".into())]);
    assert_eq!(h.group_info("t", "g"), (0, 1), "seq 1 is still pending");
}

#[test]
fn a_fetch_waits_at_the_pending_limit_and_acks_make_room() {
    let config = StreamConfig { max_pending_per_group: 2, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    topic_with(&mut h, "t", &["a", "b", "c"]);
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 10).len(), 2);
    assert!(h.take(1, &m, 10).is_empty());
    assert!(h.fetch(1, &m, 10, 10_000).is_empty());
    let parked = h.last_id();
    let outs = h.ack(1, &m, 1);
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert!(outs.contains(&(1, h.last_id(), Reply::Ok)));
    let answer = outs.iter().find(|o| o.1 == parked).unwrap();
    assert_eq!(seqs(&answer.2), [3]);
}

#[test]
fn waiting_requests_per_connection_are_bounded() {
    let config = StreamConfig { max_parked_per_conn: 2, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    ok(&h.create(1, "t"));
    let m = h.join(1, "t", "g");
    assert!(h.fetch(1, &m, 1, 1_000).is_empty());
    assert!(h.fetch(1, &m, 1, 1_000).is_empty());
    err(&h.fetch(1, &m, 1, 1_000), "Too many pending requests");
    assert!(h.fetch(2, &m, 1, 1_000).is_empty(), "another connection has its own budget");
    assert_eq!(h.advance(1_000).len(), 3);
}

#[test]
fn fetch_limits_are_clamped_and_replies_capped_in_bytes() {
    let config = StreamConfig { max_fetch: 3, max_reply_bytes: 4 + 2 * 30, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    ok(&h.create(1, "t"));
    for _ in 0..5 {
        h.pub_seq("t", "0123456789");
    }
    h.pub_seq("t", &"L".repeat(500));
    let m = h.join(1, "t", "g");
    assert_eq!(seqs(&only(&h.fetch(1, &m, 100, 0), 1)), [1, 2], "capped by bytes");
    assert_eq!(seqs(&only(&h.fetch(1, &m, 0, 0), 1)), [3], "limit 0 counts as 1");
    assert_eq!(seqs(&only(&h.fetch(1, &m, 100, 0), 1)), [4, 5]);
    assert_eq!(seqs(&only(&h.fetch(1, &m, 100, 0), 1)), [6], "a large message goes alone");
}

#[test]
fn old_messages_are_read_from_the_log() {
    let config = StreamConfig { cache_max_messages: 2, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    topic_with(&mut h, "t", &["a", "b", "c", "d", "e"]);
    let m = h.join(1, "t", "g");
    let reads = h.reads;
    let got = h.take(1, &m, 10);
    assert_eq!(got.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d", "e"]);
    assert_eq!(h.reads, reads + 1, "one read for the run 1..=3");
    // A read answered later: the FETCH answers then; a LEAVE meanwhile ends it empty.
    h.defer_reads = true;
    let m2 = h.join(2, "t", "g2");
    assert!(h.fetch(2, &m2, 10, 0).is_empty());
    let outs = h.answer_reads();
    assert_eq!(seqs(&only(&outs, 2)), [1, 2, 3, 4, 5]);
    let m3 = h.join(3, "t", "g3");
    assert!(h.fetch(3, &m3, 10, 0).is_empty());
    let fetch = h.last_id();
    let outs = h.leave(3, &m3);
    assert_eq!(outs[0], (3, fetch, Reply::StreamMessages(Vec::new())));
    assert!(h.answer_reads().is_empty(), "a late read is ignored");
    let m4 = h.join(4, "t", "g3");
    h.defer_reads = false;
    assert_eq!(h.take(4, &m4, 10).len(), 5, "released, nothing lost");
}

#[test]
fn retention_moves_groups_up() {
    let config = StreamConfig { retention_interval_ms: 1_000, ..StreamConfig::default() };
    let mut h = Harness::with(config);
    ok(&h.create_with(1, "t", Some(5_000), None));
    h.pub_seq("t", "old");
    h.advance(3_000);
    h.pub_seq("t", "mid");
    let m = h.join(1, "t", "g");
    assert_eq!(m.floor, 0);
    h.advance(3_000);
    h.pub_seq("t", "new");
    h.advance(1_000);
    let t = h.s.topic("t").unwrap();
    assert_eq!((t.first_seq, t.last_seq), (2, 3));
    assert_eq!(h.group_info("t", "g").0, 1);
    assert_eq!(h.take(1, &m, 10), [(2, "mid".into()), (3, "new".into())]);
    let outs = h.send(1, StreamRequest::SeekSeq { topic: "t".into(), group: "g".into(), seq: 1 });
    assert_eq!(only(&outs, 1), Reply::Seq(2), "clamped to the retained range");
}

#[test]
fn delete_group_and_listings() {
    let mut h = Harness::new();
    topic_with(&mut h, "b", &["x", "y", "z"]);
    ok(&h.create_with(1, "a", Some(0), Some(1_000)));
    let m = h.join(1, "b", "g1");
    h.join(1, "b", "g2");
    assert_eq!(h.take(1, &m, 2).len(), 2);
    ok(&h.ack(1, &m, 1));
    let outs = h.send(1, StreamRequest::ListTopics { offset: 0, limit: 10 });
    let Reply::StreamTopics { total, topics } = only(&outs, 1) else { panic!() };
    assert_eq!(total, 2);
    assert_eq!(topics[0].name, "a");
    assert_eq!((topics[0].max_age_ms, topics[0].max_bytes, topics[0].last_seq), (0, 1_000, 0));
    assert_eq!((topics[1].first_seq, topics[1].last_seq, topics[1].groups), (1, 3, 2));
    assert_eq!(topics[1].max_age_ms, StreamConfig::default().default_max_age_ms);
    let outs = h.send(1, StreamRequest::ListGroups { topic: "b".into(), offset: 1, limit: 10 });
    let Reply::StreamGroups { total, groups } = only(&outs, 1) else { panic!() };
    assert_eq!((total, groups.len(), groups[0].name.as_str()), (2, 1, "g2"));
    let outs = h.send(1, StreamRequest::ListGroups { topic: "b".into(), offset: 0, limit: 1 });
    let Reply::StreamGroups { groups, .. } = only(&outs, 1) else { panic!() };
    assert_eq!((groups[0].ack_floor, groups[0].lag, groups[0].pending, groups[0].members), (1, 2, 1, 1));
    err(&h.send(1, StreamRequest::ListGroups { topic: "zz".into(), offset: 0, limit: 1 }), "Topic not found");
    assert!(h.fetch(1, &m, 10, 60_000).len() == 1, "one message left");
    assert!(h.fetch(1, &m, 10, 60_000).is_empty());
    let outs = h.send(2, StreamRequest::DeleteGroup { topic: "b".into(), group: "g1".into() });
    assert_eq!(outs.len(), 2, "the parked FETCH ends: {outs:?}");
    assert_eq!(outs[1], (2, h.last_id(), Reply::Ok));
    err(&h.fetch(1, &m, 10, 0), "Group not found");
    ok(&h.send(2, StreamRequest::DeleteGroup { topic: "b".into(), group: "g1".into() }));
    assert_eq!(h.join(1, "b", "g1").floor, 0, "a new group starts over");
}

#[test]
fn delete_ends_fetches_and_shutdown_ends_the_rest() {
    let mut h = Harness::new();
    ok(&h.create(1, "t"));
    ok(&h.create(1, "u"));
    let a = h.join(1, "t", "g");
    let b = h.join(2, "u", "g");
    assert!(h.fetch(1, &a, 1, 60_000).is_empty());
    assert!(h.fetch(2, &b, 1, 60_000).is_empty());
    let outs = h.send(3, StreamRequest::Delete { topic: "t".into() });
    assert_eq!(outs.len(), 2);
    assert_eq!(outs[0].2, Reply::StreamMessages(Vec::new()));
    h.s.handle_shutdown(h.now);
    let outs = h.drain();
    assert_eq!(outs.len(), 1);
    assert_eq!(outs[0].0, 2);
    assert_eq!(outs[0].2, Reply::StreamMessages(Vec::new()));
    assert_eq!(h.s.stats().waiting_fetches, 0);
}

#[test]
fn limits_on_topics_groups_and_members() {
    let config = StreamConfig {
        max_topics: 1,
        max_groups_per_topic: 1,
        max_members_per_group: 1,
        ..StreamConfig::default()
    };
    let mut h = Harness::with(config);
    ok(&h.create(1, "t"));
    err(&h.create(1, "u"), "Too many topics (max 1)");
    h.join(1, "t", "g");
    err(&h.send(1, StreamRequest::Join { group: "g".into(), topic: "t".into() }), "Too many members (max 1)");
    err(&h.send(1, StreamRequest::Join { group: "h".into(), topic: "t".into() }), "Too many groups (max 1)");
    err(&h.seek(1, "t", "h", 0), "Too many groups (max 1)");
    let huge = vec![0u8; crate::stream::MAX_MESSAGE_BYTES + 1];
    let text = format!("Message too large: {} bytes (max {})", huge.len(), crate::stream::MAX_MESSAGE_BYTES);
    err(&h.publish(1, "t", &huge), &text);
}

#[test]
fn dead_letters_are_listed_with_their_data_from_memory_or_the_log() {
    let config = StreamConfig {
        ack_wait_ms: 100,
        max_deliveries: 1,
        cache_max_messages: 1,
        ..StreamConfig::default()
    };
    let mut h = Harness::with(config);
    topic_with(&mut h, "t", &["a", "b", "c"]);
    let m = h.join(1, "t", "g");
    assert_eq!(h.take(1, &m, 2).len(), 2);
    h.advance(100);
    assert_eq!(h.dlq("t", "g"), [(1, 1, "a".into()), (2, 1, "b".into())]);
    let outs =
        h.send(1, StreamRequest::ListDlq { topic: "t".into(), group: "g".into(), offset: 1, limit: 5 });
    let Reply::StreamDeadLetters { total, messages } = only(&outs, 1) else { panic!() };
    assert_eq!((total, messages.len(), messages[0].seq), (2, 1, 2));
    let outs = h.send(1, StreamRequest::ReplayDlq { topic: "t".into(), group: "g".into(), seq: 2 });
    assert_eq!(only(&outs, 1), Reply::Count(1));
    assert_eq!(h.take(1, &m, 10), [(2, "b".into()), (3, "c".into())]);
}
