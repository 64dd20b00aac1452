//! The `streams` journal's record format: encoding and validating decoding, nothing else.
//!
//! Topic and group metadata (not the messages, which live in each topic's data log, see
//! `data`) is one record per change in the log `streams`. This module turns a [`Record`] into
//! bytes and back; it must not apply records (that is `recover`) or decide when to write them.
//! Decoding never panics and never allocates more than the input holds: anything malformed
//! (unknown version or kind, short field, bad UTF-8, invalid name, trailing bytes) is a
//! [`JournalError`], and recovery skips that record.
//!
//! # Layout (version 1, integers little-endian)
//!
//! ```text
//! record = u8 version (=1) | u8 kind | body
//! name   = u16 len | len bytes UTF-8 (a valid topic or group name)
//!
//! kind  name            body
//! 0x01  TOPIC_CREATE    topic | u64 incarnation | u64 base | u64 max_age_ms | u64 max_bytes
//! 0x02  TOPIC_DELETE    topic | u64 last_seq          (highest sequence ever handed out)
//! 0x03  GROUP_CREATE    topic | group | u64 generation | u64 ack_floor   (first JOIN)
//! 0x04  GROUP_SEEK      topic | group | u64 generation | u64 ack_floor   (SEEK*: reset, or create)
//! 0x05  GROUP_DELETE    topic | group
//! 0x06  ACK             topic | group | u64 seq       (done; the floor moves over the done prefix)
//! 0x07  DEAD            topic | group | u64 seq | u32 deliveries   (dead-lettered: done, listed)
//! 0x08  REPLAY          topic | group | u64 seq       (a dead letter handed back: not done)
//! 0x10  SNAPSHOT_BEGIN  u64 next_incarnation | u64 seq_floor
//! 0x11  SNAP_TOPIC      as TOPIC_CREATE
//! 0x12  SNAP_TOMBSTONE  topic | u64 last_seq          (a deleted topic's last sequence)
//! 0x13  SNAP_GROUP      topic | group | u64 generation | u64 ack_floor
//! 0x14  SNAP_ACKED      topic | group | u32 n | n × (u64 first_seq, u64 count)   (done above the floor)
//! 0x15  SNAP_DEAD       topic | group | u64 seq | u32 deliveries
//! 0x16  SNAP_REPLAYING  topic | group | u64 seq       (handed back, at or below the floor)
//! 0x17  SNAPSHOT_END    u64 records                   (SNAP_* records in the snapshot)
//! ```
//!
//! `max_age_ms` / `max_bytes` of 0 mean unlimited. `base` is the sequence before the topic's
//! first possible message (wire sequence = base + data-log sequence).

use bytes::{BufMut, Bytes, BytesMut};

use crate::le_reader::{LeReader, TooShort};
use crate::queue::validate_name;

/// The only record version written today.
pub const VERSION: u8 = 1;

/// Names in records are at most this long (the length prefix is a `u16`).
pub const MAX_RECORD_NAME_BYTES: usize = u16::MAX as usize;

/// Most ranges in one `SNAP_ACKED` record.
pub const MAX_RANGES_PER_RECORD: usize = 4096;

/// What a topic was created with (journaled with CREATE, kept for its whole life).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSettings {
    /// Number of the data log (`stream-<incarnation>-<topic>`).
    pub incarnation: u64,
    /// Wire sequence = base + data-log sequence.
    pub base: u64,
    /// Retention by age in milliseconds (0 = unlimited).
    pub max_age_ms: u64,
    /// Retention by size in bytes (0 = unlimited).
    pub max_bytes: u64,
}

