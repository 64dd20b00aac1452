//! Measures the file backend's append path and group commit on this machine:
//! `cargo run --release -p nexo-storage --example append_throughput [records] [payload bytes] [records per sync]`.
//! Writes into a temporary directory that is removed afterwards.

use std::time::Instant;

use nexo_storage::{FileStorage, LogConfig, LogName, Storage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().unwrap_or(0));
    let records = args.next().filter(|n| *n > 0).unwrap_or(1_000_000);
    let payload_len = args.next().filter(|n| *n > 0).unwrap_or(100) as usize;
    let batch = args.next().filter(|n| *n > 0).unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("nexo-append-throughput-{}", std::process::id()));
    let mut storage = FileStorage::open_dir(&dir)?;
    let log = LogName::new("bench")?;
    storage.open(&log, LogConfig::default())?;
    let payload = vec![0x5a; payload_len];
    let start = Instant::now();
    let mut syncs = 0u64;
    for i in 0..records {
        storage.append(&log, i, &payload)?;
        if (i + 1) % batch == 0 {
            storage.sync(&log)?;
            syncs += 1;
        }
    }
    storage.sync(&log)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{records} records of {payload_len} B, fsync every {batch}: {:.0} records/s, {:.1} MiB/s, {syncs} fsyncs, {:.1} us/fsync-batch",
        records as f64 / secs,
        (records as f64 * payload_len as f64) / secs / (1024.0 * 1024.0),
        secs * 1e6 / syncs.max(1) as f64
    );
    let t = Instant::now();
    let mut read = 0usize;
    let mut from = 0;
    loop {
        let got = storage.read(&log, from, 1000, 1 << 20)?;
        let Some(last) = got.last() else { break };
        from = last.seq + 1;
        read += got.len();
    }
    println!("read back {read} records in {:.2} s", t.elapsed().as_secs_f64());
    drop(storage);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
