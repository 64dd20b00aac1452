//! `nexo-cli stream …`: the Stream broker's subcommands. `tail` reads through a consumer group
//! of its own (named `nexo-cli-tail-<pid>-<n>`), so it never takes messages from a real group,
//! and removes that group when it ends.

use std::sync::atomic::{AtomicU32, Ordering};

use nexo_client::{
    GroupMember, Retention, SeekTarget, StreamGroupInfo, StreamMessage, StreamOptions, StreamTopicInfo,
};
use serde_json::{Value, json};

use crate::args::{GroupCmd, PageArgs, SeekArgs, StreamCmd, StreamDlqCmd};
use crate::error::{CliError, CliResult};
use crate::output::{Table, payload_json, payload_text};
use crate::queue::done;
use crate::{Ctx, STOP_CHECK, deadline_after};

/// Topics or groups per page when searching for one.
const LIST_PAGE: u32 = 1000;
/// Messages per FETCH of `tail`.
const TAIL_FETCH: u32 = 100;

/// Tail groups made by this process (so two tails in one test process get different names).
static TAILS: AtomicU32 = AtomicU32::new(0);

/// Runs one `stream` subcommand.
pub(crate) fn run(ctx: &mut Ctx<'_>, cmd: StreamCmd) -> CliResult {
    match cmd {
        StreamCmd::List(page) => list(ctx, page),
        StreamCmd::Create { topic, max_age_ms, max_bytes } => {
            let retention =
                (max_age_ms.is_some() || max_bytes.is_some()).then_some(Retention { max_age_ms, max_bytes });
            ctx.client.create_stream(&topic, StreamOptions { retention })?;
            done(ctx, json!({ "topic": topic, "created": true }))
        }
        StreamCmd::Info { topic } => info(ctx, &topic),
        StreamCmd::Tail { topic, from_beginning, from_seq, count, timeout_ms } => {
            tail(ctx, &topic, Start::of(from_beginning, from_seq), count, timeout_ms)
        }
        StreamCmd::Publish { topic, body } => {
            let seq = ctx.client.stream_publish(&topic, body.as_bytes())?;
            ctx.out.result(&json!({ "topic": topic, "seq": seq }), &format!("seq {seq}"))
        }
        StreamCmd::Group(GroupCmd::List { topic, page }) => {
            let (total, groups) = ctx.client.list_groups(&topic, page.offset, page.limit)?;
            let doc = json!({ "topic": topic, "total": total, "groups": groups.iter().map(group_json).collect::<Vec<_>>() });
            ctx.out.table(&doc, &group_table(&groups))
        }
        StreamCmd::Group(GroupCmd::Seek { topic, group, to }) => seek(ctx, &topic, &group, to),
        StreamCmd::Dlq(cmd) => dlq(ctx, cmd),
        StreamCmd::Delete { topic } => {
            require_topic(ctx, &topic)?;
            ctx.client.delete_stream(&topic)?;
            done(ctx, json!({ "topic": topic, "deleted": true }))
        }
    }
}

/// The server's own error for a missing topic (DELETE succeeds on one).
fn require_topic(ctx: &mut Ctx<'_>, topic: &str) -> CliResult {
    let request =
        nexo_client::Request::Stream(nexo_client::StreamRequest::Exists { topic: topic.to_owned() });
    match ctx.client.request(&request)? {
        nexo_client::Reply::Err(text) => Err(CliError::Server(text)),
        _ => Ok(()),
    }
}

fn topic_json(t: &StreamTopicInfo) -> Value {
    json!({
        "name": t.name, "first_seq": t.first_seq, "last_seq": t.last_seq,
        "messages": (t.last_seq + 1).saturating_sub(t.first_seq),
        "max_age_ms": t.max_age_ms, "max_bytes": t.max_bytes, "groups": t.groups,
    })
}

fn topic_table(topics: &[StreamTopicInfo]) -> Table {
    let mut table = Table::new(&["NAME", "FIRST_SEQ", "LAST_SEQ", "MAX_AGE_MS", "MAX_BYTES", "GROUPS"]);
    for t in topics {
        let numbers = [t.first_seq, t.last_seq, t.max_age_ms, t.max_bytes, u64::from(t.groups)];
        table.named_row(&t.name, &numbers);
    }
    table
}

fn group_json(g: &StreamGroupInfo) -> Value {
    json!({
        "name": g.name, "generation": g.generation, "ack_floor": g.ack_floor, "lag": g.lag,
        "pending": g.pending, "members": g.members, "dead": g.dead,
    })
}

fn group_table(groups: &[StreamGroupInfo]) -> Table {
    let mut table = Table::new(&["GROUP", "GENERATION", "ACK_FLOOR", "LAG", "PENDING", "MEMBERS", "DEAD"]);
    for g in groups {
        let numbers = [g.generation, g.ack_floor, g.lag, g.pending, u64::from(g.members), u64::from(g.dead)];
        table.named_row(&g.name, &numbers);
    }
    table
}

fn list(ctx: &mut Ctx<'_>, page: PageArgs) -> CliResult {
    let (total, topics) = ctx.client.list_streams(page.offset, page.limit)?;
    let doc = json!({ "total": total, "topics": topics.iter().map(topic_json).collect::<Vec<_>>() });
    ctx.out.table(&doc, &topic_table(&topics))
}

