//! Responses (type `0x02`): status `OK`, `ERR`, `NULL` or `DATA` with a command-specific payload.
//!
//! Servers encode a [`Reply`] straight into the connection's write buffer; clients decode one
//! with the [`ReplyKind`] their request expects (the wire does not say which DATA layout it is).

use bytes::{BufMut, Bytes, BytesMut};

use crate::Uuid;
use crate::error::DecodeError;
use crate::frame::{FrameType, write_frame};
use crate::primitives::{Fields, put_blob, put_count};

/// Status byte of a response frame.
pub mod status {
    /// Success, empty payload.
    pub const OK: u8 = 0x00;
    /// Failure, payload is a `str` message.
    pub const ERR: u8 = 0x01;
    /// Store GET miss, empty payload.
    pub const NULL: u8 = 0x02;
    /// Success with a command-specific payload.
    pub const DATA: u8 = 0x03;
}

/// One message of a Queue CONSUME reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// Message id.
    pub id: Uuid,
    /// Body.
    pub payload: Bytes,
}

/// One message of a Queue PEEK_DLQ reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqMessage {
    /// Message id.
    pub id: Uuid,
    /// Body.
    pub payload: Bytes,
    /// Deliveries made before it failed.
    pub attempts: u32,
    /// The failure reason (NACK reason or `Timeout`).
    pub reason: String,
}

/// One message of a Stream FETCH reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMessage {
    /// Sequence in the topic (from 1).
    pub seq: u64,
    /// Wall-clock publish time in milliseconds.
    pub timestamp_ms: u64,
    /// Body.
    pub payload: Bytes,
}

/// One dead letter of a Stream LIST_DLQ reply (extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDeadLetter {
    /// Sequence in the topic.
    pub seq: u64,
    /// Wall-clock publish time in milliseconds.
    pub timestamp_ms: u64,
    /// Deliveries made before it was dead-lettered.
    pub deliveries: u32,
    /// Body.
    pub payload: Bytes,
}

/// One topic of a Stream LIST_TOPICS reply (extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTopicInfo {
    /// Topic name.
    pub name: String,
    /// Oldest retained sequence (the next sequence when the topic is empty).
    pub first_seq: u64,
    /// Newest durable sequence (0 when nothing was ever published).
    pub last_seq: u64,
    /// Retention by age in milliseconds (0 = unlimited).
    pub max_age_ms: u64,
    /// Retention by size in bytes (0 = unlimited).
    pub max_bytes: u64,
    /// Consumer groups.
    pub groups: u32,
}

/// One consumer group of a Stream LIST_GROUPS reply (extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGroupInfo {
    /// Group name.
    pub name: String,
    /// Generation (bumped by every seek).
    pub generation: u64,
    /// Everything up to this sequence is acknowledged or dead-lettered.
    pub ack_floor: u64,
    /// Newest sequence of the topic minus the ack floor.
    pub lag: u64,
    /// Messages delivered and not yet acknowledged.
    pub pending: u64,
    /// Members now.
    pub members: u32,
    /// Dead letters kept.
    pub dead: u32,
}

/// One queue of a Queue LIST reply (extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// Queue name.
    pub name: String,
    /// Messages ready to consume.
    pub ready: u64,
    /// Messages leased and not yet acked.
    pub in_flight: u64,
    /// Messages waiting for their delay.
    pub delayed: u64,
    /// Messages in the dead-letter queue.
    pub dead: u64,
}

