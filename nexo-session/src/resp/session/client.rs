//! CLIENT for a RESP session: ID, GETNAME, SETNAME, SETINFO, INFO, LIST, KILL, NO-EVICT,
//! NO-TOUCH, PAUSE, UNPAUSE and HELP, with Redis 7's replies and error texts.
//!
//! Owns the connection's entry in the server-wide client table (`clients`): it is registered
//! with the session, kept current after every command (`sync_client`) and removed when the
//! session is dropped. CLIENT KILL flags the chosen connections; each closes at its next input
//! (a session cannot reach another's socket), the killer at once after its reply.

use bytes::{Bytes, BytesMut};
use nexo_engine::Now;
use nexo_proto::resp::encode as enc;

use super::super::clients::Client;
use super::super::commands::{self, SYNTAX};
use super::RespSession;
use crate::resp::Action;

/// CLIENT HELP's lines (the subcommands Nexo serves).
const HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are: ID <client-id>, TYPE (NORMAL|PUBSUB|MASTER|REPLICA),",
    "    USER <username>, ADDR <ip:port>, LADDR <ip:port>, SKIPME (YES|NO), MAXAGE <maxage>.",
    "LIST [options ...]",
    "    Return information about client connections. Options: TYPE (NORMAL|PUBSUB|MASTER|REPLICA),",
    "    ID <client-id> [<client-id> ...].",
    "NO-EVICT (ON|OFF)",
    "    Protect the current client connection from eviction (Nexo never evicts clients).",
    "NO-TOUCH (ON|OFF)",
    "    Accepted; Nexo's LRU clock is touched by every read.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Refused: Nexo cannot pause the clients of its other protocols.",
    "UNPAUSE",
    "    Nothing is ever paused: OK.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "HELP",
    "    Print this help.",
];

impl RespSession {
    /// CLIENT `rest` (arity already checked: a subcommand is there).
    pub(super) fn client_command(&mut self, now: Now, rest: &[Bytes], out: &mut Vec<Action>) {
        let sub = rest[0].to_ascii_uppercase();
        let lower = String::from_utf8_lossy(&rest[0]).to_ascii_lowercase();
        let arity_error = || commands::wrong_arity(&format!("client|{lower}"));
        let exact = match &sub[..] {
            b"ID" | b"GETNAME" | b"INFO" | b"HELP" | b"UNPAUSE" => Some(1),
            b"SETNAME" | b"NO-EVICT" | b"NO-TOUCH" => Some(2),
            b"SETINFO" => Some(3),
            _ => None,
        };
        if exact.is_some_and(|n| rest.len() != n) {
            return self.error(out, &arity_error());
        }
        let mut b = BytesMut::new();
        match &sub[..] {
            b"SETNAME" => {
                if let Err(e) = commands::valid_client_name(&rest[1]) {
                    return self.error(out, &e);
                }
                self.name = (!rest[1].is_empty()).then(|| rest[1].clone());
                enc::simple(&mut b, "OK");
            }
            b"GETNAME" => match &self.name {
                Some(name) => enc::bulk(&mut b, name),
                None => enc::null(&mut b, self.version),
            },
            b"ID" => enc::integer(&mut b, i64::try_from(self.conn.0).unwrap_or(i64::MAX)),
            b"HELP" => {
                enc::array(&mut b, HELP.len());
                HELP.iter().for_each(|line| enc::simple(&mut b, line));
            }
            b"SETINFO" => return self.set_info(&rest[1], &rest[2], out),
            b"INFO" => {
                self.sync_client();
                let line = format!("{}\n", self.client.line(now.mono_ms));
                enc::verbatim(&mut b, line.as_bytes(), self.version);
            }
            b"LIST" => return self.client_list(now, &rest[1..], out),
            b"KILL" if rest.len() >= 2 => return self.client_kill(now, &rest[1..], out),
            b"KILL" => return self.error(out, &arity_error()),
            b"NO-EVICT" | b"NO-TOUCH" => {
                let on = match &rest[1].to_ascii_uppercase()[..] {
                    b"ON" => true,
                    b"OFF" => false,
                    _ => return self.error(out, SYNTAX),
                };
                if &sub[..] == b"NO-EVICT" {
                    self.client.state().no_evict = on;
                }
                enc::simple(&mut b, "OK");
            }
            b"PAUSE" => {
                return self
                    .error(out, "ERR CLIENT PAUSE is not supported: Nexo cannot pause its other protocols");
            }
            b"UNPAUSE" => enc::simple(&mut b, "OK"),
            _ => {
                let sub = String::from_utf8_lossy(&rest[0]);
                return self.error(out, &format!("ERR unknown subcommand '{sub}'. Try CLIENT HELP."));
            }
        }
        self.local(out, b);
    }

