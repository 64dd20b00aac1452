//! Fuzzes the SQS front's request decoders: HTTP framing (`nexo_proto::http`), then for each
//! request the protocol envelope (JSON bodies, query forms and their flattened names), the typed
//! action, Signature V4 parsing and verification, receipt handles, and the encoding of the
//! resulting error or reply in the request's protocol. Checked: no panic; every response the
//! encoders write parses back as one HTTP response head with the Content-Length it declares.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use nexo_proto::http::{HttpLimits, RequestDecoder};
use nexo_session::sqs::receipt::decode_receipt;
use nexo_session::sqs::{Reply, encode_error, encode_reply, envelope, region_of, sigv4};

fn check_response(out: &[u8]) {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head)) = resp.parse(out) else { panic!("bad response head") };
    let length = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
        .expect("content-length");
    assert_eq!(out.len() - head, length);
}

fuzz_target!(|data: &[u8]| {
    let limits = HttpLimits { max_head_bytes: 4096, max_headers: 32, max_body_bytes: 64 * 1024 };
    let mut decoder = RequestDecoder::new(limits);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(req)) = decoder.decode(&mut buf) {
        let _ = region_of(&req);
        let _ = sigv4::verify(&req, |key| (key == "alice").then(|| "secret".to_owned()), 0);
        let mut out = BytesMut::new();
        match envelope(&req) {
            Err((protocol, error)) => encode_error(&mut out, protocol, &error, "rid", req.keep_alive),
            Ok(env) => {
                if let Some(handle) = env.members.get("ReceiptHandle").and_then(|v| v.as_str()) {
                    let _ = decode_receipt(handle);
                }
                match env.action() {
                    Err(error) => encode_error(&mut out, env.protocol, &error, "rid", req.keep_alive),
                    Ok(_) => encode_reply(&mut out, env.protocol, &env.action, &Reply::Empty, "rid", true),
                }
            }
        }
        check_response(&out);
    }
});
