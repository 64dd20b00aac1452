//! Fuzzes the Pub/Sub topic and pattern parser and the subscription tree.
//!
//! Strings are built from a small alphabet of levels (`a`, `b`, empty, `+`, `#`, `a#`, `$share`)
//! so patterns and topics collide often, or taken raw. Checked:
//! - the validators and `parse_subscription` never panic, and every error has a text;
//! - a valid topic has no wildcard, is also a valid pattern and matches itself;
//! - a valid shared subscription's filter is a valid pattern;
//! - the tree's matches equal the reference matcher's for every valid topic, before and after
//!   removing a subset of the patterns;
//! - removing every pattern leaves an empty, fully pruned tree.
#![no_main]

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nexo_engine::pubsub::TopicTree;
use nexo_engine::pubsub::topic::{
    Subscription, TopicLimits, matches, parse_subscription, validate_pattern, validate_topic,
};

#[derive(Debug, Arbitrary)]
enum Level {
    A,
    B,
    Empty,
    Plus,
    Hash,
    AHash,
    Share,
}

#[derive(Debug, Arbitrary)]
enum Text {
    Levels(Vec<Level>),
    Raw(String),
}

impl Text {
    fn build(&self) -> String {
        match self {
            Self::Raw(s) => s.clone(),
            Self::Levels(levels) => levels
                .iter()
                .map(|l| match l {
                    Level::A => "a",
                    Level::B => "b",
                    Level::Empty => "",
                    Level::Plus => "+",
                    Level::Hash => "#",
                    Level::AHash => "a#",
                    Level::Share => "$share",
                })
                .collect::<Vec<_>>()
                .join("/"),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    max_levels: u8,
    patterns: Vec<Text>,
    topics: Vec<Text>,
    removed: Vec<bool>,
}

fn check(
    tree: &TopicTree<usize>,
    patterns: &[(usize, String)],
    topics: &[String],
    live: impl Fn(usize) -> bool,
) {
    for topic in topics {
        let want: BTreeSet<usize> =
            patterns.iter().filter(|(k, p)| live(*k) && matches(p, topic)).map(|(k, _)| *k).collect();
        assert_eq!(tree.matching(topic), want, "topic {topic:?} patterns {patterns:?}");
    }
}

fuzz_target!(|input: Input| {
    let limits = TopicLimits { max_bytes: 1024, max_levels: usize::from(input.max_levels % 40) + 1 };
    let mut tree = TopicTree::new();
    let mut patterns = Vec::new();
    for (key, text) in input.patterns.iter().take(64).enumerate() {
        let pattern = text.build();
        match parse_subscription(&pattern, limits) {
            Ok(Subscription::Shared { filter, group }) => {
                assert!(!group.is_empty() && !group.contains(['/', '+', '#']));
                assert!(validate_pattern(filter, limits).is_ok());
            }
            Ok(Subscription::Normal(p)) => assert_eq!(p, pattern),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        match validate_pattern(&pattern, limits) {
            Ok(()) => {
                assert!(tree.insert(&pattern, key));
                patterns.push((key, pattern));
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let mut topics = Vec::new();
    for text in input.topics.iter().take(64) {
        let topic = text.build();
        match validate_topic(&topic, limits) {
            Ok(()) => {
                assert!(!topic.contains(['+', '#']));
                assert!(validate_pattern(&topic, limits).is_ok());
                assert!(matches(&topic, &topic));
                topics.push(topic);
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    assert_eq!(tree.len(), patterns.len());
    check(&tree, &patterns, &topics, |_| true);
    let removed = |k: usize| input.removed.get(k).copied().unwrap_or(false);
    for (key, pattern) in &patterns {
        if removed(*key) {
            assert!(tree.remove(pattern, *key));
        }
    }
    check(&tree, &patterns, &topics, |k| !removed(k));
    for (key, pattern) in &patterns {
        tree.remove(pattern, *key);
    }
    assert!(tree.is_empty());
    assert_eq!(tree.node_count(), 1);
});
