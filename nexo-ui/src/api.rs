//! The JSON API under `/api/`: one snapshot endpoint per broker plus paged listings.
//!
//! Owns the endpoint paths, their query parameters and the JSON shape of every snapshot type.
//! Snapshots (`overview`, `store`, `pubsub`, `queue`, `history`) come from what the brokers last
//! published and never wait; listings are [`Query`]s answered by the broker itself within
//! [`crate::INSPECT_TIMEOUT`] (else `503`). Parameters are validated: a bad number, or a key
//! pattern longer than the Store accepts, is `400`, an unknown path `404`. Nothing here changes the engine.
//!
//! | path | answer |
//! |---|---|
//! | `overview` | server facts, health and every broker's snapshot |
//! | `history` | per-second rates of the last two minutes (for the charts) |
//! | `store`, `pubsub`, `queue`, `stream` | that broker's snapshot (`404` for a broker not built) |
//! | `store/keys?pattern=&cursor=&limit=` | a SCAN-like page of keys with value, size and TTL (`skipped`: keys too costly to match within one page's step budget) |
//! | `pubsub/topics?offset=&limit=` | tracked topics with counters |
//! | `pubsub/subscriptions?offset=&limit=` | subscriptions by pattern, with wildcard/shared totals |
//! | `pubsub/retained?offset=&limit=` | retained messages with value and TTL |
//! | `queue/queues?offset=&limit=` | queues with their counts and settings |
//! | `queue/messages?queue=&state=&offset=&limit=` | messages of one queue in `ready`, `delayed`, `in_flight` or `dead` |
//! | `stream/topics?offset=&limit=` | Stream topics with sequences, retention and counters |
//! | `stream/groups?topic=&offset=&limit=` | a topic's consumer groups with lag and pending |
//! | `stream/messages?topic=&before=&limit=` | a topic's recent messages (in memory), newest first |

use std::collections::BTreeMap;

use hyper::StatusCode;
use nexo_engine::glob::{MAX_PATTERN_BYTES, PatternTooLong};
use nexo_engine::observe::{Answer, BrokerKind, BrokerSnapshot, BrokerStats, Listing, Overview, Page, Query};
use nexo_engine::pubsub::{RetainedView, SubscriptionKind, SubscriptionList};
use nexo_engine::queue::{MessageState, MessageView, QueueCounters};
use nexo_engine::store::{KEY_PAGE_MAX, KeyPage};
use nexo_engine::stream::{GroupSnapshot, StreamMessagePage, StreamStats, TopicSnapshot};
use nexo_engine::{PubSubStats, QueueSnapshot, QueueStats, StoreStats, TopicStats};
use serde_json::{Value, json};

use crate::history::History;
use crate::server::State;
use crate::value::{describe, uuid};

/// Items per listing page unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 50;
/// Largest `limit` of the offset-paged listings.
const MAX_LIMIT: usize = 1000;

/// An API failure: its status and a message for `{"error": …}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

