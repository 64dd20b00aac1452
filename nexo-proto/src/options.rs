//! The JSON option objects that v1 requests carry, as typed structs.
//!
//! Field names are camelCase on the wire; unknown fields are ignored; a field of the wrong type is
//! `Invalid JSON options: …`. Absent fields stay `None` so brokers apply their own defaults.

use serde::{Deserialize, Serialize};

/// Options of Store SET, SETNX and MSET: `{ttl?: seconds, persist?: bool}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetOptions {
    /// Time to live in seconds; missing or `0` means the server default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// `true` stores without expiry (wins over `ttl`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub persist: bool,
}

/// Options of Queue CREATE: `{visibilityTimeoutMs?, maxRetries?}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueOptions {
    /// Lease length in milliseconds (default 30 000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility_timeout_ms: Option<u64>,
    /// Deliveries before a failure dead-letters the message (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Extension: most messages the queue holds (ready, delayed and leased); `0` = the server
    /// default. A push beyond it fails with `Queue '<name>' is full`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u64>,
    /// Extension: most payload bytes the queue holds; `0` = the server default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// Options of Queue PUSH: `{priority?: 0–255, delayMs?}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushOptions {
    /// Higher is served first (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Hide the message for this many milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

/// Options of Queue CONSUME: `{batchSize?, waitMs?}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeOptions {
    /// Maximum messages in the reply (default 10, clamped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// Long-poll wait in milliseconds (default 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
}

/// Options of Pub/Sub PUBLISH: `{retain?, ttl?: seconds, persist?}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishOptions {
    /// Keep this message as the topic's retained message.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
    /// Retained message TTL in seconds; missing or `0` means the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// `true` retains without expiry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub persist: bool,
}

/// Retention limits of a stream topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Maximum age in milliseconds (`0` = unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<u64>,
    /// Maximum size in bytes (`0` = unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// Options of Stream CREATE: `{retention?: {maxAgeMs?, maxBytes?}}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamOptions {
    /// Retention limits; missing means the defaults (7 days, 1 GiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
}