/// One journal record. Names borrow from the encoded bytes when decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// A topic was created.
    TopicCreate {
        /// Topic.
        topic: &'a str,
        /// Its settings.
        settings: TopicSettings,
    },
    /// A topic was deleted; `last_seq` is the highest sequence it handed out.
    TopicDelete {
        /// Topic.
        topic: &'a str,
        /// Highest sequence handed out.
        last_seq: u64,
    },
    /// A group was created by its first JOIN.
    GroupCreate {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// Generation.
        generation: u64,
        /// Everything up to here counts as done.
        ack_floor: u64,
    },
    /// A group was reset by a seek (or created by one).
    GroupSeek {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// New generation.
        generation: u64,
        /// New floor: delivery starts at `ack_floor + 1`.
        ack_floor: u64,
    },
    /// A group was deleted.
    GroupDelete {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
    },
    /// A message was acknowledged.
    Ack {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// Sequence.
        seq: u64,
    },
    /// A message was dead-lettered after `deliveries` deliveries.
    Dead {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// Sequence.
        seq: u64,
        /// Deliveries made.
        deliveries: u32,
    },
    /// A dead letter was handed back for redelivery.
    Replay {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// Sequence.
        seq: u64,
    },
    /// A snapshot starts: it replaces everything before it once its end is seen.
    SnapshotBegin {
        /// Next data-log incarnation.
        next_incarnation: u64,
        /// Every topic created from now on starts above this sequence.
        seq_floor: u64,
    },
    /// A live topic in a snapshot.
    SnapTopic {
        /// Topic.
        topic: &'a str,
        /// Its settings.
        settings: TopicSettings,
    },
    /// A deleted topic's last sequence in a snapshot.
    SnapTombstone {
        /// Topic.
        topic: &'a str,
        /// Highest sequence it handed out.
        last_seq: u64,
    },
    /// A group in a snapshot.
    SnapGroup {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// Generation.
        generation: u64,
        /// Floor.
        ack_floor: u64,
    },
    /// Sequences above a group's floor that are done, as `(first, count)` ranges.
    SnapAcked {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// Ranges, ascending.
        ranges: Vec<(u64, u64)>,
    },
    /// A dead letter in a snapshot.
    SnapDead {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// Sequence.
        seq: u64,
        /// Deliveries made.
        deliveries: u32,
    },
    /// A handed-back dead letter at or below the floor, owed a redelivery.
    SnapReplaying {
        /// Topic.
        topic: &'a str,
        /// Group.
        group: &'a str,
        /// Sequence.
        seq: u64,
    },
    /// The snapshot is complete.
    SnapshotEnd {
        /// `SNAP_*` records in it.
        records: u64,
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
    /// A name is not UTF-8.
    Utf8,
    /// A name that CREATE or JOIN would refuse.
    Name,
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Version(v) => write!(f, "unknown record version {v}"),
            Self::Kind(k) => write!(f, "unknown record kind 0x{k:02X}"),
            Self::Short => f.write_str("record too short"),
            Self::Trailing => f.write_str("bytes after the last field"),
            Self::Utf8 => f.write_str("invalid UTF-8"),
            Self::Name => f.write_str("invalid topic or group name"),
        }
    }
}

mod kind {
    pub const TOPIC_CREATE: u8 = 0x01;
    pub const TOPIC_DELETE: u8 = 0x02;
    pub const GROUP_CREATE: u8 = 0x03;
    pub const GROUP_SEEK: u8 = 0x04;
    pub const GROUP_DELETE: u8 = 0x05;
    pub const ACK: u8 = 0x06;
    pub const DEAD: u8 = 0x07;
    pub const REPLAY: u8 = 0x08;
    pub const SNAPSHOT_BEGIN: u8 = 0x10;
    pub const SNAP_TOPIC: u8 = 0x11;
    pub const SNAP_TOMBSTONE: u8 = 0x12;
    pub const SNAP_GROUP: u8 = 0x13;
    pub const SNAP_ACKED: u8 = 0x14;
    pub const SNAP_DEAD: u8 = 0x15;
    pub const SNAP_REPLAYING: u8 = 0x16;
    pub const SNAPSHOT_END: u8 = 0x17;
}

