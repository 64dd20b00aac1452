//! `nexo`, the production server: a mio network thread and one worker thread per broker.
//!
//! Start-up order: settings, logging, data directory, seed, brokers, workers, listener, then the
//! one ready line on stdout. SIGINT/SIGTERM stop accepting, drain (bounded) and exit 0.
#![forbid(unsafe_code)]

mod conn;
mod lane;
mod net;
mod ui;
mod worker;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;

use mio::net::TcpListener;
use mio::{Poll, Waker};
use nexo_server::{Host, Settings, host};

use crate::lane::{Lane, Lanes};
use crate::net::{NetParts, Network, WAKER};
use crate::worker::Reads;

fn main() -> ExitCode {
    host::main(serve)
}

fn serve(settings: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let (mut host, brokers) = Host::start(settings, "mio")?;
    let clock = host.clock;
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (out_tx, out_rx) = channel();
    // The Store keeps no logs, so it runs on the network thread itself: no hand-off per request.
    // The others may wait on fsync and get worker threads.
    let pubsub =
        worker::spawn("pubsub", brokers.pubsub, clock, out_tx.clone(), waker.clone(), Reads::InPlace)?;
    let queue = worker::spawn("queue", brokers.queue, clock, out_tx.clone(), waker.clone(), Reads::InPlace)?;
    let stream = worker::spawn("stream", brokers.stream, clock, out_tx, waker.clone(), Reads::OffThread)?;
    let lanes = Lanes {
        store: Lane::inline(brokers.store),
        pubsub: Lane::worker(pubsub),
        queue: Lane::worker(queue),
        stream: Lane::worker(stream),
    };
    let (listener, local) = host.v1.take().map(|(l, local)| (TcpListener::from_std(l), local)).unzip();
    let (mqtt_listener, mqtt_local) =
        host.mqtt.take().map(|(l, local)| (TcpListener::from_std(l), local)).unzip();
    let inputs = ui::Inputs {
        store: lanes.store.sender(),
        pubsub: lanes.pubsub.sender(),
        queue: lanes.queue.sender(),
        stream: lanes.stream.sender(),
        waker: waker.clone(),
    };
    let ui = host
        .serve_dashboard(settings, |dashboard, sessions| ui::MioSource::new(dashboard, sessions, inputs))?;
    let (ui_local, ui_source) = ui.unzip();

    let shutdown = Arc::new(AtomicBool::new(false));
    let wake = waker.clone();
    let pool = nexo_server::security::VerifyPool::start(nexo_server::security::VERIFY_THREADS, clock)?;
    let verifier = nexo_server::security::Mailbox::new(pool, move || {
        let _ = wake.wake();
    });
    watch_signals(shutdown.clone(), waker, ui_source)?;

    let network = Network::new(NetParts {
        poll,
        listener,
        mqtt_listener,
        clock,
        lanes,
        outputs: out_rx,
        shutdown,
        sessions: host.sessions,
    })?
    .with_verifier(verifier);
    host::announce(local, ui_local, mqtt_local);
    network.run()?;
    Ok(())
}

/// Turns SIGINT/SIGTERM into the shutdown flag and wakes the network thread. The dashboard lets
/// go of the workers' channels first, so they close when the network thread's do.
fn watch_signals(
    shutdown: Arc<AtomicBool>,
    waker: Arc<Waker>,
    ui: Option<Arc<ui::MioSource>>,
) -> std::io::Result<()> {
    host::on_stop_signal(move || {
        if let Some(ui) = &ui {
            ui.detach();
        }
        shutdown.store(true, Ordering::Relaxed);
        let _ = waker.wake();
    })
}
