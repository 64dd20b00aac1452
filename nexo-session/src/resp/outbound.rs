//! The write side of a RESP connection: the bounded reorder buffer that releases replies in
//! request order, the conversion of engine replies and v1 push frames into RESP bytes.
//!
//! A message's payload is not copied per subscriber: past [`SHARE_MIN_BYTES`] it leaves as a
//! slice of the shared v1 frame between a small per-connection head and `\r\n`, so one publish
//! to many RESP subscribers holds its payload once.
//!
//! Owns ordering only. Requests of one pipeline may go to different broker threads whose replies
//! come back in any order; every request (and every locally answered command) holds a slot, in
//! request order, and bytes leave only from the front. A push that arrives while slots wait is
//! queued behind them, so it never overtakes a reply its command caused (a SUBSCRIBE confirmation
//! comes before the messages it brings) — except that it goes before the first Pub/Sub slot still
//! waiting: Pub/Sub emitted the push before answering that request, so an UNSUBSCRIBE confirmation
//! is the last thing of its channel the client sees, as with Redis. It is sans-IO: the runtime feeds it slots, replies and
//! pushes and takes the released bytes. What it holds is bounded by the runtime, which stops
//! reading a connection while [`RespOutbound::held_bytes`] plus its unsent bytes pass the write
//! limit, or too many requests are unanswered.

use std::collections::{HashMap, VecDeque};

use bytes::{Bytes, BytesMut};
use nexo_proto::push::PushParts;
use nexo_proto::resp::Version;
use nexo_proto::resp::encode as enc;
use nexo_proto::{HEADER_LEN, Reply};

/// Redis's OOM error line.
pub const OOM_TEXT: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// How an engine reply becomes RESP (decided when the command was parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Answered by the session itself: these bytes.
    Local(Bytes),
    /// The engine reply is swallowed (RESET's unsubscribes).
    Silent,
    /// `+OK`.
    Ok,
    /// `+OK`, or a null when the engine answered NULL (SET NX/XX that did not write).
    OkOrNull,
    /// A bulk string, or a null.
    Bulk,
    /// An integer (engine `Int` or `Flag`).
    Int,
    /// TTL: engine milliseconds rounded to seconds (negative codes kept).
    TtlSeconds,
    /// TYPE: `+string` when the key exists, else `+none`.
    Type,
    /// MGET: an array of bulks and nulls.
    Values,
    /// SCAN: `[cursor, [keys…]]`; `no_keys` when a TYPE filter other than `string` was given.
    Scan {
        /// Answer no keys (only the cursor).
        no_keys: bool,
    },
    /// KEYS: an array of keys.
    Keys,
    /// A (un)subscribe confirmation: `[kind, name, count]` as a push.
    Subscribed {
        /// `subscribe`, `psubscribe`, `unsubscribe` or `punsubscribe`.
        kind: &'static str,
        /// The channel or pattern.
        name: Bytes,
        /// Subscriptions of the connection after this one.
        count: usize,
    },
    /// EXEC: the Store's `Replies` as one array, each element encoded as its part says (a
    /// queued local answer is placed as it is); `Null` (a watched key changed) is a null array.
    Exec(Vec<Expect>),
    /// INFO: the sections rendered by the session, joined with the Store's.
    Info(Box<super::info::InfoParts>),
}

/// One slot in request order, registered by the session as it parses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The engine request id it waits for; `None` for a local answer (`Expect::Local`).
    pub id: Option<u32>,
    /// How to encode its reply.
    pub expect: Expect,
    /// The connection's RESP version when the command was parsed.
    pub version: Version,
}

/// Payloads at least this long are written as slices of the shared push frame, not copied.
pub const SHARE_MIN_BYTES: usize = 16 * 1024;

#[derive(Debug)]
enum Entry {
    /// Waits for an engine reply; `before` holds the pushes Pub/Sub emitted before answering a
    /// Pub/Sub request (`pubsub`), which leave ahead of its reply.
    Waiting {
        expect: Expect,
        version: Version,
        pubsub: bool,
        before: Vec<Bytes>,
        before_report: usize,
    },
    Ready {
        chunks: Vec<Bytes>,
        push_report: usize,
        cost: usize,
        reply: bool,
    },
}

/// What was released since the last [`RespOutbound::take_output`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Slots (replies and local answers) released.
    pub replies: usize,
    /// Their accounting cost: a v1 reply frame's size for engine replies, the bytes for local
    /// answers (what a runtime counts against the write limit when it queues them).
    pub cost: usize,
    /// Bytes of v1 push frames released (to report to Pub/Sub once written).
    pub push_report: usize,
}

