//! Results: the latency histogram, its summary, and the text and JSON reports of one run.
//!
//! Latencies are recorded in nanoseconds in an HDR histogram (3 significant digits, up to 100 s)
//! and reported in microseconds. This module does no I/O beyond formatting.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tracks (larger values are clamped to it): 100 s.
pub const MAX_TRACKED_NS: u64 = 100_000_000_000;

/// A fresh latency histogram in nanoseconds.
#[allow(clippy::expect_used, reason = "constant bounds that hdrhistogram accepts; covered by the tests")]
pub fn new_histogram() -> Histogram<u64> {
    // 3 significant digits over 1 ns ..= 100 s: about 200 KiB, fixed.
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("valid histogram bounds")
}

/// Records one latency, clamping it into the tracked range.
pub fn record(hist: &mut Histogram<u64>, ns: u64) {
    let _ = hist.record(ns.clamp(1, MAX_TRACKED_NS));
}

/// Latency percentiles of one run, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest value.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    /// Summarises a histogram of nanoseconds (all zero when it is empty).
    pub fn of(hist: &Histogram<u64>) -> Self {
        if hist.is_empty() {
            return Self::default();
        }
        let us = |ns: u64| round3(ns as f64 / 1000.0);
        Self {
            p50_us: us(hist.value_at_quantile(0.5)),
            p90_us: us(hist.value_at_quantile(0.9)),
            p99_us: us(hist.value_at_quantile(0.99)),
            p999_us: us(hist.value_at_quantile(0.999)),
            max_us: us(hist.max()),
            mean_us: round3(hist.mean() / 1000.0),
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `stream-keepup` keeps up when its consumers acknowledge at least this share of what the
/// producers published in the window (and, at a fixed rate, the producers publish at least this
/// share of the rate asked for: consumers that slow the producers down do not keep up) ...
pub const KEEPUP_MIN_RATIO: f64 = 0.95;
/// ... and the lag at the end is at most this many seconds of production.
pub const KEEPUP_MAX_LAG_S: f64 = 0.5;

/// What `stream-keepup` found: production against consumption, and the consumer lag.
///
/// The lag is the number of messages whose PUBLISH was answered and that were not acknowledged
/// yet (all topics together). Over the window it grows by exactly `produced − consumed`, so a
/// consumed rate below the produced rate is a lag that grows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KeepUp {
    /// PUBLISHes answered in the window.
    pub produced: u64,
    /// Messages acknowledged in the window (ACKs answered, or the counts ACK_BATCHes answered).
    pub consumed: u64,
    /// `produced` per second.
    pub produced_per_s: f64,
    /// `consumed` per second.
    pub consumed_per_s: f64,
    /// Lag when the window opened (sampled).
    pub start_lag: u64,
    /// Largest lag sampled in the window (about every 20 ms).
    pub max_lag: u64,
    /// Lag at the end of the run (exact: everything published minus everything acked).
    pub final_lag: u64,
    /// Fixed rate only: whether the producers published at least 0.95 × `--rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_reached: Option<bool>,
    /// `consumed ≥ 0.95 × produced`, `final_lag` at most 0.5 s of production, and the rate
    /// reached (when one was asked for).
    pub keeps_up: bool,
}

impl KeepUp {
    /// The figures of a window of `duration` seconds, at the fixed `rate` if one was asked for;
    /// `lags` are (window start, largest sample, end of the run).
    pub fn of(produced: u64, consumed: u64, duration: f64, rate: Option<f64>, lags: (u64, u64, u64)) -> Self {
        let (start_lag, max_lag, final_lag) = lags;
        let per_s = |n: u64| if duration > 0.0 { (n as f64 / duration).round() } else { 0.0 };
        let produced_per_s = per_s(produced);
        let rate_reached = rate.map(|r| produced_per_s >= KEEPUP_MIN_RATIO * r);
        let keeps_up = produced > 0
            && consumed as f64 >= KEEPUP_MIN_RATIO * produced as f64
            && final_lag as f64 <= KEEPUP_MAX_LAG_S * produced_per_s
            && rate_reached != Some(false);
        Self {
            produced,
            consumed,
            produced_per_s,
            consumed_per_s: per_s(consumed),
            start_lag,
            max_lag: max_lag.max(final_lag),
            final_lag,
            rate_reached,
            keeps_up,
        }
    }

    /// The text report's line.
    pub fn text(&self) -> String {
        let behind = if self.rate_reached == Some(false) { " (below the rate asked for)" } else { "" };
        format!(
            "produced {:.0} msg/s{behind}, consumed {:.0} msg/s ({} / {}); consumer lag \
             (published − acked): start {}, max {}, end {}; keeps up: {}",
            self.produced_per_s,
            self.consumed_per_s,
            self.consumed,
            self.produced,
            self.start_lag,
            self.max_lag,
            self.final_lag,
            if self.keeps_up { "yes" } else { "no" }
        )
    }
}

/// Everything one run reports; serialised as the final JSON line.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name (`store-set`, ...).
    pub scenario: String,
    /// The `--label` text.
    pub label: String,
    /// `host:port` measured.
    pub target: String,
    /// `--connections`.
    pub connections: u32,
    /// Who the connections are, for the text header (`1 publisher + 10 subscribers`).
    #[serde(skip)]
    pub connections_text: String,
    /// `--pipeline`.
    pub pipeline: u32,
    /// `--size`.
    pub size: usize,
    /// `--rate`, when fixed-rate.
    pub rate: Option<f64>,
    /// Measured seconds.
    pub duration: f64,
    /// What an operation is: `requests` or `deliveries`.
    pub unit: &'static str,
    /// Operations completed in the measured window.
    pub ops: u64,
    /// Operations per second.
    pub throughput: f64,
    /// Requests answered in the window (for Pub/Sub: publishes; elsewhere equal to `ops`).
    pub requests: u64,
    /// ERR replies, protocol errors and connections the server closed.
    pub errors: u64,
    /// Store GETs answered NULL, and CONSUME / FETCH answered with an empty batch.
    pub misses: u64,
    /// Latency of the operations (Pub/Sub: from the publish send time to the push's arrival).
    #[serde(flatten)]
    pub latency: Latency,
    /// Up to five distinct error texts.
    pub error_samples: Vec<String>,
    /// `stream-cycle` and `stream-keepup`: how consumers acknowledged (`--ack`: `single` or
    /// `batch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<&'static str>,
    /// `stream-keepup` only: production, consumption and lag.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub keepup: Option<KeepUp>,
}

