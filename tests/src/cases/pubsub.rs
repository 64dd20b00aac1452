//! Pub/Sub cases: topic matching, retained messages, shared subscriptions, clean-up, and a slow
//! subscriber that must not hurt anyone else.
//!
//! Most cases end with a sentinel publish and read pushes up to it: pushes to one connection
//! keep their order, so the list up to the sentinel is exactly what the server delivered, and a
//! missing or extra push fails the case instead of passing by timing.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nexo_client::{Client, ClientError};
use nexo_proto::Reply;
use nexo_proto::options::PublishOptions;
use nexo_proto::request::{PubSubRequest, Request};

use crate::cases::{PATIENCE, pushes_until, summary};
use crate::server::{Server, rss_bytes_of};
use crate::wire::{self, Payload, request};

fn plain() -> PublishOptions {
    PublishOptions::default()
}

fn retained() -> PublishOptions {
    PublishOptions { retain: true, ttl: None, persist: false }
}

fn publish(c: &mut Client, topic: &str, payload: &str) {
    c.publish(topic, payload.as_bytes(), plain()).unwrap_or_else(|e| panic!("PUBLISH {topic}: {e:?}"));
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(t, p)| ((*t).to_owned(), (*p).to_owned())).collect()
}

/// Subscribes `pattern` on a new client and returns the pushes up to a live sentinel published
/// on `sentinel_topic` (which must match `pattern`): the retained messages, then the sentinel.
fn retained_seen_by(
    server: &Server,
    publisher: &mut Client,
    pattern: &str,
    sentinel_topic: &str,
) -> Vec<(String, String)> {
    let mut sub = server.client();
    sub.subscribe(pattern).unwrap();
    publish(publisher, sentinel_topic, "sentinel");
    let got = summary(&pushes_until(&mut sub, b"sentinel"));
    got[..got.len() - 1].to_vec()
}

/// A subscriber on an exact topic gets exactly the messages of that topic, in order, with the
/// payload bytes verbatim; the push frame is `0x03`, meta `0`, id `0`, `str topic`, payload.
pub fn pubsub_exact_topic(bin: &Path) {
    let server = Server::start(bin);
    let mut sub = server.client();
    sub.subscribe("news/sport").unwrap();
    let mut second = server.client();
    second.subscribe("news/sport").unwrap();
    let mut publ = server.client();
    for (topic, payload) in [
        ("news/sport", "p1"),
        ("news/weather", "p2"),
        ("news", "p3"),
        ("news/sport/x", "p4"),
        ("News/sport", "p5"),
        ("news/sport/", "p6"),
        ("news/sport", "p7"),
        ("news/sport", "end"),
    ] {
        publish(&mut publ, topic, payload);
    }
    let want = owned(&[("news/sport", "p1"), ("news/sport", "p7"), ("news/sport", "end")]);
    assert_eq!(summary(&pushes_until(&mut sub, b"end")), want);
    assert_eq!(summary(&pushes_until(&mut second, b"end")), want, "every subscriber gets its copy");

    let binary = b"\x00\x01\xFF\xFEbinary".to_vec();
    publ.publish("news/sport", &binary, plain()).unwrap();
    publish(&mut publ, "news/sport", "end2");
    let got = pushes_until(&mut sub, b"end2");
    assert_eq!(got.len(), 2);
    assert_eq!(&got[0].payload[..], &binary[..], "payload verbatim");

    // Exact push bytes over a raw subscriber.
    let mut raw = server.raw();
    wire::send(&mut raw, &request(0x22, 5, &Payload::new().str("raw/topic").build()));
    let ok = wire::read_response(&mut raw, 5);
    assert_eq!((ok.status, ok.payload.len()), (wire::OK, 0), "SUBSCRIBE answers OK");
    publ.publish("raw/topic", b"\x01hi", plain()).unwrap();
    let f = wire::read_frame(&mut raw);
    let mut expected = vec![0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 9];
    expected.extend_from_slice(b"raw/topic\x01hi");
    assert_eq!(wire::frame(f.frame_type, f.status, f.id, &f.payload), expected, "push frame bytes");
}