impl Record<'_> {
    /// The record's bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len());
        b.put_u8(VERSION);
        match self {
            Self::TopicCreate { topic, settings } => {
                topic_settings(&mut b, kind::TOPIC_CREATE, topic, settings)
            }
            Self::SnapTopic { topic, settings } => topic_settings(&mut b, kind::SNAP_TOPIC, topic, settings),
            Self::TopicDelete { topic, last_seq } => {
                head(&mut b, kind::TOPIC_DELETE, &[topic]);
                b.put_u64_le(*last_seq);
            }
            Self::SnapTombstone { topic, last_seq } => {
                head(&mut b, kind::SNAP_TOMBSTONE, &[topic]);
                b.put_u64_le(*last_seq);
            }
            Self::GroupCreate { topic, group, generation, ack_floor } => {
                head(&mut b, kind::GROUP_CREATE, &[topic, group]);
                b.put_u64_le(*generation);
                b.put_u64_le(*ack_floor);
            }
            Self::GroupSeek { topic, group, generation, ack_floor } => {
                head(&mut b, kind::GROUP_SEEK, &[topic, group]);
                b.put_u64_le(*generation);
                b.put_u64_le(*ack_floor);
            }
            Self::SnapGroup { topic, group, generation, ack_floor } => {
                head(&mut b, kind::SNAP_GROUP, &[topic, group]);
                b.put_u64_le(*generation);
                b.put_u64_le(*ack_floor);
            }
            Self::GroupDelete { topic, group } => head(&mut b, kind::GROUP_DELETE, &[topic, group]),
            Self::Ack { topic, group, seq } => with_seq(&mut b, kind::ACK, topic, group, *seq),
            Self::Replay { topic, group, seq } => with_seq(&mut b, kind::REPLAY, topic, group, *seq),
            Self::SnapReplaying { topic, group, seq } => {
                with_seq(&mut b, kind::SNAP_REPLAYING, topic, group, *seq);
            }
            Self::Dead { topic, group, seq, deliveries } => {
                with_seq(&mut b, kind::DEAD, topic, group, *seq);
                b.put_u32_le(*deliveries);
            }
            Self::SnapDead { topic, group, seq, deliveries } => {
                with_seq(&mut b, kind::SNAP_DEAD, topic, group, *seq);
                b.put_u32_le(*deliveries);
            }
            Self::SnapAcked { topic, group, ranges } => {
                head(&mut b, kind::SNAP_ACKED, &[topic, group]);
                b.put_u32_le(u32::try_from(ranges.len()).unwrap_or(u32::MAX));
                for (first, count) in ranges {
                    b.put_u64_le(*first);
                    b.put_u64_le(*count);
                }
            }
            Self::SnapshotBegin { next_incarnation, seq_floor } => {
                b.put_u8(kind::SNAPSHOT_BEGIN);
                b.put_u64_le(*next_incarnation);
                b.put_u64_le(*seq_floor);
            }
            Self::SnapshotEnd { records } => {
                b.put_u8(kind::SNAPSHOT_END);
                b.put_u64_le(*records);
            }
        }
        b.freeze()
    }

    /// Length of [`Record::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let one = |topic: &str| 2 + 2 + topic.len();
        let two = |topic: &str, group: &str| 2 + 2 + topic.len() + 2 + group.len();
        match self {
            Self::TopicCreate { topic, .. } | Self::SnapTopic { topic, .. } => one(topic) + 4 * 8,
            Self::TopicDelete { topic, .. } | Self::SnapTombstone { topic, .. } => one(topic) + 8,
            Self::GroupCreate { topic, group, .. }
            | Self::GroupSeek { topic, group, .. }
            | Self::SnapGroup { topic, group, .. } => two(topic, group) + 16,
            Self::GroupDelete { topic, group } => two(topic, group),
            Self::Ack { topic, group, .. }
            | Self::Replay { topic, group, .. }
            | Self::SnapReplaying { topic, group, .. } => two(topic, group) + 8,
            Self::Dead { topic, group, .. } | Self::SnapDead { topic, group, .. } => two(topic, group) + 12,
            Self::SnapAcked { topic, group, ranges } => two(topic, group) + 4 + 16 * ranges.len(),
            Self::SnapshotBegin { .. } => 2 + 16,
            Self::SnapshotEnd { .. } => 2 + 8,
        }
    }

    /// Whether this is one of the records that only appear inside a snapshot.
    pub fn is_snapshot_part(&self) -> bool {
        matches!(
            self,
            Self::SnapTopic { .. }
                | Self::SnapTombstone { .. }
                | Self::SnapGroup { .. }
                | Self::SnapAcked { .. }
                | Self::SnapDead { .. }
                | Self::SnapReplaying { .. }
        )
    }
}

