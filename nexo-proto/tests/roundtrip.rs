//! Property tests: every request, reply and push survives encode → decode unchanged, decoding is
//! incremental (any split of the input gives the same frames), oversized frames are refused from
//! the header alone, and no input makes a decoder panic.

use bytes::{Bytes, BytesMut};
use nexo_proto::options::{
    ConsumeOptions, PublishOptions, PushOptions, QueueOptions, Retention, SetOptions, StreamOptions,
};
use nexo_proto::reply::{
    DlqMessage, QueueInfo, QueueMessage, StreamDeadLetter, StreamGroupInfo, StreamMessage, StreamTopicInfo,
};
use nexo_proto::request::{
    ExpireFlags, ExpireTime, Expiry, PubSubRequest, QueueRequest, StoreRequest, StreamRequest,
};
use nexo_proto::{
    DEFAULT_MAX_FRAME_BYTES, DecodeError, FrameType, HEADER_LEN, Inbound, Oversized, Push, Reply, ReplyKind,
    Request, decode_request_frame, frame::split_frame,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Arbitrary Unicode text, including the empty string and multi-byte characters.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z/+#$._-]{0,12}", Just(String::new()), Just("ключ/😀/日本語".to_owned()),]
}

fn text_bytes() -> impl Strategy<Value = Bytes> {
    text().prop_map(Bytes::from)
}

fn bytes() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn uuid() -> impl Strategy<Value = [u8; 16]> {
    any::<[u8; 16]>()
}

fn set_options() -> impl Strategy<Value = SetOptions> {
    (any::<Option<u64>>(), any::<bool>()).prop_map(|(ttl, persist)| SetOptions { ttl, persist })
}

fn queue_options() -> impl Strategy<Value = QueueOptions> {
    (any::<Option<u64>>(), any::<Option<u32>>(), any::<Option<u64>>(), any::<Option<u64>>()).prop_map(
        |(visibility_timeout_ms, max_retries, max_depth, max_bytes)| QueueOptions {
            visibility_timeout_ms,
            max_retries,
            max_depth,
            max_bytes,
        },
    )
}

fn push_options() -> impl Strategy<Value = PushOptions> {
    (any::<Option<u8>>(), any::<Option<u64>>())
        .prop_map(|(priority, delay_ms)| PushOptions { priority, delay_ms })
}

fn consume_options() -> impl Strategy<Value = ConsumeOptions> {
    (any::<Option<u32>>(), any::<Option<u64>>())
        .prop_map(|(batch_size, wait_ms)| ConsumeOptions { batch_size, wait_ms })
}

fn publish_options() -> impl Strategy<Value = PublishOptions> {
    (any::<bool>(), any::<Option<u64>>(), any::<bool>()).prop_map(|(retain, ttl, persist)| PublishOptions {
        retain,
        ttl,
        persist,
    })
}

fn stream_options() -> impl Strategy<Value = StreamOptions> {
    prop::option::of(
        (any::<Option<u64>>(), any::<Option<u64>>())
            .prop_map(|(max_age_ms, max_bytes)| Retention { max_age_ms, max_bytes }),
    )
    .prop_map(|retention| StreamOptions { retention })
}

