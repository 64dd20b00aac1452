//! Authentication on the dashboard port (issue 15): failed logins counted on `/metrics` (never
//! a password), over raw HTTP.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use super::{PATIENCE, eventually};
use crate::server::{IO_TIMEOUT, Server};

/// One HTTP/1.1 request; the status, the head and the body.
pub(crate) fn http(addr: SocketAddr, request_line: &str, headers: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let length = if body.is_empty() { String::new() } else { format!("Content-Length: {}\r\n", body.len()) };
    write!(s, "{request_line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}{length}\r\n{body}")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

fn resp_line(s: &mut TcpStream, command: &str) -> String {
    s.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
        got.push(byte[0]);
    }
    String::from_utf8_lossy(&got).trim_end().to_owned()
}

/// Wrong passwords and unknown users are counted on `/metrics` with HELP and TYPE; no password
/// appears there.
pub fn auth_failed_logins_on_metrics(bin: &Path) {
    let server = Server::start_with_ui(bin, &["--requirepass", "right-pw"]);
    let mut s = server.raw();
    for command in ["AUTH wrong-pw-1", "AUTH nobody wrong-pw-2", "AUTH default wrong-pw-3"] {
        assert!(resp_line(&mut s, command).starts_with("-WRONGPASS"), "{command}");
    }
    assert_eq!(resp_line(&mut s, "AUTH right-pw"), "+OK");
    let mut last = String::new();
    let counted = eventually(PATIENCE, || {
        last = http(server.ui_addr(), "GET /metrics", "", "").2;
        last.contains("\nnexo_auth_failed_logins_total 3\n")
    });
    assert!(counted, "{last}");
    assert!(last.contains("# TYPE nexo_auth_failed_logins_total counter\n"), "{last}");
    assert!(last.contains("# HELP nexo_auth_failed_logins_total "), "{last}");
    assert!(!last.contains("wrong-pw") && !last.contains("right-pw"), "a password on /metrics");
}
