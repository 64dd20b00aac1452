//! `/metrics` in the Prometheus text exposition format (version 0.0.4).
//!
//! Owns the metric names, their help texts and types. Every metric is written with its
//! `# HELP` and `# TYPE` lines, once, followed by its samples; counters end in `_total`. Built
//! only from an [`Overview`] (the brokers' published snapshots), so scraping never waits on a
//! broker. Label values are escaped as the format requires.

use std::fmt::Write;

use nexo_engine::observe::{BrokerSnapshot, BrokerStats, Overview};
use nexo_engine::stream::StreamStats;
use nexo_engine::{PubSubStats, QueueStats, StoreStats};

/// `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric being written: its header goes out before the first sample.
struct Out {
    text: String,
}

impl Out {
    fn metric(&mut self, name: &str, kind: &str, help: &str, samples: &[(&[(&str, &str)], f64)]) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            self.text.push_str(name);
            if !labels.is_empty() {
                self.text.push('{');
                for (i, (key, val)) in labels.iter().enumerate() {
                    if i > 0 {
                        self.text.push(',');
                    }
                    let _ = write!(self.text, "{key}=\"{}\"", escape_label(val));
                }
                self.text.push('}');
            }
            let _ = writeln!(self.text, " {}", number(*value));
        }
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.metric(name, "gauge", help, &[(&[], value)]);
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.metric(name, "counter", help, &[(&[], value as f64)]);
    }
}

fn number(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n").replace('"', "\\\"")
}

/// The exposition text for `overview`.
pub fn render(overview: &Overview) -> String {
    let mut out = Out { text: String::with_capacity(8192) };
    server_metrics(&mut out, overview);
    broker_metrics(&mut out, overview);
    for broker in &overview.brokers {
        match &broker.stats {
            BrokerStats::Store(s) => store_metrics(&mut out, s),
            BrokerStats::PubSub(s) => pubsub_metrics(&mut out, s),
            BrokerStats::Queue(s) => queue_metrics(&mut out, s),
            BrokerStats::Stream(s) => stream_metrics(&mut out, s),
            // Brokers added later have no metrics here until they are listed.
            _ => {}
        }
    }
    out.text
}

fn server_metrics(out: &mut Out, overview: &Overview) {
    let info: &[(&str, &str)] =
        &[("version", &overview.version), ("runtime", &overview.runtime), ("fsync", &overview.fsync)];
    out.metric("nexo_info", "gauge", "Build and settings of this server (always 1).", &[(info, 1.0)]);
    out.gauge("nexo_uptime_seconds", "Seconds since the server started.", overview.uptime_ms as f64 / 1000.0);
    out.gauge("nexo_connections", "Client connections open now.", overview.connections as f64);
    out.gauge("nexo_max_connections", "The client connection limit.", overview.max_connections as f64);
    if let Some(rss) = overview.memory_rss_bytes {
        out.gauge("nexo_memory_rss_bytes", "Resident memory of the server process.", rss as f64);
    }
    out.counter(
        "nexo_auth_failed_logins_total",
        "Failed logins (wrong password, unknown or disabled user) since start, on every protocol.",
        overview.failed_logins,
    );
    out.gauge(
        "nexo_healthy",
        "1 while no broker's storage has failed, else 0.",
        f64::from(u8::from(overview.healthy())),
    );
}

/// One sample per broker, labelled `broker="<name>"`.
fn broker_metrics(out: &mut Out, overview: &Overview) {
    let labels: Vec<[(&str, &str); 1]> =
        overview.brokers.iter().map(|b| [("broker", b.kind.name())]).collect();
    let per_broker = |value: fn(&BrokerSnapshot, &Overview) -> f64| -> Vec<(&[(&str, &str)], f64)> {
        labels.iter().zip(&overview.brokers).map(|(l, b)| (&l[..], value(b, overview))).collect()
    };
    out.metric(
        "nexo_broker_requests_total",
        "counter",
        "Requests handed to each broker since start.",
        &per_broker(|b, _| b.requests as f64),
    );
    out.metric(
        "nexo_broker_failed_logs",
        "gauge",
        "Logs of each broker whose storage failed (they accept no writes).",
        &per_broker(|b, _| b.failed_logs.len() as f64),
    );
    out.metric(
        "nexo_storage_damaged_ranges_total",
        "counter",
        "Damaged stretches found in the middle of each broker's log segments at recovery; the intact \
         records after each were kept and the damaged bytes quarantined.",
        &per_broker(|b, _| b.storage.damaged_ranges as f64),
    );
    out.metric(
        "nexo_storage_quarantined_bytes_total",
        "counter",
        "Bytes of each broker's logs copied to quarantine files at recovery.",
        &per_broker(|b, _| b.storage.quarantined_bytes as f64),
    );
    out.metric(
        "nexo_storage_dropped_bytes_total",
        "counter",
        "Bytes of each broker's logs cut or skipped at recovery (torn tails of a crash included).",
        &per_broker(|b, _| b.storage.dropped_bytes as f64),
    );
    out.metric(
        "nexo_storage_skipped_seqs_total",
        "counter",
        "Sequence numbers skipped because a log ended below what its broker had handed out (a missing \
         segment file).",
        &per_broker(|b, _| b.storage.skipped_seqs as f64),
    );
    out.metric(
        "nexo_storage_transient_errors_total",
        "counter",
        "Writes, syncs and opens of each broker's logs refused for a passing reason (disk full, no file \
         descriptor left); retried every second, nothing lost.",
        &per_broker(|b, _| b.storage.transient_errors as f64),
    );
    out.metric(
        "nexo_broker_snapshot_age_seconds",
        "gauge",
        "Seconds since each broker's snapshot (which these metrics come from) was refreshed; a broker \
         refreshes it at most every 250 ms while it changes, so an idle broker's grows.",
        &per_broker(|b, o| o.uptime_ms.saturating_sub(b.taken_mono_ms) as f64 / 1000.0),
    );
}

