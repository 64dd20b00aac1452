//! RESP (Redis protocol) cases: every supported command through the `redis` crate, exact reply
//! bytes and error texts over raw sockets, pipelines across brokers, expiry, Pub/Sub (exact,
//! glob, RESP3 pushes, both directions across protocols), limits, and `redis-cli` /
//! `redis-benchmark` against the server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use nexo_proto::options::{PublishOptions, SetOptions};
use redis::{Connection, RedisResult, Value};

use crate::cases::{PATIENCE, eventually, pushes_until, summary};
use crate::server::{IO_TIMEOUT, Server};
use crate::wire;

fn connect(server: &Server) -> Connection {
    let client = redis::Client::open(format!("redis://{}/", server.addr())).expect("redis URL");
    let con = client.get_connection_with_timeout(IO_TIMEOUT).expect("redis connection");
    con.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    con
}

/// Runs one command; panics with the command on a transport error.
fn run<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> RedisResult<T> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con)
}

fn ok<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    run(con, args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn err_text(con: &mut Connection, args: &[&str]) -> String {
    match run::<Value>(con, args) {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// Sends `input` on a raw socket and reads until `expected.len()` bytes arrived; compares.
fn exchange(s: &mut TcpStream, input: &[u8], expected: &[u8]) {
    s.write_all(input).unwrap();
    let got = read_n(s, expected.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected),
        "reply to {:?}",
        String::from_utf8_lossy(input)
    );
}

fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut got = vec![0u8; n];
    let mut have = 0;
    while have < n {
        match s.read(&mut got[have..]) {
            Ok(0) => panic!("closed after {:?}", String::from_utf8_lossy(&got[..have])),
            Ok(k) => have += k,
            Err(e) => panic!("read failed after {:?}: {e}", String::from_utf8_lossy(&got[..have])),
        }
    }
    got
}

/// PING, ECHO, SELECT, CLIENT, HELLO, COMMAND, INFO, CONFIG GET, QUIT, and Redis's texts for
/// unknown commands and wrong arity.
pub fn resp_connection_commands(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    assert_eq!(ok::<String>(&mut con, &["PING"]), "PONG");
    assert_eq!(ok::<String>(&mut con, &["PING", "hi"]), "hi");
    assert_eq!(ok::<Vec<u8>>(&mut con, &["ECHO", "a\r\nb"]), b"a\r\nb");
    assert_eq!(ok::<String>(&mut con, &["SELECT", "0"]), "OK");
    assert!(err_text(&mut con, &["SELECT", "1"]).contains("DB index is out of range"));
    assert_eq!(ok::<String>(&mut con, &["CLIENT", "SETNAME", "e2e"]), "OK");
    assert_eq!(ok::<String>(&mut con, &["CLIENT", "GETNAME"]), "e2e");
    assert!(ok::<i64>(&mut con, &["CLIENT", "ID"]) >= 0);
    assert_eq!(ok::<String>(&mut con, &["CLIENT", "SETINFO", "LIB-NAME", "x"]), "OK");
    assert!(ok::<i64>(&mut con, &["COMMAND", "COUNT"]) > 40);
    let _: Value = ok(&mut con, &["COMMAND", "DOCS"]);
    let info: String = ok(&mut con, &["INFO"]);
    for field in ["redis_version:", "connected_clients:", "used_memory:", "maxmemory_policy:", "# Keyspace"] {
        assert!(info.contains(field), "INFO lacks {field}: {info}");
    }
    let config: Vec<String> = ok(&mut con, &["CONFIG", "GET", "save"]);
    assert_eq!(config, ["save", ""]);
    let config: Vec<String> = ok(&mut con, &["CONFIG", "GET", "appendonly"]);
    assert_eq!(config, ["appendonly", "no"]);
    let config: Vec<String> = ok(&mut con, &["CONFIG", "GET", "maxmemory*"]);
    assert_eq!(config.len(), 4);

    let mut s = server.raw();
    exchange(
        &mut s,
        b"FOO bar baz\r\n",
        b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n",
    );
    exchange(&mut s, b"*1\r\n$3\r\nGET\r\n", b"-ERR wrong number of arguments for 'get' command\r\n");
    exchange(&mut s, b"SET k v NX XX\r\n", b"-ERR syntax error\r\n");
    exchange(&mut s, b"SELECT 9\r\n", b"-ERR DB index is out of range\r\n");
    exchange(&mut s, b"HELLO 4\r\n", b"-NOPROTO unsupported protocol version\r\n");
    exchange(&mut s, b"HELLO 2\r\n", b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n");
    let rest = b"$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:";
    assert_eq!(read_n(&mut s, rest.len()), rest);
    let mut q = server.raw();
    exchange(&mut q, b"QUIT\r\n", b"+OK\r\n");
    assert!(wire::read_until_closed(&mut q, Duration::from_secs(10)).is_empty(), "QUIT closes");
}

/// Every string command, with Redis's replies; values are the same bytes over v1.
pub fn resp_strings(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    assert_eq!(ok::<Option<String>>(&mut con, &["GET", "s"]), None);
    assert_eq!(ok::<String>(&mut con, &["SET", "s", "v1"]), "OK");
    assert_eq!(ok::<Option<String>>(&mut con, &["SET", "s", "v2", "NX"]), None);
    assert_eq!(ok::<Option<String>>(&mut con, &["SET", "n", "v", "XX"]), None);
    assert_eq!(ok::<Option<String>>(&mut con, &["SET", "s", "v3", "XX", "GET"]).as_deref(), Some("v1"));
    assert_eq!(ok::<Option<String>>(&mut con, &["SET", "g", "x", "GET"]), None);
    assert_eq!(ok::<String>(&mut con, &["SET", "e", "v", "EX", "100"]), "OK");
    assert!((99..=100).contains(&ok::<i64>(&mut con, &["TTL", "e"])));
    assert_eq!(ok::<String>(&mut con, &["SET", "e", "w", "KEEPTTL"]), "OK");
    assert!(ok::<i64>(&mut con, &["PTTL", "e"]) > 90_000, "KEEPTTL keeps the deadline");
    assert_eq!(ok::<String>(&mut con, &["SET", "e", "w", "PX", "50000"]), "OK");
    assert!(ok::<i64>(&mut con, &["PTTL", "e"]) <= 50_000);
    let far = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1000)
        .to_string();
    assert_eq!(ok::<String>(&mut con, &["SET", "e", "w", "EXAT", &far]), "OK");
    assert!((990..=1000).contains(&ok::<i64>(&mut con, &["TTL", "e"])));
    assert_eq!(ok::<String>(&mut con, &["SET", "e", "w", "PXAT", "1000"]), "OK", "a past PXAT deletes");
    assert_eq!(ok::<i64>(&mut con, &["EXISTS", "e"]), 0);
    assert!(
        err_text(&mut con, &["SET", "e", "w", "EX", "0"]).contains("invalid expire time in 'set' command")
    );
    assert!(err_text(&mut con, &["SET", "e", "w", "EX", "x"]).contains("not an integer or out of range"));
    assert_eq!(ok::<i64>(&mut con, &["SETNX", "nx", "1"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["SETNX", "nx", "2"]), 0);
    assert_eq!(ok::<String>(&mut con, &["SETEX", "se", "100", "v"]), "OK");
    assert!(ok::<i64>(&mut con, &["TTL", "se"]) > 0);
    assert_eq!(ok::<String>(&mut con, &["PSETEX", "pse", "100000", "v"]), "OK");
    assert!(ok::<i64>(&mut con, &["PTTL", "pse"]) > 90_000);
    assert!(
        err_text(&mut con, &["SETEX", "se", "0", "v"]).contains("invalid expire time in 'setex' command")
    );
    assert_eq!(ok::<Option<String>>(&mut con, &["GETDEL", "nx"]).as_deref(), Some("1"));
    assert_eq!(ok::<Option<String>>(&mut con, &["GETDEL", "nx"]), None);
    assert_eq!(ok::<Option<String>>(&mut con, &["GETEX", "se", "PERSIST"]).as_deref(), Some("v"));
    assert_eq!(ok::<i64>(&mut con, &["TTL", "se"]), -1);
    assert_eq!(ok::<Option<String>>(&mut con, &["GETEX", "se", "EX", "200"]).as_deref(), Some("v"));
    assert!(ok::<i64>(&mut con, &["TTL", "se"]) > 100);
    assert_eq!(ok::<String>(&mut con, &["MSET", "m1", "a", "m2", "b"]), "OK");
    let values: Vec<Option<String>> = ok(&mut con, &["MGET", "m1", "zz", "m2"]);
    assert_eq!(values, [Some("a".into()), None, Some("b".into())]);
    assert!(err_text(&mut con, &["MSET", "m1", "a", "m2"]).contains("wrong number of arguments for 'mset'"));
    assert_eq!(ok::<i64>(&mut con, &["INCR", "c"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["INCRBY", "c", "41"]), 42);
    assert_eq!(ok::<i64>(&mut con, &["DECR", "c"]), 41);
    assert_eq!(ok::<i64>(&mut con, &["DECRBY", "c", "50"]), -9);
    assert_eq!(ok::<String>(&mut con, &["GET", "c"]), "-9", "counters are ASCII decimal");
    assert!(err_text(&mut con, &["INCR", "m1"]).contains("value is not an integer or out of range"));
    assert_eq!(ok::<i64>(&mut con, &["APPEND", "ap", "Hello"]), 5);
    assert_eq!(ok::<i64>(&mut con, &["APPEND", "ap", " World"]), 11);
    assert_eq!(ok::<i64>(&mut con, &["STRLEN", "ap"]), 11);
    assert_eq!(ok::<i64>(&mut con, &["STRLEN", "none"]), 0);

    // The same bytes on both protocols.
    let mut v1 = server.client();
    let binary: Vec<u8> = (0u8..=255).collect();
    redis::cmd("SET").arg("bin").arg(&binary[..]).query::<()>(&mut con).unwrap();
    assert_eq!(v1.get("bin").unwrap().as_deref(), Some(&binary[..]));
    v1.set_with("fromv1", b"\x01tagged", SetOptions { ttl: None, persist: true }).unwrap();
    assert_eq!(ok::<Vec<u8>>(&mut con, &["GET", "fromv1"]), b"\x01tagged");
    assert_eq!(v1.incr_by("c", 10).unwrap(), 1, "a RESP counter counts on v1 too");
}

/// Key commands: DEL UNLINK EXISTS EXPIRE PEXPIRE EXPIREAT TTL PTTL PERSIST TYPE KEYS SCAN
/// RENAME DBSIZE FLUSHALL FLUSHDB.
pub fn resp_keys(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    let _: () = ok(&mut con, &["MSET", "k1", "a", "k2", "b", "k3", "c", "other", "d"]);
    assert_eq!(ok::<i64>(&mut con, &["EXISTS", "k1", "k2", "k1", "zz"]), 3);
    assert_eq!(ok::<i64>(&mut con, &["DEL", "k1", "k1", "zz"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["UNLINK", "k2"]), 1);
    assert_eq!(ok::<String>(&mut con, &["TYPE", "k3"]), "string");
    assert_eq!(ok::<String>(&mut con, &["TYPE", "k1"]), "none");
    assert_eq!(ok::<i64>(&mut con, &["TTL", "k3"]), -1, "no TTL over RESP unless asked");
    assert_eq!(ok::<i64>(&mut con, &["TTL", "zz"]), -2);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k3", "100"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "zz", "100"]), 0);
    assert!(ok::<i64>(&mut con, &["PTTL", "k3"]) > 99_000);
    assert_eq!(ok::<i64>(&mut con, &["PERSIST", "k3"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["PERSIST", "k3"]), 0);
    assert_eq!(ok::<i64>(&mut con, &["PEXPIRE", "k3", "100000"]), 1);
    assert!(ok::<i64>(&mut con, &["TTL", "k3"]) >= 99);
    let at = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 500)
        .to_string();
    assert_eq!(ok::<i64>(&mut con, &["EXPIREAT", "k3", &at]), 1);
    assert!((490..=500).contains(&ok::<i64>(&mut con, &["TTL", "k3"])));
    assert_eq!(ok::<i64>(&mut con, &["EXPIREAT", "k3", "1"]), 1, "a past time deletes");
    assert_eq!(ok::<i64>(&mut con, &["EXISTS", "k3"]), 0);
    assert!(err_text(&mut con, &["EXPIRE", "other", "x"]).contains("not an integer"));
    for i in 0..30 {
        let _: () = ok(&mut con, &["SET", &format!("scan:{i}"), "v"]);
    }
    let mut keys: Vec<String> = ok(&mut con, &["KEYS", "scan:*"]);
    keys.sort();
    assert_eq!(keys.len(), 30);
    assert_eq!(ok::<Vec<String>>(&mut con, &["KEYS", "scan:1?"]).len(), 10);
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_owned();
    loop {
        let (next, batch): (String, Vec<String>) =
            ok(&mut con, &["SCAN", &cursor, "MATCH", "scan:*", "COUNT", "7"]);
        seen.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 30);
    let iter: Vec<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg("scan:2*")
        .clone()
        .iter(&mut con)
        .unwrap()
        .collect();
    assert_eq!(iter.len(), 11);
    assert_eq!(ok::<String>(&mut con, &["RENAME", "other", "renamed"]), "OK");
    assert_eq!(ok::<String>(&mut con, &["GET", "renamed"]), "d");
    assert!(err_text(&mut con, &["RENAME", "other", "x"]).contains("no such key"));
    assert_eq!(ok::<i64>(&mut con, &["DBSIZE"]), 31);
    assert_eq!(ok::<String>(&mut con, &["FLUSHDB"]), "OK");
    assert_eq!(ok::<i64>(&mut con, &["DBSIZE"]), 0);
    let _: () = ok(&mut con, &["SET", "x", "1"]);
    assert_eq!(ok::<String>(&mut con, &["FLUSHALL", "ASYNC"]), "OK");
    assert_eq!(ok::<i64>(&mut con, &["DBSIZE"]), 0);
}

/// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT with NX, XX, GT and LT (Redis 7): each option, a
/// negative TTL that deletes only when the options allow, and Redis's errors, exact on the wire.
pub fn resp_expire_options(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    let pttl = |con: &mut Connection| ok::<i64>(con, &["PTTL", "k"]);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "100", "NX"]), 0, "no such key");
    let _: () = ok(&mut con, &["SET", "k", "v"]);
    // No TTL yet: XX and GT refuse, NX sets.
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "100", "gt"]), 0, "no TTL counts as infinite");
    assert_eq!(pttl(&mut con), -1);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "100", "nx"]), 1);
    assert!((99_000..=100_000).contains(&pttl(&mut con)));
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "200", "NX"]), 0, "has a TTL now");
    // XX, GT and LT against the TTL.
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "200", "Xx"]), 1);
    assert!(pttl(&mut con) > 199_000);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "150", "GT"]), 0);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "300", "GT"]), 1);
    assert!(pttl(&mut con) > 299_000);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "400", "LT"]), 0);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "250", "LT", "XX"]), 1);
    assert!((249_000..=250_000).contains(&pttl(&mut con)));
    // PEXPIRE and EXPIREAT with an option.
    assert_eq!(ok::<i64>(&mut con, &["PEXPIRE", "k", "500000", "gt"]), 1);
    assert!(pttl(&mut con) > 499_000);
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let at = |s: u64| (now_s + s).to_string();
    assert_eq!(ok::<i64>(&mut con, &["EXPIREAT", "k", &at(1_000), "LT"]), 0, "later than the TTL");
    assert_eq!(ok::<i64>(&mut con, &["EXPIREAT", "k", &at(400), "LT"]), 1);
    assert!((390..=400).contains(&ok::<i64>(&mut con, &["TTL", "k"])));
    assert_eq!(ok::<i64>(&mut con, &["PEXPIREAT", "k", &((now_s + 800) * 1000).to_string(), "XX"]), 1);
    assert!(ok::<i64>(&mut con, &["TTL", "k"]) > 790);
    // A negative TTL deletes only when the options allow it.
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "-1", "GT"]), 0);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "-1", "NX"]), 0);
    assert_eq!(ok::<i64>(&mut con, &["EXISTS", "k"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["EXPIRE", "k", "-1", "LT"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["EXISTS", "k"]), 0);
    let _: () = ok(&mut con, &["SET", "k", "v"]);
    assert_eq!(ok::<i64>(&mut con, &["EXPIREAT", "k", "1", "XX"]), 0, "a past time, but no TTL");
    assert_eq!(ok::<i64>(&mut con, &["EXPIREAT", "k", "1", "NX"]), 1);
    assert_eq!(ok::<i64>(&mut con, &["EXISTS", "k"]), 0);
    // Redis's errors (checked before the number), exact on the wire.
    let nx_and = "NX and XX, GT or LT options at the same time are not compatible";
    let gt_lt = "GT and LT options at the same time are not compatible";
    assert!(err_text(&mut con, &["EXPIRE", "k", "10", "NX", "XX"]).contains(nx_and));
    assert!(err_text(&mut con, &["PEXPIREAT", "k", "10", "gt", "lt"]).contains(gt_lt));
    let mut s = server.raw();
    exchange(&mut s, b"EXPIRE k 10 NX GT\r\n", format!("-ERR {nx_and}\r\n").as_bytes());
    exchange(&mut s, b"PEXPIRE k x LT GT\r\n", format!("-ERR {gt_lt}\r\n").as_bytes());
    exchange(&mut s, b"EXPIRE k 10 nx Bogus\r\n", b"-ERR Unsupported option Bogus\r\n");
    exchange(&mut s, b"EXPIRE k x NX\r\n", b"-ERR value is not an integer or out of range\r\n");
}

/// INFO's `connected_clients` counts every open client connection, v1 and RESP.
pub fn resp_info_counts_every_client(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    let clients = |con: &mut Connection| -> u64 {
        let info: String = ok(con, &["INFO", "clients"]);
        info.lines()
            .find_map(|line| line.strip_prefix("connected_clients:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no connected_clients in {info}"))
    };
    let mut v1 = server.client();
    v1.echo(b"open").unwrap();
    let both = clients(&mut con);
    assert!(both >= 2, "one v1 and one RESP client open, INFO says {both}");
    drop(v1);
    assert!(eventually(PATIENCE, || clients(&mut con) == both - 1), "a closed v1 client is uncounted");
}

/// Keys expire on time; a key set over RESP without a TTL never expires, even with a short
/// server default TTL (which still applies to v1 SETs).
pub fn resp_expiry(bin: &Path) {
    let server = Server::start_with(bin, &["--store-default-ttl", "1"]);
    let mut con = connect(&server);
    let _: () = ok(&mut con, &["SET", "short", "v", "PX", "300"]);
    let _: () = ok(&mut con, &["SET", "forever", "v"]);
    let _: () = ok(&mut con, &["MSET", "m", "v"]);
    let _: i64 = ok(&mut con, &["INCR", "n"]);
    let mut v1 = server.client();
    v1.set("v1key", b"x").unwrap();
    assert!(eventually(PATIENCE, || ok::<i64>(&mut con, &["EXISTS", "short", "v1key"]) == 0));
    assert_eq!(ok::<i64>(&mut con, &["EXISTS", "forever", "m", "n"]), 3);
    assert_eq!(ok::<i64>(&mut con, &["TTL", "forever"]), -1);
}

/// A pipeline touching the Store and Pub/Sub gets its replies in request order.
pub fn resp_pipeline_across_brokers(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("SET")
            .arg(format!("p{i}"))
            .arg(i)
            .cmd("PUBLISH")
            .arg("chan")
            .arg(i)
            .cmd("INCR")
            .arg("count");
        pipe.cmd("PING").cmd("GET").arg(format!("p{i}"));
    }
    let replies: Vec<Value> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.len(), 2500);
    for i in 0..500 {
        let r = &replies[i * 5..i * 5 + 5];
        assert_eq!(r[0], Value::Okay, "SET {i}");
        assert_eq!(r[1], Value::Int(0), "PUBLISH {i}");
        assert_eq!(r[2], Value::Int(i as i64 + 1), "INCR {i}");
        assert!(matches!(&r[3], Value::SimpleString(s) if s == "PONG"), "PING {i}: {:?}", r[3]);
        assert_eq!(r[4], Value::BulkString(i.to_string().into_bytes()), "GET {i}");
    }
    // The same over a raw socket, all written at once.
    let mut s = server.raw();
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..300 {
        input.extend_from_slice(format!("INCR raw\r\nPUBLISH x y\r\nECHO e{i}\r\n").as_bytes());
        expected.extend_from_slice(
            format!(":{}\r\n:0\r\n${}\r\ne{i}\r\n", i + 1, format!("e{i}").len()).as_bytes(),
        );
    }
    exchange(&mut s, &input, &expected);
}

