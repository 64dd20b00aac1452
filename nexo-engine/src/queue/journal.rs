//! The Queue journal's record format: encoding and validating decoding, nothing else.
//!
//! Every state change of the Queue broker is one record of the log `queues`. This module turns a
//! [`Record`] into bytes and back; it must not apply records (that is `recover`) or decide when to
//! write them. Decoding never panics and never allocates more than the input holds: anything
//! malformed (unknown version or kind, short field, bad UTF-8, invalid name, trailing bytes) is a
//! [`JournalError`], and recovery skips that record.
//!
//! # Layout (version 1, integers little-endian)
//!
//! ```text
//! record  = u8 version (=1) | u8 kind | body
//! name    = u16 len | len bytes UTF-8 (a valid queue name)
//! id      = 16 bytes
//! text    = u32 len | len bytes UTF-8        (DLQ reason)
//! blob    = u32 len | len bytes              (payload)
//!
//! kind  name           body
//! 0x01  CREATE         name | u64 visibility_timeout_ms | u32 max_retries | u64 max_depth | u64 max_bytes
//! 0x02  DELETE         name
//! 0x03  PUSH           name | id | u8 priority | u64 due_wall_ms (0 = ready at once) | blob payload
//! 0x04  LEASE          name | id                       (attempts + 1; the message is in flight)
//! 0x05  ACK            name | id                       (the message is gone)
//! 0x06  REQUEUE        name | id | u64 due_wall_ms     (NACK, NACK_DELAY, lease expiry, disconnect,
//!                                                       a delay ending, recovery releasing a lease)
//! 0x07  DEAD           name | id | u32 attempts | text reason
//! 0x08  MOVE           name | id                       (DLQ → ready, attempts 0)
//! 0x09  DLQ_DELETE     name | id
//! 0x0A  DLQ_PURGE      name
//! 0x0B  PURGE          name                            (pending, ready and delayed messages)
//! 0x0C  REDRIVE        name | name target (empty = none) | u32 max_receive_count
//! 0x0D  DEAD_LETTER    name | id | name target | id new_id
//!                      (a receive found the message over its receive count: it leaves `name`
//!                       and is ready in `target` as `new_id`, with receive count 0)
//! 0x10  SNAPSHOT_BEGIN (empty)
//! 0x11  SNAP_QUEUE     as CREATE
//! 0x12  SNAP_MESSAGE   name | id | u8 priority | u32 attempts | u8 state | u64 due_wall_ms | text reason | blob payload
//!                      state: 0 ready, 1 delayed (due_wall_ms), 2 leased, 3 dead (reason)
//! 0x13  SNAPSHOT_END   u32 queues | u64 messages       (counts of the SNAP_QUEUE and SNAP_MESSAGE records)
//! 0x14  SNAP_REDRIVE   as REDRIVE                      (follows its queue's SNAP_QUEUE; not counted)
//! ```
//!
//! `max_depth` / `max_bytes` of 0 mean "the server's default at the time of use".

use bytes::{BufMut, Bytes, BytesMut};

use super::config::validate_name;
use super::state::QueueSettings;
use crate::le_reader::{LeReader, TooShort};

/// The only record version written today.
pub const VERSION: u8 = 1;

/// Names in records are at most this long (the length prefix is a `u16`).
pub const MAX_RECORD_NAME_BYTES: usize = u16::MAX as usize;

/// A 16-byte message id.
pub type MsgId = [u8; 16];

/// Where a message sits, in a snapshot record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapState {
    /// Ready to consume.
    Ready,
    /// Hidden until its due time.
    Delayed,
    /// In flight when the snapshot was taken (ready again after a restart).
    Leased,
    /// In the dead-letter queue.
    Dead,
}

