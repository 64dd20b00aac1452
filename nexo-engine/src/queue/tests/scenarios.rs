//! Scenario tests: one behaviour of the broker per test, through its `Broker` interface, with
//! storage persisting after every input.

use nexo_proto::Reply;
use nexo_proto::options::QueueOptions;
use nexo_proto::request::QueueRequest;

use super::{Harness, err, messages, ok, only, payloads};
use crate::broker::Broker;
use crate::queue::{MessageState, QueueConfig};

fn opts(visibility_ms: u64, max_retries: u32) -> QueueOptions {
    QueueOptions {
        visibility_timeout_ms: Some(visibility_ms),
        max_retries: Some(max_retries),
        ..Default::default()
    }
}

fn attempts_ready(h: &Harness, name: &str) -> Vec<u32> {
    h.q.peek_messages(name, MessageState::Ready, 0, 100).unwrap().iter().map(|m| m.attempts).collect()
}

#[test]
fn create_is_idempotent_and_exists_delete_follow() {
    let mut h = Harness::new();
    ok(&h.create_with(1, "jobs", opts(5_000, 2)));
    ok(&h.create_with(1, "jobs", opts(9_000, 7)));
    let snap = h.q.queue("jobs").unwrap();
    assert_eq!(
        (snap.visibility_timeout_ms, snap.max_retries),
        (5_000, 2),
        "options of the first CREATE kept"
    );
    ok(&h.send(1, QueueRequest::Exists { name: "jobs".into() }));
    err(&h.send(1, QueueRequest::Exists { name: "nope".into() }), "Queue not found");
    ok(&h.send(1, QueueRequest::Delete { name: "jobs".into() }));
    ok(&h.send(1, QueueRequest::Delete { name: "jobs".into() }));
    err(&h.send(1, QueueRequest::Exists { name: "jobs".into() }), "Queue not found");
}

#[test]
fn defaults_apply_to_missing_or_zero_options() {
    let mut h = Harness::new();
    h.create(1, "a");
    h.create_with(
        1,
        "b",
        QueueOptions { visibility_timeout_ms: Some(0), max_retries: Some(0), ..Default::default() },
    );
    let a = h.q.queue("a").unwrap();
    assert_eq!((a.visibility_timeout_ms, a.max_retries), (30_000, 5));
    assert_eq!((a.max_depth, a.max_bytes), (1_000_000, 1 << 30));
    let b = h.q.queue("b").unwrap();
    assert_eq!((b.visibility_timeout_ms, b.max_retries), (30_000, 0));
}

#[test]
fn invalid_names_are_refused() {
    let mut h = Harness::new();
    err(&h.create(1, ""), "Invalid name: empty");
    err(&h.create(1, "a/b"), "Invalid name: contains a path separator");
    err(&h.create(1, "a\\b"), "Invalid name: contains a path separator");
    err(&h.create(1, ".."), "Invalid name: '.' and '..' are reserved");
    err(&h.create(1, "a\tb"), "Invalid name: contains a control character");
    err(&h.create(1, &"x".repeat(201)), "Invalid name: longer than 200 bytes");
    ok(&h.create(1, &"x".repeat(200)));
}

#[test]
fn missing_queue_texts() {
    let mut h = Harness::new();
    let id = [1; 16];
    err(&h.push(1, "q", b"x"), "Queue 'q' not found. Create it first.");
    let not_found = "Queue 'q' not found";
    err(&h.consume(1, "q", 1, 0), not_found);
    err(&h.consume(1, "q", 1, 1_000), not_found);
    err(&h.ack(1, "q", id), not_found);
    err(&h.nack(1, "q", id, "r"), not_found);
    let name = || "q".to_owned();
    for request in [
        QueueRequest::PeekDlq { name: name(), limit: 10, offset: 0 },
        QueueRequest::MoveToQueue { name: name(), id },
        QueueRequest::DeleteDlq { name: name(), id },
        QueueRequest::PurgeDlq { name: name() },
        QueueRequest::Extend { id, name: name(), ms: 10 },
        QueueRequest::NackDelay { id, name: name(), reason: "r".into(), delay_ms: 5 },
        QueueRequest::Purge { name: name() },
    ] {
        err(&h.send(1, request), not_found);
    }
}

