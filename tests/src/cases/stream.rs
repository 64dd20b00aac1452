//! Stream cases: every v1 command with its exact reply bytes and error words, the fencing order,
//! long-polls, acks in any order with the ack floor, competing members and independent groups,
//! what LEAVE, a seek, a group or topic deletion, a closing connection and shutdown do to waiting
//! FETCHes and pending messages, NACK redelivery and dead letters (LIST_DLQ, REPLAY_DLQ), SEEK_SEQ and
//! SEEK_TIME, DELETE_GROUP, LIST_TOPICS and LIST_GROUPS, and durability: a graceful restart, a
//! `kill -9` under publish load, sequences never reused (also after DELETE and re-CREATE), and
//! retention deleting whole sealed segments.
//!
//! The ack wait (30 s) and the delivery limit (5) have no flags, so redelivery is driven by NACK
//! (at once, or after a delay) and dead-lettering by five NACKs. Time-dependent checks use lower
//! bounds a slow machine cannot break (a delayed redelivery is not served before its delay;
//! retention by age does not delete before the age) and generous upper bounds; the tight one is
//! the spec's "at once" (well under a second) for LEAVE, seeks and closing connections.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use nexo_client::{Client, ClientError, GroupConsumerOptions, GroupMember, SeekTarget};
use nexo_proto::Reply;
use nexo_proto::options::{Retention, StreamOptions};
use nexo_proto::reply::{StreamGroupInfo, StreamMessage, StreamTopicInfo};
use nexo_proto::request::{Request, StreamRequest};

use crate::server::Server;
use crate::wire::{self, Frame, Payload, expect_echo, request};

// Opcodes.
const CREATE: u8 = 0x30;
const PUBLISH: u8 = 0x31;
const FETCH: u8 = 0x32;
const JOIN: u8 = 0x33;
const ACK: u8 = 0x34;
const EXISTS: u8 = 0x35;
const DELETE: u8 = 0x36;
const SEEK: u8 = 0x38;
const LEAVE: u8 = 0x39;
const NACK: u8 = 0x3A;
const SEEK_SEQ: u8 = 0x3B;
const SEEK_TIME: u8 = 0x3C;
const LIST_DLQ: u8 = 0x3D;
const REPLAY_DLQ: u8 = 0x3E;
const DELETE_GROUP: u8 = 0x3F;
const LIST_TOPICS: u8 = 0x70;
const LIST_GROUPS: u8 = 0x71;
const ACK_BATCH: u8 = 0x72;

/// The spec's "at once" for LEAVE, seeks and closing connections ("well under a second").
const AT_ONCE: Duration = Duration::from_secs(1);

/// The engine's defaults for a topic created without retention options: 7 days and 1 GiB.
const DEFAULT_MAX_AGE_MS: u64 = 7 * 24 * 3600 * 1000;
const DEFAULT_MAX_BYTES: u64 = 1 << 30;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn retention(max_age_ms: Option<u64>, max_bytes: Option<u64>) -> StreamOptions {
    StreamOptions { retention: Some(Retention { max_age_ms, max_bytes }) }
}

fn create(c: &mut Client, topic: &str) {
    create_with(c, topic, StreamOptions::default());
}

fn create_with(c: &mut Client, topic: &str, options: StreamOptions) {
    c.create_stream(topic, options).unwrap_or_else(|e| panic!("CREATE {topic}: {e:?}"));
}

fn publish(c: &mut Client, topic: &str, payload: &[u8]) -> u64 {
    c.stream_publish(topic, payload)
        .unwrap_or_else(|e| panic!("PUBLISH {:?} to {topic}: {e:?}", String::from_utf8_lossy(payload)))
}

/// Publishes every payload in one pipeline; returns their sequences in order.
fn publish_many(c: &mut Client, topic: &str, payloads: &[Vec<u8>]) -> Vec<u64> {
    let requests: Vec<Request> = payloads
        .iter()
        .map(|p| {
            Request::Stream(StreamRequest::Publish {
                topic: topic.to_owned(),
                payload: Bytes::copy_from_slice(p),
            })
        })
        .collect();
    let replies = c.pipeline(&requests).unwrap_or_else(|e| panic!("pipelined PUBLISH to {topic}: {e:?}"));
    replies
        .into_iter()
        .enumerate()
        .map(|(i, reply)| match reply {
            Reply::Seq(seq) => seq,
            other => panic!("pipelined PUBLISH #{i} to {topic} answered {other:?}"),
        })
        .collect()
}

/// `<prefix>-0000`, `<prefix>-0001`, … for `range`.
fn numbered(prefix: &str, range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    range.map(|i| format!("{prefix}-{i:04}").into_bytes()).collect()
}

fn join(c: &mut Client, topic: &str, group: &str) -> GroupMember {
    c.join_group(topic, group).unwrap_or_else(|e| panic!("JOIN {group} on {topic}: {e:?}"))
}

fn fetch(c: &mut Client, m: &GroupMember, limit: u32, wait_ms: u32) -> Vec<StreamMessage> {
    c.fetch(m, limit, wait_ms).unwrap_or_else(|e| panic!("FETCH {}/{}: {e:?}", m.topic, m.group))
}

fn ack(c: &mut Client, m: &GroupMember, seq: u64) {
    c.stream_ack(m, seq).unwrap_or_else(|e| panic!("ACK {seq} on {}/{}: {e:?}", m.topic, m.group));
}

fn nack(c: &mut Client, m: &GroupMember, seq: u64, delay_ms: u64) {
    c.stream_nack(m, seq, delay_ms)
        .unwrap_or_else(|e| panic!("NACK {seq} on {}/{}: {e:?}", m.topic, m.group));
}

/// Acks every sequence in one pipeline; each must be answered OK.
fn ack_many(c: &mut Client, m: &GroupMember, seqs: &[u64]) {
    let requests: Vec<Request> = seqs
        .iter()
        .map(|&seq| {
            Request::Stream(StreamRequest::Ack {
                topic: m.topic.clone(),
                group: m.group.clone(),
                consumer_id: m.consumer_id.clone(),
                generation: m.generation,
                seq,
            })
        })
        .collect();
    let replies = c.pipeline(&requests).unwrap_or_else(|e| panic!("pipelined ACK: {e:?}"));
    for (seq, reply) in seqs.iter().zip(&replies) {
        assert_eq!(reply, &Reply::Ok, "pipelined ACK of seq {seq} on {}/{}", m.topic, m.group);
    }
}

/// Fetches (without waiting) and acks until an empty batch; everything in delivery order.
fn drain(c: &mut Client, m: &GroupMember) -> Vec<StreamMessage> {
    let mut all = Vec::new();
    loop {
        let batch = fetch(c, m, 1000, 0);
        if batch.is_empty() {
            return all;
        }
        ack_many(c, m, &seqs(&batch));
        all.extend(batch);
    }
}

fn seqs(ms: &[StreamMessage]) -> Vec<u64> {
    ms.iter().map(|m| m.seq).collect()
}

fn text(m: &StreamMessage) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

fn texts(ms: &[StreamMessage]) -> Vec<String> {
    ms.iter().map(text).collect()
}

/// The ERR text of a typed client call that must fail with one.
fn server_err<T: Debug>(result: nexo_client::Result<T>) -> String {
    match result {
        Err(ClientError::Server(text)) => text,
        other => panic!("expected an ERR reply, got {other:?}"),
    }
}

/// Topic `name` from LIST_TOPICS.
fn topic_info(c: &mut Client, name: &str) -> StreamTopicInfo {
    let (_, list) = c.list_streams(0, 1000).unwrap();
    list.into_iter().find(|t| t.name == name).unwrap_or_else(|| panic!("{name} is not in LIST_TOPICS"))
}

/// Group `group` of `topic` from LIST_GROUPS.
fn group_info(c: &mut Client, topic: &str, group: &str) -> StreamGroupInfo {
    let (_, list) = c.list_groups(topic, 0, 1000).unwrap();
    list.iter()
        .find(|g| g.name == group)
        .cloned()
        .unwrap_or_else(|| panic!("{group} is not in LIST_GROUPS of {topic}: {list:?}"))
}

/// `(ack_floor, lag, pending)` of a group from LIST_GROUPS.
fn floor_lag_pending(c: &mut Client, topic: &str, group: &str) -> (u64, u64, u64) {
    let g = group_info(c, topic, group);
    (g.ack_floor, g.lag, g.pending)
}

/// The ERR texts of FETCH, ACK, NACK and LEAVE by `m` (all four must fail).
fn member_errors(c: &mut Client, m: &GroupMember, seq: u64) -> [String; 4] {
    [
        server_err(c.fetch(m, 10, 0)),
        server_err(c.stream_ack(m, seq)),
        server_err(c.stream_nack(m, seq, 0)),
        server_err(c.leave_group(m)),
    ]
}

// Raw frames.

/// Sends one raw request and returns its response.
fn call(s: &mut TcpStream, op: u8, id: u32, payload: &[u8]) -> Frame {
    wire::send(s, &request(op, id, payload));
    wire::read_response(s, id)
}

/// Sends one raw request and checks the exact reply frame `(status, payload)`.
fn expect_reply(s: &mut TcpStream, op: u8, id: u32, payload: &[u8], status: u8, want: &[u8]) {
    let f = call(s, op, id, payload);
    assert_eq!(
        (f.status, f.payload.as_slice()),
        (status, want),
        "reply to opcode 0x{op:02X} (id {id}): {f:?}"
    );
}

fn topic_p(topic: &str) -> Payload {
    Payload::new().str(topic)
}

/// `str topic`, `str group`, `str consumer_id`, `u64 generation` (LEAVE; ACK and NACK add more).
fn member_p(topic: &str, group: &str, consumer_id: &str, generation: u64) -> Payload {
    Payload::new().str(topic).str(group).str(consumer_id).u64(generation)
}

fn fetch_p(
    topic: &str,
    group: &str,
    consumer_id: &str,
    generation: u64,
    limit: u32,
    wait_ms: u32,
) -> Vec<u8> {
    member_p(topic, group, consumer_id, generation).u32(limit).u32(wait_ms).build()
}

fn be_u32(p: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(p[at..at + 4].try_into().unwrap())
}

fn be_u64(p: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(p[at..at + 8].try_into().unwrap())
}

/// Decodes a JOIN DATA payload exactly: `u64 ack_floor`, `u64 generation`, `str consumer_id`.
fn decode_joined(f: &Frame) -> (u64, u64, String) {
    assert_eq!((f.frame_type, f.status), (wire::RESPONSE, wire::DATA), "JOIN answers DATA: {f:?}");
    let p = &f.payload;
    assert!(p.len() >= 20, "JOIN reply too short: {f:?}");
    let id =
        wire::decode_str(&p[16..]).unwrap_or_else(|| panic!("JOIN consumer_id is not a whole str: {f:?}"));
    (be_u64(p, 0), be_u64(p, 8), id)
}

/// JOINs over a raw connection; returns `(ack_floor, generation, consumer_id)`.
fn raw_join(s: &mut TcpStream, id: u32, topic: &str, group: &str) -> (u64, u64, String) {
    decode_joined(&call(s, JOIN, id, &Payload::new().str(group).str(topic).build()))
}

/// Decodes a FETCH DATA payload exactly: `u32 n`, n × (`u64 seq`, `u64 timestamp_ms`, `u32 len`,
/// payload).
fn decode_fetch(f: &Frame) -> Vec<(u64, u64, Vec<u8>)> {
    assert_eq!((f.frame_type, f.status), (wire::RESPONSE, wire::DATA), "FETCH answers DATA: {f:?}");
    let p = &f.payload;
    let n = be_u32(p, 0) as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (seq, ts, len) = (be_u64(p, at), be_u64(p, at + 8), be_u32(p, at + 16) as usize);
        out.push((seq, ts, p[at + 20..at + 20 + len].to_vec()));
        at += 20 + len;
    }
    assert_eq!(at, p.len(), "FETCH reply has trailing bytes: {f:?}");
    out
}

fn raw_seqs(batch: &[(u64, u64, Vec<u8>)]) -> Vec<u64> {
    batch.iter().map(|(seq, _, _)| *seq).collect()
}

