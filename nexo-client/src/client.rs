//! The blocking [`Client`]: one `TcpStream`, request ids, reply correlation, push queueing and
//! pipelining. It owns all socket I/O of the crate; the bytes themselves are `nexo-proto`'s.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use nexo_proto::frame::RawFrame;
use nexo_proto::options::{PublishOptions, SetOptions};
use nexo_proto::request::{Request, StoreRequest};
use nexo_proto::{DEFAULT_MAX_FRAME_BYTES, Push, Reply, ReplyKind};

use crate::codec::{
    Inbound, RequestIds, decode_reply, encode_request, expected_reply_kind, next_inbound, server_err,
    unexpected,
};
use crate::error::{ClientError, Result};
use crate::ops::{self, Op};

/// Wait for a reply this long unless [`Client::set_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes read from the socket per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// Shortest socket read timeout (a zero timeout would mean "block forever" to the OS).
const MIN_READ_WAIT: Duration = Duration::from_micros(1);

/// Keys examined per SCAN step in [`Client::scan_all`].
const SCAN_ALL_COUNT: u32 = 512;

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
    pub(crate) ids: RequestIds,
    pushes: VecDeque<Push>,
    stashed: HashMap<u32, RawFrame>,
    timeout: Option<Duration>,
    max_frame_bytes: u32,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("peer", &self.stream.peer_addr().ok())
            .field("ids", &self.ids)
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
            ids: RequestIds::new(),
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
    /// than it plus [`REPLY_SLACK_BYTES`](crate::REPLY_SLACK_BYTES) are refused with
    /// [`ClientError::Protocol`] before they
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
        let id = self.ids.take();
        encode_request(request, id, &mut self.write_buf)?;
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
        self.recv_reply_until(id, kind, self.deadline(self.timeout))
    }

    fn recv_reply_until(&mut self, id: u32, kind: ReplyKind, deadline: Option<Instant>) -> Result<Reply> {
        loop {
            if let Some(frame) = self.stashed.remove(&id) {
                return decode_reply(&frame, kind);
            }
            if let Some(reply) = self.read_reply(deadline)? {
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
            let id = self.ids.take();
            encode_request(request, id, &mut wire)?;
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
            match self.read_reply(deadline) {
                Ok(Some(reply)) => {
                    self.stashed.insert(reply.header.id, reply);
                }
                Ok(None) => {}
                Err(ClientError::Timeout) => return Ok(None),
                Err(err) => return Err(err),
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
        self.run(ops::echo(data))
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
        self.run(ops::set(key, value, options))
    }

    /// GET: the stored bytes, or `None` when the key is missing or expired.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn get(&mut self, key: &str) -> Result<Option<Bytes>> {
        self.run(ops::get(key))
    }

    /// DEL (succeeds also for a missing key).
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn del(&mut self, key: &str) -> Result<()> {
        self.run(ops::del(key))
    }

    /// SETNX: stores only when no live key exists; `true` when it stored.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn set_nx(&mut self, key: &str, value: &[u8], options: SetOptions) -> Result<bool> {
        self.run(ops::set_nx(key, value, options))
    }

    /// INCRBY: adds `delta` to a counter (missing counts as 0) and returns the new value.
    ///
    /// # Errors
    /// See [`ClientError`]; a non-integer value is [`ClientError::Server`].
    pub fn incr_by(&mut self, key: &str, delta: i64) -> Result<i64> {
        self.run(ops::incr_by(key, delta))
    }

    /// EXPIRE: sets a TTL in milliseconds; `false` when the key does not exist.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn expire(&mut self, key: &str, ttl_ms: u64) -> Result<bool> {
        self.run(ops::expire(key, ttl_ms))
    }

    /// TTL in milliseconds; `-1` for a key without expiry, `-2` for a missing key.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn ttl(&mut self, key: &str) -> Result<i64> {
        self.run(ops::ttl(key))
    }

    /// PERSIST: removes a key's TTL; `true` when there was one.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn persist(&mut self, key: &str) -> Result<bool> {
        self.run(ops::persist(key))
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
        crate::codec::expect_ok("MSET", self.call(Request::Store(StoreRequest::MSet { options, pairs }))?)
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
        self.run(ops::publish(topic, payload, options))
    }

    /// SUBSCRIBE to a pattern (`+`, `#` wildcards, `$share/<group>/<filter>`). Matching retained
    /// messages and later publishes arrive through [`Client::next_push`].
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn subscribe(&mut self, pattern: &str) -> Result<()> {
        self.run(ops::subscribe(pattern))
    }

    /// UNSUBSCRIBE a pattern as it was subscribed (succeeds also when not subscribed).
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply is [`ClientError::Server`].
    pub fn unsubscribe(&mut self, pattern: &str) -> Result<()> {
        self.run(ops::unsubscribe(pattern))
    }

    // -----------------------------------------------------------------------------------------
    // Internals
    // -----------------------------------------------------------------------------------------

    fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        // A timeout too large to add to the clock means "never".
        timeout.and_then(|t| Instant::now().checked_add(t))
    }

    /// [`Client::request`] with `ERR` turned into [`ClientError::Server`].
    pub(crate) fn call(&mut self, request: Request) -> Result<Reply> {
        server_err(self.request(&request)?)
    }

    /// Runs one typed operation: sends it, waits for its reply (a long-poll's wait longer than
    /// the timeout) and reads the value.
    pub(crate) fn run<T>(&mut self, op: Op<T>) -> Result<T> {
        let id = self.send(op.request())?;
        self.flush()?;
        let wait = self.timeout.map(|t| t.saturating_add(op.long_poll()));
        let deadline = self.deadline(wait);
        let reply = self.recv_reply_until(id, op.kind(), deadline)?;
        op.finish(reply)
    }

    /// The next frame read, with a push queued (`None`) and a reply handed back.
    fn read_reply(&mut self, deadline: Option<Instant>) -> Result<Option<RawFrame>> {
        loop {
            match next_inbound(&mut self.read_buf, self.max_frame_bytes)? {
                Some(Inbound::Reply(frame)) => return Ok(Some(frame)),
                Some(Inbound::Push(push)) => {
                    self.pushes.push_back(push);
                    return Ok(None);
                }
                None => self.fill(deadline)?,
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

fn key_bytes(key: &str) -> Bytes {
    Bytes::copy_from_slice(key.as_bytes())
}
