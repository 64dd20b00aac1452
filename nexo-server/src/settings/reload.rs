//! SIGHUP: re-read the config file and apply what can change while running.
//!
//! A thread waits for SIGHUP, loads the settings again from the same command line, environment
//! and file, and compares them with the running ones. `log-level` changes live; `requirepass`
//! and the `[[users]]` tables replace the running users (and any `ACL SETUSER` made since);
//! every other change is logged as needing a restart (listeners, limits and broker settings
//! are fixed when the brokers are built). A file that no longer loads is reported and the running settings
//! stay. The thread keeps the default SIGHUP action (exit) from killing the server.

use std::ffi::OsString;

use super::Settings;
use super::effective::Effective;
use super::load::load;
use crate::logging;

/// Keys that change while running.
pub const LIVE_KEYS: &[&str] = &["log-level", "requirepass"];

/// Starts the SIGHUP thread for a server running with `settings`.
///
/// # Errors
/// The signal handler or the thread cannot be installed.
pub fn watch(settings: &Settings) -> std::io::Result<()> {
    use signal_hook::consts::SIGHUP;
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP])?;
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut running = settings.effective.clone();
    std::thread::Builder::new().name("nexo-sighup".into()).spawn(move || {
        for _ in signals.forever() {
            reload(&args, &mut running);
        }
    })?;
    Ok(())
}

/// One reload: load again, apply the live changes to `running`, report the rest.
fn reload(args: &[OsString], running: &mut Effective) {
    let newer = match load(args) {
        Ok(newer) => newer,
        Err(e) => {
            tracing::error!("SIGHUP: the configuration does not load; keeping the running settings: {e}");
            return;
        }
    };
    let users_changed = running.users != newer.effective.users;
    if users_changed && crate::security::reload(&newer) {
        tracing::info!("SIGHUP: [[users]] applied ({} users in the file)", newer.effective.users.len());
        running.users = newer.effective.users.clone();
    }
    let changes = running.changes(&newer.effective);
    if changes.is_empty() && !users_changed {
        tracing::info!("SIGHUP: configuration re-read; nothing changed");
    }
    let mut applied = Vec::new();
    for (key, old, new) in changes {
        if LIVE_KEYS.contains(&key) && apply(key, &newer) {
            tracing::info!("SIGHUP: {key}={new} applied (was {old})");
            applied.push(key.to_owned());
        } else {
            tracing::warn!("SIGHUP: {key} changed ({old} -> {new}); it takes effect after a restart");
        }
    }
    for setting in &mut running.settings {
        if let Some(new) = newer.effective.get(&setting.key).filter(|_| applied.contains(&setting.key)) {
            *setting = new.clone();
        }
    }
}

/// Applies one live key; false when it could not be applied.
fn apply(key: &str, newer: &Settings) -> bool {
    match key {
        "log-level" => logging::set_level(newer.log_level),
        "requirepass" => crate::security::reload(newer),
        _ => false,
    }
}
