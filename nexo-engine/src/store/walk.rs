//! KEYS and SCAN as walks over the key slots that spend a step budget per turn and, when it runs
//! out, park and resume on the next turn, so one costly pattern never stalls the other clients.
//!
//! This module owns the walks ([`Walk`]), the per-turn budget and the per-connection order of
//! replies while a walk is parked: a connection's later requests wait behind its walk (a queue
//! per connection) and are answered after it, in the order they arrived. Other connections go on
//! being served at once. It must not read a clock: a turn is one [`crate::Broker::handle_timeout`]
//! call, asked for through `poll_timeout` with a deadline already due while work is parked.
//!
//! A walk visits slots from the top down exactly as the SCAN cursor describes (see the `store`
//! module docs), so what it returns keeps SCAN's guarantee: every key present for the whole walk
//! is returned. A key matched over several turns is matched on a copy taken when it was reached;
//! KEYS is therefore not a snapshot of one instant (as it is in Redis) but a walk like SCAN.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::request::StoreRequest;

use crate::glob::{Glob, MatchState, Verdict};
use crate::ids::ConnId;
use crate::output::Output;
use crate::store::{KEYS_MAX_REPLY_BYTES, SCAN_DEFAULT_COUNT, SCAN_MAX_COUNT, SCAN_MAX_REPLY_BYTES, Store};
use crate::time::Now;

/// Steps all walks together may spend per turn (a step is one unit of glob matching, or 64 bytes
/// of a visited key): well under a millisecond of CPU in a release build, so a turn of the
/// network thread that runs the Store inline stays short whatever the patterns.
pub const WALK_STEPS_PER_TURN: u64 = 1 << 18;

/// Steps the KEYS and SCAN inside one request may spend together when they cannot be spread over
/// turns: an EXEC transaction runs whole. Past it they answer [`TooCostlyInTransaction`]'s error.
pub const ATOMIC_WALK_STEPS: u64 = 16 * WALK_STEPS_PER_TURN;

/// The error of a KEYS or SCAN inside a transaction that needs more than [`ATOMIC_WALK_STEPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooCostlyInTransaction;

impl std::fmt::Display for TooCostlyInTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ERR KEYS or SCAN inside a transaction needs more than {ATOMIC_WALK_STEPS} matching steps; run it outside MULTI/EXEC"
        )
    }
}

/// Bytes of a visited key that cost one step (for copying and checking it).
const KEY_BYTES_PER_STEP: usize = 64;

/// One KEYS or SCAN in progress.
#[derive(Debug)]
pub(crate) struct Walk {
    id: u32,
    glob: Glob,
    /// Slots still to visit are `floor..top`.
    top: usize,
    floor: usize,
    max_reply_bytes: usize,
    keys: Vec<Bytes>,
    reply_bytes: usize,
    /// The key of slot `top - 1`, copied, with where its match stopped.
    current: Option<(Bytes, MatchState)>,
}

impl Walk {
    /// Adds a matching key; `false` (and nothing added) when the reply is full.
    fn take(&mut self, key: Bytes) -> bool {
        let size = 4 + key.len();
        if !self.keys.is_empty() && self.reply_bytes + size > self.max_reply_bytes {
            return false;
        }
        self.reply_bytes += size;
        self.keys.push(key);
        true
    }

    fn into_reply(self) -> Reply {
        Reply::Keys { cursor: self.top as u64, keys: self.keys }
    }
}

/// Work a connection has waiting: its walk first, then requests that arrived behind it.
#[derive(Debug)]
enum Pending {
    Walk(Walk),
    Request { id: u32, request: StoreRequest },
}

/// The parked walks and the per-turn budget.
#[derive(Debug)]
pub(crate) struct Walks {
    waiting: BTreeMap<ConnId, VecDeque<Pending>>,
    /// Connections with waiting work, served in turn.
    order: VecDeque<ConnId>,
    budget: u64,
    /// What is left of [`ATOMIC_WALK_STEPS`] for the request being run.
    atomic_budget: u64,
    /// The latest time seen: the deadline asked for while work waits (already due).
    last_ms: u64,
}

impl Default for Walks {
    fn default() -> Self {
        Self {
            waiting: BTreeMap::new(),
            order: VecDeque::new(),
            budget: WALK_STEPS_PER_TURN,
            atomic_budget: ATOMIC_WALK_STEPS,
            last_ms: 0,
        }
    }
}

impl Walks {
    /// A deadline already due while any work waits.
    pub(crate) fn deadline(&self) -> Option<u64> {
        (!self.waiting.is_empty()).then_some(self.last_ms)
    }
}