/// The reorder buffer and encoder of one RESP connection.
#[derive(Debug, Default)]
pub struct RespOutbound {
    entries: VecDeque<Entry>,
    /// Sequence number of `entries[0]`.
    head_seq: u64,
    /// Engine request id → sequence number of its slot.
    ids: HashMap<u32, u64>,
    /// The version pushes are encoded with (that of the latest slot).
    version: Version,
    /// Released small bytes, contiguous.
    out: BytesMut,
    /// Released chunks before `out` (shared payloads and what preceded them).
    ready: Vec<Bytes>,
    held_bytes: usize,
    released: Released,
    /// Pub/Sub slots still waiting (pushes go before the first of them).
    pubsub_waiting: usize,
}

impl RespOutbound {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The cost of a local answer of `bytes` (see [`Released::cost`]).
    pub fn local_cost(bytes: &[u8]) -> usize {
        bytes.len()
    }

    /// The cost of an engine reply (see [`Released::cost`]).
    pub fn reply_cost(reply: &Reply) -> usize {
        HEADER_LEN + reply.payload_len()
    }

    /// Registers the next slot (call in request order, before its engine reply can arrive).
    pub fn handle_slot(&mut self, slot: Slot) {
        self.version = slot.version;
        let seq = self.head_seq + self.entries.len() as u64;
        match (slot.id, slot.expect) {
            (_, Expect::Local(bytes)) => {
                let cost = Self::local_cost(&bytes);
                self.held_bytes += bytes.len();
                self.entries.push_back(Entry::Ready {
                    chunks: vec![bytes],
                    push_report: 0,
                    cost,
                    reply: true,
                });
            }
            (Some(id), expect) => {
                self.ids.insert(id, seq);
                let version = slot.version;
                let waiting =
                    Entry::Waiting { expect, version, pubsub: false, before: Vec::new(), before_report: 0 };
                self.entries.push_back(waiting);
            }
            (None, _) => {
                // A non-local slot without an id cannot be answered: treat as an empty answer.
                self.entries.push_back(Entry::Ready {
                    chunks: Vec::new(),
                    push_report: 0,
                    cost: 0,
                    reply: true,
                });
            }
        }
        self.release();
    }

    /// The entry of engine request `id`, if it still waits.
    fn waiting_index(&self, id: u32) -> Option<usize> {
        let seq = self.ids.get(&id)?;
        seq.checked_sub(self.head_seq).and_then(|i| usize::try_from(i).ok())
    }

    /// Marks request `id` (registered with [`Self::handle_slot`]) as one for Pub/Sub: pushes that
    /// arrive while it waits were emitted before its reply and leave ahead of it.
    pub fn mark_pubsub(&mut self, id: u32) {
        let Some(index) = self.waiting_index(id) else { return };
        if let Some(Entry::Waiting { pubsub, .. }) = self.entries.get_mut(index)
            && !*pubsub
        {
            *pubsub = true;
            self.pubsub_waiting += 1;
        }
    }

    /// An engine reply to request `id` (replies to unknown ids are dropped).
    pub fn handle_reply(&mut self, id: u32, reply: &Reply) {
        let Some(index) = self.waiting_index(id) else { return };
        self.ids.remove(&id);
        let Some(entry) = self.entries.get_mut(index) else { return };
        if let Entry::Waiting { expect, version, pubsub, before, before_report } = entry {
            let mut out = BytesMut::new();
            convert(expect, *version, reply, &mut out);
            self.held_bytes += out.len();
            self.pubsub_waiting -= usize::from(*pubsub);
            let mut chunks = std::mem::take(before);
            if !out.is_empty() {
                chunks.push(out.freeze());
            }
            let push_report = *before_report;
            *entry = Entry::Ready { chunks, push_report, cost: Self::reply_cost(reply), reply: true };
        }
        self.release();
    }

    /// A v1 push frame for this connection, re-encoded as a RESP `message` / `pmessage` (a
    /// large payload stays a slice of `frame`).
    pub fn handle_push(&mut self, frame: &Bytes) {
        let Some(parts) = PushParts::split(frame) else { return };
        let chunks = encode_message(frame, &parts, self.version);
        let report = frame.len();
        if self.entries.is_empty() {
            chunks.into_iter().for_each(|chunk| self.emit(chunk));
            self.released.push_report += report;
            return;
        }
        self.held_bytes += chunks.iter().map(Bytes::len).sum::<usize>();
        if self.pubsub_waiting > 0 {
            let first = self.entries.iter_mut().find_map(|entry| match entry {
                Entry::Waiting { pubsub: true, before, before_report, .. } => Some((before, before_report)),
                _ => None,
            });
            if let Some((before, before_report)) = first {
                before.extend(chunks);
                *before_report += report;
                return;
            }
        }
        self.entries.push_back(Entry::Ready { chunks, push_report: report, cost: 0, reply: false });
    }

