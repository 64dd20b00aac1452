//! The connection task of the async client: it alone owns the socket. It takes commands from
//! the client handles, gives each request an id and writes it (many at once: pipelining), reads
//! frames, hands each reply to the task that waits for it and each push to the subscriptions
//! whose filter matches, and reconnects with backoff when the connection drops: requests in
//! flight then fail with [`ClientError::ConnectionLost`] (never sent twice) and subscriptions
//! are made again on the new connection before any new request.
//!
//! Loop rule: after each read, every whole frame is dispatched before the next read; a push
//! waits for room in its subscription's buffer, so a subscriber that stops reading stops the
//! connection's reads too (backpressure all the way to the server). It never decodes a reply:
//! the waiting task does, with the request table of `codec`.

use std::collections::{BTreeMap, HashMap};

use bytes::BytesMut;
use nexo_proto::frame::RawFrame;
use nexo_proto::request::Request;
use nexo_proto::{Push, Reply, ReplyKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::{mpsc, oneshot};

use super::backoff::Jitter;
use super::options::ClientOptions;
use super::state::Shared;
use super::topic;
use crate::codec::{Inbound, RequestIds, decode_reply, encode_request, next_inbound};
use crate::error::{ClientError, Result};
use crate::ops;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 * 1024;

/// Stop taking commands while this many encoded bytes wait to be written.
const WRITE_HIGH_WATER: usize = 1024 * 1024;

/// Where a reply goes.
pub(crate) type ReplySender = oneshot::Sender<Result<RawFrame>>;

/// What a client handle asks of the connection task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send `request`; its reply frame (or the error) goes to `reply`.
    Call { request: Request, reply: ReplySender },
    /// Register subscription `sub` for `pattern` (pushes to `pushes`) and send SUBSCRIBE.
    Subscribe { sub: u64, pattern: String, pushes: mpsc::Sender<Push>, reply: ReplySender },
    /// Subscription `sub` was dropped: forget it, UNSUBSCRIBE when nobody else has its pattern.
    Unsubscribe { sub: u64 },
}

/// Who waits for a reply.
#[derive(Debug)]
enum Waiter {
    /// A task, through its channel.
    Caller(ReplySender),
    /// The task itself, restoring the subscriptions to `pattern` after a reconnect.
    Restore(String),
    /// Nobody (an UNSUBSCRIBE of a dropped subscription).
    Nobody,
}

#[derive(Debug)]
struct Subscription {
    pattern: String,
    pushes: mpsc::Sender<Push>,
}

/// Why a connection ended.
enum Ended {
    /// Every handle is gone: stop.
    Shutdown,
    /// The connection dropped or the server broke the protocol: reconnect.
    Lost,
}

