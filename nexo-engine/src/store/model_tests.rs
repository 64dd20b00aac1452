//! Model-based property tests of the Store.
//!
//! 1. Random command sequences over a small key space, with time advances and timer calls, run
//!    against the Store and against a plain `BTreeMap` model; every reply must match (memory is
//!    generous, so nothing is evicted), and full SCANs must return exactly the model's live keys.
//! 2. Under a small memory limit and every policy: after every input, used memory is within the
//!    limit and equals the recomputed sum, every request gets exactly one reply, and an OOM reply
//!    evicts nothing.
//! 3. A SCAN with deletes and inserts between its steps returns every key present throughout.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::SetOptions;
use nexo_proto::request::{ExpireFlags, ExpireTime, Expiry, StoreRequest as R};
use proptest::prelude::*;

use super::table::entry_bytes;
use super::*;

const KEYS: &[&str] = &["", "a", "b", "ab", "k1", "k2", "ba"];
pub(super) const DEFAULT_TTL_MS: u64 = 1_500;

/// A reference predicate for one SCAN pattern.
type Matcher = fn(&str) -> bool;

/// SCAN patterns with the reference predicate the model uses for each.
const PATTERNS: &[(&str, Matcher)] = &[
    ("*", |_| true),
    ("?", |k| k.chars().count() == 1),
    ("k*", |k| k.starts_with('k')),
    ("[ab]*", |k| k.starts_with(['a', 'b'])),
    ("*b", |k| k.ends_with('b')),
    ("[^a]?", |k| k.len() == 2 && !k.starts_with('a')),
    ("\\*", |k| k == "*"),
];

#[derive(Debug, Clone)]
enum Op {
    Req(R),
    Advance(u64),
    Timeout,
    FullScan {
        pattern: usize,
        count: u32,
    },
    /// KEYS with a pattern, compared as a set with the model's live keys.
    Keys {
        pattern: usize,
    },
}

pub(super) fn key() -> impl Strategy<Value = Bytes> {
    prop::sample::select(KEYS).prop_map(|k| Bytes::from_static(k.as_bytes()))
}

fn value() -> impl Strategy<Value = Bytes> {
    const NUMBERS: &[&str] =
        &["0", "1", "-3", "41", "01", "+2", "9223372036854775807", "-9223372036854775808", "x", ""];
    prop_oneof![
        prop::sample::select(NUMBERS).prop_map(|v| Bytes::from_static(v.as_bytes())),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from),
    ]
}

fn options() -> impl Strategy<Value = SetOptions> {
    (prop::option::of(0u64..3), prop::bool::weighted(0.2))
        .prop_map(|(ttl, persist)| SetOptions { ttl, persist })
}

pub(super) fn request() -> impl Strategy<Value = R> {
    let delta = prop_oneof![-5i64..5, Just(i64::MAX), Just(i64::MIN)];
    prop_oneof![
        4 => (key(), options(), value()).prop_map(|(key, options, value)| R::Set { key, options, value }),
        4 => key().prop_map(|key| R::Get { key }),
        2 => key().prop_map(|key| R::Del { key }),
        2 => (key(), options(), value()).prop_map(|(key, options, value)| R::SetNx { key, options, value }),
        3 => (key(), delta).prop_map(|(key, delta)| R::IncrBy { key, delta }),
        2 => (key(), 0u64..3_000).prop_map(|(key, ttl_ms)| R::Expire { key, ttl_ms }),
        2 => key().prop_map(|key| R::Ttl { key }),
        1 => key().prop_map(|key| R::Persist { key }),
        2 => prop::collection::vec(key(), 0..5).prop_map(|keys| R::MGet { keys }),
        2 => (options(), prop::collection::vec((key(), value()), 0..5))
            .prop_map(|(options, pairs)| R::MSet { options, pairs }),
        3 => (key(), any::<[bool; 3]>(), expiry(), value())
            .prop_map(|(key, [nx, xx, get], expiry, value)| R::SetExt { key, nx, xx, get, expiry, value }),
        1 => prop::collection::vec(key(), 0..4).prop_map(|keys| R::DelCount { keys }),
        1 => prop::collection::vec(key(), 0..4).prop_map(|keys| R::Exists { keys }),
        1 => key().prop_map(|key| R::GetDel { key }),
        1 => (key(), expiry()).prop_map(|(key, expiry)| R::GetEx { key, expiry }),
        2 => (key(), value()).prop_map(|(key, value)| R::Append { key, value }),
        1 => key().prop_map(|key| R::Strlen { key }),
        1 => (key(), key()).prop_map(|(key, new_key)| R::Rename { key, new_key }),
        1 => (key(), 0u64..3_000).prop_map(|(key, at)| R::ExpireAt { key, at_ms: Now::at(0).wall_ms + at }),
        1 => Just(R::Flush),
        3 => (key(), any::<[bool; 4]>(), expire_time()).prop_map(|(key, [nx, xx, gt, lt], time)| {
            R::ExpireExt { key, flags: ExpireFlags { nx, xx, gt, lt }, time }
        }),
    ]
}

