//! Every ERR text of the v1 spec, produced through the server's entry point
//! [`decode_request_frame`], with the frame's id echoed and the stream still in sync afterwards.

use bytes::{BufMut, Bytes, BytesMut};
use nexo_proto::primitives::put_blob;
use nexo_proto::request::{StoreRequest, StreamRequest};
use nexo_proto::{
    DecodeError, HEADER_LEN, Inbound, Oversized, Reply, ReplyKind, Request, decode_request_frame,
};

const MAX: u32 = 1024;

/// A raw frame with any type byte, opcode, id and payload.
fn frame(frame_type: u8, opcode: u8, id: u32, payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_u8(frame_type);
    out.put_u8(opcode);
    out.put_u32(id);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
    out
}

fn request(opcode: u8, id: u32, payload: &[u8]) -> BytesMut {
    frame(0x01, opcode, id, payload)
}

fn blob(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for p in parts {
        put_blob(&mut out, p);
    }
    out.to_vec()
}

/// Decodes `buf` (one bad frame) followed by a valid ECHO, checking that the bad frame is answered
/// with its own id and that the ECHO behind it still decodes: the connection stays usable.
fn rejection(mut buf: BytesMut, id: u32) -> String {
    let mut echo = BytesMut::new();
    Request::Echo(Bytes::from_static(b"ping")).encode(id.wrapping_add(1), &mut echo);
    buf.extend_from_slice(&echo);
    let text = match decode_request_frame(&mut buf, MAX) {
        Ok(Some(Inbound::Rejected { id: got, error })) => {
            assert_eq!(got, id, "the ERR reply carries the frame's id");
            error.to_string()
        }
        other => panic!("expected a rejection, got {other:?}"),
    };
    assert_eq!(
        decode_request_frame(&mut buf, MAX),
        Ok(Some(Inbound::Request {
            id: id.wrapping_add(1),
            request: Request::Echo(Bytes::from_static(b"ping"))
        })),
        "the payload of the rejected frame was skipped exactly"
    );
    assert!(buf.is_empty());
    text
}

#[test]
fn unsupported_frame_type_echoes_the_id() {
    for (frame_type, id) in [(0x00u8, 1u32), (0x02, 42), (0x03, 0), (0x04, 7), (0x1F, u32::MAX), (0xFF, 9)] {
        let text = rejection(frame(frame_type, 0x00, id, b"payload is skipped"), id);
        assert_eq!(text, "Unsupported frame type");
    }
}

#[test]
fn opcodes_outside_every_range() {
    let mut codes = vec![0x01u8, 0x20];
    codes.extend(0x80..=0xFF);
    for op in codes {
        let text = rejection(request(op, 5, b"whatever"), 5);
        assert_eq!(text, format!("Unknown opcode: 0x{op:02X}"));
    }
    assert_eq!(rejection(request(0x01, 3, b""), 3), "Unknown opcode: 0x01");
    assert_eq!(rejection(request(0x20, 3, b""), 3), "Unknown opcode: 0x20");
    assert_eq!(rejection(request(0x80, 3, b""), 3), "Unknown opcode: 0x80");
    assert_eq!(rejection(request(0xFF, 3, b""), 3), "Unknown opcode: 0xFF");
    assert_eq!(rejection(request(0xab, 3, b""), 3), "Unknown opcode: 0xAB", "uppercase hex");
}

#[test]
fn unassigned_opcodes_inside_a_broker_range() {
    let cases: &[(&str, &[u8])] = &[
        ("Store", &[0x4E, 0x4F]),
        ("Queue", &[0x1F, 0x50, 0x5F]),
        ("PubSub", &[0x29, 0x2F, 0x60, 0x6F]),
        ("Stream", &[0x37, 0x73, 0x7F]),
    ];
    for (broker, codes) in cases {
        for &op in *codes {
            let text = rejection(request(op, 11, b"\0\0\0\0"), 11);
            assert_eq!(text, format!("Unknown {broker} opcode: 0x{op:02X}"));
        }
    }
    assert_eq!(rejection(request(0x4E, 1, b""), 1), "Unknown Store opcode: 0x4E");
    assert_eq!(rejection(request(0x37, 1, b""), 1), "Unknown Stream opcode: 0x37");
}