/// Asserts `f` is the empty batch `DATA u32 0` (a FETCH ended early or at its deadline).
fn assert_empty_batch(f: &Frame, what: &str) {
    assert_eq!(
        (f.frame_type, f.status, f.payload.as_slice()),
        (wire::RESPONSE, wire::DATA, &[0u8, 0, 0, 0][..]),
        "{what}: expected an empty batch (DATA n=0), got {f:?}"
    );
}

/// Asserts nothing arrives on `s` for `d` (a parked FETCH is still parked).
fn assert_silent(s: &mut TcpStream, d: Duration, what: &str) {
    if let Ok(f) = wire::try_read_frame(s, d) {
        panic!("{what}: expected no reply yet, got {f:?}");
    }
}

/// A 1 MiB payload whose first 8 bytes are `i`.
fn big_payload(i: u64) -> Vec<u8> {
    let mut p = vec![b'.'; 1 << 20];
    p[..8].copy_from_slice(&i.to_be_bytes());
    p
}

// ---------------------------------------------------------------------------------------------
// v1 commands and extensions on the wire
// ---------------------------------------------------------------------------------------------

/// Every Stream opcode over raw frames with the exact reply bytes: CREATE (idempotent), EXISTS
/// (`Stream not found`), PUBLISH (DATA `u64 seq` from 1), JOIN (group first; DATA `u64 ack_floor`,
/// `u64 generation`, `str consumer_id`), FETCH (exact layout, limit, limit 0 = 1, empty batch),
/// ACK (`seq N not pending`), NACK, SEEK (`Invalid seek target: N`, generation bump), SEEK_SEQ
/// and SEEK_TIME (DATA `u64`), LIST_DLQ, REPLAY_DLQ, LIST_TOPICS, LIST_GROUPS, LEAVE,
/// DELETE_GROUP, DELETE, and the unassigned `0x37` and `0x73` (ACK_BATCH, `0x72`, has a case of
/// its own).
pub fn stream_v1_wire_bytes(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    let t = || topic_p("wire");
    let create_json = r#"{"retention":{"maxAgeMs":60000,"maxBytes":1048576}}"#;
    expect_reply(&mut s, CREATE, 1, &t().json(create_json).build(), wire::OK, b"");
    expect_reply(&mut s, CREATE, 2, &t().json("{}").build(), wire::OK, b"");
    expect_reply(&mut s, EXISTS, 3, &t().build(), wire::OK, b"");
    assert_eq!(call(&mut s, EXISTS, 4, &topic_p("ghost").build()).err_text(), "Stream not found");

    let before = now_ms();
    expect_reply(&mut s, PUBLISH, 5, &t().raw(b"\x00\xFFraw").build(), wire::DATA, &1u64.to_be_bytes());
    expect_reply(&mut s, PUBLISH, 6, &t().raw(b"\x01two").build(), wire::DATA, &2u64.to_be_bytes());
    expect_reply(&mut s, PUBLISH, 7, &t().build(), wire::DATA, &3u64.to_be_bytes());
    let after = now_ms();
    assert_eq!(call(&mut s, PUBLISH, 8, &topic_p("ghost").raw(b"x").build()).err_text(), "Topic not found");

    // JOIN takes the group first: (group "wire", topic "g") names a missing topic.
    let swapped = Payload::new().str("wire").str("g").build();
    assert_eq!(call(&mut s, JOIN, 9, &swapped).err_text(), "Topic not found", "JOIN is group first");
    let f = call(&mut s, JOIN, 10, &Payload::new().str("g").str("wire").build());
    let (floor, generation, cid) = decode_joined(&f);
    assert_eq!((floor, generation), (0, 1), "a new group starts at the oldest message, generation 1");
    assert!(
        cid.len() == 16 && cid.bytes().all(|b| b.is_ascii_hexdigit()),
        "consumer_id should be 16 hex digits: {cid:?}"
    );
    assert_eq!(f.payload.len(), 8 + 8 + 4 + cid.len(), "exact JOIN layout");

    // FETCH with a limit, exact layout, payloads verbatim, wall-clock timestamps.
    let f = call(&mut s, FETCH, 11, &fetch_p("wire", "g", &cid, generation, 2, 0));
    let batch = decode_fetch(&f);
    assert_eq!(raw_seqs(&batch), [1, 2], "limit 2");
    assert_eq!((batch[0].2.as_slice(), batch[1].2.as_slice()), (&b"\x00\xFFraw"[..], &b"\x01two"[..]));
    assert_eq!(f.payload.len(), 4 + 2 * 20 + 5 + 4, "exact FETCH layout: {f:?}");
    for (seq, ts, _) in &batch {
        assert!((before..=after).contains(ts), "seq {seq}: timestamp {ts} outside [{before}, {after}]");
    }
    assert!(batch[0].1 <= batch[1].1, "timestamps never decrease");
    let f = call(&mut s, FETCH, 12, &fetch_p("wire", "g", &cid, generation, 0, 0));
    let third = decode_fetch(&f);
    assert_eq!(raw_seqs(&third), [3], "limit 0 counts as 1");
    assert_eq!(third[0].2, b"", "an empty payload");
    let f = call(&mut s, FETCH, 13, &fetch_p("wire", "g", &cid, generation, 10, 0));
    assert_empty_batch(&f, "nothing left without waiting");

    // ACK in any order; a second ACK is `seq N not pending`.
    let ack_p = |seq: u64| member_p("wire", "g", &cid, generation).u64(seq).build();
    expect_reply(&mut s, ACK, 14, &ack_p(2), wire::OK, b"");
    assert_eq!(call(&mut s, ACK, 15, &ack_p(2)).err_text(), "seq 2 not pending");
    assert_eq!(call(&mut s, ACK, 16, &ack_p(99)).err_text(), "seq 99 not pending");
    // NACK (extension) with delay 0: redelivered at once.
    let nack_p = |seq: u64, delay: u64| member_p("wire", "g", &cid, generation).u64(seq).u64(delay).build();
    expect_reply(&mut s, NACK, 17, &nack_p(3, 0), wire::OK, b"");
    assert_eq!(call(&mut s, NACK, 18, &nack_p(3, 0)).err_text(), "seq 3 not pending");
    let f = call(&mut s, FETCH, 19, &fetch_p("wire", "g", &cid, generation, 10, 0));
    assert_eq!(raw_seqs(&decode_fetch(&f)), [3], "a NACK with delay 0 redelivers at once");
    expect_reply(&mut s, ACK, 20, &ack_p(3), wire::OK, b"");
    let groups_p = || topic_p("wire").u32(0).u32(10).build();
    // floor 0 while seq 1 is pending: 2 and 3 are acked above it.
    let want = Payload::new().u32(1).u32(1).str("g").u64(1).u64(0).u64(3).u64(1).u32(1).u32(0).build();
    expect_reply(&mut s, LIST_GROUPS, 21, &groups_p(), wire::DATA, &want);
    expect_reply(&mut s, ACK, 22, &ack_p(1), wire::OK, b"");
    // LIST_GROUPS: total, n, (name, generation, ack_floor, lag, pending, members, dead).
    let want = Payload::new().u32(1).u32(1).str("g").u64(1).u64(3).u64(0).u64(0).u32(1).u32(0).build();
    expect_reply(&mut s, LIST_GROUPS, 23, &groups_p(), wire::DATA, &want);
    // LIST_TOPICS: total, n, (name, first_seq, last_seq, max_age_ms, max_bytes, groups).
    let want = Payload::new().u32(1).u32(1).str("wire").u64(1).u64(3).u64(60_000).u64(1 << 20).u32(1).build();
    expect_reply(&mut s, LIST_TOPICS, 24, &Payload::new().u32(0).u32(10).build(), wire::DATA, &want);

    // SEEK: bad targets, a missing topic, then the beginning (generation 2, the old member fenced).
    let seek_p = |target: u8| t().str("g").raw([target]).build();
    assert_eq!(call(&mut s, SEEK, 25, &seek_p(2)).err_text(), "Invalid seek target: 2");
    assert_eq!(call(&mut s, SEEK, 26, &seek_p(255)).err_text(), "Invalid seek target: 255");
    let ghost_seek = topic_p("ghost").str("g").raw([0u8]).build();
    assert_eq!(call(&mut s, SEEK, 27, &ghost_seek).err_text(), "Topic not found");
    expect_reply(&mut s, SEEK, 28, &seek_p(0), wire::OK, b"");
    let f = call(&mut s, FETCH, 29, &fetch_p("wire", "g", &cid, generation, 10, 0));
    assert_eq!(f.err_text(), "FENCED", "the member of generation 1 after a seek");
    let (floor, generation, cid) = raw_join(&mut s, 30, "wire", "g");
    assert_eq!((floor, generation), (0, 2), "SEEK 0 moves to the beginning and bumps the generation");
    let f = call(&mut s, FETCH, 31, &fetch_p("wire", "g", &cid, generation, 10, 0));
    assert_eq!(raw_seqs(&decode_fetch(&f)), [1, 2, 3], "everything again after SEEK 0");
    // SEEK 1: to the end.
    expect_reply(&mut s, SEEK, 32, &seek_p(1), wire::OK, b"");
    let (floor, generation, cid) = raw_join(&mut s, 33, "wire", "g");
    assert_eq!((floor, generation), (3, 3), "SEEK 1 moves past the newest message");
    let f = call(&mut s, FETCH, 34, &fetch_p("wire", "g", &cid, generation, 10, 0));
    assert_empty_batch(&f, "after SEEK 1");
    expect_reply(&mut s, PUBLISH, 35, &t().raw(b"four").build(), wire::DATA, &4u64.to_be_bytes());
    let f = call(&mut s, FETCH, 36, &fetch_p("wire", "g", &cid, generation, 10, 0));
    assert_eq!(raw_seqs(&decode_fetch(&f)), [4], "only what came after SEEK 1");

    // SEEK_SEQ and SEEK_TIME (extensions): DATA u64, the first sequence the group gets.
    expect_reply(&mut s, SEEK_SEQ, 37, &t().str("g").u64(2).build(), wire::DATA, &2u64.to_be_bytes());
    let (floor, generation, _) = raw_join(&mut s, 38, "wire", "g");
    assert_eq!((floor, generation), (1, 4), "SEEK_SEQ 2");
    expect_reply(&mut s, SEEK_TIME, 39, &t().str("g").u64(0).build(), wire::DATA, &1u64.to_be_bytes());
    let future = now_ms() + 3_600_000;
    expect_reply(&mut s, SEEK_TIME, 40, &t().str("g").u64(future).build(), wire::DATA, &5u64.to_be_bytes());
    let (floor, generation, cid) = raw_join(&mut s, 41, "wire", "g");
    assert_eq!((floor, generation), (4, 6), "two SEEK_TIMEs, the last to after the newest");

    // LIST_DLQ (`u32 total`, `u32 n`) and REPLAY_DLQ (`u32`) with nothing dead.
    expect_reply(&mut s, LIST_DLQ, 42, &t().str("g").u32(0).u32(10).build(), wire::DATA, &[0; 8]);
    expect_reply(&mut s, REPLAY_DLQ, 43, &t().str("g").u64(0).build(), wire::DATA, &[0; 4]);

    // LEAVE, then the member is gone.
    let leave_p = member_p("wire", "g", &cid, generation).build();
    expect_reply(&mut s, LEAVE, 44, &leave_p, wire::OK, b"");
    assert_eq!(call(&mut s, LEAVE, 45, &leave_p).err_text(), "NOT_MEMBER");

    // DELETE_GROUP (extension): OK, also for a missing group.
    expect_reply(&mut s, DELETE_GROUP, 46, &t().str("g").build(), wire::OK, b"");
    expect_reply(&mut s, DELETE_GROUP, 47, &t().str("g").build(), wire::OK, b"");
    expect_reply(&mut s, LIST_GROUPS, 48, &groups_p(), wire::DATA, &[0; 8]);

    // 0x37 stays unassigned (older SDKs' NACK); 0x73 is the first free extension code.
    assert_eq!(call(&mut s, 0x37, 49, &t().build()).err_text(), "Unknown Stream opcode: 0x37");
    assert_eq!(call(&mut s, 0x73, 50, &t().build()).err_text(), "Unknown Stream opcode: 0x73");

    // DELETE: OK, also for a missing topic.
    expect_reply(&mut s, DELETE, 51, &t().build(), wire::OK, b"");
    expect_reply(&mut s, DELETE, 52, &t().build(), wire::OK, b"");
    expect_reply(&mut s, DELETE, 53, &topic_p("never-existed").build(), wire::OK, b"");
    assert_eq!(call(&mut s, EXISTS, 54, &t().build()).err_text(), "Stream not found");
    expect_reply(&mut s, LIST_TOPICS, 55, &Payload::new().u32(0).u32(10).build(), wire::DATA, &[0; 8]);
    expect_echo(&mut s, 56);
}

