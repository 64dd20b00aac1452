//! Tests of the whole Pub/Sub broker: a scenario harness with simulated storage, scenario
//! tests, durability and recovery tests of retained messages, and a model-based property test.
//! Unit tests of each part sit at the bottom of its own file.

mod channels;
mod durability;
mod model;
mod scenarios;

use std::collections::BTreeMap;

use bytes::Bytes;
use nexo_proto::options::PublishOptions;
use nexo_proto::request::PubSubRequest;
use nexo_proto::{HEADER_LEN, Push, Reply};

use super::{JOURNAL_LOG, PubSub, PubSubConfig};
use crate::broker::Broker;
use crate::ids::ConnId;
use crate::log::LogId;
use crate::output::Output;
use crate::time::Now;

/// An output made easy to compare: pushes decoded into topic and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Out {
    Reply(u64, u32, Reply),
    Push(u64, String, Vec<u8>),
    Close(u64),
}

pub(super) fn decode(output: &Output) -> Out {
    match output {
        Output::Reply { conn, id, reply } => Out::Reply(conn.0, *id, reply.clone()),
        Output::Push { conn, frame } => {
            let push = Push::decode(&frame.slice(HEADER_LEN..)).expect("push frame");
            Out::Push(conn.0, push.topic, push.payload.to_vec())
        }
        Output::Close { conn, .. } => Out::Close(conn.0),
        storage => panic!("storage output reached the network side: {storage:?}"),
    }
}

pub(super) fn journal() -> LogId {
    LogId::new(JOURNAL_LOG)
}

/// Storage simulated in memory: every appended record by sequence, and the durable prefix.
#[derive(Debug, Default)]
pub(super) struct SimLog {
    pub records: BTreeMap<u64, Bytes>,
    pub next_seq: u64,
    pub durable: u64,
    pub rolls: usize,
    pub truncations: Vec<u64>,
    /// Bytes of the records still stored (kept as a running total).
    pub bytes: u64,
    /// Largest value `bytes` reached.
    pub max_bytes: u64,
}

