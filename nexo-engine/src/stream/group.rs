//! One consumer group's position in a topic: ack floor, what is done above it, what is pending
//! with which member, what waits for redelivery, dead letters, and the members.
//!
//! Every sequence above the floor is in at most one place: `done` (acked or dead-lettered),
//! `pending` (delivered to a member, until its ack deadline), `reserved` (picked by a FETCH
//! whose data is being read), `retry` (ready for redelivery), `delayed` (NACK with a delay), or
//! nowhere, which means "not delivered yet" when it is at or above `cursor`. Sequences at or
//! below the floor are done, except dead letters handed back by REPLAY_DLQ (`replaying`), which
//! are owed one more delivery. The floor moves over the contiguous done prefix.
//!
//! This module is pure bookkeeping: no replies, no journal, no timers (the broker reads
//! [`GroupState::next_deadline`]). Delivery order: redeliveries first, lowest sequence first,
//! then new messages in sequence order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::ids::ConnId;

/// One member of a group: a JOIN on a connection, until LEAVE, a seek, or the connection closes.
#[derive(Debug)]
pub(crate) struct Member {
    pub conn: ConnId,
    /// Sequences delivered to it and not yet acknowledged.
    pub pending: BTreeSet<u64>,
    /// Its FETCHes that wait (parked or reading).
    pub fetches: BTreeSet<u64>,
}

/// A delivered, unacknowledged message.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub member: Arc<str>,
    /// Deliveries so far, this one included.
    pub deliveries: u32,
    /// Monotonic ms when it is redelivered unless acked.
    pub deadline: u64,
}

/// Event counters of one group (since start; not journaled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCounters {
    /// Messages delivered (a redelivery counts again).
    pub delivered: u64,
    /// Of those, redeliveries.
    pub redelivered: u64,
    /// Messages acknowledged.
    pub acked: u64,
    /// NACKs that succeeded.
    pub nacked: u64,
    /// Ack waits that ran out.
    pub expired: u64,
    /// Messages dead-lettered.
    pub dead_lettered: u64,
}

/// One group's state. See the module docs for the invariants.
#[derive(Debug)]
pub(crate) struct GroupState {
    pub name: Arc<str>,
    pub generation: u64,
    pub floor: u64,
    /// Next sequence never delivered (candidates are skipped when they are somewhere already).
    pub cursor: u64,
    pub done: BTreeSet<u64>,
    pub pending: BTreeMap<u64, Pending>,
    deadlines: BTreeSet<(u64, u64)>,
    pub reserved: BTreeMap<u64, u32>,
    pub retry: BTreeMap<u64, u32>,
    pub delayed: BTreeMap<u64, (u32, u64)>,
    due: BTreeSet<(u64, u64)>,
    /// Dead letters: sequence → deliveries made.
    pub dlq: BTreeMap<u64, u32>,
    pub replaying: BTreeSet<u64>,
    pub members: BTreeMap<Arc<str>, Member>,
    /// Parked FETCH numbers, arrival order.
    pub waiters: BTreeSet<u64>,
    /// Deadline of this group's entry in the timer table.
    pub timer_at: Option<u64>,
    /// Journal sequence of the record that created or reset it (replies wait for it); `None`
    /// when replayed.
    pub journal_seq: Option<u64>,
    pub counters: GroupCounters,
}

impl GroupState {
    pub fn new(name: Arc<str>, generation: u64, floor: u64, journal_seq: Option<u64>) -> Self {
        Self {
            name,
            generation,
            floor,
            cursor: floor.saturating_add(1),
            done: BTreeSet::new(),
            pending: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            reserved: BTreeMap::new(),
            retry: BTreeMap::new(),
            delayed: BTreeMap::new(),
            due: BTreeSet::new(),
            dlq: BTreeMap::new(),
            replaying: BTreeSet::new(),
            members: BTreeMap::new(),
            waiters: BTreeSet::new(),
            timer_at: None,
            journal_seq,
            counters: GroupCounters::default(),
        }
    }

