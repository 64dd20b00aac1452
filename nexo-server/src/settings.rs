//! Every server setting: a flag, an environment variable and a safe default.
//!
//! Both binaries parse the same [`Settings`], so they accept the same flags. Sizes accept a
//! plain byte count or a suffix (`kb`, `mb`, `gb`, powers of 1024); durations in seconds accept
//! `never`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::driver::FsyncMode;
use nexo_engine::QueueConfig;
use nexo_engine::StreamConfig;
use nexo_engine::pubsub::PubSubConfig;
use nexo_engine::store::{EvictionPolicy, StoreConfig};

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Start-up facts and notable events (default).
    Info,
    /// Per-connection events.
    Debug,
    /// Everything.
    Trace,
}

/// A TTL setting in seconds, or no expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlSetting(pub Option<u64>);

impl TtlSetting {
    /// Milliseconds, or `None` for no expiry.
    pub fn as_ms(self) -> Option<u64> {
        self.0.map(|s| s.saturating_mul(1000))
    }
}

fn parse_ttl(text: &str) -> Result<TtlSetting, String> {
    if text.eq_ignore_ascii_case("never") {
        return Ok(TtlSetting(None));
    }
    match text.parse::<u64>() {
        Ok(0) => Err("a TTL of 0 is not allowed; use 'never' for no expiry".into()),
        Ok(secs) => Ok(TtlSetting(Some(secs))),
        Err(_) => Err(format!("'{text}' is not a number of seconds or 'never'")),
    }
}

/// Parses `123`, `64kb`, `10mb`, `1gb` (also `k`, `m`, `g`, `b`; case-insensitive; 1024-based).
///
/// # Errors
/// A message naming the bad text.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(digits_end);
    let number: u64 = digits.parse().map_err(|_| format!("'{text}' is not a size like 1024, 64kb or 1gb"))?;
    let scale: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("'{text}' has an unknown unit (use b, kb, mb or gb)")),
    };
    number.checked_mul(scale).ok_or_else(|| format!("'{text}' is too large"))
}

fn parse_frame_bytes(text: &str) -> Result<u32, String> {
    let bytes = parse_bytes(text)?;
    if bytes < 1024 {
        return Err("the frame limit must be at least 1kb".into());
    }
    u32::try_from(bytes).map_err(|_| "the frame limit must be below 4gb".into())
}

/// Nexo: Store, Pub/Sub, Queue and Stream brokers behind one port.
#[derive(Debug, Clone, Parser)]
#[command(name = "nexo", version, about = "Nexo: Store, Pub/Sub, Queue and Stream brokers behind one port.")]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "NEXO_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port of the v1 protocol (0 = pick a free port; the ready line tells which).
    #[arg(long, env = "NEXO_PORT", default_value_t = 7654)]
    pub port: u16,
    /// Directory for durable data (created if missing).
    #[arg(long, env = "NEXO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Log verbosity (logs go to stderr).
    #[arg(long, env = "NEXO_LOG", value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// Maximum open client connections; more are refused with `Too many connections`.
    #[arg(long, env = "NEXO_MAX_CONNECTIONS", default_value_t = 10_000)]
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
    /// When durable writes (Queue, retained messages) are fsynced: `always` (before the reply; many
    /// clients share one fsync), `interval:<ms>`, or `never`.
    #[arg(long, env = "NEXO_FSYNC", default_value = "always")]
    pub fsync: FsyncMode,
    /// Do not start the web dashboard (also `NEXO_UI=off`).
    #[arg(long)]
    pub no_ui: bool,
    /// Address the web dashboard listens on.
    #[arg(long, env = "NEXO_UI_BIND", default_value = "127.0.0.1")]
    pub ui_bind: IpAddr,
    /// Port of the web dashboard (0 = pick a free port; the ready line tells which).
    #[arg(long, env = "NEXO_UI_PORT", default_value_t = 8080)]
    pub ui_port: u16,
    /// Store: TTL in seconds for keys set without one, or `never`.
    #[arg(long, env = "NEXO_STORE_DEFAULT_TTL", default_value = "3600", value_parser = parse_ttl)]
    pub store_default_ttl: TtlSetting,
    /// Store: memory limit (key + value + per-entry overhead); default 25% of physical memory.
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
    /// Stream: how long a fetched message may stay unacknowledged before it is redelivered (ms).
    #[arg(long, env = "NEXO_STREAM_ACK_WAIT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub stream_ack_wait_ms: u64,
    /// Stream: deliveries of one message before a failure dead-letters it for its group.
    #[arg(long, env = "NEXO_STREAM_MAX_DELIVERIES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub stream_max_deliveries: u32,
    /// Seed for the engine's generator (default: fresh OS randomness, logged at start).
    #[arg(long, env = "NEXO_SEED", hide = true)]
    pub seed: Option<u64>,
}

