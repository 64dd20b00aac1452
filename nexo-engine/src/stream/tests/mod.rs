//! Tests of the whole Stream broker: a harness that drives it in virtual time with storage
//! simulated in memory (every log, reads, retention, crashes), scenario tests, durability and
//! recovery tests, and a model-based property test. Unit tests of each part sit at the bottom
//! of its own file.

mod durability;
mod model;
mod scenarios;

use std::collections::BTreeMap;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::{Retention, StreamOptions};
use nexo_proto::request::StreamRequest;

use super::{JOURNAL_LOG, Stream, StreamConfig};
use crate::broker::Broker;
use crate::ids::ConnId;
use crate::log::{LogId, StoredRecord};
use crate::output::Output;
use crate::time::Now;

/// A reply: `(conn, request id, reply)`.
pub(super) type Out = (u64, u32, Reply);

/// One log simulated in memory: records by sequence with their timestamp, the durable prefix.
#[derive(Debug, Clone)]
pub(super) struct SimLog {
    pub records: BTreeMap<u64, (u64, Bytes)>,
    pub next_seq: u64,
    pub durable: u64,
}

impl SimLog {
    fn new() -> Self {
        Self { records: BTreeMap::new(), next_seq: 1, durable: 1 }
    }

    fn first(&self) -> u64 {
        self.records.keys().next().copied().unwrap_or(self.next_seq)
    }

    fn read(&self, from: u64, max_records: usize, max_bytes: usize) -> Vec<StoredRecord> {
        let mut out: Vec<StoredRecord> = Vec::new();
        let mut bytes = 0;
        for (&seq, (ts, payload)) in self.records.range(from..) {
            if out.len() >= max_records || (!out.is_empty() && bytes + payload.len() > max_bytes) {
                break;
            }
            bytes += payload.len();
            out.push(StoredRecord { seq, timestamp_ms: *ts, payload: payload.clone() });
        }
        out
    }

    /// Retention as the storage does it, with every record a sealed segment of its own except
    /// the newest (the active segment is never deleted).
    fn retain(&mut self, now_ms: u64, max_age_ms: u64, max_bytes: u64) {
        loop {
            let total: u64 = self.records.values().map(|(_, p)| p.len() as u64).sum();
            let Some((&seq, (ts, _))) = self.records.iter().next() else { break };
            if self.records.len() <= 1 {
                break;
            }
            let too_old = max_age_ms > 0 && ts.saturating_add(max_age_ms) < now_ms;
            let too_big = max_bytes > 0 && total > max_bytes;
            if !(too_old || too_big) {
                break;
            }
            self.records.remove(&seq);
        }
    }
}

/// Drives one broker in virtual time: requests, timers, and storage that persists on demand
/// (or after every input with `auto_persist`) and answers reads at once (or later with
/// `defer_reads`).
pub(super) struct Harness {
    pub s: Stream,
    pub now: Now,
    pub config: StreamConfig,
    pub logs: BTreeMap<LogId, SimLog>,
    pub auto_persist: bool,
    pub defer_reads: bool,
    pub deferred: Vec<(u64, Result<Vec<StoredRecord>, String>)>,
    /// `OpenLog`s are answered by [`Harness::answer_opens`] instead of at once.
    pub defer_opens: bool,
    pub deferred_opens: Vec<(LogId, u64)>,
    /// What the last restart reported about data logs without a topic.
    pub notes: Vec<String>,
    /// Reads asked for since the start.
    pub reads: usize,
    /// Logs removed, in order.
    pub removed: Vec<LogId>,
    seed: u64,
    next_id: u32,
}

pub(super) fn journal() -> LogId {
    LogId::new(JOURNAL_LOG)
}

