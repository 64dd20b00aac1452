//! Retained messages: at most one per concrete topic, kept in memory within count and byte limits.
//!
//! Owns a trie of concrete topics (sorted levels) holding each topic's pre-encoded push frame and
//! expiry, so a new subscription finds its retained messages with one walk of its pattern rather
//! than a scan. It must not decide TTLs, keep timers or emit outputs: the broker computes
//! deadlines, owns the timer table, journals changes and delivers what
//! [`RetainedStore::matching`] returns.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

/// Engine-counted bookkeeping bytes per retained message, on top of its frame and topic.
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 64;

/// One retained message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Retained {
    /// The concrete topic.
    pub topic: Arc<str>,
    /// The whole push frame, owned (encoding copied the payload out of the read buffer).
    pub frame: Bytes,
    /// Monotonic deadline; `None` = never expires.
    pub expires_at_ms: Option<u64>,
    /// The same deadline in wall-clock ms (what the journal stores); 0 = never expires.
    pub expires_wall_ms: u64,
    /// Length of the payload, which is the tail of `frame`.
    pub payload_len: usize,
}

impl Retained {
    /// The message body (the last `payload_len` bytes of the frame).
    pub fn payload(&self) -> &[u8] {
        self.frame.get(self.frame.len().saturating_sub(self.payload_len)..).unwrap_or_default()
    }

    /// Bytes counted against the retained memory limit.
    pub fn cost(&self) -> usize {
        cost(&self.topic, self.frame.len())
    }

    /// `false` once the deadline is reached.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_none_or(|at| now_ms < at)
    }
}

/// Bytes a retained message on `topic` with a frame of `frame_len` bytes counts for.
pub(crate) fn cost(topic: &str, frame_len: usize) -> usize {
    topic.len() + frame_len + ENTRY_OVERHEAD_BYTES
}

/// A retained publish that does not fit. `Display` is the ERR text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetainedError {
    /// `Too many retained messages (max N)`.
    TooMany { max: usize },
    /// `Retained messages over the memory limit (max N bytes)`.
    TooLarge { max: usize },
}

impl fmt::Display for RetainedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooMany { max } => write!(f, "Too many retained messages (max {max})"),
            Self::TooLarge { max } => write!(f, "Retained messages over the memory limit (max {max} bytes)"),
        }
    }
}

#[derive(Debug, Default)]
struct Node {
    msg: Option<Retained>,
    children: BTreeMap<Box<str>, Node>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.msg.is_none() && self.children.is_empty()
    }

    /// This node's message and everything below it, in pre-order (recursion bounded by depth).
    fn collect_all(&self, now_ms: u64, out: &mut Vec<Retained>, expired_too: bool) {
        if let Some(msg) = self.msg.as_ref().filter(|m| expired_too || m.is_live(now_ms)) {
            out.push(msg.clone());
        }
        for child in self.children.values() {
            child.collect_all(now_ms, out, expired_too);
        }
    }

    fn collect_matching(&self, pattern: &[&str], now_ms: u64, out: &mut Vec<Retained>) {
        match pattern.split_first() {
            None => {
                if let Some(msg) = self.msg.as_ref().filter(|m| m.is_live(now_ms)) {
                    out.push(msg.clone());
                }
            }
            Some((&"#", _)) => self.collect_all(now_ms, out, false),
            Some((&"+", rest)) => {
                for child in self.children.values() {
                    child.collect_matching(rest, now_ms, out);
                }
            }
            Some((literal, rest)) => {
                if let Some(child) = self.children.get(*literal) {
                    child.collect_matching(rest, now_ms, out);
                }
            }
        }
    }
}

/// All retained messages, by topic.
#[derive(Debug, Default)]
pub(crate) struct RetainedStore {
    root: Node,
    count: usize,
    bytes: usize,
}

