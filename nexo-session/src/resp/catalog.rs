//! What Nexo tells clients about each RESP command: flags, key positions, ACL categories and
//! documentation, for COMMAND, COMMAND INFO, DOCS, GETKEYS and LIST FILTERBY ACLCAT.
//!
//! Owns one [`Meta`] per name of the command table in `commands` (a unit test checks that every
//! served command has one) and the encoding of COMMAND INFO's and COMMAND DOCS's entries in Redis
//! 7's layout. Values follow Redis 7's own command table. Pure data; no state.

use bytes::{Bytes, BytesMut};
use nexo_proto::resp::Version;
use nexo_proto::resp::encode as enc;

/// What Redis documents about one command.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// Redis's command flags (`write`, `readonly`, `fast`, …).
    pub flags: &'static [&'static str],
    /// First key argument (1 = the first argument after the name), 0 when none.
    pub first_key: i64,
    /// Last key argument (negative counts from the end).
    pub last_key: i64,
    /// Step between keys.
    pub step: i64,
    /// Redis's documentation group (`string`, `generic`, `server`, …).
    pub group: &'static str,
    /// The Redis version that introduced it.
    pub since: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// ACL categories besides those the flags and group give (`admin`, `dangerous`).
    pub extra_categories: &'static [&'static str],
}

const fn m(
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
) -> Meta {
    Meta {
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        group,
        since,
        summary,
        extra_categories: &[],
    }
}

const fn dangerous(meta: Meta, extra: &'static [&'static str]) -> Meta {
    Meta { extra_categories: extra, ..meta }
}

const NONE: (i64, i64, i64) = (0, 0, 0);
const ONE: (i64, i64, i64) = (1, 1, 1);
const ALL: (i64, i64, i64) = (1, -1, 1);
const CONN: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const RO_FAST: &[&str] = &["readonly", "fast"];
const W_FAST: &[&str] = &["write", "fast"];
const W_OOM: &[&str] = &["write", "denyoom"];
const W_OOM_FAST: &[&str] = &["write", "denyoom", "fast"];
const PUBSUB: &[&str] = &["pubsub", "noscript", "loading", "stale"];
const ADMIN: &[&str] = &["admin", "dangerous"];

/// What a command without an entry reports (the completeness test keeps this unused).
pub const UNKNOWN: Meta = m(&[], NONE, "generic", "7.2.0", "");

