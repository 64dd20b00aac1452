//! `nexo-bench`: a load generator for Nexo v1 servers, in the spirit of `redis-benchmark`.
//!
//! It speaks plain v1 (frames encoded with `nexo-proto`), so it measures any v1 server. A run
//! connects, performs each scenario's set-up (queues, subscriptions, preloaded keys), warms up,
//! then measures throughput and an HDR histogram of latencies over a fixed window or a fixed
//! number of requests, closed-loop or at a fixed rate. A progress line goes to stderr once per
//! second; results go to stdout, with `--json` as one JSON object on the last line.
//!
//! Exit status: 0 on success; 1 on bad usage or I/O failure; 2 when the run completed no
//! operation; 3 when the server does not offer the scenario's broker (for example `Stream is not
//! available yet`), in which case no numbers are printed.
#![forbid(unsafe_code)]
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool: results go to stdout, progress and errors to stderr"
)]

mod cleanup;
mod cli;
mod client;
mod echo_server;
mod fsync;
mod memory;
mod report;
mod scenario;
mod schedule;
mod stream_info;
mod summary;

use std::io::{IsTerminal, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cli::{Cli, Command, LoadArgs};
use crate::client::{Params, RunError, Shared, ThreadStats};
use crate::scenario::{ConnPlan, Scenario};
use crate::summary::{KeepUp, Latency, Report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let scenario = match &cli.command {
        Command::Echo(a) => (Scenario::Echo, a),
        Command::StoreSet(a) => (Scenario::StoreSet, a),
        Command::StoreGet(a) => (Scenario::StoreGet, a),
        Command::StoreMixed(a) => (Scenario::StoreMixed, a),
        Command::Pubsub(a) => (Scenario::PubSub, a),
        Command::PubsubFanout(a) => (Scenario::PubSubFanout, a),
        Command::PubsubFanin(a) => (Scenario::PubSubFanin, a),
        Command::QueuePush(a) => (Scenario::QueuePush, a),
        Command::QueueCycle(a) => (Scenario::QueueCycle, a),
        Command::StreamPublish(a) => (Scenario::StreamPublish, a),
        Command::StreamCycle(a) => (Scenario::StreamCycle, a),
        Command::StreamKeepup(a) => (Scenario::StreamKeepup, a),
        Command::Fsync(a) => return fsync::run(a, cli.json),
        Command::EchoServer(a) => return echo_server::run(&a.bind, cli.port),
        Command::MemStore(a) => return memory::run_store(&cli, a),
        Command::MemIdle(a) => return memory::run_idle(&cli, a),
        Command::StreamInfo => return stream_info::run(&cli),
        Command::Report(a) => return report::run(a),
    };
    let (scenario, args) = scenario;
    run_load(&cli, scenario, args)
}

/// Resolves `host:port` to the first address.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}:{port} resolves to no address"))
}

fn run_load(cli: &Cli, scenario: Scenario, args: &LoadArgs) -> ExitCode {
    let addr = match resolve(&cli.host, cli.port) {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("nexo-bench: {e}");
            return ExitCode::from(1);
        }
    };
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let tag = format!("{}-{}", std::process::id(), nanos % 1_000_000);
    let mut plan = scenario::plan(scenario, args, &tag);
    let unit = plan.unit;
    let created = std::mem::take(&mut plan.created);
    if let Some(total) = args.requests {
        plan.assign_quotas(total);
    }
    let threads = (args.threads as usize).clamp(1, plan.conns.len().max(1));
    let params = Params {
        addr,
        pipeline: args.pipeline,
        rate: args.rate,
        requesters: plan.requesters,
        warmup: if args.requests.is_some() { Duration::ZERO } else { Duration::from_secs_f64(args.warmup) },
        measure: if args.requests.is_some() { None } else { Some(Duration::from_secs_f64(args.duration)) },
    };
    // Deal connections round-robin so each thread gets a similar mix (pairs split evenly).
    let mut shares: Vec<Vec<ConnPlan>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, conn) in plan.conns.into_iter().enumerate() {
        shares[i % threads].push(conn);
    }
    let shared = Arc::new(Shared::new(threads));
    let handles: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (params, shared) = (params.clone(), shared.clone());
            std::thread::spawn(move || client::run_thread(share, &params, &shared))
        })
        .collect();
    shared.barrier.wait();
    let started = Instant::now();
    let mut lag = LagSamples::default();
    if !shared.abort.load(Ordering::SeqCst) {
        lag = progress(&shared, &handles, started, args, scenario);
    }
    let mut total: Option<ThreadStats> = None;
    let mut failure: Option<RunError> = None;
    for handle in handles {
        match handle.join() {
            Ok(Ok(stats)) => match &mut total {
                Some(t) => t.merge(stats),
                None => total = Some(stats),
            },
            Ok(Err(RunError::Aborted)) => {}
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(_) => {
                failure.get_or_insert(RunError::Io("a client thread panicked".into()));
            }
        }
    }
    clean_up(addr, &created, args.keep);
    if let Some(e) = failure {
        return fail(scenario, &e);
    }
    let Some(stats) = total else {
        eprintln!("nexo-bench: no client thread finished");
        return ExitCode::from(1);
    };
    finish(cli, scenario, args, unit, stats, lag)
}

