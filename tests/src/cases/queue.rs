//! Queue cases: every v1 command with its exact reply, ordering, long-polls, leases and their
//! owners, the dead-letter queue, the extensions (EXTEND, NACK_DELAY, PURGE, LIST, depth
//! limits), and durability: restarts on the same data directory, a `kill -9` while clients push,
//! the data-directory lock, a bounded journal and the fsync modes.
//!
//! Time-dependent checks only use lower bounds that a slow machine cannot break (a delayed
//! message is not served before its delay) and generous upper bounds; the one tight bound is the
//! spec's "at once" when a consuming connection closes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nexo_client::{Client, ClientError};
use nexo_proto::options::{ConsumeOptions, PushOptions, QueueOptions};
use nexo_proto::reply::{DlqMessage, QueueInfo, QueueMessage};
use nexo_proto::request::{QueueRequest, Request};
use nexo_proto::{Reply, Uuid};

use crate::cases::{PATIENCE, eventually};
use crate::server::{Server, run_to_exit};
use crate::wire::{self, Frame, Payload, expect_echo, request};

// Opcodes.
const CREATE: u8 = 0x10;
const PUSH: u8 = 0x11;
const CONSUME: u8 = 0x12;
const ACK: u8 = 0x13;
const EXISTS: u8 = 0x14;
const DELETE: u8 = 0x15;
const PEEK_DLQ: u8 = 0x16;
const MOVE_TO_QUEUE: u8 = 0x17;
const DELETE_DLQ: u8 = 0x18;
const PURGE_DLQ: u8 = 0x19;
const NACK: u8 = 0x1A;
const EXTEND: u8 = 0x1B;
const NACK_DELAY: u8 = 0x1C;
const PURGE: u8 = 0x1D;
const LIST: u8 = 0x1E;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn queue_opts(visibility_timeout_ms: Option<u64>, max_retries: Option<u32>) -> QueueOptions {
    QueueOptions { visibility_timeout_ms, max_retries, ..QueueOptions::default() }
}

fn create(c: &mut Client, name: &str, options: QueueOptions) {
    c.create_queue(name, options).unwrap_or_else(|e| panic!("CREATE {name}: {e:?}"));
}

fn push(c: &mut Client, name: &str, payload: &str) {
    push_with(c, name, payload, PushOptions::default());
}

fn push_prio(c: &mut Client, name: &str, payload: &str, priority: u8) {
    push_with(c, name, payload, PushOptions { priority: Some(priority), delay_ms: None });
}

fn push_with(c: &mut Client, name: &str, payload: &str, options: PushOptions) {
    c.push(name, payload.as_bytes(), options).unwrap_or_else(|e| panic!("PUSH {payload:?} to {name}: {e:?}"));
}

/// Pushes every payload in one pipeline; each must be answered OK.
fn push_many(c: &mut Client, name: &str, payloads: &[Vec<u8>], priority: Option<u8>) {
    let requests: Vec<Request> = payloads
        .iter()
        .map(|p| {
            Request::Queue(QueueRequest::Push {
                name: name.to_owned(),
                options: PushOptions { priority, delay_ms: None },
                payload: Bytes::copy_from_slice(p),
            })
        })
        .collect();
    let replies = c.pipeline(&requests).unwrap_or_else(|e| panic!("pipelined PUSH to {name}: {e:?}"));
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(reply, &Reply::Ok, "pipelined PUSH #{i} to {name}");
    }
}

/// Acks every id in one pipeline; each must be answered OK.
fn ack_many(c: &mut Client, name: &str, ids: &[Uuid]) {
    let requests: Vec<Request> =
        ids.iter().map(|id| Request::Queue(QueueRequest::Ack { id: *id, name: name.to_owned() })).collect();
    let replies = c.pipeline(&requests).unwrap_or_else(|e| panic!("pipelined ACK on {name}: {e:?}"));
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!(reply, &Reply::Ok, "pipelined ACK #{i} on {name}");
    }
}

fn consume(c: &mut Client, name: &str, batch: u32) -> Vec<QueueMessage> {
    consume_wait(c, name, batch, 0)
}

fn consume_wait(c: &mut Client, name: &str, batch: u32, wait_ms: u64) -> Vec<QueueMessage> {
    let options = ConsumeOptions { batch_size: Some(batch), wait_ms: Some(wait_ms) };
    c.consume(name, options).unwrap_or_else(|e| panic!("CONSUME {name}: {e:?}"))
}

/// Consumes (without waiting) until an empty batch; returns everything, leased to `c`.
fn drain(c: &mut Client, name: &str) -> Vec<QueueMessage> {
    let mut all = Vec::new();
    loop {
        let batch = consume(c, name, 1000);
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

fn text(m: &QueueMessage) -> String {
    String::from_utf8_lossy(&m.payload).into_owned()
}

fn texts(ms: &[QueueMessage]) -> Vec<String> {
    ms.iter().map(text).collect()
}

fn dlq_summary(ms: &[DlqMessage]) -> Vec<(String, u32, String)> {
    ms.iter()
        .map(|m| (String::from_utf8_lossy(&m.payload).into_owned(), m.attempts, m.reason.clone()))
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// The ERR text of a typed client call that must fail with one.
fn server_err<T: Debug>(result: nexo_client::Result<T>) -> String {
    match result {
        Err(ClientError::Server(text)) => text,
        other => panic!("expected an ERR reply, got {other:?}"),
    }
}

/// The one queue of `list` called `name`.
fn info<'a>(list: &'a [QueueInfo], name: &str) -> &'a QueueInfo {
    list.iter().find(|q| q.name == name).unwrap_or_else(|| panic!("{name} is not in LIST: {list:?}"))
}

/// `(ready, in_flight, delayed, dead)` of `name` from LIST.
fn counts(c: &mut Client, name: &str) -> (u64, u64, u64, u64) {
    let (_, list) = c.list_queues(0, 1000).unwrap();
    let q = info(&list, name);
    (q.ready, q.in_flight, q.delayed, q.dead)
}

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

/// Decodes a CONSUME DATA payload exactly: `u32 n`, n × (`uuid`, `u32 len`, payload).
fn decode_batch(f: &Frame) -> Vec<(Uuid, Vec<u8>)> {
    assert_eq!(f.status, wire::DATA, "CONSUME answers DATA: {f:?}");
    let p = &f.payload;
    let n = u32::from_be_bytes(p[..4].try_into().unwrap()) as usize;
    let mut at = 4;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id: Uuid = p[at..at + 16].try_into().unwrap();
        let len = u32::from_be_bytes(p[at + 16..at + 20].try_into().unwrap()) as usize;
        out.push((id, p[at + 20..at + 20 + len].to_vec()));
        at += 20 + len;
    }
    assert_eq!(at, p.len(), "CONSUME reply has trailing bytes: {f:?}");
    out
}

fn name_payload(name: &str) -> Vec<u8> {
    Payload::new().str(name).build()
}

fn consume_payload(name: &str, options: &str) -> Vec<u8> {
    Payload::new().str(name).json(options).build()
}

/// Total size of the files under `dir`, recursively.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        total += if meta.is_dir() { dir_bytes(&entry.path()) } else { meta.len() };
    }
    total
}

// ---------------------------------------------------------------------------------------------
// v1 commands
// ---------------------------------------------------------------------------------------------

