//! Drives one broker: the engine's drain rule plus the storage instructions it emits.
//!
//! Both runtimes run every broker through a [`BrokerDriver`], so durability works the same in
//! both. The driver owns the broker and (for brokers with logs) their [`Storage`]; it replays the
//! logs at start-up, carries out `Append`/`Roll`/`TruncateBefore`, and commits per the fsync
//! mode: in `always` mode all appends of one drain share **one** fsync (group commit) before the
//! broker hears `handle_persisted`, so replies that wait for durability go out only after it. It
//! never touches sockets; network outputs are handed back to the runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use nexo_engine::observe::{Answer, BrokerKind, BrokerSnapshot, BrokerStats, Observe, Query, StorageHealth};
use nexo_engine::{Broker, ConnId, LogId, NetOutput, Now, Output, StoredRecord};
use nexo_storage::{LogConfig, LogName, Storage, StorageError};

use crate::clock::Clock;
use crate::cold_reader::{ColdReader, into_stored};
use crate::damage;
use crate::transient::Retry;

/// Records read per call while replaying a log at start-up.
const REPLAY_BATCH_RECORDS: usize = 4096;
/// Payload bytes read per call while replaying.
const REPLAY_BATCH_BYTES: usize = 16 << 20;

/// While a broker changes, its snapshot is republished at most this often (and once more this
/// long after the last change, so the dashboard never keeps a stale picture of an idle broker).
pub const SNAPSHOT_INTERVAL_MS: u64 = 250;

/// Where a driver publishes its broker's latest [`BrokerSnapshot`] for the dashboard; readers
/// clone it out under the lock, so reading never waits on the broker's work.
pub type SnapshotSlot = Arc<Mutex<Option<BrokerSnapshot>>>;

/// Where the answer to a [`BrokerInput::Inspect`] goes (a callback, so each runtime picks its
/// own channel).
pub struct Responder(Box<dyn FnOnce(Answer) + Send>);

impl Responder {
    /// A responder that hands the answer to `send`.
    pub fn new(send: impl FnOnce(Answer) + Send + 'static) -> Self {
        Self(Box::new(send))
    }

    /// Delivers the answer.
    pub fn send(self, answer: Answer) {
        (self.0)(answer);
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Responder")
    }
}

/// When appended records are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncMode {
    /// Before any reply that waits for durability (group commit). The default.
    Always,
    /// Every this many milliseconds; replies do not wait (a crash of the machine may lose the
    /// last interval; a crash of the process loses nothing, records are in the OS).
    Interval(u64),
    /// Never explicitly; the OS writes back when it likes.
    Never,
}

impl std::str::FromStr for FsyncMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            _ => match text.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms > 0 => Ok(Self::Interval(ms)),
                _ => Err(format!("'{text}' is not always, never or interval:<ms> (ms > 0)")),
            },
        }
    }
}

impl std::fmt::Display for FsyncMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Always => f.write_str("always"),
            Self::Interval(ms) => write!(f, "interval:{ms}"),
            Self::Never => f.write_str("never"),
        }
    }
}

/// One input for a broker, as a runtime hands it over.
#[derive(Debug)]
pub enum BrokerInput<R> {
    /// A decoded request.
    Request {
        /// From.
        conn: ConnId,
        /// Request id.
        id: u32,
        /// The command.
        request: R,
    },
    /// The connection closed.
    Disconnect(ConnId),
    /// Bytes of this broker's pushes written to the connection.
    Flushed(ConnId, usize),
    /// The server is stopping: end long-polls so connections can drain.
    Shutdown,
    /// A read-only dashboard query, answered at once from the broker's current state (see
    /// [`BrokerDriver::observe`]; unobserved drivers answer [`Answer::Unsupported`]).
    Inspect(Query, Responder),
    /// A read the driver handed to its [`ColdReader`] finished.
    ReadDone {
        /// The broker's token of the read.
        token: u64,
        /// The records, or why the read failed.
        result: Result<Vec<StoredRecord>, String>,
    },
}

