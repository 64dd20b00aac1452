//! `nexo-cli` cases (issue 27): every subcommand in table and `--json` form against a real
//! server, run in-process through `nexo_cli::run` (the binary is a thin wrapper around it);
//! `stream tail` following messages published while it runs; the server's error texts and the
//! exit codes; and `nexo-bench` leaving nothing behind (the real binary, built on demand).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use nexo_client::{Client, ConsumeOptions, PushOptions, QueueOptions, StreamOptions};
use serde_json::Value;

use crate::cases::{PATIENCE, eventually};
use crate::server::{Server, run_to_exit};

/// What one `nexo-cli` run printed and returned.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// The one JSON document on stdout, after checking success and an empty stderr.
    fn json(&self) -> Value {
        assert_eq!((self.code, self.stderr.as_str()), (0, ""), "stdout: {}", self.stdout);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", self.stdout))
    }

    /// Stdout of a successful run.
    fn ok(&self) -> &str {
        assert_eq!((self.code, self.stderr.as_str()), (0, ""), "stdout: {}", self.stdout);
        &self.stdout
    }

    /// Asserts a failure with this exit code and nothing on stdout; returns stderr.
    fn failed(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "stdout: {} stderr: {}", self.stdout, self.stderr);
        assert_eq!(self.stdout, "", "a failure prints nothing on stdout");
        &self.stderr
    }
}

/// Runs `nexo-cli <args>` (no connection flags added).
fn cli_raw(args: &[&str]) -> Ran {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let code =
        nexo_cli::run(std::iter::once("nexo-cli").chain(args.iter().copied()), &mut stdout, &mut stderr);
    Ran {
        code,
        stdout: String::from_utf8(stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(stderr).expect("UTF-8 stderr"),
    }
}

/// Runs `nexo-cli --port <server> <args>`.
fn cli(server: &Server, args: &[&str]) -> Ran {
    let port = server.addr().port().to_string();
    let mut all = vec!["--host", "127.0.0.1", "--port", port.as_str()];
    all.extend_from_slice(args);
    cli_raw(&all)
}

/// The first row of a table whose first cell is `name`, split on whitespace.
fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
}

/// Consumes one message of `queue` and NACKs it (with max-retries 1 it goes dead).
fn kill_one(c: &mut Client, queue: &str, reason: &str) {
    let got = c.consume(queue, ConsumeOptions { batch_size: Some(1), wait_ms: Some(0) }).unwrap();
    c.nack(queue, got[0].id, reason).unwrap();
}