/// CREATE is idempotent (an existing topic keeps its retention); missing retention fields take
/// the defaults (7 days, 1 GiB), `0` means unlimited, and LIST_TOPICS reports them; invalid
/// names and bad JSON are refused and create nothing.
pub fn stream_create_and_retention_options(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    assert!(!c.stream_exists("orders").unwrap());
    create_with(&mut c, "orders", retention(Some(60_000), Some(1 << 20)));
    assert!(c.stream_exists("orders").unwrap());
    assert_eq!(publish(&mut c, "orders", b"first"), 1);
    // Idempotent: other options change nothing, and the topic keeps its messages.
    create_with(&mut c, "orders", retention(Some(1), Some(1)));
    create(&mut c, "orders");
    assert_eq!(publish(&mut c, "orders", b"second"), 2);
    create(&mut c, "defaults");
    create_with(&mut c, "unlimited", retention(Some(0), Some(0)));
    create_with(&mut c, "age-only", retention(Some(5000), None));
    create_with(&mut c, "bytes-only", retention(None, Some(12_345)));

    let (total, list) = c.list_streams(0, 100).unwrap();
    let got: Vec<(&str, u64, u64, u64, u64, u32)> = list
        .iter()
        .map(|t| (t.name.as_str(), t.first_seq, t.last_seq, t.max_age_ms, t.max_bytes, t.groups))
        .collect();
    assert_eq!(total, 5);
    assert_eq!(
        got,
        [
            ("age-only", 1, 0, 5000, DEFAULT_MAX_BYTES, 0),
            ("bytes-only", 1, 0, DEFAULT_MAX_AGE_MS, 12_345, 0),
            ("defaults", 1, 0, DEFAULT_MAX_AGE_MS, DEFAULT_MAX_BYTES, 0),
            ("orders", 1, 2, 60_000, 1 << 20, 0),
            ("unlimited", 1, 0, 0, 0, 0),
        ],
        "LIST_TOPICS by name with (first_seq, last_seq, max_age_ms, max_bytes, groups)"
    );

    // Invalid names: CREATE and JOIN (the group name) refuse them.
    let long = "x".repeat(201);
    for (name, why) in [
        ("", "Invalid name: empty"),
        ("a/b", "Invalid name: contains a path separator"),
        ("..", "Invalid name: '.' and '..' are reserved"),
        ("a\nb", "Invalid name: contains a control character"),
        (long.as_str(), "Invalid name: longer than 200 bytes"),
    ] {
        assert_eq!(server_err(c.create_stream(name, StreamOptions::default())), why, "CREATE {name:?}");
        assert_eq!(server_err(c.join_group("orders", name)), why, "JOIN with group {name:?}");
    }
    create(&mut c, &"y".repeat(200));
    assert!(c.stream_exists(&"y".repeat(200)).unwrap(), "200 bytes is a valid name");

    // Bad JSON options.
    let mut s = server.raw();
    let f = call(&mut s, CREATE, 1, &topic_p("bad").json("{").build());
    assert!(f.err_text().starts_with("Invalid JSON options: "), "{f:?}");
    let f = call(&mut s, CREATE, 2, &topic_p("bad").json(r#"{"retention":{"maxAgeMs":"soon"}}"#).build());
    assert!(f.err_text().starts_with("Invalid JSON options: "), "{f:?}");
    assert_eq!(call(&mut s, EXISTS, 3, &topic_p("bad").build()).err_text(), "Stream not found");
    assert_eq!(c.list_streams(0, 100).unwrap().0, 6, "nothing else was created");
    expect_echo(&mut s, 4);
}

// ---------------------------------------------------------------------------------------------
// FETCH, ACK, fencing
// ---------------------------------------------------------------------------------------------

/// FETCH `limit` (0 counts as 1, above 1000 clamped); long-polls: other requests on the same
/// connection are answered while one waits, a publish from another connection answers it at
/// once, an empty batch comes at the deadline and not before, and waiting members of a group
/// are served in arrival order.
pub fn stream_fetch_limit_and_long_poll(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "lp");
    let payloads = numbered("m", 0..1200);
    assert_eq!(publish_many(&mut c, "lp", &payloads), (1..=1200).collect::<Vec<u64>>(), "seqs from 1");
    let m = join(&mut c, "lp", "limits");
    assert_eq!(seqs(&fetch(&mut c, &m, 3, 0)), [1, 2, 3]);
    assert_eq!(seqs(&fetch(&mut c, &m, 0, 0)), [4], "limit 0 counts as 1");
    let big = fetch(&mut c, &m, 5000, 0);
    assert_eq!(seqs(&big), (5..=1004).collect::<Vec<u64>>(), "limit 5000 is clamped to 1000");
    assert_eq!(text(&big[0]), "m-0004");
    let rest = fetch(&mut c, &m, u32::MAX, 0);
    assert_eq!(seqs(&rest), (1005..=1200).collect::<Vec<u64>>());
    assert!(fetch(&mut c, &m, 10, 0).is_empty());
    assert_eq!(floor_lag_pending(&mut c, "lp", "limits"), (0, 1200, 1200));

    // A long-poll on a group positioned at the end.
    c.seek_group("lp", "poll", SeekTarget::End).unwrap();
    let mut a = server.raw();
    let (floor, generation, cid) = raw_join(&mut a, 1, "lp", "poll");
    assert_eq!((floor, generation), (1200, 1));
    wire::send(&mut a, &request(FETCH, 2, &fetch_p("lp", "poll", &cid, generation, 10, 20_000)));
    // Requests after the waiting FETCH are answered meanwhile.
    expect_reply(&mut a, EXISTS, 3, &topic_p("lp").build(), wire::OK, b"");
    expect_echo(&mut a, 4);
    let f = call(&mut a, LIST_GROUPS, 5, &topic_p("lp").u32(0).u32(10).build());
    assert_eq!(f.status, wire::DATA, "{f:?}");
    assert_silent(&mut a, Duration::from_millis(300), "FETCH with nothing to deliver");
    let pushed = Instant::now();
    assert_eq!(publish(&mut c, "lp", b"wake"), 1201);
    let f = wire::read_response(&mut a, 2);
    let took = pushed.elapsed();
    let batch = decode_fetch(&f);
    assert_eq!((raw_seqs(&batch), batch[0].2.as_slice()), (vec![1201], &b"wake"[..]));
    assert!(took < Duration::from_secs(2), "a waiting FETCH took {took:?} to see a publish");

    // The deadline: an empty batch, not before wait_ms.
    let started = Instant::now();
    let f = call(&mut a, FETCH, 6, &fetch_p("lp", "poll", &cid, generation, 10, 600));
    let took = started.elapsed();
    assert_empty_batch(&f, "a FETCH at its deadline");
    assert!(took >= Duration::from_millis(590), "a 600 ms long-poll answered after {took:?}");
    assert!(took < Duration::from_secs(5), "a 600 ms long-poll answered after {took:?}");
    let member = join(&mut c, "lp", "poll");
    let started = Instant::now();
    assert!(fetch(&mut c, &member, 10, 300).is_empty(), "1201 is pending with the other member");
    assert!(started.elapsed() >= Duration::from_millis(290));

    // Arrival order: B waits before D (the ECHO reply proves B's FETCH was taken in).
    let mut b = server.raw();
    let (_, _, b_id) = raw_join(&mut b, 10, "lp", "poll");
    wire::send(&mut b, &request(FETCH, 11, &fetch_p("lp", "poll", &b_id, generation, 10, 20_000)));
    expect_echo(&mut b, 12);
    let mut d = server.raw();
    let (_, _, d_id) = raw_join(&mut d, 20, "lp", "poll");
    wire::send(&mut d, &request(FETCH, 21, &fetch_p("lp", "poll", &d_id, generation, 10, 20_000)));
    expect_echo(&mut d, 22);
    assert_eq!(publish(&mut c, "lp", b"first"), 1202);
    assert_eq!(raw_seqs(&decode_fetch(&wire::read_response(&mut b, 11))), [1202], "the first waiter first");
    assert_silent(&mut d, Duration::from_millis(300), "the second waiting FETCH");
    assert_eq!(publish(&mut c, "lp", b"second"), 1203);
    assert_eq!(raw_seqs(&decode_fetch(&wire::read_response(&mut d, 21))), [1203]);
}

/// ACK in any order; the group's ack floor advances over the contiguous acked prefix, as a
/// re-JOIN's `ack_floor` and LIST_GROUPS show; an ACK of a sequence not pending is
/// `seq N not pending`.
pub fn stream_ack_any_order_floor(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    let mut observer = server.client();
    create(&mut c, "acks");
    publish_many(&mut c, "acks", &numbered("a", 0..8));
    let m = join(&mut c, "acks", "g");
    assert_eq!(m.ack_floor, 0);
    assert_eq!(seqs(&fetch(&mut c, &m, 8, 0)), (1..=8).collect::<Vec<u64>>());
    let mut check = |c: &mut Client, acked: u64, floor: u64, pending: u64| {
        ack(c, &m, acked);
        assert_eq!(join(&mut observer, "acks", "g").ack_floor, floor, "re-JOIN after acking {acked}");
        assert_eq!(
            floor_lag_pending(&mut observer, "acks", "g"),
            (floor, 8 - floor, pending),
            "LIST_GROUPS (floor, lag, pending) after acking {acked}"
        );
    };
    check(&mut c, 3, 0, 7);
    check(&mut c, 5, 0, 6);
    check(&mut c, 1, 1, 5);
    check(&mut c, 2, 3, 4);
    check(&mut c, 4, 5, 3);
    check(&mut c, 8, 5, 2);
    check(&mut c, 7, 5, 1);
    check(&mut c, 6, 8, 0);
    for seq in [6, 1, 0, 9] {
        assert_eq!(server_err(c.stream_ack(&m, seq)), format!("seq {seq} not pending"));
    }
    assert_eq!(publish(&mut c, "acks", b"ninth"), 9);
    assert_eq!(seqs(&fetch(&mut c, &m, 10, 0)), [9], "acked messages are not delivered again");
    assert_eq!(group_info(&mut c, "acks", "g").members, 9, "the member and eight re-JOINs");
}

/// `str topic`, `str group`, `str consumer_id`, `u64 generation`, `u32 n`, n × `u64 seq`.
fn ack_batch_p(topic: &str, group: &str, consumer_id: &str, generation: u64, seqs: &[u64]) -> Vec<u8> {
    let p = member_p(topic, group, consumer_id, generation).u32(seqs.len() as u32);
    seqs.iter().fold(p, |p, &seq| p.u64(seq)).build()
}

/// ACK_BATCH (extension, `0x72`) over raw frames: the exact reply `DATA u32` (how many were
/// acknowledged); lenient counting (sequences acked already, pending with another member, never
/// delivered, unknown or named twice are skipped, not errors, while ACK stays strict); the
/// group's ack floor and pending count in LIST_GROUPS (exact bytes) after each batch; the
/// fencing errors with the texts and order of ACK; malformed payloads (n beyond the bytes
/// present, trailing bytes, more sequences than a FETCH may return) answered ERR with the
/// connection still working; acks kept across a restart; and the client's `stream_ack_batch`.
pub fn stream_ack_batch(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    let mut other = server.raw();
    expect_reply(&mut s, CREATE, 1, &topic_p("ab").json("{}").build(), wire::OK, b"");
    for seq in 1..=6u64 {
        let body = topic_p("ab").raw(format!("m{seq}")).build();
        expect_reply(&mut s, PUBLISH, 1 + seq as u32, &body, wire::DATA, &seq.to_be_bytes());
    }
    let (_, generation, cid) = raw_join(&mut s, 10, "ab", "g");
    let (_, _, other_cid) = raw_join(&mut other, 11, "ab", "g");
    let f = call(&mut s, FETCH, 12, &fetch_p("ab", "g", &cid, generation, 4, 0));
    assert_eq!(raw_seqs(&decode_fetch(&f)), [1, 2, 3, 4]);
    let f = call(&mut other, FETCH, 13, &fetch_p("ab", "g", &other_cid, generation, 1, 0));
    assert_eq!(raw_seqs(&decode_fetch(&f)), [5]);
    let batch = |cid: &str, seqs: &[u64]| ack_batch_p("ab", "g", cid, generation, seqs);
    // LIST_GROUPS: total, n, (name, generation, ack_floor, lag, pending, members, dead).
    let groups = |s: &mut TcpStream, id: u32, floor: u64, pending: u64| {
        let want = Payload::new().u32(1).u32(1).str("g").u64(generation).u64(floor);
        let want = want.u64(6 - floor).u64(pending).u32(2).u32(0).build();
        expect_reply(s, LIST_GROUPS, id, &topic_p("ab").u32(0).u32(10).build(), wire::DATA, &want);
    };
    groups(&mut s, 14, 0, 5);

    // Exact reply: DATA u32, the number acknowledged.
    expect_reply(&mut s, ACK_BATCH, 20, &batch(&cid, &[4, 2]), wire::DATA, &2u32.to_be_bytes());
    groups(&mut s, 21, 0, 3);
    // Lenient: 2 acked already, 5 pending with the other member, 6 never delivered, 99 unknown,
    // 3 named twice: only 3 counts, and nothing is an error.
    let lenient = batch(&cid, &[2, 5, 6, 99, 3, 3]);
    expect_reply(&mut s, ACK_BATCH, 22, &lenient, wire::DATA, &1u32.to_be_bytes());
    groups(&mut s, 23, 0, 2);
    // ACK stays strict about the same sequences.
    let ack_p = |cid: &str, seq: u64| member_p("ab", "g", cid, generation).u64(seq).build();
    assert_eq!(call(&mut s, ACK, 24, &ack_p(&cid, 3)).err_text(), "seq 3 not pending");
    assert_eq!(call(&mut s, ACK, 25, &ack_p(&cid, 5)).err_text(), "NOT_OWNER");
    // The floor advances over the acked prefix: 1 closes the gap up to 4.
    expect_reply(&mut s, ACK_BATCH, 26, &batch(&cid, &[1]), wire::DATA, &1u32.to_be_bytes());
    groups(&mut s, 27, 4, 1);
    expect_reply(&mut other, ACK_BATCH, 28, &batch(&other_cid, &[5]), wire::DATA, &1u32.to_be_bytes());
    groups(&mut s, 29, 5, 0);
    expect_reply(&mut s, ACK_BATCH, 30, &batch(&cid, &[]), wire::DATA, &0u32.to_be_bytes());

    // Fencing: the texts and order of ACK (FENCED before NOT_MEMBER, missing topic and group
    // first), whatever the sequences.
    let fenced = [
        ("ghost", "g", cid.as_str(), generation, "Topic not found"),
        ("ab", "nope", cid.as_str(), generation, "Group not found"),
        ("ab", "g", cid.as_str(), generation + 1, "FENCED"),
        ("ab", "g", "nobody", generation + 7, "FENCED"),
        ("ab", "g", "nobody", generation, "NOT_MEMBER"),
    ];
    for (i, (topic, group, who, gen_, want)) in fenced.into_iter().enumerate() {
        let id = 40 + 2 * i as u32;
        let single = member_p(topic, group, who, gen_).u64(6).build();
        assert_eq!(call(&mut s, ACK, id, &single).err_text(), want, "ACK as {who}/{gen_} on {topic}/{group}");
        let f = call(&mut s, ACK_BATCH, id + 1, &ack_batch_p(topic, group, who, gen_, &[6]));
        assert_eq!(f.err_text(), want, "ACK_BATCH as {who}/{gen_} on {topic}/{group}");
    }

    // Malformed payloads: ERR with a precise text, and the connection keeps working.
    let short = member_p("ab", "g", &cid, generation).u32(3).u64(6).build();
    let f = call(&mut s, ACK_BATCH, 60, &short);
    assert_eq!(f.err_text(), "Invalid ACK_BATCH: 3 seqs need 24 bytes, 8 remain");
    let huge = member_p("ab", "g", &cid, generation).u32(u32::MAX).build();
    let f = call(&mut s, ACK_BATCH, 61, &huge);
    assert_eq!(f.err_text(), "Invalid ACK_BATCH: 4294967295 seqs need 34359738360 bytes, 0 remain");
    let trailing = member_p("ab", "g", &cid, generation).u32(1).u64(6).raw([0u8]).build();
    let f = call(&mut s, ACK_BATCH, 62, &trailing);
    assert_eq!(f.err_text(), "Invalid ACK_BATCH: 1 seqs need 8 bytes, 9 remain");
    let too_many: Vec<u64> = (1..=1001).collect();
    let f = call(&mut s, ACK_BATCH, 63, &batch(&cid, &too_many));
    assert_eq!(f.err_text(), "Invalid ACK_BATCH: 1001 seqs (max 1000)", "at most a FETCH's maximum");
    let cut = member_p("ab", "g", &cid, generation).build();
    assert_eq!(call(&mut s, ACK_BATCH, 64, &cut).err_text(), "Payload too short for u32");
    expect_echo(&mut s, 65);
    let f = call(&mut s, FETCH, 66, &fetch_p("ab", "g", &cid, generation, 10, 0));
    assert_eq!(raw_seqs(&decode_fetch(&f)), [6], "the refused batches acknowledged nothing");
    let all: Vec<u64> = (1..=1000).collect();
    expect_reply(&mut s, ACK_BATCH, 67, &batch(&cid, &all), wire::DATA, &1u32.to_be_bytes());
    groups(&mut s, 68, 6, 0);
    drop((s, other));

    // The acknowledgements are journaled: a restart keeps the floor.
    let server = server.restart();
    let mut c = server.client();
    let m = join(&mut c, "ab", "g");
    assert_eq!(m.ack_floor, 6, "acks by ACK_BATCH survive a restart");
    assert_eq!(publish(&mut c, "ab", b"seven"), 7);
    assert_eq!(seqs(&fetch(&mut c, &m, 10, 0)), [7]);
    assert_eq!(c.stream_ack_batch(&m, &[7, 7, 1]).unwrap(), 1, "the client's ACK_BATCH");
    assert_eq!(floor_lag_pending(&mut c, "ab", "g"), (7, 0, 0));
    let stale = GroupMember { generation: m.generation + 1, ..m.clone() };
    assert_eq!(server_err(c.stream_ack_batch(&stale, &[7])), "FENCED");
}

/// The checks of FETCH, ACK, NACK and LEAVE in the spec's order: `Topic not found`,
/// `Group not found`, `FENCED` (any generation but the group's, before the member check),
/// `NOT_MEMBER`; then for ACK/NACK `NOT_OWNER` (pending with another member) and
/// `seq N not pending`.
pub fn stream_fencing_order(bin: &Path) {
    let server = Server::start(bin);
    let mut c1 = server.client();
    let mut c2 = server.client();
    create(&mut c1, "f");
    publish_many(&mut c1, "f", &numbered("f", 0..3));
    let a = join(&mut c1, "f", "g");
    let b = join(&mut c2, "f", "g");
    assert_eq!(a.generation, 1);
    assert_ne!(a.consumer_id, b.consumer_id, "consumer ids are unique in a group");
    assert_eq!(seqs(&fetch(&mut c1, &a, 1, 0)), [1]);

    // NOT_OWNER: pending with the other member; `seq N not pending`: not delivered.
    assert_eq!(server_err(c2.stream_ack(&b, 1)), "NOT_OWNER");
    assert_eq!(server_err(c2.stream_nack(&b, 1, 0)), "NOT_OWNER");
    assert_eq!(server_err(c2.stream_ack(&b, 2)), "seq 2 not pending");
    assert_eq!(server_err(c2.stream_nack(&b, 2, 0)), "seq 2 not pending");

    let with = |m: &GroupMember, topic: &str, group: &str, id: &str, generation: u64| GroupMember {
        topic: topic.to_owned(),
        group: group.to_owned(),
        consumer_id: id.to_owned(),
        generation,
        ack_floor: m.ack_floor,
    };
    let all = |text: &str| [text.to_owned(), text.to_owned(), text.to_owned(), text.to_owned()];
    let cases = [
        (with(&a, "ghost", "g", &a.consumer_id, 1), "Topic not found"),
        (with(&a, "ghost", "nope", "nobody", 9), "Topic not found"),
        (with(&a, "f", "nope", &a.consumer_id, 1), "Group not found"),
        (with(&a, "f", "nope", "nobody", 9), "Group not found"),
        (with(&a, "f", "g", &a.consumer_id, 2), "FENCED"),
        (with(&a, "f", "g", &a.consumer_id, 0), "FENCED"),
        (with(&a, "f", "g", "nobody", 7), "FENCED"),
        (with(&a, "f", "g", "nobody", 1), "NOT_MEMBER"),
    ];
    for (m, want) in &cases {
        assert_eq!(member_errors(&mut c2, m, 1), all(want), "{m:?}");
    }
    // A stale generation beats NOT_OWNER.
    assert_eq!(server_err(c2.stream_ack(&with(&b, "f", "g", &b.consumer_id, 5), 1)), "FENCED");

    // After a seek: the old members are fenced; their ids with the new generation are not members.
    c2.seek_group("f", "g", SeekTarget::Beginning).unwrap();
    assert_eq!(member_errors(&mut c1, &a, 1), all("FENCED"), "a member of generation 1 after a seek");
    assert_eq!(member_errors(&mut c2, &b, 1), all("FENCED"));
    let a_new = with(&a, "f", "g", &a.consumer_id, 2);
    assert_eq!(member_errors(&mut c1, &a_new, 1), all("NOT_MEMBER"), "a seek removes the members");
    // Re-joining works; the seek forgot what was pending.
    let a2 = join(&mut c1, "f", "g");
    assert_eq!((a2.generation, a2.ack_floor), (2, 0));
    assert_eq!(seqs(&fetch(&mut c1, &a2, 10, 0)), [1, 2, 3]);
    ack(&mut c1, &a2, 2);
    let b2 = join(&mut c2, "f", "g");
    assert_eq!(server_err(c2.stream_ack(&b2, 1)), "NOT_OWNER");
    assert_eq!(server_err(c2.stream_ack(&b2, 2)), "seq 2 not pending", "acked already");
    c1.leave_group(&a2).unwrap();
    assert_eq!(member_errors(&mut c1, &a2, 1), all("NOT_MEMBER"), "after LEAVE");
}

// ---------------------------------------------------------------------------------------------
// Groups and members
// ---------------------------------------------------------------------------------------------

/// Two groups consuming concurrently (the client's `consume_group`) while messages are
/// published each get every message once, in order; a group joined afterwards starts at the
/// oldest message and gets everything too.
pub fn stream_two_groups_each_get_everything(bin: &Path) {
    const PRE: usize = 100;
    const TOTAL: usize = 300;
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "fan");
    let mut payloads = numbered("pre", 0..PRE);
    payloads.extend(numbered("live", PRE..TOTAL));
    publish_many(&mut c, "fan", &payloads[..PRE]);

    let deadline = Instant::now() + Duration::from_secs(60);
    let mut handles = Vec::new();
    for group in ["alpha", "beta"] {
        let mut client = server.client();
        handles.push(thread::spawn(move || {
            let got = Mutex::new(Vec::<(u64, String)>::new());
            let options = GroupConsumerOptions { limit: 16, wait_ms: 200, nack_delay_ms: 0 };
            let stats = client
                .consume_group(
                    "fan",
                    group,
                    options,
                    |m| {
                        got.lock().unwrap().push((m.seq, text(m)));
                        Ok(())
                    },
                    || got.lock().unwrap().len() >= TOTAL || Instant::now() > deadline,
                )
                .unwrap_or_else(|e| panic!("consume_group {group}: {e:?}"));
            (group, stats, got.into_inner().unwrap())
        }));
    }
    for (i, p) in payloads[PRE..].iter().enumerate() {
        assert_eq!(publish(&mut c, "fan", p), (PRE + i + 1) as u64);
    }
    let want: Vec<(u64, String)> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| ((i + 1) as u64, String::from_utf8(p.clone()).unwrap()))
        .collect();
    for h in handles {
        let (group, stats, got) = h.join().unwrap();
        assert_eq!(got, want, "group {group} gets every message once, in order");
        assert_eq!(
            (stats.acked, stats.nacked, stats.lost, stats.rejoins),
            (TOTAL as u64, 0, 0, 0),
            "{group}"
        );
        let g = group_info(&mut c, "fan", group);
        assert_eq!((g.ack_floor, g.lag, g.pending, g.members), (TOTAL as u64, 0, 0, 0), "{group} left");
    }
    let late = join(&mut c, "fan", "gamma");
    assert_eq!(late.ack_floor, 0, "a new group starts at the oldest message");
    let all = drain(&mut c, &late);
    assert_eq!(all.iter().map(|m| (m.seq, text(m))).collect::<Vec<_>>(), want);
}

