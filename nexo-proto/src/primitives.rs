//! Payload primitives (`u8`, `u32`, `u64`, `i64`, `str`, `json`, `uuid`, `rest`): nom parsers that
//! report the spec's error for each, and the matching writers.
//!
//! Parsers take `&[u8]` and return sub-slices; callers turn those into zero-copy [`Bytes`] with
//! [`Bytes::slice_ref`]. Nothing here allocates except JSON option decoding.

use bytes::{BufMut, Bytes, BytesMut};
use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_i64, be_u8, be_u32, be_u64};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Uuid;
use crate::error::DecodeError;

impl<'a> nom::error::ParseError<&'a [u8]> for DecodeError {
    fn from_error_kind(_input: &'a [u8], _kind: nom::error::ErrorKind) -> Self {
        DecodeError::TooShort("u8")
    }

    fn append(_input: &'a [u8], _kind: nom::error::ErrorKind, other: Self) -> Self {
        other
    }
}

/// Result of one primitive parser.
pub type PResult<'a, T> = IResult<&'a [u8], T, DecodeError>;

/// A nom number parser with nom's own error type.
type NomNumber<'a, T> = fn(&'a [u8]) -> IResult<&'a [u8], T, nom::error::Error<&'a [u8]>>;

fn fixed<'a, T>(input: &'a [u8], what: &'static str, parser: NomNumber<'a, T>) -> PResult<'a, T> {
    parser(input).map_err(|_| nom::Err::Error(DecodeError::TooShort(what)))
}

/// A `u8`.
pub fn u8_field(input: &[u8]) -> PResult<'_, u8> {
    fixed(input, "u8", be_u8)
}

/// A big-endian `u32`.
pub fn u32_field(input: &[u8]) -> PResult<'_, u32> {
    fixed(input, "u32", be_u32)
}

/// A big-endian `u64`.
pub fn u64_field(input: &[u8]) -> PResult<'_, u64> {
    fixed(input, "u64", be_u64)
}

/// A big-endian `i64`.
pub fn i64_field(input: &[u8]) -> PResult<'_, i64> {
    fixed(input, "i64", be_i64)
}

/// 16 raw bytes.
pub fn uuid_field(input: &[u8]) -> PResult<'_, Uuid> {
    let (rest, raw) = take::<_, _, nom::error::Error<&[u8]>>(16usize)(input)
        .map_err(|_| nom::Err::Error(DecodeError::TooShort("UUID")))?;
    let mut id = [0u8; 16];
    id.copy_from_slice(raw);
    Ok((rest, id))
}

/// A `u32` length followed by that many bytes, not checked for UTF-8.
pub fn blob_field(input: &[u8]) -> PResult<'_, &[u8]> {
    let (rest, len) = u32_field(input)?;
    take::<_, _, nom::error::Error<&[u8]>>(len)(rest)
        .map_err(|_| nom::Err::Error(DecodeError::IncompleteString { expected: len }))
}

/// A `str`: `u32` length and UTF-8 bytes.
pub fn str_field(input: &[u8]) -> PResult<'_, &str> {
    let (rest, raw) = blob_field(input)?;
    let text = std::str::from_utf8(raw).map_err(|_| nom::Err::Error(DecodeError::InvalidUtf8))?;
    Ok((rest, text))
}

/// A `json` field: a `str` holding an object of options, decoded into `T`.
///
/// An empty string counts as `{}`; unknown fields are ignored (serde's default). Anything but an
/// object is rejected: serde's derived structs would otherwise also accept a JSON array of the
/// field values in declaration order, which the spec does not allow.
pub fn json_field<T: DeserializeOwned + Default>(input: &[u8]) -> PResult<'_, T> {
    let (rest, text) = str_field(input)?;
    // JSON's own whitespace only, so what we skip is exactly what serde_json would skip.
    let text = text.trim_start_matches([' ', '\t', '\n', '\r']);
    if text.is_empty() {
        return Ok((rest, T::default()));
    }
    if !text.starts_with('{') {
        return Err(nom::Err::Error(DecodeError::InvalidJson("expected a JSON object".to_owned())));
    }
    let value =
        serde_json::from_str(text).map_err(|e| nom::Err::Error(DecodeError::InvalidJson(e.to_string())))?;
    Ok((rest, value))
}

/// Unwraps a nom error into the typed decode error (our parsers never return `Incomplete`).
pub fn into_decode_error(err: nom::Err<DecodeError>) -> DecodeError {
    match err {
        nom::Err::Error(e) | nom::Err::Failure(e) => e,
        nom::Err::Incomplete(_) => DecodeError::TooShort("u8"),
    }
}

