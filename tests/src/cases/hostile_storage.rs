//! Hostile storage: damaged and missing files in the data directory (issue 11, items 2 and 3).
//!
//! Each case writes real data, stops the server, damages its files the way a bad disk or a
//! careless operator would (one flipped byte, an emptied metadata log, a deleted segment, a cut
//! journal) and starts it again on the same directory. Recovery must keep every intact record,
//! never hand a sequence number out twice, and report the damage in the log and in `/metrics`.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use nexo_client::{Client, ConsumeOptions, GroupMember, PushOptions, QueueOptions, SeekTarget};
use nexo_proto::Reply;
use nexo_proto::options::StreamOptions;
use nexo_proto::request::{QueueRequest, Request, StreamRequest};

use super::{PATIENCE, eventually};
use crate::prom;
use crate::server::{IO_TIMEOUT, Server};

/// Messages each case writes before damaging the files.
const MESSAGES: usize = 1000;

/// `<prefix>-0000`, `<prefix>-0001`, …
fn payload(prefix: &str, i: usize) -> Vec<u8> {
    format!("{prefix}-{i:04}").into_bytes()
}

/// The segment files (`*.log`) of one log directory, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    files
}

/// Files of `dir` whose name ends with `suffix`.
fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(suffix)))
        .collect()
}

/// The directory of the stream topic's data log (`stream-<incarnation>-<topic>`).
fn topic_dir(data_dir: &Path, topic: &str) -> PathBuf {
    let stream = data_dir.join("stream");
    fs::read_dir(&stream)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().ends_with(&format!("-{topic}")))
        .unwrap_or_else(|| panic!("no data log for topic {topic} under {}", stream.display()))
}

/// One sample of `/metrics`, e.g. `metric("nexo_storage_damaged_ranges_total", &[("broker", "queue")])`.
fn metric(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let body = raw.split_once("\r\n\r\n")?.1;
    let families = prom::parse(body).unwrap_or_else(|e| panic!("invalid /metrics: {e}"));
    families.get(name)?.value(labels)
}

/// Waits until the metric reads `want` (snapshots are refreshed every few hundred ms).
fn expect_metric(server: &Server, name: &str, labels: &[(&str, &str)], want: f64) {
    let mut last = None;
    let ok = eventually(PATIENCE, || {
        last = metric(server.ui_addr(), name, labels);
        last == Some(want)
    });
    assert!(ok, "{name}{labels:?} = {last:?}, expected {want}{}", server.stderr_tail());
}

/// Flips one bit pattern in the middle byte of the last segment of the log directory `dir`.
fn flip_middle_byte(dir: &Path) {
    let segment = segments(dir).pop().unwrap_or_else(|| panic!("no segment in {}", dir.display()));
    let mut bytes = fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5A;
    fs::write(&segment, &bytes).unwrap();
}

/// One flipped byte may cost a few records, never more than 10 of the [`MESSAGES`].
fn assert_few_lost(server: &Server, kept: usize) {
    let lost = MESSAGES - kept;
    assert!(lost <= 10, "{lost} of {MESSAGES} messages lost to one flipped byte{}", server.stderr_tail());
}

/// Waits until the server's log holds a line containing every part of `parts`.
fn expect_log(server: &Server, parts: &[&str]) {
    let ok = eventually(PATIENCE, || {
        let tail = server.stderr_tail();
        tail.lines().any(|line| parts.iter().all(|p| line.contains(p)))
    });
    assert!(ok, "no log line with {parts:?}{}", server.stderr_tail());
}

fn push_all(c: &mut Client, queue: &str, n: usize) {
    let requests: Vec<Request> = (0..n)
        .map(|i| {
            Request::Queue(QueueRequest::Push {
                name: queue.to_owned(),
                options: PushOptions::default(),
                payload: Bytes::from(payload("job", i)),
            })
        })
        .collect();
    let replies = c.pipeline(&requests).unwrap_or_else(|e| panic!("pipelined PUSH: {e:?}"));
    assert!(replies.iter().all(|r| *r == Reply::Ok), "every PUSH acknowledged");
}

/// Consumes and acks everything; returns the payloads, sorted.
fn consume_all(c: &mut Client, queue: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let options = ConsumeOptions { batch_size: Some(100), wait_ms: None };
        let batch = c.consume(queue, options).unwrap_or_else(|e| panic!("CONSUME: {e:?}"));
        if batch.is_empty() {
            break;
        }
        for m in batch {
            c.ack(queue, m.id).unwrap_or_else(|e| panic!("ACK: {e:?}"));
            got.push(String::from_utf8_lossy(&m.payload).into_owned());
        }
    }
    got.sort();
    got
}

