//! Scenario tests: one behaviour of the broker per test, through its `Broker` interface.

use nexo_proto::Reply;
use nexo_proto::options::PublishOptions;

use super::{Harness, Out, err, ok, pushes, receivers};
use crate::broker::Broker;
use crate::output::{CloseReason, Output};
use crate::pubsub::{CLOSING_TEXT, PubSubConfig, PubSubStats};

fn retain_opts(ttl: Option<u64>, persist: bool) -> PublishOptions {
    PublishOptions { retain: true, ttl, persist }
}

#[test]
fn exact_plus_and_hash_matching() {
    let mut h = Harness::new();
    for (conn, pattern) in [(1, "a/b"), (2, "a/+"), (3, "a/#"), (4, "#"), (5, "+"), (6, "+/+/c")] {
        let outs = h.sub(conn, pattern);
        ok(&outs);
        assert_eq!(outs.len(), 1);
    }
    let outs = h.publish(9, "a", b"x");
    ok(&outs);
    assert_eq!(receivers(&outs), [3, 4, 5], "a/# matches a; + matches one level");
    assert_eq!(receivers(&h.publish(9, "a/b", b"x")), [1, 2, 3, 4]);
    assert_eq!(receivers(&h.publish(9, "a/", b"x")), [2, 3, 4], "+ matches an empty level");
    assert_eq!(receivers(&h.publish(9, "b/x/c", b"x")), [4, 6]);
    assert_eq!(receivers(&h.publish(9, "a/b/c", b"x")), [3, 4, 6]);
    assert_eq!(receivers(&h.publish(9, "zzz/q", b"x")), [4], "# alone matches everything");
    assert_eq!(pushes(&h.publish(9, "a/b", b"hi"))[0], (1, "a/b".to_owned(), b"hi".to_vec()));
}

#[test]
fn empty_levels_are_levels() {
    let mut h = Harness::new();
    h.sub(1, "/");
    h.sub(2, "+/+");
    h.sub(3, "a//b");
    h.sub(4, "/#");
    assert_eq!(receivers(&h.publish(9, "/", b"")), [1, 2, 4]);
    assert_eq!(receivers(&h.publish(9, "a//b", b"")), [3]);
    assert_eq!(receivers(&h.publish(9, "//", b"")), [4]);
    assert_eq!(receivers(&h.publish(9, "a/", b"")), [2]);
}

#[test]
fn overlapping_patterns_give_one_push_from_one_shared_frame() {
    let mut h = Harness::new();
    for pattern in ["a/b", "a/+", "a/#", "#", "+/b"] {
        h.sub(3, pattern);
    }
    h.sub(1, "a/b");
    h.sub(2, "#");
    let outs = h.publish(9, "a/b", b"m");
    // Reply first, then receivers in ConnId order whatever the subscribe order.
    assert_eq!(receivers(&outs), [1, 2, 3]);
    let frames: Vec<_> = h
        .raw
        .iter()
        .filter_map(|o| match o {
            Output::Push { frame, .. } => Some(frame.as_ptr()),
            _ => None,
        })
        .collect();
    assert!(frames.windows(2).all(|w| w[0] == w[1]), "one encoding shared by every receiver");
}

#[test]
fn publish_errors() {
    let mut h = Harness::new();
    h.sub(1, "#");
    let cases = [
        ("a/+", "Wildcards are not allowed in a publish topic"),
        ("a/#", "Wildcards are not allowed in a publish topic"),
        ("$share/g/a", "Invalid topic: $share/ is for subscriptions only"),
        ("", "Invalid topic: empty"),
    ];
    for (topic, text) in cases {
        let outs = h.publish(9, topic, b"x");
        err(&outs, text);
    }
    let outs = h.publish(9, &"a".repeat(1025), b"x");
    err(&outs, "Invalid topic: longer than 1024 bytes");
    let outs = h.publish(9, &"a/".repeat(32), b"x");
    err(&outs, "Invalid topic: more than 32 levels");
    assert_eq!(h.ps.stats().published, 0);
}

