//! What each scenario sends: per-connection request generators, their set-up requests, and how a
//! reply or push counts.
//!
//! Requests are encoded once with `nexo-proto` into a [`Template`]; each send copies the template
//! and patches the request id and, where it varies, the key digits, the timestamp or the message
//! id in place, so generating load costs a memcpy, not an allocation. This module does no I/O and
//! reads no clock: send times arrive as arguments.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use nexo_proto::options::{
    ConsumeOptions, PublishOptions, PushOptions, QueueOptions, SetOptions, StreamOptions,
};
use nexo_proto::reply::{ReplyKind, status};
use nexo_proto::request::{PubSubRequest, QueueRequest, StoreRequest, StreamRequest};
use nexo_proto::{HEADER_LEN, Reply, Request, Uuid};

use crate::cli::{AckMode, LoadArgs};

/// The load scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// ECHO.
    Echo,
    /// Store SET.
    StoreSet,
    /// Store GET over a preloaded key space.
    StoreGet,
    /// Store GET/SET mix.
    StoreMixed,
    /// Pub/Sub publisher/subscriber pairs.
    PubSub,
    /// Pub/Sub one publisher, many subscribers.
    PubSubFanout,
    /// Pub/Sub many publishers, one subscriber.
    PubSubFanin,
    /// Queue PUSH.
    QueuePush,
    /// Queue PUSH + CONSUME + ACK.
    QueueCycle,
    /// Stream PUBLISH.
    StreamPublish,
    /// Stream PUBLISH + FETCH + ACK (or ACK_BATCH).
    StreamCycle,
    /// Stream producers (fixed rate or closed loop) and long-polling group consumers.
    StreamKeepup,
}

impl Scenario {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::StoreSet => "store-set",
            Self::StoreGet => "store-get",
            Self::StoreMixed => "store-mixed",
            Self::PubSub => "pubsub",
            Self::PubSubFanout => "pubsub-fanout",
            Self::PubSubFanin => "pubsub-fanin",
            Self::QueuePush => "queue-push",
            Self::QueueCycle => "queue-cycle",
            Self::StreamPublish => "stream-publish",
            Self::StreamCycle => "stream-cycle",
            Self::StreamKeepup => "stream-keepup",
        }
    }

    /// Whether operations are deliveries (pushes received) rather than answered requests.
    pub fn counts_deliveries(self) -> bool {
        matches!(self, Self::PubSub | Self::PubSubFanout | Self::PubSubFanin)
    }

    /// Who the connections of a run are, for the report's header (Pub/Sub fan-out ignores
    /// `--connections`: one publisher, `--subscribers` subscribers).
    pub fn connections_text(self, args: &LoadArgs) -> String {
        let n = args.connections;
        match self {
            Self::PubSub => format!("{n} publishers + {n} subscribers"),
            Self::PubSubFanout => format!("1 publisher + {} subscribers", args.subscribers),
            Self::PubSubFanin => format!("{n} publishers + 1 subscriber"),
            Self::StreamKeepup => format!("{n} producers + {n} consumers"),
            _ => format!("{n} connections"),
        }
    }
}

/// A whole request frame encoded with id 0; copied and patched for each send.
#[derive(Debug, Clone)]
pub struct Template {
    bytes: Vec<u8>,
}

impl Template {
    /// Encodes `request` once.
    pub fn of(request: &Request) -> Self {
        let mut out = BytesMut::new();
        request.encode(0, &mut out);
        Self { bytes: out.to_vec() }
    }

    /// Appends a copy with request id `id`; returns where the frame starts in `out`.
    pub fn emit(&self, out: &mut BytesMut, id: u32) -> usize {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        out[start + 2..start + 6].copy_from_slice(&id.to_be_bytes());
        start
    }

    /// Length of the whole frame.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// Width of the decimal part of Store keys (`key:000000001234`).
pub const KEY_DIGITS: usize = 12;
const KEY_PREFIX: &[u8] = b"key:";
/// Where the key digits start in a frame whose first field is the key.
const KEY_DIGITS_AT: usize = HEADER_LEN + 4 + KEY_PREFIX.len();

/// The Store key with number `n`.
pub fn key_bytes(n: u64) -> Bytes {
    let mut key = KEY_PREFIX.to_vec();
    key.extend_from_slice(&[b'0'; KEY_DIGITS]);
    write_digits(&mut key[KEY_PREFIX.len()..], n);
    Bytes::from(key)
}

/// Writes `n` as zero-padded decimal into `out` (the low digits if it does not fit).
pub fn write_digits(out: &mut [u8], mut n: u64) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// A small, fast generator (xorshift64*) for key choice and mixes; seeded per connection.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator; any seed works (0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound.max(1))) >> 64) as u64
    }
}

/// What the reply to a request is expected to be, and so how it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// OK or DATA; nothing to read.
    Done,
    /// OK to a cycle's Queue PUSH: one CONSUME is now owed.
    Pushed,
    /// DATA or NULL (a Store GET; NULL is a miss).
    Get,
    /// A CONSUME batch whose ids must be acked.
    QueueBatch,
    /// A Stream PUBLISH sequence.
    StreamSeq,
    /// A Stream FETCH batch whose sequences must be acked.
    StreamBatch,
    /// A Stream ACK (OK): one message consumed.
    StreamAck,
    /// A Stream ACK_BATCH (DATA `u32`): that many messages consumed.
    StreamAckBatch,
    /// A Stream JOIN result (set-up only).
    Joined,
}

/// How one reply counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered as expected.
    Ok,
    /// A Stream ACK or ACK_BATCH answered: this many messages acknowledged.
    Acked(u32),
    /// A Store GET answered NULL, or a CONSUME / FETCH answered an empty batch.
    Miss,
    /// ERR or an undecodable reply; the text.
    Error(String),
}

/// A request sent before the load starts, with its expected reply.
#[derive(Debug, Clone)]
pub struct SetupItem {
    /// The encoded frame (id patched at send).
    pub template: Template,
    /// The reply expected.
    pub expect: Expect,
}

impl SetupItem {
    fn new(request: Request, expect: Expect) -> Self {
        Self { template: Template::of(&request), expect }
    }
}