pub fn cli_queue_commands(bin: &Path) {
    let server = Server::start(bin);
    assert_eq!(cli(&server, &["queue", "create", "jobs", "--max-retries", "1"]).ok(), "OK\n");
    let created = cli(&server, &["queue", "create", "mail", "--json"]).json();
    assert_eq!(created, serde_json::json!({"queue": "mail", "created": true}));
    for body in ["one", "two", "three"] {
        cli(&server, &["queue", "push", "mail", body]).ok();
    }
    cli(&server, &["--json", "queue", "push", "mail", "later", "--delay-ms", "600000"]).json();
    let list = cli(&server, &["queue", "list", "--json"]).json();
    assert_eq!(list["total"], 2);
    assert_eq!(list["queues"][1]["name"], "mail", "by name");
    let mail = &list["queues"][1];
    assert_eq!((mail["ready"].as_u64(), mail["delayed"].as_u64()), (Some(3), Some(1)));
    assert_eq!(row(cli(&server, &["queue", "list"]).ok(), "mail"), ["mail", "3", "0", "1", "0"]);
    assert_eq!(row(cli(&server, &["queue", "info", "mail"]).ok(), "mail")[1], "3");
    assert_eq!(cli(&server, &["queue", "info", "jobs", "--json"]).json()["ready"], 0);

    // consume acks by default; --no-ack hands the message back when the command ends.
    let held = cli(&server, &["queue", "consume", "mail", "--no-ack", "--json"]).json();
    assert_eq!(
        (held["acked"].as_bool(), held["messages"][0]["payload"].as_str()),
        (Some(false), Some("one"))
    );
    assert!(eventually(PATIENCE, || cli(&server, &["queue", "info", "mail", "--json"]).json()["ready"] == 3));
    let taken = cli(&server, &["queue", "consume", "mail", "--max", "2", "--json"]).json();
    assert_eq!(taken["messages"].as_array().map(Vec::len), Some(2));
    let table = cli(&server, &["queue", "consume", "mail"]).ok().to_owned();
    assert!(table.starts_with("ID") && table.lines().count() == 2, "{table}");
    assert_eq!(
        cli(&server, &["queue", "info", "mail", "--json"]).json()["ready"],
        0,
        "three taken and acked"
    );

    // Dead letters: max-retries 1, so one NACK kills a message.
    let mut c = server.client();
    for body in ["bad-1", "bad-2"] {
        c.push("jobs", body.as_bytes(), PushOptions::default()).unwrap();
        kill_one(&mut c, "jobs", "boom");
    }
    let dead = cli(&server, &["queue", "dlq", "list", "jobs", "--json"]).json();
    assert_eq!(dead["total"], 2);
    assert_eq!(dead["messages"][0]["reason"], "boom");
    let first_id = dead["messages"][0]["id"].as_str().unwrap().to_owned();
    assert!(cli(&server, &["queue", "dlq", "list", "jobs"]).ok().contains("boom"));
    assert_eq!(cli(&server, &["queue", "dlq", "replay", "jobs", &first_id]).ok(), "replayed 1\n");
    let again = cli(&server, &["queue", "dlq", "replay", "jobs", &first_id]);
    assert!(again.failed(1).contains("not in the dead-letter queue"), "{again:?}");
    kill_one(&mut c, "jobs", "again");
    assert_eq!(
        cli(&server, &["queue", "dlq", "replay", "jobs", "--json"]).json()["replayed"],
        2,
        "all of them"
    );
    kill_one(&mut c, "jobs", "x");
    assert_eq!(cli(&server, &["queue", "dlq", "purge", "jobs", "--json"]).json()["purged"], 1);

    assert_eq!(
        cli(&server, &["queue", "purge", "jobs", "--json"]).json()["purged"],
        1,
        "the one still ready"
    );
    assert_eq!(cli(&server, &["queue", "purge", "mail"]).ok(), "purged 1\n", "the delayed one");
    assert_eq!(cli(&server, &["queue", "delete", "jobs"]).ok(), "OK\n");
    assert_eq!(cli(&server, &["queue", "delete", "mail", "--json"]).json()["deleted"], true);
    assert_eq!(cli(&server, &["queue", "list", "--json"]).json()["total"], 0);
}