/// Answers `GET /api/<path>?<query>`.
///
/// # Errors
/// Unknown path (`404`), bad parameter (`400`), broker busy or silent (`503`).
pub async fn handle(state: &State, path: &str, query: &str) -> Result<Value, ApiError> {
    let params = Params::parse(query);
    match path {
        "overview" => Ok(overview_json(&state.overview(), &state.history())),
        "history" => Ok(state.history().to_json()),
        "store" => broker(state, BrokerKind::Store),
        "pubsub" => broker(state, BrokerKind::PubSub),
        "queue" => broker(state, BrokerKind::Queue),
        "stream" => broker(state, BrokerKind::Stream),
        "store/keys" => {
            let pattern = params.text("pattern").unwrap_or("*").to_owned();
            // Refused here, with the Store's own text, rather than answered with an empty page.
            if pattern.len() > MAX_PATTERN_BYTES {
                let too_long = PatternTooLong { bytes: pattern.len() };
                return Err(ApiError::new(StatusCode::BAD_REQUEST, too_long.to_string()));
            }
            let cursor = params.number("cursor", 0, u64::MAX)?;
            let limit = params.number("limit", DEFAULT_LIMIT as u64, KEY_PAGE_MAX as u64)?;
            let query = Query::StoreKeys { cursor, pattern: pattern.clone(), limit: to_usize(limit) };
            match ask(state, BrokerKind::Store, query).await? {
                Answer::Keys(page) => Ok(keys_json(&page, &pattern)),
                other => Err(unexpected(&other)),
            }
        }
        "pubsub/topics" => match ask(state, BrokerKind::PubSub, Query::Topics(params.page()?)).await? {
            Answer::Topics(listing) => Ok(listing_json(&listing, topic_json)),
            other => Err(unexpected(&other)),
        },
        "pubsub/subscriptions" => {
            match ask(state, BrokerKind::PubSub, Query::Subscriptions(params.page()?)).await? {
                Answer::Subscriptions(list) => Ok(subscriptions_json(&list)),
                other => Err(unexpected(&other)),
            }
        }
        "pubsub/retained" => match ask(state, BrokerKind::PubSub, Query::Retained(params.page()?)).await? {
            Answer::Retained(listing) => Ok(listing_json(&listing, retained_json)),
            other => Err(unexpected(&other)),
        },
        "queue/queues" => match ask(state, BrokerKind::Queue, Query::Queues(params.page()?)).await? {
            Answer::Queues(listing) => Ok(listing_json(&listing, queue_json)),
            other => Err(unexpected(&other)),
        },
        "queue/messages" => queue_messages(state, &params).await,
        "stream/topics" => match ask(state, BrokerKind::Stream, Query::StreamTopics(params.page()?)).await? {
            Answer::StreamTopics(listing) => Ok(listing_json(&listing, stream_topic_json)),
            other => Err(unexpected(&other)),
        },
        "stream/groups" => {
            let topic = params.required("topic")?;
            let query = Query::StreamGroups { topic: topic.to_owned(), page: params.page()? };
            match ask(state, BrokerKind::Stream, query).await? {
                Answer::StreamGroups(Some(listing)) => Ok(listing_json(&listing, group_json)),
                Answer::StreamGroups(None) => Err(no_stream_topic(topic)),
                other => Err(unexpected(&other)),
            }
        }
        "stream/messages" => {
            let topic = params.required("topic")?;
            let before = params.number("before", 0, u64::MAX)?;
            let limit = to_usize(params.number("limit", DEFAULT_LIMIT as u64, MAX_LIMIT as u64)?);
            let query = Query::StreamMessages { topic: topic.to_owned(), before, limit };
            match ask(state, BrokerKind::Stream, query).await? {
                Answer::StreamMessages(Some(page)) => Ok(stream_messages_json(&page)),
                Answer::StreamMessages(None) => Err(no_stream_topic(topic)),
                other => Err(unexpected(&other)),
            }
        }
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no API endpoint /api/{path}"))),
    }
}

fn no_stream_topic(topic: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("stream topic '{topic}' does not exist"))
}

async fn queue_messages(state: &State, params: &Params) -> Result<Value, ApiError> {
    let queue = params.required("queue")?;
    let state_name = params.text("state").unwrap_or("ready");
    let message_state = match state_name {
        "ready" => MessageState::Ready,
        "delayed" => MessageState::Delayed,
        "in_flight" => MessageState::InFlight,
        "dead" => MessageState::Dead,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("state '{other}' is not ready, delayed, in_flight or dead"),
            ));
        }
    };
    let query = Query::QueueMessages { queue: queue.to_owned(), state: message_state, page: params.page()? };
    let now = state.overview();
    match ask(state, BrokerKind::Queue, query).await? {
        Answer::QueueMessages(Some(listing)) => {
            let mut value = listing_json(&listing, |m| message_json(m, &now));
            value["queue"] = json!(queue);
            value["state"] = json!(state_name);
            Ok(value)
        }
        Answer::QueueMessages(None) => {
            Err(ApiError::new(StatusCode::NOT_FOUND, format!("queue '{queue}' does not exist")))
        }
        other => Err(unexpected(&other)),
    }
}

