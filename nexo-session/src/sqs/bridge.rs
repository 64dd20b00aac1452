//! Between SQS actions and the Queue engine's SQS input: the engine commands an action becomes,
//! and the SQS results the engine's answers become (message ids as UUID text, MD5s, receipt
//! handles, system attributes, v1 bodies made readable over SQS, outcome errors).
//!
//! Pure functions; the session that sequences them per connection is not written yet (see
//! docs/PROTOCOL.md §9). Message attributes are not stored by the engine yet, so received
//! messages carry none.

use bytes::Bytes;
use nexo_engine::queue::{Delivered, SqsCommand, SqsReply};

use super::action::{HandleEntry, Receive, SendEntry};
use super::error::{ErrorCode, SqsError};
use super::message::{attributes_md5, is_sqs_text, md5_hex};
use super::receipt::{decode_receipt, encode_receipt};
use super::reply::{Failed, Received, Sent};

/// First byte of a body a v1 SDK wrote with its type tag (`0x01` text, `0x02` JSON).
const V1_TAGS: [u8; 2] = [0x01, 0x02];

/// System attributes a receive can return (`All` selects every one).
pub const SYSTEM_ATTRIBUTES: [&str; 1] = ["ApproximateReceiveCount"];

/// The engine command that sends `entry` to `queue`; `queue_delay_s` applies when the entry
/// names no delay.
pub fn send_command(queue: &str, entry: &SendEntry, queue_delay_s: u32) -> SqsCommand {
    let delay_s = entry.delay_s.unwrap_or(queue_delay_s);
    SqsCommand::Send {
        name: queue.to_owned(),
        payload: Bytes::copy_from_slice(entry.body.as_bytes()),
        delay_ms: u64::from(delay_s) * 1000,
    }
}

/// What SendMessage answers for `entry` once the engine stored it as `id`.
pub fn sent(entry: &SendEntry, id: &[u8; 16]) -> Sent {
    Sent {
        id: entry.id.clone(),
        message_id: uuid_text(id),
        md5_of_body: md5_hex(entry.body.as_bytes()),
        md5_of_attributes: attributes_md5(&entry.attributes),
        md5_of_system_attributes: attributes_md5(&entry.system_attributes),
    }
}

/// The engine command of a DeleteMessage or ChangeMessageVisibility entry.
///
/// # Errors
/// `ReceiptHandleIsInvalid` when the handle is not one this server wrote.
pub fn handle_command(
    queue: &str,
    entry: &HandleEntry,
    change_visibility: bool,
) -> Result<SqsCommand, SqsError> {
    let (id, token) = decode_receipt(&entry.receipt_handle)?;
    let name = queue.to_owned();
    Ok(if change_visibility {
        let visibility_ms = u64::from(entry.visibility_timeout_s) * 1000;
        SqsCommand::ChangeVisibility { name, id, token, visibility_ms }
    } else {
        SqsCommand::Delete { name, id, token }
    })
}

/// The error an engine answer stands for, if any (a stale Delete is a success, as in AWS).
///
/// # Errors
/// The SQS error of `ReceiptInvalid`, `NotInflight`, `NoQueue` and `Refused`.
pub fn outcome(reply: &SqsReply) -> Result<(), SqsError> {
    match reply {
        SqsReply::ReceiptInvalid => Err(SqsError::new(
            ErrorCode::ReceiptHandleIsInvalid,
            "The receipt handle is not the message's current delivery.",
        )),
        SqsReply::NotInflight => {
            Err(SqsError::new(ErrorCode::MessageNotInflight, "The message referred to isn't in flight."))
        }
        SqsReply::NoQueue => Err(SqsError::no_queue()),
        SqsReply::Refused(text) if text.starts_with("Storage unavailable") => {
            Err(SqsError::new(ErrorCode::ServiceUnavailable, text.clone()))
        }
        SqsReply::Refused(text) => Err(SqsError::new(ErrorCode::OverLimit, text.clone())),
        _ => Ok(()),
    }
}

/// A failed batch entry for `error`.
pub fn failed(id: &str, error: &SqsError) -> Failed {
    Failed {
        id: id.to_owned(),
        sender_fault: error.code.sender_fault(),
        code: error.code.query_code().to_owned(),
        message: error.message.clone(),
    }
}