/// EXPIRE_EXT times: round relative times (so deadlines often tie) and wall-clock readings of
/// `Now::at(0..3000)` (some in the past once time has advanced).
fn expire_time() -> impl Strategy<Value = ExpireTime> {
    prop_oneof![
        prop_oneof![prop::sample::select(&[0u64, 250, 500, 1_000, 1_500, 2_000][..]), 0u64..2_000]
            .prop_map(ExpireTime::InMs),
        (0u64..3_000).prop_map(|at| ExpireTime::AtMs(Now::at(0).wall_ms + at)),
    ]
}

/// Expiry changes; absolute times are wall-clock readings of `Now::at(0..3000)`.
fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        Just(Expiry::Keep),
        (0u64..2_000).prop_map(Expiry::InMs),
        (0u64..3_000).prop_map(|at| Expiry::AtMs(Now::at(0).wall_ms + at)),
        Just(Expiry::Persist),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => request().prop_map(Op::Req),
        // Round steps land exactly on deadlines (seconds, the default TTL), odd ones anywhere.
        3 => prop_oneof![prop::sample::select(&[0u64, 1, 250, 500, 1_000, 1_500][..]), 0u64..1_200]
            .prop_map(Op::Advance),
        1 => Just(Op::Timeout),
        1 => (0..PATTERNS.len(), 0u32..6).prop_map(|(pattern, count)| Op::FullScan { pattern, count }),
        1 => (0..PATTERNS.len()).prop_map(|pattern| Op::Keys { pattern }),
    ]
}

/// The reference: a sorted map of key → (value, deadline).
#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) map: BTreeMap<Bytes, (Bytes, Option<u64>)>,
}

impl Model {
    pub(super) fn prune(&mut self, now: u64) {
        self.map.retain(|_, (_, deadline)| deadline.is_none_or(|d| d > now));
    }

    fn deadline(now: u64, options: SetOptions) -> Option<u64> {
        match (options.persist, options.ttl) {
            (true, _) => None,
            (false, Some(s)) if s > 0 => Some(now + s * 1000),
            (false, _) => Some(now + DEFAULT_TTL_MS),
        }
    }

