//! RESP introspection cases (issue 17 item 3): CLIENT LIST fields and KILL, COMMAND with real
//! data, INFO's standard sections, TIME / LASTSAVE / SAVE, PUBSUB counts, through the `redis`
//! crate, redis-py and `redis-cli --stat` (skipped loudly when a tool is missing, unless `CI`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use redis::{Connection, Value};

use crate::server::{IO_TIMEOUT, Server};

fn connect(server: &Server) -> Connection {
    let client = redis::Client::open(format!("redis://{}/", server.addr())).expect("redis URL");
    let con = client.get_connection_with_timeout(IO_TIMEOUT).expect("redis connection");
    con.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    con
}

fn text(con: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    args[1..].iter().for_each(|a| {
        cmd.arg(*a);
    });
    cmd.query::<String>(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// CLIENT LIST shows every RESP client with Redis's fields; KILL closes another one.
pub fn resp_introspect_client_list_and_kill(bin: &Path) {
    let server = Server::start(bin);
    let mut a = connect(&server);
    let mut b = connect(&server);
    let _: () = redis::cmd("CLIENT").arg("SETNAME").arg("bee").query(&mut b).unwrap();
    let b_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut b).unwrap();
    let list = text(&mut a, &["CLIENT", "LIST"]);
    let fields = [
        "id=",
        "addr=",
        "laddr=",
        "fd=",
        "name=",
        "age=",
        "idle=",
        "flags=",
        "db=0",
        "sub=",
        "psub=",
        "multi=",
        "cmd=",
        "user=default",
        "resp=2",
    ];
    for field in fields {
        assert!(list.lines().all(|l| l.contains(field)), "{field} missing in {list}");
    }
    assert!(list.contains(&format!("id={b_id} ")) && list.contains("name=bee"), "{list}");
    assert!(list.contains("cmd=client|list"), "{list}");
    let info = text(&mut b, &["CLIENT", "INFO"]);
    assert!(info.starts_with(&format!("id={b_id} ")) && info.contains("cmd=client|info"), "{info}");
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(b_id).query(&mut a).unwrap();
    assert_eq!(killed, 1);
    assert!(redis::cmd("PING").query::<String>(&mut b).is_err(), "the killed connection is closed");
    let list = text(&mut a, &["CLIENT", "LIST"]);
    assert!(!list.contains(&format!("id={b_id} ")), "{list}");
}

/// COMMAND's real data, INFO's sections, TIME, LASTSAVE, SAVE and PUBSUB through the redis crate.
pub fn resp_introspect_command_info_time(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    let count: usize = redis::cmd("COMMAND").arg("COUNT").query(&mut con).unwrap();
    let all: Vec<Value> = redis::cmd("COMMAND").query(&mut con).unwrap();
    assert_eq!(all.len(), count);
    let info: Vec<Value> = redis::cmd("COMMAND").arg("INFO").arg("mset").query(&mut con).unwrap();
    let Value::Array(entry) = &info[0] else { panic!("{info:?}") };
    assert_eq!(entry[1], Value::Int(-3));
    assert_eq!((&entry[3], &entry[4], &entry[5]), (&Value::Int(1), &Value::Int(-1), &Value::Int(2)));
    let keys: Vec<String> = redis::cmd("COMMAND")
        .arg("GETKEYS")
        .arg("MSET")
        .arg("a")
        .arg("1")
        .arg("b")
        .arg("2")
        .query(&mut con)
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let info = text(&mut con, &["INFO"]);
    for line in [
        "# Server",
        "# Clients",
        "blocked_clients:0",
        "# Memory",
        "used_memory_rss:",
        "used_memory_dataset:",
        "# Persistence",
        "nexo_store_persisted:no",
        "# Stats",
        "total_connections_received:",
        "# Replication",
        "role:master",
        "connected_slaves:0",
        "# CPU",
        "used_cpu_user:",
        "# Keyspace",
        "db0:keys=1",
    ] {
        assert!(info.contains(line), "{line} missing in INFO:\n{info}");
    }
    let rss: u64 = field(&info, "used_memory_rss");
    let dataset: u64 = field(&info, "used_memory_dataset");
    assert!(
        rss > 1 << 20 && dataset < rss,
        "used_memory_rss {rss} is the process's, dataset {dataset} the Store's"
    );
    assert!(text(&mut con, &["INFO", "commandstats"]).contains("cmdstat_set:calls=1,"));
    let (secs, _micros): (u64, u64) = redis::cmd("TIME").query(&mut con).unwrap();
    let lastsave: u64 = redis::cmd("LASTSAVE").query(&mut con).unwrap();
    assert!(lastsave <= secs && secs - lastsave < 3600, "LASTSAVE {lastsave} is the start, TIME {secs}");
    let err = redis::cmd("SAVE").query::<Value>(&mut con).unwrap_err().to_string();
    assert!(err.contains("volatile"), "{err}");
    let mut sub = connect(&server);
    let _: Value = redis::cmd("SUBSCRIBE").arg("news").query(&mut sub).unwrap();
    let numsub: (String, i64) = redis::cmd("PUBSUB").arg("NUMSUB").arg("news").query(&mut con).unwrap();
    assert_eq!(numsub, ("news".to_owned(), 1));
}

fn field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {info}"))
}

/// `redis-cli --stat` prints sane numbers (no i64::MIN for a missing field).
pub fn resp_introspect_redis_cli_stat(bin: &Path) {
    let ok = Command::new("redis-cli").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI is set but redis-cli is missing");
        eprintln!("SKIPPED resp_introspect_redis_cli_stat: no redis-cli");
        return;
    }
    let server = Server::start(bin);
    let port = server.addr().port().to_string();
    // stdbuf: redis-cli's stdout is a pipe here, which it would buffer until exit.
    let mut child = Command::new("stdbuf")
        .args(["-oL", "redis-cli", "-p", &port, "--stat", "-i", "0.2"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli");
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().expect("redis-cli output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("keys") && stdout.contains("clients"), "{stdout}");
    assert!(!stdout.contains("-9223372036854775808"), "a field redis-cli reads is missing:\n{stdout}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with(char::is_numeric)).collect();
    assert!(!rows.is_empty(), "no data rows:\n{stdout}");
    eprintln!("redis-cli --stat:\n{stdout}");
}
