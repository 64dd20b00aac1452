//! The RESP command table and the translation of data commands into Store requests.
//!
//! Owns every command's name and arity (Redis's convention: positive = exact argument count
//! including the name, negative = at least that many), Redis's error texts for arity, syntax
//! and numbers, and how each string and key command maps onto a `StoreRequest` and the
//! [`Expect`] its reply is encoded with. Keys set over RESP never expire unless asked (Redis
//! semantics): every write carries `persist` or an explicit expiry. Pure functions; no state.

use bytes::Bytes;
use nexo_proto::options::SetOptions;
use nexo_proto::request::{ExpireFlags, ExpireTime, Expiry, StoreRequest};

use super::outbound::Expect;

/// `ERR syntax error`.
pub const SYNTAX: &str = "ERR syntax error";
/// `ERR value is not an integer or out of range`.
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";

/// One entry of the command table.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    /// Lower-case name (as Redis prints it in errors).
    pub name: &'static str,
    arity: i32,
}

const TABLE: &[Command] = &[
    Command { name: "ping", arity: -1 },
    Command { name: "echo", arity: 2 },
    Command { name: "select", arity: 2 },
    Command { name: "quit", arity: -1 },
    Command { name: "hello", arity: -1 },
    Command { name: "client", arity: -2 },
    Command { name: "command", arity: -1 },
    Command { name: "info", arity: -1 },
    Command { name: "config", arity: -2 },
    Command { name: "reset", arity: 1 },
    Command { name: "get", arity: 2 },
    Command { name: "set", arity: -3 },
    Command { name: "setnx", arity: 3 },
    Command { name: "setex", arity: 4 },
    Command { name: "psetex", arity: 4 },
    Command { name: "getdel", arity: 2 },
    Command { name: "getex", arity: -2 },
    Command { name: "mget", arity: -2 },
    Command { name: "mset", arity: -3 },
    Command { name: "incr", arity: 2 },
    Command { name: "incrby", arity: 3 },
    Command { name: "decr", arity: 2 },
    Command { name: "decrby", arity: 3 },
    Command { name: "append", arity: 3 },
    Command { name: "strlen", arity: 2 },
    Command { name: "del", arity: -2 },
    Command { name: "unlink", arity: -2 },
    Command { name: "exists", arity: -2 },
    Command { name: "expire", arity: -3 },
    Command { name: "pexpire", arity: -3 },
    Command { name: "expireat", arity: -3 },
    Command { name: "pexpireat", arity: -3 },
    Command { name: "ttl", arity: 2 },
    Command { name: "pttl", arity: 2 },
    Command { name: "persist", arity: 2 },
    Command { name: "type", arity: 2 },
    Command { name: "keys", arity: 2 },
    Command { name: "scan", arity: -2 },
    Command { name: "rename", arity: 3 },
    Command { name: "dbsize", arity: 1 },
    Command { name: "flushall", arity: -1 },
    Command { name: "flushdb", arity: -1 },
    Command { name: "publish", arity: 3 },
    Command { name: "subscribe", arity: -2 },
    Command { name: "psubscribe", arity: -2 },
    Command { name: "unsubscribe", arity: -1 },
    Command { name: "punsubscribe", arity: -1 },
    Command { name: "multi", arity: 1 },
    Command { name: "exec", arity: 1 },
    Command { name: "discard", arity: 1 },
    Command { name: "watch", arity: -2 },
    Command { name: "unwatch", arity: 1 },
    Command { name: "auth", arity: -2 },
    Command { name: "acl", arity: -2 },
    Command { name: "time", arity: 1 },
    Command { name: "lastsave", arity: 1 },
    Command { name: "save", arity: 1 },
    Command { name: "bgsave", arity: -1 },
    Command { name: "pubsub", arity: -2 },
    Command { name: "slowlog", arity: -2 },
    Command { name: "latency", arity: -2 },
];

