//! Nexo wire protocols: frames, nom decoders, encoders and typed errors.
//!
//! This crate owns the bytes on the wire and nothing else: it never performs I/O, never reads a
//! clock and never allocates beyond what a frame declares (and only after the declared length
//! passed the frame limit). Servers use [`inbound::decode_request_frame`] and the `encode` methods
//! of [`reply::Reply`] and [`push::Push`]; clients use [`request::Request::encode`],
//! [`frame::split_frame`] and [`reply::Reply::decode`].
//!
//! The protocol is Nexo v1 (byte-compatible with the Nexo client SDK v1.0.2); our extensions use
//! the free opcodes listed in `docs/PROTOCOL.md`. All integers on the wire are big-endian.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod error;
pub mod frame;
pub mod http;
pub mod inbound;
pub mod mqtt;
pub mod opcode;
pub mod options;
pub mod primitives;
pub mod push;
pub mod reply;
pub mod request;
pub mod resp;

pub use error::DecodeError;
pub use frame::{FrameHeader, FrameTooLarge, FrameType, HEADER_LEN, RawFrame};
pub use inbound::{Inbound, Oversized, decode_request_frame};
pub use push::Push;
pub use reply::{Reply, ReplyKind};
pub use request::Request;

/// A 16-byte message id, sent raw on the wire (the SDKs treat it as a UUID).
pub type Uuid = [u8; 16];

/// Default cap on an inbound payload: 10 MiB, as the v1 server had.
pub const DEFAULT_MAX_FRAME_BYTES: u32 = 10 * 1024 * 1024;
