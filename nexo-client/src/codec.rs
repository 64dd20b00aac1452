//! The codec both clients share: which reply layout each request gets (the request table), the
//! split of inbound frames into replies and pushes, reply decoding, and the checks that turn a
//! decoded [`Reply`] into a typed value. It does no I/O; the blocking [`crate::Client`] and the
//! async [`crate::AsyncClient`] only move the bytes it reads and writes.

use bytes::BytesMut;
use nexo_proto::frame::{FrameType, RawFrame, split_frame};
use nexo_proto::request::{PubSubRequest, QueueRequest, Request, StoreRequest, StreamRequest};
use nexo_proto::{Push, Reply, ReplyKind};

use crate::error::{ClientError, Result};

/// Replies may exceed the server's frame limit by this much (a batch reply always carries at
/// least one message, so it can pass the limit by one message's framing).
pub const REPLY_SLACK_BYTES: u32 = 64 * 1024;

/// The DATA layout the server answers `request` with, for [`Reply::decode`].
///
/// Requests answered `OK`, `NULL` or `ERR` only report [`ReplyKind::Data`] (the status byte
/// decides those replies, whatever the kind).
pub fn expected_reply_kind(request: &Request) -> ReplyKind {
    match request {
        Request::Echo(_) => ReplyKind::Data,
        Request::Store(r) => store_kind(r),
        Request::Queue(r) => queue_kind(r),
        Request::PubSub(r) => match r {
            PubSubRequest::PublishCount { .. } => ReplyKind::Int,
            _ => ReplyKind::Data,
        },
        Request::Stream(r) => stream_kind(r),
    }
}

fn store_kind(request: &StoreRequest) -> ReplyKind {
    match request {
        StoreRequest::SetNx { .. }
        | StoreRequest::Expire { .. }
        | StoreRequest::Persist { .. }
        | StoreRequest::ExpireAt { .. }
        | StoreRequest::ExpireExt { .. } => ReplyKind::Flag,
        StoreRequest::IncrBy { .. }
        | StoreRequest::Ttl { .. }
        | StoreRequest::DelCount { .. }
        | StoreRequest::Exists { .. }
        | StoreRequest::Append { .. }
        | StoreRequest::Strlen { .. }
        | StoreRequest::DbSize => ReplyKind::Int,
        StoreRequest::MGet { .. } => ReplyKind::Values,
        StoreRequest::Exec { .. } => ReplyKind::Replies,
        StoreRequest::Watch { .. } | StoreRequest::Unwatch => ReplyKind::Data,
        StoreRequest::Scan { .. } | StoreRequest::Keys { .. } => ReplyKind::Keys,
        StoreRequest::Set { .. }
        | StoreRequest::Get { .. }
        | StoreRequest::Del { .. }
        | StoreRequest::MSet { .. }
        | StoreRequest::SetExt { .. }
        | StoreRequest::GetDel { .. }
        | StoreRequest::GetEx { .. }
        | StoreRequest::Rename { .. }
        | StoreRequest::Flush
        | StoreRequest::Info => ReplyKind::Data,
    }
}

fn queue_kind(request: &QueueRequest) -> ReplyKind {
    match request {
        QueueRequest::Purge { .. } | QueueRequest::PurgeDlq { .. } => ReplyKind::Count,
        QueueRequest::List { .. } => ReplyKind::QueueList,
        QueueRequest::Consume { .. } => ReplyKind::QueueMessages,
        QueueRequest::PeekDlq { .. } => ReplyKind::DlqPage,
        QueueRequest::MoveToQueue { .. } | QueueRequest::DeleteDlq { .. } => ReplyKind::Flag,
        QueueRequest::Create { .. }
        | QueueRequest::Push { .. }
        | QueueRequest::Ack { .. }
        | QueueRequest::Exists { .. }
        | QueueRequest::Delete { .. }
        | QueueRequest::Nack { .. }
        | QueueRequest::Extend { .. }
        | QueueRequest::NackDelay { .. } => ReplyKind::Data,
    }
}

