//! Tests of the MQTT codec: captured client bytes, every error path, incremental decoding, and
//! proptest round trips of every packet type in both versions.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

use super::props::{Ctx, allowed};
use super::*;

const MAX: u32 = DEFAULT_MAX_PACKET_BYTES;

fn dec(bytes: &[u8], version: Version) -> Result<Option<(usize, Packet)>, MqttError> {
    decode(bytes, version, MAX)
}

fn one(bytes: &[u8], version: Version) -> Packet {
    match dec(bytes, version) {
        Ok(Some((n, packet))) if n == bytes.len() => packet,
        other => panic!("not one whole packet: {other:?}"),
    }
}

/// `mosquitto_sub -V mqttv311 -i sub1 -k 60 -u u -P p` sends this CONNECT.
const CONNECT_311: &[u8] = &[
    0x10, 0x18, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xC2, 0x00, 0x3C, 0x00, 0x04, b's', b'u', b'b',
    b'1', 0x00, 0x01, b'u', 0x00, 0x01, b'p', 0, 0,
];

#[test]
fn decodes_a_311_connect() {
    let bytes = &CONNECT_311[..CONNECT_311.len() - 2];
    let mut fixed = bytes.to_vec();
    fixed[1] = (bytes.len() - 2) as u8;
    let Packet::Connect(c) = one(&fixed, Version::V311) else { panic!("not a CONNECT") };
    assert_eq!(c.version, Version::V311);
    assert!(c.clean_start);
    assert_eq!(c.keep_alive_s, 60);
    assert_eq!(c.client_id, "sub1");
    assert_eq!(c.username.as_deref(), Some("u"));
    assert_eq!(c.password.as_deref(), Some(&b"p"[..]));
    assert!(c.will.is_none());
}

#[test]
fn decodes_a_v5_connect_with_properties_and_will() {
    // CONNECT v5, clean start, will QoS 1 retained, session expiry 300, receive maximum 20,
    // will delay 5, client id "c".
    let body: &[u8] = &[
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x2E, 0x00, 0x0A, // name, level, flags, keep alive
        0x08, 0x11, 0x00, 0x00, 0x01, 0x2C, 0x21, 0x00, 0x14, // properties
        0x00, 0x01, b'c', // client id
        0x05, 0x18, 0x00, 0x00, 0x00, 0x05, // will properties
        0x00, 0x01, b'w', 0x00, 0x02, b'h', b'i', // will topic, payload
    ];
    let mut bytes = vec![0x10, body.len() as u8];
    bytes.extend_from_slice(body);
    let Packet::Connect(c) = one(&bytes, Version::V311) else { panic!("not a CONNECT") };
    assert_eq!(c.version, Version::V5);
    assert_eq!(c.properties.session_expiry_s, Some(300));
    assert_eq!(c.properties.receive_maximum, Some(20));
    let will = c.will.expect("will");
    assert_eq!((will.topic.as_str(), will.qos, will.retain), ("w", QoS::AtLeastOnce, true));
    assert_eq!(will.properties.will_delay_s, Some(5));
    assert_eq!(&will.payload[..], b"hi");
}

#[test]
fn every_prefix_is_incomplete_and_nothing_more_is_read() {
    let publish = Packet::Publish(Publish {
        qos: QoS::ExactlyOnce,
        topic: "a/b".into(),
        packet_id: 7,
        payload: Bytes::from_static(b"payload"),
        ..Publish::default()
    });
    let mut buf = BytesMut::new();
    publish.encode(Version::V5, &mut buf);
    let whole = buf.len();
    buf.extend_from_slice(&[0xC0, 0x00]); // a PINGREQ behind it
    for cut in 0..whole {
        assert_eq!(dec(&buf[..cut], Version::V5), Ok(None), "prefix {cut}");
    }
    assert_eq!(dec(&buf, Version::V5), Ok(Some((whole, publish))));
    let shared = buf.freeze();
    let Ok(Some((_, Packet::Publish(p)))) = decode_shared(&shared, Version::V5, MAX) else { panic!() };
    assert_eq!(p.payload.as_ptr(), shared[whole - 7..].as_ptr(), "zero-copy payload");
}

#[test]
fn too_large_is_refused_from_the_fixed_header_alone() {
    let header = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    let err = dec(&header, Version::V311).unwrap_err();
    assert_eq!(err, MqttError::PacketTooLarge { size: 5 + 268_435_455, max: MAX });
    assert_eq!(err.reason_code(), ReasonCode::PACKET_TOO_LARGE);
    assert_eq!(decode(&[0xC0, 0x00], Version::V5, 1), Err(MqttError::PacketTooLarge { size: 2, max: 1 }));
    assert_eq!(decode(&[0xC0, 0x00], Version::V5, 2), Ok(Some((2, Packet::PingReq))));
}

