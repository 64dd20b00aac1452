//! Typed helpers for the Stream broker on [`Client`], and a group-consumer loop.
//!
//! Every helper sends one request and waits for its reply; an `ERR` reply becomes
//! [`ClientError::Server`] with the server's text (except [`Client::stream_exists`], which turns
//! a `not found` error into `false`). FETCH long-polls: its reply may take `wait_ms` longer than
//! the client's timeout, so [`Client::fetch`] waits that much more. The consumer loop
//! ([`Client::consume_group`]) joins, fetches with a long-poll, nacks each message the handler
//! refuses, acks the accepted ones of a batch with one ACK_BATCH, and re-joins at once on
//! `FENCED` or `NOT_MEMBER` (a seek, a restart of the server, or its own connection's membership
//! ending). This module does no socket I/O of its own; it builds requests and interprets replies.

use std::thread;
use std::time::Duration;

use nexo_proto::Reply;
use nexo_proto::options::StreamOptions;
use nexo_proto::reply::{StreamDeadLetter, StreamGroupInfo, StreamMessage, StreamTopicInfo};
use nexo_proto::request::{Request, StreamRequest};

use crate::client::Client;
use crate::codec::{expect_ok as ok, expect_seq as seq, server_err, unexpected};
use crate::error::{ClientError, Result};
use crate::ops;

/// Long-poll wait of [`Client::consume_group`] when the options give none (as the v1 SDKs).
pub const GROUP_CONSUMER_DEFAULT_WAIT_MS: u32 = 20_000;

/// Messages per FETCH of [`Client::consume_group`] when the options give none.
pub const GROUP_CONSUMER_DEFAULT_LIMIT: u32 = 100;

/// Pause of [`Client::consume_group`] after an empty batch when it polls without waiting.
const EMPTY_POLL_PAUSE: Duration = Duration::from_millis(50);

/// A membership in a consumer group, as JOIN answered: what FETCH, ACK, NACK and LEAVE name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Topic.
    pub topic: String,
    /// Group.
    pub group: String,
    /// The member id the server chose.
    pub consumer_id: String,
    /// The group's generation when joining (a seek bumps it; requests with an older one are
    /// `FENCED`).
    pub generation: u64,
    /// Everything up to this sequence was acknowledged (or dead-lettered) when joining.
    pub ack_floor: u64,
}

/// Where SEEK moves a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeekTarget {
    /// The oldest retained message.
    Beginning,
    /// After the newest message.
    End,
}

/// Settings of [`Client::consume_group`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupConsumerOptions {
    /// Messages per FETCH (default [`GROUP_CONSUMER_DEFAULT_LIMIT`]).
    pub limit: u32,
    /// Long-poll wait per FETCH in milliseconds (default [`GROUP_CONSUMER_DEFAULT_WAIT_MS`]).
    pub wait_ms: u32,
    /// Delay before a message the handler refused is redelivered (default 0: at once).
    pub nack_delay_ms: u64,
}

impl Default for GroupConsumerOptions {
    fn default() -> Self {
        Self {
            limit: GROUP_CONSUMER_DEFAULT_LIMIT,
            wait_ms: GROUP_CONSUMER_DEFAULT_WAIT_MS,
            nack_delay_ms: 0,
        }
    }
}

/// What a [`Client::consume_group`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupConsumerStats {
    /// FETCH requests answered.
    pub batches: u64,
    /// Messages the handler accepted and that were acked.
    pub acked: u64,
    /// Messages the handler refused and that were nacked.
    pub nacked: u64,
    /// JOINs after the first (on `FENCED` or `NOT_MEMBER`).
    pub rejoins: u64,
    /// Messages whose ACK or NACK did not take because they were no longer pending with this
    /// member (a NACK answered `seq N not pending` or `NOT_OWNER`, or a sequence the ACK_BATCH
    /// did not count: the ack wait had run out, so the message was or will be delivered again).
    pub lost: u64,
}

impl Client {
    /// CREATE a topic (idempotent: an existing topic keeps its retention).
    ///
    /// # Errors
    /// See [`ClientError`]; `Invalid name: …` and other ERR replies are [`ClientError::Server`].
    pub fn create_stream(&mut self, topic: &str, options: StreamOptions) -> Result<()> {
        self.run(ops::create_stream(topic, options))
    }

