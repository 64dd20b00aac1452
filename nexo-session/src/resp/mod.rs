//! The RESP (Redis protocol) side of a connection, sans-IO, shared by both runtimes.
//!
//! A connection whose first byte is `*` or an ASCII letter speaks RESP. Its read side is a
//! [`RespSession`]: it parses commands (`nexo_proto::resp`), answers connection-level commands
//! itself (PING, ECHO, SELECT, QUIT, HELLO, CLIENT, COMMAND, INFO, CONFIG, RESET) and turns data
//! commands into the same Store and Pub/Sub engine requests v1 uses, numbering them with
//! connection-local request ids. Its write side is a [`RespOutbound`]: the reorder buffer that
//! releases replies in request order and re-encodes the engine's v1 push frames as RESP
//! messages. The session hands the runtime [`Action`]s in order; every [`Slot`] it emits must
//! reach the outbound side before the reply to its request can.
//!
//! Runtimes stay thin: feed bytes and `now` in, route the requests, feed engine replies and
//! pushes to the outbound side, write what it releases (reporting `push_report` bytes to Pub/Sub
//! once written, as for v1 pushes), and stop reading while unsent plus held bytes pass the write
//! limit.

mod catalog;
mod clients;
mod commands;
mod info;
mod outbound;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};

use nexo_proto::request::{PubSubRequest, StoreRequest};

pub use clients::{Client, Clients, Endpoints, ProcessProbe, ProcessStats};
pub use info::REDIS_VERSION;
pub use outbound::{Expect, OOM_TEXT, Released, RespOutbound, Slot, error_text};
pub use session::RespSession;

/// What RESP sessions need to know about the server (from the settings).
#[derive(Debug, Clone)]
pub struct RespSettings {
    /// The frame limit, also the longest bulk string.
    pub max_frame_bytes: u32,
    /// Subscriptions per connection (Pub/Sub's limit, checked before asking the engine).
    pub max_subscriptions: usize,
    /// The Store's memory limit (CONFIG GET maxmemory).
    pub max_memory_bytes: u64,
    /// The Store's eviction policy name (CONFIG GET maxmemory-policy).
    pub eviction: String,
    /// The port served (INFO, CONFIG GET port); see [`RespContext::set_port`].
    pub port: u16,
    /// The connection limit (INFO, CONFIG GET maxclients).
    pub max_connections: usize,
    /// The host's process numbers for INFO (RSS, CPU); a session reads no files itself.
    pub process: ProcessProbe,
}

#[cfg(test)]
impl RespSettings {
    /// The settings the crate's unit tests run sessions with (1 MiB frames, 3 subscriptions).
    pub(crate) fn for_tests() -> Self {
        Self {
            max_frame_bytes: 1 << 20,
            max_subscriptions: 3,
            max_memory_bytes: 1 << 30,
            eviction: "allkeys-lru".into(),
            port: 6379,
            max_connections: 100,
            process: ProcessProbe::default(),
        }
    }
}

/// Shared by every RESP session of a server.
#[derive(Debug)]
pub struct RespContext {
    settings: RespSettings,
    /// Open client connections of every protocol (INFO's `connected_clients`), kept by the
    /// runtime: see [`RespContext::clients_gauge`] and [`RespContext::count_client`].
    clients: Arc<AtomicU64>,
    port: AtomicU16,
    /// Every RESP client (CLIENT LIST, KILL) and the per-command counts.
    registry: Clients,
}

impl RespContext {
    /// A context for sessions of a server with `settings`.
    pub fn new(settings: RespSettings) -> Self {
        let port = AtomicU16::new(settings.port);
        Self { settings, clients: Arc::new(AtomicU64::new(0)), port, registry: Clients::default() }
    }

    /// The open-connection gauge INFO reads, for a runtime that stores its own count of open
    /// client connections (v1 and RESP) into it.
    pub fn clients_gauge(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.clients)
    }

    /// Counts one open client connection (v1 or RESP) until the guard is dropped, for a runtime
    /// that keeps no count of its own.
    pub fn count_client(&self) -> ClientCount {
        self.clients.fetch_add(1, Ordering::Relaxed);
        ClientCount(Arc::clone(&self.clients))
    }

    /// The port actually bound (known only after binding when `--port 0`).
    pub fn set_port(&self, port: u16) {
        self.port.store(port, Ordering::Relaxed);
    }

    /// The port served.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed)
    }

    /// Client connections open now, v1 and RESP.
    pub fn connected(&self) -> u64 {
        self.clients.load(Ordering::Relaxed)
    }

    /// The RESP clients and their counters.
    pub fn registry(&self) -> &Clients {
        &self.registry
    }
}

/// One open client connection in the gauge of [`RespContext::count_client`]; dropping it
/// uncounts the connection.
#[derive(Debug)]
pub struct ClientCount(Arc<AtomicU64>);

impl Drop for ClientCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the session asks the runtime to do, in order.
#[derive(Debug)]
pub enum Action {
    /// Register this slot with the connection's [`RespOutbound`].
    Slot(Slot),
    /// Hand this request to the Store.
    Store {
        /// Connection-local request id.
        id: u32,
        /// The command.
        request: StoreRequest,
    },
    /// Hand this request to Pub/Sub.
    PubSub {
        /// Connection-local request id.
        id: u32,
        /// The command.
        request: PubSubRequest,
    },
    /// Run this password check off the network thread; its verdict comes back through
    /// `Session::handle_verified`.
    Verify(crate::auth::VerifyJob),
    /// Stop reading; close once everything queued is written (QUIT, a protocol error, or a
    /// first command that shows an HTTP client: then nothing is answered).
    Close,
}

/// Both sides of one RESP connection, for a runtime that keeps them together (the mio network
/// thread; the tokio runtime splits them between its reader and writer tasks).
#[derive(Debug)]
pub struct RespConn {
    /// The read side.
    pub session: RespSession,
    /// The write side.
    pub outbound: RespOutbound,
}

impl RespConn {
    /// A fresh connection `conn`.
    pub fn new(ctx: Arc<RespContext>, conn: nexo_engine::ConnId) -> Self {
        Self { session: RespSession::new(ctx, conn), outbound: RespOutbound::new() }
    }
}

/// The line a RESP client gets when it is over the connection limit.
pub const TOO_MANY_CLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";
