//! Requests that may need the data log before they can answer: SEEK_TIME (a binary search for
//! the first message at or after a timestamp) and LIST_DLQ (dead letters with their data).
//!
//! SEEK_TIME narrows the range with the in-memory tail first (timestamps never decrease along a
//! topic), then probes one record per read. Records deleted by retention are never an answer:
//! a probe that lands below the first record present moves the lower bound up to it. Both
//! answer when their reads are back, out of the connection's order, and count toward
//! [`super::StreamConfig::max_parked_per_conn`]. This module must not change group positions
//! itself; SEEK_TIME ends in `members::apply_seek`.

use std::sync::Arc;

use nexo_proto::Reply;
use nexo_proto::reply::StreamDeadLetter;

use super::Stream;
use super::commands::TOPIC_NOT_FOUND_TEXT;
use super::data;
use super::fetch::TOO_MANY_PENDING_TEXT;
use super::load::{Load, ReadFor};
use super::members::GROUP_NOT_FOUND_TEXT;
use crate::ids::ConnId;
use crate::log::{LogId, StoredRecord};
use crate::output::Output;

/// Bytes of one dead letter in a LIST_DLQ reply besides its payload.
const DEAD_LETTER_OVERHEAD_BYTES: usize = 8 + 8 + 4 + 4;

/// A request waiting for reads.
#[derive(Debug)]
pub(crate) struct Lookup {
    pub conn: ConnId,
    pub id: u32,
    pub topic: Arc<str>,
    pub log: LogId,
    pub group: Arc<str>,
    pub kind: LookupKind,
}

#[derive(Debug)]
pub(crate) enum LookupKind {
    /// The answer is in `lo..=hi`; `hi` itself means "nothing before it qualifies".
    SeekTime { timestamp_ms: u64, lo: u64, hi: u64, base: u64 },
    /// A LIST_DLQ page: `(seq, deliveries)` and their data.
    Dlq { total: u32, entries: Vec<(u64, u32)>, load: Load },
}

impl Stream {
    pub(super) fn seek_time(&mut self, conn: ConnId, req: u32, topic: &str, group: &str, timestamp_ms: u64) {
        if !self.check_topic(conn, req, topic)
            || !self.check_name(conn, req, group)
            || !self.check_writable(conn, req)
        {
            return;
        }
        let Some(t) = self.meta.topics.get(topic) else { return };
        let (first, end) = (t.first_wire(), t.visible_end());
        let (lo, hi) = match t.cache.front() {
            Some(c) if c.seq < end && c.timestamp_ms < timestamp_ms => {
                let at = t.cache.first_at_or_after(timestamp_ms, end).unwrap_or(end);
                (at, at)
            }
            Some(c) if c.seq < end => (first, c.seq.max(first)),
            _ => (first, end),
        };
        if lo >= hi {
            return self.apply_seek(conn, req, topic, group, hi, Reply::Seq(hi));
        }
        if self.fetches.count(conn) + self.lookups.count(conn) >= self.config.max_parked_per_conn {
            return self.err(conn, req, TOO_MANY_PENDING_TEXT);
        }
        let (log, base) = (t.log.clone(), t.settings.base);
        let lookup = Lookup {
            conn,
            id: req,
            topic: t.name.clone(),
            log: log.clone(),
            group: Arc::from(group),
            kind: LookupKind::SeekTime { timestamp_ms, lo, hi, base },
        };
        let no = self.lookups.insert(conn, lookup);
        let mid = lo + (hi - lo) / 2;
        self.emit_probe(&log, mid.saturating_sub(base), ReadFor::SeekTime { no, seq: mid });
    }

    /// One probe of SEEK_TIME `no` at `mid` came back: narrow, probe again, or seek.
    pub(super) fn seek_probe(&mut self, no: u64, mid: u64, result: Result<Vec<StoredRecord>, String>) {
        let Some(lookup) = self.lookups.entries.get_mut(&no) else { return };
        let LookupKind::SeekTime { timestamp_ms, lo, hi, base } = &mut lookup.kind else { return };
        let records = match result {
            Ok(records) => records,
            Err(why) => {
                let (conn, id) = (lookup.conn, lookup.id);
                self.lookups.remove(conn, no);
                let reply = Reply::Err(format!("Storage unavailable: {why}"));
                return self.outputs.push_back(Output::Reply { conn, id, reply });
            }
        };
        match records.first() {
            None => *lo = *hi,
            Some(r) => {
                let seq = base.saturating_add(r.seq);
                let ts = data::decode(&r.payload).map_or(0, |(ts, _)| ts);
                if seq >= *hi {
                    *lo = *hi;
                } else {
                    if seq > mid {
                        *lo = (*lo).max(seq);
                    }
                    if ts >= *timestamp_ms {
                        *hi = seq;
                    } else {
                        *lo = seq + 1;
                    }
                }
            }
        }
        if lo < hi {
            let (mid, log, probe) = (*lo + (*hi - *lo) / 2, lookup.log.clone(), *base);
            return self.emit_probe(&log, mid.saturating_sub(probe), ReadFor::SeekTime { no, seq: mid });
        }
        let position = *hi;
        let conn = lookup.conn;
        let Some(lookup) = self.lookups.remove(conn, no) else { return };
        let current = self.meta.topics.get(&lookup.topic).filter(|t| t.log == lookup.log);
        let Some(t) = current else {
            let reply = Reply::Err(TOPIC_NOT_FOUND_TEXT.to_owned());
            return self.outputs.push_back(Output::Reply { conn, id: lookup.id, reply });
        };
        let position = position.clamp(t.first_wire(), t.visible_end());
        self.apply_seek(conn, lookup.id, &lookup.topic, &lookup.group, position, Reply::Seq(position));
    }

