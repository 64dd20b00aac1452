//! Store cases: every command and option over the client, plus exact reply bytes over raw frames.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use nexo_client::ClientError;
use nexo_proto::options::SetOptions;

use crate::cases::eventually;
use crate::server::Server;
use crate::wire::{self, Payload};

/// A value the way SDKs send it: a one-byte type tag, then the bytes.
fn tagged(tag: u8, body: impl AsRef<[u8]>) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(body.as_ref());
    v
}

fn persist() -> SetOptions {
    SetOptions { ttl: None, persist: true }
}

fn ttl_secs(secs: u64) -> SetOptions {
    SetOptions { ttl: Some(secs), persist: false }
}

/// ECHO returns the bytes it was sent (empty, small, large, binary) with DATA and the same id.
pub fn echo_returns_bytes(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    assert_eq!(&c.echo(b"ping").unwrap()[..], b"ping");
    assert_eq!(&c.echo(b"").unwrap()[..], b"");
    let big: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(&c.echo(&big).unwrap()[..], &big[..]);

    let mut raw = server.raw();
    wire::send(&mut raw, &wire::request(0x00, 0xDEAD_BEEF, b"\x00\xFFraw"));
    let mut expected = vec![0x02, 0x03, 0xDE, 0xAD, 0xBE, 0xEF, 0, 0, 0, 5];
    expected.extend_from_slice(b"\x00\xFFraw");
    let f = wire::read_frame(&mut raw);
    assert_eq!(wire::frame(f.frame_type, f.status, f.id, &f.payload), expected, "ECHO reply bytes");
}