impl Report {
    /// The human-readable report (several lines, no trailing newline).
    pub fn text(&self) -> String {
        let mode = match self.rate {
            Some(rate) => format!("fixed rate {rate:.0}/s (latency from the intended send time)"),
            None => "closed loop".to_string(),
        };
        let label = if self.label.is_empty() { String::new() } else { format!("  [{}]", self.label) };
        let ack = match self.ack {
            Some("batch") => ", one ACK_BATCH per FETCH reply",
            Some(_) => ", one ACK per message",
            None => "",
        };
        let l = &self.latency;
        let mut out = format!(
            "{scenario} against {target}{label}\n\
             \x20 {conns}, pipeline {pipe}, {size} B payloads, {mode}{ack}\n\
             \x20 {ops} {unit} in {dur:.2} s: {tp:.0} {unit}/s\n\
             \x20 latency (ms): p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}  mean {mean:.3}\n\
             \x20 errors {errors}",
            scenario = self.scenario,
            target = self.target,
            conns = self.connections_text,
            pipe = self.pipeline,
            size = self.size,
            ops = self.ops,
            unit = self.unit,
            dur = self.duration,
            tp = self.throughput,
            p50 = l.p50_us / 1000.0,
            p90 = l.p90_us / 1000.0,
            p99 = l.p99_us / 1000.0,
            p999 = l.p999_us / 1000.0,
            max = l.max_us / 1000.0,
            mean = l.mean_us / 1000.0,
            errors = self.errors,
        );
        if self.unit == "deliveries" {
            out.push_str(&format!("  (publishes answered: {})", self.requests));
        }
        if self.misses > 0 {
            out.push_str(&format!("  misses (NULL GETs, empty batches) {}", self.misses));
        }
        if let Some(k) = &self.keepup {
            out.push_str(&format!("\n  {}", k.text()));
        }
        for sample in &self.error_samples {
            out.push_str(&format!("\n  error: {sample}"));
        }
        out
    }

