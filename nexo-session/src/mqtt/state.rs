//! The part of an MQTT session that outlives a connection when the client asked for a
//! persistent session: subscriptions, QoS 2 packet ids received and not yet released, messages
//! sent and not yet acknowledged, and messages waiting for the in-flight window.
//!
//! It is plain data with the window and matching rules; the session drives it. It never
//! encodes bytes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use nexo_engine::pubsub::topic::{SHARE_PREFIX, matches};
use nexo_proto::mqtt::{Publish, QoS, SubOptions};

/// One subscription as the client made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubEntry {
    /// Options (granted QoS, flags).
    pub(crate) options: SubOptions,
    /// MQTT 5 Subscription Identifier.
    pub(crate) subscription_id: Option<u32>,
}

/// Where an outgoing QoS 1 / 2 message stands: the acknowledgement it awaits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// QoS 1 sent, PUBACK awaited.
    Ack,
    /// QoS 2 sent, PUBREC awaited.
    Rec,
    /// PUBREL sent, PUBCOMP awaited.
    Comp,
}

/// An outgoing message in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutFlight {
    pub(crate) publish: Publish,
    pub(crate) stage: Stage,
    /// Send order (retransmission keeps it).
    pub(crate) order: u64,
}

/// A message waiting for room in the window, with the push bytes it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub(crate) publish: Publish,
    pub(crate) push_bytes: usize,
}

/// Session state kept across connections (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    pub(crate) subscriptions: BTreeMap<String, SubEntry>,
    pub(crate) inbound_qos2: BTreeSet<u16>,
    pub(crate) inflight: BTreeMap<u16, OutFlight>,
    pub(crate) waiting: VecDeque<Waiting>,
    next_packet_id: u16,
    next_order: u64,
}

impl SessionState {
    /// Subscriptions held.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }

    /// Outgoing messages sent and not yet completely acknowledged.
    pub fn inflight_count(&self) -> usize {
        self.inflight.len()
    }

    /// Incoming QoS 2 packet ids received and not yet released by PUBREL.
    pub fn inbound_qos2_count(&self) -> usize {
        self.inbound_qos2.len()
    }

    /// Puts `publish` into the window under a fresh packet id (`None` when every id is taken).
    pub(crate) fn send(&mut self, mut publish: Publish) -> Option<&Publish> {
        let id = self.free_id()?;
        publish.packet_id = id;
        let stage = if publish.qos == QoS::ExactlyOnce { Stage::Rec } else { Stage::Ack };
        self.next_order += 1;
        let flight = OutFlight { publish, stage, order: self.next_order };
        Some(&self.inflight.entry(id).or_insert(flight).publish)
    }

    fn free_id(&mut self) -> Option<u16> {
        for _ in 0..=u16::MAX {
            self.next_packet_id = self.next_packet_id.wrapping_add(1).max(1);
            if !self.inflight.contains_key(&self.next_packet_id) {
                return Some(self.next_packet_id);
            }
        }
        None
    }

    /// The in-flight messages in send order (for retransmission).
    pub(crate) fn inflight_in_order(&self) -> Vec<&OutFlight> {
        let mut all: Vec<&OutFlight> = self.inflight.values().collect();
        all.sort_by_key(|f| f.order);
        all
    }

    /// The highest QoS granted to a subscription matching `topic` and the subscription
    /// identifiers of all of them; `None` when nothing matches.
    pub(crate) fn deliver_as(&self, topic: &str) -> Option<(QoS, Vec<u32>)> {
        let mut best: Option<QoS> = None;
        let mut ids = Vec::new();
        for (filter, entry) in &self.subscriptions {
            if filter_matches(filter, topic) {
                best = best.max(Some(entry.options.qos));
                ids.extend(entry.subscription_id);
            }
        }
        best.map(|qos| (qos, ids))
    }

    /// Forgets what belonged to the connection rather than the session: push bytes owed to a
    /// Pub/Sub connection that is gone.
    pub(crate) fn detach(&mut self) {
        for waiting in &mut self.waiting {
            waiting.push_bytes = 0;
        }
    }
}

/// Whether a subscription string (plain or `$share/<group>/<filter>`) matches `topic`; a topic
/// starting with `$` is not matched by a filter starting with a wildcard.
pub(crate) fn filter_matches(subscription: &str, topic: &str) -> bool {
    let filter = match subscription.strip_prefix(SHARE_PREFIX) {
        Some(rest) => rest.split_once('/').map_or("", |(_, f)| f),
        None => subscription,
    };
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    matches(filter, topic)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(filter_matches("a/+/c", "a/b/c"));
        assert!(filter_matches("$share/g/a/#", "a/b"));
        assert!(!filter_matches("#", "$SYS/x"));
        assert!(!filter_matches("+/x", "$SYS/x"));
        assert!(filter_matches("$SYS/#", "$SYS/x"));
    }

    #[test]
    fn packet_ids_skip_zero_and_ids_in_use() {
        let mut state = SessionState { next_packet_id: u16::MAX - 1, ..SessionState::default() };
        let publish = Publish { qos: QoS::AtLeastOnce, ..Publish::default() };
        let ids: Vec<u16> = (0..3).filter_map(|_| state.send(publish.clone()).map(|p| p.packet_id)).collect();
        assert_eq!(ids, [u16::MAX, 1, 2]);
        let order: Vec<u16> = state.inflight_in_order().iter().map(|f| f.publish.packet_id).collect();
        assert_eq!(order, [u16::MAX, 1, 2]);
    }
}