#[test]
fn malformed_and_protocol_errors_map_to_their_reason_codes() {
    let malformed = ReasonCode::MALFORMED_PACKET;
    let protocol = ReasonCode::PROTOCOL_ERROR;
    let cases: &[(&[u8], Version, ReasonCode)] = &[
        (&[0x00, 0x00], Version::V5, malformed),             // packet type 0
        (&[0xC1, 0x00], Version::V5, malformed),             // PINGREQ flags
        (&[0x60, 0x02, 0x00, 0x01], Version::V5, malformed), // PUBREL without 0b0010
        (&[0x36, 0x03, 0x00, 0x01, b'a'], Version::V5, malformed), // PUBLISH QoS 3
        (&[0x38, 0x03, 0x00, 0x01, b'a'], Version::V311, protocol), // DUP on QoS 0
        (&[0xC0, 0x01, 0x00], Version::V5, malformed),       // PINGREQ with a body
        (&[0xF0, 0x00], Version::V311, malformed),           // AUTH in 3.1.1
        (&[0x40, 0x02, 0x00, 0x00], Version::V311, protocol), // packet id 0
        (&[0x82, 0x02, 0x00, 0x01], Version::V311, protocol), // SUBSCRIBE without filters
        (&[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', 0x04], Version::V311, malformed), // no-local in 3.1.1
        (&[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x30], Version::V5, protocol), // retain handling 3
        (&[0x30, 0x06, 0x00, 0x01, b'a', 0x02, 0x23, 0x00], Version::V5, malformed), // alias runs short
        (&[0x30, 0x07, 0x00, 0x01, b'a', 0x03, 0x23, 0x00, 0x00], Version::V5, protocol), // alias 0
        (&[0x30, 0x07, 0x00, 0x01, b'a', 0x03, 0x21, 0x00, 0x01], Version::V5, malformed), // receive max here
        (&[0x30, 0x0A, 0x00, 0x01, b'a', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02], Version::V5, protocol),
        (&[0x40, 0x03, 0x00, 0x01, 0x00], Version::V311, malformed), // trailing byte in 3.1.1 PUBACK
        (&[0x10, 0x07, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x03], Version::V311, ReasonCode(0x84)),
        (&[0x10, 0x07, 0x00, 0x04, b'M', b'Q', b'T', b'X', 0x04], Version::V311, malformed),
    ];
    for (bytes, version, code) in cases {
        let err = dec(bytes, *version).expect_err(&format!("{bytes:02X?} must fail"));
        assert_eq!(err.reason_code(), *code, "{bytes:02X?}: {err}");
    }
}

#[test]
fn v5_acks_may_leave_out_the_reason_code_and_properties() {
    let short = one(&[0x40, 0x02, 0x00, 0x05], Version::V5);
    let Packet::PubAck(ack) = &short else { panic!() };
    assert_eq!((ack.packet_id, ack.code), (5, ReasonCode::SUCCESS));
    let coded = one(&[0x40, 0x03, 0x00, 0x05, 0x10], Version::V5);
    let Packet::PubAck(ack) = coded else { panic!() };
    assert_eq!(ack.code, ReasonCode::NO_MATCHING_SUBSCRIBERS);
    let mut out = BytesMut::new();
    short.encode(Version::V5, &mut out);
    assert_eq!(&out[..], &[0x40, 0x02, 0x00, 0x05]);
    assert_eq!(one(&[0xE0, 0x00], Version::V5), Packet::Disconnect(Disconnect::default()));
}

#[test]
fn encodes_a_v5_connack_with_the_server_limits() {
    let properties = Properties {
        receive_maximum: Some(32),
        maximum_packet_size: Some(MAX),
        topic_alias_maximum: Some(16),
        retain_available: Some(true),
        wildcard_subscription_available: Some(true),
        shared_subscription_available: Some(true),
        ..Properties::default()
    };
    let ack = Packet::ConnAck(ConnAck { session_present: false, code: ReasonCode::SUCCESS, properties });
    let mut out = BytesMut::new();
    ack.encode(Version::V5, &mut out);
    assert_eq!(out.len(), ack.encoded_len(Version::V5));
    assert_eq!(&out[..5], &[0x20, 0x14, 0x00, 0x00, 0x11]);
    assert_eq!(dec(&out, Version::V5), Ok(Some((out.len(), ack))));
}

// ---- property-based round trips ----

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9/+#$é]{0,12}"
}

fn blob() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    (0u8..3).prop_map(|b| QoS::from_bits(b).unwrap_or_default())
}

