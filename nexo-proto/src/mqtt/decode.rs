//! Decoding one MQTT packet from the front of a buffer: the fixed header (checked against the
//! maximum packet size before the body is awaited), then the body of each packet type.

use bytes::Bytes;

use super::props::Ctx;
use super::wire::{PResult, Source, Varint, binary, fail, finish, read_varint, u8_, u16_, utf8};
use super::{
    Auth, ConnAck, Connect, Disconnect, MqttError, Packet, PacketType, Properties, PubResp, Publish, QoS,
    ReasonCode, RetainHandling, SubAck, SubOptions, Subscribe, UnsubAck, Unsubscribe, Version, Will,
};

/// Decodes the packet at the front of `buf` for a connection speaking `version` (a CONNECT
/// declares its own version). `Ok(Some((consumed, packet)))` consumed that many bytes;
/// `Ok(None)` needs more bytes. Binary fields are copied out of `buf`.
///
/// # Errors
/// The bytes are not a valid packet, or the fixed header declares more than
/// `max_packet_bytes` (checked as soon as the header is complete). The stream cannot go on.
pub fn decode(
    buf: &[u8],
    version: Version,
    max_packet_bytes: u32,
) -> Result<Option<(usize, Packet)>, MqttError> {
    decode_from(buf, version, max_packet_bytes, Source::Copy)
}

/// Like [`decode`], but payloads and other binary fields are zero-copy slices of `buf`.
///
/// # Errors
/// As [`decode`].
pub fn decode_shared(
    buf: &Bytes,
    version: Version,
    max_packet_bytes: u32,
) -> Result<Option<(usize, Packet)>, MqttError> {
    decode_from(buf, version, max_packet_bytes, Source::Shared(buf))
}

fn decode_from(
    buf: &[u8],
    version: Version,
    max: u32,
    src: Source<'_>,
) -> Result<Option<(usize, Packet)>, MqttError> {
    let Some(&first) = buf.first() else { return Ok(None) };
    let Some(kind) = PacketType::from_nibble(first >> 4) else {
        return Err(MqttError::Malformed("reserved packet type 0"));
    };
    let (remaining, len_bytes) = match read_varint(&buf[1..])? {
        Varint::Done(value, len) => (value, len),
        Varint::Incomplete => return Ok(None),
    };
    let total = 1 + len_bytes as u64 + u64::from(remaining);
    if total > u64::from(max) {
        return Err(MqttError::PacketTooLarge { size: total, max });
    }
    let flags = first & 0x0F;
    if kind != PacketType::Publish && flags != kind.required_flags() {
        return Err(MqttError::Malformed("reserved fixed header flags"));
    }
    let total = total as usize;
    let Some(body) = buf.get(1 + len_bytes..total) else { return Ok(None) };
    let packet = decode_body(kind, flags, body, version, src)?;
    Ok(Some((total, packet)))
}

fn decode_body(
    kind: PacketType,
    flags: u8,
    body: &[u8],
    version: Version,
    src: Source<'_>,
) -> Result<Packet, MqttError> {
    let v5 = version.is_v5();
    let res = match kind {
        PacketType::Connect => connect(body, src).map(|(i, c)| (i, Packet::Connect(Box::new(c)))),
        PacketType::ConnAck => connack(body, v5, src).map(|(i, c)| (i, Packet::ConnAck(c))),
        PacketType::Publish => publish(body, flags, v5, src).map(|(i, p)| (i, Packet::Publish(p))),
        PacketType::PubAck => pub_resp(body, v5, src).map(|(i, p)| (i, Packet::PubAck(p))),
        PacketType::PubRec => pub_resp(body, v5, src).map(|(i, p)| (i, Packet::PubRec(p))),
        PacketType::PubRel => pub_resp(body, v5, src).map(|(i, p)| (i, Packet::PubRel(p))),
        PacketType::PubComp => pub_resp(body, v5, src).map(|(i, p)| (i, Packet::PubComp(p))),
        PacketType::Subscribe => subscribe(body, v5, src).map(|(i, s)| (i, Packet::Subscribe(s))),
        PacketType::SubAck => suback(body, v5, src).map(|(i, s)| (i, Packet::SubAck(s))),
        PacketType::Unsubscribe => unsubscribe(body, v5, src).map(|(i, u)| (i, Packet::Unsubscribe(u))),
        PacketType::UnsubAck => unsuback(body, v5, src).map(|(i, u)| (i, Packet::UnsubAck(u))),
        PacketType::PingReq => Ok((body, Packet::PingReq)),
        PacketType::PingResp => Ok((body, Packet::PingResp)),
        PacketType::Disconnect => reason_and_props(body, v5, Ctx::Disconnect, src)
            .map(|(i, (code, properties))| (i, Packet::Disconnect(Disconnect { code, properties }))),
        PacketType::Auth if v5 => reason_and_props(body, v5, Ctx::Auth, src)
            .map(|(i, (code, properties))| (i, Packet::Auth(Auth { code, properties }))),
        PacketType::Auth => return Err(MqttError::Malformed("AUTH does not exist in MQTT 3.1.1")),
    };
    let (rest, packet) = finish(res)?;
    if !rest.is_empty() {
        return Err(MqttError::Malformed("bytes after the end of the packet"));
    }
    Ok(packet)
}

