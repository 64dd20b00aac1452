//! Hostile cases about glob patterns: a KEYS whose pattern is costly to match over long keys
//! used to hold the Store (on `nexo`, the network thread) for seconds; pattern subscriptions made
//! every publish costly; the dashboard's key listing did the same as KEYS. Now patterns have a
//! length cap, KEYS and SCAN spread their matching over turns, and other clients are served in
//! between.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use redis::Connection;

use crate::server::{IO_TIMEOUT, Server};

/// The pattern cap (`nexo_engine::glob::MAX_PATTERN_BYTES`, docs/OPERATIONS.md).
const MAX_PATTERN_BYTES: usize = 32 * 1024;

/// How long a KEYS may take in a debug build on a loaded 2-core machine before the case gives up.
const KEYS_PATIENCE: Duration = Duration::from_secs(240);

fn connect(server: &Server, timeout: Duration) -> Connection {
    let client = redis::Client::open(format!("redis://{}/", server.addr())).expect("redis URL");
    let con = client.get_connection_with_timeout(IO_TIMEOUT).expect("redis connection");
    con.set_read_timeout(Some(timeout)).expect("read timeout");
    con
}

/// Four keys of 64 KiB (`a` × 65,535 and a digit), as in the attack.
fn store_long_keys(con: &mut Connection) {
    for i in 0..4u8 {
        let mut key = vec![b'a'; 65_535];
        key.push(b'0' + i);
        let () = redis::cmd("SET").arg(key).arg("v").query(con).expect("SET of a 64 KiB key");
    }
}

/// Worst PING round trip on a fresh connection while `busy` runs on another thread; returns it,
/// how many pings were answered, and what `busy` returned.
fn worst_ping_while<T: Send>(server: &Server, busy: impl FnOnce() -> T + Send) -> (Duration, u32, T) {
    let mut probe = TcpStream::connect(server.addr()).expect("probe connection");
    probe.set_read_timeout(Some(KEYS_PATIENCE)).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let result = busy();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            result
        });
        let (mut worst, mut pings) = (Duration::ZERO, 0);
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let sent = Instant::now();
            probe.write_all(b"PING\r\n").unwrap();
            let mut pong = [0u8; 7];
            probe.read_exact(&mut pong).expect("PONG");
            assert_eq!(&pong, b"+PONG\r\n");
            worst = worst.max(sent.elapsed());
            pings += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        (worst, pings, worker.join().expect("the KEYS thread"))
    })
}

/// KEYS over four 64 KiB keys, first with the issue's 32 KB `*a*a*a…` pattern, then with the
/// costliest shape for a star matcher (a long star-free run that fails at every offset: ~260
/// million steps, seconds of CPU in one go before). Another client's worst PING stays under 1 s,
/// and both KEYS answer correctly.
pub fn hostile_glob_keys_does_not_stall_others(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server, KEYS_PATIENCE);
    store_long_keys(&mut con);
    let issue = format!("{}*", "*a".repeat(16_000));
    let costly = format!("*{}b*", "a".repeat(1000));
    for (pattern, expected) in [(issue, 4), (costly, 0)] {
        let started = Instant::now();
        let (worst, pings, keys) = worst_ping_while(&server, || {
            redis::cmd("KEYS").arg(&pattern).query::<Vec<Vec<u8>>>(&mut con).expect("KEYS answers")
        });
        let took = started.elapsed();
        eprintln!("KEYS of a {}-byte pattern: {took:?}; worst PING {worst:?} over {pings}", pattern.len());
        assert_eq!(keys.len(), expected, "KEYS of the {}-byte pattern", pattern.len());
        assert!(worst < Duration::from_secs(1), "another client waited {worst:?} during a KEYS of {took:?}");
    }
    // The connection that ran KEYS is in step: its next reply is its own.
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

/// A pattern past the cap gets a clear error from KEYS, SCAN and PSUBSCRIBE; the connection
/// stays usable.
pub fn hostile_glob_pattern_too_long(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server, IO_TIMEOUT);
    let long = "*".repeat(MAX_PATTERN_BYTES + 1);
    let expected = format!("pattern too long ({} bytes; the limit is {MAX_PATTERN_BYTES})", long.len());
    let keys = redis::cmd("KEYS").arg(&long).query::<Vec<Vec<u8>>>(&mut con).unwrap_err();
    assert!(keys.to_string().contains(&expected), "KEYS: {keys}");
    let scan = redis::cmd("SCAN").arg(0).arg("MATCH").arg(&long).query::<redis::Value>(&mut con).unwrap_err();
    assert!(scan.to_string().contains(&expected), "SCAN: {scan}");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    // Pattern subscriptions are capped by the topic length (1024 bytes).
    let refused = redis::cmd("PSUBSCRIBE").arg("*".repeat(1025)).query::<redis::Value>(&mut con).unwrap_err();
    assert!(refused.to_string().contains("longer than 1024 bytes"), "PSUBSCRIBE: {refused}");
}