impl RetainedStore {
    /// The retained message of `topic`, expired or not.
    pub fn get(&self, topic: &str) -> Option<&Retained> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.msg.as_ref()
    }

    /// Whether a message of `frame_len` bytes may be retained on `topic` within the limits.
    pub fn check_room(
        &self,
        topic: &str,
        frame_len: usize,
        max_count: usize,
        max_bytes: usize,
    ) -> Result<(), RetainedError> {
        let old = self.get(topic);
        if old.is_none() && self.count >= max_count {
            return Err(RetainedError::TooMany { max: max_count });
        }
        let after = self.bytes - old.map_or(0, Retained::cost) + cost(topic, frame_len);
        if after > max_bytes {
            return Err(RetainedError::TooLarge { max: max_bytes });
        }
        Ok(())
    }

    /// Stores `msg` as its topic's retained message; returns the one it replaces.
    pub fn insert(&mut self, msg: Retained) -> Option<Retained> {
        let mut node = &mut self.root;
        for level in msg.topic.split('/') {
            node = node.children.entry(Box::from(level)).or_default();
        }
        self.bytes += msg.cost();
        let old = node.msg.replace(msg);
        match &old {
            Some(old) => self.bytes -= old.cost(),
            None => self.count += 1,
        }
        old
    }

    /// Removes `topic`'s retained message and prunes the emptied nodes.
    pub fn remove(&mut self, topic: &str) -> Option<Retained> {
        let levels: Vec<&str> = topic.split('/').collect();
        let old = remove_in(&mut self.root, &levels)?;
        self.count -= 1;
        self.bytes -= old.cost();
        Some(old)
    }

    /// The live retained messages whose topic matches the valid `pattern`, ordered by topic
    /// levels (a topic before the topics below it, siblings by name).
    pub fn matching(&self, pattern: &str, now_ms: u64) -> Vec<Retained> {
        let levels: Vec<&str> = pattern.split('/').collect();
        let mut out = Vec::new();
        self.root.collect_matching(&levels, now_ms, &mut out);
        out
    }

    /// Every retained message, expired or not, in the order of [`RetainedStore::matching`].
    pub fn all(&self) -> Vec<Retained> {
        let mut out = Vec::with_capacity(self.count);
        self.root.collect_all(u64::MAX, &mut out, true);
        out
    }

    /// Number of retained messages (expired ones count until removed).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Engine-counted bytes of retained messages.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// `true` when the trie holds only its root (pruning works).
    #[cfg(test)]
    pub fn is_pruned_empty(&self) -> bool {
        self.root.is_empty()
    }
}

fn remove_in(node: &mut Node, levels: &[&str]) -> Option<Retained> {
    let Some((first, rest)) = levels.split_first() else {
        return node.msg.take();
    };
    let child = node.children.get_mut(*first)?;
    let old = remove_in(child, rest);
    if child.is_empty() {
        node.children.remove(*first);
    }
    old
}

#[cfg(test)]
mod unit {
    use super::*;

    fn msg(topic: &str, expires_at_ms: Option<u64>) -> Retained {
        let frame = Bytes::from(topic.to_owned());
        let expires_wall_ms = expires_at_ms.unwrap_or(0);
        Retained { topic: topic.into(), payload_len: frame.len(), frame, expires_at_ms, expires_wall_ms }
    }

    fn topics(store: &RetainedStore, pattern: &str, now: u64) -> Vec<String> {
        store.matching(pattern, now).iter().map(|m| m.topic.to_string()).collect()
    }

    #[test]
    fn walk_order_expiry_and_pruning() {
        let mut store = RetainedStore::default();
        for t in ["a!", "a/b", "a", "b", "a//c", "a/b/c"] {
            assert!(store.insert(msg(t, None)).is_none());
        }
        store.insert(msg("x", Some(10)));
        assert_eq!(topics(&store, "#", 0), ["a", "a//c", "a/b", "a/b/c", "a!", "b", "x"]);
        assert_eq!(topics(&store, "#", 10), ["a", "a//c", "a/b", "a/b/c", "a!", "b"]);
        assert_eq!(topics(&store, "a/#", 0), ["a", "a//c", "a/b", "a/b/c"]);
        assert_eq!(topics(&store, "a/+", 0), ["a/b"]);
        assert_eq!(topics(&store, "+/+/c", 0), ["a//c", "a/b/c"]);
        assert_eq!(topics(&store, "+", 0), ["a", "a!", "b", "x"]);
        let all: Vec<_> = store.all().iter().map(|m| m.topic.to_string()).collect();
        assert_eq!(all, ["a", "a//c", "a/b", "a/b/c", "a!", "b", "x"], "expired ones too");
        assert_eq!(store.get("a/b").unwrap().payload(), b"a/b");
        assert_eq!(store.len(), 7);
        let before = store.bytes();
        let old = store.insert(msg("a", Some(5))).unwrap();
        assert_eq!(old.expires_at_ms, None);
        assert_eq!((store.len(), store.bytes()), (7, before));
        for t in ["a!", "a/b", "a", "b", "a//c", "a/b/c", "x"] {
            assert!(store.remove(t).is_some(), "{t}");
            assert!(store.remove(t).is_none());
        }
        assert_eq!((store.len(), store.bytes()), (0, 0));
        assert!(store.is_pruned_empty());
    }

    #[test]
    fn limits() {
        let mut store = RetainedStore::default();
        store.insert(msg("a", None));
        assert_eq!(store.check_room("b", 1, 1, 1 << 20), Err(RetainedError::TooMany { max: 1 }));
        assert_eq!(store.check_room("a", 1, 1, 1 << 20), Ok(()));
        let max = store.bytes();
        assert_eq!(store.check_room("a", 1, 1, max), Ok(()));
        assert_eq!(store.check_room("a", 2, 1, max), Err(RetainedError::TooLarge { max }));
        assert_eq!(RetainedError::TooMany { max: 3 }.to_string(), "Too many retained messages (max 3)");
    }
}
