//! Model-based property test: random create / delete / push / consume / ack / nack / extend /
//! DLQ / purge / time / disconnect / restart steps run on the broker (storage persisting after
//! every input, compacting often, restarts replaying the journal) and on a naive model (messages in a map, orders
//! recomputed by sorting, events processed instant by instant). Every step's replies must match.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use nexo_proto::Reply;
use nexo_proto::options::QueueOptions;
use nexo_proto::request::QueueRequest;
use proptest::prelude::*;

use super::{Harness, Out};
use crate::queue::QueueConfig;

const NAMES: [&str; 2] = ["a", "b"];
const FAKE_ID: [u8; 16] = [0xEE; 16];

#[derive(Debug, Clone)]
enum Op {
    Create { q: usize, vis: u64, retries: u32 },
    Delete { q: usize },
    Push { conn: u64, q: usize, prio: u8, delay: u64 },
    Consume { conn: u64, q: usize, batch: u32, wait: u64 },
    Ack { conn: u64, q: usize, pick: usize, owner: bool },
    Nack { conn: u64, q: usize, pick: usize, owner: bool, delay: u64 },
    Extend { conn: u64, q: usize, pick: usize, owner: bool, ms: u64 },
    PeekDlq { q: usize },
    Move { q: usize, pick: usize },
    Purge { q: usize },
    Advance(u64),
    Disconnect(u64),
    Restart,
}

/// A reply with message ids replaced by labels (the payload of every message is its label).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum N {
    Ok,
    Err(String),
    Msgs(Vec<u32>),
    Dlq(u32, Vec<(u32, u32, String)>),
    Flag(bool),
    Count(u32),
}

fn label(payload: &[u8]) -> u32 {
    u32::from_le_bytes(payload.try_into().unwrap())
}

#[derive(Debug, Clone)]
enum St {
    Ready(u64),
    Delayed(u64, u64),
    Leased { conn: u64, deadline: u64, no: u64 },
    Dead(u64, String),
}

#[derive(Debug, Clone)]
struct Msg {
    prio: u8,
    attempts: u32,
    st: St,
}

#[derive(Debug, Clone)]
struct Waiter {
    no: u64,
    conn: u64,
    id: u32,
    batch: u32,
    deadline: u64,
}

#[derive(Debug)]
struct MQueue {
    vis: u64,
    retries: u32,
    msgs: BTreeMap<u32, Msg>,
    waiters: Vec<Waiter>,
}

#[derive(Debug, Default)]
struct Model {
    now: u64,
    queues: BTreeMap<String, MQueue>,
    counter: u64,
}

impl MQueue {
    fn ready(&self) -> Vec<u32> {
        let mut ready: Vec<_> = self
            .msgs
            .iter()
            .filter_map(|(&l, m)| match m.st {
                St::Ready(order) => Some((Reverse(m.prio), order, l)),
                _ => None,
            })
            .collect();
        ready.sort_unstable();
        ready.into_iter().map(|(.., l)| l).collect()
    }

    fn holder(&self, label: u32) -> Option<u64> {
        match self.msgs.get(&label)?.st {
            St::Leased { conn, .. } => Some(conn),
            _ => None,
        }
    }
}