/// Whether `name` (a table name) is a data command [`store_command`] translates, rather than
/// one the session answers or sends to another broker.
pub fn is_store_command(name: &str) -> bool {
    !matches!(
        name,
        "ping"
            | "echo"
            | "select"
            | "quit"
            | "hello"
            | "client"
            | "command"
            | "info"
            | "config"
            | "reset"
            | "publish"
            | "subscribe"
            | "psubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "multi"
            | "exec"
            | "discard"
            | "watch"
            | "unwatch"
            | "auth"
            | "acl"
            | "time"
            | "lastsave"
            | "save"
            | "bgsave"
            | "pubsub"
            | "slowlog"
            | "latency"
    )
}

impl Command {
    /// The command named `upper` (already upper-cased), if Nexo knows it.
    pub fn lookup(upper: &[u8]) -> Option<Self> {
        Self::lookup_index(upper).map(|(_, command)| command)
    }

    /// The command named `upper` with its position in the table (per-command counters).
    pub fn lookup_index(upper: &[u8]) -> Option<(usize, Self)> {
        TABLE.iter().copied().enumerate().find(|(_, c)| c.name.as_bytes().eq_ignore_ascii_case(upper))
    }

    /// Redis's arity: the exact argument count (name included), or minus the least.
    pub fn arity(&self) -> i64 {
        i64::from(self.arity)
    }

    /// Whether `argc` arguments (the name included) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = i32::try_from(argc).unwrap_or(i32::MAX);
        if self.arity >= 0 { argc == self.arity } else { argc >= -self.arity }
    }

    /// Allowed while a RESP2 connection is in subscribe mode.
    pub fn allowed_subscribed(&self) -> bool {
        matches!(
            self.name,
            "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit" | "reset"
        )
    }

    /// Number of commands (COMMAND COUNT).
    pub fn count() -> usize {
        TABLE.len()
    }

    /// Every command name (COMMAND LIST).
    pub fn names() -> Vec<&'static str> {
        TABLE.iter().map(|c| c.name).collect()
    }
}

/// COMMAND LIST's names: all, or those of `FILTERBY MODULE name | ACLCAT category | PATTERN glob`.
///
/// # Errors
/// `ERR syntax error` for anything else, as Redis answers.
pub fn list_names(args: &[Bytes]) -> Result<Vec<&'static str>, String> {
    let names = Command::names();
    let [filterby, kind, value] = args else {
        return if args.is_empty() { Ok(names) } else { Err(SYNTAX.to_owned()) };
    };
    if !filterby.eq_ignore_ascii_case(b"FILTERBY") {
        return Err(SYNTAX.to_owned());
    }
    let value = String::from_utf8_lossy(value).into_owned();
    match &kind.to_ascii_uppercase()[..] {
        b"MODULE" => Ok(Vec::new()),
        b"ACLCAT" => Ok(names
            .into_iter()
            .filter(|n| {
                super::catalog::meta(n)
                    .is_some_and(|m| m.categories().iter().any(|c| c.eq_ignore_ascii_case(&value)))
            })
            .collect()),
        b"PATTERN" => {
            let glob = nexo_engine::glob::Glob::compile(&value).map_err(|e| format!("ERR {e}"))?;
            Ok(names.into_iter().filter(|n| glob.matches(n.as_bytes())).collect())
        }
        _ => Err(SYNTAX.to_owned()),
    }
}

/// `ERR wrong number of arguments for '<name>' command`.
pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// Redis's unknown-command error: the name, then the first arguments quoted, within 128 bytes.
pub fn unknown_command(args: &[Bytes]) -> String {
    let name: String = String::from_utf8_lossy(&args[0]).chars().take(128).collect();
    let mut quoted = String::new();
    for arg in &args[1..] {
        if quoted.len() >= 128 {
            break;
        }
        let room = 128 - quoted.len();
        let text = String::from_utf8_lossy(&arg[..arg.len().min(room)]).into_owned();
        quoted.push_str(&format!("'{text}' "));
    }
    format!("ERR unknown command '{name}', with args beginning with: {quoted}")
}