fn info(ctx: &mut Ctx<'_>, topic: &str) -> CliResult {
    require_topic(ctx, topic)?;
    let mut offset = 0;
    let found = loop {
        let (total, page) = ctx.client.list_streams(offset, LIST_PAGE)?;
        if let Some(found) = page.into_iter().find(|t| t.name == topic) {
            break found;
        }
        offset = offset.saturating_add(LIST_PAGE);
        if offset >= total {
            return Err(CliError::Server("Topic not found".to_owned()));
        }
    };
    let (_, groups) = ctx.client.list_groups(topic, 0, LIST_PAGE)?;
    let mut doc = topic_json(&found);
    doc["group_list"] = groups.iter().map(group_json).collect();
    if ctx.out.is_json() {
        return ctx.out.json_line(&doc);
    }
    let text = format!(
        "{}\n\n{}",
        topic_table(std::slice::from_ref(&found)).render(),
        group_table(&groups).render()
    );
    ctx.out.text(&text)
}

fn seek(ctx: &mut Ctx<'_>, topic: &str, group: &str, to: SeekArgs) -> CliResult {
    let next = match (to.seq, to.time_ms) {
        (Some(seq), _) => Some(ctx.client.seek_group_to_seq(topic, group, seq)?),
        (None, Some(ms)) => Some(ctx.client.seek_group_to_time(topic, group, ms)?),
        (None, None) => {
            let target = if to.end { SeekTarget::End } else { SeekTarget::Beginning };
            ctx.client.seek_group(topic, group, target)?;
            None
        }
    };
    let doc = json!({ "topic": topic, "group": group, "next_seq": next });
    let text = next.map_or_else(|| "OK".to_owned(), |seq| format!("next seq {seq}"));
    ctx.out.result(&doc, &text)
}

fn dlq(ctx: &mut Ctx<'_>, cmd: StreamDlqCmd) -> CliResult {
    match cmd {
        StreamDlqCmd::List { topic, group, page } => {
            let (total, letters) = ctx.client.list_dead_letters(&topic, &group, page.offset, page.limit)?;
            let mut table = Table::new(&["SEQ", "TIMESTAMP_MS", "DELIVERIES", "PAYLOAD"]);
            let mut docs = Vec::with_capacity(letters.len());
            for d in &letters {
                table.row(vec![
                    d.seq.to_string(),
                    d.timestamp_ms.to_string(),
                    d.deliveries.to_string(),
                    payload_text(&d.payload),
                ]);
                docs.push(json!({
                    "seq": d.seq, "timestamp_ms": d.timestamp_ms, "deliveries": d.deliveries,
                    "payload": payload_json(&d.payload),
                }));
            }
            let doc = json!({ "topic": topic, "group": group, "total": total, "messages": docs });
            ctx.out.table(&doc, &table)
        }
        StreamDlqCmd::Replay { topic, group, seq } => {
            let replayed = ctx.client.replay_dead_letters(&topic, &group, seq)?;
            let doc = json!({ "topic": topic, "group": group, "replayed": replayed });
            ctx.out.result(&doc, &format!("replayed {replayed}"))
        }
    }
}

/// Where `tail` starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    Beginning,
    Seq(u64),
    End,
}

impl Start {
    fn of(from_beginning: bool, from_seq: Option<u64>) -> Self {
        match (from_beginning, from_seq) {
            (true, _) => Self::Beginning,
            (false, Some(seq)) => Self::Seq(seq),
            (false, None) => Self::End,
        }
    }
}

fn tail(
    ctx: &mut Ctx<'_>,
    topic: &str,
    start: Start,
    count: Option<u64>,
    timeout_ms: Option<u64>,
) -> CliResult {
    require_topic(ctx, topic)?;
    let n = TAILS.fetch_add(1, Ordering::Relaxed);
    let group = format!("nexo-cli-tail-{}-{n}", std::process::id());
    match start {
        Start::Beginning => ctx.client.seek_group(topic, &group, SeekTarget::Beginning)?,
        Start::End => ctx.client.seek_group(topic, &group, SeekTarget::End)?,
        Start::Seq(seq) => {
            ctx.client.seek_group_to_seq(topic, &group, seq)?;
        }
    }
    let result = match ctx.client.join_group(topic, &group) {
        Ok(member) => follow(ctx, &member, count, timeout_ms),
        Err(err) => Err(err.into()),
    };
    // The group is this command's own: remove it whatever happened (best effort).
    let removed = ctx.client.delete_group(topic, &group);
    result?;
    Ok(removed?)
}

fn follow(ctx: &mut Ctx<'_>, member: &GroupMember, count: Option<u64>, timeout_ms: Option<u64>) -> CliResult {
    let deadline = deadline_after(timeout_ms);
    let wait_ms = u32::try_from(STOP_CHECK.as_millis()).unwrap_or(u32::MAX);
    let mut printed = 0u64;
    while !ctx.should_stop(deadline) && count.is_none_or(|c| printed < c) {
        let left =
            count.map_or(TAIL_FETCH, |c| u32::try_from(c - printed).unwrap_or(TAIL_FETCH).min(TAIL_FETCH));
        let batch = ctx.client.fetch(member, left, wait_ms)?;
        let seqs: Vec<u64> = batch.iter().map(|m| m.seq).collect();
        for message in &batch {
            print_message(ctx, &member.topic, message)?;
        }
        printed += batch.len() as u64;
        if !seqs.is_empty() {
            ctx.client.stream_ack_batch(member, &seqs)?;
        }
    }
    Ok(())
}

fn print_message(ctx: &mut Ctx<'_>, topic: &str, m: &StreamMessage) -> CliResult {
    if ctx.out.is_json() {
        let doc = json!({ "topic": topic, "seq": m.seq, "timestamp_ms": m.timestamp_ms, "payload": payload_json(&m.payload) });
        ctx.out.json_line(&doc)
    } else {
        ctx.out.text(&format!("{}  {}", m.seq, payload_text(&m.payload)))
    }
}
