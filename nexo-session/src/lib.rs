//! Sans-IO client sessions: everything about one client connection except the socket.
//!
//! A session turns the bytes a client sent into routed items (a request for a broker, an answer
//! the session gives itself, a close with its reason) and the brokers' network outputs into the
//! bytes to write, in request order. The runtimes (`nexo` on mio, `nexo-tokio`) only move bytes
//! between sockets and sessions, so each wire protocol is written once, here: Nexo v1 and RESP.
//!
//! Purity: no clock reads (time is an input), no sockets, threads or files
//! (`nexo-session/clippy.toml` bans them; `tests/purity.rs` checks the dependency tree).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
pub mod mqtt;
pub mod resp;
pub mod route;
pub mod sqs;

pub use route::{Routed, route};

mod admission;
mod context;
mod session;
mod v1;
mod write_queue;

use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};

pub use admission::{Admission, REFUSING_MAX};
pub use context::{Limits, SessionContext};
pub use session::{CLOSE_WAIT_MS, CloseWhy, IN_FLIGHT_MAX, Session};

/// Input a connection may buffer beyond one maximal frame (one socket read).
pub const READ_SLACK_BYTES: usize = 64 * 1024;

/// A request a session routed to a broker, with its connection-local id.
#[derive(Debug)]
pub enum Item {
    /// For the Store.
    Store {
        /// Request id.
        id: u32,
        /// The command.
        request: StoreRequest,
    },
    /// For Pub/Sub.
    PubSub {
        /// Request id.
        id: u32,
        /// The command.
        request: PubSubRequest,
    },
    /// For the Queue.
    Queue {
        /// Request id.
        id: u32,
        /// The command.
        request: QueueRequest,
    },
    /// For the Stream.
    Stream {
        /// Request id.
        id: u32,
        /// The command.
        request: StreamRequest,
    },
}