/// SUBSCRIBE (exact), PSUBSCRIBE (globs: `*`, `?`, `[...]`, `\`), UNSUBSCRIBE/PUNSUBSCRIBE
/// with and without arguments, PUBLISH counts, and the subscribe-mode rules.
pub fn resp_pubsub(bin: &Path) {
    let server = Server::start(bin);
    let mut publisher = connect(&server);
    let mut sub_con = connect(&server);
    let mut sub = sub_con.as_pubsub();
    sub.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    sub.subscribe("news").unwrap();
    sub.subscribe("a+b#").unwrap();
    sub.psubscribe("n?ws").unwrap();
    sub.psubscribe("h[ae]llo").unwrap();
    sub.psubscribe("lit\\*").unwrap();
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "news", "one"]), 2, "exact + n?ws");
    let m = sub.get_message().unwrap();
    assert_eq!(
        (m.get_channel_name(), m.get_payload::<String>().unwrap(), m.from_pattern()),
        ("news", "one".into(), false)
    );
    let m = sub.get_message().unwrap();
    assert_eq!(m.get_pattern::<String>().unwrap(), "n?ws");
    assert_eq!(m.get_channel_name(), "news");
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "a+b#", "w"]), 1, "any channel name");
    assert_eq!(sub.get_message().unwrap().get_channel_name(), "a+b#");
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "hello", "x"]), 1);
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "hillo", "x"]), 0);
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "lit*", "x"]), 1);
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "litx", "x"]), 0);
    assert_eq!(sub.get_message().unwrap().get_pattern::<String>().unwrap(), "h[ae]llo");
    assert_eq!(sub.get_message().unwrap().get_pattern::<String>().unwrap(), "lit\\*");
    sub.unsubscribe("news").unwrap();
    sub.punsubscribe("n?ws").unwrap();
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "news", "gone"]), 0);
    // Dropping the crate's PubSub sends UNSUBSCRIBE and PUNSUBSCRIBE without arguments and
    // reads their confirmations until the count is 0.
    drop(sub);
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "hello", "x"]), 0);
    assert_eq!(ok::<String>(&mut sub_con, &["PING"]), "PONG", "back out of subscribe mode");

    let mut s = server.raw();
    exchange(
        &mut s,
        b"SUBSCRIBE c1 c2\r\n",
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\nc1\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nc2\r\n:2\r\n",
    );
    exchange(
        &mut s,
        b"GET k\r\n",
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    exchange(&mut s, b"PING\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "c2", "m"]), 1);
    let message = b"*3\r\n$7\r\nmessage\r\n$2\r\nc2\r\n$1\r\nm\r\n";
    assert_eq!(read_n(&mut s, message.len()), message);
    exchange(
        &mut s,
        b"UNSUBSCRIBE\r\n",
        b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nc1\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$2\r\nc2\r\n:0\r\n",
    );
    exchange(&mut s, b"PUNSUBSCRIBE\r\n", b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n");
    exchange(&mut s, b"SUBSCRIBE c3\r\nRESET\r\n", b"*3\r\n$9\r\nsubscribe\r\n$2\r\nc3\r\n:1\r\n+RESET\r\n");
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "c3", "m"]), 0, "RESET unsubscribed");
}

