//! Redis ACL text: the `ACL SETUSER` rules that map onto Nexo's model, and the `ACL LIST` line.
//!
//! Accepted rules: `on off >pw <pw #hash nopass resetpass ~pat %R~pat %W~pat &pat allkeys
//! allchannels resetkeys resetchannels reset +@all -@all +@read -@read +@write -@write +@admin
//! -@admin`. Key rules (`~`, `%R~`, `%W~`, `allkeys`) govern Store keys, channel rules (`&`,
//! `allchannels`) Pub/Sub channels; queue and stream patterns are set in the config file only.
//! A category grant also grants the data brokers (`+@admin`: the admin broker). Rules apply
//! all-or-nothing, as Redis applies them.

use super::rules::{Broker, NamePattern, Op, Rules};
use super::user::{MAX_PASSWORD_BYTES, Password, User};

/// Redis's error for a rule it cannot apply.
pub fn rule_error(rule: &str, why: &str) -> String {
    format!("ERR Error in ACL SETUSER modifier '{rule}': {why}")
}

/// Applies `rules` (in order) to a copy of `user` and returns it; `salt` gives 16 fresh bytes
/// for each `>password` hashed.
///
/// # Errors
/// Redis's `ERR Error in ACL SETUSER modifier '<rule>': ...` for the first rule that fails.
pub fn apply_rules(user: &User, rules: &[&[u8]], salt: &mut dyn FnMut() -> [u8; 16]) -> Result<User, String> {
    let mut next = user.clone();
    for raw in rules {
        let shown = String::from_utf8_lossy(raw);
        apply_one(&mut next, raw, salt).map_err(|why| rule_error(&shown, &why))?;
    }
    Ok(next)
}

const SYNTAX: &str = "Syntax error";

fn apply_one(user: &mut User, raw: &[u8], salt: &mut dyn FnMut() -> [u8; 16]) -> Result<(), String> {
    if let Some(plain) = raw.strip_prefix(b">") {
        return add_password(user, plain, salt);
    }
    if let Some(plain) = raw.strip_prefix(b"<") {
        let before = user.passwords.len();
        user.passwords.retain(|p| !p.verify(plain));
        if user.passwords.len() == before {
            return Err("The password you are trying to remove from the user does not exist".into());
        }
        return Ok(());
    }
    let text = std::str::from_utf8(raw).map_err(|_| SYNTAX.to_owned())?;
    if let Some(hash) = text.strip_prefix('#') {
        let password = Password::from_stored(hash).map_err(|_| {
            "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
                .to_owned()
        })?;
        user.passwords.push(password);
        user.nopass = false;
        return Ok(());
    }
    if let Some(pattern) = text.strip_prefix("%R~") {
        return push(&mut user.rules.keys, pattern, true, false);
    }
    if let Some(pattern) = text.strip_prefix("%W~") {
        return push(&mut user.rules.keys, pattern, false, true);
    }
    if let Some(pattern) = text.strip_prefix("%RW~").or_else(|| text.strip_prefix('~')) {
        return push(&mut user.rules.keys, pattern, true, true);
    }
    if let Some(pattern) = text.strip_prefix('&') {
        return push(&mut user.rules.channels, pattern, true, true);
    }
    apply_word(user, &text.to_ascii_lowercase())
}

fn apply_word(user: &mut User, word: &str) -> Result<(), String> {
    let rules = &mut user.rules;
    match word {
        "on" => user.enabled = true,
        "off" => user.enabled = false,
        "nopass" => {
            user.nopass = true;
            user.passwords.clear();
        }
        "resetpass" => {
            user.nopass = false;
            user.passwords.clear();
        }
        "allkeys" => rules.keys = vec![NamePattern::new("*", true, true)?],
        "allchannels" => rules.channels = vec![NamePattern::new("*", true, true)?],
        "resetkeys" => rules.keys.clear(),
        "resetchannels" => rules.channels.clear(),
        "reset" => *user = User::new(&user.name),
        "+@all" => {
            rules.brokers = super::rules::Set::FULL;
            rules.ops = super::rules::Set::FULL;
        }
        "-@all" => {
            rules.brokers = super::rules::Set::default();
            rules.ops = super::rules::Set::default();
        }
        _ => return category(rules, word),
    }
    Ok(())
}

fn category(rules: &mut Rules, word: &str) -> Result<(), String> {
    let (grant, name) = match word.split_at_checked(2) {
        Some(("+@", name)) => (true, name),
        Some(("-@", name)) => (false, name),
        _ => return Err(SYNTAX.into()),
    };
    let op = Op::parse(name).ok_or_else(|| SYNTAX.to_owned())?;
    let brokers: &[Broker] = if op == Op::Admin {
        &[Broker::Admin]
    } else {
        &[Broker::Store, Broker::PubSub, Broker::Queue, Broker::Stream]
    };
    if grant {
        rules.ops.add_op(op);
        brokers.iter().for_each(|b| rules.brokers.add_broker(*b));
    } else {
        rules.ops.remove_op(op);
        if op == Op::Admin {
            rules.brokers.remove_broker(Broker::Admin);
        }
    }
    Ok(())
}

