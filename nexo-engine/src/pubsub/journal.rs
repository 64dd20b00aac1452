//! The retained-message journal's record format: encoding and validating decoding, nothing else.
//!
//! Every change to the retained set is one record of the log `retained`. This module turns a
//! [`Record`] into bytes and back; it must not apply records (that is `recover`) or decide when to
//! write them. Decoding never panics and never allocates: anything malformed (unknown version or
//! kind, short field, bad UTF-8, a topic no PUBLISH could have used, an empty payload, trailing
//! bytes) is a [`JournalError`], and recovery skips that record.
//!
//! # Layout (version 1, integers little-endian)
//!
//! ```text
//! record  = u8 version (=1) | u8 kind | body
//! topic   = u16 len | len bytes UTF-8   (a valid publish topic: non-empty, no '+' or '#',
//!                                        not starting with "$share/")
//! expiry  = u64 wall-clock ms since the Unix epoch at which the message expires; 0 = never
//! payload = u32 len | len bytes         (len > 0: an empty retained payload is a CLEAR)
//!
//! kind  name            body
//! 0x01  SET             topic | expiry | payload   (a retained PUBLISH stored this message)
//! 0x02  CLEAR           topic                      (a retained PUBLISH with an empty payload,
//!                                                   or the expiry timer removed the message)
//! 0x10  SNAPSHOT_BEGIN  (empty)                    (a compaction snapshot starts)
//! 0x11  SNAP_SET        as SET                     (one live message of the snapshot)
//! 0x12  SNAPSHOT_END    u64 count                  (number of SNAP_SET records in the snapshot)
//! ```
//!
//! Byte by byte, `SET` of topic `a/b`, expiring at wall-clock ms `0x0102`, payload `hi`:
//!
//! ```text
//! 01            version 1
//! 01            kind SET
//! 03 00         topic length 3
//! 61 2F 62      "a/b"
//! 02 01 00 00 00 00 00 00   expiry 0x0102
//! 02 00 00 00   payload length 2
//! 68 69         "hi"
//! ```
//!
//! The payload is stored, not the push frame: recovery encodes the frame again, so a future
//! change of the push frame needs no new record version.

use bytes::{BufMut, Bytes, BytesMut};

use super::topic::{TopicLimits, validate_topic};
use crate::le_reader::{LeReader, TooShort};

/// The only record version written today.
pub const VERSION: u8 = 1;

/// Topics in records are at most this long (the length prefix is a `u16`).
pub const MAX_RECORD_TOPIC_BYTES: usize = u16::MAX as usize;

/// One journal record. Fields borrow from the encoded bytes when decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// `topic` now retains `payload`.
    Set {
        /// The concrete topic.
        topic: &'a str,
        /// Wall-clock ms at which it expires; 0 = never.
        expires_wall_ms: u64,
        /// The message body (never empty).
        payload: &'a [u8],
    },
    /// `topic` retains nothing any more.
    Clear {
        /// The concrete topic.
        topic: &'a str,
    },
    /// A compaction snapshot starts; once complete it supersedes everything before it.
    SnapshotBegin,
    /// One retained message of a snapshot.
    SnapSet {
        /// The concrete topic.
        topic: &'a str,
        /// Wall-clock ms at which it expires; 0 = never.
        expires_wall_ms: u64,
        /// The message body (never empty).
        payload: &'a [u8],
    },
    /// The snapshot is complete.
    SnapshotEnd {
        /// `SNAP_SET` records in it.
        count: u64,
    },
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalError {
    /// A version this build does not know.
    Version(u8),
    /// A kind byte this build does not know.
    Kind(u8),
    /// A field runs past the end.
    Short,
    /// Bytes left after the last field.
    Trailing,
    /// A topic is not UTF-8.
    Utf8,
    /// A topic no PUBLISH could have used.
    Topic,
    /// A SET with an empty payload.
    EmptyPayload,
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Version(v) => write!(f, "unknown record version {v}"),
            Self::Kind(k) => write!(f, "unknown record kind 0x{k:02X}"),
            Self::Short => f.write_str("record too short"),
            Self::Trailing => f.write_str("bytes after the last field"),
            Self::Utf8 => f.write_str("invalid UTF-8"),
            Self::Topic => f.write_str("invalid topic"),
            Self::EmptyPayload => f.write_str("empty retained payload"),
        }
    }
}