impl Store {
    /// Takes one request: behind the connection's parked work if it has some, else at once.
    pub(crate) fn accept_request(&mut self, now: Now, conn: ConnId, id: u32, request: StoreRequest) {
        self.walks.last_ms = self.walks.last_ms.max(now.mono_ms);
        if let Some(queue) = self.walks.waiting.get_mut(&conn) {
            queue.push_back(Pending::Request { id, request });
            return;
        }
        if let Some(walk) = self.start(now, conn, id, request) {
            self.walks.waiting.insert(conn, VecDeque::from([Pending::Walk(walk)]));
            self.walks.order.push_back(conn);
        }
    }

    /// A connection is gone: its parked work is dropped.
    pub(crate) fn forget_walks(&mut self, conn: ConnId) {
        if self.walks.waiting.remove(&conn).is_some() {
            self.walks.order.retain(|c| *c != conn);
        }
    }

    /// A new turn: refills the budget and spends it on the parked work, one connection after
    /// another (a connection whose walk is still unfinished goes to the back).
    pub(crate) fn resume_walks(&mut self, now: Now) {
        self.walks.last_ms = self.walks.last_ms.max(now.mono_ms);
        self.walks.budget = WALK_STEPS_PER_TURN;
        while self.walks.budget > 0 {
            let Some(conn) = self.walks.order.pop_front() else { break };
            let Some(mut queue) = self.walks.waiting.remove(&conn) else { continue };
            self.run_queue(now, conn, &mut queue);
            if !queue.is_empty() {
                self.walks.waiting.insert(conn, queue);
                self.walks.order.push_back(conn);
            }
        }
    }

    /// Serves `queue` in order until it is empty or its walk pauses.
    fn run_queue(&mut self, now: Now, conn: ConnId, queue: &mut VecDeque<Pending>) {
        while let Some(pending) = queue.pop_front() {
            let paused = match pending {
                Pending::Walk(mut walk) => {
                    let mut budget = self.walks.budget;
                    let done = self.advance(now, &mut walk, &mut budget);
                    self.walks.budget = budget;
                    if done {
                        self.reply(conn, walk.id, walk.into_reply());
                        None
                    } else {
                        Some(walk)
                    }
                }
                Pending::Request { id, request } => self.start(now, conn, id, request),
            };
            if let Some(walk) = paused {
                queue.push_front(Pending::Walk(walk));
                return;
            }
        }
    }

    /// Runs one request: answers it, or returns its walk when the budget ran out first.
    fn start(&mut self, now: Now, conn: ConnId, id: u32, request: StoreRequest) -> Option<Walk> {
        self.walks.atomic_budget = ATOMIC_WALK_STEPS;
        let mut walk = match self.walk_of(id, request) {
            Start::Walk(walk) => walk,
            Start::Refused(reply) => {
                self.reply(conn, id, reply);
                return None;
            }
            Start::Other(request) => {
                let reply = self.execute_for(now, conn, request);
                self.reply(conn, id, reply);
                return None;
            }
        };
        let mut budget = self.walks.budget;
        let done = self.advance(now, &mut walk, &mut budget);
        self.walks.budget = budget;
        if done {
            self.reply(conn, id, walk.into_reply());
            return None;
        }
        Some(walk)
    }

    fn reply(&mut self, conn: ConnId, id: u32, reply: Reply) {
        self.outputs.push_back(Output::Reply { conn, id, reply });
    }

    /// The walk of a KEYS or SCAN; any other request is handed back.
    fn walk_of(&self, id: u32, request: StoreRequest) -> Start {
        let len = self.table.len();
        let (pattern, top, floor, max_reply_bytes) = match request {
            StoreRequest::Keys { pattern } => (pattern, len, 0, KEYS_MAX_REPLY_BYTES),
            StoreRequest::Scan { cursor, pattern, count } => {
                let count = match count {
                    0 => SCAN_DEFAULT_COUNT,
                    n => usize::try_from(n).unwrap_or(usize::MAX).min(SCAN_MAX_COUNT),
                };
                // The cursor is the number of slots still to visit; 0 starts over at the top.
                let top =
                    if cursor == 0 { len } else { usize::try_from(cursor).unwrap_or(usize::MAX).min(len) };
                (pattern, top, top.saturating_sub(count), SCAN_MAX_REPLY_BYTES)
            }
            other => return Start::Other(other),
        };
        match Glob::compile(&pattern) {
            Ok(glob) => Start::Walk(Walk {
                id,
                glob,
                top,
                floor,
                max_reply_bytes,
                keys: Vec::new(),
                reply_bytes: 0,
                current: None,
            }),
            Err(too_long) => Start::Refused(Reply::error(too_long)),
        }
    }

