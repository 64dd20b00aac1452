//! The subscription tree: which subscribers' patterns match a published topic.
//!
//! Owns patterns as a trie of levels, with `+` and `#` as dedicated branches, and answers a
//! publish with one walk down the topic's levels (at most two branches per level: the literal
//! child and `+`), never a scan of all patterns. Nodes left without subscribers or children are
//! pruned at once, so memory follows the live subscriptions. It must not validate (callers pass
//! patterns that passed [`super::topic::validate_pattern`]; others give unspecified but
//! panic-free results), deduplicate receivers across patterns or know what a key means.

use std::collections::{BTreeMap, BTreeSet};

use smallvec::SmallVec;

/// A trie of subscription patterns; each pattern holds a set of subscriber keys.
#[derive(Debug, Clone)]
pub struct TopicTree<K> {
    root: Node<K>,
    entries: usize,
}

#[derive(Debug, Clone)]
struct Node<K> {
    /// Literal next levels.
    children: BTreeMap<Box<str>, Node<K>>,
    /// The `+` branch.
    plus: Option<Box<Node<K>>>,
    /// Keys whose pattern ends at this node.
    exact: BTreeSet<K>,
    /// Keys whose pattern is this node's path followed by `#`.
    rest: BTreeSet<K>,
}

impl<K> Default for Node<K> {
    fn default() -> Self {
        Self { children: BTreeMap::new(), plus: None, exact: BTreeSet::new(), rest: BTreeSet::new() }
    }
}

impl<K> Node<K> {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.plus.is_none() && self.exact.is_empty() && self.rest.is_empty()
    }

    fn count_nodes(&self) -> usize {
        1 + self.children.values().map(Node::count_nodes).sum::<usize>()
            + self.plus.as_ref().map_or(0, |p| p.count_nodes())
    }
}

impl<K> Default for TopicTree<K> {
    fn default() -> Self {
        Self { root: Node::default(), entries: 0 }
    }
}

impl<K: Ord + Copy> TopicTree<K> {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` under `pattern`; `false` if it was already there.
    pub fn insert(&mut self, pattern: &str, key: K) -> bool {
        let mut node = &mut self.root;
        for level in pattern.split('/') {
            node = match level {
                "#" => {
                    // `#` is always the last level of a valid pattern.
                    let added = node.rest.insert(key);
                    self.entries += usize::from(added);
                    return added;
                }
                "+" => node.plus.get_or_insert_with(Box::default),
                literal => node.children.entry(Box::from(literal)).or_default(),
            };
        }
        let added = node.exact.insert(key);
        self.entries += usize::from(added);
        added
    }

    /// Removes `key` from `pattern` and prunes the nodes left empty; `false` if it was not there.
    pub fn remove(&mut self, pattern: &str, key: K) -> bool {
        let removed = remove_in(&mut self.root, &mut pattern.split('/'), &key);
        self.entries -= usize::from(removed);
        removed
    }

    /// Appends the key of every pattern matching `topic` to `out`, in walk order. A key
    /// subscribed with several matching patterns appears once per pattern: sort and dedup.
    pub fn collect_matches(&self, topic: &str, out: &mut Vec<K>) {
        let levels: SmallVec<[&str; 16]> = topic.split('/').collect();
        let mut stack: SmallVec<[(&Node<K>, usize); 16]> = SmallVec::new();
        stack.push((&self.root, 0));
        while let Some((node, depth)) = stack.pop() {
            // `path/#` matches `path` itself and everything below it.
            out.extend(node.rest.iter().copied());
            match levels.get(depth) {
                None => out.extend(node.exact.iter().copied()),
                Some(level) => {
                    if let Some(plus) = &node.plus {
                        stack.push((plus, depth + 1));
                    }
                    if let Some(child) = node.children.get(*level) {
                        stack.push((child, depth + 1));
                    }
                }
            }
        }
    }

    /// The distinct keys whose patterns match `topic`, ordered.
    pub fn matching(&self, topic: &str) -> BTreeSet<K> {
        let mut out = Vec::new();
        self.collect_matches(topic, &mut out);
        out.into_iter().collect()
    }

    /// Number of (pattern, key) entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// `true` when nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Number of trie nodes, the root included (1 for an empty tree): proves pruning in tests.
    pub fn node_count(&self) -> usize {
        self.root.count_nodes()
    }
}

