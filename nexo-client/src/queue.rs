//! Typed helpers for the Queue broker on [`Client`], and a long-poll consumer loop.
//!
//! Every helper sends one request and waits for its reply; an `ERR` reply becomes
//! [`ClientError::Server`] with the server's text (except [`Client::queue_exists`], which turns a
//! `not found` error into `false`). CONSUME long-polls: its reply may take `waitMs` longer than
//! the client's timeout, so [`Client::consume`] waits that much more. This module does no socket
//! I/O of its own; it builds requests and interprets replies.

use std::thread;
use std::time::Duration;

use nexo_proto::Reply;
use nexo_proto::Uuid;
use nexo_proto::options::{ConsumeOptions, PushOptions, QueueOptions};
use nexo_proto::reply::{DlqMessage, QueueInfo, QueueMessage};
use nexo_proto::request::{QueueRequest, Request};

use crate::client::Client;
use crate::codec::{expect_count as count, expect_flag as flag, expect_ok as ok, server_err, unexpected};
use crate::error::{ClientError, Result};
use crate::ops;

/// Long-poll wait [`Client::consume_loop`] uses when the options give none (as the v1 SDKs).
pub const CONSUME_LOOP_DEFAULT_WAIT_MS: u64 = 20_000;

/// Pause of [`Client::consume_loop`] after an empty batch when it polls without waiting.
const EMPTY_POLL_PAUSE: Duration = Duration::from_millis(50);

/// What a [`Client::consume_loop`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConsumeLoopStats {
    /// CONSUME requests answered.
    pub batches: u64,
    /// Messages the handler accepted and that were acked.
    pub acked: u64,
    /// Messages the handler refused and that were nacked with its error text.
    pub nacked: u64,
    /// Messages whose ACK or NACK the server refused (`ACK failed` / `NACK failed`: the lease had
    /// run out, so the message was or will be delivered again).
    pub lost_leases: u64,
}

impl Client {
    /// CREATE a queue (idempotent: an existing queue keeps its options).
    ///
    /// # Errors
    /// See [`ClientError`]; `Invalid name: …` and other ERR replies are [`ClientError::Server`].
    pub fn create_queue(&mut self, name: &str, options: QueueOptions) -> Result<()> {
        self.run(ops::create_queue(name, options))
    }