impl Settings {
    /// Parses flags and environment; exits with a usage message on bad input.
    pub fn from_env_and_args() -> Self {
        let mut settings = Self::parse();
        if std::env::var("NEXO_UI").is_ok_and(|v| v.eq_ignore_ascii_case("off")) {
            settings.no_ui = true;
        }
        settings
    }

    /// Where the dashboard listens, or `None` when it is off (`--no-ui` / `NEXO_UI=off`).
    pub fn ui_addr(&self) -> Option<SocketAddr> {
        (!self.no_ui).then_some(SocketAddr::new(self.ui_bind, self.ui_port))
    }

    /// The Store's engine settings, given the physical memory found at start.
    pub fn store_config(&self, physical_memory_bytes: u64) -> StoreConfig {
        StoreConfig {
            default_ttl_ms: self.store_default_ttl.as_ms(),
            max_memory_bytes: self.store_max_memory.unwrap_or(physical_memory_bytes / 4),
            eviction: self.store_eviction,
        }
    }

    /// The Queue's engine settings: batch replies are capped at the frame limit.
    pub fn queue_config(&self) -> QueueConfig {
        QueueConfig { max_reply_bytes: self.max_frame_bytes as usize, ..QueueConfig::default() }
    }

    /// The Stream's engine settings: batch replies are capped at the frame limit.
    pub fn stream_config(&self) -> StreamConfig {
        StreamConfig {
            max_reply_bytes: self.max_frame_bytes as usize,
            ack_wait_ms: self.stream_ack_wait_ms,
            max_deliveries: self.stream_max_deliveries,
            ..StreamConfig::default()
        }
    }

    /// Pub/Sub's engine settings (limits not exposed as flags keep their engine defaults).
    pub fn pubsub_config(&self) -> PubSubConfig {
        PubSubConfig {
            retained_default_ttl_ms: self.pubsub_retained_ttl.as_ms(),
            max_pending_push_bytes: usize::try_from(self.pubsub_max_pending_bytes).unwrap_or(usize::MAX),
            max_pending_pushes: self.pubsub_max_pending_pushes,
            ..PubSubConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("64kb"), Ok(65536));
        assert_eq!(parse_bytes("10MB"), Ok(10 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert!(parse_bytes("12xb").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("99999999999999gb").is_err());
    }

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("never"), Ok(TtlSetting(None)));
        assert_eq!(parse_ttl("60").map(TtlSetting::as_ms), Ok(Some(60_000)));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("soon").is_err());
    }

    #[test]
    fn defaults_are_safe() {
        let s = Settings::parse_from(["nexo"]);
        assert_eq!(s.bind.to_string(), "127.0.0.1");
        assert_eq!(s.port, 7654);
        assert_eq!(s.ui_addr().map(|a| a.to_string()).as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(Settings::parse_from(["nexo", "--no-ui"]).ui_addr(), None);
        assert_eq!(Settings::parse_from(["nexo", "--ui-port", "0"]).ui_addr().map(|a| a.port()), Some(0));
        assert_eq!(s.max_connections, 10_000);
        assert_eq!(s.max_frame_bytes, 10 << 20);
        assert_eq!(s.store_config(8 << 30).max_memory_bytes, 2 << 30);
        assert_eq!(s.store_config(0).default_ttl_ms, Some(3_600_000));
    }
}
