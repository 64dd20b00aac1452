//! Durability tests of retained messages: replies held until persisted (and connection order),
//! storage failure, recovery from what a previous instance wrote (set, overwrite, clear, expiry,
//! persist, wall-clock deadlines), skipped and refused records, snapshots and compaction, and a
//! bounded journal under many overwrites.

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::PublishOptions;

use super::{Harness, Out, err, journal, ok, pushes, receivers};
use crate::broker::Broker;
use crate::output::Output;
use crate::pubsub::journal::{Record, decode};
use crate::pubsub::{PubSub, PubSubConfig};
use crate::time::Now;

fn opts(ttl: Option<u64>, persist: bool) -> PublishOptions {
    PublishOptions { retain: true, ttl, persist }
}

/// The live retained messages as `(topic, payload)`, in topic-level order.
fn retained(h: &Harness) -> Vec<(String, Vec<u8>)> {
    h.ps.retained
        .matching("#", h.now.mono_ms)
        .iter()
        .map(|m| (m.topic.to_string(), m.payload().to_vec()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    list.iter().map(|(t, p)| ((*t).to_owned(), p.as_bytes().to_vec())).collect()
}

fn records(h: &Harness) -> Vec<Record<'_>> {
    h.log.records.values().map(|r| decode(r).unwrap()).collect()
}

#[test]
fn a_retained_reply_waits_for_its_record_and_holds_later_outputs_of_its_connection() {
    let mut h = Harness::new();
    h.auto_persist = false;
    h.sub(1, "t");
    // Delivered live at once; the reply waits.
    let outs = h.retain(9, "t", b"x");
    assert_eq!(outs, [Out::Push(1, "t".into(), b"x".to_vec())]);
    let retain_id = h.last_id();
    assert_eq!(h.log.next_seq, 1);
    // Later outputs of connection 9 are held behind it, whatever they are.
    assert_eq!(receivers(&h.publish(9, "t", b"live")), [1], "others are not held");
    let live_id = h.last_id();
    assert!(h.sub(9, "t").is_empty(), "the OK and the retained push wait behind the held reply");
    let sub_id = h.last_id();
    assert_eq!(h.log.next_seq, 1, "non-retained publishes and subscriptions write nothing");
    // Other connections are answered at once, and see the (not yet durable) retained message.
    let outs = h.sub(2, "t");
    assert_eq!(outs, [Out::Reply(2, h.last_id(), Reply::Ok), Out::Push(2, "t".into(), b"x".to_vec())]);
    assert_eq!(h.ps.journal.held_len(), 4);
    let outs = h.persist_all();
    assert_eq!(
        outs,
        [
            Out::Reply(9, retain_id, Reply::Ok),
            Out::Reply(9, live_id, Reply::Ok),
            Out::Reply(9, sub_id, Reply::Ok),
            Out::Push(9, "t".into(), b"x".to_vec()),
        ]
    );
    assert_eq!(h.ps.journal.held_len(), 0);
    // Nothing held any more: answered at once.
    ok(&h.publish(9, "t", b"y"));
    // A clearing publish has a record to wait for too, also when nothing was retained.
    assert!(h.retain(3, "nothing/here", b"").is_empty());
    assert!(matches!(records(&h).last(), Some(Record::Clear { topic: "nothing/here" })));
    ok(&h.persist_all());
    // Two retained publishes in one batch are answered in order by one persist.
    h.retain(3, "a", b"1");
    h.retain(4, "a", b"2");
    let outs = h.persist_all();
    assert!(matches!(&outs[..], [Out::Reply(3, ..), Out::Reply(4, ..)]), "{outs:?}");
    // A partial persist releases only what it covers.
    h.retain(3, "a", b"3");
    h.retain(4, "b", b"4");
    h.ps.handle_persisted(h.now, &journal(), h.log.next_seq - 1);
    assert!(matches!(&h.drain()[..], [Out::Reply(3, ..)]));
    let outs = h.persist_all();
    assert!(matches!(&outs[..], [Out::Reply(4, ..)]), "{outs:?}");
}

#[test]
fn a_retained_publish_over_the_limits_writes_nothing() {
    let mut h = Harness::with(PubSubConfig { max_retained_messages: 1, ..Default::default() });
    ok(&h.retain(9, "a", b"1"));
    let before = h.log.next_seq;
    err(&h.retain(9, "b", b"2"), "Too many retained messages (max 1)");
    err(&h.retain(9, "a/+", b"2"), "Wildcards are not allowed in a publish topic");
    assert_eq!(h.log.next_seq, before);
}

#[test]
fn storage_failure_answers_waiters_undoes_their_changes_and_refuses_retained_publishes() {
    let mut h = Harness::new();
    h.retain(9, "a", b"old");
    h.retain(9, "c", b"kept");
    h.auto_persist = false;
    h.sub(1, "#");
    h.retain(9, "a", b"new");
    h.retain(9, "b", b"fresh");
    h.retain(9, "c", b"");
    h.publish(9, "z", b"live");
    let held = h.last_id();
    let text = "Storage unavailable: fsync: I/O error";
    let outs = h.fail("fsync: I/O error");
    assert_eq!(outs.len(), 4, "{outs:?}");
    assert!(outs[..3].iter().all(|o| matches!(o, Out::Reply(9, _, Reply::Err(t)) if t == text)), "{outs:?}");
    assert_eq!(
        outs[3],
        Out::Reply(9, held, Reply::Ok),
        "a reply that waited for nothing keeps its own answer"
    );
    // The retained set is the durable one again.
    assert_eq!(retained(&h), pairs(&[("a", "old"), ("c", "kept")]));
    assert_eq!((h.ps.stats().storage_failed, h.ps.storage_error()), (true, Some(text)));
    // Later retained publishes (clearing ones too) are refused and not delivered.
    let appended = h.log.next_seq;
    err(&h.retain(9, "a", b"again"), text);
    err(&h.retain(9, "a", b""), text);
    // Non-retained publishes and subscriptions keep working.
    let outs = h.publish(9, "a", b"live");
    ok(&outs);
    assert_eq!(receivers(&outs), [1]);
    let outs = h.sub(2, "#");
    ok(&outs);
    assert_eq!(pushes(&outs).len(), 2);
    ok(&h.send(2, nexo_proto::request::PubSubRequest::Unsubscribe { pattern: "#".into() }));
    // Expiry still removes messages, without records.
    h.advance(3_600_000);
    assert!(retained(&h).is_empty());
    assert_eq!(h.log.next_seq, appended, "nothing appended after the failure");
    // A second report changes nothing.
    assert!(h.fail("again").is_empty());
    assert_eq!(h.ps.storage_error(), Some(text));
}

#[test]
fn an_undone_change_restores_the_expiry_of_what_it_replaced() {
    let mut h = Harness::new();
    h.publish_with(9, "a", opts(Some(10), false), b"old");
    h.auto_persist = false;
    h.publish_with(9, "a", opts(None, true), b"new");
    assert_eq!(h.ps.poll_timeout(), None);
    h.fail("disk gone");
    assert_eq!(retained(&h), pairs(&[("a", "old")]));
    assert_eq!(h.ps.poll_timeout(), Some(10_000));
    h.advance(10_000);
    assert!(retained(&h).is_empty());
}

#[test]
fn recovery_rebuilds_set_overwrite_clear_expiry_and_persist() {
    let mut h = Harness::with(PubSubConfig { retained_default_ttl_ms: Some(60_000), ..Default::default() });
    h.retain(9, "a/b", b"1");
    h.retain(9, "a/b", b"2");
    h.retain(9, "a/c", b"gone");
    h.retain(9, "a/c", b"");
    h.publish_with(9, "ttl", opts(Some(30), false), b"t");
    h.publish_with(9, "forever", opts(Some(1), true), b"f");
    h.publish_with(9, "short", opts(Some(1), false), b"s");
    h.publish_with(9, "shadowed", opts(None, true), b"s1");
    h.publish_with(9, "shadowed", opts(Some(1), false), b"s2");
    h.publish(9, "plain", b"not retained");
    h.advance(1_000);
    // The timer removed two messages and journaled a CLEAR for each.
    let clears: Vec<_> = records(&h)
        .into_iter()
        .filter_map(|r| if let Record::Clear { topic } = r { Some(topic) } else { None })
        .collect();
    assert_eq!(clears, ["a/c", "shadowed", "short"]);
    let before = retained(&h);
    assert_eq!(before, pairs(&[("a/b", "2"), ("forever", "f"), ("ttl", "t")]));
    h.restart();
    assert_eq!(retained(&h), before);
    assert_eq!(receivers(&h.sub(1, "#")), [1, 1, 1]);
    // Deadlines survive: `ttl` ends 30 s after its publish, `a/b` 60 s after.
    h.advance(28_999);
    assert_eq!(retained(&h).len(), 3);
    h.advance(1);
    assert_eq!(retained(&h), pairs(&[("a/b", "2"), ("forever", "f")]));
    h.advance(30_000);
    assert_eq!(retained(&h), pairs(&[("forever", "f")]));
    h.restart();
    assert_eq!(retained(&h), pairs(&[("forever", "f")]));
    assert_eq!(h.ps.stats().skipped_records, 0);
}

#[test]
fn messages_that_expired_while_down_do_not_come_back() {
    let mut h = Harness::new();
    h.publish_with(9, "a", opts(Some(5), false), b"x");
    h.publish_with(9, "b", opts(None, true), b"old");
    h.publish_with(9, "b", opts(Some(5), false), b"new");
    h.publish_with(9, "c", opts(Some(6), false), b"later");
    // Down for 5 s: no timer fired, no CLEAR was written.
    h.now = h.now.plus(5_000);
    h.restart();
    assert_eq!(
        retained(&h),
        pairs(&[("c", "later")]),
        "an expired overwrite does not revive the old message"
    );
    assert_eq!(h.ps.poll_timeout(), Some(h.now.mono_ms + 1_000));
}

#[test]
fn expiry_is_persisted_as_wall_clock_time() {
    let mut h = Harness::new();
    h.now = Now { mono_ms: 5, wall_ms: 2_000_000_000_000 };
    h.publish_with(9, "t", opts(Some(10), false), b"x");
    assert!(matches!(
        records(&h).last(),
        Some(Record::Set { topic: "t", expires_wall_ms: 2_000_000_010_000, payload: b"x" })
    ));
    h.publish_with(9, "p", opts(None, true), b"y");
    assert!(matches!(records(&h).last(), Some(Record::Set { expires_wall_ms: 0, .. })));
    // A new process: the monotonic clock starts again, the wall clock moved on 4 s.
    h.now = Now { mono_ms: 0, wall_ms: 2_000_000_004_000 };
    h.restart();
    assert_eq!(h.ps.poll_timeout(), Some(6_000));
    h.advance(5_999);
    assert_eq!(retained(&h).len(), 2);
    h.advance(1);
    assert_eq!(retained(&h), pairs(&[("p", "y")]));
}

#[test]
fn records_not_durable_at_a_crash_are_lost_and_never_answered() {
    let mut h = Harness::new();
    h.retain(9, "a", b"durable");
    h.auto_persist = false;
    h.retain(9, "a", b"lost");
    h.retain(9, "b", b"lost");
    assert!(h.restart().is_empty());
    assert_eq!(retained(&h), pairs(&[("a", "durable")]));
    // Sequences continue from what storage kept.
    h.auto_persist = true;
    ok(&h.retain(9, "c", b"3"));
    assert_eq!(h.log.next_seq, 2);
}

/// A harness whose log holds `records` (all durable), recovered by a fresh broker.
fn load(config: PubSubConfig, records: Vec<Bytes>) -> Harness {
    let mut h = Harness::with(config);
    h.log.records = records.into_iter().enumerate().map(|(i, r)| (i as u64, r)).collect();
    h.log.next_seq = h.log.records.len() as u64;
    h.log.durable = h.log.next_seq;
    h.restart();
    h
}

fn set(topic: &str, payload: &'static [u8]) -> Bytes {
    Record::Set { topic, expires_wall_ms: 0, payload }.encode()
}

fn snap_set(topic: &str, payload: &'static [u8]) -> Bytes {
    Record::SnapSet { topic, expires_wall_ms: 0, payload }.encode()
}

#[test]
fn undecodable_and_misplaced_records_are_skipped_and_counted() {
    let h = load(
        PubSubConfig::default(),
        vec![
            Bytes::from_static(b"\x01\x01garbage"),
            set("a", b"1"),
            Bytes::new(),
            Bytes::from_static(&[2, 0x01]),
            Bytes::from_static(&[1, 0x02, 1, 0, b'#']),
            snap_set("stray", b"s"),
            Record::SnapshotEnd { count: 0 }.encode(),
            set("b", b"2"),
            Record::Clear { topic: "never/set" }.encode(),
        ],
    );
    assert_eq!(h.ps.stats().skipped_records, 6);
    assert_eq!(retained(&h), pairs(&[("a", "1"), ("b", "2")]));
}

#[test]
fn the_current_limits_apply_at_recovery() {
    let records = vec![
        set("a", b"1"),
        set("b", b"2"),
        set("c", b"3"),
        set("a", b"1 again"),
        set(&"x/".repeat(40), b"deep"),
        set("b", &[7; 500]),
    ];
    let config = PubSubConfig { max_retained_messages: 3, max_retained_bytes: 400, ..Default::default() };
    let h = load(config, records);
    assert_eq!(retained(&h), pairs(&[("a", "1 again"), ("b", "2"), ("c", "3")]));
    assert_eq!(h.ps.stats().recovery_refused, 2, "the topic past 32 levels, the message past the bytes");
    assert_eq!(h.ps.stats().retained, 3);
}

#[test]
fn a_complete_snapshot_supersedes_what_came_before() {
    let mut h = load(
        PubSubConfig::default(),
        vec![
            set("old", b"x"),
            set("s", b"before"),
            Record::SnapshotBegin.encode(),
            snap_set("s", b"snap"),
            Record::SnapSet { topic: "gone", expires_wall_ms: 1, payload: b"expired" }.encode(),
            snap_set("t", b"snap"),
            Record::SnapshotEnd { count: 3 }.encode(),
            set("after", b"a"),
            Record::Clear { topic: "t" }.encode(),
        ],
    );
    assert_eq!(retained(&h), pairs(&[("after", "a"), ("s", "snap")]));
    assert_eq!(h.log.truncations, [2], "the truncation left undone is asked for again");
    assert_eq!(h.ps.stats().skipped_records, 0);
    // Recovering again from the truncated log gives the same set and asks for nothing.
    h.restart();
    assert_eq!(retained(&h), pairs(&[("after", "a"), ("s", "snap")]));
    assert_eq!(h.log.truncations, [2]);
}

#[test]
fn an_incomplete_or_inconsistent_snapshot_is_ignored() {
    let base = || vec![set("a", b"1"), Record::SnapshotBegin.encode(), snap_set("other", b"s")];
    // Cut short, then ordinary records written by the next process.
    let mut records = base();
    records.push(set("b", b"2"));
    records.push(Record::SnapshotEnd { count: 1 }.encode());
    let h = load(PubSubConfig::default(), records);
    assert_eq!(retained(&h), pairs(&[("a", "1"), ("b", "2")]));
    assert_eq!(h.ps.stats().skipped_records, 1, "the end without its begin");
    // Cut short at the very end.
    let h = load(PubSubConfig::default(), base());
    assert_eq!(retained(&h), pairs(&[("a", "1")]));
    // An end whose count does not match.
    let mut records = base();
    records.push(Record::SnapshotEnd { count: 2 }.encode());
    let h = load(PubSubConfig::default(), records);
    assert_eq!(retained(&h), pairs(&[("a", "1")]));
    assert_eq!(h.ps.stats().skipped_records, 1);
    assert!(h.log.truncations.is_empty());
}

#[test]
fn a_damaged_snapshot_is_kept_when_nothing_precedes_it() {
    // After compaction the journal begins with its snapshot; one SNAP_SET was lost to damage.
    let records = vec![
        Record::SnapshotBegin.encode(),
        snap_set("a", b"1"),
        snap_set("c", b"3"),
        Record::SnapshotEnd { count: 3 }.encode(),
        set("d", b"4"),
    ];
    let h = load(PubSubConfig::default(), records);
    assert_eq!(retained(&h), pairs(&[("a", "1"), ("c", "3"), ("d", "4")]));
    assert_eq!(h.ps.stats().skipped_records, 1, "the mismatched end is counted");
}

#[test]
fn compaction_writes_a_snapshot_that_recovery_reproduces() {
    let config = PubSubConfig { compact_min_bytes: 2_000, ..Default::default() };
    let mut h = Harness::with(config);
    h.publish_with(9, "keep/forever", opts(None, true), b"f");
    h.publish_with(9, "keep/ttl", opts(Some(600), false), b"t");
    h.publish_with(9, "keep/expired", opts(Some(1), false), b"e");
    h.retain(9, "cleared", b"c");
    h.retain(9, "cleared", b"");
    h.advance(1_000);
    assert_eq!(h.ps.stats().snapshots, 0);
    for i in 0..200 {
        h.retain(9, "busy", format!("{i:032}").as_bytes());
    }
    let stats = h.ps.stats();
    assert!(stats.snapshots >= 2, "{stats:?}");
    assert_eq!(h.log.rolls as u64, stats.snapshots);
    assert_eq!(h.log.truncations.len() as u64, stats.snapshots);
    assert!(h.log.bytes < 4_000, "{} bytes kept", h.log.bytes);
    assert!(matches!(records(&h).first(), Some(Record::SnapshotBegin)));
    let before = retained(&h);
    assert_eq!(before.len(), 3);
    assert_eq!(before[0], ("busy".to_owned(), format!("{:032}", 199).into_bytes()));
    h.now = h.now.plus(10_000);
    h.restart();
    assert_eq!(retained(&h), before);
    assert_eq!(h.ps.poll_timeout(), Some(h.now.mono_ms + 600_000 - 11_000), "the snapshot kept the deadline");
}

#[test]
fn a_snapshot_is_truncated_only_once_durable() {
    let config = PubSubConfig { compact_min_bytes: 0, compact_ratio: 0, ..Default::default() };
    let mut h = Harness::with(config);
    h.auto_persist = false;
    h.retain(9, "a", b"1");
    assert_eq!(h.log.rolls, 0, "compaction is checked after a persist");
    h.ps.handle_persisted(h.now, &journal(), 1);
    let mut raw = Vec::new();
    while let Some(o) = h.ps.poll_output() {
        raw.push(o);
    }
    assert!(matches!(raw[0], Output::Reply { .. }));
    assert!(matches!(raw[1], Output::Roll { .. }));
    let seqs: Vec<u64> = raw
        .iter()
        .filter_map(|o| if let Output::Append { seq, .. } = o { Some(*seq) } else { None })
        .collect();
    assert_eq!(seqs, [1, 2, 3], "BEGIN, one SNAP_SET, END");
    assert!(!raw.iter().any(|o| matches!(o, Output::TruncateBefore { .. })));
    // END not durable yet: nothing to truncate; then it is.
    h.ps.handle_persisted(h.now, &journal(), 3);
    assert!(h.ps.poll_output().is_none());
    h.ps.handle_persisted(h.now, &journal(), 4);
    assert!(matches!(h.ps.poll_output(), Some(Output::TruncateBefore { seq: 1, .. })));
}

#[test]
fn a_hundred_thousand_overwrites_of_one_topic_keep_the_journal_bounded() {
    let overwrites: u64 =
        std::env::var("NEXO_RETAINED_OVERWRITES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let mut h = Harness::new();
    // A resident set that stays live the whole time.
    for i in 0..100 {
        h.publish_with(9, &format!("resident/{i}"), opts(None, true), &[1; 100]);
    }
    let mut payload = [0u8; 100];
    for i in 0..overwrites {
        payload[..8].copy_from_slice(&i.to_le_bytes());
        h.publish_with(9, "hot", opts(None, true), &payload);
    }
    let stats = h.ps.stats();
    // About 12 MB of SET records without compaction; it starts past 4 MiB + 2 × live.
    let limit = (4 << 20) + 2 * stats.retained_bytes + (64 << 10);
    assert!(h.log.max_bytes < limit, "peak {} bytes, {stats:?}", h.log.max_bytes);
    if overwrites >= 100_000 {
        assert!(stats.snapshots >= 2, "{stats:?}");
    }
    h.restart();
    assert_eq!(h.ps.stats().retained, 101);
    assert_eq!(h.ps.retained.get("hot").unwrap().payload(), &payload[..]);
}

#[test]
fn replay_emits_nothing_until_recovery_is_done() {
    let mut h = Harness::new();
    h.retain(9, "a", b"1");
    let records: Vec<_> = h.log.records.values().cloned().collect();
    let mut ps = PubSub::new(PubSubConfig::default(), 99);
    for (seq, r) in records.iter().enumerate() {
        ps.handle_recovered(h.now, &journal(), seq as u64, r.clone());
        assert!(ps.poll_output().is_none());
    }
    ps.handle_recovery_done(h.now, &journal(), 7);
    assert!(ps.poll_output().is_none());
    ps.handle_request(
        h.now,
        crate::ids::ConnId(1),
        1,
        nexo_proto::request::PubSubRequest::Publish {
            topic: "b".into(),
            options: opts(None, false),
            payload: Bytes::from_static(b"x"),
        },
    );
    assert!(
        matches!(ps.poll_output(), Some(Output::Append { seq: 7, .. })),
        "sequences continue from next_seq"
    );
    assert_eq!(ps.logs(), [journal()]);
}

#[test]
fn a_topic_too_long_for_a_record_is_refused_for_retained_publishes_only() {
    let mut h = Harness::with(PubSubConfig { max_topic_bytes: 70_000, ..Default::default() });
    let topic = "x".repeat(66_000);
    err(&h.retain(9, &topic, b"1"), "Invalid topic: longer than 65535 bytes");
    ok(&h.publish(9, &topic, b"1"));
    assert_eq!(h.log.next_seq, 0);
}