/// One journal record. Text fields borrow from the encoded bytes when decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// A queue was created with these settings.
    Create {
        /// Queue name.
        name: &'a str,
        /// Its settings.
        settings: QueueSettings,
    },
    /// A queue and everything in it was deleted.
    Delete {
        /// Queue name.
        name: &'a str,
    },
    /// A message was pushed.
    Push {
        /// Queue name.
        name: &'a str,
        /// Message id.
        id: MsgId,
        /// Priority (higher first).
        priority: u8,
        /// Wall-clock ms when it becomes ready; 0 = at once.
        due_wall_ms: u64,
        /// Body.
        payload: &'a [u8],
    },
    /// A message was delivered (attempts + 1).
    Lease {
        /// Queue name.
        name: &'a str,
        /// Message id.
        id: MsgId,
    },
    /// A leased message was acknowledged.
    Ack {
        /// Queue name.
        name: &'a str,
        /// Message id.
        id: MsgId,
    },
    /// A leased or delayed message is ready again (or delayed until `due_wall_ms` when non-zero).
    Requeue {
        /// Queue name.
        name: &'a str,
        /// Message id.
        id: MsgId,
        /// Wall-clock ms when it becomes ready; 0 = at once.
        due_wall_ms: u64,
    },
    /// A message moved to the dead-letter queue.
    Dead {
        /// Queue name.
        name: &'a str,
        /// Message id.
        id: MsgId,
        /// Deliveries made.
        attempts: u32,
        /// Failure reason, verbatim.
        reason: &'a str,
    },
    /// A dead message is ready again with attempts 0.
    Move {
        /// Queue name.
        name: &'a str,
        /// Message id.
        id: MsgId,
    },
    /// A dead message was deleted.
    DlqDelete {
        /// Queue name.
        name: &'a str,
        /// Message id.
        id: MsgId,
    },
    /// Every dead message of the queue was deleted.
    DlqPurge {
        /// Queue name.
        name: &'a str,
    },
    /// Every pending, ready and delayed message of the queue was deleted.
    Purge {
        /// Queue name.
        name: &'a str,
    },
    /// A queue's dead-letter target was set (`target` empty: removed).
    Redrive {
        /// Queue name.
        name: &'a str,
        /// Target queue name, or empty.
        target: &'a str,
        /// Most receives before the move.
        max_receive_count: u32,
    },
    /// A message moved from its queue to the queue's dead-letter target.
    DeadLetter {
        /// Source queue name.
        name: &'a str,
        /// Message id in the source queue.
        id: MsgId,
        /// Target queue name.
        target: &'a str,
        /// Message id in the target queue.
        new_id: MsgId,
    },
    /// A compaction snapshot starts; it supersedes everything before it once complete.
    SnapshotBegin,
    /// A queue in a snapshot.
    SnapQueue {
        /// Queue name.
        name: &'a str,
        /// Its settings.
        settings: QueueSettings,
    },
    /// A message in a snapshot.
    SnapMessage {
        /// Queue name.
        name: &'a str,
        /// Message id.
        id: MsgId,
        /// Priority.
        priority: u8,
        /// Deliveries made.
        attempts: u32,
        /// Where it sits.
        state: SnapState,
        /// Due time of a delayed message (0 otherwise).
        due_wall_ms: u64,
        /// DLQ reason (empty unless dead).
        reason: &'a str,
        /// Body.
        payload: &'a [u8],
    },
    /// A queue's dead-letter target in a snapshot.
    SnapRedrive {
        /// Queue name.
        name: &'a str,
        /// Target queue name.
        target: &'a str,
        /// Most receives before the move.
        max_receive_count: u32,
    },
    /// The snapshot is complete.
    SnapshotEnd {
        /// `SNAP_QUEUE` records in it.
        queues: u32,
        /// `SNAP_MESSAGE` records in it.
        messages: u64,
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
    /// A name or reason is not UTF-8.
    Utf8,
    /// A name that `CREATE` would refuse.
    Name,
    /// A snapshot state byte other than 0–3.
    State(u8),
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Version(v) => write!(f, "unknown record version {v}"),
            Self::Kind(k) => write!(f, "unknown record kind 0x{k:02X}"),
            Self::Short => f.write_str("record too short"),
            Self::Trailing => f.write_str("bytes after the last field"),
            Self::Utf8 => f.write_str("invalid UTF-8"),
            Self::Name => f.write_str("invalid queue name"),
            Self::State(s) => write!(f, "unknown message state {s}"),
        }
    }
}

mod kind {
    pub const CREATE: u8 = 0x01;
    pub const DELETE: u8 = 0x02;
    pub const PUSH: u8 = 0x03;
    pub const LEASE: u8 = 0x04;
    pub const ACK: u8 = 0x05;
    pub const REQUEUE: u8 = 0x06;
    pub const DEAD: u8 = 0x07;
    pub const MOVE: u8 = 0x08;
    pub const DLQ_DELETE: u8 = 0x09;
    pub const DLQ_PURGE: u8 = 0x0A;
    pub const PURGE: u8 = 0x0B;
    pub const REDRIVE: u8 = 0x0C;
    pub const DEAD_LETTER: u8 = 0x0D;
    pub const SNAPSHOT_BEGIN: u8 = 0x10;
    pub const SNAP_QUEUE: u8 = 0x11;
    pub const SNAP_MESSAGE: u8 = 0x12;
    pub const SNAPSHOT_END: u8 = 0x13;
    pub const SNAP_REDRIVE: u8 = 0x14;
}