/// Two members of one group fetching concurrently while messages are published: the union of
/// what they got is every message, the intersection is empty, each got its share in order.
pub fn stream_group_members_never_overlap(bin: &Path) {
    const N: u64 = 400;
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "work");
    let total = Arc::new(AtomicUsize::new(0));
    let ready = Arc::new(Barrier::new(3));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut handles = Vec::new();
    for _ in 0..2 {
        let mut client = server.client();
        let (total, ready) = (total.clone(), ready.clone());
        handles.push(thread::spawn(move || {
            let m = join(&mut client, "work", "crew");
            ready.wait();
            let mut got = Vec::new();
            while total.load(Ordering::SeqCst) < N as usize && Instant::now() < deadline {
                let batch = fetch(&mut client, &m, 7, 300);
                for msg in &batch {
                    ack(&mut client, &m, msg.seq);
                }
                total.fetch_add(batch.len(), Ordering::SeqCst);
                got.extend(seqs(&batch));
            }
            client.leave_group(&m).unwrap();
            got
        }));
    }
    ready.wait();
    for i in 0..N {
        assert_eq!(publish(&mut c, "work", format!("w{i}").as_bytes()), i + 1);
    }
    let got: Vec<Vec<u64>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (k, list) in got.iter().enumerate() {
        assert!(!list.is_empty(), "member {k} got nothing: the members did not compete");
        assert!(list.windows(2).all(|w| w[0] < w[1]), "member {k} got messages out of order: {list:?}");
    }
    let a: BTreeSet<u64> = got[0].iter().copied().collect();
    let b: BTreeSet<u64> = got[1].iter().copied().collect();
    let both: Vec<&u64> = a.intersection(&b).collect();
    assert!(both.is_empty(), "messages delivered to both members: {both:?}");
    let union: BTreeSet<u64> = a.union(&b).copied().collect();
    assert_eq!(union, (1..=N).collect::<BTreeSet<u64>>(), "the members together got everything");
    eprintln!("stream_group_members_never_overlap: {} + {} messages", a.len(), b.len());
    assert_eq!(floor_lag_pending(&mut c, "work", "crew"), (N, 0, 0));
}

