//! The Store's key table: a dense `Vec` of entries, a hash index from key to position, and a
//! dense set of the positions of keys that carry a deadline ("volatile" keys).
//!
//! This module owns the data layout and the memory accounting (`used_bytes`, `volatile_bytes`),
//! and keeps the three structures consistent on every insert, update and removal. It must not
//! decide anything: no expiry, eviction or command semantics live here, and it never iterates the
//! hash index (only the dense vectors, whose order is deterministic).
//!
//! Removal is `swap_remove`: the last entry moves into the freed slot. Two consequences the rest of
//! the Store relies on: random sampling is O(1) (pick a position), and an entry only ever moves
//! *down*, from the top position, which is what makes the top-down SCAN cursor complete.

use std::collections::HashMap;

use bytes::Bytes;

use crate::ids::SeededState;
use crate::store::ENTRY_OVERHEAD_BYTES;

/// Engine-counted size of one entry: key, value and the fixed per-entry overhead.
pub(crate) fn entry_bytes(key_len: usize, value_len: usize) -> u64 {
    (key_len as u64).saturating_add(value_len as u64).saturating_add(ENTRY_OVERHEAD_BYTES)
}

/// A key's deadline and its position in the volatile set.
#[derive(Debug, Clone, Copy)]
struct Expiry {
    deadline_ms: u64,
    slot: usize,
}

/// One stored key.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Owned copy of the key (shared with the index by reference count).
    pub(crate) key: Bytes,
    /// Owned copy of the value.
    pub(crate) value: Bytes,
    /// Access-clock reading of the last read or write (for approximate LRU).
    pub(crate) last_access: u64,
    expiry: Option<Expiry>,
}

impl Entry {
    /// Monotonic deadline in milliseconds, if the key expires.
    pub(crate) fn deadline_ms(&self) -> Option<u64> {
        self.expiry.map(|e| e.deadline_ms)
    }

    /// Whether the key's deadline has passed at `now_ms` (a deadline equal to now has passed).
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.expiry.is_some_and(|e| e.deadline_ms <= now_ms)
    }

    /// Engine-counted size of this entry.
    pub(crate) fn bytes(&self) -> u64 {
        entry_bytes(self.key.len(), self.value.len())
    }
}

/// The dense table with its index and volatile set.
#[derive(Debug)]
pub(crate) struct Table {
    entries: Vec<Entry>,
    index: HashMap<Bytes, usize, SeededState>,
    /// Positions (in `entries`) of the entries that have a deadline.
    volatile: Vec<usize>,
    used_bytes: u64,
    volatile_bytes: u64,
}