/// After HELLO 3, confirmations and messages are RESP3 pushes, and nulls are `_`.
pub fn resp3_pushes(bin: &Path) {
    let server = Server::start(bin);
    let mut s = server.raw();
    s.write_all(b"HELLO 3\r\n").unwrap();
    let head = b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n";
    assert_eq!(read_n(&mut s, head.len()), head);
    // Skip the rest of the map: read until the `modules` entry's empty array.
    let mut tail = Vec::new();
    while !tail.ends_with(b"$7\r\nmodules\r\n*0\r\n") {
        tail.extend(read_n(&mut s, 1));
    }
    assert!(String::from_utf8_lossy(&tail).contains("$5\r\nproto\r\n:3\r\n"));
    exchange(&mut s, b"GET missing\r\n", b"_\r\n");
    exchange(&mut s, b"PSUBSCRIBE r*\r\n", b">3\r\n$10\r\npsubscribe\r\n$2\r\nr*\r\n:1\r\n");
    exchange(&mut s, b"GET missing\r\n", b"_\r\n");
    let mut publisher = connect(&server);
    assert_eq!(ok::<i64>(&mut publisher, &["PUBLISH", "r1", "hi"]), 1);
    let expected = b">4\r\n$8\r\npmessage\r\n$2\r\nr*\r\n$2\r\nr1\r\n$2\r\nhi\r\n";
    assert_eq!(read_n(&mut s, expected.len()), expected);
}