fn plain_store_request() -> impl Strategy<Value = StoreRequest> {
    prop_oneof![
        (text_bytes(), set_options(), bytes()).prop_map(|(key, options, value)| StoreRequest::Set {
            key,
            options,
            value
        }),
        text_bytes().prop_map(|key| StoreRequest::Get { key }),
        text_bytes().prop_map(|key| StoreRequest::Del { key }),
        (text_bytes(), set_options(), bytes()).prop_map(|(key, options, value)| StoreRequest::SetNx {
            key,
            options,
            value
        }),
        (text_bytes(), any::<i64>()).prop_map(|(key, delta)| StoreRequest::IncrBy { key, delta }),
        (text_bytes(), any::<u64>()).prop_map(|(key, ttl_ms)| StoreRequest::Expire { key, ttl_ms }),
        text_bytes().prop_map(|key| StoreRequest::Ttl { key }),
        text_bytes().prop_map(|key| StoreRequest::Persist { key }),
        prop::collection::vec(text_bytes(), 0..6).prop_map(|keys| StoreRequest::MGet { keys }),
        (set_options(), prop::collection::vec((text_bytes(), bytes()), 0..6))
            .prop_map(|(options, pairs)| StoreRequest::MSet { options, pairs }),
        (any::<u64>(), text(), any::<u32>()).prop_map(|(cursor, pattern, count)| StoreRequest::Scan {
            cursor,
            pattern,
            count
        }),
        (text_bytes(), any::<[bool; 3]>(), expiry(), bytes()).prop_map(
            |(key, [nx, xx, get], expiry, value)| {
                StoreRequest::SetExt { key, nx, xx, get, expiry, value }
            }
        ),
        prop::collection::vec(text_bytes(), 0..6).prop_map(|keys| StoreRequest::DelCount { keys }),
        prop::collection::vec(text_bytes(), 0..6).prop_map(|keys| StoreRequest::Exists { keys }),
        text_bytes().prop_map(|key| StoreRequest::GetDel { key }),
        (text_bytes(), expiry()).prop_map(|(key, expiry)| StoreRequest::GetEx { key, expiry }),
        (text_bytes(), bytes()).prop_map(|(key, value)| StoreRequest::Append { key, value }),
        text_bytes().prop_map(|key| StoreRequest::Strlen { key }),
        text().prop_map(|pattern| StoreRequest::Keys { pattern }),
        (text_bytes(), text_bytes()).prop_map(|(key, new_key)| StoreRequest::Rename { key, new_key }),
        Just(StoreRequest::DbSize),
        Just(StoreRequest::Flush),
        (text_bytes(), any::<u64>()).prop_map(|(key, at_ms)| StoreRequest::ExpireAt { key, at_ms }),
        Just(StoreRequest::Info),
        (text_bytes(), expire_flags(), expire_time())
            .prop_map(|(key, flags, time)| StoreRequest::ExpireExt { key, flags, time }),
    ]
}

/// Every Store request: the plain ones and the transaction requests (EXEC holds plain ones).
fn store_request() -> impl Strategy<Value = StoreRequest> {
    prop_oneof![
        4 => plain_store_request(),
        1 => prop::collection::vec(text_bytes(), 0..6).prop_map(|keys| StoreRequest::Watch { keys }),
        1 => Just(StoreRequest::Unwatch),
        1 => prop::collection::vec(plain_store_request(), 0..4).prop_map(|commands| StoreRequest::Exec { commands }),
    ]
}

fn expire_flags() -> impl Strategy<Value = ExpireFlags> {
    any::<[bool; 4]>().prop_map(|[nx, xx, gt, lt]| ExpireFlags { nx, xx, gt, lt })
}

fn expire_time() -> impl Strategy<Value = ExpireTime> {
    prop_oneof![any::<u64>().prop_map(ExpireTime::InMs), any::<u64>().prop_map(ExpireTime::AtMs)]
}

fn expiry() -> impl Strategy<Value = Expiry> {
    prop_oneof![
        Just(Expiry::Keep),
        any::<u64>().prop_map(Expiry::InMs),
        any::<u64>().prop_map(Expiry::AtMs),
        Just(Expiry::Persist),
    ]
}

fn queue_request() -> impl Strategy<Value = QueueRequest> {
    prop_oneof![
        (text(), queue_options()).prop_map(|(name, options)| QueueRequest::Create { name, options }),
        (text(), push_options(), bytes()).prop_map(|(name, options, payload)| QueueRequest::Push {
            name,
            options,
            payload
        }),
        (text(), consume_options()).prop_map(|(name, options)| QueueRequest::Consume { name, options }),
        (uuid(), text()).prop_map(|(id, name)| QueueRequest::Ack { id, name }),
        text().prop_map(|name| QueueRequest::Exists { name }),
        text().prop_map(|name| QueueRequest::Delete { name }),
        (text(), any::<u32>(), any::<u32>()).prop_map(|(name, limit, offset)| QueueRequest::PeekDlq {
            name,
            limit,
            offset
        }),
        (text(), uuid()).prop_map(|(name, id)| QueueRequest::MoveToQueue { name, id }),
        (text(), uuid()).prop_map(|(name, id)| QueueRequest::DeleteDlq { name, id }),
        text().prop_map(|name| QueueRequest::PurgeDlq { name }),
        (uuid(), text(), text()).prop_map(|(id, name, reason)| QueueRequest::Nack { id, name, reason }),
        (uuid(), text(), any::<u64>()).prop_map(|(id, name, ms)| QueueRequest::Extend { id, name, ms }),
        (uuid(), text(), text(), any::<u64>()).prop_map(|(id, name, reason, delay_ms)| {
            QueueRequest::NackDelay { id, name, reason, delay_ms }
        }),
        text().prop_map(|name| QueueRequest::Purge { name }),
        (any::<u32>(), any::<u32>()).prop_map(|(offset, limit)| QueueRequest::List { offset, limit }),
    ]
}