    pub(super) fn apply(&mut self, now: u64, request: &R) -> Reply {
        self.prune(now);
        let map = &mut self.map;
        match request {
            R::Set { key, options, value } => {
                map.insert(key.clone(), (value.clone(), Self::deadline(now, *options)));
                Reply::Ok
            }
            R::Get { key } => map.get(key).map_or(Reply::Null, |(v, _)| Reply::Data(v.clone())),
            R::Del { key } => {
                map.remove(key);
                Reply::Ok
            }
            R::SetNx { key, options, value } => Reply::Flag(
                !map.contains_key(key)
                    && map.insert(key.clone(), (value.clone(), Self::deadline(now, *options))).is_none(),
            ),
            R::IncrBy { key, delta } => {
                let (current, deadline) = match map.get(key) {
                    // Canonical decimal only: exactly the strings `i64::to_string` produces.
                    Some((v, d)) => match std::str::from_utf8(v).ok().and_then(|s| s.parse::<i64>().ok()) {
                        Some(n) if n.to_string().as_bytes() == &v[..] => (n, *d),
                        _ => return Reply::Err("ERR value is not an integer or out of range".into()),
                    },
                    None => (0, None),
                };
                let Some(new) = current.checked_add(*delta) else {
                    return Reply::Err("ERR increment or decrement would overflow".into());
                };
                map.insert(key.clone(), (Bytes::from(new.to_string()), deadline));
                Reply::Int(new)
            }
            R::Expire { key, ttl_ms } => match map.get_mut(key) {
                None => Reply::Flag(false),
                Some(_) if *ttl_ms == 0 => Reply::Flag(map.remove(key).is_some()),
                Some((_, d)) => {
                    *d = Some(now + ttl_ms);
                    Reply::Flag(true)
                }
            },
            R::Ttl { key } => Reply::Int(match map.get(key) {
                None => -2,
                Some((_, None)) => -1,
                Some((_, Some(d))) => (d - now) as i64,
            }),
            R::Persist { key } => Reply::Flag(map.get_mut(key).is_some_and(|(_, d)| d.take().is_some())),
            R::MGet { keys } => {
                Reply::Values(keys.iter().map(|k| map.get(k).map(|(v, _)| v.clone())).collect())
            }
            R::MSet { options, pairs } => {
                for (k, v) in pairs {
                    map.insert(k.clone(), (v.clone(), Self::deadline(now, *options)));
                }
                Reply::Ok
            }
            R::SetExt { key, nx, xx, get, expiry, value } => {
                let old = map.get(key).cloned();
                let answer = |written: bool| match (get, &old) {
                    (true, Some((v, _))) => Reply::Data(v.clone()),
                    (true, None) => Reply::Null,
                    (false, _) if written => Reply::Ok,
                    (false, _) => Reply::Null,
                };
                if (*nx && old.is_some()) || (*xx && old.is_none()) {
                    return answer(false);
                }
                match Self::deadline_of(now, *expiry, old.as_ref().and_then(|(_, d)| *d)) {
                    Some(d) if d <= now => {
                        map.remove(key);
                    }
                    deadline => {
                        map.insert(key.clone(), (value.clone(), deadline));
                    }
                }
                answer(true)
            }
            R::DelCount { keys } => {
                Reply::Int(keys.iter().filter(|k| map.remove(*k).is_some()).count() as i64)
            }
            R::Exists { keys } => Reply::Int(keys.iter().filter(|k| map.contains_key(*k)).count() as i64),
            R::GetDel { key } => map.remove(key).map_or(Reply::Null, |(v, _)| Reply::Data(v)),
            R::GetEx { key, expiry } => {
                let Some((value, current)) = map.get(key).cloned() else { return Reply::Null };
                match Self::deadline_of(now, *expiry, current) {
                    Some(d) if d <= now => {
                        map.remove(key);
                    }
                    deadline => {
                        map.insert(key.clone(), (value.clone(), deadline));
                    }
                }
                Reply::Data(value)
            }
            R::Append { key, value } => {
                let (mut joined, deadline) =
                    map.get(key).map_or((Vec::new(), None), |(v, d)| (v.to_vec(), *d));
                joined.extend_from_slice(value);
                let len = joined.len() as i64;
                map.insert(key.clone(), (Bytes::from(joined), deadline));
                Reply::Int(len)
            }
            R::Strlen { key } => Reply::Int(map.get(key).map_or(0, |(v, _)| v.len() as i64)),
            R::Rename { key, new_key } => {
                let Some(entry) = map.remove(key) else {
                    return Reply::Err("ERR no such key".into());
                };
                map.insert(new_key.clone(), entry);
                Reply::Ok
            }
            R::ExpireAt { key, at_ms } => {
                let wall = Now::at(now).wall_ms;
                match map.get_mut(key) {
                    None => Reply::Flag(false),
                    Some(_) if *at_ms <= wall => Reply::Flag(map.remove(key).is_some()),
                    Some((_, d)) => {
                        *d = Some(now + (at_ms - wall));
                        Reply::Flag(true)
                    }
                }
            }
            R::Flush => {
                map.clear();
                Reply::Ok
            }
            R::ExpireExt { key, flags, time } => {
                let Some(&(_, current)) = map.get(key) else { return Reply::Flag(false) };
                let new = match *time {
                    ExpireTime::InMs(ms) => now + ms,
                    ExpireTime::AtMs(at) => now + at.saturating_sub(Now::at(now).wall_ms),
                };
                // No deadline is an infinite one (Redis's reading for GT and LT).
                let current_or_infinite = current.map_or(u128::MAX, u128::from);
                let holds = (!flags.nx || current.is_none())
                    && (!flags.xx || current.is_some())
                    && (!flags.gt || u128::from(new) > current_or_infinite)
                    && (!flags.lt || u128::from(new) < current_or_infinite);
                match (holds, new <= now) {
                    (false, _) => Reply::Flag(false),
                    (true, true) => Reply::Flag(map.remove(key).is_some()),
                    (true, false) => {
                        if let Some((_, d)) = map.get_mut(key) {
                            *d = Some(new);
                        }
                        Reply::Flag(true)
                    }
                }
            }
            R::Scan { .. } | R::Keys { .. } | R::DbSize | R::Info => {
                unreachable!("scans and KEYS are Ops of their own; DBSIZE and INFO are not modelled")
            }
            R::Watch { .. } | R::Unwatch | R::Exec { .. } => {
                unreachable!("transactions are modelled in tx_tests")
            }
        }
    }

