//! Fuzzes one client connection's session, `nexo_session::Session`: bytes in, routed items and
//! bytes out, whatever the protocol the first byte picks (v1, RESP, or MQTT on its listener).
//!
//! Input layout: byte 0 holds flags (bit 0: over the connection limit; bit 1: accepted on the
//! MQTT listener; bit 2: answer requests with errors instead of OK), byte 1 seeds how the rest
//! is cut into chunks, the remaining bytes are the wire. After every chunk the session decodes,
//! every routed request is answered (and every other one brings a push), time moves on 700 ms,
//! deadlines are applied and the output is written to a sink that takes everything. Checked:
//! - no panic;
//! - a session never asks to be read while it is closed;
//! - once written to a sink that never blocks, nothing stays queued.
#![no_main]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use nexo_engine::{ConnId, NetOutput, Now};
use nexo_proto::{Push, Reply};
use nexo_session::resp::{ProcessProbe, RespContext, RespSettings};
use nexo_session::{Item, Limits, Session, SessionContext};

fn context() -> Arc<SessionContext> {
    let resp = Arc::new(RespContext::new(RespSettings {
        max_frame_bytes: 64 * 1024,
        max_subscriptions: 8,
        max_memory_bytes: 1 << 30,
        eviction: "allkeys-lru".into(),
        port: 6379,
        max_connections: 100,
        process: ProcessProbe::default(),
    }));
    Arc::new(SessionContext::new(Limits::new(64 * 1024, 256 * 1024), resp))
}

fn item_id(item: &Item) -> u32 {
    match item {
        Item::Store { id, .. } | Item::PubSub { id, .. } | Item::Queue { id, .. } | Item::Stream { id, .. } => *id,
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, seed, wire @ ..] = data else { return };
    let conn = ConnId(1);
    let mut now = Now { mono_ms: 1_000, wall_ms: 1_700_000_000_000 };
    let mut session = if flags & 2 != 0 {
        Session::new_mqtt(context(), conn, now, flags & 1 != 0)
    } else {
        Session::new(context(), conn, now.mono_ms, flags & 1 != 0)
    };
    let push = Push::encode_frame("fuzz/topic", b"payload");
    let reply = if flags & 4 != 0 { Reply::Err("ERR fuzz".into()) } else { Reply::Ok };
    let (mut buf, mut items, mut sink) = (BytesMut::new(), Vec::new(), Vec::new());
    let mut rest = wire;
    let mut step = usize::from(*seed);
    while !rest.is_empty() && session.close_reason().is_none() {
        step = (step * 31 + 7) % 97 + 1;
        let (chunk, tail) = rest.split_at(step.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        session.handle_bytes(now, &mut buf, &mut items);
        for (n, item) in items.drain(..).enumerate() {
            let id = item_id(&item);
            session.handle_output(NetOutput::Reply { conn, id, reply: reply.clone() });
            if n % 2 == 1 {
                session.handle_output(NetOutput::Push { conn, frame: Bytes::clone(&push) });
            }
        }
        now.mono_ms += 700;
        now.wall_ms += 700;
        if session.poll_timeout().is_some_and(|at| at <= now.mono_ms) {
            session.handle_timeout(now.mono_ms);
        }
        let _ = session.write_to(&mut sink);
        assert!(!session.wants_write(), "a sink that takes everything leaves nothing queued");
        if session.close_reason().is_some() {
            assert!(!session.may_read(), "a closed session asks to be read");
        }
        sink.clear();
    }
    session.handle_eof(now.mono_ms);
    let _ = session.write_to(&mut sink);
});
