//! The dashboard: its JSON API with real data in every broker, `/metrics` through a strict
//! parser, the settings that turn it on, off and onto a port, and the page itself rendered by
//! headless Chromium (with a screenshot kept in `target/ui-artifacts/`).
//!
//! HTTP is spoken with a tiny HTTP/1.1 GET over a std `TcpStream` (`Connection: close`), so the
//! suite needs no HTTP client crate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nexo_client::{Client, ConsumeOptions, PublishOptions, PushOptions, QueueOptions, SetOptions};
use serde_json::Value;

use super::{PATIENCE, eventually};
use crate::prom;
use crate::server::{IO_TIMEOUT, Server, parse_ready_line_ui, run_to_exit};

/// One HTTP answer.
#[derive(Debug)]
struct Http {
    status: u16,
    content_type: String,
    body: String,
}

/// `GET path` on `addr`; panics if the server does not answer within [`IO_TIMEOUT`].
fn http_get(addr: SocketAddr, path: &str) -> Http {
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to the dashboard {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let text = String::from_utf8(raw).unwrap_or_else(|e| panic!("GET {path}: the answer is not UTF-8: {e}"));
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("GET {path}: no header end"));
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or_default();
    assert!(status_line.starts_with("HTTP/1.1 "), "GET {path}: status line {status_line:?}");
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let mut content_type = String::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("GET {path}: header {line:?}"));
        assert!(
            !name.eq_ignore_ascii_case("transfer-encoding"),
            "GET {path}: chunked answers are not expected"
        );
        if name.eq_ignore_ascii_case("content-type") {
            content_type = value.trim().to_owned();
        }
    }
    Http { status, content_type, body: body.to_owned() }
}

/// `GET /api/<path>`, which must answer 200 with JSON.
fn api(server: &Server, path: &str) -> Value {
    let got = http_get(server.ui_addr(), &format!("/api/{path}"));
    assert_eq!(got.status, 200, "GET /api/{path}: {}{}", got.body, server.stderr_tail());
    assert_eq!(got.content_type, "application/json", "GET /api/{path}");
    serde_json::from_str(&got.body)
        .unwrap_or_else(|e| panic!("GET /api/{path}: not JSON ({e}): {}", got.body))
}

/// The clients that keep the filled state alive (subscriptions and leases end with them).
struct Filled {
    _subscribers: Vec<Client>,
    _consumer: Client,
    /// The id of the message leased to `_consumer`, as the dashboard writes ids.
    leased_id: String,
}

fn uuid_text(id: &[u8; 16]) -> String {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// Puts data in every broker: five Store keys (text, JSON, raw, untagged, no TTL), Pub/Sub
/// subscriptions of each kind with a retained message, and a queue with a message in each state.
fn fill(server: &Server) -> Filled {
    let mut c = server.client();
    c.set("user:1", b"\x01Ada Lovelace").unwrap();
    c.set("user:2", b"\x02{\"name\":\"Grace\",\"langs\":[\"COBOL\",\"FLOW-MATIC\"]}").unwrap();
    c.set_with("user:3", b"\x01Linus", SetOptions { ttl: None, persist: true }).unwrap();
    c.set("blob:1", b"\x00\xde\xad\xbe\xef").unwrap();
    c.set("plain", b"untagged text").unwrap();
    assert_eq!(c.get("user:1").unwrap().as_deref(), Some(&b"\x01Ada Lovelace"[..]));

    let mut sub_a = server.client();
    for pattern in ["sensors/+/temp", "$share/workers/jobs/#", "news/today"] {
        sub_a.subscribe(pattern).unwrap();
    }
    let mut sub_b = server.client();
    sub_b.subscribe("$share/workers/jobs/#").unwrap();
    let retain = PublishOptions { retain: true, ttl: Some(600), persist: false };
    c.publish("sensors/kitchen/temp", b"\x01 21.5 C", retain).unwrap();
    c.publish("news/today", b"\x02{\"headline\":\"Nexo ships\"}", PublishOptions::default()).unwrap();
    c.publish("jobs/build", b"job-1", PublishOptions::default()).unwrap();

    c.create_queue("emails", QueueOptions { max_retries: Some(1), ..QueueOptions::default() }).unwrap();
    c.push("emails", b"\x02{\"to\":\"ada@example.com\"}", PushOptions::default()).unwrap();
    c.push("emails", b"\x01welcome mail", PushOptions::default()).unwrap();
    c.push("emails", b"\x01bounce me", PushOptions::default()).unwrap();
    c.push("emails", b"\x01later", PushOptions { delay_ms: Some(60_000), ..PushOptions::default() }).unwrap();
    let one = ConsumeOptions { batch_size: Some(1), wait_ms: Some(0) };
    let mut consumer = server.client();
    let leased = consumer.consume("emails", one).unwrap();
    assert_eq!(leased.len(), 1);
    let failing = c.consume("emails", one).unwrap();
    assert_eq!(failing.len(), 1);
    c.nack("emails", failing[0].id, "smtp 550: mailbox unavailable").unwrap();
    Filled { _subscribers: vec![sub_a, sub_b], _consumer: consumer, leased_id: uuid_text(&leased[0].id) }
}

/// Waits until the published snapshots show what [`fill`] did (they refresh every 250 ms).
fn wait_for_snapshots(server: &Server) -> Value {
    let mut last = Value::Null;
    let settled = eventually(PATIENCE, || {
        last = api(server, "overview");
        let stats = |i: usize| &last["brokers"][i]["stats"];
        stats(0)["keys"] == 5 && stats(1)["published"] == 3 && stats(2)["dead"] == 1
    });
    assert!(settled, "the snapshots never showed the filled state: {last:#}");
    last
}

fn keys_of(page: &Value) -> Vec<String> {
    let mut keys: Vec<String> =
        page["keys"].as_array().unwrap().iter().map(|k| k["key"].as_str().unwrap().to_owned()).collect();
    keys.sort();
    keys
}

fn find<'a>(items: &'a Value, field: &str, name: &str) -> &'a Value {
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i[field] == name)
        .unwrap_or_else(|| panic!("no {name} in {items:#}"))
}