fn packet_id() -> impl Strategy<Value = u16> {
    1u16..
}

fn code() -> impl Strategy<Value = ReasonCode> {
    any::<u8>().prop_map(ReasonCode)
}

/// Every property with a random value; [`props`] keeps the ones a packet allows.
fn all_props() -> impl Strategy<Value = Properties> {
    let a = (
        of(any::<bool>()),
        of(any::<u32>()),
        of(text()),
        of(text()),
        of(blob()),
        vec(1u32..=MAX_VARINT, 0..3),
    );
    let b = (of(any::<u32>()), of(text()), of(any::<u16>()), of(text()), of(blob()), of(any::<bool>()));
    let c = (of(any::<u32>()), of(any::<bool>()), of(text()), of(text()), of(text()), of(1u16..));
    let d = (of(any::<u16>()), of(1u16..), of(0u8..2), of(any::<bool>()), vec((text(), text()), 0..3));
    let e = (of(1u32..), of(any::<bool>()), of(any::<bool>()), of(any::<bool>()));
    (a, b, c, d, e).prop_map(|(a, b, c, d, e)| Properties {
        payload_format_utf8: a.0,
        message_expiry_s: a.1,
        content_type: a.2,
        response_topic: a.3,
        correlation_data: a.4,
        subscription_ids: a.5,
        session_expiry_s: b.0,
        assigned_client_id: b.1,
        server_keep_alive_s: b.2,
        auth_method: b.3,
        auth_data: b.4,
        request_problem_info: b.5,
        will_delay_s: c.0,
        request_response_info: c.1,
        response_info: c.2,
        server_reference: c.3,
        reason_string: c.4,
        receive_maximum: c.5,
        topic_alias_maximum: d.0,
        topic_alias: d.1,
        maximum_qos: d.2,
        retain_available: d.3,
        user: d.4,
        maximum_packet_size: e.0,
        wildcard_subscription_available: e.1,
        subscription_ids_available: e.2,
        shared_subscription_available: e.3,
    })
}

/// Clears what `ctx` does not allow (all of it in 3.1.1).
fn props(v5: bool, ctx: Ctx) -> impl Strategy<Value = Properties> {
    all_props().prop_map(move |mut p| {
        let ok = |id: u32| v5 && allowed(id) & (1 << ctx as u16) != 0;
        macro_rules! keep {
            ($($id:literal => $field:ident),*) => { $( if !ok($id) { p.$field = Default::default(); } )* };
        }
        keep!(0x01 => payload_format_utf8, 0x02 => message_expiry_s, 0x03 => content_type,
            0x08 => response_topic, 0x09 => correlation_data, 0x0B => subscription_ids,
            0x11 => session_expiry_s, 0x12 => assigned_client_id, 0x13 => server_keep_alive_s,
            0x15 => auth_method, 0x16 => auth_data, 0x17 => request_problem_info,
            0x18 => will_delay_s, 0x19 => request_response_info, 0x1A => response_info,
            0x1C => server_reference, 0x1F => reason_string, 0x21 => receive_maximum,
            0x22 => topic_alias_maximum, 0x23 => topic_alias, 0x24 => maximum_qos,
            0x25 => retain_available, 0x26 => user, 0x27 => maximum_packet_size,
            0x28 => wildcard_subscription_available, 0x29 => subscription_ids_available,
            0x2A => shared_subscription_available);
        if ctx == Ctx::Subscribe {
            p.subscription_ids.truncate(1);
        }
        p
    })
}

fn connect(version: Version) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    let will = (text(), blob(), qos(), any::<bool>(), props(v5, Ctx::Will)).prop_map(
        |(topic, payload, qos, retain, properties)| Will { topic, payload, qos, retain, properties },
    );
    (any::<bool>(), any::<u16>(), props(v5, Ctx::Connect), text(), of(will), of(text()), of(blob())).prop_map(
        move |(clean_start, keep_alive_s, properties, client_id, will, username, password)| {
            let password = if v5 || username.is_some() { password } else { None };
            let c = Connect {
                version,
                clean_start,
                keep_alive_s,
                properties,
                client_id,
                will,
                username,
                password,
            };
            Packet::Connect(Box::new(c))
        },
    )
}

