//! WATCH bookkeeping for the Store's transactions: which connections watch which keys, and which
//! connections have seen a watched key change since they started watching it.
//!
//! Owns only that bookkeeping. The table reports every change of a key here (write, delete,
//! deadline change, expiry, eviction, flush), so no write path can forget to; a change costs one
//! emptiness check while nobody watches anything. Memory is spent only on watched keys, never per
//! stored key. Iteration order never reaches an output: marking connections dirty is
//! order-independent.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use crate::ids::{ConnId, SeededState};

/// Most keys one connection may watch at once (a WATCH beyond it is refused whole).
pub const WATCHED_KEYS_MAX: usize = 1024;

/// The watches of every connection.
#[derive(Debug)]
pub(crate) struct Watches {
    /// Watched key → the connections watching it.
    by_key: HashMap<Bytes, Vec<ConnId>, SeededState>,
    /// Connection → the keys it watches.
    by_conn: HashMap<ConnId, Vec<Bytes>, SeededState>,
    /// Connections that saw one of their watched keys change.
    dirty: HashSet<ConnId, SeededState>,
}

impl Watches {
    /// No watches; maps keyed by `hasher`.
    pub(crate) fn new(hasher: SeededState) -> Self {
        Self {
            by_key: HashMap::with_hasher(hasher),
            by_conn: HashMap::with_hasher(hasher),
            dirty: HashSet::with_hasher(hasher),
        }
    }

    /// Nobody watches anything (the fast path of every change).
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// `key` changed: every connection watching it becomes dirty.
    pub(crate) fn touch(&mut self, key: &[u8]) {
        if let Some(conns) = self.by_key.get(key) {
            self.dirty.extend(conns.iter().copied());
        }
    }

    /// Every watched key for which `exists` holds changed (a flush).
    pub(crate) fn touch_where(&mut self, exists: impl Fn(&[u8]) -> bool) {
        for (key, conns) in &self.by_key {
            if exists(key) {
                self.dirty.extend(conns.iter().copied());
            }
        }
    }

    /// Keys `conn` watches.
    pub(crate) fn keys_of(&self, conn: ConnId) -> Vec<Bytes> {
        self.by_conn.get(&conn).cloned().unwrap_or_default()
    }

    /// `conn` starts watching `keys` (already watched ones are kept once).
    ///
    /// # Errors
    /// The connection would watch more than [`WATCHED_KEYS_MAX`] keys; nothing is added.
    pub(crate) fn watch(&mut self, conn: ConnId, keys: &[Bytes]) -> Result<(), usize> {
        let mine = self.by_conn.get(&conn).map_or(&[][..], Vec::as_slice);
        let mut new: Vec<&Bytes> = Vec::new();
        for key in keys {
            if !mine.contains(key) && !new.contains(&key) {
                new.push(key);
            }
        }
        if mine.len() + new.len() > WATCHED_KEYS_MAX {
            return Err(WATCHED_KEYS_MAX);
        }
        if new.is_empty() {
            return Ok(());
        }
        let mine = self.by_conn.entry(conn).or_default();
        for key in new {
            // Copies: request bytes are slices of a connection's read buffer.
            let key = Bytes::copy_from_slice(key);
            mine.push(key.clone());
            self.by_key.entry(key).or_default().push(conn);
        }
        Ok(())
    }

    /// `conn` watches nothing any more; `true` when it had seen a watched key change.
    pub(crate) fn unwatch(&mut self, conn: ConnId) -> bool {
        for key in self.by_conn.remove(&conn).unwrap_or_default() {
            if let Some(conns) = self.by_key.get_mut(&key) {
                conns.retain(|c| *c != conn);
                if conns.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        self.dirty.remove(&conn)
    }

    /// Keys watched, over all connections (for tests and audits).
    #[cfg(test)]
    pub(crate) fn watched_keys_len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<Bytes> {
        names.iter().map(|n| Bytes::copy_from_slice(n.as_bytes())).collect()
    }

    #[test]
    fn a_change_dirties_only_the_watchers_of_that_key() {
        let mut w = Watches::new(SeededState::new(1));
        assert!(w.is_empty());
        w.watch(ConnId(1), &keys(&["a", "b", "a"])).unwrap();
        w.watch(ConnId(2), &keys(&["b"])).unwrap();
        assert_eq!(w.watched_keys_len(), 2);
        w.touch(b"a");
        w.touch(b"zzz");
        assert!(!w.unwatch(ConnId(2)), "2 does not watch a");
        assert!(w.unwatch(ConnId(1)));
        assert!(w.is_empty());
        assert!(!w.unwatch(ConnId(1)), "unwatch forgets dirtiness");
    }

    #[test]
    fn flush_touches_only_existing_keys_and_the_bound_holds() {
        let mut w = Watches::new(SeededState::new(2));
        w.watch(ConnId(1), &keys(&["here"])).unwrap();
        w.watch(ConnId(2), &keys(&["gone"])).unwrap();
        w.touch_where(|k| k == b"here");
        assert!(w.unwatch(ConnId(1)));
        assert!(!w.unwatch(ConnId(2)));
        let many: Vec<Bytes> = (0..=WATCHED_KEYS_MAX).map(|i| Bytes::from(i.to_string())).collect();
        assert_eq!(w.watch(ConnId(3), &many), Err(WATCHED_KEYS_MAX));
        assert!(w.is_empty(), "a refused WATCH adds nothing");
        assert_eq!(w.watch(ConnId(3), &many[1..]), Ok(()));
    }
}
