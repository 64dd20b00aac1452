//! The one interface every broker offers its runtime (see the drain rule in the crate docs).

use crate::ids::ConnId;
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
}
