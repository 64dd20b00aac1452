//! Requests of every broker: decoding from a frame's opcode and payload (server side) and
//! encoding into a frame (client side).
//!
//! Layouts follow the v1.0.2 reference; extension opcodes are documented in `docs/PROTOCOL.md`.
//! Store keys and payloads are zero-copy slices of the frame; names and topics are small owned
//! strings.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Uuid;
use crate::error::DecodeError;
use crate::frame::{FrameTooLarge, FrameType, write_frame};
use crate::opcode::{self, Route};
use crate::options::{ConsumeOptions, PublishOptions, PushOptions, QueueOptions, SetOptions, StreamOptions};
use crate::primitives::{Fields, put_blob, put_count, put_json};

/// A decoded request, routed by broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `0x00` ECHO: the bytes to send back.
    Echo(Bytes),
    /// A Store command.
    Store(StoreRequest),
    /// A Queue command.
    Queue(QueueRequest),
    /// A Pub/Sub command.
    PubSub(PubSubRequest),
    /// A Stream command.
    Stream(StreamRequest),
}

/// Store commands (`0x02–0x0F`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRequest {
    /// `0x02` SET.
    Set {
        /// UTF-8 key.
        key: Bytes,
        /// TTL options.
        options: SetOptions,
        /// Stored bytes, verbatim.
        value: Bytes,
    },
    /// `0x03` GET.
    Get {
        /// Key.
        key: Bytes,
    },
    /// `0x04` DEL.
    Del {
        /// Key.
        key: Bytes,
    },
    /// `0x05` SETNX: `str key`, `json options`, `rest value` → DATA `u8` 1 set / 0 existed.
    SetNx {
        /// Key.
        key: Bytes,
        /// TTL options.
        options: SetOptions,
        /// Value.
        value: Bytes,
    },
    /// `0x06` INCRBY: `str key`, `i64 delta` → DATA `i64` new value.
    IncrBy {
        /// Key.
        key: Bytes,
        /// Signed amount to add.
        delta: i64,
    },
    /// `0x07` EXPIRE: `str key`, `u64 ttl_ms` → DATA `u8` 1 set / 0 missing.
    Expire {
        /// Key.
        key: Bytes,
        /// New time to live in milliseconds (`0` expires at once).
        ttl_ms: u64,
    },
    /// `0x08` TTL: `str key` → DATA `i64` ms left, `-1` no expiry, `-2` missing.
    Ttl {
        /// Key.
        key: Bytes,
    },
    /// `0x09` PERSIST: `str key` → DATA `u8` 1 removed a TTL / 0 otherwise.
    Persist {
        /// Key.
        key: Bytes,
    },
    /// `0x0A` MGET: `u32 n`, n × `str key` → DATA values.
    MGet {
        /// Keys in request order.
        keys: Vec<Bytes>,
    },
    /// `0x0B` MSET: `json options`, `u32 n`, n × (`str key`, `u32 len`, value) → OK.
    MSet {
        /// TTL options applied to every pair.
        options: SetOptions,
        /// Pairs in request order.
        pairs: Vec<(Bytes, Bytes)>,
    },
    /// `0x0C` SCAN: `u64 cursor`, `str pattern`, `u32 count` → DATA `u64 next`, `u32 n`, n × `str`.
    Scan {
        /// `0` starts a scan; pass back the returned cursor until it is `0` again.
        cursor: u64,
        /// Glob pattern (`*`, `?`, `[abc]`, `[a-z]`, `[^a]`, `\` escapes).
        pattern: String,
        /// How many slots to examine in this step (a hint, clamped).
        count: u32,
    },
    /// `0x0D` SET_EXT (extension): `str key`, `u8 flags` (bit 0 NX, bit 1 XX, bit 2 GET),
    /// `u8 expiry kind`, `u64 expiry value`, `rest value` (see [`Expiry`]) → OK when written, NULL
    /// when NX/XX kept it from writing; with GET: DATA old value, or NULL when there was none.
    SetExt {
        /// Key.
        key: Bytes,
        /// Only when the key does not exist.
        nx: bool,
        /// Only when the key exists.
        xx: bool,
        /// Answer the old value instead of OK.
        get: bool,
        /// The deadline the key gets ([`Expiry::Keep`] is Redis's KEEPTTL).
        expiry: Expiry,
        /// Value.
        value: Bytes,
    },
    /// `0x0E` DEL_COUNT (extension): `u32 n`, n × `str key` → DATA `i64` keys that existed.
    DelCount {
        /// Keys.
        keys: Vec<Bytes>,
    },
    /// `0x0F` EXISTS (extension): `u32 n`, n × `str key` → DATA `i64` live keys among them (a key
    /// named twice counts twice).
    Exists {
        /// Keys.
        keys: Vec<Bytes>,
    },
    /// `0x40` GETDEL (extension): `str key` → DATA value (now deleted) or NULL.
    GetDel {
        /// Key.
        key: Bytes,
    },
    /// `0x41` GETEX (extension): `str key`, `u8 expiry kind`, `u64 expiry value` → DATA value or
    /// NULL; the key's deadline changes as [`Expiry`] says ([`Expiry::Keep`] leaves it).
    GetEx {
        /// Key.
        key: Bytes,
        /// New deadline.
        expiry: Expiry,
    },
    /// `0x42` APPEND (extension): `str key`, `rest value` → DATA `i64` new length. A new key gets
    /// no deadline; an existing one keeps its deadline.
    Append {
        /// Key.
        key: Bytes,
        /// Bytes to append.
        value: Bytes,
    },
    /// `0x43` STRLEN (extension): `str key` → DATA `i64` value length (0 when missing).
    Strlen {
        /// Key.
        key: Bytes,
    },
    /// `0x44` KEYS (extension): `str pattern` → DATA as SCAN: `u64 cursor` (0 when complete, else
    /// a SCAN cursor to continue from), `u32 n`, n × `str key`.
    Keys {
        /// Glob pattern (SCAN's syntax).
        pattern: String,
    },
    /// `0x45` RENAME (extension): `str key`, `str new_key` → OK, or ERR `ERR no such key`. The
    /// value and deadline move; whatever `new_key` held is replaced.
    Rename {
        /// Existing key.
        key: Bytes,
        /// New name.
        new_key: Bytes,
    },
    /// `0x46` DBSIZE (extension): empty → DATA `i64` keys held.
    DbSize,
    /// `0x47` FLUSH (extension): empty → OK; every key is removed.
    Flush,
    /// `0x48` EXPIRE_AT (extension): `str key`, `u64 at_ms` (wall clock, ms since the Unix epoch)
    /// → DATA `u8` 1 set (a time in the past deletes the key) / 0 no such key.
    ExpireAt {
        /// Key.
        key: Bytes,
        /// Wall-clock deadline in milliseconds.
        at_ms: u64,
    },
    /// `0x49` INFO (extension): empty → DATA text, one `name:value` line (CRLF-terminated) per
    /// Store size and counter.
    Info,
    /// `0x4A` EXPIRE_EXT (extension): `str key`, `u8 flags` (see [`ExpireFlags`]), `u8 time kind`,
    /// `u64 time value` (see [`ExpireTime`]) → DATA `u8` 1 set (a deadline not in the future
    /// deletes the key), 0 no such key or a condition did not hold (nothing changed). Redis's
    /// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT with NX, XX, GT and LT.
    ExpireExt {
        /// Key.
        key: Bytes,
        /// The conditions that must all hold for the deadline to change.
        flags: ExpireFlags,
        /// The new deadline.
        time: ExpireTime,
    },
    /// `0x4B` WATCH (extension): `u32 n`, n × `str key` → OK. The Store remembers, for this
    /// connection, that an EXEC must fail if one of the keys is written, deleted, expires or is
    /// evicted before it; or ERR when the connection would watch too many keys.
    Watch {
        /// Keys to watch.
        keys: Vec<Bytes>,
    },
    /// `0x4C` UNWATCH (extension): empty → OK; the connection watches nothing any more.
    Unwatch,
    /// `0x4D` EXEC (extension): `u32 n`, n × (`u8 opcode`, `u32 len`, that Store request's
    /// payload) → DATA replies (see `Reply::Replies`), one per request in order, all run with no
    /// other request in between; NULL, running nothing, when a watched key changed. Either way
    /// the connection's watches end. A request that fails does not undo the others. An EXEC,
    /// WATCH or UNWATCH inside is refused at decode.
    Exec {
        /// The transaction's requests.
        commands: Vec<StoreRequest>,
    },
}

