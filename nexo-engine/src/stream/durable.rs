//! The write side: the `streams` journal's sequences, each data log's durable mark, replies held
//! until what they report is durable, log removals held until the DELETE is durable, and the
//! failed states.
//!
//! Per-connection order: once a connection has a held reply, its later replies are held behind
//! it and released in order, so a connection always sees its replies in request order (only
//! parked or reading FETCHes, SEEK_TIME and LIST_DLQ answer when they complete). Waits may name
//! different logs, so each connection has its own queue. This module must not look inside topics
//! or groups.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use nexo_proto::Reply;

use super::journal::Record;
use crate::ids::ConnId;
use crate::log::LogId;
use crate::output::Output;

/// What a held reply waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Journal record `seq` is durable.
    Journal(u64),
    /// Data-log record `seq` is durable, and journal record `after_journal` (the topic's
    /// CREATE) too.
    Data { log: LogId, seq: u64, after_journal: Option<u64> },
}

#[derive(Debug)]
struct Held {
    wait: Option<Wait>,
    id: u32,
    reply: Reply,
}

/// Durable marks the waits are checked against.
#[derive(Debug, Clone, Copy)]
struct Marks<'a> {
    journal: u64,
    data: &'a BTreeMap<LogId, u64>,
}

impl Marks<'_> {
    fn satisfied(&self, wait: &Wait) -> bool {
        match wait {
            Wait::Journal(seq) => *seq < self.journal,
            Wait::Data { log, seq, after_journal } => {
                self.data.get(log).is_none_or(|d| seq < d) && after_journal.is_none_or(|s| s < self.journal)
            }
        }
    }
}

/// The write state. See the module docs.
#[derive(Debug)]
pub(crate) struct Durable {
    pub log: LogId,
    /// Journal sequence of the next append.
    pub next_seq: u64,
    /// Journal records below this are durable.
    pub durable_next: u64,
    /// `Storage unavailable: …` once the journal failed.
    pub failed: Option<String>,
    /// Durable mark of every open data log (a log not listed waits for nothing).
    data: BTreeMap<LogId, u64>,
    held: BTreeMap<ConnId, VecDeque<Held>>,
    held_len: usize,
    /// Data logs to remove once the DELETE record (journal sequence) is durable.
    removals: VecDeque<(u64, LogId)>,
    /// Journal bytes appended since the last snapshot began (or since the log began).
    pub bytes_since_snapshot: u64,
    /// `(SNAPSHOT_BEGIN, SNAPSHOT_END)` sequences of a snapshot not yet durable.
    pub snapshot: Option<(u64, u64)>,
    /// Do not compute the live size again before the journal reaches this many bytes.
    pub next_check_at: u64,
    /// Snapshots written since start.
    pub snapshots: u64,
}

impl Durable {
    pub fn new(log: LogId) -> Self {
        Self {
            log,
            next_seq: 0,
            durable_next: 0,
            failed: None,
            data: BTreeMap::new(),
            held: BTreeMap::new(),
            held_len: 0,
            removals: VecDeque::new(),
            bytes_since_snapshot: 0,
            snapshot: None,
            next_check_at: 0,
            snapshots: 0,
        }
    }

    pub fn held_len(&self) -> usize {
        self.held_len
    }

    /// Emits `record` as the next journal `Append`; returns its sequence. After a failure
    /// nothing is emitted (callers refuse writes first; this is a guard).
    pub fn append(&mut self, record: &Record<'_>, outputs: &mut VecDeque<Output>) -> u64 {
        self.append_encoded(record.encode(), outputs)
    }

    /// [`Durable::append`] of a record already encoded.
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