/// Opens a connection within the connect timeout.
///
/// This is where TLS and authentication will run once the server offers them: a connection is
/// ready for commands only after this returns.
///
/// # Errors
/// [`ClientError::Timeout`] after the connect timeout, or the I/O error.
pub(crate) async fn establish<A: ToSocketAddrs>(addr: A, options: &ClientOptions) -> Result<TcpStream> {
    let stream = tokio::time::timeout(options.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| ClientError::Timeout)??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// The connection task's state.
pub(crate) struct Driver<A> {
    addr: A,
    options: ClientOptions,
    shared: std::sync::Arc<Shared>,
    commands: mpsc::Receiver<Command>,
    /// A command taken while reconnecting, sent first on the new connection.
    held: Option<Command>,
    pending: HashMap<u32, Waiter>,
    subs: BTreeMap<u64, Subscription>,
    ids: RequestIds,
    jitter: Jitter,
}

impl<A> Driver<A>
where
    A: ToSocketAddrs + Clone + Send + Sync + 'static,
{
    /// A driver for `addr` fed by `commands`.
    pub(crate) fn new(
        addr: A,
        options: ClientOptions,
        shared: std::sync::Arc<Shared>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        Self {
            addr,
            options,
            shared,
            commands,
            held: None,
            pending: HashMap::new(),
            subs: BTreeMap::new(),
            ids: RequestIds::new(),
            jitter: Jitter::new(Jitter::seed()),
        }
    }

    /// Serves `stream`, then every reconnected one, until all handles are gone.
    pub(crate) async fn run(mut self, mut stream: TcpStream) {
        loop {
            self.shared.note_peer(stream.peer_addr().ok());
            if let Ended::Shutdown = self.serve(stream).await {
                return;
            }
            self.shared.note_disconnect();
            self.fail_in_flight();
            match self.reconnect().await {
                Some(next) => stream = next,
                None => return,
            }
        }
    }

    async fn serve(&mut self, stream: TcpStream) -> Ended {
        let (mut reader, mut writer) = stream.into_split();
        let mut out = BytesMut::new();
        let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
        self.restore(&mut out);
        if let Some(command) = self.held.take() {
            self.accept(command, &mut out);
        }
        loop {
            if inbuf.capacity() - inbuf.len() < READ_CHUNK / 4 {
                inbuf.reserve(READ_CHUNK);
            }
            tokio::select! {
                read = reader.read_buf(&mut inbuf) => match read {
                    Ok(n) if n > 0 => {
                        if self.dispatch(&mut inbuf, &mut out).await.is_err() {
                            return Ended::Lost;
                        }
                    }
                    _ => return Ended::Lost,
                },
                written = writer.write_buf(&mut out), if !out.is_empty() => {
                    if !matches!(written, Ok(n) if n > 0) {
                        return Ended::Lost;
                    }
                }
                command = self.commands.recv(), if out.len() < WRITE_HIGH_WATER => match command {
                    Some(command) => self.accept_batch(command, &mut out),
                    None => return Ended::Shutdown,
                },
            }
        }
    }

    /// Encodes `first` and every command already queued behind it, up to the high-water mark.
    fn accept_batch(&mut self, first: Command, out: &mut BytesMut) {
        self.accept(first, out);
        while out.len() < WRITE_HIGH_WATER {
            match self.commands.try_recv() {
                Ok(command) => self.accept(command, out),
                Err(_) => break,
            }
        }
    }

    fn accept(&mut self, command: Command, out: &mut BytesMut) {
        match command {
            Command::Call { request, reply } => self.send(&request, Waiter::Caller(reply), out),
            Command::Subscribe { sub, pattern, pushes, reply } => {
                let request = ops::subscribe(&pattern);
                self.subs.insert(sub, Subscription { pattern, pushes });
                self.send(request.request(), Waiter::Caller(reply), out);
            }
            Command::Unsubscribe { sub } => self.forget(sub, Some(out)),
        }
    }

    /// Writes `request` with a fresh id, unless its caller has given up already (a timeout
    /// while it was queued: it is then never sent).
    fn send(&mut self, request: &Request, waiter: Waiter, out: &mut BytesMut) {
        if let Waiter::Caller(reply) = &waiter
            && reply.is_closed()
        {
            return;
        }
        let id = self.ids.take();
        match (encode_request(request, id, out), waiter) {
            (Ok(()), waiter) => {
                self.pending.insert(id, waiter);
            }
            (Err(err), Waiter::Caller(reply)) => {
                let _ = reply.send(Err(err));
            }
            (Err(_), _) => {}
        }
    }

    /// Drops subscription `sub`; with `out`, UNSUBSCRIBEs when no other one has its pattern.
    fn forget(&mut self, sub: u64, out: Option<&mut BytesMut>) {
        let Some(gone) = self.subs.remove(&sub) else { return };
        if let Some(out) = out
            && !self.subs.values().any(|s| s.pattern == gone.pattern)
        {
            self.send(ops::unsubscribe(&gone.pattern).request(), Waiter::Nobody, out);
        }
    }

    /// SUBSCRIBEs again, once per pattern, on a new connection.
    fn restore(&mut self, out: &mut BytesMut) {
        let mut patterns: Vec<String> = self.subs.values().map(|s| s.pattern.clone()).collect();
        patterns.sort();
        patterns.dedup();
        for pattern in patterns {
            let request = ops::subscribe(&pattern);
            self.send(request.request(), Waiter::Restore(pattern), out);
        }
    }

    async fn dispatch(&mut self, inbuf: &mut BytesMut, out: &mut BytesMut) -> Result<()> {
        while let Some(inbound) = next_inbound(inbuf, self.options.max_frame_bytes)? {
            match inbound {
                Inbound::Reply(frame) => match self.pending.remove(&frame.header.id) {
                    Some(Waiter::Caller(reply)) => {
                        let _ = reply.send(Ok(frame));
                    }
                    Some(Waiter::Restore(pattern)) => self.restored(&pattern, &frame),
                    Some(Waiter::Nobody) | None => {}
                },
                Inbound::Push(push) => self.deliver(push, out).await,
            }
        }
        Ok(())
    }

    /// A restoring SUBSCRIBE was refused: its subscriptions end (their streams return `None`).
    fn restored(&mut self, pattern: &str, frame: &RawFrame) {
        if !matches!(decode_reply(frame, ReplyKind::Data), Ok(Reply::Ok)) {
            self.subs.retain(|_, s| s.pattern != pattern);
        }
    }

    /// Hands `push` to every subscription whose filter matches, waiting for room in each.
    async fn deliver(&mut self, push: Push, out: &mut BytesMut) {
        let targets: Vec<(u64, mpsc::Sender<Push>)> = self
            .subs
            .iter()
            .filter(|(_, s)| topic::matches(&s.pattern, &push.topic))
            .map(|(id, s)| (*id, s.pushes.clone()))
            .collect();
        for (id, pushes) in targets {
            if pushes.send(push.clone()).await.is_err() {
                self.forget(id, Some(out));
            }
        }
    }

    /// Fails every request in flight: it was sent (or partly sent), so whether it ran is unknown.
    fn fail_in_flight(&mut self) {
        for (_, waiter) in self.pending.drain() {
            if let Waiter::Caller(reply) = waiter {
                let _ = reply.send(Err(ClientError::ConnectionLost));
            }
        }
    }

    /// Waits (backoff with jitter) and connects again; `None` once every handle is gone.
    async fn reconnect(&mut self) -> Option<TcpStream> {
        let mut attempt = 0u32;
        loop {
            let delay = self.options.backoff.delay(attempt, self.jitter.next());
            if !self.idle(delay).await || self.commands.is_closed() {
                return None;
            }
            match establish(self.addr.clone(), &self.options).await {
                Ok(stream) => {
                    self.shared.note_reconnect();
                    return Some(stream);
                }
                Err(_) => attempt = attempt.saturating_add(1),
            }
        }
    }

    /// Sleeps `delay` while forgetting dropped subscriptions and holding one new command;
    /// `false` when every handle is gone.
    async fn idle(&mut self, delay: std::time::Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                command = self.commands.recv(), if self.held.is_none() => match command {
                    None => return false,
                    Some(Command::Unsubscribe { sub }) => self.forget(sub, None),
                    Some(command) => self.held = Some(command),
                },
            }
        }
    }
}

impl<A> std::fmt::Debug for Driver<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("pending", &self.pending.len())
            .field("subscriptions", &self.subs.len())
            .finish_non_exhaustive()
    }
}