/// `+` matches exactly one level, including an empty one.
pub fn pubsub_plus_wildcard(bin: &Path) {
    let server = Server::start(bin);
    let mut sub = server.client();
    sub.subscribe("s/+/t").unwrap();
    let mut top = server.client();
    top.subscribe("+").unwrap();
    let mut publ = server.client();
    for (topic, payload) in [
        ("s/a/t", "1"),
        ("s/b/t", "2"),
        ("s//t", "3"),
        ("s/a/b/t", "4"),
        ("s/t", "5"),
        ("s/a/t/x", "6"),
        ("x/a/t", "7"),
        ("single", "8"),
        ("s/end/t", "end"),
        ("end", "end"),
    ] {
        publish(&mut publ, topic, payload);
    }
    assert_eq!(
        summary(&pushes_until(&mut sub, b"end")),
        owned(&[("s/a/t", "1"), ("s/b/t", "2"), ("s//t", "3"), ("s/end/t", "end")]),
        "s/+/t"
    );
    assert_eq!(summary(&pushes_until(&mut top, b"end")), owned(&[("single", "8"), ("end", "end")]), "+");
}

/// `#` matches the rest including zero levels (`a/#` matches `a`); `#` alone matches everything.
pub fn pubsub_hash_wildcard(bin: &Path) {
    let server = Server::start(bin);
    let patterns = ["a/#", "#", "a/+/#", "a/b/#"];
    let mut subs: Vec<Client> = patterns
        .iter()
        .map(|p| {
            let mut c = server.client();
            c.subscribe(p).unwrap();
            c
        })
        .collect();
    let mut publ = server.client();
    let topics = ["a", "a/b", "a/b/c", "ab", "b/a", "a/"];
    for t in topics {
        publish(&mut publ, t, t);
    }
    publish(&mut publ, "a/b/end", "end");
    let expected: [&[&str]; 4] = [
        &["a", "a/b", "a/b/c", "a/"],
        &["a", "a/b", "a/b/c", "ab", "b/a", "a/"],
        &["a/b", "a/b/c", "a/"],
        &["a/b", "a/b/c"],
    ];
    for ((sub, pattern), want) in subs.iter_mut().zip(patterns).zip(expected) {
        let mut want: Vec<(String, String)> =
            want.iter().map(|t| ((*t).to_owned(), (*t).to_owned())).collect();
        want.push(("a/b/end".into(), "end".into()));
        assert_eq!(summary(&pushes_until(sub, b"end")), want, "pattern {pattern}");
    }
}

/// Retained messages are sent on subscribe, after the SUBSCRIBE's OK, with their concrete
/// topic; non-retained ones are not; live subscribers get retained publishes as normal pushes.
pub fn pubsub_retained_on_subscribe(bin: &Path) {
    let server = Server::start(bin);
    let mut live = server.client();
    live.subscribe("r/#").unwrap();
    let mut publ = server.client();
    publ.publish("r/1", b"v1", retained()).unwrap();
    publ.publish("r/2", b"v2", retained()).unwrap();
    publ.publish("r/3", b"v3", plain()).unwrap();
    publ.publish("other/x", b"vx", retained()).unwrap();
    publish(&mut publ, "r/live-end", "end");
    assert_eq!(
        summary(&pushes_until(&mut live, b"end")),
        owned(&[("r/1", "v1"), ("r/2", "v2"), ("r/3", "v3"), ("r/live-end", "end")]),
        "a subscriber present at publish time gets each message once"
    );

    // Raw: the OK comes first, then one push per retained message.
    let mut raw = server.raw();
    wire::send(&mut raw, &request(0x22, 77, &Payload::new().str("r/+").build()));
    let first = wire::read_frame(&mut raw);
    assert_eq!(
        (first.frame_type, first.status, first.id),
        (wire::RESPONSE, wire::OK, 77),
        "OK before retained pushes: {first:?}"
    );
    let mut got = BTreeSet::new();
    for _ in 0..2 {
        let (topic, payload) = wire::read_frame(&mut raw).push();
        got.insert((topic, String::from_utf8(payload).unwrap()));
    }
    assert_eq!(got, BTreeSet::from([("r/1".into(), "v1".into()), ("r/2".into(), "v2".into())]));
    publish(&mut publ, "r/end", "end");
    assert_eq!(
        wire::read_frame(&mut raw).push(),
        ("r/end".into(), b"end".to_vec()),
        "nothing else was retained"
    );

    assert_eq!(retained_seen_by(&server, &mut publ, "r/1", "r/1"), owned(&[("r/1", "v1")]), "exact pattern");
    assert_eq!(retained_seen_by(&server, &mut publ, "other/+", "other/end"), owned(&[("other/x", "vx")]));
    assert!(retained_seen_by(&server, &mut publ, "none/#", "none/end").is_empty());
}

