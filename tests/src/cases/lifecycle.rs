//! Lifecycle cases: the ready line (checked by every case's harness), SIGTERM, a taken port.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::server::{Server, run_to_exit};
use crate::wire::{self, Payload, request};

/// SIGTERM with idle clients and a subscriber connected: the server exits with code 0 promptly
/// and closes every connection.
pub fn lifecycle_sigterm_exits_zero(bin: &Path) {
    let mut server = Server::start(bin);
    let mut c = server.client();
    c.set("k", b"v").unwrap();
    let mut sub = server.raw();
    wire::send(&mut sub, &request(0x22, 1, &Payload::new().str("t/#").build()));
    assert_eq!(wire::read_response(&mut sub, 1).status, wire::OK);
    let mut idle = server.raw();
    wire::expect_echo(&mut idle, 2);

    let started = Instant::now();
    let status = server.terminate();
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}");
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?} with idle connections");
    for s in [&mut sub, &mut idle] {
        let rest = wire::read_until_closed(s, Duration::from_secs(5));
        assert!(rest.is_empty(), "unexpected bytes at shutdown: {rest:02X?}");
    }
    assert!(std::net::TcpStream::connect(server.addr()).is_err(), "still accepting after exit");
}

/// A port that is already taken makes the server exit non-zero (without a ready line) and say so
/// on stderr.
pub fn lifecycle_port_taken_exits_nonzero(bin: &Path) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let args = ["--bind", "127.0.0.1", "--port", &port, "--no-ui", "--data-dir", data_dir];
    let out = run_to_exit(bin, &args, Duration::from_secs(20));
    assert!(!out.status.success(), "server started on a taken port: {out:?}");
    assert!(!out.stdout.contains("nexo ready"), "printed a ready line on a taken port: {out:?}");
    let stderr = out.stderr.to_lowercase();
    assert!(
        stderr.contains(&port) || stderr.contains("in use"),
        "the error message should name the port {port} or say it is in use: {out:?}"
    );
}
