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

/// A frame whose payload would not fit the header's `u32` length field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge {
    /// The payload length that did not fit.
    pub payload_len: usize,
}

impl std::fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a frame payload of {} bytes does not fit a v1 frame", self.payload_len)
    }
}

impl std::error::Error for FrameTooLarge {}

/// Writes a header for a frame whose payload is produced by `body`, fixing up the length after.
///
/// Used by every encoder so no payload is built in a temporary `Vec`. The length is checked,
/// never cast: a payload longer than `u32::MAX` is taken back out of `out` (which is left as it
/// was) and reported, so a wrapped length can never reach a client.
///
/// # Errors
/// [`FrameTooLarge`] when the payload does not fit the `u32` length field.
pub fn write_frame(
    out: &mut BytesMut,
    frame_type: FrameType,
    meta: u8,
    id: u32,
    body: impl FnOnce(&mut BytesMut),
) -> Result<(), FrameTooLarge> {
    write_frame_within(
        out,
        FrameHeader { frame_type: frame_type.byte(), meta, id, payload_len: 0 },
        u32::MAX,
        body,
    )
}

/// [`write_frame`] with the largest payload as a parameter (so tests need not build 4 GiB).
fn write_frame_within(
    out: &mut BytesMut,
    header: FrameHeader,
    max_payload: u32,
    body: impl FnOnce(&mut BytesMut),
) -> Result<(), FrameTooLarge> {
    let start = out.len();
    header.write(out);
    body(out);
    let payload_len = out.len() - start - HEADER_LEN;
    let wire_len = u32::try_from(payload_len).ok().filter(|len| *len <= max_payload);
    let Some(wire_len) = wire_len else {
        out.truncate(start);
        return Err(FrameTooLarge { payload_len });
    };
    out[start + 6..start + HEADER_LEN].copy_from_slice(&wire_len.to_be_bytes());
    Ok(())
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
        write_frame(&mut out, FrameType::Response, 3, 5, |b| b.extend_from_slice(b"xyz")).unwrap();
        assert_eq!(&out[..], &[2, 3, 0, 0, 0, 5, 0, 0, 0, 3, b'x', b'y', b'z']);
    }

    #[test]
    fn a_payload_past_the_length_field_is_taken_back_and_reported() {
        let mut out = BytesMut::from(&b"kept"[..]);
        let header = FrameHeader { frame_type: 2, meta: 0, id: 1, payload_len: 0 };
        let err = write_frame_within(&mut out, header, 4, |b| b.extend_from_slice(b"12345"));
        assert_eq!(err, Err(FrameTooLarge { payload_len: 5 }));
        assert_eq!(&out[..], b"kept", "nothing of the frame is left behind");
        write_frame_within(&mut out, header, 4, |b| b.extend_from_slice(b"1234")).unwrap();
        assert_eq!(out.len(), 4 + HEADER_LEN + 4);
    }
}
