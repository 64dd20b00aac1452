//! Bad-input cases over raw frames: each bad frame gets the spec's exact reply (or close), and
//! afterwards the same connection (when it should stay open) and a fresh one still work.

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::server::Server;
use crate::wire::{self, Payload, expect_echo, expect_err, expect_err_prefix, request};

/// Checks that a new connection to `server` works (other clients are unaffected).
fn other_connection_works(server: &Server) {
    let mut other = server.raw();
    expect_echo(&mut other, 4242);
}

/// Frame types other than `0x01` are answered `Unsupported frame type` with their id (payload
/// skipped), and the connection stays in sync.
pub fn bad_frame_type(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    expect_err(
        &mut s,
        &wire::frame(0x02, 0x03, 7, &Payload::new().str("k").build()),
        7,
        "Unsupported frame type",
    );
    expect_err(&mut s, &wire::frame(0x07, 0x00, 8, b"12345"), 8, "Unsupported frame type");
    expect_err(&mut s, &wire::frame(0x03, 0x00, 9, b""), 9, "Unsupported frame type");
    expect_err(&mut s, &wire::frame(0x00, 0x02, 10, &[0xAA; 300]), 10, "Unsupported frame type");
    expect_echo(&mut s, 11);

    // Bad frames between good ones in one write: every frame is answered, matched by id.
    let mut batch = request(0x00, 20, b"first");
    batch.extend(wire::frame(0x05, 0x00, 21, &[0xEE; 40]));
    batch.extend(request(0x03, 22, &Payload::new().str("absent").build()));
    batch.extend(request(0xF0, 23, b"??"));
    batch.extend(request(0x00, 24, b"last"));
    wire::send(&mut s, &batch);
    let mut replies: Vec<wire::Frame> = (0..5).map(|_| wire::read_frame(&mut s)).collect();
    replies.sort_by_key(|f| f.id);
    let ids: Vec<u32> = replies.iter().map(|f| f.id).collect();
    assert_eq!(ids, [20, 21, 22, 23, 24], "one reply per frame: {replies:?}");
    assert_eq!((replies[0].status, &replies[0].payload[..]), (wire::DATA, &b"first"[..]));
    assert_eq!(replies[1].err_text(), "Unsupported frame type");
    assert_eq!(replies[2].status, wire::NULL);
    assert_eq!(replies[3].err_text(), "Unknown opcode: 0xF0");
    assert_eq!((replies[4].status, &replies[4].payload[..]), (wire::DATA, &b"last"[..]));

    // The first frame of a connection may be the bad one too.
    let mut fresh = server.raw();
    expect_err(&mut fresh, &wire::frame(0x07, 0x00, 12, b"xyz"), 12, "Unsupported frame type");
    expect_echo(&mut fresh, 13);
    other_connection_works(&server);
}

/// Opcodes outside every range: `Unknown opcode: 0xNN` (two uppercase hex digits).
pub fn bad_unknown_opcode(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    // 0x01 is the AUTH extension (docs/PROTOCOL.md); every other opcode here is unassigned.
    for (i, op) in [0x20u8, 0x80, 0x8F, 0x90, 0xAB, 0xFF].into_iter().enumerate() {
        let id = 100 + i as u32;
        expect_err(&mut s, &request(op, id, b"ignored payload"), id, &format!("Unknown opcode: 0x{op:02X}"));
    }
    expect_echo(&mut s, 200);
    other_connection_works(&server);
}

/// Unassigned opcodes inside a broker's range (own and overflow ranges):
/// `Unknown <Broker> opcode: 0xNN`; `0x4E` stays unassigned for the Store (`0x4B` is WATCH now)
/// and `0x37` for Stream.
pub fn bad_unknown_broker_opcode(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    let cases = [
        (0x4Eu8, "Store"),
        (0x4F, "Store"),
        (0x1F, "Queue"),
        (0x5F, "Queue"),
        (0x2F, "PubSub"),
        (0x6F, "PubSub"),
        (0x37, "Stream"),
        (0x7F, "Stream"),
    ];
    for (i, (op, broker)) in cases.into_iter().enumerate() {
        let id = 300 + i as u32;
        let text = format!("Unknown {broker} opcode: 0x{op:02X}");
        expect_err(&mut s, &request(op, id, &Payload::new().str("k").json("{}").build()), id, &text);
    }
    expect_echo(&mut s, 399);
    other_connection_works(&server);
}

