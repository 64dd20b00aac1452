//! `[[users]]` tables of the config file: reading them from TOML, checking them, rendering
//! them masked for `--print-config`, and turning one into an `auth::User`.
//!
//! A table holds `name`, `on`, `password` (plain, development only) or `password-hash` (an
//! Argon2 PHC string), `brokers`, `operations`, the name globs `keys`, `channels`, `queues`,
//! `streams` (`%R~glob` read-only, `%W~glob` write-only, else both) and `acl` (Redis ACL rule
//! strings applied last, without passwords). Hashing a plain password is the caller's: this
//! module never hashes, so loading the settings stays cheap.

use nexo_session::auth::acl::apply_rules;
use nexo_session::auth::user::{MAX_PASSWORD_BYTES, MAX_USER_BYTES};
use nexo_session::auth::{Broker, NamePattern, Op, Password, Rules, User};
use toml::de::DeValue;

use super::effective::MASK;

/// Keys a `[[users]]` table may hold.
const KEYS: &[&str] = &[
    "name",
    "on",
    "password",
    "password-hash",
    "brokers",
    "operations",
    "keys",
    "channels",
    "queues",
    "streams",
    "acl",
];

/// One `[[users]]` table as written (the plain password, if any, still in clear).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserSpec {
    /// The user name.
    pub name: String,
    /// Whether it may log in (default true).
    pub on: bool,
    /// A plain password (development only; hashed at start-up, never shown).
    pub password: Option<String>,
    /// A stored Argon2 PHC string.
    pub password_hash: Option<String>,
    /// Brokers granted (`store`, `pubsub`, `queue`, `stream`, `admin`).
    pub brokers: Vec<String>,
    /// Operations granted (`read`, `write`, `admin`).
    pub operations: Vec<String>,
    /// Store key globs.
    pub keys: Vec<String>,
    /// Pub/Sub channel globs.
    pub channels: Vec<String>,
    /// Queue name globs.
    pub queues: Vec<String>,
    /// Stream topic globs.
    pub streams: Vec<String>,
    /// Redis ACL rules applied after the rest.
    pub acl: Vec<String>,
}

impl std::fmt::Debug for UserSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserSpec")
            .field("name", &self.name)
            .field("on", &self.on)
            .field("password", &self.password.as_ref().map(|_| MASK))
            .field("password_hash", &self.password_hash.as_ref().map(|_| MASK))
            .finish_non_exhaustive()
    }
}

/// Reads the value of the file's `users` key: an array of tables, each checked.
///
/// # Errors
/// Not an array of tables, an unknown key, a wrong type, or a user that does not check out.
pub fn from_toml(value: &DeValue<'_>) -> Result<Vec<UserSpec>, String> {
    let DeValue::Array(items) = value else {
        return Err("users are [[users]] tables".into());
    };
    let mut specs: Vec<UserSpec> = Vec::new();
    for item in items {
        let DeValue::Table(table) = item.get_ref() else {
            return Err("users are [[users]] tables".into());
        };
        let spec = one_table(table)?;
        if specs.iter().any(|s| s.name == spec.name) {
            return Err(format!("user '{}' is defined twice", spec.name));
        }
        spec.rules().map_err(|e| format!("user '{}': {e}", spec.name))?;
        specs.push(spec);
    }
    Ok(specs)
}

fn one_table(table: &toml::de::DeTable<'_>) -> Result<UserSpec, String> {
    let mut spec = UserSpec { on: true, ..UserSpec::default() };
    for (key, value) in table {
        let (key, value) = (key.get_ref().as_ref(), value.get_ref());
        let field = |what: &str| format!("users.{key}: {what}");
        match key {
            "name" => spec.name = text(value).ok_or_else(|| field("expects a string"))?,
            "on" => match value {
                DeValue::Boolean(on) => spec.on = *on,
                _ => return Err(field("expects true or false")),
            },
            "password" => spec.password = Some(text(value).ok_or_else(|| field("expects a string"))?),
            "password-hash" => {
                spec.password_hash = Some(text(value).ok_or_else(|| field("expects a string"))?)
            }
            _ => {
                let slot = list_field(&mut spec, key).ok_or_else(|| unknown(key))?;
                *slot = texts(value).ok_or_else(|| field("expects a list of strings"))?;
            }
        }
    }
    check_identity(&spec)?;
    Ok(spec)
}

fn unknown(key: &str) -> String {
    format!("users.{key}: unknown key; a user has {}", KEYS.join(", "))
}

fn list_field<'s>(spec: &'s mut UserSpec, key: &str) -> Option<&'s mut Vec<String>> {
    Some(match key {
        "brokers" => &mut spec.brokers,
        "operations" => &mut spec.operations,
        "keys" => &mut spec.keys,
        "channels" => &mut spec.channels,
        "queues" => &mut spec.queues,
        "streams" => &mut spec.streams,
        "acl" => &mut spec.acl,
        _ => return None,
    })
}

