//! Authentication cases (issue 15): `--requirepass` on RESP (raw, the `redis` crate, redis-cli
//! `-a` / `--user` / `--pass`) and v1 (the AUTH opcode `0x01`), NOAUTH / WRONGPASS / NOPERM texts,
//! ACL SETUSER users limited by name pattern, ten failures closing the connection, and a SIGHUP
//! reload of a changed password.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use super::{PATIENCE, eventually};
use crate::server::{IO_TIMEOUT, Server};
use crate::wire;

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Sends one RESP command (inline) and reads one reply line (or up to `IO_TIMEOUT`).
pub(crate) fn line(s: &mut TcpStream, command: &str) -> String {
    s.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    read_line(s)
}

/// Reads one reply line.
fn read_line(s: &mut TcpStream) -> String {
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n") {
        match s.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).trim_end().to_owned()
}

fn redis_url(server: &Server, user: &str, pass: &str) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(format!("redis://{user}:{pass}@{}/", server.addr()))?;
    client.get_connection_with_timeout(IO_TIMEOUT)
}

/// RESP: NOAUTH until AUTH, WRONGPASS, the `redis` crate with credentials, ACL users limited by
/// key pattern and broker, and redis-cli's `-a`, `--user` and `--pass`.
pub fn auth_resp_requirepass(bin: &Path) {
    let server = Server::start_with(bin, &["--requirepass", "s3cret"]);
    let mut s = server.raw();
    assert_eq!(line(&mut s, "GET k"), format!("-{NOAUTH}"));
    assert_eq!(line(&mut s, "PING"), format!("-{NOAUTH}"));
    assert_eq!(line(&mut s, "AUTH wrong"), format!("-{WRONGPASS}"));
    assert_eq!(line(&mut s, "AUTH nobody s3cret"), format!("-{WRONGPASS}"));
    assert!(line(&mut s, "HELLO 3").starts_with("-NOAUTH HELLO must be called"));
    assert_eq!(line(&mut s, "AUTH s3cret"), "+OK");
    assert_eq!(line(&mut s, "SET k v"), "+OK");
    assert_eq!(line(&mut s, "ACL WHOAMI"), "$7");
    assert_eq!(read_line(&mut s), "default");

    let mut con = redis_url(&server, "default", "s3cret").expect("right password");
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "v");
    let wrong = redis_url(&server, "default", "nope").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(wrong.contains("WRONGPASS") || wrong.contains("AuthenticationFailed"), "{wrong}");

    assert_eq!(line(&mut s, "ACL SETUSER app on >apppw ~app:* +@read +@write"), "+OK");
    assert_eq!(
        line(&mut s, "ACL SETUSER app bogus"),
        "-ERR Error in ACL SETUSER modifier 'bogus': Syntax error"
    );
    let mut app = redis_url(&server, "app", "apppw").expect("app logs in");
    let _: () = redis::cmd("SET").arg("app:1").arg("x").query(&mut app).unwrap();
    let denied = redis::cmd("SET").arg("other").arg("x").query::<()>(&mut app).unwrap_err().to_string();
    assert!(denied.contains("No permissions to access a key"), "{denied}");
    let denied = redis::cmd("ACL").arg("LIST").query::<Vec<String>>(&mut app).unwrap_err().to_string();
    assert!(denied.contains("NOPERM"), "{denied}");
    let list: Vec<String> = redis::cmd("ACL").arg("LIST").query(&mut con).unwrap();
    assert!(
        list.iter().any(|l| l.starts_with("user app on #$argon2id$")
            && l.ends_with("~app:* resetchannels -@all +@read +@write")),
        "{list:?}"
    );

    if Command::new("redis-cli").arg("--version").output().is_ok() {
        let cli = |args: &[&str]| {
            let out = Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &server.addr().port().to_string()])
                .args(args)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        assert_eq!(cli(&["-a", "s3cret", "--no-auth-warning", "GET", "k"]), "v");
        assert_eq!(cli(&["--user", "app", "--pass", "apppw", "--no-auth-warning", "GET", "app:1"]), "x");
        assert!(cli(&["GET", "k"]).contains("NOAUTH"));
    }
}

/// Ten wrong passwords in a row close the connection.
pub fn auth_ten_failures_close(bin: &Path) {
    let server = Server::start_with(bin, &["--requirepass", "s3cret"]);
    let mut s = server.raw();
    for _ in 0..10 {
        assert_eq!(line(&mut s, "AUTH wrong"), format!("-{WRONGPASS}"));
    }
    let rest = wire::read_until_closed(&mut s, PATIENCE);
    assert!(rest.is_empty(), "{rest:?}");
}

/// v1: every request but ECHO and AUTH answers NOAUTH until the AUTH opcode succeeds.
pub fn auth_v1_opcode(bin: &Path) {
    let server = Server::start_with(bin, &["--requirepass", "s3cret"]);
    let mut s = server.raw();
    let get = wire::request(0x03, 1, &wire::Payload::new().str("k").build());
    wire::expect_err(&mut s, &get, 1, NOAUTH);
    wire::expect_echo(&mut s, 2);
    let auth = |id, user: &str, pass: &str| {
        wire::request(0x01, id, &wire::Payload::new().str(user).raw(pass).build())
    };
    wire::expect_err(&mut s, &auth(3, "default", "nope"), 3, WRONGPASS);
    wire::send(&mut s, &auth(4, "", "s3cret"));
    assert_eq!(wire::read_response(&mut s, 4).status, 0x00, "AUTH OK");
    wire::send(&mut s, &get);
    assert_eq!(wire::read_response(&mut s, 1).status, 0x02, "GET of a missing key answers NULL");
}

/// A SIGHUP reload of a changed `requirepass` applies at once to new logins.
pub fn auth_sighup_password_change(bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nexo.toml");
    std::fs::write(&path, "requirepass = \"one\"\n").unwrap();
    let server = Server::start_with(bin, &["--config", path.to_str().unwrap()]);
    assert!(redis_url(&server, "default", "one").is_ok());
    std::fs::write(&path, "requirepass = \"two\"\n").unwrap();
    let status = Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(
        eventually(PATIENCE, || redis_url(&server, "default", "two").is_ok()),
        "{}",
        server.stderr_tail()
    );
    assert!(redis_url(&server, "default", "one").is_err());
    assert!(!server.stderr_tail().contains("\"two\""), "the password is never logged");
}
