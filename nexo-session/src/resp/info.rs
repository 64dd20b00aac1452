//! The texts RESP clients read about the server: INFO sections, the HELLO map and CONFIG GET.
//!
//! Owns their layout (Redis's field names, so tools such as `redis-cli` and `redis-benchmark`
//! read them) and nothing else; the numbers come from the session (uptime, connections) and from
//! the Store's INFO reply (memory, counters, keys).

use std::fmt::Write as _;

use bytes::BytesMut;
use nexo_engine::Now;
use nexo_proto::resp::Version;
use nexo_proto::resp::encode as enc;

use super::RespContext;

/// The Redis version Nexo reports (the command set it follows).
pub const REDIS_VERSION: &str = "7.2.0";

/// Which INFO sections were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sections {
    /// `# Server`.
    pub server: bool,
    /// `# Clients`.
    pub clients: bool,
    /// `# Memory` (needs the Store).
    pub memory: bool,
    /// `# Persistence`.
    pub persistence: bool,
    /// `# Stats` (needs the Store).
    pub stats: bool,
    /// `# Replication`.
    pub replication: bool,
    /// `# CPU`.
    pub cpu: bool,
    /// `# Commandstats` (only when named, or with `all` / `everything`).
    pub commandstats: bool,
    /// `# Keyspace` (needs the Store).
    pub keyspace: bool,
}

