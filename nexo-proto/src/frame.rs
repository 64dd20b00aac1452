//! The v1 frame: a 10-byte header (`type`, `meta`, `id`, `payload_len`) and its payload.
//!
//! This module splits frames out of a byte buffer incrementally and writes headers. It does not
//! interpret payloads (see [`crate::request`], [`crate::reply`], [`crate::push`]).

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Length of every frame header in bytes.
pub const HEADER_LEN: usize = 10;

/// The first header byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// `0x01`, client to server; meta is the opcode.
    Request,
    /// `0x02`, server to client; meta is the status.
    Response,
    /// `0x03`, server to client; meta is `0x00`, id is `0`.
    Push,
}

impl FrameType {
    /// The wire byte of this frame type.
    pub fn byte(self) -> u8 {
        match self {
            Self::Request => 0x01,
            Self::Response => 0x02,
            Self::Push => 0x03,
        }
    }

    /// Parses a wire byte; `None` for anything that is not a v1 frame type.
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Request),
            0x02 => Some(Self::Response),
            0x03 => Some(Self::Push),
            _ => None,
        }
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The raw frame-type byte (kept raw so unsupported types can be answered).
    pub frame_type: u8,
    /// Opcode (request), status (response) or `0` (push).
    pub meta: u8,
    /// Request id chosen by the client; echoed by the response; `0` in pushes.
    pub id: u32,
    /// Number of payload bytes after the header.
    pub payload_len: u32,
}

impl FrameHeader {
    /// Reads a header from the first [`HEADER_LEN`] bytes; `None` if fewer are available.
    pub fn peek(buf: &[u8]) -> Option<Self> {
        let mut head = buf.get(..HEADER_LEN)?;
        Some(Self {
            frame_type: head.get_u8(),
            meta: head.get_u8(),
            id: head.get_u32(),
            payload_len: head.get_u32(),
        })
    }

    /// Appends this header to `out`.
    pub fn write(&self, out: &mut BytesMut) {
        out.reserve(HEADER_LEN);
        out.put_u8(self.frame_type);
        out.put_u8(self.meta);
        out.put_u32(self.id);
        out.put_u32(self.payload_len);
    }
}

/// One whole frame: its header and its payload, sharing the connection's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The header.
    pub header: FrameHeader,
    /// Exactly `header.payload_len` bytes.
    pub payload: Bytes,
}

/// The declared payload length is above the caller's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The offending header (its id is echoed in the ERR reply).
    pub header: FrameHeader,
}

/// Takes one whole frame off the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed (nothing is consumed). The payload limit is
/// checked as soon as the header is complete, before any payload is buffered.
///
/// # Errors
/// [`TooLarge`] when the header declares more than `max_payload` bytes; `buf` is left untouched.
pub fn split_frame(buf: &mut BytesMut, max_payload: u32) -> Result<Option<RawFrame>, TooLarge> {
    let Some(header) = FrameHeader::peek(buf) else {
        return Ok(None);
    };
    if header.payload_len > max_payload {
        return Err(TooLarge { header });
    }
    let total = HEADER_LEN + header.payload_len as usize;
    if buf.len() < total {
        // Reserve only what this (already size-checked) frame still needs.
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(total);
    frame.advance(HEADER_LEN);
    Ok(Some(RawFrame { header, payload: frame.freeze() }))
}

/// Writes a header for a frame whose payload is produced by `body`, fixing up the length after.
///
/// Used by every encoder so no payload is built in a temporary `Vec`.
pub fn write_frame(
    out: &mut BytesMut,
    frame_type: FrameType,
    meta: u8,
    id: u32,
    body: impl FnOnce(&mut BytesMut),
) {
    let start = out.len();
    FrameHeader { frame_type: frame_type.byte(), meta, id, payload_len: 0 }.write(out);
    body(out);
    let payload_len = (out.len() - start - HEADER_LEN) as u32;
    out[start + 6..start + HEADER_LEN].copy_from_slice(&payload_len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_header_and_payload_need_more() {
        let mut buf = BytesMut::from(&[1u8, 0, 0, 0, 0, 7][..]);
        assert_eq!(split_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(&[0, 0, 0, 3, b'a']);
        assert_eq!(split_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(b"bcX");
        let frame = split_frame(&mut buf, 100).unwrap().unwrap();
        assert_eq!(frame.header.id, 7);
        assert_eq!(&frame.payload[..], b"abc");
        assert_eq!(&buf[..], b"X");
    }

    #[test]
    fn oversized_is_rejected_from_the_header_alone() {
        let mut buf = BytesMut::from(&[1u8, 0, 0, 0, 0, 9, 0xFF, 0xFF, 0xFF, 0xFF][..]);
        let err = split_frame(&mut buf, 1024).unwrap_err();
        assert_eq!(err.header.id, 9);
        assert_eq!(err.header.payload_len, u32::MAX);
        assert!(buf.capacity() < 1024, "nothing was reserved for the payload");
    }

    #[test]
    fn write_frame_fixes_the_length() {
        let mut out = BytesMut::new();
        write_frame(&mut out, FrameType::Response, 3, 5, |b| b.extend_from_slice(b"xyz"));
        assert_eq!(&out[..], &[2, 3, 0, 0, 0, 5, 0, 0, 0, 3, b'x', b'y', b'z']);
    }
}
