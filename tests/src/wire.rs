//! Raw v1 frames built and read by hand, for the cases that must control every byte (bad input,
//! exact status bytes, the order of a reply and the pushes after it).
//!
//! This module deliberately does not use `nexo_proto`'s encoders, so a bug shared by the server
//! and the protocol crate cannot hide itself here.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Frame type byte of a request.
pub const REQUEST: u8 = 0x01;
/// Frame type byte of a response.
pub const RESPONSE: u8 = 0x02;
/// Frame type byte of a push.
pub const PUSH: u8 = 0x03;

/// Response status `OK`.
pub const OK: u8 = 0x00;
/// Response status `ERR`.
pub const ERR: u8 = 0x01;
/// Response status `NULL`.
pub const NULL: u8 = 0x02;
/// Response status `DATA`.
pub const DATA: u8 = 0x03;

/// Builds a whole frame: the 10-byte header (`frame_type`, `opcode`, `id`, payload length) and
/// `payload`.
pub fn frame(frame_type: u8, opcode: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + payload.len());
    out.push(frame_type);
    out.push(opcode);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A request frame (`0x01`).
pub fn request(opcode: u8, id: u32, payload: &[u8]) -> Vec<u8> {
    frame(REQUEST, opcode, id, payload)
}

/// A payload builder for the v1 primitives.
#[derive(Debug, Default, Clone)]
pub struct Payload(Vec<u8>);

impl Payload {
    /// An empty payload.
    pub fn new() -> Self {
        Self::default()
    }

    /// A `str`: u32 length and the bytes (not checked for UTF-8, so tests can send bad ones).
    pub fn str(mut self, bytes: impl AsRef<[u8]>) -> Self {
        let bytes = bytes.as_ref();
        self.0.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    /// A `json` field: the same as a `str`.
    pub fn json(self, text: &str) -> Self {
        self.str(text)
    }

    /// A big-endian u32.
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A big-endian u64.
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// A big-endian i64.
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Raw bytes (a `rest` field, or anything hand-made).
    pub fn raw(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.0.extend_from_slice(bytes.as_ref());
        self
    }

    /// The bytes built so far.
    pub fn build(self) -> Vec<u8> {
        self.0
    }
}

/// One frame read from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// `0x02` response or `0x03` push.
    pub frame_type: u8,
    /// Status of a response; `0` in a push.
    pub status: u8,
    /// Request id; `0` in a push.
    pub id: u32,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The text of an ERR response (`str` payload). Panics if this is not an ERR response.
    pub fn err_text(&self) -> String {
        assert_eq!((self.frame_type, self.status), (RESPONSE, ERR), "expected an ERR response, got {self:?}");
        decode_str(&self.payload).unwrap_or_else(|| panic!("ERR payload is not a valid str: {self:?}"))
    }

    /// Decodes a push into (topic, payload). Panics if this is not a push.
    pub fn push(&self) -> (String, Vec<u8>) {
        assert_eq!((self.frame_type, self.status, self.id), (PUSH, 0, 0), "expected a push, got {self:?}");
        let len = u32::from_be_bytes(self.payload[..4].try_into().unwrap()) as usize;
        let topic = String::from_utf8(self.payload[4..4 + len].to_vec()).expect("push topic is UTF-8");
        (topic, self.payload[4 + len..].to_vec())
    }
}

/// Decodes a whole `str` field (u32 length + UTF-8) that fills `bytes` exactly.
pub fn decode_str(bytes: &[u8]) -> Option<String> {
    let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    if bytes.len() != 4 + len {
        return None;
    }
    String::from_utf8(bytes[4..].to_vec()).ok()
}

/// Writes all of `bytes`.
pub fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("write to the server");
    stream.flush().expect("flush to the server");
}

/// Reads one frame, waiting up to `timeout` for it to complete.
///
/// # Errors
/// The read error (a timeout is `TimedOut`/`WouldBlock`; a close is `UnexpectedEof`).
pub fn try_read_frame(stream: &mut TcpStream, timeout: Duration) -> io::Result<Frame> {
    let deadline = Instant::now() + timeout;
    let mut header = [0u8; 10];
    read_exact_by(stream, &mut header, deadline)?;
    let len = u32::from_be_bytes(header[6..10].try_into().unwrap()) as usize;
    assert!(len <= 64 << 20, "server sent a frame declaring {len} bytes: header {header:02X?}");
    let mut payload = vec![0u8; len];
    read_exact_by(stream, &mut payload, deadline)?;
    Ok(Frame {
        frame_type: header[0],
        status: header[1],
        id: u32::from_be_bytes(header[2..6].try_into().unwrap()),
        payload,
    })
}

