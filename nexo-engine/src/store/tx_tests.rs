//! Tests of the Store's transactions (WATCH, UNWATCH, EXEC).
//!
//! 1. Scenarios: EXEC runs everything and answers one reply per request, errors do not undo
//!    the others, and each kind of change to a watched key (write, delete, expiry seen or unseen,
//!    eviction, flush) makes EXEC answer NULL and run nothing, while untouched keys do not.
//! 2. A model-based property test: two connections send random requests, WATCHes, UNWATCHes
//!    and EXECs; the reference is `model_tests::Model` plus a reading of "changed since WATCH"
//!    (a request that wrote the key, or a deadline that passed), and every reply must match.

use std::collections::BTreeMap;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::SetOptions;
use nexo_proto::request::StoreRequest as R;
use proptest::prelude::*;

use super::model_tests::{DEFAULT_TTL_MS, Model, key, request};
use super::*;

const A: ConnId = ConnId(1);
const B: ConnId = ConnId(2);

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn set(key: &str, value: &str) -> R {
    R::Set { key: b(key), options: SetOptions { ttl: None, persist: true }, value: b(value) }
}

/// SET key v PX ms.
fn set_px(key: &str, ms: u64) -> R {
    let expiry = nexo_proto::request::Expiry::InMs(ms);
    R::SetExt { key: b(key), nx: false, xx: false, get: false, expiry, value: b("v") }
}

fn watch(keys: &[&str]) -> R {
    R::Watch { keys: keys.iter().map(|k| b(k)).collect() }
}

/// Sends one request as `conn` and returns its only output, a reply to it.
fn send(store: &mut Store, now: Now, conn: ConnId, request: R) -> Reply {
    store.handle_request(now, conn, 7, request);
    let Some(Output::Reply { conn: got_conn, id: 7, reply }) = store.poll_output() else {
        panic!("no reply")
    };
    assert_eq!(got_conn, conn);
    assert!(store.poll_output().is_none(), "one output per request");
    reply
}

fn store() -> Store {
    Store::new(StoreConfig { default_ttl_ms: None, ..StoreConfig::default() }, 9)
}

#[test]
fn exec_runs_everything_and_errors_undo_nothing() {
    let (mut s, now) = (store(), Now::at(0));
    send(&mut s, now, A, set("text", "abc"));
    let commands = vec![
        R::IncrBy { key: b("n"), delta: 1 },
        R::IncrBy { key: b("text"), delta: 1 },
        R::IncrBy { key: b("n"), delta: 1 },
        R::Get { key: b("n") },
    ];
    let reply = send(&mut s, now, A, R::Exec { commands });
    assert_eq!(
        reply,
        Reply::Replies(vec![
            Reply::Int(1),
            Reply::Err("ERR value is not an integer or out of range".into()),
            Reply::Int(2),
            Reply::Data(b("2")),
        ])
    );
    assert_eq!(send(&mut s, now, A, R::Exec { commands: vec![] }), Reply::Replies(vec![]));
    let nested = R::Exec { commands: vec![R::Unwatch] };
    let Reply::Replies(replies) = send(&mut s, now, A, nested) else { panic!("replies") };
    assert!(matches!(&replies[..], [Reply::Err(text)] if text.contains("inside a transaction")));
}

#[test]
fn a_write_by_anyone_to_a_watched_key_aborts_exec() {
    let (mut s, now) = (store(), Now::at(0));
    send(&mut s, now, A, set("k", "1"));
    assert_eq!(send(&mut s, now, A, watch(&["k", "other"])), Reply::Ok);
    send(&mut s, now, B, set("k", "1")); // the same value still counts as a change
    let exec = || R::Exec { commands: vec![set("k", "from A")] };
    assert_eq!(send(&mut s, now, A, exec()), Reply::Null);
    assert_eq!(send(&mut s, now, A, R::Get { key: b("k") }), Reply::Data(b("1")), "nothing ran");
    // The failed EXEC ended the watch: the next one runs.
    assert_eq!(send(&mut s, now, A, exec()), Reply::Replies(vec![Reply::Ok]));
    assert_eq!(s.table.watches.watched_keys_len(), 0);
}

