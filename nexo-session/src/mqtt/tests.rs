//! Scenario tests of the MQTT session: a client's packets in, Pub/Sub's replies and pushes in,
//! the packets and requests that come out.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use nexo_engine::{ConnId, Now};
use nexo_proto::mqtt::{
    ConnAck, Connect, Disconnect, Packet, Properties, PubResp, Publish, QoS, ReasonCode, SubOptions,
    Subscribe, Unsubscribe, Version, Will, decode,
};
use nexo_proto::request::PubSubRequest;
use nexo_proto::{Push, Reply};

use super::{MqttCloseWhy, MqttConfig, MqttContext, MqttRequest, MqttSession};

/// One session and everything it emitted.
pub(super) struct Harness {
    pub(super) session: MqttSession,
    pub(super) items: Vec<MqttRequest>,
    pub(super) now: Now,
    pub(super) push_bytes: usize,
}

impl Harness {
    pub(super) fn new(ctx: &Arc<MqttContext>, conn: u64) -> Self {
        let now = Now::at(1_000);
        Self {
            session: MqttSession::new(Arc::clone(ctx), ConnId(conn), now.mono_ms),
            items: Vec::new(),
            now,
            push_bytes: 0,
        }
    }

    pub(super) fn send(&mut self, packet: &Packet) {
        let mut buf = BytesMut::new();
        packet.encode(self.session.version(), &mut buf);
        self.send_bytes(&buf);
    }

    pub(super) fn send_bytes(&mut self, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        self.session.handle_bytes(self.now, &mut buf, &mut self.items);
    }

    /// Every packet the session transmitted since the last call.
    pub(super) fn out(&mut self) -> Vec<Packet> {
        let mut wire = BytesMut::new();
        while let Some(t) = self.session.poll_transmit() {
            wire.extend_from_slice(&t.bytes);
            self.push_bytes += t.push_bytes;
        }
        let mut packets = Vec::new();
        while let Ok(Some((n, packet))) = decode(&wire, self.session.version(), u32::MAX) {
            let _ = wire.split_to(n);
            packets.push(packet);
        }
        assert!(wire.is_empty(), "undecodable output");
        packets
    }

    pub(super) fn take_items(&mut self) -> Vec<MqttRequest> {
        std::mem::take(&mut self.items)
    }

    pub(super) fn reply(&mut self, id: u32, reply: &Reply) {
        self.session.handle_reply(self.now, id, reply, &mut self.items);
    }

    /// Answers every routed request `OK`; returns them.
    pub(super) fn reply_all(&mut self) -> Vec<MqttRequest> {
        let items = self.take_items();
        for item in &items {
            self.reply(item.id, &Reply::Ok);
        }
        items
    }

    pub(super) fn push(&mut self, topic: &str, payload: &[u8]) -> usize {
        let frame = Push::encode_frame(topic, payload);
        self.session.handle_push(self.now, &frame, &mut self.items);
        frame.len()
    }
}

pub(super) fn connect(version: Version, client_id: &str, clean_start: bool) -> Connect {
    Connect {
        version,
        clean_start,
        keep_alive_s: 0,
        properties: Properties::default(),
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
    }
}

fn connected(version: Version) -> Harness {
    let ctx = Arc::new(MqttContext::new(MqttConfig { max_inflight_out: 2, ..MqttConfig::default() }));
    let mut h = Harness::new(&ctx, 7);
    h.send(&Packet::Connect(Box::new(connect(version, "c1", true))));
    assert!(matches!(h.out()[..], [Packet::ConnAck(ConnAck { code: ReasonCode::SUCCESS, .. })]));
    h
}

fn publish(topic: &str, qos: QoS, packet_id: u16) -> Packet {
    Packet::Publish(Publish {
        qos,
        topic: topic.into(),
        packet_id,
        payload: Bytes::from_static(b"m"),
        ..Publish::default()
    })
}

fn subscribe(h: &mut Harness, filters: &[(&str, QoS)]) -> Vec<Packet> {
    let filters = filters
        .iter()
        .map(|(f, qos)| ((*f).to_owned(), SubOptions { qos: *qos, ..SubOptions::default() }))
        .collect();
    h.send(&Packet::Subscribe(Subscribe { packet_id: 1, properties: Properties::default(), filters }));
    h.reply_all();
    h.out()
}

