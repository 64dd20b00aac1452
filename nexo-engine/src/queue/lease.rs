//! Leases: who holds which in-flight message until when, and everything that ends a lease.
//!
//! Owns the lease table (lease number → queue, message, connection, monotonic deadline) and the
//! broker paths that create and end leases: delivery, ACK, NACK / NACK_DELAY, EXTEND, lease
//! expiry and a connection closing. A lease belongs to the connection that consumed the message;
//! only it can ack, nack or extend it. Lease numbers grow for the life of the process, so they
//! also give the lease order used when leases are released together.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::reply::QueueMessage;

use super::journal::{MsgId, Record};
use super::state::{Place, Slot};
use super::stats::QueueCounters;
use super::{Queue, TimerKey};
use crate::ids::{ConnId, SeededState};
use crate::time::Now;

/// ERR text of an ACK of a message not leased by this connection.
pub const ACK_FAILED_TEXT: &str = "ACK failed";
/// ERR text of a NACK (or NACK_DELAY) of a message not leased by this connection.
pub const NACK_FAILED_TEXT: &str = "NACK failed";
/// ERR text of an EXTEND of a message not leased by this connection.
pub const EXTEND_FAILED_TEXT: &str = "EXTEND failed";
/// DLQ reason of a message whose last lease ran out.
pub const TIMEOUT_REASON: &str = "Timeout";

/// What a NACK or NACK_DELAY names.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nack<'a> {
    pub name: &'a str,
    pub id: MsgId,
    pub reason: &'a str,
    /// 0 for a plain NACK.
    pub delay_ms: u64,
}

/// One delivery: a v1 CONSUME or an SQS receive ([`super::SqsReply::Received`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Message id.
    pub id: MsgId,
    /// Body.
    pub payload: Bytes,
    /// This delivery's identity: only it can delete the message or change its visibility.
    pub token: u64,
    /// Receives of the message so far, this one included.
    pub receive_count: u32,
}

/// One lease.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub queue: Arc<str>,
    pub id: MsgId,
    /// The connection holding it; `None` for an SQS delivery, which no connection holds (only
    /// its token, its deadline, DeleteMessage or ChangeMessageVisibility end it).
    pub conn: Option<ConnId>,
    /// The delivery's identity (receipt handles carry it).
    pub token: u64,
    /// Monotonic ms.
    pub deadline: u64,
}

/// Every live lease by number, and each connection's.
#[derive(Debug)]
pub(crate) struct LeaseTable {
    entries: BTreeMap<u64, Lease>,
    per_conn: HashMap<ConnId, BTreeSet<u64>, SeededState>,
    next: u64,
}

impl LeaseTable {
    pub fn new(hasher: SeededState) -> Self {
        Self { entries: BTreeMap::new(), per_conn: HashMap::with_hasher(hasher), next: 0 }
    }

    /// A fresh lease number (also used for leases replayed at recovery, which have no entry).
    pub fn next_no(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    pub fn get(&self, no: u64) -> Option<&Lease> {
        self.entries.get(&no)
    }

    pub fn insert(&mut self, no: u64, lease: Lease) {
        if let Some(conn) = lease.conn {
            self.per_conn.entry(conn).or_default().insert(no);
        }
        self.entries.insert(no, lease);
    }

    pub fn remove(&mut self, no: u64) -> Option<Lease> {
        let lease = self.entries.remove(&no)?;
        if let Some(conn) = lease.conn
            && let Some(set) = self.per_conn.get_mut(&conn)
        {
            set.remove(&no);
            if set.is_empty() {
                self.per_conn.remove(&conn);
            }
        }
        Some(lease)
    }

    /// Lease numbers of `conn`, oldest first.
    pub fn of_conn(&self, conn: ConnId) -> Vec<u64> {
        self.per_conn.get(&conn).map(|set| set.iter().copied().collect()).unwrap_or_default()
    }
}

impl Queue {
    /// Leases up to `batch` ready messages of `name` to `conn` (see [`Queue::deliver_to`]).
    pub(super) fn deliver(&mut self, now: Now, conn: ConnId, name: &str, batch: u32) -> Vec<QueueMessage> {
        let delivered = self.deliver_to(now, Some(conn), name, batch, None);
        delivered.into_iter().map(|d| QueueMessage { id: d.id, payload: d.payload }).collect()
    }