/// The request generator of one connection.
#[derive(Debug)]
pub enum Gen {
    /// Sends one template forever (ECHO, PUSH, stream PUBLISH without cycle).
    Fixed {
        /// The frame.
        template: Template,
        /// Reply kind.
        expect: Expect,
    },
    /// Store requests on random keys: GETs with probability `get_percent`, SETs otherwise.
    Store {
        /// GET frame.
        get: Template,
        /// SET frame.
        set: Template,
        /// Share of GETs in percent.
        get_percent: u8,
        /// Keys `0..keyspace`.
        keyspace: u64,
        /// Key choice.
        rng: Rng,
    },
    /// Pub/Sub or Stream PUBLISH with the send time in the payload's first 8 bytes.
    Publish {
        /// The frame.
        template: Template,
        /// Offset of the timestamp from the frame start.
        stamp_at: usize,
        /// Reply kind (`Done` for Pub/Sub, `StreamSeq` for a Stream topic).
        expect: Expect,
    },
    /// Receives pushes only; sends nothing after set-up.
    Subscriber,
    /// Queue PUSH, CONSUME (batch 1) and ACK of what was consumed, in that priority reversed:
    /// acks first, then one CONSUME per acknowledged PUSH, else a new PUSH.
    QueueCycle {
        /// PUSH frame.
        push: Template,
        /// CONSUME frame.
        consume: Template,
        /// ACK frame (id patched).
        ack: Template,
        /// PUSHes answered OK for which no CONSUME was sent yet.
        consumes_owed: u64,
        /// Message ids to ack.
        acks: VecDeque<Uuid>,
    },
    /// Stream PUBLISH, FETCH (limit 1) and ACK or ACK_BATCH; the member comes from the set-up
    /// JOIN.
    StreamCycle {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// PUBLISH frame.
        publish: Template,
        /// FETCH frame (known after JOIN).
        fetch: Option<Template>,
        /// PUBLISHes answered for which no FETCH was sent yet.
        fetches_owed: u64,
        /// What is still to acknowledge, and how.
        acks: Acks,
    },
    /// A group member consuming a Stream topic: one long-polling FETCH at a time; every message
    /// it returns is acknowledged (all acks go out before the next FETCH, so the server frees
    /// the group's pending slots first). The member comes from the set-up JOIN.
    StreamConsumer {
        /// Topic.
        topic: String,
        /// Group.
        group: String,
        /// FETCH `limit`.
        limit: u32,
        /// FETCH `wait_ms`.
        wait_ms: u32,
        /// FETCH frame (known after JOIN).
        fetch: Option<Template>,
        /// Whether a FETCH is awaiting its reply.
        fetching: bool,
        /// What is still to acknowledge, and how.
        acks: Acks,
        /// Send times carried by the messages of the last FETCH reply (drained by the runner).
        stamps: Vec<u64>,
    },
}

impl Gen {
    /// Appends the next request with id `id`, stamped `send_ns` where the scenario carries a time;
    /// returns what its reply should be, or `None` when it has nothing to send now (a consumer
    /// waiting for its FETCH).
    pub fn next(&mut self, out: &mut BytesMut, id: u32, send_ns: u64) -> Option<Expect> {
        Some(match self {
            Self::Fixed { template, expect } => {
                template.emit(out, id);
                *expect
            }
            Self::Store { get, set, get_percent, keyspace, rng } => {
                let is_get = *get_percent >= 100 || rng.below(100) < u64::from(*get_percent);
                let key = rng.below(*keyspace);
                let template = if is_get { &*get } else { &*set };
                let at = template.emit(out, id) + KEY_DIGITS_AT;
                write_digits(&mut out[at..at + KEY_DIGITS], key);
                if is_get { Expect::Get } else { Expect::Done }
            }
            Self::Publish { template, stamp_at, expect } => {
                let at = template.emit(out, id) + *stamp_at;
                out[at..at + 8].copy_from_slice(&send_ns.to_le_bytes());
                *expect
            }
            Self::Subscriber => return None,
            Self::QueueCycle { push, consume, ack, consumes_owed, acks } => {
                if let Some(msg_id) = acks.pop_front() {
                    let at = ack.emit(out, id) + HEADER_LEN;
                    out[at..at + 16].copy_from_slice(&msg_id);
                    Expect::Done
                } else if *consumes_owed > 0 {
                    *consumes_owed -= 1;
                    consume.emit(out, id);
                    Expect::QueueBatch
                } else {
                    push.emit(out, id);
                    Expect::Pushed
                }
            }
            Self::StreamCycle { publish, fetch, fetches_owed, acks, .. } => {
                if let Some(expect) = acks.emit(out, id) {
                    expect
                } else if let (true, Some(fetch)) = (*fetches_owed > 0, fetch.as_ref()) {
                    *fetches_owed -= 1;
                    fetch.emit(out, id);
                    Expect::StreamBatch
                } else {
                    publish.emit(out, id);
                    Expect::StreamSeq
                }
            }
            Self::StreamConsumer { fetch, fetching, acks, .. } => {
                if let Some(expect) = acks.emit(out, id) {
                    expect
                } else if let (false, Some(fetch)) = (*fetching, fetch.as_ref()) {
                    *fetching = true;
                    fetch.emit(out, id);
                    Expect::StreamBatch
                } else {
                    return None;
                }
            }
        })
    }

    /// Hands the send times carried by the messages of the last FETCH reply to `f` (stream
    /// consumers; nothing for the other generators).
    pub fn drain_stamps(&mut self, mut f: impl FnMut(u64)) {
        if let Self::StreamConsumer { stamps, .. } = self {
            stamps.drain(..).for_each(&mut f);
        }
    }