/// Drives one broker in virtual time and drains its outputs after every input. Storage is
/// simulated: `Append`s go to [`SimLog`] (the predicted sequence is checked) and, with
/// `auto_persist` (the default), are reported durable at the end of each drain, as a runtime in
/// fsync mode `always` does (group commit).
pub(super) struct Harness {
    pub ps: PubSub,
    pub now: Now,
    pub config: PubSubConfig,
    pub log: SimLog,
    pub auto_persist: bool,
    seed: u64,
    next_id: u32,
    /// Raw network outputs of the last input.
    pub raw: Vec<Output>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(PubSubConfig::default())
    }

    pub fn with(config: PubSubConfig) -> Self {
        let mut h = Self {
            ps: PubSub::new(config, 7),
            now: Now::at(0),
            config,
            log: SimLog::default(),
            auto_persist: true,
            seed: 7,
            next_id: 0,
            raw: Vec::new(),
        };
        h.ps.handle_recovery_done(h.now, &journal(), 0);
        h.drain();
        h
    }

    /// Takes every output: storage instructions go to the simulated log, network outputs are
    /// returned decoded (and kept raw in `raw`).
    pub fn drain(&mut self) -> Vec<Out> {
        self.raw.clear();
        loop {
            while let Some(output) = self.ps.poll_output() {
                match output {
                    Output::Append { log, seq, record } => {
                        assert_eq!(log, journal());
                        assert_eq!(seq, self.log.next_seq, "predicted sequence");
                        self.log.bytes += record.len() as u64;
                        self.log.max_bytes = self.log.max_bytes.max(self.log.bytes);
                        self.log.records.insert(seq, record);
                        self.log.next_seq += 1;
                    }
                    Output::Roll { log } => {
                        assert_eq!(log, journal());
                        self.log.rolls += 1;
                    }
                    Output::TruncateBefore { log, seq } => {
                        assert_eq!(log, journal());
                        let kept = self.log.records.split_off(&seq);
                        let dropped: u64 = self.log.records.values().map(|r| r.len() as u64).sum();
                        self.log.bytes -= dropped;
                        self.log.records = kept;
                        self.log.truncations.push(seq);
                    }
                    network => self.raw.push(network),
                }
            }
            if !self.auto_persist || self.log.durable == self.log.next_seq {
                break;
            }
            self.log.durable = self.log.next_seq;
            self.ps.handle_persisted(self.now, &journal(), self.log.durable);
        }
        self.raw.iter().map(decode).collect()
    }

    /// Reports everything appended so far as durable.
    pub fn persist_all(&mut self) -> Vec<Out> {
        self.log.durable = self.log.next_seq;
        self.ps.handle_persisted(self.now, &journal(), self.log.durable);
        self.drain()
    }

    /// The journal failed for good.
    pub fn fail(&mut self, why: &str) -> Vec<Out> {
        self.ps.handle_storage_failed(self.now, &journal(), why);
        self.drain()
    }

    /// A crash and restart: records that were not durable are lost, a new broker (another seed)
    /// replays the rest at the current time, connections are gone.
    pub fn restart(&mut self) -> Vec<Out> {
        self.log.records.retain(|&seq, _| seq < self.log.durable);
        self.log.next_seq = self.log.durable;
        self.log.bytes = self.log.records.values().map(|r| r.len() as u64).sum();
        self.seed += 1;
        self.ps = PubSub::new(self.config, self.seed);
        for (&seq, record) in &self.log.records {
            self.ps.handle_recovered(self.now, &journal(), seq, record.clone());
            assert!(self.ps.poll_output().is_none(), "no output during replay");
        }
        self.ps.handle_recovery_done(self.now, &journal(), self.log.next_seq);
        self.drain()
    }

    pub fn send(&mut self, conn: u64, request: PubSubRequest) -> Vec<Out> {
        self.next_id += 1;
        self.ps.handle_request(self.now, ConnId(conn), self.next_id, request);
        self.drain()
    }

    pub fn last_id(&self) -> u32 {
        self.next_id
    }

    pub fn sub(&mut self, conn: u64, pattern: &str) -> Vec<Out> {
        self.send(conn, PubSubRequest::Subscribe { pattern: pattern.into() })
    }

    pub fn unsub(&mut self, conn: u64, pattern: &str) -> Vec<Out> {
        self.send(conn, PubSubRequest::Unsubscribe { pattern: pattern.into() })
    }

    pub fn publish_with(
        &mut self,
        conn: u64,
        topic: &str,
        options: PublishOptions,
        payload: &[u8],
    ) -> Vec<Out> {
        let payload = Bytes::copy_from_slice(payload);
        self.send(conn, PubSubRequest::Publish { topic: topic.into(), options, payload })
    }

    pub fn publish(&mut self, conn: u64, topic: &str, payload: &[u8]) -> Vec<Out> {
        self.publish_with(conn, topic, PublishOptions::default(), payload)
    }

    pub fn retain(&mut self, conn: u64, topic: &str, payload: &[u8]) -> Vec<Out> {
        self.publish_with(conn, topic, PublishOptions { retain: true, ..Default::default() }, payload)
    }

    pub fn advance(&mut self, ms: u64) -> Vec<Out> {
        self.now = self.now.plus(ms);
        self.ps.handle_timeout(self.now);
        self.drain()
    }

    pub fn disconnect(&mut self, conn: u64) -> Vec<Out> {
        self.ps.handle_disconnect(self.now, ConnId(conn));
        self.drain()
    }

    pub fn flushed(&mut self, conn: u64, bytes: usize) -> Vec<Out> {
        self.ps.handle_flushed(self.now, ConnId(conn), bytes);
        self.drain()
    }
}

/// Asserts a request was answered OK: exactly one reply among `outs`, and it is OK. (A retained
/// PUBLISH is answered once its record is durable, so live pushes to other connections may come
/// before its reply.)
pub(super) fn ok(outs: &[Out]) {
    let replies: Vec<_> = outs.iter().filter(|o| matches!(o, Out::Reply(..))).collect();
    assert!(matches!(replies[..], [Out::Reply(_, _, Reply::Ok)]), "{outs:?}");
}

/// Asserts a request was answered with exactly this ERR text and nothing else.
pub(super) fn err(outs: &[Out], text: &str) {
    assert_eq!(outs.len(), 1, "{outs:?}");
    assert!(matches!(&outs[0], Out::Reply(_, _, Reply::Err(t)) if t == text), "{outs:?}");
}

/// The pushes among `outs` as (conn, topic, payload).
pub(super) fn pushes(outs: &[Out]) -> Vec<(u64, String, Vec<u8>)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Push(conn, topic, payload) => Some((*conn, topic.clone(), payload.clone())),
            _ => None,
        })
        .collect()
}

/// The connections that got a push among `outs`, in order.
pub(super) fn receivers(outs: &[Out]) -> Vec<u64> {
    pushes(outs).into_iter().map(|(conn, ..)| conn).collect()
}