/// Removes what the run created unless `keep`; says what it did on stderr.
fn clean_up(addr: SocketAddr, created: &scenario::Created, keep: bool) {
    if keep || *created == scenario::Created::default() {
        return;
    }
    match cleanup::remove(addr, created) {
        Ok(r) => eprintln!(
            "nexo-bench: removed {} queues, {} stream topics, {} Store keys created by this run (--keep leaves them)",
            r.queues, r.topics, r.keys
        ),
        Err(e) => {
            eprintln!("nexo-bench: clean-up failed, some queues, topics or keys of this run remain: {e}")
        }
    }
}

fn fail(scenario: Scenario, e: &RunError) -> ExitCode {
    if let RunError::Setup(text) = e
        && text.contains("not available yet")
    {
        eprintln!(
            "nexo-bench {}: the server does not serve this broker: '{text}'. No numbers.",
            scenario.name()
        );
        return ExitCode::from(3);
    }
    eprintln!("nexo-bench {}: {e}", scenario.name());
    ExitCode::from(1)
}

fn finish(
    cli: &Cli,
    scenario: Scenario,
    args: &LoadArgs,
    unit: &'static str,
    stats: ThreadStats,
    lag: LagSamples,
) -> ExitCode {
    let duration_ns = stats.window_end_ns.saturating_sub(stats.window_start_ns).max(1);
    let duration = duration_ns as f64 / 1e9;
    let keepup = (scenario == Scenario::StreamKeepup).then(|| {
        let final_lag = stats.produced_total.saturating_sub(stats.consumed_total);
        KeepUp::of(
            stats.produced,
            stats.consumed,
            duration,
            args.rate,
            (lag.start.unwrap_or(0), lag.max, final_lag),
        )
    });
    let report = Report {
        scenario: scenario.name().to_string(),
        label: cli.label.clone(),
        target: format!("{}:{}", cli.host, cli.port),
        connections: args.connections,
        connections_text: scenario.connections_text(args),
        pipeline: args.pipeline,
        size: args.size,
        rate: args.rate,
        duration: (duration * 1000.0).round() / 1000.0,
        unit,
        ops: stats.ops,
        throughput: (stats.ops as f64 / duration).round(),
        requests: stats.requests,
        errors: stats.errors,
        misses: stats.misses,
        latency: Latency::of(&stats.hist),
        error_samples: stats.error_samples,
        ack: matches!(scenario, Scenario::StreamCycle | Scenario::StreamKeepup).then(|| args.ack.name()),
        keepup,
    };
    println!("{}", report.text());
    if cli.json {
        println!("{}", report.json());
    }
    let _ = std::io::stdout().flush();
    if report.ops == 0 {
        eprintln!("nexo-bench {}: no operation completed", scenario.name());
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// The Stream consumer lag as the main thread sampled it (`stream-keepup`).
#[derive(Debug, Default, Clone, Copy)]
struct LagSamples {
    /// The first sample in the measured window.
    start: Option<u64>,
    /// The largest sample in the measured window.
    max: u64,
}

/// Prints a progress line on stderr about once a second until every client thread is done;
/// samples the Stream consumer lag every 20 ms.
fn progress<T>(
    shared: &Shared,
    handles: &[std::thread::JoinHandle<T>],
    started: Instant,
    args: &LoadArgs,
    scenario: Scenario,
) -> LagSamples {
    let mut lag = LagSamples::default();
    let tty = std::io::stderr().is_terminal();
    let total =
        args.requests.map_or_else(|| format!("{:.0}s", args.warmup + args.duration), |n| format!("{n} req"));
    let mut last_ops = 0u64;
    let mut last_at = started;
    let mut next_tick = started + Duration::from_secs(1);
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        let elapsed = now.duration_since(started).as_secs_f64();
        let warming = args.requests.is_none() && elapsed < args.warmup;
        let lag_now = shared.lag().max(0) as u64;
        if !warming {
            lag.start.get_or_insert(lag_now);
            lag.max = lag.max.max(lag_now);
        }
        if now < next_tick {
            continue;
        }
        next_tick += Duration::from_secs(1);
        let ops = shared.progress_ops.load(Ordering::Relaxed);
        let errors = shared.progress_errors.load(Ordering::Relaxed);
        let rate = (ops - last_ops) as f64 / now.duration_since(last_at).as_secs_f64();
        let lag_text = if scenario == Scenario::StreamKeepup {
            format!("  published {}  lag {lag_now}", shared.published.load(Ordering::Relaxed))
        } else {
            String::new()
        };
        let line = format!(
            "{} [{elapsed:5.1}s/{total}] {rate:>10.0} ops/s  total {ops}{lag_text}  errors {errors}{}",
            scenario.name(),
            if warming { "  (warm-up)" } else { "" }
        );
        if tty {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
        last_ops = ops;
        last_at = now;
    }
    if tty {
        eprintln!();
    }
    lag
}
