//! FETCH: picking messages for a member, building the batch (from memory or after reads),
//! parking long-polls, serving parked FETCHes when something arrives, and ending them early.
//!
//! A FETCH that finds nothing (or its group at the pending limit) is parked with a deadline in
//! the timer table; when a group is touched (new durable messages, acks, releases), its waiters
//! are served oldest first. A FETCH whose messages are not all in memory reserves them and
//! waits for its reads. Ending a FETCH early (LEAVE, seek, DELETE, shutdown) answers an empty
//! batch and hands reserved messages back. This module must not change acknowledgement state
//! (that is `ack`).

use std::sync::Arc;

use nexo_proto::Reply;
use nexo_proto::reply::StreamMessage;

use super::load::{Load, ReadFor};
use super::members::Who;
use super::{Stream, TimerKey};
use crate::ids::ConnId;
use crate::output::Output;
use crate::time::Now;

/// ERR text when a connection has too many waiting requests.
pub const TOO_MANY_PENDING_TEXT: &str = "Too many pending requests";

/// Bytes of one message in a FETCH reply besides its payload.
const MESSAGE_OVERHEAD_BYTES: usize = 8 + 8 + 4;

/// The numbers of a FETCH request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchArgs {
    pub limit: u32,
    pub wait_ms: u64,
}

/// A FETCH that waits: parked (`deadline`) or reading (`load`).
#[derive(Debug)]
pub(crate) struct Fetch {
    pub conn: ConnId,
    pub id: u32,
    pub topic: Arc<str>,
    pub group: Arc<str>,
    pub member: Arc<str>,
    pub limit: u32,
    /// Monotonic deadline while parked.
    pub deadline: Option<u64>,
    /// The messages being read.
    pub load: Option<Load>,
}

impl Stream {
    pub(super) fn fetch(&mut self, now: Now, conn: ConnId, req: u32, who: &Who<'_>, args: FetchArgs) {
        if let Err(text) = self.check_member(who) {
            return self.err(conn, req, text);
        }
        if !self.check_writable(conn, req) {
            return;
        }
        let Some(t) = self.meta.topics.get(who.topic) else { return };
        let Some((group, _)) = t.groups.get_key_value(who.group) else { return };
        let Some((member, _)) =
            t.groups.get(who.group).and_then(|g| g.members.get_key_value(who.consumer_id))
        else {
            return;
        };
        let fetch = Fetch {
            conn,
            id: req,
            topic: t.name.clone(),
            group: group.clone(),
            member: member.clone(),
            limit: self.config.clamp_limit(args.limit),
            deadline: None,
            load: None,
        };
        match self.pick(&fetch.topic, &fetch.group, fetch.limit) {
            Some(selected) => self.begin(now, fetch, selected, true),
            None if args.wait_ms == 0 => self.reply(conn, req, Reply::StreamMessages(Vec::new())),
            None => self.park(now, fetch, args.wait_ms),
        }
    }

    /// Reserves what `fetch` can get now (capacity and durable mark permitting), or `None`.
    fn pick(&mut self, topic: &str, group: &str, limit: u32) -> Option<Vec<u64>> {
        let (max_pending, window) = (self.config.max_pending_per_group, self.config.max_ack_window);
        let t = self.meta.topics.get_mut(topic)?;
        let visible = t.visible_end();
        let g = t.groups.get_mut(group)?;
        let room = max_pending.saturating_sub(g.outstanding()).min(limit as usize);
        if room == 0 || !g.has_work(visible, window) {
            return None;
        }
        let selected: Vec<u64> = g.select(room, visible, window).into_iter().map(|(seq, _)| seq).collect();
        (!selected.is_empty()).then_some(selected)
    }

