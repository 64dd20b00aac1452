//! The command line as clap sees it: global connection and output options, and one subcommand
//! tree per broker. Only shapes and parsing live here; what each subcommand does is in the
//! broker modules, and how the connection options combine with the config file in `target`.

use clap::{Args, Parser, Subcommand};

/// Administer a Nexo server from the shell: Store, Pub/Sub, Queue and Stream over v1.
///
/// Exit status: 0 success; 1 the server refused the request (its text on stderr); 2 bad
/// arguments; 3 the server could not be reached, timed out or broke the protocol.
#[derive(Debug, Parser)]
#[command(name = "nexo-cli", version, propagate_version = true)]
pub struct Cli {
    /// Connection and output options (allowed before or after the subcommand).
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand accepts, before or after it.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Server host [default: 127.0.0.1, or the config file's `bind`].
    #[arg(long, global = true, env = "NEXO_CLI_HOST")]
    pub host: Option<String>,
    /// Server v1 port [default: 7654, or the config file's `port`].
    #[arg(long, global = true, env = "NEXO_CLI_PORT")]
    pub port: Option<u16>,
    /// The server as a URL, `nexo://[user:password@]host[:port]` (flags given as well win).
    #[arg(long, global = true, env = "NEXO_CLI_URL")]
    pub url: Option<String>,
    /// User name (needs a server with v1 AUTH).
    #[arg(long, global = true, env = "NEXO_CLI_USER")]
    pub user: Option<String>,
    /// Password (needs a server with v1 AUTH).
    #[arg(long, global = true, env = "NEXO_CLI_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Connect over TLS (needs a server with TLS).
    #[arg(long, global = true, env = "NEXO_CLI_TLS")]
    pub tls: bool,
    /// CA certificate file for `--tls`.
    #[arg(long, global = true, env = "NEXO_CLI_CACERT")]
    pub cacert: Option<String>,
    /// The server's TOML config file: its `bind` and `port` are used unless flags or
    /// environment variables say otherwise.
    #[arg(long, global = true, env = "NEXO_CLI_CONFIG")]
    pub config: Option<String>,
    /// Write exactly one JSON document to stdout (JSON lines for `tail` and `subscribe`).
    #[arg(long, global = true, env = "NEXO_CLI_JSON")]
    pub json: bool,
    /// How long to wait for each reply, in milliseconds.
    #[arg(long, global = true, env = "NEXO_CLI_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,
}

/// The brokers and the server.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Queues: list, create, inspect, push, consume, purge, delete, dead letters.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Stream topics: list, create, inspect, tail, publish, groups, dead letters, delete.
    #[command(subcommand)]
    Stream(StreamCmd),
    /// Pub/Sub: publish and subscribe.
    #[command(subcommand)]
    Pubsub(PubSubCmd),
    /// Store keys: get, set, del, scan, info.
    #[command(subcommand)]
    Store(StoreCmd),
    /// The server: info and health.
    #[command(subcommand)]
    Server(ServerCmd),
}

/// A page of a listing.
#[derive(Debug, Clone, Copy, Args)]
pub struct PageArgs {
    /// Entries to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    /// Most entries to show (the server caps a page at 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

/// `queue …`.
#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// Queues with their ready, in-flight, delayed and dead counts.
    List(PageArgs),
    /// Create a queue (an existing queue keeps its options).
    Create {
        /// Queue name.
        queue: String,
        /// Lease length of a consumed message, in milliseconds.
        #[arg(long)]
        visibility_timeout_ms: Option<u64>,
        /// Deliveries before a message goes to the dead-letter queue.
        #[arg(long)]
        max_retries: Option<u32>,
        /// Most messages the queue holds.
        #[arg(long)]
        max_depth: Option<u64>,
        /// Most payload bytes the queue holds.
        #[arg(long)]
        max_bytes: Option<u64>,
    },
    /// One queue's counts.
    Info {
        /// Queue name.
        queue: String,
    },
    /// Push a message.
    Push {
        /// Queue name.
        queue: String,
        /// Message body (UTF-8 text as given).
        body: String,
        /// Priority, 0 (lowest) to 255.
        #[arg(long)]
        priority: Option<u8>,
        /// Ready only after this many milliseconds.
        #[arg(long)]
        delay_ms: Option<u64>,
    },
    /// Consume messages and acknowledge them (they are removed), or with `--no-ack` hold them
    /// until this command exits, when they return to the queue.
    Consume {
        /// Queue name.
        queue: String,
        /// Most messages to take.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        max: u32,
        /// Wait up to this many milliseconds for a first message.
        #[arg(long, default_value_t = 0)]
        wait_ms: u64,
        /// Do not acknowledge: the messages return to the queue (their delivery counts).
        #[arg(long)]
        no_ack: bool,
    },
    /// Remove every ready and delayed message.
    Purge {
        /// Queue name.
        queue: String,
    },
    /// Delete a queue and everything in it.
    Delete {
        /// Queue name.
        queue: String,
    },
    /// The dead-letter queue.
    #[command(subcommand)]
    Dlq(QueueDlqCmd),
}

