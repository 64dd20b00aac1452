//! Permission rules: which brokers, which operations and which names a user may use, and the
//! check of one request's [`Need`] against them.
//!
//! Owns the model only (no parsing of config files or ACL text, no user lookup). A name is
//! allowed when one of the user's patterns for that broker matches it and grants every
//! operation asked; admin operations on a name need a pattern that grants writing.

use nexo_engine::glob::Glob;

/// Something a user may be allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Broker {
    /// Keys and values.
    Store,
    /// Channels and topics.
    PubSub,
    /// Queues.
    Queue,
    /// Stream topics.
    Stream,
    /// The server itself: users (ACL), configuration, dashboard actions.
    Admin,
}

impl Broker {
    /// Every broker, in order.
    pub const ALL: [Self; 5] = [Self::Store, Self::PubSub, Self::Queue, Self::Stream, Self::Admin];

    /// The lower-case name used in config files and error texts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::PubSub => "pubsub",
            Self::Queue => "queue",
            Self::Stream => "stream",
            Self::Admin => "admin",
        }
    }

    /// The broker named `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// What a request does with what it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// Looks without changing (GET, SUBSCRIBE, CONSUME, FETCH).
    Read,
    /// Adds or changes data (SET, PUBLISH, PUSH).
    Write,
    /// Creates, deletes or reconfigures (queue and topic life cycle, FLUSHALL, ACL).
    Admin,
}

impl Op {
    /// Every operation, in order.
    pub const ALL: [Self; 3] = [Self::Read, Self::Write, Self::Admin];

    /// The lower-case name used in config files, ACL categories and error texts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    /// The operation named `name` (case-insensitive).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name().eq_ignore_ascii_case(name))
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A small set of [`Broker`]s or [`Op`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Set(u8);

impl Set {
    /// Every broker and every operation.
    pub const FULL: Self = Self(0x1F);

    /// Adds a broker.
    pub fn add_broker(&mut self, broker: Broker) {
        self.0 |= broker.bit();
    }

    /// Removes a broker.
    pub fn remove_broker(&mut self, broker: Broker) {
        self.0 &= !broker.bit();
    }

    /// Whether the broker is in the set.
    pub fn has_broker(self, broker: Broker) -> bool {
        self.0 & broker.bit() != 0
    }

    /// Adds an operation.
    pub fn add_op(&mut self, op: Op) {
        self.0 |= op.bit();
    }

    /// Removes an operation.
    pub fn remove_op(&mut self, op: Op) {
        self.0 &= !op.bit();
    }

    /// Whether the operation is in the set.
    pub fn has_op(self, op: Op) -> bool {
        self.0 & op.bit() != 0
    }

    /// A set of the given operations.
    pub fn of_ops(ops: &[Op]) -> Self {
        let mut set = Self::default();
        ops.iter().for_each(|op| set.add_op(*op));
        set
    }
}

/// One name glob with what it grants.
#[derive(Debug, Clone)]
pub struct NamePattern {
    text: String,
    glob: Glob,
    /// Reading names that match.
    pub read: bool,
    /// Writing (and administering) names that match.
    pub write: bool,
}

impl PartialEq for NamePattern {
    fn eq(&self, other: &Self) -> bool {
        (&self.text, self.read, self.write) == (&other.text, other.read, other.write)
    }
}

impl NamePattern {
    /// A pattern granting `read` and/or `write`.
    ///
    /// # Errors
    /// The glob is longer than the engine's pattern cap.
    pub fn new(text: &str, read: bool, write: bool) -> Result<Self, String> {
        let glob = Glob::compile(text).map_err(|e| e.to_string())?;
        Ok(Self { text: text.to_owned(), glob, read, write })
    }

    /// The glob as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn grants(&self, op: Op) -> bool {
        match op {
            Op::Read => self.read,
            Op::Write | Op::Admin => self.write,
        }
    }
}

/// How a request names what it touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// One concrete key, channel, queue or topic.
    Exact(&'a [u8]),
    /// A glob the request expands (PSUBSCRIBE): allowed when the user has the same glob or `*`.
    Glob(&'a str),
    /// Every name (KEYS, SCAN, FLUSHALL): allowed only with a `*` pattern.
    All,
}

/// What one request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need<'a> {
    /// The broker it goes to.
    pub broker: Broker,
    /// The operations it performs.
    pub ops: Set,
    /// The names it touches (may be empty: broker-wide reads such as DBSIZE).
    pub names: Vec<Name<'a>>,
}

impl<'a> Need<'a> {
    /// A need with no names.
    pub fn new(broker: Broker, ops: &[Op]) -> Self {
        Self { broker, ops: Set::of_ops(ops), names: Vec::new() }
    }

