//! The server-wide table of RESP clients (CLIENT LIST, INFO, KILL) and the counters INFO reports
//! beside the Store's: connections received, calls per command (commandstats), and the process
//! numbers the host supplies (RSS, CPU time).
//!
//! Owns only shared records: each RESP session registers one [`Client`] at creation and removes
//! it when dropped, and keeps its own record current (one uncontended lock per command). A kill
//! is a flag the killed session reads at its next input (sessions are sans-IO: nobody else may
//! close their socket). Nothing here reads a clock or a file; `now` comes with each call and the
//! host's process numbers through a [`ProcessProbe`] it installs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;

use super::commands::Command;

/// Where a connection comes from and arrives at, as the runtime accepted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    /// The client's address (CLIENT LIST `addr`).
    pub peer: SocketAddr,
    /// The server's address of the connection (`laddr`).
    pub local: SocketAddr,
    /// The socket's descriptor (`fd`), -1 where the runtime has none to show.
    pub fd: i64,
}

/// Process numbers the host reads for INFO (the session reads no files).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// CPU time in user mode, seconds.
    pub cpu_user_secs: f64,
    /// CPU time in kernel mode, seconds.
    pub cpu_sys_secs: f64,
}

/// A host function sampling [`ProcessStats`] when INFO asks (`None`: not known here).
#[derive(Clone, Default)]
pub struct ProcessProbe(Option<Arc<dyn Fn() -> ProcessStats + Send + Sync>>);

impl ProcessProbe {
    /// A probe calling `sample`.
    pub fn new(sample: impl Fn() -> ProcessStats + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(sample)))
    }

    /// A sample, if the host installed a probe.
    pub fn sample(&self) -> Option<ProcessStats> {
        self.0.as_ref().map(|f| f())
    }
}

impl std::fmt::Debug for ProcessProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "ProcessProbe(host)" } else { "ProcessProbe(none)" })
    }
}

/// What changes about a client as it runs.
#[derive(Debug, Clone, Default)]
pub struct ClientState {
    /// CLIENT SETNAME.
    pub name: Option<Bytes>,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Option<Bytes>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Option<Bytes>,
    /// The last command run.
    pub cmd: &'static str,
    /// Its subcommand, lower-case, for containers (`cmd=client|list`); empty otherwise.
    pub subcommand: String,
    /// When the last command arrived (monotonic ms).
    pub last_ms: u64,
    /// Channel subscriptions.
    pub sub: usize,
    /// Pattern subscriptions.
    pub psub: usize,
    /// Commands queued in MULTI, `None` outside a transaction.
    pub multi: Option<usize>,
    /// RESP version.
    pub resp: i64,
    /// CLIENT NO-EVICT on.
    pub no_evict: bool,
    /// When the session handled its first command (monotonic ms; CLIENT LIST `age`).
    pub created_ms: u64,
    /// The channels subscribed (PUBSUB CHANNELS, NUMSUB).
    pub channels: std::collections::BTreeSet<Bytes>,
}

/// One RESP connection's shared record.
#[derive(Debug)]
pub struct Client {
    /// The connection id (CLIENT ID).
    pub id: u64,
    endpoints: OnceLock<Endpoints>,
    state: Mutex<ClientState>,
    killed: AtomicBool,
}

impl Client {
    /// Its state, for reading or updating.
    pub fn state(&self) -> MutexGuard<'_, ClientState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records where the connection comes from (once; later calls are ignored).
    pub fn set_endpoints(&self, endpoints: Endpoints) {
        let _ = self.endpoints.set(endpoints);
    }

    /// Where the connection comes from, if the runtime said.
    pub fn endpoints(&self) -> Option<Endpoints> {
        self.endpoints.get().copied()
    }

    /// CLIENT KILL asked this connection to close.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// One CLIENT LIST line (without the newline) at `now_ms` (monotonic).
    pub fn line(&self, now_ms: u64) -> String {
        let s = self.state();
        let text = |b: &Option<Bytes>| {
            b.as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
        };
        let (addr, laddr, fd) = match self.endpoints() {
            Some(e) => (e.peer.to_string(), e.local.to_string(), e.fd),
            None => (String::new(), String::new(), -1),
        };
        let mut flags = String::new();
        flags.push_str(if s.sub + s.psub > 0 { "P" } else { "" });
        flags.push_str(if s.multi.is_some() { "x" } else { "" });
        flags.push_str(if s.no_evict { "e" } else { "" });
        if flags.is_empty() {
            flags.push('N');
        }
        let multi = s.multi.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let mut line = String::new();
        let _ = write!(
            line,
            "id={} addr={addr} laddr={laddr} fd={fd} name={} age={} idle={} flags={flags} db=0 sub={} \
             psub={} ssub=0 multi={multi} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 \
             oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            text(&s.name),
            now_ms.saturating_sub(s.created_ms) / 1000,
            now_ms.saturating_sub(s.last_ms) / 1000,
            s.sub,
            s.psub,
            cmd_text(&s),
            s.resp,
            text(&s.lib_name),
            text(&s.lib_ver),
        );
        line
    }
}

