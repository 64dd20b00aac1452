//! Where a broker task sends one connection's outputs: an unbounded channel to the
//! connection's task, which hands them to its session at once.
//!
//! Unbounded on purpose, and memory still bounded: replies exist only for requests the session
//! let in (its in-flight cap and write limit stop reading), pushes are capped per subscriber by
//! Pub/Sub's slow-consumer limit and across connections by the sessions' output bound; the
//! connection task moves them into its session as they arrive, where they are counted. A bounded
//! channel would instead block the Pub/Sub task behind one slow reader.

use nexo_engine::NetOutput;
use tokio::sync::mpsc;

/// The sending side; cheap to clone. Sends to a finished connection are dropped.
#[derive(Debug, Clone)]
pub struct Outbox(mpsc::UnboundedSender<NetOutput>);

impl Outbox {
    /// A new outbox and the receiving end for the connection's task.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<NetOutput>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }

    /// Queues one output.
    pub fn send(&self, out: NetOutput) {
        let _ = self.0.send(out);
    }
}
