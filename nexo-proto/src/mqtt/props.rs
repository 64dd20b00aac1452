//! MQTT 5 properties: the one [`Properties`] set every packet carries, its decoder (with the
//! spec's rules on which property may appear in which packet, repeats and zero values) and its
//! encoder. MQTT 3.1.1 packets have no properties; the packet codec skips this module for them.

use bytes::Bytes;

use super::MqttError;
use super::wire::{Counter, PResult, Sink, Source, binary, fail, u8_, u16_, u32_, utf8, varint};

/// Every MQTT 5 property; absent ones are `None` (or empty). Each field names its identifier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// 0x01 Payload Format Indicator: `true` when the payload is UTF-8.
    pub payload_format_utf8: Option<bool>,
    /// 0x02 Message Expiry Interval, seconds.
    pub message_expiry_s: Option<u32>,
    /// 0x03 Content Type.
    pub content_type: Option<String>,
    /// 0x08 Response Topic.
    pub response_topic: Option<String>,
    /// 0x09 Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// 0x0B Subscription Identifiers (several on a PUBLISH to a client, one on a SUBSCRIBE).
    pub subscription_ids: Vec<u32>,
    /// 0x11 Session Expiry Interval, seconds.
    pub session_expiry_s: Option<u32>,
    /// 0x12 Assigned Client Identifier.
    pub assigned_client_id: Option<String>,
    /// 0x13 Server Keep Alive, seconds.
    pub server_keep_alive_s: Option<u16>,
    /// 0x15 Authentication Method.
    pub auth_method: Option<String>,
    /// 0x16 Authentication Data.
    pub auth_data: Option<Bytes>,
    /// 0x17 Request Problem Information.
    pub request_problem_info: Option<bool>,
    /// 0x18 Will Delay Interval, seconds.
    pub will_delay_s: Option<u32>,
    /// 0x19 Request Response Information.
    pub request_response_info: Option<bool>,
    /// 0x1A Response Information.
    pub response_info: Option<String>,
    /// 0x1C Server Reference.
    pub server_reference: Option<String>,
    /// 0x1F Reason String.
    pub reason_string: Option<String>,
    /// 0x21 Receive Maximum (never 0).
    pub receive_maximum: Option<u16>,
    /// 0x22 Topic Alias Maximum.
    pub topic_alias_maximum: Option<u16>,
    /// 0x23 Topic Alias (never 0).
    pub topic_alias: Option<u16>,
    /// 0x24 Maximum QoS (0 or 1).
    pub maximum_qos: Option<u8>,
    /// 0x25 Retain Available.
    pub retain_available: Option<bool>,
    /// 0x26 User Properties, in order (repeats allowed).
    pub user: Vec<(String, String)>,
    /// 0x27 Maximum Packet Size (never 0).
    pub maximum_packet_size: Option<u32>,
    /// 0x28 Wildcard Subscription Available.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29 Subscription Identifiers Available.
    pub subscription_ids_available: Option<bool>,
    /// 0x2A Shared Subscription Available.
    pub shared_subscription_available: Option<bool>,
}

/// Which packet a property set belongs to (the spec allows each property in some of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    Connect = 0,
    ConnAck = 1,
    Publish = 2,
    Will = 3,
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    PubResp = 4,
    Subscribe = 5,
    SubAck = 6,
    Unsubscribe = 7,
    UnsubAck = 8,
    Disconnect = 9,
    Auth = 10,
}

/// The contexts a property identifier is allowed in, as a bit set over [`Ctx`]; 0: unknown id.
pub(super) fn allowed(id: u32) -> u16 {
    use Ctx::*;
    let set = |ctxs: &[Ctx]| ctxs.iter().fold(0u16, |acc, c| acc | 1 << (*c as u16));
    match id {
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => set(&[Publish, Will]),
        0x0B => set(&[Publish, Subscribe]),
        0x11 => set(&[Connect, ConnAck, Disconnect]),
        0x12 | 0x13 | 0x1A | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => set(&[ConnAck]),
        0x15 | 0x16 => set(&[Connect, ConnAck, Auth]),
        0x17 | 0x19 => set(&[Connect]),
        0x18 => set(&[Will]),
        0x1C => set(&[ConnAck, Disconnect]),
        0x1F => set(&[ConnAck, PubResp, SubAck, UnsubAck, Disconnect, Auth]),
        0x21 | 0x22 | 0x27 => set(&[Connect, ConnAck]),
        0x23 => set(&[Publish]),
        0x26 => u16::MAX,
        _ => 0,
    }
}