/// A response to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `OK`.
    Ok,
    /// `NULL` (a Store miss).
    Null,
    /// `ERR` with its text.
    Err(String),
    /// `DATA` with raw bytes (GET, ECHO).
    Data(Bytes),
    /// `DATA u8` 1/0.
    Flag(bool),
    /// `DATA i64` (counters, TTL).
    Int(i64),
    /// `DATA u32` (PURGE_DLQ).
    Count(u32),
    /// `DATA u64` (Stream PUBLISH sequence).
    Seq(u64),
    /// `DATA u32 n`, n × (`u8 present`, then `u32 len` and bytes when present) (MGET).
    Values(Vec<Option<Bytes>>),
    /// `DATA u64 cursor`, `u32 n`, n × `str` (SCAN).
    Keys {
        /// Cursor for the next call; `0` when the scan is complete.
        cursor: u64,
        /// Keys found in this step.
        keys: Vec<Bytes>,
    },
    /// `DATA u32 n`, n × (`uuid`, `u32 len`, payload) (CONSUME).
    QueueMessages(Vec<QueueMessage>),
    /// `DATA u32 total`, `u32 n`, n × (`uuid`, `u32 len`, payload, `u32 attempts`, `str reason`).
    DlqPage {
        /// Messages in the DLQ.
        total: u32,
        /// This page.
        messages: Vec<DlqMessage>,
    },
    /// `DATA u32 n`, n × (`u64 seq`, `u64 timestamp_ms`, `u32 len`, payload) (FETCH).
    StreamMessages(Vec<StreamMessage>),
    /// `DATA u64 ack_floor`, `u64 generation`, `str consumer_id` (JOIN).
    Joined {
        /// Highest sequence below which everything is acknowledged.
        ack_floor: u64,
        /// Group generation.
        generation: u64,
        /// The member id to use.
        consumer_id: String,
    },
    /// `DATA u32 total`, `u32 n`, n × (`str name`, `u64 ready`, `u64 in_flight`, `u64 delayed`,
    /// `u64 dead`) (Queue LIST, extension).
    QueueList {
        /// Queues in all.
        total: u32,
        /// This page, by name.
        queues: Vec<QueueInfo>,
    },
    /// `DATA u32 total`, `u32 n`, n × (`u64 seq`, `u64 timestamp_ms`, `u32 deliveries`,
    /// `u32 len`, payload) (Stream LIST_DLQ, extension).
    StreamDeadLetters {
        /// Dead letters of the group in all.
        total: u32,
        /// This page, by sequence.
        messages: Vec<StreamDeadLetter>,
    },
    /// `DATA u32 total`, `u32 n`, n × (`str name`, `u64 first_seq`, `u64 last_seq`,
    /// `u64 max_age_ms`, `u64 max_bytes`, `u32 groups`) (Stream LIST_TOPICS, extension).
    StreamTopics {
        /// Topics in all.
        total: u32,
        /// This page, by name.
        topics: Vec<StreamTopicInfo>,
    },
    /// `DATA u32 total`, `u32 n`, n × (`str name`, `u64 generation`, `u64 ack_floor`, `u64 lag`,
    /// `u64 pending`, `u32 members`, `u32 dead`) (Stream LIST_GROUPS, extension).
    StreamGroups {
        /// Groups of the topic in all.
        total: u32,
        /// This page, by name.
        groups: Vec<StreamGroupInfo>,
    },
    /// `DATA u32 n`, n × (`u8 status`, `u8 kind` (see [`ReplyKind::code`]), `u32 len`, payload):
    /// one reply per request of a Store EXEC (extension), never nested.
    Replies(Vec<Reply>),
}

/// Which DATA layout a client expects for its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// Raw bytes.
    Data,
    /// `u8`.
    Flag,
    /// `i64`.
    Int,
    /// `u32`.
    Count,
    /// `u64`.
    Seq,
    /// MGET values.
    Values,
    /// SCAN keys.
    Keys,
    /// CONSUME batch.
    QueueMessages,
    /// PEEK_DLQ page.
    DlqPage,
    /// FETCH batch.
    StreamMessages,
    /// JOIN result.
    Joined,
    /// Queue LIST page.
    QueueList,
    /// Stream LIST_DLQ page.
    StreamDeadLetters,
    /// Stream LIST_TOPICS page.
    StreamTopics,
    /// Stream LIST_GROUPS page.
    StreamGroups,
    /// EXEC's replies (each element says its own kind).
    Replies,
}

impl ReplyKind {
    /// Every kind, in the order of their wire codes.
    const ALL: [Self; 16] = [
        Self::Data,
        Self::Flag,
        Self::Int,
        Self::Count,
        Self::Seq,
        Self::Values,
        Self::Keys,
        Self::QueueMessages,
        Self::DlqPage,
        Self::StreamMessages,
        Self::Joined,
        Self::QueueList,
        Self::StreamDeadLetters,
        Self::StreamTopics,
        Self::StreamGroups,
        Self::Replies,
    ];

    /// The kind's byte inside an EXEC reply (`0` Data … `15` Replies, in declaration order).
    pub fn code(self) -> u8 {
        Self::ALL.iter().position(|k| *k == self).map_or(0, |i| i as u8)
    }

    /// The kind with wire code `code`.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }
}

impl Reply {
    /// Builds an `ERR` reply from anything displayable (typed errors carry the spec's texts).
    pub fn error(err: impl std::fmt::Display) -> Self {
        Self::Err(err.to_string())
    }

    /// The status byte this reply is sent with.
    pub fn status(&self) -> u8 {
        match self {
            Self::Ok => status::OK,
            Self::Null => status::NULL,
            Self::Err(_) => status::ERR,
            _ => status::DATA,
        }
    }