/// Decodes one record; names borrow from `bytes`.
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
        kind::TOPIC_CREATE => Record::TopicCreate { topic: r.name()?, settings: r.settings()? },
        kind::SNAP_TOPIC => Record::SnapTopic { topic: r.name()?, settings: r.settings()? },
        kind::TOPIC_DELETE => Record::TopicDelete { topic: r.name()?, last_seq: r.u64()? },
        kind::SNAP_TOMBSTONE => Record::SnapTombstone { topic: r.name()?, last_seq: r.u64()? },
        kind::GROUP_CREATE => {
            let (topic, group) = (r.name()?, r.name()?);
            Record::GroupCreate { topic, group, generation: r.u64()?, ack_floor: r.u64()? }
        }
        kind::GROUP_SEEK => {
            let (topic, group) = (r.name()?, r.name()?);
            Record::GroupSeek { topic, group, generation: r.u64()?, ack_floor: r.u64()? }
        }
        kind::SNAP_GROUP => {
            let (topic, group) = (r.name()?, r.name()?);
            Record::SnapGroup { topic, group, generation: r.u64()?, ack_floor: r.u64()? }
        }
        kind::GROUP_DELETE => Record::GroupDelete { topic: r.name()?, group: r.name()? },
        kind::ACK => Record::Ack { topic: r.name()?, group: r.name()?, seq: r.u64()? },
        kind::REPLAY => Record::Replay { topic: r.name()?, group: r.name()?, seq: r.u64()? },
        kind::SNAP_REPLAYING => Record::SnapReplaying { topic: r.name()?, group: r.name()?, seq: r.u64()? },
        kind::DEAD => {
            let (topic, group) = (r.name()?, r.name()?);
            Record::Dead { topic, group, seq: r.u64()?, deliveries: r.u32()? }
        }
        kind::SNAP_DEAD => {
            let (topic, group) = (r.name()?, r.name()?);
            Record::SnapDead { topic, group, seq: r.u64()?, deliveries: r.u32()? }
        }
        kind::SNAP_ACKED => {
            let (topic, group) = (r.name()?, r.name()?);
            Record::SnapAcked { topic, group, ranges: r.ranges()? }
        }
        kind::SNAPSHOT_BEGIN => Record::SnapshotBegin { next_incarnation: r.u64()?, seq_floor: r.u64()? },
        kind::SNAPSHOT_END => Record::SnapshotEnd { records: r.u64()? },
        other => return Err(JournalError::Kind(other)),
    };
    if r.rest.is_empty() { Ok(record) } else { Err(JournalError::Trailing) }
}

fn put_name(b: &mut BytesMut, name: &str) {
    // Names are validated (at most a few hundred bytes) before they reach a record.
    let len = name.len().min(MAX_RECORD_NAME_BYTES);
    b.put_u16_le(len as u16);
    b.put_slice(&name.as_bytes()[..len]);
}

fn head(b: &mut BytesMut, kind: u8, names: &[&str]) {
    b.put_u8(kind);
    names.iter().for_each(|n| put_name(b, n));
}

fn with_seq(b: &mut BytesMut, kind: u8, topic: &str, group: &str, seq: u64) {
    head(b, kind, &[topic, group]);
    b.put_u64_le(seq);
}

fn topic_settings(b: &mut BytesMut, kind: u8, topic: &str, s: &TopicSettings) {
    head(b, kind, &[topic]);
    b.put_u64_le(s.incarnation);
    b.put_u64_le(s.base);
    b.put_u64_le(s.max_age_ms);
    b.put_u64_le(s.max_bytes);
}

