//! `nexo-bench report`: the markdown tables of a standard run (`scripts/bench.sh`).
//!
//! Input: JSON lines `{"name", "binary", "fsync", "command", "result": {...}}`, one per run, where
//! `result` is the JSON object a `nexo-bench` scenario printed (or the same fields for Redis, or a
//! `mem-*` result). Runs with the same name, binary and fsync mode are one row: its figures are the
//! medians over the runs, its spread is `(max − min) / median` of the throughput. Ratios to `echo`
//! divide by the median `echo` throughput of the same binary. A target is met only with a margin
//! over the noise: its ratio must hold for the worst pair of runs too (smallest numerator over
//! largest denominator); a median that passes while the worst pair does not is reported as
//! "within noise".
//!
//! Two Stream measurements have rows of their own besides: `stream-keepup` (a `nexo-bench`
//! result with `produced_per_s`, `consumed_per_s`, lags and `keeps_up`) and the start-up
//! recovery of `scripts/stream-recovery.sh` (rows named `recovery-*` whose result has
//! `recovery_s`, `bytes`, `messages`, `recovered_messages`, `topics`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use serde::Deserialize;

use crate::cli::ReportArgs;

/// One run as written by the script.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// Row name (`echo`, `store-get`, `fanout-10`, ...).
    pub name: String,
    /// Binary (`nexo`, `nexo-tokio`, `redis`).
    pub binary: String,
    /// Server fsync mode (`never`, `always`, `-`).
    #[serde(default)]
    pub fsync: String,
    /// The command line that produced it.
    #[serde(default)]
    pub command: String,
    /// The figures.
    pub result: serde_json::Value,
}

/// The runs of one row.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// Row name.
    pub name: String,
    /// Binary.
    pub binary: String,
    /// fsync mode.
    pub fsync: String,
    /// Command line (of the first run).
    pub command: String,
    /// Each run's figures.
    pub runs: Vec<serde_json::Value>,
}

impl Row {
    /// Every run's value of `field` (missing fields are skipped).
    pub fn values(&self, field: &str) -> Vec<f64> {
        self.runs.iter().filter_map(|r| r.get(field).and_then(serde_json::Value::as_f64)).collect()
    }

    /// Median of `field` over the runs.
    pub fn median(&self, field: &str) -> Option<f64> {
        median(self.values(field))
    }

    /// `(max − min) / median` of the throughput.
    pub fn spread(&self) -> Option<f64> {
        let v = self.values("throughput");
        let (lo, hi) = (v.iter().copied().reduce(f64::min)?, v.iter().copied().reduce(f64::max)?);
        let m = median(v)?;
        (m > 0.0).then(|| (hi - lo) / m)
    }
}

/// Median (mean of the middle two for an even count); `None` when empty.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// Groups runs into rows, in order of first appearance of each name, then binary.
pub fn rows(records: Vec<Record>) -> Vec<Row> {
    let (mut names, mut binaries, mut modes) = (Vec::new(), Vec::new(), Vec::new());
    let mut by_key: BTreeMap<(usize, usize, usize), Row> = BTreeMap::new();
    for r in records {
        let key = (
            index_of(&mut names, &r.name),
            index_of(&mut binaries, &r.binary),
            index_of(&mut modes, &r.fsync),
        );
        let row = by_key.entry(key).or_insert_with(|| Row {
            name: r.name.clone(),
            binary: r.binary.clone(),
            fsync: r.fsync.clone(),
            command: r.command.clone(),
            runs: Vec::new(),
        });
        row.runs.push(r.result);
    }
    by_key.into_values().collect()
}

/// Position of `item` in `seen`, appending it when new (first-appearance order).
fn index_of(seen: &mut Vec<String>, item: &str) -> usize {
    seen.iter().position(|s| s == item).unwrap_or_else(|| {
        seen.push(item.to_string());
        seen.len() - 1
    })
}

fn find<'a>(rows: &'a [Row], name: &str, binary: &str, fsync: Option<&str>) -> Option<&'a Row> {
    rows.iter().find(|r| r.name == name && r.binary == binary && fsync.is_none_or(|f| r.fsync == f))
}

fn ms(us: Option<f64>) -> String {
    us.map_or("–".into(), |v| format!("{:.3}", v / 1000.0))
}

fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The throughput table.
pub fn throughput_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | binary | fsync | command | throughput (ops/s) | spread | p50 ms | p99 ms | p99.9 ms | max ms | errors | vs echo |\n\
         |---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows.iter().filter(|r| r.median("throughput").is_some()) {
        let tp = row.median("throughput").unwrap_or(0.0);
        let echo = find(rows, "echo", &row.binary, None).and_then(|e| e.median("throughput"));
        // A fixed-rate row's throughput is the rate asked for: no ratio.
        let fixed_rate = row.runs.iter().any(|r| r.get("rate").is_some_and(|v| !v.is_null()));
        let ratio = match echo {
            Some(e) if e > 0.0 && row.name != "echo" && !fixed_rate => format!("{:.2}", tp / e),
            _ => "–".into(),
        };
        let errors: f64 = row.values("errors").iter().sum();
        let _ = writeln!(
            out,
            "| {} | {} | {} | `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            row.binary,
            row.fsync,
            row.command,
            thousands(tp),
            row.spread().map_or("–".into(), |s| format!("{:.0}% (n={})", s * 100.0, row.runs.len())),
            ms(row.median("p50_us")),
            ms(row.median("p99_us")),
            ms(row.median("p999_us")),
            ms(row.median("max_us")),
            errors,
            ratio
        );
    }
    out
}

/// The outcome of one target check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What is checked.
    pub target: String,
    /// Binary.
    pub binary: String,
    /// Median ratio (or value).
    pub value: f64,
    /// Worst paired ratio (or value).
    pub worst: f64,
    /// `met`, `within noise`, `not met`.
    pub verdict: &'static str,
}

/// A ratio target `num / den ≥ min` between two rows' throughputs.
fn ratio_check(target: &str, binary: &str, num: Option<&Row>, den: Option<&Row>, min: f64) -> Option<Check> {
    let (num, den) = (num?.values("throughput"), den?.values("throughput"));
    let ratios: Vec<f64> = num.iter().zip(&den).filter(|(_, d)| **d > 0.0).map(|(n, d)| n / d).collect();
    let worst = ratios.iter().copied().reduce(f64::min)?;
    let value = median(ratios)?;
    let verdict = if worst >= min {
        "met"
    } else if value >= min {
        "within noise"
    } else {
        "not met"
    };
    Some(Check { target: target.into(), binary: binary.into(), value, worst, verdict })
}

/// The targets that this run measured, per binary.
pub fn checks(rows: &[Row]) -> Vec<Check> {
    let mut binaries: Vec<&str> = Vec::new();
    for r in rows {
        if r.binary.starts_with("nexo") && !binaries.contains(&r.binary.as_str()) {
            binaries.push(&r.binary);
        }
    }
    let mut out = Vec::new();
    for b in binaries {
        let echo = find(rows, "echo", b, None);
        let row = |name: &str, fsync: Option<&str>| find(rows, name, b, fsync);
        out.extend(ratio_check("Store GET ≥ 0.85 × echo", b, row("store-get", None), echo, 0.85));
        out.extend(ratio_check("Store SET ≥ 0.85 × echo", b, row("store-set", None), echo, 0.85));
        out.extend(ratio_check(
            "Pub/Sub 50 pairs deliveries ≥ 0.8 × echo",
            b,
            row("pubsub-pairs", None),
            echo,
            0.8,
        ));
        out.extend(ratio_check(
            "Pub/Sub 1→10 deliveries ≥ 3 × 1→1",
            b,
            row("fanout-10", None),
            row("fanout-1", None),
            3.0,
        ));
        out.extend(ratio_check(
            "Queue cycle, fsync never ≥ 0.4 × echo",
            b,
            row("queue-cycle", Some("never")),
            echo,
            0.4,
        ));
        out.extend(ratio_check(
            "Queue cycle, fsync always ≥ 0.5 × never",
            b,
            row("queue-cycle", Some("always")),
            row("queue-cycle", Some("never")),
            0.5,
        ));
        out.extend(ratio_check(
            "Stream publish, fsync always ≥ 0.6 × never",
            b,
            row("stream-publish", Some("always")),
            row("stream-publish", Some("never")),
            0.6,
        ));
        if let Some(r) = row("store-get-half-rate", None) {
            let p99 = r.values("p99_us");
            if let (Some(value), Some(worst)) = (median(p99.clone()), p99.iter().copied().reduce(f64::max)) {
                let verdict = if worst < 1000.0 {
                    "met"
                } else if value < 1000.0 {
                    "within noise"
                } else {
                    "not met"
                };
                out.push(Check {
                    target: "Store GET p99 < 1000 µs at half the maximum rate (value: p99 µs)".into(),
                    binary: b.into(),
                    value,
                    worst,
                    verdict,
                });
            }
        }
        out.extend(keepup_check(row("stream-keepup", None), b));
        for r in rows.iter().filter(|r| r.binary == b && r.name.starts_with("recovery-")) {
            out.extend(recovery_check(r));
        }
        out.extend(memory_checks(rows, b));
    }
    out
}

