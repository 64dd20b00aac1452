//! What the storage reports back about data logs: a log opened (after CREATE or at recovery),
//! retention applied, records durable, a log failed; and the periodic retention pass.
//!
//! A freshly created topic expects an empty log: one holding records (left by a CREATE lost in
//! a crash after its log was opened) is removed and opened again, once. A recovered topic
//! learns its range from the log, and its newest timestamp with one read. Retention moves every
//! group below the new first sequence up. This module must not answer requests, except those
//! that a failure ends.

use nexo_proto::Reply;

use super::load::ReadFor;
use super::topic::Opening;
use super::{Stream, TimerKey};
use crate::log::LogId;
use crate::output::Output;
use crate::time::Now;

impl Stream {
    /// Arms the periodic retention timer once.
    pub(super) fn arm_retention(&mut self, now: Now) {
        if !self.retention_armed {
            self.retention_armed = true;
            let at = now.mono_ms.saturating_add(self.config.retention_interval_ms.max(1));
            self.timers.insert((at, TimerKey::Retention));
        }
    }

    /// Asks the storage to apply every open topic's retention; re-arms.
    pub(super) fn retention_tick(&mut self, now: Now) {
        for t in self.meta.topics.values() {
            if t.opening.is_none() && t.failed.is_none() {
                self.outputs.push_back(Output::Retain {
                    log: t.log.clone(),
                    max_age_ms: t.settings.max_age_ms,
                    max_bytes: t.settings.max_bytes,
                });
            }
        }
        let at = now.mono_ms.saturating_add(self.config.retention_interval_ms.max(1));
        self.timers.insert((at, TimerKey::Retention));
    }

    /// `log` holds data-log sequences `first..next` (after `OpenLog` or `Retain`).
    pub(super) fn log_opened(&mut self, log: &LogId, first: u64, next: u64) {
        let Some(name) = self.logs.get(log).cloned() else { return };
        let Some(t) = self.meta.topics.get_mut(&name) else { return };
        match t.opening {
            Some(Opening::Fresh { retried: false }) if next > first => {
                t.opening = Some(Opening::Fresh { retried: true });
                self.outputs.push_back(Output::RemoveLog { log: log.clone() });
                self.outputs.push_back(Output::OpenLog { log: log.clone(), next_seq_min: 1 });
            }
            Some(opening) => {
                t.opening = None;
                t.first_log = first.min(next);
                t.next_log = next;
                t.durable_log = next;
                let (first_wire, next_wire) = (t.first_wire(), t.next_wire());
                // Below first, then past the end: acks recovered for sequences the log never
                // held must not carry the floor past its last record.
                for g in t.groups.values_mut() {
                    g.clamp_below(first_wire);
                    g.clamp_end(next_wire);
                }
                let unopened: Vec<_> = t.unopened.drain(..).collect();
                self.durable.track_data(log.clone(), next);
                if opening == Opening::Recovered && next > first {
                    let why = ReadFor::LastTs { topic: name.clone(), log: log.clone() };
                    self.emit_probe(log, next - 1, why);
                }
                for u in unopened {
                    self.append_message(&name, u.conn, u.id, u.timestamp_ms, &u.payload);
                }
                self.touch_topic(&name);
            }
            None => {
                if first <= t.first_log {
                    return;
                }
                t.first_log = first.min(t.next_log);
                let first_wire = t.first_wire();
                self.cache_bytes = self.cache_bytes.saturating_sub(t.cache.drop_below(first_wire));
                for g in t.groups.values_mut() {
                    g.clamp_below(first_wire);
                }
                self.touch_topic(&name);
            }
        }
    }

    /// Records of data log `log` below `durable_next` are durable: they become visible.
    pub(super) fn data_persisted(&mut self, log: &LogId, durable_next: u64) {
        let Some(name) = self.logs.get(log).cloned() else { return };
        let Some(t) = self.meta.topics.get_mut(&name) else { return };
        if t.failed.is_some() || t.opening.is_some() {
            return;
        }
        let mark = durable_next.min(t.next_log);
        if mark > t.durable_log {
            t.durable_log = mark;
            self.touch_topic(&name);
        }
        self.durable.persisted_data(log, durable_next, &mut self.outputs);
    }

    /// Journal records below `durable_next` are durable: held replies go out, deleted topics'
    /// logs are removed, new topics become visible, compaction goes on.
    pub(super) fn journal_persisted(&mut self, durable_next: u64) {
        if self.durable.failed.is_some() {
            return;
        }
        for log in self.durable.persisted_journal(durable_next, &mut self.outputs) {
            self.outputs.push_back(Output::RemoveLog { log });
        }
        while let Some((&seq, _)) = self.uncommitted.first_key_value() {
            if seq >= self.durable.durable_next {
                break;
            }
            let Some((_, name)) = self.uncommitted.pop_first() else { break };
            if let Some(t) = self.meta.topics.get_mut(&name)
                && t.create_seq == Some(seq)
            {
                t.create_seq = None;
                self.touch_topic(&name);
            }
        }
        self.finish_snapshot();
        self.maybe_compact();
    }

    /// The journal failed for good: waiting replies and FETCHes get `text`.
    pub(super) fn journal_failed(&mut self, text: &str) {
        if self.durable.failed.is_some() {
            return;
        }
        self.durable.fail_journal(text, &mut self.outputs);
        self.fail_fetches(text);
        for t in self.meta.topics.values_mut() {
            if t.create_seq.is_some() {
                for u in t.unopened.drain(..) {
                    let reply = Reply::Err(text.to_owned());
                    self.outputs.push_back(Output::Reply { conn: u.conn, id: u.id, reply });
                }
            }
        }
    }

    /// Data log `log` failed for good: its topic refuses PUBLISH; publishes not yet durable
    /// are answered `text` and forgotten.
    pub(super) fn data_failed(&mut self, log: &LogId, text: &str) {
        let Some(name) = self.logs.get(log).cloned() else { return };
        let Some(t) = self.meta.topics.get_mut(&name) else { return };
        if t.failed.is_some() {
            return;
        }
        t.failed = Some(text.to_owned());
        let durable_wire = t.wire(t.durable_log);
        self.cache_bytes = self.cache_bytes.saturating_sub(t.cache.drop_from(durable_wire));
        for u in t.unopened.drain(..) {
            let reply = Reply::Err(text.to_owned());
            self.outputs.push_back(Output::Reply { conn: u.conn, id: u.id, reply });
        }
        self.durable.fail_data(log, text, &mut self.outputs);
    }
}