/// Recursion depth is the pattern's level count, bounded by validation.
fn remove_in<'a, K: Ord>(node: &mut Node<K>, levels: &mut impl Iterator<Item = &'a str>, key: &K) -> bool {
    let Some(level) = levels.next() else {
        return node.exact.remove(key);
    };
    match level {
        "#" => node.rest.remove(key),
        "+" => {
            let Some(child) = node.plus.as_deref_mut() else {
                return false;
            };
            let removed = remove_in(child, levels, key);
            if child.is_empty() {
                node.plus = None;
            }
            removed
        }
        literal => {
            let Some(child) = node.children.get_mut(literal) else {
                return false;
            };
            let removed = remove_in(child, levels, key);
            if child.is_empty() {
                node.children.remove(literal);
            }
            removed
        }
    }
}

#[cfg(test)]
mod unit {
    use proptest::prelude::*;

    use super::*;
    use crate::pubsub::topic::matches;

    #[test]
    fn edge_cases_and_pruning() {
        let mut tree = TopicTree::new();
        for (key, pattern) in ["a/b", "a/+", "a/#", "#", "+", "/", "+/+", "a//b"].iter().enumerate() {
            assert!(tree.insert(pattern, key));
        }
        assert!(!tree.insert("a/#", 2));
        let got = |t: &TopicTree<usize>, topic| t.matching(topic).into_iter().collect::<Vec<_>>();
        assert_eq!(got(&tree, "a"), vec![2, 3, 4]);
        assert_eq!(got(&tree, "a/b"), vec![0, 1, 2, 3, 6]);
        assert_eq!(got(&tree, "a/"), vec![1, 2, 3, 6]);
        assert_eq!(got(&tree, "/"), vec![3, 5, 6]);
        assert_eq!(got(&tree, "a//b"), vec![2, 3, 7]);
        assert_eq!(tree.len(), 8);
        for (key, pattern) in ["a/b", "a/+", "a/#", "#", "+", "/", "+/+", "a//b"].iter().enumerate() {
            assert!(tree.remove(pattern, key));
            assert!(!tree.remove(pattern, key));
        }
        assert!(tree.is_empty());
        assert_eq!(tree.node_count(), 1);
    }

    fn level() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("a"), Just("b"), Just("")]
    }

    fn topic() -> impl Strategy<Value = String> {
        prop::collection::vec(level(), 1..5).prop_map(|levels| levels.join("/"))
    }

    fn pattern() -> impl Strategy<Value = String> {
        let level = prop_oneof![3 => level(), 2 => Just("+")];
        (prop::collection::vec(level, 0..4), any::<bool>()).prop_filter_map("non-empty", |(mut v, hash)| {
            if hash {
                v.push("#");
            }
            (!v.is_empty()).then(|| v.join("/"))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn tree_agrees_with_reference_matcher(
            patterns in prop::collection::vec(pattern(), 1..12),
            topics in prop::collection::vec(topic(), 1..12),
            removed in prop::collection::vec(any::<bool>(), 12),
        ) {
            let mut tree = TopicTree::new();
            for (key, p) in patterns.iter().enumerate() {
                tree.insert(p, key);
            }
            let check = |tree: &TopicTree<usize>, live: &dyn Fn(usize) -> bool| {
                for t in &topics {
                    let want: BTreeSet<usize> =
                        (0..patterns.len()).filter(|&k| live(k) && matches(&patterns[k], t)).collect();
                    prop_assert_eq!(tree.matching(t), want, "topic {:?} patterns {:?}", t, patterns);
                }
                Ok(())
            };
            check(&tree, &|_| true)?;
            for (key, p) in patterns.iter().enumerate() {
                if removed[key] {
                    prop_assert!(tree.remove(p, key));
                }
            }
            check(&tree, &|k| !removed[k])?;
            for (key, p) in patterns.iter().enumerate() {
                tree.remove(p, key);
            }
            prop_assert!(tree.is_empty());
            prop_assert_eq!(tree.node_count(), 1);
        }
    }
}