impl StoreRequest {
    /// The opcode this request is sent with.
    pub fn opcode(&self) -> u8 {
        use opcode::store as s;
        match self {
            StoreRequest::Set { .. } => s::SET,
            StoreRequest::Get { .. } => s::GET,
            StoreRequest::Del { .. } => s::DEL,
            StoreRequest::SetNx { .. } => s::SET_NX,
            StoreRequest::IncrBy { .. } => s::INCR_BY,
            StoreRequest::Expire { .. } => s::EXPIRE,
            StoreRequest::Ttl { .. } => s::TTL,
            StoreRequest::Persist { .. } => s::PERSIST,
            StoreRequest::MGet { .. } => s::MGET,
            StoreRequest::MSet { .. } => s::MSET,
            StoreRequest::Scan { .. } => s::SCAN,
            StoreRequest::SetExt { .. } => s::SET_EXT,
            StoreRequest::DelCount { .. } => s::DEL_COUNT,
            StoreRequest::Exists { .. } => s::EXISTS,
            StoreRequest::GetDel { .. } => s::GET_DEL,
            StoreRequest::GetEx { .. } => s::GET_EX,
            StoreRequest::Append { .. } => s::APPEND,
            StoreRequest::Strlen { .. } => s::STRLEN,
            StoreRequest::Keys { .. } => s::KEYS,
            StoreRequest::Rename { .. } => s::RENAME,
            StoreRequest::DbSize => s::DBSIZE,
            StoreRequest::Flush => s::FLUSH,
            StoreRequest::ExpireAt { .. } => s::EXPIRE_AT,
            StoreRequest::Info => s::INFO,
            StoreRequest::ExpireExt { .. } => s::EXPIRE_EXT,
            StoreRequest::Watch { .. } => s::WATCH,
            StoreRequest::Unwatch => s::UNWATCH,
            StoreRequest::Exec { .. } => s::EXEC,
        }
    }
}

/// EXPIRE_EXT's conditions, one bit each in `u8 flags` (other bits are ignored). Every set
/// condition must hold; a key without a deadline counts as one with an infinite deadline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpireFlags {
    /// Bit 0: only when the key has no deadline.
    pub nx: bool,
    /// Bit 1: only when the key has a deadline.
    pub xx: bool,
    /// Bit 2: only when the new deadline is later than the current one (never for a key without
    /// a deadline).
    pub gt: bool,
    /// Bit 3: only when the new deadline is earlier than the current one (always for a key
    /// without a deadline).
    pub lt: bool,
}

impl ExpireFlags {
    /// From the wire byte (bits 4–7 are ignored).
    pub fn from_bits(bits: u8) -> Self {
        Self { nx: bits & 1 != 0, xx: bits & 2 != 0, gt: bits & 4 != 0, lt: bits & 8 != 0 }
    }

    /// The wire byte.
    pub fn bits(self) -> u8 {
        u8::from(self.nx) | u8::from(self.xx) << 1 | u8::from(self.gt) << 2 | u8::from(self.lt) << 3
    }
}

/// EXPIRE_EXT's new deadline: `u8 kind`, `u64 value` (the kinds are numbered as [`Expiry`]'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireTime {
    /// Kind `1`: `value` milliseconds from now (`0` deletes the key when the conditions hold).
    InMs(u64),
    /// Kind `2`: at wall-clock `value` milliseconds since the Unix epoch (a time not in the
    /// future deletes the key when the conditions hold).
    AtMs(u64),
}

impl ExpireTime {
    fn decode(f: &mut Fields<'_>) -> Result<Self, DecodeError> {
        let kind = f.u8()?;
        let value = f.u64()?;
        match kind {
            1 => Ok(Self::InMs(value)),
            2 => Ok(Self::AtMs(value)),
            other => Err(DecodeError::InvalidExpireKind(other)),
        }
    }

