//! The server harness: starts one Nexo binary on an ephemeral port with a fresh data directory
//! (or a given one), waits for its ready line, keeps its stderr, and kills it on drop. For
//! durability cases it can crash the server (`kill -9`) and restart it on the same directory.
//!
//! It owns the child process and nothing else; it knows nothing about the protocol beyond the
//! ready line (`nexo ready v1=<ip:port> ui=off`). When a test panics while a server is alive,
//! the tail of the server's stderr is printed so the failure can be read without re-running.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nexo_client::Client;

/// How long a server may take to print its ready line (debug builds on a slow CI machine).
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Read/write timeout of the sockets and clients the harness hands out.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// How many stderr lines the ring buffer keeps.
const STDERR_LINES: usize = 400;

/// A running server process; killed (and its data directory removed, when the harness created
/// it) on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<VecDeque<String>>>,
    // Held for its `Drop`: a directory the harness created lives as long as the server (and
    // passes on to the next one through [`Server::restart`]). `None` for [`Server::start_in`].
    owned_dir: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    bin: PathBuf,
    extra: Vec<String>,
    /// Started with the dashboard on an ephemeral port ([`Server::start_with_ui`]).
    with_ui: bool,
    /// The dashboard's address from the ready line, when it runs.
    ui: Option<SocketAddr>,
    /// The MQTT listener's address from the ready line, when it runs.
    mqtt: Option<SocketAddr>,
    /// Environment variables set for the process (and for its restarts).
    envs: Vec<(String, String)>,
}

impl Server {
    /// Starts `bin` with the harness's default flags.
    pub fn start(bin: &Path) -> Self {
        Self::start_with(bin, &[])
    }

    /// Starts `bin` with the default flags plus `extra`, appended after them. `extra` must not
    /// repeat a default flag (`--bind`, `--no-ui`, `--data-dir`) except `--port`, which replaces
    /// the default `--port 0` (and is kept by [`Server::restart`]); use [`run_to_exit`] for a
    /// command line of your own.
    ///
    /// Panics, with the stderr tail, when the ready line does not arrive within
    /// [`READY_TIMEOUT`] or does not match `nexo ready v1=<ip:port> ui=off`.
    pub fn start_with(bin: &Path, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new().prefix("nexo-e2e-").tempdir().expect("create temp data dir");
        let path = dir.path().to_path_buf();
        Self::spawn(bin, path, Some(dir), extra.iter().map(|s| (*s).to_owned()).collect(), false)
    }

    /// Starts `bin` like [`Server::start_with`] with the environment variables `envs` set.
    pub fn start_with_env(bin: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new().prefix("nexo-e2e-").tempdir().expect("create temp data dir");
        let path = dir.path().to_path_buf();
        let envs = envs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self::spawn_env(bin, path, Some(dir), extra.iter().map(|s| (*s).to_owned()).collect(), false, envs)
    }

    /// Starts `bin` like [`Server::start_with`] but with the dashboard on: `--ui-port 0` instead
    /// of `--no-ui`. The ready line must then read `nexo ready v1=<ip:port> ui=<ip:port>`; the
    /// dashboard's address is [`Server::ui_addr`].
    pub fn start_with_ui(bin: &Path, extra: &[&str]) -> Self {
        let dir = tempfile::Builder::new().prefix("nexo-e2e-").tempdir().expect("create temp data dir");
        let path = dir.path().to_path_buf();
        Self::spawn(bin, path, Some(dir), extra.iter().map(|s| (*s).to_owned()).collect(), true)
    }

    /// Starts `bin` like [`Server::start_with`] but on the data directory `dir`, which the harness
    /// neither creates nor removes (the caller owns it, e.g. to start a second server on it).
    pub fn start_in(bin: &Path, dir: &Path, extra: &[&str]) -> Self {
        Self::spawn(bin, dir.to_path_buf(), None, extra.iter().map(|s| (*s).to_owned()).collect(), false)
    }