/// `queue dlq …`.
#[derive(Debug, Subcommand)]
pub enum QueueDlqCmd {
    /// Dead messages, newest failure first.
    List {
        /// Queue name.
        queue: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Make dead messages ready again: the one named, or all of them.
    Replay {
        /// Queue name.
        queue: String,
        /// Message id (32 hex digits); every dead message when omitted.
        id: Option<String>,
    },
    /// Remove every dead message.
    Purge {
        /// Queue name.
        queue: String,
    },
}

/// `stream …`.
#[derive(Debug, Subcommand)]
pub enum StreamCmd {
    /// Topics with their sequence range, retention and group count.
    List(PageArgs),
    /// Create a topic (an existing topic keeps its retention).
    Create {
        /// Topic name.
        topic: String,
        /// Delete sealed segments older than this many milliseconds.
        #[arg(long)]
        max_age_ms: Option<u64>,
        /// Delete the oldest sealed segments past this many bytes.
        #[arg(long)]
        max_bytes: Option<u64>,
    },
    /// One topic and its consumer groups.
    Info {
        /// Topic name.
        topic: String,
    },
    /// Print messages as they are published (through a consumer group of its own, removed
    /// at the end) until `--count`, `--timeout-ms` or Ctrl-C.
    Tail {
        /// Topic name.
        topic: String,
        /// Start at the oldest retained message instead of the next new one.
        #[arg(long, conflicts_with = "from_seq")]
        from_beginning: bool,
        /// Start at this sequence.
        #[arg(long)]
        from_seq: Option<u64>,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Publish a message; prints its sequence.
    Publish {
        /// Topic name.
        topic: String,
        /// Message body (UTF-8 text as given).
        body: String,
    },
    /// Consumer groups.
    #[command(subcommand)]
    Group(GroupCmd),
    /// A group's dead letters.
    #[command(subcommand)]
    Dlq(StreamDlqCmd),
    /// Delete a topic with its groups.
    Delete {
        /// Topic name.
        topic: String,
    },
}

/// `stream group …`.
#[derive(Debug, Subcommand)]
pub enum GroupCmd {
    /// A topic's groups with ack floor, lag, pending, members and dead letters.
    List {
        /// Topic name.
        topic: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Move a group (its members must re-join).
    Seek {
        /// Topic name.
        topic: String,
        /// Group name.
        group: String,
        /// Where to: exactly one of these.
        #[command(flatten)]
        to: SeekArgs,
    },
}

/// Where `stream group seek` moves a group.
#[derive(Debug, Clone, Copy, Args)]
#[group(required = true, multiple = false)]
pub struct SeekArgs {
    /// The oldest retained message.
    #[arg(long)]
    pub beginning: bool,
    /// After the newest message.
    #[arg(long)]
    pub end: bool,
    /// This sequence (clamped to the retained range).
    #[arg(long)]
    pub seq: Option<u64>,
    /// The first message published at or after this Unix time in milliseconds.
    #[arg(long)]
    pub time_ms: Option<u64>,
}

/// `stream dlq …`.
#[derive(Debug, Subcommand)]
pub enum StreamDlqCmd {
    /// A group's dead letters by sequence.
    List {
        /// Topic name.
        topic: String,
        /// Group name.
        group: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Hand dead letters back to the group: the sequence named, or all of them.
    Replay {
        /// Topic name.
        topic: String,
        /// Group name.
        group: String,
        /// Sequence; every dead letter when omitted.
        seq: Option<u64>,
    },
}

/// `pubsub …`.
#[derive(Debug, Subcommand)]
pub enum PubSubCmd {
    /// Publish a message to a concrete topic.
    Publish {
        /// Topic (no wildcards).
        topic: String,
        /// Message body (UTF-8 text as given).
        body: String,
        /// Keep it as the topic's retained message.
        #[arg(long)]
        retain: bool,
        /// Retained message lifetime in seconds.
        #[arg(long, requires = "retain")]
        ttl: Option<u64>,
    },
    /// Print messages matching the patterns until `--count`, `--timeout-ms` or Ctrl-C.
    Subscribe {
        /// Patterns (`+` one level, `#` the rest).
        #[arg(required = true)]
        patterns: Vec<String>,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
}

/// `store …`.
#[derive(Debug, Subcommand)]
pub enum StoreCmd {
    /// A key's value (`null` / `(nil)` when missing).
    Get {
        /// Key.
        key: String,
    },
    /// Set a key.
    Set {
        /// Key.
        key: String,
        /// Value (UTF-8 text as given).
        value: String,
        /// Expire after this many seconds.
        #[arg(long)]
        ttl: Option<u64>,
    },
    /// Delete keys.
    Del {
        /// Keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Keys matching a glob pattern.
    Scan {
        /// Glob pattern.
        #[arg(default_value = "*")]
        pattern: String,
        /// Most keys to list.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// The Store's sizes and counters.
    Info,
}

/// `server …`.
#[derive(Debug, Subcommand)]
pub enum ServerCmd {
    /// Round-trip time and what each broker holds.
    Info,
    /// Whether the server answers (exit 0) or not (exit 3).
    Health,
}
