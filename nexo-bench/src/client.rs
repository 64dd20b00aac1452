//! The load runner: one mio event loop per client thread, driving its share of the connections.
//!
//! Each thread connects its connections, runs their set-up requests (pipelined, all must succeed),
//! meets the other threads at a barrier, then runs the load: closed-loop keeps `--pipeline`
//! requests in flight per connection; fixed-rate sends each request at its intended time (up to
//! the same in-flight cap) and measures latency from that time. Reads and writes are batched per
//! wake-up: every readable socket is read until it would block, every frame in the buffer is
//! handled, the connection is refilled and its writes go out in one `write`. The clock is read once
//! per wake-up.
//!
//! Only operations completed inside the measured window count; errors are counted there too.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use nexo_proto::frame::{FrameType, split_frame};

use crate::scenario::{ConnPlan, Counts, Expect, Feed, Outcome, push_stamp};
use crate::schedule::Schedule;
use crate::summary::{new_histogram, record};

/// State shared by the client threads and the main thread.
#[derive(Debug)]
pub struct Shared {
    /// Origin of every timestamp (publish stamps are compared across threads).
    pub epoch: Instant,
    /// Met by every thread after set-up and by the main thread.
    pub barrier: Barrier,
    /// Set when a thread failed; the others stop.
    pub abort: AtomicBool,
    /// Operations completed so far (all phases after set-up), for the progress line.
    pub progress_ops: AtomicU64,
    /// Errors so far, for the progress line.
    pub progress_errors: AtomicU64,
    /// Stream PUBLISHes answered since the load began (for the consumer lag).
    pub published: AtomicU64,
    /// Stream messages acknowledged since the load began (ACKs answered, and what ACK_BATCHes
    /// counted), for the consumer lag.
    pub acked: AtomicU64,
}

impl Shared {
    /// Shared state for `threads` client threads plus the main thread.
    pub fn new(threads: usize) -> Self {
        Self {
            epoch: Instant::now(),
            barrier: Barrier::new(threads + 1),
            abort: AtomicBool::new(false),
            progress_ops: AtomicU64::new(0),
            progress_errors: AtomicU64::new(0),
            published: AtomicU64::new(0),
            acked: AtomicU64::new(0),
        }
    }

    /// Stream messages published and not yet acknowledged, as last reported by the threads
    /// (negative for a moment when an ack's reply is read before its publish's).
    pub fn lag(&self) -> i64 {
        let acked = self.acked.load(Ordering::Relaxed);
        self.published.load(Ordering::Relaxed) as i64 - acked as i64
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }
}

/// How the load runs.
#[derive(Debug, Clone)]
pub struct Params {
    /// Server address.
    pub addr: SocketAddr,
    /// In-flight cap per connection.
    pub pipeline: u32,
    /// Fixed-rate mode: total requests per second.
    pub rate: Option<f64>,
    /// Requesting connections in the whole run (for the rate split).
    pub requesters: u32,
    /// Load before the window opens.
    pub warmup: Duration,
    /// Window length; `None` in `--requests` mode (runs until every quota is done).
    pub measure: Option<Duration>,
}

/// What one thread measured.
#[derive(Debug)]
pub struct ThreadStats {
    /// Operations in the window.
    pub ops: u64,
    /// Requests answered in the window.
    pub requests: u64,
    /// Errors in the window (and closed connections at any time).
    pub errors: u64,
    /// Store GET misses and empty CONSUME / FETCH batches in the window.
    pub misses: u64,
    /// Stream PUBLISHes answered in the window.
    pub produced: u64,
    /// Stream messages acknowledged in the window (messages consumed).
    pub consumed: u64,
    /// Stream PUBLISHes answered since the load began (warm-up included).
    pub produced_total: u64,
    /// Stream messages acknowledged since the load began (warm-up included).
    pub consumed_total: u64,
    /// Latencies of the operations in the window (ns).
    pub hist: Histogram<u64>,
    /// Distinct error texts (at most five).
    pub error_samples: Vec<String>,
    /// Window start (ns since the epoch).
    pub window_start_ns: u64,
    /// Window end, or the last operation in `--requests` mode (ns since the epoch).
    pub window_end_ns: u64,
}

impl ThreadStats {
    fn new() -> Self {
        Self {
            ops: 0,
            requests: 0,
            errors: 0,
            misses: 0,
            produced: 0,
            consumed: 0,
            produced_total: 0,
            consumed_total: 0,
            hist: new_histogram(),
            error_samples: Vec::new(),
            window_start_ns: 0,
            window_end_ns: 0,
        }
    }