    fn release(&mut self) {
        while let Some(Entry::Ready { .. }) = self.entries.front() {
            let Some(Entry::Ready { chunks, push_report, cost, reply }) = self.entries.pop_front() else {
                break;
            };
            self.head_seq += 1;
            for chunk in chunks {
                self.held_bytes -= chunk.len();
                self.emit(chunk);
            }
            self.released.push_report += push_report;
            if reply {
                self.released.replies += 1;
                self.released.cost += cost;
            }
        }
    }

    /// Appends released bytes: small ones are copied together, large ones stay shared.
    fn emit(&mut self, chunk: Bytes) {
        if chunk.len() < SHARE_MIN_BYTES {
            self.out.extend_from_slice(&chunk);
            return;
        }
        if !self.out.is_empty() {
            self.ready.push(self.out.split().freeze());
        }
        self.ready.push(chunk);
    }

    /// Moves the bytes ready to write, in order, to `chunks`, and returns what they release;
    /// `None` when nothing is ready. A slot released without bytes (a silent one) hands out
    /// nothing: its counts carry over to the next output, so a runtime never gets an empty
    /// chunk to write.
    pub fn take_chunks(&mut self, chunks: &mut Vec<Bytes>) -> Option<Released> {
        if self.out.is_empty() && self.ready.is_empty() {
            return None;
        }
        chunks.append(&mut self.ready);
        if !self.out.is_empty() {
            chunks.push(self.out.split().freeze());
        }
        Some(std::mem::take(&mut self.released))
    }

    /// [`Self::take_chunks`] as one contiguous copy (tests and small outputs).
    pub fn take_output(&mut self) -> Option<(Bytes, Released)> {
        let mut chunks = Vec::new();
        let released = self.take_chunks(&mut chunks)?;
        Some((chunks.concat().into(), released))
    }

    /// Bytes held behind a slot that still waits (they count toward the write limit).
    pub fn held_bytes(&self) -> usize {
        self.held_bytes
    }

    /// Slots not yet released.
    pub fn pending(&self) -> usize {
        self.entries.len()
    }
}

/// `[message, channel, payload]` or `[pmessage, pattern, channel, payload]`, as one chunk, or
/// (a payload of [`SHARE_MIN_BYTES`] or more) a head, the payload as a slice of `frame` and
/// `\r\n`.
fn encode_message(frame: &Bytes, parts: &PushParts<'_>, version: Version) -> Vec<Bytes> {
    let mut out = BytesMut::new();
    encode_head(parts, version, &mut out);
    if parts.payload.len() < SHARE_MIN_BYTES {
        enc::bulk(&mut out, parts.payload);
        return vec![out.freeze()];
    }
    out.extend_from_slice(format!("${}\r\n", parts.payload.len()).as_bytes());
    vec![out.freeze(), frame.slice_ref(parts.payload), Bytes::from_static(b"\r\n")]
}

/// Everything of a message before its payload.
fn encode_head(parts: &PushParts<'_>, version: Version, out: &mut BytesMut) {
    match parts.pattern {
        Some(pattern) => {
            enc::push(out, 4, version);
            enc::bulk(out, b"pmessage");
            enc::bulk(out, pattern);
        }
        None => {
            enc::push(out, 3, version);
            enc::bulk(out, b"message");
        }
    }
    enc::bulk(out, parts.topic);
}

/// An engine error text as a Redis error line.
pub fn error_text(text: &str) -> String {
    if text.starts_with("OOM") {
        OOM_TEXT.to_owned()
    } else if ["ERR ", "NOAUTH ", "NOPERM ", "WRONGPASS "].iter().any(|code| text.starts_with(code)) {
        text.to_owned()
    } else {
        format!("ERR {text}")
    }
}

