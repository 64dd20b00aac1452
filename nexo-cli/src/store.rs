//! `nexo-cli store …`: get, set, del, scan and info on the Store over v1.

use nexo_client::{Reply, Request, SetOptions, StoreRequest};
use serde_json::{Map, Value, json};

use crate::Ctx;
use crate::args::StoreCmd;
use crate::error::{CliError, CliResult};
use crate::output::{Table, payload_json, payload_text};
use crate::queue::done;

/// Keys per SCAN step.
const SCAN_COUNT: u32 = 512;

/// Runs one `store` subcommand.
pub(crate) fn run(ctx: &mut Ctx<'_>, cmd: StoreCmd) -> CliResult {
    match cmd {
        StoreCmd::Get { key } => {
            let value = ctx.client.get(&key)?;
            let doc = json!({ "key": key, "value": value.as_deref().map(payload_json) });
            let text = value.as_deref().map_or_else(|| "(nil)".to_owned(), payload_text);
            ctx.out.result(&doc, &text)
        }
        StoreCmd::Set { key, value, ttl } => {
            ctx.client.set_with(&key, value.as_bytes(), SetOptions { ttl, persist: false })?;
            done(ctx, json!({ "key": key, "set": true }))
        }
        StoreCmd::Del { keys } => {
            let keys_bytes = keys.iter().map(|k| nexo_client::Bytes::copy_from_slice(k.as_bytes())).collect();
            let deleted =
                match ctx.client.request(&Request::Store(StoreRequest::DelCount { keys: keys_bytes }))? {
                    Reply::Int(n) => n,
                    Reply::Err(text) => return Err(CliError::Server(text)),
                    other => return Err(CliError::Connection(format!("unexpected DEL reply {other:?}"))),
                };
            ctx.out.result(&json!({ "deleted": deleted }), &format!("deleted {deleted}"))
        }
        StoreCmd::Scan { pattern, limit } => scan(ctx, &pattern, limit),
        StoreCmd::Info => info(ctx),
    }
}

fn scan(ctx: &mut Ctx<'_>, pattern: &str, limit: usize) -> CliResult {
    let mut keys: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = 0;
    let complete = loop {
        let (next, page) = ctx.client.scan(cursor, pattern, SCAN_COUNT)?;
        keys.extend(page.into_iter().filter(|k| seen.insert(k.clone())));
        if keys.len() >= limit {
            break next == 0 && keys.len() == limit;
        }
        if next == 0 {
            break true;
        }
        cursor = next;
    };
    keys.truncate(limit);
    let mut table = Table::new(&["KEY"]);
    keys.iter().for_each(|k| table.row(vec![k.escape_debug().to_string()]));
    ctx.out.table(&json!({ "pattern": pattern, "keys": keys, "complete": complete }), &table)
}

/// The Store's INFO text (`name:value` lines) as JSON numbers where they are numbers.
pub(crate) fn info_fields(ctx: &mut Ctx<'_>) -> CliResult<Vec<(String, String)>> {
    let text = match ctx.client.request(&Request::Store(StoreRequest::Info))? {
        Reply::Data(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Reply::Err(text) => return Err(CliError::Server(text)),
        other => return Err(CliError::Connection(format!("unexpected INFO reply {other:?}"))),
    };
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect())
}

/// Fields as a JSON object (numbers kept as numbers).
pub(crate) fn fields_json(fields: &[(String, String)]) -> Value {
    let mut map = Map::new();
    for (name, value) in fields {
        let v = value.parse::<i64>().map_or_else(|_| Value::String(value.clone()), Value::from);
        map.insert(name.clone(), v);
    }
    Value::Object(map)
}

fn info(ctx: &mut Ctx<'_>) -> CliResult {
    let fields = info_fields(ctx)?;
    let mut table = Table::new(&["FIELD", "VALUE"]);
    fields.iter().for_each(|(n, v)| table.row(vec![n.clone(), v.clone()]));
    ctx.out.table(&fields_json(&fields), &table)
}