    /// Gathers the reserved messages: answers at once when all are in memory, else reads.
    fn begin(&mut self, now: Now, mut fetch: Fetch, selected: Vec<u64>, in_order: bool) {
        let Some(t) = self.meta.topics.get(&fetch.topic) else { return };
        let mut load = Load::new(t, selected);
        let runs = load.fill(&t.cache);
        if runs.is_empty() {
            return self.complete(now, fetch, load, in_order);
        }
        let (conn, topic, group, member) =
            (fetch.conn, fetch.topic.clone(), fetch.group.clone(), fetch.member.clone());
        fetch.deadline = None;
        let no = self.fetches.insert(conn, fetch);
        load.reads = self.emit_reads(&load, &runs, |first, len| ReadFor::Fetch { no, first, len });
        if let Some(f) = self.fetches.entries.get_mut(&no) {
            f.load = Some(load);
        }
        if let Some(m) = self.group_mut(&topic, &group).and_then(|g| g.members.get_mut(&member)) {
            m.fetches.insert(no);
        }
    }

    /// Every read of FETCH `no` is back: answer it.
    pub(super) fn finish_loaded_fetch(&mut self, now: Now, no: u64) {
        let Some(mut fetch) = self.take_fetch(no) else { return };
        let Some(load) = fetch.load.take() else { return };
        self.complete(now, fetch, load, false);
    }

    /// Builds the batch from what was gathered: reserved messages become pending with the
    /// member, in selection order, until the reply byte limit (at least one); the rest is
    /// handed back.
    fn complete(&mut self, now: Now, fetch: Fetch, load: Load, in_order: bool) {
        let (max_bytes, deadline) =
            (self.config.max_reply_bytes, now.mono_ms.saturating_add(self.config.ack_wait_ms));
        let Some(g) = self.group_mut(&fetch.topic, &fetch.group) else {
            return self.answer(fetch.conn, fetch.id, Reply::StreamMessages(Vec::new()), in_order);
        };
        if let Some(text) = load.error {
            load.want.iter().for_each(|&seq| g.unreserve(seq));
            self.touch(&fetch.topic, &fetch.group);
            return self.answer(fetch.conn, fetch.id, Reply::Err(text), in_order);
        }
        let (mut messages, mut bytes, mut full) = (Vec::new(), 4usize, false);
        for &seq in &load.want {
            if !g.reserved.contains_key(&seq) {
                continue;
            }
            if load.gone.contains(&seq) {
                g.discard(seq);
                continue;
            }
            let Some(c) = load.got.get(&seq) else {
                g.unreserve(seq);
                continue;
            };
            let size = MESSAGE_OVERHEAD_BYTES + c.payload.len();
            full = full || (!messages.is_empty() && bytes + size > max_bytes);
            if full {
                g.unreserve(seq);
            } else if g.deliver(seq, &fetch.member, deadline) {
                bytes += size;
                messages.push(StreamMessage {
                    seq,
                    timestamp_ms: c.timestamp_ms,
                    payload: c.payload.clone(),
                });
            }
        }
        let n = messages.len() as u64;
        self.totals.delivered += n;
        self.touch(&fetch.topic, &fetch.group);
        if n > 0 {
            self.ensure_group_timer(&fetch.topic, &fetch.group, deadline);
        }
        self.answer(fetch.conn, fetch.id, Reply::StreamMessages(messages), in_order);
    }

    /// Answers a FETCH: in the connection's order when it never waited, at once otherwise.
    fn answer(&mut self, conn: ConnId, id: u32, reply: Reply, in_order: bool) {
        if in_order {
            self.reply(conn, id, reply);
        } else {
            self.outputs.push_back(Output::Reply { conn, id, reply });
        }
    }

