//! Every server setting: a flag, an environment variable, a config-file key and a safe default.
//!
//! Both binaries parse the same [`Settings`], so they accept the same flags. The flag
//! definitions below are the one place a setting is declared: the config-file keys
//! ([`load`]), `--print-config` and the start-up log ([`effective`]) and the SIGHUP reload
//! ([`reload`]) are all derived from clap's argument list, so a flag added here gets its key
//! with no further code. Precedence: flag > environment > file > default.

pub mod effective;
pub mod file;
pub mod load;
pub mod reload;
pub mod users;
pub mod values;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::driver::FsyncMode;
use nexo_engine::QueueConfig;
use nexo_engine::StreamConfig;
use nexo_engine::pubsub::PubSubConfig;
use nexo_engine::store::{EvictionPolicy, StoreConfig};

pub use effective::{Effective, Source};
pub use values::{Port, TtlSetting, parse_bool, parse_bytes};
use values::{
    parse_frame_bytes, parse_host, parse_max_connections, parse_memory_bytes, parse_port,
    parse_segment_bytes, parse_ttl,
};

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "lower")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Start-up facts and notable events (default).
    Info,
    /// Per-connection events.
    Debug,
    /// Everything, down to each batch a broker handles.
    Trace,
}

/// Nexo: Store, Pub/Sub, Queue and Stream brokers behind one port.
#[derive(Debug, Clone, Parser)]
#[command(name = "nexo", version, about = "Nexo: Store, Pub/Sub, Queue and Stream brokers behind one port.")]
pub struct Settings {
    /// TOML config file; each key is a flag's name without `--` (flag > environment > file > default).
    #[arg(long, env = "NEXO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML (secrets masked) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Address or host name to listen on.
    #[arg(long, env = "NEXO_BIND", default_value = "127.0.0.1", value_parser = parse_host)]
    pub bind: IpAddr,
    /// Port of the v1 protocol (0 = pick a free port, the ready line tells which; off = no listener).
    #[arg(long, env = "NEXO_PORT", default_value = "7654", value_parser = parse_port)]
    pub port: Port,
    /// Port of the MQTT listener (0 = pick a free port, the ready line tells which; off = no listener).
    #[arg(long, env = "NEXO_MQTT_PORT", default_value = "1883", value_parser = parse_port)]
    pub mqtt_port: Port,
    /// Largest MQTT packet accepted, fixed header included (at least 1kb; advertised to MQTT 5
    /// clients as Maximum Packet Size).
    #[arg(long, env = "NEXO_MQTT_MAX_PACKET_BYTES", default_value = "1mb", value_parser = parse_frame_bytes)]
    pub mqtt_max_packet_bytes: u32,
    /// Directory for durable data (created if missing).
    #[arg(long, env = "NEXO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Log verbosity (logs go to stderr); changes live on SIGHUP.
    #[arg(long, env = "NEXO_LOG", value_enum, ignore_case = true, default_value = "info")]
    pub log_level: LogLevel,
    /// Maximum open client connections (at least 1); more are refused with `Too many connections`.
    #[arg(long, env = "NEXO_MAX_CONNECTIONS", default_value = "10000", value_parser = parse_max_connections)]
    pub max_connections: usize,
    /// Largest accepted request payload; a larger frame is answered with an error and closed.
    #[arg(long, env = "NEXO_MAX_FRAME_BYTES", default_value = "10mb", value_parser = parse_frame_bytes)]
    pub max_frame_bytes: u32,
    /// Unsent reply bytes per connection above which the server stops reading that connection.
    #[arg(long = "max-write-buffer", env = "NEXO_MAX_WRITE_BUFFER", default_value = "4mb", value_parser = parse_bytes)]
    pub max_write_buffer_bytes: u64,
    /// A client frame left incomplete longer than this (ms) closes the connection (0 = never).
    #[arg(long = "client-read-timeout", env = "NEXO_CLIENT_READ_TIMEOUT", default_value_t = 30_000)]
    pub client_read_timeout_ms: u64,
    /// A client that sends nothing for this long (ms), with no request waiting and no
    /// subscription, is closed (0 = never, as Redis's `timeout 0`).
    #[arg(long = "client-idle-timeout", env = "NEXO_CLIENT_IDLE_TIMEOUT", default_value_t = 0)]
    pub client_idle_timeout_ms: u64,
    /// When durable writes are fsynced: `always` (before the reply; many clients share one
    /// fsync), `interval:<ms>`, or `never`.
    #[arg(long, env = "NEXO_FSYNC", default_value = "always")]
    pub fsync: FsyncMode,
    /// Run the web dashboard (a boolean: on/off, true/false, yes/no, 1/0); off wins over --ui-port.
    #[arg(long, env = "NEXO_UI", default_value = "on", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub ui: bool,
    /// Do not start the web dashboard (same as --ui off).
    #[arg(long)]
    pub no_ui: bool,
    /// Address or host name the web dashboard listens on.
    #[arg(long, env = "NEXO_UI_BIND", default_value = "127.0.0.1", value_parser = parse_host)]
    pub ui_bind: IpAddr,
    /// Port of the web dashboard (0 = pick a free port, the ready line tells which; off = no dashboard).
    #[arg(long, env = "NEXO_UI_PORT", default_value = "8080", value_parser = parse_port)]
    pub ui_port: Port,
    /// Host names the dashboard answers besides IP addresses and localhost (comma-separated;
    /// `*` = any). Other `Host`/`Origin` headers get 403, which stops DNS-rebinding attacks.
    #[arg(long, env = "NEXO_UI_ALLOWED_HOSTS", value_delimiter = ',', num_args = 0..)]
    pub ui_allowed_hosts: Vec<String>,
    /// Password of the `default` user, as Redis's requirepass: clients AUTH before anything
    /// else. A secret: masked by --print-config and in logs; hashed with Argon2id at start.
    #[arg(long, env = "NEXO_REQUIREPASS", hide_env_values = true)]
    pub requirepass: Option<String>,
    /// Protected mode (yes/no): while the default user has no password and the server listens
    /// beyond loopback, clients not on loopback are refused with Redis's DENIED text.
    #[arg(long, env = "NEXO_PROTECTED_MODE", default_value = "yes", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub protected_mode: bool,
    /// Serve the dashboard's /metrics without a login even when users have passwords.
    #[arg(long, env = "NEXO_METRICS_PUBLIC")]
    pub metrics_public: bool,
    /// Store: TTL in seconds for keys set without one, or `never`.
    #[arg(long, env = "NEXO_STORE_DEFAULT_TTL", default_value = "3600", value_parser = parse_ttl)]
    pub store_default_ttl: TtlSetting,
    /// Store: memory limit (key + value + per-entry overhead); 0 = unlimited; unset = 25% of physical memory.
    #[arg(long, env = "NEXO_STORE_MAX_MEMORY", value_parser = parse_bytes)]
    pub store_max_memory: Option<u64>,
    /// Store: what to evict at the memory limit.
    #[arg(long, env = "NEXO_STORE_EVICTION", default_value = "allkeys-lru")]
    pub store_eviction: EvictionPolicy,
    /// Pub/Sub: unsent push bytes per subscriber before it is closed as a slow consumer.
    #[arg(long, env = "NEXO_PUBSUB_MAX_PENDING_BYTES", default_value = "8mb", value_parser = parse_bytes)]
    pub pubsub_max_pending_bytes: u64,
    /// Pub/Sub: unsent pushes per subscriber before it is closed as a slow consumer.
    #[arg(long, env = "NEXO_PUBSUB_MAX_PENDING_PUSHES", default_value_t = 65_536)]
    pub pubsub_max_pending_pushes: usize,
    /// Pub/Sub: TTL in seconds of retained messages published without one, or `never`.
    #[arg(long, env = "NEXO_PUBSUB_RETAINED_TTL", default_value = "3600", value_parser = parse_ttl)]
    pub pubsub_retained_ttl: TtlSetting,
    /// Pub/Sub: most retained messages kept; a retained publish to one more topic is refused.
    #[arg(long, env = "NEXO_PUBSUB_MAX_RETAINED", default_value_t = 100_000)]
    pub pubsub_max_retained: usize,
    /// Pub/Sub: memory for retained messages; a retained publish beyond it is refused.
    #[arg(long, env = "NEXO_PUBSUB_MAX_RETAINED_BYTES", default_value = "256mb", value_parser = parse_memory_bytes)]
    pub pubsub_max_retained_bytes: usize,
    /// Pub/Sub: subscriptions per connection; one more is answered `Too many subscriptions`.
    #[arg(long, env = "NEXO_PUBSUB_MAX_SUBSCRIPTIONS", default_value_t = 10_000)]
    pub pubsub_max_subscriptions: usize,
    /// Queue: lease length (ms) of a queue created without `visibilityTimeoutMs`.
    #[arg(long, env = "NEXO_QUEUE_VISIBILITY_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_visibility_timeout_ms: u64,
    /// Queue: `maxRetries` of a queue created without it.
    #[arg(long, env = "NEXO_QUEUE_MAX_RETRIES", default_value_t = 5)]
    pub queue_max_retries: u32,
    /// Queue: depth limit of a queue created without `maxDepth`.
    #[arg(long, env = "NEXO_QUEUE_MAX_DEPTH", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub queue_max_depth: u64,
    /// Queue: payload-byte limit of a queue created without `maxBytes`.
    #[arg(long, env = "NEXO_QUEUE_MAX_BYTES", default_value = "1gb", value_parser = parse_bytes)]
    pub queue_max_bytes: u64,
    /// Queue: most queues; a CREATE of one more is answered `Too many queues`.
    #[arg(long, env = "NEXO_QUEUE_MAX_QUEUES", default_value_t = 10_000)]
    pub queue_max_queues: usize,
    /// Stream: how long a fetched message may stay unacknowledged before it is redelivered (ms).
    #[arg(long, env = "NEXO_STREAM_ACK_WAIT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_ack_wait_ms: u64,
    /// Stream: deliveries of one message before a failure dead-letters it for its group.
    #[arg(long, env = "NEXO_STREAM_MAX_DELIVERIES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub stream_max_deliveries: u32,
    /// Stream: retention by age (ms) of a topic created without `retention.maxAgeMs` (0 = unlimited).
    #[arg(long, env = "NEXO_STREAM_RETENTION_MS", default_value_t = 7 * 24 * 3600 * 1000)]
    pub stream_retention_ms: u64,
    /// Stream: retention by size of a topic created without `retention.maxBytes` (0 = unlimited).
    #[arg(long, env = "NEXO_STREAM_RETENTION_BYTES", default_value = "1gb", value_parser = parse_bytes)]
    pub stream_retention_bytes: u64,
    /// Stream: size at which a topic log's segment file is sealed and a new one started (at least
    /// 64kb); retention deletes whole segments, so this is also its granularity.
    #[arg(long, env = "NEXO_STREAM_SEGMENT_BYTES", default_value = "64mb", value_parser = parse_segment_bytes)]
    pub stream_segment_bytes: u64,
    /// Stream: most topics; a CREATE of one more is answered `Too many topics`.
    #[arg(long, env = "NEXO_STREAM_MAX_TOPICS", default_value_t = 10_000)]
    pub stream_max_topics: usize,
    /// Stream: most consumer groups per topic.
    #[arg(long, env = "NEXO_STREAM_MAX_GROUPS", default_value_t = 1_000)]
    pub stream_max_groups: usize,
    /// Seed for the engine's generator (default: fresh OS randomness, logged at start).
    #[arg(long, env = "NEXO_SEED", hide = true)]
    pub seed: Option<u64>,
    /// Every setting's text and where it came from (filled by [`load`], not a flag).
    #[arg(skip)]
    pub effective: Effective,
}