/// The JSON API answers with the state of every broker.
pub fn ui_json_api(bin: &Path) {
    let server = Server::start_with_ui(bin, &[]);
    let filled = fill(&server);
    let overview = wait_for_snapshots(&server);
    assert!(["mio", "tokio"].contains(&overview["runtime"].as_str().unwrap()), "{overview:#}");
    assert_eq!(overview["healthy"], true);
    assert_eq!(overview["fsync"], "always");
    let names: Vec<&str> =
        overview["brokers"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..3], ["store", "pubsub", "queue"]);
    // The three clients `fill` keeps: two subscribers and a consumer.
    assert!(overview["connections"].as_u64().unwrap() >= 3, "{overview:#}");
    assert!(overview["uptime_ms"].as_u64().unwrap() > 0);
    assert!(overview["memory_rss_bytes"].as_u64().unwrap() > 0);

    // Store: snapshot, values by tag, search and SCAN-like paging.
    let store = api(&server, "store");
    assert_eq!((store["name"].as_str(), &store["stats"]["keys"]), (Some("store"), &Value::from(5)));
    assert!(store["requests"].as_u64().unwrap() >= 6);
    let users = api(&server, "store/keys?pattern=user%3A*");
    assert_eq!(keys_of(&users), ["user:1", "user:2", "user:3"]);
    let user = |k: &str| find(&users["keys"], "key", k).clone();
    assert_eq!(user("user:1")["value"]["tag"], "text");
    assert_eq!(user("user:1")["value"]["text"], "Ada Lovelace");
    assert_eq!(user("user:2")["value"]["kind"], "json");
    let pretty = user("user:2")["value"]["text"].as_str().unwrap().to_owned();
    assert!(pretty.contains("\"name\": \"Grace\"") && pretty.contains('\n'), "{pretty}");
    assert_eq!(user("user:3")["ttl_ms"], Value::Null);
    let ttl = user("user:1")["ttl_ms"].as_u64().unwrap();
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "default TTL left: {ttl}");
    let blob = &api(&server, "store/keys?pattern=blob*")["keys"][0];
    assert_eq!(
        (&blob["value"]["tag"], &blob["value"]["text"]),
        (&Value::from("raw"), &Value::from("de ad be ef"))
    );
    assert_eq!(blob["size"], 5);
    let plain = &api(&server, "store/keys?pattern=plain")["keys"][0]["value"];
    assert_eq!((&plain["tag"], &plain["text"]), (&Value::Null, &Value::from("untagged text")));
    let (mut cursor, mut seen, mut pages) = (0, Vec::new(), 0);
    loop {
        let page = api(&server, &format!("store/keys?limit=2&cursor={cursor}"));
        assert!(page["keys"].as_array().unwrap().len() <= 2);
        seen.extend(keys_of(&page));
        cursor = page["next_cursor"].as_u64().unwrap();
        pages += 1;
        if cursor == 0 {
            break;
        }
        assert!(pages < 10, "paging does not end");
    }
    seen.sort();
    assert_eq!(seen, ["blob:1", "plain", "user:1", "user:2", "user:3"]);
    assert_eq!(http_get(server.ui_addr(), "/api/store/keys?limit=many").status, 400);

    // Pub/Sub: counters, topics, subscriptions by kind, retained values.
    let pubsub = api(&server, "pubsub")["stats"].clone();
    assert_eq!(
        (&pubsub["published"], &pubsub["retained"], &pubsub["shared_groups"]),
        (&3.into(), &1.into(), &1.into())
    );
    assert_eq!(pubsub["subscriptions"], 4);
    let topics = api(&server, "pubsub/topics");
    assert_eq!(topics["total"], 3);
    assert_eq!(find(&topics["items"], "topic", "sensors/kitchen/temp")["retained"], true);
    assert_eq!(find(&topics["items"], "topic", "news/today")["subscribers_last"], 1);
    let subs = api(&server, "pubsub/subscriptions");
    assert_eq!((&subs["total"], &subs["wildcard"], &subs["shared"]), (&3.into(), &1.into(), &1.into()));
    assert_eq!(find(&subs["items"], "pattern", "$share/workers/jobs/#")["subscribers"], 2);
    assert_eq!(find(&subs["items"], "pattern", "sensors/+/temp")["kind"], "wildcard");
    let retained = api(&server, "pubsub/retained");
    let kitchen = find(&retained["items"], "topic", "sensors/kitchen/temp");
    assert_eq!((&kitchen["value"]["tag"], &kitchen["value"]["text"]), (&"text".into(), &" 21.5 C".into()));
    assert!(kitchen["ttl_ms"].as_u64().is_some_and(|ms| ms > 500_000 && ms <= 600_000));

    // Queue: counts per state, messages per state with leases, due times and failure reasons.
    let queue = api(&server, "queue")["stats"].clone();
    assert_eq!((&queue["queues"], &queue["counters"]["pushed"]), (&1.into(), &4.into()));
    let emails = find(&api(&server, "queue/queues")["items"], "name", "emails").clone();
    let counts: Vec<&Value> = ["ready", "in_flight", "delayed", "dead"].iter().map(|f| &emails[*f]).collect();
    assert_eq!(counts, [&Value::from(1); 4], "{emails:#}");
    assert_eq!((&emails["counters"]["nacked"], &emails["counters"]["dead_lettered"]), (&1.into(), &1.into()));
    let messages = |state: &str| api(&server, &format!("queue/messages?queue=emails&state={state}"));
    let ready = messages("ready");
    assert_eq!((&ready["total"], &ready["items"][0]["value"]["text"]), (&1.into(), &"bounce me".into()));
    let in_flight = messages("in_flight");
    let leased = &in_flight["items"][0];
    assert_eq!(leased["id"], filled.leased_id.as_str());
    assert!(leased["value"]["text"].as_str().unwrap().contains("\"to\": \"ada@example.com\""), "{leased:#}");
    assert!(leased["lease_left_ms"].as_u64().unwrap() > 0);
    assert_eq!(leased["attempts"], 1);
    let delayed = &messages("delayed")["items"][0];
    assert!(delayed["due_in_ms"].as_u64().is_some_and(|ms| ms > 0 && ms <= 60_000), "{delayed:#}");
    let dead = &messages("dead")["items"][0];
    assert_eq!(
        (&dead["reason"], &dead["value"]["text"]),
        (&"smtp 550: mailbox unavailable".into(), &"welcome mail".into())
    );
    assert_eq!(http_get(server.ui_addr(), "/api/queue/messages?queue=nope").status, 404);
    assert_eq!(http_get(server.ui_addr(), "/api/queue/messages?queue=emails&state=lost").status, 400);

    // The plain endpoints.
    let health = http_get(server.ui_addr(), "/healthz");
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let page = http_get(server.ui_addr(), "/");
    assert_eq!((page.status, page.content_type.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.body.contains("<section id=\"queue\">"));
    let icon = http_get(server.ui_addr(), "/favicon.ico");
    assert_eq!((icon.status, icon.content_type.as_str()), (200, "image/svg+xml"));
    assert_eq!(http_get(server.ui_addr(), "/no/such/page").status, 404);
    assert_eq!(http_get(server.ui_addr(), "/api/no-such-endpoint").status, 404);
    let history = api(&server, "history");
    assert!(history["series"]["store.ops"].is_array(), "{history:#}");
}