    /// The same need on `names`.
    pub fn on(mut self, names: impl IntoIterator<Item = Name<'a>>) -> Self {
        self.names.extend(names);
        self
    }

    /// The same need on exact names.
    pub fn on_bytes<B: AsRef<[u8]> + 'a>(self, names: impl IntoIterator<Item = &'a B>) -> Self {
        self.on(names.into_iter().map(|n| Name::Exact(n.as_ref())))
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The broker or an operation is not granted.
    Command {
        /// The broker.
        broker: Broker,
        /// The first operation missing.
        op: Op,
    },
    /// A name is not covered by a pattern granting the operation.
    Name {
        /// The broker.
        broker: Broker,
        /// The operation.
        op: Op,
        /// The name (lossy UTF-8; `*` for every name).
        name: String,
    },
}

impl Denied {
    /// The v1 error text, naming the missing permission.
    pub fn v1_text(&self) -> String {
        match self {
            Self::Command { broker, op } => {
                format!("NOPERM this user lacks the permission {}:{}", broker.name(), op.name())
            }
            Self::Name { broker, op, name } => {
                format!("NOPERM this user lacks the permission {}:{} on '{name}'", broker.name(), op.name())
            }
        }
    }

    /// Redis's text for a RESP command `command` run by `user`.
    pub fn resp_text(&self, user: &str, command: &str) -> String {
        match self {
            Self::Command { .. } => {
                format!("NOPERM User {user} has no permissions to run the '{command}' command")
            }
            Self::Name { broker: Broker::PubSub, .. } => "NOPERM No permissions to access a channel".into(),
            Self::Name { .. } => "NOPERM No permissions to access a key".into(),
        }
    }
}

/// What a user may do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// Brokers granted.
    pub brokers: Set,
    /// Operations granted.
    pub ops: Set,
    /// Store key patterns.
    pub keys: Vec<NamePattern>,
    /// Pub/Sub channel and topic patterns.
    pub channels: Vec<NamePattern>,
    /// Queue name patterns.
    pub queues: Vec<NamePattern>,
    /// Stream topic patterns.
    pub streams: Vec<NamePattern>,
}

impl Rules {
    /// Everything: every broker, operation and name (the open `default` user).
    pub fn all() -> Self {
        let star = || vec![NamePattern::new("*", true, true).unwrap_or_else(|_| unreachable!())];
        Self {
            brokers: Set::FULL,
            ops: Set::FULL,
            keys: star(),
            channels: star(),
            queues: star(),
            streams: star(),
        }
    }

    /// The patterns that govern `broker`'s names (none for Admin).
    pub fn patterns(&self, broker: Broker) -> &[NamePattern] {
        match broker {
            Broker::Store => &self.keys,
            Broker::PubSub => &self.channels,
            Broker::Queue => &self.queues,
            Broker::Stream => &self.streams,
            Broker::Admin => &[],
        }
    }