    fn encode(self, b: &mut BytesMut) {
        let (kind, value) = match self {
            Self::InMs(ms) => (1, ms),
            Self::AtMs(ms) => (2, ms),
        };
        b.put_u8(kind);
        b.put_u64(value);
    }
}

/// A deadline change carried by SET_EXT and GETEX: `u8 kind`, `u64 value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Kind `0`: keep the key's current deadline (SET's KEEPTTL; GETEX without options).
    Keep,
    /// Kind `1`: `value` milliseconds from now.
    InMs(u64),
    /// Kind `2`: at wall-clock `value` milliseconds since the Unix epoch (a past time expires the
    /// key at once).
    AtMs(u64),
    /// Kind `3` (and any other value): no deadline.
    Persist,
}

impl Expiry {
    fn decode(f: &mut Fields<'_>) -> Result<Self, DecodeError> {
        let kind = f.u8()?;
        let value = f.u64()?;
        Ok(match kind {
            0 => Self::Keep,
            1 => Self::InMs(value),
            2 => Self::AtMs(value),
            _ => Self::Persist,
        })
    }

    fn encode(self, b: &mut BytesMut) {
        let (kind, value) = match self {
            Self::Keep => (0, 0),
            Self::InMs(ms) => (1, ms),
            Self::AtMs(ms) => (2, ms),
            Self::Persist => (3, 0),
        };
        b.put_u8(kind);
        b.put_u64(value);
    }
}

/// Queue commands (`0x10–0x1F`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRequest {
    /// `0x10` CREATE.
    Create {
        /// Queue name.
        name: String,
        /// Options.
        options: QueueOptions,
    },
    /// `0x11` PUSH.
    Push {
        /// Queue name.
        name: String,
        /// Options.
        options: PushOptions,
        /// Message body.
        payload: Bytes,
    },
    /// `0x12` CONSUME.
    Consume {
        /// Queue name.
        name: String,
        /// Options.
        options: ConsumeOptions,
    },
    /// `0x13` ACK (id first).
    Ack {
        /// Message id.
        id: Uuid,
        /// Queue name.
        name: String,
    },
    /// `0x14` EXISTS.
    Exists {
        /// Queue name.
        name: String,
    },
    /// `0x15` DELETE.
    Delete {
        /// Queue name.
        name: String,
    },
    /// `0x16` PEEK_DLQ.
    PeekDlq {
        /// Queue name.
        name: String,
        /// Page size.
        limit: u32,
        /// Page start.
        offset: u32,
    },
    /// `0x17` MOVE_TO_QUEUE.
    MoveToQueue {
        /// Queue name.
        name: String,
        /// Message id.
        id: Uuid,
    },
    /// `0x18` DELETE_DLQ.
    DeleteDlq {
        /// Queue name.
        name: String,
        /// Message id.
        id: Uuid,
    },
    /// `0x19` PURGE_DLQ.
    PurgeDlq {
        /// Queue name.
        name: String,
    },
    /// `0x1A` NACK (id first).
    Nack {
        /// Message id.
        id: Uuid,
        /// Queue name.
        name: String,
        /// Failure reason, kept verbatim in the DLQ.
        reason: String,
    },
    /// `0x1B` EXTEND (extension): `uuid id`, `str name`, `u64 ms` → OK; the lease now ends `ms`
    /// from now. Only the leasing connection may extend (`EXTEND failed` otherwise).
    Extend {
        /// Message id.
        id: Uuid,
        /// Queue name.
        name: String,
        /// New lease length from now, in milliseconds.
        ms: u64,
    },
    /// `0x1C` NACK_DELAY (extension): `uuid id`, `str name`, `str reason`, `u64 delay_ms` → OK; like
    /// NACK, but a retried message becomes ready only after the delay.
    NackDelay {
        /// Message id.
        id: Uuid,
        /// Queue name.
        name: String,
        /// Failure reason.
        reason: String,
        /// Delay before the retry, in milliseconds.
        delay_ms: u64,
    },
    /// `0x1D` PURGE (extension): `str name` → DATA `u32` ready and delayed messages removed.
    Purge {
        /// Queue name.
        name: String,
    },
    /// `0x1E` LIST (extension): `u32 offset`, `u32 limit` → DATA queue list (see [`crate::reply::QueueInfo`]).
    List {
        /// First queue (by name order).
        offset: u32,
        /// Page size (clamped to 1000).
        limit: u32,
    },
}

/// Pub/Sub commands (`0x21–0x2F`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubRequest {
    /// `0x21` PUBLISH.
    Publish {
        /// Concrete topic.
        topic: String,
        /// Options.
        options: PublishOptions,
        /// Message body.
        payload: Bytes,
    },
    /// `0x22` SUBSCRIBE.
    Subscribe {
        /// Pattern with `+`/`#` wildcards or `$share/<group>/<filter>`.
        pattern: String,
    },
    /// `0x23` UNSUBSCRIBE.
    Unsubscribe {
        /// The pattern as subscribed.
        pattern: String,
    },
    /// `0x24` PUBLISH_COUNT (extension): `str topic`, `rest payload` → DATA `i64` pushes queued.
    /// Any non-empty name is accepted (wildcards and `$share/` included, as Redis channels): it
    /// reaches exact-channel and glob subscribers, and pattern subscribers too when it is also a
    /// valid v1 publish topic.
    PublishCount {
        /// Channel name.
        topic: String,
        /// Message body.
        payload: Bytes,
    },
    /// `0x25` SUBSCRIBE_CHANNEL (extension): `str channel` → OK; exact-match subscription.
    SubscribeChannel {
        /// Channel name, matched byte for byte.
        channel: String,
    },
    /// `0x26` UNSUBSCRIBE_CHANNEL (extension): `str channel` → OK.
    UnsubscribeChannel {
        /// Channel name.
        channel: String,
    },
    /// `0x27` SUBSCRIBE_GLOB (extension): `str pattern` → OK; Redis glob pattern (`*`, `?`,
    /// `[...]`, `\`); deliveries are pattern pushes (meta `0x01`: `str pattern`, `str topic`,
    /// payload).
    SubscribeGlob {
        /// Glob pattern.
        pattern: String,
    },
    /// `0x28` UNSUBSCRIBE_GLOB (extension): `str pattern` → OK.
    UnsubscribeGlob {
        /// Glob pattern as subscribed.
        pattern: String,
    },
}