#[test]
fn reads_and_failed_conditional_writes_are_not_changes() {
    let (mut s, now) = (store(), Now::at(0));
    send(&mut s, now, A, set("k", "1"));
    send(&mut s, now, A, watch(&["k", "missing"]));
    send(&mut s, now, B, R::Get { key: b("k") });
    send(&mut s, now, B, R::SetNx { key: b("k"), options: SetOptions::default(), value: b("2") });
    send(&mut s, now, B, R::Del { key: b("missing") });
    send(&mut s, now, B, R::Persist { key: b("k") });
    send(&mut s, now, B, set("elsewhere", "x"));
    send(&mut s, now, B, R::Flush); // "missing" did not exist: untouched; "k" did: touched
    assert_eq!(send(&mut s, now, A, R::Exec { commands: vec![] }), Reply::Null);
    send(&mut s, now, A, watch(&["missing"]));
    send(&mut s, now, B, R::Flush);
    assert_eq!(send(&mut s, now, A, R::Exec { commands: vec![] }), Reply::Replies(vec![]));
}

#[test]
fn expiry_seen_or_unseen_and_unwatch() {
    let (mut s, now) = (store(), Now::at(0));
    send(&mut s, now, A, set_px("t", 100));
    send(&mut s, now, A, watch(&["t"]));
    // Nobody touched the key and no sweep ran: the passed deadline alone is a change.
    assert_eq!(send(&mut s, now.plus(100), A, R::Exec { commands: vec![] }), Reply::Null);
    // A key already expired when watched is as good as missing: its removal is no change.
    send(&mut s, now, A, set_px("t", 100));
    let later = now.plus(200);
    send(&mut s, later, A, watch(&["t"]));
    s.handle_timeout(later);
    assert_eq!(send(&mut s, later, A, R::Exec { commands: vec![] }), Reply::Replies(vec![]));
    // UNWATCH forgets; a disconnect forgets.
    send(&mut s, later, A, watch(&["u"]));
    send(&mut s, later, A, R::Unwatch);
    send(&mut s, later, B, set("u", "1"));
    assert_eq!(send(&mut s, later, A, R::Exec { commands: vec![] }), Reply::Replies(vec![]));
    send(&mut s, later, B, watch(&["u"]));
    s.handle_disconnect(later, B);
    assert_eq!(s.table.watches.watched_keys_len(), 0);
}

#[test]
fn eviction_of_a_watched_key_aborts_exec() {
    let config = StoreConfig {
        default_ttl_ms: None,
        max_memory_bytes: 2 * super::table::entry_bytes(1, 1) + 10,
        ..StoreConfig::default()
    };
    let (mut s, now) = (Store::new(config, 3), Now::at(0));
    send(&mut s, now, A, set("a", "1"));
    send(&mut s, now, A, set("b", "1"));
    send(&mut s, now, A, watch(&["a", "b"]));
    send(&mut s, now, B, set("c", "1")); // evicts a or b
    assert_eq!(s.stats().evicted_keys, 1);
    assert_eq!(send(&mut s, now, A, R::Exec { commands: vec![] }), Reply::Null);
}

#[test]
fn watching_is_bounded() {
    let (mut s, now) = (store(), Now::at(0));
    let many: Vec<Bytes> = (0..=WATCHED_KEYS_MAX).map(|i| Bytes::from(i.to_string())).collect();
    let reply = send(&mut s, now, A, R::Watch { keys: many });
    assert!(matches!(reply, Reply::Err(text) if text.contains("too many watched keys")));
    let long = R::Watch { keys: vec![Bytes::from(vec![b'k'; MAX_KEY_BYTES + 1])] };
    assert_eq!(send(&mut s, now, A, long), Reply::error(StoreError::KeyTooLong));
}

/// Steps of the property test.
#[derive(Debug, Clone)]
enum Op {
    Plain(bool, R),
    Watch(Vec<Bytes>),
    Unwatch,
    Exec(Vec<R>),
    Advance(u64),
    Timeout,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), request()).prop_map(|(by_a, r)| Op::Plain(by_a, r)),
        2 => prop::collection::vec(key(), 1..3).prop_map(Op::Watch),
        1 => Just(Op::Unwatch),
        3 => prop::collection::vec(request(), 0..5).prop_map(Op::Exec),
        2 => prop_oneof![Just(0u64), Just(1_000), 0u64..1_600].prop_map(Op::Advance),
        1 => Just(Op::Timeout),
    ]
}

