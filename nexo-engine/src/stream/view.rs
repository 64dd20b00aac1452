//! Read-only views of Stream messages for the dashboard: a topic's recent messages, newest
//! first, paged by sequence.
//!
//! Owns [`StreamMessageView`], [`StreamMessagePage`] and [`Stream::recent_messages`]. It reads
//! only the topic's in-memory tail (older messages are on disk, and a dashboard page must never
//! wait for a read), lists only deliverable (durable) messages, and changes nothing.

use bytes::Bytes;

use super::{MAX_PAGE, Stream};

/// Most bytes of a payload a [`StreamMessageView`] carries.
pub const STREAM_HEAD_BYTES: usize = 1024;

/// One message as the dashboard sees it (an owned snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamMessageView {
    /// Its sequence.
    pub seq: u64,
    /// Publish time (wall-clock milliseconds).
    pub timestamp_ms: u64,
    /// Payload size in bytes.
    pub payload_len: u64,
    /// The first [`STREAM_HEAD_BYTES`] bytes of the payload.
    pub payload_head: Bytes,
}

/// A page of a topic's recent messages (an owned snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamMessagePage {
    /// Newest first.
    pub messages: Vec<StreamMessageView>,
    /// `before` of the next (older) page; `0` when no older message is in memory.
    pub next_before: u64,
    /// Oldest sequence held in memory (`0` when none is); older ones are only on disk.
    pub oldest_in_memory: u64,
    /// Oldest retained sequence of the topic.
    pub first_seq: u64,
    /// Newest deliverable sequence of the topic (`0` when none).
    pub last_seq: u64,
}

impl Stream {
    /// Up to `limit` (at most 1000) of `topic`'s deliverable messages held in memory with a
    /// sequence below `before` (`0` = from the newest), newest first; `None` when the topic
    /// does not exist.
    pub fn recent_messages(&self, topic: &str, before: u64, limit: usize) -> Option<StreamMessagePage> {
        let t = self.meta.topics.get(topic)?;
        let last = t.last_visible();
        let oldest = t.cache.front().map_or(0, |c| c.seq);
        let mut page = StreamMessagePage {
            oldest_in_memory: oldest,
            first_seq: t.first_wire(),
            last_seq: last,
            ..StreamMessagePage::default()
        };
        let top = if before == 0 { last } else { before.saturating_sub(1).min(last) };
        if oldest == 0 || top < oldest {
            return Some(page);
        }
        let mut seq = top;
        while page.messages.len() < limit.min(MAX_PAGE) && seq >= oldest {
            if let Some(c) = t.cache.get(seq) {
                page.messages.push(StreamMessageView {
                    seq: c.seq,
                    timestamp_ms: c.timestamp_ms,
                    payload_len: c.payload.len() as u64,
                    payload_head: Bytes::copy_from_slice(
                        &c.payload[..c.payload.len().min(STREAM_HEAD_BYTES)],
                    ),
                });
            }
            if seq == 0 {
                break;
            }
            seq -= 1;
        }
        page.next_before = if seq >= oldest && seq > 0 { seq + 1 } else { 0 };
        Some(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::tests::Harness;

    #[test]
    fn recent_messages_page_newest_first() {
        let mut h = Harness::new();
        h.create(1, "orders");
        for i in 1..=5 {
            assert_eq!(h.pub_seq("orders", &format!("m{i}")), i);
        }
        let page = h.s.recent_messages("orders", 0, 2).unwrap();
        let seqs: Vec<u64> = page.messages.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [5, 4]);
        assert_eq!(page.messages[0].payload_head, Bytes::from_static(b"m5"));
        assert_eq!((page.first_seq, page.last_seq, page.oldest_in_memory), (1, 5, 1));
        assert_eq!(page.next_before, 4);
        let older = h.s.recent_messages("orders", page.next_before, 10).unwrap();
        assert_eq!(older.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [3, 2, 1]);
        assert_eq!(older.next_before, 0);
        assert!(h.s.recent_messages("missing", 0, 10).is_none());
        h.create(1, "empty");
        let empty = h.s.recent_messages("empty", 0, 10).unwrap();
        assert!(empty.messages.is_empty() && empty.next_before == 0);
    }
}
