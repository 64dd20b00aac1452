//! One task per accepted connection: a reader that decodes and routes frames, a writer that
//! drains the connection's outbox, and the close sequence.
//!
//! This module owns the socket and its two buffers. It decides nothing about commands: frames
//! go through `nexo_proto::decode_request_frame` and `nexo_server::route`, and brokers answer
//! through the outbox. Bounds: the read buffer holds at most one partial frame (whose length
//! passed the frame limit) plus one read; the reader waits while the outbox has too many unsent
//! replies (see `outbox.rs`); the writer encodes at most [`WRITE_BATCH`] bytes per write.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use nexo_engine::{CloseReason, ConnId};
use nexo_proto::resp::is_resp_first_byte;
use nexo_proto::{Oversized, Reply, decode_request_frame};
use nexo_server::Clock;
use nexo_session::resp::{RespContext, RespOutbound};
use nexo_session::{Routed, route};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

use crate::broker_task::{BrokerInput, Brokers, hand_over};
use crate::outbox::{ConnState, Out, Outbox, reply_cost};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;
/// Bytes encoded before they are written; also what an idle write buffer shrinks back to.
const WRITE_BATCH: usize = 64 * 1024;
/// How long a closing connection may take to write what is queued for it.
const LINGER: Duration = Duration::from_secs(2);
/// How long input is read and discarded after a closing ERR, so the peer gets the ERR and a FIN
/// rather than a reset (unread input makes the kernel send a reset on close).
const DRAIN: Duration = Duration::from_secs(1);

/// What every connection shares.
#[derive(Debug)]
pub struct Context {
    /// The broker tasks.
    pub brokers: Brokers,
    /// Largest accepted request payload.
    pub max_frame_bytes: u32,
    /// Unsent reply bytes above which the reader waits.
    pub max_write_buffer_bytes: i64,
    /// Shared by the RESP sessions.
    pub resp: Arc<RespContext>,
    /// The clock (RESP sessions take `now` as an input).
    pub clock: Clock,
}

/// Why a connection ended (logged at debug).
#[derive(Debug)]
pub enum End {
    /// The client closed its side.
    Eof,
    /// Reading failed.
    ReadFailed(std::io::Error),
    /// Writing failed.
    WriteFailed(std::io::Error),
    /// A frame declared too large a payload (answered with ERR first).
    Oversized(Oversized),
    /// The first byte is not a v1 frame type (RESP is not served yet).
    NotV1(u8),
    /// The engine closed it.
    Closed(CloseReason),
    /// A broker task is gone (the server is stopping).
    BrokerGone,
    /// The server is shutting down.
    Shutdown,
    /// The RESP session closed it (QUIT, a protocol error, an HTTP client).
    RespClosed,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Eof => f.write_str("closed by the client"),
            Self::ReadFailed(e) => write!(f, "read failed: {e}"),
            Self::WriteFailed(e) => write!(f, "write failed: {e}"),
            Self::Oversized(o) => write!(f, "{o}"),
            Self::NotV1(byte) => write!(f, "first byte 0x{byte:02X} is not Nexo v1"),
            Self::Closed(reason) => write!(f, "closed by the engine: {reason}"),
            Self::BrokerGone => f.write_str("a broker has stopped"),
            Self::Shutdown => f.write_str("server shutting down"),
            Self::RespClosed => f.write_str("closed by the RESP session"),
        }
    }
}

/// Serves one accepted connection until it closes; `_permit` holds its place under the
/// connection limit.
pub async fn serve(
    stream: TcpStream,
    conn: ConnId,
    ctx: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    // Counted open (v1 or RESP) for RESP's INFO until this function returns, as the permit.
    let _counted = ctx.resp.count_client();
    let (mut rd, wr) = stream.into_split();
    let state = Arc::new(ConnState::default());
    let (outbox, rx) = Outbox::new(Arc::clone(&state));
    let writer = write_loop(wr, rx, &state, conn, &ctx.brokers);
    tokio::pin!(writer);
    let mut writer_done = false;

    let end = tokio::select! {
        end = read_loop(&mut rd, &outbox, &state, conn, &ctx) => end,
        reason = state.closed() => End::Closed(reason),
        () = shutdown_signalled(&mut shutdown) => End::Shutdown,
        result = &mut writer => {
            writer_done = true;
            match result {
                Ok(()) => End::Eof,
                Err(e) => End::WriteFailed(e),
            }
        }
    };

    // The writer ends once every outbox clone is gone: this one now, the brokers' when they see
    // the disconnect, which queues behind this connection's requests, so their replies are
    // written first.
    drop(outbox);
    ctx.brokers.disconnect(conn).await;
    if !writer_done && tokio::time::timeout(LINGER, &mut writer).await.is_err() {
        tracing::debug!(conn = conn.0, "queued output not written within the linger time");
    }
    if matches!(end, End::Oversized(_)) {
        drain_input(&mut rd).await;
    }
    tracing::debug!(conn = conn.0, reason = %end, "connection closed");
}

