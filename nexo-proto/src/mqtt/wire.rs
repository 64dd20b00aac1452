//! MQTT's data representations: two- and four-byte integers, variable byte integers, UTF-8
//! strings, binary data; nom parsers over a packet body and writers into a [`Sink`].
//!
//! Bodies are complete when these parsers run (the fixed header said how long they are), so a
//! field that runs past the end is a malformed packet, never "incomplete".

use bytes::{Bytes, BytesMut};
use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u32};

use super::MqttError;

/// The largest value of a variable byte integer (four bytes).
pub const MAX_VARINT: u32 = 268_435_455;

/// The largest Remaining Length of a packet.
pub const MAX_REMAINING_LENGTH: u32 = MAX_VARINT;

impl<'a> nom::error::ParseError<&'a [u8]> for MqttError {
    fn from_error_kind(_input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        MqttError::Malformed("field runs past the end of the packet")
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result of one field parser.
pub(crate) type PResult<'a, T> = IResult<&'a [u8], T, MqttError>;

/// Fails a parser with `err`.
pub(crate) fn fail<T>(err: MqttError) -> PResult<'static, T> {
    Err(nom::Err::Failure(err))
}

/// Turns a parser's error into the codec's error.
pub(crate) fn finish<T>(res: Result<T, nom::Err<MqttError>>) -> Result<T, MqttError> {
    res.map_err(|e| match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => MqttError::Malformed("field runs past the end of the packet"),
    })
}

/// One byte.
pub(crate) fn u8_(input: &[u8]) -> PResult<'_, u8> {
    be_u8(input)
}

/// A big-endian two-byte integer.
pub(crate) fn u16_(input: &[u8]) -> PResult<'_, u16> {
    be_u16(input)
}

/// A big-endian four-byte integer.
pub(crate) fn u32_(input: &[u8]) -> PResult<'_, u32> {
    be_u32(input)
}

/// Outcome of reading a variable byte integer from a possibly short buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Varint {
    /// The value and the bytes it took.
    Done(u32, usize),
    /// The buffer ends inside the integer.
    Incomplete,
}

/// Reads a variable byte integer from the front of `buf` (at most four bytes).
///
/// # Errors
/// A fifth continuation byte is malformed.
pub(crate) fn read_varint(buf: &[u8]) -> Result<Varint, MqttError> {
    let mut value: u32 = 0;
    for (i, byte) in buf.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Varint::Done(value, i + 1));
        }
    }
    if buf.len() >= 4 {
        return Err(MqttError::Malformed("variable byte integer longer than four bytes"));
    }
    Ok(Varint::Incomplete)
}

/// A variable byte integer inside a complete body.
pub(crate) fn varint(input: &[u8]) -> PResult<'_, u32> {
    match read_varint(input) {
        Ok(Varint::Done(value, len)) => Ok((&input[len..], value)),
        Ok(Varint::Incomplete) => fail(MqttError::Malformed("variable byte integer runs past the end")),
        Err(e) => fail(e),
    }
}

/// Two-byte length and that many bytes.
pub(crate) fn binary(input: &[u8]) -> PResult<'_, &[u8]> {
    let (rest, len) = u16_(input)?;
    take(len)(rest)
}

/// A UTF-8 string: two-byte length, well-formed UTF-8 without U+0000.
pub(crate) fn utf8(input: &[u8]) -> PResult<'_, &str> {
    let (rest, raw) = binary(input)?;
    let Ok(text) = std::str::from_utf8(raw) else {
        return fail(MqttError::Malformed("string is not valid UTF-8"));
    };
    if text.contains('\0') {
        return fail(MqttError::Malformed("string contains U+0000"));
    }
    Ok((rest, text))
}

/// Where decoded binary fields come from: copied out of a borrowed buffer, or zero-copy slices
/// of a shared one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// Copy each field.
    Copy,
    /// Slice the shared buffer every field lies in.
    Shared(&'a Bytes),
}

impl Source<'_> {
    /// The field as owned `Bytes`.
    pub(crate) fn bytes(&self, field: &[u8]) -> Bytes {
        match self {
            Self::Copy => Bytes::copy_from_slice(field),
            Self::Shared(whole) => whole.slice_ref(field),
        }
    }
}

/// Where an encoder writes: a buffer, or a [`Counter`] that measures a body before it is written.
pub(crate) trait Sink {
    /// Appends bytes.
    fn put(&mut self, bytes: &[u8]);

    /// Appends one byte.
    fn byte(&mut self, byte: u8) {
        self.put(&[byte]);
    }

    /// Appends a big-endian two-byte integer.
    fn u16(&mut self, value: u16) {
        self.put(&value.to_be_bytes());
    }

    /// Appends a big-endian four-byte integer.
    fn u32(&mut self, value: u32) {
        self.put(&value.to_be_bytes());
    }

    /// Appends a variable byte integer (values above [`MAX_VARINT`] are clamped to it).
    fn varint(&mut self, value: u32) {
        let mut rest = value.min(MAX_VARINT);
        loop {
            let digit = (rest & 0x7F) as u8;
            rest >>= 7;
            if rest == 0 {
                self.byte(digit);
                return;
            }
            self.byte(digit | 0x80);
        }
    }

    /// Appends binary data with its two-byte length (at most 65 535 bytes are written).
    fn binary(&mut self, data: &[u8]) {
        let data = &data[..data.len().min(usize::from(u16::MAX))];
        self.u16(data.len() as u16);
        self.put(data);
    }

    /// Appends a UTF-8 string with its two-byte length.
    fn utf8(&mut self, text: &str) {
        self.binary(text.as_bytes());
    }
}

impl Sink for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// A sink that only counts bytes.
#[derive(Debug, Default)]
pub(crate) struct Counter(pub(crate) usize);

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// How many bytes `value` takes as a variable byte integer.
pub fn varint_len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_boundaries_round_trip() {
        for value in [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MAX_VARINT] {
            let mut buf = BytesMut::new();
            buf.varint(value);
            assert_eq!(buf.len(), varint_len(value));
            assert_eq!(read_varint(&buf), Ok(Varint::Done(value, buf.len())));
        }
    }

    #[test]
    fn varint_incomplete_and_overlong() {
        assert_eq!(read_varint(&[0x80, 0x80]), Ok(Varint::Incomplete));
        assert_eq!(read_varint(&[]), Ok(Varint::Incomplete));
        assert!(read_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
    }

    #[test]
    fn strings_reject_nul_and_bad_utf8() {
        assert!(utf8(&[0, 1, 0]).is_err());
        assert!(utf8(&[0, 1, 0xFF]).is_err());
        assert!(utf8(&[0, 3, b'a']).is_err());
        assert_eq!(utf8(&[0, 2, b'h', b'i', 9]).ok(), Some((&[9u8][..], "hi")));
    }
}