/// A member as JOIN answered.
#[derive(Debug, Clone)]
pub(super) struct M {
    pub topic: String,
    pub group: String,
    pub id: String,
    pub generation: u64,
    pub floor: u64,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(StreamConfig::default())
    }

    pub fn with(config: StreamConfig) -> Self {
        let mut logs = BTreeMap::new();
        logs.insert(journal(), SimLog::new());
        let mut h = Self {
            s: Stream::new(config, 1),
            now: Now::at(0),
            config,
            logs,
            auto_persist: true,
            defer_reads: false,
            deferred: Vec::new(),
            defer_opens: false,
            deferred_opens: Vec::new(),
            notes: Vec::new(),
            reads: 0,
            removed: Vec::new(),
            seed: 1,
            next_id: 0,
        };
        h.s.handle_recovery_done(h.now, &journal(), 1);
        h.drain();
        h
    }

    /// Takes every output: storage instructions are carried out, replies are returned.
    pub fn drain(&mut self) -> Vec<Out> {
        let mut replies = Vec::new();
        loop {
            while let Some(output) = self.s.poll_output() {
                if let Output::Reply { conn, id, reply } = output {
                    replies.push((conn.0, id, reply));
                } else {
                    self.storage(output);
                }
            }
            if !self.auto_persist || !self.persist_once() {
                return replies;
            }
        }
    }

    fn storage(&mut self, output: Output) {
        let now = self.now;
        match output {
            Output::Append { log, seq, record } => {
                let l = self.logs.get_mut(&log).unwrap_or_else(|| panic!("append to {log}, not open"));
                assert_eq!(seq, l.next_seq, "predicted sequence of {log}");
                l.records.insert(seq, (now.wall_ms, record));
                l.next_seq += 1;
            }
            Output::Roll { .. } => {}
            Output::TruncateBefore { log, seq } => {
                let l = self.logs.get_mut(&log).unwrap();
                l.records = l.records.split_off(&seq);
            }
            Output::OpenLog { log, next_seq_min } if self.defer_opens => {
                self.deferred_opens.push((log, next_seq_min));
            }
            Output::OpenLog { log, next_seq_min } => {
                let (first, next) = self.open_sim_log(&log, next_seq_min);
                self.s.handle_log_opened(now, &log, first, next);
            }
            Output::RemoveLog { log } => {
                self.logs.remove(&log);
                self.removed.push(log);
            }
            Output::Read { log, from_seq, max_records, max_bytes, token } => {
                self.reads += 1;
                let result = match self.logs.get(&log) {
                    Some(l) => Ok(l.read(from_seq, max_records, max_bytes)),
                    None => Err(format!("log {log} was not opened")),
                };
                if self.defer_reads {
                    self.deferred.push((token, result));
                } else {
                    self.s.handle_read(now, token, result);
                }
            }
            Output::Retain { log, max_age_ms, max_bytes } => {
                let l = self.logs.get_mut(&log).unwrap();
                l.retain(now.wall_ms, max_age_ms, max_bytes);
                let (first, next) = (l.first(), l.next_seq);
                self.s.handle_log_opened(now, &log, first, next);
            }
            other => panic!("unexpected output {other:?}"),
        }
    }

    /// Reports every log's appends as durable; `false` when there was nothing to report.
    fn persist_once(&mut self) -> bool {
        let mut done = Vec::new();
        for (log, l) in &mut self.logs {
            if l.durable < l.next_seq {
                l.durable = l.next_seq;
                done.push((log.clone(), l.durable));
            }
        }
        for (log, durable) in &done {
            self.s.handle_persisted(self.now, log, *durable);
        }
        !done.is_empty()
    }

    /// Reports everything appended so far as durable.
    pub fn persist_all(&mut self) -> Vec<Out> {
        self.persist_once();
        self.drain()
    }

    /// Reports `log`'s appends as durable.
    pub fn persist(&mut self, log: &LogId) -> Vec<Out> {
        let l = self.logs.get_mut(log).unwrap();
        l.durable = l.next_seq;
        let durable = l.durable;
        self.s.handle_persisted(self.now, log, durable);
        self.drain()
    }

    /// Opens (creating) a log as the driver does: one behind `next_seq_min` skips ahead.
    fn open_sim_log(&mut self, log: &LogId, next_seq_min: u64) -> (u64, u64) {
        let l = self.logs.entry(log.clone()).or_insert_with(SimLog::new);
        if l.next_seq < next_seq_min {
            (l.next_seq, l.durable) = (next_seq_min, next_seq_min);
        }
        (l.first(), l.next_seq)
    }

    /// Opens the logs whose `OpenLog` was deferred.
    pub fn answer_opens(&mut self) -> Vec<Out> {
        for (log, next_seq_min) in std::mem::take(&mut self.deferred_opens) {
            let (first, next) = self.open_sim_log(&log, next_seq_min);
            self.s.handle_log_opened(self.now, &log, first, next);
        }
        self.drain()
    }

    /// Answers the deferred reads.
    pub fn answer_reads(&mut self) -> Vec<Out> {
        for (token, result) in std::mem::take(&mut self.deferred) {
            self.s.handle_read(self.now, token, result);
        }
        self.drain()
    }

    pub fn send(&mut self, conn: u64, request: StreamRequest) -> Vec<Out> {
        self.next_id += 1;
        self.s.handle_request(self.now, ConnId(conn), self.next_id, request);
        self.drain()
    }

    pub fn last_id(&self) -> u32 {
        self.next_id
    }

    /// Moves time forward by `ms`, firing every timer at its own instant, as a runtime would.
    pub fn advance(&mut self, ms: u64) -> Vec<Out> {
        let target = self.now.mono_ms + ms;
        let mut out = Vec::new();
        while let Some(at) = self.s.poll_timeout().filter(|&at| at <= target) {
            if at > self.now.mono_ms {
                self.now = self.now.plus(at - self.now.mono_ms);
            }
            self.s.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = self.now.plus(target - self.now.mono_ms);
        self.s.handle_timeout(self.now);
        out.extend(self.drain());
        out
    }

    pub fn disconnect(&mut self, conn: u64) -> Vec<Out> {
        self.s.handle_disconnect(self.now, ConnId(conn));
        self.drain()
    }

    pub fn fail(&mut self, log: &LogId, why: &str) -> Vec<Out> {
        self.s.handle_storage_failed(self.now, log, why);
        self.drain()
    }

    /// A crash and restart: records that were not durable are lost, a new broker (another seed)
    /// replays the journal and opens the data logs, connections are gone.
    pub fn restart(&mut self) -> Vec<Out> {
        for l in self.logs.values_mut() {
            l.records.retain(|&seq, _| seq < l.durable);
            l.next_seq = l.durable;
        }
        self.deferred.clear();
        self.seed += 1;
        self.s = Stream::new(self.config, self.seed);
        let records: Vec<(u64, Bytes)> =
            self.logs[&journal()].records.iter().map(|(&seq, (_, r))| (seq, r.clone())).collect();
        for (seq, record) in records {
            self.s.handle_recovered(self.now, &journal(), seq, record);
        }
        let next = self.logs[&journal()].next_seq;
        self.s.handle_recovery_done(self.now, &journal(), next);
        let stored: Vec<LogId> = self.logs.keys().cloned().collect();
        self.notes = self.s.handle_stored_logs(self.now, &stored);
        self.drain()
    }

    /// The data log of `topic` (the one whose name ends with it).
    pub fn data_log(&self, topic: &str) -> LogId {
        let suffix = format!("-{topic}");
        self.logs
            .keys()
            .rev()
            .find(|l| l.as_str().starts_with("stream-") && l.as_str().ends_with(&suffix))
            .cloned()
            .unwrap()
    }

    // Requests -----------------------------------------------------------------------------

    pub fn create(&mut self, conn: u64, topic: &str) -> Vec<Out> {
        self.send(conn, StreamRequest::Create { topic: topic.into(), options: StreamOptions::default() })
    }

    pub fn create_with(
        &mut self,
        conn: u64,
        topic: &str,
        max_age_ms: Option<u64>,
        max_bytes: Option<u64>,
    ) -> Vec<Out> {
        let options = StreamOptions { retention: Some(Retention { max_age_ms, max_bytes }) };
        self.send(conn, StreamRequest::Create { topic: topic.into(), options })
    }

    pub fn publish(&mut self, conn: u64, topic: &str, payload: &[u8]) -> Vec<Out> {
        self.send(
            conn,
            StreamRequest::Publish { topic: topic.into(), payload: Bytes::copy_from_slice(payload) },
        )
    }

    /// Publishes and returns the sequence.
    pub fn pub_seq(&mut self, topic: &str, payload: &str) -> u64 {
        match &self.publish(99, topic, payload.as_bytes())[..] {
            [(_, _, Reply::Seq(seq))] => *seq,
            other => panic!("expected a sequence, got {other:?}"),
        }
    }

    pub fn join(&mut self, conn: u64, topic: &str, group: &str) -> M {
        let outs = self.send(conn, StreamRequest::Join { group: group.into(), topic: topic.into() });
        match &outs[..] {
            [(_, _, Reply::Joined { ack_floor, generation, consumer_id })] => M {
                topic: topic.into(),
                group: group.into(),
                id: consumer_id.clone(),
                generation: *generation,
                floor: *ack_floor,
            },
            other => panic!("expected Joined, got {other:?}"),
        }
    }

    pub fn fetch(&mut self, conn: u64, m: &M, limit: u32, wait_ms: u32) -> Vec<Out> {
        self.send(
            conn,
            StreamRequest::Fetch {
                topic: m.topic.clone(),
                group: m.group.clone(),
                consumer_id: m.id.clone(),
                generation: m.generation,
                limit,
                wait_ms,
            },
        )
    }

    /// Fetches without waiting and returns `(seq, payload)`.
    pub fn take(&mut self, conn: u64, m: &M, limit: u32) -> Vec<(u64, String)> {
        let outs = self.fetch(conn, m, limit, 0);
        assert_eq!(outs.len(), 1, "{outs:?}");
        messages(&outs[0].2)
    }

    pub fn ack(&mut self, conn: u64, m: &M, seq: u64) -> Vec<Out> {
        let request = StreamRequest::Ack {
            topic: m.topic.clone(),
            group: m.group.clone(),
            consumer_id: m.id.clone(),
            generation: m.generation,
            seq,
        };
        self.send(conn, request)
    }

    pub fn ack_batch(&mut self, conn: u64, m: &M, seqs: &[u64]) -> Vec<Out> {
        let request = StreamRequest::AckBatch {
            topic: m.topic.clone(),
            group: m.group.clone(),
            consumer_id: m.id.clone(),
            generation: m.generation,
            seqs: seqs.to_vec(),
        };
        self.send(conn, request)
    }

    pub fn nack(&mut self, conn: u64, m: &M, seq: u64, delay_ms: u64) -> Vec<Out> {
        let request = StreamRequest::Nack {
            topic: m.topic.clone(),
            group: m.group.clone(),
            consumer_id: m.id.clone(),
            generation: m.generation,
            seq,
            delay_ms,
        };
        self.send(conn, request)
    }

    pub fn leave(&mut self, conn: u64, m: &M) -> Vec<Out> {
        let request = StreamRequest::Leave {
            topic: m.topic.clone(),
            group: m.group.clone(),
            consumer_id: m.id.clone(),
            generation: m.generation,
        };
        self.send(conn, request)
    }

    pub fn seek(&mut self, conn: u64, topic: &str, group: &str, target: u8) -> Vec<Out> {
        self.send(conn, StreamRequest::Seek { topic: topic.into(), group: group.into(), target })
    }

    /// The group's ack floor and pending count, from LIST_GROUPS.
    pub fn group_info(&mut self, topic: &str, group: &str) -> (u64, u64) {
        let outs = self.send(98, StreamRequest::ListGroups { topic: topic.into(), offset: 0, limit: 1000 });
        let Reply::StreamGroups { groups, .. } = &outs[0].2 else { panic!("{outs:?}") };
        let g = groups.iter().find(|g| g.name == group).unwrap();
        (g.ack_floor, g.pending)
    }

    /// Dead letters of a group as `(seq, deliveries, payload)`.
    pub fn dlq(&mut self, topic: &str, group: &str) -> Vec<(u64, u32, String)> {
        let request =
            StreamRequest::ListDlq { topic: topic.into(), group: group.into(), offset: 0, limit: 1000 };
        let outs = self.send(98, request);
        match &outs[..] {
            [(_, _, Reply::StreamDeadLetters { messages, .. })] => messages
                .iter()
                .map(|m| (m.seq, m.deliveries, String::from_utf8(m.payload.to_vec()).unwrap()))
                .collect(),
            other => panic!("expected dead letters, got {other:?}"),
        }
    }
}

/// The messages of a FETCH reply as `(seq, payload)`.
pub(super) fn messages(reply: &Reply) -> Vec<(u64, String)> {
    match reply {
        Reply::StreamMessages(ms) => {
            ms.iter().map(|m| (m.seq, String::from_utf8(m.payload.to_vec()).unwrap())).collect()
        }
        other => panic!("expected messages, got {other:?}"),
    }
}

/// The sequences of a FETCH reply.
pub(super) fn seqs(reply: &Reply) -> Vec<u64> {
    messages(reply).into_iter().map(|(s, _)| s).collect()
}

/// Asserts exactly one reply, to `conn`, and returns it.
pub(super) fn only(outs: &[Out], conn: u64) -> Reply {
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert_eq!(outs[0].0, conn, "{outs:?}");
    outs[0].2.clone()
}

/// Asserts exactly one reply: OK.
pub(super) fn ok(outs: &[Out]) {
    assert!(matches!(outs, [(_, _, Reply::Ok)]), "{outs:?}");
}

/// Asserts exactly one reply: this ERR text.
pub(super) fn err(outs: &[Out], text: &str) {
    assert!(matches!(outs, [(_, _, Reply::Err(t))] if t == text), "expected {text:?}: {outs:?}");
}
