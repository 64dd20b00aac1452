//! Start-up: the engine seed, physical memory, the data directory, building and recovering every
//! broker, and the ready line.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nexo_engine::{Broker, PubSub, Queue, Store, Stream};
use nexo_session::Limits;
use nexo_session::mqtt::{MqttConfig, MqttContext};
use nexo_session::resp::{ProcessProbe, ProcessStats, RespSettings};
use nexo_storage::{FileStorage, LogConfig, StorageError};

use crate::clock::Clock;
use crate::driver::{BrokerDriver, Durability, RecoverError, Replayed};
use crate::settings::Settings;

/// A fresh 64-bit seed from the OS (through std's randomly keyed hasher).
pub fn os_seed() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}

/// Physical memory in bytes from `/proc/meminfo`, or `None` where it cannot be read.
pub fn physical_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Creates the data directory if it does not exist.
///
/// # Errors
/// The I/O error, for the caller to report and exit.
pub fn prepare_data_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// What RESP sessions need to know about this server: its flags, the port actually bound and the
/// Store's configuration.
pub fn resp_settings(settings: &Settings, port: u16, store: &nexo_engine::StoreConfig) -> RespSettings {
    RespSettings {
        max_frame_bytes: settings.max_frame_bytes,
        max_subscriptions: settings.pubsub_config().max_subscriptions_per_conn,
        // Unlimited reads 0, as Redis's `maxmemory 0`.
        max_memory_bytes: if store.max_memory_bytes == u64::MAX { 0 } else { store.max_memory_bytes },
        eviction: store.eviction.to_string(),
        port,
        max_connections: settings.max_connections,
        process: ProcessProbe::new(process_stats),
    }
}

/// The process numbers RESP's INFO reports: RSS from `/proc/self/status`, CPU time from
/// `/proc/self/stat` (at the usual 100 ticks a second); zeros where the OS does not tell.
pub fn process_stats() -> ProcessStats {
    let ticks = std::fs::read_to_string("/proc/self/stat").ok().and_then(|stat| {
        // Fields after the parenthesised name: state is the first, utime the 12th, stime the 13th.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some((fields.get(11)?.parse::<u64>().ok()?, fields.get(12)?.parse::<u64>().ok()?))
    });
    let (user, sys) = ticks.unwrap_or((0, 0));
    ProcessStats {
        rss_bytes: crate::dashboard::process_rss_bytes().unwrap_or(0),
        cpu_user_secs: user as f64 / 100.0,
        cpu_sys_secs: sys as f64 / 100.0,
    }
}

/// The limits every client session enforces, from the flags, with `max_connections` (the
/// connection limit as the open-file budget left it: [`Brokers::max_connections`]).
pub fn session_limits(settings: &Settings, max_connections: usize) -> Limits {
    let write_limit = usize::try_from(settings.max_write_buffer_bytes).unwrap_or(usize::MAX);
    let mut limits = Limits::new(settings.max_frame_bytes, write_limit);
    limits.read_timeout_ms = settings.client_read_timeout_ms;
    limits.idle_timeout_ms = settings.client_idle_timeout_ms;
    limits.max_connections = max_connections;
    limits
}

/// The MQTT sessions' shared context: `--mqtt-max-packet-bytes` and Pub/Sub's topic limits.
pub fn mqtt_context(settings: &Settings) -> Arc<MqttContext> {
    let config = MqttConfig {
        max_packet_bytes: settings.mqtt_max_packet_bytes,
        topic_limits: settings.pubsub_config().topic_limits(),
        ..MqttConfig::default()
    };
    Arc::new(MqttContext::new(config))
}

/// The one line printed on stdout once the server accepts connections: `v1=`, `ui=`, `mqtt=`,
/// each an address or `off`.
pub fn ready_line(v1: Option<SocketAddr>, ui: Option<SocketAddr>, mqtt: Option<SocketAddr>) -> String {
    let shown = |addr: Option<SocketAddr>| addr.map_or_else(|| "off".to_owned(), |a| a.to_string());
    format!("nexo ready v1={} ui={} mqtt={}", shown(v1), shown(ui), shown(mqtt))
}

/// Every broker, built, given its storage and recovered: what a runtime starts serving with.
#[derive(Debug)]
pub struct Brokers {
    /// The Store (memory only).
    pub store: BrokerDriver<Store>,
    /// Pub/Sub, its retained messages journaled in `<data-dir>/pubsub`.
    pub pubsub: BrokerDriver<PubSub>,
    /// The Queue, on its journal in `<data-dir>/queue`.
    pub queue: BrokerDriver<Queue>,
    /// The Stream, its journal and topic logs in `<data-dir>/stream`.
    pub stream: BrokerDriver<Stream>,
    /// `--max-connections`, or lower when the open-file limit cannot hold it (see
    /// [`fd_caps`]): what the runtime must enforce.
    pub max_connections: usize,
}

