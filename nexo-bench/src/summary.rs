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
}

impl Report {
    /// The human-readable report (several lines, no trailing newline).
    pub fn text(&self) -> String {
        let mode = match self.rate {
            Some(rate) => format!("fixed rate {rate:.0}/s (latency from the intended send time)"),
            None => "closed loop".to_string(),
        };
        let label = if self.label.is_empty() { String::new() } else { format!("  [{}]", self.label) };
        let l = &self.latency;
        let mut out = format!(
            "{scenario} against {target}{label}\n\
             \x20 {conns} connections, pipeline {pipe}, {size} B payloads, {mode}\n\
             \x20 {ops} {unit} in {dur:.2} s: {tp:.0} {unit}/s\n\
             \x20 latency (ms): p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}  mean {mean:.3}\n\
             \x20 errors {errors}",
            scenario = self.scenario,
            target = self.target,
            conns = self.connections,
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
    }
}
