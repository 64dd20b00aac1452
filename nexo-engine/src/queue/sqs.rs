//! The Queue's SQS-facing input and output: sends that answer with the new message id,
//! receives whose deliveries belong to no connection and carry a per-delivery token, deletes
//! and visibility changes that act only for the current delivery, and dead-letter targets.
//!
//! Input: [`Queue::handle_sqs`]. Output: [`Queue::poll_sqs_output`], drained (like
//! `poll_output`) after every input; a reply that waits for its record (Send, SetRedrive)
//! leaves once [`crate::broker::Broker::handle_persisted`] covers it. Connections matter only to
//! address replies: closing one releases none of its deliveries (only the visibility timeout,
//! ChangeVisibility or Delete end one). Replies of one connection leave in request order.
//!
//! Stale tokens: a Delete whose token is not the message's current delivery answers
//! `Deleted { removed: false }` and changes nothing (SQS answers success); a ChangeVisibility
//! answers `ReceiptInvalid` (the message is in flight under another delivery, or gone) or
//! `NotInflight` (it is not in flight) and changes nothing.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::options::PushOptions;

use super::journal::{MsgId, Record};
use super::lease::Delivered;
use super::state::{Place, Redrive};
use super::stats::QueueCounters;
use super::{Queue, TimerKey};
use crate::ids::ConnId;
use crate::time::Now;

/// An SQS command for the Queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqsCommand {
    /// Adds a message; answers `Sent` once durable.
    Send {
        /// Queue name.
        name: String,
        /// Body, stored as is.
        payload: Bytes,
        /// Delay before it can be received.
        delay_ms: u64,
    },
    /// Leases up to `max` ready messages to no connection.
    Receive {
        /// Queue name.
        name: String,
        /// Most messages (clamped to the batch limit).
        max: u32,
        /// Visibility timeout of these deliveries; `None`: the queue's.
        visibility_ms: Option<u64>,
    },
    /// Deletes a message if `token` is its current delivery.
    Delete {
        /// Queue name.
        name: String,
        /// Message id.
        id: MsgId,
        /// Delivery token from the receipt handle.
        token: u64,
    },
    /// Sets the remaining visibility of the current delivery (`0`: visible now).
    ChangeVisibility {
        /// Queue name.
        name: String,
        /// Message id.
        id: MsgId,
        /// Delivery token from the receipt handle.
        token: u64,
        /// New visibility timeout from now.
        visibility_ms: u64,
    },
    /// Sets (`Some((target, max_receive_count))`) or clears the dead-letter target.
    SetRedrive {
        /// Queue name.
        name: String,
        /// Target queue and maximum receive count.
        redrive: Option<(String, u32)>,
    },
}

/// The answer to an [`SqsCommand`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqsReply {
    /// Send: the message is durable under this id.
    Sent {
        /// New message id.
        id: MsgId,
    },
    /// Receive: the deliveries (possibly none).
    Received(Vec<Delivered>),
    /// Delete: whether the message was removed (`false` for a stale token: nothing changed).
    Deleted {
        /// Whether this delete removed the message.
        removed: bool,
    },
    /// ChangeVisibility done.
    VisibilityChanged,
    /// ChangeVisibility with a token that is not the message's current delivery.
    ReceiptInvalid,
    /// ChangeVisibility of a message that is not in flight.
    NotInflight,
    /// SetRedrive is durable.
    RedriveSet,
    /// The queue (or the redrive target) does not exist.
    NoQueue,
    /// Refused, with the v1 text (queue full, storage unavailable).
    Refused(String),
}

/// A reply for connection `conn`'s request `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsOutput {
    /// Connection the request came on.
    pub conn: ConnId,
    /// Its request id.
    pub id: u32,
    /// The answer.
    pub reply: SqsReply,
}

/// SQS replies ready to leave, and those waiting for a record (`Some(seq)`) or behind one.
#[derive(Debug, Default)]
pub(crate) struct SqsOutbox {
    ready: VecDeque<SqsOutput>,
    held: VecDeque<(Option<u64>, SqsOutput)>,
}

impl SqsOutbox {
    fn answer(&mut self, wait: Option<u64>, out: SqsOutput) {
        let behind = self.held.iter().any(|(_, h)| h.conn == out.conn);
        if wait.is_none() && !behind {
            self.ready.push_back(out);
        } else {
            self.held.push_back((wait, out));
        }
    }

    /// Releases, in order, every held reply whose record is below `durable_next` and that no
    /// earlier held reply of its connection holds back.
    pub fn persisted(&mut self, durable_next: u64) {
        let mut blocked: Vec<ConnId> = Vec::new();
        let mut kept = VecDeque::with_capacity(self.held.len());
        for (wait, out) in self.held.drain(..) {
            let due = wait.is_none_or(|seq| seq < durable_next);
            if due && !blocked.contains(&out.conn) {
                self.ready.push_back(out);
            } else {
                blocked.push(out.conn);
                kept.push_back((wait, out));
            }
        }
        self.held = kept;
    }

    /// The storage failed: every held reply is answered with `text`.
    pub fn fail(&mut self, text: &str) {
        for (wait, mut out) in self.held.drain(..) {
            if wait.is_some() {
                out.reply = SqsReply::Refused(text.to_owned());
            }
            self.ready.push_back(out);
        }
    }
}

