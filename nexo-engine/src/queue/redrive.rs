//! Dead-letter targets (SQS's RedrivePolicy): setting a queue's target and moving a message
//! into it, the one transition both the live broker and replay use.
//!
//! A queue with a target never uses its own DLQ for receives: when a receive would make a
//! message's receive count exceed `max_receive_count`, the message leaves its queue and is
//! ready at the tail of its priority in the target queue, receive count 0, under a new id (the
//! old one may be taken there). Both halves are one `DEAD_LETTER` record. A target that does not
//! exist (deleted since) moves nothing: the message is delivered as usual. A queue without a
//! target keeps v1's rule (`maxRetries` and its own DLQ).

use std::sync::Arc;

use super::Queue;
use super::journal::{MsgId, Record};
use super::recover::Queues;
use super::state::{Place, Redrive, Slot};
use super::stats::QueueCounters;

/// Moves message `id` of queue `name` into queue `target` as `new_id`: ready, receive count 0,
/// same priority and payload. Returns whether it moved (both queues exist, the message is live
/// and not leased, `new_id` is free in the target).
pub(crate) fn move_to_target(
    queues: &mut Queues,
    name: &str,
    id: &MsgId,
    target: &str,
    new_id: MsgId,
) -> bool {
    let movable = queues.get(name).and_then(|q| q.get(id)).is_some_and(|m| {
        matches!(m.place, Place::Ready { .. } | Place::Delayed { .. } | Place::Pending { .. })
    });
    let target_free = queues.get(target).is_some_and(|t| !t.contains(&new_id));
    if !movable || !target_free || name == target {
        return false;
    }
    let Some(m) = queues.get_mut(name).and_then(|q| q.remove(id)) else { return false };
    queues.get_mut(target).is_some_and(|t| t.insert(new_id, m.priority, m.payload, 0, Slot::Ready))
}

/// Sets (or, with an empty target, clears) a queue's redrive when replaying.
pub(crate) fn apply_redrive(queues: &mut Queues, name: &str, target: &str, max_receive_count: u32) {
    if let Some(q) = queues.get_mut(name) {
        q.redrive = (!target.is_empty())
            .then(|| Redrive { target: Arc::from(target), max_receive_count: max_receive_count.max(1) });
    }
}

impl Queue {
    /// Sets or clears queue `name`'s dead-letter target and journals it; returns the record's
    /// sequence, or `None` when the queue does not exist or the journal has failed.
    pub(super) fn set_redrive(&mut self, name: &str, redrive: Option<Redrive>) -> Option<u64> {
        if self.journal.failed.is_some() {
            return None;
        }
        let q = self.queues.get_mut(name)?;
        let (target, max_receive_count) =
            redrive.as_ref().map_or(("", 0), |r| (&*r.target, r.max_receive_count.max(1)));
        let record = Record::Redrive { name, target, max_receive_count };
        let seq = self.journal.append(&record, &mut self.outputs);
        q.redrive = redrive.map(|r| Redrive { max_receive_count: r.max_receive_count.max(1), ..r });
        Some(seq)
    }

    /// Moves the ready messages at the front of `name` that are due for its target, until the
    /// first one that is not.
    pub(super) fn redrive_front(&mut self, name: &str) {
        while let Some(id) = self
            .queues
            .get(name)
            .filter(|q| q.redrive.is_some())
            .and_then(|q| q.first_ready())
            .map(|(id, _)| id)
        {
            if !self.redrive_if_due(name, id) {
                break;
            }
        }
    }

    /// When `name` has a target and one more receive of message `id` would pass its
    /// `max_receive_count`, moves the message there (journaled) and returns true.
    pub(super) fn redrive_if_due(&mut self, name: &str, id: MsgId) -> bool {
        let Some(q) = self.queues.get(name) else { return false };
        let (Some(r), Some(m)) = (q.redrive.clone(), q.get(&id)) else { return false };
        if m.attempts < r.max_receive_count || !self.queues.contains_key(&*r.target) {
            return false;
        }
        let new_id = self.fresh_id(&r.target);
        if !move_to_target(&mut self.queues, name, &id, &r.target, new_id) {
            return false;
        }
        if let Some(q) = self.queues.get_mut(name) {
            QueueCounters::bump(&mut q.counters, &mut self.totals, |c| &mut c.dead_lettered);
        }
        let record = Record::DeadLetter { name, id, target: &r.target, new_id };
        self.journal.append(&record, &mut self.outputs);
        self.touched.insert(r.target.clone());
        true
    }
}
