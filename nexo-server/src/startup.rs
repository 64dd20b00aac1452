//! Facts gathered once at start-up: the engine seed, physical memory, the data directory and the
//! ready line.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::Path;

/// A fresh 64-bit seed from the OS (through std's randomly keyed hasher).
pub fn os_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}

/// Physical memory in bytes from `/proc/meminfo`, or `None` where it cannot be read.
pub fn physical_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Creates the data directory if it does not exist.
///
/// # Errors
/// The I/O error, for the caller to report and exit.
pub fn prepare_data_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// The one line printed on stdout once the server accepts connections.
pub fn ready_line(v1: SocketAddr, ui: Option<SocketAddr>) -> String {
    match ui {
        Some(ui) => format!("nexo ready v1={v1} ui={ui}"),
        None => format!("nexo ready v1={v1} ui=off"),
    }
}
