//! One client connection as the network thread sees it: the socket, its read buffer and the
//! sans-IO [`Session`] that owns everything else (protocol, output, limits, deadlines).
//!
//! It owns reading bytes into the buffer; it does not decode or decide anything (that is
//! `nexo_session`).

use std::io::{self, Read};

use bytes::BytesMut;
use mio::net::TcpStream;
use nexo_session::{Admission, Session};

/// Bytes read from one socket per wake-up before other connections get a turn.
pub const READ_BUDGET_BYTES: usize = 256 * 1024;
/// Size of the network thread's one read buffer (each `read` call takes at most this much).
pub const READ_CHUNK: usize = 64 * 1024;

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
    /// The socket.
    pub stream: TcpStream,
    /// Unparsed input.
    pub read_buf: BytesMut,
    /// Everything about the connection but the socket.
    pub session: Session,
    /// We stopped reading before the socket said `WouldBlock`.
    pub unread: bool,
    /// Its slot among the open connections or the refusals (freed when the `Conn` is dropped).
    #[allow(dead_code, reason = "held for its Drop, which frees the slot")]
    pub admission: Admission,
}

impl Conn {
    /// Reads up to the budget into the read buffer, never holding more than the session's
    /// buffer bound.
    ///
    /// Reads land in the network thread's shared `scratch` buffer and only the bytes received
    /// are copied into the connection's buffer, so no per-connection space is zero-filled or
    /// kept for reads that have not happened (an idle connection holds no read buffer).
    ///
    /// # Errors
    /// A socket error (the connection is then dead).
    pub fn read_some(&mut self, scratch: &mut [u8]) -> io::Result<ReadOutcome> {
        let buffer_max = self.session.read_buffer_max();
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