/// A retained publish overwrites the topic's retained message; an empty retained publish clears it.
pub fn pubsub_retained_overwrite_and_clear(bin: &Path) {
    let server = Server::start(bin);
    let mut publ = server.client();
    publ.publish("o/t", b"v1", retained()).unwrap();
    publ.publish("o/t", b"v2", retained()).unwrap();
    publ.publish("o/u", b"keep", retained()).unwrap();
    assert_eq!(retained_seen_by(&server, &mut publ, "o/t", "o/t"), owned(&[("o/t", "v2")]), "overwritten");

    publ.publish("o/t", b"", retained()).unwrap();
    assert!(
        retained_seen_by(&server, &mut publ, "o/t", "o/t").is_empty(),
        "cleared by an empty retained publish"
    );
    assert_eq!(
        retained_seen_by(&server, &mut publ, "o/#", "o/end"),
        owned(&[("o/u", "keep")]),
        "other topic kept"
    );

    publ.publish("o/t", b"v3", retained()).unwrap();
    assert_eq!(
        retained_seen_by(&server, &mut publ, "o/t", "o/t"),
        owned(&[("o/t", "v3")]),
        "retained again after a clear"
    );
}

/// Polls until the retained set seen under `pattern` equals `want` (expiry may be checked
/// lazily or by a sweep); panics with the last set seen after `within`.
fn wait_retained(
    server: &Server,
    publ: &mut Client,
    pattern: &str,
    sentinel: &str,
    want: &[(&str, &str)],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    let want: BTreeSet<(String, String)> = owned(want).into_iter().collect();
    loop {
        let got: BTreeSet<(String, String)> =
            retained_seen_by(server, publ, pattern, sentinel).into_iter().collect();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "retained under {pattern}: expected {want:?}, still {got:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// A retained message with `ttl: 1` is gone after a second; `persist` and the default (3600 s)
/// survive.
pub fn pubsub_retained_expiry(bin: &Path) {
    let server = Server::start(bin);
    let mut publ = server.client();
    let published = Instant::now();
    publ.publish("e/short", b"s", PublishOptions { retain: true, ttl: Some(1), persist: false }).unwrap();
    publ.publish("e/persist", b"p", PublishOptions { retain: true, ttl: Some(1), persist: true }).unwrap();
    publ.publish("e/long", b"l", retained()).unwrap();
    let all = [("e/short", "s"), ("e/persist", "p"), ("e/long", "l")];
    let got: BTreeSet<_> = retained_seen_by(&server, &mut publ, "e/#", "e/end").into_iter().collect();
    assert_eq!(got, owned(&all).into_iter().collect(), "all three retained before the TTL");

    thread::sleep(Duration::from_millis(1_000).saturating_sub(published.elapsed()));
    wait_retained(&server, &mut publ, "e/#", "e/end", &all[1..], Duration::from_millis(1_500));
}

/// `--pubsub-retained-ttl 1` sets the default retained TTL: no `ttl` (or `ttl: 0`) expires after
/// a second, `persist` and an explicit longer `ttl` survive.
pub fn pubsub_retained_default_ttl_flag(bin: &Path) {
    let server = Server::start_with(bin, &["--pubsub-retained-ttl", "1"]);
    let mut publ = server.client();
    let published = Instant::now();
    publ.publish("d/default", b"d", retained()).unwrap();
    publ.publish("d/zero", b"z", PublishOptions { retain: true, ttl: Some(0), persist: false }).unwrap();
    publ.publish("d/persist", b"p", PublishOptions { retain: true, ttl: None, persist: true }).unwrap();
    publ.publish("d/long", b"l", PublishOptions { retain: true, ttl: Some(60), persist: false }).unwrap();
    let got = retained_seen_by(&server, &mut publ, "d/#", "d/end");
    assert_eq!(got.len(), 4, "all four retained before the TTL: {got:?}");
    thread::sleep(Duration::from_millis(1_000).saturating_sub(published.elapsed()));
    wait_retained(
        &server,
        &mut publ,
        "d/#",
        "d/end",
        &[("d/persist", "p"), ("d/long", "l")],
        Duration::from_millis(1_500),
    );
}

/// A connection whose patterns overlap gets one push per message.
pub fn pubsub_dedup_overlapping(bin: &Path) {
    let server = Server::start(bin);
    let mut sub = server.client();
    for p in ["d/#", "d/+", "d/x", "#", "+/x", "d/x"] {
        sub.subscribe(p).unwrap();
    }
    let mut publ = server.client();
    publish(&mut publ, "d/x", "once");
    publish(&mut publ, "d/y", "y");
    publish(&mut publ, "z", "z");
    publish(&mut publ, "d/end", "end");
    assert_eq!(
        summary(&pushes_until(&mut sub, b"end")),
        owned(&[("d/x", "once"), ("d/y", "y"), ("z", "z"), ("d/end", "end")])
    );
}

/// UNSUBSCRIBE stops delivery for that pattern only, and is OK for an unknown pattern.
pub fn pubsub_unsubscribe(bin: &Path) {
    let server = Server::start(bin);
    let mut sub = server.client();
    sub.subscribe("u/a").unwrap();
    sub.subscribe("u/b").unwrap();
    sub.subscribe("w/#").unwrap();
    let mut publ = server.client();
    publish(&mut publ, "u/a", "m1");
    publish(&mut publ, "u/b", "m2");
    publish(&mut publ, "w/x", "m3");
    publish(&mut publ, "u/b", "end1");
    assert_eq!(
        summary(&pushes_until(&mut sub, b"end1")),
        owned(&[("u/a", "m1"), ("u/b", "m2"), ("w/x", "m3"), ("u/b", "end1")])
    );

    sub.unsubscribe("u/a").unwrap();
    sub.unsubscribe("w/#").unwrap();
    sub.unsubscribe("never/subscribed").unwrap();
    sub.unsubscribe("u/a").unwrap();
    publish(&mut publ, "u/a", "m4");
    publish(&mut publ, "w/x", "m5");
    publish(&mut publ, "u/b", "end2");
    assert_eq!(summary(&pushes_until(&mut sub, b"end2")), owned(&[("u/b", "end2")]));

    sub.subscribe("u/a").unwrap();
    publish(&mut publ, "u/a", "end3");
    assert_eq!(summary(&pushes_until(&mut sub, b"end3")), owned(&[("u/a", "end3")]), "subscribe again");
}

/// Subscribers that disconnect (idle, or with pushes still pending) are cleaned up: the
/// publisher keeps getting OK, and the remaining subscribers get everything.
pub fn pubsub_cleanup_on_disconnect(bin: &Path) {
    let server = Server::start(bin);
    let mut keep = server.client();
    keep.subscribe("c/#").unwrap();
    let mut gone: Vec<Client> = (0..4)
        .map(|_| {
            let mut c = server.client();
            c.subscribe("c/#").unwrap();
            c
        })
        .collect();
    // One subscriber that hangs up right after subscribing, without reading the OK.
    let mut abrupt = server.raw();
    wire::send(&mut abrupt, &request(0x22, 1, &Payload::new().str("c/#").build()));
    drop(abrupt);
    gone.truncate(2);

    let mut publ = server.client();
    for i in 0..200 {
        publish(&mut publ, &format!("c/{i}"), &i.to_string());
    }
    drop(gone);
    for i in 200..400 {
        publish(&mut publ, &format!("c/{i}"), &i.to_string());
    }
    let got = pushes_until(&mut keep, b"399");
    let payloads: Vec<String> = summary(&got).into_iter().map(|(_, p)| p).collect();
    let want: Vec<String> = (0..400).map(|i: i32| i.to_string()).collect();
    assert_eq!(payloads, want, "the remaining subscriber got every message in order");

    // Subscribers that leave with a backlog: publish without them reading, then drop them.
    let backlog: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = server.client();
            c.subscribe("c/#").unwrap();
            c
        })
        .collect();
    for i in 400..1400 {
        publish(&mut publ, &format!("c/{i}"), &i.to_string());
    }
    drop(backlog);
    for i in 1400..1500 {
        publish(&mut publ, &format!("c/{i}"), &i.to_string());
    }
    let got = pushes_until(&mut keep, b"1499");
    assert_eq!(got.len(), 1100, "the remaining subscriber got every message");
    assert_eq!(&publ.echo(b"still here").unwrap()[..], b"still here");

    let mut late = server.client();
    late.subscribe("c/#").unwrap();
    publish(&mut publ, "c/late", "late");
    assert_eq!(summary(&pushes_until(&mut late, b"late")), owned(&[("c/late", "late")]));
}

