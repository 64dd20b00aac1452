//! Fixed-rate (open-loop) scheduling: the intended send time of every request of a connection.
//!
//! The total rate is split evenly over the requesting connections, and connection `i` of `n` is
//! offset by `i / rate` so that sends are spread over time rather than bunched. Latency in this
//! mode is measured from the intended send time, so a server (or client) that falls behind shows up
//! as queueing delay instead of being hidden (no coordinated omission). Times are nanoseconds since
//! the start of the run; this module reads no clock.

/// The intended send times of one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    base_ns: u64,
    offset_ns: f64,
    interval_ns: f64,
    taken: u64,
}

impl Schedule {
    /// Connection `index` of `connections` sharing `total_rate` requests per second.
    pub fn new(total_rate: f64, connections: u32, index: u32) -> Self {
        let connections = f64::from(connections.max(1));
        Self {
            base_ns: 0,
            offset_ns: f64::from(index) * 1e9 / total_rate,
            interval_ns: connections * 1e9 / total_rate,
            taken: 0,
        }
    }

    /// Moves the whole schedule to start at `base_ns` (the load start) instead of 0.
    pub fn set_base(&mut self, base_ns: u64) {
        self.base_ns = base_ns;
    }

    /// Intended send time of this connection's request number `k` (from 0).
    pub fn intended_ns(&self, k: u64) -> u64 {
        self.base_ns + (self.offset_ns + k as f64 * self.interval_ns) as u64
    }

    /// Intended send time of the next request not yet taken.
    pub fn next_ns(&self) -> u64 {
        self.intended_ns(self.taken)
    }

    /// How many requests not yet taken are due at `now_ns`.
    pub fn due_count(&self, now_ns: u64) -> u64 {
        let Some(since_base) = now_ns.checked_sub(self.base_ns) else { return 0 };
        let now = since_base as f64;
        if now < self.offset_ns {
            return 0;
        }
        let due_total = ((now - self.offset_ns) / self.interval_ns).floor() as u64 + 1;
        // Float rounding may put k one step off at exact boundaries; trust `intended_ns`.
        let mut due_total = due_total;
        while due_total > 0 && self.intended_ns(due_total - 1) > now_ns {
            due_total -= 1;
        }
        while self.intended_ns(due_total) <= now_ns {
            due_total += 1;
        }
        due_total.saturating_sub(self.taken)
    }

    /// Takes the next request's slot; returns its intended send time.
    pub fn take(&mut self) -> u64 {
        let at = self.next_ns();
        self.taken += 1;
        at
    }

    /// Slots taken so far.
    #[cfg(test)]
    pub fn taken(&self) -> u64 {
        self.taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_connection_at_1000_per_second() {
        let s = Schedule::new(1000.0, 1, 0);
        assert_eq!(s.intended_ns(0), 0);
        assert_eq!(s.intended_ns(1), 1_000_000);
        assert_eq!(s.intended_ns(1000), 1_000_000_000);
        assert_eq!(s.due_count(0), 1, "the first request is due at once");
        assert_eq!(s.due_count(999_999), 1);
        assert_eq!(s.due_count(1_000_000), 2);
        assert_eq!(s.due_count(1_000_000_000), 1001);
    }

    #[test]
    fn connections_share_the_rate_and_are_staggered() {
        // 4 connections at 4000/s in all: each sends every 1 ms, offset by 0.25 ms.
        let all: Vec<Schedule> = (0..4).map(|i| Schedule::new(4000.0, 4, i)).collect();
        for (i, s) in all.iter().enumerate() {
            assert_eq!(s.intended_ns(0), i as u64 * 250_000);
            assert_eq!(s.intended_ns(1) - s.intended_ns(0), 1_000_000);
        }
        // Over one second the connections together are due 4000 requests.
        let total: u64 = all.iter().map(|s| s.due_count(999_999_999)).sum();
        assert_eq!(total, 4000);
        assert_eq!(all[3].due_count(249_999), 0, "not yet started");
    }

    #[test]
    fn taking_slots_advances_and_keeps_intended_times() {
        let mut s = Schedule::new(1000.0, 1, 0);
        // The client fell behind: at t = 5.5 ms six requests are due; each keeps its own time.
        assert_eq!(s.due_count(5_500_000), 6);
        let times: Vec<u64> = (0..6).map(|_| s.take()).collect();
        assert_eq!(times, vec![0, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 5_000_000]);
        assert_eq!(s.due_count(5_500_000), 0);
        assert_eq!(s.next_ns(), 6_000_000);
        assert_eq!(s.taken(), 6);
    }

    #[test]
    fn a_base_shifts_every_time() {
        let mut s = Schedule::new(1000.0, 2, 1);
        s.set_base(10_000_000);
        // 500/s per connection (every 2 ms); the second connection is offset by 1 ms.
        assert_eq!(s.intended_ns(0), 11_000_000);
        assert_eq!(s.due_count(5_000_000), 0, "before the base nothing is due");
        assert_eq!(s.due_count(10_999_999), 0);
        assert_eq!(s.due_count(13_000_000), 2);
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        // 3 per second: 333 333 333.3 ns apart; after 3 million requests still within 1 µs.
        let s = Schedule::new(3.0, 1, 0);
        let t = s.intended_ns(3_000_000);
        assert!(t.abs_diff(1_000_000_000_000_000) < 1_000, "{t}");
        assert_eq!(s.due_count(1_000_000_000), 4);
    }
}
