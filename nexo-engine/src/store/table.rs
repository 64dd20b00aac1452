//! The Store's key table: a dense `Vec` of entries, a hash index from key to position, and a
//! dense set of the positions and deadlines of keys that carry one ("volatile" keys).
//!
//! This module owns the data layout and the memory accounting (`used_bytes`, `volatile_bytes`),
//! and keeps the three structures consistent on every insert, update and removal. It must not
//! decide anything: no expiry, eviction or command semantics live here, and it never iterates the
//! hash index (only the dense vectors, whose order is deterministic). Every change of a key
//! (insert, new value, new deadline, removal, clear) is also reported to the table's
//! [`Watches`], so WATCH sees writes, expiries and evictions alike whatever path made them.
//!
//! Layout, chosen for memory per key (see [`ENTRY_OVERHEAD_BYTES`]):
//! * each entry's key and value live in **one** buffer, `[key length][key][value]` (the length is
//!   one byte below 255, else `0xFF` and four little-endian bytes), held as a [`Bytes`] so a read
//!   can hand the value out as a slice of it ([`EntryRef::value_bytes`]);
//! * an [`Entry`] is that buffer handle, a 32-bit access clock and a 32-bit volatile-set slot
//!   (40 bytes on a 64-bit target): no deadline is stored in it, so a key without one pays
//!   nothing for TTL support;
//! * the index is a raw hash table of 32-bit positions (4 bytes and a control byte per bucket)
//!   hashed with the engine's seeded SipHash over the key bytes read from the entry;
//! * the volatile set stores `(deadline, position)` per key with a deadline.
//!
//! Removal is `swap_remove`: the last entry moves into the freed slot. Two consequences the rest of
//! the Store relies on: random sampling is O(1) (pick a position), and an entry only ever moves
//! *down*, from the top position, which is what makes the top-down SCAN cursor complete.

use std::hash::{BuildHasher, DefaultHasher, Hash, Hasher};

use bytes::{Buf, Bytes};
use hashbrown::HashTable;

use crate::ids::SeededState;
use crate::store::ENTRY_OVERHEAD_BYTES;
use crate::store::watch::Watches;

/// Most entries a table holds: positions and volatile slots are stored as `u32`, and `u32::MAX`
/// marks "no volatile slot". (Four billion entries would take hundreds of GiB; writes past it
/// are refused as out of memory.)
pub(crate) const MAX_ENTRIES: usize = u32::MAX as usize;

/// Values up to this many bytes are copied into a read's reply; longer ones are handed out as a
/// slice of the entry's buffer. A slice shares the buffer by reference count, and the first one
/// gives the buffer a 32-byte heap header for good; a copy this small costs about as much as the
/// reference counting and keeps small entries at their counted size.
pub(crate) const COPY_VALUE_MAX: usize = 512;

/// `Entry::volatile` of an entry without a deadline.
const NO_SLOT: u32 = u32::MAX;

/// First byte of a key-length prefix announcing a four-byte length.
const LONG_KEY: u8 = u8::MAX;

/// Engine-counted size of one entry: key, value and the fixed per-entry overhead.
pub(crate) fn entry_bytes(key_len: usize, value_len: usize) -> u64 {
    (key_len as u64).saturating_add(value_len as u64).saturating_add(ENTRY_OVERHEAD_BYTES)
}

/// Bytes of the key-length prefix for a key of `key_len` bytes.
fn prefix_len(key_len: usize) -> usize {
    if key_len < usize::from(LONG_KEY) { 1 } else { 5 }
}

