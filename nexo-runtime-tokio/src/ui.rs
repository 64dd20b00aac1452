//! The dashboard's view of this runtime: [`nexo_ui::Source`] over the broker tasks.
//!
//! Overviews come from the snapshots the broker tasks' drivers publish ([`Dashboard`]) and the
//! sessions' shared counts; queries go to a broker task over its
//! input channel with `try_send` (a full channel answers busy instead of waiting) and are
//! answered between its batches.

use std::sync::Arc;

use nexo_engine::observe::{BrokerKind, Overview, Query};
use nexo_server::{BrokerInput, Dashboard, Responder};
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
        let (send, pending) = nexo_ui::pending();
        let responder = Responder::new(send);
        match broker {
            BrokerKind::Store => offer(&self.brokers.store, BrokerInput::Inspect(query, responder)),
            BrokerKind::PubSub => offer(&self.brokers.pubsub, BrokerInput::Inspect(query, responder)),
            BrokerKind::Queue => offer(&self.brokers.queue, BrokerInput::Inspect(query, responder)),
            BrokerKind::Stream => offer(&self.brokers.stream, BrokerInput::Inspect(query, responder)),
        }?;
        Ok(pending)
    }
}

fn offer<R>(tx: &Sender<Msg<R>>, input: BrokerInput<R>) -> Result<(), InspectError> {
    tx.try_send(Msg::input(input)).map_err(|e| match e {
        TrySendError::Full(_) => InspectError::Busy,
        TrySendError::Closed(_) => InspectError::Stopped,
    })
}