/// Whether a run's result says `keeps_up: true`.
fn kept_up(run: &serde_json::Value) -> bool {
    run.get("keeps_up").and_then(serde_json::Value::as_bool) == Some(true)
}

/// The group consumer keeps up with producers at half their maximum rate (`stream-keepup`): met
/// when every run kept up, within noise when most did. The value is what was consumed per second
/// over the rate asked for (over what was produced, for a closed-loop run): below 1 either the
/// consumers fell behind or their load held the producers back.
fn keepup_check(row: Option<&Row>, binary: &str) -> Option<Check> {
    let row = row?;
    let ratios: Vec<f64> = row
        .runs
        .iter()
        .filter_map(|r| {
            let asked = r.get("rate").and_then(serde_json::Value::as_f64);
            let p = asked.or_else(|| r.get("produced_per_s")?.as_f64())?;
            let c = r.get("consumed_per_s")?.as_f64()?;
            (p > 0.0).then(|| c / p)
        })
        .collect();
    let worst = ratios.iter().copied().reduce(f64::min)?;
    let value = median(ratios)?;
    let kept = row.runs.iter().filter(|r| kept_up(r)).count();
    let verdict = if kept == row.runs.len() {
        "met"
    } else if 2 * kept > row.runs.len() {
        "within noise"
    } else {
        "not met"
    };
    Some(Check {
        target: "Stream group consumer keeps up at half the producer's maximum (value: consumed / rate)"
            .into(),
        binary: binary.into(),
        value,
        worst,
        verdict,
    })
}

/// Recovery seconds: met below 3 s in every run. The target names the size really recovered.
fn recovery_check(row: &Row) -> Option<Check> {
    let secs = row.values("recovery_s");
    let worst = secs.iter().copied().reduce(f64::max)?;
    let value = median(secs)?;
    let verdict = if worst < 3.0 {
        "met"
    } else if value < 3.0 {
        "within noise"
    } else {
        "not met"
    };
    let how = match row.name.as_str() {
        "recovery-after-sigkill" => "after SIGKILL".to_string(),
        "recovery-after-sigterm" => "after SIGTERM".to_string(),
        other => other.strip_prefix("recovery-").unwrap_or(other).replace('-', " "),
    };
    let size = row.median("bytes").map_or("?".into(), size_text);
    Some(Check {
        target: format!("Stream recovery of {size} < 3 s, {how} (value: s)"),
        binary: row.binary.clone(),
        value,
        worst,
        verdict,
    })
}

/// Bytes as `1.00 GiB` / `256 MiB`.
pub fn size_text(bytes: f64) -> String {
    if bytes >= f64::from(1u32 << 30) {
        format!("{:.2} GiB", bytes / f64::from(1u32 << 30))
    } else {
        format!("{:.0} MiB", bytes / f64::from(1u32 << 20))
    }
}