async fn ask(state: &State, kind: BrokerKind, query: Query) -> Result<Answer, ApiError> {
    let pending = state.source.inspect(kind, query).map_err(|e| {
        let status = match e {
            crate::InspectError::NotRunning => StatusCode::NOT_FOUND,
            crate::InspectError::Busy | crate::InspectError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.to_string())
    })?;
    pending.wait().await.ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the broker did not answer in time; try again")
    })
}

fn unexpected(answer: &Answer) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("unexpected answer from the broker: {answer:?}"))
}

fn broker(state: &State, kind: BrokerKind) -> Result<Value, ApiError> {
    let overview = state.overview();
    let history = state.history();
    match overview.broker(kind) {
        Some(snapshot) => Ok(broker_json(snapshot, &overview, &history)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("the {} broker is not part of this server", kind.name()),
        )),
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Query-string parameters (`application/x-www-form-urlencoded`), last value wins.
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Parses `a=1&b=x%20y`; malformed escapes are kept as written.
    pub fn parse(query: &str) -> Self {
        let pairs = query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        });
        Self(pairs.collect())
    }

    pub(crate) fn text(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.text(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, format!("parameter '{name}' is required")))
    }

    fn number(&self, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
        match self.text(name) {
            None | Some("") => Ok(default),
            Some(text) => text.parse::<u64>().map(|n| n.min(max)).map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("parameter '{name}' must be a whole number, got '{text}'"),
                )
            }),
        }
    }

    fn page(&self) -> Result<Page, ApiError> {
        let offset = to_usize(self.number("offset", 0, u64::from(u32::MAX))?);
        let limit = to_usize(self.number("limit", DEFAULT_LIMIT as u64, MAX_LIMIT as u64)?);
        Ok(Page { offset, limit })
    }
}

/// Percent-decoding with `+` as space; invalid UTF-8 becomes U+FFFD.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| char::from(*c).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(hi), Some(lo)) => {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/api/overview`.
pub fn overview_json(o: &Overview, history: &History) -> Value {
    json!({
        "runtime": o.runtime,
        "version": o.version,
        "uptime_ms": o.uptime_ms,
        "wall_ms": o.wall_ms,
        "connections": o.connections,
        "max_connections": o.max_connections,
        "memory_rss_bytes": o.memory_rss_bytes,
        "fsync": o.fsync,
        "healthy": o.healthy(),
        "brokers": o.brokers.iter().map(|b| broker_json(b, o, history)).collect::<Vec<_>>(),
    })
}

fn broker_json(b: &BrokerSnapshot, o: &Overview, history: &History) -> Value {
    let name = b.kind.name();
    json!({
        "name": name,
        "requests": b.requests,
        "ops_per_sec": history.latest_rate(&format!("{name}.ops")),
        "healthy": b.failed_logs.is_empty(),
        "failed_logs": b.failed_logs,
        "snapshot_age_ms": o.uptime_ms.saturating_sub(b.taken_mono_ms),
        "stats": stats_json(&b.stats),
    })
}

fn stats_json(stats: &BrokerStats) -> Value {
    match stats {
        BrokerStats::Store(s) => store_stats_json(s),
        BrokerStats::PubSub(s) => pubsub_stats_json(s),
        BrokerStats::Queue(s) => queue_stats_json(s),
        BrokerStats::Stream(s) => stream_stats_json(s),
        _ => Value::Null,
    }
}

fn store_stats_json(s: &StoreStats) -> Value {
    json!({
        "keys": s.keys,
        "keys_with_ttl": s.keys_with_ttl,
        "used_memory_bytes": s.used_memory_bytes,
        "max_memory_bytes": s.max_memory_bytes,
        "evicted_keys": s.evicted_keys,
        "expired_keys": s.expired_keys,
        "hits": s.hits,
        "misses": s.misses,
        "commands": s.commands,
    })
}