/// `/metrics` parses as the Prometheus text format, every metric with HELP and TYPE, and its
/// numbers match what the brokers hold.
pub fn ui_metrics_parse(bin: &Path) {
    let server = Server::start_with_ui(bin, &[]);
    let _filled = fill(&server);
    wait_for_snapshots(&server);
    let got = http_get(server.ui_addr(), "/metrics");
    assert_eq!(got.status, 200);
    assert!(got.content_type.starts_with("text/plain; version=0.0.4"), "{}", got.content_type);
    let metrics = prom::parse(&got.body).unwrap_or_else(|e| panic!("invalid exposition: {e}\n{}", got.body));
    for (name, family) in &metrics {
        let counter = family.kind.as_deref() == Some("counter");
        assert_eq!(counter, name.ends_with("_total"), "{name}: counters and only counters end in _total");
        assert!(!family.samples.is_empty(), "{name} has no samples");
    }
    let value = |name: &str, labels: &[(&str, &str)]| {
        metrics.get(name).and_then(|f| f.value(labels)).unwrap_or_else(|| panic!("no {name}{labels:?}"))
    };
    assert_eq!(value("nexo_healthy", &[]), 1.0);
    assert_eq!(value("nexo_store_keys", &[]), 5.0);
    assert_eq!(value("nexo_store_keys_with_ttl", &[]), 4.0);
    assert_eq!(value("nexo_pubsub_published_total", &[]), 3.0);
    assert_eq!(value("nexo_pubsub_retained_messages", &[]), 1.0);
    assert_eq!(value("nexo_pubsub_shared_groups", &[]), 1.0);
    assert_eq!(value("nexo_queue_queues", &[]), 1.0);
    for state in ["ready", "in_flight", "delayed", "dead"] {
        assert_eq!(value("nexo_queue_messages", &[("state", state)]), 1.0, "{state}");
    }
    assert_eq!(value("nexo_queue_dead_lettered_total", &[]), 1.0);
    assert!(value("nexo_broker_requests_total", &[("broker", "store")]) >= 6.0);
    assert!(value("nexo_broker_requests_total", &[("broker", "queue")]) >= 8.0);
    assert!(value("nexo_connections", &[]) >= 3.0);
    assert!(value("nexo_uptime_seconds", &[]) > 0.0);
    let info = &metrics["nexo_info"].samples[0].0;
    assert_eq!(info.get("fsync").map(String::as_str), Some("always"));
}