async fn shutdown_signalled(shutdown: &mut watch::Receiver<bool>) {
    // A dropped sender also means shutdown.
    let _ = shutdown.wait_for(|&stop| stop).await;
}

/// Reads, decodes and routes frames until the connection must close.
async fn read_loop(
    rd: &mut OwnedReadHalf,
    outbox: &Outbox,
    state: &ConnState,
    conn: ConnId,
    ctx: &Context,
) -> End {
    let mut buf = BytesMut::new();
    let mut first_read = true;
    loop {
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
        if first_read {
            first_read = false;
            // Protocol detection: 0x00–0x1F is v1, `*` or a letter RESP; anything else closes.
            match buf.first() {
                Some(&byte) if is_resp_first_byte(byte) => {
                    return crate::resp::read_loop(rd, std::mem::take(&mut buf), outbox, state, conn, ctx)
                        .await;
                }
                Some(&byte) if byte > 0x1F => return End::NotV1(byte),
                _ => {}
            }
        }
        loop {
            state.wait_for_room(ctx.max_write_buffer_bytes).await;
            let inbound = match decode_request_frame(&mut buf, ctx.max_frame_bytes) {
                Ok(Some(inbound)) => inbound,
                Ok(None) => break,
                Err(oversized) => {
                    state.request_read();
                    outbox.reply(oversized.id, Reply::error(oversized));
                    return End::Oversized(oversized);
                }
            };
            state.request_read();
            // Each broker gets this connection's requests in order over one channel.
            let sent = match route(inbound) {
                Routed::Answer { id, reply } => {
                    outbox.reply(id, reply);
                    Ok(())
                }
                Routed::Store { id, request } => {
                    hand_over(&ctx.brokers.store, conn, id, request, outbox).await
                }
                Routed::PubSub { id, request } => {
                    hand_over(&ctx.brokers.pubsub, conn, id, request, outbox).await
                }
                Routed::Queue { id, request } => {
                    hand_over(&ctx.brokers.queue, conn, id, request, outbox).await
                }
                Routed::Stream { id, request } => {
                    hand_over(&ctx.brokers.stream, conn, id, request, outbox).await
                }
            };
            if sent.is_err() {
                return End::BrokerGone;
            }
        }
    }
}

/// Writes the outbox in order until every sender is gone, then shuts the write side.
///
/// # Errors
/// The socket error that stopped it.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Out>,
    state: &ConnState,
    conn: ConnId,
    brokers: &Brokers,
) -> std::io::Result<()> {
    // Taken when there is something to write and given back when the outbox is empty, so an
    // idle connection holds no write memory.
    let mut buf = BytesMut::new();
    // A RESP connection's reorder buffer, created by its first slot.
    let mut resp: Option<RespOutbound> = None;
    while let Some(first) = rx.recv().await {
        let (mut replies, mut reply_bytes, mut push_bytes) = (0, 0, 0);
        let mut next = Some(first);
        while let Some(out) = next {
            match (out, resp.as_mut()) {
                (Out::Slot(slot), _) => resp.get_or_insert_with(RespOutbound::new).handle_slot(slot),
                (Out::Reply { id, reply }, Some(resp)) => resp.handle_reply(id, &reply),
                (Out::Push(frame), Some(resp)) => resp.handle_push(&frame),
                (Out::Reply { id, reply }, None) => {
                    reply.encode(id, &mut buf);
                    replies += 1;
                    reply_bytes += reply_cost(&reply);
                }
                (Out::Push(frame), None) => {
                    buf.extend_from_slice(&frame);
                    push_bytes += frame.len();
                }
            }
            if let Some((bytes, released)) = resp.as_mut().and_then(RespOutbound::take_output) {
                buf.extend_from_slice(&bytes);
                replies += i64::try_from(released.replies).unwrap_or(i64::MAX);
                reply_bytes += i64::try_from(released.cost).unwrap_or(i64::MAX);
                push_bytes += released.push_report;
            }
            next = if buf.len() < WRITE_BATCH { rx.try_recv().ok() } else { None };
        }
        if buf.is_empty() {
            continue;
        }
        wr.write_all(&buf).await?;
        if buf.capacity() > 16 * WRITE_BATCH || rx.is_empty() {
            buf = BytesMut::new();
        } else {
            buf.clear();
        }
        state.replies_written(replies, reply_bytes);
        if push_bytes > 0 {
            // Only Pub/Sub pushes; it needs the count to bound each subscriber's backlog.
            let _ = brokers.pubsub.send(BrokerInput::Flushed(conn, push_bytes)).await;
        }
    }
    wr.shutdown().await
}

/// Reads and discards input until EOF or [`DRAIN`] passes (see [`DRAIN`]).
pub async fn drain_input(rd: &mut (impl AsyncRead + Unpin)) {
    let mut scratch = [0u8; 4096];
    let _ =
        tokio::time::timeout(DRAIN, async { while matches!(rd.read(&mut scratch).await, Ok(n) if n > 0) {} })
            .await;
}
