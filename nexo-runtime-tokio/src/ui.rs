//! The dashboard's view of this runtime: [`nexo_ui::Source`] over the broker tasks.
//!
//! Overviews come from the snapshots the broker tasks' drivers publish ([`Dashboard`]) and the
//! sessions' shared counts; queries go to a broker task over its
//! input channel with `try_send` (a full channel answers busy instead of waiting) and are
//! answered between its batches.

use std::sync::Arc;

use nexo_engine::observe::{BrokerKind, Overview, Query};
use nexo_server::dashboard::{InletSet, Inlets};
use nexo_server::{BrokerInput, Dashboard};
use nexo_session::SessionContext;
use nexo_ui::{InspectError, Pending, Source};
use tokio::sync::mpsc::Sender;
use tokio::sync::mpsc::error::TrySendError;

use crate::broker_task::{Brokers, Msg};

/// The dashboard source of the tokio runtime.
#[derive(Debug)]
pub struct TokioSource {
    dashboard: Dashboard,
    brokers: Brokers,
    sessions: Arc<SessionContext>,
}

impl TokioSource {
    /// A source over `dashboard`, the broker tasks' channels and the sessions' shared counts
    /// (open connections, slow-consumer closes).
    pub fn new(dashboard: Dashboard, brokers: Brokers, sessions: Arc<SessionContext>) -> Self {
        Self { dashboard, brokers, sessions }
    }
}

impl Source for TokioSource {
    fn overview(&self) -> Overview {
        self.dashboard.overview_of(&self.sessions)
    }

    fn inspect(&self, broker: BrokerKind, query: Query) -> Result<Pending, InspectError> {
        nexo_server::dashboard::inspect(&self.brokers, broker, query)
    }
}

impl Inlets for Brokers {
    type Inlet<R> = Sender<Msg<R>>;

    fn inlets(&self) -> InletSet<'_, Self> {
        (&self.store, &self.pubsub, &self.queue, &self.stream)
    }

    fn offer<R>(tx: &Sender<Msg<R>>, input: BrokerInput<R>) -> Result<(), InspectError> {
        tx.try_send(Msg::input(input)).map_err(|e| match e {
            TrySendError::Full(_) => InspectError::Busy,
            TrySendError::Closed(_) => InspectError::Stopped,
        })
    }
}
