//! Dead-letter queue commands: PEEK_DLQ, MOVE_TO_QUEUE, DELETE_DLQ and PURGE_DLQ.
//!
//! A message lands in its queue's DLQ when a NACK or lease expiry finds `attempts >=
//! maxRetries` (see `lease`); this module only serves the commands that read and empty the DLQ.
//! Changes are journaled and their replies wait for the record; a command that changes nothing
//! (`Flag(false)`, a count of 0) writes no record and answers at once.

use nexo_proto::Reply;
use nexo_proto::reply::DlqMessage;

use super::Queue;
use super::journal::{MsgId, Record};
use super::state::{Place, Slot};
use crate::ids::ConnId;

impl Queue {
    /// PEEK_DLQ: a page of dead messages, newest failure first, with the total; the page stops
    /// before the reply would pass the byte limit (but carries at least one message).
    pub(super) fn peek_dlq(&mut self, conn: ConnId, req: u32, name: &str, limit: u32, offset: u32) {
        let Some(q) = self.queues.get(name) else { return self.not_found(conn, req, name) };
        let limit = limit.min(self.config.max_batch_size) as usize;
        let total = u32::try_from(q.dead_len()).unwrap_or(u32::MAX);
        let mut size = 8usize;
        let mut messages = Vec::new();
        for id in q.dead_ids().rev().skip(offset as usize).take(limit) {
            let Some(m) = q.get(&id) else { continue };
            let Place::Dead { reason, .. } = &m.place else { continue };
            let item = 16 + 4 + m.payload.len() + 4 + 4 + reason.len();
            if !messages.is_empty() && size + item > self.config.max_reply_bytes {
                break;
            }
            size += item;
            messages.push(DlqMessage {
                id,
                payload: m.payload.clone(),
                attempts: m.attempts,
                reason: reason.to_string(),
            });
        }
        self.reply(conn, req, Reply::DlqPage { total, messages });
    }

    /// MOVE_TO_QUEUE: a dead message is ready again (tail of its priority) with attempts 0.
    pub(super) fn move_to_queue(&mut self, conn: ConnId, req: u32, name: &str, id: MsgId) {
        if !self.check_queue(conn, req, name) || !self.check_writable(conn, req) {
            return;
        }
        let Some(q) = self.queues.get_mut(name).filter(|q| is_dead(q.get(&id).map(|m| &m.place))) else {
            return self.reply(conn, req, Reply::Flag(false));
        };
        q.set_attempts(&id, 0);
        q.set_slot(&id, Slot::Ready);
        self.touched.insert(q.name.clone());
        let seq = self.journal.append(&Record::Move { name, id }, &mut self.outputs);
        self.journal.reply_after(seq, conn, req, Reply::Flag(true), &mut self.outputs);
    }

    /// DELETE_DLQ: removes one dead message.
    pub(super) fn delete_dlq(&mut self, conn: ConnId, req: u32, name: &str, id: MsgId) {
        if !self.check_queue(conn, req, name) || !self.check_writable(conn, req) {
            return;
        }
        let Some(q) = self.queues.get_mut(name).filter(|q| is_dead(q.get(&id).map(|m| &m.place))) else {
            return self.reply(conn, req, Reply::Flag(false));
        };
        q.remove(&id);
        let seq = self.journal.append(&Record::DlqDelete { name, id }, &mut self.outputs);
        self.journal.reply_after(seq, conn, req, Reply::Flag(true), &mut self.outputs);
    }

    /// PURGE_DLQ: removes every dead message; answers how many.
    pub(super) fn purge_dlq(&mut self, conn: ConnId, req: u32, name: &str) {
        if !self.check_queue(conn, req, name) || !self.check_writable(conn, req) {
            return;
        }
        let removed = self.queues.get_mut(name).map_or(0, |q| q.purge_dead());
        let count = Reply::Count(u32::try_from(removed).unwrap_or(u32::MAX));
        if removed == 0 {
            return self.reply(conn, req, count);
        }
        let seq = self.journal.append(&Record::DlqPurge { name }, &mut self.outputs);
        self.journal.reply_after(seq, conn, req, count, &mut self.outputs);
    }
}

fn is_dead(place: Option<&Place>) -> bool {
    matches!(place, Some(Place::Dead { .. }))
}