#[test]
fn priority_first_then_fifo_inside_one_batch() {
    let mut h = Harness::new();
    h.create(1, "q");
    for (payload, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", 255)] {
        ok(&h.push_with(1, "q", payload.as_bytes(), priority, 0));
    }
    let outs = h.consume(2, "q", 10, 0);
    assert_eq!(payloads(&only(&outs, 2)), ["e", "b", "d", "a", "c"]);
    assert_eq!(payloads(&only(&h.consume(2, "q", 10, 0), 2)), Vec::<String>::new());
}

#[test]
fn nacked_message_goes_to_the_tail_of_its_priority() {
    let mut h = Harness::new();
    h.create(1, "q");
    for p in ["a", "b", "c"] {
        h.push(1, "q", p.as_bytes());
    }
    h.push_with(1, "q", b"hi", 1, 0);
    let first = h.take(2, "q", 2);
    assert_eq!(first[0].1, b"hi");
    assert_eq!(first[1].1, b"a");
    ok(&h.nack(2, "q", first[1].0, "retry"));
    ok(&h.nack(2, "q", first[0].0, "retry"));
    assert_eq!(payloads(&only(&h.consume(2, "q", 10, 0), 2)), ["hi", "b", "c", "a"]);
}

#[test]
fn batch_size_default_clamp_and_zero() {
    let mut h = Harness::new();
    h.create(1, "q");
    for i in 0..1_005 {
        h.push(1, "q", format!("{i}").as_bytes());
    }
    let outs = h.send(2, QueueRequest::Consume { name: "q".into(), options: Default::default() });
    assert_eq!(messages(&only(&outs, 2)).len(), 10, "default batch 10");
    assert_eq!(h.take(2, "q", 0).len(), 1, "batch 0 means 1");
    assert_eq!(h.take(2, "q", 5_000).len(), 994, "clamped to 1000, 994 left");
}

#[test]
fn batch_stops_before_the_reply_byte_limit_but_carries_one() {
    let config = QueueConfig { max_reply_bytes: 100, ..QueueConfig::default() };
    let mut h = Harness::with(config);
    h.create(1, "q");
    h.push(1, "q", &[b'a'; 30]); // 4 + 50 = 54
    h.push(1, "q", &[b'b'; 26]); // + 46 = 100: still fits
    h.push(1, "q", &[b'c'; 500]);
    h.push(1, "q", &[b'd'; 1]);
    let batch = h.take(2, "q", 10);
    assert_eq!(batch.iter().map(|(_, p)| p.len()).collect::<Vec<_>>(), [30, 26]);
    assert_eq!(h.take(2, "q", 10).len(), 1, "an oversized message still goes, alone");
    assert_eq!(h.take(2, "q", 10).len(), 1);
}

#[test]
fn delayed_messages_become_ready_in_due_order() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push_with(1, "q", b"late", 9, 200);
    h.push_with(1, "q", b"soon", 0, 100);
    h.push(1, "q", b"now");
    assert_eq!(h.q.queue("q").unwrap().delayed, 2);
    assert_eq!(payloads(&only(&h.consume(2, "q", 10, 0), 2)), ["now"]);
    h.advance(99);
    assert!(h.take(2, "q", 10).is_empty());
    h.advance(1);
    assert_eq!(h.take(2, "q", 10).len(), 1);
    h.advance(100);
    let batch = h.take(2, "q", 10);
    assert_eq!(batch[0].1, b"late");
}

