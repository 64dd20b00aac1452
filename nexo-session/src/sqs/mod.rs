//! The SQS front's pure logic: what a request to the SQS endpoint means and how the answer is
//! written, for both wire protocols SDKs use (AWS JSON 1.0 and the query protocol).
//!
//! Owns: request envelopes ([`request`]), typed actions and their validation ([`action`]),
//! typed replies with their JSON ([`reply`]) and XML ([`xml`]) encodings, SQS's error codes
//! ([`error`]), message attributes and SQS's MD5 digests ([`message`]), queue names, URLs and
//! ARNs ([`names`]), receipt handles ([`receipt`]), queue attributes ([`attributes`]), the
//! mapping to and from the Queue engine's SQS input ([`bridge`]) and Signature V4 verification
//! ([`sigv4`]). HTTP framing is `nexo_proto::http`'s. No clock (time is an input), no sockets,
//! no queue state: applying an action to the Queue is the caller's.

pub mod action;
pub mod attributes;
pub mod bridge;
pub mod error;
pub mod fields;
pub mod form;
pub mod message;
pub mod names;
pub mod receipt;
pub mod reply;
pub mod request;
pub mod sigv4;
pub mod xml;

pub use action::{Action, HandleEntry, Receive, SendEntry};
pub use error::{ErrorCode, SqsError};
pub use reply::{Failed, Received, Reply, Sent};
pub use request::{Envelope, Protocol, encode_error, encode_reply, envelope, region_of};

#[cfg(test)]
mod tests;
