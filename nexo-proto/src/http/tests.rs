//! Unit tests of the HTTP/1.1 request decoder and response encoder.

use bytes::BytesMut;

use super::*;

fn limits() -> HttpLimits {
    HttpLimits { max_head_bytes: 1024, max_headers: 8, max_body_bytes: 64 }
}

/// Feeds `wire` one byte at a time, collecting requests until an error.
fn byte_by_byte(wire: &[u8], limits: HttpLimits) -> (Vec<HttpRequest>, Option<HttpError>) {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for b in wire {
        buf.extend_from_slice(&[*b]);
        loop {
            match d.decode(&mut buf) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn whole(wire: &[u8], limits: HttpLimits) -> (Vec<HttpRequest>, Option<HttpError>) {
    let mut d = RequestDecoder::new(limits);
    let mut buf = BytesMut::from(wire);
    let mut out = Vec::new();
    loop {
        match d.decode(&mut buf) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// A request as botocore sends SQS's JSON protocol (headers trimmed to the framing ones).
const BOTO_JSON: &[u8] = b"POST / HTTP/1.1\r\nHost: localhost:9324\r\nAccept-Encoding: identity\r\n\
X-Amz-Target: AmazonSQS.ListQueues\r\nContent-Type: application/x-amz-json-1.0\r\n\
User-Agent: Boto3/1.35.0 md/Botocore#1.35.0\r\nX-Amz-Date: 20240101T000000Z\r\n\
Content-Length: 2\r\n\r\n{}";

#[test]
fn a_botocore_request_decodes_whole_and_byte_by_byte() {
    for (reqs, err) in [whole(BOTO_JSON, limits()), byte_by_byte(BOTO_JSON, limits())] {
        assert_eq!(err, None);
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!((r.method.as_str(), r.target.as_str(), r.version_minor), ("POST", "/", 1));
        assert_eq!(r.header_str("x-amz-target"), Some("AmazonSQS.ListQueues"));
        assert_eq!(&r.body[..], b"{}");
        assert!(r.keep_alive);
    }
}

#[test]
fn pipelined_requests_come_out_in_order() {
    let wire = [BOTO_JSON, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", BOTO_JSON].concat();
    let (reqs, err) = whole(&wire, limits());
    assert_eq!(err, None);
    let targets: Vec<_> = reqs.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/", "/a", "/"]);
    assert_eq!(byte_by_byte(&wire, limits()), (reqs, None));
}

#[test]
fn chunked_bodies_drop_extensions_and_trailers() {
    let wire = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n\
5;name=v\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: 1\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    for (reqs, err) in [whole(wire, limits()), byte_by_byte(wire, limits())] {
        assert_eq!(err, None);
        assert_eq!(reqs.len(), 2);
        assert_eq!(&reqs[0].body[..], b"hello, world!!!");
        assert!(reqs[1].body.is_empty());
    }
}

#[test]
fn keep_alive_follows_version_and_connection_header() {
    let cases: [(&[u8], bool); 4] = [
        (b"GET / HTTP/1.1\r\n\r\n", true),
        (b"GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
    ];
    for (wire, expected) in cases {
        let (reqs, _) = whole(wire, limits());
        assert_eq!(reqs[0].keep_alive, expected, "{}", String::from_utf8_lossy(wire));
    }
}

#[test]
fn bad_framing_gets_the_right_status() {
    let cases: [(&[u8], u16); 10] = [
        (b"GET / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", 400),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n", 413),
        (b"GET\x01/ HTTP/1.1\r\n\r\n", 400),
    ];
    for (wire, status) in cases {
        let (_, err) = whole(wire, limits());
        let got = err.map(HttpError::status);
        assert_eq!(got, Some(status), "{}", String::from_utf8_lossy(wire));
        assert_eq!(byte_by_byte(wire, limits()).1.map(HttpError::status), Some(status));
    }
}

#[test]
fn chunked_bodies_are_bounded_in_total() {
    let wire = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n\
aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n20\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n1\r\n";
    assert_eq!(whole(wire, limits()).1, Some(HttpError::PayloadTooLarge));
}

#[test]
fn heads_and_trailers_are_bounded() {
    let big = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; 2000]].concat();
    assert_eq!(byte_by_byte(&big, limits()).1, Some(HttpError::HeadersTooLarge));
    let many: Vec<u8> = [b"GET / HTTP/1.1\r\n".as_slice(), &b"A: b\r\n".repeat(9), b"\r\n"].concat();
    assert_eq!(whole(&many, limits()).1, Some(HttpError::HeadersTooLarge));
    let trailer = [
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".as_slice(),
        &b"T: 1234567890\r\n".repeat(100),
    ]
    .concat();
    assert_eq!(byte_by_byte(&trailer, limits()).1, Some(HttpError::HeadersTooLarge));
}

#[test]
fn an_error_sticks() {
    let mut d = RequestDecoder::new(limits());
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"[..]);
    assert!(d.decode(&mut buf).is_err());
    let mut next = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
    assert!(d.decode(&mut next).is_err());
}

#[test]
fn http_2_and_0_9_are_refused() {
    assert_eq!(whole(b"GET / HTTP/2.0\r\n\r\n", limits()).1.map(HttpError::status), Some(505));
    assert!(whole(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", limits()).1.is_some());
}

#[test]
fn expect_continue_is_signalled_until_the_body_starts() {
    let mut d = RequestDecoder::new(limits());
    let mut buf =
        BytesMut::from(&b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"[..]);
    assert_eq!(d.decode(&mut buf), Ok(None));
    assert!(d.is_mid_request());
    assert!(d.take_continue());
    assert!(!d.take_continue());
    buf.extend_from_slice(b"abc");
    let r = d.decode(&mut buf).unwrap().unwrap();
    assert_eq!(&r.body[..], b"abc");
    assert!(!d.is_mid_request());
}

#[test]
fn responses_are_encoded_exactly() {
    let mut out = BytesMut::new();
    encode_response(&mut out, 200, &[("Content-Type", "application/x-amz-json-1.0")], b"{}", true);
    encode_response(&mut out, 400, &[], b"", false);
    encode_continue(&mut out);
    assert_eq!(
        &out[..],
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: 2\r\n\r\n{}\
HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n\
HTTP/1.1 100 Continue\r\n\r\n"
    );
    let mut err = BytesMut::new();
    encode_error(&mut err, HttpError::HeadersTooLarge);
    assert!(err.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert!(err.ends_with(b"\r\n\r\nrequest header fields too large"));
}