    /// Leases up to `batch` ready messages of `name` to `holder` (`None`: an SQS delivery held
    /// by no connection) for `visibility_ms` or the queue's visibility timeout: highest priority
    /// first, FIFO within a priority, stopping before the reply would pass the byte limit (but
    /// always at least one message). A message over its queue's receive count moves to the
    /// dead-letter target instead (see `redrive`). Each delivery gets a fresh random token (its
    /// identity) and is journaled (LEASE) without waiting.
    pub(super) fn deliver_to(
        &mut self,
        now: Now,
        holder: Option<ConnId>,
        name: &str,
        batch: u32,
        visibility_ms: Option<u64>,
    ) -> Vec<Delivered> {
        let mut out = Vec::new();
        let mut size = 4usize;
        while out.len() < batch as usize {
            let Some((id, len)) =
                self.queues.get(name).and_then(|q| q.first_ready()).map(|(id, m)| (id, m.payload.len()))
            else {
                break;
            };
            if self.redrive_if_due(name, id) {
                continue;
            }
            let item = 16 + 4 + len;
            if !out.is_empty() && size + item > self.config.max_reply_bytes {
                break;
            }
            size += item;
            let token = self.rng.next_u64();
            let no = self.leases.next_no();
            let Some(q) = self.queues.get_mut(name) else { break };
            let Some(m) = q.get(&id) else { break };
            let (payload, attempts) = (m.payload.clone(), m.attempts.saturating_add(1));
            let deadline =
                now.mono_ms.saturating_add(visibility_ms.unwrap_or(q.settings.visibility_timeout_ms));
            q.set_attempts(&id, attempts);
            q.set_slot(&id, Slot::Leased { lease_no: no });
            QueueCounters::bump(&mut q.counters, &mut self.totals, |c| &mut c.delivered);
            self.leases.insert(no, Lease { queue: q.name.clone(), id, conn: holder, token, deadline });
            self.timers.insert((deadline, TimerKey::Lease(no)));
            self.journal.append(&Record::Lease { name, id }, &mut self.outputs);
            out.push(Delivered { id, payload, token, receive_count: attempts });
        }
        out
    }

    /// The lease number of message `id` of `name` when `conn` holds it.
    fn owned_lease(&self, conn: ConnId, name: &str, id: &MsgId) -> Option<u64> {
        let m = self.queues.get(name)?.get(id)?;
        let Place::Leased { lease_no } = m.place else { return None };
        self.leases.get(lease_no).filter(|l| l.conn == Some(conn)).map(|_| lease_no)
    }

    /// Ends lease `no` in the lease table and the timer table.
    pub(super) fn end_lease(&mut self, no: u64) -> Option<super::lease::Lease> {
        let lease = self.leases.remove(no)?;
        self.timers.remove(&(lease.deadline, TimerKey::Lease(no)));
        Some(lease)
    }

    /// ACK: removes the message when `conn` holds its lease; journaled without waiting.
    pub(super) fn ack(&mut self, conn: ConnId, req: u32, name: &str, id: MsgId) {
        if !self.check_queue(conn, req, name) || !self.check_writable(conn, req) {
            return;
        }
        let Some(no) = self.owned_lease(conn, name, &id) else {
            return self.reply(conn, req, Reply::Err(ACK_FAILED_TEXT.to_owned()));
        };
        self.end_lease(no);
        if let Some(q) = self.queues.get_mut(name) {
            q.remove(&id);
            QueueCounters::bump(&mut q.counters, &mut self.totals, |c| &mut c.acked);
        }
        self.journal.append(&Record::Ack { name, id }, &mut self.outputs);
        self.reply(conn, req, Reply::Ok);
    }