fn check_identity(spec: &UserSpec) -> Result<(), String> {
    if spec.name.is_empty() || spec.name.len() > MAX_USER_BYTES {
        return Err(format!("a user needs a name of 1 to {MAX_USER_BYTES} bytes"));
    }
    if spec.name.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(format!(
            "user '{}': a name has no spaces or control characters",
            spec.name.escape_default()
        ));
    }
    let who = |what: &str| format!("user '{}': {what}", spec.name);
    if spec.password.is_some() && spec.password_hash.is_some() {
        return Err(who("give password or password-hash, not both"));
    }
    if spec.password.as_ref().is_some_and(|p| p.is_empty() || p.len() > MAX_PASSWORD_BYTES) {
        return Err(who(&format!("a password is 1 to {MAX_PASSWORD_BYTES} bytes")));
    }
    if let Some(hash) = &spec.password_hash {
        if !hash.starts_with("$argon2") {
            return Err(who("password-hash is an Argon2 PHC string ($argon2id$v=19$m=...)"));
        }
        Password::from_stored(hash).map_err(|e| who(&e))?;
    }
    Ok(())
}

fn text(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(s) => Some(s.to_string()),
        _ => None,
    }
}

fn texts(value: &DeValue<'_>) -> Option<Vec<String>> {
    match value {
        DeValue::Array(items) => items.iter().map(|i| text(i.get_ref())).collect(),
        _ => None,
    }
}

impl UserSpec {
    /// The permissions this table grants.
    ///
    /// # Errors
    /// An unknown broker or operation, a bad glob, or an ACL rule that is not accepted.
    pub fn rules(&self) -> Result<Rules, String> {
        let mut rules = Rules::default();
        for name in &self.brokers {
            let broker = Broker::parse(name)
                .ok_or_else(|| format!("unknown broker '{name}' (store, pubsub, queue, stream, admin)"))?;
            rules.brokers.add_broker(broker);
        }
        for name in &self.operations {
            let op =
                Op::parse(name).ok_or_else(|| format!("unknown operation '{name}' (read, write, admin)"))?;
            rules.ops.add_op(op);
        }
        rules.keys = patterns(&self.keys)?;
        rules.channels = patterns(&self.channels)?;
        rules.queues = patterns(&self.queues)?;
        rules.streams = patterns(&self.streams)?;
        if self.acl.iter().any(|r| r.starts_with(['>', '<', '#']) || r.eq_ignore_ascii_case("nopass")) {
            return Err("acl rules do not set passwords; use password or password-hash".into());
        }
        let mut user = User::new(&self.name);
        user.rules = rules;
        let raw: Vec<&[u8]> = self.acl.iter().map(String::as_bytes).collect();
        let user = apply_rules(&user, &raw, &mut || [0; 16])?;
        Ok(user.rules)
    }

    /// The user, with `hash` turning a plain password into a stored one.
    ///
    /// # Errors
    /// As [`Self::rules`], or the password cannot be hashed.
    pub fn to_user(&self, hash: impl Fn(&[u8]) -> Result<Password, String>) -> Result<User, String> {
        let mut user = User::new(&self.name);
        user.enabled = self.on;
        user.rules = self.rules()?;
        if let Some(plain) = &self.password {
            user.passwords.push(hash(plain.as_bytes())?);
        }
        if let Some(stored) = &self.password_hash {
            user.passwords.push(Password::from_stored(stored)?);
        }
        user.nopass = user.passwords.is_empty() && self.name == "default";
        Ok(user)
    }

    /// The table as TOML for `--print-config`, passwords masked.
    pub fn to_toml(&self) -> String {
        let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let mut out = format!("\n[[users]]\nname = {}\non = {}\n", quote(&self.name), self.on);
        if self.password.is_some() {
            out.push_str(&format!("password = {}\n", quote(MASK)));
        }
        if self.password_hash.is_some() {
            out.push_str(&format!("password-hash = {}\n", quote(MASK)));
        }
        let lists = [
            ("brokers", &self.brokers),
            ("operations", &self.operations),
            ("keys", &self.keys),
            ("channels", &self.channels),
            ("queues", &self.queues),
            ("streams", &self.streams),
            ("acl", &self.acl),
        ];
        for (key, values) in lists.iter().filter(|(_, v)| !v.is_empty()) {
            let items: Vec<String> = values.iter().map(|v| quote(v)).collect();
            out.push_str(&format!("{key} = [{}]\n", items.join(", ")));
        }
        out
    }
}