    /// Reads a reply with `status_byte` and `payload` to a request that expected `expect`.
    pub fn on_reply(&mut self, expect: Expect, status_byte: u8, payload: &Bytes) -> Outcome {
        if status_byte == status::ERR {
            let text = match Reply::decode(status_byte, payload, ReplyKind::Data) {
                Ok(Reply::Err(text)) => text,
                _ => "ERR with an undecodable text".to_string(),
            };
            return Outcome::Error(text);
        }
        match expect {
            Expect::Done => match status_byte {
                status::OK | status::DATA => Outcome::Ok,
                other => Outcome::Error(format!("unexpected status {other:#04x}")),
            },
            Expect::Pushed => match status_byte {
                status::OK => {
                    if let Self::QueueCycle { consumes_owed, .. } = self {
                        *consumes_owed += 1;
                    }
                    Outcome::Ok
                }
                other => Outcome::Error(format!("unexpected status {other:#04x}")),
            },
            Expect::Get => match status_byte {
                status::DATA => Outcome::Ok,
                status::NULL => Outcome::Miss,
                other => Outcome::Error(format!("unexpected status {other:#04x}")),
            },
            Expect::QueueBatch => match Reply::decode(status_byte, payload, ReplyKind::QueueMessages) {
                Ok(Reply::QueueMessages(messages)) => {
                    if let Self::QueueCycle { acks, consumes_owed, .. } = self {
                        if messages.is_empty() {
                            // Nothing was ready (not durable yet): consume again later.
                            *consumes_owed += 1;
                        }
                        acks.extend(messages.iter().map(|m| m.id));
                    }
                    if messages.is_empty() { Outcome::Miss } else { Outcome::Ok }
                }
                other => Outcome::Error(format!("bad CONSUME reply: {other:?}")),
            },
            Expect::StreamSeq => match Reply::decode(status_byte, payload, ReplyKind::Seq) {
                Ok(Reply::Seq(_)) => {
                    if let Self::StreamCycle { fetches_owed, .. } = self {
                        *fetches_owed += 1;
                    }
                    Outcome::Ok
                }
                other => Outcome::Error(format!("bad stream PUBLISH reply: {other:?}")),
            },
            Expect::StreamBatch => match Reply::decode(status_byte, payload, ReplyKind::StreamMessages) {
                Ok(Reply::StreamMessages(messages)) => {
                    match self {
                        Self::StreamCycle { acks, fetches_owed, .. } => {
                            if messages.is_empty() {
                                *fetches_owed += 1;
                            }
                            acks.fetched(messages.iter().map(|m| m.seq));
                        }
                        Self::StreamConsumer { acks, fetching, stamps, .. } => {
                            *fetching = false;
                            acks.fetched(messages.iter().map(|m| m.seq));
                            stamps.extend(messages.iter().filter_map(|m| payload_stamp(&m.payload)));
                        }
                        _ => {}
                    }
                    if messages.is_empty() { Outcome::Miss } else { Outcome::Ok }
                }
                other => {
                    if let Self::StreamConsumer { fetching, .. } = self {
                        *fetching = false;
                    }
                    Outcome::Error(format!("bad FETCH reply: {other:?}"))
                }
            },
            Expect::StreamAck => match status_byte {
                status::OK | status::DATA => Outcome::Acked(1),
                other => Outcome::Error(format!("unexpected status {other:#04x}")),
            },
            Expect::StreamAckBatch => match Reply::decode(status_byte, payload, ReplyKind::Count) {
                Ok(Reply::Count(n)) => Outcome::Acked(n),
                other => Outcome::Error(format!("bad ACK_BATCH reply: {other:?}")),
            },
            Expect::Joined => match Reply::decode(status_byte, payload, ReplyKind::Joined) {
                Ok(Reply::Joined { generation, consumer_id, .. }) => {
                    let (topic, group, fetch, acks, limit, wait_ms) = match self {
                        Self::StreamCycle { topic, group, fetch, acks, .. } => {
                            (topic, group, fetch, acks, 1, 0)
                        }
                        Self::StreamConsumer { topic, group, fetch, acks, limit, wait_ms, .. } => {
                            (topic, group, fetch, acks, *limit, *wait_ms)
                        }
                        _ => return Outcome::Ok,
                    };
                    *fetch = Some(Template::of(&Request::Stream(StreamRequest::Fetch {
                        topic: topic.clone(),
                        group: group.clone(),
                        consumer_id: consumer_id.clone(),
                        generation,
                        limit,
                        wait_ms,
                    })));
                    acks.joined(topic, group, consumer_id, generation);
                    Outcome::Ok
                }
                other => Outcome::Error(format!("bad JOIN reply: {other:?}")),
            },
        }
    }
}

/// Send time carried by a push of the Pub/Sub scenarios (first 8 payload bytes after the topic).
pub fn push_stamp(payload: &[u8]) -> Option<u64> {
    let topic_len = u32::from_be_bytes(payload.get(..4)?.try_into().ok()?) as usize;
    payload_stamp(payload.get(4 + topic_len..)?)
}

/// Send time carried in the first 8 bytes of a message body (little-endian nanoseconds).
pub fn payload_stamp(body: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(body.get(..8)?.try_into().ok()?))
}

/// How a Stream consumer acknowledges what its FETCHes returned: one ACK per message
/// ([`AckMode::Single`]) or one ACK_BATCH per FETCH reply ([`AckMode::Batch`]).
#[derive(Debug)]
pub struct Acks {
    mode: AckMode,
    /// The ACK frame (seq patched), or the ACK_BATCH frame with no sequences (count, sequences
    /// and frame length patched); known after JOIN.
    template: Option<Template>,
    /// Sequences to acknowledge, in fetch order.
    seqs: VecDeque<u64>,
    /// Batch mode: how many of `seqs` each FETCH reply returned, oldest first.
    batches: VecDeque<usize>,
}

impl Acks {
    /// Nothing to acknowledge yet; no template before JOIN.
    pub fn new(mode: AckMode) -> Self {
        Self { mode, template: None, seqs: VecDeque::new(), batches: VecDeque::new() }
    }

    /// JOIN answered: the member the acknowledgements name.
    fn joined(&mut self, topic: &str, group: &str, consumer_id: String, generation: u64) {
        let (topic, group) = (topic.to_owned(), group.to_owned());
        let request = match self.mode {
            AckMode::Single => StreamRequest::Ack { topic, group, consumer_id, generation, seq: 0 },
            AckMode::Batch => {
                StreamRequest::AckBatch { topic, group, consumer_id, generation, seqs: Vec::new() }
            }
        };
        self.template = Some(Template::of(&Request::Stream(request)));
    }

    /// A FETCH reply returned these sequences.
    fn fetched(&mut self, seqs: impl Iterator<Item = u64>) {
        let before = self.seqs.len();
        self.seqs.extend(seqs);
        let n = self.seqs.len() - before;
        if n > 0 && self.mode == AckMode::Batch {
            self.batches.push_back(n);
        }
    }