/// One `[key length][key][value]` buffer, `value` given in parts (concatenated), allocated at its
/// exact size so the `Bytes` owns it without a separate shared header.
fn encode(key: &[u8], value: &[&[u8]]) -> Bytes {
    let value_len: usize = value.iter().map(|part| part.len()).sum();
    let mut buf = Vec::with_capacity(prefix_len(key.len()) + key.len() + value_len);
    match u8::try_from(key.len()) {
        Ok(len) if len < LONG_KEY => buf.push(len),
        // Keys are at most 64 KiB (checked by every command), so the length fits in a u32.
        _ => {
            buf.push(LONG_KEY);
            buf.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
        }
    }
    buf.extend_from_slice(key);
    for part in value {
        buf.extend_from_slice(part);
    }
    Bytes::from(buf.into_boxed_slice())
}

/// Where an entry's key starts and ends in its buffer.
fn key_range(data: &[u8]) -> (usize, usize) {
    match data {
        [LONG_KEY, a, b, c, d, ..] => (5, 5 + u32::from_le_bytes([*a, *b, *c, *d]) as usize),
        [len, ..] => (1, 1 + usize::from(*len)),
        [] => (0, 0),
    }
}

/// The seeded SipHash of `key`; `base` is the hasher state after the seed.
fn hash_key(base: &DefaultHasher, key: &[u8]) -> u64 {
    let mut hasher = base.clone();
    key.hash(&mut hasher);
    hasher.finish()
}

/// One stored key (its deadline, if any, lives in the table's volatile set).
#[derive(Debug)]
pub(crate) struct Entry {
    /// `[key length][key][value]` in one allocation.
    data: Bytes,
    /// Low 32 bits of the access clock at the last read or write, for approximate LRU. Eviction
    /// compares ages (current clock minus this, wrapping): exact for keys accessed within the last
    /// 2^32 accesses; an older key may look recent, a small cost for a sampled LRU.
    last_access: u32,
    /// Position in the volatile set, or [`NO_SLOT`].
    volatile: u32,
}

impl Entry {
    fn key(&self) -> &[u8] {
        let (start, end) = key_range(&self.data);
        self.data.get(start..end).unwrap_or_default()
    }

    fn value(&self) -> &[u8] {
        let (_, end) = key_range(&self.data);
        self.data.get(end..).unwrap_or_default()
    }

    fn has_deadline(&self) -> bool {
        self.volatile != NO_SLOT
    }

    fn bytes(&self) -> u64 {
        let (start, end) = key_range(&self.data);
        entry_bytes(end - start, self.data.len() - end)
    }

    /// The value, sharing the buffer (no copy, no allocation).
    pub(crate) fn into_value(mut self) -> Bytes {
        let (_, end) = key_range(&self.data);
        self.data.advance(end.min(self.data.len()));
        self.data
    }
}

/// A read-only view of one entry with its deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryRef<'a> {
    entry: &'a Entry,
    deadline_ms: Option<u64>,
}

impl<'a> EntryRef<'a> {
    /// The key.
    pub(crate) fn key(&self) -> &'a [u8] {
        self.entry.key()
    }

    /// The value.
    pub(crate) fn value(&self) -> &'a [u8] {
        self.entry.value()
    }

    /// The value as a reply payload: a copy up to [`COPY_VALUE_MAX`] bytes, a shared slice of the
    /// entry's buffer beyond.
    pub(crate) fn value_bytes(&self) -> Bytes {
        let (_, end) = key_range(&self.entry.data);
        if self.entry.data.len() - end <= COPY_VALUE_MAX {
            Bytes::copy_from_slice(self.value())
        } else {
            self.entry.data.slice(end..)
        }
    }

    /// Low 32 bits of the access-clock reading of the last read or write.
    pub(crate) fn last_access(&self) -> u32 {
        self.entry.last_access
    }

    /// Monotonic deadline in milliseconds, if the key expires.
    pub(crate) fn deadline_ms(&self) -> Option<u64> {
        self.deadline_ms
    }

    /// Whether the key's deadline has passed at `now_ms` (a deadline equal to now has passed).
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        self.deadline_ms.is_some_and(|deadline| deadline <= now_ms)
    }

    /// Engine-counted size of this entry.
    pub(crate) fn bytes(&self) -> u64 {
        self.entry.bytes()
    }
}