/// The metadata of command `name` (a name of the command table).
pub fn meta(name: &str) -> Option<Meta> {
    let conn = "connection";
    Some(match name {
        "ping" => m(&["fast", "sentinel"], NONE, conn, "1.0.0", "Returns the server's liveliness response."),
        "echo" => m(&["fast"], NONE, conn, "1.0.0", "Returns the given string."),
        "select" => m(&["loading", "stale", "fast"], NONE, conn, "1.0.0", "Changes the selected database."),
        "quit" => m(
            &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
            NONE,
            conn,
            "1.0.0",
            "Closes the connection.",
        ),
        "hello" => m(
            &["noscript", "loading", "stale", "fast", "no_auth", "sentinel", "allow_busy"],
            NONE,
            conn,
            "6.0.0",
            "Handshakes with the Redis server.",
        ),
        "client" => m(&[], NONE, conn, "2.4.0", "A container for client connection commands."),
        "reset" => m(
            &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
            NONE,
            conn,
            "6.2.0",
            "Resets the connection.",
        ),
        "command" => m(
            &["loading", "stale", "sentinel"],
            NONE,
            "server",
            "2.8.13",
            "Returns detailed information about all commands.",
        ),
        "info" => dangerous(
            m(
                &["loading", "stale", "sentinel"],
                NONE,
                "server",
                "1.0.0",
                "Returns information and statistics about the server.",
            ),
            &["dangerous"],
        ),
        "config" => m(&[], NONE, "server", "2.0.0", "A container for server configuration commands."),
        "time" => m(&["loading", "stale", "fast"], NONE, "server", "2.6.0", "Returns the server time."),
        "lastsave" => dangerous(
            m(
                &["loading", "stale", "fast"],
                NONE,
                "server",
                "1.0.0",
                "Returns the Unix timestamp of the last successful save to disk.",
            ),
            &["admin", "dangerous"],
        ),
        "save" => dangerous(
            m(
                &["admin", "noscript", "no_async_loading", "no_multi"],
                NONE,
                "server",
                "1.0.0",
                "Synchronously saves the database(s) to disk.",
            ),
            ADMIN,
        ),
        "bgsave" => dangerous(
            m(
                &["admin", "noscript", "no_async_loading"],
                NONE,
                "server",
                "1.0.0",
                "Asynchronously saves the database(s) to disk.",
            ),
            ADMIN,
        ),
        "slowlog" => m(&[], NONE, "server", "2.2.12", "A container for slow log commands."),
        "latency" => m(&[], NONE, "server", "2.8.13", "A container for latency diagnostics commands."),
        "dbsize" => m(RO_FAST, NONE, "server", "1.0.0", "Returns the number of keys in the database."),
        "flushall" => dangerous(
            m(&["write"], NONE, "server", "1.0.0", "Removes all keys from all databases."),
            &["dangerous"],
        ),
        "flushdb" => dangerous(
            m(&["write"], NONE, "server", "1.0.0", "Remove all keys from the current database."),
            &["dangerous"],
        ),
        "get" => m(RO_FAST, ONE, "string", "1.0.0", "Returns the string value of a key."),
        "set" => m(
            W_OOM,
            ONE,
            "string",
            "1.0.0",
            "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        ),
        "setnx" => m(
            W_OOM_FAST,
            ONE,
            "string",
            "1.0.0",
            "Set the string value of a key only when the key doesn't exist.",
        ),
        "setex" => m(
            W_OOM,
            ONE,
            "string",
            "2.0.0",
            "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        ),
        "psetex" => m(
            W_OOM,
            ONE,
            "string",
            "2.6.0",
            "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        ),
        "getdel" => {
            m(W_FAST, ONE, "string", "6.2.0", "Returns the string value of a key after deleting the key.")
        }
        "getex" => m(
            W_FAST,
            ONE,
            "string",
            "6.2.0",
            "Returns the string value of a key after setting its expiration time.",
        ),
        "mget" => {
            m(RO_FAST, ALL, "string", "1.0.0", "Atomically returns the string values of one or more keys.")
        }
        "mset" => m(
            W_OOM,
            (1, -1, 2),
            "string",
            "1.0.1",
            "Atomically creates or modifies the string values of one or more keys.",
        ),
        "incr" => m(
            W_OOM_FAST,
            ONE,
            "string",
            "1.0.0",
            "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        ),
        "incrby" => m(
            W_OOM_FAST,
            ONE,
            "string",
            "1.0.0",
            "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        ),
        "decr" => m(
            W_OOM_FAST,
            ONE,
            "string",
            "1.0.0",
            "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        ),
        "decrby" => m(
            W_OOM_FAST,
            ONE,
            "string",
            "1.0.0",
            "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        ),
        "append" => m(
            W_OOM_FAST,
            ONE,
            "string",
            "2.0.0",
            "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        ),
        "strlen" => m(RO_FAST, ONE, "string", "2.2.0", "Returns the length of a string value."),
        "del" => m(&["write"], ALL, "generic", "1.0.0", "Deletes one or more keys."),
        "unlink" => m(W_FAST, ALL, "generic", "4.0.0", "Asynchronously deletes one or more keys."),
        "exists" => m(RO_FAST, ALL, "generic", "1.0.0", "Determines whether one or more keys exist."),
        "expire" => m(W_FAST, ONE, "generic", "1.0.0", "Sets the expiration time of a key in seconds."),
        "pexpire" => m(W_FAST, ONE, "generic", "2.6.0", "Sets the expiration time of a key in milliseconds."),
        "expireat" => {
            m(W_FAST, ONE, "generic", "1.2.0", "Sets the expiration time of a key to a Unix timestamp.")
        }
        "pexpireat" => m(
            W_FAST,
            ONE,
            "generic",
            "2.6.0",
            "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        ),
        "ttl" => m(RO_FAST, ONE, "generic", "1.0.0", "Returns the expiration time in seconds of a key."),
        "pttl" => {
            m(RO_FAST, ONE, "generic", "2.6.0", "Returns the expiration time in milliseconds of a key.")
        }
        "persist" => m(W_FAST, ONE, "generic", "2.2.0", "Removes the expiration time of a key."),
        "type" => m(RO_FAST, ONE, "generic", "1.0.0", "Determines the type of value stored at a key."),
        "keys" => dangerous(
            m(&["readonly"], NONE, "generic", "1.0.0", "Returns all key names that match a pattern."),
            &["dangerous"],
        ),
        "scan" => m(&["readonly"], NONE, "generic", "2.8.0", "Iterates over the key names in the database."),
        "rename" => {
            m(&["write"], (1, 2, 1), "generic", "1.0.0", "Renames a key and overwrites the destination.")
        }
        "publish" => m(
            &["pubsub", "loading", "stale", "fast"],
            NONE,
            "pubsub",
            "2.0.0",
            "Posts a message to a channel.",
        ),
        "subscribe" => m(PUBSUB, NONE, "pubsub", "2.0.0", "Listens for messages published to channels."),
        "psubscribe" => m(
            PUBSUB,
            NONE,
            "pubsub",
            "2.0.0",
            "Listens for messages published to channels that match one or more patterns.",
        ),
        "unsubscribe" => {
            m(PUBSUB, NONE, "pubsub", "2.0.0", "Stops listening to messages posted to channels.")
        }
        "punsubscribe" => m(
            PUBSUB,
            NONE,
            "pubsub",
            "2.0.0",
            "Stops listening to messages published to channels that match one or more patterns.",
        ),
        "pubsub" => m(&[], NONE, "pubsub", "2.8.0", "A container for Pub/Sub commands."),
        "multi" => m(CONN, NONE, "transactions", "1.2.0", "Starts a transaction."),
        "exec" => m(
            &["noscript", "loading", "stale", "skip_slowlog"],
            NONE,
            "transactions",
            "1.2.0",
            "Executes all commands in a transaction.",
        ),
        "discard" => m(CONN, NONE, "transactions", "2.0.0", "Discards a transaction."),
        "watch" => m(
            CONN,
            ALL,
            "transactions",
            "2.2.0",
            "Monitors changes to keys to determine the execution of a transaction.",
        ),
        "unwatch" => m(CONN, NONE, "transactions", "2.2.0", "Forgets about watched keys of a transaction."),
        "auth" => m(
            &["noscript", "loading", "stale", "fast", "no_auth", "sentinel", "allow_busy"],
            NONE,
            conn,
            "1.0.0",
            "Authenticates the connection.",
        ),
        "acl" => m(&["sentinel"], NONE, "server", "6.0.0", "A container for Access List Control commands."),
        _ => return None,
    })
}

impl Meta {
    /// Redis's ACL categories: read/write and fast/slow from the flags, the group's own, extras.
    pub fn categories(&self) -> Vec<&'static str> {
        let has = |flag: &str| self.flags.contains(&flag);
        let mut out = Vec::new();
        let group = match self.group {
            "string" => Some("string"),
            "generic" => Some("keyspace"),
            "pubsub" => Some("pubsub"),
            "connection" => Some("connection"),
            "transactions" => Some("transaction"),
            _ => None,
        };
        if has("write") || has("readonly") {
            out.push("keyspace");
        }
        out.extend(group.filter(|g| !out.contains(g)));
        out.extend(has("write").then_some("write"));
        out.extend(has("readonly").then_some("read"));
        for extra in self.extra_categories {
            if !out.contains(extra) {
                out.push(extra);
            }
        }
        out.push(if has("fast") { "fast" } else { "slow" });
        out
    }

    /// The key arguments of `args` (the command name first), by first/last/step.
    pub fn keys<'a>(&self, args: &'a [Bytes]) -> Vec<&'a Bytes> {
        let Ok(first) = usize::try_from(self.first_key) else { return Vec::new() };
        if first == 0 || self.step <= 0 {
            return Vec::new();
        }
        let argc = i64::try_from(args.len()).unwrap_or(i64::MAX);
        let last = if self.last_key < 0 { argc + self.last_key } else { self.last_key };
        let last = usize::try_from(last).unwrap_or(0).min(args.len().saturating_sub(1));
        let step = usize::try_from(self.step).unwrap_or(1);
        (first..=last).step_by(step).filter_map(|i| args.get(i)).collect()
    }
}

/// COMMAND INFO's entry: `[name, arity, flags, first, last, step, categories, tips, key specs,
/// subcommands]`, flags and categories as sets.
pub fn encode_info(out: &mut BytesMut, version: Version, name: &str, arity: i64, meta: &Meta) {
    enc::array(out, 10);
    enc::bulk(out, name.as_bytes());
    enc::integer(out, arity);
    enc::set(out, meta.flags.len(), version);
    meta.flags.iter().for_each(|f| enc::simple(out, f));
    enc::integer(out, meta.first_key);
    enc::integer(out, meta.last_key);
    enc::integer(out, meta.step);
    let categories = meta.categories();
    enc::set(out, categories.len(), version);
    categories.iter().for_each(|c| enc::simple(out, &format!("@{c}")));
    enc::array(out, 0);
    enc::array(out, 0);
    enc::array(out, 0);
}

/// COMMAND DOCS's value for one command: a map of summary, since, group and complexity.
pub fn encode_docs(out: &mut BytesMut, version: Version, meta: &Meta) {
    enc::map(out, 3, version);
    for (key, value) in [("summary", meta.summary), ("since", meta.since), ("group", meta.group)] {
        enc::bulk(out, key.as_bytes());
        enc::bulk(out, value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::commands::Command;

    #[test]
    fn every_served_command_has_metadata() {
        for name in Command::names() {
            assert!(meta(name).is_some(), "no catalog entry for {name}");
        }
    }

    #[test]
    fn categories_and_keys() {
        let get = meta("get").unwrap();
        assert_eq!(get.categories(), vec!["keyspace", "string", "read", "fast"]);
        let mset = meta("mset").unwrap();
        let args: Vec<Bytes> =
            ["MSET", "a", "1", "b", "2"].iter().map(|s| Bytes::from(s.to_string())).collect();
        let keys: Vec<&[u8]> = mset.keys(&args).into_iter().map(|k| &k[..]).collect();
        assert_eq!(keys, vec![&b"a"[..], b"b"]);
        let rename = meta("rename").unwrap();
        assert_eq!(rename.keys(&args[..3]).len(), 2);
        assert!(meta("ping").unwrap().keys(&args).is_empty());
        assert_eq!(meta("flushall").unwrap().categories(), vec!["keyspace", "write", "dangerous", "slow"]);
    }
}
