//! The network thread: one mio event loop that owns every client socket.
//!
//! Each turn it accepts connections, reads ready sockets (a budget per socket per turn), decodes
//! frames, answers ECHO and bad frames itself, hands broker requests to the brokers' [`Lanes`]
//! (the Store inline on this thread, the others batched to their worker threads), applies the
//! brokers' outputs to the connections' write queues and flushes them. It decides nothing a
//! broker decides: everything a broker answers arrives as [`nexo_engine::Output`].
//!
//! Limits and their policies: a connection's unsent bytes above `write_limit` or more than
//! [`IN_FLIGHT_MAX`] unanswered requests pause reading that socket (backpressure); a full worker
//! channel pauses reading every socket until the worker catches up; connections beyond
//! `max_connections` are refused as the v1 spec says.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use bytes::Bytes;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use nexo_engine::{ConnId, Output};
use nexo_proto::resp::is_resp_first_byte;
use nexo_proto::{HEADER_LEN, Reply, decode_request_frame};
use nexo_server::Clock;
use nexo_session::resp::{Action, RespConn, RespContext, TOO_MANY_CLIENTS};
use nexo_session::{Routed, route};
use slab::Slab;

use crate::conn::{Conn, IN_FLIGHT_MAX, Phase, READ_CHUNK, ReadOutcome};
use crate::lane::Lanes;
use crate::worker::WorkerInput;

const LISTENER: Token = Token(0);
/// Token of the `mio::Waker` the workers and the signal thread use.
pub const WAKER: Token = Token(1);
const FIRST_CONN: usize = 2;
/// Connections waiting to be refused at once; beyond this, excess connections close at once.
const REFUSING_MAX: usize = 256;
/// How long a refused connection may take to send its first frame header.
const REFUSE_WAIT_MS: u64 = 1_000;
/// How long a closing connection may take to flush (also the shutdown drain bound).
const CLOSE_WAIT_MS: u64 = 2_000;

/// Limits the network thread enforces.
#[derive(Debug, Clone, Copy)]
pub struct NetLimits {
    /// Open connections before refusals start.
    pub max_connections: usize,
    /// Largest accepted request payload.
    pub max_frame_bytes: u32,
    /// Unsent bytes per connection above which reading pauses.
    pub write_limit: usize,
}

/// The network thread's state.
#[derive(Debug)]
pub struct Network {
    poll: Poll,
    listener: Option<TcpListener>,
    conns: Slab<Conn>,
    by_id: HashMap<u64, usize>,
    next_conn_id: u64,
    open_count: usize,
    refusing_count: usize,
    limits: NetLimits,
    clock: Clock,
    lanes: Lanes,
    /// Outputs of the inline brokers, applied right after their turn.
    inline_outputs: Vec<Output>,
    outputs: Receiver<Vec<Output>>,
    retry: Vec<usize>,
    dirty: Vec<usize>,
    backlogged: bool,
    shutdown: Arc<AtomicBool>,
    draining_until: Option<u64>,
    /// Open connections, for the dashboard and RESP's INFO (mirrors `open_count`).
    connections: Arc<AtomicU64>,
    /// Shared by the RESP sessions.
    resp: Arc<RespContext>,
    /// Reused action buffer of RESP decoding.
    resp_actions: Vec<Action>,
    /// The one buffer every socket read lands in before its bytes join a connection's buffer.
    scratch: Vec<u8>,
}

/// Everything [`Network::new`] needs.
#[derive(Debug)]
pub struct NetParts {
    /// The poll instance the waker was created on.
    pub poll: Poll,
    /// The bound listener.
    pub listener: TcpListener,
    /// Limits.
    pub limits: NetLimits,
    /// The clock.
    pub clock: Clock,
    /// The brokers.
    pub lanes: Lanes,
    /// Outputs of all workers.
    pub outputs: Receiver<Vec<Output>>,
    /// Set by the signal thread.
    pub shutdown: Arc<AtomicBool>,
    /// Where the open-connection count is published for the dashboard and RESP's INFO.
    pub connections: Arc<AtomicU64>,
    /// Shared by the RESP sessions.
    pub resp: Arc<RespContext>,
}