/// A key's deadline and its entry's position.
#[derive(Debug, Clone, Copy)]
struct Volatile {
    deadline_ms: u64,
    pos: u32,
}

/// The dense table with its index and volatile set.
#[derive(Debug)]
pub(crate) struct Table {
    entries: Vec<Entry>,
    /// Positions in `entries`, hashed by the entry's key.
    index: HashTable<u32>,
    /// The seeded SipHash state the index hashes keys with.
    hasher: DefaultHasher,
    /// The entries that have a deadline.
    volatile: Vec<Volatile>,
    used_bytes: u64,
    volatile_bytes: u64,
    /// WATCH's bookkeeping, told of every change made here.
    pub(crate) watches: Watches,
}

impl Table {
    /// An empty table whose index is keyed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            entries: Vec::new(),
            index: HashTable::new(),
            hasher: SeededState::new(seed).build_hasher(),
            volatile: Vec::new(),
            used_bytes: 0,
            volatile_bytes: 0,
            watches: Watches::new(SeededState::new(seed.rotate_left(17))),
        }
    }

    /// Tells the watches that `key` changed (one emptiness check while nobody watches).
    fn changed(watches: &mut Watches, key: &[u8]) {
        if !watches.is_empty() {
            watches.touch(key);
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
        let entries = &self.entries;
        let found = self.index.find(hash_key(&self.hasher, key), |&pos| {
            entries.get(pos as usize).is_some_and(|entry| entry.key() == key)
        });
        found.map(|&pos| pos as usize)
    }

    /// The entry at position `pos` (`pos < len()`).
    pub(crate) fn get(&self, pos: usize) -> Option<EntryRef<'_>> {
        let entry = self.entries.get(pos)?;
        let deadline_ms = self.volatile.get(entry.volatile as usize).map(|v| v.deadline_ms);
        Some(EntryRef { entry, deadline_ms })
    }

    /// Position in `entries` of the `slot`-th volatile entry.
    pub(crate) fn volatile_pos(&self, slot: usize) -> Option<usize> {
        self.volatile.get(slot).map(|v| v.pos as usize)
    }

    /// Records an access at clock reading `tick` (its low 32 bits are kept).
    pub(crate) fn touch(&mut self, pos: usize, tick: u64) {
        if let Some(entry) = self.entries.get_mut(pos) {
            entry.last_access = tick as u32;
        }
    }

    /// Adds a key that is not in the table (and fewer than [`MAX_ENTRIES`] entries); returns its
    /// position.
    pub(crate) fn insert(&mut self, key: &[u8], value: &[u8], deadline_ms: Option<u64>, tick: u64) -> usize {
        debug_assert!(self.entries.len() < MAX_ENTRIES, "the table is full");
        let pos = self.entries.len();
        Self::changed(&mut self.watches, key);
        self.used_bytes += entry_bytes(key.len(), value.len());
        let data = encode(key, &[value]);
        self.entries.push(Entry { data, last_access: tick as u32, volatile: NO_SLOT });
        let Self { entries, index, hasher, .. } = self;
        index.insert_unique(hash_key(hasher, key), pos as u32, |&p| {
            entries.get(p as usize).map_or(0, |entry| hash_key(hasher, entry.key()))
        });
        self.set_deadline(pos, deadline_ms);
        pos
    }

    /// Replaces the value at `pos`, keeping its deadline.
    pub(crate) fn set_value(&mut self, pos: usize, value: &[u8]) {
        self.rebuild(pos, |old| {
            let (start, end) = key_range(&old);
            if old.len() - end != value.len() {
                return encode(&old[start..end], &[value]);
            }
            // Same size and nobody else holds the buffer: overwrite the value in place.
            match old.try_into_mut() {
                Ok(mut buf) => {
                    buf[end..].copy_from_slice(value);
                    buf.freeze()
                }
                Err(shared) => encode(&shared[start..end], &[value]),
            }
        });
    }

    /// Appends `extra` to the value at `pos`, keeping its deadline.
    pub(crate) fn append_value(&mut self, pos: usize, extra: &[u8]) {
        self.rebuild(pos, |old| {
            let (start, end) = key_range(&old);
            encode(&old[start..end], &[&old[end..], extra])
        });
    }

    /// Replaces the buffer at `pos` by `f(old buffer)` (same key) and updates the accounting.
    fn rebuild(&mut self, pos: usize, f: impl FnOnce(Bytes) -> Bytes) {
        let Some(entry) = self.entries.get_mut(pos) else { return };
        Self::changed(&mut self.watches, entry.key());
        let old = entry.bytes();
        entry.data = f(std::mem::take(&mut entry.data));
        let new = entry.bytes();
        self.used_bytes = self.used_bytes - old + new;
        if entry.has_deadline() {
            self.volatile_bytes = self.volatile_bytes - old + new;
        }
    }

    /// Sets or clears the deadline at `pos`, moving the entry in or out of the volatile set.
    pub(crate) fn set_deadline(&mut self, pos: usize, deadline_ms: Option<u64>) {
        let Some(entry) = self.entries.get_mut(pos) else { return };
        let bytes = entry.bytes();
        let slot = entry.volatile;
        if !self.watches.is_empty() && self.volatile.get(slot as usize).map(|v| v.deadline_ms) != deadline_ms
        {
            self.watches.touch(entry.key());
        }
        match (slot != NO_SLOT, deadline_ms) {
            (true, Some(deadline_ms)) => {
                if let Some(v) = self.volatile.get_mut(slot as usize) {
                    v.deadline_ms = deadline_ms;
                }
            }
            (false, Some(deadline_ms)) => {
                entry.volatile = self.volatile.len() as u32;
                self.volatile.push(Volatile { deadline_ms, pos: pos as u32 });
                self.volatile_bytes += bytes;
            }
            (true, None) => {
                entry.volatile = NO_SLOT;
                self.volatile_bytes -= bytes;
                self.unlink_volatile(slot as usize);
            }
            (false, None) => {}
        }
    }

    /// Removes every entry.
    pub(crate) fn clear(&mut self) {
        if !self.watches.is_empty() {
            let Self { watches, index, entries, hasher, .. } = self;
            watches.touch_where(|key| {
                index
                    .find(hash_key(hasher, key), |&p| entries.get(p as usize).is_some_and(|e| e.key() == key))
                    .is_some()
            });
        }
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
        Self::changed(&mut self.watches, entry.key());
        self.unindex(entry.key(), pos);
        self.used_bytes -= entry.bytes();
        if let Some(moved) = self.entries.get(pos) {
            // The former last entry now lives at `pos`: repoint the index and the volatile set.
            let last = self.entries.len() as u32;
            let hash = hash_key(&self.hasher, moved.key());
            if let Some(slot) = self.index.find_mut(hash, |&p| p == last) {
                *slot = pos as u32;
            }
            if let Some(v) = self.volatile.get_mut(moved.volatile as usize) {
                v.pos = pos as u32;
            }
        }
        Some(entry)
    }

    /// Drops the index slot of `key`, which pointed at `pos`.
    fn unindex(&mut self, key: &[u8], pos: usize) {
        let pos = pos as u32;
        if let Ok(slot) = self.index.find_entry(hash_key(&self.hasher, key), |&p| p == pos) {
            slot.remove();
        }
    }

    /// Removes volatile `slot` (swap_remove) and repoints the entry that moved into it.
    fn unlink_volatile(&mut self, slot: usize) {
        self.volatile.swap_remove(slot);
        let moved = self.volatile.get(slot).map(|v| v.pos as usize);
        if let Some(entry) = moved.and_then(|pos| self.entries.get_mut(pos)) {
            entry.volatile = slot as u32;
        }
    }

    /// Recomputes every derived structure from the entries and compares them (O(n): tests and
    /// fuzzing only). Returns the first broken invariant.
    pub(crate) fn audit(&self) -> Result<(), &'static str> {
        let used: u64 = self.entries.iter().map(Entry::bytes).sum();
        let volatile: u64 = self.entries.iter().filter(|e| e.has_deadline()).map(Entry::bytes).sum();
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
            if key_range(&entry.data).1 > entry.data.len() {
                return Err("an entry's key length exceeds its buffer");
            }
            if self.find(entry.key()) != Some(pos) {
                return Err("index does not point at the entry's position");
            }
            if entry.has_deadline()
                && self.volatile.get(entry.volatile as usize).is_none_or(|v| v.pos as usize != pos)
            {
                return Err("an entry's volatile slot is stale");
            }
        }
        if self.entries.iter().filter(|e| e.has_deadline()).count() != self.volatile.len() {
            return Err("volatile set size differs from the entries with a deadline");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_keeps_everything_consistent() {
        let mut t = Table::new(1);
        for i in 0..20 {
            let deadline = (i % 3 == 0).then_some(i as u64);
            t.insert(format!("k{i}").as_bytes(), b"v", deadline, i as u64);
            t.audit().unwrap();
        }
        assert_eq!(t.volatile_len(), 7);
        t.set_deadline(0, None);
        t.set_deadline(1, Some(5));
        t.set_value(1, b"longer value");
        t.append_value(1, b"!");
        t.set_value(2, b"w");
        t.audit().unwrap();
        assert_eq!(t.get(1).unwrap().value(), b"longer value!");
        assert_eq!(t.get(1).unwrap().deadline_ms(), Some(5));
        assert_eq!(t.get(2).unwrap().value(), b"w");
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
            t.insert(k.as_bytes(), b"v", None, 0);
        }
        t.remove(1);
        let keys: Vec<_> = (0..t.len()).map(|p| t.get(p).unwrap().key().to_vec()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"d".to_vec(), b"c".to_vec()]);
        assert_eq!(t.find(b"d"), Some(1));
    }

    #[test]
    fn key_and_value_share_one_buffer_at_any_key_length() {
        let mut t = Table::new(3);
        let long_value = vec![9u8; COPY_VALUE_MAX + 1];
        for key_len in [0, 1, 254, 255, 256, 65_536] {
            let key = vec![b'k'; key_len];
            let pos = t.insert(&key, &long_value, None, 0);
            let entry = t.get(pos).unwrap();
            assert_eq!((entry.key(), entry.value()), (&key[..], &long_value[..]));
            assert_eq!(entry.bytes(), entry_bytes(key_len, long_value.len()));
            assert_eq!(entry.value_bytes(), long_value);
            assert_eq!(t.find(&key), Some(pos));
        }
        t.set_value(0, b"");
        assert_eq!(t.get(0).unwrap().value_bytes(), Bytes::new());
        t.audit().unwrap();
        assert_eq!(t.remove(3).unwrap().into_value(), long_value);
        assert_eq!(t.remove(0).unwrap().into_value(), Bytes::new());
        t.audit().unwrap();
    }

    #[test]
    fn same_size_overwrite_keeps_a_shared_value_intact() {
        let mut t = Table::new(4);
        let value = vec![1u8; COPY_VALUE_MAX + 1];
        let pos = t.insert(b"key", &value, None, 0);
        let handed_out = t.get(pos).unwrap().value_bytes();
        let other = vec![2u8; COPY_VALUE_MAX + 1];
        t.set_value(pos, &other);
        assert_eq!(handed_out, value, "a reply's value never changes under it");
        assert_eq!(t.get(pos).unwrap().value(), &other[..]);
        drop(handed_out);
        t.set_value(pos, &value);
        assert_eq!(t.get(pos).unwrap().value(), &value[..]);
        t.audit().unwrap();
    }
}
