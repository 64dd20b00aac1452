//! Nexo v1 on the read side: one frame from the buffer, routed to a broker or answered here.
//!
//! Decoding itself is `nexo_proto::decode_request_frame`; where a decoded frame goes is
//! [`crate::route`], so the session handles v1 and RESP alike.

use bytes::BytesMut;
use nexo_proto::{Oversized, decode_request_frame};

use crate::{Routed, route};

/// Decodes the next frame of `buf`; `Ok(None)` when it is not complete yet.
///
/// # Errors
/// [`Oversized`]: the header declares more than `max_frame` bytes (answer it, then close).
pub fn decode(buf: &mut BytesMut, max_frame: u32) -> Result<Option<Routed>, Oversized> {
    Ok(decode_request_frame(buf, max_frame)?.map(route))
}
