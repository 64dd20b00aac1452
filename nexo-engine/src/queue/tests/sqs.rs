//! Scenario tests of the Queue's SQS side: per-delivery tokens, deliveries held by no
//! connection, dead-letter targets (live, replayed and through a snapshot), replies that wait
//! for durability, and a seeded random run checking that a stale token never acts.

use bytes::Bytes;
use nexo_proto::options::QueueOptions;

use super::{Harness, ok};
use crate::ids::{ConnId, SeededRng};
use crate::queue::journal::MsgId;
use crate::queue::{Delivered, MessageState, QueueConfig, SqsCommand, SqsOutput, SqsReply};

const SQS: u64 = 50;

fn sqs(h: &mut Harness, conn: u64, command: SqsCommand) -> Vec<SqsOutput> {
    h.q.handle_sqs(h.now, ConnId(conn), 1, command);
    h.drain();
    std::iter::from_fn(|| h.q.poll_sqs_output()).collect()
}

fn one(h: &mut Harness, command: SqsCommand) -> SqsReply {
    let outs = sqs(h, SQS, command);
    assert_eq!(outs.len(), 1, "{outs:?}");
    outs[0].reply.clone()
}

fn send(h: &mut Harness, name: &str, body: &str) -> MsgId {
    let payload = Bytes::copy_from_slice(body.as_bytes());
    match one(h, SqsCommand::Send { name: name.into(), payload, delay_ms: 0 }) {
        SqsReply::Sent { id } => id,
        other => panic!("expected Sent, got {other:?}"),
    }
}

fn receive(h: &mut Harness, name: &str, max: u32, visibility_ms: Option<u64>) -> Vec<Delivered> {
    match one(h, SqsCommand::Receive { name: name.into(), max, visibility_ms }) {
        SqsReply::Received(d) => d,
        other => panic!("expected Received, got {other:?}"),
    }
}

fn delete(h: &mut Harness, name: &str, d: &Delivered) -> SqsReply {
    one(h, SqsCommand::Delete { name: name.into(), id: d.id, token: d.token })
}

fn change(h: &mut Harness, name: &str, d: &Delivered, ms: u64) -> SqsReply {
    one(h, SqsCommand::ChangeVisibility { name: name.into(), id: d.id, token: d.token, visibility_ms: ms })
}

/// A queue as SQS creates it: no v1 retry limit.
fn create_sqs_queue(h: &mut Harness, name: &str) {
    let options = QueueOptions {
        max_retries: Some(u32::MAX),
        visibility_timeout_ms: Some(1_000),
        ..Default::default()
    };
    ok(&h.create_with(1, name, options));
}

/// A fresh broker with queue `q` (created as SQS creates queues) whose one message has been
/// received once, and that delivery.
fn with_one_delivery(visibility_ms: Option<u64>) -> (Harness, Delivered) {
    let mut h = Harness::new();
    create_sqs_queue(&mut h, "q");
    send(&mut h, "q", "a");
    let d = receive(&mut h, "q", 1, visibility_ms).remove(0);
    (h, d)
}

fn count(h: &Harness, name: &str, state: MessageState) -> usize {
    h.q.peek_messages(name, state, 0, 1000).map_or(0, |m| m.len())
}

#[test]
fn a_stale_token_deletes_nothing() {
    let (mut h, first) = with_one_delivery(None);
    h.advance(1_001);
    let second = receive(&mut h, "q", 1, None).remove(0);
    assert_eq!((second.id, second.receive_count), (first.id, 2));
    assert_ne!(first.token, second.token);
    assert_eq!(delete(&mut h, "q", &first), SqsReply::Deleted { removed: false });
    assert_eq!(count(&h, "q", MessageState::InFlight), 1);
    assert_eq!(change(&mut h, "q", &first, 0), SqsReply::ReceiptInvalid);
    assert_eq!(count(&h, "q", MessageState::InFlight), 1, "a stale handle changed visibility");
    assert_eq!(delete(&mut h, "q", &second), SqsReply::Deleted { removed: true });
    assert_eq!(h.q.peek_messages("q", MessageState::Ready, 0, 10).unwrap().len(), 0);
    assert_eq!(delete(&mut h, "q", &second), SqsReply::Deleted { removed: false });
}

#[test]
fn closing_a_connection_releases_no_sqs_delivery() {
    let (mut h, d) = with_one_delivery(Some(60_000));
    h.disconnect(SQS);
    assert_eq!(count(&h, "q", MessageState::InFlight), 1);
    h.advance(30_000);
    assert!(receive(&mut h, "q", 1, None).is_empty());
    assert_eq!(delete(&mut h, "q", &d), SqsReply::Deleted { removed: true });
}

