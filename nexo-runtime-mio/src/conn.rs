//! One client connection as the network thread sees it: socket, read buffer, write queue and the
//! counters that decide whether to keep reading it.
//!
//! It owns reading bytes and the connection's life-cycle state; it does not decode requests
//! (that is `nexo_proto`) or decide where they go (that is `nexo_server::route`).

use std::io::{self, Read};

use bytes::BytesMut;
use mio::net::TcpStream;
use nexo_engine::ConnId;
use nexo_session::resp::RespConn;

use crate::write_queue::WriteQueue;

/// Bytes read from one socket per wake-up before other connections get a turn.
pub const READ_BUDGET_BYTES: usize = 256 * 1024;
/// Requests handed to brokers and not yet answered, above which reading pauses.
pub const IN_FLIGHT_MAX: usize = 16 * 1024;
/// Size of the network thread's one read buffer (each `read` call takes at most this much).
pub const READ_CHUNK: usize = 64 * 1024;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Serving requests.
    Open,
    /// Over the connection limit: waiting (until `deadline_ms`) for a first header to refuse.
    Refusing {
        /// Monotonic deadline after which it is closed silently.
        deadline_ms: u64,
    },
    /// Writing what is queued, then closing (at the latest at `deadline_ms`).
    Closing {
        /// Monotonic deadline.
        deadline_ms: u64,
    },
}

/// Outcome of a read turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The socket has no more data now.
    Drained,
    /// The budget ran out; more data may be waiting (read again without a new event).
    MoreLikely,
    /// The peer closed its side.
    Eof,
}

/// A client connection.
#[derive(Debug)]
pub struct Conn {
    /// Never-reused id.
    pub id: ConnId,
    /// The socket.
    pub stream: TcpStream,
    /// Unparsed input.
    pub read_buf: BytesMut,
    /// Unsent output.
    pub out: WriteQueue,
    /// Life-cycle state.
    pub phase: Phase,
    /// Requests handed to brokers and not yet answered.
    pub in_flight: usize,
    /// The protocol byte has been checked.
    pub detected: bool,
    /// We stopped reading before the socket said `WouldBlock`.
    pub unread: bool,
    /// Accepted over the connection limit (counted apart from open connections).
    pub refused: bool,
    /// The RESP session, when the first byte chose RESP.
    pub resp: Option<Box<RespConn>>,
}

impl Conn {
    /// A new connection in `phase`.
    pub fn new(id: ConnId, stream: TcpStream, phase: Phase) -> Self {
        Self {
            id,
            stream,
            read_buf: BytesMut::new(),
            out: WriteQueue::default(),
            phase,
            in_flight: 0,
            detected: false,
            unread: false,
            refused: false,
            resp: None,
        }
    }

    /// Whether the loop may read more requests from this connection now.
    pub fn may_read(&self, write_limit: usize) -> bool {
        match self.phase {
            Phase::Open => {
                // Replies a RESP connection holds for ordering count toward its write limit.
                let held = self.resp.as_ref().map_or(0, |r| r.outbound.held_bytes());
                self.out.queued_bytes() + held < write_limit && self.in_flight < IN_FLIGHT_MAX
            }
            Phase::Refusing { .. } => true,
            Phase::Closing { .. } => false,
        }
    }

    /// Reads up to the budget into the read buffer, never holding more than `buffer_max` bytes.
    ///
    /// Reads land in the network thread's shared `scratch` buffer and only the bytes received
    /// are copied into the connection's buffer, so no per-connection space is zero-filled or
    /// kept for reads that have not happened (an idle connection holds no read buffer).
    ///
    /// # Errors
    /// A socket error (the connection is then dead).
    pub fn read_some(&mut self, buffer_max: usize, scratch: &mut [u8]) -> io::Result<ReadOutcome> {
        let mut total = 0;
        while total < READ_BUDGET_BYTES {
            if self.read_buf.len() >= buffer_max {
                return Ok(ReadOutcome::MoreLikely);
            }
            let room = scratch.len().min(buffer_max - self.read_buf.len()).max(1);
            match self.stream.read(&mut scratch[..room]) {
                Ok(0) => return Ok(ReadOutcome::Eof),
                Ok(n) => {
                    self.read_buf.extend_from_slice(&scratch[..n]);
                    total += n;
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return Ok(ReadOutcome::Drained),
                    io::ErrorKind::Interrupted => {}
                    _ => return Err(e),
                },
            }
        }
        Ok(ReadOutcome::MoreLikely)
    }
}