#[test]
fn subscribe_errors_and_subscription_limit() {
    let mut h = Harness::with(PubSubConfig { max_subscriptions_per_conn: 2, ..Default::default() });
    let cases = [
        ("", "Invalid pattern: empty"),
        ("a/#/b", "Invalid pattern: '#' must be the last level"),
        ("a/b+", "Invalid pattern: '+' and '#' must be a whole level"),
        ("$share//a", "Invalid shared subscription: empty group name"),
        ("$share/g#/a", "Invalid shared subscription: group name must not contain '+' or '#'"),
        ("$share/g", "Invalid shared subscription: missing filter"),
    ];
    for (pattern, text) in cases {
        let outs = h.sub(1, pattern);
        err(&outs, text);
    }
    assert!(h.ps.conns.is_empty(), "a refused subscribe leaves no state");
    h.sub(1, "a");
    h.sub(1, "$share/g/b");
    let outs = h.sub(1, "a");
    ok(&outs);
    let outs = h.sub(1, "c");
    err(&outs, "Too many subscriptions (max 2)");
    assert_eq!(h.ps.stats().subscriptions, 2);
}

#[test]
fn retained_on_subscribe_overwrite_and_clear() {
    let mut h = Harness::new();
    h.sub(1, "s/#");
    let outs = h.retain(9, "s/a", b"one");
    ok(&outs);
    assert_eq!(receivers(&outs), [1], "a retained publish is also delivered live");
    h.retain(9, "s/b/c", b"two");
    h.retain(9, "s/a", b"three");
    let outs = h.sub(2, "s/+");
    ok(&outs);
    assert_eq!(pushes(&outs), [(2, "s/a".to_owned(), b"three".to_vec())], "overwritten, concrete topic");
    let outs = h.sub(3, "#");
    let got: Vec<_> = pushes(&outs).into_iter().map(|(_, t, p)| (t, p)).collect();
    assert_eq!(got, [("s/a".to_owned(), b"three".to_vec()), ("s/b/c".to_owned(), b"two".to_vec())]);
    assert_eq!(h.ps.stats().retained, 2);
    // An empty retained publish clears it (and is delivered like any message).
    let outs = h.retain(9, "s/a", b"");
    assert_eq!(receivers(&outs), [1, 2, 3]);
    assert!(pushes(&h.sub(4, "s/a")).is_empty());
    assert_eq!(h.ps.stats().retained, 1);
    // A plain publish does not touch the retained message.
    h.publish(9, "s/b/c", b"live");
    assert_eq!(pushes(&h.sub(5, "s/b/c"))[0].2, b"two");
    // Subscribing again redelivers.
    assert_eq!(receivers(&h.sub(5, "s/b/c")), [5]);
    h.retain(9, "s/b/c", b"");
    assert!(h.ps.retained.is_pruned_empty());
    assert_eq!(h.ps.poll_timeout(), None, "clearing cancels the expiry timer");
}

#[test]
fn retained_ttl_default_explicit_and_persist() {
    let mut h = Harness::new();
    h.publish_with(9, "default", retain_opts(None, false), b"d");
    h.publish_with(9, "zero", retain_opts(Some(0), false), b"z");
    h.publish_with(9, "short", retain_opts(Some(2), false), b"s");
    h.publish_with(9, "forever", retain_opts(Some(1), true), b"f");
    assert_eq!(h.ps.poll_timeout(), Some(2000));
    h.now = h.now.plus(1999);
    assert_eq!(receivers(&h.sub(1, "short")), [1]);
    // Due but no timer fired yet: delivery still checks the deadline exactly.
    h.now = h.now.plus(1);
    assert_eq!(h.ps.retained.matching("short", h.now.mono_ms), []);
    assert!(h.advance(0).is_empty());
    assert_eq!(h.ps.stats().retained, 3);
    assert_eq!(h.ps.poll_timeout(), Some(3_600_000));
    assert!(pushes(&h.sub(2, "short")).is_empty());
    h.advance(3_600_000 - 2000 - 1);
    assert_eq!(receivers(&h.sub(3, "+")).len(), 3);
    h.advance(1);
    assert_eq!(h.ps.poll_timeout(), None);
    let topics: Vec<_> = pushes(&h.sub(4, "#")).into_iter().map(|p| p.1).collect();
    assert_eq!(topics, ["forever"]);
    // An overwrite moves the deadline.
    h.publish_with(9, "forever", retain_opts(Some(5), false), b"f2");
    assert_eq!(h.ps.poll_timeout(), Some(h.now.mono_ms + 5000));
    h.publish_with(9, "forever", retain_opts(None, true), b"f3");
    assert_eq!(h.ps.poll_timeout(), None);
}

