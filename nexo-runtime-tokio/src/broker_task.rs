//! One task per broker: it owns the broker's [`BrokerDriver`] and drives it by the drain rule.
//!
//! The task receives [`BrokerInput`]s over a bounded channel (a full channel makes connection
//! readers wait: backpressure, not memory), sleeps until the broker's next deadline, and after
//! each batch of inputs or a timer drains the driver — which carries out storage instructions
//! with group commit — into the connections' outboxes. It owns the map from `ConnId` to outbox
//! for the connections that talk to this broker; outputs for a connection not in the map (closed,
//! or never seen) are dropped. No protocol or broker logic lives here.

use std::collections::HashMap;

use nexo_engine::{Broker, ConnId, NetOutput};
use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};
use nexo_server::{BrokerDriver, BrokerInput, Clock};
use nexo_session::Item;
use tokio::sync::mpsc;

/// Where a broker task sends one connection's outputs, in the order the broker emitted them; its
/// task hands them to the session at once. Unbounded on purpose, memory still bounded: replies
/// exist only for requests the session let in (its in-flight cap and write limit stop reading),
/// pushes are capped by Pub/Sub's slow-consumer limit and the sessions' output bound. A bounded
/// channel would block the Pub/Sub task behind one slow reader. Sends to a closed one are dropped.
pub type Outbox = mpsc::UnboundedSender<NetOutput>;

/// Inputs queued per broker before connection readers wait.
const CHANNEL_CAPACITY: usize = 4096;

/// Inputs handled per wake-up before the task drains, re-checks its timer and yields.
const BATCH: usize = 256;

/// One message for a broker task: an input of the one [`BrokerInput`] type, with the outbox of
/// a request's connection (registered on first use, forgotten at its disconnect), or the final
/// fsync before exit.
#[derive(Debug)]
pub enum Msg<R> {
    /// An input for the driver.
    Input(BrokerInput<R>, Option<Outbox>),
    /// The server is about to exit: fsync what the fsync mode left unsynced, then answer.
    SyncBeforeExit(tokio::sync::oneshot::Sender<()>),
}

impl<R> Msg<R> {
    /// An input that brings no outbox.
    pub fn input(input: BrokerInput<R>) -> Self {
        Self::Input(input, None)
    }
}

/// The channels into the broker tasks, cloned into every connection.
#[derive(Debug, Clone)]
pub struct Brokers {
    /// The Store task.
    pub store: mpsc::Sender<Msg<StoreRequest>>,
    /// The Pub/Sub task (the only broker that pushes, so the only one told about flushes).
    pub pubsub: mpsc::Sender<Msg<PubSubRequest>>,
    /// The Queue task.
    pub queue: mpsc::Sender<Msg<QueueRequest>>,
    /// The Stream task.
    pub stream: mpsc::Sender<Msg<StreamRequest>>,
}

impl Brokers {
    /// Hands one request a session routed to its broker, in order behind the connection's
    /// earlier ones (the one place this runtime names the brokers by request); `Err` when that
    /// broker's task has stopped.
    pub async fn route(&self, conn: ConnId, item: Item, outbox: &Outbox) -> Result<(), ()> {
        let out = Some(outbox.clone());
        let sent = match item {
            Item::Store { id, request } => {
                self.store.send(Msg::Input(BrokerInput::Request { conn, id, request }, out)).await.is_ok()
            }
            Item::PubSub { id, request } => {
                self.pubsub.send(Msg::Input(BrokerInput::Request { conn, id, request }, out)).await.is_ok()
            }
            Item::Queue { id, request } => {
                self.queue.send(Msg::Input(BrokerInput::Request { conn, id, request }, out)).await.is_ok()
            }
            Item::Stream { id, request } => {
                self.stream.send(Msg::Input(BrokerInput::Request { conn, id, request }, out)).await.is_ok()
            }
        };
        if sent { Ok(()) } else { Err(()) }
    }

    /// Tells every broker that `conn` is gone (a broker that has stopped is skipped).
    pub async fn disconnect(&self, conn: ConnId) {
        let _ = self.store.send(Msg::input(BrokerInput::Disconnect(conn))).await;
        let _ = self.pubsub.send(Msg::input(BrokerInput::Disconnect(conn))).await;
        let _ = self.queue.send(Msg::input(BrokerInput::Disconnect(conn))).await;
        let _ = self.stream.send(Msg::input(BrokerInput::Disconnect(conn))).await;
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
        let _ = self.store.send(Msg::input(BrokerInput::Shutdown)).await;
        let _ = self.pubsub.send(Msg::input(BrokerInput::Shutdown)).await;
        let _ = self.queue.send(Msg::input(BrokerInput::Shutdown)).await;
        let _ = self.stream.send(Msg::input(BrokerInput::Shutdown)).await;
    }
}

/// Asks one broker task for its final fsync and waits for the answer.
async fn sync_one<R>(tx: &mpsc::Sender<Msg<R>>) {
    let (done, wait) = tokio::sync::oneshot::channel();
    if tx.send(Msg::SyncBeforeExit(done)).await.is_ok() {
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
) -> std::io::Result<mpsc::Sender<Msg<B::Request>>> {
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    if cold_reads {
        let back = tx.clone();
        // Called on the reader's own thread, never inside the runtime, so blocking is fine;
        // a closed channel means the task ended, when the answer no longer matters.
        driver.read_cold(name, move |done| {
            let _ = back.blocking_send(Msg::input(done));
        })?;
    }
    tokio::spawn(run(driver, rx, clock));
    Ok(tx)
}

async fn run<B: Broker>(mut driver: BrokerDriver<B>, mut rx: mpsc::Receiver<Msg<B::Request>>, clock: Clock) {
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
                        Msg::Input(input, outbox) => {
                            match (&input, outbox) {
                                (BrokerInput::Request { conn, .. }, Some(outbox)) => {
                                    conns.entry(*conn).or_insert(outbox);
                                }
                                (BrokerInput::Disconnect(conn), _) => gone.push(*conn),
                                _ => {}
                            }
                            input
                        }
                        Msg::SyncBeforeExit(done) => {
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
fn deliver(conns: &mut HashMap<ConnId, Outbox>, outputs: impl Iterator<Item = NetOutput>) {
    for output in outputs {
        let conn = output.conn();
        if let NetOutput::Close { reason, .. } = &output {
            // Removed at once so nothing more is queued for a connection on its way out.
            if let Some(outbox) = conns.remove(&conn) {
                tracing::warn!(conn = conn.0, %reason, "closing connection");
                let _ = outbox.send(output);
            }
        } else if let Some(outbox) = conns.get(&conn) {
            let _ = outbox.send(output);
        }
    }
}
