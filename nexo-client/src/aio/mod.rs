//! The async client on tokio: [`AsyncClient`] handles (cheap to clone, `Send + Sync`) share one
//! connection task ([`driver`]) that pipelines their requests, matches replies by id, routes
//! pushes to [`Subscription`] streams and reconnects with backoff. Typed helpers come from the
//! same operation table as the blocking [`crate::Client`]; this module only moves requests to
//! the task and replies back, with the per-request timeout.

mod backoff;
mod consumers;
mod driver;
mod options;
mod state;
mod subscription;
mod topic;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nexo_proto::options::{
    ConsumeOptions, PublishOptions, PushOptions, QueueOptions, SetOptions, StreamOptions,
};
use nexo_proto::reply::{QueueMessage, StreamMessage};
use nexo_proto::request::Request;
use nexo_proto::{Reply, ReplyKind, Uuid};
use tokio::net::ToSocketAddrs;
use tokio::sync::{mpsc, oneshot};

pub use backoff::Backoff;
pub use consumers::{GroupConsumer, GroupDelivery, QueueConsumer};
pub use options::{ClientOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PUSH_BUFFER, DEFAULT_QUEUE_DEPTH};
pub use subscription::Subscription;

use crate::codec::{decode_reply, expected_reply_kind};
use crate::error::{ClientError, Result};
use crate::ops::{self, Op};
use crate::stream::{GroupConsumerOptions, GroupMember};
use driver::{Command, Driver, ReplySender};
use state::Shared;

/// An async connection to a Nexo server, shared by every clone.
///
/// Clones are handles to one connection task; any number of tasks may call them at once and
/// their requests are pipelined, each reply going to the task that asked. When the connection
/// drops, the task reconnects with exponential backoff and jitter and subscribes again; a request
/// that was in flight fails with [`ClientError::ConnectionLost`] (it is never sent twice), and
/// requests made meanwhile wait for the new connection (within their timeout). The connection
/// closes when the last handle, [`Subscription`] and consumer stream is dropped.
///
/// # Quick start
///
/// ```no_run
/// use nexo_client::{AsyncClient, ConsumeOptions, PublishOptions, PushOptions, QueueOptions};
///
/// # async fn demo() -> nexo_client::Result<()> {
/// let client = AsyncClient::connect("127.0.0.1:7654").await?;
/// client.set("greeting", b"hello").await?;
///
/// // A subscription is a stream; any clone of the client can publish meanwhile.
/// let mut news = client.subscribe("news/#").await?;
/// client.clone().publish("news/today", b"sunny", PublishOptions::default()).await?;
/// let push = news.next().await;
///
/// // A queue consumer loop, restored after reconnects: ack what you handled.
/// client.create_queue("jobs", QueueOptions::default()).await?;
/// client.push("jobs", b"job", PushOptions::default()).await?;
/// let mut jobs = client.queue_consumer("jobs", ConsumeOptions::default());
/// while let Some(job) = jobs.next().await {
///     let job = job?;
///     client.ack("jobs", job.id).await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncClient {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    options: Arc<ClientOptions>,
}

impl AsyncClient {
    /// Connects to `addr` with the default [`ClientOptions`]. Must run inside a tokio runtime
    /// (the connection task is spawned on it).
    ///
    /// # Errors
    /// [`ClientError::Timeout`] after the connect timeout, or the I/O error of the first attempt
    /// (the first connection is not retried: a wrong address fails at once).
    pub async fn connect<A>(addr: A) -> Result<Self>
    where
        A: ToSocketAddrs + Clone + Send + Sync + 'static,
    {
        Self::connect_with(addr, ClientOptions::default()).await
    }