    /// Stops this server if it still runs (SIGTERM, as [`Server::terminate`]; after
    /// [`Server::kill9`] it has exited already) and starts the same binary with the same flags
    /// on the same data directory, which the new server then owns.
    pub fn restart(self) -> Self {
        let extra = self.extra.clone();
        self.restart_with(&extra.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// As [`Server::restart`], with `extra` instead of the flags this server was started with.
    pub fn restart_with(mut self, extra: &[&str]) -> Self {
        if self.child.try_wait().expect("poll the child").is_none() {
            self.terminate();
        }
        let owned = self.owned_dir.take();
        let (bin, dir, with_ui) = (self.bin.clone(), self.data_dir.clone(), self.with_ui);
        let envs = std::mem::take(&mut self.envs);
        drop(self);
        Self::spawn_env(&bin, dir, owned, extra.iter().map(|s| (*s).to_owned()).collect(), with_ui, envs)
    }

    fn spawn(
        bin: &Path,
        data_dir: PathBuf,
        owned_dir: Option<tempfile::TempDir>,
        extra: Vec<String>,
        with_ui: bool,
    ) -> Self {
        Self::spawn_env(bin, data_dir, owned_dir, extra, with_ui, Vec::new())
    }

    fn spawn_env(
        bin: &Path,
        data_dir: PathBuf,
        owned_dir: Option<tempfile::TempDir>,
        extra: Vec<String>,
        with_ui: bool,
        envs: Vec<(String, String)>,
    ) -> Self {
        let ui_flags: &[&str] =
            if with_ui { &["--ui-bind", "127.0.0.1", "--ui-port", "0"] } else { &["--no-ui"] };
        // A case that needs a fixed port (a restart on the same port) passes its own `--port`.
        let port_flags: &[&str] = if extra.iter().any(|a| a == "--port") { &[] } else { &["--port", "0"] };
        // MQTT is off unless a case asks for it (`--mqtt-port 0`): its default port is fixed.
        let mqtt_flags: &[&str] =
            if extra.iter().any(|a| a == "--mqtt-port") { &[] } else { &["--mqtt-port", "off"] };
        let mut child = Command::new(bin)
            .args(["--bind", "127.0.0.1"])
            .args(port_flags)
            .args(mqtt_flags)
            .args(ui_flags)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(&extra)
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));

        let stderr = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_LINES)));
        let pipe = child.stderr.take().expect("stderr is piped");
        let ring = Arc::clone(&stderr);
        thread::Builder::new()
            .name("nexo-e2e-stderr".into())
            .spawn(move || drain_stderr(pipe, &ring))
            .expect("spawn stderr drain");

        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("nexo-e2e-stdout".into())
            .spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut first = String::new();
                let result = reader.read_line(&mut first).map(|_| first);
                let _ = tx.send(result);
                // Keep draining so the child never blocks on a full stdout pipe.
                let mut sink = Vec::new();
                let _ = reader.read_to_end(&mut sink);
            })
            .expect("spawn stdout reader");

        let mut server = Self {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            stderr,
            owned_dir,
            data_dir,
            bin: bin.into(),
            extra,
            with_ui,
            ui: None,
            mqtt: None,
            envs,
        };
        let line = match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => server.fail(&format!("reading the ready line failed: {e}")),
            Err(_) => server.fail(&format!("no ready line within {READY_TIMEOUT:?}")),
        };
        server.mqtt = parse_ready_line_mqtt(&line);
        match (with_ui, parse_ready_line_ui(&line)) {
            (false, Some((addr, None))) => server.addr = addr,
            (true, Some((addr, Some(ui)))) => (server.addr, server.ui) = (addr, Some(ui)),
            (false, _) => server.fail(&format!(
                "expected a first stdout line `nexo ready v1=<ip:port> ui=off`, got {line:?}"
            )),
            (true, _) => server.fail(&format!(
                "expected a first stdout line `nexo ready v1=<ip:port> ui=<ip:port>`, got {line:?}"
            )),
        }
        server
    }

    /// The dashboard's address from the ready line; panics when the server runs without it.
    pub fn ui_addr(&self) -> SocketAddr {
        self.ui.unwrap_or_else(|| self.fail_ref("this server was started without the dashboard"))
    }

    /// The MQTT listener's address from the ready line; panics when it is off.
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.mqtt.unwrap_or_else(|| self.fail_ref("this server was started without `--mqtt-port 0`"))
    }

    /// The address of the v1 listener from the ready line.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's data directory (a fresh temporary directory, or the one given to
    /// [`Server::start_in`]).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A connected client with [`IO_TIMEOUT`] as its timeout.
    pub fn client(&self) -> Client {
        let mut client = Client::connect(self.addr).unwrap_or_else(|e| {
            panic!("client cannot connect to {}: {e:?}{}", self.addr, self.stderr_tail())
        });
        client.set_timeout(Some(IO_TIMEOUT)).expect("set client timeout");
        client
    }

    /// A plain TCP connection with read and write timeouts of [`IO_TIMEOUT`] and TCP_NODELAY.
    pub fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}{}", self.addr, self.stderr_tail()));
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("set read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("set write timeout");
        stream.set_nodelay(true).expect("set nodelay");
        stream
    }

    /// The server's resident set size in bytes (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> u64 {
        rss_bytes_of(self.pid()).unwrap_or_else(|| self.fail_ref("cannot read VmRSS of the server"))
    }

    /// Sends SIGTERM (via `kill -TERM`) and waits up to 15 s for the exit; returns its status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status =
            Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("run `kill -TERM`");
        assert!(status.success(), "`kill -TERM {}` failed: {status}", self.pid());
        self.wait_exit(Duration::from_secs(15))
            .unwrap_or_else(|| self.fail("the server did not exit within 15 s of SIGTERM"))
    }

    /// Sends SIGKILL (via `kill -KILL`, a crash: no shutdown code runs) and waits up to 15 s for
    /// the process to be gone; returns its status.
    pub fn kill9(&mut self) -> ExitStatus {
        let status =
            Command::new("kill").args(["-KILL", &self.pid().to_string()]).status().expect("run `kill -KILL`");
        assert!(status.success(), "`kill -KILL {}` failed: {status}", self.pid());
        self.wait_exit(Duration::from_secs(15))
            .unwrap_or_else(|| self.fail("the server did not exit within 15 s of SIGKILL"))
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the child") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines the server wrote to stderr, formatted for a panic message.
    pub fn stderr_tail(&self) -> String {
        let lines = self.stderr.lock().map(|l| l.iter().cloned().collect::<Vec<_>>()).unwrap_or_default();
        format!(
            "\n--- stderr of {} (last {} lines) ---\n{}\n--- end of stderr ---",
            self.bin.display(),
            lines.len(),
            lines.join("\n")
        )
    }

    /// Panics with `msg` and the stderr tail, after killing the child.
    fn fail(&mut self, msg: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Give the drain thread a moment to collect the last lines.
        thread::sleep(Duration::from_millis(100));
        panic!("{msg}{}", self.stderr_tail());
    }

    fn fail_ref(&self, msg: &str) -> ! {
        panic!("{msg}{}", self.stderr_tail());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            thread::sleep(Duration::from_millis(50));
            eprintln!("{}", self.stderr_tail());
        }
    }
}

