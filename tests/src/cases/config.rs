//! Configuration cases: the TOML file beside flags and environment (precedence, unknown keys,
//! bad values, `--print-config`, SIGHUP), ports that can be off, and the rough edges of issue 14
//! (booleans, host names, `--max-connections 0`, decimal sizes, `--store-max-memory 0`, trace
//! logging, readable start-up lines).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nexo_proto::options::QueueOptions;

use super::{PATIENCE, eventually};
use crate::server::{READY_TIMEOUT, Server, run_to_exit_env};
use crate::wire;

const EXIT_WAIT: Duration = Duration::from_secs(20);

/// A config file in a temporary directory (removed with it).
struct ConfigFile {
    dir: tempfile::TempDir,
}

impl ConfigFile {
    fn new(text: &str) -> Self {
        let file = Self { dir: tempfile::tempdir().unwrap() };
        file.write(text);
        file
    }

    fn path(&self) -> String {
        self.dir.path().join("nexo.toml").to_str().unwrap().to_owned()
    }

    fn write(&self, text: &str) {
        std::fs::write(self.path(), text).unwrap();
    }
}

/// Runs `bin --print-config` with `args` and `envs`; returns the output parsed as TOML.
fn print_config(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> (String, toml::Table) {
    let mut all = vec!["--print-config"];
    all.extend_from_slice(args);
    let out = run_to_exit_env(bin, &all, envs, EXIT_WAIT);
    assert_eq!(out.status.code(), Some(0), "--print-config failed: {out:?}");
    let table =
        out.stdout.parse::<toml::Table>().unwrap_or_else(|e| panic!("not TOML ({e}): {}", out.stdout));
    (out.stdout, table)
}

fn int(table: &toml::Table, key: &str) -> i64 {
    table.get(key).and_then(toml::Value::as_integer).unwrap_or_else(|| panic!("no integer {key}: {table:?}"))
}

/// Starts `bin` with exactly `args` and `envs` and returns its first stdout line (the ready line,
/// or what came instead), killing it afterwards.
fn ready_line_of(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut child = Command::new(bin)
        .args(args)
        .env("NEXO_MQTT_PORT", "off")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    line.trim_end().to_owned()
}

/// Flag > environment > file > default, each visible in `--print-config`; a file value also
/// reaches the running server.
pub fn config_precedence_four_sources(bin: &Path) {
    let file = ConfigFile::new(
        "# a comment\nmax-connections = 11\npubsub-max-retained = 22\nstream-max-topics = 33\nqueue-max-queues = 1\n",
    );
    let envs = [("NEXO_PUBSUB_MAX_RETAINED", "44"), ("NEXO_STREAM_MAX_TOPICS", "55")];
    let (text, table) = print_config(bin, &["--config", &file.path(), "--stream-max-topics", "66"], &envs);
    assert_eq!(int(&table, "max-connections"), 11, "file over default:\n{text}");
    assert_eq!(int(&table, "pubsub-max-retained"), 44, "environment over file:\n{text}");
    assert_eq!(int(&table, "stream-max-topics"), 66, "flag over environment and file:\n{text}");
    assert_eq!(int(&table, "queue-max-depth"), 1_000_000, "default:\n{text}");
    assert!(text.contains("stream-max-topics = 66  # flag"), "{text}");
    assert!(text.contains("max-connections = 11  # file"), "{text}");
    // NEXO_CONFIG names the file as well as --config does.
    let (_, table) = print_config(bin, &[], &[("NEXO_CONFIG", &file.path())]);
    assert_eq!(int(&table, "max-connections"), 11);

    let server = Server::start_with(bin, &["--config", &file.path()]);
    let mut c = server.client();
    c.create_queue("first", QueueOptions::default()).unwrap();
    let err = c.create_queue("second", QueueOptions::default()).unwrap_err();
    assert!(format!("{err:?}").contains("Too many queues (max 1)"), "{err:?}");
}

/// `--print-config` prints every key as TOML that loads back as a config file, and never a
/// secret: not in its output, not in `--help`.
pub fn config_print_config_round_trips_and_masks(bin: &Path) {
    let secret = "s3cret-value-e2e";
    let envs = [("NEXO_REQUIREPASS", secret), ("NEXO_UI", "no")];
    let (text, table) = print_config(bin, &[], &envs);
    assert!(!text.contains(secret), "a secret printed:\n{text}");
    if let Some(pass) = table.get("requirepass") {
        assert_eq!(pass.as_str(), Some("********"), "{text}");
    }
    for key in
        ["bind", "port", "fsync", "ui", "store-max-memory", "stream-retention-bytes", "queue-max-queues"]
    {
        assert!(text.contains(&format!("{key} =")), "{key} missing:\n{text}");
    }
    assert_eq!(table.get("ui").and_then(toml::Value::as_str), Some("no"), "{text}");
    let printed = ConfigFile::new(&text);
    let (again, _) = print_config(bin, &["--config", &printed.path()], &[]);
    assert!(again.contains("ui = \"no\"  # file"), "the printed file did not load back:\n{again}");
    let help = run_to_exit_env(bin, &["--help"], &envs, EXIT_WAIT);
    assert_eq!(help.status.code(), Some(0), "{help:?}");
    assert!(!help.stdout.contains(secret), "--help printed a secret: {}", help.stdout);
}

/// An unknown key and a bad value each stop start-up, naming the file, the line and the key.
pub fn config_unknown_key_and_bad_value(bin: &Path) {
    let file = ConfigFile::new("port = 0\n\nmax-conections = 5\n");
    let out = run_to_exit_env(bin, &["--config", &file.path()], &[], EXIT_WAIT);
    assert!(!out.status.success(), "started with an unknown key: {out:?}");
    assert!(!out.stdout.contains("nexo ready"), "{out:?}");
    for part in [file.path().as_str(), "line 3", "key 'max-conections'", "unknown key"] {
        assert!(out.stderr.contains(part), "stderr lacks {part:?}: {}", out.stderr);
    }
    file.write("# tuned\nstore-max-memory = \"lots\"\n");
    let out = run_to_exit_env(bin, &["--config", &file.path()], &[], EXIT_WAIT);
    assert!(!out.status.success(), "started with a bad value: {out:?}");
    for part in ["line 2", "key 'store-max-memory'", "'lots'"] {
        assert!(out.stderr.contains(part), "stderr lacks {part:?}: {}", out.stderr);
    }
    file.write("[store]\nmax-memory = 1\n");
    let out = run_to_exit_env(bin, &["--config", &file.path()], &[], EXIT_WAIT);
    assert!(!out.status.success() && out.stderr.contains("line 1"), "{out:?}");
    let out = run_to_exit_env(bin, &["--config", "/nonexistent/nexo.toml"], &[], EXIT_WAIT);
    assert!(!out.status.success() && out.stderr.contains("/nonexistent/nexo.toml"), "{out:?}");
}

/// SIGHUP re-reads the file: `log-level` changes live, another change is logged as needing a
/// restart, and a file that no longer loads leaves the server running as it was.
pub fn config_sighup_reload(bin: &Path) {
    let file = ConfigFile::new("log-level = \"info\"\nmax-connections = 100\n");
    let server = Server::start_with(bin, &["--config", &file.path()]);
    let hup = || {
        let status = Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
        assert!(status.success());
    };
    file.write("log-level = \"debug\"\nmax-connections = 50\n");
    hup();
    let logged = |text: &str| eventually(PATIENCE, || server.stderr_tail().contains(text));
    assert!(logged("SIGHUP: log-level=debug applied"), "{}", server.stderr_tail());
    assert!(logged("max-connections changed (100 -> 50)"), "{}", server.stderr_tail());
    assert!(server.stderr_tail().contains("restart"), "{}", server.stderr_tail());
    // Debug lines now appear: each connection is logged at debug level.
    let before = server.stderr_tail().matches("DEBUG").count();
    let mut raw = server.raw();
    wire::expect_echo(&mut raw, 1);
    assert!(
        eventually(PATIENCE, || server.stderr_tail().matches("DEBUG").count() > before),
        "{}",
        server.stderr_tail()
    );

    file.write("log-level = \"loud\"\n");
    hup();
    assert!(logged("does not load"), "{}", server.stderr_tail());
    assert!(server.stderr_tail().contains("line 1"), "{}", server.stderr_tail());
    wire::expect_echo(&mut raw, 2);
}

/// Booleans accept 1/0, true/false, yes/no, on/off in any case; `NEXO_UI=false` or `--no-ui`
/// turns the dashboard off whatever its port.
pub fn config_booleans_turn_the_dashboard_off(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let base = ["--bind", "127.0.0.1", "--port", "0", "--ui-port", "0", "--data-dir", data];
    for off in ["false", "0", "No", "OFF"] {
        let line = ready_line_of(bin, &base, &[("NEXO_UI", off)]);
        assert!(line.contains(" ui=off "), "NEXO_UI={off}: {line:?}");
    }
    let line = ready_line_of(bin, &base, &[("NEXO_UI", "yes")]);
    assert!(line.starts_with("nexo ready v1=127.0.0.1:") && !line.contains("ui=off"), "{line:?}");
    let with_no_ui: Vec<&str> = base.iter().copied().chain(["--no-ui"]).collect();
    let line = ready_line_of(bin, &with_no_ui, &[("NEXO_UI", "on")]);
    assert!(line.contains(" ui=off "), "--no-ui: {line:?}");
    let file = ConfigFile::new("ui = \"off\"\n");
    let path = file.path();
    let with_file: Vec<&str> = base.iter().copied().chain(["--config", path.as_str()]).collect();
    let line = ready_line_of(bin, &with_file, &[]);
    assert!(line.contains(" ui=off "), "ui = \"off\" in the file: {line:?}");
    let out = run_to_exit_env(bin, &base, &[("NEXO_UI", "maybe")], EXIT_WAIT);
    assert!(!out.status.success() && out.stderr.contains("maybe"), "{out:?}");
}

/// `--port off` leaves only the dashboard and says `v1=off`; `--bind localhost` resolves.
pub fn config_ports_off_and_host_names(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let line = ready_line_of(bin, &["--port", "off", "--ui-port", "0", "--data-dir", data], &[]);
    assert!(line.starts_with("nexo ready v1=off ui=127.0.0.1:"), "{line:?}");
    let line =
        ready_line_of(bin, &["--bind", "localhost", "--port", "0", "--no-ui", "--data-dir", data], &[]);
    let addr = crate::server::parse_ready_line(&line).unwrap_or_else(|| panic!("{line:?}"));
    assert!(addr.ip().is_loopback(), "{line:?}");
}

/// `--max-connections 0` is refused at start, as Redis's `maxclients` minimum is 1.
pub fn config_max_connections_zero_refused(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let args = ["--port", "0", "--no-ui", "--data-dir", data, "--max-connections", "0"];
    let out = run_to_exit_env(bin, &args, &[], EXIT_WAIT);
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stderr.contains("at least 1"), "{out:?}");
}