    /// Appends the next acknowledgement with id `id`: one sequence's ACK, or one FETCH reply's
    /// ACK_BATCH; `None` when there is nothing to acknowledge (or no member yet).
    fn emit(&mut self, out: &mut BytesMut, id: u32) -> Option<Expect> {
        let template = self.template.as_ref()?;
        match self.mode {
            AckMode::Single => {
                let seq = self.seqs.pop_front()?;
                let end = template.emit(out, id) + template.len();
                out[end - 8..end].copy_from_slice(&seq.to_be_bytes());
                Some(Expect::StreamAck)
            }
            AckMode::Batch => {
                let n = self.batches.pop_front()?;
                let start = template.emit(out, id);
                let count_at = out.len() - 4;
                for seq in self.seqs.drain(..n) {
                    out.extend_from_slice(&seq.to_be_bytes());
                }
                out[count_at..count_at + 4].copy_from_slice(&(n as u32).to_be_bytes());
                let len = (out.len() - start - HEADER_LEN) as u32;
                out[start + 6..start + 10].copy_from_slice(&len.to_be_bytes());
                Some(Expect::StreamAckBatch)
            }
        }
    }
}

/// One connection of a run.
#[derive(Debug)]
pub struct ConnPlan {
    /// Its generator.
    pub gen_: Gen,
    /// Requests before the load (pipelined; all must succeed).
    pub setup: Vec<SetupItem>,
    /// Whether it sends requests of its own during the load (on the `--rate` schedule, within
    /// its `--requests` quota).
    pub requester: bool,
    /// Whether it sends requests in answer to replies (a stream consumer's FETCH and acks):
    /// outside the rate schedule and the quotas.
    pub reacts: bool,
    /// Which of its answered requests are the scenario's operations (pushes count through
    /// `fed_by`).
    pub counts: Counts,
    /// In-flight cap instead of `--pipeline` (a consumer acks a whole FETCH batch at once).
    pub cap: Option<u32>,
    /// Index among the requesting connections (fixed-rate staggering, quotas).
    pub requester_index: u32,
    /// Subscribers and consumers: whose publishes reach it (to know when a `--requests` run is
    /// complete).
    pub fed_by: Feed,
    /// `--requests` mode: requests this connection sends (requesters).
    pub quota: Option<u64>,
    /// `--requests` mode: deliveries this connection waits for (pushes for a subscriber,
    /// acknowledged messages for a stream consumer).
    pub expected_deliveries: Option<u64>,
}

/// Which answered requests of a connection count as operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// Every answered request.
    Replies,
    /// Messages acknowledged by Stream ACKs and ACK_BATCHes (messages consumed).
    Acks,
    /// None (publishers, subscribers).
    Nothing,
}

/// Which publishers' messages reach a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Not a subscriber.
    Nobody,
    /// The publisher with this requester index.
    One(u32),
    /// Every publisher.
    All,
}

/// What a run creates on the server, for the clean-up after it (`--keep` leaves it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Created {
    /// Queue names.
    pub queues: Vec<String>,
    /// Stream topic names (their groups go with them).
    pub topics: Vec<String>,
    /// Store keys `key_bytes(0) .. key_bytes(keys)`.
    pub keys: u64,
}

impl Created {
    fn queue(&mut self, name: &str) {
        self.queues.push(name.to_owned());
    }

    fn topic(&mut self, name: &str) {
        if !self.topics.iter().any(|t| t == name) {
            self.topics.push(name.to_owned());
        }
    }
}

/// Every connection of a run.
#[derive(Debug)]
pub struct Plan {
    /// The connections.
    pub conns: Vec<ConnPlan>,
    /// What the run creates.
    pub created: Created,
    /// How many of them send requests of their own during the load.
    pub requesters: u32,
    /// `requests`, `deliveries` or `messages` (consumed).
    pub unit: &'static str,
}

fn payload(size: usize, min: usize) -> Bytes {
    Bytes::from(vec![b'x'; size.max(min)])
}

fn requester(gen_: Gen, setup: Vec<SetupItem>, index: u32) -> ConnPlan {
    ConnPlan {
        gen_,
        setup,
        requester: true,
        reacts: false,
        counts: Counts::Replies,
        cap: None,
        requester_index: index,
        fed_by: Feed::Nobody,
        quota: None,
        expected_deliveries: None,
    }
}

fn subscriber(pattern: &str, fed_by: Feed) -> ConnPlan {
    let sub = Request::PubSub(PubSubRequest::Subscribe { pattern: pattern.to_string() });
    ConnPlan {
        gen_: Gen::Subscriber,
        setup: vec![SetupItem::new(sub, Expect::Done)],
        requester: false,
        reacts: false,
        counts: Counts::Nothing,
        cap: None,
        requester_index: 0,
        fed_by,
        quota: None,
        expected_deliveries: None,
    }
}

fn publisher(topic: &str, size: usize, index: u32) -> ConnPlan {
    let body = payload(size, 8);
    let len = body.len();
    let template = Template::of(&Request::PubSub(PubSubRequest::Publish {
        topic: topic.to_string(),
        options: PublishOptions::default(),
        payload: body,
    }));
    let stamp_at = template.len() - len;
    let mut plan = requester(Gen::Publish { template, stamp_at, expect: Expect::Done }, Vec::new(), index);
    plan.counts = Counts::Nothing;
    plan
}

/// A Stream producer of `stream-keepup`: creates `topic`, publishes stamped messages to it.
fn stream_producer(topic: &str, size: usize, index: u32) -> ConnPlan {
    let create = Request::Stream(StreamRequest::Create {
        topic: topic.to_string(),
        options: StreamOptions::default(),
    });
    let body = payload(size, 8);
    let len = body.len();
    let template =
        Template::of(&Request::Stream(StreamRequest::Publish { topic: topic.to_string(), payload: body }));
    let stamp_at = template.len() - len;
    let gen_ = Gen::Publish { template, stamp_at, expect: Expect::StreamSeq };
    let mut plan = requester(gen_, vec![SetupItem::new(create, Expect::Done)], index);
    plan.counts = Counts::Nothing;
    plan
}

