//! Unit tests of the SQS front with request samples in the shapes botocore sends.

use bytes::BytesMut;
use nexo_proto::http::{HttpLimits, HttpRequest, RequestDecoder};

use super::message::{AttributeValue, MessageAttribute, attributes_md5, md5_hex};
use super::sigv4::{parse_amz_date, verify};
use super::*;

fn http(wire: &[u8]) -> HttpRequest {
    let mut d = RequestDecoder::new(HttpLimits::default());
    d.decode(&mut BytesMut::from(wire)).unwrap().unwrap()
}

fn json_request(action: &str, body: &str) -> HttpRequest {
    let wire = format!(
        "POST / HTTP/1.1\r\nHost: localhost:9324\r\nX-Amz-Target: AmazonSQS.{action}\r\n\
Content-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http(wire.as_bytes())
}

fn query_request(form: &str) -> HttpRequest {
    let wire = format!(
        "POST / HTTP/1.1\r\nHost: localhost:9324\r\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    http(wire.as_bytes())
}

fn action_of(req: &HttpRequest) -> Result<Action, SqsError> {
    envelope(req).map_err(|(_, e)| e)?.action()
}

#[test]
fn a_json_send_message_decodes() {
    let req = json_request(
        "SendMessage",
        r#"{"QueueUrl":"http://localhost:9324/000000000000/jobs","MessageBody":"hello","DelaySeconds":5,
"MessageAttributes":{"n":{"DataType":"Number","StringValue":"7"},"b":{"DataType":"Binary","BinaryValue":"AAEC"}}}"#,
    );
    let Ok(Action::SendMessage { queue, entry }) = action_of(&req) else { panic!("not decoded") };
    assert_eq!(queue, "jobs");
    assert_eq!((entry.body.as_str(), entry.delay_s), ("hello", Some(5)));
    let names: Vec<_> = entry.attributes.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["b", "n"]);
    assert_eq!(entry.attributes[0].value, AttributeValue::Binary(vec![0, 1, 2]));
}

#[test]
fn a_query_batch_reshapes_into_the_json_form() {
    let req = query_request(
        "Action=SendMessageBatch&Version=2012-11-05&QueueUrl=http%3A%2F%2Flocalhost%3A9324%2F000000000000%2Fjobs\
&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=one+%26+two\
&SendMessageBatchRequestEntry.2.Id=b&SendMessageBatchRequestEntry.2.MessageBody=three\
&SendMessageBatchRequestEntry.2.DelaySeconds=3\
&SendMessageBatchRequestEntry.2.MessageAttribute.1.Name=kind\
&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.StringValue=x\
&SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType=String",
    );
    let Ok(Action::SendMessageBatch { queue, entries }) = action_of(&req) else { panic!() };
    assert_eq!(queue, "jobs");
    assert_eq!(entries.len(), 2);
    assert_eq!((entries[0].id.as_str(), entries[0].body.as_str()), ("a", "one & two"));
    assert_eq!(entries[1].delay_s, Some(3));
    assert_eq!(entries[1].attributes[0].value, AttributeValue::Text("x".into()));
}

#[test]
fn query_attributes_lists_and_the_path_queue_url() {
    let req = http(
        b"GET /000000000000/jobs?Action=ReceiveMessage&AttributeName.1=All&MaxNumberOfMessages=10\
&MessageAttributeName.1=.%2A&WaitTimeSeconds=20 HTTP/1.1\r\nHost: h\r\n\r\n",
    );
    let Ok(Action::ReceiveMessage(r)) = action_of(&req) else { panic!() };
    assert_eq!((r.queue.as_str(), r.max_messages, r.wait_time_s), ("jobs", 10, Some(20)));
    assert_eq!(r.system_attribute_names, ["All"]);
    assert_eq!(r.message_attribute_names, [".*"]);
    let create = query_request(
        "Action=CreateQueue&QueueName=q1&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=40\
&Tag.1.Key=team&Tag.1.Value=core",
    );
    let Ok(Action::CreateQueue { name, attributes, tags }) = action_of(&create) else { panic!() };
    assert_eq!(name, "q1");
    assert_eq!(attributes, [("VisibilityTimeout".to_owned(), "40".to_owned())]);
    assert_eq!(tags, [("team".to_owned(), "core".to_owned())]);
}