    /// Checks one request's need.
    ///
    /// # Errors
    /// [`Denied`] naming the first missing permission.
    pub fn check(&self, need: &Need<'_>) -> Result<(), Denied> {
        let broker = need.broker;
        let asked = Op::ALL.into_iter().filter(|op| need.ops.has_op(*op));
        for op in asked {
            if !self.brokers.has_broker(broker) || !self.ops.has_op(op) {
                return Err(Denied::Command { broker, op });
            }
            for name in &need.names {
                if !self.name_allowed(broker, op, *name) {
                    let shown = match name {
                        Name::Exact(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                        Name::Glob(glob) => (*glob).to_owned(),
                        Name::All => "*".into(),
                    };
                    return Err(Denied::Name { broker, op, name: shown });
                }
            }
        }
        Ok(())
    }

    fn name_allowed(&self, broker: Broker, op: Op, name: Name<'_>) -> bool {
        let mut granting = self.patterns(broker).iter().filter(|p| p.grants(op));
        match name {
            Name::Exact(bytes) => granting.any(|p| p.glob.matches(bytes)),
            Name::Glob(glob) => granting.any(|p| p.text == "*" || p.text == glob),
            Name::All => granting.any(|p| p.text == "*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_rules() -> Rules {
        let mut rules = Rules::default();
        rules.brokers.add_broker(Broker::Store);
        rules.brokers.add_broker(Broker::PubSub);
        rules.ops.add_op(Op::Read);
        rules.ops.add_op(Op::Write);
        rules.keys.push(NamePattern::new("app:*", true, true).unwrap());
        rules.keys.push(NamePattern::new("ro:*", true, false).unwrap());
        rules.channels.push(NamePattern::new("news.*", true, false).unwrap());
        rules
    }

    #[test]
    fn brokers_ops_and_names_are_all_checked() {
        let rules = app_rules();
        let read = |key: &'static [u8]| Need::new(Broker::Store, &[Op::Read]).on([Name::Exact(key)]);
        let write = |key: &'static [u8]| Need::new(Broker::Store, &[Op::Write]).on([Name::Exact(key)]);
        assert_eq!(rules.check(&read(b"app:1")), Ok(()));
        assert_eq!(rules.check(&write(b"app:1")), Ok(()));
        assert_eq!(rules.check(&read(b"ro:1")), Ok(()));
        assert!(matches!(rules.check(&write(b"ro:1")), Err(Denied::Name { op: Op::Write, .. })));
        assert!(matches!(rules.check(&read(b"other")), Err(Denied::Name { .. })));
        let queue = Need::new(Broker::Queue, &[Op::Write]).on([Name::Exact(b"jobs")]);
        assert_eq!(rules.check(&queue), Err(Denied::Command { broker: Broker::Queue, op: Op::Write }));
        let flush = Need::new(Broker::Store, &[Op::Admin]).on([Name::All]);
        assert!(matches!(rules.check(&flush), Err(Denied::Command { op: Op::Admin, .. })));
    }

    #[test]
    fn globs_need_the_same_glob_or_star() {
        let rules = app_rules();
        let sub = |g: &'static str| Need::new(Broker::PubSub, &[Op::Read]).on([Name::Glob(g)]);
        assert_eq!(rules.check(&sub("news.*")), Ok(()));
        assert!(rules.check(&sub("*")).is_err());
        let keys = Need::new(Broker::Store, &[Op::Read]).on([Name::All]);
        assert!(rules.check(&keys).is_err());
        assert_eq!(Rules::all().check(&keys), Ok(()));
    }

    #[test]
    fn texts_name_the_missing_permission() {
        let denied = Denied::Name { broker: Broker::Store, op: Op::Write, name: "k".into() };
        assert_eq!(denied.v1_text(), "NOPERM this user lacks the permission store:write on 'k'");
        assert_eq!(denied.resp_text("app", "set"), "NOPERM No permissions to access a key");
        let denied = Denied::Command { broker: Broker::Queue, op: Op::Read };
        assert_eq!(
            denied.resp_text("app", "get"),
            "NOPERM User app has no permissions to run the 'get' command"
        );
    }

    proptest::proptest! {
        #[test]
        fn a_read_only_prefix_grants_exactly_reads_under_it(key in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12)) {
            let mut rules = app_rules();
            rules.keys = vec![NamePattern::new("p*", true, false).unwrap()];
            let read = Need::new(Broker::Store, &[Op::Read]).on([Name::Exact(&key)]);
            let write = Need::new(Broker::Store, &[Op::Write]).on([Name::Exact(&key)]);
            proptest::prop_assert_eq!(rules.check(&read).is_ok(), key.first() == Some(&b'p'));
            proptest::prop_assert!(rules.check(&write).is_err());
        }
    }
}