    /// Appends the whole response frame for request `id` to `out`.
    ///
    /// A reply whose payload would not fit a frame's `u32` length is never reserved, cast or
    /// sent: the client gets an `ERR` naming the size instead. (Brokers bound their replies far
    /// below that; this is the last line of defence, not the limit.)
    pub fn encode(&self, id: u32, out: &mut BytesMut) {
        let len = self.payload_len();
        if u32::try_from(len).is_err() {
            return Self::Err(format!("ERR reply of {len} bytes does not fit a v1 frame")).encode(id, out);
        }
        out.reserve(crate::HEADER_LEN + len);
        if let Err(err) = write_frame(out, FrameType::Response, self.status(), id, |b| self.encode_payload(b))
        {
            // Only reachable if `payload_len` under-counts; answer rather than send nothing.
            Self::Err(format!("ERR {err}")).encode(id, out);
        }
    }

    /// Encoded size of the payload in bytes (used to cap batch replies), computed without encoding.
    pub fn payload_len(&self) -> usize {
        const BLOB: usize = 4;
        const UUID: usize = 16;
        match self {
            Self::Ok | Self::Null => 0,
            Self::Err(text) => BLOB + text.len(),
            Self::Data(bytes) => bytes.len(),
            Self::Flag(_) => 1,
            Self::Count(_) => 4,
            Self::Int(_) | Self::Seq(_) => 8,
            Self::Values(values) => {
                4 + values.iter().map(|v| 1 + v.as_ref().map_or(0, |b| BLOB + b.len())).sum::<usize>()
            }
            Self::Keys { keys, .. } => 8 + 4 + keys.iter().map(|k| BLOB + k.len()).sum::<usize>(),
            Self::QueueMessages(messages) => {
                4 + messages.iter().map(|m| UUID + BLOB + m.payload.len()).sum::<usize>()
            }
            Self::DlqPage { messages, .. } => {
                4 + 4
                    + messages
                        .iter()
                        .map(|m| UUID + BLOB + m.payload.len() + 4 + BLOB + m.reason.len())
                        .sum::<usize>()
            }
            Self::StreamMessages(messages) => {
                4 + messages.iter().map(|m| 8 + 8 + BLOB + m.payload.len()).sum::<usize>()
            }
            Self::Joined { consumer_id, .. } => 8 + 8 + BLOB + consumer_id.len(),
            Self::QueueList { queues, .. } => {
                4 + 4 + queues.iter().map(|q| BLOB + q.name.len() + 4 * 8).sum::<usize>()
            }
            Self::StreamDeadLetters { messages, .. } => {
                4 + 4 + messages.iter().map(|m| 8 + 8 + 4 + BLOB + m.payload.len()).sum::<usize>()
            }
            Self::StreamTopics { topics, .. } => {
                4 + 4 + topics.iter().map(|t| BLOB + t.name.len() + 4 * 8 + 4).sum::<usize>()
            }
            Self::StreamGroups { groups, .. } => {
                4 + 4 + groups.iter().map(|g| BLOB + g.name.len() + 4 * 8 + 4 + 4).sum::<usize>()
            }
            Self::Replies(replies) => {
                4 + replies.iter().map(|r| 1 + 1 + BLOB + r.payload_len()).sum::<usize>()
            }
        }
    }