#[test]
fn truncated_fixed_fields_name_their_type() {
    // GET with no payload: the string's length prefix is a short u32.
    assert_eq!(rejection(request(0x03, 2, &[0, 0]), 2), "Payload too short for u32");
    // PEEK_DLQ without its offset.
    let mut peek = blob(&[b"q"]);
    peek.extend_from_slice(&10u32.to_be_bytes());
    assert_eq!(rejection(request(0x16, 2, &peek), 2), "Payload too short for u32");
    // FETCH with a 3-byte generation.
    let mut fetch = blob(&[b"t", b"g", b"c"]);
    fetch.extend_from_slice(&[0, 0, 1]);
    assert_eq!(rejection(request(0x32, 2, &fetch), 2), "Payload too short for u64");
    // SEEK without its target.
    assert_eq!(rejection(request(0x38, 2, &blob(&[b"t", b"g"])), 2), "Payload too short for u8");
    // Queue ACK with a 15-byte id.
    assert_eq!(rejection(request(0x13, 2, &[7; 15]), 2), "Payload too short for UUID");
    // NACK: the id comes first, so a missing id is reported even when a name follows.
    assert_eq!(rejection(request(0x1A, 2, &blob(&[b"q"])[..5]), 2), "Payload too short for UUID");
    // INCRBY without its delta (extension).
    assert_eq!(rejection(request(0x06, 2, &blob(&[b"k"])), 2), "Payload too short for i64");
}

