//! Redis-style subscriptions: exact channel names (a literal map) and glob patterns (a list
//! matched on every publish), next to the MQTT-style topic tree.
//!
//! Owns which connections hold which channel or glob, and answers a publish with the receivers
//! of each kind. It must not emit outputs or count per-connection limits (the broker does both,
//! with each connection's own list in `fanout::ConnState`). Globs use the Store's matcher
//! (`*`, `?`, `[...]`, `[^...]`, `\` escapes), compiled once at subscribe time; matching one
//! publish costs one match per distinct pattern, and every connection's glob count is bounded
//! by [`MAX_GLOBS_PER_CONN`].

use std::collections::{BTreeMap, BTreeSet};

use crate::glob::{Glob, PatternTooLong};
use crate::ids::ConnId;

/// Most glob subscriptions one connection may hold (on top of the overall subscription limit),
/// so the per-publish scan of patterns stays bounded by what each client asked for.
pub const MAX_GLOBS_PER_CONN: usize = 1024;

#[derive(Debug)]
struct GlobSub {
    glob: Glob,
    conns: BTreeSet<ConnId>,
}

/// Exact-channel and glob subscriptions of every connection.
#[derive(Debug, Default)]
pub(crate) struct Channels {
    exact: BTreeMap<Box<str>, BTreeSet<ConnId>>,
    globs: BTreeMap<Box<str>, GlobSub>,
}

impl Channels {
    /// Adds `conn` to the exact channel `name`.
    pub fn add_exact(&mut self, name: &str, conn: ConnId) {
        self.exact.entry(Box::from(name)).or_default().insert(conn);
    }

    /// Removes `conn` from the exact channel `name`.
    pub fn remove_exact(&mut self, name: &str, conn: ConnId) {
        if let Some(conns) = self.exact.get_mut(name) {
            conns.remove(&conn);
            if conns.is_empty() {
                self.exact.remove(name);
            }
        }
    }

    /// Adds `conn` to the glob `pattern`.
    ///
    /// # Errors
    /// The pattern is longer than the matcher accepts (nothing changes).
    pub fn add_glob(&mut self, pattern: &str, conn: ConnId) -> Result<(), PatternTooLong> {
        if let Some(sub) = self.globs.get_mut(pattern) {
            sub.conns.insert(conn);
            return Ok(());
        }
        let glob = Glob::compile(pattern)?;
        self.globs.insert(Box::from(pattern), GlobSub { glob, conns: BTreeSet::from([conn]) });
        Ok(())
    }

    /// Removes `conn` from the glob `pattern`.
    pub fn remove_glob(&mut self, pattern: &str, conn: ConnId) {
        if let Some(sub) = self.globs.get_mut(pattern) {
            sub.conns.remove(&conn);
            if sub.conns.is_empty() {
                self.globs.remove(pattern);
            }
        }
    }

    /// Whether a publish to `topic` may have a receiver here (cheap; no glob is matched).
    pub fn may_receive(&self, topic: &str) -> bool {
        !self.globs.is_empty() || self.exact.contains_key(topic)
    }

    /// Appends the subscribers of the exact channel `topic`, in `ConnId` order.
    pub fn exact_receivers(&self, topic: &str, out: &mut Vec<ConnId>) {
        if let Some(conns) = self.exact.get(topic) {
            out.extend(conns.iter().copied());
        }
    }

    /// Every glob matching `topic` with its subscribers, in pattern order.
    pub fn glob_receivers(&self, topic: &str) -> Vec<(&str, Vec<ConnId>)> {
        self.globs
            .iter()
            .filter(|(_, sub)| sub.glob.matches(topic.as_bytes()))
            .map(|(pattern, sub)| (&**pattern, sub.conns.iter().copied().collect()))
            .collect()
    }

    /// Distinct exact channels and glob patterns.
    #[cfg(test)]
    pub fn len(&self) -> (usize, usize) {
        (self.exact.len(), self.globs.len())
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn exact_and_glob_receivers() {
        let mut c = Channels::default();
        c.add_exact("a/b", ConnId(2));
        c.add_exact("a/b", ConnId(1));
        c.add_glob("a/*", ConnId(3)).unwrap();
        c.add_glob("h?llo", ConnId(3)).unwrap();
        c.add_glob("[ab]/b", ConnId(1)).unwrap();
        let mut exact = Vec::new();
        c.exact_receivers("a/b", &mut exact);
        assert_eq!(exact, [ConnId(1), ConnId(2)]);
        let globs = c.glob_receivers("a/b");
        assert_eq!(globs, vec![("[ab]/b", vec![ConnId(1)]), ("a/*", vec![ConnId(3)])]);
        assert!(c.glob_receivers("hallo").len() == 1 && c.glob_receivers("hllo").is_empty());
        c.remove_exact("a/b", ConnId(1));
        c.remove_exact("a/b", ConnId(2));
        c.remove_glob("a/*", ConnId(3));
        assert_eq!(c.len(), (0, 2));
        assert!(!c.may_receive("x") || c.len().1 > 0);
    }
}