/// Properties of an MQTT 5 packet; none in 3.1.1.
fn props<'a>(i: &'a [u8], v5: bool, ctx: Ctx, src: Source<'_>) -> PResult<'a, Properties> {
    if v5 { Properties::decode(i, ctx, src) } else { Ok((i, Properties::default())) }
}

/// A non-zero packet identifier.
fn packet_id(i: &[u8]) -> PResult<'_, u16> {
    let (i, id) = u16_(i)?;
    if id == 0 {
        return fail(MqttError::Protocol("packet identifier 0"));
    }
    Ok((i, id))
}

fn connect<'a>(i: &'a [u8], src: Source<'_>) -> PResult<'a, Connect> {
    let (i, name) = utf8(i)?;
    let (i, level) = u8_(i)?;
    let version = match (name, level) {
        ("MQTT", 4) => Version::V311,
        ("MQTT", 5) => Version::V5,
        ("MQTT" | "MQIsdp", _) => return fail(MqttError::UnsupportedVersion(level)),
        _ => return fail(MqttError::Malformed("protocol name is not MQTT")),
    };
    let (i, flags) = u8_(i)?;
    let (i, keep_alive_s) = u16_(i)?;
    let v5 = version.is_v5();
    let (i, properties) = props(i, v5, Ctx::Connect, src)?;
    let (i, client_id) = utf8(i)?;
    let (i, will) = will(i, flags, v5, src)?;
    let (has_user, has_password) = (flags & 0x80 != 0, flags & 0x40 != 0);
    if flags & 0x01 != 0 {
        return fail(MqttError::Malformed("reserved CONNECT flag set"));
    }
    if !v5 && has_password && !has_user {
        return fail(MqttError::Malformed("password without user name"));
    }
    let (i, username) = if has_user { utf8(i).map(|(i, u)| (i, Some(u.to_owned())))? } else { (i, None) };
    let (i, password) =
        if has_password { binary(i).map(|(i, p)| (i, Some(src.bytes(p))))? } else { (i, None) };
    let clean_start = flags & 0x02 != 0;
    let client_id = client_id.to_owned();
    Ok((i, Connect { version, clean_start, keep_alive_s, properties, client_id, will, username, password }))
}

fn will<'a>(i: &'a [u8], flags: u8, v5: bool, src: Source<'_>) -> PResult<'a, Option<Will>> {
    let qos_bits = (flags >> 3) & 0x03;
    let retain = flags & 0x20 != 0;
    if flags & 0x04 == 0 {
        if qos_bits != 0 || retain {
            return fail(MqttError::Malformed("will QoS or retain without a will"));
        }
        return Ok((i, None));
    }
    let Some(qos) = QoS::from_bits(qos_bits) else {
        return fail(MqttError::Malformed("will QoS 3"));
    };
    let (i, properties) = props(i, v5, Ctx::Will, src)?;
    let (i, topic) = utf8(i)?;
    let (i, payload) = binary(i)?;
    let will = Will { topic: topic.to_owned(), payload: src.bytes(payload), qos, retain, properties };
    Ok((i, Some(will)))
}

fn connack<'a>(i: &'a [u8], v5: bool, src: Source<'_>) -> PResult<'a, ConnAck> {
    let (i, ack_flags) = u8_(i)?;
    if ack_flags & 0xFE != 0 {
        return fail(MqttError::Malformed("reserved CONNACK flags set"));
    }
    let (i, code) = u8_(i)?;
    let (i, properties) = props(i, v5, Ctx::ConnAck, src)?;
    Ok((i, ConnAck { session_present: ack_flags & 1 != 0, code: ReasonCode(code), properties }))
}

fn publish<'a>(i: &'a [u8], flags: u8, v5: bool, src: Source<'_>) -> PResult<'a, Publish> {
    let Some(qos) = QoS::from_bits((flags >> 1) & 0x03) else {
        return fail(MqttError::Malformed("PUBLISH QoS 3"));
    };
    let dup = flags & 0x08 != 0;
    if dup && qos == QoS::AtMostOnce {
        return fail(MqttError::Protocol("DUP set on a QoS 0 PUBLISH"));
    }
    let (i, topic) = utf8(i)?;
    let (i, packet_id) = if qos == QoS::AtMostOnce { (i, 0) } else { packet_id(i)? };
    let (i, properties) = props(i, v5, Ctx::Publish, src)?;
    let publish = Publish {
        dup,
        qos,
        retain: flags & 0x01 != 0,
        topic: topic.to_owned(),
        packet_id,
        properties,
        payload: src.bytes(i),
    };
    Ok((&i[i.len()..], publish))
}

