//! Request routing and the topic-level commands: CREATE, DELETE, EXISTS, PUBLISH, LIST_TOPICS
//! and LIST_GROUPS, with the checks every command shares.
//!
//! Group membership and seeks live in `members`, FETCH in `fetch`, acknowledgements in `ack`,
//! SEEK_TIME and LIST_DLQ in `lookup`. This module must not encode records (that is `journal`
//! and `data`) or decide durability (that is `durable`); it states what changed.

use std::sync::Arc;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::StreamOptions;
use nexo_proto::reply::{StreamGroupInfo, StreamTopicInfo};
use nexo_proto::request::StreamRequest;

use super::cache::Cached;
use super::data::{self, DATA_HEADER_BYTES};
use super::durable::Wait;
use super::fetch::{FetchArgs, TOO_MANY_PENDING_TEXT};
use super::journal::{Record, TopicSettings};
use super::members::Who;
use super::topic::{Opening, Unopened};
use super::{MAX_PAGE, Stream};
use crate::ids::ConnId;
use crate::output::Output;
use crate::queue::validate_name;
use crate::time::Now;

/// ERR text of PUBLISH, FETCH, JOIN and every other command naming a missing topic.
pub const TOPIC_NOT_FOUND_TEXT: &str = "Topic not found";
/// ERR text of EXISTS on a missing topic.
pub const EXISTS_NOT_FOUND_TEXT: &str = "Stream not found";

/// Largest message a PUBLISH accepts: a data record must stay within what the storage takes
/// (16 MiB), whatever the frame limit says. A larger one is answered
/// `Message too large: N bytes (max M)`.
pub const MAX_MESSAGE_BYTES: usize = (16 << 20) - DATA_HEADER_BYTES;

impl Stream {
    /// Routes one request.
    pub(super) fn dispatch(&mut self, now: Now, conn: ConnId, req: u32, request: StreamRequest) {
        use StreamRequest as R;
        match request {
            R::Create { topic, options } => self.create(conn, req, &topic, options),
            R::Publish { topic, payload } => self.publish(now, conn, req, &topic, payload),
            R::Fetch { topic, group, consumer_id, generation, limit, wait_ms } => {
                let who = Who { topic: &topic, group: &group, consumer_id: &consumer_id, generation };
                self.fetch(now, conn, req, &who, FetchArgs { limit, wait_ms: u64::from(wait_ms) });
            }
            R::Join { group, topic } => self.join(conn, req, &topic, &group),
            R::Ack { topic, group, consumer_id, generation, seq } => {
                let who = Who { topic: &topic, group: &group, consumer_id: &consumer_id, generation };
                self.ack(conn, req, &who, seq);
            }
            R::AckBatch { topic, group, consumer_id, generation, seqs } => {
                let who = Who { topic: &topic, group: &group, consumer_id: &consumer_id, generation };
                self.ack_batch(conn, req, &who, &seqs);
            }
            R::Nack { topic, group, consumer_id, generation, seq, delay_ms } => {
                let who = Who { topic: &topic, group: &group, consumer_id: &consumer_id, generation };
                self.nack(now, conn, req, &who, seq, delay_ms);
            }
            R::Leave { topic, group, consumer_id, generation } => {
                let who = Who { topic: &topic, group: &group, consumer_id: &consumer_id, generation };
                self.leave(conn, req, &who);
            }
            R::Exists { topic } => {
                let reply = if self.meta.topics.contains_key(topic.as_str()) {
                    Reply::Ok
                } else {
                    Reply::Err(EXISTS_NOT_FOUND_TEXT.to_owned())
                };
                self.reply(conn, req, reply);
            }
            R::Delete { topic } => self.delete(conn, req, &topic),
            R::Seek { topic, group, target } => self.seek(conn, req, &topic, &group, target),
            R::SeekSeq { topic, group, seq } => self.seek_seq(conn, req, &topic, &group, seq),
            R::SeekTime { topic, group, timestamp_ms } => {
                self.seek_time(conn, req, &topic, &group, timestamp_ms)
            }
            R::ListDlq { topic, group, offset, limit } => {
                self.list_dlq(conn, req, &topic, &group, offset, limit)
            }
            R::ReplayDlq { topic, group, seq } => self.replay_dlq(conn, req, &topic, &group, seq),
            R::DeleteGroup { topic, group } => self.delete_group(conn, req, &topic, &group),
            R::ListTopics { offset, limit } => self.list_topics(conn, req, offset, limit),
            R::ListGroups { topic, offset, limit } => self.list_groups(conn, req, &topic, offset, limit),
        }
    }

    /// Answers now, or behind the connection's held replies.
    pub(super) fn reply(&mut self, conn: ConnId, req: u32, reply: Reply) {
        self.durable.reply(conn, req, reply, &mut self.outputs);
    }

