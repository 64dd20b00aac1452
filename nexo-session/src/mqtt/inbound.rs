//! Messages from the client: PUBLISH (topic aliases, topic checks, the receive window, QoS 2
//! duplicate suppression), its acknowledgement once Pub/Sub answered, and PUBREL.
//!
//! Exactly-once for QoS 2: a packet id is remembered from the first PUBLISH until its PUBREL;
//! a PUBLISH carrying a remembered id is never handed to Pub/Sub again.

use bytes::Bytes;
use nexo_engine::Now;
use nexo_engine::pubsub::TopicError;
use nexo_engine::pubsub::topic::validate_topic;
use nexo_proto::Reply;
use nexo_proto::mqtt::{Packet, Properties, PubResp, Publish, QoS, ReasonCode};
use nexo_proto::options::PublishOptions;
use nexo_proto::request::PubSubRequest;

use super::session::Awaited;
use super::{MqttCloseWhy, MqttConfig, MqttRequest, MqttSession};

/// Checks a topic name a client publishes to (or names in its will).
pub(crate) fn check_topic(topic: &str, config: &MqttConfig) -> Result<(), TopicError> {
    validate_topic(topic, config.topic_limits)
}

/// The Pub/Sub PUBLISH for an MQTT message: RETAIN is `retain`; a retained message keeps its
/// Message Expiry Interval as `ttl` (at least one second) and without one never expires.
pub(crate) fn publish_request(
    topic: &str,
    retain: bool,
    properties: &Properties,
    payload: Bytes,
) -> PubSubRequest {
    let expiry = properties.message_expiry_s.filter(|_| retain);
    let options = PublishOptions {
        retain,
        ttl: expiry.map(|s| u64::from(s.max(1))),
        persist: retain && expiry.is_none(),
    };
    PubSubRequest::Publish { topic: topic.to_owned(), options, payload }
}

/// The MQTT 5 reason code for a Pub/Sub ERR text answering a publish.
fn publish_error_code(text: &str) -> ReasonCode {
    if text.contains("etained") { ReasonCode::QUOTA_EXCEEDED } else { ReasonCode::UNSPECIFIED_ERROR }
}

impl MqttSession {
    pub(crate) fn handle_publish(&mut self, now: Now, mut p: Publish, items: &mut Vec<MqttRequest>) {
        if let Err(code) = self.resolve_alias(&mut p) {
            return self.violation(now, code, items);
        }
        if check_topic(&p.topic, self.ctx.config()).is_err() {
            return self.violation(now, ReasonCode::TOPIC_NAME_INVALID, items);
        }
        if !p.properties.subscription_ids.is_empty() {
            return self.violation(now, ReasonCode::PROTOCOL_ERROR, items);
        }
        let receiving = self.qos1_unacked + self.state.inbound_qos2.len();
        if p.qos != QoS::AtMostOnce
            && self.version.is_v5()
            && receiving >= usize::from(self.ctx.config().receive_maximum)
            && !self.state.inbound_qos2.contains(&p.packet_id)
        {
            return self.violation(now, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED, items);
        }
        let request = publish_request(&p.topic, p.retain, &p.properties, p.payload);
        let awaited = Awaited::Publish { packet_id: p.packet_id, qos: p.qos };
        match p.qos {
            QoS::AtMostOnce => self.route(request, Awaited::Nothing, items),
            QoS::AtLeastOnce => {
                self.qos1_unacked += 1;
                self.route(request, awaited, items);
            }
            QoS::ExactlyOnce if self.state.inbound_qos2.contains(&p.packet_id) => {
                // A retransmission: Pub/Sub already has it. PUBREC again unless it is still owed.
                if !self.awaited.values().any(|a| *a == awaited) {
                    self.send(&Packet::PubRec(PubResp { packet_id: p.packet_id, ..PubResp::default() }));
                }
            }
            QoS::ExactlyOnce => {
                self.state.inbound_qos2.insert(p.packet_id);
                self.route(request, awaited, items);
            }
        }
    }

    /// Applies MQTT 5 topic aliases: an alias with a topic defines it, an alias alone uses it.
    fn resolve_alias(&mut self, p: &mut Publish) -> Result<(), ReasonCode> {
        let Some(alias) = p.properties.topic_alias.take() else {
            return if p.topic.is_empty() { Err(ReasonCode::TOPIC_NAME_INVALID) } else { Ok(()) };
        };
        if alias > self.ctx.config().topic_alias_maximum {
            return Err(ReasonCode::TOPIC_ALIAS_INVALID);
        }
        if p.topic.is_empty() {
            p.topic = self.aliases.get(&alias).cloned().ok_or(ReasonCode::PROTOCOL_ERROR)?;
        } else {
            self.aliases.insert(alias, p.topic.clone());
        }
        Ok(())
    }

    /// Pub/Sub answered a client PUBLISH: acknowledge QoS 1 (PUBACK) and 2 (PUBREC). A refusal
    /// is reported with its reason code in MQTT 5; 3.1.1 has none, so the connection closes.
    pub(crate) fn publish_replied(
        &mut self,
        now: Now,
        packet_id: u16,
        qos: QoS,
        reply: &Reply,
        items: &mut Vec<MqttRequest>,
    ) {
        if qos == QoS::AtLeastOnce {
            self.qos1_unacked = self.qos1_unacked.saturating_sub(1);
        }
        if qos == QoS::AtMostOnce || !self.is_open() {
            return;
        }
        let mut ack = PubResp { packet_id, ..PubResp::default() };
        if let Reply::Err(text) = reply {
            if !self.version.is_v5() {
                return self.close(now, MqttCloseWhy::Protocol(ReasonCode::UNSPECIFIED_ERROR), items);
            }
            ack.code = publish_error_code(text);
            ack.properties.reason_string = Some(text.clone());
            if qos == QoS::ExactlyOnce {
                self.state.inbound_qos2.remove(&packet_id);
            }
        }
        let packet = if qos == QoS::AtLeastOnce { Packet::PubAck(ack) } else { Packet::PubRec(ack) };
        self.send(&packet);
    }

    /// PUBREL: the client releases a QoS 2 packet id; answer PUBCOMP.
    pub(crate) fn handle_pubrel(&mut self, packet_id: u16) {
        let known = self.state.inbound_qos2.remove(&packet_id);
        let code = if known || !self.version.is_v5() {
            ReasonCode::SUCCESS
        } else {
            ReasonCode::PACKET_IDENTIFIER_NOT_FOUND
        };
        self.send(&Packet::PubComp(PubResp { packet_id, code, properties: Properties::default() }));
    }
}