#[test]
fn long_poll_is_answered_by_a_push() {
    let mut h = Harness::new();
    h.create(1, "q");
    assert!(h.consume(2, "q", 5, 10_000).is_empty(), "parked");
    let poll = h.last_id();
    // The connection is not blocked: its other requests are answered.
    ok(&h.send(2, QueueRequest::Exists { name: "q".into() }));
    let outs = h.push(1, "q", b"x");
    assert_eq!(outs.len(), 2, "{outs:?}");
    assert_eq!(outs[0].0, 1);
    assert_eq!((outs[1].0, outs[1].1), (2, poll));
    assert_eq!(payloads(&outs[1].2), ["x"]);
    assert!(h.advance(20_000).is_empty(), "the deadline timer is gone");
}

#[test]
fn long_poll_deadline_answers_an_empty_batch() {
    let mut h = Harness::new();
    h.create(1, "q");
    assert!(h.consume(2, "q", 5, 1_000).is_empty());
    assert!(h.advance(999).is_empty());
    let outs = h.advance(1);
    assert_eq!(payloads(&only(&outs, 2)), Vec::<String>::new());
    assert_eq!(h.q.poll_timeout(), None);
}

#[test]
fn delete_answers_parked_consumes_with_an_empty_batch() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.consume(2, "q", 5, 10_000);
    h.consume(3, "q", 5, 10_000);
    let outs = h.send(1, QueueRequest::Delete { name: "q".into() });
    assert_eq!(outs.len(), 3, "{outs:?}");
    assert!(outs.iter().any(|o| o.0 == 1 && o.2 == Reply::Ok));
    for conn in [2, 3] {
        assert!(outs.iter().any(|o| o.0 == conn && o.2 == Reply::QueueMessages(Vec::new())));
    }
    assert!(h.advance(20_000).is_empty());
}

#[test]
fn waiting_consumers_are_served_in_arrival_order() {
    let mut h = Harness::new();
    h.create(1, "q");
    for conn in [5, 3, 4] {
        h.consume(conn, "q", 1, 10_000);
    }
    let mut served = Vec::new();
    for p in ["a", "b", "c"] {
        let outs = h.push(1, "q", p.as_bytes());
        served.extend(outs.iter().filter(|o| o.0 != 1).map(|o| (o.0, payloads(&o.2))));
    }
    assert_eq!(served, [(5, vec!["a".to_owned()]), (3, vec!["b".to_owned()]), (4, vec!["c".to_owned()])]);
}

#[test]
fn a_waiter_gets_a_whole_batch_of_what_became_ready() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.auto_persist = false;
    h.consume(2, "q", 10, 10_000);
    h.push(1, "q", b"a");
    h.push(1, "q", b"b");
    let outs = h.persist_all();
    let batch: Vec<_> = outs.iter().filter(|o| o.0 == 2).collect();
    assert_eq!(batch.len(), 1);
    assert_eq!(payloads(&batch[0].2), ["a", "b"]);
}

#[test]
fn parked_consumes_are_capped_per_connection() {
    let mut h = Harness::new();
    h.create(1, "q");
    for _ in 0..1024 {
        assert!(h.consume(2, "q", 1, 60_000).is_empty());
    }
    err(&h.consume(2, "q", 1, 60_000), "Too many pending requests");
    assert!(h.consume(3, "q", 1, 60_000).is_empty(), "other connections are not affected");
    // A CONSUME that need not wait is not parked, so it is not refused.
    h.push(1, "q", b"x");
    assert_eq!(h.q.stats().waiting_consumers, 1024);
}

