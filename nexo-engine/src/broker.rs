//! The one interface every broker offers its runtime (see the drain rule in the crate docs).

use bytes::Bytes;

use crate::ids::ConnId;
use crate::log::{LogId, StoredRecord};
use crate::output::Output;
use crate::time::Now;

/// A sans-IO broker: inputs through `handle_*`, outputs through `poll_*`.
pub trait Broker: Send + 'static {
    /// The broker's request type (from `nexo-proto`).
    type Request: Send + 'static;

    /// A decoded request `id` from `conn`.
    fn handle_request(&mut self, now: Now, conn: ConnId, id: u32, request: Self::Request);

    /// `conn` is gone: drop everything it owned (subscriptions, parked requests, leases).
    fn handle_disconnect(&mut self, now: Now, conn: ConnId);

    /// The runtime wrote `bytes` of this broker's pushes to `conn`.
    fn handle_flushed(&mut self, now: Now, conn: ConnId, bytes: usize) {
        let _ = (now, conn, bytes);
    }

    /// The deadline from [`Broker::poll_timeout`] has passed (or the runtime woke anyway).
    fn handle_timeout(&mut self, now: Now);

    /// The next instruction, or `None` when drained.
    fn poll_output(&mut self) -> Option<Output>;

    /// The next monotonic deadline (`Now::mono_ms`) at which to call `handle_timeout`.
    fn poll_timeout(&self) -> Option<u64>;

    /// The server is shutting down: end long-polls now (answering them as the protocol says for
    /// an early end, e.g. an empty batch) so connections can drain.
    fn handle_shutdown(&mut self, now: Now) {
        let _ = now;
    }

    /// The durable logs this broker keeps; the runtime opens and replays each at start-up.
    fn logs(&self) -> Vec<LogId> {
        Vec::new()
    }

    /// Start-up replay: one durable record of `log`, in sequence order, before any request.
    fn handle_recovered(&mut self, now: Now, log: &LogId, seq: u64, record: Bytes) {
        let _ = (now, log, seq, record);
    }

    /// Start-up replay of `log` is complete; the next append gets sequence `next_seq`.
    fn handle_recovery_done(&mut self, now: Now, log: &LogId, next_seq: u64) {
        let _ = (now, log, next_seq);
    }

    /// Every record of `log` with a sequence below `durable_next_seq` is durable (synced, or
    /// written to the OS in the fsync modes that do not wait).
    fn handle_persisted(&mut self, now: Now, log: &LogId, durable_next_seq: u64) {
        let _ = (now, log, durable_next_seq);
    }

    /// `log` is open (after [`Output::OpenLog`] or [`Output::Retain`]): it holds sequences
    /// `first_seq..next_seq`.
    fn handle_log_opened(&mut self, now: Now, log: &LogId, first_seq: u64, next_seq: u64) {
        let _ = (now, log, first_seq, next_seq);
    }

    /// After recovery: every log present in the broker's storage, opened or not. A broker may
    /// ask (with [`Output::RemoveLog`]) to delete logs it provably no longer owns, e.g. the data
    /// log of a topic deleted and created again just before a crash, and must keep or adopt
    /// logs it merely does not know. Returns lines the runtime logs as errors (a log found
    /// without an owner); empty when all is well.
    fn handle_stored_logs(&mut self, now: Now, logs: &[LogId]) -> Vec<String> {
        let _ = (now, logs);
        Vec::new()
    }

    /// The answer to [`Output::Read`] with `token`: the records, or why they could not be read.
    fn handle_read(&mut self, now: Now, token: u64, result: Result<Vec<StoredRecord>, String>) {
        let _ = (now, token, result);
    }

    /// `log` failed for good (e.g. an fsync error): answer what waits on it with
    /// `Storage unavailable: <why>` and refuse further writes to it.
    fn handle_storage_failed(&mut self, now: Now, log: &LogId, why: &str) {
        let _ = (now, log, why);
    }
}
