//! Time as an input: the pair of clocks every engine input carries.
//!
//! The engine never reads a clock. The runtime reads both clocks together in one function and
//! passes the result in; tests and simulations make up their own.

/// One reading of the runtime's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Now {
    /// Monotonic milliseconds since the runtime started: deadlines, TTLs, leases.
    pub mono_ms: u64,
    /// Wall-clock milliseconds since the Unix epoch: timestamps and anything persisted.
    pub wall_ms: u64,
}

impl Now {
    /// A reading at `mono_ms`, with the wall clock at the same offset from an arbitrary epoch
    /// (for tests and simulations).
    pub fn at(mono_ms: u64) -> Self {
        Self { mono_ms, wall_ms: 1_700_000_000_000 + mono_ms }
    }

    /// This reading advanced by `ms` on both clocks.
    pub fn plus(self, ms: u64) -> Self {
        Self { mono_ms: self.mono_ms + ms, wall_ms: self.wall_ms + ms }
    }
}
