//! Where a decoded inbound frame goes: answered at once by the network layer, or handed to a
//! broker. Both runtimes use this, so they route identically.

use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};
use nexo_proto::{Inbound, Reply, Request};

/// The destination of one inbound frame.
#[derive(Debug)]
pub enum Routed {
    /// Answer with this reply now (ECHO, a decode error).
    Answer {
        /// Request id.
        id: u32,
        /// The reply.
        reply: Reply,
    },
    /// Hand to the Store.
    Store {
        /// Request id.
        id: u32,
        /// The command.
        request: StoreRequest,
    },
    /// Hand to the Queue.
    Queue {
        /// Request id.
        id: u32,
        /// The command.
        request: QueueRequest,
    },
    /// Hand to the Stream.
    Stream {
        /// Request id.
        id: u32,
        /// The command.
        request: StreamRequest,
    },
    /// Hand to Pub/Sub.
    PubSub {
        /// Request id.
        id: u32,
        /// The command.
        request: PubSubRequest,
    },
}

/// Routes one decoded frame.
pub fn route(inbound: Inbound) -> Routed {
    match inbound {
        Inbound::Rejected { id, error } => Routed::Answer { id, reply: Reply::error(error) },
        Inbound::Request { id, request } => match request {
            Request::Echo(bytes) => Routed::Answer { id, reply: Reply::Data(bytes) },
            Request::Store(request) => Routed::Store { id, request },
            Request::PubSub(request) => Routed::PubSub { id, request },
            Request::Queue(request) => Routed::Queue { id, request },
            Request::Stream(request) => Routed::Stream { id, request },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn echo_is_answered_here_and_brokers_get_theirs() {
        let echo = route(Inbound::Request { id: 1, request: Request::Echo(Bytes::from_static(b"hi")) });
        assert!(matches!(echo, Routed::Answer { id: 1, reply: Reply::Data(b) } if &b[..] == b"hi"));
        let stream = route(Inbound::Request {
            id: 2,
            request: Request::Stream(StreamRequest::Exists { topic: "t".into() }),
        });
        assert!(matches!(stream, Routed::Stream { id: 2, .. }));
        let queue = route(Inbound::Request {
            id: 3,
            request: Request::Queue(QueueRequest::Exists { name: "q".into() }),
        });
        assert!(matches!(queue, Routed::Queue { id: 3, .. }));
    }
}
