//! Tests of the whole Queue broker: a harness that drives it in virtual time with simulated
//! storage, scenario tests, durability and recovery tests, and a model-based property test.
//! Unit tests of each part sit at the bottom of its own file.

mod durability;
mod model;
mod scenarios;
mod sqs;

use std::collections::BTreeMap;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::{ConsumeOptions, PushOptions, QueueOptions};
use nexo_proto::request::QueueRequest;

use super::{JOURNAL_LOG, Queue, QueueConfig};
use crate::broker::Broker;
use crate::ids::ConnId;
use crate::log::LogId;
use crate::output::Output;
use crate::time::Now;

/// A reply: `(conn, request id, reply)`.
pub(super) type Out = (u64, u32, Reply);

/// Storage simulated in memory: every appended record by sequence, and the durable prefix.
#[derive(Debug, Default)]
pub(super) struct SimLog {
    pub records: BTreeMap<u64, Bytes>,
    pub next_seq: u64,
    pub durable: u64,
    pub rolls: usize,
    pub truncations: Vec<u64>,
}

impl SimLog {
    /// Bytes of the records still stored.
    pub fn bytes(&self) -> u64 {
        self.records.values().map(|r| r.len() as u64).sum()
    }
}

/// Drives one broker in virtual time: requests, timers, and storage that persists on demand
/// (or after every input with `auto_persist`).
pub(super) struct Harness {
    pub q: Queue,
    pub now: Now,
    pub config: QueueConfig,
    pub log: SimLog,
    pub auto_persist: bool,
    seed: u64,
    next_id: u32,
    /// Running total of bytes in the log (kept without summing on every append).
    live_log_bytes: u64,
    /// Largest value `live_log_bytes` reached.
    pub max_log_bytes: u64,
}

pub(super) fn journal() -> LogId {
    LogId::new(JOURNAL_LOG)
}

impl Harness {
    pub fn new() -> Self {
        Self::with(QueueConfig::default())
    }

    pub fn with(config: QueueConfig) -> Self {
        let mut h = Self {
            q: Queue::new(config, 1),
            now: Now::at(0),
            config,
            log: SimLog::default(),
            auto_persist: true,
            seed: 1,
            next_id: 0,
            live_log_bytes: 0,
            max_log_bytes: 0,
        };
        h.q.handle_recovery_done(h.now, &journal(), 0);
        h.drain();
        h
    }

    /// Takes every output: records go to the simulated log, replies are returned.
    pub fn drain(&mut self) -> Vec<Out> {
        let mut replies = Vec::new();
        loop {
            while let Some(output) = self.q.poll_output() {
                match output {
                    Output::Reply { conn, id, reply } => replies.push((conn.0, id, reply)),
                    Output::Append { log, seq, record } => {
                        assert_eq!(log, journal());
                        assert_eq!(seq, self.log.next_seq, "predicted sequence");
                        self.live_log_bytes += record.len() as u64;
                        self.max_log_bytes = self.max_log_bytes.max(self.live_log_bytes);
                        self.log.records.insert(seq, record);
                        self.log.next_seq += 1;
                    }
                    Output::Roll { .. } => self.log.rolls += 1,
                    Output::TruncateBefore { seq, .. } => {
                        let kept = self.log.records.split_off(&seq);
                        let dropped: u64 = self.log.records.values().map(|r| r.len() as u64).sum();
                        self.live_log_bytes -= dropped;
                        self.log.records = kept;
                        self.log.truncations.push(seq);
                    }
                    other => panic!("unexpected output {other:?}"),
                }
            }
            if !self.auto_persist || self.log.durable == self.log.next_seq {
                return replies;
            }
            self.log.durable = self.log.next_seq;
            self.q.handle_persisted(self.now, &journal(), self.log.durable);
        }
    }

    /// Reports everything appended so far as durable.
    pub fn persist_all(&mut self) -> Vec<Out> {
        self.log.durable = self.log.next_seq;
        self.q.handle_persisted(self.now, &journal(), self.log.durable);
        self.drain()
    }

    pub fn send(&mut self, conn: u64, request: QueueRequest) -> Vec<Out> {
        self.next_id += 1;
        self.q.handle_request(self.now, ConnId(conn), self.next_id, request);
        self.drain()
    }

    pub fn last_id(&self) -> u32 {
        self.next_id
    }

