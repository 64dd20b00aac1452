//! `nexo-cli queue …`: the Queue broker's subcommands, each a few v1 requests through the
//! blocking client, printed as a table or one JSON document.

use nexo_client::{ConsumeOptions, PushOptions, QueueInfo, QueueOptions};
use serde_json::{Value, json};

use crate::Ctx;
use crate::args::{PageArgs, QueueCmd, QueueDlqCmd};
use crate::error::{CliError, CliResult};
use crate::output::{Table, hex_id, parse_id, payload_json, payload_text};

/// Queues per LIST page when searching for one queue.
const LIST_PAGE: u32 = 1000;

/// Runs one `queue` subcommand.
pub(crate) fn run(ctx: &mut Ctx<'_>, cmd: QueueCmd) -> CliResult {
    match cmd {
        QueueCmd::List(page) => list(ctx, page),
        QueueCmd::Create { queue, visibility_timeout_ms, max_retries, max_depth, max_bytes } => {
            let options = QueueOptions { visibility_timeout_ms, max_retries, max_depth, max_bytes };
            ctx.client.create_queue(&queue, options)?;
            done(ctx, json!({ "queue": queue, "created": true }))
        }
        QueueCmd::Info { queue } => info(ctx, &queue),
        QueueCmd::Push { queue, body, priority, delay_ms } => {
            ctx.client.push(&queue, body.as_bytes(), PushOptions { priority, delay_ms })?;
            done(ctx, json!({ "queue": queue, "pushed": true }))
        }
        QueueCmd::Consume { queue, max, wait_ms, no_ack } => consume(ctx, &queue, max, wait_ms, no_ack),
        QueueCmd::Purge { queue } => {
            let removed = ctx.client.purge_queue(&queue)?;
            ctx.out.result(&json!({ "queue": queue, "purged": removed }), &format!("purged {removed}"))
        }
        QueueCmd::Delete { queue } => {
            require_queue(ctx, &queue)?;
            ctx.client.delete_queue(&queue)?;
            done(ctx, json!({ "queue": queue, "deleted": true }))
        }
        QueueCmd::Dlq(cmd) => dlq(ctx, cmd),
    }
}

/// `OK`, or `doc` with `--json`.
pub(crate) fn done(ctx: &mut Ctx<'_>, doc: Value) -> CliResult {
    ctx.out.result(&doc, "OK")
}

/// The server's own error for a missing queue (DELETE and PURGE succeed on one).
fn require_queue(ctx: &mut Ctx<'_>, queue: &str) -> CliResult {
    let reply = ctx.client.request(&nexo_client::Request::Queue(nexo_client::QueueRequest::Exists {
        name: queue.to_owned(),
    }))?;
    match reply {
        nexo_client::Reply::Err(text) => Err(CliError::Server(text)),
        _ => Ok(()),
    }
}

fn queue_json(q: &QueueInfo) -> Value {
    json!({
        "name": q.name, "ready": q.ready, "in_flight": q.in_flight, "delayed": q.delayed, "dead": q.dead,
    })
}

fn queue_table(queues: &[QueueInfo]) -> Table {
    let mut table = Table::new(&["NAME", "READY", "IN_FLIGHT", "DELAYED", "DEAD"]);
    for q in queues {
        table.named_row(&q.name, &[q.ready, q.in_flight, q.delayed, q.dead]);
    }
    table
}

fn list(ctx: &mut Ctx<'_>, page: PageArgs) -> CliResult {
    let (total, queues) = ctx.client.list_queues(page.offset, page.limit)?;
    let doc = json!({ "total": total, "queues": queues.iter().map(queue_json).collect::<Vec<_>>() });
    ctx.out.table(&doc, &queue_table(&queues))
}

