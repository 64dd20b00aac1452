//! One client connection, sans-IO: its protocol (detected from the first byte), its life cycle,
//! its unsent output and the limits that decide whether the runtime may read it.
//!
//! Loop rule for a runtime: after reading bytes, call [`Session::handle_bytes`] and hand every
//! [`Item`] to its broker; feed the brokers' replies, pushes and closes back with `handle_reply`,
//! `handle_push` and `handle_close`; write with [`Session::write_to`] (reporting the push bytes
//! it returns to Pub/Sub); read again only while [`Session::may_read`]; call
//! [`Session::handle_timeout`] at [`Session::poll_timeout`]; drop the socket once
//! [`Session::close_reason`] is `Some`. A session never reads a clock or touches a socket.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use nexo_engine::{ConnId, NetOutput, Now};
use nexo_proto::{FrameHeader, Reply};

use crate::context::SessionContext;
use crate::resp::{RespConn, TOO_MANY_CLIENTS};
use crate::write_queue::WriteQueue;

mod auth_conn;
mod mqtt_conn;
use crate::{Item, Routed, v1};

/// Requests handed to brokers and not yet answered, above which reading pauses.
pub const IN_FLIGHT_MAX: usize = 16 * 1024;
/// How long a refused connection may take to send its first frame header.
const REFUSE_WAIT_MS: u64 = 1_000;
/// How long a closing connection may take to write what it owes.
pub const CLOSE_WAIT_MS: u64 = 2_000;

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseWhy {
    /// The client closed its side and everything owed was written.
    Finished,
    /// The first byte is neither v1 nor RESP.
    UnknownProtocol,
    /// A frame over the frame limit (answered with ERR first).
    Oversized,
    /// The RESP session asked to close (QUIT, a protocol error, an HTTP client).
    Protocol,
    /// Over the connection limit (refused as the spec says, or silently).
    Refused,
    /// A frame stayed incomplete longer than the read timeout.
    ReadTimeout,
    /// Nothing arrived for longer than the idle timeout.
    IdleTimeout,
    /// The engine closed it (a slow consumer).
    Engine,
    /// Output queued across connections passed its bound and this was one of the largest.
    SlowConsumer,
    /// What was owed could not be written in time (closing or shutting down).
    LingerPassed,
}

impl std::fmt::Display for CloseWhy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Finished => "finished",
            Self::UnknownProtocol => "the first byte is not Nexo v1 or RESP",
            Self::Oversized => "frame over the frame limit",
            Self::Protocol => "closed by the protocol session",
            Self::Refused => "over the connection limit",
            Self::ReadTimeout => "a frame stayed incomplete past --client-read-timeout",
            Self::IdleTimeout => "idle past --client-idle-timeout",
            Self::Engine => "closed by the engine",
            Self::SlowConsumer => "slow consumer: output across connections over its bound",
            Self::LingerPassed => "queued output not written in time",
        })
    }
}

#[derive(Debug)]
enum Proto {
    Unknown,
    V1,
    Resp(Box<RespConn>),
    Mqtt(Box<mqtt_conn::MqttConn>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Refusing { deadline_ms: u64 },
    Closing { deadline_ms: u64, why: CloseWhy },
    Closed(CloseWhy),
}

/// One client connection (see the module docs for the loop rule).
#[derive(Debug)]
pub struct Session {
    ctx: Arc<SessionContext>,
    conn: ConnId,
    proto: Proto,
    phase: Phase,
    out: WriteQueue,
    in_flight: usize,
    /// When the buffered input last became an incomplete frame (read timeout).
    partial_since_ms: Option<u64>,
    /// When bytes last arrived (idle timeout).
    last_input_ms: u64,
    /// A Pub/Sub request was seen: exempt from the idle timeout, as Redis exempts subscribers.
    subscriber: bool,
    /// This session's shares of the context's global input and output counts.
    input_share: usize,
    output_share: usize,
    actions: Vec<crate::resp::Action>,
    /// Reused list of the chunks a RESP connection released.
    chunks: Vec<Bytes>,
    /// Login, protected mode and password checks (`auth_conn`).
    auth: auth_conn::ConnAuth,
}

impl Session {
    /// A session for a connection just accepted at `now`: MQTT when it came in on the MQTT
    /// listener, else told by its first bytes; `refused` over the connection limit; `peer` is its
    /// address when the socket tells it.
    pub fn accepted(
        ctx: Arc<SessionContext>,
        conn: ConnId,
        now: Now,
        (refused, mqtt): (bool, bool),
        peer: Option<std::net::IpAddr>,
    ) -> Self {
        let mut session = if mqtt {
            Self::new_mqtt(ctx, conn, now, refused)
        } else {
            Self::new(ctx, conn, now.mono_ms, refused)
        };
        if let Some(peer) = peer {
            session.set_peer(peer, now.mono_ms);
        }
        session
    }

