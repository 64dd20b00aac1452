//! What both Nexo runtimes share, so they stay thin and alike.
//!
//! This crate owns the server's settings (flags and environment variables), the single clock
//! function, logging set-up, the start-up facts (seed, physical memory), the broker driver, the cold-read
//! thread both runtimes give the Stream broker, the dashboard source and the host (start-up
//! order, listeners, ready line). Per-connection protocol
//! logic lives in `nexo-session`. It owns no sockets and no event loops: those belong to
//! `nexo-runtime-mio` and `nexo-runtime-tokio`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod clock;
pub mod cold_reader;
mod damage;
pub mod dashboard;
pub mod driver;
pub mod host;
pub mod logging;
pub mod security;
pub mod settings;
pub mod startup;
mod transient;

pub use clock::Clock;
pub use cold_reader::{ColdReader, Completion};
pub use dashboard::Dashboard;
pub use driver::{BrokerDriver, BrokerInput, Durability, FsyncMode, Responder, SnapshotSlot};
pub use host::{Host, HostError};
pub use settings::Settings;
