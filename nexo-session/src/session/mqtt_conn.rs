//! An MQTT connection inside a [`Session`]: the glue between the generic session (phases,
//! write queue, in-flight count, global bounds) and [`MqttSession`], which owns MQTT itself.
//!
//! It forwards each input to the MQTT session, turns the Pub/Sub requests it emits into
//! [`Item::PubSub`] (kept here when they arise outside `handle_bytes`, for the runtime to take
//! with [`Session::take_items`], e.g. the will after EOF), moves its transmits into the write
//! queue, and closes the session when MQTT says so. It decodes nothing itself.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use nexo_engine::{ConnId, Now};
use nexo_proto::Reply;

use super::{CloseWhy, Phase, Proto, Session};
use crate::Item;
use crate::mqtt::{MqttRequest, MqttSession};

/// The MQTT state of a session and what it emitted between the runtime's visits.
#[derive(Debug)]
pub(super) struct MqttConn {
    session: MqttSession,
    requests: Vec<MqttRequest>,
    pending: Vec<Item>,
    /// The last time an input carried (MQTT deadlines use the monotonic part only).
    now: Now,
}

impl Session {
    /// A session for a connection accepted on the MQTT listener, at `now`; `refused` when it is
    /// over the connection limit (it is then closed at once: MQTT has no refusal before CONNECT).
    pub fn new_mqtt(ctx: Arc<crate::SessionContext>, conn: ConnId, now: Now, refused: bool) -> Self {
        let session = MqttSession::new(Arc::clone(ctx.mqtt()), conn, now.mono_ms);
        let mut s = Self::new(ctx, conn, now.mono_ms, false);
        s.proto = Proto::Mqtt(Box::new(MqttConn { session, requests: Vec::new(), pending: Vec::new(), now }));
        // MQTT's keep-alive replaces the idle timeout.
        s.subscriber = true;
        if refused {
            s.phase = Phase::Closed(CloseWhy::Refused);
        }
        s
    }

    /// Pub/Sub requests an MQTT session emitted outside `handle_bytes` (a will after EOF or a
    /// keep-alive timeout): the runtime routes them like the items of `handle_bytes`.
    pub fn take_items(&mut self, items: &mut Vec<Item>) {
        if let Proto::Mqtt(mqtt) = &mut self.proto {
            items.append(&mut mqtt.pending);
        }
    }

    /// MQTT packets until none is complete or reading must pause (`true`: paused).
    pub(super) fn decode_mqtt(&mut self, now: Now, buf: &mut BytesMut, items: &mut Vec<Item>) -> bool {
        self.with_mqtt(now, |m, now, out| m.handle_bytes(now, buf, out));
        if let Proto::Mqtt(mqtt) = &mut self.proto {
            items.append(&mut mqtt.pending);
            return !mqtt.session.may_read() || !self.has_room();
        }
        false
    }

    /// Runs one input on the MQTT session (no-op for other protocols; `false` then).
    fn with_mqtt(
        &mut self,
        now: Now,
        input: impl FnOnce(&mut MqttSession, Now, &mut Vec<MqttRequest>),
    ) -> bool {
        let Proto::Mqtt(mqtt) = &mut self.proto else { return false };
        mqtt.now = now;
        input(&mut mqtt.session, now, &mut mqtt.requests);
        for MqttRequest { id, request } in mqtt.requests.drain(..) {
            mqtt.pending.push(Item::PubSub { id, request });
            self.in_flight += 1;
        }
        let mut closed = false;
        while let Some(t) = mqtt.session.poll_transmit() {
            self.out.push_chunk(t.bytes, t.push_bytes);
        }
        if mqtt.session.close_reason().is_some() {
            closed = true;
        }
        if closed && matches!(self.phase, Phase::Open) {
            self.begin_close(now.mono_ms, CloseWhy::Protocol);
        }
        self.track_output();
        true
    }

    fn mqtt_now(&self) -> Option<Now> {
        match &self.proto {
            Proto::Mqtt(mqtt) => Some(mqtt.now),
            _ => None,
        }
    }