/// A member's connection closing releases its pending messages at once: another member's
/// waiting FETCH gets them well under a second later.
pub fn stream_disconnect_releases_at_once(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "rel");
    publish_many(&mut c, "rel", &numbered("r", 0..5));
    let mut holder = server.client();
    let h = join(&mut holder, "rel", "g");
    assert_eq!(seqs(&fetch(&mut holder, &h, 10, 0)), [1, 2, 3, 4, 5]);

    let mut b = server.raw();
    let (_, generation, b_id) = raw_join(&mut b, 1, "rel", "g");
    wire::send(&mut b, &request(FETCH, 2, &fetch_p("rel", "g", &b_id, generation, 10, 20_000)));
    expect_echo(&mut b, 3);
    assert_silent(&mut b, Duration::from_millis(200), "everything is pending with the holder");
    let g = group_info(&mut c, "rel", "g");
    assert_eq!((g.pending, g.members), (5, 2));

    drop(holder);
    let closed = Instant::now();
    let f = wire::read_response(&mut b, 2);
    let took = closed.elapsed();
    let batch = decode_fetch(&f);
    assert_eq!(raw_seqs(&batch), [1, 2, 3, 4, 5], "the closed member's messages go to the waiting one");
    assert_eq!(batch[0].2, b"r-0000");
    assert!(took < AT_ONCE, "released messages reached the other member after {took:?}");
    for seq in 1..=5 {
        let p = member_p("rel", "g", &b_id, generation).u64(seq).build();
        expect_reply(&mut b, ACK, 10 + seq as u32, &p, wire::OK, b"");
    }
    let g = group_info(&mut c, "rel", "g");
    assert_eq!((g.ack_floor, g.pending, g.members), (5, 0, 1), "the closed member is gone");
}

/// A waiting FETCH ended by LEAVE (sent on another connection), by a seek, by DELETE_GROUP or by
/// DELETE answers an empty batch (never an error) well under a second, and does not cancel
/// other members' FETCHes; LEAVE releases the member's pending messages at once.
pub fn stream_fetch_ended_by_leave_seek_delete(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "end");
    publish_many(&mut c, "end", &numbered("e", 0..3));
    let mut ctl = server.raw();

    // LEAVE from another connection: A's FETCH ends empty, B's gets what A held.
    let mut conn_a = server.raw();
    let (_, generation, a_id) = raw_join(&mut conn_a, 1, "end", "g");
    let f = call(&mut conn_a, FETCH, 2, &fetch_p("end", "g", &a_id, generation, 10, 0));
    assert_eq!(raw_seqs(&decode_fetch(&f)), [1, 2, 3]);
    wire::send(&mut conn_a, &request(FETCH, 3, &fetch_p("end", "g", &a_id, generation, 10, 20_000)));
    expect_echo(&mut conn_a, 4);
    let mut conn_b = server.raw();
    let (_, _, b_id) = raw_join(&mut conn_b, 1, "end", "g");
    wire::send(&mut conn_b, &request(FETCH, 2, &fetch_p("end", "g", &b_id, generation, 10, 20_000)));
    expect_echo(&mut conn_b, 3);
    // A group positioned at the end, waiting too: seeks of "g" must not touch it.
    c.seek_group("end", "other", SeekTarget::End).unwrap();
    let mut conn_o = server.raw();
    let (_, o_gen, o_id) = raw_join(&mut conn_o, 1, "end", "other");
    wire::send(&mut conn_o, &request(FETCH, 2, &fetch_p("end", "other", &o_id, o_gen, 10, 20_000)));
    expect_echo(&mut conn_o, 3);

    expect_reply(&mut ctl, LEAVE, 1, &member_p("end", "g", &a_id, generation).build(), wire::OK, b"");
    let left = Instant::now();
    let f = wire::read_response(&mut conn_a, 3);
    let took_a = left.elapsed();
    assert_empty_batch(&f, "a FETCH ended by LEAVE");
    assert!(took_a < AT_ONCE, "LEAVE ended the member's FETCH after {took_a:?}");
    let f = wire::read_response(&mut conn_b, 2);
    let took_b = left.elapsed();
    assert_eq!(raw_seqs(&decode_fetch(&f)), [1, 2, 3], "LEAVE releases the pending messages to B");
    assert!(took_b < AT_ONCE, "released messages reached B after {took_b:?}");
    let f = call(&mut conn_a, FETCH, 5, &fetch_p("end", "g", &a_id, generation, 10, 0));
    assert_eq!(f.err_text(), "NOT_MEMBER", "after LEAVE");
    for seq in 1..=3 {
        let p = member_p("end", "g", &b_id, generation).u64(seq).build();
        expect_reply(&mut conn_b, ACK, 10 + seq as u32, &p, wire::OK, b"");
    }

    // SEEK ends every FETCH of the group with an empty batch; the members are fenced after.
    let (_, _, a2_id) = raw_join(&mut conn_a, 6, "end", "g");
    wire::send(&mut conn_a, &request(FETCH, 7, &fetch_p("end", "g", &a2_id, generation, 10, 20_000)));
    expect_echo(&mut conn_a, 8);
    wire::send(&mut conn_b, &request(FETCH, 20, &fetch_p("end", "g", &b_id, generation, 10, 20_000)));
    expect_echo(&mut conn_b, 21);
    expect_reply(&mut ctl, SEEK, 2, &topic_p("end").str("g").raw([1u8]).build(), wire::OK, b"");
    let sought = Instant::now();
    assert_empty_batch(&wire::read_response(&mut conn_a, 7), "A's FETCH ended by SEEK");
    assert_empty_batch(&wire::read_response(&mut conn_b, 20), "B's FETCH ended by SEEK");
    let took = sought.elapsed();
    assert!(took < AT_ONCE, "SEEK ended the FETCHes after {took:?}");
    let f = call(&mut conn_b, FETCH, 22, &fetch_p("end", "g", &b_id, generation, 10, 0));
    assert_eq!(f.err_text(), "FENCED", "after the seek");
    assert_silent(&mut conn_o, Duration::from_millis(200), "the other group's FETCH after LEAVE and SEEK");

    // SEEK_SEQ likewise.
    let (_, gen2, b2_id) = raw_join(&mut conn_b, 23, "end", "g");
    assert_eq!(gen2, generation + 1);
    wire::send(&mut conn_b, &request(FETCH, 24, &fetch_p("end", "g", &b2_id, gen2, 10, 20_000)));
    expect_echo(&mut conn_b, 25);
    let f = call(&mut ctl, SEEK_SEQ, 3, &topic_p("end").str("g").u64(4).build());
    assert_eq!(f.payload, 4u64.to_be_bytes(), "{f:?}");
    let sought = Instant::now();
    assert_empty_batch(&wire::read_response(&mut conn_b, 24), "a FETCH ended by SEEK_SEQ");
    assert!(sought.elapsed() < AT_ONCE);

    // DELETE_GROUP: an empty batch, then `Group not found`.
    let (_, gen3, b3_id) = raw_join(&mut conn_b, 26, "end", "g");
    wire::send(&mut conn_b, &request(FETCH, 27, &fetch_p("end", "g", &b3_id, gen3, 10, 20_000)));
    expect_echo(&mut conn_b, 28);
    expect_reply(&mut ctl, DELETE_GROUP, 4, &topic_p("end").str("g").build(), wire::OK, b"");
    let deleted = Instant::now();
    assert_empty_batch(&wire::read_response(&mut conn_b, 27), "a FETCH ended by DELETE_GROUP");
    assert!(deleted.elapsed() < AT_ONCE);
    let f = call(&mut conn_b, FETCH, 29, &fetch_p("end", "g", &b3_id, gen3, 10, 0));
    assert_eq!(f.err_text(), "Group not found");

    // The other group's FETCH is still waiting and gets the next message.
    assert_silent(&mut conn_o, Duration::from_millis(200), "the other group's FETCH");
    assert_eq!(publish(&mut c, "end", b"for other"), 4);
    let f = wire::read_response(&mut conn_o, 2);
    assert_eq!(raw_seqs(&decode_fetch(&f)), [4]);

    // DELETE of the topic: an empty batch, then `Topic not found`.
    wire::send(&mut conn_o, &request(FETCH, 4, &fetch_p("end", "other", &o_id, o_gen, 10, 20_000)));
    expect_echo(&mut conn_o, 5);
    expect_reply(&mut ctl, DELETE, 5, &topic_p("end").build(), wire::OK, b"");
    let deleted = Instant::now();
    assert_empty_batch(&wire::read_response(&mut conn_o, 4), "a FETCH ended by DELETE");
    assert!(deleted.elapsed() < AT_ONCE);
    let f = call(&mut conn_o, FETCH, 6, &fetch_p("end", "other", &o_id, o_gen, 10, 0));
    assert_eq!(f.err_text(), "Topic not found");
    expect_echo(&mut conn_o, 7);
}

// ---------------------------------------------------------------------------------------------
// Redelivery and dead letters
// ---------------------------------------------------------------------------------------------

