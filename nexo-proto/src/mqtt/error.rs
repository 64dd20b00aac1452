//! MQTT reason codes and the codec's typed errors.
//!
//! A [`ReasonCode`] is the byte MQTT 5 carries in acknowledgements and DISCONNECT (3.1.1 has
//! CONNACK return codes and SUBACK results only; the session translates). An [`MqttError`] says
//! why bytes are not a valid packet; every variant maps to the reason code the spec gives it, so
//! a session answers an MQTT 5 client with DISCONNECT (or CONNACK) carrying that code and simply
//! closes a 3.1.1 connection.

use std::fmt;

/// An MQTT 5 reason code (any byte round-trips; the constants name the spec's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ReasonCode(pub u8);

#[allow(missing_docs, reason = "each constant is the spec's name for its byte")]
impl ReasonCode {
    pub const SUCCESS: Self = Self(0x00);
    pub const NORMAL_DISCONNECTION: Self = Self(0x00);
    pub const GRANTED_QOS_0: Self = Self(0x00);
    pub const GRANTED_QOS_1: Self = Self(0x01);
    pub const GRANTED_QOS_2: Self = Self(0x02);
    pub const DISCONNECT_WITH_WILL: Self = Self(0x04);
    pub const NO_MATCHING_SUBSCRIBERS: Self = Self(0x10);
    pub const NO_SUBSCRIPTION_EXISTED: Self = Self(0x11);
    pub const CONTINUE_AUTHENTICATION: Self = Self(0x18);
    pub const RE_AUTHENTICATE: Self = Self(0x19);
    pub const UNSPECIFIED_ERROR: Self = Self(0x80);
    pub const MALFORMED_PACKET: Self = Self(0x81);
    pub const PROTOCOL_ERROR: Self = Self(0x82);
    pub const IMPLEMENTATION_SPECIFIC_ERROR: Self = Self(0x83);
    pub const UNSUPPORTED_PROTOCOL_VERSION: Self = Self(0x84);
    pub const CLIENT_IDENTIFIER_NOT_VALID: Self = Self(0x85);
    pub const BAD_USER_NAME_OR_PASSWORD: Self = Self(0x86);
    pub const NOT_AUTHORIZED: Self = Self(0x87);
    pub const SERVER_UNAVAILABLE: Self = Self(0x88);
    pub const SERVER_BUSY: Self = Self(0x89);
    pub const BANNED: Self = Self(0x8A);
    pub const SERVER_SHUTTING_DOWN: Self = Self(0x8B);
    pub const BAD_AUTHENTICATION_METHOD: Self = Self(0x8C);
    pub const KEEP_ALIVE_TIMEOUT: Self = Self(0x8D);
    pub const SESSION_TAKEN_OVER: Self = Self(0x8E);
    pub const TOPIC_FILTER_INVALID: Self = Self(0x8F);
    pub const TOPIC_NAME_INVALID: Self = Self(0x90);
    pub const PACKET_IDENTIFIER_IN_USE: Self = Self(0x91);
    pub const PACKET_IDENTIFIER_NOT_FOUND: Self = Self(0x92);
    pub const RECEIVE_MAXIMUM_EXCEEDED: Self = Self(0x93);
    pub const TOPIC_ALIAS_INVALID: Self = Self(0x94);
    pub const PACKET_TOO_LARGE: Self = Self(0x95);
    pub const MESSAGE_RATE_TOO_HIGH: Self = Self(0x96);
    pub const QUOTA_EXCEEDED: Self = Self(0x97);
    pub const ADMINISTRATIVE_ACTION: Self = Self(0x98);
    pub const PAYLOAD_FORMAT_INVALID: Self = Self(0x99);
    pub const RETAIN_NOT_SUPPORTED: Self = Self(0x9A);
    pub const QOS_NOT_SUPPORTED: Self = Self(0x9B);
    pub const USE_ANOTHER_SERVER: Self = Self(0x9C);
    pub const SERVER_MOVED: Self = Self(0x9D);
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: Self = Self(0x9E);
    pub const CONNECTION_RATE_EXCEEDED: Self = Self(0x9F);
    pub const MAXIMUM_CONNECT_TIME: Self = Self(0xA0);
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: Self = Self(0xA1);
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: Self = Self(0xA2);
}

impl ReasonCode {
    /// Whether the code reports a failure (0x80 and above).
    pub fn is_error(self) -> bool {
        self.0 >= 0x80
    }
}

/// Why bytes could not be decoded as an MQTT packet. The stream cannot go on after any of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttError {
    /// The bytes break the packet grammar (reserved bits, lengths, bad UTF-8, trailing bytes,
    /// a property not allowed in this packet); names what.
    Malformed(&'static str),
    /// The packet parses but breaks a protocol rule (a repeated property, a zero Receive
    /// Maximum, a packet type the version lacks); names what.
    Protocol(&'static str),
    /// The fixed header declares a packet larger than the receiver's maximum packet size.
    PacketTooLarge {
        /// The whole packet's declared size in bytes.
        size: u64,
        /// The limit.
        max: u32,
    },
    /// A CONNECT with a protocol name or level other than MQTT 3.1.1 or 5.0; holds the level.
    UnsupportedVersion(u8),
}

impl MqttError {
    /// The MQTT 5 reason code the spec gives this error (for CONNACK or DISCONNECT).
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::Malformed(_) => ReasonCode::MALFORMED_PACKET,
            Self::Protocol(_) => ReasonCode::PROTOCOL_ERROR,
            Self::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            Self::UnsupportedVersion(_) => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
        }
    }
}

impl fmt::Display for MqttError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "Malformed Packet: {what}"),
            Self::Protocol(what) => write!(f, "Protocol Error: {what}"),
            Self::PacketTooLarge { size, max } => {
                write!(f, "Packet too large: {size} bytes, limit {max}")
            }
            Self::UnsupportedVersion(level) => {
                write!(f, "Unsupported Protocol Version: level {level}")
            }
        }
    }
}

impl std::error::Error for MqttError {}