/// SET/GET/DEL: tagged and binary values come back byte for byte, overwrite, GET miss is NULL,
/// DEL of a missing key is OK; the exact response bytes are checked over a raw socket.
pub fn store_set_get_del(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();

    let text = tagged(0x01, "héllo wörld");
    c.set("greeting", &text).unwrap();
    assert_eq!(c.get("greeting").unwrap().as_deref(), Some(&text[..]));

    let mut binary = tagged(0x00, []);
    binary.extend(0..=255u8);
    binary.extend((0..=255u8).rev());
    c.set("binary", &binary).unwrap();
    assert_eq!(c.get("binary").unwrap().as_deref(), Some(&binary[..]), "binary value verbatim");

    let json = tagged(0x02, r#"{"a":[1,2,3]}"#);
    c.set("json", &json).unwrap();
    assert_eq!(c.get("json").unwrap().as_deref(), Some(&json[..]));

    // Untagged bytes (as RESP writes them) are stored verbatim too.
    c.set("untagged", b"plain").unwrap();
    assert_eq!(c.get("untagged").unwrap().as_deref(), Some(&b"plain"[..]));

    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    c.set("big", &big).unwrap();
    assert_eq!(c.get("big").unwrap().as_deref(), Some(&big[..]), "1 MiB value verbatim");

    c.set("greeting", &tagged(0x01, "second")).unwrap();
    assert_eq!(c.get("greeting").unwrap().as_deref(), Some(&tagged(0x01, "second")[..]), "overwrite");

    c.del("greeting").unwrap();
    assert_eq!(c.get("greeting").unwrap(), None, "deleted key reads as missing");
    c.del("greeting").unwrap();
    c.del("never-existed").unwrap();
    assert_eq!(c.get("never-existed").unwrap(), None);
    assert_eq!(c.get("binary").unwrap().as_deref(), Some(&binary[..]), "other keys untouched");

    // Exact bytes on the wire.
    let mut raw = server.raw();
    let value = tagged(0x00, [0xC0, 0xFF, 0xEE]);
    let set = Payload::new().str("raw-key").json("{}").raw(&value).build();
    wire::send(&mut raw, &wire::request(0x02, 11, &set));
    let f = wire::read_response(&mut raw, 11);
    assert_eq!((f.status, f.payload.len()), (wire::OK, 0), "SET answers OK with an empty payload");

    wire::send(&mut raw, &wire::request(0x03, 12, &Payload::new().str("raw-key").build()));
    let f = wire::read_response(&mut raw, 12);
    assert_eq!((f.status, &f.payload[..]), (wire::DATA, &value[..]), "GET answers DATA with the bytes");

    wire::send(&mut raw, &wire::request(0x04, 13, &Payload::new().str("raw-key").build()));
    let f = wire::read_response(&mut raw, 13);
    assert_eq!((f.status, f.payload.len()), (wire::OK, 0), "DEL answers OK");

    wire::send(&mut raw, &wire::request(0x03, 14, &Payload::new().str("raw-key").build()));
    let f = wire::read_response(&mut raw, 14);
    assert_eq!((f.status, f.payload.len()), (wire::NULL, 0), "GET miss answers NULL (0x02), empty");

    wire::send(&mut raw, &wire::request(0x04, 15, &Payload::new().str("raw-missing").build()));
    let f = wire::read_response(&mut raw, 15);
    assert_eq!((f.status, f.payload.len()), (wire::OK, 0), "DEL of a missing key answers OK");
}

/// SETNX sets only when the key is absent (or expired) and reports which happened.
pub fn store_set_nx(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    assert!(c.set_nx("nx", b"\x01first", SetOptions::default()).unwrap(), "absent key is set");
    assert!(!c.set_nx("nx", b"\x01second", SetOptions::default()).unwrap(), "present key is kept");
    assert_eq!(c.get("nx").unwrap().as_deref(), Some(&b"\x01first"[..]));

    c.del("nx").unwrap();
    assert!(c.set_nx("nx", b"\x01third", persist()).unwrap(), "set again after DEL");
    assert_eq!(c.ttl("nx").unwrap(), -1, "persist option honoured by SETNX");

    assert!(c.set_nx("nx-ttl", b"v", ttl_secs(100)).unwrap());
    let ttl = c.ttl("nx-ttl").unwrap();
    assert!((90_000..=100_000).contains(&ttl), "SETNX ttl option honoured: {ttl} ms");

    assert!(c.expire("nx-ttl", 0).unwrap(), "EXPIRE 0 on an existing key");
    assert!(c.set_nx("nx-ttl", b"fresh", persist()).unwrap(), "an expired key counts as absent");
    assert_eq!(c.get("nx-ttl").unwrap().as_deref(), Some(&b"fresh"[..]));
}

/// INCRBY creates, adds, subtracts, stores ASCII decimal, and rejects non-integers.
pub fn store_incr_by(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    assert_eq!(c.incr_by("n", 5).unwrap(), 5, "a missing counter starts at 0");
    assert_eq!(c.incr_by("n", 10).unwrap(), 15);
    assert_eq!(c.incr_by("n", -20).unwrap(), -5, "negative delta");
    assert_eq!(c.incr_by("n", 0).unwrap(), -5);
    assert_eq!(c.get("n").unwrap().as_deref(), Some(&b"-5"[..]), "counters are stored as ASCII decimal");

    c.set("ascii", b"41").unwrap();
    assert_eq!(c.incr_by("ascii", 1).unwrap(), 42, "an ASCII decimal value is a counter");

    const NOT_INT: &str = "ERR value is not an integer or out of range";
    for (key, value) in
        [("word", &b"abc"[..]), ("tagged", &b"\x0112"[..]), ("float", &b"1.5"[..]), ("empty", &b""[..])]
    {
        c.set(key, value).unwrap();
        match c.incr_by(key, 1) {
            Err(ClientError::Server(text)) => assert_eq!(text, NOT_INT, "INCRBY on {value:?}"),
            other => panic!("INCRBY on {value:?} should fail with {NOT_INT:?}, got {other:?}"),
        }
        assert_eq!(c.get(key).unwrap().as_deref(), Some(value), "a failed INCRBY leaves the value");
    }

    c.set("max", i64::MAX.to_string().as_bytes()).unwrap();
    match c.incr_by("max", 1) {
        Err(ClientError::Server(_)) => {}
        other => panic!("INCRBY past i64::MAX must be an error, not a wrap: {other:?}"),
    }
    assert_eq!(c.get("max").unwrap().as_deref(), Some(i64::MAX.to_string().as_bytes()));
    assert_eq!(c.incr_by("n", 1).unwrap(), -4, "the connection still works after errors");
}

/// EXPIRE, TTL and PERSIST on existing and missing keys, and an EXPIRE that runs out.
pub fn store_expire_ttl_persist(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    c.set_with("k", b"v", persist()).unwrap();
    assert_eq!(c.ttl("k").unwrap(), -1, "persisted key has no TTL");
    assert_eq!(c.ttl("missing").unwrap(), -2, "missing key");

    assert!(c.expire("k", 60_000).unwrap());
    let ttl = c.ttl("k").unwrap();
    assert!((50_000..=60_000).contains(&ttl), "TTL after EXPIRE 60000 ms: {ttl}");

    assert!(c.persist("k").unwrap(), "PERSIST removes a TTL");
    assert_eq!(c.ttl("k").unwrap(), -1);
    assert!(!c.persist("k").unwrap(), "PERSIST on a key without TTL");
    assert!(!c.persist("missing").unwrap(), "PERSIST on a missing key");
    assert!(!c.expire("missing", 1000).unwrap(), "EXPIRE on a missing key");
    assert_eq!(c.get("missing").unwrap(), None, "EXPIRE does not create keys");

    assert!(c.expire("k", 300).unwrap());
    assert!(
        eventually(Duration::from_secs(5), || c.get("k").unwrap().is_none()),
        "key with a 300 ms TTL still readable after 5 s"
    );
    assert_eq!(c.ttl("k").unwrap(), -2);

    c.set_with("gone", b"v", persist()).unwrap();
    assert!(c.expire("gone", 0).unwrap());
    assert_eq!(c.get("gone").unwrap(), None, "EXPIRE 0 expires at once");
}

/// A plain SET, and `ttl: 0`, get the default TTL (3600 s); `ttl` and `persist` are honoured;
/// SET replaces the TTL of the key it overwrites.
pub fn store_default_ttl_applies(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    let default = 3_590_000..=3_600_000;
    c.set("plain", b"v").unwrap();
    let ttl = c.ttl("plain").unwrap();
    assert!(default.contains(&ttl), "plain SET gets the 3600 s default: {ttl}");
    c.set_with("zero", b"v", ttl_secs(0)).unwrap();
    let ttl = c.ttl("zero").unwrap();
    assert!(default.contains(&ttl), "ttl 0 means the default: {ttl}");
    c.set_with("five", b"v", ttl_secs(5)).unwrap();
    let ttl = c.ttl("five").unwrap();
    assert!((4_000..=5_000).contains(&ttl), "ttl 5 s: {ttl}");
    c.set_with("both", b"v", SetOptions { ttl: Some(5), persist: true }).unwrap();
    assert_eq!(c.ttl("both").unwrap(), -1, "persist wins over ttl");
    c.set_with("five", b"v2", persist()).unwrap();
    assert_eq!(c.ttl("five").unwrap(), -1, "SET with persist replaces the old TTL");
}

/// MSET stores every pair (with options), MGET answers in request order with misses.
pub fn store_mget_mset(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    c.mset(&[("m1", b"\x01one"), ("m2", b"\x00\x01\x02"), ("m3", b"")], SetOptions::default()).unwrap();
    let got = c.mget(&["m1", "nope", "m2", "m3", "m1"]).unwrap();
    let got: Vec<Option<&[u8]>> = got.iter().map(|v| v.as_deref()).collect();
    assert_eq!(
        got,
        [Some(&b"\x01one"[..]), None, Some(&b"\x00\x01\x02"[..]), Some(&b""[..]), Some(&b"\x01one"[..])]
    );

    c.mset(&[("m1", b"new"), ("m4", b"four")], ttl_secs(100)).unwrap();
    assert_eq!(c.get("m1").unwrap().as_deref(), Some(&b"new"[..]), "MSET overwrites");
    let ttl = c.ttl("m4").unwrap();
    assert!((90_000..=100_000).contains(&ttl), "MSET ttl option: {ttl}");
    c.mset(&[("m5", b"five")], persist()).unwrap();
    assert_eq!(c.ttl("m5").unwrap(), -1, "MSET persist option");

    let keys: Vec<String> = (0..500).map(|i| format!("many:{i}")).collect();
    let values: Vec<Vec<u8>> = (0..500).map(|i| format!("value {i}").into_bytes()).collect();
    let pairs: Vec<(&str, &[u8])> =
        keys.iter().map(String::as_str).zip(values.iter().map(Vec::as_slice)).collect();
    c.mset(&pairs, SetOptions::default()).unwrap();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = c.mget(&key_refs).unwrap();
    assert_eq!(got.len(), 500);
    for (i, v) in got.iter().enumerate() {
        assert_eq!(v.as_deref(), Some(&values[i][..]), "MGET of 500 keys, index {i}");
    }
}

/// SCAN walks many keys with a pattern and a cursor, never in one unbounded step.
pub fn store_scan(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    let mut expected = BTreeSet::new();
    for chunk in 0..10 {
        let keys: Vec<String> = (0..100).map(|i| format!("scan:{:04}", chunk * 100 + i)).collect();
        let pairs: Vec<(&str, &[u8])> = keys.iter().map(|k| (k.as_str(), &b"x"[..])).collect();
        c.mset(&pairs, SetOptions::default()).unwrap();
        expected.extend(keys);
    }
    for i in 0..100 {
        c.set(&format!("other:{i}"), b"y").unwrap();
    }

    let (mut cursor, mut steps, mut found) = (0u64, 0usize, BTreeSet::new());
    loop {
        let (next, keys) = c.scan(cursor, "scan:*", 50).unwrap();
        steps += 1;
        assert!(keys.len() <= 500, "SCAN count 50 returned {} keys in one step", keys.len());
        for k in keys {
            assert!(k.starts_with("scan:"), "SCAN returned {k:?} for pattern scan:*");
            found.insert(k);
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
        assert!(steps < 10_000, "SCAN does not terminate");
    }
    assert!(steps > 1, "1100 keys with count 50 should need more than one SCAN step");
    assert_eq!(found, expected, "SCAN scan:* saw every matching key");

    let tens: BTreeSet<String> = c.scan_all("scan:001?").unwrap().into_iter().collect();
    let want: BTreeSet<String> = (10..20).map(|i| format!("scan:{i:04}")).collect();
    assert_eq!(tens, want, "pattern scan:001?");
    let nines: BTreeSet<String> = c.scan_all("[o]ther:9*").unwrap().into_iter().collect();
    let mut want: BTreeSet<String> = (90..100).map(|i| format!("other:{i}")).collect();
    want.insert("other:9".into());
    assert_eq!(nines, want, "pattern [o]ther:9*");
    assert!(c.scan_all("nothing:*").unwrap().is_empty());
    let all: BTreeSet<String> = c.scan_all("*").unwrap().into_iter().collect();
    assert_eq!(all.len(), 1100, "pattern * sees every key");
}