#[test]
fn retained_default_ttl_can_be_never() {
    let mut h = Harness::with(PubSubConfig { retained_default_ttl_ms: None, ..Default::default() });
    h.retain(9, "a", b"x");
    assert_eq!(h.ps.poll_timeout(), None);
    h.advance(100 * 24 * 3_600_000);
    assert_eq!(receivers(&h.sub(1, "a")), [1]);
}

#[test]
fn retained_payload_is_owned_not_a_slice_of_the_request() {
    let mut h = Harness::new();
    let payload = bytes::Bytes::from(vec![7u8; 64]);
    let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
    let request = nexo_proto::request::PubSubRequest::Publish {
        topic: "t".into(),
        options: retain_opts(None, true),
        payload: payload.clone(),
    };
    h.send(9, request);
    drop(payload);
    let frame = h.ps.retained.get("t").unwrap().frame.clone();
    assert!(!range.contains(&(frame.as_ptr() as usize)));
    assert_eq!(pushes(&h.sub(1, "t"))[0].2, vec![7u8; 64]);
}

#[test]
fn retained_limits_refuse_new_topics_only() {
    let config = PubSubConfig { max_retained_messages: 2, ..Default::default() };
    let mut h = Harness::with(config);
    h.sub(1, "#");
    h.retain(9, "a", b"1");
    h.retain(9, "b", b"2");
    let outs = h.retain(9, "c", b"3");
    err(&outs, "Too many retained messages (max 2)");
    let outs = h.retain(9, "a", b"1b");
    ok(&outs);
    ok(&h.retain(9, "b", b""));
    ok(&h.retain(9, "c", b"3"));
    let mut h = Harness::with(PubSubConfig { max_retained_bytes: 200, ..Default::default() });
    ok(&h.retain(9, "a", &[0; 50]));
    let outs = h.retain(9, "b", &[0; 100]);
    err(&outs, "Retained messages over the memory limit (max 200 bytes)");
    assert_eq!(h.ps.stats().published, 1);
}

#[test]
fn shared_subscriptions_rotate_and_get_no_retained() {
    let mut h = Harness::new();
    h.retain(9, "jobs/1", b"old");
    for conn in [3, 1, 2] {
        let outs = h.sub(conn, "$share/g/jobs/+");
        ok(&outs);
        assert_eq!(outs.len(), 1, "no retained on shared subscriptions");
    }
    h.sub(4, "jobs/#");
    let mut got = Vec::new();
    for _ in 0..6 {
        let outs = h.publish(9, "jobs/1", b"m");
        assert_eq!(receivers(&outs)[0], 4, "plain subscribers first, each gets every message");
        got.extend(receivers(&outs)[1..].iter().copied());
    }
    assert_eq!(got, [3, 1, 2, 3, 1, 2], "round-robin in join order");
    // Another group and another filter under the same group name are separate groups.
    h.sub(5, "$share/h/jobs/#");
    h.sub(6, "$share/g/jobs/#");
    assert_eq!(receivers(&h.publish(9, "jobs/1", b"m")), [4, 3, 5, 6]);
    assert_eq!(h.ps.stats().shared_groups, 3);
    // A member also subscribed plainly gets its plain push plus the group's when picked.
    h.sub(1, "jobs/1");
    assert_eq!(receivers(&h.publish(9, "jobs/1", b"m")), [1, 4, 1, 5, 6]);
    // Leaving with the same string.
    ok(&h.unsub(2, "$share/g/jobs/+"));
    let got: Vec<_> = (0..4).map(|_| receivers(&h.publish(9, "jobs/x", b"m"))[1]).collect();
    assert_eq!(got, [3, 1, 3, 1]);
}

#[test]
fn unsubscribe_and_pruning() {
    let mut h = Harness::new();
    let outs = h.unsub(1, "never/subscribed");
    ok(&outs);
    ok(&h.unsub(1, "a/#/b"));
    h.sub(1, "a/+/c");
    h.sub(1, "a/#");
    h.sub(2, "a/+/c");
    h.unsub(1, "a/+/c");
    assert_eq!(receivers(&h.publish(9, "a/b/c", b"")), [1, 2]);
    h.unsub(1, "a/#");
    assert_eq!(receivers(&h.publish(9, "a/b/c", b"")), [2]);
    assert!(h.ps.conns.contains_key(&crate::ConnId(1)), "kept while pushes are unwritten");
    h.flushed(1, 1 << 20);
    assert!(!h.ps.conns.contains_key(&crate::ConnId(1)), "idle connection forgotten");
    h.unsub(2, "a/+/c");
    assert!(h.ps.tree.is_empty());
    assert_eq!(h.ps.tree.node_count(), 1, "empty nodes pruned");
}

