//! The typed operations both clients offer: for each helper, the [`Request`] it sends and how
//! its reply becomes a value. The blocking [`crate::Client`] and the async
//! [`crate::AsyncClient`] each run an [`Op`] their own way (a socket round trip, or a pipelined
//! task); neither builds these requests itself, so the two cannot drift apart. No I/O here.

use std::time::Duration;

use bytes::Bytes;
use nexo_proto::options::{
    ConsumeOptions, PublishOptions, PushOptions, QueueOptions, SetOptions, StreamOptions,
};
use nexo_proto::reply::{QueueMessage, StreamMessage};
use nexo_proto::request::{PubSubRequest, QueueRequest, Request, StoreRequest, StreamRequest};
use nexo_proto::{Reply, ReplyKind, Uuid};

use crate::codec::{
    expect_count, expect_flag, expect_int, expect_ok, expect_seq, expected_reply_kind, server_err, unexpected,
};
use crate::error::Result;
use crate::stream::GroupMember;

/// One typed call: the request, the command name for error texts, how to read the reply, and
/// how long past the usual timeout the reply may take (a long-poll's wait).
#[derive(Debug)]
pub(crate) struct Op<T> {
    request: Request,
    command: &'static str,
    parse: fn(&'static str, &Request, Reply) -> Result<T>,
    long_poll: Duration,
}

impl<T> Op<T> {
    fn new(
        command: &'static str,
        request: Request,
        parse: fn(&'static str, &Request, Reply) -> Result<T>,
    ) -> Self {
        Self { request, command, parse, long_poll: Duration::ZERO }
    }

    fn long_polling(mut self, wait: Duration) -> Self {
        self.long_poll = wait;
        self
    }

    /// The request to send.
    pub(crate) fn request(&self) -> &Request {
        &self.request
    }

    /// The layout of its reply.
    pub(crate) fn kind(&self) -> ReplyKind {
        expected_reply_kind(&self.request)
    }

    /// Extra time the reply may take beyond the client's timeout.
    pub(crate) fn long_poll(&self) -> Duration {
        self.long_poll
    }

    /// The typed value of `reply`; `ERR` becomes [`crate::ClientError::Server`].
    ///
    /// # Errors
    /// [`crate::ClientError::Server`] for `ERR`, [`crate::ClientError::Protocol`] for a reply of
    /// the wrong layout.
    pub(crate) fn finish(&self, reply: Reply) -> Result<T> {
        (self.parse)(self.command, &self.request, server_err(reply)?)
    }
}

fn ok(command: &'static str, _: &Request, reply: Reply) -> Result<()> {
    expect_ok(command, reply)
}

fn flag(command: &'static str, _: &Request, reply: Reply) -> Result<bool> {
    expect_flag(command, reply)
}

fn int(command: &'static str, _: &Request, reply: Reply) -> Result<i64> {
    expect_int(command, reply)
}

fn count(command: &'static str, _: &Request, reply: Reply) -> Result<u32> {
    expect_count(command, reply)
}

fn seq(command: &'static str, _: &Request, reply: Reply) -> Result<u64> {
    expect_seq(command, reply)
}

fn key_bytes(key: &str) -> Bytes {
    Bytes::copy_from_slice(key.as_bytes())
}

/// ECHO: the server returns `data` unchanged.
pub(crate) fn echo(data: &[u8]) -> Op<Bytes> {
    Op::new("ECHO", Request::Echo(Bytes::copy_from_slice(data)), |command, _, reply| match reply {
        Reply::Data(bytes) => Ok(bytes),
        other => Err(unexpected(command, &other)),
    })
}

/// SET with options.
pub(crate) fn set(key: &str, value: &[u8], options: SetOptions) -> Op<()> {
    let request = StoreRequest::Set { key: key_bytes(key), options, value: Bytes::copy_from_slice(value) };
    Op::new("SET", Request::Store(request), ok)
}

/// GET: the bytes, or `None` for a missing key.
pub(crate) fn get(key: &str) -> Op<Option<Bytes>> {
    Op::new("GET", Request::Store(StoreRequest::Get { key: key_bytes(key) }), |command, _, reply| match reply
    {
        Reply::Data(bytes) => Ok(Some(bytes)),
        Reply::Null => Ok(None),
        other => Err(unexpected(command, &other)),
    })
}

/// DEL.
pub(crate) fn del(key: &str) -> Op<()> {
    Op::new("DEL", Request::Store(StoreRequest::Del { key: key_bytes(key) }), ok)
}

/// SETNX: `true` when it stored.
pub(crate) fn set_nx(key: &str, value: &[u8], options: SetOptions) -> Op<bool> {
    let request = StoreRequest::SetNx { key: key_bytes(key), options, value: Bytes::copy_from_slice(value) };
    Op::new("SETNX", Request::Store(request), flag)
}

/// INCRBY: the new value.
pub(crate) fn incr_by(key: &str, delta: i64) -> Op<i64> {
    Op::new("INCRBY", Request::Store(StoreRequest::IncrBy { key: key_bytes(key), delta }), int)
}

/// EXPIRE in milliseconds: `false` for a missing key.
pub(crate) fn expire(key: &str, ttl_ms: u64) -> Op<bool> {
    Op::new("EXPIRE", Request::Store(StoreRequest::Expire { key: key_bytes(key), ttl_ms }), flag)
}

/// TTL in milliseconds (`-1` no expiry, `-2` missing).
pub(crate) fn ttl(key: &str) -> Op<i64> {
    Op::new("TTL", Request::Store(StoreRequest::Ttl { key: key_bytes(key) }), int)
}

/// PERSIST: `true` when there was a TTL.
pub(crate) fn persist(key: &str) -> Op<bool> {
    Op::new("PERSIST", Request::Store(StoreRequest::Persist { key: key_bytes(key) }), flag)
}

/// PUBLISH to a concrete topic.
pub(crate) fn publish(topic: &str, payload: &[u8], options: PublishOptions) -> Op<()> {
    let request =
        PubSubRequest::Publish { topic: topic.to_owned(), options, payload: Bytes::copy_from_slice(payload) };
    Op::new("PUBLISH", Request::PubSub(request), ok)
}

/// SUBSCRIBE to a pattern.
pub(crate) fn subscribe(pattern: &str) -> Op<()> {
    Op::new("SUBSCRIBE", Request::PubSub(PubSubRequest::Subscribe { pattern: pattern.to_owned() }), ok)
}

/// UNSUBSCRIBE a pattern.
pub(crate) fn unsubscribe(pattern: &str) -> Op<()> {
    Op::new("UNSUBSCRIBE", Request::PubSub(PubSubRequest::Unsubscribe { pattern: pattern.to_owned() }), ok)
}

/// Queue CREATE.
pub(crate) fn create_queue(name: &str, options: QueueOptions) -> Op<()> {
    Op::new("CREATE", Request::Queue(QueueRequest::Create { name: name.to_owned(), options }), ok)
}

/// Queue DELETE.
pub(crate) fn delete_queue(name: &str) -> Op<()> {
    Op::new("DELETE", Request::Queue(QueueRequest::Delete { name: name.to_owned() }), ok)
}

/// Queue PUSH.
pub(crate) fn push(name: &str, payload: &[u8], options: PushOptions) -> Op<()> {
    let request =
        QueueRequest::Push { name: name.to_owned(), options, payload: Bytes::copy_from_slice(payload) };
    Op::new("PUSH", Request::Queue(request), ok)
}

/// Queue CONSUME, long-polling up to `waitMs`.
pub(crate) fn consume(name: &str, options: ConsumeOptions) -> Op<Vec<QueueMessage>> {
    let wait = Duration::from_millis(options.wait_ms.unwrap_or(0));
    let request = Request::Queue(QueueRequest::Consume { name: name.to_owned(), options });
    Op::new("CONSUME", request, |command, _, reply| match reply {
        Reply::QueueMessages(messages) => Ok(messages),
        other => Err(unexpected(command, &other)),
    })
    .long_polling(wait)
}

/// Queue ACK.
pub(crate) fn ack(name: &str, id: Uuid) -> Op<()> {
    Op::new("ACK", Request::Queue(QueueRequest::Ack { id, name: name.to_owned() }), ok)
}

/// Queue NACK with a reason.
pub(crate) fn nack(name: &str, id: Uuid, reason: &str) -> Op<()> {
    let request = QueueRequest::Nack { id, name: name.to_owned(), reason: reason.to_owned() };
    Op::new("NACK", Request::Queue(request), ok)
}

/// Queue PURGE: how many were removed.
pub(crate) fn purge_queue(name: &str) -> Op<u32> {
    Op::new("PURGE", Request::Queue(QueueRequest::Purge { name: name.to_owned() }), count)
}

/// Stream CREATE.
pub(crate) fn create_stream(topic: &str, options: StreamOptions) -> Op<()> {
    Op::new("CREATE", Request::Stream(StreamRequest::Create { topic: topic.to_owned(), options }), ok)
}

/// Stream DELETE.
pub(crate) fn delete_stream(topic: &str) -> Op<()> {
    Op::new("DELETE", Request::Stream(StreamRequest::Delete { topic: topic.to_owned() }), ok)
}

/// Stream PUBLISH: the sequence.
pub(crate) fn stream_publish(topic: &str, payload: &[u8]) -> Op<u64> {
    let request =
        StreamRequest::Publish { topic: topic.to_owned(), payload: Bytes::copy_from_slice(payload) };
    Op::new("PUBLISH", Request::Stream(request), seq)
}

/// Stream JOIN: the membership.
pub(crate) fn join_group(topic: &str, group: &str) -> Op<GroupMember> {
    let request = StreamRequest::Join { group: group.to_owned(), topic: topic.to_owned() };
    Op::new("JOIN", Request::Stream(request), |command, request, reply| match (request, reply) {
        (
            Request::Stream(StreamRequest::Join { group, topic }),
            Reply::Joined { ack_floor, generation, consumer_id },
        ) => {
            Ok(GroupMember { topic: topic.clone(), group: group.clone(), consumer_id, generation, ack_floor })
        }
        (_, other) => Err(unexpected(command, &other)),
    })
}

/// Stream FETCH for `member`, long-polling up to `wait_ms`.
pub(crate) fn fetch(member: &GroupMember, limit: u32, wait_ms: u32) -> Op<Vec<StreamMessage>> {
    let request = Request::Stream(StreamRequest::Fetch {
        topic: member.topic.clone(),
        group: member.group.clone(),
        consumer_id: member.consumer_id.clone(),
        generation: member.generation,
        limit,
        wait_ms,
    });
    Op::new("FETCH", request, |command, _, reply| match reply {
        Reply::StreamMessages(messages) => Ok(messages),
        other => Err(unexpected(command, &other)),
    })
    .long_polling(Duration::from_millis(u64::from(wait_ms)))
}

/// Stream ACK of one sequence.
pub(crate) fn stream_ack(member: &GroupMember, seq_no: u64) -> Op<()> {
    let request = StreamRequest::Ack {
        topic: member.topic.clone(),
        group: member.group.clone(),
        consumer_id: member.consumer_id.clone(),
        generation: member.generation,
        seq: seq_no,
    };
    Op::new("ACK", Request::Stream(request), ok)
}

/// Stream ACK_BATCH: how many of `seqs` were pending with `member`.
pub(crate) fn stream_ack_batch(member: &GroupMember, seqs: &[u64]) -> Op<u32> {
    let request = StreamRequest::AckBatch {
        topic: member.topic.clone(),
        group: member.group.clone(),
        consumer_id: member.consumer_id.clone(),
        generation: member.generation,
        seqs: seqs.to_vec(),
    };
    Op::new("ACK_BATCH", Request::Stream(request), count)
}

/// Stream NACK of one sequence, redelivered after `delay_ms`.
pub(crate) fn stream_nack(member: &GroupMember, seq_no: u64, delay_ms: u64) -> Op<()> {
    let request = StreamRequest::Nack {
        topic: member.topic.clone(),
        group: member.group.clone(),
        consumer_id: member.consumer_id.clone(),
        generation: member.generation,
        seq: seq_no,
        delay_ms,
    };
    Op::new("NACK", Request::Stream(request), ok)
}

/// Stream LEAVE.
pub(crate) fn leave_group(member: &GroupMember) -> Op<()> {
    let request = StreamRequest::Leave {
        topic: member.topic.clone(),
        group: member.group.clone(),
        consumer_id: member.consumer_id.clone(),
        generation: member.generation,
    };
    Op::new("LEAVE", Request::Stream(request), ok)
}
