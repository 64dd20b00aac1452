//! `nexo`, the production server: a mio network thread and one worker thread per broker.
//!
//! Start-up order: settings, logging, data directory, seed, brokers, workers, listener, then the
//! one ready line on stdout. SIGINT/SIGTERM stop accepting, drain (bounded) and exit 0.
#![forbid(unsafe_code)]

mod conn;
mod net;
mod worker;
mod write_queue;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;

use mio::{Poll, Waker};
use nexo_engine::pubsub::PubSub;
use nexo_engine::store::Store;
use nexo_server::{BrokerDriver, Clock, Settings, logging, startup};

use crate::net::{NetLimits, NetParts, Network, WAKER};

fn main() -> ExitCode {
    let settings = Settings::from_env_and_args();
    logging::init(settings.log_level);
    match serve(&settings) {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("nexo: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: &Settings) -> std::io::Result<()> {
    startup::prepare_data_dir(&settings.data_dir)
        .map_err(|e| std::io::Error::other(format!("data directory {}: {e}", settings.data_dir.display())))?;
    let seed = settings.seed.unwrap_or_else(startup::os_seed);
    let physical = startup::physical_memory_bytes().unwrap_or(4 << 30);
    let store_config = settings.store_config(physical);
    let pubsub_config = settings.pubsub_config();
    tracing::info!(
        "nexo (mio) starting: seed={seed} data_dir={} max_connections={} max_frame_bytes={}",
        settings.data_dir.display(),
        settings.max_connections,
        settings.max_frame_bytes
    );
    tracing::info!(
        "store: max_memory={} bytes (physical memory {physical} bytes) eviction={} default_ttl_ms={:?}",
        store_config.max_memory_bytes,
        store_config.eviction,
        store_config.default_ttl_ms
    );
    tracing::info!("pubsub: {pubsub_config:?}");

    let clock = Clock::start();
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (out_tx, out_rx) = channel();
    let store = BrokerDriver::new(Store::new(store_config, seed), None);
    let store = worker::spawn("store", store, clock, out_tx.clone(), waker.clone())?;
    let pubsub_seed = seed.rotate_left(17) ^ 0x5075_6253_7562;
    let pubsub = BrokerDriver::new(PubSub::new(pubsub_config, pubsub_seed), None);
    let pubsub = worker::spawn("pubsub", pubsub, clock, out_tx, waker.clone())?;

    let addr = SocketAddr::new(settings.bind, settings.port);
    let listener = mio::net::TcpListener::bind(addr)
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;

    let shutdown = Arc::new(AtomicBool::new(false));
    watch_signals(shutdown.clone(), waker)?;

    let limits = NetLimits {
        max_connections: settings.max_connections,
        max_frame_bytes: settings.max_frame_bytes,
        write_limit: usize::try_from(settings.max_write_buffer_bytes).unwrap_or(usize::MAX),
    };
    let network =
        Network::new(NetParts { poll, listener, limits, clock, store, pubsub, outputs: out_rx, shutdown })?;
    tracing::info!("listening on {local}");
    announce(&startup::ready_line(local, None));
    network.run()
}

/// Prints the ready line, the only thing nexo writes to stdout.
#[allow(clippy::print_stdout, reason = "the ready line is the start-up contract")]
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A thread that turns SIGINT/SIGTERM into the shutdown flag and wakes the network thread.
fn watch_signals(shutdown: Arc<AtomicBool>, waker: Arc<Waker>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("nexo-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            tracing::info!("signal {signal}: shutting down");
            shutdown.store(true, Ordering::Relaxed);
            let _ = waker.wake();
        }
    })?;
    Ok(())
}