#[test]
fn lease_expiry_redelivers_with_attempts() {
    let mut h = Harness::new();
    h.create_with(1, "q", opts(1_000, 5));
    h.push(1, "q", b"x");
    let (id, _) = h.take(2, "q", 1)[0].clone();
    assert!(h.take(3, "q", 1).is_empty(), "leased");
    h.advance(999);
    assert!(h.take(3, "q", 1).is_empty());
    h.advance(1);
    assert_eq!(attempts_ready(&h, "q"), [1]);
    let again = h.take(3, "q", 1);
    assert_eq!(again[0].0, id, "same id");
    assert_eq!(h.q.peek_messages("q", MessageState::InFlight, 0, 10).unwrap()[0].attempts, 2);
    err(&h.ack(2, "q", id), "ACK failed");
    ok(&h.ack(3, "q", id));
    let s = h.q.queue("q").unwrap();
    assert_eq!((s.counters.delivered, s.counters.expired, s.counters.acked), (2, 1, 1));
    assert_eq!(s.ready + s.in_flight, 0);
}

#[test]
fn expiry_wakes_a_waiter_whose_deadline_is_later_in_the_same_batch() {
    let mut h = Harness::new();
    h.create_with(1, "q", opts(100, 5));
    h.push(1, "q", b"x");
    h.take(2, "q", 1);
    h.consume(3, "q", 1, 100);
    let outs = h.advance(500);
    assert_eq!(payloads(&only(&outs, 3)), ["x"], "lease expiry comes before the waiter's deadline");
}

fn fail_until_dead(max_retries: u32, expected_deliveries: u32) {
    let mut h = Harness::new();
    h.create_with(1, "q", opts(1_000, max_retries));
    h.push(1, "q", b"job");
    for n in 1..=expected_deliveries {
        let batch = h.take(2, "q", 1);
        assert_eq!(batch.len(), 1, "delivery {n} of max_retries {max_retries}");
        ok(&h.nack(2, "q", batch[0].0, &format!("boom {n}")));
    }
    assert!(h.take(2, "q", 1).is_empty());
    assert_eq!(h.dlq("q"), [(b"job".to_vec(), expected_deliveries, format!("boom {expected_deliveries}"))]);
}

#[test]
fn max_retries_zero_one_and_five() {
    fail_until_dead(0, 1);
    fail_until_dead(1, 1);
    fail_until_dead(5, 5);
}

#[test]
fn lease_expiry_dead_letters_with_timeout() {
    let mut h = Harness::new();
    h.create_with(1, "q", opts(50, 2));
    h.push(1, "q", b"x");
    h.take(2, "q", 1);
    h.advance(50);
    h.take(2, "q", 1);
    h.advance(50);
    assert_eq!(h.dlq("q"), [(b"x".to_vec(), 2, "Timeout".to_owned())]);
    let s = h.q.stats();
    assert_eq!((s.counters.expired, s.counters.dead_lettered, s.dead), (2, 1, 1));
}

#[test]
fn dlq_peek_move_delete_purge() {
    let mut h = Harness::new();
    h.create_with(1, "q", opts(1_000, 1));
    for (p, prio) in [("a", 0), ("b", 7), ("c", 0), ("d", 0)] {
        h.push_with(1, "q", p.as_bytes(), prio, 0);
    }
    let all = h.take(2, "q", 10);
    let ids: Vec<_> = all.iter().map(|(id, _)| *id).collect();
    for (id, p) in &all {
        h.nack(2, "q", *id, &format!("bad {}", String::from_utf8_lossy(p)));
    }
    // Nacked in the order b, a, c, d: newest failure first.
    let dlq = h.dlq("q");
    assert_eq!(dlq.iter().map(|d| d.2.as_str()).collect::<Vec<_>>(), ["bad d", "bad c", "bad a", "bad b"]);
    let page = h.send(9, QueueRequest::PeekDlq { name: "q".into(), limit: 2, offset: 1 });
    match only(&page, 9) {
        Reply::DlqPage { total, messages } => {
            assert_eq!(total, 4);
            assert_eq!(messages.iter().map(|m| m.reason.as_str()).collect::<Vec<_>>(), ["bad c", "bad a"]);
        }
        other => panic!("{other:?}"),
    }
    // Move b back: ready with attempts 0, same id and priority.
    let b = ids[0];
    assert_eq!(only(&h.send(1, QueueRequest::MoveToQueue { name: "q".into(), id: b }), 1), Reply::Flag(true));
    assert_eq!(
        only(&h.send(1, QueueRequest::MoveToQueue { name: "q".into(), id: b }), 1),
        Reply::Flag(false)
    );
    h.push(1, "q", b"plain");
    let ready = h.q.peek_messages("q", MessageState::Ready, 0, 10).unwrap();
    assert_eq!((ready[0].id, ready[0].priority, ready[0].attempts), (b, 7, 0));
    assert_eq!(h.take(2, "q", 1)[0].0, b);
    // Delete one, purge the rest.
    let d = ids[3];
    assert_eq!(only(&h.send(1, QueueRequest::DeleteDlq { name: "q".into(), id: d }), 1), Reply::Flag(true));
    assert_eq!(only(&h.send(1, QueueRequest::DeleteDlq { name: "q".into(), id: d }), 1), Reply::Flag(false));
    assert_eq!(only(&h.send(1, QueueRequest::PurgeDlq { name: "q".into() }), 1), Reply::Count(2));
    assert_eq!(only(&h.send(1, QueueRequest::PurgeDlq { name: "q".into() }), 1), Reply::Count(0));
    assert!(h.dlq("q").is_empty());
}

