//! The Store commands added for Redis semantics (opcodes `0x0D–0x0F`, `0x40–0x4A`): SET with
//! Redis's options, counting DEL and EXISTS, GETDEL, GETEX, APPEND, STRLEN, KEYS, RENAME, DBSIZE,
//! FLUSH, INFO, and EXPIRE_AT and EXPIRE_EXT (which also serves EXPIRE).
//!
//! Owns only these commands' semantics (wire layouts in `nexo_proto::request::StoreRequest`). Like
//! `commands`, it goes through the table's API, never evicts by itself (writes that grow memory
//! call `make_room` first) and keeps expiry exact on access. Absolute deadlines arrive as
//! wall-clock milliseconds and become monotonic deadlines with the same distance from `now`.

use std::fmt::Write as _;

use bytes::Bytes;
use nexo_proto::Reply;
use nexo_proto::request::{ExpireFlags, ExpireTime, Expiry};

use crate::store::evict::Growth;
use crate::store::{MAX_KEY_BYTES, Store, StoreError};
use crate::time::Now;

type CommandResult = Result<Reply, StoreError>;

/// A KEYS reply stops before its keys exceed this many bytes; its cursor then continues as SCAN.
pub const KEYS_MAX_REPLY_BYTES: usize = 64 << 20;

fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES { Err(StoreError::KeyTooLong) } else { Ok(()) }
}

/// The monotonic deadline of wall-clock time `at_ms` (`now` itself when it has passed).
fn mono_deadline(now: Now, at_ms: u64) -> u64 {
    now.mono_ms.saturating_add(at_ms.saturating_sub(now.wall_ms))
}

impl Store {
    /// The deadline `expiry` gives a key whose current deadline is `current`.
    fn deadline_of(now: Now, expiry: Expiry, current: Option<u64>) -> Option<u64> {
        match expiry {
            Expiry::Keep => current,
            Expiry::InMs(ms) => Some(now.mono_ms.saturating_add(ms)),
            Expiry::AtMs(at_ms) => Some(mono_deadline(now, at_ms)),
            Expiry::Persist => None,
        }
    }

    /// SET with Redis's options (see `StoreRequest::SetExt`).
    pub(crate) fn set_ext(
        &mut self,
        now: Now,
        key: &[u8],
        (nx, xx, get): (bool, bool, bool),
        expiry: Expiry,
        value: &[u8],
    ) -> CommandResult {
        check_key(key)?;
        let existing = self.live(now, key);
        let entry = existing.and_then(|pos| self.table.get(pos));
        let old = entry.filter(|_| get).map(|e| e.value_bytes());
        let current_deadline = entry.and_then(|e| e.deadline_ms());
        let answer = |written: bool| match (get, old.clone()) {
            (true, Some(old)) => Reply::Data(old),
            (true, None) => Reply::Null,
            (false, _) if written => Reply::Ok,
            (false, _) => Reply::Null,
        };
        if (nx && existing.is_some()) || (xx && existing.is_none()) {
            return Ok(answer(false));
        }
        let deadline = Self::deadline_of(now, expiry, current_deadline);
        if deadline.is_some_and(|d| d <= now.mono_ms) {
            // Written and expired at once, as Redis does with a past EXAT/PXAT.
            if let Some(pos) = existing {
                self.table.remove(pos);
            }
            return Ok(answer(true));
        }
        let pos = self.make_room_for(now, key, value.len(), existing)?;
        self.write_at(now, key, pos, value, deadline);
        Ok(answer(true))
    }

    /// DEL of many keys: how many were live.
    pub(crate) fn del_count(&mut self, now: Now, keys: &[Bytes]) -> CommandResult {
        keys.iter().try_for_each(|key| check_key(key))?;
        let mut removed = 0;
        for key in keys {
            if let Some(pos) = self.live(now, key) {
                self.table.remove(pos);
                removed += 1;
            }
        }
        Ok(Reply::Int(removed))
    }

    /// EXISTS of many keys: live keys among them, each occurrence counted.
    pub(crate) fn exists(&mut self, now: Now, keys: &[Bytes]) -> CommandResult {
        keys.iter().try_for_each(|key| check_key(key))?;
        let mut found = 0;
        for key in keys {
            found += i64::from(self.live(now, key).is_some());
        }
        Ok(Reply::Int(found))
    }

    /// GETDEL: the value, and the key is gone.
    pub(crate) fn get_del(&mut self, now: Now, key: &[u8]) -> CommandResult {
        check_key(key)?;
        let Some(pos) = self.live(now, key) else { return Ok(Reply::Null) };
        Ok(self.table.remove(pos).map_or(Reply::Null, |entry| Reply::Data(entry.into_value())))
    }

    /// GETEX: the value; the deadline changes as `expiry` says (a passed one deletes the key).
    pub(crate) fn get_ex(&mut self, now: Now, key: &[u8], expiry: Expiry) -> CommandResult {
        check_key(key)?;
        let Some(pos) = self.live(now, key) else { return Ok(Reply::Null) };
        let Some(entry) = self.table.get(pos) else { return Ok(Reply::Null) };
        let value = entry.value_bytes();
        let deadline = Self::deadline_of(now, expiry, entry.deadline_ms());
        if deadline.is_some_and(|d| d <= now.mono_ms) {
            self.table.remove(pos);
            return Ok(Reply::Data(value));
        }
        let tick = self.tick();
        self.table.touch(pos, tick);
        self.table.set_deadline(pos, deadline);
        if deadline.is_some() {
            self.arm_sweep(now);
        }
        Ok(Reply::Data(value))
    }

