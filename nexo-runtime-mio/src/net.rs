//! The network thread: one mio event loop that owns every client socket.
//!
//! Each turn it accepts connections, reads ready sockets (a budget per socket per turn), feeds
//! the bytes to each connection's [`Session`] (which decodes, answers what it answers itself and
//! routes the rest), hands broker requests to the brokers' [`Lanes`] (the Store inline on this
//! thread, the others batched to their worker threads), gives the brokers' outputs back to the
//! sessions and writes what they queued. It decides nothing about protocols or limits: sessions
//! say whether to read (`may_read`) and when to close; a full worker channel pauses reading
//! every socket until the worker catches up.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use nexo_engine::NetOutput;
use nexo_server::Clock;
use nexo_server::host::Doorman;
use nexo_session::{CLOSE_WAIT_MS, CloseWhy, Item, Session, SessionContext};
use slab::Slab;

use crate::conn::{Conn, READ_CHUNK, ReadOutcome};
use crate::lane::Lanes;
use crate::worker::WorkerInput;

const LISTENER: Token = Token(0);
/// Token of the `mio::Waker` the workers and the signal thread use.
pub const WAKER: Token = Token(1);
const MQTT_LISTENER: Token = Token(2);
const FIRST_CONN: usize = 3;
/// How often sessions' deadlines (read, idle, refusal, linger) are checked.
const SWEEP_MS: u64 = 250;

/// The network thread's state.
#[derive(Debug)]
pub struct Network {
    /// What it was started with (the poll, listeners, brokers, clock, shared counts).
    parts: NetParts,
    conns: Slab<Conn>,
    by_id: HashMap<u64, usize>,
    /// Outputs of the inline brokers, applied right after their turn.
    inline_outputs: Vec<NetOutput>,
    retry: Vec<usize>,
    dirty: Vec<usize>,
    backlogged: bool,
    draining_until: Option<u64>,
    /// Runs password checks off this thread and hands the verdicts back.
    verifier: Option<nexo_server::security::Mailbox>,
    /// Reused buffer of the items a session routes.
    items: Vec<Item>,
    /// The one buffer every socket read lands in before its bytes join a connection's buffer.
    scratch: Vec<u8>,
    next_sweep_ms: u64,
    /// Admits accepted connections and logs failed accepts.
    doorman: Doorman,
}

/// Everything [`Network::new`] needs.
#[derive(Debug)]
pub struct NetParts {
    /// The poll instance the waker was created on.
    pub poll: Poll,
    /// The bound listener (`None` with `--port off`).
    pub listener: Option<TcpListener>,
    /// The bound MQTT listener (`None` with `--mqtt-port off`).
    pub mqtt_listener: Option<TcpListener>,
    /// The clock.
    pub clock: Clock,
    /// The brokers.
    pub lanes: Lanes,
    /// Outputs of all workers.
    pub outputs: Receiver<Vec<NetOutput>>,
    /// Set by the signal thread.
    pub shutdown: Arc<AtomicBool>,
    /// Shared by the sessions.
    pub sessions: Arc<SessionContext>,
}

impl Network {
    /// Registers the listener and prepares the loop.
    ///
    /// # Errors
    /// Registration failed.
    pub fn new(mut parts: NetParts) -> io::Result<Self> {
        for (listener, token) in [(&mut parts.listener, LISTENER), (&mut parts.mqtt_listener, MQTT_LISTENER)]
        {
            if let Some(listener) = listener {
                parts.poll.registry().register(listener, token, Interest::READABLE)?;
            }
        }
        Ok(Self {
            conns: Slab::new(),
            by_id: HashMap::new(),
            inline_outputs: Vec::new(),
            retry: Vec::new(),
            dirty: Vec::new(),
            backlogged: false,
            draining_until: None,
            verifier: None,
            items: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            next_sweep_ms: 0,
            doorman: Doorman::new(Arc::clone(&parts.sessions)),
            parts,
        })
    }