    fn set_info(&mut self, option: &Bytes, value: &Bytes, out: &mut Vec<Action>) {
        let lib_name = match &option.to_ascii_uppercase()[..] {
            b"LIB-NAME" => true,
            b"LIB-VER" => false,
            _ => {
                let option = String::from_utf8_lossy(option);
                return self.error(out, &format!("ERR Unrecognized option '{option}'"));
            }
        };
        if value.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
            let which = if lib_name { "lib-name" } else { "lib-ver" };
            return self
                .error(out, &format!("ERR {which} cannot contain spaces, newlines or special characters."));
        }
        let value = (!value.is_empty()).then(|| value.clone());
        let mut state = self.client.state();
        if lib_name {
            state.lib_name = value
        } else {
            state.lib_ver = value
        }
        drop(state);
        self.simple(out, "OK");
    }

    /// CLIENT LIST [TYPE type] [ID id ...].
    fn client_list(&mut self, now: Now, args: &[Bytes], out: &mut Vec<Action>) {
        self.sync_client();
        let filter = match list_filter(args) {
            Ok(filter) => filter,
            Err(e) => return self.error(out, &e),
        };
        let mut text = String::new();
        for client in self.ctx.registry().all() {
            if filter.matches(&client) {
                text.push_str(&client.line(now.mono_ms));
                text.push('\n');
            }
        }
        let mut b = BytesMut::new();
        enc::verbatim(&mut b, text.as_bytes(), self.version);
        self.local(out, b);
    }

    /// CLIENT KILL addr, or CLIENT KILL option value [option value ...].
    fn client_kill(&mut self, now: Now, args: &[Bytes], out: &mut Vec<Action>) {
        if let [addr] = args {
            let addr = String::from_utf8_lossy(addr).into_owned();
            let killed =
                self.ctx.registry().kill(|c| c.endpoints().is_some_and(|e| e.peer.to_string() == addr));
            if killed == 0 {
                return self.error(out, "ERR No such client");
            }
            self.simple(out, "OK");
            return self.close_if_killed(out);
        }
        let filter = match kill_filter(args) {
            Ok(filter) => filter,
            Err(e) => return self.error(out, &e),
        };
        let me = self.conn.0;
        let killed =
            self.ctx.registry().kill(|c| (!filter.skip_me || c.id != me) && filter.matches(c, now.mono_ms));
        let mut b = BytesMut::new();
        enc::integer(&mut b, i64::try_from(killed).unwrap_or(i64::MAX));
        self.local(out, b);
        self.close_if_killed(out);
    }

    fn close_if_killed(&mut self, out: &mut Vec<Action>) {
        if self.client.is_killed() {
            self.close(out);
        }
    }

    /// Counts a call of the command at table position `index` (`rejected`: refused before it
    /// ran) and records it as the connection's last command.
    pub(super) fn note_command(
        &self,
        now: Now,
        index: usize,
        name: &'static str,
        rest: &[Bytes],
        rejected: bool,
    ) {
        self.ctx.registry().count_call(index, rejected);
        let mut state = self.client.state();
        if state.cmd.is_empty() {
            state.created_ms = now.mono_ms;
        }
        state.cmd = name;
        state.last_ms = now.mono_ms;
        state.subcommand.clear();
        if matches!(name, "client" | "command" | "config" | "pubsub" | "slowlog" | "latency" | "acl")
            && let Some(sub) = rest.first()
        {
            state.subcommand.push_str(&String::from_utf8_lossy(sub).to_ascii_lowercase());
        }
    }

    /// Copies what CLIENT LIST and PUBSUB show into the shared record (after each command).
    pub(super) fn sync_client(&self) {
        let mut state = self.client.state();
        if matches!(state.cmd, "subscribe" | "unsubscribe" | "reset" | "quit") {
            state.channels.clone_from(&self.channels);
        }
        if state.name != self.name {
            state.name.clone_from(&self.name);
        }
        state.sub = self.channels.len();
        state.psub = self.patterns.len();
        state.multi = self.multi.as_ref().map(super::multi::Multi::queued);
        state.resp = self.version.number();
    }
}

