//! RESP transaction cases: MULTI/EXEC atomicity under concurrent clients, WATCH conflicts and
//! optimistic check-and-set through the `redis` crate, Redis's error texts for misuse, and
//! redis-py's `pipeline()` in both modes (python from `NEXO_TEST_PYTHON`, else the local CI
//! virtual environment; skipped loudly without redis-py unless `CI` is set, where it fails).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::{Connection, Value};

use crate::server::{IO_TIMEOUT, Server};

fn connect(server: &Server) -> Connection {
    let client = redis::Client::open(format!("redis://{}/", server.addr())).expect("redis URL");
    let con = client.get_connection_with_timeout(IO_TIMEOUT).expect("redis connection");
    con.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    con
}

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut cmd = redis::cmd(args[0]);
    args[1..].iter().for_each(|a| {
        cmd.arg(*a);
    });
    cmd
}

fn ok<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    cmd(args).query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn err_text(con: &mut Connection, args: &[&str]) -> String {
    match cmd(args).query::<Value>(con) {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

/// Four clients each run 150 transactions `INCR a; INCR b` while a fifth reads both keys in one
/// MGET, over and over: it must never see them differ, and no increment is lost.
pub fn resp_tx_atomic_under_concurrent_clients(bin: &Path) {
    let server = Server::start(bin);
    let done = Arc::new(AtomicBool::new(false));
    let mut reader = connect(&server);
    let stop = Arc::clone(&done);
    let watcher = std::thread::spawn(move || {
        let mut reads = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let (a, b): (Option<i64>, Option<i64>) =
                redis::cmd("MGET").arg("a").arg("b").query(&mut reader).expect("MGET");
            assert_eq!(a, b, "a transaction was seen half done");
            reads += 1;
        }
        reads
    });
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let mut con = connect(&server);
            std::thread::spawn(move || {
                for _ in 0..150 {
                    let (a, b): (i64, i64) =
                        redis::pipe().atomic().incr("a", 1).incr("b", 1).query(&mut con).expect("EXEC");
                    assert_eq!(a, b, "both increments of one EXEC see the same state");
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().expect("writer"));
    done.store(true, Ordering::Relaxed);
    let reads = watcher.join().expect("reader");
    assert!(reads > 0);
    let mut con = connect(&server);
    assert_eq!(ok::<(i64, i64)>(&mut con, &["MGET", "a", "b"]), (600, 600));
}

/// WATCH: a change by another client (or an expiry) makes EXEC answer nil and run nothing; an
/// optimistic increment loop over four clients loses no update.
pub fn resp_tx_watch_conflicts(bin: &Path) {
    let server = Server::start(bin);
    let (mut one, mut two) = (connect(&server), connect(&server));
    ok::<()>(&mut one, &["SET", "k", "1"]);
    ok::<()>(&mut one, &["WATCH", "k"]);
    ok::<()>(&mut two, &["SET", "k", "2"]);
    ok::<()>(&mut one, &["MULTI"]);
    assert_eq!(ok::<String>(&mut one, &["SET", "k", "from one"]), "QUEUED");
    assert_eq!(ok::<Value>(&mut one, &["EXEC"]), Value::Nil, "the watched key changed");
    assert_eq!(ok::<String>(&mut one, &["GET", "k"]), "2", "nothing ran");
    // Without a conflict it runs; EXEC ended the watch.
    ok::<()>(&mut one, &["WATCH", "k"]);
    ok::<()>(&mut one, &["MULTI"]);
    ok::<()>(&mut one, &["SET", "k", "3"]);
    assert_eq!(ok::<Vec<String>>(&mut one, &["EXEC"]), vec!["OK"]);
    // An expiry between WATCH and EXEC is a change.
    ok::<()>(&mut one, &["SET", "t", "v", "PX", "50"]);
    ok::<()>(&mut one, &["WATCH", "t"]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    ok::<()>(&mut one, &["MULTI"]);
    assert_eq!(ok::<Value>(&mut one, &["EXEC"]), Value::Nil, "the watched key expired");
    // Check-and-set from four clients: every increment lands exactly once.
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let mut con = connect(&server);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let _: () = redis::transaction(&mut con, &["cas"], |con, pipe| {
                        let n: Option<i64> = redis::cmd("GET").arg("cas").query(con)?;
                        pipe.set("cas", n.unwrap_or(0) + 1).ignore().query(con)
                    })
                    .expect("transaction");
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().expect("worker"));
    assert_eq!(ok::<i64>(&mut one, &["GET", "cas"]), 200);
}

/// Redis's errors: EXEC/DISCARD without MULTI, nested MULTI, WATCH inside MULTI, EXECABORT after
/// a queue-time error (nothing runs), a run-time error that undoes nothing, DISCARD, and
/// commands of other brokers refused when queued.
pub fn resp_tx_errors(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    assert!(err_text(&mut con, &["EXEC"]).contains("EXEC without MULTI"));
    assert!(err_text(&mut con, &["DISCARD"]).contains("DISCARD without MULTI"));
    ok::<()>(&mut con, &["MULTI"]);
    assert!(err_text(&mut con, &["MULTI"]).contains("MULTI calls can not be nested"));
    assert!(err_text(&mut con, &["WATCH", "x"]).contains("WATCH inside MULTI is not allowed"));
    assert_eq!(ok::<String>(&mut con, &["INCR", "n"]), "QUEUED");
    assert!(err_text(&mut con, &["SET", "only-key"]).contains("wrong number of arguments for 'set'"));
    let abort = err_text(&mut con, &["EXEC"]);
    assert!(abort.contains("ExecAbort") && abort.contains("previous errors"), "{abort}");
    assert_eq!(ok::<Option<i64>>(&mut con, &["GET", "n"]), None, "an aborted EXEC runs nothing");
    // A run-time error answers in its place; the rest still runs.
    ok::<()>(&mut con, &["SET", "text", "abc"]);
    ok::<()>(&mut con, &["MULTI"]);
    ok::<()>(&mut con, &["INCR", "n"]);
    ok::<()>(&mut con, &["INCR", "text"]);
    ok::<()>(&mut con, &["INCR", "n"]);
    // The redis crate reports an EXEC array holding an error as that error.
    let failed = err_text(&mut con, &["EXEC"]);
    assert!(failed.contains("not an integer"), "{failed}");
    assert_eq!(ok::<i64>(&mut con, &["GET", "n"]), 2, "both INCRs around the failure ran");
    // DISCARD drops the queue; PUBLISH and SUBSCRIBE cannot be queued.
    ok::<()>(&mut con, &["MULTI"]);
    ok::<()>(&mut con, &["INCR", "n"]);
    assert!(err_text(&mut con, &["PUBLISH", "ch", "m"]).contains("Store commands only"));
    ok::<()>(&mut con, &["DISCARD"]);
    assert_eq!(ok::<i64>(&mut con, &["GET", "n"]), 2);
}

/// The python with redis-py: `NEXO_TEST_PYTHON`, else the CI virtual environment under
/// `target/`; `None` (after a loud skip) when neither has redis-py and `CI` is unset.
fn python_with_redis(case: &str) -> Option<PathBuf> {
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ci-venv/bin/python");
    let candidates = std::env::var_os("NEXO_TEST_PYTHON").map(PathBuf::from).into_iter().chain([local]);
    for python in candidates {
        let works =
            Command::new(&python).args(["-c", "import redis"]).output().is_ok_and(|o| o.status.success());
        if works {
            return Some(python);
        }
    }
    assert!(std::env::var_os("CI").is_none(), "CI is set but no python with redis-py (NEXO_TEST_PYTHON)");
    eprintln!("SKIPPED {case}: no python with redis-py (set NEXO_TEST_PYTHON)");
    None
}

const REDIS_PY_SCRIPT: &str = r#"
import sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
# Transactional (the default): MULTI, INCR, INCR, EXEC, applied once.
p = r.pipeline()
p.incr("c"); p.incr("c")
assert p.execute() == [1, 2], "transactional pipeline"
assert r.get("c") == b"2", r.get("c")
# Not transactional: plain pipelining.
p = r.pipeline(transaction=False)
p.set("a", "1"); p.incr("a"); p.get("a")
assert p.execute() == [True, 2, b"2"]
# WATCH conflict: WatchError, nothing applied.
other = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
with r.pipeline() as p:
    p.watch("c")
    other.set("c", "100")
    p.multi(); p.incr("c")
    try:
        p.execute()
        raise SystemExit("EXEC should have failed with WatchError")
    except redis.WatchError:
        pass
assert r.get("c") == b"100"
# The transaction helper retries until it wins.
def bump(pipe):
    n = int(pipe.get("c"))
    pipe.multi(); pipe.set("c", n + 1)
assert r.transaction(bump, "c") == [True]
assert r.get("c") == b"101"
# A queue-time error aborts the whole transaction.
p = r.pipeline()
p.incr("c"); p.execute_command("SET", "onlykey")
try:
    p.execute()
    raise SystemExit("EXECABORT expected")
except redis.ResponseError as e:
    assert "wrong number of arguments" in str(e) or "EXECABORT" in str(e), str(e)
assert r.get("c") == b"101", "nothing of the aborted transaction ran"
print("ok")
"#;

/// redis-py's `pipeline()` in both modes, WatchError, `transaction()` and EXECABORT.
pub fn resp_tx_redis_py(bin: &Path) {
    let Some(python) = python_with_redis("resp_tx_redis_py") else { return };
    let server = Server::start(bin);
    let port = server.addr().port().to_string();
    let out = Command::new(python).args(["-c", REDIS_PY_SCRIPT, &port]).output().expect("python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issue 17's overflow and error-text bugs: now + ttl past an i64 of ms is an invalid expire
/// time (EXPIRE, SET EX/PX, SETEX, PSETEX, GETEX) and sets nothing; INCR overflow, CLIENT ID
/// with an argument and COMMAND LIST with a bad argument get Redis's texts; FILTERBY filters.
pub fn resp_overflow_and_error_texts(bin: &Path) {
    let server = Server::start(bin);
    let mut con = connect(&server);
    ok::<()>(&mut con, &["SET", "k", "v"]);
    let invalid = |c: &str| format!("invalid expire time in '{c}' command");
    for (args, name) in [
        (&["EXPIRE", "k", "9223370399119966"][..], "expire"),
        (&["PEXPIRE", "k", "9223372036854775000"][..], "pexpire"),
        (&["SET", "k", "v", "EX", "9223370399119966"][..], "set"),
        (&["SET", "k", "v", "PX", "9223372036854775000"][..], "set"),
        (&["SETEX", "k", "9223370399119966", "v"][..], "setex"),
        (&["PSETEX", "k", "9223372036854775000", "v"][..], "psetex"),
        (&["GETEX", "k", "EX", "9223370399119966"][..], "getex"),
    ] {
        let text = err_text(&mut con, args);
        assert!(text.contains(&invalid(name)), "{args:?}: {text}");
    }
    assert_eq!(ok::<i64>(&mut con, &["TTL", "k"]), -1, "no TTL was set");
    ok::<()>(&mut con, &["SET", "max", &i64::MAX.to_string()]);
    assert!(err_text(&mut con, &["INCR", "max"]).contains("increment or decrement would overflow"));
    assert!(err_text(&mut con, &["CLIENT", "ID", "x"]).contains("wrong number of arguments for 'client|id'"));
    assert!(err_text(&mut con, &["COMMAND", "LIST", "bad_arg"]).contains("syntax error"));
    let names: Vec<String> = ok(&mut con, &["COMMAND", "LIST", "FILTERBY", "PATTERN", "*watch"]);
    assert_eq!(names, vec!["watch", "unwatch"]);
}