impl Model {
    fn tick(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    fn deliver(&mut self, name: &str, conn: u64, batch: u32) -> Vec<u32> {
        let now = self.now;
        let ready = self.queues[name].ready();
        let mut out = Vec::new();
        for l in ready.into_iter().take(batch as usize) {
            let no = self.tick();
            let q = self.queues.get_mut(name).unwrap();
            let deadline = now + q.vis;
            let m = q.msgs.get_mut(&l).unwrap();
            m.attempts += 1;
            m.st = St::Leased { conn, deadline, no };
            out.push(l);
        }
        out
    }

    fn serve(&mut self, out: &mut Vec<(u64, u32, N)>) {
        let names: Vec<String> = self.queues.keys().cloned().collect();
        for name in names {
            while !self.queues[&name].waiters.is_empty() && !self.queues[&name].ready().is_empty() {
                let w = self.queues.get_mut(&name).unwrap().waiters.remove(0);
                let msgs = self.deliver(&name, w.conn, w.batch);
                out.push((w.conn, w.id, N::Msgs(msgs)));
            }
        }
    }

    fn fail(&mut self, name: &str, l: u32, reason: &str, delay: u64) {
        let order = self.tick();
        let now = self.now;
        let q = self.queues.get_mut(name).unwrap();
        let retries = q.retries;
        let m = q.msgs.get_mut(&l).unwrap();
        m.st = if m.attempts >= retries {
            St::Dead(order, reason.to_owned())
        } else if delay > 0 {
            St::Delayed(now + delay, order)
        } else {
            St::Ready(order)
        };
    }

    fn next_event(&self) -> Option<u64> {
        let mut next = None::<u64>;
        let mut see = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        for q in self.queues.values() {
            for m in q.msgs.values() {
                match m.st {
                    St::Leased { deadline, .. } => see(deadline),
                    St::Delayed(due, _) => see(due),
                    _ => {}
                }
            }
            q.waiters.iter().for_each(|w| see(w.deadline));
        }
        next
    }

    fn advance(&mut self, ms: u64, out: &mut Vec<(u64, u32, N)>) {
        let target = self.now + ms;
        while let Some(t) = self.next_event().filter(|&t| t <= target) {
            self.now = self.now.max(t);
            self.events_at(out);
        }
        self.now = target;
    }

    /// Everything due at `now`, in the broker's timer order: lease expiries by lease number,
    /// then delays ending (queue by queue), then long-poll deadlines by arrival.
    fn events_at(&mut self, out: &mut Vec<(u64, u32, N)>) {
        let now = self.now;
        let mut expiries: Vec<(u64, String, u32)> = Vec::new();
        for (name, q) in &self.queues {
            for (&l, m) in &q.msgs {
                if let St::Leased { deadline, no, .. } = m.st
                    && deadline <= now
                {
                    expiries.push((no, name.clone(), l));
                }
            }
        }
        expiries.sort();
        for (_, name, l) in expiries {
            self.fail(&name, l, "Timeout", 0);
            self.serve(out);
        }
        let names: Vec<String> = self.queues.keys().cloned().collect();
        for name in &names {
            let q = &self.queues[name];
            let mut due: Vec<(u64, u64, u32)> = q
                .msgs
                .iter()
                .filter_map(|(&l, m)| match m.st {
                    St::Delayed(d, order) if d <= now => Some((d, order, l)),
                    _ => None,
                })
                .collect();
            due.sort_unstable();
            for (_, _, l) in due {
                let order = self.tick();
                self.queues.get_mut(name).unwrap().msgs.get_mut(&l).unwrap().st = St::Ready(order);
            }
            self.serve(out);
        }
        let mut parks: Vec<(u64, String)> = Vec::new();
        for (name, q) in &self.queues {
            parks.extend(q.waiters.iter().filter(|w| w.deadline <= now).map(|w| (w.no, name.clone())));
        }
        parks.sort();
        for (no, name) in parks {
            let q = self.queues.get_mut(&name).unwrap();
            let at = q.waiters.iter().position(|w| w.no == no).unwrap();
            let w = q.waiters.remove(at);
            out.push((w.conn, w.id, N::Msgs(Vec::new())));
        }
    }

    /// Leases of `conn` (every connection when `None`) are ready again, oldest lease first.
    fn release(&mut self, conn: Option<u64>) {
        let mut leases: Vec<(u64, String, u32)> = Vec::new();
        for (name, q) in &self.queues {
            for (&l, m) in &q.msgs {
                if let St::Leased { conn: c, no, .. } = m.st
                    && conn.is_none_or(|conn| conn == c)
                {
                    leases.push((no, name.clone(), l));
                }
            }
        }
        leases.sort();
        for (_, name, l) in leases {
            let order = self.tick();
            self.queues.get_mut(&name).unwrap().msgs.get_mut(&l).unwrap().st = St::Ready(order);
        }
    }

    fn not_found(name: &str) -> N {
        N::Err(format!("Queue '{name}' not found"))
    }
}

fn normalize(outs: Vec<Out>, ids: &mut HashMap<u32, [u8; 16]>) -> Vec<(u64, u32, N)> {
    let mut out: Vec<_> = outs
        .into_iter()
        .map(|(conn, id, reply)| {
            let n = match reply {
                Reply::Ok => N::Ok,
                Reply::Err(text) => N::Err(text),
                Reply::Flag(f) => N::Flag(f),
                Reply::Count(c) => N::Count(c),
                Reply::QueueMessages(ms) => N::Msgs(
                    ms.iter()
                        .map(|m| {
                            ids.insert(label(&m.payload), m.id);
                            label(&m.payload)
                        })
                        .collect(),
                ),
                Reply::DlqPage { total, messages } => N::Dlq(
                    total,
                    messages.iter().map(|m| (label(&m.payload), m.attempts, m.reason.clone())).collect(),
                ),
                other => panic!("unexpected reply {other:?}"),
            };
            (conn, id, n)
        })
        .collect();
    out.sort();
    out
}

struct Run {
    h: Harness,
    m: Model,
    ids: HashMap<u32, [u8; 16]>,
    labels: u32,
}

impl Run {
    /// Resolves a pick to a label, its id (or a fake one when never delivered) and the conn to
    /// use (the lease holder when `owner`).
    fn pick(&self, q: usize, pick: usize, conn: u64, owner: bool) -> Option<(u32, [u8; 16], u64)> {
        if self.labels == 0 {
            return None;
        }
        let l = (pick % self.labels as usize) as u32;
        let id = self.ids.get(&l).copied().unwrap_or(FAKE_ID);
        let holder = self.m.queues.get(NAMES[q]).and_then(|mq| mq.holder(l));
        Some((l, id, if owner { holder.unwrap_or(conn) } else { conn }))
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let mut expected = Vec::new();
        let outs = match op {
            Op::Create { .. } | Op::Delete { .. } | Op::Purge { .. } => self.queue_step(op, &mut expected),
            Op::Push { .. } | Op::Consume { .. } => self.traffic_step(op, &mut expected),
            Op::Ack { .. } | Op::Nack { .. } | Op::Extend { .. } => self.message_step(op, &mut expected),
            Op::PeekDlq { .. } | Op::Move { .. } => self.dlq_step(op, &mut expected),
            Op::Advance(_) | Op::Disconnect(_) | Op::Restart => self.time_step(op, &mut expected),
        };
        let Some(outs) = outs else { return Ok(()) };
        let actual = normalize(outs, &mut self.ids);
        expected.sort();
        prop_assert_eq!(actual, expected, "after {:?}", op);
        Ok(())
    }

