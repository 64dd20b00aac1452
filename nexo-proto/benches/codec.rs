//! Codec micro-benchmarks: decode and encode of every frame kind, without sockets.
//!
//! Requests of each broker (what a server decodes and a client encodes), replies including the
//! batch replies (what a server encodes and a client decodes), and push frames. Each group uses a
//! short measurement time so `cargo bench -p nexo-proto` stays well under a minute.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark set-up on known-good frames")]

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use nexo_proto::frame::split_frame;
use nexo_proto::options::{ConsumeOptions, PublishOptions, PushOptions, SetOptions, StreamOptions};
use nexo_proto::reply::{QueueMessage, StreamMessage};
use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};
use nexo_proto::{Push, Reply, Request, decode_request_frame};

fn value(n: usize) -> Bytes {
    Bytes::from(vec![b'v'; n])
}

/// One request of each kind a benchmark scenario or SDK sends most.
fn requests() -> Vec<(&'static str, Request)> {
    let key = Bytes::from_static(b"key:000000001234");
    vec![
        ("echo/64B", Request::Echo(value(64))),
        (
            "store/set/64B",
            Request::Store(StoreRequest::Set {
                key: key.clone(),
                options: SetOptions::default(),
                value: value(64),
            }),
        ),
        ("store/get", Request::Store(StoreRequest::Get { key: key.clone() })),
        ("store/incrby", Request::Store(StoreRequest::IncrBy { key: key.clone(), delta: 5 })),
        (
            "store/mget/10",
            Request::Store(StoreRequest::MGet {
                keys: (0..10).map(|i| Bytes::from(format!("key:{i}"))).collect(),
            }),
        ),
        (
            "queue/push/64B",
            Request::Queue(QueueRequest::Push {
                name: "orders".into(),
                options: PushOptions { priority: Some(3), delay_ms: None },
                payload: value(64),
            }),
        ),
        (
            "queue/consume",
            Request::Queue(QueueRequest::Consume {
                name: "orders".into(),
                options: ConsumeOptions { batch_size: Some(50), wait_ms: Some(20_000) },
            }),
        ),
        ("queue/ack", Request::Queue(QueueRequest::Ack { id: [7; 16], name: "orders".into() })),
        (
            "pubsub/publish/64B",
            Request::PubSub(PubSubRequest::Publish {
                topic: "sensors/42/temp".into(),
                options: PublishOptions::default(),
                payload: value(64),
            }),
        ),
        ("pubsub/subscribe", Request::PubSub(PubSubRequest::Subscribe { pattern: "sensors/+/temp".into() })),
        (
            "stream/create",
            Request::Stream(StreamRequest::Create {
                topic: "events".into(),
                options: StreamOptions::default(),
            }),
        ),
        (
            "stream/publish/64B",
            Request::Stream(StreamRequest::Publish { topic: "events".into(), payload: value(64) }),
        ),
        (
            "stream/fetch",
            Request::Stream(StreamRequest::Fetch {
                topic: "events".into(),
                group: "billing".into(),
                consumer_id: "c-1".into(),
                generation: 3,
                limit: 100,
                wait_ms: 5000,
            }),
        ),
        (
            "stream/ack",
            Request::Stream(StreamRequest::Ack {
                topic: "events".into(),
                group: "billing".into(),
                consumer_id: "c-1".into(),
                generation: 3,
                seq: 12345,
            }),
        ),
    ]
}

/// One reply of each kind, including batch replies.
fn replies() -> Vec<(&'static str, Reply)> {
    let queue_batch = |n: usize| {
        Reply::QueueMessages((0..n).map(|i| QueueMessage { id: [i as u8; 16], payload: value(64) }).collect())
    };
    let stream_batch = |n: usize| {
        Reply::StreamMessages(
            (0..n)
                .map(|i| StreamMessage { seq: i as u64, timestamp_ms: 1_700_000_000_000, payload: value(64) })
                .collect(),
        )
    };
    vec![
        ("ok", Reply::Ok),
        ("null", Reply::Null),
        ("err", Reply::Err("Queue 'orders' not found".into())),
        ("data/64B", Reply::Data(value(64))),
        ("seq", Reply::Seq(42)),
        ("values/10", Reply::Values((0..10).map(|i| (i % 3 != 0).then(|| value(64))).collect())),
        ("queue-batch/10", queue_batch(10)),
        ("queue-batch/100", queue_batch(100)),
        ("stream-batch/10", stream_batch(10)),
        ("stream-batch/100", stream_batch(100)),
        ("joined", Reply::Joined { ack_floor: 100, generation: 3, consumer_id: "c-1".into() }),
    ]
}

