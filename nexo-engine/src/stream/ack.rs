//! Acknowledgements and their failures: ACK, ACK_BATCH, NACK, ack waits running out, dead
//! letters and REPLAY_DLQ, with each group's timer.
//!
//! ACK and ACK_BATCH acknowledge through one function (`ack_one`); they differ only in what
//! they answer: ACK refuses a sequence that is not pending with the member (`NOT_OWNER`,
//! `seq N not pending`), ACK_BATCH skips it and answers how many it acknowledged.
//!
//! A message delivered [`super::StreamConfig::max_deliveries`] times that fails once more (its
//! ack wait runs out, or it is NACKed) is dead-lettered: journaled, listed, and done for the
//! floor. Acks and dead letters are journaled; only a NACK that dead-letters and REPLAY_DLQ hold
//! their reply until durable. Each group has one entry in the timer table, at its earliest ack
//! deadline or NACK delay; it may fire early (after acks), which only re-arms it. This module
//! must not deliver messages (that is `fetch`).

use std::sync::Arc;

use nexo_proto::Reply;

use super::journal::Record;
use super::members::{GROUP_NOT_FOUND_TEXT, Who};
use super::{Stream, TimerKey};
use crate::ids::ConnId;
use crate::time::Now;

/// ERR text of an ACK or NACK of a message pending with another member.
pub const NOT_OWNER_TEXT: &str = "NOT_OWNER";

/// ERR text of an ACK or NACK of a sequence not pending in the group: `seq N not pending`.
pub fn not_pending_text(seq: u64) -> String {
    format!("seq {seq} not pending")
}

/// ERR text of an ACK_BATCH naming more sequences than a FETCH may deliver:
/// `Invalid ACK_BATCH: N seqs (max M)`.
pub fn too_many_acks_text(n: usize, max: u32) -> String {
    format!("Invalid ACK_BATCH: {n} seqs (max {max})")
}

impl Stream {
    /// The checks ACK and NACK share; answers and returns `false` when one fails.
    fn check_pending(&mut self, conn: ConnId, req: u32, who: &Who<'_>, seq: u64) -> bool {
        if let Err(text) = self.check_member(who) {
            self.err(conn, req, text);
            return false;
        }
        if !self.check_writable(conn, req) {
            return false;
        }
        let owner =
            self.group_mut(who.topic, who.group).and_then(|g| g.pending.get(&seq).map(|p| p.member.clone()));
        match owner {
            None => self.err(conn, req, not_pending_text(seq)),
            Some(member) if *member != *who.consumer_id => self.err(conn, req, NOT_OWNER_TEXT),
            Some(_) => return true,
        }
        false
    }

    pub(super) fn ack(&mut self, conn: ConnId, req: u32, who: &Who<'_>, seq: u64) {
        if !self.check_pending(conn, req, who, seq) {
            return;
        }
        if self.ack_one(who, seq) {
            self.touch_group(who.topic, who.group);
        }
        self.reply(conn, req, Reply::Ok);
    }

    /// ACK_BATCH: the size bound, the fencing checks of ACK, then every sequence pending with
    /// the member is acknowledged as ACK does it; the others are skipped. Answers how many were
    /// acknowledged, without waiting for the journal.
    pub(super) fn ack_batch(&mut self, conn: ConnId, req: u32, who: &Who<'_>, seqs: &[u64]) {
        let max = self.config.max_fetch.max(1);
        if seqs.len() > max as usize {
            return self.err(conn, req, too_many_acks_text(seqs.len(), max));
        }
        if let Err(text) = self.check_member(who) {
            return self.err(conn, req, text);
        }
        if !self.check_writable(conn, req) {
            return;
        }
        let mut acked: u32 = 0;
        for &seq in seqs {
            acked += u32::from(self.ack_one(who, seq));
        }
        if acked > 0 {
            self.touch_group(who.topic, who.group);
        }
        self.reply(conn, req, Reply::Count(acked));
    }

    /// Acknowledges `seq` when it is pending with `who` (whose membership the caller checked):
    /// out of pending, done for the floor, counted and journaled. Returns whether it was pending
    /// with `who`; does nothing otherwise. The single place ACK and ACK_BATCH acknowledge.
    fn ack_one(&mut self, who: &Who<'_>, seq: u64) -> bool {
        let Some(g) = self.meta.topics.get_mut(who.topic).and_then(|t| t.groups.get_mut(who.group)) else {
            return false;
        };
        if g.pending.get(&seq).is_none_or(|p| *p.member != *who.consumer_id) {
            return false;
        }
        g.take_pending(seq);
        g.mark_done(seq);
        g.counters.acked += 1;
        self.totals.acked += 1;
        self.durable.append(&Record::Ack { topic: who.topic, group: who.group, seq }, &mut self.outputs);
        true
    }

