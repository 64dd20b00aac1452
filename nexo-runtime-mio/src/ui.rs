//! The dashboard's view of this runtime: [`nexo_ui::Source`] over the brokers' lanes.
//!
//! Overviews come from the snapshots the brokers' drivers publish ([`Dashboard`]) and the
//! connection count the network thread keeps; queries go to a broker as a one-input batch on its
//! lane's channel (`try_send`: a full channel answers busy instead of waiting) and are answered
//! between its batches (the network thread is woken for the inline Store). At shutdown [`MioSource::detach`] drops these senders so the workers
//! see their channels close once the network thread drops its own.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};

use nexo_engine::observe::{BrokerKind, Overview, Query};
use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};
use nexo_server::Dashboard;
use nexo_server::dashboard::{InletSet, Inlets};
use nexo_session::SessionContext;
use nexo_ui::{InspectError, Pending, Source};

use crate::worker::WorkerInput;

/// The workers' input channels, as the dashboard holds them.
#[derive(Debug)]
pub struct Inputs {
    /// Store worker.
    pub store: Batches<StoreRequest>,
    /// Pub/Sub worker.
    pub pubsub: Batches<PubSubRequest>,
    /// Queue worker.
    pub queue: Batches<QueueRequest>,
    /// Stream worker.
    pub stream: Batches<StreamRequest>,
    /// Wakes the network thread, which runs the inline brokers' inputs.
    pub waker: Arc<mio::Waker>,
}

/// The dashboard source of the mio runtime.
#[derive(Debug)]
pub struct MioSource {
    dashboard: Dashboard,
    sessions: Arc<SessionContext>,
    inputs: Mutex<Option<Inputs>>,
}

impl MioSource {
    /// A source over `dashboard`, the sessions' shared counts (open connections, slow-consumer
    /// closes) and the workers' channels.
    pub fn new(dashboard: Dashboard, sessions: Arc<SessionContext>, inputs: Inputs) -> Self {
        Self { dashboard, sessions, inputs: Mutex::new(Some(inputs)) }
    }

    /// Drops the workers' channels (at shutdown); queries then answer "stopped".
    pub fn detach(&self) {
        self.inputs.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}

impl Source for MioSource {
    fn overview(&self) -> Overview {
        self.dashboard.overview_of(&self.sessions)
    }

    fn inspect(&self, broker: BrokerKind, query: Query) -> Result<Pending, InspectError> {
        let guard = self.inputs.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(inputs) = guard.as_ref() else { return Err(InspectError::Stopped) };
        let pending = nexo_server::dashboard::inspect(inputs, broker, query)?;
        // The Store runs on the network thread: wake it so the query does not wait for traffic.
        // A failed wake means the network thread is gone; the query then answers nothing and
        // the dashboard's own timeout reports it.
        let _ = inputs.waker.wake();
        Ok(pending)
    }
}

/// A worker's channel, carrying batches of inputs.
type Batches<R> = SyncSender<Vec<WorkerInput<R>>>;

impl Inlets for Inputs {
    type Inlet<R> = Batches<R>;

    fn inlets(&self) -> InletSet<'_, Self> {
        (&self.store, &self.pubsub, &self.queue, &self.stream)
    }

    fn offer<R>(tx: &Batches<R>, input: WorkerInput<R>) -> Result<(), InspectError> {
        tx.try_send(vec![input]).map_err(|e| match e {
            TrySendError::Full(_) => InspectError::Busy,
            TrySendError::Disconnected(_) => InspectError::Stopped,
        })
    }
}
