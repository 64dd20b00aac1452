//! `nexo-cli pubsub …`: publish, and subscribe printing each message as it arrives (a line of
//! text, or a JSON line with `--json`) until a count, a time limit or Ctrl-C.

use nexo_client::PublishOptions;
use serde_json::json;

use crate::args::PubSubCmd;
use crate::error::CliResult;
use crate::output::{payload_json, payload_text};
use crate::queue::done;
use crate::{Ctx, STOP_CHECK, deadline_after};

/// Runs one `pubsub` subcommand.
pub(crate) fn run(ctx: &mut Ctx<'_>, cmd: PubSubCmd) -> CliResult {
    match cmd {
        PubSubCmd::Publish { topic, body, retain, ttl } => {
            let options = PublishOptions { retain, ttl, ..PublishOptions::default() };
            ctx.client.publish(&topic, body.as_bytes(), options)?;
            done(ctx, json!({ "topic": topic, "published": true }))
        }
        PubSubCmd::Subscribe { patterns, count, timeout_ms } => subscribe(ctx, &patterns, count, timeout_ms),
    }
}

fn subscribe(
    ctx: &mut Ctx<'_>,
    patterns: &[String],
    count: Option<u64>,
    timeout_ms: Option<u64>,
) -> CliResult {
    for pattern in patterns {
        ctx.client.subscribe(pattern)?;
    }
    let deadline = deadline_after(timeout_ms);
    let mut printed = 0u64;
    while !ctx.should_stop(deadline) && count.is_none_or(|c| printed < c) {
        let Some(push) = ctx.client.next_push(STOP_CHECK)? else { continue };
        if ctx.out.is_json() {
            ctx.out.json_line(&json!({ "topic": push.topic, "payload": payload_json(&push.payload) }))?;
        } else {
            ctx.out.text(&format!("{}  {}", push.topic, payload_text(&push.payload)))?;
        }
        printed += 1;
    }
    Ok(())
}
