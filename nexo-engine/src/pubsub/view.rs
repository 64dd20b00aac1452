//! Read-only views of Pub/Sub for the dashboard: subscriptions by pattern and retained messages.
//!
//! Owns [`SubscriptionView`], [`SubscriptionList`], [`RetainedView`] and the methods that build
//! them. It must not change anything (no expiry, no counters). A subscription listing walks every
//! connection's subscriptions (O(subscriptions)); a retained listing walks the live retained
//! messages, which [`super::PubSubConfig::max_retained_messages`] bounds.

use std::collections::BTreeMap;

use bytes::Bytes;
use nexo_proto::{HEADER_LEN, Push};

use super::fanout::SubKind;
use super::{MAX_TOPICS_PAGE, PubSub};
use crate::time::Now;

/// Most bytes of a payload a [`RetainedView`] carries.
pub const RETAINED_HEAD_BYTES: usize = 1024;

/// What kind of subscription a pattern is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubscriptionKind {
    /// A concrete topic.
    Exact,
    /// A pattern with `+` or `#`.
    Wildcard,
    /// A `$share/<group>/<filter>` group.
    Shared,
    /// A Redis channel (RESP SUBSCRIBE: the name matched byte for byte).
    Channel,
    /// A Redis glob (RESP PSUBSCRIBE).
    ChannelPattern,
}

/// One subscription string and how many connections hold it (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionView {
    /// The subscription string as sent (`$share/…` included for shared groups).
    pub pattern: String,
    /// Exact, wildcard or shared.
    pub kind: SubscriptionKind,
    /// Connections holding it (members, for a shared group).
    pub subscribers: u64,
}

/// A page of subscriptions by pattern, with totals over all of them (an owned snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionList {
    /// Distinct subscription strings.
    pub total: u64,
    /// Distinct wildcard patterns.
    pub wildcard: u64,
    /// Distinct shared groups.
    pub shared: u64,
    /// Distinct Redis channels and globs (RESP subscriptions).
    pub channels: u64,
    /// The page, by pattern (a string held both as a topic filter and as a Redis channel is
    /// listed once per kind).
    pub items: Vec<SubscriptionView>,
}

/// One retained message (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedView {
    /// Its topic.
    pub topic: String,
    /// Payload size in bytes.
    pub payload_len: u64,
    /// The first [`RETAINED_HEAD_BYTES`] bytes of the payload.
    pub payload_head: Bytes,
    /// Milliseconds before it expires; `None` when it never does.
    pub ttl_ms: Option<u64>,
}

impl PubSub {
    /// Up to `limit` (at most [`MAX_TOPICS_PAGE`]) distinct subscription strings of every kind
    /// (topic filters, shared groups, Redis channels and globs), ordered by string, from position
    /// `offset`, with how many connections hold each.
    pub fn subscriptions(&self, offset: usize, limit: usize) -> SubscriptionList {
        let mut by_pattern: BTreeMap<(&str, SubscriptionKind), u64> = BTreeMap::new();
        for state in self.conns.values() {
            for (pattern, kind) in &state.subs {
                let kind = match kind {
                    SubKind::Shared(_) => SubscriptionKind::Shared,
                    SubKind::Normal if is_wildcard(pattern) => SubscriptionKind::Wildcard,
                    SubKind::Normal => SubscriptionKind::Exact,
                };
                *by_pattern.entry((pattern, kind)).or_insert(0) += 1;
            }
            for channel in &state.channels {
                *by_pattern.entry((channel, SubscriptionKind::Channel)).or_insert(0) += 1;
            }
            for glob in &state.globs {
                *by_pattern.entry((glob, SubscriptionKind::ChannelPattern)).or_insert(0) += 1;
            }
        }
        let count = |kinds: &[SubscriptionKind]| {
            by_pattern.keys().filter(|(_, kind)| kinds.contains(kind)).count() as u64
        };
        SubscriptionList {
            total: by_pattern.len() as u64,
            wildcard: count(&[SubscriptionKind::Wildcard]),
            shared: count(&[SubscriptionKind::Shared]),
            channels: count(&[SubscriptionKind::Channel, SubscriptionKind::ChannelPattern]),
            items: by_pattern
                .iter()
                .skip(offset)
                .take(limit.min(MAX_TOPICS_PAGE))
                .map(|(&(pattern, kind), &subscribers)| SubscriptionView {
                    pattern: pattern.to_owned(),
                    kind,
                    subscribers,
                })
                .collect(),
        }
    }

