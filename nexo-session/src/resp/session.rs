//! The read side of a RESP connection: parsing, connection state and command dispatch.
//!
//! Owns what a connection is in RESP terms (protocol version, client name, its subscriptions,
//! whether it is in RESP2 subscribe mode) and turns each command into [`Action`]s: a local
//! answer, or engine requests with connection-local sequential ids, each preceded by the slot
//! that will carry its reply. Data commands are translated in `commands`; this file answers the
//! connection-level ones (PING, ECHO, SELECT, QUIT, HELLO, CLIENT, COMMAND, INFO, CONFIG, RESET)
//! and Pub/Sub's subscribe family. It reads no clock (uptime comes in as `now`) and does no I/O.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use nexo_engine::{ConnId, Now};
use nexo_proto::request::{PubSubRequest, StoreRequest};
use nexo_proto::resp::encode as enc;
use nexo_proto::resp::{RespLimits, RespParser, Version};

use super::clients::{Client, Endpoints};
use super::commands::{self, Command};
use super::info::{self, Sections};
use super::outbound::{Expect, Slot, subscribed};
use super::{Action, RespContext};

/// The RESP side of one connection (see the module docs).
#[derive(Debug)]
pub struct RespSession {
    ctx: Arc<RespContext>,
    conn: ConnId,
    limits: RespLimits,
    /// Resumes an unfinished array where it stopped.
    parser: RespParser,
    next_id: u32,
    version: Version,
    name: Option<Bytes>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
    closed: bool,
    /// The transaction being queued (between MULTI and EXEC or DISCARD).
    multi: Option<multi::Multi>,
    /// Login, AUTH in progress, the command being handled (see `auth`).
    auth: auth::RespAuth,
    /// This connection's entry in the server's client table (see `client`).
    client: Arc<Client>,
}

impl RespSession {
    /// A session for connection `conn`.
    pub fn new(ctx: Arc<RespContext>, conn: ConnId) -> Self {
        let limits = RespLimits::from_frame_limit(ctx.settings.max_frame_bytes);
        let client = ctx.registry().register(conn.0, 0);
        Self {
            ctx,
            conn,
            limits,
            parser: RespParser::default(),
            next_id: 0,
            version: Version::Resp2,
            name: None,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            closed: false,
            multi: None,
            auth: auth::RespAuth::default(),
            client,
        }
    }

    /// Records where the connection comes from, for CLIENT LIST and KILL (the runtime knows).
    pub fn set_endpoints(&self, endpoints: Endpoints) {
        self.client.set_endpoints(endpoints);
    }

    /// The session asked to close: nothing more is parsed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The RESP version spoken now.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Parses and handles at most one command from the front of `buf`, appending its actions to
    /// `out`; `false` when no complete command is buffered (or the session is closed). A stream
    /// that cannot be framed is answered with the protocol error, then [`Action::Close`].
    pub fn handle_one(&mut self, now: Now, buf: &mut BytesMut, out: &mut Vec<Action>) -> bool {
        if self.closed || self.auth.pending() {
            return false;
        }
        if self.client.is_killed() {
            // CLIENT KILL from another connection: close without answering, as Redis does.
            buf.clear();
            self.close(out);
            return true;
        }
        match self.parser.decode(buf, &self.limits) {
            Ok(None) => false,
            Ok(Some(args)) => {
                self.handle_command(now, args, out);
                self.sync_client();
                true
            }
            Err(e) => {
                self.error(out, &e.to_string());
                self.close(out);
                buf.clear();
                true
            }
        }
    }

    fn close(&mut self, out: &mut Vec<Action>) {
        self.closed = true;
        out.push(Action::Close);
    }