pub fn cli_stream_commands(bin: &Path) {
    let server = Server::start_with(bin, &["--stream-max-deliveries", "1"]);
    assert_eq!(cli(&server, &["stream", "create", "orders", "--max-age-ms", "3600000"]).ok(), "OK\n");
    cli(&server, &["stream", "create", "audit", "--json"]).json();
    assert_eq!(cli(&server, &["stream", "publish", "orders", "first"]).ok(), "seq 1\n");
    assert_eq!(cli(&server, &["stream", "publish", "orders", "second", "--json"]).json()["seq"], 2);
    let list = cli(&server, &["stream", "list", "--json"]).json();
    assert_eq!(list["total"], 2);
    assert_eq!(
        (list["topics"][1]["name"].as_str(), list["topics"][1]["messages"].as_u64()),
        (Some("orders"), Some(2))
    );
    assert_eq!(list["topics"][1]["max_age_ms"], 3_600_000);
    assert_eq!(row(cli(&server, &["stream", "list"]).ok(), "orders")[1..3], ["1", "2"]);

    // A group with one dead letter (max deliveries 1: one NACK kills it).
    let mut c = server.client();
    let member = c.join_group("orders", "billing").unwrap();
    let got = c.fetch(&member, 1, 0).unwrap();
    c.stream_nack(&member, got[0].seq, 0).unwrap();
    let info = cli(&server, &["stream", "info", "orders", "--json"]).json();
    assert_eq!(
        (info["name"].as_str(), info["group_list"][0]["name"].as_str()),
        (Some("orders"), Some("billing"))
    );
    assert!(cli(&server, &["stream", "info", "orders"]).ok().contains("billing"));
    let groups = cli(&server, &["stream", "group", "list", "orders", "--json"]).json();
    assert_eq!((groups["total"].as_u64(), groups["groups"][0]["dead"].as_u64()), (Some(1), Some(1)));
    assert_eq!(row(cli(&server, &["stream", "group", "list", "orders"]).ok(), "billing")[6], "1");
    let dead = cli(&server, &["stream", "dlq", "list", "orders", "billing", "--json"]).json();
    assert_eq!((dead["total"].as_u64(), dead["messages"][0]["payload"].as_str()), (Some(1), Some("first")));
    assert!(cli(&server, &["stream", "dlq", "list", "orders", "billing"]).ok().contains("first"));
    assert_eq!(cli(&server, &["stream", "dlq", "replay", "orders", "billing", "1"]).ok(), "replayed 1\n");
    assert_eq!(
        cli(&server, &["stream", "dlq", "replay", "orders", "billing", "--json"]).json()["replayed"],
        0
    );

    let seek = cli(&server, &["stream", "group", "seek", "orders", "billing", "--seq", "2", "--json"]).json();
    assert_eq!(seek["next_seq"], 2);
    assert_eq!(cli(&server, &["stream", "group", "seek", "orders", "billing", "--end"]).ok(), "OK\n");
    let bad = cli(&server, &["stream", "group", "seek", "orders", "billing", "--end", "--beginning"]);
    assert_eq!(bad.code, 2, "one target only: {bad:?}");
    assert!(
        cli(&server, &["stream", "group", "seek", "orders", "billing", "--time-ms", "0"])
            .ok()
            .starts_with("next seq")
    );

    assert_eq!(cli(&server, &["stream", "delete", "audit"]).ok(), "OK\n");
    assert_eq!(cli(&server, &["stream", "delete", "orders", "--json"]).json()["deleted"], true);
    assert_eq!(cli(&server, &["stream", "list", "--json"]).json()["total"], 0);
}

pub fn cli_stream_tail_follows(bin: &Path) {
    let server = Server::start(bin);
    let mut c = server.client();
    c.create_stream("events", StreamOptions::default()).unwrap();
    c.stream_publish("events", b"old").unwrap();
    let port = server.addr().port().to_string();
    let tail = thread::spawn(move || {
        let args = [
            "--port",
            port.as_str(),
            "stream",
            "tail",
            "events",
            "--count",
            "3",
            "--timeout-ms",
            "60000",
            "--json",
        ];
        cli_raw(&args)
    });
    // The tail's own group appears once it is following; only then is "new" well defined.
    let following = eventually(PATIENCE, || {
        c.list_groups("events", 0, 10)
            .unwrap()
            .1
            .iter()
            .any(|g| g.name.starts_with("nexo-cli-tail-") && g.members == 1)
    });
    assert!(following, "the tail never joined");
    for body in ["a", "b", "c"] {
        c.stream_publish("events", body.as_bytes()).unwrap();
        thread::sleep(Duration::from_millis(50));
    }
    let ran = tail.join().unwrap();
    assert_eq!((ran.code, ran.stderr.as_str()), (0, ""), "{ran:?}");
    let lines: Vec<Value> = ran.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let payloads: Vec<&str> = lines.iter().filter_map(|l| l["payload"].as_str()).collect();
    assert_eq!(payloads, ["a", "b", "c"], "new messages only, in order");
    assert_eq!(lines[0]["seq"], 2);
    assert_eq!(c.list_groups("events", 0, 10).unwrap().0, 0, "the tail removed its group");

    // From the beginning, in table form, ended by the time limit.
    let ran = cli(&server, &["stream", "tail", "events", "--from-beginning", "--timeout-ms", "1000"]);
    assert_eq!(ran.ok(), "1  old\n2  a\n3  b\n4  c\n");
    let from = cli(&server, &["stream", "tail", "events", "--from-seq", "4", "--count", "1"]);
    assert_eq!(from.ok(), "4  c\n");
}