impl Sections {
    /// From INFO's arguments: none or `default` mean the default sections, `all` and
    /// `everything` add commandstats; unknown names are ignored, as Redis ignores them.
    pub fn from_args(args: &[&[u8]]) -> Self {
        let default = Self {
            server: true,
            clients: true,
            memory: true,
            persistence: true,
            stats: true,
            replication: true,
            cpu: true,
            commandstats: false,
            keyspace: true,
        };
        if args.is_empty() {
            return default;
        }
        let mut s = Self::default();
        for arg in args {
            match arg.to_ascii_lowercase().as_slice() {
                b"all" | b"everything" => return Self { commandstats: true, ..default },
                b"default" => s = Self { commandstats: s.commandstats, ..default },
                b"server" => s.server = true,
                b"clients" => s.clients = true,
                b"memory" => s.memory = true,
                b"persistence" => s.persistence = true,
                b"stats" => s.stats = true,
                b"replication" => s.replication = true,
                b"cpu" => s.cpu = true,
                b"commandstats" => s.commandstats = true,
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

/// What the session knows for INFO when the command arrives; the Store's numbers join later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoParts {
    sections: Sections,
    /// Server and clients, rendered.
    head: String,
    /// Persistence, rendered.
    persistence: String,
    /// Replication, CPU and commandstats, rendered.
    tail: String,
    rss_bytes: Option<u64>,
    connections_received: u64,
    pubsub_channels: usize,
    pubsub_patterns: usize,
}

impl InfoParts {
    /// Whether the Store has to be asked.
    pub fn needs_store(&self) -> bool {
        self.sections.needs_store()
    }
}

/// Renders what the session knows, at `now` (monotonic: uptime; wall: start time).
pub fn local_parts(ctx: &RespContext, sections: Sections, now: Now) -> InfoParts {
    let process = ctx.settings.process.sample();
    let started_secs = now.wall_ms.saturating_sub(now.mono_ms) / 1000;
    let clients = ctx.registry().all();
    let pubsub_clients = clients
        .iter()
        .filter(|c| {
            let s = c.state();
            s.sub + s.psub > 0
        })
        .count();
    let channels: std::collections::BTreeSet<_> =
        clients.iter().flat_map(|c| c.state().channels.clone()).collect();
    let pubsub_patterns = clients.iter().map(|c| c.state().psub).sum();
    let mut head = String::new();
    if sections.server {
        let _ = write!(
            head,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nnexo_version:{}\r\nredis_git_sha1:00000000\r\n\
             redis_git_dirty:0\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\n\
             process_id:{}\r\nrun_id:{:040x}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\n\
             uptime_in_days:{}\r\nhz:10\r\nexecutable:nexo\r\nconfig_file:\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            started_secs,
            ctx.port(),
            now.wall_ms.saturating_mul(1000),
            now.mono_ms / 1000,
            now.mono_ms / 86_400_000
        );
    }
    if sections.clients {
        let _ = write!(
            head,
            "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
             client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:0\r\n\
             tracking_clients:0\r\npubsub_clients:{pubsub_clients}\r\nwatching_clients:0\r\n\
             clients_in_timeout_table:0\r\ntotal_watched_keys:0\r\ntotal_blocking_keys:0\r\n\r\n",
            ctx.connected(),
            ctx.settings.max_connections
        );
    }
    let persistence = if sections.persistence {
        format!(
            "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\n\
             rdb_bgsave_in_progress:0\r\nrdb_last_save_time:{started_secs}\r\nrdb_last_bgsave_status:ok\r\n\
             rdb_saves:0\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\nnexo_store_persisted:no\r\n\r\n"
        )
    } else {
        String::new()
    };
    let mut tail = String::new();
    if sections.replication {
        tail.push_str(
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n\
             master_replid:0000000000000000000000000000000000000000\r\n\
             master_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\n\
             second_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:0\r\n\r\n",
        );
    }
    if sections.cpu {
        let p = process.unwrap_or_default();
        let _ = write!(
            tail,
            "# CPU\r\nused_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:0.000000\r\n\
             used_cpu_user_children:0.000000\r\n\r\n",
            p.cpu_sys_secs, p.cpu_user_secs
        );
    }
    if sections.commandstats {
        let _ = write!(tail, "# Commandstats\r\n{}\r\n", ctx.registry().commandstats());
    }
    InfoParts {
        sections,
        head,
        persistence,
        tail,
        rss_bytes: process.map(|p| p.rss_bytes),
        connections_received: ctx.registry().received(),
        pubsub_channels: channels.len(),
        pubsub_patterns,
    }
}

/// The whole INFO text: the session's parts with the Store's sections, built from its INFO
/// lines (`name:value`; empty when the Store was not asked), in Redis's section order.
pub fn finish(parts: &InfoParts, store: &[u8]) -> String {
    let text = String::from_utf8_lossy(store);
    let field = |name: &str| -> String {
        text.lines()
            .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
            .unwrap_or("0")
            .trim()
            .to_owned()
    };
    let s = parts.sections;
    let mut out = parts.head.clone();
    if s.memory {
        let dataset: u64 = field("used_memory").parse().unwrap_or(0);
        // used_memory is the process's resident size when the host tells it (Nexo counts no
        // allocations), else the Store's accounted bytes.
        let used = parts.rss_bytes.unwrap_or(dataset);
        let _ = write!(
            out,
            "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{}\r\n\
             used_memory_rss_human:{}\r\nused_memory_peak:{used}\r\nused_memory_dataset:{dataset}\r\n\
             used_memory_dataset_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\n\
             mem_fragmentation_ratio:1.00\r\nmem_allocator:libc\r\n\r\n",
            human(used),
            parts.rss_bytes.unwrap_or(0),
            human(parts.rss_bytes.unwrap_or(0)),
            human(dataset),
            field("maxmemory"),
            human(field("maxmemory").parse().unwrap_or(0)),
            field("maxmemory_policy")
        );
    }
    out.push_str(&parts.persistence);
    if s.stats {
        let _ = write!(
            out,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             instantaneous_ops_per_sec:0\r\nrejected_connections:0\r\nexpired_keys:{}\r\nevicted_keys:{}\r\n\
             evicted_clients:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\n\
             pubsub_patterns:{}\r\ntotal_blocking_keys:0\r\n\r\n",
            parts.connections_received,
            field("total_commands_processed"),
            field("expired_keys"),
            field("evicted_keys"),
            field("keyspace_hits"),
            field("keyspace_misses"),
            parts.pubsub_channels,
            parts.pubsub_patterns
        );
    }
    out.push_str(&parts.tail);
    if s.keyspace {
        out.push_str("# Keyspace\r\n");
        let keys = field("keys");
        if keys != "0" {
            let _ = write!(out, "db0:keys={keys},expires={},avg_ttl=0\r\n", field("expires"));
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
    fn sections_render_redis_fields() {
        let ctx = RespContext::new(crate::resp::RespSettings {
            max_memory_bytes: 100,
            eviction: "noeviction".into(),
            ..crate::resp::RespSettings::for_tests()
        });
        let store =
            b"keys:3\r\nexpires:1\r\nused_memory:2048\r\nmaxmemory:100\r\nmaxmemory_policy:noeviction\r\n";
        let all = Sections::from_args(&[]);
        let text = finish(&local_parts(&ctx, all, Now::at(5_000)), store);
        assert!(
            text.contains("used_memory:2048\r\nused_memory_human:2.00K\r\n"),
            "no probe: the Store's bytes: {text}"
        );
        assert!(text.contains("used_memory_dataset:2048\r\n"));
        assert!(text.contains("maxmemory_policy:noeviction"));
        assert!(text.contains("db0:keys=3,expires=1,avg_ttl=0"));
        assert!(text.contains("# Replication\r\nrole:master\r\nconnected_slaves:0"));
        assert!(text.contains("nexo_store_persisted:no") && text.contains("blocked_clients:0"));
        assert!(text.contains("total_connections_received:0"));
        assert!(!text.contains("# Commandstats"), "not a default section");
        let order: Vec<usize> = [
            "# Server",
            "# Clients",
            "# Memory",
            "# Persistence",
            "# Stats",
            "# Replication",
            "# CPU",
            "# Keyspace",
        ]
        .iter()
        .map(|h| text.find(h).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "Redis's order");
        let keyspace = Sections::from_args(&[b"keyspace"]);
        assert_eq!(finish(&local_parts(&ctx, keyspace, Now::at(1)), b"keys:0\r\n"), "# Keyspace\r\n\r\n");
        assert!(Sections::from_args(&[b"everything"]).commandstats);
        assert!(!Sections::from_args(&[b"cpu"]).needs_store());
    }

    #[test]
    fn globbing() {
        assert!(simple_glob(b"*", b"save"));
        assert!(simple_glob(b"max*", b"maxmemory-policy"));
        assert!(simple_glob(b"sav?", b"save"));
        assert!(!simple_glob(b"save?", b"save"));
    }
}