    pub(super) fn list_dlq(
        &mut self,
        conn: ConnId,
        req: u32,
        topic: &str,
        group: &str,
        offset: u32,
        limit: u32,
    ) {
        if !self.check_topic(conn, req, topic) {
            return;
        }
        let limit = self.config.clamp_limit(limit) as usize;
        let Some(t) = self.meta.topics.get(topic) else { return };
        let Some(g) = t.groups.get(group) else {
            return self.err(conn, req, GROUP_NOT_FOUND_TEXT);
        };
        let total = u32::try_from(g.dlq.len()).unwrap_or(u32::MAX);
        let entries: Vec<(u64, u32)> =
            g.dlq.iter().skip(offset as usize).take(limit).map(|(s, d)| (*s, *d)).collect();
        let mut load = Load::new(t, entries.iter().map(|(s, _)| *s).collect());
        let runs = load.fill(&t.cache);
        if runs.is_empty() {
            let reply = self.dead_letters(total, &entries, &load);
            return self.reply(conn, req, reply);
        }
        if self.fetches.count(conn) + self.lookups.count(conn) >= self.config.max_parked_per_conn {
            return self.err(conn, req, TOO_MANY_PENDING_TEXT);
        }
        let (topic, log, group) = (t.name.clone(), t.log.clone(), g.name.clone());
        let placeholder = Load { want: Vec::new(), ..Load::new(t, Vec::new()) };
        let kind = LookupKind::Dlq { total, entries, load: placeholder };
        let no = self.lookups.insert(conn, Lookup { conn, id: req, topic, log, group, kind });
        load.reads = self.emit_reads(&load, &runs, |first, len| ReadFor::Dlq { no, first, len });
        if let Some(LookupKind::Dlq { load: slot, .. }) =
            self.lookups.entries.get_mut(&no).map(|l| &mut l.kind)
        {
            *slot = load;
        }
    }

    /// A read of LIST_DLQ `no` came back; answers once all are.
    pub(super) fn dlq_read(
        &mut self,
        no: u64,
        first: u64,
        len: u64,
        result: Result<Vec<StoredRecord>, String>,
    ) {
        let Some(lookup) = self.lookups.entries.get_mut(&no) else { return };
        let LookupKind::Dlq { load, .. } = &mut lookup.kind else { return };
        load.apply(first, len, result);
        if load.reads > 0 {
            return;
        }
        let conn = lookup.conn;
        let Some(lookup) = self.lookups.remove(conn, no) else { return };
        let LookupKind::Dlq { total, entries, load } = lookup.kind else { return };
        let reply = match load.error.clone() {
            Some(text) => Reply::Err(text),
            None => self.dead_letters(total, &entries, &load),
        };
        self.outputs.push_back(Output::Reply { conn, id: lookup.id, reply });
    }

    /// The LIST_DLQ reply: the dead letters whose data is still there, up to the reply limit
    /// (at least one).
    fn dead_letters(&self, total: u32, entries: &[(u64, u32)], load: &Load) -> Reply {
        let (mut messages, mut bytes) = (Vec::new(), 8usize);
        for &(seq, deliveries) in entries {
            let Some(c) = load.got.get(&seq) else { continue };
            let size = DEAD_LETTER_OVERHEAD_BYTES + c.payload.len();
            if !messages.is_empty() && bytes + size > self.config.max_reply_bytes {
                break;
            }
            bytes += size;
            messages.push(StreamDeadLetter {
                seq,
                timestamp_ms: c.timestamp_ms,
                deliveries,
                payload: c.payload.clone(),
            });
        }
        Reply::StreamDeadLetters { total, messages }
    }

    /// Topic `topic` is gone: its lookups answer `Topic not found`.
    pub(super) fn cancel_lookups_of(&mut self, topic: &str) {
        let nos: Vec<(u64, ConnId)> = self
            .lookups
            .entries
            .iter()
            .filter(|(_, l)| *l.topic == *topic)
            .map(|(no, l)| (*no, l.conn))
            .collect();
        for (no, conn) in nos {
            if let Some(l) = self.lookups.remove(conn, no) {
                let reply = Reply::Err(TOPIC_NOT_FOUND_TEXT.to_owned());
                self.outputs.push_back(Output::Reply { conn, id: l.id, reply });
            }
        }
    }
}
