//! The command line: global options, one subcommand per scenario, and the helper subcommands
//! (`fsync`, `echo-server`, `mem-store`, `mem-idle`, `stream-info`, `report`).
//!
//! Only parsing and validation live here; what a scenario does is in `scenario`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Load generator for Nexo v1 servers: every broker, closed-loop or fixed-rate, HDR latencies.
#[derive(Debug, Parser)]
#[command(name = "nexo-bench", version)]
pub struct Cli {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1", global = true)]
    pub host: String,
    /// Server port (v1 protocol).
    #[arg(long, default_value_t = 7654, global = true)]
    pub port: u16,
    /// Print one JSON object as the last stdout line.
    #[arg(long, global = true)]
    pub json: bool,
    /// Free text recorded in the output (for example the server's fsync mode).
    #[arg(long, default_value = "", global = true)]
    pub label: String,
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// A scenario or a helper.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// ECHO with `--size` bytes: the shared network path without broker work (the ceiling).
    Echo(LoadArgs),
    /// Store SET of random keys in `--keyspace` with `--size`-byte values.
    StoreSet(LoadArgs),
    /// Store GET of random keys in `--keyspace` (preloaded first, so every GET hits).
    StoreGet(LoadArgs),
    /// Store GET/SET mix (`--get-percent` GETs) over a preloaded `--keyspace`.
    StoreMixed(LoadArgs),
    /// Pub/Sub pairs: `--connections` publishers each publishing to its own topic with one
    /// subscriber; counts delivered messages.
    Pubsub(LoadArgs),
    /// Pub/Sub fan-out: one publisher, `--subscribers` subscribers on its topic; counts deliveries.
    PubsubFanout(LoadArgs),
    /// Pub/Sub fan-in: `--connections` publishers on one topic, one subscriber; counts deliveries.
    PubsubFanin(LoadArgs),
    /// Queue PUSH, one queue per connection.
    QueuePush(LoadArgs),
    /// Queue PUSH + CONSUME + ACK, one queue per connection; counts requests (3 per message).
    QueueCycle(LoadArgs),
    /// Stream PUBLISH, one topic per connection.
    StreamPublish(LoadArgs),
    /// Stream PUBLISH + group FETCH + ACK (or ACK_BATCH, see `--ack`), one topic and group per
    /// connection; counts requests.
    StreamCycle(LoadArgs),
    /// Stream producers (at `--rate` or closed-loop) and a long-polling group consumer per topic;
    /// reports produced and consumed rates and the consumer lag.
    ///
    /// `--connections` producers publish to a topic each; per topic one group member long-polls
    /// FETCH (`--fetch-limit`, `--fetch-wait-ms`) on a connection of its own and ACKs every
    /// message before its next FETCH: with one ACK_BATCH per FETCH reply (`--ack batch`, the
    /// default) or one ACK per message (`--ack single`). Counts acknowledged messages; latency is
    /// end to end (the publish send time carried in the payload → the FETCH reply read).
    /// `--requests N` publishes N messages in all and waits until every one is acknowledged.
    StreamKeepup(LoadArgs),
    /// Storage micro-benchmark: append 4 KiB + fdatasync, repeated; prints the median latency.
    Fsync(FsyncArgs),
    /// A minimal v1 ECHO server (to measure the client's own ceiling: run `echo` against it).
    EchoServer(EchoServerArgs),
    /// Memory of one million Store keys: RSS growth of process `--pid` while loading keys.
    MemStore(MemStoreArgs),
    /// Memory of idle connections: RSS growth of process `--pid` per open connection.
    MemIdle(MemIdleArgs),
    /// Stream topics of the server and the messages they hold (LIST_TOPICS), e.g. to check what
    /// a restart recovered.
    StreamInfo,
    /// Turns the JSON lines written by `scripts/bench.sh` into the markdown table.
    Report(ReportArgs),
}

