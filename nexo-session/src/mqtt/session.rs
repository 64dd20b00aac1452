//! One MQTT connection's life cycle: CONNECT and CONNACK, keep-alive, protocol violations,
//! DISCONNECT, the will, and handing the persistent part of the session to the shared context
//! when the connection ends. Packet-specific work lives in `inbound` (client PUBLISH and its
//! acknowledgements), `subs` (SUBSCRIBE / UNSUBSCRIBE) and `outbound` (deliveries).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use nexo_engine::{ConnId, Now};
use nexo_proto::Reply;
use nexo_proto::mqtt::{
    ConnAck, Connect, Disconnect, MqttError, Packet, Properties, ReasonCode, Version, Will, decode,
};

use super::state::SessionState;
use super::{MqttContext, MqttRequest, Transmit};

/// Pub/Sub requests of one connection awaiting replies, above which reading pauses.
const REQUESTS_IN_FLIGHT_MAX: usize = 1024;

/// Why an MQTT session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MqttCloseWhy {
    /// The client sent DISCONNECT.
    Disconnected,
    /// The connection ended without DISCONNECT (EOF, socket error, server shutdown).
    ConnectionLost,
    /// A protocol violation; an MQTT 5 client was sent DISCONNECT with this code first.
    Protocol(ReasonCode),
    /// CONNECT was refused with this code (CONNACK sent).
    Refused(ReasonCode),
    /// No CONNECT within the connect timeout.
    ConnectTimeout,
    /// Nothing arrived within 1.5 times the keep-alive.
    KeepAliveTimeout,
    /// Too many messages waiting for the client, or Pub/Sub closed it as a slow consumer.
    SlowConsumer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitConnect { deadline_ms: u64 },
    Open,
    Closed(MqttCloseWhy),
}

/// What a Pub/Sub reply completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Awaited {
    /// A client PUBLISH (QoS 1 / 2 are acknowledged by the reply).
    Publish { packet_id: u16, qos: nexo_proto::mqtt::QoS },
    /// One filter of a SUBSCRIBE or UNSUBSCRIBE.
    Filter { packet_id: u16, index: usize },
    /// Nothing to answer (a QoS 0 publish, a will, a re-subscription on resume).
    Nothing,
}

/// One MQTT connection (see the module docs of `mqtt` for the loop rule).
#[derive(Debug)]
pub struct MqttSession {
    pub(crate) ctx: Arc<MqttContext>,
    conn: ConnId,
    phase: Phase,
    pub(crate) version: Version,
    client_id: String,
    keep_alive_ms: u64,
    last_input_ms: u64,
    will: Option<Will>,
    session_expiry_s: u32,
    pub(crate) client_max_packet: u32,
    pub(crate) client_receive_max: u16,
    pub(crate) aliases: BTreeMap<u16, String>,
    pub(crate) state: SessionState,
    pub(crate) awaited: BTreeMap<u32, Awaited>,
    next_request: u32,
    /// QoS 1 publishes from the client whose PUBACK waits for Pub/Sub.
    pub(crate) qos1_unacked: usize,
    /// SUBACKs / UNSUBACKs being assembled, by packet id.
    pub(crate) acks: BTreeMap<u16, super::subs::AckBuild>,
    /// Pushes that arrived while a SUBACK was incomplete (delivered after it).
    pub(crate) held_pushes: VecDeque<Bytes>,
    staging: BytesMut,
    pub(crate) staged_push_bytes: usize,
}

impl MqttSession {
    /// A session for connection `conn`, accepted at `now_ms`.
    pub fn new(ctx: Arc<MqttContext>, conn: ConnId, now_ms: u64) -> Self {
        let deadline_ms = now_ms + ctx.config().connect_timeout_ms;
        Self {
            ctx,
            conn,
            phase: Phase::AwaitConnect { deadline_ms },
            version: Version::V311,
            client_id: String::new(),
            keep_alive_ms: 0,
            last_input_ms: now_ms,
            will: None,
            session_expiry_s: 0,
            client_max_packet: u32::MAX,
            client_receive_max: u16::MAX,
            aliases: BTreeMap::new(),
            state: SessionState::default(),
            awaited: BTreeMap::new(),
            next_request: 0,
            qos1_unacked: 0,
            acks: BTreeMap::new(),
            held_pushes: VecDeque::new(),
            staging: BytesMut::new(),
            staged_push_bytes: 0,
        }
    }