    /// A seek: every position, pending message and dead letter is forgotten (members must have
    /// been removed first).
    pub fn reset(&mut self, generation: u64, floor: u64, journal_seq: Option<u64>) {
        let (members, waiters, timer_at, counters) = (
            std::mem::take(&mut self.members),
            std::mem::take(&mut self.waiters),
            self.timer_at,
            self.counters,
        );
        *self = Self::new(self.name.clone(), generation, floor, journal_seq);
        self.members = members;
        self.waiters = waiters;
        self.timer_at = timer_at;
        self.counters = counters;
    }

    /// The highest sequence this group shows was handed out: its floor, what is done above it,
    /// its dead letters. A data log that ends below it lost records (recovery skips past them).
    pub fn highest_known(&self) -> u64 {
        let done = self.done.last().copied().unwrap_or(0);
        let dead = self.dlq.last_key_value().map_or(0, |(&seq, _)| seq);
        self.floor.max(done).max(dead)
    }

    /// Delivered and unacknowledged messages, those being read for a FETCH included.
    pub fn outstanding(&self) -> usize {
        self.pending.len() + self.reserved.len()
    }

    /// Whether `seq` sits anywhere already (so it is not a new message).
    fn placed(&self, seq: u64) -> bool {
        self.done.contains(&seq)
            || self.pending.contains_key(&seq)
            || self.reserved.contains_key(&seq)
            || self.retry.contains_key(&seq)
            || self.delayed.contains_key(&seq)
    }

    /// Moves the cursor over sequences that are placed already.
    fn skip(&mut self) {
        self.cursor = self.cursor.max(self.floor.saturating_add(1));
        while self.placed(self.cursor) {
            self.cursor += 1;
        }
    }

    /// Where new deliveries stop: the visible end, or the ack window.
    fn new_end(&self, visible_end: u64, window: u64) -> u64 {
        visible_end.min(self.floor.saturating_add(1).saturating_add(window))
    }

    /// Whether a FETCH would get something now (capacity aside).
    pub fn has_work(&mut self, visible_end: u64, window: u64) -> bool {
        self.skip();
        !self.retry.is_empty() || self.cursor < self.new_end(visible_end, window)
    }