    /// EXISTS: `true` when the topic exists, `false` when the server says it is not found.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply other than `not found` is [`ClientError::Server`].
    pub fn stream_exists(&mut self, topic: &str) -> Result<bool> {
        match self.stream_call(StreamRequest::Exists { topic: topic.to_owned() }) {
            Ok(reply) => ok("EXISTS", reply).map(|()| true),
            Err(ClientError::Server(text)) if text.contains("not found") => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// DELETE a topic with its groups (succeeds also for a missing topic). Its sequences are
    /// never reused by a topic created later under the same name.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn delete_stream(&mut self, topic: &str) -> Result<()> {
        self.run(ops::delete_stream(topic))
    }

    /// PUBLISH `payload` (with its SDK type tag, if any); returns its sequence once durable.
    ///
    /// # Errors
    /// See [`ClientError`]; `Topic not found` is [`ClientError::Server`].
    pub fn stream_publish(&mut self, topic: &str, payload: &[u8]) -> Result<u64> {
        self.run(ops::stream_publish(topic, payload))
    }

    /// JOIN a group (created at the oldest retained message on the first JOIN).
    ///
    /// # Errors
    /// See [`ClientError`]; `Topic not found` is [`ClientError::Server`].
    pub fn join_group(&mut self, topic: &str, group: &str) -> Result<GroupMember> {
        self.run(ops::join_group(topic, group))
    }

    /// FETCH up to `limit` messages for `member` (redeliveries first), long-polling up to
    /// `wait_ms` when none is ready (the reply is awaited for the client's timeout plus
    /// `wait_ms`). An empty batch also means the FETCH was ended early (LEAVE, seek, shutdown).
    ///
    /// # Errors
    /// See [`ClientError`]; `FENCED` and `NOT_MEMBER` (re-join), `Too many pending requests` are
    /// [`ClientError::Server`].
    pub fn fetch(&mut self, member: &GroupMember, limit: u32, wait_ms: u32) -> Result<Vec<StreamMessage>> {
        self.run(ops::fetch(member, limit, wait_ms))
    }

    /// ACK message `seq` delivered to `member`.
    ///
    /// # Errors
    /// See [`ClientError`]; `seq N not pending`, `NOT_OWNER`, `FENCED`, `NOT_MEMBER` are
    /// [`ClientError::Server`].
    pub fn stream_ack(&mut self, member: &GroupMember, seq: u64) -> Result<()> {
        self.run(ops::stream_ack(member, seq))
    }

    /// ACK_BATCH (extension): acknowledges every sequence of `seqs` that is pending with
    /// `member`, in one request; returns how many were. Sequences that are not pending with it
    /// (acked already, its ack wait ran out and another member has it, never delivered, named
    /// twice) are skipped, not errors. At most the server's FETCH maximum (1000) per call.
    ///
    /// # Errors
    /// See [`ClientError`]; `FENCED`, `NOT_MEMBER` and `Invalid ACK_BATCH: N seqs (max M)` are
    /// [`ClientError::Server`].
    pub fn stream_ack_batch(&mut self, member: &GroupMember, seqs: &[u64]) -> Result<u32> {
        self.run(ops::stream_ack_batch(member, seqs))
    }

    /// NACK (extension) message `seq` delivered to `member`: redelivered at once (`delay_ms` 0)
    /// or after the delay, or dead-lettered when it reached the server's delivery limit.
    ///
    /// # Errors
    /// As [`Client::stream_ack`].
    pub fn stream_nack(&mut self, member: &GroupMember, seq: u64, delay_ms: u64) -> Result<()> {
        self.run(ops::stream_nack(member, seq, delay_ms))
    }

    /// LEAVE the group: the member's pending messages go to the other members at once.
    ///
    /// # Errors
    /// See [`ClientError`]; `FENCED` and `NOT_MEMBER` are [`ClientError::Server`].
    pub fn leave_group(&mut self, member: &GroupMember) -> Result<()> {
        self.run(ops::leave_group(member))
    }

    /// SEEK a group to the beginning or the end (creating it if missing); its members must
    /// re-join (they are `FENCED`).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn seek_group(&mut self, topic: &str, group: &str, target: SeekTarget) -> Result<()> {
        let target = match target {
            SeekTarget::Beginning => 0,
            SeekTarget::End => 1,
        };
        ok(
            "SEEK",
            self.stream_call(StreamRequest::Seek {
                topic: topic.to_owned(),
                group: group.to_owned(),
                target,
            })?,
        )
    }