/// A strict decimal `i64` argument.
///
/// # Errors
/// `ERR value is not an integer or out of range`.
pub fn parse_int(arg: &[u8]) -> Result<i64, String> {
    let text = std::str::from_utf8(arg).map_err(|_| NOT_INTEGER.to_owned())?;
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(NOT_INTEGER.to_owned());
    }
    text.parse().map_err(|_| NOT_INTEGER.to_owned())
}

/// A channel or pattern name as the engine takes it (UTF-8).
///
/// # Errors
/// The name is not UTF-8.
pub fn utf8_name(arg: &Bytes) -> Result<String, String> {
    String::from_utf8(arg.to_vec())
        .map_err(|_| "ERR channel names and patterns must be UTF-8 in Nexo".to_owned())
}

/// CLIENT SETNAME's rule: printable ASCII without spaces.
///
/// # Errors
/// Redis's text.
pub fn valid_client_name(name: &[u8]) -> Result<(), String> {
    if name.iter().all(|&b| (b'!'..=b'~').contains(&b)) {
        Ok(())
    } else {
        Err("ERR Client names cannot contain spaces, newlines or special characters.".to_owned())
    }
}

fn persist() -> SetOptions {
    SetOptions { ttl: None, persist: true }
}

fn invalid_expire(command: &str) -> String {
    format!("ERR invalid expire time in '{command}' command")
}

/// A relative expiry argument in `unit_ms` units, as milliseconds (must be positive, and the
/// deadline it gives, `now_ms` plus it, must fit an `i64`: Redis's check).
fn positive_ms(arg: &[u8], unit_ms: i64, command: &str, now_ms: u64) -> Result<u64, String> {
    let n = parse_int(arg)?;
    if n <= 0 {
        return Err(invalid_expire(command));
    }
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    n.checked_mul(unit_ms)
        .filter(|ms| ms.checked_add(now).is_some())
        .and_then(|ms| u64::try_from(ms).ok())
        .ok_or_else(|| invalid_expire(command))
}

/// An absolute expiry argument (seconds or ms since the epoch), as wall-clock milliseconds.
fn absolute_ms(arg: &[u8], unit_ms: i64, command: &str) -> Result<u64, String> {
    let n = parse_int(arg)?;
    if n <= 0 {
        return Err(invalid_expire(command));
    }
    n.checked_mul(unit_ms).and_then(|ms| u64::try_from(ms).ok()).ok_or_else(|| invalid_expire(command))
}