/// Stream commands (`0x30–0x39` in the v1.0.2 layout; extensions on `0x3A–0x3F` and `0x70–0x72`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamRequest {
    /// `0x30` CREATE.
    Create {
        /// Topic.
        topic: String,
        /// Options.
        options: StreamOptions,
    },
    /// `0x31` PUBLISH.
    Publish {
        /// Topic.
        topic: String,
        /// Message body.
        payload: Bytes,
    },
    /// `0x32` FETCH.
    Fetch {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Member id from JOIN.
        consumer_id: String,
        /// Generation from JOIN.
        generation: u64,
        /// Maximum messages.
        limit: u32,
        /// Long-poll wait in milliseconds.
        wait_ms: u32,
    },
    /// `0x33` JOIN (group first).
    Join {
        /// Group.
        group: String,
        /// Topic.
        topic: String,
    },
    /// `0x34` ACK.
    Ack {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Member id.
        consumer_id: String,
        /// Generation.
        generation: u64,
        /// Sequence to acknowledge.
        seq: u64,
    },
    /// `0x35` EXISTS.
    Exists {
        /// Topic.
        topic: String,
    },
    /// `0x36` DELETE.
    Delete {
        /// Topic.
        topic: String,
    },
    /// `0x38` SEEK.
    Seek {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// `0` beginning, `1` end (anything else is answered `Invalid seek target: N`).
        target: u8,
    },
    /// `0x39` LEAVE.
    Leave {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Member id.
        consumer_id: String,
        /// Generation.
        generation: u64,
    },
    /// `0x3A` NACK (extension): `str topic`, `str group`, `str consumer_id`, `u64 generation`,
    /// `u64 seq`, `u64 delay_ms` → OK; the pending message is redelivered at once (`delay_ms` 0)
    /// or after the delay, or dead-lettered when it reached the delivery limit.
    Nack {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Member id.
        consumer_id: String,
        /// Generation.
        generation: u64,
        /// Sequence to release.
        seq: u64,
        /// Delay before the redelivery, in milliseconds.
        delay_ms: u64,
    },
    /// `0x3B` SEEK_SEQ (extension): `str topic`, `str group`, `u64 seq` → DATA `u64`: the first
    /// sequence the group will get (`seq` clamped to the retained range). Resets the group and
    /// bumps its generation, as SEEK.
    SeekSeq {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// First sequence to deliver.
        seq: u64,
    },
    /// `0x3C` SEEK_TIME (extension): `str topic`, `str group`, `u64 timestamp_ms` → DATA `u64`:
    /// the first sequence published at or after the timestamp (the next sequence if none).
    SeekTime {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Wall-clock milliseconds.
        timestamp_ms: u64,
    },
    /// `0x3D` LIST_DLQ (extension): `str topic`, `str group`, `u32 offset`, `u32 limit` → DATA
    /// dead letters by sequence (see [`crate::reply::StreamDeadLetter`]).
    ListDlq {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Page start.
        offset: u32,
        /// Page size (clamped).
        limit: u32,
    },
    /// `0x3E` REPLAY_DLQ (extension): `str topic`, `str group`, `u64 seq` → DATA `u32`: dead
    /// letters handed back for redelivery (`seq` 0 = all of them).
    ReplayDlq {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// One dead letter, or 0 for all.
        seq: u64,
    },
    /// `0x3F` DELETE_GROUP (extension): `str topic`, `str group` → OK (also for a missing group).
    DeleteGroup {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
    },
    /// `0x70` LIST_TOPICS (extension): `u32 offset`, `u32 limit` → DATA topics by name (see
    /// [`crate::reply::StreamTopicInfo`]).
    ListTopics {
        /// Page start.
        offset: u32,
        /// Page size (clamped to 1000).
        limit: u32,
    },
    /// `0x71` LIST_GROUPS (extension): `str topic`, `u32 offset`, `u32 limit` → DATA groups by
    /// name (see [`crate::reply::StreamGroupInfo`]).
    ListGroups {
        /// Topic.
        topic: String,
        /// Page start.
        offset: u32,
        /// Page size (clamped to 1000).
        limit: u32,
    },
    /// `0x72` ACK_BATCH (extension): `str topic`, `str group`, `str consumer_id`,
    /// `u64 generation`, `u32 n`, n × `u64 seq` → DATA `u32`: how many of the sequences were
    /// pending with this member and are now acknowledged. Sequences that are not (already
    /// acked, pending with another member, never delivered, named twice) are skipped, not
    /// errors. The payload must end exactly after the n sequences
    /// ([`DecodeError::InvalidAckBatch`] otherwise).
    AckBatch {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// Member id.
        consumer_id: String,
        /// Generation.
        generation: u64,
        /// Sequences to acknowledge, in any order.
        seqs: Vec<u64>,
    },
}

impl Request {
    /// Decodes the payload of a request frame with opcode `opcode`.
    ///
    /// # Errors
    /// The spec's decode errors: unknown opcodes, short fields, bad UTF-8, bad JSON.
    pub fn decode(opcode: u8, payload: &Bytes) -> Result<Self, DecodeError> {
        let mut f = Fields::new(payload);
        match Route::of(opcode) {
            Route::Echo => Ok(Self::Echo(payload.clone())),
            Route::Store => decode_store(opcode, &mut f, payload.len()).map(Self::Store),
            Route::Queue => decode_queue(opcode, &mut f).map(Self::Queue),
            Route::PubSub => decode_pubsub(opcode, &mut f).map(Self::PubSub),
            Route::Stream => decode_stream(opcode, &mut f).map(Self::Stream),
            Route::Unassigned => Err(DecodeError::UnknownOpcode(opcode)),
        }
    }