/// Options shared by every load scenario.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Connections (pairs for `pubsub`, publishers for `pubsub-fanin`).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: u32,
    /// Requests kept in flight per connection (the cap also applies in `--rate` mode).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub pipeline: u32,
    /// Payload bytes (values, messages; Pub/Sub payloads are at least 8 bytes: a timestamp).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Measured seconds (after `--warmup`).
    #[arg(long, default_value_t = 10.0, conflicts_with = "requests", value_parser = positive_secs)]
    pub duration: f64,
    /// Stop after this many requests in all (instead of `--duration`; no warm-up).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Fixed-rate (open-loop) mode: requests per second in all, latency from the intended send time.
    #[arg(long, value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Distinct Store keys.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub keyspace: u64,
    /// Subscribers of `pubsub-fanout`.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub subscribers: u32,
    /// Share of GETs in `store-mixed`, in percent.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub get_percent: u8,
    /// Seconds of load before measuring starts (duration mode only).
    #[arg(long, default_value_t = 1.0, value_parser = non_negative_secs)]
    pub warmup: f64,
    /// Client threads (each runs an event loop over its share of the connections).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
    /// `stream-keepup`: most messages per FETCH (the server clamps it to its maximum, 1000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub fetch_limit: u32,
    /// `stream-keepup`: long-poll wait of a FETCH that finds nothing, in milliseconds.
    #[arg(long, default_value_t = 500)]
    pub fetch_wait_ms: u32,
    /// `stream-publish`: topics the connections publish to (connection i uses topic i mod N);
    /// 0 = one topic per connection. Each topic is its own log, so this sets how many logs a
    /// group commit syncs.
    #[arg(long, default_value_t = 0)]
    pub topics: u32,
    /// `stream-cycle`, `stream-keepup`: how consumers acknowledge what a FETCH returned.
    #[arg(long, value_enum, default_value_t = AckMode::Batch)]
    pub ack: AckMode,
    /// Leave the queues, stream topics and Store keys the run created (removed by default).
    #[arg(long)]
    pub keep: bool,
}

/// How the Stream consumers of `stream-cycle` and `stream-keepup` acknowledge (`--ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AckMode {
    /// One ACK (v1, `0x34`) per message.
    Single,
    /// One ACK_BATCH (extension, `0x72`) per FETCH reply, naming every message it returned.
    Batch,
}

impl AckMode {
    /// The command-line value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Batch => "batch",
        }
    }
}

/// Options of `fsync`.
#[derive(Debug, Clone, Args)]
pub struct FsyncArgs {
    /// Directory to write in (a temporary file is created and removed there).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Writes (each followed by fdatasync).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub count: u32,
    /// Bytes per write.
    #[arg(long, default_value_t = 4096)]
    pub bytes: usize,
}

/// Options of `echo-server`.
#[derive(Debug, Clone, Args)]
pub struct EchoServerArgs {
    /// Address to listen on (the global `--port` is the port; 0 picks one).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
}

/// Options of `mem-store`.
#[derive(Debug, Clone, Args)]
pub struct MemStoreArgs {
    /// Process whose resident memory is measured (the server).
    #[arg(long)]
    pub pid: u32,
    /// Keys to load.
    #[arg(long, default_value_t = 1_000_000)]
    pub keys: u64,
    /// Value bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Speak RESP (`SET key value`) instead of v1, to load Redis the same way.
    #[arg(long)]
    pub resp: bool,
}

/// Options of `mem-idle`.
#[derive(Debug, Clone, Args)]
pub struct MemIdleArgs {
    /// Process whose resident memory is measured (the server).
    #[arg(long)]
    pub pid: u32,
    /// Idle connections to open (each sends one ECHO first, so the server has set it up).
    #[arg(long, default_value_t = 2000)]
    pub connections: u32,
}

/// Options of `report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// JSON lines file (`{"binary", "fsync", "command", "result": {...}}` per run).
    pub input: PathBuf,
}

fn positive_secs(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{text}' is not a positive number of seconds")),
    }
}