    /// Parks `fetch` until `now + wait_ms`, or refuses it when its connection has too many.
    fn park(&mut self, now: Now, mut fetch: Fetch, wait_ms: u64) {
        let conn = fetch.conn;
        if self.fetches.count(conn) + self.lookups.count(conn) >= self.config.max_parked_per_conn {
            return self.err(conn, fetch.id, TOO_MANY_PENDING_TEXT);
        }
        let deadline = now.mono_ms.saturating_add(wait_ms);
        fetch.deadline = Some(deadline);
        let (topic, group, member) = (fetch.topic.clone(), fetch.group.clone(), fetch.member.clone());
        let no = self.fetches.insert(conn, fetch);
        if let Some(g) = self.group_mut(&topic, &group) {
            g.waiters.insert(no);
            if let Some(m) = g.members.get_mut(&member) {
                m.fetches.insert(no);
            }
        }
        self.timers.insert((deadline, TimerKey::Fetch(no)));
    }

    /// Takes FETCH `no` out of every index; messages it had reserved are handed back.
    fn take_fetch(&mut self, no: u64) -> Option<Fetch> {
        let conn = self.fetches.entries.get(&no)?.conn;
        let mut fetch = self.fetches.remove(conn, no)?;
        if let Some(deadline) = fetch.deadline.take() {
            self.timers.remove(&(deadline, TimerKey::Fetch(no)));
        }
        let (topic, group) = (fetch.topic.clone(), fetch.group.clone());
        if let Some(g) = self.group_mut(&topic, &group) {
            g.waiters.remove(&no);
            if let Some(m) = g.members.get_mut(&fetch.member) {
                m.fetches.remove(&no);
            }
        }
        Some(fetch)
    }

    /// Takes FETCH `no` out and hands back what a reading FETCH had reserved.
    fn cancel_fetch(&mut self, no: u64) -> Option<Fetch> {
        let mut fetch = self.take_fetch(no)?;
        if let Some(load) = fetch.load.take()
            && let Some(g) = self.group_mut(&fetch.topic, &fetch.group)
        {
            load.want.iter().for_each(|&seq| g.unreserve(seq));
            self.touch(&fetch.topic, &fetch.group);
        }
        Some(fetch)
    }

    /// Ends FETCH `no` early with an empty batch (never an error).
    pub(super) fn end_fetch(&mut self, no: u64) {
        if let Some(f) = self.cancel_fetch(no) {
            self.outputs.push_back(Output::Reply {
                conn: f.conn,
                id: f.id,
                reply: Reply::StreamMessages(Vec::new()),
            });
        }
    }

    /// Drops FETCH `no` without a reply (its connection is gone).
    pub(super) fn drop_fetch(&mut self, no: u64) {
        self.cancel_fetch(no);
    }

    /// A parked FETCH's deadline passed: an empty batch.
    pub(super) fn fetch_deadline(&mut self, no: u64) {
        if self.fetches.entries.get(&no).is_some_and(|f| f.deadline.is_some()) {
            self.end_fetch(no);
        }
    }

    /// Serves the waiters of every touched group, oldest first, while there is something for
    /// them.
    pub(super) fn serve_touched(&mut self, now: Now) {
        while let Some((topic, group)) = self.touched.pop_first() {
            while let Some(&no) = self.group_mut(&topic, &group).and_then(|g| g.waiters.first()) {
                let Some(limit) = self.fetches.entries.get(&no).map(|f| f.limit) else {
                    // Not a waiter any more (a guard; indexes are kept together).
                    self.group_mut(&topic, &group).map(|g| g.waiters.remove(&no));
                    continue;
                };
                let Some(selected) = self.pick(&topic, &group, limit) else { break };
                let Some(fetch) = self.take_fetch(no) else { break };
                self.begin(now, fetch, selected, false);
            }
        }
    }

    /// Ends every waiting FETCH of a failed journal with `text`.
    pub(super) fn fail_fetches(&mut self, text: &str) {
        let all: Vec<u64> = self.fetches.entries.keys().copied().collect();
        for no in all {
            if let Some(f) = self.cancel_fetch(no) {
                self.outputs.push_back(Output::Reply {
                    conn: f.conn,
                    id: f.id,
                    reply: Reply::Err(text.to_owned()),
                });
            }
        }
    }
}