/// NACK redelivers at once (before new messages) or after its delay (not before); the NACK after
/// the fifth delivery dead-letters the message: done for the floor and lag, listed by LIST_DLQ
/// (paged, with deliveries and data), handed back by REPLAY_DLQ (one or all) with a fresh
/// delivery count.
pub fn stream_nack_redelivery_and_dead_letters(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "dlq");
    let before = now_ms();
    publish_many(&mut c, "dlq", &[b"a".to_vec(), b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    let after = now_ms();
    let m = join(&mut c, "dlq", "g");
    assert_eq!(seqs(&fetch(&mut c, &m, 2, 0)), [1, 2]);
    nack(&mut c, &m, 2, 0);
    assert_eq!(seqs(&fetch(&mut c, &m, 2, 0)), [2, 3], "a NACKed message comes first, then new ones");

    // A delayed NACK: not before the delay.
    let nacked = Instant::now();
    nack(&mut c, &m, 3, 800);
    let quick = fetch(&mut c, &m, 10, 0);
    let early = nacked.elapsed() < Duration::from_millis(800);
    assert_eq!(seqs(&quick), [4]);
    assert!(early, "the check above ran too late to mean anything");
    let got = fetch(&mut c, &m, 10, 10_000);
    let at = nacked.elapsed();
    assert_eq!(seqs(&got), [3], "redelivered after the delay");
    assert!(at >= Duration::from_millis(790), "a NACK with a delay of 800 ms redelivered after {at:?}");
    assert!(at < Duration::from_secs(10), "a NACK with a delay of 800 ms redelivered after {at:?}");
    ack_many(&mut c, &m, &[1, 3, 4]);
    assert_eq!(floor_lag_pending(&mut c, "dlq", "g"), (1, 3, 1));

    // Seq 2 was delivered twice: three more deliveries, then the fifth NACK dead-letters it.
    for delivery in 3..=5 {
        nack(&mut c, &m, 2, 0);
        assert_eq!(seqs(&fetch(&mut c, &m, 10, 0)), [2], "delivery {delivery}");
    }
    nack(&mut c, &m, 2, 0);
    assert!(fetch(&mut c, &m, 10, 0).is_empty(), "a dead letter is not redelivered");
    let g = group_info(&mut c, "dlq", "g");
    assert_eq!((g.ack_floor, g.lag, g.pending, g.dead), (4, 0, 0, 1), "a dead letter is done for the floor");
    let (total, dead) = c.list_dead_letters("dlq", "g", 0, 10).unwrap();
    assert_eq!(total, 1);
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!((d.seq, d.deliveries, &d.payload[..]), (2, 5, &b"b"[..]), "{d:?}");
    assert!((before..=after).contains(&d.timestamp_ms), "publish time {} of {d:?}", d.timestamp_ms);
    assert_eq!(server_err(c.stream_ack(&m, 2)), "seq 2 not pending");

    // REPLAY_DLQ of one: a fresh delivery count (four more NACKs only redeliver).
    assert_eq!(c.replay_dead_letters("dlq", "g", Some(99)).unwrap(), 0, "not a dead letter");
    assert_eq!(c.replay_dead_letters("dlq", "g", Some(2)).unwrap(), 1);
    assert_eq!(c.list_dead_letters("dlq", "g", 0, 10).unwrap(), (0, Vec::new()));
    for delivery in 1..=5 {
        assert_eq!(seqs(&fetch(&mut c, &m, 10, 0)), [2], "delivery {delivery} after the replay");
        if delivery < 5 {
            nack(&mut c, &m, 2, 0);
        }
    }
    ack(&mut c, &m, 2);
    assert_eq!(group_info(&mut c, "dlq", "g").dead, 0);

    // Two more dead letters: LIST_DLQ pages by sequence; REPLAY_DLQ 0 hands back all.
    publish_many(&mut c, "dlq", &[b"e".to_vec(), b"f".to_vec()]);
    for delivery in 1..=5 {
        assert_eq!(seqs(&fetch(&mut c, &m, 10, 0)), [5, 6], "delivery {delivery}");
        nack(&mut c, &m, 5, 0);
        nack(&mut c, &m, 6, 0);
    }
    let g = group_info(&mut c, "dlq", "g");
    assert_eq!((g.ack_floor, g.lag, g.pending, g.dead), (6, 0, 0, 2));
    let (total, page) = c.list_dead_letters("dlq", "g", 0, 1).unwrap();
    assert_eq!((total, page.iter().map(|d| (d.seq, d.deliveries)).collect::<Vec<_>>()), (2, vec![(5, 5)]));
    let (total, page) = c.list_dead_letters("dlq", "g", 1, 10).unwrap();
    assert_eq!(
        (total, page.iter().map(|d| (d.seq, d.payload.to_vec())).collect::<Vec<_>>()),
        (2, vec![(6, b"f".to_vec())])
    );
    assert_eq!(c.list_dead_letters("dlq", "g", 2, 10).unwrap(), (2, Vec::new()));
    assert_eq!(c.replay_dead_letters("dlq", "g", None).unwrap(), 2);
    let back = fetch(&mut c, &m, 10, 0);
    assert_eq!((seqs(&back), texts(&back)), (vec![5, 6], vec!["e".to_owned(), "f".to_owned()]));
    ack_many(&mut c, &m, &[5, 6]);
    let g = group_info(&mut c, "dlq", "g");
    assert_eq!((g.ack_floor, g.lag, g.pending, g.dead), (6, 0, 0, 0));

    // Errors.
    assert_eq!(server_err(c.list_dead_letters("dlq", "nope", 0, 10)), "Group not found");
    assert_eq!(server_err(c.replay_dead_letters("dlq", "nope", None)), "Group not found");
    assert_eq!(server_err(c.list_dead_letters("ghost", "g", 0, 10)), "Topic not found");
    assert_eq!(server_err(c.replay_dead_letters("ghost", "g", Some(1))), "Topic not found");
}

// ---------------------------------------------------------------------------------------------
// Seeks, DELETE_GROUP, listings
// ---------------------------------------------------------------------------------------------

/// SEEK (beginning, end), SEEK_SEQ (clamped to the retained range) and SEEK_TIME (the first
/// message at or after a timestamp) move the group, bump its generation and create a missing
/// group; a missing topic is `Topic not found`.
pub fn stream_seek_seq_and_time(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "seek");
    for i in 0..5 {
        publish(&mut c, "seek", format!("s{i}").as_bytes());
    }
    thread::sleep(Duration::from_millis(40));
    for i in 5..10 {
        publish(&mut c, "seek", format!("s{i}").as_bytes());
    }
    let reader = join(&mut c, "seek", "reader");
    let all = drain(&mut c, &reader);
    assert_eq!(seqs(&all), (1..=10).collect::<Vec<u64>>());
    let ts: Vec<u64> = all.iter().map(|m| m.timestamp_ms).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "timestamps never decrease: {ts:?}");
    assert!(ts[5] >= ts[4] + 30, "the pause between seq 5 and 6 is not in the timestamps: {ts:?}");
    let expected = |t: u64| ts.iter().position(|&x| x >= t).map_or(11, |i| i as u64 + 1);

    // SEEK_TIME on a new group creates it (generation 1); each seek bumps the generation.
    let mut generation = 0;
    let times = [0, ts[0], ts[4], ts[4] + 1, ts[5], ts[9], ts[9] + 1, now_ms() + 3_600_000];
    for t in times {
        let want = expected(t);
        assert_eq!(c.seek_group_to_time("seek", "t", t).unwrap(), want, "SEEK_TIME {t} (timestamps {ts:?})");
        generation += 1;
        let m = join(&mut c, "seek", "t");
        assert_eq!((m.ack_floor, m.generation), (want - 1, generation), "JOIN after SEEK_TIME {t}");
        let got = fetch(&mut c, &m, 100, 0);
        assert_eq!(seqs(&got), (want..=10).collect::<Vec<u64>>(), "FETCH after SEEK_TIME {t}");
    }
    assert_eq!(expected(ts[4] + 1), 6);

    // SEEK_SEQ: clamped to [first, next].
    for (target, want) in [(4, 4), (0, 1), (1, 1), (10, 10), (11, 11), (500, 11)] {
        assert_eq!(c.seek_group_to_seq("seek", "s", target).unwrap(), want, "SEEK_SEQ {target}");
        let m = join(&mut c, "seek", "s");
        assert_eq!(m.ack_floor, want - 1, "JOIN after SEEK_SEQ {target}");
        assert_eq!(seqs(&fetch(&mut c, &m, 100, 0)), (want..=10).collect::<Vec<u64>>());
    }
    assert_eq!(group_info(&mut c, "seek", "s").generation, 6);
    let m = join(&mut c, "seek", "s");
    assert_eq!(publish(&mut c, "seek", b"s10"), 11);
    assert_eq!(seqs(&fetch(&mut c, &m, 100, 5000)), [11], "after SEEK_SEQ past the end, new messages come");

    // SEEK to the beginning and the end.
    c.seek_group("seek", "s", SeekTarget::Beginning).unwrap();
    let m = join(&mut c, "seek", "s");
    assert_eq!((m.ack_floor, m.generation), (0, 7));
    assert_eq!(seqs(&fetch(&mut c, &m, 100, 0)), (1..=11).collect::<Vec<u64>>());
    c.seek_group("seek", "s", SeekTarget::End).unwrap();
    let m = join(&mut c, "seek", "s");
    assert_eq!((m.ack_floor, m.generation), (11, 8));
    assert!(fetch(&mut c, &m, 100, 0).is_empty());
    c.seek_group("seek", "fresh", SeekTarget::End).unwrap();
    let g = group_info(&mut c, "seek", "fresh");
    assert_eq!((g.generation, g.ack_floor, g.lag, g.members), (1, 11, 0, 0), "SEEK creates a missing group");

    // A missing topic.
    assert_eq!(server_err(c.seek_group("ghost", "g", SeekTarget::End)), "Topic not found");
    assert_eq!(server_err(c.seek_group_to_seq("ghost", "g", 1)), "Topic not found");
    assert_eq!(server_err(c.seek_group_to_time("ghost", "g", 0)), "Topic not found");
    assert!(!c.stream_exists("ghost").unwrap(), "a seek does not create a topic");
}

/// DELETE_GROUP removes a group (OK also for a missing one); its members get `Group not found`;
/// a JOIN afterwards creates a fresh group at the oldest message.
pub fn stream_delete_group(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "dg");
    publish_many(&mut c, "dg", &numbered("d", 0..3));
    let m = join(&mut c, "dg", "g");
    assert_eq!(seqs(&fetch(&mut c, &m, 2, 0)), [1, 2]);
    ack(&mut c, &m, 1);
    c.seek_group("dg", "keep", SeekTarget::End).unwrap();
    assert_eq!(c.list_groups("dg", 0, 10).unwrap().0, 2);

    c.delete_group("dg", "g").unwrap();
    c.delete_group("dg", "g").unwrap();
    c.delete_group("dg", "never").unwrap();
    assert_eq!(server_err(c.delete_group("ghost", "g")), "Topic not found");
    assert_eq!(
        member_errors(&mut c, &m, 2),
        ["Group not found", "Group not found", "Group not found", "Group not found"].map(String::from)
    );
    let (total, list) = c.list_groups("dg", 0, 10).unwrap();
    assert_eq!((total, list.iter().map(|g| g.name.as_str()).collect::<Vec<_>>()), (1, vec!["keep"]));
    assert_eq!(topic_info(&mut c, "dg").groups, 1);

    let fresh = join(&mut c, "dg", "g");
    assert_eq!(fresh.ack_floor, 0, "a re-created group starts at the oldest message");
    assert_eq!(seqs(&fetch(&mut c, &fresh, 10, 0)), [1, 2, 3], "nothing of the deleted group remains");
}