/// Why the server could not start.
#[derive(Debug)]
pub enum StartError {
    /// The data directory could not be created.
    DataDir(PathBuf, std::io::Error),
    /// A broker's storage could not be opened (for example, another process holds the lock).
    Storage(String, StorageError),
    /// A broker's logs could not be replayed.
    Recover(String, RecoverError),
    /// The SIGHUP (reload) handler could not be installed.
    Signals(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DataDir(dir, e) => write!(f, "cannot create data directory {}: {e}", dir.display()),
            Self::Storage(broker, e) => write!(f, "{broker} storage: {e}"),
            Self::Recover(broker, e) => write!(f, "{broker} recovery: {e}"),
            Self::Signals(e) => write!(f, "cannot watch for SIGHUP: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Builds every broker from the settings, opens its storage (taking the data-directory locks),
/// replays its logs and logs what it found; logs every setting and starts the SIGHUP reload
/// thread. Both runtimes start this way.
///
/// # Errors
/// The data directory cannot be created or locked, or a log cannot be recovered.
pub fn start_brokers(settings: &Settings, clock: &Clock) -> Result<Brokers, StartError> {
    prepare_data_dir(&settings.data_dir).map_err(|e| StartError::DataDir(settings.data_dir.clone(), e))?;
    let seed = settings.seed.unwrap_or_else(os_seed);
    let physical = physical_memory_bytes().unwrap_or_else(|| {
        tracing::warn!("physical memory unknown; assuming 4 GiB for the Store's default limit");
        4 << 30
    });
    let store_config = settings.store_config(physical);
    let pubsub_config = settings.pubsub_config();
    let queue_config = settings.queue_config();
    let mut stream_config = settings.stream_config();
    tracing::info!("engine seed {seed} (replay with --seed)");
    let (max_connections, max_topics) = raise_fd_limit(settings.max_connections, stream_config.max_topics);
    stream_config.max_topics = max_topics;
    settings.effective.log();
    log_store_memory(store_config.max_memory_bytes, physical);
    crate::settings::reload::watch(settings).map_err(StartError::Signals)?;

    let store = BrokerDriver::new(Store::new(store_config, seed), None);
    let journal = LogConfig::default();
    let pubsub =
        durable(PubSub::new(pubsub_config, seed ^ 0x5055_4253_5542), "pubsub", settings, journal, clock)?;
    let queue =
        durable(Queue::new(queue_config, seed ^ 0x5155_4555_4500), "queue", settings, journal, clock)?;
    // Topic logs are sealed at --stream-segment-bytes (retention drops whole segments).
    let topics = LogConfig { segment_bytes_max: settings.stream_segment_bytes, ..LogConfig::default() };
    let stream =
        durable(Stream::new(stream_config, seed ^ 0x5354_5245_414D), "stream", settings, topics, clock)?;
    Ok(Brokers { store, pubsub, queue, stream, max_connections })
}

/// Logs the Store's memory limit as `key=value`, with its share of physical memory.
fn log_store_memory(max_memory_bytes: u64, physical: u64) {
    if max_memory_bytes == u64::MAX {
        tracing::info!("store max_memory_bytes=unlimited physical_memory_bytes={physical}");
    } else {
        let percent = max_memory_bytes.saturating_mul(100) / physical.max(1);
        tracing::info!(
            "store max_memory_bytes={max_memory_bytes} ({percent}% of physical_memory_bytes={physical})"
        );
    }
}

/// A non-blocking listener on `addr` for a runtime to adopt (`from_std`), with the address it
/// bound; `None` when the listener is off.
///
/// # Errors
/// The bind failed; the message names the address.
pub fn listen(addr: Option<SocketAddr>) -> std::io::Result<Option<(std::net::TcpListener, SocketAddr)>> {
    let Some(addr) = addr else { return Ok(None) };
    let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"));
    let listener = std::net::TcpListener::bind(addr).map_err(named)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    Ok(Some((listener, local)))
}

/// Prints the ready line and flushes it: the only thing either binary writes to stdout.
#[allow(clippy::print_stdout, reason = "the ready line is the start-up contract")]
pub fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        tracing::warn!("cannot write the ready line to stdout: {e}");
    }
}

/// TCP_NODELAY (replies are small and latency matters) and SO_KEEPALIVE (dead peers go away)
/// on an accepted socket; a failure only costs latency or dead-peer detection, so it is logged.
pub fn tune_socket(socket: impl std::os::fd::AsFd) {
    let socket = socket2::SockRef::from(&socket);
    if let Err(e) = socket.set_tcp_nodelay(true).and_then(|()| socket.set_keepalive(true)) {
        tracing::debug!("socket options: {e}");
    }
}

/// File descriptors kept beyond one per connection and one per stream topic: refusals in
/// progress, listeners, the brokers' journals, the dashboard.
const SPARE_FDS: u64 = 512;

/// Raises the soft open-file limit so `--max-connections` connections and
/// `--stream-max-topics` topic logs (one open file each) fit; when the hard limit is lower,
/// starts anyway with both caps lowered to fit, with one WARN. Returns the caps to enforce.
fn raise_fd_limit(max_connections: usize, max_topics: usize) -> (usize, usize) {
    let wanted = (max_connections as u64).saturating_add(max_topics as u64).saturating_add(SPARE_FDS);
    let got = match rlimit::increase_nofile_limit(wanted) {
        Ok(got) => got,
        Err(e) => {
            tracing::warn!("cannot raise the open-file limit: {e}; keeping the caps as set");
            return (max_connections, max_topics);
        }
    };
    let (connections, topics) = fd_caps(got, max_connections, max_topics);
    if (connections, topics) == (max_connections, max_topics) {
        tracing::info!("open-file limit {got}");
    } else {
        tracing::warn!(
            "open-file limit is {got}, below the {wanted} that --max-connections {max_connections} and \
             --stream-max-topics {max_topics} need; serving with max connections {connections} and max \
             topics {topics} (raise the hard limit with ulimit -Hn)"
        );
    }
    (connections, topics)
}

/// The connection and topic caps that fit in `limit` open files: unchanged when both fit with
/// [`SPARE_FDS`] to spare, else both lowered in proportion (at least 1 each), so the server
/// always starts.
pub fn fd_caps(limit: u64, max_connections: usize, max_topics: usize) -> (usize, usize) {
    let (conns, topics) = (max_connections as u64, max_topics as u64);
    if conns.saturating_add(topics).saturating_add(SPARE_FDS) <= limit {
        return (max_connections, max_topics);
    }
    // Keep at least half of a small limit for clients and topics.
    let room = limit.saturating_sub(SPARE_FDS.min(limit / 2)).max(2);
    let total = conns.saturating_add(topics).max(1);
    let fit_conns = (u128::from(room) * u128::from(conns) / u128::from(total)) as u64;
    let fit_conns = fit_conns.clamp(1, room - 1).min(conns.max(1));
    let fit_topics = (room - fit_conns).clamp(1, topics.max(1));
    let cap = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    (cap(fit_conns), cap(fit_topics))
}

/// A broker on its own storage root `<data-dir>/<name>` (locked), with its logs replayed.
fn durable<B: Broker>(
    broker: B,
    name: &str,
    settings: &Settings,
    log_config: LogConfig,
    clock: &Clock,
) -> Result<BrokerDriver<B>, StartError> {
    let storage = FileStorage::open_dir(&settings.data_dir.join(name))
        .map_err(|e| StartError::Storage(name.into(), e))?;
    let durability = Durability::with_log_config(Box::new(storage), settings.fsync, log_config);
    let mut driver = BrokerDriver::new(broker, Some(durability));
    let replayed = driver.recover(clock).map_err(|e| StartError::Recover(name.into(), e))?;
    log_replay(name, &replayed);
    Ok(driver)
}

fn log_replay(broker: &str, replayed: &Replayed) {
    for (log, records, dropped_bytes, why) in &replayed.logs {
        tracing::info!("{broker}: replayed {records} records of log '{log}'");
        if *dropped_bytes > 0 {
            tracing::warn!(
                "{broker}: log '{log}' had a torn or corrupt tail; dropped {dropped_bytes} bytes: {}",
                why.as_deref().unwrap_or("no detail")
            );
        }
    }
}

#[cfg(test)]
mod fd_tests {
    use super::fd_caps;

    #[test]
    fn caps_fit_the_open_file_limit_and_never_reach_zero() {
        assert_eq!(fd_caps(1 << 20, 10_000, 10_000), (10_000, 10_000));
        let (conns, topics) = fd_caps(4096, 10_000, 10_000);
        assert!(conns + topics + 512 <= 4096, "{conns} + {topics}");
        assert_eq!((conns, topics), (1792, 1792));
        assert_eq!(fd_caps(4096, 10_000, 0).1, 1);
        let (conns, topics) = fd_caps(0, 10_000, 10_000);
        assert!(conns >= 1 && topics >= 1);
        let (conns, topics) = fd_caps(256, 10_000, 100);
        assert!(conns >= 1 && topics >= 1 && conns + topics <= 128, "{conns} + {topics}");
    }
}