#[test]
fn validation_errors_use_sqs_codes() {
    let url = r#""QueueUrl":"http://h/000000000000/q""#;
    let cases = [
        ("ReceiveMessage", format!("{{{url},\"MaxNumberOfMessages\":11}}"), ErrorCode::InvalidParameterValue),
        ("ReceiveMessage", format!("{{{url},\"WaitTimeSeconds\":\"21\"}}"), ErrorCode::InvalidParameterValue),
        ("SendMessage", format!("{{{url}}}"), ErrorCode::MissingParameter),
        ("SendMessage", format!("{{{url},\"MessageBody\":\"a\\u0001\"}}"), ErrorCode::InvalidMessageContents),
        (
            "SendMessage",
            r#"{"QueueUrl":"http://h/000000000000/q.fifo","MessageBody":"a"}"#.into(),
            ErrorCode::UnsupportedOperation,
        ),
        ("SendMessageBatch", format!("{{{url},\"Entries\":[]}}"), ErrorCode::EmptyBatchRequest),
        (
            "DeleteMessageBatch",
            format!("{{{url},\"Entries\":[{}]}}", [r#"{"Id":"a","ReceiptHandle":"r"}"#; 11].join(",")),
            ErrorCode::TooManyEntriesInBatchRequest,
        ),
        (
            "DeleteMessageBatch",
            format!("{{{url},\"Entries\":[{0},{0}]}}", r#"{"Id":"a","ReceiptHandle":"r"}"#),
            ErrorCode::BatchEntryIdsNotDistinct,
        ),
        (
            "DeleteMessageBatch",
            format!("{{{url},\"Entries\":[{{\"Id\":\"a b\",\"ReceiptHandle\":\"r\"}}]}}"),
            ErrorCode::InvalidBatchEntryId,
        ),
        (
            "SendMessageBatch",
            format!(
                "{{{url},\"Entries\":[{{\"Id\":\"a\",\"MessageBody\":\"{0}\"}},{{\"Id\":\"b\",\"MessageBody\":\"{0}\"}}]}}",
                "x".repeat(600_000)
            ),
            ErrorCode::BatchRequestTooLong,
        ),
        ("DeleteQueue", r#"{"QueueUrl":"nonsense"}"#.into(), ErrorCode::QueueDoesNotExist),
        ("Frobnicate", "{}".into(), ErrorCode::InvalidAction),
        (
            "StartMessageMoveTask",
            r#"{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:dlq"}"#.into(),
            ErrorCode::UnsupportedOperation,
        ),
    ];
    for (action, body, code) in cases {
        let got = action_of(&json_request(action, &body)).map(|_| ()).map_err(|e| e.code);
        assert_eq!(got, Err(code), "{action} {}", &body[..body.len().min(120)]);
    }
    let bad_json = envelope(&json_request("ListQueues", "{\"a\":")).map(|_| ());
    assert!(matches!(
        bad_json,
        Err((Protocol::Json, SqsError { code: ErrorCode::InvalidParameterValue, .. }))
    ));
    let bad_form = envelope(&query_request("Action=ListQueues&x=%zz")).map(|_| ());
    assert!(matches!(
        bad_form,
        Err((Protocol::Query, SqsError { code: ErrorCode::MalformedQueryString, .. }))
    ));
}

#[test]
fn json_errors_carry_the_query_error_header() {
    let mut out = BytesMut::new();
    encode_error(&mut out, Protocol::Json, &SqsError::no_queue(), "rid-1", true);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("\r\nx-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender\r\n"));
    assert!(text.ends_with(
        r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#
    ));
}

#[test]
fn query_errors_are_error_response_documents() {
    let mut out = BytesMut::new();
    let err = SqsError::new(ErrorCode::ReceiptHandleIsInvalid, "bad <handle>");
    encode_error(&mut out, Protocol::Query, &err, "rid-2", false);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.contains("Connection: close\r\n"));
    assert!(text.ends_with(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\
<Error><Type>Sender</Type><Code>ReceiptHandleIsInvalid</Code><Message>bad &lt;handle&gt;</Message>\
<Detail/></Error><RequestId>rid-2</RequestId></ErrorResponse>"
    ));
}

fn received() -> Received {
    Received {
        message_id: "m1".into(),
        receipt_handle: "h1".into(),
        md5_of_body: md5_hex(b"a&b"),
        body: "a&b".into(),
        attributes: vec![("ApproximateReceiveCount".into(), "1".into())],
        md5_of_attributes: None,
        message_attributes: Vec::new(),
    }
}

#[test]
fn replies_encode_in_both_protocols() {
    let reply = Reply::ReceiveMessage(vec![received()]);
    let json = reply.to_json().to_string();
    assert!(json.contains(r#""Attributes":{"ApproximateReceiveCount":"1"}"#), "{json}");
    assert!(json.contains(r#""Body":"a&b""#));
    let xml = xml::reply_document("ReceiveMessage", &reply, "r");
    assert!(xml.contains(
        "<ReceiveMessageResult><Message><MessageId>m1</MessageId><ReceiptHandle>h1</ReceiptHandle>"
    ));
    assert!(xml.contains(
        "<Body>a&amp;b</Body><Attribute><Name>ApproximateReceiveCount</Name><Value>1</Value></Attribute>"
    ));
    let empty = xml::reply_document("DeleteMessage", &Reply::Empty, "r");
    assert!(empty.ends_with("<DeleteMessageResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteMessageResponse>"));
    let dlq = Reply::QueueUrls { urls: vec!["u".into()], next_token: None, dead_letter_sources: true };
    assert_eq!(dlq.to_json().to_string(), r#"{"queueUrls":["u"]}"#);
    let batch = Reply::HandleBatch { successful: vec!["a".into()], failed: Vec::new() };
    let xml = xml::reply_document("DeleteMessageBatch", &batch, "r");
    assert!(xml.contains("<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"));
}

#[test]
fn md5_digests_match_known_sqs_values() {
    // AWS's SendMessage example: "This is a test message".
    assert_eq!(md5_hex(b"This is a test message"), "fafb00f5732ab283681e124bf8747ed1");
    // An SQS answer for {timestamp: Number "1493147359900"} (also moto's test value).
    let ts = MessageAttribute {
        name: "timestamp".into(),
        data_type: "Number".into(),
        value: AttributeValue::Text("1493147359900".into()),
    };
    assert_eq!(attributes_md5(&[ts]).as_deref(), Some("235c5c510d26fb653d073faed50ae77c"));
    // Mixed types, sorted by name whatever the input order (computed with SQS's algorithm).
    let attrs = [
        MessageAttribute {
            name: "c".into(),
            data_type: "Number.float".into(),
            value: AttributeValue::Text("1.5".into()),
        },
        MessageAttribute {
            name: "b".into(),
            data_type: "Binary".into(),
            value: AttributeValue::Binary(vec![0, 1, 2]),
        },
        MessageAttribute {
            name: "a".into(),
            data_type: "String".into(),
            value: AttributeValue::Text("hello".into()),
        },
    ];
    assert_eq!(attributes_md5(&attrs).as_deref(), Some("da3a5925585b70a3ab83938786751d21"));
    assert_eq!(attributes_md5(&[]), None);
}

/// A SendMessage request signed by botocore's SigV4Auth (key `alice`, secret `s3cr3t-key`).
const SIGNED: &[u8] = b"POST / HTTP/1.1\r\nHost: localhost:9324\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\
Content-Type: application/x-amz-json-1.0\r\nX-Amz-Date: 20261204T160057Z\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=alice/20261204/eu-west-1/sqs/aws4_request, \
SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
Signature=f0808942b3ea1324f608cf5f715436cdc1eed4f54f5739fd7cf47b9e1ab8ce0a\r\n\
Content-Length: 79\r\n\r\n{\"QueueUrl\": \"http://localhost:9324/000000000000/jobs\", \"MessageBody\": \"hello\"}";

fn secret(key: &str) -> Option<String> {
    (key == "alice").then(|| "s3cr3t-key".to_owned())
}

#[test]
fn sigv4_accepts_botocore_and_refuses_the_rest() {
    let req = http(SIGNED);
    let now = parse_amz_date("20261204T160057Z").unwrap();
    let auth = verify(&req, secret, now + 60_000).unwrap();
    assert_eq!((auth.access_key.as_str(), auth.region.as_str()), ("alice", "eu-west-1"));
    assert_eq!(region_of(&req), "eu-west-1");
    let code = |r: Result<_, SqsError>| r.map(|_| ()).map_err(|e| e.code);
    assert_eq!(code(verify(&req, |_| Some("wrong".into()), now)), Err(ErrorCode::SignatureDoesNotMatch));
    assert_eq!(code(verify(&req, |_| None, now)), Err(ErrorCode::InvalidClientTokenId));
    assert_eq!(code(verify(&req, secret, now + 16 * 60_000)), Err(ErrorCode::RequestExpired));
    let tampered =
        http(&SIGNED.to_vec().iter().map(|b| if *b == b'o' { b'0' } else { *b }).collect::<Vec<_>>()[..]);
    assert!(code(verify(&tampered, secret, now)).is_err());
    let unsigned = json_request("ListQueues", "{}");
    assert_eq!(code(verify(&unsigned, secret, now)), Err(ErrorCode::MissingAuthenticationToken));
    let malformed =
        http(b"POST / HTTP/1.1\r\nHost: h\r\nAuthorization: AWS4-HMAC-SHA256 Credential=alice\r\n\r\n");
    assert_eq!(code(verify(&malformed, secret, now)), Err(ErrorCode::IncompleteSignature));
}

#[test]
fn sigv4_matches_the_aws_test_suite_get_vanilla() {
    let req = http(
        b"GET / HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31\r\n\r\n",
    );
    let now = parse_amz_date("20150830T123600Z").unwrap();
    let secret = |_: &str| Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned());
    assert!(verify(&req, secret, now).is_ok());
}

#[test]
fn amz_dates_parse_to_epoch_ms() {
    assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
    assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160_000));
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
    assert_eq!(parse_amz_date("2015-08-30"), None);
}

#[test]
fn queue_urls_and_arns() {
    assert_eq!(names::queue_from_url("http://localhost:9324/000000000000/jobs").unwrap(), "jobs");
    assert_eq!(names::queue_from_url("https://sqs.eu-west-1.amazonaws.com/123/a-b_c").unwrap(), "a-b_c");
    assert!(names::queue_from_url("http://h/jobs").is_err());
    assert!(names::queue_from_url("http://h/1/2/3").is_err());
    assert_eq!(names::queue_from_arn("arn:aws:sqs:us-east-1:000000000000:dlq").unwrap(), "dlq");
    assert!(names::queue_from_arn("arn:aws:sns:us-east-1:0:t").is_err());
    assert_eq!(names::queue_arn("eu-west-1", "000000000000", "q"), "arn:aws:sqs:eu-west-1:000000000000:q");
}

mod equivalence {
    //! The two wire protocols decode to the same action: random SendMessageBatch requests
    //! rendered as JSON and as a query form.

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn form_escape(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    type Entry = (String, String, Option<u32>, Vec<(String, String)>);

    fn entry() -> impl Strategy<Value = Entry> {
        (
            "[a-z0-9_-]{1,8}",
            "[ -~\u{e9}\u{4e2d}\n\t]{1,40}",
            proptest::option::of(0u32..=900),
            proptest::collection::vec(("[a-z][a-z0-9_]{0,6}", "[ -~]{1,10}"), 0..3),
        )
    }

    fn render(entries: &[Entry]) -> (String, String) {
        let url = "http://localhost:9324/000000000000/jobs";
        let mut json_entries = Vec::new();
        let mut form = format!("Action=SendMessageBatch&QueueUrl={}", form_escape(url));
        for (i, (id, body, delay, attrs)) in entries.iter().enumerate() {
            let n = i + 1;
            let mut e = json!({"Id": id, "MessageBody": body});
            form.push_str(&format!("&SendMessageBatchRequestEntry.{n}.Id={}", form_escape(id)));
            form.push_str(&format!("&SendMessageBatchRequestEntry.{n}.MessageBody={}", form_escape(body)));
            if let Some(d) = delay {
                e["DelaySeconds"] = json!(d);
                form.push_str(&format!("&SendMessageBatchRequestEntry.{n}.DelaySeconds={d}"));
            }
            let mut map = serde_json::Map::new();
            for (j, (name, value)) in attrs.iter().enumerate() {
                let m = j + 1;
                map.insert(name.clone(), json!({"DataType": "String", "StringValue": value}));
                let prefix = format!("&SendMessageBatchRequestEntry.{n}.MessageAttribute.{m}");
                form.push_str(&format!("{prefix}.Name={}", form_escape(name)));
                form.push_str(&format!("{prefix}.Value.DataType=String"));
                form.push_str(&format!("{prefix}.Value.StringValue={}", form_escape(value)));
            }
            if !map.is_empty() {
                e["MessageAttributes"] = serde_json::Value::Object(map);
            }
            json_entries.push(e);
        }
        (json!({"QueueUrl": url, "Entries": json_entries}).to_string(), form)
    }

    proptest! {
        #[test]
        fn json_and_query_decode_alike(entries in proptest::collection::vec(entry(), 1..12)) {
            let (json_body, form) = render(&entries);
            let from_json = action_of(&json_request("SendMessageBatch", &json_body));
            let from_query = action_of(&query_request(&form));
            prop_assert_eq!(from_json, from_query);
        }
    }
}