/// Translates a data command (name lower-case, arity already checked) into its Store request;
/// `now_ms` (wall clock) bounds relative expiry times as Redis does.
///
/// # Errors
/// Redis's error text for a syntax error, a bad number or an invalid expire time.
pub fn store_command(name: &str, a: &[Bytes], now_ms: u64) -> Result<(StoreRequest, Expect), String> {
    let key = || a[0].clone();
    Ok(match name {
        "get" => (StoreRequest::Get { key: key() }, Expect::Bulk),
        "set" => set(a, now_ms)?,
        "setnx" => (StoreRequest::SetNx { key: key(), options: persist(), value: a[1].clone() }, Expect::Int),
        "setex" | "psetex" => {
            let unit = if name == "setex" { 1000 } else { 1 };
            let ms = positive_ms(&a[1], unit, name, now_ms)?;
            let request = StoreRequest::SetExt {
                key: key(),
                nx: false,
                xx: false,
                get: false,
                expiry: Expiry::InMs(ms),
                value: a[2].clone(),
            };
            (request, Expect::Ok)
        }
        "getdel" => (StoreRequest::GetDel { key: key() }, Expect::Bulk),
        "getex" => (StoreRequest::GetEx { key: key(), expiry: getex_expiry(&a[1..], now_ms)? }, Expect::Bulk),
        "mget" => (StoreRequest::MGet { keys: a.to_vec() }, Expect::Values),
        "mset" => {
            if !a.len().is_multiple_of(2) {
                return Err(wrong_arity("mset"));
            }
            let pairs = a.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            (StoreRequest::MSet { options: persist(), pairs }, Expect::Ok)
        }
        "incr" => (StoreRequest::IncrBy { key: key(), delta: 1 }, Expect::Int),
        "decr" => (StoreRequest::IncrBy { key: key(), delta: -1 }, Expect::Int),
        "incrby" => (StoreRequest::IncrBy { key: key(), delta: parse_int(&a[1])? }, Expect::Int),
        "decrby" => {
            let delta = parse_int(&a[1])?.checked_neg().ok_or("ERR decrement would overflow")?;
            (StoreRequest::IncrBy { key: key(), delta }, Expect::Int)
        }
        "append" => (StoreRequest::Append { key: key(), value: a[1].clone() }, Expect::Int),
        "strlen" => (StoreRequest::Strlen { key: key() }, Expect::Int),
        "del" | "unlink" => (StoreRequest::DelCount { keys: a.to_vec() }, Expect::Int),
        "exists" => (StoreRequest::Exists { keys: a.to_vec() }, Expect::Int),
        "expire" | "pexpire" | "expireat" | "pexpireat" => (expire(name, a, now_ms)?, Expect::Int),
        "ttl" => (StoreRequest::Ttl { key: key() }, Expect::TtlSeconds),
        "pttl" => (StoreRequest::Ttl { key: key() }, Expect::Int),
        "persist" => (StoreRequest::Persist { key: key() }, Expect::Int),
        "type" => (StoreRequest::Exists { keys: vec![key()] }, Expect::Type),
        "keys" => (StoreRequest::Keys { pattern: String::from_utf8_lossy(&a[0]).into_owned() }, Expect::Keys),
        "scan" => scan(a)?,
        "rename" => (StoreRequest::Rename { key: key(), new_key: a[1].clone() }, Expect::Ok),
        "dbsize" => (StoreRequest::DbSize, Expect::Int),
        "flushall" | "flushdb" => {
            match a {
                [] => {}
                [mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {}
                _ => return Err(SYNTAX.to_owned()),
            }
            (StoreRequest::Flush, Expect::Ok)
        }
        other => return Err(format!("ERR unknown command '{other}', with args beginning with: ")),
    })
}

/// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: key, time [NX | XX | GT | LT ...].
///
/// Redis's order: the options are checked before the number. Without options the request is
/// the plain EXPIRE or EXPIRE_AT; with any, EXPIRE_EXT, whose conditions the Store checks. A
/// zero or negative TTL, or a time in the past, deletes the key when the conditions hold
/// (answering 1), as in Redis: both become "now" (0), which compares as the exact time would
/// against any live key's deadline.
fn expire(name: &str, a: &[Bytes], now_ms: u64) -> Result<StoreRequest, String> {
    let flags = expire_flags(&a[2..])?;
    let unit: i64 = if name.starts_with('p') { 1 } else { 1000 };
    let n = parse_int(&a[1])?;
    let absolute = name.ends_with("at");
    // Redis: a relative time must leave now + time within an i64 of milliseconds.
    let base = if absolute { 0 } else { i64::try_from(now_ms).unwrap_or(i64::MAX) };
    let ms = n
        .checked_mul(unit)
        .filter(|ms| ms.checked_add(base).is_some())
        .ok_or_else(|| invalid_expire(name))?;
    let ms = u64::try_from(ms).unwrap_or(0);
    let key = a[0].clone();
    Ok(match (flags, absolute) {
        (None, false) => StoreRequest::Expire { key, ttl_ms: ms },
        (None, true) => StoreRequest::ExpireAt { key, at_ms: ms },
        (Some(flags), false) => StoreRequest::ExpireExt { key, flags, time: ExpireTime::InMs(ms) },
        (Some(flags), true) => StoreRequest::ExpireExt { key, flags, time: ExpireTime::AtMs(ms) },
    })
}

/// EXPIRE's options (case-insensitive, repeatable); `None` when there are none.
///
/// # Errors
/// Redis's texts: an unknown option (named as sent), NX with XX, GT or LT, and GT with LT.
fn expire_flags(options: &[Bytes]) -> Result<Option<ExpireFlags>, String> {
    if options.is_empty() {
        return Ok(None);
    }
    let mut flags = ExpireFlags::default();
    for option in options {
        match &option.to_ascii_uppercase()[..] {
            b"NX" => flags.nx = true,
            b"XX" => flags.xx = true,
            b"GT" => flags.gt = true,
            b"LT" => flags.lt = true,
            _ => return Err(format!("ERR Unsupported option {}", String::from_utf8_lossy(option))),
        }
    }
    if flags.nx && (flags.xx || flags.gt || flags.lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".to_owned());
    }
    if flags.gt && flags.lt {
        return Err("ERR GT and LT options at the same time are not compatible".to_owned());
    }
    Ok(Some(flags))
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms|KEEPTTL].
fn set(a: &[Bytes], now_ms: u64) -> Result<(StoreRequest, Expect), String> {
    let (mut nx, mut xx, mut get) = (false, false, false);
    let mut expiry: Option<Expiry> = None;
    let mut i = 2;
    while i < a.len() {
        let option = a[i].to_ascii_uppercase();
        let next = a.get(i + 1);
        match (&option[..], next) {
            (b"NX", _) if !xx => nx = true,
            (b"XX", _) if !nx => xx = true,
            (b"GET", _) => get = true,
            (b"KEEPTTL", _) if expiry.is_none() => expiry = Some(Expiry::Keep),
            (b"EX" | b"PX" | b"EXAT" | b"PXAT", Some(arg)) if expiry.is_none() => {
                expiry = Some(match &option[..] {
                    b"EX" => Expiry::InMs(positive_ms(arg, 1000, "set", now_ms)?),
                    b"PX" => Expiry::InMs(positive_ms(arg, 1, "set", now_ms)?),
                    b"EXAT" => Expiry::AtMs(absolute_ms(arg, 1000, "set")?),
                    _ => Expiry::AtMs(absolute_ms(arg, 1, "set")?),
                });
                i += 1;
            }
            _ => return Err(SYNTAX.to_owned()),
        }
        i += 1;
    }
    let (key, value) = (a[0].clone(), a[1].clone());
    if !nx && !xx && !get && expiry.is_none() {
        return Ok((StoreRequest::Set { key, options: persist(), value }, Expect::Ok));
    }
    let expiry = expiry.unwrap_or(Expiry::Persist);
    let expect = if get { Expect::Bulk } else { Expect::OkOrNull };
    Ok((StoreRequest::SetExt { key, nx, xx, get, expiry, value }, expect))
}

/// GETEX's options: none, or one of EX s, PX ms, EXAT ts, PXAT ms, PERSIST.
fn getex_expiry(rest: &[Bytes], now_ms: u64) -> Result<Expiry, String> {
    let upper: Vec<Vec<u8>> = rest.iter().map(|a| a.to_ascii_uppercase()).collect();
    match upper.as_slice() {
        [] => Ok(Expiry::Keep),
        [p] if p == b"PERSIST" => Ok(Expiry::Persist),
        [o, _] if o == b"EX" => Ok(Expiry::InMs(positive_ms(&rest[1], 1000, "getex", now_ms)?)),
        [o, _] if o == b"PX" => Ok(Expiry::InMs(positive_ms(&rest[1], 1, "getex", now_ms)?)),
        [o, _] if o == b"EXAT" => Ok(Expiry::AtMs(absolute_ms(&rest[1], 1000, "getex")?)),
        [o, _] if o == b"PXAT" => Ok(Expiry::AtMs(absolute_ms(&rest[1], 1, "getex")?)),
        _ => Err(SYNTAX.to_owned()),
    }
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
fn scan(a: &[Bytes]) -> Result<(StoreRequest, Expect), String> {
    let cursor = std::str::from_utf8(&a[0])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| "ERR invalid cursor".to_owned())?;
    let (mut pattern, mut count, mut no_keys) = ("*".to_owned(), 10u32, false);
    let mut i = 1;
    while i < a.len() {
        let option = a[i].to_ascii_uppercase();
        let Some(arg) = a.get(i + 1) else { return Err(SYNTAX.to_owned()) };
        match &option[..] {
            b"MATCH" => pattern = String::from_utf8_lossy(arg).into_owned(),
            b"COUNT" => {
                let n = parse_int(arg)?;
                if n < 1 {
                    return Err(SYNTAX.to_owned());
                }
                count = u32::try_from(n).unwrap_or(u32::MAX);
            }
            b"TYPE" => no_keys = !arg.eq_ignore_ascii_case(b"string"),
            _ => return Err(SYNTAX.to_owned()),
        }
        i += 2;
    }
    Ok((StoreRequest::Scan { cursor, pattern, count }, Expect::Scan { no_keys }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<Bytes> {
        text.split(' ').map(|w| Bytes::copy_from_slice(w.as_bytes())).collect()
    }

    fn translate(line: &str) -> Result<(StoreRequest, Expect), String> {
        let a = args(line);
        let name = String::from_utf8_lossy(&a[0]).to_lowercase();
        store_command(&name, &a[1..], NOW_MS)
    }

    /// A wall-clock reading in 2025, as the session gets it.
    const NOW_MS: u64 = 1_750_000_000_000;

    #[test]
    fn relative_expiry_must_not_overflow_past_now() {
        let invalid = |c: &str| format!("ERR invalid expire time in '{c}' command");
        // 9223370399119966 s fits an i64 of ms on its own, but not once added to now.
        assert_eq!(translate("EXPIRE k 9223370399119966").unwrap_err(), invalid("expire"));
        assert_eq!(translate("PEXPIRE k 9223372036854775000").unwrap_err(), invalid("pexpire"));
        assert_eq!(translate("SET k v EX 9223370399119966").unwrap_err(), invalid("set"));
        assert_eq!(translate("SET k v PX 9223372036854775000").unwrap_err(), invalid("set"));
        assert_eq!(translate("SETEX k 9223370399119966 v").unwrap_err(), invalid("setex"));
        assert_eq!(translate("PSETEX k 9223372036854775000 v").unwrap_err(), invalid("psetex"));
        assert_eq!(translate("GETEX k EX 9223370399119966").unwrap_err(), invalid("getex"));
        assert_eq!(translate("GETEX k PX 9223372036854775000").unwrap_err(), invalid("getex"));
        // Absolute times have no base: the largest that fits is fine.
        assert!(translate("PEXPIREAT k 9223372036854775000").is_ok());
        assert!(translate("SET k v PXAT 9223372036854775000").is_ok());
        // Just below the bound is still fine.
        assert!(translate("PEXPIRE k 9223370286854775807").is_ok());
        assert!(translate("EXPIRE k 9223370286854775").is_ok());
    }

    #[test]
    fn set_options() {
        let (r, e) = translate("SET k v").unwrap();
        assert!(matches!(r, StoreRequest::Set { options: SetOptions { persist: true, .. }, .. }));
        assert_eq!(e, Expect::Ok);
        let (r, e) = translate("SET k v nx px 1500 get").unwrap();
        assert!(matches!(
            r,
            StoreRequest::SetExt { nx: true, xx: false, get: true, expiry: Expiry::InMs(1500), .. }
        ));
        assert_eq!(e, Expect::Bulk);
        let (r, _) = translate("SET k v XX KEEPTTL").unwrap();
        assert!(matches!(r, StoreRequest::SetExt { xx: true, expiry: Expiry::Keep, .. }));
        let (r, _) = translate("SET k v EXAT 2000000000").unwrap();
        assert!(matches!(r, StoreRequest::SetExt { expiry: Expiry::AtMs(2_000_000_000_000), .. }));
        assert_eq!(translate("SET k v NX XX").unwrap_err(), SYNTAX);
        assert_eq!(translate("SET k v EX 1 PX 2").unwrap_err(), SYNTAX);
        assert_eq!(translate("SET k v EX").unwrap_err(), SYNTAX);
        assert_eq!(translate("SET k v BOGUS").unwrap_err(), SYNTAX);
        assert_eq!(translate("SET k v EX 0").unwrap_err(), "ERR invalid expire time in 'set' command");
        assert_eq!(translate("SET k v EX x").unwrap_err(), NOT_INTEGER);
        assert_eq!(translate("SETEX k -1 v").unwrap_err(), "ERR invalid expire time in 'setex' command");
    }

    #[test]
    fn numbers_and_others() {
        assert_eq!(translate("INCRBY k 01").unwrap_err(), NOT_INTEGER);
        assert_eq!(translate("DECRBY k -9223372036854775808").unwrap_err(), "ERR decrement would overflow");
        assert!(matches!(translate("EXPIRE k -5").unwrap().0, StoreRequest::Expire { ttl_ms: 0, .. }));
        assert_eq!(translate("MSET a 1 b").unwrap_err(), wrong_arity("mset"));
        assert!(matches!(
            translate("SCAN 0 MATCH a* COUNT 5").unwrap().0,
            StoreRequest::Scan { count: 5, .. }
        ));
        assert_eq!(translate("SCAN x").unwrap_err(), "ERR invalid cursor");
        assert_eq!(translate("SCAN 0 COUNT 0").unwrap_err(), SYNTAX);
        assert_eq!(translate("FLUSHALL ASYNC").unwrap().1, Expect::Ok);
        assert_eq!(
            translate("GETEX k PERSIST").unwrap().0,
            StoreRequest::GetEx { key: Bytes::from_static(b"k"), expiry: Expiry::Persist }
        );
        assert_eq!(translate("GETEX k EX").unwrap_err(), SYNTAX);
    }

    #[test]
    fn expire_options() {
        let key = || Bytes::from_static(b"k");
        let ext = |nx, xx, gt, lt, time| StoreRequest::ExpireExt {
            key: key(),
            flags: ExpireFlags { nx, xx, gt, lt },
            time,
        };
        // No options: the plain requests, as before.
        assert_eq!(translate("EXPIRE k 5").unwrap().0, StoreRequest::Expire { key: key(), ttl_ms: 5_000 });
        assert_eq!(
            translate("PEXPIREAT k 1700000000123").unwrap(),
            (StoreRequest::ExpireAt { key: key(), at_ms: 1_700_000_000_123 }, Expect::Int)
        );
        // Each option, in any case, with each command's unit and kind of time.
        assert_eq!(
            translate("EXPIRE k 5 nx").unwrap().0,
            ext(true, false, false, false, ExpireTime::InMs(5_000))
        );
        assert_eq!(
            translate("PEXPIRE k 5 Xx").unwrap().0,
            ext(false, true, false, false, ExpireTime::InMs(5))
        );
        assert_eq!(
            translate("EXPIREAT k 1700000000 GT").unwrap(),
            (ext(false, false, true, false, ExpireTime::AtMs(1_700_000_000_000)), Expect::Int)
        );
        assert_eq!(
            translate("PEXPIREAT k 77 lt").unwrap().0,
            ext(false, false, false, true, ExpireTime::AtMs(77))
        );
        // Repeats are fine; XX combines with GT or LT.
        assert_eq!(
            translate("EXPIRE k 1 NX nx NX").unwrap().0,
            ext(true, false, false, false, ExpireTime::InMs(1_000))
        );
        assert_eq!(
            translate("EXPIRE k 1 XX LT").unwrap().0,
            ext(false, true, false, true, ExpireTime::InMs(1_000))
        );
        assert_eq!(
            translate("EXPIRE k 1 GT XX GT").unwrap().0,
            ext(false, true, true, false, ExpireTime::InMs(1_000))
        );
        // Zero, negative and past times become 0: the Store deletes the key if the options allow.
        assert_eq!(
            translate("EXPIRE k -5 LT").unwrap().0,
            ext(false, false, false, true, ExpireTime::InMs(0))
        );
        assert_eq!(
            translate("PEXPIRE k 0 NX").unwrap().0,
            ext(true, false, false, false, ExpireTime::InMs(0))
        );
        assert_eq!(
            translate("EXPIREAT k -1 XX").unwrap().0,
            ext(false, true, false, false, ExpireTime::AtMs(0))
        );
        // Redis's errors: incompatible options first, then unknown ones (as sent), then the number.
        let nx_and = "ERR NX and XX, GT or LT options at the same time are not compatible";
        for line in ["EXPIRE k 1 NX XX", "PEXPIRE k 1 gt nx", "EXPIREAT k 1 NX LT", "PEXPIREAT k 1 xx nx gt"]
        {
            assert_eq!(translate(line).unwrap_err(), nx_and, "{line}");
        }
        let gt_lt = "ERR GT and LT options at the same time are not compatible";
        assert_eq!(translate("EXPIRE k 1 GT LT").unwrap_err(), gt_lt);
        assert_eq!(translate("PEXPIREAT k 1 lt XX gt").unwrap_err(), gt_lt);
        assert_eq!(translate("EXPIRE k 1 NX GT LT").unwrap_err(), nx_and, "NX's error comes first");
        assert_eq!(translate("EXPIRE k 1 nx bogus").unwrap_err(), "ERR Unsupported option bogus");
        assert_eq!(translate("EXPIRE k x Foo").unwrap_err(), "ERR Unsupported option Foo");
        assert_eq!(translate("EXPIRE k x NX XX").unwrap_err(), nx_and, "options before the number");
        assert_eq!(translate("EXPIRE k x NX").unwrap_err(), NOT_INTEGER);
        assert_eq!(
            translate("EXPIRE k 9223372036854776 GT").unwrap_err(),
            "ERR invalid expire time in 'expire' command"
        );
    }

    #[test]
    fn command_list_filters_or_refuses() {
        let list = |line: &str| list_names(&if line.is_empty() { Vec::new() } else { args(line) });
        assert_eq!(list("").unwrap().len(), Command::count());
        assert_eq!(list("bad_arg").unwrap_err(), SYNTAX);
        assert_eq!(list("FILTERBY PATTERN").unwrap_err(), SYNTAX);
        assert_eq!(list("FILTERBY NOSUCH x").unwrap_err(), SYNTAX);
        assert_eq!(list("filterby pattern *watch").unwrap(), vec!["watch", "unwatch"]);
        assert_eq!(
            list("FILTERBY ACLCAT transaction").unwrap(),
            vec!["multi", "exec", "discard", "watch", "unwatch"]
        );
        assert!(list("FILTERBY MODULE json").unwrap().is_empty());
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            unknown_command(&args("FOO a bb")),
            "ERR unknown command 'FOO', with args beginning with: 'a' 'bb' "
        );
        assert_eq!(unknown_command(&args("foo")), "ERR unknown command 'foo', with args beginning with: ");
        assert_eq!(wrong_arity("get"), "ERR wrong number of arguments for 'get' command");
        assert!(Command::lookup(b"GET").is_some_and(|c| !c.arity_ok(1) && c.arity_ok(2) && !c.arity_ok(3)));
        assert!(Command::lookup(b"DEL").is_some_and(|c| !c.arity_ok(1) && c.arity_ok(9)));
        assert!(valid_client_name(b"a b").is_err() && valid_client_name(b"ok-name").is_ok());
    }
}