    /// A session for connection `conn`, accepted at `now_ms`; `refused` when it is over the
    /// connection limit (it then only answers the refusal).
    pub fn new(ctx: Arc<SessionContext>, conn: ConnId, now_ms: u64, refused: bool) -> Self {
        let phase =
            if refused { Phase::Refusing { deadline_ms: now_ms + REFUSE_WAIT_MS } } else { Phase::Open };
        let auth = auth_conn::ConnAuth::new(&ctx);
        Self {
            ctx,
            conn,
            proto: Proto::Unknown,
            phase,
            out: WriteQueue::default(),
            in_flight: 0,
            partial_since_ms: None,
            last_input_ms: now_ms,
            subscriber: false,
            input_share: 0,
            output_share: 0,
            actions: Vec::new(),
            chunks: Vec::new(),
            auth,
        }
    }

    /// The connection id.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// The most input the runtime should buffer for this connection: one maximal frame and
    /// one read.
    pub fn read_buffer_max(&self) -> usize {
        self.ctx.limits().max_frame_bytes as usize + crate::READ_SLACK_BYTES
    }

    /// Whether the runtime may read more from the socket now.
    pub fn may_read(&self) -> bool {
        match self.phase {
            Phase::Open => self.has_room() && !self.input_paused() && !self.login_pending(),
            Phase::Refusing { .. } => true,
            Phase::Closing { .. } | Phase::Closed(_) => false,
        }
    }

    /// Room under the write limit and the in-flight cap.
    fn has_room(&self) -> bool {
        self.unsent_bytes() < self.ctx.limits().write_limit && self.in_flight < IN_FLIGHT_MAX
    }

    /// Input across connections is over its bound and this holds one of the large partial frames.
    fn input_paused(&self) -> bool {
        self.input_share > 0
            && self.input_share >= self.ctx.limits().input_max_bytes / 64
            && self.ctx.input_over()
    }

    /// Bytes queued or held for ordering, not yet written.
    pub fn unsent_bytes(&self) -> usize {
        let held = match &self.proto {
            Proto::Resp(resp) => resp.outbound.held_bytes(),
            _ => 0,
        };
        self.out.queued_bytes() + held
    }

    /// Whether anything is waiting to be written.
    pub fn wants_write(&self) -> bool {
        self.out.queued_bytes() > 0
    }

    /// `Some` once the runtime should drop the socket.
    pub fn close_reason(&self) -> Option<CloseWhy> {
        match self.phase {
            Phase::Closed(why) => Some(why),
            _ => None,
        }
    }