    /// Create, DELETE and PURGE.
    fn queue_step(&mut self, op: &Op, expected: &mut Vec<(u64, u32, N)>) -> Option<Vec<Out>> {
        let outs = match *op {
            Op::Create { q, vis, retries } => {
                let options = QueueOptions {
                    visibility_timeout_ms: Some(vis),
                    max_retries: Some(retries),
                    ..Default::default()
                };
                let outs = self.h.create_with(1, NAMES[q], options);
                self.m.queues.entry(NAMES[q].to_owned()).or_insert_with(|| MQueue {
                    vis,
                    retries,
                    msgs: BTreeMap::new(),
                    waiters: Vec::new(),
                });
                expected.push((1, self.h.last_id(), N::Ok));
                outs
            }
            Op::Delete { q } => {
                let outs = self.h.send(1, QueueRequest::Delete { name: NAMES[q].into() });
                if let Some(mq) = self.m.queues.remove(NAMES[q]) {
                    expected.extend(mq.waiters.iter().map(|w| (w.conn, w.id, N::Msgs(Vec::new()))));
                }
                expected.push((1, self.h.last_id(), N::Ok));
                outs
            }
            Op::Purge { q } => {
                let outs = self.h.send(1, QueueRequest::Purge { name: NAMES[q].into() });
                let reply = match self.m.queues.get_mut(NAMES[q]) {
                    None => Model::not_found(NAMES[q]),
                    Some(mq) => {
                        let before = mq.msgs.len();
                        mq.msgs.retain(|_, m| matches!(m.st, St::Leased { .. } | St::Dead(..)));
                        N::Count((before - mq.msgs.len()) as u32)
                    }
                };
                expected.push((1, self.h.last_id(), reply));
                outs
            }
            _ => unreachable!(),
        };
        Some(outs)
    }

