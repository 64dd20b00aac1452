//! MULTI, EXEC, DISCARD, WATCH and UNWATCH for a RESP session (Redis 7 semantics).
//!
//! Owns the queue of a transaction: between MULTI and EXEC each command is checked and
//! translated as it arrives and answered `+QUEUED`; a command that fails to queue (unknown,
//! wrong arity, bad syntax, not a Store command, or past the queue bounds) is answered with its
//! error and makes EXEC answer `EXECABORT`. EXEC hands the whole queue to the Store as one
//! `StoreRequest::Exec`, which the Store runs with nothing in between and answers with one reply
//! per command; the outbound side turns that into EXEC's array (`Expect::Exec`). WATCH and
//! UNWATCH are Store requests too: the Store tracks changes to watched keys. Only Store commands
//! (plus PING and ECHO, answered in place) can be queued: PUBLISH and every other broker's or
//! connection command is refused when queued, so a transaction never spans two brokers.

use bytes::{Bytes, BytesMut};
use nexo_engine::Now;
use nexo_proto::request::StoreRequest;
use nexo_proto::resp::encode as enc;

use super::super::commands;
use super::super::outbound::Expect;
use super::RespSession;
use crate::resp::Action;

/// Most commands one transaction may queue.
pub const MULTI_MAX_QUEUED: usize = 10_000;

/// A transaction being queued.
#[derive(Debug, Default)]
pub(super) struct Multi {
    /// Store requests, in order.
    commands: Vec<StoreRequest>,
    /// How each queued command's reply is encoded (local answers inline), in order.
    parts: Vec<Expect>,
    /// Argument bytes queued (bounded by the frame limit).
    bytes: usize,
    /// A command failed to queue: EXEC answers EXECABORT.
    failed: bool,
}

impl Multi {
    /// Commands queued so far (CLIENT LIST `multi`).
    pub(super) fn queued(&self) -> usize {
        self.parts.len()
    }
}

/// Commands that run at once inside MULTI rather than being queued.
pub(super) fn runs_now(name: &str) -> bool {
    matches!(name, "multi" | "exec" | "discard" | "watch" | "quit" | "reset")
}

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

impl RespSession {
    /// An error answered while a transaction is queued also dooms it (as in Redis).
    pub(super) fn queue_error(&mut self, out: &mut Vec<Action>, text: &str) {
        if let Some(multi) = &mut self.multi {
            multi.failed = true;
        }
        self.error(out, text);
    }

    pub(super) fn multi(&mut self, out: &mut Vec<Action>) {
        if self.multi.is_some() {
            return self.error(out, "ERR MULTI calls can not be nested");
        }
        self.multi = Some(Multi::default());
        self.simple(out, "OK");
    }

    /// Queues command `name` (arity already checked) or refuses it.
    pub(super) fn queue(&mut self, now: Now, name: &'static str, rest: &[Bytes], out: &mut Vec<Action>) {
        let max_bytes = self.ctx.settings.max_frame_bytes as usize;
        let Some(multi) = &self.multi else { return };
        if multi.parts.len() >= MULTI_MAX_QUEUED {
            let text = format!("ERR Transaction too long: at most {MULTI_MAX_QUEUED} commands can be queued");
            return self.queue_error(out, &text);
        }
        let bytes = multi.bytes + rest.iter().map(Bytes::len).sum::<usize>();
        if bytes > max_bytes {
            let text = format!("ERR Transaction too large: queued arguments pass {max_bytes} bytes");
            return self.queue_error(out, &text);
        }
        let queued = match name {
            "ping" if rest.len() > 1 => Err(commands::wrong_arity("ping")),
            "ping" | "echo" | "unwatch" => Ok((None, Expect::Local(local_answer(name, rest)))),
            "publish" => {
                Err("ERR PUBLISH cannot be queued: a Nexo transaction holds Store commands only".to_owned())
            }
            _ if commands::is_store_command(name) => commands::store_command(name, rest, now.wall_ms)
                .map(|(request, expect)| (Some(request), expect)),
            _ => Err("ERR Command not allowed inside a transaction".to_owned()),
        };
        match queued {
            Err(text) => self.queue_error(out, &text),
            Ok((request, expect)) => {
                if let Some(multi) = &mut self.multi {
                    multi.commands.extend(request);
                    multi.parts.push(expect);
                    multi.bytes = bytes;
                }
                self.simple(out, "QUEUED");
            }
        }
    }

    pub(super) fn exec(&mut self, out: &mut Vec<Action>) {
        let Some(multi) = self.multi.take() else {
            return self.error(out, "ERR EXEC without MULTI");
        };
        if multi.failed {
            // Redis unwatches on an aborted EXEC too (silently: the answer need not wait).
            self.error(out, EXECABORT);
            return self.store(out, StoreRequest::Unwatch, Expect::Silent);
        }
        self.store(out, StoreRequest::Exec { commands: multi.commands }, Expect::Exec(multi.parts));
    }

    pub(super) fn discard(&mut self, out: &mut Vec<Action>) {
        if self.multi.take().is_none() {
            return self.error(out, "ERR DISCARD without MULTI");
        }
        self.simple(out, "OK");
        self.store(out, StoreRequest::Unwatch, Expect::Silent);
    }

    pub(super) fn watch(&mut self, keys: &[Bytes], out: &mut Vec<Action>) {
        if self.multi.is_some() {
            return self.error(out, "ERR WATCH inside MULTI is not allowed");
        }
        self.store(out, StoreRequest::Watch { keys: keys.to_vec() }, Expect::Ok);
    }

    /// RESET and QUIT end a transaction being queued and every watch.
    pub(super) fn end_transaction(&mut self, out: &mut Vec<Action>) {
        self.multi = None;
        self.store(out, StoreRequest::Unwatch, Expect::Silent);
    }
}

/// The answer of a command queued with a local answer (PING, ECHO, UNWATCH: EXEC ends every
/// watch anyway).
fn local_answer(name: &str, rest: &[Bytes]) -> Bytes {
    let mut b = BytesMut::new();
    match (name, rest.first()) {
        ("ping" | "echo", Some(message)) => enc::bulk(&mut b, message),
        ("ping", None) => enc::simple(&mut b, "PONG"),
        _ => enc::simple(&mut b, "OK"),
    }
    b.freeze()
}
