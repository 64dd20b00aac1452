//! RESP, the Redis protocol, served on the same port as Nexo v1 (a first byte of `*` or an ASCII
//! letter selects it).
//!
//! This module owns RESP's bytes: the incremental request parser ([`parse`]: multi-bulk and
//! inline commands, with limits and Redis's protocol error texts) and the reply encoders
//! ([`encode`]: RESP2, and RESP3 after `HELLO 3`). It knows no command: what a command means is
//! the server's RESP session (`nexo-server`), which maps commands onto the same engine requests
//! v1 uses.

pub mod encode;
pub mod parse;

pub use encode::Version;
pub use parse::{Args, MAX_ARRAY_LEN, MAX_INLINE_BYTES, RespError, RespLimits, RespParser, decode_command};

/// Whether the first byte of a connection selects RESP: `*` or an ASCII letter.
pub fn is_resp_first_byte(byte: u8) -> bool {
    byte == b'*' || byte.is_ascii_alphabetic()
}
