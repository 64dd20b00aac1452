//! Queue names, URLs and ARNs: `http://<Host>/<account>/<name>` and
//! `arn:aws:sqs:<region>:<account>:<name>`, parsed and built.

use super::action::fifo_refused;
use super::error::{ErrorCode, SqsError};

/// The account id in URLs and ARNs unless configured otherwise.
pub const DEFAULT_ACCOUNT: &str = "000000000000";
/// The region when a request carries no credential scope.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Longest queue name.
pub const MAX_QUEUE_NAME_CHARS: usize = 80;

/// Checks a queue name: 1–80 of `[A-Za-z0-9_-]`; a `.fifo` name is refused as FIFO.
///
/// # Errors
/// `UnsupportedOperation` for FIFO names, `InvalidParameterValue` otherwise.
pub fn check_queue_name(name: &str) -> Result<(), SqsError> {
    if name.ends_with(".fifo") {
        return Err(fifo_refused());
    }
    let ok = !name.is_empty()
        && name.len() <= MAX_QUEUE_NAME_CHARS
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SqsError::new(
            ErrorCode::InvalidParameterValue,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ))
    }
}

/// The queue name a `QueueUrl` names: its last path segment (after `/<account>/`). The host is
/// not checked (clients may reach the server under any name).
///
/// # Errors
/// `QueueDoesNotExist` when the URL has no `/<account>/<name>` path or the name is invalid.
pub fn queue_from_url(url: &str) -> Result<String, SqsError> {
    let path = match url.find("://") {
        Some(scheme_end) => {
            let rest = &url[scheme_end + 3..];
            rest.find('/').map_or("", |slash| &rest[slash..])
        }
        None => url,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let (Some(_account), Some(name), None) = (segments.next(), segments.next(), segments.next()) else {
        return Err(SqsError::no_queue());
    };
    if name.ends_with(".fifo") {
        return Err(fifo_refused());
    }
    check_queue_name(name).map_err(|_| SqsError::no_queue())?;
    Ok(name.to_owned())
}

/// `http://<host>/<account>/<name>`.
pub fn queue_url(host: &str, account: &str, name: &str) -> String {
    format!("http://{host}/{account}/{name}")
}

/// `arn:aws:sqs:<region>:<account>:<name>`.
pub fn queue_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:sqs:{region}:{account}:{name}")
}

/// The queue name of an SQS queue ARN (any region and account).
///
/// # Errors
/// `InvalidParameterValue` when `arn` is not an SQS queue ARN.
pub fn queue_from_arn(arn: &str) -> Result<String, SqsError> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sqs", _, _, name] if check_queue_name(name).is_ok() => Ok((*name).to_owned()),
        _ => Err(SqsError::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "Value {arn} for parameter deadLetterTargetArn is invalid. Reason: not an SQS queue ARN."
            ),
        )),
    }
}