/// This journal's field reader (the shared little-endian cursor).
type Reader<'a> = LeReader<'a, JournalError>;

impl TooShort for JournalError {
    fn too_short() -> Self {
        JournalError::Short
    }
}

impl<'a> Reader<'a> {
    fn name(&mut self) -> Result<&'a str, JournalError> {
        let len = usize::from(u16::from_le_bytes(self.array()?));
        let name = std::str::from_utf8(self.take(len)?).map_err(|_| JournalError::Utf8)?;
        validate_name(name, MAX_RECORD_NAME_BYTES).map_err(|_| JournalError::Name)?;
        Ok(name)
    }

    fn settings(&mut self) -> Result<TopicSettings, JournalError> {
        Ok(TopicSettings {
            incarnation: self.u64()?,
            base: self.u64()?,
            max_age_ms: self.u64()?,
            max_bytes: self.u64()?,
        })
    }

    fn ranges(&mut self) -> Result<Vec<(u64, u64)>, JournalError> {
        let n = self.u32()? as usize;
        // Each range takes 16 bytes: never reserve more than the record holds.
        let mut ranges = Vec::with_capacity(n.min(self.rest.len() / 16));
        for _ in 0..n {
            ranges.push((self.u64()?, self.u64()?));
        }
        Ok(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Record<'static>> {
        let settings = TopicSettings { incarnation: 3, base: 40, max_age_ms: 1000, max_bytes: 0 };
        let (topic, group) = ("orders", "billing");
        vec![
            Record::TopicCreate { topic, settings },
            Record::TopicDelete { topic, last_seq: 77 },
            Record::GroupCreate { topic, group, generation: 1, ack_floor: 40 },
            Record::GroupSeek { topic, group, generation: 2, ack_floor: 0 },
            Record::GroupDelete { topic, group },
            Record::Ack { topic, group, seq: 41 },
            Record::Dead { topic, group, seq: 42, deliveries: 5 },
            Record::Replay { topic, group, seq: 42 },
            Record::SnapshotBegin { next_incarnation: 9, seq_floor: 3 },
            Record::SnapTopic { topic, settings },
            Record::SnapTombstone { topic: "old ✓", last_seq: 12 },
            Record::SnapGroup { topic, group, generation: 4, ack_floor: 50 },
            Record::SnapAcked { topic, group, ranges: vec![(52, 3), (60, 1)] },
            Record::SnapAcked { topic, group, ranges: vec![] },
            Record::SnapDead { topic, group, seq: 12, deliveries: 5 },
            Record::SnapReplaying { topic, group, seq: 13 },
            Record::SnapshotEnd { records: 7 },
        ]
    }

    #[test]
    fn every_record_round_trips_with_its_predicted_length() {
        for record in samples() {
            let bytes = record.encode();
            assert_eq!(bytes.len(), record.encoded_len(), "{record:?}");
            assert_eq!(decode(&bytes), Ok(record.clone()));
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
        let bytes = Record::Ack { topic: "t", group: "g", seq: 0x0102 }.encode();
        assert_eq!(&bytes[..], &[1, 0x06, 1, 0, b't', 1, 0, b'g', 2, 1, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn malformed_records_are_errors() {
        assert_eq!(decode(&[]), Err(JournalError::Short));
        assert_eq!(decode(&[2, 1]), Err(JournalError::Version(2)));
        assert_eq!(decode(&[1, 0x7F]), Err(JournalError::Kind(0x7F)));
        assert_eq!(decode(&[1, 0x02, 1, 0, b'/', 0, 0, 0, 0, 0, 0, 0, 0]), Err(JournalError::Name));
        assert_eq!(decode(&[1, 0x02, 1, 0, 0xFF]), Err(JournalError::Utf8));
        // A range count far beyond the bytes present fails without a huge allocation.
        let mut acked = vec![1, 0x14, 1, 0, b't', 1, 0, b'g'];
        acked.extend(u32::MAX.to_le_bytes());
        assert_eq!(decode(&acked), Err(JournalError::Short));
    }
}