/// A Stream consumer of `stream-keepup`: creates `topic` (the producer may not have yet) and
/// joins `group`, then fetches and acks; fed by producer `index`.
fn stream_consumer(topic: &str, group: &str, args: &LoadArgs, index: u32) -> ConnPlan {
    let create = Request::Stream(StreamRequest::Create {
        topic: topic.to_string(),
        options: StreamOptions::default(),
    });
    let join = Request::Stream(StreamRequest::Join { group: group.to_string(), topic: topic.to_string() });
    ConnPlan {
        gen_: Gen::StreamConsumer {
            topic: topic.to_string(),
            group: group.to_string(),
            limit: args.fetch_limit,
            wait_ms: args.fetch_wait_ms,
            fetch: None,
            fetching: false,
            acks: Acks::new(args.ack),
            stamps: Vec::new(),
        },
        // CREATE is answered OK when the topic exists already (idempotent), so the order of
        // the producer's and the consumer's set-up does not matter.
        setup: vec![SetupItem::new(create, Expect::Done), SetupItem::new(join, Expect::Joined)],
        requester: false,
        reacts: true,
        counts: Counts::Acks,
        cap: Some(args.pipeline.max(args.fetch_limit.saturating_add(1))),
        requester_index: 0,
        fed_by: Feed::One(index),
        quota: None,
        expected_deliveries: None,
    }
}

fn store_gen(args: &LoadArgs, get_percent: u8, index: u32) -> Gen {
    let key = key_bytes(0);
    Gen::Store {
        get: Template::of(&Request::Store(StoreRequest::Get { key: key.clone() })),
        set: Template::of(&Request::Store(StoreRequest::Set {
            key,
            options: SetOptions::default(),
            value: payload(args.size, 0),
        })),
        get_percent,
        keyspace: args.keyspace,
        rng: Rng::new(u64::from(index) + 1),
    }
}

/// SETs of every key `k` with `k % of == index` (the preload share of one connection).
fn preload(args: &LoadArgs, index: u32, of: u32) -> Vec<SetupItem> {
    (u64::from(index)..args.keyspace)
        .step_by(of as usize)
        .map(|k| {
            let set = StoreRequest::Set {
                key: key_bytes(k),
                options: SetOptions::default(),
                value: payload(args.size, 0),
            };
            SetupItem::new(Request::Store(set), Expect::Done)
        })
        .collect()
}

impl Plan {
    /// `--requests` mode: splits `total` requests over the requesters and tells each subscriber
    /// how many pushes to wait for.
    pub fn assign_quotas(&mut self, total: u64) {
        let n = u64::from(self.requesters.max(1));
        let quota_of = |i: u32| total / n + u64::from(u64::from(i) < total % n);
        for c in &mut self.conns {
            if c.requester {
                c.quota = Some(quota_of(c.requester_index));
            }
            c.expected_deliveries = match c.fed_by {
                Feed::Nobody => None,
                Feed::One(i) => Some(quota_of(i)),
                Feed::All => Some(total),
            };
        }
    }
}

/// The connections of `scenario`; `tag` makes queue, topic and stream names unique to this run.
pub fn plan(scenario: Scenario, args: &LoadArgs, tag: &str) -> Plan {
    let n = args.connections;
    let mut conns = Vec::new();
    let mut created = Created::default();
    match scenario {
        Scenario::Echo => {
            let template = Template::of(&Request::Echo(payload(args.size, 0)));
            for i in 0..n {
                conns.push(requester(
                    Gen::Fixed { template: template.clone(), expect: Expect::Done },
                    vec![],
                    i,
                ));
            }
        }
        Scenario::StoreSet => {
            created.keys = args.keyspace;
            (0..n).for_each(|i| conns.push(requester(store_gen(args, 0, i), vec![], i)));
        }
        Scenario::StoreGet | Scenario::StoreMixed => {
            created.keys = args.keyspace;
            let get_percent = if scenario == Scenario::StoreGet { 100 } else { args.get_percent };
            for i in 0..n {
                conns.push(requester(store_gen(args, get_percent, i), preload(args, i, n), i));
            }
        }
        Scenario::PubSub => {
            for i in 0..n {
                let topic = format!("bench/{tag}/{i}");
                conns.push(subscriber(&topic, Feed::One(i)));
                conns.push(publisher(&topic, args.size, i));
            }
        }
        Scenario::PubSubFanout => {
            let topic = format!("bench/{tag}/fanout");
            for _ in 0..args.subscribers {
                conns.push(subscriber(&topic, Feed::All));
            }
            conns.push(publisher(&topic, args.size, 0));
        }
        Scenario::PubSubFanin => {
            let topic = format!("bench/{tag}/fanin");
            conns.push(subscriber(&topic, Feed::All));
            for i in 0..n {
                conns.push(publisher(&topic, args.size, i));
            }
        }
        Scenario::QueuePush | Scenario::QueueCycle => {
            for i in 0..n {
                let name = format!("bench-{tag}-{i}");
                created.queue(&name);
                let create = Request::Queue(QueueRequest::Create {
                    name: name.clone(),
                    options: QueueOptions::default(),
                });
                let push = Template::of(&Request::Queue(QueueRequest::Push {
                    name: name.clone(),
                    options: PushOptions::default(),
                    payload: payload(args.size, 0),
                }));
                let gen_ = if scenario == Scenario::QueuePush {
                    Gen::Fixed { template: push, expect: Expect::Done }
                } else {
                    let consume = ConsumeOptions { batch_size: Some(1), wait_ms: Some(0) };
                    Gen::QueueCycle {
                        push,
                        consume: Template::of(&Request::Queue(QueueRequest::Consume {
                            name: name.clone(),
                            options: consume,
                        })),
                        ack: Template::of(&Request::Queue(QueueRequest::Ack { id: [0; 16], name })),
                        consumes_owed: 0,
                        acks: VecDeque::new(),
                    }
                };
                conns.push(requester(gen_, vec![SetupItem::new(create, Expect::Done)], i));
            }
        }
        Scenario::StreamPublish | Scenario::StreamCycle => {
            for i in 0..n {
                let shared = scenario == Scenario::StreamPublish && args.topics > 0;
                let topic = if shared {
                    format!("bench-{tag}-{}", i % args.topics)
                } else {
                    format!("bench-{tag}-{i}")
                };
                let group = format!("g-{tag}-{i}");
                created.topic(&topic);
                let create = Request::Stream(StreamRequest::Create {
                    topic: topic.clone(),
                    options: StreamOptions::default(),
                });
                let publish = Template::of(&Request::Stream(StreamRequest::Publish {
                    topic: topic.clone(),
                    payload: payload(args.size, 0),
                }));
                let mut setup = vec![SetupItem::new(create, Expect::Done)];
                let gen_ = if scenario == Scenario::StreamPublish {
                    Gen::Fixed { template: publish, expect: Expect::Done }
                } else {
                    let join =
                        Request::Stream(StreamRequest::Join { group: group.clone(), topic: topic.clone() });
                    setup.push(SetupItem::new(join, Expect::Joined));
                    Gen::StreamCycle {
                        topic,
                        group,
                        publish,
                        fetch: None,
                        fetches_owed: 0,
                        acks: Acks::new(args.ack),
                    }
                };
                conns.push(requester(gen_, setup, i));
            }
        }
        Scenario::StreamKeepup => {
            for i in 0..n {
                let topic = format!("bench-{tag}-{i}");
                let group = format!("g-{tag}-{i}");
                created.topic(&topic);
                conns.push(stream_consumer(&topic, &group, args, i));
                conns.push(stream_producer(&topic, args.size, i));
            }
        }
    }
    let requesters = conns.iter().filter(|c| c.requester).count() as u32;
    let unit = match scenario {
        Scenario::StreamKeepup => "messages",
        s if s.counts_deliveries() => "deliveries",
        _ => "requests",
    };
    Plan { conns, created, requesters, unit }
}

