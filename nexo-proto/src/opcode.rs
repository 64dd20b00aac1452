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
    /// SET_EXT: SET with Redis's options (NX, XX, GET, KEEPTTL, ms and absolute expiry) (extension).
    pub const SET_EXT: u8 = 0x0D;
    /// DEL_COUNT: delete many keys, answer how many existed (extension).
    pub const DEL_COUNT: u8 = 0x0E;
    /// EXISTS: count the live keys among many (extension).
    pub const EXISTS: u8 = 0x0F;
    /// GETDEL: read and delete a key (extension).
    pub const GET_DEL: u8 = 0x40;
    /// GETEX: read a key and change its expiry (extension).
    pub const GET_EX: u8 = 0x41;
    /// APPEND: append bytes to a value (extension).
    pub const APPEND: u8 = 0x42;
    /// STRLEN: length of a value (extension).
    pub const STRLEN: u8 = 0x43;
    /// KEYS: every key matching a glob, bounded (extension).
    pub const KEYS: u8 = 0x44;
    /// RENAME: move a value to another key (extension).
    pub const RENAME: u8 = 0x45;
    /// DBSIZE: number of keys (extension).
    pub const DBSIZE: u8 = 0x46;
    /// FLUSH: remove every key (extension).
    pub const FLUSH: u8 = 0x47;
    /// EXPIRE_AT: set an absolute wall-clock deadline in milliseconds (extension).
    pub const EXPIRE_AT: u8 = 0x48;
    /// INFO: the Store's sizes and counters as `name:value` lines (extension).
    pub const INFO: u8 = 0x49;
    /// EXPIRE_EXT: EXPIRE / EXPIRE_AT with Redis's conditions (NX, XX, GT, LT) (extension).
    pub const EXPIRE_EXT: u8 = 0x4A;
    /// WATCH: watch keys for an optimistic transaction (extension).
    pub const WATCH: u8 = 0x4B;
    /// UNWATCH: forget every watched key of the connection (extension).
    pub const UNWATCH: u8 = 0x4C;
    /// EXEC: run Store requests as one transaction (extension).
    pub const EXEC: u8 = 0x4D;
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
    /// PUBLISH_COUNT: publish to any channel name, answer the number of pushes (extension).
    pub const PUBLISH_COUNT: u8 = 0x24;
    /// SUBSCRIBE_CHANNEL: exact-match subscription to one channel name (extension).
    pub const SUBSCRIBE_CHANNEL: u8 = 0x25;
    /// UNSUBSCRIBE_CHANNEL (extension).
    pub const UNSUBSCRIBE_CHANNEL: u8 = 0x26;
    /// SUBSCRIBE_GLOB: Redis glob-pattern subscription; deliveries name the pattern (extension).
    pub const SUBSCRIBE_GLOB: u8 = 0x27;
    /// UNSUBSCRIBE_GLOB (extension).
    pub const UNSUBSCRIBE_GLOB: u8 = 0x28;
}

/// Stream opcodes (v1.0.2 layout, then extensions).
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
    /// NACK: release a pending message for redelivery, now or after a delay (extension).
    pub const NACK: u8 = 0x3A;
    /// SEEK_SEQ: move a group to a sequence (extension).
    pub const SEEK_SEQ: u8 = 0x3B;
    /// SEEK_TIME: move a group to the first message at or after a timestamp (extension).
    pub const SEEK_TIME: u8 = 0x3C;
    /// LIST_DLQ: a page of a group's dead letters (extension).
    pub const LIST_DLQ: u8 = 0x3D;
    /// REPLAY_DLQ: hand dead letters back to the group for redelivery (extension).
    pub const REPLAY_DLQ: u8 = 0x3E;
    /// DELETE_GROUP: remove a consumer group (extension).
    pub const DELETE_GROUP: u8 = 0x3F;
    /// LIST_TOPICS: topics with their sequence range (extension).
    pub const LIST_TOPICS: u8 = 0x70;
    /// LIST_GROUPS: a topic's groups with lag and pending counts (extension).
    pub const LIST_GROUPS: u8 = 0x71;
    /// ACK_BATCH: acknowledge many pending messages in one request (extension).
    pub const ACK_BATCH: u8 = 0x72;
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
