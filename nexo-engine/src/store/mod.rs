//! The Store: in-memory keys with TTLs, counters and a memory limit with LRU eviction.
//!
//! (Implementation in progress: see the foundation issue.)

use std::str::FromStr;

/// What to evict when the memory limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// Evict the least recently used key among all keys (sampled).
    #[default]
    AllKeysLru,
    /// Evict the least recently used key among keys with a TTL (sampled).
    VolatileLru,
    /// Never evict: writes that need memory fail with `OOM: store memory limit reached`.
    NoEviction,
}

impl FromStr for EvictionPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allkeys-lru" => Ok(Self::AllKeysLru),
            "volatile-lru" => Ok(Self::VolatileLru),
            "noeviction" => Ok(Self::NoEviction),
            other => Err(format!("unknown eviction policy '{other}' (allkeys-lru, volatile-lru, noeviction)")),
        }
    }
}

impl std::fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AllKeysLru => "allkeys-lru",
            Self::VolatileLru => "volatile-lru",
            Self::NoEviction => "noeviction",
        })
    }
}

/// Settings of the Store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// TTL applied when SET has no `ttl` (or `0`) and no `persist`; `None` = keys never expire.
    pub default_ttl_ms: Option<u64>,
    /// Memory limit in engine-counted bytes (key + value + per-entry overhead).
    pub max_memory_bytes: u64,
    /// What to do when the limit is reached.
    pub eviction: EvictionPolicy,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { default_ttl_ms: Some(3_600_000), max_memory_bytes: 1 << 30, eviction: EvictionPolicy::AllKeysLru }
    }
}