fn short<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800))
        .sample_size(30);
    group
}

fn bench_requests(c: &mut Criterion) {
    let all = requests();
    let mut group = short(c, "request/decode");
    for (name, request) in &all {
        let mut frame = BytesMut::new();
        request.encode(7, &mut frame);
        let frame = split_frame(&mut frame, u32::MAX).unwrap().unwrap();
        let opcode = frame.header.meta;
        group.bench_function(*name, |b| {
            b.iter(|| Request::decode(opcode, black_box(&frame.payload)).unwrap())
        });
    }
    group.finish();

    let mut group = short(c, "request/encode");
    for (name, request) in &all {
        let mut out = BytesMut::with_capacity(4096);
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                black_box(request).encode(7, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();

    // The server's whole inbound path for one frame: split from the read buffer, then decode.
    let mut group = short(c, "request/frame");
    let mut pipelined = BytesMut::new();
    for (i, (_, request)) in all.iter().enumerate() {
        request.encode(i as u32, &mut pipelined);
    }
    let count = all.len();
    group.bench_function("split+decode/mixed", |b| {
        b.iter_batched(
            || pipelined.clone(),
            |mut buf| {
                for _ in 0..count {
                    black_box(decode_request_frame(&mut buf, u32::MAX).unwrap());
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn bench_replies(c: &mut Criterion) {
    let all = replies();
    let mut group = short(c, "reply/encode");
    for (name, reply) in &all {
        let mut out = BytesMut::with_capacity(64 * 1024);
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                black_box(reply).encode(7, &mut out);
                black_box(out.len())
            })
        });
    }
    group.finish();

    let mut group = short(c, "reply/decode");
    for (name, reply) in &all {
        let mut out = BytesMut::new();
        reply.encode(7, &mut out);
        let frame = split_frame(&mut out, u32::MAX).unwrap().unwrap();
        let (status, kind) = (frame.header.meta, reply.kind());
        group.bench_function(*name, |b| {
            b.iter(|| Reply::decode(status, black_box(&frame.payload), kind).unwrap())
        });
    }
    // The cheap client path for a plain reply: only the header is looked at.
    let mut out = BytesMut::new();
    Reply::Ok.encode(9, &mut out);
    group.bench_function("ok/split-only", |b| {
        b.iter_batched(
            || out.clone(),
            |mut buf| split_frame(&mut buf, u32::MAX).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn bench_push(c: &mut Criterion) {
    let mut group = short(c, "push");
    let payload = value(64);
    group.bench_function("encode_frame/64B", |b| {
        b.iter(|| Push::encode_frame(black_box("sensors/42/temp"), black_box(&payload)))
    });
    let push = Push { topic: "sensors/42/temp".into(), payload: payload.clone() };
    let mut out = BytesMut::with_capacity(4096);
    group.bench_function("encode/64B", |b| {
        b.iter(|| {
            out.clear();
            black_box(&push).encode(&mut out);
            black_box(out.len())
        })
    });
    let frame = Push::encode_frame("sensors/42/temp", &payload);
    let mut buf = BytesMut::from(&frame[..]);
    let frame = split_frame(&mut buf, u32::MAX).unwrap().unwrap();
    group.bench_function("decode/64B", |b| b.iter(|| Push::decode(black_box(&frame.payload)).unwrap()));
    group.finish();
}

criterion_group!(codec, bench_requests, bench_replies, bench_push);
criterion_main!(codec);