/// A broker's storage and how it commits.
pub struct Durability {
    storage: Box<dyn Storage>,
    /// How this broker's logs are opened (segment size and age).
    log_config: LogConfig,
    mode: FsyncMode,
    names: BTreeMap<LogId, LogName>,
    /// Logs with appends not yet fsynced.
    unsynced: BTreeSet<LogId>,
    last_sync_ms: u64,
    failed: BTreeSet<LogId>,
    /// What opening the logs found (for the snapshot).
    health: StorageHealth,
    /// Logs waiting for a refusal to pass (disk full, no file descriptor).
    retry: Retry,
}

impl std::fmt::Debug for Durability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durability")
            .field("mode", &self.mode)
            .field("logs", &self.names.keys().collect::<Vec<_>>())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Durability {
    /// Storage committed per `mode`, its logs opened with the default [`LogConfig`].
    pub fn new(storage: Box<dyn Storage>, mode: FsyncMode) -> Self {
        Self::with_log_config(storage, mode, LogConfig::default())
    }

    /// Storage committed per `mode`, every log opened with `log_config` (segment size and age).
    pub fn with_log_config(storage: Box<dyn Storage>, mode: FsyncMode, log_config: LogConfig) -> Self {
        Self {
            storage,
            log_config,
            mode,
            names: BTreeMap::new(),
            unsynced: BTreeSet::new(),
            last_sync_ms: 0,
            failed: BTreeSet::new(),
            health: StorageHealth::default(),
            retry: Retry::default(),
        }
    }
}

/// Why start-up replay failed (the server then refuses to start).
#[derive(Debug)]
pub enum RecoverError {
    /// The broker keeps logs but the runtime gave it no storage.
    NoStorage,
    /// A log name the broker asked for is not a valid storage name.
    BadLogName(LogId, nexo_storage::NameError),
    /// The storage could not open or read a log.
    Storage(StorageError),
}

impl std::fmt::Display for RecoverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoStorage => f.write_str("a broker with durable logs was given no storage"),
            Self::BadLogName(log, e) => write!(f, "log name '{log}': {e}"),
            Self::Storage(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RecoverError {}

impl From<StorageError> for RecoverError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

/// What start-up replay found, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Per log: (records replayed, bytes dropped from a torn tail, why).
    pub logs: Vec<(LogId, u64, u64, Option<String>)>,
}

/// How a driver publishes snapshots and answers queries (set by [`BrokerDriver::observe`]).
struct Observer<B> {
    slot: SnapshotSlot,
    kind: BrokerKind,
    stats: fn(&B) -> BrokerStats,
    inspect: fn(&B, Now, &Query) -> Answer,
    published_ms: u64,
    /// The broker had an input since the last publication.
    dirty: bool,
}

impl<B> std::fmt::Debug for Observer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("kind", &self.kind)
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

/// A broker with its storage, driven by the drain rule.
#[derive(Debug)]
pub struct BrokerDriver<B> {
    broker: B,
    durability: Option<Durability>,
    /// Requests handed to the broker since start.
    requests: u64,
    observer: Option<Observer<B>>,
    /// Where reads go when set (see [`BrokerDriver::offload_reads`]); else they run in place.
    cold: Option<ColdReader>,
}

impl<B: Broker + Observe> BrokerDriver<B> {
    /// Publishes the broker's snapshot into `slot` now and, from then on, at most every
    /// [`SNAPSHOT_INTERVAL_MS`] while inputs arrive; answers [`BrokerInput::Inspect`] queries.
    pub fn observe(&mut self, slot: SnapshotSlot, now: Now) {
        let kind = self.broker.kind();
        self.observer = Some(Observer {
            slot,
            kind,
            stats: <B as Observe>::stats,
            inspect: <B as Observe>::inspect,
            published_ms: now.mono_ms,
            dirty: true,
        });
        self.publish(now);
    }
}