    /// The opcode this request is sent with.
    pub fn opcode(&self) -> u8 {
        use opcode::{pubsub as p, queue as q, stream as t};
        match self {
            Self::Echo(_) => opcode::ECHO,
            Self::Store(r) => r.opcode(),
            Self::Queue(r) => match r {
                QueueRequest::Create { .. } => q::CREATE,
                QueueRequest::Push { .. } => q::PUSH,
                QueueRequest::Consume { .. } => q::CONSUME,
                QueueRequest::Ack { .. } => q::ACK,
                QueueRequest::Exists { .. } => q::EXISTS,
                QueueRequest::Delete { .. } => q::DELETE,
                QueueRequest::PeekDlq { .. } => q::PEEK_DLQ,
                QueueRequest::MoveToQueue { .. } => q::MOVE_TO_QUEUE,
                QueueRequest::DeleteDlq { .. } => q::DELETE_DLQ,
                QueueRequest::PurgeDlq { .. } => q::PURGE_DLQ,
                QueueRequest::Nack { .. } => q::NACK,
                QueueRequest::Extend { .. } => q::EXTEND,
                QueueRequest::NackDelay { .. } => q::NACK_DELAY,
                QueueRequest::Purge { .. } => q::PURGE,
                QueueRequest::List { .. } => q::LIST,
            },
            Self::PubSub(r) => match r {
                PubSubRequest::Publish { .. } => p::PUBLISH,
                PubSubRequest::Subscribe { .. } => p::SUBSCRIBE,
                PubSubRequest::Unsubscribe { .. } => p::UNSUBSCRIBE,
                PubSubRequest::PublishCount { .. } => p::PUBLISH_COUNT,
                PubSubRequest::SubscribeChannel { .. } => p::SUBSCRIBE_CHANNEL,
                PubSubRequest::UnsubscribeChannel { .. } => p::UNSUBSCRIBE_CHANNEL,
                PubSubRequest::SubscribeGlob { .. } => p::SUBSCRIBE_GLOB,
                PubSubRequest::UnsubscribeGlob { .. } => p::UNSUBSCRIBE_GLOB,
            },
            Self::Stream(r) => match r {
                StreamRequest::Create { .. } => t::CREATE,
                StreamRequest::Publish { .. } => t::PUBLISH,
                StreamRequest::Fetch { .. } => t::FETCH,
                StreamRequest::Join { .. } => t::JOIN,
                StreamRequest::Ack { .. } => t::ACK,
                StreamRequest::Exists { .. } => t::EXISTS,
                StreamRequest::Delete { .. } => t::DELETE,
                StreamRequest::Seek { .. } => t::SEEK,
                StreamRequest::Leave { .. } => t::LEAVE,
                StreamRequest::Nack { .. } => t::NACK,
                StreamRequest::SeekSeq { .. } => t::SEEK_SEQ,
                StreamRequest::SeekTime { .. } => t::SEEK_TIME,
                StreamRequest::ListDlq { .. } => t::LIST_DLQ,
                StreamRequest::ReplayDlq { .. } => t::REPLAY_DLQ,
                StreamRequest::DeleteGroup { .. } => t::DELETE_GROUP,
                StreamRequest::ListTopics { .. } => t::LIST_TOPICS,
                StreamRequest::ListGroups { .. } => t::LIST_GROUPS,
                StreamRequest::AckBatch { .. } => t::ACK_BATCH,
            },
        }
    }

    /// Appends this request as a whole frame with request id `id`.
    ///
    /// # Errors
    /// [`FrameTooLarge`] when the payload does not fit a frame; `out` is left as it was.
    pub fn try_encode(&self, id: u32, out: &mut BytesMut) -> Result<(), FrameTooLarge> {
        write_frame(out, FrameType::Request, self.opcode(), id, |b| self.encode_payload(b))
    }

    /// [`Request::try_encode`] for requests known to fit a frame (tests, tools, small requests):
    /// one that does not fit is not written at all, never written with a wrapped length.
    pub fn encode(&self, id: u32, out: &mut BytesMut) {
        let _unsent = self.try_encode(id, out);
    }

    fn encode_payload(&self, b: &mut BytesMut) {
        match self {
            Self::Echo(bytes) => b.extend_from_slice(bytes),
            Self::Store(r) => encode_store(r, b),
            Self::Queue(r) => encode_queue(r, b),
            Self::PubSub(r) => encode_pubsub(r, b),
            Self::Stream(r) => encode_stream(r, b),
        }
    }
}

fn unknown(broker: &'static str, opcode: u8) -> DecodeError {
    DecodeError::UnknownBrokerOpcode { broker, opcode }
}

fn decode_store(op: u8, f: &mut Fields<'_>, payload_len: usize) -> Result<StoreRequest, DecodeError> {
    use opcode::store::*;
    Ok(match op {
        SET => StoreRequest::Set { key: f.str_bytes()?, options: f.json()?, value: f.rest() },
        GET => StoreRequest::Get { key: f.str_bytes()? },
        DEL => StoreRequest::Del { key: f.str_bytes()? },
        SET_NX => StoreRequest::SetNx { key: f.str_bytes()?, options: f.json()?, value: f.rest() },
        INCR_BY => StoreRequest::IncrBy { key: f.str_bytes()?, delta: f.i64()? },
        EXPIRE => StoreRequest::Expire { key: f.str_bytes()?, ttl_ms: f.u64()? },
        TTL => StoreRequest::Ttl { key: f.str_bytes()? },
        PERSIST => StoreRequest::Persist { key: f.str_bytes()? },
        MGET => {
            let n = f.u32()? as usize;
            // Each key takes at least 4 bytes, so this never reserves beyond the frame's size.
            let mut keys = Vec::with_capacity(n.min(payload_len / 4));
            for _ in 0..n {
                keys.push(f.str_bytes()?);
            }
            StoreRequest::MGet { keys }
        }
        MSET => {
            let options = f.json()?;
            let n = f.u32()? as usize;
            // Each pair takes at least 8 bytes, so this never reserves beyond the frame's size.
            let mut pairs = Vec::with_capacity(n.min(payload_len / 8));
            for _ in 0..n {
                pairs.push((f.str_bytes()?, f.blob()?));
            }
            StoreRequest::MSet { options, pairs }
        }
        SCAN => StoreRequest::Scan { cursor: f.u64()?, pattern: f.string()?, count: f.u32()? },
        SET_EXT => {
            let key = f.str_bytes()?;
            let flags = f.u8()?;
            let expiry = Expiry::decode(f)?;
            let (nx, xx, get) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
            StoreRequest::SetExt { key, nx, xx, get, expiry, value: f.rest() }
        }
        DEL_COUNT => StoreRequest::DelCount { keys: key_list(f, payload_len)? },
        EXISTS => StoreRequest::Exists { keys: key_list(f, payload_len)? },
        GET_DEL => StoreRequest::GetDel { key: f.str_bytes()? },
        GET_EX => StoreRequest::GetEx { key: f.str_bytes()?, expiry: Expiry::decode(f)? },
        APPEND => StoreRequest::Append { key: f.str_bytes()?, value: f.rest() },
        STRLEN => StoreRequest::Strlen { key: f.str_bytes()? },
        KEYS => StoreRequest::Keys { pattern: f.string()? },
        RENAME => StoreRequest::Rename { key: f.str_bytes()?, new_key: f.str_bytes()? },
        DBSIZE => StoreRequest::DbSize,
        FLUSH => StoreRequest::Flush,
        EXPIRE_AT => StoreRequest::ExpireAt { key: f.str_bytes()?, at_ms: f.u64()? },
        INFO => StoreRequest::Info,
        EXPIRE_EXT => StoreRequest::ExpireExt {
            key: f.str_bytes()?,
            flags: ExpireFlags::from_bits(f.u8()?),
            time: ExpireTime::decode(f)?,
        },
        WATCH => StoreRequest::Watch { keys: key_list(f, payload_len)? },
        UNWATCH => StoreRequest::Unwatch,
        EXEC => StoreRequest::Exec { commands: decode_exec(f, payload_len)? },
        _ => return Err(unknown("Store", op)),
    })
}