    fn encode_payload(&self, b: &mut BytesMut) {
        match self {
            Self::Ok | Self::Null => {}
            Self::Err(text) => put_blob(b, text.as_bytes()),
            Self::Data(bytes) => b.extend_from_slice(bytes),
            Self::Flag(v) => b.put_u8(u8::from(*v)),
            Self::Int(v) => b.put_i64(*v),
            Self::Count(v) => b.put_u32(*v),
            Self::Seq(v) => b.put_u64(*v),
            Self::Values(values) => {
                put_count(b, values.len());
                for v in values {
                    match v {
                        Some(bytes) => {
                            b.put_u8(1);
                            put_blob(b, bytes);
                        }
                        None => b.put_u8(0),
                    }
                }
            }
            Self::Keys { cursor, keys } => {
                b.put_u64(*cursor);
                put_count(b, keys.len());
                keys.iter().for_each(|k| put_blob(b, k));
            }
            Self::QueueMessages(messages) => {
                put_count(b, messages.len());
                for m in messages {
                    b.extend_from_slice(&m.id);
                    put_blob(b, &m.payload);
                }
            }
            Self::DlqPage { total, messages } => {
                b.put_u32(*total);
                put_count(b, messages.len());
                for m in messages {
                    b.extend_from_slice(&m.id);
                    put_blob(b, &m.payload);
                    b.put_u32(m.attempts);
                    put_blob(b, m.reason.as_bytes());
                }
            }
            Self::StreamMessages(messages) => {
                put_count(b, messages.len());
                for m in messages {
                    b.put_u64(m.seq);
                    b.put_u64(m.timestamp_ms);
                    put_blob(b, &m.payload);
                }
            }
            Self::QueueList { total, queues } => {
                b.put_u32(*total);
                put_count(b, queues.len());
                for q in queues {
                    put_blob(b, q.name.as_bytes());
                    for n in [q.ready, q.in_flight, q.delayed, q.dead] {
                        b.put_u64(n);
                    }
                }
            }
            Self::Joined { ack_floor, generation, consumer_id } => {
                b.put_u64(*ack_floor);
                b.put_u64(*generation);
                put_blob(b, consumer_id.as_bytes());
            }
            Self::StreamDeadLetters { total, messages } => {
                b.put_u32(*total);
                put_count(b, messages.len());
                for m in messages {
                    b.put_u64(m.seq);
                    b.put_u64(m.timestamp_ms);
                    b.put_u32(m.deliveries);
                    put_blob(b, &m.payload);
                }
            }
            Self::StreamTopics { total, topics } => {
                b.put_u32(*total);
                put_count(b, topics.len());
                for t in topics {
                    put_blob(b, t.name.as_bytes());
                    for n in [t.first_seq, t.last_seq, t.max_age_ms, t.max_bytes] {
                        b.put_u64(n);
                    }
                    b.put_u32(t.groups);
                }
            }
            Self::StreamGroups { total, groups } => {
                b.put_u32(*total);
                put_count(b, groups.len());
                for g in groups {
                    put_blob(b, g.name.as_bytes());
                    for n in [g.generation, g.ack_floor, g.lag, g.pending] {
                        b.put_u64(n);
                    }
                    b.put_u32(g.members);
                    b.put_u32(g.dead);
                }
            }
            Self::Replies(replies) => {
                put_count(b, replies.len());
                for reply in replies {
                    b.put_u8(reply.status());
                    b.put_u8(reply.kind().code());
                    put_count(b, reply.payload_len());
                    reply.encode_payload(b);
                }
            }
        }
    }

