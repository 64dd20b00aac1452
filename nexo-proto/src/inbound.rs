//! Server-side decoding: turns a connection's read buffer into requests or error replies.
//!
//! The one place that applies the v1 rules for what a bad frame means: wrong frame type and bad
//! fields are answered and the connection stays open; an oversized frame is answered and then the
//! connection closes. Incomplete input is never an error.

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::frame::{FrameType, split_frame};
use crate::request::Request;

/// What one complete inbound frame turned into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A well-formed request.
    Request {
        /// The client's request id.
        id: u32,
        /// The decoded command.
        request: Request,
    },
    /// A frame that gets an ERR reply; the connection stays open.
    Rejected {
        /// The client's request id.
        id: u32,
        /// Why (its `Display` is the ERR text).
        error: DecodeError,
    },
}

/// A frame declared a payload above the limit: answer ERR with `id` and close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized {
    /// The request id from the header.
    pub id: u32,
    /// The declared payload length.
    pub len: u32,
    /// The limit in force.
    pub max: u32,
}

impl std::fmt::Display for Oversized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Frame too large: {} bytes (max {})", self.len, self.max)
    }
}

/// Decodes the next request frame from `buf`; `Ok(None)` means "need more bytes".
///
/// # Errors
/// [`Oversized`] when the header declares more than `max_payload` bytes. Nothing is consumed, and
/// the caller must reply and close (the stream cannot be re-synchronised).
pub fn decode_request_frame(buf: &mut BytesMut, max_payload: u32) -> Result<Option<Inbound>, Oversized> {
    let frame = match split_frame(buf, max_payload) {
        Ok(Some(frame)) => frame,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(Oversized { id: e.header.id, len: e.header.payload_len, max: max_payload });
        }
    };
    let id = frame.header.id;
    if frame.header.frame_type != FrameType::Request.byte() {
        return Ok(Some(Inbound::Rejected { id, error: DecodeError::UnsupportedFrameType }));
    }
    Ok(Some(match Request::decode(frame.header.meta, &frame.payload) {
        Ok(request) => Inbound::Request { id, request },
        Err(error) => Inbound::Rejected { id, error },
    }))
}
