//! Rate history for the charts: the server samples the brokers' counters about once a second
//! and keeps the last [`SAMPLES_MAX`] samples, so a page shows the last two minutes at once.
//!
//! Owns the samples and the rates derived from them. It reads nothing itself: the server hands
//! it each [`Overview`] it sampled.

use std::collections::VecDeque;

use nexo_engine::observe::{BrokerKind, BrokerStats, Overview};
use serde_json::{Map, Value, json};

/// Samples kept (at one a second, two minutes).
pub const SAMPLES_MAX: usize = 121;

/// A counter the charts plot as a rate: its name and how to read it from an overview.
struct Series {
    name: &'static str,
    read: fn(&Overview) -> Option<u64>,
}

fn requests(o: &Overview, kind: BrokerKind) -> Option<u64> {
    o.broker(kind).map(|b| b.requests)
}

fn stats(o: &Overview, kind: BrokerKind) -> Option<&BrokerStats> {
    o.broker(kind).map(|b| &b.stats)
}

const SERIES: &[Series] = &[
    Series { name: "store.ops", read: |o| requests(o, BrokerKind::Store) },
    Series { name: "pubsub.ops", read: |o| requests(o, BrokerKind::PubSub) },
    Series { name: "queue.ops", read: |o| requests(o, BrokerKind::Queue) },
    Series { name: "stream.ops", read: |o| requests(o, BrokerKind::Stream) },
    Series {
        name: "store.hits",
        read: |o| match stats(o, BrokerKind::Store) {
            Some(BrokerStats::Store(s)) => Some(s.hits),
            _ => None,
        },
    },
    Series {
        name: "store.misses",
        read: |o| match stats(o, BrokerKind::Store) {
            Some(BrokerStats::Store(s)) => Some(s.misses),
            _ => None,
        },
    },
    Series {
        name: "pubsub.published",
        read: |o| match stats(o, BrokerKind::PubSub) {
            Some(BrokerStats::PubSub(s)) => Some(s.published),
            _ => None,
        },
    },
    Series {
        name: "pubsub.delivered",
        read: |o| match stats(o, BrokerKind::PubSub) {
            Some(BrokerStats::PubSub(s)) => Some(s.delivered),
            _ => None,
        },
    },
    Series {
        name: "queue.pushed",
        read: |o| match stats(o, BrokerKind::Queue) {
            Some(BrokerStats::Queue(s)) => Some(s.counters.pushed),
            _ => None,
        },
    },
    Series {
        name: "queue.delivered",
        read: |o| match stats(o, BrokerKind::Queue) {
            Some(BrokerStats::Queue(s)) => Some(s.counters.delivered),
            _ => None,
        },
    },
    Series {
        name: "queue.acked",
        read: |o| match stats(o, BrokerKind::Queue) {
            Some(BrokerStats::Queue(s)) => Some(s.counters.acked),
            _ => None,
        },
    },
    Series {
        name: "stream.published",
        read: |o| match stats(o, BrokerKind::Stream) {
            Some(BrokerStats::Stream(s)) => Some(s.counters.published),
            _ => None,
        },
    },
    Series {
        name: "stream.delivered",
        read: |o| match stats(o, BrokerKind::Stream) {
            Some(BrokerStats::Stream(s)) => Some(s.counters.delivered),
            _ => None,
        },
    },
    Series {
        name: "stream.acked",
        read: |o| match stats(o, BrokerKind::Stream) {
            Some(BrokerStats::Stream(s)) => Some(s.counters.acked),
            _ => None,
        },
    },
];

#[derive(Debug, Clone)]
struct Sample {
    uptime_ms: u64,
    values: Vec<Option<u64>>,
}

/// The last samples of every series.
#[derive(Debug, Default)]
pub struct History {
    samples: VecDeque<Sample>,
}