fn add_password(user: &mut User, plain: &[u8], salt: &mut dyn FnMut() -> [u8; 16]) -> Result<(), String> {
    if plain.len() > MAX_PASSWORD_BYTES {
        return Err(format!("a password is at most {MAX_PASSWORD_BYTES} bytes"));
    }
    if !user.passwords.iter().any(|p| p.verify(plain)) {
        user.passwords.push(Password::hash(plain, &salt())?);
    }
    user.nopass = false;
    Ok(())
}

fn push(list: &mut Vec<NamePattern>, pattern: &str, read: bool, write: bool) -> Result<(), String> {
    let pattern = NamePattern::new(pattern, read, write)?;
    if !list.contains(&pattern) {
        list.push(pattern);
    }
    Ok(())
}

/// The `ACL LIST` line of `user`, in Redis's format (`user <name> on|off ... +@all`).
pub fn list_line(user: &User) -> String {
    let mut words = vec!["user".to_owned(), user.name.clone()];
    words.push(if user.enabled { "on" } else { "off" }.into());
    if user.nopass {
        words.push("nopass".into());
    }
    words.extend(user.passwords.iter().map(Password::shown));
    words.push(patterns_text(&user.rules.keys, '~'));
    words.push(patterns_text(&user.rules.channels, '&'));
    words.push(commands_text(&user.rules));
    words.retain(|w| !w.is_empty());
    words.join(" ")
}

/// Key (`~`, `%R~`, `%W~`) or channel (`&`) patterns, space-separated; `resetchannels` for none.
pub fn patterns_text(patterns: &[NamePattern], sigil: char) -> String {
    if patterns.is_empty() {
        return if sigil == '&' { "resetchannels".into() } else { String::new() };
    }
    let one = |p: &NamePattern| match (sigil, p.read, p.write) {
        ('&', ..) | (_, true, true) => format!("{sigil}{}", p.text()),
        (_, true, false) => format!("%R~{}", p.text()),
        _ => format!("%W~{}", p.text()),
    };
    patterns.iter().map(one).collect::<Vec<_>>().join(" ")
}

/// The categories granted: `+@all`, or `-@all` and each granted operation.
pub fn commands_text(rules: &Rules) -> String {
    let every = Broker::ALL.iter().all(|b| rules.brokers.has_broker(*b))
        && Op::ALL.iter().all(|o| rules.ops.has_op(*o));
    if every {
        return "+@all".into();
    }
    let mut words = vec!["-@all".to_owned()];
    words.extend(Op::ALL.iter().filter(|o| rules.ops.has_op(**o)).map(|o| format!("+@{}", o.name())));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn salt() -> impl FnMut() -> [u8; 16] {
        let mut n = 0u8;
        move || {
            n += 1;
            [n; 16]
        }
    }

    fn set(user: &User, rules: &[&str]) -> Result<User, String> {
        let raw: Vec<&[u8]> = rules.iter().map(|r| r.as_bytes()).collect();
        apply_rules(user, &raw, &mut salt())
    }

    #[test]
    fn redis_rules_build_a_user_and_list_prints_it() {
        let user =
            set(&User::new("app"), &["on", "~app:*", "%R~ro:*", "&news.*", "+@read", "+@write"]).unwrap();
        assert_eq!(list_line(&user), "user app on ~app:* %R~ro:* &news.* -@all +@read +@write");
        let user = set(&user, &[">pw1"]).unwrap();
        assert!(user.passwords[0].verify(b"pw1") && !user.nopass);
        let user = set(&user, &["<pw1"]).unwrap();
        assert!(user.passwords.is_empty());
        let default = User::open_default();
        assert_eq!(list_line(&default), "user default on nopass ~* &* +@all");
        let hashed = set(&User::new("h"), &[&format!("#{}", super::super::user::hex(&[7; 32]))]).unwrap();
        assert!(list_line(&hashed).contains("#0707"));
    }

    #[test]
    fn anything_else_is_a_syntax_error_and_nothing_applies() {
        let user = User::new("app");
        assert_eq!(
            set(&user, &["on", "+@fast"]).unwrap_err(),
            "ERR Error in ACL SETUSER modifier '+@fast': Syntax error"
        );
        assert_eq!(
            set(&user, &["bogus"]).unwrap_err(),
            "ERR Error in ACL SETUSER modifier 'bogus': Syntax error"
        );
        assert!(set(&user, &["#abc"]).unwrap_err().contains("64 characters"));
        assert!(set(&user, &["<nope"]).unwrap_err().contains("does not exist"));
        let bad_utf8: &[u8] = &[0xff, 0xfe];
        assert!(apply_rules(&user, &[bad_utf8], &mut salt()).unwrap_err().contains("Syntax error"));
    }
}
