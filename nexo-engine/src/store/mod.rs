//! The Store: in-memory keys with TTLs, counters and a memory limit with approximate LRU eviction.
//!
//! This module owns the Store broker ([`Store`]): its keys, their deadlines, its memory accounting
//! and its counters. Like every broker it is sans-IO: it never reads a clock (time arrives as
//! [`Now`]), never draws OS randomness (sampling uses the [`SeededRng`] built from the seed given to
//! [`Store::new`]) and keeps no per-connection state. It must not iterate a hash map where the order
//! could reach an output: SCAN, sampling and sweeps walk the dense entry vector.
//!
//! Layout: `table` (dense entries + index + volatile set, memory accounting), `commands` (one
//! function per request), `evict` (eviction and the active expiry sweep), `walk` (KEYS and SCAN,
//! spread over turns by a step budget), `view` (the dashboard's key pages), `watch` and `tx`
//! (WATCH bookkeeping and EXEC). Patterns are
//! compiled by the shared `crate::glob`.
//!
//! # Semantics
//!
//! * **SET** stores an owned copy of key and value (request bytes are slices of a connection's read
//!   buffer and must not be pinned) and replies `OK`. Its expiry: `persist: true` → none (wins);
//!   `ttl: n` with `n > 0` → `n` seconds; `ttl` missing or `0` → [`StoreConfig::default_ttl_ms`]
//!   (`None` = never expires). A SET replaces any previous value and deadline.
//! * **GET** → `DATA` (the stored bytes) or `NULL` when missing or expired. **DEL** → `OK` always.
//! * **Expiry is exact on read**: a key whose deadline is `<= now.mono_ms` is missing for every
//!   command and is removed as soon as a command touches it. In addition an **active sweep**
//!   reclaims expired keys nobody reads: while keys with a deadline exist, [`Broker::poll_timeout`]
//!   asks for a wake-up every [`SWEEP_INTERVAL_MS`]; [`Broker::handle_timeout`] then samples
//!   [`ACTIVE_EXPIRE_SAMPLES`] keys with a deadline (all of them when there are fewer), removes the
//!   expired ones, and repeats while more than a quarter of a round had expired, for at most
//!   [`ACTIVE_EXPIRE_MAX_ROUNDS`] rounds; when it stops on that bound the next sweep comes after
//!   [`SWEEP_BACKLOG_INTERVAL_MS`] instead. Each removal counts in [`StoreStats::expired_keys`].
//! * **Memory**: used memory is the sum over entries of key length + value length +
//!   [`ENTRY_OVERHEAD_BYTES`]. Before a write that grows it past
//!   [`StoreConfig::max_memory_bytes`], keys are evicted until the write fits: each eviction draws
//!   [`EVICTION_SAMPLES`] candidates with the seeded generator (from all keys for `allkeys-lru`,
//!   from keys with a deadline for `volatile-lru`) and evicts the least recently accessed. Keys the
//!   write itself targets are never evicted for it. If the write cannot fit even after evicting
//!   every candidate (`noeviction`, no keys with a deadline, or one entry larger than the limit),
//!   the reply is `OOM: store memory limit reached` and nothing changes, not even an eviction.
//!   Every command that reads or writes a live key updates its last access (SCAN does not).
//! * **Keys** are at most [`MAX_KEY_BYTES`] bytes (every key-taking command answers
//!   `Invalid key: longer than 65536 bytes` otherwise); the empty key is allowed, as in Redis.
//!
//! Extensions (wire layouts in the `StoreRequest` docs):
//! * **SETNX** → `Flag(true)` when it stored the value (same options as SET), `Flag(false)` when a
//!   live key existed (left untouched).
//! * **INCRBY** treats the value as ASCII decimal `i64` as Redis does (optional `-`, no `+`, no
//!   spaces, no leading zeros); a missing key starts at 0 and gets no deadline, an existing key keeps
//!   its deadline. Not an integer → `ERR value is not an integer or out of range`; a result past
//!   an `i64` → `ERR increment or decrement would overflow` (Redis's texts).
//!   Reply `Int(new value)`.
//! * **EXPIRE** `ttl_ms` → `Flag(true)` when the key exists (a `ttl_ms` of 0 deletes it at once),
//!   else `Flag(false)`. **EXPIRE_EXT** adds Redis 7's conditions (NX: no deadline yet, XX: has
//!   one, GT: later than the current one, LT: earlier; no deadline counts as infinite) and takes
//!   a relative or wall-clock time: `Flag(false)` and no change when a condition fails, else as
//!   EXPIRE (a deadline not in the future deletes the key). **TTL** → `Int(ms left)`, `-1` without deadline, `-2` missing.
//!   **PERSIST** → `Flag(true)` when it removed a deadline.
//! * **MGET** → `Values` in request order. **MSET** applies the options to every pair (a key given
//!   twice keeps its last value); it is all-or-nothing regarding memory: the total is checked first.
//! * **SCAN** `cursor, pattern, count` examines `count` slots per call (`0` → [`SCAN_DEFAULT_COUNT`],
//!   clamped to [`SCAN_MAX_COUNT`]) and stops early rather than return more than
//!   [`SCAN_MAX_REPLY_BYTES`] of keys. The cursor is the number of slots still to visit: entries
//!   are visited from the top position down, and removal moves only the top entry down, so every
//!   key present for the whole scan is returned at least once (possibly more than once). Cursor 0
//!   starts a scan and a returned 0 ends it. Expired keys are not returned. Pattern syntax is in
//!   `crate::glob`; a pattern longer than `glob::MAX_PATTERN_BYTES` is refused with
//!   `ERR pattern too long (…)`.
//! * **KEYS and SCAN never stall other clients**: matching spends at most
//!   [`WALK_STEPS_PER_TURN`] steps per turn over all walks; a walk that has not finished parks
//!   (its connection's later requests wait behind it, answered in order) and resumes at the next
//!   [`Broker::handle_timeout`], which [`Broker::poll_timeout`] asks for at once. Every walk
//!   finishes. KEYS is thus a walk like SCAN, not a snapshot of one instant.
//!
//! * **Transactions** (the state is per connection: the Store's only per-connection state
//!   besides parked walks): **WATCH** records keys for the connection (at most
//!   [`WATCHED_KEYS_MAX`]; an expired key is reclaimed first, so its later removal is not a
//!   change); any change to a watched key afterwards — a write, delete, deadline change, expiry
//!   (also one that passes unseen before EXEC) or eviction, or a flush while it exists — makes
//!   the connection's next **EXEC** answer `NULL` and run nothing. Otherwise EXEC runs its
//!   requests one after another with nothing in between and answers `Replies`, one per request;
//!   a failing request answers its error and the others still run (nothing is undone). KEYS and
//!   SCAN inside EXEC run to the end in that turn. EXEC and **UNWATCH** end the watches, as a
//!   disconnect does.
//!
//! Counters: [`StoreStats::hits`] and [`StoreStats::misses`] count GET and MGET key lookups;
//! [`StoreStats::commands`] counts every request. Given the same seed and the same inputs, the
//! Store produces the same outputs.