#[test]
fn ack_batch_payload_must_match_its_count() {
    let member = |n: u32, seqs: &[u64]| {
        let mut p = blob(&[b"t", b"g", b"c"]);
        p.extend_from_slice(&7u64.to_be_bytes());
        p.extend_from_slice(&n.to_be_bytes());
        seqs.iter().for_each(|s| p.extend_from_slice(&s.to_be_bytes()));
        p
    };
    // n larger than the sequences present, smaller, and a huge n with nothing behind it.
    let text = rejection(request(0x72, 3, &member(3, &[1, 2])), 3);
    assert_eq!(text, "Invalid ACK_BATCH: 3 seqs need 24 bytes, 16 remain");
    let text = rejection(request(0x72, 3, &member(1, &[1, 2])), 3);
    assert_eq!(text, "Invalid ACK_BATCH: 1 seqs need 8 bytes, 16 remain");
    let text = rejection(request(0x72, 3, &member(u32::MAX, &[])), 3);
    assert_eq!(text, "Invalid ACK_BATCH: 4294967295 seqs need 34359738360 bytes, 0 remain");
    // A partial sequence.
    let mut cut = member(1, &[1]);
    cut.pop();
    assert_eq!(rejection(request(0x72, 3, &cut), 3), "Invalid ACK_BATCH: 1 seqs need 8 bytes, 7 remain");
    // A missing count is a short u32, as in every other layout.
    let mut no_count = blob(&[b"t", b"g", b"c"]);
    no_count.extend_from_slice(&7u64.to_be_bytes());
    assert_eq!(rejection(request(0x72, 3, &no_count), 3), "Payload too short for u32");
    // Exact: decodes, in order, duplicates kept.
    let mut buf = request(0x72, 4, &member(3, &[9, 2, 9]));
    match decode_request_frame(&mut buf, MAX) {
        Ok(Some(Inbound::Request {
            id: 4,
            request: Request::Stream(StreamRequest::AckBatch { seqs, generation, .. }),
        })) => {
            assert_eq!((seqs, generation), (vec![9, 2, 9], 7));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn expire_ext_time_kind_and_flags() {
    let payload = |flags: u8, kind: u8| {
        let mut p = blob(&[b"k"]);
        p.extend_from_slice(&[flags, kind]);
        p.extend_from_slice(&5u64.to_be_bytes());
        p
    };
    // Only kinds 1 (ms from now) and 2 (wall-clock ms) exist.
    for kind in [0u8, 3, 0xFF] {
        let text = rejection(request(0x4A, 6, &payload(0, kind)), 6);
        assert_eq!(text, format!("Invalid EXPIRE_EXT time kind: {kind}"));
    }
    // A missing time value is a short u64; a missing flags byte a short u8.
    assert_eq!(rejection(request(0x4A, 6, &payload(0, 1)[..10]), 6), "Payload too short for u64");
    assert_eq!(rejection(request(0x4A, 6, &blob(&[b"k"])), 6), "Payload too short for u8");
    // Bits 4-7 of the flags are ignored.
    let mut buf = request(0x4A, 7, &payload(0xF5, 2));
    match decode_request_frame(&mut buf, MAX) {
        Ok(Some(Inbound::Request {
            id: 7,
            request: Request::Store(StoreRequest::ExpireExt { flags, time, .. }),
        })) => {
            assert_eq!((flags.bits(), time), (0x05, nexo_proto::request::ExpireTime::AtMs(5)));
            assert!(flags.nx && !flags.xx && flags.gt && !flags.lt);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn truncated_strings() {
    let mut get = 10u32.to_be_bytes().to_vec();
    get.extend_from_slice(b"abc");
    assert_eq!(rejection(request(0x03, 4, &get), 4), "Incomplete string: expected 10 bytes");
    // The second string of a JOIN.
    let mut join = blob(&[b"group"]);
    join.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(rejection(request(0x33, 4, &join), 4), "Incomplete string: expected 4294967295 bytes");
}

#[test]
fn invalid_utf8() {
    assert_eq!(rejection(request(0x03, 6, &blob(&[&[0xC3, 0x28]])), 6), "Invalid UTF-8 in string");
    assert_eq!(rejection(request(0x22, 6, &blob(&[b"a/\xFF"])), 6), "Invalid UTF-8 in string");
    // In the JSON options too.
    assert_eq!(rejection(request(0x10, 6, &blob(&[b"q", b"{\xFF}"])), 6), "Invalid UTF-8 in string");
}

#[test]
fn bad_json_options() {
    for json in [&b"{ttl:"[..], b"{\"ttl\":\"soon\"}", b"{\"ttl\":-1}", b"[60]", b"null", b"42", b"{} {}"] {
        let mut payload = blob(&[b"key", json]);
        payload.extend_from_slice(b"value");
        let text = rejection(request(0x02, 8, &payload), 8);
        assert!(text.starts_with("Invalid JSON options: "), "{json:?}: {text}");
    }
    let queue = blob(&[b"q", b"{\"priority\":256}"]);
    assert!(rejection(request(0x11, 8, &queue), 8).starts_with("Invalid JSON options: "));
    let retain = blob(&[b"t", b"{\"retain\":\"yes\"}"]);
    assert!(rejection(request(0x21, 8, &retain), 8).starts_with("Invalid JSON options: "));
}

#[test]
fn json_options_accept_empty_unknown_and_whitespace() {
    for json in [&b""[..], b"{}", b" { } ", b"{\"ttl\":60,\"somethingNew\":[1,{\"a\":2}]}"] {
        let mut payload = blob(&[b"key", json]);
        payload.extend_from_slice(b"v");
        let mut buf = request(0x02, 1, &payload);
        match decode_request_frame(&mut buf, MAX) {
            Ok(Some(Inbound::Request {
                request: Request::Store(StoreRequest::Set { value, .. }), ..
            })) => {
                assert_eq!(&value[..], b"v");
            }
            other => panic!("{json:?}: {other:?}"),
        }
    }
}

#[test]
fn oversized_frame_is_refused_from_its_header() {
    let mut buf = BytesMut::new();
    buf.put_u8(0x01);
    buf.put_u8(0x02);
    buf.put_u32(77);
    buf.put_u32(MAX + 1);
    let err = decode_request_frame(&mut buf, MAX).unwrap_err();
    assert_eq!(err, Oversized { id: 77, len: MAX + 1, max: MAX });
    assert_eq!(err.to_string(), "Frame too large: 1025 bytes (max 1024)");
    assert_eq!(buf.len(), HEADER_LEN, "nothing consumed, nothing buffered");

    // Exactly the limit is fine.
    let mut ok = request(0x00, 78, &vec![0u8; MAX as usize]);
    assert!(matches!(decode_request_frame(&mut ok, MAX), Ok(Some(Inbound::Request { id: 78, .. }))));

    // A non-request frame type that is also oversized is still an oversized frame.
    let mut other = frame(0x09, 0, 79, &[]);
    other[6..10].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        decode_request_frame(&mut other, MAX).unwrap_err().to_string(),
        "Frame too large: 4294967295 bytes (max 1024)"
    );
}

#[test]
fn incomplete_input_is_not_an_error() {
    let full = request(0x03, 1, &blob(&[b"key"]));
    for cut in 0..full.len() {
        let mut buf = BytesMut::from(&full[..cut]);
        assert_eq!(decode_request_frame(&mut buf, MAX), Ok(None), "cut at {cut}");
        assert_eq!(buf.len(), cut, "nothing consumed");
    }
}

#[test]
fn error_type_is_typed() {
    let mut buf = request(0x37, 1, b"");
    assert_eq!(
        decode_request_frame(&mut buf, MAX),
        Ok(Some(Inbound::Rejected {
            id: 1,
            error: DecodeError::UnknownBrokerOpcode { broker: "Stream", opcode: 0x37 }
        }))
    );
}

#[test]
fn reply_with_unknown_status_is_a_protocol_error() {
    let err = Reply::decode(0x04, &Bytes::new(), ReplyKind::Data).unwrap_err();
    assert_eq!(err, DecodeError::UnknownStatus(0x04));
    assert_eq!(err.to_string(), "Unknown response status: 0x04");
}
