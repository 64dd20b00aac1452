//! Hostile cases against the dashboard: DNS rebinding (foreign `Host`/`Origin` headers) and
//! slow connections that used to lock the page out.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::server::{IO_TIMEOUT, Server};

/// The status code of `GET path` sent with these extra header lines.
fn status_with(addr: SocketAddr, path: &str, headers: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\n{headers}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let text = String::from_utf8_lossy(&raw);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// A page on another site reaching the dashboard through a rebound name sends that name as
/// `Host` (or as `Origin`): refused with 403. IP literals, localhost and named hosts work.
pub fn hostile_ui_dns_rebinding(bin: &Path) {
    let server = Server::start_with_ui(bin, &[]);
    let ui = server.ui_addr();
    let port = ui.port();
    assert_eq!(status_with(ui, "/api/overview", &format!("Host: {ui}\r\n")), 200);
    assert_eq!(status_with(ui, "/api/overview", &format!("Host: localhost:{port}\r\n")), 200);
    assert_eq!(status_with(ui, "/metrics", &format!("Host: rebind.attacker.test:{port}\r\n")), 403);
    assert_eq!(status_with(ui, "/api/store/keys", "Host: rebind.attacker.test\r\n"), 403);
    let foreign_origin = format!("Host: {ui}\r\nOrigin: http://rebind.attacker.test:{port}\r\n");
    assert_eq!(status_with(ui, "/api/overview", &foreign_origin), 403);
    let own_origin = format!("Host: {ui}\r\nOrigin: http://{ui}\r\n");
    assert_eq!(status_with(ui, "/api/overview", &own_origin), 200);
    drop(server);

    let server = Server::start_with_ui(bin, &["--ui-allowed-hosts", "dash.example.com,other.example"]);
    let ui = server.ui_addr();
    let port = ui.port();
    assert_eq!(status_with(ui, "/healthz", &format!("Host: dash.example.com:{port}\r\n")), 200);
    assert_eq!(status_with(ui, "/healthz", "Host: OTHER.example\r\n"), 200);
    assert_eq!(status_with(ui, "/healthz", "Host: third.example\r\n"), 403);
}

/// 300 connections that never finish their headers (more than the dashboard's connection cap)
/// do not lock the page out: a fresh request is answered at once.
pub fn hostile_ui_slow_connections(bin: &Path) {
    let server = Server::start_with_ui(bin, &[]);
    let ui = server.ui_addr();
    let slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(ui).expect("a slow connection");
            s.write_all(b"GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(status_with(ui, "/healthz", &format!("Host: {ui}\r\n")), 200);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "a request behind 300 slow connections took {took:?}");
    drop(slow);
}
