//! The query protocol's XML documents: replies wrapped in `<{Action}Response>` with a
//! `<{Action}Result>` and a request id, and `<ErrorResponse>` documents.

use std::fmt::Write as _;

use super::error::SqsError;
use super::message::{AttributeValue, MessageAttribute, base64};
use super::reply::{Failed, Received, Reply, Sent};

/// The query protocol's XML namespace.
pub const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Appends `text` with XML's special characters escaped, and characters XML cannot carry
/// literally (CR, other controls allowed in bodies) as character references.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>");
    escape_into(out, text);
    let _ = write!(out, "</{name}>");
}

fn pairs(out: &mut String, wrapper: &str, key: &str, items: &[(String, String)]) {
    for (k, v) in items {
        let _ = write!(out, "<{wrapper}>");
        element(out, key, k);
        element(out, "Value", v);
        let _ = write!(out, "</{wrapper}>");
    }
}

fn sent(out: &mut String, s: &Sent, wrapper: Option<&str>) {
    if let Some(w) = wrapper {
        let _ = write!(out, "<{w}>");
        element(out, "Id", &s.id);
    }
    element(out, "MessageId", &s.message_id);
    element(out, "MD5OfMessageBody", &s.md5_of_body);
    if let Some(m) = &s.md5_of_attributes {
        element(out, "MD5OfMessageAttributes", m);
    }
    if let Some(m) = &s.md5_of_system_attributes {
        element(out, "MD5OfMessageSystemAttributes", m);
    }
    if let Some(w) = wrapper {
        let _ = write!(out, "</{w}>");
    }
}

fn failed(out: &mut String, failed: &[Failed]) {
    for f in failed {
        out.push_str("<BatchResultErrorEntry>");
        element(out, "Id", &f.id);
        element(out, "SenderFault", if f.sender_fault { "true" } else { "false" });
        element(out, "Code", &f.code);
        element(out, "Message", &f.message);
        out.push_str("</BatchResultErrorEntry>");
    }
}

fn attribute(out: &mut String, a: &MessageAttribute) {
    out.push_str("<MessageAttribute>");
    element(out, "Name", &a.name);
    out.push_str("<Value>");
    match &a.value {
        AttributeValue::Text(s) => element(out, "StringValue", s),
        AttributeValue::Binary(b) => element(out, "BinaryValue", &base64(b)),
    }
    element(out, "DataType", &a.data_type);
    out.push_str("</Value></MessageAttribute>");
}

fn received(out: &mut String, m: &Received) {
    out.push_str("<Message>");
    element(out, "MessageId", &m.message_id);
    element(out, "ReceiptHandle", &m.receipt_handle);
    element(out, "MD5OfBody", &m.md5_of_body);
    element(out, "Body", &m.body);
    pairs(out, "Attribute", "Name", &m.attributes);
    if let Some(md5) = &m.md5_of_attributes {
        element(out, "MD5OfMessageAttributes", md5);
        m.message_attributes.iter().for_each(|a| attribute(out, a));
    }
    out.push_str("</Message>");
}

fn result_members(out: &mut String, reply: &Reply, action: &str) {
    match reply {
        Reply::Empty => {}
        Reply::QueueUrl(url) => element(out, "QueueUrl", url),
        Reply::QueueUrls { urls, next_token, .. } => {
            urls.iter().for_each(|u| element(out, "QueueUrl", u));
            if let Some(t) = next_token {
                element(out, "NextToken", t);
            }
        }
        Reply::Attributes(a) => pairs(out, "Attribute", "Name", a),
        Reply::Tags(t) => pairs(out, "Tag", "Key", t),
        Reply::SendMessage(s) => sent(out, s, None),
        Reply::SendMessageBatch { successful, failed: f } => {
            successful.iter().for_each(|s| sent(out, s, Some("SendMessageBatchResultEntry")));
            failed(out, f);
        }
        Reply::ReceiveMessage(messages) => messages.iter().for_each(|m| received(out, m)),
        Reply::HandleBatch { successful, failed: f } => {
            let entry = format!("{action}ResultEntry");
            for id in successful {
                let _ = write!(out, "<{entry}>");
                element(out, "Id", id);
                let _ = write!(out, "</{entry}>");
            }
            failed(out, f);
        }
    }
}

/// The query protocol's reply document for `action`.
pub fn reply_document(action: &str, reply: &Reply, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\"?>");
    let _ = write!(out, "<{action}Response xmlns=\"{XMLNS}\">");
    if !matches!(reply, Reply::Empty) {
        let _ = write!(out, "<{action}Result>");
        result_members(&mut out, reply, action);
        let _ = write!(out, "</{action}Result>");
    }
    out.push_str("<ResponseMetadata>");
    element(&mut out, "RequestId", request_id);
    let _ = write!(out, "</ResponseMetadata></{action}Response>");
    out
}

/// The query protocol's error document.
pub fn error_document(error: &SqsError, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\"?>");
    let _ = write!(out, "<ErrorResponse xmlns=\"{XMLNS}\"><Error>");
    element(&mut out, "Type", if error.code.sender_fault() { "Sender" } else { "Receiver" });
    element(&mut out, "Code", error.code.query_code());
    element(&mut out, "Message", &error.message);
    out.push_str("<Detail/></Error>");
    element(&mut out, "RequestId", request_id);
    out.push_str("</ErrorResponse>");
    out
}
