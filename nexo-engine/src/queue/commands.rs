//! Request handling: one function per queue-level command (CREATE, DELETE, EXISTS, PUSH,
//! CONSUME, PURGE, LIST) and the checks every command shares.
//!
//! Lease commands live in `lease`, DLQ commands in `dlq`. This module must not encode records
//! (that is `journal`) or decide durability (that is `durable`); it states what changed.

use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::{ConsumeOptions, PushOptions, QueueOptions};
use nexo_proto::reply::QueueInfo;
use nexo_proto::request::QueueRequest;

use super::config::validate_name;
use super::journal::{MAX_RECORD_NAME_BYTES, MsgId, Record};
use super::lease::Nack;
use super::state::{QueueSettings, QueueState, Slot};
use super::stats::QueueCounters;
use super::{MAX_PAGE, Queue, TimerKey};
use crate::ids::ConnId;
use crate::time::Now;

/// ERR text of EXISTS on a missing queue.
pub const EXISTS_NOT_FOUND_TEXT: &str = "Queue not found";

impl Queue {
    /// Routes one request.
    pub(super) fn dispatch(&mut self, now: Now, conn: ConnId, req: u32, request: QueueRequest) {
        match request {
            QueueRequest::Create { name, options } => self.create(conn, req, &name, options),
            QueueRequest::Push { name, options, payload } => {
                self.push(now, conn, req, &name, options, &payload)
            }
            QueueRequest::Consume { name, options } => self.consume(now, conn, req, &name, options),
            QueueRequest::Ack { id, name } => self.ack(conn, req, &name, id),
            QueueRequest::Exists { name } => {
                let reply = if self.queues.contains_key(name.as_str()) {
                    Reply::Ok
                } else {
                    Reply::Err(EXISTS_NOT_FOUND_TEXT.to_owned())
                };
                self.reply(conn, req, reply);
            }
            QueueRequest::Delete { name } => self.delete(conn, req, &name),
            QueueRequest::PeekDlq { name, limit, offset } => self.peek_dlq(conn, req, &name, limit, offset),
            QueueRequest::MoveToQueue { name, id } => self.move_to_queue(conn, req, &name, id),
            QueueRequest::DeleteDlq { name, id } => self.delete_dlq(conn, req, &name, id),
            QueueRequest::PurgeDlq { name } => self.purge_dlq(conn, req, &name),
            QueueRequest::Nack { id, name, reason } => {
                self.nack(now, conn, req, Nack { name: &name, id, reason: &reason, delay_ms: 0 });
            }
            QueueRequest::Extend { id, name, ms } => self.extend(now, conn, req, &name, id, ms),
            QueueRequest::NackDelay { id, name, reason, delay_ms } => {
                self.nack(now, conn, req, Nack { name: &name, id, reason: &reason, delay_ms });
            }
            QueueRequest::Purge { name } => self.purge(now, conn, req, &name),
            QueueRequest::List { offset, limit } => self.list(conn, req, offset, limit),
        }
    }

    /// Answers now, or behind the connection's held replies.
    pub(super) fn reply(&mut self, conn: ConnId, req: u32, reply: Reply) {
        self.journal.reply(conn, req, reply, &mut self.outputs);
    }

    /// `Queue '<name>' not found`.
    pub(super) fn not_found(&mut self, conn: ConnId, req: u32, name: &str) {
        self.reply(conn, req, Reply::Err(format!("Queue '{name}' not found")));
    }

    /// Whether queue `name` exists; answers `not found` when it does not.
    pub(super) fn check_queue(&mut self, conn: ConnId, req: u32, name: &str) -> bool {
        if self.queues.contains_key(name) {
            return true;
        }
        self.not_found(conn, req, name);
        false
    }

    /// Whether the journal still takes writes; answers `Storage unavailable: …` when not.
    pub(super) fn check_writable(&mut self, conn: ConnId, req: u32) -> bool {
        match self.journal.failed.clone() {
            None => true,
            Some(text) => {
                self.reply(conn, req, Reply::Err(text));
                false
            }
        }
    }

