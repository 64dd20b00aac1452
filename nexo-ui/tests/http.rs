//! The dashboard server over real HTTP against a fake engine: routing, status codes, health,
//! and that a silent or busy broker never hangs a request.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a failed unwrap is a failed test")]
#![allow(clippy::disallowed_methods, reason = "the test measures how long the server takes to answer")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nexo_engine::observe::{Answer, BrokerKind, BrokerSnapshot, BrokerStats, Overview, Query};
use nexo_engine::store::{KeyPage, KeyView};
use nexo_engine::{PubSubStats, StoreStats};
use nexo_ui::{InspectError, Pending, Source};

/// Where an answer would go (kept, never called, for a broker that stays silent).
type Reply = Box<dyn FnOnce(Answer) + Send>;

/// A fake engine: the Store answers, Pub/Sub is busy, the Queue never answers.
struct Fake {
    failed: bool,
    parked: Mutex<Vec<Reply>>,
}

impl Source for Fake {
    fn overview(&self) -> Overview {
        let snapshot = |kind, stats, failed: bool| BrokerSnapshot {
            kind,
            requests: 42,
            failed_logs: if failed { vec!["queues".into()] } else { Vec::new() },
            storage: Default::default(),
            taken_mono_ms: 900,
            stats,
        };
        Overview {
            runtime: "fake".into(),
            version: "9.9.9".into(),
            uptime_ms: 1_000,
            wall_ms: 1_700_000_000_000,
            connections: 5,
            max_connections: 100,
            memory_rss_bytes: Some(1 << 20),
            fsync: "always".into(),
            failed_logins: 3,
            brokers: vec![
                snapshot(
                    BrokerKind::Store,
                    BrokerStats::Store(StoreStats { keys: 1, ..StoreStats::default() }),
                    false,
                ),
                snapshot(BrokerKind::PubSub, BrokerStats::PubSub(PubSubStats::default()), self.failed),
            ],
        }
    }

    fn inspect(&self, broker: BrokerKind, query: Query) -> Result<Pending, InspectError> {
        let (send, pending) = nexo_ui::pending();
        match (broker, query) {
            (BrokerKind::Store, Query::StoreKeys { pattern, .. }) => {
                let key = KeyView {
                    key: pattern.into_bytes().into(),
                    value_len: 3,
                    value_head: b"\x01hi"[..].into(),
                    ttl_ms: None,
                };
                send(Answer::Keys(KeyPage { keys: vec![key], next_cursor: 0, examined: 1, skipped: 0 }));
                Ok(pending)
            }
            (BrokerKind::PubSub, _) => Err(InspectError::Busy),
            (BrokerKind::Queue, _) => {
                self.parked.lock().unwrap().push(Box::new(send));
                Ok(pending)
            }
            _ => Err(InspectError::NotRunning),
        }
    }
}

fn start(failed: bool) -> std::net::SocketAddr {
    let listener = nexo_ui::bind("127.0.0.1:0".parse().unwrap(), &[]).unwrap();
    let addr = listener.local_addr().unwrap();
    nexo_ui::spawn_thread(listener, Arc::new(Fake { failed, parked: Mutex::new(Vec::new()) })).unwrap();
    addr
}

/// `(status, content type, body)` of one request.
fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

#[test]
fn routes_and_status_codes() {
    let addr = start(false);
    let (status, ctype, body) = request(addr, "GET", "/");
    assert_eq!((status, ctype.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains("<section id=\"store\">"));
    let (status, ctype, _) = request(addr, "GET", "/favicon.ico");
    assert_eq!((status, ctype.as_str()), (200, "image/svg+xml"));
    assert_eq!(request(addr, "GET", "/nope").0, 404);
    assert_eq!(request(addr, "GET", "/api/nope").0, 404);
    assert_eq!(request(addr, "POST", "/api/overview").0, 405);
    assert_eq!(request(addr, "GET", "/api/stream").0, 404);
    assert_eq!(request(addr, "GET", "/api/queue").0, 404);
    let (status, _, body) = request(addr, "GET", "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, ctype, body) = request(addr, "GET", "/metrics");
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain; version=0.0.4"));
    assert!(body.contains("# TYPE nexo_store_keys gauge\nnexo_store_keys 1\n"));

    let (status, ctype, body) = request(addr, "GET", "/api/overview");
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    let overview: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(overview["connections"], 5);
    assert_eq!(overview["healthy"], true);
    assert_eq!(overview["brokers"][0]["name"], "store");
    assert_eq!(overview["brokers"][0]["snapshot_age_ms"], 100);

    let (status, _, body) = request(addr, "GET", "/api/store/keys?pattern=user%3A*&limit=5");
    assert_eq!(status, 200);
    let keys: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(keys["keys"][0]["key"], "user:*");
    assert_eq!(keys["keys"][0]["value"]["tag"], "text");
    assert_eq!(keys["keys"][0]["value"]["text"], "hi");
    assert_eq!(request(addr, "GET", "/api/store/keys?cursor=x").0, 400);
    assert_eq!(request(addr, "GET", "/api/queue/messages").0, 400);
    assert_eq!(request(addr, "GET", "/api/queue/messages?queue=q&state=lost").0, 400);
}

#[test]
fn busy_or_silent_brokers_answer_503_promptly() {
    let addr = start(false);
    let start = Instant::now();
    let (status, _, body) = request(addr, "GET", "/api/pubsub/topics");
    assert_eq!(status, 503, "{body}");
    assert!(start.elapsed() < Duration::from_millis(500));
    let start = Instant::now();
    let (status, _, body) = request(addr, "GET", "/api/queue/queues");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("did not answer in time"));
    let waited = start.elapsed();
    assert!(waited >= nexo_ui::INSPECT_TIMEOUT && waited < nexo_ui::INSPECT_TIMEOUT * 2, "{waited:?}");
}

#[test]
fn failed_storage_makes_healthz_503() {
    let addr = start(true);
    let (status, _, body) = request(addr, "GET", "/healthz");
    assert_eq!(status, 503);
    assert!(body.contains("pubsub log 'queues'"), "{body}");
    let (_, _, metrics) = request(addr, "GET", "/metrics");
    assert!(metrics.contains("nexo_healthy 0\n"));
    assert!(metrics.contains("nexo_broker_failed_logs{broker=\"pubsub\"} 1\n"));
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let first = nexo_ui::bind("127.0.0.1:0".parse().unwrap(), &[]).unwrap();
    let addr = first.local_addr().unwrap();
    let message = nexo_ui::bind(addr, &[]).unwrap_err().to_string();
    assert!(message.contains(&addr.to_string()) && message.contains("--ui-port"), "{message}");
}