/// Encodes `reply` as `expect` says.
fn convert(expect: &Expect, version: Version, reply: &Reply, out: &mut BytesMut) {
    if let Reply::Err(text) = reply {
        return enc::error(out, &error_text(text));
    }
    match (expect, reply) {
        (Expect::Local(bytes), _) => out.extend_from_slice(bytes),
        (Expect::Silent, _) => {}
        (Expect::Ok, _) | (Expect::OkOrNull, Reply::Ok) => enc::simple(out, "OK"),
        (Expect::OkOrNull | Expect::Bulk, Reply::Data(value)) => enc::bulk(out, value),
        (Expect::OkOrNull | Expect::Bulk, _) => enc::null(out, version),
        (Expect::Int, Reply::Int(n)) => enc::integer(out, *n),
        (Expect::Int, Reply::Flag(b)) => enc::integer(out, i64::from(*b)),
        (Expect::TtlSeconds, Reply::Int(ms)) if *ms >= 0 => enc::integer(out, (ms + 500) / 1000),
        (Expect::TtlSeconds, Reply::Int(code)) => enc::integer(out, *code),
        (Expect::Type, Reply::Int(n)) => enc::simple(out, if *n > 0 { "string" } else { "none" }),
        (Expect::Values, Reply::Values(values)) => {
            enc::array(out, values.len());
            for value in values {
                match value {
                    Some(v) => enc::bulk(out, v),
                    None => enc::null(out, version),
                }
            }
        }
        (Expect::Scan { no_keys }, Reply::Keys { cursor, keys }) => {
            enc::array(out, 2);
            enc::bulk(out, cursor.to_string().as_bytes());
            let keys: &[Bytes] = if *no_keys { &[] } else { keys };
            enc::array(out, keys.len());
            keys.iter().for_each(|k| enc::bulk(out, k));
        }
        (Expect::Keys, Reply::Keys { keys, .. }) => {
            enc::array(out, keys.len());
            keys.iter().for_each(|k| enc::bulk(out, k));
        }
        (Expect::Subscribed { kind, name, count }, _) => subscribed(out, version, kind, Some(name), *count),
        (Expect::Info(parts), Reply::Data(text)) => {
            let body = super::info::finish(parts, text);
            enc::verbatim(out, body.as_bytes(), version);
        }
        (Expect::Exec(parts), Reply::Replies(replies)) => exec_array(out, version, parts, replies),
        (Expect::Exec(_), Reply::Null) => enc::null_array(out, version),
        (_, other) => enc::error(out, &format!("ERR unexpected engine reply {other:?}")),
    }
}

/// EXEC's array: local parts as queued, the others from the Store's replies in order.
fn exec_array(out: &mut BytesMut, version: Version, parts: &[Expect], replies: &[Reply]) {
    enc::array(out, parts.len());
    let mut replies = replies.iter();
    for part in parts {
        if let Expect::Local(bytes) = part {
            out.extend_from_slice(bytes);
            continue;
        }
        match replies.next() {
            Some(reply) => convert(part, version, reply, out),
            None => enc::error(out, "ERR transaction reply missing"),
        }
    }
}