    /// The depth limit in effect for `q`.
    pub(super) fn max_depth(&self, q: &QueueState) -> u64 {
        if q.settings.max_depth == 0 { self.config.default_max_depth } else { q.settings.max_depth }
    }

    /// The payload-byte limit in effect for `q`.
    pub(super) fn max_bytes(&self, q: &QueueState) -> u64 {
        if q.settings.max_bytes == 0 { self.config.default_max_bytes } else { q.settings.max_bytes }
    }

    fn create(&mut self, conn: ConnId, req: u32, name: &str, options: QueueOptions) {
        let max_name_bytes = self.config.max_name_bytes.min(MAX_RECORD_NAME_BYTES);
        if let Err(err) = validate_name(name, max_name_bytes) {
            return self.reply(conn, req, Reply::error(err));
        }
        if self.queues.contains_key(name) {
            // Idempotent; the reply still waits until the queue's own record is durable.
            return self.journal.reply_after_all(conn, req, Reply::Ok, &mut self.outputs);
        }
        if !self.check_writable(conn, req) {
            return;
        }
        if self.queues.len() >= self.config.max_queues {
            let text = format!("Too many queues (max {})", self.config.max_queues);
            return self.reply(conn, req, Reply::Err(text));
        }
        let settings = QueueSettings {
            visibility_timeout_ms: options
                .visibility_timeout_ms
                .filter(|&ms| ms > 0)
                .unwrap_or(self.config.default_visibility_timeout_ms),
            max_retries: options.max_retries.unwrap_or(self.config.default_max_retries),
            max_depth: options.max_depth.unwrap_or(0),
            max_bytes: options.max_bytes.unwrap_or(0),
        };
        let name: Arc<str> = Arc::from(name);
        self.queues.insert(name.clone(), QueueState::new(name.clone(), settings, self.hasher));
        let seq = self.journal.append(&Record::Create { name: &name, settings }, &mut self.outputs);
        self.journal.reply_after(seq, conn, req, Reply::Ok, &mut self.outputs);
    }

    fn delete(&mut self, conn: ConnId, req: u32, name: &str) {
        if !self.queues.contains_key(name) {
            return self.reply(conn, req, Reply::Ok);
        }
        if !self.check_writable(conn, req) {
            return;
        }
        let Some(q) = self.queues.remove(name) else { return };
        for (no, _) in q.leased() {
            if let Some(lease) = self.leases.remove(no) {
                self.timers.remove(&(lease.deadline, TimerKey::Lease(no)));
            }
        }
        if let Some(at) = q.due_timer {
            self.timers.remove(&(at, TimerKey::Due(q.name.clone())));
        }
        for no in q.waiters.iter().copied() {
            self.answer_parked(no, Reply::QueueMessages(Vec::new()));
        }
        let seq = self.journal.append(&Record::Delete { name }, &mut self.outputs);
        self.journal.reply_after(seq, conn, req, Reply::Ok, &mut self.outputs);
    }

    fn push(&mut self, now: Now, conn: ConnId, req: u32, name: &str, options: PushOptions, payload: &Bytes) {
        match self.enqueue(now, name, options, payload) {
            Ok((seq, _)) => self.journal.reply_after(seq, conn, req, Reply::Ok, &mut self.outputs),
            Err(text) => self.reply(conn, req, Reply::Err(text)),
        }
    }

