//! What opening a log found, for the operator: damage skipped in the middle of a segment, a torn
//! tail cut off, a log that holds nothing although it once held records, a log that ended below
//! the sequence numbers its broker had handed out. Each is logged and counted in the broker's
//! [`StorageHealth`] (`/metrics`). This module decides nothing and touches no storage.

use nexo_engine::LogId;
use nexo_engine::observe::StorageHealth;
use nexo_storage::Recovery;

/// Logs and counts what recovery of `log` dropped or skipped. Damage in the middle is an ERROR
/// (acknowledged data may be gone); a torn tail alone is what a crash leaves, a WARN.
pub(crate) fn note_recovery(health: &mut StorageHealth, log: &LogId, recovery: &Recovery) {
    health.damaged_ranges += recovery.damaged_ranges;
    health.quarantined_bytes += recovery.quarantined_bytes;
    health.dropped_bytes += recovery.dropped_bytes;
    let why = recovery.dropped_reason.as_deref().unwrap_or("no detail");
    if recovery.damaged_ranges > 0 {
        tracing::error!(
            "log '{log}': recovery found {} damaged stretch(es) and kept every intact record around them; \
             {} bytes skipped, {} bytes copied to quarantine files in the log's directory: {why}",
            recovery.damaged_ranges,
            recovery.dropped_bytes,
            recovery.quarantined_bytes,
        );
    } else if recovery.dropped_bytes > 0 {
        tracing::warn!("log '{log}': dropped {} bytes of a torn tail: {why}", recovery.dropped_bytes);
    }
}

/// Reports a broker log (a journal) that replayed no record although its numbering shows it
/// held `next_seq - 1`: a journal always keeps its latest snapshot, so its records were lost
/// (the file truncated to nothing, or its segments deleted).
pub(crate) fn note_empty_journal(log: &LogId, replayed: u64, recovery: &Recovery) {
    if replayed == 0 && recovery.next_seq > 1 {
        tracing::error!(
            "log '{log}' holds no record although it has held {} (its segment files were truncated or \
             deleted); the broker starts without that state",
            recovery.next_seq - 1
        );
    }
}

/// Logs and counts a log that ended at `found` although its broker had handed out numbers up
/// to `continue_at - 1`: it continues at `continue_at`, so none is handed out twice.
pub(crate) fn note_skip(health: &mut StorageHealth, log: &LogId, found: u64, continue_at: u64) {
    health.skipped_seqs += continue_at.saturating_sub(found);
    tracing::error!(
        "log '{log}' ends before sequence {found} but sequences up to {} were handed out (a segment file \
         is missing or was cut); those records are lost and numbering continues at {continue_at}",
        continue_at - 1
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up() {
        let mut h = StorageHealth::default();
        let log = LogId::new("queues");
        let r =
            Recovery { dropped_bytes: 30, damaged_ranges: 1, quarantined_bytes: 25, ..Recovery::default() };
        note_recovery(&mut h, &log, &r);
        note_recovery(&mut h, &log, &Recovery { dropped_bytes: 5, ..Recovery::default() });
        note_skip(&mut h, &log, 1, 21);
        assert_eq!(
            h,
            StorageHealth {
                damaged_ranges: 1,
                quarantined_bytes: 25,
                dropped_bytes: 35,
                skipped_seqs: 20,
                transient_errors: 0
            }
        );
    }
}
