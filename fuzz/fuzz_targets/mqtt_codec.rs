//! Fuzzes the MQTT codec, `nexo_proto::mqtt::decode`.
//!
//! Input layout: byte 0 picks the version (low bit) and a small maximum packet size, byte 1
//! seeds how the rest is cut into chunks, the remaining bytes are the wire. Checked:
//! - no panic;
//! - a decoded packet never claims more bytes than the buffer or the maximum packet size;
//! - feeding the wire in chunks gives exactly the packets (and the error) decoding it whole gives;
//! - `decode_shared` (zero-copy) agrees with `decode`;
//! - every decoded packet re-encodes to bytes that decode to the same packet, of the length
//!   `encoded_len` predicts.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use nexo_proto::mqtt::{MqttError, Packet, Version, decode, decode_shared};

/// Largest chunk fed at once.
const MAX_CHUNK: usize = 61;

/// Decodes every complete packet at the front of `buf`, consuming them.
fn drain(buf: &mut BytesMut, version: Version, max: u32, out: &mut Vec<Packet>) -> Result<(), MqttError> {
    loop {
        match decode(buf, version, max)? {
            Some((n, packet)) => {
                assert!(n <= buf.len() && n as u64 <= u64::from(max), "consumed past the buffer or limit");
                let shared = Bytes::copy_from_slice(buf);
                let again = decode_shared(&shared, version, max);
                assert_eq!(again, Ok(Some((n, packet.clone()))), "zero-copy decode differs");
                let _ = buf.split_to(n);
                out.push(packet);
            }
            None => return Ok(()),
        }
    }
}

fn check_reencode(packet: &Packet, version: Version) {
    let mut out = BytesMut::new();
    packet.encode(version, &mut out);
    assert_eq!(out.len(), packet.encoded_len(version));
    let back = decode(&out, version, u32::MAX).expect("a re-encoded packet decodes");
    assert_eq!(back, Some((out.len(), packet.clone())));
}

fuzz_target!(|data: &[u8]| {
    let [knob, seed, wire @ ..] = data else { return };
    let version = if knob & 1 == 0 { Version::V311 } else { Version::V5 };
    let max = 2 + u32::from(knob >> 1) * 4;

    let mut whole = BytesMut::from(wire);
    let mut expected = Vec::new();
    let whole_result = drain(&mut whole, version, max, &mut expected);

    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut chunked_result = Ok(());
    let mut state = u32::from(*seed) | 1;
    let mut rest = wire;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = (state as usize >> 16) % MAX_CHUNK + 1;
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        chunked_result = drain(&mut buf, version, max, &mut got);
        if chunked_result.is_err() {
            break;
        }
    }
    assert_eq!(got, expected, "chunked decoding differs from whole decoding");
    assert_eq!(chunked_result, whole_result);
    for packet in &expected {
        check_reencode(packet, version);
    }
});
