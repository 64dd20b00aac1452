//! SQS errors: every code the front answers, with its JSON `__type`, its query-protocol code
//! (also sent in JSON's `x-amzn-query-error` header), its HTTP status and its fault side.
//!
//! The codes and statuses follow SQS's Smithy model (`awsQueryError` traits, which botocore's
//! JSON model omits) and AWS's list of common errors.

use std::fmt;

/// One SQS error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "each variant is the SQS error of the same name")]
pub enum ErrorCode {
    // Errors of SQS's operation model.
    BatchEntryIdsNotDistinct,
    BatchRequestTooLong,
    EmptyBatchRequest,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidBatchEntryId,
    InvalidMessageContents,
    MessageNotInflight,
    OverLimit,
    PurgeQueueInProgress,
    QueueDeletedRecently,
    QueueDoesNotExist,
    QueueNameExists,
    ReceiptHandleIsInvalid,
    ResourceNotFoundException,
    TooManyEntriesInBatchRequest,
    UnsupportedOperation,
    // Common errors (not in the operation model).
    AccessDenied,
    IncompleteSignature,
    InternalFailure,
    InvalidAction,
    InvalidClientTokenId,
    InvalidParameterValue,
    MalformedQueryString,
    MissingAuthenticationToken,
    MissingParameter,
    RequestExpired,
    ServiceUnavailable,
    SignatureDoesNotMatch,
}

impl ErrorCode {
    /// The model's shape name, the part after `#` in JSON's `__type`.
    pub fn name(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BatchEntryIdsNotDistinct => "BatchEntryIdsNotDistinct",
            BatchRequestTooLong => "BatchRequestTooLong",
            EmptyBatchRequest => "EmptyBatchRequest",
            InvalidAttributeName => "InvalidAttributeName",
            InvalidAttributeValue => "InvalidAttributeValue",
            InvalidBatchEntryId => "InvalidBatchEntryId",
            InvalidMessageContents => "InvalidMessageContents",
            MessageNotInflight => "MessageNotInflight",
            OverLimit => "OverLimit",
            PurgeQueueInProgress => "PurgeQueueInProgress",
            QueueDeletedRecently => "QueueDeletedRecently",
            QueueDoesNotExist => "QueueDoesNotExist",
            QueueNameExists => "QueueNameExists",
            ReceiptHandleIsInvalid => "ReceiptHandleIsInvalid",
            ResourceNotFoundException => "ResourceNotFoundException",
            TooManyEntriesInBatchRequest => "TooManyEntriesInBatchRequest",
            UnsupportedOperation => "UnsupportedOperation",
            AccessDenied => "AccessDenied",
            IncompleteSignature => "IncompleteSignature",
            InternalFailure => "InternalFailure",
            InvalidAction => "InvalidAction",
            InvalidClientTokenId => "InvalidClientTokenId",
            InvalidParameterValue => "InvalidParameterValue",
            MalformedQueryString => "MalformedQueryString",
            MissingAuthenticationToken => "MissingAuthenticationToken",
            MissingParameter => "MissingParameter",
            RequestExpired => "RequestExpired",
            ServiceUnavailable => "ServiceUnavailable",
            SignatureDoesNotMatch => "SignatureDoesNotMatch",
        }
    }

    /// The code clients see: the query protocol's `<Code>`, JSON's `x-amzn-query-error`.
    pub fn query_code(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BatchEntryIdsNotDistinct => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            BatchRequestTooLong => "AWS.SimpleQueueService.BatchRequestTooLong",
            EmptyBatchRequest => "AWS.SimpleQueueService.EmptyBatchRequest",
            InvalidBatchEntryId => "AWS.SimpleQueueService.InvalidBatchEntryId",
            MessageNotInflight => "AWS.SimpleQueueService.MessageNotInflight",
            PurgeQueueInProgress => "AWS.SimpleQueueService.PurgeQueueInProgress",
            QueueDeletedRecently => "AWS.SimpleQueueService.QueueDeletedRecently",
            QueueDoesNotExist => "AWS.SimpleQueueService.NonExistentQueue",
            QueueNameExists => "QueueAlreadyExists",
            TooManyEntriesInBatchRequest => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            UnsupportedOperation => "AWS.SimpleQueueService.UnsupportedOperation",
            other => other.name(),
        }
    }

    /// The namespace of JSON's `__type`: the service's for model errors, Coral's for common ones.
    pub fn json_type(self) -> String {
        use ErrorCode::*;
        let namespace = match self {
            MissingParameter
            | InvalidParameterValue
            | InvalidAction
            | MalformedQueryString
            | InternalFailure
            | ServiceUnavailable
            | AccessDenied
            | IncompleteSignature
            | InvalidClientTokenId
            | MissingAuthenticationToken
            | RequestExpired
            | SignatureDoesNotMatch => "com.amazon.coral.service",
            _ => "com.amazonaws.sqs",
        };
        format!("{namespace}#{}", self.name())
    }

    /// The HTTP status of the error response.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            OverLimit
            | PurgeQueueInProgress
            | AccessDenied
            | InvalidClientTokenId
            | MissingAuthenticationToken
            | SignatureDoesNotMatch => 403,
            ResourceNotFoundException => 404,
            InternalFailure => 500,
            ServiceUnavailable => 503,
            _ => 400,
        }
    }

    /// Whether the client is at fault (`Sender`) or the server (`Receiver`).
    pub fn sender_fault(self) -> bool {
        !matches!(self, Self::InternalFailure | Self::ServiceUnavailable)
    }
}

/// An SQS error with its message text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsError {
    /// The code.
    pub code: ErrorCode,
    /// The human-readable message (AWS's wording where it has one).
    pub message: String,
}

impl SqsError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    /// `MissingParameter` for a required parameter.
    pub fn missing(parameter: &str) -> Self {
        Self::new(ErrorCode::MissingParameter, format!("The request must contain the parameter {parameter}."))
    }

    /// `InvalidParameterValue` with AWS's wording.
    pub fn invalid_value(parameter: &str, value: &str, reason: &str) -> Self {
        Self::new(
            ErrorCode::InvalidParameterValue,
            format!("Value {value} for parameter {parameter} is invalid. Reason: {reason}."),
        )
    }

    /// `QueueDoesNotExist`.
    pub fn no_queue() -> Self {
        Self::new(ErrorCode::QueueDoesNotExist, "The specified queue does not exist.")
    }
}

impl fmt::Display for SqsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.query_code(), self.message)
    }
}

impl std::error::Error for SqsError {}