    /// Password checks run on `verifier`'s pool (without one, logins that need a check fail).
    pub fn with_verifier(mut self, verifier: nexo_server::security::Mailbox) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Hands each verdict back to its session.
    fn apply_verdicts(&mut self) {
        let now = self.parts.clock.now().mono_ms;
        while let Some((conn, verdict)) = self.verifier.as_ref().and_then(|v| v.try_recv()) {
            let Some(&key) = self.by_id.get(&conn.0) else { continue };
            if let Some(c) = self.conns.get_mut(key) {
                c.session.handle_verified(now, &verdict);
            }
            self.after_session(key);
        }
    }

    /// Runs until shutdown has drained; then stops the workers and joins them.
    ///
    /// # Errors
    /// The poll failed or a worker thread died.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.parts.poll.poll(&mut events, timeout)
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(e);
            }
            let now = self.parts.clock.now().mono_ms;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now, false),
                    MQTT_LISTENER => self.accept(now, true),
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
            self.apply_verdicts();
            self.flush_dirty();
            self.sweep(now);
            if self.parts.shutdown.load(Ordering::Relaxed) && self.draining_until.is_none() {
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
        let NetParts { lanes, clock, .. } = self.parts;
        lanes.stop(&clock);
        Ok(())
    }

    /// Hands this turn's inputs to every broker; applies what the inline ones answered.
    fn hand_over(&mut self) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.inline_outputs);
        self.backlogged = !self.parts.lanes.hand_over(&self.parts.clock, &mut out)?;
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
        let can_read_now =
            self.retry.iter().any(|&k| self.conns.get(k).is_some_and(|c| c.session.may_read()));
        if can_read_now {
            return Some(Duration::ZERO);
        }
        // Sessions' deadlines are swept a few times a second while any connection is open.
        let sweep = (!self.conns.is_empty()).then_some(Duration::from_millis(SWEEP_MS));
        // An inline broker's timers (the Store's expiry sweep) are run by the loop itself.
        let inline = self.parts.lanes.deadline().map(|at| {
            let now = self.parts.clock.now();
            self.parts.clock.until(now, at)
        });
        match (sweep, inline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn accept(&mut self, now: u64, mqtt: bool) {
        loop {
            let listener = if mqtt { &self.parts.mqtt_listener } else { &self.parts.listener };
            let Some(listener) = listener else { return };
            match listener.accept() {
                Ok((stream, peer)) => self.add_conn(stream, peer, now, mqtt),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and friends: the listener stays registered; the next event retries.
                    self.doorman.accept_failed(now, &e);
                    return;
                }
            }
        }
    }

    fn add_conn(&mut self, mut stream: TcpStream, peer: SocketAddr, now: u64, mqtt: bool) {
        // No slot (too many refusals in progress): dropping the stream closes it.
        let Some((id, admission)) = self.doorman.admit(now, &stream, peer) else { return };
        let key = self.conns.vacant_key();
        let token = Token(key + FIRST_CONN);
        if let Err(e) =
            self.parts.poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        {
            tracing::warn!("register {peer}: {e}");
            return;
        }
        self.by_id.insert(id.0, key);
        let refused = admission.refused();
        let session = Session::accepted(
            Arc::clone(&self.parts.sessions),
            id,
            self.parts.clock.now(),
            (refused, mqtt),
            Some(peer.ip()),
        );
        self.conns.insert(Conn {
            stream,
            read_buf: bytes::BytesMut::new(),
            session,
            unread: false,
            admission,
        });
    }

    fn read_and_decode(&mut self, key: usize) {
        let backlogged = self.backlogged;
        let Some(conn) = self.conns.get_mut(key) else { return };
        if backlogged || !conn.session.may_read() {
            self.mark_unread(key);
            return;
        }
        match conn.read_some(&mut self.scratch) {
            Ok(ReadOutcome::Drained) => conn.unread = false,
            Ok(ReadOutcome::MoreLikely) => self.mark_unread(key),
            Ok(ReadOutcome::Eof) | Err(_) => {
                conn.unread = false;
                self.decode(key);
                if let Some(conn) = self.conns.get_mut(key) {
                    conn.session.handle_eof(self.parts.clock.now().mono_ms);
                    self.after_session(key);
                }
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

    /// Reading stopped before the socket was drained: look again once the session may read.
    fn mark_unread(&mut self, key: usize) {
        if let Some(conn) = self.conns.get_mut(key)
            && !conn.unread
            && conn.session.close_reason().is_none()
        {
            conn.unread = true;
            self.retry.push(key);
        }
    }

    /// Feeds the buffered bytes to the session and its routed requests to the brokers.
    fn decode(&mut self, key: usize) {
        let now = self.parts.clock.now();
        let Some(conn) = self.conns.get_mut(key) else { return };
        conn.session.handle_bytes(now, &mut conn.read_buf, &mut self.items);
        let id = conn.session.conn();
        while let Some(job) = conn.session.poll_verify() {
            match &self.verifier {
                Some(verifier) => verifier.submit(id, job),
                None => conn.session.handle_verified(now.mono_ms, &job.busy()),
            }
        }
        let stalled = !conn.read_buf.is_empty() && !conn.session.may_read();
        for item in self.items.drain(..) {
            self.parts.lanes.route(id, item);
        }
        if stalled {
            self.mark_unread(key);
        }
        self.after_session(key);
    }

    /// After a session changed: close it if it is done, else write what it queued.
    fn after_session(&mut self, key: usize) {
        let Some(conn) = self.conns.get(key) else { return };
        match conn.session.close_reason() {
            Some(why) => self.close(key, why),
            None if conn.session.wants_write() => self.dirty.push(key),
            None => {}
        }
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
            if !conn.session.may_read() {
                self.retry.push(key);
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
        while let Ok(batch) = self.parts.outputs.try_recv() {
            for output in batch {
                self.apply_output(output);
            }
        }
    }

    fn apply_output(&mut self, output: NetOutput) {
        let Some(&key) = self.by_id.get(&output.conn().0) else { return };
        let Some(c) = self.conns.get_mut(key) else { return };
        if let NetOutput::Close { conn, reason } = &output {
            tracing::warn!("closing conn {}: {reason}", conn.0);
        }
        c.session.handle_output(output);
        self.after_session(key);
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
        match conn.session.write_to(&mut conn.stream) {
            Ok(push_bytes) => {
                if push_bytes > 0 {
                    self.parts.lanes.pubsub.push(WorkerInput::Flushed(conn.session.conn(), push_bytes));
                }
                if let Some(why) = conn.session.close_reason() {
                    self.close(key, why);
                }
            }
            Err(e) => {
                tracing::debug!("conn {}: write failed: {e}", conn.session.conn().0);
                self.close(key, CloseWhy::LingerPassed);
            }
        }
    }

    /// Gives every session its deadlines (read and idle timeouts, refusals, closing linger), a
    /// few times a second.
    fn sweep(&mut self, now: u64) {
        if now < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now + SWEEP_MS;
        let mut due = Vec::new();
        for (key, conn) in &mut self.conns {
            if conn.session.poll_timeout().is_some_and(|at| at <= now) {
                conn.session.handle_timeout(now);
                due.push(key);
            }
        }
        for key in due {
            self.after_session(key);
        }
    }

    fn close(&mut self, key: usize, why: CloseWhy) {
        if !self.conns.contains(key) {
            return;
        }
        let mut conn = self.conns.remove(key);
        let _ = self.parts.poll.registry().deregister(&mut conn.stream);
        let id = conn.session.conn();
        self.by_id.remove(&id.0);
        // What the session still asks of Pub/Sub (an MQTT will) goes before the disconnect.
        conn.session.take_items(&mut self.items);
        for item in self.items.drain(..) {
            self.parts.lanes.route(id, item);
        }
        // Every broker forgets the connection (harmless for one that never sent it anything).
        self.parts.lanes.disconnect(id);
        nexo_server::host::log_close(id, why);
    }

    fn begin_shutdown(&mut self, now: u64) {
        tracing::info!("shutting down: no new connections, draining {} open", self.conns.len());
        for mut listener in
            [self.parts.listener.take(), self.parts.mqtt_listener.take()].into_iter().flatten()
        {
            let _ = self.parts.poll.registry().deregister(&mut listener);
        }
        self.draining_until = Some(now + CLOSE_WAIT_MS);
        // Long-polls end now (empty batches), so their connections can finish.
        self.parts.lanes.shutdown();
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.session.handle_shutdown(now);
            }
            self.after_session(key);
            self.dirty.push(key);
        }
    }
}