/// Publishing to a topic with `+`/`#` or to `$share/…` is refused with the spec's texts, nothing
/// is delivered, and the connection keeps working.
pub fn pubsub_publish_topic_rejected(bin: &Path) {
    let server = Server::start(bin);
    let mut all = server.client();
    all.subscribe("#").unwrap();
    let mut publ = server.client();
    const WILD: &str = "Wildcards are not allowed in a publish topic";
    const SHARE: &str = "Invalid topic: $share/ is for subscriptions only";
    let cases = [
        ("a/+", WILD),
        ("a/#", WILD),
        ("+", WILD),
        ("#", WILD),
        ("sport+tennis", WILD),
        ("$share/g/a", SHARE),
        ("$share/g/jobs/x", SHARE),
    ];
    for (topic, text) in cases {
        for options in [plain(), retained()] {
            match publ.publish(topic, b"nope", options) {
                Err(ClientError::Server(got)) => assert_eq!(got, text, "PUBLISH {topic}"),
                other => panic!("PUBLISH {topic} should fail with {text:?}, got {other:?}"),
            }
        }
    }
    publish(&mut publ, "a/b", "end");
    assert_eq!(
        summary(&pushes_until(&mut all, b"end")),
        owned(&[("a/b", "end")]),
        "nothing rejected was delivered"
    );
    assert!(retained_seen_by(&server, &mut publ, "#", "fin").is_empty(), "nothing rejected was retained");
}