    /// Picks up to `n` messages (redeliveries first) and reserves them: `(seq, deliveries)`.
    pub fn select(&mut self, n: usize, visible_end: u64, window: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some((seq, deliveries)) = self.retry.pop_first() else { break };
            self.reserved.insert(seq, deliveries);
            out.push((seq, deliveries));
        }
        let end = self.new_end(visible_end, window);
        self.skip();
        while out.len() < n && self.cursor < end {
            out.push((self.cursor, 0));
            self.reserved.insert(self.cursor, 0);
            self.skip();
        }
        out
    }

    /// A reserved message goes out to `member`: it is pending until `deadline`.
    pub fn deliver(&mut self, seq: u64, member: &Arc<str>, deadline: u64) -> bool {
        let Some(deliveries) = self.reserved.remove(&seq) else { return false };
        let Some(m) = self.members.get_mut(member) else {
            self.retry.insert(seq, deliveries);
            return false;
        };
        m.pending.insert(seq);
        let deliveries = deliveries.saturating_add(1);
        self.pending.insert(seq, Pending { member: member.clone(), deliveries, deadline });
        self.deadlines.insert((deadline, seq));
        self.counters.delivered += 1;
        if deliveries > 1 {
            self.counters.redelivered += 1;
        }
        true
    }

    /// A reserved message was not sent (reply full, FETCH ended): ready for delivery again.
    pub fn unreserve(&mut self, seq: u64) {
        if let Some(deliveries) = self.reserved.remove(&seq) {
            self.retry.insert(seq, deliveries);
        }
    }

    /// A reserved message whose data is gone from the log (retention): done, unjournaled (a
    /// restart clamps the floor to the log's first sequence anyway).
    pub fn discard(&mut self, seq: u64) {
        if self.reserved.remove(&seq).is_some() {
            self.mark_done(seq);
        }
    }

    /// Takes `seq` out of pending (ACK, NACK, expiry).
    pub fn take_pending(&mut self, seq: u64) -> Option<Pending> {
        let p = self.pending.remove(&seq)?;
        self.deadlines.remove(&(p.deadline, seq));
        if let Some(m) = self.members.get_mut(&p.member) {
            m.pending.remove(&seq);
        }
        Some(p)
    }

    /// `seq` is acknowledged (or dead): the floor moves over the done prefix.
    pub fn mark_done(&mut self, seq: u64) {
        if seq <= self.floor {
            self.replaying.remove(&seq);
            return;
        }
        self.done.insert(seq);
        while self.done.remove(&(self.floor + 1)) {
            self.floor += 1;
        }
        self.skip();
    }

    /// Redeliver `seq` at the next FETCH.
    pub fn release(&mut self, seq: u64, deliveries: u32) {
        self.retry.insert(seq, deliveries);
    }

    /// Redeliver `seq` once the monotonic time `due` has passed.
    pub fn delay(&mut self, seq: u64, deliveries: u32, due: u64) {
        self.delayed.insert(seq, (deliveries, due));
        self.due.insert((due, seq));
    }

    /// Dead-letters `seq` (done for the floor, listed in the DLQ, bounded by `max_dead`).
    pub fn add_dead(&mut self, seq: u64, deliveries: u32, max_dead: usize) {
        self.dlq.insert(seq, deliveries);
        while self.dlq.len() > max_dead.max(1) {
            self.dlq.pop_first();
        }
        self.mark_done(seq);
    }

    /// Hands dead letter `seq` back: it will be delivered again. `false` when not a dead letter.
    pub fn replay(&mut self, seq: u64) -> bool {
        if self.dlq.remove(&seq).is_none() {
            return false;
        }
        if seq <= self.floor {
            self.replaying.insert(seq);
        } else {
            self.done.remove(&seq);
        }
        self.retry.insert(seq, 0);
        true
    }

    /// Pending messages whose ack deadline has passed, in deadline order.
    pub fn take_expired(&mut self, now_mono: u64) -> Vec<(u64, Pending)> {
        let mut out = Vec::new();
        while let Some(&(deadline, seq)) = self.deadlines.first() {
            if deadline > now_mono {
                break;
            }
            if let Some(p) = self.take_pending(seq) {
                out.push((seq, p));
            } else {
                self.deadlines.remove(&(deadline, seq));
            }
        }
        out
    }

    /// Delayed messages whose delay has passed go to the redelivery queue; returns how many.
    pub fn release_due(&mut self, now_mono: u64) -> usize {
        let mut n = 0;
        while let Some(&(due, seq)) = self.due.first() {
            if due > now_mono {
                break;
            }
            self.due.remove(&(due, seq));
            if let Some((deliveries, _)) = self.delayed.remove(&seq) {
                self.retry.insert(seq, deliveries);
                n += 1;
            }
        }
        n
    }

    /// The earliest ack deadline or delay end.
    pub fn next_deadline(&self) -> Option<u64> {
        let a = self.deadlines.first().map(|(t, _)| *t);
        let b = self.due.first().map(|(t, _)| *t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Removes member `id`; its pending messages are ready for redelivery at once.
    pub fn remove_member(&mut self, id: &str) -> Option<Member> {
        let member = self.members.remove(id)?;
        for &seq in &member.pending {
            if let Some(p) = self.pending.remove(&seq) {
                self.deadlines.remove(&(p.deadline, seq));
                self.retry.insert(seq, p.deliveries);
            }
        }
        Some(member)
    }

    /// Retention removed everything below `first`: the group moves up. Returns whether it
    /// changed.
    pub fn clamp_below(&mut self, first: u64) -> bool {
        let before = (self.floor, self.dlq.len(), self.outstanding(), self.retry.len());
        if self.floor.saturating_add(1) < first {
            self.floor = first - 1;
        }
        self.done = self.done.split_off(&self.floor.saturating_add(1));
        let gone: Vec<u64> = self.pending.range(..first).map(|(seq, _)| *seq).collect();
        for seq in gone {
            self.take_pending(seq);
        }
        self.reserved = self.reserved.split_off(&first);
        self.retry = self.retry.split_off(&first);
        let delayed: Vec<(u64, u64)> = self.delayed.range(..first).map(|(s, (_, due))| (*s, *due)).collect();
        for (seq, due) in delayed {
            self.delayed.remove(&seq);
            self.due.remove(&(due, seq));
        }
        self.dlq = self.dlq.split_off(&first);
        self.replaying = self.replaying.split_off(&first);
        while self.done.remove(&(self.floor + 1)) {
            self.floor += 1;
        }
        self.skip();
        before != (self.floor, self.dlq.len(), self.outstanding(), self.retry.len())
    }

    /// The floor may not pass the last sequence the topic handed out (`next` is the next one).
    pub fn clamp_end(&mut self, next: u64) {
        let last = next.saturating_sub(1);
        if self.floor > last {
            self.floor = last;
            self.cursor = last + 1;
            self.done.clear();
        }
    }

    /// After a restart: nothing is pending, dead letters handed back are owed a delivery, and
    /// everything above the floor that is not done is delivered again from the floor up.
    pub fn restart(&mut self) {
        self.pending.clear();
        self.deadlines.clear();
        self.reserved.clear();
        self.retry.clear();
        self.delayed.clear();
        self.due.clear();
        self.cursor = self.floor.saturating_add(1);
        let owed: Vec<u64> = self.replaying.iter().copied().collect();
        for seq in owed {
            self.retry.insert(seq, 0);
        }
        self.skip();
    }

    /// Sequences done above the floor as `(first, count)` ranges, ascending.
    pub fn done_ranges(&self) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for &seq in &self.done {
            match ranges.last_mut() {
                Some((first, count)) if *first + *count == seq => *count += 1,
                _ => ranges.push((seq, 1)),
            }
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> GroupState {
        let mut g = GroupState::new(Arc::from("g"), 1, 0, None);
        g.members.insert(
            Arc::from("m"),
            Member { conn: ConnId(1), pending: BTreeSet::new(), fetches: BTreeSet::new() },
        );
        g
    }

    #[test]
    fn floor_moves_over_the_done_prefix_in_any_order() {
        let mut g = group();
        let m: Arc<str> = Arc::from("m");
        let picked = g.select(5, 6, 100);
        assert_eq!(picked, [(1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
        for seq in 1..=5 {
            assert!(g.deliver(seq, &m, 100));
        }
        for seq in [3, 2, 5] {
            g.take_pending(seq);
            g.mark_done(seq);
        }
        assert_eq!(g.floor, 0);
        g.take_pending(1);
        g.mark_done(1);
        assert_eq!(g.floor, 3);
        assert_eq!(g.done_ranges(), [(5, 1)]);
        assert!(!g.has_work(6, 100));
        assert!(g.has_work(7, 100));
    }

    #[test]
    fn redeliveries_come_first_and_member_removal_releases() {
        let mut g = group();
        let m: Arc<str> = Arc::from("m");
        for (seq, _) in g.select(2, 10, 100) {
            g.deliver(seq, &m, 50);
        }
        let expired = g.take_expired(50);
        assert_eq!(expired.len(), 2);
        for (seq, p) in expired {
            g.release(seq, p.deliveries);
        }
        assert_eq!(g.select(3, 10, 100), [(1, 1), (2, 1), (3, 0)]);
        for seq in 1..=3 {
            g.deliver(seq, &m, 80);
        }
        assert_eq!(g.pending[&1].deliveries, 2);
        assert!(g.remove_member("m").is_some());
        assert_eq!(g.retry.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
        assert!(g.pending.is_empty());
    }

    #[test]
    fn window_dead_letters_replay_and_clamp() {
        let mut g = group();
        assert_eq!(g.select(10, 100, 3).len(), 3, "the ack window bounds new deliveries");
        g.unreserve(1);
        g.unreserve(2);
        g.unreserve(3);
        g.retry.remove(&1);
        g.add_dead(1, 5, 10);
        assert_eq!(g.floor, 1);
        assert!(g.replay(1));
        assert!(g.replaying.contains(&1));
        assert!(!g.replay(1));
        g.retry.remove(&1);
        g.mark_done(1);
        assert!(g.replaying.is_empty());
        assert!(g.clamp_below(10));
        assert_eq!((g.floor, g.cursor), (9, 10));
        assert!(g.retry.is_empty());
        g.clamp_end(5);
        assert_eq!((g.floor, g.cursor), (4, 5));
    }
}
