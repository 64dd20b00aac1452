//! The blocking [`Client`]: one `TcpStream`, request ids, reply correlation, push queueing and
//! pipelining. It owns all socket I/O of the crate; the bytes themselves are `nexo-proto`'s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use nexo_proto::frame::{FrameType, RawFrame, split_frame};
use nexo_proto::options::{PublishOptions, SetOptions};
use nexo_proto::request::{PubSubRequest, QueueRequest, Request, StoreRequest, StreamRequest};
use nexo_proto::{DEFAULT_MAX_FRAME_BYTES, Push, Reply, ReplyKind};

use crate::error::{ClientError, Result};

/// Wait for a reply this long unless [`Client::set_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Replies may exceed the server's frame limit by this much (a batch reply always carries at
/// least one message, so it can pass the limit by one message's framing).
pub const REPLY_SLACK_BYTES: u32 = 64 * 1024;

/// Bytes read from the socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// Shortest socket read timeout (a zero timeout would mean "block forever" to the OS).
const MIN_READ_WAIT: Duration = Duration::from_micros(1);

/// Keys examined per SCAN step in [`Client::scan_all`].
const SCAN_ALL_COUNT: u32 = 512;

/// The DATA layout the server answers `request` with, for [`Reply::decode`].
///
/// Requests answered `OK`, `NULL` or `ERR` only report [`ReplyKind::Data`] (the status byte
/// decides those replies, whatever the kind).
pub fn expected_reply_kind(request: &Request) -> ReplyKind {
    match request {
        Request::Echo(_) => ReplyKind::Data,
        Request::Store(r) => match r {
            StoreRequest::Set { .. } | StoreRequest::Get { .. } | StoreRequest::Del { .. } => ReplyKind::Data,
            StoreRequest::MSet { .. } => ReplyKind::Data,
            StoreRequest::SetNx { .. } | StoreRequest::Expire { .. } | StoreRequest::Persist { .. } => {
                ReplyKind::Flag
            }
            StoreRequest::IncrBy { .. } | StoreRequest::Ttl { .. } => ReplyKind::Int,
            StoreRequest::MGet { .. } => ReplyKind::Values,
            StoreRequest::Scan { .. } | StoreRequest::Keys { .. } => ReplyKind::Keys,
            StoreRequest::SetExt { .. }
            | StoreRequest::GetDel { .. }
            | StoreRequest::GetEx { .. }
            | StoreRequest::Rename { .. }
            | StoreRequest::Flush
            | StoreRequest::Info => ReplyKind::Data,
            StoreRequest::ExpireAt { .. } | StoreRequest::ExpireExt { .. } => ReplyKind::Flag,
            StoreRequest::DelCount { .. }
            | StoreRequest::Exists { .. }
            | StoreRequest::Append { .. }
            | StoreRequest::Strlen { .. }
            | StoreRequest::DbSize => ReplyKind::Int,
        },
        Request::Queue(r) => match r {
            QueueRequest::Create { .. }
            | QueueRequest::Push { .. }
            | QueueRequest::Ack { .. }
            | QueueRequest::Exists { .. }
            | QueueRequest::Delete { .. }
            | QueueRequest::Nack { .. }
            | QueueRequest::Extend { .. }
            | QueueRequest::NackDelay { .. } => ReplyKind::Data,
            QueueRequest::Purge { .. } => ReplyKind::Count,
            QueueRequest::List { .. } => ReplyKind::QueueList,
            QueueRequest::Consume { .. } => ReplyKind::QueueMessages,
            QueueRequest::PeekDlq { .. } => ReplyKind::DlqPage,
            QueueRequest::MoveToQueue { .. } | QueueRequest::DeleteDlq { .. } => ReplyKind::Flag,
            QueueRequest::PurgeDlq { .. } => ReplyKind::Count,
        },
        Request::PubSub(r) => match r {
            PubSubRequest::Publish { .. }
            | PubSubRequest::Subscribe { .. }
            | PubSubRequest::Unsubscribe { .. }
            | PubSubRequest::SubscribeChannel { .. }
            | PubSubRequest::UnsubscribeChannel { .. }
            | PubSubRequest::SubscribeGlob { .. }
            | PubSubRequest::UnsubscribeGlob { .. } => ReplyKind::Data,
            PubSubRequest::PublishCount { .. } => ReplyKind::Int,
        },
        Request::Stream(r) => match r {
            StreamRequest::Publish { .. }
            | StreamRequest::SeekSeq { .. }
            | StreamRequest::SeekTime { .. } => ReplyKind::Seq,
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
        },
    }
}