impl Network {
    /// Registers the listener and prepares the loop.
    ///
    /// # Errors
    /// Registration failed.
    pub fn new(parts: NetParts) -> io::Result<Self> {
        let NetParts { poll, mut listener, limits, clock, lanes, outputs, shutdown, connections, resp } =
            parts;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        Ok(Self {
            poll,
            listener: Some(listener),
            conns: Slab::new(),
            by_id: HashMap::new(),
            next_conn_id: 1,
            open_count: 0,
            refusing_count: 0,
            limits,
            clock,
            lanes,
            inline_outputs: Vec::new(),
            outputs,
            retry: Vec::new(),
            dirty: Vec::new(),
            backlogged: false,
            shutdown,
            draining_until: None,
            connections,
            resp,
            resp_actions: Vec::new(),
            scratch: vec![0; READ_CHUNK],
        })
    }

    /// Runs until shutdown has drained; then stops the workers and joins them.
    ///
    /// # Errors
    /// The poll failed or a worker thread died.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(e);
            }
            let now = self.clock.now().mono_ms;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    Token(token) => {
                        let key = token - FIRST_CONN;
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read_and_decode(key);
                        }
                        if event.is_writable() {
                            self.dirty.push(key);
                        }
                    }
                }
            }
            self.retry_reads();
            // Inline brokers answer this turn's requests before the flush.
            self.hand_over()?;
            self.apply_outputs();
            self.flush_dirty();
            self.expire(now);
            if self.shutdown.load(Ordering::Relaxed) && self.draining_until.is_none() {
                self.begin_shutdown(now);
            }
            // Last, so everything this turn produced for the brokers goes out now: flushed push
            // bytes and the disconnects of connections closed above (what an inline broker
            // answers to them is flushed at the start of the next turn).
            self.hand_over()?;
            if let Some(until) = self.draining_until
                && (self.conns.is_empty() || now >= until)
            {
                break;
            }
        }
        let Self { lanes, clock, .. } = self;
        lanes.stop(&clock);
        Ok(())
    }

    /// Hands this turn's inputs to every broker; applies what the inline ones answered.
    fn hand_over(&mut self) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.inline_outputs);
        self.backlogged = !self.lanes.hand_over(&self.clock, &mut out)?;
        for output in out.drain(..) {
            self.apply_output(output);
        }
        self.inline_outputs = out;
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Duration> {
        if self.backlogged {
            return Some(Duration::from_millis(1));
        }
        if !self.dirty.is_empty() {
            return Some(Duration::ZERO);
        }
        let can_read_now = self
            .retry
            .iter()
            .any(|&k| self.conns.get(k).is_some_and(|c| c.may_read(self.limits.write_limit)));
        if can_read_now {
            return Some(Duration::ZERO);
        }
        let bound = if self.draining_until.is_some() || self.refusing_count > 0 || self.any_closing() {
            Some(Duration::from_millis(50))
        } else {
            None
        };
        // An inline broker's timers (the Store's expiry sweep) are run by the loop itself.
        let inline = self.lanes.deadline().map(|at| {
            let now = self.clock.now();
            self.clock.until(now, at)
        });
        match (bound, inline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn any_closing(&self) -> bool {
        self.conns.iter().any(|(_, c)| matches!(c.phase, Phase::Closing { .. }))
    }

    fn accept(&mut self, now: u64) {
        loop {
            let Some(listener) = &self.listener else { return };
            match listener.accept() {
                Ok((stream, peer)) => self.add_conn(stream, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: try again on the next listener event.
                    tracing::warn!("accept failed: {e}");
                    return;
                }
            }
        }
    }

    fn add_conn(&mut self, mut stream: TcpStream, peer: SocketAddr, now: u64) {
        let phase = if self.open_count < self.limits.max_connections {
            Phase::Open
        } else if self.refusing_count < REFUSING_MAX {
            tracing::warn!("refusing {peer}: {} connections open", self.open_count);
            Phase::Refusing { deadline_ms: now + REFUSE_WAIT_MS }
        } else {
            return; // dropping the stream closes it
        };
        if let Err(e) = configure(&stream) {
            tracing::debug!("socket options for {peer}: {e}");
        }
        let key = self.conns.vacant_key();
        let token = Token(key + FIRST_CONN);
        if let Err(e) =
            self.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        {
            tracing::warn!("register {peer}: {e}");
            return;
        }
        let id = ConnId(self.next_conn_id);
        self.next_conn_id += 1;
        match phase {
            Phase::Open => {
                self.open_count += 1;
                self.connections.store(self.open_count as u64, Ordering::Relaxed);
            }
            _ => self.refusing_count += 1,
        }
        self.by_id.insert(id.0, key);
        let mut conn = Conn::new(id, stream, phase);
        conn.refused = !matches!(phase, Phase::Open);
        self.conns.insert(conn);
        tracing::debug!("conn {} from {peer}", id.0);
    }

    fn read_buffer_max(&self) -> usize {
        HEADER_LEN + self.limits.max_frame_bytes as usize + 64 * 1024
    }

    fn read_and_decode(&mut self, key: usize) {
        let buffer_max = self.read_buffer_max();
        let write_limit = self.limits.write_limit;
        let backlogged = self.backlogged;
        let Some(conn) = self.conns.get_mut(key) else { return };
        if backlogged || !conn.may_read(write_limit) {
            if !conn.unread && !matches!(conn.phase, Phase::Closing { .. }) {
                conn.unread = true;
                self.retry.push(key);
            }
            return;
        }
        let outcome = conn.read_some(buffer_max, &mut self.scratch);
        match outcome {
            Ok(ReadOutcome::Drained) => conn.unread = false,
            Ok(ReadOutcome::MoreLikely) => {
                if !conn.unread {
                    conn.unread = true;
                    self.retry.push(key);
                }
            }
            Ok(ReadOutcome::Eof) | Err(_) => {
                conn.unread = false;
                self.decode(key);
                self.finish(key);
                return;
            }
        }
        self.decode(key);
        // Decoded frames took their bytes; an emptied buffer is given back so an idle
        // connection holds no read memory.
        if let Some(conn) = self.conns.get_mut(key)
            && conn.read_buf.is_empty()
            && conn.read_buf.capacity() > 0
        {
            conn.read_buf = bytes::BytesMut::new();
        }
    }

    /// The peer stopped sending: answer what was read, then close once replies are written.
    fn finish(&mut self, key: usize) {
        let now = self.clock.now().mono_ms;
        if let Some(conn) = self.conns.get_mut(key) {
            match conn.phase {
                Phase::Open => conn.phase = Phase::Closing { deadline_ms: now + CLOSE_WAIT_MS },
                Phase::Refusing { .. } => self.close(key, "closed while refused"),
                Phase::Closing { .. } => {}
            }
            self.dirty.push(key);
        }
    }

    fn decode(&mut self, key: usize) {
        let max_frame = self.limits.max_frame_bytes;
        let now = self.clock.now().mono_ms;
        let Some(conn) = self.conns.get_mut(key) else { return };
        if !conn.detected {
            match conn.read_buf.first() {
                None => return,
                Some(&b) if b <= 0x1F => conn.detected = true,
                Some(&b) if is_resp_first_byte(b) => {
                    conn.detected = true;
                    if conn.phase == Phase::Open {
                        conn.resp = Some(Box::new(RespConn::new(self.resp.clone(), conn.id)));
                    }
                }
                Some(_) => return self.close(key, "not the v1 protocol"),
            }
        }
        if let Phase::Refusing { .. } = conn.phase {
            if conn.read_buf.first().is_some_and(|&b| is_resp_first_byte(b)) {
                conn.out.push_chunk(Bytes::from_static(TOO_MANY_CLIENTS), 0);
                conn.read_buf.clear();
                conn.phase = Phase::Closing { deadline_ms: now + CLOSE_WAIT_MS };
                self.dirty.push(key);
            } else if let Some(header) = nexo_proto::FrameHeader::peek(&conn.read_buf) {
                conn.out.push_reply(header.id, &Reply::Err("Too many connections".into()));
                conn.read_buf.clear();
                conn.phase = Phase::Closing { deadline_ms: now + CLOSE_WAIT_MS };
                self.dirty.push(key);
            }
            return;
        }
        if conn.resp.is_some() {
            return self.decode_resp(key);
        }
        let mut answered = false;
        while conn.phase == Phase::Open {
            if conn.in_flight >= IN_FLIGHT_MAX {
                if !conn.unread {
                    conn.unread = true;
                    self.retry.push(key);
                }
                break;
            }
            match decode_request_frame(&mut conn.read_buf, max_frame) {
                Ok(None) => break,
                Ok(Some(inbound)) => match route(inbound) {
                    Routed::Answer { id, reply } => {
                        conn.out.push_reply(id, &reply);
                        answered = true;
                    }
                    Routed::Store { id, request } => {
                        conn.in_flight += 1;
                        self.lanes.store.push(WorkerInput::Request { conn: conn.id, id, request });
                    }
                    Routed::PubSub { id, request } => {
                        conn.in_flight += 1;
                        self.lanes.pubsub.push(WorkerInput::Request { conn: conn.id, id, request });
                    }
                    Routed::Queue { id, request } => {
                        conn.in_flight += 1;
                        self.lanes.queue.push(WorkerInput::Request { conn: conn.id, id, request });
                    }
                    Routed::Stream { id, request } => {
                        conn.in_flight += 1;
                        self.lanes.stream.push(WorkerInput::Request { conn: conn.id, id, request });
                    }
                },
                Err(oversized) => {
                    tracing::debug!("conn {}: {oversized}", conn.id.0);
                    conn.out.push_reply(oversized.id, &Reply::error(oversized));
                    conn.read_buf.clear();
                    conn.phase = Phase::Closing { deadline_ms: now + CLOSE_WAIT_MS };
                    answered = true;
                }
            }
        }
        if answered {
            self.dirty.push(key);
        }
    }

    /// Parses a RESP connection's commands: local answers and engine requests, in order.
    fn decode_resp(&mut self, key: usize) {
        let now = self.clock.now();
        let Some(conn) = self.conns.get_mut(key) else { return };
        let Some(resp) = conn.resp.as_mut() else { return };
        let mut actions = std::mem::take(&mut self.resp_actions);
        while conn.phase == Phase::Open {
            if conn.in_flight >= IN_FLIGHT_MAX {
                if !conn.unread {
                    conn.unread = true;
                    self.retry.push(key);
                }
                break;
            }
            if !resp.session.handle_one(now, &mut conn.read_buf, &mut actions) {
                break;
            }
            for action in actions.drain(..) {
                match action {
                    Action::Slot(slot) => resp.outbound.handle_slot(slot),
                    Action::Store { id, request } => {
                        conn.in_flight += 1;
                        self.lanes.store.push(WorkerInput::Request { conn: conn.id, id, request });
                    }
                    Action::PubSub { id, request } => {
                        conn.in_flight += 1;
                        self.lanes.pubsub.push(WorkerInput::Request { conn: conn.id, id, request });
                    }
                    Action::Close => {
                        conn.read_buf.clear();
                        conn.phase = Phase::Closing { deadline_ms: now.mono_ms + CLOSE_WAIT_MS };
                    }
                }
            }
        }
        self.resp_actions = actions;
        if let Some((bytes, released)) = resp.outbound.take_output() {
            conn.out.push_chunk(bytes, released.push_report);
        }
        self.dirty.push(key);
    }

    fn retry_reads(&mut self) {
        if self.backlogged || self.retry.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.retry);
        for key in keys {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if !conn.unread {
                continue;
            }
            conn.unread = false;
            // Frames already buffered go first; then the socket.
            self.decode(key);
            if self.conns.get(key).is_some_and(|c| !c.unread) {
                self.read_and_decode(key);
            }
        }
    }

    fn apply_outputs(&mut self) {
        while let Ok(batch) = self.outputs.try_recv() {
            for output in batch {
                self.apply_output(output);
            }
        }
    }

    fn apply_output(&mut self, output: Output) {
        match output {
            Output::Reply { conn, id, reply } => {
                let Some(&key) = self.by_id.get(&conn.0) else { return };
                if let Some(c) = self.conns.get_mut(key) {
                    c.in_flight = c.in_flight.saturating_sub(1);
                    match c.resp.as_mut() {
                        Some(resp) => {
                            resp.outbound.handle_reply(id, &reply);
                            if let Some((bytes, released)) = resp.outbound.take_output() {
                                c.out.push_chunk(bytes, released.push_report);
                            }
                        }
                        None => c.out.push_reply(id, &reply),
                    }
                    self.dirty.push(key);
                }
            }
            Output::Push { conn, frame } => {
                let Some(&key) = self.by_id.get(&conn.0) else { return };
                if let Some(c) = self.conns.get_mut(key) {
                    match c.resp.as_mut() {
                        Some(resp) => {
                            resp.outbound.handle_push(&frame);
                            if let Some((bytes, released)) = resp.outbound.take_output() {
                                c.out.push_chunk(bytes, released.push_report);
                            }
                        }
                        None => c.out.push_frame(frame),
                    }
                    self.dirty.push(key);
                }
            }
            Output::Close { conn, reason } => {
                let Some(&key) = self.by_id.get(&conn.0) else { return };
                tracing::warn!("closing conn {}: {reason}", conn.0);
                self.close(key, "closed by the engine");
            }
            // Storage instructions are carried out by the worker that owns the log and never
            // reach the network thread.
            Output::Append { .. }
            | Output::Roll { .. }
            | Output::TruncateBefore { .. }
            | Output::OpenLog { .. }
            | Output::RemoveLog { .. }
            | Output::Read { .. }
            | Output::Retain { .. } => {}
        }
    }

    fn flush_dirty(&mut self) {
        let mut keys = std::mem::take(&mut self.dirty);
        // A connection is marked once per reply; one write per connection per turn is enough.
        keys.sort_unstable();
        keys.dedup();
        for &key in &keys {
            self.flush(key);
        }
        keys.clear();
        if self.dirty.is_empty() {
            self.dirty = keys;
        }
    }

    fn flush(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        match conn.out.write_to(&mut conn.stream) {
            Ok(flushed) => {
                if flushed.push_bytes > 0 {
                    self.lanes.pubsub.push(WorkerInput::Flushed(conn.id, flushed.push_bytes));
                }
                let done = flushed.empty && conn.in_flight == 0;
                if done && matches!(conn.phase, Phase::Closing { .. }) {
                    self.close(key, "finished");
                }
            }
            Err(e) => {
                tracing::debug!("conn {}: write failed: {e}", conn.id.0);
                self.close(key, "write failed");
            }
        }
    }

    fn expire(&mut self, now: u64) {
        if self.refusing_count == 0 && !self.any_closing() {
            return;
        }
        let due: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| match c.phase {
                Phase::Refusing { deadline_ms } | Phase::Closing { deadline_ms } => now >= deadline_ms,
                Phase::Open => false,
            })
            .map(|(k, _)| k)
            .collect();
        for key in due {
            self.close(key, "deadline passed");
        }
    }

    fn close(&mut self, key: usize, why: &str) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.by_id.remove(&conn.id.0);
        // Every broker forgets the connection (harmless for one that never sent it anything).
        self.lanes.disconnect(conn.id);
        if conn.refused {
            self.refusing_count -= 1;
        } else {
            self.open_count -= 1;
            self.connections.store(self.open_count as u64, Ordering::Relaxed);
        }
        tracing::debug!("conn {} closed: {why}", conn.id.0);
    }

    fn begin_shutdown(&mut self, now: u64) {
        tracing::info!("shutting down: no new connections, draining {} open", self.conns.len());
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let until = now + CLOSE_WAIT_MS;
        self.draining_until = Some(until);
        // Long-polls end now (empty batches), so their connections can finish.
        self.lanes.shutdown();
        for (key, conn) in self.conns.iter_mut() {
            conn.phase = Phase::Closing { deadline_ms: until };
            self.dirty.push(key);
        }
    }
}

/// TCP_NODELAY and SO_KEEPALIVE on an accepted socket.
fn configure(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    socket2::SockRef::from(stream).set_keepalive(true)
}