#[test]
fn change_visibility_extends_releases_and_refuses() {
    let (mut h, d) = with_one_delivery(None);
    assert_eq!(change(&mut h, "q", &d, 5_000), SqsReply::VisibilityChanged);
    h.advance(4_000);
    assert!(receive(&mut h, "q", 1, None).is_empty(), "extended lease ran out early");
    assert_eq!(change(&mut h, "q", &d, 0), SqsReply::VisibilityChanged);
    assert_eq!(change(&mut h, "q", &d, 10), SqsReply::NotInflight);
    let again = receive(&mut h, "q", 1, None).remove(0);
    assert_eq!(again.receive_count, 2);
    let gone = one(
        &mut h,
        SqsCommand::ChangeVisibility { name: "q".into(), id: [0; 16], token: 1, visibility_ms: 1 },
    );
    assert_eq!(gone, SqsReply::ReceiptInvalid);
    let missing = one(&mut h, SqsCommand::Receive { name: "nope".into(), max: 1, visibility_ms: None });
    assert_eq!(missing, SqsReply::NoQueue);
}

fn redrive(h: &mut Harness, name: &str, target: &str, max: u32) {
    let reply = one(h, SqsCommand::SetRedrive { name: name.into(), redrive: Some((target.into(), max)) });
    assert_eq!(reply, SqsReply::RedriveSet);
}

#[test]
fn a_receive_past_max_receive_count_moves_the_message_to_the_target() {
    let mut h = Harness::new();
    create_sqs_queue(&mut h, "src");
    create_sqs_queue(&mut h, "dlq");
    redrive(&mut h, "src", "dlq", 2);
    send(&mut h, "src", "poison");
    for n in 1..=2 {
        let d = receive(&mut h, "src", 1, None);
        assert_eq!(d[0].receive_count, n);
        h.advance(1_001);
    }
    assert!(receive(&mut h, "src", 1, None).is_empty(), "the third receive moves, not delivers");
    assert_eq!(count(&h, "src", MessageState::Ready) + count(&h, "src", MessageState::InFlight), 0);
    assert_eq!(count(&h, "src", MessageState::Dead), 0, "not the source's own DLQ");
    let moved = receive(&mut h, "dlq", 1, None).remove(0);
    assert_eq!((&moved.payload[..], moved.receive_count), (&b"poison"[..], 1));
    // Replay gives the same state: the move is one record.
    h.advance(1_001);
    h.restart();
    assert_eq!(count(&h, "dlq", MessageState::Ready), 1);
    assert_eq!(count(&h, "src", MessageState::Ready), 0);
    send(&mut h, "src", "again");
    for _ in 0..2 {
        receive(&mut h, "src", 1, None);
        h.advance(1_001);
    }
    assert!(receive(&mut h, "src", 1, None).is_empty(), "redrive lost in the restart");
    assert_eq!(count(&h, "dlq", MessageState::Ready), 2);
}

#[test]
fn a_lease_expiry_with_a_target_never_uses_the_own_dlq() {
    let mut h = Harness::new();
    ok(&h.create_with(
        1,
        "v1",
        QueueOptions { max_retries: Some(1), visibility_timeout_ms: Some(100), ..Default::default() },
    ));
    create_sqs_queue(&mut h, "dlq");
    redrive(&mut h, "v1", "dlq", 1);
    h.push(1, "v1", b"x");
    assert_eq!(h.take(2, "v1", 1).len(), 1);
    h.advance(101);
    assert_eq!((count(&h, "v1", MessageState::Dead), count(&h, "v1", MessageState::Ready)), (0, 1));
    assert!(h.take(2, "v1", 1).is_empty(), "v1 consumers see the move too");
    assert_eq!(count(&h, "dlq", MessageState::Ready), 1);
}

#[test]
fn redrive_targets_survive_a_snapshot() {
    let config = QueueConfig { compact_min_bytes: 2_000, ..QueueConfig::default() };
    let mut h = Harness::with(config);
    create_sqs_queue(&mut h, "src");
    create_sqs_queue(&mut h, "dlq");
    redrive(&mut h, "src", "dlq", 1);
    for i in 0..200 {
        send(&mut h, "src", &format!("{i:032}"));
        let d = receive(&mut h, "src", 1, None).remove(0);
        assert_eq!(delete(&mut h, "src", &d), SqsReply::Deleted { removed: true });
    }
    assert!(h.q.stats().snapshots >= 1);
    h.restart();
    send(&mut h, "src", "p");
    receive(&mut h, "src", 1, None);
    h.advance(1_001);
    assert!(receive(&mut h, "src", 1, None).is_empty());
    assert_eq!(count(&h, "dlq", MessageState::Ready), 1);
}