    /// Connects to `addr` with `options`.
    ///
    /// # Errors
    /// As [`AsyncClient::connect`].
    pub async fn connect_with<A>(addr: A, options: ClientOptions) -> Result<Self>
    where
        A: ToSocketAddrs + Clone + Send + Sync + 'static,
    {
        let stream = driver::establish(addr.clone(), &options).await?;
        let (commands, receiver) = mpsc::channel(options.queue_depth);
        let shared = Arc::new(Shared::default());
        let task = Driver::new(addr, options.clone(), Arc::clone(&shared), receiver);
        tokio::spawn(task.run(stream));
        Ok(Self { commands, shared, options: Arc::new(options) })
    }

    /// The options this client was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Whether the connection is up now (false while reconnecting).
    pub fn is_connected(&self) -> bool {
        self.shared.connected()
    }

    /// How many times the connection was made again after dropping.
    pub fn reconnects(&self) -> u64 {
        self.shared.reconnects()
    }

    /// The server's address on the current (or last) connection.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.peer()
    }

    // -----------------------------------------------------------------------------------------
    // Low level
    // -----------------------------------------------------------------------------------------

    /// Sends any request and returns its decoded reply (an `ERR` stays [`Reply::Err`]), within
    /// the request timeout.
    ///
    /// # Errors
    /// [`ClientError::Timeout`], [`ClientError::ConnectionLost`], [`ClientError::Protocol`] (a
    /// request too large to frame, or a reply that does not decode).
    pub async fn request(&self, request: Request) -> Result<Reply> {
        self.request_within(request, self.options.request_timeout).await
    }

    /// As [`AsyncClient::request`] with its own timeout (`None`: wait forever), for a long-poll
    /// sent by hand.
    ///
    /// # Errors
    /// As [`AsyncClient::request`].
    pub async fn request_within(&self, request: Request, timeout: Option<Duration>) -> Result<Reply> {
        let kind = expected_reply_kind(&request);
        self.round_trip(|reply| Command::Call { request, reply }, kind, timeout).await
    }

    /// Hands a command to the connection task and waits for the reply frame, decoded as `kind`.
    async fn round_trip<F>(&self, command: F, kind: ReplyKind, timeout: Option<Duration>) -> Result<Reply>
    where
        F: FnOnce(ReplySender) -> Command,
    {
        let (reply, answer) = oneshot::channel();
        let work = async {
            self.commands.send(command(reply)).await.map_err(|_| ClientError::Closed)?;
            let frame = answer.await.map_err(|_| ClientError::Closed)??;
            decode_reply(&frame, kind)
        };
        match timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.map_err(|_| ClientError::Timeout)?,
            None => work.await,
        }
    }

    /// Runs one typed operation, its long-poll wait added to the timeout.
    async fn run<T>(&self, op: Op<T>) -> Result<T> {
        let timeout = self.options.request_timeout.map(|t| t.saturating_add(op.long_poll()));
        let request = op.request().clone();
        let reply = self.round_trip(|reply| Command::Call { request, reply }, op.kind(), timeout).await?;
        op.finish(reply)
    }

    // -----------------------------------------------------------------------------------------
    // Store and Pub/Sub
    // -----------------------------------------------------------------------------------------

    /// ECHO: `data` back from the server (a ping).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn echo(&self, data: &[u8]) -> Result<Bytes> {
        self.run(ops::echo(data)).await
    }

    /// SET with the server's default TTL.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply (such as `OOM: …`) is [`ClientError::Server`].
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.run(ops::set(key, value, SetOptions::default())).await
    }

    /// SET with options (`ttl` in seconds, `persist`).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn set_with(&self, key: &str, value: &[u8], options: SetOptions) -> Result<()> {
        self.run(ops::set(key, value, options)).await
    }

    /// GET: the bytes, or `None` for a missing or expired key.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        self.run(ops::get(key)).await
    }

    /// DEL (succeeds also for a missing key).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn del(&self, key: &str) -> Result<()> {
        self.run(ops::del(key)).await
    }

    /// SETNX: `true` when it stored.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn set_nx(&self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        self.run(ops::set_nx(key, value, options)).await
    }

    /// INCRBY: the counter's new value.
    ///
    /// # Errors
    /// See [`ClientError`]; a non-integer value is [`ClientError::Server`].
    pub async fn incr_by(&self, key: &str, delta: i64) -> Result<i64> {
        self.run(ops::incr_by(key, delta)).await
    }

    /// EXPIRE in milliseconds: `false` for a missing key.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn expire(&self, key: &str, ttl_ms: u64) -> Result<bool> {
        self.run(ops::expire(key, ttl_ms)).await
    }

    /// TTL in milliseconds: `-1` without expiry, `-2` for a missing key.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn ttl(&self, key: &str) -> Result<i64> {
        self.run(ops::ttl(key)).await
    }

    /// PERSIST: `true` when the key had a TTL.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn persist(&self, key: &str) -> Result<bool> {
        self.run(ops::persist(key)).await
    }

    /// PUBLISH `payload` to the concrete `topic`.
    ///
    /// # Errors
    /// See [`ClientError`]; a wildcard topic is [`ClientError::Server`].
    pub async fn publish(&self, topic: &str, payload: &[u8], options: PublishOptions) -> Result<()> {
        self.run(ops::publish(topic, payload, options)).await
    }

    /// SUBSCRIBE to `pattern` (`+`, `#`, `$share/<group>/<filter>`): a stream of the pushes
    /// whose topic it matches, made again after each reconnect. Dropping the stream
    /// unsubscribes (unless another live subscription has the same pattern).
    ///
    /// # Errors
    /// See [`ClientError`]; an invalid pattern is [`ClientError::Server`].
    pub async fn subscribe(&self, pattern: &str) -> Result<Subscription> {
        let sub = self.shared.subscription_id();
        let (pushes, receiver) = mpsc::channel(self.options.push_buffer);
        // Made first, so that an early return unregisters it through its drop.
        let subscription = Subscription::new(pattern, sub, receiver, self.clone());
        let pattern = pattern.to_owned();
        let op = ops::subscribe(&pattern);
        let command = |reply| Command::Subscribe { sub, pattern, pushes, reply };
        let reply = self.round_trip(command, op.kind(), self.options.request_timeout).await?;
        op.finish(reply)?;
        Ok(subscription)
    }

    /// Tells the connection task that subscription `sub` is gone (from a drop: no waiting; if
    /// the queue is full, the task finds out at the next push for it).
    pub(crate) fn unsubscribe_dropped(&self, sub: u64) {
        let _ = self.commands.try_send(Command::Unsubscribe { sub });
    }

    // -----------------------------------------------------------------------------------------
    // Queue
    // -----------------------------------------------------------------------------------------

    /// CREATE a queue (idempotent).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn create_queue(&self, name: &str, options: QueueOptions) -> Result<()> {
        self.run(ops::create_queue(name, options)).await
    }

    /// DELETE a queue and everything in it.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn delete_queue(&self, name: &str) -> Result<()> {
        self.run(ops::delete_queue(name)).await
    }

    /// PUSH `payload` onto a queue.
    ///
    /// # Errors
    /// See [`ClientError`]; a missing or full queue is [`ClientError::Server`].
    pub async fn push(&self, name: &str, payload: &[u8], options: PushOptions) -> Result<()> {
        self.run(ops::push(name, payload, options)).await
    }

    /// CONSUME up to `batchSize` messages, long-polling up to `waitMs` (added to the timeout).
    /// The messages are leased to this connection: after a reconnect their ACK fails and they
    /// are delivered again.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn consume(&self, name: &str, options: ConsumeOptions) -> Result<Vec<QueueMessage>> {
        self.run(ops::consume(name, options)).await
    }

    /// ACK a consumed message.
    ///
    /// # Errors
    /// See [`ClientError`]; `ACK failed` (lease gone) is [`ClientError::Server`].
    pub async fn ack(&self, name: &str, id: Uuid) -> Result<()> {
        self.run(ops::ack(name, id)).await
    }

    /// NACK a consumed message with `reason` (retried, or dead-lettered at `maxRetries`).
    ///
    /// # Errors
    /// See [`ClientError`]; `NACK failed` is [`ClientError::Server`].
    pub async fn nack(&self, name: &str, id: Uuid, reason: &str) -> Result<()> {
        self.run(ops::nack(name, id, reason)).await
    }

    /// PURGE a queue's ready and delayed messages; how many went.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn purge_queue(&self, name: &str) -> Result<u32> {
        self.run(ops::purge_queue(name)).await
    }

    /// A stream of messages from queue `name`: a task long-polls CONSUME (`waitMs` missing →
    /// [`crate::CONSUME_LOOP_DEFAULT_WAIT_MS`]) and asks for the next batch only when the
    /// stream's reader has taken the last one (backpressure). It keeps going across reconnects;
    /// ack each message with [`AsyncClient::ack`].
    pub fn queue_consumer(&self, name: &str, options: ConsumeOptions) -> QueueConsumer {
        QueueConsumer::spawn(self.clone(), name, options)
    }

    // -----------------------------------------------------------------------------------------
    // Stream
    // -----------------------------------------------------------------------------------------

    /// CREATE a stream topic (idempotent).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn create_stream(&self, topic: &str, options: StreamOptions) -> Result<()> {
        self.run(ops::create_stream(topic, options)).await
    }

    /// DELETE a topic with its groups.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn delete_stream(&self, topic: &str) -> Result<()> {
        self.run(ops::delete_stream(topic)).await
    }

    /// PUBLISH to a stream topic: the message's sequence, once durable.
    ///
    /// # Errors
    /// See [`ClientError`]; `Topic not found` is [`ClientError::Server`].
    pub async fn stream_publish(&self, topic: &str, payload: &[u8]) -> Result<u64> {
        self.run(ops::stream_publish(topic, payload)).await
    }

    /// JOIN a consumer group.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn join_group(&self, topic: &str, group: &str) -> Result<GroupMember> {
        self.run(ops::join_group(topic, group)).await
    }

    /// FETCH up to `limit` messages for `member`, long-polling up to `wait_ms`.
    ///
    /// # Errors
    /// See [`ClientError`]; `FENCED` and `NOT_MEMBER` (join again) are [`ClientError::Server`].
    pub async fn fetch(&self, member: &GroupMember, limit: u32, wait_ms: u32) -> Result<Vec<StreamMessage>> {
        self.run(ops::fetch(member, limit, wait_ms)).await
    }

    /// ACK sequence `seq` for `member`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn stream_ack(&self, member: &GroupMember, seq: u64) -> Result<()> {
        self.run(ops::stream_ack(member, seq)).await
    }

    /// ACK_BATCH: how many of `seqs` were pending with `member`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn stream_ack_batch(&self, member: &GroupMember, seqs: &[u64]) -> Result<u32> {
        self.run(ops::stream_ack_batch(member, seqs)).await
    }

    /// NACK sequence `seq` for `member`, redelivered after `delay_ms`.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn stream_nack(&self, member: &GroupMember, seq: u64, delay_ms: u64) -> Result<()> {
        self.run(ops::stream_nack(member, seq, delay_ms)).await
    }

    /// LEAVE the group.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub async fn leave_group(&self, member: &GroupMember) -> Result<()> {
        self.run(ops::leave_group(member)).await
    }

    /// A stream of deliveries from consumer group `group` of `topic`: a task joins, long-polls
    /// FETCH and joins again on `FENCED`, `NOT_MEMBER` or a reconnect (membership ends with the
    /// connection). It fetches the next batch only when the reader has taken the last one; ack
    /// each delivery with [`AsyncClient::stream_ack`] and its `member`. Dropping the stream
    /// leaves the group.
    pub fn group_consumer(&self, topic: &str, group: &str, options: GroupConsumerOptions) -> GroupConsumer {
        GroupConsumer::spawn(self.clone(), topic, group, options)
    }
}
