//! Fuzzes the HTTP/1.1 request decoder, `nexo_proto::http::RequestDecoder`.
//!
//! Input layout: byte 0 picks small limits, byte 1 seeds how the rest is cut into chunks, the
//! remaining bytes are the wire. Checked:
//! - no panic;
//! - the read buffer never holds more than a head limit's worth of an incomplete head;
//! - every body is within the body limit;
//! - feeding the wire in chunks gives exactly what feeding it whole gives (requests, then the
//!   same error or none);
//! - re-encoding the requests with Content-Length decodes back to the same requests.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nexo_proto::http::{HttpError, HttpLimits, HttpRequest, RequestDecoder};

#[path = "common/chunks.rs"]
mod chunks;
use chunks::Chunks;

/// Largest chunk fed at once.
const MAX_CHUNK: usize = 61;

fn drain(d: &mut RequestDecoder, buf: &mut BytesMut, out: &mut Vec<HttpRequest>) -> Result<(), HttpError> {
    loop {
        match d.decode(buf)? {
            Some(r) => {
                assert!(r.body.len() <= d.limits().max_body_bytes, "body past the limit");
                out.push(r);
            }
            None => {
                if !d.is_mid_request() {
                    assert!(buf.len() < d.limits().max_head_bytes, "head buffered past the limit");
                }
                return Ok(());
            }
        }
    }
}

fn reencode(requests: &[HttpRequest]) -> Vec<u8> {
    let mut wire = Vec::new();
    for r in requests {
        wire.extend_from_slice(
            format!("{} {} HTTP/1.{}\r\n", r.method, r.target, r.version_minor).as_bytes(),
        );
        for h in r.headers.iter().filter(|h| h.name != "content-length" && h.name != "transfer-encoding") {
            wire.extend_from_slice(h.name.as_bytes());
            wire.extend_from_slice(b": ");
            wire.extend_from_slice(&h.value);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", r.body.len()).as_bytes());
        wire.extend_from_slice(&r.body);
    }
    wire
}

fuzz_target!(|data: &[u8]| {
    let [limit, seed, wire @ ..] = data else { return };
    let limits = HttpLimits {
        max_head_bytes: 64 + usize::from(*limit) * 4,
        max_headers: 1 + usize::from(*limit % 16),
        max_body_bytes: usize::from(*limit) * 8,
    };

    let mut whole_decoder = RequestDecoder::new(limits);
    let mut whole = BytesMut::from(wire);
    let mut expected = Vec::new();
    let whole_result = drain(&mut whole_decoder, &mut whole, &mut expected);

    let mut decoder = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut chunked_result = Ok(());
    for chunk in Chunks::new(*seed, wire, MAX_CHUNK) {
        buf.extend_from_slice(chunk);
        chunked_result = drain(&mut decoder, &mut buf, &mut got);
        if chunked_result.is_err() {
            break;
        }
    }
    assert_eq!(got, expected, "chunked decoding differs from whole decoding");
    assert_eq!(chunked_result, whole_result);

    let big = HttpLimits { max_head_bytes: 1 << 20, max_headers: 64, max_body_bytes: 1 << 20 };
    let mut again = BytesMut::from(&reencode(&expected)[..]);
    let mut back = Vec::new();
    drain(&mut RequestDecoder::new(big), &mut again, &mut back).expect("re-encoded requests decode");
    assert_eq!(back.len(), expected.len());
    for (b, e) in back.iter().zip(&expected) {
        assert_eq!(
            (&b.method, &b.target, &b.body, b.keep_alive),
            (&e.method, &e.target, &e.body, e.keep_alive)
        );
    }
});