/// Every v1 Queue opcode over raw frames, checking the exact reply bytes: CREATE, PUSH, CONSUME
/// (DATA `u32 n` + (`uuid`, `u32 len`, payload)), ACK, NACK, EXISTS, PEEK_DLQ (`u32 total`,
/// `u32 n`, (`uuid`, `u32 len`, payload, `u32 attempts`, `str reason`)), MOVE_TO_QUEUE and
/// DELETE_DLQ (`u8`), PURGE_DLQ (`u32`), DELETE.
pub fn queue_v1_wire_bytes(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    let q = || Payload::new().str("wire");
    expect_reply(&mut s, CREATE, 1, &q().json(r#"{"maxRetries":1}"#).build(), wire::OK, b"");
    expect_reply(&mut s, CREATE, 2, &q().json("{}").build(), wire::OK, b"");
    expect_reply(&mut s, EXISTS, 3, &q().build(), wire::OK, b"");
    expect_reply(&mut s, PUSH, 4, &q().json("{}").raw(b"\x00\xFFlow").build(), wire::OK, b"");
    expect_reply(&mut s, PUSH, 5, &q().json(r#"{"priority":3}"#).raw(b"\x01high").build(), wire::OK, b"");
    expect_reply(&mut s, PUSH, 6, &q().json(r#"{"priority":0,"delayMs":0}"#).raw(b"").build(), wire::OK, b"");

    let f = call(&mut s, CONSUME, 7, &consume_payload("wire", r#"{"batchSize":5}"#));
    let batch = decode_batch(&f);
    let payloads: Vec<&[u8]> = batch.iter().map(|(_, p)| p.as_slice()).collect();
    assert_eq!(payloads, [&b"\x01high"[..], b"\x00\xFFlow", b""], "priority first, payload bytes verbatim");
    assert_eq!(f.payload.len(), 4 + 3 * 20 + 5 + 5, "exact CONSUME layout: {f:?}");
    let ids: BTreeSet<Uuid> = batch.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), 3, "message ids are distinct: {batch:?}");
    let (high, low, empty) = (batch[0].0, batch[1].0, batch[2].0);

    // ACK: id first, then the name.
    let ack = |id: &Uuid| Payload::new().raw(id).str("wire").build();
    expect_reply(&mut s, ACK, 8, &ack(&high), wire::OK, b"");
    assert_eq!(call(&mut s, ACK, 9, &ack(&high)).err_text(), "ACK failed", "second ACK of the same id");
    expect_reply(&mut s, ACK, 10, &ack(&empty), wire::OK, b"");

    // NACK with maxRetries 1: dead-lettered on the first failure, reason verbatim.
    let reason = "bad input: ünïcode ✓ \"quoted\"";
    let nack = |id: &Uuid, why: &str| Payload::new().raw(id).str("wire").str(why).build();
    expect_reply(&mut s, NACK, 11, &nack(&low, reason), wire::OK, b"");
    assert_eq!(call(&mut s, NACK, 12, &nack(&low, "again")).err_text(), "NACK failed");
    let f = call(&mut s, CONSUME, 13, &consume_payload("wire", "{}"));
    assert_eq!((f.status, f.payload.as_slice()), (wire::DATA, &[0u8, 0, 0, 0][..]), "empty batch: {f:?}");

    let peek = Payload::new().str("wire").u32(10).u32(0).build();
    let want = Payload::new().u32(1).u32(1).raw(low).u32(5).raw(b"\x00\xFFlow").u32(1).str(reason).build();
    expect_reply(&mut s, PEEK_DLQ, 14, &peek, wire::DATA, &want);

    let by_id = |id: &Uuid| Payload::new().str("wire").raw(id).build();
    expect_reply(&mut s, MOVE_TO_QUEUE, 15, &by_id(&low), wire::DATA, &[1]);
    expect_reply(&mut s, MOVE_TO_QUEUE, 16, &by_id(&low), wire::DATA, &[0]);
    expect_reply(&mut s, DELETE_DLQ, 17, &by_id(&low), wire::DATA, &[0]);
    expect_reply(&mut s, PEEK_DLQ, 18, &peek, wire::DATA, &[0, 0, 0, 0, 0, 0, 0, 0]);
    let f = call(&mut s, CONSUME, 19, &consume_payload("wire", "{}"));
    assert_eq!(decode_batch(&f), vec![(low, b"\x00\xFFlow".to_vec())], "moved back with the same id");
    expect_reply(&mut s, NACK, 20, &nack(&low, "r2"), wire::OK, b"");
    expect_reply(&mut s, DELETE_DLQ, 21, &by_id(&low), wire::DATA, &[1]);
    expect_reply(&mut s, DELETE_DLQ, 22, &by_id(&low), wire::DATA, &[0]);
    expect_reply(&mut s, PURGE_DLQ, 23, &q().build(), wire::DATA, &[0, 0, 0, 0]);

    expect_reply(&mut s, PUSH, 24, &q().json("{}").raw(b"x").build(), wire::OK, b"");
    let f = call(&mut s, CONSUME, 25, &consume_payload("wire", r#"{"batchSize":1}"#));
    let x = decode_batch(&f)[0].0;
    expect_reply(&mut s, NACK, 26, &nack(&x, "r3"), wire::OK, b"");
    expect_reply(&mut s, PURGE_DLQ, 27, &q().build(), wire::DATA, &[0, 0, 0, 1]);
    expect_reply(&mut s, PEEK_DLQ, 28, &peek, wire::DATA, &[0, 0, 0, 0, 0, 0, 0, 0]);

    expect_reply(&mut s, DELETE, 29, &q().build(), wire::OK, b"");
    expect_reply(&mut s, DELETE, 30, &q().build(), wire::OK, b"");
    assert_eq!(call(&mut s, EXISTS, 31, &q().build()).err_text(), "Queue not found");
    expect_echo(&mut s, 32);
}

/// CREATE is idempotent and keeps the options of an existing queue; EXISTS answers OK or
/// `Queue not found`; DELETE removes everything and answers OK also for a missing queue.
pub fn queue_create_exists_delete(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    assert!(!c.queue_exists("jobs").unwrap());
    assert_eq!(server_err(c.create_queue("", QueueOptions::default())), "Invalid name: empty");
    create(&mut c, "jobs", queue_opts(Some(60_000), Some(1)));
    assert!(c.queue_exists("jobs").unwrap());
    // A second CREATE with other options answers OK and changes nothing.
    create(&mut c, "jobs", queue_opts(Some(60_000), Some(5)));
    create(&mut c, "jobs", QueueOptions::default());
    push(&mut c, "jobs", "a");
    let got = consume(&mut c, "jobs", 10);
    assert_eq!(texts(&got), ["a"]);
    c.nack("jobs", got[0].id, "first failure").unwrap();
    let (total, dead) = c.peek_dlq("jobs", 10, 0).unwrap();
    assert_eq!(
        (total, dlq_summary(&dead)),
        (1, vec![("a".into(), 1, "first failure".into())]),
        "maxRetries 1 of the first CREATE still applies"
    );

    // DELETE: the queue and its messages are gone; a new queue of that name starts empty.
    push(&mut c, "jobs", "b");
    c.delete_queue("jobs").unwrap();
    assert!(!c.queue_exists("jobs").unwrap());
    c.delete_queue("jobs").unwrap();
    c.delete_queue("never-existed").unwrap();
    create(&mut c, "jobs", QueueOptions::default());
    assert!(consume(&mut c, "jobs", 10).is_empty(), "a re-created queue is empty");
    assert_eq!(c.peek_dlq("jobs", 10, 0).unwrap().0, 0, "and so is its DLQ");

    // Raw EXISTS texts.
    let mut s = server.raw();
    expect_reply(&mut s, EXISTS, 1, &name_payload("jobs"), wire::OK, b"");
    assert_eq!(call(&mut s, EXISTS, 2, &name_payload("nope")).err_text(), "Queue not found");
}

/// Invalid names are refused by CREATE with `Invalid name: <why>`; nothing is created.
pub fn queue_invalid_names(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    let long = "x".repeat(201);
    for (name, why) in [
        ("", "Invalid name: empty"),
        ("a/b", "Invalid name: contains a path separator"),
        ("a\\b", "Invalid name: contains a path separator"),
        ("../etc", "Invalid name: contains a path separator"),
        ("a\nb", "Invalid name: contains a control character"),
        ("tab\there", "Invalid name: contains a control character"),
        (".", "Invalid name: '.' and '..' are reserved"),
        ("..", "Invalid name: '.' and '..' are reserved"),
        (long.as_str(), "Invalid name: longer than 200 bytes"),
    ] {
        assert_eq!(server_err(c.create_queue(name, QueueOptions::default())), why, "CREATE {name:?}");
    }
    let (total, list) = c.list_queues(0, 100).unwrap();
    assert_eq!((total, list.len()), (0, 0), "no queue was created: {list:?}");
    for ok in ["x".repeat(200), "a.b-c_d:e".into(), "...".into(), "ünïcode".into(), "LOCK".into()] {
        create(&mut c, &ok, QueueOptions::default());
        assert!(c.queue_exists(&ok).unwrap(), "{ok:?} is a valid name");
    }
    assert_eq!(c.list_queues(0, 100).unwrap().0, 5);
}

/// Commands on a missing queue: PUSH → `Queue '<name>' not found. Create it first.`, EXISTS →
/// `Queue not found`, DELETE → OK, every other command → `Queue '<name>' not found`.
pub fn queue_missing_queue_errors(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    let q = || Payload::new().str("ghost");
    let id = [9u8; 16];
    let missing = "Queue 'ghost' not found";
    let cases: Vec<(u8, Vec<u8>, &str)> = vec![
        (PUSH, q().json("{}").raw("x").build(), "Queue 'ghost' not found. Create it first."),
        (CONSUME, q().json("{}").build(), missing),
        (CONSUME, q().json(r#"{"waitMs":5000}"#).build(), missing),
        (ACK, Payload::new().raw(id).str("ghost").build(), missing),
        (NACK, Payload::new().raw(id).str("ghost").str("why").build(), missing),
        (EXISTS, q().build(), "Queue not found"),
        (PEEK_DLQ, q().u32(10).u32(0).build(), missing),
        (MOVE_TO_QUEUE, q().raw(id).build(), missing),
        (DELETE_DLQ, q().raw(id).build(), missing),
        (PURGE_DLQ, q().build(), missing),
        (EXTEND, Payload::new().raw(id).str("ghost").u64(1000).build(), missing),
        (NACK_DELAY, Payload::new().raw(id).str("ghost").str("why").u64(10).build(), missing),
        (PURGE, q().build(), missing),
    ];
    for (i, (op, payload, text)) in cases.iter().enumerate() {
        let id = 100 + i as u32;
        let got = call(&mut s, *op, id, payload).err_text();
        assert_eq!(got, *text, "opcode 0x{op:02X} on a missing queue");
        assert!(got.contains("not found"), "SDKs match on `not found`: {got:?}");
    }
    expect_reply(&mut s, DELETE, 200, &q().build(), wire::OK, b"");
    expect_echo(&mut s, 201);
    // Through the client too, with another name.
    let mut c = server.client();
    assert_eq!(
        server_err(c.push("other q", b"x", PushOptions::default())),
        "Queue 'other q' not found. Create it first."
    );
    assert!(!c.queue_exists("other q").unwrap());
}

/// Higher priority first, FIFO inside a priority, also inside one batch and across batches.
pub fn queue_priority_order(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "p", QueueOptions::default());
    let pushes = [
        ("a0", 0),
        ("b5", 5),
        ("c0", 0),
        ("d255", 255),
        ("e5", 5),
        ("f1", 1),
        ("g255", 255),
        ("h0", 0),
        ("i5", 5),
    ];
    for (payload, prio) in pushes {
        push_prio(&mut c, "p", payload, prio);
    }
    push(&mut c, "p", "j-default");
    let want = ["d255", "g255", "b5", "e5", "i5", "f1", "a0", "c0", "h0", "j-default"];
    assert_eq!(texts(&consume(&mut c, "p", 100)), want, "one batch");

    // The same order across batches of 3 (a second queue, so no lease interferes).
    create(&mut c, "p2", QueueOptions::default());
    for (payload, prio) in pushes {
        push_prio(&mut c, "p2", payload, prio);
    }
    push(&mut c, "p2", "j-default");
    let mut got = Vec::new();
    for _ in 0..4 {
        let batch = consume(&mut c, "p2", 3);
        assert!(batch.len() <= 3, "batchSize 3 answered {} messages", batch.len());
        got.extend(texts(&batch));
    }
    assert_eq!(got, want, "across batches");
    assert!(consume(&mut c, "p2", 3).is_empty());

    // A higher priority pushed later overtakes; a nacked message goes to the tail of its priority.
    push_prio(&mut c, "p2", "x1", 1);
    push_prio(&mut c, "p2", "y1", 1);
    let first = consume(&mut c, "p2", 1);
    assert_eq!(texts(&first), ["x1"]);
    push_prio(&mut c, "p2", "z9", 9);
    c.nack("p2", first[0].id, "retry").unwrap();
    assert_eq!(texts(&consume(&mut c, "p2", 10)), ["z9", "y1", "x1"]);
}

/// `delayMs` hides a message until the delay passes; delayed messages become ready in order of
/// their due time.
pub fn queue_delay(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "d", QueueOptions::default());
    let pushed = Instant::now();
    push_with(&mut c, "d", "late", PushOptions { priority: None, delay_ms: Some(3000) });
    push_with(&mut c, "d", "soon", PushOptions { priority: None, delay_ms: Some(1500) });
    push(&mut c, "d", "now");
    assert_eq!(texts(&consume(&mut c, "d", 10)), ["now"], "delayed messages are hidden");
    assert!(pushed.elapsed() < Duration::from_millis(1500), "the check above ran too late to mean anything");
    assert!(consume(&mut c, "d", 10).is_empty());
    assert_eq!(counts(&mut c, "d"), (0, 1, 2, 0), "LIST counts them as delayed");

    let got = consume_wait(&mut c, "d", 10, 10_000);
    let at = pushed.elapsed();
    assert_eq!(texts(&got), ["soon"], "the earlier due time first");
    assert!(at >= Duration::from_millis(1490), "served {at:?} after a push with delayMs 1500");
    let got = consume_wait(&mut c, "d", 10, 10_000);
    let at = pushed.elapsed();
    assert_eq!(texts(&got), ["late"]);
    assert!(at >= Duration::from_millis(2990), "served {at:?} after a push with delayMs 3000");
    assert!(at < Duration::from_secs(10), "a delayed message took {at:?}");
}

/// `batchSize` bounds a batch; missing means 10; above 1000 is clamped to 1000.
pub fn queue_batch_size_and_clamp(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "b", QueueOptions::default());
    let payloads: Vec<Vec<u8>> = (0..1200).map(|i| format!("m{i:04}").into_bytes()).collect();
    push_many(&mut c, "b", &payloads, None);
    let options = ConsumeOptions { batch_size: None, wait_ms: None };
    let default = c.consume("b", options).unwrap();
    assert_eq!(texts(&default), (0..10).map(|i| format!("m{i:04}")).collect::<Vec<_>>(), "default batch 10");
    let one = consume(&mut c, "b", 1);
    assert_eq!(texts(&one), ["m0010"]);
    let big = consume(&mut c, "b", 5000);
    assert_eq!(big.len(), 1000, "batchSize 5000 is clamped to 1000");
    assert_eq!(text(&big[0]), "m0011");
    assert_eq!(text(&big[999]), "m1010");
    let rest = consume(&mut c, "b", u32::MAX);
    assert_eq!(rest.len(), 189, "the rest");
    assert_eq!(counts(&mut c, "b"), (0, 1200, 0, 0));
}

/// CONSUME with `waitMs` long-polls: other requests on the same connection are answered while it
/// is parked; a push from another connection answers it at once; an empty batch comes at the
/// deadline; parked consumers are served in arrival order.
pub fn queue_long_poll(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "lp", QueueOptions::default());

    let mut a = server.raw();
    wire::send(&mut a, &request(CONSUME, 1, &consume_payload("lp", r#"{"batchSize":5,"waitMs":20000}"#)));
    // Requests after the parked CONSUME are answered meanwhile (EXISTS goes to the same broker).
    expect_reply(&mut a, EXISTS, 2, &name_payload("lp"), wire::OK, b"");
    expect_echo(&mut a, 3);
    let other = call(&mut a, LIST, 4, &Payload::new().u32(0).u32(10).build());
    assert_eq!(other.status, wire::DATA);
    thread::sleep(Duration::from_millis(300));
    push(&mut c, "lp", "wake");
    let pushed = Instant::now();
    let f = wire::read_response(&mut a, 1);
    let took = pushed.elapsed();
    let batch = decode_batch(&f);
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].1, b"wake");
    assert!(took < Duration::from_secs(2), "a parked CONSUME took {took:?} to see a push");

    // The deadline: an empty batch, not before waitMs.
    let started = Instant::now();
    let f = call(&mut a, CONSUME, 5, &consume_payload("lp", r#"{"waitMs":600}"#));
    let took = started.elapsed();
    assert_eq!((f.status, f.payload.as_slice()), (wire::DATA, &[0u8, 0, 0, 0][..]), "empty batch: {f:?}");
    assert!(took >= Duration::from_millis(590), "a 600 ms long-poll answered after {took:?}");
    assert!(took < Duration::from_secs(5), "a 600 ms long-poll answered after {took:?}");
    let empty = consume_wait(&mut c, "lp", 10, 300);
    assert!(empty.is_empty(), "client long-poll: {empty:?}");

    // Arrival order: B parks before C (the EXISTS reply proves the CONSUME was taken in).
    let mut b = server.raw();
    wire::send(&mut b, &request(CONSUME, 10, &consume_payload("lp", r#"{"waitMs":20000}"#)));
    expect_reply(&mut b, EXISTS, 11, &name_payload("lp"), wire::OK, b"");
    let mut d = server.raw();
    wire::send(&mut d, &request(CONSUME, 20, &consume_payload("lp", r#"{"waitMs":20000}"#)));
    expect_reply(&mut d, EXISTS, 21, &name_payload("lp"), wire::OK, b"");
    push(&mut c, "lp", "first");
    assert_eq!(
        decode_batch(&wire::read_response(&mut b, 10))[0].1,
        b"first",
        "the first parked is served first"
    );
    assert!(
        wire::try_read_frame(&mut d, Duration::from_millis(300)).is_err(),
        "the second parked CONSUME must still wait"
    );
    push(&mut c, "lp", "second");
    assert_eq!(decode_batch(&wire::read_response(&mut d, 20))[0].1, b"second");

    // Two parked CONSUMEs on one connection, answered as messages come, by id.
    wire::send(&mut a, &request(CONSUME, 30, &consume_payload("lp", r#"{"waitMs":20000}"#)));
    wire::send(&mut a, &request(CONSUME, 31, &consume_payload("lp", r#"{"waitMs":20000}"#)));
    expect_echo(&mut a, 32);
    push(&mut c, "lp", "m1");
    let f = wire::read_response(&mut a, 30);
    assert_eq!(decode_batch(&f)[0].1, b"m1");
    push(&mut c, "lp", "m2");
    let f = wire::read_response(&mut a, 31);
    assert_eq!(decode_batch(&f)[0].1, b"m2");
}

/// DELETE answers the CONSUMEs parked on the queue with an empty batch; the deleted queue's
/// leases end (ACK → not found).
pub fn queue_delete_releases_parked(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "del", QueueOptions::default());
    push(&mut c, "del", "held");
    let mut holder = server.client();
    let held = consume(&mut holder, "del", 1);
    assert_eq!(texts(&held), ["held"]);

    let mut a = server.raw();
    wire::send(&mut a, &request(CONSUME, 1, &consume_payload("del", r#"{"waitMs":30000}"#)));
    expect_reply(&mut a, EXISTS, 2, &name_payload("del"), wire::OK, b"");
    let started = Instant::now();
    c.delete_queue("del").unwrap();
    let f = wire::read_response(&mut a, 1);
    assert_eq!((f.status, f.payload.as_slice()), (wire::DATA, &[0u8, 0, 0, 0][..]), "empty batch: {f:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "the parked CONSUME waited {:?}", started.elapsed());
    assert_eq!(server_err(holder.ack("del", held[0].id)), "Queue 'del' not found");
    expect_echo(&mut a, 3);
    create(&mut c, "del", QueueOptions::default());
    assert!(consume(&mut c, "del", 10).is_empty(), "nothing of the deleted queue survives");
}

/// ACK removes; NACK redelivers with the attempts counted, and the delivery that reaches
/// `maxRetries` moves it to the DLQ with the reason verbatim; `maxRetries` 0 and 1 dead-letter
/// on the first failure.
pub fn queue_ack_nack_retries(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "r", queue_opts(None, Some(3)));
    push(&mut c, "r", "job");
    let first = consume(&mut c, "r", 10);
    assert_eq!(texts(&first), ["job"]);
    let id = first[0].id;
    c.nack("r", id, "one").unwrap();
    for (attempt, reason) in [(2, "two"), (3, "three: ünïcode ✓ and \"quotes\" \u{1F600}")] {
        let again = consume(&mut c, "r", 10);
        assert_eq!(again.len(), 1, "redelivery #{attempt}");
        assert_eq!((again[0].id, text(&again[0])), (id, "job".into()), "same id and payload");
        assert_eq!(counts(&mut c, "r"), (0, 1, 0, 0));
        c.nack("r", id, reason).unwrap();
    }
    assert!(consume(&mut c, "r", 10).is_empty(), "dead after 3 deliveries");
    let (total, dead) = c.peek_dlq("r", 10, 0).unwrap();
    assert_eq!(total, 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(
        dlq_summary(&dead),
        vec![("job".into(), 3, "three: ünïcode ✓ and \"quotes\" \u{1F600}".into())],
        "attempts and the last reason verbatim"
    );
    assert_eq!(counts(&mut c, "r"), (0, 0, 0, 1));

    // ACK: gone for good; a second ACK fails.
    push(&mut c, "r", "done");
    let got = consume(&mut c, "r", 10);
    c.ack("r", got[0].id).unwrap();
    assert_eq!(server_err(c.ack("r", got[0].id)), "ACK failed");
    assert_eq!(server_err(c.nack("r", got[0].id, "x")), "NACK failed");
    assert_eq!(server_err(c.ack("r", [0xAB; 16])), "ACK failed", "unknown id");
    assert_eq!(server_err(c.nack("r", [0xAB; 16], "x")), "NACK failed", "unknown id");
    assert!(consume(&mut c, "r", 10).is_empty());
    assert_eq!(counts(&mut c, "r"), (0, 0, 0, 1));

    for retries in [0, 1] {
        let name = format!("r{retries}");
        create(&mut c, &name, queue_opts(None, Some(retries)));
        push(&mut c, &name, "once");
        let got = consume(&mut c, &name, 10);
        c.nack(&name, got[0].id, "first").unwrap();
        assert!(consume(&mut c, &name, 10).is_empty(), "maxRetries {retries}");
        let (total, dead) = c.peek_dlq(&name, 10, 0).unwrap();
        assert_eq!(
            (total, dlq_summary(&dead)),
            (1, vec![("once".into(), 1, "first".into())]),
            "maxRetries {retries}"
        );
    }

    // Default maxRetries is 5.
    create(&mut c, "r5", QueueOptions::default());
    push(&mut c, "r5", "five");
    for attempt in 1..=5 {
        let got = consume(&mut c, "r5", 10);
        assert_eq!(texts(&got), ["five"], "delivery {attempt}");
        c.nack("r5", got[0].id, &format!("fail {attempt}")).unwrap();
    }
    assert!(consume(&mut c, "r5", 10).is_empty());
    assert_eq!(dlq_summary(&c.peek_dlq("r5", 10, 0).unwrap().1), vec![("five".into(), 5, "fail 5".into())]);
}

/// A lease that runs out (small `visibilityTimeoutMs`) redelivers the message; the expiry that
/// reaches `maxRetries` dead-letters it with reason `Timeout`.
pub fn queue_lease_expiry(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "v", queue_opts(Some(400), Some(2)));
    push(&mut c, "v", "slow");
    let leased_at = Instant::now();
    let first = consume(&mut c, "v", 10);
    assert_eq!(texts(&first), ["slow"]);
    assert!(consume(&mut c, "v", 10).is_empty(), "leased, not ready");
    let mut other = server.client();
    let again = consume_wait(&mut other, "v", 10, 10_000);
    let at = leased_at.elapsed();
    assert_eq!(again.len(), 1, "redelivered after the lease ran out");
    assert_eq!((again[0].id, text(&again[0])), (first[0].id, "slow".into()));
    assert!(at >= Duration::from_millis(390), "redelivered {at:?} after a 400 ms lease");
    assert_eq!(server_err(c.ack("v", first[0].id)), "ACK failed", "the old holder lost the lease");

    // The second lease runs out too: attempts 2 >= maxRetries 2 → DLQ with `Timeout`.
    let dead = eventually(PATIENCE, || other.peek_dlq("v", 10, 0).unwrap().0 == 1);
    assert!(dead, "the message was not dead-lettered after its second lease ran out");
    let (_, page) = other.peek_dlq("v", 10, 0).unwrap();
    assert_eq!(page[0].id, first[0].id);
    assert_eq!(dlq_summary(&page), vec![("slow".into(), 2, "Timeout".into())]);
    assert_eq!(server_err(other.ack("v", first[0].id)), "ACK failed");
    assert!(consume(&mut other, "v", 10).is_empty());
    assert_eq!(counts(&mut c, "v"), (0, 0, 0, 1));
}

/// PEEK_DLQ newest failure first with the total and paging; MOVE_TO_QUEUE (same id, attempts
/// back to 0); DELETE_DLQ; PURGE_DLQ.
pub fn queue_dlq_commands(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "dl", queue_opts(None, Some(2)));
    let mut ids = BTreeMap::new();
    for name in ["m1", "m2", "m3"] {
        push(&mut c, "dl", name);
        let got = consume(&mut c, "dl", 1);
        assert_eq!(texts(&got), [name]);
        c.nack("dl", got[0].id, &format!("{name} first")).unwrap();
        let got = consume(&mut c, "dl", 1);
        assert_eq!(texts(&got), [name]);
        c.nack("dl", got[0].id, &format!("{name} failed")).unwrap();
        ids.insert(name, got[0].id);
    }
    let (total, page) = c.peek_dlq("dl", 10, 0).unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        dlq_summary(&page),
        vec![
            ("m3".into(), 2, "m3 failed".into()),
            ("m2".into(), 2, "m2 failed".into()),
            ("m1".into(), 2, "m1 failed".into())
        ],
        "newest failure first"
    );
    assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), [ids["m3"], ids["m2"], ids["m1"]]);
    let (total, page) = c.peek_dlq("dl", 1, 1).unwrap();
    assert_eq!(
        (total, dlq_summary(&page)),
        (3, vec![("m2".into(), 2, "m2 failed".into())]),
        "limit 1 offset 1"
    );
    let (total, page) = c.peek_dlq("dl", 10, 3).unwrap();
    assert_eq!((total, page.len()), (3, 0), "offset past the end");
    let (total, page) = c.peek_dlq("dl", 0, 0).unwrap();
    assert_eq!(total, 3, "limit 0: {page:?}");

    // MOVE_TO_QUEUE: ready again, same id, attempts 0 (so two more failures to die again).
    assert!(c.move_to_queue("dl", ids["m2"]).unwrap());
    assert!(!c.move_to_queue("dl", ids["m2"]).unwrap(), "no longer in the DLQ");
    assert!(!c.move_to_queue("dl", [0x42; 16]).unwrap(), "unknown id");
    assert_eq!(c.peek_dlq("dl", 10, 0).unwrap().0, 2);
    let got = consume(&mut c, "dl", 10);
    assert_eq!(texts(&got), ["m2"]);
    assert_eq!(got[0].id, ids["m2"], "same id");
    c.nack("dl", got[0].id, "after move 1").unwrap();
    let got = consume(&mut c, "dl", 10);
    assert_eq!(
        (texts(&got), got[0].id),
        (strings(&["m2"]), ids["m2"]),
        "attempts were reset: retried once more"
    );
    c.nack("dl", got[0].id, "after move 2").unwrap();
    let (total, page) = c.peek_dlq("dl", 1, 0).unwrap();
    assert_eq!((total, dlq_summary(&page)), (3, vec![("m2".into(), 2, "after move 2".into())]));

    // DELETE_DLQ, PURGE_DLQ.
    assert!(c.delete_dlq("dl", ids["m1"]).unwrap());
    assert!(!c.delete_dlq("dl", ids["m1"]).unwrap());
    assert!(!c.delete_dlq("dl", [0x42; 16]).unwrap());
    let (total, page) = c.peek_dlq("dl", 10, 0).unwrap();
    assert_eq!((total, page.iter().map(|m| m.id).collect::<Vec<_>>()), (2, vec![ids["m2"], ids["m3"]]));
    assert_eq!(c.purge_dlq("dl").unwrap(), 2);
    assert_eq!(c.purge_dlq("dl").unwrap(), 0);
    assert_eq!(c.peek_dlq("dl", 10, 0).unwrap(), (0, Vec::new()));
    assert!(consume(&mut c, "dl", 10).is_empty(), "purged messages are gone");
    assert_eq!(counts(&mut c, "dl"), (0, 0, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// Ownership
// ---------------------------------------------------------------------------------------------

/// Only the consuming connection may ack, nack or extend (`ACK failed`, `NACK failed`,
/// `EXTEND failed`); closing it makes its leased messages ready again at once, attempts kept.
pub fn queue_lease_ownership(bin: &Path) {
    let server = Server::start(bin);
    let mut owner = server.client();
    let mut other = server.client();
    create(&mut owner, "own", queue_opts(None, Some(2)));
    push(&mut owner, "own", "mine");
    let got = consume(&mut owner, "own", 10);
    let id = got[0].id;
    assert_eq!(server_err(other.ack("own", id)), "ACK failed");
    assert_eq!(server_err(other.nack("own", id, "not yours")), "NACK failed");
    assert_eq!(server_err(other.extend_lease("own", id, 10_000)), "EXTEND failed");
    assert_eq!(server_err(other.nack_delay("own", id, "not yours", 10)), "NACK failed");
    assert!(consume(&mut other, "own", 10).is_empty(), "still leased to its owner");
    owner.ack("own", id).unwrap();

    // Closing the consumer: its leases (default visibility 30 s) come back at once.
    push(&mut owner, "own", "r1");
    push(&mut owner, "own", "r2");
    push(&mut owner, "own", "r3");
    let mut consumer = server.client();
    let leased = consume(&mut consumer, "own", 2);
    assert_eq!(texts(&leased), ["r1", "r2"]);
    let mut waiter = server.raw();
    wire::send(&mut waiter, &request(CONSUME, 1, &consume_payload("own", r#"{"batchSize":10,"waitMs":1}"#)));
    let f = wire::read_response(&mut waiter, 1);
    assert_eq!(decode_batch(&f).len(), 1, "r3 was ready");
    wire::send(
        &mut waiter,
        &request(CONSUME, 2, &consume_payload("own", r#"{"batchSize":10,"waitMs":20000}"#)),
    );
    expect_reply(&mut waiter, EXISTS, 3, &name_payload("own"), wire::OK, b"");
    let closed = Instant::now();
    drop(consumer);
    let f = match wire::try_read_frame(&mut waiter, Duration::from_secs(5)) {
        Ok(f) => f,
        Err(e) => {
            // Tell "never released" from "released late": does unrelated traffic wake it?
            expect_echo(&mut server.raw(), 99);
            let late = wire::try_read_frame(&mut waiter, Duration::from_secs(5));
            panic!(
                "a CONSUME parked on another connection got nothing within 5 s of the consumer's \
                 close ({e}); after an ECHO on a new connection it got: {late:?}"
            );
        }
    };
    assert_eq!((f.frame_type, f.id), (wire::RESPONSE, 2), "{f:?}");
    let took = closed.elapsed();
    let back = decode_batch(&f);
    let back_ids: Vec<Uuid> = back.iter().map(|(id, _)| *id).collect();
    assert_eq!(back_ids, [leased[0].id, leased[1].id], "the released leases, oldest first: {back:?}");
    assert!(took < Duration::from_millis(1000), "released leases took {took:?} to be served");

    // Attempts kept: the release counted one delivery, this is the second = maxRetries.
    let nack = Payload::new().raw(leased[0].id).str("own").str("second").build();
    expect_reply(&mut waiter, NACK, 4, &nack, wire::OK, b"");
    let (_, dead) = owner.peek_dlq("own", 10, 0).unwrap();
    assert_eq!(dlq_summary(&dead), vec![("r1".into(), 2, "second".into())], "attempts survived the release");
}

// ---------------------------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------------------------

/// EXTEND (0x1B): only the holder; an extended lease does not expire at the old deadline, and
/// ends at the new one.
pub fn queue_extend_lease(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    let mut other = server.client();
    create(&mut c, "ext", queue_opts(Some(600), Some(5)));
    push(&mut c, "ext", "long job");
    let got = consume(&mut c, "ext", 1);
    let id = got[0].id;
    let extended_at = Instant::now();
    c.extend_lease("ext", id, 4000).unwrap();
    assert_eq!(server_err(other.extend_lease("ext", id, 100)), "EXTEND failed");
    assert_eq!(server_err(c.extend_lease("ext", [1; 16], 100)), "EXTEND failed", "unknown id");
    thread::sleep(Duration::from_millis(1500));
    assert!(consume(&mut other, "ext", 10).is_empty(), "the lease expired at its old deadline");
    assert_eq!(counts(&mut c, "ext"), (0, 1, 0, 0));
    if extended_at.elapsed() < Duration::from_millis(3500) {
        c.ack("ext", id).unwrap();
    } else {
        eprintln!("queue_extend_lease: too slow to check the ACK inside the extended lease");
    }

    // A shorter extension ends the lease sooner: raw EXTEND, exact reply.
    push(&mut c, "ext", "short");
    let mut s = server.raw();
    let f = call(&mut s, CONSUME, 1, &consume_payload("ext", r#"{"batchSize":1}"#));
    let (id, _) = decode_batch(&f)[0].clone();
    expect_reply(&mut s, EXTEND, 2, &Payload::new().raw(id).str("ext").u64(30_000).build(), wire::OK, b"");
    expect_reply(&mut s, EXTEND, 3, &Payload::new().raw(id).str("ext").u64(50).build(), wire::OK, b"");
    let again = consume_wait(&mut other, "ext", 10, 10_000);
    assert_eq!((again.len(), again[0].id), (1, id), "the lease ended 50 ms after the last EXTEND");
    let f = call(&mut s, EXTEND, 4, &Payload::new().raw(id).str("ext").u64(1000).build());
    assert_eq!(f.err_text(), "EXTEND failed", "no longer the holder");
}

/// NACK_DELAY (0x1C): as NACK, but the retry becomes ready only after the delay; it still
/// counts toward `maxRetries`.
pub fn queue_nack_delay(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "nd", queue_opts(None, Some(2)));
    push(&mut c, "nd", "retry me");
    let got = consume(&mut c, "nd", 1);
    let id = got[0].id;
    let mut s = server.raw();
    let f = call(&mut s, NACK_DELAY, 1, &Payload::new().raw(id).str("nd").str("x").u64(10).build());
    assert_eq!(f.err_text(), "NACK failed", "only the holder");
    let nacked = Instant::now();
    c.nack_delay("nd", id, "later", 800).unwrap();
    assert!(consume(&mut c, "nd", 10).is_empty(), "hidden during the delay");
    assert_eq!(counts(&mut c, "nd"), (0, 0, 1, 0));
    let again = consume_wait(&mut c, "nd", 10, 10_000);
    let at = nacked.elapsed();
    assert_eq!((again.len(), again[0].id), (1, id));
    assert!(at >= Duration::from_millis(790), "ready {at:?} after NACK_DELAY 800");
    // The second failure reaches maxRetries 2: dead at once, delay or not.
    let raw_nack = Payload::new().raw(id).str("nd").str("gave up").u64(60_000).build();
    let f = call(&mut s, NACK_DELAY, 2, &raw_nack);
    assert_eq!(f.err_text(), "NACK failed", "the raw connection is not the holder");
    c.nack_delay("nd", id, "gave up", 60_000).unwrap();
    let (_, dead) = c.peek_dlq("nd", 10, 0).unwrap();
    assert_eq!(dlq_summary(&dead), vec![("retry me".into(), 2, "gave up".into())]);
    assert_eq!(counts(&mut c, "nd"), (0, 0, 0, 1));
}

/// PURGE (0x1D) removes ready and delayed messages (not leased or dead ones) and counts them;
/// LIST (0x1E) reports ready / in-flight / delayed / dead per queue, by name, paged.
pub fn queue_purge_and_list(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "pq", queue_opts(None, Some(1)));
    for p in ["a", "b", "c", "d"] {
        push(&mut c, "pq", p);
    }
    push_with(&mut c, "pq", "e", PushOptions { priority: None, delay_ms: Some(60_000) });
    let got = consume(&mut c, "pq", 2);
    assert_eq!(texts(&got), ["a", "b"]);
    c.nack("pq", got[1].id, "dead").unwrap();
    assert_eq!(counts(&mut c, "pq"), (2, 1, 1, 1));
    let mut s = server.raw();
    expect_reply(&mut s, PURGE, 1, &name_payload("pq"), wire::DATA, &[0, 0, 0, 3]);
    assert_eq!(counts(&mut c, "pq"), (0, 1, 0, 1));
    assert_eq!(c.purge_queue("pq").unwrap(), 0);
    assert!(consume(&mut c, "pq", 10).is_empty());
    c.ack("pq", got[0].id).unwrap();
    assert_eq!(c.peek_dlq("pq", 10, 0).unwrap().0, 1, "the DLQ is untouched");

    // LIST: sorted by name, paged, with the total.
    for name in ["zeta", "alpha", "mid"] {
        create(&mut c, name, QueueOptions::default());
    }
    push(&mut c, "mid", "x");
    push(&mut c, "mid", "y");
    let (total, all) = c.list_queues(0, 100).unwrap();
    assert_eq!(total, 4);
    let names: Vec<&str> = all.iter().map(|q| q.name.as_str()).collect();
    assert_eq!(names, ["alpha", "mid", "pq", "zeta"]);
    assert_eq!(
        info(&all, "mid"),
        &QueueInfo { name: "mid".into(), ready: 2, in_flight: 0, delayed: 0, dead: 0 }
    );
    assert_eq!(
        info(&all, "pq"),
        &QueueInfo { name: "pq".into(), ready: 0, in_flight: 0, delayed: 0, dead: 1 }
    );
    let (total, page) = c.list_queues(1, 2).unwrap();
    assert_eq!((total, page.iter().map(|q| q.name.as_str()).collect::<Vec<_>>()), (4, vec!["mid", "pq"]));
    let (total, page) = c.list_queues(10, 2).unwrap();
    assert_eq!((total, page.len()), (4, 0));

    // Raw LIST bytes: u32 total, u32 n, n × (str name, u64 ready, in_flight, delayed, dead).
    let want = Payload::new().u32(4).u32(1).str("mid").u64(2).u64(0).u64(0).u64(0).build();
    expect_reply(&mut s, LIST, 2, &Payload::new().u32(1).u32(1).build(), wire::DATA, &want);
    c.delete_queue("zeta").unwrap();
    assert_eq!(c.list_queues(0, 100).unwrap().0, 3, "a deleted queue leaves the list");
}

/// Per-queue `maxDepth` and `maxBytes` (CREATE options): a push beyond them answers
/// `Queue '<name>' is full`; leased messages count, acked ones free room; a second CREATE does
/// not change the limits.
pub fn queue_max_depth(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    let depth = QueueOptions { max_depth: Some(3), ..QueueOptions::default() };
    create(&mut c, "small", depth);
    create(&mut c, "small", QueueOptions { max_depth: Some(100), ..QueueOptions::default() });
    for p in ["1", "2", "3"] {
        push(&mut c, "small", p);
    }
    assert_eq!(server_err(c.push("small", b"4", PushOptions::default())), "Queue 'small' is full");
    let got = consume(&mut c, "small", 1);
    assert_eq!(
        server_err(c.push("small", b"4", PushOptions::default())),
        "Queue 'small' is full",
        "a leased message still counts"
    );
    let delayed = PushOptions { priority: None, delay_ms: Some(10_000) };
    assert_eq!(server_err(c.push("small", b"4", delayed)), "Queue 'small' is full", "delayed pushes too");
    c.ack("small", got[0].id).unwrap();
    push(&mut c, "small", "4");
    assert_eq!(server_err(c.push("small", b"5", PushOptions::default())), "Queue 'small' is full");
    assert_eq!(texts(&consume(&mut c, "small", 10)), ["2", "3", "4"], "the refused pushes were not stored");

    let bytes = QueueOptions { max_bytes: Some(10), ..QueueOptions::default() };
    create(&mut c, "tiny", bytes);
    push(&mut c, "tiny", "123456");
    assert_eq!(server_err(c.push("tiny", b"12345", PushOptions::default())), "Queue 'tiny' is full");
    push(&mut c, "tiny", "1234");
    assert_eq!(server_err(c.push("tiny", b"x", PushOptions::default())), "Queue 'tiny' is full");
    assert_eq!(texts(&consume(&mut c, "tiny", 10)), ["123456", "1234"]);

    // Raw: the exact ERR frame.
    let mut s = server.raw();
    let f = call(&mut s, PUSH, 7, &Payload::new().str("tiny").json("{}").raw("y").build());
    assert_eq!(f.err_text(), "Queue 'tiny' is full");
}

/// One connection may park at most 1024 CONSUMEs: the 1025th is answered `Too many pending
/// requests` at once; the parked ones stay parked and are served; the connection keeps working.
pub fn queue_too_many_pending(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "park", QueueOptions::default());
    let mut s = server.raw();
    let mut bytes = Vec::new();
    for id in 1..=1025u32 {
        bytes.extend(request(CONSUME, id, &consume_payload("park", r#"{"batchSize":1,"waitMs":60000}"#)));
    }
    wire::send(&mut s, &bytes);
    let f = wire::read_frame(&mut s);
    assert_eq!(f.id, 1025, "the first reply is the refusal of the 1025th: {f:?}");
    assert_eq!(f.err_text(), "Too many pending requests");
    expect_echo(&mut s, 2000);
    let f = call(&mut s, CONSUME, 2001, &consume_payload("park", r#"{"waitMs":1000}"#));
    assert_eq!(f.err_text(), "Too many pending requests", "still full");
    // A CONSUME that does not wait is not parked, so it is served.
    let f = call(&mut s, CONSUME, 2002, &consume_payload("park", "{}"));
    assert!(decode_batch(&f).is_empty(), "a non-waiting CONSUME answers an empty batch");

    // Another connection is not limited by this one.
    let mut other = server.raw();
    wire::send(&mut other, &request(CONSUME, 1, &consume_payload("park", r#"{"waitMs":20000}"#)));
    expect_echo(&mut other, 2);

    // A push serves the oldest parked CONSUME (id 1), which frees one slot.
    push(&mut c, "park", "first");
    let f = wire::read_response(&mut s, 1);
    assert_eq!(decode_batch(&f)[0].1, b"first");
    wire::send(&mut s, &request(CONSUME, 3000, &consume_payload("park", r#"{"waitMs":60000}"#)));
    expect_echo(&mut s, 3001);
    push(&mut c, "park", "second");
    let f = wire::read_response(&mut s, 2);
    assert_eq!(decode_batch(&f)[0].1, b"second");

    // The same limit through the client's send(): 1024 parked, the next is refused.
    let mut p = server.client();
    let consume_req = Request::Queue(QueueRequest::Consume {
        name: "park".into(),
        options: ConsumeOptions { batch_size: Some(1), wait_ms: Some(60_000) },
    });
    for _ in 0..1024 {
        p.send(&consume_req).unwrap();
    }
    let last = p.send(&consume_req).unwrap();
    p.flush().unwrap();
    let reply = p.recv_reply(last, nexo_client::expected_reply_kind(&consume_req)).unwrap();
    assert_eq!(reply, Reply::Err("Too many pending requests".into()));
}

// ---------------------------------------------------------------------------------------------
// Durability
// ---------------------------------------------------------------------------------------------

/// SIGTERM and a restart on the same data directory: ready and delayed messages, messages leased
/// at shutdown (ready again, attempts kept), the DLQ and the queue options survive; a deleted
/// queue stays deleted; new ids do not collide with old ones.
pub fn queue_durable_restart(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "jobs", queue_opts(Some(60_000), Some(2)));
    const N: usize = 300;
    let payloads: Vec<Vec<u8>> = (0..N).map(|i| format!("job-{i:03}").into_bytes()).collect();
    push_many(&mut c, "jobs", &payloads[..100], Some(1));
    push_many(&mut c, "jobs", &payloads[100..], None);
    let mut consumer = server.client();
    let leased = consume(&mut consumer, "jobs", 5);
    assert_eq!(texts(&leased), ["job-000", "job-001", "job-002", "job-003", "job-004"]);
    let acked = consume(&mut consumer, "jobs", 5);
    ack_many(&mut consumer, "jobs", &acked.iter().map(|m| m.id).collect::<Vec<_>>());
    create(&mut c, "dl", queue_opts(None, Some(1)));
    push(&mut c, "dl", "dead one");
    let d = consume(&mut c, "dl", 1);
    c.nack("dl", d[0].id, "reason kept ✓").unwrap();
    create(&mut c, "small", QueueOptions { max_depth: Some(2), ..QueueOptions::default() });
    push(&mut c, "small", "s1");
    push(&mut c, "small", "s2");
    create(&mut c, "short", queue_opts(Some(300), Some(1)));
    push(&mut c, "short", "expires");
    create(&mut c, "gone", QueueOptions::default());
    push(&mut c, "gone", "lost");
    c.delete_queue("gone").unwrap();
    let delayed_at = Instant::now();
    push_with(&mut c, "jobs", "delayed", PushOptions { priority: Some(9), delay_ms: Some(3000) });
    let dlq_before = c.peek_dlq("dl", 10, 0).unwrap();
    let leased_ids: BTreeSet<Uuid> = leased.iter().map(|m| m.id).collect();
    drop((c, consumer));

    let server = server.restart();
    let mut c = server.client();
    assert!(!c.queue_exists("gone").unwrap(), "a deleted queue stays deleted");
    assert!(c.queue_exists("jobs").unwrap());
    assert_eq!(c.peek_dlq("dl", 10, 0).unwrap(), dlq_before, "the DLQ survives");
    assert_eq!(server_err(c.push("small", b"s3", PushOptions::default())), "Queue 'small' is full");

    let all = drain(&mut c, "jobs");
    let early = delayed_at.elapsed() < Duration::from_millis(2900);
    let got = texts(&all);
    let delayed_seen = got.iter().any(|t| t == "delayed");
    if early {
        assert!(!delayed_seen, "the delayed message was served before its due time");
    } else {
        eprintln!("queue_durable_restart: the restart took too long to check that the delay holds");
    }
    let body: Vec<String> = got.iter().filter(|t| *t != "delayed").cloned().collect();
    let job = |i: usize| format!("job-{i:03}");
    let mut prio1 = body[..95.min(body.len())].to_vec();
    prio1.sort();
    let want1: Vec<String> = (0..5).chain(10..100).map(job).collect();
    assert_eq!(prio1, want1, "priority 1 first: the un-acked ones, including those leased at shutdown");
    let fifo: Vec<String> = body[..95].iter().filter(|t| t.as_str() >= "job-010").cloned().collect();
    assert_eq!(fifo, (10..100).map(job).collect::<Vec<_>>(), "FIFO within the priority");
    assert_eq!(body[95..], (100..N).map(job).collect::<Vec<_>>(), "then priority 0, FIFO, nothing else");
    let back: BTreeSet<Uuid> = all.iter().filter(|m| leased_ids.contains(&m.id)).map(|m| m.id).collect();
    assert_eq!(back, leased_ids, "messages leased at shutdown come back with their ids");

    // The delayed message keeps its wall-clock due time.
    if !delayed_seen {
        let later = consume_wait(&mut c, "jobs", 10, 10_000);
        assert_eq!(texts(&later), ["delayed"], "the delayed message did not come back");
        let at = delayed_at.elapsed();
        assert!(at >= Duration::from_millis(2990), "a 3000 ms delay ended after {at:?} across a restart");
    }

    // Attempts kept: the formerly leased job-000 is on its second delivery = maxRetries 2.
    let zero = all.iter().find(|m| text(m) == "job-000").unwrap();
    c.nack("jobs", zero.id, "second").unwrap();
    let fresh = all.iter().find(|m| text(m) == "job-200").unwrap();
    c.nack("jobs", fresh.id, "first").unwrap();
    let (total, page) = c.peek_dlq("jobs", 10, 0).unwrap();
    assert_eq!(
        (total, dlq_summary(&page)),
        (1, vec![("job-000".into(), 2, "second".into())]),
        "attempts and maxRetries survive"
    );
    assert_eq!(texts(&consume(&mut c, "jobs", 10)), ["job-200"], "a first failure is retried");

    // The visibility timeout survives: a 300 ms lease runs out and dead-letters (maxRetries 1).
    let e = consume(&mut c, "short", 1);
    assert_eq!(texts(&e), ["expires"]);
    assert!(
        eventually(PATIENCE, || c.peek_dlq("short", 10, 0).unwrap().0 == 1),
        "visibilityTimeoutMs 300 was lost"
    );

    // New ids never collide with old ones.
    push(&mut c, "jobs", "new");
    let new = drain(&mut c, "jobs");
    assert_eq!(texts(&new), ["new"]);
    assert!(all.iter().all(|m| m.id != new[0].id), "a new message reused an id");
}

/// `kill -9` while several clients push (each push waits for OK, fsync always): after a restart
/// on the same directory every acknowledged push is consumable exactly once, the messages leased
/// (not acked) at the crash are back, and acks made durable before the crash hold.
pub fn queue_crash_kill9(bin: &Path) {
    let mut server = Server::start(bin);
    let mut holder = server.client();
    create(&mut holder, "crash", QueueOptions::default());
    let leased_payloads: Vec<Vec<u8>> = (0..60).map(|k| format!("lease-{k:02}").into_bytes()).collect();
    push_many(&mut holder, "crash", &leased_payloads, Some(200));
    let leased = consume(&mut holder, "crash", 100);
    assert_eq!(leased.len(), 60);
    ack_many(&mut holder, "crash", &leased[..20].iter().map(|m| m.id).collect::<Vec<_>>());
    // The ACK records precede this PUSH's record in the journal: once it is answered (durable),
    // so are they.
    push(&mut holder, "crash", "fence");

    const THREADS: usize = 4;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let attempted = Arc::new(Mutex::new(Vec::<String>::new()));
    let total = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..THREADS {
        let mut client = server.client();
        let (acked, attempted, total, stop) = (acked.clone(), attempted.clone(), total.clone(), stop.clone());
        handles.push(thread::spawn(move || {
            let mut errors = Vec::new();
            for n in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let payload = format!("t{t}-{n:06}-{}", "x".repeat(64));
                attempted.lock().unwrap().push(payload.clone());
                match client.push("crash", payload.as_bytes(), PushOptions::default()) {
                    Ok(()) => {
                        acked.lock().unwrap().push(payload);
                        total.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => {
                        errors.push(format!("{e:?}"));
                        break;
                    }
                }
            }
            errors
        }));
    }
    let started = Instant::now();
    while total.load(Ordering::SeqCst) < 1500 && started.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(10));
    }
    let before_kill = total.load(Ordering::SeqCst);
    server.kill9();
    stop.store(true, Ordering::SeqCst);
    let mut errors = Vec::new();
    for h in handles {
        errors.extend(h.join().unwrap());
    }
    assert!(before_kill >= 100, "only {before_kill} pushes were answered in 30 s before the kill");
    for e in &errors {
        assert!(matches!(e.as_str(), "Closed") || e.starts_with("Io("), "a pusher failed oddly: {e}");
    }
    drop(holder);
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    let attempted: BTreeSet<String> = std::mem::take(&mut *attempted.lock().unwrap()).into_iter().collect();
    assert!(acked.len() >= before_kill);

    let server = server.restart();
    let mut c = server.client();
    let all = drain(&mut c, "crash");
    let mut seen = BTreeMap::<String, usize>::new();
    for m in &all {
        *seen.entry(text(m)).or_default() += 1;
    }
    let duplicates: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicates.is_empty(), "messages delivered more than once after the crash: {duplicates:?}");
    let missing: Vec<&String> = acked.iter().filter(|p| !seen.contains_key(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged pushes are lost after kill -9, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(seen.contains_key("fence"), "the fence push is lost");
    for (k, p) in leased_payloads.iter().enumerate() {
        let p = String::from_utf8(p.clone()).unwrap();
        if k < 20 {
            assert!(
                !seen.contains_key(&p),
                "{p} was acked (and made durable) before the crash but came back"
            );
        } else {
            assert!(seen.contains_key(&p), "{p} was leased at the crash and did not come back");
        }
    }
    let unknown: Vec<&String> = seen
        .keys()
        .filter(|p| !attempted.contains(*p) && *p != "fence" && !p.starts_with("lease-"))
        .collect();
    assert!(unknown.is_empty(), "messages nobody pushed: {unknown:?}");
    let in_doubt = seen.len() - acked.len() - 41; // 40 leased at the crash and the fence
    eprintln!(
        "queue_crash_kill9: {} pushes acknowledged ({before_kill} before the kill), {} consumed after restart, \
         {in_doubt} unanswered pushes survived",
        acked.len(),
        all.len()
    );
    // The restarted server keeps serving the queue.
    push(&mut c, "crash", "after");
    assert_eq!(texts(&drain(&mut c, "crash")), ["after"]);
}

/// A second server on a data directory in use exits non-zero with a message about the lock; the
/// first keeps serving, and once it has stopped a new server starts on the directory.
pub fn queue_data_dir_lock(bin: &Path) {
    let dir = tempfile::Builder::new().prefix("nexo-e2e-lock-").tempdir().unwrap();
    let mut server = Server::start_in(bin, dir.path(), &[]);
    let mut c = server.client();
    create(&mut c, "locked", QueueOptions::default());
    push(&mut c, "locked", "kept");
    let path = dir.path().to_str().unwrap();
    let args = ["--bind", "127.0.0.1", "--port", "0", "--no-ui", "--data-dir", path];
    let out = run_to_exit(bin, &args, Duration::from_secs(30));
    assert!(!out.status.success(), "a second server started on a locked data dir: {out:?}");
    assert!(!out.stdout.contains("nexo ready"), "the second server printed a ready line: {out:?}");
    assert!(out.stderr.to_lowercase().contains("lock"), "the message should mention the lock: {out:?}");
    assert!(c.queue_exists("locked").unwrap(), "the first server still serves");
    push(&mut c, "locked", "more");
    drop(c);
    assert_eq!(server.terminate().code(), Some(0));
    drop(server);

    // The lock dies with its holder: a new server starts on the directory.
    let server = Server::start_in(bin, dir.path(), &[]);
    let mut c = server.client();
    assert_eq!(texts(&drain(&mut c, "locked")), ["kept", "more"], "nothing was harmed by the refused start");
    drop((c, server));
    assert!(dir.path().join("queue").is_dir(), "start_in leaves the caller's directory in place");
}

/// Push+ack 20 000 messages of 1 KiB: compaction keeps `<data-dir>/queue/` far below the 20 MiB
/// pushed (the engine compacts when the journal passes 2 × live + 4 MiB), and the compacted
/// journal recovers what was live.
pub fn queue_journal_bounded(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    create(&mut c, "keep", queue_opts(None, Some(7)));
    push_many(&mut c, "keep", &(0..5).map(|i| format!("keep-{i}").into_bytes()).collect::<Vec<_>>(), None);
    create(&mut c, "bulk", QueueOptions::default());
    const ROUNDS: usize = 20;
    const PER_ROUND: usize = 1000;
    const SIZE: usize = 1024;
    let mut max_seen = 0;
    for round in 0..ROUNDS {
        let payloads: Vec<Vec<u8>> = (0..PER_ROUND)
            .map(|i| {
                let mut p = format!("r{round:02}-{i:04}-").into_bytes();
                p.resize(SIZE, b'.');
                p
            })
            .collect();
        push_many(&mut c, "bulk", &payloads, None);
        let got = consume(&mut c, "bulk", PER_ROUND as u32);
        assert_eq!(got.len(), PER_ROUND, "round {round}");
        assert!(got.iter().all(|m| m.payload.len() == SIZE));
        ack_many(&mut c, "bulk", &got.iter().map(|m| m.id).collect::<Vec<_>>());
        max_seen = max_seen.max(dir_bytes(&server.data_dir().join("queue")));
    }
    // One more durable write so the last acks are journaled and checked for compaction.
    push(&mut c, "keep", "keep-5");
    let pushed = (ROUNDS * PER_ROUND * SIZE) as u64;
    let on_disk = dir_bytes(&server.data_dir().join("queue"));
    max_seen = max_seen.max(on_disk);
    eprintln!(
        "queue_journal_bounded: pushed {pushed} bytes; queue dir {on_disk} bytes now, {max_seen} at most"
    );
    assert!(
        on_disk < 10 << 20,
        "the journal is not compacted: {on_disk} bytes on disk after {pushed} pushed"
    );
    assert!(max_seen < 12 << 20, "the journal grew to {max_seen} bytes before compacting");
    assert_eq!(counts(&mut c, "bulk"), (0, 0, 0, 0));
    drop(c);

    let server = server.restart();
    let mut c = server.client();
    assert!(c.queue_exists("bulk").unwrap());
    assert!(drain(&mut c, "bulk").is_empty(), "acked messages came back after compaction");
    let keep = drain(&mut c, "keep");
    assert_eq!(texts(&keep), (0..6).map(|i| format!("keep-{i}")).collect::<Vec<_>>());
    for m in &keep[..6] {
        c.nack("keep", m.id, "check retries").unwrap();
    }
    let again = drain(&mut c, "keep");
    assert_eq!(again.len(), 6, "maxRetries 7 survived the snapshot: {:?}", texts(&again));
}

/// `--fsync never` and `--fsync interval:50` accept pushes, serve them, and keep them over a
/// graceful restart.
pub fn queue_fsync_modes(bin: &Path) {
    for mode in ["never", "interval:50"] {
        let server = Server::start_with(bin, &["--fsync", mode]);
        let mut c = server.client();
        create(&mut c, "f", QueueOptions::default());
        let payloads: Vec<Vec<u8>> = (0..200).map(|i| format!("{mode}-{i:03}").into_bytes()).collect();
        push_many(&mut c, "f", &payloads, None);
        let mut consumer = server.client();
        let got = consume(&mut consumer, "f", 1000);
        let want: Vec<String> = payloads.iter().map(|p| String::from_utf8(p.clone()).unwrap()).collect();
        assert_eq!(texts(&got), want, "--fsync {mode}");
        ack_many(&mut consumer, "f", &got[..100].iter().map(|m| m.id).collect::<Vec<_>>());
        push(&mut consumer, "f", "fence");
        assert!(
            eventually(PATIENCE, || server.stderr_tail().contains(&format!("fsync={mode}"))),
            "the start-up log does not show fsync={mode}:{}",
            server.stderr_tail()
        );
        drop((c, consumer));
        let server = server.restart();
        let mut c = server.client();
        let mut back = texts(&drain(&mut c, "f"));
        back.sort();
        let mut want: Vec<String> = want[100..].to_vec();
        want.push("fence".into());
        want.sort();
        assert_eq!(back, want, "--fsync {mode}: after a graceful restart");
    }
}