fn store_metrics(out: &mut Out, s: &StoreStats) {
    out.gauge("nexo_store_keys", "Keys held (expired ones not yet reclaimed included).", s.keys as f64);
    out.gauge("nexo_store_keys_with_ttl", "Keys with a deadline.", s.keys_with_ttl as f64);
    out.gauge("nexo_store_used_memory_bytes", "Engine-counted Store memory.", s.used_memory_bytes as f64);
    out.gauge("nexo_store_max_memory_bytes", "The Store memory limit.", s.max_memory_bytes as f64);
    out.counter("nexo_store_evicted_keys_total", "Keys evicted to make room.", s.evicted_keys);
    out.counter("nexo_store_expired_keys_total", "Keys removed because their TTL passed.", s.expired_keys);
    out.counter("nexo_store_hits_total", "GET and MGET lookups that found a key.", s.hits);
    out.counter("nexo_store_misses_total", "GET and MGET lookups that found nothing.", s.misses);
    out.counter("nexo_store_commands_total", "Store requests handled.", s.commands);
}

fn pubsub_metrics(out: &mut Out, s: &PubSubStats) {
    out.counter("nexo_pubsub_published_total", "Messages accepted by PUBLISH.", s.published);
    out.counter("nexo_pubsub_delivered_total", "Pushes handed to subscribers.", s.delivered);
    out.counter("nexo_pubsub_dropped_total", "Pushes not queued because a receiver was full.", s.dropped);
    out.counter(
        "nexo_pubsub_slow_consumer_closes_total",
        "Connections closed as slow consumers.",
        s.slow_consumer_closes,
    );
    out.gauge(
        "nexo_pubsub_subscriptions",
        "Subscriptions (shared memberships included).",
        s.subscriptions as f64,
    );
    out.gauge("nexo_pubsub_shared_groups", "Shared subscription groups.", s.shared_groups as f64);
    out.gauge("nexo_pubsub_retained_messages", "Retained messages.", s.retained as f64);
    out.gauge(
        "nexo_pubsub_retained_bytes",
        "Engine-counted bytes of retained messages.",
        s.retained_bytes as f64,
    );
    out.gauge(
        "nexo_pubsub_subscribed_connections",
        "Connections with at least one subscription.",
        s.connections as f64,
    );
    out.gauge(
        "nexo_pubsub_pending_push_bytes",
        "Push bytes handed to the network and not yet written.",
        s.pending_push_bytes as f64,
    );
    out.gauge("nexo_pubsub_tracked_topics", "Topics with per-topic counters.", s.tracked_topics as f64);
}

fn queue_metrics(out: &mut Out, s: &QueueStats) {
    out.gauge("nexo_queue_queues", "Queues.", s.queues as f64);
    let states: [(&str, u64); 5] = [
        ("pending", s.pending),
        ("ready", s.ready),
        ("in_flight", s.in_flight),
        ("delayed", s.delayed),
        ("dead", s.dead),
    ];
    let labels: Vec<[(&str, &str); 1]> = states.iter().map(|(state, _)| [("state", *state)]).collect();
    let samples: Vec<(&[(&str, &str)], f64)> =
        labels.iter().zip(states.iter()).map(|(l, (_, n))| (&l[..], *n as f64)).collect();
    out.metric("nexo_queue_messages", "gauge", "Messages over all queues, by state.", &samples);
    out.gauge("nexo_queue_bytes", "Payload bytes over all queues (dead ones included).", s.bytes as f64);
    out.gauge("nexo_queue_waiting_consumers", "Parked CONSUME requests.", s.waiting_consumers as f64);
    out.gauge(
        "nexo_queue_held_replies",
        "Replies waiting for their record to be durable.",
        s.held_replies as f64,
    );
    out.gauge("nexo_queue_journal_bytes", "Journal bytes since the last compaction.", s.journal_bytes as f64);
    out.counter("nexo_queue_snapshots_total", "Journal compactions since start.", s.snapshots);
    out.counter("nexo_queue_pushed_total", "Messages pushed.", s.counters.pushed);
    out.counter("nexo_queue_delivered_total", "Deliveries (redeliveries included).", s.counters.delivered);
    out.counter("nexo_queue_acked_total", "Messages acknowledged.", s.counters.acked);
    out.counter("nexo_queue_nacked_total", "Negative acknowledgements.", s.counters.nacked);
    out.counter(
        "nexo_queue_dead_lettered_total",
        "Messages moved to a dead-letter queue.",
        s.counters.dead_lettered,
    );
    out.counter("nexo_queue_expired_leases_total", "Leases that ran out.", s.counters.expired);
}