    fn next_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        id
    }

    fn local(&self, out: &mut Vec<Action>, bytes: BytesMut) {
        out.push(Action::Slot(Slot {
            id: None,
            expect: Expect::Local(bytes.freeze()),
            version: self.version,
        }));
    }

    fn error(&self, out: &mut Vec<Action>, text: &str) {
        let mut b = BytesMut::new();
        enc::error(&mut b, text);
        self.local(out, b);
    }

    fn simple(&self, out: &mut Vec<Action>, text: &str) {
        let mut b = BytesMut::new();
        enc::simple(&mut b, text);
        self.local(out, b);
    }

    fn store(&mut self, out: &mut Vec<Action>, request: StoreRequest, expect: Expect) {
        if !self.permitted(crate::auth::needs::store_need(&request), out) {
            return;
        }
        let id = self.next_id();
        out.push(Action::Slot(Slot { id: Some(id), expect, version: self.version }));
        out.push(Action::Store { id, request });
    }

    fn pubsub(&mut self, out: &mut Vec<Action>, request: PubSubRequest, expect: Expect) {
        if !self.permitted(crate::auth::needs::pubsub_need(&request), out) {
            return;
        }
        let id = self.next_id();
        out.push(Action::Slot(Slot { id: Some(id), expect, version: self.version }));
        out.push(Action::PubSub { id, request });
    }

    fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    fn handle_command(&mut self, now: Now, args: Vec<Bytes>, out: &mut Vec<Action>) {
        let name = args[0].to_ascii_uppercase();
        if name == b"POST" || name == b"HOST:" {
            // An HTTP client talking to the Redis port (cross-protocol scripting): close, say nothing.
            return self.close(out);
        }
        let Some((index, command)) = Command::lookup_index(&name) else {
            return self.queue_error(out, &commands::unknown_command(&args));
        };
        let arity_ok = command.arity_ok(args.len());
        self.note_command(now, index, command.name, &args[1..], !arity_ok);
        if !arity_ok {
            return self.queue_error(out, &commands::wrong_arity(command.name));
        }
        if self.version == Version::Resp2 && self.subscriptions() > 0 && !command.allowed_subscribed() {
            return self.error(
                out,
                &format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    command.name
                ),
            );
        }
        let rest = &args[1..];
        if !self.admitted(command.name, rest, out) {
            return;
        }
        if self.multi.is_some() && !multi::runs_now(command.name) {
            return self.queue(now, command.name, rest, out);
        }
        match command.name {
            "ping" => self.ping(rest, out),
            "echo" => {
                let mut b = BytesMut::new();
                enc::bulk(&mut b, &rest[0]);
                self.local(out, b);
            }
            "select" => match commands::parse_int(&rest[0]) {
                Err(e) => self.error(out, &e),
                Ok(0) => self.simple(out, "OK"),
                Ok(_) => self.error(out, "ERR DB index is out of range"),
            },
            "quit" => {
                if self.multi.is_some() {
                    self.end_transaction(out);
                }
                self.simple(out, "OK");
                self.close(out);
            }
            "hello" => self.hello(rest, out),
            "client" => self.client_command(now, rest, out),
            "command" => self.command_command(rest, out),
            "time" => self.time(now, out),
            "lastsave" => self.lastsave(now, out),
            "save" | "bgsave" => self.error(out, admin::VOLATILE),
            "pubsub" => self.pubsub_command(rest, out),
            "slowlog" | "latency" => self.diagnostics(command.name, rest, out),
            "info" => self.info(now, rest, out),
            "config" => self.config(rest, out),
            "reset" => self.reset(out),
            "publish" => match commands::utf8_name(&rest[0]) {
                Err(e) => self.error(out, &e),
                Ok(topic) => {
                    let request = PubSubRequest::PublishCount { topic, payload: rest[1].clone() };
                    self.pubsub(out, request, Expect::Int);
                }
            },
            "subscribe" => self.subscribe(rest, false, out),
            "psubscribe" => self.subscribe(rest, true, out),
            "unsubscribe" => self.unsubscribe(rest, false, out),
            "punsubscribe" => self.unsubscribe(rest, true, out),
            "multi" => self.multi(out),
            "exec" => self.exec(out),
            "discard" => self.discard(out),
            "watch" => self.watch(rest, out),
            "auth" => self.auth_command(rest, out),
            "acl" => self.acl(rest, out),
            "unwatch" => self.store(out, StoreRequest::Unwatch, Expect::Ok),
            _ => match commands::store_command(command.name, rest, now.wall_ms) {
                Ok((request, expect)) => self.store(out, request, expect),
                Err(e) => self.error(out, &e),
            },
        }
    }

    fn ping(&mut self, rest: &[Bytes], out: &mut Vec<Action>) {
        if rest.len() > 1 {
            return self.error(out, &commands::wrong_arity("ping"));
        }
        let mut b = BytesMut::new();
        if self.version == Version::Resp2 && self.subscriptions() > 0 {
            enc::array(&mut b, 2);
            enc::bulk(&mut b, b"pong");
            enc::bulk(&mut b, rest.first().map_or(&b""[..], |m| &m[..]));
        } else if let Some(message) = rest.first() {
            enc::bulk(&mut b, message);
        } else {
            enc::simple(&mut b, "PONG");
        }
        self.local(out, b);
    }

    fn hello(&mut self, rest: &[Bytes], out: &mut Vec<Action>) {
        let mut version = self.version;
        if let Some(requested) = rest.first() {
            match commands::parse_int(requested) {
                Ok(2) => version = Version::Resp2,
                Ok(3) => version = Version::Resp3,
                Ok(_) => return self.error(out, "NOPROTO unsupported protocol version"),
                Err(_) => return self.error(out, "ERR Protocol version is not an integer or out of range"),
            }
        }
        let mut name = None;
        let mut credentials = None;
        let mut i = 1;
        while i < rest.len() {
            let option = rest[i].to_ascii_uppercase();
            match &option[..] {
                b"AUTH" if i + 2 < rest.len() => {
                    credentials = Some((rest[i + 1].clone(), rest[i + 2].clone()));
                    i += 3;
                }
                b"SETNAME" if i + 1 < rest.len() => {
                    name = Some(rest[i + 1].clone());
                    i += 2;
                }
                _ => {
                    return self.error(
                        out,
                        &format!("ERR Syntax error in HELLO option '{}'", String::from_utf8_lossy(&rest[i])),
                    );
                }
            }
        }
        if let Some(name) = name {
            if let Err(e) = commands::valid_client_name(&name) {
                return self.error(out, &e);
            }
            self.name = (!name.is_empty()).then_some(name);
        }
        if let Some((user, pass)) = credentials {
            return self.hello_auth(version, &user, &pass, out);
        }
        self.version = version;
        let mut b = BytesMut::new();
        info::hello(&mut b, version, self.conn.0);
        self.local(out, b);
    }

    fn info(&mut self, now: Now, rest: &[Bytes], out: &mut Vec<Action>) {
        let args: Vec<&[u8]> = rest.iter().map(|a| &a[..]).collect();
        let parts = info::local_parts(&self.ctx, Sections::from_args(&args), now);
        if parts.needs_store() {
            return self.store(out, StoreRequest::Info, Expect::Info(Box::new(parts)));
        }
        let mut b = BytesMut::new();
        enc::verbatim(&mut b, info::finish(&parts, b"").as_bytes(), self.version);
        self.local(out, b);
    }

    fn config(&mut self, rest: &[Bytes], out: &mut Vec<Action>) {
        let sub = rest[0].to_ascii_uppercase();
        let mut b = BytesMut::new();
        match &sub[..] {
            b"GET" if rest.len() >= 2 => {
                let patterns: Vec<&[u8]> = rest[1..].iter().map(|a| &a[..]).collect();
                info::config_get(&mut b, self.version, &self.ctx, &patterns);
            }
            b"GET" => return self.error(out, &commands::wrong_arity("config|get")),
            b"RESETSTAT" => enc::simple(&mut b, "OK"),
            b"SET" => return self.error(out, "ERR CONFIG SET is not supported; use Nexo's flags"),
            _ => {
                let sub = String::from_utf8_lossy(&rest[0]);
                return self.error(out, &format!("ERR unknown subcommand '{sub}'. Try CONFIG HELP."));
            }
        }
        self.local(out, b);
    }

    fn reset(&mut self, out: &mut Vec<Action>) {
        for channel in std::mem::take(&mut self.channels) {
            let channel = String::from_utf8_lossy(&channel).into_owned();
            self.pubsub(out, PubSubRequest::UnsubscribeChannel { channel }, Expect::Silent);
        }
        for pattern in std::mem::take(&mut self.patterns) {
            let pattern = String::from_utf8_lossy(&pattern).into_owned();
            self.pubsub(out, PubSubRequest::UnsubscribeGlob { pattern }, Expect::Silent);
        }
        self.end_transaction(out);
        self.version = Version::Resp2;
        self.name = None;
        self.simple(out, "RESET");
    }

    fn subscribe(&mut self, names: &[Bytes], glob: bool, out: &mut Vec<Action>) {
        let kind = if glob { "psubscribe" } else { "subscribe" };
        for name in names {
            let text = match commands::utf8_name(name) {
                Ok(text) => text,
                Err(e) => {
                    self.error(out, &e);
                    continue;
                }
            };
            let set = if glob { &self.patterns } else { &self.channels };
            let max = self.ctx.settings.max_subscriptions;
            if !set.contains(name) && self.subscriptions() >= max {
                self.error(out, &format!("ERR Too many subscriptions (max {max})"));
                continue;
            }
            let set = if glob { &mut self.patterns } else { &mut self.channels };
            set.insert(name.clone());
            let count = self.subscriptions();
            let expect = Expect::Subscribed { kind, name: name.clone(), count };
            let request = if glob {
                PubSubRequest::SubscribeGlob { pattern: text }
            } else {
                PubSubRequest::SubscribeChannel { channel: text }
            };
            self.pubsub(out, request, expect);
        }
    }

    fn unsubscribe(&mut self, names: &[Bytes], glob: bool, out: &mut Vec<Action>) {
        let kind = if glob { "punsubscribe" } else { "unsubscribe" };
        let set = if glob { &self.patterns } else { &self.channels };
        let names: Vec<Bytes> = if names.is_empty() { set.iter().cloned().collect() } else { names.to_vec() };
        if names.is_empty() {
            let mut b = BytesMut::new();
            subscribed(&mut b, self.version, kind, None, self.subscriptions());
            return self.local(out, b);
        }
        for name in names {
            let set = if glob { &mut self.patterns } else { &mut self.channels };
            set.remove(&name);
            let count = self.subscriptions();
            let text = String::from_utf8_lossy(&name).into_owned();
            let expect = Expect::Subscribed { kind, name, count };
            let request = if glob {
                PubSubRequest::UnsubscribeGlob { pattern: text }
            } else {
                PubSubRequest::UnsubscribeChannel { channel: text }
            };
            self.pubsub(out, request, expect);
        }
    }
}

impl Drop for RespSession {
    fn drop(&mut self) {
        self.ctx.registry().remove(self.conn.0);
    }
}

mod admin;
mod auth;
mod client;
mod multi;
#[cfg(test)]
mod tests;
