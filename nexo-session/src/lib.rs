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

pub mod resp;
pub mod route;
pub mod sqs;

pub use route::{Routed, route};
