//! Client tests against a tiny fake server on a `TcpListener` thread: reply correlation,
//! pipelining order and volume, push queueing, ERR mapping, timeouts, closes and limits.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use nexo_proto::{DecodeError, Inbound, Push, Reply, ReplyKind, Request, decode_request_frame};

use crate::{
    Client, ClientError, ConsumeOptions, PubSubRequest, PublishOptions, QueueRequest, SetOptions,
    StoreRequest, StreamRequest, expected_reply_kind,
};

/// What the fake server does after handling a request.
#[derive(PartialEq)]
enum Flow {
    Continue,
    Close,
}

/// Accepts one connection and feeds every request to `handler`, writing whatever it appends to
/// `out` after each read. Ends when the client closes or the handler says so.
fn fake_server<H>(mut handler: H) -> SocketAddr
where
    H: FnMut(u32, Request, &mut BytesMut) -> Flow + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = BytesMut::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut out = BytesMut::new();
            let mut flow = Flow::Continue;
            while let Ok(Some(inbound)) = decode_request_frame(&mut buf, 1 << 20) {
                match inbound {
                    Inbound::Request { id, request } => flow = handler(id, request, &mut out),
                    Inbound::Rejected { id, error } => Reply::error(error).encode(id, &mut out),
                }
                if flow == Flow::Close {
                    break;
                }
            }
            if conn.write_all(&out).is_err() || flow == Flow::Close {
                return;
            }
        }
    });
    addr
}

fn push(topic: &str, payload: &[u8]) -> Push {
    Push { topic: topic.to_owned(), payload: Bytes::copy_from_slice(payload) }
}

fn get(key: &str) -> Request {
    Request::Store(StoreRequest::Get { key: Bytes::copy_from_slice(key.as_bytes()) })
}

fn key_of(request: &Request) -> Bytes {
    match request {
        Request::Store(StoreRequest::Get { key }) => key.clone(),
        other => panic!("expected GET, got {other:?}"),
    }
}

