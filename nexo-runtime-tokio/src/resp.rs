//! The read loop of a RESP connection (first byte `*` or an ASCII letter).
//!
//! Owns only the plumbing: bytes from the socket into `nexo_session::resp::RespSession`, its
//! actions out to the outbox (slots, in order) and the broker tasks (requests). Everything RESP
//! means lives in `nexo_server::resp`; the write side (reorder buffer, re-encoding of pushes) runs
//! in the connection's writer (`connection.rs`).

use bytes::BytesMut;
use nexo_engine::ConnId;
use nexo_session::resp::{Action, RespSession};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;

use crate::broker_task::hand_over;
use crate::connection::{Context, End};
use crate::outbox::{ConnState, Outbox};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;

/// Serves RESP commands from `buf` (already holding the first bytes) and the socket until the
/// connection must close.
pub async fn read_loop(
    rd: &mut OwnedReadHalf,
    mut buf: BytesMut,
    outbox: &Outbox,
    state: &ConnState,
    conn: ConnId,
    ctx: &Context,
) -> End {
    let mut session = RespSession::new(ctx.resp.clone(), conn);
    let mut actions = Vec::new();
    loop {
        loop {
            state.wait_for_room(ctx.max_write_buffer_bytes).await;
            if !session.handle_one(ctx.clock.now(), &mut buf, &mut actions) {
                break;
            }
            for action in actions.drain(..) {
                let sent = match action {
                    Action::Slot(slot) => {
                        state.request_read();
                        outbox.resp_slot(slot);
                        Ok(())
                    }
                    Action::Store { id, request } => {
                        hand_over(&ctx.brokers.store, conn, id, request, outbox).await
                    }
                    Action::PubSub { id, request } => {
                        hand_over(&ctx.brokers.pubsub, conn, id, request, outbox).await
                    }
                    Action::Close => return End::RespClosed,
                };
                if sent.is_err() {
                    return End::BrokerGone;
                }
            }
        }
        if buf.is_empty() {
            // An idle connection holds no read memory: wait for bytes, then take a buffer.
            buf = BytesMut::new();
            if let Err(e) = rd.readable().await {
                return End::ReadFailed(e);
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => return End::Eof,
            Ok(_) => {}
            Err(e) => return End::ReadFailed(e),
        }
    }
}
