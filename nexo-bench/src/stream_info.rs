//! `nexo-bench stream-info`: the server's Stream topics (LIST_TOPICS, page by page) and how many
//! messages they hold, e.g. to check what a restart recovered (`scripts/stream-recovery.sh`).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use bytes::BytesMut;
use nexo_proto::frame::split_frame;
use nexo_proto::reply::{ReplyKind, StreamTopicInfo};
use nexo_proto::request::StreamRequest;
use nexo_proto::{Reply, Request};

use crate::cli::Cli;

/// Topics per LIST_TOPICS page (the server clamps larger pages to its maximum).
const PAGE: u32 = 1000;

/// Messages a topic holds: `first_seq ..= last_seq` (`first_seq` is the next sequence when empty).
pub fn messages(topic: &StreamTopicInfo) -> u64 {
    (topic.last_seq + 1).saturating_sub(topic.first_seq)
}

/// Sends one request and reads its reply (one request at a time on a blocking connection).
pub fn call(
    stream: &mut TcpStream,
    rbuf: &mut BytesMut,
    request: &Request,
    kind: ReplyKind,
) -> io::Result<Reply> {
    let mut out = BytesMut::new();
    request.encode(1, &mut out);
    stream.write_all(&out)?;
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        if let Some(frame) = split_frame(rbuf, u32::MAX).map_err(|e| io::Error::other(format!("{e:?}")))? {
            return Reply::decode(frame.header.meta, &frame.payload, kind)
                .map_err(|e| io::Error::other(format!("undecodable reply: {e:?}")));
        }
        let n = stream.read(&mut scratch)?;
        if n == 0 {
            return Err(io::Error::other("connection closed by the server"));
        }
        rbuf.extend_from_slice(&scratch[..n]);
    }
}

fn list_topics(cli: &Cli) -> io::Result<Vec<StreamTopicInfo>> {
    let addr = crate::resolve(&cli.host, cli.port).map_err(io::Error::other)?;
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut rbuf = BytesMut::new();
    let mut topics = Vec::new();
    loop {
        let request = Request::Stream(StreamRequest::ListTopics { offset: topics.len() as u32, limit: PAGE });
        match call(&mut stream, &mut rbuf, &request, ReplyKind::StreamTopics)? {
            Reply::StreamTopics { total, topics: page } => {
                let empty = page.is_empty();
                topics.extend(page);
                if empty || topics.len() >= total as usize {
                    return Ok(topics);
                }
            }
            Reply::Err(text) => return Err(io::Error::other(text)),
            other => return Err(io::Error::other(format!("unexpected LIST_TOPICS reply: {other:?}"))),
        }
    }
}

/// The `stream-info` subcommand.
pub fn run(cli: &Cli) -> ExitCode {
    let topics = match list_topics(cli) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("nexo-bench stream-info: {e}");
            return ExitCode::from(1);
        }
    };
    let total: u64 = topics.iter().map(messages).sum();
    for t in topics.iter().take(20) {
        println!("  {}: sequences {}..={} ({} messages)", t.name, t.first_seq, t.last_seq, messages(t));
    }
    if topics.len() > 20 {
        println!("  ... and {} more", topics.len() - 20);
    }
    println!("{} topics, {total} messages", topics.len());
    if cli.json {
        println!("{}", serde_json::json!({ "topics": topics.len(), "messages": total }));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(first_seq: u64, last_seq: u64) -> StreamTopicInfo {
        StreamTopicInfo { name: "t".into(), first_seq, last_seq, max_age_ms: 0, max_bytes: 0, groups: 0 }
    }

    #[test]
    fn messages_of_a_topic() {
        assert_eq!(messages(&topic(1, 0)), 0, "never published");
        assert_eq!(messages(&topic(1, 1)), 1);
        assert_eq!(messages(&topic(1, 4096)), 4096);
        assert_eq!(messages(&topic(101, 100)), 0, "retention removed everything");
        assert_eq!(messages(&topic(51, 100)), 50);
    }
}
