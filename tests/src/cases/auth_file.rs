//! Users from the config file's `[[users]]` tables (issue 15): a plain and a hashed password,
//! per-broker and per-pattern permissions answered NOPERM on RESP and v1, a disabled user,
//! `--print-config` masking, and a SIGHUP reload of a changed table.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::auth::line;
use super::{PATIENCE, eventually};
use crate::server::Server;
use crate::wire::{self, Payload};

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// Argon2id of `hashed-pw` (checked by nexo-server's settings::users unit tests).
const OPS_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$bmV4by1lMmUtc2FsdC0wMQ$BwWXjNkG3WzccqNAlodYBUuUxecWo0syhVjG1L45bwg";

fn config(app_password: &str) -> String {
    format!(
        "requirepass = \"root-pw\"\n\n\
         [[users]]\nname = \"app\"\npassword = \"{app_password}\"\nbrokers = [\"store\", \"queue\"]\n\
         operations = [\"read\", \"write\"]\nkeys = [\"app:*\", \"%R~shared:*\"]\nqueues = [\"jobs*\"]\n\n\
         [[users]]\nname = \"ops\"\npassword-hash = \"{OPS_HASH}\"\nbrokers = [\"stream\"]\n\
         operations = [\"read\", \"write\", \"admin\"]\nstreams = [\"*\"]\n\n\
         [[users]]\nname = \"off\"\non = false\npassword = \"off-pw\"\nacl = [\"+@all\", \"allkeys\"]\n"
    )
}

/// A server on a config file of [`config`]`(app_password)`; keep the directory while it runs.
fn start(bin: &Path, app_password: &str) -> (tempfile::TempDir, PathBuf, Server) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nexo.toml");
    std::fs::write(&path, config(app_password)).unwrap();
    let server = Server::start_with(bin, &["--config", path.to_str().unwrap()]);
    (dir, path, server)
}

/// RESP: each file user logs in with its own password and is held to its brokers and patterns.
pub fn auth_file_users_resp(bin: &Path) {
    let (_dir, _path, server) = start(bin, "app-pw");
    let mut s = server.raw();
    assert_eq!(line(&mut s, "AUTH app wrong"), format!("-{WRONGPASS}"));
    assert_eq!(line(&mut s, "AUTH off off-pw"), format!("-{WRONGPASS}"), "on = false");
    assert_eq!(line(&mut s, "AUTH app app-pw"), "+OK");
    assert_eq!(line(&mut s, "ACL WHOAMI"), "$3");
    assert_eq!(line(&mut s, ""), "app");
    assert_eq!(line(&mut s, "SET app:1 v"), "+OK");
    assert_eq!(line(&mut s, "SET other v"), "-NOPERM No permissions to access a key");
    assert_eq!(line(&mut s, "GET shared:1"), "$-1", "%R~ grants reading");
    assert_eq!(line(&mut s, "SET shared:1 v"), "-NOPERM No permissions to access a key");
    let publish = line(&mut s, "PUBLISH news hi");
    assert!(publish.starts_with("-NOPERM User app has no permissions"), "{publish}");
    let mut ops = server.raw();
    assert_eq!(line(&mut ops, "AUTH ops hashed-pw"), "+OK", "password-hash logs in");
    let get = line(&mut ops, "GET app:1");
    assert!(get.starts_with("-NOPERM User ops has no permissions"), "{get}");
    let mut root = server.raw();
    assert_eq!(line(&mut root, "AUTH root-pw"), "+OK", "requirepass is the default user's");
}

/// v1: the AUTH opcode, then NOPERM naming the missing permission per broker and per name.
pub fn auth_file_users_v1(bin: &Path) {
    let (_dir, _path, server) = start(bin, "app-pw");
    let mut s = server.raw();
    let auth = wire::request(0x01, 1, &Payload::new().str("app").raw("app-pw").build());
    wire::send(&mut s, &auth);
    assert_eq!(wire::read_response(&mut s, 1).status, 0x00, "AUTH OK");
    let set = |id, key: &str| wire::request(0x02, id, &Payload::new().str(key).json("{}").raw("v").build());
    wire::send(&mut s, &set(2, "app:1"));
    assert_eq!(wire::read_response(&mut s, 2).status, 0x00, "SET in the pattern");
    wire::expect_err(
        &mut s,
        &set(3, "other"),
        3,
        "NOPERM this user lacks the permission store:write on 'other'",
    );
    let push =
        |id, queue: &str| wire::request(0x11, id, &Payload::new().str(queue).json("{}").raw("m").build());
    wire::expect_err(
        &mut s,
        &push(4, "mail"),
        4,
        "NOPERM this user lacks the permission queue:write on 'mail'",
    );
    let create = wire::request(0x10, 5, &Payload::new().str("jobs").json("{}").build());
    wire::expect_err(&mut s, &create, 5, "NOPERM this user lacks the permission queue:admin");
    let stream = wire::request(0x31, 6, &Payload::new().str("t").raw("m").build());
    wire::expect_err(&mut s, &stream, 6, "NOPERM this user lacks the permission stream:write");
}

/// A SIGHUP reload of a changed `[[users]]` table applies to new logins; `--print-config`
/// masks every password of the file.
pub fn auth_file_users_sighup(bin: &Path) {
    let (_dir, path, server) = start(bin, "first-pw");
    let printed =
        Command::new(bin).args(["--config", path.to_str().unwrap(), "--print-config"]).output().unwrap();
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(printed.contains("[[users]]") && printed.contains("name = \"ops\""), "{printed}");
    for secret in ["first-pw", "off-pw", "root-pw", "argon2"] {
        assert!(!printed.contains(secret), "{secret} is printed: {printed}");
    }
    assert_eq!(line(&mut server.raw(), "AUTH app first-pw"), "+OK");
    std::fs::write(&path, config("second-pw")).unwrap();
    let status = Command::new("kill").args(["-HUP", &server.pid().to_string()]).status().unwrap();
    assert!(status.success());
    let second = || line(&mut server.raw(), "AUTH app second-pw") == "+OK";
    assert!(eventually(PATIENCE, second), "{}", server.stderr_tail());
    assert_eq!(line(&mut server.raw(), "AUTH app first-pw"), format!("-{WRONGPASS}"));
    assert!(!server.stderr_tail().contains("second-pw"), "the password is never logged");
}