#[test]
fn disconnect_cleans_up_everything() {
    let mut h = Harness::new();
    for pattern in ["a/b/c/d", "+/#", "$share/g/a/#", "x"] {
        h.sub(1, pattern);
    }
    h.sub(2, "$share/g/a/#");
    h.publish(9, "a/b", b"");
    let stats = h.ps.stats();
    assert_eq!((stats.subscriptions, stats.connections, stats.shared_groups), (5, 2, 1));
    assert!(h.disconnect(1).is_empty());
    assert_eq!(receivers(&h.publish(9, "a/b", b"")), [2]);
    h.disconnect(2);
    let stats = h.ps.stats();
    assert_eq!((stats.subscriptions, stats.connections, stats.shared_groups), (0, 0, 0));
    assert!(h.ps.conns.is_empty());
    assert_eq!(h.ps.tree.node_count(), 1);
    assert!(h.publish(9, "a/b", b"").len() == 1);
}

fn small_limits(pushes: usize, bytes: usize) -> PubSubConfig {
    PubSubConfig { max_pending_pushes: pushes, max_pending_push_bytes: bytes, ..Default::default() }
}

#[test]
fn slow_consumer_is_closed_once_and_others_keep_receiving() {
    let mut h = Harness::with(small_limits(3, 1 << 20));
    h.sub(1, "t");
    h.sub(1, "$share/g/t");
    h.sub(2, "t");
    let mut closes = 0;
    for i in 0..10 {
        let outs = h.publish(9, "t", b"m");
        assert!(receivers(&outs).contains(&2), "message {i}");
        closes += outs.iter().filter(|o| **o == Out::Close(1)).count();
        let written: usize = h
            .raw
            .iter()
            .filter_map(|o| match o {
                Output::Push { conn, frame } if conn.0 == 2 => Some(frame.len()),
                _ => None,
            })
            .sum();
        h.flushed(2, written);
    }
    assert_eq!(closes, 1);
    let stats = h.ps.stats();
    assert_eq!((stats.slow_consumer_closes, stats.dropped, stats.subscriptions), (1, 1, 1));
    let outs = h.sub(1, "other");
    err(&outs, CLOSING_TEXT);
    h.disconnect(1);
    assert_eq!(h.ps.conns.len(), 1);
}

#[test]
fn slow_consumer_close_reason_reports_the_backlog() {
    let mut h = Harness::with(small_limits(100, 100));
    h.sub(1, "t");
    let frame_len = nexo_proto::Push::encode_frame("t", &[0; 40]).len();
    assert_eq!(receivers(&h.publish(9, "t", &[0; 40])), [1]);
    let outs = h.publish(9, "t", &[0; 40]);
    assert_eq!(outs[1..], [Out::Close(1)]);
    let close = h.raw.iter().find_map(|o| match o {
        Output::Close { reason, .. } => Some(*reason),
        _ => None,
    });
    let reason = CloseReason::SlowConsumer { pending_bytes: frame_len, pending_pushes: 1 };
    assert_eq!(close, Some(reason));
    assert_eq!(h.ps.stats().pending_push_bytes as usize, frame_len);
    assert!(h.publish(9, "t", &[0; 40]).len() == 1, "no further pushes or closes");
}

#[test]
fn a_large_message_reaches_an_idle_subscriber() {
    let mut h = Harness::with(small_limits(10, 100));
    h.sub(1, "t");
    let outs = h.publish(9, "t", &[1; 1000]);
    assert_eq!(receivers(&outs), [1]);
    let len = match &h.raw[1] {
        Output::Push { frame, .. } => frame.len(),
        other => panic!("{other:?}"),
    };
    h.flushed(1, len);
    assert_eq!(receivers(&h.publish(9, "t", &[1; 1000])), [1]);
}

#[test]
fn a_reading_consumer_is_never_closed() {
    let mut h = Harness::with(small_limits(4, 4096));
    h.sub(1, "#");
    for i in 0..5000u32 {
        let outs = h.publish(9, "load/x", &i.to_be_bytes());
        assert_eq!(receivers(&outs), [1], "message {i}");
        // Report in odd-sized chunks: partial frames must carry over.
        let len = match &h.raw[1] {
            Output::Push { frame, .. } => frame.len(),
            other => panic!("{other:?}"),
        };
        h.flushed(1, len - 3);
        h.flushed(1, 3);
    }
    assert_eq!(h.ps.stats().slow_consumer_closes, 0);
    assert_eq!(h.ps.stats().pending_push_bytes, 0);
}

