//! Fuzzes the server's inbound decoder, `nexo_proto::decode_request_frame`.
//!
//! Input layout: byte 0 picks a small frame limit, byte 1 seeds how the rest is cut into chunks,
//! the remaining bytes are the wire. The wire is fed chunk by chunk, draining complete frames after
//! every chunk, as a server does after each read. Checked:
//! - no panic;
//! - after draining, what stays buffered is one partial frame, never more than header + limit;
//! - an oversized header is refused before anything is buffered for it (no reservation);
//! - chunked decoding gives exactly what decoding the whole wire at once gives;
//! - every decoded request re-encodes to a frame that decodes to the same id and request.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nexo_proto::{HEADER_LEN, Inbound, Oversized, decode_request_frame};

/// Largest chunk fed at once.
const MAX_CHUNK: usize = 97;

type Decoded = Vec<Result<Inbound, Oversized>>;

/// Decodes all complete frames in `buf`; `true` once an oversized frame ended the connection.
fn drain(buf: &mut BytesMut, max: u32, out: &mut Decoded) -> bool {
    loop {
        let capacity_before = buf.capacity();
        match decode_request_frame(buf, max) {
            Ok(Some(inbound)) => out.push(Ok(inbound)),
            Ok(None) => {
                assert!(
                    buf.len() < HEADER_LEN + max as usize,
                    "{} bytes buffered with a limit of {max}",
                    buf.len()
                );
                return false;
            }
            Err(oversized) => {
                assert!(oversized.len > max);
                assert_eq!(oversized.max, max);
                assert_eq!(buf.capacity(), capacity_before, "reserved memory for an oversized frame");
                let declared = u32::from_be_bytes([buf[6], buf[7], buf[8], buf[9]]);
                assert_eq!(declared, oversized.len);
                out.push(Err(oversized));
                return true;
            }
        }
    }
}

fn check_round_trip(decoded: &Decoded) {
    for item in decoded {
        match item {
            Ok(Inbound::Request { id, request }) => {
                let mut wire = BytesMut::new();
                request.encode(*id, &mut wire);
                let again = decode_request_frame(&mut wire, u32::MAX);
                assert_eq!(again, Ok(Some(Inbound::Request { id: *id, request: request.clone() })));
                assert!(wire.is_empty());
            }
            Ok(Inbound::Rejected { error, .. }) => assert!(!error.to_string().is_empty()),
            Err(oversized) => assert!(oversized.to_string().starts_with("Frame too large: ")),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [limit, seed, wire @ ..] = data else {
        return;
    };
    let max = u32::from(*limit) * 2;

    // Reference: the whole wire at once.
    let mut whole = BytesMut::from(wire);
    let mut expected = Vec::new();
    drain(&mut whole, max, &mut expected);

    // The same wire in pseudo-random chunks (xorshift seeded by the input).
    let mut state = u32::from(*seed) | 0x100;
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % MAX_CHUNK + 1).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if drain(&mut buf, max, &mut got) {
            break;
        }
    }
    assert_eq!(got, expected, "chunking changed the decoded frames");
    check_round_trip(&got);
});
