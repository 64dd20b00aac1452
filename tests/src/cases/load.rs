//! Load cases: a deep pipeline on one connection and many connections at once.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::SetOptions;
use nexo_proto::request::{Request, StoreRequest};

use crate::server::Server;
use crate::wire::{self, Payload};

/// 10 000 pipelined requests on one connection (SET, GET of that key, ECHO, repeated), written
/// while replies are read; every reply is checked in request order. Then the same depth over a
/// raw socket, a writer thread and the reader concurrently, checking reply ids arrive in order.
pub fn load_pipeline_10k(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    const N: usize = 10_000;
    let requests: Vec<Request> = (0..N)
        .map(|i| {
            let key = Bytes::from(format!("pipe:{}", i / 3));
            match i % 3 {
                0 => Request::Store(StoreRequest::Set {
                    key,
                    options: SetOptions::default(),
                    value: Bytes::from(format!("\x01value {i}")),
                }),
                1 => Request::Store(StoreRequest::Get { key }),
                _ => Request::Echo(Bytes::from(format!("echo {i}"))),
            }
        })
        .collect();
    let replies = c.pipeline(&requests).unwrap();
    assert_eq!(replies.len(), N, "one reply per pipelined request");
    for (i, reply) in replies.iter().enumerate() {
        let expected = match i % 3 {
            0 => Reply::Ok,
            1 => Reply::Data(Bytes::from(format!("\x01value {}", i - 1))),
            _ => Reply::Data(Bytes::from(format!("echo {i}"))),
        };
        assert_eq!(reply, &expected, "reply {i} of the pipeline");
    }
    assert_eq!(c.get("pipe:3332").unwrap().as_deref(), Some(&b"\x01value 9996"[..]));

    // Raw: the writer never waits for replies; the server must keep reading while we read.
    let mut reader = server.raw();
    let mut writer = reader.try_clone().unwrap();
    let handle = thread::spawn(move || {
        let mut batch = Vec::new();
        for i in 0..N as u32 {
            let key = format!("raw:{}", i / 2);
            let frame = if i % 2 == 0 {
                wire::request(0x02, i, &Payload::new().str(&key).json("{}").raw(i.to_be_bytes()).build())
            } else {
                wire::request(0x03, i, &Payload::new().str(&key).build())
            };
            batch.extend_from_slice(&frame);
            if batch.len() > 16 * 1024 {
                writer.write_all(&batch).unwrap();
                batch.clear();
            }
        }
        writer.write_all(&batch).unwrap();
    });
    for i in 0..N as u32 {
        let f = wire::try_read_frame(&mut reader, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("raw pipeline: reply {i} did not arrive: {e}"));
        assert_eq!((f.frame_type, f.id), (wire::RESPONSE, i), "raw pipeline replies arrive in order");
        if i % 2 == 0 {
            assert_eq!((f.status, f.payload.len()), (wire::OK, 0), "SET {i}");
        } else {
            assert_eq!((f.status, &f.payload[..]), (wire::DATA, &(i - 1).to_be_bytes()[..]), "GET {i}");
        }
    }
    handle.join().unwrap();
}

/// 200 connections open at the same time, each doing SET, GET, ECHO and an INCRBY of one shared
/// counter; the counter ends at exactly 200.
pub fn load_200_connections(bin: &Path) {
    let server = Server::start(bin);
    const CONNS: usize = 200;
    let barrier = Arc::new(Barrier::new(CONNS));
    let addr = server.addr();
    let handles: Vec<_> = (0..CONNS)
        .map(|n| {
            let barrier = Arc::clone(&barrier);
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let connected = nexo_client::Client::connect(addr);
                    // Every connection is open before any of them does work (wait even after a
                    // failure, so the other threads are not left blocked on the barrier).
                    barrier.wait();
                    let mut c = connected.unwrap();
                    c.set_timeout(Some(Duration::from_secs(30))).unwrap();
                    let key = format!("conn:{n}");
                    let value = format!("\x01from connection {n}");
                    c.set(&key, value.as_bytes()).unwrap();
                    assert_eq!(c.get(&key).unwrap().as_deref(), Some(value.as_bytes()), "connection {n}");
                    assert_eq!(&c.echo(key.as_bytes()).unwrap()[..], key.as_bytes());
                    c.incr_by("shared-counter", 1).unwrap();
                })
                .unwrap()
        })
        .collect();
    for h in handles {
        h.join().expect("a connection thread failed");
    }
    let mut c = server.client();
    assert_eq!(c.incr_by("shared-counter", 0).unwrap(), CONNS as i64);
    let values = c.mget(&["conn:0", "conn:199"]).unwrap();
    assert!(values.iter().all(Option::is_some));
}