impl<B: Broker> BrokerDriver<B> {
    /// A driver for `broker`; `durability` is required if the broker names any log.
    pub fn new(broker: B, durability: Option<Durability>) -> Self {
        Self { broker, durability, requests: 0, observer: None, cold: None }
    }

    /// From now on, reads the broker asks for run on `reader`'s thread when the storage can
    /// detach them; their answers come back as [`BrokerInput::ReadDone`]. At
    /// [`BrokerInput::Shutdown`] the driver lets go of the reader and reads in place again.
    pub fn offload_reads(&mut self, reader: ColdReader) {
        self.cold = Some(reader);
    }

    /// [`Self::offload_reads`] to a new cold-read thread named after `name`; `deliver` gets
    /// each answer as a [`BrokerInput::ReadDone`], on that thread.
    ///
    /// # Errors
    /// The OS refused to start the thread.
    pub fn read_cold(
        &mut self,
        name: &str,
        deliver: impl Fn(BrokerInput<B::Request>) + Send + Sync + 'static,
    ) -> std::io::Result<()> {
        let complete: crate::Completion =
            std::sync::Arc::new(move |token, result| deliver(BrokerInput::ReadDone { token, result }));
        self.offload_reads(crate::ColdReader::spawn(&format!("{name}-reader"), complete)?);
        Ok(())
    }

    /// Whether this broker writes to storage (its drains may block on fsync).
    pub fn is_durable(&self) -> bool {
        self.durability.is_some()
    }

    /// The broker (for snapshots).
    pub fn broker(&self) -> &B {
        &self.broker
    }

    /// Logs whose storage failed (the server is unhealthy while this is non-empty).
    pub fn failed_logs(&self) -> Vec<LogId> {
        self.durability.as_ref().map(|d| d.failed.iter().cloned().collect()).unwrap_or_default()
    }

    /// Opens and replays every log the broker keeps, before it serves any request.
    ///
    /// # Errors
    /// A log cannot be opened or read, or the broker has logs but no storage was given.
    pub fn recover(&mut self, clock: &Clock) -> Result<Replayed, RecoverError> {
        let now = clock.now();
        let logs = self.broker.logs();
        let mut replayed = Replayed::default();
        if logs.is_empty() {
            return Ok(replayed);
        }
        let Some(durability) = self.durability.as_mut() else {
            return Err(RecoverError::NoStorage);
        };
        for log in logs {
            let name = LogName::new(log.as_str()).map_err(|e| RecoverError::BadLogName(log.clone(), e))?;
            // A journal is read whole right after, so every sealed record is checked too.
            let config = LogConfig { verify_sealed: true, ..durability.log_config };
            let recovery = durability.storage.open(&name, config)?;
            let mut from = recovery.first_seq;
            let mut count = 0;
            loop {
                let records =
                    durability.storage.read(&name, from, REPLAY_BATCH_RECORDS, REPLAY_BATCH_BYTES)?;
                let Some(last) = records.last() else { break };
                from = last.seq + 1;
                for record in records {
                    count += 1;
                    self.broker.handle_recovered(now, &log, record.seq, record.payload);
                }
            }
            damage::note_recovery(&mut durability.health, &log, &recovery);
            damage::note_empty_journal(&log, count, &recovery);
            self.broker.handle_recovery_done(now, &log, recovery.next_seq);
            replayed.logs.push((log.clone(), count, recovery.dropped_bytes, recovery.dropped_reason));
            durability.names.insert(log, name);
        }
        let stored: Vec<LogId> = durability.storage.list()?.iter().map(|n| LogId::new(n.as_str())).collect();
        for note in self.broker.handle_stored_logs(now, &stored) {
            tracing::error!("{note}");
        }
        // What replay asked for (e.g. opening a stream topic's data log, a compaction) is done
        // now, before the first request. Replay answers no one, so no network output is expected.
        let mut outputs = Vec::new();
        self.drain(clock, &mut outputs);
        if !outputs.is_empty() {
            tracing::warn!("recovery produced {} network outputs; dropped", outputs.len());
        }
        Ok(replayed)
    }