fn stream_metrics(out: &mut Out, s: &StreamStats) {
    let c = &s.counters;
    out.gauge("nexo_stream_topics", "Stream topics.", s.topics as f64);
    out.gauge("nexo_stream_groups", "Consumer groups over all topics.", s.groups as f64);
    out.gauge("nexo_stream_members", "Group members over all groups.", s.members as f64);
    out.gauge("nexo_stream_pending", "Messages delivered and not acknowledged.", s.pending as f64);
    out.gauge("nexo_stream_waiting_fetches", "FETCH requests waiting.", s.waiting_fetches as f64);
    out.gauge("nexo_stream_cached_messages", "Messages held in memory.", s.cached_messages as f64);
    out.gauge("nexo_stream_cached_bytes", "Payload bytes held in memory.", s.cached_bytes as f64);
    out.gauge(
        "nexo_stream_held_replies",
        "Replies waiting for their record to be durable.",
        s.held_replies as f64,
    );
    out.gauge(
        "nexo_stream_journal_bytes",
        "Journal bytes since the last compaction.",
        s.journal_bytes as f64,
    );
    out.counter("nexo_stream_snapshots_total", "Journal compactions since start.", s.snapshots);
    out.counter("nexo_stream_published_total", "Messages published.", c.published);
    out.counter("nexo_stream_published_bytes_total", "Payload bytes published.", c.published_bytes);
    out.counter("nexo_stream_delivered_total", "Deliveries (redeliveries included).", c.delivered);
    out.counter("nexo_stream_acked_total", "Messages acknowledged.", c.acked);
    out.counter("nexo_stream_nacked_total", "Negative acknowledgements.", c.nacked);
    out.counter("nexo_stream_expired_total", "Ack waits that ran out.", c.expired);
    out.counter("nexo_stream_dead_lettered_total", "Messages dead-lettered.", c.dead_lettered);
    out.counter(
        "nexo_stream_orphaned_logs_total",
        "Data logs found at start-up that no topic in the journal owned (adopted as a topic, or kept unused).",
        c.orphaned_logs,
    );
}

#[cfg(test)]
mod tests {
    use nexo_engine::observe::{BrokerKind, BrokerSnapshot};
    use nexo_engine::{PubSubStats, StoreStats};

    use super::*;

    #[test]
    fn every_sample_has_help_and_type_once() {
        let snapshot = |kind, stats| BrokerSnapshot {
            kind,
            requests: 7,
            failed_logs: Vec::new(),
            storage: Default::default(),
            taken_mono_ms: 0,
            stats,
        };
        let overview = Overview {
            runtime: "mio".into(),
            version: "0.1.0".into(),
            uptime_ms: 1500,
            wall_ms: 0,
            connections: 2,
            max_connections: 10,
            memory_rss_bytes: Some(4096),
            fsync: "interval:\"5\"".into(),
            failed_logins: 3,
            brokers: vec![
                snapshot(
                    BrokerKind::Store,
                    BrokerStats::Store(StoreStats { keys: 3, ..StoreStats::default() }),
                ),
                snapshot(BrokerKind::PubSub, BrokerStats::PubSub(PubSubStats::default())),
            ],
        };
        let text = render(&overview);
        let mut helped = std::collections::BTreeSet::new();
        let mut typed = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                assert!(helped.insert(rest.split(' ').next().unwrap().to_owned()), "HELP twice: {line}");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                assert!(typed.insert(rest.split(' ').next().unwrap().to_owned()), "TYPE twice: {line}");
            } else {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(helped.contains(name) && typed.contains(name), "no header for {line}");
            }
        }
        assert!(text.contains("nexo_store_keys 3\n"));
        assert!(
            text.contains("# TYPE nexo_auth_failed_logins_total counter\nnexo_auth_failed_logins_total 3\n")
        );
        assert!(text.contains("nexo_broker_requests_total{broker=\"pubsub\"} 7\n"));
        assert!(text.contains("fsync=\"interval:\\\"5\\\"\""));
        assert!(text.contains("nexo_uptime_seconds 1.5\n"));
        assert!(text.contains("nexo_healthy 1\n"));
    }
}
