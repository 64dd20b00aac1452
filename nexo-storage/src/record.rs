//! Record framing: how one record is laid out in a segment file, encoded and checked.
//!
//! ```text
//! offset  size  field
//!      0     4  len        u32 LE, bytes after the CRC field: 16 + payload length
//!      4     4  crc32c     u32 LE, CRC-32C (Castagnoli) of bytes 8 .. 8 + len
//!      8     8  seq        u64 LE
//!     16     8  timestamp  u64 LE, wall-clock milliseconds
//!     24     …  payload    len - 16 bytes
//! ```
//!
//! Lengths are checked before writing ([`encode`]) and before trusting what was read
//! ([`decode`]); a decoder never allocates. This module does no I/O.

use std::fmt;

/// Bytes before the payload: `len`, `crc32c`, `seq` and `timestamp`.
pub const HEADER_BYTES: usize = 24;

/// Largest payload of one record (16 MiB): above the 10 MiB default frame limit, so a record can
/// carry any message plus its metadata, and small enough that a corrupt length is recognised.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// Smallest valid `len` field: `seq` and `timestamp` with an empty payload.
const LEN_MIN: usize = 16;
/// Largest valid `len` field.
const LEN_MAX: usize = LEN_MIN + MAX_PAYLOAD_BYTES;
/// Offset of the bytes the CRC covers.
const CRC_START: usize = 8;

/// Size of a record with a payload of `payload_len` bytes, framing included.
pub fn encoded_len(payload_len: usize) -> usize {
    HEADER_BYTES + payload_len
}

/// The payload given to [`encode`] is larger than [`MAX_PAYLOAD_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadTooLarge {
    /// Size of the refused payload.
    pub bytes: usize,
}

/// Appends one framed record to `out` and returns its encoded size.
///
/// # Errors
/// [`PayloadTooLarge`] when the payload exceeds [`MAX_PAYLOAD_BYTES`]; `out` is then untouched.
pub fn encode(
    out: &mut Vec<u8>,
    seq: u64,
    timestamp_ms: u64,
    payload: &[u8],
) -> Result<usize, PayloadTooLarge> {
    let too_large = PayloadTooLarge { bytes: payload.len() };
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(too_large);
    }
    let len = u32::try_from(LEN_MIN + payload.len()).map_err(|_| too_large)?;
    let start = out.len();
    out.reserve(encoded_len(payload.len()));
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&timestamp_ms.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + CRC_START..]);
    out[start + 4..start + CRC_START].copy_from_slice(&crc.to_le_bytes());
    Ok(out.len() - start)
}

/// A record decoded in place: the payload borrows the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Wall-clock milliseconds given at append.
    pub timestamp_ms: u64,
    /// The payload.
    pub payload: &'a [u8],
}

/// Why bytes are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// The `len` field is outside `16 ..= 16 + MAX_PAYLOAD_BYTES`.
    Length(u32),
    /// The stored CRC does not match the data.
    Crc {
        /// CRC read from the record.
        stored: u32,
        /// CRC computed over the record.
        computed: u32,
    },
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Length(len) => write!(f, "record length {len} out of range"),
            Corruption::Crc { stored, computed } => {
                write!(f, "CRC mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
        }
    }
}

/// Result of [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A valid record occupying the first `len` bytes of the buffer.
    Record {
        /// The record.
        record: RecordRef<'a>,
        /// Its encoded size.
        len: usize,
    },
    /// The buffer ends inside a record; `need` bytes would hold it whole.
    Incomplete {
        /// Size the buffer would need.
        need: usize,
    },
    /// The bytes at the start of the buffer are not a record.
    Corrupt(Corruption),
}

/// Decodes the record at the start of `buf`, checking its length and CRC.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    let Some(len) = buf.get(..4).map(le_u32) else {
        return Decoded::Incomplete { need: HEADER_BYTES };
    };
    let len_usize = len as usize;
    if !(LEN_MIN..=LEN_MAX).contains(&len_usize) {
        return Decoded::Corrupt(Corruption::Length(len));
    }
    let total = CRC_START + len_usize;
    let Some(record) = buf.get(..total) else {
        return Decoded::Incomplete { need: total };
    };
    let stored = le_u32(&record[4..CRC_START]);
    let body = &record[CRC_START..];
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Decoded::Corrupt(Corruption::Crc { stored, computed });
    }
    let record =
        RecordRef { seq: le_u64(&body[..8]), timestamp_ms: le_u64(&body[8..16]), payload: &body[16..] };
    Decoded::Record { record, len: total }
}

/// Reads the `seq` field of a record header at the start of `buf`, without any check.
pub(crate) fn peek_seq(buf: &[u8]) -> Option<u64> {
    buf.get(CRC_START..CRC_START + 8).map(le_u64)
}

/// A little-endian u32 from exactly 4 bytes (callers slice exactly).
pub(crate) fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

/// A little-endian u64 from exactly 8 bytes (callers slice exactly).
pub(crate) fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let mut out = vec![0xAA];
        let n = encode(&mut out, 7, 1_700_000_000_000, b"hello").unwrap();
        assert_eq!(n, encoded_len(5));
        let rec = &out[1..];
        assert_eq!(&rec[..4], &21u32.to_le_bytes());
        assert_eq!(&rec[8..16], &7u64.to_le_bytes());
        assert_eq!(&rec[16..24], &1_700_000_000_000u64.to_le_bytes());
        assert_eq!(&rec[24..], b"hello");
        assert_eq!(le_u32(&rec[4..8]), crc32c::crc32c(&rec[8..]));
        match decode(rec) {
            Decoded::Record { record, len } => {
                assert_eq!(len, n);
                assert_eq!(record, RecordRef { seq: 7, timestamp_ms: 1_700_000_000_000, payload: b"hello" });
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(peek_seq(rec), Some(7));
    }

    #[test]
    fn matches_the_example_in_docs_storage_md() {
        let mut out = Vec::new();
        encode(&mut out, 7, 1_700_000_000_000, b"hello").unwrap();
        let hex: Vec<String> = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex.join(" "),
            "15 00 00 00 29 dd 7d 30 07 00 00 00 00 00 00 00 00 68 e5 cf 8b 01 00 00 68 65 6c 6c 6f"
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let mut out = Vec::new();
        encode(&mut out, 1, 2, b"payload").unwrap();
        for cut in 0..out.len() {
            assert!(matches!(decode(&out[..cut]), Decoded::Incomplete { .. }), "cut {cut}");
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let mut out = Vec::new();
        encode(&mut out, 3, 4, b"abc").unwrap();
        for byte in 0..out.len() {
            for bit in 0..8 {
                let mut bad = out.clone();
                bad[byte] ^= 1 << bit;
                assert!(!matches!(decode(&bad), Decoded::Record { .. }), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn lengths_are_bounded() {
        let mut out = Vec::new();
        let huge = vec![0; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(encode(&mut out, 1, 1, &huge), Err(PayloadTooLarge { bytes: MAX_PAYLOAD_BYTES + 1 }));
        assert!(out.is_empty());
        let mut header = vec![0u8; HEADER_BYTES];
        header[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&header), Decoded::Corrupt(Corruption::Length(u32::MAX)));
        header[..4].copy_from_slice(&15u32.to_le_bytes());
        assert_eq!(decode(&header), Decoded::Corrupt(Corruption::Length(15)));
        encode(&mut out, 1, 1, &[]).unwrap();
        assert_eq!(out.len(), HEADER_BYTES);
        assert!(matches!(decode(&out), Decoded::Record { len: HEADER_BYTES, .. }));
    }
}