/// The Stream table: `stream-keepup` rates and lags, and start-up recovery.
pub fn stream_table(rows: &[Row]) -> String {
    let keepup: Vec<&Row> = rows.iter().filter(|r| r.median("produced_per_s").is_some()).collect();
    let recovery: Vec<&Row> = rows.iter().filter(|r| r.median("recovery_s").is_some()).collect();
    if keepup.is_empty() && recovery.is_empty() {
        return String::new();
    }
    let mut out = String::from("| measurement | binary | command | result |\n|---|---|---|---|\n");
    let n = |r: &Row, field: &str| thousands(r.median(field).unwrap_or(0.0));
    for r in keepup {
        let kept = r.runs.iter().filter(|run| kept_up(run)).count();
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | asked {}/s, produced {}/s, consumed {}/s; lag start / max / end {} / {} / {} \
             messages; publish → fetch p50 {} ms, p99 {} ms; kept up in {kept} of {} runs |",
            r.name,
            r.binary,
            r.command,
            r.median("rate").map_or("–".into(), thousands),
            n(r, "produced_per_s"),
            n(r, "consumed_per_s"),
            n(r, "start_lag"),
            n(r, "max_lag"),
            n(r, "final_lag"),
            ms(r.median("p50_us")),
            ms(r.median("p99_us")),
            r.runs.len()
        );
    }
    for r in recovery {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} in {} topics ({} messages, {} after the restart): ready after {:.2} s |",
            r.name,
            r.binary,
            r.command,
            r.median("bytes").map_or("?".into(), size_text),
            n(r, "topics"),
            n(r, "messages"),
            n(r, "recovered_messages"),
            r.median("recovery_s").unwrap_or(0.0)
        );
    }
    out
}

/// Memory targets: Store growth ≤ 1.3 × Redis's for the same keys; an idle connection ≤ 16 KiB.
fn memory_checks(rows: &[Row], binary: &str) -> Vec<Check> {
    let mut out = Vec::new();
    let growth = |b: &str| find(rows, "mem-store", b, None).and_then(|r| r.median("rss_growth"));
    if let (Some(ours), Some(redis)) = (growth(binary), growth("redis"))
        && redis > 0.0
    {
        let value = ours / redis;
        let verdict = if value <= 1.3 { "met" } else { "not met" };
        out.push(Check {
            target: "1M Store keys × 100 B: RSS growth ≤ 1.3 × Redis (value: ratio)".into(),
            binary: binary.into(),
            value,
            worst: value,
            verdict,
        });
    }
    if let Some(per) = find(rows, "mem-idle", binary, None).and_then(|r| r.median("bytes_per_connection")) {
        let kib = per / 1024.0;
        out.push(Check {
            target: "Idle connection ≤ 16 KiB (value: KiB)".into(),
            binary: binary.into(),
            value: kib,
            worst: kib,
            verdict: if kib <= 16.0 { "met" } else { "not met" },
        });
    }
    out
}

/// The targets table.
pub fn checks_table(checks: &[Check]) -> String {
    let mut out =
        String::from("| target | binary | median | worst run | verdict |\n|---|---|---:|---:|---|\n");
    for c in checks {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.2} | {} |",
            c.target, c.binary, c.value, c.worst, c.verdict
        );
    }
    out
}

/// The memory table (rows whose results carry `rss_growth`).
pub fn memory_table(rows: &[Row]) -> String {
    let mem: Vec<&Row> = rows.iter().filter(|r| r.median("rss_growth").is_some()).collect();
    if mem.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "| measurement | binary | command | RSS growth (bytes) | per item |\n|---|---|---|---:|---:|\n",
    );
    for r in mem {
        let per = r.median("bytes_per_key").or_else(|| r.median("bytes_per_connection"));
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} | {} |",
            r.name,
            r.binary,
            r.command,
            thousands(r.median("rss_growth").unwrap_or(0.0)),
            per.map_or("–".into(), |p| format!("{p:.0} B"))
        );
    }
    out
}

