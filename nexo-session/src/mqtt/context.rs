//! What every MQTT session of one server shares: the MQTT limits and the persistent sessions
//! of clients that are offline.
//!
//! Stored sessions are kept in memory only (not journaled yet), bounded by
//! [`MqttConfig::max_stored_sessions`]: storing one more forgets the one that expires first.
//! Expiry is checked against the time the caller passes in; nothing here reads a clock.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use nexo_engine::pubsub::TopicLimits;
use nexo_proto::mqtt::DEFAULT_MAX_PACKET_BYTES;

use super::SessionState;

/// MQTT limits (each is a flag or a documented constant; see docs/OPERATIONS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MqttConfig {
    /// Largest packet accepted from a client, fixed header included (`--mqtt-max-packet-bytes`,
    /// default 1 MiB); advertised as Maximum Packet Size.
    pub max_packet_bytes: u32,
    /// QoS 1 and 2 publishes a client may have unacknowledged towards the server; advertised as
    /// Receive Maximum (default 64). An MQTT 5 client past it is disconnected with 0x93.
    pub receive_maximum: u16,
    /// QoS 1 and 2 messages the server sends before waiting for acknowledgements (default 64;
    /// lowered to the client's Receive Maximum).
    pub max_inflight_out: u16,
    /// Messages waiting for room in that window (default 1000); one more closes the connection
    /// as a slow consumer.
    pub max_pending_out: usize,
    /// Topic aliases a client may define (default 64); advertised as Topic Alias Maximum.
    pub topic_alias_maximum: u16,
    /// Topic filters per client (default 1000); more are refused with 0x97 (0x80 in 3.1.1).
    pub max_subscriptions: usize,
    /// Topic length and levels (default 1024 bytes, 32 levels, as Pub/Sub's).
    pub topic_limits: TopicLimits,
    /// Longest client identifier (default 256 bytes); longer ones get CONNACK 0x85 (3.1.1: 0x02).
    pub max_client_id_bytes: usize,
    /// How long a connection may take to send CONNECT (default 10 s).
    pub connect_timeout_ms: u64,
    /// Persistent sessions kept for offline clients (default 10 000).
    pub max_stored_sessions: usize,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            max_packet_bytes: DEFAULT_MAX_PACKET_BYTES,
            receive_maximum: 64,
            max_inflight_out: 64,
            max_pending_out: 1000,
            topic_alias_maximum: 64,
            max_subscriptions: 1000,
            topic_limits: TopicLimits::default(),
            max_client_id_bytes: 256,
            connect_timeout_ms: 10_000,
            max_stored_sessions: 10_000,
        }
    }
}

/// A stored session and the monotonic time it expires (`u64::MAX`: never).
#[derive(Debug)]
struct Stored {
    expires_ms: u64,
    state: SessionState,
}

/// Shared by every MQTT session of a server.
#[derive(Debug, Default)]
pub struct MqttContext {
    config: MqttConfig,
    stored: Mutex<BTreeMap<String, Stored>>,
    dropped_sessions: AtomicU64,
}

impl MqttContext {
    /// A context with these limits and no stored sessions.
    pub fn new(config: MqttConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// The limits.
    pub fn config(&self) -> &MqttConfig {
        &self.config
    }

    /// Stored sessions forgotten to make room (a metric).
    pub fn dropped_sessions(&self) -> u64 {
        self.dropped_sessions.load(Ordering::Relaxed)
    }

    /// Stored sessions now.
    pub fn stored_sessions(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Stored>> {
        // A panic elsewhere cannot leave the map half-updated: every change is one call.
        self.stored.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the stored session of `client_id` if it has not expired at `now_ms`.
    pub(crate) fn take(&self, client_id: &str, now_ms: u64) -> Option<SessionState> {
        let stored = self.lock().remove(client_id)?;
        (stored.expires_ms > now_ms).then_some(stored.state)
    }

    /// Forgets the stored session of `client_id` (a clean start).
    pub(crate) fn discard(&self, client_id: &str) {
        self.lock().remove(client_id);
    }

    /// Keeps `state` for `client_id` until `expires_ms`, dropping expired sessions and, when
    /// full, the one that expires first.
    pub(crate) fn store(&self, client_id: String, state: SessionState, now_ms: u64, expires_ms: u64) {
        let mut map = self.lock();
        map.retain(|_, s| s.expires_ms > now_ms);
        while map.len() >= self.config.max_stored_sessions.max(1) {
            let Some(first) = map.iter().min_by_key(|(_, s)| s.expires_ms).map(|(k, _)| k.clone()) else {
                break;
            };
            map.remove(&first);
            self.dropped_sessions.fetch_add(1, Ordering::Relaxed);
        }
        map.insert(client_id, Stored { expires_ms, state });
    }
}