/// CLIENT LIST's `cmd`: `NULL` before any, `name|sub` for a container's subcommand.
fn cmd_text(s: &ClientState) -> String {
    match (s.cmd, s.subcommand.as_str()) {
        ("", _) => "NULL".to_owned(),
        (cmd, "") => cmd.to_owned(),
        (cmd, sub) => format!("{cmd}|{sub}"),
    }
}

/// Every RESP client of a server, and the counters INFO adds to the Store's.
#[derive(Debug)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<Client>>>,
    received: AtomicU64,
    /// Per command-table entry (by position): calls run, and calls refused before running
    /// (arity, syntax, refused in a transaction).
    calls: Vec<(AtomicU64, AtomicU64)>,
}

impl Default for Clients {
    fn default() -> Self {
        let calls = (0..Command::count()).map(|_| (AtomicU64::new(0), AtomicU64::new(0))).collect();
        Self { map: Mutex::default(), received: AtomicU64::new(0), calls }
    }
}

impl Clients {
    fn map(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Client>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers connection `id`, created at `now_ms` (monotonic).
    pub fn register(&self, id: u64, now_ms: u64) -> Arc<Client> {
        let state = ClientState { last_ms: now_ms, created_ms: now_ms, resp: 2, ..ClientState::default() };
        let client = Arc::new(Client {
            id,
            endpoints: OnceLock::new(),
            state: Mutex::new(state),
            killed: AtomicBool::new(false),
        });
        self.map().insert(id, Arc::clone(&client));
        self.received.fetch_add(1, Ordering::Relaxed);
        client
    }

    /// Removes connection `id` (its session is gone).
    pub fn remove(&self, id: u64) {
        self.map().remove(&id);
    }

    /// The clients, in id order.
    pub fn all(&self) -> Vec<Arc<Client>> {
        self.map().values().cloned().collect()
    }

    /// RESP connections received since start.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Flags every client `filter` selects as killed; returns how many.
    pub fn kill(&self, filter: impl Fn(&Client) -> bool) -> usize {
        let map = self.map();
        let chosen: Vec<&Arc<Client>> = map.values().filter(|c| !c.is_killed() && filter(c)).collect();
        chosen.iter().for_each(|c| c.killed.store(true, Ordering::Relaxed));
        chosen.len()
    }

    /// Counts a call of the command at table position `index` (`rejected`: refused before it ran).
    pub fn count_call(&self, index: usize, rejected: bool) {
        if let Some((ok, refused)) = self.calls.get(index) {
            (if rejected { refused } else { ok }).fetch_add(1, Ordering::Relaxed);
        }
    }

    /// INFO's `# Commandstats` lines for the commands called, in table order.
    pub fn commandstats(&self) -> String {
        let mut text = String::new();
        for (name, (ok, refused)) in Command::names().into_iter().zip(&self.calls) {
            let (ok, refused) = (ok.load(Ordering::Relaxed), refused.load(Ordering::Relaxed));
            if ok + refused > 0 {
                let _ = write!(
                    text,
                    "cmdstat_{name}:calls={ok},usec=0,usec_per_call=0.00,rejected_calls={refused},failed_calls=0\r\n"
                );
            }
        }
        text
    }

    /// CONFIG RESETSTAT: forget the per-command counts.
    pub fn reset_stats(&self) {
        for (ok, refused) in &self.calls {
            ok.store(0, Ordering::Relaxed);
            refused.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_line_kill_and_stats() {
        let clients = Clients::default();
        let a = clients.register(1, 1_000);
        let b = clients.register(2, 2_000);
        a.set_endpoints(Endpoints {
            peer: "127.0.0.1:5000".parse().unwrap(),
            local: "127.0.0.1:6379".parse().unwrap(),
            fd: 9,
        });
        {
            let mut s = a.state();
            s.name = Some(Bytes::from_static(b"worker"));
            s.cmd = "client";
            s.subcommand = "list".into();
            s.last_ms = 4_000;
            s.sub = 1;
        }
        let _ = &a;
        let line = a.line(6_500);
        assert!(line.starts_with("id=1 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=9 name=worker age=5 idle=2 flags=P db=0 sub=1 psub=0"), "{line}");
        assert!(line.contains(" cmd=client|list user=default redir=-1 resp=2 lib-name= lib-ver="), "{line}");
        assert!(b.line(2_000).contains("addr= laddr= fd=-1 name= age=0 idle=0 flags=N"));
        assert_eq!(clients.kill(|c| c.id == 2), 1);
        assert_eq!(clients.kill(|c| c.id == 2), 0, "already killed");
        assert!(b.is_killed() && !a.is_killed());
        clients.remove(2);
        assert_eq!(clients.all().len(), 1);
        assert_eq!(clients.received(), 2);
        let get = Command::lookup_index(b"GET").unwrap().0;
        clients.count_call(get, false);
        clients.count_call(get, true);
        assert_eq!(
            clients.commandstats(),
            "cmdstat_get:calls=1,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"
        );
        clients.reset_stats();
        assert_eq!(clients.commandstats(), "");
    }
}
