//! The async client (`nexo_client::AsyncClient`) against the real server: many tasks
//! pipelining on one connection, subscription streams, reconnect after a restart on the same
//! port with the subscription and a consumer loop restored, request timeouts, and the crate's
//! two examples (compiled in here from `nexo-client/examples/`, so they run against both
//! binaries without a nested cargo).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nexo_client::{
    AsyncClient, ClientError, ClientOptions, ConsumeOptions, PublishOptions, PushOptions, QueueOptions,
    QueueRequest, Request,
};

use super::PATIENCE;
use crate::server::Server;

#[allow(dead_code, reason = "the example's own main is not called here, only its run function")]
#[path = "../../../nexo-client/examples/async_basics.rs"]
mod async_basics;

#[allow(dead_code, reason = "the example's own main is not called here, only its run function")]
#[path = "../../../nexo-client/examples/async_worker.rs"]
mod async_worker;

/// Runs `future` on a fresh two-thread tokio runtime.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(future)
}

/// Options for cases: quick reconnects, generous request timeout.
fn options() -> ClientOptions {
    ClientOptions::default()
        .with_backoff(Duration::from_millis(20), Duration::from_millis(300))
        .with_request_timeout(Some(Duration::from_secs(15)))
}

async fn connect(addr: SocketAddr) -> AsyncClient {
    AsyncClient::connect_with(addr, options()).await.expect("async client connects")
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// 32 tasks × 100 requests share one connection, and a long-poll parked on the same connection
/// does not hold them up: replies are matched by id, not by order.
pub fn async_client_many_tasks_pipeline(bin: &Path) {
    let server = Server::start(bin);
    block_on(async {
        let client = connect(server.addr()).await;
        client.create_queue("idle", QueueOptions::default()).await.unwrap();
        let parked = {
            let client = client.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let options = ConsumeOptions { batch_size: Some(1), wait_ms: Some(3_000) };
                let batch = client.consume("idle", options).await.unwrap();
                (batch.len(), started.elapsed())
            })
        };
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..32 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..100 {
                    let key = format!("k:{t}:{i}");
                    client.set(&key, key.as_bytes()).await.unwrap();
                    assert_eq!(client.get(&key).await.unwrap().as_deref(), Some(key.as_bytes()));
                    client.incr_by("counter", 1).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let busy = started.elapsed();
        let (got, parked_for) = parked.await.unwrap();
        assert_eq!(got, 0, "nothing was pushed to the idle queue");
        assert!(busy < parked_for, "9600 requests ({busy:?}) waited behind a 3 s long-poll ({parked_for:?})");
        assert_eq!(client.incr_by("counter", 0).await.unwrap(), 3_200);
        assert_eq!(client.reconnects(), 0);
    });
}

/// Subscriptions are streams: each gets the pushes its filter matches, in order; a small buffer
/// that is read late loses nothing (backpressure); dropping one leaves the others.
pub fn async_client_subscription_stream(bin: &Path) {
    let server = Server::start(bin);
    block_on(async {
        let client = AsyncClient::connect_with(server.addr(), options().with_push_buffer(4)).await.unwrap();
        let mut all = client.subscribe("s/+").await.unwrap();
        let mut only_a = client.subscribe("s/a").await.unwrap();
        assert_eq!(all.pattern(), "s/+");
        // Published from another connection: this one stops reading once a buffer of 4 is full
        // (backpressure), so its own replies would wait behind the pushes until they are read.
        let publisher = connect(server.addr()).await;
        for n in 0..100u32 {
            let topic = if n % 2 == 0 { "s/a" } else { "s/b" };
            publisher.publish(topic, &n.to_be_bytes(), PublishOptions::default()).await.unwrap();
        }
        // Read in step: one full buffer holds up deliveries to the others on the connection.
        for n in 0..100u32 {
            let push = tokio::time::timeout(PATIENCE, all.next()).await.unwrap().unwrap();
            assert_eq!(push.payload, Bytes::copy_from_slice(&n.to_be_bytes()), "push {n} in order");
            if n % 2 == 0 {
                let push = tokio::time::timeout(PATIENCE, only_a.next()).await.unwrap().unwrap();
                assert_eq!(
                    (push.topic.as_str(), push.payload),
                    ("s/a", Bytes::copy_from_slice(&n.to_be_bytes()))
                );
            }
        }
        drop(only_a);
        publisher.publish("s/a", b"after", PublishOptions::default()).await.unwrap();
        let push = tokio::time::timeout(PATIENCE, all.next()).await.unwrap().unwrap();
        assert_eq!(push.payload, "after", "the other subscription to s/a is gone, this one stays");
        assert!(all.try_next().is_none());
    });
}