mod commands;
mod evict;
mod extended;
mod table;
mod tx;
mod view;
mod walk;
mod watch;

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tx_tests;

use std::collections::VecDeque;
use std::str::FromStr;

use nexo_proto::request::StoreRequest;

use crate::broker::Broker;
use crate::ids::{ConnId, SeededRng, SeededState};
use crate::output::Output;
use crate::time::Now;

use self::table::Table;
use self::walk::Walks;

pub use self::extended::KEYS_MAX_REPLY_BYTES;
pub use self::view::{KEY_PAGE_MAX, KEY_PAGE_MAX_EXAMINED, KeyPage, KeyView, VALUE_HEAD_BYTES};
pub use self::walk::WALK_STEPS_PER_TURN;
pub use self::watch::WATCHED_KEYS_MAX;

/// Fixed bytes counted per entry on top of its key and value: what one key costs the process
/// beyond its payload (64-bit target, glibc malloc; the layout is described in `table`):
/// * 40 for the entry in the dense vector (buffer handle, 32-bit access clock, 32-bit
///   volatile-set slot);
/// * about 8 for the index: 5 per bucket (a 32-bit position and a control byte) at a load
///   between 44 % and 88 %;
/// * about 16 for the one heap buffer holding key and value: a one-byte key length (five bytes
///   for keys of 255 bytes or more), the allocator's 8-byte header and on average 7.5 of rounding
///   up to a multiple of 16;
/// * 16 in the volatile set (deadline and position) for a key with a deadline, which is every
///   key under the default TTL.
///
/// That is 64 for a key without a deadline — `nexo-bench mem-store` (one million 16-byte keys
/// with 100-byte values, no TTL) measures 179 B of RSS per key, 63 beyond the payload — and 80
/// with one, the figure counted. Not counted: unused capacity of the dense vectors (untouched
/// pages cost no RSS) and the 32-byte shared header a value longer than `table::COPY_VALUE_MAX`
/// (512 bytes) gets once a read hands it out without copying (under 6 % of such a value).
/// Counting a fixed overhead means a flood of tiny keys still hits the limit.
pub const ENTRY_OVERHEAD_BYTES: u64 = 80;

