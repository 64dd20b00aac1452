//! One task per broker: it owns the broker struct and drives it by the engine's drain rule.
//!
//! The task receives [`BrokerInput`]s over a bounded channel (a full channel makes connection
//! readers wait: backpressure, not memory), sleeps until the broker's next deadline, and after
//! every input or timer drains `poll_output` into the connections' outboxes. It owns the map from
//! `ConnId` to outbox for the connections that talk to this broker; outputs for a connection not
//! in the map (closed, or never seen) are dropped. No protocol or broker logic lives here.

use std::collections::HashMap;

use nexo_engine::{Broker, CloseReason, ConnId, Now, Output};
use nexo_proto::request::{PubSubRequest, StoreRequest};
use nexo_server::Clock;
use tokio::sync::mpsc;

use crate::outbox::Outbox;

/// Inputs queued per broker before connection readers wait.
const CHANNEL_CAPACITY: usize = 4096;

/// Inputs handled per wake-up before the task re-checks its timer and yields.
const BATCH: usize = 256;

/// One input for a broker task.
#[derive(Debug)]
pub enum BrokerInput<R> {
    /// A decoded request; `outbox` is where its connection's outputs go.
    Request {
        /// The connection.
        conn: ConnId,
        /// The request id.
        id: u32,
        /// The command.
        req: R,
        /// The connection's outbound queue (registered on first use, removed on disconnect).
        outbox: Outbox,
    },
    /// The connection is gone; sent after its last request, so nothing of it follows.
    Disconnect(ConnId),
    /// The writer put this many bytes of this broker's pushes on the wire.
    Flushed(ConnId, usize),
}

/// The channels into the broker tasks, cloned into every connection.
#[derive(Debug, Clone)]
pub struct Brokers {
    /// The Store task.
    pub store: mpsc::Sender<BrokerInput<StoreRequest>>,
    /// The Pub/Sub task (the only broker that pushes, so the only one told about flushes).
    pub pubsub: mpsc::Sender<BrokerInput<PubSubRequest>>,
}

impl Brokers {
    /// Tells every broker that `conn` is gone (a broker that has stopped is skipped).
    pub async fn disconnect(&self, conn: ConnId) {
        let _ = self.store.send(BrokerInput::Disconnect(conn)).await;
        let _ = self.pubsub.send(BrokerInput::Disconnect(conn)).await;
    }
}

/// Starts the task that owns `broker`; returns its input channel. The task ends when every
/// sender is dropped.
pub fn spawn<B: Broker>(broker: B, clock: Clock) -> mpsc::Sender<BrokerInput<B::Request>> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::spawn(run(broker, rx, clock));
    tx
}

async fn run<B: Broker>(mut broker: B, mut rx: mpsc::Receiver<BrokerInput<B::Request>>, clock: Clock) {
    let mut conns: HashMap<ConnId, Outbox> = HashMap::new();
    let timer = tokio::time::sleep_until(clock.instant_of(0).into());
    tokio::pin!(timer);
    let mut armed: Option<u64> = None;
    loop {
        let deadline = broker.poll_timeout();
        if deadline != armed {
            if let Some(mono_ms) = deadline {
                timer.as_mut().reset(clock.instant_of(mono_ms).into());
            }
            armed = deadline;
        }
        tokio::select! {
            () = &mut timer, if armed.is_some() => {
                armed = None;
                let now = clock.now();
                broker.handle_timeout(now);
                deliver(&mut broker, &mut conns, now);
            }
            input = rx.recv() => {
                let Some(first) = input else { return };
                let now = clock.now();
                let mut next = Some(first);
                let mut handled = 0;
                while let Some(input) = next {
                    match input {
                        BrokerInput::Request { conn, id, req, outbox } => {
                            conns.entry(conn).or_insert(outbox);
                            broker.handle_request(now, conn, id, req);
                        }
                        BrokerInput::Disconnect(conn) => {
                            conns.remove(&conn);
                            broker.handle_disconnect(now, conn);
                        }
                        BrokerInput::Flushed(conn, bytes) => broker.handle_flushed(now, conn, bytes),
                    }
                    deliver(&mut broker, &mut conns, now);
                    handled += 1;
                    next = if handled < BATCH { rx.try_recv().ok() } else { None };
                }
            }
        }
    }
}

/// The drain rule: take every output the broker has and hand it to its connection.
fn deliver<B: Broker>(broker: &mut B, conns: &mut HashMap<ConnId, Outbox>, now: Now) {
    while let Some(output) = broker.poll_output() {
        match output {
            Output::Reply { conn, id, reply } => {
                if let Some(outbox) = conns.get(&conn) {
                    outbox.reply(id, reply);
                }
            }
            Output::Push { conn, frame } => {
                if let Some(outbox) = conns.get(&conn) {
                    outbox.push(frame);
                }
            }
            Output::Close { conn, reason } => {
                // Removed at once so nothing more is queued for a connection on its way out.
                if let Some(outbox) = conns.remove(&conn) {
                    match reason {
                        CloseReason::SlowConsumer { .. } => {
                            tracing::warn!(conn = conn.0, %reason, "closing connection");
                        }
                    }
                    outbox.close(reason);
                }
            }
            // TODO(storage issue): run these on `nexo-storage` from blocking threads, with group
            // commit, and report `handle_persisted`. Until then a log fails at once, so whatever
            // waits on it is answered `Storage unavailable: …` instead of hanging.
            Output::Append { log, .. } | Output::Roll { log } | Output::TruncateBefore { log, .. } => {
                tracing::error!(%log, "storage is not wired into nexo-tokio yet");
                broker.handle_storage_failed(now, &log, "storage is not wired into nexo-tokio yet");
            }
        }
    }
}