fn publish_all(c: &mut Client, topic: &str, n: usize) -> Vec<u64> {
    let requests: Vec<Request> = (0..n)
        .map(|i| {
            Request::Stream(StreamRequest::Publish {
                topic: topic.to_owned(),
                payload: Bytes::from(payload("m", i)),
            })
        })
        .collect();
    let replies = c.pipeline(&requests).unwrap_or_else(|e| panic!("pipelined PUBLISH: {e:?}"));
    replies
        .into_iter()
        .map(|r| match r {
            Reply::Seq(seq) => seq,
            other => panic!("PUBLISH answered {other:?}"),
        })
        .collect()
}

/// Reads the whole topic from the beginning with a fresh group, acking as it goes: (seq, text).
fn read_topic(c: &mut Client, topic: &str, group: &str) -> Vec<(u64, String)> {
    c.seek_group(topic, group, SeekTarget::Beginning).unwrap_or_else(|e| panic!("SEEK: {e:?}"));
    let m: GroupMember = c.join_group(topic, group).unwrap_or_else(|e| panic!("JOIN: {e:?}"));
    let mut all = Vec::new();
    loop {
        let batch = c.fetch(&m, 500, 0).unwrap_or_else(|e| panic!("FETCH: {e:?}"));
        if batch.is_empty() {
            return all;
        }
        let seqs: Vec<u64> = batch.iter().map(|m| m.seq).collect();
        c.stream_ack_batch(&m, &seqs).unwrap_or_else(|e| panic!("ACK_BATCH: {e:?}"));
        all.extend(batch.iter().map(|m| (m.seq, String::from_utf8_lossy(&m.payload).into_owned())));
    }
}

/// One flipped byte in the middle of a 1,000-message queue journal loses at most 10 messages;
/// the damaged bytes are quarantined beside the log, and the damage is logged and counted.
pub fn hostile_storage_flipped_byte_in_queue_journal(bin: &Path) {
    let mut server = Server::start_with_ui(bin, &[]);
    let mut c = server.client();
    c.create_queue("jobs", QueueOptions::default()).unwrap();
    push_all(&mut c, "jobs", MESSAGES);
    drop(c);
    server.terminate();

    let log_dir = server.data_dir().join("queue").join("queues");
    flip_middle_byte(&log_dir);

    let server = server.restart();
    let mut c = server.client();
    let got = consume_all(&mut c, "jobs");
    assert_few_lost(&server, got.len());
    got.windows(2).for_each(|w| assert_ne!(w[0], w[1], "a message came back twice"));
    assert_eq!(files_ending(&log_dir, ".quarantine").len(), 1, "the damaged bytes are kept aside");
    expect_log(&server, &["ERROR", "queues", "damaged", "quarantine"]);
    expect_metric(&server, "nexo_storage_damaged_ranges_total", &[("broker", "queue")], 1.0);
}

/// One flipped byte in the middle of a 1,000-message stream segment loses at most 10 messages:
/// a group reads every other one, stepping over the gap, and numbering goes on after the last.
pub fn hostile_storage_flipped_byte_in_stream_segment(bin: &Path) {
    let mut server = Server::start_with_ui(bin, &[]);
    let mut c = server.client();
    c.create_stream("flip", StreamOptions::default()).unwrap();
    publish_all(&mut c, "flip", MESSAGES);
    drop(c);
    server.terminate();

    let data = topic_dir(server.data_dir(), "flip");
    flip_middle_byte(&data);

    let server = server.restart();
    let mut c = server.client();
    let got = read_topic(&mut c, "flip", "audit");
    assert_few_lost(&server, got.len());
    for (seq, text) in &got {
        assert_eq!(text.as_bytes(), &payload("m", *seq as usize - 1)[..], "message {seq} keeps its number");
    }
    assert_eq!(c.stream_publish("flip", b"next").unwrap(), MESSAGES as u64 + 1);
    assert_eq!(files_ending(&data, ".quarantine").len(), 1);
    expect_metric(&server, "nexo_storage_damaged_ranges_total", &[("broker", "stream")], 1.0);
}

