//! Eviction cases: the Store under a small `--store-max-memory` with each eviction policy.

use std::path::Path;

use nexo_client::ClientError;
use nexo_proto::options::SetOptions;

use crate::server::Server;

const OOM: &str = "OOM: store memory limit reached";

fn value(i: usize) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.resize(1024, b'.');
    v
}

/// `allkeys-lru` under a 200 kB limit: writing ~10× the limit succeeds, early keys are evicted,
/// keys read often survive, and the store holds no more than the limit allows.
pub fn eviction_allkeys_lru(bin: &Path) {
    let server = Server::start_with(bin, &["--store-max-memory", "200kb", "--store-eviction", "allkeys-lru"]);
    let mut c = server.client();
    let hot: Vec<String> = (0..10).map(|i| format!("hot:{i}")).collect();
    for (i, k) in hot.iter().enumerate() {
        c.set(k, &value(i)).unwrap();
    }
    const COLD: usize = 2_000;
    for i in 0..COLD {
        c.set(&format!("cold:{i}"), &value(i))
            .unwrap_or_else(|e| panic!("SET cold:{i} under allkeys-lru: {e:?}"));
        if i % 10 == 0 {
            for k in &hot {
                let _ = c.get(k).unwrap();
            }
        }
    }

    let hot_alive = hot.iter().filter(|k| c.get(k).unwrap().is_some()).count();
    let early_gone = (0..200).filter(|i| c.get(&format!("cold:{i}")).unwrap().is_none()).count();
    let last = c.get(&format!("cold:{}", COLD - 1)).unwrap();
    let present = c.scan_all("*").unwrap().len();
    assert!(early_gone >= 190, "only {early_gone} of the 200 earliest keys were evicted");
    assert!(hot_alive >= 8, "only {hot_alive} of 10 frequently read keys survived");
    assert_eq!(last.as_deref(), Some(&value(COLD - 1)[..]), "the newest key survives");
    // 200 kB holds at most ~200 values of 1 KiB (fewer with per-entry overhead).
    assert!((20..=210).contains(&present), "{present} keys present under a 200 kB limit");
}

/// `volatile-lru` evicts only keys with a TTL: persisted keys survive, and once no key with a
/// TTL is left, writes fail with the OOM error.
pub fn eviction_volatile_lru(bin: &Path) {
    let server = Server::start_with(bin, &["--store-max-memory", "64kb", "--store-eviction", "volatile-lru"]);
    let mut c = server.client();
    let keep = SetOptions { ttl: None, persist: true };
    for i in 0..30 {
        c.set_with(&format!("p:{i}"), &value(i), keep).unwrap();
    }
    for i in 0..200 {
        // A plain SET gets the default TTL, so these keys are volatile.
        c.set(&format!("v:{i}"), &value(i)).unwrap_or_else(|e| panic!("SET v:{i} under volatile-lru: {e:?}"));
    }
    for i in 0..30 {
        assert_eq!(
            c.get(&format!("p:{i}")).unwrap().as_deref(),
            Some(&value(i)[..]),
            "persisted p:{i} evicted"
        );
    }
    let volatile_left = (0..200).filter(|i| c.get(&format!("v:{i}")).unwrap().is_some()).count();
    assert!(volatile_left < 60, "{volatile_left} volatile keys present under 64 kB");

    let mut failed_at = None;
    for i in 0..100 {
        match c.set_with(&format!("q:{i}"), &value(i), keep) {
            Ok(()) => {}
            Err(ClientError::Server(text)) => {
                assert_eq!(text, OOM, "error once nothing is evictable");
                failed_at = Some(i);
                break;
            }
            Err(e) => panic!("SET q:{i}: {e:?}"),
        }
    }
    assert!(failed_at.is_some(), "100 persisted 1 KiB writes all succeeded under a 64 kB volatile-lru limit");
    assert_eq!(c.get("p:0").unwrap().as_deref(), Some(&value(0)[..]));
}

/// `noeviction`: writes past the limit fail with the exact OOM text, nothing is lost, reads
/// keep working, and deleting frees room again.
pub fn eviction_noeviction_oom(bin: &Path) {
    let server = Server::start_with(bin, &["--store-max-memory", "64kb", "--store-eviction", "noeviction"]);
    let mut c = server.client();
    let mut written = 0;
    loop {
        match c.set(&format!("k:{written}"), &value(written)) {
            Ok(()) => written += 1,
            Err(ClientError::Server(text)) => {
                assert_eq!(text, OOM);
                break;
            }
            Err(e) => panic!("SET k:{written}: {e:?}"),
        }
        assert!(written < 200, "200 writes of 1 KiB all succeeded under a 64 kB noeviction limit");
    }
    assert!(written >= 20, "OOM already after {written} writes of 1 KiB under 64 kB");
    for i in 0..written {
        assert_eq!(c.get(&format!("k:{i}")).unwrap().as_deref(), Some(&value(i)[..]), "k:{i} lost");
    }
    // Still full: a new key fails again, with the same text.
    match c.set("extra", &value(0)) {
        Err(ClientError::Server(text)) => assert_eq!(text, OOM),
        other => panic!("SET while full: {other:?}"),
    }
    for i in 0..5 {
        c.del(&format!("k:{i}")).unwrap();
    }
    c.set("extra", &value(0)).unwrap();
    assert_eq!(c.get("extra").unwrap().as_deref(), Some(&value(0)[..]), "room again after DEL");
}
