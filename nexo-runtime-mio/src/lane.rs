//! One broker as the network thread sees it: on a worker thread of its own, or inline on the
//! network thread.
//!
//! A [`Lane`] collects the inputs the network thread produces for its broker during a turn and,
//! once per turn, hands them over: a worker lane sends them as one batch over the worker's
//! bounded channel (`try_send`; a full channel keeps them and tells the caller to stop reading);
//! an inline lane applies them to the broker's driver right here and drains its outputs. Only a
//! broker whose drains never block runs inline — the Store, which keeps no logs — so the network
//! thread never waits on a disk. The dashboard reaches either kind through [`Lane::sender`]; for
//! an inline lane those inputs wait on a side channel until the next turn (the dashboard wakes
//! the network thread after sending).

use std::io;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

use nexo_engine::{Broker, ConnId, NetOutput, PubSub, Queue, Store, Stream};
use nexo_server::{BrokerDriver, Clock};
use nexo_session::Item;

use crate::worker::{INPUT_BATCHES_MAX, WorkerHandle, WorkerInput};

/// A broker run inline on the network thread.
#[derive(Debug)]
pub struct Inline<B: Broker> {
    driver: BrokerDriver<B>,
    /// Inputs from other threads (dashboard queries).
    side: Receiver<Vec<WorkerInput<B::Request>>>,
    side_tx: SyncSender<Vec<WorkerInput<B::Request>>>,
}

/// Where one broker runs, and its inputs of the current turn.
#[derive(Debug)]
pub struct Lane<B: Broker> {
    kind: Kind<B>,
    batch: Vec<WorkerInput<B::Request>>,
}

#[derive(Debug)]
enum Kind<B: Broker> {
    Worker(WorkerHandle<B::Request>),
    Inline(Box<Inline<B>>),
}

impl<B: Broker> Lane<B> {
    /// A lane to the worker thread behind `handle`.
    pub fn worker(handle: WorkerHandle<B::Request>) -> Self {
        Self { kind: Kind::Worker(handle), batch: Vec::new() }
    }

    /// A lane that runs `driver` (recovered, non-durable) on the calling thread.
    pub fn inline(driver: BrokerDriver<B>) -> Self {
        let (side_tx, side) = sync_channel(INPUT_BATCHES_MAX);
        Self { kind: Kind::Inline(Box::new(Inline { driver, side, side_tx })), batch: Vec::new() }
    }

    /// Queues one input for this turn.
    pub fn push(&mut self, input: WorkerInput<B::Request>) {
        self.batch.push(input);
    }

    /// Where other threads send inputs (one-input batches) to this broker.
    pub fn sender(&self) -> SyncSender<Vec<WorkerInput<B::Request>>> {
        match &self.kind {
            Kind::Worker(handle) => handle.inputs.clone(),
            Kind::Inline(inline) => inline.side_tx.clone(),
        }
    }

    /// Hands this turn's inputs over. A worker lane sends them (`Ok(false)`: its channel is full,
    /// they stay queued); an inline lane applies them and any side inputs, runs what is due and
    /// appends the broker's outputs to `out`.
    ///
    /// # Errors
    /// The worker thread is gone.
    pub fn hand_over(&mut self, clock: &Clock, out: &mut Vec<NetOutput>) -> io::Result<bool> {
        match &mut self.kind {
            Kind::Worker(handle) => {
                if self.batch.is_empty() {
                    return Ok(true);
                }
                match handle.inputs.try_send(std::mem::take(&mut self.batch)) {
                    Ok(()) => Ok(true),
                    Err(TrySendError::Full(back)) => {
                        self.batch = back;
                        Ok(false)
                    }
                    Err(TrySendError::Disconnected(_)) => Err(io::Error::other("a broker worker stopped")),
                }
            }
            Kind::Inline(inline) => {
                let now = clock.now();
                while let Ok(side) = inline.side.try_recv() {
                    for input in side {
                        inline.driver.handle(now, input);
                    }
                }
                for input in self.batch.drain(..) {
                    inline.driver.handle(now, input);
                }
                inline.driver.handle_timeout(now);
                inline.driver.drain(clock, out);
                Ok(true)
            }
        }
    }