    /// Answers `ERR text` in order.
    pub(super) fn err(&mut self, conn: ConnId, req: u32, text: impl Into<String>) {
        self.reply(conn, req, Reply::Err(text.into()));
    }

    /// Answers once journal record `seq` is durable (or in order, when `seq` is `None`).
    pub(super) fn reply_after_journal(&mut self, seq: Option<u64>, conn: ConnId, req: u32, reply: Reply) {
        match seq {
            Some(seq) => self.durable.reply_after(Wait::Journal(seq), conn, req, reply, &mut self.outputs),
            None => self.reply(conn, req, reply),
        }
    }

    /// Whether the journal still takes writes; answers `Storage unavailable: …` when not.
    pub(super) fn check_writable(&mut self, conn: ConnId, req: u32) -> bool {
        match self.durable.failed.clone() {
            None => true,
            Some(text) => {
                self.err(conn, req, text);
                false
            }
        }
    }

    /// Whether `name` is a valid topic or group name; answers `Invalid name: …` when not.
    pub(super) fn check_name(&mut self, conn: ConnId, req: u32, name: &str) -> bool {
        match validate_name(name, self.config.name_limit()) {
            Ok(()) => true,
            Err(e) => {
                self.reply(conn, req, Reply::error(e));
                false
            }
        }
    }

    /// Whether topic `name` exists; answers `Topic not found` when not.
    pub(super) fn check_topic(&mut self, conn: ConnId, req: u32, name: &str) -> bool {
        if self.meta.topics.contains_key(name) {
            return true;
        }
        self.err(conn, req, TOPIC_NOT_FOUND_TEXT);
        false
    }

    fn create(&mut self, conn: ConnId, req: u32, name: &str, options: StreamOptions) {
        if !self.check_name(conn, req, name) {
            return;
        }
        if self.meta.topics.contains_key(name) {
            // Idempotent; the reply still waits until the topic's own record is durable.
            return self.durable.reply_after_all(conn, req, Reply::Ok, &mut self.outputs);
        }
        if !self.check_writable(conn, req) {
            return;
        }
        if self.meta.topics.len() >= self.config.max_topics {
            return self.err(conn, req, format!("Too many topics (max {})", self.config.max_topics));
        }
        let retention = options.retention.unwrap_or_default();
        let settings = TopicSettings {
            incarnation: self.meta.next_incarnation,
            base: self.meta.take_base(name),
            max_age_ms: retention.max_age_ms.unwrap_or(self.config.default_max_age_ms),
            max_bytes: retention.max_bytes.unwrap_or(self.config.default_max_bytes),
        };
        let seq = self.durable.append(&Record::TopicCreate { topic: name, settings }, &mut self.outputs);
        self.meta.insert_topic(name, settings, Opening::Fresh { retried: false }, Some(seq));
        let Some((key, t)) = self.meta.topics.get_key_value(name) else { return };
        self.logs.insert(t.log.clone(), key.clone());
        self.uncommitted.insert(seq, key.clone());
        self.outputs.push_back(Output::OpenLog { log: t.log.clone(), next_seq_min: 1 });
        self.reply_after_journal(Some(seq), conn, req, Reply::Ok);
    }

    fn delete(&mut self, conn: ConnId, req: u32, name: &str) {
        if !self.meta.topics.contains_key(name) {
            return self.reply(conn, req, Reply::Ok);
        }
        if !self.check_writable(conn, req) {
            return;
        }
        let groups: Vec<Arc<str>> =
            self.meta.topics.get(name).map(|t| t.groups.keys().cloned().collect()).unwrap_or_default();
        for group in &groups {
            self.remove_group(name, group);
        }
        self.cancel_lookups_of(name);
        let Some(mut t) = self.meta.topics.remove(name) else { return };
        for u in t.unopened.drain(..) {
            self.outputs.push_back(Output::Reply {
                conn: u.conn,
                id: u.id,
                reply: Reply::Err(TOPIC_NOT_FOUND_TEXT.to_owned()),
            });
        }
        self.cache_bytes = self.cache_bytes.saturating_sub(t.cache.bytes());
        let last_seq = t.next_wire().saturating_sub(1).max(t.settings.base);
        let seq = self.durable.append(&Record::TopicDelete { topic: name, last_seq }, &mut self.outputs);
        self.meta.bury(name, last_seq);
        self.logs.remove(&t.log);
        self.durable.forget_data(&t.log, &mut self.outputs);
        self.durable.remove_after(seq, t.log);
        self.reply_after_journal(Some(seq), conn, req, Reply::Ok);
    }