/// A blocking connection to a Nexo server speaking the v1 binary protocol.
///
/// Requests get ids `1, 2, 3, …` (wrapping, never `0`). Replies are matched by id, so replies
/// that arrive before they are asked for are kept until [`Client::recv_reply`] asks, and pushes
/// that arrive while waiting for a reply are queued for [`Client::next_push`]; nothing is lost.
/// A reply nobody asks for stays stashed for the life of the connection.
///
/// After an error other than [`ClientError::Server`] the connection may be out of step (a frame
/// half written or half read); open a new client.
pub struct Client {
    pub(crate) stream: TcpStream,
    read_buf: BytesMut,
    write_buf: BytesMut,
    scratch: Box<[u8]>,
    pub(crate) next_id: u32,
    pushes: VecDeque<Push>,
    stashed: HashMap<u32, RawFrame>,
    timeout: Option<Duration>,
    max_frame_bytes: u32,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.stream.peer_addr().ok())
            .field("next_id", &self.next_id)
            .field("buffered_read_bytes", &self.read_buf.len())
            .field("buffered_write_bytes", &self.write_buf.len())
            .field("queued_pushes", &self.pushes.len())
            .field("stashed_replies", &self.stashed.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    /// Connects to `addr`, turns on `TCP_NODELAY` and sets the default timeout (10 s).
    ///
    /// # Errors
    /// [`ClientError::Io`] (or `Timeout`/`Closed`) when the connection cannot be made.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut client = Self {
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::new(),
            scratch: vec![0u8; READ_CHUNK].into_boxed_slice(),
            next_id: 1,
            pushes: VecDeque::new(),
            stashed: HashMap::new(),
            timeout: None,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
        };
        client.set_timeout(Some(DEFAULT_TIMEOUT))?;
        Ok(client)
    }

    /// Sets how long a call waits for each reply (and for a blocked write); `None` waits forever.
    ///
    /// # Errors
    /// [`ClientError::Io`] for a zero duration or a socket error.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.stream.set_write_timeout(timeout).map_err(ClientError::Io)?;
        self.timeout = timeout;
        Ok(())
    }

    /// The current wait limit per reply.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Sets the server's frame limit this client expects (default 10 MiB): reply frames larger
    /// than it plus [`REPLY_SLACK_BYTES`] are refused with [`ClientError::Protocol`] before they
    /// are buffered.
    pub fn set_max_frame_bytes(&mut self, max: u32) {
        self.max_frame_bytes = max;
    }

    /// The local address of the connection.
    ///
    /// # Errors
    /// A socket error.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.stream.local_addr()?)
    }

    /// The server's address.
    ///
    /// # Errors
    /// A socket error.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        Ok(self.stream.peer_addr()?)
    }

    // -----------------------------------------------------------------------------------------
    // Low level: send, flush, receive, pipeline, pushes
    // -----------------------------------------------------------------------------------------

    /// Encodes `request` into the write buffer (nothing is sent until [`Client::flush`]) and
    /// returns its id for [`Client::recv_reply`].
    ///
    /// # Errors
    /// [`ClientError::Protocol`] for a request too large for any frame (nothing is buffered).
    pub fn send(&mut self, request: &Request) -> Result<u32> {
        let id = self.take_id();
        request.try_encode(id, &mut self.write_buf).map_err(|err| ClientError::Protocol(err.to_string()))?;
        Ok(id)
    }

    /// Writes every buffered request to the socket.
    ///
    /// Many megabytes of requests flushed at once can block when the server stops reading
    /// because its replies are not being read; use [`Client::pipeline`] for large batches.
    ///
    /// # Errors
    /// I/O errors, [`ClientError::Closed`], or [`ClientError::Timeout`] when the write blocked for
    /// longer than the timeout.
    pub fn flush(&mut self) -> Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let result = self.stream.write_all(&self.write_buf);
        self.write_buf.clear();
        Ok(result?)
    }

    /// Waits for the reply to request `id` and decodes it as `kind`.
    ///
    /// Replies to other ids are kept for later calls and pushes are queued. An `ERR` reply is
    /// returned as `Ok(Reply::Err(text))`.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when nothing arrives within the timeout, [`ClientError::Closed`],
    /// [`ClientError::Protocol`] for a frame that breaks the protocol, I/O errors.
    pub fn recv_reply(&mut self, id: u32, kind: ReplyKind) -> Result<Reply> {
        let deadline = self.deadline(self.timeout);
        loop {
            if let Some(frame) = self.stashed.remove(&id) {
                return decode_reply(&frame, kind);
            }
            let frame = self.read_frame(deadline)?;
            if let Some(reply) = self.route(frame)? {
                if reply.header.id == id {
                    return decode_reply(&reply, kind);
                }
                self.stashed.insert(reply.header.id, reply);
            }
        }
    }

    /// Sends one request and waits for its reply, decoded with [`expected_reply_kind`]. An `ERR`
    /// reply is `Ok(Reply::Err(text))`.
    ///
    /// # Errors
    /// As [`Client::flush`] and [`Client::recv_reply`].
    pub fn request(&mut self, request: &Request) -> Result<Reply> {
        let id = self.send(request)?;
        self.flush()?;
        self.recv_reply(id, expected_reply_kind(request))
    }

    /// Sends all `requests` and returns their replies in request order.
    ///
    /// A helper thread writes on a clone of the socket while this thread reads replies, so any
    /// number of requests goes through without both sides blocking on full socket buffers.
    /// Requests buffered by [`Client::send`] are written first (their replies stay stashed for
    /// [`Client::recv_reply`]).
    ///
    /// # Errors
    /// As [`Client::request`]. After an error the connection is shut down if the writer was
    /// still blocked, so it cannot hang; open a new client.
    pub fn pipeline(&mut self, requests: &[Request]) -> Result<Vec<Reply>> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let mut wire = std::mem::take(&mut self.write_buf);
        let mut expected = Vec::with_capacity(requests.len());
        for request in requests {
            let id = self.take_id();
            request.try_encode(id, &mut wire).map_err(|err| ClientError::Protocol(err.to_string()))?;
            expected.push((id, expected_reply_kind(request)));
        }
        let mut writer = self.stream.try_clone()?;
        std::thread::scope(|scope| {
            let written = scope.spawn(move || writer.write_all(&wire));
            let mut replies = Vec::with_capacity(expected.len());
            let mut failure = None;
            for (id, kind) in expected {
                match self.recv_reply(id, kind) {
                    Ok(reply) => replies.push(reply),
                    Err(err) => {
                        failure = Some(err);
                        break;
                    }
                }
            }
            if failure.is_some() && !written.is_finished() {
                // The writer may be blocked on a server that stopped reading: unblock it. The
                // shutdown's own error does not matter, the pipeline has failed already.
                let _ = self.stream.shutdown(Shutdown::Both);
            }
            let write_result = written
                .join()
                .map_err(|_| ClientError::Protocol("the pipeline writer thread panicked".to_owned()))?;
            match (failure, write_result) {
                (Some(err), _) => Err(err),
                (None, Err(err)) => Err(err.into()),
                (None, Ok(())) => Ok(replies),
            }
        })
    }

    /// Returns the oldest queued push, or waits up to `timeout` for one; `Ok(None)` when none
    /// arrived in time. Replies arriving meanwhile are stashed for [`Client::recv_reply`].
    ///
    /// # Errors
    /// [`ClientError::Closed`], [`ClientError::Protocol`], I/O errors.
    pub fn next_push(&mut self, timeout: Duration) -> Result<Option<Push>> {
        let deadline = self.deadline(Some(timeout));
        loop {
            if let Some(push) = self.pushes.pop_front() {
                return Ok(Some(push));
            }
            let frame = match self.read_frame(deadline) {
                Ok(frame) => frame,
                Err(ClientError::Timeout) => return Ok(None),
                Err(err) => return Err(err),
            };
            if let Some(reply) = self.route(frame)? {
                self.stashed.insert(reply.header.id, reply);
            }
        }
    }

    /// Number of pushes received and not yet taken by [`Client::next_push`].
    pub fn queued_pushes(&self) -> usize {
        self.pushes.len()
    }

    // -----------------------------------------------------------------------------------------
    // Typed helpers: ERR becomes ClientError::Server
    // -----------------------------------------------------------------------------------------

    /// ECHO: the server returns `data` unchanged (a ping).
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn echo(&mut self, data: &[u8]) -> Result<Bytes> {
        match self.call(Request::Echo(Bytes::copy_from_slice(data)))? {
            Reply::Data(bytes) => Ok(bytes),
            other => Err(unexpected("ECHO", &other)),
        }
    }

    /// SET with the server's default TTL.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply (such as `OOM: …`) is [`ClientError::Server`].
    pub fn set(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.set_with(key, value, SetOptions::default())
    }

    /// SET with options (`ttl` in seconds, `persist`).
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn set_with(&mut self, key: &str, value: &[u8], options: SetOptions) -> Result<()> {
        let request =
            StoreRequest::Set { key: key_bytes(key), options, value: Bytes::copy_from_slice(value) };
        expect_ok("SET", self.call(Request::Store(request))?)
    }

    /// GET: the stored bytes, or `None` when the key is missing or expired.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn get(&mut self, key: &str) -> Result<Option<Bytes>> {
        match self.call(Request::Store(StoreRequest::Get { key: key_bytes(key) }))? {
            Reply::Data(bytes) => Ok(Some(bytes)),
            Reply::Null => Ok(None),
            other => Err(unexpected("GET", &other)),
        }
    }

    /// DEL (succeeds also for a missing key).
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn del(&mut self, key: &str) -> Result<()> {
        expect_ok("DEL", self.call(Request::Store(StoreRequest::Del { key: key_bytes(key) }))?)
    }

    /// SETNX: stores only when no live key exists; `true` when it stored.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn set_nx(&mut self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        let request =
            StoreRequest::SetNx { key: key_bytes(key), options, value: Bytes::copy_from_slice(value) };
        expect_flag("SETNX", self.call(Request::Store(request))?)
    }

    /// INCRBY: adds `delta` to a counter (missing counts as 0) and returns the new value.
    ///
    /// # Errors
    /// See [`ClientError`]; a non-integer value is [`ClientError::Server`].
    pub fn incr_by(&mut self, key: &str, delta: i64) -> Result<i64> {
        expect_int("INCRBY", self.call(Request::Store(StoreRequest::IncrBy { key: key_bytes(key), delta }))?)
    }

    /// EXPIRE: sets a TTL in milliseconds; `false` when the key does not exist.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn expire(&mut self, key: &str, ttl_ms: u64) -> Result<bool> {
        expect_flag(
            "EXPIRE",
            self.call(Request::Store(StoreRequest::Expire { key: key_bytes(key), ttl_ms }))?,
        )
    }

    /// TTL in milliseconds; `-1` for a key without expiry, `-2` for a missing key.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn ttl(&mut self, key: &str) -> Result<i64> {
        expect_int("TTL", self.call(Request::Store(StoreRequest::Ttl { key: key_bytes(key) }))?)
    }

    /// PERSIST: removes a key's TTL; `true` when there was one.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn persist(&mut self, key: &str) -> Result<bool> {
        expect_flag("PERSIST", self.call(Request::Store(StoreRequest::Persist { key: key_bytes(key) }))?)
    }

    /// MGET: one entry per key, in order (`None` for missing keys).
    ///
    /// # Errors
    /// See [`ClientError`]; a reply with a different number of values is
    /// [`ClientError::Protocol`].
    pub fn mget(&mut self, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let request = StoreRequest::MGet { keys: keys.iter().map(|k| key_bytes(k)).collect() };
        match self.call(Request::Store(request))? {
            Reply::Values(values) if values.len() == keys.len() => Ok(values),
            Reply::Values(values) => Err(ClientError::Protocol(format!(
                "MGET of {} keys answered {} values",
                keys.len(),
                values.len()
            ))),
            other => Err(unexpected("MGET", &other)),
        }
    }

    /// MSET: stores every pair with the same options (all or none).
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn mset(&mut self, pairs: &[(&str, &[u8])], options: SetOptions) -> Result<()> {
        let pairs = pairs.iter().map(|(k, v)| (key_bytes(k), Bytes::copy_from_slice(v))).collect();
        expect_ok("MSET", self.call(Request::Store(StoreRequest::MSet { options, pairs }))?)
    }

    /// One SCAN step: keys matching the glob `pattern` among about `count` slots from `cursor`,
    /// and the cursor for the next step (`0` when the scan is complete). Keys that are not UTF-8
    /// (written over RESP) are converted lossily.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn scan(&mut self, cursor: u64, pattern: &str, count: u32) -> Result<(u64, Vec<String>)> {
        let request = StoreRequest::Scan { cursor, pattern: pattern.to_owned(), count };
        match self.call(Request::Store(request))? {
            Reply::Keys { cursor, keys } => {
                Ok((cursor, keys.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect()))
            }
            other => Err(unexpected("SCAN", &other)),
        }
    }

    /// Every key matching `pattern`: SCAN steps from cursor 0 until the cursor is 0 again. A key
    /// reported twice by the scan is listed once, in the order first seen.
    ///
    /// # Errors
    /// As [`Client::scan`].
    pub fn scan_all(&mut self, pattern: &str) -> Result<Vec<String>> {
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        let mut cursor = 0;
        loop {
            let (next, keys) = self.scan(cursor, pattern, SCAN_ALL_COUNT)?;
            all.extend(keys.into_iter().filter(|k| seen.insert(k.clone())));
            if next == 0 {
                return Ok(all);
            }
            cursor = next;
        }
    }

    /// PUBLISH `payload` to the concrete `topic`.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply (wildcards, `$share/`) is [`ClientError::Server`].
    pub fn publish(&mut self, topic: &str, payload: &[u8], options: PublishOptions) -> Result<()> {
        let request = PubSubRequest::Publish {
            topic: topic.to_owned(),
            options,
            payload: Bytes::copy_from_slice(payload),
        };
        expect_ok("PUBLISH", self.call(Request::PubSub(request))?)
    }

    /// SUBSCRIBE to a pattern (`+`, `#` wildcards, `$share/<group>/<filter>`). Matching retained
    /// messages and later publishes arrive through [`Client::next_push`].
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn subscribe(&mut self, pattern: &str) -> Result<()> {
        let request = PubSubRequest::Subscribe { pattern: pattern.to_owned() };
        expect_ok("SUBSCRIBE", self.call(Request::PubSub(request))?)
    }

    /// UNSUBSCRIBE a pattern as it was subscribed (succeeds also when not subscribed).
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn unsubscribe(&mut self, pattern: &str) -> Result<()> {
        let request = PubSubRequest::Unsubscribe { pattern: pattern.to_owned() };
        expect_ok("UNSUBSCRIBE", self.call(Request::PubSub(request))?)
    }

    // -----------------------------------------------------------------------------------------
    // Internals
    // -----------------------------------------------------------------------------------------

    fn take_id(&mut self) -> u32 {
        let id = self.next_id;
        // Ids wrap but skip 0, the id of pushes.
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        id
    }

    fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        // A timeout too large to add to the clock means "never".
        timeout.and_then(|t| Instant::now().checked_add(t))
    }

    /// [`Client::request`] with `ERR` turned into [`ClientError::Server`].
    pub(crate) fn call(&mut self, request: Request) -> Result<Reply> {
        server_err(self.request(&request)?)
    }

    /// Queues a push and hands back a response; any other frame type breaks the protocol.
    fn route(&mut self, frame: RawFrame) -> Result<Option<RawFrame>> {
        match FrameType::from_byte(frame.header.frame_type) {
            Some(FrameType::Response) => Ok(Some(frame)),
            Some(FrameType::Push) => {
                let push = Push::decode(&frame.payload)
                    .map_err(|e| ClientError::Protocol(format!("bad push frame: {e}")))?;
                self.pushes.push_back(push);
                Ok(None)
            }
            Some(FrameType::Request) | None => Err(ClientError::Protocol(format!(
                "unexpected frame type 0x{:02X} from the server",
                frame.header.frame_type
            ))),
        }
    }

    /// The next whole frame: from the read buffer if one is there, else read until one is.
    fn read_frame(&mut self, deadline: Option<Instant>) -> Result<RawFrame> {
        let limit = self.max_frame_bytes.saturating_add(REPLY_SLACK_BYTES);
        loop {
            match split_frame(&mut self.read_buf, limit) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => self.fill(deadline)?,
                Err(too_large) => {
                    return Err(ClientError::Protocol(format!(
                        "frame too large: {} bytes (max {limit})",
                        too_large.header.payload_len
                    )));
                }
            }
        }
    }

    /// One `read` into the buffer, waiting until `deadline`. Once the deadline has passed it
    /// still takes what the socket already holds (a minimal wait, so a zero wait is a poll),
    /// then times out. It never switches the socket to non-blocking mode: that flag is shared
    /// with the writer thread of [`Client::pipeline`].
    fn fill(&mut self, deadline: Option<Instant>) -> Result<()> {
        let wait = deadline.map(|d| d.saturating_duration_since(Instant::now()).max(MIN_READ_WAIT));
        self.stream.set_read_timeout(wait)?;
        let n = loop {
            match self.stream.read(&mut self.scratch) {
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        if n == 0 {
            return Err(ClientError::Closed);
        }
        self.read_buf.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }
}

fn decode_reply(frame: &RawFrame, kind: ReplyKind) -> Result<Reply> {
    Reply::decode(frame.header.meta, &frame.payload, kind)
        .map_err(|e| ClientError::Protocol(format!("reply to request {}: {e}", frame.header.id)))
}

fn key_bytes(key: &str) -> Bytes {
    Bytes::copy_from_slice(key.as_bytes())
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
