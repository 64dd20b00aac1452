//! Storage refusals that pass (a full disk, no file descriptor left): which logs wait for a
//! retry, when the next retry is due, and the log lines (one WARN when a log starts waiting, one
//! INFO when it writes again, not one per attempt). The driver owns the storage calls; this
//! module only keeps the list.

use std::collections::{BTreeMap, BTreeSet};

use nexo_engine::LogId;
use nexo_storage::StorageError;

/// Milliseconds between retries of writes and opens refused for a passing reason.
pub const RETRY_INTERVAL_MS: u64 = 1000;

/// Logs waiting for a retry.
#[derive(Debug, Default)]
pub(crate) struct Retry {
    /// Logs whose buffered records could not be written: synced (or flushed) again.
    commits: BTreeSet<LogId>,
    /// Logs that could not be opened, with their `next_seq_min`: opened again.
    opens: BTreeMap<LogId, u64>,
    /// Logs that have been warned about and not written since.
    waiting: BTreeSet<LogId>,
    /// When the next retry is due (monotonic ms).
    at: Option<u64>,
}

impl Retry {
    /// `log`'s records could not be written now: retry the commit later.
    pub(crate) fn commit(&mut self, now_ms: u64, log: &LogId, error: &StorageError) {
        self.commits.insert(log.clone());
        self.arm(now_ms, log, error, "records are kept in memory and written when it passes");
    }

    /// `log` could not be opened now: open it again later.
    pub(crate) fn open(&mut self, now_ms: u64, log: &LogId, next_seq_min: u64, error: &StorageError) {
        self.opens.insert(log.clone(), next_seq_min);
        self.arm(now_ms, log, error, "it is opened again when it passes");
    }

    fn arm(&mut self, now_ms: u64, log: &LogId, error: &StorageError, then: &str) {
        if self.waiting.insert(log.clone()) {
            tracing::warn!("log '{log}' waits: {error}; {then} (retried every {RETRY_INTERVAL_MS} ms)");
        }
        self.at.get_or_insert(now_ms.saturating_add(RETRY_INTERVAL_MS));
    }

    /// `log` was written or opened: it waits no more.
    pub(crate) fn succeeded(&mut self, log: &LogId) {
        if self.waiting.remove(log) {
            tracing::info!("log '{log}' is written again");
        }
    }

    /// When the next retry is due.
    pub(crate) fn deadline(&self) -> Option<u64> {
        self.at
    }

    /// At or after the deadline: the logs to open again and the logs to commit again (the list
    /// is emptied; what fails again is added back).
    pub(crate) fn take_due(&mut self, now_ms: u64) -> Option<(BTreeMap<LogId, u64>, BTreeSet<LogId>)> {
        if self.at.is_none_or(|at| now_ms < at) {
            return None;
        }
        self.at = None;
        Some((std::mem::take(&mut self.opens), std::mem::take(&mut self.commits)))
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::path::Path;

    use super::*;

    #[test]
    fn retries_come_due_once_per_interval() {
        let mut r = Retry::default();
        let full = StorageError::Transient {
            op: "write",
            path: Path::new("/d").into(),
            source: io::Error::from_raw_os_error(28),
        };
        let log = LogId::new("queues");
        r.commit(100, &log, &full);
        r.commit(150, &log, &full);
        r.open(160, &LogId::new("stream-1-t"), 7, &full);
        assert_eq!(r.deadline(), Some(100 + RETRY_INTERVAL_MS));
        assert!(r.take_due(1000).is_none());
        let (opens, commits) = r.take_due(1100).unwrap();
        assert_eq!(opens.into_iter().collect::<Vec<_>>(), [(LogId::new("stream-1-t"), 7)]);
        assert_eq!(commits.into_iter().collect::<Vec<_>>(), std::slice::from_ref(&log));
        assert_eq!(r.deadline(), None);
        r.succeeded(&log);
        assert!(r.waiting.len() == 1, "the stream log still waits");
    }
}