fn stream_kind(request: &StreamRequest) -> ReplyKind {
    match request {
        StreamRequest::Publish { .. } | StreamRequest::SeekSeq { .. } | StreamRequest::SeekTime { .. } => {
            ReplyKind::Seq
        }
        StreamRequest::Fetch { .. } => ReplyKind::StreamMessages,
        StreamRequest::Join { .. } => ReplyKind::Joined,
        StreamRequest::ReplayDlq { .. } | StreamRequest::AckBatch { .. } => ReplyKind::Count,
        StreamRequest::ListDlq { .. } => ReplyKind::StreamDeadLetters,
        StreamRequest::ListTopics { .. } => ReplyKind::StreamTopics,
        StreamRequest::ListGroups { .. } => ReplyKind::StreamGroups,
        StreamRequest::Create { .. }
        | StreamRequest::Ack { .. }
        | StreamRequest::Exists { .. }
        | StreamRequest::Delete { .. }
        | StreamRequest::Seek { .. }
        | StreamRequest::Leave { .. }
        | StreamRequest::Nack { .. }
        | StreamRequest::DeleteGroup { .. } => ReplyKind::Data,
    }
}

/// A frame from the server, sorted: a reply to match by id, or a push for the subscribers.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A response frame; its header id names the request.
    Reply(RawFrame),
    /// A decoded push.
    Push(Push),
}

/// Request ids `1, 2, 3, …`, wrapping but skipping 0 (the id of pushes).
#[derive(Debug)]
pub(crate) struct RequestIds {
    next: u32,
}

impl RequestIds {
    /// Ids starting at 1.
    pub(crate) fn new() -> Self {
        Self { next: 1 }
    }

    /// Ids starting at `next` (tests of the wrap).
    #[cfg(test)]
    pub(crate) fn starting_at(next: u32) -> Self {
        Self { next }
    }

    /// The next id.
    pub(crate) fn take(&mut self) -> u32 {
        let id = self.next;
        self.next = self.next.checked_add(1).unwrap_or(1);
        id
    }
}

/// Encodes `request` with `id` at the end of `out`.
///
/// # Errors
/// [`ClientError::Protocol`] for a request too large for any frame; `out` is left as it was.
pub(crate) fn encode_request(request: &Request, id: u32, out: &mut BytesMut) -> Result<()> {
    request.try_encode(id, out).map_err(|err| ClientError::Protocol(err.to_string()))
}

/// Splits the next whole frame off `buf` and sorts it; `Ok(None)` while it is incomplete.
///
/// # Errors
/// [`ClientError::Protocol`] for a frame above `max_frame_bytes` plus [`REPLY_SLACK_BYTES`], a
/// push that does not decode, or a frame type the server must not send.
pub(crate) fn next_inbound(buf: &mut BytesMut, max_frame_bytes: u32) -> Result<Option<Inbound>> {
    let limit = max_frame_bytes.saturating_add(REPLY_SLACK_BYTES);
    let frame = match split_frame(buf, limit) {
        Ok(Some(frame)) => frame,
        Ok(None) => return Ok(None),
        Err(too_large) => {
            return Err(ClientError::Protocol(format!(
                "frame too large: {} bytes (max {limit})",
                too_large.header.payload_len
            )));
        }
    };
    match FrameType::from_byte(frame.header.frame_type) {
        Some(FrameType::Response) => Ok(Some(Inbound::Reply(frame))),
        Some(FrameType::Push) => Push::decode(&frame.payload)
            .map(|push| Some(Inbound::Push(push)))
            .map_err(|e| ClientError::Protocol(format!("bad push frame: {e}"))),
        Some(FrameType::Request) | None => Err(ClientError::Protocol(format!(
            "unexpected frame type 0x{:02X} from the server",
            frame.header.frame_type
        ))),
    }
}