mod kind {
    pub const SET: u8 = 0x01;
    pub const CLEAR: u8 = 0x02;
    pub const SNAPSHOT_BEGIN: u8 = 0x10;
    pub const SNAP_SET: u8 = 0x11;
    pub const SNAPSHOT_END: u8 = 0x12;
}

/// Fixed bytes of a `SET` / `SNAP_SET` record besides its topic and payload.
pub const SET_FIXED: usize = 1 + 1 + 2 + 8 + 4;

/// Limits that accept every topic a record can carry (the current configuration's limits are
/// applied when the record is replayed).
const RECORD_TOPIC_LIMITS: TopicLimits =
    TopicLimits { max_bytes: MAX_RECORD_TOPIC_BYTES, max_levels: usize::MAX };

impl Record<'_> {
    /// The record's bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len());
        b.put_u8(VERSION);
        match self {
            Self::Set { topic, expires_wall_ms, payload } => {
                put_set(&mut b, kind::SET, topic, *expires_wall_ms, payload);
            }
            Self::Clear { topic } => {
                b.put_u8(kind::CLEAR);
                put_topic(&mut b, topic);
            }
            Self::SnapshotBegin => b.put_u8(kind::SNAPSHOT_BEGIN),
            Self::SnapSet { topic, expires_wall_ms, payload } => {
                put_set(&mut b, kind::SNAP_SET, topic, *expires_wall_ms, payload);
            }
            Self::SnapshotEnd { count } => {
                b.put_u8(kind::SNAPSHOT_END);
                b.put_u64_le(*count);
            }
        }
        b.freeze()
    }

    /// Length of [`Record::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        match self {
            Self::Set { topic, payload, .. } | Self::SnapSet { topic, payload, .. } => {
                SET_FIXED + topic.len() + payload.len()
            }
            Self::Clear { topic } => 2 + 2 + topic.len(),
            Self::SnapshotBegin => 2,
            Self::SnapshotEnd { .. } => 2 + 8,
        }
    }
}

/// Decodes one record; fields borrow from `bytes`.
///
/// # Errors
/// A [`JournalError`] for anything malformed; the record must then be skipped.
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, JournalError> {
    let mut r = Reader::new(bytes);
    let version = r.u8()?;
    if version != VERSION {
        return Err(JournalError::Version(version));
    }
    let record = match r.u8()? {
        kind::SET => {
            let (topic, expires_wall_ms, payload) = r.set()?;
            Record::Set { topic, expires_wall_ms, payload }
        }
        kind::CLEAR => Record::Clear { topic: r.topic()? },
        kind::SNAPSHOT_BEGIN => Record::SnapshotBegin,
        kind::SNAP_SET => {
            let (topic, expires_wall_ms, payload) = r.set()?;
            Record::SnapSet { topic, expires_wall_ms, payload }
        }
        kind::SNAPSHOT_END => Record::SnapshotEnd { count: r.u64()? },
        other => return Err(JournalError::Kind(other)),
    };
    if r.rest.is_empty() { Ok(record) } else { Err(JournalError::Trailing) }
}

fn put_topic(b: &mut BytesMut, topic: &str) {
    // Topics are validated against `max_topic_bytes` (far below 64 KiB) before they reach a
    // record; a longer one would be cut and then refused by the decoder, never misread.
    let len = topic.len().min(MAX_RECORD_TOPIC_BYTES);
    b.put_u16_le(len as u16);
    b.put_slice(&topic.as_bytes()[..len]);
}