fn non_negative_secs(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{text}' is not a number of seconds")),
    }
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("'{text}' is not a positive rate in operations per second")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("nexo-bench").chain(args.iter().copied()))
    }

    fn load(cli: &Cli) -> &LoadArgs {
        match &cli.command {
            Command::Echo(a) | Command::StoreSet(a) | Command::QueueCycle(a) | Command::Pubsub(a) => a,
            other => panic!("not a load scenario: {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_issue() {
        let cli = parse(&["echo"]).unwrap();
        assert_eq!(cli.host, "127.0.0.1");
        assert_eq!(cli.port, 7654);
        assert!(!cli.json);
        let a = load(&cli);
        assert_eq!((a.connections, a.pipeline, a.size), (50, 16, 64));
        assert_eq!(a.duration, 10.0);
        assert_eq!(a.requests, None);
        assert_eq!(a.rate, None);
        assert_eq!(a.threads, 1);
    }

    #[test]
    fn globals_before_and_after_the_scenario() {
        let cli = parse(&["--host", "::1", "--port", "9", "--json", "store-set", "--label", "fsync=never"])
            .unwrap();
        assert_eq!((cli.host.as_str(), cli.port, cli.json), ("::1", 9, true));
        assert_eq!(cli.label, "fsync=never");
        assert!(matches!(cli.command, Command::StoreSet(_)));
    }

    #[test]
    fn scenario_options() {
        let cli = parse(&[
            "queue-cycle",
            "--connections",
            "4",
            "--pipeline",
            "1",
            "--size",
            "100",
            "--requests",
            "1000",
            "--rate",
            "5000",
        ])
        .unwrap();
        let a = load(&cli);
        assert_eq!((a.connections, a.pipeline, a.size), (4, 1, 100));
        assert_eq!(a.requests, Some(1000));
        assert_eq!(a.rate, Some(5000.0));
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(parse(&["echo", "--duration", "5", "--requests", "10"]).is_err(), "duration xor requests");
        assert!(parse(&["echo", "--connections", "0"]).is_err());
        assert!(parse(&["echo", "--pipeline", "0"]).is_err());
        assert!(parse(&["echo", "--rate", "0"]).is_err());
        assert!(parse(&["echo", "--duration", "-1"]).is_err());
        assert!(parse(&["store-mixed", "--get-percent", "101"]).is_err());
        assert!(parse(&["no-such-scenario"]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn every_scenario_name_parses() {
        for name in [
            "echo",
            "store-set",
            "store-get",
            "store-mixed",
            "pubsub",
            "pubsub-fanout",
            "pubsub-fanin",
            "queue-push",
            "queue-cycle",
            "stream-publish",
            "stream-cycle",
            "stream-keepup",
        ] {
            assert!(parse(&[name]).is_ok(), "{name}");
        }
        assert!(parse(&["fsync", "--dir", "/tmp"]).is_ok());
        assert!(parse(&["report", "x.jsonl"]).is_ok());
        assert!(parse(&["--port", "9", "stream-info", "--json"]).is_ok());
    }

    #[test]
    fn keepup_options() {
        let cli = parse(&["stream-keepup", "--rate", "1000", "--fetch-limit", "50", "--fetch-wait-ms", "0"])
            .unwrap();
        let Command::StreamKeepup(a) = &cli.command else { panic!("{cli:?}") };
        assert_eq!((a.rate, a.fetch_limit, a.fetch_wait_ms), (Some(1000.0), 50, 0));
        let cli = parse(&["stream-keepup"]).unwrap();
        let Command::StreamKeepup(a) = &cli.command else { panic!("{cli:?}") };
        assert_eq!((a.fetch_limit, a.fetch_wait_ms, a.connections), (100, 500, 50));
        assert_eq!(a.ack, AckMode::Batch, "ACK_BATCH by default");
        assert!(parse(&["stream-keepup", "--fetch-limit", "0"]).is_err());
        for (value, mode) in [("single", AckMode::Single), ("batch", AckMode::Batch)] {
            let cli = parse(&["stream-keepup", "--ack", value]).unwrap();
            let Command::StreamKeepup(a) = &cli.command else { panic!("{cli:?}") };
            assert_eq!((a.ack, a.ack.name()), (mode, value));
            let cli = parse(&["stream-cycle", "--ack", value]).unwrap();
            let Command::StreamCycle(a) = &cli.command else { panic!("{cli:?}") };
            assert_eq!(a.ack, mode);
        }
        assert!(parse(&["stream-keepup", "--ack", "cumulative"]).is_err());
    }
}
