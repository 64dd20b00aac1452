//! One task per accepted connection: it moves bytes between the socket and the connection's
//! sans-IO [`Session`], requests to the broker tasks and the brokers' outputs back.
//!
//! This module owns the socket and its read buffer, nothing else: protocol detection, decoding,
//! answers, ordering, refusals, write and read limits, timeouts and the close decision are the
//! session's (`nexo_session`). Output is written straight from the session's queue of shared
//! frames with vectored non-blocking writes, never copied into a buffer of the task's own.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use nexo_engine::ConnId;
use nexo_server::Clock;
use nexo_session::{CloseWhy, Item, Session, SessionContext};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::broker_task::{Brokers, Msg, Outbox};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;
/// How often a session that may not read looks again (global input bound) and deadlines are
/// re-checked at the latest.
const TICK: Duration = Duration::from_millis(250);

/// What every connection shares.
#[derive(Debug)]
pub struct Context {
    /// The broker tasks.
    pub brokers: Brokers,
    /// Shared by the sessions.
    pub sessions: Arc<SessionContext>,
    /// The clock (sessions take `now` as an input).
    pub clock: Clock,
    /// Runs password checks off the runtime's threads.
    pub verify: nexo_server::security::VerifyPool,
}

/// Serves one accepted connection (refused: over the connection limit; `mqtt`: accepted on the
/// MQTT listener) until its session closes.
pub async fn serve(
    stream: TcpStream,
    conn: ConnId,
    ctx: Arc<Context>,
    mut stop: watch::Receiver<bool>,
    (refused, mqtt): (bool, bool),
) {
    let peer = stream.peer_addr().ok().map(|peer| peer.ip());
    let mut session =
        Session::accepted(Arc::clone(&ctx.sessions), conn, ctx.clock.now(), (refused, mqtt), peer);
    let (verdict_tx, mut verdict_rx) = tokio::sync::mpsc::unbounded_channel();
    let verdicts = move |verdict| {
        let _ = verdict_tx.send(verdict);
    };
    let (outbox, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    // A dropped sender also means shutdown; `changed` then resolves at once.
    let mut stopping = false;
    if *stop.borrow() {
        stopping = true;
        session.handle_shutdown(ctx.clock.now().mono_ms);
    }
    let why = loop {
        if let Some(why) = session.close_reason() {
            break why;
        }
        let wake = session.poll_timeout().map_or(TICK, |at| ctx.clock.until(ctx.clock.now(), at).min(TICK));
        tokio::select! {
            ready = stream.readable(), if session.may_read() => {
                if let Err(e) = ready.and_then(|()| read(&stream, &mut buf)) {
                    tracing::debug!(conn = conn.0, error = %e, "read failed");
                    session.handle_eof(ctx.clock.now().mono_ms);
                    continue;
                }
                session.handle_bytes(ctx.clock.now(), &mut buf, &mut items);
                ctx.verify.submit_from(&mut session, &verdicts);
                if hand_over(&ctx.brokers, conn, &mut items, &outbox).await.is_err() {
                    break CloseWhy::LingerPassed;
                }
                if buf.is_empty() {
                    // An idle connection holds no read memory.
                    buf = BytesMut::new();
                }
            }
            ready = stream.writable(), if session.wants_write() => {
                if let Err(e) = ready.and_then(|()| write(&mut session, &stream, &ctx.brokers)) {
                    tracing::debug!(conn = conn.0, error = %e, "write failed");
                    break CloseWhy::LingerPassed;
                }
            }
            Some(out) = rx.recv() => {
                session.handle_output(out);
                while let Ok(out) = rx.try_recv() {
                    session.handle_output(out);
                }
            }
            Some(verdict) = verdict_rx.recv() => {
                session.handle_verified(ctx.clock.now().mono_ms, &verdict);
                // Input held back while the check was out is decoded now.
                session.handle_bytes(ctx.clock.now(), &mut buf, &mut items);
                ctx.verify.submit_from(&mut session, &verdicts);
                if hand_over(&ctx.brokers, conn, &mut items, &outbox).await.is_err() {
                    break CloseWhy::LingerPassed;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                session.handle_shutdown(ctx.clock.now().mono_ms);
            }
            () = tokio::time::sleep(wake) => session.handle_timeout(ctx.clock.now().mono_ms),
        }
    };
    nexo_server::host::log_close(conn, why);
    // What the session still asks of Pub/Sub (an MQTT will) goes before the disconnect.
    session.take_items(&mut items);
    let _ = hand_over(&ctx.brokers, conn, &mut items, &outbox).await;
    ctx.brokers.disconnect(conn).await;
}

/// Reads what the socket has (up to the session's buffer bound); end of input is an error.
fn read(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<()> {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    match stream.try_read_buf(buf) {
        Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

/// Writes what the session queued; reports written push bytes to Pub/Sub.
fn write(session: &mut Session, stream: &TcpStream, brokers: &Brokers) -> io::Result<()> {
    let push_bytes = session.write_to(&mut Socket(stream))?;
    if push_bytes > 0 {
        // Only Pub/Sub pushes; it needs the count to bound each subscriber's backlog. A full
        // channel drops the report, which only delays that subscriber's next push.
        let _ = brokers
            .pubsub
            .try_send(Msg::input(nexo_server::BrokerInput::Flushed(session.conn(), push_bytes)));
    }
    Ok(())
}

/// Hands the session's routed requests to their brokers, in order; `Err` when one has stopped.
async fn hand_over(
    brokers: &Brokers,
    conn: ConnId,
    items: &mut Vec<Item>,
    outbox: &Outbox,
) -> Result<(), ()> {
    for item in items.drain(..) {
        brokers.route(conn, item, outbox).await?;
    }
    Ok(())
}

/// The socket as a non-blocking `io::Write` for the session's vectored writes.
struct Socket<'a>(&'a TcpStream);

impl io::Write for Socket<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.try_write(data)
    }

    fn write_vectored(&mut self, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(slices)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