/// With the stream metadata log emptied, the server starts, keeps the topic's data log and
/// recovers the topic from it: every message with its sequence number, numbering continuing
/// after them, the segment files unchanged.
pub fn hostile_storage_stream_metadata_emptied(bin: &Path) {
    let mut server = Server::start_with_ui(bin, &[]);
    let mut c = server.client();
    c.create_stream("orders", StreamOptions::default()).unwrap();
    let seqs = publish_all(&mut c, "orders", MESSAGES);
    assert_eq!(seqs, (1..=MESSAGES as u64).collect::<Vec<_>>());
    drop(c);
    server.terminate();

    let data = topic_dir(server.data_dir(), "orders");
    let before: Vec<(PathBuf, Vec<u8>)> =
        segments(&data).into_iter().map(|p| (p.clone(), fs::read(p).unwrap())).collect();
    for segment in segments(&server.data_dir().join("stream").join("streams")) {
        fs::write(&segment, b"").unwrap();
    }

    let server = server.restart();
    let mut c = server.client();
    assert!(
        c.stream_exists("orders").unwrap(),
        "the topic is recovered from its data log{}",
        server.stderr_tail()
    );
    let got = read_topic(&mut c, "orders", "audit");
    assert_eq!(got.len(), MESSAGES);
    for (i, (seq, text)) in got.iter().enumerate() {
        assert_eq!((*seq, text.as_bytes()), (i as u64 + 1, &payload("m", i)[..]));
    }
    assert_eq!(c.stream_publish("orders", b"after").unwrap(), MESSAGES as u64 + 1, "numbering goes on");
    for (path, bytes) in &before {
        let now = fs::read(path).unwrap_or_else(|e| panic!("{} is gone: {e}", path.display()));
        assert!(now.starts_with(bytes), "{} was changed", path.display());
    }
    expect_log(&server, &["ERROR", "recovered as topic 'orders'"]);
    expect_metric(&server, "nexo_stream_orphaned_logs_total", &[], 1.0);

    // The recovered topic was journaled again: another restart finds it without a report.
    let server = server.restart();
    let mut c = server.client();
    assert_eq!(c.stream_publish("orders", b"again").unwrap(), MESSAGES as u64 + 2);
    expect_metric(&server, "nexo_stream_orphaned_logs_total", &[], 0.0);
}

/// A deleted stream segment file does not make the topic start again at sequence 1: the
/// numbers its group saw are never handed out again, and the loss is reported.
pub fn hostile_storage_deleted_segment_keeps_sequence_floor(bin: &Path) {
    let mut server = Server::start_with_ui(bin, &[]);
    let mut c = server.client();
    c.create_stream("ticks", StreamOptions::default()).unwrap();
    assert_eq!(publish_all(&mut c, "ticks", 20).last(), Some(&20));
    assert_eq!(read_topic(&mut c, "ticks", "g").len(), 20, "the group saw 1..=20");
    drop(c);
    server.terminate();

    let data = topic_dir(server.data_dir(), "ticks");
    for segment in segments(&data) {
        fs::remove_file(segment).unwrap();
    }

    let server = server.restart();
    let mut c = server.client();
    let seq = c.stream_publish("ticks", b"after the loss").unwrap();
    assert_eq!(seq, 21, "sequence numbers 1..=20 are never handed out again{}", server.stderr_tail());
    let m = c.join_group("ticks", "g").unwrap();
    let batch = c.fetch(&m, 10, 1000).unwrap();
    assert_eq!(batch.iter().map(|m| m.seq).collect::<Vec<_>>(), [21], "the group goes on after its floor");
    expect_log(&server, &["ERROR", "ends before sequence 1", "continues at 21"]);
    expect_metric(&server, "nexo_storage_skipped_seqs_total", &[("broker", "stream")], 20.0);
}

/// A queue journal cut in the middle of a record keeps the records before the cut, and the cut
/// is reported (log line and metric), never silent.
pub fn hostile_storage_truncated_journal_reported(bin: &Path) {
    let mut server = Server::start_with_ui(bin, &[]);
    let mut c = server.client();
    c.create_queue("cut", QueueOptions::default()).unwrap();
    push_all(&mut c, "cut", 100);
    drop(c);
    server.terminate();

    let segment = segments(&server.data_dir().join("queue").join("queues")).pop().unwrap();
    let len = fs::metadata(&segment).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(len / 2 + 3).unwrap();
    drop(file);

    let server = server.restart();
    let mut c = server.client();
    let got = consume_all(&mut c, "cut");
    assert!((30..100).contains(&got.len()), "{} messages survived half a journal", got.len());
    expect_log(&server, &["queues", "dropped", "torn record"]);
    let mut dropped = None;
    let ok = eventually(PATIENCE, || {
        dropped = metric(server.ui_addr(), "nexo_storage_dropped_bytes_total", &[("broker", "queue")]);
        dropped.is_some_and(|d| d > 0.0)
    });
    assert!(ok, "dropped bytes counted: {dropped:?}");
}