/// Receives from the group members until `total` pushes arrived overall (or a deadline), then
/// a short quiet period to catch duplicates. Returns each member's payloads.
fn collect_shared(members: &mut [Client], total: usize) -> Vec<Vec<String>> {
    let mut got = vec![Vec::new(); members.len()];
    let deadline = Instant::now() + PATIENCE;
    while got.iter().map(Vec::len).sum::<usize>() < total {
        assert!(Instant::now() < deadline, "shared group received {got:?} of {total} messages");
        for (m, c) in members.iter_mut().enumerate() {
            while let Some(p) = c.next_push(Duration::from_millis(20)).unwrap() {
                got[m].push(String::from_utf8(p.payload.to_vec()).unwrap());
            }
        }
    }
    for (m, c) in members.iter_mut().enumerate() {
        while let Some(p) = c.next_push(Duration::from_millis(300)).unwrap() {
            got[m].push(String::from_utf8(p.payload.to_vec()).unwrap());
        }
    }
    got
}

/// `$share/g/jobs/#` with three members: each message goes to exactly one member, every member
/// gets some, no retained message is sent to them; another group and a plain subscriber each get
/// every message; when a member leaves, the others get everything.
pub fn pubsub_shared_subscriptions(bin: &Path) {
    let server = Server::start(bin);
    let mut publ = server.client();
    publ.publish("jobs/r", b"retained", retained()).unwrap();

    let mut members: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = server.client();
            c.subscribe("$share/g/jobs/#").unwrap();
            c
        })
        .collect();
    let mut other_group = server.client();
    other_group.subscribe("$share/h/jobs/#").unwrap();
    let mut plain_sub = server.client();
    plain_sub.subscribe("jobs/#").unwrap();

    for i in 0..30 {
        publish(&mut publ, &format!("jobs/{i}"), &format!("job-{i}"));
    }
    let all: Vec<String> = (0..30).map(|i| format!("job-{i}")).collect();
    let mut want_plain = vec!["retained".to_owned()];
    want_plain.extend(all.iter().cloned());
    let got_plain: Vec<String> =
        summary(&pushes_until(&mut plain_sub, b"job-29")).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got_plain, want_plain, "a plain subscriber gets the retained message and every job");
    let got_other: Vec<String> =
        summary(&pushes_until(&mut other_group, b"job-29")).into_iter().map(|(_, p)| p).collect();
    assert_eq!(got_other, all, "a one-member group gets every job and no retained message");

    let got = collect_shared(&mut members, 30);
    let counts: Vec<usize> = got.iter().map(Vec::len).collect();
    let mut union: Vec<String> = got.iter().flatten().cloned().collect();
    union.sort_by_key(|p| p[4..].parse::<u32>().unwrap_or(u32::MAX));
    assert_eq!(union, all, "each job delivered to exactly one member (per member: {got:?})");
    assert!(counts.iter().all(|&n| n >= 1), "every member gets a share: {counts:?}");
    for member in &got {
        let seqs: Vec<u32> = member.iter().map(|p| p[4..].parse().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "a member's jobs arrive in publish order: {seqs:?}");
    }

    // One member leaves (UNSUBSCRIBE is answered after the group changed, so no job published
    // afterwards can go to it); the other two share everything.
    let mut leaving = members.pop().unwrap();
    leaving.unsubscribe("$share/g/jobs/#").unwrap();
    for i in 30..40 {
        publish(&mut publ, &format!("jobs/{i}"), &format!("job-{i}"));
    }
    let got = collect_shared(&mut members, 10);
    assert_eq!(
        leaving.next_push(Duration::from_millis(200)).unwrap(),
        None,
        "an unsubscribed member gets nothing"
    );
    let mut union: Vec<String> = got.iter().flatten().cloned().collect();
    union.sort_by_key(|p| p[4..].parse::<u32>().unwrap_or(u32::MAX));
    let want: Vec<String> = (30..40).map(|i| format!("job-{i}")).collect();
    assert_eq!(union, want, "after a member left, the rest get each job exactly once");
}