    /// APPEND: the new length. A new key gets no deadline; an existing one keeps its own.
    pub(crate) fn append(&mut self, now: Now, key: &[u8], value: &[u8]) -> CommandResult {
        check_key(key)?;
        let existing = self.live(now, key);
        let old_len = existing.and_then(|pos| self.table.get(pos)).map_or(0, |e| e.value().len());
        let new_len = old_len + value.len();
        // `make_room` never evicts the key itself, but it may move it.
        let pos = self.make_room_for(now, key, new_len, existing)?;
        let tick = self.tick();
        match pos {
            Some(pos) => {
                self.table.append_value(pos, value);
                self.table.touch(pos, tick);
            }
            None => {
                self.table.insert(key, value, None, tick);
            }
        }
        Ok(Reply::Int(i64::try_from(new_len).unwrap_or(i64::MAX)))
    }

    /// STRLEN: the value's length, 0 when missing.
    pub(crate) fn strlen(&mut self, now: Now, key: &[u8]) -> CommandResult {
        check_key(key)?;
        let len = self.live(now, key).and_then(|pos| self.table.get(pos)).map_or(0, |e| e.value().len());
        Ok(Reply::Int(i64::try_from(len).unwrap_or(i64::MAX)))
    }

    /// RENAME: the value and deadline of `key` move to `new_key` (replacing what it held).
    pub(crate) fn rename(&mut self, now: Now, key: &[u8], new_key: &[u8]) -> CommandResult {
        check_key(key)?;
        check_key(new_key)?;
        let Some(src) = self.live(now, key) else { return Err(StoreError::NoSuchKey) };
        if key == new_key {
            return Ok(Reply::Ok);
        }
        let value_len = self.table.get(src).map_or(0, |e| e.value().len());
        let dst = self.live(now, new_key);
        // `live` on the destination may have removed an expired entry and moved the source.
        let src = self.table.find(key).ok_or(StoreError::NoSuchKey)?;
        let mut growth = Growth::of(self, new_key, value_len, dst);
        growth.replace(self, Some(src));
        self.make_room(now, growth, &|k| k == key || k == new_key)?;
        let src = self.table.find(key).ok_or(StoreError::NoSuchKey)?;
        // Read before removing: removal clears the entry's deadline.
        let deadline = self.table.get(src).and_then(|e| e.deadline_ms());
        let Some(entry) = self.table.remove(src) else { return Err(StoreError::NoSuchKey) };
        self.write(now, new_key, &entry.into_value(), deadline);
        Ok(Reply::Ok)
    }

    /// FLUSH: every key removed.
    pub(crate) fn flush(&mut self) -> Reply {
        self.table.clear();
        self.sweep_due_ms = None;
        Reply::Ok
    }

    /// EXPIRE, EXPIRE_AT and EXPIRE_EXT: a new deadline for a live key when every condition in
    /// `flags` holds (Redis's order and rules: a key without a deadline has an infinite one); a
    /// deadline not in the future deletes the key. `Flag(false)` when the key is missing or a
    /// condition fails (the key is left as it was, but counts as accessed).
    pub(crate) fn expire_ext(
        &mut self,
        now: Now,
        key: &[u8],
        flags: ExpireFlags,
        time: ExpireTime,
    ) -> CommandResult {
        check_key(key)?;
        let Some(pos) = self.live(now, key) else { return Ok(Reply::Flag(false)) };
        // Past wall-clock times and zero TTLs become `now`: still earlier than any live deadline,
        // so the comparisons below answer as they would for the exact past time.
        let deadline = match time {
            ExpireTime::InMs(ms) => now.mono_ms.saturating_add(ms),
            ExpireTime::AtMs(at_ms) => mono_deadline(now, at_ms),
        };
        let current = self.table.get(pos).and_then(|entry| entry.deadline_ms());
        let refused = (flags.nx && current.is_some())
            || (flags.xx && current.is_none())
            || (flags.gt && current.is_none_or(|c| deadline <= c))
            || (flags.lt && current.is_some_and(|c| deadline >= c));
        if refused {
            let tick = self.tick();
            self.table.touch(pos, tick);
            return Ok(Reply::Flag(false));
        }
        if deadline <= now.mono_ms {
            self.table.remove(pos);
            return Ok(Reply::Flag(true));
        }
        let tick = self.tick();
        self.table.set_deadline(pos, Some(deadline));
        self.table.touch(pos, tick);
        self.arm_sweep(now);
        Ok(Reply::Flag(true))
    }

    /// INFO: sizes and counters as `name:value` lines (Redis INFO names where one exists).
    pub(crate) fn info(&self) -> Reply {
        let s = self.stats();
        let mut text = String::new();
        let _ = write!(
            text,
            "keys:{}\r\nexpires:{}\r\nused_memory:{}\r\nmaxmemory:{}\r\nmaxmemory_policy:{}\r\n\
             evicted_keys:{}\r\nexpired_keys:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\n\
             total_commands_processed:{}\r\n",
            s.keys,
            s.keys_with_ttl,
            s.used_memory_bytes,
            s.max_memory_bytes,
            self.config.eviction,
            s.evicted_keys,
            s.expired_keys,
            s.hits,
            s.misses,
            s.commands
        );
        Reply::Data(Bytes::from(text))
    }
}