    fn publish(&mut self, now: Now, conn: ConnId, req: u32, name: &str, payload: Bytes) {
        let journal_failed = self.durable.failed.clone();
        let Some(t) = self.meta.topics.get_mut(name) else {
            return self.err(conn, req, TOPIC_NOT_FOUND_TEXT);
        };
        if let Some(text) = t.failed.clone() {
            return self.err(conn, req, text);
        }
        if let (Some(text), Some(_)) = (journal_failed, t.create_seq) {
            return self.err(conn, req, text);
        }
        if payload.len() > MAX_MESSAGE_BYTES {
            let text = format!("Message too large: {} bytes (max {MAX_MESSAGE_BYTES})", payload.len());
            return self.err(conn, req, text);
        }
        let timestamp_ms = now.wall_ms.max(t.last_ts);
        t.last_ts = timestamp_ms;
        if t.opening.is_some() {
            if t.unopened.len() >= self.config.max_parked_per_conn {
                return self.err(conn, req, TOO_MANY_PENDING_TEXT);
            }
            t.unopened.push_back(Unopened { conn, id: req, timestamp_ms, payload });
            return;
        }
        self.append_message(name, conn, req, timestamp_ms, &payload);
    }

    /// Appends one message to the topic's data log and caches it; the reply waits until it is
    /// durable.
    pub(super) fn append_message(
        &mut self,
        name: &str,
        conn: ConnId,
        req: u32,
        timestamp_ms: u64,
        payload: &[u8],
    ) {
        let config = self.config;
        let Some(t) = self.meta.topics.get_mut(name) else { return };
        let log_seq = t.next_log;
        t.next_log += 1;
        let seq = t.wire(log_seq);
        let record = data::encode(timestamp_ms, payload);
        let stored = record.slice(DATA_HEADER_BYTES..);
        let freed = t.cache.push(Cached { seq, timestamp_ms, payload: stored });
        let trimmed = t.cache.trim(config.cache_max_messages, config.cache_max_bytes);
        self.cache_bytes = (self.cache_bytes + payload.len()).saturating_sub(freed + trimmed);
        t.counters.published += 1;
        t.counters.published_bytes += payload.len() as u64;
        self.totals.published += 1;
        self.totals.published_bytes += payload.len() as u64;
        let wait = Wait::Data { log: t.log.clone(), seq: log_seq, after_journal: t.create_seq };
        self.outputs.push_back(Output::Append { log: t.log.clone(), seq: log_seq, record });
        self.durable.reply_after(wait, conn, req, Reply::Seq(seq), &mut self.outputs);
        self.trim_total_cache(name);
    }

    /// Keeps the cached bytes of all topics within the total: the topic just published to
    /// gives up its oldest messages first, then the others in name order.
    fn trim_total_cache(&mut self, first: &str) {
        let limit = self.config.cache_total_bytes;
        if self.cache_bytes <= limit {
            return;
        }
        if let Some(t) = self.meta.topics.get_mut(first) {
            while self.cache_bytes > limit {
                let Some(freed) = t.cache.pop_front() else { break };
                self.cache_bytes = self.cache_bytes.saturating_sub(freed);
            }
        }
        for t in self.meta.topics.values_mut() {
            if self.cache_bytes <= limit {
                break;
            }
            self.cache_bytes = self.cache_bytes.saturating_sub(t.cache.clear());
        }
    }

    fn list_topics(&mut self, conn: ConnId, req: u32, offset: u32, limit: u32) {
        let limit = (limit as usize).min(MAX_PAGE);
        let topics = self
            .meta
            .topics
            .values()
            .skip(offset as usize)
            .take(limit)
            .map(|t| StreamTopicInfo {
                name: t.name.to_string(),
                first_seq: t.first_wire(),
                last_seq: t.last_visible(),
                max_age_ms: t.settings.max_age_ms,
                max_bytes: t.settings.max_bytes,
                groups: u32::try_from(t.groups.len()).unwrap_or(u32::MAX),
            })
            .collect();
        let total = u32::try_from(self.meta.topics.len()).unwrap_or(u32::MAX);
        self.reply(conn, req, Reply::StreamTopics { total, topics });
    }

    fn list_groups(&mut self, conn: ConnId, req: u32, topic: &str, offset: u32, limit: u32) {
        let Some(t) = self.meta.topics.get(topic) else {
            return self.err(conn, req, TOPIC_NOT_FOUND_TEXT);
        };
        let last = t.last_visible();
        let limit = (limit as usize).min(MAX_PAGE);
        let groups = t
            .groups
            .values()
            .skip(offset as usize)
            .take(limit)
            .map(|g| StreamGroupInfo {
                name: g.name.to_string(),
                generation: g.generation,
                ack_floor: g.floor,
                lag: last.saturating_sub(g.floor),
                pending: g.outstanding() as u64,
                members: u32::try_from(g.members.len()).unwrap_or(u32::MAX),
                dead: u32::try_from(g.dlq.len()).unwrap_or(u32::MAX),
            })
            .collect();
        let total = u32::try_from(t.groups.len()).unwrap_or(u32::MAX);
        self.reply(conn, req, Reply::StreamGroups { total, groups });
    }
}
