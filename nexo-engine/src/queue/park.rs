//! Parked long-poll CONSUMEs: the table of waiting requests and the broker's park/serve logic.
//!
//! A CONSUME with `waitMs` on a queue with nothing ready is parked here (never a blocked thread)
//! with a deadline in the timer table. Each queue keeps the park numbers of its waiters
//! (arrival order); when messages become ready the broker serves its waiters oldest first, and
//! at the deadline a waiter gets an empty batch. A connection may park at most
//! [`super::QueueConfig::max_parked_per_conn`] requests. This module must not lease messages
//! itself (that is `lease`), only decide who gets them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use nexo_proto::Reply;

use super::{Queue, TimerKey};
use crate::ids::{ConnId, SeededState};
use crate::output::Output;
use crate::time::Now;

/// ERR text when a connection has too many parked CONSUMEs.
pub const TOO_MANY_PENDING_TEXT: &str = "Too many pending requests";

/// One parked CONSUME.
#[derive(Debug, Clone)]
pub(crate) struct Parked {
    pub conn: ConnId,
    pub id: u32,
    pub queue: Arc<str>,
    pub batch: u32,
    pub deadline: u64,
}

/// Every parked CONSUME, by park number (arrival order), and each connection's.
#[derive(Debug)]
pub(crate) struct ParkTable {
    entries: BTreeMap<u64, Parked>,
    per_conn: HashMap<ConnId, BTreeSet<u64>, SeededState>,
    next: u64,
}

impl ParkTable {
    pub fn new(hasher: SeededState) -> Self {
        Self { entries: BTreeMap::new(), per_conn: HashMap::with_hasher(hasher), next: 0 }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Parked requests of `conn`.
    pub fn count(&self, conn: ConnId) -> usize {
        self.per_conn.get(&conn).map_or(0, BTreeSet::len)
    }

    pub fn insert(&mut self, parked: Parked) -> u64 {
        self.next += 1;
        self.per_conn.entry(parked.conn).or_default().insert(self.next);
        self.entries.insert(self.next, parked);
        self.next
    }

    pub fn remove(&mut self, no: u64) -> Option<Parked> {
        let parked = self.entries.remove(&no)?;
        if let Some(set) = self.per_conn.get_mut(&parked.conn) {
            set.remove(&no);
            if set.is_empty() {
                self.per_conn.remove(&parked.conn);
            }
        }
        Some(parked)
    }

    /// Park numbers of `conn`, oldest first.
    pub fn of_conn(&self, conn: ConnId) -> Vec<u64> {
        self.per_conn.get(&conn).map(|set| set.iter().copied().collect()).unwrap_or_default()
    }

    /// Every park number, oldest first.
    pub fn all(&self) -> Vec<u64> {
        self.entries.keys().copied().collect()
    }
}

impl Queue {
    /// Parks a CONSUME on `queue` until `now + wait_ms`, or refuses it when `conn` has too many.
    pub(super) fn park(
        &mut self,
        now: Now,
        conn: ConnId,
        id: u32,
        queue: &Arc<str>,
        batch: u32,
        wait_ms: u64,
    ) {
        if self.parked.count(conn) >= self.config.max_parked_per_conn {
            self.reply(conn, id, Reply::Err(TOO_MANY_PENDING_TEXT.to_owned()));
            return;
        }
        let deadline = now.mono_ms.saturating_add(wait_ms);
        let no = self.parked.insert(Parked { conn, id, queue: queue.clone(), batch, deadline });
        if let Some(q) = self.queues.get_mut(queue) {
            q.waiters.insert(no);
        }
        self.timers.insert((deadline, TimerKey::Park(no)));
    }

    /// Removes parked request `no` from every index (its reply is the caller's business).
    pub(super) fn unpark(&mut self, no: u64) -> Option<Parked> {
        let parked = self.parked.remove(no)?;
        self.timers.remove(&(parked.deadline, TimerKey::Park(no)));
        if let Some(q) = self.queues.get_mut(&parked.queue) {
            q.waiters.remove(&no);
        }
        Some(parked)
    }

    /// Answers parked request `no` with `reply` (parked answers skip the per-connection order).
    pub(super) fn answer_parked(&mut self, no: u64, reply: Reply) {
        if let Some(p) = self.unpark(no) {
            self.outputs.push_back(Output::Reply { conn: p.conn, id: p.id, reply });
        }
    }

    /// Serves the waiters of every queue that got ready messages since the last call, oldest
    /// waiter first, each with up to its batch size.
    pub(super) fn serve_touched(&mut self, now: Now) {
        while let Some(name) = self.touched.pop_first() {
            // With a waiter about to receive, messages due for the dead-letter target move first,
            // so it is only served when something is left to deliver (else it keeps waiting).
            if self.queues.get(&name).is_some_and(|q| !q.waiters.is_empty()) {
                self.redrive_front(&name);
            }
            while let Some(&no) =
                self.queues.get(&name).filter(|q| q.ready_len() > 0).and_then(|q| q.waiters.first())
            {
                let Some(p) = self.unpark(no) else { break };
                let messages = self.deliver(now, p.conn, &name, p.batch);
                self.outputs.push_back(Output::Reply {
                    conn: p.conn,
                    id: p.id,
                    reply: Reply::QueueMessages(messages),
                });
            }
        }
    }

    /// Answers every parked CONSUME with an empty batch (graceful shutdown: clients see a
    /// normal end of their long-poll). Drain outputs afterwards.
    pub fn release_parked(&mut self) {
        for no in self.parked.all() {
            self.answer_parked(no, Reply::QueueMessages(Vec::new()));
        }
    }

    /// Drops the parked requests of a connection that is gone (no reply).
    pub(super) fn drop_parked_of(&mut self, conn: ConnId) {
        for no in self.parked.of_conn(conn) {
            self.unpark(no);
        }
    }
}