/// One received message as SQS returns it: a v1 type tag removed from the body, the system
/// attributes `receive` asked for.
///
/// # Errors
/// `InvalidMessageContents` for a body that is not SQS text (not UTF-8, or characters outside
/// XML 1.0's), which SQS cannot carry: the message stays in flight under this delivery and
/// becomes visible again when it ends (v1 consumers can read it).
pub fn received(delivery: &Delivered, receive: &Receive) -> Result<Received, SqsError> {
    let raw = &delivery.payload[..];
    let body = match raw.split_first() {
        Some((tag, rest)) if V1_TAGS.contains(tag) => rest,
        _ => raw,
    };
    let body = std::str::from_utf8(body).ok().filter(|text| is_sqs_text(text)).ok_or_else(|| {
        SqsError::new(
            ErrorCode::InvalidMessageContents,
            format!("Message {} has a body SQS cannot carry (not XML 1.0 text).", uuid_text(&delivery.id)),
        )
    })?;
    let all = receive.system_attribute_names.iter().any(|n| n == "All");
    let wanted = |name: &str| all || receive.system_attribute_names.iter().any(|n| n == name);
    let mut attributes = Vec::new();
    if wanted("ApproximateReceiveCount") {
        attributes.push(("ApproximateReceiveCount".to_owned(), delivery.receive_count.to_string()));
    }
    Ok(Received {
        message_id: uuid_text(&delivery.id),
        receipt_handle: encode_receipt(&delivery.id, delivery.token),
        md5_of_body: md5_hex(body.as_bytes()),
        body: body.to_owned(),
        attributes,
        md5_of_attributes: None,
        message_attributes: Vec::new(),
    })
}

/// A message id as SQS writes it: UUID text (8-4-4-4-12 lower-case hex).
pub fn uuid_text(id: &[u8; 16]) -> String {
    let hex = super::message::hex(id);
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(names: &[&str]) -> Receive {
        Receive {
            queue: "q".into(),
            max_messages: 1,
            visibility_timeout_s: None,
            wait_time_s: None,
            system_attribute_names: names.iter().map(|n| (*n).to_owned()).collect(),
            message_attribute_names: Vec::new(),
        }
    }

    fn delivery(payload: &'static [u8]) -> Delivered {
        Delivered { id: [0x11; 16], payload: Bytes::from_static(payload), token: 7, receive_count: 3 }
    }

    #[test]
    fn v1_bodies_lose_their_tag_and_foreign_bytes_are_refused() {
        let r = received(&delivery(b"\x01hello"), &receive(&["All"])).unwrap();
        assert_eq!(r.body, "hello");
        assert_eq!(r.md5_of_body, md5_hex(b"hello"));
        assert_eq!(r.attributes, [("ApproximateReceiveCount".to_owned(), "3".to_owned())]);
        assert_eq!(r.message_id, "11111111-1111-1111-1111-111111111111");
        assert_eq!(decode_receipt(&r.receipt_handle).unwrap(), ([0x11; 16], 7));
        assert_eq!(received(&delivery(b"\x02{}"), &receive(&[])).unwrap().body, "{}");
        assert!(received(&delivery(b"plain"), &receive(&[])).unwrap().attributes.is_empty());
        for bad in [&b"\xff\xfe"[..], b"a\x00b", b"\x01\x07"] {
            let d = Delivered { payload: Bytes::copy_from_slice(bad), ..delivery(b"") };
            assert_eq!(
                received(&d, &receive(&[])).map_err(|e| e.code),
                Err(ErrorCode::InvalidMessageContents)
            );
        }
    }

    #[test]
    fn commands_and_outcomes() {
        let entry = SendEntry {
            id: "a".into(),
            body: "b".into(),
            delay_s: None,
            attributes: Vec::new(),
            system_attributes: Vec::new(),
        };
        let SqsCommand::Send { delay_ms, .. } = send_command("q", &entry, 5) else { panic!() };
        assert_eq!(delay_ms, 5_000);
        let handle = HandleEntry {
            id: "x".into(),
            receipt_handle: encode_receipt(&[1; 16], 9),
            visibility_timeout_s: 2,
        };
        let cmd = handle_command("q", &handle, true).unwrap();
        assert_eq!(
            cmd,
            SqsCommand::ChangeVisibility { name: "q".into(), id: [1; 16], token: 9, visibility_ms: 2_000 }
        );
        let bad = HandleEntry { receipt_handle: "nope".into(), ..handle };
        assert_eq!(
            handle_command("q", &bad, false).map_err(|e| e.code),
            Err(ErrorCode::ReceiptHandleIsInvalid)
        );
        assert_eq!(outcome(&SqsReply::Deleted { removed: false }), Ok(()));
        assert_eq!(
            outcome(&SqsReply::ReceiptInvalid).map_err(|e| e.code),
            Err(ErrorCode::ReceiptHandleIsInvalid)
        );
        assert_eq!(outcome(&SqsReply::NotInflight).map_err(|e| e.code), Err(ErrorCode::MessageNotInflight));
        let f = failed("x", &SqsError::no_queue());
        assert_eq!((f.code.as_str(), f.sender_fault), ("AWS.SimpleQueueService.NonExistentQueue", true));
        assert_eq!(sent(&entry, &[0; 16]).md5_of_body, md5_hex(b"b"));
    }
}