    fn marks(&self) -> Marks<'_> {
        Marks { journal: self.durable_next, data: &self.data }
    }

    /// Sends `reply` now, or holds it behind an earlier held reply of the same connection.
    pub fn reply(&mut self, conn: ConnId, id: u32, reply: Reply, outputs: &mut VecDeque<Output>) {
        match self.held.get_mut(&conn) {
            Some(queue) => {
                queue.push_back(Held { wait: None, id, reply });
                self.held_len += 1;
            }
            None => outputs.push_back(Output::Reply { conn, id, reply }),
        }
    }

    /// Sends `reply` once `wait` holds (and earlier replies of `conn` are out).
    pub fn reply_after(
        &mut self,
        wait: Wait,
        conn: ConnId,
        id: u32,
        reply: Reply,
        outputs: &mut VecDeque<Output>,
    ) {
        if self.marks().satisfied(&wait) {
            return self.reply(conn, id, reply, outputs);
        }
        self.held.entry(conn).or_default().push_back(Held { wait: Some(wait), id, reply });
        self.held_len += 1;
    }

    /// Sends `reply` once every journal record appended so far is durable.
    pub fn reply_after_all(&mut self, conn: ConnId, id: u32, reply: Reply, outputs: &mut VecDeque<Output>) {
        match self.next_seq.checked_sub(1) {
            Some(last) if self.failed.is_none() => {
                self.reply_after(Wait::Journal(last), conn, id, reply, outputs)
            }
            _ => self.reply(conn, id, reply, outputs),
        }
    }

    /// Releases, connection by connection, the held replies whose waits now hold, in order.
    fn release(&mut self, outputs: &mut VecDeque<Output>) {
        let marks = Marks { journal: self.durable_next, data: &self.data };
        let mut released = 0;
        self.held.retain(|&conn, queue| {
            while queue.front().is_some_and(|h| h.wait.as_ref().is_none_or(|w| marks.satisfied(w))) {
                if let Some(h) = queue.pop_front() {
                    released += 1;
                    outputs.push_back(Output::Reply { conn, id: h.id, reply: h.reply });
                }
            }
            !queue.is_empty()
        });
        self.held_len -= released;
    }

    /// Journal records below `durable_next` are durable: releases replies; returns the data
    /// logs whose removal may now happen.
    pub fn persisted_journal(&mut self, durable_next: u64, outputs: &mut VecDeque<Output>) -> Vec<LogId> {
        self.durable_next = self.durable_next.max(durable_next);
        self.release(outputs);
        let mut logs = Vec::new();
        while self.removals.front().is_some_and(|(seq, _)| *seq < self.durable_next) {
            if let Some((_, log)) = self.removals.pop_front() {
                logs.push(log);
            }
        }
        logs
    }

    /// A data log is open with everything below `durable_next` durable.
    pub fn track_data(&mut self, log: LogId, durable_next: u64) {
        self.data.insert(log, durable_next);
    }

    /// Data-log records below `durable_next` are durable: releases replies.
    pub fn persisted_data(&mut self, log: &LogId, durable_next: u64, outputs: &mut VecDeque<Output>) {
        if let Some(mark) = self.data.get_mut(log) {
            *mark = (*mark).max(durable_next);
            self.release(outputs);
        }
    }

    /// A data log is no longer the topic's (DELETE): replies waiting for it go out as they are.
    pub fn forget_data(&mut self, log: &LogId, outputs: &mut VecDeque<Output>) {
        if self.data.remove(log).is_some() {
            self.release(outputs);
        }
    }

    /// Removes `log` once journal record `seq` (its topic's DELETE) is durable.
    pub fn remove_after(&mut self, seq: u64, log: LogId) {
        self.removals.push_back((seq, log));
    }

    /// The journal failed for good: replies that wait for a journal record get `text`.
    pub fn fail_journal(&mut self, text: &str, outputs: &mut VecDeque<Output>) {
        self.failed = Some(text.to_owned());
        self.snapshot = None;
        self.removals.clear();
        let journal = self.durable_next;
        self.fail_where(text, outputs, |w| match w {
            Wait::Journal(seq) => *seq >= journal,
            Wait::Data { after_journal, .. } => after_journal.is_some_and(|s| s >= journal),
        });
    }

    /// Data log `log` failed for good: replies that wait for one of its records get `text`.
    pub fn fail_data(&mut self, log: &LogId, text: &str, outputs: &mut VecDeque<Output>) {
        let Some(&mark) = self.data.get(log) else { return };
        self.fail_where(
            text,
            outputs,
            |w| matches!(w, Wait::Data { log: l, seq, .. } if l == log && *seq >= mark),
        );
    }

    fn fail_where(&mut self, text: &str, outputs: &mut VecDeque<Output>, doomed: impl Fn(&Wait) -> bool) {
        for queue in self.held.values_mut() {
            for h in queue.iter_mut() {
                if h.wait.as_ref().is_some_and(&doomed) {
                    h.wait = None;
                    h.reply = Reply::Err(text.to_owned());
                }
            }
        }
        self.release(outputs);
    }

    /// `conn` is gone: its held replies are dropped.
    pub fn drop_conn(&mut self, conn: ConnId) {
        if let Some(queue) = self.held.remove(&conn) {
            self.held_len -= queue.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replies(outputs: &mut VecDeque<Output>) -> Vec<(u64, u32)> {
        outputs
            .drain(..)
            .filter_map(|o| match o {
                Output::Reply { conn, id, .. } => Some((conn.0, id)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_connection_keeps_its_order_across_logs() {
        let mut d = Durable::new(LogId::new("streams"));
        let mut out = VecDeque::new();
        let data = LogId::new("stream-1-t");
        d.track_data(data.clone(), 1);
        let wait = |seq| Wait::Data { log: data.clone(), seq, after_journal: None };
        d.reply_after(wait(1), ConnId(1), 1, Reply::Seq(1), &mut out);
        d.reply(ConnId(1), 2, Reply::Ok, &mut out);
        d.reply(ConnId(2), 3, Reply::Ok, &mut out);
        d.reply_after(Wait::Journal(0), ConnId(2), 4, Reply::Ok, &mut out);
        d.reply(ConnId(2), 5, Reply::Ok, &mut out);
        assert_eq!(replies(&mut out), [(2, 3)]);
        assert_eq!(d.held_len(), 4);
        d.persisted_journal(1, &mut out);
        assert_eq!(replies(&mut out), [(2, 4), (2, 5)]);
        d.persisted_data(&data, 2, &mut out);
        assert_eq!(replies(&mut out), [(1, 1), (1, 2)]);
        assert_eq!(d.held_len(), 0);
    }

    #[test]
    fn failures_answer_what_can_never_become_durable() {
        let mut d = Durable::new(LogId::new("streams"));
        let mut out = VecDeque::new();
        let data = LogId::new("stream-1-t");
        d.track_data(data.clone(), 1);
        d.reply_after(
            Wait::Data { log: data.clone(), seq: 1, after_journal: Some(0) },
            ConnId(1),
            1,
            Reply::Seq(1),
            &mut out,
        );
        d.reply_after(
            Wait::Data { log: data.clone(), seq: 2, after_journal: None },
            ConnId(2),
            2,
            Reply::Seq(2),
            &mut out,
        );
        d.fail_journal("Storage unavailable: x", &mut out);
        let got: Vec<_> = out.drain(..).collect();
        assert!(matches!(&got[..], [Output::Reply { id: 1, reply: Reply::Err(_), .. }]), "{got:?}");
        d.fail_data(&data, "Storage unavailable: y", &mut out);
        assert!(matches!(out.pop_front(), Some(Output::Reply { id: 2, reply: Reply::Err(_), .. })));
    }
}