/// Fixed bytes of a `SNAP_MESSAGE` record besides its name, reason and payload (used to estimate
/// the live size of the journal).
pub const SNAP_MESSAGE_FIXED: usize = 2 + 2 + 16 + 1 + 4 + 1 + 8 + 4 + 4;

/// Fixed bytes of a `SNAP_QUEUE` record besides its name.
pub const SNAP_QUEUE_FIXED: usize = 2 + 2 + 8 + 4 + 8 + 8;

impl Record<'_> {
    /// The record's bytes.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(self.encoded_len());
        b.put_u8(VERSION);
        match self {
            Self::Create { name, settings } => {
                head(&mut b, kind::CREATE, name);
                put_settings(&mut b, settings);
            }
            Self::Delete { name } => head(&mut b, kind::DELETE, name),
            Self::Push { name, id, priority, due_wall_ms, payload } => {
                head(&mut b, kind::PUSH, name);
                b.put_slice(id);
                b.put_u8(*priority);
                b.put_u64_le(*due_wall_ms);
                put_blob(&mut b, payload);
            }
            Self::Lease { name, id } => with_id(&mut b, kind::LEASE, name, id),
            Self::Ack { name, id } => with_id(&mut b, kind::ACK, name, id),
            Self::Requeue { name, id, due_wall_ms } => {
                with_id(&mut b, kind::REQUEUE, name, id);
                b.put_u64_le(*due_wall_ms);
            }
            Self::Dead { name, id, attempts, reason } => {
                with_id(&mut b, kind::DEAD, name, id);
                b.put_u32_le(*attempts);
                put_blob(&mut b, reason.as_bytes());
            }
            Self::Move { name, id } => with_id(&mut b, kind::MOVE, name, id),
            Self::DlqDelete { name, id } => with_id(&mut b, kind::DLQ_DELETE, name, id),
            Self::DlqPurge { name } => head(&mut b, kind::DLQ_PURGE, name),
            Self::Purge { name } => head(&mut b, kind::PURGE, name),
            Self::Redrive { name, target, max_receive_count } => {
                head(&mut b, kind::REDRIVE, name);
                put_name(&mut b, target);
                b.put_u32_le(*max_receive_count);
            }
            Self::SnapRedrive { name, target, max_receive_count } => {
                head(&mut b, kind::SNAP_REDRIVE, name);
                put_name(&mut b, target);
                b.put_u32_le(*max_receive_count);
            }
            Self::DeadLetter { name, id, target, new_id } => {
                with_id(&mut b, kind::DEAD_LETTER, name, id);
                put_name(&mut b, target);
                b.put_slice(new_id);
            }
            Self::SnapshotBegin => b.put_u8(kind::SNAPSHOT_BEGIN),
            Self::SnapQueue { name, settings } => {
                head(&mut b, kind::SNAP_QUEUE, name);
                put_settings(&mut b, settings);
            }
            Self::SnapMessage { name, id, priority, attempts, state, due_wall_ms, reason, payload } => {
                with_id(&mut b, kind::SNAP_MESSAGE, name, id);
                b.put_u8(*priority);
                b.put_u32_le(*attempts);
                b.put_u8(state_byte(*state));
                b.put_u64_le(*due_wall_ms);
                put_blob(&mut b, reason.as_bytes());
                put_blob(&mut b, payload);
            }
            Self::SnapshotEnd { queues, messages } => {
                b.put_u8(kind::SNAPSHOT_END);
                b.put_u32_le(*queues);
                b.put_u64_le(*messages);
            }
        }
        b.freeze()
    }

    /// Length of [`Record::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let named = |name: &str| 2 + 2 + name.len();
        match self {
            Self::Create { name, .. } | Self::SnapQueue { name, .. } => SNAP_QUEUE_FIXED + name.len(),
            Self::Delete { name } | Self::DlqPurge { name } | Self::Purge { name } => named(name),
            Self::Push { name, payload, .. } => named(name) + 16 + 1 + 8 + 4 + payload.len(),
            Self::Lease { name, .. }
            | Self::Ack { name, .. }
            | Self::Move { name, .. }
            | Self::DlqDelete { name, .. } => named(name) + 16,
            Self::Requeue { name, .. } => named(name) + 16 + 8,
            Self::Dead { name, reason, .. } => named(name) + 16 + 4 + 4 + reason.len(),
            Self::Redrive { name, target, .. } | Self::SnapRedrive { name, target, .. } => {
                named(name) + 2 + target.len() + 4
            }
            Self::DeadLetter { name, target, .. } => named(name) + 16 + 2 + target.len() + 16,
            Self::SnapshotBegin => 2,
            Self::SnapMessage { name, reason, payload, .. } => {
                SNAP_MESSAGE_FIXED + name.len() + reason.len() + payload.len()
            }
            Self::SnapshotEnd { .. } => 2 + 4 + 8,
        }
    }
}