/// Longest accepted key in bytes (64 KiB).
pub const MAX_KEY_BYTES: usize = 65_536;

/// Interval of the active expiry sweep while keys with a deadline exist.
pub const SWEEP_INTERVAL_MS: u64 = 100;

/// Interval of the next sweep when the previous one stopped at its round bound with expired keys
/// still dominating its samples.
pub const SWEEP_BACKLOG_INTERVAL_MS: u64 = 10;

/// Keys with a deadline sampled per sweep round.
pub const ACTIVE_EXPIRE_SAMPLES: usize = 20;

/// Most sweep rounds per [`Broker::handle_timeout`] call (bounds the work of one call).
pub const ACTIVE_EXPIRE_MAX_ROUNDS: usize = 16;

/// Candidates sampled per eviction; the least recently accessed one is evicted.
pub const EVICTION_SAMPLES: usize = 5;

/// Slots examined by a SCAN step whose `count` is 0.
pub const SCAN_DEFAULT_COUNT: usize = 10;

/// Most slots examined by one SCAN step (larger counts are clamped).
pub const SCAN_MAX_COUNT: usize = 1000;

/// A SCAN step stops before its keys exceed this many bytes (it always returns at least one key
/// or examines at least one slot, so a scan always progresses).
pub const SCAN_MAX_REPLY_BYTES: usize = 1 << 20;

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
            other => {
                Err(format!("unknown eviction policy '{other}' (allkeys-lru, volatile-lru, noeviction)"))
            }
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
    /// Largest MGET reply, in payload bytes: a longer one is refused whole with
    /// [`StoreError::ReplyTooLarge`] (the runtimes pass the frame limit, `--max-frame-bytes`).
    pub max_reply_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            default_ttl_ms: Some(3_600_000),
            max_memory_bytes: 1 << 30,
            eviction: EvictionPolicy::AllKeysLru,
            max_reply_bytes: nexo_proto::DEFAULT_MAX_FRAME_BYTES as usize,
        }
    }
}

/// A snapshot of the Store's size and counters (for the dashboard and metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Entries held, including expired ones not reclaimed yet.
    pub keys: u64,
    /// Entries with a deadline.
    pub keys_with_ttl: u64,
    /// Engine-counted memory: key + value + [`ENTRY_OVERHEAD_BYTES`] per entry.
    pub used_memory_bytes: u64,
    /// The configured limit.
    pub max_memory_bytes: u64,
    /// Keys removed to make room for writes.
    pub evicted_keys: u64,
    /// Keys removed because their deadline passed (on access, by the sweep or when sampled for
    /// eviction).
    pub expired_keys: u64,
    /// GET and MGET lookups that found a live key.
    pub hits: u64,
    /// GET and MGET lookups that found nothing.
    pub misses: u64,
    /// Requests handled.
    pub commands: u64,
}