    fn deadline_of(now: u64, expiry: Expiry, current: Option<u64>) -> Option<u64> {
        match expiry {
            Expiry::Keep => current,
            Expiry::InMs(ms) => Some(now + ms),
            Expiry::AtMs(at) => Some(now + at.saturating_sub(Now::at(now).wall_ms)),
            Expiry::Persist => None,
        }
    }
}

/// Sends one request and returns its reply, checking there is exactly one output with the id.
fn send(store: &mut Store, now: Now, id: u32, request: R) -> Reply {
    store.handle_request(now, ConnId(1), id, request);
    let Some(Output::Reply { conn: ConnId(1), id: got, reply }) = store.poll_output() else {
        panic!("no reply")
    };
    assert_eq!(got, id);
    assert!(store.poll_output().is_none(), "more than one output for one request");
    reply
}

/// Runs a whole SCAN with `count` per step and returns the keys, sorted (duplicates kept).
fn full_scan(store: &mut Store, now: Now, pattern: &str, count: u32) -> Vec<Bytes> {
    let (mut cursor, mut keys) = (0, Vec::new());
    for id in 0.. {
        let Reply::Keys { cursor: next, keys: step } =
            send(store, now, id, R::Scan { cursor, pattern: pattern.into(), count })
        else {
            panic!("SCAN must reply Keys")
        };
        keys.extend(step);
        if next == 0 {
            break;
        }
        assert!(next < cursor || cursor == 0, "the cursor always moves down");
        cursor = next;
    }
    keys.sort();
    keys
}