/// Stores a single-valued property, refusing a repeat.
fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), MqttError> {
    if slot.is_some() {
        return Err(MqttError::Protocol("property appears twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn flag(value: u8) -> Result<bool, MqttError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(MqttError::Protocol("property value must be 0 or 1")),
    }
}

fn nonzero<T: Default + PartialEq>(value: T) -> Result<T, MqttError> {
    if value == T::default() {
        return Err(MqttError::Protocol("property value must not be 0"));
    }
    Ok(value)
}

impl Properties {
    /// Decodes a property length and the properties it covers, for a packet of kind `ctx`.
    pub(crate) fn decode<'a>(input: &'a [u8], ctx: Ctx, src: Source<'_>) -> PResult<'a, Self> {
        let (rest, len) = varint(input)?;
        let Some(mut block) = rest.get(..len as usize) else {
            return fail(MqttError::Malformed("property length runs past the end"));
        };
        let rest = &rest[len as usize..];
        let mut props = Self::default();
        while !block.is_empty() {
            let (after_id, id) = varint(block)?;
            if allowed(id) & (1 << ctx as u16) == 0 {
                return fail(MqttError::Malformed("property not allowed in this packet"));
            }
            let (after, res) = props.decode_value(id, after_id, ctx, src)?;
            if let Err(e) = res {
                return fail(e);
            }
            block = after;
        }
        Ok((rest, props))
    }

    /// Decodes the value of property `id` into its slot.
    fn decode_value<'a>(
        &mut self,
        id: u32,
        i: &'a [u8],
        ctx: Ctx,
        src: Source<'_>,
    ) -> PResult<'a, Result<(), MqttError>> {
        match id {
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
                let (i, v) = u8_(i)?;
                Ok((i, self.set_byte(id, v)))
            }
            0x13 | 0x21 | 0x22 | 0x23 => {
                let (i, v) = u16_(i)?;
                Ok((i, self.set_u16(id, v)))
            }
            0x02 | 0x11 | 0x18 | 0x27 => {
                let (i, v) = u32_(i)?;
                Ok((i, self.set_u32(id, v)))
            }
            0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => {
                let (i, v) = utf8(i)?;
                Ok((i, self.set_string(id, v.to_owned())))
            }
            0x09 | 0x16 => {
                let (i, v) = binary(i)?;
                let slot = if id == 0x09 { &mut self.correlation_data } else { &mut self.auth_data };
                Ok((i, once(slot, src.bytes(v))))
            }
            0x0B => {
                let (i, v) = varint(i)?;
                Ok((i, self.add_subscription_id(v, ctx)))
            }
            _ => {
                let (i, key) = utf8(i)?;
                let (i, value) = utf8(i)?;
                self.user.push((key.to_owned(), value.to_owned()));
                Ok((i, Ok(())))
            }
        }
    }

    fn set_byte(&mut self, id: u32, v: u8) -> Result<(), MqttError> {
        match id {
            0x01 => once(&mut self.payload_format_utf8, flag(v)?),
            0x17 => once(&mut self.request_problem_info, flag(v)?),
            0x19 => once(&mut self.request_response_info, flag(v)?),
            0x24 => once(&mut self.maximum_qos, u8::from(flag(v)?)),
            0x25 => once(&mut self.retain_available, flag(v)?),
            0x28 => once(&mut self.wildcard_subscription_available, flag(v)?),
            0x29 => once(&mut self.subscription_ids_available, flag(v)?),
            _ => once(&mut self.shared_subscription_available, flag(v)?),
        }
    }

    fn set_u16(&mut self, id: u32, v: u16) -> Result<(), MqttError> {
        match id {
            0x13 => once(&mut self.server_keep_alive_s, v),
            0x21 => once(&mut self.receive_maximum, nonzero(v)?),
            0x22 => once(&mut self.topic_alias_maximum, v),
            _ => once(&mut self.topic_alias, nonzero(v)?),
        }
    }

    fn set_u32(&mut self, id: u32, v: u32) -> Result<(), MqttError> {
        match id {
            0x02 => once(&mut self.message_expiry_s, v),
            0x11 => once(&mut self.session_expiry_s, v),
            0x18 => once(&mut self.will_delay_s, v),
            _ => once(&mut self.maximum_packet_size, nonzero(v)?),
        }
    }

    fn set_string(&mut self, id: u32, v: String) -> Result<(), MqttError> {
        match id {
            0x03 => once(&mut self.content_type, v),
            0x08 => once(&mut self.response_topic, v),
            0x12 => once(&mut self.assigned_client_id, v),
            0x15 => once(&mut self.auth_method, v),
            0x1A => once(&mut self.response_info, v),
            0x1C => once(&mut self.server_reference, v),
            _ => once(&mut self.reason_string, v),
        }
    }

    fn add_subscription_id(&mut self, v: u32, ctx: Ctx) -> Result<(), MqttError> {
        if v == 0 {
            return Err(MqttError::Protocol("subscription identifier 0"));
        }
        if ctx == Ctx::Subscribe && !self.subscription_ids.is_empty() {
            return Err(MqttError::Protocol("property appears twice"));
        }
        self.subscription_ids.push(v);
        Ok(())
    }

    /// Writes the property length and the properties, identifiers in ascending order.
    pub(crate) fn encode(&self, out: &mut impl Sink) {
        let mut counter = Counter::default();
        self.encode_values(&mut counter);
        out.varint(counter.0 as u32);
        self.encode_values(out);
    }

    fn encode_values(&self, out: &mut impl Sink) {
        put_flag(out, 0x01, self.payload_format_utf8);
        put_u32(out, 0x02, self.message_expiry_s);
        put_str(out, 0x03, self.content_type.as_deref());
        put_str(out, 0x08, self.response_topic.as_deref());
        put_bin(out, 0x09, self.correlation_data.as_deref());
        for id in &self.subscription_ids {
            out.byte(0x0B);
            out.varint(*id);
        }
        put_u32(out, 0x11, self.session_expiry_s);
        put_str(out, 0x12, self.assigned_client_id.as_deref());
        put_u16(out, 0x13, self.server_keep_alive_s);
        put_str(out, 0x15, self.auth_method.as_deref());
        put_bin(out, 0x16, self.auth_data.as_deref());
        put_flag(out, 0x17, self.request_problem_info);
        put_u32(out, 0x18, self.will_delay_s);
        put_flag(out, 0x19, self.request_response_info);
        put_str(out, 0x1A, self.response_info.as_deref());
        put_str(out, 0x1C, self.server_reference.as_deref());
        put_str(out, 0x1F, self.reason_string.as_deref());
        put_u16(out, 0x21, self.receive_maximum);
        put_u16(out, 0x22, self.topic_alias_maximum);
        put_u16(out, 0x23, self.topic_alias);
        put_flag(out, 0x24, self.maximum_qos.map(|q| q != 0));
        put_flag(out, 0x25, self.retain_available);
        for (key, value) in &self.user {
            out.byte(0x26);
            out.utf8(key);
            out.utf8(value);
        }
        put_u32(out, 0x27, self.maximum_packet_size);
        put_flag(out, 0x28, self.wildcard_subscription_available);
        put_flag(out, 0x29, self.subscription_ids_available);
        put_flag(out, 0x2A, self.shared_subscription_available);
    }
}

fn put_flag(out: &mut impl Sink, id: u8, v: Option<bool>) {
    if let Some(v) = v {
        out.put(&[id, u8::from(v)]);
    }
}

fn put_u16(out: &mut impl Sink, id: u8, v: Option<u16>) {
    if let Some(v) = v {
        out.byte(id);
        out.u16(v);
    }
}

fn put_u32(out: &mut impl Sink, id: u8, v: Option<u32>) {
    if let Some(v) = v {
        out.byte(id);
        out.u32(v);
    }
}

fn put_str(out: &mut impl Sink, id: u8, v: Option<&str>) {
    if let Some(v) = v {
        out.byte(id);
        out.utf8(v);
    }
}

fn put_bin(out: &mut impl Sink, id: u8, v: Option<&[u8]>) {
    if let Some(v) = v {
        out.byte(id);
        out.binary(v);
    }
}
