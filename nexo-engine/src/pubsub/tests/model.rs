//! Model-based property test: random subscribe / unsubscribe / publish / disconnect / time steps
//! run on the broker and on a naive model (patterns kept as strings, matched with the reference
//! matcher, retained messages in a sorted map); the outputs must be identical.

use std::collections::{BTreeMap, BTreeSet};

use nexo_proto::Reply;
use nexo_proto::options::PublishOptions;
use proptest::prelude::*;

use super::{Harness, Out};
use crate::pubsub::topic::{SHARE_PREFIX, matches};

const DEFAULT_TTL_MS: u64 = 3_000;

#[derive(Debug, Clone)]
enum Op {
    Sub(u64, String),
    Unsub(u64, String),
    Pub { conn: u64, topic: String, retain: bool, ttl: Option<u64>, persist: bool, payload: Vec<u8> },
    Disconnect(u64),
    Advance(u64),
}

struct Group {
    name: String,
    filter: String,
    members: Vec<u64>,
    next: usize,
}

struct Retained {
    topic: String,
    payload: Vec<u8>,
    expires_at: Option<u64>,
}

#[derive(Default)]
struct Model {
    now: u64,
    subs: BTreeMap<u64, BTreeSet<String>>,
    /// In creation order.
    groups: Vec<Group>,
    /// Keyed by levels, which is the order the broker delivers retained messages in.
    retained: BTreeMap<Vec<String>, Retained>,
}

fn levels(topic: &str) -> Vec<String> {
    topic.split('/').map(str::to_owned).collect()
}

impl Model {
    fn subscribe(&mut self, conn: u64, id: u32, s: &str, out: &mut Vec<Out>) {
        let fresh = self.subs.entry(conn).or_default().insert(s.to_owned());
        out.push(Out::Reply(conn, id, Reply::Ok));
        if let Some(rest) = s.strip_prefix(SHARE_PREFIX) {
            let (_, filter) = rest.split_once('/').unwrap();
            if fresh {
                match self.groups.iter_mut().find(|g| g.name == s) {
                    Some(group) => group.members.push(conn),
                    None => self.groups.push(Group {
                        name: s.to_owned(),
                        filter: filter.to_owned(),
                        members: vec![conn],
                        next: 0,
                    }),
                }
            }
            return;
        }
        for r in self.retained.values() {
            if r.expires_at.is_none_or(|at| self.now < at) && matches(s, &r.topic) {
                out.push(Out::Push(conn, r.topic.clone(), r.payload.clone()));
            }
        }
    }

    fn unsubscribe(&mut self, conn: u64, s: &str) {
        let Some(subs) = self.subs.get_mut(&conn) else { return };
        if !subs.remove(s) {
            return;
        }
        if let Some(g) = self.groups.iter().position(|g| g.name == s) {
            let group = &mut self.groups[g];
            let index = group.members.iter().position(|&m| m == conn).unwrap();
            group.members.remove(index);
            if index < group.next {
                group.next -= 1;
            }
            if group.next >= group.members.len() {
                group.next = 0;
            }
            if group.members.is_empty() {
                self.groups.remove(g);
            }
        }
    }

    fn publish(&mut self, topic: &str, options: PublishOptions, payload: &[u8], out: &mut Vec<Out>) {
        if options.retain {
            if payload.is_empty() {
                self.retained.remove(&levels(topic));
            } else {
                let ttl = match (options.persist, options.ttl) {
                    (true, _) => None,
                    (false, Some(s)) if s > 0 => Some(s * 1000),
                    _ => Some(DEFAULT_TTL_MS),
                };
                let r = Retained {
                    topic: topic.to_owned(),
                    payload: payload.to_vec(),
                    expires_at: ttl.map(|t| self.now + t),
                };
                self.retained.insert(levels(topic), r);
            }
        }
        for (&conn, subs) in &self.subs {
            if subs.iter().any(|s| !s.starts_with(SHARE_PREFIX) && matches(s, topic)) {
                out.push(Out::Push(conn, topic.to_owned(), payload.to_vec()));
            }
        }
        for group in self.groups.iter_mut().filter(|g| matches(&g.filter, topic)) {
            let member = group.members[group.next];
            group.next = (group.next + 1) % group.members.len();
            out.push(Out::Push(member, topic.to_owned(), payload.to_vec()));
        }
    }
}

fn topic() -> impl Strategy<Value = String> {
    let level = prop_oneof![Just("a"), Just("b"), Just("")];
    prop::collection::vec(level, 1..4).prop_map(|v| v.join("/"))
}

