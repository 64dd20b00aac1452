//! One queue's messages and the ordered indexes over them: pending, ready, delayed, leased and
//! dead-lettered.
//!
//! [`QueueState`] owns every message of one queue and keeps each in exactly one index, so the
//! counts, byte totals and orders are always consistent. It knows nothing of connections, timers,
//! replies or the journal: the broker decides what happens and records it; recovery replays the
//! same transitions. Messages are found by id through a seeded hash map, but every walk that can
//! reach an output goes through an ordered index.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use bytes::Bytes;

use super::journal::{MsgId, SNAP_MESSAGE_FIXED, SNAP_QUEUE_FIXED};
use super::stats::QueueCounters;
use crate::ids::SeededState;

/// The settings a queue was created with (kept for its whole life, journaled with CREATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Lease length in milliseconds.
    pub visibility_timeout_ms: u64,
    /// A failure with `attempts >= max_retries` dead-letters the message.
    pub max_retries: u32,
    /// Depth limit; 0 = the server's default.
    pub max_depth: u64,
    /// Payload-byte limit; 0 = the server's default.
    pub max_bytes: u64,
}

/// A queue's dead-letter target (SQS's RedrivePolicy): a receive that would make a message's
/// receive count exceed `max_receive_count` moves it to the ready messages of queue `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redrive {
    /// The target queue's name.
    pub target: Arc<str>,
    /// Most receives a message gets in this queue.
    pub max_receive_count: u32,
}

/// Where a message is, with the key of its index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    /// Pushed, its record not yet durable: invisible to consumers.
    Pending { order: u64, due_wall_ms: u64 },
    /// Ready, served by priority then `order`.
    Ready { order: u64 },
    /// Hidden until `due_wall_ms`.
    Delayed { due_wall_ms: u64, order: u64 },
    /// In flight under lease number `lease_no` (the broker's lease table says who holds it).
    Leased { lease_no: u64 },
    /// In the dead-letter queue; higher `order` failed later.
    Dead { order: u64, reason: Box<str> },
}

/// Where to put a message (the queue assigns the order keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Invisible until [`QueueState::make_visible`]; then ready, or delayed when `due_wall_ms > 0`.
    Pending { due_wall_ms: u64 },
    /// Ready, at the tail of its priority.
    Ready,
    /// Delayed until the wall-clock time.
    Delayed { due_wall_ms: u64 },
    /// Leased under this lease number.
    Leased { lease_no: u64 },
    /// Dead-lettered with this reason, as the newest failure.
    Dead { reason: Box<str> },
}

impl Slot {
    /// Ready when `due_wall_ms` is 0, else delayed.
    pub fn after(due_wall_ms: u64) -> Self {
        if due_wall_ms == 0 { Self::Ready } else { Self::Delayed { due_wall_ms } }
    }
}

/// One message.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub priority: u8,
    pub payload: Bytes,
    /// Deliveries so far.
    pub attempts: u32,
    pub place: Place,
}

/// One queue: its settings, messages, parked consumers and counters.
#[derive(Debug)]
pub(crate) struct QueueState {
    pub name: Arc<str>,
    pub settings: QueueSettings,
    /// Dead-letter target, when the queue has one (journaled as REDRIVE).
    pub redrive: Option<Redrive>,
    messages: HashMap<MsgId, Message, SeededState>,
    pending: BTreeMap<u64, MsgId>,
    ready: BTreeMap<(Reverse<u8>, u64), MsgId>,
    delayed: BTreeSet<(u64, u64, MsgId)>,
    leased: BTreeMap<u64, MsgId>,
    dead: BTreeMap<u64, MsgId>,
    next_order: u64,
    /// Payload bytes of every message, dead ones included.
    payload_bytes: u64,
    /// Payload bytes of dead messages.
    dead_bytes: u64,
    /// Bytes of DLQ reasons.
    reason_bytes: u64,
    /// Parked CONSUMEs waiting on this queue, by park number (arrival order).
    pub waiters: BTreeSet<u64>,
    /// Monotonic deadline of this queue's delayed-due timer, when one is set.
    pub due_timer: Option<u64>,
    pub counters: QueueCounters,
}

