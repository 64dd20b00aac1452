//! Redis-style subscriptions: exact channels, globs with pattern pushes, PUBLISH_COUNT, the
//! cross-protocol rules and the per-connection bounds.

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::push::PushParts;
use nexo_proto::request::PubSubRequest as R;

use super::{Harness, Out};
use crate::output::Output;
use crate::pubsub::{MAX_GLOBS_PER_CONN, PubSubConfig};

/// `(conn, pattern, topic, payload)` of every push of the last input.
fn raw_pushes(h: &Harness) -> Vec<(u64, Option<String>, String, String)> {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    h.raw
        .iter()
        .filter_map(|o| match o {
            Output::Push { conn, frame } => {
                let p = PushParts::split(frame).expect("a push frame");
                Some((conn.0, p.pattern.map(text), text(p.topic), text(p.payload)))
            }
            _ => None,
        })
        .collect()
}

fn chan(channel: &str) -> R {
    R::SubscribeChannel { channel: channel.into() }
}

fn glob(pattern: &str) -> R {
    R::SubscribeGlob { pattern: pattern.into() }
}

fn publish_count(topic: &str, payload: &str) -> R {
    R::PublishCount { topic: topic.into(), payload: Bytes::copy_from_slice(payload.as_bytes()) }
}

fn last_reply(outs: &[Out]) -> Reply {
    outs.iter()
        .rev()
        .find_map(|o| match o {
            Out::Reply(_, _, r) => Some(r.clone()),
            _ => None,
        })
        .expect("a reply")
}

#[test]
fn v1_publish_reaches_exact_and_glob_subscribers() {
    let mut h = Harness::new();
    assert_eq!(last_reply(&h.send(1, chan("a/b"))), Reply::Ok);
    assert_eq!(last_reply(&h.send(2, glob("a/*"))), Reply::Ok);
    h.send(2, glob("*"));
    h.sub(3, "a/+");
    h.send(4, chan("a/+"));
    h.publish(9, "a/b", b"x");
    let s = |v: &str| v.to_owned();
    assert_eq!(
        raw_pushes(&h),
        vec![
            (3, None, s("a/b"), s("x")),
            (1, None, s("a/b"), s("x")),
            (2, Some(s("*")), s("a/b"), s("x")),
            (2, Some(s("a/*")), s("a/b"), s("x")),
        ],
        "tree first, then exact channels, then one pattern push per matching glob"
    );
}

#[test]
fn publish_count_takes_any_name_and_counts_pushes() {
    let mut h = Harness::new();
    h.sub(1, "a/+");
    h.sub(2, "#");
    h.send(3, chan("a/+"));
    h.send(4, glob("a/?"));
    assert_eq!(last_reply(&h.send(9, publish_count("a/b", "m"))), Reply::Int(3), "tree 1, 2 and glob 4");
    assert_eq!(raw_pushes(&h).len(), 3);
    // A name with wildcards reaches only exact and glob subscribers.
    assert_eq!(last_reply(&h.send(9, publish_count("a/+", "m"))), Reply::Int(2));
    assert_eq!(raw_pushes(&h).iter().map(|p| p.0).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(last_reply(&h.send(9, publish_count("$share/g/x", "m"))), Reply::Int(0));
    assert_eq!(
        last_reply(&h.send(9, publish_count("", "m"))),
        Reply::Int(0),
        "the empty name is no v1 topic"
    );
    let long = "x".repeat(1025);
    assert_eq!(
        last_reply(&h.send(9, publish_count(&long, "m"))),
        Reply::Err("Invalid topic: longer than 1024 bytes".into())
    );
}

#[test]
fn unsubscribe_and_disconnect_forget_channels() {
    let mut h = Harness::new();
    h.send(1, chan("c"));
    h.send(1, glob("c*"));
    assert_eq!(last_reply(&h.send(1, R::UnsubscribeChannel { channel: "c".into() })), Reply::Ok);
    assert_eq!(last_reply(&h.send(9, publish_count("c", "m"))), Reply::Int(1));
    assert_eq!(last_reply(&h.send(1, R::UnsubscribeGlob { pattern: "c*".into() })), Reply::Ok);
    assert_eq!(last_reply(&h.send(9, publish_count("c", "m"))), Reply::Int(0));
    assert_eq!(h.ps.stats().subscriptions, 0);
    h.send(2, chan("c"));
    h.disconnect(2);
    assert_eq!(last_reply(&h.send(9, publish_count("c", "m"))), Reply::Int(0));
    assert_eq!(h.ps.stats().subscriptions, 0);
}

#[test]
fn subscriptions_are_bounded_per_connection() {
    let mut h = Harness::with(PubSubConfig { max_subscriptions_per_conn: 3, ..PubSubConfig::default() });
    h.sub(1, "t");
    h.send(1, chan("t"));
    h.send(1, glob("t"));
    assert_eq!(last_reply(&h.send(1, chan("u"))), Reply::Err("Too many subscriptions (max 3)".into()));
    let mut h = Harness::new();
    for i in 0..MAX_GLOBS_PER_CONN {
        h.send(1, glob(&format!("p{i}*")));
    }
    assert_eq!(
        last_reply(&h.send(1, glob("q*"))),
        Reply::Err(format!("Too many pattern subscriptions (max {MAX_GLOBS_PER_CONN})"))
    );
}

#[test]
fn slow_glob_subscriber_is_closed() {
    let mut h = Harness::with(PubSubConfig { max_pending_pushes: 2, ..PubSubConfig::default() });
    h.send(1, glob("*"));
    for _ in 0..3 {
        h.send(9, publish_count("x", "m"));
    }
    assert!(h.raw.iter().any(|o| matches!(o, Output::Close { conn, .. } if conn.0 == 1)));
    assert_eq!(h.ps.stats().subscriptions, 0);
}

#[test]
fn the_dashboard_lists_redis_channels_and_globs_next_to_topic_filters() {
    use crate::pubsub::SubscriptionKind as K;
    let mut h = Harness::new();
    h.sub(1, "news");
    h.send(2, chan("news"));
    h.send(3, chan("news"));
    h.send(3, glob("n*"));
    let list = h.ps.subscriptions(0, 100);
    let items: Vec<(&str, K, u64)> =
        list.items.iter().map(|s| (s.pattern.as_str(), s.kind, s.subscribers)).collect();
    assert_eq!(items, [("n*", K::ChannelPattern, 1), ("news", K::Exact, 1), ("news", K::Channel, 2)]);
    assert_eq!((list.total, list.channels, list.wildcard, list.shared), (3, 2, 0, 0));
    h.disconnect(3);
    let list = h.ps.subscriptions(0, 100);
    assert_eq!((list.total, list.channels), (2, 1));
}