/// Messages cross protocols both ways: v1 PUBLISH reaches RESP SUBSCRIBE and PSUBSCRIBE; RESP
/// PUBLISH reaches v1 wildcard subscribers; a RESP channel with `+`/`#` reaches only exact and
/// glob subscribers.
pub fn resp_pubsub_cross_protocol(bin: &Path) {
    let server = Server::start(bin);
    let mut resp_con = connect(&server);
    let mut resp_sub = resp_con.as_pubsub();
    resp_sub.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    resp_sub.subscribe("a/b").unwrap();
    resp_sub.psubscribe("a/*").unwrap();
    let mut v1_sub = server.client();
    v1_sub.subscribe("a/+").unwrap();
    v1_sub.subscribe("#").unwrap();

    let mut v1_pub = server.client();
    v1_pub.publish("a/b", b"from-v1", PublishOptions::default()).unwrap();
    let m = resp_sub.get_message().unwrap();
    assert_eq!((m.get_channel_name(), m.get_payload::<Vec<u8>>().unwrap()), ("a/b", b"from-v1".to_vec()));
    let m = resp_sub.get_message().unwrap();
    assert_eq!((m.get_pattern::<String>().unwrap(), m.get_channel_name()), ("a/*".into(), "a/b"));
    assert_eq!(summary(&pushes_until(&mut v1_sub, b"from-v1")), [("a/b".into(), "from-v1".into())]);

    let mut resp_pub = connect(&server);
    assert_eq!(ok::<i64>(&mut resp_pub, &["PUBLISH", "a/b", "from-resp"]), 3, "v1 once, exact, glob");
    assert_eq!(summary(&pushes_until(&mut v1_sub, b"from-resp")), [("a/b".into(), "from-resp".into())]);
    assert_eq!(resp_sub.get_message().unwrap().get_payload::<String>().unwrap(), "from-resp");
    assert_eq!(resp_sub.get_message().unwrap().get_payload::<String>().unwrap(), "from-resp");

    // `+` and `#` in a RESP channel name: literal for Redis, never a v1 wildcard match.
    assert_eq!(ok::<i64>(&mut resp_pub, &["PUBLISH", "a/+", "wild"]), 1, "only the glob a/*");
    assert_eq!(resp_sub.get_message().unwrap().get_channel_name(), "a/+");
    v1_pub.publish("z", b"sentinel", PublishOptions::default()).unwrap();
    assert_eq!(summary(&pushes_until(&mut v1_sub, b"sentinel")), [("z".into(), "sentinel".into())]);
}

