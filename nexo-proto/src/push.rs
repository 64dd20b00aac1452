//! Push frames (type `0x03`): a message delivered to a subscriber.
//!
//! A push is encoded once into [`Bytes`] and that buffer is shared by every receiver.

use bytes::{Bytes, BytesMut};

use crate::error::DecodeError;
use crate::frame::{FrameType, write_frame};
use crate::primitives::{Fields, put_blob};

/// Meta byte of a push that names the glob pattern it matched (extension; plain pushes have 0).
pub const META_PATTERN: u8 = 0x01;

/// A whole push frame taken apart without copying (server side: a RESP connection re-encodes
/// the shared v1 frame in its own protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushParts<'a> {
    /// The glob pattern that matched (pattern pushes only).
    pub pattern: Option<&'a [u8]>,
    /// The concrete topic.
    pub topic: &'a [u8],
    /// The message bytes.
    pub payload: &'a [u8],
}

impl<'a> PushParts<'a> {
    /// Splits a whole push frame (header included) as encoded by [`Push::encode_frame`] or
    /// [`Push::encode_pattern_frame`]; `None` for anything else.
    pub fn split(frame: &'a [u8]) -> Option<Self> {
        let header = crate::FrameHeader::peek(frame)?;
        let payload = frame.get(crate::HEADER_LEN..)?;
        fn blob(input: &[u8]) -> Option<(&[u8], &[u8])> {
            let len = u32::from_be_bytes(input.get(..4)?.try_into().ok()?) as usize;
            let rest = input.get(4..)?;
            Some((rest.get(..len)?, rest.get(len..)?))
        }
        match header.meta {
            0 => {
                let (topic, payload) = blob(payload)?;
                Some(Self { pattern: None, topic, payload })
            }
            META_PATTERN => {
                let (pattern, rest) = blob(payload)?;
                let (topic, payload) = blob(rest)?;
                Some(Self { pattern: Some(pattern), topic, payload })
            }
            _ => None,
        }
    }
}

/// A message pushed to a subscriber: the concrete topic and the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The topic the message was published to (never a pattern).
    pub topic: String,
    /// The payload bytes, verbatim.
    pub payload: Bytes,
}

// A push carries the fields of the PUBLISH frame it came from (plus, for a pattern push, the
// pattern, which is capped far below 4 GiB), and frames are at most `u32::MAX` bytes, so a push
// always fits its frame; `write_frame` would still refuse one that did not, leaving it empty.

impl Push {
    /// Encodes the whole push frame (header included) once, for sharing among receivers.
    pub fn encode_frame(topic: &str, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(crate::HEADER_LEN + 4 + topic.len() + payload.len());
        let _fits = write_frame(&mut out, FrameType::Push, 0, 0, |b| {
            put_blob(b, topic.as_bytes());
            b.extend_from_slice(payload);
        });
        out.freeze()
    }

    /// Appends this push as a whole frame to `out` (same bytes as [`Push::encode_frame`]).
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(crate::HEADER_LEN + 4 + self.topic.len() + self.payload.len());
        let _fits = write_frame(out, FrameType::Push, 0, 0, |b| {
            put_blob(b, self.topic.as_bytes());
            b.extend_from_slice(&self.payload);
        });
    }

    /// Encodes a pattern push (meta [`META_PATTERN`], extension): payload `str pattern`,
    /// `str topic`, message bytes. Sent only for glob subscriptions (`SUBSCRIBE_GLOB`), which v1
    /// clients never make.
    pub fn encode_pattern_frame(pattern: &str, topic: &str, payload: &[u8]) -> Bytes {
        let len = crate::HEADER_LEN + 8 + pattern.len() + topic.len() + payload.len();
        let mut out = BytesMut::with_capacity(len);
        let _fits = write_frame(&mut out, FrameType::Push, META_PATTERN, 0, |b| {
            put_blob(b, pattern.as_bytes());
            put_blob(b, topic.as_bytes());
            b.extend_from_slice(payload);
        });
        out.freeze()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_back() {
        let plain = Push::encode_frame("a/b", b"hi");
        assert_eq!(
            PushParts::split(&plain),
            Some(PushParts { pattern: None, topic: b"a/b", payload: b"hi" })
        );
        let pattern = Push::encode_pattern_frame("a/*", "a/b", b"x");
        assert_eq!(pattern[1], META_PATTERN);
        assert_eq!(
            PushParts::split(&pattern),
            Some(PushParts { pattern: Some(b"a/*"), topic: b"a/b", payload: b"x" })
        );
        assert_eq!(PushParts::split(&plain[..12]), None);
    }
}