fn publish(v5: bool) -> impl Strategy<Value = Packet> {
    (any::<bool>(), qos(), any::<bool>(), text(), packet_id(), props(v5, Ctx::Publish), blob()).prop_map(
        |(dup, qos, retain, topic, id, properties, payload)| {
            let (dup, packet_id) = if qos == QoS::AtMostOnce { (false, 0) } else { (dup, id) };
            Packet::Publish(Publish { dup, qos, retain, topic, packet_id, properties, payload })
        },
    )
}

fn sub_options(v5: bool) -> impl Strategy<Value = SubOptions> {
    (qos(), any::<bool>(), any::<bool>(), 0u8..3).prop_map(move |(qos, nl, rap, rh)| {
        let retain_handling =
            [RetainHandling::SendAlways, RetainHandling::SendIfNew, RetainHandling::Never][usize::from(rh)];
        if v5 {
            SubOptions { qos, no_local: nl, retain_as_published: rap, retain_handling }
        } else {
            SubOptions { qos, ..SubOptions::default() }
        }
    })
}

fn resp(v5: bool) -> impl Strategy<Value = PubResp> {
    (packet_id(), code(), props(v5, Ctx::PubResp)).prop_map(move |(packet_id, code, properties)| PubResp {
        packet_id,
        code: if v5 { code } else { ReasonCode::SUCCESS },
        properties,
    })
}

fn packet(version: Version) -> impl Strategy<Value = Packet> {
    let v5 = version.is_v5();
    let v5_code = move |c: ReasonCode| if v5 { c } else { ReasonCode::SUCCESS };
    prop_oneof![
        connect(version),
        (any::<bool>(), code(), props(v5, Ctx::ConnAck)).prop_map(|(session_present, code, properties)| {
            Packet::ConnAck(ConnAck { session_present, code, properties })
        }),
        publish(v5),
        resp(v5).prop_map(Packet::PubAck),
        resp(v5).prop_map(Packet::PubRec),
        resp(v5).prop_map(Packet::PubRel),
        resp(v5).prop_map(Packet::PubComp),
        (packet_id(), props(v5, Ctx::Subscribe), vec((text(), sub_options(v5)), 1..4)).prop_map(
            |(packet_id, properties, filters)| Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                filters
            })
        ),
        (packet_id(), props(v5, Ctx::SubAck), vec(code(), 0..4)).prop_map(
            |(packet_id, properties, codes)| Packet::SubAck(SubAck { packet_id, properties, codes })
        ),
        (packet_id(), props(v5, Ctx::Unsubscribe), vec(text(), 1..4)).prop_map(
            |(packet_id, properties, filters)| Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters
            })
        ),
        (packet_id(), props(v5, Ctx::UnsubAck), vec(code(), 0..4)).prop_map(
            move |(packet_id, properties, codes)| {
                let codes = if v5 { codes } else { Vec::new() };
                Packet::UnsubAck(UnsubAck { packet_id, properties, codes })
            }
        ),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        (code(), props(v5, Ctx::Disconnect))
            .prop_map(move |(c, properties)| Packet::Disconnect(Disconnect { code: v5_code(c), properties })),
    ]
}

fn round_trip(version: Version, packet: &Packet) -> Result<(), TestCaseError> {
    let mut out = BytesMut::from(&b"\xAA"[..]);
    packet.encode(version, &mut out);
    prop_assert_eq!(out[0], 0xAA, "encode appends");
    prop_assert_eq!(out.len() - 1, packet.encoded_len(version));
    let decoded = decode(&out[1..], version, MAX);
    prop_assert_eq!(decoded, Ok(Some((out.len() - 1, packet.clone()))));
    Ok(())
}

proptest! {
    #[test]
    fn v311_packets_round_trip(packet in packet(Version::V311)) {
        round_trip(Version::V311, &packet)?;
    }

    #[test]
    fn v5_packets_round_trip(packet in packet(Version::V5)) {
        round_trip(Version::V5, &packet)?;
    }

    #[test]
    fn v5_auth_round_trips(code in code(), properties in props(true, Ctx::Auth)) {
        round_trip(Version::V5, &Packet::Auth(Auth { code, properties }))?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_consume_within_bounds(
        bytes in vec(any::<u8>(), 0..200),
        v5 in any::<bool>(),
        max in 2u32..300,
    ) {
        let version = if v5 { Version::V5 } else { Version::V311 };
        if let Ok(Some((n, packet))) = decode(&bytes, version, max) {
            prop_assert!(n <= bytes.len() && n as u32 <= max);
            // What decodes re-encodes to something that decodes to the same packet.
            let mut out = BytesMut::new();
            packet.encode(version, &mut out);
            prop_assert_eq!(decode(&out, version, u32::MAX), Ok(Some((out.len(), packet))));
        }
    }
}