    /// Runs KEYS or SCAN in one go, for [`Store::execute`] (inside a transaction, which cannot
    /// be spread over turns): within what is left of [`ATOMIC_WALK_STEPS`] for this request, or
    /// an error. Requests of their own go through [`Store::accept_request`] instead.
    pub(crate) fn walk_to_end(&mut self, now: Now, request: StoreRequest) -> Reply {
        match self.walk_of(0, request) {
            Start::Walk(mut walk) => {
                let mut budget = self.walks.atomic_budget;
                let done = self.advance(now, &mut walk, &mut budget);
                self.walks.atomic_budget = budget;
                if done { walk.into_reply() } else { Reply::error(TooCostlyInTransaction) }
            }
            Start::Refused(reply) => reply,
            Start::Other(_) => Reply::Err("ERR not a KEYS or SCAN".to_owned()),
        }
    }

    /// Visits `walk`'s slots from the top down (expiring what has expired), collecting matching
    /// keys until the reply is full; `true` when it is done, `false` when `budget` ran out.
    /// Removing at a slot only moves the top entry, already visited, into it, so a walk downward
    /// misses nothing.
    fn advance(&mut self, now: Now, walk: &mut Walk, budget: &mut u64) -> bool {
        while walk.top > walk.floor {
            if *budget == 0 {
                return false;
            }
            let pos = walk.top - 1;
            let verdict = match walk.current.take() {
                Some((key, state)) => {
                    let verdict = walk.glob.match_within(&key, state, budget);
                    if let Verdict::Paused(state) = verdict {
                        walk.current = Some((key, state));
                        return false;
                    }
                    (verdict == Verdict::Match).then_some(key)
                }
                None => {
                    let Some(entry) = self.table.get(pos) else {
                        walk.top = pos;
                        continue;
                    };
                    *budget = budget.saturating_sub(1 + (entry.key().len() / KEY_BYTES_PER_STEP) as u64);
                    if entry.is_expired(now.mono_ms) {
                        self.expire_at(pos);
                        walk.top = pos;
                        continue;
                    }
                    match walk.glob.match_within(entry.key(), MatchState::default(), budget) {
                        // A copy: a slice would pin (and add a shared header to) the entry's buffer.
                        Verdict::Match => Some(Bytes::copy_from_slice(entry.key())),
                        Verdict::NoMatch => None,
                        Verdict::Paused(state) => {
                            walk.current = Some((Bytes::copy_from_slice(entry.key()), state));
                            return false;
                        }
                    }
                }
            };
            if let Some(key) = verdict
                && !walk.take(key)
            {
                // The reply is full: this slot is where the cursor continues.
                return true;
            }
            walk.top = pos;
        }
        true
    }
}

/// How a request starts: a walk, a refusal, or any other request.
enum Start {
    Walk(Walk),
    Refused(Reply),
    Other(StoreRequest),
}

#[cfg(test)]
mod tests {
    use nexo_proto::options::SetOptions;

    use super::*;
    use crate::broker::Broker;
    use crate::store::StoreConfig;

    const A: ConnId = ConnId(1);
    const B: ConnId = ConnId(2);

    fn store_with(keys: &[Vec<u8>]) -> Store {
        let mut store = Store::new(StoreConfig { default_ttl_ms: None, ..StoreConfig::default() }, 3);
        for (i, key) in keys.iter().enumerate() {
            let set = StoreRequest::Set {
                key: Bytes::from(key.clone()),
                options: SetOptions { ttl: None, persist: true },
                value: Bytes::from_static(b"v"),
            };
            store.handle_request(Now::at(0), A, u32::try_from(i).unwrap(), set);
        }
        drain(&mut store);
        store
    }

