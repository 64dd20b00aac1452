//! Nexo's end-to-end suite, written once and run against each server binary.
//!
//! Cargo only tells a test the path of a binary of its own package, so this crate holds the
//! cases and the [`e2e_suite!`] macro; `nexo-runtime-mio/tests/e2e.rs` and
//! `nexo-runtime-tokio/tests/e2e.rs` each invoke the macro with their own binary, which expands to
//! one `#[test]` per case. Every case starts its own server ([`server::Server`]) on an ephemeral
//! port with a fresh data directory, speaks to it over real TCP (through `nexo_client` or the raw
//! frames of [`wire`]) and kills it at the end. This crate never reaches into the server's code.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the whole crate is test code: a failed unwrap is a failed case, with its message"
)]

pub mod cases;
pub mod prom;
pub mod server;
pub mod wire;

pub use server::Server;

/// Calls `$callback!` with the list of every case name: the one place the list is written.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_case {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)*;
            // store
            echo_returns_bytes,
            store_set_get_del,
            store_set_nx,
            store_incr_by,
            store_expire_ttl_persist,
            store_default_ttl_applies,
            store_mget_mset,
            store_scan,
            // ttl
            ttl_expires_on_time,
            ttl_default_ttl_flag,
            ttl_default_ttl_never,
            // eviction
            eviction_allkeys_lru,
            eviction_volatile_lru,
            eviction_noeviction_oom,
            // load
            load_pipeline_10k,
            load_200_connections,
            // bad input
            bad_frame_type,
            bad_unknown_opcode,
            bad_unknown_broker_opcode,
            bad_truncated_fields,
            bad_invalid_utf8,
            bad_json_options,
            bad_oversized_frame,
            bad_garbage_first_byte,
            bad_connection_limit,
            // authentication (issue 15)
            auth_resp_requirepass,
            auth_ten_failures_close,
            auth_v1_opcode,
            auth_sighup_password_change,
            auth_file_users_resp,
            auth_file_users_v1,
            auth_file_users_sighup,
            auth_failed_logins_on_metrics,
            auth_dashboard_login,
            auth_dashboard_open_without_passwords,
            auth_dashboard_login_in_chromium,
            // hostile: replies
            hostile_glob_keys_does_not_stall_others,
            hostile_glob_pattern_too_long,
            hostile_glob_many_psubscribe_patterns,
            hostile_glob_dashboard_keys,
            hostile_mget_huge_reply_v1,
            hostile_mget_huge_reply_resp,
            // hostile: storage
            hostile_storage_flipped_byte_in_queue_journal,
            hostile_storage_flipped_byte_in_stream_segment,
            hostile_storage_stream_metadata_emptied,
            hostile_storage_deleted_segment_keeps_sequence_floor,
            hostile_storage_truncated_journal_reported,
            // hostile: dashboard
            hostile_ui_dns_rebinding,
            hostile_ui_slow_connections,
            // hostile: connections
            hostile_conn_slowloris_closed_after_read_timeout,
            hostile_conn_idle_timeout_is_off_by_default_and_settable,
            hostile_conn_trickled_resp_array,
            hostile_fanout_big_publish_v1,
            hostile_fanout_big_publish_resp,
            // mqtt
            mqtt_mosquitto_qos_levels,
            mqtt_retained_wildcards_and_v1,
            mqtt_will_on_abrupt_close,
            // pubsub
            pubsub_exact_topic,
            pubsub_order_unsubscribe_stops_pushes_v1,
            pubsub_order_unsubscribe_stops_pushes_resp,
            pubsub_plus_wildcard,
            pubsub_hash_wildcard,
            pubsub_retained_on_subscribe,
            pubsub_retained_overwrite_and_clear,
            pubsub_retained_expiry,
            pubsub_retained_survive_restart,
            pubsub_retained_default_ttl_flag,
            pubsub_dedup_overlapping,
            pubsub_unsubscribe,
            pubsub_cleanup_on_disconnect,
            pubsub_publish_topic_rejected,
            pubsub_shared_subscriptions,
            pubsub_slow_subscriber,
            // queue
            queue_v1_wire_bytes,
            queue_create_exists_delete,
            queue_invalid_names,
            queue_missing_queue_errors,
            queue_priority_order,
            queue_delay,
            queue_batch_size_and_clamp,
            queue_long_poll,
            queue_delete_releases_parked,
            queue_ack_nack_retries,
            queue_lease_expiry,
            queue_dlq_commands,
            queue_lease_ownership,
            queue_extend_lease,
            queue_nack_delay,
            queue_purge_and_list,
            queue_max_depth,
            queue_too_many_pending,
            queue_durable_restart,
            queue_crash_kill9,
            queue_data_dir_lock,
            queue_journal_bounded,
            queue_fsync_modes,
            // stream
            stream_v1_wire_bytes,
            stream_create_and_retention_options,
            stream_fetch_limit_and_long_poll,
            stream_ack_any_order_floor,
            stream_ack_batch,
            stream_fencing_order,
            stream_two_groups_each_get_everything,
            stream_group_members_never_overlap,
            stream_disconnect_releases_at_once,
            stream_fetch_ended_by_leave_seek_delete,
            stream_nack_redelivery_and_dead_letters,
            stream_ack_wait_redelivery_and_dead_letter,
            stream_seek_seq_and_time,
            stream_delete_group,
            stream_list_topics_and_groups,
            stream_delete_and_recreate_never_reuses,
            stream_leftover_logs_adopted_at_start,
            stream_restart_keeps_state,
            stream_shutdown_ends_waiting_fetches,
            stream_crash_kill9,
            stream_retention_deletes_sealed_segments,
            // ui (the dashboard)
            ui_json_api,
            ui_metrics_parse,
            ui_port_taken_exits_nonzero,
            ui_env_settings,
            ui_sigterm_with_dashboard_exits_zero,
            ui_browser_renders_every_broker,
            // resp
            resp_connection_commands,
            resp_strings,
            resp_keys,
            resp_expiry,
            resp_expire_options,
            resp_info_counts_every_client,
            resp_pipeline_across_brokers,
            resp_pubsub,
            resp3_pushes,
            resp_pubsub_cross_protocol,
            resp_errors_and_limits,
            resp_redis_tools,
            store_redis_extensions_over_v1,
            // config (issue 14)
            config_precedence_four_sources,
            config_print_config_round_trips_and_masks,
            // resp: transactions
            resp_tx_atomic_under_concurrent_clients,
            resp_tx_watch_conflicts,
            resp_tx_errors,
            resp_tx_redis_py,
            resp_overflow_and_error_texts,
            resp_introspect_client_list_and_kill,
            resp_introspect_command_info_time,
            resp_introspect_redis_cli_stat,
            config_unknown_key_and_bad_value,
            config_sighup_reload,
            config_booleans_turn_the_dashboard_off,
            config_ports_off_and_host_names,
            config_max_connections_zero_refused,
            config_sizes_and_unlimited_store_memory,
            config_trace_logging_and_readable_startup,
            config_stream_segment_bytes,
            // async client (issue 28)
            async_client_many_tasks_pipeline,
            async_client_subscription_stream,
            async_client_reconnect_after_restart,
            async_client_request_timeout,
            async_client_examples,
            // nexo-cli (issue 27)
            cli_queue_commands,
            cli_stream_commands,
            cli_stream_tail_follows,
            cli_pubsub_store_server,
            cli_errors_and_connection_options,
            cli_bench_leaves_nothing_behind,
            // lifecycle
            lifecycle_sigterm_exits_zero,
            lifecycle_port_taken_exits_nonzero,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __e2e_tests {
    ($bin:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::cases::$case(::std::path::Path::new($bin));
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __e2e_names {
    (; $($case:ident),* $(,)?) => {
        &[$(stringify!($case)),*]
    };
}

/// Expands to one `#[test]` fn per case, each running `nexo_e2e::cases::<case>` against the
/// server binary at path `$bin` (usually `env!("CARGO_BIN_EXE_<name>")`).
#[macro_export]
macro_rules! e2e_suite {
    ($bin:expr) => {
        $crate::__for_each_case!(__e2e_tests!($bin));
    };
}

/// The names of every case, in suite order.
pub const CASE_NAMES: &[&str] = __for_each_case!(__e2e_names!());

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every `pub fn <case>(bin: &Path)` under `src/cases/` is in the suite list, and the list
    /// names nothing else, so a new case cannot be forgotten by the macro.
    #[test]
    fn every_case_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cases");
        let mut defined = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let cases = text
                .lines()
                .filter_map(|line| line.strip_prefix("pub fn ")?.split_once('('))
                .filter(|(_, args)| args.starts_with("bin: &Path)"))
                .map(|(name, _)| name.to_owned());
            defined.extend(cases);
        }
        let listed: BTreeSet<String> = super::CASE_NAMES.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(listed.len(), super::CASE_NAMES.len(), "a case is listed twice");
        assert_eq!(defined, listed);
    }
}