    /// A Pub/Sub reply for an MQTT session (`false`: not MQTT).
    pub(super) fn mqtt_reply(&mut self, id: u32, reply: &Reply) -> bool {
        let Some(now) = self.mqtt_now() else { return false };
        self.with_mqtt(now, |m, now, out| m.handle_reply(now, id, reply, out))
    }

    /// A Pub/Sub push for an MQTT session (`false`: not MQTT).
    pub(super) fn mqtt_push(&mut self, frame: &Bytes) -> bool {
        let Some(now) = self.mqtt_now() else { return false };
        self.with_mqtt(now, |m, now, out| m.handle_push(now, frame, out))
    }

    /// The connection ends (EOF, shutdown, an engine close): the will, the stored session.
    pub(super) fn mqtt_end(&mut self, now_ms: Option<u64>, engine: bool) {
        let Some(last) = self.mqtt_now() else { return };
        let now = at(last, now_ms.unwrap_or(last.mono_ms));
        self.with_mqtt(
            now,
            |m, now, out| {
                if engine { m.handle_engine_close(now, out) } else { m.handle_eof(now, out) }
            },
        );
    }

    /// The MQTT session's deadline (CONNECT wait, keep-alive).
    pub(super) fn mqtt_deadline(&self) -> Option<u64> {
        match &self.proto {
            Proto::Mqtt(mqtt) => mqtt.session.poll_timeout(),
            _ => None,
        }
    }

    /// Applies the MQTT session's deadline at `now_ms`.
    pub(super) fn mqtt_timeout(&mut self, now_ms: u64) {
        let Some(last) = self.mqtt_now() else { return };
        self.with_mqtt(at(last, now_ms), |m, now, out| m.handle_timeout(now, out));
    }
}

/// `last` moved to the monotonic time `now_ms` (both clocks by the same amount).
fn at(last: Now, now_ms: u64) -> Now {
    Now { mono_ms: now_ms, wall_ms: last.wall_ms.saturating_add(now_ms.saturating_sub(last.mono_ms)) }
}

#[cfg(test)]
mod tests {
    use nexo_proto::mqtt::{Connect, Packet, Properties, QoS, Version, Will, decode};
    use nexo_proto::request::PubSubRequest;

    use super::*;
    use crate::resp::{RespContext, RespSettings};
    use crate::{Limits, SessionContext};

    fn ctx() -> Arc<SessionContext> {
        let resp = Arc::new(RespContext::new(RespSettings::for_tests()));
        Arc::new(SessionContext::new(Limits::new(1 << 20, 1 << 20), resp))
    }

    fn connect_bytes() -> BytesMut {
        let will = Will {
            topic: "gone".into(),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Properties::default(),
        };
        let c = Connect {
            version: Version::V5,
            clean_start: true,
            keep_alive_s: 0,
            properties: Properties::default(),
            client_id: "g".into(),
            will: Some(will),
            username: None,
            password: None,
        };
        let mut buf = BytesMut::new();
        Packet::Connect(Box::new(c)).encode(Version::V5, &mut buf);
        buf
    }

    #[test]
    fn an_mqtt_session_answers_connect_and_hands_over_the_will_after_eof() {
        let now = Now::at(5);
        let mut s = Session::new_mqtt(ctx(), ConnId(3), now, false);
        let mut items = Vec::new();
        let mut buf = connect_bytes();
        s.handle_bytes(now, &mut buf, &mut items);
        assert!(items.is_empty() && buf.is_empty());
        let mut wire = Vec::new();
        assert_eq!(s.write_to(&mut wire).ok(), Some(0));
        assert!(matches!(decode(&wire, Version::V5, u32::MAX), Ok(Some((_, Packet::ConnAck(_))))));
        s.handle_eof(now.mono_ms + 1);
        s.take_items(&mut items);
        assert!(
            matches!(&items[..], [Item::PubSub { request: PubSubRequest::Publish { topic, .. }, .. }] if topic == "gone")
        );
    }

    #[test]
    fn a_refused_mqtt_connection_closes_at_once() {
        let s = Session::new_mqtt(ctx(), ConnId(4), Now::at(0), true);
        assert_eq!(s.close_reason(), Some(CloseWhy::Refused));
    }
}
