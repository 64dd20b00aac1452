//! Engine micro-benchmarks: each broker's hottest operations, without sockets or files.
//!
//! Every iteration hands a request to the broker and drains its outputs as a runtime would:
//! pushes are reported written at once (`handle_flushed`), appends are reported durable after the
//! drain (`handle_persisted`, as one group commit), replies are dropped. Store: SET, GET hit and
//! miss, INCRBY, SET under memory pressure (every write evicts). Pub/Sub: publish to 1, 10 and 100
//! subscribers, publish matched through wildcard patterns, and the topic tree's match alone.
//! Queue: PUSH + CONSUME + ACK with a durable report after each request, and in batches of 100
//! under one report. Each group measures briefly so `cargo bench -p nexo-engine` stays short.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "benchmark set-up on known-good input")]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use nexo_engine::pubsub::TopicTree;
use nexo_engine::queue::JOURNAL_LOG;
use nexo_engine::store::ENTRY_OVERHEAD_BYTES;
use nexo_engine::{
    Broker, ConnId, LogId, Now, Output, PubSub, PubSubConfig, Queue, QueueConfig, Store, StoreConfig,
};
use nexo_proto::Reply;
use nexo_proto::options::{ConsumeOptions, PublishOptions, PushOptions, QueueOptions, SetOptions};
use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest};

const NOW: Now = Now { mono_ms: 1_000, wall_ms: 1_700_000_001_000 };

/// Drains `broker` as a runtime would; returns the last reply seen.
fn drain<B: Broker>(broker: &mut B) -> Option<Reply> {
    let mut last = None;
    let mut appended: BTreeMap<LogId, u64> = BTreeMap::new();
    loop {
        while let Some(output) = broker.poll_output() {
            match output {
                Output::Reply { reply, .. } => last = Some(reply),
                Output::Push { conn, frame } => broker.handle_flushed(NOW, conn, frame.len()),
                Output::Append { log, seq, .. } => {
                    appended.insert(log, seq + 1);
                }
                _ => {}
            }
        }
        if appended.is_empty() {
            return last;
        }
        for (log, next) in std::mem::take(&mut appended) {
            broker.handle_persisted(NOW, &log, next);
        }
    }
}

fn short<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1)).sample_size(30);
    group
}

fn keys(n: usize, prefix: &str) -> Vec<Bytes> {
    (0..n).map(|i| Bytes::from(format!("{prefix}:{i:012}"))).collect()
}

fn set(key: &Bytes, value: &Bytes) -> StoreRequest {
    StoreRequest::Set { key: key.clone(), options: SetOptions::default(), value: value.clone() }
}

fn bench_store(c: &mut Criterion) {
    let mut group = short(c, "store");
    let value = Bytes::from(vec![b'v'; 64]);
    let live = keys(10_000, "key");
    let absent = keys(10_000, "nokey");
    let conn = ConnId(1);

    let mut store = Store::new(StoreConfig::default(), 1);
    for k in &live {
        store.handle_request(NOW, conn, 0, set(k, &value));
    }
    drain(&mut store);

    let mut i = 0usize;
    group.bench_function("set/overwrite/64B", |b| {
        b.iter(|| {
            i = (i + 1) % live.len();
            store.handle_request(NOW, conn, 1, set(&live[i], &value));
            drain(&mut store)
        })
    });
    group.bench_function("get/hit", |b| {
        b.iter(|| {
            i = (i + 1) % live.len();
            store.handle_request(NOW, conn, 1, StoreRequest::Get { key: live[i].clone() });
            drain(&mut store)
        })
    });
    group.bench_function("get/miss", |b| {
        b.iter(|| {
            i = (i + 1) % absent.len();
            store.handle_request(NOW, conn, 1, StoreRequest::Get { key: absent[i].clone() });
            drain(&mut store)
        })
    });
    let counters = keys(1_000, "ctr");
    group.bench_function("incrby", |b| {
        b.iter(|| {
            i = (i + 1) % counters.len();
            store.handle_request(NOW, conn, 1, StoreRequest::IncrBy { key: counters[i].clone(), delta: 3 });
            drain(&mut store)
        })
    });

    // Room for about 1000 entries: once full, every SET of a new key evicts one (sampled LRU).
    let config =
        StoreConfig { max_memory_bytes: 1000 * (ENTRY_OVERHEAD_BYTES + 16 + 64), ..StoreConfig::default() };
    let mut small = Store::new(config, 2);
    let fresh = keys(200_000, "new");
    for k in fresh.iter().take(2_000) {
        small.handle_request(NOW, conn, 0, set(k, &value));
    }
    drain(&mut small);
    let mut j = 2_000usize;
    group.bench_function("set/evicting/64B", |b| {
        b.iter(|| {
            j = (j + 1) % fresh.len();
            small.handle_request(NOW, conn, 1, set(&fresh[j], &value));
            drain(&mut small)
        })
    });
    assert!(small.stats().evicted_keys > 0, "the eviction bench evicted nothing");
    group.finish();
}