/// A cursor over a request payload: each method parses one field with the nom parsers above.
#[derive(Debug)]
pub struct Fields<'a> {
    payload: &'a Bytes,
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Starts at the beginning of `payload`.
    pub fn new(payload: &'a Bytes) -> Self {
        Self { payload, rest: &payload[..] }
    }

    fn run<T>(&mut self, parser: impl FnOnce(&'a [u8]) -> PResult<'a, T>) -> Result<T, DecodeError> {
        let (rest, value) = parser(self.rest).map_err(into_decode_error)?;
        self.rest = rest;
        Ok(value)
    }

    /// Next `u8`.
    ///
    /// # Errors
    /// `Payload too short for u8`.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        self.run(u8_field)
    }

    /// Next `u32`.
    ///
    /// # Errors
    /// `Payload too short for u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.run(u32_field)
    }

    /// Next `u64`.
    ///
    /// # Errors
    /// `Payload too short for u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.run(u64_field)
    }

    /// Next `i64`.
    ///
    /// # Errors
    /// `Payload too short for i64`.
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        self.run(i64_field)
    }

    /// Next `uuid`.
    ///
    /// # Errors
    /// `Payload too short for UUID`.
    pub fn uuid(&mut self) -> Result<Uuid, DecodeError> {
        self.run(uuid_field)
    }

    /// Next `str` as an owned `String`.
    ///
    /// # Errors
    /// Incomplete string or invalid UTF-8.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        self.run(str_field).map(str::to_owned)
    }

    /// Next `str` as a zero-copy slice of the payload (UTF-8 checked).
    ///
    /// # Errors
    /// Incomplete string or invalid UTF-8.
    pub fn str_bytes(&mut self) -> Result<Bytes, DecodeError> {
        let text = self.run(str_field)?;
        Ok(self.payload.slice_ref(text.as_bytes()))
    }

    /// Next length-prefixed byte string (no UTF-8 check), zero-copy.
    ///
    /// # Errors
    /// Incomplete string.
    pub fn blob(&mut self) -> Result<Bytes, DecodeError> {
        let raw = self.run(blob_field)?;
        Ok(self.payload.slice_ref(raw))
    }

    /// Next `json` options.
    ///
    /// # Errors
    /// Incomplete string, invalid UTF-8 or `Invalid JSON options: …`.
    pub fn json<T: DeserializeOwned + Default>(&mut self) -> Result<T, DecodeError> {
        self.run(json_field)
    }

    /// How many bytes are left.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// All remaining bytes, zero-copy.
    pub fn rest(&mut self) -> Bytes {
        let rest = self.payload.slice_ref(self.rest);
        self.rest = &[];
        rest
    }
}

/// Writes a `str`/blob: `u32` length then the bytes.
pub fn put_blob(out: &mut BytesMut, bytes: &[u8]) {
    out.reserve(4 + bytes.len());
    put_count(out, bytes.len());
    out.put_slice(bytes);
}

/// Writes a `u32` length or element count.
///
/// A length or count is never larger than the payload of the frame it is written in, and
/// [`crate::frame::write_frame`] refuses payloads past `u32::MAX`, so a value that does not fit
/// belongs to a frame that is never sent; it is written as `u32::MAX` rather than wrapped.
pub fn put_count(out: &mut BytesMut, n: usize) {
    out.put_u32(u32::try_from(n).unwrap_or(u32::MAX));
}

/// Writes a `json` field from an options struct.
pub fn put_json<T: Serialize>(out: &mut BytesMut, options: &T) {
    // Serializing our own option structs cannot fail (no maps with non-string keys).
    let text = serde_json::to_string(options).unwrap_or_else(|_| "{}".to_owned());
    put_blob(out, text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_fields_name_their_type() {
        assert_eq!(u32_field(&[0, 1]).map_err(into_decode_error), Err(DecodeError::TooShort("u32")));
        assert_eq!(uuid_field(&[0; 15]).map_err(into_decode_error), Err(DecodeError::TooShort("UUID")));
        assert_eq!(
            str_field(&[0, 0, 0, 5, b'a']).map_err(into_decode_error),
            Err(DecodeError::IncompleteString { expected: 5 })
        );
        assert_eq!(str_field(&[0, 0, 0, 1, 0xFF]).map_err(into_decode_error), Err(DecodeError::InvalidUtf8));
    }

    #[derive(serde::Deserialize, Default, Debug, PartialEq)]
    struct Opts {
        ttl: Option<u64>,
    }

    #[test]
    fn json_options() {
        let ok = b"\0\0\0\x0a{\"ttl\":5} ";
        assert_eq!(json_field::<Opts>(ok).unwrap().1, Opts { ttl: Some(5) });
        assert_eq!(json_field::<Opts>(b"\0\0\0\0").unwrap().1, Opts::default());
        let bad = b"\0\0\0\x0b{\"ttl\":\"x\"}";
        let err = json_field::<Opts>(bad).map_err(into_decode_error).unwrap_err();
        assert!(err.to_string().starts_with("Invalid JSON options: "), "{err}");
        for bad in [&b"\0\0\0\x03[5]"[..], b"\0\0\0\x04null", b"\0\0\0\x01{", b"\0\0\0\x025 "] {
            let err = json_field::<Opts>(bad).map_err(into_decode_error).unwrap_err();
            assert!(err.to_string().starts_with("Invalid JSON options: "), "{err}");
        }
        assert_eq!(json_field::<Opts>(b"\0\0\0\x03 \n ").unwrap().1, Opts::default());
    }
}