impl History {
    /// Records the counters of `overview` (a sample taken less than half a second after the
    /// previous one replaces it, so rates never divide by a tiny interval).
    pub fn record(&mut self, overview: &Overview) {
        let sample = Sample {
            uptime_ms: overview.uptime_ms,
            values: SERIES.iter().map(|s| (s.read)(overview)).collect(),
        };
        if self.samples.back().is_some_and(|last| sample.uptime_ms < last.uptime_ms + 500)
            && self.samples.len() > 1
        {
            self.samples.pop_back();
        }
        if self.samples.len() == SAMPLES_MAX {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Per-second rate of series `name` between the last two samples.
    pub fn latest_rate(&self, name: &str) -> Option<f64> {
        let index = SERIES.iter().position(|s| s.name == name)?;
        let mut last_two = self.samples.iter().rev();
        let (b, a) = (last_two.next()?, last_two.next()?);
        rate(a, b, index)
    }

    /// `{interval_ms, t: [seconds since start], series: {name: [rate per second | null]}}`, one
    /// point per pair of consecutive samples.
    pub fn to_json(&self) -> Value {
        let pairs: Vec<(&Sample, &Sample)> = self.samples.iter().zip(self.samples.iter().skip(1)).collect();
        let t: Vec<Value> = pairs.iter().map(|(_, b)| json!(b.uptime_ms as f64 / 1000.0)).collect();
        let mut series = Map::new();
        for (index, s) in SERIES.iter().enumerate() {
            let points: Vec<Value> = pairs.iter().map(|(a, b)| json!(rate(a, b, index))).collect();
            series.insert(s.name.to_owned(), Value::Array(points));
        }
        json!({ "interval_ms": 1000, "t": t, "series": series })
    }
}

fn rate(a: &Sample, b: &Sample, index: usize) -> Option<f64> {
    let (from, to) = (a.values.get(index).copied()??, b.values.get(index).copied()??);
    let dt_ms = b.uptime_ms.checked_sub(a.uptime_ms).filter(|&dt| dt > 0)?;
    Some(to.saturating_sub(from) as f64 * 1000.0 / dt_ms as f64)
}

#[cfg(test)]
mod tests {
    use nexo_engine::StoreStats;
    use nexo_engine::observe::BrokerSnapshot;

    use super::*;

    fn overview(uptime_ms: u64, requests: u64) -> Overview {
        Overview {
            runtime: "test".into(),
            version: "0".into(),
            uptime_ms,
            wall_ms: 0,
            connections: 0,
            max_connections: 1,
            memory_rss_bytes: None,
            fsync: "always".into(),
            failed_logins: 3,
            brokers: vec![BrokerSnapshot {
                kind: BrokerKind::Store,
                requests,
                failed_logs: Vec::new(),
                storage: Default::default(),
                taken_mono_ms: uptime_ms,
                stats: BrokerStats::Store(StoreStats { hits: requests / 2, ..StoreStats::default() }),
            }],
        }
    }

    #[test]
    fn rates_come_from_consecutive_samples() {
        let mut h = History::default();
        assert_eq!(h.latest_rate("store.ops"), None);
        h.record(&overview(1_000, 0));
        h.record(&overview(2_000, 500));
        h.record(&overview(4_000, 1_500));
        assert_eq!(h.latest_rate("store.ops"), Some(500.0));
        assert_eq!(h.latest_rate("queue.ops"), None);
        let j = h.to_json();
        assert_eq!(j["t"], json!([2.0, 4.0]));
        assert_eq!(j["series"]["store.ops"], json!([500.0, 500.0]));
        assert_eq!(j["series"]["store.hits"], json!([250.0, 250.0]));
        assert_eq!(j["series"]["pubsub.published"], json!([null, null]));
    }

    #[test]
    fn bounded_and_close_samples_replace() {
        let mut h = History::default();
        for i in 0..(SAMPLES_MAX as u64 + 10) {
            h.record(&overview(i * 1000, i));
        }
        assert_eq!(h.samples.len(), SAMPLES_MAX);
        h.record(&overview(SAMPLES_MAX as u64 * 1000 + 9_100, 0));
        h.record(&overview(SAMPLES_MAX as u64 * 1000 + 9_200, 0));
        assert_eq!(h.samples.len(), SAMPLES_MAX);
    }
}
