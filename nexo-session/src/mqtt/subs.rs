//! SUBSCRIBE and UNSUBSCRIBE: each filter becomes one Pub/Sub request, and the SUBACK /
//! UNSUBACK goes out once Pub/Sub answered every filter of the packet (messages pushed in the
//! meantime are held, so a SUBACK precedes the retained messages its subscription brings).

use nexo_engine::Now;
use nexo_engine::pubsub::topic::parse_subscription;
use nexo_proto::Reply;
use nexo_proto::mqtt::{
    Packet, Properties, ReasonCode, SubAck, SubOptions, Subscribe, UnsubAck, Unsubscribe,
};
use nexo_proto::request::PubSubRequest;

use super::session::Awaited;
use super::state::SubEntry;
use super::{MqttRequest, MqttSession};

/// A SUBACK or UNSUBACK waiting for Pub/Sub's replies.
#[derive(Debug)]
pub(crate) struct AckBuild {
    unsubscribe: bool,
    filters: Vec<String>,
    codes: Vec<ReasonCode>,
    missing: usize,
}

impl MqttSession {
    /// The failure code of a SUBACK: MQTT 5's reason, or 3.1.1's only failure (0x80).
    fn sub_failure(&self, code: ReasonCode) -> ReasonCode {
        if self.version.is_v5() { code } else { ReasonCode::UNSPECIFIED_ERROR }
    }

    /// Whether a filter may be subscribed with these options (the SUBACK code when not).
    fn check_filter(&self, filter: &str, options: &SubOptions) -> Result<(), ReasonCode> {
        let config = self.ctx.config();
        if parse_subscription(filter, config.topic_limits).is_err() {
            return Err(self.sub_failure(ReasonCode::TOPIC_FILTER_INVALID));
        }
        if options.no_local && filter.starts_with(nexo_engine::pubsub::topic::SHARE_PREFIX) {
            return Err(self.sub_failure(ReasonCode::PROTOCOL_ERROR));
        }
        let new = !self.state.subscriptions.contains_key(filter);
        if new && self.state.subscriptions.len() >= config.max_subscriptions {
            return Err(self.sub_failure(ReasonCode::QUOTA_EXCEEDED));
        }
        Ok(())
    }

    pub(crate) fn handle_subscribe(&mut self, now: Now, s: Subscribe, items: &mut Vec<MqttRequest>) {
        let subscription_id = s.properties.subscription_ids.first().copied();
        let mut build = AckBuild { unsubscribe: false, filters: Vec::new(), codes: Vec::new(), missing: 0 };
        for (index, (filter, options)) in s.filters.into_iter().enumerate() {
            match self.check_filter(&filter, &options) {
                Err(code) => build.codes.push(code),
                Ok(()) => {
                    build.codes.push(ReasonCode(options.qos.bits()));
                    build.missing += 1;
                    self.state.subscriptions.insert(filter.clone(), SubEntry { options, subscription_id });
                    let awaited = Awaited::Filter { packet_id: s.packet_id, index };
                    self.route(PubSubRequest::Subscribe { pattern: filter.clone() }, awaited, items);
                }
            }
            build.filters.push(filter);
        }
        self.expect_acks(now, s.packet_id, build, items);
    }

    pub(crate) fn handle_unsubscribe(&mut self, now: Now, u: Unsubscribe, items: &mut Vec<MqttRequest>) {
        let mut build = AckBuild { unsubscribe: true, filters: Vec::new(), codes: Vec::new(), missing: 0 };
        for (index, filter) in u.filters.into_iter().enumerate() {
            if self.state.subscriptions.remove(&filter).is_some() {
                build.codes.push(ReasonCode::SUCCESS);
                build.missing += 1;
                let awaited = Awaited::Filter { packet_id: u.packet_id, index };
                self.route(PubSubRequest::Unsubscribe { pattern: filter.clone() }, awaited, items);
            } else {
                build.codes.push(ReasonCode::NO_SUBSCRIPTION_EXISTED);
            }
            build.filters.push(filter);
        }
        self.expect_acks(now, u.packet_id, build, items);
    }

    /// Sends the acknowledgement now if no filter waits for Pub/Sub, else keeps it.
    fn expect_acks(&mut self, now: Now, packet_id: u16, build: AckBuild, items: &mut Vec<MqttRequest>) {
        if build.missing == 0 {
            self.send_ack(now, packet_id, build, items);
        } else {
            self.acks.insert(packet_id, build);
        }
    }

    /// Pub/Sub answered one filter of a SUBSCRIBE or UNSUBSCRIBE.
    pub(crate) fn filter_replied(
        &mut self,
        now: Now,
        packet_id: u16,
        index: usize,
        reply: &Reply,
        items: &mut Vec<MqttRequest>,
    ) {
        let Some(build) = self.acks.get_mut(&packet_id) else { return };
        build.missing = build.missing.saturating_sub(1);
        if let (Reply::Err(text), false) = (reply, build.unsubscribe) {
            let code = if text.starts_with("Too many") {
                ReasonCode::QUOTA_EXCEEDED
            } else {
                ReasonCode::TOPIC_FILTER_INVALID
            };
            if let Some(filter) = build.filters.get(index) {
                self.state.subscriptions.remove(filter);
            }
            let failure = self.sub_failure(code);
            if let Some(slot) = self.acks.get_mut(&packet_id).and_then(|b| b.codes.get_mut(index)) {
                *slot = failure;
            }
        }
        if self.acks.get(&packet_id).is_some_and(|b| b.missing == 0)
            && let Some(build) = self.acks.remove(&packet_id)
        {
            self.send_ack(now, packet_id, build, items);
        }
    }

    fn send_ack(&mut self, now: Now, packet_id: u16, build: AckBuild, items: &mut Vec<MqttRequest>) {
        let properties = Properties::default();
        let packet = if build.unsubscribe {
            Packet::UnsubAck(UnsubAck { packet_id, properties, codes: build.codes })
        } else {
            Packet::SubAck(SubAck { packet_id, properties, codes: build.codes })
        };
        self.send(&packet);
        if self.acks.is_empty() {
            while let Some(frame) = self.held_pushes.pop_front() {
                self.deliver(now, &frame, items);
            }
        }
    }
}