fn pubsub_stats_json(s: &PubSubStats) -> Value {
    json!({
        "published": s.published,
        "delivered": s.delivered,
        "dropped": s.dropped,
        "slow_consumer_closes": s.slow_consumer_closes,
        "subscriptions": s.subscriptions,
        "shared_groups": s.shared_groups,
        "retained": s.retained,
        "retained_bytes": s.retained_bytes,
        "connections": s.connections,
        "pending_push_bytes": s.pending_push_bytes,
        "tracked_topics": s.tracked_topics,
    })
}

fn counters_json(c: &QueueCounters) -> Value {
    json!({
        "pushed": c.pushed,
        "delivered": c.delivered,
        "acked": c.acked,
        "nacked": c.nacked,
        "dead_lettered": c.dead_lettered,
        "expired": c.expired,
    })
}

fn queue_stats_json(s: &QueueStats) -> Value {
    json!({
        "queues": s.queues,
        "counters": counters_json(&s.counters),
        "pending": s.pending,
        "ready": s.ready,
        "in_flight": s.in_flight,
        "delayed": s.delayed,
        "dead": s.dead,
        "bytes": s.bytes,
        "waiting_consumers": s.waiting_consumers,
        "held_replies": s.held_replies,
        "journal_bytes": s.journal_bytes,
        "snapshots": s.snapshots,
        "skipped_records": s.skipped_records,
        "storage_error": s.storage_error,
    })
}

fn stream_stats_json(s: &StreamStats) -> Value {
    let c = &s.counters;
    json!({
        "topics": s.topics,
        "groups": s.groups,
        "members": s.members,
        "counters": {
            "published": c.published,
            "published_bytes": c.published_bytes,
            "delivered": c.delivered,
            "acked": c.acked,
            "nacked": c.nacked,
            "expired": c.expired,
            "dead_lettered": c.dead_lettered,
        },
        "waiting_fetches": s.waiting_fetches,
        "pending": s.pending,
        "cached_messages": s.cached_messages,
        "cached_bytes": s.cached_bytes,
        "held_replies": s.held_replies,
        "journal_bytes": s.journal_bytes,
        "snapshots": s.snapshots,
        "skipped_records": s.skipped_records,
        "tombstones": s.tombstones,
        "storage_error": s.storage_error,
    })
}

fn stream_topic_json(t: &TopicSnapshot) -> Value {
    json!({
        "name": t.name,
        "first_seq": t.first_seq,
        "last_seq": t.last_seq,
        "next_seq": t.next_seq,
        "max_age_ms": t.max_age_ms,
        "max_bytes": t.max_bytes,
        "groups": t.groups,
        "cached_messages": t.cached_messages,
        "cached_bytes": t.cached_bytes,
        "published": t.counters.published,
        "published_bytes": t.counters.published_bytes,
        "storage_error": t.storage_error,
    })
}

fn group_json(g: &GroupSnapshot) -> Value {
    let c = &g.counters;
    json!({
        "name": g.name,
        "generation": g.generation,
        "ack_floor": g.ack_floor,
        "lag": g.lag,
        "pending": g.pending,
        "redeliveries": g.redeliveries,
        "dead": g.dead,
        "members": g.members,
        "waiting_fetches": g.waiting_fetches,
        "counters": {
            "delivered": c.delivered,
            "redelivered": c.redelivered,
            "acked": c.acked,
            "nacked": c.nacked,
            "expired": c.expired,
            "dead_lettered": c.dead_lettered,
        },
    })
}

fn stream_messages_json(page: &StreamMessagePage) -> Value {
    let messages: Vec<Value> = page
        .messages
        .iter()
        .map(|m| {
            json!({
                "seq": m.seq,
                "timestamp_ms": m.timestamp_ms,
                "size": m.payload_len,
                "value": describe(&m.payload_head, m.payload_len),
            })
        })
        .collect();
    json!({
        "messages": messages,
        "next_before": page.next_before,
        "oldest_in_memory": page.oldest_in_memory,
        "first_seq": page.first_seq,
        "last_seq": page.last_seq,
    })
}

