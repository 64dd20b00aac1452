//! SQS actions as typed values, decoded from the request members both protocols produce.
//!
//! Decoding checks everything that needs no queue state: required members, ranges (AWS's
//! limits), batch shapes (1–10 entries, distinct well-formed ids, 1 MiB in total), attribute
//! names and values, body characters, queue URLs. What needs the queue (its maximum message
//! size, whether it exists) is checked where the queue is.

use super::error::{ErrorCode, SqsError};
use super::fields::{Object, obj_list, opt_int_in, opt_str, req_str, str_list, str_map};
use super::message::{MessageAttribute, decode_attributes, is_sqs_text};
use super::names::queue_from_url;

/// Most entries in a batch.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Largest batch in total (bodies and attributes), and the largest message.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Longest visibility timeout, in seconds (12 hours).
pub const MAX_VISIBILITY_TIMEOUT_S: i64 = 43_200;
/// Longest delay, in seconds.
pub const MAX_DELAY_S: i64 = 900;
/// Longest long poll, in seconds.
pub const MAX_WAIT_TIME_S: i64 = 20;

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendEntry {
    /// Batch entry id (empty for SendMessage).
    pub id: String,
    /// The body.
    pub body: String,
    /// Per-message delay, if given.
    pub delay_s: Option<u32>,
    /// Message attributes, in name order.
    pub attributes: Vec<MessageAttribute>,
    /// Message system attributes (`AWSTraceHeader`), in name order.
    pub system_attributes: Vec<MessageAttribute>,
}

impl SendEntry {
    /// Bytes the entry counts toward message and batch sizes.
    pub fn size(&self) -> usize {
        self.body.len() + self.attributes.iter().map(MessageAttribute::size).sum::<usize>()
    }
}

/// A receipt handle with its batch entry id, and a new visibility for visibility changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleEntry {
    /// Batch entry id (empty outside batches).
    pub id: String,
    /// The receipt handle, as the client sent it.
    pub receipt_handle: String,
    /// New visibility timeout (ChangeMessageVisibility only).
    pub visibility_timeout_s: u32,
}

/// A decoded SQS action.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields are the SQS members of the same names")]
pub enum Action {
    CreateQueue { name: String, attributes: Vec<(String, String)>, tags: Vec<(String, String)> },
    GetQueueUrl { name: String },
    ListQueues { prefix: Option<String>, max_results: Option<u32>, next_token: Option<String> },
    DeleteQueue { queue: String },
    GetQueueAttributes { queue: String, names: Vec<String> },
    SetQueueAttributes { queue: String, attributes: Vec<(String, String)> },
    SendMessage { queue: String, entry: SendEntry },
    SendMessageBatch { queue: String, entries: Vec<SendEntry> },
    ReceiveMessage(Receive),
    DeleteMessage { queue: String, entry: HandleEntry },
    DeleteMessageBatch { queue: String, entries: Vec<HandleEntry> },
    ChangeMessageVisibility { queue: String, entry: HandleEntry },
    ChangeMessageVisibilityBatch { queue: String, entries: Vec<HandleEntry> },
    PurgeQueue { queue: String },
    ListDeadLetterSourceQueues { queue: String, max_results: Option<u32>, next_token: Option<String> },
    TagQueue { queue: String, tags: Vec<(String, String)> },
    UntagQueue { queue: String, keys: Vec<String> },
    ListQueueTags { queue: String },
}

/// ReceiveMessage's members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receive {
    /// Queue name.
    pub queue: String,
    /// 1–10 (default 1).
    pub max_messages: u32,
    /// Visibility timeout for these deliveries, else the queue's.
    pub visibility_timeout_s: Option<u32>,
    /// Long-poll time, else the queue's `ReceiveMessageWaitTimeSeconds`.
    pub wait_time_s: Option<u32>,
    /// System attributes asked for (`AttributeNames` and `MessageSystemAttributeNames` merged).
    pub system_attribute_names: Vec<String>,
    /// Message attributes asked for (names, `All`, `.*` or `prefix.*`).
    pub message_attribute_names: Vec<String>,
}

