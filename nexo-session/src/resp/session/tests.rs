//! Session tests: bytes in, RESP bytes out, with the outbound side and a scripted engine.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use nexo_engine::{ConnId, Now};
use nexo_proto::Reply;
use nexo_proto::request::{PubSubRequest, StoreRequest};

use super::RespSession;
use crate::resp::{Action, RespContext, RespOutbound, RespSettings};

fn ctx() -> Arc<RespContext> {
    Arc::new(RespContext::new(RespSettings::for_tests()))
}

/// A session and its outbound side; engine requests are answered by `engine`, in order.
struct H {
    session: RespSession,
    out: RespOutbound,
    requests: Vec<Action>,
    closed: bool,
}

impl H {
    fn new() -> Self {
        Self::with_ctx(ctx())
    }

    fn with_ctx(ctx: Arc<RespContext>) -> Self {
        Self {
            session: RespSession::new(ctx, ConnId(7)),
            out: RespOutbound::new(),
            requests: Vec::new(),
            closed: false,
        }
    }

    /// Feeds `input`; engine requests are collected (not answered); returns what is released.
    fn feed(&mut self, input: &str) -> String {
        let mut buf = BytesMut::from(input.as_bytes());
        let mut actions = Vec::new();
        while self.session.handle_one(Now::at(5_000), &mut buf, &mut actions) {}
        for action in actions {
            match action {
                Action::Slot(slot) => self.out.handle_slot(slot),
                Action::Close => self.closed = true,
                request => self.requests.push(request),
            }
        }
        self.take()
    }

    fn reply(&mut self, id: u32, reply: Reply) -> String {
        self.out.handle_reply(id, &reply);
        self.take()
    }

    /// Answers every collected Store request with OK (and forgets them); returns the output.
    fn answer_all(&mut self) -> String {
        for action in std::mem::take(&mut self.requests) {
            if let Action::Store { id, .. } = action {
                self.out.handle_reply(id, &Reply::Ok);
            }
        }
        self.take()
    }