    /// The inline broker's next deadline (monotonic ms); `None` for a worker lane, which keeps
    /// its own timers.
    pub fn deadline(&self) -> Option<u64> {
        match &self.kind {
            Kind::Worker(_) => None,
            Kind::Inline(inline) => inline.driver.poll_timeout(),
        }
    }

    /// Ends the lane: a worker lane delivers what is still queued followed by a final
    /// `Shutdown` (waiting for room if need be: the worker is running), closes its channel and
    /// returns the thread to join; an inline lane syncs what its driver left unsynced.
    ///
    /// The final `Shutdown` matters: a driver keeps its cold-read thread, whose completion holds
    /// a sender of this very channel, until it sees one, so without it the channel would never
    /// close and the join would wait forever. A second `Shutdown` is harmless.
    pub fn stop(mut self, clock: &Clock) -> Option<JoinHandle<()>> {
        match self.kind {
            Kind::Worker(WorkerHandle { inputs, thread }) => {
                self.batch.push(WorkerInput::Shutdown);
                // An error means the worker is gone already; there is nothing left to tell it.
                let _ = inputs.send(std::mem::take(&mut self.batch));
                drop(inputs);
                Some(thread)
            }
            Kind::Inline(mut inline) => {
                inline.driver.sync_before_exit(clock.now());
                None
            }
        }
    }
}

/// The four brokers' lanes.
#[derive(Debug)]
pub struct Lanes {
    /// The Store (inline: it keeps no logs).
    pub store: Lane<Store>,
    /// Pub/Sub (a worker: retained publishes wait for an fsync).
    pub pubsub: Lane<PubSub>,
    /// The Queue (a worker).
    pub queue: Lane<Queue>,
    /// The Stream (a worker, with its cold-read thread).
    pub stream: Lane<Stream>,
}

impl Lanes {
    /// Queues a request a session routed, for its broker: the one place this runtime names the
    /// four brokers by request.
    pub fn route(&mut self, conn: ConnId, item: Item) {
        match item {
            Item::Store { id, request } => self.store.push(WorkerInput::Request { conn, id, request }),
            Item::PubSub { id, request } => self.pubsub.push(WorkerInput::Request { conn, id, request }),
            Item::Queue { id, request } => self.queue.push(WorkerInput::Request { conn, id, request }),
            Item::Stream { id, request } => self.stream.push(WorkerInput::Request { conn, id, request }),
        }
    }

    /// Every broker forgets `conn` (harmless for one that never heard of it).
    pub fn disconnect(&mut self, conn: ConnId) {
        self.store.push(WorkerInput::Disconnect(conn));
        self.pubsub.push(WorkerInput::Disconnect(conn));
        self.queue.push(WorkerInput::Disconnect(conn));
        self.stream.push(WorkerInput::Disconnect(conn));
    }

    /// Every broker ends its long-polls: the server is stopping.
    pub fn shutdown(&mut self) {
        self.store.push(WorkerInput::Shutdown);
        self.pubsub.push(WorkerInput::Shutdown);
        self.queue.push(WorkerInput::Shutdown);
        self.stream.push(WorkerInput::Shutdown);
    }

    /// [`Lane::hand_over`] on every lane; `Ok(false)` when a worker's channel was full.
    ///
    /// # Errors
    /// A worker thread is gone.
    pub fn hand_over(&mut self, clock: &Clock, out: &mut Vec<NetOutput>) -> io::Result<bool> {
        let store = self.store.hand_over(clock, out)?;
        let pubsub = self.pubsub.hand_over(clock, out)?;
        let queue = self.queue.hand_over(clock, out)?;
        let stream = self.stream.hand_over(clock, out)?;
        Ok(store && pubsub && queue && stream)
    }

    /// The earliest deadline of the inline brokers.
    pub fn deadline(&self) -> Option<u64> {
        [self.store.deadline(), self.pubsub.deadline(), self.queue.deadline(), self.stream.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Stops every lane and joins the worker threads.
    pub fn stop(self, clock: &Clock) {
        let Self { store, pubsub, queue, stream } = self;
        let threads = [
            ("store", store.stop(clock)),
            ("pubsub", pubsub.stop(clock)),
            ("queue", queue.stop(clock)),
            ("stream", stream.stop(clock)),
        ];
        for (name, thread) in threads {
            if thread.is_some_and(|t| t.join().is_err()) {
                tracing::error!("{name} worker panicked");
            }
        }
    }
}