/// Decodes `action` from its members.
///
/// # Errors
/// `InvalidAction` for an unknown action, `UnsupportedOperation` for FIFO and actions Nexo
/// does not serve, else the validation error of the first bad member.
pub fn decode_action(action: &str, obj: &Object) -> Result<Action, SqsError> {
    let queue = || queue_from_url(req_str(obj, "QueueUrl")?);
    Ok(match action {
        "CreateQueue" => Action::CreateQueue {
            name: req_str(obj, "QueueName")?.to_owned(),
            attributes: str_map(obj, "Attributes")?,
            tags: if obj.contains_key("tags") { str_map(obj, "tags")? } else { str_map(obj, "Tags")? },
        },
        "GetQueueUrl" => Action::GetQueueUrl { name: req_str(obj, "QueueName")?.to_owned() },
        "ListQueues" => Action::ListQueues {
            prefix: opt_str(obj, "QueueNamePrefix")?.map(str::to_owned),
            max_results: opt_int_in(obj, "MaxResults", 1, 1000)?,
            next_token: opt_str(obj, "NextToken")?.map(str::to_owned),
        },
        "DeleteQueue" => Action::DeleteQueue { queue: queue()? },
        "PurgeQueue" => Action::PurgeQueue { queue: queue()? },
        "ListQueueTags" => Action::ListQueueTags { queue: queue()? },
        "GetQueueAttributes" => {
            Action::GetQueueAttributes { queue: queue()?, names: str_list(obj, "AttributeNames")? }
        }
        "SetQueueAttributes" => {
            if obj.get("Attributes").is_none() {
                return Err(SqsError::missing("Attributes"));
            }
            Action::SetQueueAttributes { queue: queue()?, attributes: str_map(obj, "Attributes")? }
        }
        "SendMessage" => {
            let entry = send_entry(obj, String::new())?;
            if entry.size() > MAX_BATCH_BYTES {
                return Err(too_long_message(entry.size()));
            }
            Action::SendMessage { queue: queue()?, entry }
        }
        "SendMessageBatch" => Action::SendMessageBatch { queue: queue()?, entries: send_batch(obj)? },
        "ReceiveMessage" => Action::ReceiveMessage(receive(obj, queue()?)?),
        "DeleteMessage" => {
            Action::DeleteMessage { queue: queue()?, entry: handle(obj, String::new(), false)? }
        }
        "ChangeMessageVisibility" => {
            Action::ChangeMessageVisibility { queue: queue()?, entry: handle(obj, String::new(), true)? }
        }
        "DeleteMessageBatch" => {
            Action::DeleteMessageBatch { queue: queue()?, entries: handle_batch(obj, false)? }
        }
        "ChangeMessageVisibilityBatch" => {
            Action::ChangeMessageVisibilityBatch { queue: queue()?, entries: handle_batch(obj, true)? }
        }
        "ListDeadLetterSourceQueues" => Action::ListDeadLetterSourceQueues {
            queue: queue()?,
            max_results: opt_int_in(obj, "MaxResults", 1, 1000)?,
            next_token: opt_str(obj, "NextToken")?.map(str::to_owned),
        },
        "TagQueue" => Action::TagQueue { queue: queue()?, tags: required_map(obj, "Tags")? },
        "UntagQueue" => {
            let keys = str_list(obj, "TagKeys")?;
            if keys.is_empty() {
                return Err(SqsError::missing("TagKeys"));
            }
            Action::UntagQueue { queue: queue()?, keys }
        }
        "StartMessageMoveTask"
        | "CancelMessageMoveTask"
        | "ListMessageMoveTasks"
        | "AddPermission"
        | "RemovePermission" => {
            return Err(SqsError::new(
                ErrorCode::UnsupportedOperation,
                format!("{action} is not supported by Nexo."),
            ));
        }
        _ => {
            return Err(SqsError::new(
                ErrorCode::InvalidAction,
                format!("The action {action} is not valid for this endpoint."),
            ));
        }
    })
}

fn required_map(obj: &Object, name: &str) -> Result<Vec<(String, String)>, SqsError> {
    let map = str_map(obj, name)?;
    if map.is_empty() {
        return Err(SqsError::missing(name));
    }
    Ok(map)
}

fn too_long_message(size: usize) -> SqsError {
    SqsError::invalid_value(
        "MessageBody",
        "(message)",
        &format!("Message must be shorter than {MAX_BATCH_BYTES} bytes; it is {size} bytes"),
    )
}

