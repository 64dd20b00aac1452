//! A broker worker thread: owns one broker, applies batches of inputs in order, drains outputs
//! (the engine's drain rule) and hands them to the network thread in batches, waking it with the
//! `mio::Waker`.
//!
//! It never touches a socket. Inputs arrive over a bounded channel of batches (the network thread
//! stops reading sockets while it is full); outputs go back over an unbounded channel whose
//! contents are bounded by the engines themselves (one reply per request read, pushes capped per
//! subscriber by Pub/Sub's slow-consumer limit).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError, sync_channel};
use std::thread::JoinHandle;

use nexo_engine::{Broker, NetOutput};
use nexo_server::{BrokerDriver, BrokerInput, Clock};

/// One input for a broker, in the order the network thread saw it.
pub type WorkerInput<R> = BrokerInput<R>;

/// Batches of inputs a worker may have queued before the network thread has to wait.
pub const INPUT_BATCHES_MAX: usize = 256;
/// Batches applied before outputs are flushed back, so replies flow under sustained load.
const BATCHES_PER_TURN: usize = 32;

/// The network thread's handle to one worker.
#[derive(Debug)]
pub struct WorkerHandle<R> {
    /// Where batches go.
    pub inputs: SyncSender<Vec<WorkerInput<R>>>,
    /// The thread, joined at shutdown.
    pub thread: JoinHandle<()>,
}

/// Where a worker's storage reads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// On the worker thread (brokers that never read cold data).
    InPlace,
    /// On a cold-read thread of the worker's own, whose answers come back as inputs.
    OffThread,
}

/// Starts a worker thread named `name` that owns `driver` (a broker, already recovered).
///
/// # Errors
/// The OS refused to start a thread.
pub fn spawn<B: Broker>(
    name: &str,
    mut driver: BrokerDriver<B>,
    clock: Clock,
    outputs: Sender<Vec<NetOutput>>,
    waker: Arc<mio::Waker>,
    reads: Reads,
) -> std::io::Result<WorkerHandle<B::Request>> {
    let (inputs, rx) = sync_channel(INPUT_BATCHES_MAX);
    if reads == Reads::OffThread {
        // The reader's answers join the worker's inputs; the driver drops the reader at
        // shutdown, so this sender does not keep the channel open after the network thread's.
        let back = inputs.clone();
        // The worker is gone only at exit, when the answer no longer matters.
        driver.read_cold(name, move |done| {
            let _ = back.send(vec![done]);
        })?;
    }
    let thread = std::thread::Builder::new()
        .name(format!("nexo-{name}"))
        .spawn(move || run(driver, clock, rx, outputs, waker))?;
    Ok(WorkerHandle { inputs, thread })
}

fn run<B: Broker>(
    mut driver: BrokerDriver<B>,
    clock: Clock,
    rx: Receiver<Vec<WorkerInput<B::Request>>>,
    outputs: Sender<Vec<NetOutput>>,
    waker: Arc<mio::Waker>,
) {
    serve(&mut driver, &clock, &rx, &outputs, &waker);
    driver.sync_before_exit(clock.now());
}

/// The worker loop, until the network thread drops the input channel.
fn serve<B: Broker>(
    driver: &mut BrokerDriver<B>,
    clock: &Clock,
    rx: &Receiver<Vec<WorkerInput<B::Request>>>,
    outputs: &Sender<Vec<NetOutput>>,
    waker: &mio::Waker,
) {
    let mut drained = Vec::new();
    loop {
        let now = clock.now();
        let first = match driver.poll_timeout() {
            Some(deadline) if deadline <= now.mono_ms => None,
            Some(deadline) => match rx.recv_timeout(clock.until(now, deadline)) {
                Ok(batch) => Some(batch),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match rx.recv() {
                Ok(batch) => Some(batch),
                Err(_) => return,
            },
        };
        let mut open = true;
        if let Some(batch) = first {
            apply(driver, clock, batch);
            for _ in 1..BATCHES_PER_TURN {
                match rx.try_recv() {
                    Ok(batch) => apply(driver, clock, batch),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
        }
        driver.handle_timeout(clock.now());
        // One drain per turn: every append of this turn shares one fsync (group commit).
        driver.drain(clock, &mut drained);
        if !drained.is_empty() {
            if outputs.send(std::mem::take(&mut drained)).is_err() {
                return;
            }
            // A failed wake means the network thread is gone; the next send will notice.
            let _ = waker.wake();
        }
        if !open {
            return;
        }
    }
}

fn apply<B: Broker>(driver: &mut BrokerDriver<B>, clock: &Clock, batch: Vec<WorkerInput<B::Request>>) {
    let now = clock.now();
    for input in batch {
        driver.handle(now, input);
    }
}