/// Payload of flood message `seq`: the sequence (u64 BE) padded to 100 bytes.
fn flood_payload(seq: u64) -> Bytes {
    let mut p = seq.to_be_bytes().to_vec();
    p.resize(100, b'~');
    Bytes::from(p)
}

/// Slow subscribers (raw sockets that never read) are closed, while a reading subscriber gets
/// all 100 000 messages of ~100 bytes in order and the server's memory stays bounded.
///
/// The bound: with `--pubsub-max-pending-bytes 1mb` each subscriber holds at most 1 MiB of
/// unsent pushes, so 9 subscribers and one publisher (at most 1 000 requests in flight) need a
/// few MiB above the idle server. We allow 64 MiB of growth for allocator slack in a debug
/// build; a server that kept a copy of the whole flood (~12 MB) per slow subscriber would need
/// ~100 MB, and the slow sockets must be closed regardless. Absolute cap: 200 MiB.
pub fn pubsub_slow_subscriber(bin: &Path) {
    let server = Server::start_with(bin, &["--pubsub-max-pending-bytes", "1mb"]);
    const N: u64 = 100_000;
    const SLOW: usize = 8;
    const CHUNK: u64 = 1_000;
    // How far the publisher may run ahead of the reading subscriber: ~0.5 MB of pushes, half its
    // pending limit, so only the subscribers that never read can hit the limit.
    const WINDOW: u64 = 4_000;

    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|i| {
            let mut s = server.raw();
            wire::send(&mut s, &request(0x22, i as u32 + 1, &Payload::new().str("flood/#").build()));
            assert_eq!(wire::read_response(&mut s, i as u32 + 1).status, wire::OK);
            s
        })
        .collect();
    let mut fast = server.client();
    fast.subscribe("flood/#").unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let progress = Arc::clone(&received);
    let reader = thread::spawn(move || {
        for seq in 0..N {
            let push = fast
                .next_push(Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("reading subscriber failed after {seq} pushes: {e:?}"))
                .unwrap_or_else(|| panic!("reading subscriber: no push for 20 s after {seq}"));
            assert_eq!(push.topic, "flood/t");
            assert_eq!(push.payload, flood_payload(seq), "push {seq} out of order or altered");
            progress.store(seq + 1, Ordering::Release);
        }
        fast
    });

    let baseline = server.rss_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, pid) = (Arc::clone(&stop), server.pid());
        thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Acquire) {
                peak = peak.max(rss_bytes_of(pid).unwrap_or(0));
                thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };

    let mut publ = server.client();
    let started = Instant::now();
    let mut sent = 0;
    while sent < N {
        let wait_start = Instant::now();
        while sent - received.load(Ordering::Acquire) > WINDOW {
            if reader.is_finished() || wait_start.elapsed() > Duration::from_secs(30) {
                stop.store(true, Ordering::Release);
                match reader.join() {
                    Err(panic) => std::panic::resume_unwind(panic),
                    Ok(_) => panic!("reading subscriber stalled at {}", received.load(Ordering::Acquire)),
                }
            }
            thread::sleep(Duration::from_millis(1));
        }
        let batch: Vec<Request> = (sent..sent + CHUNK)
            .map(|seq| {
                Request::PubSub(PubSubRequest::Publish {
                    topic: "flood/t".into(),
                    options: plain(),
                    payload: flood_payload(seq),
                })
            })
            .collect();
        let replies = publ.pipeline(&batch).unwrap_or_else(|e| panic!("publisher failed at {sent}: {e:?}"));
        assert!(replies.iter().all(|r| *r == Reply::Ok), "a PUBLISH near {sent} was not OK");
        sent += CHUNK;
    }
    let mut fast = match reader.join() {
        Ok(fast) => fast,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let flood_time = started.elapsed();

    let mut slow_got = Vec::new();
    for (i, mut s) in slow.into_iter().enumerate() {
        let bytes = wire::read_until_closed(&mut s, Duration::from_secs(30));
        let (frames, _partial) = wire::split_frames(&bytes);
        let seqs: Vec<u64> =
            frames.iter().map(|f| u64::from_be_bytes(f.push().1[..8].try_into().unwrap())).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "slow subscriber {i} got pushes out of order");
        assert!(
            (seqs.len() as u64) < N,
            "slow subscriber {i} got all {N} pushes: it was never treated as slow"
        );
        slow_got.push(seqs.len());
    }
    stop.store(true, Ordering::Release);
    let peak = sampler.join().unwrap();

    // Everyone else is unharmed.
    assert_eq!(&publ.echo(b"after").unwrap()[..], b"after");
    publish(&mut publ, "flood/t", "end");
    assert_eq!(summary(&pushes_until(&mut fast, b"end")), owned(&[("flood/t", "end")]));

    const MIB: u64 = 1 << 20;
    eprintln!(
        "slow subscriber flood: {N} messages in {flood_time:?}, RSS baseline {} MiB, peak {} MiB, \
         pushes received by the slow subscribers before their close: {slow_got:?}",
        baseline / MIB,
        peak / MIB
    );
    assert!(peak > 0, "RSS was never sampled");
    assert!(peak < baseline + 64 * MIB, "server RSS grew from {baseline} to {peak} bytes");
    assert!(peak < 200 * MIB, "server RSS peaked at {peak} bytes");
}

