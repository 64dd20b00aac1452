//! Hostile cases about reply size: a small request that asks for a huge reply gets an error naming
//! the limit (never an abort, a wrapped frame length or a partial list), and the server stays up
//! for everyone.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::server::{IO_TIMEOUT, Server};
use crate::wire::{self, Payload, expect_echo, request};

/// The v1 MGET opcode (docs/PROTOCOL.md).
const MGET: u8 = 0x0A;

/// A 9 MiB value under `key`, stored through a v1 SET.
fn store_big_value(server: &Server, key: &str) {
    let mut client = server.client();
    client.set(key, &vec![b'v'; 9 << 20]).expect("SET of a 9 MiB value");
}

/// A v1 MGET naming one 9 MiB key 20,000 times (a 100 KB frame) asked for 188 GB and aborted the
/// server. Now it is answered `ERR reply too large…` and the server serves on.
pub fn hostile_mget_huge_reply_v1(bin: &Path) {
    let server = Server::start(bin);
    store_big_value(&server, "big");
    let mut keys = Payload::new().u32(20_000);
    for _ in 0..20_000 {
        keys = keys.str("big");
    }
    let mut s = server.raw();
    wire::send(&mut s, &request(MGET, 77, &keys.build()));
    let reply = wire::read_response(&mut s, 77);
    let text = reply.err_text();
    assert!(text.starts_with("ERR reply too large"), "got {text:?}");
    assert!(text.contains("10485760"), "the error names the limit: {text:?}");
    // 410 repeats (3.7 GB, where the u32 frame length used to wrap) are refused the same way.
    let mut keys = Payload::new().u32(410);
    for _ in 0..410 {
        keys = keys.str("big");
    }
    wire::send(&mut s, &request(MGET, 78, &keys.build()));
    assert!(wire::read_response(&mut s, 78).err_text().starts_with("ERR reply too large"));
    // One copy fits and is answered in full; the connection stayed in step.
    let mut client = server.client();
    let values = client.mget(&["big"]).expect("MGET of one big value");
    assert_eq!(values[0].as_ref().map(|v| v.len()), Some(9 << 20));
    expect_echo(&mut s, 79);
    expect_echo(&mut server.raw(), 80);
    assert!(server.rss_bytes() < 1 << 30, "RSS stayed bounded: {} bytes", server.rss_bytes());
}

/// `MGET big×300` over RESP (a 2.7 KB request) made RSS grow by 300–600 MB while the client did
/// not read. Now it is one error line, and RSS does not move.
pub fn hostile_mget_huge_reply_resp(bin: &Path) {
    let server = Server::start(bin);
    store_big_value(&server, "big");
    let rss_before = server.rss_bytes();
    let mut s = server.raw();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut command = String::from("*301\r\n$4\r\nMGET\r\n");
    for _ in 0..300 {
        command.push_str("$3\r\nbig\r\n");
    }
    s.write_all(command.as_bytes()).unwrap();
    // Do not read for a while, as the attacker did; then look at memory and at the answer.
    std::thread::sleep(Duration::from_millis(500));
    let grown = server.rss_bytes().saturating_sub(rss_before);
    assert!(grown < 64 << 20, "RSS grew by {grown} bytes for one refused MGET");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        s.read_exact(&mut byte).expect("the error line");
        line.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&line).into_owned();
    assert!(line.starts_with("-ERR reply too large"), "got {line:?}");
    s.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 7];
    s.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
}