    /// Hands one input to the broker.
    pub fn handle(&mut self, now: Now, input: BrokerInput<B::Request>) {
        if let Some(observer) = self.observer.as_mut() {
            observer.dirty |= !matches!(input, BrokerInput::Inspect(..));
        }
        match input {
            BrokerInput::Request { conn, id, request } => {
                self.requests += 1;
                self.broker.handle_request(now, conn, id, request);
            }
            BrokerInput::Disconnect(conn) => self.broker.handle_disconnect(now, conn),
            BrokerInput::Flushed(conn, bytes) => self.broker.handle_flushed(now, conn, bytes),
            BrokerInput::Shutdown => {
                // Reads queued there are still answered; letting go ends the thread after them.
                self.cold = None;
                self.broker.handle_shutdown(now);
            }
            BrokerInput::ReadDone { token, result } => self.broker.handle_read(now, token, result),
            BrokerInput::Inspect(query, responder) => {
                let answer = match &self.observer {
                    Some(observer) => (observer.inspect)(&self.broker, now, &query),
                    None => Answer::Unsupported,
                };
                responder.send(answer);
            }
        }
    }

    /// Requests handed to the broker since start.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The next monotonic deadline: the broker's, the next interval fsync, or the next snapshot.
    pub fn poll_timeout(&self) -> Option<u64> {
        let broker = self.broker.poll_timeout();
        let sync = self.durability.as_ref().and_then(|d| match d.mode {
            FsyncMode::Interval(ms) if !d.unsynced.is_empty() => Some(d.last_sync_ms + ms),
            _ => None,
        });
        let snapshot =
            self.observer.as_ref().filter(|o| o.dirty).map(|o| o.published_ms + SNAPSHOT_INTERVAL_MS);
        let retry = self.durability.as_ref().and_then(|d| d.retry.deadline());
        [broker, sync, snapshot, retry].into_iter().flatten().min()
    }

    /// Publishes the broker's snapshot if it changed and the last one is at least
    /// [`SNAPSHOT_INTERVAL_MS`] old (called after every drain and timeout).
    fn publish_if_due(&mut self, now: Now) {
        if self
            .observer
            .as_ref()
            .is_some_and(|o| o.dirty && now.mono_ms >= o.published_ms + SNAPSHOT_INTERVAL_MS)
        {
            self.publish(now);
        }
    }

    fn publish(&mut self, now: Now) {
        let failed_logs = self.failed_logs().iter().map(ToString::to_string).collect();
        let Some(observer) = self.observer.as_mut() else { return };
        let snapshot = BrokerSnapshot {
            kind: observer.kind,
            requests: self.requests,
            failed_logs,
            storage: self.durability.as_ref().map(|d| d.health).unwrap_or_default(),
            taken_mono_ms: now.mono_ms,
            stats: (observer.stats)(&self.broker),
        };
        observer.published_ms = now.mono_ms;
        observer.dirty = false;
        // A poisoned slot only means a reader panicked while cloning; the data is still whole.
        let mut slot = observer.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = Some(snapshot);
    }

    /// Runs whatever is due at `now`: the broker's timers, interval fsyncs and the snapshot.
    pub fn handle_timeout(&mut self, now: Now) {
        if self.broker.poll_timeout().is_some_and(|d| d <= now.mono_ms) {
            self.broker.handle_timeout(now);
            if let Some(observer) = self.observer.as_mut() {
                observer.dirty = true;
            }
        }
        let interval_due = self.durability.as_ref().is_some_and(|d| match d.mode {
            FsyncMode::Interval(ms) => !d.unsynced.is_empty() && now.mono_ms >= d.last_sync_ms + ms,
            _ => false,
        });
        if interval_due {
            self.sync_unsynced(now);
        }
        self.retry_due(now);
        self.publish_if_due(now);
    }

