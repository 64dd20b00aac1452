//! Push frames (type `0x03`): a message delivered to a subscriber.
//!
//! A push is encoded once into [`Bytes`] and that buffer is shared by every receiver.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::frame::{FrameType, write_frame};
use crate::primitives::{Fields, put_blob};

/// A message pushed to a subscriber: the concrete topic and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The topic the message was published to (never a pattern).
    pub topic: String,
    /// The payload bytes, verbatim.
    pub payload: Bytes,
}

impl Push {
    /// Encodes the whole push frame (header included) once, for sharing among receivers.
    pub fn encode_frame(topic: &str, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(crate::HEADER_LEN + 4 + topic.len() + payload.len());
        write_frame(&mut out, FrameType::Push, 0, 0, |b| {
            put_blob(b, topic.as_bytes());
            b.extend_from_slice(payload);
        });
        out.freeze()
    }

    /// Appends this push as a whole frame to `out` (same bytes as [`Push::encode_frame`]).
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(crate::HEADER_LEN + 4 + self.topic.len() + self.payload.len());
        write_frame(out, FrameType::Push, 0, 0, |b| {
            put_blob(b, self.topic.as_bytes());
            b.extend_from_slice(&self.payload);
        });
    }

    /// Decodes the payload of a push frame (client side).
    ///
    /// # Errors
    /// A short or non-UTF-8 topic.
    pub fn decode(payload: &Bytes) -> Result<Self, DecodeError> {
        let mut f = Fields::new(payload);
        let topic = f.string()?;
        Ok(Self { topic, payload: f.rest() })
    }
}
