//! Scenario tests of the Store: every command and option, expiry, the sweep, eviction per policy,
//! OOM, counters and SCAN. The harness checks after every input that each request got exactly one
//! reply with its id and that the accounting audit passes.

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::SetOptions;
use nexo_proto::request::{ExpireFlags, ExpireTime, StoreRequest as R};

use super::table::{Entry, entry_bytes};
use super::*;

/// Scenario harness: a Store, a virtual clock and a request-id counter.
struct H {
    store: Store,
    now: Now,
    next_id: u32,
}

impl H {
    fn new(config: StoreConfig) -> Self {
        Self { store: Store::new(config, 42), now: Now::at(1_000), next_id: 1 }
    }

    /// Default config but keys never expire unless asked, and a generous limit.
    fn plain() -> Self {
        Self::new(StoreConfig {
            default_ttl_ms: None,
            max_memory_bytes: 1 << 30,
            eviction: EvictionPolicy::AllKeysLru,
            ..StoreConfig::default()
        })
    }

    /// A limit of `entries` entries of `key_len + value_len` bytes each.
    fn limited(entries: u64, eviction: EvictionPolicy) -> Self {
        let max_memory_bytes = entries * entry_bytes(2, 8);
        Self::new(StoreConfig { default_ttl_ms: None, max_memory_bytes, eviction, ..StoreConfig::default() })
    }