/// Sizes take decimals (binary units); `--store-max-memory 0` is unlimited, and says 0 as
/// Redis's `CONFIG GET maxmemory` does.
pub fn config_sizes_and_unlimited_store_memory(bin: &Path) {
    let maxmemory = |server: &Server| -> Vec<String> {
        let client = redis::Client::open(format!("redis://{}/", server.addr())).unwrap();
        let mut con = client.get_connection_with_timeout(PATIENCE).unwrap();
        redis::cmd("CONFIG").arg("GET").arg("maxmemory").query(&mut con).unwrap()
    };
    let server = Server::start_with(bin, &["--store-max-memory", "1.5mb"]);
    assert_eq!(maxmemory(&server), ["maxmemory", "1572864"]);
    let server = Server::start_with(bin, &["--store-max-memory", "0"]);
    assert_eq!(maxmemory(&server), ["maxmemory", "0"]);
    let mut c = server.client();
    c.set("k", b"v").unwrap();
    assert_eq!(c.get("k").unwrap().as_deref(), Some(&b"v"[..]));
}

/// `NEXO_LOG=trace` adds trace events; start-up prints settings as `key=value` lines.
pub fn config_trace_logging_and_readable_startup(bin: &Path) {
    let server = Server::start_with_env(bin, &["--fsync", "always"], &[("NEXO_LOG", "trace")]);
    let mut c = server.client();
    c.create_queue("q", QueueOptions::default()).unwrap();
    c.push("q", b"m", Default::default()).unwrap();
    assert!(eventually(PATIENCE, || server.stderr_tail().contains("TRACE")), "{}", server.stderr_tail());
    let log = server.stderr_tail();
    assert!(log.contains("setting max-connections=10000 (default)"), "{log}");
    assert!(log.contains("setting log-level=trace (env)"), "{log}");
    assert!(!log.contains("Config {"), "a Rust debug dump in the start-up log:\n{log}");
}

/// `--stream-segment-bytes` seals topic segments at that size (a too small value is refused at
/// start with the range); the messages read back across segments.
pub fn config_stream_segment_bytes(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let args = ["--port", "0", "--no-ui", "--data-dir", data, "--stream-segment-bytes", "1kb"];
    let out = run_to_exit_env(bin, &args, &[], EXIT_WAIT);
    assert!(!out.status.success() && out.stderr.contains("between 64kb and 1gb"), "{out:?}");

    let server = Server::start_with(bin, &["--stream-segment-bytes", "64kb"]);
    let mut c = server.client();
    c.create_stream("seg", nexo_proto::options::StreamOptions::default()).unwrap();
    let body = vec![b's'; 4096];
    for _ in 0..64 {
        c.stream_publish("seg", &body).unwrap();
    }
    let topic_dir = std::fs::read_dir(server.data_dir().join("stream"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().ends_with("-seg"))
        .expect("the topic's log directory");
    let segments = std::fs::read_dir(&topic_dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log"))
        .count();
    // 64 × 4 KiB = 256 KiB of payload in 64 KiB segments: at least four files.
    assert!(segments >= 4, "{segments} segment files in {}", topic_dir.display());
}