fn read_exact_by(stream: &mut TcpStream, mut buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    while !buf.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(ErrorKind::TimedOut, "frame did not arrive in time"));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(buf) {
            Ok(0) => return Err(io::Error::new(ErrorKind::UnexpectedEof, "connection closed")),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads one frame within 15 s; panics on a timeout or a close.
pub fn read_frame(stream: &mut TcpStream) -> Frame {
    try_read_frame(stream, Duration::from_secs(15)).unwrap_or_else(|e| panic!("reading a frame failed: {e}"))
}

/// Reads one response and checks it is for request `id`.
pub fn read_response(stream: &mut TcpStream, id: u32) -> Frame {
    let f = read_frame(stream);
    assert_eq!(f.frame_type, RESPONSE, "expected a response (type 0x02) for id {id}, got {f:?}");
    assert_eq!(f.id, id, "response carries the wrong request id: {f:?}");
    f
}

/// Sends `bytes`, then expects an ERR response for `id` whose text is exactly `text`.
pub fn expect_err(stream: &mut TcpStream, bytes: &[u8], id: u32, text: &str) {
    send(stream, bytes);
    let f = read_response(stream, id);
    assert_eq!(f.status, ERR, "expected ERR {text:?} for id {id}, got {f:?}");
    assert_eq!(f.err_text(), text, "wrong ERR text for id {id}");
}

/// Sends `bytes`, then expects an ERR response for `id` whose text starts with `prefix`; returns it.
pub fn expect_err_prefix(stream: &mut TcpStream, bytes: &[u8], id: u32, prefix: &str) -> String {
    send(stream, bytes);
    let text = read_response(stream, id).err_text();
    assert!(text.starts_with(prefix), "ERR text for id {id} should start with {prefix:?}, got {text:?}");
    text
}

/// Sends an ECHO with `id` and checks the DATA reply carries the same bytes: proves the
/// connection still works and is still in sync.
pub fn expect_echo(stream: &mut TcpStream, id: u32) {
    let body = format!("still alive {id}");
    send(stream, &request(0x00, id, body.as_bytes()));
    let f = read_response(stream, id);
    assert_eq!((f.status, f.payload.as_slice()), (DATA, body.as_bytes()), "ECHO {id} failed: {f:?}");
}

/// Reads until the server closes the connection (EOF or reset), within `timeout`; returns every
/// byte received before the close. Panics if the connection stays open.
pub fn read_until_closed(stream: &mut TcpStream, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "the server did not close the connection within {timeout:?} ({} bytes received)",
            got.len()
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                return got;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("unexpected read error while waiting for a close: {e}"),
        }
    }
}

/// Splits `bytes` into whole frames; a trailing partial frame is returned separately.
pub fn split_frames(bytes: &[u8]) -> (Vec<Frame>, &[u8]) {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 10 {
        let len = u32::from_be_bytes(rest[6..10].try_into().unwrap()) as usize;
        if rest.len() < 10 + len {
            break;
        }
        frames.push(Frame {
            frame_type: rest[0],
            status: rest[1],
            id: u32::from_be_bytes(rest[2..6].try_into().unwrap()),
            payload: rest[10..10 + len].to_vec(),
        });
        rest = &rest[10 + len..];
    }
    (frames, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let a = frame(RESPONSE, ERR, 7, &Payload::new().str("boom").build());
        let b = frame(PUSH, 0, 0, &Payload::new().str("t/1").raw(b"xy").build());
        let mut both = a.clone();
        both.extend_from_slice(&b);
        both.extend_from_slice(&[1, 2, 3]);
        let (frames, rest) = split_frames(&both);
        assert_eq!(rest, &[1, 2, 3]);
        assert_eq!(frames[0].err_text(), "boom");
        assert_eq!(frames[0].id, 7);
        assert_eq!(frames[1].push(), ("t/1".to_owned(), b"xy".to_vec()));
    }

    #[test]
    fn header_layout_is_big_endian() {
        assert_eq!(frame(REQUEST, 0x03, 0x0102_0304, b"ab"), [1, 3, 1, 2, 3, 4, 0, 0, 0, 2, b'a', b'b']);
    }
}