    /// Decodes a response payload (client side) given its status and the expected DATA layout.
    ///
    /// # Errors
    /// An unknown status ([`DecodeError::UnknownStatus`]) or a payload that does not fit the layout.
    pub fn decode(status_byte: u8, payload: &Bytes, kind: ReplyKind) -> Result<Self, DecodeError> {
        let mut f = Fields::new(payload);
        match status_byte {
            status::OK => return Ok(Self::Ok),
            status::NULL => return Ok(Self::Null),
            status::ERR => return Ok(Self::Err(f.string()?)),
            status::DATA => {}
            other => return Err(DecodeError::UnknownStatus(other)),
        }
        // Counts come from the peer; cap pre-allocation by what the payload could hold.
        let cap = |n: u32, min_each: usize| (n as usize).min(payload.len() / min_each);
        Ok(match kind {
            ReplyKind::Data => Self::Data(f.rest()),
            ReplyKind::Flag => Self::Flag(f.u8()? != 0),
            ReplyKind::Int => Self::Int(f.i64()?),
            ReplyKind::Count => Self::Count(f.u32()?),
            ReplyKind::Seq => Self::Seq(f.u64()?),
            ReplyKind::Values => {
                let n = f.u32()?;
                let mut values = Vec::with_capacity(cap(n, 1));
                for _ in 0..n {
                    values.push(if f.u8()? != 0 { Some(f.blob()?) } else { None });
                }
                Self::Values(values)
            }
            ReplyKind::Keys => {
                let cursor = f.u64()?;
                let n = f.u32()?;
                let mut keys = Vec::with_capacity(cap(n, 4));
                for _ in 0..n {
                    keys.push(f.blob()?);
                }
                Self::Keys { cursor, keys }
            }
            ReplyKind::QueueMessages => {
                let n = f.u32()?;
                let mut messages = Vec::with_capacity(cap(n, 20));
                for _ in 0..n {
                    messages.push(QueueMessage { id: f.uuid()?, payload: f.blob()? });
                }
                Self::QueueMessages(messages)
            }
            ReplyKind::DlqPage => {
                let total = f.u32()?;
                let n = f.u32()?;
                let mut messages = Vec::with_capacity(cap(n, 28));
                for _ in 0..n {
                    messages.push(DlqMessage {
                        id: f.uuid()?,
                        payload: f.blob()?,
                        attempts: f.u32()?,
                        reason: f.string()?,
                    });
                }
                Self::DlqPage { total, messages }
            }
            ReplyKind::StreamMessages => {
                let n = f.u32()?;
                let mut messages = Vec::with_capacity(cap(n, 20));
                for _ in 0..n {
                    messages.push(StreamMessage {
                        seq: f.u64()?,
                        timestamp_ms: f.u64()?,
                        payload: f.blob()?,
                    });
                }
                Self::StreamMessages(messages)
            }
            ReplyKind::QueueList => {
                let total = f.u32()?;
                let n = f.u32()?;
                let mut queues = Vec::with_capacity(cap(n, 36));
                for _ in 0..n {
                    queues.push(QueueInfo {
                        name: f.string()?,
                        ready: f.u64()?,
                        in_flight: f.u64()?,
                        delayed: f.u64()?,
                        dead: f.u64()?,
                    });
                }
                Self::QueueList { total, queues }
            }
            ReplyKind::Joined => {
                Self::Joined { ack_floor: f.u64()?, generation: f.u64()?, consumer_id: f.string()? }
            }
            ReplyKind::StreamDeadLetters => {
                let total = f.u32()?;
                let n = f.u32()?;
                let mut messages = Vec::with_capacity(cap(n, 24));
                for _ in 0..n {
                    messages.push(StreamDeadLetter {
                        seq: f.u64()?,
                        timestamp_ms: f.u64()?,
                        deliveries: f.u32()?,
                        payload: f.blob()?,
                    });
                }
                Self::StreamDeadLetters { total, messages }
            }
            ReplyKind::StreamTopics => {
                let total = f.u32()?;
                let n = f.u32()?;
                let mut topics = Vec::with_capacity(cap(n, 40));
                for _ in 0..n {
                    topics.push(StreamTopicInfo {
                        name: f.string()?,
                        first_seq: f.u64()?,
                        last_seq: f.u64()?,
                        max_age_ms: f.u64()?,
                        max_bytes: f.u64()?,
                        groups: f.u32()?,
                    });
                }
                Self::StreamTopics { total, topics }
            }
            ReplyKind::StreamGroups => {
                let total = f.u32()?;
                let n = f.u32()?;
                let mut groups = Vec::with_capacity(cap(n, 44));
                for _ in 0..n {
                    groups.push(StreamGroupInfo {
                        name: f.string()?,
                        generation: f.u64()?,
                        ack_floor: f.u64()?,
                        lag: f.u64()?,
                        pending: f.u64()?,
                        members: f.u32()?,
                        dead: f.u32()?,
                    });
                }
                Self::StreamGroups { total, groups }
            }
            ReplyKind::Replies => {
                let n = f.u32()?;
                let mut replies = Vec::with_capacity(cap(n, 6));
                for _ in 0..n {
                    let status = f.u8()?;
                    let code = f.u8()?;
                    let payload = f.blob()?;
                    let kind = ReplyKind::from_code(code)
                        .filter(|k| *k != ReplyKind::Replies)
                        .ok_or(DecodeError::InvalidExec(code))?;
                    replies.push(Self::decode(status, &payload, kind)?);
                }
                Self::Replies(replies)
            }
        })
    }

    /// The DATA layout of this reply, for round-trip decoding.
    pub fn kind(&self) -> ReplyKind {
        match self {
            Self::Ok | Self::Null | Self::Err(_) | Self::Data(_) => ReplyKind::Data,
            Self::Flag(_) => ReplyKind::Flag,
            Self::Int(_) => ReplyKind::Int,
            Self::Count(_) => ReplyKind::Count,
            Self::Seq(_) => ReplyKind::Seq,
            Self::Values(_) => ReplyKind::Values,
            Self::Keys { .. } => ReplyKind::Keys,
            Self::QueueMessages(_) => ReplyKind::QueueMessages,
            Self::DlqPage { .. } => ReplyKind::DlqPage,
            Self::StreamMessages(_) => ReplyKind::StreamMessages,
            Self::Joined { .. } => ReplyKind::Joined,
            Self::QueueList { .. } => ReplyKind::QueueList,
            Self::StreamDeadLetters { .. } => ReplyKind::StreamDeadLetters,
            Self::StreamTopics { .. } => ReplyKind::StreamTopics,
            Self::StreamGroups { .. } => ReplyKind::StreamGroups,
            Self::Replies(_) => ReplyKind::Replies,
        }
    }
}
