//! Fuzzes the Store broker (`nexo_engine::store::Store`) with arbitrary command sequences, time
//! advances, timer calls and disconnects, under an arbitrary memory limit and eviction policy.
//!
//! Checked after every input:
//! - no panic;
//! - every request gets exactly one output, a reply to its connection and id, in request order;
//! - the memory accounting equals the sum recomputed over all entries, the index and the volatile
//!   set are consistent, and used memory never exceeds the limit (`Store::audit`);
//! - `poll_timeout` asks for a sweep exactly while keys with a deadline exist;
//! - a SET answered `OK` is visible to a GET at the same instant, with the same bytes;
//! - an `OOM` reply evicted nothing; a SCAN step moves its cursor down and stays bounded.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use nexo_engine::store::{EvictionPolicy, SCAN_MAX_COUNT, Store, StoreConfig};
use nexo_engine::{Broker, ConnId, Now, Output};
use nexo_proto::Reply;
use nexo_proto::options::SetOptions;
use nexo_proto::request::StoreRequest;

/// Most operations run per input (keeps each run fast).
const MAX_OPS: usize = 512;

#[derive(Debug, Arbitrary)]
struct Input {
    seed: u64,
    /// Memory limit in units of 128 bytes; 0 means generous (1 MiB).
    limit_units: u8,
    policy: u8,
    /// Default TTL in milliseconds minus one; `None` = never.
    default_ttl: Option<u16>,
    ops: Vec<Op>,
}

/// Mostly a small shared key space (so commands collide), sometimes arbitrary bytes.
#[derive(Debug, Arbitrary)]
enum Key {
    Small(u8),
    Raw(Vec<u8>),
}

impl Key {
    fn bytes(&self) -> Bytes {
        match self {
            Self::Small(n) => Bytes::from(format!("k{}", n % 16)),
            Self::Raw(raw) => Bytes::copy_from_slice(&raw[..raw.len().min(24)]),
        }
    }
}

/// Counter-looking values as often as arbitrary bytes, so INCRBY gets exercised.
#[derive(Debug, Arbitrary)]
enum Value {
    Number(i64),
    Raw(Vec<u8>),
    Large(u16),
}