/// EXEC's requests: `u32 n`, n × (`u8 opcode`, `u32 len`, payload); none may be a transaction
/// command itself.
fn decode_exec(f: &mut Fields<'_>, payload_len: usize) -> Result<Vec<StoreRequest>, DecodeError> {
    use opcode::store::{EXEC, UNWATCH, WATCH};
    let n = f.u32()? as usize;
    // Each request takes at least 5 bytes, so this never reserves beyond the frame's size.
    let mut commands = Vec::with_capacity(n.min(payload_len / 5));
    for _ in 0..n {
        let op = f.u8()?;
        let payload = f.blob()?;
        if matches!(op, EXEC | WATCH | UNWATCH) || Route::of(op) != Route::Store {
            return Err(DecodeError::InvalidExec(op));
        }
        commands.push(decode_store(op, &mut Fields::new(&payload), payload.len())?);
    }
    Ok(commands)
}

/// `u32 n`, n × `str key` (MGET, DEL_COUNT, EXISTS).
fn key_list(f: &mut Fields<'_>, payload_len: usize) -> Result<Vec<Bytes>, DecodeError> {
    let n = f.u32()? as usize;
    // Each key takes at least 4 bytes, so this never reserves beyond the frame's size.
    let mut keys = Vec::with_capacity(n.min(payload_len / 4));
    for _ in 0..n {
        keys.push(f.str_bytes()?);
    }
    Ok(keys)
}

fn encode_store(r: &StoreRequest, b: &mut BytesMut) {
    match r {
        StoreRequest::Set { key, options, value } | StoreRequest::SetNx { key, options, value } => {
            put_blob(b, key);
            put_json(b, options);
            b.extend_from_slice(value);
        }
        StoreRequest::Get { key }
        | StoreRequest::Del { key }
        | StoreRequest::Ttl { key }
        | StoreRequest::Persist { key } => put_blob(b, key),
        StoreRequest::IncrBy { key, delta } => {
            put_blob(b, key);
            b.put_i64(*delta);
        }
        StoreRequest::Expire { key, ttl_ms } => {
            put_blob(b, key);
            b.put_u64(*ttl_ms);
        }
        StoreRequest::MGet { keys } => {
            put_count(b, keys.len());
            keys.iter().for_each(|k| put_blob(b, k));
        }
        StoreRequest::MSet { options, pairs } => {
            put_json(b, options);
            put_count(b, pairs.len());
            for (k, v) in pairs {
                put_blob(b, k);
                put_blob(b, v);
            }
        }
        StoreRequest::Scan { cursor, pattern, count } => {
            b.put_u64(*cursor);
            put_blob(b, pattern.as_bytes());
            b.put_u32(*count);
        }
        StoreRequest::SetExt { key, nx, xx, get, expiry, value } => {
            put_blob(b, key);
            b.put_u8(u8::from(*nx) | u8::from(*xx) << 1 | u8::from(*get) << 2);
            expiry.encode(b);
            b.extend_from_slice(value);
        }
        StoreRequest::DelCount { keys } | StoreRequest::Exists { keys } => {
            put_count(b, keys.len());
            keys.iter().for_each(|k| put_blob(b, k));
        }
        StoreRequest::GetDel { key } | StoreRequest::Strlen { key } => put_blob(b, key),
        StoreRequest::GetEx { key, expiry } => {
            put_blob(b, key);
            expiry.encode(b);
        }
        StoreRequest::Append { key, value } => {
            put_blob(b, key);
            b.extend_from_slice(value);
        }
        StoreRequest::Keys { pattern } => put_blob(b, pattern.as_bytes()),
        StoreRequest::Rename { key, new_key } => {
            put_blob(b, key);
            put_blob(b, new_key);
        }
        StoreRequest::DbSize | StoreRequest::Flush | StoreRequest::Info => {}
        StoreRequest::ExpireAt { key, at_ms } => {
            put_blob(b, key);
            b.put_u64(*at_ms);
        }
        StoreRequest::ExpireExt { key, flags, time } => {
            put_blob(b, key);
            b.put_u8(flags.bits());
            time.encode(b);
        }
        StoreRequest::Watch { keys } => {
            put_count(b, keys.len());
            keys.iter().for_each(|k| put_blob(b, k));
        }
        StoreRequest::Unwatch => {}
        StoreRequest::Exec { commands } => {
            put_count(b, commands.len());
            let mut payload = BytesMut::new();
            for command in commands {
                payload.clear();
                encode_store(command, &mut payload);
                b.put_u8(command.opcode());
                put_blob(b, &payload);
            }
        }
    }
}