    /// Opens and commits again what a passing refusal (disk full, no descriptor) held back.
    fn retry_due(&mut self, now: Now) {
        let Some((opens, commits)) = self.durability.as_mut().and_then(|d| d.retry.take_due(now.mono_ms))
        else {
            return;
        };
        for (log, next_seq_min) in opens {
            self.open_log(now, log, next_seq_min);
        }
        if !commits.is_empty() {
            self.commit(now, commits);
        }
        if let Some(observer) = self.observer.as_mut() {
            observer.dirty = true;
        }
    }

    /// Before the process exits: fsync every log with unsynced records (`--fsync interval` and
    /// `never` leave some), so a clean shutdown loses nothing.
    pub fn sync_before_exit(&mut self, now: Now) {
        if self.durability.as_ref().is_some_and(|d| !d.unsynced.is_empty()) {
            self.sync_unsynced(now);
        }
    }

    /// Drains the broker: storage instructions are carried out (with group commit), network
    /// outputs (the only kind a runtime ever sees) are appended to `out` in the order the broker
    /// emitted them.
    pub fn drain(&mut self, clock: &Clock, out: &mut Vec<NetOutput>) {
        loop {
            let mut appended = BTreeSet::new();
            // One clock read for all appends of a round (a round can hold thousands of them);
            // storage timestamps only need to be close to the publish time and never decrease.
            let mut append_now = None;
            while let Some(output) = self.broker.poll_output() {
                match output {
                    Output::Append { log, seq, record } => {
                        let now = *append_now.get_or_insert_with(|| clock.now());
                        match self.append(now, &log, seq, &record) {
                            Ok(()) => {
                                appended.insert(log);
                            }
                            Err(why) => self.fail(now, &log, &why),
                        }
                    }
                    Output::Roll { log } => self.storage_op(clock.now(), &log, |s, n| s.roll(n)),
                    Output::TruncateBefore { log, seq } => {
                        self.storage_op(clock.now(), &log, |s, n| s.truncate_before(n, seq).map(drop));
                    }
                    Output::OpenLog { log, next_seq_min } => self.open_log(clock.now(), log, next_seq_min),
                    Output::RemoveLog { log } => self.remove_log(clock.now(), &log),
                    Output::Read { log, from_seq, max_records, max_bytes, token } => {
                        if let Some(result) = self.read(&log, from_seq, max_records, max_bytes, token) {
                            self.broker.handle_read(clock.now(), token, result);
                        }
                    }
                    Output::Retain { log, max_age_ms, max_bytes } => {
                        self.retain(clock.now(), &log, max_age_ms, max_bytes);
                    }
                    Output::Reply { conn, id, reply } => out.push(NetOutput::Reply { conn, id, reply }),
                    Output::Push { conn, frame } => out.push(NetOutput::Push { conn, frame }),
                    Output::Close { conn, reason } => out.push(NetOutput::Close { conn, reason }),
                }
            }
            if appended.is_empty() {
                if self.observer.as_ref().is_some_and(|o| o.dirty) {
                    self.publish_if_due(clock.now());
                }
                return;
            }
            self.commit(clock.now(), appended);
        }
    }

    fn append(&mut self, now: Now, log: &LogId, seq: u64, record: &[u8]) -> Result<(), String> {
        let Some(d) = self.durability.as_mut() else { return Err("no storage configured".into()) };
        if d.failed.contains(log) {
            return Err("log failed earlier".into());
        }
        let Some(name) = d.names.get(log) else { return Err(format!("log {log} was not opened")) };
        let got = d.storage.append(name, now.wall_ms, record).map_err(|e| e.to_string())?;
        if got != seq {
            return Err(format!("sequence mismatch: storage assigned {got}, engine expected {seq}"));
        }
        Ok(())
    }

