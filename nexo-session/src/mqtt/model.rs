//! Model-based property test: QoS 2 from a client reaches Pub/Sub exactly once, whatever the
//! interleaving of retransmissions, PUBRELs, Pub/Sub replies, disconnects and reconnects of a
//! persistent session, and packet ids reused after PUBCOMP.
//!
//! The model is a spec-abiding client: it starts a message only on a free packet id, resends
//! PUBLISH (DUP) until PUBREC and PUBREL until PUBCOMP, and after a reconnect resends both for
//! whatever is unfinished. Pub/Sub is a FIFO of requests; a request of a connection that is gone
//! is still applied (Pub/Sub received it) but its reply is lost.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::mqtt::{Connect, Packet, Properties, PubResp, Publish, QoS, Version};
use nexo_proto::request::PubSubRequest;
use proptest::prelude::*;

use super::tests::{Harness, connect};
use super::{MqttConfig, MqttContext};

const IDS: u16 = 4;

#[derive(Debug, Clone)]
enum Op {
    /// Start the next message if its packet id is free.
    Start,
    /// Resend PUBLISH or PUBREL for the message on this id.
    Resend(u16),
    /// Send PUBREL for a message whose PUBREC arrived.
    Release(u16),
    /// Pub/Sub answers this many queued requests.
    Answer(usize),
    /// The connection drops; the client reconnects with Clean Start = 0.
    Reconnect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Start),
        2 => (1..=IDS).prop_map(Op::Resend),
        2 => (1..=IDS).prop_map(Op::Release),
        3 => (1usize..4).prop_map(Op::Answer),
        1 => Just(Op::Reconnect),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// PUBLISH sent, PUBREC awaited.
    Sent,
    /// PUBREC received.
    Received,
    /// PUBREL sent, PUBCOMP awaited.
    Released,
}

/// The client, Pub/Sub and the count of each message Pub/Sub received.
struct World {
    ctx: Arc<MqttContext>,
    conn: u64,
    h: Harness,
    /// In-progress message per packet id (index = id - 1): (message number, flow).
    flows: Vec<Option<(u64, Flow)>>,
    next_message: u64,
    /// Requests Pub/Sub has not answered: (connection, request id).
    pubsub: VecDeque<(u64, u32)>,
    received: Vec<u32>,
}

impl World {
    fn new() -> Self {
        let ctx = Arc::new(MqttContext::new(MqttConfig::default()));
        let h = Harness::new(&ctx, 1);
        let mut world = Self {
            ctx,
            conn: 1,
            h,
            flows: vec![None; usize::from(IDS)],
            next_message: 0,
            pubsub: VecDeque::new(),
            received: Vec::new(),
        };
        world.connect();
        world
    }

    fn connect(&mut self) {
        let properties = Properties { session_expiry_s: Some(3_600), ..Properties::default() };
        let c = Connect { properties, ..connect(Version::V5, "model", self.conn == 1) };
        self.h.send(&Packet::Connect(Box::new(c)));
        self.pump();
    }

    fn publish(&mut self, id: u16, message: u64, dup: bool) {
        let payload = Bytes::from(message.to_be_bytes().to_vec());
        let p = Publish {
            dup,
            qos: QoS::ExactlyOnce,
            topic: "m".into(),
            packet_id: id,
            payload,
            ..Publish::default()
        };
        self.h.send(&Packet::Publish(p));
    }

    fn release(&mut self, id: u16) {
        self.h.send(&Packet::PubRel(PubResp { packet_id: id, ..PubResp::default() }));
        if let Some((_, flow)) = &mut self.flows[usize::from(id - 1)] {
            *flow = Flow::Released;
        }
    }

    /// Moves requests into Pub/Sub and packets to the client.
    fn pump(&mut self) {
        for item in self.h.take_items() {
            if let PubSubRequest::Publish { payload, .. } = &item.request {
                let message = u64::from_be_bytes(payload[..].try_into().unwrap_or_default());
                let slot = self.received.len().max(message as usize + 1);
                self.received.resize(slot, 0);
                self.received[message as usize] += 1;
            }
            self.pubsub.push_back((self.conn, item.id));
        }
        for packet in self.h.out() {
            match packet {
                Packet::PubRec(rec) => self.set_flow(rec.packet_id, Flow::Sent, Flow::Received),
                // A repeated PUBREL is answered "not found" once the first completed the flow.
                Packet::PubComp(comp) if comp.code.is_error() => {}
                Packet::PubComp(comp) => {
                    let slot = &mut self.flows[usize::from(comp.packet_id - 1)];
                    assert!(matches!(slot, Some((_, Flow::Released))), "PUBCOMP before PUBREL");
                    *slot = None;
                }
                Packet::ConnAck(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn set_flow(&mut self, id: u16, from: Flow, to: Flow) {
        if let Some((_, flow)) = &mut self.flows[usize::from(id - 1)]
            && *flow == from
        {
            *flow = to;
        }
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Start => {
                if let Some(free) = self.flows.iter().position(Option::is_none) {
                    let id = free as u16 + 1;
                    self.flows[free] = Some((self.next_message, Flow::Sent));
                    self.publish(id, self.next_message, false);
                    self.next_message += 1;
                }
            }
            Op::Resend(id) => self.resend(id),
            Op::Release(id) => {
                if matches!(self.flows[usize::from(id - 1)], Some((_, Flow::Received | Flow::Released))) {
                    self.release(id);
                }
            }
            Op::Answer(n) => self.answer(n),
            Op::Reconnect => {
                self.h.session.handle_eof(self.h.now, &mut self.h.items);
                self.conn += 1;
                self.h = Harness::new(&self.ctx, self.conn);
                self.connect();
                (1..=IDS).for_each(|id| self.resend(id));
            }
        }
        self.pump();
    }

    fn resend(&mut self, id: u16) {
        match self.flows[usize::from(id - 1)] {
            Some((message, Flow::Sent)) => self.publish(id, message, true),
            Some((_, Flow::Released)) => self.release(id),
            _ => {}
        }
    }

    fn answer(&mut self, n: usize) {
        for _ in 0..n {
            let Some((conn, id)) = self.pubsub.pop_front() else { return };
            if conn == self.conn {
                self.h.reply(id, &Reply::Ok);
            }
        }
    }

    /// Lets everything finish: Pub/Sub answers, the client releases and resends.
    fn settle(&mut self) {
        for _ in 0..8 {
            self.answer(usize::MAX);
            self.pump();
            for id in 1..=IDS {
                if matches!(self.flows[usize::from(id - 1)], Some((_, Flow::Received))) {
                    self.release(id);
                }
                self.resend(id);
            }
            self.pump();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn qos2_reaches_pubsub_exactly_once(ops in proptest::collection::vec(op(), 1..80)) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
            prop_assert!(world.received.iter().all(|&n| n <= 1), "a message reached Pub/Sub twice: {:?}", world.received);
        }
        world.settle();
        prop_assert!(world.flows.iter().all(Option::is_none), "unfinished flows: {:?}", world.flows);
        prop_assert_eq!(world.received.len() as u64, world.next_message);
        prop_assert!(world.received.iter().all(|&n| n == 1), "lost or doubled: {:?}", world.received);
    }
}