fn decode_queue(op: u8, f: &mut Fields<'_>) -> Result<QueueRequest, DecodeError> {
    use opcode::queue::*;
    Ok(match op {
        CREATE => QueueRequest::Create { name: f.string()?, options: f.json()? },
        PUSH => QueueRequest::Push { name: f.string()?, options: f.json()?, payload: f.rest() },
        CONSUME => QueueRequest::Consume { name: f.string()?, options: f.json()? },
        ACK => QueueRequest::Ack { id: f.uuid()?, name: f.string()? },
        EXISTS => QueueRequest::Exists { name: f.string()? },
        DELETE => QueueRequest::Delete { name: f.string()? },
        PEEK_DLQ => QueueRequest::PeekDlq { name: f.string()?, limit: f.u32()?, offset: f.u32()? },
        MOVE_TO_QUEUE => QueueRequest::MoveToQueue { name: f.string()?, id: f.uuid()? },
        DELETE_DLQ => QueueRequest::DeleteDlq { name: f.string()?, id: f.uuid()? },
        PURGE_DLQ => QueueRequest::PurgeDlq { name: f.string()? },
        NACK => QueueRequest::Nack { id: f.uuid()?, name: f.string()?, reason: f.string()? },
        EXTEND => QueueRequest::Extend { id: f.uuid()?, name: f.string()?, ms: f.u64()? },
        NACK_DELAY => QueueRequest::NackDelay {
            id: f.uuid()?,
            name: f.string()?,
            reason: f.string()?,
            delay_ms: f.u64()?,
        },
        PURGE => QueueRequest::Purge { name: f.string()? },
        LIST => QueueRequest::List { offset: f.u32()?, limit: f.u32()? },
        _ => return Err(unknown("Queue", op)),
    })
}

fn encode_queue(r: &QueueRequest, b: &mut BytesMut) {
    match r {
        QueueRequest::Create { name, options } => {
            put_blob(b, name.as_bytes());
            put_json(b, options);
        }
        QueueRequest::Push { name, options, payload } => {
            put_blob(b, name.as_bytes());
            put_json(b, options);
            b.extend_from_slice(payload);
        }
        QueueRequest::Consume { name, options } => {
            put_blob(b, name.as_bytes());
            put_json(b, options);
        }
        QueueRequest::Ack { id, name } => {
            b.extend_from_slice(id);
            put_blob(b, name.as_bytes());
        }
        QueueRequest::Exists { name }
        | QueueRequest::Delete { name }
        | QueueRequest::PurgeDlq { name }
        | QueueRequest::Purge { name } => put_blob(b, name.as_bytes()),
        QueueRequest::PeekDlq { name, limit, offset } => {
            put_blob(b, name.as_bytes());
            b.put_u32(*limit);
            b.put_u32(*offset);
        }
        QueueRequest::MoveToQueue { name, id } | QueueRequest::DeleteDlq { name, id } => {
            put_blob(b, name.as_bytes());
            b.extend_from_slice(id);
        }
        QueueRequest::Nack { id, name, reason } => {
            b.extend_from_slice(id);
            put_blob(b, name.as_bytes());
            put_blob(b, reason.as_bytes());
        }
        QueueRequest::Extend { id, name, ms } => {
            b.extend_from_slice(id);
            put_blob(b, name.as_bytes());
            b.put_u64(*ms);
        }
        QueueRequest::NackDelay { id, name, reason, delay_ms } => {
            b.extend_from_slice(id);
            put_blob(b, name.as_bytes());
            put_blob(b, reason.as_bytes());
            b.put_u64(*delay_ms);
        }
        QueueRequest::List { offset, limit } => {
            b.put_u32(*offset);
            b.put_u32(*limit);
        }
    }
}

fn decode_pubsub(op: u8, f: &mut Fields<'_>) -> Result<PubSubRequest, DecodeError> {
    use opcode::pubsub::*;
    Ok(match op {
        PUBLISH => PubSubRequest::Publish { topic: f.string()?, options: f.json()?, payload: f.rest() },
        SUBSCRIBE => PubSubRequest::Subscribe { pattern: f.string()? },
        UNSUBSCRIBE => PubSubRequest::Unsubscribe { pattern: f.string()? },
        PUBLISH_COUNT => PubSubRequest::PublishCount { topic: f.string()?, payload: f.rest() },
        SUBSCRIBE_CHANNEL => PubSubRequest::SubscribeChannel { channel: f.string()? },
        UNSUBSCRIBE_CHANNEL => PubSubRequest::UnsubscribeChannel { channel: f.string()? },
        SUBSCRIBE_GLOB => PubSubRequest::SubscribeGlob { pattern: f.string()? },
        UNSUBSCRIBE_GLOB => PubSubRequest::UnsubscribeGlob { pattern: f.string()? },
        _ => return Err(unknown("PubSub", op)),
    })
}

fn encode_pubsub(r: &PubSubRequest, b: &mut BytesMut) {
    match r {
        PubSubRequest::Publish { topic, options, payload } => {
            put_blob(b, topic.as_bytes());
            put_json(b, options);
            b.extend_from_slice(payload);
        }
        PubSubRequest::Subscribe { pattern } | PubSubRequest::Unsubscribe { pattern } => {
            put_blob(b, pattern.as_bytes())
        }
        PubSubRequest::PublishCount { topic, payload } => {
            put_blob(b, topic.as_bytes());
            b.extend_from_slice(payload);
        }
        PubSubRequest::SubscribeChannel { channel: name }
        | PubSubRequest::UnsubscribeChannel { channel: name }
        | PubSubRequest::SubscribeGlob { pattern: name }
        | PubSubRequest::UnsubscribeGlob { pattern: name } => put_blob(b, name.as_bytes()),
    }
}

