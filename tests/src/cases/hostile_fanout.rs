//! Hostile cases about fan-out memory: one 10 MiB publish to 200 subscribers that never read
//! raised RSS by 2.0–3.3 GB (a private copy per subscriber). A message is now encoded once per
//! protocol and shared, so RSS grows by about one copy, over v1 and over RESP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use nexo_proto::options::PublishOptions;

use crate::server::Server;
use crate::wire::{self, Payload, request};

/// Subscribers that never read.
const SUBSCRIBERS: usize = 200;
/// Just under the default 10 MiB frame limit (room for the topic and options).
const PAYLOAD_BYTES: usize = (10 << 20) - 4096;
/// What RSS may grow by: a few copies (the publisher's frame, the push, buffers), not 200.
const GROWTH_MAX: u64 = 400 << 20;

fn subscribe_v1(server: &Server, topic: &str) -> TcpStream {
    let mut s = server.raw();
    wire::send(&mut s, &request(0x22, 1, &Payload::new().str(topic).build()));
    assert_eq!(wire::read_response(&mut s, 1).status, wire::OK);
    s
}

fn subscribe_resp(server: &Server, topic: &str) -> TcpStream {
    let mut s = server.raw();
    s.write_all(format!("SUBSCRIBE {topic}\r\n").as_bytes()).unwrap();
    let confirmation = format!("*3\r\n$9\r\nsubscribe\r\n${}\r\n{topic}\r\n:1\r\n", topic.len());
    let mut got = vec![0u8; confirmation.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), confirmation);
    s
}

/// Subscribes 200 connections with `subscribe`, publishes one large message, and checks RSS.
fn big_publish_to_idle_subscribers(bin: &Path, subscribe: fn(&Server, &str) -> TcpStream) {
    let server = Server::start(bin);
    let subscribers: Vec<TcpStream> = (0..SUBSCRIBERS).map(|_| subscribe(&server, "fan/big")).collect();
    let before = server.rss_bytes();
    let mut publisher = server.client();
    publisher.publish("fan/big", &vec![b'x'; PAYLOAD_BYTES], PublishOptions::default()).expect("PUBLISH");
    // Let every session queue its push (and the sockets fill) before measuring.
    let mut peak = 0;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(server.rss_bytes());
    }
    let grown = peak.saturating_sub(before);
    eprintln!("RSS growth for one publish to {SUBSCRIBERS} idle subscribers: {} MiB", grown >> 20);
    assert!(grown < GROWTH_MAX, "RSS grew by {} MiB for one publish to idle subscribers", grown >> 20);
    // The server serves on, and the subscribers still get the message when they read.
    wire::expect_echo(&mut server.raw(), 9);
    let mut first = subscribers.into_iter().next().unwrap();
    first.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = [0u8; 16];
    first.read_exact(&mut head).expect("the subscriber gets its message");
}

pub fn hostile_fanout_big_publish_v1(bin: &Path) {
    big_publish_to_idle_subscribers(bin, subscribe_v1);
}

pub fn hostile_fanout_big_publish_resp(bin: &Path) {
    big_publish_to_idle_subscribers(bin, subscribe_resp);
}