pub fn cli_pubsub_store_server(bin: &Path) {
    let server = Server::start(bin);
    let port = server.addr().port().to_string();
    let sub = thread::spawn(move || {
        cli_raw(&[
            "--port",
            port.as_str(),
            "pubsub",
            "subscribe",
            "news/#",
            "--count",
            "1",
            "--timeout-ms",
            "60000",
            "--json",
        ])
    });
    // Publish until the subscriber has what it waited for (it may subscribe after the first).
    let deadline = Instant::now() + PATIENCE;
    while !sub.is_finished() && Instant::now() < deadline {
        assert_eq!(cli(&server, &["pubsub", "publish", "news/today", "sunny"]).ok(), "OK\n");
        thread::sleep(Duration::from_millis(100));
    }
    let ran = sub.join().unwrap();
    assert_eq!(ran.json(), serde_json::json!({"topic": "news/today", "payload": "sunny"}));
    let retained = cli(&server, &["pubsub", "publish", "news/x", "kept", "--retain", "--json"]).json();
    assert_eq!(retained["published"], true);
    let got = cli(&server, &["pubsub", "subscribe", "news/x", "--count", "1", "--timeout-ms", "30000"]);
    assert_eq!(got.ok(), "news/x  kept\n", "the retained message");
    assert_eq!(
        cli(&server, &["pubsub", "subscribe", "q/+", "--timeout-ms", "300", "--json"]).ok(),
        "",
        "nothing"
    );

    assert_eq!(cli(&server, &["store", "set", "greeting", "hello"]).ok(), "OK\n");
    cli(&server, &["store", "set", "temp", "1", "--ttl", "600", "--json"]).json();
    assert_eq!(cli(&server, &["store", "get", "greeting"]).ok(), "hello\n");
    assert_eq!(cli(&server, &["store", "get", "greeting", "--json"]).json()["value"], "hello");
    assert_eq!(cli(&server, &["store", "get", "nope"]).ok(), "(nil)\n");
    assert_eq!(cli(&server, &["store", "get", "nope", "--json"]).json()["value"], Value::Null);
    let scan = cli(&server, &["store", "scan", "--json"]).json();
    assert_eq!(scan["keys"].as_array().map(Vec::len), Some(2));
    assert_eq!(cli(&server, &["store", "scan", "gree*"]).ok(), "KEY\ngreeting\n");
    assert_eq!(cli(&server, &["store", "info", "--json"]).json()["keys"], 2);
    assert_eq!(row(cli(&server, &["store", "info"]).ok(), "keys")[1], "2");
    assert_eq!(cli(&server, &["store", "del", "greeting", "temp", "nope", "--json"]).json()["deleted"], 2);
    assert_eq!(cli(&server, &["store", "del", "greeting"]).ok(), "deleted 0\n");

    let mut c = server.client();
    c.create_queue("q1", QueueOptions::default()).unwrap();
    let info = cli(&server, &["server", "info", "--json"]).json();
    assert_eq!((info["queues"].as_u64(), info["stream_topics"].as_u64()), (Some(1), Some(0)));
    assert!(info["store"]["keys"].is_number(), "{info}");
    assert_eq!(row(cli(&server, &["server", "info"]).ok(), "queues")[1], "1");
    assert_eq!(cli(&server, &["server", "health", "--json"]).json()["healthy"], true);
    assert!(cli(&server, &["server", "health"]).ok().starts_with("healthy"));
}

