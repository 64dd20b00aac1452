//! Reclaiming memory: approximate-LRU eviction before writes that grow memory, and the bounded
//! active expiry sweep.
//!
//! This module owns the sampling policies (which keys are candidates, how many are drawn, how much
//! work one sweep may do) and the eviction and expiry counters. It must not reply to anything or
//! know about commands: a command describes its write as a [`Growth`] plus the keys it targets, and
//! gets back whether the write fits.

use crate::store::table::{MAX_ENTRIES, entry_bytes};
use crate::store::{
    ACTIVE_EXPIRE_MAX_ROUNDS, ACTIVE_EXPIRE_SAMPLES, EVICTION_SAMPLES, EvictionPolicy,
    SWEEP_BACKLOG_INTERVAL_MS, SWEEP_INTERVAL_MS, Store, StoreError,
};
use crate::time::Now;

/// Most random draws per eviction before falling back to a linear search for a candidate (draws
/// only fail when they hit keys the write itself targets).
const EVICTION_MAX_DRAWS: usize = 8 * EVICTION_SAMPLES;

/// What a write is about to do to memory.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Growth {
    /// Bytes of the live entries the write replaces (0 for keys that do not exist yet).
    pub(crate) old_bytes: u64,
    /// Bytes the written entries will take.
    pub(crate) new_bytes: u64,
    /// The part of `old_bytes` that is in the eviction pool (and so must not count as evictable).
    pub(crate) pinned_pool_bytes: u64,
    /// Keys written that do not exist yet (at most).
    pub(crate) new_keys: u64,
}

impl Growth {
    /// A write of `value_len` bytes under `key` that replaces the live entry at `pos`, if any.
    pub(crate) fn of(store: &Store, key: &[u8], value_len: usize, pos: Option<usize>) -> Self {
        let new_keys = u64::from(pos.is_none());
        let mut growth = Self { new_bytes: entry_bytes(key.len(), value_len), new_keys, ..Self::default() };
        growth.replace(store, pos);
        growth
    }

    /// Adds the live entry at `pos` (if any) to the entries this write replaces.
    pub(crate) fn replace(&mut self, store: &Store, pos: Option<usize>) {
        if let Some(entry) = pos.and_then(|pos| store.table.get(pos)) {
            self.old_bytes += entry.bytes();
            if store.in_pool(entry.deadline_ms().is_some()) {
                self.pinned_pool_bytes += entry.bytes();
            }
        }
    }
}

impl Store {
    /// Whether a key (with or without a deadline) may be evicted under the configured policy.
    fn in_pool(&self, has_deadline: bool) -> bool {
        match self.config.eviction {
            EvictionPolicy::AllKeysLru => true,
            EvictionPolicy::VolatileLru => has_deadline,
            EvictionPolicy::NoEviction => false,
        }
    }

    fn pool_len(&self) -> usize {
        match self.config.eviction {
            EvictionPolicy::AllKeysLru => self.table.len(),
            EvictionPolicy::VolatileLru => self.table.volatile_len(),
            EvictionPolicy::NoEviction => 0,
        }
    }

    fn pool_pos(&self, i: usize) -> Option<usize> {
        match self.config.eviction {
            EvictionPolicy::AllKeysLru => Some(i),
            EvictionPolicy::VolatileLru => self.table.volatile_pos(i),
            EvictionPolicy::NoEviction => None,
        }
    }

