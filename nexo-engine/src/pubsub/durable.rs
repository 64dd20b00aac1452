//! The write side of the retained journal: sequence prediction, outputs held until a record is
//! durable, the undo list of changes not yet durable, and the failed state.
//!
//! Owns `next_seq` (the sequence the next `Append` gets), `durable_next` (everything below it is
//! durable), the held outputs in order, and, for every retained change a PUBLISH made that is not
//! yet durable, the message it replaced. It must not look inside the retained store; the broker
//! applies what [`Journal::fail`] hands back.
//!
//! Per-connection order: once a connection has a held output (a retained PUBLISH's reply
//! waiting for its record), every later output to that connection (replies, pushes, a close) is
//! held behind it and released in order, so a connection sees exactly the order it would have
//! seen without durability: its replies in request order, a SUBSCRIBE's `OK` before the retained
//! messages it pushes, its own reply before the push of its own message.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::Reply;

use super::journal::Record;
use super::retained::Retained;
use crate::ids::{ConnId, SeededState};
use crate::log::LogId;
use crate::output::Output;

/// An output to `conn` waiting for durability (`wait = Some(seq)`) or for an earlier held output
/// of its connection.
#[derive(Debug)]
struct Held {
    wait: Option<u64>,
    conn: ConnId,
    output: Output,
}

/// A retained change made by a PUBLISH whose record (`seq`) is not durable yet: what `topic`
/// retained before it.
#[derive(Debug)]
pub(crate) struct Undo {
    pub seq: u64,
    pub topic: Arc<str>,
    pub previous: Option<Retained>,
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
    /// Changes not yet durable, oldest first.
    undo: VecDeque<Undo>,
    /// `Storage unavailable: …` once the log failed.
    pub failed: Option<String>,
    /// Bytes appended since the last snapshot began (or since the log began).
    pub bytes_since_snapshot: u64,
    /// `(SnapshotBegin seq, SnapshotEnd seq)` of a snapshot not yet durable.
    pub snapshot: Option<(u64, u64)>,
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
            undo: VecDeque::new(),
            failed: None,
            bytes_since_snapshot: 0,
            snapshot: None,
            snapshots: 0,
        }
    }

    /// Outputs held now.
    #[cfg(test)]
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

    fn append_encoded(&mut self, bytes: Bytes, outputs: &mut VecDeque<Output>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.bytes_since_snapshot += bytes.len() as u64;
        outputs.push_back(Output::Append { log: self.log.clone(), seq, record: bytes });
        seq
    }

    /// Sends `output` (a reply, push or close addressed to `conn`) now, or holds it behind an
    /// earlier held output of the same connection.
    pub fn emit(&mut self, conn: ConnId, output: Output, outputs: &mut VecDeque<Output>) {
        if self.held_per_conn.contains_key(&conn) {
            self.hold(None, conn, output);
        } else {
            outputs.push_back(output);
        }
    }

    /// Sends `reply` once record `seq` is durable (and earlier held outputs of `conn` are out).
    pub fn reply_after(
        &mut self,
        seq: u64,
        conn: ConnId,
        id: u32,
        reply: Reply,
        outputs: &mut VecDeque<Output>,
    ) {
        let output = Output::Reply { conn, id, reply };
        if seq < self.durable_next || self.failed.is_some() {
            self.emit(conn, output, outputs);
        } else {
            self.hold(Some(seq), conn, output);
        }
    }

    fn hold(&mut self, wait: Option<u64>, conn: ConnId, output: Output) {
        *self.held_per_conn.entry(conn).or_default() += 1;
        self.held.push_back(Held { wait, conn, output });
    }

    fn unhold(&mut self, held: Held, outputs: &mut VecDeque<Output>) {
        if let Some(n) = self.held_per_conn.get_mut(&held.conn) {
            *n -= 1;
            if *n == 0 {
                self.held_per_conn.remove(&held.conn);
            }
        }
        outputs.push_back(held.output);
    }

    /// Remembers that the change recorded as `seq` replaced `previous` on `topic`.
    pub fn remember(&mut self, seq: u64, topic: Arc<str>, previous: Option<Retained>) {
        if self.failed.is_none() {
            self.undo.push_back(Undo { seq, topic, previous });
        }
    }

    /// Everything below `durable_next` is durable: forgets the undo entries it covers and
    /// releases the outputs that waited for it, in order.
    pub fn persisted(&mut self, durable_next: u64, outputs: &mut VecDeque<Output>) {
        self.durable_next = self.durable_next.max(durable_next);
        while self.undo.front().is_some_and(|u| u.seq < self.durable_next) {
            self.undo.pop_front();
        }
        while let Some(front) = self.held.front() {
            if front.wait.is_some_and(|seq| seq >= self.durable_next) {
                break;
            }
            let Some(held) = self.held.pop_front() else { break };
            self.unhold(held, outputs);
        }
    }

    /// The log failed for good: replies that waited for a record get `text`, every held output
    /// is released in order; returns the changes that will never be durable, newest first (the
    /// order in which to undo them).
    pub fn fail(&mut self, text: &str, outputs: &mut VecDeque<Output>) -> Vec<Undo> {
        self.failed = Some(text.to_owned());
        self.snapshot = None;
        while let Some(mut held) = self.held.pop_front() {
            if held.wait.is_some_and(|seq| seq >= self.durable_next)
                && let Output::Reply { reply, .. } = &mut held.output
            {
                *reply = Reply::Err(text.to_owned());
            }
            self.unhold(held, outputs);
        }
        self.undo.drain(..).rev().collect()
    }
}