#[test]
fn sends_and_redrives_answer_once_durable_and_fail_with_the_storage() {
    let mut h = Harness::new();
    create_sqs_queue(&mut h, "q");
    create_sqs_queue(&mut h, "d");
    h.auto_persist = false;
    let payload = Bytes::from_static(b"a");
    assert!(
        sqs(&mut h, SQS, SqsCommand::Send { name: "q".into(), payload: payload.clone(), delay_ms: 0 })
            .is_empty()
    );
    // A later reply of the same connection waits behind the held one.
    assert!(
        sqs(&mut h, SQS, SqsCommand::Receive { name: "q".into(), max: 1, visibility_ms: None }).is_empty()
    );
    h.persist_all();
    let outs: Vec<_> = std::iter::from_fn(|| h.q.poll_sqs_output()).collect();
    assert!(
        matches!(
            &outs[..],
            [SqsOutput { reply: SqsReply::Sent { .. }, .. }, SqsOutput { reply: SqsReply::Received(_), .. }]
        ),
        "{outs:?}"
    );
    assert!(
        sqs(&mut h, SQS, SqsCommand::SetRedrive { name: "q".into(), redrive: Some(("d".into(), 3)) })
            .is_empty()
    );
    assert!(sqs(&mut h, SQS, SqsCommand::Send { name: "q".into(), payload, delay_ms: 0 }).is_empty());
    h.fail("disk gone");
    let outs: Vec<_> = std::iter::from_fn(|| h.q.poll_sqs_output()).map(|o| o.reply).collect();
    let refused = SqsReply::Refused("Storage unavailable: disk gone".into());
    assert_eq!(outs, [refused.clone(), refused]);
    let missing = one(&mut h, SqsCommand::SetRedrive { name: "q".into(), redrive: Some(("none".into(), 3)) });
    assert_eq!(missing, SqsReply::NoQueue);
}

/// Random sends, receives, deletes and visibility changes with old and current tokens: a
/// delete or change acts only with the current token, and the message count follows.
#[test]
fn stale_tokens_never_act_in_a_random_run() {
    for seed in 1..=20u64 {
        let mut rng = SeededRng::new(seed);
        let mut h = Harness::new();
        create_sqs_queue(&mut h, "q");
        let mut seen: Vec<Delivered> = Vec::new();
        let mut live = 0usize;
        for _ in 0..300 {
            match rng.below(5) {
                0 => {
                    send(&mut h, "q", "m");
                    live += 1;
                }
                1 => seen.extend(receive(&mut h, "q", 3, None)),
                2 => h.advance(rng.below(1_500) as u64).truncate(0),
                _ if seen.is_empty() => {}
                op => {
                    let d = seen[rng.below(seen.len())].clone();
                    let current = current_token(&h, &d);
                    if op == 3 {
                        let removed = delete(&mut h, "q", &d) == SqsReply::Deleted { removed: true };
                        assert_eq!(removed, current, "seed {seed}");
                        live -= usize::from(removed);
                    } else {
                        let changed = change(&mut h, "q", &d, 500) == SqsReply::VisibilityChanged;
                        assert_eq!(changed, current, "seed {seed}");
                    }
                }
            }
            let total: usize = [MessageState::Ready, MessageState::InFlight, MessageState::Delayed]
                .into_iter()
                .map(|s| count(&h, "q", s))
                .sum();
            assert_eq!(total, live, "seed {seed}");
        }
    }
}

/// Whether `d` is its message's current delivery (looked up through the lease table).
fn current_token(h: &Harness, d: &Delivered) -> bool {
    h.q.current_token_of("q", &d.id) == Some(d.token)
}

#[test]
fn a_parked_consumer_is_not_answered_by_a_message_that_moves_away() {
    let mut h = Harness::new();
    ok(&h.create_with(1, "src", QueueOptions { visibility_timeout_ms: Some(100), ..Default::default() }));
    create_sqs_queue(&mut h, "dlq");
    redrive(&mut h, "src", "dlq", 1);
    h.push(1, "src", b"x");
    assert_eq!(h.take(2, "src", 1).len(), 1);
    // A long-poll parks; the lease runs out and the message, over its count, must move, not
    // answer the poll with an empty batch before its deadline.
    assert!(h.consume(3, "src", 1, 10_000).is_empty());
    let outs = h.advance(101);
    assert!(outs.is_empty(), "the parked CONSUME answered early: {outs:?}");
    assert_eq!(count(&h, "dlq", MessageState::Ready), 1);
    let outs = h.push(1, "src", b"y");
    let served: Vec<_> = outs.iter().filter(|(conn, _, _)| *conn == 3).collect();
    assert_eq!(served.len(), 1, "{outs:?}");
    assert_eq!(super::payloads(&served[0].2), ["y"]);
}

#[test]
fn a_long_poll_parks_when_every_ready_message_moves_away() {
    let mut h = Harness::new();
    ok(&h.create_with(1, "src", QueueOptions { visibility_timeout_ms: Some(100), ..Default::default() }));
    create_sqs_queue(&mut h, "dlq");
    redrive(&mut h, "src", "dlq", 1);
    h.push(1, "src", b"x");
    assert_eq!(h.take(2, "src", 1).len(), 1);
    h.advance(101);
    assert!(h.consume(3, "src", 1, 10_000).is_empty(), "answered instead of parking");
    assert_eq!(count(&h, "dlq", MessageState::Ready), 1);
}