/// OOM, protocol errors (answered, then closed), HTTP clients (closed silently), and the
/// connection limit's RESP refusal.
pub fn resp_errors_and_limits(bin: &Path) {
    let server = Server::start_with(
        bin,
        &["--store-max-memory", "2000", "--store-eviction", "noeviction", "--max-connections", "2"],
    );
    let mut con = connect(&server);
    let big = "x".repeat(3000);
    let e = err_text(&mut con, &["SET", "big", &big]);
    assert!(e.contains("OOM") && e.contains("command not allowed when used memory > 'maxmemory'."), "{e}");
    let mut s = server.raw();
    exchange(
        &mut s,
        format!("SET big {big}\r\n").as_bytes(),
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
    );
    drop(s);
    let protocol_errors: [(&[u8], &[u8]); 3] = [
        (b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
        (b"*2\r\n:1\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
        (b"*x\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    ];
    for (input, expected) in protocol_errors {
        let mut s = connect_retrying(&server);
        s.write_all(input).unwrap();
        let got = wire::read_until_closed(&mut s, Duration::from_secs(10));
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected));
    }
    for input in [&b"POST / HTTP/1.1\r\nHost: x\r\n\r\n"[..], b"Host: example.com\r\n"] {
        let mut s = connect_retrying(&server);
        s.write_all(input).unwrap();
        assert!(
            wire::read_until_closed(&mut s, Duration::from_secs(10)).is_empty(),
            "closed without a reply"
        );
    }
    // Two slots: `con` holds one; a second is free; a third RESP client is refused.
    let mut second = connect_retrying(&server);
    exchange(&mut second, b"PING\r\n", b"+PONG\r\n");
    let mut third = server.raw();
    third.write_all(b"PING\r\n").unwrap();
    let got = wire::read_until_closed(&mut third, Duration::from_secs(10));
    assert_eq!(String::from_utf8_lossy(&got), "-ERR max number of clients reached\r\n");
}

/// A raw socket, retried while a just-closed connection's slot is being freed.
fn connect_retrying(server: &Server) -> TcpStream {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut s = server.raw();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"PING\r\n").unwrap();
        let mut buf = [0u8; 7];
        if s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n" {
            return s;
        }
        assert!(Instant::now() < deadline, "no free connection slot");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `redis-cli` and `redis-benchmark` work against the server. Without the tools the case is
/// skipped loudly, unless `CI` is set, where it fails.
pub fn resp_redis_tools(bin: &Path) {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !have("redis-cli") || !have("redis-benchmark") {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but redis-cli/redis-benchmark are missing (apt-get install redis-tools)"
        );
        eprintln!(
            "SKIPPED resp_redis_tools: redis-cli or redis-benchmark not installed (apt-get install redis-tools)"
        );
        return;
    }
    let server = Server::start(bin);
    let port = server.addr().port().to_string();
    let cli = |args: &[&str]| {
        let out =
            Command::new("redis-cli").args(["-h", "127.0.0.1", "-p", &port]).args(args).output().unwrap();
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(cli(&["PING"]), "PONG");
    assert_eq!(cli(&["SET", "tool", "v"]), "OK");
    assert_eq!(cli(&["GET", "tool"]), "v");
    assert_eq!(cli(&["INCRBY", "n", "5"]), "5");
    assert_eq!(cli(&["DBSIZE"]), "2");
    assert!(cli(&["INFO", "server"]).contains("redis_version"));
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port, "-t", "set,get,incr,mset,ping", "-q", "-n", "2000"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "redis-benchmark failed: {stdout}\n{stderr}");
    let text = stdout.replace('\r', "\n");
    for test in ["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(test) && l.contains("requests per second")),
            "{test} missing: {text}"
        );
    }
    assert!(!text.to_lowercase().contains("error"), "errors in: {text}\n{stderr}");
}

