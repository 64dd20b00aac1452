//! The driver with a full disk (issue 11 item 9): a write refused with ENOSPC is transient. The
//! Queue's PUSH replies wait until space returns, consuming and acking go on meanwhile, the log is
//! never fenced, and the retry timer writes the held records without a new request.
#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use std::sync::atomic::Ordering;

use bytes::Bytes;
use nexo_engine::{ConnId, NetOutput, Now, Queue, QueueConfig};
use nexo_proto::Reply;
use nexo_proto::options::{ConsumeOptions, PushOptions, QueueOptions};
use nexo_proto::request::QueueRequest;
use nexo_server::{BrokerDriver, BrokerInput, Clock, Durability, FsyncMode};
use nexo_storage::{FaultyStorage, MemoryStorage};

/// Sends `request` as request `id` of connection `id / 100` and returns the replies that came out.
fn send(d: &mut BrokerDriver<Queue>, clock: &Clock, id: u32, request: QueueRequest) -> Vec<(u32, Reply)> {
    d.handle(clock.now(), BrokerInput::Request { conn: ConnId(u64::from(id / 100)), id, request });
    drain(d, clock)
}

fn drain(d: &mut BrokerDriver<Queue>, clock: &Clock) -> Vec<(u32, Reply)> {
    let mut out = Vec::new();
    d.drain(clock, &mut out);
    out.into_iter()
        .filter_map(|o| match o {
            NetOutput::Reply { id, reply, .. } => Some((id, reply)),
            _ => None,
        })
        .collect()
}

fn push(payload: &'static [u8]) -> QueueRequest {
    QueueRequest::Push {
        name: "q".into(),
        options: PushOptions::default(),
        payload: Bytes::from_static(payload),
    }
}

#[test]
fn a_full_disk_holds_push_replies_and_lets_consume_and_ack_go_on() {
    let clock = Clock::start();
    let storage = FaultyStorage::new(MemoryStorage::new());
    let full = storage.disk_full();
    let durability = Durability::new(Box::new(storage), FsyncMode::Always);
    let mut d = BrokerDriver::new(Queue::new(QueueConfig::default(), 7), Some(durability));
    d.recover(&clock).unwrap();
    let create = QueueRequest::Create { name: "q".into(), options: QueueOptions::default() };
    assert_eq!(send(&mut d, &clock, 1, create), [(1, Reply::Ok)]);
    assert_eq!(send(&mut d, &clock, 2, push(b"before")), [(2, Reply::Ok)]);

    full.store(true, Ordering::Relaxed);
    assert_eq!(send(&mut d, &clock, 3, push(b"during")), [], "the PUSH reply waits for its record");
    let consume = QueueRequest::Consume { name: "q".into(), options: ConsumeOptions::default() };
    // Another connection (a connection's replies keep their order, so the PUSH's would hold them).
    let replies = send(&mut d, &clock, 204, consume.clone());
    let [(204, Reply::QueueMessages(messages))] = &replies[..] else { panic!("{replies:?}") };
    assert_eq!(messages.len(), 1, "the durable message is consumed while the disk is full");
    let ack = QueueRequest::Ack { id: messages[0].id, name: "q".into() };
    assert_eq!(send(&mut d, &clock, 205, ack), [(205, Reply::Ok)]);
    assert!(d.failed_logs().is_empty(), "a full disk fences nothing");
    let retry_at = d.poll_timeout().unwrap();

    full.store(false, Ordering::Relaxed);
    // No request arrives: the retry timer alone writes the held records.
    let due = Now { mono_ms: retry_at, ..clock.now() };
    d.handle_timeout(due);
    assert_eq!(drain(&mut d, &clock), [(3, Reply::Ok)], "the PUSH is answered once space is back");
    let replies = send(&mut d, &clock, 206, consume);
    let [(206, Reply::QueueMessages(messages))] = &replies[..] else { panic!("{replies:?}") };
    assert_eq!(messages.iter().map(|m| &m.payload[..]).collect::<Vec<_>>(), [b"during"]);
}
