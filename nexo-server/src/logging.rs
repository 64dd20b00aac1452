//! Logging set-up: human-readable lines on stderr (stdout carries only the ready line), at a
//! level that can change while running (SIGHUP with a new `log-level`).

use std::sync::OnceLock;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Registry, reload};

use crate::settings::LogLevel;

/// The handle that changes the level of the installed subscriber.
static LEVEL: OnceLock<reload::Handle<LevelFilter, Registry>> = OnceLock::new();

fn filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// Installs the global subscriber writing to stderr at `level`.
pub fn init(level: LogLevel) {
    let (layer, handle) = reload::Layer::new(filter(level));
    let fmt =
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false).with_ansi(false);
    // A second init (tests) keeps the first subscriber and its handle; that is fine.
    if tracing_subscriber::registry().with(layer).with(fmt).try_init().is_ok() {
        let _ = LEVEL.set(handle);
    }
}

/// Changes the level of the subscriber [`init`] installed; false when there is none.
pub fn set_level(level: LogLevel) -> bool {
    LEVEL.get().is_some_and(|handle| handle.reload(filter(level)).is_ok())
}

/// A warning that repeats (refused connections, failed accepts) logged at most once per
/// `interval_ms`, with the number of repeats it stood for, so a client cannot grow the log at
/// will. The caller passes the monotonic time; this reads no clock.
#[derive(Debug)]
pub struct RateLimited {
    interval_ms: u64,
    next_ms: u64,
    suppressed: u64,
}

impl RateLimited {
    /// At most one line per `interval_ms`.
    pub fn new(interval_ms: u64) -> Self {
        Self { interval_ms, next_ms: 0, suppressed: 0 }
    }

    /// Whether to log now; `Some(n)`: log, mentioning the `n` repeats left out since the last line.
    pub fn allow(&mut self, now_ms: u64) -> Option<u64> {
        if now_ms < self.next_ms {
            self.suppressed += 1;
            return None;
        }
        self.next_ms = now_ms + self.interval_ms;
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimited;

    #[test]
    fn one_line_per_interval_counts_the_rest() {
        let mut limit = RateLimited::new(1_000);
        assert_eq!(limit.allow(5), Some(0));
        assert_eq!(limit.allow(6), None);
        assert_eq!(limit.allow(900), None);
        assert_eq!(limit.allow(1_005), Some(2));
    }
}
