//! Opcode numbers and the ranges that route them to a broker.
//!
//! v1.0.2 opcodes keep their numbers; our extensions take the free codes of each broker's range
//! (see `docs/PROTOCOL.md`). This module only names numbers; decoding is in [`crate::request`].

/// Which part of the server an opcode belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `0x00`, answered by the network layer.
    Echo,
    /// `0x02–0x0F` and `0x40–0x4F`.
    Store,
    /// `0x10–0x1F` and `0x50–0x5F`.
    Queue,
    /// `0x21–0x2F` and `0x60–0x6F`.
    PubSub,
    /// `0x30–0x3F` and `0x70–0x7F`.
    Stream,
    /// Everything else (`0x01`, `0x20`, `0x80–0xFF`).
    Unassigned,
}

impl Route {
    /// Classifies an opcode by range.
    pub fn of(opcode: u8) -> Self {
        match opcode {
            0x00 => Self::Echo,
            0x02..=0x0F | 0x40..=0x4F => Self::Store,
            0x10..=0x1F | 0x50..=0x5F => Self::Queue,
            0x21..=0x2F | 0x60..=0x6F => Self::PubSub,
            0x30..=0x3F | 0x70..=0x7F => Self::Stream,
            _ => Self::Unassigned,
        }
    }

    /// The broker name used in error texts (`Unknown Store opcode: …`).
    pub fn broker_name(self) -> &'static str {
        match self {
            Self::Echo => "Echo",
            Self::Store => "Store",
            Self::Queue => "Queue",
            Self::PubSub => "PubSub",
            Self::Stream => "Stream",
            Self::Unassigned => "Unknown",
        }
    }
}

/// `0x00` ECHO.
pub const ECHO: u8 = 0x00;

/// Store opcodes.
pub mod store {
    /// SET (v1).
    pub const SET: u8 = 0x02;
    /// GET (v1).
    pub const GET: u8 = 0x03;
    /// DEL (v1).
    pub const DEL: u8 = 0x04;
    /// SETNX: set if absent (extension).
    pub const SET_NX: u8 = 0x05;
    /// INCRBY: add a signed delta to a counter (extension).
    pub const INCR_BY: u8 = 0x06;
    /// EXPIRE: set a TTL in milliseconds on an existing key (extension).
    pub const EXPIRE: u8 = 0x07;
    /// TTL: remaining time to live in milliseconds (extension).
    pub const TTL: u8 = 0x08;
    /// PERSIST: remove the TTL of a key (extension).
    pub const PERSIST: u8 = 0x09;
    /// MGET: read many keys (extension).
    pub const MGET: u8 = 0x0A;
    /// MSET: write many keys at once (extension).
    pub const MSET: u8 = 0x0B;
    /// SCAN: list keys matching a glob, with a cursor (extension).
    pub const SCAN: u8 = 0x0C;
}

/// Queue opcodes (v1).
pub mod queue {
    /// CREATE.
    pub const CREATE: u8 = 0x10;
    /// PUSH.
    pub const PUSH: u8 = 0x11;
    /// CONSUME.
    pub const CONSUME: u8 = 0x12;
    /// ACK.
    pub const ACK: u8 = 0x13;
    /// EXISTS.
    pub const EXISTS: u8 = 0x14;
    /// DELETE.
    pub const DELETE: u8 = 0x15;
    /// PEEK_DLQ.
    pub const PEEK_DLQ: u8 = 0x16;
    /// MOVE_TO_QUEUE.
    pub const MOVE_TO_QUEUE: u8 = 0x17;
    /// DELETE_DLQ.
    pub const DELETE_DLQ: u8 = 0x18;
    /// PURGE_DLQ.
    pub const PURGE_DLQ: u8 = 0x19;
    /// NACK.
    pub const NACK: u8 = 0x1A;
    /// EXTEND: extend a lease (extension).
    pub const EXTEND: u8 = 0x1B;
    /// NACK_DELAY: nack with a retry delay (extension).
    pub const NACK_DELAY: u8 = 0x1C;
    /// PURGE: remove every ready message (extension).
    pub const PURGE: u8 = 0x1D;
    /// LIST: queues with their counts (extension).
    pub const LIST: u8 = 0x1E;
}

/// Pub/Sub opcodes (v1).
pub mod pubsub {
    /// PUBLISH.
    pub const PUBLISH: u8 = 0x21;
    /// SUBSCRIBE.
    pub const SUBSCRIBE: u8 = 0x22;
    /// UNSUBSCRIBE.
    pub const UNSUBSCRIBE: u8 = 0x23;
}

/// Stream opcodes (v1.0.2 layout).
pub mod stream {
    /// CREATE.
    pub const CREATE: u8 = 0x30;
    /// PUBLISH.
    pub const PUBLISH: u8 = 0x31;
    /// FETCH.
    pub const FETCH: u8 = 0x32;
    /// JOIN.
    pub const JOIN: u8 = 0x33;
    /// ACK.
    pub const ACK: u8 = 0x34;
    /// EXISTS.
    pub const EXISTS: u8 = 0x35;
    /// DELETE.
    pub const DELETE: u8 = 0x36;
    /// SEEK.
    pub const SEEK: u8 = 0x38;
    /// LEAVE.
    pub const LEAVE: u8 = 0x39;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(Route::of(0x00), Route::Echo);
        assert_eq!(Route::of(0x01), Route::Unassigned);
        assert_eq!(Route::of(0x0F), Route::Store);
        assert_eq!(Route::of(0x20), Route::Unassigned);
        assert_eq!(Route::of(0x37), Route::Stream);
        assert_eq!(Route::of(0x4F), Route::Store);
        assert_eq!(Route::of(0x80), Route::Unassigned);
        assert_eq!(Route::of(0xFF), Route::Unassigned);
    }
}