fn subscription() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => Just("a"), 2 => Just("b"), 1 => Just(""), 2 => Just("+")];
    let pattern =
        (prop::collection::vec(level, 0..3), any::<bool>()).prop_filter_map("non-empty", |(mut v, hash)| {
            if hash {
                v.push("#");
            }
            // `[""]` joins to the empty pattern, which is invalid.
            Some(v.join("/")).filter(|p| !p.is_empty())
        });
    let share = prop_oneof![4 => Just(None), 1 => Just(Some("g1")), 1 => Just(Some("g2"))];
    (share, pattern).prop_map(|(share, p)| match share {
        Some(group) => format!("{SHARE_PREFIX}{group}/{p}"),
        None => p,
    })
}

fn op() -> impl Strategy<Value = Op> {
    let conn = 1..5u64;
    let ttl = prop_oneof![Just(None), Just(Some(0)), Just(Some(1)), Just(Some(2))];
    prop_oneof![
        4 => (conn.clone(), subscription()).prop_map(|(c, s)| Op::Sub(c, s)),
        2 => (conn.clone(), subscription()).prop_map(|(c, s)| Op::Unsub(c, s)),
        6 => (conn.clone(), topic(), any::<bool>(), ttl, prop::bool::weighted(0.2), 0..3u8).prop_map(
            |(conn, topic, retain, ttl, persist, len)| Op::Pub {
                conn, topic, retain, ttl, persist, payload: vec![len; usize::from(len)],
            }
        ),
        1 => conn.prop_map(Op::Disconnect),
        1 => (0..2500u64).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn broker_matches_naive_model(ops in prop::collection::vec(op(), 1..40)) {
        let config = crate::pubsub::PubSubConfig {
            retained_default_ttl_ms: Some(DEFAULT_TTL_MS),
            ..Default::default()
        };
        let mut h = Harness::with(config);
        let mut model = Model::default();
        for op in &ops {
            let mut want = Vec::new();
            let got = match op.clone() {
                Op::Sub(conn, s) => {
                    let got = h.sub(conn, &s);
                    model.subscribe(conn, h.last_id(), &s, &mut want);
                    got
                }
                Op::Unsub(conn, s) => {
                    let got = h.unsub(conn, &s);
                    model.unsubscribe(conn, &s);
                    want.push(Out::Reply(conn, h.last_id(), Reply::Ok));
                    got
                }
                Op::Pub { conn, topic, retain, ttl, persist, payload } => {
                    let options = PublishOptions { retain, ttl, persist };
                    let got = h.publish_with(conn, &topic, options, &payload);
                    if topic.is_empty() {
                        want.push(Out::Reply(conn, h.last_id(), Reply::Err("Invalid topic: empty".into())));
                    } else if retain {
                        // Answered once its record is durable: live pushes to the other
                        // connections go out first; the publisher's own push waits behind its
                        // reply.
                        let mut pushes = Vec::new();
                        model.publish(&topic, options, &payload, &mut pushes);
                        let (own, others): (Vec<_>, Vec<_>) =
                            pushes.into_iter().partition(|p| matches!(p, Out::Push(c, ..) if *c == conn));
                        want.extend(others);
                        want.push(Out::Reply(conn, h.last_id(), Reply::Ok));
                        want.extend(own);
                    } else {
                        want.push(Out::Reply(conn, h.last_id(), Reply::Ok));
                        model.publish(&topic, options, &payload, &mut want);
                    }
                    got
                }
                Op::Disconnect(conn) => {
                    let got = h.disconnect(conn);
                    for s in model.subs.remove(&conn).unwrap_or_default() {
                        model.subs.entry(conn).or_default().insert(s.clone());
                        model.unsubscribe(conn, &s);
                    }
                    model.subs.remove(&conn);
                    got
                }
                Op::Advance(ms) => {
                    model.now += ms;
                    h.advance(ms)
                }
            };
            prop_assert_eq!(got, want, "after {:?}", op);
            let live = model.retained.values().filter(|r| r.expires_at.is_none_or(|at| model.now < at)).count();
            // The broker removes expired messages on its timer; the model filters lazily.
            prop_assert!(h.ps.stats().retained as usize >= live);
        }
        for conn in 1..5 {
            h.disconnect(conn);
        }
        prop_assert!(h.ps.tree.is_empty());
        prop_assert_eq!(h.ps.tree.node_count(), 1);
        prop_assert_eq!(h.ps.stats().shared_groups, 0);
        prop_assert!(h.ps.conns.is_empty());
        // A restart recovers exactly the live retained set from the journal.
        h.restart();
        let got: Vec<_> = h
            .ps
            .retained
            .matching("#", h.now.mono_ms)
            .iter()
            .map(|m| (m.topic.to_string(), m.payload().to_vec()))
            .collect();
        let want: Vec<_> = model
            .retained
            .values()
            .filter(|r| r.expires_at.is_none_or(|at| model.now < at))
            .map(|r| (r.topic.clone(), r.payload.clone()))
            .collect();
        prop_assert_eq!(got, want);
    }
}
