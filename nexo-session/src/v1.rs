//! Nexo v1 on the read side: one frame from the buffer, routed to a broker or answered here.
//!
//! Decoding itself is `nexo_proto::decode_request_frame`; this module only says where a decoded
//! frame goes (see [`crate::route`]), so the session handles v1 and RESP alike.

use bytes::BytesMut;
use nexo_proto::{Oversized, Reply, decode_request_frame};

use crate::{Item, Routed, route};

/// One decoded v1 frame.
#[derive(Debug)]
pub enum Decoded {
    /// The session answers it itself (ECHO, a frame that did not decode).
    Answer {
        /// Request id.
        id: u32,
        /// The reply.
        reply: Reply,
    },
    /// For a broker.
    Item(Item),
}

/// Decodes the next frame of `buf`; `Ok(None)` when it is not complete yet.
///
/// # Errors
/// [`Oversized`]: the header declares more than `max_frame` bytes (answer it, then close).
pub fn decode(buf: &mut BytesMut, max_frame: u32) -> Result<Option<Decoded>, Oversized> {
    let Some(inbound) = decode_request_frame(buf, max_frame)? else { return Ok(None) };
    Ok(Some(match route(inbound) {
        Routed::Answer { id, reply } => Decoded::Answer { id, reply },
        Routed::Store { id, request } => Decoded::Item(Item::Store { id, request }),
        Routed::PubSub { id, request } => Decoded::Item(Item::PubSub { id, request }),
        Routed::Queue { id, request } => Decoded::Item(Item::Queue { id, request }),
        Routed::Stream { id, request } => Decoded::Item(Item::Stream { id, request }),
    }))
}