impl Queue {
    /// Input: one SQS command from connection `conn`, request `id`.
    pub fn handle_sqs(&mut self, now: Now, conn: ConnId, id: u32, command: SqsCommand) {
        let (wait, reply) = match command {
            SqsCommand::Send { name, payload, delay_ms } => {
                let options = PushOptions { priority: None, delay_ms: Some(delay_ms) };
                match self.enqueue(now, &name, options, &payload) {
                    Ok((seq, msg)) => (Some(seq), SqsReply::Sent { id: msg }),
                    Err(_) if !self.queues.contains_key(name.as_str()) => (None, SqsReply::NoQueue),
                    Err(text) => (None, SqsReply::Refused(text)),
                }
            }
            SqsCommand::Receive { name, max, visibility_ms } => {
                (None, self.sqs_receive(now, &name, max, visibility_ms))
            }
            SqsCommand::Delete { name, id: msg, token } => (None, self.sqs_delete(&name, msg, token)),
            SqsCommand::ChangeVisibility { name, id: msg, token, visibility_ms } => {
                (None, self.sqs_change_visibility(now, &name, msg, token, visibility_ms))
            }
            SqsCommand::SetRedrive { name, redrive } => self.sqs_set_redrive(&name, redrive),
        };
        self.sqs.answer(wait, SqsOutput { conn, id, reply });
        self.serve_touched(now);
    }

    /// Output: the next SQS reply, `None` when there is none.
    #[must_use]
    pub fn poll_sqs_output(&mut self) -> Option<SqsOutput> {
        self.sqs.ready.pop_front()
    }

    /// The token of message `id`'s current delivery, if it is in flight (tests and dashboards).
    pub fn current_token_of(&self, name: &str, id: &MsgId) -> Option<u64> {
        let Place::Leased { lease_no } = self.queues.get(name)?.get(id)?.place else { return None };
        self.leases.get(lease_no).map(|l| l.token)
    }

    fn sqs_receive(&mut self, now: Now, name: &str, max: u32, visibility_ms: Option<u64>) -> SqsReply {
        if !self.queues.contains_key(name) {
            return SqsReply::NoQueue;
        }
        if let Some(text) = &self.journal.failed {
            return SqsReply::Refused(text.clone());
        }
        let batch = max.clamp(1, self.config.max_batch_size.max(1));
        SqsReply::Received(self.deliver_to(now, None, name, batch, visibility_ms))
    }

    /// The lease number of message `id`'s current delivery when it is `token`'s.
    fn current_delivery(&self, name: &str, id: &MsgId, token: u64) -> Result<u64, SqsReply> {
        let m = self.queues.get(name).ok_or(SqsReply::NoQueue)?.get(id).ok_or(SqsReply::ReceiptInvalid)?;
        let Place::Leased { lease_no } = m.place else { return Err(SqsReply::NotInflight) };
        match self.leases.get(lease_no) {
            Some(lease) if lease.token == token => Ok(lease_no),
            _ => Err(SqsReply::ReceiptInvalid),
        }
    }

    fn sqs_delete(&mut self, name: &str, id: MsgId, token: u64) -> SqsReply {
        let no = match self.current_delivery(name, &id, token) {
            Ok(no) => no,
            Err(SqsReply::NoQueue) => return SqsReply::NoQueue,
            Err(_) => return SqsReply::Deleted { removed: false },
        };
        if let Some(text) = &self.journal.failed {
            return SqsReply::Refused(text.clone());
        }
        self.end_lease(no);
        if let Some(q) = self.queues.get_mut(name) {
            q.remove(&id);
            QueueCounters::bump(&mut q.counters, &mut self.totals, |c| &mut c.acked);
        }
        self.journal.append(&Record::Ack { name, id }, &mut self.outputs);
        SqsReply::Deleted { removed: true }
    }

    fn sqs_change_visibility(&mut self, now: Now, name: &str, id: MsgId, token: u64, ms: u64) -> SqsReply {
        let no = match self.current_delivery(name, &id, token) {
            Ok(no) => no,
            Err(reply) => return reply,
        };
        let Some(mut lease) = self.end_lease(no) else { return SqsReply::ReceiptInvalid };
        if ms == 0 {
            let queue: Arc<str> = lease.queue.clone();
            self.requeue_now(&queue, id);
        } else {
            lease.deadline = now.mono_ms.saturating_add(ms);
            self.timers.insert((lease.deadline, TimerKey::Lease(no)));
            self.leases.insert(no, lease);
        }
        SqsReply::VisibilityChanged
    }

    fn sqs_set_redrive(&mut self, name: &str, redrive: Option<(String, u32)>) -> (Option<u64>, SqsReply) {
        if !self.queues.contains_key(name) {
            return (None, SqsReply::NoQueue);
        }
        let redrive = match redrive {
            Some((target, _)) if !self.queues.contains_key(target.as_str()) => {
                return (None, SqsReply::NoQueue);
            }
            Some((target, max_receive_count)) => {
                Some(Redrive { target: Arc::from(target), max_receive_count })
            }
            None => None,
        };
        match self.set_redrive(name, redrive) {
            Some(seq) => (Some(seq), SqsReply::RedriveSet),
            None => (None, SqsReply::Refused(self.journal.failed.clone().unwrap_or_default())),
        }
    }
}
