//! The data logs of stream topics: their names, the sequence mapping and the record format.
//!
//! Every topic keeps its messages in its own log, named `stream-<incarnation>-<topic>`; the
//! incarnation is a number that grows with every CREATE (journaled), so a topic deleted and
//! created again never shares a log with its former self. Storage numbers records of a new log
//! from 1, so the topic keeps a **base** (journaled with CREATE): the wire sequence of a record
//! is `base + log sequence`. A re-created topic's base is the last sequence of the deleted one,
//! so wire sequences are never reused. This module must not decide anything; it only encodes.
//!
//! # Record layout (version 1, integers little-endian)
//!
//! ```text
//! u8  version (= 1)
//! u64 timestamp_ms   wall-clock publish time, never below the topic's previous record
//! ... payload        the published bytes, verbatim (SDK type tag included)
//! ```
//!
//! The engine keeps its own timestamp in the record (the storage's timestamp is taken at drain
//! time), so memory and disk always agree on a message's time.

use bytes::{BufMut, Bytes, BytesMut};

use crate::log::LogId;

/// Version byte of a data record.
pub const DATA_VERSION: u8 = 1;

/// Bytes of a data record before the payload.
pub const DATA_HEADER_BYTES: usize = 1 + 8;

/// The name of a topic's data log.
pub fn log_id(incarnation: u64, topic: &str) -> LogId {
    LogId::new(&format!("stream-{incarnation}-{topic}"))
}

/// Whether `log` is named like a topic's data log (`stream-<incarnation>-<topic>`).
pub fn is_data_log(log: &LogId) -> bool {
    parse_log_id(log).is_some()
}

/// The incarnation and topic of a data log's name, `None` if it is not one.
pub fn parse_log_id(log: &LogId) -> Option<(u64, &str)> {
    let (incarnation, topic) = log.as_str().strip_prefix("stream-")?.split_once('-')?;
    if incarnation.is_empty() || !incarnation.bytes().all(|b| b.is_ascii_digit()) || topic.is_empty() {
        return None;
    }
    Some((incarnation.parse().ok()?, topic))
}

/// One message as a data record.
pub fn encode(timestamp_ms: u64, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(DATA_HEADER_BYTES + payload.len());
    b.put_u8(DATA_VERSION);
    b.put_u64_le(timestamp_ms);
    b.put_slice(payload);
    b.freeze()
}

/// A data record's timestamp and payload (a slice of `record`), or `None` when it is not one.
pub fn decode(record: &Bytes) -> Option<(u64, Bytes)> {
    if record.len() < DATA_HEADER_BYTES || record[0] != DATA_VERSION {
        return None;
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&record[1..DATA_HEADER_BYTES]);
    Some((u64::from_le_bytes(ts), record.slice(DATA_HEADER_BYTES..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let record = encode(0x0102, b"\x01hi");
        assert_eq!(&record[..], &[1, 2, 1, 0, 0, 0, 0, 0, 0, 1, b'h', b'i']);
        assert_eq!(decode(&record), Some((0x0102, Bytes::from_static(b"\x01hi"))));
        assert_eq!(decode(&encode(5, b"")), Some((5, Bytes::new())));
        assert_eq!(decode(&Bytes::from_static(&[1, 0, 0])), None);
        assert_eq!(decode(&Bytes::from_static(&[2, 0, 0, 0, 0, 0, 0, 0, 0])), None);
        assert_eq!(log_id(7, "orders").as_str(), "stream-7-orders");
        assert!(is_data_log(&log_id(7, "a-b")));
        assert_eq!(parse_log_id(&log_id(7, "a-b")), Some((7, "a-b")));
        for other in ["streams", "stream-x-t", "stream--t", "stream-7-", "stream-7", "queues"] {
            assert!(!is_data_log(&LogId::new(other)), "{other}");
        }
    }
}