    /// Decodes what `buf` holds: answers what the session answers itself (into its output),
    /// appends requests for brokers to `items`, and keeps an incomplete frame in `buf`.
    pub fn handle_bytes(&mut self, now: Now, buf: &mut BytesMut, items: &mut Vec<Item>) {
        if !buf.is_empty() && buf.len() != self.input_share {
            self.last_input_ms = now.mono_ms;
        }
        if matches!(self.proto, Proto::Unknown) && !self.detect(buf) {
            return self.after_bytes(now.mono_ms, buf, false);
        }
        let stalled = match self.phase {
            Phase::Refusing { .. } => {
                self.refuse(now.mono_ms, buf);
                false
            }
            Phase::Open => match self.proto {
                Proto::Resp(_) => self.decode_resp(now, buf, items),
                Proto::Mqtt(_) => self.decode_mqtt(now, buf, items),
                _ => self.decode_v1(now.mono_ms, buf, items),
            },
            _ => false,
        };
        self.after_bytes(now.mono_ms, buf, stalled);
    }

    /// Picks the protocol from the first byte; `false` when nothing can be decided yet.
    fn detect(&mut self, buf: &mut BytesMut) -> bool {
        let Some(&first) = buf.first() else { return false };
        if first <= 0x1F {
            self.proto = Proto::V1;
        } else if nexo_proto::resp::is_resp_first_byte(first) {
            self.proto = Proto::Resp(Box::new(RespConn::new(Arc::clone(self.ctx.resp()), self.conn)));
            self.hand_login_to_resp();
        } else {
            buf.clear();
            self.phase = Phase::Closed(CloseWhy::UnknownProtocol);
            return false;
        }
        true
    }

    /// Book-keeping after decoding: the input share and the read-timeout clock.
    fn after_bytes(&mut self, now_ms: u64, buf: &mut BytesMut, stalled: bool) {
        if !matches!(self.phase, Phase::Open) {
            buf.clear();
        }
        self.partial_since_ms = match (buf.is_empty() || stalled, self.partial_since_ms) {
            (true, _) => None,
            (false, Some(since)) => Some(since),
            (false, None) => Some(now_ms),
        };
        self.ctx.track(true, self.input_share, buf.len());
        self.input_share = buf.len();
        self.track_output();
    }

    /// Over the connection limit: answer a first v1 header or RESP byte, then close.
    fn refuse(&mut self, now_ms: u64, buf: &mut BytesMut) {
        if self.refuse_denied(now_ms, buf) {
            return;
        }
        if matches!(self.proto, Proto::Resp(_)) {
            self.out.push_chunk(Bytes::from_static(TOO_MANY_CLIENTS), 0);
        } else if let Some(header) = FrameHeader::peek(buf) {
            self.out.push_reply(header.id, &Reply::Err("Too many connections".into()));
        } else {
            return;
        }
        buf.clear();
        self.begin_close(now_ms, CloseWhy::Refused);
    }

    /// v1 frames until none is complete or a limit stops decoding (`true`: stopped by a limit).
    fn decode_v1(&mut self, now_ms: u64, buf: &mut BytesMut, items: &mut Vec<Item>) -> bool {
        let max_frame = self.ctx.limits().max_frame_bytes;
        while matches!(self.phase, Phase::Open) {
            if !self.has_room() {
                return true;
            }
            match self.v1_gate(buf, max_frame, now_ms) {
                auth_conn::Gate::Pass => {}
                auth_conn::Gate::Stall => return true,
                auth_conn::Gate::Done => continue,
            }
            match v1::decode(buf, max_frame) {
                Ok(None) => break,
                Ok(Some(Routed::Answer { id, reply })) => self.out.push_reply(id, &reply),
                Ok(Some(Routed::Broker(item))) => self.route(item, items),
                Err(oversized) => {
                    self.out.push_reply(oversized.id, &Reply::error(oversized));
                    self.begin_close(now_ms, CloseWhy::Oversized);
                }
            }
        }
        false
    }