    /// Evicts until a write described by `growth` fits the memory limit, never evicting a key for
    /// which `pinned` holds (the write's own targets).
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the write cannot fit even after evicting every candidate;
    /// nothing has been evicted then.
    pub(crate) fn make_room(
        &mut self,
        now: Now,
        growth: Growth,
        pinned: &dyn Fn(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if (self.table.len() as u64).saturating_add(growth.new_keys) > MAX_ENTRIES as u64 {
            return Err(StoreError::OutOfMemory);
        }
        let max = self.config.max_memory_bytes;
        let after = |used: u64| used.saturating_sub(growth.old_bytes).saturating_add(growth.new_bytes);
        if after(self.table.used_bytes()) <= max {
            return Ok(());
        }
        let pool_bytes = match self.config.eviction {
            EvictionPolicy::AllKeysLru => self.table.used_bytes(),
            EvictionPolicy::VolatileLru => self.table.volatile_bytes(),
            EvictionPolicy::NoEviction => 0,
        };
        let evictable = pool_bytes.saturating_sub(growth.pinned_pool_bytes);
        if after(self.table.used_bytes()).saturating_sub(evictable) > max {
            return Err(StoreError::OutOfMemory);
        }
        while after(self.table.used_bytes()) > max {
            // The check above guarantees a candidate exists while memory is still short.
            let Some(pos) = self.pick_victim(pinned) else { return Err(StoreError::OutOfMemory) };
            let expired = self.table.get(pos).is_some_and(|e| e.is_expired(now.mono_ms));
            self.table.remove(pos);
            if expired {
                self.counters.expired_keys += 1;
            } else {
                self.counters.evicted_keys += 1;
            }
        }
        Ok(())
    }

    /// [`Store::make_room`] for a write of `key` alone, whose live entry (if any) is at `pos`;
    /// returns that entry's position afterwards (an eviction may have moved it).
    ///
    /// # Errors
    /// As [`Store::make_room`].
    pub(crate) fn make_room_for(
        &mut self,
        now: Now,
        key: &[u8],
        value_len: usize,
        pos: Option<usize>,
    ) -> Result<Option<usize>, StoreError> {
        let len = self.table.len();
        self.make_room(now, Growth::of(self, key, value_len, pos), &|k| k == key)?;
        // Evictions only remove entries: when none happened, nothing moved.
        Ok(if self.table.len() == len { pos } else { pos.and_then(|_| self.table.find(key)) })
    }

    /// Samples up to [`EVICTION_SAMPLES`] unpinned candidates and returns the position of the least
    /// recently accessed one.
    fn pick_victim(&mut self, pinned: &dyn Fn(&[u8]) -> bool) -> Option<usize> {
        let pool_len = self.pool_len();
        if pool_len == 0 {
            return None;
        }
        // Ages relative to the current clock: the stored readings keep only its low 32 bits.
        let clock = self.clock as u32;
        let mut best: Option<(u32, usize)> = None;
        let mut sampled = 0;
        for _ in 0..EVICTION_MAX_DRAWS {
            if sampled == EVICTION_SAMPLES {
                break;
            }
            let draw = self.rng.below(pool_len);
            let Some(pos) = self.pool_pos(draw) else { continue };
            let Some(entry) = self.table.get(pos) else { continue };
            if pinned(entry.key()) {
                continue;
            }
            sampled += 1;
            let age = clock.wrapping_sub(entry.last_access());
            if best.is_none_or(|(oldest, _)| age > oldest) {
                best = Some((age, pos));
            }
        }
        best.map(|(_, pos)| pos).or_else(|| {
            // Nearly every candidate is pinned, so the pool is about as small as the request.
            (0..pool_len)
                .filter_map(|i| self.pool_pos(i))
                .find(|&pos| self.table.get(pos).is_some_and(|e| !pinned(e.key())))
        })
    }

    /// Removes the (expired) entry at `pos` and counts it.
    pub(crate) fn expire_at(&mut self, pos: usize) {
        if self.table.remove(pos).is_some() {
            self.counters.expired_keys += 1;
        }
    }

    /// Makes sure a sweep is scheduled now that a key has a deadline.
    pub(crate) fn arm_sweep(&mut self, now: Now) {
        if self.sweep_due_ms.is_none() || self.table.volatile_len() == 1 {
            self.sweep_due_ms = Some(now.mono_ms.saturating_add(SWEEP_INTERVAL_MS));
        }
    }

    /// One bounded active expiry pass (see the module docs of `store`), then schedules the next.
    pub(crate) fn sweep(&mut self, now: Now) {
        let mut backlog = false;
        for _ in 0..ACTIVE_EXPIRE_MAX_ROUNDS {
            let (checked, expired) = self.sweep_round(now);
            backlog = expired * 4 > checked;
            if !backlog {
                break;
            }
        }
        let interval = if backlog { SWEEP_BACKLOG_INTERVAL_MS } else { SWEEP_INTERVAL_MS };
        self.sweep_due_ms = (self.table.volatile_len() > 0).then(|| now.mono_ms.saturating_add(interval));
    }

    /// Checks [`ACTIVE_EXPIRE_SAMPLES`] keys with a deadline (every one when there are no more than
    /// that) and removes the expired ones; returns `(checked, expired)`.
    fn sweep_round(&mut self, now: Now) -> (usize, usize) {
        let n = self.table.volatile_len();
        if n <= ACTIVE_EXPIRE_SAMPLES {
            // Top-down: a removal only moves the top slot, which is already checked.
            let expired = (0..n).rev().filter(|&slot| self.expire_slot_if_due(slot, now)).count();
            return (n, expired);
        }
        let mut expired = 0;
        for _ in 0..ACTIVE_EXPIRE_SAMPLES {
            let slot = self.rng.below(self.table.volatile_len());
            expired += usize::from(self.expire_slot_if_due(slot, now));
        }
        (ACTIVE_EXPIRE_SAMPLES, expired)
    }

    /// Removes the key in volatile `slot` if its deadline has passed; returns whether it did.
    fn expire_slot_if_due(&mut self, slot: usize, now: Now) -> bool {
        let due = self
            .table
            .volatile_pos(slot)
            .filter(|&pos| self.table.get(pos).is_some_and(|e| e.is_expired(now.mono_ms)));
        if let Some(pos) = due {
            self.expire_at(pos);
        }
        due.is_some()
    }
}