    /// SEEK_SEQ (extension): the group's next message is `seq` (clamped to the retained range);
    /// returns the sequence it will get first.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn seek_group_to_seq(&mut self, topic: &str, group: &str, seq_no: u64) -> Result<u64> {
        let request =
            StreamRequest::SeekSeq { topic: topic.to_owned(), group: group.to_owned(), seq: seq_no };
        seq("SEEK_SEQ", self.stream_call(request)?)
    }

    /// SEEK_TIME (extension): the group's next message is the first published at or after
    /// `timestamp_ms`; returns its sequence (the next sequence when there is none yet).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn seek_group_to_time(&mut self, topic: &str, group: &str, timestamp_ms: u64) -> Result<u64> {
        let request =
            StreamRequest::SeekTime { topic: topic.to_owned(), group: group.to_owned(), timestamp_ms };
        seq("SEEK_TIME", self.stream_call(request)?)
    }

    /// LIST_DLQ (extension): the number of dead letters of a group and a page of them by
    /// sequence, with their data.
    ///
    /// # Errors
    /// See [`ClientError`]; `Group not found` is [`ClientError::Server`].
    pub fn list_dead_letters(
        &mut self,
        topic: &str,
        group: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(u32, Vec<StreamDeadLetter>)> {
        let request =
            StreamRequest::ListDlq { topic: topic.to_owned(), group: group.to_owned(), offset, limit };
        match self.stream_call(request)? {
            Reply::StreamDeadLetters { total, messages } => Ok((total, messages)),
            other => Err(unexpected("LIST_DLQ", &other)),
        }
    }

    /// REPLAY_DLQ (extension): hands dead letter `seq` (or all of them with `None`) back to the
    /// group for redelivery; returns how many.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn replay_dead_letters(&mut self, topic: &str, group: &str, seq_no: Option<u64>) -> Result<u32> {
        let request = StreamRequest::ReplayDlq {
            topic: topic.to_owned(),
            group: group.to_owned(),
            seq: seq_no.unwrap_or(0),
        };
        match self.stream_call(request)? {
            Reply::Count(n) => Ok(n),
            other => Err(unexpected("REPLAY_DLQ", &other)),
        }
    }

    /// DELETE_GROUP (extension): removes a group (succeeds also for a missing one).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn delete_group(&mut self, topic: &str, group: &str) -> Result<()> {
        let request = StreamRequest::DeleteGroup { topic: topic.to_owned(), group: group.to_owned() };
        ok("DELETE_GROUP", self.stream_call(request)?)
    }

    /// LIST_TOPICS (extension): the number of topics and a page of them by name.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn list_streams(&mut self, offset: u32, limit: u32) -> Result<(u32, Vec<StreamTopicInfo>)> {
        match self.stream_call(StreamRequest::ListTopics { offset, limit })? {
            Reply::StreamTopics { total, topics } => Ok((total, topics)),
            other => Err(unexpected("LIST_TOPICS", &other)),
        }
    }

    /// LIST_GROUPS (extension): the number of groups of a topic and a page of them by name,
    /// with ack floor, lag and pending counts.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn list_groups(
        &mut self,
        topic: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(u32, Vec<StreamGroupInfo>)> {
        match self.stream_call(StreamRequest::ListGroups { topic: topic.to_owned(), offset, limit })? {
            Reply::StreamGroups { total, groups } => Ok((total, groups)),
            other => Err(unexpected("LIST_GROUPS", &other)),
        }
    }

    /// Consumes `topic` as a member of `group` until `stop()` returns `true`: joins, fetches
    /// with a long-poll, hands each message to `handler`, nacks it (with
    /// [`GroupConsumerOptions::nack_delay_ms`]) at once on `Err(_)`, and acks the messages it
    /// accepted with one ACK_BATCH after the whole batch was handled. On `FENCED` or
    /// `NOT_MEMBER` it re-joins at once and goes on (messages of the batch not yet acked will
    /// be redelivered).
    /// `stop` is checked before each FETCH, so a whole batch is always finished first; the
    /// longest stop delay is one `wait_ms` plus one batch. On stopping it leaves the group, so
    /// the other members get what it still held at once.
    ///
    /// # Errors
    /// The first error other than a fencing, a lost message or a failed LEAVE (the loop stops
    /// there; its messages go to the other members when the ack wait runs out or the connection
    /// closes).
    pub fn consume_group<H, S>(
        &mut self,
        topic: &str,
        group: &str,
        options: GroupConsumerOptions,
        mut handler: H,
        stop: S,
    ) -> Result<GroupConsumerStats>
    where
        H: FnMut(&StreamMessage) -> std::result::Result<(), String>,
        S: Fn() -> bool,
    {
        let mut stats = GroupConsumerStats::default();
        let mut member = self.join_group(topic, group)?;
        while !stop() {
            let batch = match self.fetch(&member, options.limit, options.wait_ms) {
                Ok(batch) => batch,
                Err(ClientError::Server(text)) if is_fenced(&text) => {
                    member = self.join_group(topic, group)?;
                    stats.rejoins += 1;
                    continue;
                }
                Err(err) => return Err(err),
            };
            stats.batches += 1;
            if batch.is_empty() && options.wait_ms == 0 {
                thread::sleep(EMPTY_POLL_PAUSE);
            }
            let mut accepted = Vec::with_capacity(batch.len());
            let mut fenced = false;
            for message in &batch {
                if handler(message).is_ok() {
                    accepted.push(message.seq);
                    continue;
                }
                match self.stream_nack(&member, message.seq, options.nack_delay_ms) {
                    Ok(()) => stats.nacked += 1,
                    Err(ClientError::Server(text)) if is_fenced(&text) => {
                        fenced = true;
                        break;
                    }
                    Err(ClientError::Server(text))
                        if text == "NOT_OWNER" || text.ends_with("not pending") =>
                    {
                        stats.lost += 1;
                    }
                    Err(err) => return Err(err),
                }
            }
            if !fenced && !accepted.is_empty() {
                match self.stream_ack_batch(&member, &accepted) {
                    Ok(acked) => {
                        let acked = u64::from(acked);
                        stats.acked += acked;
                        stats.lost += (accepted.len() as u64).saturating_sub(acked);
                    }
                    Err(ClientError::Server(text)) if is_fenced(&text) => fenced = true,
                    Err(err) => return Err(err),
                }
            }
            if fenced {
                member = self.join_group(topic, group)?;
                stats.rejoins += 1;
            }
        }
        match self.leave_group(&member) {
            Err(ClientError::Server(_)) | Ok(()) => Ok(stats),
            Err(err) => Err(err),
        }
    }

    /// Sends a Stream request; `ERR` becomes [`ClientError::Server`].
    fn stream_call(&mut self, request: StreamRequest) -> Result<Reply> {
        server_err(self.request(&Request::Stream(request))?)
    }
}

