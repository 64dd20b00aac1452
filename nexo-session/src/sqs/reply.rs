//! SQS replies as typed values, encoded as the JSON protocol's objects or the query protocol's
//! XML documents (`xml.rs`).

use serde_json::{Map, Value, json};

use super::message::{AttributeValue, MessageAttribute, base64};

/// What SendMessage answers for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Batch entry id (empty for SendMessage).
    pub id: String,
    /// The new message's id.
    pub message_id: String,
    /// MD5 of the body.
    pub md5_of_body: String,
    /// MD5 of the message attributes, if any.
    pub md5_of_attributes: Option<String>,
    /// MD5 of the message system attributes, if any.
    pub md5_of_system_attributes: Option<String>,
}

/// A failed batch entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// Batch entry id.
    pub id: String,
    /// Whether the client is at fault.
    pub sender_fault: bool,
    /// The error code (the query code).
    pub code: String,
    /// The error message.
    pub message: String,
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Message id.
    pub message_id: String,
    /// Receipt handle of this delivery.
    pub receipt_handle: String,
    /// MD5 of the body.
    pub md5_of_body: String,
    /// The body.
    pub body: String,
    /// System attributes asked for (name, value).
    pub attributes: Vec<(String, String)>,
    /// MD5 of the message attributes returned, if any.
    pub md5_of_attributes: Option<String>,
    /// Message attributes asked for.
    pub message_attributes: Vec<MessageAttribute>,
}

/// A successful SQS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields are the SQS members of the same names")]
pub enum Reply {
    /// Actions whose result has no members (DeleteQueue, DeleteMessage, TagQueue, …).
    Empty,
    QueueUrl(String),
    QueueUrls {
        urls: Vec<String>,
        next_token: Option<String>,
        dead_letter_sources: bool,
    },
    Attributes(Vec<(String, String)>),
    Tags(Vec<(String, String)>),
    SendMessage(Sent),
    SendMessageBatch {
        successful: Vec<Sent>,
        failed: Vec<Failed>,
    },
    ReceiveMessage(Vec<Received>),
    /// DeleteMessageBatch and ChangeMessageVisibilityBatch.
    HandleBatch {
        successful: Vec<String>,
        failed: Vec<Failed>,
    },
}

fn string_map(pairs: &[(String, String)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

fn sent_json(s: &Sent, with_id: bool) -> Value {
    let mut o = Map::new();
    if with_id {
        o.insert("Id".into(), json!(s.id));
    }
    o.insert("MessageId".into(), json!(s.message_id));
    o.insert("MD5OfMessageBody".into(), json!(s.md5_of_body));
    if let Some(m) = &s.md5_of_attributes {
        o.insert("MD5OfMessageAttributes".into(), json!(m));
    }
    if let Some(m) = &s.md5_of_system_attributes {
        o.insert("MD5OfMessageSystemAttributes".into(), json!(m));
    }
    Value::Object(o)
}

fn failed_json(f: &[Failed]) -> Value {
    f.iter()
        .map(|f| json!({"Id": f.id, "SenderFault": f.sender_fault, "Code": f.code, "Message": f.message}))
        .collect()
}

/// The JSON of one message attribute's value.
pub fn attribute_json(a: &MessageAttribute) -> Value {
    match &a.value {
        AttributeValue::Text(s) => json!({"StringValue": s, "DataType": a.data_type}),
        AttributeValue::Binary(b) => json!({"BinaryValue": base64(b), "DataType": a.data_type}),
    }
}

fn received_json(m: &Received) -> Value {
    let mut o = Map::new();
    o.insert("MessageId".into(), json!(m.message_id));
    o.insert("ReceiptHandle".into(), json!(m.receipt_handle));
    o.insert("MD5OfBody".into(), json!(m.md5_of_body));
    o.insert("Body".into(), json!(m.body));
    if !m.attributes.is_empty() {
        o.insert("Attributes".into(), string_map(&m.attributes));
    }
    if let Some(md5) = &m.md5_of_attributes {
        o.insert("MD5OfMessageAttributes".into(), json!(md5));
        let attrs = m.message_attributes.iter().map(|a| (a.name.clone(), attribute_json(a)));
        o.insert("MessageAttributes".into(), Value::Object(attrs.collect()));
    }
    Value::Object(o)
}

impl Reply {
    /// The JSON protocol's body.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Empty => json!({}),
            Self::QueueUrl(url) => json!({"QueueUrl": url}),
            Self::QueueUrls { urls, next_token, dead_letter_sources } => {
                let key = if *dead_letter_sources { "queueUrls" } else { "QueueUrls" };
                let mut o = Map::new();
                o.insert(key.into(), json!(urls));
                if let Some(t) = next_token {
                    o.insert("NextToken".into(), json!(t));
                }
                Value::Object(o)
            }
            Self::Attributes(a) => json!({"Attributes": string_map(a)}),
            Self::Tags(t) => json!({"Tags": string_map(t)}),
            Self::SendMessage(s) => sent_json(s, false),
            Self::SendMessageBatch { successful, failed } => json!({
                "Successful": successful.iter().map(|s| sent_json(s, true)).collect::<Vec<_>>(),
                "Failed": failed_json(failed),
            }),
            Self::ReceiveMessage(messages) => {
                json!({"Messages": messages.iter().map(received_json).collect::<Vec<_>>()})
            }
            Self::HandleBatch { successful, failed } => json!({
                "Successful": successful.iter().map(|id| json!({"Id": id})).collect::<Vec<_>>(),
                "Failed": failed_json(failed),
            }),
        }
    }
}