/// Decodes one record; text fields borrow from `bytes`.
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
        kind::CREATE => Record::Create { name: r.name()?, settings: r.settings()? },
        kind::DELETE => Record::Delete { name: r.name()? },
        kind::PUSH => Record::Push {
            name: r.name()?,
            id: r.id()?,
            priority: r.u8()?,
            due_wall_ms: r.u64()?,
            payload: r.blob()?,
        },
        kind::LEASE => Record::Lease { name: r.name()?, id: r.id()? },
        kind::ACK => Record::Ack { name: r.name()?, id: r.id()? },
        kind::REQUEUE => Record::Requeue { name: r.name()?, id: r.id()?, due_wall_ms: r.u64()? },
        kind::DEAD => Record::Dead { name: r.name()?, id: r.id()?, attempts: r.u32()?, reason: r.text()? },
        kind::MOVE => Record::Move { name: r.name()?, id: r.id()? },
        kind::DLQ_DELETE => Record::DlqDelete { name: r.name()?, id: r.id()? },
        kind::DLQ_PURGE => Record::DlqPurge { name: r.name()? },
        kind::PURGE => Record::Purge { name: r.name()? },
        kind::REDRIVE => {
            Record::Redrive { name: r.name()?, target: r.target()?, max_receive_count: r.u32()? }
        }
        kind::SNAP_REDRIVE => {
            Record::SnapRedrive { name: r.name()?, target: r.target()?, max_receive_count: r.u32()? }
        }
        kind::DEAD_LETTER => {
            Record::DeadLetter { name: r.name()?, id: r.id()?, target: r.name()?, new_id: r.id()? }
        }
        kind::SNAPSHOT_BEGIN => Record::SnapshotBegin,
        kind::SNAP_QUEUE => Record::SnapQueue { name: r.name()?, settings: r.settings()? },
        kind::SNAP_MESSAGE => Record::SnapMessage {
            name: r.name()?,
            id: r.id()?,
            priority: r.u8()?,
            attempts: r.u32()?,
            state: r.state()?,
            due_wall_ms: r.u64()?,
            reason: r.text()?,
            payload: r.blob()?,
        },
        kind::SNAPSHOT_END => Record::SnapshotEnd { queues: r.u32()?, messages: r.u64()? },
        other => return Err(JournalError::Kind(other)),
    };
    if r.rest.is_empty() { Ok(record) } else { Err(JournalError::Trailing) }
}

fn head(b: &mut BytesMut, kind: u8, name: &str) {
    b.put_u8(kind);
    put_name(b, name);
}

/// A name field (`u16 len | bytes`).
fn put_name(b: &mut BytesMut, name: &str) {
    // Names are validated (at most a few hundred bytes) before they reach a record.
    let len = name.len().min(MAX_RECORD_NAME_BYTES);
    b.put_u16_le(len as u16);
    b.put_slice(&name.as_bytes()[..len]);
}

fn with_id(b: &mut BytesMut, kind: u8, name: &str, id: &MsgId) {
    head(b, kind, name);
    b.put_slice(id);
}