impl Settings {
    /// Parses flags, environment and the config file; prints the configuration and exits for
    /// `--print-config`; exits with a message naming the file, line and key on bad input.
    pub fn from_env_and_args() -> Self {
        load::from_env_and_args()
    }

    /// Where the v1 listener binds, or `None` for `--port off`.
    pub fn v1_addr(&self) -> Option<SocketAddr> {
        self.port.number().map(|port| SocketAddr::new(self.bind, port))
    }

    /// Where the MQTT listener binds (on the `--bind` address), or `None` for `--mqtt-port off`.
    pub fn mqtt_addr(&self) -> Option<SocketAddr> {
        self.mqtt_port.number().map(|port| SocketAddr::new(self.bind, port))
    }

    /// Where the dashboard listens, or `None` when it is off (`--no-ui`, `--ui off`,
    /// `NEXO_UI=false`, `--ui-port off`); off wins over any UI port setting.
    pub fn ui_addr(&self) -> Option<SocketAddr> {
        let port = self.ui_port.number()?;
        (self.ui && !self.no_ui).then_some(SocketAddr::new(self.ui_bind, port))
    }

    /// The Store's engine settings, given the physical memory found at start; a limit of 0
    /// means unlimited (as Redis's `maxmemory 0`). MGET replies are capped at the frame limit.
    pub fn store_config(&self, physical_memory_bytes: u64) -> StoreConfig {
        let max_memory_bytes = match self.store_max_memory {
            Some(0) => u64::MAX,
            Some(bytes) => bytes,
            None => physical_memory_bytes / 4,
        };
        StoreConfig {
            default_ttl_ms: self.store_default_ttl.as_ms(),
            max_memory_bytes,
            eviction: self.store_eviction,
            max_reply_bytes: self.max_frame_bytes as usize,
        }
    }