    fn sample(&mut self, text: String) {
        if self.error_samples.len() < 5 && !self.error_samples.contains(&text) {
            self.error_samples.push(text);
        }
    }

    /// Adds another thread's figures to these.
    pub fn merge(&mut self, other: ThreadStats) {
        self.ops += other.ops;
        self.requests += other.requests;
        self.errors += other.errors;
        self.misses += other.misses;
        self.produced += other.produced;
        self.consumed += other.consumed;
        self.produced_total += other.produced_total;
        self.consumed_total += other.consumed_total;
        let _ = self.hist.add(&other.hist);
        for s in other.error_samples {
            self.sample(s);
        }
        self.window_start_ns = self.window_start_ns.min(other.window_start_ns);
        self.window_end_ns = self.window_end_ns.max(other.window_end_ns);
    }
}

/// Why a thread stopped without figures.
#[derive(Debug)]
pub enum RunError {
    /// Connecting or socket I/O failed.
    Io(String),
    /// A set-up request was refused; the server's text.
    Setup(String),
    /// Another thread failed.
    Aborted,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Setup(e) => write!(f, "set-up request refused: {e}"),
            Self::Aborted => f.write_str("stopped because another client thread failed"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u32,
    sent_ns: u64,
    expect: Expect,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    rbuf: BytesMut,
    wbuf: BytesMut,
    inflight: VecDeque<InFlight>,
    next_id: u32,
    plan: ConnPlan,
    setup_next: usize,
    sched: Option<Schedule>,
    /// Pushes received (subscribers) or messages acknowledged (stream consumers).
    deliveries: u64,
    closed: bool,
}

impl Conn {
    fn setup_done(&self) -> bool {
        self.closed || (self.setup_next == self.plan.setup.len() && self.inflight.is_empty())
    }

    /// `--requests` mode: nothing more to send or wait for.
    fn finished(&self) -> bool {
        if self.closed {
            return true;
        }
        let sent_all = !self.plan.requester || self.plan.quota == Some(0);
        let got_all = self.plan.expected_deliveries.is_none_or(|n| self.deliveries >= n);
        // A consumer always has a long-polling FETCH out; only that may still be waiting.
        let idle = self.inflight.iter().all(|f| self.plan.reacts && f.expect == Expect::StreamBatch);
        sent_all && idle && got_all
    }
}

const READ_CHUNK: usize = 256 * 1024;
/// `--requests` mode gives up when nothing arrives for this long (lost pushes, stalled server).
const IDLE_GIVE_UP: Duration = Duration::from_secs(3);
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// One client thread: connects `plans`, sets them up, meets the barrier, runs the load.
///
/// # Errors
/// Connection or set-up failures (after meeting the barrier, so the other threads stop too).
pub fn run_thread(plans: Vec<ConnPlan>, params: &Params, shared: &Shared) -> Result<ThreadStats, RunError> {
    let prepared = Worker::connect(plans, params, shared).and_then(|mut w| w.setup().map(|()| w));
    if prepared.is_err() {
        shared.abort.store(true, Ordering::SeqCst);
    }
    shared.barrier.wait();
    let mut worker = prepared?;
    if shared.abort.load(Ordering::SeqCst) {
        return Err(RunError::Aborted);
    }
    worker.load()
}

struct Worker<'a> {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    params: &'a Params,
    shared: &'a Shared,
    scratch: Vec<u8>,
    stats: ThreadStats,
    window: (u64, u64),
    loading: bool,
    progress_ops: u64,
    progress_errors: u64,
    /// Stream publishes and acks answered since the last report to `Shared`.
    progress_published: u64,
    progress_acked: u64,
    /// The first ERR text a set-up request got.
    setup_error: Option<String>,
    /// Reused list of (connection, readable, writable) of one wake-up.
    ready: Vec<(usize, bool, bool)>,
}