/// What a process that ran to its end left behind.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout.
    pub stdout: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

/// Runs `bin` with exactly `args` until it exits (for start-up failures); kills it and panics if
/// it is still running after `timeout`.
pub fn run_to_exit(bin: &Path, args: &[&str], timeout: Duration) -> Exited {
    run_to_exit_env(bin, args, &[], timeout)
}

/// As [`run_to_exit`], with the environment variables `envs` set.
pub fn run_to_exit_env(bin: &Path, args: &[&str], envs: &[(&str, &str)], timeout: Duration) -> Exited {
    let mut child = Command::new(bin)
        .args(args)
        .env("NEXO_MQTT_PORT", "off")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = read_all(Box::new(child.stderr.take().expect("stderr is piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {args:?} still running after {timeout:?}; stdout: {:?}; stderr: {:?}",
                bin.display(),
                stdout.join().unwrap_or_default(),
                stderr.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Exited { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

fn drain_stderr(pipe: impl Read, ring: &Mutex<VecDeque<String>>) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line).trim_end().to_owned();
                if let Ok(mut ring) = ring.lock() {
                    if ring.len() == STDERR_LINES {
                        ring.pop_front();
                    }
                    ring.push_back(text);
                }
            }
        }
    }
}

/// Parses `nexo ready v1=<ip:port> ui=off` (with its newline); `None` if it does not match.
pub fn parse_ready_line(line: &str) -> Option<SocketAddr> {
    match parse_ready_line_ui(line)? {
        (addr, None) => Some(addr),
        (_, Some(_)) => None,
    }
}

/// Parses `nexo ready v1=<ip:port> ui=<ip:port|off>` (with its newline) into the v1 address and
/// the dashboard's (`None` for `off`); `None` if the line does not match.
pub fn parse_ready_line_ui(line: &str) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let rest = line.strip_prefix("nexo ready v1=")?;
    let (addr, ui) = rest.split_once(' ')?;
    // The MQTT field follows.
    let ui = ui.split(' ').next()?;
    let ui = match ui.strip_prefix("ui=")? {
        "off" => None,
        ui => Some(ui.parse().ok()?),
    };
    Some((addr.parse().ok()?, ui))
}

/// The MQTT address of a ready line (`… mqtt=<ip:port>`); `None` when it is off or missing.
pub fn parse_ready_line_mqtt(line: &str) -> Option<SocketAddr> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.split(' ').find_map(|field| field.strip_prefix("mqtt="))?.parse().ok()
}

/// `VmRSS` of a process in bytes.
pub fn rss_bytes_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_line_parses() {
        assert_eq!(
            parse_ready_line("nexo ready v1=127.0.0.1:40123 ui=off\n"),
            Some("127.0.0.1:40123".parse().unwrap())
        );
        assert_eq!(parse_ready_line("nexo ready v1=127.0.0.1:1 ui=127.0.0.1:2\n"), None);
        assert_eq!(parse_ready_line("listening on 127.0.0.1:1\n"), None);
        assert_eq!(parse_ready_line(""), None);
        let v1: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let ui: SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert_eq!(parse_ready_line_ui("nexo ready v1=127.0.0.1:1 ui=127.0.0.1:2\n"), Some((v1, Some(ui))));
        assert_eq!(parse_ready_line_ui("nexo ready v1=127.0.0.1:1 ui=off\n"), Some((v1, None)));
        assert_eq!(parse_ready_line_ui("nexo ready v1=127.0.0.1:1 ui=somewhere\n"), None);
        let mqtt: SocketAddr = "127.0.0.1:3".parse().unwrap();
        let line = "nexo ready v1=127.0.0.1:1 ui=off mqtt=127.0.0.1:3\n";
        assert_eq!(parse_ready_line_ui(line), Some((v1, None)));
        assert_eq!(parse_ready_line_mqtt(line), Some(mqtt));
        assert_eq!(parse_ready_line_mqtt("nexo ready v1=127.0.0.1:1 ui=off mqtt=off\n"), None);
    }

    #[test]
    fn own_rss_is_readable() {
        assert!(rss_bytes_of(std::process::id()).unwrap() > 0);
    }
}
