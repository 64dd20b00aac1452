//! TTL cases: expiry timing, reads of expired keys, and the `--store-default-ttl` flag.

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use nexo_proto::options::SetOptions;

use crate::server::Server;

/// `ttl: 1` expires after one second (not before, and by ~1.2 s), and every read path treats the
/// key as missing at once: GET, TTL, MGET, SCAN.
pub fn ttl_expires_on_time(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    let sent = Instant::now();
    c.set_with("short", b"v", SetOptions { ttl: Some(1), persist: false }).unwrap();
    c.set_with("long", b"v", SetOptions { ttl: None, persist: true }).unwrap();
    assert_eq!(c.get("short").unwrap().as_deref(), Some(&b"v"[..]), "readable before its TTL");

    let gone_after = loop {
        let before = Instant::now();
        if c.get("short").unwrap().is_none() {
            break before.duration_since(sent);
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "key with ttl 1 s still readable after 5 s");
        thread::sleep(Duration::from_millis(25));
    };
    assert!(gone_after >= Duration::from_millis(950), "expired too early: after {gone_after:?}");
    // ~1.2 s is the contract; a little slack for a loaded 2-core CI machine.
    assert!(gone_after <= Duration::from_millis(1_500), "expired too late: after {gone_after:?}");

    assert_eq!(c.ttl("short").unwrap(), -2, "TTL of an expired key");
    let got = c.mget(&["short", "long"]).unwrap();
    assert_eq!(got[0], None, "MGET of an expired key");
    assert!(got[1].is_some());
    let listed = c.scan_all("*").unwrap();
    assert_eq!(listed, vec!["long".to_owned()], "SCAN lists no expired key");
}

/// With `--store-default-ttl 1`, a plain SET (and `ttl: 0`) expires after a second, `persist`
/// survives, and an explicit `ttl` still wins.
pub fn ttl_default_ttl_flag(bin: &Path) {
    let server = Server::start_with(bin, &["--store-default-ttl", "1"]);
    let mut c = server.client();
    c.set("plain", b"v").unwrap();
    c.set_with("zero", b"v", SetOptions { ttl: Some(0), persist: false }).unwrap();
    c.set_with("kept", b"v", SetOptions { ttl: None, persist: true }).unwrap();
    c.set_with("explicit", b"v", SetOptions { ttl: Some(60), persist: false }).unwrap();
    let ttl = c.ttl("plain").unwrap();
    assert!((1..=1_000).contains(&ttl), "default TTL of 1 s: {ttl}");

    thread::sleep(Duration::from_millis(1_300));
    assert_eq!(c.get("plain").unwrap(), None, "plain SET expired with the 1 s default");
    assert_eq!(c.get("zero").unwrap(), None, "ttl 0 means the 1 s default");
    assert_eq!(c.get("kept").unwrap().as_deref(), Some(&b"v"[..]), "persist survives");
    assert_eq!(c.ttl("kept").unwrap(), -1);
    assert_eq!(c.get("explicit").unwrap().as_deref(), Some(&b"v"[..]), "explicit ttl 60 s wins");
}

/// With `--store-default-ttl never`, a plain SET has no TTL; an explicit `ttl` still applies.
pub fn ttl_default_ttl_never(bin: &Path) {
    let server = Server::start_with(bin, &["--store-default-ttl", "never"]);
    let mut c = server.client();
    c.set("plain", b"v").unwrap();
    assert_eq!(c.ttl("plain").unwrap(), -1, "no default TTL");
    c.set_with("zero", b"v", SetOptions { ttl: Some(0), persist: false }).unwrap();
    assert_eq!(c.ttl("zero").unwrap(), -1, "ttl 0 means the default, here none");
    c.set_with("short", b"v", SetOptions { ttl: Some(1), persist: false }).unwrap();
    let ttl = c.ttl("short").unwrap();
    assert!((1..=1_000).contains(&ttl), "explicit ttl 1 s: {ttl}");
    thread::sleep(Duration::from_millis(1_300));
    assert_eq!(c.get("short").unwrap(), None, "explicit ttl expires");
    assert_eq!(c.get("plain").unwrap().as_deref(), Some(&b"v"[..]));
}
