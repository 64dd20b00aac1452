//! MQTT with the real clients of its ecosystem (`mosquitto_pub` / `mosquitto_sub`, Debian
//! `mosquitto-clients`) and raw packets from the codec: QoS 0/1/2 in both versions, user names,
//! retained messages, wildcards, the will, and delivery across MQTT and v1.
//!
//! Without the mosquitto tools a case skips with a message, unless `CI` is set (then it fails).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use nexo_proto::mqtt::{Connect, Packet, Properties, QoS, Version, Will};

use super::{PATIENCE, pushes_until};
use crate::server::Server;

fn have_mosquitto() -> bool {
    let ok = Command::new("mosquitto_pub").arg("--help").output().is_ok();
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "mosquitto_pub is missing (apt-get install mosquitto-clients)"
    );
    if !ok {
        eprintln!("SKIPPED: mosquitto_pub / mosquitto_sub not installed (apt-get install mosquitto-clients)");
    }
    ok
}

fn mqtt_server(bin: &Path) -> (Server, String) {
    let server = Server::start_with(bin, &["--mqtt-port", "0"]);
    let port = server.mqtt_addr().port().to_string();
    (server, port)
}

/// A `mosquitto_sub -v -d` that has its SUBACK, and the message lines (`topic payload`) it prints.
struct Sub {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Sub {
    fn start(port: &str, args: &[&str]) -> Self {
        // Line-buffered, or its lines sit in a pipe buffer (stdio buffers a pipe fully).
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-v", "-d"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto_sub");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let sub = Self { child, lines };
        sub.wait_for(|l| l.contains("received SUBACK"));
        sub
    }

    fn wait_for(&self, what: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if what(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("mosquitto_sub never printed what was expected"),
            }
        }
    }

    /// The next `count` message lines (debug lines skipped).
    fn messages(&self, count: usize) -> Vec<String> {
        (0..count)
            .map(|_| self.wait_for(|l| !l.starts_with("Client ") && !l.starts_with("Subscribed")))
            .collect()
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn publish(port: &str, args: &[&str]) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", port])
        .args(args)
        .status()
        .expect("run mosquitto_pub");
    assert!(status.success(), "mosquitto_pub {args:?} failed: {status}");
}

/// QoS 0, 1 and 2 from MQTT 3.1.1 and 5 publishers reach a QoS 2 subscriber of each version,
/// with user names and passwords accepted (no users yet).
pub fn mqtt_mosquitto_qos_levels(bin: &Path) {
    if !have_mosquitto() {
        return;
    }
    let (_server, port) = mqtt_server(bin);
    let v311 = Sub::start(&port, &["-t", "q/#", "-q", "2", "-V", "mqttv311"]);
    let v5 = Sub::start(&port, &["-t", "q/+", "-q", "2", "-V", "mqttv5", "-u", "alice", "-P", "secret"]);
    for (qos, version) in [("0", "mqttv311"), ("1", "mqttv5"), ("2", "mqttv311"), ("2", "mqttv5")] {
        let topic = format!("q/{qos}");
        publish(&port, &["-t", &topic, "-m", version, "-q", qos, "-V", version, "-u", "bob", "-P", "pw"]);
    }
    let want = ["q/0 mqttv311", "q/1 mqttv5", "q/2 mqttv311", "q/2 mqttv5"];
    assert_eq!(v311.messages(4), want);
    assert_eq!(v5.messages(4), want);
}

/// A retained message is sent to later subscribers whose filter matches (`+`, `#`), an empty
/// retained publish clears it, and MQTT and v1 see one Pub/Sub: each side receives what the
/// other publishes, payloads byte for byte.
pub fn mqtt_retained_wildcards_and_v1(bin: &Path) {
    if !have_mosquitto() {
        return;
    }
    let (server, port) = mqtt_server(bin);
    publish(&port, &["-t", "home/kitchen/temp", "-m", "21", "-r", "-q", "1"]);
    let late = Sub::start(&port, &["-t", "home/+/temp", "-t", "home/#", "-q", "1"]);
    // One copy per matching subscription, as the spec has it for retained messages.
    assert_eq!(late.messages(2), ["home/kitchen/temp 21", "home/kitchen/temp 21"]);

    let mut v1 = server.client();
    v1.subscribe("home/#").expect("v1 subscribe");
    publish(&port, &["-t", "home/hall/light", "-m", "on", "-q", "1"]);
    let pushes = pushes_until(&mut v1, b"on");
    assert_eq!(pushes.last().map(|p| p.topic.as_str()), Some("home/hall/light"));
    assert_eq!(late.messages(1), ["home/hall/light on"]);

    let mut v1_pub = server.client();
    v1_pub.publish("home/door", b"from-v1", Default::default()).expect("v1 publish");
    assert_eq!(late.wait_for(|l| l.starts_with("home/door ")), "home/door from-v1");

    publish(&port, &["-t", "home/kitchen/temp", "-n", "-r", "-q", "1"]);
    drop(late);
    let empty = Sub::start(&port, &["-t", "home/kitchen/temp", "-W", "2"]);
    std::thread::sleep(Duration::from_millis(300));
    let lines: Vec<String> = empty.lines.try_iter().collect();
    assert!(
        !lines.iter().any(|l| l.starts_with("home/kitchen/temp")),
        "a cleared retained message came back: {lines:?}"
    );
}

/// A client that vanishes without DISCONNECT has its will published; one that disconnects
/// cleanly does not.
pub fn mqtt_will_on_abrupt_close(bin: &Path) {
    if !have_mosquitto() {
        return;
    }
    let (server, port) = mqtt_server(bin);
    let watcher = Sub::start(&port, &["-t", "wills/#", "-q", "1"]);
    for (name, clean) in [("polite", true), ("vanished", false)] {
        let will = Will {
            topic: format!("wills/{name}"),
            payload: Bytes::from(name),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::default(),
        };
        let connect = Connect {
            version: Version::V5,
            clean_start: true,
            keep_alive_s: 30,
            properties: Properties::default(),
            client_id: name.into(),
            will: Some(will),
            username: None,
            password: None,
        };
        let mut out = BytesMut::new();
        Packet::Connect(Box::new(connect)).encode(Version::V5, &mut out);
        if clean {
            Packet::Disconnect(Default::default()).encode(Version::V5, &mut out);
        }
        let mut socket = TcpStream::connect(server.mqtt_addr()).expect("connect");
        socket.write_all(&out).expect("send CONNECT");
        socket.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let mut connack = [0u8; 4];
        std::io::Read::read_exact(&mut socket, &mut connack).expect("CONNACK");
        assert_eq!(connack[0], 0x20, "CONNACK first");
        drop(socket);
    }
    assert_eq!(watcher.messages(1), ["wills/vanished vanished"]);
}