/// LIST_TOPICS and LIST_GROUPS page by name with totals; topics report first/last sequence,
/// retention and group count; groups report generation, ack floor, lag (newest − floor),
/// pending, members and dead letters.
pub fn stream_list_topics_and_groups(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    for t in ["b-topic", "a-topic", "c-topic"] {
        create(&mut c, t);
    }
    publish_many(&mut c, "a-topic", &numbered("x", 0..10));
    publish(&mut c, "c-topic", b"one");
    let (total, list) = c.list_streams(0, 100).unwrap();
    let got: Vec<(&str, u64, u64)> =
        list.iter().map(|t| (t.name.as_str(), t.first_seq, t.last_seq)).collect();
    assert_eq!((total, got), (3, vec![("a-topic", 1, 10), ("b-topic", 1, 0), ("c-topic", 1, 1)]));
    let (total, page) = c.list_streams(1, 1).unwrap();
    assert_eq!((total, page.iter().map(|t| t.name.as_str()).collect::<Vec<_>>()), (3, vec!["b-topic"]));
    assert_eq!(c.list_streams(3, 10).unwrap(), (3, Vec::new()));

    let mut c2 = server.client();
    let g1 = join(&mut c, "a-topic", "g1");
    assert_eq!(seqs(&fetch(&mut c, &g1, 4, 0)), [1, 2, 3, 4]);
    ack_many(&mut c, &g1, &[1, 2]);
    join(&mut c, "a-topic", "g2");
    join(&mut c2, "a-topic", "g2");
    c.seek_group("a-topic", "g3", SeekTarget::End).unwrap();
    // g0: seq 1 dead-lettered (five deliveries), seq 2 pending with its second member.
    let g0 = join(&mut c2, "a-topic", "g0");
    assert_eq!(seqs(&fetch(&mut c2, &g0, 1, 0)), [1]);
    for _ in 0..4 {
        c2.stream_nack(&g0, 1, 0).unwrap();
        assert_eq!(seqs(&fetch(&mut c2, &g0, 1, 0)), [1]);
    }
    c2.stream_nack(&g0, 1, 0).unwrap();
    assert_eq!(seqs(&fetch(&mut c2, &g0, 1, 0)), [2]);
    c2.leave_group(&g0).unwrap();
    let g0b = join(&mut c2, "a-topic", "g0");
    assert_eq!(seqs(&fetch(&mut c2, &g0b, 1, 0)), [2], "released by LEAVE");

    let summary = |c: &mut Client| {
        let (total, list) = c.list_groups("a-topic", 0, 100).unwrap();
        let rows: Vec<(String, u64, u64, u64, u64, u32, u32)> = list
            .iter()
            .map(|g| (g.name.clone(), g.generation, g.ack_floor, g.lag, g.pending, g.members, g.dead))
            .collect();
        (total, rows)
    };
    let row = |n: &str, generation: u64, floor: u64, lag: u64, pending: u64, members: u32, dead: u32| {
        (n.to_owned(), generation, floor, lag, pending, members, dead)
    };
    assert_eq!(
        summary(&mut c),
        (
            4,
            vec![
                row("g0", 1, 1, 9, 1, 1, 1),
                row("g1", 1, 2, 8, 2, 1, 0),
                row("g2", 1, 0, 10, 0, 2, 0),
                row("g3", 1, 10, 0, 0, 0, 0),
            ]
        ),
        "(name, generation, ack_floor, lag, pending, members, dead)"
    );
    publish_many(&mut c, "a-topic", &numbered("y", 0..5));
    let (_, rows) = summary(&mut c);
    let lags: Vec<(String, u64)> = rows.iter().map(|r| (r.0.clone(), r.3)).collect();
    let want: Vec<(String, u64)> =
        [("g0", 14), ("g1", 13), ("g2", 15), ("g3", 5)].map(|(n, l)| (n.to_owned(), l)).into();
    assert_eq!(lags, want, "lag = newest sequence − ack floor");
    let (total, page) = c.list_groups("a-topic", 1, 2).unwrap();
    assert_eq!((total, page.iter().map(|g| g.name.as_str()).collect::<Vec<_>>()), (4, vec!["g1", "g2"]));
    assert_eq!(c.list_groups("a-topic", 4, 10).unwrap(), (4, Vec::new()));
    assert_eq!(c.list_groups("b-topic", 0, 10).unwrap(), (0, Vec::new()));
    assert_eq!(server_err(c.list_groups("ghost", 0, 10)), "Topic not found");
    assert_eq!(topic_info(&mut c, "a-topic").groups, 4);
    assert_eq!((topic_info(&mut c, "a-topic").last_seq, topic_info(&mut c, "c-topic").groups), (15, 0));
}

// ---------------------------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------------------------

/// DELETE and re-CREATE of a topic never reuses its sequences, also across restarts; a deleted
/// topic's groups are gone.
pub fn stream_delete_and_recreate_never_reuses(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "re");
    assert_eq!(publish_many(&mut c, "re", &numbered("old", 0..5)), [1, 2, 3, 4, 5]);
    let m = join(&mut c, "re", "g");
    assert_eq!(seqs(&fetch(&mut c, &m, 2, 0)), [1, 2]);
    c.delete_stream("re").unwrap();
    assert!(!c.stream_exists("re").unwrap());
    assert_eq!(server_err(c.stream_publish("re", b"x")), "Topic not found");
    assert_eq!(server_err(c.join_group("re", "g")), "Topic not found");
    assert_eq!(server_err(c.fetch(&m, 10, 0)), "Topic not found");
    assert_eq!(c.list_streams(0, 10).unwrap(), (0, Vec::new()));

    create(&mut c, "re");
    let t = topic_info(&mut c, "re");
    assert_eq!((t.first_seq, t.last_seq, t.groups), (6, 5, 0), "a re-created topic starts after the old one");
    assert_eq!(publish(&mut c, "re", b"new-6"), 6, "a re-created topic never reuses sequences");
    let m = join(&mut c, "re", "g");
    assert_eq!(m.ack_floor, 5);
    let got = fetch(&mut c, &m, 10, 0);
    assert_eq!((seqs(&got), texts(&got)), (vec![6], vec!["new-6".to_owned()]), "nothing of the old topic");
    c.delete_stream("re").unwrap();
    create(&mut c, "re");
    assert_eq!(publish(&mut c, "re", b"new-7"), 7);
    drop(c);

    let server = server.restart();
    let mut c = server.client();
    assert_eq!(publish(&mut c, "re", b"new-8"), 8, "after a restart");
    c.delete_stream("re").unwrap();
    drop(c);

    let server = server.restart();
    let mut c = server.client();
    assert!(!c.stream_exists("re").unwrap(), "a deleted topic stays deleted");
    create(&mut c, "re");
    assert_eq!(publish(&mut c, "re", b"new-9"), 9, "the deleted topic's last sequence survived the restart");
    let m = join(&mut c, "re", "g");
    assert_eq!(seqs(&drain(&mut c, &m)), [9]);
}

/// A data log no topic in the journal owns (its CREATE record lost; simulated here by copying a
/// live log under an unused incarnation) is never deleted at start-up: the topic is recovered
/// from it with its messages and sequence numbers. Live topics keep theirs.
pub fn stream_leftover_logs_adopted_at_start(bin: &Path) {
    let mut server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "live");
    assert_eq!(publish_many(&mut c, "live", &numbered("l", 0..3)), [1, 2, 3]);
    drop(c);
    server.terminate();
    let stream_dir = server.data_dir().join("stream");
    let live_dir = std::fs::read_dir(&stream_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().ends_with("-live"))
        .expect("the live topic's log directory");
    let ghost = stream_dir.join("stream-999-ghost");
    std::fs::create_dir(&ghost).unwrap();
    for file in std::fs::read_dir(&live_dir).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, ghost.join(file.file_name().unwrap())).unwrap();
    }

    let server = server.restart();
    assert!(ghost.exists(), "the unknown log is kept");
    assert!(live_dir.exists(), "the live topic keeps its log");
    let mut c = server.client();
    assert!(c.stream_exists("ghost").unwrap(), "and recovered as a topic");
    let m = join(&mut c, "live", "g");
    assert_eq!(texts(&drain(&mut c, &m)), ["l-0000", "l-0001", "l-0002"]);
    c.seek_group("ghost", "g", SeekTarget::Beginning).unwrap();
    let m = join(&mut c, "ghost", "g");
    assert_eq!(seqs(&drain(&mut c, &m)), [1, 2, 3]);
    assert_eq!(publish(&mut c, "ghost", b"next"), 4);
    create(&mut c, "fresh");
    let fresh = std::fs::read_dir(&stream_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.ends_with("-fresh"))
        .expect("the new topic's log");
    assert_eq!(fresh, "stream-1000-fresh", "a new topic never takes a found log's incarnation");
}

/// A graceful restart (SIGTERM, then a start on the same directory): topics with their retention, messages (read back from disk),
/// timestamps, sequences, group generations, ack floors, acks above the floor and dead letters
/// survive; what was pending is delivered again; SEEK_TIME works on data read from disk.
pub fn stream_restart_keeps_state(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create_with(&mut c, "durable", retention(Some(86_400_000), Some(5 << 20)));
    let mut payloads = numbered("d", 0..30);
    payloads[3] = b"\x00\xFF\x02binary".to_vec();
    assert_eq!(publish_many(&mut c, "durable", &payloads), (1..=30).collect::<Vec<u64>>());
    let reader = join(&mut c, "durable", "reader");
    let before_restart = drain(&mut c, &reader);
    assert_eq!(before_restart.len(), 30);

    // g1: floor 7, 9 and 11 acked above it, 8, 10 and 12 pending at the shutdown.
    let g1 = join(&mut c, "durable", "g1");
    assert_eq!(seqs(&fetch(&mut c, &g1, 12, 0)), (1..=12).collect::<Vec<u64>>());
    ack_many(&mut c, &g1, &[1, 2, 3, 4, 5, 6, 7, 9, 11]);
    // g2: two seeks (generation 2), at 20.
    c.seek_group("durable", "g2", SeekTarget::End).unwrap();
    assert_eq!(c.seek_group_to_seq("durable", "g2", 20).unwrap(), 20);
    // g3: seq 1 dead-lettered.
    let g3 = join(&mut c, "durable", "g3");
    for _ in 0..5 {
        assert_eq!(seqs(&fetch(&mut c, &g3, 1, 0)), [1]);
        nack(&mut c, &g3, 1, 0);
    }
    let (_, groups_before) = c.list_groups("durable", 0, 100).unwrap();
    drop(c);

    let server = server.restart();
    let mut c = server.client();
    assert!(c.stream_exists("durable").unwrap());
    let t = topic_info(&mut c, "durable");
    assert_eq!(
        (t.first_seq, t.last_seq, t.max_age_ms, t.max_bytes, t.groups),
        (1, 30, 86_400_000, 5 << 20, 4),
        "the topic and its retention survive"
    );
    let (_, groups_after) = c.list_groups("durable", 0, 100).unwrap();
    let state = |gs: &[StreamGroupInfo]| -> Vec<(String, u64, u64, u32)> {
        gs.iter().map(|g| (g.name.clone(), g.generation, g.ack_floor, g.dead)).collect()
    };
    assert_eq!(state(&groups_after), state(&groups_before), "(name, generation, ack_floor, dead) survive");
    let g = group_info(&mut c, "durable", "g1");
    assert_eq!((g.ack_floor, g.lag, g.pending, g.members), (7, 23, 0, 0));

    let g1 = join(&mut c, "durable", "g1");
    assert_eq!((g1.ack_floor, g1.generation), (7, 1));
    let mut want: Vec<u64> = vec![8, 10, 12];
    want.extend(13..=30);
    let got = drain(&mut c, &g1);
    assert_eq!(seqs(&got), want, "acks above the floor survive; what was pending comes again");
    let g2 = join(&mut c, "durable", "g2");
    assert_eq!((g2.ack_floor, g2.generation), (19, 2));
    assert_eq!(seqs(&drain(&mut c, &g2)), (20..=30).collect::<Vec<u64>>());
    let (total, dead) = c.list_dead_letters("durable", "g3", 0, 10).unwrap();
    assert_eq!(total, 1);
    assert_eq!((dead[0].seq, dead[0].deliveries, dead[0].payload.to_vec()), (1, 5, b"d-0000".to_vec()));
    assert_eq!(dead[0].timestamp_ms, before_restart[0].timestamp_ms);

    // Every message, read back from disk: same sequence, timestamp and bytes.
    let all = join(&mut c, "durable", "after");
    assert_eq!(all.ack_floor, 0);
    let after_restart = drain(&mut c, &all);
    assert_eq!(after_restart, before_restart, "messages survive byte for byte with their timestamps");
    // SEEK_TIME over data read from disk.
    let ts: Vec<u64> = before_restart.iter().map(|m| m.timestamp_ms).collect();
    for k in [0usize, 14, 29] {
        let want = ts.iter().position(|&x| x >= ts[k]).unwrap() as u64 + 1;
        assert_eq!(c.seek_group_to_time("durable", "timed", ts[k]).unwrap(), want, "SEEK_TIME {}", ts[k]);
    }
    assert_eq!(c.seek_group_to_time("durable", "timed", ts[29] + 1).unwrap(), 31);
    assert_eq!(publish(&mut c, "durable", b"after restart"), 31, "sequences go on");
}