    fn drain(store: &mut Store) -> Vec<(ConnId, u32, Reply)> {
        std::iter::from_fn(|| store.poll_output())
            .map(|out| match out {
                Output::Reply { conn, id, reply } => (conn, id, reply),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    fn keys(pattern: &str) -> StoreRequest {
        StoreRequest::Keys { pattern: pattern.into() }
    }

    /// Turns until nothing is parked; returns the replies and how many turns it took.
    fn run_turns(store: &mut Store) -> (Vec<(ConnId, u32, Reply)>, u64) {
        let mut replies = drain(store);
        let mut turns = 0;
        while let Some(due) = store.poll_timeout() {
            turns += 1;
            assert!(turns < 1_000_000, "a walk always finishes");
            store.handle_timeout(Now::at(due));
            replies.extend(drain(store));
        }
        (replies, turns)
    }

    /// Four 4 KiB keys of `a` and a digit, and a pattern with a long star-free run that never
    /// matches: about 4 × 3,100 × 1,000 steps, dozens of turns' budgets.
    fn costly() -> (Vec<Vec<u8>>, String) {
        let keys = (0..4).map(|i| [vec![b'a'; 4096], vec![b'0' + i]].concat()).collect();
        (keys, format!("*{}b*", "a".repeat(1000)))
    }

    /// As costly, but the run matches each key once, at its very end.
    fn costly_match() -> String {
        format!("*{}[0-9]*", "a".repeat(1000))
    }

    #[test]
    fn a_costly_keys_parks_and_finishes_over_turns() {
        let (mut stored, pattern) = costly();
        stored.push(b"short".to_vec());
        let mut store = store_with(&stored);
        store.handle_request(Now::at(5), A, 100, keys(&pattern));
        assert!(drain(&mut store).is_empty(), "parked, not answered");
        assert_eq!(store.poll_timeout(), Some(5), "a turn is due at once");
        let (replies, turns) = run_turns(&mut store);
        assert!(turns >= 10, "spread over {turns} turns");
        assert_eq!(replies, vec![(A, 100, Reply::Keys { cursor: 0, keys: Vec::new() })]);
        // A pattern that matches the same long keys in the end.
        store.handle_request(Now::at(6), A, 101, keys(&costly_match()));
        let (replies, _) = run_turns(&mut store);
        let Reply::Keys { cursor: 0, keys: found } = &replies[0].2 else { panic!("{replies:?}") };
        assert_eq!(found.len(), 4);
    }

    #[test]
    fn other_connections_go_on_and_a_connection_keeps_its_order() {
        let (stored, pattern) = costly();
        let mut store = store_with(&stored);
        store.handle_request(Now::at(5), A, 1, keys(&pattern));
        let get = |key: &'static [u8]| StoreRequest::Get { key: Bytes::from_static(key) };
        store.handle_request(Now::at(5), A, 2, get(b"x"));
        store.handle_request(Now::at(5), A, 3, keys("zzz"));
        store.handle_request(Now::at(5), B, 9, get(b"x"));
        assert_eq!(drain(&mut store), vec![(B, 9, Reply::Null)], "B is not held up by A's walk");
        let (replies, _) = run_turns(&mut store);
        let order: Vec<(ConnId, u32)> = replies.iter().map(|(c, i, _)| (*c, *i)).collect();
        assert_eq!(order, vec![(A, 1), (A, 2), (A, 3)], "A's replies in request order");
    }

    #[test]
    fn scan_steps_resume_and_see_every_key() {
        let (stored, _) = costly();
        let mut store = store_with(&stored);
        let pattern = costly_match();
        let mut cursor = 0;
        let mut found = 0;
        loop {
            store.handle_request(
                Now::at(5),
                A,
                1,
                StoreRequest::Scan { cursor, pattern: pattern.clone(), count: 2 },
            );
            let (replies, _) = run_turns(&mut store);
            let [(_, _, Reply::Keys { cursor: next, keys })] = replies.as_slice() else {
                panic!("{replies:?}")
            };
            found += keys.len();
            cursor = *next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(found, 4);
    }

    #[test]
    fn a_transaction_runs_its_walks_whole_or_refuses_them() {
        let (stored, pattern) = costly();
        let mut store = store_with(&stored);
        let exec = |commands| StoreRequest::Exec { commands };
        store.handle_request(Now::at(5), A, 1, exec(vec![keys("*0"), keys(&pattern)]));
        let replies = drain(&mut store);
        let [(A, 1, Reply::Replies(inner))] = replies.as_slice() else { panic!("{replies:?}") };
        assert!(matches!(&inner[0], Reply::Keys { cursor: 0, keys } if keys.len() == 1));
        assert_eq!(inner[1], Reply::error(TooCostlyInTransaction));
        assert_eq!(store.poll_timeout(), None, "nothing parked");
    }

    #[test]
    fn a_disconnect_drops_parked_work() {
        let (stored, pattern) = costly();
        let mut store = store_with(&stored);
        store.handle_request(Now::at(5), A, 1, keys(&pattern));
        store.handle_request(Now::at(5), A, 2, keys("*"));
        store.handle_disconnect(Now::at(5), A);
        assert_eq!(store.poll_timeout(), None);
        assert!(drain(&mut store).is_empty());
    }

    #[test]
    fn a_pattern_over_the_cap_is_refused() {
        let mut store = store_with(&[b"k".to_vec()]);
        let long = "*".repeat(crate::glob::MAX_PATTERN_BYTES + 1);
        store.handle_request(Now::at(5), A, 1, keys(&long));
        let scan = StoreRequest::Scan { cursor: 0, pattern: long, count: 0 };
        store.handle_request(Now::at(5), A, 2, scan);
        let text =
            format!("ERR pattern too long (32769 bytes; the limit is {})", crate::glob::MAX_PATTERN_BYTES);
        assert_eq!(drain(&mut store), vec![(A, 1, Reply::Err(text.clone())), (A, 2, Reply::Err(text))]);
    }
}