#[test]
fn v5_connack_advertises_the_server_limits_and_assigns_an_id() {
    let ctx = Arc::new(MqttContext::new(MqttConfig::default()));
    let mut h = Harness::new(&ctx, 0xAB);
    h.send(&Packet::Connect(Box::new(connect(Version::V5, "", true))));
    let [Packet::ConnAck(ack)] = &h.out()[..] else { panic!("no CONNACK") };
    let p = &ack.properties;
    assert_eq!(p.assigned_client_id.as_deref(), Some("nexo-00000000000000ab"));
    assert_eq!(
        (p.receive_maximum, p.maximum_packet_size, p.topic_alias_maximum),
        (Some(64), Some(1 << 20), Some(64))
    );
    assert_eq!(
        (p.retain_available, p.wildcard_subscription_available, p.shared_subscription_available),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(h.session.client_id(), "nexo-00000000000000ab");
}

#[test]
fn v311_empty_id_without_clean_session_is_refused_with_0x02() {
    let ctx = Arc::new(MqttContext::new(MqttConfig::default()));
    let mut h = Harness::new(&ctx, 1);
    h.send(&Packet::Connect(Box::new(connect(Version::V311, "", false))));
    assert_eq!(h.out(), [Packet::ConnAck(ConnAck { code: ReasonCode(0x02), ..ConnAck::default() })]);
    assert_eq!(h.session.close_reason(), Some(MqttCloseWhy::Refused(ReasonCode(0x02))));
}

#[test]
fn unsupported_levels_get_connack_0x01_and_a_first_packet_other_than_connect_closes() {
    let ctx = Arc::new(MqttContext::new(MqttConfig::default()));
    let mut h = Harness::new(&ctx, 1);
    h.send_bytes(&[0x10, 0x0A, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x3C]);
    assert_eq!(h.out(), [Packet::ConnAck(ConnAck { code: ReasonCode(0x01), ..ConnAck::default() })]);
    let mut h = Harness::new(&ctx, 2);
    h.send(&Packet::PingReq);
    assert!(h.out().is_empty());
    assert!(matches!(h.session.close_reason(), Some(MqttCloseWhy::Protocol(_))));
}

#[test]
fn keep_alive_is_one_and_a_half_times_and_fires_the_will() {
    let ctx = Arc::new(MqttContext::new(MqttConfig::default()));
    let mut h = Harness::new(&ctx, 1);
    let will = Will {
        topic: "dead".into(),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    };
    let c = Connect { keep_alive_s: 10, will: Some(will), ..connect(Version::V5, "c", true) };
    h.send(&Packet::Connect(Box::new(c)));
    h.out();
    assert_eq!(h.session.poll_timeout(), Some(1_000 + 15_000));
    h.now = h.now.plus(14_999);
    h.session.handle_timeout(h.now, &mut h.items);
    assert!(h.session.close_reason().is_none());
    h.now = h.now.plus(1);
    h.session.handle_timeout(h.now, &mut h.items);
    assert_eq!(
        h.out(),
        [Packet::Disconnect(Disconnect { code: ReasonCode::KEEP_ALIVE_TIMEOUT, ..Disconnect::default() })]
    );
    let [MqttRequest { request: PubSubRequest::Publish { topic, payload, .. }, .. }] = &h.take_items()[..]
    else {
        panic!("no will")
    };
    assert_eq!((topic.as_str(), &payload[..]), ("dead", &b"bye"[..]));
}

#[test]
fn a_clean_disconnect_drops_the_will_and_eof_publishes_it() {
    let will = Will {
        topic: "w".into(),
        payload: Bytes::new(),
        qos: QoS::AtMostOnce,
        retain: true,
        properties: Properties::default(),
    };
    for (clean, expected) in [(true, 0), (false, 1)] {
        let ctx = Arc::new(MqttContext::new(MqttConfig::default()));
        let mut h = Harness::new(&ctx, 1);
        h.send(&Packet::Connect(Box::new(Connect {
            will: Some(will.clone()),
            ..connect(Version::V311, "c", true)
        })));
        if clean {
            h.send(&Packet::Disconnect(Disconnect::default()));
        } else {
            h.session.handle_eof(h.now, &mut h.items);
        }
        assert_eq!(h.take_items().len(), expected);
    }
}

#[test]
fn qos1_is_acknowledged_only_after_pubsub_replied() {
    let mut h = connected(Version::V311);
    h.send(&publish("a/b", QoS::AtLeastOnce, 9));
    assert!(h.out().is_empty());
    let items = h.take_items();
    let [MqttRequest { id, request: PubSubRequest::Publish { topic, options, .. } }] = &items[..] else {
        panic!()
    };
    assert_eq!(topic, "a/b");
    assert!(!options.retain);
    h.reply(*id, &Reply::Ok);
    assert_eq!(h.out(), [Packet::PubAck(PubResp { packet_id: 9, ..PubResp::default() })]);
}

#[test]
fn qos2_duplicates_reach_pubsub_once() {
    let mut h = connected(Version::V5);
    h.send(&publish("t", QoS::ExactlyOnce, 3));
    let Packet::Publish(p) = publish("t", QoS::ExactlyOnce, 3) else { unreachable!() };
    h.send(&Packet::Publish(Publish { dup: true, ..p.clone() }));
    assert_eq!(h.reply_all().len(), 1);
    assert_eq!(h.out(), [Packet::PubRec(PubResp { packet_id: 3, ..PubResp::default() })]);
    h.send(&Packet::Publish(Publish { dup: true, ..p }));
    assert!(h.take_items().is_empty());
    assert_eq!(h.out(), [Packet::PubRec(PubResp { packet_id: 3, ..PubResp::default() })]);
    h.send(&Packet::PubRel(PubResp { packet_id: 3, ..PubResp::default() }));
    assert_eq!(h.out(), [Packet::PubComp(PubResp { packet_id: 3, ..PubResp::default() })]);
    h.send(&publish("t", QoS::ExactlyOnce, 3));
    assert_eq!(h.take_items().len(), 1, "a released id starts a new message");
}

#[test]
fn retained_publishes_map_expiry_to_ttl_and_none_to_persist() {
    let mut h = connected(Version::V5);
    let expiring = Properties { message_expiry_s: Some(30), ..Properties::default() };
    for (properties, ttl, persist) in [(Properties::default(), None, true), (expiring, Some(30), false)] {
        let p = Publish { retain: true, topic: "r".into(), properties, ..Publish::default() };
        h.send(&Packet::Publish(p));
        let [MqttRequest { request: PubSubRequest::Publish { options, .. }, .. }] = &h.take_items()[..]
        else {
            panic!()
        };
        assert_eq!((options.retain, options.ttl, options.persist), (true, ttl, persist));
    }
}

#[test]
fn suback_waits_for_every_filter_and_precedes_held_messages() {
    let mut h = connected(Version::V311);
    let filters = vec![
        ("a/#".to_owned(), SubOptions { qos: QoS::AtLeastOnce, ..SubOptions::default() }),
        ("bad/#/x".to_owned(), SubOptions::default()),
        ("b".to_owned(), SubOptions::default()),
    ];
    h.send(&Packet::Subscribe(Subscribe { packet_id: 5, properties: Properties::default(), filters }));
    let items = h.take_items();
    assert_eq!(items.len(), 2, "the invalid filter never reaches Pub/Sub");
    h.reply(items[0].id, &Reply::Ok);
    h.push("a/1", b"retained");
    assert!(h.out().is_empty(), "held until the SUBACK");
    h.reply(items[1].id, &Reply::Ok);
    let out = h.out();
    assert_eq!(
        out[0],
        Packet::SubAck(nexo_proto::mqtt::SubAck {
            packet_id: 5,
            properties: Properties::default(),
            codes: vec![ReasonCode(1), ReasonCode(0x80), ReasonCode(0)]
        })
    );
    let Packet::Publish(p) = &out[1] else { panic!("no delivery") };
    assert_eq!((p.topic.as_str(), p.qos, &p.payload[..]), ("a/1", QoS::AtLeastOnce, &b"retained"[..]));
}

#[test]
fn the_outgoing_window_holds_messages_and_reports_push_bytes_when_sent() {
    let mut h = connected(Version::V5);
    subscribe(&mut h, &[("q/#", QoS::ExactlyOnce)]);
    let frame_len = h.push("q/1", b"1");
    h.push("q/2", b"2");
    h.push("q/3", b"3");
    let out = h.out();
    assert_eq!(out.len(), 2, "window of 2");
    assert_eq!(h.push_bytes, 2 * frame_len);
    let Packet::Publish(first) = &out[0] else { panic!() };
    h.send(&Packet::PubRec(PubResp { packet_id: first.packet_id, ..PubResp::default() }));
    assert_eq!(h.out(), [Packet::PubRel(PubResp { packet_id: first.packet_id, ..PubResp::default() })]);
    h.send(&Packet::PubComp(PubResp { packet_id: first.packet_id, ..PubResp::default() }));
    let [Packet::Publish(third)] = &h.out()[..] else { panic!("the waiting message goes out") };
    assert_eq!(&third.payload[..], b"3");
    assert_eq!(h.push_bytes, 3 * frame_len);
}

#[test]
fn unsubscribe_reports_unknown_filters_and_stops_delivery() {
    let mut h = connected(Version::V5);
    subscribe(&mut h, &[("x", QoS::AtMostOnce)]);
    h.send(&Packet::Unsubscribe(Unsubscribe {
        packet_id: 2,
        properties: Properties::default(),
        filters: vec!["x".into(), "y".into()],
    }));
    assert_eq!(h.reply_all().len(), 1);
    let [Packet::UnsubAck(ack)] = &h.out()[..] else { panic!() };
    assert_eq!(ack.codes, [ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED]);
    h.push("x", b"late");
    assert!(h.out().is_empty());
}

#[test]
fn v5_violations_disconnect_with_the_spec_reason_code() {
    let cases: Vec<(Vec<u8>, ReasonCode)> = vec![
        (publish_bytes("a/+"), ReasonCode::TOPIC_NAME_INVALID),
        (vec![0x30, 0xFF, 0xFF, 0x7F], ReasonCode::PACKET_TOO_LARGE),
        (vec![0x30, 0x03, 0x00, 0x01, 0x00], ReasonCode::MALFORMED_PACKET),
        (connect_bytes(), ReasonCode::PROTOCOL_ERROR),
    ];
    for (bytes, code) in cases {
        let mut h = connected(Version::V5);
        h.send_bytes(&bytes);
        assert_eq!(
            h.out(),
            [Packet::Disconnect(Disconnect { code, ..Disconnect::default() })],
            "{bytes:02X?}"
        );
        assert_eq!(h.session.close_reason(), Some(MqttCloseWhy::Protocol(code)));
    }
    let mut h = connected(Version::V311);
    h.send_bytes(&publish_bytes("a/#"));
    assert!(h.out().is_empty(), "3.1.1 has no server DISCONNECT");
    assert!(h.session.close_reason().is_some());
}

fn publish_bytes(topic: &str) -> Vec<u8> {
    let mut buf = BytesMut::new();
    publish(topic, QoS::AtMostOnce, 0).encode(Version::V5, &mut buf);
    buf.to_vec()
}

fn connect_bytes() -> Vec<u8> {
    let mut buf = BytesMut::new();
    Packet::Connect(Box::new(connect(Version::V5, "again", true))).encode(Version::V5, &mut buf);
    buf.to_vec()
}

#[test]
fn topic_aliases_stand_for_their_topic() {
    let mut h = connected(Version::V5);
    let aliased = |topic: &str| Publish {
        topic: topic.into(),
        properties: Properties { topic_alias: Some(3), ..Properties::default() },
        ..Publish::default()
    };
    h.send(&Packet::Publish(aliased("long/topic")));
    h.send(&Packet::Publish(aliased("")));
    let topics: Vec<String> = h
        .take_items()
        .into_iter()
        .filter_map(|i| match i.request {
            PubSubRequest::Publish { topic, .. } => Some(topic),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["long/topic", "long/topic"]);
    let unknown = Publish {
        properties: Properties { topic_alias: Some(4), ..Properties::default() },
        ..Publish::default()
    };
    h.send(&Packet::Publish(unknown));
    assert_eq!(h.session.close_reason(), Some(MqttCloseWhy::Protocol(ReasonCode::PROTOCOL_ERROR)));
}

#[test]
fn a_persistent_session_resumes_with_subscriptions_and_retransmission() {
    let ctx = Arc::new(MqttContext::new(MqttConfig::default()));
    let mut h = Harness::new(&ctx, 1);
    let c = Connect {
        properties: Properties { session_expiry_s: Some(60), ..Properties::default() },
        ..connect(Version::V5, "p", true)
    };
    h.send(&Packet::Connect(Box::new(c.clone())));
    subscribe(&mut h, &[("s/#", QoS::AtLeastOnce)]);
    h.push("s/1", b"unacked");
    let [Packet::Publish(sent)] = &h.out()[..] else { panic!() };
    h.session.handle_eof(h.now, &mut h.items);
    assert_eq!(ctx.stored_sessions(), 1);

    let mut again = Harness::new(&ctx, 2);
    again.send(&Packet::Connect(Box::new(Connect { clean_start: false, ..c })));
    let out = again.out();
    assert!(matches!(&out[0], Packet::ConnAck(ConnAck { session_present: true, .. })));
    assert_eq!(out[1], Packet::Publish(Publish { dup: true, ..sent.clone() }));
    let items = again.take_items();
    assert!(
        matches!(&items[..], [MqttRequest { request: PubSubRequest::Subscribe { pattern }, .. }] if pattern == "s/#")
    );
    assert_eq!(ctx.stored_sessions(), 0);
}

#[test]
fn a_clean_start_forgets_the_stored_session() {
    let ctx = Arc::new(MqttContext::new(MqttConfig::default()));
    let mut h = Harness::new(&ctx, 1);
    h.send(&Packet::Connect(Box::new(connect(Version::V311, "keep", false))));
    subscribe(&mut h, &[("k", QoS::AtMostOnce)]);
    h.session.handle_eof(h.now, &mut h.items);
    let mut again = Harness::new(&ctx, 2);
    again.send(&Packet::Connect(Box::new(connect(Version::V311, "keep", true))));
    assert!(matches!(&again.out()[..], [Packet::ConnAck(ConnAck { session_present: false, .. })]));
    assert_eq!(ctx.stored_sessions(), 0);
}