fn pubsub_request() -> impl Strategy<Value = PubSubRequest> {
    prop_oneof![
        (text(), publish_options(), bytes()).prop_map(|(topic, options, payload)| PubSubRequest::Publish {
            topic,
            options,
            payload
        }),
        text().prop_map(|pattern| PubSubRequest::Subscribe { pattern }),
        text().prop_map(|pattern| PubSubRequest::Unsubscribe { pattern }),
        (text(), bytes()).prop_map(|(topic, payload)| PubSubRequest::PublishCount { topic, payload }),
        text().prop_map(|channel| PubSubRequest::SubscribeChannel { channel }),
        text().prop_map(|channel| PubSubRequest::UnsubscribeChannel { channel }),
        text().prop_map(|pattern| PubSubRequest::SubscribeGlob { pattern }),
        text().prop_map(|pattern| PubSubRequest::UnsubscribeGlob { pattern }),
    ]
}

fn stream_request() -> impl Strategy<Value = StreamRequest> {
    prop_oneof![
        (text(), stream_options()).prop_map(|(topic, options)| StreamRequest::Create { topic, options }),
        (text(), bytes()).prop_map(|(topic, payload)| StreamRequest::Publish { topic, payload }),
        (text(), text(), text(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(
            |(topic, group, consumer_id, generation, limit, wait_ms)| StreamRequest::Fetch {
                topic,
                group,
                consumer_id,
                generation,
                limit,
                wait_ms
            }
        ),
        (text(), text()).prop_map(|(group, topic)| StreamRequest::Join { group, topic }),
        (text(), text(), text(), any::<u64>(), any::<u64>()).prop_map(
            |(topic, group, consumer_id, generation, seq)| StreamRequest::Ack {
                topic,
                group,
                consumer_id,
                generation,
                seq
            }
        ),
        text().prop_map(|topic| StreamRequest::Exists { topic }),
        text().prop_map(|topic| StreamRequest::Delete { topic }),
        (text(), text(), any::<u8>()).prop_map(|(topic, group, target)| StreamRequest::Seek {
            topic,
            group,
            target
        }),
        (text(), text(), text(), any::<u64>()).prop_map(|(topic, group, consumer_id, generation)| {
            StreamRequest::Leave { topic, group, consumer_id, generation }
        }),
        (text(), text(), text(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
            |(topic, group, consumer_id, generation, seq, delay_ms)| StreamRequest::Nack {
                topic,
                group,
                consumer_id,
                generation,
                seq,
                delay_ms
            }
        ),
        (text(), text(), any::<u64>()).prop_map(|(topic, group, seq)| StreamRequest::SeekSeq {
            topic,
            group,
            seq
        }),
        (text(), text(), any::<u64>()).prop_map(|(topic, group, timestamp_ms)| StreamRequest::SeekTime {
            topic,
            group,
            timestamp_ms
        }),
        (text(), text(), any::<u32>(), any::<u32>()).prop_map(|(topic, group, offset, limit)| {
            StreamRequest::ListDlq { topic, group, offset, limit }
        }),
        (text(), text(), any::<u64>()).prop_map(|(topic, group, seq)| StreamRequest::ReplayDlq {
            topic,
            group,
            seq
        }),
        (text(), text()).prop_map(|(topic, group)| StreamRequest::DeleteGroup { topic, group }),
        (any::<u32>(), any::<u32>()).prop_map(|(offset, limit)| StreamRequest::ListTopics { offset, limit }),
        (text(), any::<u32>(), any::<u32>()).prop_map(|(topic, offset, limit)| StreamRequest::ListGroups {
            topic,
            offset,
            limit
        }),
        (text(), text(), text(), any::<u64>(), prop::collection::vec(any::<u64>(), 0..40)).prop_map(
            |(topic, group, consumer_id, generation, seqs)| StreamRequest::AckBatch {
                topic,
                group,
                consumer_id,
                generation,
                seqs
            }
        ),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        bytes().prop_map(Request::Echo),
        store_request().prop_map(Request::Store),
        queue_request().prop_map(Request::Queue),
        pubsub_request().prop_map(Request::PubSub),
        stream_request().prop_map(Request::Stream),
    ]
}

fn plain_reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Ok),
        Just(Reply::Null),
        text().prop_map(Reply::Err),
        bytes().prop_map(Reply::Data),
        any::<bool>().prop_map(Reply::Flag),
        any::<i64>().prop_map(Reply::Int),
        any::<u32>().prop_map(Reply::Count),
        any::<u64>().prop_map(Reply::Seq),
        prop::collection::vec(prop::option::of(bytes()), 0..6).prop_map(Reply::Values),
        (any::<u64>(), prop::collection::vec(text_bytes(), 0..6))
            .prop_map(|(cursor, keys)| Reply::Keys { cursor, keys }),
        prop::collection::vec((uuid(), bytes()).prop_map(|(id, payload)| QueueMessage { id, payload }), 0..5)
            .prop_map(Reply::QueueMessages),
        (
            any::<u32>(),
            prop::collection::vec(
                (uuid(), bytes(), any::<u32>(), text())
                    .prop_map(|(id, payload, attempts, reason)| DlqMessage { id, payload, attempts, reason }),
                0..5
            )
        )
            .prop_map(|(total, messages)| Reply::DlqPage { total, messages }),
        prop::collection::vec(
            (any::<u64>(), any::<u64>(), bytes()).prop_map(|(seq, timestamp_ms, payload)| StreamMessage {
                seq,
                timestamp_ms,
                payload
            }),
            0..5
        )
        .prop_map(Reply::StreamMessages),
        (any::<u64>(), any::<u64>(), text()).prop_map(|(ack_floor, generation, consumer_id)| Reply::Joined {
            ack_floor,
            generation,
            consumer_id
        }),
        (
            any::<u32>(),
            prop::collection::vec(
                (text(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(
                    |(name, ready, in_flight, delayed, dead)| QueueInfo {
                        name,
                        ready,
                        in_flight,
                        delayed,
                        dead
                    }
                ),
                0..4
            )
        )
            .prop_map(|(total, queues)| Reply::QueueList { total, queues }),
        (
            any::<u32>(),
            prop::collection::vec(
                (any::<u64>(), any::<u64>(), any::<u32>(), bytes()).prop_map(
                    |(seq, timestamp_ms, deliveries, payload)| StreamDeadLetter {
                        seq,
                        timestamp_ms,
                        deliveries,
                        payload
                    }
                ),
                0..4
            )
        )
            .prop_map(|(total, messages)| Reply::StreamDeadLetters { total, messages }),
        (
            any::<u32>(),
            prop::collection::vec(
                (text(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u32>()).prop_map(
                    |(name, first_seq, last_seq, max_age_ms, max_bytes, groups)| StreamTopicInfo {
                        name,
                        first_seq,
                        last_seq,
                        max_age_ms,
                        max_bytes,
                        groups
                    }
                ),
                0..4
            )
        )
            .prop_map(|(total, topics)| Reply::StreamTopics { total, topics }),
        (
            any::<u32>(),
            prop::collection::vec(
                (text(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>())
                    .prop_map(|(name, generation, ack_floor, lag, pending, members, dead)| {
                        StreamGroupInfo { name, generation, ack_floor, lag, pending, members, dead }
                    }),
                0..4
            )
        )
            .prop_map(|(total, groups)| Reply::StreamGroups { total, groups }),
    ]
}

/// Every reply: the plain ones and EXEC's list of plain ones.
fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        4 => plain_reply(),
        1 => prop::collection::vec(plain_reply(), 0..4).prop_map(Reply::Replies),
    ]
}

fn push() -> impl Strategy<Value = Push> {
    (text(), bytes()).prop_map(|(topic, payload)| Push { topic, payload })
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Decodes every complete frame in `buf`, stopping at the first oversized one.
fn drain(buf: &mut BytesMut, max: u32, out: &mut Vec<Result<Inbound, Oversized>>) {
    loop {
        match decode_request_frame(buf, max) {
            Ok(Some(inbound)) => out.push(Ok(inbound)),
            Ok(None) => return,
            Err(e) => {
                out.push(Err(e));
                return;
            }
        }
    }
}

fn decode_all_at_once(wire: &[u8], max: u32) -> Vec<Result<Inbound, Oversized>> {
    let mut out = Vec::new();
    drain(&mut BytesMut::from(wire), max, &mut out);
    out
}

fn encode_requests(requests: &[(u32, Request)]) -> BytesMut {
    let mut wire = BytesMut::new();
    for (id, r) in requests {
        r.encode(*id, &mut wire);
    }
    wire
}

fn expected(requests: &[(u32, Request)]) -> Vec<Result<Inbound, Oversized>> {
    requests.iter().map(|(id, request)| Ok(Inbound::Request { id: *id, request: request.clone() })).collect()
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// `cases` cases; failures are saved beside this file (`roundtrip.proptest-regressions`), since an
/// integration test has no `lib.rs` for proptest's default lookup.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn request_round_trips(id in any::<u32>(), req in request()) {
        let mut wire = BytesMut::new();
        req.encode(id, &mut wire);
        prop_assert_eq!(wire[0], FrameType::Request.byte());
        prop_assert_eq!(wire[1], req.opcode());
        prop_assert_eq!(&wire[2..6], &id.to_be_bytes());
        prop_assert_eq!(wire.len() - HEADER_LEN, u32::from_be_bytes([wire[6], wire[7], wire[8], wire[9]]) as usize);
        let decoded = decode_request_frame(&mut wire, DEFAULT_MAX_FRAME_BYTES);
        prop_assert_eq!(decoded, Ok(Some(Inbound::Request { id, request: req })));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn trailing_bytes_after_fixed_fields_are_ignored(id in any::<u32>(), req in request(), junk in bytes()) {
        // Requests ending in `rest` absorb the junk; every other layout must ignore it.
        let ends_in_rest = matches!(
            req,
            Request::Echo(_)
                | Request::Store(
                    StoreRequest::Set { .. }
                        | StoreRequest::SetNx { .. }
                        | StoreRequest::SetExt { .. }
                        | StoreRequest::Append { .. }
                )
                | Request::Queue(QueueRequest::Push { .. })
                | Request::PubSub(PubSubRequest::Publish { .. } | PubSubRequest::PublishCount { .. })
                | Request::Stream(StreamRequest::Publish { .. })
        );
        prop_assume!(!ends_in_rest);
        let mut plain = BytesMut::new();
        req.encode(id, &mut plain);
        let mut payload = plain.split_off(HEADER_LEN);
        payload.extend_from_slice(&junk);
        let decoded = Request::decode(req.opcode(), &payload.freeze());
        match &req {
            // ACK_BATCH's sequence list must fill the payload exactly: junk is refused.
            Request::Stream(StreamRequest::AckBatch { seqs, .. }) if !junk.is_empty() => {
                let error = DecodeError::InvalidAckBatch {
                    n: seqs.len() as u32,
                    remaining: seqs.len() * 8 + junk.len(),
                };
                prop_assert_eq!(decoded, Err(error));
            }
            _ => prop_assert_eq!(decoded, Ok(req)),
        }
    }

    #[test]
    fn ack_batch_refuses_a_payload_that_does_not_match_n(
        seqs in prop::collection::vec(any::<u64>(), 0..40),
        declared in 0u32..64,
        cut in 0usize..8,
    ) {
        // The member fields, then `u32 n` = `declared` and the bytes of `seqs` less `cut`.
        let mut wire = BytesMut::new();
        let req = StreamRequest::AckBatch {
            topic: "t".into(),
            group: "g".into(),
            consumer_id: "c".into(),
            generation: 1,
            seqs: seqs.clone(),
        };
        Request::Stream(req).encode(0, &mut wire);
        let mut payload = wire.split_off(HEADER_LEN);
        let at = payload.len() - seqs.len() * 8 - 4;
        payload[at..at + 4].copy_from_slice(&declared.to_be_bytes());
        let keep = payload.len() - cut.min(seqs.len() * 8);
        payload.truncate(keep);
        let remaining = payload.len() - at - 4;
        let decoded = Request::decode(0x72, &payload.freeze());
        if remaining as u64 == u64::from(declared) * 8 {
            let Ok(Request::Stream(StreamRequest::AckBatch { seqs: got, .. })) = decoded else {
                return Err(TestCaseError::fail(format!("{decoded:?}")));
            };
            prop_assert_eq!(got.len(), declared as usize);
        } else {
            prop_assert_eq!(decoded, Err(DecodeError::InvalidAckBatch { n: declared, remaining }));
        }
    }

    #[test]
    fn reply_round_trips(id in any::<u32>(), reply in reply()) {
        let mut wire = BytesMut::new();
        reply.encode(id, &mut wire);
        prop_assert_eq!(wire.len(), HEADER_LEN + reply.payload_len());
        let frame = split_frame(&mut wire, u32::MAX).unwrap().unwrap();
        prop_assert!(wire.is_empty());
        prop_assert_eq!(frame.header.frame_type, FrameType::Response.byte());
        prop_assert_eq!(frame.header.meta, reply.status());
        prop_assert_eq!(frame.header.id, id);
        let decoded = Reply::decode(frame.header.meta, &frame.payload, reply.kind());
        prop_assert_eq!(decoded, Ok(reply));
    }

    #[test]
    fn push_round_trips(push in push()) {
        let shared = Push::encode_frame(&push.topic, &push.payload);
        let mut wire = BytesMut::new();
        push.encode(&mut wire);
        prop_assert_eq!(&shared[..], &wire[..]);
        let frame = split_frame(&mut wire, u32::MAX).unwrap().unwrap();
        prop_assert_eq!(frame.header.frame_type, FrameType::Push.byte());
        prop_assert_eq!(frame.header.meta, 0);
        prop_assert_eq!(frame.header.id, 0);
        prop_assert_eq!(Push::decode(&frame.payload), Ok(push));
    }

}

proptest! {
    // Each case below decodes its input once per split point, so fewer cases cover a lot.
    #![proptest_config(config(256))]

    #[test]
    fn any_split_point_decodes_the_same(requests in prop::collection::vec((any::<u32>(), request()), 1..4)) {
        let wire = encode_requests(&requests);
        let want = expected(&requests);
        prop_assert_eq!(&decode_all_at_once(&wire, DEFAULT_MAX_FRAME_BYTES), &want);
        for cut in 0..=wire.len() {
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            buf.extend_from_slice(&wire[..cut]);
            drain(&mut buf, DEFAULT_MAX_FRAME_BYTES, &mut got);
            buf.extend_from_slice(&wire[cut..]);
            drain(&mut buf, DEFAULT_MAX_FRAME_BYTES, &mut got);
            prop_assert_eq!(&got, &want, "split at {}", cut);
            prop_assert!(buf.is_empty());
        }
    }

    #[test]
    fn byte_at_a_time_decodes_the_same(requests in prop::collection::vec((any::<u32>(), request()), 1..4)) {
        let wire = encode_requests(&requests);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for byte in &wire[..] {
            buf.extend_from_slice(&[*byte]);
            drain(&mut buf, DEFAULT_MAX_FRAME_BYTES, &mut got);
        }
        prop_assert_eq!(got, expected(&requests));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn random_chunking_decodes_the_same(
        requests in prop::collection::vec((any::<u32>(), request()), 1..8),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let wire = encode_requests(&requests);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        cuts.push(0);
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for pair in cuts.windows(2) {
            buf.extend_from_slice(&wire[pair[0]..pair[1]]);
            drain(&mut buf, DEFAULT_MAX_FRAME_BYTES, &mut got);
        }
        prop_assert_eq!(got, expected(&requests));
    }

}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn oversized_is_rejected_from_the_header_alone(
        frame_type in any::<u8>(),
        meta in any::<u8>(),
        id in any::<u32>(),
        max in 0u32..=DEFAULT_MAX_FRAME_BYTES,
        excess in 1u32..=u32::MAX,
    ) {
        let len = max.saturating_add(excess);
        prop_assume!(len > max);
        let mut header = BytesMut::new();
        header.extend_from_slice(&[frame_type, meta]);
        header.extend_from_slice(&id.to_be_bytes());
        header.extend_from_slice(&len.to_be_bytes());
        let before = header.clone();
        let err = decode_request_frame(&mut header, max).unwrap_err();
        prop_assert_eq!(err, Oversized { id, len, max });
        prop_assert_eq!(err.to_string(), format!("Frame too large: {len} bytes (max {max})"));
        prop_assert_eq!(header, before, "nothing consumed");
    }

    #[test]
    fn arbitrary_bytes_never_panic(wire in prop::collection::vec(any::<u8>(), 0..256), max in 0u32..64) {
        let mut buf = BytesMut::from(&wire[..]);
        let mut got = Vec::new();
        drain(&mut buf, max, &mut got);
        // Whatever is left is one partial frame, never more than a header plus the limit.
        if !matches!(got.last(), Some(Err(_))) {
            prop_assert!(buf.len() < HEADER_LEN + max as usize);
        }
        // Every accepted request is canonical after one more round trip.
        for item in got {
            if let Ok(Inbound::Request { id, request }) = item {
                let mut again = BytesMut::new();
                request.encode(id, &mut again);
                prop_assert_eq!(
                    decode_request_frame(&mut again, u32::MAX),
                    Ok(Some(Inbound::Request { id, request }))
                );
            }
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic_any_decoder(
        opcode in any::<u8>(),
        status in any::<u8>(),
        payload in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let payload = Bytes::from(payload);
        if let Ok(request) = Request::decode(opcode, &payload) {
            let mut again = BytesMut::new();
            request.encode(7, &mut again);
            prop_assert_eq!(
                decode_request_frame(&mut again, u32::MAX),
                Ok(Some(Inbound::Request { id: 7, request }))
            );
        }
        for kind in ALL_KINDS {
            let _ = Reply::decode(status, &payload, kind);
        }
        let _ = Push::decode(&payload);
    }

    #[test]
    fn arbitrary_json_options_never_panic(opcode in prop::sample::select(JSON_OPCODES), json in ".{0,40}") {
        let mut payload = BytesMut::new();
        nexo_proto::primitives::put_blob(&mut payload, b"name");
        nexo_proto::primitives::put_blob(&mut payload, json.as_bytes());
        let _ = Request::decode(opcode, &payload.freeze());
    }
}

const ALL_KINDS: [ReplyKind; 16] = [
    ReplyKind::Data,
    ReplyKind::Flag,
    ReplyKind::Int,
    ReplyKind::Count,
    ReplyKind::Seq,
    ReplyKind::Values,
    ReplyKind::Keys,
    ReplyKind::QueueMessages,
    ReplyKind::DlqPage,
    ReplyKind::StreamMessages,
    ReplyKind::Joined,
    ReplyKind::QueueList,
    ReplyKind::StreamDeadLetters,
    ReplyKind::StreamTopics,
    ReplyKind::StreamGroups,
    ReplyKind::Replies,
];

/// Opcodes whose second field is a `json` options object.
const JSON_OPCODES: &[u8] = &[0x02, 0x05, 0x10, 0x11, 0x12, 0x21, 0x30];

#[test]
fn decoded_batches_never_preallocate_beyond_the_payload() {
    // A count of u32::MAX with no elements behind it must fail fast, not allocate 4 G entries.
    let mut payload = BytesMut::new();
    payload.extend_from_slice(&u32::MAX.to_be_bytes());
    let payload = payload.freeze();
    assert!(Request::decode(0x0A, &payload).is_err());
    for kind in ALL_KINDS {
        let _ = Reply::decode(0x03, &payload, kind);
    }
}