    fn send(&mut self, request: R) -> Reply {
        let id = self.next_id;
        self.next_id += 1;
        self.store.handle_request(self.now, ConnId(7), id, request);
        let out = self.store.poll_output().expect("one reply");
        assert!(self.store.poll_output().is_none(), "exactly one output per request");
        self.store.audit().unwrap();
        match out {
            Output::Reply { conn, id: got, reply } => {
                assert_eq!((conn, got), (ConnId(7), id));
                reply
            }
            other => panic!("unexpected output {other:?}"),
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.plus(ms);
    }

    /// Fires the timer if it is due; returns whether it was.
    fn fire(&mut self) -> bool {
        let due = self.store.poll_timeout().is_some_and(|at| at <= self.now.mono_ms);
        if due {
            self.store.handle_timeout(self.now);
            assert!(self.store.poll_output().is_none());
            self.store.audit().unwrap();
        }
        due
    }

    fn set(&mut self, key: &str, value: &str) -> Reply {
        self.set_with(key, value, SetOptions::default())
    }

    fn set_with(&mut self, key: &str, value: &str, options: SetOptions) -> Reply {
        self.send(R::Set { key: b(key), options, value: b(value) })
    }

    fn get(&mut self, key: &str) -> Reply {
        self.send(R::Get { key: b(key) })
    }

    fn ttl(&mut self, key: &str) -> Reply {
        self.send(R::Ttl { key: b(key) })
    }

    fn incr(&mut self, key: &str, delta: i64) -> Reply {
        self.send(R::IncrBy { key: b(key), delta })
    }

    fn scan_all(&mut self, pattern: &str, count: u32) -> Vec<Bytes> {
        let (mut cursor, mut all) = (0, Vec::new());
        loop {
            let Reply::Keys { cursor: next, keys } =
                self.send(R::Scan { cursor, pattern: pattern.into(), count })
            else {
                panic!("SCAN replies Keys")
            };
            all.extend(keys);
            if next == 0 {
                all.sort();
                return all;
            }
            cursor = next;
        }
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn data(s: &str) -> Reply {
    Reply::Data(b(s))
}

fn ttl_s(seconds: u64) -> SetOptions {
    SetOptions { ttl: Some(seconds), persist: false }
}

const OOM: &str = "OOM: store memory limit reached";
const NOT_INT: &str = "ERR value is not an integer or out of range";
const OVERFLOW: &str = "ERR increment or decrement would overflow";

#[test]
fn set_get_del() {
    let mut h = H::plain();
    assert_eq!(h.get("a"), Reply::Null);
    assert_eq!(h.set("a", "1"), Reply::Ok);
    assert_eq!(h.get("a"), data("1"));
    assert_eq!(h.set("a", "2"), Reply::Ok);
    assert_eq!(h.get("a"), data("2"));
    assert_eq!(h.send(R::Del { key: b("a") }), Reply::Ok);
    assert_eq!(h.get("a"), Reply::Null);
    assert_eq!(h.send(R::Del { key: b("a") }), Reply::Ok, "DEL of a missing key is OK");
    let stats = h.store.stats();
    assert_eq!((stats.hits, stats.misses, stats.commands, stats.keys), (2, 2, 8, 0));
}

#[test]
fn values_are_opaque_and_empty_key_is_allowed() {
    let mut h = H::plain();
    let value = Bytes::from_static(&[0x01, 0x00, 0xFF, b'x']);
    h.send(R::Set { key: b(""), options: SetOptions::default(), value: value.clone() });
    assert_eq!(h.get(""), Reply::Data(value));
    h.send(R::Set { key: b("e"), options: SetOptions::default(), value: Bytes::new() });
    assert_eq!(h.get("e"), Reply::Data(Bytes::new()));
}

#[test]
fn stored_bytes_are_owned_copies() {
    let mut h = H::plain();
    let frame = Bytes::from(b"keyvalue".to_vec());
    let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    h.send(R::Set { key: frame.slice(0..3), options: SetOptions::default(), value: frame.slice(3..) });
    let Reply::Data(value) = h.get("key") else { panic!("hit") };
    assert_eq!(&value[..], b"value");
    assert!(!range.contains(&(value.as_ptr() as usize)), "value must not pin the request buffer");
    let Reply::Keys { keys, .. } = h.send(R::Scan { cursor: 0, pattern: "*".into(), count: 10 }) else {
        panic!()
    };
    assert!(!range.contains(&(keys[0].as_ptr() as usize)), "key must not pin the request buffer");
}

#[test]
fn key_length_limit() {
    let mut h = H::plain();
    let long = "k".repeat(MAX_KEY_BYTES + 1);
    let err = Reply::Err(format!("Invalid key: longer than {MAX_KEY_BYTES} bytes"));
    assert_eq!(err, Reply::Err("Invalid key: longer than 65536 bytes".into()));
    assert_eq!(h.set(&long, "v"), err);
    assert_eq!(h.get(&long), err);
    assert_eq!(h.send(R::MGet { keys: vec![b("a"), b(&long)] }), err);
    assert_eq!(
        h.send(R::MSet { options: SetOptions::default(), pairs: vec![(b("a"), b("1")), (b(&long), b("2"))] }),
        err
    );
    assert_eq!(h.get("a"), Reply::Null, "a rejected MSET writes nothing");
    let max = "k".repeat(MAX_KEY_BYTES);
    assert_eq!(h.set(&max, "v"), Reply::Ok);
    assert_eq!(h.get(&max), data("v"));
}

#[test]
fn default_ttl_and_exact_expiry_on_read() {
    let mut h = H::new(StoreConfig { default_ttl_ms: Some(5_000), ..StoreConfig::default() });
    h.set("a", "1");
    h.set_with("z", "1", ttl_s(0));
    assert_eq!(h.ttl("a"), Reply::Int(5_000));
    assert_eq!(h.ttl("z"), Reply::Int(5_000), "ttl 0 means the default");
    h.advance(4_999);
    assert_eq!(h.get("a"), data("1"));
    assert_eq!(h.ttl("a"), Reply::Int(1));
    h.advance(1);
    assert_eq!(h.get("a"), Reply::Null, "a deadline equal to now has passed");
    assert_eq!(h.ttl("z"), Reply::Int(-2));
    let stats = h.store.stats();
    assert_eq!((stats.keys, stats.expired_keys), (0, 2), "expired keys are removed on access");
}

#[test]
fn ttl_option_persist_and_overwrite() {
    let mut h = H::new(StoreConfig { default_ttl_ms: Some(5_000), ..StoreConfig::default() });
    h.set_with("s", "1", ttl_s(2));
    h.set_with("p", "1", SetOptions { ttl: None, persist: true });
    h.set_with("w", "1", SetOptions { ttl: Some(1), persist: true });
    assert_eq!(h.ttl("s"), Reply::Int(2_000));
    assert_eq!(h.ttl("p"), Reply::Int(-1));
    assert_eq!(h.ttl("w"), Reply::Int(-1), "persist wins over ttl");
    h.set_with("w", "2", ttl_s(3));
    assert_eq!(h.ttl("w"), Reply::Int(3_000), "SET replaces the deadline");
    h.advance(1_999);
    assert_eq!(h.get("s"), data("1"));
    h.advance(1);
    assert_eq!(h.get("s"), Reply::Null);
    h.advance(1_000_000);
    assert_eq!(h.get("p"), data("1"));
    assert_eq!(h.get("w"), Reply::Null);
    assert_eq!(h.store.stats().keys_with_ttl, 0);

    let mut never = H::plain();
    never.set("a", "1");
    assert_eq!(never.ttl("a"), Reply::Int(-1), "default None = never expires");
    assert_eq!(never.store.poll_timeout(), None);
}

#[test]
fn huge_ttls_saturate() {
    let mut h = H::plain();
    h.set_with("a", "1", ttl_s(u64::MAX));
    assert_eq!(h.ttl("a"), Reply::Int(i64::MAX));
    assert_eq!(h.send(R::Expire { key: b("a"), ttl_ms: u64::MAX }), Reply::Flag(true));
    assert_eq!(h.get("a"), data("1"));
}

#[test]
fn sweep_is_scheduled_only_while_keys_have_deadlines() {
    let mut h = H::plain();
    assert_eq!(h.store.poll_timeout(), None);
    h.set_with("a", "1", ttl_s(1));
    assert_eq!(h.store.poll_timeout(), Some(h.now.mono_ms + SWEEP_INTERVAL_MS));
    h.advance(SWEEP_INTERVAL_MS);
    assert!(h.fire());
    assert_eq!(h.store.poll_timeout(), Some(h.now.mono_ms + SWEEP_INTERVAL_MS), "re-armed");
    h.send(R::Persist { key: b("a") });
    assert_eq!(h.store.poll_timeout(), None);
    // Waking early does nothing.
    h.set_with("b", "1", ttl_s(1));
    h.store.handle_timeout(h.now);
    assert_eq!(h.store.stats().keys, 2);
}

#[test]
fn active_sweep_reclaims_without_reads() {
    let mut h = H::plain();
    for i in 0..15 {
        h.set_with(&format!("t{i}"), "v", ttl_s(1));
    }
    h.set("keep", "v");
    h.advance(1_000);
    let mut fired = 0;
    while h.store.poll_timeout().is_some() {
        h.now = Now::at(h.store.poll_timeout().unwrap().max(h.now.mono_ms));
        assert!(h.fire());
        fired += 1;
    }
    let stats = h.store.stats();
    assert_eq!((stats.keys, stats.keys_with_ttl, stats.expired_keys), (1, 0, 15));
    assert_eq!(fired, 1, "a small volatile set is checked whole");
    assert_eq!(stats.hits + stats.misses, 0);
}

#[test]
fn active_sweep_is_bounded_and_catches_up() {
    let mut h = H::plain();
    let n = 5_000;
    h.send(R::MSet { options: ttl_s(1), pairs: (0..n).map(|i| (b(&format!("k{i}")), b("v"))).collect() });
    for i in 0..100 {
        h.set_with(&format!("live{i}"), "v", ttl_s(100));
    }
    h.advance(1_000);
    assert!(h.fire());
    let removed = h.store.stats().expired_keys;
    assert!(removed > 0 && removed <= (ACTIVE_EXPIRE_SAMPLES * ACTIVE_EXPIRE_MAX_ROUNDS) as u64, "{removed}");
    assert_eq!(h.store.poll_timeout(), Some(h.now.mono_ms + SWEEP_BACKLOG_INTERVAL_MS), "backlog: sooner");
    for _ in 0..10_000 {
        let Some(at) = h.store.poll_timeout() else { break };
        h.now = Now::at(at);
        h.fire();
        if h.store.poll_timeout() == Some(h.now.mono_ms + SWEEP_INTERVAL_MS) {
            break;
        }
    }
    let stats = h.store.stats();
    // Sampling stops once at most a quarter of a round is expired: most of the backlog is gone.
    assert!(stats.keys < 100 + n / 3, "{stats:?}");
    assert_eq!(stats.expired_keys + stats.keys, n + 100);
}

#[test]
fn incrby() {
    let mut h = H::new(StoreConfig { default_ttl_ms: Some(5_000), ..StoreConfig::default() });
    assert_eq!(h.incr("c", 5), Reply::Int(5));
    assert_eq!(h.ttl("c"), Reply::Int(-1), "a new counter has no deadline");
    assert_eq!(h.incr("c", -7), Reply::Int(-2));
    assert_eq!(h.get("c"), data("-2"), "stored as ASCII decimal");
    h.set_with("t", "41", ttl_s(10));
    assert_eq!(h.incr("t", 1), Reply::Int(42));
    assert_eq!(h.ttl("t"), Reply::Int(10_000), "INCRBY keeps the deadline");
    for bad in ["", "abc", "1.5", " 1", "+1", "01", "-0", "-", "99999999999999999999", "\u{1}5"] {
        h.set("bad", bad);
        assert_eq!(h.incr("bad", 1), Reply::Err(NOT_INT.into()), "{bad:?}");
        assert_eq!(h.get("bad"), data(bad), "a failed INCRBY changes nothing");
    }
    h.set("max", &i64::MAX.to_string());
    assert_eq!(h.incr("max", 1), Reply::Err(OVERFLOW.into()));
    h.set("min", &i64::MIN.to_string());
    assert_eq!(h.incr("min", -1), Reply::Err(OVERFLOW.into()));
    assert_eq!(h.incr("min", 0), Reply::Int(i64::MIN));
    h.set("zero", "0");
    assert_eq!(h.incr("zero", i64::MAX), Reply::Int(i64::MAX));
    h.set_with("old", "9", ttl_s(1));
    h.advance(1_000);
    assert_eq!(h.incr("old", 1), Reply::Int(1), "an expired counter starts over");
    assert_eq!(h.ttl("old"), Reply::Int(-1));
}

#[test]
fn setnx() {
    let mut h = H::plain();
    let setnx = |v: &str, options| R::SetNx { key: b("k"), options, value: b(v) };
    assert_eq!(h.send(setnx("1", ttl_s(1))), Reply::Flag(true));
    assert_eq!(h.send(setnx("2", SetOptions::default())), Reply::Flag(false));
    assert_eq!(h.get("k"), data("1"));
    assert_eq!(h.ttl("k"), Reply::Int(1_000), "options apply and a failed SETNX leaves them");
    h.advance(1_000);
    assert_eq!(h.send(setnx("3", SetOptions::default())), Reply::Flag(true), "expired counts as missing");
    assert_eq!(h.get("k"), data("3"));
}

#[test]
fn expire_ttl_persist() {
    let mut h = H::plain();
    let expire = |ttl_ms| R::Expire { key: b("k"), ttl_ms };
    let persist = || R::Persist { key: b("k") };
    assert_eq!(h.send(expire(100)), Reply::Flag(false));
    assert_eq!(h.send(persist()), Reply::Flag(false));
    assert_eq!(h.ttl("k"), Reply::Int(-2));
    h.set("k", "v");
    assert_eq!(h.send(persist()), Reply::Flag(false), "nothing to remove");
    assert_eq!(h.send(expire(1_500)), Reply::Flag(true));
    assert_eq!(h.ttl("k"), Reply::Int(1_500));
    assert_eq!(h.store.stats().keys_with_ttl, 1);
    assert_eq!(h.send(persist()), Reply::Flag(true));
    assert_eq!(h.ttl("k"), Reply::Int(-1));
    assert_eq!(h.send(expire(10)), Reply::Flag(true));
    h.advance(10);
    assert_eq!(h.send(expire(10)), Reply::Flag(false), "expired is missing");
    h.set("k", "v");
    assert_eq!(h.send(expire(0)), Reply::Flag(true));
    assert_eq!(h.get("k"), Reply::Null, "EXPIRE 0 deletes at once");
    assert_eq!(h.store.stats().keys, 0);
}

/// EXPIRE_EXT flags from a string naming them (`"nx"`, `"xx lt"`, ...).
fn flags(names: &str) -> ExpireFlags {
    let has = |name| names.split(' ').any(|n| n == name);
    ExpireFlags { nx: has("nx"), xx: has("xx"), gt: has("gt"), lt: has("lt") }
}

fn expire_ext(key: &str, names: &str, time: ExpireTime) -> R {
    R::ExpireExt { key: b(key), flags: flags(names), time }
}

#[test]
fn expire_ext_missing_and_expired_keys_answer_zero() {
    let mut h = H::plain();
    for names in ["", "nx", "xx", "gt", "lt", "xx gt", "xx lt", "nx xx", "gt lt"] {
        for time in [ExpireTime::InMs(100), ExpireTime::InMs(0), ExpireTime::AtMs(1)] {
            assert_eq!(h.send(expire_ext("zz", names, time)), Reply::Flag(false), "{names} {time:?}");
        }
    }
    h.set_with("short", "v", ttl_s(1));
    h.advance(1_000);
    assert_eq!(h.send(expire_ext("short", "lt", ExpireTime::InMs(10))), Reply::Flag(false), "expired");
    assert_eq!(h.store.stats().keys, 0);
}

#[test]
fn expire_ext_nx_and_xx() {
    let mut h = H::plain();
    h.set("k", "v");
    assert_eq!(h.send(expire_ext("k", "xx", ExpireTime::InMs(100))), Reply::Flag(false), "XX: none yet");
    assert_eq!(h.ttl("k"), Reply::Int(-1));
    assert_eq!(h.send(expire_ext("k", "nx", ExpireTime::InMs(500))), Reply::Flag(true));
    assert_eq!(h.ttl("k"), Reply::Int(500));
    assert!(h.store.poll_timeout().is_some(), "the sweep is armed");
    assert_eq!(h.send(expire_ext("k", "nx", ExpireTime::InMs(900))), Reply::Flag(false), "NX: has one");
    assert_eq!(h.ttl("k"), Reply::Int(500));
    assert_eq!(h.send(expire_ext("k", "xx", ExpireTime::InMs(900))), Reply::Flag(true));
    assert_eq!(h.ttl("k"), Reply::Int(900));
    // Plain EXPIRE_EXT (no flags) behaves as EXPIRE; NX with XX (only over v1) never holds.
    assert_eq!(h.send(expire_ext("k", "", ExpireTime::InMs(50))), Reply::Flag(true));
    assert_eq!(h.ttl("k"), Reply::Int(50));
    assert_eq!(h.send(expire_ext("k", "nx xx", ExpireTime::InMs(70))), Reply::Flag(false));
    h.set("k", "v");
    assert_eq!(h.send(expire_ext("k", "nx xx", ExpireTime::InMs(70))), Reply::Flag(false));
    assert_eq!(h.ttl("k"), Reply::Int(-1));
}

#[test]
fn expire_ext_gt_and_lt_treat_no_deadline_as_infinite() {
    let mut h = H::plain();
    h.set("k", "v");
    assert_eq!(h.send(expire_ext("k", "gt", ExpireTime::InMs(100))), Reply::Flag(false), "GT: never");
    assert_eq!(h.ttl("k"), Reply::Int(-1));
    assert_eq!(h.send(expire_ext("k", "xx lt", ExpireTime::InMs(100))), Reply::Flag(false), "XX first");
    assert_eq!(h.send(expire_ext("k", "lt", ExpireTime::InMs(700))), Reply::Flag(true), "LT: always");
    assert_eq!(h.ttl("k"), Reply::Int(700));
    // Equal deadlines are neither greater nor less.
    assert_eq!(h.send(expire_ext("k", "gt", ExpireTime::InMs(700))), Reply::Flag(false));
    assert_eq!(h.send(expire_ext("k", "lt", ExpireTime::InMs(700))), Reply::Flag(false));
    assert_eq!(h.ttl("k"), Reply::Int(700));
    assert_eq!(h.send(expire_ext("k", "gt", ExpireTime::InMs(800))), Reply::Flag(true));
    assert_eq!(h.send(expire_ext("k", "lt", ExpireTime::InMs(900))), Reply::Flag(false));
    assert_eq!(h.ttl("k"), Reply::Int(800));
    assert_eq!(h.send(expire_ext("k", "xx lt", ExpireTime::InMs(300))), Reply::Flag(true));
    assert_eq!(h.send(expire_ext("k", "xx gt", ExpireTime::InMs(200))), Reply::Flag(false));
    assert_eq!(h.ttl("k"), Reply::Int(300));
    // GT with LT (only over v1) never holds.
    assert_eq!(h.send(expire_ext("k", "gt lt", ExpireTime::InMs(400))), Reply::Flag(false));
    // Wall-clock times compare with the same distance from now: the deadline is now + 300.
    let wall = h.now.wall_ms;
    assert_eq!(h.send(expire_ext("k", "gt", ExpireTime::AtMs(wall + 300))), Reply::Flag(false), "equal");
    assert_eq!(h.send(expire_ext("k", "gt", ExpireTime::AtMs(wall + 1_500))), Reply::Flag(true));
    assert_eq!(h.ttl("k"), Reply::Int(1_500));
    assert_eq!(h.send(expire_ext("k", "lt", ExpireTime::AtMs(wall + 1_000))), Reply::Flag(true));
    assert_eq!(h.ttl("k"), Reply::Int(1_000));
    h.advance(400);
    assert_eq!(h.send(expire_ext("k", "lt", ExpireTime::InMs(600))), Reply::Flag(false), "equal, later");
    assert_eq!(h.ttl("k"), Reply::Int(600));
}

#[test]
fn expire_ext_past_times_delete_only_when_the_conditions_hold() {
    let mut h = H::plain();
    let past = ExpireTime::AtMs(1);
    for now_or_past in [ExpireTime::InMs(0), past] {
        // With a deadline: GT and NX refuse (the key stays), LT deletes.
        h.set_with("k", "v", ttl_s(10));
        assert_eq!(h.send(expire_ext("k", "gt", now_or_past)), Reply::Flag(false));
        assert_eq!(h.send(expire_ext("k", "nx", now_or_past)), Reply::Flag(false));
        assert_eq!(h.ttl("k"), Reply::Int(10_000), "left as it was");
        assert_eq!(h.send(expire_ext("k", "lt", now_or_past)), Reply::Flag(true));
        assert_eq!(h.get("k"), Reply::Null);
        // Without one: XX and GT refuse, NX deletes; LT deletes too.
        h.set("k", "v");
        assert_eq!(h.send(expire_ext("k", "xx", now_or_past)), Reply::Flag(false));
        assert_eq!(h.send(expire_ext("k", "gt", now_or_past)), Reply::Flag(false));
        assert_eq!(h.send(expire_ext("k", "xx lt", now_or_past)), Reply::Flag(false));
        assert_eq!(h.ttl("k"), Reply::Int(-1));
        assert_eq!(h.send(expire_ext("k", "nx", now_or_past)), Reply::Flag(true));
        assert_eq!(h.get("k"), Reply::Null);
        h.set("k", "v");
        assert_eq!(h.send(expire_ext("k", "lt", now_or_past)), Reply::Flag(true));
        assert_eq!(h.store.stats().keys, 0);
    }
}

#[test]
fn expire_ext_refused_still_counts_as_an_access() {
    let mut h = H::plain();
    h.set("a", "v");
    let last_access = |h: &H| {
        let pos = h.store.table.find(b"a").expect("stored");
        h.store.table.get(pos).expect("entry").last_access()
    };
    let before = last_access(&h);
    assert_eq!(h.send(expire_ext("a", "gt", ExpireTime::InMs(100))), Reply::Flag(false));
    assert!(last_access(&h) > before, "a refused EXPIRE_EXT still touches the key (as Redis)");
}

#[test]
fn mget_and_counters() {
    let mut h = H::plain();
    h.set("a", "1");
    h.set_with("x", "gone", ttl_s(1));
    h.set("c", "3");
    h.advance(1_000);
    let reply = h.send(R::MGet { keys: vec![b("c"), b("missing"), b("a"), b("x"), b("a")] });
    assert_eq!(reply, Reply::Values(vec![Some(b("3")), None, Some(b("1")), None, Some(b("1"))]));
    assert_eq!(h.send(R::MGet { keys: vec![] }), Reply::Values(vec![]));
    let stats = h.store.stats();
    assert_eq!((stats.hits, stats.misses, stats.expired_keys), (3, 2, 1));
}

#[test]
fn mget_past_the_reply_limit_is_refused_whole() {
    let mut h =
        H::new(StoreConfig { default_ttl_ms: None, max_reply_bytes: 1_000, ..StoreConfig::default() });
    h.set("big", &"v".repeat(300));
    // 4 (count) + 3 × (1 + 4 + 300) = 919 fits; a fourth copy passes the limit.
    let keys = |n: usize| R::MGet { keys: vec![b("big"); n] };
    assert!(matches!(h.send(keys(3)), Reply::Values(values) if values.len() == 3));
    let refused = h.send(keys(4));
    assert_eq!(refused, Reply::error(StoreError::ReplyTooLarge { bytes: 1_224, limit: 1_000 }));
    let Reply::Err(text) = refused else { unreachable!() };
    assert!(text.starts_with("ERR reply too large"), "{text}");
    // Missing keys cost 1 byte each, so a long MGET of misses is still answered.
    assert!(matches!(h.send(R::MGet { keys: vec![b("nope"); 900] }), Reply::Values(v) if v.len() == 900));
}

#[test]
fn mset_sets_all_and_last_duplicate_wins() {
    let mut h = H::plain();
    let pairs = vec![(b("a"), b("1")), (b("b"), b("2")), (b("a"), b("3"))];
    assert_eq!(h.send(R::MSet { options: ttl_s(2), pairs }), Reply::Ok);
    assert_eq!(
        h.send(R::MGet { keys: vec![b("a"), b("b")] }),
        Reply::Values(vec![Some(b("3")), Some(b("2"))])
    );
    assert_eq!(h.ttl("b"), Reply::Int(2_000));
    assert_eq!(h.store.stats().keys, 2);
    assert_eq!(h.send(R::MSet { options: SetOptions::default(), pairs: vec![] }), Reply::Ok);
}

#[test]
fn eviction_allkeys_lru_keeps_recently_used_keys() {
    let mut h = H::limited(10, EvictionPolicy::AllKeysLru);
    for i in 0..10 {
        assert_eq!(h.set(&format!("k{i}"), "12345678"), Reply::Ok);
    }
    assert_eq!(h.store.stats().evicted_keys, 0);
    // Keep k0..k4 hot, then write 5 new keys.
    for round in 0..5 {
        for i in 0..5 {
            h.get(&format!("k{i}"));
        }
        assert_eq!(h.set(&format!("n{round}"), "12345678"), Reply::Ok);
    }
    let stats = h.store.stats();
    assert_eq!((stats.keys, stats.evicted_keys), (10, 5));
    assert_eq!(stats.used_memory_bytes, stats.max_memory_bytes);
    let hot = (0..5).filter(|i| h.get(&format!("k{i}")) != Reply::Null).count();
    assert!(hot >= 4, "recently used keys mostly survive ({hot} of 5)");
}

#[test]
fn eviction_volatile_lru_only_takes_keys_with_deadlines() {
    let mut h = H::limited(4, EvictionPolicy::VolatileLru);
    h.set("p1", "12345678");
    h.set("p2", "12345678");
    h.set_with("v1", "12345678", ttl_s(100));
    h.set_with("v2", "12345678", ttl_s(100));
    assert_eq!(h.set("p3", "12345678"), Reply::Ok);
    assert_eq!(h.set("p4", "12345678"), Reply::Ok);
    assert_eq!(h.store.stats().evicted_keys, 2);
    for k in ["p1", "p2", "p3", "p4"] {
        assert_eq!(h.get(k), data("12345678"), "{k} has no deadline and must survive");
    }
    let before = h.store.stats();
    assert_eq!(h.set("p5", "12345678"), Reply::Err(OOM.into()), "no volatile key left");
    assert_eq!(h.get("p5"), Reply::Null);
    assert_eq!(h.store.stats().evicted_keys, before.evicted_keys);
}

#[test]
fn noeviction_answers_oom_and_changes_nothing() {
    let mut h = H::limited(2, EvictionPolicy::NoEviction);
    h.set("a1", "12345678");
    h.set("a2", "12345678");
    assert_eq!(h.set("a3", "12345678"), Reply::Err(OOM.into()));
    assert_eq!(h.set("a1", "123456789"), Reply::Err(OOM.into()), "growing an entry needs room too");
    assert_eq!(h.set("a1", "1234"), Reply::Ok, "shrinking always fits");
    let setnx = R::SetNx { key: b("a4"), options: SetOptions::default(), value: b("x") };
    assert_eq!(h.send(setnx), Reply::Err(OOM.into()));
    assert_eq!(h.incr("c9", 1), Reply::Err(OOM.into()));
    let stats = h.store.stats();
    assert_eq!((stats.keys, stats.evicted_keys), (2, 0));
}

#[test]
fn entry_larger_than_the_limit_is_oom_even_with_eviction() {
    let mut h = H::limited(3, EvictionPolicy::AllKeysLru);
    h.set("a1", "12345678");
    h.set("a2", "12345678");
    let huge = "x".repeat(4 * 200);
    assert_eq!(h.set("a3", &huge), Reply::Err(OOM.into()));
    let stats = h.store.stats();
    assert_eq!((stats.keys, stats.evicted_keys), (2, 0), "OOM evicts nothing");
}

#[test]
fn a_write_never_evicts_its_own_key() {
    let mut h = H::limited(2, EvictionPolicy::AllKeysLru);
    h.set("a1", "12345678");
    h.set("c1", "5");
    // The counter grows from 1 to 20 bytes: the other key goes, the counter keeps its value.
    assert_eq!(h.incr("c1", 1_000_000_000_000_000_000 - 5), Reply::Int(1_000_000_000_000_000_000));
    assert_eq!(h.incr("c1", 1), Reply::Int(1_000_000_000_000_000_001));
    assert_eq!(h.get("a1"), Reply::Null);
    assert_eq!(h.store.stats().evicted_keys, 1);
}

#[test]
fn mset_is_all_or_nothing_for_memory() {
    let mut h = H::limited(3, EvictionPolicy::NoEviction);
    h.set("a1", "12345678");
    let pairs = |n: usize| (0..n).map(|i| (b(&format!("m{i}")), b("12345678"))).collect::<Vec<_>>();
    assert_eq!(h.send(R::MSet { options: SetOptions::default(), pairs: pairs(3) }), Reply::Err(OOM.into()));
    assert_eq!(h.store.stats().keys, 1, "nothing written");
    assert_eq!(h.send(R::MSet { options: SetOptions::default(), pairs: pairs(2) }), Reply::Ok);

    let mut h = H::limited(3, EvictionPolicy::AllKeysLru);
    h.set("o1", "12345678");
    h.set("m0", "1");
    assert_eq!(h.send(R::MSet { options: SetOptions::default(), pairs: pairs(3) }), Reply::Ok);
    assert_eq!(h.get("o1"), Reply::Null, "the other key is evicted, not the request's own");
    assert_eq!(h.scan_all("*", 100), vec![b("m0"), b("m1"), b("m2")]);
    assert_eq!(h.send(R::MSet { options: SetOptions::default(), pairs: pairs(4) }), Reply::Err(OOM.into()));
}

#[test]
fn eviction_prefers_reclaiming_expired_samples_and_counts_them() {
    let mut h = H::limited(2, EvictionPolicy::VolatileLru);
    h.set_with("v1", "12345678", ttl_s(1));
    h.set("p1", "12345678");
    h.advance(1_000);
    assert_eq!(h.set("p2", "12345678"), Reply::Ok);
    let stats = h.store.stats();
    assert_eq!((stats.evicted_keys, stats.expired_keys), (0, 1), "an expired victim counts as expired");
}

#[test]
fn scan_returns_every_key_once_without_changes() {
    let mut h = H::plain();
    let mut expected: Vec<Bytes> = (0..57).map(|i| b(&format!("key:{i}"))).collect();
    for k in &expected {
        h.send(R::Set { key: k.clone(), options: SetOptions::default(), value: b("v") });
    }
    expected.sort();
    for count in [0, 1, 7, 1000, u32::MAX] {
        assert_eq!(h.scan_all("*", count), expected, "count {count}");
    }
    assert_eq!(h.scan_all("key:1?", 5).len(), 10);
    assert_eq!(h.scan_all("key:[0-2]", 5), vec![b("key:0"), b("key:1"), b("key:2")]);
    assert!(h.scan_all("nomatch*", 5).is_empty());
}

#[test]
fn scan_steps_are_bounded() {
    let mut h = H::plain();
    for i in 0..2_500 {
        h.set(&format!("k{i}"), "v");
    }
    let step = |h: &mut H, cursor, count| match h.send(R::Scan { cursor, pattern: "*".into(), count }) {
        Reply::Keys { cursor, keys } => (cursor, keys.len()),
        _ => panic!(),
    };
    assert_eq!(step(&mut h, 0, 0), (2_490, SCAN_DEFAULT_COUNT));
    assert_eq!(step(&mut h, 0, u32::MAX), (1_500, SCAN_MAX_COUNT));
    assert_eq!(step(&mut h, 5, 100), (0, 5));
    assert_eq!(step(&mut h, u64::MAX, 10), (2_490, 10), "a cursor past the end starts at the top");
    let mut empty = H::plain();
    assert_eq!(step(&mut empty, 0, 10), (0, 0));
}

#[test]
fn scan_reply_bytes_are_bounded() {
    let mut h = H::plain();
    let big = "k".repeat(60_000);
    for i in 0..40 {
        h.set(&format!("{big}{i:02}"), "v");
    }
    let Reply::Keys { cursor, keys } = h.send(R::Scan { cursor: 0, pattern: "*".into(), count: 1000 }) else {
        panic!()
    };
    let bytes: usize = keys.iter().map(|k| 4 + k.len()).sum();
    assert!(bytes <= SCAN_MAX_REPLY_BYTES && cursor > 0, "{bytes} {cursor}");
    assert_eq!(keys.len(), SCAN_MAX_REPLY_BYTES / 60_006);
    assert_eq!(h.scan_all("*", 1000).len(), 40);
}

#[test]
fn scan_is_complete_across_deletes_and_inserts() {
    let mut h = H::plain();
    for i in 0..100 {
        h.set(&format!("s{i}"), "v");
    }
    let (mut cursor, mut seen) = (0, Vec::new());
    let mut step = 0;
    loop {
        let Reply::Keys { cursor: next, keys } = h.send(R::Scan { cursor, pattern: "s*".into(), count: 7 })
        else {
            panic!()
        };
        seen.extend(keys);
        // Between steps: delete keys 0..50 (spread out) and insert new ones.
        for j in 0..4 {
            h.send(R::Del { key: b(&format!("s{}", (step * 4 + j) % 50)) });
            h.set(&format!("new{step}-{j}"), "v");
        }
        step += 1;
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for i in 50..100 {
        assert!(seen.contains(&b(&format!("s{i}"))), "s{i} was present for the whole scan");
    }
}

#[test]
fn scan_skips_and_reclaims_expired_keys() {
    let mut h = H::plain();
    for i in 0..10 {
        h.set_with(&format!("e{i}"), "v", ttl_s(1));
        h.set(&format!("l{i}"), "v");
    }
    h.advance(1_000);
    assert_eq!(h.scan_all("*", 3).len(), 10);
    let stats = h.store.stats();
    assert_eq!((stats.keys, stats.expired_keys), (10, 10));
}

#[test]
fn outputs_keep_request_order_and_disconnect_is_a_no_op() {
    let mut store = Store::new(StoreConfig::default(), 1);
    let now = Now::at(0);
    for id in 0..5 {
        store.handle_request(now, ConnId(id % 2), id as u32, R::Get { key: b("x") });
    }
    store.handle_disconnect(now, ConnId(0));
    let ids: Vec<_> = std::iter::from_fn(|| store.poll_output())
        .map(|o| match o {
            Output::Reply { conn, id, reply } => (conn.0, id, reply),
            _ => panic!(),
        })
        .collect();
    assert_eq!(ids, (0..5).map(|id| (id % 2, id as u32, Reply::Null)).collect::<Vec<_>>());
}

#[test]
fn same_seed_same_outputs() {
    let run = |seed| {
        let config = StoreConfig { max_memory_bytes: 20 * entry_bytes(4, 8), ..StoreConfig::default() };
        let mut store = Store::new(config, seed);
        let mut replies = Vec::new();
        for i in 0..300u32 {
            let now = Now::at(u64::from(i) * 37);
            let key = b(&format!("k{}", (i * 7919) % 97));
            store.handle_request(
                now,
                ConnId(1),
                i,
                R::Set { key, options: ttl_s(u64::from(i % 5)), value: b("12345678") },
            );
            store.handle_request(now, ConnId(1), i, R::Scan { cursor: 0, pattern: "*".into(), count: 50 });
            store.handle_timeout(now);
            replies.extend(std::iter::from_fn(|| store.poll_output()));
        }
        (replies, store.stats())
    };
    let (a, stats) = run(9);
    assert!(stats.evicted_keys > 0);
    assert_eq!((a.clone(), stats.clone()), run(9));
    assert_ne!(a, run(10).0, "sampling depends on the seed");
}

#[test]
fn stats_snapshot() {
    let config =
        StoreConfig { default_ttl_ms: Some(1_000), max_memory_bytes: 10_000, ..StoreConfig::default() };
    let mut h = H::new(config);
    h.set("ab", "123");
    h.set_with("cd", "1", SetOptions { ttl: None, persist: true });
    let stats = h.store.stats();
    assert_eq!(
        stats,
        StoreStats {
            keys: 2,
            keys_with_ttl: 1,
            used_memory_bytes: entry_bytes(2, 3) + entry_bytes(2, 1),
            max_memory_bytes: 10_000,
            commands: 2,
            ..StoreStats::default()
        }
    );
    assert_eq!(h.store.config(), &config);
}

#[test]
fn entry_overhead_covers_the_real_per_entry_cost() {
    use std::mem::size_of;
    // The accounting in `ENTRY_OVERHEAD_BYTES`: dense entry, index (~8 per key), key-length
    // prefix, allocator header and mean rounding (~15), volatile record (deadline, position).
    #[cfg(target_pointer_width = "64")]
    assert_eq!(size_of::<Entry>(), 40);
    let typical = size_of::<Entry>() + 8 + 1 + 15 + size_of::<(u64, u32)>();
    assert!(typical <= ENTRY_OVERHEAD_BYTES as usize, "{typical}");
    assert_eq!(entry_bytes(3, 5), 8 + ENTRY_OVERHEAD_BYTES);
}

#[test]
fn error_texts_are_stable() {
    assert_eq!(StoreError::OutOfMemory.to_string(), OOM);
    assert_eq!(StoreError::NotAnInteger.to_string(), NOT_INT);
    assert_eq!(StoreError::KeyTooLong.to_string(), "Invalid key: longer than 65536 bytes");
}

#[test]
fn parse_i64_is_redis_strict() {
    use super::commands::parse_i64;
    assert_eq!(parse_i64(b"0"), Some(0));
    assert_eq!(parse_i64(b"-12"), Some(-12));
    assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
    assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
    for bad in [&b""[..], b"-", b"-0", b"00", b"+1", b"1 ", b"9223372036854775808", b"1e3"] {
        assert_eq!(parse_i64(bad), None, "{bad:?}");
    }
}