    /// PUSH and CONSUME.
    fn traffic_step(&mut self, op: &Op, expected: &mut Vec<(u64, u32, N)>) -> Option<Vec<Out>> {
        let outs = match *op {
            Op::Push { conn, q, prio, delay } => {
                let l = self.labels;
                let outs = self.h.push_with(conn, NAMES[q], &l.to_le_bytes(), prio, delay);
                let id = self.h.last_id();
                let order = self.m.tick();
                let now = self.m.now;
                match self.m.queues.get_mut(NAMES[q]) {
                    None => expected.push((
                        conn,
                        id,
                        N::Err(format!("Queue '{}' not found. Create it first.", NAMES[q])),
                    )),
                    Some(mq) => {
                        self.labels += 1;
                        let st = if delay > 0 { St::Delayed(now + delay, order) } else { St::Ready(order) };
                        mq.msgs.insert(l, Msg { prio, attempts: 0, st });
                        expected.push((conn, id, N::Ok));
                        self.m.serve(expected);
                    }
                }
                outs
            }
            Op::Consume { conn, q, batch, wait } => {
                let outs = self.h.consume(conn, NAMES[q], batch, wait);
                let id = self.h.last_id();
                match self.m.queues.get(NAMES[q]) {
                    None => expected.push((conn, id, Model::not_found(NAMES[q]))),
                    Some(mq) if mq.ready().is_empty() && wait > 0 => {
                        let no = self.m.tick();
                        let deadline = self.m.now + wait;
                        let w = Waiter { no, conn, id, batch, deadline };
                        self.m.queues.get_mut(NAMES[q]).unwrap().waiters.push(w);
                    }
                    Some(_) => {
                        let msgs = self.m.deliver(NAMES[q], conn, batch);
                        expected.push((conn, id, N::Msgs(msgs)));
                    }
                }
                outs
            }
            _ => unreachable!(),
        };
        Some(outs)
    }

    /// ACK, NACK and EXTEND of one message (a pick).
    fn message_step(&mut self, op: &Op, expected: &mut Vec<(u64, u32, N)>) -> Option<Vec<Out>> {
        let outs = match *op {
            Op::Ack { conn, q, pick, owner } => {
                let (l, msg_id, conn) = self.pick(q, pick, conn, owner)?;
                let outs = self.h.ack(conn, NAMES[q], msg_id);
                let reply = match self.m.queues.get_mut(NAMES[q]) {
                    None => Model::not_found(NAMES[q]),
                    Some(mq) if mq.holder(l) == Some(conn) && msg_id != FAKE_ID => {
                        mq.msgs.remove(&l);
                        N::Ok
                    }
                    Some(_) => N::Err("ACK failed".into()),
                };
                expected.push((conn, self.h.last_id(), reply));
                outs
            }
            Op::Nack { conn, q, pick, owner, delay } => {
                let (l, msg_id, conn) = self.pick(q, pick, conn, owner)?;
                let reason = format!("r{l}");
                let request = QueueRequest::NackDelay {
                    id: msg_id,
                    name: NAMES[q].into(),
                    reason: reason.clone(),
                    delay_ms: delay,
                };
                let outs = self.h.send(conn, request);
                let reply = match self.m.queues.get(NAMES[q]) {
                    None => Model::not_found(NAMES[q]),
                    Some(mq) if mq.holder(l) == Some(conn) && msg_id != FAKE_ID => {
                        self.m.fail(NAMES[q], l, &reason, delay);
                        N::Ok
                    }
                    Some(_) => N::Err("NACK failed".into()),
                };
                expected.push((conn, self.h.last_id(), reply));
                self.m.serve(expected);
                outs
            }
            Op::Extend { conn, q, pick, owner, ms } => {
                let (l, msg_id, conn) = self.pick(q, pick, conn, owner)?;
                let outs = self.h.send(conn, QueueRequest::Extend { id: msg_id, name: NAMES[q].into(), ms });
                let now = self.m.now;
                let reply = match self.m.queues.get_mut(NAMES[q]) {
                    None => Model::not_found(NAMES[q]),
                    Some(mq) if mq.holder(l) == Some(conn) && msg_id != FAKE_ID => {
                        if let St::Leased { deadline, .. } = &mut mq.msgs.get_mut(&l).unwrap().st {
                            *deadline = now + ms;
                        }
                        N::Ok
                    }
                    Some(_) => N::Err("EXTEND failed".into()),
                };
                expected.push((conn, self.h.last_id(), reply));
                outs
            }
            _ => unreachable!(),
        };
        Some(outs)
    }

