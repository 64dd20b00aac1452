//! Per-connection state for bounded fan-out: a connection's subscriptions and unsent pushes.
//!
//! Owns, for every connection that subscribed, the subscription strings it holds and a FIFO of
//! the sizes of pushes handed to the runtime but not yet reported written (through
//! `handle_flushed`), so the broker can refuse a push that would pass the connection's byte or
//! count limit. It must not emit outputs or touch the tree: the broker decides what a full
//! connection means (a slow-consumer close for live messages, a skip for retained ones).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::shared::GroupId;

/// What a subscription string of a connection stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubKind {
    /// A plain pattern, filed in the tree under the string itself.
    Normal,
    /// A membership of a shared group.
    Shared(GroupId),
}

/// Pushes handed to the runtime and not yet written to the socket.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Frame sizes, oldest first.
    sizes: VecDeque<usize>,
    /// Sum of `sizes`.
    bytes: usize,
    /// Bytes reported written that do not yet cover the oldest frame.
    carry: usize,
}

impl Pending {
    /// Unsent bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Unsent pushes.
    pub fn count(&self) -> usize {
        self.sizes.len()
    }

    /// `true` when a push of `len` bytes would pass a limit. An empty queue always accepts
    /// one push, however large, so a message bigger than the byte limit still reaches a
    /// subscriber that keeps up.
    pub fn is_full(&self, len: usize, max_bytes: usize, max_count: usize) -> bool {
        !self.sizes.is_empty()
            && (self.sizes.len() >= max_count || self.bytes.saturating_add(len) > max_bytes)
    }

    /// Records a push of `len` bytes handed to the runtime.
    pub fn add(&mut self, len: usize) {
        self.sizes.push_back(len);
        self.bytes += len;
    }

    /// The runtime wrote `written` more bytes of pushes (possibly part of a frame).
    pub fn flushed(&mut self, written: usize) {
        self.carry = self.carry.saturating_add(written);
        while let Some(&front) = self.sizes.front() {
            if self.carry < front {
                return;
            }
            self.carry -= front;
            self.bytes -= front;
            self.sizes.pop_front();
        }
        // More reported than was pending: nothing to carry into later pushes.
        self.carry = 0;
    }

    /// `true` when nothing is waiting to be written.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }
}

/// One connection, from its first SUBSCRIBE until it disconnects (or is idle again).
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// Subscription strings as sent, in order.
    pub subs: BTreeMap<Box<str>, SubKind>,
    /// Unsent pushes.
    pub pending: Pending,
    /// Closed as a slow consumer: no more pushes or subscriptions until it disconnects.
    pub closed: bool,
    /// Exact channel names (Redis SUBSCRIBE).
    pub channels: BTreeSet<Box<str>>,
    /// Glob patterns (Redis PSUBSCRIBE).
    pub globs: BTreeSet<Box<str>>,
}

impl ConnState {
    /// Nothing left worth keeping: no subscriptions, nothing pending, not closed.
    pub fn is_idle(&self) -> bool {
        !self.closed && self.total_subscriptions() == 0 && self.pending.is_empty()
    }

    /// Subscriptions of every kind (what the per-connection limit counts).
    pub fn total_subscriptions(&self) -> usize {
        self.subs.len() + self.channels.len() + self.globs.len()
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn flushed_pops_whole_frames_and_carries_partials() {
        let mut p = Pending::default();
        for len in [10, 20, 30] {
            p.add(len);
        }
        assert_eq!((p.count(), p.bytes()), (3, 60));
        p.flushed(15);
        assert_eq!((p.count(), p.bytes()), (2, 50));
        p.flushed(14);
        assert_eq!((p.count(), p.bytes()), (2, 50));
        p.flushed(1);
        assert_eq!((p.count(), p.bytes()), (1, 30));
        p.flushed(1000);
        assert!(p.is_empty());
        p.add(5);
        assert_eq!(p.count(), 1, "an over-report is not carried into later pushes");
    }

    #[test]
    fn limits() {
        let mut p = Pending::default();
        assert!(!p.is_full(1 << 30, 100, 2), "an empty queue takes one push");
        p.add(60);
        assert!(!p.is_full(40, 100, 2));
        assert!(p.is_full(41, 100, 2));
        p.add(10);
        assert!(p.is_full(1, 100, 2));
    }
}
