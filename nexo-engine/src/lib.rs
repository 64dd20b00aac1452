//! Nexo's brokers as sans-IO state machines.
//!
//! Each broker (`store`, `pubsub`, later `queue` and `stream`) is a plain struct that owns its
//! state and nothing else: no sockets, files, threads, clock, global state or randomness it did
//! not receive. A runtime drives every broker the same way, through [`Broker`]:
//!
//! * **Inputs** (`handle_*`): a decoded request ([`Broker::handle_request`]), a connection
//!   closing ([`Broker::handle_disconnect`]), bytes of pushes the runtime has written to a
//!   connection ([`Broker::handle_flushed`]) and a timer firing ([`Broker::handle_timeout`]). Every
//!   input carries [`Now`]: a monotonic millisecond clock for deadlines and wall-clock
//!   milliseconds for timestamps, read together by the runtime's single clock function.
//! * **Outputs** (`poll_*`): [`Broker::poll_output`] yields replies, pushes and closes
//!   ([`Output`]); [`Broker::poll_timeout`] gives the next monotonic deadline.
//!
//! # The drain rule
//!
//! After **any** input, call [`Broker::poll_output`] until it returns `None`, then read
//! [`Broker::poll_timeout`] and sleep until that deadline or the next input, whichever comes
//! first. When the deadline passes, call [`Broker::handle_timeout`] and drain again. A runtime
//! that follows this rule never misses a reply or a timer, and outputs come out in the order the
//! engine decided them (per connection, requests are answered in the order they were handed in,
//! except parked long-polls, which answer when they complete).
//!
//! The Queue has a second output for its SQS input ([`queue::Queue::handle_sqs`]):
//! [`queue::Queue::poll_sqs_output`], drained to `None` together with `poll_output`.
//!
//! Outputs addressed to a [`ConnId`] the runtime no longer holds must be dropped: ids are never
//! reused, so a late reply can never reach another client.
//!
//! Ids and sampling come from [`ids::SeededRng`], seeded by the runtime (from OS randomness, and
//! logged), so a run can be replayed from its seed.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod broker;
pub mod glob;
pub mod ids;
mod le_reader;
pub mod log;
pub mod observe;
pub mod output;
pub mod pubsub;
pub mod queue;
pub mod store;
pub mod stream;
pub mod time;

pub use broker::Broker;
pub use ids::{ConnId, SeededRng, SeededState};
pub use log::{LogId, StoredRecord};
pub use observe::{Answer, BrokerKind, BrokerSnapshot, BrokerStats, Observe, Overview, Query};
pub use output::{CloseReason, NetOutput, Output};
pub use pubsub::{PubSub, PubSubConfig, PubSubStats, TopicStats};
pub use queue::{Queue, QueueConfig, QueueSnapshot, QueueStats};
pub use store::{EvictionPolicy, Store, StoreConfig, StoreStats};
pub use stream::{GroupSnapshot, Stream, StreamConfig, StreamStats, TopicSnapshot};
pub use time::Now;
