//! A tour of the async client against a running server: a Store set/get, a Pub/Sub round trip
//! through a subscription stream, a Queue push/consume/ack and a Stream publish/fetch/ack.
//! Prints `ok` as its last line and exits 0 when every step did what it should.
//!
//! ```text
//! cargo run -p nexo-client --example async_basics -- --port 7654
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use nexo_client::{
    AsyncClient, ClientError, ConsumeOptions, PublishOptions, PushOptions, QueueOptions, StreamOptions,
};

/// Runs every step against the server at `addr`.
///
/// # Errors
/// The first failed call, or [`ClientError::Protocol`] naming a step whose answer was wrong.
pub async fn run(addr: SocketAddr) -> nexo_client::Result<()> {
    let client = AsyncClient::connect(addr).await?;
    let tag = std::process::id();

    // Store.
    let key = format!("basics:{tag}");
    client.set(&key, b"\x01hello").await?;
    check("GET returns what SET stored", client.get(&key).await?.as_deref() == Some(&b"\x01hello"[..]))?;

    // Pub/Sub: the subscription is a stream; another handle (a clone) publishes.
    let topic = format!("basics/{tag}/news");
    let mut news = client.subscribe(&format!("basics/{tag}/#")).await?;
    let publisher = client.clone();
    publisher.publish(&topic, b"\x01sunny", PublishOptions::default()).await?;
    let push =
        tokio::time::timeout(Duration::from_secs(10), news.next()).await.map_err(|_| ClientError::Timeout)?;
    check(
        "the subscription receives the publish",
        push.is_some_and(|p| p.topic == topic && p.payload == "\x01sunny"),
    )?;

    // Queue.
    let queue = format!("basics-{tag}");
    client.create_queue(&queue, QueueOptions::default()).await?;
    client.push(&queue, b"\x01job", PushOptions::default()).await?;
    let batch = client.consume(&queue, ConsumeOptions { batch_size: Some(1), wait_ms: Some(5_000) }).await?;
    let Some(message) = batch.first() else {
        return Err(ClientError::Protocol("CONSUME returned no message".into()));
    };
    check("CONSUME returns the pushed message", message.payload == "\x01job")?;
    client.ack(&queue, message.id).await?;
    client.delete_queue(&queue).await?;

    // Stream.
    let stream = format!("basics-{tag}");
    client.create_stream(&stream, StreamOptions::default()).await?;
    let seq = client.stream_publish(&stream, b"\x01event").await?;
    let member = client.join_group(&stream, "readers").await?;
    let fetched = client.fetch(&member, 10, 5_000).await?;
    check(
        "FETCH returns the published event",
        fetched.iter().any(|m| m.seq == seq && m.payload == "\x01event"),
    )?;
    client.stream_ack(&member, seq).await?;
    client.leave_group(&member).await?;
    client.delete_stream(&stream).await?;
    Ok(())
}

fn check(what: &str, held: bool) -> nexo_client::Result<()> {
    if held { Ok(()) } else { Err(ClientError::Protocol(format!("check failed: {what}"))) }
}

/// `--host <ip>` (default 127.0.0.1) and `--port <port>` (default 7654).
fn address_from_args() -> Result<SocketAddr, String> {
    let mut host = "127.0.0.1".to_owned();
    let mut port = "7654".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value,
            "--port" => port = value,
            other => return Err(format!("unknown argument {other}; usage: --host <ip> --port <port>")),
        }
    }
    format!("{host}:{port}").parse().map_err(|e| format!("bad address {host}:{port}: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let addr = match address_from_args() {
        Ok(addr) => addr,
        Err(text) => {
            eprintln!("{text}");
            return ExitCode::from(2);
        }
    };
    match run(addr).await {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("async_basics failed: {err}");
            ExitCode::FAILURE
        }
    }
}