/// `FENCED` or `NOT_MEMBER`: the membership is over, join again.
fn is_fenced(text: &str) -> bool {
    text == "FENCED" || text == "NOT_MEMBER"
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use bytes::{Bytes, BytesMut};
    use nexo_proto::{Inbound, decode_request_frame};

    use super::*;

    /// A fake server on one connection: `handler` answers each Stream request; requests are
    /// logged.
    fn fake<H>(mut handler: H) -> (SocketAddr, Arc<Mutex<Vec<StreamRequest>>>)
    where
        H: FnMut(StreamRequest) -> Reply + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = BytesMut::new();
            let mut chunk = vec![0u8; 16 * 1024];
            loop {
                let n = match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut out = BytesMut::new();
                while let Ok(Some(Inbound::Request { id, request: Request::Stream(request) })) =
                    decode_request_frame(&mut buf, 1 << 20)
                {
                    seen.lock().unwrap().push(request.clone());
                    handler(request).encode(id, &mut out);
                }
                if conn.write_all(&out).is_err() {
                    return;
                }
            }
        });
        (addr, log)
    }

    fn message(seq: u64) -> StreamMessage {
        StreamMessage { seq, timestamp_ms: 7, payload: Bytes::from(vec![seq as u8]) }
    }

    fn joined(generation: u64) -> Reply {
        Reply::Joined { ack_floor: 3, generation, consumer_id: format!("member-{generation}") }
    }

    #[test]
    fn helpers_map_replies() {
        let (addr, log) = fake(|request| match request {
            StreamRequest::Exists { topic } if topic == "yes" => Reply::Ok,
            StreamRequest::Exists { .. } => Reply::Err("Stream not found".into()),
            StreamRequest::Publish { .. } => Reply::Seq(41),
            StreamRequest::Join { .. } => joined(2),
            StreamRequest::Fetch { .. } => Reply::StreamMessages(vec![message(4)]),
            StreamRequest::SeekSeq { seq, .. } => Reply::Seq(seq),
            StreamRequest::SeekTime { .. } => Reply::Seq(9),
            StreamRequest::ReplayDlq { .. } => Reply::Count(2),
            StreamRequest::ListDlq { .. } => Reply::StreamDeadLetters { total: 5, messages: Vec::new() },
            StreamRequest::ListTopics { .. } => Reply::StreamTopics { total: 1, topics: Vec::new() },
            StreamRequest::ListGroups { .. } => Reply::StreamGroups { total: 2, groups: Vec::new() },
            StreamRequest::Ack { seq: 5, .. } => Reply::Err("seq 5 not pending".into()),
            StreamRequest::AckBatch { seqs, .. } => {
                Reply::Count(seqs.iter().filter(|&&s| s != 5).count() as u32)
            }
            _ => Reply::Ok,
        });
        let mut client = Client::connect(addr).unwrap();
        client.create_stream("t", StreamOptions::default()).unwrap();
        assert!(client.stream_exists("yes").unwrap());
        assert!(!client.stream_exists("no").unwrap());
        assert_eq!(client.stream_publish("t", b"\x01hi").unwrap(), 41);
        let member = client.join_group("t", "g").unwrap();
        assert_eq!((member.generation, member.ack_floor, member.consumer_id.as_str()), (2, 3, "member-2"));
        assert_eq!(client.fetch(&member, 10, 0).unwrap(), vec![message(4)]);
        client.stream_ack(&member, 4).unwrap();
        assert!(
            matches!(client.stream_ack(&member, 5), Err(ClientError::Server(t)) if t == "seq 5 not pending")
        );
        assert_eq!(client.stream_ack_batch(&member, &[4, 5, 6]).unwrap(), 2);
        assert_eq!(client.stream_ack_batch(&member, &[]).unwrap(), 0);
        client.stream_nack(&member, 4, 100).unwrap();
        client.seek_group("t", "g", SeekTarget::End).unwrap();
        assert_eq!(client.seek_group_to_seq("t", "g", 12).unwrap(), 12);
        assert_eq!(client.seek_group_to_time("t", "g", 1).unwrap(), 9);
        assert_eq!(client.replay_dead_letters("t", "g", None).unwrap(), 2);
        assert_eq!(client.list_dead_letters("t", "g", 0, 10).unwrap(), (5, Vec::new()));
        assert_eq!(client.list_streams(0, 10).unwrap(), (1, Vec::new()));
        assert_eq!(client.list_groups("t", 0, 10).unwrap(), (2, Vec::new()));
        client.delete_group("t", "g").unwrap();
        client.leave_group(&member).unwrap();
        client.delete_stream("t").unwrap();
        let log = log.lock().unwrap();
        assert!(log.contains(&StreamRequest::Seek { topic: "t".into(), group: "g".into(), target: 1 }));
        assert!(log.contains(&StreamRequest::ReplayDlq { topic: "t".into(), group: "g".into(), seq: 0 }));
        assert!(log.contains(&StreamRequest::Nack {
            topic: "t".into(),
            group: "g".into(),
            consumer_id: "member-2".into(),
            generation: 2,
            seq: 4,
            delay_ms: 100
        }));
        assert!(log.contains(&StreamRequest::AckBatch {
            topic: "t".into(),
            group: "g".into(),
            consumer_id: "member-2".into(),
            generation: 2,
            seqs: vec![4, 5, 6]
        }));
    }

    #[test]
    fn fetch_waits_past_the_client_timeout_by_wait_ms() {
        let (addr, _) = fake(|request| match request {
            StreamRequest::Fetch { .. } => {
                thread::sleep(Duration::from_millis(300));
                Reply::StreamMessages(vec![message(1)])
            }
            _ => joined(1),
        });
        let mut client = Client::connect(addr).unwrap();
        client.set_timeout(Some(Duration::from_millis(100))).unwrap();
        let member = client.join_group("t", "g").unwrap();
        assert_eq!(client.fetch(&member, 1, 1_000).unwrap(), vec![message(1)]);
        assert_eq!(client.timeout(), Some(Duration::from_millis(100)), "restored");
    }

    #[test]
    fn consume_group_acks_nacks_rejoins_and_leaves() {
        let joins = Arc::new(AtomicUsize::new(0));
        let counter = joins.clone();
        let mut fetches = 0;
        let (addr, log) = fake(move |request| match request {
            StreamRequest::Join { .. } => joined(counter.fetch_add(1, Ordering::SeqCst) as u64 + 1),
            StreamRequest::Fetch { generation: 1, .. } => {
                fetches += 1;
                if fetches == 1 {
                    Reply::StreamMessages(vec![message(1), message(2)])
                } else {
                    Reply::Err("FENCED".into())
                }
            }
            StreamRequest::Fetch { .. } => Reply::StreamMessages(vec![message(3), message(4)]),
            // 4 is no longer pending with this member: the batch counts only 3.
            StreamRequest::AckBatch { seqs, .. } => {
                Reply::Count(seqs.iter().filter(|&&s| s != 4).count() as u32)
            }
            StreamRequest::Ack { .. } => Reply::Err("one ACK_BATCH per batch, no single ACKs".into()),
            _ => Reply::Ok,
        });
        let mut client = Client::connect(addr).unwrap();
        let calls = AtomicUsize::new(0);
        let stats = client
            .consume_group(
                "t",
                "g",
                GroupConsumerOptions { limit: 10, wait_ms: 5, nack_delay_ms: 0 },
                |m| if m.seq == 2 { Err("bad".into()) } else { Ok(()) },
                || calls.fetch_add(1, Ordering::SeqCst) >= 3,
            )
            .unwrap();
        assert_eq!(stats, GroupConsumerStats { batches: 2, acked: 2, nacked: 1, rejoins: 1, lost: 1 });
        assert_eq!(joins.load(Ordering::SeqCst), 2);
        let log = log.lock().unwrap();
        assert!(matches!(log.last(), Some(StreamRequest::Leave { generation: 2, .. })), "{log:?}");
        let acks: Vec<(u64, &[u64])> = log
            .iter()
            .filter_map(|r| match r {
                StreamRequest::AckBatch { generation, seqs, .. } => Some((*generation, &seqs[..])),
                _ => None,
            })
            .collect();
        assert_eq!(
            acks,
            [(1, &[1][..]), (2, &[3, 4][..])],
            "one ACK_BATCH per batch, the refused 2 left out"
        );
        let nacks = log.iter().filter(|r| matches!(r, StreamRequest::Nack { seq: 2, .. })).count();
        assert_eq!(nacks, 1);
    }

    #[test]
    fn consume_group_rejoins_when_its_ack_batch_is_fenced() {
        let joins = Arc::new(AtomicUsize::new(0));
        let counter = joins.clone();
        let (addr, _) = fake(move |request| match request {
            StreamRequest::Join { .. } => joined(counter.fetch_add(1, Ordering::SeqCst) as u64 + 1),
            StreamRequest::Fetch { generation: 1, .. } => Reply::StreamMessages(vec![message(1), message(2)]),
            StreamRequest::Fetch { .. } => Reply::StreamMessages(vec![message(3)]),
            StreamRequest::AckBatch { generation: 1, .. } => Reply::Err("FENCED".into()),
            StreamRequest::AckBatch { seqs, .. } => Reply::Count(seqs.len() as u32),
            _ => Reply::Ok,
        });
        let mut client = Client::connect(addr).unwrap();
        let calls = AtomicUsize::new(0);
        let stats = client
            .consume_group(
                "t",
                "g",
                GroupConsumerOptions { limit: 10, wait_ms: 5, nack_delay_ms: 0 },
                |_| Ok(()),
                || calls.fetch_add(1, Ordering::SeqCst) >= 2,
            )
            .unwrap();
        assert_eq!(stats, GroupConsumerStats { batches: 2, acked: 1, nacked: 0, rejoins: 1, lost: 0 });
        assert_eq!(joins.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn consume_group_stops_on_other_errors() {
        let (addr, _) = fake(|_| Reply::Err("Topic not found".into()));
        let mut client = Client::connect(addr).unwrap();
        let result = client.consume_group("t", "g", GroupConsumerOptions::default(), |_| Ok(()), || false);
        assert!(matches!(result, Err(ClientError::Server(text)) if text.contains("not found")));
    }
}