fn put_set(b: &mut BytesMut, kind: u8, topic: &str, expires_wall_ms: u64, payload: &[u8]) {
    b.put_u8(kind);
    put_topic(b, topic);
    b.put_u64_le(expires_wall_ms);
    // Payloads come from frames capped far below 4 GiB.
    b.put_u32_le(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    b.put_slice(payload);
}

/// This journal's field reader (the shared little-endian cursor).
type Reader<'a> = LeReader<'a, JournalError>;

impl TooShort for JournalError {
    fn too_short() -> Self {
        JournalError::Short
    }
}

impl<'a> Reader<'a> {
    fn topic(&mut self) -> Result<&'a str, JournalError> {
        let len = usize::from(u16::from_le_bytes(self.array()?));
        let topic = std::str::from_utf8(self.take(len)?).map_err(|_| JournalError::Utf8)?;
        validate_topic(topic, RECORD_TOPIC_LIMITS).map_err(|_| JournalError::Topic)?;
        Ok(topic)
    }

    fn set(&mut self) -> Result<(&'a str, u64, &'a [u8]), JournalError> {
        let topic = self.topic()?;
        let expires_wall_ms = self.u64()?;
        let len = usize::try_from(u32::from_le_bytes(self.array()?)).map_err(|_| JournalError::Short)?;
        let payload = self.take(len)?;
        if payload.is_empty() {
            return Err(JournalError::EmptyPayload);
        }
        Ok((topic, expires_wall_ms, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Record<'static>> {
        vec![
            Record::Set { topic: "a/b", expires_wall_ms: 123, payload: b"\x01hello" },
            Record::Set { topic: "x", expires_wall_ms: 0, payload: b"p" },
            Record::Set { topic: "/é//", expires_wall_ms: u64::MAX, payload: &[0; 300] },
            Record::Clear { topic: "a/b" },
            Record::SnapshotBegin,
            Record::SnapSet { topic: "s", expires_wall_ms: 9, payload: b"q" },
            Record::SnapshotEnd { count: 1 },
        ]
    }

    #[test]
    fn every_record_round_trips_with_its_predicted_length() {
        for record in samples() {
            let bytes = record.encode();
            assert_eq!(bytes.len(), record.encoded_len(), "{record:?}");
            assert_eq!(decode(&bytes), Ok(record.clone()));
            // Every strict prefix is refused, never a panic.
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "{record:?} cut at {cut}");
            }
            let mut longer = bytes.to_vec();
            longer.push(0);
            assert_eq!(decode(&longer), Err(JournalError::Trailing));
        }
    }

    #[test]
    fn byte_layout_is_little_endian() {
        let bytes = Record::Set { topic: "a/b", expires_wall_ms: 0x0102, payload: b"hi" }.encode();
        let expected =
            [1, 0x01, 3, 0, b'a', b'/', b'b', 0x02, 0x01, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, b'h', b'i'];
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(&Record::Clear { topic: "t" }.encode()[..], &[1, 0x02, 1, 0, b't']);
        assert_eq!(&Record::SnapshotBegin.encode()[..], &[1, 0x10]);
        assert_eq!(&Record::SnapshotEnd { count: 0x0203 }.encode()[..], &[1, 0x12, 3, 2, 0, 0, 0, 0, 0, 0]);
        let snap = Record::SnapSet { topic: "a/b", expires_wall_ms: 0x0102, payload: b"hi" }.encode();
        assert_eq!(snap[1], 0x11);
        assert_eq!(&snap[2..], &expected[2..]);
    }

    #[test]
    fn malformed_records_are_errors() {
        assert_eq!(decode(&[]), Err(JournalError::Short));
        assert_eq!(decode(&[2, 1]), Err(JournalError::Version(2)));
        assert_eq!(decode(&[1, 0x7F]), Err(JournalError::Kind(0x7F)));
        assert_eq!(decode(&[1, 0x02, 0, 0]), Err(JournalError::Topic), "empty topic");
        assert_eq!(decode(&[1, 0x02, 1, 0, b'+']), Err(JournalError::Topic));
        assert_eq!(decode(&[1, 0x02, 3, 0, b'a', b'/', b'#']), Err(JournalError::Topic));
        let share = b"\x01\x02\x09\x00$share/gx";
        assert_eq!(decode(share), Err(JournalError::Topic));
        assert_eq!(decode(&[1, 0x02, 1, 0, 0xFF]), Err(JournalError::Utf8));
        assert_eq!(decode(&[1, 0x02, 9, 0, b'q']), Err(JournalError::Short));
        let mut empty = Record::Set { topic: "t", expires_wall_ms: 0, payload: b"x" }.encode().to_vec();
        empty.pop();
        let n = empty.len();
        empty[n - 4] = 0;
        assert_eq!(decode(&empty), Err(JournalError::EmptyPayload));
        // A payload length far past the end is a short record, not an allocation.
        let huge = [1, 0x01, 1, 0, b't', 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1];
        assert_eq!(decode(&huge), Err(JournalError::Short));
    }
}