/// Fields that run past the payload: a cut u32/u64/i64 and strings shorter than declared.
pub fn bad_truncated_fields(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    let key = || Payload::new().str("k");
    let cases: Vec<(u8, Vec<u8>, String)> = vec![
        (0x03, vec![], "Payload too short for u32".into()),
        (0x03, vec![0, 0], "Payload too short for u32".into()),
        (0x03, vec![0, 0, 0, 10, b'a', b'b', b'c'], "Incomplete string: expected 10 bytes".into()),
        (0x03, vec![0xFF, 0xFF, 0xFF, 0xFF, b'a'], "Incomplete string: expected 4294967295 bytes".into()),
        (0x02, key().raw([0, 0]).build(), "Payload too short for u32".into()),
        (0x02, key().raw([0, 0, 0, 50]).raw("{}").build(), "Incomplete string: expected 50 bytes".into()),
        (0x06, key().raw([0, 0, 1]).build(), "Payload too short for i64".into()),
        (0x07, key().raw([0, 0, 0, 1]).build(), "Payload too short for u64".into()),
        (0x0A, Payload::new().u32(3).str("a").build(), "Payload too short for u32".into()),
        (0x0C, Payload::new().u64(0).build(), "Payload too short for u32".into()),
        (0x0C, Payload::new().u64(0).str("*").build(), "Payload too short for u32".into()),
        (0x22, vec![0, 0, 0, 5, b'a'], "Incomplete string: expected 5 bytes".into()),
        (
            0x21,
            Payload::new().str("t").raw([0, 0, 0, 9]).build(),
            "Incomplete string: expected 9 bytes".into(),
        ),
        (0x13, vec![1, 2, 3], "Payload too short for UUID".into()),
        (0x38, Payload::new().str("topic").str("group").build(), "Payload too short for u8".into()),
    ];
    for (i, (op, payload, text)) in cases.iter().enumerate() {
        let id = 500 + i as u32;
        expect_err(&mut s, &request(*op, id, payload), id, text);
    }
    // Nothing was stored by the truncated SETs.
    wire::send(&mut s, &request(0x03, 600, &key().build()));
    assert_eq!(wire::read_response(&mut s, 600).status, wire::NULL);
    expect_echo(&mut s, 601);
    other_connection_works(&server);
}

/// Invalid UTF-8 in a key, JSON options, topic or pattern: `Invalid UTF-8 in string`.
pub fn bad_invalid_utf8(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (0x03, Payload::new().str([0xFF, 0xFE]).build()),
        (0x02, Payload::new().str([b'k', 0xC3]).json("{}").raw("v").build()),
        (0x02, Payload::new().str("k").str([b'{', 0x80, b'}']).raw("v").build()),
        (0x04, Payload::new().str([0xED, 0xA0, 0x80]).build()),
        (0x21, Payload::new().str([b't', 0x80]).json("{}").raw("p").build()),
        (0x22, Payload::new().str([0xC0, 0xAF]).build()),
    ];
    for (i, (op, payload)) in cases.iter().enumerate() {
        let id = 700 + i as u32;
        expect_err(&mut s, &request(*op, id, payload), id, "Invalid UTF-8 in string");
    }
    expect_echo(&mut s, 799);
    other_connection_works(&server);
}

