//! Ordering across connections: once a subscriber's UNSUBSCRIBE is answered, no publish from
//! another connection reaches it any more, over v1 and RESP, as Redis behaves. A publisher floods
//! the channel the whole time, so a push queued behind the confirmation would show.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nexo_proto::Reply;
use nexo_proto::options::PublishOptions;
use nexo_proto::request::{PubSubRequest, Request};

use crate::server::Server;
use crate::wire::{self, Payload, request};

/// v1 opcodes (docs/PROTOCOL.md).
const SUBSCRIBE: u8 = 0x22;
const UNSUBSCRIBE: u8 = 0x23;
/// How long the subscriber keeps listening after the confirmation.
const QUIET: Duration = Duration::from_millis(500);

/// A publisher pipelining publishes to `topic` until `stop` is set.
fn flood(server: &Server, topic: &'static str, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    let mut publisher = server.client();
    thread::spawn(move || {
        let batch: Vec<Request> = (0..32)
            .map(|_| {
                Request::PubSub(PubSubRequest::Publish {
                    topic: topic.into(),
                    options: PublishOptions::default(),
                    payload: bytes::Bytes::from_static(b"tick"),
                })
            })
            .collect();
        while !stop.load(Ordering::Acquire) {
            let replies = publisher.pipeline(&batch).expect("publisher pipeline");
            assert!(replies.iter().all(|r| *r == Reply::Ok), "a PUBLISH was refused");
        }
    })
}

fn stop_flood(stop: &AtomicBool, publisher: JoinHandle<()>) {
    stop.store(true, Ordering::Release);
    if let Err(panic) = publisher.join() {
        std::panic::resume_unwind(panic);
    }
}

pub fn pubsub_order_unsubscribe_stops_pushes_v1(bin: &Path) {
    let server = Server::start(bin);
    let mut sub = server.raw();
    wire::send(&mut sub, &request(SUBSCRIBE, 1, &Payload::new().str("order/v1").build()));
    assert_eq!(wire::read_response(&mut sub, 1).status, wire::OK);
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = flood(&server, "order/v1", Arc::clone(&stop));
    // Pushes are flowing before the UNSUBSCRIBE goes out.
    for _ in 0..50 {
        assert_eq!(wire::read_frame(&mut sub).frame_type, wire::PUSH);
    }
    wire::send(&mut sub, &request(UNSUBSCRIBE, 2, &Payload::new().str("order/v1").build()));
    loop {
        let frame = wire::read_frame(&mut sub);
        if frame.frame_type == wire::RESPONSE {
            assert_eq!((frame.id, frame.status), (2, wire::OK));
            break;
        }
    }
    let late = wire::try_read_frame(&mut sub, QUIET);
    stop_flood(&stop, publisher);
    assert!(late.is_err(), "a publish arrived after the UNSUBSCRIBE reply: {late:?}");
}

/// One RESP array of bulks (or integers, kept as their text), read from `r`.
fn read_array(r: &mut BufReader<TcpStream>) -> std::io::Result<Vec<Vec<u8>>> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let count: usize = line.get(1..).unwrap_or("").trim_end().parse().map_err(std::io::Error::other)?;
    assert!(line.starts_with('*') || line.starts_with('>'), "not an array: {line:?}");
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        line.clear();
        r.read_line(&mut line)?;
        if let Some(int) = line.strip_prefix(':') {
            items.push(int.trim_end().as_bytes().to_vec());
            continue;
        }
        let len: usize = line.get(1..).unwrap_or("").trim_end().parse().map_err(std::io::Error::other)?;
        let mut bulk = vec![0u8; len + 2];
        r.read_exact(&mut bulk)?;
        bulk.truncate(len);
        items.push(bulk);
    }
    Ok(items)
}

pub fn pubsub_order_unsubscribe_stops_pushes_resp(bin: &Path) {
    let server = Server::start(bin);
    let mut sub = server.raw();
    sub.write_all(b"SUBSCRIBE order/resp\r\n").unwrap();
    let mut reader = BufReader::new(sub.try_clone().unwrap());
    assert_eq!(read_array(&mut reader).unwrap()[0], b"subscribe");
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = flood(&server, "order/resp", Arc::clone(&stop));
    for _ in 0..50 {
        assert_eq!(read_array(&mut reader).unwrap()[0], b"message");
    }
    sub.write_all(b"UNSUBSCRIBE order/resp\r\n").unwrap();
    while read_array(&mut reader).unwrap()[0] != b"unsubscribe" {}
    reader.get_ref().set_read_timeout(Some(QUIET)).unwrap();
    let late = read_array(&mut reader);
    stop_flood(&stop, publisher);
    assert!(late.is_err(), "a message arrived after the unsubscribe confirmation: {late:?}");
}