impl Table {
    /// An empty table whose index is keyed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            entries: Vec::new(),
            index: HashMap::with_hasher(SeededState::new(seed)),
            volatile: Vec::new(),
            used_bytes: 0,
            volatile_bytes: 0,
        }
    }

    /// Number of entries (expired ones not yet reclaimed included).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Number of entries with a deadline.
    pub(crate) fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Sum of [`entry_bytes`] over all entries.
    pub(crate) fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Sum of [`entry_bytes`] over entries with a deadline.
    pub(crate) fn volatile_bytes(&self) -> u64 {
        self.volatile_bytes
    }

    /// Position of `key`, expired or not.
    pub(crate) fn find(&self, key: &[u8]) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The entry at position `pos` (`pos < len()`).
    pub(crate) fn get(&self, pos: usize) -> Option<&Entry> {
        self.entries.get(pos)
    }

    /// Position in `entries` of the `slot`-th volatile entry.
    pub(crate) fn volatile_pos(&self, slot: usize) -> Option<usize> {
        self.volatile.get(slot).copied()
    }

    /// Records an access at clock reading `tick`.
    pub(crate) fn touch(&mut self, pos: usize, tick: u64) {
        if let Some(entry) = self.entries.get_mut(pos) {
            entry.last_access = tick;
        }
    }

    /// Adds a key that is not in the table; returns its position.
    pub(crate) fn insert(&mut self, key: Bytes, value: Bytes, deadline_ms: Option<u64>, tick: u64) -> usize {
        let pos = self.entries.len();
        self.used_bytes += entry_bytes(key.len(), value.len());
        self.index.insert(key.clone(), pos);
        self.entries.push(Entry { key, value, last_access: tick, expiry: None });
        self.set_deadline(pos, deadline_ms);
        pos
    }

    /// Replaces the value at `pos`, keeping its deadline.
    pub(crate) fn set_value(&mut self, pos: usize, value: Bytes) {
        let Some(entry) = self.entries.get_mut(pos) else { return };
        let old = entry.bytes();
        entry.value = value;
        let new = entry.bytes();
        self.used_bytes = self.used_bytes - old + new;
        if entry.expiry.is_some() {
            self.volatile_bytes = self.volatile_bytes - old + new;
        }
    }

    /// Sets or clears the deadline at `pos`, moving the entry in or out of the volatile set.
    pub(crate) fn set_deadline(&mut self, pos: usize, deadline_ms: Option<u64>) {
        let Some(entry) = self.entries.get_mut(pos) else { return };
        let bytes = entry.bytes();
        match (entry.expiry.as_mut(), deadline_ms) {
            (Some(expiry), Some(deadline_ms)) => expiry.deadline_ms = deadline_ms,
            (None, Some(deadline_ms)) => {
                entry.expiry = Some(Expiry { deadline_ms, slot: self.volatile.len() });
                self.volatile.push(pos);
                self.volatile_bytes += bytes;
            }
            (Some(expiry), None) => {
                let slot = expiry.slot;
                entry.expiry = None;
                self.volatile_bytes -= bytes;
                self.unlink_volatile(slot);
            }
            (None, None) => {}
        }
    }

    /// Removes every entry.
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
        self.volatile.clear();
        self.used_bytes = 0;
        self.volatile_bytes = 0;
    }

    /// Removes the entry at `pos`; the last entry moves into its place.
    pub(crate) fn remove(&mut self, pos: usize) -> Option<Entry> {
        if pos >= self.entries.len() {
            return None;
        }
        self.set_deadline(pos, None);
        let entry = self.entries.swap_remove(pos);
        self.index.remove(&entry.key[..]);
        self.used_bytes -= entry.bytes();
        if let Some(moved) = self.entries.get(pos) {
            // The former last entry now lives at `pos`: repoint the index and the volatile set.
            if let Some(slot) = self.index.get_mut(&moved.key[..]) {
                *slot = pos;
            }
            if let Some(expiry) = moved.expiry {
                self.volatile[expiry.slot] = pos;
            }
        }
        Some(entry)
    }

    /// Removes volatile `slot` (swap_remove) and repoints the entry that moved into it.
    fn unlink_volatile(&mut self, slot: usize) {
        self.volatile.swap_remove(slot);
        let moved = self.volatile.get(slot).copied();
        if let Some(expiry) = moved.and_then(|pos| self.entries.get_mut(pos)).and_then(|e| e.expiry.as_mut())
        {
            expiry.slot = slot;
        }
    }

    /// Recomputes every derived structure from the entries and compares them (O(n): tests and
    /// fuzzing only). Returns the first broken invariant.
    pub(crate) fn audit(&self) -> Result<(), &'static str> {
        let used: u64 = self.entries.iter().map(Entry::bytes).sum();
        let volatile: u64 = self.entries.iter().filter(|e| e.expiry.is_some()).map(Entry::bytes).sum();
        if used != self.used_bytes {
            return Err("used_bytes differs from the sum over entries");
        }
        if volatile != self.volatile_bytes {
            return Err("volatile_bytes differs from the sum over entries with a deadline");
        }
        if self.index.len() != self.entries.len() {
            return Err("index size differs from the entry count");
        }
        for (pos, entry) in self.entries.iter().enumerate() {
            if self.index.get(&entry.key[..]) != Some(&pos) {
                return Err("index does not point at the entry's position");
            }
            if entry.expiry.is_some_and(|expiry| self.volatile.get(expiry.slot) != Some(&pos)) {
                return Err("an entry's volatile slot is stale");
            }
        }
        if self.entries.iter().filter(|e| e.expiry.is_some()).count() != self.volatile.len() {
            return Err("volatile set size differs from the entries with a deadline");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn insert_remove_keeps_everything_consistent() {
        let mut t = Table::new(1);
        for i in 0..20 {
            let deadline = (i % 3 == 0).then_some(i as u64);
            t.insert(b(&format!("k{i}")), b("v"), deadline, i as u64);
            t.audit().unwrap();
        }
        assert_eq!(t.volatile_len(), 7);
        t.set_deadline(0, None);
        t.set_deadline(1, Some(5));
        t.set_value(1, b("longer value"));
        t.audit().unwrap();
        while t.len() > 0 {
            let pos = (t.len() * 7) % t.len().max(1) / 2;
            t.remove(pos).unwrap();
            t.audit().unwrap();
        }
        assert_eq!((t.used_bytes(), t.volatile_bytes(), t.volatile_len()), (0, 0, 0));
        assert!(t.remove(0).is_none());
    }

    #[test]
    fn removal_moves_only_the_last_entry() {
        let mut t = Table::new(2);
        for k in ["a", "b", "c", "d"] {
            t.insert(b(k), b("v"), None, 0);
        }
        t.remove(1);
        let keys: Vec<_> = (0..t.len()).map(|p| t.get(p).unwrap().key.clone()).collect();
        assert_eq!(keys, vec![b("a"), b("d"), b("c")]);
        assert_eq!(t.find(b"d"), Some(1));
    }
}
