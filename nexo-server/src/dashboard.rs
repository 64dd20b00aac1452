//! What both runtimes share for the dashboard: each broker's snapshot slot and the
//! [`Overview`] built from them.
//!
//! It owns no thread, socket or channel: a runtime calls [`Dashboard::attach`] on the recovered
//! brokers before it starts them (each driver then publishes its broker's snapshot into a slot
//! while it runs), counts its own connections, and implements `nexo_ui::Source` with
//! [`Dashboard::overview`] plus [`inspect`] over its [`Inlets`]. Reading
//! an overview only clones the slots under their locks: it never waits on a broker's work.

use nexo_engine::observe::{BrokerKind, BrokerSnapshot, BrokerStats, Observe, Overview, Query};
use nexo_engine::{Broker, Now};
use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};
use nexo_ui::{InspectError, Pending};

use crate::clock::Clock;
use crate::driver::{BrokerDriver, BrokerInput, Responder, SnapshotSlot};
use crate::settings::Settings;
use crate::startup::Brokers;

/// The shared half of a runtime's dashboard source.
#[derive(Debug)]
pub struct Dashboard {
    runtime: &'static str,
    clock: Clock,
    fsync: String,
    max_connections: u64,
    slots: Vec<SnapshotSlot>,
}

impl Dashboard {
    /// Makes every broker in `brokers` publish snapshots; `runtime` names the binary's runtime
    /// (`mio`, `tokio`).
    pub fn attach(runtime: &'static str, settings: &Settings, clock: Clock, brokers: &mut Brokers) -> Self {
        let now = clock.now();
        let slots = vec![
            observe(&mut brokers.store, now),
            observe(&mut brokers.pubsub, now),
            observe(&mut brokers.queue, now),
            observe(&mut brokers.stream, now),
        ];
        Self {
            runtime,
            clock,
            fsync: settings.fsync.to_string(),
            max_connections: brokers.max_connections as u64,
            slots,
        }
    }

    /// [`Self::overview`] with the connections and session slow-consumer closes `sessions` counts.
    pub fn overview_of(&self, sessions: &nexo_session::SessionContext) -> Overview {
        self.overview(sessions.open_connections(), sessions.slow_consumer_closes())
    }

    /// The whole server now, with `connections` client connections open and
    /// `session_slow_closes` connections closed as slow consumers by the sessions' output bound
    /// (counted with Pub/Sub's own slow-consumer closes).
    pub fn overview(&self, connections: u64, session_slow_closes: u64) -> Overview {
        let now = self.clock.now();
        let mut brokers = self
            .slots
            .iter()
            .filter_map(|slot| slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
            .collect::<Vec<BrokerSnapshot>>();
        for snapshot in &mut brokers {
            if let BrokerStats::PubSub(stats) = &mut snapshot.stats {
                stats.slow_consumer_closes += session_slow_closes;
            }
        }
        Overview {
            runtime: self.runtime.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_ms: now.mono_ms,
            wall_ms: now.wall_ms,
            connections,
            max_connections: self.max_connections,
            memory_rss_bytes: process_rss_bytes(),
            fsync: self.fsync.clone(),
            brokers,
            failed_logins: crate::security::failed_logins(),
        }
    }
}

/// A runtime's way into its brokers for dashboard queries: one inlet per broker kind, each
/// offered an input without waiting.
pub trait Inlets {
    /// One broker's input channel, for its request type `R`.
    type Inlet<R>;

    /// The Store's, Pub/Sub's, Queue's and Stream's inlets.
    fn inlets(&self) -> InletSet<'_, Self>;

    /// Offers `input` to `inlet` without waiting.
    ///
    /// # Errors
    /// [`InspectError::Busy`] when the inlet is full, [`InspectError::Stopped`] when it is closed.
    fn offer<R>(inlet: &Self::Inlet<R>, input: BrokerInput<R>) -> Result<(), InspectError>;
}

/// The four inlets of an [`Inlets`]: Store, Pub/Sub, Queue, Stream.
pub type InletSet<'a, I> = (
    &'a <I as Inlets>::Inlet<StoreRequest>,
    &'a <I as Inlets>::Inlet<PubSubRequest>,
    &'a <I as Inlets>::Inlet<QueueRequest>,
    &'a <I as Inlets>::Inlet<StreamRequest>,
);

/// Sends `query` to broker kind `broker` through `inlets`; the answer arrives on the pending.
///
/// # Errors
/// The broker's inlet is full or closed.
pub fn inspect<I: Inlets>(inlets: &I, broker: BrokerKind, query: Query) -> Result<Pending, InspectError> {
    let (send, pending) = nexo_ui::pending();
    let responder = Responder::new(send);
    let (store, pubsub, queue, stream) = inlets.inlets();
    match broker {
        BrokerKind::Store => I::offer(store, BrokerInput::Inspect(query, responder)),
        BrokerKind::PubSub => I::offer(pubsub, BrokerInput::Inspect(query, responder)),
        BrokerKind::Queue => I::offer(queue, BrokerInput::Inspect(query, responder)),
        BrokerKind::Stream => I::offer(stream, BrokerInput::Inspect(query, responder)),
    }?;
    Ok(pending)
}

fn observe<B: Broker + Observe>(driver: &mut BrokerDriver<B>, now: Now) -> SnapshotSlot {
    let slot = SnapshotSlot::default();
    driver.observe(slot.clone(), now);
    slot
}

/// Resident memory of this process (`VmRSS` of `/proc/self/status`), where the OS tells.
pub fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::driver::BrokerInput;

    #[test]
    fn overview_reads_published_snapshots() {
        let dir = std::env::temp_dir().join(format!("nexo-dashboard-test-{}", std::process::id()));
        let settings = Settings::parse_from(["nexo", "--data-dir", &dir.to_string_lossy(), "--seed", "1"]);
        let clock = Clock::start();
        let mut brokers = crate::startup::start_brokers(&settings, &clock).unwrap();
        let dashboard = Dashboard::attach("test", &settings, clock, &mut brokers);
        let overview = dashboard.overview(3, 0);
        assert_eq!(overview.brokers.len(), 4, "store, pubsub, queue and stream");
        assert_eq!(overview.connections, 3);
        assert!(overview.healthy());
        assert!(overview.memory_rss_bytes.is_some_and(|b| b > 0));
        assert_eq!(overview.fsync, "always");

        let (tx, rx) = std::sync::mpsc::channel();
        let query = nexo_engine::Query::Stats;
        let responder = crate::driver::Responder::new(move |answer| tx.send(answer).unwrap());
        brokers.store.handle(clock.now(), BrokerInput::Inspect(query, responder));
        assert!(matches!(rx.recv().unwrap(), nexo_engine::Answer::Stats(_)));
        drop(brokers);
        let _ = std::fs::remove_dir_all(dir);
    }
}