#[cfg(test)]
mod tests {
    use nexo_proto::frame::split_frame;
    use nexo_proto::inbound::{Inbound, decode_request_frame};

    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn args(extra: &[&str]) -> LoadArgs {
        let cli = Cli::try_parse_from(["nexo-bench", "echo"].iter().chain(extra)).unwrap();
        match cli.command {
            Command::Echo(a) => a,
            _ => unreachable!(),
        }
    }

    fn decode_one(out: &mut BytesMut) -> (u32, Request) {
        match decode_request_frame(out, u32::MAX).unwrap().unwrap() {
            Inbound::Request { id, request } => (id, request),
            other => panic!("rejected: {other:?}"),
        }
    }

    #[test]
    fn store_requests_patch_id_and_key() {
        let a = args(&["--keyspace", "1000", "--size", "10"]);
        let mut g = store_gen(&a, 50, 3);
        let mut out = BytesMut::new();
        let (mut gets, mut sets) = (0, 0);
        for id in 0..200u32 {
            let expect = g.next(&mut out, id, 0).unwrap();
            let (got_id, req) = decode_one(&mut out);
            assert_eq!(got_id, id);
            let key = match (&req, expect) {
                (Request::Store(StoreRequest::Get { key }), Expect::Get) => {
                    gets += 1;
                    key.clone()
                }
                (Request::Store(StoreRequest::Set { key, value, .. }), Expect::Done) => {
                    assert_eq!(value.len(), 10);
                    sets += 1;
                    key.clone()
                }
                other => panic!("{other:?}"),
            };
            let n: u64 = std::str::from_utf8(&key[4..]).unwrap().parse().unwrap();
            assert!(n < 1000, "{n}");
        }
        assert!(gets > 60 && sets > 60, "a 50/50 mix: {gets}/{sets}");
        assert!(out.is_empty());
    }

    #[test]
    fn publish_carries_its_send_time() {
        let plan = publisher("t/1", 4, 0);
        let Gen::Publish { .. } = &plan.gen_ else { panic!() };
        let mut g = plan.gen_;
        let mut out = BytesMut::new();
        g.next(&mut out, 7, 123_456_789);
        let (_, req) = decode_one(&mut out);
        let Request::PubSub(PubSubRequest::Publish { topic, payload, .. }) = req else { panic!() };
        assert_eq!(topic, "t/1");
        assert_eq!(payload.len(), 8, "payloads hold at least the 8-byte stamp");
        // A push of it carries the stamp after the topic.
        let push = nexo_proto::Push::encode_frame(&topic, &payload);
        let mut buf = BytesMut::from(&push[..]);
        let frame = split_frame(&mut buf, u32::MAX).unwrap().unwrap();
        assert_eq!(push_stamp(&frame.payload), Some(123_456_789));
        assert_eq!(push_stamp(b"\0\0"), None);
    }

