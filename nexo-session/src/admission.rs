//! Admission at accept time: whether a new connection is served, refused as the protocol says
//! (over `max_connections`), or closed at once (too many refusals in progress already).
//!
//! It owns the two counts (open connections, refusals in progress) as guards: an [`Admission`]
//! is held for the connection's life and its drop gives the slot back, so neither runtime keeps
//! a count or a semaphore of its own. The open count is the RESP context's client gauge (INFO's
//! `connected_clients`, the dashboard's connection count). It reads no clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::resp::ClientCount;

/// Connections over the limit that may wait to be refused at once; beyond it a new connection
/// is closed without an answer.
pub const REFUSING_MAX: usize = 256;

/// One accepted connection's slot: open, or refusing (over the limit). Dropping it frees it.
#[derive(Debug)]
pub struct Admission {
    slot: Slot,
}

#[derive(Debug)]
enum Slot {
    Open(#[allow(dead_code, reason = "held for its Drop")] ClientCount),
    Refusing(Arc<AtomicUsize>),
}

impl Admission {
    /// Decides for a new connection, given the open-connection gauge, the refusal count and the
    /// limit; `None`: close it at once.
    pub(crate) fn decide(
        open: &Arc<AtomicU64>,
        count_open: impl FnOnce() -> ClientCount,
        refusing: &Arc<AtomicUsize>,
        max_connections: usize,
    ) -> Option<Self> {
        if open.load(Ordering::Relaxed) < max_connections as u64 {
            return Some(Self { slot: Slot::Open(count_open()) });
        }
        if refusing.fetch_add(1, Ordering::Relaxed) < REFUSING_MAX {
            return Some(Self { slot: Slot::Refusing(Arc::clone(refusing)) });
        }
        refusing.fetch_sub(1, Ordering::Relaxed);
        None
    }

    /// Over the connection limit: the session only answers the refusal.
    pub fn refused(&self) -> bool {
        matches!(self.slot, Slot::Refusing(_))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if let Slot::Refusing(refusing) = &self.slot {
            refusing.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::resp::{RespContext, RespSettings};
    use crate::{Limits, SessionContext};

    #[test]
    fn open_then_refusing_then_closed_and_slots_come_back() {
        let resp = std::sync::Arc::new(RespContext::new(RespSettings {
            max_connections: 2,
            ..RespSettings::for_tests()
        }));
        let mut limits = Limits::new(1024, 1024);
        limits.max_connections = 2;
        let ctx = SessionContext::new(limits, resp);
        let open: Vec<_> = (0..2).map(|_| ctx.admit().unwrap()).collect();
        assert!(open.iter().all(|a| !a.refused()));
        assert_eq!(ctx.open_connections(), 2);
        let refusing: Vec<_> = (0..super::REFUSING_MAX).map(|_| ctx.admit().unwrap()).collect();
        assert!(refusing.iter().all(super::Admission::refused));
        assert!(ctx.admit().is_none(), "past the refusals in progress: closed at once");
        assert_eq!(ctx.connections_in_use(), 2 + super::REFUSING_MAX);
        drop(refusing);
        drop(open);
        assert_eq!(ctx.connections_in_use(), 0);
        assert!(!ctx.admit().unwrap().refused());
    }
}
