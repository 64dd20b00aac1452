//! The MQTT front, sans-IO: one [`MqttSession`] per MQTT connection turns MQTT 3.1.1 / 5.0
//! packets into Pub/Sub requests and the Pub/Sub broker's replies and pushes into MQTT packets.
//!
//! Loop rule for a runtime (the same as every session's): after reading, call
//! [`MqttSession::handle_bytes`] and hand every [`MqttRequest`] to Pub/Sub; feed its replies and
//! pushes back with [`MqttSession::handle_reply`] and [`MqttSession::handle_push`]; after any
//! input drain [`MqttSession::poll_transmit`] to `None` and write the bytes in order (reporting
//! each transmit's `push_bytes` to Pub/Sub once written); read again only while
//! [`MqttSession::may_read`]; call [`MqttSession::handle_timeout`] at
//! [`MqttSession::poll_timeout`]; on EOF or a socket error call [`MqttSession::handle_eof`];
//! drop the socket once [`MqttSession::close_reason`] is `Some` and what was transmitted is
//! written. A session never reads a clock, touches a socket or blocks.
//!
//! What maps onto what: PUBLISH is Pub/Sub PUBLISH (RETAIN becomes `retain`, a Message Expiry
//! Interval its `ttl`, none `persist`); SUBSCRIBE and UNSUBSCRIBE are one Pub/Sub request per
//! filter (`$share/<group>/<filter>` maps onto the broker's shared subscriptions); a push becomes
//! a PUBLISH at the highest QoS granted to a matching subscription. QoS 1 / 2 acknowledgements
//! to the client wait for the broker's reply (for a retained message: until it is durable).
//! Persistent sessions live in the shared [`MqttContext`] (in memory) between connections.

mod context;
mod inbound;
mod outbound;
mod session;
mod state;
mod subs;

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;

pub use context::{MqttConfig, MqttContext};
pub use session::{MqttCloseWhy, MqttSession};
pub use state::SessionState;

use bytes::Bytes;
use nexo_proto::request::PubSubRequest;

/// A request for Pub/Sub with its connection-local id (its reply comes back to
/// [`MqttSession::handle_reply`] with the same id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttRequest {
    /// Request id.
    pub id: u32,
    /// The command.
    pub request: PubSubRequest,
}

/// Bytes to write, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Encoded MQTT packets.
    pub bytes: Bytes,
    /// Bytes of Pub/Sub push frames these packets deliver, to report to Pub/Sub
    /// (`handle_flushed`) once written.
    pub push_bytes: usize,
}