    #[test]
    fn queue_cycle_pushes_consumes_then_acks() {
        let a = args(&["--connections", "1"]);
        let mut p = plan(Scenario::QueueCycle, &a, "t");
        assert_eq!(p.conns.len(), 1);
        let g = &mut p.conns[0].gen_;
        let mut out = BytesMut::new();
        // Nothing owed: a PUSH, and another while its OK has not come.
        assert_eq!(g.next(&mut out, 1, 0), Some(Expect::Pushed));
        assert!(matches!(decode_one(&mut out).1, Request::Queue(QueueRequest::Push { .. })));
        // Its OK makes one CONSUME owed.
        assert_eq!(g.on_reply(Expect::Pushed, status::OK, &Bytes::new()), Outcome::Ok);
        assert_eq!(g.next(&mut out, 2, 0), Some(Expect::QueueBatch));
        assert!(matches!(decode_one(&mut out).1, Request::Queue(QueueRequest::Consume { .. })));
        let batch = Reply::QueueMessages(vec![nexo_proto::reply::QueueMessage {
            id: [9; 16],
            payload: Bytes::new(),
        }]);
        let mut enc = BytesMut::new();
        batch.encode(2, &mut enc);
        let frame = split_frame(&mut enc, u32::MAX).unwrap().unwrap();
        assert_eq!(g.on_reply(Expect::QueueBatch, frame.header.meta, &frame.payload), Outcome::Ok);
        assert_eq!(g.next(&mut out, 3, 0), Some(Expect::Done));
        match decode_one(&mut out).1 {
            Request::Queue(QueueRequest::Ack { id, name }) => {
                assert_eq!(id, [9; 16]);
                assert_eq!(name, "bench-t-0");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn errors_carry_the_server_text() {
        let mut g = Gen::Subscriber;
        let mut enc = BytesMut::new();
        Reply::Err("Stream is not available yet".into()).encode(1, &mut enc);
        let frame = split_frame(&mut enc, u32::MAX).unwrap().unwrap();
        assert_eq!(
            g.on_reply(Expect::Done, frame.header.meta, &frame.payload),
            Outcome::Error("Stream is not available yet".into())
        );
        assert_eq!(g.on_reply(Expect::Get, status::NULL, &Bytes::new()), Outcome::Miss);
    }

    #[test]
    fn plans_have_the_right_shape() {
        let a = args(&["--connections", "4", "--subscribers", "3", "--keyspace", "10"]);
        let p = plan(Scenario::PubSub, &a, "t");
        assert_eq!((p.conns.len(), p.requesters, p.unit), (8, 4, "deliveries"));
        let p = plan(Scenario::PubSubFanout, &a, "t");
        assert_eq!((p.conns.len(), p.requesters), (4, 1));
        let p = plan(Scenario::PubSubFanin, &a, "t");
        assert_eq!((p.conns.len(), p.requesters), (5, 4));
        let p = plan(Scenario::StoreGet, &a, "t");
        let preloaded: usize = p.conns.iter().map(|c| c.setup.len()).sum();
        assert_eq!(preloaded, 10, "every key preloaded once");
        let p = plan(Scenario::StreamCycle, &a, "t");
        assert!(p.conns.iter().all(|c| c.setup.len() == 2));
        assert_eq!(plan(Scenario::Echo, &a, "t").unit, "requests");
    }

    #[test]
    fn quotas_split_the_requests() {
        let a = args(&["--connections", "3"]);
        let mut p = plan(Scenario::PubSub, &a, "t");
        p.assign_quotas(10);
        let quotas: Vec<u64> = p.conns.iter().filter_map(|c| c.quota).collect();
        assert_eq!(quotas, vec![4, 3, 3]);
        let expected: Vec<u64> = p.conns.iter().filter_map(|c| c.expected_deliveries).collect();
        assert_eq!(expected, vec![4, 3, 3], "each subscriber waits for its own publisher");
        let mut p = plan(Scenario::PubSubFanout, &args(&["--subscribers", "2"]), "t");
        p.assign_quotas(10);
        assert_eq!(p.conns.iter().filter_map(|c| c.expected_deliveries).collect::<Vec<_>>(), vec![10, 10]);
    }

    fn reply_frame(reply: &Reply) -> (u8, Bytes) {
        let mut enc = BytesMut::new();
        reply.encode(1, &mut enc);
        let frame = split_frame(&mut enc, u32::MAX).unwrap().unwrap();
        (frame.header.meta, frame.payload)
    }

    #[test]
    fn keepup_pairs_a_consumer_with_each_producer() {
        let a = args(&["--connections", "3", "--fetch-limit", "40", "--pipeline", "8"]);
        let mut p = plan(Scenario::StreamKeepup, &a, "t");
        assert_eq!((p.conns.len(), p.requesters, p.unit), (6, 3, "messages"));
        let consumers: Vec<&ConnPlan> = p.conns.iter().filter(|c| c.reacts).collect();
        assert_eq!(consumers.len(), 3);
        for c in &consumers {
            assert!(!c.requester, "consumers are outside the rate split");
            assert_eq!(c.counts, Counts::Acks);
            assert_eq!(c.cap, Some(41), "a whole batch of acks plus the next FETCH");
            assert_eq!(c.setup.len(), 2, "CREATE then JOIN");
        }
        p.assign_quotas(10);
        let quotas: Vec<u64> = p.conns.iter().filter_map(|c| c.quota).collect();
        assert_eq!(quotas, vec![4, 3, 3]);
        let expected: Vec<u64> = p.conns.iter().filter_map(|c| c.expected_deliveries).collect();
        assert_eq!(expected, vec![4, 3, 3], "each consumer waits for its own producer's messages");
    }

    #[test]
    fn keepup_producer_stamps_its_messages() {
        let a = args(&["--connections", "1", "--size", "2"]);
        let mut p = plan(Scenario::StreamKeepup, &a, "t");
        let producer = p.conns.iter_mut().find(|c| c.requester).unwrap();
        let mut out = BytesMut::new();
        assert_eq!(producer.gen_.next(&mut out, 5, 987_654_321), Some(Expect::StreamSeq));
        let Request::Stream(StreamRequest::Publish { topic, payload }) = decode_one(&mut out).1 else {
            panic!()
        };
        assert_eq!(topic, "bench-t-0");
        assert_eq!(payload.len(), 8, "at least the 8-byte stamp");
        assert_eq!(payload_stamp(&payload), Some(987_654_321));
        assert_eq!(payload_stamp(b"short"), None);
    }

    /// A `stream-keepup` consumer with `extra` options, joined as member `m1` of generation 3,
    /// whose first FETCH (checked) is out.
    fn joined_consumer(extra: &[&str]) -> Gen {
        let mut all = vec!["--connections", "1", "--fetch-limit", "10", "--fetch-wait-ms", "250"];
        all.extend_from_slice(extra);
        let a = args(&all);
        let mut p = plan(Scenario::StreamKeepup, &a, "t");
        let at = p.conns.iter().position(|c| c.reacts).unwrap();
        let mut g = p.conns.swap_remove(at).gen_;
        let mut out = BytesMut::new();
        assert_eq!(g.next(&mut out, 1, 0), None, "nothing before JOIN is answered");
        let (st, body) =
            reply_frame(&Reply::Joined { ack_floor: 0, generation: 3, consumer_id: "m1".into() });
        assert_eq!(g.on_reply(Expect::Joined, st, &body), Outcome::Ok);
        assert_eq!(g.next(&mut out, 2, 0), Some(Expect::StreamBatch));
        match decode_one(&mut out).1 {
            Request::Stream(StreamRequest::Fetch { consumer_id, generation, limit, wait_ms, .. }) => {
                assert_eq!((consumer_id.as_str(), generation, limit, wait_ms), ("m1", 3, 10, 250));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(g.next(&mut out, 3, 0), None, "one FETCH at a time");
        g
    }

    fn stamped(seq: u64, stamp: u64) -> nexo_proto::reply::StreamMessage {
        nexo_proto::reply::StreamMessage {
            seq,
            timestamp_ms: 0,
            payload: Bytes::copy_from_slice(&stamp.to_le_bytes()),
        }
    }

    #[test]
    fn keepup_consumer_fetches_then_acks_each_message_with_ack_single() {
        let mut g = joined_consumer(&["--ack", "single"]);
        let mut out = BytesMut::new();
        let (st, body) = reply_frame(&Reply::StreamMessages(vec![stamped(7, 100), stamped(8, 200)]));
        assert_eq!(g.on_reply(Expect::StreamBatch, st, &body), Outcome::Ok);
        let mut stamps = Vec::new();
        g.drain_stamps(|s| stamps.push(s));
        assert_eq!(stamps, vec![100, 200]);
        for seq in [7u64, 8] {
            assert_eq!(g.next(&mut out, 10, 0), Some(Expect::StreamAck));
            match decode_one(&mut out).1 {
                Request::Stream(StreamRequest::Ack { seq: got, consumer_id, .. }) => {
                    assert_eq!((got, consumer_id.as_str()), (seq, "m1"));
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(g.next(&mut out, 11, 0), Some(Expect::StreamBatch), "the next FETCH after the acks");
        decode_one(&mut out);
        // A long-poll that ran out answers an empty batch: a miss, and fetching goes on.
        let (st, body) = reply_frame(&Reply::StreamMessages(Vec::new()));
        assert_eq!(g.on_reply(Expect::StreamBatch, st, &body), Outcome::Miss);
        assert_eq!(g.next(&mut out, 12, 0), Some(Expect::StreamBatch));
        assert_eq!(g.on_reply(Expect::StreamAck, status::OK, &Bytes::new()), Outcome::Acked(1));
    }

    #[test]
    fn keepup_consumer_acks_each_fetch_reply_with_one_ack_batch_by_default() {
        let mut g = joined_consumer(&[]);
        let mut out = BytesMut::new();
        let (st, body) = reply_frame(&Reply::StreamMessages(vec![stamped(7, 100), stamped(8, 200)]));
        assert_eq!(g.on_reply(Expect::StreamBatch, st, &body), Outcome::Ok);
        g.drain_stamps(|_| {});
        assert_eq!(g.next(&mut out, 10, 0), Some(Expect::StreamAckBatch));
        let (id, request) = decode_one(&mut out);
        assert_eq!(id, 10);
        let Request::Stream(StreamRequest::AckBatch { topic, group, consumer_id, generation, seqs }) =
            request
        else {
            panic!("{request:?}")
        };
        assert_eq!((topic.as_str(), group.as_str()), ("bench-t-0", "g-t-0"));
        assert_eq!((consumer_id.as_str(), generation, seqs), ("m1", 3, vec![7, 8]));
        assert_eq!(g.next(&mut out, 11, 0), Some(Expect::StreamBatch), "then the next FETCH");
        decode_one(&mut out);
        assert!(out.is_empty());
        // Two replies before the generator runs again: one ACK_BATCH each, in order (the
        // frame length and count are patched for each size).
        let (st, body) = reply_frame(&Reply::StreamMessages(vec![stamped(9, 1)]));
        assert_eq!(g.on_reply(Expect::StreamBatch, st, &body), Outcome::Ok);
        let (st, body) = reply_frame(&Reply::StreamMessages((10..13).map(|s| stamped(s, 1)).collect()));
        assert_eq!(g.on_reply(Expect::StreamBatch, st, &body), Outcome::Ok);
        for want in [vec![9u64], vec![10, 11, 12]] {
            assert_eq!(g.next(&mut out, 12, 0), Some(Expect::StreamAckBatch));
            match decode_one(&mut out).1 {
                Request::Stream(StreamRequest::AckBatch { seqs, .. }) => assert_eq!(seqs, want),
                other => panic!("{other:?}"),
            }
        }
        assert!(out.is_empty(), "each frame decodes exactly");
        // The reply counts what the server acknowledged.
        let (st, body) = reply_frame(&Reply::Count(3));
        assert_eq!(g.on_reply(Expect::StreamAckBatch, st, &body), Outcome::Acked(3));
        let (st, body) = reply_frame(&Reply::Err("FENCED".into()));
        assert_eq!(g.on_reply(Expect::StreamAckBatch, st, &body), Outcome::Error("FENCED".into()));
    }

    #[test]
    fn stream_cycle_acks_each_fetch_with_the_chosen_mode() {
        for (mode, expect) in [("single", Expect::StreamAck), ("batch", Expect::StreamAckBatch)] {
            let a = args(&["--connections", "1", "--ack", mode]);
            let mut p = plan(Scenario::StreamCycle, &a, "t");
            let g = &mut p.conns[0].gen_;
            let mut out = BytesMut::new();
            let (st, body) =
                reply_frame(&Reply::Joined { ack_floor: 0, generation: 1, consumer_id: "m".into() });
            assert_eq!(g.on_reply(Expect::Joined, st, &body), Outcome::Ok);
            assert_eq!(g.next(&mut out, 1, 0), Some(Expect::StreamSeq));
            decode_one(&mut out);
            let (st, body) = reply_frame(&Reply::Seq(1));
            assert_eq!(g.on_reply(Expect::StreamSeq, st, &body), Outcome::Ok);
            assert_eq!(g.next(&mut out, 2, 0), Some(Expect::StreamBatch));
            match decode_one(&mut out).1 {
                Request::Stream(StreamRequest::Fetch { limit: 1, wait_ms: 0, .. }) => {}
                other => panic!("{other:?}"),
            }
            let (st, body) = reply_frame(&Reply::StreamMessages(vec![stamped(1, 0)]));
            assert_eq!(g.on_reply(Expect::StreamBatch, st, &body), Outcome::Ok);
            assert_eq!(g.next(&mut out, 3, 0), Some(expect), "{mode}: the ack comes first");
            match (decode_one(&mut out).1, mode) {
                (Request::Stream(StreamRequest::Ack { seq: 1, .. }), "single") => {}
                (Request::Stream(StreamRequest::AckBatch { seqs, .. }), "batch") => assert_eq!(seqs, [1]),
                other => panic!("{mode}: {other:?}"),
            }
            assert_eq!(g.next(&mut out, 4, 0), Some(Expect::StreamSeq), "{mode}: then a new PUBLISH");
        }
    }

    #[test]
    fn digits_and_rng() {
        assert_eq!(&key_bytes(1234)[..], b"key:000000001234");
        let mut r = Rng::new(0);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }
}
