//! A connection's outgoing bytes: replies encoded into a staging buffer, pushes kept as the shared
//! frames the engine encoded once, written with vectored writes in order.
//!
//! It owns ordering and accounting (queued bytes; push bytes written, reported back to Pub/Sub).
//! The writer is any `io::Write` the runtime lends it (a non-blocking socket); this module opens
//! nothing itself.
//! It does not decide limits: the session compares [`WriteQueue::queued_bytes`] with the
//! connection's write limit.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

use bytes::{Bytes, BytesMut};
use nexo_proto::Reply;

/// Slices handed to one `write_vectored` call.
const IOV_MAX: usize = 64;

#[derive(Debug)]
struct Chunk {
    bytes: Bytes,
    /// v1 push bytes this chunk carries, reported to Pub/Sub once it is written.
    report: usize,
}

/// Ordered outgoing data of one connection.
#[derive(Debug, Default)]
pub struct WriteQueue {
    chunks: VecDeque<Chunk>,
    staging: BytesMut,
    front_written: usize,
    queued: usize,
}

/// What one flush achieved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Push bytes fully written in this flush (for `handle_flushed`).
    pub push_bytes: usize,
    /// Everything queued has been written.
    pub empty: bool,
}

impl WriteQueue {
    /// Encodes a reply at the back of the queue.
    pub fn push_reply(&mut self, id: u32, reply: &Reply) {
        let before = self.staging.len();
        reply.encode(id, &mut self.staging);
        self.queued += self.staging.len() - before;
    }

    /// Queues a shared push frame.
    pub fn push_frame(&mut self, frame: Bytes) {
        self.seal_staging();
        self.queued += frame.len();
        self.chunks.push_back(Chunk { report: frame.len(), bytes: frame });
    }

    /// Queues bytes encoded elsewhere (a RESP connection's released replies and messages) that
    /// stand for `report` bytes of v1 push frames.
    pub fn push_chunk(&mut self, bytes: Bytes, report: usize) {
        self.seal_staging();
        self.queued += bytes.len();
        self.chunks.push_back(Chunk { bytes, report });
    }

    /// Bytes queued and not yet written.
    pub fn queued_bytes(&self) -> usize {
        self.queued
    }

    fn seal_staging(&mut self) {
        if !self.staging.is_empty() {
            let bytes = self.staging.split().freeze();
            self.chunks.push_back(Chunk { bytes, report: 0 });
        }
    }

    /// Writes as much as the socket takes without blocking.
    ///
    /// # Errors
    /// Any I/O error other than `WouldBlock`/`Interrupted` (the connection is then dead).
    pub fn write_to(&mut self, out: &mut impl Write) -> io::Result<Flushed> {
        self.seal_staging();
        let mut result = Flushed::default();
        while !self.chunks.is_empty() {
            let mut slices = [IoSlice::new(&[]); IOV_MAX];
            let mut count = 0;
            for (i, chunk) in self.chunks.iter().take(IOV_MAX).enumerate() {
                let start = if i == 0 { self.front_written } else { 0 };
                slices[i] = IoSlice::new(&chunk.bytes[start..]);
                count += 1;
            }
            match out.write_vectored(&slices[..count]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => result.push_bytes += self.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.chunks.is_empty() {
            // Give back a large staging buffer once a burst is over.
            if self.staging.capacity() > 256 * 1024 {
                self.staging = BytesMut::new();
            }
        }
        result.empty = self.chunks.is_empty();
        Ok(result)
    }

    /// Drops `n` written bytes from the front; returns push bytes completed.
    fn advance(&mut self, mut n: usize) -> usize {
        self.queued -= n;
        let mut push_bytes = 0;
        while n > 0 {
            let Some(front) = self.chunks.front() else { break };
            let left = front.bytes.len() - self.front_written;
            if n < left {
                self.front_written += n;
                break;
            }
            n -= left;
            push_bytes += front.report;
            self.chunks.pop_front();
            self.front_written = 0;
        }
        push_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `limit` bytes per call.
    struct Trickle {
        written: Vec<u8>,
        limit: usize,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.limit == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.limit);
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn keeps_order_and_counts_push_bytes() {
        let mut q = WriteQueue::default();
        q.push_reply(1, &Reply::Ok);
        q.push_frame(Bytes::from_static(b"PUSHFRAME"));
        q.push_reply(2, &Reply::Null);
        assert_eq!(q.queued_bytes(), 10 + 9 + 10);
        let mut w = Trickle { written: Vec::new(), limit: 7 };
        let mut push = 0;
        loop {
            let f = q.write_to(&mut w).unwrap();
            push += f.push_bytes;
            if f.empty {
                break;
            }
        }
        assert_eq!(push, 9);
        assert_eq!(&w.written[10..19], b"PUSHFRAME");
        assert_eq!(w.written[19..21], [2, 2]);
        assert_eq!(q.queued_bytes(), 0);
    }

    #[test]
    fn would_block_keeps_everything() {
        let mut q = WriteQueue::default();
        q.push_reply(1, &Reply::Ok);
        let mut w = Trickle { written: Vec::new(), limit: 0 };
        let f = q.write_to(&mut w).unwrap();
        assert!(!f.empty);
        assert_eq!(q.queued_bytes(), 10);
    }
}
