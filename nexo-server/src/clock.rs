//! The runtime's one clock function: both clocks read together into [`nexo_engine::Now`].

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nexo_engine::Now;

/// Reads the monotonic and wall clocks; the only place in a runtime that does.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// Starts the monotonic count at zero now.
    #[allow(clippy::disallowed_methods, reason = "the runtime's single clock function")]
    pub fn start() -> Self {
        Self { start: Instant::now() }
    }

    /// Both clocks, read together.
    #[allow(clippy::disallowed_methods, reason = "the runtime's single clock function")]
    pub fn now(&self) -> Now {
        let mono_ms = Instant::now().saturating_duration_since(self.start).as_millis() as u64;
        let wall_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Now { mono_ms, wall_ms }
    }

    /// The `Instant` of an engine deadline (`Now::mono_ms`), for timer APIs that take one.
    pub fn instant_of(&self, mono_ms: u64) -> Instant {
        self.start + Duration::from_millis(mono_ms)
    }

    /// How long from `now` until the engine deadline `mono_ms` (zero if it has passed).
    pub fn until(&self, now: Now, mono_ms: u64) -> Duration {
        Duration::from_millis(mono_ms.saturating_sub(now.mono_ms))
    }
}