/// Why a Store command failed; `Display` gives the stable ERR text sent to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The write does not fit the memory limit and nothing (more) can be evicted.
    OutOfMemory,
    /// INCRBY on a value that is not an ASCII decimal `i64`.
    NotAnInteger,
    /// INCRBY whose result does not fit an `i64`.
    Overflow,
    /// A key longer than [`MAX_KEY_BYTES`].
    KeyTooLong,
    /// RENAME of a key that does not exist.
    NoSuchKey,
    /// MGET whose values add up to more than [`StoreConfig::max_reply_bytes`]; nothing is read.
    ReplyTooLarge {
        /// The size the reply would have had.
        bytes: usize,
        /// The limit it passed.
        limit: usize,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OutOfMemory => f.write_str("OOM: store memory limit reached"),
            Self::NotAnInteger => f.write_str("ERR value is not an integer or out of range"),
            Self::Overflow => f.write_str("ERR increment or decrement would overflow"),
            Self::KeyTooLong => write!(f, "Invalid key: longer than {MAX_KEY_BYTES} bytes"),
            Self::NoSuchKey => f.write_str("ERR no such key"),
            Self::ReplyTooLarge { bytes, limit } => write!(
                f,
                "ERR reply too large: {bytes} bytes of values exceed the {limit}-byte reply limit; ask for fewer keys"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

/// The Store broker (see the module docs for its semantics).
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    table: Table,
    rng: SeededRng,
    /// Keys the temporary maps of multi-key commands.
    hasher: SeededState,
    /// Access clock: bumped on every access, so "least recently used" has no ties.
    clock: u64,
    /// When the next active sweep is due (meaningful while keys with a deadline exist).
    sweep_due_ms: Option<u64>,
    counters: StoreStats,
    outputs: VecDeque<Output>,
    /// KEYS and SCAN parked until the next turn, and the requests waiting behind them.
    walks: Walks,
}

impl Store {
    /// An empty Store; `seed` drives eviction and sweep sampling and keys the index's hasher.
    pub fn new(config: StoreConfig, seed: u64) -> Self {
        Self {
            config,
            table: Table::new(seed),
            rng: SeededRng::new(seed ^ 0x5354_4F52_4553_4545),
            hasher: SeededState::new(seed.rotate_left(32)),
            clock: 0,
            sweep_due_ms: None,
            counters: StoreStats { max_memory_bytes: config.max_memory_bytes, ..StoreStats::default() },
            outputs: VecDeque::new(),
            walks: Walks::default(),
        }
    }

    /// The settings this Store runs with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// An owned snapshot of sizes and counters.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            keys: self.table.len() as u64,
            keys_with_ttl: self.table.volatile_len() as u64,
            used_memory_bytes: self.table.used_bytes(),
            ..self.counters.clone()
        }
    }

    /// Recomputes the memory accounting and cross-checks the internal index against the entries,
    /// then checks used memory against the limit. O(number of keys): for tests and fuzz targets,
    /// never for a request path.
    ///
    /// # Errors
    /// The first broken invariant, described.
    pub fn audit(&self) -> Result<(), &'static str> {
        self.table.audit()?;
        if self.table.used_bytes() > self.config.max_memory_bytes {
            return Err("used memory exceeds the limit");
        }
        Ok(())
    }

    /// The next access-clock reading.
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

impl Broker for Store {
    type Request = StoreRequest;

    fn handle_request(&mut self, now: Now, conn: ConnId, id: u32, request: StoreRequest) {
        self.counters.commands += 1;
        self.accept_request(now, conn, id, request);
    }

    /// The only per-connection state is parked work (a walk and what waits behind it) and the
    /// keys the connection watches.
    fn handle_disconnect(&mut self, _now: Now, conn: ConnId) {
        self.forget_walks(conn);
        self.table.watches.unwatch(conn);
    }

    fn handle_timeout(&mut self, now: Now) {
        if self.sweep_due_ms.is_some_and(|due| due <= now.mono_ms) {
            self.sweep(now);
        }
        self.resume_walks(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<u64> {
        let sweep = if self.table.volatile_len() == 0 { None } else { self.sweep_due_ms };
        [sweep, self.walks.deadline()].into_iter().flatten().min()
    }
}