fn pub_resp<'a>(i: &'a [u8], v5: bool, src: Source<'_>) -> PResult<'a, PubResp> {
    let (i, packet_id) = packet_id(i)?;
    let (i, (code, properties)) = reason_and_props(i, v5, Ctx::PubResp, src)?;
    Ok((i, PubResp { packet_id, code, properties }))
}

/// An optional reason code and optional properties (MQTT 5 acks, DISCONNECT, AUTH): absent means
/// success with no properties.
fn reason_and_props<'a>(
    i: &'a [u8],
    v5: bool,
    ctx: Ctx,
    src: Source<'_>,
) -> PResult<'a, (ReasonCode, Properties)> {
    if !v5 || i.is_empty() {
        return Ok((i, (ReasonCode::SUCCESS, Properties::default())));
    }
    let (i, code) = u8_(i)?;
    if i.is_empty() {
        return Ok((i, (ReasonCode(code), Properties::default())));
    }
    let (i, properties) = Properties::decode(i, ctx, src)?;
    Ok((i, (ReasonCode(code), properties)))
}

fn sub_options(byte: u8, v5: bool) -> Result<SubOptions, MqttError> {
    let reserved = if v5 { 0xC0 } else { 0xFC };
    if byte & reserved != 0 {
        return Err(MqttError::Malformed("reserved subscription option bits set"));
    }
    let qos = QoS::from_bits(byte & 0x03).ok_or(MqttError::Malformed("subscription QoS 3"))?;
    let retain_handling = match (byte >> 4) & 0x03 {
        0 => RetainHandling::SendAlways,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::Never,
        _ => return Err(MqttError::Protocol("retain handling 3")),
    };
    Ok(SubOptions { qos, no_local: byte & 0x04 != 0, retain_as_published: byte & 0x08 != 0, retain_handling })
}

fn subscribe<'a>(i: &'a [u8], v5: bool, src: Source<'_>) -> PResult<'a, Subscribe> {
    let (i, packet_id) = packet_id(i)?;
    let (mut i, properties) = props(i, v5, Ctx::Subscribe, src)?;
    let mut filters = Vec::new();
    while !i.is_empty() {
        let (rest, filter) = utf8(i)?;
        let (rest, byte) = u8_(rest)?;
        match sub_options(byte, v5) {
            Ok(options) => filters.push((filter.to_owned(), options)),
            Err(e) => return fail(e),
        }
        i = rest;
    }
    if filters.is_empty() {
        return fail(MqttError::Protocol("SUBSCRIBE without topic filters"));
    }
    Ok((i, Subscribe { packet_id, properties, filters }))
}

fn suback<'a>(i: &'a [u8], v5: bool, src: Source<'_>) -> PResult<'a, SubAck> {
    let (i, packet_id) = packet_id(i)?;
    let (i, properties) = props(i, v5, Ctx::SubAck, src)?;
    let codes = i.iter().map(|c| ReasonCode(*c)).collect();
    Ok((&i[i.len()..], SubAck { packet_id, properties, codes }))
}

fn unsubscribe<'a>(i: &'a [u8], v5: bool, src: Source<'_>) -> PResult<'a, Unsubscribe> {
    let (i, packet_id) = packet_id(i)?;
    let (mut i, properties) = props(i, v5, Ctx::Unsubscribe, src)?;
    let mut filters = Vec::new();
    while !i.is_empty() {
        let (rest, filter) = utf8(i)?;
        filters.push(filter.to_owned());
        i = rest;
    }
    if filters.is_empty() {
        return fail(MqttError::Protocol("UNSUBSCRIBE without topic filters"));
    }
    Ok((i, Unsubscribe { packet_id, properties, filters }))
}

fn unsuback<'a>(i: &'a [u8], v5: bool, src: Source<'_>) -> PResult<'a, UnsubAck> {
    let (i, packet_id) = packet_id(i)?;
    if !v5 {
        return Ok((i, UnsubAck { packet_id, ..UnsubAck::default() }));
    }
    let (i, properties) = Properties::decode(i, Ctx::UnsubAck, src)?;
    let codes = i.iter().map(|c| ReasonCode(*c)).collect();
    Ok((&i[i.len()..], UnsubAck { packet_id, properties, codes }))
}