/// CLIENT LIST's filter.
#[derive(Debug, Default)]
struct ListFilter {
    kind: Option<Kind>,
    ids: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    PubSub,
    /// Master or replica: Nexo has none.
    Replication,
}

fn kind_of(client: &Client) -> Kind {
    let s = client.state();
    if s.sub + s.psub > 0 { Kind::PubSub } else { Kind::Normal }
}

fn parse_kind(arg: &[u8]) -> Result<Kind, String> {
    match &arg.to_ascii_lowercase()[..] {
        b"normal" => Ok(Kind::Normal),
        b"pubsub" => Ok(Kind::PubSub),
        b"master" | b"replica" | b"slave" => Ok(Kind::Replication),
        _ => Err(format!("ERR Unknown client type '{}'", String::from_utf8_lossy(arg))),
    }
}

fn parse_id(arg: &[u8]) -> Result<u64, String> {
    commands::parse_int(arg)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| "ERR Invalid client ID".to_owned())
}

impl ListFilter {
    fn matches(&self, client: &Client) -> bool {
        self.kind.is_none_or(|k| k == kind_of(client))
            && (self.ids.is_empty() || self.ids.contains(&client.id))
    }
}

fn list_filter(args: &[Bytes]) -> Result<ListFilter, String> {
    let mut filter = ListFilter::default();
    match args {
        [] => {}
        [option, kind] if option.eq_ignore_ascii_case(b"TYPE") => filter.kind = Some(parse_kind(kind)?),
        [option, ids @ ..] if option.eq_ignore_ascii_case(b"ID") && !ids.is_empty() => {
            filter.ids = ids.iter().map(|id| parse_id(id)).collect::<Result<_, _>>()?;
        }
        _ => return Err(SYNTAX.to_owned()),
    }
    Ok(filter)
}

/// CLIENT KILL's filters (all must hold).
#[derive(Debug)]
struct KillFilter {
    id: Option<u64>,
    kind: Option<Kind>,
    user: Option<Bytes>,
    addr: Option<String>,
    laddr: Option<String>,
    max_age_secs: Option<u64>,
    skip_me: bool,
}

impl KillFilter {
    fn matches(&self, c: &Client, now_ms: u64) -> bool {
        let ends = c.endpoints();
        self.id.is_none_or(|id| id == c.id)
            && self.kind.is_none_or(|k| k == kind_of(c))
            && self.user.as_ref().is_none_or(|u| &u[..] == b"default")
            && self.addr.as_ref().is_none_or(|a| ends.is_some_and(|e| &e.peer.to_string() == a))
            && self.laddr.as_ref().is_none_or(|a| ends.is_some_and(|e| &e.local.to_string() == a))
            && self.max_age_secs.is_none_or(|max| now_ms.saturating_sub(c.state().created_ms) / 1000 >= max)
    }
}

fn kill_filter(args: &[Bytes]) -> Result<KillFilter, String> {
    if !args.len().is_multiple_of(2) {
        return Err(SYNTAX.to_owned());
    }
    let mut f = KillFilter {
        id: None,
        kind: None,
        user: None,
        addr: None,
        laddr: None,
        max_age_secs: None,
        skip_me: true,
    };
    for pair in args.chunks(2) {
        let value = &pair[1];
        let text = || String::from_utf8_lossy(value).into_owned();
        match &pair[0].to_ascii_uppercase()[..] {
            b"ID" => {
                f.id = Some(
                    commands::parse_int(value)
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|&n| n > 0)
                        .ok_or("ERR client-id should be greater than 0")?,
                );
            }
            b"TYPE" => f.kind = Some(parse_kind(value)?),
            b"USER" => f.user = Some(value.clone()),
            b"ADDR" => f.addr = Some(text()),
            b"LADDR" => f.laddr = Some(text()),
            b"MAXAGE" => f.max_age_secs = Some(commands::parse_int(value).map(|n| n.max(0).unsigned_abs())?),
            b"SKIPME" => {
                f.skip_me = match &value.to_ascii_lowercase()[..] {
                    b"yes" => true,
                    b"no" => false,
                    _ => return Err(SYNTAX.to_owned()),
                };
            }
            _ => return Err(SYNTAX.to_owned()),
        }
    }
    Ok(f)
}
