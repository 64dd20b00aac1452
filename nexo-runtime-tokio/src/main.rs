//! `nexo-tokio`: Nexo's sans-IO brokers driven by tokio.
//!
//! This file owns adopting what `nexo_server::Host` started (brokers, listeners, dashboard), the
//! accept loop with its connection limit, and shutdown on SIGINT/SIGTERM. Brokers run
//! in `broker_task`, connections (each a `nexo_session::Session`) in `connection`. Everything
//! about commands lives in `nexo-engine`, `nexo-proto` and `nexo-server`, shared with `nexo`.

mod broker_task;
mod connection;
mod ui;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use nexo_server::{Host, Settings, host};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::broker_task::Brokers;
use crate::connection::Context;

/// How long shutdown waits for open connections to write what they owe.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

fn main() -> ExitCode {
    host::main(|settings| {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start tokio: {e}"))?;
        runtime.block_on(run(settings))
    })
}

fn thread_error(e: std::io::Error) -> String {
    format!("cannot start a thread: {e}")
}

async fn run(settings: &Settings) -> Result<(), String> {
    let (mut host, brokers) = Host::start(settings, "tokio").map_err(|e| e.to_string())?;
    let clock = host.clock;
    let ctx = Arc::new(Context {
        brokers: Brokers {
            store: broker_task::spawn("store", brokers.store, clock, false).map_err(thread_error)?,
            pubsub: broker_task::spawn("pubsub", brokers.pubsub, clock, false).map_err(thread_error)?,
            queue: broker_task::spawn("queue", brokers.queue, clock, false).map_err(thread_error)?,
            stream: broker_task::spawn("stream", brokers.stream, clock, true).map_err(thread_error)?,
        },
        sessions: Arc::clone(&host.sessions),
        clock,
        verify: nexo_server::security::VerifyPool::start(nexo_server::security::VERIFY_THREADS, clock)
            .map_err(thread_error)?,
    });

    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;

    let (listener, local) = adopt(host.v1.take())?;
    let (mqtt_listener, mqtt_local) = adopt(host.mqtt.take())?;
    let ui = host
        .serve_dashboard(settings, |dashboard, sessions| {
            ui::TokioSource::new(dashboard, ctx.brokers.clone(), sessions)
        })
        .map_err(|e| e.to_string())?;
    host::announce(local, ui.map(|(addr, _)| addr), mqtt_local);

    let mut doorman = host::Doorman::new(Arc::clone(&ctx.sessions));
    let (stop, stopping) = watch::channel(false);
    let signal_name = loop {
        let (accepted, mqtt) = tokio::select! {
            accepted = accept(listener.as_ref()) => (accepted, false),
            accepted = accept(mqtt_listener.as_ref()) => (accepted, true),
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                doorman.accept_failed(clock.now().mono_ms, &e);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some((conn, admission)) = doorman.admit(clock.now().mono_ms, &stream, peer) else { continue };
        let refused = admission.refused();
        let (ctx, stopping) = (Arc::clone(&ctx), stopping.clone());
        tokio::spawn(async move {
            connection::serve(stream, conn, ctx, stopping, (refused, mqtt)).await;
            drop(admission);
        });
    };

    tracing::info!(signal = signal_name, "stopping");
    drop(listener);
    drop(mqtt_listener);
    // Parked long-polls end first (empty batches): the brokers see Shutdown before any of the
    // disconnects the connections send once they are told to stop, so no waiting request is
    // dropped without its answer.
    ctx.brokers.shutdown().await;
    let _ = stop.send(true);
    let drained = async {
        while ctx.sessions.connections_in_use() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        tracing::info!("connections still writing after the grace period; closing them");
    }
    ctx.brokers.sync_before_exit(SHUTDOWN_GRACE).await;
    Ok(())
}

/// A listener bound by the host, adopted by tokio, and its address.
type Adopted = (Option<TcpListener>, Option<SocketAddr>);

fn adopt(bound: Option<host::Bound>) -> Result<Adopted, String> {
    match bound {
        Some((listener, local)) => {
            Ok((Some(TcpListener::from_std(listener).map_err(|e| e.to_string())?), Some(local)))
        }
        None => Ok((None, None)),
    }
}

/// Accepts on a listener; without one (`--port off`, `--mqtt-port off`) it never completes.
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}
