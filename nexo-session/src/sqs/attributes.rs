//! Queue attributes: the settable ones (validated with AWS's ranges, RedrivePolicy parsed), the
//! read-only facts a queue reports, GetQueueAttributes' selection, and CreateQueue's rule that an
//! existing name with different attributes is `QueueNameExists`.

use serde_json::Value;

use super::error::{ErrorCode, SqsError};
use super::names::queue_from_arn;

/// Default visibility timeout, in seconds.
pub const DEFAULT_VISIBILITY_TIMEOUT_S: u32 = 30;
/// Default retention, in seconds (4 days).
pub const DEFAULT_RETENTION_S: u32 = 345_600;
/// Default and largest maximum message size, in bytes (1 MiB).
pub const MAX_MESSAGE_BYTES: u32 = 1_048_576;
/// Smallest maximum message size, in bytes.
pub const MIN_MESSAGE_BYTES: u32 = 1_024;
/// Largest `maxReceiveCount`.
pub const MAX_RECEIVE_COUNT: u32 = 1_000;

/// A dead-letter target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedrivePolicy {
    /// The target's ARN, as given.
    pub target_arn: String,
    /// The target queue's name.
    pub target: String,
    /// Receives before a message moves (1–1000).
    pub max_receive_count: u32,
}

/// The settable attributes of one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueAttributes {
    /// `VisibilityTimeout` (0–43 200 s).
    pub visibility_timeout_s: u32,
    /// `DelaySeconds` (0–900).
    pub delay_s: u32,
    /// `MessageRetentionPeriod` (60–1 209 600 s).
    pub retention_s: u32,
    /// `ReceiveMessageWaitTimeSeconds` (0–20).
    pub wait_time_s: u32,
    /// `MaximumMessageSize` (1 024–1 048 576 bytes).
    pub max_message_bytes: u32,
    /// `RedrivePolicy`.
    pub redrive: Option<RedrivePolicy>,
}

impl Default for QueueAttributes {
    fn default() -> Self {
        Self {
            visibility_timeout_s: DEFAULT_VISIBILITY_TIMEOUT_S,
            delay_s: 0,
            retention_s: DEFAULT_RETENTION_S,
            wait_time_s: 0,
            max_message_bytes: MAX_MESSAGE_BYTES,
            redrive: None,
        }
    }
}

/// What a queue reports besides its settable attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFacts {
    /// `QueueArn`.
    pub arn: String,
    /// `CreatedTimestamp`, seconds since the epoch.
    pub created_s: u64,
    /// `LastModifiedTimestamp`, seconds since the epoch.
    pub modified_s: u64,
    /// `ApproximateNumberOfMessages` (ready).
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible` (in flight).
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`.
    pub delayed: u64,
}

/// Every attribute name GetQueueAttributes answers, in the order `All` lists them.
pub const ATTRIBUTE_NAMES: [&str; 12] = [
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "VisibilityTimeout",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "DelaySeconds",
    "ReceiveMessageWaitTimeSeconds",
    "RedrivePolicy",
];

fn ranged(name: &str, value: &str, min: u32, max: u32) -> Result<u32, SqsError> {
    value.trim().parse::<u32>().ok().filter(|n| (min..=max).contains(n)).ok_or_else(|| {
        SqsError::new(ErrorCode::InvalidAttributeValue, format!("Invalid value for the parameter {name}."))
    })
}

impl QueueAttributes {
    /// Applies `pairs` (CreateQueue's or SetQueueAttributes') over these attributes.
    ///
    /// # Errors
    /// `InvalidAttributeName` for read-only or unknown names (FIFO ones: `UnsupportedOperation`),
    /// `InvalidAttributeValue` for values out of range or a malformed RedrivePolicy.
    pub fn apply(&mut self, pairs: &[(String, String)]) -> Result<(), SqsError> {
        for (name, value) in pairs {
            match name.as_str() {
                "VisibilityTimeout" => self.visibility_timeout_s = ranged(name, value, 0, 43_200)?,
                "DelaySeconds" => self.delay_s = ranged(name, value, 0, 900)?,
                "MessageRetentionPeriod" => self.retention_s = ranged(name, value, 60, 1_209_600)?,
                "ReceiveMessageWaitTimeSeconds" => self.wait_time_s = ranged(name, value, 0, 20)?,
                "MaximumMessageSize" => {
                    self.max_message_bytes = ranged(name, value, MIN_MESSAGE_BYTES, MAX_MESSAGE_BYTES)?;
                }
                "RedrivePolicy" if value.trim().is_empty() => self.redrive = None,
                "RedrivePolicy" => self.redrive = Some(parse_redrive(value)?),
                "FifoQueue" | "ContentBasedDeduplication" | "DeduplicationScope" | "FifoThroughputLimit" => {
                    return Err(super::action::fifo_refused());
                }
                _ => {
                    return Err(SqsError::new(
                        ErrorCode::InvalidAttributeName,
                        format!("Unknown Attribute {name}."),
                    ));
                }
            }
        }
        Ok(())
    }