    fn take(&mut self) -> String {
        self.out.take_output().map(|(b, _)| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }
}

#[test]
fn connection_commands_are_answered_locally() {
    let mut h = H::new();
    assert_eq!(h.feed("PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"), "+PONG\r\n$2\r\nhi\r\n");
    assert_eq!(
        h.feed("SELECT 0\r\nSELECT 1\r\nSELECT x\r\n"),
        "+OK\r\n-ERR DB index is out of range\r\n-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(h.feed("CLIENT SETNAME app\r\nCLIENT GETNAME\r\nCLIENT ID\r\n"), "+OK\r\n$3\r\napp\r\n:7\r\n");
    assert_eq!(
        h.feed("CLIENT SETNAME \"a b\"\r\n"),
        "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
    );
    assert_eq!(h.feed("NOPE x\r\n"), "-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n");
    assert_eq!(h.feed("GET\r\n"), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(h.feed("SET k v BAD\r\n"), "-ERR syntax error\r\n");
    assert_eq!(h.feed("CONFIG GET save\r\n"), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    assert!(h.feed("COMMAND COUNT\r\n").starts_with(':'));
    assert!(h.requests.is_empty());
    assert!(!h.closed);
    assert_eq!(h.feed("QUIT\r\n"), "+OK\r\n");
    assert!(h.closed);
}

#[test]
fn hello_switches_to_resp3() {
    let mut h = H::new();
    let reply = h.feed("HELLO 3\r\n");
    assert!(reply.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{reply}");
    assert!(reply.contains("$5\r\nproto\r\n:3\r\n"));
    h.feed("GET missing\r\n");
    assert_eq!(h.reply(0, Reply::Null), "_\r\n");
    assert_eq!(h.feed("HELLO 4\r\n"), "-NOPROTO unsupported protocol version\r\n");
}

#[test]
fn pipelines_across_brokers_keep_request_order() {
    let mut h = H::new();
    assert_eq!(h.feed("SET k v\r\nPUBLISH ch m\r\nGET k\r\nPING\r\n"), "");
    assert!(matches!(h.requests[0], Action::Store { id: 0, request: StoreRequest::Set { .. } }));
    assert!(
        matches!(&h.requests[1], Action::PubSub { id: 1, request: PubSubRequest::PublishCount { topic, .. } } if topic == "ch")
    );
    assert_eq!(h.reply(1, Reply::Int(2)), "", "the Pub/Sub reply waits for the Store's");
    assert_eq!(h.reply(0, Reply::Ok), "+OK\r\n:2\r\n");
    assert_eq!(h.reply(2, Reply::Data(Bytes::from_static(b"v"))), "$1\r\nv\r\n+PONG\r\n");
}

#[test]
fn subscribe_mode_rules_and_confirmations() {
    let mut h = H::new();
    assert_eq!(h.feed("SUBSCRIBE a b\r\n"), "");
    assert_eq!(h.reply(0, Reply::Ok), "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n");
    assert_eq!(h.reply(1, Reply::Ok), "*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n");
    assert_eq!(
        h.feed("GET k\r\n"),
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n"
    );
    assert_eq!(h.feed("PING\r\n"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    h.feed("PSUBSCRIBE p*\r\n");
    assert_eq!(h.reply(2, Reply::Ok), "*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n");
    assert_eq!(h.feed("SUBSCRIBE c\r\n"), "-ERR Too many subscriptions (max 3)\r\n");
    h.feed("UNSUBSCRIBE\r\n");
    h.reply(3, Reply::Ok);
    assert_eq!(h.reply(4, Reply::Ok), "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n");
    h.feed("PUNSUBSCRIBE\r\n");
    assert_eq!(h.reply(5, Reply::Ok), "*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n");
    assert_eq!(h.feed("UNSUBSCRIBE\r\n"), "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    h.feed("GET k\r\n");
    assert_eq!(h.reply(6, Reply::Null), "$-1\r\n", "out of subscribe mode");
}

#[test]
fn protocol_errors_and_http_close() {
    let mut h = H::new();
    assert_eq!(h.feed("*1\r\n$x\r\n"), "-ERR Protocol error: invalid bulk length\r\n");
    assert!(h.closed);
    let mut h = H::new();
    assert_eq!(h.feed("POST / HTTP/1.1\r\nHost: x\r\n"), "");
    assert!(h.closed);
    let mut h = H::new();
    assert_eq!(h.feed("Host: x\r\n"), "");
    assert!(h.closed);
}

#[test]
fn info_asks_the_store_only_when_needed() {
    let mut h = H::new();
    let server = h.feed("INFO server\r\n");
    assert!(server.contains("redis_version:") && server.contains("tcp_port:6379"), "{server}");
    assert!(h.requests.is_empty());
    assert_eq!(h.feed("INFO\r\n"), "");
    let text = h.reply(0, Reply::Data(Bytes::from_static(b"keys:2\r\nexpires:0\r\nused_memory:10\r\n")));
    assert!(text.contains("# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0"), "{text}");
    assert!(text.contains("connected_clients:0"), "the runtime counts connections, not the session");
}

#[test]
fn info_counts_every_client_connection() {
    let ctx = ctx();
    let mut h = H::with_ctx(Arc::clone(&ctx));
    let clients = |h: &mut H| h.feed("INFO clients\r\n");
    let first = clients(&mut h);
    assert!(first.contains("connected_clients:0\r\n") && first.contains("maxclients:100\r\n"), "{first}");
    // A runtime without a count of its own counts each connection, v1 or RESP.
    let v1 = ctx.count_client();
    let resp = ctx.count_client();
    assert!(clients(&mut h).contains("connected_clients:2\r\n"));
    drop(v1);
    assert!(clients(&mut h).contains("connected_clients:1\r\n"));
    drop(resp);
    // A runtime with its own count publishes it in the gauge.
    ctx.clients_gauge().store(5, std::sync::atomic::Ordering::Relaxed);
    assert!(clients(&mut h).contains("connected_clients:5\r\n"));
}

#[test]
fn multi_queues_then_exec_is_one_store_request() {
    let mut h = H::new();
    assert_eq!(h.feed("MULTI\r\nINCR a\r\nPING\r\nGET a\r\n"), "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n");
    assert!(h.requests.is_empty(), "nothing reaches the Store before EXEC");
    assert_eq!(h.feed("EXEC\r\n"), "");
    let [Action::Store { id, request: StoreRequest::Exec { commands } }] = &h.requests[..] else {
        panic!("{:?}", h.requests)
    };
    assert_eq!(commands.len(), 2, "PING is answered in place");
    let replies = Reply::Replies(vec![Reply::Int(1), Reply::Data(Bytes::from_static(b"1"))]);
    assert_eq!(h.reply(*id, replies), "*3\r\n:1\r\n+PONG\r\n$1\r\n1\r\n");
    // A watched key changed: a null array.
    h.requests.clear();
    h.feed("MULTI\r\nEXEC\r\n");
    let [Action::Store { id, .. }] = &h.requests[..] else { panic!() };
    assert_eq!(h.reply(*id, Reply::Null), "*-1\r\n");
}

#[test]
fn queue_time_errors_abort_exec_and_misuse_gets_redis_errors() {
    let mut h = H::new();
    assert_eq!(h.feed("EXEC\r\nDISCARD\r\n"), "-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n");
    let out = h.feed("MULTI\r\nMULTI\r\nWATCH k\r\nSET k\r\nNOSUCH\r\nINCR k\r\nEXEC\r\n");
    assert_eq!(
        out,
        "+OK\r\n-ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n\
         -ERR wrong number of arguments for 'set' command\r\n\
         -ERR unknown command 'NOSUCH', with args beginning with: \r\n+QUEUED\r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert!(
        matches!(&h.requests[..], [Action::Store { request: StoreRequest::Unwatch, .. }]),
        "an aborted EXEC only unwatches: {:?}",
        h.requests
    );
    assert_eq!(h.answer_all(), "");
    let out = h.feed("MULTI\r\nPUBLISH c m\r\nSUBSCRIBE c\r\nSET k v EX 0\r\nDISCARD\r\nGET k\r\n");
    assert!(out.starts_with("+OK\r\n-ERR PUBLISH cannot be queued"), "{out}");
    assert!(out.contains("-ERR Command not allowed inside a transaction\r\n"), "{out}");
    assert!(out.contains("-ERR invalid expire time in 'set' command\r\n+OK\r\n"), "{out}");
    assert!(matches!(
        &h.requests[..],
        [
            Action::Store { request: StoreRequest::Unwatch, .. },
            Action::Store { request: StoreRequest::Get { .. }, .. }
        ]
    ));
}

#[test]
fn transactions_are_bounded() {
    let mut h = H::new();
    let mut input = String::from("MULTI\r\n");
    for _ in 0..super::multi::MULTI_MAX_QUEUED + 1 {
        input.push_str("INCR k\r\n");
    }
    input.push_str("EXEC\r\n");
    let out = h.feed(&input);
    assert_eq!(out.matches("+QUEUED").count(), super::multi::MULTI_MAX_QUEUED);
    assert!(out.ends_with(
        "-ERR Transaction too long: at most 10000 commands can be queued\r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n"
    ));
    h.answer_all();
    let big = "x".repeat(600_000);
    let set = |key: &str| format!("*3\r\n$3\r\nSET\r\n$1\r\n{key}\r\n${}\r\n{big}\r\n", big.len());
    let out = h.feed(&format!("MULTI\r\n{}{}EXEC\r\n", set("a"), set("b")));
    assert!(out.contains("-ERR Transaction too large"), "{}", &out[..out.len().min(200)]);
}

#[test]
fn watch_and_unwatch_go_to_the_store() {
    let mut h = H::new();
    assert_eq!(h.feed("WATCH a b\r\nUNWATCH\r\n"), "");
    let [
        Action::Store { id: w, request: StoreRequest::Watch { keys } },
        Action::Store { id: u, request: StoreRequest::Unwatch },
    ] = &h.requests[..]
    else {
        panic!("{:?}", h.requests)
    };
    assert_eq!(keys.len(), 2);
    let (w, u) = (*w, *u);
    assert_eq!(h.reply(u, Reply::Ok), "");
    assert_eq!(h.reply(w, Reply::Ok), "+OK\r\n+OK\r\n");
}

#[test]
fn client_subcommand_arity_and_help() {
    let mut h = H::new();
    assert_eq!(h.feed("CLIENT ID x\r\n"), "-ERR wrong number of arguments for 'client|id' command\r\n");
    assert_eq!(
        h.feed("CLIENT GETNAME x\r\n"),
        "-ERR wrong number of arguments for 'client|getname' command\r\n"
    );
    let help = h.feed("CLIENT HELP\r\n");
    assert!(help.starts_with("*29\r\n+CLIENT <subcommand>") && help.contains("+KILL <ip:port>"), "{help}");
    assert_eq!(h.feed("COMMAND LIST bad_arg\r\n"), "-ERR syntax error\r\n");
}

fn second(ctx: &Arc<RespContext>, id: u64) -> H {
    H {
        session: RespSession::new(Arc::clone(ctx), ConnId(id)),
        out: RespOutbound::new(),
        requests: Vec::new(),
        closed: false,
    }
}

#[test]
fn client_list_info_and_kill() {
    let ctx = ctx();
    let mut a = H::with_ctx(Arc::clone(&ctx));
    let mut b = second(&ctx, 9);
    a.session.set_endpoints(crate::resp::Endpoints {
        peer: "127.0.0.1:5001".parse().unwrap(),
        local: "127.0.0.1:6379".parse().unwrap(),
        fd: 12,
    });
    assert_eq!(b.feed("CLIENT SETNAME bee\r\nCLIENT SETINFO lib-name redis-py\r\n"), "+OK\r\n+OK\r\n");
    b.feed("SUBSCRIBE news\r\n");
    let list = a.feed("CLIENT LIST\r\n");
    assert!(
        list.contains("id=7 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=12 name= age=0 idle=0 flags=N db=0"),
        "{list}"
    );
    assert!(list.contains("cmd=client|list user=default"), "{list}");
    assert!(
        list.contains("id=9 addr= laddr= fd=-1 name=bee")
            && list.contains("flags=P")
            && list.contains("sub=1"),
        "{list}"
    );
    assert!(list.contains("cmd=subscribe") && list.contains("lib-name=redis-py"), "{list}");
    let pubsub = a.feed("CLIENT LIST TYPE pubsub\r\n");
    assert!(pubsub.contains("id=9 ") && !pubsub.contains("id=7 "), "{pubsub}");
    assert_eq!(a.feed("CLIENT LIST TYPE bogus\r\n"), "-ERR Unknown client type 'bogus'\r\n");
    assert!(
        a.feed("CLIENT INFO\r\n").contains("id=7 ") && a.feed("CLIENT INFO\r\n").contains("cmd=client|info")
    );
    assert_eq!(a.feed("PUBSUB NUMSUB news other\r\n"), "*4\r\n$4\r\nnews\r\n:1\r\n$5\r\nother\r\n:0\r\n");
    assert_eq!(a.feed("PUBSUB CHANNELS n*\r\n"), "*1\r\n$4\r\nnews\r\n");
    assert_eq!(a.feed("PUBSUB NUMPAT\r\n"), ":0\r\n");
    assert_eq!(a.feed("CLIENT KILL 10.0.0.1:1\r\n"), "-ERR No such client\r\n");
    assert_eq!(a.feed("CLIENT KILL ID 0\r\n"), "-ERR client-id should be greater than 0\r\n");
    assert_eq!(a.feed("CLIENT KILL ID 9\r\n"), ":1\r\n");
    assert_eq!(b.feed("PING\r\n"), "", "a killed connection closes without answering");
    assert!(b.closed);
    drop(b);
    assert!(!a.feed("CLIENT LIST\r\n").contains("id=9 "), "gone from the list once dropped");
    assert_eq!(a.feed("CLIENT KILL SKIPME no ADDR 127.0.0.1:5001\r\n"), ":1\r\n");
    assert!(a.closed, "killing itself closes after the reply");
    assert_eq!(a.feed("CLIENT PAUSE 10\r\n"), "");
}

#[test]
fn command_introspection_from_the_table() {
    let mut h = H::new();
    let count: usize = h.feed("COMMAND COUNT\r\n")[1..].trim().parse().unwrap();
    assert!(count > 50);
    assert!(h.feed("COMMAND\r\n").starts_with(&format!("*{count}\r\n*10\r\n$4\r\nping\r\n")));
    let get = h.feed("COMMAND INFO get nosuch\r\n");
    assert_eq!(
        get,
        "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n\
         *4\r\n+@keyspace\r\n+@string\r\n+@read\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n*-1\r\n"
    );
    let docs = h.feed("COMMAND DOCS set\r\n");
    assert!(docs.starts_with("*2\r\n$3\r\nset\r\n*6\r\n$7\r\nsummary\r\n"), "{docs}");
    assert_eq!(h.feed("COMMAND GETKEYS MSET a 1 b 2\r\n"), "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    assert_eq!(h.feed("COMMAND GETKEYS PING\r\n"), "-ERR The command has no key arguments\r\n");
    assert_eq!(
        h.feed("COMMAND GETKEYS GET\r\n"),
        "-ERR Invalid number of arguments specified for command\r\n"
    );
    assert_eq!(h.feed("COMMAND GETKEYS NOPE x\r\n"), "-ERR Invalid command specified\r\n");
    // RESP3: flags and categories are sets, DOCS a map.
    h.feed("HELLO 3\r\n");
    assert!(h.feed("COMMAND INFO get\r\n").contains(":2\r\n~2\r\n+readonly"));
    assert!(h.feed("COMMAND DOCS get\r\n").starts_with("%1\r\n$3\r\nget\r\n%3\r\n"));
}

#[test]
fn time_lastsave_save_and_diagnostics() {
    let mut h = H::new();
    // Now::at(5_000): wall 1_700_000_005_000 ms, 5 s after the start.
    assert_eq!(h.feed("TIME\r\n"), "*2\r\n$10\r\n1700000005\r\n$1\r\n0\r\n");
    assert_eq!(h.feed("LASTSAVE\r\n"), ":1700000000\r\n");
    assert_eq!(h.feed("SAVE\r\n"), format!("-{}\r\n", super::admin::VOLATILE));
    assert_eq!(h.feed("BGSAVE SCHEDULE\r\n"), format!("-{}\r\n", super::admin::VOLATILE));
    assert_eq!(h.feed("SLOWLOG GET 10\r\nSLOWLOG LEN\r\nSLOWLOG RESET\r\n"), "*0\r\n:0\r\n+OK\r\n");
    assert_eq!(h.feed("SLOWLOG GET -5\r\n"), "-ERR count should be greater than or equal to -1\r\n");
    assert_eq!(h.feed("LATENCY LATEST\r\nLATENCY RESET\r\n"), "*0\r\n:0\r\n");
    assert!(h.feed("INFO commandstats\r\n").contains("cmdstat_time:calls=1,"));
    assert!(h.feed("INFO cpu\r\n").contains("used_cpu_user:"));
    assert!(h.requests.is_empty(), "none of these reach a broker");
}
