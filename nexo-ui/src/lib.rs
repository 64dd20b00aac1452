//! Nexo's dashboard: one hand-written page, a JSON API, `/metrics` and `/healthz`, served by
//! hyper on a port of its own.
//!
//! The dashboard sees the engine only through [`Source`], which returns the engine's owned
//! snapshot types (`nexo_engine::observe`). Each runtime implements it: [`Source::overview`]
//! reads the snapshots the broker threads publish (it never waits on a broker), and
//! [`Source::inspect`] hands a read-only [`Query`] to a broker through its own input channel; the
//! answer arrives on a [`Pending`] that the server awaits for at most [`INSPECT_TIMEOUT`], so a
//! busy broker makes a listing answer `503` instead of hanging the page.
//!
//! Layout: `server` (listener, connections, routing, the plain endpoints), `api` (JSON
//! endpoints), `value` (how stored bytes are shown), `metrics` (Prometheus text), `history` (rate
//! samples for the charts), `page` (the embedded page). The dashboard is read-only: no endpoint
//! changes anything.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod guard;
mod history;
pub mod login;
mod login_http;
mod metrics;
mod page;
mod server;
mod value;

use std::time::Duration;

use nexo_engine::observe::{Answer, BrokerKind, Overview, Query};
use tokio::sync::oneshot;

pub use guard::HostGuard;
pub use server::{BindError, HEADER_TIMEOUT, Listener, MAX_CONNECTIONS, bind, serve, spawn_thread};

/// How long a listing waits for a broker's answer before it answers `503`.
pub const INSPECT_TIMEOUT: Duration = Duration::from_millis(1500);

/// The engine as the dashboard sees it; implemented by each runtime.
pub trait Source: Send + Sync + 'static {
    /// The whole server now, from the snapshots the brokers last published. Must not wait on a
    /// broker.
    fn overview(&self) -> Overview;

    /// Sends `query` to `broker` without waiting (a full input channel is [`InspectError::Busy`]);
    /// the broker answers between its batches through the returned [`Pending`].
    ///
    /// # Errors
    /// The broker is busy, stopped or not part of this server.
    fn inspect(&self, broker: BrokerKind, query: Query) -> Result<Pending, InspectError>;
}

/// Why a query could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InspectError {
    /// The broker's input channel is full.
    Busy,
    /// The broker has stopped (the server is shutting down).
    Stopped,
    /// This server does not run that broker.
    NotRunning,
}

impl std::fmt::Display for InspectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Busy => "the broker is busy; try again",
            Self::Stopped => "the broker has stopped",
            Self::NotRunning => "this server does not run that broker",
        })
    }
}

impl std::error::Error for InspectError {}

/// An answer on its way from a broker.
#[derive(Debug)]
pub struct Pending(oneshot::Receiver<Answer>);

impl Pending {
    /// Waits up to [`INSPECT_TIMEOUT`] for the answer; `None` when it did not come in time or the
    /// broker dropped the query.
    pub async fn wait(self) -> Option<Answer> {
        tokio::time::timeout(INSPECT_TIMEOUT, self.0).await.ok()?.ok()
    }
}

/// A fresh answer slot: the runtime wraps the callback in its broker input, the dashboard awaits
/// the [`Pending`].
pub fn pending() -> (impl FnOnce(Answer) + Send + 'static, Pending) {
    let (tx, rx) = oneshot::channel();
    let send = move |answer: Answer| {
        // The dashboard stopped waiting (timeout or closed connection): nothing to do.
        let _ = tx.send(answer);
    };
    (send, Pending(rx))
}
