//! Removing what a run created (its queues, its stream topics with their groups, and the Store
//! keys of its keyspace) once the run is over, unless `--keep`. One blocking connection, one
//! request at a time; a missing queue or topic is not an error (DELETE is idempotent).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use nexo_proto::reply::ReplyKind;
use nexo_proto::request::{QueueRequest, StoreRequest, StreamRequest};
use nexo_proto::{Reply, Request};

use crate::scenario::{Created, key_bytes};
use crate::stream_info::call;

/// Store keys per DEL_COUNT request.
const KEYS_PER_DEL: u64 = 1000;

/// How much the clean-up removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Queues deleted.
    pub queues: usize,
    /// Topics deleted.
    pub topics: usize,
    /// Store keys that existed and were deleted.
    pub keys: u64,
}

/// The DEL_COUNT requests that remove keys `0 .. keys`, in batches.
pub fn key_batches(keys: u64) -> impl Iterator<Item = Request> {
    (0..keys).step_by(KEYS_PER_DEL as usize).map(move |start| {
        let end = start.saturating_add(KEYS_PER_DEL).min(keys);
        Request::Store(StoreRequest::DelCount { keys: (start..end).map(key_bytes).collect() })
    })
}

/// Deletes everything in `created` on the server at `addr`.
///
/// # Errors
/// I/O errors, or the server's text when it refuses a deletion.
pub fn remove(addr: SocketAddr, created: &Created) -> io::Result<Removed> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut rbuf = BytesMut::new();
    let mut removed = Removed::default();
    let mut run = |request: Request, kind: ReplyKind| match call(&mut stream, &mut rbuf, &request, kind)? {
        Reply::Err(text) => Err(io::Error::other(text)),
        reply => Ok(reply),
    };
    for name in &created.queues {
        run(Request::Queue(QueueRequest::Delete { name: name.clone() }), ReplyKind::Data)?;
        removed.queues += 1;
    }
    for topic in &created.topics {
        run(Request::Stream(StreamRequest::Delete { topic: topic.clone() }), ReplyKind::Data)?;
        removed.topics += 1;
    }
    for request in key_batches(created.keys) {
        if let Reply::Int(n) = run(request, ReplyKind::Int)? {
            removed.keys += u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deleted_in_batches_covering_the_keyspace() {
        let batches: Vec<Request> = key_batches(2_500).collect();
        assert_eq!(batches.len(), 3);
        let Request::Store(StoreRequest::DelCount { keys }) = &batches[2] else { panic!("{batches:?}") };
        assert_eq!(keys.len(), 500);
        assert_eq!(keys.last(), Some(&key_bytes(2_499)));
        assert_eq!(key_batches(0).count(), 0);
    }
}