    pub(super) fn nack(&mut self, now: Now, conn: ConnId, req: u32, who: &Who<'_>, seq: u64, delay_ms: u64) {
        if !self.check_pending(conn, req, who, seq) {
            return;
        }
        let limit = self.config.delivery_limit();
        let Some(t) = self.meta.topics.get_mut(who.topic) else { return };
        let topic = t.name.clone();
        let Some(g) = t.groups.get_mut(who.group) else { return };
        let group = g.name.clone();
        let Some(p) = g.take_pending(seq) else { return };
        g.counters.nacked += 1;
        let dead = p.deliveries >= limit;
        let due = now.mono_ms.saturating_add(delay_ms);
        if !dead && delay_ms == 0 {
            g.release(seq, p.deliveries);
        } else if !dead {
            g.delay(seq, p.deliveries, due);
        }
        self.totals.nacked += 1;
        self.touch(&topic, &group);
        if dead {
            let record = self.dead_letter(&topic, &group, seq, p.deliveries);
            return self.reply_after_journal(Some(record), conn, req, Reply::Ok);
        }
        if delay_ms > 0 {
            self.ensure_group_timer(&topic, &group, due);
        }
        self.reply(conn, req, Reply::Ok);
    }

    /// Dead-letters `seq` (taken out of pending already); returns the record's journal sequence.
    fn dead_letter(&mut self, topic: &str, group: &str, seq: u64, deliveries: u32) -> u64 {
        let max_dead = self.config.max_dead_per_group;
        if let Some(g) = self.group_mut(topic, group) {
            g.add_dead(seq, deliveries, max_dead);
            g.counters.dead_lettered += 1;
        }
        self.totals.dead_lettered += 1;
        self.durable.append(&Record::Dead { topic, group, seq, deliveries }, &mut self.outputs)
    }

    /// The group's timer should fire at `at` at the latest.
    pub(super) fn ensure_group_timer(&mut self, topic: &Arc<str>, group: &Arc<str>, at: u64) {
        let Some(g) = self.group_mut(topic, group) else { return };
        if g.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        let old = g.timer_at.replace(at);
        if let Some(old) = old {
            self.timers.remove(&(old, TimerKey::Group(topic.clone(), group.clone())));
        }
        self.timers.insert((at, TimerKey::Group(topic.clone(), group.clone())));
    }

    /// A group's timer fired: expired ack waits are redelivered or dead-lettered, ended delays
    /// are redelivered, and the timer is set for what comes next.
    pub(super) fn group_timer(&mut self, now: Now, fired_at: u64, topic: &Arc<str>, group: &Arc<str>) {
        let limit = self.config.delivery_limit();
        let Some(g) = self.group_mut(topic, group) else { return };
        if g.timer_at == Some(fired_at) {
            g.timer_at = None;
        }
        let expired = g.take_expired(now.mono_ms);
        g.release_due(now.mono_ms);
        g.counters.expired += expired.len() as u64;
        self.totals.expired += expired.len() as u64;
        for (seq, p) in expired {
            if p.deliveries >= limit {
                self.dead_letter(topic, group, seq, p.deliveries);
            } else if let Some(g) = self.group_mut(topic, group) {
                g.release(seq, p.deliveries);
            }
        }
        if let Some(next) = self.group_mut(topic, group).and_then(|g| g.next_deadline()) {
            self.ensure_group_timer(topic, group, next);
        }
        self.touch(topic, group);
    }

    pub(super) fn replay_dlq(&mut self, conn: ConnId, req: u32, topic: &str, group: &str, seq: u64) {
        if !self.check_topic(conn, req, topic) {
            return;
        }
        let Some(g) = self.group_mut(topic, group) else {
            return self.err(conn, req, GROUP_NOT_FOUND_TEXT);
        };
        let seqs: Vec<u64> = if seq == 0 {
            g.dlq.keys().copied().collect()
        } else {
            g.dlq.contains_key(&seq).then_some(seq).into_iter().collect()
        };
        if seqs.is_empty() {
            return self.reply(conn, req, Reply::Count(0));
        }
        if !self.check_writable(conn, req) {
            return;
        }
        let mut last = None;
        for &s in &seqs {
            if self.group_mut(topic, group).is_some_and(|g| g.replay(s)) {
                last = Some(self.durable.append(&Record::Replay { topic, group, seq: s }, &mut self.outputs));
            }
        }
        let count = Reply::Count(u32::try_from(seqs.len()).unwrap_or(u32::MAX));
        if let Some((t, g)) = self
            .meta
            .topics
            .get(topic)
            .and_then(|t| t.groups.get(group).map(|g| (t.name.clone(), g.name.clone())))
        {
            self.touch(&t, &g);
        }
        self.reply_after_journal(last, conn, req, count);
    }
}
