//! MQTT 3.1.1 and 5.0: the packet codec (bytes only; what a packet means for a session lives in
//! `nexo-session`'s MQTT module).
//!
//! [`decode`] reads one packet from the front of a caller's buffer and says how many bytes it
//! consumed, or returns `Ok(None)` while the packet is incomplete (nothing is consumed then). The
//! fixed header is checked first, so a packet larger than the caller's maximum packet size is
//! refused before its body is waited for. [`Packet::encode`] writes into a caller's `BytesMut`.
//! Errors are typed ([`MqttError`]) and each maps to the MQTT 5 reason code a server answers with
//! ([`MqttError::reason_code`]).
//!
//! The protocol version of a connection comes from its CONNECT; every later packet is decoded
//! and encoded with it, because MQTT 5 adds properties (and reason codes) to most packets.

mod decode;
mod encode;
mod error;
mod packet;
mod props;
mod wire;

#[cfg(test)]
mod tests;

pub use decode::{decode, decode_shared};
pub use error::{MqttError, ReasonCode};
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketType, PubResp, Publish, RetainHandling, SubAck,
    SubOptions, Subscribe, UnsubAck, Unsubscribe, Will,
};
pub use props::Properties;
pub use wire::{MAX_REMAINING_LENGTH, MAX_VARINT, varint_len};

/// The default limit on one packet, fixed header included: 1 MiB (`--mqtt-max-packet-bytes`).
pub const DEFAULT_MAX_PACKET_BYTES: u32 = 1024 * 1024;

/// The protocol level a CONNECT declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    V5,
}

impl Version {
    /// The protocol level byte of a CONNECT.
    pub fn level(self) -> u8 {
        match self {
            Self::V311 => 4,
            Self::V5 => 5,
        }
    }

    /// Whether packets carry properties and reason codes.
    pub fn is_v5(self) -> bool {
        self == Self::V5
    }
}

/// A delivery guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    /// At most once.
    #[default]
    AtMostOnce = 0,
    /// At least once.
    AtLeastOnce = 1,
    /// Exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS of two bits, or `None` for the reserved value 3.
    pub fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }

    /// The two-bit wire value.
    pub fn bits(self) -> u8 {
        self as u8
    }
}
