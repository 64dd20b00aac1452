//! One function per Store request, turning a decoded [`StoreRequest`] into its [`Reply`].
//!
//! This module owns command semantics (the list is in the `store` module docs): TTL options, exact
//! expiry on access, counters, MSET's all-or-nothing memory check and the SCAN cursor. It must not
//! touch the table's layout directly beyond its API, and it never evicts by itself: every write
//! that may grow memory goes through `make_room` first.

use std::collections::HashMap;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::options::SetOptions;
use nexo_proto::request::{ExpireFlags, ExpireTime, StoreRequest};

use crate::ids::SeededState;
use crate::store::evict::Growth;
use crate::store::table::entry_bytes;
use crate::store::{MAX_KEY_BYTES, Store, StoreError};
use crate::time::Now;

type CommandResult = Result<Reply, StoreError>;

/// Rejects keys longer than [`MAX_KEY_BYTES`].
fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES { Err(StoreError::KeyTooLong) } else { Ok(()) }
}

/// Parses an ASCII decimal `i64` the way Redis does: optional `-`, digits, no `+`, no spaces, no
/// leading zeros (`0` itself is fine, `-0` is not).
pub(crate) fn parse_i64(value: &[u8]) -> Option<i64> {
    let digits = value.strip_prefix(b"-").unwrap_or(value);
    let canonical = match digits {
        [] => false,
        [b'0'] => digits.len() == value.len(),
        [first, ..] => *first != b'0' && digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

impl Store {
    /// Runs one request and returns its reply (errors become `ERR` replies with stable texts).
    pub(crate) fn execute(&mut self, now: Now, request: StoreRequest) -> Reply {
        let result = match request {
            StoreRequest::Set { key, options, value } => {
                self.set(now, &key, options, &value).map(|()| Reply::Ok)
            }
            StoreRequest::Get { key } => self.get(now, &key),
            StoreRequest::Del { key } => self.del(now, &key),
            StoreRequest::SetNx { key, options, value } => self.set_nx(now, &key, options, &value),
            StoreRequest::IncrBy { key, delta } => self.incr_by(now, &key, delta),
            StoreRequest::Expire { key, ttl_ms } => {
                self.expire_ext(now, &key, ExpireFlags::default(), ExpireTime::InMs(ttl_ms))
            }
            StoreRequest::Ttl { key } => self.ttl(now, &key),
            StoreRequest::Persist { key } => self.persist(now, &key),
            StoreRequest::MGet { keys } => self.mget(now, &keys),
            StoreRequest::MSet { options, pairs } => self.mset(now, options, &pairs),
            request @ (StoreRequest::Scan { .. } | StoreRequest::Keys { .. }) => {
                Ok(self.walk_to_end(now, request))
            }
            StoreRequest::SetExt { key, nx, xx, get, expiry, value } => {
                self.set_ext(now, &key, (nx, xx, get), expiry, &value)
            }
            StoreRequest::DelCount { keys } => self.del_count(now, &keys),
            StoreRequest::Exists { keys } => self.exists(now, &keys),
            StoreRequest::GetDel { key } => self.get_del(now, &key),
            StoreRequest::GetEx { key, expiry } => self.get_ex(now, &key, expiry),
            StoreRequest::Append { key, value } => self.append(now, &key, &value),
            StoreRequest::Strlen { key } => self.strlen(now, &key),
            StoreRequest::Rename { key, new_key } => self.rename(now, &key, &new_key),
            StoreRequest::DbSize => Ok(Reply::Int(self.table.len() as i64)),
            StoreRequest::Flush => Ok(self.flush()),
            StoreRequest::ExpireAt { key, at_ms } => {
                self.expire_ext(now, &key, ExpireFlags::default(), ExpireTime::AtMs(at_ms))
            }
            StoreRequest::Info => Ok(self.info()),
            StoreRequest::ExpireExt { key, flags, time } => self.expire_ext(now, &key, flags, time),
            // Only whole requests of a connection can be transaction commands (see `tx`).
            StoreRequest::Watch { .. } | StoreRequest::Unwatch | StoreRequest::Exec { .. } => {
                Ok(crate::store::tx::nested())
            }
        };
        result.unwrap_or_else(Reply::error)
    }

    /// Position of `key` if it exists and has not expired; an expired key is removed at once.
    pub(crate) fn live(&mut self, now: Now, key: &[u8]) -> Option<usize> {
        let pos = self.table.find(key)?;
        if self.table.get(pos)?.is_expired(now.mono_ms) {
            self.expire_at(pos);
            return None;
        }
        Some(pos)
    }

    /// The deadline a SET (or SETNX, MSET) with `options` gives its key.
    fn deadline_for(&self, now: Now, options: SetOptions) -> Option<u64> {
        if options.persist {
            return None;
        }
        let ttl_ms = match options.ttl {
            Some(seconds) if seconds > 0 => Some(seconds.saturating_mul(1000)),
            _ => self.config.default_ttl_ms,
        };
        ttl_ms.map(|ms| now.mono_ms.saturating_add(ms))
    }

    /// Stores owned copies of `key` and `value` with `deadline` (memory already made room for).
    pub(crate) fn write(&mut self, now: Now, key: &[u8], value: &[u8], deadline: Option<u64>) {
        let pos = self.table.find(key);
        self.write_at(now, key, pos, value, deadline);
    }

    /// [`Store::write`] when the entry of `key` is known to be at `pos` (`None`: not stored).
    pub(crate) fn write_at(
        &mut self,
        now: Now,
        key: &[u8],
        pos: Option<usize>,
        value: &[u8],
        deadline: Option<u64>,
    ) {
        let tick = self.tick();
        match pos {
            Some(pos) => {
                self.table.set_value(pos, value);
                self.table.set_deadline(pos, deadline);
                self.table.touch(pos, tick);
            }
            None => {
                self.table.insert(key, value, deadline, tick);
            }
        }
        if deadline.is_some() {
            self.arm_sweep(now);
        }
    }

    fn set(&mut self, now: Now, key: &[u8], options: SetOptions, value: &[u8]) -> Result<(), StoreError> {
        check_key(key)?;
        let deadline = self.deadline_for(now, options);
        let existing = self.live(now, key);
        let pos = self.make_room_for(now, key, value.len(), existing)?;
        self.write_at(now, key, pos, value, deadline);
        Ok(())
    }

    fn get(&mut self, now: Now, key: &[u8]) -> CommandResult {
        check_key(key)?;
        Ok(self.read(now, key).map_or(Reply::Null, Reply::Data))
    }

    /// A counted lookup (GET, MGET): the value of a live key, touched.
    fn read(&mut self, now: Now, key: &[u8]) -> Option<Bytes> {
        let Some(pos) = self.live(now, key) else {
            self.counters.misses += 1;
            return None;
        };
        self.counters.hits += 1;
        let tick = self.tick();
        self.table.touch(pos, tick);
        self.table.get(pos).map(|entry| entry.value_bytes())
    }

    fn del(&mut self, now: Now, key: &[u8]) -> CommandResult {
        check_key(key)?;
        if let Some(pos) = self.live(now, key) {
            self.table.remove(pos);
        }
        Ok(Reply::Ok)
    }

    fn set_nx(&mut self, now: Now, key: &[u8], options: SetOptions, value: &[u8]) -> CommandResult {
        check_key(key)?;
        if let Some(pos) = self.live(now, key) {
            let tick = self.tick();
            self.table.touch(pos, tick);
            return Ok(Reply::Flag(false));
        }
        self.set(now, key, options, value)?;
        Ok(Reply::Flag(true))
    }

    fn incr_by(&mut self, now: Now, key: &[u8], delta: i64) -> CommandResult {
        check_key(key)?;
        let existing = self.live(now, key);
        let current = match existing.and_then(|pos| self.table.get(pos)) {
            Some(entry) => parse_i64(entry.value()).ok_or(StoreError::NotAnInteger)?,
            None => 0,
        };
        let new = current.checked_add(delta).ok_or(StoreError::Overflow)?;
        let text = new.to_string().into_bytes();
        let pos = self.make_room_for(now, key, text.len(), existing)?;
        let tick = self.tick();
        match pos {
            Some(pos) => {
                // Like Redis INCR: the value changes, the deadline stays.
                self.table.set_value(pos, &text);
                self.table.touch(pos, tick);
            }
            None => {
                self.table.insert(key, &text, None, tick);
            }
        }
        Ok(Reply::Int(new))
    }

    fn ttl(&mut self, now: Now, key: &[u8]) -> CommandResult {
        check_key(key)?;
        let Some(pos) = self.live(now, key) else { return Ok(Reply::Int(-2)) };
        let tick = self.tick();
        self.table.touch(pos, tick);
        let deadline = self.table.get(pos).and_then(|entry| entry.deadline_ms());
        Ok(Reply::Int(match deadline {
            None => -1,
            Some(deadline) => i64::try_from(deadline - now.mono_ms).unwrap_or(i64::MAX),
        }))
    }

    fn persist(&mut self, now: Now, key: &[u8]) -> CommandResult {
        check_key(key)?;
        let Some(pos) = self.live(now, key) else { return Ok(Reply::Flag(false)) };
        let tick = self.tick();
        self.table.touch(pos, tick);
        let had_deadline = self.table.get(pos).is_some_and(|entry| entry.deadline_ms().is_some());
        self.table.set_deadline(pos, None);
        Ok(Reply::Flag(had_deadline))
    }

    /// Every value, or [`StoreError::ReplyTooLarge`] before anything is read: never a partial list,
    /// never a reply no frame can carry (a key named 20,000 times counts 20,000 times).
    fn mget(&mut self, now: Now, keys: &[Bytes]) -> CommandResult {
        keys.iter().try_for_each(|key| check_key(key))?;
        let mut bytes = 4usize;
        for key in keys {
            let value_len =
                self.live(now, key).and_then(|pos| self.table.get(pos)).map_or(0, |e| 4 + e.value().len());
            bytes = bytes.saturating_add(1 + value_len);
        }
        let limit = self.config.max_reply_bytes;
        if bytes > limit {
            return Err(StoreError::ReplyTooLarge { bytes, limit });
        }
        Ok(Reply::Values(keys.iter().map(|key| self.read(now, key)).collect()))
    }

    fn mset(&mut self, now: Now, options: SetOptions, pairs: &[(Bytes, Bytes)]) -> CommandResult {
        pairs.iter().try_for_each(|(key, _)| check_key(key))?;
        let deadline = self.deadline_for(now, options);
        // A key given twice keeps its last value: only that pair is written and counted.
        let mut last: HashMap<&[u8], usize, SeededState> =
            HashMap::with_capacity_and_hasher(pairs.len(), self.hasher);
        for (i, (key, _)) in pairs.iter().enumerate() {
            last.insert(&key[..], i);
        }
        let is_last = |i: usize, key: &[u8]| last.get(key) == Some(&i);
        let mut growth = Growth::default();
        for (i, (key, value)) in pairs.iter().enumerate() {
            if is_last(i, key) {
                let existing = self.live(now, key);
                growth.new_bytes += entry_bytes(key.len(), value.len());
                growth.new_keys += u64::from(existing.is_none());
                growth.replace(self, existing);
            }
        }
        self.make_room(now, growth, &|key| last.contains_key(key))?;
        for (i, (key, value)) in pairs.iter().enumerate() {
            if is_last(i, key) {
                self.write(now, key, value, deadline);
            }
        }
        Ok(Reply::Ok)
    }
}