#[test]
fn only_the_leasing_connection_may_ack_nack_or_extend() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push(1, "q", b"x");
    let (id, _) = h.take(2, "q", 1)[0].clone();
    err(&h.ack(3, "q", id), "ACK failed");
    err(&h.nack(3, "q", id, "r"), "NACK failed");
    err(&h.send(3, QueueRequest::Extend { id, name: "q".into(), ms: 5 }), "EXTEND failed");
    let delay = QueueRequest::NackDelay { id, name: "q".into(), reason: "r".into(), delay_ms: 5 };
    err(&h.send(3, delay), "NACK failed");
    err(&h.ack(2, "q", [0; 16]), "ACK failed");
    ok(&h.ack(2, "q", id));
    err(&h.ack(2, "q", id), "ACK failed");
}

#[test]
fn disconnect_makes_leased_messages_ready_at_once_and_drops_parked_consumes() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.create(1, "other");
    h.push(1, "q", b"a");
    h.push(1, "q", b"b");
    h.take(2, "q", 2);
    h.consume(2, "other", 1, 10_000);
    h.consume(3, "q", 5, 10_000);
    let outs = h.disconnect(2);
    assert_eq!(payloads(&only(&outs, 3)), ["a", "b"], "released in lease order to the waiter");
    let leased = h.q.peek_messages("q", MessageState::InFlight, 0, 10).unwrap();
    assert_eq!(leased.iter().map(|m| m.attempts).collect::<Vec<_>>(), [2, 2], "attempts kept, plus one");
    assert!(h.push(1, "other", b"x").iter().all(|o| o.0 == 1), "the parked consume of conn 2 is gone");
    assert_eq!(h.q.stats().waiting_consumers, 0);
}

#[test]
fn extend_moves_the_deadline() {
    let mut h = Harness::new();
    h.create_with(1, "q", opts(100, 5));
    h.push(1, "q", b"x");
    let (id, _) = h.take(2, "q", 1)[0].clone();
    h.advance(90);
    ok(&h.send(2, QueueRequest::Extend { id, name: "q".into(), ms: 500 }));
    h.advance(400);
    assert!(h.take(3, "q", 1).is_empty(), "still leased");
    h.advance(100);
    assert_eq!(h.take(3, "q", 1)[0].0, id);
}

#[test]
fn nack_delay_hides_the_retry() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push(1, "q", b"x");
    let (id, _) = h.take(2, "q", 1)[0].clone();
    ok(&h.send(2, QueueRequest::NackDelay { id, name: "q".into(), reason: "later".into(), delay_ms: 300 }));
    assert_eq!(h.q.queue("q").unwrap().delayed, 1);
    h.consume(3, "q", 1, 10_000);
    assert!(h.advance(299).is_empty());
    let outs = h.advance(1);
    assert_eq!(messages(&only(&outs, 3))[0].0, id);
}