#[test]
fn a_full_shared_member_is_closed_and_the_next_member_served() {
    let mut h = Harness::with(small_limits(1, 1 << 20));
    h.sub(1, "$share/g/t");
    h.sub(2, "$share/g/t");
    assert_eq!(receivers(&h.publish(9, "t", b"a")), [1]);
    assert_eq!(receivers(&h.publish(9, "t", b"b")), [2]);
    let outs = h.publish(9, "t", b"c");
    assert_eq!(outs[1], Out::Close(1));
    assert_eq!(outs.len(), 3, "{outs:?}");
    assert_eq!(h.ps.stats().slow_consumer_closes, 2);
    h.flushed(2, 1 << 20);
    assert!(receivers(&h.publish(9, "t", b"d")).is_empty(), "group gone with its members");
}

#[test]
fn retained_that_do_not_fit_are_skipped_not_closed() {
    let mut h = Harness::with(small_limits(2, 1 << 20));
    for t in ["a", "b", "c"] {
        h.retain(9, t, b"x");
    }
    let outs = h.sub(1, "+");
    assert_eq!(receivers(&outs), [1, 1]);
    assert!(!outs.contains(&Out::Close(1)));
    assert_eq!(h.ps.stats().dropped, 1);
    h.flushed(1, 1 << 20);
    assert_eq!(receivers(&h.publish(9, "a", b"")), [1]);
}

#[test]
fn counters_and_topic_listing() {
    let mut h = Harness::with(PubSubConfig { max_tracked_topics: 3, ..Default::default() });
    h.sub(1, "#");
    h.sub(2, "b");
    h.sub(3, "$share/g/#");
    h.publish(9, "b", b"");
    h.publish(9, "b", b"");
    h.retain(9, "a", b"r");
    h.publish(9, "c", b"");
    h.sub(4, "a");
    let stats = h.ps.stats();
    let want = PubSubStats {
        published: 4,
        delivered: 3 + 3 + 2 + 2 + 1,
        dropped: 0,
        slow_consumer_closes: 0,
        subscriptions: 4,
        shared_groups: 1,
        retained: 1,
        retained_bytes: stats.retained_bytes,
        connections: 4,
        pending_push_bytes: stats.pending_push_bytes,
        tracked_topics: 3,
        skipped_records: 0,
        recovery_refused: 0,
        journal_bytes: stats.journal_bytes,
        snapshots: 0,
        storage_failed: false,
    };
    assert_eq!(stats, want);
    assert!(stats.retained_bytes > 0 && stats.pending_push_bytes > 0 && stats.journal_bytes > 0);
    let topics = h.ps.topics(0, 10);
    let rows: Vec<_> = topics
        .iter()
        .map(|t| (t.topic.as_str(), t.published, t.delivered, t.retained, t.subscribers_last))
        .collect();
    assert_eq!(rows, [("a", 1, 3, true, 2), ("b", 2, 6, false, 3), ("c", 1, 2, false, 2)]);
    assert_eq!(h.ps.topics(1, 1)[0].topic, "b");
    assert!(h.ps.topics(3, 10).is_empty());
    h.publish(9, "d", b"");
    let names: Vec<_> = h.ps.topics(0, 10).into_iter().map(|t| t.topic).collect();
    assert_eq!(names, ["a", "c", "d"], "least recently published forgotten");
}

#[test]
fn replies_keep_request_ids_and_come_before_pushes() {
    let mut h = Harness::new();
    h.sub(9, "t");
    let outs = h.publish(9, "t", b"self");
    assert_eq!(outs[0], Out::Reply(9, h.last_id(), Reply::Ok));
    assert_eq!(outs[1], Out::Push(9, "t".into(), b"self".to_vec()));
}

#[test]
fn same_inputs_same_outputs() {
    let run = |seed| {
        let mut h = Harness::new();
        h.ps = crate::pubsub::PubSub::new(PubSubConfig::default(), seed);
        let mut all = Vec::new();
        for conn in [5, 3, 8, 1] {
            all.extend(h.sub(conn, "x/#"));
            all.extend(h.sub(conn, "$share/g/x/+"));
        }
        for i in 0..20u8 {
            all.extend(h.publish(9, "x/y", &[i]));
        }
        all
    };
    assert_eq!(run(1), run(2));
}
