//! Group membership and positions: JOIN, LEAVE, the fencing checks, seeks (SEEK, SEEK_SEQ, and
//! the end of SEEK_TIME), DELETE_GROUP, and what a closing connection takes with it.
//!
//! Members belong to a connection and are never journaled; a group's creation, seeks and
//! deletion are. Removing a member releases its pending messages for redelivery at once and
//! ends its waiting FETCHes with an empty batch. This module must not deliver messages (that is
//! `fetch`) or acknowledge them (that is `ack`).

use std::sync::Arc;

use nexo_proto::Reply;

use super::commands::TOPIC_NOT_FOUND_TEXT;
use super::group::{GroupState, Member};
use super::journal::Record;
use super::{Stream, TimerKey};
use crate::ids::ConnId;

/// ERR text of a member request naming a group that does not exist.
pub const GROUP_NOT_FOUND_TEXT: &str = "Group not found";
/// ERR text of a member request whose generation is not the group's.
pub const FENCED_TEXT: &str = "FENCED";
/// ERR text of a member request naming no member of the group.
pub const NOT_MEMBER_TEXT: &str = "NOT_MEMBER";

/// A member as named by FETCH, ACK, NACK and LEAVE.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Who<'a> {
    pub topic: &'a str,
    pub group: &'a str,
    pub consumer_id: &'a str,
    pub generation: u64,
}

