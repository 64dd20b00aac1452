//! Typed decode errors and the exact error texts the v1 spec gives them.
//!
//! `Display` of each variant is the ERR text a client receives; SDKs match on some of these words,
//! so the texts are part of the wire contract and must not change.

use std::fmt;

/// Why a request frame could not be turned into a [`crate::Request`].
///
/// Every variant is answered with an ERR reply carrying the frame's id; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The client sent a frame whose type is not `0x01` (request).
    UnsupportedFrameType,
    /// The opcode lies outside every broker's range.
    UnknownOpcode(u8),
    /// The opcode lies in a broker's range but is not assigned.
    UnknownBrokerOpcode {
        /// `Store`, `Queue`, `PubSub` or `Stream`.
        broker: &'static str,
        /// The opcode byte.
        opcode: u8,
    },
    /// A fixed-width field runs past the end of the payload; names the field type (`u8`, `u32`,
    /// `u64`, `i64`, `UUID`).
    TooShort(&'static str),
    /// A length-prefixed string declares more bytes than remain.
    IncompleteString {
        /// The declared length.
        expected: u32,
    },
    /// A string field is not valid UTF-8.
    InvalidUtf8,
    /// The JSON options are not an object or a field has the wrong type.
    InvalidJson(String),
    /// An ACK_BATCH payload whose sequence list does not hold exactly `n` × 8 bytes.
    InvalidAckBatch {
        /// The declared number of sequences.
        n: u32,
        /// The bytes left after the count.
        remaining: usize,
    },
    /// An EXPIRE_EXT time kind other than `1` (ms from now) or `2` (wall-clock ms since the
    /// epoch).
    InvalidExpireKind(u8),
    /// An EXEC holding a request that is not a plain Store request (another EXEC, WATCH,
    /// UNWATCH, or another broker's opcode); names the opcode.
    InvalidExec(u8),
    /// A response frame carries a status byte that is not `OK`, `ERR`, `NULL` or `DATA` (client
    /// side only; a server never receives responses).
    UnknownStatus(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedFrameType => f.write_str("Unsupported frame type"),
            Self::UnknownOpcode(op) => write!(f, "Unknown opcode: 0x{op:02X}"),
            Self::UnknownBrokerOpcode { broker, opcode } => {
                write!(f, "Unknown {broker} opcode: 0x{opcode:02X}")
            }
            Self::TooShort(what) => write!(f, "Payload too short for {what}"),
            Self::IncompleteString { expected } => {
                write!(f, "Incomplete string: expected {expected} bytes")
            }
            Self::InvalidUtf8 => f.write_str("Invalid UTF-8 in string"),
            Self::InvalidJson(detail) => write!(f, "Invalid JSON options: {detail}"),
            Self::InvalidAckBatch { n, remaining } => {
                write!(f, "Invalid ACK_BATCH: {n} seqs need {} bytes, {remaining} remain", u64::from(*n) * 8)
            }
            Self::InvalidExpireKind(kind) => write!(f, "Invalid EXPIRE_EXT time kind: {kind}"),
            Self::InvalidExec(op) => {
                write!(f, "Invalid EXEC: code 0x{op:02X} cannot appear in a transaction")
            }
            Self::UnknownStatus(status) => write!(f, "Unknown response status: 0x{status:02X}"),
        }
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_match_the_spec() {
        assert_eq!(DecodeError::UnknownOpcode(0x9a).to_string(), "Unknown opcode: 0x9A");
        assert_eq!(
            DecodeError::UnknownBrokerOpcode { broker: "Stream", opcode: 0x37 }.to_string(),
            "Unknown Stream opcode: 0x37"
        );
        assert_eq!(DecodeError::TooShort("UUID").to_string(), "Payload too short for UUID");
        assert_eq!(
            DecodeError::IncompleteString { expected: 9 }.to_string(),
            "Incomplete string: expected 9 bytes"
        );
        assert_eq!(DecodeError::InvalidUtf8.to_string(), "Invalid UTF-8 in string");
        assert_eq!(
            DecodeError::InvalidAckBatch { n: 3, remaining: 16 }.to_string(),
            "Invalid ACK_BATCH: 3 seqs need 24 bytes, 16 remain"
        );
        assert_eq!(DecodeError::InvalidExpireKind(3).to_string(), "Invalid EXPIRE_EXT time kind: 3");
    }
}