    /// The Queue's engine settings: batch replies are capped at the frame limit.
    pub fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            max_reply_bytes: self.max_frame_bytes as usize,
            default_visibility_timeout_ms: self.queue_visibility_timeout_ms,
            default_max_retries: self.queue_max_retries,
            default_max_depth: self.queue_max_depth,
            default_max_bytes: self.queue_max_bytes,
            max_queues: self.queue_max_queues,
            ..QueueConfig::default()
        }
    }

    /// The Stream's engine settings: batch replies are capped at the frame limit.
    pub fn stream_config(&self) -> StreamConfig {
        StreamConfig {
            max_reply_bytes: self.max_frame_bytes as usize,
            ack_wait_ms: self.stream_ack_wait_ms,
            max_deliveries: self.stream_max_deliveries,
            default_max_age_ms: self.stream_retention_ms,
            default_max_bytes: self.stream_retention_bytes,
            max_topics: self.stream_max_topics,
            max_groups_per_topic: self.stream_max_groups,
            ..StreamConfig::default()
        }
    }

    /// Pub/Sub's engine settings (limits not exposed as flags keep their engine defaults).
    pub fn pubsub_config(&self) -> PubSubConfig {
        PubSubConfig {
            retained_default_ttl_ms: self.pubsub_retained_ttl.as_ms(),
            max_pending_push_bytes: usize::try_from(self.pubsub_max_pending_bytes).unwrap_or(usize::MAX),
            max_pending_pushes: self.pubsub_max_pending_pushes,
            max_retained_messages: self.pubsub_max_retained,
            max_retained_bytes: self.pubsub_max_retained_bytes,
            max_subscriptions_per_conn: self.pubsub_max_subscriptions,
            ..PubSubConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe() {
        let s = Settings::parse_from(["nexo"]);
        assert_eq!(s.bind.to_string(), "127.0.0.1");
        assert_eq!(s.port, Port::Number(7654));
        assert_eq!(s.ui_addr().map(|a| a.to_string()).as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(Settings::parse_from(["nexo", "--no-ui"]).ui_addr(), None);
        assert_eq!(Settings::parse_from(["nexo", "--ui", "OFF", "--ui-port", "0"]).ui_addr(), None);
        assert_eq!(Settings::parse_from(["nexo", "--ui-port", "off"]).ui_addr(), None);
        assert_eq!(Settings::parse_from(["nexo", "--ui-port", "0"]).ui_addr().map(|a| a.port()), Some(0));
        assert_eq!(Settings::parse_from(["nexo", "--port", "off"]).v1_addr(), None);
        assert_eq!(s.max_connections, 10_000);
        assert_eq!(s.max_frame_bytes, 10 << 20);
        assert_eq!(s.store_config(8 << 30).max_memory_bytes, 2 << 30);
        assert_eq!(s.store_config(0).default_ttl_ms, Some(3_600_000));
        assert_eq!(s.queue_config().default_max_depth, QueueConfig::default().default_max_depth);
        assert_eq!(s.stream_config().default_max_age_ms, StreamConfig::default().default_max_age_ms);
        assert_eq!(s.pubsub_config().max_retained_bytes, PubSubConfig::default().max_retained_bytes);
    }

    #[test]
    fn store_memory_zero_is_unlimited() {
        let s = Settings::parse_from(["nexo", "--store-max-memory", "0"]);
        assert_eq!(s.store_config(8 << 30).max_memory_bytes, u64::MAX);
        let s = Settings::parse_from(["nexo", "--store-max-memory", "1.5gb"]);
        assert_eq!(s.store_config(8 << 30).max_memory_bytes, 3 << 29);
    }

    #[test]
    fn rough_edges_are_gone() {
        assert!(Settings::try_parse_from(["nexo", "--max-connections", "0"]).is_err());
        assert!(Settings::parse_from(["nexo", "--bind", "localhost"]).bind.is_loopback());
        assert_eq!(Settings::parse_from(["nexo", "--log-level", "TRACE"]).log_level, LogLevel::Trace);
    }
}