/// 220 pattern subscriptions built to be costly for every channel (runs of 200–740 `a`s between
/// stars, ending in a class `[b]` that the literal pre-filter cannot see, so each fails late at
/// every offset: ~40 million two-pointer steps a publish, over a second in a debug build), then
/// 1 KB publishes to a 1 KB channel: each publish answers well within a second (it took
/// 0.1–0.2 s of Pub/Sub CPU in a release build before), and a plain pattern gets every message.
pub fn hostile_glob_many_psubscribe_patterns(bin: &Path) {
    let server = Server::start(bin);
    let mut subs: Vec<Connection> = (0..4).map(|_| connect(&server, IO_TIMEOUT)).collect();
    for (i, sub) in subs.iter_mut().enumerate() {
        for j in 0..55 {
            let pattern = format!("*{}[b]*", "a".repeat(200 + 10 * j + i));
            let _: redis::Value = redis::cmd("PSUBSCRIBE").arg(pattern).query(sub).expect("PSUBSCRIBE");
        }
    }
    let mut watcher = connect(&server, IO_TIMEOUT);
    let mut pubsub = watcher.as_pubsub();
    pubsub.psubscribe("a*").expect("PSUBSCRIBE a*");
    let mut publisher = connect(&server, IO_TIMEOUT);
    let channel = "a".repeat(1024);
    let payload = vec![b'x'; 1024];
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    for _ in 0..50 {
        let sent = Instant::now();
        let receivers: i64 = redis::cmd("PUBLISH").arg(&channel).arg(&payload).query(&mut publisher).unwrap();
        worst = worst.max(sent.elapsed());
        assert_eq!(receivers, 1, "only the plain pattern matches");
    }
    let took = started.elapsed();
    eprintln!("50 publishes past 221 patterns: {took:?}, worst {worst:?}");
    assert!(worst < Duration::from_millis(2_500), "one publish took {worst:?}");
    assert!(took < Duration::from_secs(40), "50 publishes took {took:?}");
    pubsub.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    for _ in 0..50 {
        let message = pubsub.get_message().expect("a message for a*");
        assert_eq!(message.get_payload_bytes(), payload.as_slice());
    }
}

/// The dashboard's `/api/store/keys?pattern=…` with the costly pattern answers within its
/// budget (counting the long keys as skipped) while another client is served, and a pattern
/// past the cap gets 400.
pub fn hostile_glob_dashboard_keys(bin: &Path) {
    let server = Server::start_with_ui(bin, &[]);
    let mut con = connect(&server, IO_TIMEOUT);
    store_long_keys(&mut con);
    let ui = server.ui_addr();
    let costly = format!("*{}b*", "a".repeat(30_000));
    let mut cursor = 0u64;
    let mut pages = 0;
    let (worst, _, skipped) = worst_ping_while(&server, || {
        let mut skipped = 0;
        loop {
            let (status, body) =
                get(ui, &format!("/api/store/keys?pattern={costly}&cursor={cursor}&limit=100"));
            assert_eq!(status, 200, "{body}");
            let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
            skipped += json["skipped"].as_u64().expect("a skipped count");
            assert_eq!(json["keys"].as_array().map(Vec::len), Some(0));
            cursor = json["next_cursor"].as_u64().expect("a cursor");
            pages += 1;
            if cursor == 0 || pages > 100 {
                return skipped;
            }
        }
    });
    eprintln!("dashboard listing: {pages} pages, {skipped} keys skipped, worst PING {worst:?}");
    assert_eq!(cursor, 0, "the listing finished");
    assert_eq!(skipped, 4, "each 64 KiB key is too costly for one page");
    assert!(worst < Duration::from_secs(1), "another client waited {worst:?}");
    let too_long = "a".repeat(MAX_PATTERN_BYTES + 1);
    let (status, body) = get(ui, &format!("/api/store/keys?pattern={too_long}"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("pattern too long"), "{body}");
}

/// `GET path` on the dashboard: the status and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("GET: {e}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
