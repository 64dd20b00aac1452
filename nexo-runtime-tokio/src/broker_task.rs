//! One task per broker: it owns the broker's [`BrokerDriver`] and drives it by the drain rule.
//!
//! The task receives [`BrokerInput`]s over a bounded channel (a full channel makes connection
//! readers wait: backpressure, not memory), sleeps until the broker's next deadline, and after
//! each batch of inputs or a timer drains the driver — which carries out storage instructions
//! with group commit — into the connections' outboxes. It owns the map from `ConnId` to outbox
//! for the connections that talk to this broker; outputs for a connection not in the map (closed,
//! or never seen) are dropped. No protocol or broker logic lives here.

use std::collections::HashMap;
use std::sync::Arc;

use nexo_engine::observe::Query;
use nexo_engine::{Broker, CloseReason, ConnId, Output};
use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};
use nexo_server::{BrokerDriver, Clock, ColdReader, Completion, Responder};
use tokio::sync::mpsc;

use crate::outbox::Outbox;

/// Inputs queued per broker before connection readers wait.
const CHANNEL_CAPACITY: usize = 4096;

/// Inputs handled per wake-up before the task drains, re-checks its timer and yields.
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
    /// The server is stopping: end long-polls so connections can drain.
    Shutdown,
    /// A read-only dashboard query, answered between batches.
    Inspect(Query, Responder),
    /// The server is about to exit: fsync what the fsync mode left unsynced, then answer.
    SyncBeforeExit(tokio::sync::oneshot::Sender<()>),
    /// A read done on the broker's cold-read thread.
    ReadDone {
        /// The broker's token of the read.
        token: u64,
        /// The records, or why the read failed.
        result: Result<Vec<nexo_engine::StoredRecord>, String>,
    },
}

/// The channels into the broker tasks, cloned into every connection.
#[derive(Debug, Clone)]
pub struct Brokers {
    /// The Store task.
    pub store: mpsc::Sender<BrokerInput<StoreRequest>>,
    /// The Pub/Sub task (the only broker that pushes, so the only one told about flushes).
    pub pubsub: mpsc::Sender<BrokerInput<PubSubRequest>>,
    /// The Queue task.
    pub queue: mpsc::Sender<BrokerInput<QueueRequest>>,
    /// The Stream task.
    pub stream: mpsc::Sender<BrokerInput<StreamRequest>>,
}

impl Brokers {
    /// Tells every broker that `conn` is gone (a broker that has stopped is skipped).
    pub async fn disconnect(&self, conn: ConnId) {
        let _ = self.store.send(BrokerInput::Disconnect(conn)).await;
        let _ = self.pubsub.send(BrokerInput::Disconnect(conn)).await;
        let _ = self.queue.send(BrokerInput::Disconnect(conn)).await;
        let _ = self.stream.send(BrokerInput::Disconnect(conn)).await;
    }

    /// Asks every broker to fsync what is unsynced, and waits (at most `limit`) until they did.
    pub async fn sync_before_exit(&self, limit: std::time::Duration) {
        let all = async {
            sync_one(&self.store).await;
            sync_one(&self.pubsub).await;
            sync_one(&self.queue).await;
            sync_one(&self.stream).await;
        };
        if tokio::time::timeout(limit, all).await.is_err() {
            tracing::warn!("brokers did not finish their final fsync in time");
        }
    }

    /// Tells every broker the server is stopping.
    pub async fn shutdown(&self) {
        let _ = self.store.send(BrokerInput::Shutdown).await;
        let _ = self.pubsub.send(BrokerInput::Shutdown).await;
        let _ = self.queue.send(BrokerInput::Shutdown).await;
        let _ = self.stream.send(BrokerInput::Shutdown).await;
    }
}

/// Hands one request of `conn` to a broker task, in order behind the connection's earlier ones;
/// `Err` when that task has stopped.
pub async fn hand_over<R>(
    tx: &mpsc::Sender<BrokerInput<R>>,
    conn: ConnId,
    id: u32,
    req: R,
    outbox: &Outbox,
) -> Result<(), ()> {
    tx.send(BrokerInput::Request { conn, id, req, outbox: outbox.clone() }).await.map_err(drop)
}

/// Asks one broker task for its final fsync and waits for the answer.
async fn sync_one<R>(tx: &mpsc::Sender<BrokerInput<R>>) {
    let (done, wait) = tokio::sync::oneshot::channel();
    if tx.send(BrokerInput::SyncBeforeExit(done)).await.is_ok() {
        let _ = wait.await;
    }
}