    /// Moves time forward by `ms`, firing every timer at its own instant, as a runtime would.
    pub fn advance(&mut self, ms: u64) -> Vec<Out> {
        let target = self.now.mono_ms + ms;
        let mut out = Vec::new();
        while let Some(at) = self.q.poll_timeout().filter(|&at| at <= target) {
            if at > self.now.mono_ms {
                self.now = self.now.plus(at - self.now.mono_ms);
            }
            self.q.handle_timeout(self.now);
            out.extend(self.drain());
        }
        self.now = self.now.plus(target - self.now.mono_ms);
        self.q.handle_timeout(self.now);
        out.extend(self.drain());
        out
    }

    pub fn disconnect(&mut self, conn: u64) -> Vec<Out> {
        self.q.handle_disconnect(self.now, ConnId(conn));
        self.drain()
    }

    pub fn fail(&mut self, why: &str) -> Vec<Out> {
        self.q.handle_storage_failed(self.now, &journal(), why);
        self.drain()
    }

    /// A crash and restart: records that were not durable are lost, a new broker (another seed)
    /// replays the rest, connections are gone.
    pub fn restart(&mut self) -> Vec<Out> {
        self.log.records.retain(|&seq, _| seq < self.log.durable);
        self.log.next_seq = self.log.durable;
        self.live_log_bytes = self.log.bytes();
        self.seed += 1;
        self.q = Queue::new(self.config, self.seed);
        for (&seq, record) in &self.log.records {
            self.q.handle_recovered(self.now, &journal(), seq, record.clone());
        }
        self.q.handle_recovery_done(self.now, &journal(), self.log.next_seq);
        self.drain()
    }

    // Requests -----------------------------------------------------------------------------

    pub fn create(&mut self, conn: u64, name: &str) -> Vec<Out> {
        self.create_with(conn, name, QueueOptions::default())
    }

    pub fn create_with(&mut self, conn: u64, name: &str, options: QueueOptions) -> Vec<Out> {
        self.send(conn, QueueRequest::Create { name: name.into(), options })
    }

    pub fn push(&mut self, conn: u64, name: &str, payload: &[u8]) -> Vec<Out> {
        self.push_with(conn, name, payload, 0, 0)
    }

    pub fn push_with(
        &mut self,
        conn: u64,
        name: &str,
        payload: &[u8],
        priority: u8,
        delay_ms: u64,
    ) -> Vec<Out> {
        let options = PushOptions { priority: Some(priority), delay_ms: Some(delay_ms) };
        self.send(
            conn,
            QueueRequest::Push { name: name.into(), options, payload: Bytes::copy_from_slice(payload) },
        )
    }

    pub fn consume(&mut self, conn: u64, name: &str, batch: u32, wait_ms: u64) -> Vec<Out> {
        let options = ConsumeOptions { batch_size: Some(batch), wait_ms: Some(wait_ms) };
        self.send(conn, QueueRequest::Consume { name: name.into(), options })
    }

    pub fn ack(&mut self, conn: u64, name: &str, id: [u8; 16]) -> Vec<Out> {
        self.send(conn, QueueRequest::Ack { id, name: name.into() })
    }

    pub fn nack(&mut self, conn: u64, name: &str, id: [u8; 16], reason: &str) -> Vec<Out> {
        self.send(conn, QueueRequest::Nack { id, name: name.into(), reason: reason.into() })
    }

    /// Consumes (no wait) and returns the batch as `(id, payload)`.
    pub fn take(&mut self, conn: u64, name: &str, batch: u32) -> Vec<([u8; 16], Vec<u8>)> {
        let outs = self.consume(conn, name, batch, 0);
        assert_eq!(outs.len(), 1, "{outs:?}");
        messages(&outs[0].2)
    }

    /// Payloads of the DLQ, newest failure first, with attempts and reasons.
    pub fn dlq(&mut self, name: &str) -> Vec<(Vec<u8>, u32, String)> {
        let outs = self.send(9, QueueRequest::PeekDlq { name: name.into(), limit: 1000, offset: 0 });
        match &outs[..] {
            [(_, _, Reply::DlqPage { messages, .. })] => {
                messages.iter().map(|m| (m.payload.to_vec(), m.attempts, m.reason.clone())).collect()
            }
            other => panic!("expected a DLQ page, got {other:?}"),
        }
    }
}

/// The messages of a CONSUME reply as `(id, payload)`.
pub(super) fn messages(reply: &Reply) -> Vec<([u8; 16], Vec<u8>)> {
    match reply {
        Reply::QueueMessages(ms) => ms.iter().map(|m| (m.id, m.payload.to_vec())).collect(),
        other => panic!("expected messages, got {other:?}"),
    }
}

/// The payloads of a CONSUME reply, as strings.
pub(super) fn payloads(reply: &Reply) -> Vec<String> {
    messages(reply).into_iter().map(|(_, p)| String::from_utf8(p).unwrap()).collect()
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
