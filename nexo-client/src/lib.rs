//! Rust clients for the Nexo server (Store, Pub/Sub, Queue, Stream) over the v1 binary protocol.
//!
//! - **[`AsyncClient`]** (feature `tokio`, on by default): `Clone + Send + Sync` handles share
//!   one connection task. Requests from many tasks are pipelined and matched to their replies by
//!   id; subscriptions ([`Subscription`]), queue consumers ([`QueueConsumer`]) and group consumers
//!   ([`GroupConsumer`]) are `Stream`s with bounded buffers; connect and per-request timeouts;
//!   automatic reconnect with exponential backoff and jitter, subscriptions and consumer loops
//!   restored, requests in flight at the drop failed with [`ClientError::ConnectionLost`] (never
//!   sent twice). Settings: [`ClientOptions`].
//! - **[`Client`]**: blocking, one TCP connection per `&mut Client` (with `TCP_NODELAY`), in
//!   three levels: typed helpers ([`Client::set`], [`Client::get`], [`Client::publish`], …) where
//!   an `ERR` reply becomes [`ClientError::Server`]; [`Client::request`] for any [`Request`],
//!   returning the decoded [`Reply`]; and pipelining with [`Client::send`] + [`Client::flush`] +
//!   [`Client::recv_reply`] by id, or [`Client::pipeline`] for any number of requests at once.
//!   Replies are matched by id and pushes that arrive while it waits for a reply are queued for
//!   [`Client::next_push`], never dropped. It spawns no threads, except one short-lived writer
//!   inside [`Client::pipeline`].
//!
//! Both clients build requests and read replies through one codec and one table of typed
//! operations; bytes on the wire are `nexo-proto`'s.
//!
//! The async quick start is on [`AsyncClient`].
//!
//! # Blocking example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use nexo_client::{Bytes, Client, PublishOptions, Reply, Request, SetOptions, StoreRequest};
//!
//! fn main() -> nexo_client::Result<()> {
//!     let mut client = Client::connect("127.0.0.1:7654")?;
//!
//!     // Store. SDKs tag values with a leading type byte (0x01 = UTF-8 text); the server keeps
//!     // the bytes as they are.
//!     client.set_with("greeting", b"\x01hello", SetOptions { ttl: Some(60), persist: false })?;
//!     assert_eq!(client.get("greeting")?.as_deref(), Some(&b"\x01hello"[..]));
//!     assert_eq!(client.incr_by("visits", 1)?, 1);
//!
//!     // Pub/Sub: pushes are queued while other replies are awaited.
//!     client.subscribe("news/#")?;
//!     client.publish("news/today", b"\x01sunny", PublishOptions::default())?;
//!     if let Some(push) = client.next_push(Duration::from_secs(1))? {
//!         println!("{}: {:?}", push.topic, push.payload);
//!     }
//!
//!     // Pipelining: replies come back in request order.
//!     let requests: Vec<Request> = (0..10_000)
//!         .map(|i| Request::Store(StoreRequest::Get { key: Bytes::from(format!("key:{i}")) }))
//!         .collect();
//!     let replies = client.pipeline(&requests)?;
//!     assert!(replies.iter().all(|r| matches!(r, Reply::Data(_) | Reply::Null)));
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "tokio")]
mod aio;
mod client;
mod codec;
mod error;
mod ops;
mod queue;
mod stream;

#[cfg(test)]
mod tests;

#[cfg(feature = "tokio")]
pub use aio::{
    AsyncClient, Backoff, ClientOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_PUSH_BUFFER, DEFAULT_QUEUE_DEPTH,
    GroupConsumer, GroupDelivery, QueueConsumer, Subscription,
};
pub use bytes::Bytes;
pub use client::{Client, DEFAULT_TIMEOUT};
pub use codec::{REPLY_SLACK_BYTES, expected_reply_kind};
pub use error::{ClientError, Result};
pub use nexo_proto;
pub use nexo_proto::options::{
    ConsumeOptions, PublishOptions, PushOptions, QueueOptions, Retention, SetOptions, StreamOptions,
};
pub use nexo_proto::reply::QueueInfo;
pub use nexo_proto::reply::{DlqMessage, QueueMessage, StreamMessage};
pub use nexo_proto::reply::{StreamDeadLetter, StreamGroupInfo, StreamTopicInfo};
pub use nexo_proto::request::*;
pub use nexo_proto::{Push, Reply, ReplyKind, Uuid};
pub use queue::{CONSUME_LOOP_DEFAULT_WAIT_MS, ConsumeLoopStats};
pub use stream::{
    GROUP_CONSUMER_DEFAULT_LIMIT, GROUP_CONSUMER_DEFAULT_WAIT_MS, GroupConsumerOptions, GroupConsumerStats,
    GroupMember, SeekTarget,
};