fn put_blob(b: &mut BytesMut, bytes: &[u8]) {
    // Payloads and reasons come from frames capped far below 4 GiB.
    b.put_u32_le(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    b.put_slice(bytes);
}

fn put_settings(b: &mut BytesMut, s: &QueueSettings) {
    b.put_u64_le(s.visibility_timeout_ms);
    b.put_u32_le(s.max_retries);
    b.put_u64_le(s.max_depth);
    b.put_u64_le(s.max_bytes);
}

fn state_byte(state: SnapState) -> u8 {
    match state {
        SnapState::Ready => 0,
        SnapState::Delayed => 1,
        SnapState::Leased => 2,
        SnapState::Dead => 3,
    }
}

/// This journal's field reader (the shared little-endian cursor).
type Reader<'a> = LeReader<'a, JournalError>;

impl TooShort for JournalError {
    fn too_short() -> Self {
        JournalError::Short
    }
}

impl<'a> Reader<'a> {
    fn id(&mut self) -> Result<MsgId, JournalError> {
        self.array()
    }

    fn name(&mut self) -> Result<&'a str, JournalError> {
        let name = self.target()?;
        if name.is_empty() {
            return Err(JournalError::Name);
        }
        Ok(name)
    }

    /// A dead-letter target: empty (none) or a valid name.
    fn target(&mut self) -> Result<&'a str, JournalError> {
        let len = usize::from(self.u16()?);
        let name = std::str::from_utf8(self.take(len)?).map_err(|_| JournalError::Utf8)?;
        if !name.is_empty() {
            validate_name(name, MAX_RECORD_NAME_BYTES).map_err(|_| JournalError::Name)?;
        }
        Ok(name)
    }

    fn blob(&mut self) -> Result<&'a [u8], JournalError> {
        let len = usize::try_from(self.u32()?).map_err(|_| JournalError::Short)?;
        self.take(len)
    }

    fn text(&mut self) -> Result<&'a str, JournalError> {
        std::str::from_utf8(self.blob()?).map_err(|_| JournalError::Utf8)
    }

    fn settings(&mut self) -> Result<QueueSettings, JournalError> {
        Ok(QueueSettings {
            visibility_timeout_ms: self.u64()?,
            max_retries: self.u32()?,
            max_depth: self.u64()?,
            max_bytes: self.u64()?,
        })
    }

    fn state(&mut self) -> Result<SnapState, JournalError> {
        match self.u8()? {
            0 => Ok(SnapState::Ready),
            1 => Ok(SnapState::Delayed),
            2 => Ok(SnapState::Leased),
            3 => Ok(SnapState::Dead),
            other => Err(JournalError::State(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Record<'static>> {
        let settings =
            QueueSettings { visibility_timeout_ms: 30_000, max_retries: 5, max_depth: 0, max_bytes: 7 };
        let id = [7u8; 16];
        vec![
            Record::Create { name: "jobs", settings },
            Record::Delete { name: "jobs" },
            Record::Push { name: "jobs", id, priority: 9, due_wall_ms: 123, payload: b"\x01hello" },
            Record::Push { name: "j", id, priority: 0, due_wall_ms: 0, payload: b"" },
            Record::Lease { name: "jobs", id },
            Record::Ack { name: "jobs", id },
            Record::Requeue { name: "jobs", id, due_wall_ms: 5 },
            Record::Dead { name: "jobs", id, attempts: 3, reason: "Timeout" },
            Record::Move { name: "jobs", id },
            Record::DlqDelete { name: "jobs", id },
            Record::Redrive { name: "jobs", target: "dead", max_receive_count: 3 },
            Record::Redrive { name: "jobs", target: "", max_receive_count: 0 },
            Record::SnapRedrive { name: "jobs", target: "dead", max_receive_count: 1 },
            Record::DeadLetter { name: "jobs", id, target: "dead", new_id: [9u8; 16] },
            Record::DlqPurge { name: "jobs" },
            Record::Purge { name: "jobs" },
            Record::SnapshotBegin,
            Record::SnapQueue { name: "jobs", settings },
            Record::SnapMessage {
                name: "jobs",
                id,
                priority: 3,
                attempts: 2,
                state: SnapState::Dead,
                due_wall_ms: 0,
                reason: "boom ✓",
                payload: b"p",
            },
            Record::SnapshotEnd { queues: 1, messages: 1 },
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
        let bytes = Record::Requeue { name: "q", id: [0xAB; 16], due_wall_ms: 0x0102 }.encode();
        let mut expected = vec![1, 0x06, 1, 0, b'q'];
        expected.extend([0xAB; 16]);
        expected.extend([0x02, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[..], &expected[..]);
    }

    #[test]
    fn malformed_records_are_errors() {
        assert_eq!(decode(&[]), Err(JournalError::Short));
        assert_eq!(decode(&[2, 1]), Err(JournalError::Version(2)));
        assert_eq!(decode(&[1, 0x7F]), Err(JournalError::Kind(0x7F)));
        assert_eq!(decode(&[1, 0x02, 1, 0, b'/']), Err(JournalError::Name));
        assert_eq!(decode(&[1, 0x02, 0, 0]), Err(JournalError::Name));
        assert_eq!(decode(&[1, 0x02, 1, 0, 0xFF]), Err(JournalError::Utf8));
        assert_eq!(decode(&[1, 0x02, 9, 0, b'q']), Err(JournalError::Short));
        let mut bad_state = Record::SnapMessage {
            name: "q",
            id: [0; 16],
            priority: 0,
            attempts: 0,
            state: SnapState::Ready,
            due_wall_ms: 0,
            reason: "",
            payload: b"",
        }
        .encode()
        .to_vec();
        bad_state[2 + 2 + 1 + 16 + 1 + 4] = 9;
        assert_eq!(decode(&bad_state), Err(JournalError::State(9)));
    }
}