    /// EXISTS: `true` when the queue exists, `false` when the server says it is not found.
    ///
    /// # Errors
    /// See [`ClientError`]; an ERR reply other than `not found` is [`ClientError::Server`].
    pub fn queue_exists(&mut self, name: &str) -> Result<bool> {
        match self.queue_call(QueueRequest::Exists { name: name.to_owned() }) {
            Ok(reply) => ok("EXISTS", reply).map(|()| true),
            Err(ClientError::Server(text)) if text.contains("not found") => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// DELETE a queue and everything in it (succeeds also for a missing queue).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn delete_queue(&mut self, name: &str) -> Result<()> {
        self.run(ops::delete_queue(name))
    }

    /// PUSH `payload` (with its SDK type tag, if any: the server keeps the bytes as they are).
    ///
    /// # Errors
    /// See [`ClientError`]; a missing queue (`… not found. Create it first.`) or a full one
    /// (`Queue '<name>' is full`) is [`ClientError::Server`].
    pub fn push(&mut self, name: &str, payload: &[u8], options: PushOptions) -> Result<()> {
        self.run(ops::push(name, payload, options))
    }

    /// CONSUME up to `batchSize` messages, long-polling up to `waitMs` when none is ready (the
    /// reply is awaited for the client's timeout plus `waitMs`). Each message is leased to this
    /// connection until acked, nacked, its lease runs out or the connection closes.
    ///
    /// # Errors
    /// See [`ClientError`]; `Too many pending requests` and a missing queue are
    /// [`ClientError::Server`].
    pub fn consume(&mut self, name: &str, options: ConsumeOptions) -> Result<Vec<QueueMessage>> {
        self.run(ops::consume(name, options))
    }

    /// ACK a message this connection consumed.
    ///
    /// # Errors
    /// See [`ClientError`]; `ACK failed` (not leased by this connection, e.g. its lease ran out)
    /// is [`ClientError::Server`].
    pub fn ack(&mut self, name: &str, id: Uuid) -> Result<()> {
        self.run(ops::ack(name, id))
    }

    /// NACK a message this connection consumed: retried at the tail of its priority, or moved to
    /// the dead-letter queue with `reason` once its deliveries reach the queue's `maxRetries`.
    ///
    /// # Errors
    /// See [`ClientError`]; `NACK failed` is [`ClientError::Server`].
    pub fn nack(&mut self, name: &str, id: Uuid, reason: &str) -> Result<()> {
        self.run(ops::nack(name, id, reason))
    }

    /// NACK_DELAY (extension): as [`Client::nack`], but a retry becomes ready only after
    /// `delay_ms`.
    ///
    /// # Errors
    /// See [`ClientError`]; `NACK failed` is [`ClientError::Server`].
    pub fn nack_delay(&mut self, name: &str, id: Uuid, reason: &str, delay_ms: u64) -> Result<()> {
        let request =
            QueueRequest::NackDelay { id, name: name.to_owned(), reason: reason.to_owned(), delay_ms };
        ok("NACK_DELAY", self.queue_call(request)?)
    }

    /// EXTEND (extension): the lease of a message this connection holds now ends `ms` from now.
    ///
    /// # Errors
    /// See [`ClientError`]; `EXTEND failed` is [`ClientError::Server`].
    pub fn extend_lease(&mut self, name: &str, id: Uuid, ms: u64) -> Result<()> {
        ok("EXTEND", self.queue_call(QueueRequest::Extend { id, name: name.to_owned(), ms })?)
    }

    /// PURGE (extension): removes ready and delayed messages (not leased or dead ones); returns
    /// how many.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn purge_queue(&mut self, name: &str) -> Result<u32> {
        self.run(ops::purge_queue(name))
    }

    /// LIST (extension): the total number of queues and a page of them by name, with ready,
    /// in-flight, delayed and dead counts (`limit` clamped by the server to 1000).
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn list_queues(&mut self, offset: u32, limit: u32) -> Result<(u32, Vec<QueueInfo>)> {
        match self.queue_call(QueueRequest::List { offset, limit })? {
            Reply::QueueList { total, queues } => Ok((total, queues)),
            other => Err(unexpected("LIST", &other)),
        }
    }