/// Decodes a reply frame with the layout `kind`.
///
/// # Errors
/// [`ClientError::Protocol`] when the payload does not fit the layout.
pub(crate) fn decode_reply(frame: &RawFrame, kind: ReplyKind) -> Result<Reply> {
    Reply::decode(frame.header.meta, &frame.payload, kind)
        .map_err(|e| ClientError::Protocol(format!("reply to request {}: {e}", frame.header.id)))
}

/// An `ERR` reply as [`ClientError::Server`]; any other reply as it is.
pub(crate) fn server_err(reply: Reply) -> Result<Reply> {
    match reply {
        Reply::Err(text) => Err(ClientError::Server(text)),
        reply => Ok(reply),
    }
}

/// The error for a reply whose layout does not fit the command (shown shortened).
pub(crate) fn unexpected(command: &str, reply: &Reply) -> ClientError {
    let mut shown = format!("{reply:?}");
    if shown.len() > 120 {
        let cut = (0..=120).rev().find(|&i| shown.is_char_boundary(i)).unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    ClientError::Protocol(format!("unexpected reply to {command}: {shown}"))
}

/// `OK`, or the error for an unexpected reply.
pub(crate) fn expect_ok(command: &str, reply: Reply) -> Result<()> {
    match reply {
        Reply::Ok => Ok(()),
        other => Err(unexpected(command, &other)),
    }
}

/// `DATA u8`, or the error for an unexpected reply.
pub(crate) fn expect_flag(command: &str, reply: Reply) -> Result<bool> {
    match reply {
        Reply::Flag(flag) => Ok(flag),
        other => Err(unexpected(command, &other)),
    }
}

/// `DATA u32`, or the error for an unexpected reply.
pub(crate) fn expect_count(command: &str, reply: Reply) -> Result<u32> {
    match reply {
        Reply::Count(n) => Ok(n),
        other => Err(unexpected(command, &other)),
    }
}

/// `DATA i64`, or the error for an unexpected reply.
pub(crate) fn expect_int(command: &str, reply: Reply) -> Result<i64> {
    match reply {
        Reply::Int(value) => Ok(value),
        other => Err(unexpected(command, &other)),
    }
}

/// `DATA u64` (a stream sequence), or the error for an unexpected reply.
pub(crate) fn expect_seq(command: &str, reply: Reply) -> Result<u64> {
    match reply {
        Reply::Seq(n) => Ok(n),
        other => Err(unexpected(command, &other)),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use nexo_proto::Push;

    use super::*;

    #[test]
    fn ids_skip_zero_when_they_wrap() {
        let mut ids = RequestIds::starting_at(u32::MAX);
        assert_eq!(ids.take(), u32::MAX);
        assert_eq!(ids.take(), 1);
    }

    #[test]
    fn frames_are_sorted_into_replies_and_pushes() {
        let mut buf = BytesMut::new();
        Reply::Ok.encode(7, &mut buf);
        buf.extend_from_slice(&Push::encode_frame("a/b", b"hi"));
        let half = buf.split_off(buf.len() - 3);
        assert!(matches!(next_inbound(&mut buf, 1024), Ok(Some(Inbound::Reply(f))) if f.header.id == 7));
        assert!(matches!(next_inbound(&mut buf, 1024), Ok(None)), "the push is not whole yet");
        buf.unsplit(half);
        match next_inbound(&mut buf, 1024) {
            Ok(Some(Inbound::Push(push))) => assert_eq!(push.payload, Bytes::from_static(b"hi")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oversized_and_request_frames_break_the_protocol() {
        let mut buf = BytesMut::new();
        Reply::Data(Bytes::from(vec![0u8; REPLY_SLACK_BYTES as usize + 1])).encode(1, &mut buf);
        let err = next_inbound(&mut buf, 0);
        assert!(matches!(err, Err(ClientError::Protocol(text)) if text.contains("too large")));
        let mut buf = BytesMut::new();
        encode_request(&Request::Echo(Bytes::from_static(b"x")), 1, &mut buf).unwrap();
        assert!(
            matches!(next_inbound(&mut buf, 1024), Err(ClientError::Protocol(text)) if text.contains("frame type"))
        );
    }
}