/// The Store and Pub/Sub extension opcodes added for RESP work for v1 clients too.
pub fn store_redis_extensions_over_v1(bin: &Path) {
    use bytes::Bytes;
    use nexo_proto::Reply;
    use nexo_proto::request::{ExpireFlags, ExpireTime, Expiry, PubSubRequest, Request, StoreRequest as S};
    let server = Server::start(bin);
    let mut c = server.client();
    let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
    let mut req = |r: S| c.request(&Request::Store(r)).unwrap();
    let set = S::SetExt {
        key: b("k"),
        nx: true,
        xx: false,
        get: false,
        expiry: Expiry::InMs(100_000),
        value: b("v"),
    };
    assert_eq!(req(set.clone()), Reply::Ok);
    assert_eq!(req(set), Reply::Null, "NX: not written");
    assert_eq!(req(S::Exists { keys: vec![b("k"), b("k"), b("z")] }), Reply::Int(2));
    assert_eq!(req(S::Append { key: b("k"), value: b("w") }), Reply::Int(2));
    assert_eq!(req(S::Strlen { key: b("k") }), Reply::Int(2));
    assert_eq!(req(S::GetEx { key: b("k"), expiry: Expiry::Persist }), Reply::Data(b("vw")));
    assert_eq!(req(S::Rename { key: b("k"), new_key: b("k2") }), Reply::Ok);
    assert_eq!(req(S::Rename { key: b("k"), new_key: b("k2") }), Reply::Err("ERR no such key".into()));
    assert_eq!(req(S::Keys { pattern: "k*".into() }), Reply::Keys { cursor: 0, keys: vec![b("k2")] });
    assert_eq!(req(S::DbSize), Reply::Int(1));
    assert!(matches!(req(S::Info), Reply::Data(text) if text.starts_with(b"keys:1\r\n")));
    let gt = ExpireFlags { gt: true, ..ExpireFlags::default() };
    let expire_gt = |ms| S::ExpireExt { key: b("k2"), flags: gt, time: ExpireTime::InMs(ms) };
    assert_eq!(req(expire_gt(50_000)), Reply::Flag(false), "GT: no TTL is infinite");
    assert_eq!(req(S::Expire { key: b("k2"), ttl_ms: 50_000 }), Reply::Flag(true));
    assert_eq!(req(expire_gt(60_000)), Reply::Flag(true));
    assert_eq!(req(expire_gt(10_000)), Reply::Flag(false));
    assert!(matches!(req(S::Ttl { key: b("k2") }), Reply::Int(ms) if ms > 50_000));
    assert_eq!(req(S::ExpireAt { key: b("k2"), at_ms: 1 }), Reply::Flag(true));
    assert_eq!(req(S::GetDel { key: b("k2") }), Reply::Null);
    assert_eq!(req(S::Flush), Reply::Ok);
    assert_eq!(req(S::DelCount { keys: vec![b("k2")] }), Reply::Int(0));
    let publish = Request::PubSub(PubSubRequest::PublishCount { topic: "a/#".into(), payload: b("p") });
    assert_eq!(c.request(&publish).unwrap(), Reply::Int(0));
}