#[test]
fn purge_removes_ready_and_delayed_but_not_leased_or_dead() {
    let mut h = Harness::new();
    h.create_with(1, "q", opts(1_000, 1));
    for p in ["a", "b", "c"] {
        h.push(1, "q", p.as_bytes());
    }
    h.push_with(1, "q", b"later", 0, 5_000);
    let leased = h.take(2, "q", 2);
    h.nack(2, "q", leased[1].0, "dead");
    assert_eq!(only(&h.send(1, QueueRequest::Purge { name: "q".into() }), 1), Reply::Count(2));
    let s = h.q.queue("q").unwrap();
    assert_eq!((s.ready, s.delayed, s.in_flight, s.dead), (0, 0, 1, 1));
    assert!(h.advance(10_000).iter().all(|o| o.0 != 2), "the delayed one is gone");
    assert_eq!(only(&h.send(1, QueueRequest::Purge { name: "q".into() }), 1), Reply::Count(0));
}

#[test]
fn list_pages_queues_by_name_with_counts() {
    let mut h = Harness::new();
    for name in ["c", "a", "b"] {
        h.create(1, name);
    }
    h.push(1, "b", b"x");
    h.push(1, "b", b"y");
    h.push_with(1, "b", b"z", 0, 1_000);
    h.take(2, "b", 1);
    let outs = h.send(1, QueueRequest::List { offset: 1, limit: 1 });
    match only(&outs, 1) {
        Reply::QueueList { total, queues } => {
            assert_eq!(total, 3);
            assert_eq!(queues.len(), 1);
            let b = &queues[0];
            assert_eq!((b.name.as_str(), b.ready, b.in_flight, b.delayed, b.dead), ("b", 1, 1, 1, 0));
        }
        other => panic!("{other:?}"),
    }
    let outs = h.send(1, QueueRequest::List { offset: 0, limit: 100 });
    let Reply::QueueList { queues, .. } = only(&outs, 1) else { panic!() };
    assert_eq!(queues.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(h.q.queues(0, 2).len(), 2);
}

#[test]
fn depth_and_byte_limits() {
    let mut h = Harness::new();
    h.create_with(1, "d", QueueOptions { max_depth: Some(2), ..Default::default() });
    h.create_with(1, "b", QueueOptions { max_bytes: Some(10), ..Default::default() });
    ok(&h.push(1, "d", b"1"));
    ok(&h.push(1, "d", b"2"));
    err(&h.push(1, "d", b"3"), "Queue 'd' is full");
    let (id, _) = h.take(2, "d", 1)[0].clone();
    err(&h.push(1, "d", b"3"), "Queue 'd' is full");
    ok(&h.ack(2, "d", id));
    ok(&h.push(1, "d", b"3"));
    ok(&h.push(1, "b", &[0; 6]));
    err(&h.push(1, "b", &[0; 5]), "Queue 'b' is full");
    ok(&h.push(1, "b", &[0; 4]));
    let config = QueueConfig { default_max_depth: 1, ..QueueConfig::default() };
    let mut h = Harness::with(config);
    h.create_with(1, "q", QueueOptions { max_depth: Some(0), ..Default::default() });
    ok(&h.push(1, "q", b"1"));
    err(&h.push(1, "q", b"2"), "Queue 'q' is full");
}

#[test]
fn queue_count_is_capped() {
    let mut h = Harness::with(QueueConfig { max_queues: 2, ..QueueConfig::default() });
    ok(&h.create(1, "a"));
    ok(&h.create(1, "b"));
    err(&h.create(1, "c"), "Too many queues (max 2)");
    ok(&h.create(1, "a"));
}

#[test]
fn peek_dlq_is_capped_by_reply_bytes() {
    let mut h = Harness::with(QueueConfig { max_reply_bytes: 100, ..QueueConfig::default() });
    h.create_with(1, "q", opts(1_000, 0));
    for _ in 0..3 {
        h.push(1, "q", &[7; 40]);
    }
    for (id, _) in h.take(2, "q", 1).into_iter().chain(h.take(2, "q", 1)).chain(h.take(2, "q", 1)) {
        h.nack(2, "q", id, "r");
    }
    let outs = h.send(9, QueueRequest::PeekDlq { name: "q".into(), limit: 10, offset: 0 });
    let Reply::DlqPage { total, messages } = only(&outs, 9) else { panic!() };
    assert_eq!((total, messages.len()), (3, 1));
}

#[test]
fn stats_and_peek_messages_views() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.push_with(1, "q", &[b'x'; 100], 3, 0);
    h.push_with(1, "q", b"later", 0, 1_000);
    let ready = h.q.peek_messages("q", MessageState::Ready, 0, 10).unwrap();
    assert_eq!((ready[0].priority, ready[0].payload_len, ready[0].payload_head.len()), (3, 100, 64));
    let delayed = h.q.peek_messages("q", MessageState::Delayed, 0, 10).unwrap();
    assert_eq!(delayed[0].due_wall_ms, Some(h.now.wall_ms + 1_000));
    h.take(2, "q", 1);
    let leased = h.q.peek_messages("q", MessageState::InFlight, 0, 10).unwrap();
    assert_eq!(leased[0].lease_deadline_mono_ms, Some(h.now.mono_ms + 30_000));
    assert!(h.q.peek_messages("nope", MessageState::Dead, 0, 10).is_none());
    let s = h.q.stats();
    assert_eq!((s.queues, s.in_flight, s.delayed, s.bytes), (1, 1, 1, 105));
    assert_eq!((s.counters.pushed, s.counters.delivered), (2, 1));
}