    /// Up to `limit` (at most [`MAX_TOPICS_PAGE`]) live retained messages ordered by topic
    /// levels, from position `offset`.
    pub fn retained_messages(&self, now: Now, offset: usize, limit: usize) -> Vec<RetainedView> {
        self.retained
            .matching("#", now.mono_ms)
            .into_iter()
            .skip(offset)
            .take(limit.min(MAX_TOPICS_PAGE))
            .map(|msg| {
                let payload = msg
                    .frame
                    .get(HEADER_LEN..)
                    .and_then(|body| Push::decode(&msg.frame.slice_ref(body)).ok())
                    .map(|push| push.payload)
                    .unwrap_or_default();
                let head = &payload[..payload.len().min(RETAINED_HEAD_BYTES)];
                RetainedView {
                    topic: msg.topic.to_string(),
                    payload_len: payload.len() as u64,
                    payload_head: Bytes::copy_from_slice(head),
                    ttl_ms: msg.expires_at_ms.map(|at| at.saturating_sub(now.mono_ms)),
                }
            })
            .collect()
    }
}

fn is_wildcard(pattern: &str) -> bool {
    pattern.split('/').any(|level| level == "+" || level == "#")
}

#[cfg(test)]
mod tests {
    use nexo_proto::options::PublishOptions;
    use nexo_proto::request::PubSubRequest;

    use super::*;
    use crate::broker::Broker;
    use crate::ids::ConnId;
    use crate::pubsub::PubSubConfig;

    fn send(ps: &mut PubSub, now: Now, conn: u64, request: PubSubRequest) {
        ps.handle_request(now, ConnId(conn), 1, request);
        while ps.poll_output().is_some() {}
    }

    fn subscribe(ps: &mut PubSub, conn: u64, pattern: &str) {
        send(ps, Now::at(0), conn, PubSubRequest::Subscribe { pattern: pattern.into() });
    }

    #[test]
    fn subscriptions_are_counted_by_pattern_and_kind() {
        let mut ps = PubSub::new(PubSubConfig::default(), 3);
        subscribe(&mut ps, 1, "a/b");
        subscribe(&mut ps, 2, "a/b");
        subscribe(&mut ps, 2, "a/+");
        subscribe(&mut ps, 3, "$share/g/a/#");
        subscribe(&mut ps, 4, "$share/g/a/#");
        let list = ps.subscriptions(0, 10);
        assert_eq!((list.total, list.wildcard, list.shared), (3, 1, 1));
        let rows: Vec<_> = list.items.iter().map(|s| (s.pattern.as_str(), s.kind, s.subscribers)).collect();
        assert_eq!(
            rows,
            [
                ("$share/g/a/#", SubscriptionKind::Shared, 2),
                ("a/+", SubscriptionKind::Wildcard, 1),
                ("a/b", SubscriptionKind::Exact, 2)
            ]
        );
        assert_eq!(ps.subscriptions(2, 10).items.len(), 1);
    }

    #[test]
    fn retained_messages_show_payload_and_ttl() {
        let mut ps = PubSub::new(PubSubConfig::default(), 3);
        let retain = PublishOptions { retain: true, ttl: Some(5), persist: false };
        let publish = |topic: &str, payload: &'static [u8]| PubSubRequest::Publish {
            topic: topic.into(),
            options: retain,
            payload: Bytes::from_static(payload),
        };
        send(&mut ps, Now::at(0), 1, publish("s/1", b"\x01hello"));
        send(&mut ps, Now::at(0), 1, publish("s/2", b"raw"));
        let list = ps.retained_messages(Now::at(1_000), 0, 10);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].topic, "s/1");
        assert_eq!(list[0].payload_head, Bytes::from_static(b"\x01hello"));
        assert_eq!((list[0].payload_len, list[0].ttl_ms), (6, Some(4_000)));
        assert_eq!(ps.retained_messages(Now::at(1_000), 1, 10).len(), 1);
        assert!(ps.retained_messages(Now::at(5_000), 0, 10).is_empty());
    }
}
