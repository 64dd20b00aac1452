//! Model-based property test: random publish / join / fetch / ack / ack batch / nack / leave /
//! disconnect / seek / replay / time / restart steps run on the broker (storage persisting after every input,
//! a tiny cache so older messages come from reads, frequent compaction, restarts replaying the
//! journal) and on a naive model of one topic's groups (plain sets, events processed instant by
//! instant). Every step's replies must match.

use std::collections::{BTreeMap, BTreeSet};

use nexo_proto::Reply;
use nexo_proto::request::StreamRequest;
use proptest::prelude::*;

use super::{Harness, M, Out, ok};
use crate::stream::StreamConfig;

const GROUPS: [&str; 2] = ["g1", "g2"];
const ACK_WAIT: u64 = 100;
const MAX_DELIVERIES: u32 = 2;
const MAX_PENDING: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Publish,
    Join { conn: u64, group: usize },
    Fetch { member: usize, limit: u32, wait: u32 },
    Ack { member: usize, pick: usize, own: bool, stale: bool },
    AckBatch { member: usize, picks: Vec<usize>, own: bool, stale: bool },
    Nack { member: usize, pick: usize, own: bool, delay: u64 },
    Leave { member: usize },
    Disconnect(u64),
    Seek { group: usize, target: u8 },
    SeekSeq { group: usize, seq: u64 },
    Replay { group: usize },
    Advance(u64),
    Restart,
}

/// A reply with consumer ids left out and payloads checked against their sequence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum N {
    Ok,
    Err(String),
    Seq(u64),
    Count(u32),
    Msgs(Vec<u64>),
    Joined(u64, u64),
}

#[derive(Debug, Clone)]
struct Waiter {
    no: u64,
    conn: u64,
    id: u32,
    member: usize,
    limit: u32,
    deadline: u64,
}

#[derive(Debug, Default)]
struct MGroup {
    generation: u64,
    floor: u64,
    cursor: u64,
    done: BTreeSet<u64>,
    /// seq → (member, deliveries, deadline)
    pending: BTreeMap<u64, (usize, u32, u64)>,
    retry: BTreeMap<u64, u32>,
    /// seq → (deliveries, due)
    delayed: BTreeMap<u64, (u32, u64)>,
    dlq: BTreeMap<u64, u32>,
    replaying: BTreeSet<u64>,
    members: BTreeSet<usize>,
    waiters: Vec<Waiter>,
}

impl MGroup {
    fn new(generation: u64, floor: u64) -> Self {
        Self { generation, floor, cursor: floor + 1, ..Self::default() }
    }

    fn placed(&self, s: u64) -> bool {
        self.done.contains(&s)
            || self.pending.contains_key(&s)
            || self.retry.contains_key(&s)
            || self.delayed.contains_key(&s)
    }

    fn next_new(&self, end: u64) -> Option<u64> {
        (self.cursor.max(self.floor + 1)..end).find(|&s| !self.placed(s))
    }

    fn mark_done(&mut self, seq: u64) {
        if seq <= self.floor {
            self.replaying.remove(&seq);
            return;
        }
        self.done.insert(seq);
        while self.done.remove(&(self.floor + 1)) {
            self.floor += 1;
        }
    }

    /// Picks and delivers up to the room left; `None` when nothing can go out.
    fn deliver(&mut self, member: usize, limit: u32, end: u64, now: u64) -> Option<Vec<u64>> {
        let room = MAX_PENDING.saturating_sub(self.pending.len()).min(limit.clamp(1, 1000) as usize);
        if room == 0 || (self.retry.is_empty() && self.next_new(end).is_none()) {
            return None;
        }
        let mut out: Vec<(u64, u32)> = Vec::new();
        while out.len() < room {
            let Some(entry) = self.retry.pop_first() else { break };
            out.push(entry);
        }
        while out.len() < room {
            let Some(s) = self.next_new(end) else { break };
            self.cursor = s + 1;
            out.push((s, 0));
        }
        for &(s, d) in &out {
            self.pending.insert(s, (member, d + 1, now + ACK_WAIT));
        }
        Some(out.into_iter().map(|(s, _)| s).collect())
    }