/// The server crashes and restarts on the same port: a long-poll in flight fails with
/// ConnectionLost (never silently retried), the client reconnects by itself, the subscription and the queue consumer
/// loop go on, and new requests succeed.
pub fn async_client_reconnect_after_restart(bin: &Path) {
    let port = free_port().to_string();
    let server = Server::start_with(bin, &["--port", &port]);
    let addr = server.addr();
    block_on(async {
        let client = connect(addr).await;
        client.create_queue("jobs", QueueOptions::default()).await.unwrap();
        client.create_queue("idle", QueueOptions::default()).await.unwrap();
        let mut sub = client.subscribe("r/#").await.unwrap();
        let mut jobs =
            client.queue_consumer("jobs", ConsumeOptions { batch_size: Some(1), wait_ms: Some(1_000) });
        let parked = {
            let client = client.clone();
            let request = Request::Queue(QueueRequest::Consume {
                name: "idle".into(),
                options: ConsumeOptions { batch_size: Some(1), wait_ms: Some(60_000) },
            });
            tokio::spawn(async move { client.request_within(request, Some(Duration::from_secs(90))).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        // A crash, so the long-poll is cut off rather than answered (SIGTERM would answer it).
        let server = tokio::task::spawn_blocking(move || {
            let mut server = server;
            server.kill9();
            server.restart()
        })
        .await
        .unwrap();
        assert_eq!(server.addr(), addr, "restarted on the same port");

        let lost = tokio::time::timeout(PATIENCE, parked).await.expect("the parked request ends").unwrap();
        assert!(matches!(lost, Err(ClientError::ConnectionLost)), "in flight at the drop: {lost:?}");
        let deadline = Instant::now() + PATIENCE;
        let push = loop {
            assert!(Instant::now() < deadline, "the subscription was not restored");
            // Retried: the publish may come before the reconnect or before the SUBSCRIBE.
            match client.publish("r/1", b"again", PublishOptions::default()).await {
                Ok(()) | Err(ClientError::ConnectionLost | ClientError::Timeout) => {}
                Err(err) => panic!("publish after restart: {err}"),
            }
            if let Ok(push) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
                break push.expect("the subscription stream goes on");
            }
        };
        assert_eq!((push.topic.as_str(), push.payload), ("r/1", Bytes::from_static(b"again")));
        assert!(client.reconnects() >= 1 && client.is_connected());
        client.push("jobs", b"after restart", PushOptions::default()).await.unwrap();
        let job = tokio::time::timeout(PATIENCE, jobs.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(job.payload, "after restart");
        client.ack("jobs", job.id).await.unwrap();
        drop(server);
    });
}

/// A request that gets no reply in time fails with Timeout, and the connection stays usable.
pub fn async_client_request_timeout(bin: &Path) {
    let server = Server::start(bin);
    block_on(async {
        let client = connect(server.addr()).await;
        client.create_queue("idle", QueueOptions::default()).await.unwrap();
        let request = Request::Queue(QueueRequest::Consume {
            name: "idle".into(),
            options: ConsumeOptions { batch_size: Some(1), wait_ms: Some(30_000) },
        });
        let started = Instant::now();
        let result = client.request_within(request, Some(Duration::from_millis(300))).await;
        assert!(matches!(result, Err(ClientError::Timeout)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(20), "gave up after {:?}", started.elapsed());
        assert!(ClientError::Timeout.is_retryable());
        client.set("still", b"works").await.unwrap();
        assert_eq!(client.get("still").await.unwrap().as_deref(), Some(&b"works"[..]));

        let short = AsyncClient::connect_with(
            server.addr(),
            options().with_request_timeout(Some(Duration::from_millis(200))),
        )
        .await
        .unwrap();
        // The client's own timeout plus the long-poll's wait: a 1 s CONSUME is allowed to finish.
        let empty = short.consume("idle", ConsumeOptions { batch_size: Some(1), wait_ms: Some(1_000) }).await;
        assert_eq!(empty.unwrap(), Vec::new());
        assert_eq!(client.reconnects() + short.reconnects(), 0);
    });
}

/// Both examples run against the server: `async_basics` and `async_worker` (50 jobs, four
/// workers on one connection, graceful stop once they are done).
pub fn async_client_examples(bin: &Path) {
    let server = Server::start(bin);
    block_on(async {
        async_basics::run(server.addr()).await.expect("async_basics");
        let never = std::future::pending::<()>();
        let totals = async_worker::run(server.addr(), "work", Some(50), never).await.expect("async_worker");
        assert_eq!(totals, async_worker::Totals { acked: 50, lost: 0 });
        let check = connect(server.addr()).await;
        let left =
            check.consume("work", ConsumeOptions { batch_size: Some(10), wait_ms: Some(0) }).await.unwrap();
        assert!(left.is_empty(), "every job was acked: {left:?}");
    });
}
