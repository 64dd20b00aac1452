//! What each broker request needs: its broker, its operations and the names it touches.
//!
//! One function per broker, exhaustive over the request enums, so a new request cannot be
//! added without saying what it needs. Consumer actions (CONSUME, ACK, FETCH, SEEK) are reads;
//! producing is a write; creating, deleting and purging are admin. Unsubscribing and UNWATCH
//! need nothing.

use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};

use super::rules::{Broker, Name, Need, Op};
use crate::Item;

const R: &[Op] = &[Op::Read];
const W: &[Op] = &[Op::Write];
const RW: &[Op] = &[Op::Read, Op::Write];
const A: &[Op] = &[Op::Admin];

/// What a routed item needs; `None` when it needs nothing.
pub fn item_need(item: &Item) -> Option<Need<'_>> {
    match item {
        Item::Store { request, .. } => store_need(request),
        Item::PubSub { request, .. } => pubsub_need(request),
        Item::Queue { request, .. } => Some(queue_need(request)),
        Item::Stream { request, .. } => Some(stream_need(request)),
    }
}

/// What a Store request needs (a transaction: the union of its commands').
pub fn store_need(request: &StoreRequest) -> Option<Need<'_>> {
    use StoreRequest as S;
    let store = |ops| Need::new(Broker::Store, ops);
    Some(match request {
        S::Get { key } | S::Ttl { key } | S::Strlen { key } => store(R).on_bytes([key]),
        S::MGet { keys } | S::Exists { keys } | S::Watch { keys } => store(R).on_bytes(keys),
        S::Scan { .. } | S::Keys { .. } => store(R).on([Name::All]),
        S::DbSize | S::Info => store(R),
        S::Set { key, .. }
        | S::SetNx { key, .. }
        | S::IncrBy { key, .. }
        | S::Expire { key, .. }
        | S::Persist { key }
        | S::Del { key }
        | S::Append { key, .. }
        | S::ExpireAt { key, .. }
        | S::ExpireExt { key, .. } => store(W).on_bytes([key]),
        S::SetExt { key, get, .. } => store(if *get { RW } else { W }).on_bytes([key]),
        S::GetDel { key } | S::GetEx { key, .. } => store(RW).on_bytes([key]),
        S::MSet { pairs, .. } => store(W).on_bytes(pairs.iter().map(|(k, _)| k)),
        S::DelCount { keys } => store(W).on_bytes(keys),
        S::Rename { key, new_key } => store(RW).on_bytes([key, new_key]),
        S::Flush => store(A).on([Name::All]),
        S::Unwatch => return None,
        S::Exec { commands } => {
            let mut all = store(&[]);
            for need in commands.iter().filter_map(store_need) {
                all.ops = union(all.ops, need.ops);
                all.names.extend(need.names);
            }
            all
        }
    })
}

fn union(a: super::rules::Set, b: super::rules::Set) -> super::rules::Set {
    let mut out = a;
    Op::ALL.into_iter().filter(|op| b.has_op(*op)).for_each(|op| out.add_op(op));
    out
}

/// What a Pub/Sub request needs.
pub fn pubsub_need(request: &PubSubRequest) -> Option<Need<'_>> {
    use PubSubRequest as P;
    let pubsub = |ops| Need::new(Broker::PubSub, ops);
    Some(match request {
        P::Publish { topic, .. } | P::PublishCount { topic, .. } => pubsub(W).on_bytes([topic]),
        P::SubscribeChannel { channel } => pubsub(R).on_bytes([channel]),
        P::Subscribe { pattern } | P::SubscribeGlob { pattern } => {
            let name =
                if has_wildcard(pattern) { Name::Glob(pattern) } else { Name::Exact(pattern.as_bytes()) };
            pubsub(R).on([name])
        }
        P::Unsubscribe { .. } | P::UnsubscribeChannel { .. } | P::UnsubscribeGlob { .. } => return None,
    })
}

fn has_wildcard(pattern: &str) -> bool {
    pattern.bytes().any(|b| matches!(b, b'*' | b'?' | b'[' | b'+' | b'#' | b'\\'))
}

/// What a Queue request needs.
pub fn queue_need(request: &QueueRequest) -> Need<'_> {
    use QueueRequest as Q;
    let queue = |ops| Need::new(Broker::Queue, ops);
    match request {
        Q::Push { name, .. } => queue(W).on_bytes([name]),
        Q::Consume { name, .. }
        | Q::Ack { name, .. }
        | Q::Nack { name, .. }
        | Q::Extend { name, .. }
        | Q::NackDelay { name, .. }
        | Q::Exists { name }
        | Q::PeekDlq { name, .. } => queue(R).on_bytes([name]),
        Q::Create { name, .. }
        | Q::Delete { name }
        | Q::Purge { name }
        | Q::PurgeDlq { name }
        | Q::DeleteDlq { name, .. }
        | Q::MoveToQueue { name, .. } => queue(A).on_bytes([name]),
        Q::List { .. } => queue(R),
    }
}

/// What a Stream request needs.
pub fn stream_need(request: &StreamRequest) -> Need<'_> {
    use StreamRequest as T;
    let stream = |ops| Need::new(Broker::Stream, ops);
    match request {
        T::Publish { topic, .. } => stream(W).on_bytes([topic]),
        T::Fetch { topic, .. }
        | T::Join { topic, .. }
        | T::Ack { topic, .. }
        | T::Exists { topic }
        | T::Seek { topic, .. }
        | T::Leave { topic, .. }
        | T::Nack { topic, .. }
        | T::SeekSeq { topic, .. }
        | T::SeekTime { topic, .. }
        | T::ListDlq { topic, .. }
        | T::ListGroups { topic, .. }
        | T::AckBatch { topic, .. } => stream(R).on_bytes([topic]),
        T::Create { topic, .. }
        | T::Delete { topic }
        | T::DeleteGroup { topic, .. }
        | T::ReplayDlq { topic, .. } => stream(A).on_bytes([topic]),
        T::ListTopics { .. } => stream(R),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn requests_map_to_broker_op_and_names() {
        let get = StoreRequest::Get { key: Bytes::from_static(b"k") };
        let need = store_need(&get).unwrap();
        assert_eq!((need.broker, need.ops.has_op(Op::Read), need.names.len()), (Broker::Store, true, 1));
        assert_eq!(store_need(&StoreRequest::Flush).unwrap().names, vec![Name::All]);
        assert!(store_need(&StoreRequest::Unwatch).is_none());
        let exec = StoreRequest::Exec {
            commands: vec![get.clone(), StoreRequest::Del { key: Bytes::from_static(b"d") }],
        };
        let need = store_need(&exec).unwrap();
        assert!(need.ops.has_op(Op::Read) && need.ops.has_op(Op::Write));
        assert_eq!(need.names, vec![Name::Exact(b"k"), Name::Exact(b"d")]);
        let glob = PubSubRequest::SubscribeGlob { pattern: "a.*".into() };
        assert_eq!(pubsub_need(&glob).unwrap().names, vec![Name::Glob("a.*")]);
        let create = QueueRequest::Create { name: "q".into(), options: Default::default() };
        assert!(queue_need(&create).ops.has_op(Op::Admin));
        assert_eq!(stream_need(&StreamRequest::ListTopics { offset: 0, limit: 1 }).names, vec![]);
    }
}