impl Stream {
    /// The fencing checks, in the spec's order: topic, group, generation, member.
    ///
    /// # Errors
    /// The ERR text to answer.
    pub(super) fn check_member(&self, who: &Who<'_>) -> Result<(), &'static str> {
        let t = self.meta.topics.get(who.topic).ok_or(TOPIC_NOT_FOUND_TEXT)?;
        let g = t.groups.get(who.group).ok_or(GROUP_NOT_FOUND_TEXT)?;
        if g.generation != who.generation {
            return Err(FENCED_TEXT);
        }
        if !g.members.contains_key(who.consumer_id) {
            return Err(NOT_MEMBER_TEXT);
        }
        Ok(())
    }

    /// The group `(topic, group)`, if both exist.
    pub(super) fn group_mut(&mut self, topic: &str, group: &str) -> Option<&mut GroupState> {
        self.meta.topics.get_mut(topic)?.groups.get_mut(group)
    }

    /// Marks a group as possibly having something for its waiters.
    pub(super) fn touch(&mut self, topic: &Arc<str>, group: &Arc<str>) {
        self.touched.insert((topic.clone(), group.clone()));
    }

    /// [`Stream::touch`] by name, when the group exists.
    pub(super) fn touch_group(&mut self, topic: &str, group: &str) {
        let Some((t, g)) =
            self.meta.topics.get_key_value(topic).and_then(|(t, topic)| {
                topic.groups.get_key_value(group).map(|(g, _)| (t.clone(), g.clone()))
            })
        else {
            return;
        };
        self.touched.insert((t, g));
    }

    /// Touches every group of `topic`.
    pub(super) fn touch_topic(&mut self, topic: &str) {
        let Some((name, t)) = self.meta.topics.get_key_value(topic) else { return };
        for g in t.groups.keys() {
            self.touched.insert((name.clone(), g.clone()));
        }
    }

    pub(super) fn join(&mut self, conn: ConnId, req: u32, topic: &str, group: &str) {
        if !self.check_name(conn, req, group) || !self.check_topic(conn, req, topic) {
            return;
        }
        let exists = self.meta.topics.get(topic).is_some_and(|t| t.groups.contains_key(group));
        if !exists && !self.create_group(conn, req, topic, group) {
            return;
        }
        let max_members = self.config.max_members_per_group;
        let Some(g) = self.group_mut(topic, group) else { return };
        if g.members.len() >= max_members {
            return self.err(conn, req, format!("Too many members (max {max_members})"));
        }
        let id = self.fresh_consumer_id(topic, group);
        let Some(t) = self.meta.topics.get_mut(topic) else { return };
        let topic_key = t.name.clone();
        let Some(g) = t.groups.get_mut(group) else { return };
        g.members
            .insert(id.clone(), Member { conn, pending: Default::default(), fetches: Default::default() });
        let reply =
            Reply::Joined { ack_floor: g.floor, generation: g.generation, consumer_id: id.to_string() };
        let (group_key, journal_seq) = (g.name.clone(), g.journal_seq);
        self.members_by_conn.entry(conn).or_default().insert((topic_key, group_key, id));
        self.reply_after_journal(journal_seq, conn, req, reply);
    }

    /// Creates group `(topic, group)` at the oldest retained message (first JOIN); answers the
    /// error and returns `false` when it cannot.
    fn create_group(&mut self, conn: ConnId, req: u32, topic: &str, group: &str) -> bool {
        if !self.check_writable(conn, req) {
            return false;
        }
        let max_groups = self.config.max_groups_per_topic;
        let Some(t) = self.meta.topics.get(topic) else { return false };
        if t.groups.len() >= max_groups {
            self.err(conn, req, format!("Too many groups (max {max_groups})"));
            return false;
        }
        let ack_floor = t.first_wire().saturating_sub(1);
        let record = Record::GroupCreate { topic, group, generation: 1, ack_floor };
        let seq = self.durable.append(&record, &mut self.outputs);
        let Some(t) = self.meta.topics.get_mut(topic) else { return false };
        let name: Arc<str> = Arc::from(group);
        t.groups.insert(name.clone(), GroupState::new(name, 1, ack_floor, Some(seq)));
        true
    }

    /// 16 hex digits from the seeded generator, not used in the group.
    fn fresh_consumer_id(&mut self, topic: &str, group: &str) -> Arc<str> {
        loop {
            let id: Arc<str> = Arc::from(format!("{:016x}", self.rng.next_u64()).as_str());
            let taken = self
                .meta
                .topics
                .get(topic)
                .and_then(|t| t.groups.get(group))
                .is_some_and(|g| g.members.contains_key(&id));
            if !taken {
                return id;
            }
        }
    }

    pub(super) fn leave(&mut self, conn: ConnId, req: u32, who: &Who<'_>) {
        if let Err(text) = self.check_member(who) {
            return self.err(conn, req, text);
        }
        self.remove_member(who.topic, who.group, who.consumer_id);
        self.reply(conn, req, Reply::Ok);
    }

    /// Removes a member: its pending messages are ready for redelivery at once and its waiting
    /// FETCHes answer an empty batch.
    pub(super) fn remove_member(&mut self, topic: &str, group: &str, id: &str) {
        let Some(t) = self.meta.topics.get_mut(topic) else { return };
        let topic_key = t.name.clone();
        let Some(g) = t.groups.get_mut(group) else { return };
        let Some(member) = g.remove_member(id) else { return };
        let group_key = g.name.clone();
        if let Some(keys) = self.members_by_conn.get_mut(&member.conn) {
            keys.retain(|(t, g, m)| !(**t == *topic && **g == *group && **m == *id));
            if keys.is_empty() {
                self.members_by_conn.remove(&member.conn);
            }
        }
        for no in member.fetches {
            self.end_fetch(no);
        }
        self.touch(&topic_key, &group_key);
    }

    /// Removes every member of a group (seek, group or topic deletion).
    fn remove_all_members(&mut self, topic: &str, group: &str) {
        let ids: Vec<Arc<str>> = self
            .meta
            .topics
            .get(topic)
            .and_then(|t| t.groups.get(group))
            .map(|g| g.members.keys().cloned().collect())
            .unwrap_or_default();
        for id in ids {
            self.remove_member(topic, group, &id);
        }
    }

    /// Removes a group from memory: members, waiters and its timer (the caller journals).
    pub(super) fn remove_group(&mut self, topic: &str, group: &str) {
        self.remove_all_members(topic, group);
        let Some(t) = self.meta.topics.get_mut(topic) else { return };
        let Some(g) = t.groups.remove(group) else { return };
        if let Some(at) = g.timer_at {
            self.timers.remove(&(at, TimerKey::Group(t.name.clone(), g.name.clone())));
        }
    }

    pub(super) fn seek(&mut self, conn: ConnId, req: u32, topic: &str, group: &str, target: u8) {
        if !self.check_topic(conn, req, topic) {
            return;
        }
        let Some(t) = self.meta.topics.get(topic) else { return };
        let position = match target {
            0 => t.first_wire(),
            1 => t.visible_end(),
            other => return self.err(conn, req, format!("Invalid seek target: {other}")),
        };
        self.apply_seek(conn, req, topic, group, position, Reply::Ok);
    }

    pub(super) fn seek_seq(&mut self, conn: ConnId, req: u32, topic: &str, group: &str, seq: u64) {
        if !self.check_topic(conn, req, topic) {
            return;
        }
        let Some(t) = self.meta.topics.get(topic) else { return };
        let position = seq.clamp(t.first_wire(), t.visible_end());
        self.apply_seek(conn, req, topic, group, position, Reply::Seq(position));
    }

    /// Moves group `(topic, group)` so that `position` is the next sequence it gets: creates it
    /// if missing, else removes its members, bumps its generation and forgets its positions.
    /// Answers `reply` once the record is durable.
    pub(super) fn apply_seek(
        &mut self,
        conn: ConnId,
        req: u32,
        topic: &str,
        group: &str,
        position: u64,
        reply: Reply,
    ) {
        if !self.check_name(conn, req, group) || !self.check_writable(conn, req) {
            return;
        }
        let max_groups = self.config.max_groups_per_topic;
        let Some(t) = self.meta.topics.get(topic) else {
            return self.err(conn, req, TOPIC_NOT_FOUND_TEXT);
        };
        let existing = t.groups.get(group).map(|g| g.generation);
        if existing.is_none() && t.groups.len() >= max_groups {
            return self.err(conn, req, format!("Too many groups (max {max_groups})"));
        }
        self.remove_all_members(topic, group);
        let generation = existing.map_or(1, |g| g.saturating_add(1));
        let ack_floor = position.saturating_sub(1);
        let record = Record::GroupSeek { topic, group, generation, ack_floor };
        let seq = self.durable.append(&record, &mut self.outputs);
        let Some(t) = self.meta.topics.get_mut(topic) else { return };
        match t.groups.get_mut(group) {
            Some(g) => g.reset(generation, ack_floor, Some(seq)),
            None => {
                let name: Arc<str> = Arc::from(group);
                t.groups.insert(name.clone(), GroupState::new(name, generation, ack_floor, Some(seq)));
            }
        }
        self.reply_after_journal(Some(seq), conn, req, reply);
    }

    pub(super) fn delete_group(&mut self, conn: ConnId, req: u32, topic: &str, group: &str) {
        if !self.check_topic(conn, req, topic) {
            return;
        }
        if !self.meta.topics.get(topic).is_some_and(|t| t.groups.contains_key(group)) {
            return self.reply(conn, req, Reply::Ok);
        }
        if !self.check_writable(conn, req) {
            return;
        }
        self.remove_group(topic, group);
        let seq = self.durable.append(&Record::GroupDelete { topic, group }, &mut self.outputs);
        self.reply_after_journal(Some(seq), conn, req, Reply::Ok);
    }

    /// `conn` closed: its FETCHes and lookups are dropped without a reply, its members leave.
    pub(super) fn disconnect(&mut self, conn: ConnId) {
        for no in self.fetches.of_conn(conn) {
            self.drop_fetch(no);
        }
        for no in self.lookups.of_conn(conn) {
            self.lookups.remove(conn, no);
        }
        let keys = self.members_by_conn.remove(&conn).unwrap_or_default();
        for (topic, group, id) in keys {
            self.remove_member(&topic, &group, &id);
        }
        self.durable.drop_conn(conn);
    }
}
