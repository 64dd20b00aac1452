//! A queue worker on the async client, with graceful shutdown: several worker tasks share one
//! connection, each takes messages from a consumer stream and acks them; on Ctrl-C (or, with
//! `--jobs N`, once the N jobs it pushed itself are done) they stop taking new messages, finish
//! and ack the one in hand, and the program prints its totals, then `ok`.
//!
//! ```text
//! cargo run -p nexo-client --example async_worker -- --port 7654 --jobs 100
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nexo_client::{AsyncClient, ConsumeOptions, PushOptions, QueueMessage, QueueOptions};
use tokio::sync::watch;

/// Worker tasks sharing the connection.
const WORKERS: usize = 4;

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Jobs handled and acked.
    pub acked: u64,
    /// Acks the server refused (the lease had run out: the job comes back).
    pub lost: u64,
}

/// Works queue `queue` at `addr` until `shutdown` completes or, with `jobs`, until that many
/// jobs (pushed first by this function) are acked.
///
/// # Errors
/// A failed connect, CREATE or PUSH, or a consumer error other than a lost connection.
pub async fn run(
    addr: SocketAddr,
    queue: &str,
    jobs: Option<u64>,
    shutdown: impl Future<Output = ()>,
) -> nexo_client::Result<Totals> {
    let client = AsyncClient::connect(addr).await?;
    client.create_queue(queue, QueueOptions::default()).await?;
    for n in 0..jobs.unwrap_or(0) {
        client.push(queue, format!("\x01job {n}").as_bytes(), PushOptions::default()).await?;
    }
    let (stop, stopped) = watch::channel(false);
    let acked = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (client, queue, stopped) = (client.clone(), queue.to_owned(), stopped.clone());
        let (acked, lost) = (Arc::clone(&acked), Arc::clone(&lost));
        workers.spawn(async move { work(client, queue, stopped, acked, lost).await });
    }
    let all_done = async {
        while jobs.is_none_or(|n| acked.load(Ordering::Acquire) < n) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        () = shutdown => {}
        () = all_done => {}
    }
    let _ = stop.send(true);
    let mut result = Ok(());
    while let Some(joined) = workers.join_next().await {
        if let Ok(Err(err)) = joined {
            result = Err(err);
        }
    }
    result.map(|()| Totals { acked: acked.load(Ordering::Acquire), lost: lost.load(Ordering::Acquire) })
}

/// One worker: take a message, handle it, ack it; between messages, look for the stop signal.
async fn work(
    client: AsyncClient,
    queue: String,
    mut stopped: watch::Receiver<bool>,
    acked: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
) -> nexo_client::Result<()> {
    let options = ConsumeOptions { batch_size: Some(1), wait_ms: Some(1_000) };
    let mut messages = client.queue_consumer(&queue, options);
    loop {
        let message = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => return Ok(()),
            next = messages.next() => match next {
                Some(message) => message?,
                None => return Ok(()),
            },
        };
        handle(&message).await;
        match client.ack(&queue, message.id).await {
            Ok(()) => acked.fetch_add(1, Ordering::AcqRel),
            Err(nexo_client::ClientError::Server(text)) if text == "ACK failed" => {
                lost.fetch_add(1, Ordering::AcqRel)
            }
            Err(err) => return Err(err),
        };
    }
}

/// The job itself: here, a yield standing for real work.
async fn handle(message: &QueueMessage) {
    let _ = &message.payload;
    tokio::task::yield_now().await;
}

/// `--host`, `--port`, `--queue` and `--jobs` from the command line.
fn args() -> Result<(SocketAddr, String, Option<u64>), String> {
    let (mut host, mut port, mut queue, mut jobs) =
        ("127.0.0.1".to_owned(), "7654".to_owned(), "jobs".to_owned(), None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = value,
            "--port" => port = value,
            "--queue" => queue = value,
            "--jobs" => jobs = Some(value.parse().map_err(|e| format!("bad --jobs {value}: {e}"))?),
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: --port <p> [--host <ip>] [--queue <name>] [--jobs <n>]"
                ));
            }
        }
    }
    let addr = format!("{host}:{port}").parse().map_err(|e| format!("bad address {host}:{port}: {e}"))?;
    Ok((addr, queue, jobs))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (addr, queue, jobs) = match args() {
        Ok(parsed) => parsed,
        Err(text) => {
            eprintln!("{text}");
            return ExitCode::from(2);
        }
    };
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("shutting down: finishing the jobs in hand");
    };
    match run(addr, &queue, jobs, ctrl_c).await {
        Ok(totals) => {
            println!("acked {} lost {}", totals.acked, totals.lost);
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("async_worker failed: {err}");
            ExitCode::FAILURE
        }
    }
}
