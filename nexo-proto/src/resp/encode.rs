//! RESP2 and RESP3 reply encoders, writing into a caller's buffer.
//!
//! Owns the bytes of every reply type Nexo sends: simple strings, errors, integers, bulk strings,
//! nulls, arrays, and for RESP3 maps, sets, doubles and push frames (in RESP2 a map is a flat array,
//! a set or a push a plain array, a double a bulk string). It knows nothing about commands.

use bytes::{BufMut, BytesMut};

/// The RESP version a connection speaks (2 until `HELLO 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// RESP2.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

impl Version {
    /// 2 or 3.
    pub fn number(self) -> i64 {
        match self {
            Self::Resp2 => 2,
            Self::Resp3 => 3,
        }
    }
}

fn line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut digits = itoa_buf(n);
    line(out, prefix, digits.as_bytes_mut());
}

/// A tiny stack buffer for decimal numbers.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(n: i64) -> Digits {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let negative = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    Digits { buf, start: i }
}

/// `+text` (must not contain CR or LF; they are replaced by spaces).
pub fn simple(out: &mut BytesMut, text: &str) {
    line(out, b'+', &sanitize(text));
}

/// `-text`: the whole error line, code included (`ERR …`, `OOM …`); CR/LF become spaces.
pub fn error(out: &mut BytesMut, text: &str) {
    line(out, b'-', &sanitize(text));
}

fn sanitize(text: &str) -> Vec<u8> {
    text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect()
}

/// `:n`.
pub fn integer(out: &mut BytesMut, n: i64) {
    header(out, b':', n);
}

/// `$len\r\nbytes\r\n`.
pub fn bulk(out: &mut BytesMut, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    header(out, b'$', bytes.len() as i64);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// A missing value: `$-1` (RESP2) or `_` (RESP3).
pub fn null(out: &mut BytesMut, version: Version) {
    match version {
        Version::Resp2 => out.extend_from_slice(b"$-1\r\n"),
        Version::Resp3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// A missing array: `*-1` (RESP2) or `_` (RESP3).
pub fn null_array(out: &mut BytesMut, version: Version) {
    match version {
        Version::Resp2 => out.extend_from_slice(b"*-1\r\n"),
        Version::Resp3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// The header of an array of `n` elements.
pub fn array(out: &mut BytesMut, n: usize) {
    header(out, b'*', n as i64);
}

/// The header of a map of `n` pairs: `%n` (RESP3) or an array of `2n` elements (RESP2).
pub fn map(out: &mut BytesMut, n: usize, version: Version) {
    match version {
        Version::Resp2 => header(out, b'*', 2 * n as i64),
        Version::Resp3 => header(out, b'%', n as i64),
    }
}

/// The header of a set of `n` elements: `~n` (RESP3) or an array (RESP2).
pub fn set(out: &mut BytesMut, n: usize, version: Version) {
    match version {
        Version::Resp2 => header(out, b'*', n as i64),
        Version::Resp3 => header(out, b'~', n as i64),
    }
}

/// A floating-point number: `,text` (RESP3) or a bulk string of the same text (RESP2), as
/// Redis sends them. `text` is the number already formatted (Redis's `%.17g` style or shorter).
pub fn double(out: &mut BytesMut, text: &str, version: Version) {
    match version {
        Version::Resp2 => bulk(out, text.as_bytes()),
        Version::Resp3 => line(out, b',', text.as_bytes()),
    }
}

/// The header of an out-of-band push of `n` elements: `>n` (RESP3) or `*n` (RESP2).
pub fn push(out: &mut BytesMut, n: usize, version: Version) {
    match version {
        Version::Resp2 => header(out, b'*', n as i64),
        Version::Resp3 => header(out, b'>', n as i64),
    }
}

/// A verbatim text (`=len\r\ntxt:…`, RESP3) or a bulk string (RESP2), as Redis sends INFO.
pub fn verbatim(out: &mut BytesMut, text: &[u8], version: Version) {
    match version {
        Version::Resp2 => bulk(out, text),
        Version::Resp3 => {
            header(out, b'=', text.len() as i64 + 4);
            out.extend_from_slice(b"txt:");
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut out = BytesMut::new();
        f(&mut out);
        out.to_vec()
    }

    #[test]
    fn every_type() {
        assert_eq!(enc(|o| simple(o, "OK")), b"+OK\r\n");
        assert_eq!(enc(|o| error(o, "ERR a\r\nb")), b"-ERR a  b\r\n");
        assert_eq!(enc(|o| integer(o, -42)), b":-42\r\n");
        assert_eq!(enc(|o| integer(o, i64::MIN)), b":-9223372036854775808\r\n");
        assert_eq!(enc(|o| bulk(o, b"hi")), b"$2\r\nhi\r\n");
        assert_eq!(enc(|o| bulk(o, b"")), b"$0\r\n\r\n");
        assert_eq!(enc(|o| null(o, Version::Resp2)), b"$-1\r\n");
        assert_eq!(enc(|o| null(o, Version::Resp3)), b"_\r\n");
        assert_eq!(enc(|o| null_array(o, Version::Resp2)), b"*-1\r\n");
        assert_eq!(enc(|o| array(o, 3)), b"*3\r\n");
        assert_eq!(enc(|o| map(o, 2, Version::Resp2)), b"*4\r\n");
        assert_eq!(enc(|o| map(o, 2, Version::Resp3)), b"%2\r\n");
        assert_eq!(enc(|o| push(o, 3, Version::Resp3)), b">3\r\n");
        assert_eq!(enc(|o| verbatim(o, b"a", Version::Resp3)), b"=5\r\ntxt:a\r\n");
        assert_eq!(enc(|o| set(o, 2, Version::Resp2)), b"*2\r\n");
        assert_eq!(enc(|o| set(o, 2, Version::Resp3)), b"~2\r\n");
        assert_eq!(enc(|o| double(o, "1.5", Version::Resp2)), b"$3\r\n1.5\r\n");
        assert_eq!(enc(|o| double(o, "1.5", Version::Resp3)), b",1.5\r\n");
    }
}