/// Starts the task that owns `driver` (already recovered); returns its input channel. The task
/// ends when every sender is dropped. With `cold_reads`, the driver's storage reads run on a
/// cold-read thread of its own (`nexo-<name>-reader`) whose answers come back as inputs; the
/// driver lets go of it at shutdown, so it does not keep the channel open.
///
/// # Errors
/// The OS refused to start the cold-read thread.
pub fn spawn<B: Broker>(
    name: &str,
    mut driver: BrokerDriver<B>,
    clock: Clock,
    cold_reads: bool,
) -> std::io::Result<mpsc::Sender<BrokerInput<B::Request>>> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    if cold_reads {
        let back = tx.clone();
        let complete: Completion = Arc::new(move |token, result| {
            // Called on the reader's own thread, never inside the runtime, so blocking is fine;
            // a closed channel means the task ended, when the answer no longer matters.
            let _ = back.blocking_send(BrokerInput::ReadDone { token, result });
        });
        driver.offload_reads(ColdReader::spawn(&format!("{name}-reader"), complete)?);
    }
    tokio::spawn(run(driver, rx, clock));
    Ok(tx)
}

async fn run<B: Broker>(
    mut driver: BrokerDriver<B>,
    mut rx: mpsc::Receiver<BrokerInput<B::Request>>,
    clock: Clock,
) {
    let mut conns: HashMap<ConnId, Outbox> = HashMap::new();
    let timer = tokio::time::sleep_until(clock.instant_of(0).into());
    tokio::pin!(timer);
    let mut armed: Option<u64> = None;
    let mut outputs = Vec::new();
    // Connections that closed in this batch: forgotten only after the drain, so replies to their
    // last requests (handled in the same batch) still reach their outboxes.
    let mut gone = Vec::new();
    loop {
        let deadline = driver.poll_timeout();
        if deadline != armed {
            if let Some(mono_ms) = deadline {
                timer.as_mut().reset(clock.instant_of(mono_ms).into());
            }
            armed = deadline;
        }
        tokio::select! {
            () = &mut timer, if armed.is_some() => {
                armed = None;
                driver.handle_timeout(clock.now());
            }
            input = rx.recv() => {
                let Some(first) = input else { return };
                let now = clock.now();
                let mut next = Some(first);
                let mut handled = 0;
                while let Some(input) = next {
                    let input = match input {
                        BrokerInput::Request { conn, id, req, outbox } => {
                            conns.entry(conn).or_insert(outbox);
                            nexo_server::BrokerInput::Request { conn, id, request: req }
                        }
                        BrokerInput::Disconnect(conn) => {
                            gone.push(conn);
                            nexo_server::BrokerInput::Disconnect(conn)
                        }
                        BrokerInput::Flushed(conn, bytes) => nexo_server::BrokerInput::Flushed(conn, bytes),
                        BrokerInput::Shutdown => nexo_server::BrokerInput::Shutdown,
                        BrokerInput::Inspect(query, responder) => nexo_server::BrokerInput::Inspect(query, responder),
                        BrokerInput::ReadDone { token, result } => nexo_server::BrokerInput::ReadDone { token, result },
                        BrokerInput::SyncBeforeExit(done) => {
                            driver.drain(&clock, &mut outputs);
                            tokio::task::block_in_place(|| driver.sync_before_exit(clock.now()));
                            let _ = done.send(());
                            next = if handled < BATCH { rx.try_recv().ok() } else { None };
                            continue;
                        }
                    };
                    driver.handle(now, input);
                    handled += 1;
                    next = if handled < BATCH { rx.try_recv().ok() } else { None };
                }
                driver.handle_timeout(clock.now());
            }
        }
        // One drain per wake-up: every append of this batch shares one fsync (group commit).
        if driver.is_durable() {
            tokio::task::block_in_place(|| driver.drain(&clock, &mut outputs));
        } else {
            driver.drain(&clock, &mut outputs);
        }
        deliver(&mut conns, outputs.drain(..));
        for conn in gone.drain(..) {
            conns.remove(&conn);
        }
    }
}

/// Hands each network output to its connection.
fn deliver(conns: &mut HashMap<ConnId, Outbox>, outputs: impl Iterator<Item = Output>) {
    for output in outputs {
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
            // The driver carries out storage instructions itself; none reach this point.
            Output::Append { .. }
            | Output::Roll { .. }
            | Output::TruncateBefore { .. }
            | Output::OpenLog { .. }
            | Output::RemoveLog { .. }
            | Output::Read { .. }
            | Output::Retain { .. } => {}
        }
    }
}