    fn fail(&mut self, seq: u64, deliveries: u32) {
        if deliveries >= MAX_DELIVERIES {
            self.dlq.insert(seq, deliveries);
            self.mark_done(seq);
        } else {
            self.retry.insert(seq, deliveries);
        }
    }

    /// Removes a member: pending to retry, its waiters answered empty.
    fn remove_member(&mut self, member: usize, out: &mut Vec<(u64, u32, N)>) {
        self.members.remove(&member);
        let mine: Vec<u64> = self.pending.iter().filter(|(_, p)| p.0 == member).map(|(s, _)| *s).collect();
        for s in mine {
            let (_, d, _) = self.pending.remove(&s).unwrap();
            self.retry.insert(s, d);
        }
        let (ended, kept): (Vec<Waiter>, Vec<Waiter>) =
            self.waiters.drain(..).partition(|w| w.member == member);
        self.waiters = kept;
        out.extend(ended.into_iter().map(|w| (w.conn, w.id, N::Msgs(Vec::new()))));
    }
}

#[derive(Debug, Clone)]
struct MMember {
    conn: u64,
    group: usize,
    generation: u64,
    id: String,
}

#[derive(Debug, Default)]
struct Model {
    now: u64,
    last: u64,
    groups: BTreeMap<usize, MGroup>,
    members: Vec<MMember>,
    counter: u64,
}

impl Model {
    fn serve(&mut self, out: &mut Vec<(u64, u32, N)>) {
        let (end, now) = (self.last + 1, self.now);
        for g in self.groups.values_mut() {
            while let Some(w) = g.waiters.first().cloned() {
                let Some(seqs) = g.deliver(w.member, w.limit, end, now) else { break };
                g.waiters.remove(0);
                out.push((w.conn, w.id, N::Msgs(seqs)));
            }
        }
    }

    /// The fencing checks of FETCH, ACK, NACK and LEAVE.
    fn check(&self, member: usize) -> Result<(), N> {
        let m = &self.members[member];
        let g = self.groups.get(&m.group).ok_or_else(|| N::Err("Group not found".into()))?;
        if g.generation != m.generation {
            return Err(N::Err("FENCED".into()));
        }
        if !g.members.contains(&member) {
            return Err(N::Err("NOT_MEMBER".into()));
        }
        Ok(())
    }