/// Connection A's watches in the reference: each key with its deadline when watched (a passed
/// deadline is a change), and whether a request changed one.
#[derive(Debug, Default)]
struct Watched {
    keys: BTreeMap<Bytes, Option<u64>>,
    dirty: bool,
}

/// Keys `request` changed: entries that differ, plus keys a successful write stored again
/// (a write of the same value is a change too).
fn changed(
    request: &R,
    before: &BTreeMap<Bytes, (Bytes, Option<u64>)>,
    model: &Model,
    reply: &Reply,
) -> Vec<Bytes> {
    let after = &model.map;
    let mut keys: Vec<Bytes> =
        before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).cloned().collect();
    let stored = |key: &Bytes| after.contains_key(key).then(|| key.clone());
    match request {
        R::Set { key, .. } | R::Append { key, .. } | R::SetExt { key, .. } => {
            let written = match request {
                R::SetExt { nx, xx, .. } => {
                    !((*nx && before.contains_key(key)) || (*xx && !before.contains_key(key)))
                }
                _ => true,
            };
            keys.extend(stored(key).filter(|_| written));
        }
        R::SetNx { key, .. } if *reply == Reply::Flag(true) => keys.push(key.clone()),
        R::IncrBy { key, .. } if matches!(reply, Reply::Int(_)) => keys.push(key.clone()),
        R::MSet { pairs, .. } => keys.extend(pairs.iter().map(|(k, _)| k.clone())),
        // RENAME of a key onto itself changes nothing (Redis signals no change either).
        R::Rename { key, new_key } if *reply == Reply::Ok && key != new_key => {
            keys.extend([key.clone(), new_key.clone()]);
        }
        _ => {}
    }
    keys
}

/// Applies a plain request to the model, marking A's watches dirty when it changed a watched key.
fn apply(model: &mut Model, watched: &mut Watched, now: u64, request: &R) -> Reply {
    model.prune(now);
    let before = model.map.clone();
    let reply = model.apply(now, request);
    if changed(request, &before, model, &reply).iter().any(|k| watched.keys.contains_key(k)) {
        watched.dirty = true;
    }
    reply
}

fn exec(model: &mut Model, watched: &mut Watched, now: u64, commands: &[R]) -> Reply {
    let expired = watched.keys.values().any(|d| d.is_some_and(|d| d <= now));
    let aborted = watched.dirty || expired;
    *watched = Watched::default();
    if aborted {
        return Reply::Null;
    }
    let mut ignore = Watched::default();
    Reply::Replies(commands.iter().map(|c| apply(model, &mut ignore, now, c)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn transactions_match_the_model(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..60)) {
        let config = StoreConfig { default_ttl_ms: Some(DEFAULT_TTL_MS), ..StoreConfig::default() };
        let mut store = Store::new(config, seed);
        let (mut model, mut watched, mut now) = (Model::default(), Watched::default(), Now::at(0));
        for op in ops {
            let t = now.mono_ms;
            match op {
                Op::Plain(by_a, request) => {
                    let expected = apply(&mut model, &mut watched, t, &request);
                    let got = send(&mut store, now, if by_a { A } else { B }, request.clone());
                    prop_assert_eq!(got, expected, "{:?} at {}", request, t);
                }
                Op::Watch(keys) => {
                    model.prune(t);
                    for key in &keys {
                        let deadline = model.map.get(key).and_then(|(_, d)| *d);
                        watched.keys.entry(key.clone()).or_insert(deadline);
                    }
                    prop_assert_eq!(send(&mut store, now, A, R::Watch { keys }), Reply::Ok);
                }
                Op::Unwatch => {
                    watched = Watched::default();
                    prop_assert_eq!(send(&mut store, now, A, R::Unwatch), Reply::Ok);
                }
                Op::Exec(commands) => {
                    let expected = exec(&mut model, &mut watched, t, &commands);
                    let got = send(&mut store, now, A, R::Exec { commands: commands.clone() });
                    prop_assert_eq!(got, expected, "EXEC {:?} at {}", commands, t);
                }
                Op::Advance(ms) => now = now.plus(ms),
                Op::Timeout => store.handle_timeout(now),
            }
            prop_assert_eq!(store.audit(), Ok(()));
        }
    }
}
