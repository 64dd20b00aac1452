//! `nexo-cli server …`: health (an ECHO round trip) and info (the round trip, the Store's INFO
//! and the number of queues and stream topics), from v1 requests only.

use std::time::Instant;

use serde_json::json;

use crate::Ctx;
use crate::args::ServerCmd;
use crate::error::{CliError, CliResult};
use crate::output::Table;
use crate::store::{fields_json, info_fields};
use crate::target::Target;

/// Runs one `server` subcommand.
pub(crate) fn run(ctx: &mut Ctx<'_>, cmd: ServerCmd, target: &Target) -> CliResult {
    let address = format!("{}:{}", target.host, target.port);
    let rtt_us = ping(ctx)?;
    match cmd {
        ServerCmd::Health => {
            let doc = json!({ "address": address, "healthy": true, "rtt_us": rtt_us });
            ctx.out.result(&doc, &format!("healthy ({address}, round trip {rtt_us} µs)"))
        }
        ServerCmd::Info => {
            let store = info_fields(ctx)?;
            let (queues, _) = ctx.client.list_queues(0, 0)?;
            let (topics, _) = ctx.client.list_streams(0, 0)?;
            let doc = json!({
                "address": address, "rtt_us": rtt_us, "queues": queues, "stream_topics": topics,
                "store": fields_json(&store),
            });
            let mut table = Table::new(&["FIELD", "VALUE"]);
            table.row(vec!["address".into(), address]);
            table.row(vec!["rtt_us".into(), rtt_us.to_string()]);
            table.row(vec!["queues".into(), queues.to_string()]);
            table.row(vec!["stream_topics".into(), topics.to_string()]);
            store.into_iter().for_each(|(n, v)| table.row(vec![format!("store.{n}"), v]));
            ctx.out.table(&doc, &table)
        }
    }
}

/// One ECHO round trip in microseconds; the payload must come back unchanged.
fn ping(ctx: &mut Ctx<'_>) -> CliResult<u64> {
    let started = Instant::now();
    let back = ctx.client.echo(b"nexo-cli")?;
    let rtt = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if back.as_ref() != b"nexo-cli" {
        return Err(CliError::Connection("ECHO came back changed".to_owned()));
    }
    Ok(rtt)
}
