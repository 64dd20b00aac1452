//! `nexo-bench fsync`: the machine's durable-write latency, the floor under every fsynced reply.
//!
//! Appends `--bytes` (4 KiB) to a temporary file in `--dir` and calls `fdatasync` after each
//! write, `--count` times, and reports the median and tail of write + sync. Run it on the
//! filesystem that holds the server's data directory.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use crate::cli::FsyncArgs;

/// Percentiles of the measured syncs, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FsyncSummary {
    /// Writes measured.
    pub count: usize,
    /// Median.
    pub fsync_p50_us: f64,
    /// 90th percentile.
    pub fsync_p90_us: f64,
    /// 99th percentile.
    pub fsync_p99_us: f64,
    /// Slowest.
    pub fsync_max_us: f64,
}

/// Nearest-rank percentile summary of latencies in nanoseconds (`samples` non-empty).
pub fn summarize(mut samples: Vec<u64>) -> FsyncSummary {
    samples.sort_unstable();
    let n = samples.len();
    let at = |q: f64| {
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1));
        samples.get(rank - 1).map_or(0.0, |&ns| (ns as f64 / 100.0).round() / 10.0)
    };
    FsyncSummary {
        count: n,
        fsync_p50_us: at(0.5),
        fsync_p90_us: at(0.9),
        fsync_p99_us: at(0.99),
        fsync_max_us: at(1.0),
    }
}

/// Writes and syncs; returns one latency per write in nanoseconds.
///
/// # Errors
/// Creating, writing or syncing the file failed.
pub fn measure(args: &FsyncArgs) -> std::io::Result<Vec<u64>> {
    let path = args.dir.join(format!(".nexo-bench-fsync-{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
        let block = vec![0xA5u8; args.bytes];
        let mut samples = Vec::with_capacity(args.count as usize);
        for _ in 0..args.count {
            let start = Instant::now();
            file.write_all(&block)?;
            file.sync_data()?;
            samples.push(start.elapsed().as_nanos() as u64);
        }
        Ok(samples)
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// The `fsync` subcommand.
pub fn run(args: &FsyncArgs, json: bool) -> ExitCode {
    match measure(args) {
        Ok(samples) => {
            let s = summarize(samples);
            println!(
                "fsync in {}: {} × {} B write + fdatasync: p50 {:.1} µs  p90 {:.1} µs  p99 {:.1} µs  max {:.1} µs",
                args.dir.display(),
                s.count,
                args.bytes,
                s.fsync_p50_us,
                s.fsync_p90_us,
                s.fsync_p99_us,
                s.fsync_max_us
            );
            if json {
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nexo-bench fsync: {}: {e}", args.dir.display());
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = summarize((1..=200).map(|i| i * 1000).collect());
        assert_eq!(s.count, 200);
        assert_eq!(s.fsync_p50_us, 100.0);
        assert_eq!(s.fsync_p90_us, 180.0);
        assert_eq!(s.fsync_p99_us, 198.0);
        assert_eq!(s.fsync_max_us, 200.0);
        assert_eq!(summarize(vec![1500]).fsync_p50_us, 1.5);
    }

    #[test]
    fn measures_in_a_directory_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let args = FsyncArgs { dir: dir.path().to_path_buf(), count: 3, bytes: 512 };
        let samples = measure(&args).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "temporary file removed");
    }
}