#[test]
fn pipeline_returns_replies_in_request_order_when_answered_in_reverse() {
    const N: usize = 50;
    let mut held = Vec::new();
    let addr = fake_server(move |id, request, out| {
        held.push((id, key_of(&request)));
        if held.len() == N {
            for (i, (id, key)) in held.drain(..).rev().enumerate() {
                Reply::Data(key).encode(id, out);
                if i % 10 == 0 {
                    push("t/order", format!("{i}").as_bytes()).encode(out);
                }
            }
        }
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    let requests: Vec<Request> = (0..N).map(|i| get(&format!("k{i}"))).collect();
    let replies = client.pipeline(&requests).unwrap();
    let want: Vec<Reply> = (0..N).map(|i| Reply::Data(Bytes::from(format!("k{i}")))).collect();
    assert_eq!(replies, want);
    // The pushes interleaved with the replies were queued in arrival order.
    let pushes: Vec<Bytes> =
        std::iter::from_fn(|| client.next_push(Duration::ZERO).unwrap()).map(|p| p.payload).collect();
    assert_eq!(pushes, ["0", "10", "20", "30", "40"].map(Bytes::from));
}

#[test]
fn a_large_pipeline_does_not_deadlock_on_full_socket_buffers() {
    // A blocking server that writes each batch of replies before it reads again: without a
    // concurrent reader on the client side, 20 MB each way fills both socket buffers.
    const N: usize = 20_000;
    let addr = fake_server(|id, request, out| {
        match request {
            Request::Echo(data) => Reply::Data(data).encode(id, out),
            other => Reply::error(format!("unexpected {other:?}")).encode(id, out),
        }
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    let payload = Bytes::from(vec![0xA5u8; 1024]);
    let requests: Vec<Request> = (0..N)
        .map(|i| {
            let mut data = BytesMut::from(&payload[..]);
            data.put_u32(i as u32);
            Request::Echo(data.freeze())
        })
        .collect();
    let replies = client.pipeline(&requests).unwrap();
    assert_eq!(replies.len(), N);
    for (i, reply) in replies.iter().enumerate() {
        match reply {
            Reply::Data(data) => assert_eq!(&data[1024..], &(i as u32).to_be_bytes()),
            other => panic!("reply {i}: {other:?}"),
        }
    }
    // The connection is still in step afterwards.
    assert_eq!(&client.echo(b"after").unwrap()[..], b"after");
}

#[test]
fn replies_are_matched_by_id_whatever_order_they_are_asked_for() {
    let addr = fake_server(|id, request, out| {
        Reply::Data(key_of(&request)).encode(id, out);
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    let ids: Vec<u32> = ["a", "b", "c"].iter().map(|k| client.send(&get(k)).unwrap()).collect();
    assert_eq!(ids, [1, 2, 3]);
    client.flush().unwrap();
    for (id, key) in ids.iter().zip(["a", "b", "c"]).rev() {
        assert_eq!(client.recv_reply(*id, ReplyKind::Data).unwrap(), Reply::Data(Bytes::from(key)));
    }
}

#[test]
fn pushes_that_arrive_before_a_reply_are_queued_not_lost() {
    let addr = fake_server(|id, request, out| {
        push("news/a", b"first").encode(out);
        push("news/b", b"second").encode(out);
        Reply::Data(key_of(&request)).encode(id, out);
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    assert_eq!(client.get("k").unwrap().as_deref(), Some(&b"k"[..]));
    assert_eq!(client.queued_pushes(), 2);
    assert_eq!(client.next_push(Duration::ZERO).unwrap(), Some(push("news/a", b"first")));
    assert_eq!(client.next_push(Duration::from_millis(10)).unwrap(), Some(push("news/b", b"second")));
    assert_eq!(client.next_push(Duration::from_millis(10)).unwrap(), None);
}

#[test]
fn next_push_stashes_replies_that_arrive_meanwhile() {
    let addr = fake_server(|id, request, out| {
        Reply::Data(key_of(&request)).encode(id, out);
        push("late", b"p").encode(out);
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    let id = client.send(&get("x")).unwrap();
    client.flush().unwrap();
    assert_eq!(client.next_push(Duration::from_secs(5)).unwrap(), Some(push("late", b"p")));
    assert_eq!(client.recv_reply(id, ReplyKind::Data).unwrap(), Reply::Data(Bytes::from_static(b"x")));
}

#[test]
fn err_replies_are_server_errors_in_helpers_and_values_in_request() {
    let addr = fake_server(|id, _request, out| {
        Reply::Err("Queue 'x' not found".to_owned()).encode(id, out);
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    match client.get("k") {
        Err(ClientError::Server(text)) => assert_eq!(text, "Queue 'x' not found"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(client.set("k", b"v"), Err(ClientError::Server(_))));
    assert!(matches!(client.subscribe("a/#"), Err(ClientError::Server(_))));
    assert_eq!(client.request(&get("k")).unwrap(), Reply::Err("Queue 'x' not found".to_owned()));
}

#[test]
fn decode_errors_of_the_server_come_back_as_err() {
    // The fake answers what it cannot decode with ERR, like the real server.
    let addr = fake_server(|_, _, _| Flow::Continue);
    let mut client = Client::connect(addr).unwrap();
    // Opcode 0x37 is unassigned in the Stream range; send it raw through the stream.
    let mut raw = BytesMut::new();
    nexo_proto::frame::FrameHeader { frame_type: 0x01, meta: 0x37, id: 99, payload_len: 0 }.write(&mut raw);
    client.stream.write_all(&raw).unwrap();
    let reply = client.recv_reply(99, ReplyKind::Data).unwrap();
    assert_eq!(
        reply,
        Reply::error(DecodeError::UnknownBrokerOpcode { broker: "Stream", opcode: 0x37 }),
        "Unknown Stream opcode: 0x37"
    );
}

#[test]
fn a_server_that_closes_is_closed() {
    let addr = fake_server(|_, _, _| Flow::Close);
    let mut client = Client::connect(addr).unwrap();
    match client.get("k") {
        Err(ClientError::Closed) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_silent_server_times_out() {
    let addr = fake_server(|_, _, _| Flow::Continue);
    let mut client = Client::connect(addr).unwrap();
    client.set_timeout(Some(Duration::from_millis(100))).unwrap();
    let start = Instant::now();
    assert!(matches!(client.get("k"), Err(ClientError::Timeout)));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(matches!(client.pipeline(&[get("a"), get("b")]), Err(ClientError::Timeout)));
    assert_eq!(client.next_push(Duration::from_millis(20)).unwrap(), None);
    assert_eq!(client.next_push(Duration::ZERO).unwrap(), None);
}

#[test]
fn an_oversized_reply_is_refused_from_its_header() {
    let addr = fake_server(|id, _, out| {
        nexo_proto::frame::FrameHeader {
            frame_type: 0x02,
            meta: 0x03,
            id,
            payload_len: 1024 + 64 * 1024 + 1,
        }
        .write(out);
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    client.set_max_frame_bytes(1024);
    match client.get("k") {
        Err(ClientError::Protocol(text)) => assert!(text.contains("too large"), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_frame_from_the_server_is_a_protocol_error() {
    let addr = fake_server(|id, request, out| {
        request.encode(id, out);
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    assert!(matches!(client.echo(b"x"), Err(ClientError::Protocol(_))));
}

#[test]
fn a_reply_of_the_wrong_layout_is_a_protocol_error() {
    let addr = fake_server(|id, _, out| {
        Reply::Count(7).encode(id, out);
        Flow::Continue
    });
    let mut client = Client::connect(addr).unwrap();
    // INCRBY expects an i64: the 4-byte DATA does not fit.
    assert!(matches!(client.incr_by("k", 1), Err(ClientError::Protocol(_))));
}

/// A miniature Store and Pub/Sub for the typed helpers.
fn mini_server() -> SocketAddr {
    let mut store: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    fake_server(move |id, request, out| {
        let reply = match request {
            Request::Echo(data) => Reply::Data(data),
            Request::Store(r) => store_reply(&mut store, r),
            Request::PubSub(PubSubRequest::Publish { topic, payload, .. }) => {
                push(&topic, &payload).encode(out);
                Reply::Ok
            }
            Request::PubSub(_) => Reply::Ok,
            other => Reply::error(format!("not in the fake: {other:?}")),
        };
        reply.encode(id, out);
        Flow::Continue
    })
}

fn store_reply(store: &mut BTreeMap<Bytes, Bytes>, request: StoreRequest) -> Reply {
    match request {
        StoreRequest::Set { key, value, .. } => {
            store.insert(key, value);
            Reply::Ok
        }
        StoreRequest::Get { key } => store.get(&key).cloned().map_or(Reply::Null, Reply::Data),
        StoreRequest::Del { key } => {
            store.remove(&key);
            Reply::Ok
        }
        StoreRequest::SetNx { key, value, .. } => {
            Reply::Flag(store.get(&key).is_none() && store.insert(key, value).is_none())
        }
        StoreRequest::IncrBy { key, delta } => {
            let now = store.get(&key).and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok());
            let Some(next) = now.unwrap_or(0).checked_add(delta) else {
                return Reply::Err("ERR value is not an integer or out of range".to_owned());
            };
            store.insert(key, Bytes::from(next.to_string()));
            Reply::Int(next)
        }
        StoreRequest::Expire { key, .. } | StoreRequest::Persist { key } => {
            Reply::Flag(store.contains_key(&key))
        }
        StoreRequest::Ttl { key } => Reply::Int(if store.contains_key(&key) { -1 } else { -2 }),
        StoreRequest::MGet { keys } => Reply::Values(keys.iter().map(|k| store.get(k).cloned()).collect()),
        StoreRequest::MSet { pairs, .. } => {
            store.extend(pairs);
            Reply::Ok
        }
        StoreRequest::Scan { cursor, .. } => {
            // Two steps; the second repeats a key, as a scan during a resize may.
            let keys: Vec<Bytes> = store.keys().cloned().collect();
            let half = keys.len() / 2;
            match cursor {
                0 => Reply::Keys { cursor: 1, keys: keys[..half].to_vec() },
                _ => Reply::Keys { cursor: 0, keys: keys[half.saturating_sub(1)..].to_vec() },
            }
        }
        other => Reply::error(format!("not in the fake: {other:?}")),
    }
}

#[test]
fn typed_store_helpers() {
    let mut c = Client::connect(mini_server()).unwrap();
    assert_eq!(&c.echo(b"ping").unwrap()[..], b"ping");
    c.set("a", b"\x01one").unwrap();
    c.set_with("b", b"two", SetOptions { ttl: Some(5), persist: false }).unwrap();
    assert_eq!(c.get("a").unwrap().as_deref(), Some(&b"\x01one"[..]));
    assert_eq!(c.get("missing").unwrap(), None);
    assert!(!c.set_nx("a", b"x", SetOptions::default()).unwrap());
    assert!(c.set_nx("c", b"three", SetOptions::default()).unwrap());
    assert_eq!(c.incr_by("n", 5).unwrap(), 5);
    assert_eq!(c.incr_by("n", -7).unwrap(), -2);
    assert!(c.expire("a", 1000).unwrap());
    assert!(!c.persist("missing").unwrap());
    assert_eq!(c.ttl("a").unwrap(), -1);
    assert_eq!(c.ttl("missing").unwrap(), -2);
    c.del("c").unwrap();
    c.mset(&[("m1", b"1"), ("m2", b"")], SetOptions::default()).unwrap();
    assert_eq!(
        c.mget(&["m1", "nope", "m2"]).unwrap(),
        vec![Some(Bytes::from_static(b"1")), None, Some(Bytes::new())]
    );
    let (cursor, first) = c.scan(0, "*", 10).unwrap();
    assert_eq!(cursor, 1);
    assert!(!first.is_empty());
    assert_eq!(c.scan_all("*").unwrap(), ["a", "b", "m1", "m2", "n"], "deduplicated, in scan order");
}

#[test]
fn typed_pubsub_helpers_and_pushes() {
    let mut c = Client::connect(mini_server()).unwrap();
    c.subscribe("t/#").unwrap();
    c.publish("t/1", b"hello", PublishOptions { retain: true, ttl: None, persist: false }).unwrap();
    assert_eq!(c.next_push(Duration::from_secs(1)).unwrap(), Some(push("t/1", b"hello")));
    c.unsubscribe("t/#").unwrap();
}

#[test]
fn request_picks_the_reply_layout_from_the_request() {
    let mut c = Client::connect(mini_server()).unwrap();
    let incr = Request::Store(StoreRequest::IncrBy { key: Bytes::from_static(b"n"), delta: 3 });
    assert_eq!(c.request(&incr).unwrap(), Reply::Int(3));
    let mget = Request::Store(StoreRequest::MGet { keys: vec![Bytes::from_static(b"n")] });
    assert_eq!(c.request(&mget).unwrap(), Reply::Values(vec![Some(Bytes::from_static(b"3"))]));
}

#[test]
fn expected_reply_kinds() {
    let name = || "q".to_owned();
    let cases = [
        (Request::Echo(Bytes::new()), ReplyKind::Data),
        (Request::Store(StoreRequest::Ttl { key: Bytes::new() }), ReplyKind::Int),
        (Request::Store(StoreRequest::Persist { key: Bytes::new() }), ReplyKind::Flag),
        (Request::Store(StoreRequest::Scan { cursor: 0, pattern: name(), count: 1 }), ReplyKind::Keys),
        (Request::Queue(QueueRequest::Consume { name: name(), options: ConsumeOptions::default() }), {
            ReplyKind::QueueMessages
        }),
        (Request::Queue(QueueRequest::PeekDlq { name: name(), limit: 1, offset: 0 }), ReplyKind::DlqPage),
        (Request::Queue(QueueRequest::PurgeDlq { name: name() }), ReplyKind::Count),
        (Request::Queue(QueueRequest::MoveToQueue { name: name(), id: [0; 16] }), ReplyKind::Flag),
        (Request::Stream(StreamRequest::Publish { topic: name(), payload: Bytes::new() }), ReplyKind::Seq),
        (Request::Stream(StreamRequest::Join { group: name(), topic: name() }), ReplyKind::Joined),
        (
            Request::Stream(StreamRequest::Fetch {
                topic: name(),
                group: name(),
                consumer_id: name(),
                generation: 1,
                limit: 1,
                wait_ms: 0,
            }),
            ReplyKind::StreamMessages,
        ),
    ];
    for (request, kind) in cases {
        assert_eq!(expected_reply_kind(&request), kind, "{request:?}");
    }
}

#[test]
fn ids_skip_zero_when_they_wrap() {
    let addr = fake_server(|_, _, _| Flow::Continue);
    let mut client = Client::connect(addr).unwrap();
    client.ids = crate::codec::RequestIds::starting_at(u32::MAX);
    assert_eq!(client.send(&get("a")).unwrap(), u32::MAX);
    assert_eq!(client.send(&get("b")).unwrap(), 1);
}