fn listing_json<T>(listing: &Listing<T>, item: impl Fn(&T) -> Value) -> Value {
    json!({ "total": listing.total, "items": listing.items.iter().map(item).collect::<Vec<_>>() })
}

fn keys_json(page: &KeyPage, pattern: &str) -> Value {
    let keys: Vec<Value> = page
        .keys
        .iter()
        .map(|k| {
            json!({
                "key": String::from_utf8_lossy(&k.key),
                "size": k.value_len,
                "ttl_ms": k.ttl_ms,
                "value": describe(&k.value_head, k.value_len),
            })
        })
        .collect();
    json!({
        "pattern": pattern,
        "keys": keys,
        "next_cursor": page.next_cursor,
        "examined": page.examined,
        "skipped": page.skipped,
    })
}

fn topic_json(t: &TopicStats) -> Value {
    json!({
        "topic": t.topic,
        "published": t.published,
        "delivered": t.delivered,
        "retained": t.retained,
        "subscribers_last": t.subscribers_last,
    })
}

fn subscriptions_json(list: &SubscriptionList) -> Value {
    let items: Vec<Value> = list
        .items
        .iter()
        .map(|s| {
            let kind = match s.kind {
                SubscriptionKind::Exact => "exact",
                SubscriptionKind::Wildcard => "wildcard",
                SubscriptionKind::Shared => "shared",
                SubscriptionKind::Channel => "redis channel",
                SubscriptionKind::ChannelPattern => "redis pattern",
            };
            json!({ "pattern": s.pattern, "kind": kind, "subscribers": s.subscribers })
        })
        .collect();
    json!({
        "total": list.total,
        "wildcard": list.wildcard,
        "shared": list.shared,
        "channels": list.channels,
        "items": items,
    })
}

fn retained_json(r: &RetainedView) -> Value {
    json!({
        "topic": r.topic,
        "size": r.payload_len,
        "ttl_ms": r.ttl_ms,
        "value": describe(&r.payload_head, r.payload_len),
    })
}

fn queue_json(q: &QueueSnapshot) -> Value {
    json!({
        "name": q.name,
        "counters": counters_json(&q.counters),
        "pending": q.pending,
        "ready": q.ready,
        "in_flight": q.in_flight,
        "delayed": q.delayed,
        "dead": q.dead,
        "bytes": q.bytes,
        "dead_bytes": q.dead_bytes,
        "waiting_consumers": q.waiting_consumers,
        "visibility_timeout_ms": q.visibility_timeout_ms,
        "max_retries": q.max_retries,
        "max_depth": q.max_depth,
        "max_bytes": q.max_bytes,
    })
}

fn message_json(m: &MessageView, now: &Overview) -> Value {
    json!({
        "id": uuid(&m.id),
        "priority": m.priority,
        "attempts": m.attempts,
        "size": m.payload_len,
        "value": describe(&m.payload_head, m.payload_len),
        "due_in_ms": m.due_wall_ms.map(|due| due.saturating_sub(now.wall_ms)),
        "lease_left_ms": m.lease_deadline_mono_ms.map(|d| d.saturating_sub(now.uptime_ms)),
        "reason": m.reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_decode() {
        let p = Params::parse("pattern=user%3A*&cursor=12&limit=&x=a+b&bad=%zz&utf=%C3%A9");
        assert_eq!(p.text("pattern"), Some("user:*"));
        assert_eq!(p.number("cursor", 0, 100).unwrap(), 12);
        assert_eq!(p.number("limit", 50, 100).unwrap(), 50);
        assert_eq!(p.text("x"), Some("a b"));
        assert_eq!(p.text("bad"), Some("%zz"));
        assert_eq!(p.text("utf"), Some("é"));
        assert_eq!(p.number("x", 0, 10).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(Params::parse("limit=99999").page().unwrap().limit, MAX_LIMIT);
    }
}
