//! `mem-store` and `mem-idle`: how much resident memory a server process gains from data or
//! from idle connections, read from `/proc/<pid>/status` before and after.
//!
//! `mem-store` loads `--keys` distinct keys (`key:000000000000`…) with `--size`-byte values over
//! one pipelined connection, in v1 or, with `--resp`, as Redis `SET` commands, so Nexo and Redis
//! are loaded with the same data. `mem-idle` opens `--connections` connections, sends one ECHO on
//! each (so the server has fully set each up) and keeps them open while measuring.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use nexo_proto::Request;
use nexo_proto::frame::split_frame;
use nexo_proto::options::SetOptions;
use nexo_proto::request::StoreRequest;

use crate::cli::{Cli, MemIdleArgs, MemStoreArgs};
use crate::scenario::key_bytes;

/// Resident set size of process `pid` in bytes (`VmRSS`).
///
/// # Errors
/// The status file cannot be read or has no `VmRSS` line.
pub fn rss_bytes(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    parse_vm_rss(&text).ok_or_else(|| io::Error::other(format!("no VmRSS for pid {pid}")))
}

/// The `VmRSS:` line of a `/proc/<pid>/status` text, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One RESP `SET key value` command.
pub fn resp_set(out: &mut BytesMut, key: &[u8], value: &[u8]) {
    out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
    for part in [key, value] {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
}

/// Counts complete RESP simple replies (`+OK\r\n`, `-ERR ...\r\n`) at the front of `buf`,
/// consuming them; returns (replies, errors).
pub fn take_resp_replies(buf: &mut BytesMut) -> (u64, u64) {
    let (mut replies, mut errors) = (0, 0);
    while let Some(end) = buf.iter().position(|&b| b == b'\n') {
        if buf.first() == Some(&b'-') {
            errors += 1;
        }
        replies += 1;
        buf.advance(end + 1);
    }
    (replies, errors)
}

fn load_keys(cli: &Cli, args: &MemStoreArgs) -> io::Result<u64> {
    let addr = crate::resolve(&cli.host, cli.port).map_err(io::Error::other)?;
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let value = vec![b'v'; args.size];
    let batch = 1000u64;
    let (mut sent, mut errors) = (0u64, 0u64);
    let mut rbuf = BytesMut::new();
    let mut scratch = vec![0u8; 64 * 1024];
    while sent < args.keys {
        let n = batch.min(args.keys - sent);
        let mut out = BytesMut::new();
        for k in sent..sent + n {
            let key = key_bytes(k);
            if args.resp {
                resp_set(&mut out, &key, &value);
            } else {
                let set = StoreRequest::Set {
                    key,
                    options: SetOptions { ttl: None, persist: true },
                    value: bytes::Bytes::copy_from_slice(&value),
                };
                Request::Store(set).encode(k as u32, &mut out);
            }
        }
        stream.write_all(&out)?;
        let mut answered = 0;
        while answered < n {
            let got = stream.read(&mut scratch)?;
            if got == 0 {
                return Err(io::Error::other("connection closed while loading"));
            }
            rbuf.extend_from_slice(&scratch[..got]);
            if args.resp {
                let (r, e) = take_resp_replies(&mut rbuf);
                answered += r;
                errors += e;
            } else {
                while let Ok(Some(frame)) = split_frame(&mut rbuf, u32::MAX) {
                    answered += 1;
                    errors += u64::from(frame.header.meta == nexo_proto::reply::status::ERR);
                }
            }
        }
        sent += n;
    }
    Ok(errors)
}

/// The `mem-store` subcommand.
pub fn run_store(cli: &Cli, args: &MemStoreArgs) -> ExitCode {
    let result = (|| {
        let before = rss_bytes(args.pid)?;
        let errors = load_keys(cli, args)?;
        std::thread::sleep(Duration::from_millis(500));
        let after = rss_bytes(args.pid)?;
        Ok::<_, io::Error>((before, after, errors))
    })();
    match result {
        Ok((before, after, errors)) => {
            let growth = after.saturating_sub(before);
            println!(
                "{} keys × {} B ({}): RSS {} → {} bytes, growth {} bytes ({:.1} B/key), errors {errors}",
                args.keys,
                args.size,
                if args.resp { "RESP" } else { "v1" },
                before,
                after,
                growth,
                growth as f64 / args.keys.max(1) as f64
            );
            if cli.json {
                let v = serde_json::json!({
                    "keys": args.keys, "size": args.size, "label": cli.label,
                    "rss_before": before, "rss_after": after, "rss_growth": growth,
                    "bytes_per_key": growth as f64 / args.keys.max(1) as f64, "errors": errors,
                });
                println!("{v}");
            }
            if errors > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS }
        }
        Err(e) => {
            eprintln!("nexo-bench mem-store: {e}");
            ExitCode::from(1)
        }
    }
}

/// The `mem-idle` subcommand.
pub fn run_idle(cli: &Cli, args: &MemIdleArgs) -> ExitCode {
    let result = (|| {
        let addr = crate::resolve(&cli.host, cli.port).map_err(io::Error::other)?;
        let before = rss_bytes(args.pid)?;
        let mut conns = Vec::with_capacity(args.connections as usize);
        let mut frame = BytesMut::new();
        Request::Echo(bytes::Bytes::from_static(b"ping")).encode(1, &mut frame);
        let mut reply = [0u8; 14];
        for _ in 0..args.connections {
            let mut s = TcpStream::connect(addr)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(&frame)?;
            s.read_exact(&mut reply)?;
            conns.push(s);
        }
        std::thread::sleep(Duration::from_millis(500));
        let after = rss_bytes(args.pid)?;
        drop(conns);
        Ok::<_, io::Error>((before, after))
    })();
    match result {
        Ok((before, after)) => {
            let growth = after.saturating_sub(before);
            let per = growth as f64 / f64::from(args.connections.max(1));
            println!(
                "{} idle connections: RSS {before} → {after} bytes, {per:.0} B ({:.2} KiB) per connection",
                args.connections,
                per / 1024.0
            );
            if cli.json {
                let v = serde_json::json!({
                    "connections": args.connections, "label": cli.label, "rss_before": before,
                    "rss_after": after, "rss_growth": growth, "bytes_per_connection": per,
                });
                println!("{v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nexo-bench mem-idle: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_parsed() {
        let status = "Name:\tnexo\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn resp_encoding_and_replies() {
        let mut out = BytesMut::new();
        resp_set(&mut out, b"k", b"vv");
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n");
        let mut replies = BytesMut::from(&b"+OK\r\n-ERR oom\r\n+O"[..]);
        assert_eq!(take_resp_replies(&mut replies), (2, 1));
        assert_eq!(&replies[..], b"+O");
    }
}
