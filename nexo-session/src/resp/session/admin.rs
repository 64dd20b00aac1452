//! Server introspection a RESP session answers itself: COMMAND (bare, COUNT, INFO, DOCS, LIST,
//! GETKEYS, HELP), TIME, LASTSAVE, SAVE, BGSAVE, PUBSUB, SLOWLOG and LATENCY.
//!
//! Owns their replies in Redis 7's layouts, built from the command table (`commands`), its
//! metadata (`catalog`) and the client table; the time is the session's `now` input. The Store
//! is volatile by design, so SAVE and BGSAVE answer an error, and LASTSAVE the start time.
//! Nexo keeps no slow log or latency samples yet: SLOWLOG and LATENCY answer empty.

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use nexo_engine::Now;
use nexo_engine::glob::Glob;
use nexo_proto::resp::encode as enc;

use super::super::catalog;
use super::super::commands::{self, Command};
use super::RespSession;
use crate::resp::Action;

/// SAVE's and BGSAVE's error.
pub const VOLATILE: &str = "ERR Nexo's Store is volatile by design: there is nothing to save to disk";

impl RespSession {
    /// COMMAND [subcommand ...].
    pub(super) fn command_command(&mut self, rest: &[Bytes], out: &mut Vec<Action>) {
        let mut b = BytesMut::new();
        match rest.first().map(|s| s.to_ascii_uppercase()).as_deref() {
            None => self.command_infos(&mut b, &Command::names()),
            Some(b"COUNT") if rest.len() == 1 => enc::integer(&mut b, Command::count() as i64),
            Some(b"INFO") if rest.len() == 1 => self.command_infos(&mut b, &Command::names()),
            Some(b"INFO") => {
                enc::array(&mut b, rest.len() - 1);
                for name in &rest[1..] {
                    match Command::lookup(&name.to_ascii_uppercase()) {
                        Some(c) => {
                            let meta = catalog::meta(c.name).unwrap_or(catalog::UNKNOWN);
                            catalog::encode_info(&mut b, self.version, c.name, c.arity(), &meta);
                        }
                        None => enc::null_array(&mut b, self.version),
                    }
                }
            }
            Some(b"DOCS") => {
                let names: Vec<&'static str> = if rest.len() == 1 {
                    Command::names()
                } else {
                    rest[1..]
                        .iter()
                        .filter_map(|n| Command::lookup(&n.to_ascii_uppercase()))
                        .map(|c| c.name)
                        .collect()
                };
                enc::map(&mut b, names.len(), self.version);
                for name in names {
                    enc::bulk(&mut b, name.as_bytes());
                    catalog::encode_docs(
                        &mut b,
                        self.version,
                        &catalog::meta(name).unwrap_or(catalog::UNKNOWN),
                    );
                }
            }
            Some(b"LIST") => match commands::list_names(&rest[1..]) {
                Ok(names) => {
                    enc::array(&mut b, names.len());
                    names.iter().for_each(|n| enc::bulk(&mut b, n.as_bytes()));
                }
                Err(e) => return self.error(out, &e),
            },
            Some(b"GETKEYS") if rest.len() >= 2 => match getkeys(&rest[1..]) {
                Ok(keys) => {
                    enc::array(&mut b, keys.len());
                    keys.iter().for_each(|k| enc::bulk(&mut b, k));
                }
                Err(e) => return self.error(out, e),
            },
            Some(b"HELP") if rest.len() == 1 => help(&mut b, COMMAND_HELP),
            Some(b"COUNT" | b"GETKEYS" | b"HELP") => {
                let sub = String::from_utf8_lossy(&rest[0]).to_ascii_lowercase();
                return self.error(out, &commands::wrong_arity(&format!("command|{sub}")));
            }
            Some(_) => {
                let sub = String::from_utf8_lossy(&rest[0]);
                return self.error(out, &format!("ERR unknown subcommand '{sub}'. Try COMMAND HELP."));
            }
        }
        self.local(out, b);
    }

    fn command_infos(&self, b: &mut BytesMut, names: &[&'static str]) {
        enc::array(b, names.len());
        for name in names {
            let arity = Command::lookup(name.as_bytes()).map_or(0, |c| c.arity());
            let meta = catalog::meta(name).unwrap_or(catalog::UNKNOWN);
            catalog::encode_info(b, self.version, name, arity, &meta);
        }
    }

    /// TIME: `[seconds, microseconds]` of the wall clock the session was given.
    pub(super) fn time(&mut self, now: Now, out: &mut Vec<Action>) {
        let mut b = BytesMut::new();
        enc::array(&mut b, 2);
        enc::bulk(&mut b, (now.wall_ms / 1000).to_string().as_bytes());
        enc::bulk(&mut b, ((now.wall_ms % 1000) * 1000).to_string().as_bytes());
        self.local(out, b);
    }

    /// LASTSAVE: nothing is ever saved; the start time, as Redis answers before its first save.
    pub(super) fn lastsave(&mut self, now: Now, out: &mut Vec<Action>) {
        let mut b = BytesMut::new();
        let started_ms = now.wall_ms.saturating_sub(now.mono_ms);
        enc::integer(&mut b, i64::try_from(started_ms / 1000).unwrap_or(i64::MAX));
        self.local(out, b);
    }

    /// PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARDCHANNELS / SHARDNUMSUB / HELP, over the RESP
    /// clients' subscriptions.
    pub(super) fn pubsub_command(&mut self, rest: &[Bytes], out: &mut Vec<Action>) {
        let sub = rest[0].to_ascii_uppercase();
        let clients = self.ctx.registry().all();
        let mut b = BytesMut::new();
        match (&sub[..], rest.len()) {
            (b"CHANNELS" | b"SHARDCHANNELS", 1 | 2) => {
                let glob = match rest.get(1).map(|p| Glob::compile(&String::from_utf8_lossy(p))).transpose() {
                    Ok(glob) => glob,
                    Err(e) => return self.error(out, &format!("ERR {e}")),
                };
                let shard = &sub[..] == b"SHARDCHANNELS";
                let names: BTreeSet<Bytes> = clients
                    .iter()
                    .filter(|_| !shard)
                    .flat_map(|c| c.state().channels.iter().cloned().collect::<Vec<_>>())
                    .filter(|name| glob.as_ref().is_none_or(|g| g.matches(name)))
                    .collect();
                enc::array(&mut b, names.len());
                names.iter().for_each(|n| enc::bulk(&mut b, n));
            }
            (b"NUMSUB" | b"SHARDNUMSUB", _) => {
                let shard = &sub[..] == b"SHARDNUMSUB";
                enc::array(&mut b, 2 * (rest.len() - 1));
                for name in &rest[1..] {
                    let n = if shard {
                        0
                    } else {
                        clients.iter().filter(|c| c.state().channels.contains(name)).count()
                    };
                    enc::bulk(&mut b, name);
                    enc::integer(&mut b, n as i64);
                }
            }
            (b"NUMPAT", 1) => {
                let n: usize = clients.iter().map(|c| c.state().psub).sum();
                enc::integer(&mut b, n as i64);
            }
            (b"HELP", 1) => help(&mut b, PUBSUB_HELP),
            (b"CHANNELS" | b"SHARDCHANNELS" | b"NUMPAT" | b"HELP", _) => {
                let sub = String::from_utf8_lossy(&rest[0]).to_ascii_lowercase();
                return self.error(out, &commands::wrong_arity(&format!("pubsub|{sub}")));
            }
            _ => {
                let sub = String::from_utf8_lossy(&rest[0]);
                return self.error(out, &format!("ERR unknown subcommand '{sub}'. Try PUBSUB HELP."));
            }
        }
        self.local(out, b);
    }

    /// SLOWLOG GET / LEN / RESET / HELP and LATENCY LATEST / HISTORY / RESET / DOCTOR / HELP:
    /// no samples are kept, so the lists are empty.
    pub(super) fn diagnostics(&mut self, name: &str, rest: &[Bytes], out: &mut Vec<Action>) {
        let sub = rest[0].to_ascii_uppercase();
        let mut b = BytesMut::new();
        match (name, &sub[..]) {
            ("slowlog", b"GET") if rest.len() <= 2 => {
                if rest.get(1).is_some_and(|count| commands::parse_int(count).is_ok_and(|n| n >= -1))
                    != (rest.len() == 2)
                {
                    return self.error(out, "ERR count should be greater than or equal to -1");
                }
                enc::array(&mut b, 0);
            }
            ("slowlog", b"LEN") if rest.len() == 1 => enc::integer(&mut b, 0),
            ("slowlog", b"RESET") if rest.len() == 1 => enc::simple(&mut b, "OK"),
            ("latency", b"RESET") => enc::integer(&mut b, 0),
            ("latency", b"LATEST") if rest.len() == 1 => enc::array(&mut b, 0),
            ("latency", b"HISTORY") if rest.len() == 2 => enc::array(&mut b, 0),
            ("latency", b"DOCTOR") if rest.len() == 1 => {
                let text =
                    "Nexo keeps no latency samples: LATENCY answers empty. Use the dashboard's /metrics.\n";
                enc::verbatim(&mut b, text.as_bytes(), self.version);
            }
            ("slowlog", b"HELP") if rest.len() == 1 => help(&mut b, SLOWLOG_HELP),
            ("latency", b"HELP") if rest.len() == 1 => help(&mut b, LATENCY_HELP),
            _ => {
                let sub = String::from_utf8_lossy(&rest[0]);
                let upper = name.to_ascii_uppercase();
                return self.error(
                    out,
                    &format!(
                        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {upper} HELP."
                    ),
                );
            }
        }
        self.local(out, b);
    }
}