fn info(ctx: &mut Ctx<'_>, queue: &str) -> CliResult {
    require_queue(ctx, queue)?;
    let mut offset = 0;
    loop {
        let (total, page) = ctx.client.list_queues(offset, LIST_PAGE)?;
        if let Some(found) = page.iter().find(|q| q.name == queue) {
            return ctx.out.table(&queue_json(found), &queue_table(std::slice::from_ref(found)));
        }
        offset = offset.saturating_add(page.len() as u32);
        if page.is_empty() || offset >= total {
            // Deleted between EXISTS and LIST: the server's words for it.
            return Err(CliError::Server(format!("Queue '{queue}' not found")));
        }
    }
}

fn consume(ctx: &mut Ctx<'_>, queue: &str, max: u32, wait_ms: u64, no_ack: bool) -> CliResult {
    let options = ConsumeOptions { batch_size: Some(max), wait_ms: Some(wait_ms) };
    let messages = ctx.client.consume(queue, options)?;
    if !no_ack {
        for m in &messages {
            ctx.client.ack(queue, m.id)?;
        }
    }
    let docs: Vec<Value> = messages
        .iter()
        .map(|m| json!({ "id": hex_id(&m.id), "payload": payload_json(&m.payload) }))
        .collect();
    let mut table = Table::new(&["ID", "PAYLOAD"]);
    for m in &messages {
        table.row(vec![hex_id(&m.id), payload_text(&m.payload)]);
    }
    ctx.out.table(&json!({ "queue": queue, "acked": !no_ack, "messages": docs }), &table)
}

fn dlq(ctx: &mut Ctx<'_>, cmd: QueueDlqCmd) -> CliResult {
    match cmd {
        QueueDlqCmd::List { queue, page } => {
            let (total, messages) = ctx.client.peek_dlq(&queue, page.limit, page.offset)?;
            let mut table = Table::new(&["ID", "ATTEMPTS", "REASON", "PAYLOAD"]);
            let mut docs = Vec::with_capacity(messages.len());
            for m in &messages {
                table.row(vec![
                    hex_id(&m.id),
                    m.attempts.to_string(),
                    m.reason.escape_debug().to_string(),
                    payload_text(&m.payload),
                ]);
                docs.push(json!({
                    "id": hex_id(&m.id), "attempts": m.attempts, "reason": m.reason,
                    "payload": payload_json(&m.payload),
                }));
            }
            ctx.out.table(&json!({ "queue": queue, "total": total, "messages": docs }), &table)
        }
        QueueDlqCmd::Replay { queue, id } => {
            let replayed = match id {
                Some(id) => replay_one(ctx, &queue, &id)?,
                None => replay_all(ctx, &queue)?,
            };
            ctx.out.result(&json!({ "queue": queue, "replayed": replayed }), &format!("replayed {replayed}"))
        }
        QueueDlqCmd::Purge { queue } => {
            let removed = ctx.client.purge_dlq(&queue)?;
            ctx.out.result(&json!({ "queue": queue, "purged": removed }), &format!("purged {removed}"))
        }
    }
}

fn replay_one(ctx: &mut Ctx<'_>, queue: &str, id: &str) -> CliResult<u32> {
    let id = parse_id(id)?;
    if ctx.client.move_to_queue(queue, id)? {
        Ok(1)
    } else {
        Err(CliError::Server(format!("message {} is not in the dead-letter queue of '{queue}'", hex_id(&id))))
    }
}

/// Moves every dead message back, a page at a time; each move shrinks the dead-letter queue,
/// so the first page is read again until it is empty (or holds only messages that would not
/// move).
fn replay_all(ctx: &mut Ctx<'_>, queue: &str) -> CliResult<u32> {
    let mut moved = 0u32;
    loop {
        let (_, page) = ctx.client.peek_dlq(queue, LIST_PAGE, 0)?;
        let mut progress = false;
        for m in &page {
            if ctx.client.move_to_queue(queue, m.id)? {
                moved = moved.saturating_add(1);
                progress = true;
            }
        }
        if !progress {
            return Ok(moved);
        }
    }
}