    /// The DLQ: peek and move.
    fn dlq_step(&mut self, op: &Op, expected: &mut Vec<(u64, u32, N)>) -> Option<Vec<Out>> {
        let outs = match *op {
            Op::PeekDlq { q } => {
                let outs =
                    self.h.send(9, QueueRequest::PeekDlq { name: NAMES[q].into(), limit: 100, offset: 0 });
                let reply = match self.m.queues.get(NAMES[q]) {
                    None => Model::not_found(NAMES[q]),
                    Some(mq) => {
                        let mut dead: Vec<_> = mq
                            .msgs
                            .iter()
                            .filter_map(|(&l, m)| match &m.st {
                                St::Dead(order, reason) => {
                                    Some((Reverse(*order), (l, m.attempts, reason.clone())))
                                }
                                _ => None,
                            })
                            .collect();
                        dead.sort();
                        N::Dlq(dead.len() as u32, dead.into_iter().map(|(_, d)| d).collect())
                    }
                };
                expected.push((9, self.h.last_id(), reply));
                outs
            }
            Op::Move { q, pick } => {
                let (l, msg_id, _) = self.pick(q, pick, 1, false)?;
                let outs = self.h.send(1, QueueRequest::MoveToQueue { name: NAMES[q].into(), id: msg_id });
                let order = self.m.tick();
                let reply = match self.m.queues.get_mut(NAMES[q]) {
                    None => Model::not_found(NAMES[q]),
                    Some(mq) => match mq.msgs.get_mut(&l) {
                        Some(m) if matches!(m.st, St::Dead(..)) && msg_id != FAKE_ID => {
                            m.attempts = 0;
                            m.st = St::Ready(order);
                            N::Flag(true)
                        }
                        _ => N::Flag(false),
                    },
                };
                expected.push((1, self.h.last_id(), reply));
                self.m.serve(expected);
                outs
            }
            _ => unreachable!(),
        };
        Some(outs)
    }

    /// Time, connections closing and restarts.
    fn time_step(&mut self, op: &Op, expected: &mut Vec<(u64, u32, N)>) -> Option<Vec<Out>> {
        let outs = match *op {
            Op::Advance(ms) => {
                let outs = self.h.advance(ms);
                self.m.advance(ms, expected);
                outs
            }
            Op::Disconnect(conn) => {
                let outs = self.h.disconnect(conn);
                for mq in self.m.queues.values_mut() {
                    mq.waiters.retain(|w| w.conn != conn);
                }
                self.m.release(Some(conn));
                self.m.serve(expected);
                outs
            }
            Op::Restart => {
                let outs = self.h.restart();
                for mq in self.m.queues.values_mut() {
                    mq.waiters.clear();
                }
                self.m.release(None);
                outs
            }
            _ => unreachable!(),
        };
        Some(outs)
    }
}

fn op() -> impl Strategy<Value = Op> {
    let q = 0..NAMES.len();
    let conn = 1..4u64;
    prop_oneof![
        1 => (q.clone(), 20..300u64, 0..4u32).prop_map(|(q, vis, retries)| Op::Create { q, vis, retries }),
        1 => q.clone().prop_map(|q| Op::Delete { q }),
        6 => (conn.clone(), q.clone(), 0..3u8, prop_oneof![3 => Just(0u64), 1 => 1..300u64])
            .prop_map(|(conn, q, prio, delay)| Op::Push { conn, q, prio, delay }),
        5 => (conn.clone(), q.clone(), 1..4u32, prop_oneof![Just(0u64), 1..300u64])
            .prop_map(|(conn, q, batch, wait)| Op::Consume { conn, q, batch, wait }),
        4 => (conn.clone(), q.clone(), any::<usize>(), any::<bool>())
            .prop_map(|(conn, q, pick, owner)| Op::Ack { conn, q, pick, owner }),
        3 => (conn.clone(), q.clone(), any::<usize>(), any::<bool>(), prop_oneof![Just(0u64), 1..200u64])
            .prop_map(|(conn, q, pick, owner, delay)| Op::Nack { conn, q, pick, owner, delay }),
        1 => (conn.clone(), q.clone(), any::<usize>(), any::<bool>(), 1..400u64)
            .prop_map(|(conn, q, pick, owner, ms)| Op::Extend { conn, q, pick, owner, ms }),
        1 => q.clone().prop_map(|q| Op::PeekDlq { q }),
        1 => (q.clone(), any::<usize>()).prop_map(|(q, pick)| Op::Move { q, pick }),
        1 => q.prop_map(|q| Op::Purge { q }),
        4 => (0..400u64).prop_map(Op::Advance),
        1 => conn.prop_map(Op::Disconnect),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn broker_matches_the_model(ops in proptest::collection::vec(op(), 1..150)) {
        // A tiny compaction threshold: snapshots are written often and restarts replay them.
        let config = QueueConfig { compact_min_bytes: 250, ..QueueConfig::default() };
        let mut run = Run { h: Harness::with(config), m: Model::default(), ids: HashMap::new(), labels: 0 };
        // Both queues usually exist, so most steps do something.
        for q in 0..NAMES.len() {
            run.step(&Op::Create { q, vis: 100, retries: 2 })?;
        }
        for op in &ops {
            run.step(op)?;
        }
    }
}