    /// NACK / NACK_DELAY: the message fails (see [`Queue::fail_message`]); the reply waits for the
    /// record.
    pub(super) fn nack(&mut self, now: Now, conn: ConnId, req: u32, nack: Nack<'_>) {
        let Nack { name, id, reason, delay_ms } = nack;
        if !self.check_queue(conn, req, name) || !self.check_writable(conn, req) {
            return;
        }
        let Some(no) = self.owned_lease(conn, name, &id) else {
            return self.reply(conn, req, Reply::Err(NACK_FAILED_TEXT.to_owned()));
        };
        self.end_lease(no);
        if let Some(q) = self.queues.get_mut(name) {
            QueueCounters::bump(&mut q.counters, &mut self.totals, |c| &mut c.nacked);
        }
        match self.fail_message(now, name, id, reason, delay_ms) {
            Some(seq) => self.journal.reply_after(seq, conn, req, Reply::Ok, &mut self.outputs),
            None => self.reply(conn, req, Reply::Ok),
        }
    }

    /// EXTEND: the lease now ends `ms` from now (not journaled: leases do not survive restarts).
    pub(super) fn extend(&mut self, now: Now, conn: ConnId, req: u32, name: &str, id: MsgId, ms: u64) {
        if !self.check_queue(conn, req, name) {
            return;
        }
        let Some(no) = self.owned_lease(conn, name, &id) else {
            return self.reply(conn, req, Reply::Err(EXTEND_FAILED_TEXT.to_owned()));
        };
        if let Some(mut lease) = self.end_lease(no) {
            lease.deadline = now.mono_ms.saturating_add(ms);
            self.timers.insert((lease.deadline, TimerKey::Lease(no)));
            self.leases.insert(no, lease);
        }
        self.reply(conn, req, Reply::Ok);
    }

    /// A failed delivery of a message whose lease has already ended: with
    /// `attempts >= max_retries` it is dead-lettered with `reason`, otherwise it goes to the tail
    /// of its priority (or is delayed by `delay_ms`). Returns the sequence of the record written.
    pub(super) fn fail_message(
        &mut self,
        now: Now,
        name: &str,
        id: MsgId,
        reason: &str,
        delay_ms: u64,
    ) -> Option<u64> {
        let q = self.queues.get_mut(name)?;
        let attempts = q.get(&id)?.attempts;
        // A queue with a dead-letter target moves messages there on receive instead.
        if q.redrive.is_none() && attempts >= q.settings.max_retries {
            q.set_slot(&id, Slot::Dead { reason: reason.into() });
            QueueCounters::bump(&mut q.counters, &mut self.totals, |c| &mut c.dead_lettered);
            let record = Record::Dead { name, id, attempts, reason };
            return Some(self.journal.append(&record, &mut self.outputs));
        }
        let due_wall_ms = if delay_ms == 0 { 0 } else { now.wall_ms.saturating_add(delay_ms).max(1) };
        q.set_slot(&id, Slot::after(due_wall_ms));
        let name: Arc<str> = q.name.clone();
        let seq = self.journal.append(&Record::Requeue { name: &name, id, due_wall_ms }, &mut self.outputs);
        if due_wall_ms == 0 {
            self.touched.insert(name);
        } else {
            self.rearm_due(now, &name);
        }
        Some(seq)
    }

    /// Lease `no` ran out: the message fails with reason `Timeout`.
    pub(super) fn expire_lease(&mut self, now: Now, no: u64) {
        let Some(lease) = self.leases.remove(no) else { return };
        if let Some(q) = self.queues.get_mut(&lease.queue) {
            QueueCounters::bump(&mut q.counters, &mut self.totals, |c| &mut c.expired);
        }
        self.fail_message(now, &lease.queue, lease.id, TIMEOUT_REASON, 0);
    }

    /// `conn` is gone: its leased messages are ready again at once (attempts kept), oldest lease
    /// first, each journaled as REQUEUE.
    pub(super) fn release_leases_of(&mut self, conn: ConnId) {
        for no in self.leases.of_conn(conn) {
            let Some(lease) = self.end_lease(no) else { continue };
            self.requeue_now(&lease.queue, lease.id);
        }
    }

    /// Puts a leased message back at the tail of its priority and journals it.
    pub(super) fn requeue_now(&mut self, name: &Arc<str>, id: MsgId) {
        let Some(q) = self.queues.get_mut(name) else { return };
        if q.set_slot(&id, Slot::Ready).is_none() {
            return;
        }
        self.journal.append(&Record::Requeue { name, id, due_wall_ms: 0 }, &mut self.outputs);
        self.touched.insert(name.clone());
    }
}