    /// The one-line JSON object.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_histogram_is_all_zero() {
        assert_eq!(Latency::of(&new_histogram()), Latency::default());
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = new_histogram();
        // 1..=1000 µs, one each.
        for us in 1..=1000u64 {
            record(&mut h, us * 1000);
        }
        let l = Latency::of(&h);
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.002 + 0.001;
        assert!(near(l.p50_us, 500.0), "{l:?}");
        assert!(near(l.p90_us, 900.0), "{l:?}");
        assert!(near(l.p99_us, 990.0), "{l:?}");
        assert!(near(l.p999_us, 999.0), "{l:?}");
        assert!(near(l.max_us, 1000.0), "{l:?}");
        assert!(near(l.mean_us, 500.5), "{l:?}");
    }

    #[test]
    fn out_of_range_values_are_clamped() {
        let mut h = new_histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert!(h.max() >= MAX_TRACKED_NS);
    }

    #[test]
    fn json_has_the_required_fields() {
        let mut h = new_histogram();
        record(&mut h, 250_000);
        let r = Report {
            scenario: "store-get".into(),
            label: "fsync=never".into(),
            target: "127.0.0.1:7654".into(),
            connections: 50,
            connections_text: "50 connections".into(),
            pipeline: 16,
            size: 64,
            rate: None,
            duration: 2.0,
            unit: "requests",
            ops: 1000,
            throughput: 500.0,
            requests: 1000,
            errors: 0,
            misses: 0,
            latency: Latency::of(&h),
            error_samples: vec![],
            ack: None,
            keepup: None,
        };
        let v: serde_json::Value = serde_json::from_str(&r.json()).unwrap();
        for key in [
            "throughput",
            "p50_us",
            "p90_us",
            "p99_us",
            "p999_us",
            "max_us",
            "errors",
            "scenario",
            "label",
            "connections",
            "pipeline",
            "size",
            "duration",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["throughput"], 500.0);
        assert!((v["p50_us"].as_f64().unwrap() - 250.0).abs() < 0.5);
        assert!(r.text().contains("500 requests/s"));
        assert!(r.text().contains("  50 connections, pipeline 16"), "{}", r.text());
        assert!(v.get("final_lag").is_none(), "keep-up fields only for stream-keepup");
        assert!(v.get("ack").is_none(), "the ack mode only for the stream consumers");

        let keepup = Report {
            ack: Some("batch"),
            keepup: Some(KeepUp::of(10_000, 9_990, 2.0, Some(5000.0), (5, 40, 12))),
            ..r
        };
        let v: serde_json::Value = serde_json::from_str(&keepup.json()).unwrap();
        assert_eq!(v["produced_per_s"], 5000.0);
        assert_eq!(v["consumed_per_s"], 4995.0);
        assert_eq!(v["final_lag"], 12);
        assert_eq!(v["max_lag"], 40);
        assert_eq!(v["keeps_up"], true);
        assert_eq!(v["rate_reached"], true);
        assert_eq!(v["throughput"], 500.0, "the common fields stay");
        assert!(keepup.text().contains("keeps up: yes"), "{}", keepup.text());
        assert_eq!(v["ack"], "batch");
        assert!(keepup.text().contains("one ACK_BATCH per FETCH reply"), "{}", keepup.text());
    }

    #[test]
    fn keeping_up_needs_the_rate_and_a_bounded_lag() {
        // Consumed 96 % of 1000 msg/s over 10 s, 100 behind at the end: keeps up.
        let k = KeepUp::of(10_000, 9_600, 10.0, None, (0, 150, 100));
        assert_eq!((k.produced_per_s, k.consumed_per_s, k.rate_reached), (1000.0, 960.0, None));
        assert!(k.keeps_up);
        // 90 %: the lag grew by 1000 over the window.
        assert!(!KeepUp::of(10_000, 9_000, 10.0, None, (0, 1_000, 1_000)).keeps_up);
        // The rate is right but 0.6 s of production is still waiting at the end.
        assert!(!KeepUp::of(10_000, 10_000, 10.0, None, (600, 700, 600)).keeps_up);
        // Producers held back to 1000/s of the 2000/s asked for: not keeping up.
        let slow = KeepUp::of(10_000, 10_000, 10.0, Some(2000.0), (0, 10, 10));
        assert_eq!((slow.rate_reached, slow.keeps_up), (Some(false), false));
        assert!(slow.text().contains("below the rate asked for"), "{}", slow.text());
        assert!(KeepUp::of(10_000, 10_000, 10.0, Some(1040.0), (0, 10, 10)).keeps_up, "within 5 %");
        // Nothing produced is not keeping up; the max covers the final sample.
        let none = KeepUp::of(0, 0, 10.0, None, (0, 0, 0));
        assert!(!none.keeps_up);
        assert_eq!(KeepUp::of(10, 10, 1.0, None, (0, 2, 9)).max_lag, 9);
        assert_eq!(KeepUp::of(10, 10, 0.0, None, (0, 0, 0)).produced_per_s, 0.0);
    }
}