    /// RESP commands until none is complete or a limit stops decoding (`true`: stopped).
    fn decode_resp(&mut self, now: Now, buf: &mut BytesMut, items: &mut Vec<Item>) -> bool {
        let mut actions = std::mem::take(&mut self.actions);
        let mut stalled = false;
        while matches!(self.phase, Phase::Open) {
            if !self.has_room() {
                stalled = true;
                break;
            }
            let Proto::Resp(resp) = &mut self.proto else { break };
            if !resp.session.handle_one(now, buf, &mut actions) {
                break;
            }
            let mut close = false;
            for action in actions.drain(..) {
                match action {
                    crate::resp::Action::Slot(slot) => resp.outbound.handle_slot(slot),
                    crate::resp::Action::Store { id, request } => {
                        self.in_flight += 1;
                        items.push(Item::Store { id, request });
                    }
                    crate::resp::Action::PubSub { id, request } => {
                        resp.outbound.mark_pubsub(id);
                        self.in_flight += 1;
                        self.subscriber = true;
                        items.push(Item::PubSub { id, request });
                    }
                    crate::resp::Action::Verify(job) => {
                        self.in_flight += 1;
                        self.auth.jobs.push_back(job);
                    }
                    crate::resp::Action::Close => close = true,
                }
            }
            self.release_resp();
            if close {
                self.begin_close(now.mono_ms, CloseWhy::Protocol);
            }
        }
        self.actions = actions;
        stalled
    }

    fn route(&mut self, item: Item, items: &mut Vec<Item>) {
        if let Some((id, refusal)) = self.v1_refusal(&item) {
            return self.out.push_reply(id, &refusal);
        }
        self.in_flight += 1;
        self.subscriber |= matches!(item, Item::PubSub { .. });
        items.push(item);
    }

    /// Moves what the RESP reorder buffer released into the write queue.
    fn release_resp(&mut self) {
        if let Proto::Resp(resp) = &mut self.proto
            && let Some(released) = resp.outbound.take_chunks(&mut self.chunks)
        {
            // The push bytes are reported once the last chunk is written.
            let last = self.chunks.len().saturating_sub(1);
            for (i, chunk) in self.chunks.drain(..).enumerate() {
                self.out.push_chunk(chunk, if i == last { released.push_report } else { 0 });
            }
        }
    }

    /// A broker's network output for this connection: a reply, a push, or the engine's close
    /// (a slow consumer).
    pub fn handle_output(&mut self, output: NetOutput) {
        match output {
            NetOutput::Reply { id, reply, .. } => self.handle_reply(id, &reply),
            NetOutput::Push { frame, .. } => self.handle_push(&frame),
            NetOutput::Close { .. } => self.handle_close(CloseWhy::Engine),
        }
    }

    /// A broker's reply to request `id`.
    pub fn handle_reply(&mut self, id: u32, reply: &Reply) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.mqtt_reply(id, reply) {
            return;
        }
        match &mut self.proto {
            Proto::Resp(resp) => {
                resp.outbound.handle_reply(id, reply);
                self.release_resp();
            }
            _ => self.out.push_reply(id, reply),
        }
        self.track_output();
    }

    /// A push frame (shared, encoded once by the engine) for this connection. Past the global
    /// output bound, one of the largest consumers is closed instead.
    pub fn handle_push(&mut self, frame: &Bytes) {
        if matches!(self.phase, Phase::Closed(_)) {
            return;
        }
        if self.ctx.output_over() && self.unsent_bytes() >= self.ctx.limits().output_max_bytes / 64 {
            self.ctx.count_slow_consumer();
            return self.handle_close(CloseWhy::SlowConsumer);
        }
        if self.mqtt_push(frame) {
            return;
        }
        match &mut self.proto {
            Proto::Resp(resp) => {
                resp.outbound.handle_push(frame);
                self.release_resp();
            }
            _ => self.out.push_frame(frame.clone()),
        }
        self.track_output();
    }

    /// Closes at once, dropping what is queued (the engine's slow-consumer close).
    pub fn handle_close(&mut self, why: CloseWhy) {
        self.mqtt_end(None, true);
        self.out = WriteQueue::default();
        if let Proto::Resp(resp) = &mut self.proto {
            resp.outbound = crate::resp::RespOutbound::new();
        }
        self.phase = Phase::Closed(why);
        self.track_output();
    }

