//! A blocking Rust client for the Nexo v1 binary protocol.
//!
//! One [`Client`] owns one TCP connection (with `TCP_NODELAY`). It offers three levels:
//!
//! - **typed helpers** for the Store and Pub/Sub ([`Client::set`], [`Client::get`],
//!   [`Client::publish`], …), where an `ERR` reply becomes [`ClientError::Server`];
//! - **[`Client::request`]** for any [`Request`] of the four brokers, returning the decoded
//!   [`Reply`] (an `ERR` stays [`Reply::Err`]);
//! - **pipelining**: [`Client::send`] + [`Client::flush`] + [`Client::recv_reply`] by id, or
//!   [`Client::pipeline`] for any number of requests at once.
//!
//! Replies are matched to requests by id, so a reply that arrives early (say, after a long-poll
//! answered late) is stashed until asked for. Push frames (subscriptions) that arrive while the
//! client waits for a reply are queued, never dropped, and read with [`Client::next_push`].
//!
//! The crate does no async and spawns no threads, except one short-lived writer thread inside
//! [`Client::pipeline`]. Bytes on the wire are encoded and decoded by `nexo-proto`; this crate
//! only moves them over the socket.
//!
//! # Example
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