fn send_entry(obj: &Object, id: String) -> Result<SendEntry, SqsError> {
    if opt_str(obj, "MessageGroupId")?.is_some() || opt_str(obj, "MessageDeduplicationId")?.is_some() {
        return Err(fifo_refused());
    }
    let body = req_str(obj, "MessageBody")?;
    if body.is_empty() {
        return Err(SqsError::missing("MessageBody"));
    }
    if !is_sqs_text(body) {
        return Err(SqsError::new(
            ErrorCode::InvalidMessageContents,
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        ));
    }
    Ok(SendEntry {
        id,
        body: body.to_owned(),
        delay_s: opt_int_in(obj, "DelaySeconds", 0, MAX_DELAY_S)?,
        attributes: decode_attributes(obj, "MessageAttributes")?,
        system_attributes: decode_attributes(obj, "MessageSystemAttributes")?,
    })
}

/// SQS's refusal of FIFO features (Nexo serves standard queues only).
pub fn fifo_refused() -> SqsError {
    SqsError::new(ErrorCode::UnsupportedOperation, "FIFO queues are not supported by Nexo.")
}

fn batch_entries(obj: &Object) -> Result<Vec<(&Object, String)>, SqsError> {
    let entries = obj_list(obj, "Entries")?;
    if entries.is_empty() {
        return Err(SqsError::new(
            ErrorCode::EmptyBatchRequest,
            "There should be at least one batch request entry in the request.",
        ));
    }
    if entries.len() > MAX_BATCH_ENTRIES {
        return Err(SqsError::new(
            ErrorCode::TooManyEntriesInBatchRequest,
            format!(
                "Maximum number of entries per request are {MAX_BATCH_ENTRIES}. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut out: Vec<(&Object, String)> = Vec::with_capacity(entries.len());
    for entry in entries {
        let id = req_str(entry, "Id")?;
        let valid = !id.is_empty()
            && id.len() <= 80
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(SqsError::new(
                ErrorCode::InvalidBatchEntryId,
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if out.iter().any(|(_, seen)| seen == id) {
            return Err(SqsError::new(ErrorCode::BatchEntryIdsNotDistinct, format!("Id {id} repeated.")));
        }
        out.push((entry, id.to_owned()));
    }
    Ok(out)
}

fn send_batch(obj: &Object) -> Result<Vec<SendEntry>, SqsError> {
    let entries = batch_entries(obj)?
        .into_iter()
        .map(|(entry, id)| send_entry(entry, id))
        .collect::<Result<Vec<_>, _>>()?;
    let total: usize = entries.iter().map(SendEntry::size).sum();
    if total > MAX_BATCH_BYTES {
        return Err(SqsError::new(
            ErrorCode::BatchRequestTooLong,
            format!(
                "Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} bytes."
            ),
        ));
    }
    Ok(entries)
}

fn handle(obj: &Object, id: String, with_timeout: bool) -> Result<HandleEntry, SqsError> {
    let receipt_handle = req_str(obj, "ReceiptHandle")?.to_owned();
    let visibility_timeout_s = if with_timeout {
        opt_int_in(obj, "VisibilityTimeout", 0, MAX_VISIBILITY_TIMEOUT_S)?
            .ok_or_else(|| SqsError::missing("VisibilityTimeout"))?
    } else {
        0
    };
    Ok(HandleEntry { id, receipt_handle, visibility_timeout_s })
}

fn handle_batch(obj: &Object, with_timeout: bool) -> Result<Vec<HandleEntry>, SqsError> {
    batch_entries(obj)?.into_iter().map(|(entry, id)| handle(entry, id, with_timeout)).collect()
}

fn receive(obj: &Object, queue: String) -> Result<Receive, SqsError> {
    let mut system_attribute_names = str_list(obj, "AttributeNames")?;
    system_attribute_names.extend(str_list(obj, "MessageSystemAttributeNames")?);
    Ok(Receive {
        queue,
        max_messages: opt_int_in(obj, "MaxNumberOfMessages", 1, 10)?.unwrap_or(1),
        visibility_timeout_s: opt_int_in(obj, "VisibilityTimeout", 0, MAX_VISIBILITY_TIMEOUT_S)?,
        wait_time_s: opt_int_in(obj, "WaitTimeSeconds", 0, MAX_WAIT_TIME_S)?,
        system_attribute_names,
        message_attribute_names: str_list(obj, "MessageAttributeNames")?,
    })
}