/// A (un)subscribe confirmation push: `[kind, name or null, count]`.
pub fn subscribed(out: &mut BytesMut, version: Version, kind: &str, name: Option<&[u8]>, count: usize) {
    enc::push(out, 3, version);
    enc::bulk(out, kind.as_bytes());
    match name {
        Some(name) => enc::bulk(out, name),
        None => enc::null(out, version),
    }
    enc::integer(out, count as i64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nexo_proto::Push;

    fn slot(id: u32, expect: Expect) -> Slot {
        Slot { id: Some(id), expect, version: Version::Resp2 }
    }

    fn local(text: &str) -> Slot {
        Slot {
            id: None,
            expect: Expect::Local(Bytes::copy_from_slice(text.as_bytes())),
            version: Version::Resp2,
        }
    }

    fn text(o: &mut RespOutbound) -> String {
        o.take_output().map(|(b, _)| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    #[test]
    fn replies_leave_in_request_order() {
        let mut o = RespOutbound::new();
        o.handle_slot(slot(1, Expect::Bulk));
        o.handle_slot(local("+PONG\r\n"));
        o.handle_slot(slot(2, Expect::Int));
        assert_eq!(o.held_bytes(), 7);
        o.handle_reply(2, &Reply::Int(5));
        assert_eq!(text(&mut o), "", "held behind slot 1");
        o.handle_reply(1, &Reply::Null);
        let (bytes, released) = o.take_output().unwrap();
        assert_eq!(&bytes[..], b"$-1\r\n+PONG\r\n:5\r\n");
        assert_eq!(released.replies, 3);
        assert_eq!(o.held_bytes(), 0);
        assert_eq!(o.pending(), 0);
    }

    #[test]
    fn a_silent_slot_alone_releases_no_empty_output() {
        let mut o = RespOutbound::new();
        o.handle_slot(slot(1, Expect::Silent));
        o.handle_reply(1, &Reply::Ok);
        assert_eq!(o.take_output(), None, "an empty chunk would read as a closed socket");
        o.handle_slot(local("+OK\r\n"));
        let (bytes, released) = o.take_output().unwrap();
        assert_eq!((&bytes[..], released.replies), (&b"+OK\r\n"[..], 2));
    }

    #[test]
    fn pushes_wait_behind_pending_replies() {
        let mut o = RespOutbound::new();
        let frame = Push::encode_frame("ch", b"hi");
        o.handle_push(&frame);
        let (bytes, released) = o.take_output().unwrap();
        assert_eq!(&bytes[..], b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n");
        assert_eq!(released.push_report, frame.len());
        let sub = Expect::Subscribed { kind: "subscribe", name: Bytes::from_static(b"ch"), count: 1 };
        o.handle_slot(slot(7, sub));
        o.handle_push(&Push::encode_pattern_frame("c*", "ch", b"x"));
        assert_eq!(text(&mut o), "");
        o.handle_reply(7, &Reply::Ok);
        assert_eq!(
            text(&mut o),
            "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$1\r\nx\r\n"
        );
    }

    #[test]
    fn a_push_goes_before_a_waiting_pubsub_reply() {
        let mut o = RespOutbound::new();
        o.handle_slot(slot(3, Expect::Bulk));
        let unsub = Expect::Subscribed { kind: "unsubscribe", name: Bytes::from_static(b"ch"), count: 0 };
        o.handle_slot(slot(4, unsub));
        o.mark_pubsub(4);
        // Pub/Sub emitted this message before it answered the UNSUBSCRIBE.
        let frame = Push::encode_frame("ch", b"hi");
        o.handle_push(&frame);
        o.handle_reply(4, &Reply::Ok);
        assert_eq!(text(&mut o), "", "the GET still waits");
        o.handle_reply(3, &Reply::Null);
        let (bytes, released) = o.take_output().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "$-1\r\n*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n"
        );
        assert_eq!((released.replies, released.push_report), (2, frame.len()));
        assert_eq!(o.held_bytes(), 0);
    }

    #[test]
    fn a_large_payload_is_shared_not_copied() {
        let payload = vec![b'p'; SHARE_MIN_BYTES];
        let frame = Push::encode_frame("ch", &payload);
        let mut chunks = Vec::new();
        for _ in 0..2 {
            let mut o = RespOutbound::new();
            o.handle_push(&frame);
            o.take_chunks(&mut chunks).unwrap();
        }
        let shared: Vec<&Bytes> = chunks.iter().filter(|c| c.len() == payload.len()).collect();
        assert_eq!(shared.len(), 2);
        assert!(shared.iter().all(|c| c.as_ptr() == shared[0].as_ptr()), "both point into the frame");
        let whole: Vec<u8> = chunks[..3].concat();
        assert!(whole.starts_with(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$16384\r\npp"));
        assert!(whole.ends_with(b"pp\r\n"));
    }

    #[test]
    fn conversions() {
        let one = |expect: Expect, reply: Reply, version: Version| {
            let mut out = BytesMut::new();
            convert(&expect, version, &reply, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        };
        let v2 = Version::Resp2;
        assert_eq!(
            one(Expect::Ok, Reply::Err("OOM: store memory limit reached".into()), v2),
            format!("-{OOM_TEXT}\r\n")
        );
        assert_eq!(one(Expect::Ok, Reply::Err("Invalid key: x".into()), v2), "-ERR Invalid key: x\r\n");
        assert_eq!(one(Expect::OkOrNull, Reply::Null, Version::Resp3), "_\r\n");
        assert_eq!(one(Expect::TtlSeconds, Reply::Int(1499), v2), ":1\r\n");
        assert_eq!(one(Expect::TtlSeconds, Reply::Int(-2), v2), ":-2\r\n");
        assert_eq!(one(Expect::Type, Reply::Int(0), v2), "+none\r\n");
        assert_eq!(one(Expect::Int, Reply::Flag(true), v2), ":1\r\n");
        let values = Reply::Values(vec![Some(Bytes::from_static(b"a")), None]);
        assert_eq!(one(Expect::Values, values, v2), "*2\r\n$1\r\na\r\n$-1\r\n");
        let keys = Reply::Keys { cursor: 12, keys: vec![Bytes::from_static(b"k")] };
        assert_eq!(
            one(Expect::Scan { no_keys: false }, keys.clone(), v2),
            "*2\r\n$2\r\n12\r\n*1\r\n$1\r\nk\r\n"
        );
        assert_eq!(one(Expect::Scan { no_keys: true }, keys.clone(), v2), "*2\r\n$2\r\n12\r\n*0\r\n");
        assert_eq!(one(Expect::Keys, keys, v2), "*1\r\n$1\r\nk\r\n");
    }
}