#[test]
fn release_parked_answers_every_long_poll_with_an_empty_batch() {
    let mut h = Harness::new();
    h.create(1, "q");
    h.consume(2, "q", 1, 10_000);
    h.consume(3, "q", 1, 10_000);
    h.q.release_parked();
    let outs = h.drain();
    assert_eq!(outs.len(), 2);
    assert!(outs.iter().all(|o| o.2 == Reply::QueueMessages(Vec::new())));
    assert_eq!(h.q.poll_timeout(), None);
}

#[test]
fn same_seed_and_inputs_give_the_same_outputs() {
    fn run() -> Vec<crate::output::Output> {
        let mut q = crate::queue::Queue::new(QueueConfig::default(), 42);
        let now = crate::time::Now::at(0);
        let log = super::journal();
        q.handle_recovery_done(now, &log, 0);
        let conn = crate::ids::ConnId(1);
        let mut outputs = Vec::new();
        let mut step = |q: &mut crate::queue::Queue, id: u32, request: QueueRequest| {
            q.handle_request(now, conn, id, request);
            q.handle_persisted(now, &log, u64::from(id) * 100);
            outputs.extend(std::iter::from_fn(|| q.poll_output()));
        };
        step(&mut q, 1, QueueRequest::Create { name: "q".into(), options: Default::default() });
        for i in 0..20u32 {
            let options = nexo_proto::options::PushOptions { priority: Some((i % 3) as u8), delay_ms: None };
            let payload = bytes::Bytes::from(i.to_le_bytes().to_vec());
            step(&mut q, 2 + i, QueueRequest::Push { name: "q".into(), options, payload });
        }
        let options = nexo_proto::options::ConsumeOptions { batch_size: Some(7), wait_ms: None };
        step(&mut q, 50, QueueRequest::Consume { name: "q".into(), options });
        q.handle_disconnect(now, conn);
        outputs.extend(std::iter::from_fn(|| q.poll_output()));
        outputs
    }
    let first = run();
    assert!(first.len() > 40);
    assert_eq!(first, run());
}