/// Retained messages are journaled: after a SIGTERM restart and after a `kill -9`, every retained
/// message whose publish was answered comes back (overwrites and clears included), while one
/// whose TTL ran out while the server was down does not.
pub fn pubsub_retained_survive_restart(bin: &Path) {
    let server = Server::start(bin);
    let mut publ = server.client();
    publ.publish("r/a", b"a1", retained()).unwrap();
    publ.publish("r/a", b"a2", retained()).unwrap();
    publ.publish("r/b", b"b", PublishOptions { retain: true, ttl: None, persist: true }).unwrap();
    publ.publish("r/gone", b"x", retained()).unwrap();
    publ.publish("r/gone", b"", retained()).unwrap();
    publ.publish("r/short", b"s", PublishOptions { retain: true, ttl: Some(1), persist: false }).unwrap();
    publ.publish("r/plain", b"p", plain()).unwrap();
    drop(publ);
    let published = Instant::now();

    let mut server = server.restart();
    let mut publ = server.client();
    let mut got = retained_seen_by(&server, &mut publ, "r/#", "r/end");
    got.sort();
    // `r/short` may or may not have expired by now (it has a one-second TTL); it is checked below.
    got.retain(|(topic, _)| topic != "r/short");
    assert_eq!(got, owned(&[("r/a", "a2"), ("r/b", "b")]), "retained messages after a graceful restart");

    publ.publish("r/c", b"c", retained()).unwrap();
    drop(publ);
    thread::sleep(Duration::from_millis(1_000).saturating_sub(published.elapsed()));
    server.kill9();
    let server = server.restart();
    let mut publ = server.client();
    let mut got = retained_seen_by(&server, &mut publ, "r/#", "r/end");
    got.sort();
    assert_eq!(
        got,
        owned(&[("r/a", "a2"), ("r/b", "b"), ("r/c", "c")]),
        "after kill -9: answered retained publishes survive, the expired one does not"
    );
}