    /// CreateQueue of an existing queue: whether `pairs` name an attribute with a value other
    /// than the queue's (AWS then answers `QueueNameExists`); attributes not named are not
    /// compared, so a plain CreateQueue of an existing name returns its URL.
    ///
    /// # Errors
    /// As [`QueueAttributes::apply`].
    pub fn conflicts_with(&self, pairs: &[(String, String)]) -> Result<bool, SqsError> {
        let mut requested = self.clone();
        requested.apply(pairs)?;
        Ok(requested != *self)
    }

    /// GetQueueAttributes: the attributes named (`All` for every one), in `All`'s order.
    ///
    /// # Errors
    /// `InvalidAttributeName` for a name SQS does not know.
    pub fn select(&self, facts: &QueueFacts, names: &[String]) -> Result<Vec<(String, String)>, SqsError> {
        for name in names {
            if name != "All" && !ATTRIBUTE_NAMES.contains(&name.as_str()) {
                return Err(SqsError::new(
                    ErrorCode::InvalidAttributeName,
                    format!("Unknown Attribute {name}."),
                ));
            }
        }
        let all = names.iter().any(|n| n == "All");
        let mut out = Vec::new();
        for name in ATTRIBUTE_NAMES {
            if !all && !names.iter().any(|n| n == name) {
                continue;
            }
            if let Some(value) = self.value_of(facts, name) {
                out.push((name.to_owned(), value));
            }
        }
        Ok(out)
    }

    fn value_of(&self, facts: &QueueFacts, name: &str) -> Option<String> {
        Some(match name {
            "QueueArn" => facts.arn.clone(),
            "ApproximateNumberOfMessages" => facts.visible.to_string(),
            "ApproximateNumberOfMessagesNotVisible" => facts.in_flight.to_string(),
            "ApproximateNumberOfMessagesDelayed" => facts.delayed.to_string(),
            "CreatedTimestamp" => facts.created_s.to_string(),
            "LastModifiedTimestamp" => facts.modified_s.to_string(),
            "VisibilityTimeout" => self.visibility_timeout_s.to_string(),
            "MaximumMessageSize" => self.max_message_bytes.to_string(),
            "MessageRetentionPeriod" => self.retention_s.to_string(),
            "DelaySeconds" => self.delay_s.to_string(),
            "ReceiveMessageWaitTimeSeconds" => self.wait_time_s.to_string(),
            "RedrivePolicy" => {
                let r = self.redrive.as_ref()?;
                serde_json::json!({"deadLetterTargetArn": r.target_arn, "maxReceiveCount": r.max_receive_count})
                    .to_string()
            }
            _ => return None,
        })
    }
}