/// SIGTERM ends every waiting FETCH with an empty batch (`DATA n=0`, never an error or a bare
/// close) before the connections close, and the server exits 0. Several connections wait, so a
/// race between closing connections and ending their FETCHes shows.
pub fn stream_shutdown_ends_waiting_fetches(bin: &Path) {
    const WAITERS: usize = 32;
    let mut server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "bye");
    publish(&mut c, "bye", b"old");
    c.seek_group("bye", "g", SeekTarget::End).unwrap();
    let mut conns = Vec::new();
    for i in 0..WAITERS {
        let mut s = server.raw();
        let (floor, generation, cid) = raw_join(&mut s, 1, "bye", "g");
        assert_eq!(floor, 1);
        let id = 100 + i as u32;
        wire::send(&mut s, &request(FETCH, id, &fetch_p("bye", "g", &cid, generation, 10, 20_000)));
        expect_echo(&mut s, 2);
        conns.push((s, id));
    }
    drop(c);
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM with waiting FETCHes: {status}");
    let mut missing = Vec::new();
    for (k, (s, id)) in conns.iter_mut().enumerate() {
        match wire::try_read_frame(s, Duration::from_secs(5)) {
            Ok(f) => {
                assert_eq!(f.id, *id, "connection {k}: {f:?}");
                assert_empty_batch(&f, "a FETCH ended by the shutdown");
            }
            Err(e) => missing.push(format!("connection {k}: {e}")),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {WAITERS} FETCHes waiting at SIGTERM got no empty batch before the close: {missing:?}",
        missing.len()
    );
}

/// `kill -9` while several clients publish (each waits for its sequence, fsync always): after a
/// restart on the same directory, a new group reads every acknowledged publish at its sequence,
/// in order, with no gap below the highest acknowledged sequence and no duplicates; new
/// publishes get higher sequences; a group's acks made durable before the crash hold.
pub fn stream_crash_kill9(bin: &Path) {
    let mut server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "crash");
    create(&mut c, "acks");
    publish_many(&mut c, "acks", &numbered("k", 0..10));
    let early = join(&mut c, "acks", "early");
    assert_eq!(seqs(&fetch(&mut c, &early, 10, 0)), (1..=10).collect::<Vec<u64>>());
    ack_many(&mut c, &early, &[1, 2, 3, 4, 5, 6, 8]);
    // The first JOIN of a group is answered once its record is durable; the journal is written
    // in order, so the acks before it are durable too.
    join(&mut c, "acks", "fence");

    const THREADS: usize = 4;
    let acked = Arc::new(Mutex::new(Vec::<(u64, String)>::new()));
    let attempted = Arc::new(Mutex::new(Vec::<String>::new()));
    let total = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let mut client = server.client();
        let (acked, attempted, total, stop) = (acked.clone(), attempted.clone(), total.clone(), stop.clone());
        handles.push(thread::spawn(move || {
            let mut last = 0;
            for n in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let payload = format!("t{t}-{n:06}-{}", "x".repeat(64));
                attempted.lock().unwrap().push(payload.clone());
                match client.stream_publish("crash", payload.as_bytes()) {
                    Ok(seq) => {
                        assert!(seq > last, "thread {t}: seq {seq} after {last}");
                        last = seq;
                        acked.lock().unwrap().push((seq, payload));
                        total.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => return Some(format!("{e:?}")),
                }
            }
            None
        }));
    }
    let started = Instant::now();
    while total.load(Ordering::SeqCst) < 1500 && started.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(10));
    }
    let before_kill = total.load(Ordering::SeqCst);
    server.kill9();
    stop.store(true, Ordering::SeqCst);
    let errors: Vec<String> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
    assert!(before_kill >= 100, "only {before_kill} publishes were answered in 30 s before the kill");
    for e in &errors {
        assert!(e == "Closed" || e.starts_with("Io("), "a publisher failed oddly: {e}");
    }
    drop(c);
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let attempted: BTreeSet<String> = std::mem::take(&mut *attempted.lock().unwrap()).into_iter().collect();
    let by_seq: BTreeMap<u64, String> = acked.iter().cloned().collect();
    assert_eq!(by_seq.len(), acked.len(), "two acknowledged publishes got the same sequence");
    let max_acked = *by_seq.keys().next_back().unwrap();

    let server = server.restart();
    let mut c = server.client();
    let m = join(&mut c, "crash", "after");
    assert_eq!(m.ack_floor, 0);
    let all = drain(&mut c, &m);
    let read: Vec<u64> = seqs(&all);
    assert!(read.windows(2).all(|w| w[0] < w[1]), "sequences are not strictly increasing after the crash");
    assert_eq!(read.first(), Some(&1), "the log starts at 1");
    let gaps: Vec<u64> = (1..=max_acked).filter(|s| read.binary_search(s).is_err()).collect();
    assert!(gaps.is_empty(), "sequences missing below the highest acknowledged one ({max_acked}): {gaps:?}");
    let at: BTreeMap<u64, String> = all.iter().map(|m| (m.seq, text(m))).collect();
    let wrong: Vec<(u64, &String, Option<&String>)> = by_seq
        .iter()
        .filter(|(s, p)| at.get(s) != Some(p))
        .map(|(s, p)| (*s, p, at.get(s)))
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "acknowledged publishes lost or changed after kill -9: {wrong:?}");
    let distinct: BTreeSet<&String> = at.values().collect();
    assert_eq!(distinct.len(), at.len(), "a message was stored twice");
    let unknown: Vec<&String> = at.values().filter(|p| !attempted.contains(*p)).take(5).collect();
    assert!(unknown.is_empty(), "messages nobody published: {unknown:?}");
    for t in 0..THREADS {
        let prefix = format!("t{t}-");
        let own: Vec<&String> = at.values().filter(|p| p.starts_with(&prefix)).collect();
        assert!(own.windows(2).all(|w| w[0] < w[1]), "thread {t}'s messages are out of order in the log");
    }
    let last_read = *read.last().unwrap();
    eprintln!(
        "stream_crash_kill9: {} publishes acknowledged ({before_kill} before the kill), {} read after the restart, \
         {} unanswered publishes survived",
        acked.len(),
        all.len(),
        all.len() - acked.len()
    );
    let next = publish(&mut c, "crash", b"after the crash");
    assert!(next > last_read, "seq {next} after the crash reuses a sequence (last read {last_read})");
    assert_eq!(publish(&mut c, "crash", b"and one more"), next + 1);
    assert_eq!(seqs(&drain(&mut c, &m)), [next, next + 1]);

    // Acks made durable before the crash hold.
    let early = join(&mut c, "acks", "early");
    assert_eq!(early.ack_floor, 6, "the ack floor made durable before the crash");
    assert_eq!(seqs(&drain(&mut c, &early)), [7, 9, 10], "the ack of 8 above the floor survives");
    group_info(&mut c, "acks", "fence");
}

/// Retention deletes whole sealed segments (they seal at 64 MiB): a topic with a 1 MiB
/// `maxBytes` and one with a 12 s `maxAgeMs`, each given 66 messages of 1 MiB, lose their first
/// segment within a few retention passes (every 10 s, so at least one pass must leave the age
/// one alone: it goes only after its age), groups below the new first sequence move up to it,
/// and a topic with unlimited retention (`0`, `0`) keeps everything.
pub fn stream_retention_deletes_sealed_segments(bin: &Path) {
    const N: u64 = 66;
    let server = Server::start(bin);
    let mut c = server.client();
    create_with(&mut c, "by-bytes", retention(Some(0), Some(1 << 20)));
    create_with(&mut c, "by-age", retention(Some(12_000), Some(0)));
    create_with(&mut c, "unlimited", retention(Some(0), Some(0)));
    let early_bytes = join(&mut c, "by-bytes", "early");
    let early_age = join(&mut c, "by-age", "early");
    let started = Instant::now();
    let mut sent_at = BTreeMap::new();
    for topic in ["by-bytes", "by-age", "unlimited"] {
        for i in 1..=N {
            let at = Instant::now();
            assert_eq!(publish(&mut c, topic, &big_payload(i)), i);
            if topic == "by-age" {
                sent_at.insert(i, at);
            }
        }
    }
    eprintln!("stream_retention_deletes_sealed_segments: published 3 × {N} MiB in {:?}", started.elapsed());
    for topic in ["by-bytes", "by-age", "unlimited"] {
        let t = topic_info(&mut c, topic);
        assert_eq!(t.last_seq, N);
    }

    let mut first = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while first.len() < 2 && Instant::now() < deadline {
        for topic in ["by-bytes", "by-age"] {
            if first.contains_key(topic) {
                continue;
            }
            let f = topic_info(&mut c, topic).first_seq;
            if f > 1 {
                let seen = Instant::now();
                if topic == "by-age" {
                    let newest_deleted = sent_at[&(f - 1)];
                    let age = seen - newest_deleted;
                    assert!(
                        age >= Duration::from_millis(11_990),
                        "by-age: seq {} was deleted {age:?} after its publish (maxAgeMs 12000)",
                        f - 1
                    );
                    eprintln!(
                        "stream_retention_deletes_sealed_segments: by-age deleted {age:?} after its publish"
                    );
                }
                first.insert(topic, f);
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(first.len(), 2, "retention did not delete in both topics within 90 s: {first:?}");
    let kept = topic_info(&mut c, "unlimited");
    assert_eq!((kept.first_seq, kept.last_seq), (1, N), "unlimited retention deleted something");
    for (topic, early) in [("by-bytes", &early_bytes), ("by-age", &early_age)] {
        let f = first[topic];
        assert!(f <= N, "{topic}: the active segment is never deleted (first_seq {f})");
        let g = group_info(&mut c, topic, "early");
        assert!(g.ack_floor >= f - 1, "{topic}: the group stays below the first sequence {f}: {g:?}");
        let got = fetch(&mut c, early, 1, 0);
        assert_eq!(seqs(&got), [f], "{topic}: the group's next message is the first retained one");
        assert_eq!(got[0].payload[..8], f.to_be_bytes(), "{topic}: the payload of seq {f}");
        let fresh = join(&mut c, topic, "fresh");
        assert_eq!(fresh.ack_floor, f - 1, "{topic}: a new group starts at the first retained message");
        assert_eq!(c.seek_group_to_seq(topic, "s", 1).unwrap(), f, "{topic}: SEEK_SEQ clamps to it");
        assert_eq!(c.seek_group_to_time(topic, "t", 0).unwrap(), f, "{topic}: SEEK_TIME finds it");
        c.seek_group(topic, "b", SeekTarget::Beginning).unwrap();
        assert_eq!(group_info(&mut c, topic, "b").ack_floor, f - 1, "{topic}: SEEK 0 goes to it");
        eprintln!("stream_retention_deletes_sealed_segments: {topic} now starts at {f}");
    }
}

/// `--stream-ack-wait-ms` and `--stream-max-deliveries`: an unacknowledged message is delivered
/// again once the ack wait has passed (not before), and after the last allowed delivery it is
/// dead-lettered for its group, where LIST_DLQ shows it and the ack floor moves past it.
pub fn stream_ack_wait_redelivery_and_dead_letter(bin: &Path) {
    let server = Server::start_with(bin, &["--stream-ack-wait-ms", "400", "--stream-max-deliveries", "2"]);
    let mut c = server.client();
    create(&mut c, "aw");
    publish_many(&mut c, "aw", &[b"x".to_vec()]);
    let m = join(&mut c, "aw", "g");
    let first = Instant::now();
    assert_eq!(seqs(&fetch(&mut c, &m, 10, 0)), [1]);
    assert!(fetch(&mut c, &m, 10, 0).is_empty(), "not redelivered before the ack wait");
    let again = fetch(&mut c, &m, 10, 5_000);
    let waited = first.elapsed();
    assert_eq!(seqs(&again), [1], "redelivered after the ack wait");
    assert!(waited >= Duration::from_millis(390), "redelivered after {waited:?}, before the 400 ms wait");
    assert!(waited < Duration::from_secs(4), "redelivery took {waited:?}");
    // The second delivery was the last allowed one: when its wait runs out, it is dead-lettered.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (total, _) = c.list_dead_letters("aw", "g", 0, 10).unwrap();
        if total == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not dead-lettered after its second ack wait");
        thread::sleep(Duration::from_millis(50));
    }
    assert!(fetch(&mut c, &m, 10, 600).is_empty(), "a dead-lettered message is not delivered again");
    assert_eq!(floor_lag_pending(&mut c, "aw", "g"), (1, 0, 0), "dead letters count as done");
}