impl<'a> Worker<'a> {
    fn connect(plans: Vec<ConnPlan>, params: &'a Params, shared: &'a Shared) -> Result<Self, RunError> {
        let poll = Poll::new().map_err(|e| RunError::Io(format!("poll: {e}")))?;
        let mut conns = Vec::with_capacity(plans.len());
        for (i, plan) in plans.into_iter().enumerate() {
            let std_stream = std::net::TcpStream::connect(params.addr)
                .map_err(|e| RunError::Io(format!("cannot connect to {}: {e}", params.addr)))?;
            std_stream.set_nodelay(true).map_err(|e| RunError::Io(format!("set_nodelay: {e}")))?;
            std_stream.set_nonblocking(true).map_err(|e| RunError::Io(format!("set_nonblocking: {e}")))?;
            let mut stream = TcpStream::from_std(std_stream);
            poll.registry()
                .register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE)
                .map_err(|e| RunError::Io(format!("register: {e}")))?;
            let sched = match (params.rate, plan.requester) {
                (Some(rate), true) => Some(Schedule::new(rate, params.requesters, plan.requester_index)),
                _ => None,
            };
            conns.push(Conn {
                stream,
                rbuf: BytesMut::with_capacity(READ_CHUNK),
                wbuf: BytesMut::with_capacity(64 * 1024),
                inflight: VecDeque::new(),
                next_id: 1,
                plan,
                setup_next: 0,
                sched,
                deliveries: 0,
                closed: false,
            });
        }
        Ok(Self {
            poll,
            events: Events::with_capacity(1024),
            conns,
            params,
            shared,
            scratch: vec![0; READ_CHUNK],
            stats: ThreadStats::new(),
            window: (u64::MAX, u64::MAX),
            loading: false,
            progress_ops: 0,
            progress_errors: 0,
            progress_published: 0,
            progress_acked: 0,
            setup_error: None,
            ready: Vec::new(),
        })
    }

    /// Sends every connection's set-up requests, `pipeline` at a time, until all are answered.
    fn setup(&mut self) -> Result<(), RunError> {
        let deadline = Instant::now() + SETUP_TIMEOUT;
        loop {
            for i in 0..self.conns.len() {
                self.pump_setup(i);
                self.flush(i);
            }
            if let Some(text) = self.setup_error.take() {
                return Err(RunError::Setup(text));
            }
            if let Some(i) = self.conns.iter().position(|c| c.closed) {
                let why = self.stats.error_samples.first().cloned().unwrap_or_default();
                return Err(RunError::Setup(format!("connection {i} failed during set-up: {why}")));
            }
            if self.conns.iter().all(Conn::setup_done) {
                return Ok(());
            }
            if Instant::now() > deadline || self.shared.abort.load(Ordering::Relaxed) {
                return Err(RunError::Setup("set-up did not finish in time".into()));
            }
            self.wait(Some(Duration::from_millis(100)))?;
        }
    }

    fn pump_setup(&mut self, i: usize) {
        let c = &mut self.conns[i];
        while c.setup_next < c.plan.setup.len() && c.inflight.len() < self.params.pipeline as usize {
            let item = &c.plan.setup[c.setup_next];
            let id = c.next_id;
            item.template.emit(&mut c.wbuf, id);
            c.inflight.push_back(InFlight { id, sent_ns: 0, expect: item.expect });
            c.next_id = c.next_id.wrapping_add(1);
            c.setup_next += 1;
        }
    }

    fn load(&mut self) -> Result<ThreadStats, RunError> {
        let start = self.shared.now_ns();
        let warmup = self.params.warmup.as_nanos() as u64;
        self.window = match self.params.measure {
            Some(m) => (start + warmup, start + warmup + m.as_nanos() as u64),
            None => (start, u64::MAX),
        };
        self.loading = true;
        self.stats.window_start_ns = self.window.0;
        self.stats.window_end_ns = self.window.0;
        for c in &mut self.conns {
            if let Some(s) = &mut c.sched {
                // Schedules count from the load start.
                s.set_base(start);
            }
        }
        let mut last_activity = Instant::now();
        for i in 0..self.conns.len() {
            self.pump(i, start);
            self.flush(i);
        }
        loop {
            let now = self.shared.now_ns();
            if now >= self.window.1 || self.shared.abort.load(Ordering::Relaxed) {
                break;
            }
            if self.params.measure.is_none() {
                if self.conns.iter().all(Conn::finished) {
                    break;
                }
                if last_activity.elapsed() > IDLE_GIVE_UP {
                    self.stats.errors += 1;
                    self.stats
                        .sample(format!("nothing arrived for {} s; stopped waiting", IDLE_GIVE_UP.as_secs()));
                    break;
                }
            }
            let timeout = self.poll_timeout(now);
            let had_events = self.wait(timeout)?;
            if had_events {
                last_activity = Instant::now();
            }
            if self.params.rate.is_some() {
                let now = self.shared.now_ns();
                for i in 0..self.conns.len() {
                    self.pump(i, now);
                    self.flush(i);
                }
            }
            self.publish_progress();
        }
        if self.params.measure.is_some() {
            self.stats.window_end_ns = self.window.1;
        }
        self.publish_progress();
        Ok(std::mem::replace(&mut self.stats, ThreadStats::new()))
    }

    /// How long to wait for events: until the window ends (closed loop, at most 50 ms for the
    /// progress line), or until the next intended send (fixed rate). Epoll sleeps in whole
    /// milliseconds, so a send due sooner than that is waited for with short sleeps instead.
    fn poll_timeout(&self, now: u64) -> Option<Duration> {
        let mut until = self.window.1.min(now + 50_000_000);
        if self.params.rate.is_some() {
            for c in &self.conns {
                if let Some(s) = &c.sched
                    && !c.closed
                    && c.plan.quota != Some(0)
                    && c.inflight.len() < self.params.pipeline as usize
                {
                    until = until.min(s.next_ns());
                }
            }
        }
        Some(Duration::from_nanos(until.saturating_sub(now)))
    }

    /// Waits for events and handles them; returns whether any arrived.
    fn wait(&mut self, timeout: Option<Duration>) -> Result<bool, RunError> {
        // Epoll rounds a timeout up to whole milliseconds; round down instead (waking early is
        // harmless: the loop comes back here with the remainder, which takes the short path).
        let short = timeout.is_some_and(|t| t < Duration::from_millis(1));
        let first = match timeout {
            Some(_) if short => Some(Duration::ZERO),
            Some(t) => Some(Duration::from_millis(t.as_millis() as u64)),
            None => None,
        };
        if let Err(e) = self.poll.poll(&mut self.events, first)
            && e.kind() != io::ErrorKind::Interrupted
        {
            return Err(RunError::Io(format!("poll: {e}")));
        }
        if self.events.is_empty() {
            if let (true, Some(t)) = (short, timeout) {
                std::thread::sleep(t.min(Duration::from_micros(50)));
            }
            return Ok(false);
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(
            self.events.iter().map(|e| (e.token().0, e.is_readable() || e.is_read_closed(), e.is_writable())),
        );
        let now = self.shared.now_ns();
        for &(i, readable, writable) in &ready {
            if i >= self.conns.len() || self.conns[i].closed {
                continue;
            }
            if readable {
                self.read(i, now);
                if self.loading && self.params.rate.is_none() {
                    self.pump(i, now);
                }
                if !self.loading {
                    self.pump_setup(i);
                }
            }
            if readable || writable {
                self.flush(i);
            }
        }
        self.ready = ready;
        Ok(true)
    }

    /// Reads until the socket would block, then handles every whole frame.
    fn read(&mut self, i: usize, now: u64) {
        loop {
            let c = &mut self.conns[i];
            match c.stream.read(&mut self.scratch) {
                Ok(0) => {
                    self.close(i, "connection closed by the server");
                    break;
                }
                Ok(n) => {
                    c.rbuf.extend_from_slice(&self.scratch[..n]);
                    if n < self.scratch.len() {
                        // A short read drained the socket: new data raises a new edge, so the
                        // extra read that would only say WouldBlock is skipped (as tokio does).
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.close(i, &format!("read failed: {e}"));
                    break;
                }
            }
        }
        self.handle_frames(i, now);
    }

    fn handle_frames(&mut self, i: usize, now: u64) {
        let in_window = now >= self.window.0 && now < self.window.1;
        loop {
            let c = &mut self.conns[i];
            let frame = match split_frame(&mut c.rbuf, u32::MAX) {
                Ok(Some(frame)) => frame,
                Ok(None) | Err(_) => break,
            };
            let header = frame.header;
            if header.frame_type == FrameType::Push.byte() {
                c.deliveries += 1;
                if !self.loading || c.plan.fed_by == Feed::Nobody {
                    continue;
                }
                self.progress_ops += 1;
                if in_window {
                    self.stats.ops += 1;
                    self.stats.window_end_ns = now;
                    if let Some(stamp) = push_stamp(&frame.payload) {
                        record(&mut self.stats.hist, now.saturating_sub(stamp));
                    }
                }
                continue;
            }
            if header.frame_type != FrameType::Response.byte() {
                continue;
            }
            let Some(pos) = c.inflight.iter().position(|f| f.id == header.id) else {
                self.stats.errors += 1;
                self.stats.sample(format!("reply with unknown id {}", header.id));
                continue;
            };
            let Some(sent) = c.inflight.remove(pos) else { continue };
            let outcome = c.plan.gen_.on_reply(sent.expect, header.meta, &frame.payload);
            if !self.loading {
                if let Outcome::Error(text) = outcome {
                    self.setup_error.get_or_insert(text);
                }
                continue;
            }
            let is_error = matches!(outcome, Outcome::Error(_));
            // Messages an ACK (1) or an ACK_BATCH (its count) acknowledged.
            let acked = match outcome {
                Outcome::Acked(n) => u64::from(n),
                _ => 0,
            };
            // Operations this reply adds: one per reply, or per message acknowledged.
            let (counted, weight) = match c.plan.counts {
                Counts::Replies => (true, 1),
                Counts::Acks => (matches!(sent.expect, Expect::StreamAck | Expect::StreamAckBatch), acked),
                Counts::Nothing => (false, 0),
            };
            if !is_error {
                // Stream traffic since the load began, for the consumer lag.
                if sent.expect == Expect::StreamSeq {
                    self.stats.produced_total += 1;
                    self.progress_published += 1;
                    self.stats.produced += u64::from(in_window);
                }
                self.stats.consumed_total += acked;
                self.progress_acked += acked;
                if in_window {
                    self.stats.consumed += acked;
                }
                if c.plan.reacts {
                    c.deliveries += acked;
                }
            }
            // A consumer's FETCH batch: latency from each message's publish time (its stamp).
            let hist = &mut self.stats.hist;
            c.plan.gen_.drain_stamps(|stamp| {
                if in_window {
                    record(hist, now.saturating_sub(stamp));
                }
            });
            if is_error {
                self.progress_errors += 1;
            } else if counted {
                self.progress_ops += weight;
            }
            if !in_window {
                continue;
            }
            self.stats.requests += 1;
            self.stats.window_end_ns = now;
            match outcome {
                Outcome::Error(text) => {
                    self.stats.errors += 1;
                    self.stats.sample(text);
                }
                ok => {
                    self.stats.misses += u64::from(ok == Outcome::Miss);
                    if counted {
                        self.stats.ops += weight;
                        if c.plan.counts == Counts::Replies {
                            record(&mut self.stats.hist, now.saturating_sub(sent.sent_ns));
                        }
                    }
                }
            }
        }
    }

    /// Fills connection `i` up to its in-flight cap (and, at a fixed rate, up to what is due).
    fn pump(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        if c.closed || !(c.plan.requester || c.plan.reacts) {
            return;
        }
        let cap = c.plan.cap.unwrap_or(self.params.pipeline) as usize;
        let mut room = cap.saturating_sub(c.inflight.len()) as u64;
        if let Some(q) = c.plan.quota {
            room = room.min(q);
        }
        if let Some(s) = &c.sched {
            room = room.min(s.due_count(now));
        }
        for _ in 0..room {
            let sent_ns = match &c.sched {
                Some(s) => s.next_ns(),
                None => now,
            };
            let id = c.next_id;
            let Some(expect) = c.plan.gen_.next(&mut c.wbuf, id, sent_ns) else { break };
            if let Some(s) = &mut c.sched {
                s.take();
            }
            c.inflight.push_back(InFlight { id, sent_ns, expect });
            c.next_id = c.next_id.wrapping_add(1);
            if let Some(q) = &mut c.plan.quota {
                *q -= 1;
            }
        }
    }

    fn flush(&mut self, i: usize) {
        loop {
            let c = &mut self.conns[i];
            if c.closed || c.wbuf.is_empty() {
                return;
            }
            match c.stream.write(&c.wbuf) {
                Ok(0) => {
                    self.close(i, "write returned 0");
                    return;
                }
                Ok(n) => c.wbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.close(i, &format!("write failed: {e}"));
                    return;
                }
            }
        }
    }

    fn close(&mut self, i: usize, why: &str) {
        let c = &mut self.conns[i];
        if c.closed {
            return;
        }
        c.closed = true;
        let _ = self.poll.registry().deregister(&mut c.stream);
        let unanswered = c.inflight.len();
        c.inflight.clear();
        self.stats.errors += 1;
        self.progress_errors += 1;
        self.stats.sample(format!("{why} ({unanswered} requests unanswered)"));
    }

    fn publish_progress(&mut self) {
        if self.progress_ops > 0 {
            self.shared.progress_ops.fetch_add(self.progress_ops, Ordering::Relaxed);
            self.progress_ops = 0;
        }
        if self.progress_errors > 0 {
            self.shared.progress_errors.fetch_add(self.progress_errors, Ordering::Relaxed);
            self.progress_errors = 0;
        }
        if self.progress_published > 0 {
            self.shared.published.fetch_add(self.progress_published, Ordering::Relaxed);
            self.progress_published = 0;
        }
        if self.progress_acked > 0 {
            self.shared.acked.fetch_add(self.progress_acked, Ordering::Relaxed);
            self.progress_acked = 0;
        }
    }
}