impl QueueState {
    pub fn new(name: Arc<str>, settings: QueueSettings, hasher: SeededState) -> Self {
        Self {
            name,
            settings,
            redrive: None,
            messages: HashMap::with_hasher(hasher),
            pending: BTreeMap::new(),
            ready: BTreeMap::new(),
            delayed: BTreeSet::new(),
            leased: BTreeMap::new(),
            dead: BTreeMap::new(),
            next_order: 0,
            payload_bytes: 0,
            dead_bytes: 0,
            reason_bytes: 0,
            waiters: BTreeSet::new(),
            due_timer: None,
            counters: QueueCounters::default(),
        }
    }

    pub fn get(&self, id: &MsgId) -> Option<&Message> {
        self.messages.get(id)
    }

    pub fn contains(&self, id: &MsgId) -> bool {
        self.messages.contains_key(id)
    }

    /// Messages counted against the depth limit: all but the dead.
    pub fn depth(&self) -> u64 {
        (self.messages.len() - self.dead.len()) as u64
    }

    /// Payload bytes counted against the byte limit: all but the dead.
    pub fn bytes(&self) -> u64 {
        self.payload_bytes - self.dead_bytes
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    pub fn delayed_len(&self) -> usize {
        self.delayed.len()
    }

    pub fn leased_len(&self) -> usize {
        self.leased.len()
    }

    pub fn dead_len(&self) -> usize {
        self.dead.len()
    }

    pub fn dead_bytes(&self) -> u64 {
        self.dead_bytes
    }

    /// Bytes the snapshot records of this queue and its messages take (for compaction).
    pub fn live_bytes(&self) -> u64 {
        let per_message = (SNAP_MESSAGE_FIXED + self.name.len()) as u64;
        (SNAP_QUEUE_FIXED + self.name.len()) as u64
            + self.messages.len() as u64 * per_message
            + self.payload_bytes
            + self.reason_bytes
    }

    /// Adds a message; `false` (and nothing changes) when the id is already there.
    pub fn insert(&mut self, id: MsgId, priority: u8, payload: Bytes, attempts: u32, slot: Slot) -> bool {
        if self.messages.contains_key(&id) {
            return false;
        }
        let place = self.index(id, priority, slot);
        self.payload_bytes += payload.len() as u64;
        if matches!(place, Place::Dead { .. }) {
            self.dead_bytes += payload.len() as u64;
        }
        self.messages.insert(id, Message { priority, payload, attempts, place });
        true
    }

    /// Moves a message to `slot`; returns its previous place (`None` when it is not here).
    pub fn set_slot(&mut self, id: &MsgId, slot: Slot) -> Option<Place> {
        let (priority, size) = self.messages.get(id).map(|m| (m.priority, m.payload.len() as u64))?;
        let old = self.unindex(id)?;
        let place = self.index(*id, priority, slot);
        let was_dead = matches!(old, Place::Dead { .. });
        let is_dead = matches!(place, Place::Dead { .. });
        if was_dead && !is_dead {
            self.dead_bytes -= size;
        } else if is_dead && !was_dead {
            self.dead_bytes += size;
        }
        if let Some(m) = self.messages.get_mut(id) {
            m.place = place;
        }
        Some(old)
    }

    /// Sets a message's delivery count.
    pub fn set_attempts(&mut self, id: &MsgId, attempts: u32) {
        if let Some(m) = self.messages.get_mut(id) {
            m.attempts = attempts;
        }
    }

    /// Removes a message wherever it is.
    pub fn remove(&mut self, id: &MsgId) -> Option<Message> {
        self.unindex(id)?;
        let m = self.messages.remove(id)?;
        self.payload_bytes -= m.payload.len() as u64;
        if matches!(m.place, Place::Dead { .. }) {
            self.dead_bytes -= m.payload.len() as u64;
        }
        Some(m)
    }

    /// A pending message becomes ready (or delayed); `false` when it is not pending.
    pub fn make_visible(&mut self, id: &MsgId) -> bool {
        match self.messages.get(id).map(|m| &m.place) {
            Some(Place::Pending { due_wall_ms, .. }) => {
                let slot = Slot::after(*due_wall_ms);
                self.set_slot(id, slot);
                true
            }
            _ => false,
        }
    }

    /// The next message a CONSUME gets: highest priority, then oldest.
    pub fn first_ready(&self) -> Option<(MsgId, &Message)> {
        let id = *self.ready.values().next()?;
        self.messages.get(&id).map(|m| (id, m))
    }

    /// Moves every delayed message due at `wall_ms` to ready, in order of due time; returns them.
    pub fn promote_due(&mut self, wall_ms: u64) -> Vec<MsgId> {
        let mut moved = Vec::new();
        while let Some(&(due, _, id)) = self.delayed.first() {
            if due > wall_ms {
                break;
            }
            self.set_slot(&id, Slot::Ready);
            moved.push(id);
        }
        moved
    }

    /// The earliest due time among delayed messages.
    pub fn next_due(&self) -> Option<u64> {
        self.delayed.first().map(|&(due, ..)| due)
    }

    /// Removes pending, ready and delayed messages (not leased or dead); returns how many.
    pub fn purge(&mut self) -> usize {
        let ids: Vec<MsgId> = self
            .pending
            .values()
            .chain(self.ready.values())
            .copied()
            .chain(self.delayed.iter().map(|&(_, _, id)| id))
            .collect();
        ids.iter().filter(|id| self.remove(id).is_some()).count()
    }

    /// Removes every dead message; returns how many.
    pub fn purge_dead(&mut self) -> usize {
        let ids: Vec<MsgId> = self.dead.values().copied().collect();
        ids.iter().filter(|id| self.remove(id).is_some()).count()
    }

    /// Leased messages in lease order, with their lease numbers.
    pub fn leased(&self) -> impl Iterator<Item = (u64, MsgId)> + '_ {
        self.leased.iter().map(|(&no, &id)| (no, id))
    }