    /// The client closed its side: finish what it asked for, then close.
    pub fn handle_eof(&mut self, now_ms: u64) {
        self.mqtt_end(Some(now_ms), false);
        match self.phase {
            Phase::Open => self.begin_close(now_ms, CloseWhy::Finished),
            Phase::Refusing { .. } => self.phase = Phase::Closed(CloseWhy::Refused),
            _ => {}
        }
    }

    /// The server is stopping: stop reading, write what is owed (bounded), then close.
    pub fn handle_shutdown(&mut self, now_ms: u64) {
        self.mqtt_end(Some(now_ms), false);
        if matches!(self.phase, Phase::Open | Phase::Refusing { .. }) {
            self.begin_close(now_ms, CloseWhy::Finished);
        }
    }

    fn begin_close(&mut self, now_ms: u64, why: CloseWhy) {
        self.phase = Phase::Closing { deadline_ms: now_ms + CLOSE_WAIT_MS, why };
        self.settle();
    }

    /// A closing session with nothing owed is closed.
    fn settle(&mut self) {
        if let Phase::Closing { why, .. } = self.phase
            && self.in_flight == 0
            && self.unsent_bytes() == 0
        {
            self.phase = Phase::Closed(why);
        }
    }

    /// Writes what the socket takes; returns the push bytes completed (for Pub/Sub's
    /// `handle_flushed`).
    ///
    /// # Errors
    /// The socket's error; the session is then closed.
    pub fn write_to(&mut self, socket: &mut impl io::Write) -> io::Result<usize> {
        let result = self.out.write_to(socket);
        self.track_output();
        self.settle();
        result.map(|flushed| flushed.push_bytes)
    }

    fn track_output(&mut self) {
        let now = self.unsent_bytes();
        self.ctx.track(false, self.output_share, now);
        self.output_share = now;
    }

    /// The next moment (monotonic ms) this session has something to decide.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        let limits = self.ctx.limits();
        match self.phase {
            Phase::Refusing { deadline_ms } | Phase::Closing { deadline_ms, .. } => Some(deadline_ms),
            Phase::Closed(_) => None,
            Phase::Open => {
                let read = self
                    .partial_since_ms
                    .filter(|_| limits.read_timeout_ms > 0)
                    .map(|since| since + limits.read_timeout_ms);
                let idle =
                    (limits.idle_timeout_ms > 0).then_some(self.last_input_ms + limits.idle_timeout_ms);
                read.into_iter().chain(idle).chain(self.mqtt_deadline()).min()
            }
        }
    }

    /// Applies whatever deadline has passed at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let limits = *self.ctx.limits();
        match self.phase {
            Phase::Refusing { deadline_ms } if now_ms >= deadline_ms => {
                self.phase = Phase::Closed(CloseWhy::Refused);
            }
            Phase::Closing { deadline_ms, why } if now_ms >= deadline_ms => {
                let why = if why == CloseWhy::Finished { CloseWhy::LingerPassed } else { why };
                self.handle_close(why);
            }
            Phase::Open => {
                self.mqtt_timeout(now_ms);
                let read_due = limits.read_timeout_ms > 0
                    && self.partial_since_ms.is_some_and(|since| now_ms >= since + limits.read_timeout_ms);
                let idle_due = limits.idle_timeout_ms > 0
                    && self.in_flight == 0
                    && !self.subscriber
                    && now_ms >= self.last_input_ms + limits.idle_timeout_ms;
                if read_due {
                    self.handle_close(CloseWhy::ReadTimeout);
                } else if idle_due {
                    self.handle_close(CloseWhy::IdleTimeout);
                } else if limits.idle_timeout_ms > 0 && now_ms >= self.last_input_ms + limits.idle_timeout_ms
                {
                    // Busy or subscribed: look again one idle period from now.
                    self.last_input_ms = now_ms;
                }
            }
            _ => {}
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.ctx.track(true, self.input_share, 0);
        self.ctx.track(false, self.output_share, 0);
    }
}