    fn next_event(&self) -> Option<u64> {
        let mut next: Option<u64> = None;
        let mut see = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        for g in self.groups.values() {
            g.pending.values().for_each(|p| see(p.2));
            g.delayed.values().for_each(|d| see(d.1));
            g.waiters.iter().for_each(|w| see(w.deadline));
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

    /// Everything due now, in the broker's timer order: group by group, ack waits and delays
    /// (then that group's waiters), then FETCH deadlines by arrival.
    fn events_at(&mut self, out: &mut Vec<(u64, u32, N)>) {
        let (now, end) = (self.now, self.last + 1);
        for g in self.groups.values_mut() {
            let expired: Vec<(u64, u32)> =
                g.pending.iter().filter(|(_, p)| p.2 <= now).map(|(s, p)| (*s, p.1)).collect();
            let due: Vec<(u64, u32)> =
                g.delayed.iter().filter(|(_, d)| d.1 <= now).map(|(s, d)| (*s, d.0)).collect();
            if expired.is_empty() && due.is_empty() {
                continue;
            }
            for (s, d) in expired {
                g.pending.remove(&s);
                g.fail(s, d);
            }
            for (s, d) in due {
                g.delayed.remove(&s);
                g.retry.insert(s, d);
            }
            while let Some(w) = g.waiters.first().cloned() {
                let Some(seqs) = g.deliver(w.member, w.limit, end, now) else { break };
                g.waiters.remove(0);
                out.push((w.conn, w.id, N::Msgs(seqs)));
            }
        }
        let mut ended: Vec<(u64, usize)> = Vec::new();
        for (&gi, g) in &self.groups {
            ended.extend(g.waiters.iter().filter(|w| w.deadline <= now).map(|w| (w.no, gi)));
        }
        ended.sort();
        for (no, gi) in ended {
            let g = self.groups.get_mut(&gi).unwrap();
            let at = g.waiters.iter().position(|w| w.no == no).unwrap();
            let w = g.waiters.remove(at);
            out.push((w.conn, w.id, N::Msgs(Vec::new())));
        }
    }

    fn seek(&mut self, group: usize, position: u64, out: &mut Vec<(u64, u32, N)>) {
        let generation = match self.groups.get_mut(&group) {
            Some(g) => {
                for member in g.members.clone() {
                    g.remove_member(member, out);
                }
                g.generation + 1
            }
            None => 1,
        };
        self.groups.insert(group, MGroup::new(generation, position - 1));
    }
}

fn normalize(outs: Vec<Out>) -> Vec<(u64, u32, N)> {
    let mut out: Vec<_> = outs
        .into_iter()
        .map(|(conn, id, reply)| {
            let n = match reply {
                Reply::Ok => N::Ok,
                Reply::Err(text) => N::Err(text),
                Reply::Seq(s) => N::Seq(s),
                Reply::Count(c) => N::Count(c),
                Reply::Joined { ack_floor, generation, .. } => N::Joined(ack_floor, generation),
                Reply::StreamMessages(ms) => N::Msgs(
                    ms.iter()
                        .map(|m| {
                            assert_eq!(m.payload, m.seq.to_string().as_bytes(), "payload of {}", m.seq);
                            m.seq
                        })
                        .collect(),
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
}

impl Run {
    /// Member number `member` among the live ones (most picks), else among all ever joined.
    fn member(&self, member: usize) -> Option<(usize, M)> {
        if self.m.members.is_empty() {
            return None;
        }
        let live: Vec<usize> = (0..self.m.members.len()).filter(|&i| self.m.check(i).is_ok()).collect();
        let i = if !member.is_multiple_of(8) && !live.is_empty() {
            live[(member / 8) % live.len()]
        } else {
            (member / 8) % self.m.members.len()
        };
        let mm = &self.m.members[i];
        let m = M {
            topic: "t".into(),
            group: GROUPS[mm.group].into(),
            id: mm.id.clone(),
            generation: mm.generation,
            floor: 0,
        };
        Some((i, m))
    }

    /// A sequence to ack or nack: one of the member's pending messages when `own`, else any.
    fn pick_seq(&self, i: usize, pick: usize, own: bool) -> u64 {
        let group = self.m.members[i].group;
        let mine: Vec<u64> = self
            .m
            .groups
            .get(&group)
            .map(|g| g.pending.iter().filter(|(_, p)| p.0 == i).map(|(s, _)| *s).collect())
            .unwrap_or_default();
        if own && !mine.is_empty() { mine[pick % mine.len()] } else { (pick as u64) % (self.m.last + 2) }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let mut expected = Vec::new();
        let outs = match op {
            Op::Publish | Op::Join { .. } | Op::Fetch { .. } => self.traffic(op, &mut expected),
            Op::Ack { .. } | Op::AckBatch { .. } | Op::Nack { .. } | Op::Leave { .. } => {
                self.acks(op, &mut expected)
            }
            _ => self.admin(op, &mut expected),
        };
        let Some(outs) = outs else { return Ok(()) };
        let actual = normalize(outs);
        expected.sort();
        prop_assert_eq!(actual, expected, "after {:?}", op);
        Ok(())
    }

    fn traffic(&mut self, op: &Op, expected: &mut Vec<(u64, u32, N)>) -> Option<Vec<Out>> {
        match *op {
            Op::Publish => {
                let seq = self.m.last + 1;
                let outs = self.h.publish(9, "t", seq.to_string().as_bytes());
                self.m.last = seq;
                expected.push((9, self.h.last_id(), N::Seq(seq)));
                self.m.serve(expected);
                Some(outs)
            }
            Op::Join { conn, group } => {
                let outs =
                    self.h.send(conn, StreamRequest::Join { group: GROUPS[group].into(), topic: "t".into() });
                let g = self.m.groups.entry(group).or_insert_with(|| MGroup::new(1, 0));
                let label = self.m.members.len();
                g.members.insert(label);
                expected.push((conn, self.h.last_id(), N::Joined(g.floor, g.generation)));
                let id = match &outs[..] {
                    [(_, _, Reply::Joined { consumer_id, .. })] => consumer_id.clone(),
                    _ => String::new(),
                };
                self.m.members.push(MMember { conn, group, generation: g.generation, id });
                Some(outs)
            }
            Op::Fetch { member, limit, wait } => {
                let (i, m) = self.member(member)?;
                let conn = self.m.members[i].conn;
                let outs = self.h.fetch(conn, &m, limit, wait);
                let id = self.h.last_id();
                if let Err(e) = self.m.check(i) {
                    expected.push((conn, id, e));
                    return Some(outs);
                }
                let (end, now) = (self.m.last + 1, self.m.now);
                let g = self.m.groups.get_mut(&self.m.members[i].group).unwrap();
                match g.deliver(i, limit, end, now) {
                    Some(seqs) => expected.push((conn, id, N::Msgs(seqs))),
                    None if wait == 0 => expected.push((conn, id, N::Msgs(Vec::new()))),
                    None => {
                        self.m.counter += 1;
                        let deadline = now + u64::from(wait);
                        g.waiters.push(Waiter { no: self.m.counter, conn, id, member: i, limit, deadline });
                    }
                }
                Some(outs)
            }
            _ => unreachable!(),
        }
    }

    fn acks(&mut self, op: &Op, expected: &mut Vec<(u64, u32, N)>) -> Option<Vec<Out>> {
        match *op {
            Op::Ack { member, pick, own, stale } => {
                let (i, mut m) = self.member(member)?;
                let conn = self.m.members[i].conn;
                if stale {
                    m.generation = m.generation.saturating_sub(1);
                }
                let seq = self.pick_seq(i, pick, own);
                let outs = self.h.ack(conn, &m, seq);
                let reply = match self.checked(i, stale).and_then(|()| self.owned(i, seq)) {
                    Err(e) => e,
                    Ok(()) => {
                        let g = self.m.groups.get_mut(&self.m.members[i].group).unwrap();
                        g.pending.remove(&seq);
                        g.mark_done(seq);
                        N::Ok
                    }
                };
                expected.push((conn, self.h.last_id(), reply));
                self.m.serve(expected);
                Some(outs)
            }
            Op::AckBatch { member, ref picks, own, stale } => {
                let (i, mut m) = self.member(member)?;
                let conn = self.m.members[i].conn;
                if stale {
                    m.generation = m.generation.saturating_sub(1);
                }
                let seqs: Vec<u64> = picks.iter().map(|&pick| self.pick_seq(i, pick, own)).collect();
                let outs = self.h.ack_batch(conn, &m, &seqs);
                let reply = match self.checked(i, stale) {
                    Err(e) => e,
                    Ok(()) => {
                        let g = self.m.groups.get_mut(&self.m.members[i].group).unwrap();
                        let mut acked = 0;
                        for &seq in &seqs {
                            if g.pending.get(&seq).is_some_and(|p| p.0 == i) {
                                g.pending.remove(&seq);
                                g.mark_done(seq);
                                acked += 1;
                            }
                        }
                        N::Count(acked)
                    }
                };
                expected.push((conn, self.h.last_id(), reply));
                self.m.serve(expected);
                Some(outs)
            }
            Op::Nack { member, pick, own, delay } => {
                let (i, m) = self.member(member)?;
                let conn = self.m.members[i].conn;
                let seq = self.pick_seq(i, pick, own);
                let outs = self.h.nack(conn, &m, seq, delay);
                let reply = match self.m.check(i).and_then(|()| self.owned(i, seq)) {
                    Err(e) => e,
                    Ok(()) => {
                        let now = self.m.now;
                        let g = self.m.groups.get_mut(&self.m.members[i].group).unwrap();
                        let (_, d, _) = g.pending.remove(&seq).unwrap();
                        if d >= MAX_DELIVERIES {
                            g.fail(seq, d);
                        } else if delay == 0 {
                            g.retry.insert(seq, d);
                        } else {
                            g.delayed.insert(seq, (d, now + delay));
                        }
                        N::Ok
                    }
                };
                expected.push((conn, self.h.last_id(), reply));
                self.m.serve(expected);
                Some(outs)
            }
            Op::Leave { member } => {
                let (i, m) = self.member(member)?;
                let conn = self.m.members[i].conn;
                let outs = self.h.leave(conn, &m);
                let reply = match self.m.check(i) {
                    Err(e) => e,
                    Ok(()) => {
                        let g = self.m.groups.get_mut(&self.m.members[i].group).unwrap();
                        g.remove_member(i, expected);
                        N::Ok
                    }
                };
                expected.push((conn, self.h.last_id(), reply));
                self.m.serve(expected);
                Some(outs)
            }
            _ => unreachable!(),
        }
    }

    /// The fencing checks with a generation one below the member's when `stale`.
    fn checked(&self, i: usize, stale: bool) -> Result<(), N> {
        if !stale {
            return self.m.check(i);
        }
        let mm = &self.m.members[i];
        let g = self.m.groups.get(&mm.group).ok_or_else(|| N::Err("Group not found".into()))?;
        if g.generation != mm.generation.saturating_sub(1) {
            return Err(N::Err("FENCED".into()));
        }
        if !g.members.contains(&i) { Err(N::Err("NOT_MEMBER".into())) } else { Ok(()) }
    }

    /// `seq` is pending with member `i`, or the error ACK and NACK answer.
    fn owned(&self, i: usize, seq: u64) -> Result<(), N> {
        let g = &self.m.groups[&self.m.members[i].group];
        match g.pending.get(&seq) {
            None => Err(N::Err(format!("seq {seq} not pending"))),
            Some(p) if p.0 != i => Err(N::Err("NOT_OWNER".into())),
            Some(_) => Ok(()),
        }
    }

    fn admin(&mut self, op: &Op, expected: &mut Vec<(u64, u32, N)>) -> Option<Vec<Out>> {
        let outs = match *op {
            Op::Disconnect(conn) => {
                let outs = self.h.disconnect(conn);
                for g in self.m.groups.values_mut() {
                    g.waiters.retain(|w| w.conn != conn);
                    let gone: Vec<usize> =
                        g.members.iter().copied().filter(|&i| self.m.members[i].conn == conn).collect();
                    for i in gone {
                        g.remove_member(i, expected);
                    }
                }
                self.m.serve(expected);
                outs
            }
            Op::Seek { group, target } => {
                let outs = self.h.seek(1, "t", GROUPS[group], target);
                let reply = match target {
                    0 | 1 => {
                        let position = if target == 0 { 1 } else { self.m.last + 1 };
                        self.m.seek(group, position, expected);
                        N::Ok
                    }
                    other => N::Err(format!("Invalid seek target: {other}")),
                };
                expected.push((1, self.h.last_id(), reply));
                outs
            }
            Op::SeekSeq { group, seq } => {
                let request = StreamRequest::SeekSeq { topic: "t".into(), group: GROUPS[group].into(), seq };
                let outs = self.h.send(1, request);
                let position = seq.clamp(1, self.m.last + 1);
                self.m.seek(group, position, expected);
                expected.push((1, self.h.last_id(), N::Seq(position)));
                outs
            }
            Op::Replay { group } => {
                let request =
                    StreamRequest::ReplayDlq { topic: "t".into(), group: GROUPS[group].into(), seq: 0 };
                let outs = self.h.send(1, request);
                let reply = match self.m.groups.get_mut(&group) {
                    None => N::Err("Group not found".into()),
                    Some(g) => {
                        let dead: Vec<u64> = g.dlq.keys().copied().collect();
                        for &s in &dead {
                            g.dlq.remove(&s);
                            if s <= g.floor {
                                g.replaying.insert(s);
                            } else {
                                g.done.remove(&s);
                            }
                            g.retry.insert(s, 0);
                        }
                        N::Count(dead.len() as u32)
                    }
                };
                expected.push((1, self.h.last_id(), reply));
                self.m.serve(expected);
                outs
            }
            Op::Advance(ms) => {
                let outs = self.h.advance(ms);
                self.m.advance(ms, expected);
                outs
            }
            Op::Restart => {
                let outs = self.h.restart();
                for g in self.m.groups.values_mut() {
                    g.members.clear();
                    g.waiters.clear();
                    g.pending.clear();
                    g.retry.clear();
                    g.delayed.clear();
                    g.cursor = g.floor + 1;
                    for &s in &g.replaying {
                        g.retry.insert(s, 0);
                    }
                }
                outs
            }
            _ => unreachable!(),
        };
        Some(outs)
    }
}

fn op() -> impl Strategy<Value = Op> {
    let member = 0..512usize;
    prop_oneof![
        5 => Just(Op::Publish),
        5 => (1..4u64, 0..GROUPS.len()).prop_map(|(conn, group)| Op::Join { conn, group }),
        6 => (member.clone(), 0..4u32, prop_oneof![Just(0u32), 1..300u32])
            .prop_map(|(member, limit, wait)| Op::Fetch { member, limit, wait }),
        5 => (member.clone(), any::<usize>(), prop::bool::weighted(0.8), prop::bool::weighted(0.1))
            .prop_map(|(member, pick, own, stale)| Op::Ack { member, pick, own, stale }),
        3 => (
            member.clone(),
            proptest::collection::vec(any::<usize>(), 0..5),
            prop::bool::weighted(0.8),
            prop::bool::weighted(0.1),
        )
            .prop_map(|(member, picks, own, stale)| Op::AckBatch { member, picks, own, stale }),
        2 => (member.clone(), any::<usize>(), prop::bool::weighted(0.8), prop_oneof![Just(0u64), 1..200u64])
            .prop_map(|(member, pick, own, delay)| Op::Nack { member, pick, own, delay }),
        1 => member.prop_map(|member| Op::Leave { member }),
        1 => (1..4u64).prop_map(Op::Disconnect),
        1 => (0..GROUPS.len(), 0..3u8).prop_map(|(group, target)| Op::Seek { group, target }),
        1 => (0..GROUPS.len(), 0..30u64).prop_map(|(group, seq)| Op::SeekSeq { group, seq }),
        1 => (0..GROUPS.len()).prop_map(|group| Op::Replay { group }),
        4 => (0..300u64).prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn broker_matches_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let config = StreamConfig {
            ack_wait_ms: ACK_WAIT,
            max_deliveries: MAX_DELIVERIES,
            max_pending_per_group: MAX_PENDING,
            cache_max_messages: 3,
            compact_min_bytes: 120,
            compact_ratio: 1,
            ..StreamConfig::default()
        };
        let mut run = Run { h: Harness::with(config), m: Model::default() };
        ok(&run.h.create(1, "t"));
        for op in &ops {
            run.step(op)?;
        }
    }
}
