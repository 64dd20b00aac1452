//! The chunked transfer coding of a request body, de-framed incrementally.
//!
//! Each call consumes what it can from the read buffer, so a body arriving one byte at a time
//! costs linear work. Chunk extensions are ignored; trailer fields are read and dropped (bounded
//! by the head limit).

use bytes::{Buf, BytesMut};

use super::head::trimmed;
use super::{HttpError, HttpLimits};

/// Longest chunk-size line, extensions included.
const MAX_SIZE_LINE_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a `<hex size>[;ext]\r\n` line.
    Size,
    /// Reading this many more data bytes of the current chunk.
    Data(usize),
    /// Expecting the CRLF that ends a chunk's data.
    DataEnd,
    /// Reading trailer lines until an empty one.
    Trailer,
}

/// A chunked body in progress.
#[derive(Debug)]
pub(super) struct ChunkedBody {
    state: State,
    body: BytesMut,
    trailer_bytes: usize,
}

impl ChunkedBody {
    pub(super) fn new() -> Self {
        Self { state: State::Size, body: BytesMut::new(), trailer_bytes: 0 }
    }

    /// Consumes framing and data from `buf`; `Ok(Some(body))` once the last chunk and the
    /// trailer are in.
    ///
    /// # Errors
    /// 400 for bad framing, 413 past the body limit, 431 for an oversized trailer.
    pub(super) fn advance(
        &mut self,
        buf: &mut BytesMut,
        limits: &HttpLimits,
    ) -> Result<Option<BytesMut>, HttpError> {
        loop {
            match self.state {
                State::Size => {
                    let Some(line) = take_line(buf, MAX_SIZE_LINE_BYTES)? else { return Ok(None) };
                    let size = parse_size(&line)?;
                    if size > limits.max_body_bytes.saturating_sub(self.body.len()) {
                        return Err(HttpError::PayloadTooLarge);
                    }
                    self.state = if size == 0 { State::Trailer } else { State::Data(size) };
                }
                State::Data(left) => {
                    let n = left.min(buf.len());
                    if n == 0 {
                        return Ok(None);
                    }
                    self.body.extend_from_slice(&buf[..n]);
                    buf.advance(n);
                    self.state = if n == left { State::DataEnd } else { State::Data(left - n) };
                }
                State::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(HttpError::BadRequest("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Trailer => {
                    let room = limits.max_head_bytes.saturating_sub(self.trailer_bytes);
                    let Some(line) = take_line(buf, room).map_err(|_| HttpError::HeadersTooLarge)? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        return Ok(Some(std::mem::take(&mut self.body)));
                    }
                    self.trailer_bytes += line.len() + 2;
                }
            }
        }
    }
}

/// Takes one CRLF-terminated line (without the CRLF) if it is complete within `max` bytes.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, HttpError> {
    let window = &buf[..buf.len().min(max.saturating_add(2))];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let line = buf.split_to(end);
            buf.advance(2);
            Ok(Some(line))
        }
        None if buf.len() >= max.saturating_add(2) => Err(HttpError::BadRequest("chunk line too long")),
        None => Ok(None),
    }
}

fn parse_size(line: &[u8]) -> Result<usize, HttpError> {
    let digits = trimmed(line.split(|b| *b == b';').next().unwrap_or_default());
    if digits.is_empty() || digits.len() > 15 {
        return Err(HttpError::BadRequest("invalid chunk size"));
    }
    digits.iter().try_fold(0usize, |n, d| {
        let v = char::from(*d).to_digit(16).ok_or(HttpError::BadRequest("invalid chunk size"))?;
        Ok(n * 16 + v as usize)
    })
}