/// Malformed or mistyped JSON options: ERR starting `Invalid JSON options: `; unknown fields
/// are ignored.
pub fn bad_json_options(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    let bad =
        ["{not json", r#"{"ttl":"abc"}"#, r#"{"ttl":-1}"#, r#"{"persist":"yes"}"#, "[]", r#""text""#, "{"];
    for (i, json) in bad.iter().enumerate() {
        let id = 800 + i as u32;
        let frame = request(0x02, id, &Payload::new().str("json-key").json(json).raw("v").build());
        expect_err_prefix(&mut s, &frame, id, "Invalid JSON options: ");
    }
    let frame = request(0x21, 850, &Payload::new().str("t").json(r#"{"retain":"yes"}"#).raw("p").build());
    expect_err_prefix(&mut s, &frame, 850, "Invalid JSON options: ");

    wire::send(&mut s, &request(0x03, 860, &Payload::new().str("json-key").build()));
    assert_eq!(wire::read_response(&mut s, 860).status, wire::NULL, "a rejected SET stores nothing");

    let ok = request(
        0x02,
        861,
        &Payload::new().str("json-key").json(r#"{"unknownField":1,"ttl":5}"#).raw("v").build(),
    );
    wire::send(&mut s, &ok);
    let f = wire::read_response(&mut s, 861);
    assert_eq!(f.status, wire::OK, "unknown JSON fields are ignored: {f:?}");
    wire::send(&mut s, &request(0x08, 862, &Payload::new().str("json-key").build()));
    let f = wire::read_response(&mut s, 862);
    let ttl = i64::from_be_bytes(f.payload[..].try_into().expect("TTL answers an i64"));
    assert!((1..=5_000).contains(&ttl), "the known field still applies: ttl {ttl}");
    expect_echo(&mut s, 863);
    other_connection_works(&server);
}

/// A declared payload above `--max-frame-bytes` is answered `Frame too large: N bytes (max M)`
/// with the request id as soon as the header arrives, then the connection is closed. A payload
/// of exactly the limit is accepted.
pub fn bad_oversized_frame(bin: &Path) {
    let server = Server::start_with(bin, &["--max-frame-bytes", "1024"]);
    let mut s = server.raw();
    let at_limit = vec![0x5A; 1024];
    wire::send(&mut s, &request(0x00, 1, &at_limit));
    let f = wire::read_response(&mut s, 1);
    assert_eq!((f.status, f.payload.len()), (wire::DATA, 1024), "a 1024-byte payload is within the limit");

    // Only the header: the server must not wait for the payload.
    let header = &request(0x02, 42, &[0; 1025])[..10];
    expect_err(&mut s, header, 42, "Frame too large: 1025 bytes (max 1024)");
    let after = wire::read_until_closed(&mut s, Duration::from_secs(10));
    assert!(after.is_empty(), "nothing after the Frame too large reply: {after:02X?}");

    // Requests before the oversized header in the same write are still answered (replies are
    // matched by id: the Store's may come after the ERR), then the connection closes.
    let mut mixed = server.raw();
    let mut batch = request(0x02, 30, &Payload::new().str("before").json("{}").raw("v").build());
    batch.extend(request(0x00, 31, b"echo"));
    batch.extend_from_slice(&[0x01, 0x03, 0, 0, 0, 32, 0, 0, 0x10, 0x00]);
    wire::send(&mut mixed, &batch);
    let mut replies: Vec<wire::Frame> = (0..3).map(|_| wire::read_frame(&mut mixed)).collect();
    replies.sort_by_key(|f| f.id);
    assert_eq!(
        (replies[0].id, replies[0].status),
        (30, wire::OK),
        "SET before the oversized frame: {replies:?}"
    );
    assert_eq!(
        (replies[1].id, &replies[1].payload[..]),
        (31, &b"echo"[..]),
        "ECHO before the oversized frame"
    );
    assert_eq!(replies[2].id, 32);
    assert_eq!(replies[2].err_text(), "Frame too large: 4096 bytes (max 1024)");
    let after = wire::read_until_closed(&mut mixed, Duration::from_secs(10));
    assert!(after.is_empty(), "nothing after the Frame too large reply: {after:02X?}");

    let mut huge = server.raw();
    let header = [0x01, 0x03, 0, 0, 0, 43, 0xFF, 0xFF, 0xFF, 0xFF];
    expect_err(&mut huge, &header, 43, "Frame too large: 4294967295 bytes (max 1024)");
    let after = wire::read_until_closed(&mut huge, Duration::from_secs(10));
    assert!(after.is_empty(), "nothing after the Frame too large reply: {after:02X?}");
    other_connection_works(&server);
}

/// A first byte that is neither v1 (`0x00–0x1F`) nor RESP (`*` or a letter) closes the
/// connection without a reply.
pub fn bad_garbage_first_byte(bin: &Path) {
    let server = Server::start(bin);
    for first in [0xFFu8, 0x80, 0x7F] {
        let mut s = server.raw();
        let mut garbage = vec![first];
        garbage.extend_from_slice(&[0x01, 0x00, 0, 0, 0, 1, 0, 0, 0, 0]);
        // The server may close before reading all of it; a failed write is fine.
        let _ = std::io::Write::write_all(&mut s, &garbage);
        let got = wire::read_until_closed(&mut s, Duration::from_secs(10));
        assert!(got.is_empty(), "first byte 0x{first:02X}: expected a silent close, got {got:02X?}");
    }
    other_connection_works(&server);
}

/// `--max-connections 2`: a third connection gets `Too many connections` with its request id,
/// then is closed; one that sends nothing is closed silently within about a second; the first
/// two keep working, and a slot freed by a close is usable again.
pub fn bad_connection_limit(bin: &Path) {
    let server = Server::start_with(bin, &["--max-connections", "2"]);
    let mut a = server.raw();
    expect_echo(&mut a, 1);
    let mut b = server.raw();
    expect_echo(&mut b, 2);

    let mut c = server.raw();
    expect_err(&mut c, &request(0x00, 99, b"hello"), 99, "Too many connections");
    let after = wire::read_until_closed(&mut c, Duration::from_secs(10));
    assert!(after.is_empty(), "nothing after Too many connections: {after:02X?}");

    let mut silent = server.raw();
    let started = Instant::now();
    let got = wire::read_until_closed(&mut silent, Duration::from_secs(10));
    assert!(got.is_empty(), "a refused connection that sent nothing is closed silently: {got:02X?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused idle connection closed after {:?}",
        started.elapsed()
    );

    expect_echo(&mut a, 3);
    expect_echo(&mut b, 4);

    drop(a);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut d: TcpStream = server.raw();
        wire::send(&mut d, &request(0x00, 5, b"again"));
        let f = wire::try_read_frame(&mut d, Duration::from_secs(5));
        match f {
            Ok(f) if f.status == wire::DATA => {
                assert_eq!((f.id, &f.payload[..]), (5, &b"again"[..]));
                break;
            }
            Ok(f) => assert_eq!(f.err_text(), "Too many connections"),
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "a closed connection's slot was not freed within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    expect_echo(&mut b, 6);
}