/// A dashboard port that is taken stops the start with a clear message and a failure status.
pub fn ui_port_taken_exits_nonzero(bin: &Path) {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = taken.port().to_string();
    let args = ["--bind", "127.0.0.1", "--port", "0", "--ui-port", &port, "--data-dir"];
    let mut all: Vec<&str> = args.to_vec();
    let dir_text = dir.path().to_string_lossy().into_owned();
    all.push(&dir_text);
    let exited = run_to_exit(bin, &all, Duration::from_secs(20));
    assert!(!exited.status.success(), "started on a taken dashboard port: {exited:?}");
    assert!(exited.stdout.is_empty(), "printed a ready line: {:?}", exited.stdout);
    assert!(
        exited.stderr.contains(&taken.to_string()) && exited.stderr.contains("dashboard"),
        "the error does not name the dashboard and {taken}: {}",
        exited.stderr
    );
}

/// The first stdout line of `bin` started with `args` and `env`, then the process is killed.
fn ready_line_with(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args(["--bind", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .env("NEXO_MQTT_PORT", "off")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let read = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let _ = child.kill();
    let _ = child.wait();
    read.unwrap();
    line
}

/// `NEXO_UI_BIND` / `NEXO_UI_PORT` place the dashboard, `NEXO_UI=off` and `--no-ui` turn it off.
pub fn ui_env_settings(bin: &Path) {
    let on = ready_line_with(bin, &[], &[("NEXO_UI_BIND", "127.0.0.1"), ("NEXO_UI_PORT", "0")]);
    let (_, ui) = parse_ready_line_ui(&on).unwrap_or_else(|| panic!("bad ready line {on:?}"));
    let ui = ui.unwrap_or_else(|| panic!("the dashboard is off: {on:?}"));
    assert!(ui.ip().is_loopback() && ui.port() != 0, "{on:?}");
    let off = ready_line_with(bin, &["--ui-port", "0"], &[("NEXO_UI", "off")]);
    assert!(parse_ready_line_ui(&off).is_some_and(|(_, ui)| ui.is_none()), "NEXO_UI=off: {off:?}");
    let off = ready_line_with(bin, &["--no-ui", "--ui-port", "0"], &[]);
    assert!(parse_ready_line_ui(&off).is_some_and(|(_, ui)| ui.is_none()), "--no-ui: {off:?}");
}

/// SIGTERM still exits 0 promptly with the dashboard on, a listing just served and a dashboard
/// connection left open (the dashboard lets go of the brokers' channels at shutdown).
pub fn ui_sigterm_with_dashboard_exits_zero(bin: &Path) {
    let mut server = Server::start_with_ui(bin, &[]);
    let _filled = fill(&server);
    assert!(api(&server, "queue/queues")["total"] == 1);
    let mut idle = TcpStream::connect(server.ui_addr()).unwrap();
    write!(idle, "GET /api/overview HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "exit status {status}{}", server.stderr_tail());
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?} to stop", started.elapsed());
}

/// Where the browser test looks for Chromium (`NEXO_CHROMIUM` overrides).
fn chromium() -> PathBuf {
    std::env::var_os("NEXO_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Whether Chromium is there; without it a browser case `case` passes with a loud SKIP, except
/// under `CI=true`, where it fails.
pub(crate) fn chromium_or_skip(case: &str) -> bool {
    if chromium().exists() {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "CI is set and Chromium is missing at {} (apt-get install -y chromium)",
        chromium().display()
    );
    eprintln!(
        "\n\n******** SKIP {case}: no Chromium at {} ********\n\
         ******** install it (apt-get install -y chromium); under CI=true this fails ********\n",
        chromium().display()
    );
    false
}

/// Runs headless Chromium with the suite's fixed flags plus `extra` on `url`; returns stdout.
pub(crate) fn run_chromium(profile: &Path, extra: &[String], url: &str) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium().display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s: {}", err.join().unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}): {}", err.join().unwrap_or_default());
    stdout
}

/// The page in headless Chromium shows every broker's section with the data the brokers hold;
/// a screenshot is kept in `target/ui-artifacts/`. Without Chromium this passes with a loud
/// SKIP, except under `CI=true`, where it fails.
pub fn ui_browser_renders_every_broker(bin: &Path) {
    if !chromium_or_skip("ui_browser_renders_every_broker") {
        return;
    }
    let server = Server::start_with_ui(bin, &[]);
    let filled = fill(&server);
    wait_for_snapshots(&server);
    let url = format!("http://{}/", server.ui_addr());
    let profile = tempfile::Builder::new().prefix("nexo-chromium-").tempdir().unwrap();
    let dom = run_chromium(profile.path(), &["--dump-dom".to_owned()], &url);
    let expect = [
        // Every section.
        "id=\"overview\"",
        "id=\"store\"",
        "id=\"pubsub\"",
        "id=\"queue\"",
        "id=\"stream\"",
        // Overview.
        ">healthy<",
        ">always<",
        // Store: keys with values by tag.
        "user:1",
        "Ada Lovelace",
        "\"name\": \"Grace\"",
        "de ad be ef",
        "untagged text",
        // Pub/Sub: topics, subscriptions of each kind, retained value.
        "sensors/kitchen/temp",
        "news/today",
        "sensors/+/temp",
        "$share/workers/jobs/#",
        "21.5 C",
        // Queue: the queue, a message and its state counts.
        "emails",
        "bounce me",
        "Dead letters (1)",
        "In flight (1)",
    ];
    let missing: Vec<&str> = expect.iter().copied().filter(|needle| !dom.contains(needle)).collect();
    assert!(missing.is_empty(), "the rendered page lacks {missing:?}; DOM:\n{dom}");
    for section in ["overview", "store", "pubsub", "queue", "stream"] {
        let quiet = format!("id=\"{section}-error\"></p>");
        assert!(dom.contains(&quiet), "the {section} section reported an error; DOM:\n{dom}");
    }

    // Keep a picture of the page next to the build output.
    let artifacts =
        bin.parent().and_then(Path::parent).map_or_else(|| PathBuf::from("target"), Path::to_path_buf);
    let artifacts = artifacts.join("ui-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let name = bin.file_name().map_or_else(|| "nexo".into(), |n| n.to_string_lossy().into_owned());
    // The first screen as a person opens it, and the whole page (every section) below it.
    for (suffix, size) in [("", "1280,2000"), ("-full", "1280,2800")] {
        let shot = artifacts.join(format!("{name}-dashboard{suffix}.png"));
        let _ = std::fs::remove_file(&shot);
        let profile = tempfile::Builder::new().prefix("nexo-chromium-").tempdir().unwrap();
        let extra = [format!("--screenshot={}", shot.display()), format!("--window-size={size}")];
        run_chromium(profile.path(), &extra, &url);
        let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", shot.display()));
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
            "not a real PNG: {} bytes",
            png.len()
        );
        eprintln!("dashboard screenshot: {}", shot.display());
    }
    drop(filled);
}
