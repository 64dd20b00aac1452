//! The write side of the journal: sequence prediction, replies held until their record is
//! durable, pushes kept invisible until durable, and the failed state.
//!
//! Owns `next_seq` (the sequence the next `Append` gets), `durable_next` (everything below it is
//! durable), the held replies in order, and the pushes waiting to become visible. It must not
//! look inside queues; the broker applies what [`Journal::take_durable_pushes`] hands back.
//!
//! Per-connection order: once a connection has a held reply, its later replies are held behind
//! it (released in order), so a connection always sees its replies in request order; only
//! parked long-polls answer out of order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::Reply;

use super::journal::{MsgId, Record};
use crate::ids::{ConnId, SeededState};
use crate::log::LogId;
use crate::output::Output;

/// A reply waiting for durability (`wait = Some(seq)`) or for an earlier reply of its connection.
#[derive(Debug)]
struct Held {
    wait: Option<u64>,
    conn: ConnId,
    id: u32,
    reply: Reply,
}

/// The journal's write state.
#[derive(Debug)]
pub(crate) struct Journal {
    pub log: LogId,
    /// Sequence of the next append.
    pub next_seq: u64,
    /// Every record below it is durable.
    pub durable_next: u64,
    held: VecDeque<Held>,
    held_per_conn: HashMap<ConnId, u32, SeededState>,
    /// Pushed messages not yet visible: `(seq of the PUSH record, queue, id)`.
    pending_pushes: VecDeque<(u64, Arc<str>, MsgId)>,
    /// `Storage unavailable: …` once the log failed.
    pub failed: Option<String>,
    /// Bytes appended since the last snapshot began (or since the log began).
    pub bytes_since_snapshot: u64,
    /// `(SnapshotBegin seq, SnapshotEnd seq)` of a snapshot not yet durable.
    pub snapshot: Option<(u64, u64)>,
    /// Do not compute the live size again before the journal reaches this many bytes.
    pub next_check_at: u64,
    /// Snapshots written since start.
    pub snapshots: u64,
}

impl Journal {
    pub fn new(log: LogId, hasher: SeededState) -> Self {
        Self {
            log,
            next_seq: 0,
            durable_next: 0,
            held: VecDeque::new(),
            held_per_conn: HashMap::with_hasher(hasher),
            pending_pushes: VecDeque::new(),
            failed: None,
            bytes_since_snapshot: 0,
            snapshot: None,
            next_check_at: 0,
            snapshots: 0,
        }
    }

    pub fn held_len(&self) -> usize {
        self.held.len()
    }

    /// Emits `record` as the next `Append`; returns its sequence. After a failure nothing is
    /// emitted (callers refuse writes first; this is a guard).
    pub fn append(&mut self, record: &Record<'_>, outputs: &mut VecDeque<Output>) -> u64 {
        if self.failed.is_some() {
            return self.next_seq;
        }
        self.append_encoded(record.encode(), outputs)
    }

    /// [`Journal::append`] of a record already encoded.
    pub fn append_encoded(&mut self, bytes: Bytes, outputs: &mut VecDeque<Output>) -> u64 {
        let seq = self.next_seq;
        if self.failed.is_some() {
            return seq;
        }
        self.next_seq += 1;
        self.bytes_since_snapshot += bytes.len() as u64;
        outputs.push_back(Output::Append { log: self.log.clone(), seq, record: bytes });
        seq
    }

    /// Sends `reply` now, or holds it behind an earlier held reply of the same connection.
    pub fn reply(&mut self, conn: ConnId, id: u32, reply: Reply, outputs: &mut VecDeque<Output>) {
        if self.held_per_conn.contains_key(&conn) {
            self.hold(None, conn, id, reply);
        } else {
            outputs.push_back(Output::Reply { conn, id, reply });
        }
    }

    /// Sends `reply` once record `seq` is durable (and earlier replies of `conn` are out).
    pub fn reply_after(
        &mut self,
        seq: u64,
        conn: ConnId,
        id: u32,
        reply: Reply,
        outputs: &mut VecDeque<Output>,
    ) {
        if seq < self.durable_next {
            self.reply(conn, id, reply, outputs);
        } else {
            self.hold(Some(seq), conn, id, reply);
        }
    }

    /// Sends `reply` once everything appended so far is durable.
    pub fn reply_after_all(&mut self, conn: ConnId, id: u32, reply: Reply, outputs: &mut VecDeque<Output>) {
        match self.next_seq.checked_sub(1) {
            Some(last) if self.failed.is_none() => self.reply_after(last, conn, id, reply, outputs),
            _ => self.reply(conn, id, reply, outputs),
        }
    }

    fn hold(&mut self, wait: Option<u64>, conn: ConnId, id: u32, reply: Reply) {
        *self.held_per_conn.entry(conn).or_default() += 1;
        self.held.push_back(Held { wait, conn, id, reply });
    }

    fn unhold(&mut self, held: Held, outputs: &mut VecDeque<Output>) {
        if let Some(n) = self.held_per_conn.get_mut(&held.conn) {
            *n -= 1;
            if *n == 0 {
                self.held_per_conn.remove(&held.conn);
            }
        }
        outputs.push_back(Output::Reply { conn: held.conn, id: held.id, reply: held.reply });
    }

    /// Everything below `durable_next` is durable: records it and releases the replies that
    /// waited for it, in order.
    pub fn persisted(&mut self, durable_next: u64, outputs: &mut VecDeque<Output>) {
        self.durable_next = self.durable_next.max(durable_next);
        while let Some(front) = self.held.front() {
            if front.wait.is_some_and(|seq| seq >= self.durable_next) {
                break;
            }
            let Some(held) = self.held.pop_front() else { break };
            self.unhold(held, outputs);
        }
    }

    /// Remembers a push that becomes visible once record `seq` is durable.
    pub fn push_pending(&mut self, seq: u64, queue: Arc<str>, id: MsgId) {
        self.pending_pushes.push_back((seq, queue, id));
    }

    /// The pushes whose record is now durable, in push order.
    pub fn take_durable_pushes(&mut self) -> Vec<(Arc<str>, MsgId)> {
        let mut out = Vec::new();
        while self.pending_pushes.front().is_some_and(|(seq, ..)| *seq < self.durable_next) {
            if let Some((_, queue, id)) = self.pending_pushes.pop_front() {
                out.push((queue, id));
            }
        }
        out
    }

    /// The log failed for good: replies that waited for a record get `text`, the others their
    /// own reply; returns the pushes that will never become visible.
    pub fn fail(&mut self, text: &str, outputs: &mut VecDeque<Output>) -> Vec<(Arc<str>, MsgId)> {
        self.failed = Some(text.to_owned());
        self.snapshot = None;
        while let Some(mut held) = self.held.pop_front() {
            if held.wait.is_some_and(|seq| seq >= self.durable_next) {
                held.reply = Reply::Err(text.to_owned());
            }
            self.unhold(held, outputs);
        }
        self.pending_pushes.drain(..).map(|(_, queue, id)| (queue, id)).collect()
    }
}
