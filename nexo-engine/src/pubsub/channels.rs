//! Redis-style subscriptions: exact channel names (a literal map) and glob patterns (indexed by
//! their literal prefix), next to the MQTT-style topic tree.
//!
//! Owns which connections hold which channel or glob, and answers a publish with the receivers
//! of each kind. It must not emit outputs or count per-connection limits (the broker does both,
//! with each connection's own list in `fanout::ConnState`). Globs use the shared matcher
//! (`crate::glob`: `*`, `?`, `[...]`, `[^...]`, `\` escapes), compiled once at subscribe time.
//!
//! What a publish costs: patterns are grouped by literal prefix (the text before their first
//! wildcard), so only the groups whose prefix starts the topic are looked at — one lookup per
//! distinct prefix length no longer than the topic. Each of those patterns is then pre-filtered
//! in constant time (the topic must be long enough and hold every ASCII literal of the pattern)
//! before it is matched, with whichever matcher is cheaper for that pattern and topic
//! (`Glob::matches_short`: the two-pointer one, or the bit-parallel one whose cost does not
//! depend on the pattern's shape).
//! Every connection's glob count is bounded by [`MAX_GLOBS_PER_CONN`], and a pattern (like a
//! topic) by `--max-topic-bytes`.

use std::collections::{BTreeMap, BTreeSet};

use crate::glob::{AsciiSet, Glob, PatternTooLong};
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
    /// Literal prefix → the patterns starting with it, each with its subscribers.
    globs: BTreeMap<Box<str>, BTreeMap<Box<str>, GlobSub>>,
    /// Byte length of each distinct prefix in `globs` (the lengths a publish looks up).
    prefix_lens: BTreeMap<usize, usize>,
    /// Distinct patterns.
    glob_count: usize,
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
        let glob = Glob::compile(pattern)?;
        let prefix = glob.literal_prefix();
        if !self.globs.contains_key(prefix.as_str()) {
            *self.prefix_lens.entry(prefix.len()).or_insert(0) += 1;
        }
        let group = self.globs.entry(prefix.into_boxed_str()).or_default();
        if let Some(sub) = group.get_mut(pattern) {
            sub.conns.insert(conn);
        } else {
            group.insert(Box::from(pattern), GlobSub { glob, conns: BTreeSet::from([conn]) });
            self.glob_count += 1;
        }
        Ok(())
    }

    /// Removes `conn` from the glob `pattern`.
    pub fn remove_glob(&mut self, pattern: &str, conn: ConnId) {
        let Ok(glob) = Glob::compile(pattern) else { return };
        let prefix = glob.literal_prefix();
        let Some(group) = self.globs.get_mut(prefix.as_str()) else { return };
        let Some(sub) = group.get_mut(pattern) else { return };
        sub.conns.remove(&conn);
        if !sub.conns.is_empty() {
            return;
        }
        group.remove(pattern);
        self.glob_count -= 1;
        if group.is_empty() {
            self.globs.remove(prefix.as_str());
            if let Some(count) = self.prefix_lens.get_mut(&prefix.len()) {
                *count -= 1;
                if *count == 0 {
                    self.prefix_lens.remove(&prefix.len());
                }
            }
        }
    }

    /// Whether a publish to `topic` may have a receiver here (cheap; no glob is matched).
    pub fn may_receive(&self, topic: &str) -> bool {
        self.glob_count > 0 || self.exact.contains_key(topic)
    }

    /// Appends the subscribers of the exact channel `topic`, in `ConnId` order.
    pub fn exact_receivers(&self, topic: &str, out: &mut Vec<ConnId>) {
        if let Some(conns) = self.exact.get(topic) {
            out.extend(conns.iter().copied());
        }
    }

    /// Every glob matching `topic` with its subscribers, in pattern order.
    pub fn glob_receivers(&self, topic: &str) -> Vec<(&str, Vec<ConnId>)> {
        let set = AsciiSet::of(topic.as_bytes());
        let distinct = if topic.is_ascii() { set.len() } else { topic.len() };
        let mut found: Vec<(&str, Vec<ConnId>)> = self
            .prefix_lens
            .range(..=topic.len())
            .filter_map(|(&len, _)| self.globs.get(topic.get(..len)?))
            .flat_map(|group| group.iter())
            .filter(|(_, sub)| {
                sub.glob.may_match(set, topic.len()) && sub.glob.matches_short(topic.as_bytes(), distinct)
            })
            .map(|(pattern, sub)| (&**pattern, sub.conns.iter().copied().collect()))
            .collect();
        found.sort_unstable_by(|a, b| a.0.cmp(b.0));
        found
    }

    /// Distinct exact channels and glob patterns.
    #[cfg(test)]
    pub fn len(&self) -> (usize, usize) {
        (self.exact.len(), self.glob_count)
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

    #[test]
    fn the_prefix_index_finds_exactly_what_a_scan_would() {
        let patterns =
            ["news.*", "news.sport.*", "n*", "*", "*.sport.*", "né?s", "news.sport.x", "[n]ews*", "x*"];
        let mut c = Channels::default();
        for (i, p) in patterns.iter().enumerate() {
            c.add_glob(p, ConnId(i as u64)).unwrap();
        }
        for topic in ["news.sport.x", "news.", "n", "", "nés!", "néws", "xyz", "other.sport.y"] {
            let got: Vec<&str> = c.glob_receivers(topic).into_iter().map(|(p, _)| p).collect();
            let mut want: Vec<&str> = patterns
                .iter()
                .copied()
                .filter(|p| Glob::compile(p).unwrap().matches(topic.as_bytes()))
                .collect();
            want.sort_unstable();
            assert_eq!(got, want, "topic {topic:?}");
        }
        for (i, p) in patterns.iter().enumerate() {
            c.remove_glob(p, ConnId(i as u64));
        }
        assert_eq!(c.len(), (0, 0));
        assert!(c.globs.is_empty() && c.prefix_lens.is_empty(), "nothing left behind");
        assert!(!c.may_receive("news.sport.x"));
    }
}