    /// Pending messages in push order.
    pub fn pending_ids(&self) -> impl Iterator<Item = MsgId> + '_ {
        self.pending.values().copied()
    }

    /// Ready messages in the order CONSUME serves them.
    pub fn ready_ids(&self) -> impl Iterator<Item = MsgId> + '_ {
        self.ready.values().copied()
    }

    /// Delayed messages by due time, with it.
    pub fn delayed_ids(&self) -> impl Iterator<Item = (u64, MsgId)> + '_ {
        self.delayed.iter().map(|&(due, _, id)| (due, id))
    }

    /// Dead messages, oldest failure first (reverse it for PEEK_DLQ).
    pub fn dead_ids(&self) -> impl DoubleEndedIterator<Item = MsgId> + '_ {
        self.dead.values().copied()
    }

    fn take_order(&mut self) -> u64 {
        self.next_order += 1;
        self.next_order
    }

    fn index(&mut self, id: MsgId, priority: u8, slot: Slot) -> Place {
        let order = self.take_order();
        match slot {
            Slot::Pending { due_wall_ms } => {
                self.pending.insert(order, id);
                Place::Pending { order, due_wall_ms }
            }
            Slot::Ready => {
                self.ready.insert((Reverse(priority), order), id);
                Place::Ready { order }
            }
            Slot::Delayed { due_wall_ms } => {
                self.delayed.insert((due_wall_ms, order, id));
                Place::Delayed { due_wall_ms, order }
            }
            Slot::Leased { lease_no } => {
                self.leased.insert(lease_no, id);
                Place::Leased { lease_no }
            }
            Slot::Dead { reason } => {
                self.dead.insert(order, id);
                self.reason_bytes += reason.len() as u64;
                Place::Dead { order, reason }
            }
        }
    }

    /// Takes a message out of its index (the message itself stays); returns its place.
    fn unindex(&mut self, id: &MsgId) -> Option<Place> {
        let m = self.messages.get(id)?;
        let place = m.place.clone();
        match &place {
            Place::Pending { order, .. } => {
                self.pending.remove(order);
            }
            Place::Ready { order } => {
                self.ready.remove(&(Reverse(m.priority), *order));
            }
            Place::Delayed { due_wall_ms, order } => {
                self.delayed.remove(&(*due_wall_ms, *order, *id));
            }
            Place::Leased { lease_no } => {
                self.leased.remove(lease_no);
            }
            Place::Dead { order, reason } => {
                self.dead.remove(order);
                self.reason_bytes -= reason.len() as u64;
            }
        }
        Some(place)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> QueueState {
        let settings = QueueSettings { visibility_timeout_ms: 1, max_retries: 1, max_depth: 0, max_bytes: 0 };
        QueueState::new(Arc::from("q"), settings, SeededState::new(1))
    }

    fn id(n: u8) -> MsgId {
        [n; 16]
    }

    fn ready_order(q: &QueueState) -> Vec<u8> {
        q.ready_ids().map(|id| id[0]).collect()
    }

    #[test]
    fn ready_is_priority_then_fifo_and_requeue_goes_to_the_tail() {
        let mut q = queue();
        for (n, prio) in [(1, 0), (2, 5), (3, 0), (4, 5), (5, 9)] {
            assert!(q.insert(id(n), prio, Bytes::from_static(b"x"), 0, Slot::Ready));
        }
        assert!(!q.insert(id(1), 0, Bytes::new(), 0, Slot::Ready), "duplicate id");
        assert_eq!(ready_order(&q), [5, 2, 4, 1, 3]);
        q.set_slot(&id(2), Slot::Leased { lease_no: 1 });
        q.set_slot(&id(2), Slot::Ready);
        assert_eq!(ready_order(&q), [5, 4, 2, 1, 3]);
        assert_eq!(q.first_ready().map(|(id, _)| id[0]), Some(5));
    }

    #[test]
    fn counts_and_bytes_follow_every_move() {
        let mut q = queue();
        q.insert(id(1), 0, Bytes::from_static(b"abc"), 0, Slot::Pending { due_wall_ms: 0 });
        q.insert(id(2), 0, Bytes::from_static(b"de"), 0, Slot::Pending { due_wall_ms: 50 });
        assert_eq!((q.pending_len(), q.depth(), q.bytes()), (2, 2, 5));
        assert!(q.make_visible(&id(1)) && q.make_visible(&id(2)));
        assert!(!q.make_visible(&id(2)));
        assert_eq!((q.ready_len(), q.delayed_len()), (1, 1));
        assert_eq!(q.next_due(), Some(50));
        assert!(q.promote_due(49).is_empty());
        assert_eq!(q.promote_due(50), [id(2)]);
        q.set_slot(&id(1), Slot::Dead { reason: "boom".into() });
        assert_eq!((q.depth(), q.bytes(), q.dead_len(), q.dead_bytes()), (1, 2, 1, 3));
        let live = q.live_bytes();
        q.set_slot(&id(1), Slot::Ready);
        assert_eq!(q.live_bytes(), live - 4, "the reason is gone");
        assert_eq!((q.depth(), q.bytes(), q.dead_bytes()), (2, 5, 0));
        assert_eq!(q.purge(), 2);
        assert_eq!((q.depth(), q.bytes(), q.live_bytes()), (0, 0, (SNAP_QUEUE_FIXED + 1) as u64));
    }

    #[test]
    fn purge_keeps_leased_and_dead() {
        let mut q = queue();
        q.insert(id(1), 0, Bytes::new(), 1, Slot::Leased { lease_no: 4 });
        q.insert(id(2), 0, Bytes::new(), 1, Slot::Dead { reason: "x".into() });
        q.insert(id(3), 0, Bytes::new(), 0, Slot::Delayed { due_wall_ms: 9 });
        q.insert(id(4), 0, Bytes::new(), 0, Slot::Ready);
        assert_eq!(q.purge(), 2);
        assert_eq!(q.leased().collect::<Vec<_>>(), [(4, id(1))]);
        assert_eq!(q.purge_dead(), 1);
        assert_eq!(q.depth(), 1);
    }
}