proptest! {
    // 256 cases (the default) missed a broken EXPIRE GT/LT equality check that 5000 caught; a
    // case costs ~0.3 ms, so 2048 keep the test under a second.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn store_matches_the_model(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..80)) {
        let config = StoreConfig {
            default_ttl_ms: Some(DEFAULT_TTL_MS),
            max_memory_bytes: 1 << 30,
            eviction: EvictionPolicy::AllKeysLru,
            ..StoreConfig::default()
        };
        let mut store = Store::new(config, seed);
        let mut model = Model::default();
        let mut now = Now::at(0);
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Req(request) => {
                    let expected = model.apply(now.mono_ms, &request);
                    let got = send(&mut store, now, i as u32, request.clone());
                    prop_assert_eq!(got, expected, "request {:?} at {}", request, now.mono_ms);
                }
                Op::Advance(ms) => now = now.plus(ms),
                Op::Timeout => store.handle_timeout(now),
                Op::FullScan { pattern, count } => {
                    let (text, matches) = PATTERNS[pattern];
                    model.prune(now.mono_ms);
                    let expected: Vec<Bytes> = model.map.keys()
                        .filter(|k| matches(std::str::from_utf8(k).unwrap()))
                        .cloned()
                        .collect();
                    prop_assert_eq!(full_scan(&mut store, now, text, count), expected, "pattern {}", text);
                }
                Op::Keys { pattern } => {
                    let (text, matches) = PATTERNS[pattern];
                    model.prune(now.mono_ms);
                    let expected: Vec<Bytes> = model.map.keys()
                        .filter(|k| matches(std::str::from_utf8(k).unwrap()))
                        .cloned()
                        .collect();
                    let Reply::Keys { cursor: 0, mut keys } =
                        send(&mut store, now, i as u32, R::Keys { pattern: text.into() })
                    else {
                        panic!("KEYS must reply Keys with cursor 0")
                    };
                    keys.sort();
                    prop_assert_eq!(keys, expected, "KEYS {}", text);
                }
            }
            prop_assert_eq!(store.audit(), Ok(()));
            prop_assert_eq!(store.stats().evicted_keys, 0);
            prop_assert_eq!(store.poll_timeout().is_some(), store.stats().keys_with_ttl > 0);
        }
    }

    #[test]
    fn memory_stays_within_the_limit(
        seed in any::<u64>(),
        policy in prop::sample::select(vec![
            EvictionPolicy::AllKeysLru, EvictionPolicy::VolatileLru, EvictionPolicy::NoEviction,
        ]),
        entries in 1u64..6,
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let max_memory_bytes = entries * entry_bytes(2, 8);
        let config = StoreConfig { default_ttl_ms: Some(DEFAULT_TTL_MS), max_memory_bytes, eviction: policy, ..StoreConfig::default() };
        let mut store = Store::new(config, seed);
        let mut now = Now::at(0);
        for (i, op) in ops.into_iter().enumerate() {
            let evicted_before = store.stats().evicted_keys;
            match op {
                Op::Req(request) => {
                    let reply = send(&mut store, now, i as u32, request);
                    if reply == Reply::Err("OOM: store memory limit reached".into()) {
                        prop_assert_eq!(store.stats().evicted_keys, evicted_before, "OOM must not evict");
                    }
                }
                Op::Advance(ms) => now = now.plus(ms),
                Op::Timeout => store.handle_timeout(now),
                Op::FullScan { pattern, count } => {
                    full_scan(&mut store, now, PATTERNS[pattern].0, count);
                }
                Op::Keys { pattern } => {
                    send(&mut store, now, i as u32, R::Keys { pattern: PATTERNS[pattern].0.into() });
                }
            }
            prop_assert_eq!(store.audit(), Ok(()));
            let stats = store.stats();
            prop_assert!(stats.used_memory_bytes <= stats.max_memory_bytes);
            if policy == EvictionPolicy::NoEviction {
                prop_assert_eq!(stats.evicted_keys, 0);
            }
        }
    }

    #[test]
    fn scan_returns_keys_present_throughout(
        seed in any::<u64>(),
        initial in 0usize..60,
        count in 1u32..12,
        changes in prop::collection::vec((0usize..80, any::<bool>()), 0..200),
    ) {
        let mut store = Store::new(StoreConfig { default_ttl_ms: None, ..StoreConfig::default() }, seed);
        let now = Now::at(0);
        let name = |i: usize| Bytes::from(format!("key{i}"));
        let set = |key| R::Set { key, options: SetOptions::default(), value: Bytes::from_static(b"v") };
        for i in 0..initial {
            send(&mut store, now, 0, set(name(i)));
        }
        let mut touched = BTreeSet::new();
        let mut changes = changes.into_iter();
        let (mut cursor, mut seen) = (0, BTreeSet::new());
        loop {
            let Reply::Keys { cursor: next, keys } =
                send(&mut store, now, 0, R::Scan { cursor, pattern: "*".into(), count })
            else {
                panic!("SCAN must reply Keys")
            };
            seen.extend(keys);
            // Between steps: a few deletes and writes of random keys, old and new.
            for (i, delete) in changes.by_ref().take(3) {
                if delete {
                    touched.insert(name(i));
                }
                send(&mut store, now, 0, if delete { R::Del { key: name(i) } } else { set(name(i)) });
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for i in 0..initial {
            if !touched.contains(&name(i)) {
                prop_assert!(seen.contains(&name(i)), "key{} missed", i);
            }
        }
        prop_assert_eq!(store.audit(), Ok(()));
    }
}