impl Value {
    fn bytes(&self) -> Bytes {
        match self {
            Self::Number(n) => Bytes::from(n.to_string()),
            Self::Raw(raw) => Bytes::copy_from_slice(&raw[..raw.len().min(64)]),
            Self::Large(n) => Bytes::from(vec![b'x'; usize::from(*n) % 4096]),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Options {
    ttl: Option<u8>,
    persist: bool,
}

impl Options {
    fn get(&self) -> SetOptions {
        SetOptions { ttl: self.ttl.map(|s| u64::from(s % 4)), persist: self.persist }
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    Set(Key, Options, Value),
    Get(Key),
    Del(Key),
    SetNx(Key, Options, Value),
    IncrBy(Key, i64),
    Expire(Key, u16),
    Ttl(Key),
    Persist(Key),
    MGet(Vec<Key>),
    MSet(Options, Vec<(Key, Value)>),
    Scan { cursor: u16, pattern: String, count: u16 },
    Advance(u16),
    Timeout,
    Disconnect(u8),
}

struct Driver {
    store: Store,
    now: Now,
    next_id: u32,
}

impl Driver {
    /// Sends one request and returns its reply, checking it is the one output it produced.
    fn send(&mut self, conn: ConnId, request: StoreRequest) -> Reply {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.store.handle_request(self.now, conn, id, request);
        // A KEYS or SCAN past the turn's matching budget is answered over the following turns.
        let mut output = self.store.poll_output();
        while output.is_none() && self.store.poll_timeout().is_some_and(|due| due <= self.now.mono_ms) {
            self.store.handle_timeout(self.now);
            output = self.store.poll_output();
        }
        let reply = match output {
            Some(Output::Reply { conn: to, id: answered, reply }) => {
                assert_eq!((to, answered), (conn, id), "reply to the wrong request");
                reply
            }
            other => panic!("expected one reply, got {other:?}"),
        };
        assert!(self.store.poll_output().is_none(), "more than one output for one request");
        reply
    }

    fn check(&self) {
        if let Err(broken) = self.store.audit() {
            panic!("store invariant broken: {broken}");
        }
        let stats = self.store.stats();
        assert!(stats.used_memory_bytes <= stats.max_memory_bytes);
        assert_eq!(self.store.poll_timeout().is_some(), stats.keys_with_ttl > 0, "sweep scheduling");
    }

    fn run(&mut self, op: &Op) {
        let conn = ConnId(u64::from(self.next_id % 3));
        let request = match op {
            Op::Set(key, options, value) => {
                let (key, value) = (key.bytes(), value.bytes());
                let request =
                    StoreRequest::Set { key: key.clone(), options: options.get(), value: value.clone() };
                if self.send(conn, request) == Reply::Ok {
                    assert_eq!(
                        self.send(conn, StoreRequest::Get { key }),
                        Reply::Data(value),
                        "SET then GET"
                    );
                }
                return;
            }
            Op::Get(key) => StoreRequest::Get { key: key.bytes() },
            Op::Del(key) => StoreRequest::Del { key: key.bytes() },
            Op::SetNx(key, options, value) => {
                StoreRequest::SetNx { key: key.bytes(), options: options.get(), value: value.bytes() }
            }
            Op::IncrBy(key, delta) => StoreRequest::IncrBy { key: key.bytes(), delta: *delta },
            Op::Expire(key, ttl_ms) => StoreRequest::Expire { key: key.bytes(), ttl_ms: u64::from(*ttl_ms) },
            Op::Ttl(key) => StoreRequest::Ttl { key: key.bytes() },
            Op::Persist(key) => StoreRequest::Persist { key: key.bytes() },
            Op::MGet(keys) => StoreRequest::MGet { keys: keys.iter().take(32).map(Key::bytes).collect() },
            Op::MSet(options, pairs) => StoreRequest::MSet {
                options: options.get(),
                pairs: pairs.iter().take(32).map(|(k, v)| (k.bytes(), v.bytes())).collect(),
            },
            Op::Scan { cursor, pattern, count } => {
                let pattern: String = pattern.chars().take(32).collect();
                let cursor = u64::from(*cursor);
                let request = StoreRequest::Scan { cursor, pattern, count: u32::from(*count) };
                match self.send(conn, request) {
                    Reply::Keys { cursor: next, keys } => {
                        assert!(next == 0 || cursor == 0 || next < cursor, "SCAN cursor must move down");
                        assert!(keys.len() <= SCAN_MAX_COUNT);
                    }
                    other => panic!("SCAN replied {other:?}"),
                }
                return;
            }
            Op::Advance(ms) => {
                self.now = self.now.plus(u64::from(*ms));
                return;
            }
            Op::Timeout => {
                self.store.handle_timeout(self.now);
                assert!(self.store.poll_output().is_none(), "a sweep sends nothing");
                return;
            }
            Op::Disconnect(conn) => {
                self.store.handle_disconnect(self.now, ConnId(u64::from(*conn)));
                assert!(self.store.poll_output().is_none(), "the Store keeps no per-connection state");
                return;
            }
        };
        let evicted_before = self.store.stats().evicted_keys;
        if self.send(conn, request) == Reply::Err("OOM: store memory limit reached".into()) {
            assert_eq!(self.store.stats().evicted_keys, evicted_before, "OOM must not evict");
        }
    }
}

fuzz_target!(|input: Input| {
    let eviction = match input.policy % 3 {
        0 => EvictionPolicy::AllKeysLru,
        1 => EvictionPolicy::VolatileLru,
        _ => EvictionPolicy::NoEviction,
    };
    let max_memory_bytes = match input.limit_units {
        0 => 1 << 20,
        units => u64::from(units) * 128,
    };
    let default_ttl_ms = input.default_ttl.map(|ms| u64::from(ms) + 1);
    let config = StoreConfig { default_ttl_ms, max_memory_bytes, eviction, ..StoreConfig::default() };
    let mut driver = Driver { store: Store::new(config, input.seed), now: Now::at(0), next_id: 0 };
    for op in input.ops.iter().take(MAX_OPS) {
        driver.run(op);
        driver.check();
    }
});
