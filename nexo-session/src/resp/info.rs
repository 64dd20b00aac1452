//! The texts RESP clients read about the server: INFO sections, the HELLO map and CONFIG GET.
//!
//! Owns their layout (Redis's field names, so tools such as `redis-cli` and `redis-benchmark`
//! read them) and nothing else; the numbers come from the session (uptime, connections) and from
//! the Store's INFO reply (memory, counters, keys).

use bytes::BytesMut;
use nexo_proto::resp::Version;
use nexo_proto::resp::encode as enc;

use super::RespContext;

/// The Redis version Nexo reports (the command set it follows).
pub const REDIS_VERSION: &str = "7.2.0";

/// Which INFO sections were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sections {
    /// `# Server`.
    pub server: bool,
    /// `# Clients`.
    pub clients: bool,
    /// `# Memory` (needs the Store).
    pub memory: bool,
    /// `# Stats` (needs the Store).
    pub stats: bool,
    /// `# Keyspace` (needs the Store).
    pub keyspace: bool,
}

impl Sections {
    /// From INFO's arguments (none, `default`, `all` and `everything` mean every section).
    pub fn from_args(args: &[&[u8]]) -> Self {
        let all = Self { server: true, clients: true, memory: true, stats: true, keyspace: true };
        if args.is_empty() {
            return all;
        }
        let mut s = Self { server: false, clients: false, memory: false, stats: false, keyspace: false };
        for arg in args {
            match arg.to_ascii_lowercase().as_slice() {
                b"all" | b"everything" | b"default" => return all,
                b"server" => s.server = true,
                b"clients" => s.clients = true,
                b"memory" => s.memory = true,
                b"stats" => s.stats = true,
                b"keyspace" => s.keyspace = true,
                _ => {}
            }
        }
        s
    }

    /// Whether the Store has to be asked.
    pub fn needs_store(&self) -> bool {
        self.memory || self.stats || self.keyspace
    }
}

/// The sections the session renders itself.
pub fn local_sections(ctx: &RespContext, sections: Sections, uptime_ms: u64) -> String {
    let mut text = String::new();
    if sections.server {
        text.push_str(&format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nnexo_version:{}\r\nredis_mode:standalone\r\n\
             os:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\
             uptime_in_days:{}\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            ctx.port(),
            uptime_ms / 1000,
            uptime_ms / 86_400_000
        ));
    }
    if sections.clients {
        text.push_str(&format!(
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n\r\n",
            ctx.connected(),
            ctx.settings.max_connections
        ));
    }
    text
}

/// `head` followed by the Store sections built from the Store's INFO lines (`name:value`).
pub fn store_sections(head: &str, store: &[u8], memory: bool, stats: bool, keyspace: bool) -> String {
    let text = String::from_utf8_lossy(store);
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
            .unwrap_or("0")
            .trim()
            .to_owned()
    };
    let mut out = head.to_owned();
    if memory {
        let used = field("used_memory");
        out.push_str(&format!(
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nmaxmemory:{}\r\nmaxmemory_policy:{}\r\n\r\n",
            human(used.parse().unwrap_or(0)),
            field("maxmemory"),
            field("maxmemory_policy")
        ));
    }
    if stats {
        out.push_str(&format!(
            "# Stats\r\ntotal_commands_processed:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\n\
             keyspace_hits:{}\r\nkeyspace_misses:{}\r\n\r\n",
            field("total_commands_processed"),
            field("expired_keys"),
            field("evicted_keys"),
            field("keyspace_hits"),
            field("keyspace_misses")
        ));
    }
    if keyspace {
        out.push_str("# Keyspace\r\n");
        let keys = field("keys");
        if keys != "0" {
            out.push_str(&format!("db0:keys={keys},expires={},avg_ttl=0\r\n", field("expires")));
        }
        out.push_str("\r\n");
    }
    out
}

fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.2}G", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.2}M", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.2}K", b as f64 / 1024.0),
        b => format!("{b}B"),
    }
}

/// HELLO's reply: the server map.
pub fn hello(out: &mut BytesMut, version: Version, conn_id: u64) {
    enc::map(out, 7, version);
    for (key, value) in [("server", "redis"), ("version", REDIS_VERSION)] {
        enc::bulk(out, key.as_bytes());
        enc::bulk(out, value.as_bytes());
    }
    enc::bulk(out, b"proto");
    enc::integer(out, version.number());
    enc::bulk(out, b"id");
    enc::integer(out, i64::try_from(conn_id).unwrap_or(i64::MAX));
    for (key, value) in [("mode", "standalone"), ("role", "master")] {
        enc::bulk(out, key.as_bytes());
        enc::bulk(out, value.as_bytes());
    }
    enc::bulk(out, b"modules");
    enc::array(out, 0);
}

/// CONFIG GET's reply for the parameters matching any of `patterns`.
pub fn config_get(out: &mut BytesMut, version: Version, ctx: &RespContext, patterns: &[&[u8]]) {
    let s = &ctx.settings;
    let params: [(&str, String); 7] = [
        ("maxmemory", s.max_memory_bytes.to_string()),
        ("maxmemory-policy", s.eviction.clone()),
        ("save", String::new()),
        ("appendonly", "no".into()),
        ("databases", "1".into()),
        ("port", ctx.port().to_string()),
        ("maxclients", s.max_connections.to_string()),
    ];
    let matching: Vec<&(&str, String)> = params
        .iter()
        .filter(|(name, _)| patterns.iter().any(|p| simple_glob(&p.to_ascii_lowercase(), name.as_bytes())))
        .collect();
    enc::map(out, matching.len(), version);
    for (name, value) in matching {
        enc::bulk(out, name.as_bytes());
        enc::bulk(out, value.as_bytes());
    }
}

/// `*` and `?` globbing, enough for CONFIG GET.
fn simple_glob(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            simple_glob(&pattern[1..], name) || (!name.is_empty() && simple_glob(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => simple_glob(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => simple_glob(&pattern[1..], &name[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_sections_render_redis_fields() {
        let store =
            b"keys:3\r\nexpires:1\r\nused_memory:2048\r\nmaxmemory:100\r\nmaxmemory_policy:noeviction\r\n";
        let text = store_sections("", store, true, false, true);
        assert!(text.contains("used_memory:2048\r\nused_memory_human:2.00K\r\n"), "{text}");
        assert!(text.contains("maxmemory_policy:noeviction"));
        assert!(text.contains("db0:keys=3,expires=1,avg_ttl=0"));
        let empty = store_sections("", b"keys:0\r\n", false, false, true);
        assert_eq!(empty, "# Keyspace\r\n\r\n");
    }

    #[test]
    fn globbing() {
        assert!(simple_glob(b"*", b"save"));
        assert!(simple_glob(b"max*", b"maxmemory-policy"));
        assert!(simple_glob(b"sav?", b"save"));
        assert!(!simple_glob(b"save?", b"save"));
    }
}