/// The `report` subcommand: prints the tables as markdown.
pub fn run(args: &ReportArgs) -> ExitCode {
    let text = match std::fs::read_to_string(&args.input) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("nexo-bench report: {}: {e}", args.input.display());
            return ExitCode::from(1);
        }
    };
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str::<Record>(line) {
            Ok(r) => records.push(r),
            Err(e) => eprintln!("nexo-bench report: line {}: {e} (skipped)", n + 1),
        }
    }
    let rows = rows(records);
    println!("{}", throughput_table(&rows));
    let checks = checks(&rows);
    if !checks.is_empty() {
        println!("{}", checks_table(&checks));
    }
    let stream = stream_table(&rows);
    if !stream.is_empty() {
        println!("{stream}");
    }
    let mem = memory_table(&rows);
    if !mem.is_empty() {
        println!("{mem}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, binary: &str, fsync: &str, tp: f64) -> Record {
        Record {
            name: name.into(),
            binary: binary.into(),
            fsync: fsync.into(),
            command: format!("nexo-bench {name}"),
            result: serde_json::json!({"throughput": tp, "p50_us": 100.0, "p99_us": 900.0, "p999_us": 1500.0, "max_us": 3000.0, "errors": 0}),
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn rows_group_runs_and_ratios_use_the_same_binary() {
        let records = vec![
            rec("echo", "nexo", "never", 100.0),
            rec("echo", "nexo-tokio", "never", 200.0),
            rec("echo", "nexo", "never", 110.0),
            rec("echo", "nexo", "never", 90.0),
            rec("store-get", "nexo", "never", 95.0),
            rec("store-get", "nexo", "never", 92.0),
            rec("store-get", "nexo", "never", 94.0),
            rec("store-get", "nexo-tokio", "never", 100.0),
        ];
        let rows = rows(records);
        assert_eq!(rows.len(), 4);
        assert_eq!((rows[0].name.as_str(), rows[0].binary.as_str(), rows[0].runs.len()), ("echo", "nexo", 3));
        assert_eq!(rows[0].median("throughput"), Some(100.0));
        assert!((rows[0].spread().unwrap() - 0.2).abs() < 1e-9);
        let table = throughput_table(&rows);
        assert!(table.contains("| store-get | nexo | never | `nexo-bench store-get` | 94 | 3% (n=3) | 0.100 | 0.900 | 1.500 | 3.000 | 0 | 0.94 |"), "{table}");
        assert!(table.contains("| 0.50 |"), "tokio store-get over tokio echo: {table}");
    }

    #[test]
    fn a_target_needs_a_margin_over_the_noise() {
        let records = vec![
            rec("echo", "nexo", "never", 100.0),
            rec("echo", "nexo", "never", 100.0),
            rec("echo", "nexo", "never", 110.0),
            rec("store-get", "nexo", "never", 90.0),
            rec("store-get", "nexo", "never", 95.0),
            rec("store-get", "nexo", "never", 100.0),
            rec("store-set", "nexo", "never", 50.0),
            rec("queue-cycle", "nexo", "never", 50.0),
            rec("queue-cycle", "nexo", "always", 30.0),
        ];
        let c = checks(&rows(records));
        let get = c.iter().find(|c| c.target.starts_with("Store GET")).unwrap();
        assert_eq!(get.verdict, "met", "{get:?}");
        let set = c.iter().find(|c| c.target.starts_with("Store SET")).unwrap();
        assert_eq!(set.verdict, "not met");
        let always = c.iter().find(|c| c.target.contains("always")).unwrap();
        assert!((always.value - 0.6).abs() < 1e-9);
        assert_eq!(always.verdict, "met");

        let noisy = vec![
            rec("echo", "nexo", "never", 100.0),
            rec("echo", "nexo", "never", 100.0),
            rec("echo", "nexo", "never", 120.0),
            rec("store-get", "nexo", "never", 88.0),
            rec("store-get", "nexo", "never", 90.0),
            rec("store-get", "nexo", "never", 90.0),
        ];
        let c = checks(&rows(noisy));
        assert_eq!(c[0].verdict, "within noise", "{c:?}");
    }

    fn keepup(binary: &str, produced: f64, consumed: f64, keeps_up: bool) -> Record {
        Record {
            name: "stream-keepup".into(),
            binary: binary.into(),
            fsync: "never".into(),
            command: "nexo-bench stream-keepup --rate 100000 --duration 5".into(),
            result: serde_json::json!({
                "throughput": consumed, "rate": 100000.0, "p50_us": 1500.0, "p99_us": 4000.0,
                "p999_us": 5000.0, "max_us": 6000.0, "errors": 0,
                "produced_per_s": produced, "consumed_per_s": consumed,
                "start_lag": 10, "max_lag": 900, "final_lag": 20, "keeps_up": keeps_up
            }),
        }
    }

    fn recovery(name: &str, secs: f64) -> Record {
        Record {
            name: name.into(),
            binary: "nexo".into(),
            fsync: "never".into(),
            command: "scripts/stream-recovery.sh".into(),
            result: serde_json::json!({
                "recovery_s": secs, "bytes": 1u64 << 30, "messages": 16384, "recovered_messages": 16384,
                "topics": 4
            }),
        }
    }

    #[test]
    fn keepup_rows_and_target() {
        let records = vec![
            rec("echo", "nexo", "never", 1000.0),
            keepup("nexo", 100_000.0, 99_000.0, true),
            keepup("nexo", 100_000.0, 100_500.0, true),
            keepup("nexo", 100_000.0, 97_000.0, true),
            keepup("nexo-tokio", 100_000.0, 99_000.0, true),
            keepup("nexo-tokio", 100_000.0, 80_000.0, false),
            keepup("nexo-tokio", 100_000.0, 70_000.0, false),
        ];
        let rows = rows(records);
        let table = throughput_table(&rows);
        assert!(
            table.contains("| stream-keepup | nexo | never | `nexo-bench stream-keepup --rate 100000 --duration 5` | 99,000 |"),
            "{table}"
        );
        assert!(table.contains("| 0 | – |"), "a fixed-rate row has no ratio to echo: {table}");
        let c = checks(&rows);
        let k: Vec<&Check> = c.iter().filter(|c| c.target.contains("keeps up")).collect();
        assert_eq!(k.len(), 2);
        assert_eq!((k[0].binary.as_str(), k[0].verdict), ("nexo", "met"));
        assert!((k[0].value - 0.99).abs() < 1e-9 && (k[0].worst - 0.97).abs() < 1e-9, "{:?}", k[0]);
        assert!((k[1].value - 0.8).abs() < 1e-9 && (k[1].worst - 0.7).abs() < 1e-9, "{:?}", k[1]);
        assert_eq!((k[1].binary.as_str(), k[1].verdict), ("nexo-tokio", "not met"));
        let t = stream_table(&rows);
        assert!(t.contains("| stream-keepup | nexo | `nexo-bench stream-keepup --rate 100000 --duration 5` | asked 100,000/s, produced 100,000/s, consumed 99,000/s; lag start / max / end 10 / 900 / 20 messages; publish → fetch p50 1.500 ms, p99 4.000 ms; kept up in 3 of 3 runs |"), "{t}");
        assert!(t.contains("kept up in 1 of 3 runs"), "{t}");
    }

    #[test]
    fn recovery_rows_and_target() {
        let rows = rows(vec![
            rec("echo", "nexo", "never", 1000.0),
            recovery("recovery-after-sigterm", 1.25),
            recovery("recovery-after-sigkill", 3.5),
        ]);
        assert!(!throughput_table(&rows).contains("recovery"), "no throughput, no throughput row");
        let c = checks(&rows);
        let term = c.iter().find(|c| c.target.contains("SIGTERM")).unwrap();
        assert_eq!(term.target, "Stream recovery of 1.00 GiB < 3 s, after SIGTERM (value: s)");
        assert_eq!((term.value, term.verdict), (1.25, "met"));
        let kill = c.iter().find(|c| c.target.contains("SIGKILL")).unwrap();
        assert_eq!(kill.verdict, "not met");
        let t = stream_table(&rows);
        assert!(t.contains("| recovery-after-sigterm | nexo | `scripts/stream-recovery.sh` | 1.00 GiB in 4 topics (16,384 messages, 16,384 after the restart): ready after 1.25 s |"), "{t}");
        assert_eq!(size_text(268_435_456.0), "256 MiB");
        assert_eq!(stream_table(&rows[..1]), "", "nothing to show");
    }

    #[test]
    fn memory_rows() {
        let r = Record {
            name: "mem-store".into(),
            binary: "nexo".into(),
            fsync: "-".into(),
            command: "nexo-bench mem-store".into(),
            result: serde_json::json!({"rss_growth": 250_000_000u64, "bytes_per_key": 250.0}),
        };
        let t = memory_table(&rows(vec![r]));
        assert!(t.contains("| mem-store | nexo | `nexo-bench mem-store` | 250,000,000 | 250 B |"), "{t}");
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(12.0), "12");
    }
}