    fn open_log(&mut self, now: Now, log: LogId, next_seq_min: u64) {
        let Some(d) = self.durability.as_mut() else {
            return self.fail(now, &log, "no storage configured");
        };
        let name = match LogName::new(log.as_str()) {
            Ok(name) => name,
            Err(e) => return self.fail(now, &log, &format!("log name: {e}")),
        };
        let opened = d.storage.open(&name, d.log_config).and_then(|recovery| {
            damage::note_recovery(&mut d.health, &log, &recovery);
            if recovery.next_seq >= next_seq_min {
                return Ok((recovery.first_seq, recovery.next_seq));
            }
            let next = d.storage.skip_to(&name, next_seq_min)?;
            damage::note_skip(&mut d.health, &log, recovery.next_seq, next);
            Ok((d.storage.first_seq(&name)?, next))
        });
        match opened {
            Ok((first_seq, next_seq)) => {
                d.retry.succeeded(&log);
                d.names.insert(log.clone(), name);
                self.broker.handle_log_opened(now, &log, first_seq, next_seq);
            }
            Err(e) if e.is_transient() => {
                d.health.transient_errors += 1;
                d.retry.open(now.mono_ms, &log, next_seq_min, &e);
            }
            Err(e) => self.fail(now, &log, &e.to_string()),
        }
    }

    fn remove_log(&mut self, now: Now, log: &LogId) {
        let result = match self.durability.as_mut() {
            // A log never opened in this process (a leftover found at start-up) is removed too.
            Some(d) => match d.names.remove(log).map_or_else(|| LogName::new(log.as_str()), Ok) {
                Ok(name) => {
                    d.unsynced.remove(log);
                    d.storage.remove(&name).map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("log name: {e}")),
            },
            None => Err("no storage configured".into()),
        };
        if let Err(why) = result {
            self.fail(now, log, &why);
        }
    }