fn pubsub_with(subscribers: &[(u64, &str)]) -> PubSub {
    let mut ps = PubSub::new(PubSubConfig::default(), 7);
    for (conn, pattern) in subscribers {
        ps.handle_request(
            NOW,
            ConnId(*conn),
            1,
            PubSubRequest::Subscribe { pattern: (*pattern).to_string() },
        );
    }
    drain(&mut ps);
    ps
}

fn publish(ps: &mut PubSub, topic: &str, payload: &Bytes) -> Option<Reply> {
    ps.handle_request(
        NOW,
        ConnId(0),
        2,
        PubSubRequest::Publish {
            topic: topic.to_string(),
            options: PublishOptions::default(),
            payload: payload.clone(),
        },
    );
    drain(ps)
}

fn bench_pubsub(c: &mut Criterion) {
    let mut group = short(c, "pubsub");
    let payload = Bytes::from(vec![b'p'; 64]);
    for n in [1u64, 10, 100] {
        let subs: Vec<(u64, &str)> = (1..=n).map(|conn| (conn, "bench/topic")).collect();
        let mut ps = pubsub_with(&subs);
        group.throughput(Throughput::Elements(n));
        group.bench_function(format!("publish/fanout-{n}"), |b| {
            b.iter(|| publish(&mut ps, "bench/topic", &payload))
        });
    }

    // 1000 subscribers on `sensors/<i>/+` and 10 on `sensors/#`: a publish reaches 11.
    let patterns: Vec<String> = (0..1000).map(|i| format!("sensors/{i}/+")).collect();
    let mut subs: Vec<(u64, &str)> =
        patterns.iter().enumerate().map(|(i, p)| (i as u64 + 1, p.as_str())).collect();
    subs.extend((0..10).map(|i| (10_000 + i, "sensors/#")));
    let mut ps = pubsub_with(&subs);
    group.throughput(Throughput::Elements(11));
    group.bench_function("publish/wildcard-1010-patterns", |b| {
        b.iter(|| publish(&mut ps, "sensors/42/temp", &payload))
    });

    let mut tree: TopicTree<u64> = TopicTree::new();
    for (i, p) in patterns.iter().enumerate() {
        tree.insert(p, i as u64);
        tree.insert(&format!("sensors/{i}/temp"), 5_000 + i as u64);
    }
    tree.insert("sensors/+/temp", 9_000);
    tree.insert("sensors/#", 9_001);
    tree.insert("#", 9_002);
    let mut out = Vec::with_capacity(16);
    group.throughput(Throughput::Elements(1));
    group.bench_function("tree/match/2003-patterns", |b| {
        b.iter(|| {
            out.clear();
            tree.collect_matches(black_box("sensors/42/temp"), &mut out);
            out.len()
        })
    });
    group.finish();
}

fn queue() -> Queue {
    let mut q = Queue::new(QueueConfig::default(), 3);
    q.handle_recovery_done(NOW, &LogId::new(JOURNAL_LOG), 0);
    q.handle_request(
        NOW,
        ConnId(1),
        1,
        QueueRequest::Create { name: "jobs".into(), options: QueueOptions::default() },
    );
    assert_eq!(drain(&mut q), Some(Reply::Ok));
    q
}

fn push(payload: &Bytes) -> QueueRequest {
    QueueRequest::Push { name: "jobs".into(), options: PushOptions::default(), payload: payload.clone() }
}

fn consume(batch: u32) -> QueueRequest {
    QueueRequest::Consume {
        name: "jobs".into(),
        options: ConsumeOptions { batch_size: Some(batch), wait_ms: Some(0) },
    }
}

fn bench_queue(c: &mut Criterion) {
    let mut group = short(c, "queue");
    let payload = Bytes::from(vec![b'q'; 64]);
    let conn = ConnId(1);

    let mut q = queue();
    group.throughput(Throughput::Elements(1));
    group.bench_function("cycle/persist-each", |b| {
        b.iter(|| {
            q.handle_request(NOW, conn, 2, push(&payload));
            drain(&mut q);
            q.handle_request(NOW, conn, 3, consume(1));
            let Some(Reply::QueueMessages(batch)) = drain(&mut q) else { panic!("no batch") };
            q.handle_request(NOW, conn, 4, QueueRequest::Ack { id: batch[0].id, name: "jobs".into() });
            drain(&mut q)
        })
    });

    let mut q = queue();
    group.throughput(Throughput::Elements(100));
    group.bench_function("cycle/batch-100", |b| {
        b.iter(|| {
            for _ in 0..100 {
                q.handle_request(NOW, conn, 2, push(&payload));
            }
            drain(&mut q);
            q.handle_request(NOW, conn, 3, consume(100));
            let Some(Reply::QueueMessages(batch)) = drain(&mut q) else { panic!("no batch") };
            for m in &batch {
                q.handle_request(NOW, conn, 4, QueueRequest::Ack { id: m.id, name: "jobs".into() });
            }
            drain(&mut q)
        })
    });
    group.finish();
}

criterion_group!(brokers, bench_store, bench_pubsub, bench_queue);
criterion_main!(brokers);