    /// Adds a message to queue `name` (pending until its record is durable) and journals it;
    /// returns the record's sequence and the new id, or the ERR text (not found, storage
    /// unavailable, full; checked in that order).
    pub(super) fn enqueue(
        &mut self,
        now: Now,
        name: &str,
        options: PushOptions,
        payload: &Bytes,
    ) -> Result<(u64, MsgId), String> {
        let Some(q) = self.queues.get(name) else {
            return Err(format!("Queue '{name}' not found. Create it first."));
        };
        let full = q.depth() >= self.max_depth(q)
            || q.bytes().saturating_add(payload.len() as u64) > self.max_bytes(q);
        if let Some(text) = &self.journal.failed {
            return Err(text.clone());
        }
        if full {
            return Err(format!("Queue '{name}' is full"));
        }
        let id = self.fresh_id(name);
        let priority = options.priority.unwrap_or(0);
        let due_wall_ms = match options.delay_ms {
            Some(delay) if delay > 0 => now.wall_ms.saturating_add(delay).max(1),
            _ => 0,
        };
        let record = Record::Push { name, id, priority, due_wall_ms, payload }.encode();
        // The stored payload is the tail of the record: one copy, and the connection's read
        // buffer is not pinned.
        let stored = record.slice(record.len() - payload.len()..);
        let Some(q) = self.queues.get_mut(name) else { return Err(format!("Queue '{name}' not found")) };
        q.insert(id, priority, stored, 0, Slot::Pending { due_wall_ms });
        QueueCounters::bump(&mut q.counters, &mut self.totals, |c| &mut c.pushed);
        let seq = self.journal.append_encoded(record, &mut self.outputs);
        self.journal.push_pending(seq, q.name.clone(), id);
        Ok((seq, id))
    }

    /// A message id not used in queue `name` (16 random bytes from the seeded generator).
    pub(super) fn fresh_id(&mut self, name: &str) -> MsgId {
        loop {
            let id = self.rng.next_id();
            if !self.queues.get(name).is_some_and(|q| q.contains(&id)) {
                return id;
            }
        }
    }

    fn consume(&mut self, now: Now, conn: ConnId, req: u32, name: &str, options: ConsumeOptions) {
        if !self.check_queue(conn, req, name) || !self.check_writable(conn, req) {
            return;
        }
        let batch = options
            .batch_size
            .unwrap_or(self.config.default_batch_size)
            .clamp(1, self.config.max_batch_size.max(1));
        let wait_ms = options.wait_ms.unwrap_or(0);
        // Messages due for a dead-letter target move now, so a long-poll parks when nothing else
        // is ready.
        self.redrive_front(name);
        let Some(q) = self.queues.get(name) else { return };
        if q.ready_len() > 0 || wait_ms == 0 {
            let messages = self.deliver(now, conn, name, batch);
            return self.reply(conn, req, Reply::QueueMessages(messages));
        }
        let queue = q.name.clone();
        self.park(now, conn, req, &queue, batch, wait_ms);
    }

    fn purge(&mut self, now: Now, conn: ConnId, req: u32, name: &str) {
        if !self.check_queue(conn, req, name) || !self.check_writable(conn, req) {
            return;
        }
        let removed = self.queues.get_mut(name).map_or(0, QueueState::purge);
        self.rearm_due(now, name);
        let count = Reply::Count(u32::try_from(removed).unwrap_or(u32::MAX));
        if removed == 0 {
            return self.reply(conn, req, count);
        }
        let seq = self.journal.append(&Record::Purge { name }, &mut self.outputs);
        self.journal.reply_after(seq, conn, req, count, &mut self.outputs);
    }

    fn list(&mut self, conn: ConnId, req: u32, offset: u32, limit: u32) {
        let limit = (limit as usize).min(MAX_PAGE);
        let queues = self
            .queues
            .values()
            .skip(offset as usize)
            .take(limit)
            .map(|q| QueueInfo {
                name: q.name.to_string(),
                ready: q.ready_len() as u64,
                in_flight: q.leased_len() as u64,
                delayed: q.delayed_len() as u64,
                dead: q.dead_len() as u64,
            })
            .collect();
        let total = u32::try_from(self.queues.len()).unwrap_or(u32::MAX);
        self.reply(conn, req, Reply::QueueList { total, queues });
    }
}
