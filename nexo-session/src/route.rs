//! Where a decoded v1 frame goes: answered at once by the session, or handed to a broker as an
//! [`Item`] (the one enum of broker requests every protocol front produces).

use nexo_proto::{Inbound, Reply, Request};

use crate::Item;

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
    /// Hand to a broker.
    Broker(Item),
}

/// Routes one decoded frame.
pub fn route(inbound: Inbound) -> Routed {
    match inbound {
        Inbound::Rejected { id, error } => Routed::Answer { id, reply: Reply::error(error) },
        Inbound::Request { id, request } => Routed::Broker(match request {
            Request::Echo(bytes) => return Routed::Answer { id, reply: Reply::Data(bytes) },
            Request::Store(request) => Item::Store { id, request },
            Request::PubSub(request) => Item::PubSub { id, request },
            Request::Queue(request) => Item::Queue { id, request },
            Request::Stream(request) => Item::Stream { id, request },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use nexo_proto::request::{QueueRequest, StreamRequest};

    #[test]
    fn echo_is_answered_here_and_brokers_get_theirs() {
        let echo = route(Inbound::Request { id: 1, request: Request::Echo(Bytes::from_static(b"hi")) });
        assert!(matches!(echo, Routed::Answer { id: 1, reply: Reply::Data(b) } if &b[..] == b"hi"));
        let stream = route(Inbound::Request {
            id: 2,
            request: Request::Stream(StreamRequest::Exists { topic: "t".into() }),
        });
        assert!(matches!(stream, Routed::Broker(Item::Stream { id: 2, .. })));
        let queue = route(Inbound::Request {
            id: 3,
            request: Request::Queue(QueueRequest::Exists { name: "q".into() }),
        });
        assert!(matches!(queue, Routed::Broker(Item::Queue { id: 3, .. })));
    }
}
