//! AWS Signature Version 4 verification of a request signed in its `Authorization` header.
//!
//! The server recomputes the signature from the request and the signer's secret and compares
//! it in constant time (`hmac`'s `verify_slice`). Errors are AWS's: `MissingAuthenticationToken`
//! (no signature), `IncompleteSignature` (malformed), `InvalidClientTokenId` (unknown key),
//! `SignatureDoesNotMatch`, `RequestExpired` (clock skew over 15 minutes). Secrets are never
//! formatted into messages. Presigned URLs (signature in the query) are not accepted.

use hmac::{Hmac, Mac};
use nexo_proto::http::HttpRequest;
use sha2::{Digest, Sha256};

use super::error::{ErrorCode, SqsError};
use super::form::decode_form;
use super::message::hex;

type HmacSha256 = Hmac<Sha256>;

/// Largest allowed difference between the request's time and the server's.
pub const MAX_CLOCK_SKEW_MS: i64 = 15 * 60 * 1000;

/// The parsed `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id (the Nexo user name).
    pub access_key: String,
    /// Credential scope date, `YYYYMMDD`.
    pub date: String,
    /// Credential scope region.
    pub region: String,
    /// Credential scope service.
    pub service: String,
    /// Signed header names, lower-case, in the order given.
    pub signed_headers: Vec<String>,
    /// The signature, as hex.
    pub signature: String,
}

fn incomplete(why: &str) -> SqsError {
    SqsError::new(ErrorCode::IncompleteSignature, format!("Authorization header is malformed: {why}."))
}

/// Parses the request's `Authorization` header.
///
/// # Errors
/// `MissingAuthenticationToken` without one, `IncompleteSignature` when malformed.
pub fn parse_authorization(req: &HttpRequest) -> Result<Authorization, SqsError> {
    let Some(header) = req.header_str("authorization") else {
        return Err(SqsError::new(
            ErrorCode::MissingAuthenticationToken,
            "Request is missing Authentication Token",
        ));
    };
    let rest = header.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| incomplete("unsupported algorithm"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(incomplete("unknown component")),
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete("Credential, SignedHeaders and Signature are required"));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(incomplete("bad credential scope"));
    };
    let valid_hex = signature.len() == 64 && signature.bytes().all(|b| b.is_ascii_hexdigit());
    if key.is_empty() || date.len() != 8 || !valid_hex {
        return Err(incomplete("bad credential or signature"));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(incomplete("the host header must be signed"));
    }
    Ok(Authorization {
        access_key: (*key).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
        signed_headers,
        signature: signature.to_owned(),
    })
}

/// Verifies a request's signature. `secret_of` gives a user's SQS secret; `now_wall_ms` is the
/// server's wall clock (an input: this module reads no clock).
///
/// # Errors
/// One of the SigV4 errors listed in the module docs.
pub fn verify(
    req: &HttpRequest,
    secret_of: impl FnOnce(&str) -> Option<String>,
    now_wall_ms: i64,
) -> Result<Authorization, SqsError> {
    let auth = parse_authorization(req)?;
    let Some(secret) = secret_of(&auth.access_key) else {
        return Err(SqsError::new(
            ErrorCode::InvalidClientTokenId,
            "The security token included in the request is invalid.",
        ));
    };
    let amz_date = req.header_str("x-amz-date").ok_or_else(|| incomplete("X-Amz-Date is required"))?;
    let signed_ms = parse_amz_date(amz_date).ok_or_else(|| incomplete("bad X-Amz-Date"))?;
    if (now_wall_ms - signed_ms).abs() > MAX_CLOCK_SKEW_MS {
        return Err(SqsError::new(
            ErrorCode::RequestExpired,
            format!("Signature expired: {amz_date} is not within 15 minutes of the server's time."),
        ));
    }
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let canonical = canonical_request(req, &auth.signed_headers);
    let to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let key = signing_key(&secret, &auth.date, &auth.region, &auth.service);
    let mut mac = hmac_of(&key);
    mac.update(to_sign.as_bytes());
    let given = unhex(&auth.signature);
    if !amz_date.starts_with(&auth.date) || mac.verify_slice(&given).is_err() {
        return Err(SqsError::new(
            ErrorCode::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(auth)
}

fn hmac_of(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; new_from_slice fails for none.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = hmac_of(key);
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The SigV4 signing key for a secret and credential scope.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    hmac(&k_service, "aws4_request")
}

/// The canonical request SigV4 signs.
pub fn canonical_request(req: &HttpRequest, signed_headers: &[String]) -> String {
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let path = if path.is_empty() { "/" } else { path };
    let mut pairs: Vec<(String, String)> = decode_form(query.replace('+', "%2B").as_bytes())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut out = format!("{}\n{}\n{}\n", req.method, path, query.join("&"));
    for name in signed_headers {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|h| &h.name == name)
            .map(|h| collapse_spaces(&String::from_utf8_lossy(&h.value)))
            .collect();
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload =
        req.header_str("x-amz-content-sha256").map_or_else(|| hex(&Sha256::digest(&req.body)), str::to_owned);
    out.push_str(&format!("\n{}\n{payload}", signed_headers.join(";")));
    out
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unhex(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks(2)
        .filter_map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

/// Milliseconds since the epoch of an `X-Amz-Date` (`YYYYMMDDTHHMMSSZ`).
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000)
}