/// COMMAND GETKEYS: the keys of a command line, by its first/last/step.
fn getkeys(line: &[Bytes]) -> Result<Vec<Bytes>, &'static str> {
    let command = Command::lookup(&line[0].to_ascii_uppercase()).ok_or("ERR Invalid command specified")?;
    if !command.arity_ok(line.len()) {
        return Err("ERR Invalid number of arguments specified for command");
    }
    let meta = catalog::meta(command.name).ok_or("ERR The command has no key arguments")?;
    let keys: Vec<Bytes> = meta.keys(line).into_iter().cloned().collect();
    if keys.is_empty() {
        return Err("ERR The command has no key arguments");
    }
    Ok(keys)
}

fn help(b: &mut BytesMut, lines: &[&str]) {
    enc::array(b, lines.len());
    lines.iter().for_each(|line| enc::simple(b, line));
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands in this server.",
    "LIST",
    "    Return a list of all commands in this server.",
    "INFO [<command-name> ...]",
    "    Return details about the given commands, or all of them.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about the given commands, or all of them.",
    "GETKEYS <full-command>",
    "    Return the keys from a full command.",
    "HELP",
    "    Print this help.",
];

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels of RESP clients matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return the number of pattern subscriptions of RESP clients.",
    "NUMSUB [<channel> ...]",
    "    Return the number of RESP subscribers for the specified channels.",
    "SHARDCHANNELS [<pattern>]",
    "    No shard channels in Nexo: empty.",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    No shard channels in Nexo: zeros.",
    "HELP",
    "    Print this help.",
];

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (Nexo keeps none: empty).",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Print this help.",
];

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LATEST",
    "    Return the latest latency samples for all events (Nexo keeps none: empty).",
    "HISTORY <event>",
    "    Return latency samples for the <event>.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HELP",
    "    Print this help.",
];