    /// Carries out a read: on the cold-read thread when there is one and the storage can detach
    /// the read (`None`: the answer comes later as [`BrokerInput::ReadDone`]), else in place.
    fn read(
        &mut self,
        log: &LogId,
        from_seq: u64,
        max_records: usize,
        max_bytes: usize,
        token: u64,
    ) -> Option<Result<Vec<StoredRecord>, String>> {
        let Some(d) = self.durability.as_mut() else { return Some(Err("no storage configured".into())) };
        let Some(name) = d.names.get(log) else { return Some(Err(format!("log {log} was not opened"))) };
        if let Some(cold) = &self.cold {
            match d.storage.detach_read(name, from_seq, max_records, max_bytes) {
                // A full queue gives the read back: it then runs here, in place (with the
                // storage's own index cache), rather than waits.
                Ok(Some(read)) => {
                    if cold.submit(token, read).is_ok() {
                        return None;
                    }
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e.to_string())),
            }
        }
        let records = d.storage.read(name, from_seq, max_records, max_bytes).map_err(|e| e.to_string());
        Some(records.map(into_stored))
    }

    fn retain(&mut self, now: Now, log: &LogId, max_age_ms: u64, max_bytes: u64) {
        let result = match self.durability.as_mut() {
            Some(d) => match d.names.get(log) {
                Some(name) => d
                    .storage
                    .retain(name, now.wall_ms, max_age_ms, max_bytes)
                    .and_then(|first| Ok((first, d.storage.next_seq(name)?)))
                    .map_err(|e| e.to_string()),
                None => Err(format!("log {log} was not opened")),
            },
            None => Err("no storage configured".into()),
        };
        match result {
            Ok((first, next)) => self.broker.handle_log_opened(now, log, first, next),
            Err(why) => self.fail(now, log, &why),
        }
    }

    fn storage_op(
        &mut self,
        now: Now,
        log: &LogId,
        op: impl FnOnce(&mut dyn Storage, &LogName) -> Result<(), StorageError>,
    ) {
        let result = match self.durability.as_mut() {
            Some(d) => match d.names.get(log) {
                Some(name) => match op(d.storage.as_mut(), name) {
                    // A roll that cannot create its file can wait: the log goes on in its
                    // active segment (a compaction then frees a little less).
                    Err(e) if e.is_transient() => {
                        d.health.transient_errors += 1;
                        tracing::warn!("log '{log}': {e}; skipped");
                        Ok(())
                    }
                    other => other.map_err(|e| e.to_string()),
                },
                None => Err(format!("log {log} was not opened")),
            },
            None => Err("no storage configured".into()),
        };
        if let Err(why) = result {
            self.fail(now, log, &why);
        }
    }

    /// Makes this drain's appends durable per the mode and tells the broker.
    ///
    /// In `always` mode every appended log is synced by one [`Storage::sync_many`], so the
    /// backend can overlap their fsyncs; each log still gets its own outcome (a failure fails
    /// only that log).
    fn commit(&mut self, now: Now, appended: BTreeSet<LogId>) {
        let Some(d) = self.durability.as_mut() else { return };
        let (logs, names): (Vec<LogId>, Vec<LogName>) =
            appended.into_iter().filter_map(|log| d.names.get(&log).map(|name| (log, name.clone()))).unzip();
        tracing::trace!("commit logs={} fsync={}", names.len(), d.mode);
        let outcomes: Vec<Result<u64, StorageError>> = match d.mode {
            FsyncMode::Always => {
                let mut synced = d.storage.sync_many(&names).into_iter();
                d.last_sync_ms = now.mono_ms;
                // One result per log by contract; a missing one is a failure, never a success.
                names
                    .iter()
                    .map(|name| {
                        synced.next().unwrap_or_else(|| {
                            let why = "the storage returned no sync result".to_string();
                            Err(StorageError::Failed { log: name.clone(), why })
                        })
                    })
                    .collect()
            }
            FsyncMode::Interval(_) | FsyncMode::Never => {
                d.unsynced.extend(logs.iter().cloned());
                names
                    .iter()
                    .map(|name| d.storage.flush(name).and_then(|()| d.storage.next_seq(name)))
                    .collect()
            }
        };
        for (log, outcome) in logs.into_iter().zip(outcomes) {
            match outcome {
                Ok(durable_next_seq) => {
                    if let Some(d) = self.durability.as_mut() {
                        d.retry.succeeded(&log);
                    }
                    self.broker.handle_persisted(now, &log, durable_next_seq);
                }
                // Nothing is lost: the records wait in the storage's buffer; replies that wait
                // for them wait too, everything else goes on.
                Err(e) if e.is_transient() => {
                    if let Some(d) = self.durability.as_mut() {
                        d.health.transient_errors += 1;
                        d.retry.commit(now.mono_ms, &log, &e);
                    }
                }
                Err(e) => self.fail(now, &log, &e.to_string()),
            }
        }
    }

    /// Fsyncs every log with unsynced appends (interval mode, and before exit) with one
    /// [`Storage::sync_many`]; a log whose sync fails is failed on its own.
    fn sync_unsynced(&mut self, now: Now) {
        let Some(d) = self.durability.as_mut() else { return };
        d.last_sync_ms = now.mono_ms;
        let (logs, names): (Vec<LogId>, Vec<LogName>) = std::mem::take(&mut d.unsynced)
            .into_iter()
            .filter_map(|log| d.names.get(&log).map(|name| (log, name.clone())))
            .unzip();
        let mut synced = d.storage.sync_many(&names).into_iter();
        // One result per log by contract; a missing one counts as a failure.
        let mut failures: Vec<(LogId, String)> = Vec::new();
        for log in logs {
            match synced.next() {
                Some(Ok(_)) => d.retry.succeeded(&log),
                Some(Err(e)) if e.is_transient() => {
                    d.health.transient_errors += 1;
                    d.retry.commit(now.mono_ms, &log, &e);
                    d.unsynced.insert(log);
                }
                Some(Err(e)) => failures.push((log, e.to_string())),
                None => failures.push((log, "the storage returned no sync result".to_string())),
            }
        }
        for (log, why) in failures {
            self.fail(now, &log, &why);
        }
    }

    fn fail(&mut self, now: Now, log: &LogId, why: &str) {
        let first = self.durability.as_mut().is_none_or(|d| d.failed.insert(log.clone()));
        if first {
            tracing::error!("storage of log {log} failed, it accepts no more writes: {why}");
        }
        self.broker.handle_storage_failed(now, log, why);
    }
}
