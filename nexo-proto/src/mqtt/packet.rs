//! The MQTT control packets as values: one struct per packet kind and the [`Packet`] enum.
//!
//! Fields are the union of 3.1.1 and 5.0; what 3.1.1 lacks (properties, most reason codes) is
//! left at its default when decoding 3.1.1 and not written when encoding it.

use bytes::Bytes;

use super::{Properties, QoS, ReasonCode, Version};

/// The packet type of a fixed header (its high nibble).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "the variants are the spec's packet names")]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    /// The type of a fixed header's high nibble, or `None` for the reserved value 0.
    pub fn from_nibble(nibble: u8) -> Option<Self> {
        use PacketType::*;
        Some(match nibble {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The fixed header flags the spec requires (PUBLISH's flags vary and are not fixed).
    pub fn required_flags(self) -> u8 {
        match self {
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => 0b0010,
            _ => 0,
        }
    }
}

/// A client's will: published by the server when the connection ends without DISCONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Topic name.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// Will properties (MQTT 5: will delay, expiry, content type, ...).
    pub properties: Properties,
}

/// CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// The protocol level declared.
    pub version: Version,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive, seconds (0: none).
    pub keep_alive_s: u16,
    /// CONNECT properties.
    pub properties: Properties,
    /// Client identifier (may be empty: the server assigns one).
    pub client_id: String,
    /// The will, if the Will Flag is set.
    pub will: Option<Will>,
    /// User Name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
}

/// CONNACK. In 3.1.1 `code` is the return code (0 accepted .. 5 not authorized).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnAck {
    /// Session Present.
    pub session_present: bool,
    /// Reason code (5.0) or return code (3.1.1).
    pub code: ReasonCode,
    /// CONNACK properties.
    pub properties: Properties,
}

/// PUBLISH.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag (a retransmission).
    pub dup: bool,
    /// QoS.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name (empty in MQTT 5 when a Topic Alias stands for it).
    pub topic: String,
    /// Packet identifier (QoS 1 and 2 only; 0 at QoS 0).
    pub packet_id: u16,
    /// PUBLISH properties.
    pub properties: Properties,
    /// Application message.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP (which one is the [`Packet`] variant).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PubResp {
    /// Packet identifier.
    pub packet_id: u16,
    /// Reason code (always success in 3.1.1).
    pub code: ReasonCode,
    /// Properties (reason string, user properties).
    pub properties: Properties,
}

/// Retain Handling of a subscription (MQTT 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RetainHandling {
    /// Send retained messages at subscribe time.
    #[default]
    SendAlways = 0,
    /// Send them only if the subscription is new.
    SendIfNew = 1,
    /// Never send them at subscribe time.
    Never = 2,
}

/// Subscription Options of one topic filter (3.1.1 has only the QoS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local: do not deliver this client's own publishes.
    pub no_local: bool,
    /// Retain As Published: keep the RETAIN flag on forwarded messages.
    pub retain_as_published: bool,
    /// Retain Handling.
    pub retain_handling: RetainHandling,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: u16,
    /// Properties (subscription identifier, user properties).
    pub properties: Properties,
    /// Topic filters with their options (at least one).
    pub filters: Vec<(String, SubOptions)>,
}

/// SUBACK. In 3.1.1 the codes are granted QoS 0..2 or 0x80.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubAck {
    /// Packet identifier.
    pub packet_id: u16,
    /// Properties.
    pub properties: Properties,
    /// One code per filter of the SUBSCRIBE.
    pub codes: Vec<ReasonCode>,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: u16,
    /// Properties.
    pub properties: Properties,
    /// Topic filters (at least one).
    pub filters: Vec<String>,
}

/// UNSUBACK. 3.1.1 carries no codes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsubAck {
    /// Packet identifier.
    pub packet_id: u16,
    /// Properties.
    pub properties: Properties,
    /// One code per filter (MQTT 5 only).
    pub codes: Vec<ReasonCode>,
}

/// DISCONNECT (3.1.1: always normal, no fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Disconnect {
    /// Reason code.
    pub code: ReasonCode,
    /// Properties.
    pub properties: Properties,
}

/// AUTH (MQTT 5 only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// Reason code.
    pub code: ReasonCode,
    /// Properties (authentication method and data).
    pub properties: Properties,
}

/// One MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs, reason = "the variants are the spec's packet names")]
pub enum Packet {
    Connect(Box<Connect>),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubResp),
    PubRec(PubResp),
    PubRel(PubResp),
    PubComp(PubResp),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }
}
