//! Hostile cases about connections themselves: a client that never finishes a frame (slowloris)
//! is closed after `--client-read-timeout`, while an idle client is not; a RESP array declared
//! with a million elements and trickled in costs each packet only its own bytes, so other
//! clients stay fast (the parser resumes where it stopped).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::server::Server;

/// Whether the server closed `stream` within `patience` (EOF or a reset).
fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

pub fn hostile_conn_slowloris_closed_after_read_timeout(bin: &Path) {
    let server = Server::start_with(bin, &["--client-read-timeout", "1000"]);
    let mut idle = server.raw();
    let mut slow = server.raw();
    // Half a v1 header, never finished.
    slow.write_all(&[0x01, 0x00, 0x00]).unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut slow, Duration::from_secs(20)), "a slowloris connection stays open");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before the read timeout");
    // A client with nothing half-sent is not subject to the read timeout.
    assert!(!closed_within(&mut idle, Duration::from_millis(500)), "an idle connection was closed");
    idle.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 7];
    idle.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
}

pub fn hostile_conn_idle_timeout_is_off_by_default_and_settable(bin: &Path) {
    let server = Server::start_with(bin, &["--client-idle-timeout", "1000"]);
    let mut idle = server.raw();
    idle.write_all(b"PING\r\n").unwrap();
    let mut pong = [0u8; 7];
    idle.read_exact(&mut pong).unwrap();
    assert!(closed_within(&mut idle, Duration::from_secs(20)), "an idle connection stays open");
}

pub fn hostile_conn_trickled_resp_array(bin: &Path) {
    let server = Server::start(bin);
    let mut attacker = server.raw();
    attacker.write_all(b"*1048576\r\n").unwrap();
    let chunk = b"$1\r\na\r\n".repeat(10_000);
    for _ in 0..100 {
        attacker.write_all(&chunk).unwrap();
    }
    let mut probe = server.raw();
    probe.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut times = Vec::new();
    for _ in 0..100 {
        // One more element per packet, as the attack trickled them.
        attacker.write_all(b"$1\r\na\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(2));
        let sent = Instant::now();
        probe.write_all(b"PING\r\n").unwrap();
        let mut pong = [0u8; 7];
        probe.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"+PONG\r\n");
        times.push(sent.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    assert!(median < Duration::from_millis(20), "median PING {median:?} while an array trickles in");
}