/// Globs with Redis's `%R~` (read only) and `%W~` (write only) prefixes; bare ones grant both.
fn patterns(texts: &[String]) -> Result<Vec<NamePattern>, String> {
    texts
        .iter()
        .map(|t| {
            if let Some(glob) = t.strip_prefix("%R~") {
                NamePattern::new(glob, true, false)
            } else if let Some(glob) = t.strip_prefix("%W~") {
                NamePattern::new(glob, false, true)
            } else {
                NamePattern::new(t.strip_prefix("%RW~").unwrap_or(t), true, true)
            }
            .map_err(|e| format!("pattern '{t}': {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::file::parse;
    use super::*;
    use nexo_session::auth::{Name, Need};

    const FILE: &str = "port = 1\n\n[[users]]\nname = \"app\"\npassword = \"dev-secret\"\n\
        brokers = [\"store\", \"queue\"]\noperations = [\"read\", \"write\"]\n\
        keys = [\"app:*\", \"%R~shared:*\"]\nqueues = [\"jobs.*\"]\n\n[[users]]\nname = \"off\"\non = false\n";

    #[test]
    fn tables_become_users_with_their_rules() {
        let contents = parse(FILE).unwrap();
        assert_eq!(contents.entries.len(), 1);
        let [app, off] = contents.users.as_slice() else { panic!("two users expected") };
        assert!(!off.on);
        let user = app.to_user(|plain| Password::hash(plain, b"0123456789abcdef")).unwrap();
        assert!(user.enabled && !user.nopass && user.passwords[0].verify(b"dev-secret"));
        let need = |broker, op, name: &'static [u8]| Need::new(broker, &[op]).on([Name::Exact(name)]);
        assert!(user.rules.check(&need(Broker::Store, Op::Write, b"app:1")).is_ok());
        assert!(user.rules.check(&need(Broker::Store, Op::Read, b"shared:1")).is_ok());
        assert!(user.rules.check(&need(Broker::Store, Op::Write, b"shared:1")).is_err());
        assert!(user.rules.check(&need(Broker::Queue, Op::Write, b"jobs.a")).is_ok());
        assert!(user.rules.check(&need(Broker::Queue, Op::Write, b"other")).is_err());
        assert!(user.rules.check(&need(Broker::Stream, Op::Read, b"jobs.a")).is_err());
    }

    #[test]
    fn print_config_masks_passwords_and_debug_too() {
        let contents = parse(FILE).unwrap();
        let text: String = contents.users.iter().map(UserSpec::to_toml).collect();
        assert!(!text.contains("dev-secret") && text.contains(MASK), "{text}");
        let reparsed: toml::Table = text.parse().unwrap();
        assert_eq!(reparsed["users"].as_array().map(Vec::len), Some(2));
        assert!(!format!("{:?}", contents.users).contains("dev-secret"));
    }

    #[test]
    fn bad_tables_name_the_problem() {
        let bad = |text: &str| parse(text).unwrap_err();
        let e = bad("[[users]]\nname = \"a\"\nbrokers = [\"cache\"]\n");
        assert!(e.message.contains("unknown broker 'cache'") && e.key.as_deref() == Some("users"), "{e:?}");
        assert!(bad("[[users]]\npassword = \"x\"\n").message.contains("needs a name"));
        let e = bad("[[users]]\nname = \"a\"\nwho = 1\n");
        assert!(e.message.contains("unknown key"), "{e:?}");
        assert!(bad("[[users]]\nname = \"a\"\n[[users]]\nname = \"a\"\n").message.contains("twice"));
        assert!(bad("[[users]]\nname = \"a\"\npassword-hash = \"abc\"\n").message.contains("Argon2"));
        assert!(
            bad("[[users]]\nname = \"a\"\npassword = \"x\"\npassword-hash = \"$argon2id$x\"\n")
                .message
                .contains("not both")
        );
        assert!(bad("[[users]]\nname = \"a\"\nacl = [\">pw\"]\n").message.contains("do not set passwords"));
        assert!(bad("[[users]]\nname = \"a\"\nacl = [\"+@fast\"]\n").message.contains("Syntax error"));
        assert!(bad("users = 3\n").message.contains("[[users]]"));
        assert!(bad("[[users]]\nname = \"a b\"\n").message.contains("no spaces"));
    }

    /// The hash the e2e case `auth_file_users` puts in its file (of `hashed-pw`).
    const E2E_HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$bmV4by1lMmUtc2FsdC0wMQ$BwWXjNkG3WzccqNAlodYBUuUxecWo0syhVjG1L45bwg";

    #[test]
    fn a_password_hash_logs_in_without_hashing_anything() {
        let text = format!("[[users]]\nname = \"ops\"\npassword-hash = \"{E2E_HASH}\"\n");
        let spec = &parse(&text).unwrap().users[0];
        let user = spec.to_user(|_| Err("no plain password here".into())).unwrap();
        assert!(user.passwords[0].verify(b"hashed-pw") && !user.passwords[0].verify(b"other"));
        assert!(!spec.to_toml().contains("argon2"), "the hash is masked too");
    }

    #[test]
    fn acl_rules_apply_after_the_lists() {
        let contents = parse("[[users]]\nname = \"r\"\nacl = [\"+@read\", \"allkeys\"]\n").unwrap();
        let rules = contents.users[0].rules().unwrap();
        let read = Need::new(Broker::Store, &[Op::Read]).on([Name::Exact(b"any")]);
        assert!(rules.check(&read).is_ok());
        assert!(rules.check(&Need::new(Broker::Store, &[Op::Write])).is_err());
    }
}
