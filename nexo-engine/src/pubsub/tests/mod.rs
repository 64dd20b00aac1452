//! Tests of the whole Pub/Sub broker: a small scenario harness, scenario tests and a
//! model-based property test. Unit tests of each part sit at the bottom of its own file.

mod model;
mod scenarios;

use bytes::Bytes;
use nexo_proto::options::PublishOptions;
use nexo_proto::request::PubSubRequest;
use nexo_proto::{HEADER_LEN, Push, Reply};

use super::{PubSub, PubSubConfig};
use crate::broker::Broker;
use crate::ids::ConnId;
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
        storage => panic!("Pub/Sub keeps no durable log yet, but emitted {storage:?}"),
    }
}

/// Drives one broker in virtual time and drains its outputs after every input.
pub(super) struct Harness {
    pub ps: PubSub,
    pub now: Now,
    next_id: u32,
    /// Raw outputs of the last input.
    pub raw: Vec<Output>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(PubSubConfig::default())
    }

    pub fn with(config: PubSubConfig) -> Self {
        Self { ps: PubSub::new(config, 7), now: Now::at(0), next_id: 0, raw: Vec::new() }
    }

    fn drain(&mut self) -> Vec<Out> {
        self.raw.clear();
        while let Some(output) = self.ps.poll_output() {
            self.raw.push(output);
        }
        self.raw.iter().map(decode).collect()
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

/// Asserts a request was answered OK, before anything else.
pub(super) fn ok(outs: &[Out]) {
    assert!(matches!(outs.first(), Some(Out::Reply(_, _, Reply::Ok))), "{outs:?}");
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