pub fn cli_errors_and_connection_options(bin: &Path) {
    let server = Server::start(bin);
    // The server's own texts on stderr, exit 1, nothing on stdout.
    for args in [
        &["queue", "info", "nope"][..],
        &["queue", "push", "nope", "x"],
        &["queue", "delete", "nope", "--json"],
        &["queue", "dlq", "list", "nope"],
        &["stream", "publish", "nope", "x"],
        &["stream", "info", "nope", "--json"],
        &["stream", "tail", "nope", "--count", "1"],
        &["pubsub", "publish", "a/+", "x"],
    ] {
        let err = cli(&server, args);
        let text = err.failed(1);
        assert!(!text.starts_with("nexo-cli") && text.ends_with('\n') && text.len() > 1, "{args:?}: {text}");
    }
    let mut c = server.client();
    let missing = c.push("nope", b"x", PushOptions::default()).unwrap_err().to_string();
    assert_eq!(
        format!("server error: {}", cli(&server, &["queue", "push", "nope", "x"]).stderr.trim_end()),
        missing
    );
    assert!(cli(&server, &["queue", "create", "a/b"]).failed(1).contains("Invalid name"));

    // Bad arguments: exit 2, the reason on stderr.
    assert!(cli(&server, &["queue", "push", "q"]).failed(2).contains("<BODY>"));
    assert!(cli(&server, &["queue", "frobnicate"]).failed(2).contains("frobnicate"));
    assert!(
        cli(&server, &["queue", "dlq", "replay", "q", "not-an-id"]).failed(2).contains("not a message id")
    );
    assert!(
        cli(&server, &["--user", "ann", "--password", "x", "server", "health"]).failed(2).contains("AUTH")
    );
    assert!(cli(&server, &["--tls", "server", "health"]).failed(2).contains("TLS"));
    assert!(cli_raw(&["--url", "http://x", "server", "health"]).failed(2).contains("nexo://"));
    assert_eq!(cli_raw(&["--help"]).code, 0);

    // Unreachable: exit 3.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    assert!(cli_raw(&["--port", &closed, "server", "health"]).failed(3).contains("cannot connect"));

    // Global options after the subcommand, the URL form, and the server's config file.
    let port = server.addr().port().to_string();
    assert_eq!(cli_raw(&["server", "health", "--port", &port, "--json"]).json()["healthy"], true);
    let url = format!("nexo://127.0.0.1:{port}");
    assert_eq!(cli_raw(&["--url", &url, "--json", "queue", "list"]).json()["total"], 0);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nexo.toml");
    std::fs::write(&config, format!("bind = \"0.0.0.0\"\nport = {port}\n")).unwrap();
    let config = config.to_str().unwrap();
    assert_eq!(cli_raw(&["--config", config, "server", "health", "--json"]).json()["healthy"], true);
    assert!(
        cli_raw(&["--config", "/nonexistent/nexo.toml", "server", "health"])
            .failed(2)
            .contains("config file")
    );
}

/// The `nexo-bench` binary of this build, built once per test process (it is another package,
/// so Cargo does not give its path to these tests).
fn bench_binary(server_bin: &Path) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = server_bin.parent().expect("the server binary's directory");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut build = Command::new(cargo);
            build.args(["build", "--quiet", "-p", "nexo-bench", "--bin", "nexo-bench"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.status().expect("run cargo build -p nexo-bench");
            assert!(status.success(), "cargo build -p nexo-bench failed");
            dir.join("nexo-bench")
        })
        .clone()
}

pub fn cli_bench_leaves_nothing_behind(bin: &Path) {
    let bench = bench_binary(bin);
    let server = Server::start(bin);
    let port = server.addr().port().to_string();
    let runs: [&[&str]; 4] = [
        &["queue-cycle", "--requests", "300", "--connections", "5"],
        &["stream-publish", "--requests", "300", "--connections", "4"],
        &["stream-cycle", "--requests", "300", "--connections", "2"],
        &["store-set", "--requests", "300", "--connections", "2", "--keyspace", "2500"],
    ];
    for args in runs {
        let mut all = vec!["--port", port.as_str()];
        all.extend_from_slice(args);
        let ran = run_to_exit(&bench, &all, Duration::from_secs(120));
        assert!(ran.status.success(), "{args:?}: {}", ran.stderr);
        assert!(ran.stderr.contains("removed"), "{args:?}: {}", ran.stderr);
    }
    let fanout = run_to_exit(
        &bench,
        &["--port", &port, "pubsub-fanout", "--requests", "50", "--subscribers", "3"],
        Duration::from_secs(120),
    );
    assert!(fanout.stdout.contains("1 publisher + 3 subscribers"), "{}", fanout.stdout);
    assert_eq!(cli(&server, &["queue", "list", "--json"]).json()["total"], 0);
    assert_eq!(cli(&server, &["stream", "list", "--json"]).json()["total"], 0);
    assert_eq!(cli(&server, &["store", "info", "--json"]).json()["keys"], 0);

    let kept = run_to_exit(
        &bench,
        &["--port", &port, "queue-push", "--requests", "20", "--connections", "2", "--keep"],
        Duration::from_secs(120),
    );
    assert!(kept.status.success(), "{}", kept.stderr);
    assert_eq!(cli(&server, &["queue", "list", "--json"]).json()["total"], 2, "--keep leaves them");
}