fn decode_stream(op: u8, f: &mut Fields<'_>) -> Result<StreamRequest, DecodeError> {
    use opcode::stream::*;
    Ok(match op {
        CREATE => StreamRequest::Create { topic: f.string()?, options: f.json()? },
        PUBLISH => StreamRequest::Publish { topic: f.string()?, payload: f.rest() },
        FETCH => StreamRequest::Fetch {
            topic: f.string()?,
            group: f.string()?,
            consumer_id: f.string()?,
            generation: f.u64()?,
            limit: f.u32()?,
            wait_ms: f.u32()?,
        },
        JOIN => StreamRequest::Join { group: f.string()?, topic: f.string()? },
        ACK => StreamRequest::Ack {
            topic: f.string()?,
            group: f.string()?,
            consumer_id: f.string()?,
            generation: f.u64()?,
            seq: f.u64()?,
        },
        EXISTS => StreamRequest::Exists { topic: f.string()? },
        DELETE => StreamRequest::Delete { topic: f.string()? },
        SEEK => StreamRequest::Seek { topic: f.string()?, group: f.string()?, target: f.u8()? },
        LEAVE => StreamRequest::Leave {
            topic: f.string()?,
            group: f.string()?,
            consumer_id: f.string()?,
            generation: f.u64()?,
        },
        NACK => StreamRequest::Nack {
            topic: f.string()?,
            group: f.string()?,
            consumer_id: f.string()?,
            generation: f.u64()?,
            seq: f.u64()?,
            delay_ms: f.u64()?,
        },
        SEEK_SEQ => StreamRequest::SeekSeq { topic: f.string()?, group: f.string()?, seq: f.u64()? },
        SEEK_TIME => {
            StreamRequest::SeekTime { topic: f.string()?, group: f.string()?, timestamp_ms: f.u64()? }
        }
        LIST_DLQ => StreamRequest::ListDlq {
            topic: f.string()?,
            group: f.string()?,
            offset: f.u32()?,
            limit: f.u32()?,
        },
        REPLAY_DLQ => StreamRequest::ReplayDlq { topic: f.string()?, group: f.string()?, seq: f.u64()? },
        DELETE_GROUP => StreamRequest::DeleteGroup { topic: f.string()?, group: f.string()? },
        LIST_TOPICS => StreamRequest::ListTopics { offset: f.u32()?, limit: f.u32()? },
        LIST_GROUPS => StreamRequest::ListGroups { topic: f.string()?, offset: f.u32()?, limit: f.u32()? },
        ACK_BATCH => decode_ack_batch(f)?,
        _ => return Err(unknown("Stream", op)),
    })
}

/// ACK_BATCH: the member fields, `u32 n`, then exactly n × `u64 seq`.
fn decode_ack_batch(f: &mut Fields<'_>) -> Result<StreamRequest, DecodeError> {
    let topic = f.string()?;
    let group = f.string()?;
    let consumer_id = f.string()?;
    let generation = f.u64()?;
    let n = f.u32()?;
    let remaining = f.remaining();
    if remaining as u64 != u64::from(n) * 8 {
        return Err(DecodeError::InvalidAckBatch { n, remaining });
    }
    // The check above bounds n by the payload's own size.
    let mut seqs = Vec::with_capacity(remaining / 8);
    for _ in 0..n {
        seqs.push(f.u64()?);
    }
    Ok(StreamRequest::AckBatch { topic, group, consumer_id, generation, seqs })
}

fn encode_stream(r: &StreamRequest, b: &mut BytesMut) {
    match r {
        StreamRequest::Create { topic, options } => {
            put_blob(b, topic.as_bytes());
            put_json(b, options);
        }
        StreamRequest::Publish { topic, payload } => {
            put_blob(b, topic.as_bytes());
            b.extend_from_slice(payload);
        }
        StreamRequest::Fetch { topic, group, consumer_id, generation, limit, wait_ms } => {
            for s in [topic, group, consumer_id] {
                put_blob(b, s.as_bytes());
            }
            b.put_u64(*generation);
            b.put_u32(*limit);
            b.put_u32(*wait_ms);
        }
        StreamRequest::Join { group, topic } => {
            put_blob(b, group.as_bytes());
            put_blob(b, topic.as_bytes());
        }
        StreamRequest::Ack { topic, group, consumer_id, generation, seq } => {
            for s in [topic, group, consumer_id] {
                put_blob(b, s.as_bytes());
            }
            b.put_u64(*generation);
            b.put_u64(*seq);
        }
        StreamRequest::Exists { topic } | StreamRequest::Delete { topic } => put_blob(b, topic.as_bytes()),
        StreamRequest::Seek { topic, group, target } => {
            put_blob(b, topic.as_bytes());
            put_blob(b, group.as_bytes());
            b.put_u8(*target);
        }
        StreamRequest::Leave { topic, group, consumer_id, generation } => {
            for s in [topic, group, consumer_id] {
                put_blob(b, s.as_bytes());
            }
            b.put_u64(*generation);
        }
        StreamRequest::Nack { topic, group, consumer_id, generation, seq, delay_ms } => {
            for s in [topic, group, consumer_id] {
                put_blob(b, s.as_bytes());
            }
            b.put_u64(*generation);
            b.put_u64(*seq);
            b.put_u64(*delay_ms);
        }
        StreamRequest::SeekSeq { topic, group, seq: value }
        | StreamRequest::SeekTime { topic, group, timestamp_ms: value }
        | StreamRequest::ReplayDlq { topic, group, seq: value } => {
            put_blob(b, topic.as_bytes());
            put_blob(b, group.as_bytes());
            b.put_u64(*value);
        }
        StreamRequest::ListDlq { topic, group, offset, limit } => {
            put_blob(b, topic.as_bytes());
            put_blob(b, group.as_bytes());
            b.put_u32(*offset);
            b.put_u32(*limit);
        }
        StreamRequest::DeleteGroup { topic, group } => {
            put_blob(b, topic.as_bytes());
            put_blob(b, group.as_bytes());
        }
        StreamRequest::ListTopics { offset, limit } => {
            b.put_u32(*offset);
            b.put_u32(*limit);
        }
        StreamRequest::ListGroups { topic, offset, limit } => {
            put_blob(b, topic.as_bytes());
            b.put_u32(*offset);
            b.put_u32(*limit);
        }
        StreamRequest::AckBatch { topic, group, consumer_id, generation, seqs } => {
            for s in [topic, group, consumer_id] {
                put_blob(b, s.as_bytes());
            }
            b.put_u64(*generation);
            b.reserve(4 + 8 * seqs.len());
            put_count(b, seqs.len());
            seqs.iter().for_each(|&seq| b.put_u64(seq));
        }
    }
}
