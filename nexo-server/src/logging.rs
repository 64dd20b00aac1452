//! Logging set-up: human-readable lines on stderr (stdout carries only the ready line).

use crate::settings::LogLevel;

/// Installs the global subscriber writing to stderr at `level`.
pub fn init(level: LogLevel) {
    let max = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    // A second init (tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(max)
        .with_target(false)
        .with_ansi(false)
        .try_init();
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