    /// PEEK_DLQ: the number of dead messages and a page of them, newest failure first.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn peek_dlq(&mut self, name: &str, limit: u32, offset: u32) -> Result<(u32, Vec<DlqMessage>)> {
        match self.queue_call(QueueRequest::PeekDlq { name: name.to_owned(), limit, offset })? {
            Reply::DlqPage { total, messages } => Ok((total, messages)),
            other => Err(unexpected("PEEK_DLQ", &other)),
        }
    }

    /// MOVE_TO_QUEUE: a dead message is ready again with attempts 0; `false` when it was not in
    /// the dead-letter queue.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn move_to_queue(&mut self, name: &str, id: Uuid) -> Result<bool> {
        flag("MOVE_TO_QUEUE", self.queue_call(QueueRequest::MoveToQueue { name: name.to_owned(), id })?)
    }

    /// DELETE_DLQ: removes one dead message; `false` when it was not there.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn delete_dlq(&mut self, name: &str, id: Uuid) -> Result<bool> {
        flag("DELETE_DLQ", self.queue_call(QueueRequest::DeleteDlq { name: name.to_owned(), id })?)
    }

    /// PURGE_DLQ: removes every dead message; returns how many.
    ///
    /// # Errors
    /// See [`ClientError`].
    pub fn purge_dlq(&mut self, name: &str) -> Result<u32> {
        count("PURGE_DLQ", self.queue_call(QueueRequest::PurgeDlq { name: name.to_owned() })?)
    }

    /// Consumes `name` until `stop()` returns `true`: long-polls with `options` (`waitMs`
    /// missing → [`CONSUME_LOOP_DEFAULT_WAIT_MS`]), hands each message to `handler`, acks it on
    /// `Ok(())` and nacks it with the error text on `Err(text)`. `stop` is checked before each
    /// CONSUME, so a whole batch is always finished first; the longest stop delay is one
    /// `waitMs` plus one batch. An ACK or NACK refused because the lease ran out is counted in
    /// [`ConsumeLoopStats::lost_leases`], not returned as an error.
    ///
    /// # Errors
    /// The first error of a CONSUME, ACK or NACK other than a lost lease (the loop stops there;
    /// messages still leased return to the queue when their lease ends or the connection closes).
    pub fn consume_loop<H, S>(
        &mut self,
        name: &str,
        options: ConsumeOptions,
        mut handler: H,
        stop: S,
    ) -> Result<ConsumeLoopStats>
    where
        H: FnMut(&QueueMessage) -> std::result::Result<(), String>,
        S: Fn() -> bool,
    {
        let options = ConsumeOptions {
            wait_ms: Some(options.wait_ms.unwrap_or(CONSUME_LOOP_DEFAULT_WAIT_MS)),
            ..options
        };
        let mut stats = ConsumeLoopStats::default();
        while !stop() {
            let batch = self.consume(name, options)?;
            stats.batches += 1;
            if batch.is_empty() && options.wait_ms == Some(0) {
                thread::sleep(EMPTY_POLL_PAUSE);
            }
            for message in &batch {
                let outcome = match handler(message) {
                    Ok(()) => self.ack(name, message.id).map(|()| &mut stats.acked),
                    Err(text) => self.nack(name, message.id, &text).map(|()| &mut stats.nacked),
                };
                match outcome {
                    Ok(counter) => *counter += 1,
                    Err(ClientError::Server(text)) if text == "ACK failed" || text == "NACK failed" => {
                        stats.lost_leases += 1;
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(stats)
    }

    /// Sends a Queue request; `ERR` becomes [`ClientError::Server`].
    fn queue_call(&mut self, request: QueueRequest) -> Result<Reply> {
        server_err(self.request(&Request::Queue(request))?)
    }
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

    /// A fake server on one connection: `handler` answers each request (or holds it, returning
    /// `None`); requests are logged.
    fn fake<H>(mut handler: H) -> (SocketAddr, Arc<Mutex<Vec<QueueRequest>>>)
    where
        H: FnMut(QueueRequest) -> Option<Reply> + Send + 'static,
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
                while let Ok(Some(Inbound::Request { id, request: Request::Queue(request) })) =
                    decode_request_frame(&mut buf, 1 << 20)
                {
                    seen.lock().unwrap().push(request.clone());
                    if let Some(reply) = handler(request) {
                        reply.encode(id, &mut out);
                    }
                }
                if conn.write_all(&out).is_err() {
                    return;
                }
            }
        });
        (addr, log)
    }

    fn message(n: u8) -> QueueMessage {
        QueueMessage { id: [n; 16], payload: Bytes::from(vec![n]) }
    }

    #[test]
    fn helpers_map_replies() {
        let (addr, log) = fake(|request| {
            Some(match request {
                QueueRequest::Exists { name } if name == "yes" => Reply::Ok,
                QueueRequest::Exists { .. } => Reply::Err("Queue not found".into()),
                QueueRequest::Push { .. } => Reply::Err("Queue 'q' is full".into()),
                QueueRequest::MoveToQueue { .. } => Reply::Flag(true),
                QueueRequest::PurgeDlq { .. } | QueueRequest::Purge { .. } => Reply::Count(3),
                QueueRequest::List { .. } => Reply::QueueList { total: 7, queues: Vec::new() },
                _ => Reply::Ok,
            })
        });
        let mut client = Client::connect(addr).unwrap();
        assert!(client.queue_exists("yes").unwrap());
        assert!(!client.queue_exists("no").unwrap());
        match client.push("q", b"x", PushOptions::default()) {
            Err(ClientError::Server(text)) => assert_eq!(text, "Queue 'q' is full"),
            other => panic!("{other:?}"),
        }
        assert!(client.move_to_queue("q", [1; 16]).unwrap());
        assert_eq!(client.purge_dlq("q").unwrap(), 3);
        assert_eq!(client.purge_queue("q").unwrap(), 3);
        assert_eq!(client.list_queues(0, 10).unwrap(), (7, Vec::new()));
        client.create_queue("q", QueueOptions::default()).unwrap();
        client.extend_lease("q", [2; 16], 500).unwrap();
        client.nack_delay("q", [2; 16], "later", 100).unwrap();
        assert!(matches!(client.move_to_queue("q", [1; 16]), Ok(true)));
        assert!(matches!(client.delete_dlq("q", [1; 16]), Err(ClientError::Protocol(_))), "OK is not a flag");
        let log = log.lock().unwrap();
        assert!(log.contains(&QueueRequest::Extend { id: [2; 16], name: "q".into(), ms: 500 }));
    }

    #[test]
    fn consume_waits_past_the_client_timeout_by_wait_ms() {
        let held = Arc::new(AtomicUsize::new(0));
        let counter = held.clone();
        let (addr, _) = fake(move |request| match request {
            QueueRequest::Consume { .. } => {
                // Answer late: from a thread that sleeps longer than the client timeout.
                counter.fetch_add(1, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(300));
                Some(Reply::QueueMessages(vec![message(1)]))
            }
            _ => Some(Reply::Ok),
        });
        let mut client = Client::connect(addr).unwrap();
        client.set_timeout(Some(Duration::from_millis(100))).unwrap();
        let options = ConsumeOptions { batch_size: Some(1), wait_ms: Some(1_000) };
        assert_eq!(client.consume("q", options).unwrap(), vec![message(1)]);
        assert_eq!(client.timeout(), Some(Duration::from_millis(100)), "restored");
        assert_eq!(held.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn consume_loop_acks_nacks_and_stops() {
        let mut batches = vec![vec![message(1), message(2), message(3)], vec![message(4)]].into_iter();
        let (addr, log) = fake(move |request| {
            Some(match request {
                QueueRequest::Consume { .. } => Reply::QueueMessages(batches.next().unwrap_or_default()),
                QueueRequest::Ack { id, .. } if id == [3; 16] => Reply::Err("ACK failed".into()),
                _ => Reply::Ok,
            })
        });
        let mut client = Client::connect(addr).unwrap();
        let calls = AtomicUsize::new(0);
        let stats = client
            .consume_loop(
                "jobs",
                ConsumeOptions { batch_size: Some(10), wait_ms: None },
                |m| if m.payload[0] == 2 { Err("bad input".to_owned()) } else { Ok(()) },
                || calls.fetch_add(1, Ordering::SeqCst) >= 2,
            )
            .unwrap();
        assert_eq!(stats, ConsumeLoopStats { batches: 2, acked: 2, nacked: 1, lost_leases: 1 });
        let log = log.lock().unwrap();
        assert_eq!(
            log[0],
            QueueRequest::Consume {
                name: "jobs".into(),
                options: ConsumeOptions { batch_size: Some(10), wait_ms: Some(CONSUME_LOOP_DEFAULT_WAIT_MS) }
            }
        );
        assert!(log.contains(&QueueRequest::Nack {
            id: [2; 16],
            name: "jobs".into(),
            reason: "bad input".into()
        }));
    }

    #[test]
    fn consume_loop_stops_on_other_errors() {
        let (addr, _) = fake(|_| Some(Reply::Err("Queue 'jobs' not found".into())));
        let mut client = Client::connect(addr).unwrap();
        let result = client.consume_loop("jobs", ConsumeOptions::default(), |_| Ok(()), || false);
        assert!(matches!(result, Err(ClientError::Server(text)) if text.contains("not found")));
    }
}
