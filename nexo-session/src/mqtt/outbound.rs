//! Messages to the client: a Pub/Sub push becomes a PUBLISH at the highest QoS granted to a
//! matching subscription; QoS 1 and 2 go through the in-flight window (the smaller of the
//! server's limit and the client's Receive Maximum) and wait in a bounded queue when it is full;
//! PUBACK, PUBREC and PUBCOMP from the client move the window; a resumed session retransmits.
//!
//! A push's bytes are reported to Pub/Sub only once its PUBLISH is handed out for writing, so
//! Pub/Sub's slow-consumer bounds also cover the messages waiting here.

use bytes::Bytes;
use nexo_engine::Now;
use nexo_proto::mqtt::{Packet, Properties, PubResp, Publish, QoS, ReasonCode};
use nexo_proto::push::PushParts;
use nexo_proto::request::PubSubRequest;

use super::session::Awaited;
use super::state::{SessionState, Stage, Waiting};
use super::{MqttCloseWhy, MqttRequest, MqttSession};

impl MqttSession {
    /// A Pub/Sub push frame for this connection.
    pub fn handle_push(&mut self, now: Now, frame: &Bytes, items: &mut Vec<MqttRequest>) {
        if !self.is_open() {
            return;
        }
        if self.acks.is_empty() {
            self.deliver(now, frame, items);
        } else {
            self.held_pushes.push_back(frame.clone());
        }
    }

    /// Turns a push into a PUBLISH (or drops it when no subscription matches any more).
    pub(crate) fn deliver(&mut self, now: Now, frame: &Bytes, items: &mut Vec<MqttRequest>) {
        let Some(publish) = self.publish_for(frame) else {
            self.staged_push_bytes += frame.len();
            return;
        };
        let too_big =
            Packet::Publish(publish.clone()).encoded_len(self.version) > self.client_max_packet as usize;
        if too_big {
            // MQTT 5: a message larger than the client's Maximum Packet Size is discarded.
            self.staged_push_bytes += frame.len();
        } else if publish.qos == QoS::AtMostOnce {
            self.send(&Packet::Publish(publish));
            self.staged_push_bytes += frame.len();
        } else if self.state.waiting.is_empty() && self.window_has_room() {
            self.send_in_window(publish);
            self.staged_push_bytes += frame.len();
        } else if self.state.waiting.len() >= self.ctx.config().max_pending_out {
            self.close(now, MqttCloseWhy::SlowConsumer, items);
        } else {
            self.state.waiting.push_back(Waiting { publish, push_bytes: frame.len() });
        }
    }

    fn publish_for(&self, frame: &Bytes) -> Option<Publish> {
        let parts = PushParts::split(frame)?;
        let topic = std::str::from_utf8(parts.topic).ok()?;
        let (qos, ids) = self.state.deliver_as(topic)?;
        let subscription_ids = if self.version.is_v5() { ids } else { Vec::new() };
        Some(Publish {
            qos,
            topic: topic.to_owned(),
            properties: Properties { subscription_ids, ..Properties::default() },
            payload: frame.slice_ref(parts.payload),
            ..Publish::default()
        })
    }

    fn window_has_room(&self) -> bool {
        let window = self.ctx.config().max_inflight_out.min(self.client_receive_max);
        self.state.inflight.len() < usize::from(window)
    }

    fn send_in_window(&mut self, publish: Publish) {
        if let Some(sent) = self.state.send(publish) {
            let packet = Packet::Publish(sent.clone());
            self.send(&packet);
        }
    }

    /// Moves waiting messages into the window while it has room.
    fn fill_window(&mut self) {
        while self.window_has_room() {
            let Some(waiting) = self.state.waiting.pop_front() else { break };
            self.staged_push_bytes += waiting.push_bytes;
            self.send_in_window(waiting.publish);
        }
    }

    pub(crate) fn handle_puback(&mut self, packet_id: u16) {
        if self.state.inflight.get(&packet_id).is_some_and(|f| f.stage == Stage::Ack) {
            self.state.inflight.remove(&packet_id);
            self.fill_window();
        }
    }

    pub(crate) fn handle_pubrec(&mut self, rec: &PubResp) {
        let id = rec.packet_id;
        let Some(flight) = self.state.inflight.get_mut(&id) else {
            if self.version.is_v5() {
                let code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                self.send(&Packet::PubRel(PubResp {
                    packet_id: id,
                    code,
                    properties: Properties::default(),
                }));
            }
            return;
        };
        match flight.stage {
            Stage::Ack => {}
            Stage::Rec if rec.code.is_error() => {
                self.state.inflight.remove(&id);
                self.fill_window();
            }
            Stage::Rec | Stage::Comp => {
                flight.stage = Stage::Comp;
                self.send(&Packet::PubRel(PubResp { packet_id: id, ..PubResp::default() }));
            }
        }
    }

    pub(crate) fn handle_pubcomp(&mut self, packet_id: u16) {
        if self.state.inflight.get(&packet_id).is_some_and(|f| f.stage == Stage::Comp) {
            self.state.inflight.remove(&packet_id);
            self.fill_window();
        }
    }

    /// Takes over a stored session: subscribes again at Pub/Sub (which forgot them with the
    /// old connection), retransmits what was in flight (PUBLISH with DUP, or PUBREL) in send
    /// order, then fills the window.
    pub(crate) fn resume(&mut self, state: SessionState, items: &mut Vec<MqttRequest>) {
        self.state = state;
        let filters: Vec<String> = self.state.subscriptions.keys().cloned().collect();
        for pattern in filters {
            self.route(PubSubRequest::Subscribe { pattern }, Awaited::Nothing, items);
        }
        let resend: Vec<Packet> = self
            .state
            .inflight_in_order()
            .into_iter()
            .map(|f| match f.stage {
                Stage::Comp => {
                    Packet::PubRel(PubResp { packet_id: f.publish.packet_id, ..PubResp::default() })
                }
                Stage::Ack | Stage::Rec => Packet::Publish(Publish { dup: true, ..f.publish.clone() }),
            })
            .collect();
        for packet in &resend {
            self.send(packet);
        }
        self.fill_window();
    }
}