/// Parses a RedrivePolicy: `{"deadLetterTargetArn": "<arn>", "maxReceiveCount": <1–1000>}`,
/// the count a number or a numeric string.
///
/// # Errors
/// `InvalidAttributeValue` when malformed.
pub fn parse_redrive(text: &str) -> Result<RedrivePolicy, SqsError> {
    let invalid = |why: &str| {
        SqsError::new(
            ErrorCode::InvalidAttributeValue,
            format!("Value {text} for parameter RedrivePolicy is invalid. Reason: {why}."),
        )
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err(invalid("Redrive policy is not a valid JSON map"));
    };
    let arn = map
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn"))?;
    let count = match map.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => return Err(invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount")),
    };
    let max_receive_count = count
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| (1..=MAX_RECEIVE_COUNT).contains(n))
        .ok_or_else(|| invalid("Invalid value for maxReceiveCount: must be between 1 and 1000"))?;
    let target = queue_from_arn(arn).map_err(|_| invalid("Invalid value for deadLetterTargetArn"))?;
    Ok(RedrivePolicy { target_arn: arn.to_owned(), target, max_receive_count })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn facts() -> QueueFacts {
        QueueFacts {
            arn: "arn:aws:sqs:us-east-1:000000000000:q".into(),
            created_s: 1,
            modified_s: 2,
            visible: 3,
            in_flight: 4,
            delayed: 5,
        }
    }

    #[test]
    fn settable_attributes_are_validated() {
        let mut a = QueueAttributes::default();
        a.apply(&pairs(&[("VisibilityTimeout", "45"), ("MaximumMessageSize", "1024")])).unwrap();
        assert_eq!((a.visibility_timeout_s, a.max_message_bytes), (45, 1024));
        let code = |list: &[(&str, &str)]| QueueAttributes::default().apply(&pairs(list)).map_err(|e| e.code);
        assert_eq!(code(&[("MaximumMessageSize", "1023")]), Err(ErrorCode::InvalidAttributeValue));
        assert_eq!(code(&[("MaximumMessageSize", "1048577")]), Err(ErrorCode::InvalidAttributeValue));
        assert_eq!(code(&[("DelaySeconds", "-1")]), Err(ErrorCode::InvalidAttributeValue));
        assert_eq!(code(&[("QueueArn", "x")]), Err(ErrorCode::InvalidAttributeName));
        assert_eq!(code(&[("Bogus", "1")]), Err(ErrorCode::InvalidAttributeName));
        assert_eq!(code(&[("FifoQueue", "true")]), Err(ErrorCode::UnsupportedOperation));
    }

    #[test]
    fn redrive_policies_take_numbers_or_numeric_strings() {
        let arn = "arn:aws:sqs:eu-west-1:000000000000:dlq";
        for text in [
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"5"}}"#),
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":5}}"#),
        ] {
            let r = parse_redrive(&text).unwrap();
            assert_eq!((r.target.as_str(), r.max_receive_count), ("dlq", 5));
        }
        for bad in [
            "not json".to_owned(),
            format!(r#"{{"deadLetterTargetArn":"{arn}"}}"#),
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":0}}"#),
            format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"1001"}}"#),
            r#"{"deadLetterTargetArn":"arn:aws:sns:x:y:z","maxReceiveCount":1}"#.to_owned(),
        ] {
            assert_eq!(
                parse_redrive(&bad).map_err(|e| e.code),
                Err(ErrorCode::InvalidAttributeValue),
                "{bad}"
            );
        }
        let mut a = QueueAttributes::default();
        a.apply(&pairs(&[(
            "RedrivePolicy",
            &format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":"2"}}"#),
        )]))
        .unwrap();
        let got = a.select(&facts(), &["RedrivePolicy".to_owned()]).unwrap();
        assert_eq!(got[0].1, format!(r#"{{"deadLetterTargetArn":"{arn}","maxReceiveCount":2}}"#));
        a.apply(&pairs(&[("RedrivePolicy", "")])).unwrap();
        assert_eq!(a.redrive, None);
    }

    #[test]
    fn get_selects_in_all_order_and_refuses_unknown_names() {
        let a = QueueAttributes::default();
        let all = a.select(&facts(), &["All".to_owned()]).unwrap();
        assert_eq!(all.len(), ATTRIBUTE_NAMES.len() - 1, "no RedrivePolicy without one");
        assert_eq!(all[1], ("ApproximateNumberOfMessages".to_owned(), "3".to_owned()));
        let some = a.select(&facts(), &["DelaySeconds".to_owned(), "QueueArn".to_owned()]).unwrap();
        assert_eq!(some.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["QueueArn", "DelaySeconds"]);
        assert_eq!(
            a.select(&facts(), &["Nope".to_owned()]).map_err(|e| e.code),
            Err(ErrorCode::InvalidAttributeName)
        );
    }

    #[test]
    fn create_of_an_existing_name_compares_the_named_attributes() {
        let mut existing = QueueAttributes::default();
        existing.apply(&pairs(&[("VisibilityTimeout", "60")])).unwrap();
        assert!(!existing.conflicts_with(&pairs(&[("VisibilityTimeout", "60")])).unwrap());
        assert!(existing.conflicts_with(&pairs(&[("VisibilityTimeout", "61")])).unwrap());
        assert!(!existing.conflicts_with(&[]).unwrap());
        assert!(existing.conflicts_with(&pairs(&[("DelaySeconds", "1")])).unwrap());
    }
}