    /// The connection id.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// The client identifier (empty before CONNECT; assigned by the server when the client
    /// sent none).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The protocol version (3.1.1 until CONNECT says otherwise).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The session state (subscriptions, windows).
    pub fn state(&self) -> &SessionState {
        &self.state
    }

    /// `Some` once the connection should close (after writing what was transmitted).
    pub fn close_reason(&self) -> Option<MqttCloseWhy> {
        match self.phase {
            Phase::Closed(why) => Some(why),
            _ => None,
        }
    }

    /// Whether the runtime may read more now.
    pub fn may_read(&self) -> bool {
        !matches!(self.phase, Phase::Closed(_)) && self.awaited.len() < REQUESTS_IN_FLIGHT_MAX
    }

    pub(crate) fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Bytes to write next, in order; drain to `None` after every input.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.staging.is_empty() {
            return None;
        }
        let push_bytes = std::mem::take(&mut self.staged_push_bytes);
        Some(Transmit { bytes: self.staging.split().freeze(), push_bytes })
    }

    /// The next moment (monotonic ms) this session has a deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.phase {
            Phase::AwaitConnect { deadline_ms } => Some(deadline_ms),
            Phase::Open if self.keep_alive_ms > 0 => Some(self.last_input_ms + self.keep_alive_ms),
            _ => None,
        }
    }

    /// Applies whatever deadline has passed at `now`.
    pub fn handle_timeout(&mut self, now: Now, items: &mut Vec<MqttRequest>) {
        match self.phase {
            Phase::AwaitConnect { deadline_ms } if now.mono_ms >= deadline_ms => {
                self.phase = Phase::Closed(MqttCloseWhy::ConnectTimeout);
            }
            Phase::Open
                if self.keep_alive_ms > 0 && now.mono_ms >= self.last_input_ms + self.keep_alive_ms =>
            {
                self.send_disconnect(ReasonCode::KEEP_ALIVE_TIMEOUT);
                self.close(now, MqttCloseWhy::KeepAliveTimeout, items);
            }
            _ => {}
        }
    }

    /// Decodes every complete packet in `buf` (consuming it) and acts on it; requests for
    /// Pub/Sub are appended to `items`. An incomplete packet stays in `buf`.
    pub fn handle_bytes(&mut self, now: Now, buf: &mut BytesMut, items: &mut Vec<MqttRequest>) {
        while self.may_read() {
            match decode(buf, self.version, self.ctx.config().max_packet_bytes) {
                Ok(None) => break,
                Ok(Some((consumed, packet))) => {
                    buf.advance(consumed);
                    self.last_input_ms = now.mono_ms;
                    self.handle_packet(now, packet, items);
                }
                Err(err) => self.handle_decode_error(now, &err, items),
            }
        }
        if matches!(self.phase, Phase::Closed(_)) {
            buf.clear();
        }
    }

    fn handle_decode_error(&mut self, now: Now, err: &MqttError, items: &mut Vec<MqttRequest>) {
        if let (MqttError::UnsupportedVersion(level), Phase::AwaitConnect { .. }) = (err, self.phase) {
            // Answer in the newest format the client can read, then close.
            let (version, code) = if *level > 5 {
                (Version::V5, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION)
            } else {
                (Version::V311, ReasonCode(0x01))
            };
            self.version = version;
            return self.refuse(code);
        }
        self.violation(now, err.reason_code(), items);
    }

    fn handle_packet(&mut self, now: Now, packet: Packet, items: &mut Vec<MqttRequest>) {
        if let Packet::Connect(connect) = packet {
            return self.handle_connect(now, *connect, items);
        }
        if !self.is_open() {
            return self.violation(now, ReasonCode::PROTOCOL_ERROR, items);
        }
        match packet {
            Packet::Publish(publish) => self.handle_publish(now, publish, items),
            Packet::PubAck(ack) => self.handle_puback(ack.packet_id),
            Packet::PubRec(rec) => self.handle_pubrec(&rec),
            Packet::PubRel(rel) => self.handle_pubrel(rel.packet_id),
            Packet::PubComp(comp) => self.handle_pubcomp(comp.packet_id),
            Packet::Subscribe(subscribe) => self.handle_subscribe(now, subscribe, items),
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(now, unsubscribe, items),
            Packet::PingReq => self.send(&Packet::PingResp),
            Packet::Disconnect(disconnect) => self.handle_disconnect(now, &disconnect, items),
            _ => self.violation(now, ReasonCode::PROTOCOL_ERROR, items),
        }
    }

    fn handle_connect(&mut self, now: Now, c: Connect, items: &mut Vec<MqttRequest>) {
        if !matches!(self.phase, Phase::AwaitConnect { .. }) {
            return self.violation(now, ReasonCode::PROTOCOL_ERROR, items);
        }
        self.version = c.version;
        if let Err(code) = self.check_connect(&c) {
            return self.refuse(code);
        }
        let v5 = c.version.is_v5();
        let assigned = c.client_id.is_empty().then(|| format!("nexo-{:016x}", self.conn.0));
        self.client_id = assigned.clone().unwrap_or(c.client_id);
        self.keep_alive_ms = u64::from(c.keep_alive_s) * 1_500;
        self.will = c.will;
        self.session_expiry_s = match (v5, c.clean_start) {
            (true, _) => c.properties.session_expiry_s.unwrap_or(0),
            (false, true) => 0,
            (false, false) => u32::MAX,
        };
        self.client_max_packet = c.properties.maximum_packet_size.unwrap_or(u32::MAX);
        self.client_receive_max = c.properties.receive_maximum.unwrap_or(u16::MAX);
        let stored = if c.clean_start {
            self.ctx.discard(&self.client_id);
            None
        } else {
            self.ctx.take(&self.client_id, now.mono_ms)
        };
        let session_present = stored.is_some();
        self.phase = Phase::Open;
        let properties = if v5 { self.connack_properties(assigned) } else { Properties::default() };
        self.send(&Packet::ConnAck(ConnAck { session_present, code: ReasonCode::SUCCESS, properties }));
        if let Some(state) = stored {
            self.resume(state, items);
        }
    }

    /// The reason to refuse a CONNECT, if any.
    fn check_connect(&self, c: &Connect) -> Result<(), ReasonCode> {
        let v5 = c.version.is_v5();
        let bad_id = if v5 { ReasonCode::CLIENT_IDENTIFIER_NOT_VALID } else { ReasonCode(0x02) };
        if c.client_id.len() > self.ctx.config().max_client_id_bytes {
            return Err(bad_id);
        }
        if c.client_id.is_empty() && !v5 && !c.clean_start {
            return Err(bad_id);
        }
        if c.properties.auth_method.is_some() {
            return Err(ReasonCode::BAD_AUTHENTICATION_METHOD);
        }
        if let Some(will) = &c.will
            && super::inbound::check_topic(&will.topic, self.ctx.config()).is_err()
        {
            return Err(if v5 { ReasonCode::TOPIC_NAME_INVALID } else { ReasonCode(0x03) });
        }
        Ok(())
    }

    fn connack_properties(&self, assigned: Option<String>) -> Properties {
        let config = self.ctx.config();
        Properties {
            assigned_client_id: assigned,
            receive_maximum: Some(config.receive_maximum),
            maximum_packet_size: Some(config.max_packet_bytes),
            topic_alias_maximum: Some(config.topic_alias_maximum),
            retain_available: Some(true),
            wildcard_subscription_available: Some(true),
            subscription_ids_available: Some(true),
            shared_subscription_available: Some(true),
            ..Properties::default()
        }
    }

    /// CONNACK with an error code, then close (no will: the connection was never accepted).
    fn refuse(&mut self, code: ReasonCode) {
        self.send(&Packet::ConnAck(ConnAck { code, ..ConnAck::default() }));
        self.will = None;
        self.phase = Phase::Closed(MqttCloseWhy::Refused(code));
    }

    fn handle_disconnect(&mut self, now: Now, d: &Disconnect, items: &mut Vec<MqttRequest>) {
        if let Some(expiry) = d.properties.session_expiry_s {
            if self.session_expiry_s == 0 && expiry != 0 {
                return self.violation(now, ReasonCode::PROTOCOL_ERROR, items);
            }
            self.session_expiry_s = expiry;
        }
        if d.code != ReasonCode::DISCONNECT_WITH_WILL {
            self.will = None;
        }
        self.close(now, MqttCloseWhy::Disconnected, items);
    }

    /// The client broke the protocol: MQTT 5 gets DISCONNECT with `code` first (once CONNACK
    /// went out), 3.1.1 is just closed.
    pub(crate) fn violation(&mut self, now: Now, code: ReasonCode, items: &mut Vec<MqttRequest>) {
        if self.is_open() {
            self.send_disconnect(code);
        }
        self.close(now, MqttCloseWhy::Protocol(code), items);
    }

    fn send_disconnect(&mut self, code: ReasonCode) {
        if self.version.is_v5() {
            self.send(&Packet::Disconnect(Disconnect { code, properties: Properties::default() }));
        }
    }

    /// The connection ended without DISCONNECT (EOF, socket error, shutdown).
    pub fn handle_eof(&mut self, now: Now, items: &mut Vec<MqttRequest>) {
        if !matches!(self.phase, Phase::Closed(_)) {
            self.close(now, MqttCloseWhy::ConnectionLost, items);
        }
    }

    /// Pub/Sub closed this connection (a slow consumer).
    pub fn handle_engine_close(&mut self, now: Now, items: &mut Vec<MqttRequest>) {
        if !matches!(self.phase, Phase::Closed(_)) {
            self.close(now, MqttCloseWhy::SlowConsumer, items);
        }
    }

    /// Ends the session: publishes the will unless the client disconnected cleanly, and keeps
    /// the persistent part when the client asked for it.
    pub(crate) fn close(&mut self, now: Now, why: MqttCloseWhy, items: &mut Vec<MqttRequest>) {
        let was_open = self.is_open();
        self.phase = Phase::Closed(why);
        if !was_open {
            return;
        }
        if let Some(will) = self.will.take() {
            // Sessions are not kept past the connection's end for the will, so a Will Delay
            // Interval is not waited for (see docs/PROTOCOL.md).
            let request =
                super::inbound::publish_request(&will.topic, will.retain, &will.properties, will.payload);
            self.route(request, Awaited::Nothing, items);
        }
        if self.session_expiry_s > 0 {
            let mut state = std::mem::take(&mut self.state);
            state.detach();
            let expires_ms = match self.session_expiry_s {
                u32::MAX => u64::MAX,
                s => now.mono_ms.saturating_add(u64::from(s) * 1_000),
            };
            self.ctx.store(self.client_id.clone(), state, now.mono_ms, expires_ms);
        }
    }

    /// A Pub/Sub reply to request `id`.
    pub fn handle_reply(&mut self, now: Now, id: u32, reply: &Reply, items: &mut Vec<MqttRequest>) {
        let Some(awaited) = self.awaited.remove(&id) else { return };
        match awaited {
            Awaited::Publish { packet_id, qos } => self.publish_replied(now, packet_id, qos, reply, items),
            Awaited::Filter { packet_id, index } => self.filter_replied(now, packet_id, index, reply, items),
            Awaited::Nothing => {}
        }
    }

    /// Hands a request to Pub/Sub, remembering what its reply completes.
    pub(crate) fn route(
        &mut self,
        request: nexo_proto::request::PubSubRequest,
        awaited: Awaited,
        items: &mut Vec<MqttRequest>,
    ) {
        self.next_request = self.next_request.wrapping_add(1);
        self.awaited.insert(self.next_request, awaited);
        items.push(MqttRequest { id: self.next_request, request });
    }

    /// Encodes a packet for the client.
    pub(crate) fn send(&mut self, packet: &Packet) {
        packet.encode(self.version, &mut self.staging);
    }
}
