//! What the connection task tells the client handles about the connection: whether it is up,
//! the server's address and how many times it reconnected. Shared through atomics and a mutex
//! held for a copy; nothing here waits.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Connection facts, written by the connection task, read by the handles.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    connected: AtomicBool,
    reconnects: AtomicU64,
    next_subscription: AtomicU64,
    peer: Mutex<Option<SocketAddr>>,
}

impl Shared {
    pub(crate) fn note_peer(&self, peer: Option<SocketAddr>) {
        self.connected.store(true, Ordering::Release);
        if let Ok(mut slot) = self.peer.lock() {
            *slot = peer;
        }
    }

    pub(crate) fn note_disconnect(&self) {
        self.connected.store(false, Ordering::Release);
    }

    pub(crate) fn note_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Acquire)
    }

    pub(crate) fn peer(&self) -> Option<SocketAddr> {
        self.peer.lock().ok().and_then(|slot| *slot)
    }

    /// A new subscription id.
    pub(crate) fn subscription_id(&self) -> u64 {
        self.next_subscription.fetch_add(1, Ordering::Relaxed)
    }
}
